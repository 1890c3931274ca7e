#!/usr/bin/env bash
# REST API benchmark for CrowdWire: world search, world details and login, on SQLite and/or
# PostgreSQL. Builds the release binary, starts one server per backend on a free loopback
# port with a temporary data directory (and, for PostgreSQL, a temporary database), seeds
# 10,000 worlds, runs `oha` against 127.0.0.1 only, prints a markdown table and stops
# everything on exit. See bench/README.md.
#
# Usage: bench/rest.sh [options]
#   -b, --backend sqlite|postgres|both   (env BACKEND, default both)
#   -d, --duration 15s                   each measured run (env DURATION, default 15s)
#   -c, --concurrency 32                 open connections (env CONCURRENCY, default 32)
#       --login-concurrency N            connections for the login case (env LOGIN_CONCURRENCY,
#                                        default: the same as --concurrency)
#   -r, --runs 3                         measured runs per case; the median is reported (env RUNS, default 3)
#   -w, --warmup 5s                      warm-up run before the measured ones (env WARMUP, default 5s)
#   -n, --worlds 10000                   worlds to seed (env WORLDS, default 10000)
#       --map FILE                       Tiled map stored in every world (env MAP_FILE,
#                                        default assets/static/maps/default.json, 76 KB)
#   -s, --search harbor                  search term (env SEARCH_TERM, default harbor: 322 of 10,000 worlds)
#       --cases list,search,nomatch,get,login   which cases to run (env CASES, default all)
#       --pg-url URL                     an existing PostgreSQL database to connect through; a fresh
#                                        database is created beside it and dropped afterwards
#                                        (env PG_URL, default postgres://postgres@127.0.0.1:5432/test)
#       --no-build                       use the existing target/release/crowdwire
#       --out DIR                        keep oha's JSON output and server logs in DIR (env OUT_DIR)
#   -h, --help
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BACKEND="${BACKEND:-both}"
DURATION="${DURATION:-15s}"
CONCURRENCY="${CONCURRENCY:-32}"
LOGIN_CONCURRENCY="${LOGIN_CONCURRENCY:-}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-5s}"
WORLDS="${WORLDS:-10000}"
SEARCH_TERM="${SEARCH_TERM:-harbor}"
MAP_FILE="${MAP_FILE:-$ROOT/assets/static/maps/default.json}"
CASES="${CASES:-list,search,nomatch,get,login}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
OUT_DIR="${OUT_DIR:-}"
BUILD=1

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "rest.sh: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -b|--backend) BACKEND="$2"; shift 2 ;;
    -d|--duration) DURATION="$2"; shift 2 ;;
    -c|--concurrency) CONCURRENCY="$2"; shift 2 ;;
    --login-concurrency) LOGIN_CONCURRENCY="$2"; shift 2 ;;
    -r|--runs) RUNS="$2"; shift 2 ;;
    -w|--warmup) WARMUP="$2"; shift 2 ;;
    -n|--worlds) WORLDS="$2"; shift 2 ;;
    -s|--search) SEARCH_TERM="$2"; shift 2 ;;
    --map) MAP_FILE="$2"; shift 2 ;;
    --cases) CASES="$2"; shift 2 ;;
    --pg-url) PG_URL="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --out) OUT_DIR="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

case "$BACKEND" in
  sqlite) BACKENDS=(sqlite) ;;
  postgres) BACKENDS=(postgres) ;;
  both) BACKENDS=(sqlite postgres) ;;
  *) die "--backend must be sqlite, postgres or both (got '$BACKEND')" ;;
esac
LOGIN_CONCURRENCY="${LOGIN_CONCURRENCY:-$CONCURRENCY}"
[[ "$CONCURRENCY" =~ ^[1-9][0-9]*$ && "$LOGIN_CONCURRENCY" =~ ^[1-9][0-9]*$ && "$RUNS" =~ ^[1-9][0-9]*$ && "$WORLDS" =~ ^[1-9][0-9]*$ ]] \
  || die "concurrency, runs and worlds must be positive integers"
[[ -r "$MAP_FILE" ]] || die "map file not readable: $MAP_FILE"
MAP_FILE="$(cd "$(dirname "$MAP_FILE")" && pwd)/$(basename "$MAP_FILE")"
MAP_KB="$(( ($(wc -c <"$MAP_FILE") + 512) / 1024 ))"
[[ "$SEARCH_TERM" =~ ^[A-Za-z0-9]+$ ]] || die "the search term must be alphanumeric (it goes into a URL unescaped)"

