"""An independent oracle for the `info` numbers, run INSIDE gdb (not by the test runner).

    gdb -nx -batch -p PID -ex 'python ORACLE_ARGS = ["OUT.json", "3.11", LIBPYTHON_GDB_PY]' \
        -x gdb_oracle.py
    gdb -nx -batch EXE CORE -ex 'python ORACLE_ARGS = [...]' -x gdb_oracle.py

LIBPYTHON_GDB_PY is CPython's own gdb helper (pyenv installs it as bin/python3.X-gdb.py) or
"" when there is none.

It reads the target's memory only (gdb attaches with ptrace and reads; it never calls a
function in the target) and walks _PyRuntime -> main interpreter -> GC generation lists,
sys.modules and the thread-state list, using the raw offsets measured in
shared/reference/cpython-internals.md section 2. Those offsets are written here a second
time on purpose, independently of py-heap's own tables, so that this script can prove that the
ground truth a workload writes about itself is exactly what an outside reader sees.

When the target has DWARF (the pyenv builds), the addresses of the generation heads are also
computed symbolically by gdb (`&_PyRuntime.interpreters.head->gc.generations[i].head`) and
must agree with the raw-offset ones: that checks the offset table too.

When that helper is given (it needs DWARF), its `py-bt` command, which also only reads
memory, gives each thread's top Python frame with its LINE, computed by CPython's own tooling
from the line table: "pybt": {native thread id: {"function", "file", "line"}}.

Writes one JSON object to ORACLE_ARGS[0]:
  {"runtime": "0x...", "generations": [n0, n1, n2], "permanent": n, "collecting": int,
   "modules": n, "threads": [{"thread_id", "native_id", "function", "file"}...],
   "dwarf_checked": bool, "pybt": {...} or null, "errors": [...]}
"""
import json
import re
import struct

import gdb  # noqa: F401  (only importable inside gdb)

OUT, MINOR, LIBPYTHON_GDB, GC_HEADS = (list(ORACLE_ARGS) + ["", 24])[:4]  # noqa: F821  (-ex)
# GC_HEADS: where the generations' list heads start in the GC state: +24 upstream, +20 in
# Debian's 3.13.5+ (gchead-alignment.diff aligns PyGC_Head to 4 bytes).
MINOR = int(MINOR.split(".")[1]) if "." in MINOR else int(MINOR)

# field -> offset, per minor version (cpython-internals.md section 2; Debian 3.11.2 == 3.11.7).
OFF = {
    "interp_head": {8: 32, 9: 32, 10: 32, 11: 40, 12: 40, 13: 632, 14: 808, 15: 936},
    # 3.8 keeps the GC state in _PyRuntime (rt+344); later versions in the interpreter.
    "gc": {8: 344, 9: 616, 10: 616, 11: 648, 12: 112, 13: 7400, 14: 7408, 15: 7400},
    "modules": {8: 56, 9: 856, 10: 856, 11: 888, 12: 944, 13: 7656, 14: 7688, 15: 7592},
    "tstate_head": {8: 8, 9: 8, 10: 8, 11: 16, 12: 72, 13: 7344, 14: 7344, 15: 7336},
    "thread_id": {8: 176, 9: 176, 10: 176, 11: 152, 12: 136, 13: 152, 14: 152, 15: 176},
    "native_id": {8: None, 9: None, 10: None, 11: 160, 12: 144, 13: 160, 14: 160, 15: 184},
    "co_filename": {8: 104, 9: 104, 10: 104, 11: 112, 12: 112, 13: 112, 14: 112, 15: 112},
    "co_name": {8: 112, 9: 112, 10: 112, 11: 120, 12: 120, 13: 120, 14: 120, 15: 120},
    "ascii_data": {8: 48, 9: 48, 10: 48, 11: 48, 12: 40, 13: 40, 14: 40, 15: 40},
    # In the GC state (the generations' heads come as GC_HEADS).
    "gc_permanent": {8: 104, 9: 104, 10: 104, 11: 104, 12: 104, 13: 104, 14: 96, 15: 80},
    "gc_collecting": {8: 200, 9: 200, 10: 200, 11: 200, 12: 200, 13: 200, 14: 192, 15: 112},
}


# Where a patch release moved a field: (field, first version, end version) -> offset, the
# versions as PY_VERSION_HEX. 3.14.0-3.14.4's PyInterpreterState is 24 bytes shorter before
# imports.modules than 3.14.10's (DWARF of a 3.14.4 build).
OFF_PATCH = {("modules", 0x030e0000, 0x030e05c1): 7664}


def py_version():
    """The target's PY_VERSION_HEX (Py_Version, exported from 3.11), or 0."""
    try:
        return int(gdb.parse_and_eval("(unsigned long)Py_Version"))
    except gdb.error:
        return 0


VERSION_HEX = py_version() if MINOR >= 11 else 0


def off(name):
    for (field, first, end), value in OFF_PATCH.items():
        if field == name and first <= VERSION_HEX < end:
            return value
    return OFF[name][MINOR]


inf = gdb.selected_inferior()
errors = []


def u64(addr):
    return struct.unpack("<Q", inf.read_memory(addr, 8).tobytes())[0]


def u32(addr):
    return struct.unpack("<I", inf.read_memory(addr, 4).tobytes())[0]


def u8(addr):
    return inf.read_memory(addr, 1).tobytes()[0]


def ascii_str(obj):
    """A compact-ASCII str object (all names here are ASCII)."""
    if not obj:
        return None
    n = u64(obj + 16)
    if n > 4096:
        return None
    return inf.read_memory(obj + off("ascii_data"), n).tobytes().decode("ascii", "replace")


