/* test_cap: the pcapng writer and reader (cap_pcapng), delimiting as the
 * receivers do (cap_frames), one line into a shared capture file
 * (cap_line), and the -v style decoder (cap_decode) on the field BT28
 * capture (fixtures/captures/field-bt28.pcapng, made from
 * docs/module-behaviour.md 7 by make_field_bt28.py). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cap_decode.h"
#include "cap_frames.h"
#include "cap_line.h"
#include "cap_pcapng.h"
#include "check_run.h"

/* ---- pcapng --------------------------------------------------------------- */

START_TEST(test_blocks_round_trip)
{
    uint8_t buf[1024];
    size_t o = cap_pcapng_shb(buf, sizeof buf, "unit test");
    ck_assert_uint_gt(o, 0);
    o += cap_pcapng_idb(buf + o, sizeof buf - o, CAP_LINKTYPE_USER0, "meter0", "MEP port");
    static const uint8_t data[] = {1, 1, 1, 0, 0x00, 0x03, 0xAA, 0xBB, 0xCC};
    cap_pcapng_packet p = {.ifid = 0, .ts_us = 0x123456789ABull, .data = data, .len = sizeof data,
                           .flags = CAP_EPB_INBOUND, .comment = "flip injected"};
    size_t e = cap_pcapng_epb(buf + o, sizeof buf - o, &p);
    ck_assert_uint_eq(e, cap_pcapng_epb_size(&p));
    ck_assert_uint_eq(e % 4, 0);
    o += e;

    cap_reader r;
    cap_block b;
    char err[128];
    cap_reader_init(&r, buf, o);
    ck_assert_int_eq(cap_pcapng_next(&r, &b, err, sizeof err), CAP_OK);
    ck_assert_uint_eq(b.type, CAP_BT_SHB);
    ck_assert_uint_eq(b.userappl_len, 9);
    ck_assert_int_eq(memcmp(b.userappl, "unit test", 9), 0);
    ck_assert_int_eq(cap_pcapng_next(&r, &b, err, sizeof err), CAP_OK);
    ck_assert_uint_eq(b.type, CAP_BT_IDB);
    ck_assert_uint_eq(b.linktype, 147);
    ck_assert_uint_eq(b.tsresol, 6);
    ck_assert_int_eq(memcmp(b.if_name, "meter0", 6), 0);
    ck_assert_int_eq(cap_pcapng_next(&r, &b, err, sizeof err), CAP_OK);
    ck_assert_uint_eq(b.type, CAP_BT_EPB);
    ck_assert_uint_eq(b.ts_raw, 0x123456789ABull);
    ck_assert_uint_eq(b.len, sizeof data);
    ck_assert_int_eq(memcmp(b.data, data, sizeof data), 0);
    ck_assert_uint_eq(b.epb_flags, CAP_EPB_INBOUND);
    ck_assert_uint_eq(b.comment_len, 13);
    ck_assert_int_eq(memcmp(b.comment, "flip injected", 13), 0);
    ck_assert_int_eq(cap_pcapng_next(&r, &b, err, sizeof err), CAP_END);
    /* an encoder never writes past cap */
    ck_assert_uint_eq(cap_pcapng_epb(buf, e - 1, &p), 0);
}
END_TEST

START_TEST(test_reader_rejects_bad_files)
{
    uint8_t buf[256] = {0};
    cap_reader r;
    cap_block b;
    char err[128];
    cap_reader_init(&r, buf, 0);
    ck_assert_int_eq(cap_pcapng_next(&r, &b, err, sizeof err), CAP_ERR_FORMAT);
    static const char text[] = "this is not a capture at all";
    cap_reader_init(&r, (const uint8_t *)text, sizeof text);
    ck_assert_int_eq(cap_pcapng_next(&r, &b, err, sizeof err), CAP_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "section header"));
    /* a block cut short */
    size_t n = cap_pcapng_shb(buf, sizeof buf, "x");
    n += cap_pcapng_idb(buf + n, sizeof buf - n, 147, "a", NULL);
    cap_reader_init(&r, buf, n - 6);
    ck_assert_int_eq(cap_pcapng_next(&r, &b, err, sizeof err), CAP_OK);
    ck_assert_int_eq(cap_pcapng_next(&r, &b, err, sizeof err), CAP_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "past the end"));
}
END_TEST

