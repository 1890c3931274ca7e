// Editing a Tiled map in memory, for the map editor: painting tiles, placing and removing
// objects, and conference areas (spec §9). Every change keeps the map a valid Tiled JSON map
// (unique object and layer ids, tile layers of the map's size, tilesets for every gid), so
// the saved map still opens in Tiled. No DOM, no Phaser.

import { flatLayers, gidOf, prop, tilesetOf, type TiledLayer, type TiledMap, type TiledObject, type TiledProperty, type TiledTileset } from "./tiled";

/** Conference tilesets are numbered from here (`firstgid` = 100000 + n for `C<n>`). */
export const CONFERENCE_GID_BASE = 100_000;
/** The marker image of conference tiles, shipped with the server. */
const CONFERENCE_IMAGE = "tilesets/conference.png";

export type LayerRole = "ground" | "walls" | "conference" | "objects" | "solid-objects";

const isWallTileset = (t: TiledTileset): boolean => String(prop(t.properties, "isWall")) === "true";
const isConferenceTileset = (t: TiledTileset): boolean => t.name.startsWith("__CONFERENCE");

function nextLayerId(m: TiledMap & { nextlayerid?: number }): number {
  const used = Math.max(0, ...flatLayers(m.layers).map((l) => (l as TiledLayer & { id?: number }).id ?? 0));
  const id = Math.max(m.nextlayerid ?? 1, used + 1);
  m.nextlayerid = id + 1;
  return id;
}

function newTileLayer(m: TiledMap, name: string, visible = true): TiledLayer {
  return { id: nextLayerId(m), name, type: "tilelayer", width: m.width, height: m.height, data: new Array(m.width * m.height).fill(0), opacity: 1, visible, x: 0, y: 0 } as TiledLayer;
}

function newObjectLayer(m: TiledMap, name: string): TiledLayer {
  return { id: nextLayerId(m), name, type: "objectgroup", draworder: "topdown", objects: [], opacity: 1, visible: true, x: 0, y: 0 } as TiledLayer;
}

/** The name of the layer that plays `role`, as the map has it (see `prepare`). */
export function layerName(m: TiledMap, role: LayerRole): string {
  const all = flatLayers(m.layers);
  const tiles = all.filter((l) => l.type === "tilelayer");
  switch (role) {
    case "ground":
      return (tiles.find((l) => l.name === "Ground") ?? tiles.find((l) => !l.name.includes("Collision") && !l.name.startsWith("__") && l.name !== "Float"))?.name ?? "Ground";
    case "walls":
      return (tiles.find((l) => l.name === "Collision") ?? tiles.find((l) => l.name.includes("Collision")))?.name ?? "__Collision";
    case "conference":
      return "__Conference";
    case "objects":
      return "Object";
    case "solid-objects":
      return "ObjectCollision";
  }
}

/**
 * Makes sure the layers the editor paints on exist (adding empty ones where the map lacks
 * them), in the order Tiled draws them, and that tile layers hold plain arrays.
 */
export function prepare(m: TiledMap): TiledMap {
  const has = (name: string) => flatLayers(m.layers).some((l) => l.name === name);
  const ground = layerName(m, "ground");
  if (!has(ground)) m.layers.unshift(newTileLayer(m, ground));
  const walls = layerName(m, "walls");
  if (!has(walls)) m.layers.splice(1, 0, newTileLayer(m, walls));
  if (!has("__Conference")) m.layers.push(newTileLayer(m, "__Conference", false));
  if (!has("Object")) m.layers.push(newObjectLayer(m, "Object"));
  const mm = m as TiledMap & { nextobjectid?: number };
  const maxId = Math.max(0, ...allObjects(m).map((o) => o.id));
  mm.nextobjectid = Math.max(mm.nextobjectid ?? 1, maxId + 1);
  return m;
}

function layer(m: TiledMap, name: string): TiledLayer | undefined {
  return flatLayers(m.layers).find((l) => l.name === name);
}

function allObjects(m: TiledMap): TiledObject[] {
  return flatLayers(m.layers).flatMap((l) => (l.type === "objectgroup" ? (l.objects ?? []) : []));
}

