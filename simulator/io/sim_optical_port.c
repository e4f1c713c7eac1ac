/* sim_optical_port: the optical port's transport edge, the Gen 2/3 shared
 * UART switch and the simulated probe (see sim_optical_port.h). Section
 * numbers refer to docs/optical.md; [E] marks emulator policy
 * (documented in fixtures/meters/README-optical.md). */
#define _GNU_SOURCE

#include "sim_optical_port.h"
#include "sim_ctlcmd.h"
#include "sim_ev.h"
#include "sim_serial.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "mep_frame.h"

/* [E] After the optical session is over (BASE, nothing outstanding) the
 * shared line stays optical until it was quiet this long, so a client's
 * retransmission of a NAKed or lost packet still reaches the optical side. */
#define SHARED_HOLD_MS 1000u
/* [E] The simulated probe sends one request every this many ms (a human
 * with termineter or a hand-held reader is slower; this keeps the line busy). */
#define PROBE_STEP_MS 400u

struct sim_optical_port {
    struct ev_loop *loop;
    sim_meter *meter;
    sim_port *mep;              /* shared UART: the MEP port we tap */
    bool shared;
    char name[64];
    char who[80];               /* log prefix "<name> optical:" */
    sim_serial *dev;            /* separate port: its device (paced output), else NULL */
    ev_timer timer;
    FILE *log;
    int verbose;
    uint64_t now_ms;            /* time of the byte/tick being handled (store callbacks) */

    sim_optical_cfg cfg;
    sim_optical *opt;

    /* shared UART switch (6) */
    bool optical_mode;
    uint64_t last_optical_ms;
    mep_assembler mep_asm;      /* MEP frame boundaries: 0xEE switches only between frames */

    /* simulated probe */
    sim_optical *probe;
    bool probe_active, probe_echo;
    uint64_t probe_end_ms, probe_next_ms;
    unsigned probe_step;
    uint8_t probe_toggle;

    sim_optical_port_counters c;
};

static uint64_t now_ms(void) { return sim_now_us() / 1000u; }

/* A log line of the port when its verbosity is at least level. */
#define plog(p, level, ...) ((p)->verbose >= (level) ? sim_serial_logf((p)->log, (p)->who, __VA_ARGS__) : (void)0)

/* The core's log lines already name the meter ("meter0 optical: ..."). */
static void core_log(void *ctx, const char *line)
{
    sim_optical_port *p = ctx;
    if (p->verbose >= 1)
        sim_serial_log_line(p->log, NULL, line);
}

/* ---- configuration --------------------------------------------------- */

void sim_optical_port_cfg_from_profile(const sim_profile *p, const char *name, sim_optical_cfg *c)
{
    sim_optical_cfg_defaults(c);
    c->name = name;
    const sim_profile_optical *o = &p->optical;
    if (o->mk_set)
        sim_optical_cfg_key(c, 'M', o->mk, sizeof o->mk);
    if (o->pk_set)
        sim_optical_cfg_key(c, 'P', o->pk, sizeof o->pk);
    if (o->rk_set)
        sim_optical_cfg_key(c, 'R', o->rk, sizeof o->rk);
    c->pk_enabled = !o->pk_disabled;
    /* 6: one UART for MEP and optical on Gen 2.x/3.x; Gen 4 has two ports */
    c->shared_uart = o->shared_uart == 1 || (o->shared_uart == 0 && p->generation < 4);
    c->dos_enabled = o->dos_enabled;
    if (o->dos_session_s)
        c->dos_session_s = o->dos_session_s;
    if (o->dos_holdoff_s)
        c->dos_holdoff_s = o->dos_holdoff_s;
    c->identify_form = o->classic_identify ? SIM_OPTICAL_IDENT_CLASSIC : SIM_OPTICAL_IDENT_NES;
    c->strict_identify = o->strict_identify;
    c->past_end_zeros = o->past_end_zeros;
    c->oversize_rno = o->oversize_rno;
    c->bad_password_alarm = !o->no_bad_password_alarm;
    c->lockout_threshold = o->lockout_threshold;
    c->lockout_minutes = o->lockout_minutes;
    if (o->max_packet_size)
        c->max_packet_size = o->max_packet_size;
    if (o->max_packets)
        c->max_packets = o->max_packets;
    if (o->n_bauds) {
        memcpy(c->baud_codes, o->bauds, o->n_bauds);
        c->n_baud_codes = o->n_bauds;
    }
    if (o->interchar_ms)
        c->link.interchar_ms = o->interchar_ms;
    if (o->ack_timeout_ms)
        c->link.ack_timeout_ms = o->ack_timeout_ms;
    if (o->has_retries)
        c->link.retries = o->retries;
    if (o->channel_timeout_ms)
        c->channel_timeout_ms = o->channel_timeout_ms;
    /* 4: the hardware lock overrides keys; the profile's locked tables are
     * locked for MEP and optical alike */
    for (size_t i = 0; i < p->n_locked; i++)
        sim_optical_cfg_rule(c, p->locked_tables[i], SIM_OPTICAL_R_LOCK_READ | SIM_OPTICAL_R_LOCK_WRITE);
    for (size_t i = 0; i < o->n_rules; i++)
        sim_optical_cfg_rule(c, o->rules[i].table_id, o->rules[i].flags);
}

