/* Check suite: sim_tables (table store, layouts, dynamic renders).
 *
 * Sizes follow the dimension tables for every shipped profile; BT23/BT28
 * layouts follow docs/mep.md 12.6/12.8 for the BT21 variants of scenario S28;
 * BT28 satisfies the Home Assistant sum rule exactly; the guide-example
 * profiles reproduce the guide's bytes (RC4 Example 1 BT23 read, the ET52/53
 * transaction example's six reads).
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "mep_frame.h"
#include "sim_model.h"
#include "sim_profile.h"
#include "sim_tables.h"

#define T0 1709210096000LL /* 2024-02-29 12:34:56 UTC, a Thursday */

typedef struct {
    sim_profile p;
    sim_model m;
    sim_tables *t;
} meter;

static void open_meter(meter *x, const char *name, int64_t t0)
{
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/meters/%s.json", FIXTURES_DIR, name);
    ck_assert_msg(sim_profile_load(&x->p, path, err, sizeof err) == 0, "%s", err);
    sim_model_init(&x->m, &x->p.model, 99, t0);
    x->t = sim_tables_new(&x->p, &x->m, err, sizeof err);
    ck_assert_msg(x->t != NULL, "%s", err);
}

static void close_meter(meter *x)
{
    sim_tables_free(x->t);
    sim_profile_free(&x->p);
}

static void hex_to_bytes(const char *hex, uint8_t *out, size_t *n)
{
    *n = 0;
    unsigned v;
    int used;
    while (sscanf(hex, " %2x%n", &v, &used) == 1) {
        out[(*n)++] = (uint8_t)v;
        hex += used;
    }
}

static json_t *vector(json_t *root, const char *id)
{
    json_t *arr = json_object_get(root, "rc4_vectors");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (strcmp(json_string_value(json_object_get(v, "id")), id) == 0)
            return v;
    }
    ck_abort_msg("vector %s not found", id);
    return NULL;
}

static int32_t bt28_value(meter *x, unsigned k)
{
    sim_layout L;
    sim_layout_from_bt21(x->p.bt21, &L);
    uint8_t b[4];
    ck_assert_int_eq(sim_tables_read(x->t, 28, L.bt28_value0 + 4 * k, 4, b), 4);
    return (int32_t)mep_get_le32(b);
}

/* ---- sizes ------------------------------------------------------------ */

START_TEST(test_sizes_from_dimensions_every_profile)
{
    static const char *const names[] = {"nes-3ph", "nes-1ph", "nes-3ph-fw4", "guide-example", "guide-tx"};
    for (size_t n = 0; n < 5; n++) {
        meter x;
        open_meter(&x, names[n], T0);
        const uint8_t *e = x.p.et11, *b = x.p.bt21;
        unsigned dev = e[0], chans = e[34] ? e[34] : 1;
        bool g4 = x.p.generation >= 4;
        sim_layout L;
        sim_layout_from_bt21(b, &L);
        unsigned ext = g4 ? 20 : 13;
        ck_assert_int_eq(sim_tables_size(x.t, 0), 19 + 10 + ext + 2 + 12 + 10 + ext);
        ck_assert_int_eq(sim_tables_size(x.t, 1), 24);
        ck_assert_int_eq(sim_tables_size(x.t, 8), 16);
        ck_assert_int_eq(sim_tables_size(x.t, 21), 10);
        ck_assert_int_eq(sim_tables_size(x.t, 22), b[3] + b[4] + (b[4] + 7) / 8 + 2 * b[5]);
        ck_assert_int_eq(sim_tables_size(x.t, 23), (int)L.bt23_size);
        ck_assert_int_eq(sim_tables_size(x.t, 27), b[8] + b[9]);
        ck_assert_int_eq(sim_tables_size(x.t, 28), (int)L.bt28_size);
        ck_assert_int_eq(sim_tables_size(x.t, 52), 7);
        ck_assert_int_eq(sim_tables_size(x.t, 55), 9);
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(3)), 143);
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(4)), g4 ? 140 : 129);
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(11)), 39);
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(13)), (int)(dev * e[1]));
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(14)), (int)(6 + dev * e[2]));
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(15)), 1 + e[3] * e[4] + e[3] * e[11] + e[20]);
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(16)), (int)(dev * mep_get_le16(e + 5)));
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(50)), (int)(chans * (35 + 6 * e[22])));
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(51)), (int)(chans * 10));
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(52)), mep_get_le16(e + 7));
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(53)), mep_get_le16(e + 9));
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(54)), 91 + ((e[32] * e[33]) != 0 ? e[32] * e[33] : 42) + 12);
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(58)), (int)(dev * 20));
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(59)), 16);
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(70)), 156);
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(71)), 13 * e[27]);
        ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(85)), g4 ? 16 : SIM_TBL_UNKNOWN);
        close_meter(&x);
    }
}
END_TEST

