#!/usr/bin/env python3
"""Validate assets/static/maps/default.json (and the images it references).

Usage: python3 tools/gen-assets/check_map.py [path/to/map.json]
Exits non-zero with a message on the first failed check.
"""
import json
import os
import sys
from collections import deque

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT = os.path.join(ROOT, "assets", "static", "maps", "default.json")

REQUIRED_LAYERS = ["Ground", "Collision", "Float", "__Conference", "Object"]
SPAWN_PX = (50, 50)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    with open(path) as f:
        m = json.load(f)
    base = os.path.dirname(path)

    # ---- header / dimensions
    check(m.get("type") == "map", "type must be 'map'")
    check(m.get("orientation") == "orthogonal", "orientation must be orthogonal")
    check(m.get("renderorder") == "right-down", "renderorder must be right-down")
    check(m.get("infinite") is False, "map must not be infinite")
    check(m.get("tilewidth") == 32 and m.get("tileheight") == 32, "tiles must be 32x32")
    W, H, TW = m["width"], m["height"], m["tilewidth"]
    check(W >= 60 and H >= 40, "map must be at least 60x40 tiles, got %dx%d" % (W, H))
    check("nextlayerid" in m and "nextobjectid" in m, "nextlayerid / nextobjectid missing")

    # ---- layers
    layers = m["layers"]
    names = [l["name"] for l in layers]
    check(names == REQUIRED_LAYERS, "layers must be %s in that order, got %s" % (REQUIRED_LAYERS, names))
    by_name = {l["name"]: l for l in layers}
    for l in layers:
        for k in ("id", "name", "type", "visible", "opacity", "x", "y"):
            check(k in l, "layer %s lacks %s" % (l["name"], k))
        if l["type"] == "tilelayer":
            check(l["width"] == W and l["height"] == H, "layer %s has wrong size" % l["name"])
            check(isinstance(l["data"], list) and len(l["data"]) == W * H,
                  "layer %s data must be a plain list of %d GIDs" % (l["name"], W * H))
    for n in REQUIRED_LAYERS[:4]:
        check(by_name[n]["type"] == "tilelayer", "%s must be a tilelayer" % n)
    check(by_name["__Conference"]["visible"] is False, "__Conference must be invisible")
    obj_layer = by_name["Object"]
    check(obj_layer["type"] == "objectgroup" and obj_layer.get("draworder") == "topdown",
          "Object must be a topdown objectgroup")
    ids = [l["id"] for l in layers]
    check(len(set(ids)) == len(ids) and m["nextlayerid"] > max(ids), "bad layer ids / nextlayerid")

    # ---- tilesets and images
    ranges = []
    for ts in m["tilesets"]:
        for k in ("firstgid", "name", "tilewidth", "tileheight", "tilecount", "columns", "image",
                  "imagewidth", "imageheight", "margin", "spacing"):
            check(k in ts, "tileset %s lacks %s" % (ts.get("name"), k))
        check(ts["tilewidth"] == 32 and ts["tileheight"] == 32, "tileset %s: tiles must be 32x32" % ts["name"])
        img = os.path.join(base, ts["image"])
        check(os.path.isfile(img), "tileset %s: image %s missing" % (ts["name"], img))
        with Image.open(img) as im:
            check(im.size == (ts["imagewidth"], ts["imageheight"]),
                  "tileset %s: image is %s, json says %dx%d" % (ts["name"], im.size, ts["imagewidth"], ts["imageheight"]))
        rows = ts["imageheight"] // 32
        check(ts["columns"] == ts["imagewidth"] // 32 and ts["tilecount"] <= ts["columns"] * rows,
              "tileset %s: columns/tilecount do not match the image" % ts["name"])
        ranges.append((ts["firstgid"], ts["firstgid"] + ts["tilecount"] - 1, ts))
    ranges.sort(key=lambda r: r[0])
    for a, b in zip(ranges, ranges[1:]):
        check(a[1] < b[0], "tilesets %s and %s overlap" % (a[2]["name"], b[2]["name"]))

    def tileset_of(gid):
        for lo, hi, ts in ranges:
            if lo <= gid <= hi:
                return ts
        return None

    for l in layers:
        if l["type"] != "tilelayer":
            continue
        for i, gid in enumerate(l["data"]):
            if gid:
                check(tileset_of(gid) is not None,
                      "layer %s: gid %d at tile (%d,%d) belongs to no tileset" % (l["name"], gid, i % W, i // W))

    walls = [ts for ts in m["tilesets"] if ts["name"] == "Walls"]
    if walls:
        props = {p["name"]: p["value"] for p in walls[0].get("properties", [])}
        check(props.get("isWall") == "true", "Walls tileset must carry isWall=true")

    # ---- conferences
    conf_ts = {}
    for ts in m["tilesets"]:
        if ts["name"].startswith("__CONFERENCE_"):
            cid = ts["name"][len("__CONFERENCE_"):]
            check(ts["firstgid"] == 100000 + int(cid[1:]), "%s must have firstgid %d" % (ts["name"], 100000 + int(cid[1:])))
            check(ts["tilecount"] == 1 and ts["columns"] == 1, "%s must be a 1-tile tileset" % ts["name"])
            tprops = {p["name"]: p["value"] for t in ts.get("tiles", []) if t["id"] == 0 for p in t.get("properties", [])}
            check(tprops.get("conference") == cid, "%s tile 0 must have conference=%s" % (ts["name"], cid))
            sprops = {p["name"]: p["value"] for p in ts.get("properties", [])}
            check(isinstance(sprops.get("name"), str) and sprops["name"], "%s lacks a display name" % ts["name"])
            conf_ts[ts["firstgid"]] = (cid, sprops["name"])
    conf = by_name["__Conference"]["data"]
    areas = {}
    for i, gid in enumerate(conf):
        if gid:
            check(gid in conf_ts, "__Conference tile (%d,%d) has non-conference gid %d" % (i % W, i // W, gid))
            areas.setdefault(gid, []).append((i % W, i // W))
    check(len(areas) >= 2, "need at least two distinct conference ids, found %d" % len(areas))
    for gid, cells in areas.items():
        xs = [c[0] for c in cells]
        ys = [c[1] for c in cells]
        rect = (max(xs) - min(xs) + 1) * (max(ys) - min(ys) + 1)
        check(rect == len(cells), "conference %s is not a filled rectangle" % conf_ts[gid][0])

    # ---- collision / reachability
    coll = by_name["Collision"]["data"]
    ground = by_name["Ground"]["data"]

    def blocked(x, y):
        return not (0 <= x < W and 0 <= y < H) or coll[y * W + x] != 0

    sx, sy = SPAWN_PX[0] // TW, SPAWN_PX[1] // TW
    check(not blocked(sx, sy) and ground[sy * W + sx], "spawn tile (%d,%d) is not walkable floor" % (sx, sy))
    for x in range(W):
        check(blocked(x, 0) and blocked(x, H - 1), "outer boundary open at column %d" % x)
    for y in range(H):
        check(blocked(0, y) and blocked(W - 1, y), "outer boundary open at row %d" % y)
    seen = {(sx, sy)}
    q = deque([(sx, sy)])
    while q:
        x, y = q.popleft()
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            n = (x + dx, y + dy)
            if n not in seen and not blocked(*n):
                seen.add(n)
                q.append(n)
    unreachable = [(x, y) for y in range(H) for x in range(W)
                   if not blocked(x, y) and ground[y * W + x] and (x, y) not in seen]
    check(not unreachable, "%d walkable tiles unreachable from spawn, e.g. %s" % (len(unreachable), unreachable[:5]))
    empty_ground = [(x, y) for y in range(H) for x in range(W) if not blocked(x, y) and not ground[y * W + x]]
    check(not empty_ground, "walkable tiles without floor: %s" % empty_ground[:5])
    for gid, cells in areas.items():
        check(any(c in seen for c in cells), "conference %s unreachable" % conf_ts[gid][0])
        free = [c for c in cells if c in seen]
        check(len(free) >= len(cells) // 2, "conference %s is mostly blocked" % conf_ts[gid][0])

    # ---- objects
    objs = obj_layer["objects"]
    oids = [o["id"] for o in objs]
    check(len(set(oids)) == len(oids), "duplicate object ids")
    check(not oids or m["nextobjectid"] > max(oids), "nextobjectid must exceed all object ids")
    interact = {"FILE_SHARE": [], "SCREEN_SHARE": []}
    for o in objs:
        for k in ("gid", "x", "y", "width", "height", "id", "name", "type", "rotation", "visible"):
            check(k in o, "object %s lacks %s" % (o.get("id"), k))
        check(tileset_of(o["gid"]) is not None, "object %d: gid %d belongs to no tileset" % (o["id"], o["gid"]))
        tx, ty = int(o["x"]) // TW, (int(o["y"]) - 1) // TW
        check(0 < tx < W - 1 and 0 < ty < H - 1, "object %d outside the map" % o["id"])
        check(not blocked(tx, ty), "object %d (%s) sits on a Collision tile (%d,%d)" % (o["id"], o["name"], tx, ty))
        check((tx, ty) in seen, "object %d (%s) is unreachable" % (o["id"], o["name"]))
        for p in o.get("properties", []):
            if p["name"] == "interact" and p["value"] in interact:
                interact[p["value"]].append((o["id"], o["x"], o["y"]))
    check(len(interact["FILE_SHARE"]) >= 2, "need >= 2 FILE_SHARE objects")
    check(len(interact["SCREEN_SHARE"]) >= 1, "need >= 1 SCREEN_SHARE object")

    print("OK: %dx%d map, %d tilesets, %d objects, conferences %s, %d reachable tiles, "
          "FILE_SHARE=%d SCREEN_SHARE=%d" % (
              W, H, len(m["tilesets"]), len(objs),
              ", ".join("%s(%s, %d tiles)" % (conf_ts[g][0], conf_ts[g][1], len(c)) for g, c in sorted(areas.items())),
              len(seen), len(interact["FILE_SHARE"]), len(interact["SCREEN_SHARE"])))


if __name__ == "__main__":
    main()
