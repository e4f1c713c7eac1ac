/* sim_meter: one emulated meter's protocol side (see sim_meter.h).
 *
 * Ties the pieces together: a received frame goes through sim_security
 * (length, key, decryption, sequence window), the plain C12.18 request
 * through sim_psem (access control, table store) whose write hooks call
 * sim_proc (BT07 procedures, ET52 transactions) and sim_comm (registration,
 * baud, schedule, health); the response is sealed by sim_security. The
 * meter owns its model, clock, tables and counters; nothing is global.
 */
#include "sim_meter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mep_frame.h"
#include "sim_comm.h"
#include "sim_proc.h"
#include "sim_psem.h"
#include "sim_security.h"


struct sim_meter {
    const sim_profile *profile;   /* cfg->profile: shared, outlives the meter */
    sim_policy policy;
    char name[64];
    sim_clock clock;
    sim_model model;
    sim_tables *tables;
    sim_security sec;
    sim_psem psem;
    sim_comm comm;
    sim_proc proc;
    sim_meter_counters ctr;
    uint64_t now_ms;              /* wall time of the frame being handled (for hooks) */
    uint8_t lines_off;            /* bit (1 << sim_meter_line) set: that line is off */
    sim_meter_tls_hooks tls;      /* TLS mode plug-in (all NULL: none) */
    sim_meter_fault_hooks fh;     /* fault layer plug-in (all NULL: none) */
    uint64_t rs;                  /* seeded generator: E after a reboot */
    uint64_t rd;                  /* seeded generator: reply jitter (own stream) */
    bool has_seq_start;
    uint32_t seq_start;
    bool optical_call;            /* a write from the optical port is being handled */
};

/* ---- helpers ----------------------------------------------------------- */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int64_t wall_utc_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ET04.103 (and .129 on Gen 4) show the sequence number (docs/mep.md 5.5,
 * 12.12); we store E. ET70.142 = 1: requests arrive on MEP1 (docs/mep.md 10.1). */
static void mirror_state(sim_meter *m)
{
    uint8_t *f = sim_comm_field(m->tables, MEP_ET(4), 103, 4);
    if (f)
        mep_put_le32(f, m->sec.next_seq);
    if (m->profile->generation >= 4 && (f = sim_comm_field(m->tables, MEP_ET(4), 129, 4)))
        mep_put_le32(f, m->sec.next_seq);
    if ((f = sim_comm_field(m->tables, MEP_ET(70), 142, 1)))
        f[0] = 1;
}

static size_t meter_dispatch(void *ctx, const uint8_t *req, size_t n, sim_level level,
                             size_t max_data, uint8_t *resp, size_t cap);

static bool is_tls_code(uint8_t c)
{
    return c == MEP_TLS_TERMINATE || c == MEP_TLS_HANDSHAKE || c == MEP_TLS_HANDSHAKE_CONT ||
           c == MEP_TLS_TABLE;
}

static sim_proc_env proc_env(sim_meter *m)
{
    sim_proc_env e = {
        .tables = m->tables, .comm = &m->comm, .clock = &m->clock, .model = &m->model,
        .policy = &m->policy, .ctr = &m->ctr, .now_ms = m->now_ms,
        .dispatch = meter_dispatch, .dispatch_ctx = m, .optical = m->optical_call,
    };
    return e;
}

/* ---- psem hooks: the side effects of writes --------------------------- */
static uint8_t hook_before_write(void *ctx, const sim_psem_write *w, char *note, size_t cap)
{
    sim_meter *m = ctx;
    sim_proc_env e = proc_env(m);
    if (w->table == MEP_BT(7) && w->offset == 0)
        return sim_proc_check_call(&m->proc, &e, w->data, w->n, w->level, note, cap);
    if (w->table == MEP_ET(52))
        return sim_proc_check_et52_write(&m->proc);
    return 0;
}

static void hook_after_write(void *ctx, const sim_psem_write *w, char *note, size_t cap)
{
    sim_meter *m = ctx;
    sim_proc_env e = proc_env(m);
    if (w->table == MEP_BT(7) && w->offset == 0)
        sim_proc_call(&m->proc, &e, w->data, w->n, w->level, note, cap);
    if (w->table == MEP_ET(52))
        sim_proc_after_et52_write(&m->proc, &e, w->level, note, cap);
    sim_comm_after_write(&m->comm, m->tables, w->table, w->offset, w->n, m->now_ms,
                         sim_clock_now(&m->clock, m->now_ms), &m->ctr, note, cap);
}

/* Table bytes on their way out: protocol faults (S30 strings) and kWh
 * glitches (S16-S18) edit them before the digest, so the reply stays valid
 * (docs/module-behaviour.md 9). */
