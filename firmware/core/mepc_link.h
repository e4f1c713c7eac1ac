/* mepc_link: the MEP client's link layer (RC4 mode).
 *
 * Owns: building one request frame (C12.18 request + sequence number +
 * digest, optionally RC4-encrypted; docs/mep.md 3.2, 5.2, 5.4), cutting replies
 * out of the received byte stream, and verifying each candidate reply against
 * the outstanding request: the reply digest covers request + reply
 * (docs/mep.md 5.3), so a stale reply, a reply to another request, a bit flip or
 * stray bytes cannot verify. Also recognises the alert sequence `00 00`
 * between frames (docs/mep.md 10.3) and our own request coming back (loopback,
 * module-behaviour S33).
 *
 * Framing policy: the buffer is scanned from its start. At a frame boundary
 * (after a frame, an alert, or a line gap of MEPC_RX_IDLE_MS, which ends any
 * frame: docs/mep.md 4 gap rule) any complete length-prefixed frame is consumed
 * whole: a reply if it verifies, else rejected. Elsewhere (resynchronising
 * after junk) only lengths a reply to the outstanding request can have are
 * considered and other bytes are dropped one at a time as stray, and `00 00`
 * is not taken as an alert (zeros inside a rejected frame are not alerts).
 * An incomplete candidate is abandoned, one byte at a time, once the line is
 * idle, so a real reply hidden behind junk is still found. Pure: bytes and
 * time in, events out.
 */
#ifndef MEPC_LINK_H
#define MEPC_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../proto/mep_digest.h"
#include "../../proto/mep_frame.h"
#include "../../proto/mep_rc4.h"

#define MEPC_REQ_MAX_BODY 72u       /* our largest request: ET50 ID write, 20 + 30 */
#define MEPC_RX_BUF 512u            /* > MEP_MAX_FRAME: a whole reply plus what follows */
#define MEPC_RX_IDLE_MS 100u        /* line idle: no incomplete frame can still complete */

/* The outstanding request and what its reply may look like. */
typedef struct {
    bool active;
    uint8_t frame[2 + MEPC_REQ_MAX_BODY];  /* as sent: length, body (maybe encrypted), digest */
    uint16_t frame_len;
    uint8_t plain[MEPC_REQ_MAX_BODY];      /* code .. sequence number, plaintext (docs/mep.md 5.3) */
    uint16_t plain_len;
    uint8_t key[MEP_KEY_LEN];
    bool encrypted;
    mep_rc4 rc4;                           /* cipher state after the request: decrypts the reply (5.4) */
    uint8_t code;                          /* request code */
    uint16_t table;
    uint32_t offset;
    uint16_t read_count;                   /* reads: bytes asked for; writes: 0 */
    uint32_t seq;
    bool bare;                             /* TLS mode: plain[] is the bare request, no frame/seq/digest */
} mepc_link_req;

typedef enum {
    MEPC_RX_NONE = 0,    /* nothing (more) to report */
    MEPC_RX_REPLY,       /* verified reply: mepc_link_reply() */
    MEPC_RX_AUTH_FAIL,   /* 0x0B: unauthenticated by nature (docs/mep.md 3.4) */
    MEPC_RX_ALERT,       /* `00 00` at a frame boundary */
    MEPC_RX_LOOPBACK,    /* our own request came back byte for byte */
    MEPC_RX_REJECT,      /* complete frame failed verification (dropped) */
    MEPC_RX_UNEXPECTED,  /* complete frame while nothing is outstanding (dropped) */
} mepc_rx_event;

typedef struct {
    uint8_t buf[MEPC_RX_BUF];
    uint16_t have;
    bool boundary;                /* buf[0] follows a frame, an alert or a line gap */
    uint32_t last_rx_ms;
    uint8_t plain[MEP_MAX_BODY];  /* last verified reply: code [+ count + data], no digest */
    uint16_t plain_len;
    uint32_t stray_bytes;         /* bytes dropped outside any frame */
    uint32_t rejects;             /* complete frames that failed the digest */
    uint32_t unexpected;          /* complete frames with no request outstanding */
} mepc_link;

void mepc_link_init(mepc_link *l);
/* Forget everything buffered (after a recovery cycle); counters kept. */
void mepc_link_flush(mepc_link *l);

/* Build a request frame into r (docs/mep.md 3.2): digest over code..seq with the
 * key, then (if encrypt) RC4 over code..seq with the packet key (5.4).
 * Returns false if the request does not fit MEPC_REQ_MAX_BODY. */
bool mepc_link_build(mepc_link_req *r, const uint8_t key[MEP_KEY_LEN], bool encrypt,
                     const mep_request *req, uint32_t seq);

/* Append received bytes. Bytes that do not fit are counted as stray. */
void mepc_link_push(mepc_link *l, const uint8_t *p, size_t n, uint32_t now_ms);
/* Next event from the buffer. req may be NULL (nothing outstanding). With
 * idle = true the caller states that the line has been quiet for
 * MEPC_RX_IDLE_MS: incomplete candidates are abandoned. Call until NONE. */
mepc_rx_event mepc_link_next(mepc_link *l, const mepc_link_req *req, bool idle);
/* Line quiet long enough that nothing buffered can still complete. */
bool mepc_link_idle(const mepc_link *l, uint32_t now_ms);

static inline const uint8_t *mepc_link_reply(const mepc_link *l) { return l->plain; }
static inline uint16_t mepc_link_reply_len(const mepc_link *l) { return l->plain_len; }

#endif
