/* functools.lru_cache's wrapper and the links of a bounded cache's list (_functoolsmodule.c):
 * the links are the cache dict's values; lru_cache_tp_traverse visits each link's key and
 * result through them. */
#include "heap/kinds/kind.h"

#define MAX_LINKS (1 << 24) /* an lru_cache list longer than this is corrupt */

/* The function, the cache dict, its own types and __dict__, and, for a bounded cache, the
 * key and result of each link of its list. */
static void cache_referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    const struct pyh_layout *L = &w->heap->rt->layout;
    pyh_walk_field(w, obj, L->lru_func, "__wrapped__");
    pyh_walk_field(w, obj, L->lru_cache, "<cache>");
    pyh_walk_field(w, obj, L->lru_kwd_mark, "<kwd_mark>");
    pyh_walk_field(w, obj, L->lru_elem_type, "<lru_list_elem type>");
    pyh_walk_field(w, obj, L->lru_cache_info_type, "<cache_info type>");
    pyh_walk_field(w, obj, L->lru_dict, "__dict__");
    uint64_t link = pyh_walk_read(w, obj + (uint64_t)L->lru_root_next);
    for (uint64_t n = 0; link && link != obj && n < MAX_LINKS && !w->stop; n++) {
        uint64_t key = pyh_walk_read(w, link + (uint64_t)L->lru_elem_key);
        struct pyh_ref ref = {.kind = PYH_REF_DICT_VALUE, .key = key, .name = "<cache>"};
        pyh_walk_emit(w, key, &(struct pyh_ref){.kind = PYH_REF_ATTR, .name = "<cache key>"});
        pyh_walk_emit(w, pyh_walk_read(w, link + (uint64_t)L->lru_elem_result), &ref);
        link = pyh_walk_read(w, link + (uint64_t)L->lru_elem_next);
    }
}

/* A link: its key and result; prev and next are the list's links. */
static void elem_referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    const struct pyh_layout *L = &w->heap->rt->layout;
    pyh_walk_field(w, obj, L->lru_elem_key, "<key>");
    pyh_walk_field(w, obj, L->lru_elem_result, "<result>");
}

const struct pyh_kind pyh_kind_lru_cache = {
    .name = "functools._lru_cache_wrapper",
    .c_names = {"functools._lru_cache_wrapper"},
    .referents = cache_referents,
};

const struct pyh_kind pyh_kind_lru_elem = {
    .name = "functools._lru_list_elem",
    .c_names = {"functools._lru_list_elem"},
    .referents = elem_referents,
};
