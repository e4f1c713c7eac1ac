/* Check suite: firmware/core mepc_link (request framing, reply framing and
 * verification). Walks every verified request/reply pair of
 * fixtures/vectors/mep_rc4.json: the client must build the guide's request
 * bytes exactly and accept the guide's reply; then the framing edge cases:
 * bit flips, stale replies, stray bytes, `00 00` alerts (S25, S26), loopback
 * (S33), the field BT28 capture of docs/module-behaviour.md 7. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mepc_link.h"
#include "check_run.h"

static const uint8_t MAK01[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*s && n < cap) {
        unsigned v;
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        if (sscanf(s, "%2x", &v) != 1)
            break;
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

/* Rebuild a request from its wire bytes: parse code..data, take the seq. */
static void build_from_wire(mepc_link_req *r, const uint8_t *key, bool enc, const uint8_t *wire, size_t n)
{
    mep_request req;
    size_t body = n - 2 - 8 - 4;
    ck_assert_int_eq(mep_request_parse(wire + 2, body, &req), MEP_PARSE_OK);
    uint32_t seq = mep_get_be32(wire + 2 + body);
    ck_assert(mepc_link_build(r, key, enc, &req, seq));
}

static mepc_rx_event feed(mepc_link *l, const mepc_link_req *r, const uint8_t *p, size_t n, uint32_t now)
{
    mepc_link_push(l, p, n, now);
    return mepc_link_next(l, r, false);
}

START_TEST(test_vectors_request_bytes_and_reply_accepted)
{
    json_error_t err;
    json_t *root = json_load_file(FIXTURES_DIR "/vectors/mep_rc4.json", 0, &err);
    ck_assert_msg(root != NULL, "cannot load vectors: %s", err.text);
    json_t *vecs = json_object_get(root, "rc4_vectors");
    size_t i, pairs = 0;
    json_t *v;
    json_array_foreach(vecs, i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        json_t *verified = json_object_get(v, "verified");
        bool ok = json_is_true(verified) || (json_is_string(verified) && !strcmp(json_string_value(verified), "True"));
        if (!ok || !strstr(id, ".req"))
            continue;
        /* find the reply */
        json_t *resp = NULL, *w;
        size_t j;
        json_array_foreach(vecs, j, w) {
            const char *irt = json_string_value(json_object_get(w, "in_reply_to"));
            if (irt && !strcmp(irt, id))
                resp = w;
        }
        if (!resp)
            continue;
        uint8_t wire[600], rwire[600];
        size_t n = unhex(json_string_value(json_object_get(v, "raw_hex")), wire, sizeof wire);
        size_t rn = unhex(json_string_value(json_object_get(resp, "raw_hex")), rwire, sizeof rwire);
        if (n - 12 - 2 > MEPC_REQ_MAX_BODY - 12)  /* larger than anything the client sends */
            continue;
        mepc_link_req r;
        mepc_link l;
        memset(&r, 0, sizeof r);
        mepc_link_init(&l);
        build_from_wire(&r, MAK01, false, wire, n);
        ck_assert_msg(r.frame_len == n && !memcmp(r.frame, wire, n), "%s: request bytes differ", id);
        ck_assert_msg(feed(&l, &r, rwire, rn, 0) == MEPC_RX_REPLY, "%s: reply not accepted", id);
        ck_assert_int_eq(mepc_link_reply_len(&l), rn - 2 - 8);
        ck_assert_mem_eq(mepc_link_reply(&l), rwire + 2, rn - 10);
        ck_assert_int_eq(l.have, 0);
        pairs++;
    }
    ck_assert_uint_ge(pairs, 4);
    json_decref(root);
}
END_TEST

