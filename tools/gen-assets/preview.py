#!/usr/bin/env python3
"""Render previews of the generated default map and avatars (for humans only;
the output is not part of the repository).

Usage: python3 tools/gen-assets/preview.py [map.png] [avatars.png]
Defaults: /tmp/map-preview.png and /tmp/avatars-preview.png
"""
import json
import os
import sys

from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
MAPS = os.path.join(ROOT, "assets", "static", "maps")
CHARS = os.path.join(ROOT, "assets", "static", "characters")

TINTS = [(255, 80, 80), (80, 160, 255), (255, 200, 60), (120, 255, 140)]


def load_tiles(m):
    """gid -> 32x32 RGBA image"""
    tiles = {}
    for ts in m["tilesets"]:
        im = Image.open(os.path.join(MAPS, ts["image"])).convert("RGBA")
        tw, th, cols = ts["tilewidth"], ts["tileheight"], ts["columns"]
        for i in range(ts["tilecount"]):
            x, y = (i % cols) * tw, (i // cols) * th
            tiles[ts["firstgid"] + i] = im.crop((x, y, x + tw, y + th))
    return tiles


def render_map(out_path):
    with open(os.path.join(MAPS, "default.json")) as f:
        m = json.load(f)
    W, H, T = m["width"], m["height"], m["tilewidth"]
    tiles = load_tiles(m)
    layers = {l["name"]: l for l in m["layers"]}
    canvas = Image.new("RGBA", (W * T, H * T), (0, 0, 0, 255))

    def draw_layer(name):
        data = layers[name]["data"]
        for i, gid in enumerate(data):
            if gid:
                canvas.alpha_composite(tiles[gid], ((i % W) * T, (i // W) * T))

    draw_layer("Ground")
    draw_layer("Collision")
    for o in sorted(layers["Object"]["objects"], key=lambda o: o["y"]):
        canvas.alpha_composite(tiles[o["gid"]], (int(o["x"]), int(o["y"] - o["height"])))
    # a few avatars for scale
    sheet = Image.open(os.path.join(CHARS, "avatars_1.png")).convert("RGBA")
    for k, (tx, ty, d) in enumerate(((1, 1, 0), (13, 12, 3), (26, 18, 1), (48, 12, 2), (23, 35, 0), (10, 25, 3))):
        bc, br = k % 4, (k // 4) % 2
        fx, fy = bc * 144 + 48, br * 192 + d * 48
        fr = sheet.crop((fx, fy, fx + 48, fy + 48))
        canvas.alpha_composite(fr, (tx * T + 16 - 24, ty * T + 32 - 44))
    draw_layer("Float")
    # conference areas tinted
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    od = ImageDraw.Draw(overlay)
    conf_ids = {}
    for ts in m["tilesets"]:
        if ts["name"].startswith("__CONFERENCE_"):
            conf_ids[ts["firstgid"]] = ts["name"]
    for i, gid in enumerate(layers["__Conference"]["data"]):
        if gid:
            c = TINTS[(gid - 100001) % len(TINTS)]
            x, y = (i % W) * T, (i // W) * T
            od.rectangle((x, y, x + T - 1, y + T - 1), fill=c + (34,))
            nb = layers["__Conference"]["data"]
            col, row = i % W, i // W
            for (dx, dy, edge) in ((0, -1, (x, y, x + T - 1, y + 1)), (0, 1, (x, y + T - 2, x + T - 1, y + T - 1)),
                                   (-1, 0, (x, y, x + 1, y + T - 1)), (1, 0, (x + T - 2, y, x + T - 1, y + T - 1))):
                nx, ny = col + dx, row + dy
                if not (0 <= nx < W and 0 <= ny < H) or nb[ny * W + nx] != gid:
                    od.rectangle(edge, fill=c + (200,))
    canvas.alpha_composite(overlay)
    canvas.convert("RGB").save(out_path)
    return canvas


def render_avatars(out_path):
    sheets = [Image.open(os.path.join(CHARS, "avatars_%d.png" % i)).convert("RGBA") for i in range(1, 5)]
    w, h = sheets[0].size
    out = Image.new("RGBA", (w * 2 + 10, h * 2 + 10), (96, 150, 88, 255))
    for i, s in enumerate(sheets):
        out.alpha_composite(s, ((i % 2) * (w + 10), (i // 2) * (h + 10)))
    out = out.resize((out.width * 2, out.height * 2), Image.NEAREST)
    out.convert("RGB").save(out_path)


if __name__ == "__main__":
    mp = sys.argv[1] if len(sys.argv) > 1 else "/tmp/map-preview.png"
    ap = sys.argv[2] if len(sys.argv) > 2 else "/tmp/avatars-preview.png"
    render_map(mp)
    render_avatars(ap)
    print("wrote", mp, ap)
