/* sim_fault: line faults and transceiver models (see sim_fault.h).
 *
 * Each active fault is a slot with its spec, start time and injection count.
 * Every entry point first wears off the slots whose duration has passed and
 * arms latch-ups that are due, so the result depends only on the calls made
 * and the seed, never on when the process happened to wake up.
 */
#include "sim_fault.h"
#include "sim_text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- rng ------------------------------------------------------------------ */
uint64_t sim_fault_rng_next(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

double sim_fault_rng_unit(uint64_t *s)
{
    return (double)(sim_fault_rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static bool chance(sim_fault *f, double p)
{
    if (p >= 1.0)
        return true;
    if (p <= 0.0)
        return false;
    return sim_fault_rng_unit(&f->rng) < p;
}

/* ---- names and parameters ---------------------------------------------- */
enum {
    P_DIR = 1u << 0, P_P = 1u << 1, P_RATE = 1u << 2, P_COUNT = 1u << 3, P_DURATION = 1u << 4,
    P_DELAY = 1u << 5, P_LEN = 1u << 6, P_PERIOD = 1u << 7, P_LEVEL = 1u << 8, P_AT = 1u << 9,
    P_AFTER = 1u << 10, P_OFF = 1u << 11, P_RECOVER = 1u << 12, P_MODE = 1u << 13, P_BY = 1u << 14,
};

static const sim_spec_kind KINDS[SIM_FAULT_KIND_COUNT] = {
    [SIM_FAULT_DROP] = {"drop", P_DIR | P_P | P_COUNT | P_DURATION},
    [SIM_FAULT_FLIP] = {"flip", P_DIR | P_RATE | P_COUNT | P_DURATION},
    [SIM_FAULT_JUNK] = {"junk", P_DIR | P_P | P_LEN | P_COUNT | P_DURATION},
    [SIM_FAULT_TRUNCATE] = {"truncate", P_DIR | P_P | P_LEN | P_COUNT | P_DURATION},
    [SIM_FAULT_DELAY] = {"delay", P_DIR | P_P | P_DELAY | P_COUNT | P_DURATION},
    [SIM_FAULT_DUPLICATE] = {"duplicate", P_DIR | P_P | P_DELAY | P_COUNT | P_DURATION},
    [SIM_FAULT_PREVIOUS] = {"previous", P_DIR | P_P | P_COUNT | P_DURATION},
    [SIM_FAULT_TRAILING] = {"trailing", P_DIR | P_P | P_LEN | P_COUNT | P_DURATION},
    [SIM_FAULT_SILENCE] = {"silence", P_DIR | P_COUNT | P_DURATION},
    [SIM_FAULT_STUCK] = {"stuck", P_DIR | P_LEVEL | P_LEN | P_PERIOD | P_COUNT | P_DURATION},
    [SIM_FAULT_DEAD] = {"dead", P_DURATION},
    [SIM_FAULT_GARBLE] = {"garble", P_DIR | P_RATE | P_COUNT | P_DURATION},
    [SIM_FAULT_LATCHUP] = {"latchup", P_AT | P_AFTER | P_OFF | P_RECOVER | P_MODE | P_BY | P_DURATION},
};

static const sim_spec_param PARAMS[] = {
    {"dir", P_DIR}, {"p", P_P}, {"rate", P_RATE}, {"count", P_COUNT}, {"duration", P_DURATION},
    {"delay", P_DELAY}, {"len", P_LEN}, {"period", P_PERIOD}, {"level", P_LEVEL}, {"at", P_AT},
    {"after_frames", P_AFTER}, {"off", P_OFF}, {"recover_p", P_RECOVER}, {"mode", P_MODE},
    {"by", P_BY},
};

static const sim_spec_catalog CATALOG = {KINDS, SIM_FAULT_KIND_COUNT, PARAMS, sizeof PARAMS / sizeof PARAMS[0]};

const char *sim_fault_kind_name(sim_fault_kind k) { return sim_spec_kind_name(&CATALOG, (int)k); }

int sim_fault_kind_from_name(const char *name) { return sim_spec_kind_index(&CATALOG, name); }

static unsigned param_bit(const char *key) { return sim_spec_param_bit(&CATALOG, key); }

bool sim_fault_param_known(sim_fault_kind k, const char *key)
{
    return sim_spec_param_known(&CATALOG, (int)k, key);
}

static bool is_frame_kind(sim_fault_kind k)
{
    return k == SIM_FAULT_TRUNCATE || k == SIM_FAULT_DELAY || k == SIM_FAULT_DUPLICATE ||
           k == SIM_FAULT_PREVIOUS || k == SIM_FAULT_TRAILING;
}

void sim_fault_spec_init(sim_fault_spec *s, sim_fault_kind k)
{
    memset(s, 0, sizeof *s);
    s->kind = k;
    s->dir = SIM_DIR_BOTH;
    if (is_frame_kind(k) || k == SIM_FAULT_STUCK || k == SIM_FAULT_GARBLE)
        s->dir = SIM_DIR_TO_MODULE;
    s->p = k == SIM_FAULT_JUNK ? 0.01 : 1.0;
    if (k == SIM_FAULT_DROP)
        s->p = 0.01;
    s->rate = 0.001;
    s->delay_ms = k == SIM_FAULT_DELAY ? 1000 : 0;
    s->len = k == SIM_FAULT_JUNK ? 1 : k == SIM_FAULT_TRUNCATE ? 5 : k == SIM_FAULT_STUCK ? 16 : 8;
    s->period_ms = 20;
    s->level = 0x00;
    s->off_ms = 1000;
    s->recover_p = 1.0;
    s->garbage = true;
    s->by = SIM_LATCH_BY_POWER | SIM_LATCH_BY_ENABLE;
}

int sim_fault_spec_set(sim_fault_spec *s, const char *key, const char *value, char *err, size_t errlen)
{
    unsigned bit = key ? param_bit(key) : 0;
    const char *kn = sim_fault_kind_name(s->kind);
    if (!bit) {
        sim_errf(err, errlen, "unknown parameter \"%s\" for fault %s", key ? key : "", kn);
        return -1;
    }
    if (!(KINDS[s->kind].params & bit)) {
        sim_errf(err, errlen, "fault %s takes no parameter \"%s\"", kn, key);
        return -1;
    }
    if (!value)
        value = "";
    uint32_t u;
    double d;
    switch (bit) {
    case P_DIR:
        if (strcmp(value, "to-meter") == 0)
            s->dir = SIM_DIR_TO_METER;
        else if (strcmp(value, "to-module") == 0)
            s->dir = SIM_DIR_TO_MODULE;
        else if (strcmp(value, "both") == 0)
            s->dir = SIM_DIR_BOTH;
        else
            goto bad_enum;
        return 0;
    case P_P:
    case P_RATE:
    case P_RECOVER:
        if (sim_parse_unit(value, &d) < 0) {
            sim_errf(err, errlen, "fault %s: %s must be a probability 0..1, got \"%s\"", kn, key, value);
            return -1;
        }
        if (bit == P_P)
            s->p = d;
        else if (bit == P_RATE)
            s->rate = d;
        else
            s->recover_p = d;
        return 0;
    case P_LEVEL:
        if (strcmp(value, "0x00") == 0 || strcmp(value, "zero") == 0 || strcmp(value, "0") == 0)
            s->level = 0x00;
        else if (strcasecmp(value, "0xff") == 0 || strcmp(value, "one") == 0 || strcmp(value, "255") == 0)
            s->level = 0xFF;
        else if (strcmp(value, "break") == 0)
            s->level = SIM_STUCK_BREAK;
        else
            goto bad_enum;
        return 0;
    case P_MODE:
        if (strcmp(value, "garbage") == 0)
            s->garbage = true;
        else if (strcmp(value, "silence") == 0)
            s->garbage = false;
        else
            goto bad_enum;
        return 0;
    case P_BY:
        if (strcmp(value, "power") == 0 || strcmp(value, "transceiver") == 0)
            s->by = SIM_LATCH_BY_POWER;
        else if (strcmp(value, "enable") == 0)
            s->by = SIM_LATCH_BY_ENABLE;
        else if (strcmp(value, "either") == 0)
            s->by = SIM_LATCH_BY_POWER | SIM_LATCH_BY_ENABLE;
        else
            goto bad_enum;
        return 0;
    default:
        break;
    }
    if (sim_parse_u32(value, &u) < 0) {
        sim_errf(err, errlen, "fault %s: %s must be a whole number 0..4294967295, got \"%s\"", kn, key, value);
        return -1;
    }
    switch (bit) {
    case P_COUNT: s->count = u; break;
    case P_DURATION: s->duration_ms = u; break;
    case P_DELAY: s->delay_ms = u; break;
    case P_LEN: s->len = u; break;
    case P_PERIOD: s->period_ms = u; break;
    case P_AT: s->at_ms = u; break;
    case P_AFTER: s->after_frames = u; break;
    case P_OFF: s->off_ms = u; break;
    default: break;
    }
    return 0;
bad_enum:
    sim_errf(err, errlen, "fault %s: bad value \"%s\" for %s", kn, value, key);
    return -1;
}

int sim_fault_spec_check(const sim_fault_spec *s, char *err, size_t errlen)
{
    const char *kn = sim_fault_kind_name(s->kind);
    if ((unsigned)s->kind >= SIM_FAULT_KIND_COUNT) {
        sim_errf(err, errlen, "unknown fault kind %d", (int)s->kind);
        return -1;
    }
    if (is_frame_kind(s->kind) && s->dir != SIM_DIR_TO_MODULE) {
        sim_errf(err, errlen, "fault %s acts on response frames: dir must be to-module", kn);
        return -1;
    }
    if ((s->kind == SIM_FAULT_JUNK || s->kind == SIM_FAULT_TRAILING) && (s->len == 0 || s->len > 64)) {
        sim_errf(err, errlen, "fault %s: len must be 1..64, got %u", kn, (unsigned)s->len);
        return -1;
    }
    if (s->kind == SIM_FAULT_STUCK && (s->len == 0 || s->len > 256 || s->period_ms == 0)) {
        sim_errf(err, errlen, "fault stuck: len must be 1..256 and period >= 1 ms");
        return -1;
    }
    if (s->kind == SIM_FAULT_TRUNCATE && s->len > MEP_MAX_FRAME) {
        sim_errf(err, errlen, "fault truncate: len must be 0..%u", (unsigned)MEP_MAX_FRAME);
        return -1;
    }
    if ((s->kind == SIM_FAULT_DELAY || s->kind == SIM_FAULT_DUPLICATE) && s->delay_ms > 600000) {
        sim_errf(err, errlen, "fault %s: delay must be at most 600000 ms", kn);
        return -1;
    }
    if (s->kind == SIM_FAULT_LATCHUP && s->off_ms == 0) {
        sim_errf(err, errlen, "fault latchup: off must be at least 1 ms");
        return -1;
    }
    return 0;
}

int sim_fault_spec_parse(sim_fault_spec *s, const char *text, char *err, size_t errlen)
{
    sim_spec_tokens t;
    if (sim_spec_tokenize(&t, "fault", text, err, errlen) < 0)
        return -1;
    if (!t.name) {
        sim_errf(err, errlen, "fault name missing");
        return -1;
    }
    int k = sim_fault_kind_from_name(t.name);
    if (k < 0) {
        sim_errf(err, errlen, "unknown fault \"%s\"", t.name);
        return -1;
    }
    sim_fault_spec tmp;
    sim_fault_spec_init(&tmp, (sim_fault_kind)k);
    for (size_t i = 0; i < t.n; i++)
        if (sim_fault_spec_set(&tmp, t.key[i], t.value[i], err, errlen) < 0)
            return -1;
    if (sim_fault_spec_check(&tmp, err, errlen) < 0)
        return -1;
    *s = tmp;
    return 0;
}

static const char *dir_name(unsigned d)
{
    return d == SIM_DIR_TO_METER ? "to-meter" : d == SIM_DIR_TO_MODULE ? "to-module" : "both";
}

size_t sim_fault_spec_format(const sim_fault_spec *s, char *out, size_t cap)
{
    if (!cap)
        return 0;
    unsigned ps = (unsigned)s->kind < SIM_FAULT_KIND_COUNT ? KINDS[s->kind].params : 0;
    size_t n = 0;
    out[0] = '\0';
    sim_appendf(out, cap, &n, "%s", sim_fault_kind_name(s->kind));
    if (ps & P_DIR)
        sim_appendf(out, cap, &n, " dir=%s", dir_name(s->dir));
    if (ps & P_P)
        sim_appendf(out, cap, &n, " p=%g", s->p);
    if (ps & P_RATE)
        sim_appendf(out, cap, &n, " rate=%g", s->rate);
    if (ps & P_DELAY)
        sim_appendf(out, cap, &n, " delay=%u", (unsigned)s->delay_ms);
    if (ps & P_LEN)
        sim_appendf(out, cap, &n, " len=%u", (unsigned)s->len);
    if (ps & P_LEVEL)
        sim_appendf(out, cap, &n, " level=%s", s->level == SIM_STUCK_BREAK ? "break" : s->level ? "0xff" : "0x00");
    if (ps & P_PERIOD)
        sim_appendf(out, cap, &n, " period=%u", (unsigned)s->period_ms);
    if (ps & P_AT)
        sim_appendf(out, cap, &n, " at=%u", (unsigned)s->at_ms);
    if (ps & P_AFTER)
        sim_appendf(out, cap, &n, " after_frames=%u", (unsigned)s->after_frames);
    if (ps & P_OFF)
        sim_appendf(out, cap, &n, " off=%u", (unsigned)s->off_ms);
    if (ps & P_RECOVER)
        sim_appendf(out, cap, &n, " recover_p=%g", s->recover_p);
    if (ps & P_MODE)
        sim_appendf(out, cap, &n, " mode=%s", s->garbage ? "garbage" : "silence");
    if (ps & P_BY)
        sim_appendf(out, cap, &n, " by=%s", s->by == SIM_LATCH_BY_POWER ? "power" : s->by == SIM_LATCH_BY_ENABLE ? "enable" : "either");
    if (s->count)
        sim_appendf(out, cap, &n, " count=%u", (unsigned)s->count);
    if (s->duration_ms)
        sim_appendf(out, cap, &n, " duration=%u", (unsigned)s->duration_ms);
    return n;
}

/* ---- runtime ------------------------------------------------------------ */
void sim_fault_init(sim_fault *f, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    f->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    f->next_id = 1;
    f->power_on = true;   /* as sim_meter_line_state: on until reported otherwise */
    f->enable_on = true;
    f->cycle_threshold_ms = 1000;
}

static void free_slot(sim_fault *f, sim_fault_slot *sl)
{
    if (sl->spec.kind == SIM_FAULT_LATCHUP)
        f->latched = false; /* stopping the model ends the latch-up */
    memset(sl, 0, sizeof *sl);
}

/* Wear off by duration; arm time-triggered latch-ups. */
static void update(sim_fault *f, uint64_t now_us)
{
    for (size_t i = 0; i < SIM_FAULT_MAX; i++) {
        sim_fault_slot *sl = &f->slot[i];
        if (!sl->id)
            continue;
        if (sl->spec.duration_ms && now_us >= sl->start_us + (uint64_t)sl->spec.duration_ms * 1000u) {
            f->c.worn_off++;
            free_slot(f, sl);
            continue;
        }
        if (sl->spec.kind == SIM_FAULT_LATCHUP && sl->injected == 0) {
            bool due = sl->spec.after_frames
                           ? f->frames_tx - sl->frames0 >= sl->spec.after_frames
                           : now_us >= sl->start_us + (uint64_t)sl->spec.at_ms * 1000u;
            if (due) {
                sl->injected = 1;
                f->latched = true;
                f->c.latchups++;
                f->c.injected[SIM_FAULT_LATCHUP]++;
            }
        }
    }
}

/* Book one occurrence; wear off at the count limit. Returns true if the
 * slot is still active. */
static bool book(sim_fault *f, sim_fault_slot *sl, uint64_t n)
{
    sl->injected += n;
    f->c.injected[sl->spec.kind] += n;
    if (sl->spec.count && sl->injected >= sl->spec.count) {
        f->c.worn_off++;
        free_slot(f, sl);
        return false;
    }
    return true;
}

static sim_fault_slot *find(sim_fault *f, sim_fault_kind k, unsigned dir)
{
    for (size_t i = 0; i < SIM_FAULT_MAX; i++)
        if (f->slot[i].id && f->slot[i].spec.kind == k && (f->slot[i].spec.dir & dir))
            return &f->slot[i];
    return NULL;
}

static const sim_fault_slot *cfind(const sim_fault *f, sim_fault_kind k, unsigned dir)
{
    return find((sim_fault *)f, k, dir);
}

int sim_fault_start(sim_fault *f, const sim_fault_spec *s, uint64_t now_us, char *err, size_t errlen)
{
    if (sim_fault_spec_check(s, err, errlen) < 0)
        return -1;
    update(f, now_us);
    for (size_t i = 0; i < SIM_FAULT_MAX; i++) {
        sim_fault_slot *sl = &f->slot[i];
        if (sl->id)
            continue;
        memset(sl, 0, sizeof *sl);
        sl->spec = *s;
        sl->id = f->next_id++;
        if (f->next_id == 0)
            f->next_id = 1;
        sl->start_us = now_us;
        sl->next_burst_us = now_us;
        sl->next_burst_rx_us = now_us;
        sl->frames0 = f->frames_tx;
        if (s->kind == SIM_FAULT_LATCHUP)
            f->cycle_threshold_ms = s->off_ms;
        update(f, now_us); /* a latch-up at 0 ms latches now */
        return (int)sl->id;
    }
    sim_errf(err, errlen, "too many faults active (%d)", SIM_FAULT_MAX);
    return -1;
}

int sim_fault_stop(sim_fault *f, const char *what)
{
    if (!what)
        return 0;
    bool all = strcmp(what, "all") == 0;
    uint32_t id = 0;
    bool by_id = sim_parse_u32(what, &id) == 0;
    int k = sim_fault_kind_from_name(what);
    int n = 0;
    for (size_t i = 0; i < SIM_FAULT_MAX; i++) {
        sim_fault_slot *sl = &f->slot[i];
        if (!sl->id)
            continue;
        if (all || (by_id && sl->id == id) || (k >= 0 && (int)sl->spec.kind == k)) {
            free_slot(f, sl);
            n++;
        }
    }
    return n;
}

void sim_fault_clear(sim_fault *f)
{
    sim_fault_stop(f, "all");
    f->n_held = 0;
    f->latched = false;
}

size_t sim_fault_active(sim_fault *f, uint64_t now_us)
{
    update(f, now_us);
    size_t n = 0;
    for (size_t i = 0; i < SIM_FAULT_MAX; i++)
        n += f->slot[i].id != 0;
    return n;
}

size_t sim_fault_list(const sim_fault *f, uint64_t now_us, char *out, size_t cap)
{
    size_t n = 0;
    if (!cap)
        return 0;
    out[0] = '\0';
    for (size_t i = 0; i < SIM_FAULT_MAX && n + 1 < cap; i++) {
        const sim_fault_slot *sl = &f->slot[i];
        if (!sl->id)
            continue;
        char spec[256];
        sim_fault_spec_format(&sl->spec, spec, sizeof spec);
        int w = snprintf(out + n, cap - n, "%u %s injected=%llu age_ms=%llu\n", (unsigned)sl->id, spec,
                         (unsigned long long)sl->injected,
                         (unsigned long long)(now_us > sl->start_us ? (now_us - sl->start_us) / 1000u : 0));
        if (w > 0)
            n += (size_t)w < cap - n ? (size_t)w : cap - n - 1;
    }
    if (n + 1 < cap) {
        int w = snprintf(out + n, cap - n,
                         "transceiver power=%s enable=%s latched=%s cycles_long=%llu cycles_short=%llu "
                         "latchups=%llu cleared=%llu held=%zu\n",
                         f->power_on ? "on" : "off", f->enable_on ? "on" : "off", f->latched ? "yes" : "no",
                         (unsigned long long)(f->c.power_cycles_long + f->c.enable_cycles_long),
                         (unsigned long long)(f->c.power_cycles_short + f->c.enable_cycles_short),
                         (unsigned long long)f->c.latchups, (unsigned long long)f->c.latchups_cleared,
                         f->n_held);
        if (w > 0)
            n += (size_t)w < cap - n ? (size_t)w : cap - n - 1;
    }
    return n;
}

/* Byte-level faults of one direction, in slot order. */
static size_t apply_bytes(sim_fault *f, unsigned dir, uint8_t *buf, size_t n, size_t cap)
{
    uint8_t tmp[4096];
    if (cap > sizeof tmp)
        cap = sizeof tmp;
    if (n > cap)
        n = cap;
    for (size_t i = 0; i < SIM_FAULT_MAX; i++) {
        sim_fault_slot *sl = &f->slot[i];
        if (!sl->id || !(sl->spec.dir & dir))
            continue;
        switch (sl->spec.kind) {
        case SIM_FAULT_FLIP:
        case SIM_FAULT_GARBLE: {
            /* MAX3232 bit errors: each bit independently with probability rate. */
            for (size_t j = 0; j < n && sl->id; j++)
                for (int b = 0; b < 8 && sl->id; b++)
                    if (chance(f, sl->spec.rate)) {
                        buf[j] ^= (uint8_t)(1u << b);
                        book(f, sl, 1);
                    }
            break;
        }
        case SIM_FAULT_DROP: {
            size_t w = 0;
            for (size_t j = 0; j < n; j++) {
                if (sl->id && chance(f, sl->spec.p)) {
                    book(f, sl, 1);
                    continue;
                }
                buf[w++] = buf[j];
            }
            n = w;
            break;
        }
        case SIM_FAULT_JUNK: {
            size_t w = 0;
            for (size_t j = 0; j < n; j++) {
                if (sl->id && chance(f, sl->spec.p) && w + sl->spec.len + (n - j) <= cap) {
                    for (uint32_t k = 0; k < sl->spec.len; k++)
                        tmp[w++] = (uint8_t)sim_fault_rng_next(&f->rng);
                    book(f, sl, 1);
                }
                tmp[w++] = buf[j];
            }
            memcpy(buf, tmp, w);
            n = w;
            break;
        }
        default:
            break;
        }
    }
    return n;
}

static void garbage_fill(sim_fault *f, uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)sim_fault_rng_next(&f->rng);
}

/* Dead transceiver, latch-up, stuck line, silence. Returns true if the
 * bytes were consumed (n set to the bytes that still pass). */
static bool gate(sim_fault *f, unsigned dir, uint8_t *buf, size_t *n, bool frame)
{
    sim_fault_slot *sl = find(f, SIM_FAULT_DEAD, dir);
    if (sl) {
        book(f, sl, frame ? 1 : *n);
        *n = 0;
        return true;
    }
    if (f->latched) {
        sl = find(f, SIM_FAULT_LATCHUP, SIM_DIR_BOTH);
        if (sl && sl->spec.garbage) {
            garbage_fill(f, buf, *n);
            return false;
        }
        *n = 0;
        return true;
    }
    sl = find(f, SIM_FAULT_STUCK, dir);
    if (sl) {
        /* The line is held at a level: whatever is sent, the far end sees
         * the level. Idempotent, so the bursts from sim_fault_due may pass
         * through the hooks again unchanged. */
        memset(buf, sl->spec.level == SIM_STUCK_BREAK ? 0x00 : sl->spec.level, *n);
        return true;
    }
    sl = find(f, SIM_FAULT_SILENCE, dir);
    if (sl) {
        book(f, sl, frame ? 1 : *n);
        *n = 0;
        return true;
    }
    return false;
}

size_t sim_fault_rx(sim_fault *f, uint8_t *buf, size_t n, size_t cap, uint64_t now_us)
{
    update(f, now_us);
    if (gate(f, SIM_DIR_TO_METER, buf, &n, false))
        return n;
    return apply_bytes(f, SIM_DIR_TO_METER, buf, n, cap);
}

static void hold(sim_fault *f, const uint8_t *b, size_t n, uint64_t at_us)
{
    if (f->n_held == SIM_FAULT_HELD) {
        f->c.held_overflow++;
        return;
    }
    if (n > SIM_FAULT_FRAME_CAP)
        n = SIM_FAULT_FRAME_CAP;
    sim_fault_held *h = &f->held[f->n_held++];
    h->at_us = at_us;
    h->len = (uint16_t)n;
    memcpy(h->b, b, n);
}

static size_t tx_frame(sim_fault *f, uint8_t *buf, size_t n, size_t cap, uint64_t now_us, bool alert)
{
    if (gate(f, SIM_DIR_TO_MODULE, buf, &n, true))
        return n;
    if (!alert) {
        /* S14: the reply to request n carries the data of request n-1. Keep
         * the true response as the next "previous" in every case. */
        uint8_t cur[SIM_FAULT_FRAME_CAP];
        size_t cur_len = n < sizeof cur ? n : sizeof cur;
        memcpy(cur, buf, cur_len);
        sim_fault_slot *sl = find(f, SIM_FAULT_PREVIOUS, SIM_DIR_TO_MODULE);
        if (sl && f->prev_len && f->prev_len <= cap && chance(f, sl->spec.p)) {
            memcpy(buf, f->prev, f->prev_len);
            n = f->prev_len;
            book(f, sl, 1);
        }
        memcpy(f->prev, cur, cur_len);
        f->prev_len = cur_len;

        sl = find(f, SIM_FAULT_TRUNCATE, SIM_DIR_TO_MODULE);
        if (sl && sl->spec.len < n && chance(f, sl->spec.p)) {
            n = sl->spec.len; /* S11: the frame never completes */
            book(f, sl, 1);
        }
        sl = find(f, SIM_FAULT_TRAILING, SIM_DIR_TO_MODULE);
        if (sl && n + sl->spec.len <= cap && chance(f, sl->spec.p)) {
            garbage_fill(f, buf + n, sl->spec.len); /* S12 */
            n += sl->spec.len;
            book(f, sl, 1);
        }
    }
    n = apply_bytes(f, SIM_DIR_TO_MODULE, buf, n, cap);
    if (!alert && n) {
        uint64_t send_us = now_us;
        bool held = false;
        sim_fault_slot *sl = find(f, SIM_FAULT_DELAY, SIM_DIR_TO_MODULE);
        if (sl && chance(f, sl->spec.p)) {
            send_us = now_us + (uint64_t)sl->spec.delay_ms * 1000u; /* S13 */
            book(f, sl, 1);
            held = true;
        }
        sl = find(f, SIM_FAULT_DUPLICATE, SIM_DIR_TO_MODULE);
        if (sl && chance(f, sl->spec.p)) {
            if (held)
                hold(f, buf, n, send_us);
            hold(f, buf, n, send_us + (uint64_t)sl->spec.delay_ms * 1000u);
            book(f, sl, 1);
            return held ? 0 : n;
        }
        if (held) {
            hold(f, buf, n, send_us);
            return 0;
        }
    }
    return n;
}

size_t sim_fault_tx(sim_fault *f, uint8_t *buf, size_t n, size_t cap, uint64_t now_us)
{
    bool alert = n == 2 && buf[0] == 0 && buf[1] == 0;
    if (n > cap)
        n = cap;
    update(f, now_us);
    n = tx_frame(f, buf, n, cap, now_us, alert);
    if (!alert) {
        f->frames_tx++;
        update(f, now_us); /* a latch-up after N frames latches once frame N is out */
    }
    return n;
}

size_t sim_fault_rx_filter(void *ctx, uint8_t *buf, size_t n, size_t cap, uint64_t now_us)
{
    return sim_fault_rx((sim_fault *)ctx, buf, n, cap, now_us);
}

size_t sim_fault_tx_filter(void *ctx, uint8_t *buf, size_t n, size_t cap, uint64_t now_us)
{
    return sim_fault_tx((sim_fault *)ctx, buf, n, cap, now_us);
}

size_t sim_fault_due(sim_fault *f, unsigned dir, uint64_t now_us, uint8_t *out, size_t cap)
{
    update(f, now_us);
    if (dir & SIM_DIR_TO_MODULE) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < f->n_held; i++)
            if (f->held[i].at_us <= now_us && (best == SIZE_MAX || f->held[i].at_us < f->held[best].at_us))
                best = i;
        if (best != SIZE_MAX) {
            size_t n = f->held[best].len <= cap ? f->held[best].len : cap;
            memcpy(out, f->held[best].b, n);
            memmove(&f->held[best], &f->held[best + 1], (f->n_held - best - 1) * sizeof f->held[0]);
            f->n_held--;
            return n;
        }
    }
    for (size_t i = 0; i < SIM_FAULT_MAX; i++) {
        sim_fault_slot *sl = &f->slot[i];
        if (!sl->id || sl->spec.kind != SIM_FAULT_STUCK || !(sl->spec.dir & dir))
            continue;
        /* each direction of a "both" stuck line has its own burst clock */
        uint64_t *next = (sl->spec.dir & dir & SIM_DIR_TO_MODULE) ? &sl->next_burst_us : &sl->next_burst_rx_us;
        if (now_us < *next)
            continue;
        size_t n = sl->spec.len <= cap ? sl->spec.len : cap;
        memset(out, sl->spec.level == SIM_STUCK_BREAK ? 0x00 : sl->spec.level, n);
        uint64_t period = (uint64_t)sl->spec.period_ms * 1000u;
        *next += period;
        if (*next <= now_us) /* woke late: do not flood to catch up */
            *next = now_us + period;
        book(f, sl, 1);
        return n;
    }
    return 0;
}