/* ---- the store: the meter's tables at "now" ---------------------------- */

static int st_size(void *ctx, uint16_t id)
{
    sim_optical_port *p = ctx;
    return sim_tables_size(sim_meter_tables(p->meter), id);
}

static int st_read(void *ctx, uint16_t id, uint32_t off, uint32_t n, uint8_t *out)
{
    sim_optical_port *p = ctx;
    /* Tables: what a probe reads equals what MEP serves at the same instant */
    sim_meter_advance(p->meter, p->now_ms);
    return sim_tables_read(sim_meter_tables(p->meter), id, off, n, out);
}

static int st_write(void *ctx, uint16_t id, uint32_t off, const uint8_t *d, uint32_t n)
{
    sim_optical_port *p = ctx;
    return sim_meter_optical_write(p->meter, id, off, d, n, p->now_ms);
}

/* The meter's turnaround for an optical reply (policy reply_delay_ms and
 * its jitter, the same generator as the MEP line; docs/optical.md 2.7). */
static uint32_t reply_delay(void *ctx)
{
    sim_optical_port *p = ctx;
    return (uint32_t)((sim_meter_reply_delay_us(p->meter) + 500u) / 1000u);
}

/* ---- output -------------------------------------------------------------- */

/* Replies leave paced at the line rate (docs/optical.md 1: 10 bit times per
 * byte at 8N1), on the shared MEP line or on the port's own device. */
static void wire_write(sim_optical_port *p, const uint8_t *b, size_t n)
{
    if (!n)
        return;
    if (p->shared)
        sim_port_send(p->mep, b, n);
    else
        sim_serial_send(p->dev, b, n);
}

/* A negotiated rate (docs/optical.md 1) paces what follows the reply that
 * granted it; on a shared UART the MEP line owns the rate [E]. */
static void apply_baud(sim_optical_port *p)
{
    if (!p->shared && p->opt)
        sim_serial_set_baud(p->dev, sim_optical_baud(p->opt));
}

/* ---- timers ---------------------------------------------------------------- */

static void probe_run(sim_optical_port *p, uint64_t now);

/* Shared line back to MEP once the session is over and the line is quiet. */
static void maybe_release(sim_optical_port *p, uint64_t now)
{
    if (!p->shared || !p->optical_mode || !p->opt)
        return;
    const sim_optical_link *l = sim_optical_get_link(p->opt);
    if (sim_optical_session_active(p->opt) || sim_optical_link_busy(l) || l->rx_have > 0)
        return;
    if (now - p->last_optical_ms < SHARED_HOLD_MS)
        return;
    p->optical_mode = false;
    mep_asm_reset(&p->mep_asm);
    plog(p, 1, "shared UART back to MEP (optical session over, line quiet %u ms)", SHARED_HOLD_MS);
    sim_port_kick(p->mep);
}

