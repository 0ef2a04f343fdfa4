"""Small synthetic ELF cores for the core fuzz target (and the hostile tests): notes
(NT_PRSTATUS, NT_AUXV, NT_FILE) and a few PT_LOADs, laid out as tests/unit/synthetic.c
writes them.

    synth_cores.py OUTDIR
"""
import os
import struct
import sys

PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS, NT_AUXV, NT_FILE = 1, 6, 0x46494c45
AT_PHDR, AT_EXECFN = 3, 31


def note(ntype, desc, name=b"CORE\0"):
    out = struct.pack("<III", len(name), len(desc), ntype) + name
    out += bytes(-len(out) % 4) + desc + bytes(-len(desc) % 4)
    return out


def prstatus(tid, rip, rsp, fs_base):
    d = bytearray(336)
    struct.pack_into("<i", d, 32, tid)
    regs = [0] * 27
    regs[16], regs[19], regs[21] = rip, rsp, fs_base
    struct.pack_into("<27Q", d, 112, *regs)
    return bytes(d)


def nt_file(entries, page=4096):
    d = struct.pack("<QQ", len(entries), page)
    for start, end, off, _path in entries:
        d += struct.pack("<QQQ", start, end, off // page)
    for *_r, path in entries:
        d += path.encode() + b"\0"
    return d


def core(segments, notes):
    """segments: (vaddr, data or None, memsz, flags)."""
    nph = 1 + len(segments)
    off = 64 + 56 * nph
    notes_off = off
    off += len(notes)
    off += -off % 4096
    phdrs = [struct.pack("<IIQQQQQQ", PT_NOTE, 0, notes_off, 0, 0, len(notes), 0, 4)]
    blobs = []
    for vaddr, data, memsz, flags in segments:
        filesz = len(data) if data else 0
        phdrs.append(struct.pack("<IIQQQQQQ", PT_LOAD, flags, off if data else 0, vaddr, 0,
                                 filesz, memsz or filesz, 4096))
        if data:
            blobs.append((off, data))
            off += filesz + (-filesz % 4096)
    ehdr = bytearray(64)
    ehdr[:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", ehdr, 16, 4, 62, 1, 0, 64, 0, 0, 64, 56, nph, 0, 0, 0)
    out = bytearray(off)
    out[:64] = ehdr
    out[64:64 + 56 * nph] = b"".join(phdrs)
    out[notes_off:notes_off + len(notes)] = notes
    for o, data in blobs:
        out[o:o + len(data)] = data
    return bytes(out)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    heap = bytes(range(256)) * 16
    stack = struct.pack("<8Q", *range(8)) * 64
    auxv = struct.pack("<6Q", AT_PHDR, 0x400040, AT_EXECFN, 0x7ffd0000f000, 0, 0)
    threads = note(NT_PRSTATUS, prstatus(100, 0x401000, 0x7ffd0000e000, 0x7f0000001000))
    threads += note(NT_PRSTATUS, prstatus(101, 0x401010, 0x7ffd0000e800, 0x7f0000002000))
    files = [(0x400000, 0x401000, 0, "/bin/true"), (0x401000, 0x405000, 0x1000, "/bin/true"),
             (0x7f0000100000, 0x7f0000101000, 0, "/nonexistent/libpython3.11.so.1.0")]
    execfn = b"/bin/true\0".ljust(4096, b"\0")
    seeds = {
        "synthetic-basic.core": core(
            [(0x400000, None, 0x1000, 5), (0x401000, None, 0x4000, 5),
             (0x555555560000, heap, 0, 6), (0x7ffd0000e000, stack, 0x1000, 6),
             (0x7ffd0000f000, execfn, 0, 6)],
            threads + note(NT_AUXV, auxv) + note(NT_FILE, nt_file(files))),
        "synthetic-no-nt-file.core": core(
            [(0x555555560000, heap, 0, 6)], threads),
        "synthetic-overlap.core": core(
            [(0x555555560000, heap, 0x2000, 6), (0x555555561000, heap, 0, 6),
             (0x555555570000, heap[:100], 0x10000, 6)],
            threads + note(NT_FILE, nt_file([(0x555555560000, 0x555555562000, 0, "/bin/true")]))),
        "synthetic-empty.core": core([], b""),
    }
    for name, data in seeds.items():
        with open(os.path.join(outdir, name), "wb") as fh:
            fh.write(data)
        print("%s: %d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
