/* cap_line: one serial line into a pcapng capture (see cap_line.h). */
#include "cap_line.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MARK_MAX 256u
/* Frames completed while held (cap_line_hold): one read chunk's worth. */
#define HELD_MAX 64u
#define HELD_BYTES (CAP_FRAME_MAX + 2048u)

typedef struct {
    cap_frame f;                  /* f.b points into held_bytes */
    unsigned dir;
    char mark[MARK_MAX];
} held_frame;

typedef struct {
    cap_frames frames;
    char mark[MARK_MAX];          /* comment for the next frame ("" = none) */
} cap_dir;

struct cap_line {
    int fd;
    uint32_t ifid;
    cap_port_kind kind;
    cap_dir dir[2];               /* [0] to meter, [1] from meter */
    unsigned cur_dir;             /* direction being emitted (callback context) */
    cap_result status;
    cap_line_observer observe;
    void *observe_ctx;
    uint64_t packets;
    bool holding;
    unsigned hold_dir;
    held_frame held[HELD_MAX];
    size_t n_held, held_used;
    uint8_t held_bytes[HELD_BYTES];
    char err[256];
    uint8_t block[CAP_FRAME_MAX + CAP_HDR_LEN + 2 * MARK_MAX + 64];
};

cap_line *cap_line_open(const char *path, const char *owner, const char *name, const char *desc,
                        cap_port_kind kind, char *err, size_t errlen)
{
    cap_line *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "capture %s: out of memory", path);
        return NULL;
    }
    if (cap_pcapng_join(path, owner, CAP_LINKTYPE_USER0, name, desc, &l->fd, &l->ifid, err, errlen) != CAP_OK) {
        free(l);
        return NULL;
    }
    l->kind = kind;
    cap_frames_init(&l->dir[0].frames, kind);
    cap_frames_init(&l->dir[1].frames, kind);
    return l;
}

static void incomplete_note(const cap_frame *f, char *out, size_t cap)
{
    if (f->flags & CAP_FLAG_BAD_LENGTH)
        snprintf(out, cap, "length field beyond the limit: discarded by the receiver");
    else if (f->flags & CAP_FLAG_INCOMPLETE)
        snprintf(out, cap, "incomplete: gap over %u ms or end of capture",
                 (f->type == CAP_FRAME_C1218 ? CAP_C1218_GAP_US : CAP_MEP_GAP_US) / 1000u);
    else
        out[0] = 0;
}

/* One EPB: header + frame, epb_flags direction, the mark and cut notes. */
static void write_frame(cap_line *l, unsigned dir, const cap_frame *f, const char *mark)
{
    if (l->status != CAP_OK)
        return;
    cap_frame g = *f;
    char note[96], comment[2 * MARK_MAX];
    incomplete_note(f, note, sizeof note);
    if (mark[0])
        g.flags |= CAP_FLAG_FAULT;
    snprintf(comment, sizeof comment, "%s%s%s", mark, mark[0] && note[0] ? "; " : "", note);

    uint8_t pkt[CAP_HDR_LEN + CAP_FRAME_MAX];
    cap_frames_header(pkt, dir, l->kind, &g);
    memcpy(pkt + CAP_HDR_LEN, f->b, f->n);
    cap_pcapng_packet p = {
        .ifid = l->ifid,
        .ts_us = f->ts_us,
        .data = pkt,
        .len = CAP_HDR_LEN + f->n,
        .flags = dir == CAP_DIR_TO_METER ? CAP_EPB_INBOUND : CAP_EPB_OUTBOUND,
        .comment = comment,
    };
    size_t n = cap_pcapng_epb(l->block, sizeof l->block, &p);
    if (!n || cap_pcapng_append(l->fd, l->block, n) != CAP_OK) {
        l->status = CAP_ERR_IO;
        snprintf(l->err, sizeof l->err, "capture write failed; recording stopped");
        return;
    }
    l->packets++;
    if (l->observe)
        l->observe(l->observe_ctx, l->ifid, f->ts_us, pkt, p.len, comment);
}

