// Reading Tiled maps (JSON, orthogonal): checks that a map is one we can draw, turns encoded
// layers into plain arrays for the renderer, and finds what the map means to the game:
// walls, conference areas (tile property `conference`) and interactive objects (`interact`).

export interface TiledProperty {
  name: string;
  type?: string;
  value: unknown;
}

export interface TiledTileset {
  firstgid: number;
  name: string;
  image?: string;
  imagewidth?: number;
  imageheight?: number;
  tilewidth: number;
  tileheight: number;
  columns: number;
  tilecount: number;
  margin?: number;
  spacing?: number;
  source?: string;
  properties?: TiledProperty[];
  tiles?: { id: number; image?: string; properties?: TiledProperty[] }[];
}

export interface TiledObject {
  id: number;
  name?: string;
  type?: string;
  gid?: number;
  x: number;
  y: number;
  width: number;
  height: number;
  visible?: boolean;
  properties?: TiledProperty[];
}

export interface TiledLayer {
  name: string;
  type: "tilelayer" | "objectgroup" | "imagelayer" | "group";
  width?: number;
  height?: number;
  data?: number[] | string;
  encoding?: "csv" | "base64";
  compression?: "" | "zlib" | "gzip" | "zstd";
  chunks?: unknown;
  objects?: TiledObject[];
  layers?: TiledLayer[];
  visible?: boolean;
  opacity?: number;
  properties?: TiledProperty[];
}

export interface TiledMap {
  width: number;
  height: number;
  tilewidth: number;
  tileheight: number;
  orientation: string;
  infinite?: boolean;
  layers: TiledLayer[];
  tilesets: TiledTileset[];
  properties?: TiledProperty[];
}

/** Largest map we accept: 500 × 500 tiles (the server's own limit is on bytes). */
const MAX_TILES = 250_000;

/** Parses `text` and checks it is a map we can draw; the error says what to fix in Tiled. */
export function checkTiledMap(text: string): TiledMap {
  let m: TiledMap;
  try {
    m = JSON.parse(text) as TiledMap;
  } catch {
    throw new Error("This file is not JSON. In Tiled, use File › Export As… and choose the JSON map format.");
  }
  if (!m || typeof m !== "object" || !Array.isArray(m.layers) || !Array.isArray(m.tilesets)) {
    throw new Error("This JSON file is not a Tiled map (it has no layers or tilesets).");
  }
  if (m.orientation !== "orthogonal") throw new Error(`Only orthogonal maps are supported (this one is ${String(m.orientation)}).`);
  if (m.infinite) throw new Error("Infinite maps are not supported. In Tiled, turn off Map › Map Properties › Infinite.");
  if (!(m.width > 0 && m.height > 0 && m.tilewidth > 0 && m.tileheight > 0)) throw new Error("The map has no size.");
  if (m.width * m.height > MAX_TILES) throw new Error(`The map is too large (${m.width}×${m.height} tiles; at most ${MAX_TILES} tiles).`);
  for (const t of m.tilesets) {
    if (t.source) throw new Error(`The tileset "${t.source}" is in a separate file. In Tiled, embed it in the map (Embed Tileset).`);
  }
  for (const l of flatLayers(m.layers)) {
    if (l.type === "tilelayer" && l.compression === "zstd") throw new Error(`Layer "${l.name}" uses zstd compression; save it as CSV, or base64 with zlib or gzip.`);
  }
  return m;
}

export function flatLayers(layers: TiledLayer[]): TiledLayer[] {
  return layers.flatMap((l) => (l.type === "group" ? flatLayers(l.layers ?? []) : [l]));
}

