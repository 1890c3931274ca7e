// Platform administration (superusers): counters, activity charts, reports on worlds and
// users to review, and accounts to ban or unban.

import { localTime, manage, type Account, type Range, type UserReportDetailed, type WorldReport } from "../api-manage";
import { barChart, hourlyPoints } from "../chart";
import { busy, errorBox, h, show } from "../ui";
import { actions, counters, figure, message, pagedList, section, table, tabs } from "./settings";

const DAY = 86_400_000;
const STATUS = ["Active", "Banned", "Deleted", "Awaiting e-mail confirmation"];

export async function adminScreen(): Promise<void> {
  const stats = statsSection();
  show(h("div", { class: "settings" },
    h("h1", {}, "Administration"),
    stats.el,
    chartsSection(),
    worldReportsSection(stats.load),
    userReportsSection(stats.load),
    accountsSection()));
  await stats.load();
}

// ---- Counters --------------------------------------------------------------------------

function statsSection(): { el: HTMLElement; load(): Promise<void> } {
  const errors = errorBox();
  const box = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const refresh = h("button", { type: "button", class: "secondary" }, "Refresh");
  async function load(): Promise<void> {
    try {
      const s = await manage.globalStats();
      errors.set(null);
      box.replaceChildren(counters([["Accounts", s.users], ["Worlds", s.worlds], ["Online now", s.online_users],
        ["User reports to review", s.user_reports], ["World reports to review", s.world_reports]]));
    } catch (e) {
      errors.set(message(e));
    }
  }
  refresh.addEventListener("click", () => void busy(refresh, errors, load));
  return { el: section("Platform", errors.el, box, h("div", {}, refresh)), load };
}

// ---- Charts ----------------------------------------------------------------------------

const ymd = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;

/** Local midnight of a date input's value. */
function localDay(value: string): Date {
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d);
}

function chartsSection(): HTMLElement {
  const errors = errorBox();
  const today = new Date();
  const from = h("input", { type: "date", name: "from", required: true, value: ymd(new Date(today.getTime() - 6 * DAY)), max: ymd(today) });
  const to = h("input", { type: "date", name: "to", required: true, value: ymd(today), max: ymd(today) });
  const submit = h("button", { type: "submit" }, "Show");
  const active = figure();
  const fresh = figure();

  /** The whole local days from..to, ending now at the latest; the server allows 366 days. */
  function range(): Range {
    if (!from.value || !to.value) throw new Error("Choose a start date and an end date.");
    const start = localDay(from.value);
    const after = localDay(to.value);
    after.setDate(after.getDate() + 1);
    // One second before the next midnight keeps the last bar inside the last day.
    const end = new Date(after.getTime() - 1000);
    if (start > end) throw new Error("The start date is after the end date.");
    if (start.getTime() > Date.now()) throw new Error("The start date is in the future.");
    if (end.getTime() - start.getTime() > 366 * DAY) throw new Error("Choose at most 366 days.");
    return { start, end: end.getTime() > Date.now() ? undefined : end };
  }

  const form = h("form", { class: "row", "aria-label": "Chart period" },
    h("label", {}, "From", from), h("label", {}, "To", to), h("div", {}, submit));
  async function draw(): Promise<void> {
    const r = range();
    active.set("Loading…");
    fresh.set("Loading…");
    const [a, n] = await Promise.allSettled([manage.activeUsersChart(r), manage.newUsersChart(r)]);
    const failures: string[] = [];
    for (const [res, box, hourly, daily] of [
      [a, active, "Active users per hour", "Active users per day (sum of hourly counts)"],
      [n, fresh, "New accounts per hour", "New accounts per day"],
    ] as const) {
      if (res.status === "fulfilled") {
        const { points, daily: perDay } = hourlyPoints(res.value);
        box.set(barChart(points, perDay ? daily : hourly, "Users"), perDay ? daily : hourly);
      } else {
        box.set("The chart could not be loaded.", hourly);
        failures.push(message(res.reason));
      }
    }
    if (failures.length) throw new Error([...new Set(failures)].join(" "));
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void busy(submit, errors, draw);
  });
  void busy(submit, errors, draw);
  return section("Activity", form, errors.el, h("div", { class: "charts" }, active.el, fresh.el));
}

