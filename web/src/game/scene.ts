// The world as Phaser draws it: the Tiled map with its walls, the user's avatar (keyboard and
// touch), other avatars moving smoothly between the server's updates, conference areas and
// interactive objects. It knows nothing of the network: the `hooks` report what the user does.

import Phaser from "phaser";
import { STATIC, type AvatarManifest } from "../api";
import { conferenceGrid, interactives, prop, type Conference, type Interactive, type TiledMap } from "./tiled";
import { drawObject, drawTiles, gameConfig, objectLayers, preloadTiles } from "./draw";

export const SPEED = 200;
/** How close (px) the avatar must be to use an interactive object. */
export const INTERACT_RADIUS = 50;
const DIRECTIONS = ["down", "left", "right", "up"] as const;
type Dir = (typeof DIRECTIONS)[number];

export interface Vec {
  x: number;
  y: number;
}

export interface SceneHooks {
  /** The avatar's velocity changed, or it moved for a while at the same velocity. */
  moved(position: Vec, velocity: Vec): void;
  /** The avatar entered (or, with null, left) a conference area. */
  conference(c: Conference | null): void;
  /** The user clicked an interactive object in reach (key X is the page's). */
  interact(o: Interactive): void;
  /** Which interactive object is in reach now, for the hint. */
  reach(o: Interactive | null): void;
  /** The scene is drawn and the avatar placed. */
  ready(): void;
}

interface Remote {
  sprite: Phaser.GameObjects.Sprite;
  label: Phaser.GameObjects.Text;
  /** "reconnecting…" under the avatar while its connection is down (it is dimmed then). */
  away: Phaser.GameObjects.Text | null;
  avatar: string;
  /** Last reported position and velocity, and when it arrived. */
  at: Vec;
  vel: Vec;
  t: number;
  dir: Dir;
}

export interface SceneInput {
  map: TiledMap;
  manifest: AvatarManifest;
  me: { id: string; name: string; avatar: string; spawn: Vec };
  hooks: SceneHooks;
}

/** Frame of avatar `name` facing `dir` (step 0, 1 = standing, 2) in its sheet. */
function frameOf(m: AvatarManifest, name: string, dir: Dir, step: number): { sheet: string; frame: number } | null {
  const a = m.avatars.find((x) => x.name === name) ?? m.avatars[0];
  if (!a) return null;
  const col = a.x / m.frameWidth + step;
  const row = a.y / m.frameHeight + DIRECTIONS.indexOf(dir);
  return { sheet: `avatar:${a.sheet}`, frame: row * m.sheetColumns + col };
}

export class WorldScene extends Phaser.Scene {
  private player!: Phaser.Types.Physics.Arcade.SpriteWithDynamicBody;
  private label!: Phaser.GameObjects.Text;
  private readonly remotes = new Map<string, Remote>();
  private keys!: Record<string, Phaser.Input.Keyboard.Key>;
  private dir: Dir = "down";
  private lastSent = { vx: 0, vy: 0, t: 0 };
  private conferences!: ReturnType<typeof conferenceGrid>;
  private currentConference: Conference | null = null;
  private objects: Interactive[] = [];
  private inReach: Interactive | null = null;
  private touchTarget: Vec | null = null;
  /** A map reload is under way (the scene restarts); a newer map waits in `queuedMap`. */
  private reloading = false;
  private queuedMap: TiledMap | null = null;
  /** Others to draw again after a map reload. */
  private carried: { id: string; name: string; avatar: string; at: Vec | null; vel: Vec; away: boolean }[] = [];
  /** While a text field has focus, the keyboard belongs to it. */
  typing = false;
  /** False while the role forbids walking. */
  canWalk = true;

  constructor(private readonly input0: SceneInput) {
    super("world");
  }

  preload(): void {
    const { map, manifest } = this.input0;
    preloadTiles(this, map);
    for (const sheet of new Set(manifest.avatars.map((a) => a.sheet))) {
      if (!this.textures.exists(`avatar:${sheet}`)) this.load.spritesheet(`avatar:${sheet}`, `${STATIC}/characters/${sheet}`, { frameWidth: manifest.frameWidth, frameHeight: manifest.frameHeight });
    }
    this.cache.tilemap.remove("map");
    this.load.tilemapTiledJSON("map", map);
    this.load.on("loaderror", (f: Phaser.Loader.File) => console.warn(`could not load ${f.src}`));
  }

