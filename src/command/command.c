/* Parsing a verb's words against the verb table (verbs.c), its help text, and running it;
 * see command.h. */
#include "command/command.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/fold.h"
#include "util/sanitize.h"
#include "util/interrupt.h"

/* ---- The table -------------------------------------------------------------------- */

const struct pyh_verb *pyh_verb_find(const char *name)
{
    for (size_t i = 0; name && i < pyh_nverbs; i++)
        if (strcmp(pyh_verbs[i].info.name, name) == 0) return &pyh_verbs[i];
    return NULL;
}

const struct pyh_verb_info *pyh_verb_at(size_t i)
{
    return i < pyh_nverbs ? &pyh_verbs[i].info : NULL;
}

const struct pyh_verb_info *pyh_verb_lookup(const char *name)
{
    const struct pyh_verb *v = pyh_verb_find(name);
    return v ? &v->info : NULL;
}

const struct pyh_option *pyh_cli_options(size_t *n)
{
    *n = pyh_cli_noptions;
    return pyh_cli_option_table;
}

const char *const *pyh_command_names(enum pyh_frontend frontend)
{
    static const char *names[2][64];
    int k = frontend == PYH_FRONTEND_GDB;
    size_t n = 0;
    for (size_t i = 0; i < pyh_nverbs && n < 63; i++)
        if (pyh_verbs[i].info.frontends & frontend) names[k][n++] = pyh_verbs[i].info.name;
    names[k][n] = NULL;
    return names[k];
}

const char *pyh_command_summary(const char *verb)
{
    const struct pyh_verb *v = pyh_verb_find(verb);
    return v ? v->info.summary : NULL;
}

const struct pyh_option *pyh_verb_option(const struct pyh_verb_info *verb, const char *name,
                                         size_t len, char c)
{
    for (size_t k = 0; k < verb->noptions; k++) {
        const struct pyh_option *o = &verb->options[k];
        if (name ? strlen(o->name) == len && strncmp(o->name, name, len) == 0
                 : c && o->short_name == c)
            return o;
    }
    return NULL;
}

/* ---- Values ----------------------------------------------------------------------- */

bool pyh_parse_size(const char *text, bool per_minute, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    uint64_t unit = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K':
        unit = 1ULL << 10;
        end++;
        break;
    case 'M':
        unit = 1ULL << 20;
        end++;
        break;
    case 'G':
        unit = 1ULL << 30;
        end++;
        break;
    case 'T':
        unit = 1ULL << 40;
        end++;
        break;
    default:
        break;
    }
    if (unit > 1 && toupper((unsigned char)*end) == 'I') end++; /* "GiB" */
    if (toupper((unsigned char)*end) == 'B') end++;
    if (per_minute && strcmp(end, "/min") == 0) end += 4;
    /* strtod also takes "nan", "inf" and 1e30: none is a size, and converting them to an
     * integer is undefined. */
    if (errno || end == text || *end || !(v > 0) || v * (double)unit >= 0x1p64) return false;
    *out = (uint64_t)(v * (double)unit);
    return true;
}

static bool parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

static bool is_choice(const char *choices, const char *value)
{
    size_t len = strlen(value);
    for (const char *c = choices; c && *c;) {
        size_t n = strcspn(c, "|");
        if (n == len && strncmp(c, value, n) == 0) return true;
        c += n + (c[n] == '|');
    }
    return false;
}

