/* sim_optical_link: C12.18 packet layer of the optical port (see
 * sim_optical_link.h). Every rule cites docs/optical.md section 2. */
#include "sim_optical_link.h"

#include <string.h>

/* ---- CRC (docs/optical.md 2.2) ---------------------------------------------- */
static uint16_t crc_update(uint16_t crc, const uint8_t *p, size_t n)
{
    while (n--) {
        crc ^= *p++;
        for (int i = 0; i < 8; i++)
            crc = (crc & 1u) ? (uint16_t)((crc >> 1) ^ 0x8408u) : (uint16_t)(crc >> 1);
    }
    return crc;
}

uint16_t sim_optical_crc(const uint8_t *p, size_t n)
{
    return (uint16_t)~crc_update(0xFFFFu, p, n);
}

bool sim_optical_crc_residue_ok(const uint8_t *packet, size_t n)
{
    return n >= 2 && crc_update(0xFFFFu, packet, n) == 0xF0B8u;
}

/* ---- one packet ---------------------------------------------------------- */
const char *sim_optical_pkt_result_name(sim_optical_pkt_result r)
{
    switch (r) {
    case SIM_OPTICAL_PKT_OK: return "ok";
    case SIM_OPTICAL_PKT_NO_STP: return "first byte is not 0xEE";
    case SIM_OPTICAL_PKT_SHORT: return "packet shorter than its length field says";
    case SIM_OPTICAL_PKT_LONG: return "packet longer than its length field says";
    case SIM_OPTICAL_PKT_LENGTH: return "length field above 8184";
    case SIM_OPTICAL_PKT_CRC: return "CRC mismatch";
    }
    return "?";
}

sim_optical_pkt_result sim_optical_packet_parse(const uint8_t *p, size_t n, sim_optical_packet *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1 || p[0] != SIM_OPTICAL_STP)
        return SIM_OPTICAL_PKT_NO_STP;
    if (n < SIM_OPTICAL_OVERHEAD)
        return SIM_OPTICAL_PKT_SHORT;
    out->identity = p[1];
    out->ctrl = p[2];
    out->seq = p[3];
    out->length = (uint16_t)((p[4] << 8) | p[5]); /* BIG-endian (2.1) */
    if (out->length > SIM_OPTICAL_MAX_PACKET_DATA)
        return SIM_OPTICAL_PKT_LENGTH;
    if (n < (size_t)out->length + SIM_OPTICAL_OVERHEAD)
        return SIM_OPTICAL_PKT_SHORT;
    if (n > (size_t)out->length + SIM_OPTICAL_OVERHEAD)
        return SIM_OPTICAL_PKT_LONG;
    out->data = p + SIM_OPTICAL_HEADER;
    out->crc = (uint16_t)(p[6 + out->length] | (p[7 + out->length] << 8)); /* low byte first */
    if (sim_optical_crc(p, SIM_OPTICAL_HEADER + (size_t)out->length) != out->crc)
        return SIM_OPTICAL_PKT_CRC;
    return SIM_OPTICAL_PKT_OK;
}

size_t sim_optical_packet_encode(uint8_t identity, uint8_t ctrl, uint8_t seq, const uint8_t *data,
                                 size_t n, uint8_t *out, size_t cap)
{
    if (n > SIM_OPTICAL_MAX_PACKET_DATA || cap < n + SIM_OPTICAL_OVERHEAD)
        return 0;
    out[0] = SIM_OPTICAL_STP;
    out[1] = identity;
    out[2] = ctrl;
    out[3] = seq;
    out[4] = (uint8_t)(n >> 8);
    out[5] = (uint8_t)n;
    if (n)
        memcpy(out + SIM_OPTICAL_HEADER, data, n);
    uint16_t crc = sim_optical_crc(out, SIM_OPTICAL_HEADER + n);
    out[6 + n] = (uint8_t)crc;
    out[7 + n] = (uint8_t)(crc >> 8);
    return n + SIM_OPTICAL_OVERHEAD;
}

/* ---- link ---------------------------------------------------------------- */
/* Milliseconds from since to now; 0 if the clock went backwards. */
static uint64_t elapsed(uint64_t now_ms, uint64_t since_ms)
{
    return now_ms > since_ms ? now_ms - since_ms : 0;
}

