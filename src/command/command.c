/* The verb table, option parsing and help; see command.h. */
#include "command/command.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/interrupt.h"

// clang-format off
#define JSON_OPTION {"json", false, "print JSON instead of text (docs/json-schema.md)", 0}
// clang-format on

static const struct pyh_verb verbs[] = {
    {
        .name = "summary",
        .summary = "the short answer: version, objects, top types, the allocators' verdict",
        .usage = "[--json]",
        .help = "One screen for the first minute of an incident: the Python version, how many\n"
                "objects take how much of the heap, the five biggest types, and the\n"
                "fragmentation verdict. (In gdb, `py-heap` alone.)\n",
        .options = {JSON_OPTION},
        .run = pyh_cmd_summary,
    },
    {
        .name = "info",
        .summary = "what the target is: Python version, binaries, threads, GC, memory",
        .usage = "[--json]",
        .help = "Prints the Python version (read from the target alone), the executable and\n"
                "libpython with their build-ids, whether debug info was used, the number of\n"
                "interpreters, every thread (thread id, native id, threading name and top\n"
                "Python frame), the number of modules in sys.modules, the objects in each GC\n"
                "generation, and mapped memory by kind.\n",
        .options = {JSON_OPTION},
        .run = pyh_cmd_info,
    },
    {
        .name = "fragmentation",
        .summary = "how much memory pymalloc and glibc malloc hold that no live object uses",
        .usage = "[--json]",
        .help = "Walks pymalloc (every arena, pool and block) and glibc malloc (every arena,\n"
                "heap, bin, tcache, top and mmapped chunk) and sets them against the process's\n"
                "resident memory: pymalloc per size class (pools, blocks used and free), arenas\n"
                "kept alive by few live blocks, glibc per arena (system bytes, in use, free by\n"
                "kind, top), mmapped chunks, what malloc_trim could give back, and a verdict.\n",
        .options = {JSON_OPTION},
        .run = pyh_cmd_fragmentation,
    },
    {
        .name = "types",
        .summary = "what takes the space: every live object counted and sized by type",
        .usage = "[--json] [--limit N] [--sort size|count] [--min-count N]",
        .help = "Counts every live Python object (found in pymalloc's blocks and glibc's\n"
                "chunks, not only the GC lists: str, int, float, bytes and objects only\n"
                "native code holds are counted too) and sums sys.getsizeof() per type. The\n"
                "lines under the table account for the rest of the heap: allocations that are\n"
                "no Python object, allocator rounding and free memory; they add up to the heap\n"
                "total of `fragmentation`. Static objects in the binaries' data are counted on\n"
                "their own line.\n",
        .options = {JSON_OPTION,
                    {"limit", true, "show the N biggest types (default 30; 0 for all)", 0},
                    {"sort", true, "order by total size (default) or by count", 0},
                    {"min-count", true, "leave out types with fewer than N objects", 0}},
        .run = pyh_cmd_types,
    },
    {
        .name = "objects",
        .summary = "the instances of one type, largest first",
        .usage = "--type NAME [--json] [--limit N] [--min-size N]",
        .help = "Lists the objects of type NAME (as `types` shows it, e.g. dict or app.Request;\n"
                "or the type's address) with their addresses, sizes and a preview, largest\n"
                "first, to drill down from `types` to `show`.\n",
        .options = {JSON_OPTION,
                    {"type", true, "the type's name as `types` prints it, or its address", 0},
                    {"limit", true, "list at most N objects (default 20; 0 for all)", 0},
                    {"min-size", true, "leave out objects smaller than N bytes", 0}},
        .run = pyh_cmd_objects,
    },
    {
        .name = "show",
        .summary = "one object: type, refcount, size, GC generation and its value",
        .usage = "ADDR [--json]",
        .help = "Shows the object at ADDR (hex, or an address inside it): its type, reference\n"
                "count, size, where it lives, its GC generation, and a preview of its value:\n"
                "the text of a str, the value of an int of any size, the first items of a\n"
                "container, a module's or function's name, an instance's attributes.\n",
        .options = {JSON_OPTION},
        .min_positionals = 1,
        .max_positionals = 1,
        .run = pyh_cmd_show,
    },
    {
        .name = "referrers",
        .summary = "the objects that refer to one object, and how",
        .usage = "ADDR [--json]",
        .help = "Lists every object (and root) that refers to the object at ADDR and how: the\n"
                "dict key, list index, attribute name, slot, tuple index, closure cell or frame\n"
                "local. References found by a conservative scan of a type py-heap does not\n"
                "know are marked so.\n",
        .options = {JSON_OPTION},
        .min_positionals = 1,
        .max_positionals = 1,
        .run = pyh_cmd_referrers,
    },
    {
        .name = "path",
        .summary = "why an object is alive: the shortest chains from a root",
        .usage = "(ADDR | --type NAME) [--max N] [--json]",
        .help = "Prints the shortest chains of references from a root (sys.modules, a thread's\n"
                "frame, the interpreter) to the object at ADDR, as Python expressions such as\n"
                "sys.modules['app'].cache['k'].session. With --type, the chains that hold the\n"
                "instances of a type, grouped with wildcards and counted.\n",
        .options = {JSON_OPTION,
                    {"type", true, "every instance of this type (its name as `types` prints it)",
                     0},
                    {"max", true, "at most N paths (default 5; 10 with --type)", 0}},
        .max_positionals = 1,
        .run = pyh_cmd_path,
    },
    {
        .name = "retained",
        .summary = "what holds the most: retained sizes from the dominator tree, leak suspects",
        .usage = "[--limit N] [--json]",
        .help = "Builds the dominator tree of the reference graph and prints the objects that\n"
                "retain the most memory (what would be freed with them) with their paths, the\n"
                "retained size per type, and the leak suspects: the few objects that hold most\n"
                "of the live heap.\n",
        .options = {JSON_OPTION, {"limit", true, "show the N largest (default 20)", 0}},
        .run = pyh_cmd_retained,
    },
    {
        .name = "unreachable",
        .summary = "objects alive but reachable from no root: native references, leaks, garbage",
        .usage = "[--json]",
        .help = "Lists, by type, the objects that are alive (reference count > 0) but that no\n"
                "root reaches: held by native code, leaked references, or garbage cycles not\n"
                "collected yet. Native references are the reference count minus the references\n"
                "found in the heap.\n",
        .options = {JSON_OPTION},
        .run = pyh_cmd_unreachable,
    },
    {
        .name = "edges",
        .summary = "every reference between objects, as address pairs, to a file",
        .usage = "-o FILE [--json]",
        .help = "Writes every reference py-heap found between two live objects (the graph that\n"
                "referrers, path and retained use; roots left out) to FILE: the 8 bytes\n"
                "\"PYHEDGE1\", then 16 bytes per reference, the referrer's and the referent's\n"
                "addresses as little-endian 64-bit words, bit 63 of the second set when the\n"
                "reference was found by a conservative scan. A reference held twice (a tuple\n"
                "(x, x)) is written twice. For comparing py-heap's view with another tool's.\n",
        .options = {JSON_OPTION, {"output", true, "the file to write", 'o'}},
        .run = pyh_cmd_edges,
    },
    {
        .name = "snapshot",
        .summary = "a compact JSON snapshot of the heap, for diff and trend once the core is gone",
        .usage = "-o FILE [--no-retainers]",
        .help = "Writes a small versioned JSON file (time, pid, Python version, resident\n"
                "memory, the census by type, the fragmentation summary and the top retainers\n"
                "with their paths): kilobytes, so that the core can be deleted.\n",
        .options = {{"output", true, "the file to write (- for stdout)", 'o'},
                    {"no-retainers", false, "leave out the retainers (no dominator tree: faster)",
                     0}},
        .run = pyh_cmd_snapshot,
    },
    {
        .name = "diff",
        .summary = "what grew between two snapshots, cores or live processes",
        .usage = "A B [--json] [--limit N]",
        .help = "Compares two heaps (each a snapshot file, a core file, or a PID as pid:N): per\n"
                "type (count and size before, after and the change, biggest growth first), the\n"
                "retainers whose retained size grew most, and the allocators' totals.\n",
        .options = {JSON_OPTION,
                    {"limit", true, "show the N types that grew most (default 30)", 0}},
        .min_positionals = 2,
        .max_positionals = 2,
        .run_offline = pyh_cmd_diff,
    },
    {
        .name = "trend",
        .summary = "growing, plateau, transient or stable: each type across 3+ snapshots",
        .usage = "S1 S2 S3 [...] [--json] [--limit N]",
        .help = "Classifies each type (and each top retainer) across three or more snapshots,\n"
                "cores or PIDs, in time order: growing (keeps growing: leak-like), plateau (grew,\n"
                "then flat: cache-like), transient (rose and fell: a spike), or stable; with its\n"
                "growth per snapshot and per hour.\n",
        .options = {JSON_OPTION, {"limit", true, "show at most N types per class (default 20)", 0}},
        .min_positionals = 3,
        .max_positionals = PYH_MAX_POSITIONALS,
        .run_offline = pyh_cmd_trend,
    },
    {
        .name = "watch",
        .summary = "watch a process's memory and snapshot (and dump) it when it crosses a limit",
        .usage = "--pid PID --rss-limit SIZE [--growth-limit SIZE/min] --out DIR [--core] "
                 "[--interval S] [--cooldown S] [--max-dumps N]",
        .help = "Polls the resident memory of PID (cheaply, from /proc) and, when it goes over\n"
                "--rss-limit or grows faster than --growth-limit per minute, takes a snapshot\n"
                "(the target stopped only while it is read; the pause is measured and logged)\n"
                "and with --core also a core file (gdb's gcore); then keeps watching. Exits when\n"
                "the target exits; SIGINT/SIGTERM stop it cleanly. SIZE takes K, M, G suffixes.\n",
        .options = {{"pid", true, "the process to watch", 0},
                    {"rss-limit", true, "resident memory that triggers a snapshot (e.g. 2G)", 0},
                    {"growth-limit", true, "growth per minute that triggers one (e.g. 100M)", 0},
                    {"out", true, "directory for snapshots and cores", 0},
                    {"core", false, "also write a core file (gcore) on each breach", 0},
                    {"interval", true, "seconds between polls (default 1)", 0},
                    {"cooldown", true, "seconds between two dumps (default 60)", 0},
                    {"max-dumps", true, "stop after N dumps (default 10)", 0}},
        .run_offline = pyh_cmd_watch,
    },
};

