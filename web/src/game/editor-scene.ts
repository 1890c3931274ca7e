// The map editor's canvas: draws the map being edited (every layer, conference areas as
// coloured tiles, a grid), lets the user pan and zoom, and reports pointer strokes in tiles.
// What a stroke does to the map is the editor screen's business (map-edit.ts).

import Phaser from "phaser";
import { drawObject, drawTiles, gameConfig, objectLayers, preloadTiles, type DrawnMap } from "./draw";
import { conferenceGrid, type TiledMap, type TiledObject } from "./tiled";

export interface Stroke {
  tx: number;
  ty: number;
  /** Pixel position in the map. */
  x: number;
  y: number;
  phase: "down" | "move" | "up";
  /** Right button (erase). */
  erase: boolean;
}

export interface EditorHooks {
  stroke(s: Stroke): void;
  /** The scene is drawn (again, after a rebuild). */
  ready(): void;
}

const hue = (id: string): number => {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return (h * 47) % 360;
};

export class EditorScene extends Phaser.Scene {
  private drawn!: DrawnMap;
  private readonly images = new Map<number, Phaser.GameObjects.Image>();
  private areas!: Phaser.GameObjects.Graphics;
  private names: Phaser.GameObjects.Text[] = [];
  private cursor!: Phaser.GameObjects.Rectangle;
  private selection!: Phaser.GameObjects.Rectangle;
  private areasDirty = true;
  private keys!: Record<string, Phaser.Input.Keyboard.Key>;
  private panning: { x: number; y: number } | null = null;
  private stroking = false;
  private revision = 0;
  /** True while a text field has the keyboard. */
  typing = false;
  /** Pan instead of painting with the left button. */
  panMode = false;

  constructor(private model: TiledMap, private readonly hooks: EditorHooks) {
    super("editor");
  }

  preload(): void {
    preloadTiles(this, this.model);
    this.load.tilemapTiledJSON(`edit:${this.revision}`, this.model);
  }

  create(): void {
    const tm = this.model;
    this.drawn = drawTiles(this, tm, `edit:${this.revision}`, true);
    this.images.clear();
    for (const l of objectLayers(tm)) for (const o of l.objects ?? []) this.addObject(o);
    const w = tm.width * tm.tilewidth;
    const hgt = tm.height * tm.tileheight;
    this.add.grid(w / 2, hgt / 2, w, hgt, tm.tilewidth, tm.tileheight).setOutlineStyle(0xffffff, 0.08).setDepth(2_000_000);
    this.areas = this.add.graphics().setDepth(2_000_001);
    this.names = [];
    this.areasDirty = true;
    this.cursor = this.add.rectangle(0, 0, tm.tilewidth, tm.tileheight).setOrigin(0).setStrokeStyle(2, 0xffe066).setDepth(2_000_003);
    this.selection = this.add.rectangle(0, 0, 0, 0, 0x4dabf7, 0.25).setOrigin(0).setStrokeStyle(1, 0x4dabf7).setDepth(2_000_002).setVisible(false);

    const cam = this.cameras.main;
    cam.setBackgroundColor("#11141b");
    cam.setBounds(-256, -256, w + 512, hgt + 512);
    this.input.mouse?.disableContextMenu();
    const kb = this.input.keyboard!;
    this.keys = kb.addKeys("UP,DOWN,LEFT,RIGHT,SPACE") as Record<string, Phaser.Input.Keyboard.Key>;
    kb.disableGlobalCapture();

    const tileOf = (p: Phaser.Input.Pointer) => ({ tx: Math.floor(p.worldX / tm.tilewidth), ty: Math.floor(p.worldY / tm.tileheight), x: p.worldX, y: p.worldY });
    this.input.on("pointerdown", (p: Phaser.Input.Pointer) => {
      if (p.middleButtonDown() || this.panMode || this.keys.SPACE.isDown) {
        this.panning = { x: p.x, y: p.y };
        return;
      }
      this.stroking = true;
      this.hooks.stroke({ ...tileOf(p), phase: "down", erase: p.rightButtonDown() });
    });
    this.input.on("pointermove", (p: Phaser.Input.Pointer) => {
      const t = tileOf(p);
      this.cursor.setPosition(t.tx * tm.tilewidth, t.ty * tm.tileheight);
      if (this.panning) {
        cam.scrollX -= (p.x - this.panning.x) / cam.zoom;
        cam.scrollY -= (p.y - this.panning.y) / cam.zoom;
        this.panning = { x: p.x, y: p.y };
      } else if (this.stroking && p.isDown) {
        this.hooks.stroke({ ...t, phase: "move", erase: p.rightButtonDown() });
      }
    });
    const up = (p: Phaser.Input.Pointer) => {
      if (this.panning) this.panning = null;
      else if (this.stroking) {
        this.stroking = false;
        this.hooks.stroke({ ...tileOf(p), phase: "up", erase: p.rightButtonReleased() });
      }
    };
    this.input.on("pointerup", up);
    this.input.on("pointerupoutside", up);
    this.input.on("wheel", (p: Phaser.Input.Pointer, _o: unknown, _dx: number, dy: number) => {
      const before = cam.getWorldPoint(p.x, p.y);
      cam.setZoom(Phaser.Math.Clamp(cam.zoom * (dy > 0 ? 0.9 : 1.1), 0.25, 4));
      const after = cam.getWorldPoint(p.x, p.y);
      cam.scrollX += before.x - after.x;
      cam.scrollY += before.y - after.y;
    });
    this.hooks.ready();
  }

