/* Check suite: proto/mep_digest and proto/mep_rc4 on the guide's vectors.
 * Byte-exact vectors from fixtures/vectors/mep_rc4.json are walked by
 * test_vectors.c; this suite covers the primitives' edge cases. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

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
    /* mep.md 5.4: encrypt key for MAK 16 x 01. */
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
    tcase_add_test(tc, test_digest_equal_is_exact);
    tcase_add_test(tc, test_rc4_textbook_vector);
    tcase_add_test(tc, test_rc4_mep_encrypt_key);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
