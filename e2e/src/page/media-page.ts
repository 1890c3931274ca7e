// The test page: a minimal CrowdWire media client built on the standard mediasoup-client v3
// library, speaking the original CrowdWire signalling (spec §6.7, §6.8) over the server's
// WebSocket. The Playwright driver (../run-media-test.ts) starts it with `window.e2e.start()`,
// moves the avatar, triggers the file transfer and polls `window.e2e.stats()`.
//
// Everything the server sends is checked against what mediasoup-client needs (./validate.ts);
// anything wrong lands in `state.errors`, which the driver turns into a test failure that names
// the topic and the field.

import { Device } from 'mediasoup-client';
import type { types } from 'mediasoup-client';

import type {
  ConsumerStats,
  DownloadResult,
  FileMeta,
  PageState,
  PageStats,
  ProducerStats,
  RoomSummary,
  StartOptions,
} from '../shared';
import * as v from './validate';

/** How long we wait for the server's answer to one request. */
const REPLY_TIMEOUT_MS = 10_000;
/** File chunk size on the data channel. */
const CHUNK_BYTES = 16 * 1024;
/** Pause sending while more than this is queued in the data channel… */
const BUFFER_HIGH_BYTES = 1024 * 1024;
/** …until it drains below this (`bufferedamountlow`). */
const BUFFER_LOW_BYTES = 256 * 1024;

type Msg = Record<string, unknown>;

interface ConsumerEntry {
  consumer: types.Consumer;
  peerId: string;
  roomId: string;
  createdAt: number;
  firstFrameAt: number | null;
}

interface DataConsumerEntry {
  dc: types.DataConsumer;
  peerId: string;
  roomId: string;
  /** Receives the messages while a download runs; otherwise they are counted as stray. */
  sink: ((data: unknown) => void) | null;
  stray: number;
}

interface Room {
  id: string;
  joinedAt: number;
  recv: types.Transport | null;
  send: types.Transport | null;
  producers: types.Producer[];
  dataProducers: types.DataProducer[];
  consumers: Map<string, ConsumerEntry>;
  dataConsumers: Map<string, DataConsumerEntry>;
  /** When the server closed the room (CLOSE_ROOM or GROUPS_SNAPSHOT without it). */
  serverClosedAt: number | null;
  locallyClosed: boolean;
}

interface Waiter {
  roomId: string | null;
  resolve: (d: Msg) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const now = (): number => performance.now();

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.name === 'ServerBug' || e.name === 'Error' ? e.message : `${e.name}: ${e.message}`;
  return String(e);
}