/* ---- delimiting ----------------------------------------------------------- */

typedef struct {
    cap_frame f[16];
    uint8_t bytes[16][64];
    size_t n;
} frames_seen;

static void collect(void *ctx, const cap_frame *f)
{
    frames_seen *s = ctx;
    ck_assert_uint_lt(s->n, 16);
    s->f[s->n] = *f;
    memcpy(s->bytes[s->n], f->b, f->n < 64 ? f->n : 64);
    s->n++;
}

START_TEST(test_mep_frames_by_length)
{
    cap_frames d;
    frames_seen s = {0};
    cap_frames_init(&d, CAP_PORT_MEP);
    /* a 5-byte body in two chunks, then an alert, then noise, then a frame */
    static const uint8_t a[] = {0x00, 0x05, 0x30, 0x00}, b[] = {0x1C, 0x02, 0x00, 0x00, 0x00};
    cap_frames_push(&d, a, sizeof a, 1000, collect, &s);
    ck_assert_uint_eq(s.n, 0);
    cap_frames_push(&d, b, sizeof b, 2000, collect, &s);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_int_eq(s.f[0].type, CAP_FRAME_MEP);
    ck_assert_uint_eq(s.f[0].n, 7);
    ck_assert_uint_eq(s.f[0].ts_us, 2000);
    ck_assert_int_eq(s.f[1].type, CAP_FRAME_MEP); /* 00 00 alert */
    ck_assert_uint_eq(s.f[1].n, 2);
    static const uint8_t noise[] = {0x7F, 0x80, 0x00, 0x05, 0x55};
    cap_frames_push(&d, noise, sizeof noise, 3000, collect, &s);
    ck_assert_uint_eq(s.n, 3);
    ck_assert_int_eq(s.f[2].type, CAP_FRAME_RAW);
    ck_assert_uint_eq(s.f[2].n, 2);
    ck_assert(cap_frames_busy(&d)); /* 00 05 55: a frame waiting for the rest of its body */
}
END_TEST

START_TEST(test_gap_and_oversize)
{
    cap_frames d;
    frames_seen s = {0};
    cap_frames_init(&d, CAP_PORT_MEP);
    static const uint8_t half[] = {0x00, 0x10, 0x30};
    cap_frames_push(&d, half, sizeof half, 0, collect, &s);
    /* 51 ms later: the receiver aborted the frame (docs/mep.md 4) */
    static const uint8_t over[] = {0x01, 0xFF, 1, 2, 3};
    cap_frames_push(&d, over, sizeof over, CAP_MEP_GAP_US + 1000, collect, &s);
    ck_assert_uint_eq(s.n, 1);
    ck_assert_int_eq(s.f[0].type, CAP_FRAME_MEP);
    ck_assert_uint_eq(s.f[0].flags, CAP_FLAG_INCOMPLETE);
    ck_assert_uint_eq(s.f[0].n, 3);
    /* length 0x01FF > 476: discarded until a gap, 0xEE included */
    static const uint8_t more[] = {0xEE, 0x00};
    cap_frames_push(&d, more, sizeof more, CAP_MEP_GAP_US + 2000, collect, &s);
    ck_assert_uint_eq(s.n, 1);
    cap_frames_flush(&d, CAP_MEP_GAP_US + 3000, false, collect, &s);
    ck_assert_uint_eq(s.n, 1); /* no gap yet */
    cap_frames_flush(&d, 2 * CAP_MEP_GAP_US + 3000, false, collect, &s);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_int_eq(s.f[1].type, CAP_FRAME_RAW);
    ck_assert_uint_eq(s.f[1].flags, CAP_FLAG_BAD_LENGTH);
    ck_assert_uint_eq(s.f[1].n, 7);
}
END_TEST

