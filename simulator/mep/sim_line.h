/* sim_line: the MEP serial line of one emulated meter (docs/mep.md 4).
 *
 * A pure timing core (no I/O, time passed in as monotonic microseconds).
 * It cuts frames out of the received byte stream (50 ms gap rule, oversize
 * discard, client `00 00` ignored), applies the 100 ms request throttle,
 * hands frames to sim_meter once the meter's turnaround (policy
 * reply_delay_ms + jitter, counted from the request's last byte) has
 * passed, so the reply's first byte leaves then; paces the response at the baud rate in
 * 117-byte segments with 25 ms pauses, decides when an alert `00 00` may go
 * out, calls sim_meter_tick at its deadlines and applies baud changes after
 * a response is out. The owner feeds it bytes (sim_line_rx), asks it what
 * to write now (sim_line_poll) and sleeps until sim_line_next_wake. The
 * libev edge that drives it from a PTY or UART is io/sim_port.h.
 *
 * Between the protocol and the wire sits one hook per direction
 * (sim_line_hooks) so a fault layer can drop, delay or corrupt bytes later
 * without touching either side.
 */
#ifndef SIM_LINE_H
#define SIM_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mep_frame.h"
#include "sim_meter.h"

#define SIM_LINE_QUEUE 4          /* frames waiting for the throttle / the transmitter */
#define SIM_LINE_RECENT 6         /* decoded request lines kept for the live display */
#define SIM_LINE_RECENT_LEN 200
/* Room for one outgoing frame after the tx hook ran: a protocol fault may
 * grow a reply past MEP_MAX_FRAME (oversize, S27); io/sim_port.c checks that
 * the fault layer's largest output fits. */
#define SIM_LINE_TX_MAX 1164
#define SIM_LINE_MIN_WAKE_US 2000 /* transmit pacing wakes at most every ~2 ms */
/* A byte may be written up to this long before its stop bit completes on the
 * modelled wire: libev's epoll backend sleeps in whole milliseconds, so an
 * exact wake 87 us ahead would cost 1 ms; USB-serial adapters deliver bytes
 * in 1-16 ms bursts anyway, so no client can tell (bench/bench_scale). */
#define SIM_LINE_EARLY_US 1000
#define SIM_ALERT_PERIOD_MS 1000u /* docs/mep.md 4: `00 00` once per second */
#define SIM_ALERT_HOLDOFF_MS 1000u /* docs/mep.md 4: none within 1 s of a received byte */

/* Log levels: 1 = decoded frames and line events (-v), 2 = + hex dumps (-vv). */
typedef void (*sim_line_log_fn)(void *ctx, int level, const char *msg);

/* Fault-layer hook: may rewrite buf[0..n) in place (up to cap bytes) and
 * returns the new length; 0 drops everything. rx sees raw received chunks
 * before framing; tx sees each whole outgoing frame (response or alert). */
typedef size_t (*sim_line_filter)(void *ctx, uint8_t *buf, size_t n, size_t cap, uint64_t now_us);

/* Directions for the source hook (same values as sim_fault's SIM_DIR_*). */
#define SIM_LINE_TO_METER 1u
#define SIM_LINE_TO_MODULE 2u

/* Fault-layer source: bytes the layer emits on its own at now_us (a held
 * frame released, a stuck-line burst). One call = one chunk; 0 = nothing.
 * To-meter chunks are framed as if received (no rx filter); a to-module
 * chunk goes out as one frame (no tx filter) when the transmitter is idle. */
typedef size_t (*sim_line_source)(void *ctx, unsigned dir, uint64_t now_us, uint8_t *out, size_t cap);
/* Earliest time the layer wants the line to call it again (UINT64_MAX: never). */
typedef uint64_t (*sim_line_wake)(void *ctx, uint64_t now_us);
/* Module control line changed ("transceiver"/"enable"), for transceiver models. */
typedef void (*sim_line_event_fn)(void *ctx, const char *line, bool on, uint64_t now_us);

/* Asked once per frame after the tx filter ran: an extra pause of pause_us
 * after byte `at` of that frame (a reply split by the fault layer, S26). */
typedef bool (*sim_line_pause_fn)(void *ctx, size_t *at, uint32_t *pause_us);

/* Called at each 117-byte segment pause of a response frame (docs/mep.md 4):
 * frame[0..sent) is on the wire; the hook may rewrite frame[sent..len)
 * (a torn snapshot, S18 — sim_glitch_between_segments). */
typedef bool (*sim_line_segment_fn)(void *ctx, uint8_t *frame, size_t len, size_t sent, uint64_t now_us);

typedef struct {
    sim_line_filter rx, tx;       /* either may be NULL */
    sim_line_pause_fn tx_pause;   /* optional */
    sim_line_segment_fn segment;  /* optional: at each 117-byte segment pause of a response */
    sim_line_source due;          /* optional */
    sim_line_wake next_wake;      /* optional, needed with due */
    sim_line_event_fn line_event; /* optional */
    void *ctx;
} sim_line_hooks;

