"""Writes fuzz seeds from the memory of the Python process running it (CPython 3.8-3.13).

    python3.X dump_seeds.py OUTDIR LABEL

Run by tests/fuzz/tools/make_seeds.sh under every interpreter of the machine. The process
reads its own memory with ctypes (nothing is written) and writes, in the memory image
format of tests/fuzz/fuzz_common.h:

  OUTDIR/heap-LABEL.bin        for the classify and referents targets (fuzz_heap.h): the
                               static types, a few hundred real objects of every core kind
                               (each in its real pymalloc block or glibc chunk, with the
                               buffers they own) and the running frame;
  OUTDIR/pymalloc-LABEL-*.bin  for the pymalloc target: the allocator state as the version
                               keeps it (interpreter state, symbols, or _Py_GetAllocatedBlocks'
                               code), the arena table, and a few real pools. The table is
                               trimmed to one or two arenas of a few pools each (the rest of
                               a real heap would be megabytes); one seed keeps an untrimmed
                               arena whose other pools are absent, as in a truncated core.
"""
import abc
import collections
import ctypes
import gc
import os
import struct
import subprocess
import sys
import types
import weakref

MINOR = sys.version_info[1]
POOL = 4096 if MINOR < 10 else 16384
ARENA = (256 << 10) if MINOR < 10 else (1 << 20)
TYPE_SIZE = {8: 416, 9: 408, 10: 408, 11: 408, 12: 416, 13: 416}[MINOR]
HAVE_GC, MANAGED_DICT, MANAGED_WEAKREF = 1 << 14, 1 << 4, 1 << 3
BLOCK_CAP = 8192  # bytes of one glibc chunk or buffer kept in a seed
MAX_OBJECTS = 260

# ---- memory --------------------------------------------------------------------------


def read_maps():
    out = []
    with open("/proc/self/maps") as fh:
        for line in fh:
            parts = line.split(None, 5)
            start, end = (int(x, 16) for x in parts[0].split("-"))
            path = parts[5].strip() if len(parts) > 5 else ""
            out.append((start, end, parts[1], int(parts[2], 16), path))
    return out


MAPS = read_maps()


def mapping(addr):
    for m in MAPS:
        if m[0] <= addr < m[1]:
            return m
    return None


def readable(addr, n):
    m = mapping(addr)
    return m is not None and m[2][0] == "r" and addr + n <= m[1]


def mem(addr, n):
    """n bytes at addr, clipped to the mapping (never faults)."""
    m = mapping(addr)
    if not m or m[2][0] != "r":
        return b""
    n = min(n, m[1] - addr)
    return ctypes.string_at(addr, n)


def u64(addr):
    return struct.unpack("<Q", mem(addr, 8).ljust(8, b"\0"))[0]


def u32(addr):
    return struct.unpack("<I", mem(addr, 4).ljust(4, b"\0"))[0]


def tp_flags(t):
    return u64(id(t) + 168)


def header_position(t):
    flags = tp_flags(t)
    pos = 16 if flags & HAVE_GC else 0
    if MINOR == 11 and flags & MANAGED_DICT:
        pos += 16
    if MINOR >= 12 and flags & (MANAGED_DICT | MANAGED_WEAKREF):
        pos += 16
    return pos


def pool_of(addr):
    """(pool, szidx) when addr is in a pymalloc pool in use, else None."""
    pool = addr & ~(POOL - 1)
    if not readable(pool, 48) or mapping(pool)[4]:
        return None
    count, _pad, _free, _next, _prev, _arena, szidx, nextoff, maxnext = struct.unpack(
        "<IIQQQIIII", mem(pool, 48))
    if szidx >= 32 or maxnext != POOL - 16 * (szidx + 1) or not 48 <= nextoff <= POOL:
        return None
    return pool, szidx


