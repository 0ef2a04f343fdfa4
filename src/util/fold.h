/* 80-column text: a stream that folds every line longer than the width at a space (a word
 * longer than the line is never cut: a path or an expression is copied whole), continuing
 * under the line's own indentation plus two. Reports write
 * their text through it unless --wide is given; tables are laid out to fit, and this catches
 * the lines no layout can bound (verdicts, paths, file names from the target). */
#ifndef PYH_UTIL_FOLD_H
#define PYH_UTIL_FOLD_H

#include <stdio.h>

/* A write-only stream over out that folds lines to width columns (UTF-8 characters); fclose
 * flushes it (out stays open). NULL when out of memory. */
FILE *pyh_fold_stream(FILE *out, int width);

#endif
