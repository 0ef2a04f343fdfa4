/* Documents made from the verb table at build time (pyh_command_write_document): the man
 * page py-heap(1) and the bash, zsh and fish completions. Nothing here is written by hand
 * per verb or option: a new option appears in all of them. */
#include <string.h>

#include "command/command.h"

/* ---- roff ------------------------------------------------------------------------- */

/* Text as roff: backslashes and hyphens escaped, a line never starting with a control
 * character. Newlines are kept (paragraph text). */
static void roff(FILE *f, const char *s)
{
    bool line_start = true;
    for (; *s; s++) {
        if (line_start && (*s == '.' || *s == '\'')) fputs("\\&", f);
        line_start = *s == '\n';
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
    }
}

static void man_option(FILE *f, const char *verb, const struct pyh_option *o)
{
    char desc[400];
    pyh_option_description(verb, o, desc, sizeof(desc));
    fputs(".TP\n", f);
    if (o->short_name) fprintf(f, "\\fB\\-%c\\fR, ", o->short_name);
    fputs("\\fB\\-\\-", f);
    roff(f, o->name);
    fputs("\\fR", f);
    if (o->kind != PYH_VALUE_NONE) {
        fputs(" \\fI", f);
        roff(f, o->metavar ? o->metavar : "X");
        fputs("\\fR", f);
    }
    fputc('\n', f);
    roff(f, desc);
    fputs(".\n", f);
}

static void write_man(FILE *f)
{
    fprintf(f, ".\\\" py-heap(1), generated from the verb table (src/command/verbs.c).\n");
    fprintf(f, ".TH PY\\-HEAP 1 \"\" \"py\\-heap %s\" \"User Commands\"\n", pyh_version());
    fputs(".SH NAME\npy\\-heap \\- look inside the heap of a CPython process or core, without "
          "running code in it\n",
          f);
    fputs(".SH SYNOPSIS\n"
          ".B py\\-heap\n\\fIVERB\\fR [\\fIoptions\\fR] (\\fICORE\\fR | \\fB\\-p\\fR \\fIPID\\fR | "
          "\\fB\\-\\-coredump\\fR \\fIMATCH\\fR)\n.br\n"
          ".B py\\-heap diff\n\\fIA B\\fR | \\fBtrend\\fR \\fIS1 S2 S3\\fR... | \\fBwatch \\-p\\fR "
          "\\fIPID\\fR ...\n.br\n"
          ".B py\\-heap\n\\fIVERB\\fR \\fB\\-\\-help\\fR | \\fBhelp\\fR [\\fIVERB\\fR] | "
          "\\fB\\-\\-version\\fR\n",
          f);
    fputs(".SH DESCRIPTION\n"
          "py\\-heap reads the heap of a CPython 3.8\\(en3.13 process from outside \\(em a live "
          "process, stopped while it is read, or an ELF core file \\(em without running any code "
          "in it: which types take the memory, what holds an object, what the allocators keep "
          "that no object uses. The same verbs run inside gdb as `py\\-heap VERB' "
          "(see FILES).\n.PP\n"
          "Text fits 80 columns unless \\fB\\-\\-wide\\fR is given; every verb prints JSON with "
          "\\fB\\-\\-json\\fR, as described by the JSON Schema files installed with py\\-heap. "
          "Long reads show a progress line on standard error when it is a terminal.\n",
          f);
    fputs(".SH VERBS\n", f);
    for (size_t i = 0; i < pyh_nverbs; i++) {
        const struct pyh_verb_info *v = &pyh_verbs[i].info;
        fprintf(f, ".SS \"");
        roff(f, v->name);
        if (v->args && *v->args) {
            fputc(' ', f);
            roff(f, v->args);
        }
        fprintf(f, "\"\n");
        roff(f, v->summary);
        fputs(".\n.PP\n", f);
        roff(f, v->help);
        if (!(v->frontends & PYH_FRONTEND_GDB)) fputs(".PP\nNot available in gdb.\n", f);
        for (size_t k = 0; k < v->noptions; k++)
            if (pyh_option_in(&v->options[k], PYH_FRONTEND_CLI))
                man_option(f, v->name, &v->options[k]);
    }
    fputs(".SH TARGET\n.TP\n\\fICORE\\fR\nAn ELF core file (gdb's gcore, the kernel, "
          "systemd\\-coredump), also compressed with zstd, gzip, xz or lz4 (recognised by its "
          "first bytes, decompressed into a sparse temporary file in \\fB$TMPDIR\\fR); "
          "\\fB\\-\\fR reads it from standard input (a pipe from \\fBcoredumpctl dump\\fR).\n",
          f);
    for (size_t i = 0; i < pyh_cli_noptions; i++) {
        if (i == 2) fputs(".SH TARGET OPTIONS\n", f);
        man_option(f, "", &pyh_cli_option_table[i]);
    }
    fputs(".SH EXIT STATUS\n.TP\n0\nSuccess.\n.TP\n1\nThe target could not be read, or "
          "results are partial (the last line on standard error says why).\n.TP\n2\nA usage "
          "error.\n.TP\n128+N\nInterrupted by signal N; a live target was resumed.\n",
          f);
    fputs(".SH ENVIRONMENT\n.TP\n\\fBPYHEAP_COREDUMP_DIR\\fR\nsystemd\\-coredump's store for "
          "\\fB\\-\\-coredump\\fR (default \\fI/var/lib/systemd/coredump\\fR).\n.TP\n"
          "\\fBTMPDIR\\fR\nWhere compressed and piped cores are decompressed (default "
          "\\fI/var/tmp\\fR).\n",
          f);
    fputs(".SH FILES\n.TP\n\\fI/var/lib/systemd/coredump\\fR\nThe cores that "
          "\\fB\\-\\-coredump\\fR chooses from.\n.TP\n\\fI/etc/gdb/gdbinit.d/py\\-heap.gdb\\fR\n"
          "Loads the gdb commands in every gdb (installed under the prefix's etc/; copy or link "
          "it there), or `source' the module's py\\-heap\\-gdb.py from gdb.\n",
          f);
    fputs(
        ".SH EXAMPLES\n.nf\npy\\-heap summary core.1234\npy\\-heap types \\-p 1234 \\-\\-limit 10\n"
        "coredumpctl dump 1234 | py\\-heap types \\-\npy\\-heap types \\-\\-coredump myservice\n"
        "py\\-heap snapshot \\-o before.json \\-p 1234\npy\\-heap diff before.json pid:1234\n"
        ".fi\n",
        f);
    fputs(".SH SEE ALSO\n\\fBlibpyheap\\fR(3), \\fBgdb\\fR(1), \\fBcoredumpctl\\fR(1), "
          "\\fBgcore\\fR(1)\n",
          f);
}

