/* sim_clock: simulated UTC from wall-clock (monotonic) milliseconds, with
 * a speed factor (--speed) and a freeze (glitch). Pure: time is passed in. */
#include "sim_clock.h"

#include <math.h>

void sim_clock_init(sim_clock *c, uint64_t wall_ms, int64_t sim_utc_ms, double speed)
{
    c->wall0_ms = wall_ms;
    c->sim0_ms = sim_utc_ms;
    c->speed = speed > 0 ? speed : 1.0;
    c->frozen = false;
}

int64_t sim_clock_now(const sim_clock *c, uint64_t wall_ms)
{
    if (c->frozen || wall_ms <= c->wall0_ms)
        return c->sim0_ms;
    uint64_t dw = wall_ms - c->wall0_ms;
    if (c->speed == 1.0)
        return c->sim0_ms + (int64_t)dw;
    return c->sim0_ms + (int64_t)floor((double)dw * c->speed);
}

void sim_clock_set(sim_clock *c, uint64_t wall_ms, int64_t sim_utc_ms)
{
    c->wall0_ms = wall_ms;
    c->sim0_ms = sim_utc_ms;
}

void sim_clock_set_speed(sim_clock *c, uint64_t wall_ms, double speed)
{
    /* Rebase first so simulated time is continuous across the change. */
    c->sim0_ms = sim_clock_now(c, wall_ms);
    c->wall0_ms = wall_ms;
    if (speed > 0)
        c->speed = speed;
}

void sim_clock_freeze(sim_clock *c, uint64_t wall_ms, bool frozen)
{
    c->sim0_ms = sim_clock_now(c, wall_ms);
    c->wall0_ms = wall_ms;
    c->frozen = frozen;
}

uint64_t sim_clock_wall_at(const sim_clock *c, uint64_t wall_ms_now, int64_t sim_utc_ms)
{
    int64_t now = sim_clock_now(c, wall_ms_now);
    if (sim_utc_ms <= now)
        return wall_ms_now;
    if (c->frozen)
        return UINT64_MAX;
    /* Smallest wall time w >= wall0 with sim0 + floor((w - wall0) * speed) >= target. */
    double dw = ceil((double)(sim_utc_ms - c->sim0_ms) / c->speed);
    uint64_t w = c->wall0_ms + (uint64_t)dw;
    while (sim_clock_now(c, w) < sim_utc_ms)   /* guard against double rounding */
        w++;
    return w < wall_ms_now ? wall_ms_now : w;
}
