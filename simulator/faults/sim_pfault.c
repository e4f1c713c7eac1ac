/* sim_pfault: protocol faults (see sim_pfault.h).
 *
 * The meter hook works on the bare response (code + data) so that a fault
 * that substitutes a *valid* different reply (short table, error code,
 * perpetual 0x0C) gets a correct digest from the meter, while faults that
 * corrupt bytes belong to sim_fault and stay corrupted.
 */
#include "sim_pfault.h"
#include "sim_text.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "sim_fault.h" /* shared xorshift */

static void spec_init(void *sp, int k);

/* ---- the family table --------------------------------------------------
 * Parameters in the order a spec is written; kind rows name the parameters
 * they take (bit i = PARAMS[i]) and their cross-parameter check. */
enum {
    Q_TABLE = 1u << 0, Q_CODE = 1u << 1, Q_OPS = 1u << 2, Q_FIRST = 1u << 3, Q_BYTES = 1u << 4,
    Q_SIZE = 1u << 5, Q_PERIOD = 1u << 6, Q_RATE = 1u << 7, Q_GAP = 1u << 8, Q_SPLIT = 1u << 9,
    Q_VARIANT = 1u << 10, Q_P = 1u << 11, Q_COUNT = 1u << 12, Q_DURATION = 1u << 13,
};

static const char *const VARIANTS[] = {"quote", "backslash", "ff", "nul", "spaces", "mixed"};
#define N_VARIANTS (sizeof VARIANTS / sizeof VARIANTS[0])

static const sim_spec_choice OPS[] = {{"read", 1, false}, {"write", 2, false}, {"both", 3, false}};

/* "BT23", "ET13", "0x0817", "23" -> table id; -1 if not a table name. */
static int parse_table(const char *t)
{
    if (!t || !*t)
        return -1;
    uint32_t n;
    if ((t[0] == 'B' || t[0] == 'E') && t[1] == 'T' && t[2] >= '0' && t[2] <= '9') {
        if (sim_text_parse_u32(t + 2, &n) < 0 || n > 2047 || (t[2] == '0' && t[3] == 'x'))
            return -1;
        return t[0] == 'B' ? (int)n : (int)(0x0800u + n);
    }
    if (sim_text_parse_u32(t, &n) < 0 || n > 0xFFFF)
        return -1;
    return (int)n;
}

static int set_table(void *sp, const char *what, const char *kn, const char *value, char *err, size_t errlen)
{
    sim_pfault_spec *s = sp;
    int t = parse_table(value);
    if (t < 0) {
        sim_text_errf(err, errlen, "%s %s: bad table \"%s\" (want BTn, ETn or a number)", what, kn, value);
        return -1;
    }
    s->has_table = true;
    s->table = (uint16_t)t;
    return 0;
}

static void format_table(const void *sp, char *out, size_t cap, size_t *n)
{
    const sim_pfault_spec *s = sp;
    char tb[8];
    if (s->has_table)
        sim_text_appendf(out, cap, n, " table=%s", mep_table_name(s->table, tb));
}

static int set_first(void *sp, const char *what, const char *kn, const char *value, char *err, size_t errlen)
{
    sim_pfault_spec *s = sp;
    uint32_t u;
    if (sim_text_parse_u32(value, &u) < 0) {
        sim_text_errf(err, errlen, "%s %s: first must be a whole number 0..4294967295, got \"%s\"", what, kn, value);
        return -1;
    }
    if (u > 1) {
        sim_text_errf(err, errlen, "%s %s: first must be 0 or 1", what, kn);
        return -1;
    }
    s->first = u == 1;
    return 0;
}

static void format_first(const void *sp, char *out, size_t cap, size_t *n)
{
    if (((const sim_pfault_spec *)sp)->first)
        sim_text_appendf(out, cap, n, " first=1");
}

