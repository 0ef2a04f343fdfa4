/* The command layer: the verbs shared by the CLI and gdb — their options, help texts and
 * the code that runs an analysis and hands its result to the report layer. Front ends only
 * split a command line into words and call pyh_command_run (pyheap.h). */
#ifndef PYH_COMMAND_COMMAND_H
#define PYH_COMMAND_COMMAND_H

#include <stdbool.h>
#include <stdio.h>

#include "pyheap.h"
#include "analysis/census.h"
#include "analysis/snapshot.h"
#include "session/session.h"

#define PYH_MAX_OPTIONS 24
#define PYH_MAX_POSITIONALS 64

/* A parsed command line of one verb. */
struct pyh_parsed {
    const char *values[PYH_MAX_OPTIONS]; /* by index in the verb's options; "" for flags */
    const char *positionals[PYH_MAX_POSITIONALS];
    int npositionals;
    enum pyh_format format;
    bool wide; /* --wide: text lines as long as they need (default 80 columns) */
    const struct pyh_verb *verb;
    const struct pyh_command_defaults *defaults;
};

/* A verb: its public description (the table's row) and the code that runs it. */
struct pyh_verb {
    struct pyh_verb_info info;
    struct pyh_error *(*run)(struct pyh_session *s, const struct pyh_parsed *p,
                             const struct pyh_command_defaults *defaults, FILE *out);
    /* Verbs that open their own targets (diff, trend, watch) run here instead, with the
     * target options the front end was given. */
    struct pyh_error *(*run_offline)(const struct pyh_parsed *p,
                                     const struct pyh_target_options *options,
                                     const struct pyh_command_defaults *defaults, FILE *out);
};

/* The table (verbs.c) and its length. */
extern const struct pyh_verb pyh_verbs[];
extern const size_t pyh_nverbs;

/* The CLI's own options (verbs.c): the target and --quiet. */
extern const struct pyh_option pyh_cli_option_table[];
extern const size_t pyh_cli_noptions;

/* The verb called name, NULL if none. */
const struct pyh_verb *pyh_verb_find(const char *name);

/* The option of verb called name (long name) or with short name c (name NULL); NULL if
 * none. */
const struct pyh_option *pyh_verb_option(const struct pyh_verb_info *verb, const char *name,
                                         size_t len, char c);

/* Checks value against option o's kind (range, choices, size syntax); a usage error naming
 * the verb and option otherwise. */
struct pyh_error *pyh_option_check(const char *verb, const struct pyh_option *o,
                                   const char *value);

/* "2G", "512M", "100K", "1.5GiB", "1048576" in bytes; false when text is none of these. A
 * rate (per_minute) may end in "/min". */
bool pyh_parse_size(const char *text, bool per_minute, uint64_t *out);

/* The closest of n candidate names to word (edit distance at most 2, or word a prefix of
 * it), for "did you mean"; NULL when none is close. */
const char *pyh_closest_name(const char *word, const char *const *names, size_t n);

/* The value of option name in p (given, else NULL), and as an integer: given, else the
 * table's default, else fallback. Values were checked when parsed. */
const char *pyh_parsed_option(const struct pyh_verb *verb, const struct pyh_parsed *p,
                              const char *name);
long pyh_parsed_int(const struct pyh_parsed *p, const char *name, long fallback);

/* Help texts (help.c): text wrapped at 79 columns from column col, continuation lines
 * indented to indent; an option's description with its default (and --json's schema); true
 * when option o runs in frontend; the CLI's target options as --help lists them. */
void pyh_help_wrap(FILE *f, const char *text, int col, int indent);
void pyh_option_description(const char *verb, const struct pyh_option *o, char *buf, size_t cap);
bool pyh_option_in(const struct pyh_option *o, enum pyh_frontend frontend);
void pyh_write_cli_target_help(FILE *f);

/* The verb being run (for its option table). */
const struct pyh_verb *pyh_verb_of(const struct pyh_parsed *p);

/* Verb implementations (one file each in this folder). */
struct pyh_error *pyh_cmd_info(struct pyh_session *s, const struct pyh_parsed *p,
                               const struct pyh_command_defaults *defaults, FILE *out);

