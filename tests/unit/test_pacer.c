/* sim_pacer: the shared microsecond timer of paced lines
 * (simulator/io/sim_pacer.h). Timing bounds are generous (a loaded CI
 * machine may run late, never early): the checks are order, "not before
 * the due time", and the heap's bookkeeping. */
#include <check.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "sim_line.h"
#include "sim_pacer.h"

typedef struct {
    int id;
    uint64_t due, fired_at;
    int *order;
    size_t *n_order;
} probe;

static void on_fire(void *ctx, uint64_t now_us)
{
    probe *pr = ctx;
    pr->fired_at = now_us;
    pr->order[(*pr->n_order)++] = pr->id;
}

/* Run the loop until every probe fired or 2 s passed. */
static void run_until(struct ev_loop *loop, sim_pacer *p)
{
    uint64_t end = sim_now_us() + 2000000u;
    while (sim_pacer_pending(p) > 0 && sim_now_us() < end)
        ev_run(loop, EVRUN_ONCE);
}

START_TEST(test_order_and_not_early)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char err[200];
    sim_pacer *p = sim_pacer_new(loop, 0, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    int order[8];
    size_t n = 0;
    probe pr[3];
    sim_pacer_entry e[3];
    uint64_t now = sim_now_us();
    uint64_t offs[3] = {3000, 1000, 2000};
    for (int i = 0; i < 3; i++) {
        pr[i] = (probe){.id = i, .due = now + offs[i], .order = order, .n_order = &n};
        sim_pacer_entry_init(&e[i], on_fire, &pr[i]);
        ck_assert_int_eq(sim_pacer_at(p, &e[i], pr[i].due), 0);
    }
    ck_assert_uint_eq(sim_pacer_pending(p), 3);
    run_until(loop, p);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(order[1], 2);
    ck_assert_int_eq(order[2], 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(pr[i].fired_at >= pr[i].due, "entry %d fired %lld us early", i,
                      (long long)(pr[i].due - pr[i].fired_at));
        ck_assert_uint_eq(e[i].slot, 0);
        ck_assert(e[i].at_us == UINT64_MAX);
    }
    sim_pacer_counters c = sim_pacer_counters_get(p);
    ck_assert_uint_eq(c.fired, 3);
    ck_assert_uint_ge(c.wakeups, 1);
    sim_pacer_free(p);
    ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_reschedule_and_cancel)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char err[200];
    sim_pacer *p = sim_pacer_new(loop, 0, err, sizeof err);
    ck_assert_ptr_nonnull(p);
    int order[8];
    size_t n = 0;
    probe a = {.id = 1, .order = order, .n_order = &n}, b = {.id = 2, .order = order, .n_order = &n},
          c = {.id = 3, .order = order, .n_order = &n};
    sim_pacer_entry ea, eb, ec;
    sim_pacer_entry_init(&ea, on_fire, &a);
    sim_pacer_entry_init(&eb, on_fire, &b);
    sim_pacer_entry_init(&ec, on_fire, &c);
    uint64_t now = sim_now_us();
    sim_pacer_at(p, &ea, now + 1000);
    sim_pacer_at(p, &eb, now + 2000);
    sim_pacer_at(p, &ec, now + 3000);
    sim_pacer_at(p, &ea, now + 5000);  /* later */
    a.due = now + 5000;
    sim_pacer_at(p, &ec, now + 500);   /* earlier */
    c.due = now + 500;
    sim_pacer_cancel(p, &eb);          /* gone */
    ck_assert_uint_eq(sim_pacer_pending(p), 2);
    sim_pacer_cancel(p, &eb);          /* twice is fine */
    run_until(loop, p);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(order[0], 3);
    ck_assert_int_eq(order[1], 1);
    ck_assert(a.fired_at >= a.due && c.fired_at >= c.due);
    /* an overdue time fires on the next iteration, not inside the call */
    sim_pacer_at(p, &eb, 1);
    ck_assert_uint_eq(n, 2);
    run_until(loop, p);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(order[2], 2);
    sim_pacer_free(p);
    ev_loop_destroy(loop);
}
END_TEST

/* A thousand entries at shuffled times fire in time order, each one
 * rescheduled once on the way (the heap's sift up and down). */
