/* Check suite: sim_model (electrical model, energy integration) and sim_clock.
 *
 * The central promise: energy booked for a simulated interval is exact and
 * independent of --speed and of how often sim_model_advance is called
 * (integration in fixed 1 s steps of simulated time, sim_model.h).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "sim_model.h"

#define T0 1700000000000LL /* 2023-11-14 22:13:20 UTC, in ms */
#define HOUR_MS 3600000LL

static sim_model_cfg cfg_constant(int phases, double w, double pf)
{
    sim_model_cfg c;
    memset(&c, 0, sizeof c);
    c.phases = phases;
    c.nominal_v = 230.0;
    c.freq_hz = 50.0;
    for (int i = 0; i < phases; i++) {
        c.load[i].kind = SIM_LOAD_CONSTANT;
        c.load[i].watts = w;
        c.load[i].pf = pf;
    }
    return c;
}

/* A busy configuration: random walk, daily curve, export, voltage wander. */
static sim_model_cfg cfg_busy(void)
{
    sim_model_cfg c = cfg_constant(3, 0, 0.9);
    c.v_spread = 4.0;
    c.load[0].kind = SIM_LOAD_RANDOM_WALK;
    c.load[0].watts = 800;
    c.load[0].walk_step_w = 50;
    c.load[0].walk_min_w = 100;
    c.load[0].walk_max_w = 3000;
    c.load[1].kind = SIM_LOAD_DAILY;
    for (int h = 0; h < 24; h++)
        c.load[1].daily_w[h] = 100.0 + 37.0 * h;
    c.load[2].watts = -1234.5;
    c.load[2].capacitive = true;
    c.start_fwd_wh = 1000;
    return c;
}

static void assert_same_registers(const sim_model *a, const sim_model *b)
{
    ck_assert_mem_eq(a->reg_m, b->reg_m, sizeof a->reg_m);
    ck_assert_mem_eq(a->reg_res, b->reg_res, sizeof a->reg_res);
    ck_assert_mem_eq(a->phase_fwd_mwh, b->phase_fwd_mwh, sizeof a->phase_fwd_mwh);
    ck_assert_mem_eq(a->phase_rev_mwh, b->phase_rev_mwh, sizeof a->phase_rev_mwh);
    for (int i = 0; i < SIM_MAX_PHASES; i++) {
        ck_assert(a->ph[i].p == b->ph[i].p);
        ck_assert(a->ph[i].v == b->ph[i].v);
        ck_assert(a->avg_fwd_w[i] == b->avg_fwd_w[i]);
    }
}

START_TEST(test_constant_2300w_one_hour_is_exactly_2300wh)
{
    sim_model m;
    sim_model_cfg c = cfg_constant(1, 2300.0, 1.0);
    sim_model_init(&m, &c, 1, T0);
    sim_model_advance(&m, T0 + HOUR_MS);
    ck_assert_int_eq(m.reg_m[SIM_REG_FWD_WH], 2300000); /* analytic value, in mWh */
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_FWD_WH), 2300);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_REV_WH), 0);
    ck_assert_int_eq(m.phase_fwd_mwh[0], 2300000);
    ck_assert_int_eq(m.reg_m[SIM_REG_IMP_VARH], 0); /* pf 1: no reactive energy */
    /* an awkward power: 1234.567 W for 3 h = 3703.701 Wh (power rounded to mW) */
    c = cfg_constant(1, 1234.567, 1.0);
    sim_model_init(&m, &c, 1, T0);
    sim_model_advance(&m, T0 + 3 * HOUR_MS);
    ck_assert_int_eq(m.reg_m[SIM_REG_FWD_WH], 3703701);
}
END_TEST

