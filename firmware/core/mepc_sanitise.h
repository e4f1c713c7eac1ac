/* mepc_sanitise: the kWh sanitiser (module-behaviour 8.4, 10, S16/S17).
 *
 * Owns: the decision whether a raw energy register value (Wh) from the meter
 * may be published. A value is published only if it did not decrease and did
 * not rise faster than the meter's rating allows:
 *     limit(dt) = floor(max_power_w * (dt_ms + MEPC_SAN_JITTER_MS) / 3 600 000)
 *                 + MEPC_SAN_SLACK_WH
 * with max_power_w = phases x max current x rated voltage. Otherwise the last
 * good value is held and the register is flagged suspect. A different value
 * becomes the new baseline only after it has persisted (a consistent run of
 * readings, each within the rate limit of the previous one) for persist_ms,
 * or at once after a meter change (mepc_san_reset). Pure; time passed in.
 *
 * Why: the HA integration books every published rise as consumption and a
 * fall as a meter reset; a spike published for one poll costs the user a
 * wrong energy total. Holding is always safe for HA (a zero step passes its
 * filter), and the rating bound is above anything a correct meter can do.
 */
#ifndef MEPC_SANITISE_H
#define MEPC_SANITISE_H

#include <stdbool.h>
#include <stdint.h>

#define MEPC_SAN_JITTER_MS 1000u  /* registers update every <= 500 ms (mep.md 12.6) + reply jitter */
#define MEPC_SAN_SLACK_WH 1       /* 1 Wh register resolution */

typedef enum {
    MEPC_SAN_OK = 0,          /* published */
    MEPC_SAN_FIRST,           /* first value (or first after a meter change): baseline */
    MEPC_SAN_NEW_BASELINE,    /* a held deviation persisted: accepted as new baseline */
    MEPC_SAN_DECREASE,        /* held: raw below the last good value */
    MEPC_SAN_TOO_FAST,        /* held: raw above the rating limit */
} mepc_san_result;

typedef struct {
    bool has_floor;           /* last value saved before a restart (same meter) */
    int64_t floor;
    bool has_good;
    int64_t good;             /* last published value */
    uint32_t good_at_ms;
    bool suspect;
    bool has_cand;            /* a deviating run being watched */
    int64_t cand_last;
    uint32_t cand_since_ms, cand_last_ms;
} mepc_san_reg;

typedef struct {
    uint32_t max_power_w;
    uint32_t persist_ms;
} mepc_san_cfg;

void mepc_san_reset(mepc_san_reg *r);
/* After a restart: the value published before it (same meter). The first
 * reading is accepted if it is not below it (the time in between is
 * unknown, so no rate check); below it, the floor is published and the
 * reading is held like any decrease. */
void mepc_san_seed(mepc_san_reg *r, int64_t floor);
int64_t mepc_san_limit_wh(uint32_t max_power_w, uint32_t dt_ms);
mepc_san_result mepc_san_feed(mepc_san_reg *r, const mepc_san_cfg *c, int64_t raw, uint32_t now_ms);
const char *mepc_san_result_name(mepc_san_result r);

#endif