// ---- Reports on worlds -----------------------------------------------------------------

function worldReportsSection(onChange: () => Promise<void>): HTMLElement {
  const filter = { reviewed: false, banned: false };

  function row(r: WorldReport): HTMLTableRowElement {
    const name = r.world_name || `World ${r.reported}`;
    const banned = r.banned === 1;
    const after = async () => { await list.load(); await onChange(); };
    return h("tr", { class: banned ? "banned" : "" },
      h("td", {}, localTime(r.timestamp)),
      h("th", { scope: "row" }, h("a", { href: `#/world/${r.reported}/settings` }, name),
        banned ? h("span", { class: "badge banned" }, "Banned") : null),
      h("td", {}, r.reporter_email || `User ${r.reporter}`),
      h("td", { class: "comment" }, r.comment || h("span", { class: "muted" }, "No comment")),
      h("td", {}, actions(
        {
          label: r.reviewed ? "Mark not reviewed" : "Mark reviewed", secondary: true,
          aria: `${r.reviewed ? "Mark not reviewed" : "Mark reviewed"}: report on ${name} by ${r.reporter_email ?? r.reporter}`,
          run: async () => { await manage.reviewWorldReport(r, !r.reviewed); await after(); },
        },
        banned
          ? { label: "Unban world", aria: `Unban ${name}`, secondary: true, run: async () => { await manage.setWorldStatus(r.reported, 0); await after(); } }
          : {
            label: "Ban world", aria: `Ban ${name}`, danger: true,
            run: async () => {
              if (!confirm(`Ban the world “${name}”? Everyone in it is disconnected and nobody can enter until it is unbanned.`)) return;
              await manage.setWorldStatus(r.reported, 1);
              await after();
            },
          },
      )));
  }

  const list = pagedList<WorldReport>({
    label: "World reports",
    limit: 10,
    fetch: (page, limit) => manage.worldReports(new URLSearchParams({
      reviewed: String(filter.reviewed), banned: String(filter.banned), page: String(page), limit: String(limit),
    })),
    render: (items) => table("Reports on worlds", ["When", "World", "Reported by", "Comment", ""], items.map(row)),
    empty: "No report matches.",
  });
  void list.load();
  return section("Reports on worlds",
    h("div", { class: "row" },
      tabs("Review state", [["open", "To review"], ["done", "Reviewed"]], "open", (v) => { filter.reviewed = v === "done"; void list.load(1); }),
      tabs("World state", [["open", "Open worlds"], ["banned", "Banned worlds"]], "open", (v) => { filter.banned = v === "banned"; void list.load(1); })),
    list.el);
}

// ---- Reports on users ------------------------------------------------------------------

function userReportsSection(onChange: () => Promise<void>): HTMLElement {
  let reviewed = false;
  // Accounts banned from this list (a report does not carry the account's state).
  const banned = new Set<number>();
  const person = (name: string | null, email: string | null, id: number) =>
    h("span", {}, name || `User ${id}`, email ? h("span", { class: "muted block" }, email) : null);

  function row(r: UserReportDetailed): HTMLTableRowElement {
    const who = r.reported_name || r.reported_email || `User ${r.reported}`;
    return h("tr", {},
      h("td", {}, localTime(r.timestamp)),
      h("td", {}, h("a", { href: `#/world/${r.world_id}/settings` }, r.world_name || `World ${r.world_id}`)),
      h("th", { scope: "row" }, person(r.reported_name, r.reported_email, r.reported)),
      h("td", {}, person(r.reporter_name, r.reporter_email, r.reporter)),
      h("td", { class: "comment" }, r.comment || h("span", { class: "muted" }, "No comment")),
      h("td", {}, actions(
        {
          label: r.reviewed ? "Mark not reviewed" : "Mark reviewed", secondary: true,
          aria: `${r.reviewed ? "Mark not reviewed" : "Mark reviewed"}: report on ${who}`,
          run: async () => { await manage.reviewUserReport(r, !r.reviewed); await list.load(); await onChange(); },
        },
        banned.has(r.reported) ? null : {
          label: "Ban account", aria: `Ban the account of ${who}`, danger: true,
          run: async () => {
            if (!confirm(`Ban the account of ${who} on the whole platform? They are signed out everywhere.`)) return;
            await manage.updateUser(r.reported, { status: 1 });
            banned.add(r.reported);
            await list.load();
            await onChange();
          },
        },
      ), banned.has(r.reported) ? h("span", { class: "badge banned", role: "status" }, "Account banned") : null));
  }

  const list = pagedList<UserReportDetailed>({
    label: "User reports",
    limit: 10,
    fetch: (page, limit) => manage.userReports(new URLSearchParams({ reviewed: String(reviewed), page: String(page), limit: String(limit) })),
    render: (items) => table("Reports on users", ["When", "World", "Reported", "Reported by", "Comment", ""], items.map(row)),
    empty: "No report matches.",
  });
  void list.load();
  return section("Reports on users",
    tabs("Review state", [["open", "To review"], ["done", "Reviewed"]], "open", (v) => { reviewed = v === "done"; void list.load(1); }),
    list.el);
}

