/* cap_frames: cuts one direction of a serial line into the frames its
 * receiver sees, and the 4-byte encapsulation header every captured packet
 * starts with (LINKTYPE_USER0, capture/README.md "Encapsulation").
 *
 * Delimiting follows the receivers: MEP frames by their 2-byte length field
 * (docs/mep.md 3.1; `00 00` is an alert; a length above 476 is discarded up
 * to a 50 ms gap; a gap over 50 ms inside a frame aborts it, docs/mep.md 4),
 * C12.18 packets by 0xEE + header + length + CRC (docs/optical.md 2.1, 2.3,
 * 500 ms inter-character timeout), a lone 0x06/0x15 as an ACK/NAK, and
 * everything else as raw bytes (noise) up to the next byte that can start a
 * frame or a gap. On a MEP line (which may share its UART with the optical
 * port, docs/optical.md 6) a first byte 0x00/0x01 starts a MEP frame; on an
 * optical line only 0xEE starts a packet.
 *
 * Pure: bytes and the time in, whole frames out through a callback. One
 * cap_frames per direction of a line.
 */
#ifndef CAP_FRAMES_H
#define CAP_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Encapsulation header: direction, port kind, frame type, flags. */
#define CAP_HDR_LEN 4u
enum { CAP_DIR_TO_METER = 1, CAP_DIR_FROM_METER = 2 };
typedef enum { CAP_PORT_MEP = 1, CAP_PORT_OPTICAL = 2 } cap_port_kind;
typedef enum {
    CAP_FRAME_MEP = 1,        /* length(2) + body; `00 00` = alert */
    CAP_FRAME_C1218 = 2,      /* EE ident ctrl seq len(2) data crc(2) */
    CAP_FRAME_C1218_ACK = 3,  /* a lone 0x06 (ACK) or 0x15 (NAK) */
    CAP_FRAME_RAW = 4,        /* bytes no receiver takes as a frame */
} cap_frame_type;
#define CAP_FLAG_FAULT 0x01u      /* a fault was injected into this frame (comment says which) */
#define CAP_FLAG_INCOMPLETE 0x02u /* cut by a gap or by the end of the capture */
#define CAP_FLAG_BAD_LENGTH 0x04u /* length field beyond the protocol's limit: discarded */

#define CAP_MEP_GAP_US 50000u     /* docs/mep.md 4 */
#define CAP_C1218_GAP_US 500000u  /* docs/optical.md 2.3 */
#define CAP_MEP_MAX_BODY 476u     /* docs/mep.md 3.1 */
#define CAP_C1218_MAX_DATA (8192u - 8u) /* docs/optical.md 2.1, 2.3 */
#define CAP_FRAME_MAX 8192u       /* largest frame (a whole C12.18 packet) */

typedef struct {
    cap_frame_type type;
    uint8_t flags;
    const uint8_t *b;
    size_t n;
    uint64_t ts_us;           /* arrival of its last byte */
} cap_frame;

typedef void (*cap_frame_fn)(void *ctx, const cap_frame *f);

typedef struct {
    cap_port_kind kind;
    uint8_t buf[CAP_FRAME_MAX];
    size_t have;
    size_t need;              /* whole frame size once known, 0 before */
    cap_frame_type type;      /* of the frame being collected */
    uint8_t flags;
    bool discarding;          /* bad length: raw until a gap */
    uint64_t last_us;
} cap_frames;

void cap_frames_init(cap_frames *d, cap_port_kind kind);
/* Bytes that arrived at now_us; complete frames go to fn. */
void cap_frames_push(cap_frames *d, const uint8_t *b, size_t n, uint64_t now_us, cap_frame_fn fn, void *ctx);
/* A frame in progress whose gap rule expired by now_us (or any, with
 * force) goes out as incomplete (raw bytes stay raw). */
void cap_frames_flush(cap_frames *d, uint64_t now_us, bool force, cap_frame_fn fn, void *ctx);
/* A frame is being collected. */
static inline bool cap_frames_busy(const cap_frames *d) { return d->have > 0; }

/* Write the encapsulation header for a frame in direction dir on a port of
 * kind: out[0] direction, out[1] port kind, out[2] frame type, out[3] flags. */
void cap_frames_header(uint8_t out[CAP_HDR_LEN], unsigned dir, cap_port_kind kind, const cap_frame *f);

const char *cap_frame_type_name(cap_frame_type t);

#endif
