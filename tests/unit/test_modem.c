/* Check suite: sim_modem against a fake adapter whose modem lines the test
 * sets - every input and its inverted polarity, debounce (accept after N
 * equal samples, reject shorter glitches, timestamp = first sample of the
 * new level), the poll period, port errors, reset/power pulse lengths and
 * polarity on DTR/RTS, and the configuration and option-text errors. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "sim_modem.h"

/* ---- fake adapter ---- */
typedef struct {
    unsigned signals;        /* what get_signals reports */
    bool fail_get, fail_set;
    bool dtr, rts;
    unsigned get_calls, dtr_calls, rts_calls;
} fake_port;

static int fake_get(void *ctx, unsigned *mask)
{
    fake_port *f = ctx;
    f->get_calls++;
    if (f->fail_get)
        return -1;
    *mask = f->signals;
    return 0;
}

/* Drive one output pin of the fake port: counted, refused while fail_set. */
static int fake_set(const fake_port *f, unsigned *calls, bool *pin, bool on)
{
    (*calls)++;
    if (f->fail_set)
        return -1;
    *pin = on;
    return 0;
}

static int fake_dtr(void *ctx, bool on)
{
    fake_port *f = ctx;
    return fake_set(f, &f->dtr_calls, &f->dtr, on);
}

static int fake_rts(void *ctx, bool on)
{
    fake_port *f = ctx;
    return fake_set(f, &f->rts_calls, &f->rts, on);
}

static sim_modem_port port_of(fake_port *f)
{
    sim_modem_port p = {fake_get, fake_dtr, fake_rts, f};
    return p;
}

/* ---- event recorder ---- */
#define MAX_EV 32
typedef struct {
    char line[16];
    bool on;
    uint64_t at;
} ev;

typedef struct {
    ev e[MAX_EV];
    int n;
} evlog;

static void record(void *ctx, const char *line, bool on, uint64_t at_us)
{
    evlog *l = ctx;
    ck_assert_int_lt(l->n, MAX_EV);
    strncpy(l->e[l->n].line, line, sizeof l->e[l->n].line - 1);
    l->e[l->n].on = on;
    l->e[l->n].at = at_us;
    l->n++;
}

static sim_modem_cfg sense_cfg(unsigned trx, bool trx_inv, unsigned en, bool en_inv, unsigned debounce)
{
    sim_modem_cfg c;
    memset(&c, 0, sizeof c);
    c.in[SIM_MODEM_LINE_TRANSCEIVER].signal = trx;
    c.in[SIM_MODEM_LINE_TRANSCEIVER].inverted = trx_inv;
    c.in[SIM_MODEM_LINE_ENABLE].signal = en;
    c.in[SIM_MODEM_LINE_ENABLE].inverted = en_inv;
    c.poll_us = 5000;
    c.debounce = debounce;
    return c;
}

/* Poll every 5 ms from t0 to t1 inclusive. */
/* m sensing with cfg on the fake port f, each line event recorded in log. */
static void sense_start(sim_modem *m, fake_port *f, evlog *log, sim_modem_cfg cfg)
{
    sim_modem_port p = port_of(f);
    ck_assert_int_eq(sim_modem_init(m, &cfg, &p, record, log, NULL, 0), SIM_MODEM_OK);
}

static void run(sim_modem *m, uint64_t t0, uint64_t t1)
{
    for (uint64_t t = t0; t <= t1; t += 5000)
        ck_assert_int_eq(sim_modem_poll(m, t), SIM_MODEM_OK);
}

static const unsigned INPUTS[4] = {SIM_MODEM_CTS, SIM_MODEM_DSR, SIM_MODEM_DCD, SIM_MODEM_RI};

START_TEST(test_every_input_and_polarity_reports_the_line)
{
    /* _i: 0..7 = input index x polarity; transceiver on that input, enable unsensed */
    unsigned sig = INPUTS[_i / 2];
    bool inv = (_i % 2) != 0;
    fake_port f = {0};
    sim_modem m;
    evlog log = {0};
    sense_start(&m, &f, &log, sense_cfg(sig, inv, 0, false, 1));

    f.signals = 0x0F & ~sig; /* every OTHER input asserted: must not matter */
    run(&m, 0, 0);
    ck_assert_int_eq(log.n, 1);
    ck_assert_str_eq(log.e[0].line, "transceiver");
    ck_assert(log.e[0].on == inv); /* pin deasserted: off, or on when inverted */

    f.signals = sig;
    run(&m, 5000, 5000);
    ck_assert_int_eq(log.n, 2);
    ck_assert(log.e[1].on == !inv);
    ck_assert_uint_eq(log.e[1].at, 5000);
    bool on;
    ck_assert_int_eq(sim_modem_level(&m, SIM_MODEM_LINE_TRANSCEIVER, &on), SIM_MODEM_OK);
    ck_assert(on == !inv);
    ck_assert_int_eq(sim_modem_level(&m, SIM_MODEM_LINE_ENABLE, &on), SIM_MODEM_ERR_UNWIRED);
}
END_TEST

