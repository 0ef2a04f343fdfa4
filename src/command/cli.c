/* The CLI's command line, parsed against the verb table: the target (a core, -p PID or
 * --coredump MATCH), the target options and the verb's own options, in any order. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "command/command.h"

static const struct pyh_option *cli_option(const char *name, size_t len, char c)
{
    for (size_t i = 0; i < pyh_cli_noptions; i++) {
        const struct pyh_option *o = &pyh_cli_option_table[i];
        if (name ? strlen(o->name) == len && strncmp(o->name, name, len) == 0
                 : c && o->short_name == c)
            return o;
    }
    return NULL;
}

/* An address argument (hex or decimal), as pyh_parse_address reads it. */
static bool looks_like_address(const char *s)
{
    char *end;
    errno = 0;
    strtoull(s, &end, 0);
    return !errno && end != s && !*end;
}

static bool all_digits(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* The usage error for an unknown option, with the closest name of the verb's options and
 * the CLI's. */
static struct pyh_error *unknown_option(const struct pyh_verb_info *v, const char *arg)
{
    const char *names[PYH_MAX_OPTIONS + 16];
    size_t n = 0;
    for (size_t k = 0; k < v->noptions && n < PYH_MAX_OPTIONS; k++)
        names[n++] = v->options[k].name;
    for (size_t k = 0; k < pyh_cli_noptions && n < PYH_MAX_OPTIONS + 16; k++)
        names[n++] = pyh_cli_option_table[k].name;
    const char *word = arg + strspn(arg, "-");
    char buf[64];
    snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(word, "="), word);
    const char *best = pyh_closest_name(buf, names, n);
    if (best)
        return pyh_error_create(PYH_ERR_USAGE, "%s: unknown option '%s' (did you mean --%s?)",
                                v->name, arg, best);
    return pyh_error_create(PYH_ERR_USAGE, "%s: unknown option '%s'", v->name, arg);
}

/* Sets the target field of a CLI option. */
static struct pyh_error *take_cli_option(const struct pyh_verb_info *v, const struct pyh_option *o,
                                         const char *value, struct pyh_command_line *cl)
{
    if (v->own_targets && (!strcmp(o->name, "pid") || !strcmp(o->name, "coredump")))
        return pyh_error_create(PYH_ERR_USAGE,
                                "%s takes its inputs as arguments (snapshot files, cores, or "
                                "a process as pid:N), not --%s",
                                v->name, o->name);
    if (!strcmp(o->name, "pid")) {
        char *end;
        errno = 0;
        long pid = strtol(value, &end, 10);
        if (errno || end == value || *end || pid <= 0 || pid > 0x7fffffff)
            return pyh_error_create(PYH_ERR_USAGE, "invalid PID '%s'", value);
        if (cl->pid && cl->pid != (int)pid)
            return pyh_error_create(PYH_ERR_USAGE, "give one process, not %d and %ld", cl->pid,
                                    pid);
        cl->pid = (int)pid;
    } else if (!strcmp(o->name, "coredump")) {
        cl->coredump = value;
    } else if (!strcmp(o->name, "exe")) {
        cl->target.exe = value;
    } else if (!strcmp(o->name, "sysroot")) {
        cl->target.sysroot = value;
    } else if (!strcmp(o->name, "lib-path")) {
        cl->target.lib_path = value;
    } else if (!strcmp(o->name, "debug-dir")) {
        cl->target.debug_dirs = value;
    } else if (!strcmp(o->name, "no-stop")) {
        cl->target.no_stop = true;
    } else if (!strcmp(o->name, "copy")) {
        cl->target.copy = true;
    } else if (!strcmp(o->name, "no-copy")) {
        cl->target.no_copy = true;
    } else if (!strcmp(o->name, "max-pause")) {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !(v > 0) || v > 1e6)
            return pyh_error_create(PYH_ERR_USAGE,
                                    "invalid --max-pause '%s': give a positive number of seconds "
                                    "(e.g. 0.5)",
                                    value);
        cl->target.max_pause = v;
    } else if (!strcmp(o->name, "quiet")) {
        cl->quiet = true;
    }
    return NULL;
}

/* One option word at argv[*i] (and its value): the verb's (into cl->argv) or the CLI's. */
static struct pyh_error *take_option(const struct pyh_verb_info *v, int argc, char *const argv[],
                                     int *i, struct pyh_command_line *cl)
{
    const char *arg = argv[*i];
    const struct pyh_option *o;
    const char *value = NULL;
    bool is_long = arg[1] == '-';
    if (is_long) {
        const char *name = arg + 2;
        size_t len = strcspn(name, "=");
        if (name[len] == '=') value = name + len + 1;
        if ((o = pyh_verb_option(v, name, len, 0))) {
            cl->argv[cl->argc++] = (char *)arg;
            if (o->kind != PYH_VALUE_NONE && !value && *i + 1 < argc)
                cl->argv[cl->argc++] = argv[++*i];
            return NULL;
        }
        o = cli_option(name, len, 0);
    } else {
        if ((o = pyh_verb_option(v, NULL, 0, arg[1]))) {
            cl->argv[cl->argc++] = (char *)arg;
            if (o->kind != PYH_VALUE_NONE && !arg[2] && *i + 1 < argc)
                cl->argv[cl->argc++] = argv[++*i];
            return NULL;
        }
        o = cli_option(NULL, 0, arg[1]);
        if (o && arg[2]) value = arg + 2; /* -p1234 */
    }
    if (!o) return unknown_option(v, arg);
    if (o->kind == PYH_VALUE_NONE && value)
        return pyh_error_create(PYH_ERR_USAGE, "option '--%s' takes no value", o->name);
    if (o->kind != PYH_VALUE_NONE && !value) {
        if (*i + 1 >= argc)
            return pyh_error_create(PYH_ERR_USAGE, "option '%s' needs a value (%s)", arg,
                                    o->metavar ? o->metavar : "a value");
        value = argv[++*i];
    }
    return take_cli_option(v, o, value, cl);
}

