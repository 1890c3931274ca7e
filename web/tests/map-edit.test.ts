// Unit tests for the map editor's model (src/game/map-edit.ts): preparing a map for editing,
// painting tiles, lines and rectangles, palettes, placing and removing objects, conference
// areas, the checks run before saving, and a JSON round trip. The fixture is the server's
// real default map (assets/static/maps/default.json); every test edits its own fresh copy.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import {
  addConference, addObject, CONFERENCE_GID_BASE, conferences, conferenceSizes, layerName, objectAt, palette, prepare, problems,
  removeConference, removeObject, renameConference, setTile, tileAt, tileLine, tileRect,
} from "../src/game/map-edit";
import { checkTiledMap, conferenceGrid, decodeLayers, flatLayers, interactives, prop, type TiledLayer, type TiledMap, type TiledObject } from "../src/game/tiled";

type Editable = TiledMap & { nextobjectid?: number; nextlayerid?: number };
type Layer = TiledLayer & { id?: number };

// The same path from tests/ and from the bundle in .test-build/.
const DEFAULT_MAP = readFileSync(new URL("../../assets/static/maps/default.json", import.meta.url), "utf8");
const W = 64;
const H = 44;
const N = W * H;
const TW = 32;

/** The default map as stored (not prepared). */
const raw = (): Editable => JSON.parse(DEFAULT_MAP) as Editable;
/** The default map, prepared for editing as the editor does. */
const fresh = (): Editable => prepare(raw());

const layerOf = (m: TiledMap, name: string): Layer => {
  const l = flatLayers(m.layers).find((x) => x.name === name);
  assert.ok(l, `no layer "${name}"`);
  return l;
};
const dataOf = (m: TiledMap, name: string): number[] => {
  const data = layerOf(m, name).data;
  assert.ok(Array.isArray(data), `layer "${name}" has no plain array`);
  return data;
};
const objectsOf = (m: TiledMap): TiledObject[] => flatLayers(m.layers).flatMap((l) => l.objects ?? []);
const objectIds = (m: TiledMap): number[] => objectsOf(m).map((o) => o.id);
const key = (p: [number, number]): string => `${p[0]},${p[1]}`;

/** A tile with no object on it in the default map (checked, not assumed). */
function emptyTile(m: TiledMap): { tx: number; ty: number } {
  const tx = 2;
  const ty = 2;
  assert.equal(objectAt(m, tx * TW + 16, ty * TW + 16), undefined, "the test's empty tile has an object");
  return { tx, ty };
}

describe("prepare", () => {
  test("the default map needs nothing added and has no problems", () => {
    const m = fresh();
    assert.deepEqual(problems(m), []);
    assert.deepEqual(m.layers.map((l) => l.name), ["Ground", "Collision", "Float", "__Conference", "Object"]);
    assert.equal(m.nextlayerid, 6);
    assert.equal(m.nextobjectid, 166);
    assert.deepEqual(m, raw(), "prepare changed a map that already had everything");
  });

  test("the layers the editor paints on resolve to existing layers of the right kind", () => {
    const m = fresh();
    assert.equal(layerName(m, "ground"), "Ground");
    assert.equal(layerName(m, "walls"), "Collision");
    assert.equal(layerName(m, "conference"), "__Conference");
    assert.equal(layerName(m, "objects"), "Object");
    for (const role of ["ground", "walls", "conference"] as const) assert.equal(layerOf(m, layerName(m, role)).type, "tilelayer", role);
    assert.equal(layerOf(m, layerName(m, "objects")).type, "objectgroup");
  });

  test("adds an empty walls layer after the ground and a hidden __Conference layer when the map lacks them", () => {
    const m = raw();
    m.layers = m.layers.filter((l) => l.name !== "Collision" && l.name !== "__Conference");
    prepare(m);
    const walls = layerName(m, "walls");
    assert.ok(walls.includes("Collision"), `walls layer "${walls}" would not block walking`);
    assert.deepEqual(m.layers.map((l) => l.name), ["Ground", walls, "Float", "Object", "__Conference"]);
    for (const name of [walls, "__Conference"]) {
      const l = layerOf(m, name);
      assert.equal(l.type, "tilelayer");
      assert.equal(l.width, W);
      assert.equal(l.height, H);
      assert.deepEqual(l.data, new Array(N).fill(0));
    }
    assert.equal(layerOf(m, "__Conference").visible, false);
    assert.equal(layerOf(m, walls).visible, true);
    // New layers get fresh ids, and nextlayerid moves past them.
    const ids = flatLayers(m.layers).map((l) => (l as Layer).id);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(m.nextlayerid, 8);
    assert.deepEqual(problems(m), []);
  });

  test("gives a map with no layers a ground, walls, conference and object layer", () => {
    const m = raw();
    m.layers = [];
    delete m.nextlayerid;
    prepare(m);
    assert.deepEqual(m.layers.map((l) => [l.name, l.type]), [
      ["Ground", "tilelayer"], ["__Collision", "tilelayer"], ["__Conference", "tilelayer"], ["Object", "objectgroup"],
    ]);
    assert.equal(layerName(m, "ground"), "Ground");
    assert.equal(layerName(m, "walls"), "__Collision");
    assert.deepEqual(problems(m), []);
  });

  test("uses a map's own floor and collision layer names instead of adding new ones", () => {
    const m = raw();
    layerOf(m, "Ground").name = "Floor";
    layerOf(m, "Collision").name = "WallsCollision";
    prepare(m);
    assert.equal(layerName(m, "ground"), "Floor");
    assert.equal(layerName(m, "walls"), "WallsCollision");
    assert.equal(m.layers.length, 5);
    assert.deepEqual(problems(m), []);
  });

  test("moves nextobjectid past the largest object id", () => {
    const low = raw();
    low.nextobjectid = 10;
    prepare(low);
    assert.equal(low.nextobjectid, 166);
    const missing = raw();
    delete missing.nextobjectid;
    prepare(missing);
    assert.equal(missing.nextobjectid, 166);
    const high = raw();
    high.nextobjectid = 500;
    prepare(high);
    assert.equal(high.nextobjectid, 500);
  });

  test("is idempotent", () => {
    const m = raw();
    m.layers = m.layers.filter((l) => l.name !== "Collision" && l.name !== "Object");
    const once = structuredClone(prepare(m));
    assert.deepEqual(prepare(m), once);
  });
});

