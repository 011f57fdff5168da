#!/usr/bin/env bash
# Load test of GET /api/v1/stations/nearest, loopback only, bounded in time.
#
#   scripts/loadtest.sh [http|latency|cold|mixed|all]      (default: all; `mixed` is not in `all`)
#
# http: builds --release, creates a fresh PostGIS database, starts `yizhan serve` once so it seeds
#       the demo stations (optionally imports LOAD_STATIONS synthetic ones as well; the store
#       ANALYZEs after both), checks the baseline (last ANALYZE, the indexes, and EXPLAIN ANALYZE
#       of the store's own NEAREST_SQL read from src/store/postgres/mod.rs: it must walk
#       stations_active_geom_gist, else the run stops), then runs THREE servers on that database:
#       (a) the normal one (--nearest-engine index), (b) the baseline (--nearest-engine store:
#       PostGIS KNN per request, pool of 16), (c) the ceiling: a real nearest reply of (a) saved
#       as web/js/nearest-reply.json of a --web-dir and fetched at that path, so the same bytes
#       cross the same stack. wrk drives each at CONNECTIONS connections for DURATION seconds
#       (random points around Nanchang/Jiangxi for (a) and (b), scripts/nearest.lua); then oha
#       (installed with cargo if missing) drives (a) open loop at half its saturated rate for the
#       p99. HTTP_ROUNDS rounds of all four, back to back: the ratios are taken within a round
#       and judged on their medians (the VM's neighbours change the machine within minutes).
#       Prints req/s, latencies, the ratios against the targets, and the load averages; and, per
#       wrk run, CPU per request: the server process's, and the machine's less wrk's own (its
#       rusage), which holds PostgreSQL and the kernel's loopback work too. On 2 shared cores the
#       load generator takes a share; requests per serving-CPU-second compare the engines without it.
#       Replies are identity-encoded: wrk sends no Accept-Encoding and oha runs with
#       --disable-compression (oha 1.x asks for gzip/br by default: the server would then spend
#       ~50-90 µs per reply compressing it, see BENCHMARKS.md).
# latency: the same index server on a fresh seeded PostGIS database, driven by oha (crates.io;
#       `cargo install oha --locked` if missing) at FIXED request rates (LATENCY_RATES, open loop,
#       --latency-correction against coordinated omission) over CONNECTIONS connections: p50/p99
#       at a given load, which wrk's closed loop (as fast as possible) cannot show — there the
#       latency is just the queue the load generator itself keeps full. Unlike `http`, oha asks
#       for compressed replies here (its default Accept-Encoding, brotli first, as phones do), so
#       the server compresses every reply (station replies at level 1).
# cold: generates COLD_STATIONS synthetic stations (scripts/gen_stations.py, fixed seed), imports
#       them with `yizhan import` into a fresh GeoPackage and a fresh PostGIS database (timed), and
#       measures the time from process start to /healthz answering, COLD_RUNS times per store.
# mixed: on EACH store (a fresh GeoPackage, a fresh PostGIS database; MIXED_STORES), starts
#       `yizhan serve` (demo seed) with --report-rate-per-hour 100000 (all the load comes from
#       127.0.0.1, which the default 10 reports an hour would turn into 429s), creates a real
#       manager of the 50 stations nearest to Nanchang with `yizhan user add` and logs in, then
#       drives examples/mixedload.rs (closed loop, one keep-alive connection per client) at
#       MIXED_STEPS connections, WARMUP + DURATION seconds per step: 95 % nearest/bbox reads,
#       4 % anonymous problem reports, 1 % manager edits (GET for the ETag, PATCH with If-Match;
#       a 412 from two clients racing on one station is counted apart). Prints per step:
#       throughput (all answers and 2xx), p50/p99/p99.9, 503 shed / 503 timeout / other errors,
#       edits/s, the load average before the step and the server's RSS after it.
#       YIZHAN_BIN=path runs another build (e.g. an older one, for before/after figures; it is
#       then not rebuilt); SERVE_ARGS adds flags to `yizhan serve`; MIXED_ENGINE=store answers
#       nearest from the database per request (reads that wait, to overload the store);
#       HONOR_RETRY_AFTER=1 makes clients wait Retry-After after a 503 (default: a flood that
#       sends again at once).
#
# Everything it starts is stopped and every database it creates is dropped on exit.
# Settings (env): DURATION=20 WARMUP=3 CONNECTIONS=64 WRK_THREADS=2 LOAD_STATIONS=0 HTTP_ROUNDS=3
#                 LATENCY_RATES="500 1000 2000 4000"
#                 COLD_STATIONS=1000000 COLD_RUNS=3 PG=postgres://postgres@127.0.0.1:5432
#                 MIXED_STEPS="8 32 128 512" MIXED_STORES="sqlite postgres" MIXED_ENGINE=index
#                 NOFILE=65536
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

