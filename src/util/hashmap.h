/* Open-addressing hash maps, written once and used everywhere: u64 -> u64 (addresses to
 * indices) and string -> u64 (symbol names to addresses). No allocation per entry. */
#ifndef PYH_UTIL_HASHMAP_H
#define PYH_UTIL_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Maps u64 keys to u64 values. The key UINT64_MAX is reserved (it marks empty slots). */
struct pyh_u64map {
    uint64_t *keys;
    uint64_t *values;
    size_t cap; /* power of two, or 0 */
    size_t len;
};

/* Inserts or replaces key -> value. */
struct pyh_error *pyh_u64map_put(struct pyh_u64map *map, uint64_t key, uint64_t value);

static inline uint64_t pyh_hash_u64(uint64_t x);

/* Finds key; stores its value in *value (may be NULL) and returns true when present. Inline:
 * the census asks it for the type of every block. */
static inline bool pyh_u64map_get(const struct pyh_u64map *map, uint64_t key, uint64_t *value)
{
    if (!map->cap) return false;
    size_t i = pyh_hash_u64(key) & (map->cap - 1);
    while (map->keys[i] != UINT64_MAX) {
        if (map->keys[i] == key) {
            if (value) *value = map->values[i];
            return true;
        }
        i = (i + 1) & (map->cap - 1);
    }
    return false;
}

void pyh_u64map_free(struct pyh_u64map *map);

/* Maps strings to u64 values. Keys are borrowed: they must outlive the map (they point into
 * mmapped string tables, so copying them would cost memory for nothing). */
struct pyh_strmap {
    const char **keys;
    uint64_t *values;
    size_t cap;
    size_t len;
};

/* Inserts key -> value; when replace is false an existing key keeps its value. */
struct pyh_error *pyh_strmap_put(struct pyh_strmap *map, const char *key, uint64_t value,
                                 bool replace);

/* Finds key (len bytes, need not be NUL-terminated). */
bool pyh_strmap_get_n(const struct pyh_strmap *map, const char *key, size_t len,
                      uint64_t *value);

static inline bool pyh_strmap_get(const struct pyh_strmap *map, const char *key,
                                  uint64_t *value)
{
    size_t n = 0;
    while (key[n]) n++;
    return pyh_strmap_get_n(map, key, n, value);
}

void pyh_strmap_free(struct pyh_strmap *map);

/* A 64-bit mix of x (splitmix64 finalizer). */
static inline uint64_t pyh_hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif
