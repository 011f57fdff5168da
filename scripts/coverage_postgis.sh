#!/usr/bin/env bash
# Coverage of a region (default: all of Jiangxi, H3 resolution 9, ~1.6 million cells) measured
# two ways on the same machine in the same run, with the ratio:
#
#   yizhan:  a freshly started release server, GET /api/v1/coverage?region=REGION&res=RES
#            (cold: grid built, minutes, figures, gaps, JSON; then the same request cached),
#            and GET /api/v1/coverage/suggestions?k=10 on it;
#   PostGIS: the same cells (cell id and centre, written by examples/coverage_cells.rs from the
#            grid yizhan measures) loaded by COPY next to the same demo stations, each cell
#            joined to its nearest station with a KNN LATERAL join on the GiST index:
#
#     SELECT c.cell, s.d FROM cells c CROSS JOIN LATERAL (
#       SELECT ST_Distance(c.geom::geography, st.geom::geography) AS d FROM stations st
#       WHERE st.retired_at IS NULL ORDER BY st.geom <-> c.geom LIMIT 1) s;
#
#   timed with psql's \timing in one session, per cell (rows to the client, discarded) and as
#   the aggregate coverage answers (covered cells: d × detour ÷ walking speed ≤ MINUTES), after
#   ANALYZE (autovacuum is off here) and with the plan checked: the KNN index scan inside the
#   LATERAL, and up to WORKERS parallel workers. Each timed query runs RUNS times (warm cache);
#   the best run counts. PostGIS's answer is then checked cell by cell against yizhan's minutes.
#
#   scripts/coverage_postgis.sh
#
# GEOGRAPHY=1 also times the join ordered on geography (`geom::geography <-> …`, its own GiST
# index): the planar KNN above is not always the geodesic nearest; both are checked against
# yizhan's minutes cell by cell.
#
# Settings (env): REGION=360000 RES=9 MINUTES=15 RUNS=2 WORKERS=2 GEOGRAPHY=1
#                 PG=postgres://postgres@127.0.0.1:5432
# Everything it starts is stopped and the database it creates is dropped on exit; the summary
# is kept in $CARGO_TARGET_DIR/coverage-bench/ (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

REGION=${REGION:-360000}
RES=${RES:-9}
MINUTES=${MINUTES:-15}
RUNS=${RUNS:-2}
WORKERS=${WORKERS:-2}
GEOGRAPHY=${GEOGRAPHY:-1}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PGHOST=127.0.0.1
PGPORT=5432
PGUSER=postgres
export PGHOST PGPORT PGUSER

# The server's default travel model (src/domain/travel.rs): walking 4.5 km/h, detour 1.3.
WALK_KMH=4.5
DETOUR=1.3

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release/yizhan
CELLS_BIN=$TARGET/release/examples/coverage_cells
WORK=$(mktemp -d /tmp/yizhan-coverage-pg.XXXXXX)
DB=yizhan_coverage_$$
DB_CREATED=0
SERVER_PID=
SUMMARY=$WORK/summary.txt
: >"$SUMMARY"

say() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
step() { printf '\n=== %s (%s, load %s)\n' "$*" "$(date +%T)" "$(machine_load)" >&2; }
now() { date +%s.%N; }
machine_load() { cut -d' ' -f1-3 /proc/loadavg; }

stop_server() {
  local pid=$SERVER_PID
  SERVER_PID=
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  stop_server
  if [ "$DB_CREATED" = 1 ]; then dropdb --if-exists "$DB" || true; fi
  if [ -s "$SUMMARY" ]; then
    mkdir -p "$TARGET/coverage-bench"
    cp "$SUMMARY" "$TARGET/coverage-bench/summary-$(date +%Y%m%d-%H%M%S).txt"
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# psql on the benchmark database, stopping at the first error, no ~/.psqlrc.
q() { psql -X -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

# start_server PORT: `yizhan serve` on the benchmark database; waits for /healthz.
start_server() {
  local port=$1 t0
  RUST_LOG=${RUST_LOG:-warn,yizhan::startup=info} "$BIN" serve --listen "127.0.0.1:$port" \
    --database-url "$PG/$DB" >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  t0=$(now)
  until curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz"; do
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server died:" >&2; tail -20 "$WORK/server.log" >&2; exit 1; }
    if awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a > 120) }'; then
      echo "the server is not healthy after 120 s" >&2
      exit 1
    fi
    sleep 0.05
  done
}

