/* Check suite: sim_meter end to end with frames built from fields (the
 * module's view): every access decision of the dispatch (docs/mep.md 3.3, 3.4,
 * 6), read ranges, registration and ET14 (docs/mep.md 10.2), alerts (10.3),
 * client health (10.5), baud changes (2), the sequence mirror and the log
 * lines. Meter: fixtures/meters/guide-example.json (MAK 16x01, MBK 16x02). */
#include "check_run.h"
#include "meter_client.h"
START_TEST(test_access_matrix)
{
    cli c;
    cli_open(&c);
    uint8_t v = 0x55;
    /* ET13: MAK-only -> MBK 0x03, nothing stored */
    ck_assert_uint_eq(wr(&c, MBK, ET(13), 7, &v, 1), MEP_RSP_ISC);
    ck_assert_uint_ne(*raw(&c, ET(13), 7), 0x55);
    ck_assert_uint_eq(wr(&c, MAK, ET(13), 7, &v, 1), MEP_RSP_OK);
    ck_assert_uint_eq(*raw(&c, ET(13), 7), 0x55);
    /* BT21, ET14: read-only for every key -> 0x05 */
    ck_assert_uint_eq(wr(&c, MAK, BT(21), 0, &v, 1), MEP_RSP_IAR);
    ck_assert_uint_eq(wr(&c, MBK, BT(21), 0, &v, 1), MEP_RSP_IAR);
    ck_assert_uint_eq(wr(&c, MBK, ET(14), 0, &v, 1), MEP_RSP_IAR);
    /* ET50/ET51: MBK may write */
    ck_assert_uint_eq(wr(&c, MBK, ET(51), 9, &v, 1), MEP_RSP_OK);
    /* unknown / unlisted table -> 0x05 both ways */
    ck_assert_uint_eq(rd(&c, MAK, ET(99), 0, 1), MEP_RSP_IAR);
    ck_assert_uint_eq(wr(&c, MAK, ET(99), 0, &v, 1), MEP_RSP_IAR);
    ck_assert_uint_eq(rd(&c, MAK, BT(99), 0, 1), MEP_RSP_IAR);
    /* every listed table is readable with the MBK */
    ck_assert_uint_eq(rd(&c, MBK, BT(1), 0, 4), MEP_RSP_OK);
    ck_assert(strstr(c.log, "READ BT01 off=0 n=4") && strstr(c.log, "MBK -> OK 4 bytes"));
    cli_close(&c);
}
END_TEST

static void lock_bt28(sim_profile *p, sim_meter_cfg *cfg)
{
    (void)cfg;
    p->locked_tables[p->n_locked++] = MEP_BT(28);
}

START_TEST(test_hardware_lock)
{
    cli c;
    cli_open_cfg(&c, lock_bt28);
    ck_assert_uint_eq(rd(&c, MAK, BT(28), 0, 4), MEP_RSP_ISC);
    ck_assert_uint_eq(rd(&c, MAK, BT(23), 0, 4), MEP_RSP_OK);
    cli_close(&c);
}
END_TEST

START_TEST(test_malformed_requests)
{
    cli c;
    cli_open(&c);
    const uint8_t unknown[] = {0x31, 0x00, 0x17};
    ck_assert_uint_eq(send_msg(&c, MAK, unknown, sizeof unknown), MEP_RSP_ERR);
    const uint8_t shortr[] = {0x3F, 0x00, 0x17, 0x00};
    ck_assert_uint_eq(send_msg(&c, MAK, shortr, sizeof shortr), MEP_RSP_ERR);
    const uint8_t badcount[] = {0x40, 0x08, 0x33, 0x00, 0x05, 1, 2, 3};
    ck_assert_uint_eq(send_msg(&c, MAK, badcount, sizeof badcount), MEP_RSP_ERR);
    /* the sequence number was accepted for each (they authenticated) */
    ck_assert_uint_eq(sim_meter_next_seq(c.m), c.seq);
    const sim_meter_counters *k = sim_meter_counters_get(c.m);
    ck_assert_uint_eq(k->responses[MEP_RSP_ERR], 3);
    /* too short for RC4 framing: dropped, counted, silent, E unchanged */
    uint8_t f[16] = {0x00, 0x0E};
    char log[200];
    size_t n = sim_meter_on_frame(c.m, f, 16, c.now + 200, c.out, sizeof c.out, log, sizeof log);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(k->frames_malformed, 1);
    ck_assert(strstr(log, "MALFORMED") != NULL);
    ck_assert_uint_eq(sim_meter_next_seq(c.m), c.seq);
    cli_close(&c);
}
END_TEST

