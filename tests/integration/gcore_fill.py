"""Run inside gdb, after `gcore`, while gdb still holds the process stopped: fills in what
gdb 13 wrote as zeros in a core of a thread stack with a guard region.

glibc 2.42+ (Debian sid's 2.43, in the chroots) puts a thread stack's guard page inside the
stack's own mapping with madvise(MADV_GUARD_INSTALL) (VmFlags `gu` in smaps) instead of a
separate PROT_NONE mapping. A read of /proc/PID/mem that touches the guard page fails (EIO),
and gdb 13 (which warns "Memory read failed for corefile section") writes zeros for
the mapping, the stack's live top included: the thread's C
stack is lost from the core (measured: 3.14's entry frames, which live on the C stack, read
as zeros, and the frame chain of a thread started by threading ends there). The kernel's own
core dumps skip just the guard pages. Here every segment that cannot be read whole is read
again page by page and its readable pages are written into the core: the core then holds
what the kernel would have written. (Standard library only: gdb's embedded Python.)"""
import os
import struct

CHUNK = 1 << 20
PAGE = 4096
USER_END = 1 << 47  # the vsyscall page above is no mapping of the process


def fill(core, pid):
    fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
    try:
        with open(core, "r+b") as f:
            eh = f.read(64)
            phoff = struct.unpack_from("<Q", eh, 32)[0]
            phentsize, phnum = struct.unpack_from("<HH", eh, 54)
            f.seek(phoff)
            ph = f.read(phentsize * phnum)
            filled = 0
            for i in range(phnum):
                (p_type, _flags, offset, vaddr, _paddr, filesz, _memsz,
                 _align) = struct.unpack_from("<IIQQQQQQ", ph, i * phentsize)
                if (p_type != 1 or filesz == 0 or vaddr >= USER_END
                        or whole(fd, vaddr, filesz)):
                    continue
                for off in range(0, filesz, PAGE):
                    try:
                        data = os.pread(fd, min(PAGE, filesz - off), vaddr + off)
                    except OSError:
                        continue  # the guard page itself: zeros, as the kernel writes it
                    f.seek(offset + off)
                    f.write(data)
                    filled += 1
            return filled
    finally:
        os.close(fd)


def whole(fd, vaddr, size):
    """Whether the segment reads without error (then gdb wrote it as it is)."""
    for off in range(0, size, CHUNK):
        try:
            os.pread(fd, min(CHUNK, size - off), vaddr + off)
        except OSError:
            return False
    return True
