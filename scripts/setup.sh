#!/usr/bin/env bash
# Installs what py-heap needs on Debian 12 (when missing) and builds it into build/.
#   scripts/setup.sh            release build in build/
#   scripts/setup.sh --sanitize also an ASan+UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(gcc g++ make cmake pkg-config gdb libelf-dev libdwarf-dev libcmocka-dev libjansson-dev
          python3 python3-dev elfutils strace)
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

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYHEAP_BUILD_GDB=ON >/dev/null
cmake --build build -j"$jobs"
if [ "${1:-}" = "--sanitize" ]; then
  # The gdb module cannot be loaded with ASan's runtime into gdb: the sanitizer build
  # leaves it out (its tests skip), the release build has it.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPYHEAP_SANITIZE=ON -DPYHEAP_BUILD_GDB=OFF >/dev/null
  cmake --build build-asan -j"$jobs"
fi