START_TEST(test_partial_read_past_end)
{
    cli c;
    cli_open(&c);
    /* BT21 is 10 bytes: off 8 n 10 -> the 2 bytes that exist */
    ck_assert_uint_eq(rd(&c, MAK, BT(21), 8, 10), MEP_RSP_OK);
    ck_assert_uint_eq(mep_get_be16(c.out + 3), 2);
    ck_assert_uint_eq(c.n, 2 + 3 + 2 + 8);
    ck_assert_uint_eq(rd(&c, MAK, BT(21), 10, 1), MEP_RSP_IAR); /* offset == size */
    ck_assert_uint_eq(rd(&c, MAK, BT(21), 0x123456, 1), MEP_RSP_IAR);
    cli_close(&c);
}
END_TEST

static void past_end_error(sim_profile *p, sim_meter_cfg *cfg)
{
    (void)p;
    cfg->policy.past_end_error = true;
}

START_TEST(test_partial_read_past_end_policy)
{
    cli c;
    cli_open_cfg(&c, past_end_error);
    ck_assert_uint_eq(rd(&c, MAK, BT(21), 8, 10), MEP_RSP_IAR);
    ck_assert_uint_eq(rd(&c, MAK, BT(21), 8, 2), MEP_RSP_OK);
    cli_close(&c);
}
END_TEST

START_TEST(test_oversize_read)
{
    cli c;
    cli_open(&c);
    /* ET16 is 5 x 517 bytes: a full read cannot fit one MEP frame */
    const uint8_t full[] = {0x30, 0x08, 0x10, 0x02, 0x00};
    ck_assert_uint_eq(send_msg(&c, MAK, full, sizeof full), MEP_RSP_ONP);
    ck_assert_uint_eq(rd(&c, MAK, ET(16), 0, 466), MEP_RSP_ONP);
    ck_assert_uint_eq(rd(&c, MAK, ET(16), 0, 465), MEP_RSP_OK);
    ck_assert_uint_eq(c.n, 2 + 3 + 465 + 8); /* = 478, the largest frame */
    cli_close(&c);
}
END_TEST

START_TEST(test_full_read_with_and_without_count)
{
    cli c;
    cli_open(&c);
    const uint8_t without[] = {0x30, 0x00, 0x15};
    const uint8_t with[] = {0x30, 0x00, 0x15, 0x02, 0x00};
    ck_assert_uint_eq(send_msg(&c, MBK, without, sizeof without), MEP_RSP_OK);
    ck_assert_uint_eq(mep_get_be16(c.out + 3), 10);
    ck_assert(strstr(c.log, "READ BT21 full") != NULL);
    ck_assert_uint_eq(send_msg(&c, MBK, with, sizeof with), MEP_RSP_OK);
    ck_assert_uint_eq(mep_get_be16(c.out + 3), 10);
    cli_close(&c);
}
END_TEST

static void strict_count(sim_profile *p, sim_meter_cfg *cfg)
{
    (void)p;
    cfg->policy.strict_full_read_count = true;
}

START_TEST(test_strict_full_read_count_policy)
{
    cli c;
    cli_open_cfg(&c, strict_count);
    const uint8_t without[] = {0x30, 0x00, 0x15};
    ck_assert_uint_eq(send_msg(&c, MBK, without, sizeof without), MEP_RSP_SEQ);
    ck_assert_uint_eq(mep_get_be32(c.out + 3), 1000); /* E unchanged */
    c.seq = 1000;
    const uint8_t with[] = {0x30, 0x00, 0x15, 0x02, 0x00};
    ck_assert_uint_eq(send_msg(&c, MBK, with, sizeof with), MEP_RSP_OK);
    cli_close(&c);
}
END_TEST

