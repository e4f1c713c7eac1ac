/* Check suite: procedures and transactions through sim_meter (docs/mep.md 8, 9):
 * PSN repeat, result table selection (ET59/BT08), EP39 clearing alert flags,
 * EP17 removal, EP19 queueing, EP61 lock and auto-release, EP16 clock step,
 * denied/unknown procedures, delayed results, and ET52/ET53 execution with
 * dedupe. Meter: fixtures/meters/guide-example.json (MAK 16x01, MBK 16x02). */
#include "check_run.h"
#include "meter_client.h"

static uint8_t psn_next = 5;

/* Call a procedure: full write of BT07 = id LSB-first, PSN, params. */
static uint8_t call(cli *c, const uint8_t *key, uint16_t id, uint8_t psn, const uint8_t *prm,
                    size_t np)
{
    uint8_t q[MEP_MAX_BODY] = {0x40, 0x00, 0x07};
    mep_put_be16(q + 3, (uint16_t)(np + 3));
    mep_put_le16(q + 5, id);
    q[7] = psn;
    if (np)
        memcpy(q + 8, prm, np);
    return send_msg(c, key, q, 8 + np);
}

static uint8_t call_next(cli *c, const uint8_t *key, uint16_t id, const uint8_t *prm, size_t np)
{
    uint8_t psn = psn_next;
    psn_next = psn_next == 9 ? 5 : psn_next + 1;
    return call(c, key, id, psn, prm, np);
}

/* Result table bytes: 0-1 id, 2 psn, 3 result, 4.. data */
static const uint8_t *result_in(cli *c, uint16_t table) { return raw(c, table, 0); }

START_TEST(test_psn_repeat_0x04)
{
    cli c;
    cli_open_reg(&c);
    const uint8_t prm[] = {12};
    ck_assert_uint_eq(call(&c, MBK, MEP_EP(39), 6, prm, 1), MEP_RSP_OK);
    ck_assert_uint_eq(result_in(&c, BT(8))[2], 6);
    ck_assert_uint_eq(sim_meter_counters_get(c.m)->procedures, 1);
    ck_assert_uint_eq(call(&c, MBK, MEP_EP(39), 6, prm, 1), MEP_RSP_ONP);
    ck_assert_uint_eq(sim_meter_counters_get(c.m)->procedures, 1); /* not run */
    ck_assert_uint_eq(call(&c, MBK, MEP_EP(39), 7, prm, 1), MEP_RSP_OK);
    ck_assert_uint_eq(result_in(&c, BT(8))[2], 7);
    /* PSN 255 first after start-up is refused as a repeat */
    cli c2;
    cli_open(&c2);
    ck_assert_uint_eq(call(&c2, MBK, MEP_EP(39), 255, prm, 1), MEP_RSP_ONP);
    cli_close(&c2);
    cli_close(&c);
}
END_TEST

START_TEST(test_result_table_et59_vs_bt08)
{
    cli c;
    cli_open(&c);
    reg(&c, MBK, 0x11, 0x01); /* ET59 Response = 0 -> BT08 */
    const uint8_t prm[] = {12};
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(39), prm, 1), 0);
    ck_assert_uint_eq(mep_get_le16(result_in(&c, BT(8))), MEP_EP(39));
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 0);
    ck_assert_uint_eq(mep_get_le16(result_in(&c, ET(59))), 0);
    ck_assert(strstr(c.log, "CALL EP39 psn=") && strstr(c.log, "result=0 in BT08"));
    reg(&c, MBK, 0x11, 0x03); /* ET59 Response = 1 */
    ck_assert_uint_eq(call(&c, MBK, MEP_EP(39), 9, prm, 1), 0);
    ck_assert_uint_eq(mep_get_le16(result_in(&c, ET(59))), MEP_EP(39));
    ck_assert_uint_eq(result_in(&c, ET(59))[2], 9);
    ck_assert_uint_ne(result_in(&c, BT(8))[2], 9);
    /* readable by the client like any read-only table */
    ck_assert_uint_eq(rd(&c, MBK, ET(59), 0, 4), 0);
    ck_assert_uint_eq(c.out[5 + 3], 0);
    cli_close(&c);
}
END_TEST

