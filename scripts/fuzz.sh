#!/bin/bash
# Builds and runs py-heap's libFuzzer targets (tests/fuzz) for a given time.
#
#   scripts/fuzz.sh TARGET|all SECONDS [PARALLEL]
#
# TARGET is one of: core dwarf symbols pymalloc glibc classify referents snapshot. With
# `all`, every target runs for SECONDS, PARALLEL at a time (default 2: the machine has two
# cores and others run tests). Each target starts from a working copy of its seed corpus
# (fixtures/fuzz/<target>/ plus fixtures/fuzz/regressions/<target>/) in
# build-fuzz/corpus/<target>/, which grows from run to run; crashes, hangs (-timeout, 25 s
# per input) and sanitizer reports are kept in build-fuzz/artifacts/<target>/. libFuzzer runs
# in fork mode with crashes, timeouts and OOMs ignored, so that one finding does not end the
# run: every finding of a run is in the artifacts directory.
#
# At the end it prints, per target, libFuzzer's own numbers: executions per second, edge
# coverage (cov:), features (ft:), corpus size and the findings; the full logs are in
# build-fuzz/logs/<target>.log.
#
# Installs what it needs first (scripts/setup.sh --fuzz --no-build: clang-14,
# libclang-rt-14-dev and py-heap's build dependencies, from Debian, only the missing ones).
#
# Environment: CC (default clang-14, else clang), FUZZ_BUILD (default build-fuzz),
# FUZZ_ARGS (extra libFuzzer arguments), FUZZ_FORK=0 to run without fork mode (stops at the
# first finding, prints the classic "#N DONE cov: ft: exec/s:" line).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGETS="core dwarf symbols pymalloc glibc classify referents snapshot"
usage() {
    echo "usage: $0 TARGET|all SECONDS [PARALLEL]" >&2
    echo "targets: $TARGETS" >&2
    exit 2
}
[ $# -ge 2 ] || usage
WHAT=$1 SECONDS_EACH=$2 PARALLEL=${3:-2}
case "$SECONDS_EACH" in '' | *[!0-9]*) usage ;; esac
if [ "$WHAT" = all ]; then
    LIST=$TARGETS
else
    case " $TARGETS " in *" $WHAT "*) LIST=$WHAT ;; *) usage ;; esac
fi
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
# clang-14 and its libFuzzer/sanitizer runtimes (libclang-rt-14-dev), with cmake and the
# libraries py-heap links: installed from Debian when missing.
"$ROOT/scripts/setup.sh" --fuzz --no-build || exit 1
CC=${CC:-$(command -v clang-14 || command -v clang)}
[ -n "$CC" ] || { echo "fuzz.sh: clang not found" >&2; exit 1; }

# ---- build ---------------------------------------------------------------------------
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    CC=$CC cmake -S "$ROOT" -B "$BUILD" -DPYHEAP_FUZZ=ON -DPYHEAP_BUILD_GDB=OFF \
        -DPYHEAP_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
fi
build_targets=()
for t in $LIST; do build_targets+=(--target "fuzz_$t"); done
cmake --build "$BUILD" -j2 "${build_targets[@]}" >"$BUILD/build.log" 2>&1 || {
    tail -30 "$BUILD/build.log" >&2
    exit 1
}

# ---- run -----------------------------------------------------------------------------
mkdir -p "$BUILD/logs"
run_one() {
    local t=$1 corpus=$BUILD/corpus/$1 art=$BUILD/artifacts/$1/ log=$BUILD/logs/$1.log
    mkdir -p "$corpus" "$art"
    cp -n "$ROOT/fixtures/fuzz/$t"/* "$corpus/" 2>/dev/null
    [ -d "$ROOT/fixtures/fuzz/regressions/$t" ] && cp -n "$ROOT/fixtures/fuzz/regressions/$t"/* "$corpus/" 2>/dev/null
    local fork=()
    if [ "${FUZZ_FORK:-1}" != 0 ]; then
        fork=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    fi
    # shellcheck disable=SC2086
    (cd "$art" && "$BUILD/tests/fuzz/fuzz_$t" "$corpus" -max_total_time="$SECONDS_EACH" \
        -timeout=25 -rss_limit_mb=2560 -max_len=262144 -use_value_profile=1 \
        -print_final_stats=1 -artifact_prefix="$art" "${fork[@]}" ${FUZZ_ARGS:-}) >"$log" 2>&1
}

summary() {
    local t=$1 log=$BUILD/logs/$1.log art=$BUILD/artifacts/$1
    # The last status line: "#N DONE cov: C ft: F corp: ... exec/s: E" (classic mode) or
    # "#N: cov: C ft: F corp: K exec/s E oom/timeout/crash: a/b/c time: Ts" (fork mode).
    local line
    line=$(grep -E '^#[0-9]+:?[[:space:]]+(DONE|cov:|INITED|NEW|REDUCE|pulse)' "$log" | tail -1)
    local cov ft execs corp time
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")
    execs=$(sed -nE 's/.*exec\/s:? ([0-9]+).*/\1/p' <<<"$line")
    corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$line")
    local runs
    runs=$(sed -nE 's/^stat::number_of_executed_units: ([0-9]+)/\1/p' "$log" | tail -1)
    [ -z "$runs" ] && runs=$(sed -nE 's/^#([0-9]+):? .*/\1/p' <<<"$line")
    local findings
    findings=$(find "$art" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
    printf '%-10s %6ss  runs %-10s exec/s %-6s cov %-6s ft %-6s corpus %-5s findings %s\n' \
        "$t" "$SECONDS_EACH" "${runs:-?}" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$findings"
    if [ "$findings" -gt 0 ]; then
        find "$art" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) |
            sed 's/^/           /'
        grep -hE '^SUMMARY: ' "$log" "$art"/fuzz-*.log 2>/dev/null | sort | uniq -c | sed 's/^/           /'
    fi
}

pids=()
for t in $LIST; do
    while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do wait -n; done
    echo "fuzzing $t for ${SECONDS_EACH}s (log: $BUILD/logs/$t.log)"
    run_one "$t" &
    pids+=($!)
done
wait
echo
for t in $LIST; do summary "$t"; done