static void rearm(sim_optical_port *p, uint64_t now)
{
    uint64_t w = p->opt ? sim_optical_deadline(p->opt) : UINT64_MAX;
    if (p->shared && p->optical_mode) {
        uint64_t rel = p->last_optical_ms + SHARED_HOLD_MS;
        if (rel < w)
            w = rel;
    }
    if (p->probe_active) {
        uint64_t pw = p->probe_next_ms < p->probe_end_ms ? p->probe_next_ms : p->probe_end_ms;
        if (pw < w)
            w = pw;
    }
    sim_ev_timer_wake(p->loop, &p->timer, w, now, 1000.0, 0.001);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    sim_optical_port *p = w->data;
    uint64_t now = now_ms();
    p->now_ms = now;
    uint8_t out[SIM_OPTICAL_OUT_MAX];
    if (p->opt && sim_optical_deadline(p->opt) <= now) {
        size_t n = sim_optical_tick(p->opt, now, out, sizeof out);
        if (n && p->shared && !p->optical_mode) {
            /* a retransmission after the line went back to MEP would be
             * MEP-side garbage: cannot happen (release waits for idle) */
            n = 0;
        }
        wire_write(p, out, n);
        apply_baud(p);
    }
    if (p->probe_active)
        probe_run(p, now);
    maybe_release(p, now);
    rearm(p, now);
}

/* ---- receive ------------------------------------------------------------------ */

static int st_size(void *ctx, uint16_t id);
static int st_read(void *ctx, uint16_t id, uint32_t off, uint32_t n, uint8_t *out);
static int st_write(void *ctx, uint16_t id, uint32_t off, const uint8_t *d, uint32_t n);

/* The optical core (its link layer alone holds ~32 KiB of buffers) exists
 * from the first byte that reaches it: most meters never see a probe. In
 * BASE state a new core equals one created at start (docs/optical.md 3.5:
 * the channel timers run only inside a session). */
static sim_optical *core(sim_optical_port *p, uint64_t now)
{
    if (!p->opt) {
        char err[300];
        sim_optical_store st = {p, st_size, st_read, st_write, NULL};
        p->opt = sim_optical_new(&p->cfg, &st, now, err, sizeof err);
        if (!p->opt)
            plog(p, 0, "%s", err);
    }
    return p->opt;
}

static void optical_byte(sim_optical_port *p, uint8_t b, uint64_t now)
{
    uint8_t out[SIM_OPTICAL_OUT_MAX];
    p->now_ms = now;
    if (!core(p, now))
        return;
    size_t n = sim_optical_rx(p->opt, b, now, out, sizeof out);
    wire_write(p, out, n);
    apply_baud(p);
}

/* Shared UART tap (6). */
static size_t tap_rx(void *ctx, const uint8_t *in, size_t n, uint64_t now_us, uint8_t *mep)
{
    sim_optical_port *p = ctx;
    uint64_t now = now_us / 1000u;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = in[i];
        if (p->probe_active) { /* the probe holds the line: MEP requests are lost */
            p->c.mep_bytes_blocked++;
            continue;
        }
        if (!p->optical_mode) {
            bool boundary = !mep_asm_busy(&p->mep_asm) || mep_asm_expired(&p->mep_asm, now);
            /* A MEP frame starts with its length (<= 476): a 0xEE at a frame
             * boundary can only be an optical STP. Inside a MEP frame it is data. */
            if (b == SIM_OPTICAL_STP && boundary) {
                p->optical_mode = true;
                p->c.line_switches++;
                mep_asm_reset(&p->mep_asm);
                plog(p, 1, "0xEE on the shared UART: line switched to optical (MEP unresponsive)");
            } else {
                mep_asm_event e = mep_asm_push(&p->mep_asm, b, now);
                if (e == MEP_ASM_FRAME || e == MEP_ASM_ZERO)
                    mep_asm_reset(&p->mep_asm);
                mep[m++] = b;
                continue;
            }
        } else {
            p->c.mep_bytes_blocked++; /* counted; the optical side hunts past them */
        }
        p->last_optical_ms = now;
        optical_byte(p, b, now);
    }
    rearm(p, now);
    return m;
}