static void hook_after_read(void *ctx, uint16_t table, uint32_t off, uint8_t *data, size_t n)
{
    sim_meter *m = ctx;
    if (m->fh.on_table_read)
        m->fh.on_table_read(m->fh.ctx, m, table, off, data, n, m->now_ms);
}

/* Transaction records run through the same dispatch (docs/mep.md 9). */
static size_t meter_dispatch(void *ctx, const uint8_t *req, size_t n, sim_level level,
                             size_t max_data, uint8_t *resp, size_t cap)
{
    sim_meter *m = ctx;
    sim_psem_result res;
    return sim_psem_dispatch(&m->psem, req, n, level, max_data, resp, cap, &res);
}

/* ---- life cycle -------------------------------------------------------- */
sim_meter *sim_meter_new(const sim_meter_cfg *cfg, uint64_t now_ms, char *err, size_t errlen)
{
    if (!cfg || !cfg->profile) {
        snprintf(err, errlen, "sim_meter_new: no profile");
        return NULL;
    }
    sim_meter *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "sim_meter_new: out of memory");
        return NULL;
    }
    /* Shared, not copied: a fleet of meters of one profile keeps one copy
     * (the caller keeps the profile alive for the meter's life). */
    m->profile = cfg->profile;
    m->policy = cfg->policy;
    snprintf(m->name, sizeof m->name, "%s", cfg->name ? cfg->name : "meter");
    m->now_ms = now_ms;

    uint64_t seed = cfg->seed;
    if (!seed)
        seed = (uint64_t)wall_utc_ms() ^ ((uint64_t)(uintptr_t)m << 16) ^ now_ms;
    uint64_t rs = seed;
    int64_t start = cfg->start_utc_ms;
    if (!start)
        start = m->profile->start_utc_s ? m->profile->start_utc_s * 1000 : wall_utc_ms();
    sim_clock_init(&m->clock, now_ms, start, cfg->speed > 0 ? cfg->speed : 1.0);
    sim_model_init(&m->model, &m->profile->model, seed, start);

    char terr[256] = "";
    m->tables = sim_tables_new(m->profile, &m->model, terr, sizeof terr);
    if (!m->tables) {
        snprintf(err, errlen, "%s: tables: %s", m->name, terr);
        free(m);
        return NULL;
    }

    sim_sec_cfg sc;
    memset(&sc, 0, sizeof sc);
    memcpy(sc.mak, cfg->mak, 16);
    memcpy(sc.mbk, cfg->mbk, 16);
    sc.window = m->policy.seq_window;
    sc.seq_reply = m->policy.seq_reply;
    sc.auth_reply = m->policy.auth_reply;
    sc.strict_full_read_count = m->policy.strict_full_read_count;
    /* docs/mep.md 5.5 [E]: fixed start from the profile/CLI, else random. */
    uint32_t e = cfg->has_seq_start ? cfg->seq_start : (uint32_t)splitmix64(&rs);
    sim_sec_init(&m->sec, &sc, e);

    m->psem.tables = m->tables;
    m->psem.locked = m->profile->locked_tables;
    m->psem.n_locked = m->profile->n_locked;
    m->psem.past_end_error = m->policy.past_end_error;
    m->psem.hooks.before_write = hook_before_write;
    m->psem.hooks.after_write = hook_after_write;
    m->psem.hooks.after_read = hook_after_read;
    m->psem.hooks.ctx = m;
    m->rs = rs;
    m->rd = seed ^ 0x5265706C79446C79ull; /* "ReplyDly": a stream apart from rs */
    m->has_seq_start = cfg->has_seq_start;
    m->seq_start = cfg->seq_start;

    sim_comm_init(&m->comm, m->tables, start, now_ms);
    sim_proc_init(&m->proc);
    mirror_state(m);
    return m;
}

void sim_meter_free(sim_meter *m)
{
    if (!m)
        return;
    sim_tables_free(m->tables);
    free(m);
}

