// World settings: details (creator), roles and members (role managers), invite links,
// user reports (holders of `ban`) and statistics (creator). Also the small building blocks
// the administration screen shares: tabs, tables with per-row actions, paged lists.

import { api, ApiError, avatars, STATIC, type Role, type WorldDetail } from "../api";
import { localTime, manage, pageOf, ROLE_FLAGS, type Account, type Member, type RoleFlag, type RoleInput, type UserReportDetailed } from "../api-manage";
import { barChart, hourlyPoints } from "../chart";
import { busy, errorBox, h, show } from "../ui";
import { worldFields } from "../world-form";

// ---- Shared building blocks -------------------------------------------------------------

export const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A success line that is read out when it changes (the counterpart of errorBox). */
export function noticeBox(): { el: HTMLElement; set(message: string | null): void } {
  const el = h("p", { class: "notice", role: "status", hidden: true });
  return {
    el,
    set(m) {
      el.textContent = m ?? "";
      el.hidden = !m;
    },
  };
}

/** A card with a heading that names it for screen-reader landmark navigation. */
export function section(title: string, ...children: (Node | null | false)[]): HTMLElement {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { class: "card manage", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

/** Toggle buttons (aria-pressed), one pressed at a time. */
export function tabs<T extends string>(label: string, options: [T, string][], initial: T, onChange: (v: T) => void): HTMLElement {
  const box = h("div", { class: "tabs", role: "group", "aria-label": label });
  for (const [value, text] of options) {
    const b = h("button", { type: "button", "aria-pressed": String(value === initial) }, text);
    b.addEventListener("click", () => {
      for (const c of box.children) c.setAttribute("aria-pressed", String(c === b));
      onChange(value);
    });
    box.append(b);
  }
  return box;
}

/** A table in a horizontally scrolling, keyboard-focusable wrapper (phones). */
export function table(caption: string, head: string[], rows: Node[]): HTMLElement {
  return h("div", { class: "table-wrap", role: "region", "aria-label": caption, tabindex: "0" },
    h("table", {},
      h("caption", { class: "sr-only" }, caption),
      h("thead", {}, h("tr", {}, ...head.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, ...rows)));
}

export interface Action {
  label: string;
  /** A longer name for screen readers, e.g. "Ban Alice" for a "Ban" button in a row. */
  aria?: string;
  run: () => Promise<void>;
  secondary?: boolean;
  danger?: boolean;
}

/** Buttons with their own error line, so a failed action is reported where it was taken. */
export function actions(...list: (Action | null | false)[]): HTMLElement {
  const errors = errorBox();
  const box = h("div", { class: "actions" });
  for (const a of list) {
    if (!a) continue;
    const cls = a.danger ? "danger" : a.secondary ? "secondary" : "";
    const b = h("button", { type: "button", class: cls, "aria-label": a.aria ?? false }, a.label);
    b.addEventListener("click", () => void busy(b, errors, a.run));
    box.append(b);
  }
  return h("div", { class: "action-cell" }, box, errors.el);
}

/**
 * A list fetched a page at a time (`limit + 1` rows tell whether a next page exists), with
 * Previous/Next buttons. `onError` may claim a load failure (returning true) instead of
 * showing it.
 */
export function pagedList<T>(opts: {
  label: string;
  limit: number;
  fetch: (page: number, limit: number) => Promise<T[]>;
  render: (items: T[]) => Node;
  empty: string | (() => string);
  onError?: (e: unknown) => boolean;
}): { el: HTMLElement; load(page?: number): Promise<void> } {
  const errors = errorBox();
  const body = h("div", { "aria-live": "polite" });
  const nav = h("nav", { class: "pager", "aria-label": `${opts.label}: pages`, hidden: true });
  let page = 1;
  let seq = 0;
  async function load(p = page): Promise<void> {
    const mine = ++seq;
    let rows: T[];
    try {
      rows = await opts.fetch(p, opts.limit);
    } catch (e) {
      if (mine === seq && !opts.onError?.(e)) errors.set(message(e));
      return;
    }
    if (mine !== seq) return;
    errors.set(null);
    // After the last item of a page is dealt with (reviewed, say), show the page before.
    if (!rows.length && p > 1) return load(p - 1);
    page = p;
    const { items, more } = pageOf(rows, opts.limit);
    body.replaceChildren(items.length ? opts.render(items) : h("p", { class: "muted" }, typeof opts.empty === "string" ? opts.empty : opts.empty()));
    const prev = h("button", { type: "button", class: "secondary", disabled: page === 1 }, "← Previous");
    const next = h("button", { type: "button", class: "secondary", disabled: !more }, "Next →");
    prev.addEventListener("click", () => void load(page - 1));
    next.addEventListener("click", () => void load(page + 1));
    nav.replaceChildren(prev, h("span", {}, `Page ${page}`), next);
    nav.hidden = page === 1 && !more;
  }
  return { el: h("div", {}, errors.el, body, nav), load };
}

/** A key–value list of counters. */
export function counters(pairs: [string, number | string][]): HTMLElement {
  return h("dl", { class: "counters" }, ...pairs.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, String(v)))));
}

