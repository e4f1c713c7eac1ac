/* Check suite: the optical port's configuration from a meter profile
 * (sim_profile's "optical" object -> sim_optical_cfg, sim_optical_port.c) and
 * the 20-byte key parser. The transport itself (PTY, shared-UART tap,
 * simulated probe) is exercised end to end by tests/integration/
 * test_optical_session.py, test_optical_shared.py, test_optical_pacing.py
 * and test_fw_optical.py; here the device's paced transmit queue
 * (sim_serial, which the optical port sends through) is timed from the
 * reader's side of a PTY.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "sim_optical.h"
#include "sim_optical_port.h"
#include "sim_profile.h"
#include "sim_serial.h"

#include <ev.h>

/* ---- the paced queue (docs/optical.md 1: 10 bit times per byte at 8N1) ---- */

static void no_rx(void *ctx, const uint8_t *b, size_t n, uint64_t now_us)
{
    (void)ctx;
    (void)b;
    (void)n;
    (void)now_us;
}

/* Queue n bytes (after the rate change to baud2 when n2 > 0: n2 more bytes
 * at baud2) and read them on the PTY's client side; returns the seconds
 * from the send to the last byte read. */
static double paced_read(size_t n, size_t n2, uint32_t baud2)
{
    char link[64], err[300];
    snprintf(link, sizeof link, "/tmp/test_optical_port.%d.pty", (int)getpid());
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    sim_serial_cfg sc = {.pty_path = link, .baud = 9600, .rx = no_rx, .who = "t"};
    sim_serial *s = sim_serial_open(loop, &sc, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    int fd = open(link, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    ck_assert_int_ge(fd, 0);
    static uint8_t bytes[4096];
    memset(bytes, 0x5A, sizeof bytes);
    uint64_t t0 = sim_now_us(), last = t0;
    ck_assert_uint_eq(sim_serial_send(s, bytes, n), 0);
    if (n2) {
        sim_serial_set_baud(s, baud2); /* paces what is queued after the n bytes */
        ck_assert_uint_eq(sim_serial_send(s, bytes, n2), 0);
    }
    size_t got = 0;
    while (got < n + n2 && sim_now_us() - t0 < 10000000u) {
        ev_run(loop, EVRUN_NOWAIT);
        uint8_t buf[512];
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
            got += (size_t)r;
            last = sim_now_us();
        } else {
            usleep(500);
        }
    }
    ck_assert_uint_eq(got, n + n2);
    ck_assert_uint_eq(sim_serial_queued(s), 0);
    close(fd);
    sim_serial_close(s);
    ev_loop_destroy(loop);
    return (double)(last - t0) / 1e6;
}

START_TEST(test_wire_time)
{
    ck_assert_uint_eq(sim_serial_wire_us(2585, 9600, 10), 2692708); /* ET16 at 9600 8N1 */
    ck_assert_uint_eq(sim_serial_wire_us(96, 9600, 11), 110000);   /* 8E1: 11 bit times */
    ck_assert_uint_eq(sim_serial_wire_us(5, 0, 10), 0);
}
END_TEST

/* 480 bytes at 9600 8N1 are 0.5 s on the wire; each byte may leave up to
 * 1 ms early, so >= 0.49 s; the upper bound is generous (a loaded machine
 * is late, never early). */
START_TEST(test_queue_paces_at_the_baud)
{
    double t = paced_read(480, 0, 0);
    ck_assert_msg(t >= 0.49 && t < 3.0, "480 bytes at 9600 took %.3f s", t);
}
END_TEST

/* A rate change paces only what is queued after it: 96 bytes at 9600
 * (0.1 s) then 192 at 19200 (0.1 s) = 0.2 s, not 0.3 s (all at 9600). */
START_TEST(test_rate_change_applies_after_the_queued_bytes)
{
    double t = paced_read(96, 192, 19200);
    ck_assert_msg(t >= 0.19 && t < 0.28, "96 @ 9600 + 192 @ 19200 took %.3f s", t);
}
END_TEST

static void load_shipped(sim_profile *p, const char *name)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/meters/%s.json", FIXTURES_DIR, name);
    ck_assert_msg(sim_profile_load(p, path, err, sizeof err) == 0, "%s", err);
}