static int set_variant(void *sp, const char *what, const char *kn, const char *value, char *err, size_t errlen)
{
    sim_pfault_spec *s = sp;
    for (size_t i = 0; i < N_VARIANTS; i++)
        if (strcmp(value, VARIANTS[i]) == 0) {
            strcpy(s->variant, VARIANTS[i]);
            return 0;
        }
    sim_text_errf(err, errlen, "%s %s: bad variant \"%s\" (quote|backslash|ff|nul|spaces|mixed)", what, kn, value);
    return -1;
}

static void format_variant(const void *sp, char *out, size_t cap, size_t *n)
{
    sim_text_appendf(out, cap, n, " variant=%s", ((const sim_pfault_spec *)sp)->variant);
}

#define FIELD(k, t, f) \
    .key = k, .type = t, .offset = offsetof(sim_pfault_spec, f), .size = sizeof(((sim_pfault_spec *)0)->f)
#define CUSTOM(k, name) .key = k, .type = SIM_SPEC_CUSTOM, .set = set_##name, .format = format_##name
static const sim_spec_param PARAMS[] = {
    {CUSTOM("table", table)},
    {FIELD("code", SIM_SPEC_U32, code), .hi = 255, .hex = true},
    {FIELD("ops", SIM_SPEC_CHOICE, ops), .choices = OPS, .n_choices = 3, .list_choices = true},
    {CUSTOM("first", first)},
    {FIELD("bytes", SIM_SPEC_U32, bytes)},
    {FIELD("size", SIM_SPEC_U32, size)},
    {FIELD("period", SIM_SPEC_U32, period_ms)},
    {FIELD("rate", SIM_SPEC_U32, rate)},
    {FIELD("gap_us", SIM_SPEC_U32, gap_us)},
    {FIELD("split", SIM_SPEC_U32, split), .hide = true},
    {CUSTOM("variant", variant)},
    {FIELD("p", SIM_SPEC_UNIT, p), .hide = true, .hide_value = 1.0},
    {FIELD("count", SIM_SPEC_U32, count), .hide = true},
    {FIELD("duration", SIM_SPEC_U32, duration_ms), .hide = true},
};
#define N_PARAMS (sizeof PARAMS / sizeof PARAMS[0])
#undef FIELD
#undef CUSTOM

#define COMMON (Q_COUNT | Q_DURATION)
static const sim_spec_kind KINDS[SIM_PF_KIND_COUNT] = {
    [SIM_PF_SEQ_ALWAYS] = {"seq-always", COMMON | Q_P, NULL, {{0}}},
    [SIM_PF_SEQ_LAST] = {"seq-last", COMMON, NULL, {{0}}},
    [SIM_PF_AUTH] = {"auth", COMMON | Q_P | Q_FIRST, NULL, {{0}}},
    [SIM_PF_TABLE_ERROR] = {"table-error", COMMON | Q_P | Q_TABLE | Q_CODE | Q_OPS, NULL,
                            {{"code", 1, 255, "code must be an error code (not 0)", false}}},
    [SIM_PF_SHORT] = {"short", COMMON | Q_P | Q_TABLE | Q_BYTES, NULL, {{0}}},
    [SIM_PF_OVERSIZE] = {"oversize", COMMON | Q_TABLE | Q_SIZE, NULL,
                         {{"size", 1, SIM_PFAULT_OUT_MAX - 3, NULL, false}}},
    [SIM_PF_BUSY] = {"busy", COMMON, NULL, {{0}}},
    [SIM_PF_ALERT_STORM] = {"alert-storm", COMMON | Q_PERIOD, NULL,
                            {{"period", 1, UINT32_MAX, "period must be at least 1 ms", false}}},
    [SIM_PF_ZERO_STREAM] = {"zero-stream", COMMON | Q_RATE, NULL,
                            {{"rate", 1, 100000, "rate must be 1..100000 bytes/s", false}}},
    [SIM_PF_ALERT_SPLIT] = {"alert-split", COMMON | Q_P | Q_GAP | Q_SPLIT, NULL,
                            {{"gap_us", 0, 1000000, "gap_us must be at most 1000000", false}}},
    [SIM_PF_STRINGS] = {"strings", Q_DURATION | Q_VARIANT, NULL, {{0}}},
    [SIM_PF_ECHO] = {"echo", COMMON, NULL, {{0}}},
    [SIM_PF_TLS_CORRUPT_HS] = {"tls-corrupt-handshake", COMMON | Q_P, NULL, {{0}}},
    [SIM_PF_TLS_DROP_SESSION] = {"tls-drop-session", COMMON | Q_P, NULL, {{0}}},
    [SIM_PF_TLS_WRONG_PSK] = {"tls-wrong-psk", COMMON, NULL, {{0}}},
};
#undef COMMON

