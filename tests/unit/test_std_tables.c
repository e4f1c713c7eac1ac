/* Check suite: the standard tables a C12.18 probe asks for (docs/optical.md
 * 5 and 7): BT03 mode and status (4 + BT00.17 bytes, clear at power-up),
 * BT05 device identification (exactly 10 bytes, BCD meter id), neither in
 * the MEP access matrix (docs/mep.md App. C: MEP answers 0x05), and BT00 as
 * each port serves it: the MEP write sets from the access matrix, the
 * optical write sets only BT07 and ET51 (docs/optical.md 3.3). The last
 * test runs a termineter-style get_info session (Identify, Negotiate, Logon, Security,
 * full reads of BT01, BT03, BT05, ET03) through the optical core on a real
 * table store: a bad password sets the BT03 alarm bit there, BT05 comes back
 * as exactly 10 bytes and cannot be written. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "mep_frame.h"
#include "sim_access.h"
#include "sim_model.h"
#include "sim_optical.h"
#include "sim_profile.h"
#include "sim_tables.h"

typedef struct {
    sim_profile prof;
    sim_model model;
    sim_tables *t;
} store;

static void open_store(store *s, const char *name)
{
    char path[512], err[300];
    snprintf(path, sizeof path, "%s/meters/%s.json", FIXTURES_DIR, name);
    ck_assert_msg(sim_profile_load(&s->prof, path, err, sizeof err) == 0, "%s", err);
    sim_model_init(&s->model, &s->prof.model, 1, 1780000000000LL);
    s->t = sim_tables_new(&s->prof, &s->model, err, sizeof err);
    ck_assert_msg(s->t != NULL, "%s", err);
}

static void close_store(store *s)
{
    sim_tables_free(s->t);
    sim_profile_free(&s->prof);
}

static bool bit(const uint8_t *set, unsigned id) { return set[id / 8] & (1u << (id % 8)); }

START_TEST(test_bt03_size_follows_bt00_17_and_starts_clear)
{
    store s;
    open_store(&s, "nes-3ph");
    uint8_t b0[128], b3[32];
    ck_assert_int_gt(sim_tables_read(s.t, MEP_BT(0), 0, sizeof b0, b0), 18);
    ck_assert_int_eq(sim_tables_size(s.t, MEP_BT(3)), 4 + b0[17]); /* docs/optical.md 11.3 */
    ck_assert_int_eq(sim_tables_read(s.t, MEP_BT(3), 0, sizeof b3, b3), 13);
    for (int i = 0; i < 13; i++)
        ck_assert_uint_eq(b3[i], 0);
    /* the invalid-password alarm lives at offset 5 bit 0 (docs/optical.md 4): writable by the port */
    uint8_t alarm = 0x01;
    ck_assert_int_eq(sim_tables_write(s.t, MEP_BT(3), 5, &alarm, 1), 1);
    ck_assert_int_eq(sim_tables_read(s.t, MEP_BT(3), 5, 1, b3), 1);
    ck_assert_uint_eq(b3[0], 0x01);
    close_store(&s);
}
END_TEST

START_TEST(test_bt05_is_10_bcd_bytes_of_the_meter_serial)
{
    static const struct {
        const char *profile;
        uint8_t id[10];
    } cases[] = {
        {"nes-3ph", {0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78}},  /* serial 0000000012345678 */
        {"nes-1ph", {0, 0, 0, 0, 0, 0, 0x23, 0x45, 0x67, 0x89}},  /* serial 0000000023456789 */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        store s;
        open_store(&s, cases[c].profile);
        uint8_t b[16];
        ck_assert_int_eq(sim_tables_size(s.t, MEP_BT(5)), 10); /* docs/optical.md 7.9 */
        ck_assert_int_eq(sim_tables_read(s.t, MEP_BT(5), 0, sizeof b, b), 10);
        ck_assert_int_eq(memcmp(b, cases[c].id, 10), 0);
        close_store(&s);
    }
}
END_TEST

