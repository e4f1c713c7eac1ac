/* Check suite: sim_glitch byte edits on rendered BT23/BT28/BT52/ET03 bytes,
 * at the offsets of the BT21 variants (docs/mep.md 12.4-12.8, S28), their
 * wear-off by polls and by simulated time, and the segment hook. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "mep_frame.h"
#include "sim_glitch.h"
#include "sim_model.h"
#include "sim_profile.h"
#include "sim_tables.h"

/* BT21 variants: plain (A = 0, 55 values, 4 tiers), demand-reset counter +
 * time remaining + 8 present demands, and the guide's real-meter example. */
static const uint8_t BT21_PLAIN[10] = {0x00, 0, 0, 11, 0, 0, 0, 4, 0, 55};
static const uint8_t BT21_DRC_TR[10] = {0x44, 0, 0, 11, 0, 0, 0, 4, 8, 55};
static const uint8_t BT21_GUIDE[10] = {0x3F, 0x0E, 0x0C, 0x0F, 0x08, 0x00, 0x01, 0x04, 0x08, 0x1A};

static sim_layout layout(const uint8_t bt21[10])
{
    sim_layout l;
    sim_layout_from_bt21(bt21, &l);
    return l;
}

START_TEST(test_layouts_match_guide_formulas)
{
    /* Hand-computed from docs/mep.md 12.6/12.8, so a layout bug cannot hide a glitch bug. */
    sim_layout a = layout(BT21_PLAIN), b = layout(BT21_DRC_TR), c = layout(BT21_GUIDE);
    ck_assert_uint_eq(a.bt23_summation0, 0);
    ck_assert_uint_eq(a.bt23_block, 44);
    ck_assert_uint_eq(a.bt23_size, 220);
    ck_assert_uint_eq(a.bt28_value0, 0);
    ck_assert_uint_eq(b.bt23_summation0, 1);
    ck_assert_uint_eq(b.bt28_value0, 56);      /* 7 x 8 present demands */
    ck_assert_uint_eq(c.bt23_summation0, 1);
    ck_assert_uint_eq(c.bt23_block, 196);      /* 60 + 8 x 17 */
    ck_assert_uint_eq(c.bt23_size, 981);
    ck_assert_uint_eq(c.bt28_value0, 32);
}
END_TEST

static void put(uint8_t *t, uint32_t off, uint32_t v)
{
    mep_put_le32(t + off, v);
}

static sim_glitch_spec gspec(const char *text)
{
    sim_glitch_spec s;
    char err[256];
    ck_assert_msg(sim_glitch_spec_parse(&s, text, err, sizeof err) == 0, "%s: %s", text, err);
    return s;
}

static void gstart(sim_glitch *g, const char *text, int64_t now_ms)
{
    sim_glitch_spec s = gspec(text);
    char err[256];
    ck_assert_msg(sim_glitch_start(g, &s, now_ms, NULL, err, sizeof err) > 0, "%s", err);
}

/* Read [off, off+n) of a rendered table through the hook. */
static void rd(sim_glitch *g, const sim_layout *l, uint16_t id, const uint8_t *full, size_t len, uint32_t off,
               uint8_t *out, size_t n, int64_t now)
{
    memcpy(out, full + off, n);
    sim_glitch_on_read(g, l, id, full, len, off, out, n, now);
}

START_TEST(test_spike_k_polls_then_back_with_demand_reset_counter)
{
    sim_layout l = layout(BT21_DRC_TR);
    uint8_t t[1024], out[13];
    for (size_t i = 0; i < sizeof t; i++)
        t[i] = (uint8_t)i;
    put(t, 1, 1000);   /* Fwd Wh at A = 1 */
    put(t, 5, 77);     /* Rev Wh */
    sim_glitch g;
    sim_glitch_init(&g);
    gstart(&g, "spike delta=2^24 polls=2", 0);
    for (int k = 0; k < 2; k++) {
        rd(&g, &l, 23, t, l.bt23_size, 0, out, 13, k * 2000);
        ck_assert_uint_eq(mep_get_le32(out + 1), 1000u + (1u << 24));
        ck_assert_uint_eq(out[0], t[0]);                 /* demand reset counter untouched */
        ck_assert_mem_eq(out + 5, t + 5, 8);             /* Rev and beyond untouched */
    }
    rd(&g, &l, 23, t, l.bt23_size, 0, out, 13, 4000);
    ck_assert_uint_eq(mep_get_le32(out + 1), 1000);      /* back after k polls */
    ck_assert_uint_eq(g.c.worn_off, 1);
}
END_TEST

