/* Check suite: the firmware core (mepc_client) against an in-process
 * emulated meter (sim_meter) in virtual time.
 *
 * A small rig stands in for the serial line: frames the client writes go to
 * sim_meter_on_frame if the line is up (transceiver and ENABLE on); replies
 * come back after a short delay; the rig emits `00 00` alerts the way the
 * meter's line layer would (docs/mep.md 4: once per second, 1 s hold-off), and
 * injects the faults of docs/module-behaviour.md 9 (lost reply, bit flip, stale
 * reply, stray bytes, zero stream, echo, dead meter). Tests assert what a
 * good module does per scenario. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mep_digest.h"
#include "mepc.h"
#include "sim_meter.h"
#include "sim_profile.h"
#include "check_run.h"

#define T0_UTC_MS 1735689600000LL  /* 2025-01-01 00:00:00 UTC */
#define WALL0 1000000ull
#define MAXQ 64
#define MWALL(r) (WALL0 + (uint32_t)((r)->now - (r)->t0))

/* Client clock at rig start: tests run in time relative to it, so one can
 * start just before the uint32 wrap. */
static uint32_t g_t0;

typedef struct {
    uint32_t at;
    size_t n;
    uint8_t b[700];
} delivery;

typedef struct {
    sim_profile prof;
    sim_meter *m;
    mepc_client c;
    mepc_config cfg;
    mepc_hal hal;
    uint32_t now, t0;         /* client time; the meter sees WALL0 + (now - t0) */
    bool xcvr, enable;
    uint8_t out[8][128];
    size_t outn[8];
    int nout;
    delivery q[MAXQ];
    int nq;
    uint32_t last_frame_rx, last_alert;
    /* faults */
    bool dead, echo;
    int drop_replies, flip_replies, prefix_zero, junk_after, stale_replies, reseal_stale;
    bool zero_on;              /* a zero-byte stream until zero_until */
    uint32_t zero_until;
    int delay_replies;         /* deliver the next n replies late ... */
    uint32_t delay_ms;         /* ... by this much (S13) */
    int bt07_onp;              /* answer BT07 writes with 0x04 (sealed) */
    int et13_error;            /* answer the next ET13 reads with 0x05 (sealed) */
    uint8_t prev_reply[700];
    size_t prev_n;
    uint8_t prev_req_plain[128];
    /* observations */
    unsigned frames_to_meter, bt07_writes, et13_reads, enable_off, xcvr_off;
    bool verbose;
    uint8_t store[256];        /* the port's persistent store (mepc_hal.store_*) */
    size_t store_n;
    unsigned store_saves;
} rig;

static bool hal_store_load(void *ctx, void *blob, size_t len)
{
    rig *r = ctx;
    if (r->store_n != len)
        return false;
    memcpy(blob, r->store, len);
    return true;
}

static bool hal_store_save(void *ctx, const void *blob, size_t len)
{
    rig *r = ctx;
    ck_assert_uint_le(len, sizeof r->store);
    memcpy(r->store, blob, len);
    r->store_n = len;
    r->store_saves++;
    return true;
}

static size_t hal_write(void *ctx, const uint8_t *p, size_t n)
{
    rig *r = ctx;
    ck_assert_int_lt(r->nout, 8);
    ck_assert_uint_le(n, sizeof r->out[0]);
    memcpy(r->out[r->nout], p, n);
    r->outn[r->nout++] = n;
    return n;
}

static void hal_flush(void *ctx) { (void)ctx; }

static void hal_xcvr(void *ctx, bool on)
{
    rig *r = ctx;
    if (!on && r->xcvr)
        r->xcvr_off++;
    r->xcvr = on;
    sim_meter_line_event(r->m, "transceiver", on, MWALL(r));
}

static void hal_enable(void *ctx, bool on)
{
    rig *r = ctx;
    if (!on && r->enable)
        r->enable_off++;
    r->enable = on;
    sim_meter_line_event(r->m, "enable", on, MWALL(r));
}

static void hal_log(void *ctx, int level, const char *msg)
{
    rig *r = ctx;
    if (r->verbose || getenv("FW_TEST_VERBOSE"))
        fprintf(stderr, "[%8u] fw L%d %s\n", (unsigned)r->now, level, msg);
}

static void enqueue(rig *r, uint32_t at, const uint8_t *p, size_t n)
{
    ck_assert_int_lt(r->nq, MAXQ);
    ck_assert_uint_le(n, sizeof r->q[0].b);
    r->q[r->nq].at = at;
    r->q[r->nq].n = n;
    memcpy(r->q[r->nq].b, p, n);
    r->nq++;
}

static sim_meter *new_meter(rig *r, const sim_profile *p, uint32_t seq_start)
{
    sim_meter_cfg mc;
    char err[256];
    memset(&mc, 0, sizeof mc);
    mc.profile = p;
    memcpy(mc.mbk, p->mbk, 16);
    memcpy(mc.mak, p->mak, 16);
    mc.has_seq_start = true;
    mc.seq_start = seq_start;
    mc.seed = 42;
    mc.speed = 1.0;
    mc.start_utc_ms = T0_UTC_MS;
    mc.policy = p->policy;
    mc.name = "meter0";
    sim_meter *m = sim_meter_new(&mc, MWALL(r), err, sizeof err);
    ck_assert_msg(m != NULL, "sim_meter_new: %s", err);
    return m;
}

