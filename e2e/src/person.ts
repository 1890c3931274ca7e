// A person in a headless Chromium window using the web client, for the browser tests: signs up,
// enters a world, walks with the arrow keys, and reads the client's debugging view of the world.

import { join } from 'node:path';

import type { Browser, Page } from 'playwright-core';

import { elapsed, waitFor } from './shared';

export type Vec = { x: number; y: number };
/** Phaser reads `keyCode` from keyboard events. */
export const KEY_CODES: Record<string, number> = { ArrowLeft: 37, ArrowUp: 38, ArrowRight: 39, ArrowDown: 40 };
export interface Debug {
  me: string;
  position(): Vec | null;
  remote(id: string): Vec | null;
  people(): string[];
  near(): string[];
  rooms(): string[];
  mediaJoins(): number;
  conference(): { room: string; speaker: boolean } | null;
  downloads(): { name: string; size: number; sha256: string; ms: number }[];
  input(): { typing: boolean | null; canWalk: boolean | null; focus: string | null };
  maps(): number;
}

export class Person {
  page!: Page;
  /** Console errors and page errors: the client must have none. */
  readonly errors: string[] = [];
  id = '';

  constructor(
    readonly label: string,
    readonly name: string,
    readonly email: string,
    /** The server this person's browser talks to. */
    readonly base: string,
    /** Where screenshots go. */
    readonly artifacts: string,
  ) {}

  async open(browser: Browser, viewport = { width: 1280, height: 720 }): Promise<void> {
    const context = await browser.newContext({ viewport });
    await context.grantPermissions(['camera', 'microphone', 'local-network-access'], { origin: this.base });
    this.page = await context.newPage();
    this.page.on('console', (m) => {
      if (m.type() === 'error') {
        this.errors.push(m.text());
        console.log(`${elapsed()} [${this.label}] console.error: ${m.text()}`);
      } else if (m.type() === 'warning') console.log(`${elapsed()} [${this.label}] console.warn: ${m.text()}`);
    });
    this.page.on('pageerror', (e) => {
      this.errors.push(e.message);
      console.log(`${elapsed()} [${this.label}] PAGE ERROR: ${e.message}`);
    });
    await this.page.goto(`${this.base}/`);
  }

  async shot(name: string): Promise<void> {
    await this.page.screenshot({ path: join(this.artifacts, `${name}.png`) });
  }

  /** Reads the client's debugging view (`window.crowdwire`) of the world. */
  debug<K extends keyof Debug>(what: K, arg?: string): Promise<Debug[K] extends (...a: never[]) => infer R ? R : Debug[K]> {
    return this.page.evaluate(
      ({ what, arg }) => {
        const d = (window as unknown as { crowdwire?: Record<string, unknown> }).crowdwire;
        if (!d) throw new Error('not in a world');
        const v = d[what];
        return typeof v === 'function' ? (v as (a?: string) => unknown)(arg) : v;
      },
      { what, arg },
    ) as never;
  }

  /** Signs up through the form and lands on the world list. */
  async signUp(): Promise<void> {
    const p = this.page;
    await p.getByRole('link', { name: 'Create an account' }).click();
    await p.getByLabel('Name').fill(this.name);
    await p.getByLabel('E-mail').fill(this.email);
    await p.getByLabel(/^Password/).fill('correct horse battery');
    await p.getByRole('button', { name: 'Sign up' }).click();
    await p.getByRole('heading', { name: 'Worlds' }).waitFor();
  }

  /** Fills the entry card and waits until the map is drawn and the socket is connected. */
  async enter(worldId: number): Promise<void> {
    const p = this.page;
    await p.goto(`${this.base}/#/world/${worldId}`);
    await p.getByLabel('Your name here').fill(this.name);
    await p.getByRole('radio').nth(this.label === 'A' ? 2 : 9).click();
    await p.getByRole('button', { name: 'Enter the world' }).click();
    await p.locator('.status[data-state="online"]').waitFor({ timeout: 20_000 });
    this.id = await this.debug('me');
  }

  /** Holds an arrow key until the avatar has walked to `x` (the page may draw slowly here). */
  walkTo(x: number): Promise<Vec> {
    return this.walk('x', x);
  }