  create(): void {
    const { map: tm, me, hooks } = this.input0;
    const { map, walls } = drawTiles(this, tm, "map");
    const colliders = this.physics.add.staticGroup();
    for (const l of objectLayers(tm)) {
      for (const o of l.objects ?? []) {
        if (!drawObject(this, tm, o)) continue;
        if (l.name === "ObjectCollision") colliders.add(this.add.zone(o.x + o.width / 2, o.y - o.height / 2, o.width, o.height));
      }
    }
    this.conferences = conferenceGrid(tm);
    this.objects = interactives(tm);
    for (const o of this.objects) {
      const zone = this.add.zone(o.x + o.width / 2, o.y + o.height / 2, Math.max(o.width, 32), Math.max(o.height, 32)).setInteractive({ useHandCursor: true });
      zone.on("pointerdown", () => {
        if (this.distanceTo(o) <= INTERACT_RADIUS) hooks.interact(o);
      });
    }
    this.drawConferenceNames(tm.tilewidth, tm.tileheight);

    if (!this.anims.exists(`${this.input0.manifest.avatars[0]?.name}:down`)) this.makeAnimations();
    const f = frameOf(this.input0.manifest, me.avatar, "down", 1);
    this.player = this.physics.add.sprite(me.spawn.x, me.spawn.y, f?.sheet ?? "", f?.frame);
    this.player.body.setSize(26, 10).setOffset(10, 34);
    this.player.setCollideWorldBounds(true);
    this.label = this.nameLabel(me.name, true);
    this.physics.world.setBounds(0, 0, map.widthInPixels, map.heightInPixels);
    for (const w of walls) this.physics.add.collider(this.player, w);
    this.physics.add.collider(this.player, colliders);

    const cam = this.cameras.main;
    cam.setBounds(0, 0, map.widthInPixels, map.heightInPixels);
    cam.startFollow(this.player, true, 0.2, 0.2);
    cam.setZoom(this.scale.width < 600 ? 1 : 1.5);
    cam.setBackgroundColor("#1f2430");

    const kb = this.input.keyboard!;
    this.keys = kb.addKeys("UP,DOWN,LEFT,RIGHT,W,A,S,D") as Record<string, Phaser.Input.Keyboard.Key>;
    kb.disableGlobalCapture();
    kb.on("keydown", () => this.player && this.steer());
    kb.on("keyup", () => this.player && this.steer());
    this.input.on("pointerdown", (p: Phaser.Input.Pointer) => {
      if (p.wasTouch) this.touchTarget = { x: p.worldX, y: p.worldY };
    });
    this.input.on("pointermove", (p: Phaser.Input.Pointer) => {
      if (p.isDown && this.touchTarget) this.touchTarget = { x: p.worldX, y: p.worldY };
    });
    this.input.on("pointerup", () => (this.touchTarget = null));
    const zoom = () => cam.setZoom(this.scale.width < 600 ? 1 : 1.5);
    this.scale.on("resize", zoom);
    this.events.once(Phaser.Scenes.Events.SHUTDOWN, () => this.scale.off("resize", zoom));
    // After a map reload, the others are drawn again where they were.
    for (const r of this.carried.splice(0)) {
      this.upsertRemote(r.id, r.name, r.avatar, r.at);
      if (r.at) this.moveRemote(r.id, r.at, r.vel);
      if (r.away) this.setReconnecting(r.id, true);
    }
    this.reloading = false;
    hooks.ready();
    const queued = this.queuedMap;
    this.queuedMap = null;
    if (queued) this.reloadMap(queued);
  }

  /**
   * Redraws the world on `map` (the map was edited), keeping the avatar where it stands and
   * the others where they are; the network session is not touched.
   */
  reloadMap(map: TiledMap): void {
    if (!this.player) return;
    if (this.reloading) {
      // Another edit came while the last one loads: draw the newest once this one is up.
      this.queuedMap = map;
      return;
    }
    this.reloading = true;
    this.input0.map = map;
    this.input0.me.spawn = this.position();
    this.carried = [...this.remotes.entries()].map(([id, r]) => ({ id, name: r.label.text, avatar: r.avatar, at: r.sprite.visible ? r.at : null, vel: r.vel, away: !!r.away }));
    this.remotes.clear();
    this.inReach = null;
    this.scene.restart();
  }

  private drawConferenceNames(tw: number, th: number): void {
    const first = new Map<string, Vec>();
    const tm = this.input0.map;
    for (let ty = 0; ty < tm.height; ty++)
      for (let tx = 0; tx < tm.width; tx++) {
        const c = this.conferences.at(tx, ty);
        if (c && !first.has(c.id)) first.set(c.id, { x: tx * tw, y: ty * th });
      }
    for (const c of this.conferences.all) {
      const p = first.get(c.id)!;
      this.add.text(p.x + 4, p.y + 2, c.name, { fontSize: "11px", color: "#fff", backgroundColor: "#3b5bdbcc", padding: { x: 4, y: 1 } }).setDepth(1_000_001);
    }
  }