START_TEST(test_one_call_vs_3600_calls_vs_random_calls)
{
    sim_model_cfg c = cfg_busy();
    sim_model a, b, r;
    sim_model_init(&a, &c, 42, T0);
    sim_model_init(&b, &c, 42, T0);
    sim_model_init(&r, &c, 42, T0);
    sim_model_advance(&a, T0 + HOUR_MS);
    for (int s = 1; s <= 3600; s++)
        sim_model_advance(&b, T0 + s * 1000LL);
    uint64_t x = 88172645463325252ULL;
    int64_t t = T0;
    while (t < T0 + HOUR_MS) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t += (int64_t)(x % 7919); /* 0..7.9 s, not aligned to steps */
        if (t > T0 + HOUR_MS)
            t = T0 + HOUR_MS;
        sim_model_advance(&r, t);
        sim_model_advance(&r, t - 5); /* going back is a no-op */
    }
    assert_same_registers(&a, &b);
    assert_same_registers(&a, &r);
    ck_assert_int_gt(a.reg_m[SIM_REG_FWD_WH], 1000 * 1000); /* something was booked */
    ck_assert_int_gt(a.phase_rev_mwh[2], 1000000);
}
END_TEST

START_TEST(test_speed_independence_through_the_clock)
{
    /* Same simulated hour at speed 1 (ticks every 250 ms) and speed 60
     * (ticks every 17 ms of wall time): identical registers. */
    sim_model_cfg c = cfg_busy();
    sim_model m1, m60;
    sim_clock c1, c60;
    sim_model_init(&m1, &c, 7, T0);
    sim_model_init(&m60, &c, 7, T0);
    sim_clock_init(&c1, 5000, T0, 1.0);
    sim_clock_init(&c60, 5000, T0, 60.0);
    for (uint64_t w = 5000; sim_clock_now(&c1, w) < T0 + HOUR_MS; w += 250)
        sim_model_advance(&m1, sim_clock_now(&c1, w));
    for (uint64_t w = 5000; sim_clock_now(&c60, w) < T0 + HOUR_MS; w += 17)
        sim_model_advance(&m60, sim_clock_now(&c60, w));
    sim_model_advance(&m1, T0 + HOUR_MS);
    sim_model_advance(&m60, T0 + HOUR_MS);
    assert_same_registers(&m1, &m60);
}
END_TEST

START_TEST(test_random_walk_deterministic_per_seed)
{
    sim_model_cfg c = cfg_busy();
    sim_model a, b, d;
    sim_model_init(&a, &c, 1234, T0);
    sim_model_init(&b, &c, 1234, T0);
    sim_model_init(&d, &c, 1235, T0);
    bool differs = false;
    for (int s = 1; s <= 600; s++) {
        int64_t t = T0 + s * 1000LL;
        sim_model_advance(&a, t);
        sim_model_advance(&b, t);
        sim_model_advance(&d, t);
        ck_assert(a.walk_w[0] == b.walk_w[0]);
        ck_assert(a.ph[1].v == b.ph[1].v);
        ck_assert(a.walk_w[0] >= 100 && a.walk_w[0] <= 3000);
        ck_assert(fabs(a.v_dev[0]) <= 4.0);
        if (a.walk_w[0] != d.walk_w[0])
            differs = true;
    }
    ck_assert_msg(differs, "a different seed should give a different walk");
    ck_assert(a.walk_w[0] != 800.0); /* it moved */
    /* seed 0 is valid and deterministic too */
    sim_model_init(&a, &c, 0, T0);
    sim_model_init(&b, &c, 0, T0);
    sim_model_advance(&a, T0 + 60000);
    sim_model_advance(&b, T0 + 60000);
    assert_same_registers(&a, &b);
}
END_TEST

