/* Read-ahead for a pass over views (pyh_target_view): a helper thread maps the pages of the
 * ranges a few ahead of the pass and loads a byte of each cache line, so that the page faults
 * of a core's mapping and the wait for memory (together about as long as the classification
 * itself on a 1.6 GiB core) are taken on the other core, and the pass finds the lines in the
 * shared last-level cache (8 MiB here: two 1 MiB arenas ahead fit). The helper only reads a
 * read-only mapping and asks the kernel to fill its page tables: it takes no lock of
 * py-heap's and touches no state but its own, so the pass needs no care beyond saying where
 * it is. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "target/target.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

#define PAGE 4096u
#define LINE 64u

struct pyh_readahead {
    struct pyh_target *t;
    const struct pyh_range *ranges;
    size_t n, ahead;
    bool lines; /* also load a byte of each cache line, for a pass that reads them all */
    atomic_size_t at;   /* the pass is at range `at` */
    atomic_bool stop;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t moved; /* `at` moved or stop was set */
};

static void populate(struct pyh_target *t, const struct pyh_range *r, bool lines)
{
    const uint8_t *p = pyh_target_view(t, r->start, (size_t)(r->end - r->start));
    if (!p) return;
    uintptr_t from = (uintptr_t)p & ~(uintptr_t)(PAGE - 1);
    uintptr_t to = ((uintptr_t)p + (r->end - r->start) + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    /* One call for the page tables (an older kernel without it: the loads fault them in). */
    if (madvise((void *)from, to - from, MADV_POPULATE_READ) == 0 && !lines) return;
    for (uintptr_t a = (uintptr_t)p; a < (uintptr_t)p + (r->end - r->start); a = (a | ((lines ? LINE : PAGE) - 1)) + 1)
        (void)*(const volatile uint8_t *)a;
}

static void *run(void *arg)
{
    struct pyh_readahead *ra = arg;
    for (size_t i = 1; i < ra->n && !atomic_load(&ra->stop); i++) {
        pthread_mutex_lock(&ra->lock);
        while (!atomic_load(&ra->stop) && i > atomic_load(&ra->at) + ra->ahead)
            pthread_cond_wait(&ra->moved, &ra->lock);
        pthread_mutex_unlock(&ra->lock);
        /* Behind the pass (which faulted those pages in itself, and gave them back): go on
         * from just ahead of it, never map what it has left. */
        size_t at = atomic_load(&ra->at);
        if (i <= at) i = at + 1;
        if (i >= ra->n || atomic_load(&ra->stop)) break;
        populate(ra->t, &ra->ranges[i], ra->lines);
        /* The pass went past it meanwhile, and gave its pages back before they came: give
         * them back again, or they would stay in the resident set to the end. */
        if (atomic_load(&ra->at) > i) {
            const struct pyh_range *r = &ra->ranges[i];
            pyh_target_view_release(ra->t, r->start, (size_t)(r->end - r->start));
        }
    }
    return NULL;
}

struct pyh_readahead *pyh_target_readahead_start(struct pyh_target *t, const struct pyh_range *ranges,
                                                 size_t n, size_t ahead, bool lines)
{
    /* Only a view whose pages come and go (a core's mapping) has faults to take ahead. */
    if (n < 2 || !t->ops->view || !t->ops->view_release) return NULL;
    struct pyh_readahead *ra = calloc(1, sizeof(*ra));
    if (!ra) return NULL;
    *ra = (struct pyh_readahead){.t = t, .ranges = ranges, .n = n, .ahead = ahead ? ahead : 1, .lines = lines};
    atomic_init(&ra->at, 0);
    atomic_init(&ra->stop, false);
    pthread_mutex_init(&ra->lock, NULL);
    pthread_cond_init(&ra->moved, NULL);
    /* Signals (Ctrl-C, SIGTERM) stay the main thread's: the helper blocks them all. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&ra->thread, NULL, run, ra);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) { /* no thread: the pass faults its pages in itself */
        pthread_cond_destroy(&ra->moved);
        pthread_mutex_destroy(&ra->lock);
        free(ra);
        return NULL;
    }
    return ra;
}

void pyh_target_readahead_at(struct pyh_readahead *ra, size_t i)
{
    if (!ra) return;
    pthread_mutex_lock(&ra->lock);
    atomic_store(&ra->at, i);
    pthread_cond_signal(&ra->moved);
    pthread_mutex_unlock(&ra->lock);
}

void pyh_target_readahead_stop(struct pyh_readahead *ra)
{
    if (!ra) return;
    pthread_mutex_lock(&ra->lock);
    atomic_store(&ra->stop, true);
    pthread_cond_signal(&ra->moved);
    pthread_mutex_unlock(&ra->lock);
    pthread_join(ra->thread, NULL);
    pthread_cond_destroy(&ra->moved);
    pthread_mutex_destroy(&ra->lock);
    free(ra);
}
