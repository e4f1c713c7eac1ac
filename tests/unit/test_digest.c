/* Check suite: proto/mep_digest and proto/mep_rc4 on the guide's vectors.
 * Byte-exact vectors from fixtures/vectors/mep_rc4.json are walked by
 * test_vectors.c; this suite covers the primitives' edge cases. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "mep_digest.h"
#include "mep_rc4.h"

static const uint8_t MAK01[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

START_TEST(test_digest_example1_request)
{
    /* RC4 Example 1, first request (MEP guide p.21). */
    const uint8_t msg[] = {0x3F, 0x00, 0x17, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x01, 0x02, 0x03, 0x04};
    const uint8_t want[8] = {0x74, 0x86, 0x1F, 0x6D, 0x76, 0x58, 0xDD, 0x56};
    uint8_t d[8];
    mep_digest(MAK01, msg, sizeof msg, d);
    ck_assert_mem_eq(d, want, 8);
}
END_TEST

START_TEST(test_digest_incremental_equals_oneshot)
{
    uint8_t msg[700], a[8], b[8];
    for (unsigned i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(7 * i + 3);
    for (size_t len = 0; len <= sizeof msg; len += 37) {
        for (size_t split = 0; split <= len; split += 61) {
            mep_digest(MAK01, msg, len, a);
            mep_digest_pair(MAK01, msg, split, msg + split, len - split, b);
            if (len > 0)
                ck_assert_mem_eq(a, b, 8);
        }
    }
}
END_TEST

/* The closed form of docs/mep.md 5.2, one step per byte, written independently
 * of proto/mep_digest.c (which computes eight steps at a time). */
static void ref_digest(const uint8_t key[16], const uint8_t *msg, size_t len, uint8_t d[8])
{
    memset(d, 0, 8);
    size_t total = len == 0 ? 192 : ((len + 191) / 192) * 192;
    for (size_t p = 0; p < total; p++) {
        uint8_t m = p < len ? msg[p] : 0;
        unsigned t = (unsigned)(p % 192);
        uint8_t kb = key[(t >> 3) % 16];
        unsigned bit = (kb >> (t & 7)) & 1u;
        unsigned v = 7u - (t & 7u);
        uint8_t n = (uint8_t)~(uint8_t)(d[v] + v);
        uint8_t mix = bit ? (uint8_t)((n << 1) | (n >> 7)) : (uint8_t)(0u - ((n >> 1) | (n << 7)));
        d[v] = (uint8_t)(d[(v + 1) & 7u] + m + mix);
    }
}

START_TEST(test_digest_matches_reference_closed_form)
{
    uint64_t r = 0x9E3779B97F4A7C15ull;
    uint8_t key[16], msg[700], a[8], b[8], c[8];
    for (int round = 0; round < 400; round++) {
        for (unsigned i = 0; i < 16; i++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            key[i] = (uint8_t)r;
        }
        size_t len = round < 200 ? (size_t)round : (size_t)(r % sizeof msg);
        for (size_t i = 0; i < len; i++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            msg[i] = (uint8_t)r;
        }
        ref_digest(key, msg, len, a);
        mep_digest(key, msg, len, b);
        ck_assert_mem_eq(a, b, 8);
        /* fed in three pieces at odd split points (unaligned head/tail paths) */
        size_t s1 = len ? (size_t)(r % (len + 1)) : 0, s2 = s1 + (len - s1) / 3;
        mep_digest_ctx ctx;
        mep_digest_init(&ctx, key);
        mep_digest_update(&ctx, msg, s1);
        mep_digest_update(&ctx, msg + s1, s2 - s1);
        mep_digest_update(&ctx, msg + s2, len - s2);
        mep_digest_final(&ctx, c);
        if (len > 0)
            ck_assert_mem_eq(a, c, 8);
    }
}
END_TEST

START_TEST(test_digest_equal_is_exact)
{
    uint8_t a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[8];
    memcpy(b, a, 8);
    ck_assert_int_eq(mep_digest_equal(a, b), 1);
    b[7] ^= 0x80;
    ck_assert_int_eq(mep_digest_equal(a, b), 0);
}
END_TEST

START_TEST(test_rc4_textbook_vector)
{
    /* RC4("Key", "Plaintext") = BBF316E8D940AF0AD3 */
    uint8_t buf[] = "Plaintext";
    const uint8_t want[] = {0xBB, 0xF3, 0x16, 0xE8, 0xD9, 0x40, 0xAF, 0x0A, 0xD3};
    mep_rc4 c;
    mep_rc4_init(&c, (const uint8_t *)"Key", 3);
    mep_rc4_crypt(&c, buf, 9);
    ck_assert_mem_eq(buf, want, 9);
}
END_TEST

START_TEST(test_rc4_mep_encrypt_key)
{
    /* docs/mep.md 5.4: encrypt key for MAK 16 x 01. */
    const uint8_t want[16] = {0x3E, 0x83, 0x81, 0xB2, 0x2E, 0x88, 0x7C, 0xAC,
                              0xBE, 0x9C, 0x80, 0x58, 0xD4, 0x4C, 0xBC, 0x1A};
    uint8_t k[16];
    mep_rc4_encrypt_key(MAK01, k);
    ck_assert_mem_eq(k, want, 16);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("digest");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_digest_example1_request);
    tcase_add_test(tc, test_digest_incremental_equals_oneshot);
    tcase_add_test(tc, test_digest_matches_reference_closed_form);
    tcase_add_test(tc, test_digest_equal_is_exact);
    tcase_add_test(tc, test_rc4_textbook_vector);
    tcase_add_test(tc, test_rc4_mep_encrypt_key);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
