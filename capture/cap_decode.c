/* cap_decode: captured frames as -v log lines (see cap_decode.h). */
#include "cap_decode.h"
#include "cap_frames.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mep_frame.h"
#include "sim_optical.h"
#include "sim_optical_link.h"

void cap_decode_time(uint64_t ts_us, char out[16])
{
    time_t sec = (time_t)(ts_us / 1000000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(out, 16, "%02d:%02d:%02d.%03u", tm.tm_hour % 24, tm.tm_min % 60, tm.tm_sec % 61,
             (unsigned)(ts_us % 1000000u / 1000u));
}

void cap_decode_printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7E)
            *s = '.';
}

void cap_decode_init(cap_decoder *d, cap_decode_out out, void *ctx)
{
    memset(d, 0, sizeof *d);
    d->out = out;
    d->ctx = ctx;
}

static bool is_tls_code(uint8_t c)
{
    return c == MEP_TLS_TERMINATE || c == MEP_TLS_HANDSHAKE || c == MEP_TLS_HANDSHAKE_CONT || c == MEP_TLS_TABLE;
}

/* The words of the meter's request line (simulator/mep/sim_meter.c). */
void cap_decode_mep_request(const uint8_t *bare, size_t n, char *out, size_t cap)
{
    char tn[8], pn[8];
    mep_request q;
    if (mep_request_parse(bare, n, &q) != MEP_PARSE_OK) {
        snprintf(out, cap, "REQ code=0x%02X", n ? bare[0] : 0);
        return;
    }
    switch (q.code) {
    case MEP_REQ_FULL_READ:
        snprintf(out, cap, "READ %s full", mep_table_name(q.table, tn));
        break;
    case MEP_REQ_PARTIAL_READ:
        snprintf(out, cap, "READ %s off=%u n=%u", mep_table_name(q.table, tn), (unsigned)q.offset,
                 (unsigned)q.count);
        break;
    default:
        if (q.table == MEP_BT(7) && q.data_len >= 3 && (q.code == MEP_REQ_FULL_WRITE || q.offset == 0))
            snprintf(out, cap, "CALL %s psn=%u params=%u",
                     mep_proc_name((uint16_t)(mep_get_le16(q.data) & 0x0FFF), pn), q.data[2],
                     (unsigned)q.data_len - 3u);
        else if (q.code == MEP_REQ_FULL_WRITE)
            snprintf(out, cap, "WRITE %s n=%u", mep_table_name(q.table, tn), (unsigned)q.data_len);
        else
            snprintf(out, cap, "WRITE %s off=%u n=%u", mep_table_name(q.table, tn), (unsigned)q.offset,
                     (unsigned)q.data_len);
        break;
    }
}

/* A plaintext request parses and its length is what its code implies
 * (docs/mep.md 3.6); an encrypted body almost never does both. */
static bool plain_request(const uint8_t *bare, size_t n)
{
    mep_request q;
    if (mep_request_parse(bare, n, &q) != MEP_PARSE_OK)
        return false;
    uint8_t again[MEP_MAX_FRAME];
    return mep_request_encode(&q, again, sizeof again) == n;
}

static void emit(cap_decoder *d, uint32_t ifid, uint64_t ts, const char *text, const char *note)
{
    /* text, then " [note]" when there is one, cut to the line */
    char line[4 * CAP_DECODE_LINE];
    size_t k = 0;
    const char *parts[4] = {text, note[0] ? " [" : "", note, note[0] ? "]" : ""};
    for (int i = 0; i < 4; i++) {
        size_t n = strnlen(parts[i], sizeof line - 1 - k);
        memcpy(line + k, parts[i], n);
        k += n;
    }
    line[k] = 0;
    d->out(d->ctx, ifid, ts, line);
}

static void flush_pending(cap_decoder *d, uint32_t ifid)
{
    cap_decode_if *f = &d->ifs[ifid % CAP_DECODE_IFS];
    if (!f->pending)
        return;
    char line[CAP_DECODE_LINE + 16];
    snprintf(line, sizeof line, "%s (no answer)", f->text);
    f->pending = false;
    emit(d, ifid, f->ts_us, line, f->note);
}

static void hold(cap_decoder *d, uint32_t ifid, uint64_t ts, const char *text, const char *note)
{
    flush_pending(d, ifid);
    cap_decode_if *f = &d->ifs[ifid % CAP_DECODE_IFS];
    f->pending = true;
    f->ts_us = ts;
    snprintf(f->text, sizeof f->text, "%s", text);
    snprintf(f->note, sizeof f->note, "%s", note);
}