START_TEST(test_two_lines_sensed_independently)
{
    /* transceiver on CTS active high, ENABLE on DSR inverted (docs/module-behaviour.md 2:
     * the board's ENABLE output goes through an inverting stage) */
    fake_port f = {0};
    sim_modem m;
    evlog log = {0};
    sense_start(&m, &f, &log, sense_cfg(SIM_MODEM_CTS, false, SIM_MODEM_DSR, true, 1));
    f.signals = SIM_MODEM_DSR; /* transceiver off, DSR asserted = ENABLE off */
    run(&m, 0, 0);
    ck_assert_int_eq(log.n, 2);
    ck_assert_str_eq(log.e[0].line, "transceiver");
    ck_assert(!log.e[0].on);
    ck_assert_str_eq(log.e[1].line, "enable");
    ck_assert(!log.e[1].on);
    f.signals = SIM_MODEM_CTS; /* boot order: transceiver on and ENABLE on */
    run(&m, 5000, 5000);
    ck_assert_int_eq(log.n, 4);
    ck_assert(log.e[2].on && log.e[3].on);
    ck_assert_uint_eq(m.c.events[SIM_MODEM_LINE_ENABLE][1], 1);
    ck_assert_uint_eq(m.c.events[SIM_MODEM_LINE_ENABLE][0], 1);
}
END_TEST

START_TEST(test_debounce_needs_n_equal_samples_and_stamps_the_first)
{
    fake_port f = {0};
    sim_modem m;
    evlog log = {0};
    sense_start(&m, &f, &log, sense_cfg(SIM_MODEM_CTS, false, 0, false, 3));
    f.signals = SIM_MODEM_CTS;
    run(&m, 0, 5000);
    ck_assert_int_eq(log.n, 0); /* two samples of three: not yet known */
    bool on;
    ck_assert_int_eq(sim_modem_level(&m, SIM_MODEM_LINE_TRANSCEIVER, &on), SIM_MODEM_ERR_ARG);
    run(&m, 10000, 10000);
    ck_assert_int_eq(log.n, 1);
    ck_assert(log.e[0].on);
    ck_assert_uint_eq(log.e[0].at, 0); /* first sample that showed it */

    /* a 10 ms dip (2 samples) is a bounce, not an event */
    f.signals = 0;
    run(&m, 15000, 20000);
    f.signals = SIM_MODEM_CTS;
    run(&m, 25000, 60000);
    ck_assert_int_eq(log.n, 1);
    ck_assert_uint_eq(m.c.bounces, 1);

    /* a real 1000 ms off (the reference's recovery cycle, docs/module-behaviour.md 6) */
    f.signals = 0;
    run(&m, 100000, 1095000);
    f.signals = SIM_MODEM_CTS;
    run(&m, 1100000, 1200000);
    ck_assert_int_eq(log.n, 3);
    ck_assert(!log.e[1].on);
    ck_assert_uint_eq(log.e[1].at, 100000);
    ck_assert(log.e[2].on);
    ck_assert_uint_eq(log.e[2].at, 1100000);
    ck_assert_uint_eq(log.e[2].at - log.e[1].at, 1000000); /* off-time measured exactly */
}
END_TEST

START_TEST(test_alternating_glitch_never_reported)
{
    fake_port f = {0};
    sim_modem m;
    evlog log = {0};
    sense_start(&m, &f, &log, sense_cfg(SIM_MODEM_RI, false, 0, false, 2));
    run(&m, 0, 5000); /* off, known */
    ck_assert_int_eq(log.n, 1);
    for (uint64_t t = 10000; t < 200000; t += 5000) {
        f.signals = ((t / 5000) % 2) ? SIM_MODEM_RI : 0;
        ck_assert_int_eq(sim_modem_poll(&m, t), SIM_MODEM_OK);
    }
    ck_assert_int_eq(log.n, 1);
    ck_assert_uint_gt(m.c.bounces, 10);
}
END_TEST