/* ---- frames ------------------------------------------------------------ */
static void describe_request(const sim_psem_result *r, char *buf, size_t cap)
{
    char tn[8], pn[8];
    const mep_request *q = &r->req;
    buf[0] = 0;
    if (r->parse != MEP_PARSE_OK) {
        snprintf(buf, cap, "REQ code=0x%02X", q->code);
        return;
    }
    switch (q->code) {
    case MEP_REQ_FULL_READ:
        snprintf(buf, cap, "READ %s full", mep_table_name(q->table, tn));
        break;
    case MEP_REQ_PARTIAL_READ:
        snprintf(buf, cap, "READ %s off=%u n=%u", mep_table_name(q->table, tn),
                 (unsigned)q->offset, (unsigned)q->count);
        break;
    default:
        if (q->table == MEP_BT(7) && q->data_len >= 3 &&
            (q->code == MEP_REQ_FULL_WRITE || q->offset == 0)) {
            snprintf(buf, cap, "CALL %s psn=%u params=%u",
                     mep_proc_name((uint16_t)(mep_get_le16(q->data) & 0x0FFF), pn), q->data[2],
                     (unsigned)q->data_len - 3u);
        } else if (q->code == MEP_REQ_FULL_WRITE) {
            snprintf(buf, cap, "WRITE %s n=%u", mep_table_name(q->table, tn), (unsigned)q->data_len);
        } else {
            snprintf(buf, cap, "WRITE %s off=%u n=%u", mep_table_name(q->table, tn),
                     (unsigned)q->offset, (unsigned)q->data_len);
        }
        break;
    }
}

/* Protocol faults (docs/module-behaviour.md 9) see the bare response of an
 * authenticated request before it is sealed. Returns true if a fault acted
 * (*n = the frame to send, 0 = silence) and false to send the meter's own. */
static bool pfault_reply(sim_meter *m, const uint8_t *frame, size_t len, const mep_request *req,
                         sim_sec_exchange *x, const uint8_t *bare, size_t bare_len, uint8_t *out, size_t cap,
                         size_t *n, char *log, size_t logcap)
{
    sim_meter_fault_request rq = {.frame = frame, .frame_len = len, .req = req, .next_seq = m->sec.next_seq};
    sim_meter_fault_reply r = {0};
    const sim_meter_fault_reply *res = &r;
    sim_meter_fault_action a = m->fh.on_response(m->fh.ctx, &rq, bare, bare_len, m->now_ms, &r);
    bool acted = true;
    switch (a) {
    case SIM_METER_FAULT_SUPPRESS:
        *n = 0;
        break;
    case SIM_METER_FAULT_REPLACE_BARE:
        if (res->unauthenticated)
            *n = sim_sec_auth_reply(m->policy.auth_reply, out, cap); /* docs/mep.md 3.4: no digest */
        else
            sim_sec_seal_oversize(x, res->bytes, res->len, out, cap, n);
        if (*n && res->len)
            m->ctr.responses[res->bytes[0]]++;
        break;
    case SIM_METER_FAULT_REPLACE_FRAME:
        *n = res->len <= cap ? res->len : 0;
        memcpy(out, res->bytes, *n);
        break;
    default:
        acted = false;
        break;
    }
    if (acted) {
        m->ctr.pfault_acted++;
        snprintf(log, logcap, "protocol fault %s: %s", res->by,
                 a == SIM_METER_FAULT_SUPPRESS ? "no answer"
                 : a == SIM_METER_FAULT_REPLACE_FRAME ? "raw frame sent"
                 : res->len ? "response replaced" : "replaced");
        if (a == SIM_METER_FAULT_REPLACE_BARE && res->len) {
            size_t k = strlen(log);
            if (k < logcap)
                snprintf(log + k, logcap - k, " (code 0x%02X, %zu bytes)", res->bytes[0], res->len);
        }
    }
    return acted;
}

