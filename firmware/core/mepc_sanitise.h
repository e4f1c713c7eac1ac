/* mepc_sanitise: the kWh sanitiser (docs/module-behaviour.md 8.4, 10, S16/S17).
 *
 * Owns: the decision whether a raw energy register value (Wh) from the meter
 * may be published. Rules, per register:
 *
 * 1. Step rule. A value is published only if it did not decrease and did not
 *    rise faster than the meter's rating allows:
 *        limit(dt) = floor(max_power_w * (dt_ms + MEPC_SAN_JITTER_MS) / 3 600 000)
 *                    + MEPC_SAN_SLACK_WH
 *    with max_power_w = phases x max current x rated voltage. Otherwise the
 *    last published value is held and the register is flagged suspect.
 *
 * 2. Confirmation. Nothing is published until a run of readings confirms
 *    it: at least MEPC_SAN_CONFIRM_READINGS consecutive readings, each a
 *    step-rule step from the one before, spanning at least
 *    MEPC_SAN_CONFIRM_MS, whose total rise is not below what the BT28 power
 *    measured in between says (power check below). The last reading of the
 *    run is the first published value. This holds after boot, after a
 *    restart and after a meter change (mepc_san_reset): HA trusts the first
 *    object it sees (8.4 rule 1), so a first value must never be a glitch.
 *    A glitch shorter than the confirmation span breaks the run when it
 *    ends (a decrease) and is never published.
 *
 * 3. Power check (catches a frozen register at boot). Over a run of span T
 *    with the lowest BT28 power p_min seen inside it, the rise must be at
 *    least  max(0, p_min/2 - 100 W) x (T - MEPC_SAN_JITTER_MS) / 3 600 000
 *    - MEPC_SAN_POWER_SLACK_WH.  Tolerance: half the power less 100 W (the
 *    present values are instantaneous, the register integrates; load changes
 *    between polls), 1 s of timing jitter, 2 Wh of register resolution at
 *    both ends. Only a lower bound: the upper bound is the rating (rule 1),
 *    and an emulator running its clock fast must still be served. Without
 *    BT28 power there is no power check. A run that fails it is confirmed
 *    anyway after MEPC_SAN_CONFIRM_MAX_READINGS readings (a meter whose
 *    present values disagree with its registers must still be served).
 *
 * 4. Floor. After a restart the value published before it (same meter,
 *    mepc_san_seed) takes precedence: a confirmed reading below it is not
 *    published; the floor is, held and flagged like any decrease.
 *
 * 5. Replacing a baseline. A deviating run (consecutive readings, each a
 *    step-rule step from the one before, power-consistent like rule 2)
 *    replaces the published value after persist_ms (30 min), or sooner while
 *    the published value is young: if the run started within
 *    MEPC_SAN_YOUNG_MS of the start of the run that confirmed the published
 *    value, it replaces it as soon as it has lasted longer than that value
 *    had been consistent before the run began (and at least the
 *    confirmation span). So a glitch that outlasted the confirmation span at
 *    boot is replaced within minutes once the truth returns, while a glitch
 *    after boot must outlast everything seen before it. A floor held after a
 *    restart is never young, and no replacement goes below the floor from
 *    before the restart (the meter going back after a module restart is
 *    held for persist_ms like any decrease).
 *
 * 6. 32-bit registers. BT23 registers are unsigned 32-bit and wrap
 *    (S17); mepc_san_unwrap extends a raw value to the 64-bit value nearest
 *    to the reference (the published value, else the run, else the floor),
 *    so a real wrap continues upwards and published energy never falls.
 *
 * Why: the HA integration books every published rise as consumption and a
 * fall as a meter reset; a spike published for one poll costs the user a
 * wrong energy total. Holding is always safe for HA (a zero step passes its
 * filter), and the rating bound is above anything a correct meter can do.
 * Pure; time passed in.
 */
#ifndef MEPC_SANITISE_H
#define MEPC_SANITISE_H

#include <stdbool.h>
#include <stdint.h>

#define MEPC_SAN_JITTER_MS 1000u  /* registers update every <= 500 ms (docs/mep.md 12.6) + reply jitter */
#define MEPC_SAN_SLACK_WH 1       /* 1 Wh register resolution */
#define MEPC_SAN_CONFIRM_READINGS 3u      /* rule 2: a first reading and two that agree with it */
#define MEPC_SAN_CONFIRM_MS 10000u        /* rule 2: ... over at least 10 s (S16 spikes last 3 polls) */
#define MEPC_SAN_CONFIRM_MAX_READINGS 30u /* rule 3: power check waived after this many */
#define MEPC_SAN_POWER_SLACK_WH 2         /* rule 3: 1 Wh resolution at each end */
#define MEPC_SAN_POWER_MARGIN_W 100u      /* rule 3 */
#define MEPC_SAN_YOUNG_MS 300000u         /* rule 5: 5 min */

typedef enum {
    MEPC_SAN_OK = 0,          /* published */
    MEPC_SAN_FIRST,           /* first value confirmed (after boot or a meter change): published */
    MEPC_SAN_NEW_BASELINE,    /* a held deviation persisted: accepted as new baseline */
    MEPC_SAN_DECREASE,        /* held: raw below the last good value (or the floor) */
    MEPC_SAN_TOO_FAST,        /* held: raw above the rating limit */
    MEPC_SAN_UNCONFIRMED,     /* nothing published yet: the first value is being confirmed */
    MEPC_SAN_REPLACED,        /* a young baseline contradicted by a consistent run: replaced */
} mepc_san_result;

/* BT28 power seen over the interval that ends at a reading. */
typedef struct {
    bool valid;
    uint32_t min_w;           /* lowest power (W) of the snapshots in the interval */
} mepc_san_power;

typedef struct {
    bool has_floor;           /* last value saved before a restart (same meter) */
    int64_t floor;
    bool has_good;            /* a value is published (confirmed) */
    int64_t good;             /* last published value */
    uint32_t good_at_ms;
    bool suspect;
    bool has_bound;           /* the floor from before the restart: rule 5 never goes below it */
    int64_t bound;
    bool young;               /* rule 5 applies to the published value */
    uint32_t base_since_ms;   /* start of the run that confirmed it */
    /* the run being watched: the confirmation run (nothing published yet)
     * or a run deviating from the published value */
    bool has_cand;
    int64_t cand_first, cand_last;
    uint32_t cand_since_ms, cand_last_ms;
    uint16_t cand_n;
    bool cand_power;          /* a BT28 power was seen inside the run */
    uint32_t cand_pmin_w;
} mepc_san_reg;

typedef struct {
    uint32_t max_power_w;
    uint32_t persist_ms;
} mepc_san_cfg;

void mepc_san_reset(mepc_san_reg *r);
/* After a restart: the value published before it (same meter), rule 4. */
void mepc_san_seed(mepc_san_reg *r, int64_t floor);
int64_t mepc_san_limit_wh(uint32_t max_power_w, uint32_t dt_ms);
/* Rule 6: the 64-bit value of a 32-bit register reading. */
int64_t mepc_san_unwrap(const mepc_san_reg *r, uint32_t raw);
/* Feed one reading (already unwrapped) at now_ms; pw may be NULL (no power check). */
mepc_san_result mepc_san_feed_power(mepc_san_reg *r, const mepc_san_cfg *c, int64_t value,
                                    const mepc_san_power *pw, uint32_t now_ms);
/* The same without power information. */
mepc_san_result mepc_san_feed(mepc_san_reg *r, const mepc_san_cfg *c, int64_t value, uint32_t now_ms);
const char *mepc_san_result_name(mepc_san_result r);

#endif
