#!/usr/bin/env bash
# Scale-out benchmark for CrowdWire: several `crowdwire serve` replicas on one PostgreSQL, one
# Redis and one RabbitMQ, with the bot load generator (bench/bots) spread over them. For each
# configuration it creates a fresh PostgreSQL schema, starts its own Redis (a free port, no
# persistence), starts the replicas on free 127.0.0.1 ports (the first alone, which migrates
# the schema), creates the worlds, runs the bots, samples Redis and RabbitMQ counters at the
# measurement window's edges, and stops everything. Prints every run's line and the tables of
# BENCHMARKS.md "Scale-out". Only 127.0.0.1 is targeted; RabbitMQ is only read (never
# restarted or reconfigured), the Redis is this script's own.
#
# Configurations (--configs, in order):
#   single     one process, no Redis, no RabbitMQ (the baseline)
#   k1         1 replica on Redis + RabbitMQ, every world's bots on it
#   k2, k3     2 / 3 replicas; world w's bots all on replica w mod k (the world's owner)
#   k2-split   2 replicas; half of world w's bots on its owner (w mod 2), half on the other
#   k3-split   3 replicas; half on the owner (w mod 3), the others alternating on the two others
#
# Usage: bench/cluster.sh [options]
#   --configs LIST        (env CONFIGS, default single,k1,k2,k3,k2-split,k3-split)
#   -w, --worlds N        worlds (env WORLDS, default 6)
#   -b, --bots-per-world N  (env BOTS_PER_WORLD, default 50)
#       --rate HZ         moves per second per bot (env RATE, default 5)
#       --spread WxH      area each world's bots walk in (env SPREAD, default 1280x720: one viewport)
#   -d, --duration S      measured seconds (env DURATION, default 40)
#       --ramp S          (env RAMP, default 10)   --settle S (env SETTLE, default 5)
#       --batch           bots ask for ?batch=1 (default: one WebSocket message per frame)
#       --pg-url URL      where to create the schemas (env PG_URL, default postgres://postgres@127.0.0.1:5432/test)
#       --amqp-url URL    (env AMQP_URL, default amqp://guest:guest@127.0.0.1:5672/%2f)
#       --no-build        use the existing target/release/{crowdwire,bots}
#       --out DIR         keep the JSON summaries, counter samples and logs (env OUT_DIR)
#   Before each configuration the script waits (at most QUIET_WAIT s, default 300) until the
#   machine's busy CPU is below 40 % of one core. ~1 min per configuration after the build.
#   -h, --help
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIGS="${CONFIGS:-single,k1,k2,k3,k2-split,k3-split}"
WORLDS="${WORLDS:-6}"
BOTS_PER_WORLD="${BOTS_PER_WORLD:-50}"
RATE="${RATE:-5}"
SPREAD="${SPREAD:-1280x720}"
DURATION="${DURATION:-40}"
RAMP="${RAMP:-10}"
SETTLE="${SETTLE:-5}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
OUT_DIR="${OUT_DIR:-}"
BUILD=1
BATCH=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "cluster.sh: $*" >&2; exit 1; }
say() { echo "cluster.sh: $*" >&2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --configs) CONFIGS="$2"; shift 2 ;;
    -w|--worlds) WORLDS="$2"; shift 2 ;;
    -b|--bots-per-world) BOTS_PER_WORLD="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --spread) SPREAD="$2"; shift 2 ;;
    -d|--duration) DURATION="$2"; shift 2 ;;
    --ramp) RAMP="$2"; shift 2 ;;
    --settle) SETTLE="$2"; shift 2 ;;
    --batch) BATCH=(--batch); shift ;;
    --pg-url) PG_URL="$2"; shift 2 ;;
    --amqp-url) AMQP_URL="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --out) OUT_DIR="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
for v in WORLDS BOTS_PER_WORLD DURATION RAMP SETTLE; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number"
done
(( WORLDS >= 1 && WORLDS <= 100 )) || die "--worlds must be 1..100"
(( WORLDS * BOTS_PER_WORLD >= 1 && WORLDS * BOTS_PER_WORLD <= 5000 )) || die "at most 5,000 bots"
(( DURATION >= 1 && DURATION <= 300 && RAMP <= 120 && SETTLE <= 60 )) || die "durations: measured 1..300 s, ramp <= 120 s, settle <= 60 s"
[[ "$AMQP_URL" =~ ^amqp://[^@]*@?127\.0\.0\.1[:/] || "$AMQP_URL" =~ ^amqp://[^@]*@localhost[:/] ]] || die "RabbitMQ must be on 127.0.0.1"
[[ "$PG_URL" =~ @127\.0\.0\.1[:/] || "$PG_URL" =~ @localhost[:/] ]] || die "PostgreSQL must be on 127.0.0.1"
IFS=',' read -r -a CASES <<< "$CONFIGS"
for c in "${CASES[@]}"; do
  case "$c" in single|k1|k2|k3|k2-split|k3-split) ;; *) die "unknown configuration '$c'" ;; esac