/** Resolves when `emitter` emits `event`, rejects after `ms` with `what`. */
function once(emitter: { once(event: string, fn: () => void): unknown }, event: string, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(what)), ms);
    emitter.once(event, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

class MediaClient {
  private ws: WebSocket | null = null;
  private device: Device | null = null;
  private localStream: MediaStream | null = null;
  private readonly rooms = new Map<string, Room>();
  /** Media messages are handled one at a time, in arrival order. */
  private chain: Promise<void> = Promise.resolve();
  /** Pending request → reply pairs, by reply topic. */
  private readonly waiters = new Map<string, Waiter[]>();
  /** Pending waits for a plain topic (file protocol). */
  private readonly topicWaiters = new Map<string, ((m: Msg) => void)[]>();
  private offered: { meta: FileMeta; bytes: Uint8Array } | null = null;
  private opts!: StartOptions;

  readonly state: PageState = {
    name: '',
    userId: '',
    connected: false,
    snapshot: false,
    errors: [],
    joined: [],
    rooms: [],
    offeredToUs: [],
    fileLog: [],
    sent: null,
    closeRoomEvents: [],
    now: 0,
  };

  // ----- lifecycle -----

  /** Connects the WebSocket, waits for PLAYERS_SNAPSHOT and appears in the world. */
  async start(opts: StartOptions): Promise<void> {
    this.opts = opts;
    this.state.name = opts.name;
    this.state.userId = opts.userId;
    document.getElementById('who')!.textContent = `${opts.name} (user ${opts.userId})`;
    // Fake camera and microphone (Chromium flags); produced once we join a room.
    this.localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    const preview = document.createElement('video');
    preview.muted = true;
    preview.autoplay = true;
    preview.playsInline = true;
    preview.srcObject = this.localStream;
    this.tile(preview, 'me (local preview)');

    // The handler is detected from the browser (Chrome111 in headless Chromium 156).
    this.device = await Device.factory();
    console.log(`mediasoup-client handler: ${this.device.handlerName}`);

    const ws = new WebSocket(opts.wsUrl);
    this.ws = ws;
    const snapshot = this.waitTopic('PLAYERS_SNAPSHOT', 10_000);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`WebSocket to ${opts.wsUrl.replace(/token=[^&]+/, 'token=…')} failed`));
    });
    this.state.connected = true;
    ws.onmessage = (ev) => this.onFrame(ev.data);
    ws.onclose = (ev) => {
      this.state.connected = false;
      this.fail(`WebSocket closed by the server (code ${ev.code}, reason "${ev.reason}")`);
    };
    await snapshot;
    this.state.snapshot = true;
    this.send({ topic: 'JOIN_PLAYER', position: opts.position });
  }

  /** PLAYER_MOVEMENT, as the game sends it when the velocity changes. */
  move(x: number, y: number, vx: number, vy: number): void {
    this.send({ topic: 'PLAYER_MOVEMENT', position: { x, y }, velocity: { x: vx, y: vy } });
  }

  /** Closes a room's transports locally (what the real client does on CLOSE_ROOM). */
  closeRoom(roomId: string): void {
    const room = this.rooms.get(roomId);
    if (!room || room.locallyClosed) return;
    room.locallyClosed = true;
    room.send?.close();
    room.recv?.close();
    for (const c of room.consumers.values()) document.getElementById(`tile-${c.consumer.id}`)?.remove();
  }

  // ----- wire -----

  private send(msg: Msg): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      this.fail(`cannot send ${String(msg.topic)}: the WebSocket is not open`);
      return;
    }
    this.ws.send(JSON.stringify(msg));
  }

  /** Records a failure; the driver fails the test with it. */
  fail(what: string, e?: unknown): void {
    const text = e === undefined ? what : `${what}: ${errorText(e)}`;
    console.error(`E2E FAILURE: ${text}`);
    this.state.errors.push(text);
  }

  private enqueue(what: string, fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch((e) => this.fail(what, e));
  }

  private onFrame(data: unknown): void {
    if (typeof data !== 'string') return this.fail('binary WebSocket frame from the server (expected JSON text)');
    if (data === 'PONG') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return this.fail(`non-JSON WebSocket frame: ${data.slice(0, 200)}`);
    }
    for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
      if (!v.isObject(m) || typeof m.topic !== 'string') {
        this.fail(`WebSocket message without a string topic: ${v.show(m)}`);
        continue;
      }
      try {
        this.onMessage(m);
      } catch (e) {
        this.fail(`handling ${m.topic}`, e);
      }
    }
  }

  private onMessage(m: Msg): void {
    const topic = m.topic as string;
    if (topic.startsWith('@') && topic.endsWith('-done')) return this.onReply(topic, m);
    for (const w of this.topicWaiters.get(topic)?.splice(0) ?? []) w(m);
    switch (topic) {
      case 'you-joined-as-speaker':
        return this.enqueue(topic, () => this.onJoinedAsSpeaker(m));
      case 'you-joined-as-peer':
        return this.fail('got you-joined-as-peer (receive-only) for a proximity room: expected you-joined-as-speaker');
      case 'you-are-now-a-speaker':
        return this.fail('unexpected you-are-now-a-speaker outside a conference');
      case 'new-peer-producer':
        return this.enqueue(topic, () => this.onNewPeerProducer(m));
      case 'new-peer-data-producer':
        return this.enqueue(topic, () => this.onNewPeerDataProducer(m));
      case 'CLOSE_ROOM':
        return this.onServerClosedRoom(String(m.group), 'CLOSE_ROOM');
      case 'GROUPS_SNAPSHOT': {
        const groups = Array.isArray(m.groups) ? m.groups.map(String) : [];
        for (const id of this.rooms.keys()) if (!groups.includes(id)) this.onServerClosedRoom(id, 'GROUPS_SNAPSHOT');
        return;
      }
      case 'ADD_USER_FILES':
        return this.onAddUserFiles(m);
      case 'DOWNLOAD_REQUEST':
        return this.onDownloadRequest(m);
      case 'START_DOWNLOAD':
        return this.enqueueFile('START_DOWNLOAD', () => this.streamFile());
      case 'error': {
        const d = v.isObject(m.d) ? m.d : {};
        return this.fail(`server sent an error reply to ${String(d.topic)}: ${String(d.message)}`);
      }
      case 'KICKED':
        return this.fail(`KICKED by the server: ${v.show(m.d)}`);
      default:
        return;
    }
  }

  // ----- request / reply -----

  /** Waits for the reply `topic` about `roomId`; `d.error` rejects. */
  private waitReply(topic: string, roomId: string): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(topic) ?? [];
      this.waiters.set(topic, list);
      const w: Waiter = {
        roomId,
        resolve,
        reject,
        timer: setTimeout(() => {
          list.splice(list.indexOf(w), 1);
          reject(new Error(`no ${topic} for room ${roomId} within ${REPLY_TIMEOUT_MS} ms (the server never answered)`));
        }, REPLY_TIMEOUT_MS),
      };
      list.push(w);
    });
  }

  private onReply(topic: string, m: Msg): void {
    const list = this.waiters.get(topic) ?? [];
    const d = v.isObject(m.d) ? m.d : null;
    if (!d) return this.fail(`SERVER BUG: ${topic}.d: must be an object (got ${v.show(m.d)})`);
    if (list.length === 0) return this.fail(`SERVER BUG: unsolicited ${topic} (no request of ours is waiting for it): ${v.show(d)}`);
    const at = list.findIndex((w) => w.roomId === String(d.roomId));
    if (at < 0) {
      return this.fail(`SERVER BUG: ${topic}.d.roomId is ${v.show(d.roomId)} but the request was for room ${list[0].roomId}`);
    }
    const [w] = list.splice(at, 1);
    clearTimeout(w.timer);
    if (d.error !== undefined) w.reject(new Error(`${topic} carries an error: ${v.show(d.error)}`));
    else w.resolve(d);
  }

  private waitTopic(topic: string, ms: number): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const list = this.topicWaiters.get(topic) ?? [];
      this.topicWaiters.set(topic, list);
      const timer = setTimeout(() => reject(new Error(`no ${topic} within ${ms} ms`)), ms);
      list.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  }

  // ----- media (spec §6.7) -----

  private async onJoinedAsSpeaker(m: Msg): Promise<void> {
    const T = 'you-joined-as-speaker';
    const d = v.dOf(m, T);
    const roomId = String(v.str(d, 'roomId', `${T}.d`));
    const peerId = v.str(d, 'peerId', `${T}.d`);
    v.need(peerId === this.opts.userId, `${T}.d.peerId`, `must be our own user id ${this.opts.userId}`, peerId);
    const caps = v.routerCapabilities(d.routerRtpCapabilities, `${T}.d.routerRtpCapabilities`);
    const recvOptions = v.transportOptions(d.recvTransportOptions, `${T}.d.recvTransportOptions`, true);
    const sendOptions = v.transportOptions(d.sendTransportOptions, `${T}.d.sendTransportOptions`, true);
    this.state.joined.push({ roomId, at: now() });
    console.log(`joined room ${roomId} as speaker`);

    const device = this.device!;
    if (!device.loaded) await device.load({ routerRtpCapabilities: caps });
    if (!device.canProduce('audio')) throw new v.ServerBug(`${T}.d.routerRtpCapabilities: the device cannot produce audio with these capabilities`);
    if (!device.canProduce('video')) throw new v.ServerBug(`${T}.d.routerRtpCapabilities: the device cannot produce video with these capabilities`);

    const old = this.rooms.get(roomId);
    if (old) this.closeRoom(roomId);
    const room: Room = {
      id: roomId,
      joinedAt: now(),
      recv: null,
      send: null,
      producers: [],
      dataProducers: [],
      consumers: new Map(),
      dataConsumers: new Map(),
      serverClosedAt: null,
      locallyClosed: false,
    };
    this.rooms.set(roomId, room);

    room.recv = device.createRecvTransport(recvOptions);
    this.wireTransport(room, room.recv, 'recv');
    room.send = device.createSendTransport(sendOptions);
    this.wireTransport(room, room.send, 'send');

    // Ask for what the others already produce; later ones come as new-peer-producer.
    this.send({ topic: '@get-recv-tracks', d: { roomId, rtpCapabilities: device.rtpCapabilities } });
    const done = await this.waitReply('@get-recv-tracks-done', roomId);
    const P = '@get-recv-tracks-done.d';
    const list = v.arr(done, 'consumerParametersArr', P, false);
    for (const [i, entry] of list.entries()) {
      const path = `${P}.consumerParametersArr[${i}]`;
      v.need(v.isObject(entry), path, 'must be an object {consumer:{peerId, consumerParameters}, kind}', entry);
      const e = entry as Msg;
      const consumer = v.obj(e, 'consumer', path);
      const owner = v.str(consumer, 'peerId', `${path}.consumer`);
      if (e.kind === 'file') {
        await this.consumeData(room, v.dataConsumerParameters(consumer.consumerParameters, `${path}.consumer.consumerParameters`), owner);
      } else {
        v.need(e.kind === 'audio' || e.kind === 'video', `${path}.kind`, 'must be "audio", "video" or "file"', e.kind);
        const params = v.consumerParameters(consumer.consumerParameters, `${path}.consumer.consumerParameters`);
        v.need(params.kind === e.kind, `${path}.consumer.consumerParameters.kind`, `must equal ${path}.kind (${String(e.kind)})`, params.kind);
        await this.consume(room, params, owner);
      }
    }

    // Produce microphone first, then camera (the order the CrowdWire client uses).
    const stream = this.localStream!;
    for (const [kind, track] of [
      ['audio', stream.getAudioTracks()[0]],
      ['video', stream.getVideoTracks()[0]],
    ] as const) {
      if (!track) throw new Error(`getUserMedia gave no ${kind} track (are the fake-device flags set?)`);
      const producer = await room.send.produce({ track: track.clone(), appData: { mediaTag: kind } });
      room.producers.push(producer);
      console.log(`room ${roomId}: produced ${kind} as ${producer.id}`);
    }
  }

  /** Hooks a transport's connect / produce / producedata events to the signalling. */
  private wireTransport(room: Room, t: types.Transport, direction: 'send' | 'recv'): void {
    const roomId = room.id;
    t.on('connectionstatechange', (s) => {
      console.log(`room ${roomId}: ${direction} transport ${t.id} ${s}`);
      if (s === 'failed' && room.serverClosedAt === null) this.fail(`room ${roomId}: ${direction} transport ${t.id} reached connectionState "failed" (ICE or DTLS with the SFU failed)`);
    });
    t.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.send({ topic: '@connect-transport', d: { roomId, transportId: t.id, dtlsParameters, direction } });
      this.waitReply(`@connect-transport-${direction}-done`, roomId).then(
        () => callback(),
        (e: Error) => {
          // The original client treats "already called" as success (spec §6.7 step 3).
          if (/already called/.test(e.message)) return callback();
          this.fail(`room ${roomId}: @connect-transport (${direction})`, e);
          errback(e);
        },
      );
    });
    if (direction !== 'send') return;
    t.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
      this.send({
        topic: '@send-track',
        d: {
          roomId,
          transportId: t.id,
          kind,
          rtpParameters,
          rtpCapabilities: this.device!.rtpCapabilities,
          paused: false,
          appData: { mediaTag: appData.mediaTag },
          direction: 'send',
        },
      });
      this.waitReply('@send-track-send-done', roomId)
        .then((d) => callback({ id: v.producedId(d, '@send-track-send-done') }))
        .catch((e: Error) => {
          this.fail(`room ${roomId}: @send-track (${kind})`, e);
          errback(e);
        });
    });
    t.on('producedata', ({ sctpStreamParameters, label, protocol, appData }, callback, errback) => {
      this.send({
        topic: '@send-file',
        d: {
          roomId,
          transportId: t.id,
          sctpStreamParameters,
          label,
          protocol,
          appData: { mediaTag: appData.mediaTag },
          direction: 'send',
        },
      });
      this.waitReply('@send-file-send-done', roomId)
        .then((d) => callback({ id: v.producedId(d, '@send-file-send-done') }))
        .catch((e: Error) => {
          this.fail(`room ${roomId}: @send-file`, e);
          errback(e);
        });
    });
  }

  private roomFor(topic: string, d: Msg): Room {
    const roomId = String(v.str(d, 'roomId', `${topic}.d`));
    const room = this.rooms.get(roomId);
    if (!room) throw new v.ServerBug(`${topic}.d.roomId ${roomId} is not a room we were told we joined (you-joined-as-speaker)`);
    return room;
  }

  private async onNewPeerProducer(m: Msg): Promise<void> {
    const T = 'new-peer-producer';
    const d = v.dOf(m, T);
    const room = this.roomFor(T, d);
    if (room.locallyClosed) return;
    const owner = v.str(d, 'peerId', `${T}.d`);
    const params = v.consumerParameters(d.consumerParameters, `${T}.d.consumerParameters`);
    v.need(d.kind === params.kind, `${T}.d.kind`, `must equal consumerParameters.kind (${params.kind})`, d.kind);
    await this.consume(room, params, owner);
  }

  private async onNewPeerDataProducer(m: Msg): Promise<void> {
    const T = 'new-peer-data-producer';
    const d = v.dOf(m, T);
    const room = this.roomFor(T, d);
    if (room.locallyClosed) return;
    const owner = v.str(d, 'peerId', `${T}.d`);
    await this.consumeData(room, v.dataConsumerParameters(d.consumerParameters, `${T}.d.consumerParameters`), owner);
  }

  private async consume(room: Room, p: types.ConsumerOptions, peerId: string): Promise<void> {
    v.need(peerId !== this.opts.userId, 'consumer peerId', 'is our own id: the server offered us our own producer', peerId);
    const consumer = await room.recv!.consume({
      id: p.id,
      producerId: p.producerId,
      kind: p.kind,
      rtpParameters: p.rtpParameters,
      appData: { peerId },
    });
    const entry: ConsumerEntry = { consumer, peerId, roomId: room.id, createdAt: now(), firstFrameAt: null };
    room.consumers.set(consumer.id, entry);
    console.log(`room ${room.id}: consuming ${consumer.kind} of peer ${peerId} (consumer ${consumer.id}, producer ${consumer.producerId})`);

    // Play it unmuted (autoplay is allowed by a Chromium flag): a muted <audio> gets no audio-level stats.
    const el = document.createElement(consumer.kind === 'video' ? 'video' : 'audio');
    el.autoplay = true;
    el.muted = false;
    el.srcObject = new MediaStream([consumer.track]);
    if (el instanceof HTMLAudioElement) el.controls = true; // visible in screenshots
    if (el instanceof HTMLVideoElement) {
      el.playsInline = true;
      el.requestVideoFrameCallback(() => {
        entry.firstFrameAt = now();
        console.log(`room ${room.id}: first video frame of peer ${peerId} rendered`);
      });
    }
    this.tile(el, `peer ${peerId} · ${consumer.kind} · room ${room.id}`, `tile-${consumer.id}`);
    el.play().catch((e: unknown) => console.warn(`play() of ${consumer.kind}: ${errorText(e)}`));
  }

  private async consumeData(room: Room, p: types.DataConsumerOptions, peerId: string): Promise<void> {
    const dc = await room.recv!.consumeData({
      id: p.id,
      dataProducerId: p.dataProducerId,
      sctpStreamParameters: p.sctpStreamParameters,
      label: p.label,
      protocol: p.protocol,
      appData: { peerId },
    });
    dc.binaryType = 'arraybuffer';
    const entry: DataConsumerEntry = { dc, peerId, roomId: room.id, sink: null, stray: 0 };
    dc.on('message', (data) => {
      if (entry.sink) entry.sink(data);
      else entry.stray++;
    });
    dc.on('open', () => console.log(`room ${room.id}: data consumer ${dc.id} of peer ${peerId} open`));
    dc.on('error', (e) => console.warn(`room ${room.id}: data consumer ${dc.id} error: ${errorText(e)}`));
    room.dataConsumers.set(dc.id, entry);
    console.log(`room ${room.id}: consuming data of peer ${peerId} (data consumer ${dc.id}, stream ${p.sctpStreamParameters.streamId})`);
  }

  private onServerClosedRoom(roomId: string, via: string): void {
    const room = this.rooms.get(roomId);
    this.state.closeRoomEvents.push({ roomId, at: now(), via });
    if (!room || room.serverClosedAt !== null) return;
    room.serverClosedAt = now();
    console.log(`room ${roomId} closed by the server (${via})`);
    if (!this.opts.keepTransportsAfterRoomClose) this.closeRoom(roomId);
  }

  // ----- file sharing (spec §6.8) -----

  private enqueueFile(what: string, fn: () => Promise<void>): void {
    // Not on the media chain: streaming may take a while and must not hold up media messages.
    fn().catch((e) => this.fail(what, e));
  }

  /**
   * Owner side: makes `size` random bytes, opens a data producer in every room we speak in and
   * offers the file with ADD_USER_FILES. Returns the metadata and the SHA-256 of the bytes.
   */
  async offerFile(size: number): Promise<{ meta: FileMeta; sha256: string }> {
    const bytes = new Uint8Array(size);
    for (let off = 0; off < size; off += 65536) crypto.getRandomValues(bytes.subarray(off, Math.min(size, off + 65536)));
    const sha256 = hex(await crypto.subtle.digest('SHA-256', bytes));
    const rooms = [...this.rooms.values()].filter((r) => r.send && !r.locallyClosed && r.serverClosedAt === null);
    if (rooms.length === 0) throw new Error('offerFile: we are in no room with a send transport');
    for (const room of rooms) {
      const dp = await room.send!.produceData({ ordered: true, label: 'file', appData: { mediaTag: 'file' } });
      room.dataProducers.push(dp);
      this.state.fileLog.push(`data producer ${dp.id} created in room ${room.id}`);
      if (dp.readyState !== 'open') {
        await once(dp, 'open', 15_000, `data producer ${dp.id} in room ${room.id} did not open within 15 s (SCTP over the send transport never came up)`);
      }
      this.state.fileLog.push(`data producer ${dp.id} open`);
    }
    const meta: FileMeta = {
      id: crypto.randomUUID(),
      name: 'e2e-random.bin',
      size,
      type: 'application/octet-stream',
      lastModified: Date.now(),
      owner: this.opts.userId,
    };
    this.offered = { meta, bytes };
    this.send({ topic: 'ADD_USER_FILES', files: [meta] });
    this.state.fileLog.push(`ADD_USER_FILES sent (${meta.name}, ${size} bytes)`);
    return { meta, sha256 };
  }

  private onAddUserFiles(m: Msg): void {
    const d = v.dOf(m, 'ADD_USER_FILES');
    const files = v.arr(d, 'files', 'ADD_USER_FILES.d', false);
    for (const f of files) {
      if (!v.isObject(f)) continue;
      const meta = f as FileMeta;
      this.state.fileLog.push(`ADD_USER_FILES received: ${meta.name} of owner ${String(meta.owner)}`);
      if (String(meta.owner) !== this.opts.userId) this.state.offeredToUs.push(meta);
    }
  }

  /** Owner side: accept a download of the file we offer. */
  private onDownloadRequest(m: Msg): void {
    const T = 'DOWNLOAD_REQUEST';
    const d = v.dOf(m, T);
    const file = v.obj(d, 'file', `${T}.d`);
    const from = d.user_id;
    v.need(typeof from === 'string' || typeof from === 'number', `${T}.d.user_id`, 'must be the downloader id (filled by the server)', from);
    this.state.fileLog.push(`DOWNLOAD_REQUEST from ${String(from)} for ${String(file.name)}`);
    if (!this.offered || file.id !== this.offered.meta.id) {
      this.send({ topic: 'DENY_DOWNLOAD_REQUEST', d: { user_id: String(from), reason: 'No such file here.' } });
      return this.fail(`DOWNLOAD_REQUEST for a file we do not offer: ${v.show(file)}`);
    }
    this.send({ topic: 'ACCEPT_DOWNLOAD_REQUEST', d: { file, user_id: String(from) } });
    this.state.fileLog.push(`ACCEPT_DOWNLOAD_REQUEST sent to ${String(from)}`);
  }

  /** Owner side, on START_DOWNLOAD: stream the bytes over our data producers. */
  private async streamFile(): Promise<void> {
    if (!this.offered) throw new Error('START_DOWNLOAD but we offer no file');
    const { bytes } = this.offered;
    const dps = [...this.rooms.values()].flatMap((r) => r.dataProducers).filter((dp) => !dp.closed && dp.readyState === 'open');
    if (dps.length === 0) throw new Error('START_DOWNLOAD but no data producer is open');
    this.state.fileLog.push(`START_DOWNLOAD received: streaming ${bytes.length} bytes in ${CHUNK_BYTES}-byte chunks`);
    const t0 = now();
    let chunks = 0;
    for (const dp of dps) dp.bufferedAmountLowThreshold = BUFFER_LOW_BYTES;
    for (let off = 0; off < bytes.length; off += CHUNK_BYTES) {
      for (const dp of dps) {
        if (dp.bufferedAmount > BUFFER_HIGH_BYTES) {
          await once(dp, 'bufferedamountlow', 20_000, `data producer ${dp.id}: bufferedAmount stuck at ${dp.bufferedAmount} bytes for 20 s (the SFU does not read the data channel)`);
        }
        dp.send(bytes.slice(off, off + CHUNK_BYTES));
      }
      chunks++;
    }
    // Wait until the browser has handed everything to SCTP.
    const deadline = now() + 30_000;
    while (dps.some((dp) => dp.bufferedAmount > 0)) {
      if (now() > deadline) throw new Error(`data producers still hold ${dps.map((d) => d.bufferedAmount).join('/')} buffered bytes after 30 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    this.state.sent = { bytes: bytes.length, ms: now() - t0, chunks };
    this.state.fileLog.push(`streamed ${bytes.length} bytes in ${chunks} chunks`);
  }

  /** Downloader side: the whole handshake, then reassembles `file.size` bytes and hashes them. */
  async download(file: FileMeta, timeoutMs: number): Promise<DownloadResult> {
    const owner = String(file.owner);
    // We must already consume the owner's data producer (new-peer-data-producer).
    const deadline = now() + 15_000;
    let entry: DataConsumerEntry | undefined;
    while (!(entry = this.dataConsumerOf(owner))) {
      if (now() > deadline) throw new Error(`no open data consumer for owner ${owner} within 15 s (no new-peer-data-producer, or its data channel never opened): ${v.show(this.summaries().map((r) => r.dataConsumers))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const dc = entry.dc;

    const t0 = now();
    const accepted = this.waitTopic('ACCEPT_DOWNLOAD_REQUEST', 10_000);
    const denied = this.waitTopic('DENY_DOWNLOAD_REQUEST', 10_000).then((m) => {
      throw new Error(`download denied: ${v.show(m.d)}`);
    });
    denied.catch(() => undefined);
    this.send({ topic: 'DOWNLOAD_REQUEST', file });
    this.state.fileLog.push(`DOWNLOAD_REQUEST sent for ${file.name}`);
    const acc = await Promise.race([accepted, denied]);
    const accD = v.dOf(acc, 'ACCEPT_DOWNLOAD_REQUEST');
    const accFile = v.obj(accD, 'file', 'ACCEPT_DOWNLOAD_REQUEST.d');
    v.need(accFile.id === file.id, 'ACCEPT_DOWNLOAD_REQUEST.d.file.id', `must be the requested file's id ${file.id}`, accFile.id);
    const handshakeMs = now() - t0;
    this.state.fileLog.push('ACCEPT_DOWNLOAD_REQUEST received');

    // Collect before asking for the bytes.
    const parts: Uint8Array[] = [];
    let received = 0;
    let messages = 0;
    let t1 = 0;
    const complete = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `download incomplete after ${timeoutMs} ms: ${received} of ${file.size} bytes in ${messages} messages (data consumer ${dc.id} readyState ${dc.readyState}; ${entry!.stray} messages had arrived before START_DOWNLOAD)`,
            ),
          ),
        timeoutMs,
      );
      entry!.sink = (data) => {
        if (!(data instanceof ArrayBuffer)) {
          clearTimeout(timer);
          reject(new Error(`data consumer got a ${typeof data} message; expected binary (ArrayBuffer) chunks`));
          return;
        }
        parts.push(new Uint8Array(data));
        received += data.byteLength;
        messages++;
        if (received >= file.size) {
          clearTimeout(timer);
          if (received > file.size) reject(new Error(`received ${received} bytes, more than the file's ${file.size}`));
          else resolve();
        }
      };
    });
    t1 = now();
    this.send({ topic: 'START_DOWNLOAD', d: { user_id: owner } });
    this.state.fileLog.push(`START_DOWNLOAD sent to ${owner}`);
    try {
      await complete;
    } finally {
      entry.sink = null;
    }
    const ms = now() - t1;
    const all = new Uint8Array(received);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    const sha256 = hex(await crypto.subtle.digest('SHA-256', all));
    this.state.fileLog.push(`download complete: ${received} bytes in ${messages} messages, ${ms.toFixed(0)} ms`);
    return { sha256, bytes: received, messages, ms, handshakeMs };
  }

  private dataConsumerOf(peerId: string): DataConsumerEntry | undefined {
    for (const room of this.rooms.values()) {
      if (room.locallyClosed) continue;
      for (const e of room.dataConsumers.values()) {
        if (e.peerId === peerId && !e.dc.closed && e.dc.readyState === 'open') return e;
      }
    }
    return undefined;
  }

  // ----- observation -----

  private summaries(): RoomSummary[] {
    return [...this.rooms.values()].map((r) => ({
      roomId: r.id,
      serverClosedAt: r.serverClosedAt,
      locallyClosed: r.locallyClosed,
      recvState: r.recv?.connectionState ?? null,
      sendState: r.send?.connectionState ?? null,
      availableOutgoingBitrate: null,
      consumers: r.consumers.size,
      dataConsumers: [...r.dataConsumers.values()].map((e) => ({ id: e.dc.id, peerId: e.peerId, readyState: e.dc.readyState })),
      dataProducers: r.dataProducers.map((dp) => ({ id: dp.id, readyState: dp.readyState })),
    }));
  }

  getState(): PageState {
    this.state.rooms = this.summaries();
    this.state.now = now();
    return JSON.parse(JSON.stringify(this.state)) as PageState;
  }

  /** inbound-rtp per consumer and outbound-rtp per producer, from the transports' getStats(). */
  async stats(): Promise<PageStats> {
    const rooms = this.summaries();
    const consumers: ConsumerStats[] = [];
    const producers: ProducerStats[] = [];
    for (const room of this.rooms.values()) {
      const summary = rooms.find((s) => s.roomId === room.id)!;
      if (room.locallyClosed) {
        for (const e of room.consumers.values()) consumers.push(this.consumerStats(e, undefined, room));
        continue;
      }
      const recvReport = room.recv ? await room.recv.getStats() : undefined;
      for (const e of room.consumers.values()) consumers.push(this.consumerStats(e, recvReport, room));
      if (room.send) {
        const sendReport = await room.send.getStats();
        for (const p of room.producers) {
          const ssrc = p.rtpParameters.encodings?.[0]?.ssrc;
          let out: Record<string, number> = {};
          sendReport.forEach((s: Record<string, unknown>) => {
            if (s.type === 'outbound-rtp' && s.ssrc === ssrc) out = s as Record<string, number>;
            if (s.type === 'candidate-pair' && s.nominated && typeof s.availableOutgoingBitrate === 'number') {
              summary.availableOutgoingBitrate = s.availableOutgoingBitrate;
            }
          });
          producers.push({
            producerId: p.id,
            roomId: room.id,
            kind: p.kind,
            packetsSent: out.packetsSent ?? 0,
            framesEncoded: out.framesEncoded ?? 0,
            frameWidth: out.frameWidth ?? 0,
            targetBitrate: out.targetBitrate ?? 0,
          });
        }
      }
    }
    return { at: now(), rooms, consumers, producers };
  }

  private consumerStats(e: ConsumerEntry, report: RTCStatsReport | undefined, room: Room): ConsumerStats {
    const ssrc = e.consumer.rtpParameters.encodings?.[0]?.ssrc ?? 0;
    let s: Record<string, number> | null = null;
    report?.forEach((x: Record<string, unknown>) => {
      if (x.type === 'inbound-rtp' && x.ssrc === ssrc) s = x as Record<string, number>;
    });
    const st: Record<string, number> = s ?? {};
    const joined = room.joinedAt;
    return {
      consumerId: e.consumer.id,
      producerId: e.consumer.producerId,
      peerId: e.peerId,
      roomId: e.roomId,
      kind: e.consumer.kind,
      closed: e.consumer.closed,
      ssrc,
      found: s !== null,
      packetsReceived: st.packetsReceived ?? 0,
      bytesReceived: st.bytesReceived ?? 0,
      packetsLost: st.packetsLost ?? 0,
      framesDecoded: st.framesDecoded ?? 0,
      frameWidth: st.frameWidth ?? 0,
      frameHeight: st.frameHeight ?? 0,
      totalAudioEnergy: st.totalAudioEnergy ?? 0,
      nackCount: st.nackCount ?? 0,
      pliCount: st.pliCount ?? 0,
      firstFrameAfterJoinMs: e.firstFrameAt === null ? null : e.firstFrameAt - joined,
      firstFrameAfterConsumeMs: e.firstFrameAt === null ? null : e.firstFrameAt - e.createdAt,
    };
  }

  // ----- page -----

  private tile(el: HTMLElement, label: string, id?: string): void {
    const div = document.createElement('div');
    div.className = 'tile';
    if (id) div.id = id;
    const cap = document.createElement('p');
    cap.textContent = label;
    div.append(el, cap);
    document.getElementById('tiles')!.append(div);
  }
}

const client = new MediaClient();

/** What the driver calls through `page.evaluate`. */
const api = {
  start: (o: StartOptions) => client.start(o),
  move: (x: number, y: number, vx: number, vy: number) => client.move(x, y, vx, vy),
  state: () => client.getState(),
  stats: () => client.stats(),
  offerFile: (size: number) => client.offerFile(size),
  download: (file: FileMeta, timeoutMs: number) => client.download(file, timeoutMs),
  closeRoom: (roomId: string) => client.closeRoom(roomId),
};

declare global {
  interface Window {
    e2e: typeof api;
  }
}

window.e2e = api;
window.addEventListener('unhandledrejection', (ev) => client.fail('unhandled promise rejection', ev.reason));