START_TEST(test_encrypted_request_and_reply)
{
    /* derived_enc_ex1_retry (docs/mep.md 5.4; our regression vector, not the guide's) */
    uint8_t plain[64], enc[64], renc[128], rplain[128];
    size_t n = unhex("00 14 3F 00 17 00 00 00 00 2C 77 63 5B 91 13 DB 85 A1 35 A0 57 5E", plain, 64);
    size_t en = unhex("00 14 54 45 EC 99 F5 CB 4C 26 5D F2 68 C1 13 DB 85 A1 35 A0 57 5E", enc, 64);
    size_t rn = unhex("00 37 7A C3 79 64 88 72 6E B5 0B 0B B9 3A 2F 43 41 C1 41 75 64 93 0E 62 45 80 1A D3 08 93 "
                      "82 51 20 80 F2 FD AB 15 C8 E3 0C D3 2E CA 3F 17 98 B2 FB AD DC B8 2C 3D 41 7F 91",
                      renc, 128);
    size_t pn = unhex("00 37 00 00 2C 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 08 00 00 00 03 00 00 00 00 "
                      "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 06 00 00 00 AD DC B8 2C 3D 41 7F 91",
                      rplain, 128);
    ck_assert_int_eq(n, en);
    ck_assert_int_eq(rn, pn);
    mepc_link_req r;
    mepc_link l;
    mepc_link_init(&l);
    build_from_wire(&r, MAK01, true, plain, n);
    ck_assert_mem_eq(r.frame, enc, en);
    ck_assert_int_eq(feed(&l, &r, renc, rn, 0), MEPC_RX_REPLY);
    ck_assert_mem_eq(mepc_link_reply(&l), rplain + 2, pn - 10);
    /* the plaintext reply is not accepted for an encrypted request */
    mepc_link_init(&l);
    ck_assert_int_eq(feed(&l, &r, rplain, pn, 0), MEPC_RX_REJECT);
}
END_TEST

/* The Example 1 retry request and its reply, for the edge cases below. */
static mepc_link_req ex_req;
static uint8_t ex_reply[64];
static size_t ex_reply_len;

static void ex_setup(void)
{
    uint8_t wire[64];
    size_t n = unhex("00 14 3F 00 17 00 00 00 00 2C 77 63 5B 91 13 DB 85 A1 35 A0 57 5E", wire, 64);
    build_from_wire(&ex_req, MAK01, false, wire, n);
    ex_reply_len = unhex("00 37 00 00 2C 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 08 00 00 00 03 00 00 00 "
                         "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 06 00 00 00 AD DC B8 2C 3D 41 7F 91",
                         ex_reply, 64);
}

START_TEST(test_every_single_bit_flip_is_rejected)
{
    ex_setup();
    for (size_t byte = 2; byte < ex_reply_len; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t f[64];
            mepc_link l;
            mepc_link_init(&l);
            memcpy(f, ex_reply, ex_reply_len);
            f[byte] ^= (uint8_t)(1u << bit);
            mepc_rx_event ev = feed(&l, &ex_req, f, ex_reply_len, 0);
            ck_assert_msg(ev == MEPC_RX_REJECT, "flip at %zu.%d accepted (%d)", byte, bit, ev);
        }
    }
}
END_TEST

START_TEST(test_length_field_flip_never_yields_a_reply)
{
    ex_setup();
    for (int bit = 0; bit < 16; bit++) {
        uint8_t f[64];
        mepc_link l;
        mepc_link_init(&l);
        memcpy(f, ex_reply, ex_reply_len);
        f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        mepc_link_push(&l, f, ex_reply_len, 0);
        mepc_rx_event ev;
        int replies = 0;
        while ((ev = mepc_link_next(&l, &ex_req, true)) != MEPC_RX_NONE)
            replies += ev == MEPC_RX_REPLY;
        ck_assert_int_eq(replies, 0);
        ck_assert_int_eq(l.have, 0);  /* idle line: everything flushed */
    }
}
END_TEST

START_TEST(test_reply_to_another_request_is_rejected)
{
    /* the same reply bytes, but the outstanding request has the next seq (S13, S14) */
    ex_setup();
    mepc_link_req other = ex_req;
    mep_request req = {.code = 0x3F, .table = 23, .offset = 0, .count = 44, .has_count = 1};
    ck_assert(mepc_link_build(&other, MAK01, false, &req, 0x77635B92));
    mepc_link l;
    mepc_link_init(&l);
    ck_assert_int_eq(feed(&l, &other, ex_reply, ex_reply_len, 0), MEPC_RX_REJECT);
    ck_assert_uint_eq(l.rejects, 1);
    /* with nothing outstanding it is an unexpected frame, dropped */
    mepc_link_init(&l);
    ck_assert_int_eq(feed(&l, NULL, ex_reply, ex_reply_len, 0), MEPC_RX_UNEXPECTED);
    ck_assert_int_eq(l.have, 0);
}
END_TEST

