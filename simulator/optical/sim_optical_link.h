/* sim_optical_link: the ANSI C12.18 data-link (packet) layer of the meter's
 * optical port (docs/optical.md 2).
 *
 * Owns: the packet format (0xEE, identity, ctrl, seq, BE length, data,
 * CRC-16/X-25 low byte first), hunting for 0xEE past stray bytes, the
 * inter-character timeout, ACK/NAK, duplicate detection by toggle bit + CRC,
 * reassembly of multi-packet requests, slicing of replies into packets of the
 * negotiated size, and the wait for each packet's ACK (response timeout,
 * retries, implicit ACK by a new request).
 *
 * Pure: bytes and the time in, bytes out. It knows nothing about PSEM except
 * one rule of 2.4 (an Identify is never a duplicate); sim_optical sits on top
 * and owns sessions, services and security. One struct per optical channel,
 * no globals: many meters run in one process.
 */
#ifndef SIM_OPTICAL_LINK_H
#define SIM_OPTICAL_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- packet format (docs/optical.md 2.1) ---------------------------------- */
#define SIM_OPTICAL_STP 0xEEu
#define SIM_OPTICAL_ACK 0x06u
#define SIM_OPTICAL_NAK 0x15u
#define SIM_OPTICAL_HEADER 6u                /* STP identity ctrl seq length(2) */
#define SIM_OPTICAL_OVERHEAD 8u              /* header + CRC(2) */
#define SIM_OPTICAL_MAX_PACKET 8192u         /* largest packet C12.18 allows */
#define SIM_OPTICAL_MAX_PACKET_DATA (SIM_OPTICAL_MAX_PACKET - SIM_OPTICAL_OVERHEAD)
#define SIM_OPTICAL_DEFAULT_PACKET_SIZE 64u  /* until a Negotiate succeeds (2.1) */
#define SIM_OPTICAL_DEFAULT_NBR_PACKETS 1u
/* Largest PSEM message the link reassembles or sends [E]: enough for the
 * default Negotiate caps (1024 x 8 packets) and every OSGP table in one read. */
#define SIM_OPTICAL_MAX_MESSAGE 8192u
/* Most bytes one call of rx/tick can produce: an ACK/NAK plus one packet. */
#define SIM_OPTICAL_OUT_MAX (1u + SIM_OPTICAL_MAX_PACKET)

#define SIM_OPTICAL_CTRL_MULTI 0x80u  /* part of a multi-packet set */
#define SIM_OPTICAL_CTRL_FIRST 0x40u  /* first packet of the set */
#define SIM_OPTICAL_CTRL_TOGGLE 0x20u /* alternates per new packet (2.4) */

/* ---- timing (docs/optical.md 2.7, C12.18 values) --------------------------- */
#define SIM_OPTICAL_INTERCHAR_MS 500u          /* gap inside a packet that drops it */
#define SIM_OPTICAL_ACK_TIMEOUT_MS 2000u       /* response timeout: wait for the ACK */
#define SIM_OPTICAL_RETRIES 3u                 /* retransmissions after the first send */
#define SIM_OPTICAL_CHANNEL_TIMEOUT_MS 6000u   /* no valid packet -> base state (sim_optical) */

/* ---- CRC (docs/optical.md 2.2) --------------------------------------------- */
/* CRC-16/X-25 over p[0..n): reflected poly 0x8408, init 0xFFFF, xorout 0xFFFF.
 * Send (crc & 0xFF) first. "123456789" -> 0x906E. */
uint16_t sim_optical_crc(const uint8_t *p, size_t n);
/* Receive-side check: a whole packet including its two CRC bytes leaves the
 * residue 0xF0B8 in the register before the final inversion. */
bool sim_optical_crc_residue_ok(const uint8_t *packet, size_t n);

/* ---- one packet, parsed or built -------------------------------------- */
typedef struct {
    uint8_t identity;
    uint8_t ctrl;
    uint8_t seq;            /* packets still to follow */
    uint16_t length;        /* data bytes */
    const uint8_t *data;    /* points into the parsed buffer */
    uint16_t crc;           /* as received (low byte first on the wire) */
} sim_optical_packet;

