// REST calls of the management screens (world settings, profile, administration, invites).
// Shapes follow crates/crowdwire-api/src/schemas.rs; paths are relative to /api/v1.

import { request, type Role, type User } from "./api";

/** A membership as the member list shows it (World_UserInDB). Guests have a UUID id. */
export interface Member {
  user_id: number | string;
  world_id: number;
  status: number | null;
  avatar: string | null;
  username: string | null;
  role_id: number;
}

export type RoleFlag = Exclude<keyof Role, "role_id" | "world_id" | "name">;

/** The permission flags in the order the role table shows them, with plain descriptions. */
export const ROLE_FLAGS: [RoleFlag, string][] = [
  ["walk", "Move"],
  ["talk", "Talk nearby"],
  ["chat", "Chat"],
  ["interact", "Use objects"],
  ["talk_conference", "Speak in conferences"],
  ["conference_manage", "Run conferences"],
  ["world_mute", "Mute others"],
  ["invite", "Invite"],
  ["ban", "Ban and see reports"],
  ["role_manage", "Manage roles and members"],
  ["is_default", "Default role"],
];

export type RoleInput = { name?: string } & Partial<Record<RoleFlag, boolean>>;

/** An account as the server shows it (UserInDB). */
export interface Account extends User {
  sub: string | null;
  is_superuser: boolean;
}

export interface InviteToken {
  access_token: string;
  token_type: string;
  expire_date: string;
}

export interface UserReport {
  reporter: number;
  reported: number;
  world_id: number;
  comment: string | null;
  timestamp: string;
  reviewed: boolean;
}

export interface UserReportDetailed extends UserReport {
  reporter_name: string | null;
  reported_name: string | null;
  reporter_email: string | null;
  reported_email: string | null;
  world_name: string | null;
}

export interface WorldReport {
  reported: number;
  reporter: number;
  timestamp: string;
  comment: string | null;
  reviewed: boolean;
  reporter_email: string | null;
  world_name: string | null;
  /** The reported world's status: 0 open, 1 banned. */
  banned: number;
}

export interface GlobalStats {
  users: number;
  worlds: number;
  user_reports: number;
  world_reports: number;
  online_users: number;
}

export interface WorldStats {
  world_id: number;
  total_users: number;
  online_users: number;
  reports_users: number;
  total_n_joins: number;
}

/** One `{"YYYY-MM-DD HH:MM:SS" (UTC): count}` object per hour. */
export type HourlySeries = Record<string, number>[];

/** A chart range: ISO datetimes; the server caps it at 366 days. */
export interface Range {
  start: Date;
  end?: Date;
}

function rangeQuery(r: Range): string {
  const q = new URLSearchParams({ start_date: r.start.toISOString() });
  if (r.end) q.set("end_date", r.end.toISOString());
  return q.toString();
}

const w = (id: number) => `/worlds/${id}`;

export const manage = {
  me: () => request<Account>("GET", "/users/me"),
  /**
   * Changing one's own `email` needs `current_password` when the server sends no mail; with
   * mail, the account keeps its address until the link sent to the new one is opened.
   */
  updateUser: (id: number, body: { name?: string; email?: string; birth?: string; status?: number; current_password?: string }) =>
    request<Account>("PUT", `/users/${id}`, { json: body }),
  /** Also ends every session of the account, the caller's included: log in again afterwards. */
  changePassword: (old_password: string, new_password: string) =>
    request<Account>("PUT", "/users/password-update/", { json: { old_password, new_password } }),
  /** Ends every session of the caller's account (tokens and open worlds), this one included. */
  logoutEverywhere: () => request<{ status: string }>("POST", "/users/logout-everywhere"),

  roles: (worldId: number) => request<Role[]>("GET", `${w(worldId)}/roles/`),
  createRole: (worldId: number, role: RoleInput & { name: string }) =>
    request<Role>("POST", `${w(worldId)}/roles/`, { json: role }),
  updateRole: (worldId: number, roleId: number, role: RoleInput) =>
    request<Role>("PUT", `${w(worldId)}/roles/${roleId}`, { json: role }),
  deleteRole: (worldId: number, roleId: number) => request<Role>("DELETE", `${w(worldId)}/roles/${roleId}`),

  members: (worldId: number) => request<Member[]>("GET", `${w(worldId)}/users`),
  assignRole: (worldId: number, roleId: number, userId: number | string) =>
    request<unknown>("POST", `${w(worldId)}/roles/${roleId}/users/${encodeURIComponent(String(userId))}`),
  /** 1 bans the member from the world, 0 lifts the ban. */
  setMemberStatus: (worldId: number, userId: number | string, status: 0 | 1) =>
    request<Member>("PUT", `${w(worldId)}/users/${encodeURIComponent(String(userId))}`, { json: { status } }),

  invite: (worldId: number) => request<InviteToken>("POST", `/invitation/${worldId}`),

  /** Superusers: any filter; others must pass world_id and hold `ban` there. */
  userReports: (q: URLSearchParams) => request<UserReportDetailed[]>("GET", `/users/reports/?${q.toString()}`),
  reviewUserReport: (r: UserReport, reviewed: boolean) =>
    request<UserReport>("PUT", `/users/${r.reporter}/reports-sent/${r.world_id}/${r.reported}/`, { json: { reviewed } }),
  deleteUserReport: (r: UserReport) =>
    request<UserReport>("DELETE", `/users/${r.reporter}/reports-sent/${r.world_id}/${r.reported}`),

  worldReports: (q: URLSearchParams) => request<WorldReport[]>("GET", `/worlds/reports/?${q.toString()}`),
  reviewWorldReport: (r: WorldReport, reviewed: boolean) =>
    request<unknown>("PUT", `${w(r.reported)}/reports`, { json: { reporter: r.reporter, reviewed } }),
  /** Superusers: 1 bans the world (closing every session in it), 0 reopens it. */
  setWorldStatus: (worldId: number, status: 0 | 1) => request<unknown>("PUT", w(worldId), { json: { status } }),

  users: (q: URLSearchParams) => request<Account[]>("GET", `/users/?${q.toString()}`),

  globalStats: () => request<GlobalStats>("GET", "/statistics"),
  worldStats: (worldId: number) => request<WorldStats>("GET", `/statistics/worlds/${worldId}`),
  worldChart: (worldId: number, r: Range) =>
    request<HourlySeries>("GET", `/statistics/worlds/${worldId}/charts?${rangeQuery(r)}`),
  activeUsersChart: (r: Range) => request<HourlySeries>("GET", `/statistics/charts/active-users?${rangeQuery(r)}`),
  newUsersChart: (r: Range) => request<HourlySeries>("GET", `/statistics/charts/new-users?${rangeQuery(r)}`),
};

/** A server datetime (ISO-8601 or Python style, UTC without a zone) as a Date. */
export function serverDate(text: string): Date {
  // Microseconds cut to milliseconds: not every engine parses six fractional digits.
  const iso = text.trim().replace(" ", "T").replace(/(\.\d{3})\d+/, "$1");
  return new Date(/([zZ]|[+-]\d\d:?\d\d)$/.test(iso) ? iso : iso + "Z");
}

/** A server datetime in the reader's local time, or the text itself if it does not parse. */
export function localTime(text: string | null | undefined): string {
  if (!text) return "";
  const d = serverDate(text);
  return Number.isNaN(d.getTime()) ? text : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

/** `limit` items of a page fetched with `limit + 1`, and whether a next page exists. */
export function pageOf<T>(rows: T[], limit: number): { items: T[]; more: boolean } {
  return { items: rows.slice(0, limit), more: rows.length > limit };
}