START_TEST(test_stray_bytes_before_reply_are_dropped)
{
    ex_setup();
    const uint8_t junk[][4] = {{0xFF, 0x13, 0x00, 0x00}, {0x05, 0x00, 0x00, 0x00}, {0x01, 0xC0, 0x7E, 0x00}};
    for (size_t k = 0; k < 3; k++) {
        for (size_t jl = 1; jl <= 3; jl++) {
            mepc_link l;
            mepc_link_init(&l);
            mepc_link_push(&l, junk[k], jl, 0);
            mepc_link_push(&l, ex_reply, ex_reply_len, 1);
            mepc_rx_event ev;
            int replies = 0;
            while ((ev = mepc_link_next(&l, &ex_req, false)) != MEPC_RX_NONE)
                replies += ev == MEPC_RX_REPLY;
            while ((ev = mepc_link_next(&l, &ex_req, true)) != MEPC_RX_NONE)
                replies += ev == MEPC_RX_REPLY;
            ck_assert_msg(replies == 1, "junk %zu/%zu: %d replies", k, jl, replies);
            ck_assert_uint_ge(l.stray_bytes, 1);
        }
    }
}
END_TEST

START_TEST(test_trailing_junk_does_not_spoil_next_reply)
{
    /* S12: junk after a valid reply, then (for the next request) the next reply */
    ex_setup();
    mepc_link l;
    mepc_link_init(&l);
    ck_assert_int_eq(feed(&l, &ex_req, ex_reply, ex_reply_len, 0), MEPC_RX_REPLY);
    const uint8_t junk[] = {0x00, 0x37, 0x42};
    mepc_link_push(&l, junk, sizeof junk, 5);
    ck_assert_int_eq(mepc_link_next(&l, NULL, true), MEPC_RX_NONE);
    ck_assert_int_eq(l.have, 0);
    ck_assert_uint_eq(l.stray_bytes, 3);
}
END_TEST

START_TEST(test_alert_then_reply_back_to_back)
{
    /* S26: `00 00` immediately followed by a reply that arrives split */
    ex_setup();
    mepc_link l;
    mepc_link_init(&l);
    const uint8_t z[2] = {0, 0};
    mepc_link_push(&l, z, 2, 0);
    mepc_link_push(&l, ex_reply, 3, 0);
    ck_assert_int_eq(mepc_link_next(&l, &ex_req, false), MEPC_RX_ALERT);
    ck_assert_int_eq(mepc_link_next(&l, &ex_req, false), MEPC_RX_NONE);
    mepc_link_push(&l, ex_reply + 3, ex_reply_len - 3, 1);
    ck_assert_int_eq(mepc_link_next(&l, &ex_req, false), MEPC_RX_REPLY);
    ck_assert_uint_eq(l.stray_bytes, 0);
}
END_TEST

START_TEST(test_zero_stream_is_alert_pairs_only)
{
    mepc_link l;
    uint8_t z[100];
    memset(z, 0, sizeof z);
    mepc_link_init(&l);
    mepc_link_push(&l, z, sizeof z, 0);
    int alerts = 0;
    mepc_rx_event ev;
    while ((ev = mepc_link_next(&l, NULL, false)) != MEPC_RX_NONE) {
        ck_assert_int_eq(ev, MEPC_RX_ALERT);
        alerts++;
    }
    ck_assert_int_eq(alerts, 50);
}
END_TEST

START_TEST(test_loopback_is_reported)
{
    ex_setup();
    mepc_link l;
    mepc_link_init(&l);
    ck_assert_int_eq(feed(&l, &ex_req, ex_req.frame, ex_req.frame_len, 0), MEPC_RX_LOOPBACK);
    ck_assert_int_eq(l.have, 0);
}
END_TEST

START_TEST(test_auth_fail_both_framings)
{
    ex_setup();
    mepc_link l;
    const uint8_t short_form[] = {0x00, 0x01, 0x0B};
    const uint8_t digest_form[] = {0x00, 0x09, 0x0B, 0, 0, 0, 0, 0, 0, 0, 0};
    mepc_link_init(&l);
    ck_assert_int_eq(feed(&l, &ex_req, short_form, 3, 0), MEPC_RX_AUTH_FAIL);
    mepc_link_init(&l);
    ck_assert_int_eq(feed(&l, &ex_req, digest_form, sizeof digest_form, 0), MEPC_RX_AUTH_FAIL);
}
END_TEST

