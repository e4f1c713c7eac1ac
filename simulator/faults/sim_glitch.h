/* sim_glitch: meter-side kWh and model glitches (docs/module-behaviour.md 9, S16-S19, S31).
 *
 * Owns: glitches that make the meter itself report odd but correctly
 * authenticated values: a spike that returns after k polls or T simulated
 * seconds, a permanent step up or down, a reset to 0 with a new utility
 * serial (meter replacement), a 32-bit wrap, a slow drift, frozen
 * registers, a frozen clock, a torn BT28 snapshot (phases do not sum to the
 * total), a value that changes between two 117-byte segments of one reply,
 * and solar export on some phases (a load change for the model).
 *
 * The glitch edits table bytes *as they are read*, after rendering and
 * before the digest, so the reply is valid (the module cannot tell; only a
 * plausibility filter can). The exception is the segment glitch: it changes
 * bytes of a reply already framed and digested, so the digest fails — the
 * realistic outcome of a meter that re-renders between segments.
 *
 * Offsets come from sim_layout (sim_layout.h, docs/mep.md 12.6/12.8); only the
 * total block of BT23 is edited (summation 0 = Fwd, 1 = Rev), tier blocks
 * keep the true values. Register values are NI_FMAT1 (INT32 LE) and wrap
 * modulo 2^32. Time is simulated UTC milliseconds.
 */
#ifndef SIM_GLITCH_H
#define SIM_GLITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_tables.h"
#include "sim_spec.h"
#include "sim_text.h"

#define SIM_GLITCH_MAX 8

typedef enum {
    SIM_GLITCH_SPIKE = 0,   /* "spike": +delta for `polls` BT23 reads or duration s (S16) */
    SIM_GLITCH_STEP,        /* "step": +delta from now on (S17) */
    SIM_GLITCH_DECREASE,    /* "decrease": -delta from now on (S17) */
    SIM_GLITCH_RESET,       /* "reset": registers restart at 0, ET03 shows a new serial (S17) */
    SIM_GLITCH_WRAP,        /* "wrap": register starts `margin` Wh below 2^32 and wraps (S17) */
    SIM_GLITCH_DRIFT,       /* "drift": +rate Wh per simulated hour (S17) */
    SIM_GLITCH_FREEZE,      /* "freeze": registers stuck at their value (S17) */
    SIM_GLITCH_CLOCK_FREEZE,/* "clock-freeze": BT52/BT55 stop advancing (S31, HA "Problem") */
    SIM_GLITCH_TORN,        /* "torn": BT28 value `index` + delta W: sum != total (S18) */
    SIM_GLITCH_SEGMENT,     /* "segment": a value changes between 117-byte segments (S18, S32) */
    SIM_GLITCH_SOLAR,       /* "solar": phases export `watts` (a model command, S19) */
    SIM_GLITCH_KIND_COUNT
} sim_glitch_kind;

#define SIM_GLITCH_INDEX_DEFAULT UINT32_MAX /* segment: 28 (L3 Fwd W) on BT28, 0 on BT23 */

#define SIM_GLITCH_FWD 1u   /* BT23 summation 0 */
#define SIM_GLITCH_REV 2u   /* BT23 summation 1 */

typedef struct {
    sim_glitch_kind kind;
    unsigned regs;          /* SIM_GLITCH_FWD/REV; default FWD ("reg": fwd|rev|both) */
    int64_t delta;          /* Wh (spike 2^24, step 2^20, decrease 1000) or W (torn 50, segment 1000) */
    uint32_t polls;         /* wear off after this many reads of the table (0 = no limit) */
    uint32_t duration_s;    /* wear off after this many simulated seconds (0 = until stopped) */
    uint32_t margin;        /* wrap: Wh below 2^32 at the start (default 1000) */
    double rate;            /* drift: Wh per simulated hour (default 100) */
    char serial[31];        /* reset: new ET03 utility serial (default "REPLACED-0001") */
    uint16_t table;         /* segment: BT23 or BT28 (default BT28) */
    uint32_t index;         /* torn: BT28 value (default 26 = L1 Fwd W); segment: BT28 value
                               (default 28 = L3 Fwd W) or BT23 summation (default 0) */
    unsigned phases;        /* solar: bit0 = L1 .. bit2 = L3 (default L3) */
    double watts;           /* solar: load per phase, negative = export (default -2000) */
    double pf;              /* solar: power factor (default 1.0) */
} sim_glitch_spec;

