/* Check suite: the pure sim_line timing core (sim_line.h, no libev, no
 * device) against a real sim_meter, with time stepped by the test in 100 us
 * ticks and every byte the core emits recorded with the tick it left on.
 *
 * Rules checked (docs/mep.md 4 unless noted): the 50 ms gap abort (49 ms
 * completes, 51 ms aborts, also with no further byte), an oversize length
 * discards until a gap, the 100 ms request throttle delays and never drops,
 * responses leave in 117-byte segments with 25 ms pauses, pacing at 9600 and
 * 115200 baud with 10 (8N1) or 11 (8E1) bits per character, alert `00 00`
 * timing (>= 1 s apart, not within 1 s of a received byte, never inside a
 * response), ENABLE off = heard but not answered, transceiver off = nothing
 * heard (docs/module-behaviour.md 2), a baud change written to ET13 applied
 * only after the response is out (docs/mep.md 2), and the meter's turnaround
 * (policy reply_delay_ms + seeded jitter, from a request's last byte to its
 * reply's first, well inside the client's 500 ms). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "mep_digest.h"
#include "mep_frame.h"
#include "guide_meter.h"
#include "sim_line.h"
#include "sim_profile.h"

static const uint8_t MAK[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const uint8_t MBK[16] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};

#define STEP_US 100u
#define MAX_REC 16384

typedef struct {
    sim_profile prof;
    sim_meter *m;
    sim_line l;
    uint32_t seq;
    uint64_t now;                 /* test time, us */
    uint8_t out[MAX_REC];         /* every byte emitted ... */
    uint64_t at[MAX_REC];         /* ... and the tick it left on */
    size_t n;
    uint64_t alert_at[32];        /* ticks where an alert started */
    size_t n_alerts;
    size_t resp_first[32];        /* index in out[] of each response's first byte */
    uint64_t resp_start[32];      /* tick each response started */
    size_t n_resp;
} lt;

static void lt_open(lt *t, uint32_t baud, unsigned bits)
{
    char err[300];
    memset(t, 0, sizeof *t);
    sim_meter_cfg cfg;
    guide_meter_cfg(&t->prof, &cfg, "line");
    t->now = 10000000u; /* 10 s: nothing "recent" at start */
    t->m = sim_meter_new(&cfg, t->now / 1000u, err, sizeof err);
    ck_assert_msg(t->m != NULL, "%s", err);
    t->seq = 1000;
    sim_line_init(&t->l, t->m, baud, bits);
}

static void lt_close(lt *t)
{
    sim_meter_free(t->m);
    sim_profile_free(&t->prof);
}

/* Run the core tick by tick up to and including `until`. */
static void run_to(lt *t, uint64_t until)
{
    for (; t->now <= until; t->now += STEP_US) {
        uint64_t alerts = t->l.c.alerts, resps = t->l.c.responses;
        uint8_t buf[64];
        size_t k;
        while ((k = sim_line_poll(&t->l, t->now, buf, sizeof buf)) > 0) {
            for (size_t i = 0; i < k && t->n < MAX_REC; i++) {
                t->out[t->n] = buf[i];
                t->at[t->n++] = t->now;
            }
        }
        if (t->l.c.responses != resps && t->n_resp < 32) {
            t->resp_start[t->n_resp] = t->now;
            t->resp_first[t->n_resp++] = t->n - (t->l.tx_active ? t->l.tx_pos : 0);
        }
        if (t->l.c.alerts != alerts && t->n_alerts < 32)
            t->alert_at[t->n_alerts++] = t->now;
    }
    t->now = until;
}

static void run_for(lt *t, uint64_t us) { run_to(t, t->now + us); }

/* A signed request frame (docs/mep.md 3, App. A) with the next sequence number. */
static size_t mk(lt *t, const uint8_t *key, const uint8_t *msg, size_t n, uint8_t *f)
{
    memcpy(f + 2, msg, n);
    mep_put_be32(f + 2 + n, t->seq++);
    mep_digest(key, f + 2, n + 4, f + 6 + n);
    mep_put_be16(f, (uint16_t)(n + 12));
    return n + 14;
}

static size_t mk_read(lt *t, uint16_t table, uint32_t off, uint16_t cnt, uint8_t *f)
{
    uint8_t q[8] = {0x3F};
    mep_put_be16(q + 1, table);
    mep_put_be24(q + 3, off);
    mep_put_be16(q + 6, cnt);
    return mk(t, MAK, q, 8, f);
}

