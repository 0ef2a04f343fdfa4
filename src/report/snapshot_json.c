/* Snapshot files: written and read with jansson. The format is versioned: a file from a
 * newer py-heap, a truncated file or a foreign JSON file is refused with a message naming
 * the file and the problem. Schema in docs/json-schema.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/report.h"
#include "util/mem.h"

#define FORMAT_NAME "py-heap-snapshot"

json_t *pyh_snapshot_to_json(const struct pyh_snapshot *s)
{
    json_t *root = json_object();
    json_object_set_new(root, "format", pyh_json_text(FORMAT_NAME));
    json_object_set_new(root, "version", json_integer(PYH_SNAPSHOT_VERSION));
    json_object_set_new(root, "pyheap_version", pyh_json_text(PYHEAP_VERSION));
    json_object_set_new(root, "source", pyh_json_text(s->source ? s->source : ""));
    json_object_set_new(root, "time", json_real(s->time));
    char iso[32];
    time_t t = (time_t)s->time;
    struct tm tm;
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    json_object_set_new(root, "time_iso", pyh_json_text(iso));
    json_object_set_new(root, "pid", s->pid >= 0 ? json_integer(s->pid) : json_null());
    json_object_set_new(root, "executable", s->executable ? pyh_json_text(s->executable) : json_null());
    json_object_set_new(root, "build_id", s->build_id[0] ? pyh_json_text(s->build_id) : json_null());
    json_t *py = json_object();
    json_object_set_new(py, "version", pyh_json_text(s->python));
    json_object_set_new(root, "python", py);
    json_object_set_new(root, "resident", s->resident >= 0 ? json_integer(s->resident) : json_null());
    json_object_set_new(root, "partial", json_boolean(s->partial));
    json_object_set_new(root, "partial_reason",
                        s->partial_reason ? pyh_json_text(s->partial_reason) : json_null());
    json_t *totals = json_object();
    json_object_set_new(totals, "objects", json_integer((json_int_t)s->objects));
    json_object_set_new(totals, "size", json_integer((json_int_t)s->objects_size));
    json_object_set_new(root, "totals", totals);
    json_t *types = json_array();
    for (size_t i = 0; i < s->ntypes; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "name", pyh_json_text(s->types[i].name));
        json_object_set_new(e, "count", json_integer((json_int_t)s->types[i].count));
        json_object_set_new(e, "size", json_integer((json_int_t)s->types[i].size));
        json_array_append_new(types, e);
    }
    json_object_set_new(root, "types", types);
    json_t *f = json_object();
    json_object_set_new(f, "heap_total", json_integer((json_int_t)s->frag.heap_total));
    json_object_set_new(f, "pymalloc_used", json_integer((json_int_t)s->frag.pymalloc_used));
    json_object_set_new(f, "pymalloc_free", json_integer((json_int_t)s->frag.pymalloc_free));
    json_object_set_new(f, "glibc_used", json_integer((json_int_t)s->frag.glibc_used));
    json_object_set_new(f, "glibc_free", json_integer((json_int_t)s->frag.glibc_free));
    json_object_set_new(f, "mmapped", json_integer((json_int_t)s->frag.mmapped));
    json_object_set_new(f, "pymalloc_arenas", json_integer((json_int_t)s->frag.pymalloc_arenas));
    json_object_set_new(f, "verdict", pyh_json_text(s->frag.verdict ? s->frag.verdict : ""));
    json_object_set_new(root, "fragmentation", f);
    json_t *rets = json_array();
    for (size_t i = 0; i < s->nretainers; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "path", pyh_json_text(s->retainers[i].path));
        json_object_set_new(e, "type", pyh_json_text(s->retainers[i].type));
        json_object_set_new(e, "retained_size", json_integer((json_int_t)s->retainers[i].retained_size));
        json_object_set_new(e, "retained_count", json_integer((json_int_t)s->retainers[i].retained_count));
        json_array_append_new(rets, e);
    }
    json_object_set_new(root, "retainers", rets);
    json_t *gc = json_object();
    json_object_set_new(gc, "known", json_boolean(s->gc.known));
    json_object_set_new(gc, "enabled", s->gc.known ? json_boolean(s->gc.enabled) : json_null());
    json_t *gens = json_array();
    for (int g = 0; s->gc.known && g < 3; g++) {
        json_t *e = json_object();
        json_object_set_new(e, "count", json_integer(s->gc.count[g]));
        json_object_set_new(e, "threshold", json_integer(s->gc.threshold[g]));
        json_array_append_new(gens, e);
    }
    json_object_set_new(gc, "generations", gens);
    if (s->gc.garbage_known) {
        json_t *gb = json_object(), *types = json_array();
        json_object_set_new(gb, "objects", json_integer((json_int_t)s->gc.garbage_count));
        json_object_set_new(gb, "bytes", json_integer((json_int_t)s->gc.garbage_bytes));
        for (size_t i = 0; i < s->gc.ntypes; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "name", pyh_json_text(s->gc.types[i].name));
            json_object_set_new(e, "count", json_integer((json_int_t)s->gc.types[i].count));
            json_object_set_new(e, "bytes", json_integer((json_int_t)s->gc.types[i].size));
            json_array_append_new(types, e);
        }
        json_object_set_new(gb, "types", types);
        json_object_set_new(gc, "garbage", gb);
    } else {
        json_object_set_new(gc, "garbage", json_null());
    }
    json_object_set_new(root, "gc", gc);
    return root;
}

struct pyh_error *pyh_snapshot_save(const struct pyh_snapshot *s, FILE *out)
{
    json_t *root = pyh_snapshot_to_json(s);
    int rc = json_dumpf(root, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(root);
    if (rc != 0 || fputc('\n', out) == EOF) return pyh_error_errno(errno ? errno : EIO, "writing the snapshot");
    return NULL;
}

/* ---- Reading ------------------------------------------------------------------------- */

