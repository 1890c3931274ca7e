// Audio, video and screen share with mediasoup-client, following the server's rooms: the
// server says which rooms (proximity groups, conferences) we are in and whether we may speak
// there; this module builds the transports, produces the microphone and camera, consumes the
// others and keeps one tile per person. Leaving a room closes everything of it at once.

import { Device, types } from "mediasoup-client";
import type { Msg, Outgoing } from "./net";

type Transport = types.Transport;
type Producer = types.Producer;
type Consumer = types.Consumer;

interface Room {
  id: string;
  recv: Transport | null;
  send: Transport | null;
  producers: Map<string, Producer>;
  consumers: Map<string, { consumer: Consumer; peerId: string; tag: string }>;
  /** File channels: ours (to send shared files) and the others' (to receive them). */
  dataProducer: types.DataProducer | null;
  dataConsumers: Map<string, { dc: types.DataConsumer; peerId: string }>;
  closed: boolean;
}

export interface TileHost {
  /** A person's tile (created on first use). */
  tile(peerId: string): { video: HTMLVideoElement; screen: HTMLVideoElement; audio: HTMLAudioElement; el: HTMLElement };
  dropTile(peerId: string): void;
  /** Shows the local camera preview (null hides it). */
  preview(track: MediaStreamTrack | null): void;
  notice(text: string): void;
  speaking(peerId: string, on: boolean): void;
  /** Which peers have a media tile now, for the user list. */
  changed(): void;
  /** A chunk of a file arrived from `peerId`. */
  fileData(peerId: string, data: ArrayBuffer): void;
}

const REPLY_TIMEOUT_MS = 15_000;

export class MediaManager {
  private device: Device | null = null;
  private readonly rooms = new Map<string, Room>();
  private readonly waiters = new Map<string, { roomId: string; resolve(d: Record<string, unknown>): void; reject(e: Error): void }[]>();
  private chain: Promise<void> = Promise.resolve();
  private local: MediaStream | null = null;
  private localFailed = false;
  private screen: MediaStreamTrack | null = null;
  micOn = true;
  camOn = true;
  /** peerId → kinds they paused. */
  private readonly paused = new Map<string, Set<string>>();
  private speakTimer = 0;
  /** Times the server told us to join a room (each one negotiates its transports afresh). */
  joins = 0;

  constructor(
    private readonly send: (m: Outgoing) => void,
    private readonly tiles: TileHost,
  ) {}

  /** Handles a media message; false if `m` is not one. */
  handle(m: Msg): boolean {
    // Media payloads are mediasoup's parameters: read as loosely as they are typed.
    const d = ("d" in m ? m.d : {}) as Record<string, unknown>;
    switch (m.topic) {
      case "you-joined-as-speaker":
      case "you-joined-as-peer":
        // A fresh join for a room we have means its old transports are gone (its media node
        // died, or they expired): requests made on them will never be answered, and would hold
        // the queue below until they time out, so they fail now.
        this.failWaiters(String(d.roomId), "the room's media was set up again");
        this.queue(() => this.joined(d, m.topic === "you-joined-as-speaker"));
        return true;
      case "you-are-now-a-speaker":
        this.queue(() => this.promoted(d));
        return true;
      case "new-peer-producer":
        this.queue(() => this.consume(String(d.roomId), String(d.peerId), d.consumerParameters as Record<string, unknown>));
        return true;
      case "new-peer-data-producer":
        this.queue(() => this.consumeData(String(d.roomId), String(d.peerId), d.consumerParameters as Record<string, unknown>));
        return true;
      case "CLOSE_ROOM":
        this.closeRoom(String(m.group));
        return true;
      case "GROUPS_SNAPSHOT": {
        const keep = new Set(((m.groups as unknown[]) ?? []).map(String));
        for (const id of [...this.rooms.keys()]) if (!keep.has(id)) this.closeRoom(id);
        return true;
      }
      case "toggle-peer-producer":
        this.peerPaused(String(m.peerId), String(m.kind), !!m.pause);
        return true;
      case "close-media":
        this.dropKind(String(m.peerId), "media");
        return true;
      case "active_speaker":
      case "active-speaker":
        this.tiles.speaking(String(m.peerId), !!m.value);
        return true;
    }
    if (m.topic.startsWith("@") && m.topic.endsWith("-done")) {
      const list = this.waiters.get(m.topic) ?? [];
      const i = list.findIndex((w) => w.roomId === String(d.roomId));
      if (i >= 0) {
        const [w] = list.splice(i, 1);
        if (d.error !== undefined && !/already called/.test(String(d.error))) w.reject(new Error(String(d.error)));
        else w.resolve(d);
      }
      return true;
    }
    return false;
  }