START_TEST(test_write_persists_and_extra_ignored)
{
    cli c;
    cli_open(&c);
    const uint8_t d[4] = {9, 8, 7, 6};
    ck_assert_uint_eq(wr(&c, MBK, ET(51), 4, d, 4), MEP_RSP_OK);
    ck_assert_uint_eq(rd(&c, MBK, ET(51), 4, 4), MEP_RSP_OK);
    ck_assert_mem_eq(c.out + 5, d, 4);
    /* ET51 is 10 bytes: a write at 8 of 4 bytes stores 2, no error */
    ck_assert_uint_eq(wr(&c, MBK, ET(51), 8, d, 4), MEP_RSP_OK);
    ck_assert_uint_eq(*raw(&c, ET(51), 8), 9);
    ck_assert_uint_eq(*raw(&c, ET(51), 9), 8);
    ck_assert_uint_eq(wr(&c, MBK, ET(51), 10, d, 1), MEP_RSP_IAR);
    cli_close(&c);
}
END_TEST

/* C12.19 SP08 "clear manufacturer status flags" written to BT07 from the
 * optical port clears BT03's manufacturer bytes (the invalid-password alarm,
 * docs/optical.md 4) and posts its result in BT08; over MEP (which does not
 * serve BT03) the same call is an unknown procedure: result 6. */
START_TEST(test_sp08_from_the_optical_port_clears_bt03_alarms)
{
    cli c;
    cli_open(&c);
    *raw(&c, BT(3), 5) = 0x01;  /* invalid password */
    *raw(&c, BT(3), 8) = 0x40;  /* another manufacturer bit */
    *raw(&c, BT(3), 1) = 0x02;  /* a standard status bit: not SP08's */
    const uint8_t mep_call[] = {0x40, 0x00, 0x07, 0x00, 0x03, 0x08, 0x00, 0x21};
    ck_assert_uint_eq(send_msg(&c, MAK, mep_call, sizeof mep_call), MEP_RSP_OK);
    ck_assert_uint_eq(*raw(&c, BT(8), 3), 6);
    ck_assert_uint_eq(*raw(&c, BT(3), 5), 0x01);
    const uint8_t sp08[] = {0x08, 0x00, 0x22};
    ck_assert_int_eq(sim_meter_optical_write(c.m, BT(7), 0, sp08, sizeof sp08, c.now + 200), 3);
    ck_assert_uint_eq(*raw(&c, BT(3), 5), 0x00);
    ck_assert_uint_eq(*raw(&c, BT(3), 8), 0x00);
    ck_assert_uint_eq(*raw(&c, BT(3), 1), 0x02);
    static const uint8_t done[4] = {0x08, 0x00, 0x22, 0x00};
    ck_assert_int_eq(memcmp(raw(&c, BT(8), 0), done, 4), 0);
    cli_close(&c);
}
END_TEST

START_TEST(test_registration_handle_and_et14)
{
    cli c;
    cli_open(&c);
    ck_assert(!sim_meter_registered(c.m));
    ck_assert_uint_eq(sim_meter_handle(c.m), 0);
    reg(&c, MBK, 0x11, 0x01);
    ck_assert(strstr(c.log, "registered: handle 1000") != NULL);
    ck_assert(sim_meter_registered(c.m));
    ck_assert_uint_eq(sim_meter_handle(c.m), 1000);
    ck_assert_uint_eq(*raw(&c, ET(14), 5) & 0x10, 0x10);
    ck_assert_uint_eq(mep_get_le16(raw(&c, ET(14), 150)), 1000);
    ck_assert_uint_eq(sim_meter_device_status(c.m), 3);
    ck_assert_uint_eq(sim_meter_counters_get(c.m)->registrations, 1);
    /* same ID again: same handle, no new registration */
    reg(&c, MBK, 0x11, 0x01);
    ck_assert_uint_eq(sim_meter_handle(c.m), 1000);
    ck_assert_uint_eq(sim_meter_counters_get(c.m)->registrations, 1);
    /* remove with EP17, a different client registers: handle + 1 */
    const uint8_t call[] = {0x40, 0x00, 0x07, 0x00, 0x06, 0x11, 0x08, 0x05, 0x00, 0xE8, 0x03};
    ck_assert_uint_eq(send_msg(&c, MBK, call, sizeof call), MEP_RSP_OK);
    ck_assert_uint_eq(sim_meter_handle(c.m), 0);
    reg(&c, MBK, 0x22, 0x01);
    ck_assert_uint_eq(sim_meter_handle(c.m), 1001);
    ck_assert_uint_eq(sim_meter_counters_get(c.m)->registrations, 2);
    cli_close(&c);
}
END_TEST

