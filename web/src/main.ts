// The client's entry point: a hash router (so the server serves one page for every screen)
// and the account bar. Each screen renders itself into <main id="app">.

import { api, saveSession, session } from "./api";
import { h, show } from "./ui";
import { loginScreen, registerScreen } from "./screens/auth";
import { confirmAccountScreen, confirmEmailScreen } from "./screens/confirm";
import { worldsScreen } from "./screens/worlds";
import { createWorldScreen } from "./screens/create";
import { settingsScreen } from "./screens/settings";
import { profileScreen } from "./screens/profile";
import { adminScreen } from "./screens/admin";
import { inviteScreen } from "./screens/invite";

// The world view (Phaser, mediasoup-client) is loaded only on entering a world.
let play: typeof import("./screens/play") | null = null;
let editor: typeof import("./screens/editor") | null = null;

type Route = { pattern: RegExp; auth: "any" | "signed-in" | "registered" | "superuser"; render: (m: string[]) => unknown };

const routes: Route[] = [
  { pattern: /^#\/login$/, auth: "any", render: () => loginScreen() },
  { pattern: /^#\/register$/, auth: "any", render: () => registerScreen() },
  { pattern: /^#\/confirm\/([^/]+)$/, auth: "any", render: (m) => confirmAccountScreen(decodeURIComponent(m[1])) },
  { pattern: /^#\/confirm-email\/([^/]+)$/, auth: "any", render: (m) => confirmEmailScreen(decodeURIComponent(m[1])) },
  { pattern: /^#\/worlds$/, auth: "signed-in", render: () => worldsScreen() },
  { pattern: /^#\/create$/, auth: "registered", render: () => createWorldScreen() },
  { pattern: /^#\/world\/(\d+)$/, auth: "signed-in", render: async (m) => (play ??= await import("./screens/play")).playScreen(Number(m[1])) },
  { pattern: /^#\/world\/(\d+)\/edit$/, auth: "registered", render: async (m) => (editor ??= await import("./screens/editor")).editorScreen(Number(m[1])) },
  { pattern: /^#\/world\/(\d+)\/settings$/, auth: "registered", render: (m) => settingsScreen(Number(m[1])) },
  { pattern: /^#\/profile$/, auth: "registered", render: () => profileScreen() },
  { pattern: /^#\/admin$/, auth: "superuser", render: () => adminScreen() },
  { pattern: /^#\/invite\/([^/]+)$/, auth: "signed-in", render: (m) => inviteScreen(decodeURIComponent(m[1])) },
];

/** Where to go after signing in: the page that asked for it, or the world list. */
export function afterLogin(): void {
  const back = sessionStorage.getItem("crowdwire.back");
  sessionStorage.removeItem("crowdwire.back");
  location.hash = back && back !== "#/login" && back !== "#/register" ? back : "#/worlds";
}

/** A line for the log-in screen to show once (why the user is there). */
const NOTICE_KEY = "crowdwire.login-notice";

/** The notice left for the log-in screen, if any, and forgets it. */
export function takeLoginNotice(): string | null {
  const n = sessionStorage.getItem(NOTICE_KEY);
  sessionStorage.removeItem(NOTICE_KEY);
  return n;
}

/** Ends the session on this device and shows the log-in screen (with `notice`, if given). */
export function signOut(notice?: string): void {
  sessionStorage.removeItem("crowdwire.back");
  if (notice) sessionStorage.setItem(NOTICE_KEY, notice);
  // The hash first, so that the session change below does not count as a session lost on a
  // signed-in page (onSessionChange).
  location.hash = "#/login";
  saveSession(null);
}

/** Whether the page at `hash` needs someone signed in. */
function needsSession(hash: string): boolean {
  const r = routes.find((r) => r.pattern.test(hash || "#/worlds"));
  return !!r && r.auth !== "any";
}

/**
 * Redraws the account bar; and when the session ended under a page that needs one (the server
 * refused the token: it expired, or the password changed or everyone was signed out elsewhere),
 * sends the user to log in, and back to this page afterwards.
 */
function onSessionChange(): void {
  renderNav();
  if (!session() && needsSession(location.hash)) {
    sessionStorage.setItem(NOTICE_KEY, "Your session has ended. Log in again to continue.");
    void route();
  }
}

function renderNav(): void {
  const nav = document.getElementById("nav");
  if (!nav) return;
  const s = session();
  if (!s) {
    nav.replaceChildren(h("a", { href: "#/login" }, "Log in"), h("a", { href: "#/register" }, "Sign up"));
    return;
  }
  const items: Node[] = [h("a", { href: "#/worlds" }, "Worlds")];
  if (!s.guest_uuid) items.push(h("a", { href: "#/create" }, "New world"), h("a", { href: "#/profile" }, "Profile"));
  if (s.is_superuser) items.push(h("a", { href: "#/admin" }, "Admin"));
  items.push(h("button", { class: "secondary", type: "button", onclick: () => signOut() }, s.guest_uuid ? "Leave (guest)" : "Log out"));
  nav.replaceChildren(...items);
}

/** The hash the page shows now, to go back to when the user keeps unsaved edits. */
let shown = location.hash;

async function route(): Promise<void> {
  if (editor?.editorKeepsPage()) {
    history.replaceState(null, "", shown);
    return;
  }
  shown = location.hash;
  play?.leaveWorld();
  editor?.leaveEditor();
  renderNav();
  const hash = location.hash || "#/worlds";
  const s = session();
  for (const r of routes) {
    const m = hash.match(r.pattern);
    if (!m) continue;
    if (r.auth !== "any" && !s) {
      sessionStorage.setItem("crowdwire.back", hash);
      location.hash = "#/login";
      return;
    }
    if ((r.auth === "registered" || r.auth === "superuser") && s?.guest_uuid) {
      show(h("div", { class: "card narrow" }, h("h1", {}, "Sign up to do this"),
        h("p", {}, "Guests can visit public worlds. Create an account to make worlds and manage them."),
        h("a", { href: "#/register" }, "Create an account")));
      return;
    }
    if (r.auth === "superuser" && !s?.is_superuser) {
      show(h("div", { class: "card narrow" }, h("h1", {}, "Not allowed"), h("p", {}, "This page is for platform administrators.")));
      return;
    }
    await r.render(m);
    return;
  }
  location.hash = s ? "#/worlds" : "#/login";
}

/** Renews the session token shortly before it expires (registered users only). */
function keepSessionFresh(): void {
  setInterval(async () => {
    const s = session();
    if (!s || s.guest_uuid) return;
    const left = Date.parse(s.expire_date.endsWith("Z") ? s.expire_date : s.expire_date + "Z") - Date.now();
    if (Number.isFinite(left) && left < 10 * 60_000) {
      try {
        saveSession(await api.refresh());
      } catch {
        /* the next request that fails will send the user to the log-in page */
      }
    }
  }, 60_000);
}

window.addEventListener("hashchange", () => void route());
window.addEventListener("crowdwire:session", onSessionChange);
keepSessionFresh();
void route();
