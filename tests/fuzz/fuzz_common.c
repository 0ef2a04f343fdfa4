/* Shared by the fuzz targets; see fuzz_common.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "image/image.h"

const char *fuzz_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("pyheap-fuzz", MFD_CLOEXEC);
        if (fd < 0) return NULL;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) return NULL;
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
        if (n <= 0) return NULL;
        done += (size_t)n;
    }
    return path;
}

static uint64_t le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

static int compare_regions(const void *a, const void *b)
{
    const struct fuzz_region *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Sorted by address, empty and overlapping regions dropped (the earlier in address order
 * stays): the read callback then searches in O(log n), and the target layer, which drops
 * overlapping mappings the same way, sees exactly the regions the callback serves. */
static void sort_regions(struct fuzz_image *img)
{
    qsort(img->regions, img->nregions, sizeof(img->regions[0]), compare_regions);
    size_t kept = 0;
    for (size_t i = 0; i < img->nregions; i++) {
        const struct fuzz_region *r = &img->regions[i];
        uint64_t end = r->addr + r->size;
        if (r->size == 0 || end < r->addr) continue;
        if (kept && r->addr < img->regions[kept - 1].addr + img->regions[kept - 1].size) continue;
        img->regions[kept++] = *r;
    }
    img->nregions = kept;
}

void fuzz_image_parse(struct fuzz_image *img, const uint8_t *data, size_t size)
{
    memset(img, 0, sizeof(*img));
    if (size == 0) return;
    img->selector = data[0];
    size_t off = 1;
    while (img->nregions < FUZZ_MAX_REGIONS && size - off >= FUZZ_REGION_HEADER) {
        struct fuzz_region *r = &img->regions[img->nregions++];
        r->addr = le(data + off, 8);
        r->size = (uint32_t)le(data + off + 8, 4);
        r->datalen = (uint32_t)le(data + off + 12, 4);
        r->flags = data[off + 16];
        off += FUZZ_REGION_HEADER;
        if (r->size > FUZZ_MAX_REGION) r->size = FUZZ_MAX_REGION;
        if (r->datalen > r->size) r->datalen = r->size;
        if (r->datalen > size - off) r->datalen = (uint32_t)(size - off);
        r->data = data + off;
        off += r->datalen;
    }
    if (img->nregions) img->header = img->regions[0].addr;
    sort_regions(img);
}

/* The region holding addr (regions are sorted and disjoint). */
static const struct fuzz_region *region_at(const struct fuzz_image *img, uint64_t addr)
{
    size_t lo = 0, hi = img->nregions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct fuzz_region *r = &img->regions[mid];
        if (addr < r->addr)
            hi = mid;
        else if (addr - r->addr >= r->size)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

static int image_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
    const struct fuzz_image *img = ctx;
    uint8_t *out = buf;
    while (len > 0) {
        const struct fuzz_region *r = region_at(img, addr);
        if (!r) return -1;
        uint64_t off = addr - r->addr;
        uint64_t n = r->size - off;
        if (n > len) n = len;
        uint64_t held = off < r->datalen ? r->datalen - off : 0;
        if (held > n) held = n;
        if (held) memcpy(out, r->data + off, held);
        memset(out + held, 0, n - held);
        out += n;
        addr += n;
        len -= n;
    }
    return 0;
}

bool fuzz_image_u64(const struct fuzz_image *img, uint64_t addr, uint64_t *out)
{
    return image_read((void *)img, addr, out, 8) == 0;
}

struct pyh_host_target fuzz_image_host(struct fuzz_image *img, bool label_bits)
{
    static const char *const names[] = {NULL, "[heap]", "[stack]", "/nonexistent/libc.so.6"};
    for (size_t i = 0; i < img->nregions; i++) {
        const struct fuzz_region *r = &img->regions[i];
        uint32_t prot = ((r->flags & 1) ? PROT_READ : 0) | ((r->flags & 2) ? PROT_WRITE : 0) |
                        ((r->flags & 4) ? PROT_EXEC : 0);
        img->maps[i] = (struct pyh_host_mapping){
            .start = r->addr,
            .end = r->addr + r->size,
            .prot = prot,
            .path = label_bits ? names[(r->flags >> 3) & 3] : NULL,
        };
    }
    struct pyh_host_target h = {
        .ctx = img,
        .read = image_read,
        .mappings = img->maps,
        .nmappings = img->nregions,
        .description = "fuzz image",
    };
    return h;
}

bool fuzz_runtime_open(struct fuzz_runtime *fr, struct fuzz_image *img, int minor, bool label_bits)
{
    memset(fr, 0, sizeof(*fr));
    struct pyh_host_target h = fuzz_image_host(img, label_bits);
    struct pyh_error *err = pyh_target_open_host(&h, &fr->diag, &fr->target);
    if (!err) err = pyh_images_load(fr->target, "", &fr->diag, &fr->images);
    if (err) {
        pyh_error_free(err);
        fuzz_runtime_close(fr);
        return false;
    }
    /* libpython without a file: symbols are what the caller puts in its map. */
    struct pyh_images *im = fr->images;
    struct pyh_module *mods = realloc(im->mods, (im->nmods + 1) * sizeof(*mods));
    if (!mods) {
        fuzz_runtime_close(fr);
        return false;
    }
    im->mods = mods;
    im->mods_cap = im->nmods + 1;
    struct pyh_module *mod = &im->mods[im->nmods++];
    memset(mod, 0, sizeof(*mod));
    char name[64];
    snprintf(name, sizeof(name), "/fuzz/libpython3.%d.so.1.0", minor);
    mod->path = strdup(name);
    mod->symbols_loaded = true;
    mod->debug_looked_up = true;

    struct pyh_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt || !mod->path || !pyh_layout_builtin(minor, &rt->layout)) {
        free(rt);
        fuzz_runtime_close(fr);
        return false;
    }
    rt->target = fr->target;
    rt->images = fr->images;
    rt->diag = &fr->diag;
    rt->major = 3;
    rt->minor = minor;
    rt->micro = 0;
    snprintf(rt->version, sizeof(rt->version), "3.%d", minor);
    rt->layout_source = PYH_LAYOUT_BUILTIN;
    rt->module = mod;
    rt->ninterps = 1;
    fr->rt = rt;
    return true;
}

void fuzz_runtime_close(struct fuzz_runtime *fr)
{
    pyh_runtime_free(fr->rt);
    pyh_images_free(fr->images);
    pyh_target_close(fr->target);
    pyh_diag_free(&fr->diag);
    memset(fr, 0, sizeof(*fr));
}

void fuzz_ignore(struct pyh_error *err) { pyh_error_free(err); }
