// End-to-end test of the web client, as people use it: two headless Chromium windows open the
// page the server serves at /, and
//   1. A signs up, creates a world with the default map and enters it (name and avatar);
//   2. B signs up and enters the same world; each sees the other in the people list and on the map;
//   3. B walks (arrow keys) and A sees B's avatar move;
//   4. chat: "everyone" reaches B wherever B stands; "nearby" reaches B only while B is near A;
//   5. standing together, each gets a video tile of the other with decoded frames (fake camera);
//      after B walks away the tiles disappear, and they come back when B returns; A shares a
//      screen, which B sees (and loses when A stops);
//   7. at a notice board A offers a 1 MiB file, B asks for it, A accepts, and B gets the same bytes;
//   8. on the Main Stage A speaks, B listens, raises a hand, A allows it, and A then sees B;
//   9. A opens the map editor, adds a conference area "Garden Stage" by dragging over the map,
//      draws a wall and places a file-sharing board, and saves; B, still in the world, gets the new
//      map without reconnecting, walks into the area, is in reach of the board and is stopped by
//      the wall;
//  10. a network drop (every TCP connection to the server aborted): B's page says so, reconnects
//      and is back in its conference with its media;
//   6. a ban from A's world settings removes B at once, and B's page says so;
//  12. B reports Ada and the world from the world view (dialog, plain errors), and A's settings
//      list the report;
//  11. A creates a second world by uploading the map the editor downloaded, and it has the new area;
// and the world list fits a phone-sized screen, with no console error on either page.
// Screenshots of the main screens go to E2E_ARTIFACTS (CI keeps them).
//
// Run by scripts/e2e-web.sh, which starts the server in a loopback-only network namespace.
// Environment: E2E_BASE_URL (required), E2E_ARTIFACTS, E2E_SERVER_LOG, CHROMIUM.

import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Browser, Page } from 'playwright-core';

import { Person, failureShots, type Vec } from './person';
import { elapsed, launchChromium, runDriver, sleep, step, waitFor } from './shared';

const here = dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.E2E_BASE_URL ?? '').replace(/\/$/, '');
if (!BASE) {
  console.error('E2E_BASE_URL is not set (run scripts/e2e-web.sh)');
  process.exit(2);
}
const ARTIFACTS = resolve(process.env.E2E_ARTIFACTS ?? join(here, '..', 'artifacts'));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const DRIVER_TIMEOUT_MS = 240_000;
mkdirSync(ARTIFACTS, { recursive: true });


interface EditorHook {
  pageOf(tx: number, ty: number): Vec | null;
  map(): string;
  dirty(): boolean;
}
type TiledJson = {
  type: string; width: number; height: number; tilewidth: number; orientation: string; renderorder: string;
  layers: { name: string; type: string; width?: number; height?: number; data?: number[] | string; encoding?: string }[];
  tilesets: { firstgid: number; name: string; image?: string; tilecount: number; properties?: { name: string; value: unknown }[]; tiles?: { properties?: { name: string; value: unknown }[] }[] }[];
};

/** The fields Tiled needs to open a JSON map (orthogonal, with its layers and tilesets whole). */
function checkTiledShape(m: TiledJson): void {
  const bad: string[] = [];
  if (m.type !== 'map') bad.push(`type is ${m.type}`);
  if (m.orientation !== 'orthogonal') bad.push(`orientation is ${m.orientation}`);
  if (!m.renderorder) bad.push('no renderorder');
  for (const l of m.layers) {
    if (l.type === 'tilelayer' && (l.width !== m.width || l.height !== m.height || (Array.isArray(l.data) ? l.data.length !== m.width * m.height : !l.encoding)))
      bad.push(`layer ${l.name} is not ${m.width}×${m.height}`);
  }
  const sets = [...m.tilesets].sort((a, b) => a.firstgid - b.firstgid);
  sets.forEach((t, i) => {
    if (!t.image && !t.tiles) bad.push(`tileset ${t.name} has no image`);
    if (i > 0 && sets[i - 1].firstgid + sets[i - 1].tilecount > t.firstgid) bad.push(`tileset ${t.name} overlaps ${sets[i - 1].name}`);
  });
  if (bad.length) throw new Error(`the saved map would not open in Tiled: ${bad.join('; ')}`);
}


const figures: Record<string, string> = {};
let downloadedMap = '';

