/* sim_fault: line faults and MAX3232 transceiver models between the meter's
 * protocol layer and the serial line, one instance per emulated meter.
 *
 * Owns: named faults (drop, flip, junk, truncate, delay, duplicate,
 * previous, trailing, silence, stuck) that act on the bytes of one direction
 * (to-meter: what the module sends; to-module: what the meter answers), each
 * limited to N occurrences and/or a duration and wearing off by itself; the
 * transceiver models (dead, garble, latch-up) that react to the module's
 * transceiver-power and meter-ENABLE line events; and the counters of what
 * was injected. Pure: bytes and monotonic microseconds in, bytes and
 * release times out, randomness from a seeded xorshift only.
 *
 * Byte-level faults (drop, flip, junk) act on single bytes in either
 * direction. Frame-level faults (truncate, delay, duplicate, previous,
 * trailing) act on whole response frames, which the line hands over before
 * pacing them (sim_line's tx hook); they exist only to-module. Alert frames
 * (`00 00`) get byte-level faults but never frame-level ones.
 *
 * ENABLE and transceiver power gating themselves are done by sim_line
 * (docs/module-behaviour.md 2); this module only listens to those events to count
 * power cycles and to clear a latch-up (docs/module-behaviour.md 6, S09).
 *
 * Time base: microseconds of the same monotonic clock sim_line uses.
 * Parameters given in ms are wall milliseconds.
 *
 * Kinds are rows of one table (sim_fault.c KINDS: name, parameters, ranges,
 * and for byte faults the function that applies them), read by the spec
 * engine of sim_text. The slot pool (sim_fault_pool) and the xorshift here
 * are shared by the protocol faults and the glitches.
 */
#ifndef SIM_FAULT_H
#define SIM_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mep_frame.h"
#include "sim_spec.h"
#include "sim_text.h"

#define SIM_FAULT_MAX 16          /* faults active at once */
#define SIM_FAULT_HELD 8          /* delayed / duplicated frames waiting */
#define SIM_FAULT_FRAME_CAP (MEP_MAX_FRAME + 64) /* same as sim_line's tx buffer */

/* Direction masks. */
#define SIM_DIR_TO_METER 1u       /* module -> meter (requests) */
#define SIM_DIR_TO_MODULE 2u      /* meter -> module (responses, alerts) */
#define SIM_DIR_BOTH 3u

/* Stuck-line level "break": the line layer should hold a break condition
 * if it can (a UART: sp_start_break); it is also emitted as 0x00 bytes. */
#define SIM_STUCK_BREAK 0x100

typedef enum {
    SIM_FAULT_DROP = 0,   /* byte: lose bytes with probability p */
    SIM_FAULT_FLIP,       /* byte: each bit flips with probability rate (S07, S10) */
    SIM_FAULT_JUNK,       /* byte: with probability p insert len random bytes before a byte */
    SIM_FAULT_TRUNCATE,   /* frame: keep only the first len bytes (S11) */
    SIM_FAULT_DELAY,      /* frame: hold the frame delay_ms before sending (S13) */
    SIM_FAULT_DUPLICATE,  /* frame: send it again delay_ms after the first copy */
    SIM_FAULT_PREVIOUS,   /* frame: send the previous response instead (S14) */
    SIM_FAULT_TRAILING,   /* frame: append len junk bytes (S12) */
    SIM_FAULT_SILENCE,    /* everything in the direction is lost (S08) */
    SIM_FAULT_STUCK,      /* line held at 0x00 / 0xFF / break: len bytes every period_ms, and
                             every byte sent that way reads as the level (S25) */
    SIM_FAULT_DEAD,       /* transceiver: nothing passes either way (S08) */
    SIM_FAULT_GARBLE,     /* transceiver: bit errors at rate (S10) */
    SIM_FAULT_LATCHUP,    /* transceiver: latches, garbage/silence until off >= off_ms (S09) */
    SIM_FAULT_KIND_COUNT
} sim_fault_kind;

/* Which control line clears a latch-up. */
#define SIM_LATCH_BY_POWER 1u
#define SIM_LATCH_BY_ENABLE 2u

typedef enum { SIM_LINE_POWER = 0, SIM_LINE_ENABLE = 1 } sim_fault_line;

/* One fault with its parameters. Fill with sim_fault_spec_parse (or the
 * family table, sim_fault_family); every field has a documented default. */