static void rig_setup(rig *r, const char *profile, void (*tweak)(rig *))
{
    char path[512], err[256];
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, "%s/meters/%s", FIXTURES_DIR, profile);
    ck_assert_msg(sim_profile_load(&r->prof, path, err, sizeof err) == 0, "%s", err);
    r->hal.ctx = r;
    r->hal.uart_write = hal_write;
    r->hal.uart_flush_rx = hal_flush;
    r->hal.transceiver_power = hal_xcvr;
    r->hal.meter_enable = hal_enable;
    r->hal.log = hal_log;
    r->hal.store_load = hal_store_load;
    r->hal.store_save = hal_store_save;
    mepc_config_defaults(&r->cfg);
    memcpy(r->cfg.mbk, r->prof.mbk, 16);
    r->last_alert = r->last_frame_rx = 0;
    r->now = r->t0 = g_t0;
    r->last_alert = r->last_frame_rx = r->now - 5000;
    if (getenv("FW_TEST_VERBOSE"))
        fprintf(stderr, "=== rig setup\n");
    if (tweak)
        tweak(r);
    r->m = new_meter(r, &r->prof, 0x12345678u);
    mepc_init(&r->c, &r->hal, &r->cfg, r->now);
}

static void rig_teardown(rig *r)
{
    sim_meter_free(r->m);
    sim_profile_free(&r->prof);
}

/* A frame from the client reaches the line. */
static void to_meter(rig *r, const uint8_t *f, size_t n)
{
    uint8_t resp[MEP_MAX_FRAME + 64];
    char log[256];
    r->frames_to_meter++;
    if (n >= 5 && f[2] == MEP_REQ_FULL_WRITE && mep_get_be16(f + 3) == 7)
        r->bt07_writes++;
    if (n >= 5 && f[2] == MEP_REQ_PARTIAL_READ && mep_get_be16(f + 3) == MEP_ET(13))
        r->et13_reads++;
    if (r->echo) {
        enqueue(r, r->now + 5 + (uint32_t)n, f, n);
        return;
    }
    if (r->dead || !r->xcvr || !r->enable)
        return;
    r->last_frame_rx = r->now;
    bool is_bt07 = n >= 5 && f[2] == MEP_REQ_FULL_WRITE && mep_get_be16(f + 3) == 7;
    bool is_et13 = n >= 5 && f[2] == MEP_REQ_PARTIAL_READ && mep_get_be16(f + 3) == MEP_ET(13);
    if ((is_bt07 && r->bt07_onp > 0) || (is_et13 && r->et13_error > 0)) {
        /* an error reply the meter would authenticate: code + digest over request + code */
        uint8_t e[11];
        if (is_bt07)
            r->bt07_onp--;
        else
            r->et13_error--;
        mep_put_be16(e, 9);
        e[2] = is_bt07 ? MEP_RSP_ONP : MEP_RSP_IAR;
        mep_digest_pair(r->cfg.mbk, f + 2, n - 2 - 8, e + 2, 1, e + 3);
        enqueue(r, r->now + 30, e, sizeof e);
        return;
    }
    size_t rn = sim_meter_on_frame(r->m, f, n, MWALL(r), resp, MEP_MAX_FRAME, log, sizeof log);
    if (r->verbose || getenv("FW_TEST_VERBOSE"))
        fprintf(stderr, "[%8u] meter %s\n", (unsigned)r->now, log);
    if (!rn)
        return;
    uint8_t keep[700];
    size_t keep_n = rn;
    memcpy(keep, resp, rn);
    uint32_t at = r->now + 20 + (uint32_t)rn;  /* ~1 ms per byte at 9600 baud */
    if (r->drop_replies > 0) {
        r->drop_replies--;
    } else if (r->stale_replies > 0 && r->prev_n) {
        r->stale_replies--;
        enqueue(r, at, r->prev_reply, r->prev_n);  /* S13/S14: the previous request's reply */
    } else if (r->reseal_stale > 0 && r->prev_n > 10 && r->prev_n != rn) {
        /* data of the previous request with a digest valid for this one (S14) */
        r->reseal_stale--;
        uint8_t fake[700];
        size_t body = r->prev_n - 2 - 8;
        memcpy(fake, r->prev_reply, r->prev_n);
        mep_digest_pair(r->cfg.mbk, f + 2, n - 2 - 8, fake + 2, body, fake + 2 + body);
        enqueue(r, at, fake, r->prev_n);
    } else {
        uint8_t x[720];
        size_t xn = 0;
        if (r->prefix_zero > 0) {
            r->prefix_zero--;
            x[xn++] = 0x00;
        }
        memcpy(x + xn, resp, rn);
        if (r->flip_replies > 0) {
            r->flip_replies--;
            x[xn + rn / 2] ^= 0x10;
        }
        xn += rn;
        if (r->delay_replies > 0) {
            r->delay_replies--;
            at += r->delay_ms;
        }
        if (r->junk_after > 0) {
            r->junk_after--;
            x[xn++] = 0x00;
            x[xn++] = 0x37;
            x[xn++] = 0x5A;
        }
        enqueue(r, at, x, xn);
    }
    memcpy(r->prev_reply, keep, keep_n);
    r->prev_n = keep_n;
    sim_meter_on_sent(r->m, WALL0 + (uint32_t)(at - r->t0));
}

