/* sim_spec: the "NAME key=value key=value" form in which line faults, protocol
 * faults and glitches are described (control socket, scenario files, CLI), and
 * the one generic engine behind the three fault families (sim_spec.h). */
#include "sim_spec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim_text.h"

static int parse_unit(const char *v, double *out)
{
    double x;
    if (sim_text_parse_double(v, &x) != 0 || x < 0.0 || x > 1.0)
        return -1;
    *out = x;
    return 0;
}

/* "NAME key=value key=value ..." split in place. */
#define MAX_SPEC 512
#define MAX_PAIRS 32
typedef struct {
    char buf[MAX_SPEC];
    const char *name;                     /* NULL if the text is blank */
    const char *key[MAX_PAIRS];
    const char *value[MAX_PAIRS];
    size_t n;
} tokens;

/* Split text. `what` names the thing in messages ("fault", "glitch"):
 * "<what> description missing or too long" and
 * "<what> NAME: expected key=value, got \"TOKEN\"". 0 or -1. */
static int tokenize(tokens *t, const char *what, const char *text, char *err, size_t errlen)
{
    t->name = NULL;
    t->n = 0;
    if (!text || strlen(text) >= sizeof t->buf) {
        sim_text_errf(err, errlen, "%s description missing or too long", what);
        return -1;
    }
    strcpy(t->buf, text);
    char *save = NULL;
    char *tok = strtok_r(t->buf, " \t", &save);
    t->name = tok;
    if (!tok)
        return 0;
    while ((tok = strtok_r(NULL, " \t", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            sim_text_errf(err, errlen, "%s %s: expected key=value, got \"%s\"", what, t->name, tok);
            return -1;
        }
        if (t->n == MAX_PAIRS) {
            sim_text_errf(err, errlen, "%s %s: too many parameters", what, t->name);
            return -1;
        }
        *eq = '\0';
        t->key[t->n] = tok;
        t->value[t->n] = eq + 1;
        t->n++;
    }
    return 0;
}

/* ---- spec families ------------------------------------------------------ */

const sim_spec_kind *sim_spec_kind_at(const sim_spec_family *f, int k)
{
    return (const sim_spec_kind *)((const unsigned char *)f->kinds + (size_t)k * f->kind_size);
}

int sim_spec_kind_index(const sim_spec_family *f, const char *name)
{
    for (size_t k = 0; name && k < f->n_kinds; k++) {
        const char *kn = sim_spec_kind_at(f, (int)k)->name;
        if (kn && strcmp(name, kn) == 0)
            return (int)k;
    }
    return -1;
}

const char *sim_spec_kind_name(const sim_spec_family *f, int k)
{
    if (k < 0 || (size_t)k >= f->n_kinds || !sim_spec_kind_at(f, k)->name)
        return "?";
    return sim_spec_kind_at(f, k)->name;
}

static int param_index(const sim_spec_family *f, const char *key)
{
    for (size_t i = 0; key && i < f->n_params; i++)
        if (strcmp(key, f->params[i].key) == 0)
            return (int)i;
    return -1;
}

static bool kind_takes(const sim_spec_family *f, int k, int i)
{
    return k >= 0 && (size_t)k < f->n_kinds && i >= 0 && (sim_spec_kind_at(f, k)->params & (1u << i));
}

/* Integer fields of 1 (bool, uint8_t) or 4 bytes (int, unsigned, uint32_t). */
static void put_int(void *spec, const sim_spec_param *p, long long v)
{
    unsigned char *field = (unsigned char *)spec + p->offset;
    if (p->size == 1) {
        uint8_t b = (uint8_t)v;
        memcpy(field, &b, 1);
    } else {
        int32_t w = (int32_t)v;
        memcpy(field, &w, sizeof w);
    }
}

static long long get_int(const void *spec, const sim_spec_param *p)
{
    const unsigned char *field = (const unsigned char *)spec + p->offset;
    if (p->size == 1)
        return *field;
    int32_t w;
    memcpy(&w, field, sizeof w);
    return p->type == SIM_SPEC_U32 ? (long long)(uint32_t)w : (long long)w;
}

static double get_double(const void *spec, const sim_spec_param *p)
{
    double d;
    memcpy(&d, (const unsigned char *)spec + p->offset, sizeof d);
    return d;
}

static void put_double(void *spec, const sim_spec_param *p, double d)
{
    memcpy((unsigned char *)spec + p->offset, &d, sizeof d);
}

static int set_choice(const sim_spec_param *p, void *spec, const char *what, const char *kn, const char *value,
                      char *err, size_t errlen)
{
    for (size_t i = 0; i < p->n_choices; i++) {
        const sim_spec_choice *c = &p->choices[i];
        if ((c->nocase ? strcasecmp(value, c->name) : strcmp(value, c->name)) == 0) {
            put_int(spec, p, c->value);
            return 0;
        }
    }
    char names[160] = "";
    size_t n = 0;
    for (size_t i = 0; p->list_choices && i < p->n_choices; i++)
        sim_text_appendf(names, sizeof names, &n, "%s%s", i ? "|" : " (", p->choices[i].name);
    if (n)
        sim_text_appendf(names, sizeof names, &n, ")");
    sim_text_errf(err, errlen, "%s %s: bad value \"%s\" for %s%s", what, kn, value, p->key, names);
    return -1;
}

static int set_value(const sim_spec_param *p, void *spec, const char *what, const char *kn, const char *value,
                     char *err, size_t errlen)
{
    uint32_t u;
    double d;
    switch (p->type) {
    case SIM_SPEC_U32:
        if (sim_text_parse_u32(value, &u) < 0) {
            sim_text_errf(err, errlen, "%s %s: %s must be a whole number 0..4294967295, got \"%s\"", what, kn,
                          p->key, value);
            return -1;
        }
        if (p->hi > 0 && u > p->hi) {
            sim_text_errf(err, errlen, "%s %s: %s must be 0..%u, got %u", what, kn, p->key, (unsigned)p->hi,
                          (unsigned)u);
            return -1;
        }
        put_int(spec, p, u);
        return 0;
    case SIM_SPEC_UNIT:
        if (parse_unit(value, &d) < 0) {
            sim_text_errf(err, errlen, "%s %s: %s must be a probability 0..1, got \"%s\"", what, kn, p->key,
                          value);
            return -1;
        }
        put_double(spec, p, d);
        return 0;
    case SIM_SPEC_NUMBER:
        if (sim_text_parse_double(value, &d) < 0) {
            sim_text_errf(err, errlen, "%s %s: %s must be a number, got \"%s\"", what, kn, p->key, value);
            return -1;
        }
        if (p->lo < p->hi && (d < p->lo || d > p->hi)) {
            sim_text_errf(err, errlen, "%s %s: %s must be %g..%g, got %g", what, kn, p->key, p->lo, p->hi, d);
            return -1;
        }
        put_double(spec, p, d);
        return 0;
    case SIM_SPEC_CHOICE:
        return set_choice(p, spec, what, kn, value, err, errlen);
    case SIM_SPEC_CUSTOM:
        return p->set(spec, what, kn, value, err, errlen);
    }
    return -1;
}

int sim_spec_spec_set(const sim_spec_family *f, int k, void *spec, const char *key, const char *value, char *err,
                      size_t errlen)
{
    int i = param_index(f, key);
    const char *kn = sim_spec_kind_name(f, k);
    if (i < 0) {
        sim_text_errf(err, errlen, "unknown parameter \"%s\" for %s %s", key ? key : "", f->what, kn);
        return -1;
    }
    if (!kind_takes(f, k, i)) {
        sim_text_errf(err, errlen, "%s %s takes no parameter \"%s\"", f->what, kn, key);
        return -1;
    }
    return set_value(&f->params[i], spec, f->what, kn, value ? value : "", err, errlen);
}

static int check_limit(const sim_spec_family *f, int k, const sim_spec_limit *l, const void *spec, char *err,
                       size_t errlen)
{
    int i = param_index(f, l->key);
    if (i < 0)
        return 0;
    const sim_spec_param *p = &f->params[i];
    double v = p->type == SIM_SPEC_U32 || p->type == SIM_SPEC_CHOICE ? (double)get_int(spec, p) : get_double(spec, p);
    if (v >= l->lo && v <= l->hi)
        return 0;
    char text[128], got[48] = "";
    if (l->text)
        snprintf(text, sizeof text, "%s", l->text);
    else
        snprintf(text, sizeof text, "%s must be %.0f..%.0f", l->key, l->lo, l->hi);
    if (l->got)
        snprintf(got, sizeof got, ", got %.17g", v);
    sim_text_errf(err, errlen, "%s %s: %s%s", f->what, sim_spec_kind_at(f, k)->name, text, got);
    return -1;
}

int sim_spec_spec_check(const sim_spec_family *f, int k, const void *spec, char *err, size_t errlen)
{
    if (k < 0 || (size_t)k >= f->n_kinds) {
        sim_text_errf(err, errlen, "unknown %s kind %d", f->unknown, k);
        return -1;
    }
    const sim_spec_kind *kd = sim_spec_kind_at(f, k);
    if (kd->check && kd->check(spec, kd->name, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < SIM_SPEC_MAX_LIMITS && kd->limits[i].key; i++)
        if (check_limit(f, k, &kd->limits[i], spec, err, errlen) < 0)
            return -1;
    return 0;
}

int sim_spec_spec_parse(const sim_spec_family *f, void *spec, const char *text, char *err, size_t errlen)
{
    tokens t;
    if (tokenize(&t, f->what, text, err, errlen) < 0)
        return -1;
    if (!t.name && f->name_required) {
        sim_text_errf(err, errlen, "%s name missing", f->what);
        return -1;
    }
    int k = t.name ? sim_spec_kind_index(f, t.name) : -1;
    if (k < 0) {
        sim_text_errf(err, errlen, "unknown %s \"%s\"", f->unknown, t.name ? t.name : "");
        return -1;
    }
    _Alignas(max_align_t) unsigned char tmp[SIM_SPEC_SPEC_MAX_SIZE];
    if (f->spec_size > sizeof tmp) {
        sim_text_errf(err, errlen, "%s: spec too large", f->what);
        return -1;
    }
    f->init(tmp, k);
    for (size_t i = 0; i < t.n; i++)
        if (sim_spec_spec_set(f, k, tmp, t.key[i], t.value[i], err, errlen) < 0)
            return -1;
    if (sim_spec_spec_check(f, k, tmp, err, errlen) < 0)
        return -1;
    memcpy(spec, tmp, f->spec_size);
    return 0;
}

static void format_param(const sim_spec_param *p, const void *spec, char *out, size_t cap, size_t *n)
{
    if (p->type == SIM_SPEC_CUSTOM) {
        p->format(spec, out, cap, n);
        return;
    }
    if (p->type == SIM_SPEC_UNIT || p->type == SIM_SPEC_NUMBER) {
        double d = get_double(spec, p);
        if (!(p->hide && d == p->hide_value))
            sim_text_appendf(out, cap, n, " %s=%g", p->key, d);
        return;
    }
    long long v = get_int(spec, p);
    if (p->hide && (double)v == p->hide_value)
        return;
    if (p->type == SIM_SPEC_U32) {
        sim_text_appendf(out, cap, n, p->hex ? " %s=0x%02X" : " %s=%u", p->key, (unsigned)v);
        return;
    }
    const char *name = "?";
    for (size_t i = 0; i < p->n_choices; i++)
        if (p->choices[i].value == v) {
            name = p->choices[i].name;
            break;
        }
    sim_text_appendf(out, cap, n, " %s=%s", p->key, name);
}

size_t sim_spec_spec_format(const sim_spec_family *f, int k, const void *spec, char *out, size_t cap)
{
    if (!cap)
        return 0;
    size_t n = 0;
    out[0] = '\0';
    sim_text_appendf(out, cap, &n, "%s", sim_spec_kind_name(f, k));
    for (size_t i = 0; i < f->n_params; i++)
        if (kind_takes(f, k, (int)i))
            format_param(&f->params[i], spec, out, cap, &n);
    return n;
}

void sim_spec_what_parse(const sim_spec_family *f, const char *what, sim_spec_what *out)
{
    out->all = what && strcmp(what, "all") == 0;
    out->by_id = what && sim_text_parse_u32(what, &out->id) == 0;
    out->kind = sim_spec_kind_index(f, what);
}

bool sim_spec_what_matches(const sim_spec_what *w, uint32_t id, int kind)
{
    return w->all || (w->by_id && w->id == id) || (w->kind >= 0 && w->kind == kind);
}
