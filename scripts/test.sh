#!/usr/bin/env bash
# Quick start 2: installs what is missing, builds, and runs the whole test suite twice —
# on the release build and on the ASan+UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --sanitize
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== tests on the release build"
ctest --test-dir build --output-on-failure -j2
echo "== tests on the sanitizer build (ASan + UBSan + LeakSanitizer)"
ctest --test-dir build-asan --output-on-failure -j2