START_TEST(test_spike_on_rev_for_duration)
{
    sim_layout l = layout(BT21_PLAIN);
    uint8_t t[256] = {0}, out[13];
    put(t, 0, 5000);
    put(t, 4, 200);
    sim_glitch g;
    sim_glitch_init(&g);
    gstart(&g, "spike reg=rev delta=1048576 duration=60", 1000);
    rd(&g, &l, 23, t, l.bt23_size, 0, out, 13, 60999);
    ck_assert_uint_eq(mep_get_le32(out + 0), 5000);
    ck_assert_uint_eq(mep_get_le32(out + 4), 200u + 1048576u);
    rd(&g, &l, 23, t, l.bt23_size, 0, out, 13, 61000);   /* T simulated seconds later */
    ck_assert_uint_eq(mep_get_le32(out + 4), 200);
}
END_TEST

START_TEST(test_partial_window_consistent_with_full_read)
{
    sim_layout l = layout(BT21_PLAIN);
    uint8_t t[256] = {0}, full[220], part[3];
    put(t, 0, 0x01020304);
    sim_glitch g;
    sim_glitch_init(&g);
    gstart(&g, "step delta=0x01000000", 0);
    rd(&g, &l, 23, t, l.bt23_size, 0, full, sizeof full, 0);
    rd(&g, &l, 23, t, l.bt23_size, 2, part, sizeof part, 0);
    ck_assert_uint_eq(mep_get_le32(full), 0x02020304);
    ck_assert_mem_eq(part, full + 2, 3);
    ck_assert_mem_eq(full + 4, t + 4, sizeof full - 4);  /* tier blocks keep true values */
}
END_TEST

START_TEST(test_decrease_wrap_drift_freeze)
{
    sim_layout l = layout(BT21_PLAIN);
    uint8_t t[256] = {0}, out[8];
    sim_glitch g;
    sim_glitch_init(&g);

    put(t, 0, 5000);
    gstart(&g, "decrease delta=6000", 0);
    rd(&g, &l, 23, t, 220, 0, out, 8, 0);
    ck_assert_uint_eq(mep_get_le32(out), (uint32_t)(5000 - 6000)); /* below zero: INT32 -1000 */
    sim_glitch_clear(&g);

    put(t, 0, 100);
    gstart(&g, "wrap margin=10", 0);
    rd(&g, &l, 23, t, 220, 0, out, 8, 0);
    ck_assert_uint_eq(mep_get_le32(out), 0xFFFFFFF6u);   /* 2^32 - 10 */
    put(t, 0, 115);
    rd(&g, &l, 23, t, 220, 0, out, 8, 1000);
    ck_assert_uint_eq(mep_get_le32(out), 5);             /* wrapped */
    sim_glitch_clear(&g);

    put(t, 0, 100);
    gstart(&g, "drift rate=100", 0);
    rd(&g, &l, 23, t, 220, 0, out, 8, 5400000);          /* 1.5 simulated hours */
    ck_assert_uint_eq(mep_get_le32(out), 250);
    sim_glitch_clear(&g);

    gstart(&g, "freeze reg=both", 0);
    put(t, 4, 9);
    rd(&g, &l, 23, t, 220, 0, out, 8, 0);
    put(t, 0, 200);
    put(t, 4, 19);
    rd(&g, &l, 23, t, 220, 0, out, 8, 1000);
    ck_assert_uint_eq(mep_get_le32(out), 100);
    ck_assert_uint_eq(mep_get_le32(out + 4), 9);
}
END_TEST

