/* Fuzz target (a): the core file reader. The input is a core file: program headers,
 * PT_LOADs, notes (NT_FILE, NT_PRSTATUS, NT_AUXV). It is opened with
 * pyh_target_open_core, read at a few addresses (the start, middle and last bytes of every
 * mapping, a C string, auxv entries, the threads' stacks), its resident size computed, its
 * ELF modules loaded (build-ids from target memory), then closed. */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "image/image.h"

static void read_some(struct pyh_target *t, uint64_t addr, size_t len)
{
    uint8_t buf[4096];
    if (len > sizeof(buf)) len = sizeof(buf);
    fuzz_ignore(pyh_target_read(t, addr, buf, len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    if (!path) return 0;
    struct pyh_diag diag = {0};
    struct pyh_target *t = NULL;
    /* Files named by NT_FILE are looked up as the CLI would: on this machine, at their
     * path (the seeds name /usr/lib/... libraries that exist). */
    struct pyh_file_search search = {0};
    struct pyh_error *err = pyh_target_open_core(path, &search, &diag, &t);
    if (err) {
        pyh_error_free(err);
        pyh_diag_free(&diag);
        return 0;
    }
    for (size_t i = 0; i < t->nmaps && i < 256; i++) {
        const struct pyh_mapping *m = &t->maps[i];
        uint64_t len = m->end - m->start;
        read_some(t, m->start, 64);
        read_some(t, m->start + len / 2, 4096);
        read_some(t, m->end - 8, 8);
        read_some(t, m->end - 4, 8); /* crosses the end */
        (void)pyh_target_mapping_at(t, m->start + len / 3);
    }
    for (size_t i = 0; i < t->nthreads && i < 64; i++) {
        (void)pyh_target_thread(t, t->threads[i].tid);
        read_some(t, t->threads[i].rsp, 256);
    }
    uint64_t phdr = pyh_target_auxv(t, AT_PHDR), execfn = pyh_target_auxv(t, AT_EXECFN);
    if (phdr) read_some(t, phdr, 56 * 4);
    if (execfn) {
        char name[256];
        fuzz_ignore(pyh_read_cstr(t, execfn, name, sizeof(name)));
    }
    const struct pyh_residency *res = NULL;
    fuzz_ignore(pyh_target_residency(t, &res));
    if (res && res->by_page) {
        for (size_t i = 0; i < t->nmaps; i++)
            (void)pyh_residency_bytes(res, t->maps[i].start, t->maps[i].end);
    }
    struct pyh_images *images = NULL;
    err = pyh_images_load(t, "", &diag, &images);
    if (!err) {
        for (size_t i = 0; i < images->nmods; i++) (void)pyh_images_module_at(images, images->mods[i].start);
        (void)pyh_images_exe(images);
    }
    pyh_error_free(err);
    pyh_images_free(images);
    pyh_target_close(t);
    pyh_diag_free(&diag);
    return 0;
}