START_TEST(test_field_bt28_capture_framing)
{
    /* docs/module-behaviour.md 7: field request/reply; the MBK is unknown so the digest
     * cannot verify: the frame must be cut exactly and then rejected whole. */
    uint8_t req[32], rep[300];
    size_t n = unhex("00 11 30 00 1C 02 00 8E 2C 00 16 D7 16 7D 79 76 61 82 FF", req, sizeof req);
    const char *h =
        "00 E7 00 00 DC B0 01 00 00 00 00 00 00 00 00 00 00 21 02 00 00 BA 07 00 00 0E 03 00 00 56 03 00 00 55 7D 03 "
        "00 1F 73 03 00 9D 76 03 00 C7 02 00 00 50 C3 00 00 32 03 00 00 4F 01 00 00 12 01 00 00 3B FE FF FF 68 FC FF "
        "FF 5B FC FF FF B0 01 00 00 00 00 00 00 00 00 00 00 21 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 21 02 00 "
        "00 40 01 00 00 3B 00 00 00 35 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 40 01 00 00 3B 00 00 00 35 00 00 "
        "00 00 00 00 00 00 00 00 00 00 00 00 00 DF 07 00 00 0F 03 00 00 5A 03 00 00 86 7B 03 00 F8 74 03 00 83 7C 03 "
        "00 B4 7C 03 00 34 77 03 00 A9 72 03 00 B0 01 00 00 00 00 00 00 40 01 00 00 3B 00 00 00 35 00 00 00 00 00 00 "
        "00 00 00 00 00 00 00 00 00 BC 2D A3 9E C9 DA 59 FB";
    size_t rn = unhex(h, rep, sizeof rep);
    ck_assert_int_eq(n, 19);
    ck_assert_int_eq(rn, 233);
    mepc_link_req r;
    uint8_t key[16] = {0};
    mep_request q;
    ck_assert_int_eq(mep_request_parse(req + 2, 5, &q), MEP_PARSE_OK);
    ck_assert_int_eq(q.table, 28);
    ck_assert_int_eq(q.count, 512);
    ck_assert(mepc_link_build(&r, key, false, &q, 0x8E2C0016));
    ck_assert_mem_eq(r.frame, req, 11);  /* everything up to the digest */
    mepc_link l;
    mepc_link_init(&l);
    mepc_link_push(&l, rep, 100, 0);
    ck_assert_int_eq(mepc_link_next(&l, &r, false), MEPC_RX_NONE);  /* incomplete: waits */
    mepc_link_push(&l, rep + 100, rn - 100, 25);
    ck_assert_int_eq(mepc_link_next(&l, &r, false), MEPC_RX_REJECT);
    ck_assert_int_eq(l.have, 0);
    ck_assert_uint_eq(l.stray_bytes, 0);
}
END_TEST

START_TEST(test_oversize_request_refused)
{
    mepc_link_req r;
    uint8_t data[200] = {0};
    mep_request q = {.code = 0x4F, .table = 0x832, .offset = 0, .count = 200, .has_count = 1, .data = data,
                     .data_len = 200};
    ck_assert(!mepc_link_build(&r, MAK01, false, &q, 1));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fw_link");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_vectors_request_bytes_and_reply_accepted);
    tcase_add_test(tc, test_encrypted_request_and_reply);
    tcase_add_test(tc, test_every_single_bit_flip_is_rejected);
    tcase_add_test(tc, test_length_field_flip_never_yields_a_reply);
    tcase_add_test(tc, test_reply_to_another_request_is_rejected);
    tcase_add_test(tc, test_stray_bytes_before_reply_are_dropped);
    tcase_add_test(tc, test_trailing_junk_does_not_spoil_next_reply);
    tcase_add_test(tc, test_alert_then_reply_back_to_back);
    tcase_add_test(tc, test_zero_stream_is_alert_pairs_only);
    tcase_add_test(tc, test_loopback_is_reported);
    tcase_add_test(tc, test_auth_fail_both_framings);
    tcase_add_test(tc, test_field_bt28_capture_framing);
    tcase_add_test(tc, test_oversize_request_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
