/* Local files standing for the files a target maps: where to find them (--exe, --sysroot,
 * --lib-path, the original path) and which candidate is the right one (its build-id). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/elf_util.h"
#include "target/internal.h"
#include "util/mem.h"

const char *pyh_file_kind(mode_t mode)
{
    return S_ISDIR(mode)                     ? " (a directory)"
           : S_ISFIFO(mode)                  ? " (a FIFO)"
           : S_ISCHR(mode) || S_ISBLK(mode) ? " (a device)"
           : S_ISSOCK(mode)                  ? " (a socket)"
                                             : "";
}

struct pyh_error *pyh_local_file_open(const char *path, const char *target_path,
                                      struct pyh_local_file **out)
{
    /* O_NONBLOCK and fstat before any read: a path named by a core (or by the user) may be
     * a FIFO or a device, and open() of a FIFO with no writer blocks forever. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return pyh_error_errno(errno, "cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return pyh_error_errno(e, "cannot stat %s", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pyh_error_create(PYH_ERR_FORMAT, "%s is not a regular file%s", path,
                                pyh_file_kind(st.st_mode));
    }
    struct pyh_local_file *f = calloc(1, sizeof(*f));
    if (!f) {
        close(fd);
        return pyh_error_nomem();
    }
    f->size = (size_t)st.st_size;
    if (f->size > 0) {
        /* Private and writable because libelf may convert data in place; no page is ever
         * written for native-endian files, so this costs address space only. */
        void *p = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(f);
            return pyh_error_errno(e, "cannot map %s", path);
        }
        f->data = p;
    }
    close(fd);
    f->path = pyh_strdup(path);
    f->target_path = pyh_strdup(target_path ? target_path : path);
    if (!f->path || !f->target_path) {
        pyh_local_file_free(f);
        return pyh_error_nomem();
    }
    pyh_elf_init();
    if (f->size >= 4 && memcmp(f->data, "\177ELF", 4) == 0) {
        Elf *elf = elf_memory((char *)f->data, f->size);
        if (elf && elf_kind(elf) == ELF_K_ELF) {
            f->elf = elf;
            f->build_id_len = pyh_elf_file_build_id(elf, f->build_id, sizeof(f->build_id));
        } else if (elf) {
            elf_end(elf);
        }
    }
    *out = f;
    return NULL;
}

struct pyh_error *pyh_file_search_check(const struct pyh_file_search *search)
{
    if (!search || !search->exe) return NULL;
    struct pyh_local_file *f = NULL;
    struct pyh_error *err = pyh_local_file_open(search->exe, NULL, &f);
    if (err) {
        struct pyh_error *e = pyh_error_create(pyh_error_code(err) == PYH_ERR_FORMAT
                                                   ? PYH_ERR_FORMAT : PYH_ERR_NOT_FOUND,
                                               "--exe: %s", pyh_error_message(err));
        pyh_error_free(err);
        return e;
    }
    bool elf = f->elf != NULL;
    pyh_local_file_free(f);
    return elf ? NULL : pyh_error_create(PYH_ERR_FORMAT, "--exe: %s is not an ELF file",
                                         search->exe);
}

void pyh_local_file_free(struct pyh_local_file *f)
{
    if (!f) return;
    if (f->elf) elf_end(f->elf);
    if (f->data) munmap((void *)f->data, f->size);
    free(f->path);
    free(f->target_path);
    free(f);
}

Elf *pyh_local_file_elf(struct pyh_local_file *f) { return f ? f->elf : NULL; }

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The candidate paths for target_path, in order of preference. Returns how many. */
static size_t candidates(const struct pyh_file_search *search, const char *target_path,
                         bool is_exe, char **out, size_t cap)
{
    size_t n = 0;
    if (is_exe && search->exe && n < cap) out[n++] = pyh_strdup(search->exe);
    if (search->sysroot && *search->sysroot && n < cap) {
        char *p = NULL;
        if (asprintf(&p, "%s%s%s", search->sysroot, target_path[0] == '/' ? "" : "/",
                     target_path) >= 0)
            out[n++] = p;
    }
    if (search->lib_path && *search->lib_path) {
        const char *dirs = search->lib_path;
        while (*dirs && n < cap) {
            size_t len = strcspn(dirs, ":");
            if (len > 0) {
                char *p = NULL;
                if (asprintf(&p, "%.*s/%s", (int)len, dirs, base_name(target_path)) >= 0)
                    out[n++] = p;
            }
            dirs += len;
            if (*dirs == ':') dirs++;
        }
    }
    if (n < cap) out[n++] = pyh_strdup(target_path);
    return n;
}