typedef struct {
    sim_glitch_spec spec;
    uint32_t id;
    int64_t start_ms;       /* simulated */
    uint32_t polls_seen;
    bool captured;          /* lazy captures done at the first read */
    uint32_t cap_val[2];    /* freeze: frozen values; reset: base; wrap: offset */
    uint8_t clock52[7], clock55[9];
    bool has52, has55;
} sim_glitch_slot;

/* What the owner must do on start (things outside table bytes). */
typedef struct {
    int n_loads;
    struct {
        int phase;          /* 1..3 */
        double watts, pf;
    } load[3];              /* apply with sim_model_set_load(m, phase - 1, watts, pf) */
    bool freeze_clock;      /* optional: also freeze sim_clock (BT52 bytes freeze anyway) */
} sim_glitch_effects;

typedef struct {
    uint64_t applied[SIM_GLITCH_KIND_COUNT]; /* reads (or frames) edited */
    uint64_t worn_off;
} sim_glitch_counters;

typedef struct {
    uint32_t next_id;
    sim_glitch_slot slot[SIM_GLITCH_MAX];
    /* last table read, for the segment glitch */
    bool last_valid;
    uint16_t last_table;
    uint32_t last_off;
    sim_glitch_counters c;
} sim_glitch;

/* sim_glitch_family, sim_glitch_kind_name, sim_glitch_kind_from_name,
 * sim_glitch_spec_parse, sim_glitch_spec_format (sim_spec.h). Kinds:
 * "spike", "torn", ... Parameters: reg (fwd|rev|both), delta (integer or
 * 2^N, may be negative), polls, duration (simulated s), margin, rate,
 * serial, table (BT23|BT28), index, phases ("1,3" or "L1,L3"), watts, pf;
 * unused parameter = error. Formatted "spike reg=fwd delta=16777216
 * polls=3": polls and duration only when set. */
SIM_SPEC_FAMILY_API(sim_glitch, sim_glitch_spec, sim_glitch_kind);

/* No glitch active; ids start at 1. */
void sim_glitch_init(sim_glitch *g);
/* Start at simulated time sim_now_ms; effects (may be NULL) says what the
 * owner must do besides table edits. Returns id > 0 or -1. */
int sim_glitch_start(sim_glitch *g, const sim_glitch_spec *s, int64_t sim_now_ms, sim_glitch_effects *fx,
                     char *err, size_t errlen);
/* Stop the glitches a kind name, an id ("1") or "all" names; how many. */
int sim_glitch_stop(sim_glitch *g, const char *what);
/* Stop everything and forget the last read (segment glitch). */
void sim_glitch_clear(sim_glitch *g);
/* One line per active glitch: "g<id> <spec> reads=N". */
size_t sim_glitch_list(const sim_glitch *g, char *out, size_t cap);
/* A clock-freeze glitch is active (for an owner that freezes sim_clock too). */
bool sim_glitch_clock_frozen(const sim_glitch *g);

/* Read hook: out[0..n) holds bytes [off, off+n) of table `table`, whose
 * whole current rendering is full[0..full_len) (sim_tables_raw after the
 * read). Edits out in place. Call for every table read the meter answers. */
void sim_glitch_on_read(sim_glitch *g, const sim_layout *lay, uint16_t table, const uint8_t *full,
                        size_t full_len, uint32_t off, uint8_t *out, size_t n, int64_t sim_now_ms);
/* Segment hook: the line has sent frame[0..sent) of a response frame and
 * pauses (docs/mep.md 4: 117-byte segments). May rewrite frame[sent..len) in
 * place; returns true if it did. The frame must be the reply to the last
 * read passed to sim_glitch_on_read. */
bool sim_glitch_between_segments(sim_glitch *g, const sim_layout *lay, uint8_t *frame, size_t len,
                                 size_t sent, int64_t sim_now_ms);

#endif
