#!/usr/bin/env bash
# Screenshot a Snakemake HTML report with headless Chromium, to check what a reader sees.
# Usage: tools/screenshot_report.sh [REPORT.html] [OUT.png] [WIDTHxHEIGHT]
# Needs Debian's chromium (apt-get install chromium). The report is a single-page app, so
# Chromium gets a virtual-time budget to run its JavaScript before the shot.
set -euo pipefail
report="$(realpath "${1:-results/report.html}")"
out="${2:-results/report.png}"
size="${3:-1400x1000}"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "$browser" ]]; then
    echo "screenshot_report: chromium not found; install it with: apt-get install chromium" >&2
    exit 1
fi
[[ -f "$report" ]] || { echo "screenshot_report: no report at $report (snakemake --report $report)" >&2; exit 1; }
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=15000 \
    --window-size="${size/x/,}" --screenshot="$(realpath -m "$out")" "file://$report" 2>/dev/null
echo "screenshot_report: $out"