/** A chart in a figure with a visible caption, or a placeholder text while it loads. */
export function figure(): { el: HTMLElement; set(content: Node | string, caption?: string): void } {
  const el = h("figure", { class: "chart-box" }, h("p", { class: "muted" }, "Loading…"));
  return {
    el,
    set: (c, caption) => el.replaceChildren(
      ...(caption ? [h("figcaption", {}, caption)] : []),
      typeof c === "string" ? h("p", { class: "muted" }, c) : c),
  };
}

// ---- The settings screen ---------------------------------------------------------------

/** What the sections share: the world, the caller, and the roles and members once loaded. */
interface Ctx {
  world: WorldDetail;
  me: Account;
  roles: Role[];
  members: Member[];
  /** Whether the caller may ban here; null when their role is not known (not a role manager). */
  canBan: boolean | null;
  /** Reloads roles and members and redraws both sections. */
  reload(): Promise<void>;
}

function links(worldId: number): HTMLElement {
  return h("p", { class: "links" },
    h("a", { href: `#/world/${worldId}` }, "← Back to the world"),
    h("a", { href: "#/worlds" }, "All worlds"));
}

export async function settingsScreen(worldId: number): Promise<void> {
  show(h("p", { class: "muted" }, "Loading…"));
  let world: WorldDetail;
  let me: Account;
  try {
    [world, me] = await Promise.all([api.world(worldId), manage.me()]);
  } catch (e) {
    const errors = errorBox();
    errors.set(message(e));
    show(h("section", { class: "card narrow" }, h("h1", {}, "World settings"), errors.el, links(worldId)));
    return;
  }
  const su = me.is_superuser;
  const title = h("h1", {}, `Settings: ${world.name}`);
  const ctx: Ctx = { world, me, roles: [], members: [], canBan: null, reload: async () => {} };
  const parts: Node[] = [h("div", { class: "row spread" }, title), links(worldId)];
  if (world.status === 1) {
    parts.push(h("p", { class: "error", role: "note" }, "The platform administrators have banned this world: nobody can enter it, and its details cannot be changed."));
  }

  let team: { roles: ReturnType<typeof rolesSection>; members: ReturnType<typeof membersSection> } | null = null;
  let teamError: string | null = null;
  if (world.can_manage) {
    ctx.reload = async () => {
      [ctx.roles, ctx.members] = await Promise.all([manage.roles(worldId), manage.members(worldId)]);
      team?.roles.render();
      void team?.members.render();
    };
    try {
      await ctx.reload();
    } catch (e) {
      teamError = message(e);
    }
  }
  // The caller's own role tells which of the moderation sections apply; without the role
  // list (not a role manager) the server is asked and decides.
  const mine = ctx.members.find((m) => String(m.user_id) === String(me.user_id));
  const myRole = ctx.roles.find((r) => r.role_id === mine?.role_id);
  const known = world.is_creator || !!myRole;
  ctx.canBan = world.is_creator || su || myRole?.ban || (known ? false : null);
  const canInvite = world.is_creator || myRole?.invite || (known ? false : null);

  if (world.is_creator) parts.push(detailsSection(world, title));
  if (world.can_manage) {
    team = { roles: rolesSection(ctx), members: membersSection(ctx) };
    parts.push(team.roles.el, team.members.el);
    team.roles.errors.set(teamError);
    team.roles.render();
    void team.members.render();
  }
  if (!world.is_creator && !world.can_manage) {
    parts.push(h("p", { class: "card muted" }, "Only the creator of this world and members whose role may manage roles can change its settings."));
  }
  if (canInvite !== false) parts.push(inviteSection(worldId, canInvite === null));
  if (ctx.canBan !== false) parts.push(reportsSection(ctx, su));
  if (world.is_creator || su) parts.push(statsSection(worldId));
  show(h("div", { class: "settings" }, ...parts));
}

