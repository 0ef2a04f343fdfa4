/* DWARF read with libdwarf; see dwarf.h.
 *
 * libdwarf hands out DIEs, attributes and errors as allocated handles. Every handle taken
 * here is released before the function that took it returns, so between calls only the
 * Dwarf_Debug itself holds memory, and dwarf_finish frees what is left. Names are different:
 * dwarf_diename does not allocate, it points into libdwarf's copy of .debug_str or
 * .debug_info, which lives until dwarf_finish. The variable map borrows those pointers.
 *
 * Types are handled by their global .debug_info offset rather than by open DIE handles: a
 * helper opens the DIE it needs (dwarf_offdie_b, cheap once the CU is known) and releases it,
 * so no DIE ownership crosses a function boundary. */
#include "image/dwarf.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dwarf.h>
#include <libdwarf.h>

#include "util/hashmap.h"
#include "util/interrupt.h"
#include "util/mem.h"

/* Caps on walks over file-controlled data (a crafted file can make any chain circular). */
enum {
    MAX_TYPE_CHAIN = 16, /* typedef/const/volatile/array links followed to reach a type */
    MAX_ANON_DEPTH = 16, /* anonymous struct/union members searched inside each other */
    MAX_PATH_PARTS = 16, /* components of a dotted member path */
    /* Member DIEs one query may look at. Anonymous members whose type is their own struct
     * would otherwise make the search exponential in MAX_ANON_DEPTH; real structs need a
     * few hundred. */
    MAX_MEMBERS_VISITED = 1 << 20,
};

struct pyh_dwarf {
    Dwarf_Debug dbg;
    int fd;     /* libdwarf reads sections lazily from it, so it stays open until close */
    char *path; /* for error messages */
    /* The CU DIE offsets met so far, in section order. libdwarf's CU iterator is a single
     * cursor that only restarts after reaching the end; keeping the offsets lets a walk start
     * again at the first CU (dwarf_offdie_b) and resume the cursor where the last walk left
     * it, so an early stop costs nothing later. */
    Dwarf_Off *cus;
    size_t ncus, cus_cap;
    bool cus_complete;      /* the cursor has reached the end: cus lists every CU */
    bool vars_built;        /* vars has been filled (it is built once, on the first lookup) */
    struct pyh_strmap vars; /* variable name (borrowed from libdwarf) -> link-time address */
};

