// End-to-end test of the web client's screens outside a world (the web test covers the world
// itself), in headless Chromium against a real server:
//   1. the server started with the superuser of CROWDWIRE_ADMIN_EMAIL / _PASSWORD;
//   2. sign-up and log-in errors in plain words: a too-short password is stopped by the form,
//      an e-mail already taken and a wrong password get a readable message; the links of the
//      confirmation and e-mail change mails (/confirm/…, /confirm-email/…) open their screens,
//      which say in words that an expired link does not work; then U signs up;
//   3. profile: U changes the display name and the password (a mismatch and a wrong current
//      password are refused in plain words); the change revokes every token, and the page logs in
//      again, so U stays signed in while the old token is refused and U's second device is sent
//      to log in (and back to where it was); U changes the e-mail with the current password (a
//      wrong one is refused; the e2e server sends no mail, so it changes at once), logs out; the
//      old password and the old e-mail fail, and U logs in with the new ones by keyboard alone
//      (focus starts in the e-mail field, Tab, typing, Enter); the new name and e-mail show;
//      "Sign out everywhere" ends on the log-in screen, and the tokens of both devices are
//      refused;
//   4. the world browser: of 13 worlds U owns, search by name, tag filters, the Public and Mine
//      tabs (a private world only under Mine) and Mine's two pages of 12;
//   5. guest play: "Play as guest" lists only the worlds that allow guests, enters one (the
//      connection badge says online), and a world without guests refuses with a message;
//   6. an invite link made in a private world's settings: V, refused without it, opens it,
//      logs in on the way and lands in the world, which is then under V's Joined tab;
//   7. reports on a world and on a user (the client has no report control: sent through the API);
//   8. the admin logs in; the admin page's counters match the API, its two charts are drawn,
//      and both reports are listed;
//   9. the admin bans the world (it leaves the public list) and the reported account (its owner
//      can no longer log in and is told why);
// with no console error on any page except the failed requests a step causes on purpose.
// Screenshots of the main screens go to E2E_ARTIFACTS.
//
// Run by scripts/e2e.sh (`scripts/e2e.sh screens`), which starts the server in a loopback-only
// network namespace with the superuser. Environment: E2E_BASE_URL, E2E_ADMIN_EMAIL,
// E2E_ADMIN_PASSWORD (required), E2E_ARTIFACTS, E2E_SERVER_LOG, CHROMIUM.

import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';

import { elapsed, launchChromium, runDriver, step, waitFor } from './shared';

const here = dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.E2E_BASE_URL ?? '').replace(/\/$/, '');
const ADMIN_EMAIL = process.env.E2E_ADMIN_EMAIL ?? '';
const ADMIN_PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? '';
if (!BASE || !ADMIN_EMAIL || !ADMIN_PASSWORD) {
  console.error('E2E_BASE_URL, E2E_ADMIN_EMAIL and E2E_ADMIN_PASSWORD must be set (run scripts/e2e.sh screens)');
  process.exit(2);
}
const ARTIFACTS = resolve(process.env.E2E_ARTIFACTS ?? join(here, '..', 'artifacts', 'screens'));
const DRIVER_TIMEOUT_MS = 180_000;
mkdirSync(ARTIFACTS, { recursive: true });

// ---- The REST API, for setting up what the test does not do through the screens ----------

interface Session { access_token: string; is_superuser: boolean }
interface WorldOut { world_id: number; name: string }

async function api<T>(method: string, path: string, token?: string, body?: { json: unknown } | { form: Record<string, string> }): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body && 'json' in body) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body.json);
  } else if (body) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    payload = new URLSearchParams(body.form).toString();
  }
  const r = await fetch(`${BASE}/api/v1${path}`, { method, headers, body: payload });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} /api/v1${path} → ${r.status}: ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : null) as T;
}

const login = (email: string, password: string) => api<Session>('POST', '/login', undefined, { form: { username: email, password } });

async function registerAndLogin(name: string, email: string, password: string): Promise<{ token: string; id: number }> {
  await api('POST', '/register', undefined, { json: { name, email, hashed_password: password } });
  const { access_token } = await login(email, password);
  const me = await api<{ user_id: number }>('GET', '/users/me', access_token);
  return { token: access_token, id: me.user_id };
}

// ---- One person's browser window ---------------------------------------------------------

interface Failure { url: string; status: number; expected: boolean }
interface ListState { names: string[]; page: string; next: boolean; prev: boolean }

/** `/api/v1/worlds/3?x=1` → `/worlds/3` (other URLs: their path). */
const apiPath = (url: string): string => new URL(url).pathname.replace(/^\/api\/v1(?=\/)/, '');

/**
 * A browser context with one page, watching for console errors and page errors. Requests a
 * step makes fail on purpose (`expectFailures`) are recorded so that exactly Chromium's
 * "Failed to load resource" console errors for them are excused at the end, and no others.
 */
class Person {
  context!: BrowserContext;
  page!: Page;
  /** Every console error and page error, with the URL the console gives. */
  readonly consoleErrors: { text: string; url: string }[] = [];
  /** Every response with status ≥ 400 the page got, and whether a step asked for it. */
  readonly failures: Failure[] = [];
  /** The failures the running steps ask for (API path relative to /api/v1, and status). */
  private readonly wanted: { path: RegExp; status: number }[] = [];

  constructor(
    readonly label: string,
    readonly name: string,
    public email: string,
    public password: string,
  ) {}