typedef enum {
    SIM_OPTICAL_PKT_OK = 0,
    SIM_OPTICAL_PKT_NO_STP,     /* first byte is not 0xEE */
    SIM_OPTICAL_PKT_SHORT,      /* fewer bytes than header + length + CRC */
    SIM_OPTICAL_PKT_LONG,       /* more bytes than header + length + CRC */
    SIM_OPTICAL_PKT_LENGTH,     /* length field above SIM_OPTICAL_MAX_PACKET_DATA */
    SIM_OPTICAL_PKT_CRC,        /* CRC mismatch */
} sim_optical_pkt_result;

const char *sim_optical_pkt_result_name(sim_optical_pkt_result r);
/* Parse exactly one whole packet p[0..n). */
sim_optical_pkt_result sim_optical_packet_parse(const uint8_t *p, size_t n, sim_optical_packet *out);
/* Build a packet; returns its size (n + 8) or 0 if it does not fit in cap or
 * n exceeds SIM_OPTICAL_MAX_PACKET_DATA. */
size_t sim_optical_packet_encode(uint8_t identity, uint8_t ctrl, uint8_t seq, const uint8_t *data,
                                 size_t n, uint8_t *out, size_t cap);

/* ---- the link --------------------------------------------------------- */
typedef struct {
    uint32_t interchar_ms;     /* SIM_OPTICAL_INTERCHAR_MS */
    uint32_t ack_timeout_ms;   /* SIM_OPTICAL_ACK_TIMEOUT_MS */
    uint32_t retries;          /* SIM_OPTICAL_RETRIES */
} sim_optical_link_timing;

void sim_optical_link_timing_defaults(sim_optical_link_timing *t);

/* Events reported by rx/tick (bit set). */
enum {
    SIM_OPTICAL_LINK_MESSAGE = 1u << 0,      /* a new request: sim_optical_link_message() */
    SIM_OPTICAL_LINK_PACKET = 1u << 1,       /* a valid packet arrived (incl. duplicates) */
    SIM_OPTICAL_LINK_DUPLICATE = 1u << 2,    /* ...and it was a duplicate: re-ACKed, dropped */
    SIM_OPTICAL_LINK_CRC_ERROR = 1u << 3,    /* bad CRC: NAK sent */
    SIM_OPTICAL_LINK_RX_TIMEOUT = 1u << 4,   /* partial packet dropped (inter-character gap) */
    SIM_OPTICAL_LINK_GARBAGE = 1u << 5,      /* impossible length: header dropped, hunting */
    SIM_OPTICAL_LINK_ACK_RX = 1u << 6,       /* 0x06 for our packet */
    SIM_OPTICAL_LINK_NAK_RX = 1u << 7,       /* 0x15 for our packet */
    SIM_OPTICAL_LINK_RETRANSMIT = 1u << 8,   /* our packet sent again (NAK or timeout) */
    SIM_OPTICAL_LINK_REPLY_DONE = 1u << 9,   /* every packet of the reply was acknowledged */
    SIM_OPTICAL_LINK_REPLY_FAILED = 1u << 10,/* retries exhausted: reply given up */
    SIM_OPTICAL_LINK_REPLY_CUT = 1u << 11,   /* a new request arrived mid multi-packet reply */
    SIM_OPTICAL_LINK_IMPLICIT_ACK = 1u << 12,/* a new request acknowledged our packet (2.5) */
    SIM_OPTICAL_LINK_SET_DROPPED = 1u << 13, /* broken multi-packet request set discarded */
    SIM_OPTICAL_LINK_FORCED_NAK = 1u << 14,  /* good packet NAKed on purpose (shared UART switch) */
};

typedef struct {
    sim_optical_link_timing timing;
    uint16_t packet_size;          /* whole packet, 8..8192 */
    uint8_t nbr_packets;           /* packets per message */
    uint32_t wire_baud;            /* line rate (8N1) the replies leave at; 0 = no wire time */

    /* receive */
    uint8_t rx[SIM_OPTICAL_MAX_PACKET];
    size_t rx_have;                /* 0 = hunting for 0xEE */
    size_t rx_need;                /* whole packet size once the length is known */
    uint64_t rx_last_ms;
    bool have_last;                /* duplicate memory (2.4) */
    uint8_t last_toggle;
    uint16_t last_crc;
    uint8_t identity;              /* echoed in our packets */
    bool force_nak;                /* NAK the next good packet (shared UART, 6) */
    uint8_t msg[SIM_OPTICAL_MAX_MESSAGE];
    size_t msg_len;
    bool assembling;               /* inside a multi-packet request set */
    uint8_t expect_seq;

    /* transmit */
    uint8_t tx_msg[SIM_OPTICAL_MAX_MESSAGE];
    size_t tx_len, tx_sent;        /* message bytes / bytes already put in packets */
    unsigned tx_count, tx_index;   /* packets in the set / index of the current one */
    uint8_t tx_pkt[SIM_OPTICAL_MAX_PACKET];
    size_t tx_pkt_len;
    bool waiting_ack;
    uint32_t retries_left;
    uint64_t ack_deadline;
    bool tx_held;                  /* the reply's first packet waits for the turnaround */
    uint64_t tx_hold_until;        /* ... until then (sim_optical_link_send_after) */
    uint8_t tx_toggle;             /* toggle of the next new packet (0 or CTRL_TOGGLE) */
} sim_optical_link;

