// End-to-end media test: two headless Chromium pages, each a mediasoup-client v3 client of a real
// `crowdwire serve`, prove that
//   1. two users 50 px apart receive each other's audio and video (inbound-rtp of the consumers:
//      video framesDecoded > 0, audio packetsReceived > 0, read from the transports' getStats());
//   2. a 1 MiB random file moves from A to B over a data producer → data consumer, following the
//      file-sharing protocol (spec §6.8), with matching SHA-256;
//   3. once they walk apart (far beyond the 150 px radius) the server closes the group and the
//      media stops: B's counters for A's tracks no longer grow.
//
// Run by scripts/e2e-media.sh inside a loopback-only network namespace, which starts the server.
// Environment:
//   E2E_BASE_URL    http://127.0.0.1:<port> of the server (required)
//   E2E_BUNDLE      the page bundle (default: dist/media-page.js next to this file)
//   E2E_ARTIFACTS   where screenshots and full message logs go (default: ../artifacts)
//   E2E_SERVER_LOG  the server's output file, whose tail is printed on failure
//   E2E_QUIET=1     don't print every WebSocket message (they are still kept for failure reports)
//   E2E_FILE_BYTES  size of the file to transfer (default 1048576)
//   CHROMIUM        browser binary (default /usr/bin/chromium)

import { existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium, type Browser, type Page } from 'playwright-core';

import type { ConsumerStats, DownloadResult, FileMeta, PageState, PageStats, StartOptions } from './shared';

const here = dirname(fileURLToPath(import.meta.url));
const BASE = required('E2E_BASE_URL').replace(/\/$/, '');
const API = `${BASE}/api/v1`;
const BUNDLE = process.env.E2E_BUNDLE ?? join(here, 'media-page.js');
const ARTIFACTS = resolve(process.env.E2E_ARTIFACTS ?? join(here, '..', 'artifacts'));
const SERVER_LOG = process.env.E2E_SERVER_LOG;
const QUIET = process.env.E2E_QUIET === '1' || process.argv.includes('--quiet');
const FILE_BYTES = Number(process.env.E2E_FILE_BYTES ?? 1024 * 1024);
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** The whole driver gives up after this long (the shell script has its own, longer, bound). */
const DRIVER_TIMEOUT_MS = 240_000;
/** Growth of a counter we still call "stopped" between t+2 s and t+4 s after the room closed. */
const STOP_TOLERANCE_PACKETS = 2;

const t0 = Date.now();
const elapsed = (): string => `${((Date.now() - t0) / 1000).toFixed(2).padStart(7)}s`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function required(name: string): string {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set (run scripts/e2e-media.sh)`);
    process.exit(2);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// REST set-up (spec §4): two accounts, a world created by A, a role for B that may use files.

interface User {
  name: string;
  email: string;
  id: string;
  token: string;
}

async function rest(method: string, path: string, token: string | null, body?: unknown, form?: Record<string, string>): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    payload = new URLSearchParams(form).toString();
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(`${API}${path}`, { method, headers, body: payload });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 500)}`);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function newUser(name: string): Promise<User> {
  const email = `${name.toLowerCase()}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@e2e.crowdwire.test`;
  const password = 'e2e-password-123';
  await rest('POST', '/register', null, { name, email, hashed_password: password });
  const tok = (await rest('POST', '/login', null, undefined, { username: email, password })) as { access_token: string };
  const me = (await rest('GET', '/users/me', tok.access_token)) as { user_id: number };
  return { name, email, id: String(me.user_id), token: tok.access_token };
}

// ---------------------------------------------------------------------------------------------
// Pages and their WebSocket message logs.

interface LogEntry {
  t: string;
  dir: '→' | '←' | '··';
  topic: string;
  text: string;
}

class TestPage {
  readonly log: LogEntry[] = [];
  page!: Page;
  private readonly fullLog: string;

  constructor(
    readonly label: string,
    readonly user: User,
  ) {
    this.fullLog = join(ARTIFACTS, `${label.toLowerCase()}-messages.jsonl`);
    writeFileSync(this.fullLog, '');
  }