START_TEST(test_ep39_clears_alert)
{
    cli c;
    cli_open_reg(&c);
    cli_alert(&c);
    /* what the reference module posts: type 4, status 1, len 6, 01..06 */
    const uint8_t prm[] = {0x04, 0x01, 0x06, 0x00, 1, 2, 3, 4, 5, 6};
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(39), prm, sizeof prm), 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 0);
    ck_assert(!sim_meter_alert_pending(c.m));
    ck_assert_uint_eq(sim_meter_alert_flags(c.m), 0);
    /* stored in the MEP1 ET16 record (index 4, 517 bytes each) */
    const uint8_t *rec = raw(&c, ET(16), 4 * 517);
    ck_assert_uint_eq(rec[0], 24); /* year 2024 */
    ck_assert_uint_eq(mep_get_le16(rec + 7), 1);
    ck_assert_uint_eq(mep_get_le16(rec + 9), 6);
    ck_assert_mem_eq(rec + 11, prm + 4, 6);
    /* clear M-Bus alert (11) and delta data (12) */
    sim_meter_raise_alert(c.m, 0x18);
    const uint8_t t11[] = {11}, t12[] = {12}, bad[] = {99}, shortlen[] = {4, 1, 9, 0, 1};
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(39), t11, 1), 0);
    ck_assert_uint_eq(sim_meter_alert_flags(c.m), 0x10);
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(39), t12, 1), 0);
    ck_assert_uint_eq(sim_meter_alert_flags(c.m), 0x00);
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(39), bad, 1), 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 2);
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(39), shortlen, sizeof shortlen), 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 2);
    cli_close(&c);
}
END_TEST

START_TEST(test_ep39_refused_unregistered)
{
    cli c;
    cli_open(&c);
    sim_meter_raise_alert(c.m, 0x01);
    const uint8_t prm[] = {0x04, 0x01, 0x00, 0x00};
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(39), prm, sizeof prm), 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 3);
    ck_assert_uint_eq(sim_meter_alert_flags(c.m), 0x01);
    cli_close(&c);
}
END_TEST

START_TEST(test_ep17_removal)
{
    cli c;
    cli_open(&c);
    reg(&c, MBK, 0x11, 0x03);
    uint8_t prm[3] = {0, 0x00, 0x00};
    mep_put_le16(prm + 1, 1001); /* not ours */
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(17), prm, 3), 0);
    ck_assert_uint_eq(result_in(&c, ET(59))[3], 3);
    ck_assert(sim_meter_registered(c.m));
    prm[0] = 2; /* invalid action */
    mep_put_le16(prm + 1, 1000);
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(17), prm, 3), 0);
    ck_assert_uint_eq(result_in(&c, ET(59))[3], 2);
    prm[0] = 0;
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(17), prm, 3), 0);
    ck_assert_uint_eq(result_in(&c, ET(59))[3], 0); /* posted before bit 1 went */
    ck_assert(!sim_meter_registered(c.m));
    ck_assert_uint_eq(sim_meter_handle(c.m), 0);
    ck_assert_uint_eq(*raw(&c, ET(14), 5) & 0x10, 0);
    ck_assert_uint_eq(*raw(&c, ET(50), 30) & 0x01, 0);
    ck_assert_uint_eq(*raw(&c, ET(50), 30) & 0x02, 0x02); /* other ET50 fields kept */
    ck_assert_uint_eq(*raw(&c, ET(50), 0), 0x91);
    ck_assert_uint_eq(*raw(&c, ET(14), 153), 0);         /* baud field 9600 */
    sim_meter_raise_alert(c.m, 0x01);
    ck_assert(!sim_meter_alert_pending(c.m));
    cli_close(&c);
}
END_TEST

START_TEST(test_ep17_restores_9600)
{
    cli c;
    cli_open_reg(&c);
    uint8_t code = 10; /* 38400 */
    ck_assert_uint_eq(wr(&c, MAK, ET(13), 270, &code, 1), 0);
    ck_assert_uint_eq(sim_meter_baud(c.m), 38400);
    uint8_t prm[3] = {0, 0xE8, 0x03};
    ck_assert_uint_eq(call_next(&c, MAK, MEP_EP(17), prm, 3), 0);
    ck_assert_uint_eq(sim_meter_baud(c.m), 9600);
    cli_close(&c);
}
END_TEST