// ---- World details (creator) -----------------------------------------------------------

function detailsSection(world: WorldDetail, title: HTMLElement): HTMLElement {
  const errors = errorBox();
  const saved = noticeBox();
  const fields = worldFields(world, (m) => errors.set(m));
  const submit = h("button", { type: "submit" }, "Save changes");
  let limited = world.max_users != null;

  const form = h("form", { "aria-label": "World details" },
    ...fields.nodes,
    errors.el, saved.el,
    // A banned world's details are frozen (the server refuses); deleting it is still allowed.
    world.status === 1 ? null : h("div", {}, submit));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    saved.set(null);
    void busy(submit, errors, async () => {
      const { max_users, ...rest } = fields.read();
      // The API leaves max_users alone when it is null, so a limit cannot be lifted again.
      if (max_users === null && limited) throw new Error("A user limit cannot be removed once set. Enter a number up to 1000 instead.");
      // An empty description clears it (null would keep the old one).
      const w = await api.updateWorld(world.world_id, { ...rest, ...(max_users === null ? {} : { max_users }) });
      limited = w.max_users != null;
      world.name = w.name;
      title.textContent = `Settings: ${w.name}`;
      saved.set("Changes saved.");
    });
  });

  const delErrors = errorBox();
  const del = h("button", { type: "button", class: "danger" }, "Delete this world");
  del.addEventListener("click", () => void busy(del, delErrors, async () => {
    if (!confirm(`Delete “${world.name}”? Everyone in it is disconnected, and this cannot be undone.`)) return;
    await api.deleteWorld(world.world_id);
    location.hash = "#/worlds";
  }));

  return section("World details", form,
    h("div", { class: "danger-zone" },
      h("h3", {}, "Delete the world"),
      h("p", { class: "muted" }, "Deleting closes the world for everyone. Its records are kept, but it cannot be restored here."),
      delErrors.el, del));
}

// ---- Roles (role managers) -------------------------------------------------------------

/** Flags a default role may not have (the server refuses them; say why before asking). */
const NOT_FOR_DEFAULT: RoleFlag[] = ["interact", "talk_conference", "world_mute", "role_manage", "conference_manage", "invite", "ban"];
const ADMIN = "Admin";

