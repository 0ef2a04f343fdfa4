/* The `objects` and `show` reports in text and JSON; schema in docs/json-schema.md. */
#include "report/report.h"

#include <string.h>

struct pyh_error *pyh_report_objects(const struct pyh_report_context *ctx, struct pyh_heap *heap,
                                     const char *name, const size_t *indices, size_t n,
                                     uint64_t total, uint64_t total_size, char *const *previews,
                                     enum pyh_format format, FILE *out)
{
    char a[32], b[32];
    if (format == PYH_FORMAT_JSON) {
        json_t *root = pyh_report_json_envelope(ctx);
        json_object_set_new(root, "type", pyh_json_text(name));
        json_object_set_new(root, "count", json_integer((json_int_t)total));
        json_object_set_new(root, "size", json_integer((json_int_t)total_size));
        json_t *objs = json_array();
        for (size_t i = 0; i < n; i++) {
            const struct pyh_object *o = &heap->objects[indices[i]];
            json_t *e = json_object();
            json_object_set_new(e, "address", pyh_json_address(o->addr));
            json_object_set_new(e, "size", json_integer((json_int_t)pyh_heap_object_size(heap, indices[i])));
            json_object_set_new(e, "type", pyh_json_text(pyh_heap_type_name(heap, o->type)));
            json_object_set_new(e, "location", pyh_json_text(pyh_location_name(heap->locations[indices[i]])));
            json_array_append_new(objs, e);
        }
        json_object_set_new(root, "objects", objs);
        return pyh_report_json_print(ctx, root, out);
    }
    fprintf(out, "%s objects of type %s, %s in all; the %zu largest:\n",
            pyh_format_count(total, a, sizeof(a)), name, pyh_format_bytes(total_size, b, sizeof(b)), n);
    fprintf(out, "  %-14s %9s  %-8s  %s\n", "address", "size", "in", "value");
    for (size_t i = 0; i < n; i++) {
        const struct pyh_object *o = &heap->objects[indices[i]];
        char cell[160];
        /* 2 + 14 + 1 + 9 + 2 + 8 + 2 columns before the value. */
        fprintf(out, "  0x%-12llx %9s  %-8s  %s\n", (unsigned long long)o->addr,
                pyh_format_bytes(pyh_heap_object_size(heap, indices[i]), a, sizeof(a)),
                pyh_location_name(heap->locations[indices[i]]),
                pyh_report_fit(ctx, previews[i] ? previews[i] : "?", 80 - 38, cell, sizeof(cell)));
    }
    return NULL;
}

static const char *generation_name(int g, char *buf, size_t cap)
{
    if (g < 0) return "untracked";
    if (g == 3) return "permanent";
    snprintf(buf, cap, "%d", g);
    return buf;
}

struct pyh_error *pyh_report_show(const struct pyh_report_context *ctx, struct pyh_heap *heap,
                                  const struct pyh_object_info *info, enum pyh_format format,
                                  FILE *out)
{
    const struct pyh_details *d = &info->details;
    const char *tname = pyh_heap_type_name(heap, info->type);
    char g[16];
    if (format == PYH_FORMAT_JSON) {
        json_t *root = pyh_report_json_envelope(ctx);
        json_object_set_new(root, "address", pyh_json_address(info->addr));
        json_object_set_new(root, "type", pyh_json_text(tname));
        json_object_set_new(root, "type_address", pyh_json_address(heap->types[info->type].addr));
        json_object_set_new(root, "refcount", json_integer(info->refcount));
        json_object_set_new(root, "size", json_integer((json_int_t)info->size));
        json_object_set_new(root, "location", pyh_json_text(pyh_location_name(info->location)));
        json_object_set_new(root, "gc_generation",
                            info->generation < 0 ? json_null()
                            : info->generation == 3 ? pyh_json_text("permanent")
                                                    : json_integer(info->generation));
        json_object_set_new(root, "gc_tracked", json_boolean(info->tracked));
        json_object_set_new(root, "value", pyh_json_text(d->value));
        json_object_set_new(root, "length", d->length >= 0 ? json_integer(d->length) : json_null());
        json_t *items = json_array();
        for (size_t i = 0; i < d->nitems; i++) {
            json_t *e = json_object();
            if (d->items[i].key[0] || d->items_are_attributes)
                json_object_set_new(e, d->items_are_attributes ? "name" : "key", pyh_json_text(d->items[i].key));
            json_object_set_new(e, "value", pyh_json_text(d->items[i].value));
            json_object_set_new(e, "address", pyh_json_address(d->items[i].value_addr));
            json_array_append_new(items, e);
        }
        json_object_set_new(root, d->items_are_attributes ? "attributes" : "items", items);
        return pyh_report_json_print(ctx, root, out);
    }
    char a[32];
    fprintf(out, "0x%llx: %s\n", (unsigned long long)info->addr, tname);
    fprintf(out, "  refcount %lld, size %s (sys.getsizeof), in %s%s\n", (long long)info->refcount,
            pyh_format_bytes(info->size, a, sizeof(a)), pyh_location_name(info->location),
            info->in_table ? "" : " (not in the objects table)");
    if (info->gc_type && info->tracked && info->generation < 0) /* free-threaded */
        fprintf(out, "  GC: tracked (no generations in a free-threaded build)\n");
    else if (info->gc_type)
        fprintf(out, "  GC: %s%s\n", info->tracked ? "generation " : "",
                generation_name(info->generation, g, sizeof(g)));
    fprintf(out, "  value: %s\n", d->value);
    if (d->length >= 0) fprintf(out, "  length: %lld\n", (long long)d->length);
    if (d->nitems) fprintf(out, "  %s:\n", d->items_are_attributes ? "attributes" : "items");
    for (size_t i = 0; i < d->nitems; i++) {
        if (d->items_are_attributes)
            fprintf(out, "    .%s = %s\n", d->items[i].key, d->items[i].value);
        else if (d->items[i].key[0])
            fprintf(out, "    %s: %s\n", d->items[i].key, d->items[i].value);
        else
            fprintf(out, "    [%zu] %s\n", i, d->items[i].value);
    }
    return NULL;
}
