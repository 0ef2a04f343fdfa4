/* Hash maps with linear probing; see hashmap.h. */
#include "util/hashmap.h"

#include <stdlib.h>
#include <string.h>

#define EMPTY UINT64_MAX

static struct pyh_error *u64_resize(struct pyh_u64map *map, size_t new_cap)
{
    uint64_t *keys = malloc(new_cap * sizeof(*keys));
    uint64_t *values = malloc(new_cap * sizeof(*values));
    if (!keys || !values) {
        free(keys);
        free(values);
        return pyh_error_nomem();
    }
    memset(keys, 0xff, new_cap * sizeof(*keys));
    for (size_t i = 0; i < map->cap; i++) {
        if (map->keys[i] == EMPTY) continue;
        size_t j = pyh_hash_u64(map->keys[i]) & (new_cap - 1);
        while (keys[j] != EMPTY) j = (j + 1) & (new_cap - 1);
        keys[j] = map->keys[i];
        values[j] = map->values[i];
    }
    free(map->keys);
    free(map->values);
    map->keys = keys;
    map->values = values;
    map->cap = new_cap;
    return NULL;
}

struct pyh_error *pyh_u64map_put(struct pyh_u64map *map, uint64_t key, uint64_t value)
{
    if ((map->len + 1) * 4 > map->cap * 3) {
        struct pyh_error *err = u64_resize(map, map->cap ? map->cap * 2 : 64);
        if (err) return err;
    }
    size_t i = pyh_hash_u64(key) & (map->cap - 1);
    while (map->keys[i] != EMPTY && map->keys[i] != key) i = (i + 1) & (map->cap - 1);
    if (map->keys[i] == EMPTY) map->len++;
    map->keys[i] = key;
    map->values[i] = value;
    return NULL;
}

void pyh_u64map_free(struct pyh_u64map *map)
{
    free(map->keys);
    free(map->values);
    memset(map, 0, sizeof(*map));
}

/* FNV-1a, then mixed: symbol names share long prefixes, so the mix matters. */
static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return pyh_hash_u64(h);
}

static bool key_equals(const char *key, const char *s, size_t n)
{
    return strncmp(key, s, n) == 0 && key[n] == '\0';
}

static struct pyh_error *str_resize(struct pyh_strmap *map, size_t new_cap)
{
    const char **keys = calloc(new_cap, sizeof(*keys));
    uint64_t *values = malloc(new_cap * sizeof(*values));
    if (!keys || !values) {
        free(keys);
        free(values);
        return pyh_error_nomem();
    }
    for (size_t i = 0; i < map->cap; i++) {
        if (!map->keys[i]) continue;
        size_t j = hash_str(map->keys[i], strlen(map->keys[i])) & (new_cap - 1);
        while (keys[j]) j = (j + 1) & (new_cap - 1);
        keys[j] = map->keys[i];
        values[j] = map->values[i];
    }
    free(map->keys);
    free(map->values);
    map->keys = keys;
    map->values = values;
    map->cap = new_cap;
    return NULL;
}

struct pyh_error *pyh_strmap_put(struct pyh_strmap *map, const char *key, uint64_t value,
                                 bool replace)
{
    if ((map->len + 1) * 4 > map->cap * 3) {
        struct pyh_error *err = str_resize(map, map->cap ? map->cap * 2 : 64);
        if (err) return err;
    }
    size_t n = strlen(key);
    size_t i = hash_str(key, n) & (map->cap - 1);
    while (map->keys[i] && !key_equals(map->keys[i], key, n)) i = (i + 1) & (map->cap - 1);
    if (!map->keys[i]) {
        map->len++;
        map->keys[i] = key;
        map->values[i] = value;
    } else if (replace) {
        map->values[i] = value;
    }
    return NULL;
}

bool pyh_strmap_get_n(const struct pyh_strmap *map, const char *key, size_t len,
                      uint64_t *value)
{
    if (!map->cap) return false;
    size_t i = hash_str(key, len) & (map->cap - 1);
    while (map->keys[i]) {
        if (key_equals(map->keys[i], key, len)) {
            if (value) *value = map->values[i];
            return true;
        }
        i = (i + 1) & (map->cap - 1);
    }
    return false;
}

void pyh_strmap_free(struct pyh_strmap *map)
{
    free(map->keys);
    free(map->values);
    memset(map, 0, sizeof(*map));
}