  async open(browser: Browser, path = '/'): Promise<void> {
    this.context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await this.context.grantPermissions(['camera', 'microphone', 'local-network-access'], { origin: BASE });
    this.page = await this.context.newPage();
    this.page.on('console', (m) => {
      if (m.type() === 'error') {
        this.consoleErrors.push({ text: m.text(), url: m.location().url });
        console.log(`${elapsed()} [${this.label}] console.error: ${m.text()} (${m.location().url})`);
      } else if (m.type() === 'warning') console.log(`${elapsed()} [${this.label}] console.warn: ${m.text()}`);
    });
    this.page.on('pageerror', (e) => {
      this.consoleErrors.push({ text: `page error: ${e.message}`, url: '' });
      console.log(`${elapsed()} [${this.label}] PAGE ERROR: ${e.message}`);
    });
    this.page.on('response', (r) => {
      if (r.status() < 400) return;
      const path = apiPath(r.url());
      this.failures.push({ url: r.url(), status: r.status(), expected: this.wanted.some((w) => w.status === r.status() && w.path.test(path)) });
    });
    await this.page.goto(`${BASE}${path}`);
  }

  /**
   * Runs `action`, which must make each of `wanted` fail (an API path, relative to /api/v1, and
   * a status); waits until each failure was seen.
   */
  async expectFailures<T>(wanted: { path: RegExp; status: number }[], action: () => Promise<T>): Promise<T> {
    const from = this.failures.length;
    this.wanted.push(...wanted);
    try {
      const v = await action();
      for (const w of wanted) {
        await waitFor(`${this.label}'s request to ${w.path} to fail with ${w.status}`, 5_000, async () =>
          this.failures.slice(from).some((f) => f.status === w.status && w.path.test(apiPath(f.url))));
      }
      return v;
    } finally {
      for (const w of wanted) this.wanted.splice(this.wanted.indexOf(w), 1);
    }
  }

  /** Console errors except the resource-load errors of requests a step made fail on purpose. */
  unexpectedErrors(): string[] {
    return this.consoleErrors
      .filter((e) => {
        const m = e.text.match(/^Failed to load resource: the server responded with a status of (\d{3})\b/);
        return !(m && this.failures.some((f) => f.expected && f.url === e.url && f.status === Number(m[1])));
      })
      .map((e) => `${this.label}: ${e.text}${e.url ? ` (${e.url})` : ''}`);
  }

  async shot(name: string, fullPage = false): Promise<void> {
    await this.page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage });
  }

  /** The access token the page keeps. */
  token(): Promise<string> {
    return this.page.evaluate(() => JSON.parse(localStorage.getItem('crowdwire.session') ?? '{}').access_token as string);
  }

  /** Goes to a screen by its hash route. */
  async go(hash: string): Promise<void> {
    await this.page.goto(`${BASE}/${hash}`);
  }

  /** Fills the log-in form (on screen) and submits it. */
  async logIn(password = this.password): Promise<void> {
    const form = this.page.getByRole('form', { name: 'Log in' });
    await form.getByLabel('E-mail').fill(this.email);
    await form.getByLabel('Password').fill(password);
    await form.getByRole('button', { name: 'Log in' }).click();
  }

  /** The world list and its pager, read at once (both are redrawn together when a page loads). */
  listState(): Promise<ListState> {
    return this.page.evaluate(() => {
      const pager = document.querySelector('nav.pager');
      const button = (t: string) => [...(pager?.querySelectorAll('button') ?? [])].find((b) => b.textContent === t) as HTMLButtonElement | undefined;
      return {
        names: [...document.querySelectorAll('ul.grid > li.world h2')].map((h) => h.textContent ?? ''),
        page: pager?.querySelector('span')?.textContent ?? '',
        next: !!button('Next →') && !button('Next →')!.disabled,
        prev: !!button('← Previous') && !button('← Previous')!.disabled,
      };
    });
  }

  /**
   * Runs `action` (a click, a search), which makes the world browser load a list for `query`;
   * waits for that very response and for the page to draw it (names and pager); then checks that
   * the list shows exactly `names` (in any order), and returns what the page shows. Waiting for
   * the response keeps an earlier list that happens to look the same from passing the check.
   */
  async expectList(
    what: string,
    query: { visibility: 'public' | 'joined' | 'owned'; search?: string; tags?: string[]; page?: number },
    action: () => Promise<unknown>,
    names: string[],
  ): Promise<ListState> {
    const tags = [...(query.tags ?? [])].sort().join('|');
    const response = this.page.waitForResponse((r) => {
      const u = new URL(r.url());
      const q = u.searchParams;
      return u.pathname === '/api/v1/worlds/' && r.request().method() === 'GET' && q.get('visibility') === query.visibility &&
        (q.get('search') ?? '') === (query.search ?? '') && q.getAll('tags').sort().join('|') === tags && q.get('page') === String(query.page ?? 1);
    }, { timeout: 10_000 });
    await action();
    const r = await response.catch((e: Error) => { throw new Error(`${this.label}'s world browser did not load ${what}: ${e.message.split('\n')[0]}`); });
    if (!r.ok()) throw new Error(`${this.label}'s world list for ${what}: ${r.url()} → ${r.status()}`);
    const rows = (await r.json()) as { name: string }[];
    const drawn = JSON.stringify(rows.slice(0, 12).map((w) => w.name));
    let st = await this.listState();
    await waitFor(`${this.label}'s page to draw the list of ${what}`, 5_000, async () => {
      st = await this.listState();
      return JSON.stringify(st.names) === drawn && st.next === rows.length > 12 && st.page === `Page ${query.page ?? 1}`;
    }).catch((e: Error) => { throw new Error(`${e.message}: the server sent ${rows.length} worlds (${drawn}); the page shows ${JSON.stringify(st)}`); });
    const want = [...names].sort();
    const got = [...st.names].sort();
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new Error(`${this.label}'s world list for ${what}:\n  expected ${JSON.stringify(want)}\n  shown    ${JSON.stringify(got)}`);
    }
    return st;
  }

  /** Types into the world browser's search box (it searches 250 ms after the last key). */
  async search(text: string): Promise<void> {
    await this.page.getByLabel('Search worlds').fill(text);
  }
}

