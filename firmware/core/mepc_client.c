/* mepc_client: the MEP client state machine (implements mepc.h).
 *
 * Owns: the line bring-up and recovery cycle (docs/module-behaviour.md 2, 6), the
 * request scheduler (boot reads, registration, alerts, polls, periodic
 * re-reads), retries (identical resend after the guide's 500 ms timeout,
 * new sequence number after a rejected reply, docs/mep.md 4, 5.5), reactions to
 * the response codes (0x0C resync, 0x0B back-off, 0x04 next PSN) and the
 * published snapshot (mepc_readings) with the kWh sanitiser in front of the
 * energy values. Link details live in mepc_link, table layouts in
 * mepc_tables, the sanitiser in mepc_sanitise. Every retry loop is capped.
 */
#include "mepc.h"

#include "mepc_fmt.h"

#define MEPC_POWER_SETTLE_MS 1000u      /* docs/module-behaviour.md 2: transceiver on -> 1 s -> ENABLE */
#define MEPC_ENABLE_SETTLE_MS 1000u     /* ENABLE on -> 1 s -> flush -> first request */
#define MEPC_MAX_SEQ_ERRS 4u            /* consecutive 0x0C before backing off (S04) */
#define MEPC_SEQ_BACKOFF_MS 5000u
#define MEPC_AUTH_BACKOFF_MIN_MS 2000u  /* 0x0B: 2 s, doubling, capped (S06) */
#define MEPC_AUTH_BACKOFF_MAX_MS 60000u
#define MEPC_CYCLE_BACKOFF_MIN_MS 10000u /* between recovery cycles, doubling, capped (S08) */
#define MEPC_CYCLE_BACKOFF_MAX_MS 300000u
#define MEPC_FAIL_PAUSE_STEP_MS 250u    /* pause after a failed request: step x fails ... */
#define MEPC_FAIL_PAUSE_MAX_STEPS 20u   /* ... up to 5 s */
#define MEPC_RX_MAX_FRAME_MS 1000u      /* a 478-byte reply at 9600 baud with 25 ms pauses: ~0.6 s */
#define MEPC_LOOPBACK_BACKOFF_MS 5000u
#define MEPC_ALERT_MIN_INTERVAL_MS 10000u /* at most one alert flow per 10 s (S21, S25) ... */
#define MEPC_ALERT_IDLE_SHIFT_MAX 5u    /* ... doubling to 320 s while flags need nothing from us */
#define MEPC_ZERO_BURST 4u              /* `00 00` pairs within 1 s = zero stream, not alerts (S25) */
#define MEPC_LINE_FAULT_CLEAR_MS 3000u
#define MEPC_BT07_MIN_SPACING_MS 30000u /* docs/mep.md 4: <= 4 table writes per hour ... */
#define MEPC_BT07_SLOW_SPACING_MS 900000u /* ... beyond 4 in an hour only if an alert needs it */
#define MEPC_HOUR_MS 3600000u
#define MEPC_PSN_TRIES 3u               /* 0x04 to a BT07 write: next PSN, bounded (S23) */
#define MEPC_RESULT_TRIES 4u            /* procedure result may take up to 1 s (docs/mep.md 4) */
#define MEPC_RESULT_RETRY_MS 300u
#define MEPC_MAX_OP_ERRORS 3u           /* error replies to one kind of request before giving up */
#define MEPC_OP_ERROR_PAUSE_MS 1000u
#define MEPC_DIMS_RETRY_MS 30000u       /* BT21 unusable: ask again this often */
#define MEPC_EP39 0x0827u               /* docs/mep.md 8.3 */
#define MEPC_STORE_PERIOD_MS 3600000u   /* save the energy floor at most hourly (flash wear) */
#define MEPC_ALERT_SCHEDULED 0x01u      /* ET13 alert flags (docs/mep.md 10.3) */
#define MEPC_ALERT_ON_DEMAND 0x02u
#define MEPC_ALERT_MBUS 0x08u
#define MEPC_ALERT_DELTA 0x10u
#define MEPC_EP39_SCHEDULED_ALARMS 4u   /* "scheduled read data + alarms" (docs/module-behaviour.md 4.2 A4) */
#define MEPC_EP39_CLEAR_DELTA 12u       /* "clear delta data alert" (docs/mep.md 8.3) */
/* TLS mode: the port turns one bare request into up to 5 MEP exchanges
 * (0x58, 0x59, 0x80, and once more after a 0x0A, docs/mep.md 7.2/7.3), each with
 * its own 500 ms timeout; the core's watchdog only catches a port that never
 * answers. TLS failures back off like 0x0B. */
#define MEPC_SECURE_EXCHANGES 5u
#define MEPC_TLS_BACKOFF_MIN_MS 2000u
#define MEPC_TLS_BACKOFF_MAX_MS 60000u

/* ---- small helpers ------------------------------------------------------ */

static bool reached(uint32_t now, uint32_t t) { return (int32_t)(now - t) >= 0; }
static uint32_t elapsed(uint32_t now, uint32_t since) { return now - since; }
static uint32_t due_bit(unsigned op) { return 1u << op; }

static const char *op_name(uint8_t op)
{
    static const char *const names[MEPC_OP_COUNT] = {
        "BT52 clock", "BT01 identity", "BT21 dimensions", "ET03 serial", "ET11 dimensions",
        "ET04 rating", "ET50 registration read", "ET50 ID write", "ET50 flags write",
        "ET13 alert flags", "EP39 post", "procedure result", "BT23 energy", "BT28 present values",
    };
    return op < MEPC_OP_COUNT ? names[op] : "none";
}

static void logm(mepc_client *c, int level, const char *msg)
{
    if (c->hal.log)
        c->hal.log(c->hal.ctx, level, msg);
}

static void touch(mepc_client *c)
{
    c->rd.generation++;
}

static void set_status(mepc_client *c, mepc_status st, const char *text)
{
    if (c->rd.status == st && mepc_str_equal(c->rd.status_text, text))
        return;
    bool changed = c->rd.status != st || c->rd.generation == 0;
    c->rd.status = st;
    mepc_sb b;
    mepc_sb_init(&b, c->rd.status_text, sizeof c->rd.status_text);
    mepc_sb_str(&b, text);
    touch(c);
    if (!changed)
        return;  /* same state, new detail (e.g. a failure count): no log line */
    char line[96];
    mepc_sb_init(&b, line, sizeof line);
    mepc_sb_str(&b, "status ");
    mepc_sb_str(&b, mepc_status_name(st));
    mepc_sb_str(&b, ": ");
    mepc_sb_str(&b, text);
    logm(c, st == MEPC_ST_OK || st == MEPC_ST_SYNC || st == MEPC_ST_BOOT ? 2 : 1, line);
}

static void restore_status(mepc_client *c)
{
    if (c->line_fault)
        set_status(c, MEPC_ST_LINE_ERROR, "zero-byte stream on the meter line (line fault)");
    else if (c->have_good_poll)
        set_status(c, MEPC_ST_OK, "ok");
    else
        set_status(c, MEPC_ST_SYNC, "reading meter tables");
}

static void sync_counters(mepc_client *c)
{
    c->rd.stray_bytes = c->link.stray_bytes;
    c->rd.digest_rejects = c->link.rejects;
}

/* "READ BT23 off=0 n=8 seq=0x00000001" */
static void describe_req(mepc_sb *b, const mepc_link_req *r)
{
    char name[8];
    switch (r->code) {
    case MEP_REQ_FULL_READ: mepc_sb_str(b, "READ "); break;
    case MEP_REQ_PARTIAL_READ: mepc_sb_str(b, "READ "); break;
    case MEP_REQ_FULL_WRITE: mepc_sb_str(b, "WRITE "); break;
    default: mepc_sb_str(b, "WRITE "); break;
    }
    mepc_sb_str(b, mep_table_name(r->table, name));
    if (r->code == MEP_REQ_PARTIAL_READ || r->code == MEP_REQ_PARTIAL_WRITE) {
        mepc_sb_str(b, " off=");
        mepc_sb_u32(b, r->offset);
    }
    if (r->read_count) {
        mepc_sb_str(b, " n=");
        mepc_sb_u32(b, r->read_count);
    }
    if (r->bare) {
        mepc_sb_str(b, " (TLS)");  /* docs/mep.md 7.2: no sequence number inside TLS */
        return;
    }
    mepc_sb_str(b, " seq=0x");
    mepc_sb_hex(b, r->seq, 8);
}