  private makeAnimations(): void {
    const m = this.input0.manifest;
    for (const a of m.avatars) {
      for (const d of DIRECTIONS) {
        const frames = [0, 1, 2, 1].map((s) => frameOf(m, a.name, d, s)!);
        if (!this.textures.exists(frames[0].sheet)) continue;
        this.anims.create({
          key: `${a.name}:${d}`,
          frames: frames.map((f) => ({ key: f.sheet, frame: f.frame })),
          frameRate: 8,
          repeat: -1,
        });
      }
    }
  }

  private nameLabel(text: string, mine: boolean): Phaser.GameObjects.Text {
    return this.add
      .text(0, 0, text, { fontSize: "11px", fontFamily: "system-ui, sans-serif", color: mine ? "#fff3bf" : "#ffffff", backgroundColor: "#00000099", padding: { x: 3, y: 1 } })
      .setOrigin(0.5, 1)
      .setResolution(2);
  }

  private distanceTo(o: Interactive): number {
    const cx = Phaser.Math.Clamp(this.player.x, o.x, o.x + o.width);
    const cy = Phaser.Math.Clamp(this.player.y, o.y, o.y + o.height);
    return Math.hypot(this.player.x - cx, this.player.y - cy);
  }

  /**
   * Where the avatar stands now (the wire position: the sprite's centre). Read from the physics
   * body, which is a step ahead of the sprite during update(); the body's centre is 1 px left
   * of and 15 px below the sprite's (spec §9.5).
   */
  position(): Vec {
    const c = this.player.body.center;
    return { x: Math.round((c.x + 1) * 100) / 100, y: Math.round((c.y - 15) * 100) / 100 };
  }

  /** Puts the avatar at `p` (the server corrected or restored its position). */
  teleport(p: Vec): void {
    this.player.setPosition(p.x, p.y);
    this.player.body.reset(p.x, p.y);
  }

  /**
   * Sets the avatar's velocity from the keys (or the touch target). Called every frame, and as
   * soon as a key goes down or up: the keyboard is read before the physics step, so a released
   * key stops the avatar in that frame instead of after one more step at the old velocity (on a
   * slow device one frame can be tens of pixels).
   */
  private steer(): number {
    let vx = 0;
    let vy = 0;
    if (!this.typing && this.canWalk) {
      const k = this.keys;
      vx = (k.LEFT.isDown || k.A.isDown ? -1 : 0) + (k.RIGHT.isDown || k.D.isDown ? 1 : 0);
      vy = (k.UP.isDown || k.W.isDown ? -1 : 0) + (k.DOWN.isDown || k.S.isDown ? 1 : 0);
      if (!vx && !vy && this.touchTarget) {
        const dx = this.touchTarget.x - this.player.x;
        const dy = this.touchTarget.y - this.player.y;
        if (Math.hypot(dx, dy) > 8) {
          vx = dx;
          vy = dy;
        }
      }
    }
    const len = Math.hypot(vx, vy);
    if (len) {
      vx = (vx / len) * SPEED;
      vy = (vy / len) * SPEED;
      this.dir = Math.abs(vx) > Math.abs(vy) ? (vx < 0 ? "left" : "right") : vy < 0 ? "up" : "down";
    }
    this.player.setVelocity(vx, vy);
    return len;
  }

  update(time: number, delta: number): void {
    if (!this.player) return;
    const { hooks } = this.input0;
    const len = this.steer();
    this.animate(this.player, this.input0.me.avatar, this.dir, !!len);
    this.player.setDepth(this.player.y + 24);
    this.label.setPosition(this.player.x, this.player.y - 22).setDepth(1_000_002);

    // Report a change of velocity at once, and a steady walk five times a second.
    const actual = this.player.body.velocity;
    const rvx = Math.round(actual.x);
    const rvy = Math.round(actual.y);
    if (rvx !== this.lastSent.vx || rvy !== this.lastSent.vy || ((rvx || rvy) && time - this.lastSent.t >= 200)) {
      this.lastSent = { vx: rvx, vy: rvy, t: time };
      hooks.moved(this.position(), { x: rvx, y: rvy });
    }

    const tm = this.input0.map;
    const centre = this.player.body.center;
    const c = this.conferences.at(Math.floor(centre.x / tm.tilewidth), Math.floor(centre.y / tm.tileheight));
    if (c?.id !== this.currentConference?.id) {
      this.currentConference = c;
      hooks.conference(c);
    }
    let near: Interactive | null = null;
    for (const o of this.objects) if (this.distanceTo(o) <= INTERACT_RADIUS) near = o;
    if (near !== this.inReach) {
      this.inReach = near;
      hooks.reach(near);
    }

    // Others: carry each along its last velocity (for at most 300 ms), then ease the sprite there.
    const now = performance.now();
    const ease = Math.min(1, delta / 80);
    for (const r of this.remotes.values()) {
      const ahead = Math.min(now - r.t, 300) / 1000;
      const tx = r.at.x + r.vel.x * ahead;
      const ty = r.at.y + r.vel.y * ahead;
      const s = r.sprite;
      if (Math.hypot(tx - s.x, ty - s.y) > 160) s.setPosition(tx, ty);
      else s.setPosition(s.x + (tx - s.x) * ease, s.y + (ty - s.y) * ease);
      const moving = (r.vel.x || r.vel.y) && now - r.t < 1000;
      this.animate(s, r.avatar, r.dir, !!moving);
      s.setDepth(s.y + 24);
      r.label.setPosition(s.x, s.y - 22).setDepth(1_000_002);
      r.away?.setPosition(s.x, s.y + 26).setDepth(1_000_002).setVisible(s.visible);
    }
  }