static struct pyh_error *bad(const char *path, const char *what)
{
    return pyh_error_create(PYH_ERR_FORMAT, "snapshot %s is not usable: %s", path, what);
}

static bool get_u64(json_t *o, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static char *get_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? pyh_strdup(json_string_value(v)) : NULL;
}

static struct pyh_error *from_json(const char *path, json_t *root, struct pyh_snapshot *s)
{
    json_t *format = json_object_get(root, "format"), *version = json_object_get(root, "version");
    if (!json_is_object(root) || !json_is_string(format) || strcmp(json_string_value(format), FORMAT_NAME) != 0)
        return bad(path, "it is JSON but not a py-heap snapshot (no \"format\": \"" FORMAT_NAME "\")");
    if (!json_is_integer(version) || json_integer_value(version) < 1)
        return bad(path, "its format version is missing or invalid");
    if (json_integer_value(version) > PYH_SNAPSHOT_VERSION)
        return pyh_error_create(PYH_ERR_UNSUPPORTED,
                                "snapshot %s was written by a newer py-heap (format version %lld; "
                                "this py-heap reads version %d and older)",
                                path, (long long)json_integer_value(version), PYH_SNAPSHOT_VERSION);
    json_t *time = json_object_get(root, "time"), *types = json_object_get(root, "types");
    if (!json_is_number(time)) return bad(path, "\"time\" is missing");
    if (!json_is_array(types)) return bad(path, "\"types\" is missing");
    s->time = json_number_value(time);
    json_t *pid = json_object_get(root, "pid"), *res = json_object_get(root, "resident");
    s->pid = json_is_integer(pid) ? json_integer_value(pid) : -1;
    s->resident = json_is_integer(res) ? json_integer_value(res) : -1;
    json_t *py = json_object_get(root, "python");
    json_t *pv = json_is_object(py) ? json_object_get(py, "version") : NULL;
    snprintf(s->python, sizeof(s->python), "%s", json_is_string(pv) ? json_string_value(pv) : "?");
    /* Absent in files written before they existed: unknown, which agrees with anything. */
    s->executable = get_str(root, "executable");
    json_t *bid = json_object_get(root, "build_id");
    if (json_is_string(bid)) snprintf(s->build_id, sizeof(s->build_id), "%s", json_string_value(bid));
    /* Absent in files written before it existed: those claimed to be whole. Anything but a
     * boolean is refused rather than guessed: a partial snapshot read as whole turns the
     * objects it missed into objects freed. */
    json_t *partial = json_object_get(root, "partial");
    if (partial && !json_is_boolean(partial)) return bad(path, "\"partial\" is not true or false");
    s->partial = json_is_true(partial);
    if (s->partial) s->partial_reason = get_str(root, "partial_reason");
    json_t *totals = json_object_get(root, "totals");
    if (!json_is_object(totals) || !get_u64(totals, "objects", &s->objects) || !get_u64(totals, "size", &s->objects_size))
        return bad(path, "\"totals\" is missing or invalid");
    size_t i;
    json_t *e;
    struct pyh_error *err = NULL;
    json_array_foreach(types, i, e) {
        struct pyh_snapshot_type t = {get_str(e, "name"), 0, 0};
        if (!t.name || !get_u64(e, "count", &t.count) || !get_u64(e, "size", &t.size)) {
            free(t.name);
            return bad(path, "an entry of \"types\" lacks name, count or size");
        }
        if ((err = PYH_APPEND(s->types, s->ntypes, s->types_cap, &t))) {
            free(t.name);
            return err;
        }
    }
    json_t *f = json_object_get(root, "fragmentation");
    if (json_is_object(f)) {
        get_u64(f, "heap_total", &s->frag.heap_total);
        get_u64(f, "pymalloc_used", &s->frag.pymalloc_used);
        get_u64(f, "pymalloc_free", &s->frag.pymalloc_free);
        get_u64(f, "glibc_used", &s->frag.glibc_used);
        get_u64(f, "glibc_free", &s->frag.glibc_free);
        get_u64(f, "mmapped", &s->frag.mmapped);
        get_u64(f, "pymalloc_arenas", &s->frag.pymalloc_arenas);
        s->frag.verdict = get_str(f, "verdict");
    }
    /* "gc": absent in files written before it; then nothing is known. */
    json_t *gc = json_object_get(root, "gc");
    if (json_is_object(gc)) {
        s->gc.known = json_is_true(json_object_get(gc, "known"));
        s->gc.enabled = json_is_true(json_object_get(gc, "enabled"));
        json_t *gens = json_object_get(gc, "generations");
        for (int g = 0; g < 3 && json_is_array(gens) && (size_t)g < json_array_size(gens); g++) {
            json_t *e = json_array_get(gens, (size_t)g);
            json_t *c = json_object_get(e, "count"), *t = json_object_get(e, "threshold");
            s->gc.count[g] = json_is_integer(c) ? (int32_t)json_integer_value(c) : 0;
            s->gc.threshold[g] = json_is_integer(t) ? (int32_t)json_integer_value(t) : 0;
        }
        json_t *gb = json_object_get(gc, "garbage");
        if (json_is_object(gb)) {
            json_t *gtypes = json_object_get(gb, "types");
            if (!get_u64(gb, "objects", &s->gc.garbage_count) || !get_u64(gb, "bytes", &s->gc.garbage_bytes) ||
                !json_is_array(gtypes))
                return bad(path, "\"gc\".\"garbage\" lacks objects, bytes or types");
            s->gc.garbage_known = true;
            json_array_foreach(gtypes, i, e) {
                struct pyh_snapshot_type t = {get_str(e, "name"), 0, 0};
                if (!t.name || !get_u64(e, "count", &t.count) || !get_u64(e, "bytes", &t.size)) {
                    free(t.name);
                    return bad(path, "an entry of \"gc\".\"garbage\".\"types\" lacks name, count or bytes");
                }
                if ((err = PYH_APPEND(s->gc.types, s->gc.ntypes, s->gc.types_cap, &t))) {
                    free(t.name);
                    return err;
                }
            }
        }
    }
    json_t *rets = json_object_get(root, "retainers");
    if (json_is_array(rets)) {
        json_array_foreach(rets, i, e) {
            struct pyh_snapshot_retainer r = {get_str(e, "path"), get_str(e, "type"), 0, 0};
            if (!r.path || !r.type || !get_u64(e, "retained_size", &r.retained_size) ||
                !get_u64(e, "retained_count", &r.retained_count)) {
                free(r.path);
                free(r.type);
                return bad(path, "an entry of \"retainers\" is incomplete");
            }
            if ((err = PYH_APPEND(s->retainers, s->nretainers, s->retainers_cap, &r))) {
                free(r.path);
                free(r.type);
                return err;
            }
        }
    }
    return NULL;
}

struct pyh_error *pyh_snapshot_load(const char *path, struct pyh_snapshot **out)
{
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        FILE *f = fopen(path, "rb");
        if (!f) return pyh_error_errno(errno, "cannot open snapshot %s", path);
        fclose(f);
        return pyh_error_create(PYH_ERR_FORMAT,
                                "snapshot %s is not valid JSON (truncated or not a snapshot): %s at "
                                "line %d, column %d",
                                path, jerr.text, jerr.line, jerr.column);
    }
    struct pyh_snapshot *s = calloc(1, sizeof(*s));
    struct pyh_error *err = s ? NULL : pyh_error_nomem();
    if (!err) err = from_json(path, root, s);
    if (!err && !(s->source = pyh_strdup(path))) err = pyh_error_nomem();
    json_decref(root);
    if (err) {
        pyh_snapshot_free(s);
        return err;
    }
    *out = s;
    return NULL;
}