size_t sim_meter_on_frame(sim_meter *m, const uint8_t *frame, size_t len, uint64_t now_ms,
                          uint8_t *out, size_t cap, char *log, size_t logcap)
{
    char dummy[8];
    /* No log wanted (benchmarks, bulk meters): skip the text formatting on
     * the success path; it costs as much as the digest (bench_txn). */
    bool want_log = log && logcap;
    if (!want_log) {
        log = dummy;
        logcap = sizeof dummy;
    }
    log[0] = 0;
    m->now_ms = now_ms;
    m->ctr.frames_rx++;
    sim_meter_tick(m, now_ms);
    sim_meter_advance(m, now_ms);

    /* docs/mep.md 10.5: ET51 bit7 "Disable MEP" stops all MEP operation. */
    const uint8_t *et51 = sim_comm_field(m->tables, MEP_ET(51), 0, 1);
    if (et51 && (et51[0] & 0x80)) {
        snprintf(log, logcap, "MEP disabled (ET51 bit7) -> dropped");
        return 0;
    }
    /* docs/mep.md 7.5: TLS and RC4 frames differ by the first body byte. */
    if (len >= 3 && mep_get_be16(frame) == len - 2 && is_tls_code(frame[2])) {
        size_t tn = 0;
        /* TLS faults (fault hook on_tls) act around sim_tls */
        sim_meter_fault_tls tf = {0};
        bool tfault = m->fh.on_tls && m->tls.on_message && m->fh.on_tls(m->fh.ctx, frame[2], now_ms, &tf);
        if (tfault) {
            m->ctr.pfault_acted++;
            if (tf.drop_session) {
                static const uint8_t forget[] = {MEP_TLS_TERMINATE, 0x00};
                uint8_t scratch[MEP_MAX_FRAME]; /* sim_tls wants a whole frame's room */
                m->tls.on_message(m->tls.ctx, forget, sizeof forget, scratch, sizeof scratch);
            }
        }
        if (m->tls.on_message && tfault && tf.fail_finished && len - 2 <= MEP_MAX_BODY) {
            uint8_t body[MEP_MAX_BODY];
            memcpy(body, frame + 2, len - 2);
            body[len - 3] ^= 0x01; /* last byte: the Finished record's GCM tag */
            tn = m->tls.on_message(m->tls.ctx, body, len - 2, out, cap);
        } else if (m->tls.on_message) {
            tn = m->tls.on_message(m->tls.ctx, frame + 2, len - 2, out, cap);
            if (tfault && tf.flip_reply && tn > 3 + 5 && out[2] == 0x00)
                out[3 + 5] ^= 0x01; /* handshake type of the first record (ServerHello) */
        } else if (cap >= 3) {
            out[0] = 0x00, out[1] = 0x01, out[2] = 0x01; /* TLS error: no TLS on this meter */
            tn = 3;
        }
        snprintf(log, logcap, "TLS 0x%02X len=%zu -> %s%s%s", frame[2], len - 2,
                 tn >= 3 ? (out[2] == 0 ? "OK" : "error") : "silent", tfault ? " (protocol fault " : "",
                 tfault ? tf.by : "");
        if (tfault && strlen(log) + 2 < logcap)
            strcat(log, ")");
        if (tn >= 3)
            m->ctr.responses[out[2]]++;
        return tn;
    }
    sim_meter_rc4_verdict gate = SIM_METER_RC4_ACCEPT;
    if (m->tls.rc4_gate)
        gate = m->tls.rc4_gate(m->tls.ctx);
    else if (m->profile->tls_required)
        gate = SIM_METER_RC4_REFUSE;
    if (gate != SIM_METER_RC4_ACCEPT) {
        size_t rn = 0;
        if (gate == SIM_METER_RC4_REFUSE && cap >= 3) {
            out[0] = 0x00, out[1] = 0x01, out[2] = MEP_RSP_ISSS; /* docs/mep.md 7.5 [E] */
            rn = 3;
            m->ctr.responses[MEP_RSP_ISSS]++;
        }
        snprintf(log, logcap, "RC4 frame refused (TLS) -> %s", rn ? "0x0A" : "silent");
        return rn;
    }

    sim_sec_exchange x;
    sim_sec_verdict v = sim_sec_open(&m->sec, frame, len, &x);
    size_t n = 0;
    switch (v) {
    case SIM_SEC_MALFORMED:
        m->ctr.frames_malformed++;
        snprintf(log, logcap, "MALFORMED len=%zu%s -> dropped", len,
                 len >= 2 && mep_get_be16(frame) != len - 2 ? " (length field disagrees)" : "");
        return 0;
    case SIM_SEC_AUTH_FAIL:
        m->ctr.auth_fail++;
        n = sim_sec_auth_reply(m->policy.auth_reply, out, cap);
        snprintf(log, logcap, "AUTH fail -> %s", n ? "0x0B" : "silent");
        if (n)
            m->ctr.responses[MEP_RSP_AUTH]++;
        return n;
    default:
        break;
    }

    /* Authenticated: a "successful request" for client health (docs/mep.md 5.6). */
    char note[200] = "";
    if (x.level == SIM_LEVEL_MAK)
        m->ctr.mak_requests++;
    else
        m->ctr.mbk_requests++;
    if (x.encrypted)
        m->ctr.encrypted_rx++;
    sim_comm_request_ok(&m->comm, m->tables, now_ms, note, sizeof note);

    if (v == SIM_SEC_SEQ_REJECT) {
        m->ctr.seq_rejects++;
        if (x.replay)
            m->ctr.replays++;
        if (m->fh.on_response) {
            /* the bare 0C + E the meter would send (sim_sec_seq_reply) */
            uint8_t bare[1 + MEP_SEQ_LEN];
            bare[0] = MEP_RSP_SEQ;
            mep_put_be32(bare + 1, m->policy.seq_reply == SIM_SEQ_REPLY_LAST ? m->sec.next_seq - 1u
                                                                              : m->sec.next_seq);
            mep_request rq;
            bool parsed = mep_request_parse(x.plain, x.plain_len - MEP_SEQ_LEN, &rq) == MEP_PARSE_OK;
            if (pfault_reply(m, frame, len, parsed ? &rq : NULL, &x, bare, sizeof bare, out, cap, &n, log,
                             logcap))
                return n;
        }
        n = sim_sec_seq_reply(&m->sec, &x, out, cap);
        m->ctr.responses[MEP_RSP_SEQ]++;
        snprintf(log, logcap, "SEQ rx=0x%08X want=0x%08X -> SEQ%s%s%s", (unsigned)x.rx_seq,
                 (unsigned)m->sec.next_seq, x.replay ? " (replay of the last accepted)" : "",
                 x.countless_read ? " (full read without count, strict policy)" : "", note);
        return n;
    }

    mirror_state(m);
    uint8_t resp[MEP_MAX_BODY];
    sim_psem_result res;
    size_t rl = sim_psem_dispatch(&m->psem, x.plain, x.plain_len - MEP_SEQ_LEN, x.level,
                                  MEP_MAX_READ_DATA, resp, sizeof resp, &res);
    mirror_state(m);
    if (m->fh.on_response && pfault_reply(m, frame, len, res.parse == MEP_PARSE_OK ? &res.req : NULL, &x, resp, rl, out,
                              cap, &n, log, logcap))
        return n;
    sim_sec_seal_result sr = sim_sec_seal(&x, resp, rl, out, cap, &n);
    if (sr != SIM_SEC_SEALED) {
        /* a dispatch result that cannot be framed: silence, and say why */
        snprintf(log, logcap, "reply of %zu bytes not sent: %s", rl, sim_sec_seal_name(sr));
        return 0;
    }
    m->ctr.responses[resp[0]]++;
    if (!want_log)
        return n;

    char what[96];
    describe_request(&res, what, sizeof what);
    char result[48];
    if (res.code == MEP_RSP_OK && (res.req.code == MEP_REQ_FULL_READ || res.req.code == MEP_REQ_PARTIAL_READ))
        snprintf(result, sizeof result, "OK %u bytes", (unsigned)res.data_bytes);
    else
        snprintf(result, sizeof result, "%s", mep_resp_name(res.code));
    bool paren = res.note[0] && res.note[0] != ' ';
    snprintf(log, logcap, "%s seq=0x%08X %s%s -> %s%s%s%s%s", what, (unsigned)x.rx_seq,
             sim_level_name(x.level), x.encrypted ? " enc" : "", result, paren ? " (" : "",
             res.note, paren ? ")" : "", note);
    return n;
}

