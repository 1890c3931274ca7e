#!/usr/bin/env python3
"""CrowdWire asset generator.

Procedurally generates CrowdWire's own default world map (Tiled JSON), its
tilesets and the avatar sprite sheets.  Everything is drawn by this script
(no external art); all randomness uses fixed seeds, so rerunning it with the
same Pillow version reproduces the exact same bytes.

Usage:  python3 tools/gen-assets/gen_assets.py
Output: assets/static/{maps,characters}/...
"""
import json
import os
import random

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
STATIC = os.path.join(ROOT, "assets", "static")
MAPS = os.path.join(STATIC, "maps")
TILESETS = os.path.join(MAPS, "tilesets")
CHARS = os.path.join(STATIC, "characters")

T = 32  # tile size

# --------------------------------------------------------------------------
# colour helpers
# --------------------------------------------------------------------------
SHADOW_HUE = (30, 18, 54)
LIGHT_HUE = (255, 247, 222)
OUTLINE = (24, 16, 32)


def hexc(h, a=255):
    h = h.lstrip("#")
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), a)


def mix(a, b, t):
    return (
        max(0, min(255, round(a[0] + (b[0] - a[0]) * t))),
        max(0, min(255, round(a[1] + (b[1] - a[1]) * t))),
        max(0, min(255, round(a[2] + (b[2] - a[2]) * t))),
        a[3] if len(a) > 3 else 255,
    )


def dk(c, t=0.25):
    """Darker, hue-shifted towards cool purple (pixel-art style shadows)."""
    return mix(c, SHADOW_HUE, t)


def lt(c, t=0.25):
    """Lighter, hue-shifted towards warm yellow."""
    return mix(c, LIGHT_HUE, t)


def rgba(c, a=255):
    return (c[0], c[1], c[2], a)


class Canvas:
    def __init__(self, w=T, h=T, fill=None):
        self.w, self.h = w, h
        self.im = Image.new("RGBA", (w, h), fill if fill else (0, 0, 0, 0))
        self.px = self.im.load()

    def inside(self, x, y):
        return 0 <= x < self.w and 0 <= y < self.h

    def put(self, x, y, c, wrap=False):
        if wrap:
            x %= self.w
            y %= self.h
        elif not self.inside(x, y):
            return
        self.px[x, y] = rgba(c, c[3] if len(c) > 3 else 255)

    def get(self, x, y, wrap=False):
        if wrap:
            x %= self.w
            y %= self.h
        if not self.inside(x, y):
            return (0, 0, 0, 0)
        return self.px[x, y]

    def rect(self, x0, y0, x1, y1, c, wrap=False):
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                self.put(x, y, c, wrap)

    def blend(self, x, y, c, a, wrap=False):
        """Alpha-blend colour c with opacity a (0..1) over the pixel."""
        if wrap:
            x %= self.w
            y %= self.h
        if not self.inside(x, y):
            return
        o = self.px[x, y]
        if o[3] == 0:
            self.px[x, y] = rgba(c, round(255 * a))
            return
        n = mix(o, c, a)
        self.px[x, y] = rgba(n, o[3])

    def paste(self, other, ox, oy):
        self.im.alpha_composite(other.im, (ox, oy))

    def crop(self, x, y, w=T, h=T):
        c = Canvas(w, h)
        c.im = self.im.crop((x, y, x + w, y + h))
        c.px = c.im.load()
        return c


def ellipse_pts(cx, cy, rx, ry):
    """Integer pixels whose centres fall inside the ellipse."""
    pts = []
    for y in range(int(cy - ry) - 1, int(cy + ry) + 2):
        for x in range(int(cx - rx) - 1, int(cx + rx) + 2):
            dx = (x + 0.5 - cx) / rx
            dy = (y + 0.5 - cy) / ry
            if dx * dx + dy * dy <= 1.0:
                pts.append((x, y))
    return pts


def shade_mask(cv, mask, base, hl=0.22, sh=0.30, light=True):
    """Fill a pixel mask with base colour, lighten its top/left rim and
    darken its bottom/right rim (light from the upper left)."""
    for (x, y) in mask:
        c = base
        if (x, y + 1) not in mask or (x + 1, y) not in mask:
            c = dk(base, sh)
        elif light and ((x, y - 1) not in mask or (x - 1, y) not in mask):
            c = lt(base, hl)
        cv.put(x, y, c)


def outline(cv, t=0.72):
    """Selective outline: every transparent (or translucent) pixel touching
    an opaque pixel becomes a dark version of that neighbour."""
    src = cv.im.copy().load()
    for y in range(cv.h):
        for x in range(cv.w):
            if src[x, y][3] == 255:
                continue
            for dx, dy in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                nx, ny = x + dx, y + dy
                if 0 <= nx < cv.w and 0 <= ny < cv.h and src[nx, ny][3] == 255:
                    cv.put(x, y, mix(src[nx, ny], OUTLINE, t))
                    break


def drop_shadow(cv, cx, cy, rx, ry, a=70):
    """Soft dark ellipse drawn only under transparent pixels."""
    for (x, y) in ellipse_pts(cx, cy, rx, ry):
        if cv.inside(x, y) and cv.get(x, y)[3] == 0:
            cv.put(x, y, (20, 14, 34, a))
    for (x, y) in ellipse_pts(cx, cy, rx * 0.7, ry * 0.65):
        if cv.inside(x, y) and cv.get(x, y)[3] == a:
            cv.put(x, y, (20, 14, 34, a + 25))


def shaded_box(cv, x0, y0, x1, y1, base, hl=0.22, sh=0.3):
    m = {(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)}
    shade_mask(cv, m, base, hl, sh)