# --- tools -------------------------------------------------------------------------------
OHA="$(command -v oha || true)"
[[ -z "$OHA" && -x "$HOME/.cargo/bin/oha" ]] && OHA="$HOME/.cargo/bin/oha"
if [[ -z "$OHA" ]]; then
  echo "rest.sh: the load generator 'oha' is not installed. Install it with:" >&2
  echo "    cargo install oha --locked" >&2
  exit 127
fi
command -v python3 >/dev/null || die "python3 is required (bench/seed.py and result parsing)"
command -v curl >/dev/null || die "curl is required (install: apt-get install -y curl)"
for b in "${BACKENDS[@]}"; do
  if [[ "$b" == postgres ]]; then
    command -v psql >/dev/null || die "psql is required for the postgres backend (install: apt-get install -y postgresql-client)"
    psql "$PG_URL" -Atqc 'SELECT 1' >/dev/null 2>&1 || die "cannot connect to PostgreSQL at $PG_URL"
  fi
done

BIN="$ROOT/target/release/crowdwire"
if [[ "$BUILD" == 1 ]]; then
  echo "== building release binary" >&2
  (cd "$ROOT" && cargo build --release -p crowdwire --quiet)
fi
[[ -x "$BIN" ]] || die "$BIN is missing (drop --no-build)"

# --- state and cleanup ---------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cwbench.XXXXXX")"
# Run a copy of the binary under a name of its own, so that a `pkill crowdwire` aimed at a
# development server elsewhere on a shared machine does not stop the benchmark mid-run.
cp "$BIN" "$WORK/cwbench-server"
BIN="$WORK/cwbench-server"
[[ -n "$OUT_DIR" ]] && mkdir -p "$OUT_DIR" || OUT_DIR="$WORK/out"
mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR/rss.tsv"
declare -A PID PORT TOKEN DBURL DATADIR PGDB
ADMIN_EMAIL="admin@bench.invalid"
ADMIN_PASSWORD="bench-admin-$RANDOM$RANDOM"
USER_EMAIL="visitor@bench.invalid"
USER_PASSWORD="bench-visitor-password"

stop_server() {
  local b="$1" pid="${PID[$1]:-}"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  PID[$b]=""
}

cleanup() {
  local rc=$?
  for b in "${!PID[@]}"; do stop_server "$b"; done
  for b in "${!PGDB[@]}"; do
    [[ -n "${PGDB[$b]}" ]] && psql "$PG_URL" -Atqc "DROP DATABASE IF EXISTS ${PGDB[$b]} WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_server() {
  local b="$1"
  local args=(serve --bind "127.0.0.1:${PORT[$b]}" --data-dir "${DATADIR[$b]}")
  [[ -n "${DBURL[$b]}" ]] && args+=(--database-url "${DBURL[$b]}")
  # The load generator is one address (no per-address cap); the admin listener on a free port.
  CROWDWIRE_ADMIN_EMAIL="$ADMIN_EMAIL" CROWDWIRE_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    CROWDWIRE_MAX_CONNECTIONS_PER_IP=0 CROWDWIRE_ADMIN_BIND=127.0.0.1:0 \
    CROWDWIRE_AUTH_RATE_PER_MINUTE=100000000 CROWDWIRE_AUTH_BURST=100000000 CROWDWIRE_LOGIN_ATTEMPTS_PER_ACCOUNT=100000000 CROWDWIRE_WORLD_EDITS_PER_MINUTE=100000000 CROWDWIRE_JWT_SECRET="bench-secret-0123456789abcdef0123456789abcdef" \
    "$BIN" "${args[@]}" >>"$OUT_DIR/server-$b.log" 2>&1 &
  PID[$b]=$!
  for _ in $(seq 300); do
    if curl -fsS "http://127.0.0.1:${PORT[$b]}/api/v1/health" >/dev/null 2>&1; then return 0; fi
    kill -0 "${PID[$b]}" 2>/dev/null || { tail -20 "$OUT_DIR/server-$b.log" >&2; die "$b server exited at start"; }
    sleep 0.1
  done
  die "$b server did not answer /api/v1/health within 30 s"
}

api() { # api BACKEND METHOD PATH [curl args...]: prints the body, fails on non-2xx
  local b="$1" m="$2" p="$3"; shift 3
  curl -fsS -X "$m" "http://127.0.0.1:${PORT[$b]}/api/v1$p" "$@"
}

json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }

