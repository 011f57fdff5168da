#!/usr/bin/env bash
# The browser tests (tests/web_e2e.rs) at chosen hours in Beijing.
#
#   scripts/browser-hours.sh ["YYYY-MM-DD HH:MM:SS" …]      (UTC; default: the three below)
#
# The demo stations keep real opening hours, so what the rider's page shows depends on the hour
# in Beijing, and a test that passes at noon can fail at 07:00 (CI once did). This runs the
# browser suite with the server's clock (the test process) set by libfaketime; node and
# Chromium keep the real clock (the test removes LD_PRELOAD and FAKETIME from node's
# environment). The clock starts at the given instant and runs on from there.
#
# The default instants are the ones that broke the tests before:
#   2026-12-02 22:59:20 UTC = 06:59:20 Thursday in Beijing: hundreds of stations open during the run;
#   2026-12-03 09:59:20 UTC = 17:59:20 Thursday: stations close during the run;
#   2026-12-05 18:00:00 UTC = 02:00 Sunday: only the 24-hour stations are open, kilometres apart.
# Store: YIZHAN_TEST_STORE as for `cargo test` (default sqlite).
set -euo pipefail
cd "$(dirname "$0")/.."

# Missing web/node_modules or Chromium must fail here, not skip (the test skips unless CI is set).
export CI=${CI:-true}
command -v faketime >/dev/null || { echo "faketime is missing: apt-get install -y faketime" >&2; exit 1; }

if [ "$#" -eq 0 ]; then
  set -- "2026-12-02 22:59:20" "2026-12-03 09:59:20" "2026-12-05 18:00:00"
fi

bin=$(cargo test --test web_e2e --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "web_e2e" and m.get("executable"):
        print(m["executable"])
')
[ -x "$bin" ] || { echo "no web_e2e test binary (cargo test --test web_e2e --no-run)" >&2; exit 1; }

failed=()
for at in "$@"; do
  beijing=$(TZ=Asia/Shanghai date -d "$at UTC" '+%F %T %a')
  printf '\n--- browser tests with the server at %s UTC (%s in Beijing)\n' "$at" "$beijing"
  if ! faketime -m -f "@$at" "$bin" browser_tests --test-threads=1; then
    failed+=("$at UTC ($beijing in Beijing)")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  printf '\nbrowser tests failed with the server at:\n' >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
printf '\nbrowser tests passed at all %d instants\n' "$#"
