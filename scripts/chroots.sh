#!/usr/bin/env bash
# Makes (once) and completes the Debian chroots whose Pythons the integration tests run:
#   sid:    python3.13, python3.14, python3.15 with their -dbg (DWARF for the stripped binaries,
#           for the layout cross-checks only) and -dev (internal headers) packages
#   trixie: python3.13 and python3.13-dbg (Debian 13's system Python, glibc 2.41)
# in $PYHEAP_CHROOT_CACHE (default /var/cache/py-heap/chroot)/{sid,trixie}. Run by
# `scripts/setup.sh --chroots` (CI); needs root. Idempotent: an existing chroot is kept (made by
# this script or by hand with `debootstrap --variant=minbase`), only missing packages are
# installed, and nothing is downloaded when all is there. A chroot is built under NAME.new and
# renamed when debootstrap has finished, so that a half-made one is never taken for a chroot.
# Their glibc (2.41, 2.43) is newer than Debian 12's: they cannot be installed on the host.
set -euo pipefail
cache=${PYHEAP_CHROOT_CACHE:-/var/cache/py-heap/chroot}
mirror=${PYHEAP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" -eq 0 ] || { echo "chroots: needs root (debootstrap, chroot)" >&2; exit 1; }
mkdir -p "$cache"
# One maker at a time (two CI runs, or a run and a person).
exec 9>"$cache/.lock"
flock 9

# In a private mount namespace, so that the /proc mounted for apt's maintainer scripts goes
# away with it, whatever happens.
in_chroot() {
  local dir=$1; shift
  unshare --mount --propagation private -- sh -c \
    'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$dir" \
    env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
}

make_chroot() {
  local suite=$1; shift
  local dir=$cache/$suite
  if [ -e "$dir" ]; then
    if [ -d "$dir/debootstrap" ] || [ ! -x "$dir/usr/bin/apt-get" ]; then
      echo "chroots: $dir is not a finished debootstrap chroot; remove it and run again" >&2
      exit 1
    fi
  else
    echo "chroots: debootstrap --variant=minbase $suite (about 2 minutes)"
    rm -rf "$dir.new"
    debootstrap --variant=minbase "$suite" "$dir.new" "$mirror" >"$cache/$suite.debootstrap.log" 2>&1 || {
      echo "chroots: debootstrap $suite failed; the end of $cache/$suite.debootstrap.log:" >&2
      tail -20 "$cache/$suite.debootstrap.log" >&2
      exit 1
    }
    mv "$dir.new" "$dir"
  fi
  local missing=() p
  for p in "$@"; do
    dpkg-query --admindir="$dir/var/lib/dpkg" -W -f='${Status}' "$p" 2>/dev/null \
      | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "chroots: installing in $suite: ${missing[*]}"
  # The registry may be a snapshot older than its Release files' Valid-Until.
  local log=$cache/$suite.apt.log
  { in_chroot "$dir" apt-get -qq -o Acquire::Check-Valid-Until=false update &&
    in_chroot "$dir" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1 || {
    echo "chroots: apt-get in $suite failed; the end of $log:" >&2
    tail -20 "$log" >&2
    exit 1
  }
}

make_chroot sid python3.13 python3.14 python3.15 python3.13-dbg python3.14-dbg python3.15-dbg \
  python3.13-dev python3.14-dev python3.15-dev
make_chroot trixie python3.13 python3.13-dbg
for py in sid/usr/bin/python3.13 sid/usr/bin/python3.14 sid/usr/bin/python3.15 trixie/usr/bin/python3.13; do
  [ -x "$cache/$py" ] || { echo "chroots: $cache/$py is missing after the installation" >&2; exit 1; }
done
echo "chroots: ready in $cache"