#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

const struct pyh_verb *pyh_verb_find(const char *name)
{
    for (size_t i = 0; name && i < NVERBS; i++)
        if (strcmp(verbs[i].name, name) == 0) return &verbs[i];
    return NULL;
}

const char *const *pyh_command_names(void)
{
    static const char *names[NVERBS + 1];
    for (size_t i = 0; i < NVERBS; i++)
        names[i] = verbs[i].name;
    return names;
}

const char *pyh_command_summary(const char *verb)
{
    const struct pyh_verb *v = pyh_verb_find(verb);
    return v ? v->summary : NULL;
}

const char *pyh_command_help(const char *verb)
{
    /* Built once per verb and kept: help texts are small and asked for rarely. */
    static char *texts[NVERBS];
    const struct pyh_verb *v = pyh_verb_find(verb);
    if (!v) return NULL;
    size_t i = (size_t)(v - verbs);
    if (texts[i]) return texts[i];
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) return v->summary;
    fprintf(f, "%s %s\n  %s\n\n%s", v->name, v->usage, v->summary, v->help);
    if (v->options[0].name) fprintf(f, "\nOptions:\n");
    for (int k = 0; k < PYH_MAX_OPTIONS && v->options[k].name; k++) {
        char left[64];
        if (v->options[k].short_name)
            snprintf(left, sizeof(left), "-%c, --%s%s", v->options[k].short_name,
                     v->options[k].name, v->options[k].has_value ? " X" : "");
        else
            snprintf(left, sizeof(left), "--%s%s", v->options[k].name,
                     v->options[k].has_value ? " N" : "");
        fprintf(f, "  %-20s %s\n", left, v->options[k].help);
    }
    fclose(f);
    texts[i] = buf;
    return buf;
}