done
for t in curl python3 psql redis-server redis-cli rabbitmqctl; do
  command -v "$t" > /dev/null || die "$t is required"
done
BEAM_PID="$(pgrep -o -x beam.smp || true)"
[[ -n "$BEAM_PID" ]] || say "warning: no beam.smp process found: RabbitMQ CPU is not measured"
ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)" || true

WORK="$(mktemp -d "${TMPDIR:-/tmp}/crowdwire-cluster.XXXXXX")"
TAG="cwb$$"
PIDS=()        # replicas of the current configuration
REDIS_PID=""
BOTS_PID=""
SCHEMAS=()
cleanup() {
  local rc=$?
  set +e
  stop_all
  drop_schemas
  if [[ -n "$OUT_DIR" ]]; then
    mkdir -p "$OUT_DIR"
    cp -f "$WORK"/*.json "$WORK"/*.txt "$WORK"/*.log "$WORK"/*.md "$WORK"/*.worlds "$WORK"/*.targets "$OUT_DIR"/ 2> /dev/null
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

private_binaries "$WORK" "$BUILD"
BOTS="$BOTS_BIN"
SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(20))')"

# Counter samples at the window's edges (the bots run this as `hook.sh CONFIG start|end`).
cat > "$WORK/hook.sh" << EOF
#!/bin/sh
out="$WORK/\$1.\$2.txt"
{
  echo "== t_redis \$(date +%s.%N)"
  if [ -s "$WORK/\$1.redis-port" ]; then
    port=\$(cat "$WORK/\$1.redis-port")
    redis-cli -p "\$port" INFO commandstats
    redis-cli -p "\$port" INFO stats | grep -E '^total_(net|commands)'
    echo "== owners"
    for w in \$(cat "$WORK/\$1.worlds" | tr ',' ' '); do echo "\$w \$(redis-cli -p "\$port" GET "world:\$w:owner")"; done
  fi
  echo "== t_amqp \$(date +%s.%N)"
  timeout 30 rabbitmqctl -q eval 'io:format("~p~n", [{maps:get([{protocol,amqp091}], rabbit_global_counters:overview()), [{lists:keyfind(<<"connection_name">>, 1, proplists:get_value(client_properties, I)), proplists:get_value(recv_oct, I), proplists:get_value(send_oct, I)} || I <- rabbit_networking:connection_info_all([client_properties, recv_oct, send_oct])]}]), ok.'
  echo "== t_end \$(date +%s.%N)"
} > "\$out" 2>&1
EOF
chmod +x "$WORK/hook.sh"


# Waits (at most QUIET_WAIT s, default 300) until the machine is nearly idle (< 40 % of a core)
# before each configuration, so that another tenant's build does not land in one run only.
wait_quiet() { # config
  wait_machine_idle "$1" || echo "$BUSY" > "$WORK/$1.busy"
}

RUN_NO=0
run_one() { # config
  local c="$1" k placement cluster=1 i port admin_port urls=() admins=() schema db redis_port="" worlds aux=()
  RUN_NO=$((RUN_NO + 1))
  wait_quiet "$c"
  case "$c" in
    single) k=1; placement=world; cluster=0 ;;
    k1) k=1; placement=world ;;
    k2) k=2; placement=world ;;
    k3) k=3; placement=world ;;
    k2-split) k=2; placement=split ;;
    k3-split) k=3; placement=split ;;
  esac
  schema="${TAG}_${RUN_NO}"
  psql "$PG_URL" -v ON_ERROR_STOP=1 -qc "CREATE SCHEMA $schema" > /dev/null || die "cannot create schema $schema"
  SCHEMAS+=("$schema")
  db="${PG_URL}?options=-c%20search_path%3D${schema}"
  : > "$WORK/$c.redis-port"
  if (( cluster )); then
    redis_port="$("$BOTS" free-port)"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no > "$WORK/$c-redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 1 50); do redis-cli -p "$redis_port" PING > /dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$redis_port" PING > /dev/null || die "redis did not start: $(tail -3 "$WORK/$c-redis.log")"
    echo "$redis_port" > "$WORK/$c.redis-port"
    aux=("$REDIS_PID")
    [[ -n "$BEAM_PID" ]] && aux+=("$BEAM_PID")
  fi
  for i in $(seq 1 "$k"); do
    port="$("$BOTS" free-port)"
    admin_port="$("$BOTS" free-port)"
    mkdir -p "$WORK/data-$c-$i"
    # The bots are one address (no per-address cap); each replica's admin listener (/metrics) on
    # its own free port.
    local env=(CROWDWIRE_BIND="127.0.0.1:$port" CROWDWIRE_DATA_DIR="$WORK/data-$c-$i" CROWDWIRE_DATABASE_URL="$db"
      CROWDWIRE_JWT_SECRET="$SECRET" CROWDWIRE_MEDIA_MODE=off CROWDWIRE_AUTH_RATE_PER_MINUTE=100000 CROWDWIRE_AUTH_BURST=100000 CROWDWIRE_LOGIN_ATTEMPTS_PER_ACCOUNT=100000 CROWDWIRE_LOG=warn
      CROWDWIRE_MAX_CONNECTIONS_PER_IP=0 CROWDWIRE_ADMIN_BIND="127.0.0.1:$admin_port")
    if (( cluster )); then
      env+=(CROWDWIRE_REDIS_URL="redis://127.0.0.1:$redis_port/" CROWDWIRE_AMQP_URL="$AMQP_URL" CROWDWIRE_REPLICA_ID="${TAG}r$i")
    fi
    env "${env[@]}" "$SERVER_BIN" serve > "$WORK/$c-r$i.log" 2>&1 &
    PIDS+=($!)
    urls+=("http://127.0.0.1:$port")
    admins+=("http://127.0.0.1:$admin_port")
    # The first replica migrates the schema: the others start once it is up.
    (( i == 1 )) && wait_health "${urls[0]}" "${PIDS[0]}" "$WORK/$c-r1.log"
  done
  for i in $(seq 1 "$k"); do wait_health "${urls[$((i - 1))]}" "${PIDS[$((i - 1))]}" "$WORK/$c-r$i.log"; done
  printf '%s\n' "${urls[@]}" > "$WORK/$c.targets"
  worlds="$("$BOTS" setup --url "${urls[0]}" --worlds "$WORLDS" --map 1920x1088)"
  echo "$worlds" > "$WORK/$c.worlds"
  say "$c: $k replica(s) (pids ${PIDS[*]}), worlds $worlds, placement $placement$( (( cluster )) && echo ", redis :$redis_port")"
  local targets pids
  targets="$(IFS=,; echo "${urls[*]}")"
  pids="$(IFS=,; echo "${PIDS[*]}")"
  local extra=()
  (( ${#aux[@]} )) && extra+=(--aux-pid "$(IFS=,; echo "${aux[*]}")")
  "$BOTS" run --targets "$targets" --placement "$placement" --claim-first --server-pid "$pids" ${extra[@]+"${extra[@]}"} \
    --window-hook "$WORK/hook.sh $c" --world-ids "$worlds" -n $((WORLDS * BOTS_PER_WORLD)) --rate "$RATE" \
    --spread "$SPREAD" --origin 0,0 --ramp "$RAMP" --settle "$SETTLE" --duration "$DURATION" \
    --label "$c" --json ${BATCH[@]+"${BATCH[@]}"} > "$WORK/$c.out" 2> "$WORK/$c.log" &
  BOTS_PID=$!
  wait "$BOTS_PID" || { BOTS_PID=""; cat "$WORK/$c.log" >&2; die "bots failed in $c"; }
  BOTS_PID=""
  grep '^{' "$WORK/$c.out" > "$WORK/$c.json"
  grep '^|' "$WORK/$c.out" | tee -a "$WORK/lines.md" >&2
  # What the replicas say about the bus (drops) after the run.
  for i in $(seq 1 "$k"); do
    echo "== r$i" >> "$WORK/$c.metrics.txt"
    curl -s "${admins[$((i - 1))]}/metrics" | grep -E '^crowdwire_(bus_|remote_sessions|worlds_owned|redis_up|amqp_up)' >> "$WORK/$c.metrics.txt" || true
  done
  stop_all
}

for c in "${CASES[@]}"; do
  run_one "$c"
done

echo
echo "Every run:"
echo
echo "| scenario | bots | worlds | Hz | connected | moves/s | deliveries/s | delivered/expected | p50 ms | p99 ms | max ms | server CPU % | server RSS MiB | RSS/conn KiB | bots CPU % | other CPU % |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$WORK/lines.md"
echo
python3 "$ROOT/bench/cluster_report.py" "$WORK" "$TAG" "${CASES[@]}" | tee "$WORK/report.md"
