/* mepc_sanitise: the kWh sanitiser (see mepc_sanitise.h). */
#include "mepc_sanitise.h"

#include "mepc_fmt.h"

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
}

int64_t mepc_san_limit_wh(uint32_t max_power_w, uint32_t dt_ms)
{
    uint64_t ms = (uint64_t)dt_ms + MEPC_SAN_JITTER_MS;
    return (int64_t)(((uint64_t)max_power_w * ms) / 3600000u) + MEPC_SAN_SLACK_WH;
}

static bool plausible_step(const mepc_san_cfg *c, int64_t from, uint32_t from_ms, int64_t to, uint32_t now_ms)
{
    int64_t d = to - from;
    return d >= 0 && d <= mepc_san_limit_wh(c->max_power_w, (uint32_t)(now_ms - from_ms));
}

static void accept(mepc_san_reg *r, int64_t raw, uint32_t now_ms)
{
    r->has_floor = false;
    r->has_good = true;
    r->good = raw;
    r->good_at_ms = now_ms;
    r->suspect = false;
    r->has_cand = false;
}

mepc_san_result mepc_san_feed(mepc_san_reg *r, const mepc_san_cfg *c, int64_t raw, uint32_t now_ms)
{
    if (!r->has_good) {
        if (!r->has_floor || raw >= r->floor) {
            accept(r, raw, now_ms);
            return MEPC_SAN_FIRST;
        }
        /* below what we published before the restart: hold that */
        r->has_good = true;
        r->good = r->floor;
        r->good_at_ms = now_ms;
    }
    if (plausible_step(c, r->good, r->good_at_ms, raw, now_ms)) {
        accept(r, raw, now_ms);
        return MEPC_SAN_OK;
    }
    mepc_san_result why = raw < r->good ? MEPC_SAN_DECREASE : MEPC_SAN_TOO_FAST;
    /* a deviating run: does this reading continue it consistently? */
    if (!r->has_cand || !plausible_step(c, r->cand_last, r->cand_last_ms, raw, now_ms)) {
        r->has_cand = true;
        r->cand_since_ms = now_ms;
    }
    r->cand_last = raw;
    r->cand_last_ms = now_ms;
    if ((uint32_t)(now_ms - r->cand_since_ms) >= c->persist_ms) {
        accept(r, raw, now_ms);
        return MEPC_SAN_NEW_BASELINE;
    }
    r->suspect = true;
    return why;
}

const char *mepc_san_result_name(mepc_san_result r)
{
    switch (r) {
    case MEPC_SAN_OK: return "ok";
    case MEPC_SAN_FIRST: return "first value";
    case MEPC_SAN_NEW_BASELINE: return "new baseline";
    case MEPC_SAN_DECREASE: return "decreased";
    case MEPC_SAN_TOO_FAST: return "rose faster than the rating allows";
    }
    return "?";
}
