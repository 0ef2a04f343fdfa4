/* The one output sanitiser for text that may come from the target (type, attribute, thread
 * and file names, previews, paths in messages): a hostile core must not be able to write
 * to the user's terminal. What it escapes, visibly:
 *   - C0 controls and DEL (ESC starts every terminal escape sequence) as \xNN, except
 *     newline and tab in a stream (a report's own line structure);
 *   - C1 controls U+0080..U+009F (U+009B is the one-character CSI) as \u00NN;
 *   - bidirectional controls (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) and
 *     the line and paragraph separators (U+2028, U+2029) as \uNNNN;
 *   - every byte that is not part of valid UTF-8 (overlong forms, surrogates, past U+10FFFF,
 *     cut sequences) as \xNN.
 * Everything else, valid UTF-8 included, passes unchanged, so text that needs no escape is
 * byte for byte the same and sanitising twice changes nothing. JSON is not sanitised (its
 * encoder escapes controls exactly); see pyh_json_text in report.h. */
#ifndef PYH_UTIL_SANITIZE_H
#define PYH_UTIL_SANITIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The length (1-4) of the valid UTF-8 sequence starting s[0..n) and its code point in
 * *cp; 0 when none starts there (invalid, or cut by n). */
size_t pyh_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Whether the sanitiser escapes code point cp (C1 controls, bidi controls, U+2028/9). */
bool pyh_code_point_escaped(uint32_t cp);

/* Whether s[0..n) is valid UTF-8 and needs no escape (in a line: newline and tab too). */
bool pyh_text_is_clean(const char *s, size_t n, bool line);

/* A newly allocated sanitised copy of s (a line: newline and tab are escaped too). NULL
 * when out of memory. */
char *pyh_sanitize_line(const char *s);

/* A newly allocated copy of s with only the bytes that are not valid UTF-8 escaped (as
 * \xNN): for JSON, whose encoder escapes the rest exactly. NULL when out of memory. */
char *pyh_escape_invalid_utf8(const char *s);

/* A write-only stream that sanitises what is written to it into out, keeping newlines and
 * tabs; a UTF-8 sequence split across writes is joined. fclose flushes it and, when
 * close_out, closes out as well. NULL when out of memory. */
FILE *pyh_sanitize_stream(FILE *out, bool close_out);

#endif
