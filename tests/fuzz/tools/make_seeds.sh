#!/bin/bash
# Regenerates the fuzz seed corpora in fixtures/fuzz/<target>/ from real processes of this
# machine (every interpreter found), real cores cut down, and small ELF files built here.
#
#   tests/fuzz/tools/make_seeds.sh [PYHEAP_BIN]      (default: build/py-heap)
#
# Needs gcc, clang-14, gdb (gcore), objcopy, strip, and the pyenv interpreters; what is
# missing is skipped with a message. The seeds are committed: this script is for when the
# formats change. Every process it starts is killed by its PID.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
PYHEAP=${1:-$ROOT/build/py-heap}
OUT=$ROOT/fixtures/fuzz
WORK=$(mktemp -d /tmp/pyheap-seeds-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"/{core,dwarf,symbols,pymalloc,glibc,classify,referents,snapshot}
PYENV=/root/.pyenv/versions
INTERPS=()
for v in 3.8.18 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0; do
    exe=$PYENV/$v/bin/python${v%.*}
    [ -x "$exe" ] && INTERPS+=("${v%.*}:$exe") || echo "skipped: $exe not installed"
done
[ -x /usr/bin/python3.11 ] && INTERPS+=("3.11-debian:/usr/bin/python3.11")

# ---- pymalloc, classify, referents: process memory through ctypes --------------------------
for entry in "${INTERPS[@]}"; do
    label=${entry%%:*} exe=${entry#*:}
    "$exe" "$HERE/dump_seeds.py" "$WORK/mem" "$label" || echo "dump_seeds failed under $exe"
done
# One trimmed seed per version; two arenas and "truncated" (an untrimmed table whose other
# pools are absent) for a few.
for f in "$WORK"/mem/pymalloc-*-one.bin "$WORK"/mem/pymalloc-{3.9,3.12}-two.bin \
         "$WORK"/mem/pymalloc-{3.8,3.11-debian,3.13}-truncated.bin; do
    [ -f "$f" ] && cp "$f" "$OUT/pymalloc/"
done
for f in "$WORK"/mem/heap-*.bin; do
    cp "$f" "$OUT/classify/"
    cp "$f" "$OUT/referents/"
done

# ---- glibc: this machine's malloc --------------------------------------------------------
gcc -O0 -fno-builtin -pthread "$HERE/glibc_seed.c" -o "$WORK/glibc_seed" && "$WORK/glibc_seed" "$OUT/glibc"

# ---- core: real cores (gcore and the kernel's) cut down, and synthetic ones ----------------
cat > "$WORK/work.py" <<'EOF'
import sys, threading, time
data = {"k%d" % i: [i] * 3 for i in range(200)}
class C: pass
objs = [C() for _ in range(50)]
ev = threading.Event()
threading.Thread(target=ev.wait, name="worker").start()
open(sys.argv[1], "w").write("ready")
time.sleep(1000)
EOF
wait_ready() { for _ in $(seq 150); do [ -f "$1" ] && return 0; sleep 0.1; done; return 1; }
gcore_of() { # name exe...: a gcore of a python workload
    local name=$1; shift
    "$@" "$WORK/work.py" "$WORK/ready.$name" >/dev/null 2>&1 & local p=$!
    wait_ready "$WORK/ready.$name" && gcore -o "$WORK/$name" $p >/dev/null 2>&1
    kill -9 $p; wait $p 2>/dev/null
    mv "$WORK/$name.$p" "$WORK/$name.full" 2>/dev/null
}
gcore_of py312 "$PYENV/3.12.1/bin/python3.12"
gcore_of py38 "$PYENV/3.8.18/bin/python3.8"
sleep 1000 >/dev/null 2>&1 & p=$!; sleep 0.3; gcore -o "$WORK/sleep" $p >/dev/null 2>&1; kill -9 $p; wait $p 2>/dev/null
mv "$WORK/sleep.$p" "$WORK/sleep.full"
( ulimit -c unlimited; cd "$WORK" || exit
  /usr/bin/python3.11 work.py ready.k311 >/dev/null 2>&1 & p=$!
  wait_ready ready.k311; kill -SEGV $p; wait $p 2>/dev/null; mv core kcore.py311.full
  sleep 100 >/dev/null 2>&1 & p=$!; sleep 0.3; kill -SEGV $p; wait $p 2>/dev/null; mv core kcore.sleep.full
) 2>/dev/null
for c in "$WORK"/*.full; do
    n=$(basename "$c" .full)
    python3 "$HERE/shrink_core.py" "$c" "$OUT/core/$n.core" 4096 200000
done
python3 "$HERE/synth_cores.py" "$OUT/core"

# ---- snapshot: real snapshots of the full cores ------------------------------------------
if [ -x "$PYHEAP" ]; then
    "$PYHEAP" snapshot "$WORK/py312.full" -o "$OUT/snapshot/py312.json"
    "$PYHEAP" snapshot "$WORK/py38.full" --no-retainers -o "$OUT/snapshot/py38-no-retainers.json"
    "$PYHEAP" snapshot "$WORK/kcore.py311.full" --debug-dir '' -o "$OUT/snapshot/kernel-core-py311.json"
else
    echo "skipped snapshots: $PYHEAP is not built"
fi
printf '{"format": "py-heap-snapshot", "version": 1, "time": 0, "types": [], "totals": {"objects": 0, "size": 0}}\n' \
    > "$OUT/snapshot/minimal.json"

# ---- dwarf and symbols: small ELF files ---------------------------------------------------
S=$HERE/dwarf_sample.c
cd "$WORK" || exit 1
gcc -g -gdwarf-4 -O0 -c "$S" -o "$OUT/dwarf/gcc-dwarf4.o"
gcc -g -gdwarf-5 -O1 -c "$S" -o "$OUT/dwarf/gcc-dwarf5.o"
gcc -g -gdwarf-2 -gstrict-dwarf -c "$S" -o "$OUT/dwarf/gcc-dwarf2.o"
gcc -g -gdwarf-4 -fdebug-types-section -c "$S" -o "$OUT/dwarf/type-units.o"
gcc -g -gdwarf-5 -O2 -shared -fPIC "$S" -o "$WORK/dwarf5.so"
objcopy --only-keep-debug "$WORK/dwarf5.so" "$OUT/dwarf/separate.debug"
gcc -g -gz=zlib -shared -fPIC "$S" -o "$OUT/dwarf/zlib-compressed.so"
clang-14 -g -gdwarf-5 -O0 -c "$S" -o "$OUT/dwarf/clang-dwarf5.o"
PYINC=$PYENV/3.12.1/include/python3.12
if [ -d "$PYINC" ]; then
    cat > "$WORK/py.c" <<'EOF'
#define Py_BUILD_CORE 1
#include <Python.h>
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_dict.h"
_PyRuntimeState *rt_p; PyInterpreterState *is_p; PyThreadState *ts_p; _PyInterpreterFrame *f_p;
PyTypeObject *t_p; PyHeapTypeObject *ht_p; PyDictObject *d_p; PyDictKeysObject *k_p;
PyCodeObject *c_p; PyASCIIObject *a_p; PyCompactUnicodeObject *cu_p; PyLongObject *l_p;
PyListObject *li_p; PyTupleObject *tu_p; PySetObject *s_p; PyFunctionObject *fn_p;
PyFrameObject *fr_p; PyGenObject *g_p;
EOF
    gcc -g -O0 -c -I"$PYINC" -I"$PYINC/internal" "$WORK/py.c" -o "$OUT/dwarf/python312-headers.o"
fi
cp "$WORK/dwarf5.so" "$OUT/symbols/with-symtab-and-dwarf.so"
gcc -O1 -fPIC -c "$S" -o "$WORK/sym.o"
objcopy --redefine-sym arenas=arenas.lto_priv.0 --redefine-sym maxarenas=maxarenas.lto_priv.3 \
    "$WORK/sym.o" "$WORK/symlto.o"
gcc -shared "$WORK/symlto.o" -o "$OUT/symbols/libpython3.11-lto-names.so" -Wl,-soname,libpython3.11.so.1.0
cp "$OUT/symbols/libpython3.11-lto-names.so" "$OUT/symbols/stripped-dynsym-only.so"
strip --strip-all "$OUT/symbols/stripped-dynsym-only.so"
gcc -O1 -no-pie "$S" -o "$OUT/symbols/exe-no-pie" -nostartfiles -Wl,-e,_Py_GetAllocatedBlocks
cp /usr/bin/true "$OUT/symbols/true"
ls -la "$OUT"/*