static bool tap_tx_blocked(void *ctx, uint64_t now_us)
{
    (void)now_us;
    sim_optical_port *p = ctx;
    return p->optical_mode || p->probe_active;
}

static void on_serial_rx(void *ctx, const uint8_t *buf, size_t n, uint64_t now_us)
{
    sim_optical_port *p = ctx;
    uint64_t now = now_us / 1000u;
    for (size_t i = 0; i < n; i++)
        optical_byte(p, buf[i], now);
}

static void on_serial_idle(void *ctx)
{
    sim_optical_port *p = ctx;
    rearm(p, now_ms());
}

/* ---- simulated probe ----------------------------------------------------------- */

/* One request of the probe's script (a hand-held reader: identify, logon,
 * security if a key is known, then the guide's task tables in a loop). */
static size_t probe_request(sim_optical_port *p, uint8_t *req)
{
    static const uint16_t tables[] = {1, 2051, 0, 23, 28, 3};
    unsigned s = p->probe_step++;
    if (s == 0) {
        req[0] = SIM_OPTICAL_IDENTIFY;
        return 1;
    }
    if (s == 1) {
        memset(req, 0, 13);
        req[0] = SIM_OPTICAL_LOGON;
        req[2] = 2; /* user-id 2 (goes to BT74 user-id column, G p.52) */
        memcpy(req + 3, "PROBE     ", 10);
        return 13;
    }
    if (s == 2) {
        req[0] = SIM_OPTICAL_SECURITY;
        const uint8_t *k = p->cfg.mk_set ? p->cfg.mk : p->cfg.rk_set ? p->cfg.rk : NULL;
        if (!k) {
            p->probe_step++; /* no key: open tables only */
            return probe_request(p, req);
        }
        memcpy(req + 1, k, SIM_OPTICAL_PASSWORD_LEN);
        return 1 + SIM_OPTICAL_PASSWORD_LEN;
    }
    uint16_t t = tables[(s - 3) % (sizeof tables / sizeof tables[0])];
    req[0] = SIM_OPTICAL_PARTIAL_READ;
    req[1] = (uint8_t)(t >> 8);
    req[2] = (uint8_t)t;
    req[3] = req[4] = req[5] = 0;
    req[6] = 0;
    req[7] = 40; /* fits the default 64-byte packet */
    return 8;
}

/* The meter's answer to one probe request: ACK + one reply packet on the
 * wire (the probe's own packets are not echoed: the probe's IR LED is not
 * the meter's transmitter, but the meter's replies share the UART). */
static void probe_emit(sim_optical_port *p, const uint8_t *req, size_t rn, uint64_t now)
{
    uint8_t reply[SIM_OPTICAL_MAX_MESSAGE];
    p->now_ms = now;
    size_t n = sim_optical_dispatch(p->probe, req, rn, now, reply, sizeof reply);
    if (!p->probe_echo || !p->shared || n == 0)
        return;
    if (n > SIM_OPTICAL_DEFAULT_PACKET_SIZE - SIM_OPTICAL_OVERHEAD)
        n = SIM_OPTICAL_DEFAULT_PACKET_SIZE - SIM_OPTICAL_OVERHEAD;
    uint8_t pkt[1 + SIM_OPTICAL_DEFAULT_PACKET_SIZE];
    pkt[0] = SIM_OPTICAL_ACK;
    if (req[0] == SIM_OPTICAL_IDENTIFY)
        p->probe_toggle = 0;
    size_t pl = sim_optical_packet_encode(0, p->probe_toggle, 0, reply, n, pkt + 1, sizeof pkt - 1);
    p->probe_toggle ^= SIM_OPTICAL_CTRL_TOGGLE;
    sim_port_send(p->mep, pkt, pl + 1);
    p->c.probe_packets++;
}