/** Sets one tile; returns false if nothing changed (outside the map, or the same tile). */
export function setTile(m: TiledMap, layerName: string, tx: number, ty: number, gid: number): boolean {
  const l = layer(m, layerName);
  if (!l || !Array.isArray(l.data) || tx < 0 || ty < 0 || tx >= m.width || ty >= m.height) return false;
  const i = ty * m.width + tx;
  if (l.data[i] === gid) return false;
  l.data[i] = gid;
  return true;
}

export function tileAt(m: TiledMap, layerName: string, tx: number, ty: number): number {
  const l = layer(m, layerName);
  if (!l || !Array.isArray(l.data) || tx < 0 || ty < 0 || tx >= m.width || ty >= m.height) return 0;
  return gidOf(l.data[ty * m.width + tx]);
}

/** The tiles on the straight line from (x0, y0) to (x1, y1), both included (a fast drag). */
export function tileLine(x0: number, y0: number, x1: number, y1: number): [number, number][] {
  const out: [number, number][] = [];
  const dx = Math.abs(x1 - x0);
  const dy = -Math.abs(y1 - y0);
  const sx = x0 < x1 ? 1 : -1;
  const sy = y0 < y1 ? 1 : -1;
  let err = dx + dy;
  for (let i = 0; i < 10_000; i++) {
    out.push([x0, y0]);
    if (x0 === x1 && y0 === y1) break;
    const e2 = 2 * err;
    if (e2 >= dy) { err += dy; x0 += sx; }
    if (e2 <= dx) { err += dx; y0 += sy; }
  }
  return out;
}

/** The tiles of the rectangle spanned by two corners. */
export function tileRect(x0: number, y0: number, x1: number, y1: number): [number, number][] {
  const out: [number, number][] = [];
  for (let y = Math.min(y0, y1); y <= Math.max(y0, y1); y++) for (let x = Math.min(x0, x1); x <= Math.max(x0, x1); x++) out.push([x, y]);
  return out;
}

// ----- palettes -----

export interface PaletteTile {
  gid: number;
  tileset: TiledTileset;
  /** Index in the tileset. */
  index: number;
  /** `interact` of the tile itself, if any. */
  interact?: string;
}

/** Tiles offered for a tool: walls come from wall tilesets, the rest from the others. */
export function palette(m: TiledMap, kind: "ground" | "walls" | "objects"): { tileset: TiledTileset; tiles: PaletteTile[] }[] {
  return m.tilesets
    .filter((t) => !isConferenceTileset(t) && (kind === "walls") === isWallTileset(t))
    .map((t) => {
      const ids = t.image ? [...Array(t.tilecount).keys()] : (t.tiles ?? []).filter((x) => x.image).map((x) => x.id);
      return {
        tileset: t,
        tiles: ids.map((index) => ({
          gid: t.firstgid + index,
          tileset: t,
          index,
          interact: prop<string>(t.tiles?.find((x) => x.id === index)?.properties, "interact"),
        })),
      };
    })
    .filter((g) => g.tiles.length > 0);
}

// ----- objects -----

export interface NewObject {
  gid: number;
  /** Top-left tile. */
  tx: number;
  ty: number;
  solid: boolean;
  /** `FILE_SHARE`, `SCREEN_SHARE`, … or none. */
  interact?: string;
  title?: string;
}

/** Places a tile object with its top-left corner on tile (tx, ty). */
export function addObject(m: TiledMap & { nextobjectid?: number }, o: NewObject): { object: TiledObject; layer: string } {
  const ts = tilesetOf(m, o.gid);
  const tile = ts?.tiles?.find((x) => x.id === o.gid - (ts?.firstgid ?? 0)) as { imagewidth?: number; imageheight?: number } | undefined;
  const width = ts?.image ? ts.tilewidth : (tile?.imagewidth ?? m.tilewidth);
  const height = ts?.image ? ts.tileheight : (tile?.imageheight ?? m.tileheight);
  const layerName = o.solid ? "ObjectCollision" : "Object";
  let l = layer(m, layerName);
  if (!l) {
    l = newObjectLayer(m, layerName);
    m.layers.push(l);
  }
  const props: TiledProperty[] = [];
  const own = prop<string>(ts?.tiles?.find((x) => x.id === o.gid - ts.firstgid)?.properties, "interact");
  if (o.interact && o.interact !== own) props.push({ name: "interact", type: "string", value: o.interact });
  if (o.title?.trim()) props.push({ name: "title", type: "string", value: o.title.trim() });
  const id = m.nextobjectid ?? Math.max(0, ...allObjects(m).map((x) => x.id)) + 1;
  m.nextobjectid = id + 1;
  const kind = o.interact ?? own;
  const object = {
    id,
    gid: o.gid,
    name: kind ? kind.toLowerCase() : "",
    type: kind ? "interactive" : "decor",
    x: o.tx * m.tilewidth,
    // Tile objects are anchored at their bottom-left corner.
    y: o.ty * m.tileheight + height,
    width,
    height,
    rotation: 0,
    visible: true,
    ...(props.length ? { properties: props } : {}),
  } as TiledObject;
  l.objects = [...(l.objects ?? []), object];
  return { object, layer: layerName };
}

