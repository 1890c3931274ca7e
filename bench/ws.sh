#!/usr/bin/env bash
# Realtime (WebSocket) benchmark for CrowdWire: builds the release server and the bot load
# generator (bench/bots), and for each scenario run starts a fresh server on a free loopback
# port (temporary data directory, SQLite), creates the worlds, runs the bots against
# 127.0.0.1 only, and stops everything on exit. Prints every run's summary line and a table
# of the medians against the targets. See bench/README.md and BENCHMARKS.md.
#
# The server runs in its default configuration (media on: the embedded SFU), with only the
# abuse limits raised for the bots (auth rate); --media off compares with media disabled.
#
# Scenarios:
#   sparse  2,000 bots in one 6,400 x 6,400 px world, random walk over the whole map, 5 Hz at
#           --speed px/s: proximity groups keep forming and breaking (media rooms with them)
#           (targets: p99 <= 100 ms, p50 <= 30 ms)
#   dense   500 bots in one 1,280 x 720 px area (one viewport) of one world, 5 Hz
#           (target: p99 <= 200 ms for the latest position of every mover)
#   idle    10,000 connections over 100 worlds, 100 per world spawned uniformly in a
#           1,000 x 1,000 px square (so groups form), sending only PINGs
#           (targets: server RSS per connection <= 32 KB, server CPU <= 25 % of one core)
#
# Usage: bench/ws.sh [options]
#   -r, --runs 3              runs per scenario; the table gives the medians (env RUNS, default 3)
#       --scenarios LIST      comma-separated, in order (env SCENARIOS, default sparse,dense,idle)
#   -d, --duration S          measured seconds of sparse and dense (env DURATION, default 60)
#       --idle-duration S     measured seconds of idle (env IDLE_DURATION, default 20)
#       --no-build            use the existing target/release/{crowdwire,bots}
#       --server-bin PATH     run this server binary instead of target/release/crowdwire (A/B runs)
#       --no-wait             do not wait for other benchmarks (oha, bench/rest.sh) to finish
#       --batch               bots ask for batched frames (?batch=1: one JSON array per write)
#       --speed PX            walking speed of the moving scenarios, px/s (env SPEED, default 200)
#       --media on|off        on: the default configuration; off: CROWDWIRE_MEDIA_DISABLED=true
#                             (env MEDIA, default on)
#       --pin-bots CPUS       run the bots under `taskset -c CPUS` (CPU-cost runs; latency runs
#                             leave them unpinned) (env PIN_BOTS)
#       --nodelay-shim        experiment: LD_PRELOAD a shim that sets TCP_NODELAY on the
#                             server's accepted sockets (needs gcc); for comparison only
#       --out DIR             keep each run's JSON summary and server log in DIR (env OUT_DIR)
#   -h, --help
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-3}"
SCENARIOS="${SCENARIOS:-sparse,dense,idle}"
DURATION="${DURATION:-60}"
IDLE_DURATION="${IDLE_DURATION:-20}"
OUT_DIR="${OUT_DIR:-}"
BUILD=1
WAIT=1
SHIM=0
BATCH=()
SPEED="${SPEED:-200}"
MEDIA="${MEDIA:-on}"
PIN_BOTS="${PIN_BOTS:-}"
SERVER_SRC="$ROOT/target/release/crowdwire"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "ws.sh: $*" >&2; exit 1; }
say() { echo "ws.sh: $*" >&2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -r|--runs) RUNS="$2"; shift 2 ;;
    --scenarios) SCENARIOS="$2"; shift 2 ;;
    -d|--duration) DURATION="$2"; shift 2 ;;
    --idle-duration) IDLE_DURATION="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-wait) WAIT=0; shift ;;
    --server-bin) SERVER_SRC="$2"; shift 2 ;;
    --nodelay-shim) SHIM=1; shift ;;
    --batch) BATCH=(--batch); shift ;;
    --speed) SPEED="$2"; shift 2 ;;
    --media) MEDIA="$2"; shift 2 ;;
    --pin-bots) PIN_BOTS="$2"; shift 2 ;;
    --out) OUT_DIR="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ "$DURATION" =~ ^[1-9][0-9]*$ && "$IDLE_DURATION" =~ ^[1-9][0-9]*$ ]] || die "durations are whole seconds"