START_TEST(test_net_metering_and_per_phase_energy)
{
    /* +1000 W on L1, -400 W on L2: net 600 W forward (sim_model.c choice) */
    sim_model_cfg c = cfg_constant(3, 0, 1.0);
    c.load[0].watts = 1000;
    c.load[1].watts = -400;
    sim_model m;
    sim_model_init(&m, &c, 1, T0);
    ck_assert_double_eq_tol(sim_model_total_power_w(&m), 600.0, 1e-9);
    sim_model_advance(&m, T0 + HOUR_MS);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_FWD_WH), 600);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_REV_WH), 0);
    ck_assert_int_eq(m.phase_fwd_mwh[0], 1000000);
    ck_assert_int_eq(m.phase_rev_mwh[1], 400000);
    ck_assert_int_eq(m.phase_fwd_mwh[1], 0);
    /* now export more than import */
    sim_model_set_load(&m, 1, -1500, 1.0);
    sim_model_advance(&m, T0 + 2 * HOUR_MS);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_FWD_WH), 600);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_REV_WH), 500);
}
END_TEST

START_TEST(test_phase_values_pf_and_quadrants)
{
    sim_model_cfg c = cfg_constant(3, 1000, 0.8);
    c.load[1].capacitive = true;  /* Q < 0 */
    c.load[2].watts = -1000;      /* export, inductive */
    sim_model m;
    sim_model_init(&m, &c, 1, T0);
    ck_assert_double_eq_tol(m.ph[0].s, 1250.0, 1e-9);
    ck_assert_double_eq_tol(m.ph[0].q, 750.0, 1e-9);
    ck_assert_double_eq_tol(m.ph[1].q, -750.0, 1e-9);
    ck_assert_double_eq_tol(m.ph[0].i, 1250.0 / 230.0, 1e-9);
    ck_assert_double_eq_tol(m.ph[0].pf, 0.8, 1e-12);
    ck_assert_double_eq_tol(m.ph[1].sin_phi, -0.6, 1e-12);
    ck_assert_double_eq(m.freq_hz, 50.0);
    /* totals: P = 1000, Q = 750 -> Q1; S booked = 3 x 1250 */
    sim_model_advance(&m, T0 + HOUR_MS);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_IMP_VARH), 750);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_EXP_VARH), 0);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_Q1_VARH), 750);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_Q1_VAH), 3750);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_Q4_VARH), 0);
    /* capacitive import everywhere -> Q4 */
    c = cfg_constant(1, 500, 0.6);
    c.load[0].capacitive = true;
    sim_model_init(&m, &c, 1, T0);
    sim_model_advance(&m, T0 + HOUR_MS);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_Q4_VARH), 666); /* 666.67 truncated */
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_EXP_VARH), 666);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_Q4_VAH), 833);
}
END_TEST

START_TEST(test_single_phase_l2_l3_zero)
{
    sim_model_cfg c = cfg_constant(1, 700, 0.9);
    c.load[1].watts = 999; /* ignored: one phase */
    sim_model m;
    sim_model_init(&m, &c, 1, T0);
    sim_model_advance(&m, T0 + 10000);
    ck_assert_double_eq_tol(m.ph[0].p, 700, 1e-9);
    for (int i = 1; i < 3; i++) {
        ck_assert(m.ph[i].v == 0 && m.ph[i].i == 0 && m.ph[i].p == 0 && m.ph[i].s == 0);
    }
    ck_assert_double_eq_tol(sim_model_total_power_w(&m), 700, 1e-9);
}
END_TEST

START_TEST(test_daily_curve_interpolates)
{
    sim_model_cfg c = cfg_constant(1, 0, 1.0);
    c.load[0].kind = SIM_LOAD_DAILY;
    for (int h = 0; h < 24; h++)
        c.load[0].daily_w[h] = 100.0 * h;
    c.load[0].daily_w[0] = 50;
    int64_t midnight = 1704067200000LL; /* 2024-01-01 00:00 UTC */
    sim_model m;
    sim_model_init(&m, &c, 1, midnight);
    ck_assert_double_eq_tol(m.ph[0].p, 50, 1e-9);
    sim_model_advance(&m, midnight + 30 * 60000); /* 00:30: halfway 50 -> 100 */
    ck_assert_double_eq_tol(m.ph[0].p, 75, 1e-9);
    sim_model_advance(&m, midnight + 13 * HOUR_MS + 15 * 60000); /* 13:15 */
    ck_assert_double_eq_tol(m.ph[0].p, 1325, 1e-9);
    sim_model_advance(&m, midnight + 23 * HOUR_MS + 30 * 60000); /* 23:30: 2300 -> 50 */
    ck_assert_double_eq_tol(m.ph[0].p, 1175, 1e-9);
}
END_TEST