// ---- Accounts --------------------------------------------------------------------------

function accountsSection(): HTMLElement {
  const me = manage.me().catch(() => null);
  let myId: number | null = null;
  void me.then((u) => { myId = u?.user_id ?? null; });
  const email = h("input", { type: "search", name: "email", placeholder: "Start of the e-mail address", autocomplete: "off" });
  const normal = h("input", { type: "checkbox", name: "normal", checked: true });
  const banned = h("input", { type: "checkbox", name: "banned", checked: true });
  const order = h("select", { name: "order" }, h("option", { value: "desc" }, "Newest first"), h("option", { value: "asc" }, "Oldest first"));
  const submit = h("button", { type: "submit" }, "Search");

  function row(u: Account): HTMLTableRowElement {
    const isBanned = u.status === 1;
    const after = async () => { await list.load(); };
    return h("tr", { class: isBanned ? "banned" : "" },
      h("th", { scope: "row" }, u.name, u.is_superuser ? h("span", { class: "badge" }, "Admin") : null),
      h("td", {}, u.email),
      h("td", {}, localTime(u.register_date)),
      h("td", {}, isBanned ? h("span", { class: "badge banned" }, "Banned") : (STATUS[u.status] ?? `Status ${u.status}`)),
      h("td", {}, u.user_id === myId || u.status > 1 ? "" : actions(isBanned
        ? { label: "Unban", aria: `Unban ${u.name}`, secondary: true, run: async () => { await manage.updateUser(u.user_id, { status: 0 }); await after(); } }
        : {
          label: "Ban", aria: `Ban ${u.name}`, danger: true,
          run: async () => {
            if (!confirm(`Ban ${u.name} (${u.email}) on the whole platform? They are signed out everywhere.`)) return;
            await manage.updateUser(u.user_id, { status: 1 });
            await after();
          },
        })));
  }

  const list = pagedList<Account>({
    label: "Accounts",
    limit: 20,
    fetch: async (page, limit) => {
      await me;
      const q = new URLSearchParams({ normal: String(normal.checked), banned: String(banned.checked), order: order.value, order_by: "register_date", page: String(page), limit: String(limit) });
      if (email.value.trim()) q.set("email", email.value.trim());
      return manage.users(q);
    },
    render: (items) => table("Accounts", ["Name", "E-mail", "Registered", "Status", ""], items.map(row)),
    empty: "No account matches.",
  });
  const form = h("form", { class: "row", role: "search", "aria-label": "Find accounts" },
    h("label", {}, "E-mail", email),
    h("label", {}, "Order", order),
    h("label", { class: "check fit" }, normal, "Active"),
    h("label", { class: "check fit" }, banned, "Banned"),
    h("div", {}, submit));
  const errors = errorBox();
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void busy(submit, errors, () => list.load(1));
  });
  for (const c of [normal, banned, order]) c.addEventListener("change", () => void list.load(1));
  void list.load();
  return section("Accounts", form, errors.el, list.el);
}