static int load_text(sim_profile *p, const char *text, char *err, size_t errlen)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_optical_port_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq((int)write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
    int r = sim_profile_load(p, path, err, errlen);
    unlink(path);
    return r;
}

static int no_size(void *ctx, uint16_t id)
{
    (void)ctx;
    (void)id;
    return -1;
}

static int no_read(void *ctx, uint16_t id, uint32_t off, uint32_t n, uint8_t *out)
{
    (void)ctx, (void)id, (void)off, (void)n, (void)out;
    return -1;
}

static uint16_t rule_of(const sim_optical_cfg *c, uint16_t id)
{
    for (size_t i = 0; i < c->n_rules; i++)
        if (c->rules[i].table_id == id)
            return c->rules[i].flags;
    return 0xFFFF;
}

START_TEST(test_shipped_gen3_shares_the_uart_with_keys)
{
    sim_profile p;
    load_shipped(&p, "nes-3ph");
    sim_optical_cfg c;
    sim_optical_port_cfg_from_profile(&p, "m0", &c);
    ck_assert(c.shared_uart);              /* docs/optical.md 6: Gen 2/3 */
    ck_assert(c.mk_set && c.pk_set && c.rk_set);
    ck_assert_mem_eq(c.mk, "OPTICAL-MK-000000001", 20);
    ck_assert(!c.dos_enabled);
    ck_assert_uint_eq(c.channel_timeout_ms, 6000);
    ck_assert_uint_eq(rule_of(&c, 0), SIM_OPTICAL_R_OPEN);   /* defaults kept */
    sim_profile_free(&p);
}
END_TEST

START_TEST(test_gen4_has_separate_ports)
{
    sim_profile p;
    load_shipped(&p, "nes-3ph-fw4");
    sim_optical_cfg c;
    sim_optical_port_cfg_from_profile(&p, "m0", &c);
    ck_assert(!c.shared_uart);
    ck_assert_uint_eq(c.dos_session_s, 600);
    ck_assert_uint_eq(c.dos_holdoff_s, 300);
    sim_profile_free(&p);
}
END_TEST

START_TEST(test_every_option_reaches_the_cfg)
{
    const char *text =
        "{\"name\":\"t\",\"generation\":4,\"locked_tables\":[\"BT23\"],\"optical\":{"
        "\"keys\":{\"mk\":\"abc\",\"rk\":\"0102030405060708090a0b0c0d0e0f1011121314\"},"
        "\"pk_enabled\":false,\"identify_form\":\"classic\",\"bauds\":[6,8],\"max_packet_size\":256,"
        "\"max_packets\":2,\"strict_identify\":true,\"past_end_zeros\":true,\"oversize_rno\":true,"
        "\"bad_password_alarm\":false,\"lockout\":{\"threshold\":3,\"minutes\":5},"
        "\"dos\":{\"enabled\":true,\"session_s\":60,\"holdoff_s\":30},\"shared_uart\":true,"
        "\"timing\":{\"interchar_ms\":100,\"ack_timeout_ms\":500,\"retries\":0,\"channel_timeout_ms\":900},"
        "\"rules\":[{\"table\":\"ET51\",\"flags\":[\"write_mk\",\"no_rk\"]}]}}";
    sim_profile p;
    char err[512];
    ck_assert_msg(load_text(&p, text, err, sizeof err) == 0, "%s", err);
    sim_optical_cfg c;
    sim_optical_port_cfg_from_profile(&p, "m0", &c);
    uint8_t mk[20] = {'a', 'b', 'c'};
    ck_assert_mem_eq(c.mk, mk, 20);        /* short ASCII: 0x00-padded (docs/optical.md 4) */
    ck_assert(c.rk_set && c.rk[0] == 1 && c.rk[19] == 0x14 && !c.pk_set);
    ck_assert(!c.pk_enabled && c.identify_form == SIM_OPTICAL_IDENT_CLASSIC);
    ck_assert(c.n_baud_codes == 2 && c.baud_codes[1] == 8);
    ck_assert(c.max_packet_size == 256 && c.max_packets == 2);
    ck_assert(c.strict_identify && c.past_end_zeros && c.oversize_rno && !c.bad_password_alarm);
    ck_assert(c.lockout_threshold == 3 && c.lockout_minutes == 5);
    ck_assert(c.dos_enabled && c.dos_session_s == 60 && c.dos_holdoff_s == 30);
    ck_assert(c.shared_uart);              /* explicit, even on Gen 4 */
    ck_assert(c.link.interchar_ms == 100 && c.link.ack_timeout_ms == 500 && c.link.retries == 0);
    ck_assert_uint_eq(c.channel_timeout_ms, 900);
    ck_assert_uint_eq(rule_of(&c, 2048 + 51), SIM_OPTICAL_R_WRITE_MK | SIM_OPTICAL_R_NO_RK);
    ck_assert_uint_eq(rule_of(&c, 23), SIM_OPTICAL_R_LOCK_READ | SIM_OPTICAL_R_LOCK_WRITE);
    /* the core accepts the result */
    sim_optical_store st = {.size = no_size, .read = no_read};
    sim_optical *o = sim_optical_new(&c, &st, 0, err, sizeof err);
    ck_assert_msg(o != NULL, "%s", err);
    sim_optical_free(o);
    sim_profile_free(&p);
}
END_TEST