uint64_t sim_fault_next_wake(const sim_fault *f, uint64_t now_us)
{
    uint64_t t = UINT64_MAX;
    (void)now_us;
    for (size_t i = 0; i < f->n_held; i++)
        if (f->held[i].at_us < t)
            t = f->held[i].at_us;
    for (size_t i = 0; i < SIM_FAULT_MAX; i++) {
        const sim_fault_slot *sl = &f->slot[i];
        if (!sl->id)
            continue;
        if (sl->spec.duration_ms) {
            uint64_t end = sl->start_us + (uint64_t)sl->spec.duration_ms * 1000u;
            if (end < t)
                t = end;
        }
        if (sl->spec.kind == SIM_FAULT_STUCK && (sl->spec.dir & SIM_DIR_TO_MODULE) && sl->next_burst_us < t)
            t = sl->next_burst_us;
        if (sl->spec.kind == SIM_FAULT_STUCK && (sl->spec.dir & SIM_DIR_TO_METER) && sl->next_burst_rx_us < t)
            t = sl->next_burst_rx_us;
        if (sl->spec.kind == SIM_FAULT_LATCHUP && sl->injected == 0 && !sl->spec.after_frames) {
            uint64_t at = sl->start_us + (uint64_t)sl->spec.at_ms * 1000u;
            if (at < t)
                t = at;
        }
    }
    return t;
}

