/* sim_glitch: meter-side kWh and model glitches (see sim_glitch.h).
 *
 * Register glitches are applied in slot order to a working copy of the two
 * BT23 total-block registers taken from the whole rendering, so partial
 * reads (e.g. the module's 13-byte read at offset 0, docs/module-behaviour.md 4.2
 * P1) and full reads show the same values.
 */
#include "sim_glitch.h"
#include "sim_text.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mep_frame.h"
#include "sim_fault.h" /* the slots all fault families share */

static void spec_init(void *sp, int k);

/* ---- the family table --------------------------------------------------
 * Parameters in the order a spec is written; kind rows name the parameters
 * they take (bit i = PARAMS[i]) and their cross-parameter check. */
enum {
    G_REG = 1u << 0, G_TABLE = 1u << 1, G_INDEX = 1u << 2, G_DELTA = 1u << 3, G_MARGIN = 1u << 4,
    G_RATE = 1u << 5, G_SERIAL = 1u << 6, G_PHASES = 1u << 7, G_WATTS = 1u << 8, G_PF = 1u << 9,
    G_POLLS = 1u << 10, G_DURATION = 1u << 11,
};

static const sim_spec_choice REGS[] = {
    {"fwd", SIM_GLITCH_FWD, false}, {"rev", SIM_GLITCH_REV, false}, {"both", SIM_GLITCH_FWD | SIM_GLITCH_REV, false}};

/* Integer, or "2^N" / "-2^N" (the guide's spike sizes, S16). */
static int parse_i64(const char *v, int64_t *out)
{
    if (!v || !*v)
        return -1;
    const char *caret = strchr(v, '^');
    char *end;
    errno = 0;
    if (caret) {
        bool neg = v[0] == '-';
        if (strncmp(v + neg, "2^", 2) != 0)
            return -1;
        long e = strtol(caret + 1, &end, 10);
        if (errno || *end || caret[1] == '-' || caret[1] == '+' || e < 0 || e > 40)
            return -1;
        *out = neg ? -((int64_t)1 << e) : ((int64_t)1 << e);
        return 0;
    }
    long long x = strtoll(v, &end, 0);
    if (errno || *end || x < -(1LL << 40) || x > (1LL << 40))
        return -1;
    *out = x;
    return 0;
}

static int set_delta(void *sp, const char *what, const char *kn, const char *value, char *err, size_t errlen)
{
    if (parse_i64(value, &((sim_glitch_spec *)sp)->delta) < 0) {
        sim_text_errf(err, errlen, "%s %s: delta must be an integer or 2^N, got \"%s\"", what, kn, value);
        return -1;
    }
    return 0;
}

static void format_delta(const void *sp, char *out, size_t cap, size_t *n)
{
    sim_text_appendf(out, cap, n, " delta=%lld", (long long)((const sim_glitch_spec *)sp)->delta);
}

static int set_serial(void *sp, const char *what, const char *kn, const char *value, char *err, size_t errlen)
{
    if (strlen(value) > 30) {
        sim_text_errf(err, errlen, "%s %s: serial longer than 30 characters (ET03.0 CHAR[30])", what, kn);
        return -1;
    }
    strcpy(((sim_glitch_spec *)sp)->serial, value);
    return 0;
}

static void format_serial(const void *sp, char *out, size_t cap, size_t *n)
{
    sim_text_appendf(out, cap, n, " serial=%s", ((const sim_glitch_spec *)sp)->serial);
}

static int set_table(void *sp, const char *what, const char *kn, const char *value, char *err, size_t errlen)
{
    sim_glitch_spec *s = sp;
    if (strcmp(value, "BT23") == 0 || strcmp(value, "23") == 0)
        s->table = MEP_BT(23);
    else if (strcmp(value, "BT28") == 0 || strcmp(value, "28") == 0)
        s->table = MEP_BT(28);
    else {
        sim_text_errf(err, errlen, "%s %s: table must be BT23 or BT28, got \"%s\"", what, kn, value);
        return -1;
    }
    return 0;
}

