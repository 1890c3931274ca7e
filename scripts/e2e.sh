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
#          log-in, profile name and password changes, the world browser (search, tags, Public /
#          Joined / Mine, pages), guest play, an invite link to a private world, and the admin
#          pages (counters, charts, world and user reports, banning a world and an account) as the
#          superuser this script starts the server with (e2e/src/run-screens-test.ts).
#
# Usage: scripts/e2e.sh [--quiet] [media] [web] [screens]      (no test named: all three)
#   --quiet (or E2E_QUIET=1)  don't print every WebSocket message of the media test (they are
#                             still kept for the failure report and in e2e/artifacts/)
#   E2E_BUILD=1               rebuild the server (cargo build -p crowdwire) even if the binary exists
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
BIN=$ROOT/target/debug/crowdwire
ARTIFACTS=$E2E/artifacts
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
HTTP_PORT=18080
MEDIA_PORT=40000
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
    media | web | screens) TESTS+=("$arg") ;;
    *) die "unknown argument $arg (expected --quiet, media, web or screens)" ;;
  esac
done
[ ${#TESTS[@]} -gt 0 ] || TESTS=(media web screens)

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
  up=
  for _ in $(seq 1 150); do
    if curl -fs "http://127.0.0.1:$HTTP_PORT/api/v1/health" > /dev/null; then up=1; break; fi
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.2
  done
  if [ -z "$up" ]; then
    echo "e2e: the server did not become healthy (GET /api/v1/health); its output:" >&2
    tail -n 80 "$LOG" >&2
    exit 1
  fi

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
# As root, a plain network namespace; otherwise inside a user namespace where we are root.
NS=(unshare -n)
[ "$(id -u)" = 0 ] || NS=(unshare -r -n)
status=0
timeout --kill-after=15 "$TOTAL_SECONDS" "${NS[@]}" "$0" --inside "$@" || status=$?
if [ $status -eq 124 ]; then echo "e2e: FAILED: the test exceeded ${TOTAL_SECONDS} s" >&2; fi
if [ $status -ne 0 ]; then echo "e2e: FAILED (exit $status); artifacts in $ARTIFACTS" >&2; else echo "e2e: PASSED; artifacts in $ARTIFACTS"; fi
exit $status
