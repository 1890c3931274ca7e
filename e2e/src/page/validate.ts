// Checks of the server's media replies against what mediasoup-client v3 needs.
//
// The test must not paper over server bugs: every field mediasoup-client reads is checked here
// first, and a missing or malformed one fails the test with the message's topic and the field's
// path (for example `you-joined-as-speaker.d.sendTransportOptions.iceParameters.iceLite`), so
// the server engineer knows exactly what to fix. mediasoup-client's own validators (`ortc.*`) are
// run on copies as well, and their message is reported with the same path.

import { ortc } from 'mediasoup-client';
import type { types } from 'mediasoup-client';

/** A reply of the server that mediasoup-client cannot use: a server bug, not a test bug. */
export class ServerBug extends Error {
  constructor(message: string) {
    super(`SERVER BUG: ${message}`);
    this.name = 'ServerBug';
  }
}

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: Json): string {
  const s = JSON.stringify(v);
  return s === undefined ? 'undefined' : s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/** Fails with `path` unless `ok`. */
function need(ok: boolean, path: string, what: string, got: Json): void {
  if (!ok) throw new ServerBug(`${path}: ${what} (got ${show(got)})`);
}

function str(o: Record<string, Json>, key: string, path: string): string {
  const v = o[key];
  need(typeof v === 'string' && v.length > 0, `${path}.${key}`, 'must be a non-empty string', v);
  return v as string;
}

function num(o: Record<string, Json>, key: string, path: string): number {
  const v = o[key];
  need(typeof v === 'number' && Number.isFinite(v), `${path}.${key}`, 'must be a number', v);
  return v as number;
}

function obj(o: Record<string, Json>, key: string, path: string): Record<string, Json> {
  const v = o[key];
  need(isObject(v), `${path}.${key}`, 'must be an object', v);
  return v as Record<string, Json>;
}

function arr(o: Record<string, Json>, key: string, path: string, nonEmpty = true): Json[] {
  const v = o[key];
  need(Array.isArray(v) && (!nonEmpty || v.length > 0), `${path}.${key}`, nonEmpty ? 'must be a non-empty array' : 'must be an array', v);
  return v as Json[];
}

/** Runs one of mediasoup-client's own validators on a copy; its complaint names `path`. */
function viaMediasoup(path: string, value: Json, check: (v: never) => void): void {
  try {
    check(structuredClone(value) as never);
  } catch (e) {
    throw new ServerBug(`${path}: mediasoup-client rejects it: ${(e as Error).message} (got ${show(value)})`);
  }
}

/** `d` of a message, which every media message carries. */
export function dOf(msg: Record<string, Json>, topic: string): Record<string, Json> {
  need(isObject(msg.d), `${topic}.d`, 'must be an object', msg.d);
  return msg.d as Record<string, Json>;
}

/** The router's RTP capabilities, as `device.load()` needs them. */
export function routerCapabilities(v: Json, path: string): types.RtpCapabilities {
  need(isObject(v), path, 'must be an object', v);
  const caps = v as Record<string, Json>;
  const codecs = arr(caps, 'codecs', path);
  codecs.forEach((c, i) => {
    const p = `${path}.codecs[${i}]`;
    need(isObject(c), p, 'must be an object', c);
    const co = c as Record<string, Json>;
    const mime = str(co, 'mimeType', p);
    need(/^(audio|video)\/[A-Za-z0-9-]+$/.test(mime), `${p}.mimeType`, 'must look like "audio/opus" or "video/VP8"', mime);
    num(co, 'clockRate', p);
    need(co.kind === undefined || co.kind === 'audio' || co.kind === 'video', `${p}.kind`, 'must be "audio" or "video"', co.kind);
  });
  const mimes = codecs.map((c) => String((c as Record<string, Json>).mimeType).toLowerCase());
  need(mimes.includes('audio/opus'), `${path}.codecs`, 'must offer audio/opus (Chromium sends opus)', mimes);
  need(mimes.some((m) => m.startsWith('video/') && m !== 'video/rtx'), `${path}.codecs`, 'must offer a video codec', mimes);
  if (caps.headerExtensions !== undefined) {
    arr(caps, 'headerExtensions', path, false).forEach((h, i) => {
      const p = `${path}.headerExtensions[${i}]`;
      need(isObject(h), p, 'must be an object', h);
      str(h as Record<string, Json>, 'uri', p);
      num(h as Record<string, Json>, 'preferredId', p);
    });
  }
  viaMediasoup(path, caps, ortc.validateAndNormalizeRtpCapabilities);
  return caps as unknown as types.RtpCapabilities;
}

/**
 * Transport options for `device.createSendTransport()` / `createRecvTransport()`.
 * `needSctp`: the transport must carry data channels (file sharing), so `sctpParameters` is required.
 */
export function transportOptions(v: Json, path: string, needSctp: boolean): types.TransportOptions {
  need(isObject(v), path, 'must be an object (TransportOptions {id, iceParameters, iceCandidates, dtlsParameters, sctpParameters})', v);
  const o = v as Record<string, Json>;
  str(o, 'id', path);

  const ice = obj(o, 'iceParameters', path);
  str(ice, 'usernameFragment', `${path}.iceParameters`);
  str(ice, 'password', `${path}.iceParameters`);
  // Our SFU is ICE-lite: without iceLite:true mediasoup-client leaves out a=ice-lite, and then
  // both ends wait for the other to send checks.
  need(ice.iceLite === true, `${path}.iceParameters.iceLite`, 'must be true (the SFU is ICE-lite)', ice.iceLite);

  arr(o, 'iceCandidates', path).forEach((c, i) => {
    const p = `${path}.iceCandidates[${i}]`;
    need(isObject(c), p, 'must be an object', c);
    const cand = c as Record<string, Json>;
    str(cand, 'foundation', p);
    num(cand, 'priority', p);
    // mediasoup-client 3.18+ reads `address` and falls back to the deprecated `ip`.
    const address = cand.address ?? cand.ip;
    need(typeof address === 'string' && address.length > 0, `${p}.address`, 'must be a non-empty string (or the deprecated `ip`)', address);
    need(address !== '0.0.0.0' && address !== '::', `${p}.address`, 'is a wildcard address; announce a reachable one (--media-announce-ip)', address);
    need(/^127\./.test(String(address)), `${p}.address`, 'must be a loopback address in this test (it runs in a loopback-only network namespace; pass --media-announce-ip 127.0.0.1)', address);
    const port = num(cand, 'port', p);
    need(Number.isInteger(port) && port > 0 && port < 65536, `${p}.port`, 'must be a UDP port number', port);
    need(cand.protocol === 'udp' || cand.protocol === 'tcp', `${p}.protocol`, 'must be "udp" or "tcp"', cand.protocol);
    need(['host', 'srflx', 'prflx', 'relay'].includes(String(cand.type)), `${p}.type`, 'must be "host" (or srflx/prflx/relay)', cand.type);
  });

  const dtls = obj(o, 'dtlsParameters', path);
  need(dtls.role === undefined || ['auto', 'client', 'server'].includes(String(dtls.role)), `${path}.dtlsParameters.role`, 'must be "auto", "client" or "server"', dtls.role);
  const fps = arr(dtls, 'fingerprints', `${path}.dtlsParameters`);
  fps.forEach((f, i) => {
    const p = `${path}.dtlsParameters.fingerprints[${i}]`;
    need(isObject(f), p, 'must be an object {algorithm, value}', f);
    const fo = f as Record<string, Json>;
    need(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512'].includes(String(fo.algorithm)), `${p}.algorithm`, 'must be a hash name such as "sha-256"', fo.algorithm);
    need(typeof fo.value === 'string' && /^([0-9A-Fa-f]{2}:)+[0-9A-Fa-f]{2}$/.test(fo.value), `${p}.value`, 'must be hex bytes joined by ":"', fo.value);
  });

  if (needSctp || o.sctpParameters !== undefined) {
    const sctp = obj(o, 'sctpParameters', path);
    const p = `${path}.sctpParameters`;
    num(sctp, 'port', p);
    num(sctp, 'OS', p);
    num(sctp, 'MIS', p);
    num(sctp, 'maxMessageSize', p);
  }
  return o as unknown as types.TransportOptions;
}

/** `consumerParameters` of an audio/video consumer, for `recvTransport.consume()`. */
export function consumerParameters(v: Json, path: string): types.ConsumerOptions {
  need(isObject(v), path, 'must be an object {id, producerId, kind, rtpParameters}', v);
  const o = v as Record<string, Json>;
  str(o, 'id', path);
  str(o, 'producerId', path);
  need(o.kind === 'audio' || o.kind === 'video', `${path}.kind`, 'must be "audio" or "video"', o.kind);
  const rp = obj(o, 'rtpParameters', path);
  const p = `${path}.rtpParameters`;
  arr(rp, 'codecs', p);
  const enc = arr(rp, 'encodings', p);
  need(isObject(enc[0]) && typeof (enc[0] as Record<string, Json>).ssrc === 'number', `${p}.encodings[0].ssrc`, 'must be a number (the SFU picks the consumer SSRC)', enc[0]);
  // `mid` is optional for mediasoup-client (it then numbers m-lines itself); our SFU sends one.
  need(rp.mid === undefined || typeof rp.mid === 'string', `${p}.mid`, 'must be a string when present', rp.mid);
  viaMediasoup(p, rp, ortc.validateAndNormalizeRtpParameters);
  return o as unknown as types.ConsumerOptions;
}

/** `consumerParameters` of a data consumer, for `recvTransport.consumeData()`. */
export function dataConsumerParameters(v: Json, path: string): types.DataConsumerOptions {
  need(isObject(v), path, 'must be an object {id, dataProducerId, sctpStreamParameters}', v);
  const o = v as Record<string, Json>;
  str(o, 'id', path);
  str(o, 'dataProducerId', path);
  const sp = obj(o, 'sctpStreamParameters', path);
  const streamId = num(sp, 'streamId', `${path}.sctpStreamParameters`);
  need(Number.isInteger(streamId) && streamId >= 0 && streamId < 65535, `${path}.sctpStreamParameters.streamId`, 'must be an SCTP stream id', streamId);
  viaMediasoup(`${path}.sctpStreamParameters`, sp, ortc.validateAndNormalizeSctpStreamParameters);
  return o as unknown as types.DataConsumerOptions;
}

/** A `{topic, d:{id}}` reply to produce / produceData. */
export function producedId(d: Record<string, Json>, topic: string): string {
  return str(d, 'id', `${topic}.d`);
}

export { isObject, need, str, arr, obj, show };