typedef struct {
    sim_fault_kind kind;
    unsigned dir;            /* SIM_DIR_* mask; frame faults and stuck default to-module */
    double p;                /* per byte (byte faults) / per frame (frame faults); default 1 (junk 0.01) */
    double rate;             /* flip/garble: probability per bit; default 0.001 */
    uint32_t count;          /* wear off after this many injections (0 = no limit) */
    uint32_t duration_ms;    /* wear off this long after the start (0 = until stopped) */
    uint32_t delay_ms;       /* delay: hold time (default 1000); duplicate: gap (default 0) */
    uint32_t len;            /* junk/trailing: bytes added (default 1 / 8); truncate: kept (default 5);
                                stuck: bytes per burst (default 16) */
    uint32_t period_ms;      /* stuck: burst period (default 20, ~continuous at 9600) */
    int level;               /* stuck: 0x00 (default), 0xFF or SIM_STUCK_BREAK */
    /* latch-up */
    uint32_t at_ms;          /* latch this long after the start (default 0 = at once) */
    uint32_t after_frames;   /* or after this many response frames (0 = use at_ms) */
    uint32_t off_ms;         /* T: off time that clears it (default 1000) */
    double recover_p;        /* probability that a long-enough cycle clears it (default 1) */
    bool garbage;            /* latched: random bytes (default) or silence */
    unsigned by;             /* SIM_LATCH_BY_* mask, default both (module-behaviour S09) */
    /* garbage mode: the latched output also drives noise toward the module
     * on its own, bytes per second (0..SIM_FAULT_NOISE_MAX, default 100, 0 =
     * none) in bursts every SIM_FAULT_NOISE_PERIOD_MS, of this pattern */
    uint32_t noise_bps;
    int noise_pattern;       /* SIM_FAULT_NOISE_RANDOM (seeded, default) or a byte value */
} sim_fault_spec;

#define SIM_FAULT_NOISE_MAX 960u        /* the whole line at 9600 8N1 */
#define SIM_FAULT_NOISE_PERIOD_MS 20u   /* burst spacing, or 1 byte every 1000/rate ms when slower */
#define SIM_FAULT_NOISE_RANDOM 256

typedef struct {
    sim_fault_spec spec;
    uint32_t id;             /* > 0 while the slot is in use */
    uint64_t start_us;
    uint64_t injected;       /* occurrences so far */
    uint64_t next_burst_us;  /* stuck: next burst toward the module */
    uint64_t next_burst_rx_us; /* stuck: next burst toward the meter */
    uint64_t frames0;        /* latch-up: response frames seen at the start */
} sim_fault_slot;

typedef struct {
    uint64_t at_us;
    uint16_t len;
    uint8_t b[SIM_FAULT_FRAME_CAP];
} sim_fault_held;

typedef struct {
    uint64_t injected[SIM_FAULT_KIND_COUNT]; /* per fault kind: bytes/bits/frames affected */
    uint64_t worn_off;                       /* faults ended by count or duration */
    uint64_t power_cycles_long, power_cycles_short;   /* off >= T / off < T */
    uint64_t enable_cycles_long, enable_cycles_short;
    uint64_t latchups;                       /* times the transceiver latched */
    uint64_t latchups_cleared;               /* cleared by a long-enough off time */
    uint64_t latchup_recover_failed;         /* long cycle that did not clear it (recover_p) */
    uint64_t held_overflow;                  /* delayed/duplicated frames lost: queue full */
    uint64_t noise_bytes;                    /* latch-up noise sent toward the module */
} sim_fault_counters;

typedef struct {
    uint64_t rng;
    uint32_t next_id;
    sim_fault_slot slot[SIM_FAULT_MAX];
    /* previous response frame (for "previous", S14) */
    uint8_t prev[SIM_FAULT_FRAME_CAP];
    size_t prev_len;
    sim_fault_held held[SIM_FAULT_HELD];
    size_t n_held;
    /* transceiver */
    bool power_on, enable_on;
    uint64_t power_off_us, enable_off_us;
    bool latched;
    uint64_t frames_tx;                      /* response frames seen (latch-up after N) */
    uint32_t cycle_threshold_ms;             /* T for counting long/short cycles */
    sim_fault_counters c;
} sim_fault;

/* ---- specs -------------------------------------------------------------- */
/* sim_fault_family, sim_fault_kind_name, sim_fault_kind_from_name,
 * sim_fault_spec_parse, sim_fault_spec_format (sim_spec.h). Kinds: "drop",
 * "flip", ... Spec text "flip rate=0.001 dir=to-module count=3".
 * Parameters: p, rate, count, duration (ms), delay (ms), len, period (ms),
 * level (0x00|0xff|break|zero|one), dir (to-meter|to-module|both), at (ms),
 * after_frames, off (ms), recover_p, mode (garbage|silence),
 * by (power|enable|either), noise (bytes/s), pattern (random|0x00|0xff|0x55). A parameter the fault does not use is an error;
 * *s is written only on success. */
SIM_SPEC_FAMILY_API(sim_fault, sim_fault_spec, sim_fault_kind);

/* ---- runtime ------------------------------------------------------------ */
/* No fault active, both control lines on, T = 1000 ms; seed 0 is remapped. */
void sim_fault_init(sim_fault *f, uint64_t seed);
/* Start a fault now. Returns its id (> 0) or -1 with a message (bad spec,
 * all SIM_FAULT_MAX slots in use). */
