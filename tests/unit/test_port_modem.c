/* Check suite: the HIL modem-line wiring of a UART sim_port (sim_portmodem)
 * driven end to end on a real libev loop with a fake adapter injected in
 * place of libserialport. The "UART" is the slave side of a PTY opened as
 * --uart (plain termios path), so bytes really flow through the port.
 *
 * Covered: sensed levels reach the meter exactly like control-socket line
 * events (line state, counters, transceiver off = bytes not heard),
 * polarity, debounce rejecting a one-sample glitch, a failing adapter holds
 * the levels, board_reset/board_power through sim_control_exec (pulse
 * length, polarity, busy, unwired, bad arguments), refusal on a PTY port,
 * release of a running pulse when the port closes, and the config options
 * (CLI flags, JSON keys, validation errors). */
#define _GNU_SOURCE 1 /* ptsname_r */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "check_run.h"
#include "config_cases.h"
#include "sim_config.h"
#include "sim_control.h"
#include "sim_port.h"
#include "sim_portmodem.h"
#include "sim_profile.h"
#include "sim_station.h"

/* ---- fake adapter ---- */
typedef struct {
    unsigned signals;            /* what get_signals reports */
    int glitch_sample;           /* 1-based sample that reports glitch_signals instead (0 = none) */
    unsigned glitch_signals;
    bool fail_get;
    bool dtr, rts;               /* pin levels as last driven */
    unsigned samples, dtr_calls, rts_calls;
} fake_port;

static int fake_get(void *ctx, unsigned *mask)
{
    fake_port *f = ctx;
    if (f->fail_get)
        return -1;
    f->samples++;
    *mask = (f->glitch_sample > 0 && f->samples == (unsigned)f->glitch_sample) ? f->glitch_signals : f->signals;
    return 0;
}

static int fake_dtr(void *ctx, bool on)
{
    fake_port *f = ctx;
    f->dtr = on;
    f->dtr_calls++;
    return 0;
}

static int fake_rts(void *ctx, bool on)
{
    fake_port *f = ctx;
    f->rts = on;
    f->rts_calls++;
    return 0;
}

/* ---- a meter on a --uart port that is really a PTY slave ---- */
typedef struct {
    struct ev_loop *loop;
    sim_config_meter sec;
    sim_station *st;
    sim_meter *m;                /* the station's meter and port */
    sim_port *port;
    int master;                  /* the "module" end of the wire */
    char slave[128];
    fake_port fake;
    sim_modem_port io;
    FILE *log;
    char *logbuf;
    size_t loglen;
    ev_timer tick;
} rig;

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

/* One station ("pm", the guide's example meter) on a UART (the slave of a
 * PTY pair: plain termios) or on a PTY. */
static void rig_open(rig *r, bool as_uart)
{
    char err[400];
    memset(r, 0, sizeof *r);
    r->loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(r->loop);
    sim_config_meter *sec = &r->sec;
    sim_config_meter_init(sec, 0);
    snprintf(sec->name, sizeof sec->name, "pm");
    ck_assert_int_eq(sim_config_meter_set(&sec->profile, FIXTURES_DIR "/meters/guide-example.json"), 0);
    sec->has_seq_start = true;
    sec->seq_start = 1000;
    sec->has_seed = true;
    sec->seed = 7;
    r->master = -1;
    if (as_uart) {
        r->master = posix_openpt(O_RDWR | O_NOCTTY);
        ck_assert_int_ge(r->master, 0);
        ck_assert(grantpt(r->master) == 0 && unlockpt(r->master) == 0);
        ck_assert(ptsname_r(r->master, r->slave, sizeof r->slave) == 0);
        ck_assert_int_eq(sim_config_meter_set(&sec->uart, r->slave), 0);
    } else {
        char pty[128];
        snprintf(pty, sizeof pty, "/tmp/test_port_modem.%d.pty", (int)getpid());
        ck_assert_int_eq(sim_config_meter_set(&sec->pty, pty), 0);
    }
    r->st = sim_station_new(sec, 0, NULL, sim_now_us() / 1000u, err, sizeof err);
    ck_assert_msg(r->st != NULL, "%s", err);
    r->log = open_memstream(&r->logbuf, &r->loglen);
    ck_assert_ptr_nonnull(r->log);
    sim_station_env env = {.loop = r->loop, .verbose = 1, .log = r->log};
    ck_assert_msg(sim_station_open(r->st, &env, err, sizeof err) == 0, "%s", err);
    r->m = sim_station_meter(r->st);
    r->port = sim_station_port(r->st);
    r->io = (sim_modem_port){fake_get, fake_dtr, fake_rts, &r->fake};
    /* a 1 ms tick so the loop always wakes up while a test waits */
    ev_timer_init(&r->tick, on_tick, 0.001, 0.001);
    ev_timer_start(r->loop, &r->tick);
}