(( DURATION <= 600 && IDLE_DURATION <= 600 )) || die "durations are at most 600 s"
[[ "$SPEED" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--speed must be a number of px/s"
case "$MEDIA" in on|off) ;; *) die "--media is on or off" ;; esac
PIN=()
if [[ -n "$PIN_BOTS" ]]; then
  command -v taskset > /dev/null || die "--pin-bots needs taskset (util-linux)"
  PIN=(taskset -c "$PIN_BOTS")
fi
IFS=',' read -r -a CASES <<< "$SCENARIOS"
for c in "${CASES[@]}"; do
  case "$c" in sparse|dense|idle) ;; *) die "unknown scenario '$c' (sparse, dense, idle)" ;; esac
done
command -v curl > /dev/null || die "curl is required"
command -v python3 > /dev/null || die "python3 is required (for the medians table)"

# 10,000 sockets in each of the server and the generator, plus HTTP and files.
ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)" || true
(( $(ulimit -n) >= 12000 )) || die "open-files limit $(ulimit -n) is too low for 10,000 connections"
say "open-files limit: $(ulimit -n)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/crowdwire-ws.XXXXXX")"
SERVER_PID=""
BOTS_PID=""
cleanup() {
  local rc=$?
  set +e
  [[ -n "$BOTS_PID" ]] && kill "$BOTS_PID" 2> /dev/null && wait "$BOTS_PID" 2> /dev/null
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2> /dev/null && wait "$SERVER_PID" 2> /dev/null
  if [[ -n "$OUT_DIR" ]]; then
    mkdir -p "$OUT_DIR"
    cp -f "$WORK"/*.json "$WORK"/*.log "$OUT_DIR"/ 2> /dev/null || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits while another benchmark (oha, bench/rest.sh) runs: before the build and before each run.
wait_quiet() {
  (( WAIT )) || return 0
  local waited=0
  while pgrep -f 'oha|bench/rest.sh' > /dev/null; do
    (( waited % 60 == 0 )) && say "another benchmark is running (oha or bench/rest.sh); waiting…"
    (( waited >= 3600 )) && die "still busy after an hour; rerun later or pass --no-wait"
    sleep 10; waited=$((waited + 10))
  done
}
wait_quiet

if (( BUILD )); then
  say "building (release)…"
  (cd "$ROOT" && cargo build --release -p crowdwire -p crowdwire-bots) >&2
fi
# Private copies: a concurrent build in the shared target directory cannot swap them mid-run.
mkdir -p "$WORK/bin"
cp "$SERVER_SRC" "$WORK/bin/crowdwire" && cp "$ROOT/target/release/bots" "$WORK/bin/bots" || die "build the binaries first"
SERVER_BIN="$WORK/bin/crowdwire"
BOTS="$WORK/bin/bots"
PRELOAD=""
if (( SHIM )); then
  command -v gcc > /dev/null || die "--nodelay-shim needs gcc"
  cat > "$WORK/nodelay.c" << 'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags) {
  if (!real_accept4) real_accept4 = dlsym(RTLD_NEXT, "accept4");
  int s = real_accept4(fd, a, l, flags);
  if (s >= 0) { int one = 1; setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }
  return s;
}
EOF
  gcc -shared -fPIC -O2 -o "$WORK/nodelay.so" "$WORK/nodelay.c" -ldl
  PRELOAD="$WORK/nodelay.so"
  say "experiment: server sockets get TCP_NODELAY through $PRELOAD"
fi

start_server() { # name
  local port dir
  port="$("$BOTS" free-port)"
  dir="$WORK/data-$1"
  mkdir -p "$dir"
  local media_off=false
  [[ "$MEDIA" == off ]] && media_off=true
  # The bots are one address with thousands of sockets: no per-address cap. The admin listener on a
  # free port (9100 may be taken). Environment, not flags: an older --server-bin ignores them.
  CROWDWIRE_AUTH_RATE_PER_MINUTE=100000000 CROWDWIRE_AUTH_BURST=100000000 CROWDWIRE_LOGIN_ATTEMPTS_PER_ACCOUNT=100000000 CROWDWIRE_WORLD_EDITS_PER_MINUTE=100000000 CROWDWIRE_MEDIA_DISABLED="$media_off" LD_PRELOAD="$PRELOAD" \
    CROWDWIRE_MAX_CONNECTIONS_PER_IP=0 CROWDWIRE_ADMIN_BIND=127.0.0.1:0 \
    "$SERVER_BIN" serve --bind "127.0.0.1:$port" --data-dir "$dir" > "$WORK/$1-server.log" 2>&1 &
  SERVER_PID=$!
  URL="http://127.0.0.1:$port"
  for _ in $(seq 1 150); do
    curl -fs "$URL/api/v1/health" > /dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2> /dev/null || die "the server exited; see its log: $(tail -5 "$WORK/$1-server.log")"
    sleep 0.2
  done
  die "the server did not become healthy"
}

stop_server() {
  kill "$SERVER_PID" 2> /dev/null || true
  wait "$SERVER_PID" 2> /dev/null || true
  SERVER_PID=""
}

# Each scenario: map size, worlds, bot arguments.
run_one() { # scenario run-number
  local s="$1" n="$2" name="$1-$2" worlds args
  wait_quiet
  start_server "$name"
  case "$s" in
    sparse)
      worlds="$("$BOTS" setup --url "$URL" --worlds 1 --map 6400x6400)"
      args=(-n 2000 --rate 5 --speed "$SPEED" --spread 6400x6400 --origin 0,0 --ramp 25 --settle 5 --duration "$DURATION") ;;
    dense)
      worlds="$("$BOTS" setup --url "$URL" --worlds 1 --map 6400x6400)"
      args=(-n 500 --rate 5 --speed "$SPEED" --spread 1280x720 --origin 0,0 --ramp 10 --settle 5 --duration "$DURATION") ;;
    idle)
      worlds="$("$BOTS" setup --url "$URL" --worlds 100 --map 1920x1088)"
      args=(-n 10000 --rate 0 --spread 1000x1000 --origin 0,0 --ramp 60 --settle 10 --duration "$IDLE_DURATION"
            --setup-concurrency 128) ;;
  esac
  say "run $n of $s (server pid $SERVER_PID, $URL, media $MEDIA${PIN_BOTS:+, bots pinned to CPU $PIN_BOTS})"
  ${PIN[@]+"${PIN[@]}"} "$BOTS" run --url "$URL" --server-pid "$SERVER_PID" --world-ids "$worlds" --label "$s" --json "${args[@]}" ${BATCH[@]+"${BATCH[@]}"} \
    > "$WORK/$name.out" 2> "$WORK/$name.log" &
  BOTS_PID=$!
  # Note whether another benchmark started meanwhile (its load would show in the figures).
  ( while kill -0 "$BOTS_PID" 2> /dev/null; do
      pgrep -f 'oha|bench/rest.sh' > /dev/null && : > "$WORK/$name.disturbed"
      sleep 2
    done ) &
  local watcher=$!
  wait "$BOTS_PID" || { BOTS_PID=""; cat "$WORK/$name.log" >&2; die "bots failed in $name"; }
  BOTS_PID=""
  wait "$watcher" 2> /dev/null || true
  [[ -e "$WORK/$name.disturbed" ]] && say "warning: another benchmark (oha or bench/rest.sh) ran during $name"
  grep '^{' "$WORK/$name.out" > "$WORK/$name.json"
  grep '^|' "$WORK/$name.out" | tee -a "$WORK/lines.md" >&2
  stop_server
}

for s in "${CASES[@]}"; do
  for n in $(seq 1 "$RUNS"); do
    run_one "$s" "$n"
  done
done

echo
echo "Every run:"
echo
echo "| scenario | bots | worlds | Hz | connected | moves/s | deliveries/s | delivered/expected | p50 ms | p99 ms | max ms | server CPU % | server RSS MiB | RSS/conn KiB | bots CPU % | other CPU % |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$WORK/lines.md"
echo
python3 - "$WORK" "$RUNS" "$MEDIA" "${CASES[@]}" << 'EOF'
import json, statistics, sys, glob, os
work, runs, media, cases = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def med(rows, f):
    vals = [f(r) for r in rows]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None
def fmt(v, d=1, suffix=""):
    return "–" if v is None else f"{v:,.{d}f}{suffix}"
target = {
    "sparse": "p99 ≤ 100 ms, p50 ≤ 30 ms",
    "dense": "p99 ≤ 200 ms",
    "idle": "≤ 32 KB RSS per connection, ≤ 25 % CPU",
}
disturbed = []
print(f"Medians of {runs} run(s) per scenario, media {media} (server and bots on the same 2 cores):")
print()
print("| scenario | connected | moves/s (offered) | receivers per move | deliveries/s | delivered/expected | p50 ms | p99 ms | max ms | room joins/s | server CPU % | µs CPU per delivery | µs CPU per room join | server RSS MiB | RSS/conn KiB | bots CPU % | other CPU % | target | met |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
for c in cases:
    paths = sorted(glob.glob(os.path.join(work, f"{c}-*.json")))
    rows = [json.load(open(p)) for p in paths]
    if not rows:
        continue
    disturbed += [os.path.basename(p)[:-5] for p in paths if os.path.exists(p[:-5] + ".disturbed")]
    p50 = med(rows, lambda r: r["latency_ms"]["p50"])
    p99 = med(rows, lambda r: r["latency_ms"]["p99"])
    ratio = med(rows, lambda r: r["delivered_ratio"])
    per = med(rows, lambda r: r["server_rss_per_conn_kib"])
    cpu = med(rows, lambda r: r["server_cpu_pct"])
    # A run counts only if the bots sent at least 95 % of the moves offered.
    offered_ok = all(r["target_moves_per_s"] == 0 or r["moves_per_s"] >= 0.95 * r["target_moves_per_s"] for r in rows)
    if c == "sparse":
        met = p99 is not None and p50 is not None and p99 <= 100 and p50 <= 30
    elif c == "dense":
        met = p99 is not None and p99 <= 200
    else:
        # 32 KB = 32,000 bytes = 31.25 KiB.
        met = per is not None and per <= 32000 / 1024 and cpu is not None and cpu <= 25
    met_text = "yes" if met else "**no**"
    if not offered_ok:
        met_text += " (bots sent < 95 % of the moves offered: the run does not count)"
    print("| " + " | ".join([
        c,
        fmt(med(rows, lambda r: r["connected_at_end"]), 0),
        f'{fmt(med(rows, lambda r: r["moves_per_s"]), 0)} ({fmt(med(rows, lambda r: r["target_moves_per_s"]), 0)})',
        fmt(med(rows, lambda r: r["delivered"] / r["moves_sent"] if r["moves_sent"] else None), 1),
        fmt(med(rows, lambda r: r["deliveries_per_s"]), 0),
        "–" if ratio is None else f"{ratio * 100:.2f} %",
        fmt(p50, 2),
        fmt(p99, 1),
        fmt(med(rows, lambda r: r["latency_ms"]["max"]), 0),
        fmt(med(rows, lambda r: r.get("group_messages", {}).get("room_joins_per_s")), 0),
        fmt(cpu, 0),
        fmt(med(rows, lambda r: r.get("server_cpu_us_per_delivery")), 2),
        fmt(med(rows, lambda r: r.get("server_cpu_us_per_room_join")), 0),
        fmt(med(rows, lambda r: (r["server_rss_kib"] or 0) / 1024), 0),
        fmt(per, 1),
        fmt(med(rows, lambda r: r["bots_cpu_pct"]), 0),
        fmt(med(rows, lambda r: r.get("other_cpu_pct")), 0),
        target[c],
        met_text,
    ]) + " |")
if disturbed:
    print()
    print("Another benchmark (oha or bench/rest.sh) ran during: " + ", ".join(disturbed))
EOF