static void send(lt *t, const uint8_t *f, size_t n) { sim_line_rx(&t->l, f, n, t->now); }

/* One whole read of BT52 (off 0, 4 bytes) sent, then 200 ms of line time;
 * returns the request's length. */
static size_t ask_bt52(lt *t)
{
    uint8_t f[32];
    size_t n = mk_read(t, MEP_BT(52), 0, 4, f);
    send(t, f, n);
    run_for(t, 200000);
    return n;
}

/* Register a client (ET50 write with MBK), so alerts can stand (docs/mep.md 10.3). */
static void reg(lt *t)
{
    uint8_t q[8 + 31] = {0x4F};
    mep_put_be16(q + 1, MEP_ET(50));
    mep_put_be24(q + 3, 0);
    mep_put_be16(q + 6, 31);
    q[8] = 0x80 | 0x11;
    q[9] = 0x01;
    q[10] = 0x02;
    q[11] = 5;
    q[8 + 30] = 0x01;
    uint8_t f[80];
    size_t n = mk(t, MBK, q, sizeof q, f);
    send(t, f, n);
    run_for(t, 200000);
    ck_assert_uint_eq(t->l.c.responses, 1);
    ck_assert_uint_eq(t->out[t->resp_first[0] + 2], 0x00); /* OK */
}

/* ---- framing ---- */

START_TEST(test_gap_49_ms_completes_51_ms_aborts)
{
    for (int gap_ms = 49; gap_ms <= 51; gap_ms += 2) {
        lt t;
        lt_open(&t, 9600, 10);
        uint8_t f[32];
        size_t n = mk_read(&t, MEP_BT(52), 0, 4, f);
        send(&t, f, 5);
        run_for(&t, (uint64_t)gap_ms * 1000u);
        send(&t, f + 5, n - 5);
        run_for(&t, 300000);
        if (gap_ms == 49) {
            ck_assert_uint_eq(t.l.c.gap_aborts, 0);
            ck_assert_uint_eq(t.l.c.frames_rx, 1);
            ck_assert_uint_eq(t.l.c.responses, 1);
        } else {
            ck_assert_uint_ge(t.l.c.gap_aborts, 1);
            ck_assert_uint_eq(t.l.c.frames_rx, 0);
            ck_assert_uint_eq(t.l.c.responses, 0);
            ck_assert_uint_eq(t.n, 0); /* nothing said on the wire */
        }
        lt_close(&t);
    }
}
END_TEST

START_TEST(test_gap_abort_without_further_bytes)
{
    lt t;
    lt_open(&t, 9600, 10);
    uint8_t f[32];
    mk_read(&t, MEP_BT(52), 0, 4, f);
    uint64_t t0 = t.now;
    send(&t, f, 6);
    /* the core asks to be woken for the gap rule */
    uint64_t w = sim_line_next_wake(&t.l, t.now);
    ck_assert_uint_le(w, t0 + 52000u);
    run_to(&t, t0 + 49000u);
    ck_assert_uint_eq(t.l.c.gap_aborts, 0);
    run_to(&t, t0 + 52000u);
    ck_assert_uint_eq(t.l.c.gap_aborts, 1);
    /* a whole frame afterwards is served normally */
    uint8_t g[32];
    size_t n = mk_read(&t, MEP_BT(52), 0, 4, g);
    send(&t, g, n);
    run_for(&t, 200000);
    ck_assert_uint_eq(t.l.c.frames_rx, 1);
    ck_assert_uint_eq(t.l.c.responses, 1);
    lt_close(&t);
}
END_TEST

START_TEST(test_oversize_discards_until_a_gap)
{
    lt t;
    lt_open(&t, 9600, 10);
    static const uint8_t big[2] = {0x01, 0xFF}; /* 511 > 476 */
    uint8_t f[32];
    size_t n = mk_read(&t, MEP_BT(52), 0, 4, f);
    send(&t, big, 2);
    run_for(&t, 10000);
    send(&t, f, n); /* within 50 ms: still discarded */
    run_for(&t, 30000);
    send(&t, f, n);
    run_for(&t, 30000);
    ck_assert_uint_eq(t.l.c.oversize, 1);
    ck_assert_uint_eq(t.l.c.frames_rx, 0);
    ck_assert_uint_eq(t.n, 0);
    run_for(&t, 60000); /* the gap */
    t.seq--;            /* the discarded frame's number is still unused */
    n = ask_bt52(&t);
    ck_assert_uint_eq(t.l.c.frames_rx, 1);
    ck_assert_uint_eq(t.l.c.responses, 1);
    lt_close(&t);
}
END_TEST

