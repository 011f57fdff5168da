#!/usr/bin/env bash
# Sizing a nationwide deployment (issue 9): what one `yizhan serve` replica holds in memory
# with SIZING_STATIONS stations, and what it costs PostgreSQL. Loopback only, bounded in time.
#
#   scripts/sizing.sh
#
# Generates SIZING_STATIONS synthetic stations (scripts/gen_stations.py, fixed seed), imports
# them with `yizhan import` into a fresh GeoPackage and a fresh PostGIS database, then for each
# store starts the release build (demo regions seeded, so Jiangxi's coverage can be asked for)
# and prints VmRSS and VmHWM (peak) from /proc:
#   1. once /healthz answers (index built),
#   2. after NEAREST_REQUESTS nearest queries over NEAREST_CONNECTIONS keep-alive connections
#      (random points over Jiangxi, a third with amenity / open-now filters),
#   3. after one coverage request (Jiangxi, H3 resolution 9: the heaviest public request).
# Also the seconds from exec to /healthz, the RSS of a replica on an empty store (the part that
# does not grow with stations), and for PostGIS: the connections the replica holds
# (pg_stat_activity) idle and after the load, and the cost of the periodic resync query
# (EXPLAIN ANALYZE) right after the bulk import, with no recent change and with 100.
#
# Everything it starts is stopped and the database it creates is dropped on exit.
# Settings (env): SIZING_STATIONS=190000 NEAREST_REQUESTS=20000 NEAREST_CONNECTIONS=16
#                 PG=postgres://postgres@127.0.0.1:5432 BIN=<release binary>
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

N=${SIZING_STATIONS:-190000}
REQUESTS=${NEAREST_REQUESTS:-20000}
CONNS=${NEAREST_CONNECTIONS:-16}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
export PGHOST=127.0.0.1 PGUSER=postgres

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/yizhan
fi
WORK=$(mktemp -d /tmp/yizhan-sizing.XXXXXX)
DB=yizhan_sizing_$$
PID=

cleanup() {
  if [ -n "$PID" ]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  dropdb --if-exists --force "$DB" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }
rss() {
  awk -v what="$1" '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 }
    END { printf "  %-34s RSS %6.1f MB   peak %6.1f MB\n", what, r / 1024, h / 1024 }' \
    "/proc/$PID/status"
}
timed() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "  %.1f s\n", b - a }'
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pg_connections() {
  psql -d postgres -Atqc "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB'"
}

step "generate $N stations (fixed seed)"
python3 scripts/gen_stations.py "$N" >"$WORK/stations.csv"
wc -l "$WORK/stations.csv"

step "import into a fresh GeoPackage"
timed "$BIN" import "$WORK/stations.csv" --database-url "sqlite://$WORK/sizing.gpkg" >/dev/null
ls -l "$WORK/sizing.gpkg" | awk '{ printf "  %.0f MB on disk\n", $5 / 1e6 }'

step "import into a fresh PostGIS database $DB"
createdb "$DB"
timed "$BIN" import "$WORK/stations.csv" --database-url "$PG/$DB" >/dev/null
psql -d "$DB" -Atqc "SELECT '  ' || pg_size_pretty(pg_database_size('$DB')) || ' on disk'"

# Nearest queries from NEAREST_CONNECTIONS threads, each on its own keep-alive connection.
load() {
  python3 - "$1" "$REQUESTS" "$CONNS" <<'PY'
import http.client, random, sys, threading, time
port, total, conns = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
errors, done = [0], [0]
lock = threading.Lock()
def worker(seed, n):
    rng = random.Random(seed)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(n):
        lat, lon = rng.uniform(24.5, 30.0), rng.uniform(113.6, 118.4)
        q = f"/api/v1/stations/nearest?lat={lat:.5f}&lon={lon:.5f}&limit=5"
        if i % 3 == 1:
            q += "&amenities=hot_water,toilet&open_now=true"
        c.request("GET", q)
        r = c.getresponse()
        r.read()
        with lock:
            done[0] += 1
            errors[0] += r.status != 200
t0 = time.time()
ts = [threading.Thread(target=worker, args=(s, total // conns)) for s in range(conns)]
for t in ts: t.start()
for t in ts: t.join()
dt = time.time() - t0
print(f"  {done[0]} nearest requests in {dt:.1f} s ({done[0] / dt:.0f}/s), {errors[0]} not 200")
PY
}

# Starts serve on $1 (extra flags after it), sets PID and PORT, prints the seconds to /healthz.
serve() {
  local url=$1 t0
  shift
  PORT=$(free_port)
  t0=$(date +%s.%N)
  RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "$url" "$@" &
  PID=$!
  for _ in $(seq 1 1200); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.05
  done
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "  /healthz answered %.2f s after exec: ", b - a }'
  curl -sf "http://127.0.0.1:$PORT/healthz"
  echo
}

stop() {
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
}

measure() {
  local label=$1 url=$2 port
  step "$label: serve"
  serve "$url" --seed true
  port=$PORT
  sleep 1
  rss "1 s after start (index built)"
  [ "$label" = PostGIS ] && echo "  PostgreSQL connections, idle: $(pg_connections)"
  load "$port"
  rss "after $REQUESTS nearest"
  [ "$label" = PostGIS ] && echo "  PostgreSQL connections, after the load: $(pg_connections)"
  curl -sf -o "$WORK/coverage.json" -w '  coverage of Jiangxi (res 9): %{http_code} in %{time_total} s, %{size_download} bytes\n' \
    "http://127.0.0.1:$port/api/v1/coverage?region=360000&res=9"
  rss "after one coverage request"
  stop
}

step "baseline: an empty GeoPackage, no stations, no regions"
serve "sqlite://$WORK/empty.gpkg" --seed false
sleep 1
rss "empty store"
stop

measure GeoPackage "sqlite://$WORK/sizing.gpkg"
measure PostGIS "$PG/$DB"

# What a replica runs every --resync-seconds: rows changed in the last interval + 60 s overlap.
resync_query() {
  psql -d "$DB" -Atqc "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
    SELECT id, version, retired_at IS NULL FROM stations
    WHERE updated_at >= now() - interval '90 seconds' ORDER BY id" |
    grep -E '^Sort \(actual rows|Execution Time' | sed 's/^ */  /'
}
step "PostGIS: the periodic resync query"
echo "  within 90 s of the bulk import (every imported row is recent):"
psql -d "$DB" -Atqc "UPDATE stations SET updated_at = now()" >/dev/null
resync_query
echo "  no recent change:"
psql -d "$DB" -Atqc "UPDATE stations SET updated_at = updated_at - interval '1 hour'" >/dev/null
psql -d "$DB" -Atqc "VACUUM ANALYZE stations" >/dev/null
resync_query
echo "  100 stations changed recently:"
psql -d "$DB" -Atqc "UPDATE stations SET updated_at = now() WHERE id % 1900 = 0" >/dev/null
resync_query