void sim_optical_link_timing_defaults(sim_optical_link_timing *t)
{
    t->interchar_ms = SIM_OPTICAL_INTERCHAR_MS;
    t->ack_timeout_ms = SIM_OPTICAL_ACK_TIMEOUT_MS;
    t->retries = SIM_OPTICAL_RETRIES;
}

void sim_optical_link_init(sim_optical_link *l, const sim_optical_link_timing *t)
{
    memset(l, 0, sizeof *l);
    if (t)
        l->timing = *t;
    else
        sim_optical_link_timing_defaults(&l->timing);
    sim_optical_link_reset(l);
}

static void tx_clear(sim_optical_link *l)
{
    l->tx_len = l->tx_sent = 0;
    l->tx_count = l->tx_index = 0;
    l->tx_pkt_len = 0;
    l->waiting_ack = false;
    l->retries_left = 0;
    l->ack_deadline = 0;
    l->tx_held = false;
    l->tx_hold_until = 0;
}

void sim_optical_link_reset(sim_optical_link *l)
{
    l->rx_have = l->rx_need = 0;
    l->have_last = false;
    l->assembling = false;
    l->msg_len = 0;
    l->force_nak = false;
    l->identity = 0;
    l->packet_size = SIM_OPTICAL_DEFAULT_PACKET_SIZE;
    l->nbr_packets = SIM_OPTICAL_DEFAULT_NBR_PACKETS;
    l->tx_toggle = 0;
    tx_clear(l);
}

void sim_optical_link_reset_toggle(sim_optical_link *l) { l->tx_toggle = 0; }
void sim_optical_link_forget(sim_optical_link *l) { l->have_last = false; }
void sim_optical_link_force_nak(sim_optical_link *l) { l->force_nak = true; }
bool sim_optical_link_busy(const sim_optical_link *l) { return l->waiting_ack; }
void sim_optical_link_abandon(sim_optical_link *l) { tx_clear(l); }

void sim_optical_link_set_sizes(sim_optical_link *l, uint16_t packet_size, uint8_t nbr_packets)
{
    if (packet_size < SIM_OPTICAL_OVERHEAD + 1)
        packet_size = SIM_OPTICAL_OVERHEAD + 1;
    if (packet_size > SIM_OPTICAL_MAX_PACKET)
        packet_size = SIM_OPTICAL_MAX_PACKET;
    l->packet_size = packet_size;
    l->nbr_packets = nbr_packets ? nbr_packets : 1;
}

size_t sim_optical_link_capacity(const sim_optical_link *l)
{
    /* 2.6: (packet_size - 8) * nbr_packets bytes of PSEM data per message */
    size_t c = (size_t)(l->packet_size - SIM_OPTICAL_OVERHEAD) * l->nbr_packets;
    return c < SIM_OPTICAL_MAX_MESSAGE ? c : SIM_OPTICAL_MAX_MESSAGE;
}

const uint8_t *sim_optical_link_message(const sim_optical_link *l, size_t *len)
{
    *len = l->msg_len;
    return l->msg;
}

/* Append bytes to the caller's output if they fit (they always do with
 * cap >= SIM_OPTICAL_OUT_MAX: one call emits at most ACK + one packet). */
static void emit(uint8_t *out, size_t cap, size_t *n, const uint8_t *p, size_t len)
{
    if (*n + len <= cap) {
        memcpy(out + *n, p, len);
        *n += len;
    }
}

static void emit_byte(uint8_t *out, size_t cap, size_t *n, uint8_t b) { emit(out, cap, n, &b, 1); }

/* The response timer (2.5) runs from when the packet's last byte is on the
 * wire: the port paces a packet at 10 bit times per byte (docs/optical.md 1). */
static uint64_t ack_deadline(const sim_optical_link *l, uint64_t now_ms)
{
    uint64_t wire_ms = l->wire_baud ? ((uint64_t)l->tx_pkt_len * 10u * 1000u + l->wire_baud - 1) / l->wire_baud : 0;
    return now_ms + wire_ms + l->timing.ack_timeout_ms;
}

