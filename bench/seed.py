#!/usr/bin/env python3
"""Seed a CrowdWire database with synthetic worlds for the REST benchmark.

Standard library only. The schema must already exist (start the server once so that it
applies its migrations), and the creator user must exist (the admin from
CROWDWIRE_ADMIN_EMAIL is user 1 on a fresh database).

    # SQLite: writes straight into the server's database file (stop the server first).
    seed.py sqlite --db DATA_DIR/crowdwire.db --worlds 10000 --map assets/static/maps/default.json

    # PostgreSQL: prints a psql script (COPY + INSERT ... SELECT) on stdout. --columns names the
    # columns of the worlds table (rest.sh reads them from information_schema); without it,
    # every column this script knows is filled.
    seed.py postgres --worlds 10000 --columns "$COLS" | psql -v ON_ERROR_STOP=1 URL

The data set is deterministic (fixed RNG seed), so every run and both backends get the
same worlds:

* world i (1..N) is named "<Adjective> <Noun> <i>" and has a description built from a few
  template sentences, so a substring search for one noun or topic word hits a few hundred
  worlds (`seed.py count --search harbor` prints how many: 322);
* every world with i % 10 == 0 is private; among those, i % 70 == 0 is deleted and
  i % 110 == 0 is banned. Every other world is public, open and visible to any user, so a
  random id whose last digit is 1-9 always answers 200 to GET /worlds/{id};
* each world stores the whole map file (the default map is ~76 KB), has 1-3 tags, its
  `default` and `Admin` roles, and its creator as a member holding `Admin`, exactly as
  POST /worlds would leave it;
* creation dates are spread over the past year, in id order (microseconds, BIGINT).
"""

import argparse
import random
import sqlite3
import sys
import time

ADJECTIVES = [
    "Cozy", "Sunny", "Quiet", "Busy", "Hidden", "Ancient", "Modern", "Tiny", "Grand", "Misty",
    "Golden", "Silver", "Crimson", "Azure", "Emerald", "Frozen", "Windy", "Lucky", "Happy", "Secret",
    "Northern", "Southern", "Eastern", "Western", "Urban", "Rustic", "Floating", "Digital", "Cosmic", "Velvet",
]
NOUNS = [
    "Garden", "Harbor", "Library", "Campus", "Office", "Studio", "Lounge", "Plaza", "Forest", "Island",
    "Castle", "Village", "Market", "Station", "Lab", "Arcade", "Cafe", "Museum", "Theater", "Workshop",
    "Observatory", "Classroom", "Hangout", "Gallery", "Beach", "Tower", "Valley", "Bazaar", "Dojo", "Atrium",
]
TOPICS = [
    "robotics", "astronomy", "chemistry", "poetry", "chess", "music", "painting", "startups", "gaming",
    "yoga", "cooking", "history", "mathematics", "biology", "photography", "design", "writing", "film",
    "languages", "architecture", "gardening", "coding", "physics", "trivia", "karaoke",
]
TEMPLATES = [
    "A {adj} place to meet friends and talk about {topic}.",
    "Weekly meetups on {topic} and {topic2}; everyone is welcome.",
    "Our team's virtual {noun} for stand-ups, pairing and coffee breaks.",
    "Explore the {noun}, find the hidden rooms and chat with other visitors.",
    "Study group for {topic}: bring your questions, we bring the whiteboards.",
    "Hosted by volunteers. Quiet zones upstairs, {topic} talks in the main hall.",
    "An open {noun} for the {topic} community, built with love in Tiled.",
]
TAGS = ["Science", "Technology", "Fun", "Office", "Education", "Social"]
YEAR_US = 365 * 24 * 3600 * 1_000_000

# Role flag columns, in the order of INSERT_COLS in crowdwire-store/src/roles.rs.
ROLE_COLS = ("name, is_default, interact, walk, talk, talk_conference, world_mute, "
             "role_manage, conference_manage, chat, invite, ban")
DEFAULT_ROLE = ("default", True, False, True, True, False, False, False, False, True, False, False)
ADMIN_ROLE = ("Admin", False, True, True, True, True, True, True, True, True, True, True)


