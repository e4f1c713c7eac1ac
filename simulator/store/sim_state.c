/* sim_state: a meter's saved state and its JSON file (see sim_state.h).
 *
 * File layout (version 1; integers are JSON integers, 64-bit generator
 * state as 16 hex digits because JSON integers are signed):
 *   {"format": "mepsim-state", "version": 1,
 *    "meter": {"profile": .., "meter_serial": .., "utility_serial": ..},
 *    "saved_utc_ms": .., "sim_utc_ms": .., "speed": .., "seq_next": ..,
 *    "model": {"t_ms", "next_step_ms", "rng", "registers_m"[12], "registers_res"[12],
 *              "phase_fwd_mwh"[3], "phase_rev_mwh"[3], "phase_fwd_res"[3], "phase_rev_res"[3],
 *              "walk_w"[3], "v_dev"[3], "avg_fwd_w"[3], "avg_rev_w"[3], "avg_v"[3],
 *              "outage_count", "outage_seconds", "error_counter",
 *              "loads"[3]: {"kind": "constant"|"daily"|"random_walk", "watts", "pf", "capacitive",
 *                           "daily_w"[24], "walk_step_w", "walk_min_w", "walk_max_w", "override"}},
 *    "tables": {"ET50": "<hex>", ...}}
 */
#include "sim_state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#define ET_BASE 2048u

/* ---- record --------------------------------------------------------------- */
void sim_state_clear(sim_state *st)
{
    for (size_t i = 0; i < st->n_tables; i++)
        free(st->tables[i].bytes);
    st->n_tables = 0;
}

int sim_state_add_table(sim_state *st, uint16_t id, const uint8_t *bytes, size_t len)
{
    if (st->n_tables >= SIM_STATE_MAX_TABLES)
        return -1;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy, bytes, len);
    st->tables[st->n_tables++] = (sim_state_table){id, len, copy};
    return 0;
}

void sim_state_model_get(sim_state_model *o, const sim_model *m)
{
    memset(o, 0, sizeof *o);
    o->t_ms = m->t_ms;
    o->next_step_ms = m->next_step_ms;
    o->rng = m->rng;
    memcpy(o->reg_m, m->reg_m, sizeof o->reg_m);
    memcpy(o->reg_res, m->reg_res, sizeof o->reg_res);
    memcpy(o->phase_fwd_mwh, m->phase_fwd_mwh, sizeof o->phase_fwd_mwh);
    memcpy(o->phase_rev_mwh, m->phase_rev_mwh, sizeof o->phase_rev_mwh);
    memcpy(o->phase_fwd_res, m->phase_fwd_res, sizeof o->phase_fwd_res);
    memcpy(o->phase_rev_res, m->phase_rev_res, sizeof o->phase_rev_res);
    memcpy(o->walk_w, m->walk_w, sizeof o->walk_w);
    memcpy(o->v_dev, m->v_dev, sizeof o->v_dev);
    memcpy(o->avg_fwd_w, m->avg_fwd_w, sizeof o->avg_fwd_w);
    memcpy(o->avg_rev_w, m->avg_rev_w, sizeof o->avg_rev_w);
    memcpy(o->avg_v, m->avg_v, sizeof o->avg_v);
    o->outage_count = m->outage_count;
    o->outage_seconds = m->outage_seconds;
    o->error_counter = m->error_counter;
    memcpy(o->load, m->cfg.load, sizeof o->load);
    memcpy(o->override_active, m->override_active, sizeof o->override_active);
}

void sim_state_model_put(const sim_state_model *o, sim_model *m)
{
    m->t_ms = o->t_ms;
    m->next_step_ms = o->next_step_ms;
    m->rng = o->rng;
    memcpy(m->reg_m, o->reg_m, sizeof o->reg_m);
    memcpy(m->reg_res, o->reg_res, sizeof o->reg_res);
    memcpy(m->phase_fwd_mwh, o->phase_fwd_mwh, sizeof o->phase_fwd_mwh);
    memcpy(m->phase_rev_mwh, o->phase_rev_mwh, sizeof o->phase_rev_mwh);
    memcpy(m->phase_fwd_res, o->phase_fwd_res, sizeof o->phase_fwd_res);
    memcpy(m->phase_rev_res, o->phase_rev_res, sizeof o->phase_rev_res);
    memcpy(m->walk_w, o->walk_w, sizeof o->walk_w);
    memcpy(m->v_dev, o->v_dev, sizeof o->v_dev);
    memcpy(m->avg_fwd_w, o->avg_fwd_w, sizeof o->avg_fwd_w);
    memcpy(m->avg_rev_w, o->avg_rev_w, sizeof o->avg_rev_w);
    memcpy(m->avg_v, o->avg_v, sizeof o->avg_v);
    m->outage_count = o->outage_count;
    m->outage_seconds = o->outage_seconds;
    m->error_counter = o->error_counter;
    memcpy(m->cfg.load, o->load, sizeof o->load);
    memcpy(m->override_active, o->override_active, sizeof o->override_active);
    m->version++;
}

