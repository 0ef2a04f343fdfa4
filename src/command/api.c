/* The structured C API of pyheap.h: the census by type, objects and their referrers as
 * data, for programs that want more than a verb's text. The same analyses as the verbs. */
#include <stdlib.h>
#include <string.h>

#include "analysis/census.h"
#include "analysis/object_info.h"
#include "analysis/paths.h"
#include "command/command.h"
#include "util/interrupt.h"
#include "util/mem.h"

struct pyh_census_list {
    struct pyh_type_count *rows;
    size_t n;
    uint64_t objects, size;
    char *names; /* every row's name, NUL-separated */
};

struct pyh_error *pyh_census_list_get(struct pyh_session *s, struct pyh_census_list **out)
{
    *out = NULL;
    struct pyh_fragmentation frag = {0};
    struct pyh_census census = {0};
    struct pyh_error *err = pyh_census_take(s, PYH_SORT_SIZE, true, &frag, &census);
    struct pyh_heap *heap = census.heap;
    if (!err) err = pyh_check_interrupt();
    struct pyh_census_list *list = NULL;
    size_t names_len = 0;
    for (size_t i = 0; !err && i < census.nrows; i++)
        names_len += strlen(pyh_heap_type_name(heap, census.rows[i].type)) + 1;
    if (!err && (!(list = calloc(1, sizeof(*list))) ||
                 !(list->rows = calloc(census.nrows ? census.nrows : 1, sizeof(*list->rows))) ||
                 !(list->names = malloc(names_len ? names_len : 1))))
        err = pyh_error_nomem();
    char *w = list ? list->names : NULL;
    for (size_t i = 0; !err && i < census.nrows; i++) {
        const char *name = pyh_heap_type_name(heap, census.rows[i].type);
        size_t len = strlen(name) + 1;
        memcpy(w, name, len);
        list->rows[i] = (struct pyh_type_count){w, heap->types[census.rows[i].type].addr,
                                                census.rows[i].count, census.rows[i].size};
        w += len;
    }
    if (!err) {
        list->n = census.nrows;
        list->objects = census.objects;
        list->size = census.size;
        *out = list;
    } else {
        pyh_census_list_free(list);
    }
    pyh_census_free(&census);
    pyh_fragmentation_free(&frag);
    return err;
}

size_t pyh_census_list_size(const struct pyh_census_list *list)
{
    return list ? list->n : 0;
}

const struct pyh_type_count *pyh_census_list_at(const struct pyh_census_list *list, size_t i)
{
    return list && i < list->n ? &list->rows[i] : NULL;
}

void pyh_census_list_totals(const struct pyh_census_list *list, uint64_t *objects, uint64_t *size)
{
    if (objects) *objects = list ? list->objects : 0;
    if (size) *size = list ? list->size : 0;
}

void pyh_census_list_free(struct pyh_census_list *list)
{
    if (!list) return;
    free(list->rows);
    free(list->names);
    free(list);
}

struct pyh_error *pyh_object_lookup(struct pyh_session *s, uint64_t address,
                                    struct pyh_object_view *out)
{
    memset(out, 0, sizeof(*out));
    struct pyh_heap *heap;
    struct pyh_error *err = pyh_session_heap(s, &heap);
    if (err) return err;
    struct pyh_object_info *info = malloc(sizeof(*info)); /* ~50 KiB of previews */
    if (!info) return pyh_error_nomem();
    if ((err = pyh_object_info(heap, address, info))) {
        free(info);
        return err;
    }
    out->address = info->addr;
    out->type_address = heap->types[info->type].addr;
    out->refcount = info->refcount;
    out->size = info->size;
    out->length = info->details.length;
    out->type_name = pyh_strdup(pyh_heap_type_name(heap, info->type));
    out->value = pyh_strdup(info->details.value);
    free(info);
    if (!out->type_name || !out->value) {
        pyh_object_view_clear(out);
        return pyh_error_nomem();
    }
    return NULL;
}

void pyh_object_view_clear(struct pyh_object_view *view)
{
    if (!view) return;
    free(view->type_name);
    free(view->value);
    memset(view, 0, sizeof(*view));
}

struct pyh_error *pyh_memory_read(struct pyh_session *s, uint64_t address, void *buf, size_t len)
{
    return pyh_target_read(s->target, address, buf, len);
}

struct pyh_error *pyh_object_referrers(struct pyh_session *s, uint64_t address,
                                       struct pyh_referrer_view **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct pyh_graph *g;
    struct pyh_error *err = pyh_session_graph(s, &g, NULL);
    if (err) return err;
    size_t node = pyh_heap_object_at(g->heap, address);
    if (node == SIZE_MAX)
        return pyh_error_create(PYH_ERR_NOT_FOUND, "0x%llx is not the address of a live object",
                                (unsigned long long)address);
    struct pyh_referrer *refs = NULL;
    size_t count = 0;
    if ((err = pyh_referrers(g, (uint32_t)node, &refs, &count))) return err;
    /* One block: the views, then their strings. */
    size_t bytes = count * sizeof(struct pyh_referrer_view);
    for (size_t i = 0; i < count; i++) {
        bytes += strlen(refs[i].how) + 1;
        if (refs[i].from != g->n)
            bytes += strlen(pyh_heap_type_name(g->heap, g->heap->objects[refs[i].from].type)) + 1;
    }
    struct pyh_referrer_view *views = malloc(bytes ? bytes : 1);
    if (!views) {
        free(refs);
        return pyh_error_nomem();
    }
    char *w = (char *)(views + count);
    for (size_t i = 0; i < count; i++) {
        struct pyh_referrer_view *v = &views[i];
        memset(v, 0, sizeof(*v));
        v->root = refs[i].from == g->n;
        v->conservative = refs[i].conservative;
        v->how = w;
        w = stpcpy(w, refs[i].how) + 1;
        if (!v->root) {
            v->address = g->heap->objects[refs[i].from].addr;
            v->type_name = w;
            w = stpcpy(w, pyh_heap_type_name(g->heap, g->heap->objects[refs[i].from].type)) + 1;
        }
    }
    free(refs);
    *out = views;
    *n = count;
    return NULL;
}

void pyh_referrer_views_free(struct pyh_referrer_view *views)
{
    free(views);
}