def worlds(n, creator, now_us):
    """Yields (world_id, creator, name, creation_date, description, public, allow_guests,
    status, tags) for worlds 1..n, deterministically."""
    rng = random.Random(20240601)
    start = now_us - YEAR_US
    for i in range(1, n + 1):
        adj, noun = rng.choice(ADJECTIVES), rng.choice(NOUNS)
        topic, topic2 = rng.sample(TOPICS, 2)
        sentences = rng.sample(TEMPLATES, rng.randint(1, 2))
        desc = " ".join(s.format(adj=adj.lower(), noun=noun.lower(), topic=topic, topic2=topic2) for s in sentences)
        name = f"{adj} {noun} {i}"
        public = i % 10 != 0
        status = 0
        if not public and i % 70 == 0:
            status = 2
        elif not public and i % 110 == 0:
            status = 1
        created = start + (YEAR_US * i) // (n + 1)
        tags = rng.sample(TAGS, rng.randint(1, 3))
        yield (i, creator, name, created, desc[:300], public, rng.random() < 0.5, status, tags)


# Every `worlds` column this script knows how to fill, in schema order. `name_key` and
# `search_text` are derived by the server (Unicode lowercase; see name_key() and search_text()
# in crates/crowdwire-store/src/worlds.rs); for this ASCII data Python's lower() is the same.
# A column of the table that is not listed here must have a default, or the insert fails.
KNOWN_COLUMNS = ["world_id", "creator", "name", "name_key", "search_text", "creation_date", "update_date",
                 "description", "max_users", "public", "allow_guests", "world_map", "profile_image", "status"]


def world_values(w, world_map):
    """Column -> value for one world tuple from worlds()."""
    return {
        "world_id": w[0], "creator": w[1], "name": w[2], "name_key": w[2].lower(),
        "search_text": f"{w[2]}\n{w[4]}".lower(), "creation_date": w[3], "update_date": w[3],
        "description": w[4], "max_users": None, "public": w[5], "allow_guests": w[6],
        "world_map": world_map, "profile_image": None, "status": w[7],
    }


def pick_columns(table_columns):
    cols = [c for c in KNOWN_COLUMNS if c in table_columns]
    unknown = [c for c in table_columns if c not in KNOWN_COLUMNS]
    if unknown:
        print(f"seed.py: leaving worlds.{', worlds.'.join(unknown)} to their defaults", file=sys.stderr)
    return cols