def count_list(head, cap=50_000_000):
    n = 0
    p = u64(head) & ~1
    while p != head:
        n += 1
        if n > cap:
            raise RuntimeError("GC list at 0x%x longer than %d" % (head, cap))
        p = u64(p) & ~1
    return n


def top_code(tstate):
    """The code object of the thread's top complete Python frame (or 0)."""
    if MINOR <= 10:
        f = u64(tstate + 24)  # tstate->frame (PyFrameObject*)
        return u64(f + 32) if f else 0  # f_code
    if MINOR == 11:
        frame = u64(u64(tstate + 56) + 8)  # tstate->cframe->current_frame
        code_off, prev_off, owner_off = 32, 48, 69
    elif MINOR == 12:
        frame = u64(u64(tstate + 56) + 0)
        code_off, prev_off, owner_off = 0, 8, 70
    elif MINOR == 13:
        frame = u64(tstate + 72)  # tstate->current_frame
        code_off, prev_off, owner_off = 0, 8, 70
    else:  # 3.14+: f_executable a _PyStackRef (tag bits 0-1), owner at +74
        frame = u64(tstate + 72)
        code_off, prev_off, owner_off = 0, 8, 74
    while frame:
        owner = u8(frame + owner_off)
        if owner < 3:  # not a C-stack shim (3.12+) or 3.14's interpreter/C-stack frame (3, 4)
            return u64(frame + code_off) & ~3
        frame = u64(frame + prev_off)
    return 0


result = {"errors": errors}
try:
    rt = int(gdb.parse_and_eval("(unsigned long)&_PyRuntime"))
    result["runtime"] = hex(rt)
    interp = u64(rt + off("interp_head"))
    result["interp"] = hex(interp)
    gc_state = (rt if MINOR == 8 else interp) + off("gc")
    heads = [gc_state + GC_HEADS + 24 * g for g in range(3)]
    result["generations"] = [count_list(h) for h in heads]
    result["permanent"] = count_list(gc_state + off("gc_permanent"))
    result["collecting"] = struct.unpack(
        "<i", inf.read_memory(gc_state + off("gc_collecting"), 4).tobytes())[0]
    modules = u64(interp + off("modules"))
    result["modules"] = u64(modules + 16)  # ma_used

    # Cross-check the raw offsets with DWARF where gdb has it.
    try:
        state = "_PyRuntime.gc" if MINOR == 8 else "_PyRuntime.interpreters.head->gc"
        try:
            sym_heads = [int(gdb.parse_and_eval("(unsigned long)&%s.generations[%d].head"
                                                % (state, g))) for g in range(3)]
        except gdb.error:  # 3.14.0-3.14.4's incremental collector: young and two old spaces
            sym_heads = [int(gdb.parse_and_eval("(unsigned long)&%s.young.head" % state))]
            sym_heads += [int(gdb.parse_and_eval("(unsigned long)&%s.old[%d].head" % (state, k)))
                          for k in range(2)]
            result["visited_space"] = int(gdb.parse_and_eval("(int)%s.visited_space" % state))
        if sym_heads != heads:
            errors.append("DWARF heads %s != raw-offset heads %s"
                          % ([hex(h) for h in sym_heads], [hex(h) for h in heads]))
        result["dwarf_checked"] = True
    except gdb.error:
        result["dwarf_checked"] = False  # no DWARF (stripped Debian build)

    threads = []
    t = u64(interp + off("tstate_head"))
    while t and len(threads) < 10000:
        code = top_code(t)
        native = off("native_id")
        threads.append({
            "thread_id": u64(t + off("thread_id")),
            "native_id": u64(t + native) if native is not None else None,
            "function": ascii_str(u64(code + off("co_name"))) if code else None,
            "file": ascii_str(u64(code + off("co_filename"))) if code else None,
        })
        t = u64(t + 8)  # tstate->next
    result["threads"] = threads
except Exception as e:  # report, never crash gdb without output
    errors.append("%s: %s" % (type(e).__name__, e))

result["pybt"] = None
if LIBPYTHON_GDB:
    try:
        gdb.execute("source " + LIBPYTHON_GDB, to_string=True)
        if MINOR == 8:
            # CPython 3.8's copy of libpython.py reads co_lnotab line increments as unsigned
            # bytes (3.9's copy fixed it: they are signed since 3.6), so any function whose
            # lines go backwards (a loop after a for/else, say) gets absurd line numbers
            # (2150 for a 370-line file). Use the 3.9 algorithm.
            import __main__

            def addr2line(self, addrq):
                co_lnotab = self.pyop_field("co_lnotab").proxyval(set())
                lineno = __main__.int_from_int(self.field("co_firstlineno"))
                addr = 0
                for addr_incr, line_incr in zip(co_lnotab[::2], co_lnotab[1::2]):
                    addr += ord(addr_incr)
                    if addr > addrq:
                        return lineno
                    delta = ord(line_incr)
                    lineno += delta - 256 if delta >= 128 else delta
                return lineno

            __main__.PyCodeObjectPtr.addr2line = addr2line
        pybt = {}
        for th in inf.threads():
            th.switch()
            text = gdb.execute("py-bt", to_string=True)
            m = re.search(r'^  File "(.*)", line (\d+), in (.*)$', text, re.M)
            pybt[str(th.ptid[1])] = (
                {"file": m.group(1), "line": int(m.group(2)), "function": m.group(3)}
                if m else None)
        result["pybt"] = pybt
    except Exception as e:
        errors.append("py-bt: %s: %s" % (type(e).__name__, e))

with open(OUT, "w") as fh:
    json.dump(result, fh, indent=1)
