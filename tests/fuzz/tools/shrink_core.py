"""Cuts an ELF core down to a fuzz seed: the ELF header, every program header and every note
are kept; of each PT_LOAD only the first KEEP bytes (the ELF header and notes of a mapped
module, the start of a heap or stack) stay in the file, p_filesz shrinking to match, so the
rest of the segment is "not in the core" as in a core whose writer left it out. Segments
that are small enough are kept whole, up to a total.

    shrink_core.py IN OUT [KEEP [TOTAL]]     (defaults: 4096, 262144)
"""
import struct
import sys


def main():
    src, dst = sys.argv[1], sys.argv[2]
    keep = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    total = int(sys.argv[4]) if len(sys.argv) > 4 else 256 << 10
    with open(src, "rb") as fh:
        data = fh.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise SystemExit("%s: not a 64-bit ELF file" % src)
    ehdr = bytearray(data[:64])
    phoff = struct.unpack_from("<Q", ehdr, 32)[0]
    phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
    phdrs = [list(struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize))
             for i in range(phnum)]
    # New layout: header, program headers, notes, then segment data (page-aligned).
    out = bytearray(64 + phnum * 56)
    struct.pack_into("<Q", ehdr, 32, 64)
    struct.pack_into("<H", ehdr, 54, 56)
    struct.pack_into("<Q", ehdr, 40, 0)  # no section headers
    struct.pack_into("<HHH", ehdr, 58, 64, 0, 0)
    for ph in phdrs:
        if ph[0] == 4:  # PT_NOTE
            notes = data[ph[2]:ph[2] + ph[5]]
            ph[2] = len(out)
            out += notes
    used = 0
    for ph in phdrs:
        if ph[0] != 1:
            continue
        filesz = ph[5]
        n = filesz if filesz <= 2 * keep else keep
        n = min(n, max(0, total - used))
        chunk = data[ph[2]:ph[2] + n]
        out += bytes(-len(out) % 4096)
        ph[2] = len(out) if chunk else 0
        ph[5] = len(chunk)
        out += chunk
        used += len(chunk)
    out[:64] = ehdr
    for i, ph in enumerate(phdrs):
        struct.pack_into("<IIQQQQQQ", out, 64 + 56 * i, *ph)
    with open(dst, "wb") as fh:
        fh.write(out)
    print("%s: %d bytes (from %d), %d segments" % (dst, len(out), len(data), phnum))


if __name__ == "__main__":
    main()
