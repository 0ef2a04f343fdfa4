/* The host target: memory read through a callback and mappings described by the host (the
 * gdb extension reading an inferior that is neither a plain process nor a core, e.g.
 * gdbserver or rr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/internal.h"
#include "util/mem.h"
#include "util/progress.h"

struct host_state {
    void *ctx;
    int (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
    char *smaps; /* the host's /proc/PID/smaps text, NULL when it has none */
};

/* Whether [addr, addr + len) lies in readable mappings, one after the other. */
static bool readable(const struct pyh_target *t, uint64_t addr, size_t len)
{
    uint64_t end = addr + len;
    if (end < addr) return false; /* past the top of the address space */
    while (addr < end) {
        const struct pyh_mapping *m = pyh_target_mapping_at(t, addr);
        if (!m || !(m->prot & PYH_PROT_R)) return false;
        addr = m->end;
    }
    return true;
}

static struct pyh_error *host_read(struct pyh_target *t, uint64_t addr, void *buf, size_t len)
{
    struct host_state *h = t->impl;
    /* Only what the process itself can read, as the CLI's reads (process_vm_readv) are. A
     * debugger reads through ptrace or /proc/PID/mem, which read PROT_NONE pages too (a
     * thread stack's guard page): that would fault a page into the process, and a failed
     * read is better found here than after a round trip. Hosts that give no mappings (tests)
     * are read as they are. */
    if (t->nmaps && !readable(t, addr, len))
        return pyh_error_create(PYH_ERR_FAULT, "cannot read %zu bytes at 0x%llx in %s: not in "
                                "a readable mapping", len, (unsigned long long)addr,
                                t->description);
    if (h->read(h->ctx, addr, buf, len) != 0)
        return pyh_error_create(PYH_ERR_FAULT, "cannot read %zu bytes at 0x%llx in %s", len,
                                (unsigned long long)addr, t->description);
    return NULL;
}

static void host_close(struct pyh_target *t)
{
    struct host_state *h = t->impl;
    if (h) free(h->smaps);
    free(h);
    t->impl = NULL;
}

/* Through gdbserver or rr nothing tells pages apart: the host's smaps text gives each
 * mapping's Rss, no more. */
static struct pyh_error *host_residency(struct pyh_target *t, struct pyh_residency *out)
{
    struct host_state *h = t->impl;
    out->source = "smaps";
    out->how = "Rss from smaps; the parts estimated";
    out->by_page = false;
    if (!h->smaps)
        return pyh_error_create(PYH_ERR_UNSUPPORTED, "%s cannot tell its resident memory",
                                t->description);
    FILE *f = fmemopen(h->smaps, strlen(h->smaps), "r");
    if (!f) return pyh_error_nomem();
    pyh_target_parse_smaps(t, f);
    fclose(f);
    return NULL;
}

static const struct pyh_target_ops host_ops = {
    .read = host_read,
    .cached = true, /* each host read is a round trip through gdb */
    .cache_all = true,
    .close = host_close,
    .residency = host_residency,
};

struct pyh_error *pyh_target_open_host(const struct pyh_host_target *host,
                                       struct pyh_diag *diag, struct pyh_target **out)
{
    return pyh_target_open_host_in(host, NULL, diag, out);
}

struct pyh_error *pyh_target_open_host_in(const struct pyh_host_target *host,
                                          const struct pyh_file_search *search,
                                          struct pyh_diag *diag, struct pyh_target **out)
{
    *out = NULL;
    if (!host || !host->read)
        return pyh_error_create(PYH_ERR_USAGE, "host target without a read function");
    struct pyh_target *t = pyh_target_alloc(PYH_TARGET_HOST, &host_ops, diag);
    struct host_state *h = calloc(1, sizeof(*h));
    if (!t || !h) {
        free(t);
        free(h);
        return pyh_error_nomem();
    }
    h->ctx = host->ctx;
    h->read = host->read;
    t->impl = h;
    t->pid = host->pid;
    t->stopped = host->stopped;
    t->captured_at = pyh_realtime();
    struct pyh_error *err = NULL;
    if (host->smaps && !(h->smaps = pyh_strdup(host->smaps))) {
        err = pyh_error_nomem();
        goto fail;
    }
    t->description = pyh_strdup(host->description ? host->description : "host target");
    if (!t->description) {
        err = pyh_error_nomem();
        goto fail;
    }
    if (host->exe_path && !(t->exe_path = pyh_strdup(host->exe_path))) {
        err = pyh_error_nomem();
        goto fail;
    }
    if ((err = pyh_target_init_cache(t, PYH_HOST_CACHE_SLOTS))) goto fail;
    for (size_t i = 0; i < host->nmappings && !err; i++) {
        const struct pyh_host_mapping *m = &host->mappings[i];
        if (m->end <= m->start) continue;
        const char *path = m->path && m->path[0] == '/' ? m->path : NULL;
        const char *label = m->path && m->path[0] && m->path[0] != '/' ? m->path : NULL;
        err = pyh_target_add_map(t, m->start, m->end, m->offset, m->prot, path, label);
    }
    if (err) goto fail;
    pyh_target_sort_maps(t);
    for (size_t i = 0; i < host->nthreads && !err; i++) {
        struct pyh_thread th = {.tid = host->threads[i].tid, .has_regs = true,
                                .rip = host->threads[i].rip, .rsp = host->threads[i].rsp,
                                .fs_base = host->threads[i].fs_base};
        err = PYH_APPEND(t->threads, t->nthreads, t->threads_cap, &th);
    }
    if (err) goto fail;
    struct pyh_file_search none = {0};
    if (!search) search = &none;
    for (size_t i = 0; i < t->nmaps; i++)
        if (t->maps[i].path)
            t->maps[i].file = pyh_target_find_file(t, search, t->maps[i].path, false, NULL, 0, false);
    *out = t;
    return NULL;
fail:
    pyh_target_close(t);
    return err;
}
