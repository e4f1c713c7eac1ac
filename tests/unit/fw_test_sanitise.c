/* Check suite: firmware/core mepc_sanitise, the kWh sanitiser, at the edges
 * of its rules: exactly at the rating limit, 1 Wh over, a decrease by 1 Wh,
 * the baseline persistence boundary, a meter change (reset), and the S16
 * spike / S17 reset shapes. */
#include <check.h>
#include <stdlib.h>

#include "mepc_sanitise.h"

static const mepc_san_cfg CFG = {3u * 100u * 230u, 1800000u};  /* 69 kW, 30 min */

START_TEST(test_limit_formula)
{
    /* floor(69000 W * (1000 + 1000 ms) / 3.6e6) + 1 = 38 + 1 */
    ck_assert_int_eq(mepc_san_limit_wh(69000, 1000), 39);
    ck_assert_int_eq(mepc_san_limit_wh(69000, 0), 20);
    /* 1 h at 69 kW: 69000 Wh + 1 s jitter (19) + 1 */
    ck_assert_int_eq(mepc_san_limit_wh(69000, 3600000), 69000 + 19 + 1);
    ck_assert_int_eq(mepc_san_limit_wh(0, 5000), 1);
}
END_TEST

START_TEST(test_first_value_is_baseline)
{
    mepc_san_reg r;
    mepc_san_reset(&r);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 123456, 0), MEPC_SAN_FIRST);
    ck_assert_int_eq(r.good, 123456);
    ck_assert(!r.suspect);
}
END_TEST

START_TEST(test_exactly_at_limit_accepted_one_over_held)
{
    mepc_san_reg r;
    mepc_san_reset(&r);
    mepc_san_feed(&r, &CFG, 1000, 0);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 1000 + 39, 1000), MEPC_SAN_OK);
    ck_assert_int_eq(r.good, 1039);
    mepc_san_reset(&r);
    mepc_san_feed(&r, &CFG, 1000, 0);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 1000 + 40, 1000), MEPC_SAN_TOO_FAST);
    ck_assert_int_eq(r.good, 1000);
    ck_assert(r.suspect);
}
END_TEST

START_TEST(test_equal_accepted_decrease_by_one_held)
{
    mepc_san_reg r;
    mepc_san_reset(&r);
    mepc_san_feed(&r, &CFG, 5000, 0);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 5000, 2000), MEPC_SAN_OK);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 4999, 4000), MEPC_SAN_DECREASE);
    ck_assert_int_eq(r.good, 5000);
    ck_assert(r.suspect);
    /* back to normal: accepted, flag cleared */
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 5001, 6000), MEPC_SAN_OK);
    ck_assert(!r.suspect);
    ck_assert_int_eq(r.good, 5001);
}
END_TEST

START_TEST(test_baseline_persist_boundary)
{
    mepc_san_reg r;
    mepc_san_reset(&r);
    mepc_san_feed(&r, &CFG, 900000, 0);
    /* S17: the register resets to 0 at t = 10 s and counts on slowly */
    uint32_t t0 = 10000;
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 0, t0), MEPC_SAN_DECREASE);
    uint32_t t;
    int64_t v = 0;
    for (t = t0 + 2000; t < t0 + CFG.persist_ms - 1; t += 2000) {
        v += 1;
        ck_assert_int_ne(mepc_san_feed(&r, &CFG, v, t), MEPC_SAN_NEW_BASELINE);
        ck_assert_int_eq(r.good, 900000);
    }
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, v, t0 + CFG.persist_ms - 1), MEPC_SAN_DECREASE);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, v + 1, t0 + CFG.persist_ms), MEPC_SAN_NEW_BASELINE);
    ck_assert_int_eq(r.good, v + 1);
    ck_assert(!r.suspect);
}
END_TEST