def save_png(im, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    im.save(path, format="PNG", optimize=True)


def sheet(tiles, columns):
    rows = (len(tiles) + columns - 1) // columns
    im = Image.new("RGBA", (columns * T, rows * T), (0, 0, 0, 0))
    for i, t in enumerate(tiles):
        im.alpha_composite(t.im, ((i % columns) * T, (i // columns) * T))
    return im


# --------------------------------------------------------------------------
# floor tiles
# --------------------------------------------------------------------------
GRASS = hexc("#5fa84e")


def t_grass(seed, flowers=None, density=1.0):
    r = random.Random(seed)
    cv = Canvas(fill=GRASS)
    # soft low-frequency blotches
    for _ in range(7):
        cx, cy = r.randrange(32), r.randrange(32)
        tone = lt(GRASS, 0.07) if r.random() < 0.5 else dk(GRASS, 0.07)
        for (x, y) in ellipse_pts(cx, cy, r.randint(3, 7), r.randint(2, 5)):
            if r.random() < 0.85:
                cv.put(x, y, tone, wrap=True)
    # grass tufts
    for _ in range(int(16 * density)):
        x, y = r.randrange(32), r.randrange(32)
        kind = r.random()
        if kind < 0.45:  # single blade
            cv.put(x, y + 1, dk(GRASS, 0.22), wrap=True)
            cv.put(x, y, lt(GRASS, 0.18), wrap=True)
        elif kind < 0.8:  # v tuft
            cv.put(x, y + 1, dk(GRASS, 0.25), wrap=True)
            cv.put(x - 1, y, lt(GRASS, 0.2), wrap=True)
            cv.put(x + 1, y, lt(GRASS, 0.2), wrap=True)
            cv.put(x, y, GRASS, wrap=True)
        else:  # w tuft
            cv.put(x, y + 1, dk(GRASS, 0.25), wrap=True)
            cv.put(x + 2, y + 1, dk(GRASS, 0.25), wrap=True)
            cv.put(x - 1, y, lt(GRASS, 0.22), wrap=True)
            cv.put(x + 1, y - 1, lt(GRASS, 0.3), wrap=True)
            cv.put(x + 3, y, lt(GRASS, 0.22), wrap=True)
    if flowers:
        for i in range(4):
            x, y = r.randrange(2, 30), r.randrange(2, 30)
            pc = flowers[i % len(flowers)]
            cv.put(x, y + 2, dk(GRASS, 0.3), wrap=True)
            for dx, dy in ((0, -1), (-1, 0), (1, 0), (0, 1)):
                cv.put(x + dx, y + dy, pc, wrap=True)
            cv.put(x, y - 1, lt(pc, 0.35), wrap=True)
            cv.put(x, y, hexc("#ffe27a"), wrap=True)
    return cv


def t_cobble(seed, base=hexc("#b9ad9a")):
    r = random.Random(seed)
    mortar = dk(base, 0.5)
    cv = Canvas(fill=mortar)
    for row in range(4):
        y0 = row * 8
        off = r.randrange(32)
        widths = []
        while sum(widths) < 32:
            widths.append(r.choice([7, 8, 9, 10, 11]))
        widths[-1] -= sum(widths) - 32
        if widths[-1] < 5:
            widths[-2] += widths[-1]
            widths.pop()
        x = off
        for w in widths:
            tone = mix(base, r.choice([hexc("#c9bca6"), hexc("#a89e92"), hexc("#bfb3a0"), base]), 0.5)
            for yy in range(y0, y0 + 7):
                for xx in range(x, x + w - 1):
                    corner = (yy in (y0, y0 + 6)) and (xx in (x, x + w - 2))
                    if corner:
                        continue
                    c = tone
                    if yy == y0 or xx == x:
                        c = lt(tone, 0.25)
                    if yy == y0 + 6 or xx == x + w - 2:
                        c = dk(tone, 0.25)
                    cv.put(xx, yy, c, wrap=True)
            # speckles
            for _ in range(2):
                cv.put(r.randrange(x + 1, x + w - 2), r.randrange(y0 + 1, y0 + 6), dk(tone, 0.12), wrap=True)
            x += w
    return cv


def t_speckle(seed, base, n=60, spread=0.12, pebbles=0):
    r = random.Random(seed)
    cv = Canvas(fill=base)
    for _ in range(n):
        x, y = r.randrange(32), r.randrange(32)
        cv.put(x, y, lt(base, spread) if r.random() < 0.5 else dk(base, spread))
    for _ in range(pebbles):
        x, y = r.randrange(32), r.randrange(32)
        pc = mix(base, hexc("#8f857a"), 0.6)
        cv.put(x, y, lt(pc, 0.3), wrap=True)
        cv.put(x + 1, y, pc, wrap=True)
        cv.put(x, y + 1, dk(pc, 0.3), wrap=True)
        cv.put(x + 1, y + 1, dk(pc, 0.4), wrap=True)
    return cv


def t_slabs(seed, base, grout, size=16, speck=30, gloss=False, checker=None):
    r = random.Random(seed)
    cv = Canvas(fill=grout)
    for sy in range(0, 32, size):
        for sx in range(0, 32, size):
            col = base
            if checker and ((sx + sy) // size) % 2 == 1:
                col = checker
            col = mix(col, r.choice([lt(col, 0.05), dk(col, 0.05), col]), 1)
            for y in range(sy + 1, sy + size):
                for x in range(sx + 1, sx + size):
                    c = col
                    if y == sy + 1 or x == sx + 1:
                        c = lt(col, 0.16)
                    if y == sy + size - 1 or x == sx + size - 1:
                        c = dk(col, 0.14)
                    cv.put(x, y, c)
            for _ in range(speck * size * size // 1024):
                cv.put(r.randrange(sx + 2, sx + size - 2), r.randrange(sy + 2, sy + size - 2),
                       dk(col, 0.07) if r.random() < 0.6 else lt(col, 0.07))
            if gloss:
                for i in range(3):
                    cv.put(sx + 3 + i, sy + 5 - i, lt(col, 0.5))
                cv.put(sx + 3, sy + 3, lt(col, 0.4))
    return cv


def t_wood(seed, base, plank_h=8, joints=1):
    r = random.Random(seed)
    cv = Canvas(fill=base)
    for row in range(32 // plank_h):
        y0 = row * plank_h
        col = mix(base, r.choice([lt(base, 0.1), dk(base, 0.08), base, lt(base, 0.04)]), 1)
        for y in range(y0, y0 + plank_h):
            for x in range(32):
                c = col
                if y == y0:
                    c = lt(col, 0.14)
                if y == y0 + plank_h - 1:
                    c = dk(col, 0.42)
                elif y == y0 + plank_h - 2:
                    c = dk(col, 0.08)
                cv.put(x, y, c)
        for _ in range(5):  # grain streaks
            gx, gy = r.randrange(32), r.randrange(y0 + 1, y0 + plank_h - 2)
            for i in range(r.randint(3, 9)):
                cv.put(gx + i, gy, dk(col, 0.13), wrap=True)
        if r.random() < 0.35:  # knot
            kx, ky = r.randrange(32), r.randrange(y0 + 2, y0 + plank_h - 3)
            cv.put(kx, ky, dk(col, 0.3), wrap=True)
            cv.put(kx + 1, ky, dk(col, 0.2), wrap=True)
        for _ in range(joints):
            jx = r.randrange(32)
            for y in range(y0, y0 + plank_h - 1):
                cv.put(jx, y, dk(col, 0.4), wrap=True)
                cv.put(jx + 1, y, lt(col, 0.1), wrap=True)
    return cv


def t_carpet(seed, base, motif=None, motif_kind="diamond"):
    r = random.Random(seed)
    cv = Canvas(fill=base)
    for y in range(32):
        for x in range(32):
            c = base
            if (x + 2 * y) % 4 == 0:
                c = dk(base, 0.07)
            elif (x + 2 * y) % 4 == 2 and (x // 2 + y) % 3 == 0:
                c = lt(base, 0.05)
            if motif:
                mx, my = x % 16, y % 16
                if motif_kind == "diamond":
                    d = abs(mx - 7.5) + abs(my - 7.5)
                    if 5.5 <= d <= 6.5:
                        c = motif
                    elif d <= 1.5:
                        c = lt(motif, 0.2)
                elif motif_kind == "dots":
                    if (mx, my) in ((4, 4), (12, 12)):
                        c = motif
                    elif (mx, my) in ((5, 4), (4, 5), (12, 13), (13, 12)):
                        c = dk(motif, 0.15)
                elif motif_kind == "lines":
                    if mx == 0:
                        c = motif
            cv.put(x, y, c)
    for _ in range(25):
        cv.put(r.randrange(32), r.randrange(32), lt(base, 0.09))
    return cv


def t_doormat(seed):
    r = random.Random(seed)
    base = hexc("#8a6a44")
    cv = Canvas(fill=hexc("#6e5a48"))
    for y in range(5, 27):
        for x in range(32):
            c = base
            if y in (5, 26):
                c = dk(base, 0.45)
            elif y in (6, 25):
                c = hexc("#4f3b2c")
            elif (x + y) % 3 == 0:
                c = dk(base, 0.15)
            elif r.random() < 0.15:
                c = lt(base, 0.15)
            cv.put(x, y, c)
    for x in range(32):
        cv.put(x, 4, dk(hexc("#6e5a48"), 0.2))
        cv.put(x, 27, lt(hexc("#6e5a48"), 0.1))
    return cv


def build_floors():
    names = [
        "grass", "grass_b", "grass_c", "grass_flowers", "grass_flowers_b", "path", "path_b", "dirt",
        "plaza", "wood_light", "wood_light_b", "wood_dark", "tile_cream", "tile_checker", "tile_blue", "stage",
        "carpet_red", "carpet_blue", "carpet_green", "carpet_grey", "carpet_purple", "doormat", "concrete", "sand",
    ]
    tiles = [
        t_grass(11), t_grass(12), t_grass(13, density=1.6),
        t_grass(14, flowers=[hexc("#fff4f0"), hexc("#f6d14a")]),
        t_grass(15, flowers=[hexc("#e86fa8"), hexc("#9a7ff0"), hexc("#ffffff")]),
        t_cobble(21), t_cobble(22),
        t_speckle(23, hexc("#b08a5e"), n=90, spread=0.13, pebbles=5),
        t_slabs(24, hexc("#c7c2b6"), hexc("#8c877e"), size=16, speck=60),
        t_wood(31, hexc("#d2a06a")), t_wood(32, hexc("#c99460")), t_wood(33, hexc("#8a5a3c")),
        t_slabs(34, hexc("#ece4d4"), hexc("#bdb3a2"), size=16, speck=20, gloss=True),
        t_slabs(35, hexc("#f2efe8"), hexc("#7b7a80"), size=16, speck=10, gloss=True, checker=hexc("#45475a")),
        t_slabs(36, hexc("#9cc6d8"), hexc("#6f93a8"), size=8, speck=10),
        t_wood(37, hexc("#5e3f35"), plank_h=8, joints=2),
        t_carpet(41, hexc("#a8323e"), hexc("#e0b04c")),
        t_carpet(42, hexc("#3d5f9e"), hexc("#5c7fc0"), "dots"),
        t_carpet(43, hexc("#3f7d5a"), hexc("#5a9a74"), "dots"),
        t_carpet(44, hexc("#6f7480"), hexc("#7c8190"), "lines"),
        t_carpet(45, hexc("#6a4a8e"), hexc("#c29be8")),
        t_doormat(46),
        t_speckle(47, hexc("#a9a7a3"), n=110, spread=0.1),
        t_speckle(48, hexc("#e2cf98"), n=120, spread=0.1, pebbles=2),
    ]
    return names, tiles


# --------------------------------------------------------------------------
# wall tiles (fixed 14-tile layout, 7 columns x 2 rows)
# --------------------------------------------------------------------------
PLASTER = hexc("#e6dbc4")
WAINSCOT = hexc("#a8795a")
BASEBOARD = hexc("#5f4438")
CAP = hexc("#5a5068")
ROOF = hexc("#b5503f")

WALL_NAMES = [
    "wall_cap", "wall_face", "wall_face_window", "wall_face_end_left", "wall_face_end_right",
    "wall_cap_overhang", "door_lintel",
    "door_closed", "roof_top_left", "roof_top", "roof_top_right",
    "roof_bottom_left", "roof_bottom", "roof_bottom_right",
]


def draw_face(cv, r):
    for y in range(32):
        for x in range(32):
            if y == 0:
                c = dk(PLASTER, 0.45)
            elif y == 1:
                c = dk(PLASTER, 0.2)
            elif y <= 17:
                c = PLASTER
                if x % 8 == 3:
                    c = dk(PLASTER, 0.04)
                if r.random() < 0.05:
                    c = dk(PLASTER, 0.06)
            elif y == 18:
                c = lt(WAINSCOT, 0.35)
            elif y == 19:
                c = dk(WAINSCOT, 0.15)
            elif y <= 27:
                c = WAINSCOT
                if x % 8 == 0:
                    c = dk(WAINSCOT, 0.3)
                elif x % 8 == 1:
                    c = lt(WAINSCOT, 0.15)
                elif y == 20:
                    c = dk(WAINSCOT, 0.12)
            elif y == 28:
                c = lt(BASEBOARD, 0.2)
            elif y == 31:
                c = dk(BASEBOARD, 0.35)
            else:
                c = BASEBOARD
            cv.put(x, y, c)


def draw_cap(cv, r, y0=0):
    for y in range(y0, 32):
        for x in range(32):
            c = CAP
            if r.random() < 0.08:
                c = lt(CAP, 0.08)
            cv.put(x, y, c)


def w_cap(r):
    cv = Canvas()
    draw_cap(cv, r)
    for y in range(32):
        cv.put(0, y, dk(CAP, 0.55))
        cv.put(1, y, lt(CAP, 0.25))
        cv.put(30, y, dk(CAP, 0.15))
        cv.put(31, y, dk(CAP, 0.55))
    return cv


def w_face(r):
    cv = Canvas()
    draw_face(cv, r)
    return cv


def w_window(r):
    cv = w_face(r)
    frame = hexc("#f4f1ea")
    shaded_box(cv, 6, 3, 25, 16, frame, 0.1, 0.25)
    for y in range(5, 15):
        for x in range(8, 24):
            t = (y - 5) / 9
            c = mix(hexc("#bfe3f2"), hexc("#6fa6d2"), t)
            if (x + y) % 11 in (0, 1) and x + y < 34:
                c = lt(c, 0.55)
            cv.put(x, y, c)
    for y in range(5, 15):
        cv.put(15, y, frame)
        cv.put(16, y, dk(frame, 0.15))
    for x in range(8, 24):
        cv.put(x, 9, frame)
        cv.put(x, 10, dk(frame, 0.15))
    for x in range(5, 27):
        cv.put(x, 17, lt(frame, 0.2))
    cv.put(5, 16, lt(frame, 0.2))
    cv.put(26, 16, lt(frame, 0.2))
    return cv


def w_end(r, left):
    cv = w_face(r)
    xs = (0, 1) if left else (31, 30)
    for y in range(32):
        cv.put(xs[0], y, dk(CAP, 0.55))
        cv.put(xs[1], y, dk(cv.get(xs[1], y), 0.22))
    return cv


def w_overhang(r):
    cv = Canvas()
    draw_cap(cv, r, 22)
    for x in range(32):
        cv.put(x, 22, dk(CAP, 0.55))
        cv.put(x, 23, lt(CAP, 0.3))
    return cv


def w_lintel(r):
    cv = Canvas()
    for y in range(0, 7):
        for x in range(32):
            c = PLASTER if y > 1 else dk(PLASTER, 0.45 if y == 0 else 0.2)
            cv.put(x, y, c)
    for x in range(32):
        cv.put(x, 5, lt(WAINSCOT, 0.2))
        cv.put(x, 6, dk(WAINSCOT, 0.3))
        cv.put(x, 7, (20, 14, 34, 90))
        cv.put(x, 8, (20, 14, 34, 45))
    return cv


def w_door(r):
    cv = w_face(r)
    wood = hexc("#8a5636")
    shaded_box(cv, 6, 2, 25, 31, dk(wood, 0.35), 0.05, 0.1)
    shaded_box(cv, 8, 4, 23, 31, wood, 0.2, 0.25)
    shaded_box(cv, 10, 6, 21, 15, dk(wood, 0.1), 0.05, 0.2)
    shaded_box(cv, 10, 18, 21, 29, dk(wood, 0.1), 0.05, 0.2)
    for (x, y) in ((20, 17), (21, 17), (20, 18)):
        cv.put(x, y, hexc("#f0c850"))
    cv.put(21, 18, hexc("#a8802c"))
    return cv


def w_roof(r, top, side):
    cv = Canvas()
    for y in range(32):
        row = y // 8
        for x in range(32):
            sx = (x + (4 if row % 2 else 0)) % 8
            yy = y % 8
            c = ROOF
            if sx == 0:
                c = dk(ROOF, 0.35)
            elif yy >= 6:
                c = dk(ROOF, 0.3 if yy == 7 else 0.15)
            elif sx == 1 or yy == 0:
                c = lt(ROOF, 0.18)
            if yy == 7 and sx in (1, 7):
                c = dk(ROOF, 0.45)
            cv.put(x, y, c)
    if top:  # ridge
        for x in range(32):
            for y in range(0, 6):
                c = dk(ROOF, 0.25)
                if y == 1:
                    c = lt(ROOF, 0.1)
                if y == 0 or y == 5:
                    c = dk(ROOF, 0.5)
                if x % 6 == 0 and 1 < y < 5:
                    c = dk(ROOF, 0.4)
                cv.put(x, y, c)
    else:  # eave + gutter
        for x in range(32):
            cv.put(x, 25, dk(ROOF, 0.4))
            cv.put(x, 26, hexc("#c9cbd2"))
            cv.put(x, 27, hexc("#9da1ad"))
            cv.put(x, 28, hexc("#7b7f8c"))
            cv.put(x, 29, dk(PLASTER, 0.5))
            cv.put(x, 30, dk(PLASTER, 0.35))
            cv.put(x, 31, dk(PLASTER, 0.2))
    board = hexc("#6f4a34")
    if side:
        xs = range(0, 4) if side == "left" else range(28, 32)
        for y in range(32 if top else 29):
            for i, x in enumerate(xs):
                c = board
                if i == (0 if side == "left" else 3):
                    c = dk(board, 0.5)
                elif i == (1 if side == "left" else 2):
                    c = lt(board, 0.2)
                cv.put(x, y, c)
    return cv


def build_walls():
    r = random.Random(101)
    tiles = [
        w_cap(r), w_face(r), w_window(r), w_end(r, True), w_end(r, False), w_overhang(r), w_lintel(r),
        w_door(r), w_roof(r, True, "left"), w_roof(r, True, None), w_roof(r, True, "right"),
        w_roof(r, False, "left"), w_roof(r, False, None), w_roof(r, False, "right"),
    ]
    return WALL_NAMES, tiles


# --------------------------------------------------------------------------
# nature tiles (hedge, trees, water ...)
# --------------------------------------------------------------------------
LEAF = hexc("#3f8a4a")

NATURE_NAMES = [
    "hedge", "bush", "rock", "stump", "flowerbed", "pine_top", "pine_bottom", "lamp_top",
    "tree_tl", "tree_tr", "tree_ml", "tree_mr", "tree_bl", "tree_br", "lamp_bottom", "water_tl",
    "water_t", "water_tr", "water_l", "water_c", "water_r", "water_bl", "water_b", "water_br",
]


def leaf_clump(cv, cx, cy, rad, base, r, wrap=False):
    pts = ellipse_pts(cx, cy, rad, rad * 0.9)
    s = set(pts)
    for (x, y) in pts:
        c = base
        d = ((x - cx + rad * 0.35) ** 2 + (y - cy + rad * 0.4) ** 2) ** 0.5
        if d < rad * 0.45:
            c = lt(base, 0.22)
        if (x + 1, y + 1) not in s or (x, y + 1) not in s:
            c = dk(base, 0.32)
        if r.random() < 0.12:
            c = lt(c, 0.12)
        cv.put(x, y, c, wrap=wrap)


def n_hedge(r):
    cv = Canvas(fill=dk(LEAF, 0.3))
    pts = [(x, y) for y in range(-2, 34, 6) for x in range(-2, 34, 7)]
    r.shuffle(pts)
    for (x, y) in pts:
        leaf_clump(cv, x + r.randint(-1, 1), y + r.randint(-1, 1), r.randint(4, 5), LEAF, r, wrap=True)
    for _ in range(10):
        cv.put(r.randrange(32), r.randrange(32), lt(LEAF, 0.4), wrap=True)
    return cv


def n_bush(r, flowers=False):
    cv = Canvas()
    for (cx, cy, rad) in ((10, 18, 7), (21, 17, 7), (16, 12, 7), (15, 20, 7)):
        leaf_clump(cv, cx, cy, rad, hexc("#4a9a50"), r)
    outline(cv)
    drop_shadow(cv, 16, 27, 13, 4)
    return cv


def n_rock(r):
    cv = Canvas()
    base = hexc("#9a98a4")
    m = set(ellipse_pts(16, 19, 11, 8)) | set(ellipse_pts(12, 15, 7, 6))
    for (x, y) in m:
        c = base
        if (x, y - 1) not in m or (x - 1, y) not in m:
            c = lt(base, 0.3)
        if (x, y + 1) not in m or (x + 1, y) not in m or y > 22:
            c = dk(base, 0.3)
        if (x - y) % 9 == 0 and 13 < y < 22:
            c = dk(base, 0.15)
        cv.put(x, y, c)
    outline(cv)
    drop_shadow(cv, 16, 27, 13, 3)
    return cv


def n_stump(r):
    cv = Canvas()
    bark = hexc("#7a5238")
    shaded_box(cv, 9, 13, 22, 24, bark, 0.15, 0.3)
    for x in range(9, 23, 3):
        for y in range(15, 24):
            cv.put(x, y, dk(bark, 0.25))
    for (x, y) in ellipse_pts(16, 13, 7, 3.5):
        cv.put(x, y, hexc("#d8b07a"))
    for (x, y) in ellipse_pts(16, 13, 4.5, 2):
        cv.put(x, y, hexc("#c09060"))
    for (x, y) in ellipse_pts(16, 13, 2, 1):
        cv.put(x, y, hexc("#d8b07a"))
    for x in (8, 23):
        cv.put(x, 24, bark)
    outline(cv)
    drop_shadow(cv, 16, 25, 11, 3)
    return cv


def n_flowerbed(r):
    cv = Canvas()
    stone = hexc("#a39a8e")
    shaded_box(cv, 2, 8, 29, 27, stone, 0.25, 0.35)
    for y in range(10, 25):
        for x in range(4, 28):
            cv.put(x, y, hexc("#6a4a32") if (x * 7 + y * 3) % 5 else hexc("#5a3c28"))
    for i in range(14):
        x, y = r.randrange(6, 26), r.randrange(11, 24)
        cv.put(x, y + 1, hexc("#3f7d40"))
        cv.put(x - 1, y + 1, hexc("#4f9a4c"))
        pc = [hexc("#f05a7a"), hexc("#f6d14a"), hexc("#ffffff"), hexc("#b07af0")][i % 4]
        cv.put(x, y, pc)
        cv.put(x, y - 1, lt(pc, 0.4))
        cv.put(x + 1, y, dk(pc, 0.2))
    outline(cv)
    return cv


def pine(r):
    cv = Canvas(32, 64)
    base = hexc("#2f7a52")
    trunk = hexc("#6a4630")
    shaded_box(cv, 14, 48, 17, 57, trunk, 0.2, 0.3)
    for i, (y0, y1, w) in enumerate(((4, 20, 7), (14, 32, 10), (24, 44, 13), (34, 52, 14))):
        for y in range(y0, y1 + 1):
            half = max(1, round(w * (y - y0 + 2) / (y1 - y0 + 2)))
            for x in range(16 - half, 16 + half):
                c = base
                if x < 16 - half + 2 or (x - y) % 7 == 0:
                    c = lt(base, 0.2)
                if y >= y1 - 1 or x >= 16 + half - 2:
                    c = dk(base, 0.3)
                cv.put(x, y, c)
    cv.put(15, 3, lt(base, 0.3))
    cv.put(16, 3, base)
    outline(cv)
    drop_shadow(cv, 16, 58, 12, 3.5)
    return cv.crop(0, 0), cv.crop(0, 32)


def lamp(r):
    cv = Canvas(32, 64)
    metal = hexc("#3d3f4c")
    glow = hexc("#ffe9a6")
    for (x, y) in ellipse_pts(16, 24, 11, 11):
        cv.put(x, y, (255, 230, 150, 40))
    shaded_box(cv, 15, 26, 16, 58, metal, 0.25, 0.3)
    shaded_box(cv, 12, 57, 19, 59, metal, 0.2, 0.3)
    shaded_box(cv, 11, 16, 20, 26, glow, 0.3, 0.2)
    for y in range(16, 27):
        cv.put(11, y, metal)
        cv.put(20, y, metal)
    shaded_box(cv, 10, 13, 21, 15, metal, 0.3, 0.3)
    shaded_box(cv, 13, 11, 18, 12, metal, 0.3, 0.3)
    shaded_box(cv, 10, 27, 21, 27, metal, 0.3, 0.3)
    cv.put(13, 18, (255, 255, 255, 255))
    cv.put(13, 19, lt(glow, 0.6))
    outline(cv)
    drop_shadow(cv, 16, 60, 7, 2.5)
    return cv.crop(0, 0), cv.crop(0, 32)


def big_tree(r):
    cv = Canvas(64, 96)
    trunk = hexc("#6e4a32")
    for y in range(60, 90):
        w = 4 if y < 82 else 4 + (y - 82) // 2
        for x in range(32 - w, 32 + w):
            c = trunk
            if x <= 32 - w + 1:
                c = lt(trunk, 0.2)
            if x >= 32 + w - 2:
                c = dk(trunk, 0.3)
            if (x * 3 + y) % 11 == 0:
                c = dk(trunk, 0.2)
            cv.put(x, y, c)
    base = hexc("#3f8f48")
    clumps = [(32, 18, 13), (18, 28, 12), (46, 28, 12), (24, 44, 13), (42, 44, 13), (32, 34, 14),
              (13, 44, 9), (52, 43, 9), (32, 56, 11), (20, 57, 8), (44, 57, 8)]
    for (cx, cy, rad) in clumps:
        leaf_clump(cv, cx, cy, rad, dk(base, 0.12), r)
    for (cx, cy, rad) in clumps[:6]:
        leaf_clump(cv, cx - 2, cy - 3, rad * 0.6, base, r)
    for _ in range(24):
        x, y = r.randrange(10, 54), r.randrange(8, 60)
        if cv.get(x, y)[3] == 255:
            cv.put(x, y, lt(base, 0.35))
            cv.put(x + 1, y + 1, dk(base, 0.2))
    for (x, y) in ((22, 30), (40, 24), (30, 46), (46, 40), (16, 48)):
        for (dx, dy) in ((0, 0), (1, 0), (0, 1), (1, 1)):
            cv.put(x + dx, y + dy, hexc("#e8584a") if dx + dy < 2 else hexc("#a8343a"))
    outline(cv)
    drop_shadow(cv, 32, 89, 20, 5)
    return [cv.crop(0, 0), cv.crop(32, 0), cv.crop(0, 32), cv.crop(32, 32), cv.crop(0, 64), cv.crop(32, 64)]


def pond(r):
    cv = Canvas(96, 96)
    water = hexc("#4b93c8")
    rim = hexc("#b3aa9c")
    deep = dk(water, 0.18)
    m = set()
    for y in range(96):
        for x in range(96):
            # rounded rectangle (radius 12) covering the whole 3x3 area
            px, py = x + 0.5, y + 0.5
            cx = min(max(px, 12), 84)
            cy = min(max(py, 12), 84)
            if (px - cx) ** 2 + (py - cy) ** 2 <= 144:
                m.add((x, y))

    def dist_edge(x, y):
        d = 99
        for k in range(1, 9):
            for dx, dy in ((k, 0), (-k, 0), (0, k), (0, -k)):
                if (x + dx, y + dy) not in m:
                    d = min(d, k)
        return d

    for (x, y) in m:
        d = dist_edge(x, y)
        if d <= 5:  # stone rim
            along = x if (y < 12 or y > 83) else y
            c = rim
            if (along // 8 + (1 if d > 3 else 0)) % 2:
                c = lt(rim, 0.12)
            if along % 8 == 0:
                c = dk(rim, 0.3)
            if d == 1:
                c = dk(rim, 0.45)
            if d == 5:
                c = dk(rim, 0.35)
        elif d <= 7:
            c = deep
        else:
            c = water
        cv.put(x, y, c)
    # ripples (kept inside each tile so tiles repeat cleanly)
    for ty in range(3):
        for tx in range(3):
            for _ in range(3):
                x = tx * 32 + r.randrange(10, 22)
                y = ty * 32 + r.randrange(10, 22)
                if dist_edge(x, y) > 8 and dist_edge(x + 4, y) > 8:
                    for i in range(4):
                        cv.put(x + i, y, lt(water, 0.35 if i in (1, 2) else 0.18))
                    cv.put(x + 1, y + 1, dk(water, 0.1))
    return [cv.crop(x, y) for y in (0, 32, 64) for x in (0, 32, 64)]


def build_nature():
    r = random.Random(202)
    pine_t, pine_b = pine(r)
    lamp_t, lamp_b = lamp(r)
    tree = big_tree(r)
    water = pond(r)
    tiles = [n_hedge(r), n_bush(r), n_rock(r), n_stump(r), n_flowerbed(r), pine_t, pine_b, lamp_t]
    tiles += tree + [lamp_b, water[0]] + water[1:]
    assert len(tiles) == len(NATURE_NAMES)
    return NATURE_NAMES, tiles


# --------------------------------------------------------------------------
# decor / object tiles
# --------------------------------------------------------------------------
WOOD = hexc("#b7814f")
METAL = hexc("#4a4c5c")
UPHOLSTERY = hexc("#3f6fb0")

DECOR_NAMES = [
    "desk", "desk_monitor", "desk_laptop", "chair_up", "chair_down", "plant_small", "plant_big", "bookshelf",
    "notice_board", "tv_screen", "sofa_left", "sofa_right", "armchair", "coffee_table", "water_cooler", "floor_lamp",
    "podium", "whiteboard", "vending_machine", "round_table", "bench", "planter", "speaker", "trash_bin",
]


def desk_base(cv):
    shaded_box(cv, 2, 8, 29, 21, WOOD, 0.2, 0.0)
    for x in range(2, 30):
        cv.put(x, 21, lt(WOOD, 0.35))
    shaded_box(cv, 2, 22, 29, 26, dk(WOOD, 0.3), 0.05, 0.25)
    shaded_box(cv, 12, 23, 19, 25, dk(WOOD, 0.2), 0.15, 0.2)
    cv.put(15, 24, hexc("#e0c070"))
    cv.put(16, 24, hexc("#e0c070"))
    for x0 in (3, 26):
        shaded_box(cv, x0, 27, x0 + 2, 29, dk(WOOD, 0.45), 0.1, 0.2)
    for (gx, gy) in ((6, 12), (20, 16), (9, 18), (24, 11)):
        for i in range(5):
            cv.put(gx + i, gy, dk(WOOD, 0.08))


def d_desk(r):
    cv = Canvas()
    desk_base(cv)
    # papers + pen
    shaded_box(cv, 7, 11, 13, 17, hexc("#f4f2ea"), 0.1, 0.15)
    for y in (13, 15):
        for x in range(8, 12):
            cv.put(x, y, hexc("#a8b0c0"))
    for i in range(5):
        cv.put(18 + i, 16 - i // 2, hexc("#2f5fb0"))
    outline(cv)
    drop_shadow(cv, 16, 29, 15, 2.5)
    return cv


def d_desk_monitor(r):
    cv = Canvas()
    desk_base(cv)
    shaded_box(cv, 14, 11, 17, 14, METAL, 0.2, 0.3)
    shaded_box(cv, 11, 14, 20, 15, METAL, 0.2, 0.3)
    shaded_box(cv, 7, 1, 24, 11, hexc("#2a2b36"), 0.12, 0.2)
    for y in range(3, 10):
        for x in range(9, 23):
            c = mix(hexc("#7fc8f0"), hexc("#3a6fc0"), (y - 3) / 6)
            if (x - y) in (6, 7, 14):
                c = lt(c, 0.35)
            cv.put(x, y, c)
    for x in range(10, 16):
        cv.put(x, 4, hexc("#f4f2ea"))
    for x in range(10, 14):
        cv.put(x, 6, hexc("#d8e8f4"))
    shaded_box(cv, 9, 17, 20, 19, hexc("#d8dae2"), 0.2, 0.3)
    for x in range(10, 20, 2):
        cv.put(x, 18, hexc("#9a9ca8"))
    shaded_box(cv, 23, 17, 24, 19, hexc("#d8dae2"), 0.2, 0.3)
    outline(cv)
    drop_shadow(cv, 16, 29, 15, 2.5)
    return cv


def d_desk_laptop(r):
    cv = Canvas()
    desk_base(cv)
    shaded_box(cv, 9, 7, 21, 14, hexc("#b8bcc8"), 0.25, 0.3)
    for y in range(8, 14):
        for x in range(10, 21):
            cv.put(x, y, mix(hexc("#3a4060"), hexc("#56b0a0"), (x - 10) / 14 + (y - 8) / 20))
    cv.put(12, 9, hexc("#f0f0f0"))
    cv.put(13, 9, hexc("#f0f0f0"))
    shaded_box(cv, 8, 15, 22, 18, hexc("#c8ccd6"), 0.25, 0.3)
    for x in range(10, 21, 2):
        cv.put(x, 16, hexc("#8e92a0"))
    # mug
    shaded_box(cv, 24, 11, 27, 15, hexc("#e8604a"), 0.25, 0.3)
    cv.put(28, 12, hexc("#e8604a"))
    cv.put(28, 13, dk(hexc("#e8604a"), 0.3))
    cv.put(25, 11, hexc("#5a3a2a"))
    cv.put(26, 11, hexc("#5a3a2a"))
    outline(cv)
    drop_shadow(cv, 16, 29, 15, 2.5)
    return cv


def chair_base(cv, y0=24):
    for x in range(10, 22):
        cv.put(x, y0 + 3, METAL)
    shaded_box(cv, 15, y0, 16, y0 + 2, METAL, 0.2, 0.3)
    for x in (9, 15, 22):
        cv.put(x, y0 + 4, hexc("#22222a"))
        cv.put(x + 1, y0 + 4, hexc("#22222a"))


def d_chair_up(r):
    cv = Canvas()
    chair_base(cv)
    shaded_box(cv, 8, 14, 23, 22, dk(UPHOLSTERY, 0.2), 0.1, 0.3)
    shaded_box(cv, 9, 5, 22, 19, UPHOLSTERY, 0.25, 0.35)
    for y in range(8, 17):
        cv.put(15, y, dk(UPHOLSTERY, 0.12))
        cv.put(16, y, dk(UPHOLSTERY, 0.12))
    shaded_box(cv, 14, 19, 17, 22, METAL, 0.2, 0.3)
    outline(cv)
    drop_shadow(cv, 16, 28, 10, 2.5)
    return cv


def d_chair_down(r):
    cv = Canvas()
    chair_base(cv)
    shaded_box(cv, 10, 4, 21, 14, dk(UPHOLSTERY, 0.15), 0.2, 0.3)
    shaded_box(cv, 8, 13, 23, 23, UPHOLSTERY, 0.3, 0.35)
    for x in range(10, 22):
        cv.put(x, 15, lt(UPHOLSTERY, 0.35))
    shaded_box(cv, 6, 12, 8, 21, METAL, 0.2, 0.3)
    shaded_box(cv, 23, 12, 25, 21, METAL, 0.2, 0.3)
    outline(cv)
    drop_shadow(cv, 16, 28, 11, 2.5)
    return cv


def pot(cv, x0, y0, x1, y1, col=hexc("#c2643f")):
    for y in range(y0 + 2, y1 + 1):
        inset = (y - y0) // 4
        for x in range(x0 + inset, x1 - inset + 1):
            c = col
            if x <= x0 + inset + 1:
                c = lt(col, 0.2)
            if x >= x1 - inset - 1 or y == y1:
                c = dk(col, 0.3)
            cv.put(x, y, c)
    shaded_box(cv, x0 - 1, y0, x1 + 1, y0 + 2, lt(col, 0.08), 0.25, 0.3)
    for x in range(x0 + 1, x1):
        cv.put(x, y0, hexc("#4a3024"))


def d_plant_small(r):
    cv = Canvas()
    leaf = hexc("#4aa356")
    for (cx, cy, rw, rh) in ((11, 13, 4, 6), (21, 13, 4, 6), (16, 9, 4, 7), (13, 18, 5, 3), (19, 18, 5, 3)):
        m = set(ellipse_pts(cx, cy, rw, rh))
        shade_mask(cv, m, leaf, 0.25, 0.3)
        for y in range(int(cy - rh + 2), int(cy + rh - 1)):
            cv.put(int(cx), y, dk(leaf, 0.22))
    pot(cv, 10, 20, 21, 29)
    outline(cv)
    drop_shadow(cv, 16, 30, 8, 2)
    return cv


def d_plant_big(r):
    cv = Canvas()
    leaf = hexc("#3e9650")
    shaded_box(cv, 15, 12, 16, 23, hexc("#6a4a30"), 0.2, 0.3)
    for (cx, cy, rad) in ((16, 7, 6), (9, 11, 5), (23, 11, 5), (11, 17, 5), (21, 17, 5), (16, 13, 6)):
        leaf_clump(cv, cx, cy, rad, leaf, r)
    pot(cv, 10, 22, 21, 30, hexc("#e8e4dc"))
    outline(cv)
    drop_shadow(cv, 16, 31, 8, 1.5)
    return cv


def d_bookshelf(r):
    cv = Canvas()
    frame = hexc("#7a5234")
    shaded_box(cv, 2, 1, 29, 30, frame, 0.2, 0.3)
    colors = [hexc(h) for h in ("#c84848", "#3f6fb0", "#e0b040", "#4a9a5a", "#8a5ab0", "#e07838", "#2e8a90", "#f0ece0")]
    for (y0, y1) in ((3, 9), (12, 18), (21, 27)):
        shaded_box(cv, 4, y0, 27, y1, dk(frame, 0.5), 0.0, 0.0)
        x = 4
        while x < 27:
            w = r.choice([2, 2, 3])
            if x + w > 27:
                break
            h = y1 - y0 + 1 - r.choice([0, 0, 1, 2])
            col = r.choice(colors)
            if r.random() < 0.12:
                x += 2
                continue
            shaded_box(cv, x, y1 - h + 1, x + w - 1, y1, col, 0.3, 0.25)
            cv.put(x, y1 - h + 3, lt(col, 0.5))
            x += w
        for x in range(3, 29):
            cv.put(x, y1 + 1, lt(frame, 0.3))
            cv.put(x, y1 + 2, frame)
    outline(cv)
    return cv


def d_notice_board(r):
    cv = Canvas()
    frame = hexc("#8a5a36")
    for x0 in (5, 25):
        shaded_box(cv, x0, 22, x0 + 1, 30, dk(frame, 0.2), 0.2, 0.3)
    shaded_box(cv, 1, 2, 30, 23, frame, 0.25, 0.35)
    cork = hexc("#c99a62")
    for y in range(4, 22):
        for x in range(3, 29):
            c = cork
            if (x * 5 + y * 3) % 7 == 0:
                c = dk(cork, 0.12)
            elif (x + y * 7) % 11 == 0:
                c = lt(cork, 0.12)
            cv.put(x, y, c)
    notes = [(5, 6, 12, 14, hexc("#f6f4ec")), (14, 5, 19, 10, hexc("#f8e07a")), (21, 7, 27, 16, hexc("#a8d4f0")),
             (7, 15, 13, 20, hexc("#f5b0c8")), (15, 12, 20, 19, hexc("#f6f4ec"))]
    for (x0, y0, x1, y1, c) in notes:
        shaded_box(cv, x0, y0, x1, y1, c, 0.1, 0.2)
        for yy in range(y0 + 2, y1 - 1, 2):
            for xx in range(x0 + 1, x1 - 1):
                cv.put(xx, yy, dk(c, 0.25))
        pin = hexc("#e04040") if x0 % 2 else hexc("#3a70d0")
        cv.put((x0 + x1) // 2, y0, pin)
        cv.put((x0 + x1) // 2, y0 - 1, lt(pin, 0.4))
    # file icon hint
    for (x, y) in ((23, 18), (24, 18), (25, 18), (23, 19), (23, 20), (24, 20), (25, 20), (25, 19)):
        cv.put(x, y, hexc("#fafafa"))
    outline(cv)
    drop_shadow(cv, 16, 30, 13, 2)
    return cv


def d_tv(r):
    cv = Canvas()
    shaded_box(cv, 9, 27, 22, 29, METAL, 0.25, 0.3)
    shaded_box(cv, 14, 20, 17, 27, METAL, 0.25, 0.3)
    shaded_box(cv, 1, 2, 30, 21, hexc("#262733"), 0.15, 0.25)
    for y in range(4, 19):
        for x in range(3, 29):
            c = mix(hexc("#2a3f7a"), hexc("#2fa8b8"), (x - 3) / 40 + (y - 4) / 30)
            cv.put(x, y, c)
    for x in range(5, 20):  # slide title
        cv.put(x, 6, hexc("#f4f4f4"))
    for (x, h, c) in ((6, 5, "#f6c344"), (10, 8, "#f07a5a"), (14, 6, "#7ce0a0"), (18, 9, "#f4f4f4")):
        shaded_box(cv, x, 17 - h, x + 2, 16, hexc(c), 0.2, 0.25)
    for (x, y) in ((23, 9), (23, 10), (23, 11), (23, 12), (23, 13), (24, 10), (24, 11), (24, 12), (25, 11)):
        cv.put(x, y, hexc("#ffffff"))  # play / share glyph
    for i in range(6):
        cv.put(20 + i, 4 + i, lt(cv.get(20 + i, 4 + i), 0.25))
        cv.put(21 + i, 4 + i, lt(cv.get(21 + i, 4 + i), 0.2))
    cv.put(27, 20, hexc("#60f080"))
    outline(cv)
    drop_shadow(cv, 16, 30, 9, 1.8)
    return cv


def sofa(r, width=64, col=hexc("#2f8f8a")):
    cv = Canvas(width, 32)
    shaded_box(cv, 2, 5, width - 3, 16, dk(col, 0.1), 0.25, 0.3)  # back
    for x0 in range(4, width - 4, 28 if width > 32 else 24):
        shaded_box(cv, x0 + 1, 7, x0 + (26 if width > 32 else 22), 14, col, 0.2, 0.25)
    shaded_box(cv, 5, 15, width - 6, 25, col, 0.3, 0.35)  # seat
    if width > 32:
        for y in range(16, 25):
            cv.put(width // 2, y, dk(col, 0.35))
    shaded_box(cv, 1, 11, 6, 26, dk(col, 0.05), 0.3, 0.35)  # arms
    shaded_box(cv, width - 7, 11, width - 2, 26, dk(col, 0.05), 0.3, 0.35)
    shaded_box(cv, 2, 26, width - 3, 27, dk(col, 0.45), 0.1, 0.2)
    for x0 in (3, width - 5):
        shaded_box(cv, x0, 28, x0 + 1, 29, hexc("#3a2a22"), 0.1, 0.2)
    outline(cv)
    drop_shadow(cv, width / 2, 29, width / 2 - 3, 2.5)
    return cv


def d_coffee_table(r):
    cv = Canvas()
    shaded_box(cv, 3, 13, 28, 22, WOOD, 0.25, 0.0)
    for x in range(3, 29):
        cv.put(x, 22, lt(WOOD, 0.3))
    shaded_box(cv, 3, 23, 28, 25, dk(WOOD, 0.35), 0.1, 0.3)
    for x0 in (4, 26):
        shaded_box(cv, x0, 26, x0 + 1, 27, dk(WOOD, 0.5), 0.1, 0.2)
    shaded_box(cv, 6, 15, 14, 20, hexc("#e07a5a"), 0.2, 0.25)  # magazine
    for x in range(7, 13):
        cv.put(x, 17, hexc("#f4e8d8"))
    for (x0, c) in ((19, "#f4f2ea"), (23, "#6fb0e0")):
        shaded_box(cv, x0, 15, x0 + 2, 18, hexc(c), 0.2, 0.3)
        cv.put(x0 + 1, 15, hexc("#5a3a2a"))
    outline(cv)
    drop_shadow(cv, 16, 27, 14, 2)
    return cv


def d_water_cooler(r):
    cv = Canvas()
    shaded_box(cv, 10, 15, 21, 30, hexc("#e4e6ec"), 0.2, 0.3)
    shaded_box(cv, 12, 22, 19, 27, hexc("#c8cad4"), 0.1, 0.2)
    cv.put(13, 18, hexc("#4a8ae0"))
    cv.put(18, 18, hexc("#e05050"))
    bottle = hexc("#8ecaf0")
    m = set(ellipse_pts(16, 8, 6, 7)) | {(x, y) for x in range(14, 18) for y in range(13, 16)}
    shade_mask(cv, m, bottle, 0.35, 0.25)
    for y in range(4, 11):
        cv.put(13, y, lt(bottle, 0.6))
    for x in range(11, 21):
        cv.put(x, 9, dk(bottle, 0.12))
    outline(cv)
    drop_shadow(cv, 16, 31, 8, 1.5)
    return cv


def d_floor_lamp(r):
    cv = Canvas()
    for (x, y) in ellipse_pts(16, 9, 12, 10):
        cv.put(x, y, (255, 236, 170, 45))
    shaded_box(cv, 15, 12, 16, 27, METAL, 0.25, 0.3)
    shaded_box(cv, 11, 27, 20, 29, METAL, 0.25, 0.3)
    shade = hexc("#f4e2b0")
    for y in range(3, 12):
        half = 4 + (y - 3) // 2
        for x in range(16 - half, 16 + half):
            c = shade
            if x <= 16 - half + 1:
                c = lt(shade, 0.4)
            if x >= 16 + half - 2 or y == 11:
                c = dk(shade, 0.2)
            cv.put(x, y, c)
    outline(cv)
    drop_shadow(cv, 16, 30, 7, 1.5)
    return cv


def d_podium(r):
    cv = Canvas()
    wood = hexc("#8a5636")
    for y in range(11, 30):
        inset = 1 if y > 26 else 0
        for x in range(8 + inset, 24 - inset):
            c = wood
            if x <= 9:
                c = lt(wood, 0.2)
            if x >= 22 or y == 29:
                c = dk(wood, 0.3)
            cv.put(x, y, c)
    shaded_box(cv, 10, 14, 21, 24, dk(wood, 0.15), 0.05, 0.2)
    for (x, y) in ((14, 17), (15, 17), (16, 17), (17, 17), (14, 18), (17, 18), (14, 19), (15, 19), (16, 19), (17, 19)):
        cv.put(x, y, hexc("#e0b04c"))  # emblem
    shaded_box(cv, 6, 8, 25, 11, lt(wood, 0.15), 0.3, 0.35)
    for i in range(5):
        cv.put(19 + i // 2, 7 - i, METAL)
    shaded_box(cv, 21, 1, 23, 3, hexc("#30323e"), 0.3, 0.2)
    outline(cv)
    drop_shadow(cv, 16, 30, 10, 1.8)
    return cv


def d_whiteboard(r):
    cv = Canvas()
    alu = hexc("#a8acb8")
    for x0 in (4, 26):
        shaded_box(cv, x0, 21, x0 + 1, 30, dk(alu, 0.2), 0.2, 0.3)
    shaded_box(cv, 1, 2, 30, 21, alu, 0.3, 0.35)
    shaded_box(cv, 3, 4, 28, 19, hexc("#fbfbf8"), 0.0, 0.05)
    for i in range(10):
        cv.put(5 + i, 7 + (i % 3 == 1), hexc("#3a6fd0"))
    for i in range(7):
        cv.put(5 + i, 11, hexc("#3a6fd0"))
    for i in range(6):
        cv.put(6 + i, 14 + (i % 2), hexc("#e04848"))
    for (x, y) in ellipse_pts(22, 11, 4.5, 4.5):
        if not (x, y) in ellipse_pts(22, 11, 3.3, 3.3):
            cv.put(x, y, hexc("#2f9a5a"))
    shaded_box(cv, 6, 20, 25, 21, dk(alu, 0.1), 0.2, 0.3)
    cv.put(10, 19, hexc("#e04848"))
    cv.put(11, 19, hexc("#e04848"))
    cv.put(14, 19, hexc("#3a6fd0"))
    cv.put(15, 19, hexc("#3a6fd0"))
    outline(cv)
    drop_shadow(cv, 16, 30, 13, 1.8)
    return cv


def d_vending(r):
    cv = Canvas()
    body = hexc("#c84a4a")
    shaded_box(cv, 4, 1, 27, 30, body, 0.25, 0.35)
    shaded_box(cv, 6, 3, 19, 22, hexc("#26303e"), 0.05, 0.1)
    items = [hexc(h) for h in ("#f0c040", "#60c0f0", "#f07070", "#80e090", "#f4f4f4")]
    for row, y in enumerate((5, 10, 15)):
        for col, x in enumerate((7, 10, 13, 16)):
            c = items[(row * 4 + col) % 5]
            shaded_box(cv, x, y, x + 1, y + 3, c, 0.3, 0.3)
        for x in range(6, 20):
            cv.put(x, y + 4, hexc("#6a7080"))
    for y in range(4, 22, 3):
        cv.put(8 + (y % 5), y, hexc("#6a88a8"))
    shaded_box(cv, 21, 4, 25, 14, dk(body, 0.3), 0.1, 0.2)
    for (x, y) in ((22, 6), (24, 6), (22, 8), (24, 8), (22, 10), (24, 10)):
        cv.put(x, y, hexc("#f0f0f0"))
    shaded_box(cv, 22, 12, 24, 13, hexc("#202020"), 0.0, 0.0)
    shaded_box(cv, 7, 24, 18, 27, dk(body, 0.55), 0.0, 0.0)
    for x in range(5, 27):
        cv.put(x, 2, lt(body, 0.35))
    outline(cv)
    return cv


def d_round_table(r):
    cv = Canvas()
    shaded_box(cv, 14, 20, 17, 27, dk(WOOD, 0.4), 0.15, 0.3)
    for (x, y) in ellipse_pts(16, 28, 7, 2):
        cv.put(x, y, dk(WOOD, 0.45))
    top = set(ellipse_pts(16, 14, 13, 8))
    for (x, y) in top:
        c = WOOD
        if (x, y + 1) not in top:
            c = dk(WOOD, 0.35)
        elif (x, y - 1) not in top or (x, y - 2) not in top:
            c = lt(WOOD, 0.2)
        cv.put(x, y, c)
    for (x, y) in ellipse_pts(16, 14, 8, 4.5):
        cv.put(x, y, lt(WOOD, 0.07))
    for (x0, c) in ((9, "#f4f2ea"), (20, "#7ad0a8")):
        shaded_box(cv, x0, 10, x0 + 2, 13, hexc(c), 0.2, 0.3)
        cv.put(x0 + 1, 10, hexc("#5a3a2a"))
    outline(cv)
    drop_shadow(cv, 16, 29, 10, 2)
    return cv


def d_bench(r):
    cv = Canvas()
    wood = hexc("#a86a3e")
    iron = hexc("#34363f")
    for x0 in (3, 27):
        shaded_box(cv, x0, 6, x0 + 1, 28, iron, 0.2, 0.2)
    for y0 in (6, 10):
        shaded_box(cv, 1, y0, 30, y0 + 2, dk(wood, 0.1), 0.25, 0.35)
    for y0 in (16, 19, 22):
        shaded_box(cv, 1, y0, 30, y0 + 2, wood, 0.3, 0.35)
    outline(cv)
    drop_shadow(cv, 16, 28, 15, 2.5)
    return cv


def d_planter(r):
    cv = Canvas()
    box = hexc("#8a5a3a")
    leaf = hexc("#4a9a4a")
    for (cx, cy, rad) in ((8, 14, 5), (16, 12, 6), (24, 14, 5)):
        leaf_clump(cv, cx, cy, rad, leaf, r)
    for i, (x, y) in enumerate(((7, 11), (13, 9), (18, 12), (24, 10), (10, 16), (21, 16), (16, 7))):
        pc = [hexc("#f05a7a"), hexc("#f6d14a"), hexc("#ffffff"), hexc("#b07af0")][i % 4]
        for dx, dy in ((0, -1), (-1, 0), (1, 0), (0, 1)):
            cv.put(x + dx, y + dy, pc)
        cv.put(x, y - 1, lt(pc, 0.4))
        cv.put(x + 1, y, dk(pc, 0.2))
        cv.put(x, y, hexc("#f8c040"))
    shaded_box(cv, 2, 18, 29, 29, box, 0.25, 0.35)
    for y in (21, 25):
        for x in range(3, 29):
            cv.put(x, y, dk(box, 0.25))
    for x in range(2, 30):
        cv.put(x, 18, lt(box, 0.3))
    outline(cv)
    drop_shadow(cv, 16, 30, 14, 2)
    return cv


def d_speaker(r):
    cv = Canvas()
    body = hexc("#2c2d38")
    shaded_box(cv, 8, 2, 23, 29, body, 0.18, 0.3)
    for (cy, rad) in ((9, 3.5), (20, 6)):
        m = set(ellipse_pts(16, cy, rad, rad))
        for (x, y) in m:
            c = hexc("#4a4c5a")
            if (x, y - 1) not in m:
                c = hexc("#6a6c7c")
            if (x, y + 1) not in m:
                c = hexc("#1a1a22")
            cv.put(x, y, c)
        for (x, y) in ellipse_pts(16, cy, rad * 0.45, rad * 0.45):
            cv.put(x, y, hexc("#1e1e26"))
        cv.put(15, int(cy) - 1, hexc("#8a8c9a"))
    cv.put(20, 4, hexc("#60f080"))
    outline(cv)
    drop_shadow(cv, 16, 30, 9, 1.5)
    return cv


def d_trash_bin(r):
    cv = Canvas()
    metal = hexc("#8c909e")
    for y in range(13, 29):
        for x in range(10, 22):
            c = metal
            if x % 3 == 0:
                c = dk(metal, 0.2)
            if x <= 11:
                c = lt(metal, 0.25)
            if x >= 20:
                c = dk(metal, 0.3)
            cv.put(x, y, c)
    for (x, y) in ellipse_pts(16, 13, 7, 2.5):
        cv.put(x, y, lt(metal, 0.2))
    for (x, y) in ellipse_pts(16, 13, 5, 1.5):
        cv.put(x, y, hexc("#3a3c46"))
    cv.put(14, 12, hexc("#f4f2ea"))
    cv.put(15, 12, hexc("#f4f2ea"))
    outline(cv)
    drop_shadow(cv, 16, 29, 8, 2)
    return cv


def build_decor():
    r = random.Random(303)
    sofa_im = sofa(r)
    tiles = [
        d_desk(r), d_desk_monitor(r), d_desk_laptop(r), d_chair_up(r), d_chair_down(r), d_plant_small(r),
        d_plant_big(r), d_bookshelf(r), d_notice_board(r), d_tv(r), sofa_im.crop(0, 0), sofa_im.crop(32, 0),
        sofa(r, 32, hexc("#c2683e")), d_coffee_table(r), d_water_cooler(r), d_floor_lamp(r),
        d_podium(r), d_whiteboard(r), d_vending(r), d_round_table(r), d_bench(r), d_planter(r),
        d_speaker(r), d_trash_bin(r),
    ]
    assert len(tiles) == len(DECOR_NAMES)
    return DECOR_NAMES, tiles


def conference_tile():
    cv = Canvas()
    col = (126, 92, 230)
    for y in range(32):
        for x in range(32):
            a = 70
            if (x + y) % 8 < 2:
                a = 110
            if x in (0, 31) or y in (0, 31):
                a = 170 if (x + y) % 4 < 2 else 60
            cv.put(x, y, (col[0], col[1], col[2], a))
    return cv


# --------------------------------------------------------------------------
# avatars
# --------------------------------------------------------------------------
FRAME = 48
DIRECTIONS = ["down", "left", "right", "up"]
FRAMES = ["step-left", "stand", "step-right"]

SKINS = {
    "pale": hexc("#fde0c8"), "light": hexc("#f1c29c"), "tan": hexc("#d9a070"),
    "medium": hexc("#b77a50"), "brown": hexc("#8c5a3c"), "dark": hexc("#5e3c2c"),
}
HAIR = {
    "black": hexc("#2e2630"), "darkbrown": hexc("#4e3226"), "brown": hexc("#7e5030"),
    "auburn": hexc("#96402a"), "ginger": hexc("#d2783a"), "blonde": hexc("#e8c46e"),
    "platinum": hexc("#ece6d2"), "grey": hexc("#a4a4ae"), "blue": hexc("#4a78d0"),
    "pink": hexc("#e870a8"), "purple": hexc("#8a5ac0"), "green": hexc("#4aa868"),
}
EYE = hexc("#2a1e2a")


def R(x0, y0, x1, y1):
    return {(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)}


def shift(m, dx, dy):
    return {(x + dx, y + dy) for (x, y) in m}


HEAD = set()
for _y, (_a, _b) in {10: (19, 28), 11: (18, 29), 21: (18, 29), 22: (19, 28)}.items():
    HEAD |= R(_a, _y, _b, _y)
HEAD |= R(17, 12, 30, 20)


def hair_mask(style, view):
    """Return (front_mask, back_mask) of hair pixels for a view."""
    front, back = set(), set()
    crown = R(19, 9, 28, 9) | {p for p in HEAD if p[1] <= 13}
    if view == "down":
        if style in ("short", "spiky", "bun", "ponytail", "long", "curly", "sidepart"):
            front = crown | R(17, 14, 18, 16) | R(29, 14, 30, 16)
            front |= {(x, 14) for x in range(19, 29) if x % 3 == 0}
            if style == "sidepart":
                front |= R(19, 14, 23, 14) | R(19, 15, 21, 15)
            if style == "long":
                front |= R(17, 17, 18, 20) | R(29, 17, 30, 20)
                back = R(16, 13, 18, 28) | R(29, 13, 31, 28) | R(19, 23, 28, 26)
            if style == "ponytail":
                back = R(31, 13, 32, 19)
            if style == "bun":
                front |= set(ellipse_pts(24, 7.5, 3.5, 3))
            if style == "spiky":
                for x in (18, 22, 26):
                    front |= R(x, 8, x + 2, 8) | {(x + 1, 7)}
                front |= {(16, 12), (31, 12), (16, 13), (31, 13)}
            if style == "curly":
                for x in range(17, 31, 3):
                    front |= {(x, 8), (x + 1, 8)}
                front |= R(16, 11, 16, 17) | R(31, 11, 31, 17)
        elif style == "bob":
            front = crown | R(17, 14, 19, 21) | R(28, 14, 30, 21) | R(18, 14, 29, 14)
            back = R(16, 14, 16, 22) | R(31, 14, 31, 22)
        elif style == "afro":
            front = set(ellipse_pts(24, 12, 10, 7.5))
            front = {p for p in front if p[1] <= 13 or p[0] <= 18 or p[0] >= 29}
            front = {p for p in front if p[1] <= 19}
        elif style == "buzz":
            front = {p for p in HEAD if p[1] <= 12}
        elif style == "mohawk":
            front = {p for p in HEAD if p[1] <= 11} | R(22, 5, 25, 11)
    elif view == "up":
        full = {p for p in HEAD if p[1] <= 21} | R(19, 9, 28, 9)
        if style in ("short", "spiky", "bun", "ponytail", "curly", "sidepart", "bob", "long"):
            front = set(full)
            if style == "long":
                front |= R(17, 21, 30, 28) | R(18, 29, 29, 29)
            if style == "bob":
                front |= R(17, 21, 30, 23)
            if style == "ponytail":
                front |= R(22, 22, 25, 28) | R(23, 29, 24, 30)
            if style == "bun":
                front |= set(ellipse_pts(24, 7.5, 3.5, 3))
            if style == "spiky":
                for x in (18, 22, 26):
                    front |= R(x, 8, x + 2, 8) | {(x + 1, 7)}
                front |= {(16, 12), (31, 12), (16, 13), (31, 13)}
            if style == "curly":
                for x in range(17, 31, 3):
                    front |= {(x, 8), (x + 1, 8)}
                front |= R(16, 11, 16, 19) | R(31, 11, 31, 19)
        elif style == "afro":
            front = set(ellipse_pts(24, 13, 10, 9))
            front = {p for p in front if p[1] <= 21}
        elif style == "buzz":
            front = {p for p in HEAD if p[1] <= 20}
        elif style == "mohawk":
            front = {p for p in HEAD if p[1] <= 20} | R(22, 5, 25, 20)
    else:  # left profile (face on the left)
        prof = R(19, 9, 28, 9) | {p for p in HEAD if p[1] <= 13 and p[0] >= 18}
        if style in ("short", "spiky", "bun", "ponytail", "curly", "sidepart", "long", "bob"):
            front = prof | R(24, 14, 30, 19) | R(25, 20, 29, 20) | {(17, 13), (18, 14), (19, 14)}
            if style == "sidepart":
                front |= R(17, 14, 20, 14) | {(17, 15)}
            if style == "long":
                front |= R(23, 14, 31, 28)
            if style == "bob":
                front |= R(23, 14, 31, 22)
            if style == "ponytail":
                back = R(30, 11, 32, 14) | R(31, 15, 33, 22)
            if style == "bun":
                front |= set(ellipse_pts(28.5, 8.5, 3.5, 3))
            if style == "spiky":
                for x in (18, 22, 26):
                    front |= R(x, 8, x + 2, 8) | {(x + 1, 7)}
                front |= {(31, 12), (31, 13), (31, 14)}
            if style == "curly":
                for x in range(18, 31, 3):
                    front |= {(x, 8), (x + 1, 8)}
                front |= R(31, 11, 31, 19)
        elif style == "afro":
            front = set(ellipse_pts(25, 12.5, 9.5, 8))
            front = {p for p in front if p[1] <= 13 or p[0] >= 23}
            front = {p for p in front if p[1] <= 20}
        elif style == "buzz":
            front = {p for p in HEAD if (p[1] <= 12 and p[0] >= 18) or (p[0] >= 25 and p[1] <= 19)}
        elif style == "mohawk":
            front = {p for p in HEAD if (p[1] <= 11 and p[0] >= 18) or (p[0] >= 26 and p[1] <= 19)}
            front |= R(19, 5, 28, 10) - {(19, 5), (19, 6), (20, 5)}
    return front, back


def paint(cv, mask, col, hl=0.22, sh=0.3):
    shade_mask(cv, mask, col, hl, sh)


def hair_paint(cv, mask, col, view):
    shade_mask(cv, mask, col, 0.3, 0.3)
    if not mask:
        return
    top = min(y for _, y in mask)
    for (x, y) in mask:  # glossy highlight streak
        if y == top + 2 and ((view != "left" and 19 <= x <= 23) or (view == "left" and 21 <= x <= 26)):
            if (x, y - 1) in mask and (x + 1, y) in mask:
                cv.put(x, y, lt(col, 0.45))


def render_char(spec, view, step):
    """Draw one 48x48 frame. view in down/left/up; step -1, 0, +1."""
    cv = Canvas(FRAME, FRAME)
    skin = SKINS[spec["skin"]]
    hair = HAIR[spec["haircolor"]]
    top = hexc(spec["top"])
    top2 = hexc(spec.get("top2", "#f4f2ea"))
    bottom = hexc(spec["bottom"])
    shoes = hexc(spec.get("shoes", "#3a2e2e"))
    ttype = spec["toptype"]
    btype = spec["bottomtype"]
    style = spec["hair"]
    extras = spec.get("extras", [])
    short_sleeve = ttype in ("tee", "stripe", "dress")
    leg_col = skin if ttype == "dress" or btype == "skirt" else bottom
    hfront, hback = hair_mask(style, view)

    if view in ("down", "up"):
        # ---- back hair
        if hback:
            paint(cv, hback, dk(hair, 0.15))
        # ---- legs
        states = (-step, step) if view == "down" else (step, -step)
        for x0, st in ((19, states[0]), (25, states[1])):
            pb = 38 + (1 if st > 0 else (-2 if st < 0 else 0))
            leg = R(x0, 34, x0 + 3, pb)
            if btype == "shorts":
                paint(cv, leg & R(0, 0, 47, 35), bottom)
                paint(cv, leg - R(0, 0, 47, 35), skin)
            else:
                paint(cv, leg, leg_col if btype != "skirt" else skin)
            shoe = R(x0, pb + 1, x0 + 3, pb + 2)
            paint(cv, shoe, shoes if st >= 0 else dk(shoes, 0.15), 0.3, 0.35)
        if ttype != "dress" and btype != "skirt":
            paint(cv, R(19, 32, 28, 34) | R(19, 35, 22, 35) | R(25, 35, 28, 35), bottom)
        # ---- arms
        arm_st = (step, -step) if view == "down" else (-step, step)
        for x0, st in ((15, arm_st[0]), (30, arm_st[1])):
            bot = 31 + st
            sleeve_end = 26 if short_sleeve else bot - 2
            arm = R(x0, 24, x0 + 2, bot) - {(15, 24), (32, 24)}
            sleeve = {p for p in arm if p[1] <= sleeve_end}
            paint(cv, sleeve, top if ttype != "jacket" else top)
            paint(cv, arm - sleeve, skin)
        # ---- torso
        torso = R(18, 23, 29, 31) - {(18, 23), (29, 23)}
        paint(cv, torso, top, 0.2, 0.28)
        if ttype == "stripe":
            for y in (25, 27, 29):
                for x in range(19, 29):
                    cv.put(x, y, lt(top2, 0.1))
        if ttype == "jacket" and view == "down":
            paint(cv, R(22, 23, 25, 31), top2, 0.15, 0.2)
            for y in range(24, 32):
                cv.put(21, y, dk(top, 0.35))
                cv.put(26, y, dk(top, 0.35))
        if ttype == "hoodie":
            if view == "down":
                paint(cv, R(20, 23, 27, 24), dk(top, 0.2))
                for (x, y) in ((22, 25), (22, 26), (25, 25), (25, 26)):
                    cv.put(x, y, lt(top, 0.45))
                paint(cv, R(21, 28, 26, 30), dk(top, 0.12))
            else:
                paint(cv, R(20, 22, 27, 27) - {(20, 27), (27, 27)}, dk(top, 0.15))
        if ttype == "dress" or btype == "skirt":
            sk_col = top if ttype == "dress" else bottom
            skirt = set()
            for y in range(31, 37):
                w = (y - 31) // 2
                skirt |= R(18 - w, y, 29 + w, y)
            paint(cv, skirt, sk_col, 0.2, 0.3)
            for y in range(33, 37):
                cv.put(23 + (y % 2), y, dk(sk_col, 0.15))
        elif ttype in ("tee", "long", "stripe", "hoodie"):
            for x in range(18, 30):
                cv.put(x, 31, dk(bottom, 0.2))
        if view == "down" and ttype != "hoodie":
            for (x, y) in ((22, 23), (23, 23), (24, 23), (25, 23), (23, 24), (24, 24)):
                cv.put(x, y, dk(skin, 0.12))
        if view == "up":
            paint(cv, R(21, 21, 26, 23), dk(skin, 0.15))
        # ---- head
        paint(cv, HEAD, skin, 0.12, 0.18)
        for y in (16, 17, 18):
            cv.put(16, y, dk(skin, 0.15))
            cv.put(31, y, dk(skin, 0.25))
        if view == "down":
            for (x, y) in ((20, 16), (20, 17), (27, 16), (27, 17)):
                cv.put(x, y, EYE)
            for x in (19, 28):
                cv.put(x, 19, mix(skin, hexc("#f06a6a"), 0.3))
            cv.put(23, 20, dk(skin, 0.35))
            cv.put(24, 20, dk(skin, 0.35))
            for x in (19, 20, 27, 28):
                cv.put(x, 14, dk(hair, 0.1))
        # ---- beard
        if "beard" in extras and view == "down":
            paint(cv, (R(17, 18, 30, 22) & HEAD) - R(20, 18, 27, 19) - {(23, 20), (24, 20)}, hair, 0.2, 0.25)
            cv.put(23, 20, dk(skin, 0.4))
            cv.put(24, 20, dk(skin, 0.4))
        # ---- hair
        hair_paint(cv, hfront, hair, view)
        # ---- glasses
        if "glasses" in extras and view == "down":
            fr = hexc("#2a2a36")
            for (x0, x1) in ((18, 22), (25, 29)):
                for x in range(x0, x1 + 1):
                    cv.put(x, 15, fr)
                    cv.put(x, 18, fr)
                for y in (16, 17):
                    cv.put(x0, y, fr)
                    cv.put(x1, y, fr)
                    for x in range(x0 + 1, x1):
                        cv.put(x, y, mix(hexc("#cfe8f4"), skin, 0.35))
            for (x, y) in ((20, 16), (20, 17), (27, 16), (27, 17)):
                cv.put(x, y, EYE)
            cv.put(21, 16, (255, 255, 255, 255))
            cv.put(28, 16, (255, 255, 255, 255))
            cv.put(23, 16, fr)
            cv.put(24, 16, fr)
    else:  # left profile
        sw = 4 * step  # +: near leg forward (to the left)
        def leg_mask(x0, off, lift):
            m = set()
            for y in range(33, 39 - lift):
                o = round(-off * (y - 32) / 6)
                m |= R(x0 + o, y, x0 + 3 + o, y)
            o = round(-off * (6 - lift) / 6)
            shoe = R(x0 + o - 2, 39 - lift, x0 + 3 + o, 40 - lift) - {(x0 + o - 2, 39 - lift)}
            return m, shoe
        near_off, far_off = sw * 0.75, -sw * 0.75
        far_leg, far_shoe = leg_mask(23, far_off, 1 if far_off < 0 else 0)
        near_leg, near_shoe = leg_mask(21, near_off, 1 if near_off < 0 else 0)
        lc = leg_col if btype != "skirt" else skin
        for legm, shoem, dark in ((far_leg, far_shoe, 0.2), (near_leg, near_shoe, 0.0)):
            if btype == "shorts":
                paint(cv, {p for p in legm if p[1] <= 35}, dk(bottom, dark))
                paint(cv, {p for p in legm if p[1] > 35}, dk(skin, dark))
            else:
                paint(cv, legm, dk(lc, dark))
            paint(cv, shoem, dk(shoes, dark), 0.3, 0.35)
        # far arm (behind the body)
        def arm_mask(x0, off):
            m = set()
            for y in range(24, 32):
                o = round(off * (y - 23) / 8)
                m |= R(x0 + o, y, x0 + 2 + o, y)
            return m
        far_arm = arm_mask(23, -sw * 0.9)
        near_arm = arm_mask(22, sw * 0.9)
        for am, dark in ((far_arm, 0.25),):
            sl = {p for p in am if p[1] <= (26 if short_sleeve else 29)}
            paint(cv, sl, dk(top, dark))
            paint(cv, am - sl, dk(skin, dark))
        if ttype != "dress" and btype != "skirt":
            paint(cv, R(20, 32, 27, 33), bottom)
        torso = R(20, 23, 27, 31) - {(20, 23), (27, 23)}
        paint(cv, torso, top, 0.2, 0.28)
        if ttype == "stripe":
            for y in (25, 27, 29):
                for x in range(21, 27):
                    cv.put(x, y, lt(top2, 0.1))
        if ttype == "jacket":
            paint(cv, R(20, 24, 21, 31), top2, 0.1, 0.15)
        if ttype == "hoodie":
            paint(cv, R(24, 21, 28, 25) - {(28, 21)}, dk(top, 0.2))
        if ttype == "dress" or btype == "skirt":
            sk_col = top if ttype == "dress" else bottom
            skirt = set()
            for y in range(31, 37):
                w = (y - 31) // 2
                skirt |= R(20 - w, y, 27 + w, y)
            paint(cv, skirt, sk_col, 0.2, 0.3)
        elif ttype in ("tee", "long", "stripe", "hoodie"):
            for x in range(20, 28):
                cv.put(x, 31, dk(bottom, 0.2))
        sl = {p for p in near_arm if p[1] <= (26 if short_sleeve else 29)}
        paint(cv, sl, top)
        paint(cv, near_arm - sl, skin)
        if hback:
            paint(cv, hback, dk(hair, 0.1))
        head = HEAD | {(16, 17), (16, 18)}
        paint(cv, head, skin, 0.12, 0.18)
        cv.put(16, 18, dk(skin, 0.12))
        cv.put(19, 16, EYE)
        cv.put(19, 17, EYE)
        cv.put(18, 14, dk(hair, 0.1))
        cv.put(19, 14, dk(hair, 0.1))
        cv.put(20, 19, mix(skin, hexc("#f06a6a"), 0.3))
        cv.put(18, 20, dk(skin, 0.35))
        if "beard" in extras:
            paint(cv, (R(16, 18, 26, 22) & head) - R(16, 17, 21, 19) - {(18, 20)}, hair, 0.2, 0.25)
        hair_paint(cv, hfront, hair, view)
        for (x, y) in ((24, 16), (24, 17), (25, 16), (25, 17), (25, 18)):
            cv.put(x, y, skin if x == 24 else dk(skin, 0.22))
        if "glasses" in extras:
            fr = hexc("#2a2a36")
            for x in range(17, 22):
                cv.put(x, 15, fr)
                cv.put(x, 18, fr)
            for y in (16, 17):
                cv.put(17, y, fr)
                cv.put(21, y, fr)
                cv.put(18, y, mix(hexc("#cfe8f4"), skin, 0.35))
                cv.put(20, y, mix(hexc("#cfe8f4"), skin, 0.35))
            cv.put(19, 16, EYE)
            cv.put(19, 17, EYE)
            for x in (22, 23):
                cv.put(x, 16, fr)

    # ---- hats
    hat = next((e for e in extras if e.startswith("cap:") or e.startswith("beanie:")), None)
    if hat:
        kind, hc = hat.split(":")
        hc = hexc(hc)
        if kind == "cap":
            crown = {p for p in HEAD if p[1] <= 13} | R(19, 8, 28, 9)
            if view == "left":
                crown |= {(31, 12), (31, 13)}
            paint(cv, crown, hc, 0.3, 0.3)
            if view == "down":
                paint(cv, R(17, 13, 30, 14) - {(17, 14), (30, 14)}, dk(hc, 0.2), 0.25, 0.4)
                cv.put(23, 10, lt(hc, 0.4))
                cv.put(24, 10, lt(hc, 0.4))
            elif view == "left":
                paint(cv, R(12, 13, 19, 14) - {(12, 14)}, dk(hc, 0.2), 0.25, 0.4)
            else:
                cv.put(23, 13, dk(hc, 0.4))
                cv.put(24, 13, dk(hc, 0.4))
        else:
            crown = R(20, 7, 27, 7) | R(18, 8, 29, 8) | R(17, 9, 30, 9) | R(16, 10, 31, 12)
            paint(cv, crown, hc, 0.3, 0.3)
            band = R(16, 12, 31, 14)
            paint(cv, band, dk(hc, 0.15), 0.25, 0.35)
            for x in range(17, 31, 2):
                cv.put(x, 13, dk(hc, 0.3))
            paint(cv, R(23, 5, 24, 6), lt(hc, 0.45), 0.3, 0.2)
    outline(cv, 0.75)
    drop_shadow(cv, 24, 41.5, 9, 2.6, 80)
    return cv


# 32 characters: sheet n, slot 1..8
AVATAR_SPECS = [
    # sheet 1
    dict(skin="light", hair="short", haircolor="darkbrown", toptype="tee", top="#d9534f", bottomtype="pants", bottom="#3b5b8c"),
    dict(skin="tan", hair="long", haircolor="black", toptype="long", top="#2a9d8f", bottomtype="pants", bottom="#5a5a66", shoes="#f0f0f0"),
    dict(skin="dark", hair="afro", haircolor="black", toptype="jacket", top="#e0a030", top2="#f4f2ea", bottomtype="pants", bottom="#2e3a5c"),
    dict(skin="pale", hair="bob", haircolor="blonde", toptype="dress", top="#8a5ac0", bottomtype="pants", bottom="#8a5ac0", shoes="#c04040"),
    dict(skin="medium", hair="spiky", haircolor="ginger", toptype="hoodie", top="#4a9a5a", bottomtype="shorts", bottom="#c0a878"),
    dict(skin="light", hair="buzz", haircolor="grey", toptype="tee", top="#2e4a7a", bottomtype="pants", bottom="#b89a70", extras=["beard", "glasses"]),
    dict(skin="brown", hair="ponytail", haircolor="darkbrown", toptype="stripe", top="#f07860", top2="#fbe8d8", bottomtype="pants", bottom="#2a2a32"),
    dict(skin="pale", hair="bun", haircolor="auburn", toptype="long", top="#f2eee4", bottomtype="skirt", bottom="#2e4a7a", extras=["glasses"]),
    # sheet 2
    dict(skin="tan", hair="short", haircolor="black", toptype="tee", top="#f4f2ee", bottomtype="pants", bottom="#3b5b8c", extras=["cap:#d04040"]),
    dict(skin="dark", hair="ponytail", haircolor="black", toptype="dress", top="#f08a30", bottomtype="pants", bottom="#f08a30", shoes="#6a3a22"),
    dict(skin="light", hair="mohawk", haircolor="pink", toptype="jacket", top="#2a2a30", top2="#a0a4b0", bottomtype="pants", bottom="#3a3a44", shoes="#d04040"),
    dict(skin="medium", hair="sidepart", haircolor="brown", toptype="long", top="#7ab8e8", bottomtype="pants", bottom="#6a6a74", extras=["glasses"]),
    dict(skin="pale", hair="curly", haircolor="ginger", toptype="hoodie", top="#7a4ab0", bottomtype="pants", bottom="#3b5b8c"),
    dict(skin="brown", hair="short", haircolor="black", toptype="jacket", top="#6a7a3a", top2="#e8e0c8", bottomtype="pants", bottom="#34343c", extras=["beanie:#e0a830"]),
    dict(skin="light", hair="long", haircolor="platinum", toptype="tee", top="#f08ab0", bottomtype="skirt", bottom="#2a2a32"),
    dict(skin="dark", hair="buzz", haircolor="black", toptype="tee", top="#3aa060", bottomtype="shorts", bottom="#7a7a84", extras=["beard"]),
    # sheet 3
    dict(skin="tan", hair="bob", haircolor="black", toptype="jacket", top="#c03a3a", top2="#f4f2ea", bottomtype="pants", bottom="#26262e"),
    dict(skin="pale", hair="short", haircolor="blonde", toptype="hoodie", top="#8a8e9a", bottomtype="pants", bottom="#2e3a5c", shoes="#f0f0f0"),
    dict(skin="medium", hair="afro", haircolor="brown", toptype="tee", top="#f2c840", bottomtype="pants", bottom="#3b5b8c"),
    dict(skin="light", hair="ponytail", haircolor="blonde", toptype="long", top="#8ad8b8", bottomtype="pants", bottom="#e8e4da", shoes="#8a5a3a"),
    dict(skin="dark", hair="spiky", haircolor="blue", toptype="tee", top="#f07a30", bottomtype="pants", bottom="#4a4a54"),
    dict(skin="brown", hair="bun", haircolor="black", toptype="dress", top="#2a9aa0", bottomtype="pants", bottom="#2a9aa0", extras=["glasses"]),
    dict(skin="pale", hair="sidepart", haircolor="auburn", toptype="jacket", top="#2e3e6a", top2="#bcd8f0", bottomtype="pants", bottom="#6a6a74", extras=["beard"]),
    dict(skin="tan", hair="long", haircolor="brown", toptype="stripe", top="#2e4a7a", top2="#f4f2ea", bottomtype="skirt", bottom="#c04040"),
    # sheet 4
    dict(skin="light", hair="curly", haircolor="black", toptype="tee", top="#9ad040", bottomtype="pants", bottom="#34343c", extras=["glasses"]),
    dict(skin="medium", hair="long", haircolor="black", toptype="hoodie", top="#3a70d0", bottomtype="pants", bottom="#26262e", extras=["beanie:#d04848"]),
    dict(skin="dark", hair="bob", haircolor="purple", toptype="long", top="#f2d040", bottomtype="skirt", bottom="#34343c"),
    dict(skin="pale", hair="buzz", haircolor="brown", toptype="tee", top="#8a5a3a", bottomtype="shorts", bottom="#3b5b8c"),
    dict(skin="brown", hair="short", haircolor="grey", toptype="jacket", top="#c8a878", top2="#f4f2ea", bottomtype="pants", bottom="#6a4a34", extras=["beard"]),
    dict(skin="tan", hair="spiky", haircolor="black", toptype="tee", top="#40c0d0", bottomtype="shorts", bottom="#3b5b8c", extras=["cap:#2e4a7a"]),
    dict(skin="light", hair="mohawk", haircolor="green", toptype="stripe", top="#26262e", top2="#f4f2ea", bottomtype="pants", bottom="#6a6a74"),
    dict(skin="dark", hair="ponytail", haircolor="auburn", toptype="jacket", top="#c8408a", top2="#f4f2ea", bottomtype="pants", bottom="#26262e"),
]

AVATAR_NAMES = ([f"avatars_1_{i}" for i in range(1, 9)] + [f"avatars_2_{i}" for i in range(1, 9)]
                + [f"avatars_3_{i}" for i in range(1, 9)] + ["avatars_4_1", "avatars_4_2", "avatars_4_5", "avatars_4_6"])


def character_block(spec):
    """3 columns (step-left, stand, step-right) x 4 rows (down, left, right, up)."""
    block = Image.new("RGBA", (3 * FRAME, 4 * FRAME), (0, 0, 0, 0))
    for row, d in enumerate(DIRECTIONS):
        for col, step in enumerate((-1, 0, 1)):
            if d == "right":
                im = render_char(spec, "left", step).im.transpose(Image.FLIP_LEFT_RIGHT)
            else:
                im = render_char(spec, d, step).im
            block.alpha_composite(im, (col * FRAME, row * FRAME))
    return block


def build_avatars():
    os.makedirs(CHARS, exist_ok=True)
    entries = []
    for sheet_no in range(1, 5):
        im = Image.new("RGBA", (12 * FRAME, 8 * FRAME), (0, 0, 0, 0))
        for slot in range(1, 9):
            spec = AVATAR_SPECS[(sheet_no - 1) * 8 + slot - 1]
            bc, br = (slot - 1) % 4, (slot - 1) // 4
            block = character_block(spec)
            im.alpha_composite(block, (bc * 3 * FRAME, br * 4 * FRAME))
            name = f"avatars_{sheet_no}_{slot}"
            if name in AVATAR_NAMES:
                save_png(block.crop((FRAME, 0, 2 * FRAME, FRAME)), os.path.join(CHARS, name + ".png"))
                entries.append({
                    "name": name, "sheet": f"avatars_{sheet_no}.png", "slot": slot,
                    "blockColumn": bc, "blockRow": br,
                    "x": bc * 3 * FRAME, "y": br * 4 * FRAME,
                    "preview": name + ".png",
                })
        save_png(im, os.path.join(CHARS, f"avatars_{sheet_no}.png"))
    entries.sort(key=lambda e: AVATAR_NAMES.index(e["name"]))
    manifest = {
        "frameWidth": FRAME, "frameHeight": FRAME,
        "sheetWidth": 12 * FRAME, "sheetHeight": 8 * FRAME,
        "sheetColumns": 12, "sheetRows": 8,
        "charactersPerSheet": 8,
        "characterGrid": {"columns": 4, "rows": 2},
        "characterBlock": {"columns": 3, "rows": 4, "width": 3 * FRAME, "height": 4 * FRAME},
        "slotLayout": "character n (1..8) is at blockColumn=(n-1)%4, blockRow=(n-1)//4",
        "directions": DIRECTIONS,
        "frames": FRAMES,
        "standFrame": 1,
        "sheets": [f"avatars_{i}.png" for i in range(1, 5)],
        "avatars": entries,
    }
    with open(os.path.join(CHARS, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


# --------------------------------------------------------------------------
# map
# --------------------------------------------------------------------------
MAP_W, MAP_H = 64, 44

FLOORS_FIRST = 1
WALLS_FIRST = FLOORS_FIRST + 24
NATURE_FIRST = WALLS_FIRST + 14
DECOR_FIRST = NATURE_FIRST + 24
WALLTOPS_FIRST = DECOR_FIRST + 24
# Pieces drawn above players (Float layer).  They are copies of Walls tiles
# 5, 6, 8, 9, 10 but live in their own tileset *without* isWall, so nothing
# that keys collision on isWall can ever block a doorway.
WALLTOP_NAMES = ["wall_cap_overhang", "door_lintel", "roof_top_left", "roof_top", "roof_top_right"]

CONFERENCES = [
    # id, display name, rectangle (x0, y0, x1, y1) inclusive, in tiles
    ("C1", "Main Stage", (6, 5, 19, 14)),
    ("C2", "Workshop Room", (23, 6, 30, 13)),
    ("C3", "Meeting Room", (34, 6, 40, 13)),
]


def prop(name, value, typ="string"):
    return {"name": name, "type": typ, "value": value}


class MapBuilder:
    def __init__(self, floor_names, wall_names, nature_names, decor_names):
        self.F = {n: FLOORS_FIRST + i for i, n in enumerate(floor_names)}
        self.W = {n: WALLS_FIRST + i for i, n in enumerate(wall_names)}
        self.N = {n: NATURE_FIRST + i for i, n in enumerate(nature_names)}
        self.D = {n: DECOR_FIRST + i for i, n in enumerate(decor_names)}
        self.WT = {n: WALLTOPS_FIRST + i for i, n in enumerate(WALLTOP_NAMES)}
        self.ground = [[0] * MAP_W for _ in range(MAP_H)]
        self.coll = [[0] * MAP_W for _ in range(MAP_H)]
        self.float = [[0] * MAP_W for _ in range(MAP_H)]
        self.conf = [[0] * MAP_W for _ in range(MAP_H)]
        self.wall = [[False] * MAP_W for _ in range(MAP_H)]
        self.gaps_h = []  # door gap cells in horizontal walls
        self.objects = []
        self.rng = random.Random(4242)

    # -- helpers -----------------------------------------------------------
    def fill(self, layer, x0, y0, x1, y1, gid):
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                layer[y][x] = gid() if callable(gid) else gid

    def hwall(self, y, x0, x1, gaps=()):
        for x in range(x0, x1 + 1):
            self.wall[y][x] = True
        for (g0, g1) in gaps:
            for x in range(g0, g1 + 1):
                self.wall[y][x] = False
                self.gaps_h.append((x, y))

    def vwall(self, x, y0, y1, gaps=()):
        for y in range(y0, y1 + 1):
            self.wall[y][x] = True
        for (g0, g1) in gaps:
            for y in range(g0, g1 + 1):
                self.wall[y][x] = False

    def obj(self, name, tx, ty, typ="decor", props=None):
        o = {
            "gid": self.D[name], "height": 32, "id": len(self.objects) + 1, "name": name,
            "rotation": 0, "type": typ, "visible": True, "width": 32,
            "x": tx * 32, "y": (ty + 1) * 32,
        }
        if props:
            o["properties"] = props
        self.objects.append(o)
        return o

    def grass(self):
        v = self.rng.random()
        if v < 0.5:
            return self.F["grass"]
        if v < 0.78:
            return self.F["grass_b"]
        if v < 0.92:
            return self.F["grass_c"]
        return self.F["grass_flowers"] if v < 0.96 else self.F["grass_flowers_b"]

    def path(self):
        return self.F["path"] if self.rng.random() < 0.6 else self.F["path_b"]

    def tree(self, x, y):
        """2x3 tree; (x, y) is its top-left tile.  Only the trunk row blocks."""
        n = self.N
        self.float[y][x], self.float[y][x + 1] = n["tree_tl"], n["tree_tr"]
        self.float[y + 1][x], self.float[y + 1][x + 1] = n["tree_ml"], n["tree_mr"]
        self.coll[y + 2][x], self.coll[y + 2][x + 1] = n["tree_bl"], n["tree_br"]

    def pine(self, x, y):
        self.float[y][x] = self.N["pine_top"]
        self.coll[y + 1][x] = self.N["pine_bottom"]

    def lamp(self, x, y):
        self.float[y][x] = self.N["lamp_top"]
        self.coll[y + 1][x] = self.N["lamp_bottom"]

    def pond(self, x0, y0, x1, y1):
        n = self.N
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                v = "t" if y == y0 else ("b" if y == y1 else "")
                h = "l" if x == x0 else ("r" if x == x1 else "")
                key = "water_" + (v + h if v + h else "c")
                self.coll[y][x] = n[key]

    # -- the world -----------------------------------------------------------
    def build(self):
        F, N, D = self.F, self.N, self.D
        # grass everywhere, boundary hedge
        self.fill(self.ground, 0, 0, MAP_W - 1, MAP_H - 1, self.grass)
        for x in range(MAP_W):
            self.coll[0][x] = self.coll[MAP_H - 1][x] = N["hedge"]
        for y in range(MAP_H):
            self.coll[y][0] = self.coll[y][MAP_W - 1] = N["hedge"]

        # ---- outdoor paths
        self.fill(self.ground, 1, 1, 2, 32, self.path)        # west path from spawn
        self.fill(self.ground, 3, 1, 8, 2, self.path)          # spawn plaza
        self.fill(self.ground, 1, 17, 3, 19, self.path)        # to west entrance
        self.fill(self.ground, 1, 31, 62, 32, self.path)       # southern promenade
        self.fill(self.ground, 15, 30, 17, 30, self.path)      # south entrance
        self.fill(self.ground, 34, 30, 36, 30, self.path)
        self.fill(self.ground, 43, 17, 47, 19, self.path)      # east entrance
        self.fill(self.ground, 46, 2, 47, 30, self.path)       # east avenue
        self.fill(self.ground, 48, 11, 58, 12, self.path)      # pond walk
        self.fill(self.ground, 20, 34, 31, 40, lambda: F["plaza"])   # plaza
        self.fill(self.ground, 24, 33, 27, 33, self.path)
        self.fill(self.ground, 55, 27, 61, 29, lambda: F["dirt"])    # yard by the shed

        # ---- main building
        floor_under_walls = F["concrete"]
        self.fill(self.ground, 4, 4, 42, 29, floor_under_walls)
        self.hwall(4, 4, 42)
        self.hwall(29, 4, 42, gaps=[(15, 17), (34, 36)])
        self.vwall(4, 4, 29, gaps=[(17, 19)])
        self.vwall(42, 4, 29, gaps=[(17, 19)])
        self.vwall(21, 4, 16)
        self.vwall(32, 4, 16)
        self.hwall(16, 4, 42, gaps=[(12, 14), (25, 27), (36, 38)])
        self.hwall(20, 4, 42, gaps=[(9, 12), (22, 25), (33, 36)])
        self.vwall(28, 20, 29, gaps=[(24, 25)])

        # floors
        self.fill(self.ground, 5, 5, 20, 15, lambda: F["wood_light"] if self.rng.random() < 0.7 else F["wood_light_b"])
        self.fill(self.ground, 6, 5, 19, 7, F["stage"])                     # stage
        self.fill(self.ground, 12, 8, 14, 15, F["carpet_red"])              # aisle
        self.fill(self.ground, 12, 16, 14, 16, F["carpet_red"])
        self.fill(self.ground, 22, 5, 31, 15, F["carpet_blue"])             # workshop
        self.fill(self.ground, 25, 16, 27, 16, F["carpet_blue"])
        self.fill(self.ground, 33, 5, 41, 15, F["carpet_green"])            # meeting room
        self.fill(self.ground, 36, 16, 38, 16, F["carpet_green"])
        self.fill(self.ground, 5, 17, 41, 19, F["tile_cream"])              # corridor
        self.fill(self.ground, 4, 17, 4, 19, F["doormat"])
        self.fill(self.ground, 42, 17, 42, 19, F["doormat"])
        self.fill(self.ground, 5, 21, 27, 28, F["carpet_grey"])             # open office
        self.fill(self.ground, 9, 20, 12, 20, F["tile_cream"])
        self.fill(self.ground, 22, 20, 25, 20, F["tile_cream"])
        self.fill(self.ground, 15, 29, 17, 29, F["doormat"])
        self.fill(self.ground, 29, 21, 41, 28, F["wood_dark"])              # lounge
        self.fill(self.ground, 36, 21, 41, 24, F["tile_checker"])           # kitchen corner
        self.fill(self.ground, 33, 20, 36, 20, F["tile_cream"])
        self.fill(self.ground, 28, 24, 28, 25, F["wood_dark"])
        self.fill(self.ground, 34, 29, 36, 29, F["doormat"])

        # ---- shed with a roof (east yard)
        sx, sy = 57, 24
        for i, x in enumerate(range(sx, sx + 4)):
            side = "_left" if i == 0 else ("_right" if i == 3 else "")
            self.float[sy][x] = self.WT["roof_top" + side]
            self.coll[sy + 1][x] = self.W["roof_bottom" + side]
        for x, key in zip(range(sx, sx + 4), ("wall_face_end_left", "wall_face_window", "door_closed", "wall_face_end_right")):
            self.coll[sy + 2][x] = self.W[key]

        # ---- nature
        self.pond(51, 4, 57, 8)
        for (x, y) in ((49, 1), (59, 2), (49, 14), (58, 14), (53, 19), (60, 19),
                       (4, 34), (10, 37), (36, 35), (42, 37), (50, 34), (57, 36), (15, 38)):
            self.tree(x, y)
        for (x, y) in ((44, 3), (44, 9), (44, 23), (13, 34), (33, 39), (46, 38), (61, 30), (5, 40), (54, 40)):
            self.pine(x, y)
        for (x, y) in ((12, 1), (24, 1), (36, 1), (43, 27), (7, 39), (39, 40), (61, 10)):
            self.coll[y][x] = N["bush"]
        for (x, y) in ((55, 15), (8, 35), (60, 41), (44, 14)):
            self.coll[y][x] = N["rock"]
        for (x, y) in ((48, 9), (18, 41)):
            self.coll[y][x] = N["stump"]
        for (x, y) in ((19, 33), (32, 33), (19, 41), (32, 41), (50, 29), (51, 29)):
            self.coll[y][x] = N["flowerbed"]
        for (x, y) in ((45, 16), (45, 21), (19, 35), (32, 35), (3, 16), (3, 21), (14, 33), (37, 33)):
            self.lamp(x, y - 1)

        # flower meadows (only on plain grass)
        grass_ids = {F["grass"], F["grass_b"], F["grass_c"]}
        for (cx, cy, rad, key) in ((16, 2, 2.5, "grass_flowers"), (30, 2, 2, "grass_flowers_b"),
                                   (40, 2, 2, "grass_flowers"), (55, 15, 2.5, "grass_flowers_b"),
                                   (50, 26, 2.5, "grass_flowers"), (8, 38, 3, "grass_flowers_b"),
                                   (40, 39, 3, "grass_flowers"), (58, 39, 2.5, "grass_flowers_b"),
                                   (2, 38, 2, "grass_flowers"), (61, 5, 1.5, "grass_flowers")):
            for y in range(int(cy - rad), int(cy + rad) + 1):
                for x in range(int(cx - rad), int(cx + rad) + 1):
                    if 0 < x < MAP_W - 1 and 0 < y < MAP_H - 1 and self.ground[y][x] in grass_ids:
                        if (x - cx) ** 2 + (y - cy) ** 2 <= rad * rad and self.rng.random() < 0.6:
                            other = "grass_flowers_b" if key == "grass_flowers" else "grass_flowers"
                            self.ground[y][x] = F[key] if self.rng.random() < 0.65 else F[other]
        self.autotile_walls()
        self.place_objects()
        for i, (cid, _name, (x0, y0, x1, y1)) in enumerate(CONFERENCES):
            self.fill(self.conf, x0, y0, x1, y1, 100000 + int(cid[1:]))

    def autotile_walls(self):
        W = self.W

        def is_wall(x, y):
            return 0 <= x < MAP_W and 0 <= y < MAP_H and self.wall[y][x]

        face = [[False] * MAP_W for _ in range(MAP_H)]
        for y in range(MAP_H):
            for x in range(MAP_W):
                if self.wall[y][x] and not is_wall(x, y + 1):
                    face[y][x] = True
        for y in range(MAP_H):
            run = 0
            for x in range(MAP_W):
                if not self.wall[y][x]:
                    run = 0
                    continue
                if not face[y][x]:
                    self.coll[y][x] = W["wall_cap"]
                    run = 0
                    continue
                left_end = not (x > 0 and face[y][x - 1])
                right_end = not (x < MAP_W - 1 and face[y][x + 1])
                if left_end and not right_end:
                    key = "wall_face_end_left"
                elif right_end and not left_end:
                    key = "wall_face_end_right"
                else:
                    key = "wall_face"
                    run += 1
                    outer = y in (4, 29)
                    if outer and run % 4 == 2 and not right_end:
                        key = "wall_face_window"
                self.coll[y][x] = W[key]
                if left_end:
                    run = 0
        # wall tops drawn above players
        for y in range(1, MAP_H):
            for x in range(MAP_W):
                if self.wall[y][x] and not is_wall(x, y - 1):
                    self.float[y - 1][x] = self.WT["wall_cap_overhang"]
        for (x, y) in self.gaps_h:
            self.float[y][x] = self.WT["door_lintel"]
            self.float[y - 1][x] = self.WT["wall_cap_overhang"]

    def place_objects(self):
        fs = [prop("interact", "FILE_SHARE")]
        ss = [prop("interact", "SCREEN_SHARE")]
        o = self.obj
        # Main Stage (C1)
        o("tv_screen", 13, 5, "interactive", ss + [prop("title", "Main Stage screen")])
        o("podium", 10, 6)
        o("speaker", 6, 5)
        o("speaker", 19, 5)
        o("plant_big", 5, 5)
        o("plant_big", 20, 5)
        for y in (9, 11, 13):
            for x in (7, 8, 9, 10, 16, 17, 18, 19):
                o("chair_up", x, y)
        o("plant_small", 5, 15)
        o("plant_small", 20, 15)
        # Workshop Room (C2)
        o("whiteboard", 24, 5)
        o("tv_screen", 27, 5, "interactive", ss + [prop("title", "Workshop screen")])
        o("plant_big", 22, 5)
        o("bookshelf", 31, 5)
        for y in (8, 11):
            for x in range(24, 30):
                o("desk_laptop" if (x + y) % 3 == 0 else "desk", x, y)
                o("chair_up", x, y + 1)
        o("notice_board", 22, 14, "interactive", fs + [prop("title", "Workshop files")])
        o("plant_small", 31, 15)
        # Meeting Room (C3)
        o("tv_screen", 37, 5, "interactive", ss + [prop("title", "Meeting Room screen")])
        o("bookshelf", 33, 5)
        o("bookshelf", 34, 5)
        o("plant_big", 41, 5)
        for x in range(35, 40):
            o("chair_down", x, 8)
            o("desk", x, 9)
            o("chair_up", x, 10)
        o("water_cooler", 41, 15)
        # corridor
        o("notice_board", 7, 17, "interactive", fs + [prop("title", "Team notice board")])
        o("plant_small", 5, 17)
        o("plant_small", 20, 19)
        o("plant_small", 31, 19)
        o("trash_bin", 41, 17)
        # open office
        for (x0, x1) in ((6, 9), (19, 22)):
            for y in (23, 26):
                for x in range(x0, x1 + 1):
                    o("desk_monitor" if (x + y) % 2 else "desk_laptop", x, y)
                    o("chair_up", x, y + 1)
        for x in (14, 18):
            o("bookshelf", x, 21)
        o("plant_big", 5, 21)
        o("plant_big", 27, 21)
        o("plant_small", 5, 28)
        o("plant_small", 27, 28)
        o("water_cooler", 13, 21)
        o("floor_lamp", 11, 28)
        o("trash_bin", 24, 28)
        # lounge + kitchen
        o("sofa_left", 30, 22)
        o("sofa_right", 31, 22)
        o("armchair", 33, 23)
        o("coffee_table", 30, 24)
        o("coffee_table", 31, 24)
        o("floor_lamp", 29, 21)
        o("vending_machine", 38, 21)
        o("water_cooler", 39, 21)
        o("trash_bin", 41, 21)
        o("chair_down", 38, 22)
        o("round_table", 38, 23)
        o("chair_up", 38, 24)
        o("chair_down", 40, 25)
        o("round_table", 40, 26)
        o("chair_up", 40, 27)
        o("bookshelf", 29, 28)
        o("plant_big", 41, 28)
        o("tv_screen", 30, 27, "interactive", ss + [prop("title", "Lounge TV")])
        # outdoors
        o("notice_board", 25, 34, "interactive", fs + [prop("title", "Plaza notice board")])
        o("bench", 22, 37)
        o("bench", 23, 37)
        o("bench", 28, 37)
        o("bench", 29, 37)
        o("planter", 21, 39)
        o("planter", 30, 39)
        o("bench", 52, 10)
        o("bench", 53, 10)
        o("bench", 56, 10)
        # picnic corner in the east garden
        o("round_table", 50, 22)
        o("bench", 49, 23)
        o("bench", 50, 23)
        o("round_table", 54, 25)
        o("bench", 53, 26)
        o("bench", 54, 26)
        o("planter", 6, 3)
        o("planter", 9, 3)
        o("plant_small", 3, 3)

    def tilemap(self):
        def flat(layer):
            return [g for row in layer for g in row]

        def tilelayer(lid, name, layer, visible=True):
            return {
                "data": flat(layer), "height": MAP_H, "id": lid, "name": name, "opacity": 1,
                "type": "tilelayer", "visible": visible, "width": MAP_W, "x": 0, "y": 0,
            }

        def tileset(first, name, image, count, columns, tiles=None, props=None):
            rows = (count + columns - 1) // columns
            ts = {
                "columns": columns, "firstgid": first, "image": image,
                "imageheight": rows * T, "imagewidth": columns * T, "margin": 0, "name": name,
                "spacing": 0, "tilecount": count, "tileheight": T, "tilewidth": T,
            }
            if props:
                ts["properties"] = props
            if tiles:
                ts["tiles"] = tiles
            return ts

        decor_tiles = [{"id": DECOR_NAMES.index("notice_board"), "properties": [prop("interact", "FILE_SHARE")]},
                       {"id": DECOR_NAMES.index("tv_screen"), "properties": [prop("interact", "SCREEN_SHARE")]}]
        tilesets = [
            tileset(FLOORS_FIRST, "Floors", "tilesets/floors.png", 24, 8),
            tileset(WALLS_FIRST, "Walls", "tilesets/walls.png", 14, 7, props=[prop("isWall", "true")]),
            tileset(NATURE_FIRST, "Nature", "tilesets/nature.png", 24, 8),
            tileset(DECOR_FIRST, "Decor", "tilesets/decor.png", 24, 8, tiles=decor_tiles),
            tileset(WALLTOPS_FIRST, "WallTops", "tilesets/walltops.png", len(WALLTOP_NAMES), len(WALLTOP_NAMES)),
        ]
        for (cid, name, _rect) in CONFERENCES:
            tilesets.append(tileset(100000 + int(cid[1:]), "__CONFERENCE_" + cid, "tilesets/conference.png", 1, 1,
                                    tiles=[{"id": 0, "properties": [prop("conference", cid)]}],
                                    props=[prop("name", name)]))
        layers = [
            tilelayer(1, "Ground", self.ground),
            tilelayer(2, "Collision", self.coll),
            tilelayer(3, "Float", self.float),
            tilelayer(4, "__Conference", self.conf, visible=False),
            {"draworder": "topdown", "id": 5, "name": "Object", "objects": self.objects, "opacity": 1,
             "type": "objectgroup", "visible": True, "x": 0, "y": 0},
        ]
        return {
            "compressionlevel": -1,
            "height": MAP_H,
            "infinite": False,
            "layers": layers,
            "nextlayerid": 6,
            "nextobjectid": len(self.objects) + 1,
            "orientation": "orthogonal",
            "properties": [prop("name", "CrowdWire HQ"), prop("spawnX", 50, "int"), prop("spawnY", 50, "int")],
            "renderorder": "right-down",
            "tiledversion": "1.4.2",
            "tileheight": T,
            "tilesets": tilesets,
            "tilewidth": T,
            "type": "map",
            "version": "1.4",
            "width": MAP_W,
        }


def write_map_json(m, path):
    """Tiled-like formatting: pretty-printed, but each data array on one line."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    datas = []
    for layer in m["layers"]:
        if "data" in layer:
            datas.append(layer["data"])
            layer["data"] = "@@DATA%d@@" % (len(datas) - 1)
    text = json.dumps(m, indent=1)
    for i, d in enumerate(datas):
        text = text.replace('"@@DATA%d@@"' % i, "[" + ", ".join(str(g) for g in d) + "]")
    for layer, d in zip([l for l in m["layers"] if "data" in l], datas):
        layer["data"] = d
    with open(path, "w") as f:
        f.write(text + "\n")


def main():
    floor_names, floor_tiles = build_floors()
    wall_names, wall_tiles = build_walls()
    nature_names, nature_tiles = build_nature()
    decor_names, decor_tiles = build_decor()
    save_png(sheet(floor_tiles, 8), os.path.join(TILESETS, "floors.png"))
    save_png(sheet(wall_tiles, 7), os.path.join(TILESETS, "walls.png"))
    save_png(sheet([wall_tiles[wall_names.index(n)] for n in WALLTOP_NAMES], len(WALLTOP_NAMES)),
             os.path.join(TILESETS, "walltops.png"))
    save_png(sheet(nature_tiles, 8), os.path.join(TILESETS, "nature.png"))
    save_png(sheet(decor_tiles, 8), os.path.join(TILESETS, "decor.png"))
    save_png(conference_tile().im, os.path.join(TILESETS, "conference.png"))
    mb = MapBuilder(floor_names, wall_names, nature_names, decor_names)
    mb.build()
    write_map_json(mb.tilemap(), os.path.join(MAPS, "default.json"))
    build_avatars()
    print("assets written to", os.path.relpath(STATIC, ROOT))


if __name__ == "__main__":
    main()