describe("setTile and tileAt", () => {
  test("setTile writes a gid that tileAt reads back, in row-major order, and touches nothing else", () => {
    const m = fresh();
    const before = [...dataOf(m, "Ground")];
    assert.notEqual(tileAt(m, "Ground", 3, 2), 25);
    assert.equal(setTile(m, "Ground", 3, 2, 25), true);
    assert.equal(tileAt(m, "Ground", 3, 2), 25);
    const after = dataOf(m, "Ground");
    assert.equal(after[2 * W + 3], 25);
    before[2 * W + 3] = 25;
    assert.deepEqual(after, before);
  });

  test("setTile returns false when the tile already has that gid", () => {
    const m = fresh();
    const gid = tileAt(m, "Ground", 10, 10);
    assert.notEqual(gid, 0);
    assert.equal(setTile(m, "Ground", 10, 10, gid), false);
    assert.equal(setTile(m, "Ground", 10, 10, 0), true);
    assert.equal(setTile(m, "Ground", 10, 10, 0), false);
    assert.equal(tileAt(m, "Ground", 10, 10), 0);
  });

  test("outside the map setTile returns false and writes nothing, and tileAt reads 0", () => {
    const m = fresh();
    const before = structuredClone(m);
    for (const [x, y] of [[-1, 0], [0, -1], [W, 0], [0, H], [W, H], [-5, -5], [1000, 3]]) {
      assert.doesNotThrow(() => setTile(m, "Ground", x, y, 5));
      assert.equal(setTile(m, "Ground", x, y, 5), false, `(${x}, ${y})`);
      assert.equal(tileAt(m, "Ground", x, y), 0, `(${x}, ${y})`);
    }
    assert.equal(dataOf(m, "Ground").length, N);
    assert.deepEqual(m, before);
  });

  test("on a layer that does not exist, or is not a tile layer, nothing is written", () => {
    const m = fresh();
    const before = structuredClone(m);
    assert.equal(setTile(m, "NoSuchLayer", 1, 1, 5), false);
    assert.equal(setTile(m, "Object", 1, 1, 5), false);
    assert.equal(tileAt(m, "NoSuchLayer", 1, 1), 0);
    assert.deepEqual(m, before);
  });

  test("the corners of the map are inside it", () => {
    const m = fresh();
    for (const [x, y] of [[0, 0], [W - 1, 0], [0, H - 1], [W - 1, H - 1]]) {
      assert.equal(setTile(m, "Float", x, y, 44), true, `(${x}, ${y})`);
      assert.equal(tileAt(m, "Float", x, y), 44);
    }
    assert.equal(dataOf(m, "Float")[N - 1], 44);
  });

  test("tileAt ignores Tiled's flip flags", () => {
    const m = fresh();
    const flippedH = (0x80000000 | 25) >>> 0;
    assert.equal(setTile(m, "Ground", 4, 4, flippedH), true);
    assert.equal(tileAt(m, "Ground", 4, 4), 25);
    assert.deepEqual(problems(m), []);
  });
});