/** The topmost tile object covering pixel (x, y). */
export function objectAt(m: TiledMap, x: number, y: number): TiledObject | undefined {
  const hits = allObjects(m).filter((o) => o.gid && x >= o.x && x < o.x + o.width && y >= o.y - o.height && y < o.y);
  return hits.sort((a, b) => a.y - b.y || a.id - b.id).pop();
}

export function removeObject(m: TiledMap, id: number): boolean {
  for (const l of flatLayers(m.layers)) {
    if (l.type !== "objectgroup" || !l.objects) continue;
    const i = l.objects.findIndex((o) => o.id === id);
    if (i >= 0) {
      l.objects.splice(i, 1);
      return true;
    }
  }
  return false;
}

// ----- conference areas -----

export interface ConferenceDef {
  /** `C<n>`. */
  id: string;
  name: string;
  /** The gid painted on the `__Conference` layer. */
  gid: number;
}

export function conferences(m: TiledMap): ConferenceDef[] {
  const out: ConferenceDef[] = [];
  for (const t of m.tilesets) {
    for (const tile of t.tiles ?? []) {
      const id = prop<string>(tile.properties, "conference");
      if (id) out.push({ id, name: prop<string>(t.properties, "name") ?? id, gid: t.firstgid + tile.id });
    }
  }
  return out.sort((a, b) => a.gid - b.gid);
}

/**
 * Adds a conference area (no tiles yet) named `name`, as a new `__CONFERENCE_C<n>` tileset.
 * `retired` lists ids not to give out again (areas deleted since the last save: people still in
 * such a conference must not find themselves in a new area of the same id).
 */
export function addConference(m: TiledMap, name: string, retired: Iterable<string> = []): ConferenceDef {
  const clean = name.trim();
  if (!clean) throw new Error("Give the conference area a name.");
  if (clean.length > 50) throw new Error("A conference name has at most 50 characters.");
  if (conferences(m).some((c) => c.name.toLowerCase() === clean.toLowerCase())) throw new Error(`There is already an area called "${clean}".`);
  const used = new Set([...conferences(m).map((c) => c.id), ...retired].map((id) => Number(id.slice(1))));
  let n = 1;
  while (used.has(n) || m.tilesets.some((t) => t.firstgid === CONFERENCE_GID_BASE + n)) n++;
  // Ordinary tilesets must stay below the conference range, or gids would overlap.
  const top = Math.max(0, ...m.tilesets.filter((t) => !isConferenceTileset(t)).map((t) => t.firstgid + t.tilecount));
  if (top > CONFERENCE_GID_BASE) throw new Error("This map's tilesets use the gids reserved for conference areas.");
  const tileset = {
    columns: 1, firstgid: CONFERENCE_GID_BASE + n, image: CONFERENCE_IMAGE, imageheight: 32, imagewidth: 32, margin: 0,
    name: `__CONFERENCE_C${n}`, spacing: 0, tilecount: 1, tileheight: 32, tilewidth: 32,
    properties: [{ name: "name", type: "string", value: clean }],
    tiles: [{ id: 0, properties: [{ name: "conference", type: "string", value: `C${n}` }] }],
  } as TiledTileset;
  m.tilesets.push(tileset);
  m.tilesets.sort((a, b) => a.firstgid - b.firstgid);
  return { id: `C${n}`, name: clean, gid: tileset.firstgid };
}

