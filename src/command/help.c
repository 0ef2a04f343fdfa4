/* Help texts made from the verb table: `py-heap VERB --help`, `help py-heap VERB` in gdb.
 * Lines stay under 80 columns: descriptions are wrapped under their option. */
#include <stdlib.h>
#include <string.h>

#include "command/command.h"

#define HELP_WIDTH 79 /* columns of text, the 80th left free */
#define HELP_LEFT 22  /* where descriptions start */

/* "-o, --output FILE", "--sort size|count", "--json". */
static void option_left(const struct pyh_option *o, char *buf, size_t cap)
{
    char value[64] = "";
    if (o->kind != PYH_VALUE_NONE)
        snprintf(value, sizeof(value), " %s", o->metavar ? o->metavar : "X");
    if (o->short_name)
        snprintf(buf, cap, "-%c, --%s%s", o->short_name, o->name, value);
    else
        snprintf(buf, cap, "--%s%s", o->name, value);
}

/* Writes text from column col on, wrapped at HELP_WIDTH with continuation lines indented
 * to indent, then a newline. */
void pyh_help_wrap(FILE *f, const char *text, int col, int indent)
{
    const char *s = text;
    while (*s) {
        while (*s == ' ')
            s++;
        size_t word = strcspn(s, " ");
        if (col > indent && col + 1 + (int)word > HELP_WIDTH) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fwrite(s, 1, word, f);
        col += (int)word;
        s += word;
    }
    fputc('\n', f);
}

/* The description of o: its help, its default, and for --json the verb's schema. */
void pyh_option_description(const char *verb, const struct pyh_option *o, char *buf, size_t cap)
{
    const char *schema = strstr(o->help, "VERB.json");
    if (schema)
        snprintf(buf, cap, "%.*s%s%s", (int)(schema - o->help), o->help, verb, schema + 4);
    else
        snprintf(buf, cap, "%s", o->help);
    size_t len = strlen(buf);
    if (o->def && len > 0 && buf[len - 1] == ')') /* "(0: all)" -> "(0: all; default 30)" */
        snprintf(buf + len - 1, cap - len + 1, "; default %s)", o->def);
    else if (o->def && len < cap)
        snprintf(buf + len, cap - len, " (default %s)", o->def);
}

static void option_line(FILE *f, const char *verb, const struct pyh_option *o)
{
    char left[80], desc[400];
    option_left(o, left, sizeof(left));
    pyh_option_description(verb, o, desc, sizeof(desc));
    int col = fprintf(f, "  %s", left);
    if (col >= HELP_LEFT) {
        fprintf(f, "\n%*s", HELP_LEFT, "");
        col = HELP_LEFT;
    } else {
        fprintf(f, "%*s", HELP_LEFT - col, "");
        col = HELP_LEFT;
    }
    pyh_help_wrap(f, desc, col, HELP_LEFT);
}

bool pyh_option_in(const struct pyh_option *o, enum pyh_frontend frontend)
{
    return !o->frontends || (o->frontends & frontend);
}

void pyh_write_cli_target_help(FILE *f)
{
    fprintf(f, "Target (one of; diff, trend and watch take theirs as arguments):\n");
    fprintf(f, "  %-*s", HELP_LEFT - 2, "CORE");
    pyh_help_wrap(f,
                  "an ELF core file (gdb's gcore, the kernel, systemd-coredump), also "
                  "compressed (zstd, gzip, xz, lz4); - reads it from stdin",
                  HELP_LEFT, HELP_LEFT);
    for (size_t i = 0; i < pyh_cli_noptions; i++) {
        if (i == 2) fprintf(f, "\nTarget options:\n");
        option_line(f, "", &pyh_cli_option_table[i]);
    }
}

const char *pyh_command_help(const char *verb, enum pyh_frontend frontend)
{
    /* Built once per verb and front end and kept: small, and asked for rarely. */
    static char *texts[2][64];
    const struct pyh_verb *v = pyh_verb_find(verb);
    if (!v) return NULL;
    const struct pyh_verb_info *info = &v->info;
    size_t i = (size_t)(v - pyh_verbs);
    int k = frontend == PYH_FRONTEND_GDB;
    if (i >= 64) return info->summary;
    if (texts[k][i]) return texts[k][i];
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) return info->summary;
    const char *args = info->args ? info->args : "";
    if (frontend == PYH_FRONTEND_GDB || info->own_targets)
        fprintf(f, "usage: py-heap %s%s%s [options]\n", info->name, *args ? " " : "", args);
    else
        fprintf(f, "usage: py-heap %s%s%s [options] (CORE | -p PID | --coredump MATCH)\n",
                info->name, *args ? " " : "", args);
    fprintf(f, "  %s\n\n%s", info->summary, info->help);
    fprintf(f, "\nOptions:\n");
    for (size_t j = 0; j < info->noptions; j++)
        if (pyh_option_in(&info->options[j], frontend))
            option_line(f, info->name, &info->options[j]);
    option_line(f, info->name,
                &(struct pyh_option){.name = "help", .short_name = 'h', .help = "this help"});
    if (frontend == PYH_FRONTEND_GDB) {
        fprintf(f, "\n");
        pyh_help_wrap(f,
                      "In gdb, ADDR is a gdb expression ($rdi, obj->ob_type); /json does what "
                      "--json does, and `set py-heap format json` makes it the default.",
                      0, 0);
    } else if (!info->own_targets) {
        fprintf(f, "\n");
        pyh_write_cli_target_help(f);
    }
    fclose(f);
    texts[k][i] = buf;
    return buf;
}