START_TEST(test_reset_new_serial)
{
    sim_layout l = layout(BT21_PLAIN);
    uint8_t t[256] = {0}, out[8], et03[143], o3[143];
    memset(et03, ' ', sizeof et03);
    memcpy(et03, "EMU3PH000000001", 15);
    et03[137] = 0xBE;
    et03[138] = 0xEF;
    put(t, 0, 5000);
    sim_glitch g;
    sim_glitch_init(&g);
    gstart(&g, "reset serial=NEW-METER-42", 0);
    rd(&g, &l, 23, t, 220, 0, out, 8, 0);
    ck_assert_uint_eq(mep_get_le32(out), 0);
    put(t, 0, 5010);
    rd(&g, &l, 23, t, 220, 0, out, 8, 1000);
    ck_assert_uint_eq(mep_get_le32(out), 10);            /* counts again from 0 */
    rd(&g, &l, MEP_ET(3), et03, sizeof et03, 0, o3, sizeof o3, 1000);
    ck_assert_mem_eq(o3, "NEW-METER-42", 12);
    for (int i = 12; i < 30; i++)
        ck_assert_uint_eq(o3[i], 0);                     /* CHAR[30], NUL padded (docs/mep.md 12.11) */
    ck_assert_mem_eq(o3 + 30, et03 + 30, sizeof et03 - 30); /* CRC and the rest kept */
}
END_TEST

START_TEST(test_torn_bt28_offsets_per_variant)
{
    const uint8_t *variants[] = {BT21_PLAIN, BT21_DRC_TR};
    for (size_t v = 0; v < 2; v++) {
        sim_layout l = layout(variants[v]);
        uint8_t t[512], out[512];
        memset(t, 0, sizeof t);
        /* Fwd W 320 = L1 200 + L2 70 + L3 50 */
        put(t, l.bt28_value0 + 0, 320);
        put(t, l.bt28_value0 + 4 * 26, 200);
        put(t, l.bt28_value0 + 4 * 27, 70);
        put(t, l.bt28_value0 + 4 * 28, 50);
        sim_glitch g;
        sim_glitch_init(&g);
        gstart(&g, "torn delta=50", 0);
        rd(&g, &l, 28, t, l.bt28_size, 0, out, l.bt28_size, 0);
        uint32_t x = l.bt28_value0 + 4 * 26;
        ck_assert_uint_eq(mep_get_le32(out + x), 250);
        ck_assert_mem_eq(out, t, x);                     /* nothing before it moved */
        ck_assert_mem_eq(out + x + 4, t + x + 4, l.bt28_size - x - 4);
        int32_t sum = (int32_t)(mep_get_le32(out + x) + mep_get_le32(out + x + 4) + mep_get_le32(out + x + 8));
        ck_assert_int_gt(sum - (int32_t)mep_get_le32(out + l.bt28_value0), 3); /* HA 3 W rule broken */
    }
    /* index past the present values: no edit */
    sim_layout l = layout(BT21_GUIDE); /* 26 values */
    uint8_t t[256] = {0}, out[256];
    sim_glitch g;
    sim_glitch_init(&g);
    gstart(&g, "torn index=30", 0);
    rd(&g, &l, 28, t, l.bt28_size, 0, out, l.bt28_size, 0);
    ck_assert_mem_eq(out, t, l.bt28_size);
}
END_TEST

START_TEST(test_clock_freeze_serves_first_reading)
{
    sim_layout l = layout(BT21_PLAIN);
    uint8_t a[7] = {26, 11, 25, 9, 0, 0, 0x13}, b[7] = {26, 11, 25, 9, 0, 7, 0x13}, out[7];
    sim_glitch g;
    sim_glitch_init(&g);
    sim_glitch_spec s = gspec("clock-freeze");
    sim_glitch_effects fx;
    char err[128];
    ck_assert_int_gt(sim_glitch_start(&g, &s, 0, &fx, err, sizeof err), 0);
    ck_assert(fx.freeze_clock);
    ck_assert(sim_glitch_clock_frozen(&g));
    rd(&g, &l, 52, a, 7, 0, out, 7, 0);
    ck_assert_mem_eq(out, a, 7);
    rd(&g, &l, 52, b, 7, 0, out, 7, 7000);
    ck_assert_mem_eq(out, a, 7);
    ck_assert_int_eq(sim_glitch_stop(&g, "clock-freeze"), 1);
    rd(&g, &l, 52, b, 7, 0, out, 7, 8000);
    ck_assert_mem_eq(out, b, 7);
}
END_TEST

/* A BT28 full-read response frame: len, 0x00, count, data, 8 digest bytes. */
static size_t bt28_frame(const uint8_t *data, size_t n, uint8_t *frame)
{
    mep_put_be16(frame, (uint16_t)(3 + n + 8));
    frame[2] = 0;
    mep_put_be16(frame + 3, (uint16_t)n);
    memcpy(frame + 5, data, n);
    memset(frame + 5 + n, 0xD1, 8);
    return 5 + n + 8;
}