  async open(browser: Browser): Promise<void> {
    // A page fulfilled by page.route has no real remote address, so Chromium's Local Network
    // Access checks treat it as public and block its WebSocket to 127.0.0.1 unless granted.
    const context = await browser.newContext({ viewport: { width: 960, height: 640 } });
    await context.grantPermissions(['local-network-access', 'camera', 'microphone'], { origin: BASE });
    // Serve the test page and its bundle from the server's own origin, without touching the
    // server: the WebSocket is then same-origin, and 127.0.0.1 is a secure context.
    const bundle = readFileSync(BUNDLE, 'utf8');
    await context.route(`${BASE}/__e2e/media.html`, (r) => r.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: PAGE_HTML(this.label) }));
    await context.route(`${BASE}/__e2e/media.js`, (r) => r.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', body: bundle }));
    this.page = await context.newPage();
    this.page.on('console', (m) => {
      const text = m.text();
      const important = m.type() === 'error' || m.type() === 'warning';
      this.note('··', `console.${m.type()}`, text);
      if (important || !QUIET) console.log(`${elapsed()} [${this.label}] console.${m.type()}: ${text}`);
    });
    this.page.on('pageerror', (e) => {
      this.note('··', 'pageerror', e.message);
      console.log(`${elapsed()} [${this.label}] PAGE ERROR: ${e.message}`);
    });
    this.page.on('websocket', (ws) => {
      ws.on('framesent', (f) => this.frame('→', f.payload));
      ws.on('framereceived', (f) => this.frame('←', f.payload));
      ws.on('close', () => this.note('··', 'ws-close', 'WebSocket closed'));
      ws.on('socketerror', (e) => this.note('··', 'ws-error', String(e)));
    });
    await this.page.goto(`${BASE}/__e2e/media.html`);
  }

  private frame(dir: '→' | '←', payload: string | Buffer): void {
    const raw = typeof payload === 'string' ? payload : payload.toString('utf8');
    appendFileSync(this.fullLog, `${JSON.stringify({ t: Date.now() - t0, dir: dir === '→' ? 'sent' : 'received', raw })}\n`);
    let msgs: unknown[];
    try {
      const parsed = JSON.parse(raw);
      msgs = Array.isArray(parsed) ? parsed : [parsed];
    } catch {
      msgs = [raw];
    }
    for (const m of msgs) {
      const topic = typeof m === 'object' && m && 'topic' in m ? String((m as { topic: unknown }).topic) : String(m);
      const text = summarize(topic, m);
      this.note(dir, topic, text);
      // Movement and pings are frequent and say little; the rest is printed.
      if (!QUIET && topic !== 'PLAYER_MOVEMENT' && topic !== 'PONG' && topic !== 'PING') {
        console.log(`${elapsed()} [${this.label}] ${dir} ${topic} ${text}`);
      }
    }
  }

  private note(dir: LogEntry['dir'], topic: string, text: string): void {
    this.log.push({ t: elapsed(), dir, topic, text });
    if (this.log.length > 400) this.log.splice(0, this.log.length - 400);
  }

  state(): Promise<PageState> {
    return this.page.evaluate(() => window.e2e.state());
  }

  stats(): Promise<PageStats> {
    return this.page.evaluate(() => window.e2e.stats());
  }

  async screenshot(name: string): Promise<string> {
    const path = join(ARTIFACTS, `${this.label.toLowerCase()}-${name}.png`);
    await this.page.screenshot({ path, fullPage: true }).catch((e: Error) => console.log(`screenshot ${path} failed: ${e.message}`));
    return path;
  }
}