WHAT=${1:-all}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
LOAD_STATIONS=${LOAD_STATIONS:-0}
HTTP_ROUNDS=${HTTP_ROUNDS:-3}
COLD_STATIONS=${COLD_STATIONS:-1000000}
COLD_RUNS=${COLD_RUNS:-3}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PGHOST=127.0.0.1
PGUSER=postgres
export PGHOST PGUSER

LATENCY_RATES=${LATENCY_RATES:-500 1000 2000 4000}
MIXED_STEPS=${MIXED_STEPS:-8 32 128 512}
MIXED_STORES=${MIXED_STORES:-sqlite postgres}
MIXED_ENGINE=${MIXED_ENGINE:-index}
NOFILE=${NOFILE:-65536}

case "$WHAT" in http | latency | cold | mixed | all) ;; *)
  echo "usage: $0 [http|latency|cold|mixed|all]" >&2
  exit 2
  ;;
esac

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${YIZHAN_BIN:-$TARGET/release/yizhan}
LOADGEN=$TARGET/release/examples/mixedload
WORK=$(mktemp -d /tmp/yizhan-loadtest.XXXXXX)
PIDS=()
DBS=()
SUMMARY=$WORK/summary.txt
: >"$SUMMARY"

say() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

stop_pid() {
  local pid=$1
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
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  for db in "${DBS[@]}"; do dropdb --if-exists "$db" 2>/dev/null || true; done
  if [ -s "$SUMMARY" ]; then
    mkdir -p "$ROOT/target/loadtest"
    cp "$SUMMARY" "$ROOT/target/loadtest/summary-$(date +%Y%m%d-%H%M%S).txt"
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME PORT URL ENGINE [FLAG…]: starts `yizhan serve` in the background; sets
# SERVER_PID.
start_server() {
  local name=$1 port=$2 url=$3 engine=$4
  shift 4
  RUST_LOG=${RUST_LOG:-warn,yizhan::startup=info} "$BIN" serve --listen "127.0.0.1:$port" \
    --database-url "$url" --nearest-engine "$engine" "$@" >>"$WORK/$name.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
}

# wait_healthy PORT SECONDS: polls /healthz every 10 ms.
wait_healthy() {
  local port=$1 limit=$2 t0
  t0=$(now)
  until curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz"; do
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server on $port died:" >&2; tail -20 "$WORK"/*.log >&2; exit 1; }
    if awk -v a="$t0" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
      echo "server on $port not healthy after ${limit}s" >&2
      exit 1
    fi
    sleep 0.01
  done
}

rss_mb() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

machine_load() { cut -d' ' -f1-3 /proc/loadavg; }

build() {
  step "cargo build --release"
  if [ "$WHAT" = mixed ]; then
    # One build for both: the example's dev-dependencies change the features the library is
    # built with, and separate builds would compile it twice.
    if [ -n "${YIZHAN_BIN:-}" ]; then
      cargo build --release --example mixedload 2>&1 | tail -n 2 >&2
    else
      cargo build --release --bin yizhan --example mixedload 2>&1 | tail -n 2 >&2
    fi
  else
    cargo build --release --bin yizhan 2>&1 | tail -n 2 >&2
    command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
  fi
  [ -x "$BIN" ] || { echo "no $BIN" >&2; exit 1; }
  pg_isready -h 127.0.0.1 -q || { echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }
}

# CPU accounting of a measured run, in clock ticks from /proc. server_ticks PID: the server
# process's utime + stime (the command name may hold spaces: fields counted after its closing
# parenthesis). busy_ticks: all CPUs' non-idle time. The load generator's own CPU comes from its
# rusage at exit; the machine's busy time less that is what serving took: the server, PostgreSQL
# (whose backends come and go: a connection busy when wrk hangs up is closed by the pool, so they
# cannot be summed per process) and the kernel's loopback work, plus what else the machine ran.
CLK_TCK=$(getconf CLK_TCK)
server_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# measured NAME SERVER_PID CMD…: runs CMD (a wrk run writing $WORK/wrk-NAME.txt) and prints
# its RESULT line followed by server_us (the server process's CPU µs per request), gen_cores
# (the load generator's cores), busy_cores (the whole machine's) and serving_us (the machine's
# CPU µs per request less the load generator's).
measured() {
  local name=$1 pid=$2
  shift 2
  local s0 b0 t0 s1 b1 t1
  s0=$(server_ticks "$pid") b0=$(busy_ticks) t0=$(now)
  python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime, file=sys.stderr)' "$@" >"$WORK/wrk-$name.txt" 2>"$WORK/wrk-$name.cpu"
  s1=$(server_ticks "$pid") b1=$(busy_ticks) t1=$(now)
  local result
  result=$(grep '^RESULT' "$WORK/wrk-$name.txt")
  awk -v r="$result" -v s=$((s1 - s0)) -v b=$((b1 - b0)) -v g="$(tail -n1 "$WORK/wrk-$name.cpu")" \
    -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" 'BEGIN {
    match(r, /requests=[0-9]+/); n = substr(r, RSTART + 9, RLENGTH - 9); t = t1 - t0
    printf "%s server_us=%.1f gen_cores=%.2f busy_cores=%.2f serving_us=%.1f\n", r, 1e6 * s / hz / n, g / t, b / hz / t, 1e6 * (b / hz - g) / n
  }'
}