START_TEST(test_segment_changes_value_after_boundary)
{
    sim_layout l = layout(BT21_PLAIN);
    uint8_t t[220], out[220], fr[300], orig[300];
    for (size_t i = 0; i < sizeof t; i++)
        t[i] = (uint8_t)(i * 3);
    sim_glitch g;
    sim_glitch_init(&g);
    gstart(&g, "segment delta=1000", 0);                 /* default: BT28 value 28 (L3 Fwd W) */
    rd(&g, &l, 28, t, 220, 0, out, 220, 0);
    size_t n = bt28_frame(out, 220, fr);
    memcpy(orig, fr, n);
    ck_assert(sim_glitch_between_segments(&g, &l, fr, n, MEP_SEGMENT_BYTES, 0));
    /* value 28 sits at frame bytes 117..120: all in the second segment */
    ck_assert_uint_eq(mep_get_le32(fr + 117), mep_get_le32(orig + 117) + 1000u);
    ck_assert_mem_eq(fr, orig, 117);
    ck_assert_mem_eq(fr + 121, orig + 121, n - 121);     /* digest unchanged: now wrong */

    /* a value straddling the boundary: only its bytes after `sent` change */
    sim_glitch_clear(&g);
    gstart(&g, "segment index=27 delta=0x01010101", 0);
    rd(&g, &l, 28, t, 220, 0, out, 220, 0);
    n = bt28_frame(out, 220, fr);
    memcpy(orig, fr, n);
    ck_assert(sim_glitch_between_segments(&g, &l, fr, n, 115, 0));
    ck_assert_mem_eq(fr, orig, 115);
    ck_assert_uint_ne(fr[115], orig[115]);
    ck_assert_uint_ne(fr[116], orig[116]);
    ck_assert_mem_eq(fr + 117, orig + 117, n - 117);
}
END_TEST

START_TEST(test_segment_bt23_tier_blocks)
{
    sim_layout l = layout(BT21_PLAIN);                   /* blocks of 44 at 0, 44, 88, 132, 176 */
    uint8_t t[220] = {0}, out[220], fr[300], orig[300];
    sim_glitch g;
    sim_glitch_init(&g);
    gstart(&g, "segment table=BT23 delta=5", 0);
    rd(&g, &l, 23, t, 220, 0, out, 220, 0);
    size_t n = bt28_frame(out, 220, fr);
    memcpy(orig, fr, n);
    ck_assert(sim_glitch_between_segments(&g, &l, fr, n, 117, 0));
    ck_assert_mem_eq(fr, orig, 117);                     /* blocks 0-2 (frame 5, 49, 93) */
    ck_assert_uint_eq(mep_get_le32(fr + 5 + 132), 5);    /* tier blocks in segment 2 */
    ck_assert_uint_eq(mep_get_le32(fr + 5 + 176), 5);
    /* another table read last: the hook leaves the frame alone */
    rd(&g, &l, 28, t, 220, 0, out, 220, 0);
    ck_assert(!sim_glitch_between_segments(&g, &l, fr, n, 117, 0));
}
END_TEST

START_TEST(test_solar_is_a_model_command)
{
    sim_glitch g;
    sim_glitch_init(&g);
    sim_glitch_spec s = gspec("solar phases=2,3 watts=-1500 pf=0.9");
    sim_glitch_effects fx;
    char err[128];
    ck_assert_int_gt(sim_glitch_start(&g, &s, 0, &fx, err, sizeof err), 0);
    ck_assert_int_eq(fx.n_loads, 2);
    ck_assert_int_eq(fx.load[0].phase, 2);
    ck_assert_int_eq(fx.load[1].phase, 3);
    ck_assert_double_eq(fx.load[1].watts, -1500.0);
    ck_assert_double_eq(fx.load[1].pf, 0.9);
    char list[256];
    ck_assert_uint_eq(sim_glitch_list(&g, list, sizeof list), 0); /* nothing stays active */
}
END_TEST

/* Spec texts the family refuses, each with its exact message: one row
 * each, walked by test_glitch_spec_errors_are_exact. */