static const sim_spec_family FAMILY = {"fault", "protocol fault", false, KINDS, SIM_PF_KIND_COUNT, sizeof KINDS[0],
                                       PARAMS, N_PARAMS, sizeof(sim_pfault_spec), spec_init};

SIM_SPEC_FAMILY_DEFINE(sim_pfault, sim_pfault_spec, sim_pfault_kind, FAMILY)

/* The defaults of kind k (documented at sim_pfault_spec). */
static void spec_init(void *sp, int k)
{
    sim_pfault_spec *s = sp;
    memset(s, 0, sizeof *s);
    s->kind = (sim_pfault_kind)k;
    s->p = 1.0;
    s->code = MEP_RSP_IAR;
    s->ops = 3;
    s->bytes = 5;
    s->size = 480;
    s->period_ms = 10;
    s->rate = 960;
    s->gap_us = 2000;
    strcpy(s->variant, "mixed");
}

/* ---- runtime ------------------------------------------------------------ */
void sim_pfault_init(sim_pfault *pf, uint64_t seed)
{
    memset(pf, 0, sizeof *pf);
    pf->rng = seed ? seed ^ 0x5DEECE66Dull : 0x2545F4914F6CDD1Dull;
    pf->next_id = 1;
}

static void update(sim_pfault *pf, uint64_t now_us)
{
    for (size_t i = 0; i < SIM_PFAULT_MAX; i++) {
        sim_pfault_slot *sl = &pf->slot[i];
        if (sl->id && now_us >= sim_fault_end_us(sl->start_us, sl->spec.duration_ms)) {
            memset(sl, 0, sizeof *sl);
            pf->c.worn_off++;
        }
    }
}

static void book(sim_pfault *pf, sim_pfault_slot *sl, uint64_t n)
{
    sl->injected += n;
    pf->c.injected[sl->spec.kind] += n;
    if (sl->spec.count && sl->injected >= sl->spec.count) {
        memset(sl, 0, sizeof *sl);
        pf->c.worn_off++;
    }
}

static sim_pfault_slot *find(sim_pfault *pf, sim_pfault_kind k)
{
    for (size_t i = 0; i < SIM_PFAULT_MAX; i++)
        if (pf->slot[i].id && pf->slot[i].spec.kind == k)
            return &pf->slot[i];
    return NULL;
}

static bool chance(sim_pfault *pf, double p)
{
    return sim_fault_chance(&pf->rng, p);
}

static sim_fault_pool pool_of(sim_pfault *pf)
{
    return (sim_fault_pool){pf->slot,   SIM_PFAULT_MAX, sizeof pf->slot[0],
                            offsetof(sim_pfault_slot, id), &pf->next_id, &FAMILY, "protocol faults",
                            offsetof(sim_pfault_slot, start_us), offsetof(sim_pfault_slot, injected)};
}

int sim_pfault_start(sim_pfault *pf, const sim_pfault_spec *s, uint64_t now_us, char *err, size_t errlen)
{
    update(pf, now_us);
    sim_fault_pool pool = pool_of(pf);
    sim_pfault_slot *sl = sim_fault_pool_start(&pool, s, err, errlen);
    if (!sl)
        return -1;
    sl->start_us = now_us;
    return (int)sl->id;
}

int sim_pfault_stop(sim_pfault *pf, const char *what)
{
    sim_fault_pool pool = pool_of(pf);
    return sim_fault_pool_stop(&pool, what, NULL, NULL);
}