START_TEST(test_inconsistent_run_restarts_persistence)
{
    mepc_san_reg r;
    mepc_san_reset(&r);
    mepc_san_feed(&r, &CFG, 1000, 0);
    mepc_san_feed(&r, &CFG, 0, 1000);                      /* run starts at 1 s */
    mepc_san_feed(&r, &CFG, 500, CFG.persist_ms / 2);       /* consistent (within rate) */
    mepc_san_feed(&r, &CFG, 100, CFG.persist_ms / 2 + 10);  /* run broken: restarts here */
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 100, CFG.persist_ms + 1000), MEPC_SAN_DECREASE);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 100, CFG.persist_ms / 2 + 10 + CFG.persist_ms), MEPC_SAN_NEW_BASELINE);
}
END_TEST

START_TEST(test_spike_never_published_s16)
{
    mepc_san_reg r;
    mepc_san_reset(&r);
    int64_t truth = 4000000;
    uint32_t t = 0;
    mepc_san_feed(&r, &CFG, truth, t);
    for (int i = 0; i < 200; i++) {
        t += 2000;
        truth += 1;  /* ~1.8 kW */
        int64_t raw = (i >= 50 && i < 60) ? truth + (1 << 20) : truth;  /* +1049 kWh for 10 polls */
        mepc_san_feed(&r, &CFG, raw, t);
        ck_assert_int_le(r.good, truth);
        if (i >= 60)
            ck_assert_int_eq(r.good, truth);
    }
}
END_TEST

START_TEST(test_meter_change_reset_takes_new_value_at_once)
{
    mepc_san_reg r;
    mepc_san_reset(&r);
    mepc_san_feed(&r, &CFG, 777777, 0);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 12, 2000), MEPC_SAN_DECREASE);
    mepc_san_reset(&r);  /* ET03 serial changed */
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 12, 4000), MEPC_SAN_FIRST);
    ck_assert_int_eq(r.good, 12);
}
END_TEST

START_TEST(test_time_wrap)
{
    mepc_san_reg r;
    mepc_san_reset(&r);
    mepc_san_feed(&r, &CFG, 100, 0xFFFFFC18u);  /* 1 s before the uint32 wrap */
    /* at t = 0 (1 s after): limit(1000) = 39 applies across the wrap, 40 is too fast */
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 140, 0u), MEPC_SAN_TOO_FAST);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 100 + 39, 1000u), MEPC_SAN_OK);  /* 2 s later */
}
END_TEST

START_TEST(test_seed_floor_after_restart)
{
    mepc_san_reg r;
    mepc_san_reset(&r);
    mepc_san_seed(&r, 50000);
    /* any rise is fine (unknown downtime), equal is fine */
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 900000, 0), MEPC_SAN_FIRST);
    mepc_san_reset(&r);
    mepc_san_seed(&r, 50000);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 50000, 0), MEPC_SAN_FIRST);
    /* below the floor: the floor is published, held like a decrease */
    mepc_san_reset(&r);
    mepc_san_seed(&r, 50000);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 49999, 0), MEPC_SAN_DECREASE);
    ck_assert_int_eq(r.good, 50000);
    ck_assert(r.suspect);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 50001, 2000), MEPC_SAN_OK);
    /* ... and persists into a new baseline like any other deviation */
    mepc_san_reset(&r);
    mepc_san_seed(&r, 50000);
    mepc_san_feed(&r, &CFG, 10, 0);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 10, CFG.persist_ms), MEPC_SAN_NEW_BASELINE);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fw_sanitise");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_limit_formula);
    tcase_add_test(tc, test_first_value_is_baseline);
    tcase_add_test(tc, test_exactly_at_limit_accepted_one_over_held);
    tcase_add_test(tc, test_equal_accepted_decrease_by_one_held);
    tcase_add_test(tc, test_baseline_persist_boundary);
    tcase_add_test(tc, test_inconsistent_run_restarts_persistence);
    tcase_add_test(tc, test_spike_never_published_s16);
    tcase_add_test(tc, test_meter_change_reset_takes_new_value_at_once);
    tcase_add_test(tc, test_time_wrap);
    tcase_add_test(tc, test_seed_floor_after_restart);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