void sim_meter_on_sent(sim_meter *m, uint64_t now_ms)
{
    m->now_ms = now_ms;
    sim_comm_on_sent(&m->comm, m->tables, &m->ctr);
}

uint32_t sim_meter_baud(const sim_meter *m)
{
    uint32_t b = sim_baud_from_code(m->comm.baud_code);
    return b ? b : 9600;
}

uint64_t sim_meter_tick(sim_meter *m, uint64_t now_ms)
{
    m->now_ms = now_ms;
    sim_proc_env e = proc_env(m);
    uint64_t a = sim_proc_tick(&m->proc, &e);
    uint64_t b = sim_comm_tick(&m->comm, m->tables, &m->clock, now_ms, &m->ctr);
    return a < b ? a : b;
}

bool sim_meter_alert_pending(const sim_meter *m)
{
    const uint8_t *et51 = sim_comm_field(m->tables, MEP_ET(51), 0, 1);
    if (et51 && (et51[0] & 0x80)) /* MEP disabled */
        return false;
    return sim_comm_alert_pending(m->tables);
}

void sim_meter_alert_sent(sim_meter *m, uint64_t now_ms)
{
    (void)now_ms;
    m->ctr.alerts_sent++;
}

void sim_meter_raise_alert(sim_meter *m, uint8_t et13_flags)
{
    sim_comm_set_alert(m->tables, et13_flags, 0);
}

void sim_meter_clear_alert(sim_meter *m, uint8_t et13_flags)
{
    sim_comm_set_alert(m->tables, 0, et13_flags);
}

static const char *const LINE_NAMES[SIM_METER_LINES] = {"transceiver", "enable"};

const char *sim_meter_line_name(sim_meter_line which)
{
    return (unsigned)which < SIM_METER_LINES ? LINE_NAMES[which] : "?";
}

bool sim_meter_line_parse(const char *name, sim_meter_line *out)
{
    for (unsigned i = 0; name && i < SIM_METER_LINES; i++)
        if (!strcmp(name, LINE_NAMES[i])) {
            *out = (sim_meter_line)i;
            return true;
        }
    return false;
}