static uint32_t rel(const rig *r) { return r->now - r->t0; }

/* Run the rig until `until` ms after its start. */
static void run_until(rig *r, uint32_t until)
{
    uint32_t next_tick = r->now;
    until += r->t0;
    while ((int32_t)(until - r->now) > 0) {
        /* deliveries due */
        for (int i = 0; i < r->nq;) {
            if ((int32_t)(r->now - r->q[i].at) >= 0) {
                delivery d = r->q[i];
                memmove(&r->q[i], &r->q[i + 1], (size_t)(r->nq - i - 1) * sizeof r->q[0]);
                r->nq--;
                mepc_rx(&r->c, d.b, d.n, r->now);
            } else {
                i++;
            }
        }
        if (r->zero_on && (int32_t)(r->zero_until - r->now) <= 0)
            r->zero_on = false;
        if (r->zero_on) {
            uint8_t z[20] = {0};
            mepc_rx(&r->c, z, sizeof z, r->now);
        }
        if ((int32_t)(r->now - next_tick) >= 0) {
            sim_meter_tick(r->m, MWALL(r));
            next_tick = r->now + 100;
        }
        /* the meter's alert sequence (docs/mep.md 4, 10.3) */
        if (!r->dead && !r->echo && r->enable && r->xcvr && r->nq == 0 && sim_meter_alert_pending(r->m) &&
            r->now - r->last_alert >= 1000 && r->now - r->last_frame_rx >= 1000) {
            const uint8_t z[2] = {0, 0};
            mepc_rx(&r->c, z, 2, r->now);
            sim_meter_alert_sent(r->m, MWALL(r));
            r->last_alert = r->now;
        }
        uint32_t w = mepc_run(&r->c, r->now);
        ck_assert_uint_ge(w, 1);
        ck_assert_uint_le(w, 1000);
        for (int i = 0; i < r->nout; i++)
            to_meter(r, r->out[i], r->outn[i]);
        r->nout = 0;
        uint32_t step = w < 50 ? w : 50;
        for (int i = 0; i < r->nq; i++) {
            uint32_t d = r->q[i].at - r->now;
            if ((int32_t)d > 0 && d < step)
                step = d;
        }
        if (r->zero_on && step > 10)
            step = 10;
        r->now += step;
    }
}

static const mepc_readings *rd(rig *r) { return mepc_get_readings(&r->c); }

static int64_t model_fwd(rig *r)
{
    sim_meter_advance(r->m, MWALL(r));
    return sim_model_register(sim_meter_model(r->m), SIM_REG_FWD_WH);
}

static void assert_healthy(rig *r)
{
    const mepc_readings *x = rd(r);
    ck_assert_msg(x->status == MEPC_ST_OK, "status %s: %s", mepc_status_name(x->status), x->status_text);
    ck_assert(x->energy_valid);
    ck_assert(!x->energy_suspect);
    ck_assert_int_eq(x->fwd_wh, x->raw_fwd_wh);
    int64_t truth = model_fwd(r);
    ck_assert_int_le(x->fwd_wh, truth);
    ck_assert_int_ge(x->fwd_wh, truth - 3);
    ck_assert(x->present_valid);
    const int32_t *v = x->bt28.v;
    int32_t sum = (v[26] - v[29]) + (v[27] - v[30]) + (v[28] - v[31]);
    ck_assert_int_le(abs((v[0] - v[1]) - sum), 3);  /* HA rule 8.4.5 */
}

/* ---- scenarios -------------------------------------------------------- */

START_TEST(test_boot_register_poll_values_equal_model)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 30000);
    const mepc_readings *x = rd(&r);
    assert_healthy(&r);
    ck_assert_str_eq(x->manufacturer, "NES");
    ck_assert_str_eq(x->model, "83331-3I");
    ck_assert_str_eq(x->utility_sn, "EMU3PH000000001");
    ck_assert_str_eq(x->sw_version, "57.4");  /* 3.72.04 = 0x3904 -> bytes 0x39, 0x04 */
    ck_assert(x->identity_valid);
    ck_assert(x->clock_valid);
    ck_assert_uint_eq(x->clock_s2000, (uint32_t)((T0_UTC_MS / 1000 - 946684800LL)) + (x->clock_set_at_ms - r.t0) / 1000u);
    ck_assert_int_eq(x->bt28.n, 55);
    ck_assert_int_eq(x->bt28.v[11], 50000);
    ck_assert(sim_meter_registered(r.m));
    ck_assert_uint_eq(x->seq_resyncs, 1);  /* S01: the first request earns one 0x0C */
    ck_assert_uint_eq(x->timeouts, 0);
    ck_assert_uint_eq(x->digest_rejects, 0);
    ck_assert_uint_eq(x->recovery_cycles, 0);
    ck_assert_uint_ge(x->polls_ok, 11);
    ck_assert_uint_le(x->polls_ok, 15);
    ck_assert_uint_eq(r.bt07_writes, 0);
    /* docs/mep.md 4: about one table read per second on average */
    ck_assert_uint_le(r.frames_to_meter, 30 + 15);
    ck_assert_uint_eq(sim_meter_counters_get(r.m)->auth_fail, 0);
    rig_teardown(&r);
}
END_TEST

