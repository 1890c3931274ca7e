#!/usr/bin/env bash
# Failover benchmark for CrowdWire: bots (bench/bots) walking and chatting in worlds whose
# sockets are spread over 3 `crowdwire serve` replicas (one PostgreSQL, a Redis of the script's
# own, the machine's RabbitMQ), while replicas are stopped or killed. For each scenario it
# creates a fresh PostgreSQL schema, starts its own Redis (free port, no persistence) and 3
# replicas on free 127.0.0.1 ports, creates the worlds, starts the bots (registered accounts,
# so that the activity log records their joins; `--placement split --claim-first`: world w is
# owned by replica w mod 3 and has bots on all three; `--reconnect`), disrupts the replicas on
# schedule, and prints the figures of BENCHMARKS.md. Only 127.0.0.1 is targeted; RabbitMQ is
# only used (never restarted or reconfigured), the Redis is this script's own.
#
# Scenarios (--scenario):
#   rolling  after --warmup s, SIGTERM replica 0, wait for it to exit, start a replacement on
#            the same address, wait --gap s; then the same with replica 1, then replica 2.
#            Expected: no disconnect of a bot whose socket was on another replica; the stopped
#            replica's bots closed with 1012 and back at once; no chat lost or doubled; one
#            JOIN_PLAYER per bot in the activity log and no LEAVE_PLAYER while they are there;
#            every bot's final position seen by the bots that have it in view.
#   kill     after --warmup s, `kill -9` of replica 0 (the owner of world 0); no replacement.
#            Measured: time from the kill until movement between bots on the surviving
#            replicas flows again (the first 100 ms after a drop below 50 % of the pre-kill
#            median rate that is back at 50 %), the killed replica's bots back (close →
#            PLAYERS_SNAPSHOT on another replica), survivors re-attached, disconnects of
#            survivors (0 expected), chat loss.
#   both     rolling, then kill (each on fresh replicas, schema and Redis).
#
# Usage: bench/failover.sh [options]
#   --scenario S          rolling, kill or both (env SCENARIO, default both)
#   -w, --worlds N        worlds (env WORLDS, default 2)
#   -n, --bots N          bots in all (env BOTS, default 60)
#       --rate HZ         moves per second per bot (env RATE, default 5)
#       --chat S          seconds between each bot's chats to ALL (env CHAT_INTERVAL, default 3)
#       --spread WxH      area the bots walk in (env SPREAD, default 900x500: inside one
#                         area of interest, so every bot sees every other)
#       --ramp S          (env RAMP, default 8)   --settle S (env SETTLE, default 4)
#       --warmup S        measured seconds before the first stop or kill (env WARMUP, default 10)
#       --gap S           rolling: seconds between a replacement answering and the next stop (env GAP, default 8)
#       --after S         seconds after the last stop or kill (env AFTER, default 12)
#       --pg-url URL      where to create the schemas (env PG_URL, default postgres://postgres@127.0.0.1:5432/test)
#       --amqp-url URL    (env AMQP_URL, default amqp://guest:guest@127.0.0.1:5672/%2f)
#       --log LEVEL       the replicas' CROWDWIRE_LOG (env REPLICA_LOG, default info)
#       --media MODE      the replicas' media: embedded (the default users run: an SFU in each
#                         replica, on a free UDP port; the bots join groups but make no calls)
#                         or off (env MEDIA, default embedded)
#       --bots-args ARGS  more `bots run` options, split on spaces (env BOTS_ARGS; e.g. "--ping-interval 600")
#       --no-build        use the existing target/release/{crowdwire,bots}
#       --out DIR         keep the bots' JSON, timeline, trace, disruptions and every log (env OUT_DIR)
#   Before each scenario the script waits (at most QUIET_WAIT s, default 300) until no
#   scale-out test binary (tests/cluster.rs, which restarts the shared RabbitMQ) runs and the
#   machine's busy CPU is below 40 % of one core. About 1.5 min for rolling and 1 min for kill
#   after the build. A run during which RabbitMQ or Redis went away (someone restarted the
#   shared RabbitMQ, say) is marked DISTURBED in the output and makes the script exit 2. Each
#   scenario ends with the checks it passed and failed (they do not change the exit status).
#   -h, --help
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCENARIO="${SCENARIO:-both}"
MEDIA="${MEDIA:-embedded}"
WORLDS="${WORLDS:-2}"
BOTS="${BOTS:-60}"
RATE="${RATE:-5}"
CHAT_INTERVAL="${CHAT_INTERVAL:-3}"
SPREAD="${SPREAD:-900x500}"
RAMP="${RAMP:-8}"
SETTLE="${SETTLE:-4}"
WARMUP="${WARMUP:-10}"
GAP="${GAP:-8}"
AFTER="${AFTER:-12}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
REPLICA_LOG="${REPLICA_LOG:-info}"
OUT_DIR="${OUT_DIR:-}"
BOTS_ARGS="${BOTS_ARGS:-}"
BUILD=1
REPLICAS=3

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "failover.sh: $*" >&2; exit 1; }
say() { echo "failover.sh: $*" >&2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --scenario) SCENARIO="$2"; shift 2 ;;
    --media) MEDIA="$2"; shift 2 ;;
    -w|--worlds) WORLDS="$2"; shift 2 ;;
    -n|--bots) BOTS="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --chat) CHAT_INTERVAL="$2"; shift 2 ;;
    --spread) SPREAD="$2"; shift 2 ;;
    --ramp) RAMP="$2"; shift 2 ;;
    --settle) SETTLE="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --gap) GAP="$2"; shift 2 ;;
    --after) AFTER="$2"; shift 2 ;;
    --pg-url) PG_URL="$2"; shift 2 ;;
    --amqp-url) AMQP_URL="$2"; shift 2 ;;
    --log) REPLICA_LOG="$2"; shift 2 ;;
    --bots-args) BOTS_ARGS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --out) OUT_DIR="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ "$MEDIA" == embedded || "$MEDIA" == off ]] || die "--media is embedded or off, not $MEDIA"