START_TEST(test_unknown_and_denied_procedures)
{
    cli c;
    cli_open(&c);
    ck_assert_uint_eq(call_next(&c, MAK, MEP_EP(18), NULL, 0), 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 6); /* unrecognised */
    ck_assert_uint_eq(call_next(&c, MAK, (uint16_t)5 /* BP05 */, NULL, 0), 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 6);
    /* EP19 needs the MAK: default policy accepts the write, result 5 */
    const uint8_t prm[] = {0x00, 0x04, 0xE8, 0x03, 2};
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(19), prm, sizeof prm), 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 5);
    /* too short to be a call */
    const uint8_t two[] = {0x40, 0x00, 0x07, 0x00, 0x02, 0x27, 0x08};
    ck_assert_uint_eq(send_msg(&c, MBK, two, sizeof two), MEP_RSP_IAR);
    cli_close(&c);
}
END_TEST

static void deny_isc(sim_profile *p, sim_meter_cfg *cfg)
{
    (void)p;
    cfg->policy.proc_deny = SIM_PROC_DENY_ISC;
}

START_TEST(test_denied_procedure_isc_policy)
{
    cli c;
    cli_open_cfg(&c, deny_isc);
    const uint8_t prm[] = {0x00, 0x04, 0xE8, 0x03, 2};
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(19), prm, sizeof prm), MEP_RSP_ISC);
    ck_assert_uint_eq(sim_meter_counters_get(c.m)->procedures, 0);
    ck_assert_uint_eq(mep_get_le16(result_in(&c, BT(8))), 0);
    cli_close(&c);
}
END_TEST

START_TEST(test_ep19_queue_and_ep39_answer)
{
    cli c;
    cli_open_reg(&c);
    /* on-demand request for the MEP client (handle 1000), type 4 with data */
    const uint8_t prm[] = {0x01, 0x04, 0xE8, 0x03, 4, 3, 0xAA, 0xBB, 0xCC};
    ck_assert_uint_eq(call_next(&c, MAK, MEP_EP(19), prm, sizeof prm), 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[4], 0); /* queue index */
    const uint8_t *q = raw(&c, ET(15), 0);
    ck_assert_uint_eq(q[0] & 0x0F, 1);
    ck_assert_uint_eq(mep_get_le16(q + 1), 0x0401);
    ck_assert_uint_eq(mep_get_le16(q + 3), 1000);
    ck_assert_uint_eq(q[5], 4);
    ck_assert_uint_eq(q[6], 0);
    ck_assert_uint_eq(q[31], 3);
    ck_assert_uint_eq(q[32], 0xAA);
    ck_assert_uint_eq(sim_meter_alert_flags(c.m) & 0x02, 0x02);
    ck_assert(sim_meter_alert_pending(c.m));
    /* unknown handle */
    const uint8_t bad[] = {0x02, 0x04, 0x09, 0x00, 2};
    ck_assert_uint_eq(call_next(&c, MAK, MEP_EP(19), bad, sizeof bad), 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 3);
    /* the client answers with EP39 on-demand data */
    const uint8_t ans[] = {5, 1, 1, 0, 0x42};
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(39), ans, sizeof ans), 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 0);
    ck_assert_uint_eq(q[6], 1); /* completed */
    ck_assert_uint_eq(sim_meter_alert_flags(c.m) & 0x02, 0);
    cli_close(&c);
}
END_TEST

START_TEST(test_ep61_lock_auto_release)
{
    cli c;
    cli_open(&c);
    const size_t R = 133; /* 91 + ET11.32 x ET11.33 (42) */
    const uint8_t lock[] = {1}, unlock[] = {0}, bad[] = {2};
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(61), lock, 1), 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 0);
    ck_assert_uint_eq(*raw(&c, ET(54), R + 6), 1);
    ck_assert_uint_eq(*raw(&c, ET(54), R + 7), 1);
    uint64_t next = sim_meter_tick(c.m, c.now + 9000);
    ck_assert_uint_eq(*raw(&c, ET(54), R + 6), 1);
    ck_assert_uint_le(next, c.now + 10000);
    sim_meter_tick(c.m, c.now + 10001);
    ck_assert_uint_eq(*raw(&c, ET(54), R + 6), 0);
    ck_assert_uint_eq(*raw(&c, ET(54), R + 7), 0);
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(61), lock, 1), 0);
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(61), unlock, 1), 0);
    ck_assert_uint_eq(*raw(&c, ET(54), R + 6), 0);
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(61), bad, 1), 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 2);
    cli_close(&c);
}
END_TEST