START_TEST(test_bt03_bt05_not_on_mep)
{
    /* docs/mep.md App. C (fixtures/vectors/mep_access.json) lists neither */
    ck_assert(!sim_access_table_listed(MEP_BT(3)));
    ck_assert(!sim_access_table_listed(MEP_BT(5)));
    ck_assert(!sim_access_can_read(MEP_BT(3), SIM_LEVEL_MAK));
    ck_assert(!sim_access_can_read(MEP_BT(5), SIM_LEVEL_MAK));
}
END_TEST

START_TEST(test_bt00_write_sets_in_the_store_are_the_mep_rights)
{
    store s;
    open_store(&s, "nes-3ph-fw4");
    uint8_t mep[128];
    int n = sim_tables_read(s.t, MEP_BT(0), 0, sizeof mep, mep);
    unsigned a = mep[13], e = mep[14], wr = 19u + a + e + mep[15] + mep[16];
    ck_assert_uint_eq(wr + a + e, (unsigned)n);
    const uint8_t *used = mep + 19;
    ck_assert(bit(used, 3) && bit(used, 5)); /* BT03, BT05 are tables of this meter */
    /* MEP: what the MAK may write (ET13, ET50, BT07 ...); the optical port's
     * view is the optical core's (test_optical_core_bt00_write_sets_follow_its_rules) */
    ck_assert(bit(mep + wr, 7) && bit(mep + wr + a, 13) && bit(mep + wr + a, 50));
    close_store(&s);
}
END_TEST

/* One PSEM request through the optical core; the response code. */
static uint8_t psem(sim_optical *o, const uint8_t *q, size_t n, uint8_t *rep, size_t *rn)
{
    *rn = sim_optical_dispatch(o, q, n, 1000, rep, 1200);
    ck_assert_uint_ge(*rn, 1);
    return rep[0];
}

/* Full read: code, then `count(2, MSB) data cksum` on success (C12.18). */
static uint8_t full_read(sim_optical *o, uint16_t id, uint8_t *data, size_t *count)
{
    uint8_t q[3] = {0x30, (uint8_t)(id >> 8), (uint8_t)id}, rep[1200];
    size_t rn;
    uint8_t code = psem(o, q, 3, rep, &rn);
    if (code == SIM_OPTICAL_OK) {
        *count = (size_t)(rep[1] << 8 | rep[2]);
        ck_assert_uint_eq(rn, 4 + *count);
        memcpy(data, rep + 3, *count);
    }
    return code;
}