START_TEST(test_default_dimension_values)
{
    meter x;
    open_meter(&x, "nes-3ph", T0);
    /* docs/mep.md 12.13/12.14/12.15: 5 x 66 = 330, 186, MEP1 offsets */
    ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(13)), 330);
    ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(14)), 186);
    ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(50)), 71);
    ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(15)), 221);
    ck_assert_int_eq(sim_tables_size(x.t, MEP_ET(16)), 2585);
    uint8_t b[16];
    /* ET11 bytes 0-9 as the real meter of docs/mep.md 12.13 */
    static const uint8_t et11[10] = {0x05, 0x42, 0x24, 0x05, 0x06, 0x05, 0x02, 0x01, 0x03, 0xF9};
    ck_assert_int_eq(sim_tables_read(x.t, MEP_ET(11), 0, 10, b), 10);
    ck_assert_mem_eq(b, et11, 10);
    /* ET51 defaults (docs/mep.md 12.18) */
    static const uint8_t et51[10] = {0x00, 60, 0, 30, 0x58, 0x02, 0x2C, 0x01, 1, 0};
    ck_assert_int_eq(sim_tables_read(x.t, MEP_ET(51), 0, 10, b), 10);
    ck_assert_mem_eq(b, et51, 10);
    /* BT00 bytes 0-2 (docs/mep.md 12.2), manufacturer; ET04 ratings; ET70.142 */
    ck_assert_int_eq(sim_tables_read(x.t, 0, 0, 8, b), 8);
    ck_assert_mem_eq(b, "\x02\x2A\x88NES \x02", 8);
    ck_assert_int_eq(sim_tables_read(x.t, MEP_ET(4), 56, 6, b), 6);
    ck_assert_uint_eq(mep_get_le16(b + 2), 100);
    ck_assert_uint_eq(mep_get_le16(b + 4), 230);
    ck_assert_int_eq(sim_tables_read(x.t, MEP_ET(4), 116, 1, b), 1);
    ck_assert_uint_eq(b[0], 1);
    ck_assert_int_eq(sim_tables_read(x.t, MEP_ET(70), 142, 1, b), 1);
    ck_assert_uint_eq(b[0], 1);
    /* BT01: manufacturer, model, fw 3.72.04 high byte first, BCD serial */
    uint8_t bt01[24];
    ck_assert_int_eq(sim_tables_read(x.t, 1, 0, 24, bt01), 24);
    ck_assert_mem_eq(bt01, "NES 83331-3I", 12);
    ck_assert_uint_eq((unsigned)bt01[14] << 8 | bt01[15], (3u << 12) | (72u << 5) | 4u);
    ck_assert_uint_eq(bt01[22], 0x56);
    ck_assert_uint_eq(bt01[23], 0x78);
    /* ET03: utility serial NUL-padded, CRC at 137 */
    uint8_t et03[143];
    ck_assert_int_eq(sim_tables_read(x.t, MEP_ET(3), 0, 143, et03), 143);
    ck_assert_str_eq((const char *)et03, "EMU3PH000000001");
    ck_assert_uint_eq(mep_get_le16(et03 + 137), 48879);
    close_meter(&x);
}
END_TEST

START_TEST(test_bt00_sets)
{
    meter x;
    open_meter(&x, "nes-3ph-fw4", T0);
    uint8_t b[128];
    int n = sim_tables_read(x.t, 0, 0, 128, b);
    ck_assert_int_eq(n, 93);
    ck_assert_uint_eq(b[13], 10);
    ck_assert_uint_eq(b[14], 20);
    ck_assert_uint_eq(b[18], 4);
    const uint8_t *used = b + 19, *xused = used + 10, *xprocs = xused + 20 + 2;
    const uint8_t *wr = xprocs + 12, *xwr = wr + 10;
    ck_assert(used[23 / 8] & (1 << (23 % 8)));   /* BT23 */
    ck_assert(used[28 / 8] & (1 << (28 % 8)));   /* BT28 */
    ck_assert(!(used[2 / 8] & (1 << 2)));        /* BT02 absent */
    ck_assert(xused[85 / 8] & (1 << (85 % 8)));  /* ET85 on Gen 4 */
    ck_assert(xprocs[17 / 8] & (1 << (17 % 8))); /* EP17 */
    ck_assert(xprocs[61 / 8] & (1 << (61 % 8))); /* EP61 */
    ck_assert(wr[7 / 8] & (1 << 7));             /* BT07 writable */
    ck_assert(!(wr[28 / 8] & (1 << (28 % 8))));  /* BT28 not */
    ck_assert(xwr[13 / 8] & (1 << (13 % 8)));    /* ET13 writable (MAK) */
    ck_assert(!(xwr[11 / 8] & (1 << (11 % 8)))); /* ET11 not */
    close_meter(&x);
}
END_TEST