static void tweak_last_seq(rig *r) { r->prof.policy.seq_reply = SIM_SEQ_REPLY_LAST; }

START_TEST(test_seq_reply_last_variant_s04)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", tweak_last_seq);
    run_until(&r, 20000);
    assert_healthy(&r);
    ck_assert_uint_eq(rd(&r)->seq_resyncs, 1);
    /* S03: another party moves the meter's counter mid-run: one 0x0C, then in step */
    sim_meter_set_next_seq(r.m, 0xA0000000u);
    run_until(&r, 40000);
    assert_healthy(&r);
    ck_assert_uint_eq(rd(&r)->seq_resyncs, 2);
    rig_teardown(&r);
}
END_TEST

static void tweak_wrong_key(rig *r) { r->cfg.mbk[3] ^= 0x55; }

START_TEST(test_wrong_key_auth_fail_no_readings_s06)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", tweak_wrong_key);
    run_until(&r, 120000);
    const mepc_readings *x = rd(&r);
    ck_assert_int_eq(x->status, MEPC_ST_AUTH_FAIL);
    ck_assert_ptr_nonnull(strstr(x->status_text, "0x0B"));
    ck_assert(!x->energy_valid);
    ck_assert(!x->present_valid);
    ck_assert_int_eq(x->fwd_wh, 0);
    ck_assert_uint_eq(x->polls_ok, 0);
    /* back-off 2 s doubling to 60 s: a handful of attempts in two minutes, not hundreds */
    ck_assert_uint_ge(x->auth_failures, 6);
    ck_assert_uint_le(x->auth_failures, 20);
    ck_assert_uint_eq(x->recovery_cycles, 0);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_corrupted_reply_rejected_and_reread_s10)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    assert_healthy(&r);
    uint32_t polls = rd(&r)->polls_ok;
    r.flip_replies = 3;
    run_until(&r, 30000);
    const mepc_readings *x = rd(&r);
    assert_healthy(&r);
    ck_assert_uint_eq(x->digest_rejects, 3);
    ck_assert_uint_eq(x->recovery_cycles, 0);
    ck_assert_uint_ge(x->polls_ok, polls + 5);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_reply_to_another_request_rejected_s14)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    assert_healthy(&r);
    int64_t before = rd(&r)->fwd_wh;
    r.stale_replies = 2;  /* whole previous frame: digest fails */
    run_until(&r, 20000);
    ck_assert_uint_eq(rd(&r)->digest_rejects, 2);
    r.reseal_stale = 2;   /* previous data, digest valid for this request: count check */
    run_until(&r, 30000);
    const mepc_readings *x = rd(&r);
    assert_healthy(&r);
    /* BT23 data resealed for BT28: count check; BT28 data for BT23: length check */
    ck_assert_uint_ge(x->mismatched_replies, 1);
    ck_assert_uint_eq(x->mismatched_replies + x->digest_rejects, 4);
    ck_assert_int_ge(x->fwd_wh, before);
    ck_assert_uint_eq(x->recovery_cycles, 0);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_stray_bytes_around_replies_s12)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    r.prefix_zero = 4;
    r.junk_after = 4;
    run_until(&r, 30000);
    const mepc_readings *x = rd(&r);
    assert_healthy(&r);
    ck_assert_uint_ge(x->stray_bytes, 4 + 12);
    ck_assert_uint_eq(x->timeouts, 0);
    ck_assert_uint_eq(x->recovery_cycles, 0);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_lost_reply_resend_without_cycle_s02)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    assert_healthy(&r);
    uint32_t resyncs = rd(&r)->seq_resyncs;
    r.drop_replies = 1;
    run_until(&r, 25000);
    const mepc_readings *x = rd(&r);
    assert_healthy(&r);
    ck_assert_uint_eq(x->timeouts, 1);
    ck_assert_uint_eq(x->resends, 1);
    ck_assert_uint_eq(x->seq_resyncs, resyncs + 1);  /* the identical resend is a replay: 0x0C */
    ck_assert_uint_eq(x->recovery_cycles, 0);
    ck_assert_uint_eq(r.enable_off, 0);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_dead_meter_bounded_retries_and_cycles_s08)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    assert_healthy(&r);
    int64_t held = rd(&r)->fwd_wh;
    unsigned frames0 = r.frames_to_meter;
    r.dead = true;
    run_until(&r, 15000 + 600000);
    const mepc_readings *x = rd(&r);
    ck_assert_int_eq(x->status, MEPC_ST_NO_REPLY);
    ck_assert_int_eq(x->fwd_wh, held);  /* last good value kept, never zero */
    ck_assert(x->energy_valid);
    /* cycles back off 10 s, 20 s, ... 300 s: a handful in 10 minutes */
    ck_assert_uint_ge(x->recovery_cycles, 3);
    ck_assert_uint_le(x->recovery_cycles, 8);
    ck_assert_uint_eq(r.enable_off, x->recovery_cycles);
    ck_assert_uint_eq(r.xcvr_off, x->recovery_cycles);
    /* requests stay bounded: well under 2 per second */
    ck_assert_uint_le(r.frames_to_meter - frames0, 1200);
    r.dead = false;
    uint32_t t = rel(&r);
    run_until(&r, t + 15000);
    assert_healthy(&r);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_scheduled_read_alert_posts_ep39_and_clears)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    assert_healthy(&r);
    sim_meter_raise_alert(r.m, 0x01);
    run_until(&r, 30000);
    const mepc_readings *x = rd(&r);
    assert_healthy(&r);
    ck_assert_uint_ge(x->alerts_seen, 1);
    ck_assert_uint_eq(x->procedures_posted, 1);
    ck_assert_uint_eq(r.bt07_writes, 1);
    ck_assert_uint_eq(sim_meter_alert_flags(r.m), 0);
    /* again later: one more post (BT07 spacing is 30 s) */
    sim_meter_raise_alert(r.m, 0x01);
    run_until(&r, 70000);
    ck_assert_uint_eq(rd(&r)->procedures_posted, 2);
    ck_assert_uint_eq(sim_meter_alert_flags(r.m), 0);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_standing_alert_rate_limited_s21)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    /* on-demand flag nobody clears: alerts every second, no BT07 writes */
    sim_meter_raise_alert(r.m, 0x02);
    run_until(&r, 15000 + 120000);
    ck_assert_uint_ge(rd(&r)->alerts_seen, 50);
    ck_assert_uint_eq(r.bt07_writes, 0);
    /* flows 10 s apart, doubling while the flags need nothing from us */
    ck_assert_uint_le(r.et13_reads, 5);
    ck_assert_uint_ge(r.et13_reads, 3);
    assert_healthy(&r);
    sim_meter_clear_alert(r.m, 0x02);
    /* a scheduled-read flag raised again and again: <= 4 writes in the first
     * hour, then one per 15 minutes */
    uint32_t t = rel(&r);
    for (uint32_t k = 0; k < 90; k++) {
        sim_meter_raise_alert(r.m, 0x01);
        run_until(&r, t + (k + 1) * 40000);
    }
    ck_assert_uint_ge(r.bt07_writes, 5);
    ck_assert_uint_le(r.bt07_writes, 7);
    assert_healthy(&r);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_zero_stream_is_line_fault_s25)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    assert_healthy(&r);
    unsigned et13 = r.et13_reads;
    r.zero_on = true;
    r.zero_until = r.now + 3000;
    run_until(&r, rel(&r) + 1500);
    ck_assert_int_eq(rd(&r)->status, MEPC_ST_LINE_ERROR);
    run_until(&r, rel(&r) + 8000);
    ck_assert_uint_le(r.et13_reads, et13 + 1);  /* no alert storm */
    assert_healthy(&r);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_loopback_reported_s33)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    r.echo = true;
    run_until(&r, 20000);
    ck_assert_int_eq(rd(&r)->status, MEPC_ST_LOOPBACK);
    ck_assert(!rd(&r)->energy_valid);
    ck_assert_uint_le(r.frames_to_meter, 10);  /* backs off */
    r.echo = false;
    run_until(&r, 40000);
    assert_healthy(&r);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_spike_held_not_published_s16)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    assert_healthy(&r);
    sim_model *m = sim_meter_model(r.m);
    int64_t base = model_fwd(&r);
    sim_model_set_register(m, SIM_REG_FWD_WH, base + (1 << 20));
    run_until(&r, 21000);
    const mepc_readings *x = rd(&r);
    ck_assert(x->energy_suspect);
    ck_assert_int_ge(x->raw_fwd_wh, base + (1 << 20));
    ck_assert_int_le(x->fwd_wh, base + 1);
    ck_assert_ptr_nonnull(strstr(x->suspect_reason, "fwd"));
    sim_model_set_register(m, SIM_REG_FWD_WH, model_fwd(&r) - (1 << 20));
    run_until(&r, 27000);
    assert_healthy(&r);
    rig_teardown(&r);
}
END_TEST

