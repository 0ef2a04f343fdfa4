"""A big, fragmented heap for bench_fragmentation.sh (runs unchanged on CPython 3.8-3.13).

    python big_heap.py READY_PATH TOTAL_MIB

Fills about TOTAL_MIB of heap, half in small Python objects (pymalloc: bytes of 8-400
bytes, tuples, ints; 25 % of them freed at random so pools are partly used) and half in
blocks from glibc's malloc through ctypes (1 KiB - 64 KiB, written so they are resident,
20 % freed; and a few of 1 MiB: mmapped chunks), then writes {"pid", "small_objects",
"malloc_blocks", "malloc_bytes"} to READY_PATH (atomically) and sleeps forever.
Only the benchmark's numbers depend on this; it measures nothing itself.
"""
import ctypes
import gc
import json
import os
import random
import sys
import time


def main():
    gc.disable()
    ready, total_mib = sys.argv[1], int(sys.argv[2])
    rng = random.Random(1)
    libc = ctypes.CDLL(None)
    malloc = libc["malloc"]
    malloc.restype, malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    free = libc["free"]
    free.restype, free.argtypes = None, [ctypes.c_void_p]
    memset = libc["memset"]
    memset.restype, memset.argtypes = None, [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]

    target = (total_mib << 20) // 2
    blob = bytes(range(256)) * 2
    keep = []
    used = 0
    # pymalloc half. Arena space is what counts (kept blocks and the free blocks between
    # them), so the objects freed later are counted too; sizes are rounded to 16.
    while used < target:
        chunk = []
        for i in range(10000):
            u = rng.random()
            if u < 0.8:
                n = 8 + int(u * 400)
                o = blob[i % 64:i % 64 + n]
                used += (33 + n + 15) & ~15
            elif u < 0.9:
                o = (i, u)
                used += 64 + 32  # tuple (with GC head) and float
            else:
                o = i * 1000003 + 10 ** 12
                used += 32
            chunk.append(o)
        for i in range(len(chunk)):
            if rng.random() < 0.25:
                chunk[i] = None
        keep.append(chunk)
    small = sum(1 for c in keep for o in c if o is not None)

    blocks = []
    mbytes = 0
    while mbytes < target * 1.25:  # malloc half (20 % freed below)
        n = 1 << 20 if rng.random() < 0.002 else rng.randrange(1024, 65536)
        p = malloc(n)
        memset(p, 0x5A, n)
        blocks.append((p, n))
        mbytes += n
    kept = []
    for p, n in blocks:
        if rng.random() < 0.2:
            free(p)
            mbytes -= n
        else:
            kept.append(p)
    del blocks

    tmp = ready + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"pid": os.getpid(), "small_objects": small, "malloc_blocks": len(kept),
                   "malloc_bytes": mbytes}, fh)
    os.replace(tmp, ready)
    while True:
        time.sleep(86400)


if __name__ == "__main__":
    main()