/* ---- JSON out ---------------------------------------------------------------- */
static json_t *int_array(const int64_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer((json_int_t)v[i]));
    return a;
}

static json_t *real_array(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_real(isfinite(v[i]) ? v[i] : 0.0));
    return a;
}

static void table_name(uint16_t id, char buf[8])
{
    if (id >= ET_BASE)
        snprintf(buf, 8, "ET%02u", (unsigned)(id - ET_BASE) % 1000u);
    else
        snprintf(buf, 8, "BT%02u", (unsigned)id % 1000u);
}

static const char *const LOAD_KINDS[] = {"constant", "daily", "random_walk"};

static json_t *loads_json(const sim_state_model *m)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < SIM_MAX_PHASES; i++) {
        const sim_load *l = &m->load[i];
        unsigned k = (unsigned)l->kind < 3 ? (unsigned)l->kind : 0;
        json_array_append_new(a, json_pack("{s:s, s:f, s:f, s:b, s:o, s:f, s:f, s:f, s:b}", "kind", LOAD_KINDS[k],
                                           "watts", l->watts, "pf", l->pf, "capacitive", l->capacitive,
                                           "daily_w", real_array(l->daily_w, 24), "walk_step_w", l->walk_step_w,
                                           "walk_min_w", l->walk_min_w, "walk_max_w", l->walk_max_w,
                                           "override", m->override_active[i]));
    }
    return a;
}

static json_t *model_json(const sim_state_model *m)
{
    char rng[17];
    snprintf(rng, sizeof rng, "%016" PRIx64, m->rng);
    return json_pack("{s:I, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:o}",
                     "t_ms", (json_int_t)m->t_ms, "next_step_ms", (json_int_t)m->next_step_ms, "rng", rng,
                     "registers_m", int_array(m->reg_m, SIM_REG_COUNT),
                     "registers_res", int_array(m->reg_res, SIM_REG_COUNT),
                     "phase_fwd_mwh", int_array(m->phase_fwd_mwh, SIM_MAX_PHASES),
                     "phase_rev_mwh", int_array(m->phase_rev_mwh, SIM_MAX_PHASES),
                     "phase_fwd_res", int_array(m->phase_fwd_res, SIM_MAX_PHASES),
                     "phase_rev_res", int_array(m->phase_rev_res, SIM_MAX_PHASES),
                     "walk_w", real_array(m->walk_w, SIM_MAX_PHASES),
                     "v_dev", real_array(m->v_dev, SIM_MAX_PHASES),
                     "avg_fwd_w", real_array(m->avg_fwd_w, SIM_MAX_PHASES),
                     "avg_rev_w", real_array(m->avg_rev_w, SIM_MAX_PHASES),
                     "avg_v", real_array(m->avg_v, SIM_MAX_PHASES),
                     "outage_count", (json_int_t)m->outage_count,
                     "outage_seconds", (json_int_t)m->outage_seconds,
                     "error_counter", (json_int_t)m->error_counter, "loads", loads_json(m));
}