describe("tileLine", () => {
  /** Checks the line from a to b: both ends included, each step to a neighbouring tile. */
  function checkLine(x0: number, y0: number, x1: number, y1: number): void {
    const line = tileLine(x0, y0, x1, y1);
    const label = `(${x0},${y0})→(${x1},${y1})`;
    assert.deepEqual(line[0], [x0, y0], `${label} does not start at its start`);
    assert.deepEqual(line[line.length - 1], [x1, y1], `${label} does not end at its end`);
    assert.equal(line.length, Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0)) + 1, `${label} has gaps or repeats`);
    for (let i = 1; i < line.length; i++) {
      const dx = Math.abs(line[i][0] - line[i - 1][0]);
      const dy = Math.abs(line[i][1] - line[i - 1][1]);
      assert.ok(dx <= 1 && dy <= 1 && dx + dy > 0, `${label} jumps from ${key(line[i - 1])} to ${key(line[i])}`);
    }
  }

  test("a single point is just that tile", () => {
    assert.deepEqual(tileLine(5, 7, 5, 7), [[5, 7]]);
  });

  test("horizontal, vertical and diagonal lines hold exactly the tiles between the ends", () => {
    assert.deepEqual(tileLine(1, 2, 4, 2), [[1, 2], [2, 2], [3, 2], [4, 2]]);
    assert.deepEqual(tileLine(3, 5, 3, 2), [[3, 5], [3, 4], [3, 3], [3, 2]]);
    assert.deepEqual(tileLine(0, 0, 3, 3), [[0, 0], [1, 1], [2, 2], [3, 3]]);
    assert.deepEqual(tileLine(3, 0, 0, 3), [[3, 0], [2, 1], [1, 2], [0, 3]]);
  });

  test("lines in every direction and at every slope include both ends and have no gaps", () => {
    for (let dx = -7; dx <= 7; dx++) for (let dy = -7; dy <= 7; dy++) checkLine(10, 10, 10 + dx, 10 + dy);
    checkLine(0, 0, W - 1, H - 1);
    checkLine(W - 1, 0, 0, H - 1);
  });

  test("a line and its reverse cover the same number of tiles", () => {
    assert.equal(tileLine(2, 9, 13, 4).length, tileLine(13, 4, 2, 9).length);
  });
});

describe("tileRect", () => {
  const sorted = (ps: [number, number][]): string[] => ps.map(key).sort();

  test("includes both corners and every tile between them", () => {
    const r = tileRect(2, 3, 4, 5);
    assert.deepEqual(sorted(r), sorted([[2, 3], [3, 3], [4, 3], [2, 4], [3, 4], [4, 4], [2, 5], [3, 5], [4, 5]]));
  });

  test("does not depend on which corners are given, or in which order", () => {
    const want = sorted(tileRect(1, 2, 6, 4));
    assert.deepEqual(sorted(tileRect(6, 4, 1, 2)), want);
    assert.deepEqual(sorted(tileRect(1, 4, 6, 2)), want);
    assert.deepEqual(sorted(tileRect(6, 2, 1, 4)), want);
  });

  test("holds w × h distinct tiles, and a single tile when both corners are the same", () => {
    const r = tileRect(7, 1, 3, 9);
    assert.equal(r.length, 5 * 9);
    assert.equal(new Set(r.map(key)).size, r.length);
    assert.deepEqual(tileRect(4, 4, 4, 4), [[4, 4]]);
    assert.equal(tileRect(0, 5, 9, 5).length, 10);
  });
});