void sim_pfault_clear(sim_pfault *pf)
{
    sim_pfault_stop(pf, "all");
    pf->pause_at = 0;
    pf->pause_us = 0;
}

size_t sim_pfault_list(const sim_pfault *pf, uint64_t now_us, char *out, size_t cap)
{
    sim_fault_pool pool = pool_of((sim_pfault *)pf);
    return sim_fault_pool_list(&pool, "p", NULL, &now_us, out, cap);
}

static bool is_read(const mep_request *r)
{
    return r && (r->code == MEP_REQ_FULL_READ || r->code == MEP_REQ_PARTIAL_READ);
}

static bool is_write(const mep_request *r)
{
    return r && (r->code == MEP_REQ_FULL_WRITE || r->code == MEP_REQ_PARTIAL_WRITE);
}

static bool table_match(const sim_pfault_spec *s, const mep_request *r)
{
    return r && (!s->has_table || s->table == r->table);
}

/* Faults that answer instead of the meter, whatever it would say: busy
 * (no answer), echo (S33) and auth (0x0B, S06). True if one acted. */
static bool answer_instead(sim_pfault *pf, const sim_meter_fault_request *rq, sim_pf_result *out)
{
    sim_pfault_slot *sl;
    if ((sl = find(pf, SIM_PF_BUSY))) {
        out->action = SIM_METER_FAULT_SUPPRESS;
        out->by = SIM_PF_BUSY;
    } else if ((sl = find(pf, SIM_PF_ECHO)) && rq && rq->frame && rq->frame_len <= sizeof out->bytes) {
        /* S33: the bench's loopback plug: the request comes straight back. */
        memcpy(out->bytes, rq->frame, rq->frame_len);
        out->len = rq->frame_len;
        out->action = SIM_METER_FAULT_REPLACE_FRAME;
        out->by = SIM_PF_ECHO;
    } else if ((sl = find(pf, SIM_PF_AUTH)) && (!sl->spec.first || sl->seen == 1) && chance(pf, sl->spec.p)) {
        out->bytes[0] = MEP_RSP_AUTH; /* S06: framed per the meter's auth_reply policy */
        out->len = 1;
        out->unauthenticated = true;
        out->action = SIM_METER_FAULT_REPLACE_BARE;
        out->by = SIM_PF_AUTH;
    } else {
        return false;
    }
    book(pf, sl, 1);
    return true;
}

/* S15 / S27 on a read the meter answered with data (0x00 + count + data):
 * fewer bytes than asked, or padded past the body limit. */
static sim_pfault_kind resize_read(sim_pfault *pf, const mep_request *r, uint8_t *work, size_t *wl)
{
    uint16_t have = mep_get_be16(work + 1);
    if (have > *wl - 3)
        have = (uint16_t)(*wl - 3);
    sim_pfault_slot *sl;
    if ((sl = find(pf, SIM_PF_SHORT)) && table_match(&sl->spec, r) && sl->spec.bytes < have &&
        chance(pf, sl->spec.p)) {
        /* S15: a valid reply that carries fewer bytes than asked. */
        mep_put_be16(work + 1, (uint16_t)sl->spec.bytes);
        *wl = 3 + sl->spec.bytes;
        book(pf, sl, 1);
        return SIM_PF_SHORT;
    }
    if ((sl = find(pf, SIM_PF_OVERSIZE)) && table_match(&sl->spec, r) && sl->spec.size > have) {
        /* S27: the whole table although it exceeds the 476-byte body limit (docs/mep.md 3.1). */
        memset(work + 3 + have, 0, sl->spec.size - have);
        mep_put_be16(work + 1, (uint16_t)sl->spec.size);
        *wl = 3 + sl->spec.size;
        book(pf, sl, 1);
        return SIM_PF_OVERSIZE;
    }
    return SIM_PF_KIND_COUNT;
}

/* A different valid reply in place of the meter's bare one: perpetual
 * 0x0C, an error code on a table, a short or oversize read. Returns the
 * fault that acted, SIM_PF_KIND_COUNT if none. */
