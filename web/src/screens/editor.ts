// The map editor, for a world's creator: paint ground and walls, place and remove objects
// (interactive ones included: file-sharing boards, screen-share spots), draw and name
// conference areas, undo and redo, and save through PUT /worlds/{id}. People in the world get
// the new map at once (the server sends MAP_UPDATED); the saved map still opens in Tiled.

import { api, canEditMap, STATIC, type WorldDetail } from "../api";
import { busy, errorBox, h, show } from "../ui";
import { checkTiledMap, decodeLayers, prop, type TiledMap } from "../game/tiled";
import {
  addConference, addObject, conferenceSizes, conferences, layerName, objectAt, palette, prepare, problems, removeConference,
  removeObject, renameConference, setTile, tileAt, tileLine, tileRect, type ConferenceDef, type PaletteTile,
} from "../game/map-edit";
import type { EditorScene, Stroke } from "../game/editor-scene";

type Tool = "ground" | "walls" | "objects" | "remove" | "conference" | "pan";
const TOOLS: [Tool, string, string][] = [
  ["ground", "Ground", "Paint floor tiles (right button erases)"],
  ["walls", "Walls", "Draw walls that block walking (right button erases)"],
  ["objects", "Objects", "Place objects, boards and screen-share spots"],
  ["remove", "Remove objects", "Click an object to remove it"],
  ["conference", "Conference areas", "Drag a rectangle to add tiles to the chosen area (right button erases)"],
  ["pan", "Move view", "Drag to move the view (or hold Space, or use the arrow keys)"],
];
const INTERACTIONS: [string, string][] = [
  ["", "None (decoration)"],
  ["FILE_SHARE", "File-sharing board"],
  ["SCREEN_SHARE", "Screen-share spot"],
];
const UNDO_LIMIT = 60;

let current: { close(): void; dirty(): boolean } | null = null;

/** Leaves the editor (the router calls this before showing another screen). */
export function leaveEditor(): void {
  current?.close();
  current = null;
  document.body.classList.remove("in-world");
}

/** True if the editor has unsaved changes the user does not want to lose. */
export function editorKeepsPage(): boolean {
  return !!current?.dirty() && !confirm("The map has unsaved changes. Leave the editor and lose them?");
}