static void rig_close(rig *r)
{
    ev_timer_stop(r->loop, &r->tick);
    sim_station_free(r->st);
    if (r->master >= 0)
        close(r->master);
    fclose(r->log);
    free(r->logbuf);
    ev_loop_destroy(r->loop);
    sim_config_meter_clear(&r->sec);
}

/* The station's log so far contains text. */
static bool log_has(rig *r, const char *text)
{
    fflush(r->log);
    return r->logbuf && strstr(r->logbuf, text) != NULL;
}

/* Run the loop for ms milliseconds. */
static void spin(rig *r, unsigned ms)
{
    uint64_t end = sim_now_us() + (uint64_t)ms * 1000u;
    while (sim_now_us() < end)
        ev_run(r->loop, EVRUN_ONCE);
}

/* Run the loop until the modem has taken n samples / seen n port errors
 * (2 s bound: a loaded machine may poll late, never faster). */
static void spin_until_polls(rig *r, const sim_portmodem *pm, unsigned samples, unsigned errors)
{
    const sim_modem *m = sim_portmodem_modem(pm);
    uint64_t t0 = sim_now_us();
    while ((m->c.samples < samples || m->c.port_errors < errors) && sim_now_us() - t0 < 2000000u)
        ev_run(r->loop, EVRUN_ONCE);
}

/* Run the loop until the meter's line state equals want (or 2 s: a generous
 * bound, the debounce needs ~10 ms). Returns the elapsed ms, or -1. */
static long spin_until_line(rig *r, sim_meter_line line, bool want)
{
    uint64_t t0 = sim_now_us();
    while (sim_now_us() - t0 < 2000000u) {
        if (sim_meter_line_on(r->m, line) == want)
            return (long)((sim_now_us() - t0) / 1000u);
        ev_run(r->loop, EVRUN_ONCE);
    }
    return -1;
}

static sim_portmodem *attach(rig *r, const sim_modem_cfg *cfg)
{
    char err[300];
    ck_assert_msg(sim_station_attach_modem(r->st, cfg, &r->io, err, sizeof err) == 0, "%s", err);
    ck_assert_ptr_nonnull(sim_station_modem(r->st));
    return sim_station_modem(r->st);
}

/* Sensed lines: transceiver on CTS, ENABLE on DSR inverted (as wired
 * through an inverting opto, hil/README.md). */
static sim_modem_cfg sense_cfg(void)
{
    sim_modem_cfg c;
    memset(&c, 0, sizeof c);
    c.in[SIM_MODEM_LINE_TRANSCEIVER].signal = SIM_MODEM_CTS;
    c.in[SIM_MODEM_LINE_ENABLE].signal = SIM_MODEM_DSR;
    c.in[SIM_MODEM_LINE_ENABLE].inverted = true;
    c.poll_us = 2000;
    c.debounce = 2;
    return c;
}

