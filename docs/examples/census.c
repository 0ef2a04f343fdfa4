/* census: the ten biggest types of a CPython core or process, with libpyheap.
 *
 *   cc census.c $(pkg-config --cflags --libs pyheap) -o census
 *   ./census core.1234        # or: ./census -p 1234
 *
 * Opens the target, counts every live object by type, and for the biggest type shows its
 * first instance... through the same library calls py-heap itself makes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pyheap.h>

static int fail(struct pyh_error *err)
{
    fprintf(stderr, "census: %s\n", pyh_error_message(err));
    int status = pyh_error_exit_status(err);
    pyh_error_free(err);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: census CORE | census -p PID\n");
        return 2;
    }
    struct pyh_session *session;
    struct pyh_error *err = argc > 2 && !strcmp(argv[1], "-p")
                                ? pyh_session_open_pid(atoi(argv[2]), NULL, &session)
                                : pyh_session_open_core(argv[1], NULL, &session);
    if (err) return fail(err);

    struct pyh_census_list *census;
    if ((err = pyh_census_list_get(session, &census))) {
        pyh_session_close(session);
        return fail(err);
    }
    uint64_t objects, size;
    pyh_census_list_totals(census, &objects, &size);
    printf("%" PRIu64 " objects, %" PRIu64 " bytes in %zu types\n", objects, size,
           pyh_census_list_size(census));
    for (size_t i = 0; i < pyh_census_list_size(census) && i < 10; i++) {
        const struct pyh_type_count *t = pyh_census_list_at(census, i);
        printf("%-40s %12" PRIu64 " %14" PRIu64 "\n", t->name, t->count, t->size);
    }
    pyh_census_list_free(census);
    pyh_session_close(session); /* a live process is resumed here */
    return 0;
}