static void probe_finish(sim_optical_port *p, uint64_t now, const char *why)
{
    uint8_t term = SIM_OPTICAL_TERMINATE;
    probe_emit(p, &term, 1, now);
    p->probe_active = false;
    sim_optical_free(p->probe);
    p->probe = NULL;
    plog(p, 0, "simulated probe session ended (%s)%s", why, p->shared ? "; shared UART back to MEP" : "");
    if (p->shared) {
        mep_asm_reset(&p->mep_asm);
        sim_port_kick(p->mep);
    }
}

static void probe_run(sim_optical_port *p, uint64_t now)
{
    if (now >= p->probe_end_ms) {
        probe_finish(p, now, "time up");
        return;
    }
    if (now < p->probe_next_ms)
        return;
    uint8_t req[64];
    size_t rn = probe_request(p, req);
    probe_emit(p, req, rn, now);
    p->probe_next_ms = now + PROBE_STEP_MS;
}

int sim_optical_port_probe_start(sim_optical_port *p, double seconds, bool echo, char *err, size_t errlen)
{
    if (!(seconds >= 0.1 && seconds <= 3600.0)) {
        snprintf(err, errlen, "seconds must be between 0.1 and 3600");
        return -1;
    }
    if (p->probe_active) {
        snprintf(err, errlen, "a simulated optical session is already running (%.1f s left)",
                 sim_optical_port_probe_left_s(p));
        return -1;
    }
    if (p->shared && p->optical_mode) {
        snprintf(err, errlen, "a real optical client holds the shared UART");
        return -1;
    }
    uint64_t now = now_ms();
    sim_optical_cfg pc = p->cfg;
    pc.shared_uart = false; /* the probe's packets are not garbled: it is us */
    pc.dos_enabled = false;
    pc.log = NULL;
    sim_optical_store st = {p, st_size, st_read, st_write, NULL};
    p->probe = sim_optical_new(&pc, &st, now, err, errlen);
    if (!p->probe)
        return -1;
    p->probe_active = true;
    p->probe_echo = echo;
    p->probe_step = 0;
    p->probe_toggle = 0;
    p->probe_end_ms = now + (uint64_t)(seconds * 1000.0);
    p->probe_next_ms = now;
    p->c.probe_sessions++;
    plog(p, 0, "simulated probe session for %.1f s%s", seconds,
         p->shared ? " on the shared UART: MEP requests get no answer meanwhile" : " (separate optical port)");
    if (p->shared)
        sim_port_kick(p->mep); /* a MEP response in flight is cut from now on */
    probe_run(p, now);
    rearm(p, now);
    return 0;
}

bool sim_optical_port_probe_stop(sim_optical_port *p)
{
    if (!p->probe_active)
        return false;
    uint64_t now = now_ms();
    probe_finish(p, now, "stopped");
    rearm(p, now);
    return true;
}

/* ---- open / close ------------------------------------------------------------- */