/* An answer: one line with the held request, or on its own. */
static void answer(cap_decoder *d, uint32_t ifid, uint64_t ts, const char *result, const char *note)
{
    cap_decode_if *f = &d->ifs[ifid % CAP_DECODE_IFS];
    char line[2 * CAP_DECODE_LINE];
    if (f->pending)
        snprintf(line, sizeof line, "%s -> %s", f->text, result);
    else
        snprintf(line, sizeof line, "reply -> %s", result);
    uint64_t when = f->pending ? f->ts_us : ts;
    char notes[2 * CAP_DECODE_LINE];
    bool both = f->pending && f->note[0] && note[0];
    snprintf(notes, sizeof notes, "%s%s%s", f->pending ? f->note : "", both ? "; " : "", note);
    f->pending = false;
    emit(d, ifid, when, line, notes);
}

static void mep_to_meter(cap_decoder *d, uint32_t ifid, uint64_t ts, const uint8_t *p, size_t n, const char *note)
{
    cap_decode_if *f = &d->ifs[ifid % CAP_DECODE_IFS];
    size_t body = n - 2;
    char text[CAP_DECODE_LINE];
    if (body == 0) {
        emit(d, ifid, ts, "client sent 00 00 (alert sequence is server->client only)", note);
        return;
    }
    bool tls = is_tls_code(p[2]), enc = false, read = false;
    if (tls) {
        snprintf(text, sizeof text, "TLS 0x%02X len=%zu", p[2], body);
    } else if (body < 1 + MEP_SEQ_LEN + 8) {
        snprintf(text, sizeof text, "MALFORMED len=%zu", body);
    } else {
        const uint8_t *bare = p + 2;
        size_t bl = body - MEP_SEQ_LEN - 8;
        uint32_t seq = mep_get_be32(bare + bl);
        if (plain_request(bare, bl)) {
            char what[160];
            cap_decode_mep_request(bare, bl, what, sizeof what);
            snprintf(text, sizeof text, "%s seq=0x%08X", what, (unsigned)seq);
            read = bare[0] == MEP_REQ_FULL_READ || bare[0] == MEP_REQ_PARTIAL_READ;
        } else {
            enc = true;
            snprintf(text, sizeof text, "RC4 request len=%zu enc (not decrypted: no key)", body);
        }
    }
    hold(d, ifid, ts, text, note);
    f->tls = tls;
    f->encrypted = enc;
    f->read = read;
}

static void mep_from_meter(cap_decoder *d, uint32_t ifid, uint64_t ts, const uint8_t *p, size_t n, const char *note)
{
    cap_decode_if *f = &d->ifs[ifid % CAP_DECODE_IFS];
    size_t body = n - 2;
    char result[96];
    if (body == 0) {
        emit(d, ifid, ts, "alert 00 00", note);
        return;
    }
    uint8_t code = p[2];
    if (f->pending && f->tls)
        snprintf(result, sizeof result, "%s (%zu bytes of TLS data)", code == 0 ? "OK" : "error", body - 1);
    else if (f->pending && f->encrypted && code != MEP_RSP_AUTH)
        snprintf(result, sizeof result, "enc reply of %zu bytes", body);
    else if (code == MEP_RSP_OK && f->pending && f->read && body >= 1 + 2 + 8)
        snprintf(result, sizeof result, "OK %u bytes", (unsigned)mep_get_be16(p + 3));
    else if (code == MEP_RSP_SEQ && body >= 1 + MEP_SEQ_LEN)
        snprintf(result, sizeof result, "SEQ (next 0x%08X)", (unsigned)mep_get_be32(p + 3));
    else
        snprintf(result, sizeof result, "%s", mep_resp_name(code));
    answer(d, ifid, ts, result, note);
}

static void psem_request(cap_decoder *d, uint32_t ifid, uint64_t ts, const uint8_t *q, size_t n, const char *note)
{
    cap_decode_if *f = &d->ifs[ifid % CAP_DECODE_IFS];
    char text[CAP_DECODE_LINE], tn[8];
    uint8_t c = q[0];
    const char *name = sim_optical_req_name(c);
    bool table = (c == SIM_OPTICAL_FULL_READ || c == SIM_OPTICAL_PARTIAL_READ || c == SIM_OPTICAL_FULL_WRITE ||
                  c == SIM_OPTICAL_PARTIAL_WRITE) && n >= 3;
    if (table && (c == SIM_OPTICAL_PARTIAL_READ || c == SIM_OPTICAL_PARTIAL_WRITE) && n >= 8)
        snprintf(text, sizeof text, "%s %s off=%u n=%u", name, mep_table_name(mep_get_be16(q + 1), tn),
                 (unsigned)mep_get_be24(q + 3), (unsigned)mep_get_be16(q + 6));
    else if (table)
        snprintf(text, sizeof text, "%s %s", name, mep_table_name(mep_get_be16(q + 1), tn));
    else if (c == SIM_OPTICAL_LOGON && n >= 3)
        snprintf(text, sizeof text, "%s user-id %u", name, (unsigned)mep_get_be16(q + 1));
    else
        snprintf(text, sizeof text, "%s", name);
    hold(d, ifid, ts, text, note);
    f->tls = f->encrypted = false;
    f->read = c == SIM_OPTICAL_FULL_READ || c == SIM_OPTICAL_PARTIAL_READ;
}