struct pyh_local_file *pyh_target_find_file(struct pyh_target *t,
                                            const struct pyh_file_search *search,
                                            const char *target_path, bool is_exe,
                                            const uint8_t *want, size_t want_len, bool needed)
{
    for (size_t i = 0; i < t->nfiles; i++)
        if (strcmp(t->files[i]->target_path, target_path) == 0) return t->files[i];

    char *paths[64];
    size_t npaths = candidates(search, target_path, is_exe, paths, 64);
    struct pyh_local_file *chosen = NULL, *fallback = NULL;
    size_t chosen_at = npaths;
    for (size_t i = 0; i < npaths && !chosen; i++) {
        if (!paths[i]) continue;
        struct pyh_local_file *f = NULL;
        struct pyh_error *err = pyh_local_file_open(paths[i], target_path, &f);
        if (err) {
            /* A path that exists but cannot be used (a FIFO, a directory, no permission)
             * is worth a warning; one that does not exist is the ordinary case. */
            if (pyh_error_code(err) == PYH_ERR_FORMAT && !t->unusable) {
                t->unusable = pyh_strdup(pyh_error_message(err));
                pyh_diag_warn(t->diag, "%s: not used", pyh_error_message(err));
            }
            pyh_error_free(err);
            continue;
        }
        bool matches = want_len == 0 || (f->build_id_len == want_len &&
                                         memcmp(f->build_id, want, want_len) == 0);
        if (matches) {
            chosen = f;
            chosen_at = i;
        }
        else if (!fallback)
            fallback = f;
        else
            pyh_local_file_free(f);
    }
    for (size_t i = 0; i < npaths; i++) free(paths[i]);

    /* An --exe the user named that is not the target's executable must not be dropped in
     * silence for the file the target recorded: say which was used, and why. */
    char want_hex[130], have_hex[130];
    if (is_exe && search->exe && chosen && chosen_at > 0)
        pyh_diag_warn(t->diag,
                      "--exe %s is not the executable of this target (its build-id is not %s): "
                      "using %s instead",
                      search->exe, pyh_build_id_hex(want, want_len, want_hex, sizeof(want_hex)),
                      chosen->path);

    if (!chosen && fallback) {
        char *warning = NULL;
        if ((needed || is_exe) &&
            asprintf(&warning,
                     "build-id mismatch for %s: the core recorded %s but %s has %s; results "
                     "may be wrong (use --sysroot or --lib-path to point at the right file)",
                     target_path, pyh_build_id_hex(want, want_len, want_hex, sizeof(want_hex)),
                     fallback->path,
                     fallback->build_id_len
                         ? pyh_build_id_hex(fallback->build_id, fallback->build_id_len, have_hex,
                                            sizeof(have_hex))
                         : "none") >= 0) {
            pyh_diag_warn(t->diag, "%s", warning);
            /* Also on the target: if the runtime then does not check out, the mismatch is
             * the likely cause and goes on the error line (pyh_target_explain). */
            t->nmismatches++;
            if (!t->mismatch) t->mismatch = warning;
            else free(warning);
        }
        chosen = fallback;
    } else if (fallback) {
        pyh_local_file_free(fallback);
    }
    if (!chosen) {
        if (needed)
            pyh_diag_warn(t->diag,
                          "cannot find %s, mapped by the target: memory the core does not "
                          "hold for it is unreadable (use --sysroot or --lib-path)",
                          target_path);
        return NULL;
    }
    if (PYH_APPEND(t->files, t->nfiles, t->files_cap, &chosen)) {
        pyh_local_file_free(chosen);
        return NULL;
    }
    return chosen;
}