def chunk_of(block):
    """(chunk, size, mmapped) of the glibc chunk whose user data starts at block."""
    chunk = block - 16
    if not readable(chunk, 16):
        return None
    raw = u64(chunk + 8)
    size = raw & ~7
    if size < 32 or size > (1 << 30) or not readable(chunk, min(size, 4096)):
        return None
    return chunk, size, bool(raw & 2)


# ---- the seed file ----------------------------------------------------------------------


class Image:
    def __init__(self, selector):
        self.selector = selector
        self.regions = []  # [addr, size, flags, data or None]

    def overlaps(self, addr, size):
        for r in self.regions:
            if addr < r[0] + r[1] and r[0] < addr + size:
                return r
        return None

    def add(self, addr, size, flags=1 | 2, data=None, merge=True):
        """Adds a region (data read now unless given); a plain region overlapping another
        plain one is merged into it; any other overlap drops the newcomer."""
        if size <= 0 or addr <= 0:
            return False
        if data is None:
            data = mem(addr, size)
            if not data:
                return False
        r = self.overlaps(addr, size)
        if r is not None:
            if not merge or (r[2] >> 3) or (flags >> 3) or r[3] is None:
                return False
            start, end = min(r[0], addr), max(r[0] + r[1], addr + size)
            r[0], r[1] = start, end - start
            r[3] = mem(start, end - start)
            return True
        self.regions.append([addr, size, flags, data])
        return True

    def write(self, path, first=None):
        regions = list(self.regions)
        if first is not None:
            regions.remove(first)
            regions.insert(0, first)
        out = bytearray([self.selector])
        for addr, size, flags, data in regions[:512]:
            data = data[:size]
            out += struct.pack("<QIIB", addr, size, len(data), flags) + data
        with open(path, "wb") as fh:
            fh.write(out)
        return len(out)


# ---- objects -------------------------------------------------------------------------


def static_types():
    """struct pyh_static_types, in its order."""
    return [type, object, dict, str, int, bool, float, tuple, list, bytes, bytearray,
            types.ModuleType, types.CodeType, types.FrameType, types.FunctionType, set,
            frozenset, None, True, False, types.GeneratorType, types.CoroutineType,
            types.AsyncGeneratorType, types.CellType, types.MethodType,
            types.BuiltinFunctionType, classmethod, staticmethod, property, weakref.ref,
            weakref.ProxyType, weakref.CallableProxyType]


class Plain:
    def __init__(self):
        self.a = 1
        self.b = "two"


class Materialized:
    def __init__(self):
        self.x = [1, 2]
        self.__dict__["y"] = 3  # the dict object exists


class Slotted:
    __slots__ = ("p", "q", "__weakref__")

    def __init__(self):
        self.p = "slot p"
        self.q = 42


class Base(abc.ABC):
    @abc.abstractmethod
    def m(self):
        pass


class Concrete(Base):
    def m(self):
        return 1

    @classmethod
    def cm(cls):
        return cls

    @staticmethod
    def sm():
        return 0

    @property
    def prop(self):
        return 2


class MyList(list):
    pass


class MyDict(dict):
    pass


class MyStr(str):
    pass


def make_closure():
    captured = ["cell contents"]

    def inner(a, b=2, *, c=3) -> int:
        return captured, a, b, c
    return inner


def gen(n):
    local = "generator local"
    for i in range(n):
        yield local, i


async def coro():
    return 1


async def agen():
    yield 1


def outlived_frame():
    here = "frame local"
    return sys._getframe(), here