/* ---- layouts ---------------------------------------------------------- */

START_TEST(test_layout_variants)
{
    sim_layout L;
    /* RC4 Example 1 meter: demand off, 11 summations, 4 tiers */
    static const uint8_t ex1[10] = {0, 0, 0, 11, 0, 0, 0, 4, 0, 26};
    sim_layout_from_bt21(ex1, &L);
    ck_assert_uint_eq(L.bt23_summation0, 0);
    ck_assert_uint_eq(L.bt23_block, 44);
    ck_assert_uint_eq(L.bt23_size, 220);
    ck_assert_uint_eq(L.bt28_value0, 0);
    ck_assert_uint_eq(L.bt28_size, 104);
    /* tx example meter: 3F = demand reset counter (A = 1), date/time, cumulative,
     * continuous cumulative; 8 demands x DmdRcd (5+4+4+4 = 17) */
    static const uint8_t tx[10] = {0x3F, 0x0E, 0x0C, 0x0F, 0x08, 0x00, 0x01, 0x04, 0x08, 0x1A};
    sim_layout_from_bt21(tx, &L);
    ck_assert_uint_eq(L.bt23_summation0, 1);
    ck_assert_uint_eq(L.bt23_block, 60 + 8 * 17);
    ck_assert_uint_eq(L.bt23_size, 1 + 196 * 5);
    ck_assert_uint_eq(L.bt28_value0, 4 * 8); /* present demands > 0, no time remaining */
    ck_assert_uint_eq(L.bt28_size, 32 + 4 * 26);
    ck_assert_uint_eq(L.n_summations, 15);
    ck_assert_uint_eq(L.n_present_values, 26);
    /* time-remaining flag: 7 bytes per present demand (guide's missing x4 fixed) */
    static const uint8_t trem[10] = {0x40, 0, 0, 11, 2, 0, 1, 0, 3, 55};
    sim_layout_from_bt21(trem, &L);
    ck_assert_uint_eq(L.bt28_value0, 21);
    ck_assert_uint_eq(L.bt28_size, 21 + 220);
    ck_assert_uint_eq(L.bt23_block, 44 + 2 * 4);
    /* coincident values: 4 * occurrences each */
    static const uint8_t coin[10] = {0x00, 0, 0, 11, 2, 2, 3, 1, 0, 1};
    sim_layout_from_bt21(coin, &L);
    ck_assert_uint_eq(L.bt23_block, 44 + 2 * 12 + 2 * 12);
    ck_assert_uint_eq(L.bt23_size, 2 * (44 + 48));
}
END_TEST

START_TEST(test_fw4_bt23_exceeds_read_limit)
{
    meter x;
    open_meter(&x, "nes-3ph-fw4", T0);
    /* scenario S27: 1 + (76 + 8*17) * 9 = 1909 > 465 */
    ck_assert_int_eq(sim_tables_size(x.t, 23), 1909);
    ck_assert_int_gt(sim_tables_size(x.t, 23), (int)MEP_MAX_READ_DATA);
    ck_assert_int_le(sim_tables_size(x.t, 28), (int)MEP_MAX_READ_DATA);
    /* demand reset counter at 0, summation 0 (fwd Wh) at offset 1 */
    uint8_t b[8];
    ck_assert_int_eq(sim_tables_read(x.t, 23, 0, 5, b), 5);
    ck_assert_uint_eq(b[0], 0);
    ck_assert_uint_eq(mep_get_le32(b + 1), 8765432);
    /* tier 0 block repeats the energy, tier 1 reads 0 (no tariff model) */
    ck_assert_int_eq(sim_tables_read(x.t, 23, 1 + 212, 4, b), 4);
    ck_assert_uint_eq(mep_get_le32(b), 8765432);
    ck_assert_int_eq(sim_tables_read(x.t, 23, 1 + 2 * 212, 4, b), 4);
    ck_assert_uint_eq(mep_get_le32(b), 0);
    /* outage seconds only in the total block */
    ck_assert_int_eq(sim_tables_read(x.t, 23, 1 + 16, 4, b), 4);
    ck_assert_uint_eq(mep_get_le32(b), 3600);
    ck_assert_int_eq(sim_tables_read(x.t, 23, 1 + 212 + 16, 4, b), 4);
    ck_assert_uint_eq(mep_get_le32(b), 0);
    close_meter(&x);
}
END_TEST