# run_wrk NAME PORT PID: warm-up, then the measured run; prints the RESULT line (with the CPU
# accounting of `measured`).
run_wrk() {
  local name=$1 port=$2 pid=$3
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -s scripts/nearest.lua \
    "http://127.0.0.1:$port" >/dev/null
  echo "load average before $name: $(machine_load)" >&2
  measured "$name" "$pid" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -s scripts/nearest.lua "http://127.0.0.1:$port"
}

# run_wrk_static NAME PORT PID PATH: like run_wrk, one fixed path (no Lua request generator;
# the RESULT line comes from the same script's done()).
run_wrk_static() {
  local name=$1 port=$2 pid=$3 path=$4
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" "http://127.0.0.1:$port$path" >/dev/null
  WRK_FIXED_PATH=$path measured "$name" "$pid" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" \
    -d"${DURATION}s" --latency -s scripts/nearest.lua "http://127.0.0.1:$port"
}

# fresh_db NAME: creates an empty PostGIS database (dropped on exit); sets DB_URL.
fresh_db() {
  local db="yizhan_$1_$$"
  step "fresh PostGIS database $db"
  createdb "$db"
  DBS+=("$db")
  DB_URL="$PG/$db"
}

field() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<<"$1"; }

# nearest_sql: the store engine's nearest statement, read from the source (NEAREST_SQL in
# src/store/postgres/mod.rs) so the EXPLAIN below is of the very text the server runs.
nearest_sql() {
  python3 - "$ROOT/src/store/postgres/mod.rs" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
m = re.search(r'pub const NEAREST_SQL: &str = "(.*?)";', src, re.S)
# Rust string continuation: a backslash at the end of a line drops the newline and the indent.
text = re.sub(r'\\\n\s*', '', m.group(1))
print(text)
PY
}

# oha_at NAME RATE URLFILE: open-loop run at RATE req/s over CONNECTIONS connections; prints one
# JSON line {rate, served, p50, p90, p99, p999, max, bad, cut} (milliseconds).
oha_at() {
  local name=$1 rate=$2 urls=$3
  "$OHA" -z "${DURATION}s" -c "$CONNECTIONS" -q "$rate" --latency-correction --no-tui --disable-compression \
    --output-format json --urls-from-file "$urls" >"$WORK/oha-$name.json"
  python3 - "$WORK/oha-$name.json" "$rate" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
errors = r.get("errorDistribution", {})
cut = errors.pop("aborted due to deadline", 0)
bad = sum(n for c, n in codes.items() if not c.startswith("2")) + sum(errors.values())
ms = lambda v: round(v * 1000, 2) if v is not None else None
print(json.dumps({"rate": int(sys.argv[2]), "served": round(s["requestsPerSec"]), "p50": ms(p["p50"]),
    "p90": ms(p["p90"]), "p99": ms(p["p99"]), "p999": ms(p["p99.9"]), "max": ms(s["slowest"]),
    "bad": bad, "cut": cut}))
PY
}

find_oha() {
  OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
  if [ ! -x "$OHA" ]; then
    step "installing oha (cargo install oha --locked)"
    cargo install oha --locked >&2
    OHA=$HOME/.cargo/bin/oha
  fi
}

