#!/usr/bin/env bash
# Property-based API testing: runs schemathesis against a freshly started CrowdWire server,
# generated from the server's own OpenAPI document. Fails on any 5xx or any response that
# does not match the documented schema.
#
# Usage: scripts/schemathesis.sh [database-url]   (default: SQLite in a temp dir)
# Needs python3 with venv; installs schemathesis into target/schemathesis-venv.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.32.5
VENV=target/schemathesis-venv
if [ ! -x "$VENV/bin/schemathesis" ] || ! "$VENV/bin/schemathesis" --version | grep -q "$VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$VERSION"
fi

# Same feature set as `cargo test --workspace`, so after the tests this builds nothing.
cargo test --workspace --no-run --quiet
DATA=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DBARGS=()
if [ -n "${1:-}" ]; then DBARGS=(--database-url "$1"); fi
CROWDWIRE_AUTH_RATE_PER_MINUTE=100000000 CROWDWIRE_AUTH_BURST=100000000 CROWDWIRE_LOGIN_ATTEMPTS_PER_ACCOUNT=100000000 CROWDWIRE_WORLD_EDITS_PER_MINUTE=100000000 CROWDWIRE_ADMIN_EMAIL=fuzz-admin@crowdwire.test CROWDWIRE_ADMIN_PASSWORD=fuzz-admin-password \
  CROWDWIRE_ADMIN_BIND=127.0.0.1:0 ./target/debug/crowdwire serve --bind "127.0.0.1:$PORT" --data-dir "$DATA" "${DBARGS[@]}" > "$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/api/v1/health" > /dev/null && break
  sleep 0.2
done
curl -fs "http://127.0.0.1:$PORT/api/v1/health" > /dev/null || { echo "server did not start:"; cat "$DATA/server.log"; exit 1; }
TOKEN=$(curl -fs -X POST "http://127.0.0.1:$PORT/api/v1/login" -d 'username=fuzz-admin@crowdwire.test&password=fuzz-admin-password' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

status=0
# One worker: with several, CPython 3.11.7's ast.parse races inside hypothesis
# ("AST constructor recursion depth mismatch") and the run errors out on its own.
"$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
  -H "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" --no-color \
  -w 1 || status=$?
if grep -q "panicked" "$DATA/server.log"; then
  echo "the server panicked during the run:"; grep -A5 panicked "$DATA/server.log"; status=1
fi
exit $status