static void format_table(const void *sp, char *out, size_t cap, size_t *n)
{
    sim_text_appendf(out, cap, n, " table=BT%u", (unsigned)((const sim_glitch_spec *)sp)->table);
}

/* "1,3", "L1,L3", "L2", "all" -> bit mask of phases. */
static int set_phases(void *sp, const char *what, const char *kn, const char *value, char *err, size_t errlen)
{
    unsigned m = 0;
    char buf[32];
    if (strcmp(value, "all") == 0) {
        m = 7u;
    } else if (strlen(value) < sizeof buf) {
        strcpy(buf, value);
        char *save = NULL;
        for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            if (t[0] == 'L')
                t++;
            if (t[0] < '1' || t[0] > '3' || t[1]) {
                m = 0;
                break;
            }
            m |= 1u << (t[0] - '1');
        }
    }
    if (!m) {
        sim_text_errf(err, errlen, "%s %s: phases must list 1..3 (\"1,3\", \"L2\", \"all\"), got \"%s\"", what, kn,
                      value);
        return -1;
    }
    ((sim_glitch_spec *)sp)->phases = m;
    return 0;
}

static void format_phases(const void *sp, char *out, size_t cap, size_t *n)
{
    unsigned ph = ((const sim_glitch_spec *)sp)->phases;
    sim_text_appendf(out, cap, n, " phases=%s%s%s", (ph & 1) ? "L1" : "", (ph & 2) ? "L2" : "", (ph & 4) ? "L3" : "");
}

static int set_watts(void *sp, const char *what, const char *kn, const char *value, char *err, size_t errlen)
{
    double d;
    if (sim_text_parse_double(value, &d) < 0) {
        sim_text_errf(err, errlen, "%s %s: watts must be a number, got \"%s\"", what, kn, value);
        return -1;
    }
    if (fabs(d) > 1e6) {
        sim_text_errf(err, errlen, "%s %s: watts out of range (|w| <= 1000000)", what, kn);
        return -1;
    }
    ((sim_glitch_spec *)sp)->watts = d;
    return 0;
}

static void format_watts(const void *sp, char *out, size_t cap, size_t *n)
{
    sim_text_appendf(out, cap, n, " watts=%g", ((const sim_glitch_spec *)sp)->watts);
}

#define FIELD(k, t, f) \
    .key = k, .type = t, .offset = offsetof(sim_glitch_spec, f), .size = sizeof(((sim_glitch_spec *)0)->f)
#define CUSTOM(k, name) .key = k, .type = SIM_SPEC_CUSTOM, .set = set_##name, .format = format_##name
static const sim_spec_param PARAMS[] = {
    {FIELD("reg", SIM_SPEC_CHOICE, regs), .choices = REGS, .n_choices = 3, .list_choices = true},
    {CUSTOM("table", table)},
    {FIELD("index", SIM_SPEC_U32, index), .hide = true, .hide_value = SIM_GLITCH_INDEX_DEFAULT},
    {CUSTOM("delta", delta)},
    {FIELD("margin", SIM_SPEC_U32, margin)},
    {FIELD("rate", SIM_SPEC_NUMBER, rate)},
    {CUSTOM("serial", serial)},
    {CUSTOM("phases", phases)},
    {CUSTOM("watts", watts)},
    {FIELD("pf", SIM_SPEC_NUMBER, pf), .lo = 0.0, .hi = 1.0},
    {FIELD("polls", SIM_SPEC_U32, polls), .hide = true},
    {FIELD("duration", SIM_SPEC_U32, duration_s), .hide = true},
};
#define N_PARAMS (sizeof PARAMS / sizeof PARAMS[0])
#undef FIELD
#undef CUSTOM

static int check_index(const void *sp, const char *kn, char *err, size_t errlen)
{
    const sim_glitch_spec *s = sp;
    if (s->index > 255 && s->index != SIM_GLITCH_INDEX_DEFAULT) {
        sim_text_errf(err, errlen, "glitch %s: index must be 0..255", kn);
        return -1;
    }
    return 0;
}