# get NAME URL: one timed request; prints seconds; the body is kept in $WORK/NAME.json.
get() {
  local name=$1 url=$2 out
  out=$(curl -sf -o "$WORK/$name.json" -w '%{http_code} %{time_total}' "$url")
  [ "${out%% *}" = 200 ] || { echo "GET $url: ${out%% *}" >&2; exit 1; }
  echo "${out#* }"
}

json_field() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$@"; }

peak_rss_mb() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# yizhan_run N: a fresh server, coverage cold then cached, suggestions k=10; one line of figures.
YZ_COLD=()
YZ_COMPUTED=()
yizhan_run() {
  local n=$1 port base cold cached sugg
  port=$(free_port)
  step "yizhan run $n: fresh server, coverage of $REGION at res $RES"
  start_server "$port"
  base="http://127.0.0.1:$port/api/v1/coverage?region=$REGION&res=$RES&mode=walk&minutes=$MINUTES"
  cold=$(get "cold$n" "$base")
  cached=$(get "cached$n" "$base")
  sugg=$(get "sugg$n" "http://127.0.0.1:$port/api/v1/coverage/suggestions?region=$REGION&res=$RES&mode=walk&minutes=$MINUTES&k=10")
  local computed cells covered was_cached
  computed=$(json_field "$WORK/cold$n.json" 'd["computed_ms"]')
  cells=$(json_field "$WORK/cold$n.json" 'd["total"]["cells"]')
  covered=$(json_field "$WORK/cold$n.json" 'd["total"]["covered_cells"]')
  was_cached=$(json_field "$WORK/cached$n.json" 'd["cached"]')
  [ "$was_cached" = True ] || { echo "the second request was not served from the cache" >&2; exit 1; }
  say "yizhan run $n (load $(machine_load)): cold request ${cold} s (computed_ms $computed), cached request ${cached} s, suggestions k=10 ${sugg} s; reply $(stat -c %s "$WORK/cold$n.json") bytes; $cells cells, $covered covered; server peak RSS $(peak_rss_mb "$SERVER_PID") MB"
  YZ_COLD+=("$cold")
  YZ_COMPUTED+=("$computed")
  YZ_CELLS=$cells
  YZ_COVERED=$covered
  stop_server
}

step "cargo build --release (yizhan, examples/coverage_cells)"
cargo build --release --bin yizhan --example coverage_cells 2>&1 | tail -n 2 >&2
pg_isready -h 127.0.0.1 -q || { echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }

say "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo); $(date '+%F %T'); load average at start $(machine_load)"
say "code: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' + uncommitted changes')"

step "fresh database $DB (the server migrates it and seeds the demo stations and regions)"
createdb "$DB"
DB_CREATED=1
yizhan_run 1

step "cells of $REGION at resolution $RES (examples/coverage_cells, with yizhan's minutes)"
"$CELLS_BIN" "$REGION" "$RES" --minutes >"$WORK/cells.csv"

step "loading the cells into PostGIS (COPY), GiST indexes, VACUUM ANALYZE"
t0=$(now)
q -q <<SQL
CREATE UNLOGGED TABLE cells_in (cell text, lon float8, lat float8, minutes float8);
\copy cells_in FROM '$WORK/cells.csv' WITH (FORMAT csv, HEADER true)
CREATE TABLE cells AS
  SELECT cell, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geometry(Point, 4326) AS geom
  FROM cells_in;
ALTER TABLE cells ADD PRIMARY KEY (cell);
CREATE INDEX cells_geom_gist ON cells USING GIST (geom);
-- yizhan's answer, kept apart so the timed queries read only what they need.
CREATE TABLE yizhan_minutes AS SELECT cell, minutes FROM cells_in;
ALTER TABLE yizhan_minutes ADD PRIMARY KEY (cell);
DROP TABLE cells_in;
-- Autovacuum is off on this server: statistics and the visibility map are made here.
VACUUM ANALYZE cells;
VACUUM ANALYZE yizhan_minutes;
VACUUM ANALYZE stations;
SQL
echo "loaded in $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s" >&2