static void c1218_packet(cap_decoder *d, uint32_t ifid, uint64_t ts, bool to_meter, const uint8_t *p, size_t n,
                         const char *note)
{
    sim_optical_packet pk;
    sim_optical_pkt_result r = sim_optical_packet_parse(p, n, &pk);
    char text[CAP_DECODE_LINE];
    if (r != SIM_OPTICAL_PKT_OK) {
        snprintf(text, sizeof text, "C12.18 packet %s (%zu bytes)", sim_optical_pkt_result_name(r), n);
        emit(d, ifid, ts, text, note);
        return;
    }
    if ((pk.ctrl & SIM_OPTICAL_CTRL_MULTI) && !(pk.ctrl & SIM_OPTICAL_CTRL_FIRST)) {
        snprintf(text, sizeof text, "C12.18 packet of a multi-packet set, %u to follow, %u bytes", pk.seq,
                 (unsigned)pk.length);
        emit(d, ifid, ts, text, note);
        return;
    }
    if (!pk.length)
        return;
    if (to_meter) {
        psem_request(d, ifid, ts, pk.data, pk.length, note);
        return;
    }
    cap_decode_if *f = &d->ifs[ifid % CAP_DECODE_IFS];
    char result[96];
    uint8_t c = pk.data[0];
    if (c == SIM_OPTICAL_OK && f->pending && f->read && pk.length >= 3)
        snprintf(result, sizeof result, "%s %u bytes", sim_optical_rsp_name(c), (unsigned)mep_get_be16(pk.data + 1));
    else
        snprintf(result, sizeof result, "%s", sim_optical_rsp_name(c));
    answer(d, ifid, ts, result, note);
}

void cap_decode_packet(cap_decoder *d, uint32_t ifid, uint64_t ts_us, const uint8_t *p, size_t n,
                       const char *comment, size_t comment_len)
{
    char note[300];
    snprintf(note, sizeof note, "%.*s", (int)(comment_len < sizeof note ? comment_len : sizeof note - 1),
             comment ? comment : "");
    cap_decode_printable(note);
    if (n < CAP_HDR_LEN) {
        emit(d, ifid, ts_us, "packet without the mepsim header", note);
        return;
    }
    bool to_meter = p[0] == CAP_DIR_TO_METER;
    const uint8_t *b = p + CAP_HDR_LEN;
    size_t bn = n - CAP_HDR_LEN;
    char text[CAP_DECODE_LINE];
    switch ((cap_frame_type)p[2]) {
    case CAP_FRAME_MEP:
        if (bn >= 2 && (p[3] & CAP_FLAG_INCOMPLETE) == 0) {
            (to_meter ? mep_to_meter : mep_from_meter)(d, ifid, ts_us, b, bn, note);
            return;
        }
        snprintf(text, sizeof text, "%s partial MEP frame, %zu bytes", to_meter ? "->" : "<-", bn);
        break;
    case CAP_FRAME_C1218:
        if ((p[3] & CAP_FLAG_INCOMPLETE) == 0) {
            c1218_packet(d, ifid, ts_us, to_meter, b, bn, note);
            return;
        }
        snprintf(text, sizeof text, "%s partial C12.18 packet, %zu bytes", to_meter ? "->" : "<-", bn);
        break;
    case CAP_FRAME_C1218_ACK:
        if (note[0] == 0)
            return; /* -v does not log link ACKs */
        snprintf(text, sizeof text, "%s %s", to_meter ? "->" : "<-", bn && b[0] == SIM_OPTICAL_NAK ? "NAK" : "ACK");
        break;
    default: {
        size_t o = (size_t)snprintf(text, sizeof text, "%s raw %zu bytes:", to_meter ? "->" : "<-", bn);
        for (size_t i = 0; i < bn && i < 32 && o + 4 < sizeof text; i++)
            o += (size_t)snprintf(text + o, sizeof text - o, " %02X", b[i]);
        if (bn > 32 && o + 4 < sizeof text)
            snprintf(text + o, sizeof text - o, " ...");
        break;
    }
    }
    emit(d, ifid, ts_us, text, note);
}

void cap_decode_finish(cap_decoder *d)
{
    for (uint32_t i = 0; i < CAP_DECODE_IFS; i++)
        flush_pending(d, i);
}
