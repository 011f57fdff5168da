#!/usr/bin/env bash
# Lighthouse (mobile preset) on the web app of a running server: prints the four category
# scores (performance, accessibility, best practices, SEO) and keeps the full reports.
#
# Usage:  scripts/lighthouse.sh [URL]        (default http://127.0.0.1:8080/; or YIZHAN_URL)
#   LIGHTHOUSE_VERSION=12 (npm version spec), CHROME_PATH=/usr/bin/chromium,
#   LIGHTHOUSE_CACHE=~/.cache/yizhan-lighthouse (where npm installs it, outside the repo),
#   OUT=/tmp/yizhan-lighthouse (reports: report.json, report.html)
# Lighthouse is installed with npm into the cache directory on first use: it is a tool for
# measuring, not a dependency of the app (web/package.json does not list it).
# The page asks for geolocation on start; Lighthouse's Chromium has no position, so the page
# shows its no-location state (the same first paint a rider who denies the prompt sees).
set -euo pipefail
URL="${1:-${YIZHAN_URL:-http://127.0.0.1:8080/}}"
VERSION="${LIGHTHOUSE_VERSION:-12}"
CACHE="${LIGHTHOUSE_CACHE:-$HOME/.cache/yizhan-lighthouse}"
OUT="${OUT:-/tmp/yizhan-lighthouse}"
export CHROME_PATH="${CHROME_PATH:-/usr/bin/chromium}"
mkdir -p "$CACHE" "$OUT"
if [ ! -x "$CACHE/node_modules/.bin/lighthouse" ]; then
  echo "installing lighthouse@$VERSION into $CACHE" >&2
  npm install --prefix "$CACHE" --no-save --no-audit --no-fund "lighthouse@$VERSION" >&2
fi
curl -fsS -o /dev/null "$URL" || { echo "no server answering at $URL" >&2; exit 1; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$CACHE/node_modules/.bin/lighthouse" "$URL" \
  --form-factor=mobile --screenEmulation.mobile --throttling-method=simulate \
  --chrome-flags="--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage" \
  --only-categories=performance,accessibility,best-practices,seo \
  --output=json --output=html --output-path="$OUT/report" --quiet
node -e '
  const r = require(process.argv[1]);
  for (const [id, c] of Object.entries(r.categories)) console.log(`${c.title.padEnd(16)} ${Math.round(c.score * 100)}`);
  const a = r.audits;
  const pick = ["first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "cumulative-layout-shift", "speed-index", "total-byte-weight"];
  for (const id of pick) if (a[id]) console.log(`  ${a[id].title}: ${a[id].displayValue ?? ""}`);
  const failed = Object.values(a).filter((x) => x.score !== null && x.score < 0.9 && x.scoreDisplayMode !== "informative" && x.scoreDisplayMode !== "manual" && x.scoreDisplayMode !== "notApplicable");
  if (failed.length) console.log("below 0.9: " + failed.map((x) => x.id).join(", "));
' "$OUT/report.report.json"
echo "reports: $OUT/report.report.html"