/* ---- throttle ---- */

START_TEST(test_throttle_delays_never_drops)
{
    lt t;
    lt_open(&t, 115200, 10);
    sim_meter_set_reply_delay(t.m, 0, 0); /* the throttle alone (turnaround: below) */
    uint8_t f[3][32];
    size_t n[3];
    for (int i = 0; i < 3; i++)
        n[i] = mk_read(&t, MEP_BT(52), 0, 4, f[i]);
    uint64_t t0 = t.now;
    send(&t, f[0], n[0]);
    run_for(&t, 20000);
    send(&t, f[1], n[1]); /* 20 ms after the first */
    run_for(&t, 10000);
    send(&t, f[2], n[2]); /* 30 ms after the first */
    run_to(&t, t0 + 400000);
    ck_assert_uint_eq(t.l.c.frames_rx, 3);
    ck_assert_uint_eq(t.l.c.responses, 3);
    ck_assert_uint_eq(t.l.c.queue_overflow, 0);
    ck_assert_uint_ge(t.l.c.throttled, 2);
    ck_assert_uint_eq(t.n_resp, 3);
    ck_assert_uint_lt(t.resp_start[0], t0 + 2000);
    /* one request per 100 ms: responses start >= 100 ms apart */
    ck_assert_uint_ge(t.resp_start[1], t.resp_start[0] + 100000u);
    ck_assert_uint_ge(t.resp_start[2], t.resp_start[1] + 100000u);
    ck_assert_uint_lt(t.resp_start[2], t0 + 210000u); /* held, not lost or late */
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(t.out[t.resp_first[i] + 2], 0x00); /* all answered OK, in order */
    lt_close(&t);
}
END_TEST

/* ---- pacing and segments ---- */

START_TEST(test_format_bits)
{
    ck_assert_uint_eq(sim_line_format_bits("8N1"), 10);
    ck_assert_uint_eq(sim_line_format_bits("8E1"), 11);
    ck_assert_uint_eq(sim_line_format_bits("7E1"), 10);
    ck_assert_uint_eq(sim_line_format_bits("8N2"), 11);
    ck_assert_uint_eq(sim_line_format_bits("9N1"), 0);
    ck_assert_uint_eq(sim_line_format_bits("8X1"), 0);
}
END_TEST

START_TEST(test_tx_duration_formula)
{
    lt t;
    lt_open(&t, 9600, 10);
    /* n x 10 bits / 9600 + 25 ms per full 117-byte segment followed by more */
    ck_assert_uint_eq(sim_line_tx_duration_us(&t.l, 0), 0);
    ck_assert_uint_eq(sim_line_tx_duration_us(&t.l, 100), 104166);
    ck_assert_uint_eq(sim_line_tx_duration_us(&t.l, 117), 121875);
    ck_assert_uint_eq(sim_line_tx_duration_us(&t.l, 118), 122916 + 25000);
    ck_assert_uint_eq(sim_line_tx_duration_us(&t.l, 234), 243750 + 25000);
    ck_assert_uint_eq(sim_line_tx_duration_us(&t.l, 235), 244791 + 50000);
    t.l.bits_per_char = 11; /* 8E1 */
    ck_assert_uint_eq(sim_line_tx_duration_us(&t.l, 100), 114583);
    t.l.baud = 115200;
    t.l.bits_per_char = 10;
    ck_assert_uint_eq(sim_line_tx_duration_us(&t.l, 100), 8680);
    ck_assert_uint_eq(sim_line_tx_duration_us(&t.l, 235), 20399 + 50000);
    lt_close(&t);
}
END_TEST

/* A long read at each rate/format: the bytes leave no earlier than their
 * wire time (less the core's documented SIM_LINE_EARLY_US batching), the
 * whole frame takes its wire time, and segment boundaries carry the pause. */