/** Decodes base64 (optionally zlib/gzip-compressed) tile data into plain arrays, in place. */
export async function decodeLayers(m: TiledMap): Promise<TiledMap> {
  for (const l of flatLayers(m.layers)) {
    if (l.type !== "tilelayer" || typeof l.data !== "string") continue;
    let bytes = Uint8Array.from(atob(l.data.trim()), (c) => c.charCodeAt(0));
    if (l.compression === "zlib" || l.compression === "gzip") {
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream(l.compression === "zlib" ? "deflate" : "gzip"));
      bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const data: number[] = [];
    for (let i = 0; i + 4 <= bytes.length; i += 4) data.push(view.getUint32(i, true));
    l.data = data;
    delete l.encoding;
    delete l.compression;
  }
  return m;
}

export function prop<T = unknown>(props: TiledProperty[] | undefined, name: string): T | undefined {
  return props?.find((p) => p.name === name)?.value as T | undefined;
}

/** Tile flip flags live in the top bits of a gid. */
export const gidOf = (raw: number): number => raw & 0x1fffffff;

export function tilesetOf(m: TiledMap, gid: number): TiledTileset | undefined {
  let best: TiledTileset | undefined;
  for (const t of m.tilesets) if (t.firstgid <= gid && (!best || t.firstgid > best.firstgid)) best = t;
  return best;
}

export function tileProps(m: TiledMap, gid: number): TiledProperty[] | undefined {
  const t = tilesetOf(m, gid);
  return t?.tiles?.find((x) => x.id === gid - t.firstgid)?.properties;
}

export interface Conference {
  /** The map's id, `C<n>`; the room id on the wire is `C<n>-<world id>`. */
  id: string;
  name: string;
}

/** Which conference each tile belongs to (null where none), from the `__Conference` layers. */
export function conferenceGrid(m: TiledMap): { at(tx: number, ty: number): Conference | null; all: Conference[] } {
  const grid: (Conference | null)[] = new Array(m.width * m.height).fill(null);
  const byId = new Map<string, Conference>();
  for (const l of flatLayers(m.layers)) {
    if (l.type !== "tilelayer" || !l.name.startsWith("__Conference") || !Array.isArray(l.data)) continue;
    l.data.forEach((raw, i) => {
      const gid = gidOf(raw);
      if (!gid) return;
      const id = prop<string>(tileProps(m, gid), "conference");
      if (!id) return;
      const ts = tilesetOf(m, gid);
      let c = byId.get(id);
      if (!c) {
        c = { id, name: prop<string>(ts?.properties, "name") ?? id };
        byId.set(id, c);
      }
      grid[i] = c;
    });
  }
  return {
    at: (tx, ty) => (tx >= 0 && ty >= 0 && tx < m.width && ty < m.height ? grid[ty * m.width + tx] : null),
    all: [...byId.values()],
  };
}

export interface Interactive {
  kind: string;
  title: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Objects with an `interact` property, on the object itself or on its tile. */
export function interactives(m: TiledMap): Interactive[] {
  const out: Interactive[] = [];
  for (const l of flatLayers(m.layers)) {
    if (l.type !== "objectgroup") continue;
    for (const o of l.objects ?? []) {
      const kind = prop<string>(o.properties, "interact") ?? (o.gid ? prop<string>(tileProps(m, gidOf(o.gid)), "interact") : undefined);
      if (!kind) continue;
      // Tile objects are anchored at their bottom-left corner.
      const y = o.gid ? o.y - o.height : o.y;
      out.push({ kind, title: prop<string>(o.properties, "title") ?? o.name ?? kind, x: o.x, y, width: o.width, height: o.height });
    }
  }
  return out;
}

/** Layers that block walking: every tile layer whose name contains "Collision". */
export const isCollisionLayer = (l: TiledLayer): boolean => l.type === "tilelayer" && l.name.includes("Collision");
/** Layers drawn above the avatars. */
export const isAboveLayer = (l: TiledLayer): boolean => l.name === "Float" || l.name === "__Float";
/** Layers never drawn. */
export const isHiddenLayer = (l: TiledLayer): boolean => l.name.startsWith("__Conference") || l.visible === false;
