/* xml.etree.ElementTree.Element, the C one of _elementtree (every version): tag, text and
 * tail (whose bit 0 is the JOIN flag), then an ElementObjectExtra block {attrib, length,
 * allocated, children} when it has attributes or children (c_sizeof.c counts it). */
#include "heap/kinds/kind.h"

#define ELEMENT_TAG 16
#define ELEMENT_TEXT 24
#define ELEMENT_TAIL 32
#define EXTRA_ATTRIB 0
#define EXTRA_LENGTH 8
#define EXTRA_CHILDREN 24

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = "tag"};
    pyh_walk_emit(w, pyh_walk_read(w, obj + ELEMENT_TAG), &ref);
    ref.name = "text";
    pyh_walk_emit(w, pyh_walk_read(w, obj + ELEMENT_TEXT) & ~(uint64_t)1, &ref);
    ref.name = "tail";
    pyh_walk_emit(w, pyh_walk_read(w, obj + ELEMENT_TAIL) & ~(uint64_t)1, &ref);
    uint64_t extra = pyh_walk_read(w, obj + PYH_ELEMENT_EXTRA);
    if (!extra) return;
    ref.name = "attrib";
    pyh_walk_emit(w, pyh_walk_read(w, extra + EXTRA_ATTRIB), &ref);
    pyh_walk_items(w, pyh_walk_read(w, extra + EXTRA_CHILDREN), pyh_walk_read(w, extra + EXTRA_LENGTH),
                   PYH_REF_ITEM, 0, 0);
}

const struct pyh_kind pyh_kind_element = {
    .name = "xml.etree.ElementTree.Element",
    .c_names = {"xml.etree.ElementTree.Element"},
    .native_pointers = true,
    .referents = referents,
};