export function renameConference(m: TiledMap, id: string, name: string): void {
  const clean = name.trim();
  if (!clean) throw new Error("A conference area needs a name.");
  const def = conferences(m).find((c) => c.id === id);
  const ts = def && tilesetOf(m, def.gid);
  if (!ts) return;
  // The same rules as for a new area (addConference).
  if (clean.length > 50) throw new Error("A conference name has at most 50 characters.");
  if (conferences(m).some((c) => c.id !== id && c.name.toLowerCase() === clean.toLowerCase())) throw new Error(`There is already an area called "${clean}".`);
  ts.properties = [...(ts.properties ?? []).filter((p) => p.name !== "name"), { name: "name", type: "string", value: clean }];
}

/** Removes a conference area: its tiles and its tileset. */
export function removeConference(m: TiledMap, id: string): void {
  const def = conferences(m).find((c) => c.id === id);
  if (!def) return;
  const l = layer(m, "__Conference");
  if (l && Array.isArray(l.data)) l.data = l.data.map((g) => (gidOf(g) === def.gid ? 0 : g));
  m.tilesets = m.tilesets.filter((t) => t.firstgid !== def.gid);
}

/** How many tiles each conference covers. */
export function conferenceSizes(m: TiledMap): Map<number, number> {
  const out = new Map<number, number>();
  const l = layer(m, "__Conference");
  if (l && Array.isArray(l.data)) for (const g of l.data) if (g) out.set(gidOf(g), (out.get(gidOf(g)) ?? 0) + 1);
  return out;
}

// ----- checking -----

/** What would keep the map from opening in Tiled or from working in CrowdWire (empty when fine). */
export function problems(m: TiledMap & { nextobjectid?: number; nextlayerid?: number }): string[] {
  const out: string[] = [];
  const n = m.width * m.height;
  const layers = flatLayers(m.layers) as (TiledLayer & { id?: number })[];
  const layerIds = new Set<number>();
  for (const l of layers) {
    if (l.id !== undefined) {
      if (layerIds.has(l.id)) out.push(`Two layers share the id ${l.id}.`);
      layerIds.add(l.id);
      if (m.nextlayerid !== undefined && l.id >= m.nextlayerid) out.push(`Layer "${l.name}" has an id (${l.id}) not below nextlayerid.`);
    }
    if (l.type !== "tilelayer") continue;
    if (!Array.isArray(l.data) || l.data.length !== n) out.push(`Layer "${l.name}" does not have ${n} tiles.`);
    else if (l.width !== m.width || l.height !== m.height) out.push(`Layer "${l.name}" is not the map's size.`);
    else {
      const bad = l.data.find((g) => g && !tilesetFor(m, gidOf(g)));
      if (bad) out.push(`Layer "${l.name}" uses tile ${gidOf(bad)}, which no tileset has.`);
    }
  }
  const ids = new Set<number>();
  for (const o of allObjects(m)) {
    if (ids.has(o.id)) out.push(`Two objects share the id ${o.id}.`);
    ids.add(o.id);
    if (m.nextobjectid !== undefined && o.id >= m.nextobjectid) out.push(`Object ${o.id} has an id not below nextobjectid.`);
    if (o.gid && !tilesetFor(m, gidOf(o.gid))) out.push(`Object ${o.id} uses tile ${gidOf(o.gid)}, which no tileset has.`);
  }
  const sorted = [...m.tilesets].sort((a, b) => a.firstgid - b.firstgid);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (prev.firstgid + tileSpan(prev) > sorted[i].firstgid) out.push(`Tilesets "${prev.name}" and "${sorted[i].name}" overlap.`);
  }
  for (const t of m.tilesets) for (const k of ["firstgid", "name", "tilewidth", "tileheight", "tilecount", "columns"] as const) if (t[k] === undefined) out.push(`Tileset "${t.name}" has no ${k}.`);
  return out;
}

/** How many gids a tileset spans (an image collection may have gaps in its ids). */
function tileSpan(t: TiledTileset): number {
  return t.image ? t.tilecount : Math.max(t.tilecount, ...(t.tiles ?? []).map((x) => x.id + 1));
}

function tilesetFor(m: TiledMap, gid: number): TiledTileset | undefined {
  const t = tilesetOf(m, gid);
  return t && gid - t.firstgid < tileSpan(t) ? t : undefined;
}