# http_test: the index server against (a) the PostGIS baseline and (b) the same server serving
# one real nearest reply as a static file (the HTTP stack's ceiling), all on one database, in
# one run; then the index server's p99 at half its saturated rate (oha, open loop).
http_test() {
  local port_a port_b port_c url
  find_oha
  fresh_db load
  url=$DB_URL
  port_a=$(free_port)
  start_server index "$port_a" "$url" index
  local pid_a=$SERVER_PID
  wait_healthy "$port_a" 120
  if [ "$LOAD_STATIONS" -gt 0 ]; then
    step "importing $LOAD_STATIONS synthetic stations"
    python3 scripts/gen_stations.py "$LOAD_STATIONS" >"$WORK/load.csv"
    "$BIN" import "$WORK/load.csv" --database-url "$url" >&2
    stop_pid "$pid_a"
    start_server index "$port_a" "$url" index
    pid_a=$SERVER_PID
    wait_healthy "$port_a" 120
  fi
  local n db=${url##*/}
  n=$(curl -sf "http://127.0.0.1:$port_a/healthz" | sed -n 's/.*"stations":\([0-9]*\).*/\1/p')

  # The baseline, checked: the store analysed the table after its seed/import; say when, and
  # show the plan of the store's own statement (the KNN walk of the partial GiST, no sort).
  local analysed sql plan
  analysed=$(psql -d "$db" -Atc "SELECT coalesce(last_analyze::text, 'never') FROM pg_stat_user_tables WHERE relname = 'stations'")
  sql=$(nearest_sql)
  plan=$(psql -d "$db" -At <<SQL
PREPARE nearest(geometry, bigint) AS $sql;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE nearest(ST_SetSRID(ST_MakePoint(115.89, 28.68), 4326), 5);
SQL
)
  grep -q 'Index Scan using stations_active_geom_gist on stations' <<<"$plan" || {
    echo "the PostGIS baseline does not walk the GiST index:" >&2
    echo "$plan" >&2
    exit 1
  }
  local indexes
  indexes=$(psql -d "$db" -Atc "SELECT string_agg(indexname, ', ' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'stations'")

  port_b=$(free_port)
  start_server store "$port_b" "$url" store
  local pid_b=$SERVER_PID
  wait_healthy "$port_b" 120

  # The ceiling: one real reply of the index server, saved under the web app's /js/ (a path the
  # server publishes) of a third server, fetched by wrk at that path over the same stack.
  mkdir -p "$WORK/web/js"
  curl -sf "http://127.0.0.1:$port_a/api/v1/stations/nearest?lat=28.68&lon=115.89&limit=5" >"$WORK/web/js/nearest-reply.json"
  local reply_bytes
  reply_bytes=$(wc -c <"$WORK/web/js/nearest-reply.json")
  port_c=$(free_port)
  start_server static "$port_c" "$url" index --web-dir "$WORK/web"
  local pid_c=$SERVER_PID
  wait_healthy "$port_c" 120
  cmp -s "$WORK/web/js/nearest-reply.json" <(curl -sf "http://127.0.0.1:$port_c/js/nearest-reply.json") || {
    echo "the static server does not serve the saved reply" >&2
    exit 1
  }
  curl -sf "http://127.0.0.1:$port_b/api/v1/stations/nearest?lat=28.68&lon=115.89&limit=5" >/dev/null
  # Mean reply size over the wrk mixture (the index replies vary a little with the place).
  local mean_bytes
  mean_bytes=$(for p in "28.60 115.75" "28.70 115.95" "27.10 114.90" "25.90 114.95" "29.50 116.00"; do
    set -- $p
    curl -sf "http://127.0.0.1:$port_a/api/v1/stations/nearest?lat=$1&lon=$2&limit=5" | wc -c
  done | awk '{ s += $1 } END { printf "%.0f", s / NR }')

  python3 - "$port_a" >"$WORK/urls.txt" <<'PY'
import random, sys
rng = random.Random(20261127)
for _ in range(20000):
    if rng.random() < 0.7:
        lon, lat = 115.69 + rng.random() * 0.40, 28.53 + rng.random() * 0.30
    else:
        lon, lat = 113.6 + rng.random() * 4.8, 24.5 + rng.random() * 5.5
    print(f"http://127.0.0.1:{sys.argv[1]}/api/v1/stations/nearest?lat={lat:.6f}&lon={lon:.6f}&limit=5")
PY

  # HTTP_ROUNDS rounds, each the three servers back to back and then the index at half the rate
  # it just saturated at: the VM's neighbours come and go within minutes, so a ratio is taken
  # within a round and the verdicts are on the medians over the rounds (every round is printed).
  local rows=() ratios_pg=() ratios_ceiling=() ratios_static=() ratios_cpu=() p99s=() round
  for round in $(seq 1 "$HTTP_ROUNDS"); do
    local a b c la lb lc
    step "round $round/$HTTP_ROUNDS — wrk: index engine (${DURATION}s, $CONNECTIONS connections, $WRK_THREADS wrk threads)"
    la=$(machine_load)
    a=$(run_wrk index "$port_a" "$pid_a")
    step "round $round/$HTTP_ROUNDS — wrk: PostGIS per request"
    lb=$(machine_load)
    b=$(run_wrk store "$port_b" "$pid_b")
    step "round $round/$HTTP_ROUNDS — wrk: the same reply as a static file"
    lc=$(machine_load)
    c=$(run_wrk_static static "$port_c" "$pid_c" /js/nearest-reply.json)

    local rate half lh h
    rate=$(field "$a" req_s)
    half=$(awk -v r="$rate" 'BEGIN { printf "%d", r / 2 }')
    step "round $round/$HTTP_ROUNDS — oha: index engine at $half req/s (half the saturated rate), $CONNECTIONS connections"
    "$OHA" -z "${WARMUP}s" -c "$CONNECTIONS" --no-tui --disable-compression --output-format quiet --urls-from-file "$WORK/urls.txt" >/dev/null
    lh=$(machine_load)
    h=$(oha_at half "$half" "$WORK/urls.txt")
    rows+=("$round|index|$la|$a" "$round|store (PostGIS per request)|$lb|$b" "$round|static file, same bytes (ceiling)|$lc|$c")
    ratios_pg+=("$(awk -v a="$(field "$a" req_s)" -v b="$(field "$b" req_s)" 'BEGIN { printf "%.2f", a / b }')")
    ratios_ceiling+=("$(awk -v c="$(field "$c" req_s)" -v b="$(field "$b" req_s)" 'BEGIN { printf "%.2f", c / b }')")
    ratios_static+=("$(awk -v a="$(field "$a" req_s)" -v c="$(field "$c" req_s)" 'BEGIN { printf "%.1f", 100 * a / c }')")
    ratios_cpu+=("$(awk -v a="$(field "$a" serving_us)" -v b="$(field "$b" serving_us)" 'BEGIN { printf "%.2f", b / a }')")
    p99s+=("$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["p99"])' "$h")")
    rows+=("$round|half|$lh|oha -q $half: $h")
  done
  median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

  say ""
  say "HTTP GET /api/v1/stations/nearest?limit=5, $n stations in PostGIS, $CONNECTIONS connections, ${DURATION}s each, wrk -t$WRK_THREADS on the same 2 cores, $HTTP_ROUNDS rounds"
  say "replies: identity (wrk and oha send no Accept-Encoding); nearest reply $reply_bytes bytes at Nanchang (the static file), mean $mean_bytes bytes over 5 sample points"
  say "PostGIS baseline: pool of 16 connections (PgStore::open_with), stations last analysed: $analysed; indexes: $indexes"
  say "EXPLAIN ANALYZE of NEAREST_SQL (prepared as the server runs it):"
  while IFS= read -r line; do say "    $line"; done <<<"$plan"
  say "CPU per request: the server process's own; and serving = all CPUs' busy time less wrk's own (its rusage): server, PostgreSQL, the kernel's loopback work"
  say "| round | server | load avg before | req/s | p50 ms | p90 ms | p99 ms | max ms | errors (non-2xx, timeouts) | server process CPU µs/req | wrk cores | machine busy cores | serving CPU µs/req |"
  say "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  local row
  for row in "${rows[@]}"; do
    local rnd=${row%%|*} rest=${row#*|}
    local name=${rest%%|*}
    rest=${rest#*|}
    local load=${rest%%|*} r=${rest#*|}
    if [[ $name == half ]]; then
      continue
    fi
    say "| $rnd | $name | $load | $(field "$r" req_s) | $(field "$r" p50_ms) | $(field "$r" p90_ms) | $(field "$r" p99_ms) | $(field "$r" max_ms) | $(field "$r" errors_status), $(field "$r" errors_timeout) | $(field "$r" server_us) | $(field "$r" gen_cores) | $(field "$r" busy_cores) | $(field "$r" serving_us) |"
  done
  say "index at half its saturated rate (open loop, latency-corrected, $CONNECTIONS connections), per round:"
  for row in "${rows[@]}"; do
    local rnd=${row%%|*} rest=${row#*|}
    [[ ${rest%%|*} == half ]] || continue
    rest=${rest#*|}
    say "    round $rnd (load avg before ${rest%%|*}): ${rest#*|}"
  done
  say "index / PostGIS req/s per round: ${ratios_pg[*]}; median $(median "${ratios_pg[@]}")x (target >= 15x)"
  say "static-file ceiling / PostGIS req/s per round (the most any server on this HTTP stack could reach): ${ratios_ceiling[*]}; median $(median "${ratios_ceiling[@]}")x"
  say "index / static-file ceiling per round: ${ratios_static[*]} %; median $(median "${ratios_static[@]}") % (target >= 80 %)"
  say "requests per serving-CPU-second (the machine's CPU less the load generator's), index / PostGIS, per round: ${ratios_cpu[*]}; median $(median "${ratios_cpu[@]}")x"
  say "p99 at half the saturated rate per round: ${p99s[*]} ms; median $(median "${p99s[@]}") ms (target < 2 ms)"
  say "server RSS after the runs: index $(rss_mb "$pid_a") MB, store $(rss_mb "$pid_b") MB, static $(rss_mb "$pid_c") MB"
}

# latency_test: p50/p99 of nearest at fixed rates (open loop), CONNECTIONS connections.
latency_test() {
  local oha port url
  oha=$(command -v oha || echo "$HOME/.cargo/bin/oha")
  [ -x "$oha" ] || { echo "oha is missing: cargo install oha --locked" >&2; exit 1; }
  fresh_db latency
  url=$DB_URL
  port=$(free_port)
  start_server latency "$port" "$url" index
  wait_healthy "$port" 120
  # The same mixture as scripts/nearest.lua: 70 % around Nanchang, 30 % anywhere in Jiangxi.
  python3 - "$port" >"$WORK/urls.txt" <<'PY'
import random, sys
rng = random.Random(20261127)
for _ in range(20000):
    if rng.random() < 0.7:
        lon, lat = 115.69 + rng.random() * 0.40, 28.53 + rng.random() * 0.30
    else:
        lon, lat = 113.6 + rng.random() * 4.8, 24.5 + rng.random() * 5.5
    print(f"http://127.0.0.1:{sys.argv[1]}/api/v1/stations/nearest?lat={lat:.6f}&lon={lon:.6f}&limit=5")
PY
  "$oha" -z "${WARMUP}s" -c "$CONNECTIONS" --no-tui --output-format quiet --urls-from-file "$WORK/urls.txt" >/dev/null
  say ""
  say "HTTP GET /api/v1/stations/nearest?limit=5 at fixed rates (oha, open loop, latency-corrected), index engine, $CONNECTIONS connections, ${DURATION}s each, on the same 2 cores"
  say "| offered req/s | served req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | non-2xx or errors | cut at the end of the run | server CPU % |"
  say "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for rate in $LATENCY_RATES; do
    step "oha at $rate req/s"
    local cpu0 cpu1
    cpu0=$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")
    "$oha" -z "${DURATION}s" -c "$CONNECTIONS" -q "$rate" --latency-correction --no-tui \
      --output-format json --urls-from-file "$WORK/urls.txt" >"$WORK/oha-$rate.json"
    cpu1=$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")
    python3 - "$WORK/oha-$rate.json" "$rate" "$(( cpu1 - cpu0 ))" "$(getconf CLK_TCK)" "$DURATION" <<'PY' | tee -a "$SUMMARY"
import json, sys
r = json.load(open(sys.argv[1]))
rate, ticks, hz, secs = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
errors = r.get("errorDistribution", {})
# oha cuts the requests still in flight when the run's time is up: not the server's doing.
cut = errors.pop("aborted due to deadline", 0)
bad = sum(n for c, n in codes.items() if not c.startswith("2")) + sum(errors.values())
ms = lambda v: f"{v * 1000:.2f}" if v is not None else "-"
print(f"| {rate} | {s['requestsPerSec']:.0f} | {ms(p['p50'])} | {ms(p['p90'])} | {ms(p['p99'])} | {ms(p['p99.9'])} | {ms(s['slowest'])} | {bad} | {cut} | {100 * ticks / hz / secs:.0f} |")
PY
  done
}

# cold_start NAME URL: COLD_RUNS starts, each timed from exec to /healthz answering.
cold_start() {
  local name=$1 url=$2 port t0 t1 times=() pid
  for run in $(seq 1 "$COLD_RUNS"); do
    port=$(free_port)
    t0=$(now)
    start_server "cold-$name" "$port" "$url" index
    pid=$SERVER_PID
    wait_healthy "$port" 300
    t1=$(now)
    local n
    n=$(curl -sf "http://127.0.0.1:$port/healthz" | sed -n 's/.*"stations":\([0-9]*\).*/\1/p')
    times+=("$(elapsed "$t0" "$t1")")
    echo "$name start $run: $(elapsed "$t0" "$t1") s to /healthz, $n stations, RSS $(rss_mb "$pid") MB" >&2
    COLD_RSS=$(rss_mb "$pid")
    COLD_N=$n
    stop_pid "$pid"
  done
  COLD_TIMES=$(printf '%s\n' "${times[@]}" | sort -n | paste -sd' ')
  COLD_MEDIAN=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  grep -h "index built" "$WORK/cold-$name.log" | tail -n 1 >&2 || true
}

cold_test() {
  step "generating $COLD_STATIONS synthetic stations"
  local csv=$WORK/cold.csv t0 t1
  t0=$(now)
  python3 scripts/gen_stations.py "$COLD_STATIONS" >"$csv"
  echo "generated in $(elapsed "$t0" "$(now)") s ($(du -h "$csv" | cut -f1))" >&2

  say ""
  say "cold start with $COLD_STATIONS stations: exec to /healthz answering (index built), $COLD_RUNS runs each"
  say "| store | import (yizhan import, one transaction) | start times s (sorted) | median s | RSS MB |"
  say "|---|---:|---|---:|---:|"

  step "import into a fresh GeoPackage"
  local gpkg="sqlite://$WORK/cold.gpkg"
  t0=$(now)
  timeout "${IMPORT_TIMEOUT:-1800}" "$BIN" import "$csv" --database-url "$gpkg" >&2
  t1=$(now)
  local imp_sqlite
  imp_sqlite=$(elapsed "$t0" "$t1")
  echo "sqlite import: $imp_sqlite s" >&2
  cold_start sqlite "$gpkg"
  say "| SQLite/GeoPackage | $imp_sqlite s | $COLD_TIMES | $COLD_MEDIAN | $COLD_RSS |"

  fresh_db cold
  local url=$DB_URL
  t0=$(now)
  timeout "${IMPORT_TIMEOUT:-1800}" "$BIN" import "$csv" --database-url "$url" >&2
  t1=$(now)
  local imp_pg
  imp_pg=$(elapsed "$t0" "$t1")
  echo "postgres import: $imp_pg s" >&2
  psql -d "${url##*/}" -qc "VACUUM ANALYZE stations" >&2
  cold_start postgres "$url"
  say "| PostgreSQL/PostGIS | $imp_pg s | $COLD_TIMES | $COLD_MEDIAN | $COLD_RSS |"
}

# mixed_store NAME: the mixed-traffic steps on one store (see the header).
mixed_store() {
  local name=$1 url label
  case "$name" in
    sqlite)
      url="sqlite://$WORK/mixed.gpkg"
      label="SQLite/GeoPackage"
      ;;
    postgres)
      fresh_db mixed
      url=$DB_URL
      label="PostgreSQL/PostGIS"
      ;;
    *)
      echo "unknown store $name (MIXED_STORES: sqlite postgres)" >&2
      exit 2
      ;;
  esac
  local port
  port=$(free_port)
  # shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
  start_server "mixed-$name" "$port" "$url" "$MIXED_ENGINE" --report-rate-per-hour 100000 ${SERVE_ARGS:-}
  local pid=$SERVER_PID
  wait_healthy "$port" 180
  if [[ $name == postgres ]]; then
    # The server just seeded the stations and autovacuum is off on these machines: without
    # statistics the planner answers `ORDER BY geom <-> p LIMIT k` (the store engine) with a
    # bitmap scan and a sort of every station instead of the GiST KNN scan. A competent
    # PostGIS user analyzes after a bulk load; check with EXPLAIN (see BENCHMARKS.md).
    psql -d "${url##*/}" -qc "VACUUM ANALYZE stations" >&2
  fi
  local n
  n=$(curl -sf "http://127.0.0.1:$port/healthz" | sed -n 's/.*"stations":\([0-9]*\).*/\1/p')

  # The 100 stations nearest to Nanchang take the reports; the manager has the first 50.
  local near ids codes edit_ids
  near=$(curl -sf --max-time 10 "http://127.0.0.1:$port/api/v1/stations/nearest?lat=28.68&lon=115.89&limit=100&include=code")
  ids=$(python3 -c 'import json, sys; print(",".join(str(i["id"]) for i in json.load(sys.stdin)["items"]))' <<<"$near")
  edit_ids=$(python3 -c 'import json, sys; print(",".join(str(i["id"]) for i in json.load(sys.stdin)["items"][:50]))' <<<"$near")
  codes=$(python3 -c 'import json, sys; print(",".join(i["code"] for i in json.load(sys.stdin)["items"][:50]))' <<<"$near")
  local login="mixed-manager" password token
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
  printf '%s\n' "$password" | timeout 60 "$BIN" user add --login "$login" --role manager \
    --station "$codes" --database-url "$url" >&2
  token=$(LOGIN="$login" PASSWORD="$password" python3 -c '
import json, os, sys, urllib.request
req = urllib.request.Request(sys.argv[1], method="POST", headers={"Content-Type": "application/json"},
    data=json.dumps({"login": os.environ["LOGIN"], "password": os.environ["PASSWORD"]}).encode())
print(json.load(urllib.request.urlopen(req, timeout=30))["token"])' \
    "http://127.0.0.1:$port/api/v1/auth/login")

  say ""
  say "$label ($n stations): mixed traffic, examples/mixedload.rs, closed loop, ${WARMUP}s warm-up + ${DURATION}s per step; binary $BIN; serve flags: --nearest-engine $MIXED_ENGINE --report-rate-per-hour 100000 ${SERVE_ARGS:-}"
  say "| connections | load avg before | answers/s | 2xx/s | p50 ms | p99 ms | p99.9 ms | max ms | 503 shed: reads / reports / edit GET / PATCH | 503 timeout | 412 races | 429 | other 4xx | 5xx | network | edits/s (PATCH 2xx) | PATCH p50 / p99 ms | RSS MB after |"
  say "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"
  local c load flags=()
  if [ "${HONOR_RETRY_AFTER:-0}" = 1 ]; then flags+=(--honor-retry-after); fi
  for c in $MIXED_STEPS; do
    step "$label: $c connections"
    load=$(machine_load)
    timeout $((WARMUP + DURATION + 120)) "$LOADGEN" --base "http://127.0.0.1:$port" \
      --connections "$c" --duration "$DURATION" --warmup "$WARMUP" --token "$token" \
      --station-ids "$ids" --edit-ids "$edit_ids" "${flags[@]}" >"$WORK/mixed-$name-$c.json"
    kill -0 "$pid" 2>/dev/null || { echo "the server died:" >&2; tail -20 "$WORK/mixed-$name.log" >&2; exit 1; }
    python3 - "$WORK/mixed-$name-$c.json" "$load" "$(rss_mb "$pid")" <<'PY' | tee -a "$SUMMARY"
import json, sys
r = json.load(open(sys.argv[1]))
o, l = r["outcomes"], r["latency"]
g = lambda k: o.get(k, 0)
patch = r["by_kind"].get("edit_patch", {})
pl = patch.get("latency", {})
edits = patch.get("outcomes", {}).get("ok", 0) / r["seconds"]
shed = lambda *kinds: sum(r["by_kind"].get(k, {}).get("outcomes", {}).get("shed_503_busy", 0) for k in kinds)
print(f"| {r['connections']} | {sys.argv[2]} | {r['req_s']:.0f} | {r['ok_s']:.0f} | {l['p50_ms']:.2f} | {l['p99_ms']:.2f} | {l['p999_ms']:.2f} | {l['max_ms']:.0f} "
      f"| {shed('nearest', 'bbox')} / {shed('report')} / {shed('edit_get')} / {shed('edit_patch')} | {g('timeout_503')} | {g('race_412')} | {g('rate_limited_429')} | {g('other_4xx')} | {g('other_5xx')} | {g('network')} "
      f"| {edits:.1f} | {pl.get('p50_ms', 0):.1f} / {pl.get('p99_ms', 0):.1f} | {sys.argv[3]} |")
PY
  done
  local errors
  errors=$(grep -ciE 'panic|ERROR' "$WORK/mixed-$name.log" || true)
  say "server log lines matching panic/ERROR: $errors"
  stop_pid "$pid"
}

mixed_test() {
  # Up to 512 client connections plus the server's: raise the descriptor limit (soft up to hard).
  ulimit -n "$NOFILE" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  say "file descriptors: ulimit -n $(ulimit -n)"
  local s
  for s in $MIXED_STORES; do mixed_store "$s"; done
}

build
say "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo); load average at start $(machine_load)"
case "$WHAT" in
  http) http_test ;;
  latency) latency_test ;;
  cold) cold_test ;;
  mixed) mixed_test ;;
  all)
    http_test
    latency_test
    cold_test
    ;;
esac
echo >&2
cat "$SUMMARY"
