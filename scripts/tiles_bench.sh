#!/usr/bin/env bash
# Vector tiles on 190,000 stations: latency under load and bytes per tile, beside the bbox GeoJSON.
#
#   scripts/tiles_bench.sh
#
# Builds --release, generates STATIONS synthetic demo stations (scripts/gen_stations.py, fixed
# seed: 55 % in Jiangxi's cities, Nanchang the densest, 3 % over all of China), imports them into
# a fresh GeoPackage, starts `yizhan serve` on it, and for four realistic tile sets
#   z5  China       every z5 tile over 75–134° E, 18–54° N (the national view)
#   z10 province    z10 tiles over 114.9–116.9° E, 27.7–29.7° N (Nanchang and its neighbours)
#   z14 Nanchang    z14 tiles over 115.80–116.00° E, 28.60–28.76° N (city districts)
#   z16 Nanchang    z16 tiles over 115.86–115.92° E, 28.66–28.70° N (streets)
# measures (1) bytes per tile, raw and gzip -6, beside GET /api/v1/stations?bbox= for the same
# tile bounds (where the bbox endpoint can answer: sides ≤ 10°, ≤ 10,000 features), and (2)
# req/s, p50 and p99 with wrk at CONNECTIONS connections (closed loop, random tile of the set,
# uncompressed replies), after a warm-up that also builds the cluster levels.
# Prints the load average before each run. Stops the server and removes its files on exit.
# Settings (env): STATIONS=190000 DURATION=15 WARMUP=3 CONNECTIONS=64 WRK_THREADS=2
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATIONS=${STATIONS:-190000}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${YIZHAN_BIN:-$TARGET/release/yizhan}
WORK=$(mktemp -d /tmp/yizhan-tiles.XXXXXX)
PID=

cleanup() {
  local rc=$?
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v wrk >/dev/null || { echo "installing wrk" >&2; apt-get install -y wrk >&2; }
if [ -z "${YIZHAN_BIN:-}" ]; then
  echo "=== cargo build --release" >&2
  cargo build --release --bin yizhan 2>&1 | tail -n 2 >&2
fi

echo "=== $STATIONS synthetic stations" >&2
python3 scripts/gen_stations.py "$STATIONS" >"$WORK/stations.csv"
DB="sqlite://$WORK/tiles.gpkg"
"$BIN" import "$WORK/stations.csv" --database-url "$DB" >&2
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RUST_LOG=warn,yizhan::tiles=info "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "$DB" --seed false \
  >"$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 600); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
  sleep 0.1
done
BASE="http://127.0.0.1:$PORT"
echo "stations served: $(curl -sf "$BASE/healthz")"

# tile lists: "z x y w s e n" per line
python3 - "$WORK" <<'PY'
import math, sys
work = sys.argv[1]
def tile(z, lon, lat):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    s = math.sin(math.radians(lat))
    y = int((0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n)
    return x, y
def bounds(z, x, y):
    n = 2 ** z
    lon = lambda v: v / n * 360 - 180
    lat = lambda v: math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * v / n))))
    return lon(x), lat(y + 1), lon(x + 1), lat(y)
sets = {"z5-china": (5, 75, 18, 134, 54), "z10-province": (10, 114.9, 27.7, 116.9, 29.7),
        "z14-nanchang": (14, 115.80, 28.60, 116.00, 28.76), "z16-nanchang": (16, 115.86, 28.66, 115.92, 28.70)}
for name, (z, w, s, e, n) in sets.items():
    x0, y0 = tile(z, w, n)
    x1, y1 = tile(z, e, s)
    with open(f"{work}/{name}.tiles", "w") as f, open(f"{work}/{name}.paths", "w") as p:
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                b = bounds(z, x, y)
                f.write(f"{z} {x} {y} {b[0]:.9f} {b[1]:.9f} {b[2]:.9f} {b[3]:.9f}\n")
                p.write(f"/api/v1/tiles/{z}/{x}/{y}.mvt\n")
PY

printf '\n%-14s %5s %9s | %10s %10s | %10s %10s %10s %10s %8s\n' set tiles non-empty "mvt raw" "mvt gzip" \
  "same-mvt" "same-mvtgz" "bbox raw" "bbox gzip" "compared"
for set in z5-china z10-province z14-nanchang z16-nanchang; do
  n=0 full=0 raw=0 gz=0 craw=0 cgz=0 braw=0 bgz=0 cmp=0
  while read -r z x y w s e nn; do
    n=$((n + 1))
    curl -s -o "$WORK/t" "$BASE/api/v1/tiles/$z/$x/$y.mvt"
    sz=$(stat -c %s "$WORK/t")
    [ "$sz" -gt 0 ] || continue
    full=$((full + 1))
    tgz=$(gzip -6 -c "$WORK/t" | wc -c)
    raw=$((raw + sz)); gz=$((gz + tgz))
    code=$(curl -s -o "$WORK/b" -w '%{http_code}' "$BASE/api/v1/stations?bbox=$w,$s,$e,$nn&limit=10000")
    if [ "$code" = 200 ] && ! grep -q '"truncated":true' "$WORK/b"; then
      cmp=$((cmp + 1)); craw=$((craw + sz)); cgz=$((cgz + tgz))
      braw=$((braw + $(stat -c %s "$WORK/b"))); bgz=$((bgz + $(gzip -6 -c "$WORK/b" | wc -c)))
    fi
  done <"$WORK/$set.tiles"
  printf '%-14s %5d %9d | %10d %10d | %10d %10d %10d %10d %8d\n' "$set" "$n" "$full" "$raw" "$gz" \
    "$craw" "$cgz" "$braw" "$bgz" "$cmp"
done
echo "(bytes summed over the set's non-empty tiles; same-mvt/bbox: only the tiles the bbox endpoint"
echo " answers in full — sides ≤ 10°, ≤ 10,000 stations — with the tile bytes for those same tiles)"

echo
for set in z5-china z10-province z14-nanchang z16-nanchang; do
  export TILE_LIST="$WORK/$set.paths"
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -s scripts/tiles.lua "$BASE" >/dev/null
  echo "load average before $set: $(cut -d' ' -f1-3 /proc/loadavg)"
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s scripts/tiles.lua "$BASE" |
    grep '^RESULT' | sed "s/^RESULT/$set/"
done
echo "cluster builds (per index generation): $(sed 's/\x1b\[[0-9;]*m//g' "$WORK/serve.log" | grep 'tile clusters built' | grep -o ' ms=[0-9]*' | tr '\n' ' ')"
echo "server RSS: $(awk '/VmRSS/ { printf "%.0f MB", $2 / 1024 }' /proc/$PID/status)"
