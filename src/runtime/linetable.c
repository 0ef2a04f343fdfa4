/* Line-table decoders; see linetable.h. They follow PyCode_Addr2Line of each version. */
#include "runtime/linetable.h"

#include <stdbool.h>

int pyh_line_lnotab(const uint8_t *table, size_t size, int firstlineno, int64_t offset)
{
    int line = firstlineno;
    int64_t addr = 0;
    for (size_t i = 0; i + 1 < size; i += 2) {
        addr += table[i];
        if (addr > offset) break;
        line += (int8_t)table[i + 1];
    }
    return line;
}

int pyh_line_linetable310(const uint8_t *table, size_t size, int firstlineno, int64_t offset)
{
    if (offset < 0) return firstlineno;
    /* Ranges [start, end) with a line each; the range containing offset wins. Empty ranges
     * only carry line deltas forward. */
    int64_t end = 0;
    int computed = firstlineno, line = -1;
    for (size_t i = 0; i + 1 < size; i += 2) {
        int64_t start = end;
        end += table[i];
        int8_t delta = (int8_t)table[i + 1];
        if (delta == -128) {
            line = -1;
        } else {
            computed += delta;
            line = computed;
        }
        if (start <= offset && offset < end) return line;
    }
    return -1;
}

/* Reads an unsigned varint of 6-bit groups (bit 6 = more follows) at *p, not past end. */
static unsigned read_varint(const uint8_t **p, const uint8_t *end)
{
    unsigned value = 0, shift = 0;
    while (*p < end) {
        uint8_t b = *(*p)++;
        value |= (unsigned)(b & 63) << shift;
        if (!(b & 64) || shift > 24) break;
        shift += 6;
    }
    return value;
}

static int read_signed_varint(const uint8_t **p, const uint8_t *end)
{
    unsigned v = read_varint(p, end);
    return (v & 1) ? -(int)(v >> 1) : (int)(v >> 1);
}

int pyh_line_locations(const uint8_t *table, size_t size, int firstlineno, int64_t offset)
{
    if (offset < 0) return firstlineno;
    const uint8_t *p = table, *end = table + size;
    int64_t addr = 0;
    int computed = firstlineno;
    while (p < end) {
        uint8_t first = *p;
        if (!(first & 128)) { /* not at an entry start: the table is corrupt */
            p++;
            continue;
        }
        int kind = (first >> 3) & 15;
        int64_t length = ((first & 7) + 1) * 2;
        const uint8_t *operands = p + 1;
        /* Kinds 0-9: short forms on the same line; 10-12: one-line forms with a delta of
         * kind-10; 13 (no columns) and 14 (long): a signed varint delta first; 15: no
         * location at all. */
        int delta = 0;
        if (kind == 13 || kind == 14)
            delta = read_signed_varint(&operands, end);
        else if (kind >= 10 && kind <= 12)
            delta = kind - 10;
        computed += delta;
        int line = kind == 15 ? -1 : computed;
        if (offset < addr + length) return line;
        addr += length;
        /* Skip to the next entry start. */
        p++;
        while (p < end && !(*p & 128)) p++;
    }
    return -1;
}
