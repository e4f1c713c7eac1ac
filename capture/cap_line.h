/* cap_line: one serial line recorded into a pcapng capture: an interface of
 * the capture file (cap_pcapng_join), a delimiter per direction
 * (cap_frames), and the fault marks waiting for the frame they belong to.
 * The serial layer (simulator/io/sim_serial.c) and mepsniff feed it the
 * bytes of each direction with their wall-clock time; every frame becomes
 * one Enhanced Packet Block with the LINKTYPE_USER0 header of cap_frames.h,
 * epb_flags inbound/outbound (seen from the meter) and, when marked or
 * cut, a comment ("flip injected", "incomplete: gap over 50 ms").
 */
#ifndef CAP_LINE_H
#define CAP_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "cap_frames.h"
#include "cap_pcapng.h"

typedef struct cap_line cap_line;

/* Join the capture file at path (created, or truncated when another process
 * wrote it; owner tags this process, see cap_pcapng_join) as interface
 * name with description desc. NULL with a message. */
cap_line *cap_line_open(const char *path, const char *owner, const char *name, const char *desc,
                        cap_port_kind kind, char *err, size_t errlen);
/* Flush frames in progress (as incomplete), close the file descriptor. */
void cap_line_close(cap_line *l, uint64_t now_us);

/* Bytes of direction dir (CAP_DIR_TO_METER / CAP_DIR_FROM_METER) at now_us
 * (microseconds since the Unix epoch). Returns CAP_ERR_IO once a write
 * failed (the line stops recording; cap_line_error says why). */
cap_result cap_line_bytes(cap_line *l, unsigned dir, const uint8_t *b, size_t n, uint64_t now_us);
/* Emit frames whose gap rule expired by now_us (call from a timer or when
 * the line goes idle, so a half frame is not held until the next byte). */
cap_result cap_line_tick(cap_line *l, uint64_t now_us);
/* Hold the frames of direction dir that complete from now on instead of
 * writing them, until cap_line_commit (frames of the other direction write
 * the held ones first, so the file keeps the wire order). The serial layer
 * records received bytes before handing them on and holds them meanwhile,
 * so a fault injected into them still marks their frame. */
void cap_line_hold(cap_line *l, unsigned dir);
cap_result cap_line_commit(cap_line *l);
/* Mark a frame of direction dir: flag CAP_FLAG_FAULT and comment text
 * ("flip injected"); marks add up. The frame is the last held one of that
 * direction (bytes already recorded), else the one in progress or the next
 * (bytes about to be recorded, e.g. a reply a fault changed before it is
 * written). */
void cap_line_mark(cap_line *l, unsigned dir, const char *text);
/* Called with every packet after it was written (header + frame, and its
 * comment or ""): a live decoder (mepsniff). */
typedef void (*cap_line_observer)(void *ctx, uint32_t ifid, uint64_t ts_us, const uint8_t *pkt, size_t n,
                                  const char *comment);
void cap_line_observe(cap_line *l, cap_line_observer fn, void *ctx);
/* Packets written so far. */
uint64_t cap_line_packets(const cap_line *l);
const char *cap_line_error(const cap_line *l);

#endif
