#!/usr/bin/env bash
# What "acknowledged means durable" costs on the SQLite store (issue 9), loopback only, bounded.
#
#   scripts/durability_bench.sh
#
# Builds --release, creates one GeoPackage store (seeded with the demo stations) in a temp dir,
# an admin account and a session, then measures ONE writer alone (scripts/editload_writer.py:
# one keep-alive connection, one PATCH at a time with If-Match, no read load) against
# `yizhan serve` on that file with `synchronous=normal` and with the default `synchronous=FULL`,
# alternating ROUNDS times so both settings see the same machine load. The server is restarted
# for every run (it reloads the stations in a second). Prints the load average before every run,
# every run's edits/s and PATCH p50/p99, and per setting the median edits/s and the ratio
# FULL / NORMAL. fsync costs nothing on tmpfs: the filesystem type of the temp dir is printed.
#
# Settings (env): DURATION=10 WARMUP=2 ROUNDS=3 EDIT_IDS=50 TMPDIR=/tmp BUILD_TIMEOUT=1800
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-3}
EDIT_IDS=${EDIT_IDS:-50}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-1800}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release/yizhan
WORK=$(mktemp -d "${TMPDIR:-/tmp}/yizhan-durability.XXXXXX")
PIDS=()

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
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
field() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<<"$1"; }

# serve URL: starts the service on URL, waits until healthy; sets SPID and PORT.
serve() {
  PORT=$(free_port)
  RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "$1" >>"$WORK/serve.log" 2>&1 &
  SPID=$!
  PIDS+=("$SPID")
  for _ in $(seq 1 18000); do
    curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/healthz" && return 0
    kill -0 "$SPID" 2>/dev/null || { tail -20 "$WORK/serve.log" >&2; exit 1; }
    sleep 0.01
  done
  echo "server not healthy after 180 s" >&2
  exit 1
}

printf '=== cargo build --release (%s)\n' "$(date +%T)" >&2
timeout "$BUILD_TIMEOUT" cargo build --release --bin yizhan 2>&1 | tail -n 2 >&2
[ -x "$BIN" ] || { echo "no $BIN after the build" >&2; exit 1; }

FILE=$WORK/durability.gpkg
echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1); store on $(df -T "$WORK" | awk 'NR == 2 { print $2 }') ($WORK)"
echo "one writer alone, ${DURATION}s per run after ${WARMUP}s warm-up, $EDIT_IDS stations, $ROUNDS rounds of normal then full"

serve "sqlite://$FILE" # creates and seeds the store
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
printf '%s\n' "$password" | timeout 60 "$BIN" user add --login durability-admin --role admin \
  --database-url "sqlite://$FILE" >&2
token=$(PASSWORD="$password" python3 -c '
import json, os, sys, urllib.request
req = urllib.request.Request(sys.argv[1], method="POST", headers={"Content-Type": "application/json"},
    data=json.dumps({"login": "durability-admin", "password": os.environ["PASSWORD"]}).encode())
print(json.load(urllib.request.urlopen(req, timeout=30))["token"])' \
  "http://127.0.0.1:$PORT/api/v1/auth/login")
ids=$(curl -sf --max-time 10 \
  "http://127.0.0.1:$PORT/api/v1/stations/nearest?lat=28.68&lon=115.89&limit=$EDIT_IDS" |
  python3 -c 'import json, sys; print(",".join(str(i["id"]) for i in json.load(sys.stdin)["items"]))')
stop_pid "$SPID"

declare -A RATES
for round in $(seq 1 "$ROUNDS"); do
  for mode in normal full; do
    url="sqlite://$FILE"
    [ "$mode" = normal ] && url="$url?synchronous=normal"
    serve "$url"
    ready=$WORK/ready-$round-$mode
    python3 scripts/editload_writer.py --port "$PORT" --token "$token" --ids "$ids" \
      --ready "$ready" --max-seconds $((WARMUP + DURATION + 60)) >"$WORK/writer.txt" 2>&1 &
    wpid=$!
    PIDS+=("$wpid")
    for _ in $(seq 1 3000); do
      [ -e "$ready" ] && break
      kill -0 "$wpid" 2>/dev/null || { cat "$WORK/writer.txt" >&2; exit 1; }
      sleep 0.01
    done
    sleep "$WARMUP"
    load=$(uptime | sed 's/.*load average: //')
    kill -USR1 "$wpid"
    sleep "$DURATION"
    kill -TERM "$wpid"
    wait "$wpid" || { cat "$WORK/writer.txt" >&2; exit 1; }
    w=$(grep '^WRITER ' "$WORK/writer.txt")
    stop_pid "$SPID"
    errors=$(($(field "$w" window_412) + $(field "$w" window_4xx) + $(field "$w" window_5xx) + $(field "$w" window_neterr)))
    printf 'round %s %-6s load average %s: %s edits/s, PATCH p50 %s ms p99 %s ms, %s errors, %s version mismatches\n' \
      "$round" "$mode" "$load" "$(field "$w" window_edits_s)" "$(field "$w" window_patch_p50_ms)" \
      "$(field "$w" window_patch_p99_ms)" "$errors" "$(field "$w" version_mismatches)"
    RATES[$mode]="${RATES[$mode]:-} $(field "$w" window_edits_s)"
  done
done

median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
normal=$(median "${RATES[normal]}")
full=$(median "${RATES[full]}")
echo "median edits/s: synchronous=normal $normal, synchronous=FULL $full; FULL / NORMAL = $(awk -v a="$full" -v b="$normal" 'BEGIN { printf "%.2f", a / b }')"
