/* sim_spec: fault families described by tables.
 *
 * Owns: the "NAME key=value key=value" form in which line faults, protocol
 * faults and glitches are described (control socket, scenario files, CLI).
 * A family of such specs is a table (sim_spec_family): its kinds with the
 * parameters each takes, and its parameters with type, range and the spec
 * field they fill; one generic set/parse/format/check and "what" matcher
 * serve every family (sim_fault.c, sim_pfault.c, sim_glitch.c). Adding a
 * fault kind is adding a row to its family's table. No state.
 */
#ifndef SIM_SPEC_H
#define SIM_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a parameter's text is read into its spec field and written back. */
typedef enum {
    SIM_SPEC_U32 = 0, /* uint32_t (or uint8_t, size 1): whole number, optional maximum hi */
    SIM_SPEC_UNIT,    /* double: probability 0..1 */
    SIM_SPEC_NUMBER,  /* double: finite number, optional range lo..hi */
    SIM_SPEC_CHOICE,  /* int-sized or bool field: one of the named values */
    SIM_SPEC_CUSTOM,  /* the family's own set and format functions */
} sim_spec_ptype;

/* One accepted name of a choice; formatting writes the first name listed
 * for the field's value. nocase: matched ignoring case ("0xFF"). */
typedef struct {
    const char *name;
    int value;
    bool nocase;
} sim_spec_choice;

typedef struct sim_spec_param {
    const char *key;
    sim_spec_ptype type;
    size_t offset;               /* of the field in the spec struct */
    size_t size;                 /* of the field (choices: 1 = bool/uint8_t, 4 = int/unsigned) */
    double lo, hi;               /* range, used when lo < hi (U32: hi only) */
    bool hide;                   /* format leaves it out when the field equals hide_value */
    double hide_value;
    bool hex;                    /* U32 written as 0x%02X (else %u); doubles are written %g */
    const sim_spec_choice *choices;
    size_t n_choices;
    bool list_choices;           /* a bad choice's message lists the names: " (a|b|c)" */
    /* CUSTOM: set from text (messages "<what> <kind>: ...") and append " key=..." */
    int (*set)(void *spec, const char *what, const char *kind, const char *value, char *err, size_t errlen);
    void (*format)(const void *spec, char *out, size_t cap, size_t *n);
} sim_spec_param;

/* A kind's range for one parameter, checked once the whole spec is set
 * (defaults too): "<what> <kind>: <text>", text NULL: "<key> must be
 * <lo>..<hi>"; got: ", got <value>" appended. */
typedef struct {
    const char *key;
    double lo, hi;
    const char *text;
    bool got;
} sim_spec_limit;

#define SIM_SPEC_MAX_LIMITS 2
/* One kind: its name, the parameters it takes (bit i = params[i]), a
 * cross-parameter check (NULL: none; runs first) and its ranges. */
typedef struct {
    const char *name;
    unsigned params;
    int (*check)(const void *spec, const char *kind, char *err, size_t errlen);
    sim_spec_limit limits[SIM_SPEC_MAX_LIMITS];
} sim_spec_kind;

typedef struct {
    const char *what;            /* "fault", "glitch": the noun in messages */
    const char *unknown;         /* "unknown <unknown> \"NAME\"" ("protocol fault") */
    bool name_required;          /* a blank spec says "<what> name missing" */
    const void *kinds;           /* n_kinds rows of kind_size bytes, each starting with a
                                    sim_spec_kind (a family's row may add its apply functions) */
    size_t n_kinds, kind_size;
    const sim_spec_param *params; /* also the order in which format writes them */
    size_t n_params;
    size_t spec_size;            /* sizeof the family's spec struct */
    void (*init)(void *spec, int kind); /* defaults of a kind */
} sim_spec_family;

#define SIM_SPEC_SPEC_MAX_SIZE 512 /* largest spec struct a family may have */

