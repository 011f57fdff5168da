#!/usr/bin/env bash
# Station edits under rider read load (issue 3), loopback only, bounded in time.
#
#   scripts/editload.sh [sqlite|postgres|all]      (default: all)
#
# For each store (a fresh GeoPackage file in a temp dir, and a fresh PostGIS database): builds
# --release once, starts one `yizhan serve` (it seeds the demo stations), creates an admin account
# with `yizhan user add` and logs in, takes the EDIT_IDS stations nearest to Nanchang
# (28.68, 115.89), then drives GET /api/v1/stations/nearest with wrk at random points
# (scripts/nearest.lua, the same as scripts/loadtest.sh):
#   1. baseline: wrk alone;
#   2. for reference, the writer below alone (no read load) for the same time;
#   3. the same wrk run while ONE writer (scripts/editload_writer.py, one keep-alive connection,
#      one request at a time) PATCHes those stations as fast as it can with If-Match, keeping the
#      ETags it is given; it counts 200s, 412s, other 4xx, 5xx and network errors, and at the end
#      checks that the store holds the version it last saw for every station;
#   4. wrk alone again, writer stopped (the edited stations stay changed in the index).
# Each wrk run also reports the server's CPU time per request (/proc/PID/stat), steadier than
# req/s when other work shares the cores; "with edits" includes the CPU of the edits themselves.
# Prints one table: store | edits/s alone | edits/s under reads | nearest req/s without/with edits | p99 without/with | ratios.
# The load average is printed before every measured run (others may be building on this machine).
#
# Everything it starts is stopped, its temp dir removed and its PostGIS database dropped on exit.
# Settings (env): DURATION=15 WARMUP=3 CONNECTIONS=64 WRK_THREADS=2 EDIT_IDS=50
#                 PG=postgres://postgres@127.0.0.1:5432 BUILD_TIMEOUT=1800
#                 YIZHAN_BIN=path (another build, not rebuilt: before/after figures)
#                 SERVE_ARGS="--max-in-flight-reads 32 …" (flags added to `yizhan serve`)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

WHAT=${1:-all}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
EDIT_IDS=${EDIT_IDS:-50}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-1800}
PGHOST=127.0.0.1
PGUSER=postgres
export PGHOST PGUSER

case "$WHAT" in
  sqlite) STORES=(sqlite) ;;
  postgres) STORES=(postgres) ;;
  all) STORES=(sqlite postgres) ;;
  *)
    echo "usage: $0 [sqlite|postgres|all]" >&2
    exit 2
    ;;
esac

BIN=${YIZHAN_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/yizhan}
WORK=$(mktemp -d /tmp/yizhan-editload.XXXXXX)
PIDS=()
DBS=()
SUMMARY=$WORK/summary.txt
: >"$SUMMARY"

say() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)" >&2; }
now() { date +%s.%N; }
machine_load() { cut -d' ' -f1-3 /proc/loadavg; }

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
    mkdir -p "$ROOT/target/editload"
    cp "$SUMMARY" "$ROOT/target/editload/summary-$(date +%Y%m%d-%H%M%S).txt"
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_healthy PID PORT SECONDS: polls /healthz every 10 ms.
wait_healthy() {
  local pid=$1 port=$2 limit=$3 t0
  t0=$(now)
  until curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz"; do
    kill -0 "$pid" 2>/dev/null || { echo "server on $port died:" >&2; tail -20 "$WORK"/*.log >&2; exit 1; }
    if awk -v a="$t0" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
      echo "server on $port not healthy after ${limit}s" >&2
      exit 1
    fi
    sleep 0.01
  done
}

build() {
  step "cargo build --release"
  [ -n "${YIZHAN_BIN:-}" ] ||
    timeout "$BUILD_TIMEOUT" cargo build --release --bin yizhan 2>&1 | tail -n 2 >&2
  [ -x "$BIN" ] || { echo "no $BIN after the build" >&2; exit 1; }
  command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
  if [[ " ${STORES[*]} " == *" postgres "* ]]; then
    pg_isready -h 127.0.0.1 -q || { echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }
  fi
}

# wrk_run LABEL PORT SERVER_PID: warm-up, load average, measured run (calls `on_measure_start`
# just before the measured run, if defined); prints the RESULT line with the server's CPU time
# (user + system) per request appended: less sensitive than req/s to what else runs here.
wrk_run() {
  local label=$1 port=$2 spid=$3 c0 c1 r
  timeout $((WARMUP + 30)) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" \
    -s scripts/nearest.lua "http://127.0.0.1:$port" >/dev/null
  printf '  load average before %s: %s\n' "$label" "$(machine_load)" | tee -a "$SUMMARY" >&2
  if declare -F on_measure_start >/dev/null; then on_measure_start; fi
  c0=$(cpu_ticks "$spid")
  timeout $((DURATION + 30)) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -s scripts/nearest.lua "http://127.0.0.1:$port" >"$WORK/wrk-$label.txt"
  c1=$(cpu_ticks "$spid")
  r=$(grep '^RESULT' "$WORK/wrk-$label.txt")
  awk -v r="$r" -v a="$c0" -v b="$c1" -v t="$(getconf CLK_TCK)" 'BEGIN {
    n = r; sub(/.*requests=/, "", n); sub(/ .*/, "", n)
    printf "%s server_cpu_us_per_req=%.1f\n", r, (n > 0 ? (b - a) / t / n * 1e6 : 0) }'
}