START_TEST(test_ep16_clock_step)
{
    cli c;
    cli_open(&c);
    int64_t before = sim_meter_sim_now(c.m, c.now + 150);
    uint8_t prm[4];
    mep_put_le32(prm, (uint32_t)-3600); /* one hour back */
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(16), prm, 4), 0);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 0);
    int64_t after = sim_meter_sim_now(c.m, c.now);
    ck_assert_int_eq(after - before, -3600000);
    /* BT52 shows the new time: 2024-01-01 00:30 - 1 h = 2023-12-31 23:30 */
    ck_assert_uint_eq(rd(&c, MBK, BT(52), 0, 6), 0);
    ck_assert_uint_eq(c.out[5], 23);
    ck_assert_uint_eq(c.out[6], 12);
    ck_assert_uint_eq(c.out[7], 31);
    ck_assert_uint_eq(c.out[8], 23);
    ck_assert_uint_eq(call_next(&c, MBK, MEP_EP(16), prm, 2), 0); /* too short */
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 2);
    cli_close(&c);
}
END_TEST

static void latency(sim_profile *p, sim_meter_cfg *cfg)
{
    (void)p;
    cfg->policy.proc_latency_ms = 500;
}

START_TEST(test_delayed_result)
{
    cli c;
    cli_open_cfg(&c, latency);
    const uint8_t lock[] = {1};
    ck_assert_uint_eq(call(&c, MBK, MEP_EP(61), 5, lock, 1), 0);
    uint64_t t = c.now;
    ck_assert_uint_eq(mep_get_le16(result_in(&c, BT(8))), 0); /* not yet */
    uint64_t next = sim_meter_tick(c.m, t + 100);
    ck_assert_uint_eq(next, t + 500);
    ck_assert_uint_eq(mep_get_le16(result_in(&c, BT(8))), 0);
    sim_meter_tick(c.m, t + 500);
    ck_assert_uint_eq(mep_get_le16(result_in(&c, BT(8))), MEP_EP(61));
    ck_assert_uint_eq(result_in(&c, BT(8))[2], 5);
    cli_close(&c);
}
END_TEST

/* ET52 transactions (docs/mep.md 9): a 5-byte header (length, type,
 * number), records of length + request from t + 5 on, the number again at
 * the end. tx_add appends a record at w and returns the new end; tx_end
 * writes the trailer and header and returns the length. */
static size_t tx_add(uint8_t *t, size_t w, const uint8_t *rec, size_t n)
{
    mep_put_le16(t + w, (uint16_t)n);
    memcpy(t + w + 2, rec, n);
    return w + 2 + n;
}

static size_t tx_end(uint8_t *t, size_t w, uint16_t number, uint8_t type)
{
    mep_put_le16(t + w, number);
    w += 2;
    mep_put_le16(t, (uint16_t)w);
    t[2] = type;
    mep_put_le16(t + 3, number);
    return w;
}

/* ET52 transaction #n reading BT21 off 0 n 4 and ET11 off 0 n 2. */
static size_t tx_build(uint8_t *t, uint16_t number, uint8_t type)
{
    const uint8_t r1[] = {0x3F, 0x00, 0x15, 0, 0, 0, 0x00, 0x04};
    const uint8_t r2[] = {0x3F, 0x08, 0x0B, 0, 0, 0, 0x00, 0x02};
    return tx_end(t, tx_add(t, tx_add(t, 5, r1, 8), r2, 8), number, type);
}