# --- set up each backend ------------------------------------------------------------------
for b in "${BACKENDS[@]}"; do
  echo "== $b: starting and seeding $WORLDS worlds" >&2
  PORT[$b]="$(free_port)"
  DATADIR[$b]="$WORK/data-$b"
  mkdir -p "${DATADIR[$b]}"
  DBURL[$b]=""
  PGDB[$b]=""
  if [[ "$b" == postgres ]]; then
    PGDB[$b]="bench_rest_$$_$RANDOM"
    psql "$PG_URL" -v ON_ERROR_STOP=1 -Atqc "CREATE DATABASE ${PGDB[$b]}" >/dev/null
    DBURL[$b]="${PG_URL%/*}/${PGDB[$b]}"
  fi
  start_server "$b"
  t0=$SECONDS
  if [[ "$b" == sqlite ]]; then
    stop_server "$b"   # seed the file directly, then start again with cold caches
    python3 "$ROOT/bench/seed.py" sqlite --db "${DATADIR[$b]}/crowdwire.db" --worlds "$WORLDS" \
      --map "$MAP_FILE"
    start_server "$b"
  else
    cols="$(psql "${DBURL[$b]}" -Atc "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'worlds'")"
    python3 "$ROOT/bench/seed.py" postgres --worlds "$WORLDS" --map "$MAP_FILE" --columns "$cols" \
      | psql "${DBURL[$b]}" -v ON_ERROR_STOP=1 -q >/dev/null
  fi
  echo "   seeded in $((SECONDS - t0)) s" >&2
  api "$b" POST /register -H 'Content-Type: application/json' \
    -d "{\"name\":\"Visitor\",\"email\":\"$USER_EMAIL\",\"hashed_password\":\"$USER_PASSWORD\"}" >/dev/null
  TOKEN[$b]="$(api "$b" POST /login --data-urlencode "username=$USER_EMAIL" --data-urlencode "password=$USER_PASSWORD" \
    | json_get 'd["access_token"]')"
  # Sanity checks: the cases below must answer 200 with the expected shapes.
  n="$(api "$b" GET "/worlds?visibility=public&search=$SEARCH_TERM" -H "Authorization: Bearer ${TOKEN[$b]}" | json_get 'len(d)')"
  [[ "$n" == 11 ]] || die "$b: search '$SEARCH_TERM' listed $n worlds, expected a full page (11)"
  size="$(api "$b" GET /worlds/11 -H "Authorization: Bearer ${TOKEN[$b]}" | wc -c)"
  echo "   GET /worlds/11 answers $size bytes" >&2
done

# --- load ----------------------------------------------------------------------------------
# Ids 11..9999 whose last digit is 1-9 are public, open worlds (see seed.py); with fewer
# worlds, every request reads world 11.
if [[ "$WORLDS" -ge 9999 ]]; then GET_REGEX='[1-9][0-9]{0,2}[1-9]'; else GET_REGEX='11'; fi

case_label() {
  case "$1" in
    list) echo "GET /worlds?visibility=public (page 1, no search)" ;;
    search) echo "GET /worlds?visibility=public&search=$SEARCH_TERM ($(python3 "$ROOT/bench/seed.py" count --worlds "$WORLDS" --search "$SEARCH_TERM") matches)" ;;
    nomatch) echo "GET /worlds?visibility=public&search=zzzq (0 matches)" ;;
    get) echo "GET /worlds/{id} (random public id, ${MAP_KB} KiB map)" ;;
    login) echo "POST /login (Argon2id m=19456 KiB, t=2, p=1; $LOGIN_CONCURRENCY conn.)" ;;
  esac
}

run_oha() { # run_oha BACKEND CASE DURATION OUTFILE
  local b="$1" c="$2" dur="$3" out="$4" base="http://127.0.0.1:${PORT[$b]}/api/v1"
  local conc="$CONCURRENCY"
  [[ "$c" == login ]] && conc="$LOGIN_CONCURRENCY"
  local common=(-z "$dur" -w -c "$conc" --no-tui --output-format json)
  case "$c" in
    list) "$OHA" "${common[@]}" -H "Authorization: Bearer ${TOKEN[$b]}" "$base/worlds?visibility=public" ;;
    search) "$OHA" "${common[@]}" -H "Authorization: Bearer ${TOKEN[$b]}" "$base/worlds?visibility=public&search=$SEARCH_TERM" ;;
    nomatch) "$OHA" "${common[@]}" -H "Authorization: Bearer ${TOKEN[$b]}" "$base/worlds?visibility=public&search=zzzq" ;;
    get) "$OHA" "${common[@]}" -H "Authorization: Bearer ${TOKEN[$b]}" --rand-regex-url \
           "http://127.0.0.1:${PORT[$b]}/api/v1/worlds/$GET_REGEX" ;;
    login) "$OHA" "${common[@]}" -m POST -T application/x-www-form-urlencoded \
           -d "username=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$USER_EMAIL")&password=$USER_PASSWORD" \
           "$base/login" ;;
  esac >"$out"
}