START_TEST(test_alert_pending_rules)
{
    cli c;
    cli_open(&c);
    sim_meter_raise_alert(c.m, 0x01);
    ck_assert_uint_eq(sim_meter_alert_flags(c.m), 0x01);
    ck_assert(!sim_meter_alert_pending(c.m)); /* not registered: no alerts */
    reg(&c, MBK, 0x11, 0x01);
    ck_assert(sim_meter_alert_pending(c.m));
    sim_meter_clear_alert(c.m, 0x01);
    ck_assert(!sim_meter_alert_pending(c.m));
    /* M-Bus change (bit 3) only with ET50 bit 2; delta data (bit 4) with bit 3 */
    sim_meter_raise_alert(c.m, 0x18);
    ck_assert(!sim_meter_alert_pending(c.m));
    uint8_t fl = 0x05;
    ck_assert_uint_eq(wr(&c, MBK, ET(50), 30, &fl, 1), 0);
    ck_assert(sim_meter_alert_pending(c.m));
    sim_meter_clear_alert(c.m, 0x08);
    ck_assert(!sim_meter_alert_pending(c.m));
    fl = 0x09;
    ck_assert_uint_eq(wr(&c, MBK, ET(50), 30, &fl, 1), 0);
    ck_assert(sim_meter_alert_pending(c.m));
    sim_meter_alert_sent(c.m, c.now);
    ck_assert_uint_eq(sim_meter_counters_get(c.m)->alerts_sent, 1);
    cli_close(&c);
}
END_TEST

START_TEST(test_health_timeout_via_tick)
{
    cli c;
    cli_open_reg(&c);
    const uint8_t cfg[3] = {0x02, 5, 0}; /* monitor on, timeout 5 s */
    ck_assert_uint_eq(wr(&c, MBK, ET(51), 0, cfg, 3), 0);
    uint64_t t0 = c.now;
    uint64_t next = sim_meter_tick(c.m, t0 + 4000);
    ck_assert_uint_eq(sim_meter_device_status(c.m), 3);
    ck_assert_uint_le(next, t0 + 5000); /* the deadline is announced */
    sim_meter_tick(c.m, t0 + 5001);
    ck_assert_uint_eq(sim_meter_device_status(c.m), 4);
    ck_assert_uint_eq(mep_get_le16(raw(&c, ET(14), 150 + 14)) & 0x10, 0x10);
    ck_assert_uint_eq(sim_meter_counters_get(c.m)->health_down, 1);
    sim_meter_tick(c.m, t0 + 9000); /* counted once */
    ck_assert_uint_eq(sim_meter_counters_get(c.m)->health_down, 1);
    /* the next authenticated request brings it back; the alarm stays latched */
    c.now = t0 + 9000;
    ck_assert_uint_eq(rd(&c, MBK, BT(21), 0, 1), 0);
    ck_assert_uint_eq(sim_meter_device_status(c.m), 3);
    ck_assert_uint_eq(mep_get_le16(raw(&c, ET(14), 150 + 14)) & 0x10, 0x10);
    cli_close(&c);
}
END_TEST

START_TEST(test_health_off_by_default)
{
    cli c;
    cli_open_reg(&c);
    sim_meter_tick(c.m, c.now + 3600000);
    ck_assert_uint_eq(sim_meter_device_status(c.m), 3);
    cli_close(&c);
}
END_TEST

START_TEST(test_baud_change_after_on_sent)
{
    cli c;
    cli_open_reg(&c);
    uint8_t code = 8; /* 19200 */
    ck_assert_uint_eq(wr(&c, MBK, ET(13), 270, &code, 1), MEP_RSP_ISC);
    ck_assert_uint_eq(sim_meter_baud(c.m), 9600);
    /* by hand, so on_sent is not called yet */
    uint8_t f[64], q[9] = {0x4F, 0x08, 0x0D, 0x00, 0x01, 0x0E, 0x00, 0x01, 8};
    memcpy(f + 2, q, 9);
    mep_put_be32(f + 11, c.seq++);
    mep_digest(MAK, f + 2, 13, f + 15);
    mep_put_be16(f, 21);
    size_t n = sim_meter_on_frame(c.m, f, 23, c.now + 200, c.out, sizeof c.out, c.log, sizeof c.log);
    ck_assert_uint_eq(n, 11);
    ck_assert_uint_eq(c.out[2], 0);
    ck_assert_uint_eq(sim_meter_baud(c.m), 9600); /* the reply goes out at the old rate */
    ck_assert_uint_eq(*raw(&c, ET(14), 153), 0);
    sim_meter_on_sent(c.m, c.now + 250);
    ck_assert_uint_eq(sim_meter_baud(c.m), 19200);
    ck_assert_uint_eq(*raw(&c, ET(14), 153), 8);
    ck_assert_uint_eq(sim_meter_counters_get(c.m)->baud_changes, 1);
    cli_close(&c);
}
END_TEST

