/* Fuzz target (h): the snapshot reader. The input is one to three snapshot files (JSON
 * written by `py-heap snapshot`) separated by NUL bytes. Each is loaded with
 * pyh_snapshot_load; the snapshots that load are then used as every report that reads
 * snapshots uses them: written back (pyh_snapshot_save), compared (diff: two, trend: three;
 * series of types and retainers; with one snapshot, it is compared with itself) and the
 * reports printed in text and JSON (to /dev/null). */
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "report/report.h"

static void reports(struct pyh_snapshot **loaded, size_t nloaded, FILE *out)
{
    struct pyh_snapshot *snaps[3];
    for (size_t i = 0; i < 3; i++) snaps[i] = loaded[i < nloaded ? i : nloaded - 1];
    for (size_t n = 2; n <= 3; n++) {
        struct pyh_series *types = NULL, *rets = NULL;
        size_t ntypes = 0, nrets = 0;
        struct pyh_error *err = pyh_series_build(snaps, n, false, &types, &ntypes);
        if (!err) err = pyh_series_build(snaps, n, true, &rets, &nrets);
        for (int f = 0; f < 2 && !err; f++) {
            enum pyh_format format = f ? PYH_FORMAT_JSON : PYH_FORMAT_TEXT;
            if (n == 2)
                err = pyh_report_diff(snaps, types, ntypes, rets, nrets, 20, format, out);
            else
                err = pyh_report_trend(snaps, n, types, ntypes, rets, nrets, 20, format, out);
        }
        pyh_error_free(err);
        pyh_series_free(types, ntypes);
        pyh_series_free(rets, nrets);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *out;
    if (!out) out = fopen("/dev/null", "w");
    if (!out) return 0;
    struct pyh_snapshot *loaded[3];
    size_t nloaded = 0, start = 0;
    for (int part = 0; part < 3 && start <= size; part++) {
        const uint8_t *nul = memchr(data + start, 0, size - start);
        size_t end = nul ? (size_t)(nul - data) : size;
        const char *path = fuzz_file(data + start, end - start);
        struct pyh_snapshot *s = NULL;
        struct pyh_error *err = path ? pyh_snapshot_load(path, &s) : NULL;
        pyh_error_free(err);
        if (s) {
            fuzz_ignore(pyh_snapshot_save(s, out));
            loaded[nloaded++] = s;
        }
        if (!nul) break;
        start = end + 1;
    }
    if (nloaded) reports(loaded, nloaded, out);
    for (size_t i = 0; i < nloaded; i++) pyh_snapshot_free(loaded[i]);
    return 0;
}