static sim_pfault_kind rewrite_bare(sim_pfault *pf, const sim_meter_fault_request *rq, uint8_t *work, size_t *wl)
{
    const mep_request *r = rq ? rq->req : NULL;
    sim_pfault_slot *sl;
    if ((sl = find(pf, SIM_PF_SEQ_ALWAYS)) && rq && chance(pf, sl->spec.p)) {
        work[0] = MEP_RSP_SEQ; /* perpetual 0x0C + E: the client never gets data */
        mep_put_be32(work + 1, rq->next_seq);
        *wl = 5;
        book(pf, sl, 1);
        return SIM_PF_SEQ_ALWAYS;
    }
    if ((sl = find(pf, SIM_PF_TABLE_ERROR)) && table_match(&sl->spec, r) &&
        (((sl->spec.ops & 1) && is_read(r)) || ((sl->spec.ops & 2) && is_write(r))) && chance(pf, sl->spec.p)) {
        work[0] = sl->spec.code;
        *wl = 1;
        book(pf, sl, 1);
        return SIM_PF_TABLE_ERROR;
    }
    if (is_read(r) && work[0] == MEP_RSP_OK && *wl >= 3)
        return resize_read(pf, r, work, wl);
    if (is_read(r) && work[0] == MEP_RSP_ONP && (sl = find(pf, SIM_PF_OVERSIZE)) && table_match(&sl->spec, r)) {
        /* S27: the meter refused a table too large for one reply (docs/mep.md 3.3 [E]);
         * the fault sends `size` bytes anyway. The table bytes are not at hand
         * here, so the data are zeros: what matters is the framing. */
        work[0] = MEP_RSP_OK;
        mep_put_be16(work + 1, (uint16_t)sl->spec.size);
        memset(work + 3, 0, sl->spec.size);
        *wl = 3 + sl->spec.size;
        book(pf, sl, 1);
        return SIM_PF_OVERSIZE;
    }
    return SIM_PF_KIND_COUNT;
}

sim_meter_fault_action sim_pfault_on_response(sim_pfault *pf, const sim_meter_fault_request *rq,
                                              const uint8_t *bare, size_t bare_len, uint64_t now_ms,
                                              sim_pf_result *out)
{
    update(pf, now_ms * 1000u);
    out->action = SIM_METER_FAULT_PASS;
    out->unauthenticated = false;
    out->len = 0;
    for (size_t i = 0; i < SIM_PFAULT_MAX; i++)
        if (pf->slot[i].id)
            pf->slot[i].seen++;
    if (answer_instead(pf, rq, out))
        return out->action;
    if (!bare || bare_len == 0 || bare[0] == MEP_RSP_AUTH)
        return SIM_METER_FAULT_PASS; /* unauthenticated: nothing protocol-level to change */

    uint8_t work[SIM_PFAULT_OUT_MAX];
    size_t wl = bare_len < sizeof work ? bare_len : sizeof work;
    memcpy(work, bare, wl);
    sim_pfault_kind by = rewrite_bare(pf, rq, work, &wl);
    bool changed = by != SIM_PF_KIND_COUNT;
    sim_pfault_slot *sl;
    if ((sl = find(pf, SIM_PF_SEQ_LAST)) && work[0] == MEP_RSP_SEQ && wl >= 5) {
        /* S04: the 0x0C carries the last accepted number E-1; a client that
         * reuses it is then rejected as a replay (docs/mep.md 5.5). */
        mep_put_be32(work + 1, mep_get_be32(work + 1) - 1u);
        changed = true;
        if (by == SIM_PF_KIND_COUNT)
            by = SIM_PF_SEQ_LAST;
        book(pf, sl, 1);
    }
    if (!changed)
        return SIM_METER_FAULT_PASS;
    memcpy(out->bytes, work, wl);
    out->len = wl;
    out->action = SIM_METER_FAULT_REPLACE_BARE;
    out->by = by;
    return out->action;
}