START_TEST(test_pacing_and_segments)
{
    static const struct {
        uint32_t baud;
        unsigned bits;
    } cases[] = {{9600, 10}, {9600, 11}, {115200, 10}, {115200, 11}};
    lt t;
    lt_open(&t, cases[_i].baud, cases[_i].bits);
    int size = sim_tables_size(sim_meter_tables(t.m), MEP_ET(13));
    ck_assert_int_ge(size, 240);
    uint16_t cnt = (uint16_t)(size > 300 ? 300 : size);
    uint8_t f[32];
    size_t n = mk_read(&t, MEP_ET(13), 0, cnt, f);
    send(&t, f, n);
    run_for(&t, 1500000);
    ck_assert_uint_eq(t.n_resp, 1);
    size_t len = (size_t)cnt + 13;
    ck_assert_uint_eq(t.n, len);
    ck_assert_uint_eq(mep_get_be16(t.out), len - 2);
    uint64_t start = t.resp_start[0];
    double byte_us = (double)cases[_i].bits * 1e6 / cases[_i].baud;
    for (size_t k = 0; k < len; k++) {
        uint64_t due = start + (uint64_t)((double)(k + 1) * byte_us) + (k / 117) * 25000u;
        ck_assert_msg(t.at[k] + SIM_LINE_EARLY_US + STEP_US >= due, "byte %zu at +%llu us, due +%llu", k,
                      (unsigned long long)(t.at[k] - start), (unsigned long long)(due - start));
        ck_assert_msg(t.at[k] <= due + 5000u, "byte %zu late: +%llu us, due +%llu", k,
                      (unsigned long long)(t.at[k] - start), (unsigned long long)(due - start));
    }
    /* the 25 ms pauses sit exactly at 117 and 234, counted from the length byte */
    for (size_t k = 1; k < len; k++) {
        uint64_t gap = t.at[k] - t.at[k - 1];
        if (k % 117 == 0)
            ck_assert_msg(gap >= 25000u, "no pause before byte %zu (%llu us)", k, (unsigned long long)gap);
        else
            ck_assert_msg(gap < 20000u, "pause inside a segment before byte %zu (%llu us)", k,
                          (unsigned long long)gap);
    }
    uint64_t span = t.at[len - 1] - start;
    uint64_t wire = sim_line_tx_duration_us(&t.l, len);
    ck_assert_uint_ge(span + SIM_LINE_EARLY_US + STEP_US, wire);
    ck_assert_uint_le(span, wire + 5000u);
    lt_close(&t);
}
END_TEST

/* ---- alerts ---- */

START_TEST(test_alert_timing)
{
    lt t;
    lt_open(&t, 9600, 10);
    reg(&t);
    uint64_t last_rx = t.now - 200000; /* reg was sent 200 ms ago */
    sim_meter_raise_alert(t.m, 0x01);
    ck_assert(sim_meter_alert_pending(t.m));
    run_to(&t, last_rx + 3500000u);
    ck_assert_uint_ge(t.n_alerts, 2);
    /* not within 1 s of a received byte; then at most one per second */
    ck_assert_uint_ge(t.alert_at[0], last_rx + 1000000u);
    ck_assert_uint_le(t.alert_at[0], last_rx + 1010000u);
    for (size_t i = 1; i < t.n_alerts; i++)
        ck_assert_uint_ge(t.alert_at[i], t.alert_at[i - 1] + 1000000u);
    /* the alert sequence on the wire is 00 00 */
    size_t tail = t.n;
    ck_assert_uint_ge(tail, 2);
    ck_assert_uint_eq(t.out[tail - 1], 0);
    ck_assert_uint_eq(t.out[tail - 2], 0);

    /* a byte from the client pushes the next alert to >= 1 s after it */
    size_t before = t.n_alerts;
    uint64_t last_alert = t.alert_at[before - 1];
    run_to(&t, last_alert + 600000u);
    static const uint8_t stray[1] = {0x00};
    send(&t, stray, 1);
    uint64_t rx = t.now;
    run_to(&t, rx + 1600000u);
    ck_assert_uint_gt(t.n_alerts, before);
    ck_assert_uint_ge(t.alert_at[before], rx + 1000000u);
    lt_close(&t);
}
END_TEST

START_TEST(test_alert_never_inside_a_response)
{
    lt t;
    lt_open(&t, 1200, 10); /* slow line: a 300-byte reply lasts ~2.6 s > the 1 s hold-off */
    reg(&t);
    sim_meter_raise_alert(t.m, 0x01);
    uint8_t f[32];
    size_t n = mk_read(&t, MEP_ET(13), 0, 300, f);
    send(&t, f, n);
    run_for(&t, 6000000);
    ck_assert_uint_eq(t.n_resp, 2);
    size_t first = t.resp_first[1];
    size_t len = 313;
    ck_assert_uint_ge(t.n, first + len);
    uint64_t resp_end = t.at[first + len - 1];
    ck_assert_uint_gt(resp_end, t.resp_start[1] + 2000000u);
    ck_assert_uint_ge(t.n_alerts, 1);
    for (size_t i = 0; i < t.n_alerts; i++)
        ck_assert_msg(t.alert_at[i] < t.resp_start[1] || t.alert_at[i] >= resp_end,
                      "alert %zu at +%llu ms inside the response (+0..+%llu ms)", i,
                      (unsigned long long)(t.alert_at[i] - t.resp_start[1]) / 1000u,
                      (unsigned long long)(resp_end - t.resp_start[1]) / 1000u);
    /* and the response bytes are contiguous: no 00 00 spliced in */
    ck_assert_uint_eq(mep_get_be16(t.out + first), len - 2);
    lt_close(&t);
}
END_TEST