START_TEST(test_et52_executes_and_dedupes)
{
    cli c;
    cli_open(&c);
    uint8_t t[64];
    size_t n = tx_build(t, 7, 0);
    ck_assert_uint_eq(wr(&c, MBK, ET(52), 0, t, (uint16_t)n), 0);
    ck_assert(strstr(c.log, "TX #7 executed: 2 records") != NULL);
    const uint8_t *o = raw(&c, ET(53), 0);
    /* 5 + (2+3+4) + (2+3+2) + 2 = 23 */
    ck_assert_uint_eq(mep_get_le16(o), 23);
    ck_assert_uint_eq(o[2], 1);
    ck_assert_uint_eq(mep_get_le16(o + 3), 7);
    ck_assert_uint_eq(mep_get_le16(o + 5), 7);
    ck_assert_uint_eq(o[7], 0);
    ck_assert_uint_eq(mep_get_be16(o + 8), 4);
    ck_assert_mem_eq(o + 10, raw(&c, BT(21), 0), 4);
    ck_assert_uint_eq(mep_get_le16(o + 21), 7);
    /* the same transaction again is not executed: poke ET53 to see it */
    uint8_t *ow = raw(&c, ET(53), 0);
    ow[2] = 0xEE;
    ck_assert_uint_eq(wr(&c, MBK, ET(52), 0, t, (uint16_t)n), 0);
    ck_assert(strstr(c.log, "already executed") != NULL);
    ck_assert_uint_eq(ow[2], 0xEE);
    /* same number, different content: runs */
    t[5 + 2 + 7] = 0x03;
    ck_assert_uint_eq(wr(&c, MBK, ET(52), 0, t, (uint16_t)n), 0);
    ck_assert_uint_eq(ow[2], 1);
    ck_assert_uint_eq(mep_get_be16(ow + 8), 3);
    /* ET53 is read-only for the client */
    ck_assert_uint_eq(wr(&c, MAK, ET(53), 0, t, 2), MEP_RSP_IAR);
    cli_close(&c);
}
END_TEST

START_TEST(test_et52_partial_writes)
{
    cli c;
    cli_open(&c);
    uint8_t t[64];
    size_t n = tx_build(t, 9, 0);
    ck_assert_uint_eq(wr(&c, MBK, ET(52), 0, t, 10), 0);
    ck_assert(strstr(c.log, "TX") == NULL); /* trailing number not there yet */
    ck_assert_uint_eq(wr(&c, MBK, ET(52), 10, t + 10, (uint16_t)(n - 10)), 0);
    ck_assert(strstr(c.log, "TX #9 executed") != NULL);
    ck_assert_uint_eq(raw(&c, ET(53), 0)[2], 1);
    cli_close(&c);
}
END_TEST

START_TEST(test_et52_types_and_bad_records)
{
    cli c;
    cli_open(&c);
    uint8_t t[64];
    size_t n = tx_build(t, 3, 3); /* group broadcast: denied */
    ck_assert_uint_eq(wr(&c, MBK, ET(52), 0, t, (uint16_t)n), 0);
    const uint8_t *o = raw(&c, ET(53), 0);
    ck_assert_uint_eq(o[2], 4);
    ck_assert_uint_eq(mep_get_le16(o), 7);
    n = tx_build(t, 4, 0);
    mep_put_le16(t + 15, 0); /* second record length 0 -> partial */
    ck_assert_uint_eq(wr(&c, MBK, ET(52), 0, t, (uint16_t)n), 0);
    ck_assert_uint_eq(o[2], 2);
    ck_assert_uint_eq(mep_get_le16(o), 5 + 9 + 2);
    /* a read bigger than a MEP frame is fine inside a transaction (ET16
     * record of 517 bytes); three of them do not fit ET53 (1785) -> type 2 */
    const uint8_t big[] = {0x3F, 0x08, 0x10, 0x00, 0x00, 0x00, 0x02, 0x05};
    size_t w = 5;
    for (int i = 0; i < 4; i++)
        w = tx_add(t, w, big, 8);
    w = tx_end(t, w, 5, 0);
    ck_assert_uint_eq(wr(&c, MBK, ET(52), 0, t, (uint16_t)w), 0);
    ck_assert_uint_eq(o[2], 2);
    ck_assert_uint_eq(mep_get_le16(o), 5 + 3 * (2 + 3 + 517) + 2);
    ck_assert_uint_eq(mep_get_be16(o + 5 + 2 + 1), 517);
    cli_close(&c);
}
END_TEST