/* A PYH_ERR_FORMAT error naming the file, the context and libdwarf's message; releases e. */
static struct pyh_error *dw_fail(struct pyh_dwarf *dw, Dwarf_Error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct pyh_error *dw_fail(struct pyh_dwarf *dw, Dwarf_Error e, const char *fmt, ...)
{
    char context[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof(context), fmt, ap);
    va_end(ap);
    struct pyh_error *err =
        pyh_error_create(PYH_ERR_FORMAT, "%s: %s: %s", dw->path, context,
                         e ? dwarf_errmsg(e) : "malformed DWARF (no libdwarf error)");
    if (e) dwarf_dealloc_error(dw->dbg, e);
    return err;
}

/* ---- Opening ------------------------------------------------------------------------- */

/* Gives the DIE of the CU numbered index (section order), or *cu = NULL past the last CU.
 * Walks ask for index 0, 1, 2, ...; an index beyond those already known is exactly ncus. */
static struct pyh_error *cu_die_at(struct pyh_dwarf *dw, size_t index, Dwarf_Die *cu)
{
    Dwarf_Error e = NULL;
    *cu = NULL;
    if (index < dw->ncus) {
        if (dwarf_offdie_b(dw->dbg, dw->cus[index], true, cu, &e) != DW_DLV_OK)
            return dw_fail(dw, e, "compilation unit at 0x%llx", (unsigned long long)dw->cus[index]);
        return NULL;
    }
    if (dw->cus_complete) return NULL;
    Dwarf_Unsigned header_length = 0, type_offset = 0, next_offset = 0;
    Dwarf_Half version = 0, address_size = 0, length_size = 0, extension_size = 0, cu_type = 0;
    Dwarf_Off abbrev_offset = 0;
    Dwarf_Sig8 signature;
    int res = dwarf_next_cu_header_d(dw->dbg, true, &header_length, &version, &abbrev_offset,
                                     &address_size, &length_size, &extension_size, &signature,
                                     &type_offset, &next_offset, &cu_type, &e);
    if (res == DW_DLV_NO_ENTRY) {
        dw->cus_complete = true;
        return NULL;
    }
    if (res != DW_DLV_OK) return dw_fail(dw, e, "compilation unit header #%zu", index);
    /* A NULL DIE asks libdwarf for the DIE of the CU the cursor is on. */
    res = dwarf_siblingof_b(dw->dbg, NULL, true, cu, &e);
    if (res != DW_DLV_OK) return dw_fail(dw, e, "DIE of compilation unit #%zu", index);
    Dwarf_Off off = 0;
    struct pyh_error *err = NULL;
    if (dwarf_dieoffset(*cu, &off, &e) != DW_DLV_OK)
        err = dw_fail(dw, e, "offset of compilation unit #%zu", index);
    else
        err = PYH_APPEND(dw->cus, dw->ncus, dw->cus_cap, &off);
    if (err) {
        dwarf_dealloc_die(*cu);
        *cu = NULL;
    }
    return err;
}

struct pyh_error *pyh_dwarf_open(const char *path, struct pyh_dwarf **out)
{
    *out = NULL;
    struct pyh_dwarf *dw = calloc(1, sizeof(*dw));
    if (!dw) return pyh_error_nomem();
    dw->fd = -1;
    dw->path = pyh_strdup(path);
    if (!dw->path) {
        free(dw);
        return pyh_error_nomem();
    }
    struct pyh_error *err = NULL;
    /* Not a FIFO or a device: open() or libdwarf's reads would block (see files.c). */
    dw->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (dw->fd < 0) {
        err = pyh_error_errno(errno, "opening %s", path);
        goto fail;
    }
    struct stat st;
    if (fstat(dw->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        err = pyh_error_create(PYH_ERR_FORMAT, "%s is not a regular file", path);
        goto fail;
    }
    /* No error handler: with a Dwarf_Error pointer given, libdwarf returns DW_DLV_ERROR
     * instead of calling abort(). */
    Dwarf_Error e = NULL;
    int res = dwarf_init_b(dw->fd, DW_DLC_READ, DW_GROUPNUMBER_ANY, NULL, NULL, &dw->dbg, &e);
    if (res == DW_DLV_NO_ENTRY) {
        err = pyh_error_create(PYH_ERR_NOT_FOUND, "%s has no DWARF", path);
        goto fail;
    }
    if (res != DW_DLV_OK) {
        /* No Dwarf_Debug yet: libdwarf keeps such errors on its own list, and
         * dwarf_dealloc_error with a NULL dbg releases them from there. */
        dw->dbg = NULL;
        err = dw_fail(dw, e, "reading DWARF");
        goto fail;
    }
    /* A file can have some .debug_* sections (.debug_line, say) and no .debug_info: look at
     * the first CU now, so that such a file is "no DWARF" here and not empty answers later. */
    Dwarf_Die cu = NULL;
    err = cu_die_at(dw, 0, &cu);
    if (err) goto fail;
    if (!cu) {
        err = pyh_error_create(PYH_ERR_NOT_FOUND, "%s has no DWARF (no .debug_info)", path);
        goto fail;
    }
    dwarf_dealloc_die(cu);
    *out = dw;
    return NULL;
fail:
    pyh_dwarf_close(dw);
    return err;
}

void pyh_dwarf_close(struct pyh_dwarf *dw)
{
    if (!dw) return;
    pyh_strmap_free(&dw->vars); /* before dwarf_finish: its keys point into libdwarf's data */
    if (dw->dbg) {
        Dwarf_Error e = NULL;
        if (dwarf_finish(dw->dbg, &e) == DW_DLV_ERROR) dwarf_dealloc_error(NULL, e);
    }
    if (dw->fd >= 0) close(dw->fd);
    free(dw->cus);
    free(dw->path);
    free(dw);
}

/* ---- Walking the top level of every CU ----------------------------------------------- */

/* Called for each top-level DIE; sets *stop to end the walk early. */
typedef struct pyh_error *(*die_visitor)(struct pyh_dwarf *dw, Dwarf_Die die, Dwarf_Half tag,
                                         void *ctx, bool *stop);

/* Calls visit on the children of every CU DIE (not deeper: members, locals and nested
 * scopes are left to the visitor), in section order, until it asks to stop. */
static struct pyh_error *walk_top_level(struct pyh_dwarf *dw, die_visitor visit, void *ctx)
{
    bool stop = false;
    for (size_t index = 0; !stop; index++) {
        struct pyh_error *err = pyh_check_interrupt();
        if (err) return err;
        Dwarf_Die cu = NULL;
        if ((err = cu_die_at(dw, index, &cu))) return err;
        if (!cu) break;
        Dwarf_Error e = NULL;
        Dwarf_Die die = NULL;
        int res = dwarf_child(cu, &die, &e);
        if (res == DW_DLV_ERROR)
            err = dw_fail(dw, e, "first DIE of compilation unit at 0x%llx",
                          (unsigned long long)dw->cus[index]);
        Dwarf_Off prev = 0;
        while (die && !err && !stop) {
            Dwarf_Half tag = 0;
            Dwarf_Off off = 0;
            if (dwarf_dieoffset(die, &off, &e) != DW_DLV_OK) {
                err = dw_fail(dw, e, "DIE offset");
                break;
            }
            /* libdwarf follows DW_AT_sibling as written; a backward one would loop. */
            if (off <= prev) {
                err = dw_fail(dw, NULL, "DIE at 0x%llx follows 0x%llx", (unsigned long long)off,
                              (unsigned long long)prev);
                break;
            }
            prev = off;
            if (dwarf_tag(die, &tag, &e) != DW_DLV_OK) {
                err = dw_fail(dw, e, "tag of DIE at 0x%llx", (unsigned long long)off);
                break;
            }
            if ((err = visit(dw, die, tag, ctx, &stop)) || stop) break;
            Dwarf_Die next = NULL;
            res = dwarf_siblingof_b(dw->dbg, die, true, &next, &e);
            if (res == DW_DLV_ERROR)
                err = dw_fail(dw, e, "sibling of DIE at 0x%llx", (unsigned long long)off);
            dwarf_dealloc_die(die);
            die = next;
        }
        if (die) dwarf_dealloc_die(die);
        dwarf_dealloc_die(cu);
        if (err) return err;
    }
    return NULL;
}

/* ---- Small DIE helpers ----------------------------------------------------------------- */

/* Opens the DIE at a global .debug_info offset (release with dwarf_dealloc_die). */
static struct pyh_error *open_die(struct pyh_dwarf *dw, Dwarf_Off off, Dwarf_Die *die)
{
    Dwarf_Error e = NULL;
    if (dwarf_offdie_b(dw->dbg, off, true, die, &e) != DW_DLV_OK)
        return dw_fail(dw, e, "DIE at 0x%llx", (unsigned long long)off);
    return NULL;
}

/* The name of die, NULL when it has none. Borrowed from libdwarf's section data. */
static struct pyh_error *die_name(struct pyh_dwarf *dw, Dwarf_Die die, const char **name)
{
    Dwarf_Error e = NULL;
    char *n = NULL;
    int res = dwarf_diename(die, &n, &e);
    *name = res == DW_DLV_OK ? n : NULL;
    if (res == DW_DLV_ERROR) return dw_fail(dw, e, "DIE name");
    return NULL;
}

/* The DIE die's attribute attr refers to (DW_AT_type, DW_AT_specification), as a global
 * offset; *has is false when the attribute is absent or a form this reader does not follow
 * (DW_FORM_ref_sig8: type units, which GCC emits only with -fdebug-types-section). */
static struct pyh_error *die_ref(struct pyh_dwarf *dw, Dwarf_Die die, Dwarf_Half attr,
                                 Dwarf_Off *off, bool *has)
{
    Dwarf_Error e = NULL;
    Dwarf_Attribute a = NULL;
    *has = false;
    int res = dwarf_attr(die, attr, &a, &e);
    if (res == DW_DLV_NO_ENTRY) return NULL;
    if (res != DW_DLV_OK) return dw_fail(dw, e, "reference attribute 0x%x", attr);
    struct pyh_error *err = NULL;
    Dwarf_Half form = 0;
    if (dwarf_whatform(a, &form, &e) != DW_DLV_OK) {
        err = dw_fail(dw, e, "form of attribute 0x%x", attr);
    } else if (form != DW_FORM_ref_sig8) {
        if (dwarf_global_formref(a, off, &e) == DW_DLV_OK)
            *has = true;
        else
            err = dw_fail(dw, e, "reference attribute 0x%x", attr);
    }
    dwarf_dealloc_attribute(a);
    return err;
}

/* An unsigned constant attribute (DW_AT_byte_size, a constant DW_AT_data_member_location);
 * *has is false when it is absent or not a constant. */
static struct pyh_error *die_udata(struct pyh_dwarf *dw, Dwarf_Die die, Dwarf_Half attr,
                                   Dwarf_Unsigned *value, bool *has)
{
    Dwarf_Error e = NULL;
    Dwarf_Attribute a = NULL;
    *has = false;
    int res = dwarf_attr(die, attr, &a, &e);
    if (res == DW_DLV_NO_ENTRY) return NULL;
    if (res != DW_DLV_OK) return dw_fail(dw, e, "attribute 0x%x", attr);
    struct pyh_error *err = NULL;
    Dwarf_Half form = 0;
    if (dwarf_whatform(a, &form, &e) != DW_DLV_OK) {
        err = dw_fail(dw, e, "form of attribute 0x%x", attr);
    } else if (form == DW_FORM_sdata || form == DW_FORM_implicit_const) {
        Dwarf_Signed s = 0;
        if (dwarf_formsdata(a, &s, &e) != DW_DLV_OK)
            err = dw_fail(dw, e, "attribute 0x%x", attr);
        else if (s >= 0)
            *value = (Dwarf_Unsigned)s, *has = true;
    } else if (form == DW_FORM_data1 || form == DW_FORM_data2 || form == DW_FORM_data4 ||
               form == DW_FORM_data8 || form == DW_FORM_udata) {
        if (dwarf_formudata(a, value, &e) != DW_DLV_OK)
            err = dw_fail(dw, e, "attribute 0x%x", attr);
        else
            *has = true;
    }
    dwarf_dealloc_attribute(a);
    return err;
}

/* True when die carries DW_AT_declaration: a struct known only by name here. */
static struct pyh_error *die_is_declaration(struct pyh_dwarf *dw, Dwarf_Die die, bool *decl)
{
    Dwarf_Error e = NULL;
    Dwarf_Bool b = false;
    if (dwarf_hasattr(die, DW_AT_declaration, &b, &e) != DW_DLV_OK)
        return dw_fail(dw, e, "DW_AT_declaration");
    *decl = b;
    return NULL;
}

static bool is_aggregate(Dwarf_Half tag)
{
    return tag == DW_TAG_structure_type || tag == DW_TAG_union_type;
}

/* Follows DW_AT_type from the type at off through typedefs and qualifiers (and array types
 * to their element when arrays is true) to the type underneath. *tag is 0 when the chain
 * ends in nothing (void) or is longer than the cap. */
static struct pyh_error *strip_type(struct pyh_dwarf *dw, Dwarf_Off off, bool arrays,
                                    Dwarf_Off *out, Dwarf_Half *tag)
{
    *tag = 0;
    for (int i = 0; i < MAX_TYPE_CHAIN; i++) {
        Dwarf_Die die = NULL;
        struct pyh_error *err = open_die(dw, off, &die);
        if (err) return err;
        Dwarf_Error e = NULL;
        Dwarf_Half t = 0;
        if (dwarf_tag(die, &t, &e) != DW_DLV_OK) {
            dwarf_dealloc_die(die);
            return dw_fail(dw, e, "tag of DIE at 0x%llx", (unsigned long long)off);
        }
        bool follow = t == DW_TAG_typedef || t == DW_TAG_const_type || t == DW_TAG_volatile_type ||
                      t == DW_TAG_restrict_type || t == DW_TAG_atomic_type ||
                      (arrays && t == DW_TAG_array_type);
        if (!follow) {
            dwarf_dealloc_die(die);
            *out = off;
            *tag = t;
            return NULL;
        }
        bool has = false;
        err = die_ref(dw, die, DW_AT_type, &off, &has);
        dwarf_dealloc_die(die);
        if (err || !has) return err;
    }
    return NULL;
}

/* ---- Member offsets ------------------------------------------------------------------ */

/* Decodes a DWARF 2/3 style member location: DW_OP_plus_uconst ULEB128 and nothing else. */
static bool parse_plus_uconst(const unsigned char *p, Dwarf_Unsigned len, Dwarf_Unsigned *value)
{
    if (len < 2 || p[0] != DW_OP_plus_uconst) return false;
    Dwarf_Unsigned v = 0;
    unsigned shift = 0;
    for (Dwarf_Unsigned i = 1; i < len; i++, shift += 7) {
        if (shift > 63) return false;
        v |= (Dwarf_Unsigned)(p[i] & 0x7f) << shift;
        if (!(p[i] & 0x80)) {
            *value = v;
            return i + 1 == len; /* the whole expression, not a prefix of a longer one */
        }
    }
    return false;
}

/* The byte offset of member die inside its struct: DW_AT_data_member_location as a constant
 * or as a DW_OP_plus_uconst expression, else DW_AT_data_bit_offset / 8 (bit-fields), else 0
 * (union members carry no location). *offset is -1 for a location this reader does not
 * understand (any other expression). */
static struct pyh_error *member_location(struct pyh_dwarf *dw, Dwarf_Die die, int64_t *offset)
{
    *offset = -1;
    Dwarf_Unsigned v = 0;
    bool has = false;
    struct pyh_error *err = die_udata(dw, die, DW_AT_data_member_location, &v, &has);
    if (err) return err;
    if (has) {
        *offset = (int64_t)v;
        return NULL;
    }
    Dwarf_Error e = NULL;
    Dwarf_Attribute a = NULL;
    int res = dwarf_attr(die, DW_AT_data_member_location, &a, &e);
    if (res == DW_DLV_ERROR) return dw_fail(dw, e, "DW_AT_data_member_location");
    if (res == DW_DLV_NO_ENTRY) {
        if ((err = die_udata(dw, die, DW_AT_data_bit_offset, &v, &has))) return err;
        *offset = has ? (int64_t)(v / 8) : 0;
        return NULL;
    }
    Dwarf_Half form = 0;
    if (dwarf_whatform(a, &form, &e) != DW_DLV_OK) {
        err = dw_fail(dw, e, "form of DW_AT_data_member_location");
    } else if (form == DW_FORM_exprloc) {
        Dwarf_Unsigned len = 0;
        Dwarf_Ptr p = NULL;
        if (dwarf_formexprloc(a, &len, &p, &e) != DW_DLV_OK)
            err = dw_fail(dw, e, "DW_AT_data_member_location expression");
        else if (parse_plus_uconst(p, len, &v))
            *offset = (int64_t)v;
    } else if (form == DW_FORM_block1 || form == DW_FORM_block2 || form == DW_FORM_block4 ||
               form == DW_FORM_block) {
        Dwarf_Block *b = NULL;
        if (dwarf_formblock(a, &b, &e) != DW_DLV_OK) {
            err = dw_fail(dw, e, "DW_AT_data_member_location block");
        } else {
            if (parse_plus_uconst(b->bl_data, b->bl_len, &v)) *offset = (int64_t)v;
            dwarf_dealloc(dw->dbg, b, DW_DLA_BLOCK);
        }
    }
    dwarf_dealloc_attribute(a);
    return err;
}

/* Looks for the member called name (len bytes) in the struct/union at agg, searching
 * anonymous struct/union members transparently. On success *found is set, *offset is its
 * offset from the start of agg and *type the offset of its type DIE (0 if it has none).
 * *budget counts down the member DIEs looked at; at 0 the search gives up (not found). */
static struct pyh_error *find_member(struct pyh_dwarf *dw, Dwarf_Off agg, const char *name,
                                     size_t len, int depth, size_t *budget, bool *found,
                                     int64_t *offset, Dwarf_Off *type)
{
    *found = false;
    Dwarf_Die parent = NULL;
    struct pyh_error *err = open_die(dw, agg, &parent);
    if (err) return err;
    Dwarf_Error e = NULL;
    Dwarf_Die die = NULL;
    int res = dwarf_child(parent, &die, &e);
    if (res == DW_DLV_ERROR) err = dw_fail(dw, e, "members of 0x%llx", (unsigned long long)agg);
    Dwarf_Off prev = 0;
    while (die && !err && !*found && *budget > 0) {
        --*budget;
        Dwarf_Off off = 0;
        Dwarf_Half tag = 0;
        if (dwarf_dieoffset(die, &off, &e) != DW_DLV_OK || dwarf_tag(die, &tag, &e) != DW_DLV_OK) {
            err = dw_fail(dw, e, "member of 0x%llx", (unsigned long long)agg);
            break;
        }
        if (off <= prev) { /* a backward DW_AT_sibling would loop */
            err = dw_fail(dw, NULL, "member at 0x%llx follows 0x%llx", (unsigned long long)off,
                          (unsigned long long)prev);
            break;
        }
        prev = off;
        const char *n = NULL;
        if (tag == DW_TAG_member && !(err = die_name(dw, die, &n))) {
            bool has_type = false;
            Dwarf_Off t = 0;
            if (n && strncmp(n, name, len) == 0 && n[len] == '\0') {
                if (!(err = die_ref(dw, die, DW_AT_type, &t, &has_type)))
                    err = member_location(dw, die, offset);
                *type = has_type ? t : 0;
                *found = true;
            } else if (!n && depth < MAX_ANON_DEPTH &&
                       !(err = die_ref(dw, die, DW_AT_type, &t, &has_type)) && has_type) {
                Dwarf_Half ttag = 0;
                if (!(err = strip_type(dw, t, false, &t, &ttag)) && is_aggregate(ttag)) {
                    int64_t inner = 0;
                    err = find_member(dw, t, name, len, depth + 1, budget, found, &inner, type);
                    if (!err && *found) {
                        err = member_location(dw, die, offset);
                        *offset = *offset < 0 || inner < 0 ? -1 : *offset + inner;
                    }
                }
            }
        }
        if (err || *found) break;
        Dwarf_Die next = NULL;
        if (dwarf_siblingof_b(dw->dbg, die, true, &next, &e) == DW_DLV_ERROR)
            err = dw_fail(dw, e, "member after 0x%llx", (unsigned long long)off);
        dwarf_dealloc_die(die);
        die = next;
    }
    if (die) dwarf_dealloc_die(die);
    dwarf_dealloc_die(parent);
    return err;
}

/* The answer to one query on the type at off (a typedef or the struct itself): the offset
 * of path inside it, or DW_AT_byte_size for "", or -1. */
static struct pyh_error *resolve_path(struct pyh_dwarf *dw, Dwarf_Off off, const char *path,
                                      int64_t *result)
{
    *result = -1;
    Dwarf_Half tag = 0;
    struct pyh_error *err = NULL;
    if (!*path) {
        if ((err = strip_type(dw, off, false, &off, &tag)) || !tag) return err;
        Dwarf_Die die = NULL;
        if ((err = open_die(dw, off, &die))) return err;
        Dwarf_Unsigned size = 0;
        bool has = false;
        err = die_udata(dw, die, DW_AT_byte_size, &size, &has);
        dwarf_dealloc_die(die);
        if (!err && has) *result = (int64_t)size;
        return err;
    }
    int64_t total = 0;
    size_t budget = MAX_MEMBERS_VISITED;
    for (int part = 0; part < MAX_PATH_PARTS; part++) {
        size_t len = strcspn(path, ".");
        if ((err = strip_type(dw, off, true, &off, &tag)) || !is_aggregate(tag)) return err;
        bool found = false;
        int64_t member = -1;
        Dwarf_Off type = 0;
        err = find_member(dw, off, path, len, 0, &budget, &found, &member, &type);
        if (err || !found || member < 0) return err;
        total += member;
        if (!path[len]) {
            *result = total;
            return NULL;
        }
        if (!type) return NULL; /* a component after a member without a type */
        off = type;
        path += len + 1;
    }
    return NULL;
}

/* The state of one member_offsets walk. Queries are grouped by type name: all the queries
 * of one name are answered together from the first definition met. */
struct offsets_walk {
    struct pyh_dwarf_query *qs;
    size_t n;
    size_t *group;           /* per query: index of its type name */
    bool *done;              /* per type name: its queries are answered */
    struct pyh_strmap names; /* type name (borrowed from qs) -> group index */
    size_t pending;          /* type names not yet found */
};

/* Answers every query of group g from the type at off, unless that is only a declaration
 * (the definition is in another CU: keep looking). */
static struct pyh_error *answer_group(struct pyh_dwarf *dw, struct offsets_walk *w, size_t g,
                                      Dwarf_Off off, bool *answered)
{
    *answered = false;
    Dwarf_Off type = off;
    Dwarf_Half tag = 0;
    struct pyh_error *err = strip_type(dw, off, false, &type, &tag);
    if (err) return err;
    if (is_aggregate(tag)) {
        Dwarf_Die die = NULL;
        bool decl = false;
        if ((err = open_die(dw, type, &die))) return err;
        err = die_is_declaration(dw, die, &decl);
        dwarf_dealloc_die(die);
        if (err || decl) return err;
    }
    for (size_t i = 0; i < w->n; i++) {
        if (w->group[i] != g) continue;
        if ((err = resolve_path(dw, off, w->qs[i].member_path, &w->qs[i].result))) return err;
    }
    *answered = true;
    return NULL;
}

static struct pyh_error *visit_type(struct pyh_dwarf *dw, Dwarf_Die die, Dwarf_Half tag, void *ctx,
                                    bool *stop)
{
    struct offsets_walk *w = ctx;
    if (tag != DW_TAG_structure_type && tag != DW_TAG_union_type && tag != DW_TAG_typedef)
        return NULL;
    const char *name = NULL;
    struct pyh_error *err = die_name(dw, die, &name);
    uint64_t g = 0;
    if (err || !name || !pyh_strmap_get(&w->names, name, &g) || w->done[g]) return err;
    if (tag != DW_TAG_typedef) { /* cheap test first: most struct DIEs met are declarations */
        bool decl = false;
        if ((err = die_is_declaration(dw, die, &decl)) || decl) return err;
    }
    Dwarf_Error e = NULL;
    Dwarf_Off off = 0;
    if (dwarf_dieoffset(die, &off, &e) != DW_DLV_OK) return dw_fail(dw, e, "DIE offset");
    bool answered = false;
    if ((err = answer_group(dw, w, (size_t)g, off, &answered))) return err;
    if (answered) {
        w->done[g] = true;
        *stop = --w->pending == 0;
    }
    return NULL;
}

struct pyh_error *pyh_dwarf_member_offsets(struct pyh_dwarf *dw, struct pyh_dwarf_query *qs,
                                           size_t n)
{
    for (size_t i = 0; i < n; i++)
        qs[i].result = -1;
    if (n == 0) return NULL;
    struct offsets_walk w = {.qs = qs, .n = n};
    w.group = calloc(n, sizeof(*w.group));
    w.done = calloc(n, sizeof(*w.done));
    struct pyh_error *err = w.group && w.done ? NULL : pyh_error_nomem();
    for (size_t i = 0; i < n && !err; i++) {
        uint64_t g = w.pending;
        if (pyh_strmap_get(&w.names, qs[i].type_name, &g)) {
            w.group[i] = (size_t)g;
        } else if (!(err = pyh_strmap_put(&w.names, qs[i].type_name, g, false))) {
            w.group[i] = w.pending++;
        }
    }
    if (!err) err = walk_top_level(dw, visit_type, &w);
    if (err) {
        for (size_t i = 0; i < n; i++)
            qs[i].result = -1;
        err = pyh_error_wrap(err, "reading struct offsets from DWARF");
    }
    pyh_strmap_free(&w.names);
    free(w.group);
    free(w.done);
    return err;
}

/* ---- Variables ----------------------------------------------------------------------- */

/* The address of a DW_AT_location that is exactly one DW_OP_addr (a static variable, as
 * opposed to thread-local, register or optimized-out ones); *has false otherwise. */
static struct pyh_error *static_location(struct pyh_dwarf *dw, Dwarf_Attribute a, uint64_t *addr,
                                         bool *has)
{
    *has = false;
    Dwarf_Error e = NULL;
    Dwarf_Loc_Head_c head = NULL;
    Dwarf_Unsigned count = 0;
    int res = dwarf_get_loclist_c(a, &head, &count, &e);
    if (res == DW_DLV_NO_ENTRY) return NULL;
    if (res != DW_DLV_OK) return dw_fail(dw, e, "DW_AT_location");
    struct pyh_error *err = NULL;
    Dwarf_Small lle = 0, source = 0;
    Dwarf_Unsigned rawlo = 0, rawhi = 0, nops = 0, expr_off = 0, desc_off = 0;
    Dwarf_Bool no_addr = false;
    Dwarf_Addr lo = 0, hi = 0;
    Dwarf_Locdesc_c desc = NULL;
    if (count == 1 &&
        dwarf_get_locdesc_entry_d(head, 0, &lle, &rawlo, &rawhi, &no_addr, &lo, &hi, &nops, &desc,
                                  &source, &expr_off, &desc_off, &e) != DW_DLV_OK) {
        err = dw_fail(dw, e, "location description");
    } else if (count == 1 && nops == 1) {
        Dwarf_Small op = 0;
        Dwarf_Unsigned op1 = 0, op2 = 0, op3 = 0, raw1 = 0, raw2 = 0, raw3 = 0, branch = 0;
        if (dwarf_get_location_op_value_d(desc, 0, &op, &op1, &op2, &op3, &raw1, &raw2, &raw3,
                                          &branch, &e) != DW_DLV_OK) {
            err = dw_fail(dw, e, "location operation");
        } else if (op == DW_OP_addr) {
            *addr = op1;
            *has = true;
        }
    }
    dwarf_loc_head_c_dealloc(head);
    return err;
}

/* Adds a top-level variable with a static address to dw->vars. Errors in one DIE skip that
 * variable only: the map is best effort, and lookups have no error channel. */
static struct pyh_error *visit_variable(struct pyh_dwarf *dw, Dwarf_Die die, Dwarf_Half tag,
                                        void *ctx, bool *stop)
{
    (void)ctx;
    (void)stop;
    if (tag != DW_TAG_variable) return NULL;
    Dwarf_Error e = NULL;
    Dwarf_Attribute a = NULL;
    int res = dwarf_attr(die, DW_AT_location, &a, &e);
    if (res == DW_DLV_ERROR) dwarf_dealloc_error(dw->dbg, e);
    if (res != DW_DLV_OK) return NULL; /* declarations (extern) carry no location */
    uint64_t addr = 0;
    bool has = false;
    struct pyh_error *err = static_location(dw, a, &addr, &has);
    dwarf_dealloc_attribute(a);
    const char *name = NULL;
    if (!err && has) err = die_name(dw, die, &name);
    if (!err && has && !name) {
        /* A definition completing an earlier declaration (`extern T x;` in a header, then
         * `T x = ...;`) has its name only on the declaration it points to. */
        Dwarf_Off decl = 0;
        bool has_decl = false;
        err = die_ref(dw, die, DW_AT_specification, &decl, &has_decl);
        if (!err && !has_decl) err = die_ref(dw, die, DW_AT_abstract_origin, &decl, &has_decl);
        Dwarf_Die d = NULL;
        if (!err && has_decl && !(err = open_die(dw, decl, &d))) {
            err = die_name(dw, d, &name);
            dwarf_dealloc_die(d);
        }
    }
    /* The first of several file-static variables of one name wins. */
    if (!err && name) return pyh_strmap_put(&dw->vars, name, addr, false);
    if (pyh_error_is(err, PYH_ERR_NOMEM)) return err;
    pyh_error_free(err);
    return NULL;
}

bool pyh_dwarf_variable_address(struct pyh_dwarf *dw, const char *name, uint64_t *addr)
{
    if (!dw->vars_built) {
        /* On a walk error (truncated DWARF) the map keeps what was read; after an interrupt
         * the next lookup walks again (re-adding a name keeps its first address). */
        struct pyh_error *err = walk_top_level(dw, visit_variable, NULL);
        dw->vars_built = !pyh_error_is(err, PYH_ERR_INTERRUPTED);
        pyh_error_free(err);
    }
    return pyh_strmap_get(&dw->vars, name, addr);
}