START_TEST(test_bt28_time_remaining_and_demands)
{
    /* Build a BT21 variant by override of the profile in memory. */
    meter x;
    open_meter(&x, "nes-3ph", T0);
    sim_tables_free(x.t);
    static const uint8_t v[10] = {0x40, 0, 0, 11, 2, 0, 1, 4, 2, 55};
    memcpy(x.p.bt21, v, 10);
    char err[256];
    x.t = sim_tables_new(&x.p, &x.m, err, sizeof err);
    ck_assert_ptr_nonnull(x.t);
    ck_assert_int_eq(sim_tables_size(x.t, 28), 14 + 220);
    uint8_t b[14];
    ck_assert_int_eq(sim_tables_read(x.t, 28, 0, 14, b), 14);
    /* 12:34:56 -> 10 min 4 s left in the quarter hour */
    ck_assert_uint_eq(b[0], 0);
    ck_assert_uint_eq(b[1], 10);
    ck_assert_uint_eq(b[2], 4);
    /* present demand 0 = fwd W (source 8), demand 1 = rev W (source 9) */
    ck_assert_int_eq((int32_t)mep_get_le32(b + 3), bt28_value(&x, 0));
    ck_assert_int_eq((int32_t)mep_get_le32(b + 10), bt28_value(&x, 1));
    ck_assert_int_eq(bt28_value(&x, 0), 432);
    /* BT27 lists the present-value source IDs after the demand IDs */
    uint8_t s27[57];
    ck_assert_int_eq(sim_tables_read(x.t, 27, 0, 57, s27), 57);
    ck_assert_uint_eq(s27[0], 8);
    ck_assert_uint_eq(s27[2 + 0], 8);
    ck_assert_uint_eq(s27[2 + 26], 185);
    ck_assert_uint_eq(s27[2 + 54], 215);
    close_meter(&x);
}
END_TEST

/* ---- BT28 content ------------------------------------------------------ */

START_TEST(test_bt28_field_capture_like_values)
{
    meter x;
    open_meter(&x, "nes-3ph", T0);
    /* docs/module-behaviour.md 7 field capture: 432 W = 320 + 59 + 53, PF 711/335/274 */
    ck_assert_int_eq(sim_tables_size(x.t, 28), 220);
    ck_assert_int_eq(bt28_value(&x, 0), 432);
    ck_assert_int_eq(bt28_value(&x, 1), 0);
    ck_assert_int_eq(bt28_value(&x, 26), 320);
    ck_assert_int_eq(bt28_value(&x, 27), 59);
    ck_assert_int_eq(bt28_value(&x, 28), 53);
    ck_assert_int_eq(bt28_value(&x, 10), 711);
    ck_assert_int_eq(bt28_value(&x, 13), 335);
    ck_assert_int_eq(bt28_value(&x, 14), 274);
    ck_assert_int_eq(bt28_value(&x, 11), 50000);
    ck_assert_int_eq(bt28_value(&x, 2), 0);  /* capacitive: export var */
    ck_assert_int_gt(bt28_value(&x, 3), 500);
    ck_assert_int_lt(bt28_value(&x, 15), 0); /* sin(phi) negative like Q */
    for (unsigned k = 7; k <= 9; k++) {      /* ~230 V within the spread */
        ck_assert_int_gt(bt28_value(&x, k), 226000);
        ck_assert_int_lt(bt28_value(&x, k), 234000);
    }
    ck_assert_int_gt(bt28_value(&x, 4), 1900); /* ~1.97 A on L1 */
    ck_assert_int_lt(bt28_value(&x, 4), 2050);
    ck_assert_int_eq(bt28_value(&x, 47), 432);
    ck_assert_int_eq(bt28_value(&x, 49), 320);
    close_meter(&x);
}
END_TEST

START_TEST(test_bt28_fw4_extended_values)
{
    meter x;
    open_meter(&x, "nes-3ph-fw4", T0);
    ck_assert_int_eq(bt28_value(&x, 75), 12000); /* 120.00 degrees */
    /* balanced load on equal voltages: neutral current ~0; one phase only: = that phase */
    sim_model_cfg c = x.p.model;
    c.v_spread = 0;
    for (int i = 0; i < 3; i++) {
        c.load[i].kind = SIM_LOAD_CONSTANT;
        c.load[i].watts = 2000;
        c.load[i].pf = 0.9;
        c.load[i].capacitive = false;
    }
    sim_model_init(&x.m, &c, 1, T0);
    sim_tables_invalidate(x.t); /* the model restarted under the store */
    ck_assert_int_le(bt28_value(&x, 71), 1);
    ck_assert_int_eq(bt28_value(&x, 22), bt28_value(&x, 2)); /* Q1: import W, import var */
    ck_assert_int_eq(bt28_value(&x, 55), bt28_value(&x, 12));
    ck_assert_int_eq(bt28_value(&x, 59), bt28_value(&x, 12) / 3);
    sim_model_set_load(&x.m, 1, 0, 1.0);
    sim_model_set_load(&x.m, 2, 0, 1.0);
    ck_assert_int_eq(bt28_value(&x, 71), bt28_value(&x, 4));
    close_meter(&x);
}
END_TEST