void sim_meter_set_line(sim_meter *m, sim_meter_line which, bool on, uint64_t now_ms)
{
    (void)now_ms;
    if ((unsigned)which >= SIM_METER_LINES)
        return;
    m->ctr.line_events++;
    if (!on && which == SIM_METER_TRANSCEIVER)
        m->ctr.transceiver_off_events++;
    if (!on && which == SIM_METER_ENABLE)
        m->ctr.enable_off_events++;
    if (on)
        m->lines_off &= (uint8_t)~(1u << which);
    else
        m->lines_off |= (uint8_t)(1u << which);
}

bool sim_meter_line_on(const sim_meter *m, sim_meter_line which) { return !(m->lines_off & (1u << which)); }

void sim_meter_line_event(sim_meter *m, const char *line, bool on, uint64_t now_ms)
{
    sim_meter_line which;
    if (sim_meter_line_parse(line, &which))
        sim_meter_set_line(m, which, on, now_ms);
}

int64_t sim_meter_sim_now(const sim_meter *m, uint64_t now_ms) { return sim_clock_now(&m->clock, now_ms); }

void sim_meter_set_clock(sim_meter *m, uint64_t now_ms, int64_t sim_utc_ms)
{
    /* Like EP16: the clock steps, the model's integration moves with it so
     * no energy is booked (or repeated) for the skipped interval. */
    int64_t before = sim_clock_now(&m->clock, now_ms);
    sim_meter_advance(m, now_ms);
    sim_clock_set(&m->clock, now_ms, sim_utc_ms);
    m->model.t_ms += sim_utc_ms - before;
    m->model.next_step_ms += sim_utc_ms - before;
    sim_comm_reschedule(&m->comm, m->tables, sim_utc_ms);
}

void sim_meter_set_speed(sim_meter *m, uint64_t now_ms, double speed)
{
    sim_meter_advance(m, now_ms);
    sim_clock_set_speed(&m->clock, now_ms, speed);
}

void sim_meter_advance(sim_meter *m, uint64_t now_ms)
{
    sim_model_advance(&m->model, sim_clock_now(&m->clock, now_ms));
}

sim_model *sim_meter_model(sim_meter *m) { return &m->model; }
sim_tables *sim_meter_tables(sim_meter *m) { return m->tables; }
const sim_meter_counters *sim_meter_counters_get(const sim_meter *m) { return &m->ctr; }
const char *sim_meter_name(const sim_meter *m) { return m->name; }
uint32_t sim_meter_next_seq(const sim_meter *m) { return m->sec.next_seq; }
bool sim_meter_registered(const sim_meter *m) { return sim_comm_registered(m->tables); }
uint16_t sim_meter_handle(const sim_meter *m) { return sim_comm_handle(m->tables); }
uint8_t sim_meter_alert_flags(const sim_meter *m) { return sim_comm_alert_flags(m->tables); }
uint8_t sim_meter_device_status(const sim_meter *m) { return sim_comm_device_status(m->tables); }

void sim_meter_set_next_seq(sim_meter *m, uint32_t next_seq)
{
    m->sec.next_seq = next_seq;
    mirror_state(m);
}

void sim_meter_bump_idt(sim_meter *m)
{
    /* docs/mep.md 5.5 / 10.9: IDT Version (ET04.116) increments and the MEP
     * sequence number jumps by 25 so the client's next request earns 0x0C. */
    uint8_t *idt = sim_comm_field(m->tables, MEP_ET(4), 116, 1);
    if (idt)
        idt[0]++;
    if (m->policy.idt_bump_adds_25)
        m->sec.next_seq += 25u;
    mirror_state(m);
}

sim_clock *sim_meter_clock(sim_meter *m) { return &m->clock; }

uint64_t sim_meter_reply_delay_us(sim_meter *m)
{
    uint64_t us = (uint64_t)m->policy.reply_delay_ms * 1000u;
    if (m->policy.reply_jitter_ms)
        us += splitmix64(&m->rd) % ((uint64_t)m->policy.reply_jitter_ms * 1000u + 1u);
    return us;
}

void sim_meter_set_reply_delay(sim_meter *m, uint32_t delay_ms, uint32_t jitter_ms)
{
    m->policy.reply_delay_ms = delay_ms;
    m->policy.reply_jitter_ms = jitter_ms;
}

void sim_meter_set_proc_latency(sim_meter *m, uint32_t ms) { m->policy.proc_latency_ms = ms; }

const sim_policy *sim_meter_policy(const sim_meter *m) { return &m->policy; }