static const struct {
    const char *text, *err;
} BAD_GLITCH_SPECS[] = {
    {"spike delta=lots", "glitch spike: delta must be an integer or 2^N, got \"lots\""},
    {"spike reg=sideways", "glitch spike: bad value \"sideways\" for reg (fwd|rev|both)"},
    {"wrap delta=5", "glitch wrap takes no parameter \"delta\""},
    {"solar phases=4", "glitch solar: phases must list 1..3 (\"1,3\", \"L2\", \"all\"), got \"4\""},
    {"melt", "unknown glitch \"melt\""},
};

START_TEST(test_glitch_spec_errors_are_exact)
{
    sim_glitch_spec s;
    char err[256];
    ck_assert_int_eq(sim_glitch_spec_parse(&s, BAD_GLITCH_SPECS[_i].text, err, sizeof err), -1);
    ck_assert_str_eq(err, BAD_GLITCH_SPECS[_i].err);
}
END_TEST

START_TEST(test_glitch_spec_accepts_power_of_two)
{
    sim_glitch_spec s;
    char err[256];
    ck_assert_int_eq(sim_glitch_spec_parse(&s, "spike delta=2^20", err, sizeof err), 0);
    ck_assert_int_eq(s.delta, 1048576);
}
END_TEST

START_TEST(test_spike_on_real_rendering_bt21_variants)
{
    /* The meter's own rendering (sim_tables) with the shipped profile and
     * the S28 BT21 variant: the glitch lands on the register the model keeps. */
    const uint8_t *variants[] = {NULL, BT21_DRC_TR};
    for (size_t v = 0; v < 2; v++) {
        sim_profile prof;
        char err[512];
        ck_assert_msg(sim_profile_load(&prof, FIXTURES_DIR "/meters/nes-3ph.json", err, sizeof err) == 0, "%s", err);
        if (variants[v])
            memcpy(prof.bt21, variants[v], 10);
        sim_model model;
        sim_model_init(&model, &prof.model, 1, 1795597200000LL);
        sim_tables *t = sim_tables_new(&prof, &model, err, sizeof err);
        ck_assert_msg(t != NULL, "%s", err);
        sim_layout l;
        sim_layout_from_bt21(prof.bt21, &l);
        uint8_t out[13];
        ck_assert_int_eq(sim_tables_read(t, 23, 0, 13, out), 13);
        size_t size = 0;
        const uint8_t *full = sim_tables_raw(t, 23, &size);
        ck_assert_ptr_nonnull(full);
        ck_assert_uint_eq(size, l.bt23_size);
        uint32_t truth = (uint32_t)sim_model_register(&model, SIM_REG_FWD_WH);
        ck_assert_uint_eq(mep_get_le32(out + l.bt23_summation0), truth);
        sim_glitch g;
        sim_glitch_init(&g);
        gstart(&g, "spike delta=2^24 polls=1", 0);
        sim_glitch_on_read(&g, &l, 23, full, size, 0, out, 13, 0);
        ck_assert_uint_eq(mep_get_le32(out + l.bt23_summation0), truth + (1u << 24));
        sim_tables_free(t);
        sim_profile_free(&prof);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("glitch");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_layouts_match_guide_formulas);
    tcase_add_test(tc, test_spike_k_polls_then_back_with_demand_reset_counter);
    tcase_add_test(tc, test_spike_on_rev_for_duration);
    tcase_add_test(tc, test_partial_window_consistent_with_full_read);
    tcase_add_test(tc, test_decrease_wrap_drift_freeze);
    tcase_add_test(tc, test_reset_new_serial);
    tcase_add_test(tc, test_torn_bt28_offsets_per_variant);
    tcase_add_test(tc, test_clock_freeze_serves_first_reading);
    tcase_add_test(tc, test_segment_changes_value_after_boundary);
    tcase_add_test(tc, test_segment_bt23_tier_blocks);
    tcase_add_test(tc, test_solar_is_a_model_command);
    tcase_add_loop_test(tc, test_glitch_spec_errors_are_exact, 0,
                        (int)(sizeof BAD_GLITCH_SPECS / sizeof BAD_GLITCH_SPECS[0]));
    tcase_add_test(tc, test_glitch_spec_accepts_power_of_two);
    tcase_add_test(tc, test_spike_on_real_rendering_bt21_variants);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