/* S30 identity strings: BT01 model (bytes 4-11) and ET03 serial (0-29). */
static void strings_for(const char *variant, uint8_t model[8], uint8_t serial[30])
{
    memset(serial, ' ', 30);
    if (strcmp(variant, "quote") == 0) {
        memcpy(model, "Q\"MODEL\"", 8);
        memcpy(serial, "SN\"4711\"", 8);
    } else if (strcmp(variant, "backslash") == 0) {
        memcpy(model, "C:\\MEP\\X", 8);
        memcpy(serial, "SN\\4711\\", 8);
    } else if (strcmp(variant, "ff") == 0) {
        memcpy(model, "MODEL\xFF\xFF\xFF", 8);
        memset(serial, 0xFF, 30);
        memcpy(serial, "4711", 4);
    } else if (strcmp(variant, "nul") == 0) {
        memcpy(model, "MODEL\0\0\0", 8);
        memset(serial, 0x00, 30);
        memcpy(serial, "4711", 4);
    } else if (strcmp(variant, "spaces") == 0) {
        memcpy(model, "MOD     ", 8);
        memcpy(serial, "   4711", 7);
    } else { /* mixed: quote, backslash, control, invalid UTF-8, 0xFF, NUL */
        memcpy(model, "\"\\\xFF\0ab\xC3\x28", 8);
        memcpy(serial, "\"4\\7\x01\x7F\xC3\x28\xFF\0 ", 11);
    }
}

bool sim_pfault_on_tls(sim_pfault *pf, uint8_t tls_code, uint64_t now_ms, sim_pf_tls *out)
{
    memset(out, 0, sizeof *out);
    update(pf, now_ms * 1000u);
    sim_pfault_slot *sl;
    if (tls_code == MEP_TLS_HANDSHAKE && (sl = find(pf, SIM_PF_TLS_CORRUPT_HS)) && chance(pf, sl->spec.p)) {
        out->flip_reply = true;
        out->by = SIM_PF_TLS_CORRUPT_HS;
    } else if (tls_code == MEP_TLS_TABLE && (sl = find(pf, SIM_PF_TLS_DROP_SESSION)) && chance(pf, sl->spec.p)) {
        out->drop_session = true;
        out->by = SIM_PF_TLS_DROP_SESSION;
    } else if (tls_code == MEP_TLS_HANDSHAKE_CONT && (sl = find(pf, SIM_PF_TLS_WRONG_PSK))) {
        out->fail_finished = true;
        out->by = SIM_PF_TLS_WRONG_PSK;
    } else {
        return false;
    }
    book(pf, sl, 1);
    return true;
}

void sim_pfault_on_table_read(sim_pfault *pf, uint16_t table, uint32_t off, uint8_t *out, size_t n,
                              uint64_t now_ms)
{
    update(pf, now_ms * 1000u);
    sim_pfault_slot *sl = find(pf, SIM_PF_STRINGS);
    if (!sl || (table != MEP_BT(1) && table != MEP_ET(3)))
        return;
    uint8_t model[8], serial[30];
    strings_for(sl->spec.variant, model, serial);
    const uint8_t *src = table == MEP_BT(1) ? model : serial;
    uint32_t f0 = table == MEP_BT(1) ? 4 : 0, flen = table == MEP_BT(1) ? 8 : 30;
    bool hit = false;
    for (uint32_t i = 0; i < flen; i++) {
        uint64_t at = (uint64_t)f0 + i;
        if (at >= off && at < (uint64_t)off + n) {
            out[at - off] = src[i];
            hit = true;
        }
    }
    if (hit) {
        sl->injected++;
        pf->c.injected[SIM_PF_STRINGS]++;
    }
}

