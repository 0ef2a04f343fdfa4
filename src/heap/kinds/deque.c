/* collections.deque (_collectionsmodule.c): blocks of 64 items linked both ways, the items
 * starting at leftblock's leftindex. */
#include "heap/kinds/kind.h"

#define BLOCKLEN 64                    /* BLOCKLEN, every version */
#define BLOCK_SIZE (8 * BLOCKLEN + 16) /* sizeof(block): two links and the items */

/* deque.__sizeof__: the type's basic size plus every block the items span, counted from
 * leftindex (a deque always has at least one block). */
static struct pyh_error *size(const struct pyh_heap *heap, const struct pyh_type *t, uint64_t obj,
                              const uint8_t *bytes, size_t avail, uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t n, left;
    struct pyh_error *err = pyh_kind_field(heap, obj, bytes, avail, L->var_size, 8, &n);
    if (!err) err = pyh_kind_field(heap, obj, bytes, avail, L->deque_leftindex, 8, &left);
    if (err) return err;
    if (n >= PYH_KIND_MAX_ITEMS || left >= BLOCKLEN)
        return pyh_error_create(PYH_ERR_CORRUPT, "deque at 0x%llx: %llu items from index %llu",
                                (unsigned long long)obj, (unsigned long long)n,
                                (unsigned long long)left);
    *size = (uint64_t)t->basicsize + (left + n + BLOCKLEN - 1) / BLOCKLEN * BLOCK_SIZE;
    return NULL;
}

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    /* A block is {leftlink, data[64], rightlink}. */
    const struct pyh_layout *L = &w->heap->rt->layout;
    uint64_t n = pyh_walk_read(w, obj + (uint64_t)L->var_size);
    uint64_t block = pyh_walk_read(w, obj + (uint64_t)L->deque_leftblock);
    uint64_t index = pyh_walk_read(w, obj + (uint64_t)L->deque_leftindex);
    if (n >= PYH_WALK_MAX_ITEMS || index >= BLOCKLEN) return;
    for (uint64_t i = 0; i < n && block && !w->stop;) {
        uint64_t take = BLOCKLEN - index < n - i ? BLOCKLEN - index : n - i;
        pyh_walk_items(w, block + 8 + 8 * index, take, PYH_REF_ITEM, i, 0);
        i += take;
        index = 0;
        block = pyh_walk_read(w, block + 8 + 8 * BLOCKLEN);
    }
}

const struct pyh_kind pyh_kind_deque = {
    .name = "collections.deque",
    .c_names = {"collections.deque"},
    .native_pointers = true,
    .any_step = "[*]",
    .size = size,
    .referents = referents,
};