  /**
   * Holds the arrow key for `axis` until the avatar reaches `target` on it. The page itself
   * watches the position every frame, so the key is let go within a frame or two of the target
   * (polling from here overshot by some 50 px).
   */
  /**
   * Holds the arrow key towards `target` until the avatar's `axis` coordinate passes it. On a slow page one frame can
   * carry the avatar tens of pixels, so a walk overshoots by up to a frame; with `within`, the walk turns back until
   * it ends within that many pixels of the target (a doorway must be hit, not passed).
   */
  async walk(axis: 'x' | 'y', target: number, within?: number): Promise<Vec> {
    for (let attempt = 1; ; attempt++) {
      const at = await this.walkPast(axis, target);
      if (within === undefined || Math.abs(at[axis] - target) <= within) return at;
      if (attempt === 20) throw new Error(`${this.label} could not stop within ${within} px of ${axis}=${target} in ${attempt} walks: last at ${JSON.stringify(at)}`);
    }
  }

  private async walkPast(axis: 'x' | 'y', target: number): Promise<Vec> {
    const from = (await this.debug('position'))!;
    const up = target > from[axis];
    const key = axis === 'x' ? (up ? 'ArrowRight' : 'ArrowLeft') : up ? 'ArrowDown' : 'ArrowUp';
    await this.page.locator('#game canvas').click({ position: { x: 5, y: 5 } });
    await this.page.keyboard.down(key);
    try {
      // The page itself lets go of the key in the frame it sees the target passed, so the walk does not go on for
      // the round trip to this process (hundreds of milliseconds on a loaded machine).
      await this.page.waitForFunction(
        ({ axis, target, up, key, keyCode }) => {
          const p = (window as unknown as { crowdwire: { position(): Vec | null } }).crowdwire.position();
          const done = !!p && (up ? p[axis] >= target : p[axis] <= target);
          if (done) window.dispatchEvent(new KeyboardEvent('keyup', { key, code: key, keyCode, bubbles: true }));
          return done;
        },
        { axis, target, up, key, keyCode: KEY_CODES[key] },
        { polling: 'raf', timeout: 15_000 },
      );
    } catch (e) {
      const at = await this.debug('position');
      throw new Error(`${this.label} did not walk from ${axis}=${from[axis].toFixed(0)} to ${axis}=${target} (${(e as Error).message.split('\n')[0]}): stuck at ${JSON.stringify(at)}; input state ${JSON.stringify(await this.debug('input'))}`);
    } finally {
      await this.page.keyboard.up(key);
    }
    // Let the last physics step land before reading where the avatar stopped.
    await this.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    return (await this.debug('position'))!;
  }

  /** Walks up until the avatar stands in a conference area. */
  async walkIntoConference(): Promise<{ room: string; speaker: boolean }> {
    await this.page.locator('#game canvas').click({ position: { x: 5, y: 5 } });
    await this.page.keyboard.down('ArrowUp');
    try {
      return await waitFor(`${this.label} to enter a conference area`, 15_000, () => this.debug('conference'));
    } catch (e) {
      throw new Error(`${(e as Error).message}; stopped at ${JSON.stringify(await this.debug('position'))}`);
    } finally {
      await this.page.keyboard.up('ArrowUp');
    }
  }

  /** The access token the page keeps. */
  token(): Promise<string> {
    return this.page.evaluate(() => JSON.parse(localStorage.getItem('crowdwire.session') ?? '{}').access_token as string);
  }

  /** Frames decoded so far in the video of `peer`'s tile (0 if there is none). */
  framesFrom(peer: string): Promise<number> {
    return this.page.evaluate((id) => {
      const v = document.querySelector<HTMLVideoElement>(`.tile[data-peer="${id}"] video:not(.screen)`);
      return v && !v.hidden && v.videoWidth > 0 ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
    }, peer);
  }

  hasTile(peer: string): Promise<boolean> {
    return this.page.evaluate((id) => !!document.querySelector(`.tile[data-peer="${id}"]`), peer);
  }

  chatText(): Promise<string> {
    return this.page.locator('.chat-log').innerText();
  }
}



/** Screenshots of every page as it stood when a test failed (`failure-a.png`, …). */
export async function failureShots(people: Person[]): Promise<void> {
  for (const p of people) {
    await p.page?.screenshot({ path: join(p.artifacts, `failure-${p.label.toLowerCase()}.png`) }).catch(() => {});
  }
}