/** A message meant for people: not JSON, no HTTP status, no "undefined" or "[object …]". */
function checkPlain(what: string, text: string, meaning: RegExp): string {
  const t = text.trim();
  if (!t) throw new Error(`${what}: no message is shown`);
  if (/^[[{]|"\w+"\s*:|\bdetail\b|\bHTTP\b|\b[1-5]\d\d\b|undefined|\[object|\bnull\b|Error:/i.test(t)) {
    throw new Error(`${what}: the message is not in plain words: "${t}"`);
  }
  if (!meaning.test(t)) throw new Error(`${what}: the message "${t}" does not say what went wrong (expected ${meaning})`);
  console.log(`${elapsed()}      ${what}: "${t}"`);
  return t;
}

/** The visible error line (role=alert) inside `scope`, checked with checkPlain. */
async function plainAlert(scope: Locator, what: string, meaning: RegExp): Promise<string> {
  const alert = scope.getByRole('alert');
  await alert.first().waitFor({ timeout: 10_000 });
  const texts = (await alert.allInnerTexts()).map((t) => t.trim()).filter(Boolean);
  if (texts.length !== 1) throw new Error(`${what}: expected one error message, the page shows ${JSON.stringify(texts)}`);
  return checkPlain(what, texts[0], meaning);
}

/** Checks that the server refuses `token` (401 on GET /users/me), as it must once it is revoked. */
async function expectRefused(what: string, token: string): Promise<void> {
  if (!token) throw new Error(`${what}: there is no token to try`);
  const r = await fetch(`${BASE}/api/v1/users/me`, { headers: { authorization: `Bearer ${token}` } });
  const body = await r.text();
  if (r.status !== 401) throw new Error(`${what} still works: GET /users/me → ${r.status} ${body.slice(0, 200)}`);
  console.log(`${elapsed()}      ${what} is refused: 401 ${body.slice(0, 80)}`);
}

/** Accepts the next confirm() the page opens, and checks that it asked about `subject`. */
function acceptConfirm(page: Page, subject: string): Promise<void> {
  return new Promise((resolveDialog, reject) => {
    page.once('dialog', (d) => {
      const text = d.message();
      void d.accept();
      if (text.includes(subject)) resolveDialog();
      else reject(new Error(`the confirmation asked "${text}", which does not name ${subject}`));
    });
  });
}

const activeElement = (p: Page) =>
  p.evaluate(() => {
    const el = document.activeElement as HTMLInputElement | null;
    return { tag: el?.tagName.toLowerCase() ?? '', name: el?.getAttribute('name') ?? '', type: el?.getAttribute('type') ?? '', text: el?.textContent?.trim() ?? '', value: el?.value ?? '' };
  });

// ---- The test ------------------------------------------------------------------------------

async function main(): Promise<void> {
  const browser = await launchChromium();
  const s = Date.now().toString(36);
  const U = new Person('U', 'Una Tester', `una-${s}@example.test`, 'una first password');
  const newName = 'Una Renamed';
  const newPassword = 'una second password';
  // U's second device (another browser context), signed in as U before the password change.
  const U2 = new Person('U2', U.name, U.email, U.password);
  const G = new Person('G', 'guest', '', '');
  const V = new Person('V', 'Vic Visitor', `vic-${s}@example.test`, 'vic long password');
  const M = new Person('M', 'Mallory Mean', `mallory-${s}@example.test`, 'mallory long password');
  const A = new Person('Admin', 'Admin', ADMIN_EMAIL, ADMIN_PASSWORD);
  const people = [U, U2, G, V, M, A];

  // U's worlds (created through the API once U has an account): names, tags, who may enter.
  const W = {
    garden: { name: `Guest Garden ${s}`, tags: ['Fun'], public: true, allow_guests: true },
    hall: { name: `Members Hall ${s}`, tags: ['Office'], public: true, allow_guests: false },
    study: { name: `Private Study ${s}`, tags: ['Education'], public: false, allow_guests: false },
    lighthouse: { name: `Lighthouse ${s}`, tags: ['Social'], public: true, allow_guests: false },
    fair: { name: `Science Fair ${s}`, tags: ['Science', 'Education'], public: true, allow_guests: false },
    tech: { name: `Tech Hub ${s}`, tags: ['Technology'], public: true, allow_guests: false },
    robots: { name: `Robot Lab ${s}`, tags: ['Science', 'Technology'], public: true, allow_guests: false },
    ...Object.fromEntries([1, 2, 3, 4, 5, 6].map((i) => [`filler${i}`, { name: `Filler ${i} ${s}`, tags: [] as string[], public: true, allow_guests: false }])),
  } as Record<string, { name: string; tags: string[]; public: boolean; allow_guests: boolean; id?: number }>;
  const owned = Object.values(W).map((w) => w.name);
  const publicOnes = Object.values(W).filter((w) => w.public).map((w) => w.name);
  const shady = { name: `Shady Corner ${s}`, id: 0 };

  try {
    await step('1. the server started with the superuser from CROWDWIRE_ADMIN_EMAIL / CROWDWIRE_ADMIN_PASSWORD', async () => {
      const t = await login(ADMIN_EMAIL, ADMIN_PASSWORD).catch((e: Error) => {
        throw new Error(`the superuser cannot log in (is scripts/e2e.sh passing CROWDWIRE_ADMIN_EMAIL/PASSWORD to the server?): ${e.message}`);
      });
      if (!t.is_superuser) throw new Error(`${ADMIN_EMAIL} logged in, but is not a superuser`);
    });

    await step('2. sign-up and log-in errors in plain words; then U signs up', async () => {
      await U.open(browser);
      const p = U.page;
      await p.getByRole('heading', { name: 'Log in to CrowdWire' }).waitFor();
      await p.getByRole('link', { name: 'Create an account' }).click();
      await p.getByRole('heading', { name: 'Create your account' }).waitFor();
      const form = p.getByRole('form', { name: 'Sign up' });
      await form.getByLabel('Name').fill(U.name);
      await form.getByLabel('E-mail').fill(U.email);

      // Too short: the form itself stops it (typed, so Chromium treats it as a user's edit).
      let registers = 0;
      const count = (r: { url(): string }) => void (r.url().endsWith('/api/v1/register') && registers++);
      p.on('request', count);
      const pw = form.getByLabel(/^Password/);
      await pw.pressSequentially('short');
      await form.getByRole('button', { name: 'Sign up' }).click();
      await p.waitForTimeout(300);
      p.off('request', count);
      if (registers) throw new Error('a 5-character password was sent to the server: the form should have refused it');
      const v = await pw.evaluate((el: HTMLInputElement) => ({ tooShort: el.validity.tooShort, message: el.validationMessage }));
      if (!v.tooShort) throw new Error('the password field does not report "too short" for a 5-character password');
      checkPlain('too-short password', v.message, /8|characters|longer|lengthen/i);
      if (!(await p.getByRole('heading', { name: 'Create your account' }).isVisible())) throw new Error('the sign-up form went away after a refused password');

      // An e-mail already taken (the superuser's).
      await form.getByLabel('E-mail').fill(ADMIN_EMAIL);
      await pw.fill(U.password);
      await U.expectFailures([{ path: /^\/register$/, status: 400 }], async () => {
        await form.getByRole('button', { name: 'Sign up' }).click();
        await plainAlert(form, 'sign-up with an e-mail already taken', /already|taken|in use/i);
      });

      // A wrong password.
      await p.getByRole('link', { name: 'I already have an account' }).click();
      await p.getByRole('heading', { name: 'Log in to CrowdWire' }).waitFor();
      const loginForm = p.getByRole('form', { name: 'Log in' });
      await loginForm.getByLabel('E-mail').fill(ADMIN_EMAIL);
      await loginForm.getByLabel('Password').fill('not the password at all');
      await U.expectFailures([{ path: /^\/login$/, status: 400 }], async () => {
        await loginForm.getByRole('button', { name: 'Log in' }).click();
        await plainAlert(loginForm, 'log-in with a wrong password', /password/i);
      });

      // Links from mails that no longer work (made-up tokens: this server sends no mail). The
      // server sends /confirm/… and /confirm-email/… to the client's screens, which say so.
      const bogus = `expired-${s}`;
      await p.goto(`${BASE}/confirm/${bogus}`);
      await p.getByRole('heading', { name: 'Choose your password' }).waitFor();
      if (new URL(p.url()).hash !== `#/confirm/${bogus}`) throw new Error(`/confirm/${bogus} led to ${p.url()}, not the client's #/confirm/${bogus}`);
      const confirmForm = p.getByRole('form', { name: 'Choose your password' });
      await confirmForm.getByLabel('Password (at least 8 characters)').fill('a long enough password');
      await confirmForm.getByLabel('Password again').fill('a long enough password');
      await U.expectFailures([{ path: new RegExp(`^/confirm/${bogus}$`), status: 404 }], async () => {
        await confirmForm.getByRole('button', { name: 'Activate my account' }).click();
        await plainAlert(confirmForm, 'an account confirmation link that expired', /expired|not valid/i);
      });
      await confirmForm.getByRole('link', { name: 'Sign up again' }).waitFor();
      await p.goto(`${BASE}/confirm-email/${bogus}`);
      await p.getByRole('heading', { name: 'Confirm your new e-mail' }).waitFor();
      const moveForm = p.getByRole('form', { name: 'Confirm your new e-mail' });
      await U.expectFailures([{ path: new RegExp(`^/confirm-email/${bogus}$`), status: 404 }], async () => {
        await moveForm.getByRole('button', { name: 'Use this address' }).click();
        await plainAlert(moveForm, 'an e-mail change link that expired', /expired|no longer works/i);
      });
      await moveForm.getByRole('link', { name: 'Go to your profile' }).waitFor();

      // And a proper sign-up lands on the world list, signed in.
      await p.getByRole('link', { name: 'Sign up', exact: true }).click();
      await p.getByRole('heading', { name: 'Create your account' }).waitFor();
      const form2 = p.getByRole('form', { name: 'Sign up' });
      await form2.getByLabel('Name').fill(U.name);
      await form2.getByLabel('E-mail').fill(U.email);
      await form2.getByLabel(/^Password/).fill(U.password);
      await form2.getByRole('button', { name: 'Sign up' }).click();
      await p.getByRole('heading', { name: 'Worlds' }).waitFor();
      await p.getByRole('link', { name: 'Profile' }).waitFor();
      if (await p.getByRole('link', { name: 'Admin' }).count()) throw new Error('a new account sees the Admin link');
    });

    await step('3. profile: U changes the name, the password (staying signed in; another device is not) and the e-mail; logs in with the new e-mail by keyboard alone; signs out everywhere', async () => {
      // U's second device, signed in before the password change.
      await U2.open(browser);
      await U2.page.getByRole('heading', { name: 'Log in to CrowdWire' }).waitFor();
      await U2.logIn();
      await U2.page.getByRole('heading', { name: 'Worlds' }).waitFor();

      const p = U.page;
      await p.getByRole('link', { name: 'Profile' }).click();
      await p.getByRole('heading', { name: 'Your profile' }).waitFor();
      await p.getByText(`${U.email} · member since`).waitFor();
      const details = p.getByRole('form', { name: 'Details' });
      const nameField = details.getByLabel('Name', { exact: true });
      if ((await nameField.inputValue()) !== U.name) throw new Error(`the profile's name field holds "${await nameField.inputValue()}", not "${U.name}"`);
      await nameField.fill(newName);
      await details.getByRole('button', { name: 'Save' }).click();
      await details.getByRole('status').filter({ hasText: 'Your details are saved.' }).waitFor();

      const pwForm = p.getByRole('form', { name: 'Password' });
      const current = pwForm.getByLabel('Current password');
      const next = pwForm.getByLabel('New password (at least 8 characters)');
      const again = pwForm.getByLabel('New password again');
      const change = pwForm.getByRole('button', { name: 'Change password' });
      // The two new ones differ.
      await current.fill(U.password);
      await next.fill(newPassword);
      await again.fill(`${newPassword} typo`);
      await change.click();
      await plainAlert(pwForm, 'new passwords that differ', /differ|same|match/i);
      // The current one is wrong.
      await current.fill('this is not it');
      await again.fill(newPassword);
      await U.expectFailures([{ path: /^\/users\/password-update\/?$/, status: 400 }], async () => {
        await change.click();
        await plainAlert(pwForm, 'a wrong current password', /current password|not right|wrong|incorrect/i);
      });
      // Right. The change revokes every token of the account; the page logs in again with the
      // new password, so U stays signed in (with a new token) and only other devices are out.
      const tokenBefore = await U.token();
      await current.fill(U.password);
      await change.click();
      await pwForm.getByRole('status').filter({ hasText: 'Your password is changed. Other devices are signed out.' }).waitFor();
      if ((await pwForm.getByRole('alert').count()) !== 0) throw new Error('an error is still shown after the password was changed');
      const tokenAfter = await U.token();
      if (!tokenAfter || tokenAfter === tokenBefore) throw new Error('the page kept its old token after the password change (it should have logged in again)');
      await p.getByRole('button', { name: 'Log out' }).waitFor();
      await expectRefused('the token U had before the password change', tokenBefore);
      await api('GET', '/users/me', tokenAfter);
      const oldPassword = U.password;
      U.password = newPassword;
      U2.password = newPassword;

      // The other device is sent to log in at its next request, and comes back where it was.
      await U2.expectFailures([{ path: /^\/users\/me$/, status: 401 }], async () => {
        await U2.page.getByRole('link', { name: 'Profile' }).click();
        await U2.page.getByRole('heading', { name: 'Log in to CrowdWire' }).waitFor({ timeout: 10_000 });
      });
      await U2.page.getByRole('status').filter({ hasText: 'Your session has ended. Log in again to continue.' }).waitFor();
      if (await U2.page.getByRole('link', { name: 'Profile' }).count()) throw new Error('the other device still shows the signed-in menu after its token was refused');
      await U2.logIn();
      await U2.page.getByRole('heading', { name: 'Your profile' }).waitFor({ timeout: 10_000 });

      // The e-mail: a wrong current password is refused in plain words; then it changes at once
      // (the e2e server sends no mail).
      const newEmail = `una-moved-${s}@example.test`;
      const emailForm = p.getByRole('form', { name: 'E-mail' });
      const changeEmail = emailForm.getByRole('button', { name: 'Change e-mail' });
      await emailForm.getByLabel('New e-mail').fill(newEmail);
      await emailForm.getByLabel('Current password').fill('this is not it');
      await U.expectFailures([{ path: /^\/users\/\d+$/, status: 400 }], async () => {
        await changeEmail.click();
        await plainAlert(emailForm, 'an e-mail change with a wrong current password', /current password|not right|wrong|incorrect/i);
      });
      await emailForm.getByLabel('Current password').fill(U.password);
      await changeEmail.click();
      await emailForm.getByRole('status').filter({ hasText: `Your e-mail is changed to ${newEmail}.` }).waitFor();
      await p.getByText(`${newEmail} · member since`).waitFor();
      if ((await emailForm.getByRole('alert').count()) !== 0) throw new Error('an error is still shown after the e-mail was changed');
      await U.shot('01-profile', true);
      const oldEmail = U.email;
      U.email = newEmail;

      await p.getByRole('button', { name: 'Log out' }).click();
      await p.getByRole('heading', { name: 'Log in to CrowdWire' }).waitFor();
      const form = p.getByRole('form', { name: 'Log in' });
      await U.expectFailures([{ path: /^\/login$/, status: 400 }], async () => {
        await U.logIn(oldPassword);
        await plainAlert(form, 'log-in with the old password', /password/i);
      });
      await U.expectFailures([{ path: /^\/login$/, status: 400 }], async () => {
        await form.getByLabel('E-mail').fill(oldEmail);
        await form.getByLabel('Password').fill(U.password);
        await form.getByRole('button', { name: 'Log in' }).click();
        await plainAlert(form, 'log-in with the old e-mail', /e-?mail|password/i);
      });

      // Keyboard only, on a freshly loaded log-in page, with the new e-mail.
      await p.reload();
      await p.getByRole('heading', { name: 'Log in to CrowdWire' }).waitFor();
      let f = await activeElement(p);
      if (f.name !== 'email') throw new Error(`on opening the log-in page the focus is on ${JSON.stringify(f)}, not the e-mail field`);
      await p.keyboard.type(U.email);
      await p.keyboard.press('Tab');
      f = await activeElement(p);
      if (f.name !== 'password' || f.type !== 'password') throw new Error(`Tab from the e-mail field went to ${JSON.stringify(f)}, not the password field`);
      await p.keyboard.type(U.password);
      await p.keyboard.press('Tab');
      f = await activeElement(p);
      if (f.tag !== 'button' || f.text !== 'Log in') throw new Error(`Tab from the password field went to ${JSON.stringify(f)}, not the "Log in" button`);
      await p.keyboard.press('Enter');
      await p.getByRole('heading', { name: 'Worlds' }).waitFor({ timeout: 10_000 });

      await p.getByRole('link', { name: 'Profile' }).click();
      await p.getByRole('heading', { name: 'Your profile' }).waitFor();
      await p.getByText(`${newEmail} · member since`).waitFor();
      const shown = await p.getByRole('form', { name: 'Details' }).getByLabel('Name', { exact: true }).inputValue();
      if (shown !== newName) throw new Error(`after logging in again the profile shows the name "${shown}", not "${newName}"`);

      // Sign out everywhere: this page lands on the log-in screen, and its token is refused.
      const tokenBeforeSignOut = await U.token();
      const asked = acceptConfirm(p, 'everywhere');
      await p.getByRole('button', { name: 'Sign out everywhere' }).click();
      await asked;
      await p.getByRole('heading', { name: 'Log in to CrowdWire' }).waitFor({ timeout: 10_000 });
      await p.getByRole('status').filter({ hasText: 'You are signed out on every device.' }).waitFor();
      if (await U.token()) throw new Error('the page still keeps a session after "Sign out everywhere"');
      const status = await U.expectFailures([{ path: /^\/users\/me$/, status: 401 }], () =>
        p.evaluate(async (token) => (await fetch('/api/v1/users/me', { headers: { Authorization: `Bearer ${token}` } })).status, tokenBeforeSignOut));
      if (status !== 401) throw new Error(`after "Sign out everywhere" the old token still gets ${status} from GET /users/me (expected 401)`);
      await expectRefused('the token U had before signing out everywhere', tokenBeforeSignOut);
      // And the second device too (its token, from its log-in above, was refused on the server).
      await expectRefused('the second device\'s token after signing out everywhere', await U2.token());

      // Back in for the next steps.
      await U.logIn();
      await p.getByRole('heading', { name: 'Worlds' }).waitFor({ timeout: 10_000 });
    });

    await step('4. the world browser: search by name, tag filters, Public and Mine, and Mine\'s two pages', async () => {
      const token = await U.token();
      const map = await fetch(`${BASE}/api/v1/static/maps/default.json`).then((r) => {
        if (!r.ok) throw new Error(`GET /api/v1/static/maps/default.json → ${r.status}`);
        return r.text();
      });
      for (const w of Object.values(W)) {
        const out = await api<WorldOut>('POST', '/worlds/', token, {
          json: { name: w.name, description: null, public: w.public, allow_guests: w.allow_guests, tags: w.tags, world_map: map, max_users: 50 },
        });
        w.id = out.world_id;
      }

      const p = U.page;
      await U.go('#/worlds');
      await p.getByRole('heading', { name: 'Worlds' }).waitFor();
      const which = p.getByRole('group', { name: 'Which worlds' });
      const tabs = await which.getByRole('button').allInnerTexts();
      if (tabs.join('|') !== 'Public|Joined|Mine') throw new Error(`the world browser's tabs are ${JSON.stringify(tabs)}`);
      const pager = p.getByRole('navigation', { name: 'Pages' });
      const nextBtn = pager.getByRole('button', { name: 'Next →' });
      const prevBtn = pager.getByRole('button', { name: '← Previous' });

      // Public: our 12 public worlds (not the private one), one page.
      const pub = (search: string, tags: string[] = []) => ({ visibility: 'public' as const, search, tags });
      let st = await U.expectList(`the 12 public worlds matching "${s}"`, pub(s), () => U.search(s), publicOnes);
      if (st.next) throw new Error('Public shows exactly 12 worlds, yet "Next →" is enabled');
      // Search by name.
      await U.expectList('a search by name', pub(`Lighthouse ${s}`), () => U.search(`Lighthouse ${s}`), [W.lighthouse.name]);
      // Tags (any of those chosen), together with the search.
      await U.expectList(`the public worlds matching "${s}" again`, pub(s), () => U.search(s), publicOnes);
      const tagBox = p.getByRole('group', { name: 'Tags' });
      const science = tagBox.getByRole('button', { name: 'Science', exact: true });
      const technology = tagBox.getByRole('button', { name: 'Technology', exact: true });
      await U.expectList('the worlds tagged Science', pub(s, ['Science']), () => science.click(), [W.fair.name, W.robots.name]);
      if ((await science.getAttribute('aria-pressed')) !== 'true') throw new Error('the Science chip does not show as pressed');
      await U.expectList('the worlds tagged Science or Technology', pub(s, ['Science', 'Technology']), () => technology.click(), [W.fair.name, W.robots.name, W.tech.name]);
      const card = p.locator('li.world', { hasText: W.robots.name });
      const cardTags = await card.locator('.tag').allInnerTexts();
      if (cardTags.sort().join(',') !== 'Science,Technology') throw new Error(`the Robot Lab card shows the tags ${JSON.stringify(cardTags)}`);
      await U.shot('02-worlds-filtered');
      await U.expectList(`the public worlds matching "${s}" with no tag chosen`, pub(s), async () => { await science.click(); await technology.click(); }, publicOnes);

      // Mine: all 13, the private one too, on two pages of 12 + 1.
      const newest = Object.values(W).reverse().map((w) => w.name);
      st = await U.expectList('the first page of Mine', { visibility: 'owned', search: s }, () => which.getByRole('button', { name: 'Mine' }).click(), newest.slice(0, 12));
      if (!st.next || st.prev) throw new Error(`page 1 of Mine (13 worlds, 12 a page) shows ${JSON.stringify(st)}`);
      st = await U.expectList('the second page of Mine', { visibility: 'owned', search: s, page: 2 }, () => nextBtn.click(), newest.slice(12));
      if (st.next || !st.prev) throw new Error(`page 2 of Mine (13 worlds, 12 a page) shows ${JSON.stringify(st)}`);
      await U.expectList('the first page of Mine again', { visibility: 'owned', search: s }, () => prevBtn.click(), newest.slice(0, 12));
      // The private world is marked so under Mine.
      await U.expectList('the private study under Mine', { visibility: 'owned', search: W.study.name }, () => U.search(W.study.name), [W.study.name]);
      const studyCard = p.locator('li.world', { hasText: W.study.name });
      if (!(await studyCard.innerText()).includes('private')) throw new Error('the private world\'s card does not say it is private');
      await studyCard.getByRole('link', { name: 'Settings' }).waitFor();
    });

    await step('5. guest play: only guest worlds are listed; the guest enters one; a world without guests refuses', async () => {
      await G.open(browser);
      const p = G.page;
      await p.getByRole('button', { name: 'Play as guest' }).click();
      await p.getByRole('heading', { name: 'Worlds' }).waitFor();
      await p.getByRole('button', { name: 'Leave (guest)' }).waitFor();
      const tabs = await p.getByRole('group', { name: 'Which worlds' }).getByRole('button').allInnerTexts();
      if (tabs.join('|') !== 'Public') throw new Error(`a guest's world browser offers ${JSON.stringify(tabs)}`);
      await G.expectList('the one world that allows guests', { visibility: 'public', search: s }, () => G.search(s), [W.garden.name]);
      await p.getByRole('link', { name: `Enter ${W.garden.name}` }).click();
      await p.getByRole('heading', { name: W.garden.name }).waitFor();
      await p.getByRole('button', { name: 'Enter the world' }).click();
      await p.locator('.status[data-state="online"]').waitFor({ timeout: 30_000 });
      await G.shot('03-guest-in-world');
      // A public world without guests (its id is known, say from a shared link).
      await G.expectFailures([{ path: new RegExp(`^/worlds/${W.hall.id}$`), status: 400 }, { path: new RegExp(`^/worlds/${W.hall.id}/users$`), status: 400 }], async () => {
        await G.go(`#/world/${W.hall.id}`);
        await plainAlert(p.locator('#app'), 'a guest opening a world without guests', /not|guest|cannot|unavailable/i);
      });
      if (await p.getByRole('button', { name: 'Enter the world' }).count()) throw new Error('the guest is offered to enter a world without guests');
      await p.getByRole('link', { name: 'Back to the worlds' }).waitFor();
      await G.context.close();
    });

    await step('6. invite link: U makes one in the private world\'s settings; V, refused without it, opens it, logs in and lands in the world', async () => {
      const study = W.study;
      const p = U.page;
      await U.go(`#/world/${study.id}/settings`);
      await p.getByRole('heading', { name: `Settings: ${study.name}` }).waitFor();
      await p.getByRole('button', { name: 'Create an invite link' }).click();
      const linkField = p.getByRole('textbox', { name: 'Invite link', exact: true });
      await linkField.waitFor();
      const link = await linkField.inputValue();
      if (!link.startsWith(`${BASE}/#/invite/`)) throw new Error(`the invite link is "${link}"`);
      await p.getByText(/^Anyone with this link can join, even if the world is private, until /).waitFor();

      // V has an account; a link to the private world alone does not let V in.
      await registerAndLogin(V.name, V.email, V.password);
      await V.open(browser, `/#/world/${study.id}`);
      const q = V.page;
      await q.getByRole('heading', { name: 'Log in to CrowdWire' }).waitFor();
      await V.expectFailures([{ path: new RegExp(`^/worlds/${study.id}(/users)?$`), status: 400 }], async () => {
        await V.logIn();
        await plainAlert(q.locator('#app'), 'a private world opened without an invite', /not|cannot|unavailable/i);
      });
      if (await q.getByRole('button', { name: 'Enter the world' }).count()) throw new Error('V is offered to enter the private world without an invite');

      // The invite link lets V in.
      await q.goto(link);
      await q.getByRole('heading', { name: study.name }).waitFor({ timeout: 10_000 });
      await q.getByRole('button', { name: 'Enter the world' }).waitFor();
      if (!q.url().endsWith(`#/world/${study.id}`)) throw new Error(`after the invite V is at ${q.url()}`);
      await V.shot('04-invited-entry');

      // It is among V's joined worlds now (and only it).
      await V.go('#/worlds');
      await q.getByRole('group', { name: 'Which worlds' }).getByRole('button', { name: 'Joined' }).click();
      await V.expectList('V\'s joined worlds', { visibility: 'joined', search: s }, () => V.search(s), [study.name]);
    });

    await step('7. reports (through the API: the client offers no report control) on a world and on a user', async () => {
      const m = await registerAndLogin(M.name, M.email, M.password);
      const v = await login(V.email, V.password);
      const map = await fetch(`${BASE}/api/v1/static/maps/default.json`).then((r) => r.text());
      shady.id = (await api<WorldOut>('POST', '/worlds/', m.token, {
        json: { name: shady.name, description: 'Nothing to see', public: true, allow_guests: false, tags: ['Social'], world_map: map },
      })).world_id;
      await api('POST', `/worlds/${shady.id}/users`, v.access_token);
      await api('POST', `/worlds/${shady.id}/reports`, v.access_token, { json: { comment: `spam everywhere ${s}` } });
      await api('POST', `/users/${m.id}/reports-received`, v.access_token, { json: { world_id: shady.id, comment: `rude in chat ${s}` } });
      // Before any ban the world is in the public list.
      await V.page.getByRole('group', { name: 'Which worlds' }).getByRole('button', { name: 'Public' }).click();
      await V.expectList('the reported world in the public list', { visibility: 'public', search: shady.name }, () => V.search(shady.name), [shady.name]);
    });

    await step('8. admin: log in, counters match the API, the charts are drawn, both reports are listed', async () => {
      await A.open(browser);
      const p = A.page;
      await p.getByRole('heading', { name: 'Log in to CrowdWire' }).waitFor();
      await A.logIn();
      await p.getByRole('heading', { name: 'Worlds' }).waitFor();
      await p.getByRole('link', { name: 'Admin' }).click();
      await p.getByRole('heading', { name: 'Administration', level: 1 }).waitFor();

      // Counters, as the API gives them.
      const counters = p.locator('dl.counters');
      await counters.waitFor();
      const stats = await api<{ users: number; worlds: number; user_reports: number; world_reports: number }>('GET', '/statistics', await A.token());
      const shown = Object.fromEntries(await counters.locator('div').evaluateAll((els) => els.map((d) => [d.querySelector('dt')?.textContent ?? '', d.querySelector('dd')?.textContent ?? ''])));
      const want: Record<string, number> = { Accounts: stats.users, Worlds: stats.worlds, 'User reports to review': stats.user_reports, 'World reports to review': stats.world_reports };
      for (const [k, n] of Object.entries(want)) {
        if (shown[k] !== String(n)) throw new Error(`the admin page shows ${k} = ${JSON.stringify(shown[k])}; the API says ${n} (all shown: ${JSON.stringify(shown)})`);
      }
      if (stats.users < 4 || stats.worlds < 14 || stats.user_reports < 1 || stats.world_reports < 1) throw new Error(`the counters are too low for what this test made: ${JSON.stringify(stats)}`);

      // The two charts: drawn (non-zero size) with their captions; the new accounts include ours.
      const charts = p.locator('figure.chart-box');
      await waitFor('both activity charts to be drawn', 15_000, async () => (await charts.locator('svg.chart').count()) === 2);
      for (const caption of ['Active users per hour', 'New accounts per hour']) {
        const fig = charts.filter({ has: p.getByText(caption, { exact: true }) });
        const svg = fig.locator('svg.chart');
        const box = await svg.boundingBox();
        if (!box || box.width < 100 || box.height < 40) throw new Error(`the chart "${caption}" is ${JSON.stringify(box)} in size`);
        if ((await svg.locator('rect.bar').count()) === 0) throw new Error(`the chart "${caption}" has no bars`);
      }
      const summary = (await charts.filter({ has: p.getByText('New accounts per hour', { exact: true }) }).locator('svg.chart').getAttribute('aria-label')) ?? '';
      const total = Number(summary.match(/total (\d+)/)?.[1] ?? -1);
      if (total < 3) throw new Error(`the new-accounts chart counts ${total} this week, but this test made 3 accounts (its summary: "${summary}")`);
      await p.getByRole('heading', { name: 'Activity' }).scrollIntoViewIfNeeded();
      await A.shot('05-admin-stats');

      // Both reports.
      const worldReports = p.locator('section.manage').filter({ has: p.getByRole('heading', { name: 'Reports on worlds', level: 2 }) });
      const wRow = worldReports.getByRole('row').filter({ hasText: shady.name });
      await wRow.waitFor();
      const wText = await wRow.innerText();
      if (!wText.includes(V.email) || !wText.includes(`spam everywhere ${s}`)) throw new Error(`the world report's row reads: ${wText}`);
      const userReports = p.locator('section.manage').filter({ has: p.getByRole('heading', { name: 'Reports on users', level: 2 }) });
      const uRow = userReports.getByRole('row').filter({ hasText: M.name });
      await uRow.waitFor();
      const uText = await uRow.innerText();
      if (!uText.includes(V.name) || !uText.includes(shady.name) || !uText.includes(`rude in chat ${s}`)) throw new Error(`the user report's row reads: ${uText}`);
      await worldReports.scrollIntoViewIfNeeded();
      await A.shot('06-admin-reports');
    });

    await step('9. admin bans the reported world (it leaves the public list) and the reported account (its owner is told at log-in)', async () => {
      const p = A.page;
      const worldReports = p.locator('section.manage').filter({ has: p.getByRole('heading', { name: 'Reports on worlds', level: 2 }) });
      const asked = acceptConfirm(p, shady.name);
      await worldReports.getByRole('button', { name: `Ban ${shady.name}` }).click();
      await asked;
      await worldReports.getByRole('row').filter({ hasText: shady.name }).waitFor({ state: 'detached', timeout: 10_000 });
      await worldReports.getByRole('group', { name: 'World state' }).getByRole('button', { name: 'Banned worlds' }).click();
      const banned = worldReports.getByRole('row').filter({ hasText: shady.name });
      await banned.waitFor();
      await banned.getByText('Banned', { exact: true }).waitFor();
      await banned.getByRole('button', { name: `Unban ${shady.name}` }).waitFor();
      // Gone from the public list.
      await V.page.reload();
      await V.page.getByRole('heading', { name: 'Worlds' }).waitFor();
      await V.expectList('the banned world in the public list', { visibility: 'public', search: shady.name }, () => V.search(shady.name), []);
      await V.page.getByText('No world matches.').waitFor();

      const userReports = p.locator('section.manage').filter({ has: p.getByRole('heading', { name: 'Reports on users', level: 2 }) });
      const asked2 = acceptConfirm(p, M.name);
      await userReports.getByRole('button', { name: `Ban the account of ${M.name}` }).click();
      await asked2;
      // The report's row says the account is banned, and offers no second ban.
      await userReports.getByRole('status').filter({ hasText: 'Account banned' }).waitFor({ timeout: 10_000 });
      if (await userReports.getByRole('button', { name: `Ban the account of ${M.name}` }).count()) throw new Error('the report still offers "Ban account" after the ban');
      // The accounts list says so.
      const accounts = p.locator('section.manage').filter({ has: p.getByRole('heading', { name: 'Accounts', level: 2 }) });
      const find = accounts.getByRole('search', { name: 'Find accounts' });
      await find.getByLabel('E-mail').fill(M.email);
      await find.getByRole('button', { name: 'Search' }).click();
      const row = accounts.getByRole('row').filter({ hasText: M.email });
      await waitFor(`${M.email} to be listed as banned`, 10_000, async () => (await row.count()) === 1 && (await row.getByText('Banned', { exact: true }).count()) === 1);
      await row.getByRole('button', { name: `Unban ${M.name}` }).waitFor();
      await A.shot('07-admin-banned');
      // M cannot log in, and is told why.
      await M.open(browser);
      await M.page.getByRole('heading', { name: 'Log in to CrowdWire' }).waitFor();
      await M.expectFailures([{ path: /^\/login$/, status: 400 }], async () => {
        await M.logIn();
        await plainAlert(M.page.getByRole('form', { name: 'Log in' }), 'a banned account logging in', /banned|inactive|blocked|suspended/i);
      });
    });

    await step('no console errors on any page (but the failed requests the steps caused on purpose)', async () => {
      const errors = people.flatMap((x) => (x.page ? x.unexpectedErrors() : []));
      if (errors.length) throw new Error(`console errors:\n  ${errors.join('\n  ')}`);
      const excused = people.reduce((n, x) => n + x.consoleErrors.length, 0);
      console.log(`${elapsed()}      ${excused} console errors, all of them the failed requests above`);
    });
  } catch (e) {
    for (const x of people) await x.page?.screenshot({ path: join(ARTIFACTS, `failure-${x.label.toLowerCase()}.png`) }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
}

runDriver('e2e-screens', DRIVER_TIMEOUT_MS, main);
