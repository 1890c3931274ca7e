# Shell functions shared by the bench scripts (sourced; each script defines `die`).

# Waits until a server answers /api/v1/health with 200 (or dies, or 30 s pass).
wait_health() { # url pid log
  for _ in $(seq 1 300); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$1/api/v1/health")" == 200 ]] && return 0
    kill -0 "$2" 2> /dev/null || die "a server exited; its log: $(tail -5 "$3")"
    sleep 0.1
  done
  die "a server did not become healthy: $(tail -5 "$3")"
}

# Busy CPU of the whole machine over 3 s, in % of one core (nothing of the caller runs then).
machine_busy() {
  python3 - << 'PY'
import os, time
def read():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)
b0, t0 = read(); time.sleep(3); b1, t1 = read()
print(int((b1 - b0) / max(t1 - t0, 1) * os.cpu_count() * 100))
PY
}

# The rest is for scripts that start servers, bots and a Redis of their own, and keep their
# pids in PIDS, BOTS_PID and REDIS_PID, and their PostgreSQL schemas in SCHEMAS (on PG_URL).

# Stops the bots, the servers and the Redis (empty PIDS entries are skipped).
stop_all() {
  local p
  [[ -n "$BOTS_PID" ]] && { kill "$BOTS_PID" 2> /dev/null; wait "$BOTS_PID" 2> /dev/null; }
  BOTS_PID=""
  for p in ${PIDS[@]+"${PIDS[@]}"}; do [[ -n "$p" ]] && kill "$p" 2> /dev/null; done
  for p in ${PIDS[@]+"${PIDS[@]}"}; do [[ -n "$p" ]] && wait "$p" 2> /dev/null; done
  PIDS=()
  [[ -n "$REDIS_PID" ]] && { kill "$REDIS_PID" 2> /dev/null; wait "$REDIS_PID" 2> /dev/null; }
  REDIS_PID=""
  return 0
}

# Drops the PostgreSQL schemas the script made.
drop_schemas() {
  local s
  for s in ${SCHEMAS[@]+"${SCHEMAS[@]}"}; do
    psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $s CASCADE" > /dev/null 2>&1
  done
}

# Builds the release server and bots (when $2 is 1), then runs private copies from $1/bin: a
# concurrent build cannot swap them, and a `pkill crowdwire` elsewhere misses them. Sets
# SERVER_BIN and BOTS_BIN.
private_binaries() { # work_dir build
  if (( $2 )); then
    say "building (release)…"
    (cd "$ROOT" && cargo build --release -p crowdwire -p crowdwire-bots) >&2
  fi
  mkdir -p "$1/bin"
  cp "$ROOT/target/release/crowdwire" "$1/bin/cwbench-server" && cp "$ROOT/target/release/bots" "$1/bin/bots" \
    || die "build the binaries first"
  SERVER_BIN="$1/bin/cwbench-server"
  BOTS_BIN="$1/bin/bots"
}

# Waits (at most QUIET_WAIT s, default 300, counting the $2 s already waited) until the
# machine is nearly idle (< 40 % of a core), so that another tenant's build does not land in
# one run only. Returns 1, with the last reading in BUSY, when it is still busy by then.
wait_machine_idle() { # name [waited]
  local waited=${2:-0}
  while BUSY="$(machine_busy)"; (( BUSY >= 40 )); do
    (( waited >= ${QUIET_WAIT:-300} )) && { say "$1: machine still busy (${BUSY} % of a core); running anyway"; return 1; }
    (( waited % 60 == 0 )) && say "$1: machine busy (${BUSY} % of a core by others); waiting…"
    sleep 7; waited=$((waited + 10))
  done
  return 0
}
