/* Check suite: sim_security, the meter's RC4-mode pipeline (docs/mep.md 5.5,
 * 5.6, 3.4): sequence-window edges, key order, encryption detection, the
 * 0x0B and 0x0C answers, malformed lengths. Frames are built here from
 * fields with the proto helpers, like a client would. */
#include <check.h>
#include <string.h>

#include "check_run.h"
#include "mep_digest.h"
#include "mep_frame.h"
#include "mep_rc4.h"
#include "sim_security.h"

static const uint8_t MAK[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const uint8_t MBK[16] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
static const uint8_t BAD[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};

/* BT23 partial read off 0 n 44 (RC4 Example 1's request). */
static const uint8_t READ_BT23[] = {0x3F, 0x00, 0x17, 0x00, 0x00, 0x00, 0x00, 0x2C};

/* A configuration with the given keys and the default window. */
static sim_sec_cfg keys_cfg(const uint8_t mak[16], const uint8_t mbk[16])
{
    sim_sec_cfg c;
    memset(&c, 0, sizeof c);
    memcpy(c.mak, mak, 16);
    memcpy(c.mbk, mbk, 16);
    return c;
}

static void setup_sec(sim_security *s, uint32_t e)
{
    sim_sec_cfg c = keys_cfg(MAK, MBK);
    sim_sec_init(s, &c, e);
}

/* Build `len | req seq | digest(key, req seq)`, optionally RC4-encrypted. */
static size_t build(uint8_t *out, const uint8_t *req, size_t n, uint32_t seq, const uint8_t *key,
                    bool enc)
{
    uint8_t plain[MEP_MAX_BODY];
    memcpy(plain, req, n);
    mep_put_be32(plain + n, seq);
    size_t pl = n + 4;
    uint8_t d[8];
    mep_digest(key, plain, pl, d);
    mep_put_be16(out, (uint16_t)(pl + 8));
    memcpy(out + 2, plain, pl);
    if (enc) {
        mep_rc4 c;
        mep_rc4_packet_init(&c, key, d);
        mep_rc4_crypt(&c, out + 2, pl);
    }
    memcpy(out + 2 + pl, d, 8);
    return pl + 10;
}

static sim_sec_verdict open_seq(sim_security *s, uint32_t seq, sim_sec_exchange *x)
{
    uint8_t f[64];
    size_t n = build(f, READ_BT23, sizeof READ_BT23, seq, MAK, false);
    return sim_sec_open(s, f, n, x);
}

START_TEST(test_window_edges)
{
    /* docs/mep.md 5.5: accept E..E+7 (1..8 after the last accepted); E = rx+1. */
    static const struct {
        uint32_t e, rx;
        bool ok;
    } cases[] = {
        {1000, 1000, true},   /* 0 ahead of E (1 after the last accepted) */
        {1000, 1001, true},   /* 1 */
        {1000, 1007, true},   /* 7: last inside the window */
        {1000, 1008, false},  /* 8 */
        {1000, 1009, false},  /* 9 */
        {1000, 999, false},   /* replay E-1 */
        {1000, 500, false},   /* far behind */
        {0xFFFFFFFE, 0xFFFFFFFE, true}, /* wrap: E just below 2^32 */
        {0xFFFFFFFE, 0x00000001, true}, /* E+3 across the wrap */
        {0xFFFFFFFE, 0x00000005, true}, /* E+7 across the wrap */
        {0xFFFFFFFE, 0x00000006, false}, /* E+8 across the wrap */
        {0x00000002, 0xFFFFFFFF, false}, /* 3 behind across the wrap */
        {0x00000000, 0xFFFFFFFF, false}, /* replay of E-1 across the wrap */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sim_security s;
        sim_sec_exchange x;
        setup_sec(&s, cases[i].e);
        sim_sec_verdict v = open_seq(&s, cases[i].rx, &x);
        ck_assert_msg((v == SIM_SEC_OK) == cases[i].ok, "case %zu: E=%08X rx=%08X verdict %s", i,
                      cases[i].e, cases[i].rx, sim_sec_verdict_name(v));
        if (cases[i].ok)
            ck_assert_uint_eq(s.next_seq, (uint32_t)(cases[i].rx + 1u));
        else
            ck_assert_uint_eq(s.next_seq, cases[i].e); /* E unchanged */
        ck_assert_uint_eq(sim_sec_window_accepts(cases[i].e, cases[i].rx, 8), cases[i].ok);
    }
}
END_TEST

START_TEST(test_replay_flag)
{
    sim_security s;
    sim_sec_exchange x;
    setup_sec(&s, 0x100);
    ck_assert_int_eq(open_seq(&s, 0x100, &x), SIM_SEC_OK);
    ck_assert(!x.replay);
    ck_assert_int_eq(open_seq(&s, 0x100, &x), SIM_SEC_SEQ_REJECT);
    ck_assert(x.replay);
    ck_assert_int_eq(open_seq(&s, 0x50, &x), SIM_SEC_SEQ_REJECT);
    ck_assert(!x.replay);
}
END_TEST

START_TEST(test_custom_window)
{
    sim_security s;
    sim_sec_exchange x;
    sim_sec_cfg c = keys_cfg(MAK, MBK);
    c.window = 1; /* strict: only E */
    sim_sec_init(&s, &c, 10);
    ck_assert_int_eq(open_seq(&s, 11, &x), SIM_SEC_SEQ_REJECT);
    ck_assert_int_eq(open_seq(&s, 10, &x), SIM_SEC_OK);
    c.window = 0; /* 0 means the default 8 */
    sim_sec_init(&s, &c, 10);
    ck_assert_uint_eq(s.cfg.window, 8);
}
END_TEST

START_TEST(test_mak_before_mbk)
{
    /* Both keys equal: the MAK must win (docs/mep.md 5.6: MAK tried first). */
    sim_security s;
    sim_sec_exchange x;
    sim_sec_cfg c = keys_cfg(MAK, MAK);
    sim_sec_init(&s, &c, 5);
    ck_assert_int_eq(open_seq(&s, 5, &x), SIM_SEC_OK);
    ck_assert_int_eq(x.level, SIM_LEVEL_MAK);
}
END_TEST

START_TEST(test_mbk_only_access_level)
{
    sim_security s;
    sim_sec_exchange x;
    setup_sec(&s, 5);
    uint8_t f[64];
    size_t n = build(f, READ_BT23, sizeof READ_BT23, 5, MBK, false);
    ck_assert_int_eq(sim_sec_open(&s, f, n, &x), SIM_SEC_OK);
    ck_assert_int_eq(x.level, SIM_LEVEL_MBK);
    ck_assert(!x.encrypted);
    ck_assert_mem_eq(x.key, MBK, 16);
    /* Encrypted with the MBK: found by the second (decrypting) pass. */
    n = build(f, READ_BT23, sizeof READ_BT23, 6, MBK, true);
    ck_assert_int_eq(sim_sec_open(&s, f, n, &x), SIM_SEC_OK);
    ck_assert_int_eq(x.level, SIM_LEVEL_MBK);
    ck_assert(x.encrypted);
    ck_assert_mem_eq(x.plain, READ_BT23, sizeof READ_BT23);
}
END_TEST

START_TEST(test_encrypted_detection_and_response)
{
    sim_security s;
    sim_sec_exchange x;
    setup_sec(&s, 0x77635B90);
    uint8_t f[64], out[MEP_MAX_FRAME];
    size_t n = build(f, READ_BT23, sizeof READ_BT23, 0x77635B91, MAK, true);
    ck_assert_int_eq(sim_sec_open(&s, f, n, &x), SIM_SEC_OK);
    ck_assert(x.encrypted);
    ck_assert_int_eq(x.level, SIM_LEVEL_MAK);
    ck_assert_uint_eq(x.rx_seq, 0x77635B91);
    /* Response: encrypted with the continued keystream, digest on plain. */
    const uint8_t resp[] = {0x00, 0x00, 0x02, 0xAA, 0xBB};
    size_t rn;
    ck_assert_int_eq(sim_sec_seal(&x, resp, sizeof resp, out, sizeof out, &rn), SIM_SEC_SEALED);
    ck_assert_uint_eq(rn, 2 + sizeof resp + 8);
    ck_assert_uint_eq(mep_get_be16(out), sizeof resp + 8);
    /* Client side: same packet key, decrypt request then response. */
    uint8_t d[8], req_plain[12], buf[sizeof resp];
    mep_rc4 c;
    memcpy(d, f + n - 8, 8);
    mep_rc4_packet_init(&c, MAK, d);
    memcpy(req_plain, f + 2, 12);
    mep_rc4_crypt(&c, req_plain, 12);
    memcpy(buf, out + 2, sizeof resp);
    ck_assert(memcmp(buf, resp, sizeof resp) != 0); /* really encrypted */
    mep_rc4_crypt(&c, buf, sizeof resp);
    ck_assert_mem_eq(buf, resp, sizeof resp);
    uint8_t want[8];
    mep_digest_pair(MAK, req_plain, 12, resp, sizeof resp, want);
    ck_assert_mem_eq(out + 2 + sizeof resp, want, 8);
}
END_TEST

/* The last request's (key, encryption) is tried first: over any mix of
 * keys, encryption and wrong keys, every verdict, level, encryption flag,
 * plaintext and response keystream equals that of a meter that has no
 * such memory and follows the order of docs/mep.md 5.6 from scratch. */
START_TEST(test_remembered_key_changes_no_verdict)
{
    const uint8_t *keys[3] = {MAK, MBK, BAD};
    sim_security s, fresh;
    setup_sec(&s, 1000);
    uint32_t r = 12345u, seq = 1000;
    for (int i = 0; i < 400; i++) {
        r = r * 1103515245u + 12345u;
        unsigned k = (r >> 16) % 3u;
        bool enc = (r >> 20) & 1u;
        if (i % 50 < 20) /* runs of one combination, as a module sends them */
            k = 1, enc = i % 100 < 50;
        uint8_t f[64];
        size_t n = build(f, READ_BT23, sizeof READ_BT23, seq, keys[k], enc);
        fresh = s;
        fresh.has_last = false;
        sim_sec_exchange x, y;
        sim_sec_verdict v = sim_sec_open(&s, f, n, &x);
        sim_sec_verdict w = sim_sec_open(&fresh, f, n, &y);
        ck_assert_int_eq(v, w);
        ck_assert_int_eq(x.level, y.level);
        ck_assert_int_eq(x.encrypted, y.encrypted);
        ck_assert_uint_eq(s.next_seq, fresh.next_seq);
        if (v == SIM_SEC_OK) {
            ck_assert_int_eq(k == 0 ? SIM_LEVEL_MAK : SIM_LEVEL_MBK, x.level);
            ck_assert_mem_eq(x.plain, y.plain, x.plain_len);
            uint8_t a[8] = {0}, b[8] = {0};
            if (x.encrypted) { /* the response continues the same keystream */
                mep_rc4_crypt(&x.cipher, a, sizeof a);
                mep_rc4_crypt(&y.cipher, b, sizeof b);
            }
            ck_assert_mem_eq(a, b, 8);
            seq++;
        } else {
            ck_assert_int_eq(k, 2);
        }
    }
    ck_assert(s.has_last);
}
END_TEST

START_TEST(test_seq_reply_encrypted_when_request_was)
{
    sim_security s;
    sim_sec_exchange x;
    setup_sec(&s, 0x77635B90);
    uint8_t f[64], out[64];
    size_t n = build(f, READ_BT23, sizeof READ_BT23, 0x01020304, MAK, true);
    ck_assert_int_eq(sim_sec_open(&s, f, n, &x), SIM_SEC_SEQ_REJECT);
    ck_assert(x.encrypted);
    size_t rn = sim_sec_seq_reply(&s, &x, out, sizeof out);
    ck_assert_uint_eq(rn, 15);
    ck_assert_uint_eq(mep_get_be16(out), 13);
    /* Decrypt as the client: 0C + E, digest valid with the MAK. */
    mep_rc4 c;
    uint8_t tmp[12], body[5];
    mep_rc4_packet_init(&c, MAK, f + n - 8);
    memcpy(tmp, f + 2, 12);
    mep_rc4_crypt(&c, tmp, 12);
    memcpy(body, out + 2, 5);
    mep_rc4_crypt(&c, body, 5);
    const uint8_t want_body[5] = {0x0C, 0x77, 0x63, 0x5B, 0x90};
    ck_assert_mem_eq(body, want_body, 5);
    /* Guide RC4 Example 1 reply digest (plain request+response). */
    const uint8_t want_d[8] = {0x35, 0x86, 0x3C, 0x1D, 0xF5, 0xB9, 0x14, 0x82};
    ck_assert_mem_eq(out + 7, want_d, 8);
    ck_assert_uint_eq(s.next_seq, 0x77635B90);
}
END_TEST

START_TEST(test_seq_reply_plain_and_last_policy)
{
    sim_security s;
    sim_sec_exchange x;
    uint8_t out[64];
    setup_sec(&s, 0x77635B90);
    ck_assert_int_eq(open_seq(&s, 0x01020304, &x), SIM_SEC_SEQ_REJECT);
    size_t rn = sim_sec_seq_reply(&s, &x, out, sizeof out);
    const uint8_t guide[15] = {0x00, 0x0D, 0x0C, 0x77, 0x63, 0x5B, 0x90, 0x35,
                               0x86, 0x3C, 0x1D, 0xF5, 0xB9, 0x14, 0x82};
    ck_assert_uint_eq(rn, 15);
    ck_assert_mem_eq(out, guide, 15);
    s.cfg.seq_reply = SIM_SEQ_REPLY_LAST; /* S04 variant: E-1 */
    ck_assert_int_eq(open_seq(&s, 0x01020304, &x), SIM_SEC_SEQ_REJECT);
    rn = sim_sec_seq_reply(&s, &x, out, sizeof out);
    ck_assert_uint_eq(mep_get_be32(out + 3), 0x77635B8F);
    /* ... and re-using that number is a replay */
    ck_assert_int_eq(open_seq(&s, 0x77635B8F, &x), SIM_SEC_SEQ_REJECT);
    ck_assert(x.replay);
}
END_TEST

START_TEST(test_auth_fail_and_reply_framing)
{
    sim_security s;
    sim_sec_exchange x;
    setup_sec(&s, 5);
    uint8_t f[64], out[32];
    size_t n = build(f, READ_BT23, sizeof READ_BT23, 5, BAD, false);
    ck_assert_int_eq(sim_sec_open(&s, f, n, &x), SIM_SEC_AUTH_FAIL);
    ck_assert_int_eq(x.level, SIM_LEVEL_NONE);
    ck_assert_uint_eq(s.next_seq, 5); /* no state change */
    /* Also with a wrong key used for encryption. */
    n = build(f, READ_BT23, sizeof READ_BT23, 5, BAD, true);
    ck_assert_int_eq(sim_sec_open(&s, f, n, &x), SIM_SEC_AUTH_FAIL);
    /* A flipped digest byte under a good key. */
    n = build(f, READ_BT23, sizeof READ_BT23, 5, MAK, false);
    f[n - 1] ^= 1;
    ck_assert_int_eq(sim_sec_open(&s, f, n, &x), SIM_SEC_AUTH_FAIL);

    const uint8_t shortr[] = {0x00, 0x01, 0x0B};
    ck_assert_uint_eq(sim_sec_auth_reply(SIM_AUTH_REPLY_SHORT, out, sizeof out), 3);
    ck_assert_mem_eq(out, shortr, 3);
    const uint8_t zero[] = {0x00, 0x09, 0x0B, 0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_uint_eq(sim_sec_auth_reply(SIM_AUTH_REPLY_ZERO_DIGEST, out, sizeof out), 11);
    ck_assert_mem_eq(out, zero, 11);
    ck_assert_uint_eq(sim_sec_auth_reply(SIM_AUTH_REPLY_SILENT, out, sizeof out), 0);
    ck_assert_uint_eq(sim_sec_auth_reply(SIM_AUTH_REPLY_ZERO_DIGEST, out, 5), 0); /* no room */
}
END_TEST

START_TEST(test_malformed_lengths)
{
    sim_security s;
    sim_sec_exchange x;
    setup_sec(&s, 5);
    uint8_t f[MEP_MAX_FRAME + 8];
    memset(f, 0x3F, sizeof f);
    /* body 14 (< 15), 477 (> 476), 0, and length field disagreeing */
    const size_t bodies[] = {14, 477, 0, 1};
    for (size_t i = 0; i < 4; i++) {
        mep_put_be16(f, (uint16_t)bodies[i]);
        ck_assert_int_eq(sim_sec_open(&s, f, bodies[i] + 2, &x), SIM_SEC_MALFORMED);
    }
    mep_put_be16(f, 20);
    ck_assert_int_eq(sim_sec_open(&s, f, 21, &x), SIM_SEC_MALFORMED);
    ck_assert_int_eq(sim_sec_open(&s, f, 1, &x), SIM_SEC_MALFORMED);
    ck_assert_int_eq(sim_sec_open(&s, f, 0, &x), SIM_SEC_MALFORMED);
    ck_assert_uint_eq(s.next_seq, 5);
    /* 15 and 476 are legal lengths (they fail authentication instead). */
    mep_put_be16(f, 15);
    ck_assert_int_eq(sim_sec_open(&s, f, 17, &x), SIM_SEC_AUTH_FAIL);
    mep_put_be16(f, 476);
    ck_assert_int_eq(sim_sec_open(&s, f, 478, &x), SIM_SEC_AUTH_FAIL);
}
END_TEST

START_TEST(test_strict_full_read_count)
{
    sim_security s;
    sim_sec_exchange x;
    uint8_t f[64];
    const uint8_t countless[] = {0x30, 0x00, 0x34};
    const uint8_t counted[] = {0x30, 0x00, 0x34, 0x02, 0x00};
    setup_sec(&s, 5);
    size_t n = build(f, countless, sizeof countless, 5, MAK, false);
    ck_assert_int_eq(sim_sec_open(&s, f, n, &x), SIM_SEC_OK); /* default: accepted */
    s.cfg.strict_full_read_count = true;
    n = build(f, countless, sizeof countless, 6, MAK, false);
    ck_assert_int_eq(sim_sec_open(&s, f, n, &x), SIM_SEC_SEQ_REJECT);
    ck_assert(x.countless_read);
    ck_assert_uint_eq(s.next_seq, 6);
    n = build(f, counted, sizeof counted, 6, MAK, false);
    ck_assert_int_eq(sim_sec_open(&s, f, n, &x), SIM_SEC_OK);
}
END_TEST

START_TEST(test_seal_limits)
{
    sim_security s;
    sim_sec_exchange x;
    setup_sec(&s, 5);
    ck_assert_int_eq(open_seq(&s, 5, &x), SIM_SEC_OK);
    uint8_t big[MEP_MAX_BODY], out[MEP_MAX_FRAME];
    memset(big, 0, sizeof big);
    /* 468 + 8 = 476: the largest body */
    size_t n = 99;
    ck_assert_int_eq(sim_sec_seal(&x, big, 468, out, sizeof out, &n), SIM_SEC_SEALED);
    ck_assert_uint_eq(n, 478);
    /* each refusal says why and leaves no frame: the caller tells "too long"
     * (a bug upstream) from "nothing to send" */
    ck_assert_int_eq(sim_sec_seal(&x, big, 469, out, sizeof out, &n), SIM_SEC_SEAL_TOO_LONG);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(sim_sec_seal(&x, big, 0, out, sizeof out, &n), SIM_SEC_SEAL_EMPTY);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(sim_sec_seal(&x, big, 10, out, 19, &n), SIM_SEC_SEAL_NO_ROOM);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(sim_sec_seal_name(SIM_SEC_SEAL_TOO_LONG), "body too long");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("security");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_window_edges);
    tcase_add_test(tc, test_replay_flag);
    tcase_add_test(tc, test_custom_window);
    tcase_add_test(tc, test_mak_before_mbk);
    tcase_add_test(tc, test_mbk_only_access_level);
    tcase_add_test(tc, test_encrypted_detection_and_response);
    tcase_add_test(tc, test_remembered_key_changes_no_verdict);
    tcase_add_test(tc, test_seq_reply_encrypted_when_request_was);
    tcase_add_test(tc, test_seq_reply_plain_and_last_policy);
    tcase_add_test(tc, test_auth_fail_and_reply_framing);
    tcase_add_test(tc, test_malformed_lengths);
    tcase_add_test(tc, test_strict_full_read_count);
    tcase_add_test(tc, test_seal_limits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