/** One line per message: the fields that matter for debugging the server, not the whole SDP-ish blob. */
function summarize(topic: string, m: unknown): string {
  const o = (typeof m === 'object' && m ? m : {}) as Record<string, any>;
  const d = (o.d ?? {}) as Record<string, any>;
  try {
    switch (topic) {
      case 'you-joined-as-speaker':
      case 'you-joined-as-peer': {
        const t = (x: any) =>
          x ? `{id:${x.id}, ufrag:${x.iceParameters?.usernameFragment}, iceLite:${x.iceParameters?.iceLite}, cand:${(x.iceCandidates ?? []).map((c: any) => `${c.address ?? c.ip}:${c.port}/${c.protocol}`).join(',')}, dtlsRole:${x.dtlsParameters?.role}, fp:${(x.dtlsParameters?.fingerprints ?? []).map((f: any) => f.algorithm).join(',')}, sctp:${x.sctpParameters ? 'yes' : 'NO'}}` : 'none';
        const codecs = (d.routerRtpCapabilities?.codecs ?? []).map((c: any) => `${c.mimeType}/${c.preferredPayloadType}`).join(',');
        return `roomId=${d.roomId} peerId=${d.peerId} codecs=[${codecs}] recv=${t(d.recvTransportOptions)} send=${t(d.sendTransportOptions)}`;
      }
      case '@send-track': {
        const rp = d.rtpParameters ?? {};
        return `roomId=${d.roomId} transport=${d.transportId} kind=${d.kind} mid=${rp.mid} codecs=[${(rp.codecs ?? []).map((c: any) => `${c.mimeType}/${c.payloadType}`).join(',')}] ext=[${(rp.headerExtensions ?? []).map((h: any) => `${h.id}:${String(h.uri).split(/[/:]/).pop()}`).join(',')}] ssrc=${rp.encodings?.[0]?.ssrc} rtx=${rp.encodings?.[0]?.rtx?.ssrc} mediaTag=${d.appData?.mediaTag}`;
      }
      case '@connect-transport':
        return `roomId=${d.roomId} transport=${d.transportId} direction=${d.direction} dtlsRole=${d.dtlsParameters?.role} fp=${(d.dtlsParameters?.fingerprints ?? []).map((f: any) => f.algorithm).join(',')}`;
      case '@get-recv-tracks':
        return `roomId=${d.roomId} rtpCapabilities.codecs=${d.rtpCapabilities?.codecs?.length}`;
      case '@get-recv-tracks-done':
        return d.error !== undefined
          ? `ERROR ${JSON.stringify(d.error)} roomId=${d.roomId}`
          : `roomId=${d.roomId} entries=[${(d.consumerParametersArr ?? []).map((e: any) => `${e.kind} of ${e.consumer?.peerId} (${e.consumer?.consumerParameters?.id})`).join(', ')}]`;
      case 'new-peer-producer': {
        const cp = d.consumerParameters ?? {};
        return `roomId=${d.roomId} peerId=${d.peerId} kind=${d.kind} consumer=${cp.id} producer=${cp.producerId} mid=${cp.rtpParameters?.mid} ssrc=${cp.rtpParameters?.encodings?.[0]?.ssrc} pt=${(cp.rtpParameters?.codecs ?? []).map((c: any) => c.payloadType).join('/')}`;
      }
      case 'new-peer-data-producer': {
        const cp = d.consumerParameters ?? {};
        return `roomId=${d.roomId} peerId=${d.peerId} dataConsumer=${cp.id} dataProducer=${cp.dataProducerId} streamId=${cp.sctpStreamParameters?.streamId}`;
      }
      case '@send-file':
        return `roomId=${d.roomId} transport=${d.transportId} streamId=${d.sctpStreamParameters?.streamId} ordered=${d.sctpStreamParameters?.ordered} label=${d.label}`;
      default: {
        const s = JSON.stringify(m);
        return s.length > 300 ? `${s.slice(0, 300)}…` : s;
      }
    }
  } catch {
    return JSON.stringify(m).slice(0, 300);
  }
}