describe("palette", () => {
  const gids = (m: TiledMap, kind: "ground" | "walls" | "objects"): number[] => palette(m, kind).flatMap((g) => g.tiles.map((t) => t.gid));

  test("walls come from the wall tileset only, ground and objects from the other tilesets", () => {
    const m = fresh();
    assert.deepEqual(palette(m, "walls").map((g) => g.tileset.name), ["Walls"]);
    assert.deepEqual(gids(m, "walls"), Array.from({ length: 14 }, (_, i) => 25 + i));
    for (const kind of ["ground", "objects"] as const) {
      assert.deepEqual(palette(m, kind).map((g) => g.tileset.name), ["Floors", "Nature", "Decor", "WallTops"], kind);
    }
  });

  test("every tile of an image tileset is offered, with its gid and index", () => {
    const m = fresh();
    for (const g of palette(m, "ground")) {
      assert.equal(g.tiles.length, g.tileset.tilecount, g.tileset.name);
      g.tiles.forEach((t, i) => {
        assert.equal(t.index, i);
        assert.equal(t.gid, g.tileset.firstgid + i);
        assert.equal(t.tileset, g.tileset);
      });
    }
  });

  test("never offers a conference tile", () => {
    const m = fresh();
    addConference(m, "Garden Stage");
    for (const kind of ["ground", "walls", "objects"] as const) {
      for (const g of palette(m, kind)) assert.ok(!g.tileset.name.startsWith("__CONFERENCE"), `${kind} offers ${g.tileset.name}`);
      for (const gid of gids(m, kind)) assert.ok(gid < CONFERENCE_GID_BASE, `${kind} offers gid ${gid}`);
    }
  });

  test("object tiles carry their own interaction", () => {
    const m = fresh();
    const tiles = palette(m, "objects").flatMap((g) => g.tiles);
    assert.equal(tiles.find((t) => t.gid === 71)?.interact, "FILE_SHARE");
    assert.equal(tiles.find((t) => t.gid === 72)?.interact, "SCREEN_SHARE");
    assert.equal(tiles.find((t) => t.gid === 70)?.interact, undefined);
  });

  test("an image-collection tileset offers the tiles that have an image", () => {
    const m = fresh();
    m.tilesets.push({
      firstgid: 200, name: "Furniture", tilewidth: 64, tileheight: 64, columns: 0, tilecount: 3,
      tiles: [{ id: 0, image: "a.png" }, { id: 3, image: "b.png" }, { id: 5 }],
    });
    const group = palette(m, "objects").find((g) => g.tileset.name === "Furniture");
    assert.ok(group);
    assert.deepEqual(group.tiles.map((t) => [t.index, t.gid]), [[0, 200], [3, 203]]);
  });
});

