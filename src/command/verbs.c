/* The verb table: every verb and option of py-heap, declared once. The CLI's parser and
 * --help, gdb's commands, help and completion, the man page py-heap(1) and the bash, zsh
 * and fish completions are made from it (command.c, cli.c, docs.c); adding an option is
 * one line here, and the verb reads it by name (pyh_parsed_option, pyh_parsed_int). */
#include "command/command.h"

// clang-format off
#define FLAG(n, s, h) {.name = n, .short_name = s, .kind = PYH_VALUE_NONE, .help = h}
#define INT(n, mv, d, lo, hi, h) \
    {.name = n, .kind = PYH_VALUE_INT, .metavar = mv, .def = d, .min = lo, .max = hi, .help = h}
#define VALUE(n, s, k, mv, h) {.name = n, .short_name = s, .kind = k, .metavar = mv, .help = h}
#define CHOICE(n, c, d, h) \
    {.name = n, .kind = PYH_VALUE_CHOICE, .metavar = c, .choices = c, .def = d, .help = h}
/* Every verb has these, after its own. */
#define COMMON \
    FLAG("json", 0, "print JSON instead of text (schema: docs/schemas/VERB.json)"), \
    FLAG("wide", 0, "text lines as long as they need (default: 80 columns)")
#define OPTIONS(...) \
    .options = (const struct pyh_option[]){__VA_ARGS__, COMMON}, \
    .noptions = sizeof((const struct pyh_option[]){__VA_ARGS__, COMMON}) / sizeof(struct pyh_option)
#define NO_OPTIONS \
    .options = (const struct pyh_option[]){COMMON}, \
    .noptions = sizeof((const struct pyh_option[]){COMMON}) / sizeof(struct pyh_option)
#define BOTH (PYH_FRONTEND_CLI | PYH_FRONTEND_GDB)
#define LIMIT_MAX (1L << 30)
#define COUNT_MAX (1L << 62)
// clang-format on

