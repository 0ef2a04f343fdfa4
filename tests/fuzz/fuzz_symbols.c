/* Fuzz target (c): ELF files as the image layer reads them for symbols. The input is an ELF
 * file (an executable, a shared object, a debug file). It is mapped twice into a host target
 * as a loader maps a module (offset 0 read-only, the rest read-execute; the memory holds the
 * same bytes), opened through pyh_local_file_open (libelf, build-id note), loaded by
 * pyh_images_load (load bias, image end, DT_SONAME, build-id from memory) and asked for the
 * symbols the runtime and allocator layers ask for (.dynsym, .symtab, `name.lto_priv.N`),
 * whose bytes are then read from the file (pyh_module_read_file). */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "fuzz_common.h"
#include "image/image.h"

#define BASE 0x7f1234560000ull

struct file_memory {
    const uint8_t *data;
    size_t size;
    uint64_t end;
};

static int file_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
    const struct file_memory *m = ctx;
    if (addr < BASE || addr + len > m->end || addr + len < addr) return -1;
    uint64_t off = addr - BASE;
    size_t held = off < m->size ? m->size - off : 0;
    if (held > len) held = len;
    memcpy(buf, m->data + off, held);
    memset((uint8_t *)buf + held, 0, len - held);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    if (!path) return 0;
    uint64_t span = ((uint64_t)size + 0xfff) & ~0xfffull;
    if (span < 0x2000) span = 0x2000;
    struct file_memory mem = {data, size, BASE + span};
    struct pyh_host_mapping maps[2] = {
        {BASE, BASE + 0x1000, 0, PROT_READ, path},
        {BASE + 0x1000, BASE + span, 0x1000, PROT_READ | PROT_EXEC, path},
    };
    struct pyh_host_target h = {.ctx = &mem, .read = file_read, .mappings = maps,
                                .nmappings = 2, .exe_path = path, .description = "fuzz"};
    struct pyh_diag diag = {0};
    struct pyh_target *t = NULL;
    struct pyh_images *images = NULL;
    struct pyh_error *err = pyh_target_open_host(&h, &diag, &t);
    if (!err) err = pyh_images_load(t, "", &diag, &images);
    if (!err) {
        static const char *const names[] = {
            "_PyRuntime", "Py_Version", "PyDict_Type", "PyUnicode_Type", "arenas", "maxarenas",
            "_Py_GetAllocatedBlocks", "main_arena", "mp_", "malloc_stats", "main", "no_such_symbol"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            uint64_t addr;
            struct pyh_module *mod = NULL;
            if (pyh_images_symbol(images, names[i], &addr, &mod) && mod) {
                uint8_t buf[32];
                fuzz_ignore(pyh_module_read_file(mod, addr - mod->bias, buf, sizeof(buf)));
                (void)pyh_images_module_at(images, addr);
            }
        }
        for (size_t i = 0; i < images->nmods; i++) {
            uint64_t addr;
            uint8_t buf[8];
            (void)pyh_module_symbol(images, &images->mods[i], "PyType_Type", &addr);
            fuzz_ignore(pyh_module_read_file(&images->mods[i], images->mods[i].image_end, buf, 8));
        }
    }
    pyh_error_free(err);
    pyh_images_free(images);
    pyh_target_close(t);
    pyh_diag_free(&diag);
    return 0;
}