function PAGE_HTML(label: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>CrowdWire media e2e — ${label}</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 12px; background: #f4f4f7; }
  h1 { font-size: 16px; margin: 0 0 8px; }
  #tiles { display: flex; flex-wrap: wrap; gap: 8px; }
  .tile { background: #fff; border: 1px solid #ccd; padding: 6px; }
  .tile video { width: 280px; height: 210px; background: #223; display: block; }
  .tile audio { width: 280px; display: block; }
  .tile p { margin: 4px 0 0; font-size: 12px; color: #445; }
</style></head>
<body><h1>CrowdWire media e2e — page ${label}: <span id="who">starting…</span></h1>
<div id="tiles"></div>
<script src="/__e2e/media.js"></script>
</body></html>`;
}

// ---------------------------------------------------------------------------------------------
// Test steps.

let currentStep = 'set-up';
const figures: Figures = { media: {} };
/** Set once the failure report was printed (it must run while the browser is still open). */
let reported = false;
const pages: TestPage[] = [];

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  currentStep = name;
  console.log(`${elapsed()} ==== ${name}`);
  return fn();
}

/** Fails at once if a page recorded an error (server bug named by field, mediasoup failure…). */
async function checkPages(): Promise<void> {
  for (const p of pages) {
    const s = await p.state();
    if (s.errors.length > 0) throw new Error(`page ${p.label} (${p.user.name}, user ${p.user.id}) reports:\n  - ${s.errors.join('\n  - ')}`);
  }
}

/** Polls `probe` until it returns a value (not null), checking the pages for errors each time. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>, progress?: () => Promise<string>, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastProgress = Date.now();
  for (;;) {
    await checkPages();
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${progress ? `\n  last figures: ${await progress()}` : ''}`);
    }
    if (progress && Date.now() - lastProgress > 5000) {
      lastProgress = Date.now();
      console.log(`${elapsed()}      still waiting for ${what}: ${await progress()}`);
    }
    await sleep(intervalMs);
  }
}

function fromPeer(stats: PageStats, peerId: string, kind: 'audio' | 'video'): ConsumerStats[] {
  return stats.consumers.filter((c) => c.peerId === peerId && c.kind === kind);
}

function mediaLine(stats: PageStats, peerId: string): string {
  const v = fromPeer(stats, peerId, 'video');
  const a = fromPeer(stats, peerId, 'audio');
  const vs = v.map((c) => `video ${c.closed ? 'CLOSED ' : ''}${c.found ? '' : '(no inbound-rtp yet) '}framesDecoded=${c.framesDecoded} packets=${c.packetsReceived} ${c.frameWidth}x${c.frameHeight} lost=${c.packetsLost} nack=${c.nackCount} pli=${c.pliCount}`).join('; ') || 'no video consumer';
  const as = a.map((c) => `audio ${c.closed ? 'CLOSED ' : ''}${c.found ? '' : '(no inbound-rtp yet) '}packets=${c.packetsReceived} energy=${c.totalAudioEnergy.toFixed(3)} lost=${c.packetsLost}`).join('; ') || 'no audio consumer';
  const rooms = stats.rooms.map((r) => `room ${r.roomId} recv=${r.recvState} send=${r.sendState}`).join(', ') || 'no rooms';
  return `${vs} | ${as} | ${rooms}`;
}

/** Video framesDecoded > 0 and audio packetsReceived > 0 for `peerId`'s consumers on this page. */
function mediaArrived(stats: PageStats, peerId: string): boolean {
  return fromPeer(stats, peerId, 'video').some((c) => c.framesDecoded > 0) && fromPeer(stats, peerId, 'audio').some((c) => c.packetsReceived > 0);
}

interface Figures {
  media: Record<string, { video: ConsumerStats | undefined; audio: ConsumerStats | undefined; firstFrameMs: number | null; out: string }>;
  file?: { bytes: number; sha256: string; download: DownloadResult; sentMs: number | null };
  apart?: {
    closeVia: string;
    closeAfterWalkMs: number;
    samples: { tMs: number; audio: number; video: number; frames: number }[];
    stoppedAfterMs: number | null;
    outcome: string;
  };
}