static void check_sum_rule(meter *x)
{
    int64_t fwd = bt28_value(x, 0), rev = bt28_value(x, 1), sum = 0;
    for (unsigned i = 0; i < 3; i++)
        sum += (int64_t)bt28_value(x, 26 + i) - bt28_value(x, 29 + i);
    ck_assert_int_eq(fwd - rev, sum); /* exact; HA allows 3 W */
    ck_assert(fwd == 0 || rev == 0);
}

START_TEST(test_bt28_sum_rule_exact)
{
    meter x;
    open_meter(&x, "nes-3ph-fw4", T0); /* random walk, daily, export */
    for (int s = 1; s <= 2000; s++) {
        sim_model_advance(&x.m, T0 + s * 7919LL);
        check_sum_rule(&x);
    }
    /* rounding edge: three phases at x.4 W and x.5 W */
    sim_model_set_load(&x.m, 0, 100.4, 1.0);
    sim_model_set_load(&x.m, 1, 100.4, 1.0);
    sim_model_set_load(&x.m, 2, -100.5, 1.0);
    check_sum_rule(&x);
    ck_assert_int_eq(bt28_value(&x, 0), 99); /* 100 + 100 - 101 */
    sim_model_set_load(&x.m, 2, -300.5, 0.7);
    check_sum_rule(&x);
    ck_assert_int_eq(bt28_value(&x, 1), 101);
    close_meter(&x);
}
END_TEST

START_TEST(test_single_phase_bt28)
{
    meter x;
    open_meter(&x, "nes-1ph", T0);
    ck_assert_int_gt(bt28_value(&x, 0), 0);
    ck_assert_int_eq(bt28_value(&x, 0), bt28_value(&x, 26));
    unsigned zero[] = {5, 6, 8, 9, 13, 14, 16, 17, 27, 28, 30, 31};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        ck_assert_int_eq(bt28_value(&x, zero[i]), 0);
    ck_assert_int_eq(bt28_value(&x, 10), 950);

    uint8_t b;
    ck_assert_int_eq(sim_tables_read(x.t, MEP_ET(4), 62, 1, &b), 1);
    ck_assert_uint_eq(b, 0x66); /* L2/L3 voltage and current not present */
    check_sum_rule(&x);
    close_meter(&x);
}
END_TEST

/* ---- clocks ------------------------------------------------------------ */

START_TEST(test_bt52_bt55_fields)
{
    meter x;
    open_meter(&x, "nes-3ph-fw4", T0); /* tz +60 min */
    uint8_t b[9];
    ck_assert_int_eq(sim_tables_read(x.t, 52, 0, 7, b), 7);
    static const uint8_t utc[7] = {24, 2, 29, 12, 34, 56, 4 | 0x10}; /* Thursday, GMT */
    ck_assert_mem_eq(b, utc, 7);
    ck_assert_int_eq(sim_tables_read(x.t, 55, 0, 9, b), 9);
    static const uint8_t loc[9] = {24, 2, 29, 13, 34, 56, 4 | 0x60, 0, 0};
    ck_assert_mem_eq(b, loc, 9);
    /* the clock follows the model; day/month/year roll over */
    /* restart the model near new year (advancing 10 months would integrate
     * 26 million steps) */
    sim_model_init(&x.m, &x.p.model, 99, 1735689599000LL); /* 2024-12-31 23:59:59 UTC, Tuesday */
    sim_tables_invalidate(x.t);
    ck_assert_int_eq(sim_tables_read(x.t, 52, 0, 7, b), 7);
    static const uint8_t nye[7] = {24, 12, 31, 23, 59, 59, 2 | 0x10};
    ck_assert_mem_eq(b, nye, 7);
    ck_assert_int_eq(sim_tables_read(x.t, 55, 0, 7, b), 7);
    static const uint8_t ny[7] = {25, 1, 1, 0, 59, 59, 3 | 0x60};
    ck_assert_mem_eq(b, ny, 7);
    /* a BT53 write moves the local clock (TZ offset INT16 at 4) */
    uint8_t tz[2] = {0x88, 0xFF}; /* -120 min */
    ck_assert_int_eq(sim_tables_write(x.t, 53, 4, tz, 2), 2);
    ck_assert_int_eq(sim_tables_read(x.t, 55, 0, 6, b), 6);
    static const uint8_t west[6] = {24, 12, 31, 21, 59, 59};
    ck_assert_mem_eq(b, west, 6);
    close_meter(&x);
}
END_TEST

/* ---- guide vectors ------------------------------------------------------ */