char *sim_state_dump(const sim_state *st)
{
    json_t *tables = json_object();
    for (size_t i = 0; tables && i < st->n_tables; i++) {
        const sim_state_table *t = &st->tables[i];
        char *hex = malloc(2 * t->len + 1);
        if (!hex) {
            json_decref(tables);
            return NULL;
        }
        for (size_t k = 0; k < t->len; k++)
            snprintf(hex + 2 * k, 3, "%02x", t->bytes[k]);
        hex[2 * t->len] = 0;
        char name[8];
        table_name(t->id, name);
        json_object_set_new(tables, name, json_string(hex));
        free(hex);
    }
    json_t *root = json_pack("{s:s, s:i, s:{s:s, s:s, s:s}, s:I, s:I, s:f, s:I, s:o, s:o}",
                             "format", SIM_STATE_FORMAT, "version", SIM_STATE_VERSION,
                             "meter", "profile", st->profile, "meter_serial", st->meter_serial,
                             "utility_serial", st->utility_serial,
                             "saved_utc_ms", (json_int_t)st->saved_utc_ms,
                             "sim_utc_ms", (json_int_t)st->sim_utc_ms,
                             "speed", st->speed, "seq_next", (json_int_t)st->next_seq,
                             "model", model_json(&st->model), "tables", tables);
    if (!root)
        return NULL;
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

/* ---- JSON in ------------------------------------------------------------------ */
typedef struct {
    const char *name;                 /* file name for messages */
    char *err;
    size_t errlen;
} ctx;

static sim_state_result bad(const ctx *c, const char *where, const char *what)
{
    snprintf(c->err, c->errlen, "%s: %s: %s", c->name, where, what);
    return SIM_STATE_BAD;
}

/* Every key of obj must be in known (NULL-terminated). */
static sim_state_result only_keys(const ctx *c, const char *where, json_t *obj, const char *const *known)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = !strcmp(known[i], key);
        if (!ok) {
            char w[160];
            snprintf(w, sizeof w, "%s%s%s", where, where[0] ? "." : "", key);
            return bad(c, w, "unknown key");
        }
    }
    return SIM_STATE_OK;
}

static sim_state_result get_int(const ctx *c, json_t *obj, const char *where, const char *key, int64_t lo,
                                int64_t hi, int64_t *out)
{
    char w[160];
    snprintf(w, sizeof w, "%s%s%s", where, where[0] ? "." : "", key);
    json_t *v = json_object_get(obj, key);
    if (!v)
        return bad(c, w, "missing");
    if (!json_is_integer(v))
        return bad(c, w, "expected an integer");
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return bad(c, w, "out of range");
    *out = x;
    return SIM_STATE_OK;
}

static sim_state_result get_str(const ctx *c, json_t *obj, const char *where, const char *key, char *out,
                                size_t cap)
{
    char w[160];
    snprintf(w, sizeof w, "%s.%s", where, key);
    json_t *v = json_object_get(obj, key);
    if (!v)
        return bad(c, w, "missing");
    if (!json_is_string(v))
        return bad(c, w, "expected a string");
    if (strlen(json_string_value(v)) >= cap)
        return bad(c, w, "too long");
    snprintf(out, cap, "%s", json_string_value(v));
    return SIM_STATE_OK;
}

/* model.<key>: an array of n integers (iout) or n finite numbers (dout). */
static sim_state_result get_array(const ctx *c, json_t *obj, const char *key, size_t n, int64_t *iout,
                                  double *dout)
{
    char w[160], msg[64];
    snprintf(w, sizeof w, "model.%s", key);
    snprintf(msg, sizeof msg, "expected an array of %zu %s", n, iout ? "integers" : "numbers");
    json_t *a = json_object_get(obj, key);
    if (!a)
        return bad(c, w, "missing");
    if (!json_is_array(a) || json_array_size(a) != n)
        return bad(c, w, msg);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (iout && json_is_integer(v))
            iout[i] = json_integer_value(v);
        else if (dout && json_is_number(v) && isfinite(json_number_value(v)))
            dout[i] = json_number_value(v);
        else
            return bad(c, w, msg);
    }
    return SIM_STATE_OK;
}

#define TRY(x) do { sim_state_result r_ = (x); if (r_ != SIM_STATE_OK) return r_; } while (0)

static sim_state_result get_real(const ctx *c, json_t *obj, const char *where, const char *key, double lo,
                                 double hi, double *out)
{
    char w[160];
    snprintf(w, sizeof w, "%s.%s", where, key);
    json_t *v = json_object_get(obj, key);
    if (!v)
        return bad(c, w, "missing");
    if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi))
        return bad(c, w, "expected a number in range");
    *out = json_number_value(v);
    return SIM_STATE_OK;
}

static sim_state_result get_bool(const ctx *c, json_t *obj, const char *where, const char *key, bool *out)
{
    char w[160];
    snprintf(w, sizeof w, "%s.%s", where, key);
    json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v))
        return bad(c, w, v ? "expected true or false" : "missing");
    *out = json_is_true(v);
    return SIM_STATE_OK;
}

/* One phase's load. Bounds keep the model finite: a hand-edited file
 * cannot make it integrate NaN or overflow the registers. */