START_TEST(test_get_info_session_on_the_real_store)
{
    store s;
    open_store(&s, "nes-3ph");
    static const uint8_t MK[20] = "MEPSIM-TEST-MK-20-by";
    sim_optical_cfg cfg;
    sim_optical_cfg_defaults(&cfg);
    ck_assert_int_eq(sim_optical_cfg_key(&cfg, 'M', MK, 20), 0);
    sim_optical_store os = sim_optical_store_from_tables(s.t);
    char err[200];
    sim_optical *o = sim_optical_new(&cfg, &os, 0, err, sizeof err);
    ck_assert_msg(o != NULL, "%s", err);
    uint8_t rep[1200], d[1200];
    size_t rn, n;
    static const uint8_t IDENT[] = {0x20};
    static const uint8_t LOGON[] = {0x50, 0x00, 0x02, 'p', 'r', 'o', 'b', 'e', ' ', ' ', ' ', ' ', ' '};
    static const uint8_t NEGOTIATE[] = {0x61, 0x02, 0x00, 0x02, 0x06}; /* termineter's (docs/optical.md 7.4) */
    ck_assert_uint_eq(psem(o, IDENT, 1, rep, &rn), SIM_OPTICAL_OK);
    ck_assert_uint_eq(psem(o, NEGOTIATE, sizeof NEGOTIATE, rep, &rn), SIM_OPTICAL_OK);
    ck_assert_uint_eq(psem(o, LOGON, sizeof LOGON, rep, &rn), SIM_OPTICAL_OK);
    uint8_t sec[21] = {0x51};
    memset(sec + 1, 'x', 20); /* a wrong password */
    ck_assert_uint_eq(psem(o, sec, 21, rep, &rn), SIM_OPTICAL_ERR);
    uint8_t b3;
    ck_assert_int_eq(sim_tables_read(s.t, MEP_BT(3), 5, 1, &b3), 1);
    ck_assert_uint_eq(b3 & 1, 1); /* docs/optical.md 4: invalid-password alarm, in the meter's BT03 */
    memcpy(sec + 1, MK, 20);
    ck_assert_uint_eq(psem(o, sec, 21, rep, &rn), SIM_OPTICAL_OK);
    /* get_info: BT01, BT03, BT05, ET03 */
    ck_assert_uint_eq(full_read(o, MEP_BT(1), d, &n), SIM_OPTICAL_OK);
    ck_assert_uint_eq(n, 24);
    ck_assert_uint_eq(full_read(o, MEP_BT(3), d, &n), SIM_OPTICAL_OK);
    ck_assert_uint_eq(n, 13);
    ck_assert_uint_eq(d[5] & 1, 1); /* latched: the good password leaves it [E] */
    ck_assert_uint_eq(full_read(o, MEP_BT(5), d, &n), SIM_OPTICAL_OK);
    ck_assert_uint_eq(n, 10); /* docs/optical.md 7.9 */
    static const uint8_t ID[10] = {0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78};
    ck_assert_int_eq(memcmp(d, ID, 10), 0);
    ck_assert_uint_eq(full_read(o, MEP_ET(3), d, &n), SIM_OPTICAL_OK);
    ck_assert_uint_eq(n, 143);
    ck_assert_int_eq(memcmp(d, "EMU3PH000000001", 15), 0);
    /* set_meter_id: BT05 is not writable on the optical port (3.3) */
    uint8_t wr[16] = {0x40, 0x00, 0x05, 0x00, 0x0A};
    uint8_t sum = 0;
    for (int i = 0; i < 10; i++) {
        wr[5 + i] = 0x99;
        sum = (uint8_t)(sum + 0x99);
    }
    wr[15] = (uint8_t)-sum;
    ck_assert_uint_ne(psem(o, wr, 16, rep, &rn), SIM_OPTICAL_OK);
    ck_assert_int_eq(sim_tables_read(s.t, MEP_BT(5), 0, 10, d), 10);
    ck_assert_int_eq(memcmp(d, ID, 10), 0);
    sim_optical_free(o);
    close_store(&s);
}
END_TEST

/* The store as MEP sees it (no per-port view): the optical core itself
 * shows BT00's write sets from its own rules. */
static int mep_size(void *ctx, uint16_t id) { return sim_tables_size(ctx, id); }
static int mep_read(void *ctx, uint16_t id, uint32_t off, uint32_t n, uint8_t *out)
{
    return sim_tables_read(ctx, id, off, n, out);
}