START_TEST(test_et52_runs_at_writer_level)
{
    cli c;
    cli_open(&c);
    /* a transaction writing ET13 (MAK-only) written with the MBK -> 0x03 inside */
    uint8_t t[64];
    const uint8_t rec[] = {0x4F, 0x08, 0x0D, 0, 0, 0x07, 0x00, 0x01, 0x77};
    size_t w = tx_end(t, tx_add(t, 5, rec, sizeof rec), 11, 0);
    ck_assert_uint_eq(wr(&c, MBK, ET(52), 0, t, (uint16_t)w), 0);
    ck_assert_uint_eq(raw(&c, ET(53), 0)[7], MEP_RSP_ISC);
    ck_assert_uint_ne(*raw(&c, ET(13), 7), 0x77);
    mep_put_le16(t + 3, 12);
    mep_put_le16(t + w - 2, 12);
    ck_assert_uint_eq(wr(&c, MAK, ET(52), 0, t, (uint16_t)w), 0);
    ck_assert_uint_eq(raw(&c, ET(53), 0)[7], MEP_RSP_OK);
    ck_assert_uint_eq(*raw(&c, ET(13), 7), 0x77);
    cli_close(&c);
}
END_TEST

START_TEST(test_et52_bt07_call_beyond_bt07_capacity)
{
    /* docs/mep.md 9: a BT07 record inside a transaction may exceed BT07's own
     * size (258 bytes) to post large EP39 data. */
    cli c;
    cli_open_reg(&c);
    sim_meter_raise_alert(c.m, 0x01);
    enum { DATA = 300 };
    uint8_t rec[5 + 3 + 4 + DATA] = {0x40, 0x00, 0x07};
    mep_put_be16(rec + 3, 3 + 4 + DATA);
    mep_put_le16(rec + 5, MEP_EP(39));
    rec[7] = 8;                          /* PSN */
    rec[8] = 4;                          /* type: scheduled read data + alarms */
    rec[9] = 1;                          /* status */
    mep_put_le16(rec + 10, DATA);
    for (int i = 0; i < DATA; i++)
        rec[12 + i] = (uint8_t)i;
    uint8_t t[400];
    size_t w = tx_end(t, tx_add(t, 5, rec, sizeof rec), 21, 0);
    ck_assert_uint_gt(w, 258);
    ck_assert_uint_eq(wr(&c, MBK, ET(52), 0, t, (uint16_t)w), 0);
    ck_assert_uint_eq(raw(&c, ET(53), 0)[7], MEP_RSP_OK);
    ck_assert_uint_eq(result_in(&c, BT(8))[3], 0);
    ck_assert_uint_eq(sim_meter_alert_flags(c.m), 0);
    const uint8_t *r16 = raw(&c, ET(16), 4 * 517);
    ck_assert_uint_eq(mep_get_le16(r16 + 9), DATA);
    ck_assert_uint_eq(r16[11 + 299], (uint8_t)299);
    cli_close(&c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("proc");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_psn_repeat_0x04);
    tcase_add_test(tc, test_result_table_et59_vs_bt08);
    tcase_add_test(tc, test_ep39_clears_alert);
    tcase_add_test(tc, test_ep39_refused_unregistered);
    tcase_add_test(tc, test_ep17_removal);
    tcase_add_test(tc, test_ep17_restores_9600);
    tcase_add_test(tc, test_unknown_and_denied_procedures);
    tcase_add_test(tc, test_denied_procedure_isc_policy);
    tcase_add_test(tc, test_ep19_queue_and_ep39_answer);
    tcase_add_test(tc, test_ep61_lock_auto_release);
    tcase_add_test(tc, test_ep16_clock_step);
    tcase_add_test(tc, test_delayed_result);
    tcase_add_test(tc, test_et52_executes_and_dedupes);
    tcase_add_test(tc, test_et52_partial_writes);
    tcase_add_test(tc, test_et52_types_and_bad_records);
    tcase_add_test(tc, test_et52_runs_at_writer_level);
    tcase_add_test(tc, test_et52_bt07_call_beyond_bt07_capacity);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