/* Fresh link: hunting, default sizes, toggle 0, nothing outstanding. */
void sim_optical_link_init(sim_optical_link *l, const sim_optical_link_timing *t);
/* Back to the base state (2.4, 3.5): drop partial input, the duplicate
 * memory, any outstanding reply; default packet size/count; toggle 0. */
void sim_optical_link_reset(sim_optical_link *l);
/* Next packet we send uses toggle 0 (done on Identify, 2.4 [E]). */
void sim_optical_link_reset_toggle(sim_optical_link *l);
/* Forget the last received packet (no duplicate check against it). */
void sim_optical_link_forget(sim_optical_link *l);
/* Negotiated sizes for the next reply (Negotiate, 3.3). */
void sim_optical_link_set_sizes(sim_optical_link *l, uint16_t packet_size, uint8_t nbr_packets);
/* PSEM bytes one reply may carry with the current sizes, capped at
 * SIM_OPTICAL_MAX_MESSAGE. */
size_t sim_optical_link_capacity(const sim_optical_link *l);
/* NAK the next packet even if its CRC is good (simulates the garbled first
 * packet after a shared UART switches to optical, docs/optical.md 6). */
void sim_optical_link_force_nak(sim_optical_link *l);

/* One received byte at now_ms. Writes what must go out now (ACK/NAK, the
 * next packet of a reply, a retransmission) to out (cap >= SIM_OPTICAL_OUT_MAX
 * recommended) and returns its length; *events gets SIM_OPTICAL_LINK_* bits.
 * After SIM_OPTICAL_LINK_MESSAGE the request is available until the next call. */
size_t sim_optical_link_rx(sim_optical_link *l, uint8_t byte, uint64_t now_ms, uint8_t *out,
                           size_t cap, unsigned *events);
const uint8_t *sim_optical_link_message(const sim_optical_link *l, size_t *len);

/* Start sending a reply message (call right after the MESSAGE event, so the
 * packet follows its ACK). Writes the first packet to out; returns its length,
 * or 0 if the message is empty or larger than sim_optical_link_capacity().
 * A reply still outstanding is dropped. */
size_t sim_optical_link_send(sim_optical_link *l, const uint8_t *msg, size_t len, uint64_t now_ms,
                             uint8_t *out, size_t cap);
/* The same, with the meter's turnaround (docs/optical.md 2.7): the first
 * packet is built now but leaves delay_ms later, from sim_optical_link_tick
 * (returns 0 then; sim_optical_link_deadline names the time). Its response
 * timer starts when it leaves. A new request meanwhile cuts the reply
 * (SIM_OPTICAL_LINK_REPLY_CUT); a stray ACK or NAK is ignored. delay_ms 0 =
 * sim_optical_link_send. Returns the bytes written now, or -1 when the
 * message is empty or larger than sim_optical_link_capacity(). */
long sim_optical_link_send_after(sim_optical_link *l, const uint8_t *msg, size_t len, uint64_t now_ms,
                                 uint32_t delay_ms, uint8_t *out, size_t cap);
/* Stop waiting for the ACK of the outstanding reply (fire and forget). */
void sim_optical_link_abandon(sim_optical_link *l);

/* Timers at now_ms: drops a partial packet after the inter-character gap,
 * retransmits after the response timeout, gives up after the retries. */
size_t sim_optical_link_tick(sim_optical_link *l, uint64_t now_ms, uint8_t *out, size_t cap,
                             unsigned *events);
/* Next time tick() has something to do (UINT64_MAX if none). */
uint64_t sim_optical_link_deadline(const sim_optical_link *l);
/* Waiting for the ACK of one of our packets? */
bool sim_optical_link_busy(const sim_optical_link *l);

#endif