int pyh_command_option_arity(const char *verb, const char *option)
{
    const struct pyh_verb *v = pyh_verb_find(verb);
    if (v && option[0] == '-' && option[1] && option[1] != '-' && !option[2]) {
        for (int k = 0; k < PYH_MAX_OPTIONS && v->options[k].name; k++)
            if (v->options[k].short_name == option[1]) return v->options[k].has_value ? 1 : 0;
        return -1;
    }
    if (!v || strncmp(option, "--", 2) != 0) return -1;
    const char *name = option + 2;
    size_t len = strcspn(name, "=");
    for (int k = 0; k < PYH_MAX_OPTIONS && v->options[k].name; k++)
        if (strlen(v->options[k].name) == len && strncmp(v->options[k].name, name, len) == 0)
            return v->options[k].has_value && !name[len] ? 1 : 0;
    return -1;
}

const char *pyh_parsed_option(const struct pyh_verb *verb, const struct pyh_parsed *p,
                              const char *name)
{
    for (int k = 0; k < PYH_MAX_OPTIONS && verb->options[k].name; k++)
        if (strcmp(verb->options[k].name, name) == 0) return p->values[k];
    return NULL;
}

/* Parses argv[1..] of a verb: --name, --name VALUE, --name=VALUE, and positionals. */
static struct pyh_error *parse(const struct pyh_verb *v, int argc, char *const argv[],
                               const struct pyh_command_defaults *defaults, struct pyh_parsed *p)
{
    memset(p, 0, sizeof(*p));
    p->format = defaults ? defaults->format : PYH_FORMAT_TEXT;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] == '-' && arg[1] && arg[1] != '-' && !arg[2]) { /* a one-letter alias */
            int k;
            for (k = 0; k < PYH_MAX_OPTIONS && v->options[k].name; k++)
                if (v->options[k].short_name == arg[1]) break;
            if (k == PYH_MAX_OPTIONS || !v->options[k].name)
                return pyh_error_create(PYH_ERR_USAGE, "%s: unknown option '%s'", v->name, arg);
            if (v->options[k].has_value && i + 1 >= argc)
                return pyh_error_create(PYH_ERR_USAGE, "%s: option '%s' needs a value", v->name,
                                        arg);
            p->values[k] = v->options[k].has_value ? argv[++i] : "";
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (strcmp(arg, "--") == 0) continue;
            if (p->npositionals >= v->max_positionals)
                return pyh_error_create(PYH_ERR_USAGE, "%s: unexpected argument '%s'", v->name,
                                        arg);
            p->positionals[p->npositionals++] = arg;
            continue;
        }
        const char *name = arg + 2;
        size_t len = strcspn(name, "=");
        int k;
        for (k = 0; k < PYH_MAX_OPTIONS && v->options[k].name; k++)
            if (strlen(v->options[k].name) == len && strncmp(v->options[k].name, name, len) == 0)
                break;
        if (k == PYH_MAX_OPTIONS || !v->options[k].name)
            return pyh_error_create(PYH_ERR_USAGE, "%s: unknown option '%s'", v->name, arg);
        if (v->options[k].has_value) {
            if (name[len] == '=')
                p->values[k] = name + len + 1;
            else if (i + 1 < argc)
                p->values[k] = argv[++i];
            else
                return pyh_error_create(PYH_ERR_USAGE, "%s: option '%s' needs a value", v->name,
                                        arg);
        } else {
            if (name[len] == '=')
                return pyh_error_create(PYH_ERR_USAGE, "%s: option '--%s' takes no value", v->name,
                                        v->options[k].name);
            p->values[k] = "";
        }
    }
    if (p->npositionals < v->min_positionals)
        return pyh_error_create(PYH_ERR_USAGE, "%s: missing argument (usage: %s %s)", v->name,
                                v->name, v->usage);
    if (pyh_parsed_option(v, p, "json")) p->format = PYH_FORMAT_JSON;
    p->verb = v;
    return NULL;
}

