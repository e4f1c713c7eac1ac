/* sim_line: line timing of one emulated meter, a pure core: no I/O, time
 * passed in. The I/O edge that drives it is io/sim_port.c.
 *
 * Timing rules implemented here, all from docs/mep.md 4:
 *  - a gap > 50 ms inside a request aborts it (checked on every byte and on
 *    a timer, so a half frame is discarded even when nothing else comes);
 *  - at most one request per 100 ms: a request that completes sooner is
 *    delayed (not dropped), policy [E];
 *  - the meter's turnaround: a request is handled (and its reply's first
 *    byte leaves) the meter's reply delay after its last byte arrived, well
 *    inside the client's 500 ms by default (sim_profile.h reply_delay_ms);
 *  - responses leave at the baud rate, 117-byte segments counted from the
 *    first length byte, 25 ms pause after each full segment;
 *  - `00 00` alerts once per second while sim_meter_alert_pending(), never
 *    within 1 s of a received byte, never inside a response;
 *  - a baud change written to ET13 applies after the response is out (docs/mep.md 2).
 */
#include "sim_line.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t sim_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

unsigned sim_line_format_bits(const char *f)
{
    if (!f || strlen(f) != 3)
        return 0;
    if (f[0] < '5' || f[0] > '8')
        return 0;
    unsigned data = (unsigned)(f[0] - '0');
    unsigned parity;
    switch (f[1]) {
    case 'N': case 'n': parity = 0; break;
    case 'E': case 'e': case 'O': case 'o': case 'M': case 'm': case 'S': case 's': parity = 1; break;
    default: return 0;
    }
    if (f[2] != '1' && f[2] != '2')
        return 0;
    return 1u + data + parity + (unsigned)(f[2] - '0');
}

