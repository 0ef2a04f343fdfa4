/* Snapshots: the small summary of a heap that outlives the core — census by type,
 * fragmentation totals, top retainers — and what compares them: diff (two snapshots) and
 * trend (three or more: growing, plateau, transient or stable). */
#ifndef PYH_ANALYSIS_SNAPSHOT_H
#define PYH_ANALYSIS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/trend.h"
#include "util/error.h"

#define PYH_SNAPSHOT_VERSION 1

struct pyh_snapshot_type {
    char *name;
    uint64_t count, size;
};

struct pyh_snapshot_retainer {
    char *path, *type;
    uint64_t retained_size, retained_count;
};

struct pyh_snapshot {
    char *source;        /* the file it was read from, or the target it was taken of */
    double time;         /* seconds since the epoch when taken (core: the core's mtime) */
    int64_t pid;         /* -1 when unknown */
    char python[32];     /* "3.11.7" */
    char *executable;    /* the target's executable as it names it; NULL when unknown */
    char build_id[129];  /* the executable's build ID in hex; "" when unknown */
    int64_t resident;    /* bytes, -1 when unknown */
    /* The heap was read only in part (a truncated core, an allocator that could not be
     * walked): the counts are lower bounds, and a type missing here may not be freed. */
    bool partial;
    char *partial_reason;            /* owned; why, or NULL (an old file, or not partial) */
    struct pyh_snapshot_type *types; /* owned, sorted by size, largest first */
    size_t ntypes, types_cap;
    uint64_t objects, objects_size;
    struct {
        uint64_t heap_total, pymalloc_used, pymalloc_free, glibc_used, glibc_free, mmapped;
        uint64_t pymalloc_arenas;
        char *verdict;
    } frag;
    struct pyh_snapshot_retainer *retainers; /* owned; empty when not computed */
    size_t nretainers, retainers_cap;
    /* The collector (gc_view.h): its state, and the GC backlog when the graph was built
     * (not with --no-retainers): cyclic garbage by type (count, size = bytes). */
    struct {
        bool known, enabled, garbage_known;
        int32_t count[3], threshold[3];
        uint64_t garbage_count, garbage_bytes;
        struct pyh_snapshot_type *types; /* owned; most bytes first */
        size_t ntypes, types_cap;
    } gc;
};

void pyh_snapshot_free(struct pyh_snapshot *s);

/* Puts snaps in time order. Stable, so that inputs with the same time (two cores from one
 * second on a file system without sub-second times) keep the order they were given in;
 * qsort makes no such promise. n is small (the command line's inputs): insertion sort. */
void pyh_snapshots_sort_by_time(struct pyh_snapshot **snaps, size_t n);

/* Whether the snapshots come from more than one executable, Python version or process: a
 * comparison of those is of different programs, not of one heap over time. NULL when they
 * agree (what is unknown agrees with anything); otherwise a malloc'ed sentence naming what
 * differs and each input ("s1.json: process 12 (/usr/bin/python3.12, Python 3.12.1)"). */
char *pyh_snapshots_mixed(struct pyh_snapshot *const *snaps, size_t n);

/* "process 12, /usr/bin/python3.12, Python 3.12.1" into buf. */
const char *pyh_snapshot_identity(const struct pyh_snapshot *s, char *buf, size_t cap);

/* One line of a diff or trend: a type or retainer across snapshots. */
struct pyh_series {
    const char *name;   /* borrowed from a snapshot */
    const char *type;   /* retainers: the retainer's type; NULL for types */
    uint64_t *count;    /* one per snapshot (0 when absent) */
    uint64_t *size;
    /* Retainers: in how many snapshots it was among the top retainers. One that is absent
     * was not freed, only not in the top list: it is judged on the snapshots it is in. */
    size_t present;
    enum pyh_trend_class cls;                     /* stats.cls, or PYH_TREND_GC_BACKLOG */
    uint64_t *garbage;                            /* types: cyclic garbage bytes per snapshot */
    struct pyh_trend_stats stats;                 /* of size (bytes), over time */
    double growth_per_snapshot, growth_per_hour; /* of size, bytes: first to last; Theil–Sen */
};

/* Aligns the types (retainers when retainers is true) of n snapshots (in time order) by
 * name, sorted by size growth from the first to the last, largest first. *out is malloc'ed;
 * free with pyh_series_free. Judges each (trend.h) against the largest heap of the
 * snapshots. */
struct pyh_error *pyh_series_build(struct pyh_snapshot *const *snaps, size_t n, bool retainers,
                                   struct pyh_series **out, size_t *nseries);

void pyh_series_free(struct pyh_series *s, size_t n);

#endif
