/* mep_frame: MEP framing and the bare C12.18 requests it carries.
 *
 * Owns: the 2-byte length prefix, the stream reassembler that cuts frames out
 * of a byte stream (with the guide's 50 ms intra-frame gap rule), the codes of
 * docs/mep.md 3.3/3.4/3.5, and parsing/encoding of bare C12.18 requests
 * (code + header fields + data, without sequence number and digest).
 * Freestanding: shared by the emulator and the module firmware.
 */
#ifndef MEP_FRAME_H
#define MEP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define MEP_MAX_BODY 476u      /* largest body in either direction (docs/mep.md 3.1) */
#define MEP_MAX_FRAME (2u + MEP_MAX_BODY)
#define MEP_SEQ_LEN 4u
#define MEP_MAX_READ_DATA 465u /* 476 - code - count(2) - digest(8) */
#define MEP_MAX_WRITE_DATA 456u
#define MEP_SEGMENT_BYTES 117u /* responses go out in 117-byte segments (docs/mep.md 4) */
#define MEP_SEGMENT_PAUSE_MS 25u
#define MEP_GAP_ABORT_MS 50u   /* a gap longer than this inside a frame aborts it */
#define MEP_THROTTLE_MS 100u   /* at most one request per 100 ms */
#define MEP_CLIENT_TIMEOUT_MS 500u

/* Table and procedure numbers: BTn = n, ETn = 2048 + n (docs/mep.md 0). */
#define MEP_BT(n) ((uint16_t)(n))
#define MEP_ET(n) ((uint16_t)(0x0800u + (n)))
#define MEP_EP(n) ((uint16_t)(0x0800u + (n)))

enum mep_code {
    /* C12.18 requests used over MEP (docs/mep.md 3.3) */
    MEP_REQ_FULL_READ = 0x30,
    MEP_REQ_PARTIAL_READ = 0x3F,
    MEP_REQ_FULL_WRITE = 0x40,
    MEP_REQ_PARTIAL_WRITE = 0x4F,
    /* TLS-mode codes (docs/mep.md 3.5) */
    MEP_TLS_TERMINATE = 0x57,
    MEP_TLS_HANDSHAKE = 0x58,
    MEP_TLS_HANDSHAKE_CONT = 0x59,
    MEP_TLS_TABLE = 0x80,
};

enum mep_resp {
    MEP_RSP_OK = 0x00,
    MEP_RSP_ERR = 0x01,      /* unrecognised request */
    MEP_RSP_SNS = 0x02,      /* unsupported request */
    MEP_RSP_ISC = 0x03,      /* no permission (insufficient security clearance) */
    MEP_RSP_ONP = 0x04,      /* operation not possible */
    MEP_RSP_IAR = 0x05,      /* table operation not possible */
    MEP_RSP_ISSS = 0x0A,     /* invalid service sequence state */
    MEP_RSP_AUTH = 0x0B,     /* authentication failure */
    MEP_RSP_SEQ = 0x0C,      /* invalid sequence number (+ next acceptable number) */
};

/* A parsed bare C12.18 request. `data` points into the parsed buffer. */
typedef struct {
    uint8_t code;
    uint16_t table;
    uint32_t offset;      /* partial requests only */
    uint16_t count;       /* read count, or write data length */
    int has_count;        /* 0x30 may come without its count (docs/mep.md 3.3) */
    const uint8_t *data;  /* writes: the data bytes */
    uint16_t data_len;    /* writes: bytes present (may differ from count) */
} mep_request;

typedef enum {
    MEP_PARSE_OK = 0,
    MEP_PARSE_UNKNOWN_CODE,  /* answer 0x01 */
    MEP_PARSE_SHORT,         /* header fields missing: answer 0x01 */
    MEP_PARSE_BAD_LENGTH,    /* write count disagrees with the data present */
} mep_parse_result;

/* Parse code..data (no sequence number, no digest). */
mep_parse_result mep_request_parse(const uint8_t *p, size_t n, mep_request *out);
/* Encode a request (code..data). Returns bytes written, 0 if it does not fit. */
size_t mep_request_encode(const mep_request *r, uint8_t *out, size_t cap);

static inline uint16_t mep_get_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t mep_get_be24(const uint8_t *p)
{
    return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}
static inline uint32_t mep_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void mep_put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void mep_put_be24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 16); p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)v;
}
static inline void mep_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline uint16_t mep_get_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t mep_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void mep_put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void mep_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* "BT23", "ET13" (docs/mep.md 0). buf must hold 8 bytes. */
const char *mep_table_name(uint16_t id, char buf[8]);
/* "BP05", "EP39". buf must hold 8 bytes. */
const char *mep_proc_name(uint16_t id, char buf[8]);
/* Short name of a response code: "OK", "ERR", "ISC", "AUTH", "SEQ" ... */
const char *mep_resp_name(uint8_t code);

/* ---- Stream reassembler ----------------------------------------------
 * Cuts length-prefixed frames out of a byte stream. Time is passed in.
 * A gap longer than gap_ms between two bytes of one frame aborts it (the
 * partial frame is discarded and the new byte starts a fresh frame). A
 * length of 0 is reported as MEP_ASM_ZERO (an alert sequence when the meter
 * sends it). A length above max_body is reported as MEP_ASM_OVERSIZE; the
 * assembler then discards bytes until a gap of gap_ms (a frame boundary). */
typedef enum {
    MEP_ASM_NONE = 0,    /* need more bytes */
    MEP_ASM_FRAME,       /* frame complete: mep_asm_frame() / mep_asm_frame_len() */
    MEP_ASM_ZERO,        /* `00 00` */
    MEP_ASM_OVERSIZE,    /* length field above max_body: discarding */
    MEP_ASM_GAP_ABORT,   /* previous partial frame was aborted by a gap (the new byte was kept) */
} mep_asm_event;

typedef struct {
    uint8_t buf[MEP_MAX_FRAME];
    uint16_t have;
    uint16_t need;        /* total frame length once the length field is known */
    uint16_t max_body;
    uint32_t gap_ms;
    uint64_t last_ms;
    int discarding;       /* dropping an oversize frame until a gap */
    uint32_t dropped;     /* bytes dropped while discarding */
} mep_assembler;

void mep_asm_init(mep_assembler *a, uint16_t max_body, uint32_t gap_ms);
void mep_asm_reset(mep_assembler *a);
/* Push one byte received at now_ms. After MEP_ASM_FRAME the frame stays
 * available until the next push. */
mep_asm_event mep_asm_push(mep_assembler *a, uint8_t byte, uint64_t now_ms);
/* Did a gap of gap_ms pass since the last byte of an unfinished frame?
 * (lets the owner abort on a timer even if no further byte comes) */
int mep_asm_expired(const mep_assembler *a, uint64_t now_ms);
static inline const uint8_t *mep_asm_frame(const mep_assembler *a) { return a->buf; }
static inline uint16_t mep_asm_frame_len(const mep_assembler *a) { return a->need; }
/* A partial frame is buffered. */
static inline int mep_asm_busy(const mep_assembler *a) { return a->have > 0 || a->discarding; }

#endif