static sim_state_result parse_load(const ctx *c, json_t *o, size_t i, sim_load *l, bool *override)
{
    static const char *const keys[] = {"kind", "watts", "pf", "capacitive", "daily_w", "walk_step_w",
                                       "walk_min_w", "walk_max_w", "override", NULL};
    char w[40];
    snprintf(w, sizeof w, "model.loads[%zu]", i);
    if (!json_is_object(o))
        return bad(c, w, "expected an object");
    TRY(only_keys(c, w, o, keys));
    memset(l, 0, sizeof *l);
    const char *kind = json_string_value(json_object_get(o, "kind"));
    size_t k = 0;
    while (k < 3 && (!kind || strcmp(kind, LOAD_KINDS[k])))
        k++;
    if (k == 3) {
        char kw[60];
        snprintf(kw, sizeof kw, "%s.kind", w);
        return bad(c, kw, "expected \"constant\", \"daily\" or \"random_walk\"");
    }
    l->kind = (sim_load_kind)k;
    const double MAXW = 1e7;
    TRY(get_real(c, o, w, "watts", -MAXW, MAXW, &l->watts));
    TRY(get_real(c, o, w, "pf", 0.0, 1.0, &l->pf));
    TRY(get_bool(c, o, w, "capacitive", &l->capacitive));
    TRY(get_real(c, o, w, "walk_step_w", 0.0, MAXW, &l->walk_step_w));
    TRY(get_real(c, o, w, "walk_min_w", -MAXW, MAXW, &l->walk_min_w));
    TRY(get_real(c, o, w, "walk_max_w", -MAXW, MAXW, &l->walk_max_w));
    TRY(get_bool(c, o, w, "override", override));
    json_t *d = json_object_get(o, "daily_w");
    if (!json_is_array(d) || json_array_size(d) != 24)
        return bad(c, w, "daily_w: expected an array of 24 numbers");
    for (size_t h = 0; h < 24; h++) {
        json_t *v = json_array_get(d, h);
        if (!json_is_number(v) || !(fabs(json_number_value(v)) <= MAXW))
            return bad(c, w, "daily_w: expected numbers");
        l->daily_w[h] = json_number_value(v);
    }
    return SIM_STATE_OK;
}

