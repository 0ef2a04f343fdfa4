#!/usr/bin/env bash
# Installs what py-heap needs on Debian 12 (when missing) and builds it into build/.
#   scripts/setup.sh            release build in build/
#   scripts/setup.sh --sanitize also an ASan+UBSan build in build-asan/
#   scripts/setup.sh --bench    also what tests/bench/ needs: hyperfine, time, valgrind (and gdb,
#                               which the default list has: gcore)
#   scripts/setup.sh --fuzz     also what scripts/fuzz.sh needs: clang-14, libclang-rt-14-dev
#   scripts/setup.sh --browser  also chromium, in which tests/integration/test_report.py renders
#                               the HTML reports (large: the sample and the report need none)
#   scripts/setup.sh --chroots  also Debian chroots with the Pythons the host lacks (sid:
#                               python3.13, 3.14, 3.15; trixie: python3.13 — Debian 13's), made once
#                               with debootstrap and cached in /var/cache/py-heap/chroot/{sid,trixie}
#                               ($PYHEAP_CHROOT_CACHE); the integration tests run workloads in them
#   scripts/setup.sh --no-build installs only (with the options above: their packages too)
# Options combine. Packages come from Debian (apt-get, through sudo when not root), and only
# the missing ones: apt-get is not run at all when everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Building the CLI and library needs only libelf, libdwarf and jansson (and, optionally, the
# decompression libraries); the rest is for the tests, the gdb module and CI's clang build.
packages=(gcc g++ make cmake pkg-config gdb libelf-dev libdwarf-dev libcmocka-dev libjansson-dev
          libzstd-dev zlib1g-dev liblzma-dev liblz4-dev zstd xz-utils lz4 gzip
          python3 python3-dev python3-jsonschema python3-prometheus-client elfutils strace gdbserver
          clang man-db groff-base
          # the real programs of tests/integration/test_real_programs.py, for /usr/bin/python3
          python3-flask python3-sqlalchemy python3-lxml python3-numpy python3-pandas python3-mypy
          python3-sphinx)
sanitize=0 build=1 chroots=0
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    --bench) packages+=(hyperfine time valgrind) ;;  # gdb is above
    --fuzz) packages+=(clang-14 libclang-rt-14-dev) ;;
    --browser) packages+=(chromium) ;;
    --chroots) chroots=1; packages+=(debootstrap util-linux) ;;  # util-linux: unshare
    --no-build) build=0 ;;
    *) echo "usage: $0 [--sanitize] [--bench] [--fuzz] [--browser] [--chroots] [--no-build]" >&2
       exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ "$chroots" -eq 0 ] || scripts/chroots.sh

[ "$build" -eq 1 ] || exit 0
jobs=$(nproc)
# The project's own builds turn warnings into errors (PYHEAP_WERROR); users' builds do not.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYHEAP_BUILD_GDB=ON -DPYHEAP_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
if [ "$sanitize" -eq 1 ]; then
  # The gdb module cannot be loaded with ASan's runtime into gdb: the sanitizer build
  # leaves it out (its tests skip), the release build has it.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPYHEAP_SANITIZE=ON -DPYHEAP_BUILD_GDB=OFF \
    -DPYHEAP_WERROR=ON >/dev/null
  cmake --build build-asan -j"$jobs"
fi
