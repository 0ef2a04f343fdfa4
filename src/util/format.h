/* Numbers for people: byte counts and thousands separators. */
#ifndef PYH_UTIL_FORMAT_H
#define PYH_UTIL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Formats a byte count: "812 B", "1.50 KiB", "3.2 GiB". Returns buf. */
const char *pyh_format_bytes(uint64_t bytes, char *buf, size_t cap);

/* Formats an integer with thousands separators: "1,234,567". Returns buf. */
const char *pyh_format_count(uint64_t n, char *buf, size_t cap);

#endif
