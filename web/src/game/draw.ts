// Drawing a Tiled map in a Phaser scene, shared by the world view and the map editor: loading
// the tileset images, creating the tile layers, drawing tile objects; and the shared game settings.

import Phaser from "phaser";
import { STATIC } from "../api";
import { flatLayers, gidOf, isAboveLayer, isCollisionLayer, isHiddenLayer, tilesetOf, type TiledLayer, type TiledMap, type TiledObject } from "./tiled";

/** Conference tilesets are markers, never drawn. */
export const isConferenceTileset = (name: string): boolean => name.startsWith("__CONFERENCE");

/** Queues the images of every tileset of `tm` that is not loaded yet. */
export function preloadTiles(scene: Phaser.Scene, tm: TiledMap): void {
  for (const t of tm.tilesets) {
    if (isConferenceTileset(t.name)) continue;
    if (t.image) {
      if (scene.textures.exists(`ts:${t.name}`)) continue;
      scene.load.spritesheet(`ts:${t.name}`, `${STATIC}/maps/${t.image}`, {
        frameWidth: t.tilewidth, frameHeight: t.tileheight, margin: t.margin ?? 0, spacing: t.spacing ?? 0,
      });
    } else {
      for (const tile of t.tiles ?? []) {
        if (tile.image && !scene.textures.exists(`tile:${t.firstgid + tile.id}`)) scene.load.image(`tile:${t.firstgid + tile.id}`, `${STATIC}/maps/${tile.image}`);
      }
    }
  }
}

export interface DrawnMap {
  map: Phaser.Tilemaps.Tilemap;
  /** Drawn tile layers by the Tiled layer's name. */
  layers: Map<string, Phaser.Tilemaps.TilemapLayer>;
  /** Layers that block walking. */
  walls: Phaser.Tilemaps.TilemapLayer[];
}

/**
 * Draws the tile layers of `tm` (put in the tilemap cache under `key`). With `showHidden`,
 * layers normally never drawn are drawn too (the editor shows everything but conference markers).
 */
export function drawTiles(scene: Phaser.Scene, tm: TiledMap, key: string, showHidden = false): DrawnMap {
  const map = scene.make.tilemap({ key });
  const tilesets = tm.tilesets
    .filter((t) => t.image && !isConferenceTileset(t.name) && scene.textures.exists(`ts:${t.name}`))
    .map((t) => map.addTilesetImage(t.name, `ts:${t.name}`, t.tilewidth, t.tileheight, t.margin ?? 0, t.spacing ?? 0))
    .filter((t): t is Phaser.Tilemaps.Tileset => !!t);
  const layers = new Map<string, Phaser.Tilemaps.TilemapLayer>();
  const walls: Phaser.Tilemaps.TilemapLayer[] = [];
  const byName = new Map(flatLayers(tm.layers).map((l) => [l.name, l]));
  for (const ld of map.layers) {
    const tl = byName.get(ld.name.split("/").pop() ?? ld.name);
    if (!tl || tl.name.startsWith("__Conference")) continue;
    const hidden = isHiddenLayer(tl) && !showHidden;
    if (hidden && !isCollisionLayer(tl)) continue;
    const layer = map.createLayer(ld.name, tilesets);
    if (!layer) continue;
    layer.setDepth(isAboveLayer(tl) ? 1_000_000 : 0).setAlpha(tl.opacity ?? 1).setVisible(!hidden);
    layers.set(tl.name, layer);
    if (isCollisionLayer(tl)) {
      layer.setCollisionByExclusion([-1]);
      walls.push(layer);
    }
  }
  return { map, layers, walls };
}

/** Draws one tile object (anchored at its bottom-left corner, as Tiled places them). */
export function drawObject(scene: Phaser.Scene, tm: TiledMap, o: TiledObject): Phaser.GameObjects.Image | null {
  if (!o.gid || o.visible === false) return null;
  const gid = gidOf(o.gid);
  const ts = tilesetOf(tm, gid);
  if (!ts) return null;
  const key = ts.image ? `ts:${ts.name}` : `tile:${gid}`;
  if (!scene.textures.exists(key)) return null;
  const img = ts.image ? scene.add.image(o.x, o.y, key, gid - ts.firstgid) : scene.add.image(o.x, o.y, key);
  return img.setOrigin(0, 1).setDisplaySize(o.width, o.height).setDepth(o.y);
}

/** Object layers that are drawn. */
export const objectLayers = (tm: TiledMap): TiledLayer[] => flatLayers(tm.layers).filter((l) => l.type === "objectgroup" && !isHiddenLayer(l));

/** What every CrowdWire Phaser game shares: pixel art that fills `parent`, no audio, keys from the window. */
export function gameConfig(parent: HTMLElement, scene: Phaser.Scene, backgroundColor: string): Phaser.Types.Core.GameConfig {
  return {
    type: Phaser.AUTO,
    parent,
    backgroundColor,
    pixelArt: true,
    scale: { mode: Phaser.Scale.RESIZE, width: parent.clientWidth || 800, height: parent.clientHeight || 600 },
    scene,
    banner: false,
    audio: { noAudio: true },
    input: { keyboard: { target: window } },
  };
}
