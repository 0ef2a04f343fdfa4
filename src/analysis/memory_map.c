/* Mapped memory by kind; see memory_map.h. */
#include "analysis/memory_map.h"

#include <elf.h>
#include <string.h>

/* Linux places the brk heap at a random offset after the end of the executable's image:
 * at most 1 GiB on x86-64 (arch_randomize_brk; 32 MiB on older kernels). */
#define BRK_RANDOM_RANGE (1ULL << 30)

const char *pyh_map_kind_name(enum pyh_map_kind kind)
{
    static const char *const names[] = {"heap", "anonymous", "file_backed", "stacks", "other"};
    return kind < PYH_MAP_KINDS ? names[kind] : "?";
}

static bool holds_a_stack_pointer(const struct pyh_target *t, const struct pyh_mapping *m)
{
    for (size_t i = 0; i < t->nthreads; i++)
        if (t->threads[i].has_regs && t->threads[i].rsp >= m->start && t->threads[i].rsp < m->end)
            return true;
    return false;
}

/* Where the brk heap starts in a core, which does not label it: the first anonymous
 * writable mapping after the executable's image, within the randomization range and not
 * adjacent to the image (that one is the executable's .bss). 0 when none fits. */
static uint64_t core_heap_start(struct pyh_target *t, struct pyh_images *images)
{
    struct pyh_module *exe = pyh_images_exe(images);
    if (!exe) return 0;
    uint64_t image_end = exe->end;
    for (size_t i = 0; i < t->nmaps; i++) {
        const struct pyh_mapping *m = &t->maps[i];
        if (m->start < image_end || m->path || !(m->prot & PYH_PROT_W)) continue;
        if (m->start == image_end) { /* .bss: the image really ends here */
            image_end = m->end;
            continue;
        }
        return m->start <= image_end + BRK_RANDOM_RANGE ? m->start : 0;
    }
    return 0;
}

enum pyh_map_kind pyh_map_kind_of(struct pyh_target *t, struct pyh_images *images,
                                  const struct pyh_mapping *m)
{
    if (m->label) {
        if (strcmp(m->label, "[heap]") == 0) return PYH_MAP_HEAP;
        if (strncmp(m->label, "[stack", 6) == 0) return PYH_MAP_STACK;
        if (!strcmp(m->label, "[vdso]") || !strcmp(m->label, "[vvar]") ||
            !strcmp(m->label, "[vsyscall]"))
            return PYH_MAP_OTHER;
    }
    if (holds_a_stack_pointer(t, m)) return PYH_MAP_STACK;
    if (m->path) return PYH_MAP_FILE_BACKED;
    if (t->kind != PYH_TARGET_LIVE) {
        uint64_t vdso = pyh_target_auxv(t, AT_SYSINFO_EHDR);
        if (vdso && m->start == vdso) return PYH_MAP_OTHER;
        uint64_t heap = core_heap_start(t, images);
        if (heap && m->start == heap) return PYH_MAP_HEAP;
    }
    return PYH_MAP_ANONYMOUS;
}

void pyh_memory_map(struct pyh_target *t, struct pyh_images *images, struct pyh_memory_map *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < t->nmaps; i++) {
        const struct pyh_mapping *m = &t->maps[i];
        out->bytes[pyh_map_kind_of(t, images, m)] += m->end - m->start;
        out->total += m->end - m->start;
    }
}