for v in WORLDS BOTS RAMP SETTLE WARMUP GAP AFTER; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number"
done
(( WORLDS >= 1 && WORLDS <= 12 )) || die "--worlds must be 1..12"
(( BOTS >= 2 * WORLDS && BOTS <= 1000 )) || die "--bots must be 2 per world .. 1000"
(( RAMP <= 120 && SETTLE <= 60 && WARMUP >= 3 && WARMUP <= 120 && GAP <= 120 && AFTER >= 5 && AFTER <= 120 )) \
  || die "durations: ramp <= 120 s, settle <= 60 s, warmup 3..120 s, gap <= 120 s, after 5..120 s"
case "$SCENARIO" in
  rolling) SCENARIOS=(rolling) ;;
  kill) SCENARIOS=(kill) ;;
  both) SCENARIOS=(rolling kill) ;;
  *) die "--scenario must be rolling, kill or both" ;;
esac
[[ "$AMQP_URL" =~ ^amqp://[^@]*@?127\.0\.0\.1[:/] || "$AMQP_URL" =~ ^amqp://[^@]*@localhost[:/] ]] || die "RabbitMQ must be on 127.0.0.1"
[[ "$PG_URL" =~ @127\.0\.0\.1[:/] || "$PG_URL" =~ @localhost[:/] ]] || die "PostgreSQL must be on 127.0.0.1"
for t in curl python3 psql redis-server redis-cli; do
  command -v "$t" > /dev/null || die "$t is required"
done
ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)" || true

WORK="$(mktemp -d "${TMPDIR:-/tmp}/crowdwire-failover.XXXXXX")"
TAG="cwf$$"
PIDS=()        # the current process of each replica slot (0, 1, 2); "" when stopped
REDIS_PID=""
BOTS_PID=""
SCHEMAS=()
now_ms() { date +%s%3N; }
cleanup() {
  local rc=$?
  set +e
  stop_all
  drop_schemas
  if [[ -n "$OUT_DIR" ]]; then
    mkdir -p "$OUT_DIR"
    cp -f "$WORK"/*.json "$WORK"/*.csv "$WORK"/*.txt "$WORK"/*.log "$WORK"/*.md "$WORK"/*.out \
      "$WORK"/*.disruptions "$WORK"/*.owners "$OUT_DIR"/ 2> /dev/null
    say "kept in $OUT_DIR"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

private_binaries "$WORK" "$BUILD"
SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(20))')"


# Waits (at most QUIET_WAIT s) until the machine is nearly idle, as bench/cluster.sh does.
wait_quiet() { # scenario
  local waited=0
  while pgrep -f 'deps/cluster-[0-9a-f]{16}' > /dev/null; do
    (( waited >= ${QUIET_WAIT:-300} )) && { say "$1: the scale-out tests still run; running anyway"; return 0; }
    (( waited % 60 == 0 )) && say "$1: the scale-out tests (tests/cluster.rs) run and restart RabbitMQ; waiting…"
    sleep 5; waited=$((waited + 5))
  done
  wait_machine_idle "$1" "$waited" || true
}

# True once process $1 (a child of this shell) has exited (a zombie until waited for).
exited() { [[ ! -r /proc/$1/stat ]] || [[ "$(awk '{print $3}' "/proc/$1/stat" 2> /dev/null)" == Z ]]; }

# Starts replica slot $2 (generation $3) of scenario $1 on its fixed port; sets PIDS[$2].
PORTS=()
DB=""
REDIS_PORT=""
start_replica() { # scenario slot generation
  local sc="$1" i="$2" g="$3" admin_port media=(CROWDWIRE_MEDIA_MODE=off)
  admin_port="$("$BOTS_BIN" free-port)"
  [[ "$MEDIA" == embedded ]] && media=(CROWDWIRE_MEDIA_MODE=embedded "CROWDWIRE_MEDIA_BIND=127.0.0.1:$("$BOTS_BIN" free-port)")
  mkdir -p "$WORK/data-$sc-$i-$g"
  # As bench/cluster.sh: the bots are one address (no per-address cap), limits on log-in raised,
  # media as --media says; each replica's admin listener on its own free port. Every generation of a slot
  # has its own replica id (a replacement is a new pod, not the old one back).
  env CROWDWIRE_BIND="127.0.0.1:${PORTS[$i]}" CROWDWIRE_DATA_DIR="$WORK/data-$sc-$i-$g" CROWDWIRE_DATABASE_URL="$DB" \
    CROWDWIRE_JWT_SECRET="$SECRET" "${media[@]}" CROWDWIRE_AUTH_RATE_PER_MINUTE=100000 \
    CROWDWIRE_AUTH_BURST=100000 CROWDWIRE_LOGIN_ATTEMPTS_PER_ACCOUNT=100000 CROWDWIRE_LOG="$REPLICA_LOG" \
    CROWDWIRE_MAX_CONNECTIONS_PER_IP=0 CROWDWIRE_ADMIN_BIND="127.0.0.1:$admin_port" \
    CROWDWIRE_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/" CROWDWIRE_AMQP_URL="$AMQP_URL" \
    CROWDWIRE_REPLICA_ID="${TAG}-${sc}-r${i}g${g}" NO_COLOR=1 \
    "$SERVER_BIN" serve > "$WORK/$sc-r$i-g$g.log" 2>&1 &
  PIDS[$i]=$!
  echo "${TAG}-${sc}-r${i}g${g} $i $g $!" >> "$WORK/$sc.replicas.txt"
}

# Owners of the worlds in Redis: "world_id replica_id" lines.
owners() { # worlds(comma-separated)
  local w
  for w in ${1//,/ }; do
    echo "$w $(redis-cli -p "$REDIS_PORT" GET "world:$w:owner" | python3 -c 'import json,sys
t = sys.stdin.read().strip()
try: print(json.loads(t)["replica"])
except Exception: print(t or "-")')"
  done
}

DISTURBED=0
run_scenario() { # rolling|kill
  local sc="$1" i schema duration worlds targets t0 due
  wait_quiet "$sc"
  schema="${TAG}_${sc}"
  psql "$PG_URL" -v ON_ERROR_STOP=1 -qc "CREATE SCHEMA $schema" > /dev/null || die "cannot create schema $schema"
  SCHEMAS+=("$schema")
  DB="${PG_URL}?options=-c%20search_path%3D${schema}"
  REDIS_PORT="$("$BOTS_BIN" free-port)"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no > "$WORK/$sc-redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" PING > /dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$REDIS_PORT" PING > /dev/null || die "redis did not start: $(tail -3 "$WORK/$sc-redis.log")"
  PORTS=()
  : > "$WORK/$sc.replicas.txt"
  for i in $(seq 0 $((REPLICAS - 1))); do PORTS[$i]="$("$BOTS_BIN" free-port)"; done
  for i in $(seq 0 $((REPLICAS - 1))); do
    start_replica "$sc" "$i" 0
    # The first replica migrates the schema: the others start once it is up.
    (( i == 0 )) && wait_health "http://127.0.0.1:${PORTS[0]}" "${PIDS[0]}" "$WORK/$sc-r0-g0.log"
  done
  for i in $(seq 0 $((REPLICAS - 1))); do
    wait_health "http://127.0.0.1:${PORTS[$i]}" "${PIDS[$i]}" "$WORK/$sc-r$i-g0.log"
  done
  worlds="$("$BOTS_BIN" setup --url "http://127.0.0.1:${PORTS[0]}" --worlds "$WORLDS" --map 1920x1088 \
    --owner-token-file "$WORK/$sc.owner-token")"
  echo "$worlds" > "$WORK/$sc.worlds"
  targets="$(for i in $(seq 0 $((REPLICAS - 1))); do printf 'http://127.0.0.1:%s,' "${PORTS[$i]}"; done)"
  targets="${targets%,}"
  case "$sc" in
    rolling) duration=$((WARMUP + REPLICAS * (GAP + 6) + AFTER)) ;;
    kill) duration=$((WARMUP + AFTER)) ;;
  esac
  : > "$WORK/$sc.disruptions"
  say "$sc: replicas on ports ${PORTS[*]} (pids ${PIDS[*]}), worlds $worlds, redis :$REDIS_PORT, $BOTS bots, ~$((RAMP + SETTLE + duration + 3)) s"
  t0="$(now_ms)"
  "$BOTS_BIN" run --targets "$targets" --placement split --claim-first --registered --reconnect \
    --chat-interval "$CHAT_INTERVAL" --final-positions --timeline "$WORK/$sc.timeline.csv" --trace "$WORK/$sc.trace.csv" \
    --disruptions "$WORK/$sc.disruptions" --world-ids "$worlds" -n "$BOTS" --rate "$RATE" --spread "$SPREAD" \
    --origin 100,100 --ramp "$RAMP" --settle "$SETTLE" --duration "$duration" --drain 3 --setup-concurrency 8 \
    --label "$sc" --header --json ${BOTS_ARGS:+$BOTS_ARGS} > "$WORK/$sc.out" 2> "$WORK/$sc-bots.log" &
  BOTS_PID=$!
  # The bots' window opens RAMP + SETTLE s after they start; the first disruption WARMUP s later.
  due=$((t0 + (RAMP + SETTLE + WARMUP) * 1000))
  while (( $(now_ms) < due )); do
    kill -0 "$BOTS_PID" 2> /dev/null || { cat "$WORK/$sc-bots.log" >&2; die "the bots exited early"; }
    sleep 0.2
  done
  owners "$worlds" > "$WORK/$sc.before.owners"
  say "$sc: owners before: $(tr '\n' ' ' < "$WORK/$sc.before.owners")"
  case "$sc" in
    rolling)
      for i in $(seq 0 $((REPLICAS - 1))); do
        local pid="${PIDS[$i]}" t_stop t_exit t_up
        t_stop="$(now_ms)"
        echo "$t_stop $i stop" >> "$WORK/$sc.disruptions"
        kill -TERM "$pid"
        for _ in $(seq 1 600); do exited "$pid" && break; sleep 0.05; done
        if ! exited "$pid"; then
          say "$sc: replica $i still running 30 s after SIGTERM; killing it"
          echo "# replica $i did not exit within 30 s of SIGTERM" >> "$WORK/$sc.disruptions"
          kill -KILL "$pid" 2> /dev/null || true
        fi
        wait "$pid" 2> /dev/null || true
        t_exit="$(now_ms)"
        echo "$t_exit $i exited" >> "$WORK/$sc.disruptions"
        start_replica "$sc" "$i" 1
        wait_health "http://127.0.0.1:${PORTS[$i]}" "${PIDS[$i]}" "$WORK/$sc-r$i-g1.log"
        t_up="$(now_ms)"
        echo "$t_up $i started" >> "$WORK/$sc.disruptions"
        say "$sc: replica $i: SIGTERM → exit $((t_exit - t_stop)) ms, replacement answering $((t_up - t_exit)) ms later"
        owners "$worlds" > "$WORK/$sc.after-r$i.owners"
        sleep "$GAP"
      done
      ;;
    kill)
      local t_kill
      t_kill="$(now_ms)"
      echo "$t_kill 0 kill" >> "$WORK/$sc.disruptions"
      kill -KILL "${PIDS[0]}"
      wait "${PIDS[0]}" 2> /dev/null || true
      PIDS[0]=""
      say "$sc: replica 0 killed (SIGKILL)"
      sleep 6
      owners "$worlds" > "$WORK/$sc.after.owners"
      say "$sc: owners 6 s after the kill: $(tr '\n' ' ' < "$WORK/$sc.after.owners")"
      ;;
  esac
  wait "$BOTS_PID" || { BOTS_PID=""; cat "$WORK/$sc-bots.log" >&2; die "bots failed in $sc"; }
  BOTS_PID=""
  grep '^{' "$WORK/$sc.out" > "$WORK/$sc.json" || die "no JSON summary from the bots in $sc"
  # The activity log is written asynchronously: give the last LEAVE_PLAYERs a moment.
  sleep 2
  python3 - "$WORK" "$sc" "http://127.0.0.1:${PORTS[1]}" "$CHAT_INTERVAL" > "$WORK/$sc.md" << 'PY'
import csv, json, statistics, sys, urllib.request
from datetime import datetime, timezone

work, sc, base, chat_every = sys.argv[1:5]
s = json.load(open(f"{work}/{sc}.json"))
f = s["failover"]
token = open(f"{work}/{sc}.owner-token").read().strip()
worlds = [int(w) for w in open(f"{work}/{sc}.worlds").read().strip().split(",")]
dis = [l.split() for l in open(f"{work}/{sc}.disruptions") if l.strip() and not l.startswith("#")]
dis = [(int(t), int(tg), k) for t, tg, k in dis]
replicas = {}
for l in open(f"{work}/{sc}.replicas.txt"):
    rid, slot, gen, pid = l.split()
    replicas[rid] = f"r{slot}" + ("'" if gen != "0" else "")
def owners(name):
    try:
        return {int(a): replicas.get(b, b) for a, b in (l.split() for l in open(f"{work}/{sc}.{name}.owners"))}
    except FileNotFoundError:
        return {}
before = owners("before")

def events(world, kind):
    rows, page = [], 1
    while page < 1000:
        url = f"{base}/api/v1/worlds/{world}/events?event_type={kind}&limit=100&page={page}&order_desc=false"
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        got = json.load(urllib.request.urlopen(req, timeout=30))
        rows += got[:100]
        if len(got) <= 100:
            return rows
        page += 1
    return rows

def ms(ts):
    return int(datetime.fromisoformat(ts).replace(tzinfo=timezone.utc).timestamp() * 1000)

stop_ms = s["stop_unix_ms"]
joins = [e for w in worlds for e in events(w, "JOIN_PLAYER")]
leaves = [e for w in worlds for e in events(w, "LEAVE_PLAYER")]
join_users = {}
for e in joins:
    join_users[e["user_id"]] = join_users.get(e["user_id"], 0) + 1
leaves_during = [e for e in leaves if ms(e["timestamp"]) < stop_ms]

# Movement deliveries per 100 ms bucket.
step = 100
origin = s["origin_unix_ms"]
w0, w1 = s["window_unix_ms"]
series = {}
with open(f"{work}/{sc}.timeline.csv") as fh:
    for r in csv.DictReader(fh):
        key = (int(r["world_id"]), int(r["receiver_target"]), int(r["mover_target"]))
        series.setdefault(key, {})[int(r["bucket_start_unix_ms"])] = int(r["deliveries"])
def rate(world, keep):
    out = {}
    for (w, rt, mt), b in series.items():
        if w == world and keep(rt, mt):
            for t, n in b.items():
                out[t] = out.get(t, 0) + n
    return out
def flow(per, at, pre_s=10, look_s=15):
    """Pre-disruption median per bucket, and the time from `at` until the first bucket,
    after one below 50 % of it, that is back at 50 % (None: no drop)."""
    first = origin + ((max(at - pre_s * 1000, w0) - origin) // step) * step
    pre = [per.get(t, 0) for t in range(first, at - step, step)]
    if not pre:
        return None
    med = statistics.median(pre)
    thr = med / 2
    t = origin + ((at - origin) // step) * step
    end = min(at + look_s * 1000, w1)
    low, lowest = None, None
    while t < end:
        n = per.get(t, 0)
        lowest = n if lowest is None else min(lowest, n)
        if low is None and n < thr:
            low = t
        elif low is not None and n >= thr:
            return {"median": med, "below_from_ms": low - at, "back_ms": t + step - at, "lowest": lowest}
        t += step
    if low is None:
        return {"median": med, "below_from_ms": None, "back_ms": 0, "lowest": lowest}
    return {"median": med, "below_from_ms": low - at, "back_ms": None, "lowest": lowest}

ch = f["chat"]
fp = f["final_positions"]
out = []
p = out.append
p(f"### {sc}: {s['bots']} bots in {len(worlds)} world(s) over 3 replicas, walking at {s['rate_hz']:g} Hz, "
  f"chatting every {chat_every} s, {s['duration_s']:g} s measured")
p("")
p(f"- disruptions (ms after the window opened): " + ", ".join(f"{k} r{tg} at {t - w0}" for t, tg, k in dis))
after_names = {"after-r0": "after r0 was replaced", "after-r1": "after r1 was replaced",
               "after-r2": "after r2 was replaced", "after": "6 s after the kill"}
p(f"- world owners (' marks a replacement) before: " + ", ".join(f"{w}: {before.get(w, '?')}" for w in worlds)
  + "".join(f"; {label}: " + ", ".join(f"{w}: {o}" for w, o in owners(n).items())
            for n, label in after_names.items() if owners(n)))
p(f"- bots connected {s['connected']}/{s['bots']} (setup failures {s['setup_failed']}), with a socket at the end {f['connected_at_end']}, gave up {f['gave_up']}")
p(f"- **disconnects of bots on replicas not stopped/killed: {f['disconnects_elsewhere']}**"
  + (f" ({f['disconnects_elsewhere_by_code']}; first: {f['disconnects_elsewhere_first'][:5]})" if f['disconnects_elsewhere'] else ""))
p(f"- disconnects of bots on the stopped/killed replica: {f['disconnects_expected']} (by code: {f['disconnects_expected_by_code']}); "
  f"back (close → PLAYERS_SNAPSHOT elsewhere): p50 {f['reconnect_ms_expected']['p50']} ms, max {f['reconnect_ms_expected']['max']} ms over {f['reconnect_ms_expected']['n']}; "
  f"failed reconnection attempts {f['reconnect_attempts_failed']}" + (f" {f['reconnect_failures']}" if f['reconnect_failures'] else ""))
for d in f["per_disruption"]:
    parts = []
    for w in d["worlds"]:
        q = w["survivors_resnapshot_ms"]
        b = w["bots_on_it_back_ms"]
        parts.append(f"world {w['world_id']}: {w['bots_on_it']} bots on it"
                     + (f" (back p50 {b['p50']} / max {b['max']} ms after their close)" if b["n"] else "")
                     + f", {q['n']}/{w['survivors']} survivors got a fresh snapshot"
                     + (f" p50 {q['p50']} / max {q['max']} ms after" if q["n"] else ""))
    p(f"- {d['kind']} r{d['target']}: " + "; ".join(parts))
p(f"- chat: sent {ch['sent']}, expected receipts {ch['expected_receipts']}, received {ch['receipts']}, "
  f"**missing {ch['missing']}**, **duplicates {ch['duplicates']}**, received but never sent {ch['received_never_sent']}, "
  f"unsent at the end {ch['unsent_at_end']}, rewritten after a failed write {ch['rewritten_after_failed_write']}"
  + (f"; missing by {ch['missing_by']}" if ch['missing'] else ""))
p(f"- activity log: JOIN_PLAYER {len(joins)} events for {len(join_users)} users (bots {s['connected']}; users with more than one: "
  f"{sum(1 for n in join_users.values() if n > 1)}); **LEAVE_PLAYER while the bots were connected: {len(leaves_during)}**, after they closed: {len(leaves) - len(leaves_during)}")
p(f"- over the sockets: LEAVE_PLAYER received {f['leave_player_seen']}, JOIN_PLAYER received {f['join_player_seen']} "
  f"(spawns and resumed bots' re-announcements), PLAYER_PRESENCE reconnecting {f['presence_reconnecting_seen']} / online {f['presence_online_seen']}"
  + (f"; first LEAVE_PLAYERs: {f['leave_player_first'][:5]}" if f['leave_player_seen'] else ""))
p(f"- final positions (last move sent vs. last PLAYER_MOVEMENT received by the bots that have it in view): "
  f"{fp['seen_by_all']} of {fp['movers']} bots seen right by every observer, {fp['seen_by_some']} by at least one, {fp['seen_by_none']} by none; "
  f"observer pairs: {fp['observer_pairs_final']} final, {fp['observer_pairs_stale']} stale, {fp['observer_pairs_never']} never heard")
errs = s.get("server_error_messages") or {}
p(f"- server `error` messages: {s['server_errors']}" + (f" {errs}" if errs else ""))
p(f"- moves sent {s['moves_sent']} ({s['moves_per_s']:.0f}/s), deliveries {s['delivered']} ({s['delivered_ratio'] and s['delivered_ratio'] * 100:.1f} % of expected), "
  f"latency p50 {s['latency_ms']['p50']} ms, p99 {s['latency_ms']['p99']} ms, max {s['latency_ms']['max']} ms")
figures = {}
if sc == "kill":
    kill_at = next(t for t, tg, k in dis if k == "kill")
    killed = next(tg for t, tg, k in dis if k == "kill")
    backs = []
    for w in worlds:
        r = flow(rate(w, lambda rt, mt: rt != killed and mt != killed), kill_at)
        owned = before.get(w) == f"r{killed}"
        if r is None:
            p(f"- world {w}: no deliveries before the kill")
            continue
        text = "did not drop below 50 %" if r["below_from_ms"] is None else (
            f"below 50 % from {r['below_from_ms']:+d} ms, back at ≥ 50 % by **{r['back_ms']:+d} ms**" if r["back_ms"] is not None
            else f"below 50 % from {r['below_from_ms']:+d} ms and **not back** within the window")
        p(f"- world {w} ({'owned by' if owned else 'not owned by'} the killed replica): survivor↔survivor movement "
          f"{r['median']:g} deliveries per 100 ms before the kill (median), lowest {r['lowest']}; {text}")
        if owned and r["back_ms"] is not None:
            backs.append(r["back_ms"])
    figures["flow_again_ms_median_over_owned_worlds"] = statistics.median(backs) if backs else None
    p(f"- **time from kill -9 until movement flows again between survivors: "
      f"{figures['flow_again_ms_median_over_owned_worlds']} ms** (median over the {len(backs)} world(s) the killed replica owned)")
else:
    for t, tg, k in dis:
        if k != "stop":
            continue
        parts = []
        for w in worlds:
            r = flow(rate(w, lambda rt, mt: True), t, pre_s=5, look_s=8)
            if r is None:
                continue
            parts.append(f"world {w}: " + ("never below 50 %" if r["below_from_ms"] is None else
                         f"below 50 % from {r['below_from_ms']:+d} ms, back by {r['back_ms']:+d} ms" if r["back_ms"] is not None
                         else f"below 50 % from {r['below_from_ms']:+d} ms, not back within 8 s")
                         + f" (median {r['median']:g}/100 ms, lowest {r['lowest']})")
        p(f"- movement after SIGTERM r{tg} (all deliveries in the world): " + "; ".join(parts))
figures.update({
    "scenario": sc, "bots": s["bots"], "worlds": worlds,
    "disconnects_elsewhere": f["disconnects_elsewhere"], "disconnects_expected_by_code": f["disconnects_expected_by_code"],
    "reconnect_ms": f["reconnect_ms_expected"], "chat": {k: ch[k] for k in ("sent", "expected_receipts", "receipts", "missing", "duplicates")},
    "join_events": len(joins), "join_users": len(join_users), "leave_events_while_connected": len(leaves_during),
    "final_positions": {k: fp[k] for k in ("movers", "seen_by_all", "seen_by_some", "seen_by_none")},
})
# What README.md promises, checked.
checks = [
    ("no disconnect of a bot on a replica not stopped/killed", f["disconnects_elsewhere"] == 0),
    ("no bot gave up reconnecting", f["gave_up"] == 0),
    ("every bot connected", s["connected"] == s["bots"]),
    ("no chat missing", ch["missing"] == 0),
    ("no chat duplicated", ch["duplicates"] == 0),
    ("one JOIN_PLAYER event per bot", len(joins) == s["connected"] and len(join_users) == s["connected"]),
    ("no LEAVE_PLAYER event while the bots were connected", not leaves_during),
    ("no LEAVE_PLAYER message before the end", f["leave_player_seen"] == 0),
    ("every bot's final position seen by every observer", fp["seen_by_all"] == fp["movers"]),
    ("no server error message", s["server_errors"] == 0),
]
if sc == "rolling":
    checks.append(("the stopped replicas' sockets closed with 1012 only",
                   set(f["disconnects_expected_by_code"]) <= {"1012"}))
failed = [name for name, ok in checks if not ok]
figures["checks_failed"] = failed
p(f"- checks: {len(checks) - len(failed)} of {len(checks)} passed" + (f"; **failed: {'; '.join(failed)}**" if failed else ""))
json.dump(figures, open(f"{work}/{sc}.figures.json", "w"))
print("\n".join(out))
PY
  grep '^|' "$WORK/$sc.out" > "$WORK/$sc.lines.txt" || true
  # RabbitMQ or Redis going away mid-run (the machine's RabbitMQ is shared: another test may
  # restart it) invalidates the figures: say so.
  # (A replica told to stop may log its own RabbitMQ connection's end: only what a log says
  # before its "shutting down" counts.)
  local outage
  outage="$(awk '/crowdwire: shutting down/ { nextfile } /CONNECTION_FORCED|RabbitMQ connection lost|Redis unreachable/ { print }' \
    "$WORK/$sc"-r[0-9]*.log | head -3)"
  if [[ -n "$outage" ]]; then
    DISTURBED=1
    { echo; echo "**DISTURBED: RabbitMQ or Redis went away during this run; its figures do not count:**"; echo '```'; echo "$outage" | cut -c1-300; echo '```'; } >> "$WORK/$sc.md"
    say "$sc: DISTURBED (RabbitMQ or Redis went away during the run)"
  fi
  cat "$WORK/$sc.md"
  echo
  cat "$WORK/$sc.lines.txt"
  echo
  stop_all
}

for sc in "${SCENARIOS[@]}"; do
  run_scenario "$sc"
done
(( DISTURBED == 0 )) || exit 2