N_CELLS=$(q -Atc "SELECT count(*) FROM cells")
N_STATIONS=$(q -Atc "SELECT count(*) FROM stations WHERE retired_at IS NULL")
SETTINGS=$(q -Atc "SET max_parallel_workers_per_gather = $WORKERS; SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'effective_cache_size', 'max_parallel_workers_per_gather', 'max_parallel_workers', 'max_worker_processes', 'jit', 'random_page_cost', 'autovacuum')" | tail -n 1)
VERSIONS=$(q -Atc "SELECT split_part(version(), ' on ', 1) || ', PostGIS ' || postgis_lib_version()")
say "PostGIS: $VERSIONS; $N_CELLS cells, $N_STATIONS active stations; one psql session; settings: $SETTINGS"
say "statistics: $(q -Atc "SELECT string_agg(relname || ' analyzed ' || to_char(last_analyze, 'HH24:MI:SS'), ', ' ORDER BY relname) FROM pg_stat_user_tables WHERE relname IN ('cells', 'stations')")"

# d × detour ÷ (metres per minute) ≤ minutes: the server's straight-line model.
COVERED="d * $DETOUR / ($WALK_KMH * 1000 / 60) <= $MINUTES"
LATERAL="CROSS JOIN LATERAL (SELECT ST_Distance(c.geom::geography, st.geom::geography) AS d FROM stations st WHERE st.retired_at IS NULL ORDER BY st.geom <-> c.geom LIMIT 1) s"
PER_CELL="SELECT c.cell, s.d FROM cells c $LATERAL"
AGGREGATE="SELECT count(*) AS cells, count(*) FILTER (WHERE $COVERED) AS covered FROM cells c $LATERAL"

step "EXPLAIN (the plan must use the stations' GiST index for the KNN ORDER BY)"
{
  echo "SET max_parallel_workers_per_gather = $WORKERS;"
  echo "EXPLAIN $PER_CELL;"
  echo "EXPLAIN $AGGREGATE;"
} | q -q >"$WORK/explain.txt"
cat "$WORK/explain.txt" >&2
grep -q 'Index Scan using stations_active_geom_gist on stations st' "$WORK/explain.txt" ||
  { echo "the plan does not use the GiST index on stations" >&2; exit 1; }
grep -Eq 'Order By: \((st\.)?geom <-> c\.geom\)' "$WORK/explain.txt" ||
  { echo "the plan does not order by the KNN operator in the index scan" >&2; exit 1; }

step "timing in one psql session: aggregate and per-cell, $RUNS runs each"
{
  echo "SET max_parallel_workers_per_gather = $WORKERS;"
  echo '\pset format unaligned'
  echo '\timing on'
  for run in $(seq 1 "$RUNS"); do
    echo "\\echo MARK aggregate $run"
    echo "$AGGREGATE;"
    echo "\\echo MARK per_cell $run"
    echo '\o /dev/null'
    echo "$PER_CELL;"
    echo '\o'
  done
  echo '\timing off'
  echo '\echo MARK explain_analyze'
  echo "EXPLAIN (ANALYZE, BUFFERS) $AGGREGATE;"
  echo '\echo MARK end'
} | q >"$WORK/timing.txt"
cat "$WORK/timing.txt" >&2
# The first "Time:" after each mark is its query's.
awk '/^MARK / { name = $2 "_" $3; want = 1; next }
     want && /^Time: / { print name, $2; want = 0 }' "$WORK/timing.txt" >"$WORK/times.txt"