  private animate(s: Phaser.GameObjects.Sprite, avatar: string, dir: Dir, moving: boolean): void {
    const key = `${avatar}:${dir}`;
    if (moving) {
      if (s.anims.currentAnim?.key !== key || !s.anims.isPlaying) s.play(key, true);
    } else {
      s.anims.stop();
      const f = frameOf(this.input0.manifest, avatar, dir, 1);
      if (f && (s.texture.key !== f.sheet || Number(s.frame.name) !== f.frame)) s.setTexture(f.sheet, f.frame);
    }
  }

  /** Adds or updates another user's avatar. */
  upsertRemote(id: string, name: string, avatar: string, at: Vec | null): void {
    let r = this.remotes.get(id);
    if (!r) {
      const p = at ?? { x: -1000, y: -1000 };
      const f = frameOf(this.input0.manifest, avatar, "down", 1);
      const sprite = this.add.sprite(p.x, p.y, f?.sheet ?? "", f?.frame);
      r = { sprite, label: this.nameLabel(name, false), away: null, avatar, at: p, vel: { x: 0, y: 0 }, t: performance.now(), dir: "down" };
      sprite.setVisible(!!at);
      r.label.setVisible(!!at);
      this.remotes.set(id, r);
    } else {
      r.label.setText(name);
      r.avatar = avatar;
      if (at) this.moveRemote(id, at, { x: 0, y: 0 });
    }
  }

  moveRemote(id: string, at: Vec, vel: Vec): void {
    const r = this.remotes.get(id);
    if (!r) return;
    if (!r.sprite.visible) {
      r.sprite.setVisible(true).setPosition(at.x, at.y);
      r.label.setVisible(true);
    }
    r.at = at;
    r.vel = vel;
    r.t = performance.now();
    if (vel.x || vel.y) r.dir = Math.abs(vel.x) > Math.abs(vel.y) ? (vel.x < 0 ? "left" : "right") : vel.y < 0 ? "up" : "down";
  }

  removeRemote(id: string): void {
    const r = this.remotes.get(id);
    if (!r) return;
    r.sprite.destroy();
    r.label.destroy();
    r.away?.destroy();
    this.remotes.delete(id);
  }

  /**
   * Shows another avatar as reconnecting (dimmed, "reconnecting…" under it: the server keeps
   * its place while its connection is down), or as itself again.
   */
  setReconnecting(id: string, on: boolean): void {
    const r = this.remotes.get(id);
    if (!r || on === !!r.away) return;
    r.sprite.setAlpha(on ? 0.4 : 1);
    r.label.setAlpha(on ? 0.6 : 1);
    if (on) {
      r.away = this.add
        .text(r.sprite.x, r.sprite.y + 26, "reconnecting…", { fontSize: "10px", fontFamily: "system-ui, sans-serif", fontStyle: "italic", color: "#dddddd", backgroundColor: "#00000080", padding: { x: 3, y: 1 } })
        .setOrigin(0.5, 0)
        .setResolution(2)
        .setVisible(r.sprite.visible);
    } else {
      r.away?.destroy();
      r.away = null;
    }
  }

  /** Where another avatar is drawn now (null if unknown). */
  remotePosition(id: string): Vec | null {
    const r = this.remotes.get(id);
    return r && r.sprite.visible ? { x: r.sprite.x, y: r.sprite.y } : null;
  }
}

/** Starts Phaser in `parent` with the world scene. */
export function startGame(parent: HTMLElement, input: SceneInput): { game: Phaser.Game; scene: WorldScene } {
  const scene = new WorldScene(input);
  const game = new Phaser.Game({
    ...gameConfig(parent, scene, "#1f2430"),
    // Movement follows real time even when frames are slow (a busy laptop, a phone): no delta
    // smoothing, and fixed 60 Hz physics steps, as many per frame as the time that passed. One
    // step per frame instead let a slow page (5 frames a second: 40 px a step) walk through walls.
    physics: { default: "arcade", arcade: { debug: false, fixedStep: true, fps: 60 } },
    fps: { smoothStep: false },
  });
  return { game, scene };
}

export { prop };
