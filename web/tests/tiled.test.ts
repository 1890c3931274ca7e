// Unit tests for the pure Tiled helpers the map editor builds on (src/game/tiled.ts):
// flattening layer groups, gids with flip flags, properties, finding a gid's tileset,
// decoding base64 / zlib / gzip tile data, and the checks run on a map's text.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkTiledMap, decodeLayers, flatLayers, gidOf, prop, tilesetOf, type TiledLayer, type TiledMap, type TiledTileset } from "../src/game/tiled";

const tileset = (name: string, firstgid: number, tilecount: number): TiledTileset =>
  ({ name, firstgid, tilecount, tilewidth: 32, tileheight: 32, columns: tilecount, image: `${name}.png` });

const map = (layers: TiledLayer[], tilesets: TiledTileset[] = []): TiledMap =>
  ({ width: 3, height: 2, tilewidth: 32, tileheight: 32, orientation: "orthogonal", layers, tilesets });

const GIDS = [1, 2, 0, 100_001, (0x80000000 | 3) >>> 0, 0];

/** Tile data as Tiled writes it: little-endian uint32s, optionally compressed, in base64. */
async function encode(gids: number[], compression?: "zlib" | "gzip"): Promise<string> {
  const view = new DataView(new ArrayBuffer(gids.length * 4));
  gids.forEach((g, i) => view.setUint32(i * 4, g, true));
  let bytes = new Uint8Array(view.buffer);
  if (compression) {
    const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream(compression === "zlib" ? "deflate" : "gzip"));
    bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  }
  return btoa(String.fromCharCode(...bytes));
}

describe("flatLayers", () => {
  test("lists the layers inside groups, in drawing order, without the groups", () => {
    const layers: TiledLayer[] = [
      { name: "A", type: "tilelayer" },
      { name: "G", type: "group", layers: [{ name: "B", type: "tilelayer" }, { name: "H", type: "group", layers: [{ name: "C", type: "objectgroup" }] }] },
      { name: "D", type: "imagelayer" },
      { name: "Empty", type: "group" },
    ];
    assert.deepEqual(flatLayers(layers).map((l) => l.name), ["A", "B", "C", "D"]);
  });
});

describe("gidOf", () => {
  test("drops the horizontal, vertical and diagonal flip flags", () => {
    assert.equal(gidOf(25), 25);
    assert.equal(gidOf((0x80000000 | 25) >>> 0), 25);
    assert.equal(gidOf(0x40000000 | 25), 25);
    assert.equal(gidOf(0x20000000 | 25), 25);
    assert.equal(gidOf((0xe0000000 | 100_001) >>> 0), 100_001);
    assert.equal(gidOf(0), 0);
  });
});

describe("prop", () => {
  test("reads a property by name, and undefined when it or the list is missing", () => {
    const props = [{ name: "interact", type: "string", value: "FILE_SHARE" }, { name: "spawnX", type: "int", value: 50 }];
    assert.equal(prop(props, "interact"), "FILE_SHARE");
    assert.equal(prop(props, "spawnX"), 50);
    assert.equal(prop(props, "title"), undefined);
    assert.equal(prop(undefined, "title"), undefined);
  });
});

describe("tilesetOf", () => {
  test("finds the tileset with the largest firstgid not above the gid, whatever the tilesets' order", () => {
    const a = tileset("a", 1, 10);
    const b = tileset("b", 11, 5);
    const c = tileset("c", 100_001, 1);
    const m = map([], [c, a, b]);
    assert.equal(tilesetOf(m, 1), a);
    assert.equal(tilesetOf(m, 10), a);
    assert.equal(tilesetOf(m, 11), b);
    assert.equal(tilesetOf(m, 15), b);
    assert.equal(tilesetOf(m, 100_001), c);
    assert.equal(tilesetOf(m, 0), undefined);
  });
});

describe("decodeLayers", () => {
  for (const compression of [undefined, "zlib", "gzip"] as const) {
    test(`turns base64${compression ? ` + ${compression}` : ""} tile data into a plain array, keeping flip flags`, async () => {
      const l: TiledLayer = { name: "Ground", type: "tilelayer", width: 3, height: 2, encoding: "base64", data: await encode(GIDS, compression) };
      if (compression) l.compression = compression;
      const m = await decodeLayers(map([{ name: "G", type: "group", layers: [l] }]));
      const out = flatLayers(m.layers)[0];
      assert.deepEqual(out.data, GIDS);
      assert.equal(out.encoding, undefined);
      assert.equal(out.compression, undefined);
    });
  }

  test("leaves plain arrays and object layers alone", async () => {
    const layers: TiledLayer[] = [{ name: "Ground", type: "tilelayer", data: [...GIDS] }, { name: "Object", type: "objectgroup", objects: [] }];
    const before = structuredClone(layers);
    const m = await decodeLayers(map(layers));
    assert.deepEqual(m.layers, before);
  });
});

describe("checkTiledMap", () => {
  const text = (patch: Record<string, unknown>): string => JSON.stringify({ ...map([{ name: "Ground", type: "tilelayer", data: [0, 0, 0, 0, 0, 0] }]), ...patch });

  test("accepts an orthogonal, finite map with embedded tilesets", () => {
    assert.equal(checkTiledMap(text({})).width, 3);
  });

  test("says what to fix in Tiled when the map cannot be used", () => {
    assert.throws(() => checkTiledMap("{"), /not JSON/);
    assert.throws(() => checkTiledMap("{}"), /not a Tiled map/);
    assert.throws(() => checkTiledMap(text({ orientation: "isometric" })), /Only orthogonal maps are supported \(this one is isometric\)/);
    assert.throws(() => checkTiledMap(text({ infinite: true })), /Infinite maps are not supported/);
    assert.throws(() => checkTiledMap(text({ width: 0 })), /no size/);
    assert.throws(() => checkTiledMap(text({ width: 501, height: 500 })), /too large/);
    assert.throws(() => checkTiledMap(text({ tilesets: [{ firstgid: 1, source: "floors.tsx" }] })), /Embed Tileset/);
    assert.throws(() => checkTiledMap(text({ layers: [{ name: "Ground", type: "tilelayer", compression: "zstd", data: "" }] })), /zstd/);
  });
});