alive() { # the server must have survived the run (a signal from elsewhere, a crash, OOM)
  kill -0 "${PID[$1]}" 2>/dev/null && return 0
  tail -5 "$OUT_DIR/server-$1.log" >&2
  die "the $1 server (pid ${PID[$1]}) is gone; the last run is void (see $OUT_DIR/server-$1.log)"
}

IFS=',' read -r -a CASE_LIST <<<"$CASES"
for c in "${CASE_LIST[@]}"; do
  case "$c" in list|search|nomatch|get|login) ;; *) die "unknown case '$c'" ;; esac
done

echo "== load: oha $("$OHA" --version | awk '{print $2}'), $CONCURRENCY connections, $RUNS x $DURATION per case after a $WARMUP warm-up; backends interleaved" >&2
for c in "${CASE_LIST[@]}"; do
  for b in "${BACKENDS[@]}"; do
    run_oha "$b" "$c" "$WARMUP" "$OUT_DIR/$b-$c-warmup.json"
    alive "$b"
  done
  for r in $(seq "$RUNS"); do
    for b in "${BACKENDS[@]}"; do
      echo "   $c / $b / run $r" >&2
      run_oha "$b" "$c" "$DURATION" "$OUT_DIR/$b-$c-$r.json"
      alive "$b"
    done
  done
  for b in "${BACKENDS[@]}"; do   # the server's resident memory after each case
    printf '%s\t%s\t%s\n' "$b" "$c" "$(awk '/^VmRSS/{print $2}' "/proc/${PID[$b]}/status")" >>"$OUT_DIR/rss.tsv"
  done
done

# --- report --------------------------------------------------------------------------------
echo
echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); load generator on the same cores."
echo "Load: oha $("$OHA" --version | awk '{print $2}'), $CONCURRENCY connections (login: $LOGIN_CONCURRENCY), median of $RUNS x $DURATION after a $WARMUP warm-up, backends interleaved; $WORLDS worlds; ${MAP_KB} KiB map per world; release build."
for b in "${BACKENDS[@]}"; do
  if [[ "$b" == postgres ]]; then echo "PostgreSQL: $(psql "$PG_URL" -Atc 'SHOW server_version')"; fi
done
LABELS=""
for c in "${CASE_LIST[@]}"; do LABELS+="$c=$(case_label "$c")"$'\n'; done
LABELS="$LABELS" python3 - "$OUT_DIR" "$RUNS" "${#CASE_LIST[@]}" "${CASE_LIST[@]}" "${BACKENDS[@]}" <<'PY'
import json, statistics, sys, os
out, runs, ncases = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cases, backends = sys.argv[4:4 + ncases], sys.argv[4 + ncases:]
labels = dict(l.split("=", 1) for l in os.environ["LABELS"].strip().split("\n"))
print()
print("| endpoint | backend | req/s | p50 (ms) | p99 (ms) | runs (req/s) |")
print("|---|---|---:|---:|---:|---|")
bad = []
for c in cases:
    for b in backends:
        rps, p50, p99 = [], [], []
        for r in range(1, runs + 1):
            d = json.load(open(os.path.join(out, f"{b}-{c}-{r}.json")))
            codes = d.get("statusCodeDistribution", {})
            non2xx = sum(v for k, v in codes.items() if not k.startswith("2"))
            errs = sum(d.get("errorDistribution", {}).values())
            if non2xx or errs or not codes:
                bad.append(f"{b}/{c}/run {r}: status codes {codes}, errors {d.get('errorDistribution')}")
                continue
            rps.append(d["summary"]["requestsPerSec"])
            p50.append(d["latencyPercentiles"]["p50"] * 1000)
            p99.append(d["latencyPercentiles"]["p99"] * 1000)
        if not rps:
            print(f"| {labels[c]} | {b} | failed | | | |")
            continue
        med = statistics.median
        print(f"| {labels[c]} | {b} | {med(rps):,.0f} | {med(p50):.2f} | {med(p99):.2f} | "
              + " / ".join(f"{x:,.0f}" for x in rps) + " |")
print()
print("Server resident memory (VmRSS) after each case, MiB:")
print()
print("| backend | " + " | ".join(cases) + " |")
print("|---|" + "---:|" * len(cases))
rss = {}
for line in open(os.path.join(out, "rss.tsv")):
    b, c, kb = line.split()
    rss[(b, c)] = int(kb) / 1024
for b in backends:
    print(f"| {b} | " + " | ".join(f"{rss.get((b, c), float('nan')):,.0f}" for c in cases) + " |")
for line in bad:
    print("WARNING: " + line, file=sys.stderr)
if bad:
    sys.exit(1)
PY
echo >&2
echo "oha JSON and server logs: $OUT_DIR$( [[ "$OUT_DIR" == "$WORK/out" ]] && echo ' (deleted on exit; pass --out DIR to keep them)')" >&2
