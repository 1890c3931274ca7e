// The REST API client: one `request` for every call, the session kept in localStorage,
// and every failure turned into an ApiError whose message can be shown as it is.

const PREFIX = "/api/v1";
const SESSION_KEY = "crowdwire.session";

/** What the server returned when signing in (Token / TokenGuest). */
export interface Session {
  access_token: string;
  expire_date: string;
  is_superuser: boolean;
  guest_uuid?: string;
}

/** A failed request, with a message meant for people. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export function session(): Session | null {
  const raw = localStorage.getItem(SESSION_KEY);
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as Session;
    return s.access_token ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s) localStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else localStorage.removeItem(SESSION_KEY);
  window.dispatchEvent(new Event("crowdwire:session"));
}

/** The `detail` of an error body in plain words: a string, or FastAPI-style field errors. */
export function describeError(status: number, body: unknown): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail
      .map((d: { loc?: unknown[]; msg?: string }) => {
        const field = (d.loc ?? []).filter((p) => p !== "body" && p !== "query").join(".");
        return field ? `${field}: ${d.msg ?? "is not valid"}` : (d.msg ?? "is not valid");
      })
      .join("; ");
  }
  if (status === 429) return "Too many attempts. Wait a minute and try again.";
  if (status >= 500) return "The server had a problem. Try again in a moment.";
  return `The request failed (HTTP ${status}).`;
}

type Body = { json: unknown } | { form: Record<string, string> } | undefined;

export async function request<T>(method: string, path: string, body?: Body): Promise<T> {
  const headers: Record<string, string> = {};
  const s = session();
  if (s) headers.Authorization = `Bearer ${s.access_token}`;
  let payload: string | undefined;
  if (body && "json" in body) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body.json);
  } else if (body && "form" in body) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    payload = new URLSearchParams(body.form).toString();
  }
  let resp: Response;
  try {
    resp = await fetch(PREFIX + path, { method, headers, body: payload });
  } catch {
    throw new ApiError("The server cannot be reached. Check your connection and try again.", 0);
  }
  const text = await resp.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!resp.ok) {
    // The token was refused (expired, or revoked by a password change or "sign out everywhere"):
    // end the session, and main.ts sends the user to log in. Only if it is still the stored one,
    // so a late answer to an old request cannot end a session saved since (a re-login).
    if (resp.status === 401 && s && session()?.access_token === s.access_token) saveSession(null);
    throw new ApiError(describeError(resp.status, parsed), resp.status);
  }
  return parsed as T;
}

export interface Tag {
  name: string;
}

export interface World {
  world_id: number;
  creator: number;
  name: string;
  description: string | null;
  max_users: number | null;
  public: boolean;
  allow_guests: boolean;
  status: number | null;
  profile_image: string | null;
  tags: Tag[];
  creation_date: string | null;
  online_users: number;
}

export interface WorldDetail extends World {
  world_map: string;
  update_date: string | null;
  is_creator: boolean;
  can_manage: boolean;
}

/** Who may edit a world's map: its creator, and platform administrators (as the API allows). */
export const canEditMap = (w: WorldDetail): boolean => w.is_creator || !!session()?.is_superuser;

export interface Role {
  role_id: number;
  world_id: number;
  name: string;
  is_default: boolean;
  interact: boolean;
  walk: boolean;
  talk: boolean;
  talk_conference: boolean;
  world_mute: boolean;
  role_manage: boolean;
  conference_manage: boolean;
  chat: boolean;
  invite: boolean;
  ban: boolean;
}

/** What joining a world returns (World_UserWithRoleAndMap). */
export interface Membership {
  user_id: number | string;
  world_id: number;
  status: number | null;
  avatar: string | null;
  username: string | null;
  role: Role;
  last_pos: { x?: number; y?: number };
  world_map: string;
}

export interface User {
  user_id: number;
  register_date: string;
  name: string;
  email: string;
  birth: string | null;
  status: number;
}

export interface WorldInput {
  name?: string;
  description?: string | null;
  max_users?: number | null;
  public?: boolean;
  allow_guests?: boolean;
  tags?: string[];
  world_map?: string;
  status?: number;
  profile_image?: string | null;
}

export const api = {
  login: (email: string, password: string) =>
    request<Session>("POST", "/login", { form: { username: email, password } }),
  register: (name: string, email: string, password: string) =>
    request<{ status: string }>("POST", "/register", { json: { name, email, hashed_password: password } }),
  guest: () => request<Session>("POST", "/join-guest"),
  /** Activates a new account with the token of its confirmation mail, setting its password. */
  confirmAccount: (token: string, password: string) =>
    request<Session>("POST", `/confirm/${encodeURIComponent(token)}`, { json: { password } }),
  /** Moves an account to the address an e-mail change link was sent to. */
  confirmEmail: (token: string) => request<Session>("POST", `/confirm-email/${encodeURIComponent(token)}`),
  refresh: () => request<Session>("POST", "/reset-token"),
  tags: () => request<Tag[]>("GET", "/tags/"),
  worlds: (q: URLSearchParams) => request<World[]>("GET", `/worlds/?${q.toString()}`),
  world: (id: number) => request<WorldDetail>("GET", `/worlds/${id}`),
  createWorld: (w: WorldInput) => request<WorldDetail>("POST", "/worlds/", { json: w }),
  updateWorld: (id: number, w: WorldInput) => request<WorldDetail>("PUT", `/worlds/${id}`, { json: w }),
  reportWorld: (id: number, comment: string) => request<unknown>("POST", `/worlds/${id}/reports`, { json: { comment } }),
  reportUser: (userId: number, worldId: number, comment: string) =>
    request<unknown>("POST", `/users/${userId}/reports-received`, { json: { world_id: worldId, comment: comment || null } }),
  deleteWorld: (id: number) => request<World>("DELETE", `/worlds/${id}`),
  join: (id: number) => request<Membership>("POST", `/worlds/${id}/users`),
  joinByInvite: (token: string) => request<Membership>("POST", `/worlds/invite/${encodeURIComponent(token)}`),
  updateMember: (worldId: number, userId: number | string, body: { username?: string; avatar?: string; status?: number }) =>
    request<Membership>("PUT", `/worlds/${worldId}/users/${userId}`, { json: body }),
  me: () => request<User>("GET", "/users/me"),
};

/** The avatar names the server accepts (assets/static/characters/manifest.json). */
export interface AvatarManifest {
  frameWidth: number;
  frameHeight: number;
  sheetColumns: number;
  avatars: { name: string; sheet: string; x: number; y: number; preview: string }[];
}

let manifest: Promise<AvatarManifest> | null = null;
export function avatars(): Promise<AvatarManifest> {
  manifest ??= fetch(`${PREFIX}/static/characters/manifest.json`).then((r) => {
    if (!r.ok) throw new ApiError("The avatar list could not be loaded.", r.status);
    return r.json() as Promise<AvatarManifest>;
  });
  return manifest;
}

export const STATIC = `${PREFIX}/static`;
