#!/usr/bin/env bash
# Quick start 1: installs what is missing, builds, starts the bundled leaky service
# (fixtures/sample_service.py) under Debian's python3, dumps it with gdb's gcore while it
# runs, and analyses the dump with py-heap: what takes the space, where the allocators stand,
# and why the leaking objects are alive.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
python=${PYTHON:-/usr/bin/python3}
out=out
mkdir -p "$out"
core="$out/sample.core"
rm -f "$core"

"$python" fixtures/sample_service.py --rate 3000 >"$out/sample_service.log" 2>&1 &
service=$!
trap 'kill $service 2>/dev/null || true' EXIT
echo "sample: started fixtures/sample_service.py (pid $service) under $python; letting it leak for 5 s"
sleep 5
gdb -nx -batch -p "$service" -ex "gcore $core" >/dev/null 2>&1
kill "$service"
echo "sample: dumped it to $core ($(du -h "$core" | cut -f1))"
for cmd in "info" "types --limit 12" "fragmentation" "retained --limit 8" "path --type __main__.Session"; do
  echo
  echo "\$ build/py-heap $cmd $core"
  # shellcheck disable=SC2086
  build/py-heap $cmd "$core"
done
# Last, the same answers as one HTML file to open in any browser (offline, self-contained).
report="$out/sample-report.html"
echo
echo "\$ build/py-heap report $core -o $report"
build/py-heap report "$core" -o "$report"
echo "sample: the report is $(realpath "$report")"