/* Register glitches (S16, S17): the BT23 total-block value v of register
 * r (0 = Fwd, 1 = Rev) as the glitch shows it; the first read captures
 * what the glitch keeps (sl->captured is set after it). */
static uint32_t reg_up(sim_glitch_slot *sl, int r, uint32_t v, int64_t now_ms)
{
    (void)r, (void)now_ms;
    return v + (uint32_t)sl->spec.delta;
}

static uint32_t reg_down(sim_glitch_slot *sl, int r, uint32_t v, int64_t now_ms)
{
    (void)r, (void)now_ms;
    return v - (uint32_t)sl->spec.delta;
}

static uint32_t reg_reset(sim_glitch_slot *sl, int r, uint32_t v, int64_t now_ms)
{
    (void)now_ms;
    if (!sl->captured)
        sl->cap_val[r] = v;
    return v - sl->cap_val[r]; /* counts again from 0 */
}

static uint32_t reg_wrap(sim_glitch_slot *sl, int r, uint32_t v, int64_t now_ms)
{
    (void)now_ms;
    if (!sl->captured)
        sl->cap_val[r] = (uint32_t)(0u - sl->spec.margin) - v; /* start `margin` below 2^32 */
    return v + sl->cap_val[r];                                  /* mod 2^32 */
}

static uint32_t reg_drift(sim_glitch_slot *sl, int r, uint32_t v, int64_t now_ms)
{
    (void)r;
    double hours = (double)(now_ms - sl->start_ms) / 3600000.0;
    return v + (uint32_t)(int64_t)floor(sl->spec.rate * hours);
}

static uint32_t reg_freeze(sim_glitch_slot *sl, int r, uint32_t v, int64_t now_ms)
{
    (void)now_ms;
    if (!sl->captured)
        sl->cap_val[r] = v;
    return sl->cap_val[r];
}

/* A glitch kind: its spec row, and for register glitches the value it
 * shows (the other kinds act in sim_glitch_on_read and
 * sim_glitch_between_segments by table). */
typedef struct {
    sim_spec_kind text;
    uint32_t (*reg)(sim_glitch_slot *sl, int r, uint32_t v, int64_t now_ms);
} glitch_kind;

#define COMMON (G_POLLS | G_DURATION)
static const glitch_kind KINDS[SIM_GLITCH_KIND_COUNT] = {
    [SIM_GLITCH_SPIKE] = {{"spike", G_REG | G_DELTA | COMMON, NULL, {{0}}}, reg_up},
    [SIM_GLITCH_STEP] = {{"step", G_REG | G_DELTA | COMMON, NULL, {{0}}}, reg_up},
    [SIM_GLITCH_DECREASE] = {{"decrease", G_REG | G_DELTA | COMMON, NULL, {{0}}}, reg_down},
    [SIM_GLITCH_RESET] = {{"reset", G_REG | G_SERIAL | G_DURATION, NULL, {{0}}}, reg_reset},
    [SIM_GLITCH_WRAP] = {{"wrap", G_REG | G_MARGIN | G_DURATION, NULL,
                          {{"margin", 1, UINT32_MAX, "margin must be at least 1 Wh", false}}},
                         reg_wrap},
    [SIM_GLITCH_DRIFT] = {{"drift", G_REG | G_RATE | G_DURATION, NULL, {{0}}}, reg_drift},
    [SIM_GLITCH_FREEZE] = {{"freeze", G_REG | COMMON, NULL, {{0}}}, reg_freeze},
    [SIM_GLITCH_CLOCK_FREEZE] = {{"clock-freeze", COMMON, NULL, {{0}}}, NULL},
    [SIM_GLITCH_TORN] = {{"torn", G_INDEX | G_DELTA | COMMON, check_index, {{0}}}, NULL},
    [SIM_GLITCH_SEGMENT] = {{"segment", G_TABLE | G_INDEX | G_DELTA | COMMON, check_index, {{0}}}, NULL},
    [SIM_GLITCH_SOLAR] = {{"solar", G_PHASES | G_WATTS | G_PF, NULL, {{0}}}, NULL},
};
#undef COMMON