START_TEST(test_poll_period_respected)
{
    fake_port f = {0};
    sim_modem m;
    sim_modem_cfg cfg = sense_cfg(SIM_MODEM_CTS, false, 0, false, 1);
    cfg.poll_us = 0; /* default 5 ms */
    sim_modem_port p = port_of(&f);
    ck_assert_int_eq(sim_modem_init(&m, &cfg, &p, NULL, NULL, NULL, 0), SIM_MODEM_OK);
    ck_assert_uint_eq(m.cfg.poll_us, SIM_MODEM_DEFAULT_POLL_US);
    ck_assert_uint_eq(sim_modem_next_wake(&m), 0);
    for (uint64_t t = 0; t < 100000; t += 1000)
        sim_modem_poll(&m, t);
    ck_assert_uint_eq(f.get_calls, 20); /* 100 ms / 5 ms */
    ck_assert_uint_eq(sim_modem_next_wake(&m), 100000);
}
END_TEST

START_TEST(test_port_error_changes_nothing)
{
    fake_port f = {0};
    sim_modem m;
    evlog log = {0};
    sense_start(&m, &f, &log, sense_cfg(SIM_MODEM_DCD, false, 0, false, 1));
    f.signals = SIM_MODEM_DCD;
    run(&m, 0, 0);
    ck_assert_int_eq(log.n, 1);
    f.fail_get = true;
    f.signals = 0;
    ck_assert_int_eq(sim_modem_poll(&m, 5000), SIM_MODEM_ERR_PORT);
    ck_assert_int_eq(log.n, 1);
    bool on = false;
    ck_assert_int_eq(sim_modem_level(&m, SIM_MODEM_LINE_TRANSCEIVER, &on), SIM_MODEM_OK);
    ck_assert(on);
    ck_assert_uint_eq(m.c.port_errors, 1);
    f.fail_get = false;
    run(&m, 10000, 10000);
    ck_assert_int_eq(log.n, 2);
    ck_assert(!log.e[1].on);
}
END_TEST

START_TEST(test_pulse_lengths_and_polarity)
{
    /* _i: 0 = reset on DTR, power on RTS; 1 = both inverted */
    bool inv = _i == 1;
    fake_port f = {0};
    sim_modem m;
    sim_modem_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.out[SIM_MODEM_OUT_RESET].pin = SIM_MODEM_PIN_DTR;
    cfg.out[SIM_MODEM_OUT_RESET].inverted = inv;
    cfg.out[SIM_MODEM_OUT_POWER].pin = SIM_MODEM_PIN_RTS;
    cfg.out[SIM_MODEM_OUT_POWER].inverted = inv;
    sim_modem_port p = port_of(&f);
    f.dtr = f.rts = !inv ? true : false; /* wrong level before init */
    ck_assert_int_eq(sim_modem_init(&m, &cfg, &p, NULL, NULL, NULL, 0), SIM_MODEM_OK);
    ck_assert(f.dtr == inv && f.rts == inv); /* idle = deasserted */

    ck_assert_int_eq(sim_modem_pulse(&m, SIM_MODEM_OUT_RESET, 200000, 1000000), SIM_MODEM_OK);
    ck_assert(f.dtr == !inv);
    ck_assert(f.rts == inv);
    ck_assert_int_eq(sim_modem_pulse(&m, SIM_MODEM_OUT_RESET, 5000, 1000000), SIM_MODEM_ERR_BUSY);
    ck_assert_uint_eq(sim_modem_next_wake(&m), 1200000);
    sim_modem_poll(&m, 1199999);
    ck_assert(f.dtr == !inv && sim_modem_pulse_active(&m, SIM_MODEM_OUT_RESET));
    sim_modem_poll(&m, 1200000);
    ck_assert(f.dtr == inv && !sim_modem_pulse_active(&m, SIM_MODEM_OUT_RESET));
    ck_assert_uint_eq(m.c.pulses, 1);

    /* power cut of 3 s overlapping a reset pulse: independent */
    ck_assert_int_eq(sim_modem_pulse(&m, SIM_MODEM_OUT_POWER, 3000000, 2000000), SIM_MODEM_OK);
    ck_assert_int_eq(sim_modem_pulse(&m, SIM_MODEM_OUT_RESET, 100000, 2500000), SIM_MODEM_OK);
    ck_assert_uint_eq(sim_modem_next_wake(&m), 2600000);
    sim_modem_poll(&m, 2600000);
    ck_assert(f.dtr == inv && f.rts == !inv);
    sim_modem_poll(&m, 4999000);
    ck_assert(f.rts == !inv);
    sim_modem_poll(&m, 5000000);
    ck_assert(f.rts == inv);
    ck_assert_uint_eq(sim_modem_next_wake(&m), UINT64_MAX); /* nothing sensed, nothing pulsing */

    /* steady set cancels a pulse */
    ck_assert_int_eq(sim_modem_pulse(&m, SIM_MODEM_OUT_POWER, 1000000, 6000000), SIM_MODEM_OK);
    ck_assert_int_eq(sim_modem_set(&m, SIM_MODEM_OUT_POWER, false), SIM_MODEM_OK);
    ck_assert(!sim_modem_pulse_active(&m, SIM_MODEM_OUT_POWER));
    ck_assert(f.rts == inv);
    ck_assert_int_eq(sim_modem_set(&m, SIM_MODEM_OUT_POWER, true), SIM_MODEM_OK);
    ck_assert(f.rts == !inv);
}
END_TEST

