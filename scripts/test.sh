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
# Under the sanitizers every test runs ~3-8 times slower: on every interpreter the pass alone
# would take most of CI's hour (test_graph passed its 20-minute limit). The sanitizers look
# for memory errors in py-heap, whose code paths the interpreters share, so this pass runs
# four that span them: the oldest (3.8), the production case (Debian's stripped 3.11, which
# tests needing one interpreter pick first), 3.12, and a vendor-patched 3.13 on glibc 2.43.
PYHEAP_INTERPRETERS=${PYHEAP_ASAN_INTERPRETERS:-3.8,3.11-debian,3.12,3.13-sid} \
  ctest --test-dir build-asan --output-on-failure -j2
step "done"
