// World creation: name, description, tags, visibility, guests, capacity and a map (the
// default one or an uploaded Tiled JSON).

import { api, STATIC } from "../api";
import { busy, errorBox, h, show } from "../ui";
import { checkTiledMap } from "../game/tiled";
import { worldFields } from "../world-form";

export function createWorldScreen(): void {
  const errors = errorBox();
  const mapDefault = h("input", { type: "radio", name: "map", value: "default", checked: true });
  const mapUpload = h("input", { type: "radio", name: "map", value: "upload" });
  const file = h("input", { type: "file", name: "map_file", accept: ".json,.tmj,application/json", "aria-label": "Tiled map file" });
  const mapInfo = h("p", { class: "muted", role: "status" });
  const fields = worldFields(null, (m) => errors.set(m));
  const submit = h("button", { type: "submit" }, "Create world");

  file.addEventListener("change", async () => {
    mapUpload.checked = true;
    mapInfo.textContent = "";
    const f = file.files?.[0];
    if (!f) return;
    try {
      const m = checkTiledMap(await f.text());
      mapInfo.textContent = `${f.name}: ${m.width}×${m.height} tiles, ${m.layers.length} layers.`;
    } catch (e) {
      mapInfo.textContent = (e as Error).message;
    }
  });

  const form = h("form", { class: "card", "aria-label": "New world" },
    ...fields.nodes,
    h("fieldset", {}, h("legend", {}, "Map"),
      h("label", { class: "check" }, mapDefault, "The default map (a plaza with three conference rooms)"),
      h("label", { class: "check" }, mapUpload, "Upload a Tiled map (JSON, orthogonal, embedded tilesets)"),
      file, mapInfo),
    errors.el,
    submit,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void busy(submit, errors, async () => {
      let worldMap: string;
      if (mapUpload.checked) {
        const f = file.files?.[0];
        if (!f) throw new Error("Choose a map file, or pick the default map.");
        const text = await f.text();
        checkTiledMap(text);
        worldMap = text;
      } else {
        const r = await fetch(`${STATIC}/maps/default.json`);
        if (!r.ok) throw new Error("The default map could not be loaded. Try again.");
        worldMap = await r.text();
      }
      const f = fields.read();
      const w = await api.createWorld({ ...f, description: f.description || null, world_map: worldMap });
      location.hash = `#/world/${w.world_id}`;
    });
  });
  show(h("section", { class: "narrow-wide" }, h("h1", {}, "Create a world"), form));
  form.querySelector<HTMLInputElement>("input[name=name]")?.focus();
}