async function main(): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}`);
  if (!existsSync(BUNDLE)) throw new Error(`no page bundle at ${BUNDLE} (run the build first)`);

  const [a, b, worldId] = await step('REST: register A and B, A creates a world, B gets a role that may use file boards', async () => {
    const a = await newUser('Alice');
    const b = await newUser('Bob');
    const map = await (await fetch(`${API}/static/maps/default.json`)).text();
    const world = (await rest('POST', '/worlds', a.token, {
      name: `E2E media ${Date.now() % 100000}`,
      public: true,
      allow_guests: false,
      tags: [],
      world_map: map,
      max_users: 10,
    })) as { world_id: number };
    const w = world.world_id;
    await rest('POST', `/worlds/${w}/users`, a.token, {});
    await rest('POST', `/worlds/${w}/users`, b.token, {});
    // The default role may not use file boards (interact); the creator is Admin.
    const role = (await rest('POST', `/worlds/${w}/roles`, a.token, { name: 'E2E member', world_id: w, walk: true, talk: true, chat: true, interact: true })) as { role_id: number };
    await rest('POST', `/worlds/${w}/roles/${role.role_id}/users/${b.id}`, a.token, {});
    console.log(`${elapsed()}      world ${w}; A = ${a.name} user ${a.id}, B = ${b.name} user ${b.id}`);
    return [a, b, w] as const;
  });

  const browser = await step('launch Chromium', () =>
    chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
        '--autoplay-policy=no-user-gesture-required',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
        '--allow-loopback-in-peer-connection',
      ],
    }),
  );
  try {
    const A = new TestPage('A', a);
    const B = new TestPage('B', b);
    pages.push(A, B);
    const ws = (u: User) => `${BASE.replace(/^http/, 'ws')}/api/v1/ws/${worldId}?token=${encodeURIComponent(u.token)}`;
    const start = (p: TestPage, position: { x: number; y: number }) => {
      const o: StartOptions = { wsUrl: ws(p.user), userId: p.user.id, name: p.user.name, position, keepTransportsAfterRoomClose: true };
      return p.page.evaluate((opts) => window.e2e.start(opts), o);
    };

    await step('open both pages and appear 50 px apart (A at 100,100; B at 150,100)', async () => {
      await A.open(browser);
      await B.open(browser);
      await start(A, { x: 100, y: 100 });
      await start(B, { x: 150, y: 100 });
    });

    await step('both pages get you-joined-as-speaker', () =>
      waitFor('you-joined-as-speaker on both pages (the server groups users within 150 px and its SFU joins them)', 20_000, async () => {
        const [sa, sb] = [await A.state(), await B.state()];
        return sa.joined.length > 0 && sb.joined.length > 0 ? true : null;
      }),
    );

    // ---- 1. audio and video both ways ----
    await step('1. each page decodes the other one\'s video and receives its audio', () =>
      waitFor(
        'video framesDecoded > 0 and audio packetsReceived > 0 on both pages',
        45_000,
        async () => {
          const [sa, sb] = [await A.stats(), await B.stats()];
          return mediaArrived(sa, b.id) && mediaArrived(sb, a.id) ? true : null;
        },
        async () => `A←B: ${mediaLine(await A.stats(), b.id)}  ||  B←A: ${mediaLine(await B.stats(), a.id)}`,
      ),
    );
    await sleep(3000); // let the figures grow a little for the report
    for (const [p, other] of [
      [A, b],
      [B, a],
    ] as const) {
      const s = await p.stats();
      const video = fromPeer(s, other.id, 'video')[0];
      const audio = fromPeer(s, other.id, 'audio')[0];
      const out = s.producers.map((x) => `${x.kind} sent ${x.packetsSent} pkts${x.kind === 'video' ? ` ${x.framesEncoded} frames ${x.frameWidth}px target ${(x.targetBitrate / 1000).toFixed(0)} kbps` : ''}`).join(', ');
      const bwe = s.rooms.map((r) => r.availableOutgoingBitrate).find((x) => x !== null);
      figures.media[p.label] = { video, audio, firstFrameMs: video?.firstFrameAfterJoinMs ?? null, out: `${out}${bwe ? `, availableOutgoingBitrate ${(bwe / 1000).toFixed(0)} kbps` : ''}` };
      console.log(`${elapsed()}      ${p.label} ← ${other.name}: ${mediaLine(s, other.id)}`);
      await p.screenshot('media');
    }

    // ---- 2. file transfer A → B ----
    await step(`2. file transfer: A offers ${FILE_BYTES} random bytes, B downloads them over the data channel`, async () => {
      const offer = await A.page.evaluate((n) => window.e2e.offerFile(n), FILE_BYTES);
      console.log(`${elapsed()}      A offers ${offer.meta.name} (${offer.meta.size} bytes), sha256 ${offer.sha256}`);
      const file = await waitFor('ADD_USER_FILES with A\'s file on B', 10_000, async () => {
        const s = await B.state();
        return s.offeredToUs.find((f) => f.id === offer.meta.id) ?? null;
      });
      if (String(file.owner) !== a.id) throw new Error(`SERVER BUG: ADD_USER_FILES.d.files[].owner is ${JSON.stringify(file.owner)} on B, expected A's user id "${a.id}" (the server fills it)`);
      const result = await B.page.evaluate(({ f, ms }) => window.e2e.download(f as FileMeta, ms), { f: file, ms: 60_000 });
      // A's send loop ends once its data channel buffer is empty.
      const sa = await waitFor('A to finish its send loop', 10_000, async () => {
        const st = await A.state();
        return st.sent ? st : null;
      });
      figures.file = { bytes: FILE_BYTES, sha256: offer.sha256, download: result, sentMs: sa.sent?.ms ?? null };
      console.log(`${elapsed()}      B received ${result.bytes} bytes in ${result.messages} messages, sha256 ${result.sha256}`);
      if (result.bytes !== FILE_BYTES) throw new Error(`B received ${result.bytes} bytes, expected ${FILE_BYTES}`);
      if (result.sha256 !== offer.sha256) throw new Error(`SHA-256 mismatch: A ${offer.sha256}, B ${result.sha256} (bytes reordered, lost or duplicated on the way)`);
      await checkPages();
    });

    // ---- 3. walk apart: the server closes the group, media stops ----
    await step('3. B walks away to x=600 (500 px from A) and the media stops', async () => {
      const before = await B.stats();
      const roomsBefore = (await B.state()).rooms.filter((r) => r.serverClosedAt === null).map((r) => r.roomId);
      // Walk at 200 px/s in steps the server's speed check accepts (≤ 300 px/s × dt + 64 px),
      // in the background: the counters are sampled from the moment the room closes.
      let x = 150;
      let walkedOutAt = 0;
      const walk = (async () => {
        while (x < 600) {
          await sleep(400);
          x = Math.min(600, x + 80);
          await B.page.evaluate(([px, vx]) => window.e2e.move(px, 100, vx, 0), [x, x < 600 ? 200 : 0]);
          if (walkedOutAt === 0 && x - 100 > 180) walkedOutAt = Date.now(); // beyond the 1.2 × 150 px parting distance
        }
      })();
      walk.catch(() => undefined);
      const stateAfter = await waitFor(
        'the server closing the room on B (CLOSE_ROOM or a GROUPS_SNAPSHOT without it) after walking apart',
        10_000,
        async () => {
          const s = await B.state();
          return roomsBefore.every((id) => s.rooms.find((r) => r.roomId === id)?.serverClosedAt !== null) ? s : null;
        },
        undefined,
        50,
      );
      const ev = stateAfter.closeRoomEvents.find((e) => roomsBefore.includes(e.roomId))!;
      // Page clock → wall clock, to relate the close to the walk.
      const closedAtWall = Date.now() - (stateAfter.now - ev.at);
      const closeAfterWalkMs = walkedOutAt === 0 ? NaN : Math.round(closedAtWall - walkedOutAt);
      console.log(`${elapsed()}      room ${ev.roomId} closed via ${ev.via}, ${closeAfterWalkMs} ms after B crossed 180 px`);

      // Sample B's counters for A's tracks every 250 ms for 4 s after the close.
      const samples: { tMs: number; audio: number; video: number; frames: number; closed: boolean }[] = [];
      const startAt = closedAtWall;
      const sum = (s: PageStats, kind: 'audio' | 'video', f: (c: ConsumerStats) => number) => fromPeer(s, a.id, kind).reduce((n, c) => n + f(c), 0);
      console.log(`${elapsed()}      before walking: B ← A audio ${sum(before, 'audio', (c) => c.packetsReceived)} pkts, video ${sum(before, 'video', (c) => c.packetsReceived)} pkts`);
      while (Date.now() - startAt < 4_250) {
        const s = await B.stats();
        samples.push({
          tMs: Math.round(Date.now() - startAt),
          audio: sum(s, 'audio', (c) => c.packetsReceived),
          video: sum(s, 'video', (c) => c.packetsReceived),
          frames: sum(s, 'video', (c) => c.framesDecoded),
          closed: s.consumers.filter((c) => c.peerId === a.id).every((c) => c.closed),
        });
        await sleep(250);
      }
      const at = (t: number) => samples.reduce((best, s) => (Math.abs(s.tMs - t) < Math.abs(best.tMs - t) ? s : best));
      const s2 = at(2000);
      const s4 = samples[samples.length - 1];
      await walk;
      // When did the counters last change?
      let lastChange = 0;
      for (let i = 1; i < samples.length; i++) {
        if (samples[i].audio !== samples[i - 1].audio || samples[i].video !== samples[i - 1].video) lastChange = samples[i].tMs;
      }
      const grewAudio = s4.audio - s2.audio;
      const grewVideo = s4.video - s2.video;
      const stopped = s4.closed || (grewAudio <= STOP_TOLERANCE_PACKETS && grewVideo <= STOP_TOLERANCE_PACKETS);
      figures.apart = {
        closeVia: ev.via,
        closeAfterWalkMs,
        samples: [samples[0], at(1000), s2, at(3000), s4].map(({ tMs, audio, video, frames }) => ({ tMs, audio, video, frames })),
        stoppedAfterMs: stopped ? lastChange : null,
        outcome:
          (s4.closed ? 'consumers closed' : `audio +${grewAudio}, video +${grewVideo} packets between t+${s2.tMs} ms and t+${s4.tMs} ms`) +
          ` (B's transports kept open meanwhile: recv ${(await B.stats()).rooms.map((r) => r.recvState).join('/')})`,
      };
      for (const s of figures.apart.samples) console.log(`${elapsed()}      t+${String(s.tMs).padStart(4)} ms: B ← A audio ${s.audio} pkts, video ${s.video} pkts, ${s.frames} frames`);
      if (!stopped) {
        throw new Error(
          `media did not stop after the room closed: B's counters for A's tracks grew by audio ${grewAudio} / video ${grewVideo} packets between t+${s2.tMs} ms and t+${s4.tMs} ms (tolerance ${STOP_TOLERANCE_PACKETS}); the SFU keeps forwarding after the group closed`,
        );
      }
      await checkPages();
      await A.screenshot('apart');
      await B.screenshot('apart');
      // Now do what the real client does on CLOSE_ROOM.
      for (const p of [A, B]) for (const r of (await p.state()).rooms) await p.page.evaluate((id) => window.e2e.closeRoom(id), r.roomId);
    });

    report(figures, true);
  } catch (e) {
    await failureReport(e);
    throw e;
  } finally {
    await browser.close().catch(() => undefined);
  }
}

