#!/usr/bin/env bash
# End-to-end tests in headless Chromium (Playwright) against a real `crowdwire serve`:
#   media  mediasoup-client v3 through the SFU: two users 50 px apart exchange audio and video,
#          a 1 MiB file moves over a data channel, and the media stops once they walk apart
#          (e2e/src/run-media-test.ts);
#   web    the web client served at /: sign-up, world creation, two people who see each other
#          move, chat everyone/nearby, video tiles with decoded frames that follow proximity, a
#          file at a notice board, a conference raise-hand → allow, the map editor adding a
#          conference area that someone already in the world then joins, a screen share, a
#          network drop (every TCP connection cut with `ss -K`) and the reconnection, a ban from
#          the settings page, and a world created by uploading the map the editor downloaded
#          (e2e/src/run-web-test.ts);
#   screens  the screens outside a world: sign-up and log-in errors in plain words, a keyboard-only
#          log-in, profile name, password (staying signed in; another device is signed out) and
#          e-mail changes, "Sign out everywhere", the world browser (search, tags, Public /
#          Joined / Mine, pages), guest play, an invite link to a private world, and the admin
#          pages (counters, charts, world and user reports, banning a world and an account) as the
#          superuser this script starts the server with (e2e/src/run-screens-test.ts);
#   cluster  scaled out: three `crowdwire serve` replicas on PostgreSQL, Redis and RabbitMQ with
#          media on two `crowdwire media` nodes; two people on different replicas meet, see and hear
#          each other, chat and walk, keep their call when the replica running their world is
#          killed and when the media node holding it is killed, and
#          share a conference (e2e/src/run-cluster-test.ts). It runs on its own (not with the
#          others), needs PostgreSQL's Unix socket in /var/run/postgresql, RabbitMQ on
#          127.0.0.1:5672 (bridged into the namespace through a Unix socket with socat), and
#          redis-server (started inside the namespace).
#
# Usage: scripts/e2e.sh [--quiet] [media] [web] [screens]      (no test named: these three)
#        scripts/e2e.sh [--quiet] cluster
#   --quiet (or E2E_QUIET=1)  don't print every WebSocket message of the media test (they are
#                             still kept for the failure report and in e2e/artifacts/)
#   E2E_BUILD=1               rebuild the server (cargo build -p crowdwire) even if the binary exists
#   CARGO_TARGET_DIR          where cargo puts the server binary (default target/), as for cargo
#   E2E_NPM_CI=1              run npm ci in e2e/ even if node_modules is from the current lockfile
#   E2E_SERVER_LOG_FILTER     the server's --log filter (default: info,crowdwire_media=debug)
#   E2E_SERVER_ARGS           extra arguments for `crowdwire serve` (e.g. "--media-workers 1")
#   CHROMIUM                  browser binary (default /usr/bin/chromium)
#
# The server starts with a superuser (CROWDWIRE_ADMIN_EMAIL / CROWDWIRE_ADMIN_PASSWORD, fixed test
# values below); the drivers get the same as E2E_ADMIN_EMAIL / E2E_ADMIN_PASSWORD.
#
# Everything (server and browsers) runs inside a loopback-only network namespace
# (`unshare -n`), so no test traffic can leave the machine. Needs: node + npm, chromium
# (installed with apt-get when missing), unshare, ip and ss. Fails loudly when one is missing.
# Screenshots, full message logs and the server log go to e2e/artifacts/ (e2e/artifacts/<test>/ is
# emptied before <test> runs; the other tests' folders are left alone).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
E2E=$ROOT/e2e
# The server as cargo builds it: under CARGO_TARGET_DIR when that is set (relative to the root).
TARGET=${CARGO_TARGET_DIR:-target}
[[ $TARGET == /* ]] || TARGET=$ROOT/$TARGET
BIN=$TARGET/debug/crowdwire
ARTIFACTS=$E2E/artifacts
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
HTTP_PORT=18080
MEDIA_PORT=40000
# Admin listeners (/metrics, /health) of the cluster test's replicas: 9200 + replica number (the
# media nodes' health endpoints use 9100 + node number).
ADMIN_PORT=9200
# Bounds the server and all drivers: their own watchdogs (media 240 s, web 240 s, screens 180 s)
# fire first, plus a minute for the server to start and stop.
TOTAL_SECONDS=720
export E2E_ADMIN_EMAIL=admin@example.test
export E2E_ADMIN_PASSWORD='e2e superuser password, long enough'

die() { echo "e2e: $*" >&2; exit 1; }

TESTS=()
INSIDE=
for arg in "$@"; do
  case "$arg" in
    --quiet) export E2E_QUIET=1 ;;
    --inside) INSIDE=1 ;;
    media | web | screens | cluster) TESTS+=("$arg") ;;
    *) die "unknown argument $arg (expected --quiet, media, web, screens or cluster)" ;;
  esac
done
[ ${#TESTS[@]} -gt 0 ] || TESTS=(media web screens)
CLUSTER=
if [[ " ${TESTS[*]} " == *" cluster "* ]]; then
  [ ${#TESTS[@]} -eq 1 ] || die "run the cluster test on its own: scripts/e2e.sh cluster"
  CLUSTER=1
fi

# Waits until GET <url> answers 2xx; otherwise (the process <pid> exited, or 30 s passed) shows
# the end of <log> and stops the script.
healthy() { # url pid log
  for _ in $(seq 1 150); do
    curl -fs "$1" > /dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.2
  done
  echo "e2e: $1 did not become healthy; the output:" >&2
  tail -n 80 "$3" >&2
  exit 1
}

# ------------------------------------------------------------------------------------------
# Inside the network namespace, the cluster test: Redis, three replicas, two media nodes.
if [ -n "$INSIDE" ] && [ -n "$CLUSTER" ]; then
  ip link set lo up
  DATA=$(mktemp -d /tmp/crowdwire-e2e-cluster.XXXXXX)
  PIDS=()
  DRIVER=
  cleanup() {
    [ -n "$DRIVER" ] && kill "$DRIVER" 2>/dev/null || true
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    cp "$DATA"/*.log "$ARTIFACTS/cluster/" 2>/dev/null || true
    rm -rf "$DATA"
  }
  trap cleanup EXIT
  trap 'echo "e2e: interrupted (time limit?)" >&2; exit 124' TERM INT
  # RabbitMQ is the machine's, reached through the Unix socket the first half bridged.
  socat TCP-LISTEN:5672,bind=127.0.0.1,reuseaddr,fork "UNIX-CONNECT:$E2E_AMQP_SOCKET" > "$DATA/socat.log" 2>&1 &
  PIDS+=($!)
  redis-server --bind 127.0.0.1 --port 6379 --save "" --appendonly no > "$DATA/redis.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 50); do redis-cli -p 6379 ping > /dev/null 2>&1 && break; sleep 0.1; done
  export CROWDWIRE_DATABASE_URL="postgres://postgres@localhost/test?host=/var/run/postgresql&options=-c%20search_path%3D$E2E_PG_SCHEMA"
  export CROWDWIRE_JWT_SECRET=e2e-cluster-secret-0123456789abcdef0123456789
  export CROWDWIRE_REDIS_URL=redis://127.0.0.1:6379/ CROWDWIRE_AMQP_URL='amqp://guest:guest@127.0.0.1:5672/%2f'
  export CROWDWIRE_MEDIA_MODE=nodes NO_COLOR=1 CROWDWIRE_LOG=info
  # Replica 3 runs the world the test creates (a guest claims it there first) and is killed
  # mid-call: the people on replicas 1 and 2 must keep talking.
  for i in 1 2 3; do
    port=$((HTTP_PORT + i - 1))
    [ "$i" = 1 ] && admin=("CROWDWIRE_ADMIN_EMAIL=$E2E_ADMIN_EMAIL" "CROWDWIRE_ADMIN_PASSWORD=$E2E_ADMIN_PASSWORD") || admin=()
    env "${admin[@]}" CROWDWIRE_REPLICA_ID="replica-$i" CROWDWIRE_ADMIN_BIND="127.0.0.1:$((ADMIN_PORT + i))" \
      "$BIN" serve --bind "127.0.0.1:$port" --data-dir "$DATA/replica-$i" > "$DATA/replica-$i.log" 2>&1 &
    PIDS+=($!)
    [ "$i" = 3 ] && REPLICA_3_PID=$!
    # The first one migrates the database before the others start.
    healthy "http://127.0.0.1:$port/api/v1/health" "$!" "$DATA/replica-$i.log"
  done
  NODES=
  for i in 1 2; do
    # Capacity 4: the two-person call (4 consumers) passes the threshold, so the test sees
    # CREATE_NEW_REPLICA reach the replicas.
    "$BIN" media --node-id "media-$i" --media-bind "127.0.0.1:$((MEDIA_PORT + 10 * (i - 1)))" --media-workers 1 --media-capacity 4 \
      --health-bind "127.0.0.1:$((9100 + i))" > "$DATA/media-$i.log" 2>&1 &
    PIDS+=($!)
    healthy "http://127.0.0.1:$((9100 + i))/health" "$!" "$DATA/media-$i.log"
    NODES="$NODES${NODES:+,}$!@http://127.0.0.1:$((9100 + i))"
  done
  echo "e2e: ---- cluster ---- (replicas on :$HTTP_PORT, :$((HTTP_PORT + 1)) and :$((HTTP_PORT + 2)), media nodes $NODES)"
  s=0
  E2E_BASE_URL="http://127.0.0.1:$HTTP_PORT" E2E_BASE_URL_2="http://127.0.0.1:$((HTTP_PORT + 1))" E2E_MEDIA_NODES="$NODES" \
    E2E_BASE_URL_3="http://127.0.0.1:$((HTTP_PORT + 2))" E2E_REPLICA_3_PID="$REPLICA_3_PID" \
    E2E_ADMIN_URL="http://127.0.0.1:$((ADMIN_PORT + 1))" E2E_ADMIN_URL_2="http://127.0.0.1:$((ADMIN_PORT + 2))" \
    E2E_ARTIFACTS="$ARTIFACTS/cluster" node "$E2E/dist/run-cluster-test.mjs" &
  DRIVER=$!
  wait "$DRIVER" || s=$?
  DRIVER=
  if grep -q "panicked" "$DATA"/*.log; then
    echo "e2e: a server panicked during the test:" >&2
    grep -A8 panicked "$DATA"/*.log >&2
    s=1
  fi
  if [ $s -ne 0 ]; then echo "e2e: cluster FAILED (exit $s)" >&2; else echo "e2e: cluster passed"; fi
  exit $s
fi

# ------------------------------------------------------------------------------------------
# Second half: inside the network namespace (the script re-runs itself with --inside).
if [ -n "$INSIDE" ]; then
  ip link set lo up
  DATA=$(mktemp -d /tmp/crowdwire-e2e.XXXXXX)
  LOG=$DATA/server.log
  SERVER=
  DRIVER=
  cleanup() {
    [ -n "$DRIVER" ] && kill "$DRIVER" 2>/dev/null || true
    if [ -n "$SERVER" ]; then
      kill "$SERVER" 2>/dev/null || true
      wait "$SERVER" 2>/dev/null || true
    fi
    cp "$LOG" "$ARTIFACTS/server.log" 2>/dev/null || true
    rm -rf "$DATA"
  }
  trap cleanup EXIT
  trap 'echo "e2e: interrupted (time limit?)" >&2; exit 124' TERM INT

  MEDIA_ARGS=()
  HELP=$("$BIN" serve --help)
  if grep -q -- '--media-bind' <<<"$HELP"; then MEDIA_ARGS+=(--media-bind "127.0.0.1:$MEDIA_PORT"); fi
  if grep -q -- '--media-announce-ip' <<<"$HELP"; then MEDIA_ARGS+=(--media-announce-ip 127.0.0.1); fi
  if [ ${#MEDIA_ARGS[@]} -eq 0 ]; then
    echo "e2e: WARNING: 'crowdwire serve --help' lists no --media-* flags: this server has no SFU yet, the media steps will fail" >&2
  fi
  read -r -a EXTRA_ARGS <<<"${E2E_SERVER_ARGS:-}"
  echo "e2e: starting: crowdwire serve --bind 127.0.0.1:$HTTP_PORT --data-dir $DATA ${MEDIA_ARGS[*]} ${EXTRA_ARGS[*]} (superuser $E2E_ADMIN_EMAIL)"
  NO_COLOR=1 CROWDWIRE_ADMIN_EMAIL="$E2E_ADMIN_EMAIL" CROWDWIRE_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD" "$BIN" serve --bind "127.0.0.1:$HTTP_PORT" --data-dir "$DATA" --log "${E2E_SERVER_LOG_FILTER:-info,crowdwire_media=debug}" \
    "${MEDIA_ARGS[@]}" "${EXTRA_ARGS[@]}" > "$LOG" 2>&1 &
  SERVER=$!
  healthy "http://127.0.0.1:$HTTP_PORT/api/v1/health" "$SERVER" "$LOG"

  status=0
  for t in "${TESTS[@]}"; do
    echo "e2e: ---- $t ----"
    s=0
    E2E_BASE_URL="http://127.0.0.1:$HTTP_PORT" E2E_SERVER_LOG="$LOG" E2E_ARTIFACTS="$ARTIFACTS/$t" \
      E2E_BUNDLE="$E2E/dist/media-page.js" node "$E2E/dist/run-$t-test.mjs" &
    DRIVER=$!
    wait "$DRIVER" || s=$?
    DRIVER=
    if [ $s -ne 0 ]; then echo "e2e: $t FAILED (exit $s)" >&2; status=$s; else echo "e2e: $t passed"; fi
  done
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "e2e: the server exited during the test; its output:" >&2
    tail -n 80 "$LOG" >&2
    status=1
  fi
  if grep -q "panicked" "$LOG"; then
    echo "e2e: the server panicked during the test:" >&2
    grep -A8 panicked "$LOG" >&2
    status=1
  fi
  exit $status
fi

# ------------------------------------------------------------------------------------------
# First half: tools, builds, then the namespace.
command -v node > /dev/null || die "node is required (apt-get install -y nodejs npm)"
command -v npm > /dev/null || die "npm is required (apt-get install -y npm)"
command -v unshare > /dev/null || die "unshare is required (util-linux)"
command -v ip > /dev/null || die "ip is required (apt-get install -y iproute2)"
command -v ss > /dev/null || die "ss is required to cut connections in the web test (apt-get install -y iproute2)"
command -v curl > /dev/null || die "curl is required (apt-get install -y curl)"
command -v timeout > /dev/null || die "timeout is required (coreutils)"
if [ ! -x "$CHROMIUM" ]; then
  echo "e2e: no browser at $CHROMIUM; installing Debian's chromium"
  [ "$(id -u)" = 0 ] || die "chromium is missing and we are not root: apt-get install -y chromium"
  apt-get install -y chromium || { apt-get update && apt-get install -y chromium; } || die "could not install chromium"
  [ -x "$CHROMIUM" ] || die "chromium installed, but not at $CHROMIUM"
fi

echo "e2e: building the test page and driver (npm ci, tsc, esbuild)"
# npm ci empties node_modules first, which breaks a driver that another run of this script is
# running at the time; so it runs only when node_modules was not installed from this very
# lockfile (E2E_NPM_CI=1 forces it).
LOCK_SUM=$(sha256sum "$E2E/package-lock.json" | cut -d' ' -f1)
if [ "${E2E_NPM_CI:-0}" = 1 ] || [ "$(cat "$E2E/node_modules/.e2e-lock-sha256" 2>/dev/null)" != "$LOCK_SUM" ]; then
  (cd "$E2E" && npm ci --no-audit --no-fund --loglevel=error && echo "$LOCK_SUM" > node_modules/.e2e-lock-sha256) || die "npm ci in e2e/ failed"
else
  echo "e2e: e2e/node_modules is installed from this package-lock.json; not running npm ci"
fi
(cd "$E2E" && npx tsc --noEmit -p . && node build.mjs) || die "building e2e/ failed"

if [ ! -x "$BIN" ] || [ "${E2E_BUILD:-0}" = 1 ]; then
  echo "e2e: building the server (cargo build -p crowdwire)"
  cargo build -p crowdwire || die "cargo build -p crowdwire failed"
fi

for t in "${TESTS[@]}"; do rm -rf "${ARTIFACTS:?}/$t"; mkdir -p "$ARTIFACTS/$t"; done
BRIDGE=
if [ -n "$CLUSTER" ]; then
  command -v socat > /dev/null || { apt-get install -y socat || { apt-get update && apt-get install -y socat; }; } || die "socat is required for the cluster test"
  command -v redis-server > /dev/null || die "redis-server is required for the cluster test (apt-get install -y redis-server)"
  command -v psql > /dev/null || die "psql is required for the cluster test"
  [ -S /var/run/postgresql/.s.PGSQL.5432 ] || die "the cluster test needs PostgreSQL's Unix socket /var/run/postgresql/.s.PGSQL.5432"
  (exec 3<>/dev/tcp/127.0.0.1/5672) 2> /dev/null || die "the cluster test needs RabbitMQ on 127.0.0.1:5672"
  export E2E_PG_SCHEMA="e2e_cluster_$$"
  psql "postgres://postgres@127.0.0.1:5432/test" -qc "CREATE SCHEMA $E2E_PG_SCHEMA" || die "could not create schema $E2E_PG_SCHEMA"
  export E2E_AMQP_SOCKET=/tmp/crowdwire-e2e-amqp-$$.sock
  socat "UNIX-LISTEN:$E2E_AMQP_SOCKET,fork,mode=600" TCP:127.0.0.1:5672 &
  BRIDGE=$!
  trap 'kill $BRIDGE 2>/dev/null; rm -f "$E2E_AMQP_SOCKET"; psql "postgres://postgres@127.0.0.1:5432/test" -qc "DROP SCHEMA IF EXISTS $E2E_PG_SCHEMA CASCADE" > /dev/null 2>&1' EXIT
  for _ in $(seq 1 50); do [ -S "$E2E_AMQP_SOCKET" ] && break; sleep 0.1; done
fi
# As root, a plain network namespace; otherwise inside a user namespace where we are root.
NS=(unshare -n)
[ "$(id -u)" = 0 ] || NS=(unshare -r -n)
status=0
timeout --kill-after=15 "$TOTAL_SECONDS" "${NS[@]}" "$0" --inside "$@" || status=$?
if [ $status -eq 124 ]; then echo "e2e: FAILED: the test exceeded ${TOTAL_SECONDS} s" >&2; fi
if [ $status -ne 0 ]; then echo "e2e: FAILED (exit $status); artifacts in $ARTIFACTS" >&2; else echo "e2e: PASSED; artifacts in $ARTIFACTS"; fi
exit $status
