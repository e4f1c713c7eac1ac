/* Check suite: firmware/core mepc_sanitise, the kWh sanitiser, at the edges
 * of its rules (mepc_sanitise.h): exactly at the rating limit, 1 Wh over, a
 * decrease by 1 Wh, the baseline persistence boundary, a meter change
 * (reset), the S16 spike / S17 reset shapes; the confirmation of a first
 * value (boot during a spike, a decrease, a freeze, a 32-bit wrap), the
 * floor from before a restart, and a contradicted young baseline. */
#include <check.h>
#include <stdlib.h>

#include "mepc_sanitise.h"
#include "check_run.h"

static const mepc_san_cfg CFG = {3u * 100u * 230u, 1800000u};  /* 69 kW, 30 min */

/* A confirming run of three equal readings ending at `at` and spanning
 * `span` ms; returns the result of the last one. */
static mepc_san_result confirm_span(mepc_san_reg *r, int64_t v, uint32_t at, uint32_t span)
{
    ck_assert_int_eq(mepc_san_feed(r, &CFG, v, at - span), MEPC_SAN_UNCONFIRMED);
    ck_assert_int_eq(mepc_san_feed(r, &CFG, v, at - span / 2), MEPC_SAN_UNCONFIRMED);
    return mepc_san_feed(r, &CFG, v, at);
}

/* A published value confirmed long enough ago that it is no longer young
 * (rule 5 does not apply): the tests of the step and persist rules. */
static void confirm_old(mepc_san_reg *r, int64_t v, uint32_t at)
{
    ck_assert_int_eq(confirm_span(r, v, at, MEPC_SAN_YOUNG_MS), MEPC_SAN_FIRST);
}

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
    /* rule 2: the first value is the baseline once confirmed (3 readings, >= 10 s) */
    mepc_san_reg r;
    mepc_san_reset(&r);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 123456, 0), MEPC_SAN_UNCONFIRMED);
    ck_assert(!r.has_good);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 123456, 5000), MEPC_SAN_UNCONFIRMED);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 123456, MEPC_SAN_CONFIRM_MS - 1), MEPC_SAN_UNCONFIRMED);
    ck_assert(!r.has_good);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 123456, MEPC_SAN_CONFIRM_MS), MEPC_SAN_FIRST);
    ck_assert_int_eq(r.good, 123456);
    ck_assert(!r.suspect);
}
END_TEST

START_TEST(test_exactly_at_limit_accepted_one_over_held)
{
    mepc_san_reg r;
    mepc_san_reset(&r);
    confirm_old(&r, 1000, 0);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 1000 + 39, 1000), MEPC_SAN_OK);
    ck_assert_int_eq(r.good, 1039);
    mepc_san_reset(&r);
    confirm_old(&r, 1000, 0);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 1000 + 40, 1000), MEPC_SAN_TOO_FAST);
    ck_assert_int_eq(r.good, 1000);
    ck_assert(r.suspect);
}
END_TEST

START_TEST(test_equal_accepted_decrease_by_one_held)
{
    mepc_san_reg r;
    mepc_san_reset(&r);
    confirm_old(&r, 5000, 0);
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
    confirm_old(&r, 900000, 0);
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
    confirm_old(&r, 1000, 0);
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
    confirm_old(&r, truth, t);
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

START_TEST(test_meter_change_reset_takes_new_value_once_confirmed)
{
    mepc_san_reg r;
    mepc_san_reset(&r);
    confirm_old(&r, 777777, 0);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 12, 2000), MEPC_SAN_DECREASE);
    mepc_san_reset(&r);  /* ET03 serial changed: the new meter's value is confirmed first */
    ck_assert_int_eq(confirm_span(&r, 12, 4000 + MEPC_SAN_CONFIRM_MS, MEPC_SAN_CONFIRM_MS), MEPC_SAN_FIRST);
    ck_assert_int_eq(r.good, 12);
}
END_TEST

START_TEST(test_time_wrap)
{
    mepc_san_reg r;
    mepc_san_reset(&r);
    confirm_old(&r, 100, 0xFFFFFC18u);  /* 1 s before the uint32 wrap */
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
    /* any rise is fine (unknown downtime), equal is fine: once confirmed */
    ck_assert_int_eq(confirm_span(&r, 900000, 0, MEPC_SAN_CONFIRM_MS), MEPC_SAN_FIRST);
    mepc_san_reset(&r);
    mepc_san_seed(&r, 50000);
    ck_assert_int_eq(confirm_span(&r, 50000, 0, MEPC_SAN_CONFIRM_MS), MEPC_SAN_FIRST);
    /* below the floor: the floor is published, held like a decrease */
    mepc_san_reset(&r);
    mepc_san_seed(&r, 50000);
    ck_assert_int_eq(confirm_span(&r, 49999, 0, MEPC_SAN_CONFIRM_MS), MEPC_SAN_DECREASE);
    ck_assert_int_eq(r.good, 50000);
    ck_assert(r.suspect);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 50001, 2000), MEPC_SAN_OK);
    /* ... and persists into a new baseline like any other deviation (from
     * the start of its run), never sooner: a floor is never young */
    mepc_san_reset(&r);
    mepc_san_seed(&r, 50000);
    confirm_span(&r, 10, 0, MEPC_SAN_CONFIRM_MS);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 10, CFG.persist_ms - MEPC_SAN_CONFIRM_MS - 1), MEPC_SAN_DECREASE);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, 10, CFG.persist_ms - MEPC_SAN_CONFIRM_MS), MEPC_SAN_NEW_BASELINE);
}
END_TEST

