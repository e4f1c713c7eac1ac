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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mep_frame.h"

enum {
    G_REG = 1u << 0, G_DELTA = 1u << 1, G_POLLS = 1u << 2, G_DURATION = 1u << 3, G_MARGIN = 1u << 4,
    G_RATE = 1u << 5, G_SERIAL = 1u << 6, G_TABLE = 1u << 7, G_INDEX = 1u << 8, G_PHASES = 1u << 9,
    G_WATTS = 1u << 10, G_PF = 1u << 11,
};

static const sim_spec_kind KINDS[SIM_GLITCH_KIND_COUNT] = {
    [SIM_GLITCH_SPIKE] = {"spike", G_REG | G_DELTA | G_POLLS | G_DURATION},
    [SIM_GLITCH_STEP] = {"step", G_REG | G_DELTA | G_POLLS | G_DURATION},
    [SIM_GLITCH_DECREASE] = {"decrease", G_REG | G_DELTA | G_POLLS | G_DURATION},
    [SIM_GLITCH_RESET] = {"reset", G_REG | G_SERIAL | G_DURATION},
    [SIM_GLITCH_WRAP] = {"wrap", G_REG | G_MARGIN | G_DURATION},
    [SIM_GLITCH_DRIFT] = {"drift", G_REG | G_RATE | G_DURATION},
    [SIM_GLITCH_FREEZE] = {"freeze", G_REG | G_POLLS | G_DURATION},
    [SIM_GLITCH_CLOCK_FREEZE] = {"clock-freeze", G_POLLS | G_DURATION},
    [SIM_GLITCH_TORN] = {"torn", G_INDEX | G_DELTA | G_POLLS | G_DURATION},
    [SIM_GLITCH_SEGMENT] = {"segment", G_TABLE | G_INDEX | G_DELTA | G_POLLS | G_DURATION},
    [SIM_GLITCH_SOLAR] = {"solar", G_PHASES | G_WATTS | G_PF},
};

static const sim_spec_param PARAMS[] = {
    {"reg", G_REG}, {"delta", G_DELTA}, {"polls", G_POLLS}, {"duration", G_DURATION},
    {"margin", G_MARGIN}, {"rate", G_RATE}, {"serial", G_SERIAL}, {"table", G_TABLE},
    {"index", G_INDEX}, {"phases", G_PHASES}, {"watts", G_WATTS}, {"pf", G_PF},
};

static const sim_spec_catalog CATALOG = {KINDS, SIM_GLITCH_KIND_COUNT, PARAMS, sizeof PARAMS / sizeof PARAMS[0]};

const char *sim_glitch_kind_name(sim_glitch_kind k) { return sim_spec_kind_name(&CATALOG, (int)k); }

int sim_glitch_kind_from_name(const char *name) { return sim_spec_kind_index(&CATALOG, name); }

static unsigned param_bit(const char *key) { return sim_spec_param_bit(&CATALOG, key); }

bool sim_glitch_param_known(sim_glitch_kind k, const char *key)
{
    return sim_spec_param_known(&CATALOG, (int)k, key);
}

