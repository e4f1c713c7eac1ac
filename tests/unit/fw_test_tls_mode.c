/* Check suite: the firmware core's TLS mode (mepc hal.secure_request,
 * mepc_rx_bare, mepc_secure_fail; docs/mep.md 3.5, 7) end to end in process and
 * virtual time: mepc core -> host_tls step API (mepmod's client, included
 * below like test_tls.c does) -> sim_meter with sim_tls behind its TLS
 * hooks (as mepsim wires it) on a TLS-required profile, with the protocol
 * faults tls-drop-session / tls-wrong-psk / tls-corrupt-handshake.
 *
 * The rig plays the port's part: a request handed to secure_request is
 * driven frame by frame through the meter *after* the core's call returns
 * (the HAL contract: answers come later, from the loop), then reported with
 * mepc_rx_bare / mepc_secure_fail. No RC4 frame may ever be written. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mepc.h"
#include "sim_meter.h"
#include "sim_fault_set.h"
#include "sim_profile.h"

#ifdef MEP_HAVE_MBEDTLS
#include "../../firmware/host/host_tls.c"
#include "sim_tls.h"
#include "check_run.h"

typedef struct {
    sim_profile prof;
    sim_meter *m;
    sim_tls *server;
    sim_fault_set fs;                /* the meter's fault hooks (protocol faults) */
    host_tls *tls;
    mepc_client c;
    mepc_config cfg;
    mepc_hal hal;
    uint32_t now;
    bool pending;            /* a request awaits driving */
    bool meter_dead;         /* the meter answers nothing */
    uint32_t uart_writes;    /* RC4 frames: must stay 0 */
    uint32_t secure_calls, tls_frames;
    bool saw_tls_fail, saw_auth_fail;
} rig;

static void hal_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (getenv("FW_TEST_VERBOSE"))
        fprintf(stderr, "core[%d]: %s\n", level, msg);
}

static size_t hal_uart_write(void *ctx, const uint8_t *p, size_t n)
{
    (void)p;
    ((rig *)ctx)->uart_writes++;
    return n;
}

static bool hal_secure_request(void *ctx, const uint8_t *req, size_t n)
{
    rig *r = ctx;
    r->secure_calls++;
    host_tls_result res = host_tls_start_request(r->tls, req, n);
    ck_assert_int_eq(res, HOST_TLS_PENDING);
    r->pending = true;
    return true;
}

static size_t hook_message(void *ctx, const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
    return sim_tls_on_message(ctx, body, len, out, cap);
}

static sim_meter_rc4_verdict hook_gate(void *ctx)
{
    return sim_tls_rc4_gate(ctx) == SIM_TLS_RC4_ACCEPT ? SIM_METER_RC4_ACCEPT : SIM_METER_RC4_REFUSE;
}

static void tls_log(void *ctx, const char *line)
{
    (void)ctx;
    if (getenv("FW_TEST_VERBOSE"))
        fprintf(stderr, "%s\n", line);
}

static void rig_setup(rig *r, const uint8_t *client_psk)
{
    char path[512], err[256];
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, "%s/meters/nes-3ph-tls.json", FIXTURES_DIR);
    ck_assert_msg(sim_profile_load(&r->prof, path, err, sizeof err) == 0, "%s", err);
    ck_assert(r->prof.tls_required);
    sim_meter_cfg mc;
    memset(&mc, 0, sizeof mc);
    mc.profile = &r->prof;
    memcpy(mc.mbk, r->prof.mbk, 16);
    memcpy(mc.mak, r->prof.mak, 16);
    mc.seed = 42;
    mc.speed = 1.0;
    mc.start_utc_ms = 1735689600000LL;
    mc.policy = r->prof.policy;
    mc.name = "meter0";
    r->m = sim_meter_new(&mc, 1000000u, err, sizeof err);
    ck_assert_msg(r->m != NULL, "%s", err);
    sim_tls_cfg sc;
    memset(&sc, 0, sizeof sc);
    memcpy(sc.mbk, r->prof.mbk, 16);
    memcpy(sc.mak, r->prof.mak, 16);
    sc.tls_required = true;
    sc.dispatch = sim_meter_tls_dispatch;
    sc.dispatch_ctx = r->m;
    sc.log = tls_log;
    r->server = sim_tls_new(&sc, err, sizeof err);
    ck_assert_msg(r->server != NULL, "%s", err);
    sim_meter_tls_hooks h = {.on_message = hook_message, .rc4_gate = hook_gate, .ctx = r->server};
    sim_meter_set_tls_hooks(r->m, &h);
    sim_fault_set_init(&r->fs, 1);
    sim_meter_fault_hooks fh;
    sim_fault_set_meter_hooks(&r->fs, &fh);
    sim_meter_set_fault_hooks(r->m, &fh);

    host_tls_cfg hc;
    memset(&hc, 0, sizeof hc);
    hc.client_id = 100;
    hc.key_id = 0;
    memcpy(hc.psk, client_psk ? client_psk : r->prof.mbk, 16);
    hc.log = tls_log;
    ck_assert_int_eq(host_tls_new(&hc, &r->tls), HOST_TLS_OK);

    r->hal.ctx = r;
    r->hal.uart_write = hal_uart_write;
    r->hal.log = hal_log;
    r->hal.secure_request = hal_secure_request;
    mepc_config_defaults(&r->cfg);
    memcpy(r->cfg.mbk, r->prof.mbk, 16);
    r->now = 5000;
    mepc_init(&r->c, &r->hal, &r->cfg, r->now);
}

