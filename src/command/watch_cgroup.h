/* The memory cgroup of a watched process: its limit, its usage, the OOM killer's count, and
 * memory pressure. In a container the limit that matters is the cgroup's, the OOM killer acts
 * on its usage, and an OOM kill is a SIGKILL that leaves no core: `watch` has to act before.
 *
 * Found from /proc/PID/cgroup and this process's /proc/self/mountinfo: cgroup v2 (memory.max,
 * memory.current, memory.events' oom and oom_kill, memory.pressure), else cgroup v1's memory
 * controller (memory.limit_in_bytes, memory.usage_in_bytes, memory.oom_control's oom_kill,
 * memory.failcnt; pressure from the v2 group's memory.pressure or /proc/pressure/memory). The
 * limit is the effective one: the smallest of the group's and its ancestors'. */
#ifndef PYH_COMMAND_WATCH_CGROUP_H
#define PYH_COMMAND_WATCH_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

struct pyh_cgroup {
    int version;            /* 2 or 1; 0 when the process has no memory cgroup py-heap can read */
    char name[1024];        /* the group as /proc/PID/cgroup names it */
    char dir[4096];         /* its directory here */
    char psi[4256];         /* the memory pressure file, "" when none */
    uint64_t limit;         /* the effective limit, bytes; 0 when none */
    uint64_t current;       /* usage, bytes */
    uint64_t oom, oom_kill; /* times the limit was hit / processes the OOM killer killed */
    bool psi_known;
    double psi_some10, psi_full10; /* avg10 of "some" and "full", percent */
};

/* Finds pid's memory cgroup (cg->version 0 when there is none) and reads it once. Returns
 * false only when the process is gone. */
bool pyh_cgroup_find(int pid, struct pyh_cgroup *cg);

/* Reads usage, the OOM counts and pressure again; false when the group's files are gone. */
bool pyh_cgroup_read(struct pyh_cgroup *cg);

#endif
