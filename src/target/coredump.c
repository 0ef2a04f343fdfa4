/* Finding a core in systemd-coredump's store, as `coredumpctl` would list it.
 *
 * systemd-coredump writes each core as core.COMM.UID.BOOT_ID.PID.USEC[.zst|.xz|.lz4] in
 * /var/lib/systemd/coredump (COMM with '.', '/' and other bytes escaped as \xNN), and puts
 * its metadata in extended attributes of the file (user.coredump.pid, .comm, .exe, .uid,
 * .timestamp, ...) besides the journal. coredumpctl reads the journal; py-heap reads the
 * store itself — the file names and their attributes — so that it works where the journal
 * is not readable (a container, a copy of the store) and needs no systemd at all. */
#include "target/core_input.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "util/mem.h"

#define MAX_ENTRIES 100000 /* a store larger than this is not read further */

/* One core of the store. */
struct entry {
    char comm[256];
    char exe[4096];
    long pid;
    unsigned long long usec;
};

/* "\x2e" escapes back to bytes (systemd's xescape), in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        unsigned v;
        if (r[0] == '\\' && r[1] == 'x' && sscanf(r + 2, "%2x", &v) == 1 && r[2] && r[3]) {
            *w++ = (char)v;
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* An attribute of the file as text ("" when absent). */
static void attribute(const char *path, const char *name, char *buf, size_t cap)
{
    ssize_t n = getxattr(path, name, buf, cap - 1);
    buf[n > 0 ? (size_t)n : 0] = '\0';
}

/* Reads name (a file of the store) into e; false when it is not named like a core. */
static bool parse_entry(const char *dir, const char *name, struct entry *e)
{
    if (strncmp(name, "core.", 5) != 0) return false;
    /* From the end: [.ext] USEC PID BOOT_ID UID, the rest is COMM (which may hold dots only
     * escaped, but be lenient). */
    char copy[512];
    snprintf(copy, sizeof(copy), "%s", name + 5);
    char *fields[6];
    int n = 0;
    char *end = copy + strlen(copy);
    char *dot;
    while (n < 6 && (dot = memrchr(copy, '.', (size_t)(end - copy)))) {
        *dot = '\0';
        fields[n++] = dot + 1;
        end = dot;
    }
    /* fields[0] is the extension when not all digits. */
    int k = 0;
    if (n > 0 && strspn(fields[0], "0123456789") != strlen(fields[0])) k = 1;
    if (n - k < 4) return false;
    char *usec = fields[k], *pid = fields[k + 1];
    if (!*usec || !*pid || strspn(usec, "0123456789") != strlen(usec) ||
        strspn(pid, "0123456789") != strlen(pid))
        return false;
    memset(e, 0, sizeof(*e));
    e->usec = strtoull(usec, NULL, 10);
    e->pid = strtol(pid, NULL, 10);
    /* COMM is everything before the UID field. */
    snprintf(e->comm, sizeof(e->comm), "%.255s", copy);
    unescape(e->comm);
    /* The attributes, when the file system kept them, are systemd's own record. */
    char path[4096 + 512], value[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    attribute(path, "user.coredump.pid", value, sizeof(value));
    if (*value) e->pid = strtol(value, NULL, 10);
    attribute(path, "user.coredump.comm", value, sizeof(value));
    if (*value) snprintf(e->comm, sizeof(e->comm), "%.255s", value);
    attribute(path, "user.coredump.exe", e->exe, sizeof(e->exe));
    attribute(path, "user.coredump.timestamp", value, sizeof(value));
    if (*value) e->usec = strtoull(value, NULL, 10);
    return true;
}

/* MATCH as coredumpctl takes it: a PID, a path of the executable, or a command name. */
static bool matches(const struct entry *e, const char *match)
{
    if (strspn(match, "0123456789") == strlen(match)) return e->pid == strtol(match, NULL, 10);
    if (match[0] == '/') return strcmp(e->exe, match) == 0;
    const char *base = strrchr(e->exe, '/');
    return strcmp(e->comm, match) == 0 || (base && strcmp(base + 1, match) == 0);
}

struct pyh_error *pyh_coredump_find(const char *match, char **path, char **exe)
{
    *path = NULL;
    if (exe) *exe = NULL;
    const char *dir = getenv("PYHEAP_COREDUMP_DIR");
    if (!dir || !*dir) dir = "/var/lib/systemd/coredump";
    DIR *d = opendir(dir);
    if (!d)
        return pyh_error_errno(errno, "cannot read systemd-coredump's store %s%s", dir,
                               errno == EACCES ? " (run as root, or as a member of the "
                                                 "systemd-journal group)"
                                               : "");
    struct entry best = {0}, e;
    char best_name[512] = "";
    size_t seen = 0, total = 0;
    struct dirent *de;
    while ((de = readdir(d)) && total++ < MAX_ENTRIES) {
        if (!parse_entry(dir, de->d_name, &e)) continue;
        seen++;
        if (!matches(&e, match)) continue;
        if (!*best_name || e.usec > best.usec) {
            best = e;
            snprintf(best_name, sizeof(best_name), "%s", de->d_name);
        }
    }
    closedir(d);
    /* The loop counts one entry past the cap when it stops there. */
    char capped[64] = "";
    if (total > MAX_ENTRIES)
        snprintf(capped, sizeof(capped), " in the first %d entries, the rest not read",
                 MAX_ENTRIES);
    if (!*best_name)
        return pyh_error_create(PYH_ERR_NOT_FOUND,
                                "no core in systemd-coredump's store %s matches '%s' (%zu cores "
                                "there%s; MATCH is a PID, a command name or the executable's path)",
                                dir, match, seen, capped);
    if (asprintf(path, "%s/%s", dir, best_name) < 0) {
        *path = NULL;
        return pyh_error_nomem();
    }
    if (exe && best.exe[0] && !(*exe = pyh_strdup(best.exe))) {
        free(*path);
        *path = NULL;
        return pyh_error_nomem();
    }
    return NULL;
}