/* ---- bash ------------------------------------------------------------------------- */

/* Every option name with a value, once, with the completion of its value. */
static const struct pyh_option *each_valued_option(size_t i)
{
    size_t n = 0;
    for (size_t v = 0; v < pyh_nverbs; v++)
        for (size_t k = 0; k < pyh_verbs[v].info.noptions; k++)
            if (pyh_verbs[v].info.options[k].kind != PYH_VALUE_NONE && n++ == i)
                return &pyh_verbs[v].info.options[k];
    for (size_t k = 0; k < pyh_cli_noptions; k++)
        if (pyh_cli_option_table[k].kind != PYH_VALUE_NONE && n++ == i)
            return &pyh_cli_option_table[k];
    return NULL;
}

static bool seen_before(size_t i, const struct pyh_option *o)
{
    for (size_t j = 0; j < i; j++)
        if (!strcmp(each_valued_option(j)->name, o->name)) return true;
    return false;
}

static void bash_words(FILE *f, const struct pyh_option *opts, size_t n, enum pyh_frontend fe)
{
    for (size_t k = 0; k < n; k++) {
        if (!pyh_option_in(&opts[k], fe)) continue;
        fprintf(f, " --%s", opts[k].name);
        if (opts[k].short_name) fprintf(f, " -%c", opts[k].short_name);
    }
}