function rolesSection(ctx: Ctx): { el: HTMLElement; errors: ReturnType<typeof errorBox>; render(): void } {
  const id = ctx.world.world_id;
  const errors = errorBox();
  const saved = noticeBox();
  const body = h("div", {});

  function row(r: Role): HTMLTableRowElement {
    const name = h("input", { value: r.name, maxlength: "50", "aria-label": `Name of role ${r.name}`, required: true });
    const boxes = new Map<RoleFlag, HTMLInputElement>();
    const cells = ROLE_FLAGS.map(([flag, label]) => {
      const box = h("input", { type: "checkbox", checked: r[flag], "aria-label": `${label} (${r.name})` });
      // A world always has one default role: it moves to another role, it is not switched off.
      if (flag === "is_default" && (r.is_default || r.name === ADMIN)) box.disabled = true;
      boxes.set(flag, box);
      return h("td", { class: "flag" }, box);
    });
    const isAdmin = r.name === ADMIN;
    return h("tr", {},
      h("th", { scope: "row" }, isAdmin ? h("span", {}, ADMIN, h("span", { class: "muted" }, " (creator)")) : name),
      ...cells,
      h("td", {}, actions(
        {
          label: "Save", aria: `Save role ${r.name}`,
          run: async () => {
            const changes: RoleInput = {};
            for (const [flag] of ROLE_FLAGS) changes[flag] = boxes.get(flag)!.checked;
            if (!isAdmin) {
              changes.name = name.value.trim();
              if (!changes.name) throw new Error("Give the role a name.");
            }
            if (changes.is_default && NOT_FOR_DEFAULT.some((f) => changes[f])) {
              throw new Error("The default role may only move, talk nearby and chat. Clear the other permissions first.");
            }
            const out = await manage.updateRole(id, r.role_id, changes);
            await ctx.reload();
            saved.set(`Role “${out.name}” saved.`);
          },
        },
        !r.is_default && !isAdmin && {
          label: "Delete", aria: `Delete role ${r.name}`, danger: true,
          run: async () => {
            if (!confirm(`Delete the role “${r.name}”? Its members get the default role.`)) return;
            await manage.deleteRole(id, r.role_id);
            await ctx.reload();
            saved.set(`Role “${r.name}” deleted.`);
          },
        },
      )));
  }

  // The form for a new role: a name and every flag but is_default (one default per world).
  const newName = h("input", { name: "role_name", maxlength: "50", required: true });
  const newFlags = ROLE_FLAGS.filter(([f]) => f !== "is_default").map(([flag, label]) =>
    [flag, h("input", { type: "checkbox", value: flag, checked: flag === "walk" || flag === "talk" || flag === "chat" }), label] as const);
  const createErrors = errorBox();
  const create = h("button", { type: "submit" }, "Add role");
  const form = h("form", { class: "new-role", "aria-label": "New role" },
    h("h3", {}, "New role"),
    h("label", {}, "Name", newName),
    h("fieldset", { class: "chips" }, h("legend", {}, "Permissions"),
      ...newFlags.map(([, box, label]) => h("label", { class: "check" }, box, label))),
    createErrors.el, h("div", {}, create));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    saved.set(null);
    void busy(create, createErrors, async () => {
      const role: RoleInput & { name: string } = { name: newName.value.trim() };
      for (const [flag, box] of newFlags) role[flag] = box.checked;
      const out = await manage.createRole(id, role);
      newName.value = "";
      await ctx.reload();
      saved.set(`Role “${out.name}” added.`);
    });
  });

  return {
    errors,
    el: section("Roles",
      h("p", { class: "muted" }, "Newcomers and guests get the default role, which may only move, talk nearby and chat. The Admin role is the creator's."),
      errors.el, saved.el, body, form),
    render() {
      body.replaceChildren(table("Roles and their permissions", ["Role", ...ROLE_FLAGS.map(([, l]) => l), ""], ctx.roles.map(row)));
    },
  };
}

// ---- Members (role managers; bans for holders of `ban`) --------------------------------