describe("objects", () => {
  test("a FILE_SHARE board gets the interact and title properties and lands on the Object layer", () => {
    const m = fresh();
    const { tx, ty } = emptyTile(m);
    const { object, layer } = addObject(m, { gid: 70, tx, ty, solid: false, interact: "FILE_SHARE", title: "  Team files  " });
    assert.equal(layer, "Object");
    assert.ok(layerOf(m, "Object").objects?.includes(object));
    assert.deepEqual(object.properties, [
      { name: "interact", type: "string", value: "FILE_SHARE" },
      { name: "title", type: "string", value: "Team files" },
    ]);
    assert.equal(object.type, "interactive");
    assert.equal(object.name, "file_share");
    assert.equal(object.gid, 70);
    // Tile objects are anchored at their bottom-left corner; this one covers tile (tx, ty).
    assert.deepEqual([object.x, object.y, object.width, object.height], [tx * TW, ty * TW + TW, TW, TW]);
    // The game sees it as a board with that title, where it was placed.
    assert.deepEqual(interactives(m).find((i) => i.title === "Team files"), { kind: "FILE_SHARE", title: "Team files", x: tx * TW, y: ty * TW, width: TW, height: TW });
  });

  test("a SCREEN_SHARE spot gets interact SCREEN_SHARE", () => {
    const m = fresh();
    const { object } = addObject(m, { gid: 63, tx: 20, ty: 20, solid: false, interact: "SCREEN_SHARE", title: "Stage screen" });
    assert.equal(prop(object.properties, "interact"), "SCREEN_SHARE");
    assert.equal(prop(object.properties, "title"), "Stage screen");
    assert.equal(object.type, "interactive");
    assert.ok(interactives(m).some((i) => i.kind === "SCREEN_SHARE" && i.title === "Stage screen"));
  });

  test("a tile that already carries the interaction is not given a second interact property", () => {
    const m = fresh();
    const { object } = addObject(m, { gid: 71, tx: 20, ty: 21, solid: false, interact: "FILE_SHARE", title: "Board" });
    assert.deepEqual(object.properties, [{ name: "title", type: "string", value: "Board" }]);
    assert.equal(object.type, "interactive");
    assert.ok(interactives(m).some((i) => i.kind === "FILE_SHARE" && i.title === "Board"));
  });

  test("a plain decor object has no properties, and a blank title is left out", () => {
    const m = fresh();
    const { object } = addObject(m, { gid: 70, tx: 20, ty: 22, solid: false, title: "   " });
    assert.equal(object.properties, undefined);
    assert.equal(object.type, "decor");
    assert.equal(object.name, "");
  });

  test("new objects get unique ids below nextobjectid, which advances", () => {
    const m = fresh();
    const start = m.nextobjectid!;
    const added = [0, 1, 2].map((i) => addObject(m, { gid: 70, tx: 20 + i, ty: 23, solid: i === 1 }).object);
    assert.deepEqual(added.map((o) => o.id), [start, start + 1, start + 2]);
    assert.equal(m.nextobjectid, start + 3);
    const ids = objectIds(m);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.ok(id < m.nextobjectid!, `object ${id} is not below nextobjectid`);
    assert.deepEqual(problems(m), []);
  });

  test("removing the newest object does not let its id be reused", () => {
    const m = fresh();
    const a = addObject(m, { gid: 70, tx: 20, ty: 24, solid: false }).object;
    removeObject(m, a.id);
    const b = addObject(m, { gid: 70, tx: 20, ty: 24, solid: false }).object;
    assert.notEqual(b.id, a.id);
  });

  test("a solid object goes to an ObjectCollision object layer, created once with a fresh id", () => {
    const m = fresh();
    const { object, layer } = addObject(m, { gid: 81, tx: 30, ty: 30, solid: true });
    assert.equal(layer, "ObjectCollision");
    const l = layerOf(m, "ObjectCollision");
    assert.equal(l.type, "objectgroup");
    assert.deepEqual(l.objects, [object]);
    assert.equal(l.id, 6);
    assert.equal(m.nextlayerid, 7);
    assert.ok(!layerOf(m, "Object").objects?.includes(object));
    addObject(m, { gid: 81, tx: 31, ty: 30, solid: true });
    assert.equal(m.layers.filter((x) => x.name === "ObjectCollision").length, 1);
    assert.equal(layerOf(m, "ObjectCollision").objects?.length, 2);
    assert.deepEqual(problems(m), []);
  });

  test("objectAt finds an object at any pixel inside its tile and not outside it", () => {
    const m = fresh();
    const { tx, ty } = emptyTile(m);
    const { object } = addObject(m, { gid: 70, tx, ty, solid: false });
    const left = tx * TW;
    const top = ty * TW;
    for (const [x, y] of [[left, top], [left + TW - 1, top], [left, top + TW - 1], [left + TW - 1, top + TW - 1], [left + 16, top + 16]]) {
      assert.equal(objectAt(m, x, y)?.id, object.id, `(${x}, ${y})`);
    }
    for (const [x, y] of [[left - 1, top + 16], [left + TW, top + 16], [left + 16, top - 1], [left + 16, top + TW]]) {
      assert.notEqual(objectAt(m, x, y)?.id, object.id, `(${x}, ${y})`);
    }
  });

  test("objectAt finds objects of the default map and solid objects too", () => {
    const m = fresh();
    // Object 1 of the default map: a screen at x 416, bottom y 192.
    assert.equal(objectAt(m, 416 + 5, 192 - 5)?.id, 1);
    const { object } = addObject(m, { gid: 81, tx: 30, ty: 31, solid: true });
    assert.equal(objectAt(m, 30 * TW + 1, 31 * TW + 1)?.id, object.id);
  });

  test("objectAt picks the newest of two objects on the same tile", () => {
    const m = fresh();
    const a = addObject(m, { gid: 70, tx: 25, ty: 25, solid: false }).object;
    const b = addObject(m, { gid: 63, tx: 25, ty: 25, solid: false }).object;
    assert.equal(objectAt(m, 25 * TW + 3, 25 * TW + 3)?.id, b.id);
    removeObject(m, b.id);
    assert.equal(objectAt(m, 25 * TW + 3, 25 * TW + 3)?.id, a.id);
  });

  test("removeObject removes exactly that object, from whichever layer holds it", () => {
    const m = fresh();
    const plain = addObject(m, { gid: 70, tx: 26, ty: 26, solid: false }).object;
    const solid = addObject(m, { gid: 70, tx: 27, ty: 26, solid: true }).object;
    const before = objectIds(m);
    assert.equal(removeObject(m, solid.id), true);
    assert.deepEqual(objectIds(m), before.filter((id) => id !== solid.id));
    assert.equal(objectAt(m, 27 * TW + 3, 26 * TW + 3), undefined);
    assert.equal(removeObject(m, 1), true);
    assert.deepEqual(objectIds(m), before.filter((id) => id !== solid.id && id !== 1));
    assert.ok(objectIds(m).includes(plain.id));
    assert.deepEqual(problems(m), []);
  });

  test("removeObject returns false for an id that is not there", () => {
    const m = fresh();
    const before = structuredClone(m);
    assert.equal(removeObject(m, 9999), false);
    assert.deepEqual(m, before);
    assert.equal(removeObject(m, 5), true);
    assert.equal(removeObject(m, 5), false);
  });
});