function fmtMs(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? 'n/a' : `${ms.toFixed(0)} ms`;
}

function report(f: Figures, passed: boolean): void {
  const lines: string[] = [];
  lines.push('', `================ CrowdWire media e2e: ${passed ? 'PASSED' : 'FAILED'} ================`);
  for (const [label, m] of Object.entries(f.media)) {
    const other = label === 'A' ? 'B' : 'A';
    lines.push(
      `media ${label} ← ${other}: video framesDecoded ${m.video?.framesDecoded ?? 0} (${m.video?.frameWidth ?? 0}x${m.video?.frameHeight ?? 0}, ${m.video?.packetsReceived ?? 0} pkts, lost ${m.video?.packetsLost ?? 0}), ` +
        `audio packetsReceived ${m.audio?.packetsReceived ?? 0} (energy ${(m.audio?.totalAudioEnergy ?? 0).toFixed(3)}), ` +
        `first frame ${fmtMs(m.firstFrameMs)} after you-joined-as-speaker (${fmtMs(m.video?.firstFrameAfterConsumeMs)} after consume)`,
    );
    lines.push(`      ${label} sends: ${m.out}`);
  }
  if (f.file) {
    const d = f.file.download;
    const mib = f.file.bytes / (1024 * 1024);
    lines.push(
      `file: ${f.file.bytes} bytes A → B, sha256 ${d.sha256 === f.file.sha256 ? 'match' : 'MISMATCH'} (${f.file.sha256.slice(0, 16)}…), ` +
        `${d.messages} messages; transfer ${fmtMs(d.ms)} (START_DOWNLOAD → last byte) = ${(mib / (d.ms / 1000)).toFixed(2)} MiB/s; handshake ${fmtMs(d.handshakeMs)}; A's send loop ${fmtMs(f.file.sentMs)}`,
    );
  }
  if (f.apart) {
    const s = f.apart.samples.map((x) => `t+${x.tMs}: a${x.audio}/v${x.video}`).join(', ');
    lines.push(`apart: room closed via ${f.apart.closeVia} ${f.apart.closeAfterWalkMs} ms after B passed 180 px; B ← A counters ${s}; ${f.apart.outcome}; last growth at t+${f.apart.stoppedAfterMs ?? '?'} ms`);
  }
  lines.push(`artifacts: ${ARTIFACTS}`);
  console.log(lines.join('\n'));
}