static void write_bash(FILE *f)
{
    fputs("# bash completion for py-heap, generated from its verb table (src/command/verbs.c).\n"
          "_py_heap()\n{\n"
          "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
          "    COMPREPLY=()\n",
          f);
    fputs("    local verbs='", f);
    for (size_t i = 0; i < pyh_nverbs; i++)
        fprintf(f, "%s%s", i ? " " : "", pyh_verbs[i].info.name);
    fputs(" help'\n    if [[ $COMP_CWORD -eq 1 ]]; then\n"
          "        COMPREPLY=($(compgen -W \"$verbs --help --version\" -- \"$cur\"))\n"
          "        return\n    fi\n    local verb=${COMP_WORDS[1]}\n"
          "    if [[ $verb == help ]]; then\n"
          "        COMPREPLY=($(compgen -W \"$verbs\" -- \"$cur\"))\n        return\n    fi\n"
          "    case $prev in\n",
          f);
    for (size_t i = 0; each_valued_option(i); i++) {
        const struct pyh_option *o = each_valued_option(i);
        if (seen_before(i, o)) continue;
        fprintf(f, "        --%s", o->name);
        if (o->short_name) fprintf(f, "|-%c", o->short_name);
        fputs(")\n            ", f);
        switch (o->kind) {
        case PYH_VALUE_FILE:
            fputs("COMPREPLY=($(compgen -f -- \"$cur\"))", f);
            break;
        case PYH_VALUE_DIR:
            fputs("COMPREPLY=($(compgen -d -- \"$cur\"))", f);
            break;
        case PYH_VALUE_PID:
            fputs("COMPREPLY=($(compgen -W \"$(cd /proc && compgen -G '[0-9]*')\" -- \"$cur\"))",
                  f);
            break;
        case PYH_VALUE_CHOICE: {
            char words[128];
            snprintf(words, sizeof(words), "%s", o->choices);
            for (char *c = words; *c; c++)
                if (*c == '|') *c = ' ';
            fprintf(f, "COMPREPLY=($(compgen -W '%s' -- \"$cur\"))", words);
            break;
        }
        default:
            break;
        }
        fputs("\n            return ;;\n", f);
    }
    fputs("    esac\n    local opts\n    case $verb in\n", f);
    for (size_t i = 0; i < pyh_nverbs; i++) {
        const struct pyh_verb_info *v = &pyh_verbs[i].info;
        fprintf(f, "        %s) opts='", v->name);
        bash_words(f, v->options, v->noptions, PYH_FRONTEND_CLI);
        if (!v->own_targets)
            bash_words(f, pyh_cli_option_table, pyh_cli_noptions, PYH_FRONTEND_CLI);
        fputs(" --help' ;;\n", f);
    }
    fputs("        *) return ;;\n    esac\n"
          "    if [[ $cur == -* ]]; then\n"
          "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
          "    else\n"
          "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
          "    fi\n}\ncomplete -o filenames -F _py_heap py-heap\n",
          f);
}

/* ---- zsh and fish ----------------------------------------------------------------- */

/* s in a single-quoted shell word, with the characters zsh's _arguments gives meaning to
 * ([ ] :) replaced or escaped. */
static void quoted(FILE *f, const char *s, bool zsh_spec)
{
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else if (zsh_spec && *s == '[')
            fputc('(', f);
        else if (zsh_spec && *s == ']')
            fputc(')', f);
        else if (zsh_spec && *s == ':')
            fputs("\\:", f);
        else
            fputc(*s, f);
    }
}

static void zsh_option(FILE *f, const char *verb, const struct pyh_option *o)
{
    char desc[400];
    pyh_option_description(verb, o, desc, sizeof(desc));
    const char *action = "";
    char choices[160] = "";
    switch (o->kind) {
    case PYH_VALUE_FILE:
        action = "_files";
        break;
    case PYH_VALUE_DIR:
        action = "_files -/";
        break;
    case PYH_VALUE_PID:
        action = "_pids";
        break;
    case PYH_VALUE_CHOICE:
        snprintf(choices, sizeof(choices), "(%s)", o->choices);
        for (char *c = choices; *c; c++)
            if (*c == '|') *c = ' ';
        action = choices;
        break;
    default:
        break;
    }
    for (int pass = 0; pass < (o->short_name ? 2 : 1); pass++) {
        fputs("    '", f);
        if (pass == 0)
            fprintf(f, "--%s", o->name);
        else
            fprintf(f, "-%c", o->short_name);
        fputc('[', f);
        quoted(f, desc, true);
        fputc(']', f);
        if (o->kind != PYH_VALUE_NONE) {
            fputc(':', f);
            quoted(f, o->metavar ? o->metavar : "value", true);
            fputc(':', f);
            quoted(f, action, false);
        }
        fputs("'\n", f);
    }
}