START_TEST(test_c1218_packets_and_acks)
{
    cap_frames d;
    frames_seen s = {0};
    cap_frames_init(&d, CAP_PORT_OPTICAL);
    /* docs/optical.md 2.2 example packet EE 00 00 00 00 01 20 + CRC 13 10,
     * after a wake-up byte 0x55, then an ACK */
    static const uint8_t in[] = {0x55, 0xEE, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x13, 0x10, 0x06};
    cap_frames_push(&d, in, sizeof in, 10, collect, &s);
    ck_assert_uint_eq(s.n, 3);
    ck_assert_int_eq(s.f[0].type, CAP_FRAME_RAW);
    ck_assert_uint_eq(s.f[0].n, 1);
    ck_assert_int_eq(s.f[1].type, CAP_FRAME_C1218);
    ck_assert_uint_eq(s.f[1].n, 9);
    ck_assert_int_eq(s.f[2].type, CAP_FRAME_C1218_ACK);
    /* an optical line has no MEP frames: 00 01 is noise */
    static const uint8_t z[] = {0x00, 0x01};
    cap_frames_push(&d, z, sizeof z, 20, collect, &s);
    cap_frames_flush(&d, 20, true, collect, &s);
    ck_assert_int_eq(s.f[3].type, CAP_FRAME_RAW);
    ck_assert_uint_eq(s.f[3].n, 2);
}
END_TEST

/* ---- a line into a shared file -------------------------------------------- */

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

START_TEST(test_lines_share_one_file)
{
    char path[] = "/tmp/test_cap_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "stale", 5), 5); /* another owner's leftovers */
    close(fd);
    char err[256];
    cap_line *a = cap_line_open(path, "owner 1", "meter0", "MEP", CAP_PORT_MEP, err, sizeof err);
    cap_line *b = cap_line_open(path, "owner 1", "meter0 optical", "optical", CAP_PORT_OPTICAL, err, sizeof err);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    static const uint8_t req[] = {0x00, 0x01, 0x99}, ack[] = {0x06};
    cap_line_mark(a, CAP_DIR_TO_METER, "flip injected");
    ck_assert_int_eq(cap_line_bytes(a, CAP_DIR_TO_METER, req, sizeof req, 5000000), CAP_OK);
    ck_assert_int_eq(cap_line_bytes(b, CAP_DIR_FROM_METER, ack, sizeof ack, 5000001), CAP_OK);
    ck_assert_int_eq(cap_line_bytes(a, CAP_DIR_FROM_METER, req, 2, 5000002), CAP_OK);
    ck_assert_uint_eq(cap_line_packets(a), 1);
    cap_line_close(a, 9000000); /* the half frame goes out as incomplete */
    cap_line_close(b, 9000000);

    uint8_t buf[2048];
    size_t n = read_file(path, buf, sizeof buf);
    cap_reader r;
    cap_block blk;
    cap_reader_init(&r, buf, n);
    uint32_t types[8], ifids[8];
    uint8_t hdr[8][4];
    char comments[8][128];
    size_t k = 0;
    while (cap_pcapng_next(&r, &blk, err, sizeof err) == CAP_OK && k < 8) {
        types[k] = blk.type;
        ifids[k] = blk.ifid;
        snprintf(comments[k], sizeof comments[k], "%.*s", (int)blk.comment_len, blk.comment ? blk.comment : "");
        if (blk.type == CAP_BT_EPB)
            memcpy(hdr[k], blk.data, 4);
        k++;
    }
    unlink(path);
    ck_assert_uint_eq(k, 6);
    ck_assert_uint_eq(types[0], CAP_BT_SHB);
    ck_assert_uint_eq(types[1], CAP_BT_IDB);
    ck_assert_uint_eq(types[2], CAP_BT_IDB);
    ck_assert_uint_eq(ifids[3], 0);
    ck_assert_uint_eq(hdr[3][0], CAP_DIR_TO_METER);
    ck_assert_uint_eq(hdr[3][1], CAP_PORT_MEP);
    ck_assert_uint_eq(hdr[3][2], CAP_FRAME_MEP);
    ck_assert_uint_eq(hdr[3][3], CAP_FLAG_FAULT);
    ck_assert_str_eq(comments[3], "flip injected");
    ck_assert_uint_eq(ifids[4], 1);
    ck_assert_uint_eq(hdr[4][2], CAP_FRAME_C1218_ACK);
    ck_assert_uint_eq(hdr[5][3], CAP_FLAG_INCOMPLETE);
    ck_assert_ptr_nonnull(strstr(comments[5], "incomplete"));
}
END_TEST

/* Received bytes are recorded before the owner handles them and held
 * meanwhile: a fault the owner injects marks their frame, and a reply the
 * owner writes at once lands after them in the file. */
