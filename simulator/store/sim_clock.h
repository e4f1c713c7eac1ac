/* sim_clock: the simulated clock of one meter: maps wall-clock (monotonic)
 * milliseconds to simulated UTC milliseconds with a speed factor (--speed),
 * and can be frozen (clock glitch). Pure: no I/O, time is passed in. */
#ifndef SIM_CLOCK_H
#define SIM_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t wall0_ms;   /* wall (monotonic) ms at the last rebase */
    int64_t sim0_ms;     /* simulated UTC ms (Unix epoch) at wall0_ms */
    double speed;        /* simulated ms per wall ms (>0) */
    bool frozen;         /* glitch: clock does not advance */
} sim_clock;

void sim_clock_init(sim_clock *c, uint64_t wall_ms, int64_t sim_utc_ms, double speed);
int64_t sim_clock_now(const sim_clock *c, uint64_t wall_ms);
/* Set simulated time (keeps speed). */
void sim_clock_set(sim_clock *c, uint64_t wall_ms, int64_t sim_utc_ms);
void sim_clock_set_speed(sim_clock *c, uint64_t wall_ms, double speed);
/* Wall ms at which simulated time reaches sim_utc_ms (for timers). */
uint64_t sim_clock_wall_at(const sim_clock *c, uint64_t wall_ms_now, int64_t sim_utc_ms);
/* Freeze (glitch) or release the clock at wall_ms; simulated time stays where
 * it is at that moment and resumes from there when released. */
void sim_clock_freeze(sim_clock *c, uint64_t wall_ms, bool frozen);

#endif