/* ---- module control lines (docs/module-behaviour.md 2) ---- */

START_TEST(test_enable_off_heard_but_no_reply)
{
    lt t;
    lt_open(&t, 9600, 10);
    sim_meter_set_line(t.m, SIM_METER_ENABLE, false, t.now / 1000u);
    ask_bt52(&t);
    ck_assert_uint_eq(t.l.c.frames_rx, 1);
    ck_assert_uint_eq(sim_meter_counters_get(t.m)->frames_rx, 1); /* the meter acted on it */
    ck_assert_uint_eq(t.l.c.muted, 1);
    ck_assert_uint_gt(t.l.c.tx_lost, 0);
    ck_assert_uint_eq(t.n, 0);
    /* ENABLE back on: the next request is answered */
    sim_meter_set_line(t.m, SIM_METER_ENABLE, true, t.now / 1000u);
    ask_bt52(&t);
    ck_assert_uint_gt(t.n, 0);
    ck_assert_uint_eq(t.out[2], 0x00);
    lt_close(&t);
}
END_TEST

START_TEST(test_transceiver_off_nothing_heard)
{
    lt t;
    lt_open(&t, 9600, 10);
    sim_meter_set_line(t.m, SIM_METER_TRANSCEIVER, false, t.now / 1000u);
    size_t n = ask_bt52(&t);
    ck_assert_uint_eq(t.l.c.deaf_bytes, n);
    ck_assert_uint_eq(t.l.c.bytes_rx, 0);
    ck_assert_uint_eq(t.l.c.frames_rx, 0);
    ck_assert_uint_eq(sim_meter_counters_get(t.m)->frames_rx, 0);
    ck_assert_uint_eq(t.n, 0);
    lt_close(&t);
}
END_TEST

/* ---- baud change (docs/mep.md 2) ---- */

START_TEST(test_baud_change_applies_after_the_response)
{
    lt t;
    lt_open(&t, 9600, 10);
    reg(&t);
    /* ET13 offset 270 = the baud code of the registered client (19200 = 8) */
    uint8_t q[9] = {0x4F, 0x08, 0x0D, 0x00, 0x01, 0x0E, 0x00, 0x01, 8};
    uint8_t f[32];
    size_t n = mk(&t, MAK, q, sizeof q, f);
    sim_meter_set_reply_delay(t.m, 20, 0); /* the reply starts 20 ms after the request */
    send(&t, f, n);
    /* while the 11-byte reply is on the wire the line stays at 9600 */
    run_for(&t, 25000);
    ck_assert(t.l.tx_active);
    ck_assert_uint_eq(t.l.baud, 9600);
    ck_assert(!t.l.baud_dirty);
    run_for(&t, 200000);
    ck_assert_uint_eq(t.n_resp, 2);
    ck_assert_uint_eq(t.out[t.resp_first[1] + 2], 0x00);
    ck_assert_uint_eq(t.l.baud, 19200);
    ck_assert(t.l.baud_dirty); /* the edge reprograms the device */
    ck_assert_uint_eq(t.l.c.baud_changes, 1);
    /* the reply itself went out at 9600: 11 bytes x 10 bits = 11.46 ms */
    size_t first = t.resp_first[1];
    ck_assert_uint_ge(t.at[first + 10] - t.resp_start[1] + SIM_LINE_EARLY_US + STEP_US, 11458u);
    lt_close(&t);
}
END_TEST

/* ---- turnaround (docs/mep.md 4; sim_profile.h reply_delay_ms) ---- */

/* Request i is sent whole at one tick; its reply's first byte must leave
 * its turnaround later. Returns the turnaround of each of n requests (us). */