static sim_state_result parse_model(const ctx *c, json_t *m, sim_state_model *o)
{
    static const char *const keys[] = {"t_ms", "next_step_ms", "rng", "registers_m", "registers_res",
                                       "phase_fwd_mwh", "phase_rev_mwh", "phase_fwd_res", "phase_rev_res",
                                       "walk_w", "v_dev", "avg_fwd_w", "avg_rev_w", "avg_v", "outage_count",
                                       "outage_seconds", "error_counter", "loads", NULL};
    if (!json_is_object(m))
        return bad(c, "model", "expected an object");
    TRY(only_keys(c, "model", m, keys));
    int64_t x;
    TRY(get_int(c, m, "model", "t_ms", INT64_MIN / 4, INT64_MAX / 4, &o->t_ms));
    TRY(get_int(c, m, "model", "next_step_ms", INT64_MIN / 4, INT64_MAX / 4, &o->next_step_ms));
    if (o->next_step_ms <= o->t_ms || o->next_step_ms - o->t_ms > SIM_MODEL_STEP_MS)
        return bad(c, "model.next_step_ms", "not within one integration step after model.t_ms");
    json_t *rng = json_object_get(m, "rng");
    const char *rs = json_string_value(rng);
    char *end = NULL;
    if (!rng)
        return bad(c, "model.rng", "missing");
    if (!rs || strlen(rs) != 16 || (errno = 0, o->rng = strtoull(rs, &end, 16), errno) || *end)
        return bad(c, "model.rng", "expected 16 hex digits");
    TRY(get_array(c, m, "registers_m", SIM_REG_COUNT, o->reg_m, NULL));
    TRY(get_array(c, m, "registers_res", SIM_REG_COUNT, o->reg_res, NULL));
    for (size_t i = 0; i < SIM_REG_COUNT; i++)
        if (o->reg_m[i] < 0 || o->reg_m[i] > INT64_MAX / 4)
            return bad(c, "model.registers_m", "registers must be >= 0");
    TRY(get_array(c, m, "phase_fwd_mwh", SIM_MAX_PHASES, o->phase_fwd_mwh, NULL));
    TRY(get_array(c, m, "phase_rev_mwh", SIM_MAX_PHASES, o->phase_rev_mwh, NULL));
    TRY(get_array(c, m, "phase_fwd_res", SIM_MAX_PHASES, o->phase_fwd_res, NULL));
    TRY(get_array(c, m, "phase_rev_res", SIM_MAX_PHASES, o->phase_rev_res, NULL));
    TRY(get_array(c, m, "walk_w", SIM_MAX_PHASES, NULL, o->walk_w));
    TRY(get_array(c, m, "v_dev", SIM_MAX_PHASES, NULL, o->v_dev));
    TRY(get_array(c, m, "avg_fwd_w", SIM_MAX_PHASES, NULL, o->avg_fwd_w));
    TRY(get_array(c, m, "avg_rev_w", SIM_MAX_PHASES, NULL, o->avg_rev_w));
    TRY(get_array(c, m, "avg_v", SIM_MAX_PHASES, NULL, o->avg_v));
    TRY(get_int(c, m, "model", "outage_count", 0, UINT32_MAX, &x));
    o->outage_count = (uint32_t)x;
    TRY(get_int(c, m, "model", "outage_seconds", 0, UINT32_MAX, &x));
    o->outage_seconds = (uint32_t)x;
    TRY(get_int(c, m, "model", "error_counter", 0, UINT32_MAX, &x));
    o->error_counter = (uint32_t)x;
    json_t *loads = json_object_get(m, "loads");
    if (!json_is_array(loads) || json_array_size(loads) != SIM_MAX_PHASES)
        return bad(c, "model.loads", "expected an array of 3 load objects");
    for (size_t i = 0; i < SIM_MAX_PHASES; i++)
        TRY(parse_load(c, json_array_get(loads, i), i, &o->load[i], &o->override_active[i]));
    return SIM_STATE_OK;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static sim_state_result parse_table(const ctx *c, sim_state *st, const char *key, json_t *v)
{
    char w[64];
    snprintf(w, sizeof w, "tables.%.20s", key);
    unsigned n = 0;
    char kind[3] = {0}, extra = 0;
    if (sscanf(key, "%2[BET]%u%c", kind, &n, &extra) != 2 || (strcmp(kind, "BT") && strcmp(kind, "ET")) ||
        n > 2047 || strlen(key) < 4 || strlen(key) > 6)
        return bad(c, w, "expected a table name such as BT53 or ET50");
    uint16_t id = (uint16_t)(kind[0] == 'E' ? ET_BASE + n : n);
    for (size_t i = 0; i < st->n_tables; i++)
        if (st->tables[i].id == id)
            return bad(c, w, "table given twice");
    const char *hex = json_string_value(v);
    if (!hex)
        return bad(c, w, "expected a hex string");
    size_t hl = strlen(hex);
    if (hl % 2)
        return bad(c, w, "odd number of hex digits");
    if (hl / 2 > 65535)
        return bad(c, w, "table too large");
    uint8_t *bytes = malloc(hl / 2 + 1);
    if (!bytes)
        return bad(c, w, "out of memory");
    for (size_t i = 0; i < hl / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(bytes);
            return bad(c, w, "not a hex string");
        }
        bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    if (st->n_tables >= SIM_STATE_MAX_TABLES) {
        free(bytes);
        return bad(c, w, "too many tables");
    }
    st->tables[st->n_tables++] = (sim_state_table){id, hl / 2, bytes};
    return SIM_STATE_OK;
}

static sim_state_result parse_root(const ctx *c, json_t *root, sim_state *st)
{
    static const char *const keys[] = {"format", "version", "meter", "saved_utc_ms", "sim_utc_ms", "speed",
                                       "seq_next", "model", "tables", NULL};
    static const char *const meter_keys[] = {"profile", "meter_serial", "utility_serial", NULL};
    if (!json_is_object(root))
        return bad(c, "top level", "expected an object");
    json_t *fmt = json_object_get(root, "format");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), SIM_STATE_FORMAT))
        return bad(c, "format", "not a mepsim state file (expected \"format\": \"" SIM_STATE_FORMAT "\")");
    json_t *ver = json_object_get(root, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != SIM_STATE_VERSION) {
        char msg[128];
        if (json_is_integer(ver))
            snprintf(msg, sizeof msg, "state version %lld is not supported (this mepsim reads version %d)",
                     (long long)json_integer_value(ver), SIM_STATE_VERSION);
        else
            snprintf(msg, sizeof msg, "missing or not an integer (this mepsim reads version %d)",
                     SIM_STATE_VERSION);
        return bad(c, "version", msg);
    }
    TRY(only_keys(c, "", root, keys));
    json_t *meter = json_object_get(root, "meter");
    if (!json_is_object(meter))
        return bad(c, "meter", "expected an object {profile, meter_serial, utility_serial}");
    TRY(only_keys(c, "meter", meter, meter_keys));
    TRY(get_str(c, meter, "meter", "profile", st->profile, sizeof st->profile));
    TRY(get_str(c, meter, "meter", "meter_serial", st->meter_serial, sizeof st->meter_serial));
    TRY(get_str(c, meter, "meter", "utility_serial", st->utility_serial, sizeof st->utility_serial));
    TRY(get_int(c, root, "", "saved_utc_ms", 0, INT64_MAX / 4, &st->saved_utc_ms));
    TRY(get_int(c, root, "", "sim_utc_ms", INT64_MIN / 4, INT64_MAX / 4, &st->sim_utc_ms));
    int64_t seq;
    TRY(get_int(c, root, "", "seq_next", 0, UINT32_MAX, &seq));
    st->next_seq = (uint32_t)seq;
    json_t *sp = json_object_get(root, "speed");
    if (!json_is_number(sp) || !(json_number_value(sp) >= 1e-3 && json_number_value(sp) <= 1e6))
        return bad(c, "speed", "expected a number between 0.001 and 1000000");
    st->speed = json_number_value(sp);
    json_t *model = json_object_get(root, "model");
    if (!model)
        return bad(c, "model", "missing");
    TRY(parse_model(c, model, &st->model));
    json_t *tables = json_object_get(root, "tables");
    if (!json_is_object(tables))
        return bad(c, "tables", "expected an object {\"ET50\": \"<hex>\", ...}");
    const char *key;
    json_t *v;
    json_object_foreach(tables, key, v)
        TRY(parse_table(c, st, key, v));
    return SIM_STATE_OK;
}