/* Build packet tx_index of the outstanding reply into tx_pkt (2.6). A new
 * packet flips our toggle; retransmissions reuse tx_pkt unchanged (2.4). */
static void build_packet(sim_optical_link *l, uint64_t now_ms)
{
    size_t slice = (size_t)l->packet_size - SIM_OPTICAL_OVERHEAD;
    size_t n = l->tx_len - l->tx_sent;
    if (n > slice)
        n = slice;
    uint8_t ctrl = l->tx_toggle;
    uint8_t seq = 0;
    if (l->tx_count > 1) {
        ctrl |= SIM_OPTICAL_CTRL_MULTI;
        if (l->tx_index == 0)
            ctrl |= SIM_OPTICAL_CTRL_FIRST;
        seq = (uint8_t)(l->tx_count - 1 - l->tx_index); /* counts down, last = 0 */
    }
    l->tx_pkt_len = sim_optical_packet_encode(l->identity, ctrl, seq, l->tx_msg + l->tx_sent, n,
                                              l->tx_pkt, sizeof l->tx_pkt);
    l->tx_sent += n;
    l->tx_toggle ^= SIM_OPTICAL_CTRL_TOGGLE;
    l->waiting_ack = true;
    l->retries_left = l->timing.retries;
    l->ack_deadline = ack_deadline(l, now_ms);
}

size_t sim_optical_link_send(sim_optical_link *l, const uint8_t *msg, size_t len, uint64_t now_ms,
                             uint8_t *out, size_t cap)
{
    tx_clear(l);
    if (len == 0 || len > sim_optical_link_capacity(l))
        return 0;
    size_t slice = (size_t)l->packet_size - SIM_OPTICAL_OVERHEAD;
    memcpy(l->tx_msg, msg, len);
    l->tx_len = len;
    l->tx_count = (unsigned)((len + slice - 1) / slice);
    l->tx_index = 0;
    build_packet(l, now_ms);
    size_t n = 0;
    emit(out, cap, &n, l->tx_pkt, l->tx_pkt_len);
    return n;
}

long sim_optical_link_send_after(sim_optical_link *l, const uint8_t *msg, size_t len, uint64_t now_ms,
                                 uint32_t delay_ms, uint8_t *out, size_t cap)
{
    if (delay_ms == 0) {
        size_t n = sim_optical_link_send(l, msg, len, now_ms, out, cap);
        return n ? (long)n : -1;
    }
    tx_clear(l);
    if (len == 0 || len > sim_optical_link_capacity(l))
        return -1;
    size_t slice = (size_t)l->packet_size - SIM_OPTICAL_OVERHEAD;
    memcpy(l->tx_msg, msg, len);
    l->tx_len = len;
    l->tx_count = (unsigned)((len + slice - 1) / slice);
    l->tx_index = 0;
    uint64_t at = now_ms + delay_ms;
    build_packet(l, at);
    l->tx_held = true;
    l->tx_hold_until = at;
    return 0;
}

/* The current packet was acknowledged: next packet of the set, or done. */
static void packet_acked(sim_optical_link *l, uint64_t now_ms, uint8_t *out, size_t cap, size_t *n,
                         unsigned *ev)
{
    l->waiting_ack = false;
    if (l->tx_index + 1 < l->tx_count) {
        l->tx_index++;
        build_packet(l, now_ms);
        emit(out, cap, n, l->tx_pkt, l->tx_pkt_len);
    } else {
        tx_clear(l);
        *ev |= SIM_OPTICAL_LINK_REPLY_DONE;
    }
}

/* NAK or response timeout (2.5): resend the identical bytes, or give up. */
static void packet_retry(sim_optical_link *l, uint64_t now_ms, uint8_t *out, size_t cap, size_t *n,
                         unsigned *ev)
{
    if (l->retries_left == 0) {
        tx_clear(l);
        *ev |= SIM_OPTICAL_LINK_REPLY_FAILED; /* [E] session state is kept */
        return;
    }
    l->retries_left--;
    l->ack_deadline = ack_deadline(l, now_ms);
    emit(out, cap, n, l->tx_pkt, l->tx_pkt_len);
    *ev |= SIM_OPTICAL_LINK_RETRANSMIT;
}