START_TEST(test_held_frames_take_marks_and_keep_order)
{
    char path[] = "/tmp/test_cap_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char err[256];
    cap_line *l = cap_line_open(path, "owner 2", "m", "d", CAP_PORT_OPTICAL, err, sizeof err);
    ck_assert_ptr_nonnull(l);
    static const uint8_t pkt[] = {0xEE, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x13, 0x10}, ack[] = {0x06};
    cap_line_hold(l, CAP_DIR_TO_METER);
    ck_assert_int_eq(cap_line_bytes(l, CAP_DIR_TO_METER, pkt, sizeof pkt, 100), CAP_OK);
    ck_assert_uint_eq(cap_line_packets(l), 0);          /* held */
    cap_line_mark(l, CAP_DIR_TO_METER, "flip injected"); /* reaches the held packet */
    cap_line_mark(l, CAP_DIR_FROM_METER, "drop injected"); /* the next reply */
    ck_assert_int_eq(cap_line_bytes(l, CAP_DIR_FROM_METER, ack, 1, 200), CAP_OK);
    ck_assert_uint_eq(cap_line_packets(l), 2);          /* held packet first, then the ACK */
    ck_assert_int_eq(cap_line_commit(l), CAP_OK);
    cap_line_close(l, 300);

    uint8_t buf[2048];
    size_t n = read_file(path, buf, sizeof buf);
    unlink(path);
    cap_reader r;
    cap_block b;
    cap_reader_init(&r, buf, n);
    const char *want[] = {"flip injected", "drop injected"};
    const uint8_t dirs[] = {CAP_DIR_TO_METER, CAP_DIR_FROM_METER};
    size_t k = 0;
    while (cap_pcapng_next(&r, &b, err, sizeof err) == CAP_OK) {
        if (b.type != CAP_BT_EPB)
            continue;
        ck_assert_uint_lt(k, 2);
        ck_assert_uint_eq(b.data[0], dirs[k]);
        ck_assert_uint_eq(b.data[3], CAP_FLAG_FAULT);
        ck_assert_uint_eq(b.comment_len, strlen(want[k]));
        ck_assert_int_eq(memcmp(b.comment, want[k], b.comment_len), 0);
        k++;
    }
    ck_assert_uint_eq(k, 2);
}
END_TEST

START_TEST(test_open_fails_with_message)
{
    char err[256] = "";
    cap_line *l = cap_line_open("/nonexistent-dir/x.pcapng", "o", "m", "d", CAP_PORT_MEP, err, sizeof err);
    ck_assert_ptr_null(l);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent-dir/x.pcapng"));
}
END_TEST

/* ---- decoding the field capture ---------------------------------------------- */

typedef struct {
    char lines[8][512];
    size_t n;
} lines_seen;

static void keep_line(void *ctx, uint32_t ifid, uint64_t ts, const char *line)
{
    (void)ifid;
    (void)ts;
    lines_seen *s = ctx;
    if (s->n < 8)
        snprintf(s->lines[s->n++], sizeof s->lines[0], "%s", line);
}

START_TEST(test_decode_field_bt28)
{
    static uint8_t buf[4096];
    size_t n = read_file(FIXTURES_DIR "/captures/field-bt28.pcapng", buf, sizeof buf);
    cap_reader r;
    cap_block b;
    char err[128];
    static cap_decoder d;
    lines_seen s = {0};
    cap_decode_init(&d, keep_line, &s);
    cap_reader_init(&r, buf, n);
    while (cap_pcapng_next(&r, &b, err, sizeof err) == CAP_OK)
        if (b.type == CAP_BT_EPB)
            cap_decode_packet(&d, b.ifid, b.ts_raw, b.data, b.len, NULL, 0);
    cap_decode_finish(&d);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_str_eq(s.lines[0], "READ BT28 full seq=0x8E2C0016 -> OK 220 bytes");
    ck_assert_str_eq(s.lines[1], "READ BT28 full seq=0xCEACE9E1 -> SEQ (next 0xCEACE9E2)");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cap");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_blocks_round_trip);
    tcase_add_test(tc, test_reader_rejects_bad_files);
    tcase_add_test(tc, test_mep_frames_by_length);
    tcase_add_test(tc, test_gap_and_oversize);
    tcase_add_test(tc, test_c1218_packets_and_acks);
    tcase_add_test(tc, test_lines_share_one_file);
    tcase_add_test(tc, test_held_frames_take_marks_and_keep_order);
    tcase_add_test(tc, test_open_fails_with_message);
    tcase_add_test(tc, test_decode_field_bt28);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