START_TEST(test_guide_example_bt23_matches_vector)
{
    json_error_t je;
    json_t *root = json_load_file(FIXTURES_DIR "/vectors/mep_rc4.json", 0, &je);
    ck_assert_ptr_nonnull(root);
    json_t *v = vector(root, "rc4_ex1_retry.resp");
    const char *hex = json_string_value(json_object_get(json_object_get(v, "fields"), "table_data_hex"));
    uint8_t want[64], got[64];
    size_t n;
    hex_to_bytes(hex, want, &n);
    ck_assert_uint_eq(n, 44);
    meter x;
    open_meter(&x, "guide-example", T0);
    ck_assert_int_eq(sim_tables_read(x.t, 23, 0, 44, got), 44);
    ck_assert_mem_eq(got, want, 44);
    /* still true an hour later: zero load, constant counters */
    sim_model_advance(&x.m, T0 + 3600000);
    ck_assert_int_eq(sim_tables_read(x.t, 23, 0, 44, got), 44);
    ck_assert_mem_eq(got, want, 44);
    close_meter(&x);
    json_decref(root);
}
END_TEST

START_TEST(test_guide_tx_tables_match_et53_records)
{
    /* tx_et53_full.resp: six records, each `00 count(2) data` for the reads
     * in tx_multi_write.req. Replay the reads against guide-tx. */
    json_error_t je;
    json_t *root = json_load_file(FIXTURES_DIR "/vectors/mep_rc4.json", 0, &je);
    ck_assert_ptr_nonnull(root);
    json_t *reqs = json_object_get(json_object_get(vector(root, "tx_multi_write.req"), "et52_payload"), "records");
    json_t *resps = json_object_get(json_object_get(vector(root, "tx_et53_full.resp"), "et53_payload"), "records");
    ck_assert_uint_eq(json_array_size(reqs), 6);
    ck_assert_uint_eq(json_array_size(resps), 6);
    meter x;
    open_meter(&x, "guide-tx", T0);
    for (size_t i = 0; i < 6; i++) {
        uint8_t rq[16], rs[64], got[64];
        size_t nq, ns;
        hex_to_bytes(json_string_value(json_object_get(json_array_get(reqs, i), "message_hex")), rq, &nq);
        hex_to_bytes(json_string_value(json_object_get(json_array_get(resps, i), "message_hex")), rs, &ns);
        ck_assert_uint_eq(nq, 8);
        ck_assert_uint_eq(rq[0], 0x3F);
        uint16_t id = mep_get_be16(rq + 1);
        uint32_t off = mep_get_be24(rq + 3);
        uint16_t cnt = mep_get_be16(rq + 6);
        ck_assert_uint_eq(rs[0], 0x00);
        ck_assert_uint_eq(mep_get_be16(rs + 1), cnt);
        ck_assert_int_eq(sim_tables_read(x.t, id, off, cnt, got), cnt);
        ck_assert_msg(memcmp(got, rs + 3, cnt) == 0, "record %zu (table 0x%04X) differs", i, id);
    }
    close_meter(&x);
    json_decref(root);
}
END_TEST

/* ---- store semantics ------------------------------------------------------ */

START_TEST(test_read_write_semantics)
{
    meter x;
    open_meter(&x, "nes-3ph", T0);
    uint8_t b[400];
    ck_assert_int_eq(sim_tables_read(x.t, 0x0002, 0, 1, b), SIM_TBL_UNKNOWN);
    ck_assert_int_eq(sim_tables_write(x.t, 0x0863, 0, b, 1), SIM_TBL_UNKNOWN);
    ck_assert_int_eq(sim_tables_size(x.t, 0x0863), SIM_TBL_UNKNOWN);
    ck_assert_int_eq(sim_tables_read(x.t, 21, 10, 1, b), SIM_TBL_RANGE);
    ck_assert_int_eq(sim_tables_read(x.t, 21, 8, 10, b), 2); /* clamped */
    ck_assert_int_eq(sim_tables_read(x.t, 21, 0, 0, b), 0);
    /* writes: extra bytes ignored (docs/mep.md 3.3) */
    memset(b, 0xAB, sizeof b);
    ck_assert_int_eq(sim_tables_write(x.t, MEP_ET(51), 5, b, 100), 5);
    ck_assert_int_eq(sim_tables_write(x.t, MEP_ET(51), 10, b, 1), SIM_TBL_RANGE);
    uint8_t e51[10];
    ck_assert_int_eq(sim_tables_read(x.t, MEP_ET(51), 0, 10, e51), 10);
    ck_assert_uint_eq(e51[4], 0x58);
    ck_assert_uint_eq(e51[5], 0xAB);
    size_t sz = 0;
    uint8_t *raw = sim_tables_raw(x.t, MEP_ET(13), &sz);
    ck_assert_ptr_nonnull(raw);
    ck_assert_uint_eq(sz, 330);
    ck_assert_uint_eq(raw[4 * 66 + 3], 3); /* MEP1 scheduled read: monthly */
    raw[272] = 0x01;                       /* protocol layer sets an alert flag */
    ck_assert_int_eq(sim_tables_read(x.t, MEP_ET(13), 272, 1, b), 1);
    ck_assert_uint_eq(b[0], 1);
    ck_assert_ptr_null(sim_tables_raw(x.t, 0x0002, &sz));
    uint16_t ids[64];
    size_t n = sim_tables_list(x.t, ids, 64);
    ck_assert_uint_ge(n, 25);
    for (size_t i = 1; i < n; i++)
        ck_assert_uint_lt(ids[i - 1], ids[i]);
    ck_assert_uint_eq(sim_tables_list(x.t, ids, 3), 3);
    close_meter(&x);
}
END_TEST