START_TEST(test_sensed_levels_are_line_events)
{
    rig r;
    rig_open(&r, true);
    r.fake.signals = SIM_MODEM_CTS; /* transceiver powered, ENABLE on (DSR low, inverted) */
    sim_modem_cfg cfg = sense_cfg();
    spin_until_polls(&r, attach(&r, &cfg), 3, 0);
    const sim_meter_counters *mc = sim_meter_counters_get(r.m);
    /* the initial levels are reported once each */
    ck_assert_uint_eq(mc->line_events, 2);
    ck_assert(sim_meter_line_on(r.m, SIM_METER_TRANSCEIVER));
    ck_assert(sim_meter_line_on(r.m, SIM_METER_ENABLE));
    ck_assert_uint_eq(mc->transceiver_off_events, 0);

    /* transceiver supply off: the meter stops hearing the module */
    r.fake.signals = 0;
    long ms = spin_until_line(&r, SIM_METER_TRANSCEIVER, false);
    ck_assert_msg(ms >= 0, "transceiver off never reached the meter");
    ck_assert_uint_eq(mc->transceiver_off_events, 1);
    ck_assert(sim_meter_line_on(r.m, SIM_METER_ENABLE)); /* DSR still low: enable stays on */
    const uint8_t req[] = {0x00, 0x05, 0x30, 0x00, 0x01, 0x02, 0x03};
    ck_assert_int_eq((int)write(r.master, req, sizeof req), (int)sizeof req);
    const sim_line_counters *lc = &sim_port_line(r.port)->c;
    uint64_t t0 = sim_now_us(); /* 2 s bound: a loaded machine reads late, never early */
    while (lc->deaf_bytes + lc->bytes_rx < sizeof req && sim_now_us() - t0 < 2000000u)
        ev_run(r.loop, EVRUN_ONCE);
    ck_assert_uint_eq(lc->deaf_bytes, sizeof req);
    ck_assert_uint_eq(lc->bytes_rx, 0);

    /* DSR asserted = ENABLE off (inverted); transceiver back on */
    r.fake.signals = SIM_MODEM_DSR | SIM_MODEM_CTS;
    ck_assert_int_ge(spin_until_line(&r, SIM_METER_ENABLE, false), 0);
    ck_assert_int_ge(spin_until_line(&r, SIM_METER_TRANSCEIVER, true), 0);
    ck_assert_uint_eq(mc->enable_off_events, 1);
    ck_assert_uint_eq(mc->line_events, 5); /* 2 initial + transceiver off + (enable off, transceiver on) */
    ck_assert_msg(log_has(&r, "line event: transceiver off"), "log: %s", r.logbuf);
    ck_assert_msg(log_has(&r, "modem: poll 2000 us, debounce 2, transceiver on CTS, enable on DSR (inverted)"),
                  "log: %s", r.logbuf);
    rig_close(&r);
}
END_TEST

START_TEST(test_one_sample_glitch_is_not_an_event)
{
    rig r;
    rig_open(&r, true);
    r.fake.signals = SIM_MODEM_CTS;
    r.fake.glitch_sample = 6; /* one sample with the transceiver "off" */
    r.fake.glitch_signals = 0;
    sim_modem_cfg cfg = sense_cfg();
    cfg.in[SIM_MODEM_LINE_ENABLE].signal = 0;
    cfg.debounce = 3;
    sim_portmodem *pm = attach(&r, &cfg);
    spin_until_polls(&r, pm, 12, 0);
    const sim_modem *m = sim_portmodem_modem(pm);
    ck_assert_uint_ge(m->c.samples, 10);
    ck_assert_uint_ge(m->c.bounces, 1);
    ck_assert_uint_eq(sim_meter_counters_get(r.m)->transceiver_off_events, 0);
    ck_assert_uint_eq(sim_meter_counters_get(r.m)->line_events, 1); /* the initial report only */
    ck_assert(sim_meter_line_on(r.m, SIM_METER_TRANSCEIVER));
    rig_close(&r);
}
END_TEST

START_TEST(test_failing_adapter_holds_levels)
{
    rig r;
    rig_open(&r, true);
    r.fake.signals = SIM_MODEM_CTS;
    sim_modem_cfg cfg = sense_cfg();
    sim_portmodem *pm = attach(&r, &cfg);
    spin(&r, 20);
    ck_assert(sim_meter_line_on(r.m, SIM_METER_TRANSCEIVER));
    r.fake.fail_get = true;
    r.fake.signals = 0; /* would be "off", but nothing can be read */
    spin_until_polls(&r, pm, 0, 4);
    ck_assert(sim_meter_line_on(r.m, SIM_METER_TRANSCEIVER));
    ck_assert_uint_eq(sim_meter_counters_get(r.m)->transceiver_off_events, 0);
    ck_assert_uint_ge(sim_portmodem_modem(pm)->c.port_errors, 2);
    ck_assert_msg(log_has(&r, "modem lines failed"), "log: %s", r.logbuf);
    r.fake.fail_get = false;
    ck_assert_int_ge(spin_until_line(&r, SIM_METER_TRANSCEIVER, false), 0);
    ck_assert_msg(log_has(&r, "readable again"), "log: %s", r.logbuf);
    rig_close(&r);
}
END_TEST