struct pyh_error *pyh_option_check(const char *verb, const struct pyh_option *o, const char *value)
{
    long v;
    uint64_t size;
    switch (o->kind) {
    case PYH_VALUE_INT:
        if (!parse_long(value, &v) || v < o->min || v > o->max)
            return pyh_error_create(PYH_ERR_USAGE,
                                    "%s: --%s wants a number from %ld to %ld, not '%s'", verb,
                                    o->name, o->min, o->max, value);
        return NULL;
    case PYH_VALUE_PID:
        if (!parse_long(value, &v) || v <= 0 || v > 0x7fffffff)
            return pyh_error_create(PYH_ERR_USAGE, "%s: --%s wants a process ID, not '%s'", verb,
                                    o->name, value);
        return NULL;
    case PYH_VALUE_SIZE:
        if (!pyh_parse_size(value, false, &size))
            return pyh_error_create(PYH_ERR_USAGE,
                                    "%s: --%s wants a size such as 2G or 500M, not '%s'", verb,
                                    o->name, value);
        return NULL;
    case PYH_VALUE_CHOICE:
        if (!is_choice(o->choices, value))
            return pyh_error_create(PYH_ERR_USAGE, "%s: --%s is %s, not '%s'", verb, o->name,
                                    o->choices, value);
        return NULL;
    default:
        return NULL;
    }
}

/* ---- "Did you mean" --------------------------------------------------------------- */

/* Optimal string alignment distance (Levenshtein with adjacent transpositions), capped. */
static size_t distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 40 || m > 40) return 99;
    size_t d[41][41];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best) best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

const char *pyh_closest_name(const char *word, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t best_d = 3, len = strlen(word);
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(word, names[i]);
        if (len >= 2 && strncmp(names[i], word, len) == 0) d = 1; /* a prefix: "frag" */
        if (d < best_d && d <= (len + 1) / 2) {
            best_d = d;
            best = names[i];
        }
    }
    return best;
}

/* " (did you mean --limit?)" for an unknown option of v, or "". */
static void option_hint(const struct pyh_verb_info *v, const char *name, char *buf, size_t cap)
{
    const char *names[PYH_MAX_OPTIONS];
    size_t n = 0;
    for (size_t k = 0; k < v->noptions && n < PYH_MAX_OPTIONS; k++)
        names[n++] = v->options[k].name;
    const char *best = pyh_closest_name(name, names, n);
    if (best)
        snprintf(buf, cap, " (did you mean --%s?)", best);
    else
        buf[0] = '\0';
}

/* ---- Parsing a verb's words ------------------------------------------------------- */

const char *pyh_parsed_option(const struct pyh_verb *verb, const struct pyh_parsed *p,
                              const char *name)
{
    const struct pyh_verb_info *v = verb ? &verb->info : &p->verb->info;
    for (size_t k = 0; k < v->noptions; k++)
        if (strcmp(v->options[k].name, name) == 0) return p->values[k];
    return NULL;
}

long pyh_parsed_int(const struct pyh_parsed *p, const char *name, long fallback)
{
    const struct pyh_verb_info *v = &p->verb->info;
    for (size_t k = 0; k < v->noptions; k++) {
        const struct pyh_option *o = &v->options[k];
        if (strcmp(o->name, name) != 0) continue;
        long value;
        if (p->values[k] && parse_long(p->values[k], &value)) return value;
        /* gdb's `set py-heap limit N` is every --limit's default. */
        if (!strcmp(name, "limit") && p->defaults && p->defaults->limit > 0 &&
            p->defaults->limit >= o->min && p->defaults->limit <= o->max)
            return p->defaults->limit;
        if (o->def && parse_long(o->def, &value)) return value;
        return fallback;
    }
    return fallback;
}

/* Parses argv[1..] of a verb: --name, --name VALUE, --name=VALUE, -x VALUE, and
 * positionals; values are checked against their options. */