export async function editorScreen(worldId: number): Promise<void> {
  const errors = errorBox();
  show(h("section", { class: "card narrow" }, h("h1", {}, "Opening the editor…"), errors.el));
  let world: WorldDetail;
  let model: TiledMap;
  try {
    world = await api.world(worldId);
    if (!canEditMap(world)) throw new Error("Only the world's creator can edit its map.");
    model = prepare(await decodeLayers(checkTiledMap(world.world_map)));
  } catch (e) {
    errors.set((e as Error).message);
    errors.el.after(h("p", {}, h("a", { href: "#/worlds" }, "Back to the worlds")));
    return;
  }
  const { startEditor } = await import("../game/editor-scene");

  // ----- state -----
  let tool: Tool = "ground";
  const choice: Record<"ground" | "walls" | "objects", PaletteTile | null> = { ground: null, walls: null, objects: null };
  let area: ConferenceDef | null = conferences(model)[0] ?? null;
  const undo: string[] = [];
  const redo: string[] = [];
  let savedText = JSON.stringify(model);
  // The areas of the saved map: their ids are not given to new areas until a save drops them.
  let savedAreas = conferences(model).map((c) => c.id);
  let last: { tx: number; ty: number } | null = null;
  let rectStart: { tx: number; ty: number } | null = null;
  let changedInStroke = false;

  // ----- layout -----
  const stage = h("div", { class: "stage", id: "editor-stage", "aria-label": "Map. Left button paints, right button erases; wheel zooms; arrow keys or Space-drag move the view." });
  const status = h("p", { class: "muted", role: "status" }, "No changes.");
  const saveErrors = errorBox();
  const saveBtn = h("button", { type: "button" }, "Save map");
  const undoBtn = h("button", { type: "button", class: "secondary small", disabled: true, title: "Ctrl+Z" }, "Undo");
  const redoBtn = h("button", { type: "button", class: "secondary small", disabled: true, title: "Ctrl+Shift+Z" }, "Redo");
  const download = h("button", { type: "button", class: "secondary small", title: "Download the map as Tiled JSON" }, "Download .json");
  const toolGroup = h("div", { class: "tools", role: "radiogroup", "aria-label": "Tool" });
  const options = h("div", { class: "tool-options" });
  const hintLine = h("p", { class: "muted small" });
  const panel = h("aside", { class: "side editor-side" },
    h("h1", { class: "small-title" }, `Edit map: ${world.name}`),
    h("p", { class: "row" }, saveBtn, undoBtn, redoBtn, download),
    status, saveErrors.el,
    h("h2", {}, "Tool"), toolGroup, hintLine, options,
    h("p", { class: "links" }, h("a", { href: `#/world/${world.world_id}` }, "Enter the world"), h("a", { href: `#/world/${world.world_id}/settings` }, "Settings"), h("a", { href: "#/worlds" }, "Worlds")),
  );
  const view = h("section", { class: "world-view editor" }, h("div", { class: "stage-wrap" }, stage), panel);
  document.body.classList.add("in-world");
  show(view);

  const dirty = () => JSON.stringify(model) !== savedText;
  const refreshState = () => {
    undoBtn.disabled = undo.length === 0;
    redoBtn.disabled = redo.length === 0;
    status.textContent = dirty() ? "Unsaved changes." : "All changes saved.";
  };

  // ----- palette -----
  const tileButton = (t: PaletteTile, kind: "ground" | "walls" | "objects") => {
    const ts = t.tileset;
    const tileImage = ts.tiles?.find((x) => x.id === t.index)?.image;
    const style = ts.image
      ? `background-image:url("${STATIC}/maps/${ts.image}");background-position:-${(t.index % ts.columns) * ts.tilewidth}px -${Math.floor(t.index / ts.columns) * ts.tileheight}px;width:${ts.tilewidth}px;height:${ts.tileheight}px`
      : `background-image:url("${STATIC}/maps/${tileImage}");background-size:contain;width:32px;height:32px`;
    const label = `${ts.name} ${t.index + 1}${t.interact ? ` (${t.interact})` : ""}`;
    const b = h("button", { type: "button", class: "tile-pick", role: "radio", "aria-checked": String(choice[kind]?.gid === t.gid), "aria-label": label, title: label },
      h("span", { style, "aria-hidden": "true" }));
    b.addEventListener("click", () => {
      choice[kind] = t;
      for (const o of b.closest(".palette")!.querySelectorAll(".tile-pick")) o.setAttribute("aria-checked", String(o === b));
      if (kind === "objects") interactSel.value = t.interact ?? "";
    });
    return b;
  };
  const paletteFor = (kind: "ground" | "walls" | "objects") => {
    const groups = palette(model, kind);
    if (!choice[kind]) choice[kind] = groups[0]?.tiles[0] ?? null;
    return h("div", { class: "palette", role: "radiogroup", "aria-label": `${kind} tiles` },
      ...groups.map((g) => h("div", {}, h("p", { class: "muted small" }, g.tileset.name), h("div", { class: "tile-grid" }, ...g.tiles.map((t) => tileButton(t, kind))))));
  };

  // ----- object options -----
  const solid = h("input", { type: "checkbox", name: "solid" });
  const interactSel = h("select", { name: "interact" }, ...INTERACTIONS.map(([v, t]) => h("option", { value: v }, t)));
  const title = h("input", { name: "title", maxlength: "60", placeholder: "e.g. Team notice board" });

  // ----- conference options -----
  const areaList = h("ul", { class: "areas", "aria-label": "Conference areas" });
  const newName = h("input", { name: "area-name", maxlength: "50", placeholder: "e.g. Garden Stage" });
  const areaErrors = errorBox();
  const renderAreas = () => {
    const sizes = conferenceSizes(model);
    const all = conferences(model);
    if (area && !all.some((c) => c.id === area!.id)) area = all[0] ?? null;
    areaList.replaceChildren(...all.map((c) => {
      const pick = h("input", { type: "radio", name: "area", checked: area?.id === c.id, "aria-label": `Paint ${c.name}` });
      pick.addEventListener("change", () => (area = c));
      const name = h("input", { value: c.name, maxlength: "50", "aria-label": `Name of ${c.id}` });
      name.addEventListener("change", () => {
        try {
          checkpoint();
          renameConference(model, c.id, name.value);
          scene?.conferencesChanged();
          renderAreas();
          refreshState();
        } catch (e) {
          areaErrors.set((e as Error).message);
        }
      });
      const del = h("button", { type: "button", class: "secondary small", "aria-label": `Delete ${c.name}` }, "Delete");
      del.addEventListener("click", () => {
        if (!confirm(`Delete the conference area "${c.name}"?`)) return;
        checkpoint();
        removeConference(model, c.id);
        scene?.rebuild(model);
        renderAreas();
        refreshState();
      });
      return h("li", {}, pick, name, h("span", { class: "muted small" }, `${c.id} · ${sizes.get(c.gid) ?? 0} tiles`), del);
    }));
    if (!all.length) areaList.append(h("li", { class: "muted" }, "No conference areas yet."));
  };
  const addArea = h("button", { type: "button", class: "small" }, "Add area");
  addArea.addEventListener("click", () => {
    areaErrors.set(null);
    try {
      const before = JSON.stringify(model);
      area = addConference(model, newName.value, savedAreas);
      pushUndo(before);
      newName.value = "";
      renderAreas();
      refreshState();
    } catch (e) {
      areaErrors.set((e as Error).message);
    }
  });
  newName.addEventListener("keydown", (e) => {
    if (e.key === "Enter") addArea.click();
  });

  const renderTool = () => {
    for (const b of toolGroup.children) b.setAttribute("aria-checked", String((b as HTMLElement).dataset.tool === tool));
    hintLine.textContent = TOOLS.find((t) => t[0] === tool)![2];
    if (scene) scene.panMode = tool === "pan";
    switch (tool) {
      case "ground":
      case "walls":
        options.replaceChildren(paletteFor(tool));
        break;
      case "objects":
        options.replaceChildren(
          h("label", { class: "check" }, solid, " Blocks walking"),
          h("label", {}, "Interaction", interactSel),
          h("label", {}, "Title (shown to people nearby)", title),
          paletteFor("objects"),
        );
        break;
      case "conference":
        renderAreas();
        options.replaceChildren(areaList, h("label", {}, "New area", newName), addArea, areaErrors.el);
        break;
      default:
        options.replaceChildren();
    }
  };
  for (const [t, label] of TOOLS) {
    const b = h("button", { type: "button", role: "radio", class: "tool", "data-tool": t, "aria-checked": "false" }, label);
    b.addEventListener("click", () => {
      tool = t;
      renderTool();
    });
    toolGroup.append(b);
  }

  // ----- undo -----
  function pushUndo(before: string): void {
    undo.push(before);
    if (undo.length > UNDO_LIMIT) undo.shift();
    redo.length = 0;
  }
  let pendingCheckpoint: string | null = null;
  /** Remembers the map before a change (pushed once the change happens). */
  function checkpoint(): void {
    pushUndo(JSON.stringify(model));
  }
  const restore = (from: string[], to: string[]) => {
    const text = from.pop();
    if (text === undefined) return;
    to.push(JSON.stringify(model));
    model = JSON.parse(text) as TiledMap;
    scene?.rebuild(model);
    renderTool();
    refreshState();
  };
  undoBtn.addEventListener("click", () => restore(undo, redo));
  redoBtn.addEventListener("click", () => restore(redo, undo));

  // ----- strokes -----
  const paint = (s: Stroke, kind: "ground" | "walls") => {
    const name = layerName(model, kind);
    const gid = s.erase ? 0 : (choice[kind]?.gid ?? 0);
    const from = last ?? { tx: s.tx, ty: s.ty };
    for (const [x, y] of tileLine(from.tx, from.ty, s.tx, s.ty)) {
      if (setTile(model, name, x, y, gid)) {
        changedInStroke = true;
        scene?.setTile(name, x, y, gid);
      }
    }
    last = { tx: s.tx, ty: s.ty };
  };
  const stroke = (s: Stroke) => {
    if (s.phase === "down") {
      pendingCheckpoint = JSON.stringify(model);
      changedInStroke = false;
      last = null;
      rectStart = { tx: s.tx, ty: s.ty };
    }
    switch (tool) {
      case "ground":
      case "walls":
        if (s.phase !== "up") paint(s, tool);
        break;
      case "objects":
        if (s.phase !== "down") break;
        if (s.erase) {
          const o = objectAt(model, s.x, s.y);
          if (o && removeObject(model, o.id)) { scene?.removeObject(o.id); changedInStroke = true; }
        } else if (choice.objects && s.tx >= 0 && s.ty >= 0 && s.tx < model.width && s.ty < model.height) {
          const { object } = addObject(model, { gid: choice.objects.gid, tx: s.tx, ty: s.ty, solid: solid.checked, interact: interactSel.value || undefined, title: title.value });
          scene?.addObject(object);
          changedInStroke = true;
        }
        break;
      case "remove":
        if (s.phase !== "down") break;
        {
          const o = objectAt(model, s.x, s.y);
          if (o && removeObject(model, o.id)) { scene?.removeObject(o.id); changedInStroke = true; }
        }
        break;
      case "conference":
        if (!rectStart) break;
        if (s.phase !== "up") {
          scene?.select({ x0: rectStart.tx, y0: rectStart.ty, x1: s.tx, y1: s.ty });
          break;
        }
        scene?.select(null);
        if (!s.erase && !area) {
          areaErrors.set("Add a conference area first (give it a name), then drag over the map.");
          break;
        }
        for (const [x, y] of tileRect(rectStart.tx, rectStart.ty, s.tx, s.ty)) {
          const layer = layerName(model, "conference");
          // Erasing clears only the chosen area's tiles (all areas' if none is chosen).
          if (s.erase && area && tileAt(model, layer, x, y) !== area.gid) continue;
          if (setTile(model, layer, x, y, s.erase ? 0 : area!.gid)) changedInStroke = true;
        }
        scene?.conferencesChanged();
        renderAreas();
        break;
    }
    // One stroke (press, drag, release) is one step to undo.
    if (s.phase === "up") {
      if (changedInStroke && pendingCheckpoint !== null) pushUndo(pendingCheckpoint);
      pendingCheckpoint = null;
      changedInStroke = false;
      last = null;
      rectStart = null;
      refreshState();
    }
  };

  // ----- saving -----
  saveBtn.addEventListener("click", () => {
    void busy(saveBtn, saveErrors, async () => {
      const found = problems(model);
      if (found.length) throw new Error(`The map cannot be saved: ${found.slice(0, 3).join(" ")}`);
      const text = JSON.stringify(model);
      const t = Date.now();
      await api.updateWorld(world.world_id, { world_map: text });
      savedText = text;
      savedAreas = conferences(model).map((c) => c.id);
      refreshState();
      status.textContent = `Saved (${Math.round(text.length / 1024)} KB, ${Date.now() - t} ms). People in the world see the new map now.`;
    });
  });
  download.addEventListener("click", () => {
    const url = URL.createObjectURL(new Blob([JSON.stringify(model, null, 1)], { type: "application/json" }));
    const a = h("a", { href: url, download: `${String(prop(model.properties, "name") ?? world.name).replace(/[^\w.-]+/g, "_")}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });

  // ----- keyboard -----
  const keys = (e: KeyboardEvent) => {
    const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.target instanceof HTMLTextAreaElement;
    if (scene) scene.typing = typing;
    if (typing) return;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") {
      e.preventDefault();
      if (e.shiftKey) redoBtn.click();
      else undoBtn.click();
    } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "y") {
      e.preventDefault();
      redoBtn.click();
    } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
      e.preventDefault();
      saveBtn.click();
    } else if (!e.ctrlKey && !e.metaKey && !e.altKey && /^[1-6]$/.test(e.key)) {
      (toolGroup.children[Number(e.key) - 1] as HTMLElement).click();
    } else if (e.key === "+" || e.key === "=") scene?.zoomBy(1.25);
    else if (e.key === "-") scene?.zoomBy(0.8);
  };
  window.addEventListener("keydown", keys);
  const unload = (e: BeforeUnloadEvent) => {
    if (dirty()) e.preventDefault();
  };
  window.addEventListener("beforeunload", unload);
  view.addEventListener("focusin", (e) => {
    if (scene) scene.typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement;
  });
  view.addEventListener("focusout", () => {
    if (scene) scene.typing = false;
  });
  stage.addEventListener("pointerdown", () => (document.activeElement as HTMLElement | null)?.blur?.());

  let scene: EditorScene | null = null;
  const started = startEditor(stage, model, {
    stroke,
    ready() {
      scene = started.scene;
      scene.panMode = tool === "pan";
    },
  });
  renderTool();
  refreshState();

  // For the browser tests and the console: where tiles are, and the map being edited.
  (window as unknown as { crowdwireEditor?: unknown }).crowdwireEditor = {
    pageOf: (tx: number, ty: number) => scene?.pageOf(tx, ty) ?? null,
    look: (tx: number, ty: number) => scene?.look(tx, ty),
    map: () => JSON.stringify(model),
    dirty,
  };
  current = {
    dirty,
    close() {
      delete (window as unknown as { crowdwireEditor?: unknown }).crowdwireEditor;
      window.removeEventListener("keydown", keys);
      window.removeEventListener("beforeunload", unload);
      started.game.destroy(true);
    },
  };
}