async function main(): Promise<void> {
  const browser = await launchChromium(CHROMIUM);
  const stamp = Date.now().toString(36);
  const A = new Person('A', 'Ada', `ada-${stamp}@example.test`, BASE, ARTIFACTS);
  const B = new Person('B', 'Bob', `bob-${stamp}@example.test`, BASE, ARTIFACTS);
  try {
    await step('A opens / and sees the log-in page', async () => {
      await A.open(browser);
      await A.page.getByRole('heading', { name: 'Log in to CrowdWire' }).waitFor();
      const t = await A.page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
        const fcp = performance.getEntriesByName('first-contentful-paint')[0];
        const bytes = performance.getEntriesByType('resource').reduce((n, r) => n + (r as PerformanceResourceTiming).transferSize, nav.transferSize);
        return { dcl: nav.domContentLoadedEventEnd, fcp: fcp?.startTime ?? -1, now: performance.now(), bytes };
      });
      figures['first load of / (log-in form shown)'] = `DOMContentLoaded ${t.dcl.toFixed(0)} ms, first paint ${t.fcp.toFixed(0)} ms, form interactive by ${t.now.toFixed(0)} ms, ${t.bytes} bytes transferred`;
      await A.shot('01-login');
    });
    await step('A signs up', async () => {
      await A.signUp();
      await A.shot('02-worlds');
    });
    const worldId = await step('A creates a world with the default map', async () => {
      const p = A.page;
      await p.getByRole('link', { name: 'New world' }).first().click();
      await p.getByLabel('Name').fill(`E2E Plaza ${stamp}`);
      await p.getByLabel('Description').fill('Made by the browser test');
      await p.getByLabel(/^Max users/).fill('20');
      await A.shot('03-create');
      await p.getByRole('button', { name: 'Create world' }).click();
      await p.getByRole('button', { name: 'Enter the world' }).waitFor();
      const id = Number(new URL(p.url()).hash.match(/#\/world\/(\d+)/)?.[1]);
      if (!id) throw new Error(`after creating, the page is at ${p.url()}`);
      await A.shot('04-entry');
      return id;
    });
    await step('A enters the world', async () => {
      const t = Date.now();
      await A.enter(worldId);
      figures['entering a world (open its link, fill the entry card, until the map is drawn and the socket connected)'] = `${Date.now() - t} ms`;
      await sleep(500);
      await A.shot('05-world-alone');
    });
    await step('B signs up and finds the world in the public list with 1 online', async () => {
      await B.open(browser);
      await B.signUp();
      const card = B.page.locator('.world', { hasText: `E2E Plaza ${stamp}` });
      await card.waitFor();
      const text = await card.innerText();
      if (!/1 online/.test(text)) throw new Error(`the world card says: ${text}`);
    });
    await step('B enters; each sees the other in the people list and on the map', async () => {
      await B.enter(worldId);
      await waitFor('B in A\'s people list', 10_000, async () => (await A.page.locator('.people').innerText()).includes('Bob'));
      await waitFor('A in B\'s people list', 10_000, async () => (await B.page.locator('.people').innerText()).includes('Ada'));
      await waitFor('B drawn on A\'s map', 10_000, () => A.debug('remote', B.id));
    });

    await step('5a. standing together, each sees the other\'s camera (decoded frames)', async () => {
      const t = Date.now();
      await waitFor('video from B on A and from A on B', 45_000, async () => (await A.framesFrom(B.id)) > 0 && (await B.framesFrom(A.id)) > 0);
      figures['first frames both ways'] = `${Date.now() - t} ms after B entered`;
      await sleep(1500);
      figures['frames decoded A←B / B←A after 1.5 s more'] = `${await A.framesFrom(B.id)} / ${await B.framesFrom(A.id)}`;
      const near = await A.debug('near');
      if (!near.includes(B.id)) throw new Error(`A's near list is ${JSON.stringify(near)}, expected B (${B.id})`);
      await A.shot('06-world-video');
      // The top of the view, where the tiles are (headless Chromium can leave a blank ghost of a
      // remote video lower down in full-page shots; it is not in the page).
      await A.page.screenshot({ path: join(ARTIFACTS, '06-world-video-top.png'), clip: { x: 0, y: 0, width: 1280, height: 360 } });
    });

    await step('4a. chat: A writes to everyone and to nearby; B gets both', async () => {
      await A.page.getByLabel('Message').fill('hello everyone');
      await A.page.getByLabel('Message').press('Enter');
      await A.page.getByLabel('Send to').selectOption('NEARBY');
      await A.page.getByLabel('Message').fill('psst, nearby');
      await A.page.getByLabel('Message').press('Enter');
      await waitFor('both messages on B', 10_000, async () => {
        const t = await B.chatText();
        return t.includes('hello everyone') && t.includes('psst, nearby');
      });
    });

    const before = await step('3. B walks right; A sees B move', async () => {
      const start = (await A.debug('remote', B.id))!;
      await B.walkTo(start.x + 300);
      await sleep(300);
      const mine = (await B.debug('position'))!;
      let last: Vec | null = null;
      const seen = await waitFor('A to draw B near B\'s own position', 5000, async () => {
        const r = (last = await A.debug('remote', B.id));
        return r && Math.abs(r.x - mine.x) < 8 && Math.abs(r.y - mine.y) < 8 ? r : null;
      }).catch((e: Error) => {
        throw new Error(`${e.message}: B is at ${JSON.stringify(mine)}, A draws B at ${JSON.stringify(last)}`);
      });
      figures['B walked'] = `${start.x.toFixed(0)} → ${mine.x.toFixed(0)} px; A draws B at ${seen.x.toFixed(0)}`;
      return start;
    });

    await step('5b. apart, the video tiles disappear on both sides', async () => {
      await waitFor('no tile of B on A and of A on B', 5000, async () => !(await A.hasTile(B.id)) && !(await B.hasTile(A.id)));
      await A.shot('07-world-apart');
    });

    await step('4b. chat apart: everyone still reaches B, nearby does not', async () => {
      await A.page.getByLabel('Send to').selectOption('ALL');
      await A.page.getByLabel('Message').fill('still there?');
      await A.page.getByLabel('Message').press('Enter');
      await A.page.getByLabel('Send to').selectOption('NEARBY');
      await A.page.getByLabel('Message').fill('only for neighbours');
      await A.page.getByLabel('Message').press('Enter');
      await waitFor('"still there?" on B', 10_000, async () => (await B.chatText()).includes('still there?'));
      await sleep(1000);
      if ((await B.chatText()).includes('only for neighbours')) throw new Error('a nearby message reached B far away');
      if (!(await A.chatText()).includes('only for neighbours')) throw new Error('A does not see its own nearby message');
    });

    await step('5c. B walks back; the tiles come back with frames', async () => {
      await B.walkTo(before.x + 20);
      await waitFor('video again both ways', 30_000, async () => (await A.framesFrom(B.id)) > 0 && (await B.framesFrom(A.id)) > 0);
    });

    await step('5d. screen share: A shares a screen, B sees it in A\'s tile with frames; A stops, it goes', async () => {
      const shareFrames = () => B.page.evaluate((id) => {
        const v = document.querySelector<HTMLVideoElement>(`.tile[data-peer="${id}"] video.screen`);
        return v && !v.hidden && v.isConnected && v.videoWidth > 0 ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
      }, A.id);
      await A.page.getByRole('button', { name: 'Share screen' }).click();
      await A.page.getByRole('button', { name: 'Stop sharing' }).waitFor({ timeout: 10_000 });
      await waitFor("B to decode frames of A's screen", 20_000, async () => (await shareFrames()) > 0);
      await B.shot('16-screen-share');
      await A.page.getByRole('button', { name: 'Stop sharing' }).click();
      await waitFor("A's screen to leave B's page", 10_000, () => B.page.evaluate((id) => !document.querySelector(`.tile[data-peer="${id}"] video.screen`), A.id));
      if ((await A.framesFrom(B.id)) === 0) throw new Error("A's camera tile of B went away with the screen share");
    });

    await step('A gives B a role that may use boards (interact), as the settings page does', async () => {
      const token = await A.token();
      const call = async (path: string, body: unknown) => {
        const r = await fetch(`${BASE}/api/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (!r.ok) throw new Error(`POST ${path} → ${r.status} ${await r.text()}`);
        return r.json() as Promise<{ role_id: number }>;
      };
      const role = await call(`/worlds/${worldId}/roles`, { name: 'Member', world_id: worldId, walk: true, talk: true, chat: true, interact: true });
      await call(`/worlds/${worldId}/roles/${role.role_id}/users/${B.id}`, {});
    });

    await step('7. file sharing: at the notice board, A offers a 1 MiB file, B asks, A accepts, B gets the same bytes', async () => {
      // The "Team notice board" stands at (224, 544); walk down the west path to it.
      await A.walk('y', 545);
      await A.walk('x', 230);
      await B.walk('y', 545);
      await B.walk('x', 190);
      await waitFor('A and B grouped again', 15_000, async () => (await A.debug('near')).includes(B.id) && (await A.debug('rooms')).length > 0).catch(async (e: Error) => {
        const st = async (p: Person) => JSON.stringify({ at: await p.debug('position'), near: await p.debug('near'), rooms: await p.debug('rooms') });
        throw new Error(`${e.message}: A ${await st(A)}, B ${await st(B)}`);
      });
      await A.page.keyboard.press('x');
      await A.page.getByRole('dialog', { name: 'File sharing' }).waitFor();
      const bytes = randomBytes(1024 * 1024);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      await A.page.getByLabel('Share files').setInputFiles({ name: 'e2e-notes.bin', mimeType: 'application/octet-stream', buffer: bytes });
      await A.page.getByText('e2e-notes.bin (1.0 MB)').waitFor();
      await B.page.keyboard.press('x');
      const download = B.page.getByRole('button', { name: 'Download e2e-notes.bin' });
      await download.waitFor({ timeout: 10_000 });
      await B.shot('11-files-offered');
      const t = Date.now();
      await download.click();
      await A.page.getByRole('button', { name: 'Accept' }).click({ timeout: 10_000 });
      const got = await waitFor('the download to finish on B', 60_000, async () => (await B.debug('downloads')).find((d) => d.name === 'e2e-notes.bin') ?? null);
      figures['file transfer (1 MiB)'] = `${Date.now() - t} ms from the request to the last byte, ${got.ms} ms of it from the owner's acceptance`;
      if (got.size !== bytes.length || got.sha256 !== sha256) throw new Error(`B received ${got.size} bytes with SHA-256 ${got.sha256}; sent ${bytes.length} with ${sha256}`);
      await B.page.getByRole('link', { name: 'Save e2e-notes.bin' }).waitFor();
      await B.shot('12-files-received');
      await A.page.getByRole('dialog', { name: 'File sharing' }).getByRole('button', { name: 'Close' }).click();
      await B.page.getByRole('dialog', { name: 'File sharing' }).getByRole('button', { name: 'Close' }).click();
    });

    await step('8. conference: A walks onto the Main Stage as a speaker; B comes in as a listener, raises a hand, A allows it, and A sees B', async () => {
      // The stage's door is the gap in its south wall at x 384–480.
      await A.walk('x', 432, 28);
      const a = await A.walkIntoConference();
      await waitFor(`A (Admin) to speak in ${a.room}`, 15_000, async () => (await A.debug('conference'))?.speaker === true);
      await B.walk('x', 432, 28);
      const b = await B.walkIntoConference();
      if (b.room !== a.room) throw new Error(`B entered ${b.room}, A is in ${a.room}`);
      await waitFor(`B to join ${b.room}'s media`, 15_000, async () => (await B.debug('rooms')).includes(b.room));
      await sleep(500);
      if ((await B.debug('conference'))?.speaker) throw new Error('B (no talk_conference) entered as a speaker');
      await B.page.getByRole('button', { name: 'Raise hand' }).click();
      await A.page.getByRole('button', { name: 'Allow' }).click({ timeout: 10_000 });
      await waitFor('B to become a speaker', 10_000, async () => (await B.debug('conference'))?.speaker === true);
      await waitFor('A to see B in the conference', 30_000, async () => (await A.framesFrom(B.id)) > 0);
      await A.shot('13-conference');
    });

    await step('12. B reports Ada and the world from the world view; the world\'s settings list the report on Ada', async () => {
      const p = B.page;
      await p.getByRole('button', { name: 'Report Ada' }).click();
      const d = p.getByRole('dialog', { name: 'Report Ada' });
      await d.getByLabel(/^What happened/).fill('e2e: shouted in the garden');
      await d.getByRole('button', { name: 'Send report' }).click();
      await p.getByText('Thank you: your report on Ada was sent.').waitFor({ timeout: 10_000 });
      if (await d.count()) throw new Error('the report dialog stayed open after sending');
      await p.getByRole('button', { name: 'Report world' }).click();
      const w = p.getByRole('dialog', { name: /^Report E2E Plaza/ });
      // A world report needs a comment: sending an empty one is stopped by the form.
      await w.getByRole('button', { name: 'Send report' }).click();
      if (!(await w.isVisible())) throw new Error('an empty world report was sent');
      await w.getByLabel('What is wrong with this world?').fill('e2e: a test world');
      await w.getByRole('button', { name: 'Send report' }).click();
      await p.getByText(/^Thank you: your report on E2E Plaza/).waitFor({ timeout: 10_000 });
      // Reporting Ada twice in the same world is refused in plain words.
      const before = B.errors.length;
      await p.getByRole('button', { name: 'Report Ada' }).click();
      await d.getByRole('button', { name: 'Send report' }).click();
      const err = (await d.getByRole('alert').innerText({ timeout: 10_000 })).trim();
      // Chromium logs the refused request (a 400 this step asked for) as a console error.
      await waitFor('the refused request in the console', 5_000, async () => B.errors.length > before);
      const logged = B.errors.splice(before).filter((e) => !/^Failed to load resource: .* 400 \(Bad Request\)$/.test(e));
      B.errors.push(...logged);
      if (!err || /[{}]|HTTP \d/.test(err)) throw new Error(`a second report on Ada says "${err}"`);
      await d.getByRole('button', { name: 'Cancel' }).click();
    });

    await step('9. the editor: A adds a conference area "Garden Stage", a wall and a board, and saves; B, still in the world, walks into the area, reaches the board and is stopped by the wall', async () => {
      // B steps out of the Main Stage through its door, into the corridor (rows 17–19).
      await B.walk('y', 580);
      const p = A.page;
      const opened = Date.now();
      await p.goto(`${BASE}/#/world/${worldId}/edit`);
      await p.getByRole('heading', { name: /^Edit map:/ }).waitFor();
      const hook = () => p.evaluate(() => (window as unknown as { crowdwireEditor?: EditorHook }).crowdwireEditor?.pageOf(0, 0) ?? null);
      await waitFor('the editor to draw the map', 20_000, hook);
      figures['opening the editor (until the map is drawn and editable)'] = `${Date.now() - opened} ms`;
      await p.getByRole('radio', { name: 'Conference areas' }).click();
      await p.getByLabel('New area').fill('Garden Stage');
      await p.getByRole('button', { name: 'Add area' }).click();
      await p.getByLabel('Name of C4').waitFor();
      // Drag over tiles (8,17)–(11,19): the corridor west of the stage's door.
      const at = (tx: number, ty: number) =>
        p.evaluate(([x, y]) => (window as unknown as { crowdwireEditor: EditorHook }).crowdwireEditor.pageOf(x, y)!, [tx, ty] as const);
      const drag = async (from: Vec, to: Vec) => {
        await p.mouse.move(from.x, from.y);
        await p.mouse.down();
        await p.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 4 });
        await p.mouse.move(to.x, to.y, { steps: 4 });
        await p.mouse.up();
      };
      await drag(await at(8, 17), await at(11, 19));
      await p.getByText('Unsaved changes.').waitFor();
      // A wall across the corridor at column 14 (rows 17–19), east of the new area.
      await p.getByRole('radio', { name: 'Walls', exact: true }).click();
      await drag(await at(14, 17), await at(14, 19));
      // A file-sharing board at tile (11, 18), at the area's east edge (it does not block walking).
      await p.getByRole('radio', { name: 'Objects', exact: true }).click();
      await p.getByRole('radio', { name: /\(FILE_SHARE\)$/ }).first().click();
      if ((await p.getByLabel('Interaction').inputValue()) !== 'FILE_SHARE') throw new Error('picking a board did not set its interaction');
      await p.getByLabel(/^Title/).fill('Garden board');
      const spot = await at(11, 18);
      await p.mouse.click(spot.x, spot.y);
      await A.shot('14-editor');
      const reloadsBefore = await B.debug('maps');
      const saving = Date.now();
      await p.getByRole('button', { name: 'Save map' }).click();
      await p.getByText(/^Saved \(/).waitFor({ timeout: 15_000 });
      const saved = Date.now() - saving;
      // "Download .json" gives the same map as a file (used below to create a world from it).
      const [file] = await Promise.all([p.waitForEvent('download'), p.getByRole('button', { name: 'Download .json' }).click()]);
      downloadedMap = join(ARTIFACTS, 'edited-map.json');
      await file.saveAs(downloadedMap);

      // What the server now holds is a Tiled map with the new area's tileset and its 4×3 tiles.
      const r = await fetch(`${BASE}/api/v1/worlds/${worldId}`, { headers: { authorization: `Bearer ${await A.token()}` } });
      if (!r.ok) throw new Error(`GET /worlds/${worldId} → ${r.status}`);
      const stored = ((await r.json()) as { world_map: string }).world_map;
      const map = JSON.parse(stored) as TiledJson;
      if (JSON.stringify(JSON.parse(readFileSync(downloadedMap, 'utf8'))) !== JSON.stringify(map)) throw new Error('the downloaded map differs from the saved one');
      checkTiledShape(map);
      const ts = map.tilesets.find((t) => t.tiles?.some((tile) => tile.properties?.some((q) => q.name === 'conference' && q.value === 'C4')));
      if (!ts || !ts.properties?.some((q) => q.name === 'name' && q.value === 'Garden Stage')) throw new Error('the saved map has no tileset for conference C4 named "Garden Stage"');
      const layer = map.layers.find((l) => l.name === '__Conference');
      const data = layer?.data;
      if (!Array.isArray(data)) throw new Error('the saved map has no plain __Conference layer');
      const cells: string[] = [];
      data.forEach((g, i) => g === ts.firstgid && cells.push(`${i % map.width},${Math.floor(i / map.width)}`));
      const want: string[] = [];
      for (let y = 17; y <= 19; y++) for (let x = 8; x <= 11; x++) want.push(`${x},${y}`);
      if (cells.join(' ') !== want.join(' ')) throw new Error(`the area covers ${cells.join(' ') || 'nothing'}; expected ${want.join(' ')}`);
      const walls = map.layers.find((l) => l.name === 'Collision')?.data;
      if (!Array.isArray(walls) || ![17, 18, 19].every((y) => walls[y * map.width + 14] > 0)) throw new Error('the saved map has no wall at column 14, rows 17–19');
      type Obj = { x: number; y: number; gid?: number; properties?: { name: string; value: unknown }[] };
      const objects = map.layers.flatMap((l) => (l as { objects?: Obj[] }).objects ?? []);
      const board = objects.find((o) => o.properties?.some((q) => q.name === 'title' && q.value === 'Garden board'));
      // An object's `interact` is its own property or, as Tiled does, its tile's.
      const tileProps = (gid: number) => {
        const t = [...map.tilesets].sort((a, b) => b.firstgid - a.firstgid).find((x) => x.firstgid <= gid);
        return (t?.tiles as { id?: number; properties?: { name: string; value: unknown }[] }[] | undefined)?.find((x) => x.id === gid - t!.firstgid)?.properties ?? [];
      };
      const interact = board && [...(board.properties ?? []), ...tileProps(board.gid ?? 0)].find((q) => q.name === 'interact')?.value;
      if (!board || interact !== 'FILE_SHARE' || board.x !== 11 * 32 || board.y !== 19 * 32)
        throw new Error(`the saved map's new board is ${JSON.stringify(board ?? null)} (interact ${String(interact)}); expected a FILE_SHARE at x 352, y 608 (Tiled's bottom-left)`);

      // B's session took the new map in place (no reconnect) and B can join the new room.
      await waitFor("B's page to load the new map", 15_000, async () => (await B.debug('maps')) > reloadsBefore);
      figures['saving an edited map'] = `${saved} ms until "Saved" on A; B drew the new map ${Date.now() - saving} ms after the click`;
      if ((await B.page.locator('.status').getAttribute('data-state')) !== 'online') throw new Error('B lost the connection while the map was replaced');
      await B.walk('x', 330);
      const room = `C4-${worldId}`;
      const c = await waitFor(`B to enter ${room}`, 15_000, async () => {
        const v = await B.debug('conference');
        return v?.room === room ? v : null;
      });
      await waitFor(`B to join ${room}'s media`, 15_000, async () => (await B.debug('rooms')).includes(c.room));
      await B.page.getByText(/^Garden Stage: (listener|speaker)$/).waitFor();
      // The board's left edge is at x 352: from x 345 it is in reach (50 px).
      await B.walk('x', 345);
      await B.page.getByText('Garden board: press X or click it').waitFor({ timeout: 5_000 });
      await B.shot('15-new-conference');
      // The new wall stops B walking east along the corridor.
      await B.page.locator('#game canvas').click({ position: { x: 5, y: 5 } });
      await B.page.keyboard.down('ArrowRight');
      await sleep(2_500);
      await B.page.keyboard.up('ArrowRight');
      const stopped = (await B.debug('position'))!;
      if (stopped.x >= 14 * 32 || stopped.x < 400) throw new Error(`B walked east to x ${stopped.x.toFixed(0)}; the wall at x 448 should stop B just before it`);
      await B.walk('x', 330);
      await waitFor(`B to be back in ${room}`, 10_000, async () => (await B.debug('conference'))?.room === room);
    });

    await step('10. a network drop: every connection to the server is cut; B\'s page says so, reconnects and is back in its conference', async () => {
      const room = `C4-${worldId}`;
      // Abort every TCP connection to the server (the test runs in its own network namespace, as root).
      const port = new URL(BASE).port;
      const killed = spawnSync('ss', ['-K', 'dst', '127.0.0.1', 'dport', '=', `:${port}`], { encoding: 'utf8' });
      if (killed.error) throw new Error(`could not run ss -K: ${killed.error.message}`);
      await B.page.locator('.status[data-state="reconnecting"]').waitFor({ timeout: 10_000 });
      const text = await B.page.locator('.status').innerText();
      if (!/Connection lost/.test(text)) throw new Error(`B's status says "${text}" while reconnecting`);
      await B.shot('17-reconnecting');
      await B.page.locator('.status[data-state="online"]').waitFor({ timeout: 20_000 });
      await waitFor(`B to be back in ${room} with its media`, 20_000, async () => (await B.debug('conference'))?.room === room && (await B.debug('rooms')).includes(room));
    });

    await step('6. A bans B from the world settings; B is removed at once and told so', async () => {
      const p = A.page;
      await p.goto(`${BASE}/#/world/${worldId}/settings`);
      await p.getByText('e2e: shouted in the garden').first().waitFor({ timeout: 10_000 });
      const row = p.locator('tr, li', { hasText: 'Bob' }).filter({ has: p.getByRole('button', { name: /^Ban/ }) }).first();
      await row.waitFor({ timeout: 10_000 });
      p.once('dialog', (d) => void d.accept());
      await row.getByRole('button', { name: /^Ban/ }).click();
      await B.page.getByText('You are banned from this world').waitFor({ timeout: 10_000 });
      await B.shot('08-banned');
      await A.shot('09-settings');
    });

    await step('11. A creates a second world by uploading the downloaded map; it has the Garden Stage', async () => {
      const p = A.page;
      await p.goto(`${BASE}/#/worlds`);
      await p.getByRole('link', { name: 'New world' }).first().click();
      await p.getByLabel('Name').fill(`E2E Garden ${stamp}`);
      await p.getByLabel('Tiled map file').setInputFiles(downloadedMap);
      await p.getByText('edited-map.json: 64×44 tiles').waitFor();
      await p.getByRole('button', { name: 'Create world' }).click();
      await p.getByRole('button', { name: 'Enter the world' }).waitFor();
      const id = Number(new URL(p.url()).hash.match(/#\/world\/(\d+)/)?.[1]);
      if (!id || id === worldId) throw new Error(`after creating, the page is at ${p.url()}`);
      await p.goto(`${BASE}/#/world/${id}/edit`);
      await p.getByRole('radio', { name: 'Conference areas' }).click();
      const name = await p.getByLabel('Name of C4').inputValue();
      if (name !== 'Garden Stage') throw new Error(`the uploaded world's area C4 is called "${name}"`);
    });

    await step('phone-sized viewport: the world list and the entry card fit', async () => {
      await A.page.setViewportSize({ width: 390, height: 844 });
      await A.page.goto(`${BASE}/#/worlds`);
      await A.page.locator('.world').first().waitFor();
      const overflow = await A.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 0) throw new Error(`the world list is ${overflow} px wider than a phone screen`);
      await A.shot('10-phone-worlds');
    });

    await step('no console errors on either page', async () => {
      const errors = [...A.errors.map((e) => `A: ${e}`), ...B.errors.map((e) => `B: ${e}`)];
      if (errors.length) throw new Error(`console errors:\n  ${errors.join('\n  ')}`);
    });
    console.log('\nFigures:');
    for (const [k, v] of Object.entries(figures)) console.log(`  ${k}: ${v}`);
  } catch (e) {
    await failureShots([A, B]);
    throw e;
  } finally {
    await browser.close();
  }
}

runDriver('e2e-web', DRIVER_TIMEOUT_MS, main);