static void expect_bad(const char *optical, const char *want)
{
    char text[1024], err[512];
    snprintf(text, sizeof text, "{\"name\":\"t\",\"generation\":3,\"optical\":%s}", optical);
    sim_profile p;
    ck_assert_int_eq(load_text(&p, text, err, sizeof err), -1);
    ck_assert_msg(strstr(err, want) != NULL, "got \"%s\", want \"%s\"", err, want);
}

START_TEST(test_bad_optical_objects_name_the_field)
{
    expect_bad("{\"keys\":{\"mk\":\"123456789012345678901\"}}", "$.optical.keys.mk: optical key must be");
    expect_bad("{\"keys\":{\"xk\":\"a\"}}", "$.optical.keys.xk: unknown key");
    expect_bad("{\"bogus\":1}", "$.optical.bogus: unknown key");
    expect_bad("{\"identify_form\":\"ansi\"}", "$.optical.identify_form");
    expect_bad("{\"max_packet_size\":32}", "$.optical.max_packet_size");
    expect_bad("{\"bauds\":[99]}", "$.optical.bauds");
    expect_bad("{\"dos\":{\"session_s\":0}}", "$.optical.dos.session_s");
    expect_bad("{\"timing\":{\"retries\":11}}", "$.optical.timing.retries");
    expect_bad("{\"rules\":[{\"table\":\"BT23\",\"flags\":[\"fly\"]}]}", "$.optical.rules[0].flags: unknown flag");
    expect_bad("{\"rules\":[{\"flags\":[]}]}", "$.optical.rules[0].table: is required");
    expect_bad("[]", "$.optical: must be an object");
}
END_TEST

START_TEST(test_parse_key20)
{
    uint8_t k[20];
    char err[200];
    ck_assert_int_eq(sim_parse_key20("OPTICAL-MK-000000001", k, err, sizeof err), 0);
    ck_assert_mem_eq(k, "OPTICAL-MK-000000001", 20);
    ck_assert_int_eq(sim_parse_key20("00112233445566778899aabbccddeeff", k, err, sizeof err), 0);
    ck_assert(k[0] == 0x00 && k[15] == 0xFF && k[16] == 0 && k[19] == 0);
    ck_assert_int_eq(sim_parse_key20("", k, err, sizeof err), -1);
    ck_assert_int_eq(sim_parse_key20("0011223344556677889", k, err, sizeof err), 0); /* 19 chars: text */
    ck_assert_int_eq(sim_parse_key20("zz112233445566778899aabbccddeeff", k, err, sizeof err), -1);
    ck_assert_int_eq(sim_parse_key20(NULL, k, err, sizeof err), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optical_port");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_shipped_gen3_shares_the_uart_with_keys);
    tcase_add_test(tc, test_gen4_has_separate_ports);
    tcase_add_test(tc, test_every_option_reaches_the_cfg);
    tcase_add_test(tc, test_bad_optical_objects_name_the_field);
    tcase_add_test(tc, test_parse_key20);
    TCase *pace = tcase_create("pacing");
    tcase_set_timeout(pace, 30);
    tcase_add_test(pace, test_wire_time);
    tcase_add_test(pace, test_queue_paces_at_the_baud);
    tcase_add_test(pace, test_rate_change_applies_after_the_queued_bytes);
    suite_add_tcase(s, pace);
    suite_add_tcase(s, tc);
    return check_run(s);
}