static void line_log(sim_line *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void line_log(sim_line *l, int level, const char *fmt, ...)
{
    if (!l->log || l->verbose < level)
        return;
    char msg[1700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    l->log(l->log_ctx, level, msg);
}

static void line_hex(sim_line *l, const char *dir, const uint8_t *b, size_t n)
{
    if (!l->log || l->verbose < 2)
        return;
    char msg[1700];
    size_t o = (size_t)snprintf(msg, sizeof msg, "%s %zu bytes:", dir, n);
    for (size_t i = 0; i < n && o + 4 < sizeof msg; i++)
        o += (size_t)snprintf(msg + o, sizeof msg - o, " %02X", b[i]);
    l->log(l->log_ctx, 2, msg);
}

static void remember(sim_line *l, const char *text)
{
    size_t slot = (l->recent_head + l->recent_n) % SIM_LINE_RECENT;
    if (l->recent_n == SIM_LINE_RECENT) {
        slot = l->recent_head;
        l->recent_head = (l->recent_head + 1) % SIM_LINE_RECENT;
    } else {
        l->recent_n++;
    }
    size_t n = strnlen(text, SIM_LINE_RECENT_LEN - 1);
    memcpy(l->recent[slot], text, n);
    l->recent[slot][n] = 0;
}

const char *sim_line_recent(const sim_line *l, size_t i)
{
    if (i >= l->recent_n)
        return NULL;
    size_t slot = (l->recent_head + l->recent_n - 1 - i) % SIM_LINE_RECENT;
    return l->recent[slot];
}

void sim_line_init(sim_line *l, sim_meter *m, uint32_t baud, unsigned bits_per_char)
{
    memset(l, 0, sizeof *l);
    l->meter = m;
    l->meter_baud = sim_meter_baud(m);
    l->baud = baud ? baud : l->meter_baud;
    if (!l->baud)
        l->baud = 9600;
    l->bits_per_char = bits_per_char ? bits_per_char : 10;
    mep_asm_init(&l->rx, MEP_MAX_BODY, MEP_GAP_ABORT_MS);
}

void sim_line_set_log(sim_line *l, sim_line_log_fn fn, void *ctx, int verbose)
{
    l->log = fn;
    l->log_ctx = ctx;
    l->verbose = verbose;
}

void sim_line_set_hooks(sim_line *l, const sim_line_hooks *h)
{
    if (h)
        l->hooks = *h;
    else
        memset(&l->hooks, 0, sizeof l->hooks);
}

/* End of byte k's last bit, relative to the start of the transmission. */
static uint64_t byte_done_us(const sim_line *l, size_t k)
{
    uint64_t bits = (uint64_t)(k + 1) * l->bits_per_char;
    uint64_t extra = (l->tx_pause_us && k > l->tx_pause_at) ? l->tx_pause_us : 0;
    return bits * 1000000u / l->baud + (uint64_t)(k / MEP_SEGMENT_BYTES) * MEP_SEGMENT_PAUSE_MS * 1000u +
           extra;
}

uint64_t sim_line_tx_duration_us(const sim_line *l, size_t n)
{
    return n ? byte_done_us(l, n - 1) : 0;
}

static bool output_on(const sim_line *l)
{
    return sim_meter_line_on(l->meter, SIM_METER_TRANSCEIVER) && sim_meter_line_on(l->meter, SIM_METER_ENABLE);
}

/* The frame is built in l->tx (idle transmitter) and filtered there in place. */
static void start_tx(sim_line *l, const uint8_t *b, size_t n, bool alert, bool filter, uint64_t now_us)
{
    uint8_t *buf = l->tx;
    if (n > sizeof l->tx)
        n = sizeof l->tx;
    if (b != buf)
        memmove(buf, b, n);
    if (filter && l->hooks.tx)
        n = l->hooks.tx(l->hooks.ctx, buf, n, sizeof l->tx, now_us);
    if (n == 0) {
        line_log(l, 1, "fault layer dropped the %s", alert ? "alert" : "response");
        if (!alert)
            sim_meter_on_sent(l->meter, now_us / 1000u);
        return;
    }
    l->tx_pause_us = 0;
    if (filter && l->hooks.tx_pause) {
        size_t at = 0;
        uint32_t us = 0;
        if (l->hooks.tx_pause(l->hooks.ctx, &at, &us) && us > 0 && at < n) {
            l->tx_pause_at = at;
            l->tx_pause_us = us;
        }
    }
    l->tx_len = n;
    l->tx_pos = 0;
    l->tx_start_us = now_us;
    l->tx_active = true;
    l->tx_is_alert = alert;
    if (!alert && !sim_meter_line_on(l->meter, SIM_METER_ENABLE)) {
        l->c.muted++;
        line_log(l, 1, "ENABLE off: response of %zu bytes not driven onto the line (docs/module-behaviour.md 2)", n);
    }
}

static void process_frame(sim_line *l, const sim_line_frame *f, uint64_t now_us)
{
    uint64_t now_ms = now_us / 1000u;
    /* the transmitter is idle here: the meter writes its reply straight into
     * l->tx (room for protocol faults beyond MEP_MAX_FRAME, S27) */
    uint8_t *out = l->tx;
    /* The one-line description costs about a third of a transaction: build
     * it only when a log line (-v) or the live display will show it. */
    bool describe = l->verbose >= 1 || l->keep_recent;
    char desc[256] = "";
    l->accepted_any = true;
    l->last_accept_us = now_us;
    line_hex(l, "rx", f->b, f->len);
    size_t n = sim_meter_on_frame(l->meter, f->b, f->len, now_ms, out, sizeof l->tx, describe ? desc : NULL,
                                  describe ? sizeof desc : 0);
    l->meter_deadline_ms = 0; /* the frame may have moved the meter's timers */
    if (n == 0)
        l->c.silent++;
    if (describe) {
        if (!desc[0])
            snprintf(desc, sizeof desc, "frame of %u bytes", (unsigned)f->len);
        char text[sizeof desc + 16]; /* room for the whole desc (remember() truncates) */
        snprintf(text, sizeof text, "%s%s", desc, n ? "" : " (no answer)");
        if (l->keep_recent)
            remember(l, text);
        line_log(l, 1, "%s", text);
    }
    if (n == 0)
        return;
    line_hex(l, "tx", out, n);
    l->c.responses++;
    start_tx(l, out, n, false, true, now_us);
}

void sim_line_keep_recent(sim_line *l, bool on) { l->keep_recent = on; }

void sim_line_line_event(sim_line *l, sim_meter_line which, bool on, uint64_t now_us)
{
    sim_meter_set_line(l->meter, which, on, now_us / 1000u);
    if (l->hooks.line_event)
        l->hooks.line_event(l->hooks.ctx, sim_meter_line_name(which), on, now_us);
    /* The transceiver's supply changed in the middle of a frame toward the
     * module: its unsent bytes are lost, not delivered when the power comes
     * back (a burst of latch-up noise begun while it was off once arrived
     * after the latch-up had been cleared). The meter's UART still takes
     * the frame's wire time, so on_sent comes when it would have. */
    if (which == SIM_METER_TRANSCEIVER && l->tx_active && l->tx_pos < l->tx_len) {
        l->c.tx_lost += l->tx_len - l->tx_pos;
        l->tx_pos = l->tx_len;
    }
}

/* When the 100 ms rule lets frame f be handled (docs/mep.md 4). */
static uint64_t throttle_due_us(const sim_line *l, const sim_line_frame *f)
{
    uint64_t due = f->done_us;
    if (l->accepted_any && l->last_accept_us + MEP_THROTTLE_MS * 1000u > due)
        due = l->last_accept_us + MEP_THROTTLE_MS * 1000u;
    return due;
}

/* When f is handled and its reply starts: the throttle, and no sooner than
 * the meter's turnaround after its last byte. */
static uint64_t frame_due_us(const sim_line *l, const sim_line_frame *f)
{
    uint64_t due = throttle_due_us(l, f);
    uint64_t turn = f->done_us + f->turnaround_us;
    return turn > due ? turn : due;
}

static void enqueue(sim_line *l, const uint8_t *b, uint16_t len, uint64_t now_us)
{
    if (l->q_n == SIM_LINE_QUEUE) {
        l->c.queue_overflow++;
        line_log(l, 1, "request of %u bytes dropped: %d requests already waiting", (unsigned)len,
                 SIM_LINE_QUEUE);
        return;
    }
    sim_line_frame *f = &l->queue[(l->q_head + l->q_n) % SIM_LINE_QUEUE];
    memcpy(f->b, b, len);
    f->len = len;
    f->done_us = now_us;
    f->turnaround_us = sim_meter_reply_delay_us(l->meter);
    bool behind = l->q_n > 0;
    l->q_n++;
    uint64_t due = throttle_due_us(l, f);
    if (behind || due > now_us) {
        l->c.throttled++;
        /* -vv: a module that paces its requests a little too fast sees this every poll */
        line_log(l, 2, "request throttled: %.1f ms after the previous one, held %.1f ms (docs/mep.md 4)",
                 (double)(now_us - l->last_accept_us) / 1000.0, (double)(due - now_us) / 1000.0);
    }
}

static void rx_bytes(sim_line *l, const uint8_t *buf, size_t got, uint64_t now_us);

void sim_line_rx(sim_line *l, const uint8_t *in, size_t n, uint64_t now_us)
{
    uint8_t buf[2048];
    while (n > 0) {
        size_t chunk = n > 1024 ? 1024 : n;
        memcpy(buf, in, chunk);
        in += chunk;
        n -= chunk;
        size_t got = chunk;
        if (l->hooks.rx)
            got = l->hooks.rx(l->hooks.ctx, buf, chunk, sizeof buf, now_us);
        rx_bytes(l, buf, got, now_us);
    }
}

static void rx_bytes(sim_line *l, const uint8_t *buf, size_t got, uint64_t now_us)
{
    if (!sim_meter_line_on(l->meter, SIM_METER_TRANSCEIVER)) {
        l->c.deaf_bytes += got;
        return;
    }
    uint64_t now_ms = now_us / 1000u;
    l->c.bytes_rx += got;
    if (got) {
        l->heard_any = true;
        l->last_rx_us = now_us;
    }
    for (size_t i = 0; i < got; i++) {
        switch (mep_asm_push(&l->rx, buf[i], now_ms)) {
        case MEP_ASM_NONE:
            break;
        case MEP_ASM_GAP_ABORT:
            l->c.gap_aborts++;
            line_log(l, 1, "partial request discarded: gap > %u ms inside the frame (docs/mep.md 4)",
                     MEP_GAP_ABORT_MS);
            break;
        case MEP_ASM_ZERO:
            l->c.zero_rx++;
            line_log(l, 1, "client sent 00 00 (alert sequence is server->client only): ignored");
            mep_asm_reset(&l->rx);
            break;
        case MEP_ASM_OVERSIZE:
            l->c.oversize++;
            line_log(l, 1, "length field above %u: discarding bytes until a %u ms gap (docs/mep.md 3.1)",
                     MEP_MAX_BODY, MEP_GAP_ABORT_MS);
            break;
        case MEP_ASM_FRAME:
            l->c.frames_rx++;
            enqueue(l, mep_asm_frame(&l->rx), mep_asm_frame_len(&l->rx), now_us);
            mep_asm_reset(&l->rx);
            break;
        }
    }
}

static bool alert_due(const sim_line *l, uint64_t now_us, uint64_t *when)
{
    if (l->tx_active || l->q_n > 0 || mep_asm_busy(&l->rx) || !sim_meter_alert_pending(l->meter))
        return false;
    uint64_t t = now_us;
    if (l->alerted_any && l->last_alert_us + SIM_ALERT_PERIOD_MS * 1000u > t)
        t = l->last_alert_us + SIM_ALERT_PERIOD_MS * 1000u;
    if (l->heard_any && l->last_rx_us + SIM_ALERT_HOLDOFF_MS * 1000u > t)
        t = l->last_rx_us + SIM_ALERT_HOLDOFF_MS * 1000u;
    *when = t;
    return true;
}

static void finish_tx(sim_line *l, uint64_t now_us)
{
    l->tx_active = false;
    if (l->tx_is_alert)
        return;
    sim_meter_on_sent(l->meter, now_us / 1000u);
    l->meter_deadline_ms = 0;
    uint32_t mb = sim_meter_baud(l->meter);
    if (mb && mb != l->meter_baud) {
        line_log(l, 1, "baud %u -> %u after the response (ET13, docs/mep.md 2)", (unsigned)l->baud,
                 (unsigned)mb);
        l->meter_baud = mb;
        l->baud = mb;
        l->baud_dirty = true;
        l->c.baud_changes++;
    }
}

size_t sim_line_poll(sim_line *l, uint64_t now_us, uint8_t *out, size_t cap)
{
    uint64_t now_ms = now_us / 1000u;
    size_t n = 0;

    if (now_ms >= l->meter_deadline_ms) {
        uint64_t d = sim_meter_tick(l->meter, now_ms);
        l->meter_deadline_ms = d > now_ms ? d : now_ms + 1;
    }

    if (mep_asm_busy(&l->rx) && mep_asm_expired(&l->rx, now_ms)) {
        if (!l->rx.discarding && l->rx.have > 0) {
            l->c.gap_aborts++;
            line_log(l, 1, "partial request of %u bytes discarded: no byte for %u ms (docs/mep.md 4)",
                     (unsigned)l->rx.have, MEP_GAP_ABORT_MS);
        } else {
            line_log(l, 1, "end of oversize frame: %u bytes discarded", (unsigned)l->rx.dropped);
            l->rx.dropped = 0;
        }
        mep_asm_reset(&l->rx);
    }

    if (l->hooks.due) {
        uint8_t chunk[sizeof l->tx];
        size_t k;
        for (int guard = 0; guard < 64 &&
             (k = l->hooks.due(l->hooks.ctx, SIM_LINE_TO_METER, now_us, chunk, sizeof chunk)) > 0;
             guard++)
            rx_bytes(l, chunk, k, now_us);
    }

    for (int round = 0; round < 4; round++) {
        if (l->tx_active) {
            bool on = output_on(l);
            while (l->tx_pos < l->tx_len && n < cap &&
                   l->tx_start_us + byte_done_us(l, l->tx_pos) <= now_us + SIM_LINE_EARLY_US) {
                uint8_t b = l->tx[l->tx_pos++];
                if (on) {
                    out[n++] = b;
                    l->c.bytes_tx++;
                } else {
                    l->c.tx_lost++;
                }
                /* docs/mep.md 4: a 25 ms pause after each 117-byte segment; the
                 * fault layer may change the rest meanwhile (torn snapshot). */
                if (l->hooks.segment && !l->tx_is_alert && l->tx_pos < l->tx_len &&
                    l->tx_pos % MEP_SEGMENT_BYTES == 0 &&
                    l->hooks.segment(l->hooks.ctx, l->tx, l->tx_len, l->tx_pos, now_us))
                    line_log(l, 1, "fault layer rewrote the reply after byte %zu (segment pause)", l->tx_pos);
            }
            if (n > 0)
                l->last_emit_us = now_us;
            if (l->tx_pos == l->tx_len &&
                l->tx_start_us + sim_line_tx_duration_us(l, l->tx_len) <= now_us)
                finish_tx(l, now_us);
        }
        if (l->tx_active)
            break;
        if (l->hooks.due) {
            uint8_t chunk[sizeof l->tx];
            size_t k = l->hooks.due(l->hooks.ctx, SIM_LINE_TO_MODULE, now_us, chunk, sizeof chunk);
            if (k > 0) {
                line_log(l, 1, "fault layer sends %zu bytes", k);
                start_tx(l, chunk, k, true /* not a response: no on_sent */, false, now_us);
                continue;
            }
        }
        if (l->q_n > 0) {
            sim_line_frame *f = &l->queue[l->q_head];
            if (frame_due_us(l, f) <= now_us) {
                /* processed in its queue slot: nothing is queued meanwhile */
                process_frame(l, f, now_us);
                l->q_head = (l->q_head + 1) % SIM_LINE_QUEUE;
                l->q_n--;
                continue;
            }
            break;
        }
        uint64_t when;
        if (alert_due(l, now_us, &when) && when <= now_us) {
            static const uint8_t alert[2] = {0x00, 0x00};
            l->alerted_any = true;
            l->last_alert_us = now_us;
            l->c.alerts++;
            sim_meter_alert_sent(l->meter, now_ms);
            line_log(l, 1, "alert sequence 00 00 sent (ET13 flags 0x%02X, docs/mep.md 10.3)",
                     sim_meter_alert_flags(l->meter));
            start_tx(l, alert, 2, true, true, now_us);
            continue;
        }
        break;
    }
    return n;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

uint64_t sim_line_next_wake(const sim_line *l, uint64_t now_us)
{
    uint64_t w = UINT64_MAX;
    if (l->meter_deadline_ms < UINT64_MAX / 1000u)
        w = l->meter_deadline_ms * 1000u;
    if (mep_asm_busy(&l->rx))
        w = min_u64(w, (l->rx.last_ms + MEP_GAP_ABORT_MS + 1u) * 1000u);
    if (l->hooks.next_wake) {
        uint64_t t = l->hooks.next_wake(l->hooks.ctx, now_us);
        if (t <= now_us)
            t = now_us + SIM_LINE_MIN_WAKE_US;
        w = min_u64(w, t);
    }
    if (l->tx_active) {
        uint64_t t = l->tx_pos < l->tx_len ? l->tx_start_us + byte_done_us(l, l->tx_pos) - SIM_LINE_EARLY_US
                                           : l->tx_start_us + sim_line_tx_duration_us(l, l->tx_len);
        /* Batch writes at high rates: once bytes of this transmission went
         * out, the next batch waits SIM_LINE_MIN_WAKE_US; the first byte goes
         * out exactly when it is due (no added latency, bench_scale). */
        if (l->tx_pos > 0 && l->tx_pos < l->tx_len && t < l->last_emit_us + SIM_LINE_MIN_WAKE_US)
            t = l->last_emit_us + SIM_LINE_MIN_WAKE_US;
        w = min_u64(w, t);
    } else if (l->q_n > 0) {
        w = min_u64(w, frame_due_us(l, &l->queue[l->q_head]));
    } else {
        uint64_t when;
        if (alert_due(l, now_us, &when))
            w = min_u64(w, when);
    }
    return w;
}