typedef struct {
    uint64_t bytes_rx, bytes_tx;
    uint64_t frames_rx;           /* complete frames cut from the stream */
    uint64_t gap_aborts;          /* partial frames discarded by the 50 ms rule */
    uint64_t oversize;            /* length field above 476: discarded until a gap */
    uint64_t zero_rx;             /* `00 00` from the client (ignored) */
    uint64_t throttled;           /* frames delayed by the 100 ms rule */
    uint64_t queue_overflow;      /* frames dropped: more than SIM_LINE_QUEUE waiting */
    uint64_t responses;           /* responses started on the wire */
    uint64_t silent;              /* frames the meter did not answer */
    uint64_t muted;               /* responses swallowed: ENABLE off */
    uint64_t deaf_bytes;          /* bytes ignored: transceiver off */
    uint64_t tx_lost;             /* bytes the device would not take / transceiver off */
    uint64_t alerts;              /* `00 00` sequences sent */
    uint64_t baud_changes;        /* line rate switched after a response */
} sim_line_counters;

typedef struct {
    uint8_t b[MEP_MAX_FRAME];
    uint16_t len;
    uint64_t done_us;             /* when its last byte arrived */
    uint64_t turnaround_us;       /* the meter's reply delay for it (sim_meter_reply_delay_us) */
} sim_line_frame;

typedef struct {
    sim_meter *meter;
    mep_assembler rx;
    uint32_t baud;
    unsigned bits_per_char;       /* 10 for 8N1, 11 for 8E1 ... */
    uint32_t meter_baud;          /* last sim_meter_baud() seen */
    bool baud_dirty;              /* the edge must reprogram the device */

    bool heard_any;
    uint64_t last_rx_us;          /* last received byte: alert hold-off */
    bool accepted_any;
    uint64_t last_accept_us;      /* last frame handed to the meter: throttle */
    sim_line_frame queue[SIM_LINE_QUEUE];
    size_t q_head, q_n;

    uint8_t tx[SIM_LINE_TX_MAX];   /* the oversize protocol fault exceeds MEP_MAX_FRAME (S27) */
    size_t tx_len, tx_pos;
    uint64_t tx_start_us;
    uint64_t last_emit_us;         /* when the last batch of bytes was written */
    bool tx_active, tx_is_alert;
    size_t tx_pause_at;           /* extra pause after this byte (fault layer) */
    uint32_t tx_pause_us;         /* 0 = none */

    bool alerted_any;
    uint64_t last_alert_us;
    uint64_t meter_deadline_ms;

    sim_line_hooks hooks;
    sim_line_log_fn log;
    void *log_ctx;
    int verbose;

    bool keep_recent;              /* keep decoded lines for sim_line_recent (live display) */
    char recent[SIM_LINE_RECENT][SIM_LINE_RECENT_LEN];
    size_t recent_head, recent_n;

    sim_line_counters c;
} sim_line;

/* Bits on the wire per character for a format such as "8N1", "8E1", "7E1",
 * "8N2" (start + data + parity + stop). 0 if the format is not understood. */
unsigned sim_line_format_bits(const char *format);

/* Set up a line for meter m at baud (0 = sim_meter_baud(m)). */
void sim_line_init(sim_line *l, sim_meter *m, uint32_t baud, unsigned bits_per_char);
void sim_line_set_log(sim_line *l, sim_line_log_fn fn, void *ctx, int verbose);
void sim_line_set_hooks(sim_line *l, const sim_line_hooks *h);

/* Bytes arrived from the client at now_us. */
void sim_line_rx(sim_line *l, const uint8_t *buf, size_t n, uint64_t now_us);
/* Run everything due at now_us and copy the bytes that are due on the wire
 * into out (returns how many). Call again until it returns 0 if cap was
 * reached; then sleep until sim_line_next_wake. */
size_t sim_line_poll(sim_line *l, uint64_t now_us, uint8_t *out, size_t cap);
/* Monotonic time of the next thing to do (UINT64_MAX if nothing). */
uint64_t sim_line_next_wake(const sim_line *l, uint64_t now_us);
/* Time a response of n bytes occupies the wire at the current rate,
 * including the 25 ms pauses after each full 117-byte segment (docs/mep.md 4). */
uint64_t sim_line_tx_duration_us(const sim_line *l, size_t n);
/* Keep the decoded line of every request for sim_line_recent (off by
 * default: the text is built only when a log line or a display shows it). */
void sim_line_keep_recent(sim_line *l, bool on);
/* A module control line changed at now_us (docs/module-behaviour.md 2): the
 * meter stores the level, the line hooks (the fault layer's transceiver
 * model) hear of it, and a transceiver change cuts the frame in flight
 * toward the module (its unsent bytes count as tx_lost). */
void sim_line_line_event(sim_line *l, sim_meter_line which, bool on, uint64_t now_us);
/* The i-th most recent decoded line (0 = newest); NULL past the end. */
const char *sim_line_recent(const sim_line *l, size_t i);

/* Monotonic clock in microseconds (the time base of sim_line and sim_port). */
uint64_t sim_now_us(void);

#endif