static void write_zsh(FILE *f)
{
    fputs("#compdef py-heap\n# zsh completion for py-heap, generated from its verb table "
          "(src/command/verbs.c).\n\n_py-heap() {\n  local -a verbs opts\n  verbs=(\n",
          f);
    for (size_t i = 0; i < pyh_nverbs; i++) {
        fprintf(f, "    '%s:", pyh_verbs[i].info.name);
        quoted(f, pyh_verbs[i].info.summary, true);
        fputs("'\n", f);
    }
    fputs("  )\n  if (( CURRENT == 2 )); then\n    _describe -t verbs 'py-heap verb' verbs\n"
          "    return\n  fi\n  case $words[2] in\n",
          f);
    for (size_t i = 0; i < pyh_nverbs; i++) {
        const struct pyh_verb_info *v = &pyh_verbs[i].info;
        fprintf(f, "  %s) opts=(\n", v->name);
        for (size_t k = 0; k < v->noptions; k++)
            if (pyh_option_in(&v->options[k], PYH_FRONTEND_CLI))
                zsh_option(f, v->name, &v->options[k]);
        if (!v->own_targets)
            for (size_t k = 0; k < pyh_cli_noptions; k++)
                zsh_option(f, v->name, &pyh_cli_option_table[k]);
        fputs("    '*:file:_files'\n  ) ;;\n", f);
    }
    fputs("  *) return 1 ;;\n  esac\n  shift words\n  (( CURRENT-- ))\n  _arguments -s $opts\n}\n\n"
          "_py-heap \"$@\"\n",
          f);
}

static void fish_option(FILE *f, const char *cond, const char *verb, const struct pyh_option *o)
{
    char desc[400];
    pyh_option_description(verb, o, desc, sizeof(desc));
    fprintf(f, "complete -c py-heap -n '%s' -l %s", cond, o->name);
    if (o->short_name) fprintf(f, " -s %c", o->short_name);
    switch (o->kind) {
    case PYH_VALUE_NONE:
        break;
    case PYH_VALUE_FILE:
    case PYH_VALUE_DIR:
        fputs(" -r -F", f);
        break;
    case PYH_VALUE_PID:
        fputs(" -x -a '(__fish_complete_pids)'", f);
        break;
    case PYH_VALUE_CHOICE: {
        fputs(" -x -a '", f);
        for (const char *c = o->choices; *c; c++)
            fputc(*c == '|' ? ' ' : *c, f);
        fputc('\'', f);
        break;
    }
    default:
        fputs(" -x", f);
        break;
    }
    fputs(" -d '", f);
    quoted(f, desc, false);
    fputs("'\n", f);
}

static void write_fish(FILE *f)
{
    fputs("# fish completion for py-heap, generated from its verb table (src/command/verbs.c).\n"
          "complete -c py-heap -f\n",
          f);
    for (size_t i = 0; i < pyh_nverbs; i++) {
        fprintf(f, "complete -c py-heap -n __fish_use_subcommand -a %s -d '",
                pyh_verbs[i].info.name);
        quoted(f, pyh_verbs[i].info.summary, false);
        fputs("'\n", f);
    }
    for (size_t i = 0; i < pyh_nverbs; i++) {
        const struct pyh_verb_info *v = &pyh_verbs[i].info;
        char cond[96];
        snprintf(cond, sizeof(cond), "__fish_seen_subcommand_from %s", v->name);
        for (size_t k = 0; k < v->noptions; k++)
            if (pyh_option_in(&v->options[k], PYH_FRONTEND_CLI))
                fish_option(f, cond, v->name, &v->options[k]);
        if (!v->own_targets) {
            for (size_t k = 0; k < pyh_cli_noptions; k++)
                fish_option(f, cond, v->name, &pyh_cli_option_table[k]);
            fprintf(f, "complete -c py-heap -n '%s' -F\n", cond);
        }
    }
}

struct pyh_error *pyh_command_write_document(const char *kind, FILE *out)
{
    if (!strcmp(kind, "man"))
        write_man(out);
    else if (!strcmp(kind, "targets"))
        pyh_write_cli_target_help(out);
    else if (!strcmp(kind, "bash"))
        write_bash(out);
    else if (!strcmp(kind, "zsh"))
        write_zsh(out);
    else if (!strcmp(kind, "fish"))
        write_fish(out);
    else
        return pyh_error_create(PYH_ERR_USAGE, "no document '%s' (man, targets, bash, zsh or fish)",
                                kind);
    if (ferror(out)) return pyh_error_create(PYH_ERR_OS, "writing the %s document failed", kind);
    return NULL;
}
