/* Check suite: firmware/core mepc_tables: BT21-driven BT23/BT28 layouts (for
 * every shipped profile, cross-checked against the emulator's own layout
 * code, and the S28 variants), the field BT28 capture of docs/module-behaviour.md 7,
 * and the BT52/BT01/ET03/ET11/ET04 decoders at their edges (S15, S29, S30). */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mepc_tables.h"
#include "sim_profile.h"
#include "sim_tables.h"
#include "check_run.h"

/* docs/module-behaviour.md 7 field capture: BT28 data (220 bytes = 55 values). */
static const char *FIELD_BT28 =
    "B0 01 00 00 00 00 00 00 00 00 00 00 21 02 00 00 BA 07 00 00 0E 03 00 00 56 03 00 00 55 7D 03 "
    "00 1F 73 03 00 9D 76 03 00 C7 02 00 00 50 C3 00 00 32 03 00 00 4F 01 00 00 12 01 00 00 3B FE FF FF 68 FC FF "
    "FF 5B FC FF FF B0 01 00 00 00 00 00 00 00 00 00 00 21 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 21 02 00 "
    "00 40 01 00 00 3B 00 00 00 35 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 40 01 00 00 3B 00 00 00 35 00 00 "
    "00 00 00 00 00 00 00 00 00 00 00 00 00 DF 07 00 00 0F 03 00 00 5A 03 00 00 86 7B 03 00 F8 74 03 00 83 7C 03 "
    "00 B4 7C 03 00 34 77 03 00 A9 72 03 00 B0 01 00 00 00 00 00 00 40 01 00 00 3B 00 00 00 35 00 00 00 00 00 00 "
    "00 00 00 00 00 00 00 00 00";

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    unsigned v;
    while (*s && n < cap) {
        while (*s == ' ')
            s++;
        if (!*s || sscanf(s, "%2x", &v) != 1)
            break;
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

START_TEST(test_field_bt28_capture_decodes)
{
    const uint8_t bt21[10] = {0x00, 0x00, 0, 11, 0, 0, 0, 4, 0, 55};
    uint8_t d[256];
    int32_t v[MEPC_BT28_MAX_VALUES];
    mepc_layout l;
    size_t n = unhex(FIELD_BT28, d, sizeof d);
    ck_assert_int_eq(n, 220);
    ck_assert(mepc_layout_from_bt21(bt21, 10, &l));
    ck_assert_int_eq(l.bt28_value0, 0);
    ck_assert_int_eq(l.bt28_size, 220);
    ck_assert_int_eq(mepc_decode_bt28(&l, d, n, v, MEPC_BT28_MAX_VALUES), 55);
    const struct { int k; int32_t want; } exp[] = {
        {0, 432}, {1, 0}, {2, 0}, {3, 545}, {4, 1978}, {5, 782}, {6, 854}, {7, 228693}, {8, 226079},
        {9, 226973}, {10, 711}, {11, 50000}, {12, 818}, {13, 335}, {14, 274}, {15, -453}, {16, -920},
        {17, -933}, {26, 320}, {27, 59}, {28, 53}, {29, 0}, {30, 0}, {31, 0}, {41, 228230}, {42, 226552},
        {43, 228483}, {44, 228532}, {45, 227124}, {46, 225961}, {47, 432}, {49, 320}, {50, 59}, {51, 53},
    };
    for (size_t i = 0; i < sizeof exp / sizeof exp[0]; i++)
        ck_assert_msg(v[exp[i].k] == exp[i].want, "value %d: %d != %d", exp[i].k, v[exp[i].k], exp[i].want);
    /* HA sum rule (docs/module-behaviour.md 8.4) holds for the capture */
    int32_t sum = (v[26] - v[29]) + (v[27] - v[30]) + (v[28] - v[31]);
    ck_assert_int_eq(v[0] - v[1], sum);
    /* a short reply decodes only whole values it covers (S15) */
    ck_assert_int_eq(mepc_decode_bt28(&l, d, 7, v, MEPC_BT28_MAX_VALUES), 1);
    ck_assert_int_eq(mepc_decode_bt28(&l, d, 3, v, MEPC_BT28_MAX_VALUES), 0);
}
END_TEST

START_TEST(test_bt21_variants_s28)
{
    mepc_layout l;
    /* demand-reset counter present: BT23 summation 0 at offset 1 */
    const uint8_t a1[10] = {0x04, 0, 0, 11, 0, 0, 0, 4, 0, 26};
    ck_assert(mepc_layout_from_bt21(a1, 10, &l));
    ck_assert_int_eq(l.bt23_sum0, 1);
    ck_assert_int_eq(mepc_layout_bt23_count(&l), 9);
    /* 8 present demands without time remaining: 4 bytes each */
    const uint8_t p8[10] = {0x3F, 0x0E, 12, 15, 8, 0, 1, 4, 8, 26};
    ck_assert(mepc_layout_from_bt21(p8, 10, &l));
    ck_assert_int_eq(l.bt23_sum0, 1);
    ck_assert_int_eq(l.bt28_value0, 32);
    ck_assert_int_eq(l.bt28_size, 32 + 104);
    /* with time remaining (bit 6): 7 bytes each */
    const uint8_t t8[10] = {0x7F, 0x0E, 12, 15, 8, 0, 1, 4, 8, 84};
    ck_assert(mepc_layout_from_bt21(t8, 10, &l));
    ck_assert_int_eq(l.bt28_value0, 56);
    ck_assert_int_eq(l.bt28_size, 56 + 336);
    uint8_t d[400];
    int32_t v[MEPC_BT28_MAX_VALUES];
    memset(d, 0, sizeof d);
    d[56] = 0x2A;          /* value 0 */
    d[56 + 4 * 83] = 0x07; /* value 83 */
    ck_assert_int_eq(mepc_decode_bt28(&l, d, 392, v, MEPC_BT28_MAX_VALUES), 84);
    ck_assert_int_eq(v[0], 42);
    ck_assert_int_eq(v[83], 7);
    /* BT23 with A = 1 */
    const uint8_t b23[9] = {0x05, 0x10, 0x27, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F};
    int64_t fwd, rev;
    ck_assert(mepc_layout_from_bt21(a1, 10, &l));
    ck_assert(mepc_decode_bt23(&l, b23, 9, &fwd, &rev));
    ck_assert_int_eq(fwd, 10000);
    ck_assert_int_eq(rev, 2147483647);
    ck_assert(!mepc_decode_bt23(&l, b23, 8, &fwd, &rev));  /* S15: short */
    /* unusable BT21 */
    const uint8_t bad[10] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    ck_assert(!mepc_layout_from_bt21(bad, 10, &l));
    ck_assert(!mepc_layout_from_bt21(a1, 9, &l));
    ck_assert(!mepc_decode_bt23(&l, b23, 9, &fwd, &rev));
}
END_TEST

START_TEST(test_every_shipped_profile_layout_matches_emulator)
{
    DIR *dir = opendir(FIXTURES_DIR "/meters");
    ck_assert_ptr_nonnull(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json"))
            continue;
        char path[512], err[256];
        snprintf(path, sizeof path, "%s/meters/%s", FIXTURES_DIR, e->d_name);
        sim_profile p;
        memset(&p, 0, sizeof p);
        ck_assert_msg(sim_profile_load(&p, path, err, sizeof err) == 0, "%s: %s", path, err);
        mepc_layout l;
        sim_layout sl;
        ck_assert(mepc_layout_from_bt21(p.bt21, 10, &l));
        sim_layout_from_bt21(p.bt21, &sl);
        ck_assert_msg(l.bt23_sum0 == sl.bt23_summation0, "%s: BT23 offset %u vs %u", path, l.bt23_sum0,
                      sl.bt23_summation0);
        ck_assert_msg(l.bt28_value0 == sl.bt28_value0, "%s: BT28 value0 %u vs %u", path, l.bt28_value0,
                      sl.bt28_value0);
        ck_assert_msg(l.bt28_size == sl.bt28_size, "%s: BT28 size %u vs %u", path, l.bt28_size, sl.bt28_size);
        sim_profile_free(&p);
        n++;
    }
    closedir(dir);
    ck_assert_int_ge(n, 1);
}
END_TEST

START_TEST(test_bt52_dates)
{
    uint32_t s;
    const uint8_t guide[7] = {0x04, 0x02, 0x10, 0x0F, 0x3B, 0x37, 0x00};  /* 2004-02-16 15:59:55 */
    ck_assert(mepc_decode_bt52(guide, 7, &s));
    ck_assert_uint_eq(s, 1507u * 86400u + 15u * 3600u + 59u * 60u + 55u);
    const uint8_t epoch[6] = {0, 1, 1, 0, 0, 0};
    ck_assert(mepc_decode_bt52(epoch, 6, &s));
    ck_assert_uint_eq(s, 0);
    const uint8_t leap[6] = {24, 2, 29, 23, 59, 59};  /* 2024-02-29 */
    ck_assert(mepc_decode_bt52(leap, 6, &s));
    /* 2000..2023: 24 years, 6 leap (2000,04,08,12,16,20) -> 8766 days; + Jan 31 + 28 */
    ck_assert_uint_eq(s, (8766u + 31u + 28u) * 86400u + 23u * 3600u + 59u * 60u + 59u);
    const uint8_t bad[][6] = {{1, 2, 29, 0, 0, 0}, {4, 13, 1, 0, 0, 0}, {4, 0, 1, 0, 0, 0}, {4, 4, 31, 0, 0, 0},
                              {4, 1, 1, 24, 0, 0}, {4, 1, 1, 0, 60, 0}, {100, 1, 1, 0, 0, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!mepc_decode_bt52(bad[i], 6, &s), "bad date %zu accepted", i);
    ck_assert(!mepc_decode_bt52(guide, 5, &s));
}
END_TEST

START_TEST(test_identity_strings_s30)
{
    uint8_t bt01[16] = {'N', 'E', 'S', ' ', 'M', '"', 'T', 'R', 0xFF, 0xFF, 0, 0, 0, 0, 0x30, 0x18};
    char man[5], model[9], sw[12], sn[31];
    ck_assert(mepc_decode_bt01(bt01, 16, man, model, sw));
    ck_assert_str_eq(man, "NES");
    ck_assert_str_eq(model, "M\"TR");
    ck_assert_str_eq(sw, "48.24");
    ck_assert(!mepc_decode_bt01(bt01, 15, man, model, sw));
    uint8_t et03[30];
    memset(et03, ' ', sizeof et03);
    memcpy(et03, "SN\\1\x01" "2", 6);
    ck_assert(mepc_decode_et03(et03, 30, sn));
    ck_assert_str_eq(sn, "SN\\1 2");
    memset(et03, 0xFF, sizeof et03);
    ck_assert(mepc_decode_et03(et03, 30, sn));
    ck_assert_str_eq(sn, "");
    ck_assert(!mepc_decode_et03(et03, 29, sn));
}
END_TEST

START_TEST(test_et11_bounds_s29)
{
    uint8_t dev, size;
    const uint8_t good[2] = {5, 66}, big[2] = {5, 200}, small[2] = {5, 8}, few[2] = {4, 66};
    ck_assert(mepc_decode_et11(good, 2, &dev, &size));
    ck_assert_uint_eq(mepc_et13_flags_offset(size), 272);  /* docs/mep.md 12.14: MEP1 alert flags at 272 */
    ck_assert(mepc_decode_et11(big, 2, &dev, &size));      /* large entries are fine: offset computed */
    ck_assert_uint_eq(mepc_et13_flags_offset(size), 808);
    ck_assert(!mepc_decode_et11(small, 2, &dev, &size));
    ck_assert(!mepc_decode_et11(few, 2, &dev, &size));
    ck_assert(!mepc_decode_et11(good, 1, &dev, &size));
}
END_TEST

START_TEST(test_et04_rating_and_proc_result)
{
    /* ET04 from offset 56: reg current 10, max current 100, rated 230 V, flags */
    uint8_t d[7] = {10, 0, 100, 0, 230, 0, 0x00};
    mepc_rating r;
    ck_assert(mepc_decode_et04_rating(d, 7, &r));
    ck_assert_uint_eq(r.max_current_a, 100);
    ck_assert_uint_eq(r.rated_voltage_v, 230);
    ck_assert_uint_eq(r.phases, 3);
    d[6] = 0x06;  /* L2, L3 voltage absent: single phase */
    ck_assert(mepc_decode_et04_rating(d, 7, &r));
    ck_assert_uint_eq(r.phases, 1);
    ck_assert(!mepc_decode_et04_rating(d, 6, &r));
    const uint8_t res[4] = {0x27, 0x08, 7, 0};
    mepc_proc_result pr;
    ck_assert(mepc_decode_proc_result(res, 4, &pr));
    ck_assert_uint_eq(pr.proc, 0x827);
    ck_assert_uint_eq(pr.psn, 7);
    ck_assert_uint_eq(pr.result, 0);
    ck_assert(!mepc_decode_proc_result(res, 3, &pr));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fw_tables");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_field_bt28_capture_decodes);
    tcase_add_test(tc, test_bt21_variants_s28);
    tcase_add_test(tc, test_every_shipped_profile_layout_matches_emulator);
    tcase_add_test(tc, test_bt52_dates);
    tcase_add_test(tc, test_identity_strings_s30);
    tcase_add_test(tc, test_et11_bounds_s29);
    tcase_add_test(tc, test_et04_rating_and_proc_result);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