static void tweak_fast_dims(rig *r) { r->cfg.reread_dims_ms = 20000; }

START_TEST(test_meter_change_new_baseline_at_once)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", tweak_fast_dims);
    run_until(&r, 15000);
    assert_healthy(&r);
    /* swap in another meter: different serial, much lower register */
    sim_profile p2 = r.prof;
    snprintf(p2.utility_serial, sizeof p2.utility_serial, "%s", "SWAPPED-METER-2");
    p2.model.start_fwd_wh = 1000;
    p2.n_overrides = 0;
    sim_meter *old = r.m;
    r.m = new_meter(&r, &p2, 0x55555555u);
    sim_meter_free(old);
    run_until(&r, 40000);
    const mepc_readings *x = rd(&r);
    ck_assert_str_eq(x->utility_sn, "SWAPPED-METER-2");
    assert_healthy(&r);
    ck_assert_int_lt(x->fwd_wh, 2000);
    rig_teardown(&r);
}
END_TEST


static void tweak_strict_count(rig *r) { r->prof.policy.strict_full_read_count = true; }

START_TEST(test_full_reads_carry_count_s05)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", tweak_strict_count);
    run_until(&r, 20000);
    assert_healthy(&r);
    ck_assert_uint_eq(rd(&r)->seq_resyncs, 1);
    rig_teardown(&r);
}
END_TEST