def roots():
    inst = Plain()
    c = Concrete()
    big = {"k%d" % i: i for i in range(100)}
    g = gen(3)
    next(g)
    co = coro()
    objs = [
        "ascii string", "h\xe9llo latin-1", "\u03a9 two-byte", "\U0001f600 four-byte",
        "x" * 300, MyStr("subclass of str"),
        0, 1, -5, 2 ** 62, -(2 ** 100), 10 ** 50, 3.14, True, None,
        b"bytes" * 10, bytearray(b"a bytearray"),
        (1, "a", None), tuple(range(40)),
        [1, 2, 3, "x"], list(range(100)), MyList([1, 2]),
        {"a": 1, "b": [2]}, {1: 2, 3: 4}, big, MyDict(z=1),
        {1, 2, 3}, frozenset({"f", "g"}), set(range(50)),
        inst, Materialized(), Slotted(), c, Concrete, Base,
        make_closure(), inst.__init__, [].append, len,
        Concrete.__dict__["cm"], Concrete.__dict__["sm"], Concrete.__dict__["prop"],
        types.ModuleType("fuzzmod", "a module"), make_closure().__code__,
        g, co, agen(), sys._getframe(), outlived_frame()[0],
        weakref.ref(c), weakref.proxy(c), collections.deque([1, "d", None]),
        ValueError("an exception"),
    ]
    objs[-1].attr = "exception attribute"
    objs.append(objs[35].__closure__[0])  # a cell
    return objs, co


def object_blocks(objs):
    """BFS over referents from the roots, capped: (object, its type) in order."""
    seen, order, queue = set(), [], list(objs)
    while queue and len(order) < MAX_OBJECTS:
        o = queue.pop(0)
        if id(o) in seen:
            continue
        seen.add(id(o))
        order.append(o)
        if isinstance(o, types.ModuleType) and o.__name__ != "fuzzmod":
            continue
        try:
            queue.extend(gc.get_referents(o))
        except Exception:
            pass
    return order