best() { awk -v q="$1" '$1 ~ "^" q "_" { if (min == "" || $2 < min) min = $2 } END { printf "%.0f", min }' "$WORK/times.txt"; }
all_runs() { awk -v q="$1" '$1 ~ "^" q "_" { printf "%s%.0f", sep, $2; sep = ", " }' "$WORK/times.txt"; }
PG_AGG=$(best aggregate)
PG_CELL=$(best per_cell)
# The aggregate's row (cells|covered) in unaligned format.
PG_COVERED=$(grep -m1 -E '^[0-9]+\|[0-9]+$' "$WORK/timing.txt" | cut -d'|' -f2)
say "PostGIS aggregate (covered cells): runs $(all_runs aggregate) ms, best $PG_AGG ms; $PG_COVERED covered"
say "PostGIS per cell (rows to psql, discarded): runs $(all_runs per_cell) ms, best $PG_CELL ms"
say "EXPLAIN (ANALYZE, BUFFERS) of the aggregate (instrumented, so slower than the timed runs):"
sed -n '/^MARK explain_analyze/,/^MARK end/p' "$WORK/timing.txt" | sed '1d;$d' >"$WORK/explain_analyze.txt"
while IFS= read -r line; do say "    $line"; done <"$WORK/explain_analyze.txt"
if grep -q 'Workers Launched' "$WORK/explain_analyze.txt"; then
  say "parallel: $(grep -m1 -o 'Workers Planned: [0-9]*' "$WORK/explain_analyze.txt"), $(grep -m1 -o 'Workers Launched: [0-9]*' "$WORK/explain_analyze.txt")"
else
  say "parallel: the plan runs in one process (no Gather)"
fi

# PostgreSQL 15 runs a LATERAL subquery with LIMIT only in the leader (a Gather can only go
# under the seq scan of cells, which gains nothing), so the single query above uses one core.
# What a planner would do to use both: two sessions at once, each on half of the cells.
step "the aggregate in two concurrent sessions (half of the cells each), $RUNS runs"
MEDIAN=$(q -Atc "SELECT cell FROM cells ORDER BY cell OFFSET (SELECT count(*) / 2 FROM cells) LIMIT 1")
PAR_TIMES=()
for run in $(seq 1 "$RUNS"); do
  t0=$(now)
  q -At -c "SELECT count(*) FILTER (WHERE $COVERED) FROM cells c $LATERAL WHERE c.cell < '$MEDIAN'" >"$WORK/half1.txt" &
  p1=$!
  q -At -c "SELECT count(*) FILTER (WHERE $COVERED) FROM cells c $LATERAL WHERE c.cell >= '$MEDIAN'" >"$WORK/half2.txt" &
  p2=$!
  wait "$p1"
  wait "$p2"
  t1=$(now)
  PAR_TIMES+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 }')")
  PG_COVERED_2=$(($(cat "$WORK/half1.txt") + $(cat "$WORK/half2.txt")))
done
PG_AGG_2=$(printf '%s\n' "${PAR_TIMES[@]}" | sort -n | head -n 1)
say "PostGIS aggregate in two concurrent sessions (cells split at $MEDIAN): runs $(printf '%s\n' "${PAR_TIMES[@]}" | paste -sd, | sed 's/,/, /g') ms, best $PG_AGG_2 ms; $PG_COVERED_2 covered"

# Two distances to the same station agree to well under a centimetre (yizhan pins a geodesic to
# within 1 mm, PostGIS solves it on the spheroid): 1e-4 minutes (6 mm on foot) apart or more
# means PostGIS took a farther station.
SAME_MIN=1e-4
# check NAME QUERY: compares a per-cell query's distances with yizhan's minutes, cell by cell.
check() {
  local name=$1 query=$2 out n disagree maxdiff farther
  out=$(q -At <<SQL | tail -n 1
SET max_parallel_workers_per_gather = $WORKERS;
SELECT count(*), count(*) FILTER (WHERE ($COVERED) <> (y.minutes <= $MINUTES)),
       round(max(abs(d * $DETOUR / ($WALK_KMH * 1000 / 60) - y.minutes))::numeric, 3),
       count(*) FILTER (WHERE d * $DETOUR / ($WALK_KMH * 1000 / 60) > y.minutes + $SAME_MIN)
FROM ($query) p JOIN yizhan_minutes y USING (cell);
SQL
)
  IFS='|' read -r n disagree maxdiff farther <<<"$out"
  say "cell by cell, $name: $n cells compared; covered flag differs from yizhan's on $disagree; PostGIS's station is farther than yizhan's nearest (by $SAME_MIN min or more) on $farther cells; largest |difference| $maxdiff min"
}
step "checking PostGIS's answer against yizhan's minutes, cell by cell"
check "KNN on geometry (the query timed above)" "$PER_CELL"