static struct pyh_error *parse(const struct pyh_verb *verb, int argc, char *const argv[],
                               const struct pyh_command_defaults *defaults, struct pyh_parsed *p)
{
    const struct pyh_verb_info *v = &verb->info;
    memset(p, 0, sizeof(*p));
    p->format = defaults ? defaults->format : PYH_FORMAT_TEXT;
    p->defaults = defaults;
    p->verb = verb;
    bool only_positionals = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const struct pyh_option *o = NULL;
        const char *value = NULL;
        if (!only_positionals && arg[0] == '-' && arg[1] && arg[1] != '-' && !arg[2]) {
            if (!(o = pyh_verb_option(v, NULL, 0, arg[1])))
                return pyh_error_create(PYH_ERR_USAGE, "%s: unknown option '%s'", v->name, arg);
        } else if (!only_positionals && arg[0] == '-' && arg[1] == '-' && arg[2]) {
            const char *name = arg + 2;
            size_t len = strcspn(name, "=");
            if (!(o = pyh_verb_option(v, name, len, 0))) {
                char hint[64], word[64];
                snprintf(word, sizeof(word), "%.*s", (int)(len < 63 ? len : 63), name);
                option_hint(v, word, hint, sizeof(hint));
                return pyh_error_create(PYH_ERR_USAGE, "%s: unknown option '%s'%s", v->name, arg,
                                        hint);
            }
            if (name[len] == '=') {
                if (o->kind == PYH_VALUE_NONE)
                    return pyh_error_create(PYH_ERR_USAGE, "%s: option '--%s' takes no value",
                                            v->name, o->name);
                value = name + len + 1;
            }
        } else {
            if (!only_positionals && strcmp(arg, "--") == 0) {
                only_positionals = true;
                continue;
            }
            if (p->npositionals >= v->max_args || p->npositionals >= PYH_MAX_POSITIONALS)
                return pyh_error_create(PYH_ERR_USAGE, "%s: unexpected argument '%s'", v->name,
                                        arg);
            p->positionals[p->npositionals++] = arg;
            continue;
        }
        if (o->kind != PYH_VALUE_NONE && !value) {
            if (i + 1 >= argc)
                return pyh_error_create(PYH_ERR_USAGE, "%s: option '%s' needs a value (%s)",
                                        v->name, arg, o->metavar ? o->metavar : "a value");
            value = argv[++i];
        }
        struct pyh_error *err =
            o->kind == PYH_VALUE_NONE ? NULL : pyh_option_check(v->name, o, value);
        if (err) return err;
        p->values[o - v->options] = o->kind == PYH_VALUE_NONE ? "" : value;
    }
    if (p->npositionals < v->min_args)
        return pyh_error_create(PYH_ERR_USAGE, "%s: missing argument (usage: %s %s)", v->name,
                                v->name, v->args);
    if (pyh_parsed_option(verb, p, "json")) p->format = PYH_FORMAT_JSON;
    p->wide = pyh_parsed_option(verb, p, "wide") != NULL;
    return NULL;
}

const struct pyh_verb *pyh_verb_of(const struct pyh_parsed *p)
{
    return p->verb;
}

int pyh_command_option_arity(const char *verb, const char *option)
{
    const struct pyh_verb *v = pyh_verb_find(verb);
    if (!v || option[0] != '-') return -1;
    const struct pyh_option *o;
    if (option[1] && option[1] != '-' && !option[2]) {
        o = pyh_verb_option(&v->info, NULL, 0, option[1]);
        return o ? o->kind != PYH_VALUE_NONE : -1;
    }
    if (option[1] != '-') return -1;
    const char *name = option + 2;
    size_t len = strcspn(name, "=");
    o = pyh_verb_option(&v->info, name, len, 0);
    if (!o) return -1;
    return o->kind != PYH_VALUE_NONE && !name[len];
}

static struct pyh_error *unknown_verb(const char *name)
{
    const char *const *names = pyh_command_names(PYH_FRONTEND_CLI);
    size_t n = 0;
    while (names[n])
        n++;
    const char *best = pyh_closest_name(name, names, n);
    if (best)
        return pyh_error_create(PYH_ERR_USAGE, "unknown command '%s' (did you mean %s?)", name,
                                best);
    return pyh_error_create(PYH_ERR_USAGE, "unknown command '%s'", name);
}