START_TEST(test_optical_core_bt00_write_sets_follow_its_rules)
{
    store s;
    open_store(&s, "nes-3ph");
    sim_optical_cfg cfg;
    sim_optical_cfg_defaults(&cfg);
    /* a profile rule may open a table for writing, or lock one */
    ck_assert_int_eq(sim_optical_cfg_rule(&cfg, MEP_BT(53), SIM_OPTICAL_R_WRITE_MK), 0);
    ck_assert_int_eq(sim_optical_cfg_rule(&cfg, MEP_ET(51), SIM_OPTICAL_R_WRITABLE | SIM_OPTICAL_R_LOCK_WRITE), 0);
    sim_optical_store os = {s.t, mep_size, mep_read, NULL, NULL};
    char err[200];
    sim_optical *o = sim_optical_new(&cfg, &os, 0, err, sizeof err);
    ck_assert_msg(o != NULL, "%s", err);
    uint8_t rep[1200], d[1200], mep[1200];
    size_t rn, n;
    static const uint8_t IDENT[] = {0x20};
    static const uint8_t NEGOTIATE[] = {0x61, 0x02, 0x00, 0x02, 0x06};
    static const uint8_t LOGON[] = {0x50, 0x00, 0x02, 'p', 'r', 'o', 'b', 'e', ' ', ' ', ' ', ' ', ' '};
    ck_assert_uint_eq(psem(o, IDENT, 1, rep, &rn), SIM_OPTICAL_OK);
    ck_assert_uint_eq(psem(o, NEGOTIATE, sizeof NEGOTIATE, rep, &rn), SIM_OPTICAL_OK);
    ck_assert_uint_eq(psem(o, LOGON, sizeof LOGON, rep, &rn), SIM_OPTICAL_OK);
    ck_assert_uint_eq(full_read(o, MEP_BT(0), d, &n), SIM_OPTICAL_OK); /* open without a key */
    int m = sim_tables_read(s.t, MEP_BT(0), 0, sizeof mep, mep);
    ck_assert_int_eq(m, (int)n);
    unsigned a = d[13], e = d[14], wr = 19u + a + e + d[15] + d[16];
    ck_assert_int_eq(memcmp(d, mep, wr), 0); /* only the write sets differ */
    for (unsigned id = 0; id < 8 * a; id++)
        ck_assert_msg(bit(d + wr, id) == (id == 7 || id == 53), "BT%02u", id);
    for (unsigned id = 0; id < 8 * e; id++)
        ck_assert_msg(!bit(d + wr + a, id), "ET%02u", id); /* ET51 locked here */
    /* a partial read of the write sets shows the same */
    uint8_t q[8] = {0x3F, 0, 0, 0, 0, (uint8_t)wr, 0, 8};
    ck_assert_uint_eq(psem(o, q, 8, rep, &rn), SIM_OPTICAL_OK);
    ck_assert_int_eq(memcmp(rep + 3, d + wr, 8), 0);
    sim_optical_free(o);
    /* default rules: BT07 and ET51, the tables the optical port writes (3.3) */
    sim_optical_cfg_defaults(&cfg);
    o = sim_optical_new(&cfg, &os, 0, err, sizeof err);
    ck_assert_msg(o != NULL, "%s", err);
    ck_assert_uint_eq(psem(o, IDENT, 1, rep, &rn), SIM_OPTICAL_OK);
    ck_assert_uint_eq(psem(o, NEGOTIATE, sizeof NEGOTIATE, rep, &rn), SIM_OPTICAL_OK);
    ck_assert_uint_eq(psem(o, LOGON, sizeof LOGON, rep, &rn), SIM_OPTICAL_OK);
    ck_assert_uint_eq(full_read(o, MEP_BT(0), d, &n), SIM_OPTICAL_OK);
    for (unsigned id = 0; id < 8 * a; id++)
        ck_assert_msg(bit(d + wr, id) == (id == 7), "BT%02u", id);
    for (unsigned id = 0; id < 8 * e; id++)
        ck_assert_msg(bit(d + wr + a, id) == (id == 51), "ET%02u", id);
    sim_optical_free(o);
    close_store(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("std_tables");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_bt03_size_follows_bt00_17_and_starts_clear);
    tcase_add_test(tc, test_bt05_is_10_bcd_bytes_of_the_meter_serial);
    tcase_add_test(tc, test_bt03_bt05_not_on_mep);
    tcase_add_test(tc, test_bt00_write_sets_in_the_store_are_the_mep_rights);
    tcase_add_test(tc, test_get_info_session_on_the_real_store);
    tcase_add_test(tc, test_optical_core_bt00_write_sets_follow_its_rules);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