const struct pyh_verb pyh_verbs[] = {
    {{
         .name = "summary",
         .summary = "the first minute: memory, top types, every cause, holders",
         .help = "One screen for the first minute of an incident: the Python version, the\n"
                 "resident memory, how many objects take how much of the heap, the five\n"
                 "biggest types, and a verdict that lists every cause of the memory that\n"
                 "matters (3% or more), largest first, with its share: live objects and the\n"
                 "containers that hold them (as Python expressions), cyclic garbage waiting\n"
                 "for the collector, native memory, free space inside pymalloc and malloc,\n"
                 "thread stacks. Each line ends with the command that shows more. The\n"
                 "holders need the reference graph; --quick leaves them (and the garbage)\n"
                 "out for a census-only answer. (In gdb, `py-heap` alone.)\n",
         .frontends = BOTH,
         OPTIONS(FLAG("quick", 0, "no reference graph: no holders, no cyclic garbage")),
     },
     .run = pyh_cmd_summary},
    {{
         .name = "info",
         .summary = "the target: Python version, binaries, threads, GC, memory",
         .help = "Prints the Python version (read from the target alone), the executable and\n"
                 "libpython with their build-ids, whether debug info was used, the number of\n"
                 "interpreters, every thread (thread id, native id, threading name and top\n"
                 "Python frame), the number of modules in sys.modules, the objects in each\n"
                 "GC generation, and mapped memory by kind.\n",
         .frontends = BOTH,
         NO_OPTIONS,
     },
     .run = pyh_cmd_info},
    {{
         .name = "fragmentation",
         .summary = "memory pymalloc and malloc hold that no live object uses",
         .help = "Walks pymalloc (every arena, pool and block) and glibc malloc (every arena,\n"
                 "heap, bin, tcache, top and mmapped chunk) and sets them against the\n"
                 "process's resident memory: pymalloc per size class (pools, blocks used and\n"
                 "free), arenas kept alive by few live blocks, glibc per arena (system bytes,\n"
                 "in use, free by kind, top), mmapped chunks, what malloc_trim could give\n"
                 "back, and a verdict.\n",
         .frontends = BOTH,
         NO_OPTIONS,
     },
     .run = pyh_cmd_fragmentation},
    {{
         .name = "types",
         .summary = "what takes the space: live objects counted and sized by type",
         .help = "Counts every live Python object (found in pymalloc's blocks and glibc's\n"
                 "chunks, not only the GC lists: str, int, float, bytes and objects only\n"
                 "native code holds are counted too) and sums sys.getsizeof() per type. The\n"
                 "lines under the table account for the rest of the heap: allocations that\n"
                 "are no Python object, allocator rounding and free memory; they add up to\n"
                 "the heap total of `fragmentation`. Static objects in the binaries' data\n"
                 "are counted on their own line.\n",
         .frontends = BOTH,
         OPTIONS(
             INT("limit", "N", "30", 0, LIMIT_MAX, "show the N biggest types (0: all)"),
             CHOICE("sort", "size|count", "size", "order by total size or by count"),
             INT("min-count", "N", "0", 0, COUNT_MAX, "leave out types with fewer than N objects")),
     },
     .run = pyh_cmd_types},
    {{
         .name = "objects",
         .summary = "the instances of one type, largest first",
         .help = "Lists the objects of type NAME (as `types` shows it, e.g. dict or\n"
                 "app.Request; or the type's address) with their addresses, sizes and a\n"
                 "preview, largest first, to drill down from `types` to `show`.\n",
         .frontends = BOTH,
         OPTIONS(VALUE("type", 0, PYH_VALUE_TYPE, "NAME",
                       "the type's name as `types` prints it, or its address (required)"),
                 INT("limit", "N", "20", 0, 1L << 40, "list at most N objects (0: all)"),
                 INT("min-size", "N", "0", 0, COUNT_MAX, "leave out objects under N bytes")),
     },
     .run = pyh_cmd_objects},
    {{
         .name = "show",
         .summary = "one object: type, refcount, size, GC generation, value",
         .args = "ADDR",
         .arg_kind = PYH_VALUE_ADDRESS,
         .min_args = 1,
         .max_args = 1,
         .help = "Shows the object at ADDR (hex, or an address inside it): its type,\n"
                 "reference count, size, where it lives, its GC generation, and a preview of\n"
                 "its value: the text of a str, the value of an int of any size, the first\n"
                 "items of a container, a module's or function's name, an instance's\n"
                 "attributes.\n",
         .frontends = BOTH,
         NO_OPTIONS,
     },
     .run = pyh_cmd_show},
    {{
         .name = "referrers",
         .summary = "the objects that refer to one object, and how",
         .args = "ADDR",
         .arg_kind = PYH_VALUE_ADDRESS,
         .min_args = 1,
         .max_args = 1,
         .help = "Lists every object (and root) that refers to the object at ADDR and how:\n"
                 "the dict key, list index, attribute name, slot, tuple index, closure cell\n"
                 "or frame local. References found by a conservative scan of a type py-heap\n"
                 "does not know are marked so.\n",
         .frontends = BOTH,
         NO_OPTIONS,
     },
     .run = pyh_cmd_referrers},
    {{
         .name = "path",
         .summary = "why an object is alive: the shortest chains from a root",
         .args = "[ADDR]",
         .arg_kind = PYH_VALUE_ADDRESS,
         .max_args = 1,
         .help = "Prints the shortest chains of references from a root (sys.modules, a\n"
                 "thread's frame, the interpreter) to the object at ADDR, as Python\n"
                 "expressions such as sys.modules['app'].cache['k'].session. With --type\n"
                 "instead of ADDR, the chains that hold the instances of a type, grouped\n"
                 "with wildcards and counted.\n",
         .frontends = BOTH,
         OPTIONS(VALUE("type", 0, PYH_VALUE_TYPE, "NAME",
                       "every instance of this type (its name as `types` prints it)"),
                 INT("max", "N", NULL, 1, 1L << 20, "at most N paths (default 5; 10 with --type)")),
     },
     .run = pyh_cmd_path},
    {{
         .name = "retained",
         .summary = "what holds the most: retained sizes, leak suspects",
         .help = "Builds the dominator tree of the reference graph and prints the objects\n"
                 "that retain the most memory (what would be freed with them) with their\n"
                 "paths, the retained size per type, and the leak suspects: the few objects\n"
                 "that hold most of the live heap.\n",
         .frontends = BOTH,
         OPTIONS(INT("limit", "N", "20", 1, 1L << 20, "show the N largest")),
     },
     .run = pyh_cmd_retained},
    {{
         .name = "unreachable",
         .summary = "live objects no root reaches: native references, garbage",
         .help = "Lists, by type, the objects that are alive (reference count > 0) but that\n"
                 "no root reaches: held by native code, leaked references, or garbage cycles\n"
                 "not collected yet. Native references are the reference count minus the\n"
                 "references found in the heap.\n",
         .frontends = BOTH,
         NO_OPTIONS,
     },
     .run = pyh_cmd_unreachable},
    {{
         .name = "gc",
         .summary = "the collector: generations and the cyclic garbage waiting",
         .help = "Shows the garbage collector's state: enabled or not, each generation's\n"
                 "objects, count against its threshold and how often it ran; and the GC\n"
                 "backlog: objects in reference cycles that nothing outside holds (what a\n"
                 "gc.collect() would free now), by type and bytes (sys.getsizeof).\n",
         .frontends = BOTH,
         OPTIONS(INT("limit", "N", "20", 0, LIMIT_MAX, "show the N types with most garbage")),
     },
     .run = pyh_cmd_gc},
    {{
         .name = "edges",
         .summary = "every reference between objects, as address pairs, to a file",
         .help = "Writes every reference py-heap found between two live objects (the graph\n"
                 "that referrers, path and retained use; roots left out) to FILE: the 8\n"
                 "bytes \"PYHEDGE1\", then 16 bytes per reference, the referrer's and the\n"
                 "referent's addresses as little-endian 64-bit words, bit 63 of the second\n"
                 "set when the reference was found by a conservative scan. A reference held\n"
                 "twice (a tuple (x, x)) is written twice. For comparing py-heap's view\n"
                 "with another tool's.\n",
         .frontends = BOTH,
         OPTIONS(VALUE("output", 'o', PYH_VALUE_FILE, "FILE", "the file to write (required)")),
     },
     .run = pyh_cmd_edges},
    {{
         .name = "report",
         .summary = "one self-contained HTML file: verdict, charts, tree, trend",
         .args = "[SNAP...]",
         .arg_kind = PYH_VALUE_FILE,
         .max_args = PYH_MAX_POSITIONALS - 1,
         .help = "Writes one HTML file that opens offline in any browser (nothing is\n"
                 "fetched): the verdict in plain words, treemaps of bytes by type and by\n"
                 "retainer, the type table (sortable, filterable), the leak suspects with\n"
                 "their paths, the dominator tree to browse from the largest retainers\n"
                 "(cut at --depth and --tree-nodes, the rest summarised), resident memory,\n"
                 "pymalloc's size classes and glibc's arenas, and the threads. With\n"
                 "snapshot files (SNAP) after the target, the leading types over time\n"
                 "with their trend verdicts (the target is the last point).\n",
         .frontends = BOTH,
         OPTIONS(VALUE("output", 'o', PYH_VALUE_FILE, "FILE", "the HTML file to write (required)"),
                 INT("depth", "N", "6", 0, 64, "levels of the dominator tree below the roots"),
                 INT("tree-nodes", "N", "1500", 1, 100000, "nodes of the dominator tree at most"),
                 INT("types", "N", "1000", 0, LIMIT_MAX, "rows of the type table (0: all)")),
     },
     .run = pyh_cmd_report},
    {{
         .name = "snapshot",
         .summary = "a small JSON snapshot of the heap, for diff and trend",
         .help = "Writes a small versioned JSON file (time, pid, Python version, resident\n"
                 "memory, the census by type, the fragmentation summary and the top\n"
                 "retainers with their paths): kilobytes, so that the core can be deleted.\n"
                 "With --json and no -o, the snapshot is printed inside the JSON output.\n"
                 "--openmetrics writes it as OpenMetrics text instead (per-type gauges of the\n"
                 "--top N types, allocator and GC figures; to -o FILE, or stdout), for\n"
                 "Prometheus' node_exporter textfile collector or any OpenMetrics scraper.\n",
         .frontends = BOTH,
         OPTIONS(VALUE("output", 'o', PYH_VALUE_FILE, "FILE",
                       "the file to write (- for stdout); required without --json"),
                 FLAG("no-retainers", 0, "leave out the retainers (no dominator tree: faster)"),
                 FLAG("openmetrics", 0, "write OpenMetrics text (for Prometheus) instead of JSON"),
                 INT("top", "N", "20", 0, LIMIT_MAX, "--openmetrics: the N biggest types (0: all)")),
     },
     .run = pyh_cmd_snapshot},
    {{
         .name = "diff",
         .summary = "what grew between two snapshots, cores or processes",
         .args = "A B",
         .arg_kind = PYH_VALUE_FILE,
         .min_args = 2,
         .max_args = 2,
         .own_targets = true,
         .help = "Compares two heaps (each a snapshot file, a core file, or a PID as pid:N):\n"
                 "per type (count and size before, after and the change, biggest growth\n"
                 "first), the retainers whose retained size grew most, and the allocators'\n"
                 "totals. Inputs of different executables, Python versions or processes\n"
                 "are refused unless --allow-mixed (each input is shown with what it is).\n",
         .frontends = BOTH,
         OPTIONS(INT("limit", "N", "30", 0, LIMIT_MAX, "show the N types that grew most"),
                 FLAG("allow-mixed", 0, "compare inputs of different executables, Pythons or processes")),
     },
     .run_offline = pyh_cmd_diff},
    {{
         .name = "trend",
         .summary = "growing, plateau, transient or stable across 3+ snapshots",
         .args = "S1 S2 S3...",
         .arg_kind = PYH_VALUE_FILE,
         .min_args = 3,
         .max_args = PYH_MAX_POSITIONALS,
         .own_targets = true,
         .help = "Classifies each type (and each top retainer) across three or more\n"
                 "snapshots, cores or PIDs (pid:N), in time order, on its bytes over time\n"
                 "(Theil-Sen slope, rank test): growing (keeps rising: leak-like, with its\n"
                 "growth per hour and its uncertainty), plateau (rose, then flat: a cache at\n"
                 "its size), transient (a spike that came back down), or stable; each with\n"
                 "the reason in one line. Inputs of different executables, Python versions\n"
                 "or processes are refused unless --allow-mixed.\n",
         .frontends = BOTH,
         OPTIONS(INT("limit", "N", "20", 0, LIMIT_MAX, "show at most N types per class"),
                 FLAG("allow-mixed", 0, "compare inputs of different executables, Pythons or processes")),
     },
     .run_offline = pyh_cmd_trend},
    {{
         .name = "watch",
         .summary = "snapshot (and dump) a process when its memory crosses a limit",
         .own_targets = true,
         .help = "Polls the resident memory of PID (cheaply, from /proc) and its memory\n"
                 "cgroup (v2, else v1: limit, usage, OOM kills, pressure) and, when it goes\n"
                 "over --rss-limit, its cgroup's usage passes --limit (85% of the cgroup's\n"
                 "limit, or a size: before the OOM killer's SIGKILL, which leaves no core)\n"
                 "or it grows faster than --growth-limit per minute, takes a\n"
                 "snapshot (the target stopped only while it is read; the pause is measured\n"
                 "and logged) and with --core also a core file (gdb's gcore); then keeps\n"
                 "watching. --every S adds a snapshot on a schedule, the newest --keep kept.\n"
                 "Exits when the target exits; SIGINT/SIGTERM stop it cleanly.\n"
                 "With --json, one JSON object per line for each event.\n",
         .frontends = PYH_FRONTEND_CLI,
         OPTIONS(VALUE("pid", 'p', PYH_VALUE_PID, "PID", "the process to watch (required)"),
                 VALUE("rss-limit", 0, PYH_VALUE_SIZE, "SIZE",
                       "resident memory that triggers a snapshot (e.g. 2G)"),
                 VALUE("growth-limit", 0, PYH_VALUE_TEXT, "SIZE/min",
                       "growth per minute that triggers one (e.g. 100M)"),
                 VALUE("out", 0, PYH_VALUE_DIR, "DIR", "directory for snapshots and cores"),
                 FLAG("core", 0, "also write a core file (gcore) on each breach"),
                 INT("interval", "S", "1", 1, 86400, "seconds between polls"),
                 INT("cooldown", "S", "60", 0, 86400L * 365, "seconds between two dumps"),
                 INT("max-dumps", "N", "10", 1, 1000000, "stop after N dumps"),
                 VALUE("limit", 0, PYH_VALUE_TEXT, "PCT%|SIZE",
                       "cgroup usage that triggers one: a share of its limit (85%) or a size"),
                 INT("every", "S", "0", 0, 86400L * 365, "also a snapshot every S seconds (0: none)"),
                 INT("keep", "N", "10", 0, 1000000, "keep the newest N scheduled snapshots (0: all)"),
                 VALUE("openmetrics", 0, PYH_VALUE_FILE, "FILE",
                       "after each snapshot, its OpenMetrics text to FILE (replaced whole)"),
                 INT("top", "N", "20", 0, LIMIT_MAX, "--openmetrics: the N biggest types (0: all)")),
     },
     .run_offline = pyh_cmd_watch},
};