struct pyh_error *pyh_cmd_fragmentation(struct pyh_session *s, const struct pyh_parsed *p,
                                        const struct pyh_command_defaults *defaults, FILE *out);

struct pyh_error *pyh_cmd_edges(struct pyh_session *s, const struct pyh_parsed *p,
                                const struct pyh_command_defaults *defaults, FILE *out);
struct pyh_error *pyh_cmd_snapshot(struct pyh_session *s, const struct pyh_parsed *p,
                                   const struct pyh_command_defaults *defaults, FILE *out);
struct pyh_error *pyh_cmd_diff(const struct pyh_parsed *p, const struct pyh_target_options *o,
                               const struct pyh_command_defaults *defaults, FILE *out);
struct pyh_error *pyh_cmd_trend(const struct pyh_parsed *p, const struct pyh_target_options *o,
                                const struct pyh_command_defaults *defaults, FILE *out);
struct pyh_error *pyh_cmd_watch(const struct pyh_parsed *p, const struct pyh_target_options *o,
                                const struct pyh_command_defaults *defaults, FILE *out);

/* A snapshot of the session's target (snapshot_cmd.c); retainers adds the top retainers
 * (the dominator tree: the costliest part). */
struct pyh_error *pyh_snapshot_take(struct pyh_session *s, bool retainers,
                                    struct pyh_snapshot **out);

/* The HTML report (report_cmd.c). */
struct pyh_error *pyh_cmd_report(struct pyh_session *s, const struct pyh_parsed *p,
                                 const struct pyh_command_defaults *defaults, FILE *out);

struct pyh_error *pyh_cmd_summary(struct pyh_session *s, const struct pyh_parsed *p,
                                  const struct pyh_command_defaults *defaults, FILE *out);
struct pyh_error *pyh_cmd_types(struct pyh_session *s, const struct pyh_parsed *p,
                                const struct pyh_command_defaults *defaults, FILE *out);

struct pyh_error *pyh_cmd_objects(struct pyh_session *s, const struct pyh_parsed *p,
                                  const struct pyh_command_defaults *defaults, FILE *out);
struct pyh_error *pyh_cmd_show(struct pyh_session *s, const struct pyh_parsed *p,
                               const struct pyh_command_defaults *defaults, FILE *out);

struct pyh_error *pyh_cmd_referrers(struct pyh_session *s, const struct pyh_parsed *p,
                                    const struct pyh_command_defaults *defaults, FILE *out);
struct pyh_error *pyh_cmd_path(struct pyh_session *s, const struct pyh_parsed *p,
                               const struct pyh_command_defaults *defaults, FILE *out);
struct pyh_error *pyh_cmd_retained(struct pyh_session *s, const struct pyh_parsed *p,
                                   const struct pyh_command_defaults *defaults, FILE *out);
struct pyh_error *pyh_cmd_unreachable(struct pyh_session *s, const struct pyh_parsed *p,
                                      const struct pyh_command_defaults *defaults, FILE *out);
struct pyh_error *pyh_cmd_gc(struct pyh_session *s, const struct pyh_parsed *p,
                             const struct pyh_command_defaults *defaults, FILE *out);

/* The census of s's target (census.heap: the session's heap) and the fragmentation it is
 * measured against, over the session's allocators (types_cmd.c). census_only: the caller
 * wants no more than the census — not the fragmentation's resident figures (see
 * pyh_fragmentation_gather), and not a heap that lists every object (the session's heap is
 * then the census's, pyh_session_heap_census, unless subinterpreters need every object to
 * attribute them). frag and census are the caller's to free, also on error. */
struct pyh_error *pyh_census_take(struct pyh_session *s, enum pyh_census_sort sort, bool census_only,
                                  struct pyh_fragmentation *frag, struct pyh_census *census);

/* The collector's view with the GC backlog (gc_view.h) of s's target. */
struct pyh_gc_view;
struct pyh_error *pyh_gc_view_take(struct pyh_session *s, struct pyh_gc_view *v);

/* An address argument: hex (0x...) or decimal; a front end may have evaluated an expression
 * (gdb) before. */
struct pyh_error *pyh_parse_address(const char *verb, const char *text, uint64_t *addr);

#endif