sim_optical_port *sim_optical_port_open(struct ev_loop *loop, sim_meter *m, const sim_optical_cfg *ocfg,
                                        const sim_optical_port_cfg *cfg, char *err, size_t errlen)
{
    bool shared = !cfg->pty_path && !cfg->uart;
    if (cfg->pty_path && cfg->uart) {
        snprintf(err, errlen, "give at most one of --optical-pty and --optical-uart");
        return NULL;
    }
    if (shared && !cfg->mep) {
        snprintf(err, errlen, "shared optical port needs the meter's MEP port");
        return NULL;
    }
    sim_optical_port *p = sim_ev_new(sizeof *p, err, errlen);
    if (!p)
        return NULL;
    p->loop = loop;
    p->meter = m;
    p->mep = cfg->mep;
    p->shared = shared;
    p->log = cfg->log ? cfg->log : stderr;
    p->verbose = cfg->verbose;
    snprintf(p->name, sizeof p->name, "%s", cfg->name ? cfg->name : sim_meter_name(m));
    snprintf(p->who, sizeof p->who, "%s optical:", p->name);
    p->cfg = *ocfg;
    p->cfg.shared_uart = shared; /* the forced NAK of 6 only where the UART switches */
    p->cfg.wire_paced = true;    /* replies leave through sim_serial's paced queue */
    p->cfg.log = core_log;
    p->cfg.log_ctx = p;
    p->cfg.reply_delay_ms = reply_delay; /* the meter's turnaround, as on the MEP line */
    p->cfg.reply_delay_ctx = p;
    if (!p->cfg.dos_enabled && shared) {
        /* 6: ET51 (MEP client 1) bit 0 enables the optical D.O.S. timer,
         * bytes 4-5 session timeout, 6-7 hold-off. Read once at start [E]. */
        uint8_t e[8];
        if (sim_tables_read(sim_meter_tables(m), MEP_ET(51), 0, 8, e) == 8 && (e[0] & 1)) {
            p->cfg.dos_enabled = true;
            if (mep_get_le16(e + 4))
                p->cfg.dos_session_s = mep_get_le16(e + 4);
            if (mep_get_le16(e + 6))
                p->cfg.dos_holdoff_s = mep_get_le16(e + 6);
        }
    }
    mep_asm_init(&p->mep_asm, MEP_MAX_BODY, MEP_GAP_ABORT_MS);
    uint64_t now = now_ms();
    p->now_ms = now;
    sim_optical_store st = {p, st_size, st_read, st_write, NULL};
    /* validate the configuration now; the core itself (44 KB) is made on
     * the first optical byte: most meters of a fleet never see one */
    if (sim_optical_cfg_validate(&p->cfg, &st, err, errlen) != 0) {
        free(p);
        return NULL;
    }
    if (!shared) {
        /* every session starts at 9600 8N1 (docs/optical.md 1) */
        sim_serial_cfg sc = {
            .pty_opt = "--optical-pty",
            .uart_opt = "--optical-uart",
            .pty_path = cfg->pty_path,
            .uart = cfg->uart,
            .baud = 9600,
            .who = p->who,
            .log = p->log,
            .capture = cfg->capture,
            .rx = on_serial_rx,
            .idle = on_serial_idle,
            .ctx = p,
        };
        p->dev = sim_serial_open(loop, &sc, err, errlen);
        if (!p->dev) {
            free(p);
            return NULL;
        }
    } else {
        sim_port_tap t = {.rx = tap_rx, .tx_blocked = tap_tx_blocked, .ctx = p};
        sim_port_set_tap(p->mep, &t);
    }
    ev_init(&p->timer, on_timer);
    p->timer.data = p;
    rearm(p, now);
    return p;
}

void sim_optical_port_close(sim_optical_port *p)
{
    if (!p)
        return;
    ev_timer_stop(p->loop, &p->timer);
    if (p->shared)
        sim_port_set_tap(p->mep, NULL);
    sim_serial_close(p->dev);
    sim_optical_free(p->probe);
    sim_optical_free(p->opt);
    free(p);
}

/* ---- inspection ------------------------------------------------------------------- */

bool sim_optical_port_shared(const sim_optical_port *p) { return p->shared; }
bool sim_optical_port_holds_line(const sim_optical_port *p) { return p->shared && (p->optical_mode || p->probe_active); }
bool sim_optical_port_probe_active(const sim_optical_port *p) { return p->probe_active; }
double sim_optical_port_probe_left_s(const sim_optical_port *p)
{
    if (!p->probe_active)
        return 0.0;
    uint64_t now = now_ms();
    return now >= p->probe_end_ms ? 0.0 : (double)(p->probe_end_ms - now) / 1000.0;
}
const sim_optical_port_counters *sim_optical_port_counters_get(const sim_optical_port *p) { return &p->c; }
const char *sim_optical_port_device(const sim_optical_port *p) { return p->dev ? sim_serial_device(p->dev) : ""; }
const char *sim_optical_port_path(const sim_optical_port *p) { return p->dev ? sim_serial_path(p->dev) : ""; }

/* ---- control socket ------------------------------------------------------------- */