START_TEST(test_log_lines)
{
    cli c;
    cli_open(&c);
    c.seq = 0x01020304;
    ck_assert_uint_eq(rd(&c, MAK, BT(23), 0, 44), MEP_RSP_SEQ);
    ck_assert_str_eq(c.log, "SEQ rx=0x01020304 want=0x000003E8 -> SEQ");
    c.seq = 1001;
    ck_assert_uint_eq(rd(&c, MAK, BT(23), 0, 44), 0);
    ck_assert_str_eq(c.log, "READ BT23 off=0 n=44 seq=0x000003E9 MAK -> OK 44 bytes");
    uint8_t one = 1;
    ck_assert_uint_eq(wr(&c, MBK, ET(50), 30, &one, 1), 0);
    ck_assert(!strncmp(c.log, "WRITE ET50 off=30 n=1 seq=0x000003EA MBK -> OK", 46));
    /* replay of the last accepted number */
    c.seq = 0x3EA;
    ck_assert_uint_eq(rd(&c, MAK, BT(23), 0, 4), MEP_RSP_SEQ);
    ck_assert(strstr(c.log, "replay") != NULL);
    ck_assert_uint_eq(sim_meter_counters_get(c.m)->replays, 1);
    ck_assert_uint_eq(sim_meter_counters_get(c.m)->seq_rejects, 2);
    /* a wrong key */
    static const uint8_t BAD[16] = {7};
    uint8_t f[32], q[8] = {0x3F, 0, 0x17, 0, 0, 0, 0, 4};
    memcpy(f + 2, q, 8);
    mep_put_be32(f + 10, 0x3EB);
    mep_digest(BAD, f + 2, 12, f + 14);
    mep_put_be16(f, 20);
    size_t n = sim_meter_on_frame(c.m, f, 22, c.now + 200, c.out, sizeof c.out, c.log, sizeof c.log);
    ck_assert_str_eq(c.log, "AUTH fail -> 0x0B");
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(c.out[2], 0x0B);
    ck_assert_uint_eq(sim_meter_counters_get(c.m)->auth_fail, 1);
    ck_assert_uint_eq(sim_meter_next_seq(c.m), 0x3EB);
    cli_close(&c);
}
END_TEST

START_TEST(test_seq_mirror_and_idt_bump)
{
    cli c;
    cli_open(&c);
    ck_assert_uint_eq(mep_get_le32(raw(&c, ET(4), 103)), 1000);
    ck_assert_uint_eq(rd(&c, MAK, ET(4), 103, 4), 0);
    ck_assert_uint_eq(mep_get_le32(c.out + 5), 1001); /* E after accepting 1000 */
    ck_assert_uint_eq(*raw(&c, ET(70), 142), 1);
    uint8_t idt = *raw(&c, ET(4), 116);
    sim_meter_bump_idt(c.m);
    ck_assert_uint_eq(*raw(&c, ET(4), 116), (uint8_t)(idt + 1));
    ck_assert_uint_eq(sim_meter_next_seq(c.m), 1001 + 25);
    ck_assert_uint_eq(rd(&c, MAK, BT(21), 0, 1), MEP_RSP_SEQ); /* the client's next request */
    ck_assert_uint_eq(mep_get_be32(c.out + 3), 1026);
    cli_close(&c);
}
END_TEST

START_TEST(test_scheduled_read_flag)
{
    cli c;
    cli_open_reg(&c);
    /* hourly at minute 45: simulated start is 00:30 */
    const uint8_t sched[4] = {0, 0, 45, 0};
    ck_assert_uint_eq(wr(&c, MAK, ET(13), 264, sched, 4), 0);
    uint64_t next = sim_meter_tick(c.m, c.now);
    ck_assert_uint_eq(sim_meter_alert_flags(c.m) & 1, 0);
    ck_assert_uint_le(next, 10000 + 15 * 60000);
    sim_meter_tick(c.m, 10000 + 15 * 60000 + 1);
    ck_assert_uint_eq(sim_meter_alert_flags(c.m) & 1, 1);
    ck_assert(sim_meter_alert_pending(c.m));
    cli_close(&c);
}
END_TEST