static void tweak_mak_encrypt(rig *r)
{
    memcpy(r->cfg.mak, r->prof.mak, 16);
    r->cfg.has_mak = true;
    r->cfg.encrypt = true;
}

START_TEST(test_mak_and_rc4_encryption)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", tweak_mak_encrypt);
    run_until(&r, 20000);
    assert_healthy(&r);
    const sim_meter_counters *mc = sim_meter_counters_get(r.m);
    ck_assert_uint_eq(mc->mbk_requests, 0);
    ck_assert_uint_gt(mc->mak_requests, 10);
    ck_assert_uint_eq(mc->encrypted_rx, mc->mak_requests);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_other_profiles_layouts_s28)
{
    const char *profiles[] = {"guide-tx.json", "nes-3ph-fw4.json", "nes-1ph.json", "guide-example.json"};
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
        rig r;
        rig_setup(&r, profiles[i], NULL);
        run_until(&r, 20000);
        const mepc_readings *x = rd(&r);
        ck_assert_msg(x->status == MEPC_ST_OK, "%s: %s", profiles[i], x->status_text);
        int64_t truth = model_fwd(&r);
        ck_assert_msg(x->fwd_wh <= truth && x->fwd_wh >= truth - 3, "%s: fwd %lld vs model %lld", profiles[i],
                      (long long)x->fwd_wh, (long long)truth);
        ck_assert_int_eq(x->bt28.n, r.prof.bt21[9] < 84 ? r.prof.bt21[9] : 84);
        ck_assert_uint_eq(x->digest_rejects + x->mismatched_replies + x->timeouts, 0);
        rig_teardown(&r);
    }
}
END_TEST

static void tweak_fast_clock(rig *r) { r->cfg.reread_clock_ms = 10000; }

START_TEST(test_clock_reread_follows_meter_s31)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", tweak_fast_clock);
    run_until(&r, 5000);
    ck_assert(rd(&r)->clock_valid);
    /* the meter's clock is set one day ahead */
    sim_meter_set_clock(r.m, MWALL(&r), T0_UTC_MS + 86400000LL + rel(&r));
    run_until(&r, 20000);
    const mepc_readings *x = rd(&r);
    uint32_t want = (uint32_t)((T0_UTC_MS / 1000 - 946684800LL) + 86400) + (x->clock_set_at_ms - r.t0) / 1000u;
    ck_assert_uint_le(x->clock_s2000 > want ? x->clock_s2000 - want : want - x->clock_s2000, 1);
    ck_assert_uint_gt(x->clock_set_at_ms - r.t0, 10000);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_bt07_always_0x04_bounded_s23)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    r.bt07_onp = 1000;
    sim_meter_raise_alert(r.m, 0x01);
    run_until(&r, 15000 + 120000);
    /* 3 PSNs per flow, flows spaced by the BT07 write budget */
    ck_assert_uint_ge(r.bt07_writes, 3);
    ck_assert_uint_le(r.bt07_writes, 3 * 4);
    ck_assert_uint_eq(rd(&r)->procedures_posted, 0);
    assert_healthy(&r);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_error_in_alert_flow_recovers_s22)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    r.et13_error = 1;
    sim_meter_raise_alert(r.m, 0x01);
    run_until(&r, 45000);
    ck_assert_uint_ge(r.et13_reads, 2);
    ck_assert_uint_eq(rd(&r)->procedures_posted, 1);
    ck_assert_uint_eq(sim_meter_alert_flags(r.m), 0);
    assert_healthy(&r);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_reregistration_skipped_when_registered)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 10000);
    ck_assert(sim_meter_registered(r.m));
    uint64_t regs = sim_meter_counters_get(r.m)->registrations;
    /* module reboot: a fresh client against the same meter writes nothing */
    mepc_init(&r.c, &r.hal, &r.cfg, r.now);  /* client clock */
    unsigned frames = r.frames_to_meter;
    run_until(&r, 25000);
    assert_healthy(&r);
    ck_assert_uint_eq(sim_meter_counters_get(r.m)->registrations, regs);
    ck_assert_uint_gt(r.frames_to_meter, frames);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_client_clock_wrap)
{
    /* the boot/poll scenario and a lost reply with the client's uint32 ms
     * clock crossing zero 20 s into the run */
    g_t0 = 0xFFFFFFFFu - 20000u;
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    assert_healthy(&r);
    r.drop_replies = 1;
    run_until(&r, 60000);
    const mepc_readings *x = rd(&r);
    assert_healthy(&r);
    ck_assert_uint_ge(x->polls_ok, 26);
    ck_assert_uint_eq(x->timeouts, 1);
    ck_assert_uint_eq(x->recovery_cycles, 0);
    ck_assert_uint_eq(x->digest_rejects, 0);
    rig_teardown(&r);
    g_t0 = 0;
}
END_TEST