static const sim_spec_family FAMILY = {"glitch", "glitch", false, KINDS, SIM_GLITCH_KIND_COUNT, sizeof KINDS[0],
                                       PARAMS, N_PARAMS, sizeof(sim_glitch_spec), spec_init};

SIM_SPEC_FAMILY_DEFINE(sim_glitch, sim_glitch_spec, sim_glitch_kind, FAMILY)

/* The defaults of kind k (documented at sim_glitch_spec). */
static void spec_init(void *sp, int k)
{
    sim_glitch_spec *s = sp;
    memset(s, 0, sizeof *s);
    s->kind = (sim_glitch_kind)k;
    s->regs = SIM_GLITCH_FWD;
    switch (k) {
    case SIM_GLITCH_SPIKE: s->delta = (int64_t)1 << 24; break; /* 16 777 kWh (S16) */
    case SIM_GLITCH_STEP: s->delta = (int64_t)1 << 20; break;
    case SIM_GLITCH_DECREASE: s->delta = 1000; break;
    case SIM_GLITCH_TORN: s->delta = 50; s->index = 26; break;  /* > 3 W: HA rule (8.4) */
    case SIM_GLITCH_SEGMENT: s->delta = 1000; s->index = SIM_GLITCH_INDEX_DEFAULT; break;
    default: break;
    }
    s->margin = 1000;
    s->rate = 100.0;
    strcpy(s->serial, "REPLACED-0001");
    s->table = MEP_BT(28);
    s->phases = 4u;
    s->watts = -2000.0;
    s->pf = 1.0;
}

/* ---- runtime ------------------------------------------------------------ */
void sim_glitch_init(sim_glitch *g)
{
    memset(g, 0, sizeof *g);
    g->next_id = 1;
}

static void expire(sim_glitch *g, int64_t now_ms)
{
    for (size_t i = 0; i < SIM_GLITCH_MAX; i++) {
        sim_glitch_slot *sl = &g->slot[i];
        if (sl->id && sl->spec.duration_s && now_ms >= sl->start_ms + (int64_t)sl->spec.duration_s * 1000) {
            memset(sl, 0, sizeof *sl);
            g->c.worn_off++;
        }
    }
}

/* One more read of the glitched table; wear off after `polls`. */
static void poll_done(sim_glitch *g, sim_glitch_slot *sl)
{
    sl->polls_seen++;
    g->c.applied[sl->spec.kind]++;
    if (sl->spec.polls && sl->polls_seen >= sl->spec.polls) {
        memset(sl, 0, sizeof *sl);
        g->c.worn_off++;
    }
}

static sim_fault_pool pool_of(sim_glitch *g)
{
    return (sim_fault_pool){g->slot, SIM_GLITCH_MAX, sizeof g->slot[0], offsetof(sim_glitch_slot, id),
                            &g->next_id, &FAMILY, "glitches", 0, 0};
}

int sim_glitch_start(sim_glitch *g, const sim_glitch_spec *s, int64_t sim_now_ms, sim_glitch_effects *fx,
                     char *err, size_t errlen)
{
    if (fx)
        memset(fx, 0, sizeof *fx);
    expire(g, sim_now_ms);
    if (s->kind == SIM_GLITCH_SOLAR) {
        if (sim_spec_spec_check(&FAMILY, (int)s->kind, s, err, errlen) < 0)
            return -1;
        /* S19 is a load change, not a byte edit: the model nets it correctly. */
        if (fx)
            for (int p = 0; p < 3; p++)
                if (s->phases & (1u << p)) {
                    fx->load[fx->n_loads].phase = p + 1;
                    fx->load[fx->n_loads].watts = s->watts;
                    fx->load[fx->n_loads].pf = s->pf;
                    fx->n_loads++;
                }
        g->c.applied[SIM_GLITCH_SOLAR]++;
        return (int)g->next_id++; /* nothing stays active */
    }
    sim_fault_pool pool = pool_of(g);
    sim_glitch_slot *sl = sim_fault_pool_start(&pool, s, err, errlen);
    if (!sl)
        return -1;
    sl->start_ms = sim_now_ms;
    if (fx && s->kind == SIM_GLITCH_CLOCK_FREEZE)
        fx->freeze_clock = true;
    return (int)sl->id;
}