static void rig_teardown(rig *r)
{
    host_tls_free(r->tls);
    sim_meter_set_tls_hooks(r->m, NULL);
    sim_meter_set_fault_hooks(r->m, NULL);
    sim_tls_free(r->server);
    sim_meter_free(r->m);
    sim_profile_free(&r->prof);
}

static mepc_secure_error kind(host_tls_result res)
{
    switch (res) {
    case HOST_TLS_ERR_TRANSPORT: return MEPC_SEC_NO_REPLY;
    case HOST_TLS_ERR_REPLY: return MEPC_SEC_BAD_REPLY;
    case HOST_TLS_ERR_IDENTITY: return MEPC_SEC_IDENTITY;
    case HOST_TLS_ERR_NO_SESSION: return MEPC_SEC_NO_SESSION;
    default: return MEPC_SEC_TLS_ERROR;
    }
}

/* The port's part: every frame of the pending exchange through the meter
 * (each one 60 ms of wire + meter time), then report to the core. */
static void port_drive(rig *r)
{
    if (!r->pending)
        return;
    r->pending = false;
    host_tls_result res = HOST_TLS_PENDING;
    while (res == HOST_TLS_PENDING) {
        size_t n = 0;
        const uint8_t *f = host_tls_frame(r->tls, &n);
        ck_assert_ptr_nonnull(f);
        r->tls_frames++;
        r->now += 60;
        if (r->meter_dead) {
            r->now += 500;  /* the port's reply timeout (docs/mep.md 4) */
            res = host_tls_feed(r->tls, NULL, 0);
            break;
        }
        uint8_t out[MEP_MAX_FRAME];
        size_t rn = sim_meter_on_frame(r->m, f, n, 1000000u + r->now, out, sizeof out, NULL, 0);
        res = rn ? host_tls_feed(r->tls, out, rn) : host_tls_feed(r->tls, NULL, 0);
    }
    if (res == HOST_TLS_OK) {
        size_t n = 0;
        const uint8_t *b = host_tls_response(r->tls, &n);
        mepc_rx_bare(&r->c, b, n, r->now);
    } else {
        mepc_secure_fail(&r->c, kind(res), r->now);
    }
}

static void run_for(rig *r, uint32_t ms)
{
    uint32_t end = r->now + ms;
    while ((int32_t)(end - r->now) > 0) {
        uint32_t w = mepc_run(&r->c, r->now);
        port_drive(r);
        const mepc_readings *rd = mepc_get_readings(&r->c);
        if (rd->status == MEPC_ST_TLS_FAIL)
            r->saw_tls_fail = true;
        if (rd->status == MEPC_ST_AUTH_FAIL)
            r->saw_auth_fail = true;
        r->now += w < 20 ? w : 20;
    }
}