START_TEST(test_restart_keeps_energy_floor)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    assert_healthy(&r);
    ck_assert_uint_ge(r.store_saves, 1);
    ck_assert_uint_le(r.store_saves, 2);  /* first value only; then hourly */
    int64_t published = rd(&r)->fwd_wh;
    /* module restart while the meter shows a value below what was published */
    sim_model *m = sim_meter_model(r.m);
    sim_model_set_register(m, SIM_REG_FWD_WH, published - 5000);
    mepc_init(&r.c, &r.hal, &r.cfg, r.now);
    run_until(&r, 30000);
    const mepc_readings *x = rd(&r);
    ck_assert(x->energy_suspect);
    /* the floor saved before the restart (the first value; saves are hourly) */
    ck_assert_int_le(x->fwd_wh, published);
    ck_assert_int_ge(x->fwd_wh, published - 3);
    ck_assert_int_lt(x->raw_fwd_wh, published - 4000);
    /* the stored floor belongs to another meter: the new value is taken */
    memcpy(r.store + 8, "ANOTHER-METER", 14);
    mepc_init(&r.c, &r.hal, &r.cfg, r.now);
    run_until(&r, 45000);
    assert_healthy(&r);
    ck_assert_int_lt(rd(&r)->fwd_wh, published);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_late_replies_rejected_s13)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 15000);
    assert_healthy(&r);
    r.delay_replies = 1;
    r.delay_ms = 3000;  /* arrives after the resend and its 0x0C, during later requests */
    run_until(&r, 30000);
    const mepc_readings *x = rd(&r);
    assert_healthy(&r);
    ck_assert_uint_ge(x->timeouts, 1);
    ck_assert_uint_ge(x->digest_rejects + x->mismatched_replies, 1);
    ck_assert_uint_eq(x->recovery_cycles, 0);
    rig_teardown(&r);
}
END_TEST

/* ---- first value confirmation, stale readings, persistence ------------ */

/* Run in 250 ms steps to `until`, asserting at every step that a published
 * fwd value is below `ceiling`; returns the first time energy_valid held. */
static uint32_t run_checking_ceiling(rig *r, uint32_t until, int64_t ceiling)
{
    uint32_t valid_at = 0;
    while (rel(r) < until) {
        run_until(r, rel(r) + 250);
        if (rd(r)->energy_valid) {
            ck_assert_int_lt(rd(r)->fwd_wh, ceiling);
            if (!valid_at)
                valid_at = rel(r);
        }
    }
    return valid_at;
}

START_TEST(test_boot_during_spike_publishes_only_the_truth)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    sim_model *m = sim_meter_model(r.m);
    int64_t base = model_fwd(&r);
    sim_model_set_register(m, SIM_REG_FWD_WH, base + (1 << 24));  /* S16 at boot */
    run_checking_ceiling(&r, 7000, base + (1 << 23));
    ck_assert(!rd(&r)->energy_valid);                  /* seen, not confirmed */
    ck_assert_uint_ge(rd(&r)->raw_fwd_wh, base + (1 << 24));
    ck_assert(rd(&r)->energy_confirming);
    sim_model_set_register(m, SIM_REG_FWD_WH, model_fwd(&r) - (1 << 24));
    uint32_t valid_at = run_checking_ceiling(&r, 30000, base + (1 << 23));
    ck_assert_uint_gt(valid_at, 7000 + MEPC_SAN_CONFIRM_MS);
    assert_healthy(&r);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_boot_during_decrease_publishes_only_the_truth)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    sim_model *m = sim_meter_model(r.m);
    int64_t base = model_fwd(&r);
    sim_model_set_register(m, SIM_REG_FWD_WH, base - 5000);  /* S17 decrease at boot */
    run_until(&r, 7000);
    ck_assert(!rd(&r)->energy_valid);
    sim_model_set_register(m, SIM_REG_FWD_WH, model_fwd(&r) + 5000);
    while (rel(&r) < 30000) {
        run_until(&r, rel(&r) + 250);
        if (rd(&r)->energy_valid)
            ck_assert_int_ge(rd(&r)->fwd_wh, base);   /* never the decreased value */
    }
    assert_healthy(&r);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_boot_across_32bit_wrap_keeps_rising)
{
    /* S17 wrap: raw registers are unsigned and published energy continues
     * past 2^32 */
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    sim_model *m = sim_meter_model(r.m);
    sim_model_set_register(m, SIM_REG_FWD_WH, 0xFFFFFFFFLL - 30);
    run_until(&r, 16000);
    ck_assert(rd(&r)->energy_valid);
    int64_t last = rd(&r)->fwd_wh;
    ck_assert_int_ge(last, 0xFFFFFFFFLL - 30);
    sim_model_set_register(m, SIM_REG_FWD_WH, 0xFFFFFFFFLL);  /* ~0.12 Wh/s: wraps within ~10 s */
    while (rel(&r) < 60000) {
        run_until(&r, rel(&r) + 500);
        ck_assert_int_ge(rd(&r)->fwd_wh, last);
        last = rd(&r)->fwd_wh;
    }
    ck_assert_uint_lt(rd(&r)->raw_fwd_wh, 1000u);          /* the register wrapped ... */
    ck_assert_int_gt(rd(&r)->fwd_wh, 0xFFFFFFFFLL);        /* ... the published value did not */
    ck_assert(!rd(&r)->energy_suspect);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_meter_gone_energy_age_grows)
{
    /* the core keeps the last values but their age shows it: a port serves
     * them as stale after a few poll periods (firmware/README.md) */
    rig r;
    rig_setup(&r, "nes-3ph.json", NULL);
    run_until(&r, 16000);
    assert_healthy(&r);
    ck_assert_uint_eq(rd(&r)->poll_ms, 2000);
    r.dead = true;
    uint32_t gone = r.now;
    run_until(&r, rel(&r) + 10000);
    const mepc_readings *x = rd(&r);
    ck_assert_int_eq(x->status, MEPC_ST_NO_REPLY);
    ck_assert_int_le((int32_t)(x->energy_at_ms - gone), 0);
    ck_assert_uint_gt(r.now - x->energy_at_ms, 3u * x->poll_ms);
    r.dead = false;
    run_until(&r, rel(&r) + 40000);
    assert_healthy(&r);
    rig_teardown(&r);
}
END_TEST