function membersSection(ctx: Ctx): { el: HTMLElement; render(): Promise<void> } {
  const id = ctx.world.world_id;
  const filter = h("input", { type: "search", placeholder: "Name", "aria-label": "Filter members by name" });
  const onlyBanned = h("input", { type: "checkbox" });
  let previews = new Map<string, string>();
  void avatars().then((m) => {
    previews = new Map(m.avatars.map((a) => [a.name, `${STATIC}/characters/${a.preview}`]));
    void list.load();
  }, () => { /* pictures are optional: names are shown either way */ });

  const label = (m: Member) => m.username || `User ${m.user_id}`;
  const matching = () => {
    const q = filter.value.trim().toLowerCase();
    return ctx.members.filter((m) => (!onlyBanned.checked || m.status === 1) && (!q || label(m).toLowerCase().includes(q)));
  };

  function row(m: Member): HTMLTableRowElement {
    const banned = m.status === 1;
    const self = String(m.user_id) === String(ctx.me.user_id);
    const creator = m.user_id === ctx.world.creator;
    const select = h("select", { "aria-label": `Role of ${label(m)}` },
      ...ctx.roles.map((r) => h("option", { value: String(r.role_id), selected: r.role_id === m.role_id }, r.name)));
    const pic = m.avatar ? previews.get(m.avatar) : undefined;
    return h("tr", { class: banned ? "banned" : "" },
      h("th", { scope: "row" },
        h("span", { class: "member" },
          pic ? h("img", { src: pic, alt: "", class: "avatar", width: "32", height: "32" }) : null,
          label(m),
          self ? h("span", { class: "muted" }, " (you)") : null,
          creator ? h("span", { class: "muted" }, " (creator)") : null)),
      h("td", {}, h("div", { class: "row tight" }, select, actions({
        label: "Set role", aria: `Set the role of ${label(m)}`, secondary: true,
        run: async () => {
          await manage.assignRole(id, Number(select.value), m.user_id);
          await ctx.reload();
        },
      }))),
      h("td", {}, banned ? h("span", { class: "badge banned" }, "Banned") : "Active"),
      h("td", {}, ctx.canBan && !self && !creator ? actions(banned
        ? { label: "Unban", aria: `Unban ${label(m)}`, secondary: true, run: async () => { await manage.setMemberStatus(id, m.user_id, 0); await ctx.reload(); } }
        : {
          label: "Ban", aria: `Ban ${label(m)} from this world`, danger: true,
          run: async () => {
            if (!confirm(`Ban ${label(m)} from this world? They are disconnected and cannot come back until unbanned.`)) return;
            await manage.setMemberStatus(id, m.user_id, 1);
            await ctx.reload();
          },
        }) : ""),
    );
  }

  // The server sends every member at once; pages here keep the table short.
  const list = pagedList<Member>({
    label: "Members",
    limit: 25,
    fetch: async (page, limit) => matching().slice((page - 1) * limit, page * limit + 1),
    render: (items) => table("Members", ["Member", "Role", "Status", ""], items.map(row)),
    empty: "No member matches.",
  });
  let timer = 0;
  filter.addEventListener("input", () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => void list.load(1), 200);
  });
  onlyBanned.addEventListener("change", () => void list.load(1));

  return {
    el: section("Members",
      h("div", { class: "row" }, h("label", {}, "Filter", filter), h("label", { class: "check" }, onlyBanned, "Only banned members")),
      ctx.canBan ? null : h("p", { class: "muted" }, "Banning members needs the ban permission."),
      list.el),
    render: () => list.load(),
  };
}

// ---- Invite links ----------------------------------------------------------------------

function inviteSection(worldId: number, unsure: boolean): HTMLElement {
  const errors = errorBox();
  const status = noticeBox();
  const make = h("button", { type: "button" }, "Create an invite link");
  const link = h("input", { readonly: true, "aria-label": "Invite link", class: "grow" });
  const copy = h("button", { type: "button", class: "secondary" }, "Copy");
  const expires = h("p", { class: "muted" });
  const result = h("div", { hidden: true }, h("div", { class: "row tight" }, link, copy), expires);

  make.addEventListener("click", () => void busy(make, errors, async () => {
    status.set(null);
    const t = await manage.invite(worldId);
    link.value = `${location.origin}/#/invite/${encodeURIComponent(t.access_token)}`;
    expires.textContent = `Anyone with this link can join, even if the world is private, until ${localTime(t.expire_date)}.`;
    result.hidden = false;
    link.focus();
    link.select();
  }));
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(link.value);
      status.set("Link copied.");
    } catch {
      // No clipboard access (an insecure page, or the permission refused): select the text instead.
      link.focus();
      link.select();
      status.set("The link is selected: press Ctrl+C (⌘C on a Mac) to copy it.");
    }
  });
  link.addEventListener("focus", () => link.select());

  return section("Invite link",
    h("p", { class: "muted" }, unsure ? "If your role may invite, create a link to share with people you want here." : "Create a link to share with people you want here."),
    errors.el, h("div", {}, make), result, status.el);
}

// ---- Reports about users (holders of `ban`) --------------------------------------------

