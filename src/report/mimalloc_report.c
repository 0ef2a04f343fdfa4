/* mimalloc's part of the fragmentation report, text and JSON (docs/json-schema.md): the
 * figures mimalloc's own statistics name — per block size the pages, blocks live and free,
 * bytes free in pages in use, empty pages kept, segments and their committed memory — and
 * CPython's heaps (page tags). */
#include "report/report.h"

static uint64_t segments_size(const struct pyh_mimalloc *m)
{
    uint64_t n = 0;
    for (size_t i = 0; i < m->nsegments; i++) n += m->segments[i].size;
    return n;
}

void pyh_report_mimalloc_text(const struct pyh_mimalloc *m, FILE *out)
{
    char a[32], b[32], c[32], d[32];
    fprintf(out, "mimalloc %s, %s build%s: %zu segment%s (%s reserved, %s committed), %zu pages in use",
            m->layout->version, m->layout->free_threaded ? "free-threaded" : "GIL",
            m->mixed_layouts ? " (and another layout)" : "", m->nsegments,
            m->nsegments == 1 ? "" : "s", pyh_format_bytes(segments_size(m), a, sizeof(a)),
            pyh_format_bytes(m->committed, b, sizeof(b)), m->npages);
    if (m->bad_pages) fprintf(out, ", %llu rejected", (unsigned long long)m->bad_pages);
    fprintf(out, "\n  %-8s %8s %12s %12s\n", "heap", "pages", "blocks live", "bytes live");
    for (unsigned t = 0; t < PYH_MI_NTAGS; t++)
        fprintf(out, "  %-8s %8llu %12s %12s\n", pyh_mi_tag_name(t),
                (unsigned long long)m->tag_pages[t], pyh_format_count(m->tag_live[t], a, sizeof(a)),
                pyh_format_bytes(m->tag_bytes[t], b, sizeof(b)));
    fprintf(out, "  %10s %8s %12s %12s %12s %6s\n", "block size", "pages", "blocks live",
            "blocks free", "bytes free", "empty");
    for (size_t i = 0; i < m->nclasses; i++) {
        const struct pyh_mimalloc_class *k = &m->classes[i];
        fprintf(out, "  %10llu %8llu %12s %12s %12s %6llu\n", (unsigned long long)k->block_size,
                (unsigned long long)k->pages, pyh_format_count(k->blocks_live, a, sizeof(a)),
                pyh_format_count(k->blocks_free, b, sizeof(b)),
                pyh_format_bytes(k->blocks_free * k->block_size, c, sizeof(c)),
                (unsigned long long)k->empty_pages);
    }
    fprintf(out, "  live %s in %s blocks; free %s in pages in use, %llu empty pages kept, "
                 "%s in free slices\n%s",
            pyh_format_bytes(m->bytes_live, a, sizeof(a)),
            pyh_format_count(m->blocks_live, b, sizeof(b)),
            pyh_format_bytes(m->bytes_free_in_pages, c, sizeof(c)),
            (unsigned long long)m->empty_pages,
            pyh_format_bytes(m->free_slices * PYH_MI_SLICE_SIZE, d, sizeof(d)),
            m->resident_known ? "" : "\n");
    if (m->resident_known)
        fprintf(out, "  resident: %s of the live blocks, %s of the segments\n\n",
                pyh_format_bytes(m->resident_live, a, sizeof(a)),
                pyh_format_bytes(m->resident_segments, b, sizeof(b)));
}

json_t *pyh_report_mimalloc_json(const struct pyh_mimalloc *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "version", pyh_json_text(m->layout->version));
    json_object_set_new(o, "free_threaded", json_boolean(m->layout->free_threaded));
    json_object_set_new(o, "mixed_layouts", json_boolean(m->mixed_layouts));
    json_t *segs = json_array();
    for (size_t i = 0; i < m->nsegments; i++) {
        const struct pyh_mimalloc_segment *s = &m->segments[i];
        json_t *e = json_object();
        json_object_set_new(e, "address", pyh_json_address(s->address));
        json_object_set_new(e, "size", json_integer((json_int_t)s->size));
        json_object_set_new(e, "huge", json_boolean(s->kind != 0));
        json_object_set_new(e, "committed", json_integer((json_int_t)s->committed));
        json_object_set_new(e, "thread_id", json_integer((json_int_t)s->thread_id));
        json_object_set_new(e, "pages", json_integer(s->pages));
        json_object_set_new(e, "free_slices", json_integer(s->free_slices));
        json_array_append_new(segs, e);
    }
    json_object_set_new(o, "segments", segs);
    json_t *heaps = json_object();
    for (unsigned t = 0; t < PYH_MI_NTAGS; t++) {
        json_t *e = json_object();
        json_object_set_new(e, "pages", json_integer((json_int_t)m->tag_pages[t]));
        json_object_set_new(e, "blocks_live", json_integer((json_int_t)m->tag_live[t]));
        json_object_set_new(e, "bytes_live", json_integer((json_int_t)m->tag_bytes[t]));
        json_object_set_new(heaps, pyh_mi_tag_name(t), e);
    }
    json_object_set_new(o, "heaps", heaps);
    json_t *classes = json_array();
    for (size_t i = 0; i < m->nclasses; i++) {
        const struct pyh_mimalloc_class *k = &m->classes[i];
        json_t *e = json_object();
        json_object_set_new(e, "block_size", json_integer((json_int_t)k->block_size));
        json_object_set_new(e, "pages", json_integer((json_int_t)k->pages));
        json_object_set_new(e, "blocks_live", json_integer((json_int_t)k->blocks_live));
        json_object_set_new(e, "blocks_free", json_integer((json_int_t)k->blocks_free));
        json_object_set_new(e, "empty_pages", json_integer((json_int_t)k->empty_pages));
        json_array_append_new(classes, e);
    }
    json_object_set_new(o, "block_sizes", classes);
    json_object_set_new(o, "blocks_live", json_integer((json_int_t)m->blocks_live));
    json_object_set_new(o, "bytes_live", json_integer((json_int_t)m->bytes_live));
    json_object_set_new(o, "blocks_free", json_integer((json_int_t)m->blocks_free));
    json_object_set_new(o, "bytes_free_in_pages", json_integer((json_int_t)m->bytes_free_in_pages));
    json_object_set_new(o, "empty_pages", json_integer((json_int_t)m->empty_pages));
    json_object_set_new(o, "bytes_in_free_slices",
                        json_integer((json_int_t)(m->free_slices * PYH_MI_SLICE_SIZE)));
    json_object_set_new(o, "committed", json_integer((json_int_t)m->committed));
    json_object_set_new(o, "pages_rejected", json_integer((json_int_t)m->bad_pages));
    json_object_set_new(o, "resident_live", m->resident_known
                                                ? json_integer((json_int_t)m->resident_live)
                                                : json_null());
    json_object_set_new(o, "resident_segments",
                        m->resident_known ? json_integer((json_int_t)m->resident_segments)
                                          : json_null());
    return o;
}