static void write_held(cap_line *l)
{
    for (size_t i = 0; i < l->n_held; i++)
        write_frame(l, l->held[i].dir, &l->held[i].f, l->held[i].mark);
    l->n_held = l->held_used = 0;
}

static bool hold_frame(cap_line *l, const cap_frame *f, char *mark)
{
    if (l->n_held == HELD_MAX || f->n > HELD_BYTES - l->held_used)
        return false;
    held_frame *h = &l->held[l->n_held++];
    h->f = *f;
    h->f.b = l->held_bytes + l->held_used;
    memcpy(l->held_bytes + l->held_used, f->b, f->n);
    l->held_used += f->n;
    h->dir = l->cur_dir;
    /* the mark lives in the same cap_line: copy without assuming disjoint buffers */
    size_t k = strnlen(mark, sizeof h->mark - 1);
    memmove(h->mark, mark, k);
    h->mark[k] = 0;
    return true;
}

/* A frame from a delimiter: held while its direction is held (so a mark
 * can still reach it), else written after whatever is held (file order =
 * wire order). */
static void on_frame(void *ctx, const cap_frame *f)
{
    cap_line *l = ctx;
    cap_dir *d = &l->dir[l->cur_dir == CAP_DIR_FROM_METER];
    if (l->holding && l->cur_dir == l->hold_dir) {
        if (!hold_frame(l, f, d->mark)) {
            write_held(l);
            if (!hold_frame(l, f, d->mark))
                write_frame(l, l->cur_dir, f, d->mark);
        }
    } else {
        write_held(l);
        write_frame(l, l->cur_dir, f, d->mark);
    }
    d->mark[0] = 0;
}

void cap_line_hold(cap_line *l, unsigned dir)
{
    l->holding = true;
    l->hold_dir = dir;
}

cap_result cap_line_commit(cap_line *l)
{
    l->holding = false;
    write_held(l);
    return l->status;
}

void cap_line_observe(cap_line *l, cap_line_observer fn, void *ctx)
{
    l->observe = fn;
    l->observe_ctx = ctx;
}

cap_result cap_line_bytes(cap_line *l, unsigned dir, const uint8_t *b, size_t n, uint64_t now_us)
{
    if (l->status != CAP_OK || (dir != CAP_DIR_TO_METER && dir != CAP_DIR_FROM_METER))
        return l->status;
    l->cur_dir = dir;
    cap_frames_push(&l->dir[dir == CAP_DIR_FROM_METER].frames, b, n, now_us, on_frame, l);
    return l->status;
}

cap_result cap_line_tick(cap_line *l, uint64_t now_us)
{
    for (unsigned d = CAP_DIR_TO_METER; d <= CAP_DIR_FROM_METER && l->status == CAP_OK; d++) {
        l->cur_dir = d;
        cap_frames_flush(&l->dir[d == CAP_DIR_FROM_METER].frames, now_us, false, on_frame, l);
    }
    return l->status;
}

void cap_line_mark(cap_line *l, unsigned dir, const char *text)
{
    if (dir != CAP_DIR_TO_METER && dir != CAP_DIR_FROM_METER)
        return;
    char *m = l->dir[dir == CAP_DIR_FROM_METER].mark;
    for (size_t i = l->n_held; i-- > 0;)
        if (l->held[i].dir == dir) {
            m = l->held[i].mark; /* the bytes are recorded: their last complete frame */
            break;
        }
    size_t k = strlen(m);
    if (k + 3 < MARK_MAX)
        snprintf(m + k, MARK_MAX - k, "%s%s", k ? "; " : "", text);
}

uint64_t cap_line_packets(const cap_line *l) { return l->packets; }
const char *cap_line_error(const cap_line *l) { return l->status == CAP_OK ? NULL : l->err; }

void cap_line_close(cap_line *l, uint64_t now_us)
{
    if (!l)
        return;
    cap_line_commit(l);
    for (unsigned d = CAP_DIR_TO_METER; d <= CAP_DIR_FROM_METER; d++) {
        l->cur_dir = d;
        cap_frames_flush(&l->dir[d == CAP_DIR_FROM_METER].frames, now_us, true, on_frame, l);
    }
    close(l->fd);
    free(l);
}
