/* sim_pacer: one microsecond timer for every paced line of a process.
 *
 * libev's epoll backend waits in whole milliseconds (and adds a
 * millisecond of slack), so a line paced by an ev_timer writes its bytes up
 * to ~1 ms late and in bursts; at 115200 baud a byte is 87 us. The pacer
 * keeps every line's next due time in one binary heap and arms a single
 * timerfd (CLOCK_MONOTONIC, absolute) for the earliest, on a grid of a
 * few tens of microseconds: one file descriptor and one timerfd_settime
 * per wake-up, whatever the number of meters, and lines due within one
 * grain share the wake-up. Entries fire in time order from the timerfd's
 * read watcher with the time read once.
 *
 * Times are sim_now_us() microseconds (CLOCK_MONOTONIC). An entry lives
 * in its owner (no allocation per schedule); sim_pacer_cancel before the
 * owner is freed.
 */
#ifndef SIM_PACER_H
#define SIM_PACER_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
typedef struct sim_pacer sim_pacer;

typedef struct {
    uint64_t at_us;               /* due time; UINT64_MAX when not scheduled */
    size_t slot;                  /* position in the heap + 1 (0: not in it) */
    void (*fire)(void *ctx, uint64_t now_us);
    void *ctx;
} sim_pacer_entry;

/* A pacer on loop (its timerfd's watcher is started there). grain_us: wake
 * on a grid of this many microseconds (0 or 1: exactly when due), so that
 * the lines of a fleet due within one grain share one wake-up; an entry
 * fires at most a grain late, never early. NULL with a message in err. */
sim_pacer *sim_pacer_new(struct ev_loop *loop, uint32_t grain_us, char *err, size_t errlen);
/* Every entry must have been cancelled. NULL is fine. */
void sim_pacer_free(sim_pacer *p);

void sim_pacer_entry_init(sim_pacer_entry *e, void (*fire)(void *ctx, uint64_t now_us), void *ctx);
/* (Re)schedule e for at_us (UINT64_MAX: cancel). An entry due now or in
 * the past fires on the next loop iteration, never from inside this call.
 * 0, or -1 when the heap could not grow (the entry is then not scheduled). */
int sim_pacer_at(sim_pacer *p, sim_pacer_entry *e, uint64_t at_us);
void sim_pacer_cancel(sim_pacer *p, sim_pacer_entry *e);

/* Counters for benchmarks and tests. */
typedef struct {
    uint64_t fired;               /* entries fired */
    uint64_t wakeups;             /* timerfd expirations handled */
    uint64_t arms;                /* timerfd_settime calls */
} sim_pacer_counters;
sim_pacer_counters sim_pacer_counters_get(const sim_pacer *p);
size_t sim_pacer_pending(const sim_pacer *p);

#endif