int sim_fault_start(sim_fault *f, const sim_fault_spec *s, uint64_t now_us, char *err, size_t errlen);
/* Stop faults by kind name ("flip"), by id ("3") or "all". Returns how many. */
int sim_fault_stop(sim_fault *f, const char *what);
/* Stop everything, drop held frames and end a latch-up. */
void sim_fault_clear(sim_fault *f);
/* Number of active faults (after wearing off those due at now_us). */
size_t sim_fault_active(sim_fault *f, uint64_t now_us);
/* One line per active fault ("3 flip dir=to-module rate=0.001 injected=12 ...")
 * plus the transceiver state; for the control socket's `list`/`status`. */
size_t sim_fault_list(const sim_fault *f, uint64_t now_us, char *out, size_t cap);

/* Bytes from the module (to-meter) at now_us: may rewrite buf[0..n) in place
 * (up to cap) and returns the new length. */
size_t sim_fault_rx(sim_fault *f, uint8_t *buf, size_t n, size_t cap, uint64_t now_us);
/* One whole frame from the meter (response or alert) at now_us. Returns the
 * length to send now (0 = nothing now: dropped, or held for later). */
size_t sim_fault_tx(sim_fault *f, uint8_t *buf, size_t n, size_t cap, uint64_t now_us);

/* Bytes the line must emit on its own now in direction dir (one call = one
 * chunk: a held frame (delay/duplicate) to send as a frame, or a stuck-line
 * burst; to-meter chunks are fed to the meter as if received). Call until it
 * returns 0. Held frames already carry their faults: send them without
 * passing them through sim_fault_tx again. */
size_t sim_fault_due(sim_fault *f, unsigned dir, uint64_t now_us, uint8_t *out, size_t cap);
/* Earliest time something becomes due or wears off (UINT64_MAX if never). */
uint64_t sim_fault_next_wake(const sim_fault *f, uint64_t now_us);
/* A stuck fault with level break is active in dir (a UART can hold break). */
bool sim_fault_break_active(const sim_fault *f, unsigned dir);

/* Control line events (docs/module-behaviour.md 2, 6): "transceiver" power and
 * meter "enable". Counts off-times >= T and < T; a latch-up clears on a
 * long-enough off time of a line its `by` accepts (with recover_p). */
void sim_fault_line_event(sim_fault *f, sim_fault_line line, bool on, uint64_t now_us);
/* "transceiver"/"power" -> SIM_LINE_POWER, "enable" -> SIM_LINE_ENABLE, else -1. */
int sim_fault_line_from_name(const char *name);
bool sim_fault_latched(const sim_fault *f);

/* xorshift64* step shared by the fault modules (seed 0 is remapped). */
uint64_t sim_fault_rng_next(uint64_t *state);
/* True with probability p (p >= 1: always, without drawing; p <= 0: never). */
bool sim_fault_chance(uint64_t *state, double p);
/* When a spec with duration_ms started at start_us wears off (us);
 * UINT64_MAX for duration 0 (until stopped or its count is reached). */
uint64_t sim_fault_end_us(uint64_t start_us, uint32_t duration_ms);
/* ---- slots, shared by the three fault families --------------------------
 * Each family keeps its active specs in an array of slots; a slot starts
 * with its spec (whose first member is the kind) and has a uint32_t id,
 * > 0 while in use. One pool describes the array and the family, and the
 * generic start/stop/list below serve all three. */
typedef struct {
    void *slots;             /* n slots of stride bytes */
    size_t n, stride;
    size_t id_offset;        /* offsetof(slot, id) */
    uint32_t *next_id;       /* ids count up from 1, skipping 0 on wrap */
    const sim_spec_family *family;
    const char *noun;        /* "faults", "glitches": "too many <noun> active (<n>)" */
    /* offsets of the slot's uint64_t start time (us) and occurrence count,
     * for the list's default tail; used when a list passes no tail */
    size_t start_offset, count_offset;
} sim_fault_pool;
/* Check spec against the family, then take a free slot: zeroed, holding a
 * copy of spec and a new id. NULL with a message if the spec is bad or
 * every slot is in use. */
void *sim_fault_pool_start(const sim_fault_pool *p, const void *spec, char *err, size_t errlen);
/* Stop the slots `what` names ("all", an id or a kind name): release(ctx,
 * slot) frees each (NULL: the slot is zeroed). Returns how many; 0 for what
 * NULL. */
int sim_fault_pool_stop(const sim_fault_pool *p, const char *what, void (*release)(void *ctx, void *slot),
                        void *ctx);
/* One line per slot in use into out (cap as sim_text_appendf; out is
 * emptied first): "<prefix><id> <spec><tail>\n", the tail written by
 * tail(slot, ctx, buf, bufcap), or with tail NULL " injected=N age_ms=N"
 * (ctx: the const uint64_t now in us). Returns the length. */
size_t sim_fault_pool_list(const sim_fault_pool *p, const char *prefix,
                           void (*tail)(const void *slot, const void *ctx, char *buf, size_t bufcap),
                           const void *ctx, char *out, size_t cap);

#endif