static int64_t stored_fwd(const rig *r)
{
    int64_t v;
    ck_assert_uint_ge(r->store_n, 8 + 32 + 8);
    memcpy(&v, r->store + 8 + 32, sizeof v);  /* mepc_store_blob: magic, version, serial, fwd */
    return v;
}

static void tweak_saved_only(rig *r)
{
    r->cfg.publish_saved_only = true;
    r->cfg.store_period_ms = 5000;
}

START_TEST(test_publish_saved_only_never_above_the_store)
{
    rig r;
    rig_setup(&r, "nes-3ph.json", tweak_saved_only);
    sim_model_set_register(sim_meter_model(r.m), SIM_REG_FWD_WH, 1000000);
    unsigned checks = 0;
    while (rel(&r) < 120000) {
        run_until(&r, rel(&r) + 250);
        if (rd(&r)->energy_valid) {
            ck_assert_int_le(rd(&r)->fwd_wh, stored_fwd(&r));
            checks++;
        }
    }
    ck_assert_uint_gt(checks, 300);
    /* bounded write rate: one save per 5 s at most, plus the first */
    ck_assert_uint_le(r.store_saves, 120000 / 5000 + 2);
    ck_assert_uint_ge(r.store_saves, 2);
    mepc_store_flush(&r.c, r.now);
    ck_assert_int_eq(stored_fwd(&r), rd(&r)->fwd_wh);
    rig_teardown(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fw_client");
    TCase *tc = tcase_create("sim");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_boot_register_poll_values_equal_model);
    tcase_add_test(tc, test_seq_reply_last_variant_s04);
    tcase_add_test(tc, test_wrong_key_auth_fail_no_readings_s06);
    tcase_add_test(tc, test_corrupted_reply_rejected_and_reread_s10);
    tcase_add_test(tc, test_reply_to_another_request_rejected_s14);
    tcase_add_test(tc, test_stray_bytes_around_replies_s12);
    tcase_add_test(tc, test_lost_reply_resend_without_cycle_s02);
    tcase_add_test(tc, test_dead_meter_bounded_retries_and_cycles_s08);
    tcase_add_test(tc, test_scheduled_read_alert_posts_ep39_and_clears);
    tcase_add_test(tc, test_standing_alert_rate_limited_s21);
    tcase_add_test(tc, test_zero_stream_is_line_fault_s25);
    tcase_add_test(tc, test_loopback_reported_s33);
    tcase_add_test(tc, test_spike_held_not_published_s16);
    tcase_add_test(tc, test_meter_change_new_baseline_at_once);
    tcase_add_test(tc, test_full_reads_carry_count_s05);
    tcase_add_test(tc, test_mak_and_rc4_encryption);
    tcase_add_test(tc, test_other_profiles_layouts_s28);
    tcase_add_test(tc, test_clock_reread_follows_meter_s31);
    tcase_add_test(tc, test_bt07_always_0x04_bounded_s23);
    tcase_add_test(tc, test_error_in_alert_flow_recovers_s22);
    tcase_add_test(tc, test_reregistration_skipped_when_registered);
    tcase_add_test(tc, test_client_clock_wrap);
    tcase_add_test(tc, test_restart_keeps_energy_floor);
    tcase_add_test(tc, test_late_replies_rejected_s13);
    tcase_add_test(tc, test_boot_during_spike_publishes_only_the_truth);
    tcase_add_test(tc, test_boot_during_decrease_publishes_only_the_truth);
    tcase_add_test(tc, test_boot_across_32bit_wrap_keeps_rising);
    tcase_add_test(tc, test_meter_gone_energy_age_grows);
    tcase_add_test(tc, test_publish_saved_only_never_above_the_store);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