START_TEST(test_many_in_order)
{
    enum { N = 1000 };
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char err[200];
    sim_pacer *p = sim_pacer_new(loop, 0, err, sizeof err);
    ck_assert_ptr_nonnull(p);
    int *order = calloc(N, sizeof *order);
    probe *pr = calloc(N, sizeof *pr);
    sim_pacer_entry *e = calloc(N, sizeof *e);
    size_t n = 0;
    uint64_t now = sim_now_us() + 20000;
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        pr[i] = (probe){.id = i, .due = now + (x >> 8) % 100000, .order = order, .n_order = &n};
        sim_pacer_entry_init(&e[i], on_fire, &pr[i]);
        sim_pacer_at(p, &e[i], now + 200000); /* first somewhere else */
    }
    for (int i = 0; i < N; i++)
        sim_pacer_at(p, &e[i], pr[i].due);
    run_until(loop, p);
    ck_assert_uint_eq(n, N);
    for (size_t k = 1; k < N; k++)
        ck_assert_msg(pr[order[k - 1]].due <= pr[order[k]].due, "out of order at %zu", k);
    for (int i = 0; i < N; i++)
        ck_assert(pr[i].fired_at >= pr[i].due);
    /* one timer for all: far fewer wake-ups than entries would need alone */
    sim_pacer_counters c = sim_pacer_counters_get(p);
    ck_assert_uint_eq(c.fired, N);
    free(order);
    free(pr);
    free(e);
    sim_pacer_free(p);
    ev_loop_destroy(loop);
}
END_TEST

/* On a grid: entries due within one grain share a wake-up, none fires
 * early, and cancelling the earliest leaves no busy loop behind. */
START_TEST(test_grain_shares_wakeups)
{
    enum { N = 20 };
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char err[200];
    sim_pacer *p = sim_pacer_new(loop, 1000, err, sizeof err);
    ck_assert_ptr_nonnull(p);
    int order[N + 4];
    size_t n = 0;
    probe pr[N];
    sim_pacer_entry e[N];
    uint64_t base = (sim_now_us() / 1000 + 20) * 1000 + 100; /* 100 us into a grain, 20 ms ahead */
    for (int i = 0; i < N; i++) {
        pr[i] = (probe){.id = i, .due = base + (uint64_t)i * 20, .order = order, .n_order = &n};
        sim_pacer_entry_init(&e[i], on_fire, &pr[i]);
        sim_pacer_at(p, &e[i], pr[i].due);
    }
    run_until(loop, p);
    ck_assert_uint_eq(n, N);
    for (int i = 0; i < N; i++)
        ck_assert(pr[i].fired_at >= pr[i].due);
    /* all twenty lie in one 1 ms grain: one wake-up unless the machine
     * stalled in between (then a second) */
    ck_assert_uint_le(sim_pacer_counters_get(p).wakeups, 2);

    /* the earliest cancelled: the timer goes off for nothing, is set again
     * for the other one, and the loop then has nothing left to do */
    probe a = {.id = 100, .order = order, .n_order = &n}, b = {.id = 101, .order = order, .n_order = &n};
    sim_pacer_entry ea, eb;
    sim_pacer_entry_init(&ea, on_fire, &a);
    sim_pacer_entry_init(&eb, on_fire, &b);
    uint64_t now = sim_now_us();
    sim_pacer_at(p, &ea, now + 2000);
    sim_pacer_at(p, &eb, now + 6000);
    b.due = now + 6000;
    sim_pacer_cancel(p, &ea);
    run_until(loop, p);
    ck_assert_uint_eq(n, N + 1);
    ck_assert_int_eq(order[N], 101);
    ck_assert(b.fired_at >= b.due);
    uint64_t wakeups = sim_pacer_counters_get(p).wakeups;
    uint64_t end = sim_now_us() + 20000;
    while (sim_now_us() < end)
        ev_run(loop, EVRUN_NOWAIT);
    ck_assert_uint_eq(sim_pacer_counters_get(p).wakeups, wakeups); /* idle: no wake-ups */
    sim_pacer_free(p);
    ev_loop_destroy(loop);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pacer");
    TCase *tc = tcase_create("pacer");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_order_and_not_early);
    tcase_add_test(tc, test_reschedule_and_cancel);
    tcase_add_test(tc, test_many_in_order);
    tcase_add_test(tc, test_grain_shares_wakeups);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