START_TEST(test_pulse_release_retried_after_port_error)
{
    fake_port f = {0};
    sim_modem m;
    sim_modem_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.out[SIM_MODEM_OUT_RESET].pin = SIM_MODEM_PIN_RTS;
    sim_modem_port p = port_of(&f);
    ck_assert_int_eq(sim_modem_init(&m, &cfg, &p, NULL, NULL, NULL, 0), SIM_MODEM_OK);
    ck_assert_int_eq(sim_modem_pulse(&m, SIM_MODEM_OUT_RESET, 1000, 0), SIM_MODEM_OK);
    f.fail_set = true;
    ck_assert_int_eq(sim_modem_poll(&m, 1000), SIM_MODEM_ERR_PORT);
    ck_assert(sim_modem_pulse_active(&m, SIM_MODEM_OUT_RESET));
    ck_assert(f.rts);
    f.fail_set = false;
    ck_assert_int_eq(sim_modem_poll(&m, 2000), SIM_MODEM_OK);
    ck_assert(!f.rts);
    ck_assert(!sim_modem_pulse_active(&m, SIM_MODEM_OUT_RESET));
    /* a failed pulse start leaves the output idle and not pulsing */
    f.fail_set = true;
    ck_assert_int_eq(sim_modem_pulse(&m, SIM_MODEM_OUT_RESET, 1000, 3000), SIM_MODEM_ERR_PORT);
    ck_assert(!sim_modem_pulse_active(&m, SIM_MODEM_OUT_RESET));
}
END_TEST

START_TEST(test_unwired_and_bad_arguments)
{
    fake_port f = {0};
    sim_modem m;
    sim_modem_cfg cfg = sense_cfg(SIM_MODEM_CTS, false, 0, false, 1);
    sim_modem_port p = port_of(&f);
    ck_assert_int_eq(sim_modem_init(&m, &cfg, &p, NULL, NULL, NULL, 0), SIM_MODEM_OK);
    ck_assert_int_eq(sim_modem_pulse(&m, SIM_MODEM_OUT_RESET, 1000, 0), SIM_MODEM_ERR_UNWIRED);
    ck_assert_int_eq(sim_modem_set(&m, SIM_MODEM_OUT_POWER, true), SIM_MODEM_ERR_UNWIRED);
    ck_assert_int_eq(sim_modem_pulse(&m, (sim_modem_out)7, 1000, 0), SIM_MODEM_ERR_ARG);
    ck_assert_int_eq(sim_modem_pulse(&m, SIM_MODEM_OUT_RESET, 0, 0), SIM_MODEM_ERR_ARG);
    ck_assert_uint_eq(f.dtr_calls + f.rts_calls, 0);
    ck_assert_str_eq(sim_modem_strerror(SIM_MODEM_ERR_BUSY), "a pulse is already running on that output");
    ck_assert_str_eq(sim_modem_line_name(SIM_MODEM_LINE_ENABLE), "enable");
}
END_TEST

