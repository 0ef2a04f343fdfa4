#!/usr/bin/env bash
# Quick start 2: installs what is missing, builds, and runs the whole test suite twice —
# on the release build and on the ASan+UBSan build. Before that, CI builds what users build
# too, warnings as errors: gcc Release and clang Release (the suite runs on gcc
# RelWithDebInfo, build/). Times of each step are printed (CI must stay within the hour).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { echo "== $1 (at $((SECONDS - start)) s)"; }
scripts/setup.sh --sanitize --browser --chroots
jobs=$(nproc)
for cfg in "gcc Release:gcc" "clang Release:clang"; do
  name=${cfg%%:*} cc=${cfg##*:}
  step "build: $name"
  dir=build-ci-$cc-release
  CC=$cc cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DPYHEAP_WERROR=ON \
    -DPYHEAP_BUILD_GDB=OFF -DPYHEAP_BUILD_TESTS=ON >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
done
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
step "tests on the release build (gcc RelWithDebInfo)"
ctest --test-dir build --output-on-failure -j2
step "tests on the sanitizer build (ASan + UBSan + LeakSanitizer)"
ctest --test-dir build-asan --output-on-failure -j2
step "done"