static void log_req(mepc_client *c, int level, const char *prefix, const char *suffix)
{
    char line[128];
    mepc_sb b;
    mepc_sb_init(&b, line, sizeof line);
    mepc_sb_str(&b, prefix);
    describe_req(&b, &c->req);
    mepc_sb_str(&b, " [");
    mepc_sb_str(&b, op_name(c->op));
    mepc_sb_char(&b, ']');
    mepc_sb_str(&b, suffix);
    logm(c, level, line);
}

/* ---- config and key ---------------------------------------------------- */

void mepc_config_defaults(mepc_config *cfg)
{
    static const uint8_t ident[30] = {
        0x80, 0x00, 0x00, /* manufacturer ID, bit 7 of byte 0 = standard format (placeholder) */
        0x05,             /* class: OSGP */
        0x04,             /* program ID length */
        0x01, 0x00, 0x01, 0x01, /* device type, sub-type, interface version, revision */
        0x00,             /* unique ID length */
    };
    mepc_mem_set(cfg, 0, sizeof *cfg);
    cfg->poll_ms = 2000;
    cfg->reply_timeout_ms = MEP_CLIENT_TIMEOUT_MS;
    cfg->max_resends = 3;
    cfg->fails_before_cycle = 4;
    cfg->cycle_off_ms = 1500;
    cfg->reread_dims_ms = 600000;
    cfg->reread_clock_ms = 3600000;
    cfg->register_client = true;
    cfg->max_current_a = 0;
    cfg->baseline_persist_ms = 1800000;
    mepc_mem_copy(cfg->ident, ident, sizeof ident);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

bool mepc_parse_key(const char *text, uint8_t out[16])
{
    if (!text)
        return false;
    size_t n = mepc_str_len(text);
    bool all_hex = true, all_zero = true, printable = true;
    for (size_t i = 0; i < n; i++) {
        if (hexval(text[i]) < 0) all_hex = false;
        if (text[i] != '0') all_zero = false;
        if (text[i] < 0x20 || text[i] > 0x7E) printable = false;
    }
    if (all_zero)  /* docs/module-behaviour.md 3: twenty '0' characters mean "no key" */
        return false;
    if ((n == 32 || n == 40) && all_hex) {
        for (size_t i = 0; i < 16; i++)
            out[i] = (uint8_t)(hexval(text[2 * i]) << 4 | hexval(text[2 * i + 1]));
        return true;
    }
    if ((n == 16 || n == 20) && printable) {
        /* docs/mep.md 5.1: the byte values of the first 16 characters */
        for (size_t i = 0; i < 16; i++)
            out[i] = (uint8_t)text[i];
        return true;
    }
    return false;
}

const char *mepc_status_name(mepc_status s)
{
    switch (s) {
    case MEPC_ST_BOOT: return "BOOT";
    case MEPC_ST_SYNC: return "SYNC";
    case MEPC_ST_OK: return "OK";
    case MEPC_ST_NO_REPLY: return "NO_REPLY";
    case MEPC_ST_AUTH_FAIL: return "AUTH_FAIL";
    case MEPC_ST_LINE_ERROR: return "LINE_ERROR";
    case MEPC_ST_LOOPBACK: return "LOOPBACK";
    case MEPC_ST_TLS_FAIL: return "TLS_FAIL";
    }
    return "?";
}

const mepc_readings *mepc_get_readings(const mepc_client *c)
{
    return &c->rd;
}

/* ---- line phases --------------------------------------------------------- */

static void power_sequence_start(mepc_client *c, uint32_t now)
{
    if (c->hal.transceiver_power)
        c->hal.transceiver_power(c->hal.ctx, true);
    c->phase = MEPC_PH_POWER_ON;
    c->phase_until = now + MEPC_POWER_SETTLE_MS;
}

/* Recovery cycle: ENABLE and transceiver off for cycle_off_ms, then the boot
 * sequence (docs/module-behaviour.md 6, but non-blocking and with growing spacing). */
static void start_cycle(mepc_client *c, uint32_t now)
{
    char line[96];
    mepc_sb b;
    c->rd.recovery_cycles++;
    c->last_cycle_ms = now;
    c->cycled_once = true;
    c->cycle_backoff_ms = c->cycle_backoff_ms ? c->cycle_backoff_ms * 2u : MEPC_CYCLE_BACKOFF_MIN_MS;
    if (c->cycle_backoff_ms > MEPC_CYCLE_BACKOFF_MAX_MS)
        c->cycle_backoff_ms = MEPC_CYCLE_BACKOFF_MAX_MS;
    mepc_sb_init(&b, line, sizeof line);
    mepc_sb_str(&b, "recovery cycle ");
    mepc_sb_u32(&b, c->rd.recovery_cycles);
    mepc_sb_str(&b, " after ");
    mepc_sb_u32(&b, c->fails_in_row);
    mepc_sb_str(&b, " failed requests: transceiver/ENABLE off ");
    mepc_sb_u32(&b, c->cfg.cycle_off_ms);
    mepc_sb_str(&b, " ms");
    logm(c, 1, line);
    if (c->hal.meter_enable)
        c->hal.meter_enable(c->hal.ctx, false);
    if (c->hal.transceiver_power)
        c->hal.transceiver_power(c->hal.ctx, false);
    c->req.active = false;
    mepc_link_flush(&c->link);
    if (c->hal.uart_flush_rx)
        c->hal.uart_flush_rx(c->hal.ctx);
    c->phase = MEPC_PH_POWER_OFF;
    c->phase_until = now + c->cfg.cycle_off_ms;
    /* the meter may have restarted or been replaced: read who it is again */
    c->due |= due_bit(MEPC_OP_BT21) | due_bit(MEPC_OP_ET03) | due_bit(MEPC_OP_BT01) | due_bit(MEPC_OP_BT52);
    touch(c);
}

static void backoff(mepc_client *c, uint32_t now, uint32_t ms)
{
    c->req.active = false;
    c->phase = MEPC_PH_BACKOFF;
    c->phase_until = now + ms;
}

/* ---- requests --------------------------------------------------------------- */

static uint16_t proc_table(const mepc_client *c)
{
    /* docs/mep.md 8.1: ET59 if ET50 "ET59 Response" (byte 30 bit 1), else BT08 */
    return (c->et50_flags & 0x02u) ? MEP_ET(59) : MEP_BT(8);
}

static bool build_op(mepc_client *c, uint8_t op, mep_request *r, uint8_t *data)
{
    mepc_mem_set(r, 0, sizeof *r);
    r->code = MEP_REQ_PARTIAL_READ;
    r->has_count = 1;
    switch (op) {
    case MEPC_OP_BT52:  /* full reads always with their count (S05) */
        r->code = MEP_REQ_FULL_READ; r->table = MEP_BT(52); r->count = 7; break;
    case MEPC_OP_BT01: r->table = MEP_BT(1); r->offset = 0; r->count = 16; break;
    case MEPC_OP_BT21:
        r->code = MEP_REQ_FULL_READ; r->table = MEP_BT(21); r->count = 10; break;
    case MEPC_OP_ET03: r->table = MEP_ET(3); r->offset = 0; r->count = 30; break;
    case MEPC_OP_ET11: r->table = MEP_ET(11); r->offset = 0; r->count = 2; break;
    case MEPC_OP_ET04: r->table = MEP_ET(4); r->offset = 56; r->count = 7; break;
    case MEPC_OP_ET50_READ: r->table = MEP_ET(50); r->offset = 0; r->count = 31; break;
    case MEPC_OP_ET50_ID:  /* docs/mep.md 10.2 step 2 */
        r->code = MEP_REQ_PARTIAL_WRITE; r->table = MEP_ET(50); r->offset = 0; r->count = 30;
        mepc_mem_copy(data, c->cfg.ident, 30);
        r->data = data; r->data_len = 30;
        break;
    case MEPC_OP_ET50_FLAGS:  /* step 3: registered + ET59 response; no M-Bus/delta alerts */
        r->code = MEP_REQ_PARTIAL_WRITE; r->table = MEP_ET(50); r->offset = 30; r->count = 1;
        data[0] = 0x03;
        r->data = data; r->data_len = 1;
        break;
    case MEPC_OP_ET13_FLAGS:
        r->table = MEP_ET(13); r->offset = mepc_et13_flags_offset(c->et11_entry); r->count = 1; break;
    case MEPC_OP_EP39: {
        /* docs/mep.md 8.1: BT07 full write: proc (LSB first), PSN, parameters */
        uint16_t n = 0;
        mep_put_le16(data, MEPC_EP39);
        data[2] = c->psn;
        data[3] = c->post_type;
        n = 4;
        if (c->post_type == MEPC_EP39_SCHEDULED_ALARMS) {
            /* [F] type, status 1 (success), UINT16 length, data: our Fwd/Rev Wh */
            data[4] = 1;
            if (c->rd.energy_valid) {
                mep_put_le16(data + 5, 8);
                mep_put_le32(data + 7, (uint32_t)c->rd.fwd_wh);
                mep_put_le32(data + 11, (uint32_t)c->rd.rev_wh);
                n = 15;
            } else {
                mep_put_le16(data + 5, 0);
                n = 7;
            }
        }
        r->code = MEP_REQ_FULL_WRITE; r->table = MEP_BT(7); r->count = n;
        r->data = data; r->data_len = n;
        break;
    }
    case MEPC_OP_PROC_RESULT: r->table = proc_table(c); r->offset = 0; r->count = 4; break;
    case MEPC_OP_BT23:  /* only the summations we need (S27) */
        r->table = MEP_BT(23); r->offset = 0; r->count = mepc_layout_bt23_count(&c->layout); break;
    case MEPC_OP_BT28:
        r->table = MEP_BT(28);
        if (c->layout.bt28_size <= MEP_MAX_READ_DATA) {
            r->code = MEP_REQ_FULL_READ;
            r->count = c->layout.bt28_size;
        } else {
            uint32_t k = c->layout.n_present_values;
            if (k > MEPC_BT28_MAX_VALUES)
                k = MEPC_BT28_MAX_VALUES;
            r->offset = 0;
            r->count = (uint16_t)(c->layout.bt28_value0 + 4u * k);
            if (r->count > MEP_MAX_READ_DATA)
                r->count = MEP_MAX_READ_DATA;
        }
        break;
    default:
        return false;
    }
    return true;
}

/* Bytes buffered before a request goes out cannot belong to its reply
 * (trailing junk, S12; the rest of a stale reply, S13). */
static void discard_before_send(mepc_client *c)
{
    c->link.stray_bytes += c->link.have;
    mepc_link_flush(&c->link);
    sync_counters(c);
}

static bool secure_mode(const mepc_client *c) { return c->hal.secure_request != 0; }

/* TLS mode: the bare C12.18 request (docs/mep.md 3.5, 7.2), nothing around it. */
static bool build_bare(mepc_link_req *q, const mep_request *r)
{
    size_t n = mep_request_encode(r, q->plain, sizeof q->plain);
    if (n == 0)
        return false;
    q->plain_len = (uint16_t)n;
    q->frame_len = 0;
    q->encrypted = false;
    q->code = r->code;
    q->table = r->table;
    q->offset = r->offset;
    q->read_count = (r->code == MEP_REQ_FULL_READ || r->code == MEP_REQ_PARTIAL_READ) ? r->count : 0;
    q->seq = 0;
    q->bare = true;
    q->active = true;
    return true;
}

/* Hand the outstanding request to the line (RC4) or to the port's TLS layer. */
static void transmit(mepc_client *c)
{
    if (!c->req.bare) {
        c->hal.uart_write(c->hal.ctx, c->req.frame, c->req.frame_len);
        return;
    }
    if (!c->hal.secure_request(c->hal.ctx, c->req.plain, c->req.plain_len)) {
        logm(c, 1, "TLS: port refused the request");
        c->rejected = true;  /* step() retries within the send budget */
    }
}

/* How long the outstanding request may go unanswered. */
static uint32_t wait_limit(const mepc_client *c)
{
    if (c->req.bare)
        return MEPC_SECURE_EXCHANGES * (c->cfg.reply_timeout_ms + MEPC_RX_MAX_FRAME_MS);
    uint32_t tx_ms = ((uint32_t)c->req.frame_len * 25u + 23u) / 24u;  /* 10 bits/byte at 9600 */
    return tx_ms + c->cfg.reply_timeout_ms;
}

/* Send op with a new sequence number. first = a new attempt of the op. */
static void send_op(mepc_client *c, uint8_t op, uint32_t now, bool first)
{
    mep_request r;
    uint8_t data[32];
    const uint8_t *key = c->cfg.has_mak ? c->cfg.mak : c->cfg.mbk;
    bool built = build_op(c, op, &r, data);
    if (built && secure_mode(c))
        built = build_bare(&c->req, &r);
    else if (built) {
        built = mepc_link_build(&c->req, key, c->cfg.encrypt, &r, c->next_seq);
        c->req.bare = false;
    }
    if (!built) {
        logm(c, 0, "internal: request does not fit; dropped");
        c->due &= ~due_bit(op);
        return;
    }
    if (!c->req.bare)
        c->next_seq++;
    c->op = op;
    discard_before_send(c);
    if (op == MEPC_OP_EP39 && first && c->psn_tries == 0) {
        /* every post counts against the BT07 write budget, answered or not */
        c->bt07_ms[c->bt07_pos] = now;
        c->bt07_pos = (uint8_t)((c->bt07_pos + 1u) % 4u);
        if (c->bt07_n < 4)
            c->bt07_n++;
    }
    c->sends = first ? 1 : (uint8_t)(c->sends + 1);
    c->rejected = false;
    transmit(c);
    c->sent_at = now;
    c->last_send_ms = now;
    c->sent_once = true;
    c->phase = MEPC_PH_WAIT;
    log_req(c, 3, "-> ", "");
}

static void resend_identical(mepc_client *c, uint32_t now)
{
    discard_before_send(c);
    c->sends++;
    c->rd.resends++;
    c->rejected = false;
    transmit(c);
    c->sent_at = now;
    c->last_send_ms = now;
    c->phase = MEPC_PH_WAIT;
    log_req(c, 2, "resend ", " (identical, docs/mep.md 4)");
}

/* The op's request got no usable answer after all its sends. */
static void request_failed(mepc_client *c, uint32_t now, bool had_rejects)
{
    char text[64];
    mepc_sb b;
    c->req.active = false;
    c->fails_in_row++;
    mepc_sb_init(&b, text, sizeof text);
    if (had_rejects || c->rejects_in_row) {
        mepc_sb_str(&b, "replies fail verification (");
        mepc_sb_u32(&b, c->fails_in_row);
        mepc_sb_str(&b, " failed requests)");
        set_status(c, MEPC_ST_LINE_ERROR, text);
    } else {
        mepc_sb_str(&b, "no reply from meter (");
        mepc_sb_u32(&b, c->fails_in_row);
        mepc_sb_str(&b, " failed requests)");
        set_status(c, MEPC_ST_NO_REPLY, text);
    }
    log_req(c, 1, "giving up ", "");
    /* a recovery cycle after fails_before_cycle failed requests, but never
     * sooner than the (growing) cycle back-off after the previous one; the
     * requests in between go on, spaced by a growing pause */
    c->fails_since_cycle++;
    if (c->fails_since_cycle >= c->cfg.fails_before_cycle &&
        (!c->cycled_once || elapsed(now, c->last_cycle_ms) >= c->cycle_backoff_ms)) {
        c->fails_since_cycle = 0;
        start_cycle(c, now);
        return;
    }
    uint32_t steps = c->fails_in_row < MEPC_FAIL_PAUSE_MAX_STEPS ? c->fails_in_row : MEPC_FAIL_PAUSE_MAX_STEPS;
    backoff(c, now, MEPC_FAIL_PAUSE_STEP_MS * steps);
}

/* Another try within the op's send budget, or give up on it. */
static void retry(mepc_client *c, uint32_t now, bool identical)
{
    if (c->sends < 1u + c->cfg.max_resends) {
        if (identical)
            resend_identical(c, now);
        else
            send_op(c, c->op, now, false);  /* new sequence number: safe whether or not the meter ran it */
        return;
    }
    request_failed(c, now, !identical);
}

/* ---- the published snapshot ----------------------------------------------- */

static void update_max_power(mepc_client *c)
{
    uint32_t amps = c->cfg.max_current_a;
    uint32_t volts = 230, phases = 3;
    if (c->rating_valid) {
        if (!amps && c->rating.max_current_a >= 1 && c->rating.max_current_a <= 2000)
            amps = c->rating.max_current_a;
        if (c->rating.rated_voltage_v >= 50 && c->rating.rated_voltage_v <= 500)
            volts = c->rating.rated_voltage_v;
        phases = c->rating.phases;
    }
    if (!amps)
        amps = 100;
    c->max_power_w = phases * amps * volts;
}

/* Save the published energy as the floor for the next start: at most once
 * per store period unless forced (cfg.store_period_ms; flash wear). */
static bool store_save(mepc_client *c, uint32_t now, bool force)
{
    if (!c->hal.store_save || !c->et03_ok || !c->san_fwd.has_good || !c->san_rev.has_good)
        return false;
    int64_t fwd = c->san_fwd.good, rev = c->san_rev.good;
    if (c->saved_once && fwd == c->saved_fwd && rev == c->saved_rev)
        return true;
    uint32_t period = c->cfg.store_period_ms ? c->cfg.store_period_ms : MEPC_STORE_PERIOD_MS;
    if (!force && c->saved_once && elapsed(now, c->saved_ms) < period)
        return false;
    mepc_store_blob b;
    mepc_mem_set(&b, 0, sizeof b);
    b.magic = MEPC_STORE_MAGIC;
    b.version = MEPC_STORE_VERSION;
    mepc_mem_copy(b.serial, c->serial_known, sizeof c->serial_known);
    b.fwd_wh = fwd;
    b.rev_wh = rev;
    if (!c->hal.store_save(c->hal.ctx, &b, sizeof b)) {
        logm(c, 1, "store: saving the energy floor failed");
        return false;
    }
    c->saved_once = true;
    c->saved_ms = now;
    c->saved_fwd = fwd;
    c->saved_rev = rev;
    return true;
}

void mepc_store_flush(mepc_client *c, uint32_t now_ms)
{
    store_save(c, now_ms, true);
}

/* ET03 known: seed the sanitiser with what was published before a restart,
 * if it was the same meter. */
static void store_seed(mepc_client *c)
{
    if (!c->stored_valid)
        return;
    char line[128];
    mepc_sb b;
    mepc_sb_init(&b, line, sizeof line);
    c->stored_valid = false;
    if (!mepc_str_equal(c->stored.serial, c->serial_known)) {
        mepc_sb_str(&b, "store: saved energy floor is for meter '");
        mepc_sb_str(&b, c->stored.serial);
        mepc_sb_str(&b, "', not this one: ignored");
        logm(c, 1, line);
        return;
    }
    mepc_san_seed(&c->san_fwd, c->stored.fwd_wh);
    mepc_san_seed(&c->san_rev, c->stored.rev_wh);
    mepc_sb_str(&b, "energy floor from before the restart: fwd ");
    mepc_sb_i64(&b, c->stored.fwd_wh);
    mepc_sb_str(&b, " rev ");
    mepc_sb_i64(&b, c->stored.rev_wh);
    mepc_sb_str(&b, " Wh");
    logm(c, 2, line);
}

/* One BT28 snapshot: Fwd_W (index 0) and Rev_W (1) for the power check. */
static void note_power(mepc_client *c, const int32_t *v, size_t k)
{
    for (size_t i = 0; i < 2 && i < k; i++) {
        uint32_t w = v[i] > 0 ? (uint32_t)v[i] : 0u;
        if (!c->pw_valid[i] || w < c->pw_min[i])
            c->pw_min[i] = w;
        c->pw_valid[i] = true;
        c->pw_last[i] = w;
        c->pw_have_last[i] = true;
    }
}

/* The power window ending at this BT23 reading; the next one starts with
 * the last snapshot (it was current when this reading was taken). */
static mepc_san_power take_power(mepc_client *c, unsigned i)
{
    mepc_san_power p = {c->pw_valid[i], c->pw_min[i]};
    c->pw_valid[i] = c->pw_have_last[i];
    c->pw_min[i] = c->pw_last[i];
    return p;
}

static bool baseline_event(mepc_san_result r)
{
    return r == MEPC_SAN_FIRST || r == MEPC_SAN_NEW_BASELINE || r == MEPC_SAN_REPLACED;
}

static void describe_suspect(mepc_client *c, mepc_san_result rf, mepc_san_result rr)
{
    mepc_sb b;
    mepc_sb_init(&b, c->rd.suspect_reason, sizeof c->rd.suspect_reason);
    if (c->san_fwd.suspect) {
        mepc_sb_str(&b, "fwd ");
        mepc_sb_str(&b, mepc_san_result_name(rf));
    }
    if (c->san_rev.suspect) {
        mepc_sb_str(&b, c->san_fwd.suspect ? "; rev " : "rev ");
        mepc_sb_str(&b, mepc_san_result_name(rr));
    }
}

static void log_energy(mepc_client *c, int level, const char *what, uint32_t fwd, uint32_t rev)
{
    char line[160];
    mepc_sb b;
    mepc_sb_init(&b, line, sizeof line);
    mepc_sb_str(&b, what);
    mepc_sb_str(&b, ": raw fwd ");
    mepc_sb_u32(&b, fwd);
    mepc_sb_str(&b, " rev ");
    mepc_sb_u32(&b, rev);
    mepc_sb_str(&b, " Wh; published fwd ");
    mepc_sb_i64(&b, c->rd.fwd_wh);
    mepc_sb_str(&b, " rev ");
    mepc_sb_i64(&b, c->rd.rev_wh);
    if (c->rd.suspect_reason[0]) {
        mepc_sb_str(&b, " (");
        mepc_sb_str(&b, c->rd.suspect_reason);
        mepc_sb_char(&b, ')');
    }
    logm(c, level, line);
}

/* One BT23 reply: the sanitiser decides what is published (mepc_sanitise.h). */
static void publish_energy(mepc_client *c, uint32_t fwd, uint32_t rev, uint32_t now)
{
    mepc_san_cfg sc = {c->max_power_w, c->cfg.baseline_persist_ms};
    mepc_san_power pf = take_power(c, 0), pr = take_power(c, 1);
    mepc_san_result rf = mepc_san_feed_power(&c->san_fwd, &sc, mepc_san_unwrap(&c->san_fwd, fwd), &pf, now);
    mepc_san_result rr = mepc_san_feed_power(&c->san_rev, &sc, mepc_san_unwrap(&c->san_rev, rev), &pr, now);
    c->rd.raw_fwd_wh = fwd;
    c->rd.raw_rev_wh = rev;
    c->rd.energy_at_ms = now;
    bool confirmed = c->san_fwd.has_good && c->san_rev.has_good;
    c->rd.energy_confirming = !confirmed;
    if (!confirmed)
        return;  /* rule 2: nothing is published before it is confirmed */
    bool saved = store_save(c, now, baseline_event(rf) || baseline_event(rr) || !c->rd.energy_valid);
    bool first = !c->rd.energy_valid;
    if (!c->cfg.publish_saved_only || !c->hal.store_save) {
        c->rd.fwd_wh = c->san_fwd.good;
        c->rd.rev_wh = c->san_rev.good;
        c->rd.energy_valid = true;
    } else if (saved || c->saved_once) {
        /* only what the store already holds (it lags by <= store_period_ms) */
        c->rd.fwd_wh = c->saved_fwd;
        c->rd.rev_wh = c->saved_rev;
        c->rd.energy_valid = true;
    }
    bool suspect = c->san_fwd.suspect || c->san_rev.suspect;
    if (suspect && !c->rd.energy_suspect)
        /* a register that jumps may be another meter (S17: a replacement
         * starts near 0 with a new serial): ET03 says so now, not at the
         * next periodic re-read, and a new serial is a new baseline */
        c->due |= due_bit(MEPC_OP_ET03);
    if (suspect)
        describe_suspect(c, rf, rr);
    else
        c->rd.suspect_reason[0] = '\0';
    if (first && c->rd.energy_valid)
        log_energy(c, 2, "energy confirmed", fwd, rev);
    else if (suspect && !c->rd.energy_suspect)
        log_energy(c, 1, "energy held", fwd, rev);
    else if (rf == MEPC_SAN_REPLACED || rr == MEPC_SAN_REPLACED)
        log_energy(c, 1, "energy: a young baseline was contradicted by a consistent run; replaced", fwd, rev);
    else if (rf == MEPC_SAN_NEW_BASELINE || rr == MEPC_SAN_NEW_BASELINE)
        log_energy(c, 1, "energy: a deviating value persisted; accepted as the new baseline", fwd, rev);
    c->rd.energy_suspect = suspect;
}

/* ---- reply handling -------------------------------------------------------- */

static void finish_alert_flow(mepc_client *c)
{
    c->alert_flow = false;
    c->alert_todo = 0;
    c->due &= ~(due_bit(MEPC_OP_ET13_FLAGS) | due_bit(MEPC_OP_EP39) | due_bit(MEPC_OP_PROC_RESULT));
}

static void next_post(mepc_client *c)
{
    if (c->alert_todo & MEPC_ALERT_SCHEDULED)
        c->post_type = MEPC_EP39_SCHEDULED_ALARMS;
    else if (c->alert_todo & MEPC_ALERT_DELTA)
        c->post_type = MEPC_EP39_CLEAR_DELTA;
    else {
        finish_alert_flow(c);
        return;
    }
    c->psn = c->psn >= 9 ? 5 : (uint8_t)(c->psn + 1);  /* docs/mep.md 8.1: MEP clients use 5..9 */
    if (c->psn < 5)
        c->psn = 5;
    c->psn_tries = 0;
    c->due |= due_bit(MEPC_OP_EP39);
}

static void handle_ok(mepc_client *c, uint8_t op, const uint8_t *d, uint16_t n, uint32_t now)
{
    char line[128];
    mepc_sb b;
    c->op_errors[op] = 0;
    c->due &= ~due_bit(op);
    switch (op) {
    case MEPC_OP_BT52: {
        uint32_t s;
        if (mepc_decode_bt52(d, n, &s)) {
            c->rd.clock_valid = true;
            c->rd.clock_s2000 = s;
            c->rd.clock_set_at_ms = now;
        } else {
            logm(c, 1, "BT52: not a valid date; clock not set");
        }
        break;
    }
    case MEPC_OP_BT01:
        if (mepc_decode_bt01(d, n, c->rd.manufacturer, c->rd.model, c->rd.sw_version))
            c->bt01_ok = true;
        c->rd.identity_valid = c->bt01_ok && c->et03_ok;
        break;
    case MEPC_OP_BT21: {
        mepc_layout l;
        bool ok = mepc_layout_from_bt21(d, n, &l);
        if (c->layout.valid && ok && !mepc_mem_equal(l.bt21, c->layout.bt21, 10))
            logm(c, 1, "BT21 changed: BT23/BT28 layout recomputed");
        c->layout = l;
        if (!ok)
            logm(c, 0, "BT21 unusable (short, or fewer than 2 summations): no energy polls");
        else if (!(c->due & due_bit(MEPC_OP_BT23)))
            c->polled_once = false;  /* poll at once with the (new) layout */
        break;
    }
    case MEPC_OP_ET03: {
        char sn[31];
        if (!mepc_decode_et03(d, n, sn))
            break;
        if (c->serial_known[0] && !mepc_str_equal(sn, c->serial_known)) {
            /* a different meter: its registers start a new baseline at once */
            mepc_sb_init(&b, line, sizeof line);
            mepc_sb_str(&b, "meter changed: serial '");
            mepc_sb_str(&b, c->serial_known);
            mepc_sb_str(&b, "' -> '");
            mepc_sb_str(&b, sn);
            mepc_sb_str(&b, "': new energy baseline");
            logm(c, 1, line);
            mepc_san_reset(&c->san_fwd);
            mepc_san_reset(&c->san_rev);
            c->rd.energy_suspect = false;
            c->rd.suspect_reason[0] = '\0';
            /* the new meter's first value must be confirmed (mepc_sanitise.h rule 2) */
            c->rd.energy_valid = false;
            c->saved_once = false;
        }
        mepc_mem_copy(c->serial_known, sn, sizeof sn);
        mepc_mem_copy(c->rd.utility_sn, sn, sizeof sn);
        c->et03_ok = true;
        store_seed(c);
        c->rd.identity_valid = c->bt01_ok && c->et03_ok;
        break;
    }
    case MEPC_OP_ET11:
        c->et11_valid = mepc_decode_et11(d, n, &c->et11_devices, &c->et11_entry);
        if (!c->et11_valid)
            logm(c, 1, "ET11: no MEP1 entry in ET13 (devices < 5 or entry < 9 bytes); alerts ignored");
        break;
    case MEPC_OP_ET04:
        c->rating_valid = mepc_decode_et04_rating(d, n, &c->rating);
        update_max_power(c);
        break;
    case MEPC_OP_ET50_READ:
        if (n < 31)
            break;
        c->et50_known = true;
        c->et50_flags = d[30];
        if (mepc_mem_equal(d, c->cfg.ident, 30) && (d[30] & 0x03u) == 0x03u) {
            logm(c, 2, "ET50: already registered with our ID");
        } else {
            if (!mepc_mem_equal(d, c->cfg.ident, 30))
                c->due |= due_bit(MEPC_OP_ET50_ID);
            c->due |= due_bit(MEPC_OP_ET50_FLAGS);
        }
        break;
    case MEPC_OP_ET50_ID:
        break;
    case MEPC_OP_ET50_FLAGS:
        c->et50_flags = 0x03;
        logm(c, 2, "registered as MEP client (ET50 flags: registered, ET59 response)");
        break;
    case MEPC_OP_ET13_FLAGS: {
        uint8_t f = n >= 1 ? d[0] : 0;
        c->rd.generation++;
        if (f & (MEPC_ALERT_ON_DEMAND | MEPC_ALERT_MBUS)) {
            mepc_sb_init(&b, line, sizeof line);
            mepc_sb_str(&b, "ET13 alert flags 0x");
            mepc_sb_hex(&b, f, 2);
            mepc_sb_str(&b, ": on-demand / M-Bus requests are not handled by this firmware");
            logm(c, 1, line);
        }
        c->alert_todo = f & (MEPC_ALERT_SCHEDULED | MEPC_ALERT_DELTA);
        /* nothing we can act on: look less often while it stands (S21) */
        if (c->alert_todo)
            c->alert_idle_flows = 0;
        else if (c->alert_idle_flows < MEPC_ALERT_IDLE_SHIFT_MAX)
            c->alert_idle_flows++;
        next_post(c);
        break;
    }
    case MEPC_OP_EP39:
        c->rd.procedures_posted++;
        c->result_tries = 0;
        c->due |= due_bit(MEPC_OP_PROC_RESULT);
        break;
    case MEPC_OP_PROC_RESULT: {
        mepc_proc_result pr;
        bool mine = mepc_decode_proc_result(d, n, &pr) && pr.proc == MEPC_EP39 && pr.psn == c->psn;
        if ((!mine || pr.result == 1) && ++c->result_tries < MEPC_RESULT_TRIES) {
            /* not posted yet, or "accepted, not complete": look again shortly */
            c->due |= due_bit(MEPC_OP_PROC_RESULT);
            backoff(c, now, MEPC_RESULT_RETRY_MS);
            return;
        }
        mepc_sb_init(&b, line, sizeof line);
        mepc_sb_str(&b, "EP39 type ");
        mepc_sb_u32(&b, c->post_type);
        if (!mine) {
            mepc_sb_str(&b, ": no result for our PSN in the response table");
        } else {
            mepc_sb_str(&b, " result ");
            mepc_sb_u32(&b, pr.result);
        }
        logm(c, mine && pr.result <= 1 ? 2 : 1, line);
        c->alert_todo &= (uint8_t)~(c->post_type == MEPC_EP39_SCHEDULED_ALARMS ? MEPC_ALERT_SCHEDULED
                                                                                : MEPC_ALERT_DELTA);
        next_post(c);
        break;
    }
    case MEPC_OP_BT23: {
        int64_t fwd, rev;
        if (mepc_decode_bt23(&c->layout, d, n, &fwd, &rev)) {
            publish_energy(c, (uint32_t)fwd, (uint32_t)rev, now);
            c->poll_bt23_ok = true;
        }
        break;
    }
    case MEPC_OP_BT28: {
        size_t k = mepc_decode_bt28(&c->layout, d, n, c->rd.bt28.v, MEPC_BT28_MAX_VALUES);
        if (k) {
            for (size_t i = k; i < MEPC_BT28_MAX_VALUES; i++)
                c->rd.bt28.v[i] = 0;
            c->rd.bt28.n = (uint16_t)k;
            c->rd.bt28.at_ms = now;
            note_power(c, c->rd.bt28.v, k);
            c->rd.present_valid = true;
            if (c->poll_bt23_ok) {
                c->rd.polls_ok++;
                c->have_good_poll = true;
                restore_status(c);
            }
        }
        break;
    }
    default:
        break;
    }
    touch(c);
}

static void handle_error(mepc_client *c, uint8_t op, uint8_t code, uint32_t now)
{
    char line[128];
    mepc_sb b;
    mepc_sb_init(&b, line, sizeof line);
    describe_req(&b, &c->req);
    mepc_sb_str(&b, " -> error 0x");
    mepc_sb_hex(&b, code, 2);
    mepc_sb_str(&b, " (");
    mepc_sb_str(&b, mep_resp_name(code));
    mepc_sb_char(&b, ')');
    logm(c, 1, line);
    touch(c);
    if (op == MEPC_OP_EP39) {
        if (code == MEP_RSP_ONP && ++c->psn_tries < MEPC_PSN_TRIES) {
            /* docs/mep.md 8.1: 0x04 = PSN equals the previous one: use the next */
            c->psn = c->psn >= 9 ? 5 : (uint8_t)(c->psn + 1);
            return;
        }
        finish_alert_flow(c);  /* S22: the next alert starts afresh */
        return;
    }
    if (op == MEPC_OP_ET13_FLAGS || op == MEPC_OP_PROC_RESULT) {
        finish_alert_flow(c);
        return;
    }
    if (op == MEPC_OP_ET50_READ || op == MEPC_OP_ET50_ID || op == MEPC_OP_ET50_FLAGS) {
        logm(c, 1, "registration refused by the meter; reading continues unregistered");
        c->due &= ~(due_bit(MEPC_OP_ET50_READ) | due_bit(MEPC_OP_ET50_ID) | due_bit(MEPC_OP_ET50_FLAGS));
        return;
    }
    if (++c->op_errors[op] < MEPC_MAX_OP_ERRORS) {
        backoff(c, now, MEPC_OP_ERROR_PAUSE_MS);
        return;
    }
    c->op_errors[op] = 0;
    c->due &= ~due_bit(op);
}

/* Fewest data bytes a read reply must carry to be decoded (S14: data of
 * another request; S15: short table). */
static uint16_t op_min_count(const mepc_client *c, uint8_t op)
{
    switch (op) {
    case MEPC_OP_BT52: return 6;
    case MEPC_OP_BT01: return 16;
    case MEPC_OP_BT21: return 10;
    case MEPC_OP_ET03: return 30;
    case MEPC_OP_ET11: return 2;
    case MEPC_OP_ET04: return 7;
    case MEPC_OP_ET50_READ: return 31;
    case MEPC_OP_ET13_FLAGS: return 1;
    case MEPC_OP_PROC_RESULT: return 4;
    case MEPC_OP_BT23: return mepc_layout_bt23_count(&c->layout);
    case MEPC_OP_BT28: {
        /* the values HA needs (docs/module-behaviour.md 8.1: up to 54); a CPM stops
         * a full read before value 75 (docs/mep.md 12.8) */
        uint32_t k = c->layout.n_present_values < 55u ? c->layout.n_present_values : 55u;
        return (uint16_t)(c->layout.bt28_value0 + 4u * k);
    }
    default: return 0;
    }
}

static bool reply_fits_request(const mepc_client *c, const uint8_t *p, uint16_t n, const uint8_t **data,
                               uint16_t *count)
{
    const mepc_link_req *r = &c->req;
    if (r->read_count) {
        /* code, count (2, MSB first), data: the count must match what came and not
         * exceed what we asked for (S14: data of another request; S15: short) */
        if (n < 3)
            return false;
        uint16_t cnt = mep_get_be16(p + 1);
        if (cnt != n - 3u || cnt > r->read_count || cnt < op_min_count(c, c->op))
            return false;
        *data = p + 3;
        *count = cnt;
        return true;
    }
    *data = p + 1;
    *count = 0;
    return n == 1;
}

static void on_reply(mepc_client *c, uint32_t now)
{
    const uint8_t *p = mepc_link_reply(&c->link);
    uint16_t n = mepc_link_reply_len(&c->link);
    uint8_t op = c->op;
    char line[96];
    mepc_sb b;

    c->req.active = false;
    c->phase = MEPC_PH_READY;
    c->fails_in_row = 0;
    c->fails_since_cycle = 0;
    c->rejects_in_row = 0;
    c->loopbacks_in_row = 0;
    c->auth_in_row = 0;
    c->auth_backoff_ms = 0;
    c->cycle_backoff_ms = 0;
    touch(c);

    if (p[0] == MEP_RSP_SEQ && n == 5 && !c->req.bare) {  /* no 0x0C inside TLS (docs/mep.md 7.2) */
        /* docs/mep.md 5.5: continue with returned + 1: right whether the meter returned
         * the next acceptable number or the last accepted one (S04) */
        uint32_t got = mep_get_be32(p + 1);
        c->next_seq = got + 1u;
        c->rd.seq_resyncs++;
        c->seq_errs_in_row++;
        mepc_sb_init(&b, line, sizeof line);
        mepc_sb_str(&b, "0x0C: meter returned sequence number 0x");
        mepc_sb_hex(&b, got, 8);
        mepc_sb_str(&b, "; continuing with 0x");
        mepc_sb_hex(&b, c->next_seq, 8);
        logm(c, 2, line);
        if (c->have_good_poll && c->seq_errs_in_row == 1)
            /* docs/mep.md 5.5: an IDT version bump moves the number by 25: re-check dimensions */
            c->due |= due_bit(MEPC_OP_BT21) | due_bit(MEPC_OP_ET03);
        if (c->seq_errs_in_row > MEPC_MAX_SEQ_ERRS) {
            set_status(c, MEPC_ST_LINE_ERROR, "meter rejects our sequence numbers (0x0C); backing off");
            c->seq_errs_in_row = 0;
            backoff(c, now, MEPC_SEQ_BACKOFF_MS);
        }
        return;  /* op stays due: sent again with the new number */
    }
    c->seq_errs_in_row = 0;
    restore_status(c);
    if (p[0] == MEP_RSP_OK) {
        const uint8_t *data;
        uint16_t count;
        if (!reply_fits_request(c, p, n, &data, &count)) {
            c->rd.mismatched_replies++;
            log_req(c, 1, "reply does not fit ", ": re-reading");
            if (op == MEPC_OP_BT23 || op == MEPC_OP_BT28)
                c->due |= due_bit(MEPC_OP_BT21);  /* maybe the layout changed */
            /* re-read with a new sequence number once the line is quiet (step) */
            c->phase = MEPC_PH_WAIT;
            c->rejected = true;
            return;
        }
        handle_ok(c, op, data, count, now);
        return;
    }
    handle_error(c, op, p[0], now);
}

static void on_auth_fail(mepc_client *c, uint32_t now)
{
    c->rd.auth_failures++;
    c->auth_in_row++;
    c->req.active = false;
    c->fails_in_row = 0;
    c->fails_since_cycle = 0;
    touch(c);
    log_req(c, 1, "0x0B authentication failure for ", "");
    if (c->auth_in_row == 1) {
        /* a single 0x0B may be a request corrupted on the way (S07): try once more */
        c->phase = MEPC_PH_READY;
        return;
    }
    c->auth_backoff_ms = c->auth_backoff_ms ? c->auth_backoff_ms * 2u : MEPC_AUTH_BACKOFF_MIN_MS;
    if (c->auth_backoff_ms > MEPC_AUTH_BACKOFF_MAX_MS)
        c->auth_backoff_ms = MEPC_AUTH_BACKOFF_MAX_MS;
    set_status(c, MEPC_ST_AUTH_FAIL, "authentication failed (0x0B): check the MBK");
    backoff(c, now, c->auth_backoff_ms);
}

static void on_loopback(mepc_client *c, uint32_t now)
{
    c->loopbacks_in_row++;
    touch(c);
    set_status(c, MEPC_ST_LOOPBACK, "loopback: our requests come back unchanged (wiring?)");
    backoff(c, now, MEPC_LOOPBACK_BACKOFF_MS);
}

static void on_alert(mepc_client *c, uint32_t now)
{
    c->rd.alerts_seen++;
    touch(c);
    if (elapsed(now, c->zero_window_ms) > 1000u) {
        c->zero_window_ms = now;
        c->zero_in_window = 0;
    }
    if (c->zero_in_window < 255)
        c->zero_in_window++;
    c->last_zero_ms = now;
    if (c->zero_in_window >= MEPC_ZERO_BURST && !c->line_fault) {
        /* the meter repeats `00 00` once per second at most (docs/mep.md 4): a burst is
         * a line held at space, not alerts (S25) */
        c->line_fault = true;
        c->alert_pending = false;
        restore_status(c);
    }
    if (!c->line_fault)
        c->alert_pending = true;
}

static void handle_event(mepc_client *c, mepc_rx_event ev, uint32_t now)
{
    switch (ev) {
    case MEPC_RX_REPLY: on_reply(c, now); break;
    case MEPC_RX_AUTH_FAIL: on_auth_fail(c, now); break;
    case MEPC_RX_LOOPBACK: on_loopback(c, now); break;
    case MEPC_RX_ALERT: on_alert(c, now); break;
    case MEPC_RX_REJECT:
        c->rejected = true;
        c->rejects_in_row++;
        log_req(c, 1, "reply failed digest check for ", ": dropped");
        touch(c);
        break;
    case MEPC_RX_UNEXPECTED:
        c->rd.mismatched_replies++;
        logm(c, 2, "frame with no request outstanding (late reply?): dropped");
        touch(c);
        break;
    case MEPC_RX_NONE:
        break;
    }
    sync_counters(c);
}

static void drain(mepc_client *c, bool idle, uint32_t now)
{
    for (unsigned guard = 0; guard < 2u * MEPC_RX_BUF; guard++) {
        mepc_rx_event ev = mepc_link_next(&c->link, c->phase == MEPC_PH_WAIT ? &c->req : NULL, idle);
        if (ev == MEPC_RX_NONE)
            break;
        handle_event(c, ev, now);
    }
    sync_counters(c);
}

/* ---- TLS mode (hal.secure_request; docs/mep.md 3.5, 7) ------------------------ */

void mepc_rx_bare(mepc_client *c, const uint8_t *resp, size_t n, uint32_t now_ms)
{
    if (!secure_mode(c) || c->phase != MEPC_PH_WAIT || !c->req.active || !c->req.bare) {
        c->rd.mismatched_replies++;
        logm(c, 2, "TLS: response with no request outstanding: dropped");
        touch(c);
        return;
    }
    if (!resp || n == 0 || n > sizeof c->link.plain) {
        c->rejected = true;
        c->rejects_in_row++;
        log_req(c, 1, "TLS: empty or oversized response to ", ": dropped");
        touch(c);
        return;
    }
    mepc_mem_copy(c->link.plain, resp, n);
    c->link.plain_len = (uint16_t)n;
    c->tls_in_row = 0;
    c->tls_backoff_ms = 0;
    on_reply(c, now_ms);
    sync_counters(c);
}

void mepc_secure_fail(mepc_client *c, mepc_secure_error err, uint32_t now_ms)
{
    if (!secure_mode(c) || c->phase != MEPC_PH_WAIT || !c->req.active) {
        logm(c, 2, "TLS: failure report with no request outstanding: ignored");
        return;
    }
    touch(c);
    switch (err) {
    case MEPC_SEC_NO_REPLY:
        /* like an RC4 timeout: resend (the port handshakes again if needed) */
        c->rd.timeouts++;
        log_req(c, 2, "TLS: no reply to ", "");
        retry(c, now_ms, true);
        return;
    case MEPC_SEC_BAD_REPLY:
        c->rejected = true;
        c->rejects_in_row++;
        log_req(c, 1, "TLS: malformed reply to ", "");
        return;  /* step() retries, then LINE_ERROR */
    case MEPC_SEC_TLS_ERROR:
    case MEPC_SEC_IDENTITY:
    case MEPC_SEC_NO_SESSION:
        break;
    }
    c->req.active = false;
    c->fails_in_row = 0;
    c->fails_since_cycle = 0;
    if (c->tls_in_row < 255)
        c->tls_in_row++;
    if (err == MEPC_SEC_IDENTITY) {
        /* docs/mep.md 7.3: 0x03 = the meter does not accept our identity or key;
         * retrying soon cannot help: visible state and back-off, as 0x0B */
        c->rd.auth_failures++;
        log_req(c, 1, "TLS: 0x03 invalid identity or key for ", "");
    } else {
        log_req(c, 1, err == MEPC_SEC_NO_SESSION ? "TLS: meter keeps losing the session (0x0A) for "
                                                 : "TLS error (0x01 or local) for ", "");
        if (c->tls_in_row == 1) {
            /* a single failure may be a record corrupted on the line: retry now */
            c->phase = MEPC_PH_READY;
            return;
        }
    }
    c->tls_backoff_ms = c->tls_backoff_ms ? c->tls_backoff_ms * 2u : MEPC_TLS_BACKOFF_MIN_MS;
    if (c->tls_backoff_ms > MEPC_TLS_BACKOFF_MAX_MS)
        c->tls_backoff_ms = MEPC_TLS_BACKOFF_MAX_MS;
    if (err == MEPC_SEC_IDENTITY)
        set_status(c, MEPC_ST_AUTH_FAIL, "TLS: meter rejected identity or key (0x03): check the key");
    else if (err == MEPC_SEC_NO_SESSION)
        set_status(c, MEPC_ST_TLS_FAIL, "TLS: meter drops every session (0x0A); backing off");
    else
        set_status(c, MEPC_ST_TLS_FAIL, "TLS handshake/session error (0x01); backing off");
    backoff(c, now_ms, c->tls_backoff_ms);
}

void mepc_secure_alert(mepc_client *c, uint32_t now_ms)
{
    on_alert(c, now_ms);
    sync_counters(c);
}

/* ---- public entry points ------------------------------------------------ */

void mepc_init(mepc_client *c, const mepc_hal *hal, const mepc_config *cfg, uint32_t now_ms)
{
    mepc_mem_set(c, 0, sizeof *c);
    c->hal = *hal;
    c->cfg = *cfg;
    if (!c->cfg.poll_ms)
        c->cfg.poll_ms = 2000;
    if (!c->cfg.reply_timeout_ms)
        c->cfg.reply_timeout_ms = MEP_CLIENT_TIMEOUT_MS;
    if (!c->cfg.fails_before_cycle)
        c->cfg.fails_before_cycle = 1;
    if (!c->cfg.reread_dims_ms)
        c->cfg.reread_dims_ms = 600000;
    if (!c->cfg.reread_clock_ms)
        c->cfg.reread_clock_ms = 3600000;
    mepc_link_init(&c->link);
    if (c->hal.store_load && c->hal.store_load(c->hal.ctx, &c->stored, sizeof c->stored) &&
        c->stored.magic == MEPC_STORE_MAGIC && c->stored.version == MEPC_STORE_VERSION) {
        c->stored.serial[sizeof c->stored.serial - 1] = '\0';
        c->stored_valid = true;
    }
    c->psn = 4;  /* first PSN used is 5 (docs/mep.md 8.1) */
    c->op = MEPC_OP_NONE;
    update_max_power(c);
    c->due = due_bit(MEPC_OP_BT52) | due_bit(MEPC_OP_BT01) | due_bit(MEPC_OP_BT21) | due_bit(MEPC_OP_ET03) |
             due_bit(MEPC_OP_ET11) | due_bit(MEPC_OP_ET04);
    if (c->cfg.register_client)
        c->due |= due_bit(MEPC_OP_ET50_READ);
    c->dims_read_ms = c->clock_read_ms = now_ms;
    c->dims_read_once = c->clock_read_once = true;
    c->rd.poll_ms = c->cfg.poll_ms;
    c->rd.status = MEPC_ST_BOOT;
    set_status(c, MEPC_ST_BOOT, "powering the meter line");
    power_sequence_start(c, now_ms);
}

void mepc_rx(mepc_client *c, const uint8_t *p, size_t n, uint32_t now_ms)
{
    while (n) {
        size_t space = MEPC_RX_BUF - c->link.have;
        size_t k = n < space ? n : space;
        if (k == 0) {
            drain(c, true, now_ms);  /* cannot happen with a 512-byte buffer; stay safe */
            if (c->link.have == MEPC_RX_BUF)
                mepc_link_flush(&c->link);
            continue;
        }
        /* byte-wise so an event (alert, reply) is handled before what follows it */
        for (size_t i = 0; i < k; i++) {
            mepc_link_push(&c->link, p + i, 1, now_ms);
            drain(c, false, now_ms);
        }
        p += k;
        n -= k;
    }
}

static uint8_t pick_op(mepc_client *c, uint32_t now)
{
    for (uint8_t op = 0; op < MEPC_OP_COUNT; op++) {
        if (!(c->due & due_bit(op)))
            continue;
        if ((op == MEPC_OP_BT23 || op == MEPC_OP_BT28) && !c->layout.valid) {
            c->due &= ~due_bit(op);
            continue;
        }
        if (op == MEPC_OP_ET13_FLAGS && !c->et11_valid) {
            if (c->due & due_bit(MEPC_OP_ET11))
                continue;  /* ET11 is read first */
            finish_alert_flow(c);  /* no MEP1 entry (S29): nothing to read */
            if (c->alert_idle_flows < MEPC_ALERT_IDLE_SHIFT_MAX)
                c->alert_idle_flows++;
            continue;
        }
        if (op == MEPC_OP_EP39 && c->psn_tries == 0 && c->bt07_n) {
            /* BT07 write budget (docs/mep.md 4): spacing, and <= 4 per hour unless
             * an alert flag keeps asking, then one per 15 min */
            uint32_t last = c->bt07_ms[(c->bt07_pos + 3u) % 4u];
            uint32_t oldest = c->bt07_ms[c->bt07_pos % 4u];
            uint32_t need = MEPC_BT07_MIN_SPACING_MS;
            if (c->bt07_n >= 4 && elapsed(now, oldest) < MEPC_HOUR_MS)
                need = MEPC_BT07_SLOW_SPACING_MS;
            if (elapsed(now, last) < need) {
                uint32_t wait = need - elapsed(now, last);
                logm(c, 2, "BT07 write deferred (write rate limit); alert handled later");
                finish_alert_flow(c);
                c->alert_pending = true;
                c->alert_hold = true;
                c->alert_hold_until = now + wait;
                continue;
            }
        }
        return op;
    }
    return MEPC_OP_NONE;
}

static void schedule(mepc_client *c, uint32_t now)
{
    if (c->line_fault && elapsed(now, c->last_zero_ms) >= MEPC_LINE_FAULT_CLEAR_MS) {
        c->line_fault = false;
        logm(c, 2, "zero-byte stream ended");
        restore_status(c);
    }
    if (c->alert_hold && reached(now, c->alert_hold_until))
        c->alert_hold = false;
    if (c->alert_pending && !c->alert_flow && !c->alert_hold && !c->line_fault &&
        (!c->alert_flow_once ||
         elapsed(now, c->alert_flow_ms) >= (MEPC_ALERT_MIN_INTERVAL_MS << c->alert_idle_flows))) {
        /* docs/mep.md 10.3: read the MEP alert flags, act per flag */
        c->alert_pending = false;
        c->alert_flow = true;
        c->alert_flow_once = true;
        c->alert_flow_ms = now;
        if (!c->et11_valid)
            c->due |= due_bit(MEPC_OP_ET11);
        c->due |= due_bit(MEPC_OP_ET13_FLAGS);
    }
    if (elapsed(now, c->dims_read_ms) >= c->cfg.reread_dims_ms ||
        (!c->layout.valid && !(c->due & due_bit(MEPC_OP_BT21)) && elapsed(now, c->dims_read_ms) >= MEPC_DIMS_RETRY_MS)) {
        c->dims_read_ms = now;
        c->due |= due_bit(MEPC_OP_BT21) | due_bit(MEPC_OP_ET03);
    }
    if (elapsed(now, c->clock_read_ms) >= c->cfg.reread_clock_ms) {
        c->clock_read_ms = now;
        c->due |= due_bit(MEPC_OP_BT52);
    }
    if (c->layout.valid && !(c->due & (due_bit(MEPC_OP_BT23) | due_bit(MEPC_OP_BT28))) &&
        (!c->polled_once || elapsed(now, c->last_poll_ms) >= c->cfg.poll_ms)) {
        c->polled_once = true;
        c->last_poll_ms = now;
        c->poll_bt23_ok = false;
        c->due |= due_bit(MEPC_OP_BT23) | due_bit(MEPC_OP_BT28);
    }
}

/* One step of the state machine; returns true if it changed something. */
static bool step(mepc_client *c, uint32_t now)
{
    switch (c->phase) {
    case MEPC_PH_POWER_OFF:
        if (!reached(now, c->phase_until))
            return false;
        power_sequence_start(c, now);
        return true;
    case MEPC_PH_POWER_ON:
        if (!reached(now, c->phase_until))
            return false;
        if (c->hal.meter_enable)
            c->hal.meter_enable(c->hal.ctx, true);
        c->phase = MEPC_PH_ENABLE;
        c->phase_until = now + MEPC_ENABLE_SETTLE_MS;
        return true;
    case MEPC_PH_ENABLE:
        if (!reached(now, c->phase_until))
            return false;
        /* read and discard whatever the line produced while powering up */
        if (c->hal.uart_flush_rx)
            c->hal.uart_flush_rx(c->hal.ctx);
        c->link.stray_bytes += c->link.have;
        mepc_link_flush(&c->link);
        sync_counters(c);
        c->phase = MEPC_PH_READY;
        if (c->rd.status == MEPC_ST_BOOT)
            set_status(c, MEPC_ST_SYNC, "reading meter tables");
        return true;
    case MEPC_PH_BACKOFF:
        if (!reached(now, c->phase_until))
            return false;
        c->phase = MEPC_PH_READY;
        return true;
    case MEPC_PH_READY: {
        schedule(c, now);
        if (c->sent_once && elapsed(now, c->last_send_ms) < MEP_THROTTLE_MS)
            return false;  /* docs/mep.md 4: at most one request per 100 ms */
        uint8_t op = pick_op(c, now);
        if (op == MEPC_OP_NONE)
            return false;
        send_op(c, op, now, true);
        return true;
    }
    case MEPC_PH_WAIT: {
        bool idle = c->req.bare || mepc_link_idle(&c->link, now);
        if (c->link.have && idle) {
            drain(c, true, now);
            if (c->phase != MEPC_PH_WAIT)
                return true;
        }
        if (c->rejected && idle) {
            retry(c, now, false);
            return true;
        }
        uint32_t limit = wait_limit(c);
        uint32_t waited = elapsed(now, c->sent_at);
        if (waited < limit)
            return false;
        if (!idle && c->link.have && waited < limit + MEPC_RX_MAX_FRAME_MS)
            return false;  /* a reply is still coming in */
        c->rd.timeouts++;
        touch(c);
        log_req(c, 2, "timeout: no reply to ", "");
        retry(c, now, true);
        return true;
    }
    default:
        c->phase = MEPC_PH_READY;
        return true;
    }
}

static uint32_t next_wake(const mepc_client *c, uint32_t now)
{
    uint32_t w = 1000;
    switch (c->phase) {
    case MEPC_PH_POWER_OFF:
    case MEPC_PH_POWER_ON:
    case MEPC_PH_ENABLE:
    case MEPC_PH_BACKOFF:
        w = reached(now, c->phase_until) ? 1 : c->phase_until - now;
        break;
    case MEPC_PH_WAIT: {
        uint32_t limit = wait_limit(c);
        uint32_t waited = elapsed(now, c->sent_at);
        w = waited < limit ? limit - waited : 10;
        if (c->req.bare && c->rejected)
            w = 1;
        else if (c->link.have || c->rejected) {
            uint32_t since = elapsed(now, c->link.last_rx_ms);
            uint32_t idle_in = since < MEPC_RX_IDLE_MS ? MEPC_RX_IDLE_MS - since : 1;
            if (idle_in < w)
                w = idle_in;
        }
        break;
    }
    case MEPC_PH_READY:
        if (c->due || c->alert_pending) {
            uint32_t since = elapsed(now, c->last_send_ms);
            w = (c->sent_once && since < MEP_THROTTLE_MS) ? MEP_THROTTLE_MS - since : 50;
        } else if (c->layout.valid) {
            uint32_t since = elapsed(now, c->last_poll_ms);
            w = since < c->cfg.poll_ms ? c->cfg.poll_ms - since : 1;
        }
        break;
    default:
        break;
    }
    if (w < 1)
        w = 1;
    if (w > 1000)
        w = 1000;
    return w;
}

uint32_t mepc_run(mepc_client *c, uint32_t now_ms)
{
    for (unsigned i = 0; i < 8 && step(c, now_ms); i++) {
    }
    return next_wake(c, now_ms);
}
