#!/usr/bin/env bash
# Schemathesis against yizhan's own OpenAPI document (`/api/openapi.json`): generated requests
# for every documented operation, anonymous and with a manager's and an admin's Bearer token.
# Fails on any 5xx and on any response the document does not describe (status code, content
# type, body schema).
#
#   scripts/schemathesis.sh            # builds the debug binary, runs the three passes
#   YIZHAN_BIN=target/release/yizhan scripts/schemathesis.sh
#   SCHEMATHESIS_MAX_EXAMPLES=200 scripts/schemathesis.sh   # dig deeper (slower)
#
# Everything lives in a temporary directory (a fresh GeoPackage, the server's log) removed on
# exit; the server listens on a free loopback port and is stopped on exit. Schemathesis is
# installed into a virtual environment in /tmp (reused across runs) at a pinned version: its
# 4.x command line differs from 3.x.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SCHEMATHESIS_VERSION=4.32.5
VENV=${SCHEMATHESIS_VENV:-/tmp/yizhan-schemathesis-venv}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-40}
SEED=${SCHEMATHESIS_SEED:-20240917}
# Data-shaped checks only: `not_a_server_error` plus the three that compare a response with
# the document. (Checks such as `negative_data_rejection` would also demand 4xx for inputs the
# schema language cannot forbid, and `ignored_auth` needs credentials for every scheme.)
CHECKS=${SCHEMATHESIS_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance}

if [[ ! -x "$VENV/bin/schemathesis" ]] || ! "$VENV/bin/schemathesis" --version | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [[ -z "${YIZHAN_BIN:-}" ]]; then
  cargo build -q --bin yizhan
  YIZHAN_BIN="${CARGO_TARGET_DIR:-target}/debug/yizhan"
fi
YIZHAN_BIN=$(realpath "$YIZHAN_BIN")

WORK=$(mktemp -d /tmp/yizhan-schemathesis.XXXXXX)
SERVER_PID=
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export DATABASE_URL="sqlite://$WORK/yizhan.gpkg"
# A few stations of our own (the store is then not empty, so no demo seed; regions are seeded).
cat > "$WORK/stations.csv" <<'CSV'
code,name,address,county,lon,lat,amenities,opening_hours,phone,demo,notes
ST-1,测试驿站一,测试路1号,360102,115.89,28.68,water;toilet,24/7,0791-1,true,
ST-2,测试驿站二,测试路2号,360102,115.90,28.69,hot_water,Mo-Fr 08:00-18:00,,true,
ST-3,测试驿站三,测试路3号,360103,115.91,28.70,,Mo-Su 07:00-21:00,,true,
CSV
"$YIZHAN_BIN" import "$WORK/stations.csv" >/dev/null
printf 'manager-password-1\n' | "$YIZHAN_BIN" user add --login st-manager --role manager --station ST-1,ST-2 >/dev/null
printf 'admin-password-1\n' | "$YIZHAN_BIN" user add --login st-admin --role admin >/dev/null

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
# Generous report quota: schemathesis files many reports from one address.
YIZHAN_REPORT_RATE_PER_HOUR=100000 "$YIZHAN_BIN" serve --listen "127.0.0.1:$PORT" \
  >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 120); do
  curl -fs "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; echo "yizhan did not start"; exit 1; }
  sleep 0.5
done
curl -fs "$BASE/healthz" >/dev/null

token() {
  curl -fs -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"login\":\"$1\",\"password\":\"$2\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
MANAGER_TOKEN=$(token st-manager manager-password-1)
ADMIN_TOKEN=$(token st-admin admin-password-1)

run() {
  local who=$1
  shift
  echo "=== schemathesis: $who"
  # From the temporary directory: schemathesis keeps its example cache in the working directory.
  (cd "$WORK" && "$VENV/bin/schemathesis" --config-file "$ROOT/scripts/schemathesis.toml" \
    run "$BASE/api/openapi.json" \
    --checks "$CHECKS" \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --request-timeout 60 \
    --workers 1 \
    --no-color \
    "$@")
}

status=0
run anonymous || status=1
# Logging out would end the very session the pass runs with: the anonymous pass covers it.
run manager -H "Authorization: Bearer $MANAGER_TOKEN" --exclude-path /api/v1/auth/logout || status=1
run admin -H "Authorization: Bearer $ADMIN_TOKEN" --exclude-path /api/v1/auth/logout || status=1

if grep -q 'request failed' "$WORK/server.log"; then
  echo "the server logged failed requests:"
  grep 'request failed' "$WORK/server.log" | head -n 20
  status=1
fi
exit $status