describe("conference areas", () => {
  const paint = (m: TiledMap, gid: number, x0: number, y0: number, x1: number, y1: number): number => {
    let n = 0;
    for (const [x, y] of tileRect(x0, y0, x1, y1)) if (setTile(m, "__Conference", x, y, gid)) n++;
    return n;
  };

  test("the default map's areas, in gid order, with their tile counts", () => {
    const m = fresh();
    assert.deepEqual(conferences(m), [
      { id: "C1", name: "Main Stage", gid: 100001 },
      { id: "C2", name: "Workshop Room", gid: 100002 },
      { id: "C3", name: "Meeting Room", gid: 100003 },
    ]);
    const data = dataOf(m, "__Conference");
    const sizes = conferenceSizes(m);
    assert.deepEqual([...sizes.keys()].sort(), [100001, 100002, 100003]);
    for (const gid of [100001, 100002, 100003]) assert.equal(sizes.get(gid), data.filter((g) => g === gid).length);
    assert.equal(sizes.get(100001), 140);
  });

  test("addConference trims the name and adds the next C<n> as a one-tile __CONFERENCE tileset", () => {
    const m = fresh();
    const before = m.tilesets.length;
    const def = addConference(m, "  Garden Stage  ");
    assert.deepEqual(def, { id: "C4", name: "Garden Stage", gid: 100004 });
    assert.equal(m.tilesets.length, before + 1);
    const ts = m.tilesets.find((t) => t.firstgid === def.gid);
    assert.ok(ts);
    assert.equal(ts.name, "__CONFERENCE_C4");
    assert.equal(ts.tilecount, 1);
    assert.equal(prop(ts.properties, "name"), "Garden Stage");
    assert.equal(prop(ts.tiles?.[0].properties, "conference"), "C4");
    assert.deepEqual(m.tilesets.map((t) => t.firstgid), [...m.tilesets.map((t) => t.firstgid)].sort((a, b) => a - b));
    assert.deepEqual(conferences(m).map((c) => c.id), ["C1", "C2", "C3", "C4"]);
    assert.deepEqual(problems(m), []);
  });

  test("new areas never reuse a live area's id or overlap another tileset", () => {
    const m = fresh();
    removeConference(m, "C2");
    const added = ["A", "B", "C"].map((name) => addConference(m, name));
    const all = conferences(m);
    assert.equal(new Set(all.map((c) => c.id)).size, all.length);
    assert.equal(new Set(all.map((c) => c.gid)).size, all.length);
    for (const c of added) assert.equal(c.gid, CONFERENCE_GID_BASE + Number(c.id.slice(1)));
    assert.deepEqual(problems(m), [], "a new conference tileset overlaps another");
  });

  test("a new area does not take the id of an area whose tileset Tiled put at another gid", () => {
    const m = fresh();
    // C1 drawn in Tiled with its tileset right after the others (gid 92) instead of at 100001.
    m.tilesets.find((t) => t.name === "__CONFERENCE_C1")!.firstgid = 92;
    m.tilesets.sort((a, b) => a.firstgid - b.firstgid);
    const data = dataOf(m, "__Conference");
    data.forEach((g, i) => (data[i] = g === 100001 ? 92 : g));
    assert.deepEqual(problems(m), []);
    const def = addConference(m, "Garden Stage");
    assert.deepEqual(def, { id: "C4", name: "Garden Stage", gid: 100004 });
    assert.deepEqual(problems(m), []);
  });

  test("addConference does not give out a retired id (an area deleted since the last save)", () => {
    const m = fresh();
    removeConference(m, "C2");
    assert.equal(addConference(m, "Garden Stage", ["C1", "C2", "C3"]).id, "C4");
    // Without the saved map's ids, the lowest free id is reused.
    const n = fresh();
    removeConference(n, "C2");
    assert.equal(addConference(n, "Garden Stage").id, "C2");
  });

  test("addConference rejects an empty name", () => {
    const m = fresh();
    const before = structuredClone(m);
    assert.throws(() => addConference(m, ""), { message: "Give the conference area a name." });
    assert.throws(() => addConference(m, "   "), { message: "Give the conference area a name." });
    assert.deepEqual(m, before);
  });

  test("addConference accepts 50 characters and rejects 51", () => {
    const m = fresh();
    const before = structuredClone(m);
    assert.throws(() => addConference(m, "x".repeat(51)), { message: "A conference name has at most 50 characters." });
    assert.deepEqual(m, before);
    assert.equal(addConference(m, ` ${"y".repeat(50)} `).name, "y".repeat(50));
  });

  test("addConference rejects a name already used, whatever its case", () => {
    const m = fresh();
    const before = structuredClone(m);
    assert.throws(() => addConference(m, "main stage"), { message: 'There is already an area called "main stage".' });
    assert.throws(() => addConference(m, " MEETING ROOM "), { message: 'There is already an area called "MEETING ROOM".' });
    assert.deepEqual(m, before);
  });

  test("addConference refuses a map whose tilesets reach into the conference gid range", () => {
    const m = fresh();
    m.tilesets.push({ firstgid: 99_990, name: "Huge", image: "huge.png", tilewidth: 32, tileheight: 32, columns: 10, tilecount: 100 });
    assert.throws(() => addConference(m, "Garden Stage"), { message: "This map's tilesets use the gids reserved for conference areas." });
  });

  test("a painted area is reported by conferenceSizes and seen by the game's conference grid", () => {
    const m = fresh();
    const def = addConference(m, "Garden Stage");
    assert.equal(conferenceSizes(m).get(def.gid), undefined);
    assert.equal(paint(m, def.gid, 40, 30, 44, 32), 15);
    assert.equal(conferenceSizes(m).get(def.gid), 15);
    assert.equal(conferenceSizes(m).get(100001), 140, "painting C4 changed C1");
    const grid = conferenceGrid(m);
    assert.deepEqual(grid.at(42, 31), { id: "C4", name: "Garden Stage" });
    assert.equal(grid.at(45, 31), null);
    assert.ok(grid.all.some((c) => c.id === "C4"));
    assert.deepEqual(problems(m), []);
  });

  test("renameConference trims and changes the name, keeping the id and gid", () => {
    const m = fresh();
    renameConference(m, "C2", "  Lab  ");
    assert.deepEqual(conferences(m).find((c) => c.id === "C2"), { id: "C2", name: "Lab", gid: 100002 });
    assert.equal(m.tilesets.find((t) => t.firstgid === 100002)?.properties?.filter((p) => p.name === "name").length, 1);
    const c2 = conferenceGrid(m).all.find((c) => c.id === "C2");
    assert.equal(c2?.name, "Lab");
    assert.deepEqual(problems(m), []);
  });

  test("renameConference rejects an empty name and ignores an unknown id", () => {
    const m = fresh();
    const before = structuredClone(m);
    assert.throws(() => renameConference(m, "C1", "  "), { message: "A conference area needs a name." });
    assert.doesNotThrow(() => renameConference(m, "C9", "Nowhere"));
    assert.deepEqual(m, before);
  });

  test("renameConference applies addConference's rules: at most 50 characters, no name used by another area", () => {
    const m = fresh();
    const before = structuredClone(m);
    assert.throws(() => renameConference(m, "C1", "x".repeat(51)), { message: "A conference name has at most 50 characters." });
    assert.throws(() => renameConference(m, "C1", "workshop room"), { message: 'There is already an area called "workshop room".' });
    assert.deepEqual(m, before);
    // Its own name, in another case, is fine.
    renameConference(m, "C1", "MAIN STAGE");
    assert.equal(conferences(m)[0].name, "MAIN STAGE");
  });

  test("removeConference removes its tileset and clears only its tiles", () => {
    const m = fresh();
    const data = [...dataOf(m, "__Conference")];
    removeConference(m, "C2");
    assert.ok(!m.tilesets.some((t) => t.firstgid === 100002 || t.name === "__CONFERENCE_C2"));
    assert.deepEqual(conferences(m).map((c) => c.id), ["C1", "C3"]);
    assert.deepEqual(dataOf(m, "__Conference"), data.map((g) => (g === 100002 ? 0 : g)));
    assert.equal(conferenceSizes(m).has(100002), false);
    assert.equal(conferenceSizes(m).get(100001), 140);
    assert.deepEqual(problems(m), []);
  });

  test("removeConference of a newly added and painted area leaves a valid map", () => {
    const m = fresh();
    const def = addConference(m, "Garden Stage");
    paint(m, def.gid, 0, 40, 5, 43);
    removeConference(m, def.id);
    assert.equal(conferenceSizes(m).has(def.gid), false);
    assert.deepEqual(conferences(m).map((c) => c.id), ["C1", "C2", "C3"]);
    assert.deepEqual(problems(m), []);
  });

  test("removeConference of an unknown id changes nothing", () => {
    const m = fresh();
    const before = structuredClone(m);
    removeConference(m, "C42");
    assert.deepEqual(m, before);
  });
});

