/* sim_fault: line faults and transceiver models (see sim_fault.h).
 *
 * Each active fault is a slot with its spec, start time and injection count.
 * Every entry point first wears off the slots whose duration has passed and
 * arms latch-ups that are due, so the result depends only on the calls made
 * and the seed, never on when the process happened to wake up.
 */
#include "sim_fault.h"
#include "sim_text.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

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

static double rng_unit(uint64_t *s)
{
    return (double)(sim_fault_rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t sim_fault_end_us(uint64_t start_us, uint32_t duration_ms)
{
    return duration_ms ? start_us + (uint64_t)duration_ms * 1000u : UINT64_MAX;
}

bool sim_fault_chance(uint64_t *rng, double p)
{
    if (p >= 1.0)
        return true;
    if (p <= 0.0)
        return false;
    return rng_unit(rng) < p;
}

static bool chance(sim_fault *f, double p)
{
    return sim_fault_chance(&f->rng, p);
}

static void spec_init(void *sp, int k);

/* ---- the family table --------------------------------------------------
 * Parameters in the order a spec is written; kind rows name the parameters
 * they take (bit i = PARAMS[i]) and their cross-parameter check. */
enum {
    P_DIR = 1u << 0, P_P = 1u << 1, P_RATE = 1u << 2, P_DELAY = 1u << 3, P_LEN = 1u << 4,
    P_LEVEL = 1u << 5, P_PERIOD = 1u << 6, P_AT = 1u << 7, P_AFTER = 1u << 8, P_OFF = 1u << 9,
    P_RECOVER = 1u << 10, P_MODE = 1u << 11, P_BY = 1u << 12, P_COUNT = 1u << 13, P_DURATION = 1u << 14,
    P_NOISE = 1u << 15, P_PATTERN = 1u << 16, /* bit i = PARAMS[i] */
};

static const sim_spec_choice DIRS[] = {
    {"to-meter", SIM_DIR_TO_METER, false}, {"to-module", SIM_DIR_TO_MODULE, false}, {"both", SIM_DIR_BOTH, false}};
static const sim_spec_choice LEVELS[] = {
    {"0x00", 0x00, false}, {"zero", 0x00, false}, {"0", 0x00, false}, {"0xff", 0xFF, true},
    {"one", 0xFF, false},  {"255", 0xFF, false},  {"break", SIM_STUCK_BREAK, false}};
static const sim_spec_choice MODES[] = {{"garbage", 1, false}, {"silence", 0, false}};
static const sim_spec_choice PATTERNS[] = {{"random", SIM_FAULT_NOISE_RANDOM, false},
                                          {"0x00", 0x00, false},
                                          {"0xff", 0xFF, true},
                                          {"0x55", 0x55, false}};
static const sim_spec_choice BYS[] = {{"power", SIM_LATCH_BY_POWER, false},
                                      {"transceiver", SIM_LATCH_BY_POWER, false},
                                      {"enable", SIM_LATCH_BY_ENABLE, false},
                                      {"either", SIM_LATCH_BY_POWER | SIM_LATCH_BY_ENABLE, false}};

#define FIELD(k, t, f) \
    .key = k, .type = t, .offset = offsetof(sim_fault_spec, f), .size = sizeof(((sim_fault_spec *)0)->f)
#define CHOICES(c) .choices = c, .n_choices = sizeof c / sizeof c[0]
static const sim_spec_param PARAMS[] = {
    {FIELD("dir", SIM_SPEC_CHOICE, dir), CHOICES(DIRS)},
    {FIELD("p", SIM_SPEC_UNIT, p)},
    {FIELD("rate", SIM_SPEC_UNIT, rate)},
    {FIELD("delay", SIM_SPEC_U32, delay_ms)},
    {FIELD("len", SIM_SPEC_U32, len)},
    {FIELD("level", SIM_SPEC_CHOICE, level), CHOICES(LEVELS)},
    {FIELD("period", SIM_SPEC_U32, period_ms)},
    {FIELD("at", SIM_SPEC_U32, at_ms)},
    {FIELD("after_frames", SIM_SPEC_U32, after_frames)},
    {FIELD("off", SIM_SPEC_U32, off_ms)},
    {FIELD("recover_p", SIM_SPEC_UNIT, recover_p)},
    {FIELD("mode", SIM_SPEC_CHOICE, garbage), CHOICES(MODES)},
    {FIELD("by", SIM_SPEC_CHOICE, by), CHOICES(BYS)},
    {FIELD("count", SIM_SPEC_U32, count), .hide = true},
    {FIELD("duration", SIM_SPEC_U32, duration_ms), .hide = true},
    {FIELD("noise", SIM_SPEC_U32, noise_bps), .hi = SIM_FAULT_NOISE_MAX},
    {FIELD("pattern", SIM_SPEC_CHOICE, noise_pattern), CHOICES(PATTERNS), .list_choices = true},
};
#define N_PARAMS (sizeof PARAMS / sizeof PARAMS[0])
#undef FIELD
#undef CHOICES

/* Frame faults act on whole response frames (sim_fault.h). */
static int check_frame(const void *sp, const char *kn, char *err, size_t errlen)
{
    const sim_fault_spec *s = sp;
    if (s->dir != SIM_DIR_TO_MODULE) {
        sim_text_errf(err, errlen, "fault %s acts on response frames: dir must be to-module", kn);
        return -1;
    }
    return 0;
}

#define COMMON (P_COUNT | P_DURATION)
#define FRAME_DELAY {{"delay", 0, 600000, "delay must be at most 600000 ms", false}}
/* A line-fault kind: its spec row, and for byte faults the function that
 * applies it to the bytes of one direction (frame, gate and transceiver
 * kinds act in sim_fault_tx, gate and the line-event handler). */
typedef size_t (*bytes_fn)(sim_fault *f, sim_fault_slot *sl, uint8_t *buf, size_t n, size_t cap);
typedef struct {
    sim_spec_kind text;
    bytes_fn bytes;
} line_kind;
static size_t flip_bytes(sim_fault *f, sim_fault_slot *sl, uint8_t *buf, size_t n, size_t cap);
static size_t drop_bytes(sim_fault *f, sim_fault_slot *sl, uint8_t *buf, size_t n, size_t cap);
static size_t junk_bytes(sim_fault *f, sim_fault_slot *sl, uint8_t *buf, size_t n, size_t cap);
#define BYTES_MAX 4096 /* longest burst the byte faults edit at once */

static const line_kind KINDS[SIM_FAULT_KIND_COUNT] = {
    [SIM_FAULT_DROP] = {{"drop", P_DIR | P_P | COMMON, NULL, {{0}}}, drop_bytes},
    [SIM_FAULT_FLIP] = {{"flip", P_DIR | P_RATE | COMMON, NULL, {{0}}}, flip_bytes},
    [SIM_FAULT_JUNK] = {{"junk", P_DIR | P_P | P_LEN | COMMON, NULL, {{"len", 1, 64, NULL, true}}}, junk_bytes},
    [SIM_FAULT_TRUNCATE] = {{"truncate", P_DIR | P_P | P_LEN | COMMON, check_frame,
                             {{"len", 0, MEP_MAX_FRAME, NULL, false}}}, NULL},
    [SIM_FAULT_DELAY] = {{"delay", P_DIR | P_P | P_DELAY | COMMON, check_frame, FRAME_DELAY}, NULL},
    [SIM_FAULT_DUPLICATE] = {{"duplicate", P_DIR | P_P | P_DELAY | COMMON, check_frame, FRAME_DELAY}, NULL},
    [SIM_FAULT_PREVIOUS] = {{"previous", P_DIR | P_P | COMMON, check_frame, {{0}}}, NULL},
    [SIM_FAULT_TRAILING] = {{"trailing", P_DIR | P_P | P_LEN | COMMON, check_frame, {{"len", 1, 64, NULL, true}}},
                            NULL},
    [SIM_FAULT_SILENCE] = {{"silence", P_DIR | COMMON, NULL, {{0}}}, NULL},
    [SIM_FAULT_STUCK] = {{"stuck", P_DIR | P_LEVEL | P_LEN | P_PERIOD | COMMON, NULL,
                          {{"len", 1, 256, "len must be 1..256 and period >= 1 ms", false},
                           {"period", 1, UINT32_MAX, "len must be 1..256 and period >= 1 ms", false}}},
                         NULL},
    [SIM_FAULT_DEAD] = {{"dead", P_DURATION, NULL, {{0}}}, NULL},
    [SIM_FAULT_GARBLE] = {{"garble", P_DIR | P_RATE | COMMON, NULL, {{0}}}, flip_bytes},
    [SIM_FAULT_LATCHUP] = {{"latchup", P_AT | P_AFTER | P_OFF | P_RECOVER | P_MODE | P_BY | P_NOISE | P_PATTERN |
                                           P_DURATION, NULL,
                            {{"off", 1, UINT32_MAX, "off must be at least 1 ms", false}}},
                           NULL},
};
#undef FRAME_DELAY
#undef COMMON

static const sim_spec_family FAMILY = {"fault", "fault", true, KINDS, SIM_FAULT_KIND_COUNT, sizeof KINDS[0],
                                       PARAMS, N_PARAMS, sizeof(sim_fault_spec), spec_init};

SIM_SPEC_FAMILY_DEFINE(sim_fault, sim_fault_spec, sim_fault_kind, FAMILY)

static bool is_frame_kind(sim_fault_kind k)
{
    return k == SIM_FAULT_TRUNCATE || k == SIM_FAULT_DELAY || k == SIM_FAULT_DUPLICATE ||
           k == SIM_FAULT_PREVIOUS || k == SIM_FAULT_TRAILING;
}

/* The defaults of kind k (documented at sim_fault_spec). */
static void spec_init(void *sp, int k)
{
    sim_fault_spec *s = sp;
    memset(s, 0, sizeof *s);
    s->kind = (sim_fault_kind)k;
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
    s->noise_bps = 100;
    s->noise_pattern = SIM_FAULT_NOISE_RANDOM;
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
        if (now_us >= sim_fault_end_us(sl->start_us, sl->spec.duration_ms)) {
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

/* ---- slots ---------------------------------------------------------- */
static unsigned char *pool_slot(const sim_fault_pool *p, size_t i)
{
    return (unsigned char *)p->slots + i * p->stride;
}

static uint32_t pool_id(const sim_fault_pool *p, const void *slot)
{
    uint32_t id;
    memcpy(&id, (const unsigned char *)slot + p->id_offset, sizeof id);
    return id;
}

static int pool_kind(const void *slot)
{
    int kind;
    memcpy(&kind, slot, sizeof kind); /* the spec's kind, first in the slot */
    return kind;
}

void *sim_fault_pool_start(const sim_fault_pool *p, const void *spec, char *err, size_t errlen)
{
    if (sim_spec_spec_check(p->family, pool_kind(spec), spec, err, errlen) < 0)
        return NULL;
    for (size_t i = 0; i < p->n; i++) {
        unsigned char *sl = pool_slot(p, i);
        if (pool_id(p, sl))
            continue;
        memset(sl, 0, p->stride);
        memcpy(sl, spec, p->family->spec_size);
        uint32_t id = (*p->next_id)++;
        if (*p->next_id == 0)
            *p->next_id = 1;
        memcpy(sl + p->id_offset, &id, sizeof id);
        return sl;
    }
    sim_text_errf(err, errlen, "too many %s active (%zu)", p->noun, p->n);
    return NULL;
}

int sim_fault_pool_stop(const sim_fault_pool *p, const char *what, void (*release)(void *ctx, void *slot), void *ctx)
{
    if (!what)
        return 0;
    sim_spec_what w;
    sim_spec_what_parse(p->family, what, &w);
    int n = 0;
    for (size_t i = 0; i < p->n; i++) {
        unsigned char *sl = pool_slot(p, i);
        uint32_t id = pool_id(p, sl);
        if (id && sim_spec_what_matches(&w, id, pool_kind(sl))) {
            if (release)
                release(ctx, sl);
            else
                memset(sl, 0, p->stride);
            n++;
        }
    }
    return n;
}

/* " injected=N age_ms=N" from the slot's start time and count. */
static void age_tail(const sim_fault_pool *p, const unsigned char *sl, uint64_t now, char *buf, size_t cap)
{
    uint64_t start, count;
    memcpy(&start, sl + p->start_offset, sizeof start);
    memcpy(&count, sl + p->count_offset, sizeof count);
    snprintf(buf, cap, " injected=%llu age_ms=%llu", (unsigned long long)count,
             (unsigned long long)(now > start ? (now - start) / 1000u : 0));
}

size_t sim_fault_pool_list(const sim_fault_pool *p, const char *prefix,
                           void (*tail)(const void *slot, const void *ctx, char *buf, size_t bufcap),
                           const void *ctx, char *out, size_t cap)
{
    size_t n = 0;
    if (!cap)
        return 0;
    out[0] = '\0';
    for (size_t i = 0; i < p->n; i++) {
        const unsigned char *sl = pool_slot(p, i);
        uint32_t id = pool_id(p, sl);
        if (!id)
            continue;
        char spec[256], rest[128];
        sim_spec_spec_format(p->family, pool_kind(sl), sl, spec, sizeof spec);
        if (tail)
            tail(sl, ctx, rest, sizeof rest);
        else
            age_tail(p, sl, *(const uint64_t *)ctx, rest, sizeof rest);
        sim_text_appendf(out, cap, &n, "%s%u %s%s\n", prefix, (unsigned)id, spec, rest);
    }
    return n;
}

static sim_fault_pool pool_of(sim_fault *f)
{
    return (sim_fault_pool){f->slot,    SIM_FAULT_MAX, sizeof f->slot[0],
                            offsetof(sim_fault_slot, id), &f->next_id, &FAMILY, "faults",
                            offsetof(sim_fault_slot, start_us), offsetof(sim_fault_slot, injected)};
}

static void release(void *f, void *sl) { free_slot(f, sl); }

int sim_fault_start(sim_fault *f, const sim_fault_spec *s, uint64_t now_us, char *err, size_t errlen)
{
    update(f, now_us);
    sim_fault_pool pool = pool_of(f);
    sim_fault_slot *sl = sim_fault_pool_start(&pool, s, err, errlen);
    if (!sl)
        return -1;
    sl->start_us = now_us;
    sl->next_burst_us = now_us;
    sl->next_burst_rx_us = now_us;
    sl->frames0 = f->frames_tx;
    if (s->kind == SIM_FAULT_LATCHUP)
        f->cycle_threshold_ms = s->off_ms;
    update(f, now_us); /* a latch-up at 0 ms latches now */
    return (int)sl->id;
}

int sim_fault_stop(sim_fault *f, const char *what)
{
    sim_fault_pool pool = pool_of(f);
    return sim_fault_pool_stop(&pool, what, release, f);
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
    sim_fault_pool pool = pool_of((sim_fault *)f);
    size_t n = sim_fault_pool_list(&pool, "", NULL, &now_us, out, cap);
    sim_text_appendf(out, cap, &n,
                     "transceiver power=%s enable=%s latched=%s cycles_long=%llu cycles_short=%llu "
                     "latchups=%llu cleared=%llu held=%zu\n",
                     f->power_on ? "on" : "off", f->enable_on ? "on" : "off", f->latched ? "yes" : "no",
                     (unsigned long long)(f->c.power_cycles_long + f->c.enable_cycles_long),
                     (unsigned long long)(f->c.power_cycles_short + f->c.enable_cycles_short),
                     (unsigned long long)f->c.latchups, (unsigned long long)f->c.latchups_cleared, f->n_held);
    return n;
}

/* MAX3232 bit errors (flip, garble): each bit independently with
 * probability rate. */
static size_t flip_bytes(sim_fault *f, sim_fault_slot *sl, uint8_t *buf, size_t n, size_t cap)
{
    (void)cap;
    for (size_t j = 0; j < n && sl->id; j++)
        for (int b = 0; b < 8 && sl->id; b++)
            if (chance(f, sl->spec.rate)) {
                buf[j] ^= (uint8_t)(1u << b);
                book(f, sl, 1);
            }
    return n;
}

/* drop: each byte lost with probability p. */
static size_t drop_bytes(sim_fault *f, sim_fault_slot *sl, uint8_t *buf, size_t n, size_t cap)
{
    (void)cap;
    size_t w = 0;
    for (size_t j = 0; j < n; j++) {
        if (sl->id && chance(f, sl->spec.p)) {
            book(f, sl, 1);
            continue;
        }
        buf[w++] = buf[j];
    }
    return w;
}

/* junk: with probability p, len random bytes before a byte (up to cap). */
static size_t junk_bytes(sim_fault *f, sim_fault_slot *sl, uint8_t *buf, size_t n, size_t cap)
{
    uint8_t tmp[BYTES_MAX];
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
    return w;
}

/* Byte-level faults of one direction, in slot order: each kind's row
 * names its byte function. */
static size_t apply_bytes(sim_fault *f, unsigned dir, uint8_t *buf, size_t n, size_t cap)
{
    if (cap > BYTES_MAX)
        cap = BYTES_MAX;
    if (n > cap)
        n = cap;
    for (size_t i = 0; i < SIM_FAULT_MAX; i++) {
        sim_fault_slot *sl = &f->slot[i];
        if (sl->id && (sl->spec.dir & dir) && KINDS[sl->spec.kind].bytes)
            n = KINDS[sl->spec.kind].bytes(f, sl, buf, n, cap);
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

/* The latched slot that drives noise toward the module, or NULL. */
static sim_fault_slot *noise_slot(sim_fault *f)
{
    if (!f->latched)
        return NULL;
    sim_fault_slot *sl = find(f, SIM_FAULT_LATCHUP, SIM_DIR_BOTH);
    return sl && sl->spec.garbage && sl->spec.noise_bps ? sl : NULL;
}

static uint64_t noise_period_us(const sim_fault_spec *s)
{
    uint64_t one = 1000000u / s->noise_bps; /* one byte's share of a second */
    uint64_t burst = (uint64_t)SIM_FAULT_NOISE_PERIOD_MS * 1000u;
    return one > burst ? one : burst;
}

/* A latched MAX3232 in garbage mode is not quiet: its output toggles on its
 * own (S09), so the module hears noise between its requests too. One
 * burst per period: rate x period bytes (at least 1), seeded random or a
 * fixed byte. The burst clock is the latch-up slot's next_burst_us. */
static size_t latch_noise(sim_fault *f, uint64_t now_us, uint8_t *out, size_t cap)
{
    sim_fault_slot *sl = noise_slot(f);
    if (!sl || now_us < sl->next_burst_us)
        return 0;
    uint64_t period = noise_period_us(&sl->spec);
    size_t n = (size_t)((uint64_t)sl->spec.noise_bps * period / 1000000u);
    if (n == 0)
        n = 1;
    if (n > cap)
        n = cap;
    if (sl->spec.noise_pattern == SIM_FAULT_NOISE_RANDOM)
        garbage_fill(f, out, n);
    else
        memset(out, sl->spec.noise_pattern, n);
    sl->next_burst_us += period;
    if (sl->next_burst_us <= now_us) /* first burst, or woke late: do not flood to catch up */
        sl->next_burst_us = now_us + period;
    f->c.noise_bytes += n;
    return n;
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
    if (dir & SIM_DIR_TO_MODULE) {
        size_t n = latch_noise(f, now_us, out, cap);
        if (n)
            return n;
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
        uint64_t end = sim_fault_end_us(sl->start_us, sl->spec.duration_ms);
        if (end < t)
            t = end;
        if (sl->spec.kind == SIM_FAULT_STUCK && (sl->spec.dir & SIM_DIR_TO_MODULE) && sl->next_burst_us < t)
            t = sl->next_burst_us;
        if (sl->spec.kind == SIM_FAULT_STUCK && (sl->spec.dir & SIM_DIR_TO_METER) && sl->next_burst_rx_us < t)
            t = sl->next_burst_rx_us;
        if (sl->spec.kind == SIM_FAULT_LATCHUP && sl->injected == 0 && !sl->spec.after_frames) {
            uint64_t at = sl->start_us + (uint64_t)sl->spec.at_ms * 1000u;
            if (at < t)
                t = at;
        }
        if (sl->spec.kind == SIM_FAULT_LATCHUP && f->latched && sl->spec.garbage && sl->spec.noise_bps &&
            sl->next_burst_us < t)
            t = sl->next_burst_us;
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