void sim_glitch_spec_init(sim_glitch_spec *s, sim_glitch_kind k)
{
    memset(s, 0, sizeof *s);
    s->kind = k;
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

int sim_glitch_spec_set(sim_glitch_spec *s, const char *key, const char *value, char *err, size_t errlen)
{
    unsigned bit = key ? param_bit(key) : 0;
    const char *kn = sim_glitch_kind_name(s->kind);
    if (!bit) {
        sim_errf(err, errlen, "unknown parameter \"%s\" for glitch %s", key ? key : "", kn);
        return -1;
    }
    if (!(KINDS[s->kind].params & bit)) {
        sim_errf(err, errlen, "glitch %s takes no parameter \"%s\"", kn, key);
        return -1;
    }
    if (!value)
        value = "";
    uint32_t u;
    double d;
    switch (bit) {
    case G_REG:
        if (strcmp(value, "fwd") == 0)
            s->regs = SIM_GLITCH_FWD;
        else if (strcmp(value, "rev") == 0)
            s->regs = SIM_GLITCH_REV;
        else if (strcmp(value, "both") == 0)
            s->regs = SIM_GLITCH_FWD | SIM_GLITCH_REV;
        else {
            sim_errf(err, errlen, "glitch %s: bad value \"%s\" for reg (fwd|rev|both)", kn, value);
            return -1;
        }
        return 0;
    case G_DELTA:
        if (parse_i64(value, &s->delta) < 0) {
            sim_errf(err, errlen, "glitch %s: delta must be an integer or 2^N, got \"%s\"", kn, value);
            return -1;
        }
        return 0;
    case G_SERIAL:
        if (strlen(value) > 30) {
            sim_errf(err, errlen, "glitch %s: serial longer than 30 characters (ET03.0 CHAR[30])", kn);
            return -1;
        }
        strcpy(s->serial, value);
        return 0;
    case G_TABLE:
        if (strcmp(value, "BT23") == 0 || strcmp(value, "23") == 0)
            s->table = MEP_BT(23);
        else if (strcmp(value, "BT28") == 0 || strcmp(value, "28") == 0)
            s->table = MEP_BT(28);
        else {
            sim_errf(err, errlen, "glitch %s: table must be BT23 or BT28, got \"%s\"", kn, value);
            return -1;
        }
        return 0;
    case G_PHASES: {
        unsigned m = 0;
        char buf[32];
        if (strlen(value) >= sizeof buf)
            goto bad_phases;
        strcpy(buf, value);
        if (strcmp(buf, "all") == 0) {
            s->phases = 7u;
            return 0;
        }
        char *save = NULL;
        for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            if (t[0] == 'L')
                t++;
            if (t[0] < '1' || t[0] > '3' || t[1])
                goto bad_phases;
            m |= 1u << (t[0] - '1');
        }
        if (!m)
            goto bad_phases;
        s->phases = m;
        return 0;
    bad_phases:
        sim_errf(err, errlen, "glitch %s: phases must list 1..3 (\"1,3\", \"L2\", \"all\"), got \"%s\"", kn, value);
        return -1;
    }
    case G_WATTS:
    case G_PF:
    case G_RATE:
        if (sim_parse_double(value, &d) < 0) {
            sim_errf(err, errlen, "glitch %s: %s must be a number, got \"%s\"", kn, key, value);
            return -1;
        }
        if (bit == G_PF && (d < 0.0 || d > 1.0)) {
            sim_errf(err, errlen, "glitch %s: pf must be 0..1, got %g", kn, d);
            return -1;
        }
        if (bit == G_WATTS && fabs(d) > 1e6) {
            sim_errf(err, errlen, "glitch %s: watts out of range (|w| <= 1000000)", kn);
            return -1;
        }
        if (bit == G_WATTS)
            s->watts = d;
        else if (bit == G_PF)
            s->pf = d;
        else
            s->rate = d;
        return 0;
    default:
        break;
    }
    if (sim_parse_u32(value, &u) < 0) {
        sim_errf(err, errlen, "glitch %s: %s must be a whole number 0..4294967295, got \"%s\"", kn, key, value);
        return -1;
    }
    switch (bit) {
    case G_POLLS: s->polls = u; break;
    case G_DURATION: s->duration_s = u; break;
    case G_MARGIN: s->margin = u; break;
    case G_INDEX: s->index = u; break;
    default: break;
    }
    return 0;
}

int sim_glitch_spec_check(const sim_glitch_spec *s, char *err, size_t errlen)
{
    if ((unsigned)s->kind >= SIM_GLITCH_KIND_COUNT) {
        sim_errf(err, errlen, "unknown glitch kind %d", (int)s->kind);
        return -1;
    }
    if (s->kind == SIM_GLITCH_WRAP && s->margin == 0) {
        sim_errf(err, errlen, "glitch wrap: margin must be at least 1 Wh");
        return -1;
    }
    if ((s->kind == SIM_GLITCH_TORN || s->kind == SIM_GLITCH_SEGMENT) && s->index > 255 &&
        s->index != SIM_GLITCH_INDEX_DEFAULT) {
        sim_errf(err, errlen, "glitch %s: index must be 0..255", sim_glitch_kind_name(s->kind));
        return -1;
    }
    return 0;
}