/* A meter at `w` watts: the register after t ms from `base` (whole Wh). */
static int64_t at_power(int64_t base, uint32_t w, uint32_t t)
{
    return base + (int64_t)((uint64_t)w * t / 3600000u);
}

START_TEST(test_boot_during_spike_never_published)
{
    /* S16 at boot: +2^24 Wh for 3 polls (2 s apart), then the truth */
    mepc_san_reg r;
    mepc_san_reset(&r);
    const int64_t truth0 = 1234567;
    mepc_san_power pw = {true, 6000};
    for (uint32_t i = 0; i < 20; i++) {
        uint32_t t = i * 2000u;
        int64_t truth = at_power(truth0, 6000, t);
        int64_t raw = i < 3 ? truth + (1 << 24) : truth;
        mepc_san_result res = mepc_san_feed_power(&r, &CFG, raw, &pw, t);
        if (r.has_good)
            ck_assert_int_eq(r.good, truth);  /* never the spike */
        if (i < 8)  /* the truth's run starts at poll 3 and needs 10 s */
            ck_assert_int_eq(res, MEPC_SAN_UNCONFIRMED);
    }
    ck_assert(r.has_good && !r.suspect);
}
END_TEST

START_TEST(test_boot_during_decrease_never_published)
{
    /* S17 decrease (-5 kWh) at boot for 4 polls, then the truth */
    mepc_san_reg r;
    mepc_san_reset(&r);
    mepc_san_power pw = {true, 3000};
    for (uint32_t i = 0; i < 20; i++) {
        uint32_t t = i * 2000u;
        int64_t truth = at_power(1234567, 3000, t);
        int64_t raw = i < 4 ? truth - 5000 : truth;
        mepc_san_feed_power(&r, &CFG, raw, &pw, t);
        if (r.has_good)
            ck_assert_int_eq(r.good, truth);
    }
    ck_assert(r.has_good);
}
END_TEST

START_TEST(test_boot_during_freeze_waits_for_power)
{
    /* S17 freeze at boot: the register stuck while BT28 says 6 kW; the
     * frozen value is not confirmed by the power check ... */
    mepc_san_reg r;
    mepc_san_reset(&r);
    mepc_san_power pw = {true, 6000};
    uint32_t t = 0;
    for (uint32_t i = 0; i + 1 < MEPC_SAN_CONFIRM_MAX_READINGS; i++, t += 2000)
        ck_assert_int_eq(mepc_san_feed_power(&r, &CFG, 777000, &pw, t), MEPC_SAN_UNCONFIRMED);
    /* ... until the run is so long that the power check is waived */
    ck_assert_int_eq(mepc_san_feed_power(&r, &CFG, 777000, &pw, t), MEPC_SAN_FIRST);
    /* a register that follows the power is confirmed after the 10 s span */
    mepc_san_reset(&r);
    for (t = 0; t < MEPC_SAN_CONFIRM_MS; t += 2000)
        ck_assert_int_eq(mepc_san_feed_power(&r, &CFG, at_power(777000, 6000, t), &pw, t), MEPC_SAN_UNCONFIRMED);
    ck_assert_int_eq(mepc_san_feed_power(&r, &CFG, at_power(777000, 6000, t), &pw, t), MEPC_SAN_FIRST);
    /* the freeze ends: the register catches up within the rating, published */
    t += 60000;
    ck_assert_int_eq(mepc_san_feed_power(&r, &CFG, at_power(777000, 6000, t), &pw, t), MEPC_SAN_OK);
}
END_TEST

START_TEST(test_32bit_wrap_continues_upwards)
{
    /* S17 wrap: a true register crossing 2^32 keeps rising when unwrapped,
     * also when the module boots across it */
    mepc_san_reg r;
    mepc_san_reset(&r);
    uint32_t raw = 0xFFFFFFFFu - 20u;
    int64_t last = -1;
    for (uint32_t i = 0; i < 20; i++) {
        uint32_t t = i * 2000u;
        int64_t v = mepc_san_unwrap(&r, raw);
        ck_assert_int_eq(v, (int64_t)(0xFFFFFFFFu - 20u) + 3 * (int64_t)i);
        mepc_san_feed(&r, &CFG, v, t);
        if (r.has_good) {
            ck_assert_int_ge(r.good, last);
            last = r.good;
        }
        raw += 3u;  /* wraps after 7 polls */
    }
    ck_assert(r.has_good && !r.suspect);
    ck_assert_int_gt(r.good, 0xFFFFFFFFLL);
    /* a floor above 2^32 unwraps a small reading after a restart */
    mepc_san_reset(&r);
    mepc_san_seed(&r, 0x100000010LL);
    ck_assert_int_eq(mepc_san_unwrap(&r, 0x20u), 0x100000020LL);
}
END_TEST