START_TEST(test_bad_configurations_rejected_with_message)
{
    fake_port f = {0};
    sim_modem m;
    char err[160];
    sim_modem_port p = port_of(&f);

    sim_modem_cfg c = sense_cfg(SIM_MODEM_CTS | SIM_MODEM_DSR, false, 0, false, 1);
    ck_assert_int_eq(sim_modem_init(&m, &c, &p, NULL, NULL, err, sizeof err), SIM_MODEM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "transceiver: signal mask 0x3"));

    c = sense_cfg(SIM_MODEM_CTS, false, SIM_MODEM_CTS, true, 1);
    ck_assert_int_eq(sim_modem_init(&m, &c, &p, NULL, NULL, err, sizeof err), SIM_MODEM_ERR_ARG);
    ck_assert_str_eq(err, "transceiver and enable are sensed on the same input");

    c = sense_cfg(0, false, 0, false, SIM_MODEM_MAX_DEBOUNCE + 1);
    ck_assert_int_eq(sim_modem_init(&m, &c, &p, NULL, NULL, err, sizeof err), SIM_MODEM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "debounce"));

    c = sense_cfg(0, false, 0, false, 1);
    c.out[SIM_MODEM_OUT_RESET].pin = SIM_MODEM_PIN_DTR;
    c.out[SIM_MODEM_OUT_POWER].pin = SIM_MODEM_PIN_DTR;
    ck_assert_int_eq(sim_modem_init(&m, &c, &p, NULL, NULL, err, sizeof err), SIM_MODEM_ERR_ARG);
    ck_assert_str_eq(err, "reset and power are driven from the same pin");

    c.out[SIM_MODEM_OUT_POWER].pin = SIM_MODEM_PIN_RTS;
    sim_modem_port nortsport = p;
    nortsport.set_rts = NULL;
    ck_assert_int_eq(sim_modem_init(&m, &c, &nortsport, NULL, NULL, err, sizeof err), SIM_MODEM_ERR_ARG);
    ck_assert_str_eq(err, "power is wired but the port cannot drive that pin");

    f.fail_set = true;
    ck_assert_int_eq(sim_modem_init(&m, &c, &p, NULL, NULL, err, sizeof err), SIM_MODEM_ERR_PORT);
    ck_assert_ptr_nonnull(strstr(err, "reset: could not drive the idle level"));
    ck_assert_int_eq(sim_modem_init(NULL, &c, &p, NULL, NULL, err, sizeof err), SIM_MODEM_ERR_ARG);
}
END_TEST

START_TEST(test_option_text_parsing)
{
    sim_modem_input in;
    sim_modem_output out;
    ck_assert_int_eq(sim_modem_parse_input("CTS", &in), SIM_MODEM_OK);
    ck_assert(in.signal == SIM_MODEM_CTS && !in.inverted);
    ck_assert_int_eq(sim_modem_parse_input("dsr:inverted", &in), SIM_MODEM_OK);
    ck_assert(in.signal == SIM_MODEM_DSR && in.inverted);
    ck_assert_int_eq(sim_modem_parse_input("CD", &in), SIM_MODEM_OK);
    ck_assert(in.signal == SIM_MODEM_DCD);
    ck_assert_int_eq(sim_modem_parse_input("DCD", &in), SIM_MODEM_OK);
    ck_assert_int_eq(sim_modem_parse_input("RI", &in), SIM_MODEM_OK);
    ck_assert(in.signal == SIM_MODEM_RI);
    in.signal = 99;
    ck_assert_int_eq(sim_modem_parse_input("DTR", &in), SIM_MODEM_ERR_ARG);
    ck_assert_int_eq(sim_modem_parse_input("CTS:invert", &in), SIM_MODEM_ERR_ARG);
    ck_assert_int_eq(sim_modem_parse_input("", &in), SIM_MODEM_ERR_ARG);
    ck_assert_int_eq(sim_modem_parse_input(":inverted", &in), SIM_MODEM_ERR_ARG);
    ck_assert_int_eq(sim_modem_parse_input("VERYLONGNAME", &in), SIM_MODEM_ERR_ARG);
    ck_assert_int_eq(sim_modem_parse_input(NULL, &in), SIM_MODEM_ERR_ARG);
    ck_assert_uint_eq(in.signal, 99); /* bad text changes nothing */
    ck_assert_int_eq(sim_modem_parse_output("rts:inverted", &out), SIM_MODEM_OK);
    ck_assert(out.pin == SIM_MODEM_PIN_RTS && out.inverted);
    ck_assert_int_eq(sim_modem_parse_output("DTR", &out), SIM_MODEM_OK);
    ck_assert(out.pin == SIM_MODEM_PIN_DTR && !out.inverted);
    ck_assert_int_eq(sim_modem_parse_output("CTS", &out), SIM_MODEM_ERR_ARG);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("modem");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_every_input_and_polarity_reports_the_line, 0, 8);
    tcase_add_test(tc, test_two_lines_sensed_independently);
    tcase_add_test(tc, test_debounce_needs_n_equal_samples_and_stamps_the_first);
    tcase_add_test(tc, test_alternating_glitch_never_reported);
    tcase_add_test(tc, test_poll_period_respected);
    tcase_add_test(tc, test_port_error_changes_nothing);
    tcase_add_loop_test(tc, test_pulse_lengths_and_polarity, 0, 2);
    tcase_add_test(tc, test_pulse_release_retried_after_port_error);
    tcase_add_test(tc, test_unwired_and_bad_arguments);
    tcase_add_test(tc, test_bad_configurations_rejected_with_message);
    tcase_add_test(tc, test_option_text_parsing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