size_t sim_pfault_tx(sim_pfault *pf, uint8_t *buf, size_t n, size_t cap, uint64_t now_us)
{
    update(pf, now_us);
    pf->pause_at = 0;
    pf->pause_us = 0;
    bool alert = n == 2 && buf[0] == 0 && buf[1] == 0;
    sim_pfault_slot *sl = find(pf, SIM_PF_ALERT_SPLIT);
    if (!sl || alert || n < 3 || n + 2 > cap || !chance(pf, sl->spec.p))
        return n;
    /* S26: `00 00` immediately followed by the reply, which the module then
     * finds incomplete: pause 0..gap_us after `split` bytes of the reply. */
    memmove(buf + 2, buf, n);
    buf[0] = buf[1] = 0;
    size_t split = sl->spec.split;
    if (split == 0 || split >= n)
        split = 1 + (size_t)(sim_fault_rng_next(&pf->rng) % (n - 1));
    pf->pause_at = 2 + split;
    pf->pause_us = sl->spec.gap_us ? (uint32_t)(sim_fault_rng_next(&pf->rng) % (sl->spec.gap_us + 1u)) : 0;
    book(pf, sl, 1);
    return n + 2;
}

bool sim_pfault_tx_pause(const sim_pfault *pf, size_t *at, uint32_t *pause_us)
{
    if (!pf->pause_at)
        return false;
    *at = pf->pause_at;
    *pause_us = pf->pause_us;
    return true;
}

/* Units (pairs or bytes) that should have gone out by now_us since the start. */
static uint64_t units_due(const sim_pfault_slot *sl, uint64_t now_us)
{
    uint64_t el = now_us - sl->start_us;
    if (sl->spec.kind == SIM_PF_ALERT_STORM)
        return el / ((uint64_t)sl->spec.period_ms * 1000u) + 1u;
    return el * sl->spec.rate / 1000000u + 1u;
}

size_t sim_pfault_due(sim_pfault *pf, uint64_t now_us, uint8_t *out, size_t cap)
{
    update(pf, now_us);
    for (size_t i = 0; i < SIM_PFAULT_MAX; i++) {
        sim_pfault_slot *sl = &pf->slot[i];
        if (!sl->id || (sl->spec.kind != SIM_PF_ALERT_STORM && sl->spec.kind != SIM_PF_ZERO_STREAM) ||
            now_us < sl->start_us)
            continue;
        uint64_t due = units_due(sl, now_us);
        if (due <= sl->emitted)
            continue;
        /* After a late wake-up send at most 100 ms worth, not the backlog. */
        uint64_t max_units = sl->spec.kind == SIM_PF_ALERT_STORM ? 100u / sl->spec.period_ms + 1u
                                                                 : sl->spec.rate / 10u + 1u;
        if (due - sl->emitted > max_units)
            sl->emitted = due - max_units;
        uint64_t units = due - sl->emitted;
        size_t unit_bytes = sl->spec.kind == SIM_PF_ALERT_STORM ? 2 : 1;
        if (units * unit_bytes > cap)
            units = cap / unit_bytes;
        if (sl->spec.count && units > sl->spec.count - sl->injected)
            units = sl->spec.count - sl->injected;
        if (units == 0)
            continue;
        memset(out, 0, units * unit_bytes);
        sl->emitted += units;
        book(pf, sl, units);
        return units * unit_bytes;
    }
    return 0;
}

uint64_t sim_pfault_next_wake(const sim_pfault *pf, uint64_t now_us)
{
    (void)now_us;
    uint64_t t = UINT64_MAX;
    for (size_t i = 0; i < SIM_PFAULT_MAX; i++) {
        const sim_pfault_slot *sl = &pf->slot[i];
        if (!sl->id)
            continue;
        uint64_t end = sim_fault_end_us(sl->start_us, sl->spec.duration_ms);
        if (end < t)
            t = end;
        uint64_t next = UINT64_MAX;
        if (sl->spec.kind == SIM_PF_ALERT_STORM)
            next = sl->start_us + sl->emitted * (uint64_t)sl->spec.period_ms * 1000u;
        else if (sl->spec.kind == SIM_PF_ZERO_STREAM)
            next = sl->start_us + (sl->emitted * 1000000u + sl->spec.rate - 1u) / sl->spec.rate;
        if (next < t)
            t = next;
    }
    return t;
}