const size_t pyh_nverbs = sizeof(pyh_verbs) / sizeof(pyh_verbs[0]);

const struct pyh_option pyh_cli_option_table[] = {
    VALUE("pid", 'p', PYH_VALUE_PID, "PID",
          "a live process; stopped while its writable memory is copied (or while it is "
          "read), the pause reported"),
    VALUE("coredump", 0, PYH_VALUE_TEXT, "MATCH",
          "the newest core of systemd-coredump's store whose PID, command name or "
          "executable is MATCH (what coredumpctl lists)"),
    VALUE("exe", 0, PYH_VALUE_FILE, "FILE",
          "the executable, when the core's own path cannot be used"),
    VALUE("sysroot", 0, PYH_VALUE_DIR, "DIR", "look for every file the core names under DIR"),
    VALUE("lib-path", 0, PYH_VALUE_TEXT, "DIR[:DIR]",
          "look for mapped files by name in these directories"),
    VALUE("debug-dir", 0, PYH_VALUE_TEXT, "DIR[:DIR]",
          "where separate debug files live (default /usr/lib/debug; '' for none)"),
    FLAG("no-stop", 0, "live: read without stopping the process (best effort)"),
    FLAG("copy", 0,
         "live: insist on the copy (the default when it fits in memory): an error when it "
         "does not fit"),
    FLAG("no-copy", 0,
         "live: no copy: keep the process stopped for the whole analysis (by default it is "
         "stopped only to copy its writable memory, 0.2-0.4 s per GiB)"),
    VALUE("max-pause", 0, PYH_VALUE_TEXT, "SECONDS",
          "live: never stop the process longer than this: a longer copy is not made, and the "
          "process is read while it runs (results marked partial)"),
    FLAG("quiet", 'q', "no progress line, and no line on a live process's pause, on stderr"),
};

const size_t pyh_cli_noptions = sizeof(pyh_cli_option_table) / sizeof(pyh_cli_option_table[0]);
