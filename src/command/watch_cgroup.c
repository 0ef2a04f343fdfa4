/* The memory cgroup of a watched process; see watch_cgroup.h. */
#include "command/watch_cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cgroup v1 writes "no limit" as the largest page-aligned counter: anything this large is
 * none. */
#define UNLIMITED (1ULL << 60)

/* A small file's first line, or false. */
static bool read_line(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f) return false;
    bool ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    if (ok) buf[strcspn(buf, "\n")] = 0;
    return ok;
}

/* A file holding one number (or "max": none, as 0 with *none set). */
static bool read_u64(const char *dir, const char *file, uint64_t *out, bool *none)
{
    char path[4200], line[64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (!read_line(path, line, sizeof(line))) return false;
    if (none) *none = strcmp(line, "max") == 0;
    if (none && *none) {
        *out = 0;
        return true;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(line, &end, 10);
    if (errno || end == line) return false;
    *out = v;
    return true;
}

/* "key value" lines (memory.events, memory.oom_control): the value of key. */
static bool read_key(const char *dir, const char *file, const char *key, uint64_t *out)
{
    char path[4200], line[256];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "re");
    if (!f) return false;
    bool found = false;
    size_t klen = strlen(key);
    while (!found && fgets(line, sizeof(line), f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
            found = sscanf(line + klen, "%llu", (unsigned long long *)out) == 1;
    fclose(f);
    return found;
}

/* The mount point of the hierarchy (cgroup2, or cgroup v1 with the memory controller) and
 * the root of the hierarchy it shows, from /proc/self/mountinfo. */
static bool find_mount(int version, char *mount, size_t mcap, char *root, size_t rcap)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) return false;
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        /* id parent dev root mountpoint options [optional...] - fstype source superoptions */
        char r[4096], m[4096];
        if (sscanf(line, "%*s %*s %*s %4095s %4095s", r, m) != 2) continue;
        char *sep = strstr(line, " - ");
        if (!sep) continue;
        char fstype[64], source[256], super[1024] = "";
        if (sscanf(sep + 3, "%63s %255s %1023s", fstype, source, super) < 2) continue;
        if (version == 2 ? strcmp(fstype, "cgroup2") != 0 : strcmp(fstype, "cgroup") != 0) continue;
        if (version == 1) {
            bool memory = false;
            for (char *tok = strtok(super, ","); tok && !memory; tok = strtok(NULL, ","))
                memory = strcmp(tok, "memory") == 0;
            if (!memory) continue;
        }
        snprintf(mount, mcap, "%s", m);
        snprintf(root, rcap, "%s", r);
        found = true;
    }
    fclose(f);
    return found;
}

/* The group's directory: the mount point joined with the group's path below the mount's
 * root. */
static bool group_dir(int version, const char *name, char *dir, size_t cap)
{
    char mount[4096], root[4096];
    if (!find_mount(version, mount, sizeof(mount), root, sizeof(root))) return false;
    const char *rel = name;
    size_t rlen = strcmp(root, "/") == 0 ? 0 : strlen(root);
    if (rlen && strncmp(name, root, rlen) == 0) rel = name + rlen;
    snprintf(dir, cap, "%s%s", mount, strcmp(rel, "/") == 0 ? "" : rel);
    return access(dir, R_OK) == 0;
}

/* The smallest limit of dir and its ancestors up to the mount (file: memory.max or
 * memory.limit_in_bytes); 0 when none. */
static uint64_t effective_limit(const char *dir, const char *file)
{
    char d[4096];
    snprintf(d, sizeof(d), "%s", dir);
    uint64_t best = 0;
    for (;;) {
        uint64_t v;
        bool none = false;
        if (read_u64(d, file, &v, &none) && !none && v && v < UNLIMITED && (!best || v < best))
            best = v;
        char *slash = strrchr(d, '/');
        if (!slash || slash == d) break;
        *slash = 0;
        /* above the hierarchy's mount there is no such file: stop there */
        char probe[4200];
        snprintf(probe, sizeof(probe), "%s/cgroup.procs", d);
        if (access(probe, F_OK) != 0) break;
    }
    return best;
}

static void read_psi(struct pyh_cgroup *cg)
{
    cg->psi_known = false;
    if (!cg->psi[0]) return;
    FILE *f = fopen(cg->psi, "re");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        double v;
        if (sscanf(line, "some avg10=%lf", &v) == 1) {
            cg->psi_some10 = v;
            cg->psi_known = true;
        } else if (sscanf(line, "full avg10=%lf", &v) == 1) {
            cg->psi_full10 = v;
        }
    }
    fclose(f);
}

bool pyh_cgroup_read(struct pyh_cgroup *cg)
{
    if (cg->version == 2) {
        if (!read_u64(cg->dir, "memory.current", &cg->current, NULL)) return false;
        read_key(cg->dir, "memory.events", "oom", &cg->oom);
        read_key(cg->dir, "memory.events", "oom_kill", &cg->oom_kill);
    } else if (cg->version == 1) {
        if (!read_u64(cg->dir, "memory.usage_in_bytes", &cg->current, NULL)) return false;
        read_u64(cg->dir, "memory.failcnt", &cg->oom, NULL);
        read_key(cg->dir, "memory.oom_control", "oom_kill", &cg->oom_kill);
    } else {
        return false;
    }
    read_psi(cg);
    return true;
}

bool pyh_cgroup_find(int pid, struct pyh_cgroup *cg)
{
    memset(cg, 0, sizeof(*cg));
    char path[64], line[4096], v2[1024] = "", v1[1024] = "";
    snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
    FILE *f = fopen(path, "re");
    if (!f) return false;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        /* hierarchy-id:controllers:path */
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c2 = 0;
        if (strcmp(line, "0") == 0 && c1[1] == 0) snprintf(v2, sizeof(v2), "%s", c2 + 1);
        for (char *tok = strtok(c1 + 1, ","); tok; tok = strtok(NULL, ","))
            if (strcmp(tok, "memory") == 0) snprintf(v1, sizeof(v1), "%s", c2 + 1);
    }
    fclose(f);
    char v2dir[4096] = "";
    bool have_v2 = v2[0] && group_dir(2, v2, v2dir, sizeof(v2dir));
    /* v2 counts only where its memory controller is enabled (the group has memory.current);
     * on a hybrid host memory is v1's. */
    char probe[4200];
    snprintf(probe, sizeof(probe), "%s/memory.current", v2dir);
    if (have_v2 && access(probe, R_OK) == 0) {
        cg->version = 2;
        snprintf(cg->name, sizeof(cg->name), "%s", v2);
        snprintf(cg->dir, sizeof(cg->dir), "%s", v2dir);
        cg->limit = effective_limit(v2dir, "memory.max");
    } else if (v1[0] && group_dir(1, v1, cg->dir, sizeof(cg->dir))) {
        cg->version = 1;
        snprintf(cg->name, sizeof(cg->name), "%s", v1);
        cg->limit = effective_limit(cg->dir, "memory.limit_in_bytes");
    }
    /* Pressure: the v2 group's own, else the machine's. */
    snprintf(probe, sizeof(probe), "%s/memory.pressure", v2dir);
    if (have_v2 && access(probe, R_OK) == 0)
        snprintf(cg->psi, sizeof(cg->psi), "%s", probe);
    else if (access("/proc/pressure/memory", R_OK) == 0)
        snprintf(cg->psi, sizeof(cg->psi), "/proc/pressure/memory");
    if (cg->version && !pyh_cgroup_read(cg)) cg->version = 0;
    return true;
}
