/* Check suite of the co-simulation library: the event queue's order, the
 * duration syntax, and two properties of a run: it is repeatable, and
 * stepping it with cosim_run_until in slices gives the same run as one go
 * (a rig that steps the simulation sees the same wire). */
#include <check.h>
#include <string.h>

#include "cosim.h"
#include "cosim_cli.h"
#include "cosim_queue.h"

START_TEST(queue_orders_by_time_then_source)
{
    cosim_queue q;
    unsigned src;
    uint64_t at;
    cosim_queue_init(&q, 4);
    ck_assert(!cosim_queue_peek(&q, &src, &at));
    cosim_queue_set(&q, 3, 50);
    cosim_queue_set(&q, 1, 70);
    cosim_queue_set(&q, 2, 50);
    ck_assert(cosim_queue_peek(&q, &src, &at));
    ck_assert_uint_eq(src, 2);            /* equal times: lower source first */
    ck_assert_uint_eq(at, 50);
    cosim_queue_soon(&q, 1, 90);          /* later than pending: no change */
    ck_assert_uint_eq(cosim_queue_at(&q, 1), 70);
    cosim_queue_soon(&q, 1, 10);
    ck_assert(cosim_queue_peek(&q, &src, &at));
    ck_assert_uint_eq(src, 1);
    cosim_queue_set(&q, 1, COSIM_NEVER);
    cosim_queue_set(&q, 2, COSIM_NEVER);
    ck_assert(cosim_queue_peek(&q, &src, &at));
    ck_assert_uint_eq(src, 3);
    cosim_queue_set(&q, 3, COSIM_NEVER);
    ck_assert(!cosim_queue_peek(&q, &src, &at));
}
END_TEST

START_TEST(durations_parse_and_bad_ones_are_refused)
{
    uint64_t us;
    ck_assert(cosim_cli_duration("90s", &us) && us == 90000000ull);
    ck_assert(cosim_cli_duration("15m", &us) && us == 900000000ull);
    ck_assert(cosim_cli_duration("24h", &us) && us == 86400000000ull);
    ck_assert(cosim_cli_duration("7d", &us) && us == 604800000000ull);
    ck_assert(cosim_cli_duration("1.5h", &us) && us == 5400000000ull);
    ck_assert(cosim_cli_duration("30", &us) && us == 30000000ull);
    static const char *const bad[] = {"", "0", "0s", "-5s", "5x", "5ss", "h", "367d", "1e9d", "abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!cosim_cli_duration(bad[i], &us), "accepted '%s'", bad[i]);
}
END_TEST

static void run_sliced(uint64_t slice_us, cosim_summary *out)
{
    cosim_cfg cfg;
    char err[512];
    memset(&cfg, 0, sizeof cfg);
    cfg.scenario_path = FIXTURES_DIR "/scenarios/s02-lost-reply.json";
    cfg.duration_us = 120000000ull;
    cosim *s = cosim_new(&cfg, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    if (slice_us)
        for (uint64_t t = slice_us; cosim_run_until(s, t); t += slice_us)
            ;
    ck_assert_int_eq(cosim_finish(s, err, sizeof err), COSIM_OK);
    cosim_get_summary(s, out);
    cosim_free(s);
}

START_TEST(a_run_repeats_and_slicing_changes_nothing)
{
    cosim_summary a, b, c;
    run_sliced(0, &a);
    run_sliced(0, &b);
    run_sliced(333333, &c);
    ck_assert_str_eq(a.wire_sha256, b.wire_sha256);
    ck_assert_str_eq(a.wire_sha256, c.wire_sha256);
    ck_assert_uint_eq(a.published, c.published);
    ck_assert_uint_gt(a.published, 30);
    ck_assert(a.simulated_s == 120.0);
}
END_TEST

START_TEST(a_missing_scenario_is_an_error_naming_it)
{
    cosim_cfg cfg;
    char err[512] = "";
    memset(&cfg, 0, sizeof cfg);
    cfg.scenario_path = "/nonexistent/x.json";
    ck_assert(cosim_new(&cfg, err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "/nonexistent/x.json") != NULL, "%s", err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cosim_lib");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, queue_orders_by_time_then_source);
    tcase_add_test(tc, durations_parse_and_bad_ones_are_refused);
    tcase_add_test(tc, a_run_repeats_and_slicing_changes_nothing);
    tcase_add_test(tc, a_missing_scenario_is_an_error_naming_it);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