int sim_glitch_stop(sim_glitch *g, const char *what)
{
    sim_fault_pool pool = pool_of(g);
    return sim_fault_pool_stop(&pool, what, NULL, NULL);
}

void sim_glitch_clear(sim_glitch *g)
{
    sim_glitch_stop(g, "all");
    g->last_valid = false;
}

static void glitch_tail(const void *slot, const void *ctx, char *buf, size_t cap)
{
    (void)ctx;
    snprintf(buf, cap, " reads=%u", (unsigned)((const sim_glitch_slot *)slot)->polls_seen);
}

size_t sim_glitch_list(const sim_glitch *g, char *out, size_t cap)
{
    sim_fault_pool pool = pool_of((sim_glitch *)g);
    return sim_fault_pool_list(&pool, "g", glitch_tail, NULL, out, cap);
}

bool sim_glitch_clock_frozen(const sim_glitch *g)
{
    for (size_t i = 0; i < SIM_GLITCH_MAX; i++)
        if (g->slot[i].id && g->slot[i].spec.kind == SIM_GLITCH_CLOCK_FREEZE)
            return true;
    return false;
}

/* Copy the bytes of field [x, x+len) that fall inside the window [off, off+n). */
static bool patch(uint8_t *out, uint32_t off, size_t n, uint64_t x, const uint8_t *src, size_t len)
{
    bool hit = false;
    for (size_t j = 0; j < len; j++) {
        uint64_t at = x + j;
        if (at >= off && at < (uint64_t)off + n) {
            out[at - off] = src[j];
            hit = true;
        }
    }
    return hit;
}

static bool overlaps(uint32_t off, size_t n, uint64_t x, size_t len)
{
    return x < (uint64_t)off + n && x + len > off;
}

void sim_glitch_on_read(sim_glitch *g, const sim_layout *lay, uint16_t table, const uint8_t *full,
                        size_t full_len, uint32_t off, uint8_t *out, size_t n, int64_t sim_now_ms)
{
    expire(g, sim_now_ms);
    g->last_valid = true;
    g->last_table = table;
    g->last_off = off;
    if (!lay || !full)
        return;

    if (table == MEP_BT(23)) {
        uint64_t x[2];
        uint32_t val[2];
        bool have[2], edited[2] = {false, false};
        for (int r = 0; r < 2; r++) {
            x[r] = (uint64_t)lay->bt23_summation0 + 4u * (unsigned)r;
            have[r] = (unsigned)r < lay->n_summations && x[r] + 4 <= full_len;
            val[r] = have[r] ? mep_get_le32(full + x[r]) : 0;
        }
        for (size_t i = 0; i < SIM_GLITCH_MAX; i++) {
            sim_glitch_slot *sl = &g->slot[i];
            if (!sl->id || !KINDS[sl->spec.kind].reg)
                continue;
            bool touched = false;
            for (int r = 0; r < 2; r++) {
                if (!have[r] || !(sl->spec.regs & (1u << r)))
                    continue;
                val[r] = KINDS[sl->spec.kind].reg(sl, r, val[r], sim_now_ms);
                edited[r] = true;
                touched |= overlaps(off, n, x[r], 4);
            }
            if (have[0] || have[1])
                sl->captured = true;
            if (touched)
                poll_done(g, sl);
        }
        for (int r = 0; r < 2; r++)
            if (edited[r]) {
                uint8_t b[4];
                mep_put_le32(b, val[r]);
                patch(out, off, n, x[r], b, 4);
            }
        return;
    }
    for (size_t i = 0; i < SIM_GLITCH_MAX; i++) {
        sim_glitch_slot *sl = &g->slot[i];
        if (!sl->id)
            continue;
        if (table == MEP_ET(3) && sl->spec.kind == SIM_GLITCH_RESET) {
            /* Meter replacement: a new utility serial (docs/mep.md 12.11, CHAR[30] NUL-padded). */
            uint8_t ser[30] = {0};
            memcpy(ser, sl->spec.serial, strlen(sl->spec.serial));
            if (patch(out, off, n, 0, ser, sizeof ser))
                g->c.applied[SIM_GLITCH_RESET]++;
        } else if (table == MEP_BT(28) && sl->spec.kind == SIM_GLITCH_TORN) {
            uint64_t xk = (uint64_t)lay->bt28_value0 + 4u * sl->spec.index;
            if (sl->spec.index >= lay->n_present_values || xk + 4 > full_len)
                continue;
            uint8_t b[4];
            mep_put_le32(b, mep_get_le32(full + xk) + (uint32_t)sl->spec.delta);
            if (patch(out, off, n, xk, b, 4))
                poll_done(g, sl);
        } else if ((table == MEP_BT(52) || table == MEP_BT(55)) && sl->spec.kind == SIM_GLITCH_CLOCK_FREEZE) {
            bool is52 = table == MEP_BT(52);
            uint8_t *keep = is52 ? sl->clock52 : sl->clock55;
            size_t klen = is52 ? sizeof sl->clock52 : sizeof sl->clock55;
            bool *has = is52 ? &sl->has52 : &sl->has55;
            if (full_len < klen)
                continue;
            if (!*has) {
                memcpy(keep, full, klen);
                *has = true;
            }
            if (patch(out, off, n, 0, keep, klen))
                poll_done(g, sl);
        }
    }
}