describe("problems", () => {
  test("a layer with the wrong number of tiles", () => {
    const m = fresh();
    dataOf(m, "Float").pop();
    assert.deepEqual(problems(m), [`Layer "Float" does not have ${N} tiles.`]);
  });

  test("a layer whose size is not the map's", () => {
    const m = fresh();
    layerOf(m, "Ground").width = H;
    layerOf(m, "Ground").height = W;
    assert.deepEqual(problems(m), ['Layer "Ground" is not the map\'s size.']);
  });

  test("a tile gid no tileset has, including one just past the last tile of a tileset", () => {
    const m = fresh();
    setTile(m, "Ground", 0, 0, 99_999);
    assert.deepEqual(problems(m), ['Layer "Ground" uses tile 99999, which no tileset has.']);
    const past = fresh();
    // WallTops spans gids 87..91.
    setTile(past, "Float", 5, 5, 92);
    assert.deepEqual(problems(past), ['Layer "Float" uses tile 92, which no tileset has.']);
    const conf = fresh();
    setTile(conf, "__Conference", 5, 5, 100_009);
    assert.deepEqual(problems(conf), ['Layer "__Conference" uses tile 100009, which no tileset has.']);
  });

  test("an object whose tile no tileset has", () => {
    const m = fresh();
    objectsOf(m)[0].gid = 5000;
    assert.deepEqual(problems(m), ["Object 1 uses tile 5000, which no tileset has."]);
  });

  test("overlapping tilesets", () => {
    const m = fresh();
    m.tilesets.find((t) => t.name === "Walls")!.tilecount = 15;
    assert.deepEqual(problems(m), ['Tilesets "Walls" and "Nature" overlap.']);
    const conf = fresh();
    conf.tilesets.find((t) => t.name === "__CONFERENCE_C1")!.tilecount = 2;
    assert.deepEqual(problems(conf), ['Tilesets "__CONFERENCE_C1" and "__CONFERENCE_C2" overlap.']);
  });

  test("two objects with the same id", () => {
    const m = fresh();
    const objects = layerOf(m, "Object").objects!;
    objects.push({ ...structuredClone(objects[0]), x: 0, y: 32 });
    assert.deepEqual(problems(m), ["Two objects share the id 1."]);
  });

  test("an object id not below nextobjectid", () => {
    const m = fresh();
    m.nextobjectid = 165;
    assert.deepEqual(problems(m), ["Object 165 has an id not below nextobjectid."]);
  });

  test("two layers with the same id, and a layer id not below nextlayerid", () => {
    const m = fresh();
    layerOf(m, "Float").id = 1;
    assert.deepEqual(problems(m), ["Two layers share the id 1."]);
    const next = fresh();
    next.nextlayerid = 5;
    assert.deepEqual(problems(next), ['Layer "Object" has an id (5) not below nextlayerid.']);
  });

  test("a tileset missing a field Tiled needs", () => {
    const m = fresh();
    delete (m.tilesets[0] as Partial<TiledMap["tilesets"][number]>).columns;
    assert.deepEqual(problems(m), ['Tileset "Floors" has no columns.']);
  });

  test("finds every problem at once", () => {
    const m = fresh();
    dataOf(m, "Float").pop();
    setTile(m, "Ground", 0, 0, 99_999);
    m.nextobjectid = 165;
    assert.equal(problems(m).length, 3);
  });
});