int sim_glitch_spec_parse(sim_glitch_spec *s, const char *text, char *err, size_t errlen)
{
    sim_spec_tokens t;
    if (sim_spec_tokenize(&t, "glitch", text, err, errlen) < 0)
        return -1;
    int k = t.name ? sim_glitch_kind_from_name(t.name) : -1;
    if (k < 0) {
        sim_errf(err, errlen, "unknown glitch \"%s\"", t.name ? t.name : "");
        return -1;
    }
    sim_glitch_spec tmp;
    sim_glitch_spec_init(&tmp, (sim_glitch_kind)k);
    for (size_t i = 0; i < t.n; i++)
        if (sim_glitch_spec_set(&tmp, t.key[i], t.value[i], err, errlen) < 0)
            return -1;
    if (sim_glitch_spec_check(&tmp, err, errlen) < 0)
        return -1;
    *s = tmp;
    return 0;
}

size_t sim_glitch_spec_format(const sim_glitch_spec *s, char *out, size_t cap)
{
    if (!cap)
        return 0;
    unsigned ps = (unsigned)s->kind < SIM_GLITCH_KIND_COUNT ? KINDS[s->kind].params : 0;
    size_t n = 0;
    out[0] = '\0';
    sim_appendf(out, cap, &n, "%s", sim_glitch_kind_name(s->kind));
    if (ps & G_REG)
        sim_appendf(out, cap, &n, " reg=%s",
                s->regs == SIM_GLITCH_FWD ? "fwd" : s->regs == SIM_GLITCH_REV ? "rev" : "both");
    if (ps & G_TABLE)
        sim_appendf(out, cap, &n, " table=BT%u", (unsigned)s->table);
    if ((ps & G_INDEX) && s->index != SIM_GLITCH_INDEX_DEFAULT)
        sim_appendf(out, cap, &n, " index=%u", (unsigned)s->index);
    if (ps & G_DELTA)
        sim_appendf(out, cap, &n, " delta=%lld", (long long)s->delta);
    if (ps & G_MARGIN)
        sim_appendf(out, cap, &n, " margin=%u", (unsigned)s->margin);
    if (ps & G_RATE)
        sim_appendf(out, cap, &n, " rate=%g", s->rate);
    if (ps & G_SERIAL)
        sim_appendf(out, cap, &n, " serial=%s", s->serial);
    if (ps & G_PHASES)
        sim_appendf(out, cap, &n, " phases=%s%s%s", (s->phases & 1) ? "L1" : "", (s->phases & 2) ? "L2" : "",
                (s->phases & 4) ? "L3" : "");
    if (ps & G_WATTS)
        sim_appendf(out, cap, &n, " watts=%g pf=%g", s->watts, s->pf);
    if (s->polls)
        sim_appendf(out, cap, &n, " polls=%u", (unsigned)s->polls);
    if (s->duration_s)
        sim_appendf(out, cap, &n, " duration=%u", (unsigned)s->duration_s);
    return n;
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

int sim_glitch_start(sim_glitch *g, const sim_glitch_spec *s, int64_t sim_now_ms, sim_glitch_effects *fx,
                     char *err, size_t errlen)
{
    if (fx)
        memset(fx, 0, sizeof *fx);
    if (sim_glitch_spec_check(s, err, errlen) < 0)
        return -1;
    expire(g, sim_now_ms);
    if (s->kind == SIM_GLITCH_SOLAR) {
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
    for (size_t i = 0; i < SIM_GLITCH_MAX; i++) {
        sim_glitch_slot *sl = &g->slot[i];
        if (sl->id)
            continue;
        memset(sl, 0, sizeof *sl);
        sl->spec = *s;
        sl->id = g->next_id++;
        if (g->next_id == 0)
            g->next_id = 1;
        sl->start_ms = sim_now_ms;
        if (fx && s->kind == SIM_GLITCH_CLOCK_FREEZE)
            fx->freeze_clock = true;
        return (int)sl->id;
    }
    sim_errf(err, errlen, "too many glitches active (%d)", SIM_GLITCH_MAX);
    return -1;
}

int sim_glitch_stop(sim_glitch *g, const char *what)
{
    if (!what)
        return 0;
    bool all = strcmp(what, "all") == 0;
    uint32_t id = 0;
    bool by_id = sim_parse_u32(what, &id) == 0;
    int k = sim_glitch_kind_from_name(what);
    int n = 0;
    for (size_t i = 0; i < SIM_GLITCH_MAX; i++) {
        sim_glitch_slot *sl = &g->slot[i];
        if (sl->id && (all || (by_id && sl->id == id) || (k >= 0 && (int)sl->spec.kind == k))) {
            memset(sl, 0, sizeof *sl);
            n++;
        }
    }
    return n;
}

void sim_glitch_clear(sim_glitch *g)
{
    sim_glitch_stop(g, "all");
    g->last_valid = false;
}

size_t sim_glitch_list(const sim_glitch *g, char *out, size_t cap)
{
    size_t n = 0;
    if (!cap)
        return 0;
    out[0] = '\0';
    for (size_t i = 0; i < SIM_GLITCH_MAX; i++) {
        const sim_glitch_slot *sl = &g->slot[i];
        if (!sl->id)
            continue;
        char spec[256];
        sim_glitch_spec_format(&sl->spec, spec, sizeof spec);
        sim_appendf(out, cap, &n, "g%u %s reads=%u\n", (unsigned)sl->id, spec, (unsigned)sl->polls_seen);
    }
    return n;
}

bool sim_glitch_clock_frozen(const sim_glitch *g)
{
    for (size_t i = 0; i < SIM_GLITCH_MAX; i++)
        if (g->slot[i].id && g->slot[i].spec.kind == SIM_GLITCH_CLOCK_FREEZE)
            return true;
    return false;
}

static bool is_register_kind(sim_glitch_kind k)
{
    return k <= SIM_GLITCH_FREEZE;
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

static uint32_t transform(sim_glitch_slot *sl, int r, uint32_t v, int64_t now_ms)
{
    const sim_glitch_spec *s = &sl->spec;
    switch (s->kind) {
    case SIM_GLITCH_SPIKE:
    case SIM_GLITCH_STEP:
        return v + (uint32_t)s->delta;
    case SIM_GLITCH_DECREASE:
        return v - (uint32_t)s->delta;
    case SIM_GLITCH_RESET:
        return v - sl->cap_val[r];          /* counts again from 0 */
    case SIM_GLITCH_WRAP:
        return v + sl->cap_val[r];          /* mod 2^32 */
    case SIM_GLITCH_DRIFT: {
        double hours = (double)(now_ms - sl->start_ms) / 3600000.0;
        return v + (uint32_t)(int64_t)floor(s->rate * hours);
    }
    case SIM_GLITCH_FREEZE:
        return sl->cap_val[r];
    default:
        return v;
    }
}

static void capture(sim_glitch_slot *sl, int r, uint32_t v)
{
    switch (sl->spec.kind) {
    case SIM_GLITCH_RESET:
    case SIM_GLITCH_FREEZE:
        sl->cap_val[r] = v;
        break;
    case SIM_GLITCH_WRAP:
        sl->cap_val[r] = (uint32_t)(0u - sl->spec.margin) - v; /* start `margin` below 2^32 */
        break;
    default:
        break;
    }
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
            if (!sl->id || !is_register_kind(sl->spec.kind))
                continue;
            bool touched = false;
            for (int r = 0; r < 2; r++) {
                if (!have[r] || !(sl->spec.regs & (1u << r)))
                    continue;
                if (!sl->captured)
                    capture(sl, r, val[r]);
                val[r] = transform(sl, r, val[r], sim_now_ms);
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