# cpu_ticks PID: user + system CPU time of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

field() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# start_writer LABEL PORT TOKEN IDS: starts scripts/editload_writer.py and waits until it has its
# ETags and is PATCHing; sets WPID.
start_writer() {
  local label=$1 port=$2 token=$3 ids=$4 ready=$WORK/writer-$1.ready
  python3 scripts/editload_writer.py --port "$port" --token "$token" --ids "$ids" \
    --ready "$ready" --max-seconds $((WARMUP + DURATION + 60)) >"$WORK/writer-$label.txt" 2>&1 &
  WPID=$!
  PIDS+=("$WPID")
  for _ in $(seq 1 3000); do
    [ -e "$ready" ] && return 0
    kill -0 "$WPID" 2>/dev/null || { cat "$WORK/writer-$label.txt" >&2; exit 1; }
    sleep 0.01
  done
  echo "writer not ready after 30 s" >&2
  exit 1
}

# stop_writer LABEL: stops the writer started last, sets WLINE to its WRITER line (its last error,
# if any, goes to stderr and the summary). Not in $(...): the writer is a child of this shell.
stop_writer() {
  local label=$1
  kill -TERM "$WPID"
  wait "$WPID" || { cat "$WORK/writer-$label.txt" >&2; exit 1; }
  grep -h '^WRITER_LAST_ERROR' "$WORK/writer-$label.txt" | sed "s/^/  $label: /" | tee -a "$SUMMARY" >&2 || true
  WLINE=$(grep '^WRITER ' "$WORK/writer-$label.txt")
}

ROWS=()