START_TEST(test_bt23_wraps_like_int32_and_follows_model)
{
    meter x;
    open_meter(&x, "nes-3ph", T0);
    uint8_t b[8];
    ck_assert_int_eq(sim_tables_read(x.t, 23, 0, 8, b), 8);
    ck_assert_uint_eq(mep_get_le32(b), 1234567);
    sim_model_set_register(&x.m, SIM_REG_FWD_WH, 0x100000005LL);
    ck_assert_int_eq(sim_tables_read(x.t, 23, 0, 4, b), 4);
    ck_assert_uint_eq(mep_get_le32(b), 5); /* low 32 bits */
    sim_model_set_register(&x.m, SIM_REG_FWD_WH, 1000);
    sim_model_advance(&x.m, T0 + 3600000);
    ck_assert_int_eq(sim_tables_read(x.t, 23, 0, 4, b), 4);
    ck_assert_uint_eq(mep_get_le32(b), 1000 + 432); /* 432 W for an hour */
    /* summations 6 and 7: fwd+rev, fwd-rev clamped */
    ck_assert_int_eq(sim_tables_read(x.t, 23, 24, 8, b), 8);
    ck_assert_uint_eq(mep_get_le32(b), 1432);
    ck_assert_uint_eq(mep_get_le32(b + 4), 1432);
    close_meter(&x);
}
END_TEST

START_TEST(test_bt23_write_sets_registers)
{
    meter x;
    open_meter(&x, "nes-3ph-fw4", T0); /* A = 1: summations start at offset 1 */
    uint8_t w[1 + 76];
    memset(w, 0, sizeof w);
    mep_put_le32(w + 1 + 0, 111);         /* fwd */
    mep_put_le32(w + 1 + 4, 222);         /* rev */
    mep_put_le32(w + 1 + 16, 33);         /* outage seconds */
    mep_put_le32(w + 1 + 20, 4);          /* outage count */
    mep_put_le32(w + 1 + 24, 999);        /* fwd+rev: derived, ignored */
    mep_put_le32(w + 1 + 40, 7);          /* error counter */
    mep_put_le32(w + 1 + 44, 0xFFFFFFF0); /* Q1 varh near the wrap */
    /* as the protocol layer does it: store, then apply to the model */
    ck_assert_int_eq(sim_tables_write(x.t, 23, 0, w, sizeof w), (int)sizeof w);
    ck_assert_int_eq(sim_tables_apply_bt23_write(x.t, &x.m, 0, w, sizeof w), 15); /* 19 - 6,7,8,9 */
    ck_assert_int_eq(sim_model_register(&x.m, SIM_REG_FWD_WH), 111);
    ck_assert_int_eq(sim_model_register(&x.m, SIM_REG_REV_WH), 222);
    ck_assert_int_eq(sim_model_register(&x.m, SIM_REG_Q1_VARH), 0xFFFFFFF0LL);
    ck_assert_uint_eq(x.m.outage_seconds, 33);
    ck_assert_uint_eq(x.m.outage_count, 4);
    ck_assert_uint_eq(x.m.error_counter, 7);
    uint8_t b[32];
    ck_assert_int_eq(sim_tables_read(x.t, 23, 1, 28, b), 28);
    ck_assert_uint_eq(mep_get_le32(b), 111);
    ck_assert_uint_eq(mep_get_le32(b + 24), 333); /* re-derived, not the written 999 */
    /* a partial write of only fwd (offset 1, 4 bytes); straddling bytes ignored */
    uint8_t one[6] = {0x10, 0x27, 0, 0, 0xAA, 0xBB};
    ck_assert_int_eq(sim_tables_apply_bt23_write(x.t, &x.m, 1, one, 6), 1);
    ck_assert_int_eq(sim_model_register(&x.m, SIM_REG_FWD_WH), 10000);
    ck_assert_int_eq(sim_model_register(&x.m, SIM_REG_REV_WH), 222);
    ck_assert_int_eq(sim_tables_apply_bt23_write(x.t, &x.m, 2, one, 4), 0);
    close_meter(&x);
}
END_TEST

