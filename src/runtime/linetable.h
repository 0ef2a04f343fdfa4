/* Line numbers from CPython's line tables, one decoder per format. Pure functions over
 * bytes already copied out of the target: each stops at the end of the table, so a corrupt
 * table gives a wrong line at worst, never a read out of bounds. */
#ifndef PYH_RUNTIME_LINETABLE_H
#define PYH_RUNTIME_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

/* 3.8-3.9 co_lnotab: (bytecode delta, signed line delta) byte pairs. offset: byte offset of
 * the instruction (f_lasti). */
int pyh_line_lnotab(const uint8_t *table, size_t size, int firstlineno, int64_t offset);

/* 3.10 co_linetable: (bytecode delta, signed line delta) pairs over ranges, -128 = no line.
 * offset: byte offset (f_lasti * 2). Returns -1 for "no line". */
int pyh_line_linetable310(const uint8_t *table, size_t size, int firstlineno, int64_t offset);

/* 3.11+ location table (co_linetable): entries of a start byte (bit 7 set, kind in bits 3-6,
 * length-1 in code units in bits 0-2) and varint operands. offset: byte offset of the
 * instruction. Returns -1 for "no line". */
int pyh_line_locations(const uint8_t *table, size_t size, int firstlineno, int64_t offset);

#endif