START_TEST(test_tls_mode_publishes_like_rc4_mode)
{
    rig r;
    rig_setup(&r, NULL);
    run_for(&r, 20000);  /* boot + >= 10 s of polls: the first energy value is confirmed (mepc_sanitise.h) */
    const mepc_readings *rd = mepc_get_readings(&r.c);
    ck_assert_int_eq(rd->status, MEPC_ST_OK);
    ck_assert(rd->energy_valid && rd->present_valid && rd->identity_valid && rd->clock_valid);
    ck_assert_str_eq(rd->utility_sn, "EMU3PHG4000001");
    ck_assert_uint_ge(rd->polls_ok, 4);
    ck_assert_int_eq(rd->fwd_wh, rd->raw_fwd_wh);
    ck_assert_int_ge(rd->fwd_wh, 8765432);       /* the profile's register, never less */
    ck_assert_uint_eq(rd->bt28.n, 84);
    ck_assert_uint_eq(r.uart_writes, 0);         /* no RC4 frame, ever */
    ck_assert_uint_eq(rd->timeouts + rd->resends + rd->seq_resyncs + rd->auth_failures, 0);
    const host_tls_stats *ts = host_tls_get_stats(r.tls);
    ck_assert_uint_eq(ts->handshakes, 1);
    ck_assert_uint_eq(ts->requests, r.secure_calls);
    ck_assert_uint_eq(r.tls_frames, r.secure_calls + 2);   /* + 0x58, 0x59 once */
    const sim_tls_counters *k = sim_tls_counters_get(r.server);
    ck_assert_uint_eq(k->rc4_refused, 0);
    ck_assert_uint_eq(k->tables, r.secure_calls);
    uint16_t cid = 0;
    sim_level lvl = SIM_LEVEL_NONE;
    ck_assert(sim_tls_session_identity(r.server, &cid, &lvl));
    ck_assert_uint_eq(cid, 100);
    ck_assert_int_eq(lvl, SIM_LEVEL_MBK);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_wrong_psk_is_auth_fail_0x03_with_back_off)
{
    static const uint8_t wrong[16] = "WrongKey00000000";
    rig r;
    rig_setup(&r, wrong);
    run_for(&r, 30000);
    const mepc_readings *rd = mepc_get_readings(&r.c);
    ck_assert_int_eq(rd->status, MEPC_ST_AUTH_FAIL);
    ck_assert_ptr_nonnull(strstr(rd->status_text, "0x03"));
    ck_assert(!rd->energy_valid && !rd->present_valid);
    ck_assert_uint_eq(rd->polls_ok, 0);
    /* back-off 2, 4, 8, 16 s: 5 attempts in 30 s, not one per poll */
    ck_assert_uint_ge(rd->auth_failures, 3);
    ck_assert_uint_le(rd->auth_failures, 6);
    ck_assert_uint_eq(sim_tls_counters_get(r.server)->identity_rejects, rd->auth_failures);
    ck_assert_uint_eq(sim_tls_counters_get(r.server)->tables, 0);
    ck_assert_uint_eq(r.uart_writes, 0);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_injected_wrong_psk_then_recovery)
{
    rig r;
    rig_setup(&r, NULL);
    sim_pfault_spec s;
    char err[128];
    ck_assert_int_eq(sim_pfault_spec_parse(&s, "tls-wrong-psk duration=10000", err, sizeof err), 0);
    ck_assert_int_ge(sim_pfault_start(&r.fs.proto, &s, (1000000ull + r.now) * 1000u, err, sizeof err), 0);
    run_for(&r, 8000);
    ck_assert(r.saw_auth_fail);
    ck_assert_uint_eq(mepc_get_readings(&r.c)->polls_ok, 0);
    run_for(&r, 40000);   /* fault gone at 10 s; back-off at most 16 s */
    const mepc_readings *rd = mepc_get_readings(&r.c);
    ck_assert_int_eq(rd->status, MEPC_ST_OK);
    ck_assert_uint_ge(rd->polls_ok, 3);
    ck_assert_uint_ge(r.fs.proto.c.injected[SIM_PF_TLS_WRONG_PSK], 2);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_dropped_session_costs_no_reading)
{
    rig r;
    rig_setup(&r, NULL);
    run_for(&r, 8000);
    uint32_t polls = mepc_get_readings(&r.c)->polls_ok;
    ck_assert_uint_ge(polls, 2);
    sim_pfault_spec s;
    char err[128];
    ck_assert_int_eq(sim_pfault_spec_parse(&s, "tls-drop-session count=1", err, sizeof err), 0);
    ck_assert_int_ge(sim_pfault_start(&r.fs.proto, &s, (1000000ull + r.now) * 1000u, err, sizeof err), 0);
    run_for(&r, 4100);    /* two polls */
    const mepc_readings *rd = mepc_get_readings(&r.c);
    ck_assert_int_eq(rd->status, MEPC_ST_OK);
    ck_assert_uint_ge(rd->polls_ok, polls + 2);
    ck_assert_uint_eq(rd->timeouts + rd->resends, 0);
    const host_tls_stats *ts = host_tls_get_stats(r.tls);
    ck_assert_uint_eq(ts->handshakes, 2);
    ck_assert_uint_eq(ts->reconnects, 1);
    ck_assert_uint_eq(sim_tls_counters_get(r.server)->no_session, 1);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_corrupted_handshake_retried_with_back_off)
{
    rig r;
    rig_setup(&r, NULL);
    sim_pfault_spec s;
    char err[128];
    ck_assert_int_eq(sim_pfault_spec_parse(&s, "tls-corrupt-handshake count=3", err, sizeof err), 0);
    ck_assert_int_ge(sim_pfault_start(&r.fs.proto, &s, (1000000ull + r.now) * 1000u, err, sizeof err), 0);
    uint32_t t0 = r.now;
    while (mepc_get_readings(&r.c)->status != MEPC_ST_OK && r.now - t0 < 30000)
        run_for(&r, 100);
    ck_assert_int_eq(mepc_get_readings(&r.c)->status, MEPC_ST_OK);
    ck_assert(r.saw_tls_fail);
    /* 2 s power-up, a retry at once, then 2 s and 4 s of back-off */
    ck_assert_uint_ge(r.now - t0, 8000);
    ck_assert_uint_le(r.now - t0, 12000);
    const host_tls_stats *ts = host_tls_get_stats(r.tls);
    ck_assert_uint_eq(ts->handshake_failures, 3);
    ck_assert_uint_eq(ts->handshakes, 1);
    ck_assert_int_lt(ts->last_mbedtls_error, 0);
    ck_assert_uint_eq(r.fs.proto.c.injected[SIM_PF_TLS_CORRUPT_HS], 3);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_silent_meter_is_no_reply_then_recovery_cycle)
{
    rig r;
    rig_setup(&r, NULL);
    run_for(&r, 6000);
    ck_assert_int_eq(mepc_get_readings(&r.c)->status, MEPC_ST_OK);
    r.meter_dead = true;
    run_for(&r, 16000);   /* 4 failed requests (4 sends each) before a cycle */
    const mepc_readings *rd = mepc_get_readings(&r.c);
    ck_assert_int_eq(rd->status, MEPC_ST_NO_REPLY);
    ck_assert_uint_ge(rd->timeouts, 4);
    ck_assert_uint_ge(rd->recovery_cycles, 1);
    ck_assert(!host_tls_connected(r.tls));
    r.meter_dead = false;
    run_for(&r, 20000);
    ck_assert_int_eq(mepc_get_readings(&r.c)->status, MEPC_ST_OK);
    ck_assert_uint_ge(host_tls_get_stats(r.tls)->handshakes, 2);
    rig_teardown(&r);
}
END_TEST