const struct pyh_verb *pyh_verb_of(const struct pyh_parsed *p)
{
    return p->verb;
}

struct pyh_error *pyh_parsed_number(const struct pyh_verb *verb, const struct pyh_parsed *p,
                                    const char *name, long def, long min, long max, long *out)
{
    const char *s = pyh_parsed_option(verb, p, name);
    *out = def;
    if (!s) return NULL;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return pyh_error_create(PYH_ERR_USAGE, "%s: --%s wants a number from %ld to %ld, not '%s'",
                                verb->name, name, min, max, s);
    *out = v;
    return NULL;
}

struct pyh_error *pyh_command_check(int argc, char *const argv[])
{
    if (argc < 1) return pyh_error_create(PYH_ERR_USAGE, "no command given");
    const struct pyh_verb *v = pyh_verb_find(argv[0]);
    if (!v) return pyh_error_create(PYH_ERR_USAGE, "unknown command '%s'", argv[0]);
    struct pyh_parsed p;
    return parse(v, argc, argv, NULL, &p);
}

bool pyh_command_needs_target(const char *verb)
{
    const struct pyh_verb *v = pyh_verb_find(verb);
    return !v || !v->run_offline;
}

struct pyh_error *pyh_command_run_offline(int argc, char *const argv[],
                                          const struct pyh_target_options *options,
                                          const struct pyh_command_defaults *defaults, FILE *out)
{
    struct pyh_error *err = pyh_command_check(argc, argv);
    if (err) return err;
    const struct pyh_verb *v = pyh_verb_find(argv[0]);
    if (!v->run_offline)
        return pyh_error_create(PYH_ERR_USAGE, "%s needs a target (a core file or --pid)", v->name);
    struct pyh_parsed p;
    if ((err = parse(v, argc, argv, defaults, &p))) return err;
    struct pyh_target_options none = {0};
    err = v->run_offline(&p, options ? options : &none, defaults, out);
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
                                v->name);
    struct pyh_parsed p;
    if ((err = parse(v, argc, argv, defaults, &p))) return err;
    err = v->run(session, &p, defaults, out);
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

int pyh_command_max_positionals(const char *verb)
{
    const struct pyh_verb *v = pyh_verb_find(verb);
    return v ? v->max_positionals : 0;
}