static struct pyh_error *unknown_verb(const char *word)
{
    const char *const *names = pyh_command_names(PYH_FRONTEND_CLI);
    size_t n = 0;
    while (names[n])
        n++;
    const char *best = pyh_closest_name(word, names, n);
    struct stat st;
    if (best)
        return pyh_error_create(PYH_ERR_USAGE, "unknown command '%s' (did you mean %s?)", word,
                                best);
    if (stat(word, &st) == 0 || all_digits(word))
        return pyh_error_create(PYH_ERR_USAGE,
                                "unknown command '%s': the verb comes first, as in `py-heap "
                                "summary %s%s`",
                                word, all_digits(word) ? "-p " : "", word);
    return pyh_error_create(PYH_ERR_USAGE, "unknown command '%s'", word);
}

static struct pyh_error *parse_line(int argc, char *const argv[], struct pyh_command_line *cl)
{
    const struct pyh_verb *verb = pyh_verb_find(argv[0]);
    if (!verb) return unknown_verb(argv[0]);
    const struct pyh_verb_info *v = &verb->info;
    cl->verb = v;
    cl->argv[cl->argc++] = (char *)v->name;
    /* The first positional that is no address is the core (`show ADDR CORE` as well as
     * `show CORE ADDR`), unless a process is given anywhere; a core named like a number is
     * ./123. */
    bool process_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) break;
        process_given |= !strcmp(a, "-p") || !strncmp(a, "--pid", 5) ||
                         !strncmp(a, "--coredump", 10) ||
                         (a[0] == '-' && a[1] == 'p' && all_digits(a + 2));
    }
    bool only_positionals = false;
    struct pyh_error *err;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positionals && !strcmp(arg, "--")) {
            only_positionals = true;
            cl->argv[cl->argc++] = (char *)arg;
            continue;
        }
        if (!only_positionals && (!strcmp(arg, "--help") || !strcmp(arg, "-h"))) {
            cl->help = true;
            continue;
        }
        if (!only_positionals && arg[0] == '-' && arg[1] &&
            !(arg[1] != '-' && looks_like_address(arg))) {
            if ((err = take_option(v, argc, argv, &i, cl))) return err;
            continue;
        }
        /* A verb without arguments takes a word as the core even with -p, so that giving
         * both is said as such. */
        if (!v->own_targets && !cl->core && (!process_given || v->max_args == 0) &&
            !(v->arg_kind == PYH_VALUE_ADDRESS && looks_like_address(arg))) {
            cl->core = arg;
            continue;
        }
        cl->argv[cl->argc++] = (char *)arg;
    }
    if (cl->help) return NULL;
    if (!v->own_targets) {
        int targets = !!cl->core + !!cl->pid + !!cl->coredump;
        if (targets == 0)
            return pyh_error_create(PYH_ERR_USAGE,
                                    "no target: give a core file, -p PID or --coredump MATCH");
        if (targets > 1)
            return pyh_error_create(PYH_ERR_USAGE,
                                    "give either a core file (%s), --pid or --coredump, not both",
                                    cl->core ? cl->core : "-");
        struct stat st;
        if (cl->core && all_digits(cl->core) && stat(cl->core, &st) != 0)
            return pyh_error_create(
                PYH_ERR_USAGE, "'%s' is not a file: to read the process with PID %s, use -p %s",
                cl->core, cl->core, cl->core);
    }
    cl->json = false;
    for (int i = 1; i < cl->argc; i++)
        cl->json |= !strcmp(cl->argv[i], "--json");
    return pyh_command_check(cl->argc, cl->argv);
}

struct pyh_error *pyh_command_line_parse(int argc, char *const argv[], struct pyh_command_line *out)
{
    memset(out, 0, sizeof(*out));
    if (argc < 1) return pyh_error_create(PYH_ERR_USAGE, "no command given");
    out->argv = calloc((size_t)argc + 1, sizeof(char *));
    if (!out->argv) return pyh_error_nomem();
    struct pyh_error *err = parse_line(argc, argv, out);
    if (err && out->verb)
        err = pyh_error_append(err, " (see py-heap %s --help)", out->verb->name);
    else if (err)
        err = pyh_error_append(err, " (see py-heap --help)");
    return err;
}

void pyh_command_line_free(struct pyh_command_line *cl)
{
    if (!cl) return;
    free(cl->argv);
    cl->argv = NULL;
    cl->argc = 0;
}