# The KNN above orders by planar distance in degrees, which at Jiangxi's latitudes (a degree
# of longitude is ~0.88 of one of latitude) is not always the geodesic nearest. The same join
# ordered on geography (distance on the sphere, its own GiST index) for comparison.
if [ "$GEOGRAPHY" = 1 ]; then
  step "the same ordered on geography (index on geom::geography), one timed run"
  LATERAL_G="CROSS JOIN LATERAL (SELECT ST_Distance(c.geom::geography, st.geom::geography) AS d FROM stations st WHERE st.retired_at IS NULL ORDER BY st.geom::geography <-> c.geom::geography LIMIT 1) s"
  AGG_G="SELECT count(*) AS cells, count(*) FILTER (WHERE $COVERED) AS covered FROM cells c $LATERAL_G"
  q -q -c "CREATE INDEX stations_geog_gist ON stations USING GIST ((geom::geography)); ANALYZE stations;"
  {
    echo "SET max_parallel_workers_per_gather = $WORKERS;"
    echo "EXPLAIN $AGG_G;"
    echo '\pset format unaligned'
    echo '\timing on'
    echo '\echo MARK aggregate_geography 1'
    echo "$AGG_G;"
  } | q >"$WORK/geography.txt"
  cat "$WORK/geography.txt" >&2
  grep -q 'Index Scan using stations_geog_gist' "$WORK/geography.txt" ||
    { echo "the geography plan does not use its GiST index" >&2; exit 1; }
  PG_AGG_G=$(awk '/^Time: / { print $2; exit }' "$WORK/geography.txt")
  PG_COVERED_G=$(grep -m1 -E '^[0-9]+\|[0-9]+$' "$WORK/geography.txt" | cut -d'|' -f2)
  say "PostGIS aggregate ordered on geography: $(printf '%.0f' "$PG_AGG_G") ms; $PG_COVERED_G covered; plan: $(grep -o 'Index Scan using stations_geog_gist[^(]*' "$WORK/geography.txt" | head -n 1)$(grep -q Gather "$WORK/geography.txt" && echo ', parallel' || echo ', one process')"
  check "KNN on geography" "SELECT c.cell, s.d FROM cells c $LATERAL_G"
fi

yizhan_run 2

YZ_BEST=$(printf '%s\n' "${YZ_COLD[@]}" | sort -n | head -n 1)
YZ_BEST_MS=$(awk -v s="$YZ_BEST" 'BEGIN { printf "%.0f", s * 1000 }')
ratio() { awk -v p="$1" -v y="$2" 'BEGIN { printf "%.1fx", p / y }'; }
say ""
say "summary: $REGION at res $RES, walk $MINUTES min, $N_CELLS cells, $N_STATIONS stations"
say "  covered cells: yizhan $YZ_COVERED of $YZ_CELLS; PostGIS (KNN on geometry) $PG_COVERED${PG_COVERED_G:+; PostGIS (KNN on geography) $PG_COVERED_G}"
say "  yizhan cold request (fresh server: grid built, minutes, figures, gaps, JSON over HTTP), best of ${#YZ_COLD[@]}: $YZ_BEST_MS ms (computed_ms $(printf '%s\n' "${YZ_COMPUTED[@]}" | paste -sd/))"
say "  PostGIS aggregate, one session, best of $RUNS: $PG_AGG ms -> ratio PostGIS / yizhan $(ratio "$PG_AGG" "$YZ_BEST_MS")"
say "  PostGIS aggregate, two concurrent sessions, best of $RUNS: $PG_AGG_2 ms -> ratio $(ratio "$PG_AGG_2" "$YZ_BEST_MS")"
say "  PostGIS per cell (rows to psql), one session, best of $RUNS: $PG_CELL ms -> ratio $(ratio "$PG_CELL" "$YZ_BEST_MS")"
if [ -n "${PG_AGG_G:-}" ]; then
  say "  PostGIS aggregate ordered on geography, one session, one run: $(printf '%.0f' "$PG_AGG_G") ms -> ratio $(ratio "$PG_AGG_G" "$YZ_BEST_MS")"
fi
say "  load average at the end: $(machine_load)"
