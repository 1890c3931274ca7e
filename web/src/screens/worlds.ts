// The world browser: search, tags, public/joined/owned, pages of 12 with online counts.

import { api, session, STATIC, type World } from "../api";
import { errorBox, h, show } from "../ui";

const PAGE = 12;

export async function worldsScreen(): Promise<void> {
  const guest = !!session()?.guest_uuid;
  const state = { visibility: "public", search: "", tags: new Set<string>(), page: 1 };
  const errors = errorBox();
  const list = h("ul", { class: "grid", "aria-live": "polite" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const search = h("input", { type: "search", name: "search", placeholder: "Name or description", "aria-label": "Search worlds" });
  const tabs = h("div", { class: "tabs", role: "group", "aria-label": "Which worlds" });
  const tagBox = h("div", { class: "tabs", role: "group", "aria-label": "Tags" });

  const kinds: [string, string][] = guest ? [["public", "Public"]] : [["public", "Public"], ["joined", "Joined"], ["owned", "Mine"]];
  for (const [value, label] of kinds) {
    const b = h("button", { type: "button", "aria-pressed": String(value === state.visibility) }, label);
    b.addEventListener("click", () => {
      state.visibility = value;
      state.page = 1;
      for (const c of tabs.children) c.setAttribute("aria-pressed", String(c === b));
      void load();
    });
    tabs.append(b);
  }

  let timer = 0;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => {
      state.search = search.value.trim();
      state.page = 1;
      void load();
    }, 250);
  });

  let seq = 0;
  async function load(): Promise<void> {
    const mine = ++seq;
    const q = new URLSearchParams({ visibility: state.visibility, page: String(state.page), limit: String(PAGE) });
    if (state.search) q.set("search", state.search);
    for (const t of state.tags) q.append("tags", t);
    errors.set(null);
    let worlds: World[];
    try {
      worlds = await api.worlds(q);
    } catch (e) {
      if (mine === seq) errors.set((e as Error).message);
      return;
    }
    if (mine !== seq) return;
    const more = worlds.length > PAGE;
    list.replaceChildren(...worlds.slice(0, PAGE).map((w) => card(w, state.visibility === "owned")));
    if (!worlds.length) {
      list.append(h("li", { class: "muted" }, state.search || state.tags.size ? "No world matches." : emptyText(state.visibility, guest)));
    }
    const prev = h("button", { type: "button", class: "secondary", disabled: state.page === 1 }, "← Previous");
    const next = h("button", { type: "button", class: "secondary", disabled: !more }, "Next →");
    prev.addEventListener("click", () => { state.page--; void load(); });
    next.addEventListener("click", () => { state.page++; void load(); });
    pager.replaceChildren(prev, h("span", {}, `Page ${state.page}`), next);
  }

  show(
    h("section", {},
      h("div", { class: "row spread" }, h("h1", {}, "Worlds"), guest ? null : h("a", { class: "button", href: "#/create" }, "New world")),
      tabs,
      h("div", { class: "row" }, h("label", {}, "Search", search)),
      tagBox,
      errors.el,
      list,
      pager,
    ),
  );
  void load();
  try {
    for (const t of await api.tags()) {
      const b = h("button", { type: "button", class: "chip", "aria-pressed": "false" }, t.name);
      b.addEventListener("click", () => {
        if (state.tags.has(t.name)) state.tags.delete(t.name);
        else state.tags.add(t.name);
        b.setAttribute("aria-pressed", String(state.tags.has(t.name)));
        state.page = 1;
        void load();
      });
      tagBox.append(b);
    }
  } catch (e) {
    errors.set((e as Error).message);
  }
}

function emptyText(visibility: string, guest: boolean): string {
  if (visibility === "owned") return "You have not created a world yet.";
  if (visibility === "joined") return "You have not joined a world yet.";
  return guest ? "No public world accepts guests right now." : "There is no public world yet. Create the first one!";
}

/** Where a world's picture is: an uploaded one (the server gives its URL), a web URL, or a
 * path under the static files. */
export function pictureUrl(p: string | null): string | null {
  if (!p) return null;
  if (/^https?:\/\//.test(p) || (p.startsWith("/") && !p.startsWith("//"))) return p;
  return /^[\w./-]+$/.test(p) && !p.includes("..") ? `${STATIC}/${p}` : null;
}

function card(w: World, owned: boolean): HTMLElement {
  const img = pictureUrl(w.profile_image);
  return h("li", { class: "card world" },
    img ? h("img", { src: img, alt: "", class: "thumb" }) : null,
    h("h2", {}, w.name),
    w.description ? h("p", { class: "muted" }, w.description) : null,
    h("p", {}, ...w.tags.map((t) => h("span", { class: "tag" }, t.name))),
    h("p", {},
      h("span", { class: "online" }, `${w.online_users} online`),
      w.max_users ? h("span", { class: "muted" }, ` of ${w.max_users}`) : null,
      w.public ? null : h("span", { class: "muted" }, " · private"),
      w.status === 1 ? h("span", { class: "error-text" }, " · banned") : null,
    ),
    h("p", { class: "row" },
      h("a", { class: "button", href: `#/world/${w.world_id}`, "aria-label": `Enter ${w.name}` }, "Enter"),
      owned ? h("a", { href: `#/world/${w.world_id}/settings` }, "Settings") : null,
    ),
  );
}