bool sim_fault_break_active(const sim_fault *f, unsigned dir)
{
    const sim_fault_slot *sl = cfind(f, SIM_FAULT_STUCK, dir);
    return sl && sl->spec.level == SIM_STUCK_BREAK;
}

int sim_fault_line_from_name(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "transceiver") == 0 || strcmp(name, "power") == 0)
        return SIM_LINE_POWER;
    if (strcmp(name, "enable") == 0)
        return SIM_LINE_ENABLE;
    return -1;
}

bool sim_fault_latched(const sim_fault *f)
{
    return f->latched;
}

void sim_fault_line_event(sim_fault *f, sim_fault_line line, bool on, uint64_t now_us)
{
    update(f, now_us);
    bool *state = line == SIM_LINE_POWER ? &f->power_on : &f->enable_on;
    uint64_t *off_at = line == SIM_LINE_POWER ? &f->power_off_us : &f->enable_off_us;
    if (!on) {
        if (*state) {
            *state = false;
            *off_at = now_us;
        }
        return;
    }
    if (*state)
        return;
    *state = true;
    uint64_t off_us = now_us - *off_at;
    sim_fault_slot *latch = find(f, SIM_FAULT_LATCHUP, SIM_DIR_BOTH);
    uint64_t t_us = (uint64_t)(latch ? latch->spec.off_ms : f->cycle_threshold_ms) * 1000u;
    bool long_enough = off_us >= t_us;
    if (line == SIM_LINE_POWER) {
        if (long_enough)
            f->c.power_cycles_long++;
        else
            f->c.power_cycles_short++;
    } else {
        if (long_enough)
            f->c.enable_cycles_long++;
        else
            f->c.enable_cycles_short++;
    }
    unsigned by = line == SIM_LINE_POWER ? SIM_LATCH_BY_POWER : SIM_LATCH_BY_ENABLE;
    /* S09: only an off time of at least T clears the latch-up. */
    if (f->latched && latch && long_enough && (latch->spec.by & by)) {
        if (chance(f, latch->spec.recover_p)) {
            f->latched = false;
            f->c.latchups_cleared++;
        } else {
            f->c.latchup_recover_failed++;
        }
    }
}
