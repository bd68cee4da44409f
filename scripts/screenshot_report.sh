#!/usr/bin/env bash
# Render a run's report.html to a PNG with headless Chromium, to check that a person can
# read it (and to put the picture in the README).
#
# usage: scripts/screenshot_report.sh RUN_DIR [OUT.png] [WIDTH,HEIGHT]
#   RUN_DIR       a run folder; its report.html is written first when missing
#                 (xpnet report RUN_DIR)
#   OUT.png       default RUN_DIR/report.png
#   WIDTH,HEIGHT  window size in pixels, default 1200,3000 (the page below is cut off)
#
# Needs Chromium (Debian: apt-get install chromium). Runs with a fresh temporary profile
# and every network feature off, so nothing is fetched or remembered.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 3 ]]; then
    sed -n '5,11p' "$0" >&2
    exit 2
fi
run_dir=$1
out=${2:-$run_dir/report.png}
size=${3:-1200,3000}

browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z $browser ]]; then
    echo "screenshot_report: no chromium found (apt-get install chromium)" >&2
    exit 1
fi
if [[ ! -f $run_dir/report.html ]]; then
    python -m xpnet report "$run_dir"
fi

page=$(cd "$(dirname "$run_dir/report.html")" && pwd)/report.html
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" --screenshot="$out_abs" \
    --window-size="$size" "file://$page" >/dev/null 2>&1

if [[ ! -s $out_abs ]]; then
    echo "screenshot_report: chromium wrote no screenshot" >&2
    exit 1
fi
echo "$out_abs"