def add_object(img, o, blocks):
    addr = id(o)
    t = type(o)
    pos = header_position(t)
    block = addr - pos
    m = mapping(addr)
    if m is None:
        return
    if m[4] and not m[4].startswith("["):  # a binary's data: a static object
        try:
            size = sys.getsizeof(o)
        except Exception:
            size = 64
        img.add(block, pos + min(size, BLOCK_CAP))
        return
    p = pool_of(block)
    if p is not None:
        pool, szidx = p
        bs = 16 * (szidx + 1)
        first = pool + 48 + ((block - pool - 48) // bs) * bs
        blocks.setdefault((pool, szidx), set()).add(first)
        return
    c = chunk_of(block)
    if c is not None:
        chunk, size, mmapped = c
        usable = size - (16 if mmapped else 8)
        data = mem(block, min(usable, BLOCK_CAP))
        img.add(block, usable, 1 | 2 | (31 << 3), data, merge=False)


def add_buffer(img, addr, size):
    """A buffer an object owns: its whole block when it is one, else size bytes."""
    if not addr or not readable(addr, 1):
        return
    p = pool_of(addr)
    if p is not None:
        bs = 16 * (p[1] + 1)
        img.add(addr, bs)
        return
    c = chunk_of(addr)
    if c is not None:
        img.add(addr, min(c[1] - 8, BLOCK_CAP))
        return
    img.add(addr, min(size, BLOCK_CAP))


def add_buffers(img, o):
    a = id(o)
    if isinstance(o, list):
        add_buffer(img, u64(a + 24), 8 * u64(a + 32))
    elif isinstance(o, dict):
        add_buffer(img, u64(a + 32), 64)
        if u64(a + 40):
            add_buffer(img, u64(a + 40), 64)
    elif isinstance(o, (set, frozenset)):
        table = u64(a + 40)
        if table != a + 64:
            add_buffer(img, table, 16 * (u64(a + 32) + 1))
    elif isinstance(o, bytearray):
        add_buffer(img, u64(a + 32), u64(a + 24))
    elif isinstance(o, collections.deque):
        add_buffer(img, u64(a + 24), 8 * 66)
    elif isinstance(o, types.FrameType) and MINOR >= 11:
        add_buffer(img, u64(a + 24), 512)
    if MINOR >= 11 and tp_flags(type(o)) & MANAGED_DICT:
        slot = u64(a - 24)
        if MINOR == 12 and slot & 1:
            add_buffer(img, slot + 1, 128)
        elif MINOR == 11 and not slot:
            add_buffer(img, u64(a - 32), 128)


def add_type(img, t):
    """A static type object and its tp_name string (heap types are objects)."""
    a = id(t)
    if tp_flags(t) & (1 << 9):
        return
    img.add(a, TYPE_SIZE)
    name = u64(a + 24)
    if name and readable(name, 1):
        s = ctypes.string_at(name)
        img.add(name, len(s) + 1)


def heap_seed(outdir, label):
    objs, co = roots()
    img = Image(MINOR - 8)
    st = static_types()
    header = b"".join(struct.pack("<Q", id(t)) for t in st)
    frame = sys._getframe()
    iframe = u64(id(frame) + 24) if MINOR >= 11 else 0
    header += struct.pack("<Q", iframe)
    hdr = [0x10000, len(header), 1 | 2, header]
    img.regions.append(hdr)
    order = object_blocks(objs)
    blocks = {}
    for o in order:
        add_object(img, o, blocks)
    # Blocks of one pool: runs of nearby blocks become one region of that size class.
    for (pool, szidx), firsts in sorted(blocks.items()):
        bs = 16 * (szidx + 1)
        run = []
        for b in sorted(firsts) + [None]:
            if run and (b is None or b - (run[-1] + bs) > 4 * bs):
                start, end = run[0], run[-1] + bs
                img.add(start, end - start, 1 | 2 | ((szidx + 1) << 3), merge=False)
                run = []
            if b is not None:
                run.append(b)
    for o in order:
        add_buffers(img, o)
    for t in st + [type(o) for o in order]:
        if isinstance(t, type):
            add_type(img, t)
    if iframe:
        add_buffer(img, iframe, 512)
    co.close()
    n = img.write(os.path.join(outdir, "heap-%s.bin" % label), first=hdr)
    print("heap-%s.bin: %d regions, %d bytes, %d objects" % (label, len(img.regions), n,
                                                            len(order)))


# ---- pymalloc ----------------------------------------------------------------------------


def libpython_path():
    for m in MAPS:
        if "libpython3" in m[4]:
            return m[4]
    return None


def module_base(path):
    return min(m[0] for m in MAPS if m[4] == path and m[3] == 0)


def symbols(path, names):
    """{name: address} from nm (the .symtab of pyenv's libpython)."""
    res = subprocess.run(["nm", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         universal_newlines=True)
    base = module_base(path)
    out = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in names:
            out[parts[2]] = base + int(parts[0], 16)
    return out


def dynsym(path, name):
    res = subprocess.run(["nm", "-D", "--defined-only", path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True)
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            value = int(parts[0], 16)
            with open(path, "rb") as fh:
                is_exec = struct.unpack("<H", fh.read(18)[16:18])[0] == 2
            return value if is_exec else module_base(path) + value
    return None


def rip_loads(fn):
    """The (64-bit, 32-bit) RIP-relative load targets of the first 96 bytes at fn, as
    py-heap's disassembly finder decodes them."""
    code = mem(fn, 96)
    loads64, loads32 = [], []
    i = 0
    while i + 6 <= len(code):
        rex = (code[i] & 0xf0) == 0x40
        op = i + 1 if rex else i
        if op + 6 <= len(code) and code[op] == 0x8b and (code[op + 1] & 0xc7) == 0x05:
            disp = struct.unpack("<i", code[op + 2:op + 6])[0]
            target = fn + op + 6 + disp
            (loads64 if rex and code[i] & 8 else loads32).append(target)
            i = op + 6
            continue
        i += 1
    return loads64, loads32


def arena_table(table, maxarenas):
    raw = mem(table, 48 * maxarenas)
    return [list(struct.unpack_from("<QQIIQQQ", raw, 48 * i)) for i in range(len(raw) // 48)]


def pack_table(entries):
    return b"".join(struct.pack("<QQIIQQQ", *e) for e in entries)


def pymalloc_state():
    """(table, maxarenas, variables): variables maps each allocator variable the version
    keeps to (address, bytes)."""
    if MINOR >= 12:
        main = ctypes.pythonapi.PyInterpreterState_Main
        main.restype = ctypes.c_void_p
        interp = main()
        state = interp + 3960 if MINOR == 12 else u64(interp + 10800)
        return interp, state
    return None, None


def pymalloc_seeds(outdir, label):
    interp, state = pymalloc_state()
    lib = libpython_path()
    if MINOR >= 12:
        table, maxarenas = u64(state + 512), u32(state + 520)
    else:
        names = ["arenas", "maxarenas", "ntimes_arena_allocated", "narenas_highwater",
                 "narenas_currently_allocated", "raw_allocated_blocks"]
        syms = symbols(lib, names) if lib else {}
        if "arenas" in syms:
            mode, fn = 0, None
            table, maxarenas = u64(syms["arenas"]), u32(syms["maxarenas"])
        else:
            mode = 1
            fn = dynsym(lib or sys.executable, "_Py_GetAllocatedBlocks")
            loads64, loads32 = rip_loads(fn)
            table = maxarenas = None
            for a in loads64:
                for m in loads32:
                    t, n = u64(a), u32(m)
                    if t and n and n % 16 == 0 and readable(t, 48 * n):
                        table, maxarenas, arenas_var, max_var = t, n, a, m
                        break
                if table:
                    break
            if table is None:
                print("pymalloc-%s: cannot find the arena table" % label)
                return
    entries = arena_table(table, maxarenas)
    used = []
    for i, e in enumerate(entries):
        if not e[0]:
            continue
        first = (e[0] + POOL - 1) & ~(POOL - 1)
        carved = (e[1] - first) // POOL
        if carved >= 3:
            used.append((i, first, carved))
    if not used:
        print("pymalloc-%s: no arena with 3 carved pools" % label)
        return

    def image(selector, keep, npools, trim):
        img = Image(selector)
        trimmed = [list(e) for e in entries]
        for i, e in enumerate(trimmed):
            if i not in keep:
                e[0] = 0 if trim else e[0]
        for i in keep:
            first = (entries[i][0] + POOL - 1) & ~(POOL - 1)
            if trim:
                trimmed[i][1] = first + npools * POOL
                trimmed[i][3] = min(trimmed[i][3], ARENA // POOL)
                trimmed[i][2] = max(0, trimmed[i][3] - npools)
            img.add(first, npools * POOL, merge=False)
        img.add(table, 48 * maxarenas, data=pack_table(trimmed), merge=False)
        # The allocator's own variables, where this version keeps them.
        if MINOR >= 12:
            hdr = [0x10000, 8, 1 | 2, struct.pack("<Q", interp)]
            if MINOR == 13:
                img.add(interp + 10800, 8, merge=False)
            img.add(state + 512, 584, merge=False)
        elif mode == 0:
            body = struct.pack("<QQQQQQQ", interp or 0, table, maxarenas,
                               *[u64(syms[n]) if n in syms else 0 for n in names[2:]])
            hdr = [0x10000, len(body), 1 | 2, body]
        else:
            code = mem(fn, 96)
            body = bytes(64) + code
            hdr = [fn - 64, len(body), 1 | 2 | 4, body]
            img.add(arenas_var, 8, merge=False)
            img.add(max_var, 4, merge=False)
        img.regions.append(hdr)
        return img, hdr

    sel_mode = 0 if MINOR >= 12 else mode
    selector = (MINOR - 8) + 6 * sel_mode
    for name, keep, npools, trim in (("one", used[:1], 3, True), ("two", used[:2], 2, True),
                                     ("truncated", used[:1], 3, False)):
        img, hdr = image(selector, {k[0] for k in keep}, npools, trim)
        n = img.write(os.path.join(outdir, "pymalloc-%s-%s.bin" % (label, name)), first=hdr)
        print("pymalloc-%s-%s.bin: %d bytes" % (label, name, n))


def main():
    outdir, label = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    heap_seed(outdir, label)
    pymalloc_seeds(outdir, label)


if __name__ == "__main__":
    main()