/* A complete packet is in rx[0..rx_need): check it and act (2.3-2.6). */
static void on_packet(sim_optical_link *l, uint8_t *out, size_t cap, size_t *n, unsigned *ev)
{
    size_t total = l->rx_need;
    l->rx_have = l->rx_need = 0;
    if (!sim_optical_crc_residue_ok(l->rx, total)) {
        emit_byte(out, cap, n, SIM_OPTICAL_NAK); /* 2.3 step 4 */
        *ev |= SIM_OPTICAL_LINK_CRC_ERROR;
        return;
    }
    if (l->force_nak) {
        l->force_nak = false;
        emit_byte(out, cap, n, SIM_OPTICAL_NAK); /* 6: first packet lost in the UART switch */
        *ev |= SIM_OPTICAL_LINK_FORCED_NAK;
        return;
    }
    uint8_t ctrl = l->rx[2], seq = l->rx[3];
    size_t len = total - SIM_OPTICAL_OVERHEAD;
    const uint8_t *data = l->rx + SIM_OPTICAL_HEADER;
    uint16_t crc = (uint16_t)(l->rx[total - 2] | (l->rx[total - 1] << 8));
    uint8_t toggle = ctrl & SIM_OPTICAL_CTRL_TOGGLE;

    *ev |= SIM_OPTICAL_LINK_PACKET;
    emit_byte(out, cap, n, SIM_OPTICAL_ACK); /* 2.3 step 5: ACK at once */

    /* 2.4: same toggle and CRC as the last valid packet = duplicate, except
     * an Identify (toggle undefined at session start). */
    bool identify = !(ctrl & SIM_OPTICAL_CTRL_MULTI) && len == 1 && data[0] == 0x20;
    if (l->have_last && toggle == l->last_toggle && crc == l->last_crc && !identify) {
        *ev |= SIM_OPTICAL_LINK_DUPLICATE; /* keep any retransmission timer running */
        return;
    }
    l->have_last = true;
    l->last_toggle = toggle;
    l->last_crc = crc;
    l->identity = l->rx[1]; /* 2.1: reply with the identity received */

    /* 2.5 implicit ACK: a new packet while we wait acknowledges our packet
     * (ir-eye and the real NES meter work this way). */
    if (l->waiting_ack && l->tx_held) {
        *ev |= SIM_OPTICAL_LINK_REPLY_CUT; /* the client did not wait for the reply */
        tx_clear(l);
    } else if (l->waiting_ack) {
        *ev |= SIM_OPTICAL_LINK_IMPLICIT_ACK;
        *ev |= (l->tx_index + 1 < l->tx_count) ? SIM_OPTICAL_LINK_REPLY_CUT : SIM_OPTICAL_LINK_REPLY_DONE;
        tx_clear(l);
    }

    /* 2.6 reassembly */
    if (!(ctrl & SIM_OPTICAL_CTRL_MULTI)) {
        if (l->assembling)
            *ev |= SIM_OPTICAL_LINK_SET_DROPPED;
        l->assembling = false;
        memcpy(l->msg, data, len); /* len <= MAX_PACKET_DATA < MAX_MESSAGE */
        l->msg_len = len;
        *ev |= SIM_OPTICAL_LINK_MESSAGE;
        return;
    }
    if (ctrl & SIM_OPTICAL_CTRL_FIRST) {
        if (l->assembling)
            *ev |= SIM_OPTICAL_LINK_SET_DROPPED;
        l->assembling = true;
        l->msg_len = 0;
    } else if (!l->assembling || seq != l->expect_seq) {
        /* [E] a gap in the set (or a continuation without a first): drop it */
        if (l->assembling || seq != 0)
            *ev |= SIM_OPTICAL_LINK_SET_DROPPED;
        l->assembling = false;
        l->msg_len = 0;
        return;
    }
    if (l->msg_len + len > SIM_OPTICAL_MAX_MESSAGE) {
        *ev |= SIM_OPTICAL_LINK_SET_DROPPED;
        l->assembling = false;
        l->msg_len = 0;
        return;
    }
    memcpy(l->msg + l->msg_len, data, len);
    l->msg_len += len;
    if (seq == 0) {
        l->assembling = false;
        *ev |= SIM_OPTICAL_LINK_MESSAGE;
    } else {
        l->expect_seq = (uint8_t)(seq - 1);
    }
}