function serverTail(lines: number): string {
  if (!SERVER_LOG || !existsSync(SERVER_LOG)) return '(no server log given: E2E_SERVER_LOG)';
  const all = readFileSync(SERVER_LOG, 'utf8').split('\n');
  return all.slice(-lines).join('\n');
}

async function failureReport(e: unknown): Promise<void> {
  if (reported) return;
  reported = true;
  report(figures, false);
  console.log(`\n################ FAILED at step: ${currentStep}`);
  console.log(`################ ${e instanceof Error ? e.message : String(e)}`);
  for (const p of pages) {
    console.log(`\n---- page ${p.label} (${p.user.name}, user ${p.user.id}): last 50 messages (→ sent, ← received, ·· page events) ----`);
    for (const l of p.log.slice(-50)) console.log(`${l.t} ${l.dir} ${l.topic} ${l.text}`);
    try {
      const s = await p.state();
      console.log(`---- page ${p.label} state: rooms ${JSON.stringify(s.rooms)}; joined ${JSON.stringify(s.joined)}; file log ${JSON.stringify(s.fileLog)}; errors ${JSON.stringify(s.errors)}`);
      const st = await p.stats();
      console.log(`---- page ${p.label} consumers: ${JSON.stringify(st.consumers)}`);
      console.log(`---- page ${p.label} producers: ${JSON.stringify(st.producers)}`);
    } catch (err) {
      console.log(`(page ${p.label} state unavailable: ${(err as Error).message})`);
    }
    await p.screenshot('failure');
  }
  console.log(`\n---- server output (last 80 lines of ${SERVER_LOG ?? '?'}) ----\n${serverTail(80)}`);
  console.log(`\nFull WebSocket logs: ${ARTIFACTS}/{a,b}-messages.jsonl`);
}

const watchdog = setTimeout(() => {
  void (async () => {
    await failureReport(new Error(`the driver did not finish within ${DRIVER_TIMEOUT_MS / 1000} s`));
    process.exit(1);
  })();
}, DRIVER_TIMEOUT_MS);

main().then(
  () => {
    clearTimeout(watchdog);
    process.exit(0);
  },
  async (e: unknown) => {
    clearTimeout(watchdog);
    await failureReport(e);
    process.exit(1);
  },
);