static json_t *ctl_status(const sim_optical_port *p)
{
    static const sim_optical_counters none;
    const sim_optical_counters *oc = p->opt ? sim_optical_counters_get(p->opt) : &none;
    json_t *codes = json_object();
    for (int i = 0; i < 256; i++)
        if (oc->responses[i])
            json_object_set_new(codes, sim_optical_rsp_name((uint8_t)i), json_integer((json_int_t)oc->responses[i]));
#define O(f) #f, (json_int_t)oc->f
    json_t *ctr = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                            "s:I, s:I}",
                            O(packets_rx), O(duplicates), O(crc_errors), O(forced_naks), O(rx_timeouts),
                            O(garbage), O(acks_rx), O(naks_rx), O(retransmits), O(implicit_acks),
                            O(replies_failed), O(requests), O(auth_ok), O(auth_fail), O(lockouts),
                            O(dos_closes), O(channel_timeouts), O(bytes_ignored));
#undef O
    json_object_set_new(ctr, "responses", codes);
    json_object_set_new(ctr, "line_switches", json_integer((json_int_t)p->c.line_switches));
    json_object_set_new(ctr, "mep_bytes_blocked", json_integer((json_int_t)p->c.mep_bytes_blocked));
    json_object_set_new(ctr, "probe_sessions", json_integer((json_int_t)p->c.probe_sessions));
    json_object_set_new(ctr, "probe_packets", json_integer((json_int_t)p->c.probe_packets));
    return json_pack("{s:b, s:s, s:b, s:s, s:s, s:s, s:b, s:b, s:f, s:b, s:o}", "ok", 1, "meter", p->name,
                     "shared", p->shared, "device", sim_optical_port_device(p), "state",
                     sim_optical_state_name(p->opt ? sim_optical_get_state(p->opt) : SIM_OPTICAL_STATE_BASE), "key",
                     sim_optical_key_name(p->opt ? sim_optical_get_key(p->opt) : SIM_OPTICAL_KEY_NONE), "holds_line",
                     sim_optical_port_holds_line(p), "probe", p->probe_active, "probe_left_s",
                     sim_optical_port_probe_left_s(p), "dos", p->cfg.dos_enabled, "counters", ctr);
}

void *sim_optical_port_control(sim_optical_port *p, const char *cmd, void *json_req)
{
    json_t *req = json_req;
    if (!p)
        return sim_ctlcmd_fail("%s: this meter has no optical port (Gen 4 without --optical-pty, or "
                        "optical.shared_uart false)", cmd);
    const char *key;
    json_t *v;
    json_object_foreach(req, key, v) {
        if (!strcmp(key, "cmd") || !strcmp(key, "meter") || !strcmp(key, "id"))
            continue;
        if (!strcmp(cmd, "optical_session") &&
            (!strcmp(key, "action") || !strcmp(key, "seconds") || !strcmp(key, "echo")))
            continue;
        return sim_ctlcmd_fail("%s: unknown field \"%s\"", cmd, key);
    }
    if (!strcmp(cmd, "optical"))
        return ctl_status(p);
    json_t *a = json_object_get(req, "action");
    if (!json_is_string(a))
        return sim_ctlcmd_fail("optical_session: action: expected \"start\" or \"stop\"");
    if (!strcmp(json_string_value(a), "stop")) {
        bool was = sim_optical_port_probe_stop(p);
        json_t *r = ctl_status(p);
        json_object_set_new(r, "stopped", json_boolean(was));
        return r;
    }
    if (strcmp(json_string_value(a), "start") != 0)
        return sim_ctlcmd_fail("optical_session: action: expected \"start\" or \"stop\"");
    json_t *s = json_object_get(req, "seconds"), *e = json_object_get(req, "echo");
    if (!s || !json_is_number(s))
        return sim_ctlcmd_fail("optical_session: seconds: expected a number (0.1..3600)");
    if (e && !json_is_boolean(e))
        return sim_ctlcmd_fail("optical_session: echo: expected true or false");
    char err[300];
    if (sim_optical_port_probe_start(p, json_number_value(s), e ? json_is_true(e) : true, err, sizeof err) != 0)
        return sim_ctlcmd_fail("optical_session: %s", err);
    return ctl_status(p);
}