void sim_meter_set_fault_hooks(sim_meter *m, const sim_meter_fault_hooks *hooks)
{
    if (hooks)
        m->fh = *hooks;
    else
        memset(&m->fh, 0, sizeof m->fh);
}

void sim_meter_layout(const sim_meter *m, sim_layout *out)
{
    size_t sz = 0;
    const uint8_t *bt21 = sim_tables_raw(m->tables, MEP_BT(21), &sz);
    if (bt21 && sz >= 10)
        sim_layout_from_bt21(bt21, out);
    else
        sim_layout_from_bt21(m->profile->bt21, out);
}

void sim_meter_reboot(sim_meter *m, uint64_t now_ms)
{
    /* See sim_meter.h for what survives; docs/mep.md 5.5: E at power-up is the
     * configured start or random. */
    m->now_ms = now_ms;
    sim_meter_advance(m, now_ms);
    uint32_t e = m->has_seq_start ? m->seq_start : (uint32_t)splitmix64(&m->rs);
    m->sec.next_seq = e;
    sim_proc_init(&m->proc);
    m->ctr.reboots++;
    mirror_state(m);
}

void sim_meter_set_tls_hooks(sim_meter *m, const sim_meter_tls_hooks *hooks)
{
    if (hooks)
        m->tls = *hooks;
    else
        memset(&m->tls, 0, sizeof m->tls);
}

int sim_meter_tls_dispatch(void *ctx, sim_level level, const uint8_t *req, size_t n, uint8_t *resp,
                           size_t cap)
{
    sim_meter *m = ctx;
    if (!m || !req || !resp || cap < 3 || level == SIM_LEVEL_NONE)
        return -1;
    /* Inside TLS the reply limit is the record's plaintext room (cap). */
    char note[200] = "";
    sim_comm_request_ok(&m->comm, m->tables, m->now_ms, note, sizeof note);
    if (level == SIM_LEVEL_MAK)
        m->ctr.mak_requests++;
    else
        m->ctr.mbk_requests++;
    mirror_state(m);
    sim_psem_result res;
    size_t rl = sim_psem_dispatch(&m->psem, req, n, level, cap - 3, resp, cap, &res);
    mirror_state(m);
    return rl ? (int)rl : -1;
}

/* Optical port writes (docs/optical.md 3.3): the optical store only moves
 * bytes, so a write from the optical side runs the same side-effect hooks a
 * MEP write does (a BT07 write calls the procedure, ET52 runs transactions,
 * ET13/ET50 reconfigure communication). Optical access rights (MK/PK) were
 * already checked by sim_optical, so procedures run at the highest MEP
 * level (MAK): an MK may do everything the hardware lock allows (docs/optical.md 4). */
int sim_meter_optical_write(sim_meter *m, uint16_t table, uint32_t off, const uint8_t *data, uint32_t n,
                            uint64_t now_ms)
{
    if (!m || (!data && n))
        return -1;
    m->now_ms = now_ms;
    sim_meter_advance(m, now_ms);
    mirror_state(m);
    sim_psem_write w = {.table = table, .offset = off, .data = data, .n = n, .full = off == 0,
                        .level = SIM_LEVEL_MAK};
    char note[200] = "";
    m->optical_call = true;
    int r = -1;
    if (hook_before_write(m, &w, note, sizeof note) == 0) {
        r = sim_tables_write(m->tables, table, off, data, n);
        if (r >= 0)
            hook_after_write(m, &w, note, sizeof note);
    }
    m->optical_call = false;
    mirror_state(m);
    return r;
}

/* ---- persistent state ------------------------------------------------------ */
/* Tables that carry on across a restart: what a client may write over MEP
 * (docs/mep.md App. C, sim_access) and what the meter itself keeps about its
 * client (BT03 alarms, ET04 IDT version, ET13 alerts/baud, ET14 status, ET16 results,
 * ET51 configuration written over the optical port). Not the procedure call
 * and response tables (BT07, BT08), a transaction in progress (ET52, ET59),
 * or the rendered BT23 (its values are the model's registers). */
static bool state_table(uint16_t id)
{
    if (id == MEP_BT(7) || id == MEP_BT(8) || id == MEP_BT(23) || id == MEP_BT(28) || id == MEP_BT(52) ||
        id == MEP_BT(55) || id == MEP_ET(52) || id == MEP_ET(59))
        return false;
    return id == MEP_BT(3) || id == MEP_ET(4) || id == MEP_ET(13) || id == MEP_ET(14) || id == MEP_ET(16) || id == MEP_ET(51) ||
           sim_access_can_write(id, SIM_LEVEL_MAK);
}