/* Row k of the kinds table (k must be in range). */
const sim_spec_kind *sim_spec_kind_at(const sim_spec_family *f, int k);
/* Index of the kind called name, or -1. */
int sim_spec_kind_index(const sim_spec_family *f, const char *name);
/* Name of kind k, "?" if out of range. */
const char *sim_spec_kind_name(const sim_spec_family *f, int k);
/* Set one parameter of a kind-k spec from text. 0 or -1 with a message:
 * "unknown parameter \"KEY\" for <what> KIND", "<what> KIND takes no
 * parameter \"KEY\"", or the type's message ("... must be a probability
 * 0..1, got \"2\""). */
int sim_spec_spec_set(const sim_spec_family *f, int k, void *spec, const char *key, const char *value, char *err,
                      size_t errlen);
/* The kind's cross-parameter check, then its ranges ("unknown <what> kind
 * N" if k is out of range). 0 or -1 with a message. */
int sim_spec_spec_check(const sim_spec_family *f, int k, const void *spec, char *err, size_t errlen);
/* "NAME key=value ...": init the kind's defaults, set every pair, check.
 * *spec is written only on success. 0 or -1 with a message. */
int sim_spec_spec_parse(const sim_spec_family *f, void *spec, const char *text, char *err, size_t errlen);
/* "NAME key=value ..." in the table's parameter order. Returns the length. */
size_t sim_spec_spec_format(const sim_spec_family *f, int k, const void *spec, char *out, size_t cap);

/* Which active specs a stop names: "all", an id ("3") or a kind name. */
typedef struct {
    bool all, by_id;
    uint32_t id;
    int kind;                    /* -1: no kind of this family */
} sim_spec_what;
void sim_spec_what_parse(const sim_spec_family *f, const char *what, sim_spec_what *out);
bool sim_spec_what_matches(const sim_spec_what *w, uint32_t id, int kind);

/* A family's typed front over its table, the same for every family, so
 * declared and defined by one macro pair rather than written per family.
 * With prefix P, spec type S and kind type K it gives:
 *   const sim_spec_family *P_family(void);   the table
 *   const char *P_kind_name(K k);            sim_spec_kind_name ("?" if out of range)
 *   int P_kind_from_name(const char *name);  sim_spec_kind_index (-1 if unknown)
 *   int P_spec_parse(S *s, const char *text, char *err, size_t errlen);
 *                                            sim_spec_spec_parse
 *   size_t P_spec_format(const S *s, char *out, size_t cap);
 *                                            sim_spec_spec_format of s->kind
 * SIM_SPEC_FAMILY_API in the family's header, SIM_SPEC_FAMILY_DEFINE with
 * its table in the .c. */
#define SIM_SPEC_FAMILY_API(P, S, K)                                                                       \
    const sim_spec_family *P##_family(void);                                                               \
    const char *P##_kind_name(K k);                                                                        \
    int P##_kind_from_name(const char *name);                                                              \
    int P##_spec_parse(S *s, const char *text, char *err, size_t errlen);                                  \
    size_t P##_spec_format(const S *s, char *out, size_t cap)

#define SIM_SPEC_FAMILY_DEFINE(P, S, K, TABLE)                                                             \
    const sim_spec_family *P##_family(void) { return &(TABLE); }                                           \
    const char *P##_kind_name(K k) { return sim_spec_kind_name(&(TABLE), (int)k); }                        \
    int P##_kind_from_name(const char *name) { return sim_spec_kind_index(&(TABLE), name); }               \
    int P##_spec_parse(S *s, const char *text, char *err, size_t errlen)                                   \
    {                                                                                                      \
        return sim_spec_spec_parse(&(TABLE), s, text, err, errlen);                                        \
    }                                                                                                      \
    size_t P##_spec_format(const S *s, char *out, size_t cap)                                              \
    {                                                                                                      \
        return sim_spec_spec_format(&(TABLE), (int)s->kind, s, out, cap);                                  \
    }

#endif