START_TEST(test_set_load_and_set_register)
{
    sim_model_cfg c = cfg_constant(3, 100, 1.0);
    sim_model m;
    sim_model_init(&m, &c, 1, T0);
    uint64_t v0 = m.version;
    sim_model_set_register(&m, SIM_REG_FWD_WH, 123456789);
    ck_assert_uint_gt(m.version, v0);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_FWD_WH), 123456789);
    sim_model_set_load(&m, 0, 3000, 0.5);
    ck_assert(m.override_active[0]);
    ck_assert_double_eq_tol(m.ph[0].p, 3000, 1e-9);  /* effective at once */
    ck_assert_double_eq_tol(m.ph[0].s, 6000, 1e-9);
    sim_model_advance(&m, T0 + HOUR_MS);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_FWD_WH), 123456789 + 3200);
    sim_load l = {.kind = SIM_LOAD_CONSTANT, .watts = -50, .pf = 1.0};
    sim_model_set_load_desc(&m, 0, &l);
    ck_assert(!m.override_active[0]);
    ck_assert_double_eq_tol(sim_model_total_power_w(&m), 150, 1e-9);
    /* bad arguments change nothing */
    sim_model_set_load(&m, 5, 1, 1);
    sim_model_set_register(&m, SIM_REG_COUNT, 1);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_COUNT), 0);
    ck_assert_double_eq_tol(sim_model_total_power_w(&m), 150, 1e-9);
}
END_TEST

START_TEST(test_averages_and_start_values)
{
    sim_model_cfg c = cfg_constant(3, 300, 1.0);
    c.start_outage_seconds = 8;
    c.start_outage_count = 3;
    c.start_error_counter = 6;
    c.start_rev_wh = 77;
    sim_model m;
    sim_model_init(&m, &c, 1, T0);
    ck_assert_uint_eq(m.outage_seconds, 8);
    ck_assert_uint_eq(m.outage_count, 3);
    ck_assert_uint_eq(m.error_counter, 6);
    ck_assert_int_eq(sim_model_register(&m, SIM_REG_REV_WH), 77);
    ck_assert_double_eq_tol(m.avg_fwd_w[0], 300, 1e-9); /* starts at the present value */
    sim_model_set_load(&m, 0, 1300, 1.0);
    sim_model_advance(&m, T0 + 15 * 60000);
    /* exponential over 15 min: after one window ~63 % of the step */
    ck_assert(m.avg_fwd_w[0] > 300 + 0.6 * 1000 && m.avg_fwd_w[0] < 300 + 0.66 * 1000);
    sim_model_advance(&m, T0 + 4 * HOUR_MS);
    ck_assert_double_eq_tol(m.avg_fwd_w[0], 1300, 1.0);
    ck_assert_double_eq_tol(m.avg_v[0], 230, 1e-6);
}
END_TEST

START_TEST(test_rebase_skips_without_booking)
{
    sim_model_cfg c = cfg_constant(1, 3600, 1.0);
    sim_model m;
    sim_model_init(&m, &c, 1, T0);
    sim_model_advance(&m, T0 + 1500);          /* one step booked, half a step pending */
    ck_assert_int_eq(m.reg_m[SIM_REG_FWD_WH], 1000);
    sim_model_rebase(&m, T0 + 86400000LL * 365); /* clock set a year ahead */
    ck_assert_int_eq(m.reg_m[SIM_REG_FWD_WH], 1000);
    ck_assert_int_eq(m.t_ms, T0 + 86400000LL * 365);
    sim_model_advance(&m, T0 + 86400000LL * 365 + 500); /* completes the pending step */
    ck_assert_int_eq(m.reg_m[SIM_REG_FWD_WH], 2000);
    sim_model_rebase(&m, T0);                   /* and back */
    sim_model_advance(&m, T0 + 1000);
    ck_assert_int_eq(m.reg_m[SIM_REG_FWD_WH], 3000);
    /* a huge advance is bounded: only the last SIM_MODEL_MAX_CATCHUP_MS are booked */
    sim_model_init(&m, &c, 1, T0);
    sim_model_advance(&m, T0 + 86400000LL * 365);
    ck_assert_int_eq(m.reg_m[SIM_REG_FWD_WH], SIM_MODEL_MAX_CATCHUP_MS); /* 3600 W: 1 mWh per ms */
    ck_assert_int_eq(m.t_ms, T0 + 86400000LL * 365);
}
END_TEST