START_TEST(test_next_schedule_calendar)
{
    /* 2024-01-31 10:20:00 UTC (a Wednesday) */
    const int64_t t = 1706696400000LL;
    const struct {
        uint8_t s[4];
        int64_t want;
    } cases[] = {
        {{0, 0, 30, 0}, 1706697000000LL},   /* hourly :30 -> 10:30 */
        {{0, 0, 10, 0}, 1706699400000LL},   /* hourly :10 -> 11:10 */
        {{0, 6, 0, 1}, 1706767200000LL},    /* daily 06:00 -> Feb 1 06:00 */
        {{32, 0, 0, 2}, 1707004800000LL},   /* weekly Sunday 00:00 -> Feb 4 */
        {{15, 12, 0, 3}, 1707998400000LL},  /* monthly 15th 12:00 -> Feb 15 */
        {{0, 0, 0, 0}, 1706745600000LL},    /* all zeros: 1st of month -> Feb 1 */
        {{0, 0, 0, 4}, INT64_MAX},          /* never */
        {{30, 0, 0, 3}, INT64_MAX},         /* day 29..31 must not be used */
        {{39, 0, 0, 2}, INT64_MAX},         /* weekly disabled */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(sim_comm_next_schedule(cases[i].s, t) == cases[i].want, "case %zu: %lld", i,
                      (long long)sim_comm_next_schedule(cases[i].s, t));
}
END_TEST

START_TEST(test_line_events)
{
    cli c;
    cli_open(&c);
    ck_assert(sim_meter_line_on(c.m, SIM_METER_ENABLE));
    sim_meter_set_line(c.m, SIM_METER_ENABLE, false, c.now);
    sim_meter_set_line(c.m, SIM_METER_TRANSCEIVER, false, c.now);
    ck_assert(!sim_meter_line_on(c.m, SIM_METER_ENABLE));
    sim_meter_set_line(c.m, SIM_METER_ENABLE, true, c.now);
    ck_assert(sim_meter_line_on(c.m, SIM_METER_ENABLE));
    const sim_meter_counters *k = sim_meter_counters_get(c.m);
    ck_assert_uint_eq(k->line_events, 3);
    /* the names the control socket and the modem lines use map onto the enum;
     * anything else is refused and changes nothing */
    sim_meter_line w;
    ck_assert(sim_meter_line_parse("transceiver", &w) && w == SIM_METER_TRANSCEIVER);
    ck_assert(sim_meter_line_parse("enable", &w) && w == SIM_METER_ENABLE);
    ck_assert(!sim_meter_line_parse("power", &w));
    ck_assert_str_eq(sim_meter_line_name(SIM_METER_ENABLE), "enable");
    sim_meter_line_event(c.m, "power", false, c.now);
    ck_assert_uint_eq(k->line_events, 3);
    ck_assert_uint_eq(k->enable_off_events, 1);
    ck_assert_uint_eq(k->transceiver_off_events, 1);
    cli_close(&c);
}
END_TEST

static void tls_required(sim_profile *p, sim_meter_cfg *cfg)
{
    (void)cfg;
    p->tls_required = true;
}

START_TEST(test_tls_required_without_tls)
{
    cli c;
    cli_open_cfg(&c, tls_required);
    uint8_t f[32], q[8] = {0x3F, 0, 0x15, 0, 0, 0, 0, 1};
    memcpy(f + 2, q, 8);
    mep_put_be32(f + 10, 1000);
    mep_digest(MAK, f + 2, 12, f + 14);
    mep_put_be16(f, 20);
    size_t n = sim_meter_on_frame(c.m, f, 22, c.now, c.out, sizeof c.out, c.log, sizeof c.log);
    const uint8_t isss[] = {0x00, 0x01, 0x0A};
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(c.out, isss, 3);
    ck_assert_uint_eq(sim_meter_next_seq(c.m), 1000); /* not processed */
    const uint8_t hello[] = {0x00, 0x03, 0x58, 0x16, 0x03};
    n = sim_meter_on_frame(c.m, hello, sizeof hello, c.now, c.out, sizeof c.out, c.log, sizeof c.log);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(c.out[2], 0x01);
    cli_close(&c);
}
END_TEST

typedef struct {
    int messages, gates;
    sim_meter_rc4_verdict verdict;
} fake_tls;

static size_t fake_on_message(void *ctx, const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
    fake_tls *t = ctx;
    t->messages++;
    ck_assert_uint_eq(body[0], 0x80);
    ck_assert_uint_eq(len, 3);
    ck_assert_uint_ge(cap, 4);
    out[0] = 0, out[1] = 2, out[2] = 0, out[3] = 0x42;
    return 4;
}

static sim_meter_rc4_verdict fake_gate(void *ctx)
{
    fake_tls *t = ctx;
    t->gates++;
    return t->verdict;
}

START_TEST(test_tls_hooks_and_dispatch)
{
    cli c;
    cli_open(&c);
    fake_tls t = {0, 0, SIM_METER_RC4_ACCEPT};
    sim_meter_tls_hooks h = {fake_on_message, fake_gate, &t};
    sim_meter_set_tls_hooks(c.m, &h);
    const uint8_t rec[] = {0x00, 0x03, 0x80, 0x17, 0x03};
    size_t n = sim_meter_on_frame(c.m, rec, sizeof rec, c.now, c.out, sizeof c.out, c.log, sizeof c.log);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(t.messages, 1);
    ck_assert_uint_eq(rd(&c, MBK, BT(21), 0, 1), 0); /* RC4 accepted by the gate */
    ck_assert_uint_eq(t.gates, 1);
    t.verdict = SIM_METER_RC4_IGNORE;
    uint8_t f[32], q[8] = {0x3F, 0, 0x15, 0, 0, 0, 0, 1};
    memcpy(f + 2, q, 8);
    mep_put_be32(f + 10, c.seq);
    mep_digest(MAK, f + 2, 12, f + 14);
    mep_put_be16(f, 20);
    n = sim_meter_on_frame(c.m, f, 22, c.now, c.out, sizeof c.out, c.log, sizeof c.log);
    ck_assert_uint_eq(n, 0);
    /* TLS_TABLE dispatch: bare request in, bare response out, key level applies */
    uint8_t resp[64];
    const uint8_t read_bt21[] = {0x3F, 0x00, 0x15, 0, 0, 0, 0x00, 0x02};
    int rl = sim_meter_tls_dispatch(c.m, SIM_LEVEL_MBK, read_bt21, sizeof read_bt21, resp, sizeof resp);
    ck_assert_int_eq(rl, 5);
    ck_assert_uint_eq(resp[0], 0);
    ck_assert_uint_eq(mep_get_be16(resp + 1), 2);
    const uint8_t wr_et13[] = {0x4F, 0x08, 0x0D, 0, 0, 7, 0x00, 0x01, 0x33};
    rl = sim_meter_tls_dispatch(c.m, SIM_LEVEL_MBK, wr_et13, sizeof wr_et13, resp, sizeof resp);
    ck_assert_int_eq(rl, 1);
    ck_assert_uint_eq(resp[0], MEP_RSP_ISC);
    ck_assert_int_eq(sim_meter_tls_dispatch(c.m, SIM_LEVEL_NONE, wr_et13, 9, resp, 64), -1);
    /* a read larger than the record's room -> 0x04 */
    rl = sim_meter_tls_dispatch(c.m, SIM_LEVEL_MAK, read_bt21, sizeof read_bt21, resp, 4);
    ck_assert_int_eq(rl, 1);
    ck_assert_uint_eq(resp[0], MEP_RSP_ONP);
    sim_meter_set_tls_hooks(c.m, NULL);
    ck_assert_uint_eq(rd(&c, MBK, BT(21), 0, 1), 0);
    cli_close(&c);
}
END_TEST

static sim_meter *meter_seeded(sim_profile *p, uint64_t seed, bool fixed)
{
    sim_meter_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.profile = p;
    cfg.seed = seed;
    cfg.has_seq_start = fixed;
    cfg.seq_start = 42;
    cfg.policy = p->policy;
    char err[200];
    sim_meter *m = sim_meter_new(&cfg, 0, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    return m;
}

START_TEST(test_random_seq_start)
{
    sim_profile p;
    char err[300];
    ck_assert_msg(sim_profile_load(&p, FIXTURES_DIR "/meters/nes-3ph.json", err, sizeof err) == 0,
                  "%s", err);
    sim_meter *a = meter_seeded(&p, 11, false), *b = meter_seeded(&p, 11, false);
    sim_meter *d = meter_seeded(&p, 12, false), *f = meter_seeded(&p, 11, true);
    ck_assert_uint_eq(sim_meter_next_seq(a), sim_meter_next_seq(b)); /* same seed, same E */
    ck_assert_uint_ne(sim_meter_next_seq(a), sim_meter_next_seq(d));
    ck_assert_uint_eq(sim_meter_next_seq(f), 42);
    ck_assert_str_eq(sim_meter_name(a), "meter");
    sim_meter_free(a);
    sim_meter_free(b);
    sim_meter_free(d);
    sim_meter_free(f);
    sim_profile_free(&p);
}
END_TEST

START_TEST(test_gen4_sequence_mirror)
{
    sim_profile p;
    char err[300];
    ck_assert_msg(sim_profile_load(&p, FIXTURES_DIR "/meters/nes-3ph-fw4.json", err, sizeof err) == 0,
                  "%s", err);
    ck_assert_int_ge(p.generation, 4);
    sim_meter *m = meter_seeded(&p, 3, true);
    sim_profile_free(&p); /* the meter keeps its own copy */
    size_t size = 0;
    const uint8_t *e4 = sim_tables_raw(sim_meter_tables(m), MEP_ET(4), &size);
    ck_assert_uint_ge(size, 133);
    ck_assert_uint_eq(mep_get_le32(e4 + 129), 42);
    sim_meter_set_next_seq(m, 0xDEADBEEF);
    ck_assert_uint_eq(mep_get_le32(e4 + 129), 0xDEADBEEF);
    ck_assert_uint_eq(sim_meter_next_seq(m), 0xDEADBEEF);
    sim_meter_free(m);
}
END_TEST

START_TEST(test_disable_mep)
{
    cli c;
    cli_open_reg(&c);
    cli_alert(&c);
    uint8_t off = 0x80;
    ck_assert_uint_eq(wr(&c, MBK, ET(51), 0, &off, 1), 0); /* this reply still goes out */
    ck_assert(!sim_meter_alert_pending(c.m));
    uint8_t f[32], q[8] = {0x3F, 0, 0x15, 0, 0, 0, 0, 1};
    memcpy(f + 2, q, 8);
    mep_put_be32(f + 10, c.seq);
    mep_digest(MBK, f + 2, 12, f + 14);
    mep_put_be16(f, 20);
    size_t n = sim_meter_on_frame(c.m, f, 22, c.now + 200, c.out, sizeof c.out, c.log, sizeof c.log);
    ck_assert_uint_eq(n, 0);
    ck_assert(strstr(c.log, "disabled") != NULL);
    ck_assert_uint_eq(sim_meter_next_seq(c.m), c.seq);
    cli_close(&c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("meter");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_access_matrix);
    tcase_add_test(tc, test_hardware_lock);
    tcase_add_test(tc, test_malformed_requests);
    tcase_add_test(tc, test_partial_read_past_end);
    tcase_add_test(tc, test_partial_read_past_end_policy);
    tcase_add_test(tc, test_oversize_read);
    tcase_add_test(tc, test_full_read_with_and_without_count);
    tcase_add_test(tc, test_strict_full_read_count_policy);
    tcase_add_test(tc, test_write_persists_and_extra_ignored);
    tcase_add_test(tc, test_registration_handle_and_et14);
    tcase_add_test(tc, test_sp08_from_the_optical_port_clears_bt03_alarms);
    tcase_add_test(tc, test_alert_pending_rules);
    tcase_add_test(tc, test_health_timeout_via_tick);
    tcase_add_test(tc, test_health_off_by_default);
    tcase_add_test(tc, test_baud_change_after_on_sent);
    tcase_add_test(tc, test_log_lines);
    tcase_add_test(tc, test_seq_mirror_and_idt_bump);
    tcase_add_test(tc, test_scheduled_read_flag);
    tcase_add_test(tc, test_next_schedule_calendar);
    tcase_add_test(tc, test_line_events);
    tcase_add_test(tc, test_tls_required_without_tls);
    tcase_add_test(tc, test_random_seq_start);
    tcase_add_test(tc, test_disable_mep);
    tcase_add_test(tc, test_gen4_sequence_mirror);
    tcase_add_test(tc, test_tls_hooks_and_dispatch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