START_TEST(test_wrap_glitch_is_not_a_wrap)
{
    /* the glitch jumps the register to 2^32 - 50 and on past 0: from a
     * published 1.2 MWh that is a jump up, then a decrease, never +2^32 */
    mepc_san_reg r;
    mepc_san_reset(&r);
    confirm_old(&r, 1200000, 0);
    ck_assert_int_eq(mepc_san_unwrap(&r, 0xFFFFFFCEu), 0xFFFFFFCELL);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, mepc_san_unwrap(&r, 0xFFFFFFCEu), 2000), MEPC_SAN_TOO_FAST);
    ck_assert_int_eq(mepc_san_unwrap(&r, 4u), 4);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, mepc_san_unwrap(&r, 4u), 4000), MEPC_SAN_DECREASE);
    ck_assert_int_eq(mepc_san_feed(&r, &CFG, mepc_san_unwrap(&r, 1200001u), 6000), MEPC_SAN_OK);
    ck_assert_int_eq(r.good, 1200001);
}
END_TEST

START_TEST(test_long_boot_spike_replaced_within_minutes)
{
    /* rule 5: a spike that outlasted the confirmation span at boot (60 s)
     * is published, but the returning truth replaces it within minutes,
     * not after 30 min */
    mepc_san_reg r;
    mepc_san_reset(&r);
    mepc_san_power pw = {true, 3000};
    uint32_t t = 0, replaced_at = 0;
    for (; t <= 600000u; t += 2000) {
        int64_t truth = at_power(1234567, 3000, t);
        int64_t raw = t < 60000 ? truth + (1 << 24) : truth;
        mepc_san_result res = mepc_san_feed_power(&r, &CFG, raw, &pw, t);
        if (res == MEPC_SAN_REPLACED) {
            replaced_at = t;
            ck_assert_int_eq(r.good, truth);
            ck_assert(!r.suspect);
            break;
        }
    }
    ck_assert_uint_gt(replaced_at, 60000u + 60000u);   /* only after outlasting the spike's 60 s */
    ck_assert_uint_le(replaced_at, 60000u + 180000u);  /* within minutes */
}
END_TEST

START_TEST(test_later_glitch_cannot_replace_young_baseline)
{
    /* rule 5 the other way: a glitch shortly after boot (30 s, within the
     * young window) is shorter than the baseline's history: held */
    mepc_san_reg r;
    mepc_san_reset(&r);
    mepc_san_power pw = {true, 3000};
    for (uint32_t t = 0; t <= 400000u; t += 2000) {
        int64_t truth = at_power(1234567, 3000, t);
        int64_t raw = (t >= 60000 && t < 90000) ? truth + (1 << 20) : truth;
        mepc_san_result res = mepc_san_feed_power(&r, &CFG, raw, &pw, t);
        ck_assert_int_ne(res, MEPC_SAN_REPLACED);
        if (r.has_good)
            ck_assert_int_le(r.good, truth);
    }
}
END_TEST

START_TEST(test_young_baseline_never_replaced_below_the_floor)
{
    /* after a restart (floor 2 MWh) the meter goes back to 1.2 MWh shortly
     * after the first value was confirmed: held, not a young replacement */
    mepc_san_reg r;
    mepc_san_reset(&r);
    mepc_san_seed(&r, 2000000);
    mepc_san_power pw = {true, 400};
    uint32_t t = 0;
    for (; t <= 20000u; t += 2000)
        mepc_san_feed_power(&r, &CFG, at_power(2000010, 400, t), &pw, t);
    ck_assert(r.has_good && r.young);
    for (; t <= 400000u; t += 2000) {
        ck_assert_int_eq(mepc_san_feed_power(&r, &CFG, at_power(1234567, 400, t), &pw, t), MEPC_SAN_DECREASE);
        ck_assert_int_ge(r.good, 2000000);
    }
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
    tcase_add_test(tc, test_meter_change_reset_takes_new_value_once_confirmed);
    tcase_add_test(tc, test_time_wrap);
    tcase_add_test(tc, test_seed_floor_after_restart);
    tcase_add_test(tc, test_boot_during_spike_never_published);
    tcase_add_test(tc, test_boot_during_decrease_never_published);
    tcase_add_test(tc, test_boot_during_freeze_waits_for_power);
    tcase_add_test(tc, test_32bit_wrap_continues_upwards);
    tcase_add_test(tc, test_wrap_glitch_is_not_a_wrap);
    tcase_add_test(tc, test_long_boot_spike_replaced_within_minutes);
    tcase_add_test(tc, test_later_glitch_cannot_replace_young_baseline);
    tcase_add_test(tc, test_young_baseline_never_replaced_below_the_floor);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
