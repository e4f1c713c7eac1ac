/* cap_frames: a receiver's view of one direction of a line (see cap_frames.h). */
#include "cap_frames.h"

#include <string.h>

void cap_frames_init(cap_frames *d, cap_port_kind kind)
{
    memset(d, 0, sizeof *d);
    d->kind = kind;
}

const char *cap_frame_type_name(cap_frame_type t)
{
    switch (t) {
    case CAP_FRAME_MEP: return "mep";
    case CAP_FRAME_C1218: return "c1218";
    case CAP_FRAME_C1218_ACK: return "c1218-ack";
    case CAP_FRAME_RAW: return "raw";
    }
    return "?";
}

void cap_frames_header(uint8_t out[CAP_HDR_LEN], unsigned dir, cap_port_kind kind, const cap_frame *f)
{
    out[0] = (uint8_t)dir;
    out[1] = (uint8_t)kind;
    out[2] = (uint8_t)f->type;
    out[3] = f->flags;
}

static void emit(cap_frames *d, uint8_t extra_flags, uint64_t ts, cap_frame_fn fn, void *ctx)
{
    cap_frame f = {.type = d->type, .flags = (uint8_t)(d->flags | extra_flags), .b = d->buf, .n = d->have,
                   .ts_us = ts};
    if (d->have)
        fn(ctx, &f);
    d->have = d->need = 0;
    d->flags = 0;
    d->discarding = false;
}

static uint64_t gap_us(const cap_frames *d)
{
    return d->type == CAP_FRAME_C1218 ? CAP_C1218_GAP_US : CAP_MEP_GAP_US;
}

/* The frame kind a first byte starts (CAP_FRAME_RAW: none). */
static cap_frame_type starts(const cap_frames *d, uint8_t b)
{
    if (b == 0xEE)
        return CAP_FRAME_C1218;
    if (b == 0x06 || b == 0x15)
        return CAP_FRAME_C1218_ACK;
    if (d->kind == CAP_PORT_MEP && b <= 0x01)
        return CAP_FRAME_MEP;
    return CAP_FRAME_RAW;
}

/* The size of the frame once its header is in, or 0 (keep reading);
 * a bad length turns the frame into discarded raw bytes. */
static void learn_size(cap_frames *d)
{
    if (d->type == CAP_FRAME_MEP && d->have == 2) {
        size_t body = (size_t)d->buf[0] << 8 | d->buf[1];
        if (body > CAP_MEP_MAX_BODY) {
            d->type = CAP_FRAME_RAW;
            d->flags |= CAP_FLAG_BAD_LENGTH;
            d->discarding = true;
        } else {
            d->need = 2 + body; /* body 0: the alert `00 00` */
        }
    } else if (d->type == CAP_FRAME_C1218 && d->have == 6) {
        size_t len = (size_t)d->buf[4] << 8 | d->buf[5];
        if (len > CAP_C1218_MAX_DATA) {
            /* docs/optical.md 2.3: the header is dropped, hunting resumes */
            d->type = CAP_FRAME_RAW;
            d->flags |= CAP_FLAG_BAD_LENGTH;
        } else {
            d->need = 8 + len;
        }
    }
}

static uint8_t cut_flag(const cap_frames *d) { return d->type == CAP_FRAME_RAW ? 0 : CAP_FLAG_INCOMPLETE; }

static void push_byte(cap_frames *d, uint8_t b, uint64_t now, cap_frame_fn fn, void *ctx)
{
    if (d->have && now - d->last_us > gap_us(d))
        emit(d, cut_flag(d), d->last_us, fn, ctx);
    /* noise ends where a frame may start (the receiver hunts, docs/optical.md 2.3) */
    if (d->have && d->type == CAP_FRAME_RAW && !d->discarding && starts(d, b) != CAP_FRAME_RAW)
        emit(d, 0, d->last_us, fn, ctx);
    if (d->have == sizeof d->buf)
        emit(d, cut_flag(d), d->last_us, fn, ctx);
    d->last_us = now;
    if (!d->have) {
        d->type = starts(d, b);
        d->need = d->type == CAP_FRAME_C1218_ACK ? 1 : 0;
    }
    d->buf[d->have++] = b;
    if (!d->need)
        learn_size(d);
    if (d->need && d->have == d->need)
        emit(d, 0, now, fn, ctx);
}

void cap_frames_push(cap_frames *d, const uint8_t *b, size_t n, uint64_t now_us, cap_frame_fn fn, void *ctx)
{
    for (size_t i = 0; i < n; i++)
        push_byte(d, b[i], now_us, fn, ctx);
}

void cap_frames_flush(cap_frames *d, uint64_t now_us, bool force, cap_frame_fn fn, void *ctx)
{
    if (!d->have || (!force && now_us - d->last_us <= gap_us(d)))
        return;
    emit(d, cut_flag(d), d->last_us, fn, ctx);
}
