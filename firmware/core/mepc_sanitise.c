/* mepc_sanitise: the kWh sanitiser (see mepc_sanitise.h for the rules). */
#include "mepc_sanitise.h"

#include "mepc_fmt.h"

#define SAN_HALF_RANGE 0x80000000LL
#define SAN_RANGE 0x100000000LL

void mepc_san_reset(mepc_san_reg *r)
{
    mepc_mem_set(r, 0, sizeof *r);
}

void mepc_san_seed(mepc_san_reg *r, int64_t floor)
{
    if (r->has_good)
        return;
    r->has_floor = true;
    r->floor = floor;
    r->has_bound = true;
    r->bound = floor;
}

int64_t mepc_san_limit_wh(uint32_t max_power_w, uint32_t dt_ms)
{
    uint64_t ms = (uint64_t)dt_ms + MEPC_SAN_JITTER_MS;
    return (int64_t)(((uint64_t)max_power_w * ms) / 3600000u) + MEPC_SAN_SLACK_WH;
}

int64_t mepc_san_unwrap(const mepc_san_reg *r, uint32_t raw)
{
    int64_t ref;
    if (r->has_good)
        ref = r->good;
    else if (r->has_cand)
        ref = r->cand_last;
    else if (r->has_floor)
        ref = r->floor;
    else
        return raw;
    /* the value congruent to raw (mod 2^32) nearest to ref, never negative */
    int64_t v = (ref - (ref & (SAN_RANGE - 1))) + raw;
    if (v < ref - SAN_HALF_RANGE)
        v += SAN_RANGE;
    else if (v > ref + SAN_HALF_RANGE && v >= SAN_RANGE)
        v -= SAN_RANGE;
    return v;
}

static bool plausible_step(const mepc_san_cfg *c, int64_t from, uint32_t from_ms, int64_t to, uint32_t now_ms)
{
    int64_t d = to - from;
    return d >= 0 && d <= mepc_san_limit_wh(c->max_power_w, (uint32_t)(now_ms - from_ms));
}

static void run_start(mepc_san_reg *r, int64_t v, uint32_t now_ms)
{
    r->has_cand = true;
    r->cand_first = r->cand_last = v;
    r->cand_since_ms = r->cand_last_ms = now_ms;
    r->cand_n = 1;
    r->cand_power = false;  /* power of the interval before the run does not count */
    r->cand_pmin_w = 0;
}

/* Continue the watched run with v, or start a new one if v is not a step-rule
 * step from its last reading. */
static void run_feed(mepc_san_reg *r, const mepc_san_cfg *c, int64_t v, const mepc_san_power *pw,
                     uint32_t now_ms)
{
    if (!r->has_cand || !plausible_step(c, r->cand_last, r->cand_last_ms, v, now_ms)) {
        run_start(r, v, now_ms);
        return;
    }
    r->cand_last = v;
    r->cand_last_ms = now_ms;
    if (r->cand_n < 0xFFFFu)
        r->cand_n++;
    if (pw && pw->valid && (!r->cand_power || pw->min_w < r->cand_pmin_w)) {
        r->cand_pmin_w = pw->min_w;
        r->cand_power = true;
    }
}

/* Rule 3: the run's rise is not below what the lowest power says. */
static bool run_power_ok(const mepc_san_reg *r)
{
    uint32_t span = r->cand_last_ms - r->cand_since_ms;
    if (!r->cand_power || span <= MEPC_SAN_JITTER_MS)
        return true;
    uint32_t half = r->cand_pmin_w / 2u;
    uint64_t w = half > MEPC_SAN_POWER_MARGIN_W ? half - MEPC_SAN_POWER_MARGIN_W : 0u;
    int64_t lo = (int64_t)((w * (uint64_t)(span - MEPC_SAN_JITTER_MS)) / 3600000u) - MEPC_SAN_POWER_SLACK_WH;
    return r->cand_last - r->cand_first >= lo;
}

