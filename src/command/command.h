/* The command layer: the verbs shared by the CLI and gdb — their options, help texts and
 * the code that runs an analysis and hands its result to the report layer. Front ends only
 * split a command line into words and call pyh_command_run (pyheap.h). */
#ifndef PYH_COMMAND_COMMAND_H
#define PYH_COMMAND_COMMAND_H

#include <stdbool.h>
#include <stdio.h>

#include "pyheap.h"
#include "analysis/snapshot.h"
#include "session/session.h"

/* One option of a verb. */
struct pyh_option_spec {
    const char *name; /* long name without dashes: "json", "limit" */
    bool has_value;
    const char *help; /* one line, for --help */
    char short_name;  /* a one-letter alias ("-o"), or 0 */
};

#define PYH_MAX_OPTIONS 16
#define PYH_MAX_POSITIONALS 64

/* A parsed command line of one verb. */
struct pyh_parsed {
    const char *values[PYH_MAX_OPTIONS]; /* by index in the verb's option specs; "" for flags */
    const char *positionals[PYH_MAX_POSITIONALS];
    int npositionals;
    enum pyh_format format;
    const struct pyh_verb *verb;
};

/* A verb. */
struct pyh_verb {
    const char *name;
    const char *summary; /* one line */
    const char *usage;   /* arguments after the verb, e.g. "[--json]" */
    const char *help;    /* paragraphs after the usage line */
    struct pyh_option_spec options[PYH_MAX_OPTIONS];
    int min_positionals, max_positionals;
    struct pyh_error *(*run)(struct pyh_session *s, const struct pyh_parsed *p,
                             const struct pyh_command_defaults *defaults, FILE *out);
    /* Verbs that open their own targets (diff, trend, watch) run here instead, with the
     * target options the front end was given. */
    struct pyh_error *(*run_offline)(const struct pyh_parsed *p,
                                     const struct pyh_target_options *options,
                                     const struct pyh_command_defaults *defaults, FILE *out);
};

/* The verb called name, NULL if none. */
const struct pyh_verb *pyh_verb_find(const char *name);

/* The value of option name in p, NULL when absent. */
const char *pyh_parsed_option(const struct pyh_verb *verb, const struct pyh_parsed *p,
                              const char *name);

/* The numeric value of option name (def when absent); a usage error when it is not a
 * number in [min, max]. */
struct pyh_error *pyh_parsed_number(const struct pyh_verb *verb, const struct pyh_parsed *p,
                                    const char *name, long def, long min, long max, long *out);

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

/* An address argument: hex (0x...) or decimal; a front end may have evaluated an expression
 * (gdb) before. */
struct pyh_error *pyh_parse_address(const char *verb, const char *text, uint64_t *addr);

#endif