static sim_modem_cfg out_cfg(void)
{
    sim_modem_cfg c;
    memset(&c, 0, sizeof c);
    c.out[SIM_MODEM_OUT_RESET].pin = SIM_MODEM_PIN_DTR;
    c.out[SIM_MODEM_OUT_POWER].pin = SIM_MODEM_PIN_RTS;
    c.out[SIM_MODEM_OUT_POWER].inverted = true;
    return c;
}

/* exec one control line; returns 1 for ok, 0 for an error reply (copied to out) */
/* A control socket (no path: commands through sim_control_exec) on the
 * rig's one station. */
static sim_control *control_of(rig *r)
{
    char err[300];
    sim_control *c = sim_control_new(r->loop, NULL, &r->st, 1, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    return c;
}

static int exec(sim_control *c, const char *line, char *out, size_t cap)
{
    char *rep = sim_control_exec(c, line);
    ck_assert_ptr_nonnull(rep);
    snprintf(out, cap, "%s", rep);
    int ok = strstr(rep, "\"ok\": true") != NULL || strstr(rep, "\"ok\":true") != NULL;
    free(rep);
    return ok;
}

START_TEST(test_board_reset_and_power_commands)
{
    rig r;
    rig_open(&r, true);
    sim_modem_cfg cfg = out_cfg();
    attach(&r, &cfg);
    /* idle levels: reset released (DTR off), power on (RTS inverted: on) */
    ck_assert(!r.fake.dtr);
    ck_assert(r.fake.rts);
    char rep[4096];
    sim_control *c = control_of(&r);

    uint64_t t0 = sim_now_us();
    ck_assert_msg(exec(c, "{\"cmd\":\"board_reset\",\"ms\":40}", rep, sizeof rep), "%s", rep);
    ck_assert(r.fake.dtr);
    ck_assert_msg(!exec(c, "{\"cmd\":\"board_reset\"}", rep, sizeof rep), "%s", rep);
    ck_assert_msg(strstr(rep, "already running"), "%s", rep);
    while (r.fake.dtr && sim_now_us() - t0 < 2000000u)
        ev_run(r.loop, EVRUN_ONCE);
    uint64_t held_ms = (sim_now_us() - t0) / 1000u;
    ck_assert(!r.fake.dtr);
    ck_assert_msg(held_ms >= 40 && held_ms < 1000, "reset held %llu ms", (unsigned long long)held_ms);

    /* power cut until restored: RTS driven off (inverted), then back on */
    ck_assert_msg(exec(c, "{\"cmd\":\"board_power\",\"on\":false}", rep, sizeof rep), "%s", rep);
    ck_assert(!r.fake.rts);
    spin(&r, 20);
    ck_assert(!r.fake.rts);
    ck_assert_msg(exec(c, "{\"cmd\":\"status\"}", rep, sizeof rep), "%s", rep);
    ck_assert_msg(strstr(rep, "\"power_cut\": true") || strstr(rep, "\"power_cut\":true"), "%s", rep);
    ck_assert_msg(strstr(rep, "\"pulses\": 1") || strstr(rep, "\"pulses\":1"), "%s", rep);
    ck_assert_msg(exec(c, "{\"cmd\":\"board_power\",\"on\":true}", rep, sizeof rep), "%s", rep);
    ck_assert(r.fake.rts);
    /* a timed cut */
    ck_assert_msg(exec(c, "{\"cmd\":\"board_power\",\"ms\":15}", rep, sizeof rep), "%s", rep);
    ck_assert(!r.fake.rts);
    spin(&r, 60);
    ck_assert(r.fake.rts);

    /* bad requests change nothing */
    unsigned dtr_calls = r.fake.dtr_calls, rts_calls = r.fake.rts_calls;
    static const char *const bad[] = {
        "{\"cmd\":\"board_reset\",\"ms\":0}",          "{\"cmd\":\"board_reset\",\"ms\":600000}",
        "{\"cmd\":\"board_reset\",\"ms\":\"x\"}",       "{\"cmd\":\"board_reset\",\"on\":true}",
        "{\"cmd\":\"board_power\",\"on\":1}",           "{\"cmd\":\"board_power\",\"on\":false,\"ms\":5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!exec(c, bad[i], rep, sizeof rep), "%s accepted: %s", bad[i], rep);
    ck_assert_uint_eq(r.fake.dtr_calls, dtr_calls);
    ck_assert_uint_eq(r.fake.rts_calls, rts_calls);
    ck_assert_msg(log_has(&r, "modem: board reset for 40 ms (DTR)"), "log: %s", r.logbuf);
    ck_assert_msg(log_has(&r, "modem: board reset released (DTR)"), "log: %s", r.logbuf);
    sim_control_free(c);
    rig_close(&r);
}
END_TEST

START_TEST(test_unwired_output_and_no_modem_are_errors)
{
    rig r;
    rig_open(&r, true);
    char err[300], rep[4096];
    sim_control *c = control_of(&r);
    ck_assert(!exec(c, "{\"cmd\":\"board_reset\"}", rep, sizeof rep));
    ck_assert_msg(strstr(rep, "no modem lines"), "%s", rep);
    sim_modem_cfg cfg = sense_cfg(); /* sensing only: no outputs */
    r.fake.signals = SIM_MODEM_CTS;
    attach(&r, &cfg);
    ck_assert(!exec(c, "{\"cmd\":\"board_power\",\"ms\":10}", rep, sizeof rep));
    ck_assert_msg(strstr(rep, "--power-line"), "%s", rep);
    ck_assert_uint_eq(r.fake.dtr_calls + r.fake.rts_calls, 0); /* never touched DTR/RTS */
    /* a second attach is refused */
    ck_assert_int_eq(sim_station_attach_modem(r.st, &cfg, &r.io, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "already"), "%s", err);
    sim_control_free(c);
    rig_close(&r);
}
END_TEST

START_TEST(test_pty_port_refused)
{
    rig r;
    rig_open(&r, false);
    char err[300], rep[4096];
    sim_modem_cfg cfg = out_cfg();
    ck_assert_int_eq(sim_station_attach_modem(r.st, &cfg, &r.io, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "modem lines need --uart"), "%s", err);
    ck_assert_uint_eq(r.fake.dtr_calls + r.fake.rts_calls, 0);
    sim_control *c = control_of(&r);
    ck_assert(!exec(c, "{\"cmd\":\"board_reset\"}", rep, sizeof rep));
    ck_assert_msg(strstr(rep, "needs --uart"), "%s", rep);
    sim_control_free(c);
    rig_close(&r);
}
END_TEST

START_TEST(test_bad_cfg_refused_without_driving)
{
    rig r;
    rig_open(&r, true);
    char err[300];
    sim_modem_cfg cfg = out_cfg();
    cfg.out[SIM_MODEM_OUT_POWER].pin = SIM_MODEM_PIN_DTR; /* both on DTR */
    ck_assert_int_eq(sim_station_attach_modem(r.st, &cfg, &r.io, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "same pin"), "%s", err);
    ck_assert_uint_eq(r.fake.dtr_calls + r.fake.rts_calls, 0);
    rig_close(&r);
}
END_TEST

START_TEST(test_close_releases_running_pulse)
{
    rig r;
    rig_open(&r, true);
    sim_modem_cfg cfg = out_cfg();
    sim_portmodem *pm = attach(&r, &cfg);
    char err[200];
    ck_assert_int_eq(sim_portmodem_pulse(pm, SIM_MODEM_OUT_RESET, 10000, err, sizeof err), 0);
    ck_assert(r.fake.dtr);
    rig_close(&r); /* the station frees its modem lines: the board is let out of reset */
    ck_assert(!r.fake.dtr);
}
END_TEST

/* ---- configuration: flags, JSON keys, validation ---- */

START_TEST(test_config_options)
{
    static sim_config c;
    char err[600];
    const char *ok[] = {"--uart", "/dev/ttyUSB9", "--sense-transceiver", "cts", "--sense-enable", "DSR:inverted",
                        "--reset-line", "DTR", "--power-line", "RTS:inverted", "--modem-poll-ms", "3",
                        "--modem-debounce", "4", NULL};
    ck_assert_msg(config_parse(&c, err, sizeof err, ok) == 0, "%s", err);
    const sim_modem_cfg *m = &c.meters[0].modem;
    ck_assert(c.meters[0].has_modem);
    ck_assert_uint_eq(m->in[SIM_MODEM_LINE_TRANSCEIVER].signal, SIM_MODEM_CTS);
    ck_assert(!m->in[SIM_MODEM_LINE_TRANSCEIVER].inverted);
    ck_assert_uint_eq(m->in[SIM_MODEM_LINE_ENABLE].signal, SIM_MODEM_DSR);
    ck_assert(m->in[SIM_MODEM_LINE_ENABLE].inverted);
    ck_assert(m->out[SIM_MODEM_OUT_RESET].pin == SIM_MODEM_PIN_DTR);
    ck_assert(m->out[SIM_MODEM_OUT_POWER].pin == SIM_MODEM_PIN_RTS && m->out[SIM_MODEM_OUT_POWER].inverted);
    ck_assert_uint_eq(m->poll_us, 3000);
    ck_assert_uint_eq(m->debounce, 4);

    static const config_refusal bad[] = {
        {{"--pty", "/tmp/x", "--sense-transceiver", "CTS", NULL}, "modem lines need --uart"},
        {{"--pty", "/tmp/x", "--reset-line", "DTR", NULL}, "modem lines need --uart"},
        {{"--uart", "/dev/u", "--sense-enable", "DTR", NULL}, "--sense-enable \"DTR\": expected CTS, DSR, DCD or RI"},
        {{"--uart", "/dev/u", "--sense-enable", "CTS:upside", NULL}, "optionally :inverted"},
        {{"--uart", "/dev/u", "--reset-line", "CTS", NULL}, "--reset-line \"CTS\": expected DTR or RTS"},
        {{"--uart", "/dev/u", "--modem-poll-ms", "0", NULL}, "--modem-poll-ms \"0\": expected milliseconds 1..1000"},
        {{"--uart", "/dev/u", "--modem-debounce", "5000", NULL}, "--modem-debounce \"5000\""},
        {{"--uart", "/dev/u", "--sense-transceiver", "CTS", "--sense-enable", "CTS", NULL}, "same input"},
        {{"--uart", "/dev/u", "--reset-line", "RTS", "--power-line", "RTS:inverted", NULL}, "same pin"},
    };
    config_expect_refusals(&c, bad, sizeof bad / sizeof bad[0]);
    sim_config_free(&c);
}
END_TEST

START_TEST(test_config_file_keys)
{
    static sim_config c;
    char err[600], path[128];
    snprintf(path, sizeof path, "/tmp/test_port_modem.%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"meters\":[{\"name\":\"b\",\"uart\":\"/dev/ttyUSB7\",\"sense_transceiver\":\"RI:inverted\","
          "\"sense_enable\":\"DCD\",\"reset_line\":\"RTS\",\"modem_poll_ms\":7,\"modem_debounce\":1}]}",
          f);
    fclose(f);
    const char *args[] = {"--config", path, NULL};
    int rc = config_parse(&c, err, sizeof err, args);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(c.n_meters, 1);
    const sim_modem_cfg *m = &c.meters[0].modem;
    ck_assert_uint_eq(m->in[SIM_MODEM_LINE_TRANSCEIVER].signal, SIM_MODEM_RI);
    ck_assert(m->in[SIM_MODEM_LINE_TRANSCEIVER].inverted);
    ck_assert_uint_eq(m->in[SIM_MODEM_LINE_ENABLE].signal, SIM_MODEM_DCD);
    ck_assert(m->out[SIM_MODEM_OUT_RESET].pin == SIM_MODEM_PIN_RTS);
    ck_assert_uint_eq(m->poll_us, 7000);
    ck_assert_uint_eq(m->debounce, 1);

    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"meters\":[{\"uart\":\"/dev/ttyUSB7\",\"sense_enable\":5}]}", f);
    fclose(f);
    ck_assert(config_parse(&c, err, sizeof err, args) != 0);
    ck_assert_msg(strstr(err, "meters[0].sense_enable: expected a string"), "%s", err);
    sim_config_free(&c);
    unlink(path);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("port_modem");
    TCase *tc = tcase_create("wiring");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_sensed_levels_are_line_events);
    tcase_add_test(tc, test_one_sample_glitch_is_not_an_event);
    tcase_add_test(tc, test_failing_adapter_holds_levels);
    tcase_add_test(tc, test_board_reset_and_power_commands);
    tcase_add_test(tc, test_unwired_output_and_no_modem_are_errors);
    tcase_add_test(tc, test_pty_port_refused);
    tcase_add_test(tc, test_bad_cfg_refused_without_driving);
    tcase_add_test(tc, test_close_releases_running_pulse);
    suite_add_tcase(s, tc);
    TCase *cf = tcase_create("config");
    tcase_add_test(cf, test_config_options);
    tcase_add_test(cf, test_config_file_keys);
    suite_add_tcase(s, cf);
    return s;
}

int main(void) { return check_run(suite()); }