function reportsSection(ctx: Ctx, su: boolean): HTMLElement {
  const id = ctx.world.world_id;
  let reviewed = false;
  // When the caller's role is not known, the first load asks the server; a refusal means
  // they may not see reports, so the section goes away instead of showing an error.
  let probing = ctx.canBan === null;

  function row(r: UserReportDetailed): HTMLTableRowElement {
    const who = r.reported_name || `User ${r.reported}`;
    return h("tr", {},
      h("td", {}, localTime(r.timestamp)),
      h("th", { scope: "row" }, who),
      // Names only: e-mail addresses stay with the platform administrators.
      h("td", {}, r.reporter_name || `User ${r.reporter}`),
      h("td", { class: "comment" }, r.comment || h("span", { class: "muted" }, "No comment")),
      h("td", {}, actions(
        su && {
          label: reviewed ? "Mark not reviewed" : "Mark reviewed", secondary: true, aria: `${reviewed ? "Mark not reviewed" : "Mark reviewed"}: report on ${who}`,
          run: async () => { await manage.reviewUserReport(r, !reviewed); await list.load(); },
        },
        {
          label: "Ban", aria: `Ban ${who} from this world`, danger: true,
          run: async () => {
            if (!confirm(`Ban ${who} from this world?`)) return;
            await manage.setMemberStatus(id, r.reported, 1);
            if (ctx.world.can_manage) await ctx.reload();
          },
        },
        {
          label: "Dismiss", aria: `Dismiss the report on ${who}`, secondary: true,
          run: async () => {
            if (!confirm(`Delete this report on ${who}? This cannot be undone.`)) return;
            await manage.deleteUserReport(r);
            await list.load();
          },
        },
      )));
  }

  const list = pagedList<UserReportDetailed>({
    label: "Reports",
    limit: 10,
    fetch: async (page, limit) => {
      const q = new URLSearchParams({ world_id: String(id), reviewed: String(reviewed), page: String(page), limit: String(limit) });
      const rows = await manage.userReports(q);
      probing = false;
      return rows;
    },
    render: (items) => table("Reports about users", ["When", "Reported", "By", "Comment", ""], items.map(row)),
    empty: () => (reviewed ? "No reviewed report." : "No report to review."),
    onError: (e) => {
      if (probing && e instanceof ApiError && (e.status === 400 || e.status === 403)) {
        el.remove();
        return true;
      }
      return false;
    },
  });
  const el = section("Reports about users",
    tabs("Which reports", [["open", "To review"], ["done", "Reviewed"]], "open", (v) => { reviewed = v === "done"; void list.load(1); }),
    su ? null : h("p", { class: "muted" }, "Platform administrators review reports; you can ban the reported user or dismiss a report."),
    list.el);
  void list.load();
  return el;
}

// ---- Statistics (creator) --------------------------------------------------------------

const SPANS: [string, string, number][] = [["24", "Last 24 hours", 24], ["168", "Last 7 days", 168], ["720", "Last 30 days", 720]];

function statsSection(worldId: number): HTMLElement {
  const errors = errorBox();
  const numbers = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const chart = figure();
  const span = h("select", { "aria-label": "Chart period" }, ...SPANS.map(([v, l]) => h("option", { value: v }, l)));
  span.value = "168";

  void manage.worldStats(worldId).then(
    (s) => numbers.replaceChildren(counters([["Members", s.total_users], ["Online now", s.online_users], ["Reports about users", s.reports_users], ["Entries, all time", s.total_n_joins]])),
    (e) => { numbers.replaceChildren(); errors.set(message(e)); },
  );

  let seq = 0;
  async function drawChart(): Promise<void> {
    const mine = ++seq;
    const hours = Number(span.value);
    // Start on a whole hour so each bar is one clock hour, the last one the current hour.
    const start = new Date();
    start.setMinutes(0, 0, 0);
    start.setHours(start.getHours() - (hours - 1));
    chart.set("Loading…");
    try {
      const { points, daily } = hourlyPoints(await manage.worldChart(worldId, { start }));
      if (mine !== seq) return;
      const title = daily ? "People entering the world per day (sum of hourly counts)" : "People entering the world per hour";
      chart.set(barChart(points, title, "People"), title);
    } catch (e) {
      if (mine !== seq) return;
      chart.set("The chart could not be loaded.");
      errors.set(message(e));
    }
  }
  span.addEventListener("change", () => void drawChart());
  void drawChart();

  return section("Statistics", errors.el, numbers,
    h("div", { class: "row" }, h("label", { class: "fit" }, "Period", span)), chart.el);
}