  update(_time: number, delta: number): void {
    const cam = this.cameras.main;
    if (!this.typing && this.keys) {
      const step = (delta / 1000) * 600 / cam.zoom;
      if (this.keys.LEFT.isDown) cam.scrollX -= step;
      if (this.keys.RIGHT.isDown) cam.scrollX += step;
      if (this.keys.UP.isDown) cam.scrollY -= step;
      if (this.keys.DOWN.isDown) cam.scrollY += step;
    }
    if (this.areasDirty) this.drawAreas();
  }

  /** Redraws the conference areas (at most once a frame). */
  private drawAreas(): void {
    this.areasDirty = false;
    const tm = this.model;
    const grid = conferenceGrid(tm);
    const g = this.areas.clear();
    const first = new Map<string, { x: number; y: number }>();
    for (let ty = 0; ty < tm.height; ty++)
      for (let tx = 0; tx < tm.width; tx++) {
        const c = grid.at(tx, ty);
        if (!c) continue;
        if (!first.has(c.id)) first.set(c.id, { x: tx * tm.tilewidth, y: ty * tm.tileheight });
        g.fillStyle(Phaser.Display.Color.HSLToColor(hue(c.id) / 360, 0.7, 0.5).color, 0.4);
        g.fillRect(tx * tm.tilewidth, ty * tm.tileheight, tm.tilewidth, tm.tileheight);
      }
    for (const t of this.names) t.destroy();
    this.names = grid.all.map((c) => {
      const p = first.get(c.id)!;
      return this.add.text(p.x + 3, p.y + 2, `${c.name} (${c.id})`, { fontSize: "11px", color: "#fff", backgroundColor: "#000000aa", padding: { x: 3, y: 1 } }).setDepth(2_000_004);
    });
  }

  // ----- mirroring the model's changes -----

  setTile(layer: string, tx: number, ty: number, gid: number): void {
    const l = this.drawn.layers.get(layer);
    if (!l) return;
    if (gid) l.putTileAt(gid, tx, ty);
    else l.removeTileAt(tx, ty);
  }

  conferencesChanged(): void {
    this.areasDirty = true;
  }

  addObject(o: TiledObject): void {
    const img = drawObject(this, this.model, o);
    if (img) this.images.set(o.id, img);
  }

  removeObject(id: number): void {
    this.images.get(id)?.destroy();
    this.images.delete(id);
  }

  /** Shows the rectangle being dragged (tiles), or hides it. */
  select(r: { x0: number; y0: number; x1: number; y1: number } | null): void {
    if (!r) {
      this.selection.setVisible(false);
      return;
    }
    const tm = this.model;
    const x = Math.min(r.x0, r.x1);
    const y = Math.min(r.y0, r.y1);
    this.selection
      .setPosition(x * tm.tilewidth, y * tm.tileheight)
      .setSize((Math.abs(r.x1 - r.x0) + 1) * tm.tilewidth, (Math.abs(r.y1 - r.y0) + 1) * tm.tileheight)
      .setVisible(true);
  }

  /** Draws `model` from scratch (after undo or redo). */
  rebuild(model: TiledMap): void {
    this.model = model;
    this.revision++;
    this.scene.restart();
  }

  zoomBy(f: number): void {
    const cam = this.cameras.main;
    cam.setZoom(Phaser.Math.Clamp(cam.zoom * f, 0.25, 4));
  }

  /** Where tile (tx, ty)'s centre is on the page, in CSS pixels (for tests). */
  pageOf(tx: number, ty: number): { x: number; y: number } {
    const cam = this.cameras.main;
    const tm = this.model;
    const wx = (tx + 0.5) * tm.tilewidth;
    const wy = (ty + 0.5) * tm.tileheight;
    const rect = this.game.canvas.getBoundingClientRect();
    const sx = (wx - cam.worldView.x) * cam.zoom;
    const sy = (wy - cam.worldView.y) * cam.zoom;
    return { x: rect.left + (sx * rect.width) / this.scale.width, y: rect.top + (sy * rect.height) / this.scale.height };
  }

  /** Centres the view on tile (tx, ty). */
  look(tx: number, ty: number): void {
    const tm = this.model;
    this.cameras.main.centerOn((tx + 0.5) * tm.tilewidth, (ty + 0.5) * tm.tileheight);
  }
}

export function startEditor(parent: HTMLElement, model: TiledMap, hooks: EditorHooks): { game: Phaser.Game; scene: EditorScene } {
  const scene = new EditorScene(model, hooks);
  const game = new Phaser.Game(gameConfig(parent, scene, "#11141b"));
  return { game, scene };
}