bool sim_glitch_between_segments(sim_glitch *g, const sim_layout *lay, uint8_t *frame, size_t len,
                                 size_t sent, int64_t sim_now_ms)
{
    expire(g, sim_now_ms);
    if (!g->last_valid || !lay || len < 5 || sent >= len || frame[2] != MEP_RSP_OK)
        return false;
    size_t data_end = 5u + mep_get_be16(frame + 3);
    if (data_end > len)
        data_end = len;
    bool any = false;
    for (size_t i = 0; i < SIM_GLITCH_MAX; i++) {
        sim_glitch_slot *sl = &g->slot[i];
        if (!sl->id || sl->spec.kind != SIM_GLITCH_SEGMENT || sl->spec.table != g->last_table)
            continue;
        /* Table offsets of the value that moved while the first segment was out. */
        uint64_t xs[16];
        size_t nx = 0;
        uint32_t idx = sl->spec.index;
        if (idx == SIM_GLITCH_INDEX_DEFAULT)
            idx = sl->spec.table == MEP_BT(28) ? 28u : 0u; /* L3 Fwd W / Fwd Wh */
        if (sl->spec.table == MEP_BT(28)) {
            if (idx < lay->n_present_values)
                xs[nx++] = (uint64_t)lay->bt28_value0 + 4u * idx;
        } else if (idx < lay->n_summations && lay->bt23_block) {
            /* the same summation in the total block and in every tier block */
            uint64_t blocks = (lay->bt23_size - lay->bt23_summation0) / lay->bt23_block;
            for (uint64_t b = 0; b < blocks && nx < 16; b++)
                xs[nx++] = lay->bt23_summation0 + b * lay->bt23_block + 4u * idx;
        }
        bool changed = false;
        for (size_t k = 0; k < nx; k++) {
            if (xs[k] < g->last_off)
                continue;
            uint64_t pos = 5u + (xs[k] - g->last_off);
            if (pos + 4 > data_end || pos + 4 <= sent)
                continue;
            uint8_t b[4];
            mep_put_le32(b, mep_get_le32(frame + pos) + (uint32_t)sl->spec.delta);
            for (size_t j = 0; j < 4; j++)
                if (pos + j >= sent) /* bytes already on the wire stay as they were */
                    frame[pos + j] = b[j];
            changed = true;
        }
        if (changed) {
            poll_done(g, sl);
            any = true;
        }
    }
    return any;
}
