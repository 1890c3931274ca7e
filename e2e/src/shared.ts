// Types shared by the test page (browser) and the Playwright driver (Node), and the drivers'
// common helpers (Node only: the test page imports nothing but types from here, which the
// bundler erases, so these imports never reach the browser bundle).

import { existsSync, readFileSync } from 'node:fs';

import { chromium, type Browser } from 'playwright-core';

/** How the driver starts a page's client. */
export interface StartOptions {
  /** `ws://127.0.0.1:<port>/api/v1/ws/<world>?token=…` */
  wsUrl: string;
  /** Our user id as the server spells it on the wire (a string). */
  userId: string;
  /** Display name, for the page and the logs. */
  name: string;
  /** Where JOIN_PLAYER puts us. */
  position: { x: number; y: number };
  /**
   * When the server closes a room (CLOSE_ROOM, or a GROUPS_SNAPSHOT without it), keep the room's
   * transports open until the driver calls `closeRoom`, so the driver can read the receive
   * counters and prove that the *server* stopped forwarding. The real client closes at once.
   */
  keepTransportsAfterRoomClose: boolean;
}

/** One consumer's inbound-rtp figures, from the receive transport's getStats(). */
export interface ConsumerStats {
  consumerId: string;
  producerId: string;
  peerId: string;
  roomId: string;
  kind: 'audio' | 'video';
  closed: boolean;
  ssrc: number;
  /** Whether an inbound-rtp entry with our SSRC was found. */
  found: boolean;
  packetsReceived: number;
  bytesReceived: number;
  packetsLost: number;
  framesDecoded: number;
  frameWidth: number;
  frameHeight: number;
  totalAudioEnergy: number;
  nackCount: number;
  pliCount: number;
  /** ms from `you-joined-as-speaker` to the first rendered frame (video only). */
  firstFrameAfterJoinMs: number | null;
  /** ms from the consumer's creation to the first rendered frame (video only). */
  firstFrameAfterConsumeMs: number | null;
}

/** One producer's outbound-rtp figures, from the send transport's getStats(). */
export interface ProducerStats {
  producerId: string;
  roomId: string;
  kind: string;
  packetsSent: number;
  framesEncoded: number;
  frameWidth: number;
  targetBitrate: number;
}

export interface RoomSummary {
  roomId: string;
  serverClosedAt: number | null;
  locallyClosed: boolean;
  recvState: string | null;
  sendState: string | null;
  availableOutgoingBitrate: number | null;
  consumers: number;
  dataConsumers: { id: string; peerId: string; readyState: string }[];
  dataProducers: { id: string; readyState: string }[];
}

export interface PageStats {
  at: number;
  rooms: RoomSummary[];
  consumers: ConsumerStats[];
  producers: ProducerStats[];
}

/** A file's metadata as the file-sharing protocol carries it (react-dropzone-like). */
export interface FileMeta {
  id: string;
  name: string;
  size: number;
  type: string;
  owner: string;
  [key: string]: unknown;
}

export interface DownloadResult {
  sha256: string;
  bytes: number;
  messages: number;
  /** START_DOWNLOAD sent → last byte received. */
  ms: number;
  /** DOWNLOAD_REQUEST sent → ACCEPT_DOWNLOAD_REQUEST received. */
  handshakeMs: number;
}

/** What the page knows, for the driver's polling and for failure reports. */
export interface PageState {
  name: string;
  userId: string;
  connected: boolean;
  snapshot: boolean;
  /** Errors that fail the test (server bugs named by field, mediasoup failures, server `error`s). */
  errors: string[];
  /** Rooms we were told we joined as speaker, with the time (page clock, ms). */
  joined: { roomId: string; at: number }[];
  rooms: RoomSummary[];
  /** Files others offered us (ADD_USER_FILES). */
  offeredToUs: FileMeta[];
  /** Events of the file protocol, in order, for the report. */
  fileLog: string[];
  /** The owner side's figures once it streamed a file. */
  sent: { bytes: number; ms: number; chunks: number } | null;
  closeRoomEvents: { roomId: string; at: number; via: string }[];
  now: number;
}

// ---- Driver helpers ------------------------------------------------------------------------

const driverStart = Date.now();

/** Seconds since the driver started, padded for the log's left column. */
export const elapsed = (): string => `${((Date.now() - driverStart) / 1000).toFixed(2).padStart(7)}s`;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every 200 ms until it returns something other than null or false. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(200);
  }
}

/** Runs one named step of a test, logging its start and how long it took. */
export async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t = Date.now();
  console.log(`${elapsed()} ==== ${name}`);
  const v = await fn();
  console.log(`${elapsed()}      done in ${Date.now() - t} ms`);
  return v;
}

/** The Chromium flags of the browser tests: fake camera and microphone, no sandbox (root), software GL. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--allow-loopback-in-peer-connection',
  '--enable-unsafe-swiftshader',
];

/** Starts headless Chromium (`CHROMIUM`, default /usr/bin/chromium) with CHROMIUM_ARGS. */
export function launchChromium(executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium'): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_ARGS] });
}

/**
 * Runs a driver's `main` under a watchdog and exits the process: 0 when it resolves; 1 when
 * it throws (with the error and the tail of E2E_SERVER_LOG) or when `timeoutMs` passes first.
 */
export function runDriver(name: string, timeoutMs: number, main: () => Promise<void>): void {
  const serverLogTail = () => {
    const log = process.env.E2E_SERVER_LOG;
    if (log && existsSync(log)) console.error(`\n---- server log (tail) ----\n${readFileSync(log, 'utf8').split('\n').slice(-60).join('\n')}`);
  };
  const watchdog = setTimeout(() => {
    console.error(`\nFAILED: the driver did not finish within ${timeoutMs / 1000} s`);
    serverLogTail();
    process.exit(1);
  }, timeoutMs);
  main().then(
    () => {
      clearTimeout(watchdog);
      console.log(`${name}: all steps passed in ${((Date.now() - driverStart) / 1000).toFixed(1)} s`);
      process.exit(0);
    },
    (e: unknown) => {
      clearTimeout(watchdog);
      console.error(`\nFAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      serverLogTail();
      process.exit(1);
    },
  );
}