/* The header is complete but its length is impossible (2.3 step 3): drop
 * the 0xEE we locked onto and hunt again inside the bytes already taken. */
static void rehunt(sim_optical_link *l)
{
    size_t i;
    for (i = 1; i < l->rx_have; i++)
        if (l->rx[i] == SIM_OPTICAL_STP)
            break;
    size_t keep = l->rx_have - i;
    memmove(l->rx, l->rx + i, keep);
    l->rx_have = keep;
    l->rx_need = 0;
}

size_t sim_optical_link_rx(sim_optical_link *l, uint8_t byte, uint64_t now_ms, uint8_t *out,
                           size_t cap, unsigned *events)
{
    size_t n = 0;
    unsigned ev = 0;
    /* 2.3 step 2: a gap above the inter-character timeout drops the partial
     * packet silently; the new byte starts hunting again. */
    if (l->rx_have > 0 && elapsed(now_ms, l->rx_last_ms) > l->timing.interchar_ms) {
        l->rx_have = l->rx_need = 0;
        ev |= SIM_OPTICAL_LINK_RX_TIMEOUT;
    }
    if (l->rx_have == 0) {
        if (byte == SIM_OPTICAL_STP) {
            l->rx[0] = byte;
            l->rx_have = 1;
            l->rx_last_ms = now_ms;
        } else if (byte == SIM_OPTICAL_ACK && l->waiting_ack && !l->tx_held) {
            ev |= SIM_OPTICAL_LINK_ACK_RX;
            packet_acked(l, now_ms, out, cap, &n, &ev);
        } else if (byte == SIM_OPTICAL_NAK && l->waiting_ack && !l->tx_held) {
            ev |= SIM_OPTICAL_LINK_NAK_RX;
            packet_retry(l, now_ms, out, cap, &n, &ev);
        }
        /* anything else while hunting (0x55 wake-up, stray ACKs, MEP traffic) is skipped */
        if (events)
            *events = ev;
        return n;
    }
    l->rx[l->rx_have++] = byte;
    l->rx_last_ms = now_ms;
    if (l->rx_have == SIM_OPTICAL_HEADER) {
        size_t len = (size_t)((l->rx[4] << 8) | l->rx[5]);
        if (len > SIM_OPTICAL_MAX_PACKET_DATA) {
            ev |= SIM_OPTICAL_LINK_GARBAGE;
            rehunt(l);
        } else {
            l->rx_need = len + SIM_OPTICAL_OVERHEAD;
        }
    }
    if (l->rx_need && l->rx_have == l->rx_need)
        on_packet(l, out, cap, &n, &ev);
    if (events)
        *events = ev;
    return n;
}

size_t sim_optical_link_tick(sim_optical_link *l, uint64_t now_ms, uint8_t *out, size_t cap,
                             unsigned *events)
{
    size_t n = 0;
    unsigned ev = 0;
    if (l->rx_have > 0 && elapsed(now_ms, l->rx_last_ms) > l->timing.interchar_ms) {
        l->rx_have = l->rx_need = 0;
        ev |= SIM_OPTICAL_LINK_RX_TIMEOUT;
    }
    if (l->tx_held && now_ms >= l->tx_hold_until) {
        /* turnaround over: the first packet leaves, its response timer starts */
        l->tx_held = false;
        l->ack_deadline = ack_deadline(l, now_ms);
        emit(out, cap, &n, l->tx_pkt, l->tx_pkt_len);
    } else if (l->waiting_ack && !l->tx_held && now_ms >= l->ack_deadline) {
        packet_retry(l, now_ms, out, cap, &n, &ev);
    }
    if (events)
        *events = ev;
    return n;
}

uint64_t sim_optical_link_deadline(const sim_optical_link *l)
{
    uint64_t d = UINT64_MAX;
    if (l->rx_have > 0)
        d = l->rx_last_ms + l->timing.interchar_ms + 1;
    if (l->tx_held) {
        if (l->tx_hold_until < d)
            d = l->tx_hold_until;
    } else if (l->waiting_ack && l->ack_deadline < d) {
        d = l->ack_deadline;
    }
    return d;
}
