/* The layout of pymalloc's own structs, the same in every supported version (measured from
 * the DWARF of 3.8-3.13; tests/unit/test_layout_dwarf.c checks it against every interpreter
 * installed). Kept apart from runtime/layout.h because these types live only in
 * obmalloc.c's compilation unit: asking the DWARF for them at every open would walk most of
 * libpython's debug info. */
#ifndef PYH_ALLOCATORS_PYMALLOC_LAYOUT_H
#define PYH_ALLOCATORS_PYMALLOC_LAYOUT_H

#define PYH_ARENA_OBJECT_SIZE 48
#define PYH_MAX_POOL_BLOCKS 1024 /* 16 KiB pools of 16-byte blocks */

/* struct _obmalloc_state (3.12, 3.13) */
#define PYH_OBMALLOC_ARENAS 512
#define PYH_OBMALLOC_MAXARENAS 520
#define PYH_OBMALLOC_NARENAS_CURRENTLY_ALLOCATED 1064
#define PYH_OBMALLOC_NTIMES_ARENA_ALLOCATED 1072
#define PYH_OBMALLOC_NARENAS_HIGHWATER 1080
#define PYH_OBMALLOC_RAW_ALLOCATED_BLOCKS 1088

/* For the DWARF test: (type, member path, expected offset or size, first minor it exists). */
struct pyh_static_layout_field {
    const char *type, *path;
    long offset;
    int since_minor;
};

#define PYH_PYMALLOC_LAYOUT_FIELDS                                                             \
    {"arena_object", "", PYH_ARENA_OBJECT_SIZE, 8}, {"arena_object", "address", 0, 8},         \
        {"arena_object", "pool_address", 8, 8}, {"arena_object", "nfreepools", 16, 8},        \
        {"arena_object", "ntotalpools", 20, 8}, {"arena_object", "freepools", 24, 8},          \
        {"pool_header", "", 48, 8}, {"pool_header", "ref", 0, 8},                              \
        {"pool_header", "freeblock", 8, 8}, {"pool_header", "arenaindex", 32, 8},              \
        {"pool_header", "szidx", 36, 8}, {"pool_header", "nextoffset", 40, 8},                 \
        {"pool_header", "maxnextoffset", 44, 8},                                               \
        {"_obmalloc_state", "mgmt.arenas", PYH_OBMALLOC_ARENAS, 12},                           \
        {"_obmalloc_state", "mgmt.maxarenas", PYH_OBMALLOC_MAXARENAS, 12},                     \
        {"_obmalloc_state", "mgmt.narenas_currently_allocated",                                \
         PYH_OBMALLOC_NARENAS_CURRENTLY_ALLOCATED, 12},                                        \
        {"_obmalloc_state", "mgmt.ntimes_arena_allocated", PYH_OBMALLOC_NTIMES_ARENA_ALLOCATED, \
         12},                                                                                  \
        {"_obmalloc_state", "mgmt.narenas_highwater", PYH_OBMALLOC_NARENAS_HIGHWATER, 12},     \
        {"_obmalloc_state", "mgmt.raw_allocated_blocks", PYH_OBMALLOC_RAW_ALLOCATED_BLOCKS, 12},

#endif