def seed_sqlite(args, world_map):
    con = sqlite3.connect(args.db, timeout=30)
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("PRAGMA journal_mode = WAL")
    if con.execute("SELECT count(*) FROM worlds").fetchone()[0]:
        sys.exit("seed.py: the worlds table is not empty; seed a fresh database")
    cols = pick_columns([r[1] for r in con.execute("PRAGMA table_info(worlds)")])
    now = int(time.time() * 1_000_000)
    rows = list(worlds(args.worlds, args.creator, now))
    with con:
        con.executemany(
            f"INSERT INTO worlds ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            ([world_values(w, world_map)[c] for c in cols] for w in rows))
        con.executemany("INSERT INTO world_tags (world_id, tag_name) VALUES (?, ?)",
                        ((w[0], t) for w in rows for t in w[8]))
        ph = ", ".join("?" * (len(DEFAULT_ROLE) + 1))
        for role in (DEFAULT_ROLE, ADMIN_ROLE):
            con.executemany(f"INSERT INTO roles (world_id, {ROLE_COLS}) VALUES ({ph})",
                            ((w[0],) + role for w in rows))
        con.execute(
            "INSERT INTO world_users (user_id, world_id, role_id, avatar, join_date, n_joins, last_join, status, username) "
            "SELECT w.creator, w.world_id, r.role_id, 'avatars_1_1', w.creation_date, 1, w.creation_date, 0, 'admin' "
            "FROM worlds w JOIN roles r ON r.world_id = w.world_id AND r.name = 'Admin'")
    con.execute("ANALYZE")
    con.close()


def copy_text(v):
    if v is None:
        return r"\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    s = str(v)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def dollar_quote(s):
    tag = "$map$"
    k = 0
    while tag in s:
        k += 1
        tag = f"$map{k}$"
    return f"{tag}{s}{tag}"


def seed_postgres(args, world_map):
    out = sys.stdout
    now = int(time.time() * 1_000_000)
    rows = list(worlds(args.worlds, args.creator, now))
    w = out.write
    w("\\set ON_ERROR_STOP 1\nBEGIN;\n")
    w("DO $$ BEGIN IF EXISTS (SELECT 1 FROM worlds) THEN "
      "RAISE EXCEPTION 'seed: the worlds table is not empty; seed a fresh database'; END IF; END $$;\n")
    w("CREATE TEMP TABLE bench_map (m text) ON COMMIT DROP;\n")
    w(f"INSERT INTO bench_map VALUES ({dollar_quote(world_map)});\n")
    cols = pick_columns(args.columns.split(",") if args.columns else KNOWN_COLUMNS)
    # Everything but the map goes through COPY into a temp table; the map is stored once and
    # joined in, so the script stays small whatever the map's size.
    staged = [c for c in cols if c != "world_map"]
    types = {"world_id": "bigint", "creator": "bigint", "creation_date": "bigint", "update_date": "bigint",
             "max_users": "integer", "status": "integer", "public": "boolean", "allow_guests": "boolean"}
    w("CREATE TEMP TABLE bench_worlds (" + ", ".join(f"{c} {types.get(c, 'text')}" for c in staged)
      + ") ON COMMIT DROP;\n")
    w(f"COPY bench_worlds ({', '.join(staged)}) FROM STDIN;\n")
    for r in rows:
        v = world_values(r, None)
        w("\t".join(copy_text(v[c]) for c in staged) + "\n")
    w("\\.\n")
    sel = ", ".join("m.m" if c == "world_map" else f"b.{c}" for c in cols)
    w(f"INSERT INTO worlds ({', '.join(cols)}) SELECT {sel} FROM bench_worlds b CROSS JOIN bench_map m "
      "ORDER BY b.world_id;\n")
    w("COPY world_tags (world_id, tag_name) FROM STDIN;\n")
    for r in rows:
        for t in r[8]:
            w(f"{r[0]}\t{t}\n")
    w("\\.\n")
    for role in (DEFAULT_ROLE, ADMIN_ROLE):
        vals = ", ".join([f"'{role[0]}'"] + ["TRUE" if v else "FALSE" for v in role[1:]])
        w(f"INSERT INTO roles (world_id, {ROLE_COLS}) SELECT world_id, {vals} FROM bench_worlds ORDER BY world_id;\n")
    w("INSERT INTO world_users (user_id, world_id, role_id, avatar, join_date, n_joins, last_join, status, username) "
      "SELECT w.creator, w.world_id, r.role_id, 'avatars_1_1', w.creation_date, 1, w.creation_date, 0, 'admin' "
      "FROM worlds w JOIN roles r ON r.world_id = w.world_id AND r.name = 'Admin';\n")
    w("SELECT setval('worlds_world_id_seq', (SELECT max(world_id) FROM worlds));\n")
    w("COMMIT;\nANALYZE;\n")


def count_matches(args):
    """How many worlds a GET /worlds?visibility=public&search=TERM lists in total."""
    term = args.search.lower()
    return sum(1 for w in worlds(args.worlds, args.creator, 0)
               if w[5] and w[7] == 0 and (term in w[2].lower() or term in w[4].lower()))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("backend", choices=["sqlite", "postgres", "count"])
    p.add_argument("--db", help="SQLite database file (sqlite backend)")
    p.add_argument("--worlds", type=int, default=10_000)
    p.add_argument("--map", default="assets/static/maps/default.json", help="Tiled JSON map stored in every world")
    p.add_argument("--creator", type=int, default=1, help="user_id of the creator (the admin is 1)")
    p.add_argument("--columns", help="postgres: comma-separated columns of the worlds table (default: every known one); "
                   "rest.sh reads them from information_schema")
    p.add_argument("--search", default="harbor", help="with `count`: the search term to count matches of")
    args = p.parse_args()
    if args.backend == "count":
        print(count_matches(args))
        return
    with open(args.map, encoding="utf-8") as f:
        world_map = f.read()
    if args.backend == "sqlite":
        if not args.db:
            p.error("--db is required for sqlite")
        seed_sqlite(args, world_map)
    else:
        seed_postgres(args, world_map)


if __name__ == "__main__":
    main()