/* Rule 2: the run is long enough and agrees with the power. */
static bool run_confirmed(const mepc_san_reg *r)
{
    if (!r->has_cand || r->cand_n < MEPC_SAN_CONFIRM_READINGS ||
        (uint32_t)(r->cand_last_ms - r->cand_since_ms) < MEPC_SAN_CONFIRM_MS)
        return false;
    return run_power_ok(r) || r->cand_n >= MEPC_SAN_CONFIRM_MAX_READINGS;
}

static void accept(mepc_san_reg *r, int64_t v, uint32_t now_ms)
{
    r->has_floor = false;
    r->has_good = true;
    r->good = v;
    r->good_at_ms = now_ms;
    r->suspect = false;
    r->has_cand = false;
}

/* Nothing published yet: rules 2 and 4. */
static mepc_san_result feed_unconfirmed(mepc_san_reg *r, const mepc_san_cfg *c, int64_t v,
                                        const mepc_san_power *pw, uint32_t now_ms)
{
    run_feed(r, c, v, pw, now_ms);
    if (!run_confirmed(r))
        return MEPC_SAN_UNCONFIRMED;
    if (r->has_floor && v < r->floor) {
        /* below what we published before the restart: publish (hold) that;
         * the run goes on as a deviation under the persist rule */
        r->has_good = true;
        r->good = r->floor;
        r->good_at_ms = now_ms;
        r->has_floor = false;
        r->young = false;
        r->suspect = true;
        return MEPC_SAN_DECREASE;
    }
    uint32_t since = r->cand_since_ms;
    accept(r, v, now_ms);
    r->young = true;
    r->base_since_ms = since;
    return MEPC_SAN_FIRST;
}

/* Rule 5: does the deviating run replace a young published value? */
static bool contradicts_young(const mepc_san_reg *r)
{
    if (!r->young || !run_confirmed(r) || (r->has_bound && r->cand_last < r->bound))
        return false;
    uint32_t base_age = r->cand_since_ms - r->base_since_ms;  /* consistent before the run */
    if (base_age >= MEPC_SAN_YOUNG_MS)
        return false;
    return (uint32_t)(r->cand_last_ms - r->cand_since_ms) > base_age;
}

mepc_san_result mepc_san_feed_power(mepc_san_reg *r, const mepc_san_cfg *c, int64_t v,
                                    const mepc_san_power *pw, uint32_t now_ms)
{
    if (!r->has_good)
        return feed_unconfirmed(r, c, v, pw, now_ms);
    if (plausible_step(c, r->good, r->good_at_ms, v, now_ms)) {
        accept(r, v, now_ms);
        return MEPC_SAN_OK;
    }
    mepc_san_result why = v < r->good ? MEPC_SAN_DECREASE : MEPC_SAN_TOO_FAST;
    run_feed(r, c, v, pw, now_ms);
    if (contradicts_young(r)) {
        accept(r, v, now_ms);
        r->young = false;
        return MEPC_SAN_REPLACED;
    }
    if ((uint32_t)(now_ms - r->cand_since_ms) >= c->persist_ms) {
        accept(r, v, now_ms);
        r->young = false;
        return MEPC_SAN_NEW_BASELINE;
    }
    r->suspect = true;
    return why;
}

mepc_san_result mepc_san_feed(mepc_san_reg *r, const mepc_san_cfg *c, int64_t v, uint32_t now_ms)
{
    return mepc_san_feed_power(r, c, v, NULL, now_ms);
}

const char *mepc_san_result_name(mepc_san_result r)
{
    switch (r) {
    case MEPC_SAN_OK: return "ok";
    case MEPC_SAN_FIRST: return "first value confirmed";
    case MEPC_SAN_NEW_BASELINE: return "new baseline";
    case MEPC_SAN_DECREASE: return "decreased";
    case MEPC_SAN_TOO_FAST: return "rose faster than the rating allows";
    case MEPC_SAN_UNCONFIRMED: return "first value not yet confirmed";
    case MEPC_SAN_REPLACED: return "young baseline replaced";
    }
    return "?";
}