struct pyh_error *pyh_command_check(int argc, char *const argv[])
{
    if (argc < 1) return pyh_error_create(PYH_ERR_USAGE, "no command given");
    const struct pyh_verb *v = pyh_verb_find(argv[0]);
    if (!v) return unknown_verb(argv[0]);
    struct pyh_parsed p;
    return parse(v, argc, argv, NULL, &p);
}

/* ---- Running ---------------------------------------------------------------------- */

#define TEXT_WIDTH 80

/* Where a verb writes: text through the sanitiser (util/sanitize.h: no control sequence or
 * invalid UTF-8 from the target reaches a terminal) and then the folding stream (80
 * columns) unless --wide, so that escapes count as the columns they print; JSON (exact:
 * its encoder escapes) and snapshot's file on stdout as they are. NULL when out of memory. */
static FILE *text_stream(const struct pyh_parsed *p, FILE *out)
{
    if (p->format == PYH_FORMAT_JSON || p->verb->run == pyh_cmd_snapshot) /* a file with -o - */
        return out;
    /* watch's log lines are records: sanitised, never folded. */
    bool fold = !p->wide && p->verb->run_offline != pyh_cmd_watch;
    FILE *inner = fold ? pyh_fold_stream(out, TEXT_WIDTH) : out;
    if (!inner) return NULL;
    if (fold) setvbuf(inner, NULL, _IOFBF, 1 << 16);
    FILE *f = pyh_sanitize_stream(inner, fold);
    if (!f) {
        if (fold) fclose(inner);
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 16);
    return f;
}

struct pyh_error *pyh_command_run_offline(int argc, char *const argv[],
                                          const struct pyh_target_options *options,
                                          const struct pyh_command_defaults *defaults, FILE *out)
{
    struct pyh_error *err = pyh_command_check(argc, argv);
    if (err) return err;
    const struct pyh_verb *v = pyh_verb_find(argv[0]);
    if (!v->run_offline)
        return pyh_error_create(PYH_ERR_USAGE, "%s needs a target (a core file or --pid)",
                                v->info.name);
    struct pyh_parsed p;
    if ((err = parse(v, argc, argv, defaults, &p))) return err;
    struct pyh_target_options none = {0};
    FILE *text = text_stream(&p, out);
    if (!text) return pyh_error_nomem();
    err = v->run_offline(&p, options ? options : &none, defaults, text);
    if (text != out) fclose(text);
    if (!err && pyh_interrupted()) err = pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
    return err;
}

struct pyh_error *pyh_command_run(struct pyh_session *session, int argc, char *const argv[],
                                  const struct pyh_command_defaults *defaults, FILE *out)
{
    struct pyh_error *err = pyh_command_check(argc, argv);
    if (err) return err;
    const struct pyh_verb *v = pyh_verb_find(argv[0]);
    if (!v->run)
        return pyh_error_create(PYH_ERR_USAGE,
                                "%s works on snapshots, cores or PIDs it is given, "
                                "not on the current target",
                                v->info.name);
    struct pyh_parsed p;
    if ((err = parse(v, argc, argv, defaults, &p))) return err;
    FILE *text = text_stream(&p, out);
    if (!text) return pyh_error_nomem();
    err = v->run(session, &p, defaults, text);
    if (text != out) fclose(text);
    if (!err && pyh_interrupted()) err = pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
    /* Once here for every verb: a process that exited mid-command is the cause of whatever
     * failed after it, and a truncated core or a mismatched file is the likely one. */
    return pyh_target_explain(session->target, err);
}

struct pyh_error *pyh_parse_address(const char *verb, const char *text, uint64_t *addr)
{
    char *end;
    errno = 0;
    *addr = strtoull(text, &end, 0);
    if (errno || end == text || *end || !*addr)
        return pyh_error_create(PYH_ERR_USAGE, "%s: '%s' is not an address (hex 0x... or decimal)",
                                verb, text);
    return NULL;
}