START_TEST(test_overrides)
{
    char path[64] = "/tmp/test_tables_XXXXXX", err[512] = "";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *txt = "{\"name\": \"ov\", \"overrides\": ["
                      "{\"table\": \"BT28\", \"offset\": 0, \"hex\": \"FF FF FF 7F\"},"
                      "{\"table\": \"ET11\", \"offset\": 1, \"hex\": \"C8\"}]}";
    ck_assert_int_eq((int)write(fd, txt, strlen(txt)), (int)strlen(txt));
    close(fd);
    sim_profile p;
    int rc = sim_profile_load(&p, path, err, sizeof err);
    unlink(path);
    ck_assert_msg(rc == 0, "%s", err);
    sim_model m;
    sim_model_init(&m, &p.model, 1, T0);
    sim_tables *t = sim_tables_new(&p, &m, err, sizeof err);
    ck_assert_ptr_nonnull(t);
    uint8_t b[4];
    /* a malformed dimension is served (S29) but the layout stays sane */
    ck_assert_int_eq(sim_tables_read(t, MEP_ET(11), 1, 1, b), 1);
    ck_assert_uint_eq(b[0], 200);
    ck_assert_int_eq(sim_tables_size(t, MEP_ET(13)), 330);
    ck_assert_uint_eq(sim_tables_layout_et11(t)[1], 66); /* layout keeps the real dimension */
    /* dynamic table: the override survives re-rendering */
    sim_model_advance(&m, T0 + 5000);
    ck_assert_int_eq(sim_tables_read(t, 28, 0, 4, b), 4);
    ck_assert_uint_eq(mep_get_le32(b), 0x7FFFFFFF);
    sim_tables_free(t);
    /* an override past the end or on a missing table is an error */
    p.overrides[1].offset = 38;
    t = sim_tables_new(&p, &m, err, sizeof err);
    ck_assert_ptr_nonnull(t); /* 38 + 1 == 39: fits exactly */
    sim_tables_free(t);
    p.overrides[1].offset = 39;
    ck_assert_ptr_null(sim_tables_new(&p, &m, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "$.overrides[1]: 1 bytes at offset 39 run past the end of ET11 (39 bytes)"));
    p.overrides[1].offset = 0;
    p.overrides[1].table_id = MEP_ET(99);
    ck_assert_ptr_null(sim_tables_new(&p, &m, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "$.overrides[1].table: ET99 does not exist in this meter"));
    sim_profile_free(&p);
}
END_TEST

START_TEST(test_render_cache_and_cost)
{
    meter x;
    open_meter(&x, "nes-3ph-fw4", T0);
    uint8_t a[400], b[400];
    int n = sim_tables_size(x.t, 28);
    ck_assert_int_eq(sim_tables_read(x.t, 28, 0, (uint32_t)n, a), n);
    ck_assert_int_eq(sim_tables_read(x.t, 28, 0, (uint32_t)n, b), n);
    ck_assert_mem_eq(a, b, (size_t)n);
    sim_model_set_load(&x.m, 0, 2000, 1.0);
    ck_assert_int_eq(sim_tables_read(x.t, 28, 0, (uint32_t)n, b), n);
    ck_assert(memcmp(a, b, (size_t)n) != 0); /* a model change shows at once */
    /* cost figure (printed, never asserted on time) */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const int reps = 20000;
    for (int i = 0; i < reps; i++) {
        sim_model_advance(&x.m, T0 + 1000LL * (i + 1));
        sim_tables_read(x.t, 28, 0, (uint32_t)n, b);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / reps;
    fprintf(stderr, "test_tables: model step + full BT28 render/read (84 values): %.2f us each\n", us);
    close_meter(&x);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tables");
    TCase *tc = tcase_create("tables");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sizes_from_dimensions_every_profile);
    tcase_add_test(tc, test_default_dimension_values);
    tcase_add_test(tc, test_bt00_sets);
    tcase_add_test(tc, test_layout_variants);
    tcase_add_test(tc, test_fw4_bt23_exceeds_read_limit);
    tcase_add_test(tc, test_bt28_time_remaining_and_demands);
    tcase_add_test(tc, test_bt28_field_capture_like_values);
    tcase_add_test(tc, test_bt28_fw4_extended_values);
    tcase_add_test(tc, test_bt28_sum_rule_exact);
    tcase_add_test(tc, test_single_phase_bt28);
    tcase_add_test(tc, test_bt52_bt55_fields);
    tcase_add_test(tc, test_guide_example_bt23_matches_vector);
    tcase_add_test(tc, test_guide_tx_tables_match_et53_records);
    tcase_add_test(tc, test_read_write_semantics);
    tcase_add_test(tc, test_bt23_wraps_like_int32_and_follows_model);
    tcase_add_test(tc, test_bt23_write_sets_registers);
    tcase_add_test(tc, test_overrides);
    tcase_add_test(tc, test_render_cache_and_cost);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
