/* Fuzz target (f): the object classifier. The input is a memory image laid out as
 * fuzz_heap.h says: type objects are registered from it (pyh_heap_add_type), kinds assigned
 * (type names read for collections.deque), every block classified (pyh_heap_classify: refcount,
 * registered type, header position, size fits) and every object sized (pyh_heap_sizeof from
 * the block's copy and from the target). Then every type's name is resolved (heap types:
 * ht_qualname and __module__ from the type's dict) and every object previewed (pyh_preview,
 * pyh_details: the values `show` prints). */
#include "fuzz_heap.h"
#include "heap/preview.h"

#define MAX_PREVIEWS 128

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_image img;
    static struct pyh_details details;
    fuzz_image_parse(&img, data, size);
    struct fuzz_heap fh;
    if (!fuzz_heap_open(&fh, &img)) return 0;
    struct pyh_heap *heap = fh.heap;
    for (size_t i = 0; i < heap->ntypes; i++) (void)pyh_heap_type_name(heap, (uint32_t)i);
    char buf[512];
    for (size_t i = 0; i < heap->nobjects && i < MAX_PREVIEWS; i++) {
        pyh_preview(heap, heap->objects[i].addr, 2, buf, sizeof(buf));
        pyh_details(heap, heap->objects[i].addr, heap->objects[i].type, &details);
        (void)pyh_heap_object_size(heap, i);
    }
    fuzz_heap_close(&fh);
    return 0;
}