START_TEST(test_clock_speed_set_freeze)
{
    sim_clock c;
    sim_clock_init(&c, 1000, T0, 1.0);
    ck_assert_int_eq(sim_clock_now(&c, 1000), T0);
    ck_assert_int_eq(sim_clock_now(&c, 3500), T0 + 2500);
    ck_assert_int_eq(sim_clock_now(&c, 500), T0); /* before the base: no going back */
    /* speed change rebases: continuous at the change, faster after */
    sim_clock_set_speed(&c, 3500, 60.0);
    ck_assert_int_eq(sim_clock_now(&c, 3500), T0 + 2500);
    ck_assert_int_eq(sim_clock_now(&c, 4500), T0 + 2500 + 60000);
    ck_assert_uint_eq(sim_clock_wall_at(&c, 3500, T0 + 2500 + 60000), 4500);
    ck_assert_uint_eq(sim_clock_wall_at(&c, 3500, T0 + 2500 + 60001), 4501);
    ck_assert_uint_eq(sim_clock_wall_at(&c, 3700, T0), 3700); /* already past */
    /* set keeps the speed */
    sim_clock_set(&c, 10000, 1000000000000LL);
    ck_assert_int_eq(sim_clock_now(&c, 10000), 1000000000000LL);
    ck_assert_int_eq(sim_clock_now(&c, 10010), 1000000000600LL);
    /* freeze: time stands still, resumes from the same point */
    sim_clock_freeze(&c, 10010, true);
    ck_assert(c.frozen);
    ck_assert_int_eq(sim_clock_now(&c, 99999), 1000000000600LL);
    ck_assert_uint_eq(sim_clock_wall_at(&c, 20000, 1000000000601LL), UINT64_MAX);
    sim_clock_freeze(&c, 50000, false);
    ck_assert_int_eq(sim_clock_now(&c, 50000), 1000000000600LL);
    ck_assert_int_eq(sim_clock_now(&c, 50001), 1000000000660LL);
    /* fractional speed */
    sim_clock_init(&c, 0, 0, 0.5);
    ck_assert_int_eq(sim_clock_now(&c, 1001), 500);
    ck_assert_uint_eq(sim_clock_wall_at(&c, 0, 501), 1002);
    /* invalid speed falls back to real time */
    sim_clock_init(&c, 0, 0, -3.0);
    ck_assert_double_eq(c.speed, 1.0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_constant_2300w_one_hour_is_exactly_2300wh);
    tcase_add_test(tc, test_one_call_vs_3600_calls_vs_random_calls);
    tcase_add_test(tc, test_speed_independence_through_the_clock);
    tcase_add_test(tc, test_random_walk_deterministic_per_seed);
    tcase_add_test(tc, test_net_metering_and_per_phase_energy);
    tcase_add_test(tc, test_phase_values_pf_and_quadrants);
    tcase_add_test(tc, test_single_phase_l2_l3_zero);
    tcase_add_test(tc, test_daily_curve_interpolates);
    tcase_add_test(tc, test_set_load_and_set_register);
    tcase_add_test(tc, test_averages_and_start_values);
    tcase_add_test(tc, test_rebase_skips_without_booking);
    tcase_add_test(tc, test_clock_speed_set_freeze);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