sim_state_result sim_state_parse(const char *text, size_t len, const char *name, sim_state *st, char *err,
                                 size_t errlen)
{
    memset(st, 0, sizeof *st);
    ctx c = {name, err, errlen};
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "%s: not valid JSON (line %d column %d: %s)", name, je.line, je.column, je.text);
        return SIM_STATE_BAD;
    }
    sim_state_result r = parse_root(&c, root, st);
    json_decref(root);
    if (r != SIM_STATE_OK)
        sim_state_clear(st);
    return r;
}

/* ---- files ---------------------------------------------------------------------- */
#define STATE_MAX_BYTES (4u << 20) /* far above any meter's state (a few KiB) */

sim_state_result sim_state_load(const char *path, sim_state *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return SIM_STATE_MISSING;
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return SIM_STATE_BAD;
    }
    char *buf = malloc(STATE_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return SIM_STATE_BAD;
    }
    size_t n = fread(buf, 1, STATE_MAX_BYTES + 1, f);
    bool rerr = ferror(f) != 0;
    fclose(f);
    sim_state_result r;
    if (rerr) {
        snprintf(err, errlen, "%s: cannot read: I/O error", path);
        r = SIM_STATE_BAD;
    } else if (n > STATE_MAX_BYTES) {
        snprintf(err, errlen, "%s: larger than %u bytes: not a mepsim state file", path, STATE_MAX_BYTES);
        r = SIM_STATE_BAD;
    } else if (n == 0) {
        snprintf(err, errlen, "%s: empty file: not a mepsim state file", path);
        r = SIM_STATE_BAD;
    } else {
        r = sim_state_parse(buf, n, path, st, err, errlen);
    }
    free(buf);
    return r;
}

static void folder_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

int sim_state_check_path(const char *path, char *err, size_t errlen)
{
    char dir[1024];
    folder_of(path, dir, sizeof dir);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "%s: folder %s does not exist", path, dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "%s: folder %s is not writable", path, dir);
        return -1;
    }
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        return -1;
    }
    return 0;
}

int sim_state_write_file(const char *path, const char *text, char *err, size_t errlen)
{
    char tmp[1100];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0) {
        snprintf(err, errlen, "%s: fsync failed: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: rename to %s failed: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    /* the rename itself is durable once the folder is synced */
    char dir[1024];
    folder_of(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}