  /** Media messages are handled one at a time, in order, as mediasoup-client needs. */
  private queue(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch((e: unknown) => {
      console.warn("media:", e);
      this.tiles.notice(`Audio/video problem: ${e instanceof Error ? e.message : String(e)}`);
    });
  }

  private reply(topic: string, roomId: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(topic) ?? [];
      this.waiters.set(topic, list);
      const w = { roomId, resolve, reject };
      list.push(w);
      setTimeout(() => {
        const i = list.indexOf(w);
        if (i >= 0) {
          list.splice(i, 1);
          reject(new Error(`the server did not answer ${topic.replace(/-done$/, "")} in time`));
        }
      }, REPLY_TIMEOUT_MS);
    });
  }

  private async localMedia(): Promise<MediaStream | null> {
    if (this.local || this.localFailed) return this.local;
    try {
      this.local = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true }, video: { width: 640, height: 480, frameRate: 24 } });
    } catch (e) {
      try {
        this.local = await navigator.mediaDevices.getUserMedia({ audio: true });
        this.tiles.notice("No camera: others will only hear you.");
      } catch {
        this.localFailed = true;
        this.tiles.notice(`Camera and microphone are not available (${e instanceof Error ? e.message : String(e)}). You can still see and hear others.`);
        return null;
      }
    }
    this.tiles.preview(this.camOn ? (this.local.getVideoTracks()[0] ?? null) : null);
    this.watchVoice(this.local);
    return this.local;
  }

  private async joined(d: Record<string, unknown>, speaker: boolean): Promise<void> {
    this.joins += 1;
    const roomId = String(d.roomId);
    if (!this.device) this.device = new Device();
    if (!this.device.loaded) await this.device.load({ routerRtpCapabilities: d.routerRtpCapabilities as types.RtpCapabilities });
    this.closeRoom(roomId);
    const room: Room = { id: roomId, recv: null, send: null, producers: new Map(), consumers: new Map(), dataProducer: null, dataConsumers: new Map(), closed: false };
    this.rooms.set(roomId, room);
    room.recv = this.device.createRecvTransport(d.recvTransportOptions as types.TransportOptions);
    this.wire(room, room.recv, "recv");
    this.send({ topic: "@get-recv-tracks", d: { roomId, rtpCapabilities: this.device.rtpCapabilities } });
    const done = await this.reply("@get-recv-tracks-done", roomId);
    for (const e of (done.consumerParametersArr as { consumer: { peerId: string; consumerParameters: Record<string, unknown> }; kind: string }[]) ?? []) {
      if (e.kind === "file") {
        await this.consumeData(roomId, String(e.consumer.peerId), e.consumer.consumerParameters);
        continue;
      }
      await this.consume(roomId, String(e.consumer.peerId), e.consumer.consumerParameters);
    }
    if (speaker && d.sendTransportOptions) await this.startSending(room, d.sendTransportOptions as types.TransportOptions);
  }

  private async promoted(d: Record<string, unknown>): Promise<void> {
    const room = this.rooms.get(String(d.roomId));
    if (!room || room.send) return;
    this.tiles.notice("You may speak now.");
    await this.startSending(room, d.sendTransportOptions as types.TransportOptions);
  }

  private async startSending(room: Room, options: types.TransportOptions): Promise<void> {
    const stream = await this.localMedia();
    if (room.closed) return;
    room.send = this.device!.createSendTransport(options);
    this.wire(room, room.send, "send");
    for (const track of stream?.getTracks() ?? []) {
      const tag = track.kind === "audio" ? "audio" : "video";
      const p = await room.send.produce({ track, appData: { mediaTag: tag }, stopTracks: false, zeroRtpOnPause: true });
      if (room.closed) return p.close();
      room.producers.set(tag, p);
      if ((tag === "audio" && !this.micOn) || (tag === "video" && !this.camOn)) {
        p.pause();
        this.send({ topic: "toggle-producer", d: { kind: tag, pause: true } });
      }
    }
    if (this.screen) await this.produceScreen(room, this.screen);
    if (this.fileChannels) await this.openFileChannel(room);
  }

  private wire(room: Room, t: Transport, direction: "send" | "recv"): void {
    const roomId = room.id;
    t.on("connect", ({ dtlsParameters }, ok, fail) => {
      this.send({ topic: "@connect-transport", d: { roomId, transportId: t.id, dtlsParameters, direction } });
      this.reply(`@connect-transport-${direction}-done`, roomId).then(() => ok(), fail);
    });
    t.on("connectionstatechange", (s) => {
      if (s === "failed" && !room.closed) this.tiles.notice("The audio/video connection failed. Check that UDP traffic to the server is allowed.");
    });
    if (direction !== "send") return;
    t.on("produce", ({ kind, rtpParameters, appData }, ok, fail) => {
      this.send({
        topic: "@send-track",
        d: { roomId, transportId: t.id, kind, rtpParameters, rtpCapabilities: this.device!.rtpCapabilities, paused: false, appData, direction: "send" },
      });
      this.reply("@send-track-send-done", roomId).then((r) => ok({ id: String(r.id) }), fail);
    });
    t.on("producedata", ({ sctpStreamParameters, label, protocol, appData }, ok, fail) => {
      this.send({ topic: "@send-file", d: { roomId, transportId: t.id, sctpStreamParameters, label, protocol, appData, direction: "send" } });
      this.reply("@send-file-send-done", roomId).then((r) => ok({ id: String(r.id) }), fail);
    });
  }

  private async consumeData(roomId: string, peerId: string, p: Record<string, unknown>): Promise<void> {
    const room = this.rooms.get(roomId);
    if (!room?.recv || room.closed || !p) return;
    const dc = await room.recv.consumeData({
      id: String(p.id),
      dataProducerId: String(p.dataProducerId),
      sctpStreamParameters: p.sctpStreamParameters as types.SctpStreamParameters,
      label: p.label as string | undefined,
      protocol: p.protocol as string | undefined,
    });
    if (room.closed) return dc.close();
    dc.binaryType = "arraybuffer";
    dc.on("message", (data: unknown) => {
      if (data instanceof ArrayBuffer) this.tiles.fileData(peerId, data);
    });
    room.dataConsumers.set(dc.id, { dc, peerId });
  }

  /** Set once the user shares a file: every room we speak in then gets a file channel. */
  private fileChannels = false;

  /** Opens a file channel in every room we may send in (for sharing files). */
  async openFileChannels(): Promise<void> {
    this.fileChannels = true;
    for (const r of this.rooms.values()) if (r.send) await this.openFileChannel(r);
  }

  private async openFileChannel(room: Room): Promise<void> {
    if (room.dataProducer || !room.send || room.closed) return;
    const dp = await room.send.produceData({ ordered: true, label: "file", appData: { mediaTag: "file" } });
    if (room.closed) return dp.close();
    room.dataProducer = dp;
  }

  /** Whether we hold an open receiving channel from `peerId` (their file can reach us). */
  canReceiveFrom(peerId: string): boolean {
    return [...this.rooms.values()].some((r) => [...r.dataConsumers.values()].some((c) => c.peerId === peerId && c.dc.readyState === "open"));
  }

  /**
   * Streams `file` to `peerId` over one open file channel of a room they are in (the SFU
   * forwards a file only to the peer that asked for it), waiting whenever the channel's buffer
   * is full. Calls `progress` with the bytes sent so far.
   */
  async sendFile(peerId: string, file: Blob, progress: (sent: number) => void): Promise<void> {
    const rooms = [...this.rooms.values()].filter((r) => r.dataProducer && !r.dataProducer.closed);
    const withPeer = rooms.find((r) => [...r.consumers.values(), ...r.dataConsumers.values()].some((c) => c.peerId === peerId));
    const dp = (withPeer ?? rooms[0])?.dataProducer;
    if (!dp) throw new Error("You are not in a room with anyone, so the file cannot be sent.");
    if (dp.readyState !== "open") await new Promise<void>((ok) => dp.once("open", () => ok()));
    // The file is read 1 MiB at a time and sent as 16 KiB messages without a pause between them:
    // every await is a trip through the page's task queue, which a busy page (a map drawn in
    // software) serves only a few times a second, so awaiting per message made a 1 MiB file take
    // 15 s. The channel's own buffer (up to 4 MiB here) keeps the SCTP association busy.
    const CHUNK = 16_384;
    const READ = 1024 * 1024;
    const HIGH = 4 * 1024 * 1024;
    dp.bufferedAmountLowThreshold = 1024 * 1024;
    for (let off = 0; off < file.size; off += READ) {
      const block = new Uint8Array(await file.slice(off, off + READ).arrayBuffer());
      for (let at = 0; at < block.byteLength; at += CHUNK) {
        if (dp.closed) throw new Error("The connection closed during the transfer.");
        if (dp.bufferedAmount > HIGH) await new Promise<void>((ok) => dp.once("bufferedamountlow", () => ok()));
        dp.send(block.slice(at, at + CHUNK).buffer);
      }
      progress(Math.min(file.size, off + READ));
    }
  }

  private async consume(roomId: string, peerId: string, p: Record<string, unknown>): Promise<void> {
    const room = this.rooms.get(roomId);
    if (!room?.recv || room.closed || !p) return;
    const consumer = await room.recv.consume({
      id: String(p.id),
      producerId: String(p.producerId),
      kind: p.kind as types.MediaKind,
      rtpParameters: p.rtpParameters as types.RtpParameters,
    });
    if (room.closed) return consumer.close();
    const tag = String((p.appData as { mediaTag?: string } | undefined)?.mediaTag ?? consumer.kind);
    room.consumers.set(consumer.id, { consumer, peerId, tag });
    consumer.on("trackended", () => this.dropConsumer(room, consumer.id));
    this.attach(peerId);
    if (p.producerPaused) this.peerPaused(peerId, consumer.kind, true);
  }

  /** Puts every live track of `peerId` into its tile (one of each kind). */
  private attach(peerId: string): void {
    const live = [...this.rooms.values()].flatMap((r) => [...r.consumers.values()]).filter((c) => c.peerId === peerId && !c.consumer.closed);
    if (!live.length) {
      this.tiles.dropTile(peerId);
      this.tiles.changed();
      return;
    }
    const t = this.tiles.tile(peerId);
    const set = (el: HTMLMediaElement, tag: string) => {
      const c = live.find((x) => x.tag === tag);
      const track = c?.consumer.track ?? null;
      const cur = (el.srcObject as MediaStream | null)?.getTracks()[0] ?? null;
      if (cur !== track) {
        el.srcObject = track ? new MediaStream([track]) : null;
        if (track) el.play().catch(() => this.tiles.notice("Click anywhere to turn on sound."));
      }
      el.hidden = !track || this.paused.get(peerId)?.has(tag) === true;
    };
    set(t.video, "video");
    set(t.screen, "media");
    // The screen-share video is in the tile only while there is a share: an empty <video> left
    // in a tile leaves a stray blank layer behind in headless Chromium.
    if (!t.screen.hidden && !t.screen.isConnected) t.el.prepend(t.screen);
    else if (t.screen.hidden) t.screen.remove();
    set(t.audio, "audio");
    this.tiles.changed();
  }

  private dropConsumer(room: Room, id: string): void {
    const c = room.consumers.get(id);
    if (!c) return;
    c.consumer.close();
    room.consumers.delete(id);
    this.attach(c.peerId);
  }

  private dropKind(peerId: string, tag: string): void {
    for (const r of this.rooms.values()) for (const [id, c] of r.consumers) if (c.peerId === peerId && c.tag === tag) this.dropConsumer(r, id);
  }

  private peerPaused(peerId: string, kind: string, pause: boolean): void {
    const s = this.paused.get(peerId) ?? new Set<string>();
    if (pause) s.add(kind);
    else s.delete(kind);
    this.paused.set(peerId, s);
    const t = this.tiles.tile(peerId);
    t.el.classList.toggle("muted-mic", s.has("audio"));
    t.el.classList.toggle("muted-cam", s.has("video"));
    this.attach(peerId);
  }

  /** Rejects every request awaiting an answer about room `id`. */
  private failWaiters(id: string, why: string): void {
    for (const w of this.waiters.values()) {
      for (let i = w.length - 1; i >= 0; i--) {
        if (w[i].roomId === id) w.splice(i, 1)[0].reject(new Error(why));
      }
    }
  }

  closeRoom(id: string): void {
    const room = this.rooms.get(id);
    if (!room) return;
    room.closed = true;
    this.rooms.delete(id);
    this.failWaiters(id, "the room was closed");
    const peers = new Set([...room.consumers.values()].map((c) => c.peerId));
    for (const p of room.producers.values()) p.close();
    room.dataProducer?.close();
    for (const c of room.dataConsumers.values()) c.dc.close();
    room.send?.close();
    room.recv?.close();
    for (const p of peers) this.attach(p);
  }

  /** Turns the microphone or camera on or off everywhere we speak, and tells the others. */
  toggle(kind: "audio" | "video", on: boolean): void {
    if (kind === "audio") this.micOn = on;
    else this.camOn = on;
    for (const r of this.rooms.values()) {
      const p = r.producers.get(kind);
      if (p) on ? p.resume() : p.pause();
    }
    if (kind === "video") this.tiles.preview(on ? (this.local?.getVideoTracks()[0] ?? null) : null);
    this.send({ topic: "toggle-producer", d: { kind, pause: !on } });
  }

  /** Starts sharing the screen in every room we speak in; resolves false if the user declined. */
  async shareScreen(): Promise<boolean> {
    if (this.screen) return true;
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch {
      return false;
    }
    const track = stream.getVideoTracks()[0];
    this.screen = track;
    track.addEventListener("ended", () => this.stopScreen());
    for (const r of this.rooms.values()) if (r.send) await this.produceScreen(r, track);
    return true;
  }

  private async produceScreen(room: Room, track: MediaStreamTrack): Promise<void> {
    const p = await room.send!.produce({ track, appData: { mediaTag: "media" }, stopTracks: false });
    room.producers.set("media", p);
  }

  stopScreen(): void {
    if (!this.screen) return;
    this.screen.stop();
    this.screen = null;
    for (const r of this.rooms.values()) {
      r.producers.get("media")?.close();
      r.producers.delete("media");
    }
    this.send({ topic: "close-media" });
  }

  get sharing(): boolean {
    return !!this.screen;
  }

  /** Ids of the rooms we are in. */
  roomIds(): string[] {
    return [...this.rooms.keys()];
  }

  /** Speaking indicator: our own voice level, reported to the rooms when it crosses a threshold. */
  private watchVoice(stream: MediaStream): void {
    const track = stream.getAudioTracks()[0];
    if (!track || typeof AudioContext === "undefined") return;
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const buf = new Uint8Array(analyser.fftSize);
    let speaking = false;
    clearInterval(this.speakTimer);
    this.speakTimer = window.setInterval(() => {
      analyser.getByteTimeDomainData(buf);
      let peak = 0;
      for (const v of buf) peak = Math.max(peak, Math.abs(v - 128));
      const now = this.micOn && peak > 12;
      if (now !== speaking) {
        speaking = now;
        for (const roomId of this.rooms.keys()) this.send({ topic: "speaking_change", d: { roomId, value: now } });
      }
    }, 250);
  }

  /** Ends all media (leaving the world). */
  close(): void {
    for (const id of [...this.rooms.keys()]) this.closeRoom(id);
    this.stopScreen();
    clearInterval(this.speakTimer);
    for (const t of this.local?.getTracks() ?? []) t.stop();
    this.local = null;
    this.tiles.preview(null);
  }
}