static void turnarounds(lt *t, uint64_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t f[32];
        size_t len = mk_read(t, MEP_BT(52), 0, 4, f);
        send(t, f, len);
        uint64_t done = t->now;
        size_t before = t->n_resp;
        run_for(t, 600000); /* > 100 ms throttle: each request stands alone */
        ck_assert_uint_eq(t->n_resp, before + 1);
        ck_assert_uint_eq(t->out[t->resp_first[before] + 2], 0x00);
        out[i] = t->resp_start[before] - done;
    }
}

START_TEST(test_turnaround_default_is_delay_plus_seeded_jitter)
{
    ck_assert_uint_lt(SIM_POLICY_DEFAULT_REPLY_DELAY_MS + SIM_POLICY_DEFAULT_REPLY_JITTER_MS, 500u);
    lt a, b;
    lt_open(&a, 9600, 10);
    lt_open(&b, 9600, 10);
    uint64_t ta[12], tb[12];
    turnarounds(&a, ta, 12);
    turnarounds(&b, tb, 12);
    uint64_t lo = (uint64_t)SIM_POLICY_DEFAULT_REPLY_DELAY_MS * 1000u;
    uint64_t hi = lo + (uint64_t)SIM_POLICY_DEFAULT_REPLY_JITTER_MS * 1000u;
    bool varies = false;
    for (size_t i = 0; i < 12; i++) {
        /* the core starts a due reply on the next 100 us tick */
        ck_assert_msg(ta[i] >= lo && ta[i] <= hi + STEP_US, "turnaround %zu: %llu us", i,
                      (unsigned long long)ta[i]);
        ck_assert_uint_eq(ta[i], tb[i]); /* same seed, same jitter: runs repeat */
        varies |= ta[i] != ta[0];
    }
    ck_assert_msg(varies, "the jitter never moved the turnaround");
    lt_close(&a);
    lt_close(&b);
}
END_TEST

START_TEST(test_turnaround_follows_the_policy)
{
    lt t;
    lt_open(&t, 9600, 10);
    uint64_t ta[3];
    sim_meter_set_reply_delay(t.m, 250, 0); /* a slow meter, still inside 500 ms */
    turnarounds(&t, ta, 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_le(ta[i] - 250000u, STEP_US);
    sim_meter_set_reply_delay(t.m, 0, 0);
    turnarounds(&t, ta, 1);
    ck_assert_uint_le(ta[0], STEP_US);
    /* no alert or other request slips in while the meter takes its time */
    ck_assert_uint_eq(t.n_alerts, 0);
    lt_close(&t);
}
END_TEST

/* The throttle counts from when the meter took the previous request. */
START_TEST(test_turnaround_and_throttle_combine)
{
    lt t;
    lt_open(&t, 115200, 10);
    sim_meter_set_reply_delay(t.m, 60, 0);
    uint8_t f[2][32];
    size_t n[2];
    for (int i = 0; i < 2; i++)
        n[i] = mk_read(&t, MEP_BT(52), 0, 4, f[i]);
    uint64_t t0 = t.now;
    send(&t, f[0], n[0]);
    run_for(&t, 10000);
    send(&t, f[1], n[1]);
    run_to(&t, t0 + 400000);
    ck_assert_uint_eq(t.n_resp, 2);
    ck_assert_uint_le(t.resp_start[0] - (t0 + 60000u), STEP_US);
    /* the second: its own 60 ms turnaround has passed, the 100 ms rule decides */
    ck_assert_uint_le(t.resp_start[1] - (t.resp_start[0] + 100000u), STEP_US);
    lt_close(&t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("line");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gap_49_ms_completes_51_ms_aborts);
    tcase_add_test(tc, test_gap_abort_without_further_bytes);
    tcase_add_test(tc, test_oversize_discards_until_a_gap);
    tcase_add_test(tc, test_throttle_delays_never_drops);
    tcase_add_test(tc, test_format_bits);
    tcase_add_test(tc, test_tx_duration_formula);
    tcase_add_loop_test(tc, test_pacing_and_segments, 0, 4);
    tcase_add_test(tc, test_alert_timing);
    tcase_add_test(tc, test_alert_never_inside_a_response);
    tcase_add_test(tc, test_enable_off_heard_but_no_reply);
    tcase_add_test(tc, test_transceiver_off_nothing_heard);
    tcase_add_test(tc, test_baud_change_applies_after_the_response);
    tcase_add_test(tc, test_turnaround_default_is_delay_plus_seeded_jitter);
    tcase_add_test(tc, test_turnaround_follows_the_policy);
    tcase_add_test(tc, test_turnaround_and_throttle_combine);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