# one_store NAME: the whole measurement on one store; appends a row to ROWS.
one_store() {
  local name=$1 url label
  case "$name" in
    sqlite)
      url="sqlite://$WORK/editload.gpkg"
      label="SQLite/GeoPackage"
      ;;
    postgres)
      local db="yizhan_editload_$$"
      step "fresh PostGIS database $db"
      createdb "$db"
      DBS+=("$db")
      url="$PG/$db"
      label="PostgreSQL/PostGIS"
      ;;
  esac

  step "$label: start, seed, admin account"
  local port pid
  port=$(free_port)
  # shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
  RUST_LOG=${RUST_LOG:-warn,yizhan::startup=info} "$BIN" serve --listen "127.0.0.1:$port" \
    --database-url "$url" ${SERVE_ARGS:-} >>"$WORK/serve-$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_healthy "$pid" "$port" 180
  local n
  n=$(curl -sf "http://127.0.0.1:$port/healthz" | sed -n 's/.*"stations":\([0-9]*\).*/\1/p')

  local login="editload-admin" password
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
  printf '%s\n' "$password" | timeout 60 "$BIN" user add --login "$login" --role admin \
    --database-url "$url" >&2
  local token
  token=$(LOGIN="$login" PASSWORD="$password" python3 -c '
import json, os, sys, urllib.request
req = urllib.request.Request(sys.argv[1], method="POST", headers={"Content-Type": "application/json"},
    data=json.dumps({"login": os.environ["LOGIN"], "password": os.environ["PASSWORD"]}).encode())
print(json.load(urllib.request.urlopen(req, timeout=30))["token"])' \
    "http://127.0.0.1:$port/api/v1/auth/login")
  local ids
  ids=$(curl -sf --max-time 10 \
    "http://127.0.0.1:$port/api/v1/stations/nearest?lat=28.68&lon=115.89&limit=$EDIT_IDS" |
    python3 -c 'import json, sys; print(",".join(str(i["id"]) for i in json.load(sys.stdin)["items"]))')
  echo "$n stations; editing $(tr ',' '\n' <<<"$ids" | wc -l) ids near Nanchang: $ids" >&2

  say ""
  say "$label ($n stations), port $port:"
  step "$label: nearest alone (${DURATION}s, $CONNECTIONS connections)"
  unset -f on_measure_start
  local base
  base=$(wrk_run "$name-alone" "$port" "$pid")

  step "$label: one writer alone, no read load (${DURATION}s)"
  start_writer "$name-alone" "$port" "$token" "$ids"
  sleep "$WARMUP"
  printf '  load average before %s: %s\n' "$name-writer-alone" "$(machine_load)" | tee -a "$SUMMARY" >&2
  kill -USR1 "$WPID"
  sleep "$DURATION"
  stop_writer "$name-alone"
  local walone=$WLINE

  step "$label: nearest while one writer edits"
  start_writer "$name-edits" "$port" "$token" "$ids"
  on_measure_start() { kill -USR1 "$WPID"; }
  local edit
  edit=$(wrk_run "$name-edits" "$port" "$pid")
  unset -f on_measure_start
  stop_writer "$name-edits"
  local w=$WLINE

  step "$label: nearest again after the edits, writer stopped"
  local after
  after=$(wrk_run "$name-after" "$port" "$pid")

  say "  nearest alone:      $base"
  say "  nearest with edits: $edit"
  say "  nearest after edits (writer stopped): $after"
  say "  writer alone:       $walone"
  say "  writer under reads: $w"
  local panics
  panics=$(grep -ciE 'panic|ERROR' "$WORK/serve-$name.log" || true)
  say "  server log lines matching panic/ERROR: $panics"
  grep -iE 'panic|ERROR' "$WORK/serve-$name.log" | head -5 | sed 's/^/    /' | tee -a "$SUMMARY" >&2 || true
  say "  server RSS after the runs: $(awk '/VmRSS/ { printf "%.0f MB", $2 / 1024 }' "/proc/$pid/status")"

  local errs_base errs_edit
  errs_base=$(($(field "$base" errors_status) + $(field "$base" errors_timeout) + $(field "$base" errors_connect) + $(field "$base" errors_read)))
  errs_edit=$(($(field "$edit" errors_status) + $(field "$edit" errors_timeout) + $(field "$edit" errors_connect) + $(field "$edit" errors_read)))
  ROWS+=("| $label | $(field "$walone" window_edits_s) | $(field "$w" window_edits_s) ($(field "$w" window_ok) ok, $(field "$w" window_412) × 412, $(($(field "$w" window_4xx) + $(field "$w" window_5xx) + $(field "$w" window_neterr))) errors; PATCH p50/p99 $(field "$w" window_patch_p50_ms)/$(field "$w" window_patch_p99_ms) ms) | $(field "$base" req_s) / $(field "$edit" req_s) | $(field "$after" req_s) | $(field "$base" p50_ms) / $(field "$edit" p50_ms) | $(field "$base" p99_ms) / $(field "$edit" p99_ms) | $(ratio "$(field "$edit" req_s)" "$(field "$base" req_s)") | $(ratio "$(field "$edit" p99_ms)" "$(field "$base" p99_ms)") | $(field "$base" server_cpu_us_per_req) / $(field "$edit" server_cpu_us_per_req) / $(field "$after" server_cpu_us_per_req) | $errs_base / $errs_edit |")

  stop_pid "$pid"
}

build
say "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo); load average at start $(machine_load)"
say "wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s --latency (after a ${WARMUP}s warm-up) on GET /api/v1/stations/nearest?limit=5 at random points (scripts/nearest.lua); one writer PATCHing $EDIT_IDS stations near Nanchang; wrk, the writer and the server share the same cores"
say "binary: $BIN; extra serve flags: ${SERVE_ARGS:-none}"
for s in "${STORES[@]}"; do one_store "$s"; done

say ""
say "| store | edits/s, writer alone | edits/s under reads (one writer) | nearest req/s without / with edits | nearest req/s after edits, writer stopped | p50 ms without / with | p99 ms without / with | req/s ratio with/without | p99 ratio with/without | server CPU µs per nearest: alone / with edits / after edits | nearest errors without / with |"
say "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for r in "${ROWS[@]}"; do say "$r"; done
echo >&2
echo "summary also in target/editload/" >&2