int sim_meter_state_get(sim_meter *m, uint64_t now_ms, int64_t wall_utc_ms, sim_state *out)
{
    memset(out, 0, sizeof *out);
    m->now_ms = now_ms;
    sim_meter_advance(m, now_ms);
    mirror_state(m);
    snprintf(out->profile, sizeof out->profile, "%s", m->profile->name);
    snprintf(out->meter_serial, sizeof out->meter_serial, "%s", m->profile->meter_serial);
    snprintf(out->utility_serial, sizeof out->utility_serial, "%s", m->profile->utility_serial);
    out->saved_utc_ms = wall_utc_ms;
    out->sim_utc_ms = sim_clock_now(&m->clock, now_ms);
    out->speed = m->clock.speed;
    out->next_seq = m->sec.next_seq;
    sim_state_model_get(&out->model, &m->model);
    uint16_t ids[128];
    size_t n = sim_tables_list(m->tables, ids, sizeof ids / sizeof ids[0]);
    for (size_t i = 0; i < n; i++) {
        if (!state_table(ids[i]))
            continue;
        size_t size = 0;
        const uint8_t *raw = sim_tables_raw(m->tables, ids[i], &size);
        if (raw && sim_state_add_table(out, ids[i], raw, size) != 0) {
            sim_state_clear(out);
            return -1;
        }
    }
    return 0;
}

static void state_table_name(uint16_t id, char buf[8])
{
    if (id >= MEP_ET(0))
        snprintf(buf, 8, "ET%02u", (unsigned)(id - MEP_ET(0)) % 1000u);
    else
        snprintf(buf, 8, "BT%02u", (unsigned)id % 1000u);
}

static sim_meter_state_result state_check(const sim_meter *m, const sim_state *st, char *err, size_t errlen)
{
    if (strcmp(st->profile, m->profile->name)) {
        snprintf(err, errlen, "saved for profile \"%s\", this meter runs profile \"%s\"", st->profile,
                 m->profile->name);
        return SIM_METER_STATE_MISMATCH;
    }
    if (strcmp(st->meter_serial, m->profile->meter_serial) || strcmp(st->utility_serial, m->profile->utility_serial)) {
        snprintf(err, errlen, "saved for meter serial %s / utility serial \"%s\", this meter is %s / \"%s\"",
                 st->meter_serial, st->utility_serial, m->profile->meter_serial, m->profile->utility_serial);
        return SIM_METER_STATE_MISMATCH;
    }
    for (size_t i = 0; i < st->n_tables; i++) {
        char tn[8];
        state_table_name(st->tables[i].id, tn);
        size_t size = 0;
        if (!state_table(st->tables[i].id) || !sim_tables_raw(m->tables, st->tables[i].id, &size)) {
            snprintf(err, errlen, "tables.%s: not a table this meter keeps", tn);
            return SIM_METER_STATE_MISMATCH;
        }
        if (size != st->tables[i].len) {
            snprintf(err, errlen, "tables.%s: %zu bytes saved, this meter's table has %zu", tn, st->tables[i].len,
                     size);
            return SIM_METER_STATE_MISMATCH;
        }
    }
    return SIM_METER_STATE_OK;
}

sim_meter_state_result sim_meter_state_apply(sim_meter *m, const sim_state *st, uint64_t now_ms,
                                             int64_t wall_utc_ms, char *err, size_t errlen)
{
    if (state_check(m, st, err, errlen) != SIM_METER_STATE_OK)
        return SIM_METER_STATE_MISMATCH;
    for (size_t i = 0; i < st->n_tables; i++) {
        size_t size = 0;
        uint8_t *raw = sim_tables_raw(m->tables, st->tables[i].id, &size);
        memcpy(raw, st->tables[i].bytes, size);
    }
    /* The meter kept running while the process was down (sim_state.h). */
    int64_t down_ms = wall_utc_ms > st->saved_utc_ms ? wall_utc_ms - st->saved_utc_ms : 0;
    int64_t sim_now = st->sim_utc_ms + (int64_t)((double)down_ms * st->speed);
    m->now_ms = now_ms;
    sim_clock_init(&m->clock, now_ms, sim_now, m->clock.speed);
    sim_state_model_put(&st->model, &m->model);
    if (m->model.t_ms > sim_now) /* saved model ahead of its clock: keep the registers, move the time */
        sim_model_rebase(&m->model, sim_now);
    m->sec.next_seq = st->next_seq;
    sim_comm_init(&m->comm, m->tables, sim_now, now_ms);
    sim_tables_invalidate(m->tables);
    mirror_state(m);
    sim_meter_advance(m, now_ms);
    return SIM_METER_STATE_OK;
}