START_TEST(test_stray_reports_change_nothing)
{
    rig r;
    rig_setup(&r, NULL);
    run_for(&r, 6000);
    const mepc_readings *rd = mepc_get_readings(&r.c);
    uint32_t polls = rd->polls_ok, mism = rd->mismatched_replies;
    int64_t fwd = rd->fwd_wh;
    /* nothing outstanding between polls: a late response or failure is dropped */
    const uint8_t late[] = {0x00, 0x00, 0x01, 0x00};
    if (r.c.phase != MEPC_PH_WAIT) {
        mepc_rx_bare(&r.c, late, sizeof late, r.now);
        mepc_secure_fail(&r.c, MEPC_SEC_IDENTITY, r.now);
        ck_assert_uint_eq(rd->mismatched_replies, mism + 1);
        ck_assert_int_eq(rd->status, MEPC_ST_OK);
        ck_assert_int_eq(rd->fwd_wh, fwd);
    }
    run_for(&r, 4100);
    ck_assert_uint_ge(rd->polls_ok, polls + 2);
    rig_teardown(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fw_tls_mode");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tls_mode_publishes_like_rc4_mode);
    tcase_add_test(tc, test_wrong_psk_is_auth_fail_0x03_with_back_off);
    tcase_add_test(tc, test_injected_wrong_psk_then_recovery);
    tcase_add_test(tc, test_dropped_session_costs_no_reading);
    tcase_add_test(tc, test_corrupted_handshake_retried_with_back_off);
    tcase_add_test(tc, test_silent_meter_is_no_reply_then_recovery_cycle);
    tcase_add_test(tc, test_stray_reports_change_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }

#else
int main(void)
{
    fprintf(stderr, "fw_test_tls_mode: mbed TLS not linked\n");
    return 77;
}
#endif