describe("saving", () => {
  /** A session's worth of edits on the default map. */
  function edit(m: Editable): { garden: ReturnType<typeof addConference>; board: TiledObject; solid: TiledObject } {
    for (const [x, y] of tileLine(1, 1, 12, 6)) setTile(m, layerName(m, "ground"), x, y, 5);
    for (const [x, y] of tileRect(50, 30, 52, 31)) setTile(m, layerName(m, "walls"), x, y, 25);
    const garden = addConference(m, "Garden Stage");
    for (const [x, y] of tileRect(40, 30, 44, 32)) setTile(m, "__Conference", x, y, garden.gid);
    renameConference(m, "C3", "Quiet Room");
    removeConference(m, "C2");
    const board = addObject(m, { gid: 70, tx: 41, ty: 30, solid: false, interact: "FILE_SHARE", title: "Garden files" }).object;
    const solid = addObject(m, { gid: 81, tx: 43, ty: 32, solid: true }).object;
    removeObject(m, 2);
    return { garden, board, solid };
  }

  test("an edited map survives JSON.stringify and JSON.parse valid and with its edits", () => {
    const m = fresh();
    const { garden, board, solid } = edit(m);
    assert.deepEqual(problems(m), []);
    const back = JSON.parse(JSON.stringify(m)) as Editable;
    assert.deepEqual(back, m);
    assert.deepEqual(problems(back), []);
    assert.equal(tileAt(back, "Ground", 12, 6), 5);
    assert.equal(tileAt(back, "Collision", 51, 31), 25);
    assert.deepEqual(conferences(back).map((c) => [c.id, c.name]), [["C1", "Main Stage"], ["C3", "Quiet Room"], ["C4", "Garden Stage"]]);
    assert.equal(conferenceSizes(back).get(garden.gid), 15);
    assert.equal(objectAt(back, 41 * TW + 1, 30 * TW + 1)?.id, board.id);
    assert.equal(objectAt(back, 43 * TW + 1, 32 * TW + 1)?.id, solid.id);
    assert.ok(!objectIds(back).includes(2));
    assert.ok(interactives(back).some((i) => i.kind === "FILE_SHARE" && i.title === "Garden files"));
  });

  test("the saved text loads back through the editor's own pipeline unchanged", async () => {
    const m = fresh();
    edit(m);
    const text = JSON.stringify(m);
    const loaded = prepare(await decodeLayers(checkTiledMap(text)));
    assert.deepEqual(loaded, m);
    assert.deepEqual(problems(loaded), []);
  });
});
