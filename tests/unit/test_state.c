/* Check suite: a meter's saved state (store/sim_state, sim_meter_state_*):
 * the JSON round trip, the restart rule (the meter kept running while the
 * process was down; after a kill -9 the model replays the lost seconds, so no
 * register is below what a client read), E and registration kept, and one
 * test per class of bad state file with the message it gives. Meter:
 * fixtures/meters/nes-3ph.json, phase 1 switched to a seeded random walk so
 * the replay is not trivially linear. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_run.h"
#include "mep_frame.h"
#include "sim_meter.h"
#include "sim_state.h"

#define WALL0 1780000000000LL /* a wall clock (Unix ms) for the tests */

typedef struct {
    sim_profile prof;
    sim_meter *m;
} meter;

static void meter_open_profile(meter *t, const char *file, uint64_t now_ms)
{
    char err[400], path[512];
    snprintf(path, sizeof path, "%s/meters/%s", FIXTURES_DIR, file);
    ck_assert_msg(sim_profile_load(&t->prof, path, err, sizeof err) == 0, "%s", err);
    t->prof.model.load[0].kind = SIM_LOAD_RANDOM_WALK;
    t->prof.model.load[0].watts = 2000;
    t->prof.model.load[0].walk_step_w = 300;
    t->prof.model.load[0].walk_min_w = 500;
    t->prof.model.load[0].walk_max_w = 6000;
    sim_meter_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.profile = &t->prof;
    memcpy(cfg.mbk, t->prof.mbk, 16);
    memcpy(cfg.mak, t->prof.mak, 16);
    cfg.seed = 42;
    cfg.speed = 1.0;
    cfg.start_utc_ms = WALL0;
    cfg.has_seq_start = true;
    cfg.seq_start = 0x1000;
    cfg.policy = t->prof.policy;
    cfg.name = "t";
    t->m = sim_meter_new(&cfg, now_ms, err, sizeof err);
    ck_assert_msg(t->m != NULL, "%s", err);
}

static void meter_open(meter *t, uint64_t now_ms) { meter_open_profile(t, "nes-3ph.json", now_ms); }

static void meter_close(meter *t)
{
    sim_meter_free(t->m);
    sim_profile_free(&t->prof);
}

static int64_t fwd(meter *t, uint64_t now_ms)
{
    sim_meter_advance(t->m, now_ms);
    return sim_model_register(sim_meter_model(t->m), SIM_REG_FWD_WH);
}

/* State text of a meter at (now_ms, wall ms). */
static char *dump_at(meter *t, uint64_t now_ms, int64_t wall)
{
    sim_state st;
    ck_assert_int_eq(sim_meter_state_get(t->m, now_ms, wall, &st), 0);
    char *text = sim_state_dump(&st);
    ck_assert_ptr_nonnull(text);
    sim_state_clear(&st);
    return text;
}

START_TEST(test_round_trip_keeps_registers_e_tables)
{
    meter a;
    meter_open(&a, 1000);
    uint8_t reg[4] = {0xE8, 0x03, 0x00, 0x00}; /* ET50 bytes a client wrote */
    ck_assert_int_ge(sim_meter_optical_write(a.m, MEP_ET(51), 9, reg, 1, 2000), 0);
    size_t sz;
    uint8_t *et50 = sim_tables_raw(sim_meter_tables(a.m), MEP_ET(50), &sz);
    ck_assert_ptr_nonnull(et50);
    memcpy(et50, "MODULE-ID-0001", 14);
    sim_meter_set_next_seq(a.m, 0xABCDEF01u);
    sim_meter_advance(a.m, 3000);
    sim_model_set_load(sim_meter_model(a.m), 2, 1234.0, 0.5); /* control-socket override */
    int64_t r_a = fwd(&a, 3601000); /* one simulated hour */
    ck_assert_int_gt(r_a, 0);
    char *text = dump_at(&a, 3601000, WALL0 + 3600000);

    sim_state st;
    char err[300];
    ck_assert_int_eq(sim_state_parse(text, strlen(text), "f", &st, err, sizeof err), SIM_STATE_OK);
    char *again = sim_state_dump(&st);
    ck_assert_str_eq(again, text); /* parse o dump is the identity */
    free(again);

    meter b;
    meter_open(&b, 50);
    /* restarted at once (no wall time passed): the same meter */
    ck_assert_int_eq(sim_meter_state_apply(b.m, &st, 50, WALL0 + 3600000, err, sizeof err), SIM_METER_STATE_OK);
    ck_assert_int_eq(fwd(&b, 50), r_a);
    ck_assert_uint_eq(sim_meter_next_seq(b.m), 0xABCDEF01u);
    ck_assert(sim_meter_model(b.m)->override_active[2]);
    ck_assert(sim_meter_model(b.m)->cfg.load[2].watts == 1234.0 && sim_meter_model(b.m)->cfg.load[2].pf == 0.5);
    ck_assert_int_eq(sim_meter_model(b.m)->cfg.load[0].kind, SIM_LOAD_RANDOM_WALK);
    ck_assert_int_eq(sim_meter_sim_now(b.m, 50), sim_meter_sim_now(a.m, 3601000));
    uint8_t *b50 = sim_tables_raw(sim_meter_tables(b.m), MEP_ET(50), &sz);
    ck_assert_int_eq(memcmp(b50, "MODULE-ID-0001", 14), 0);
    ck_assert_uint_eq(sim_tables_raw(sim_meter_tables(b.m), MEP_ET(51), &sz)[9], 0xE8);
    /* the ET04 mirror of E follows (docs/mep.md 5.5) */
    ck_assert_uint_eq(mep_get_le32(sim_tables_raw(sim_meter_tables(b.m), MEP_ET(4), &sz) + 103), 0xABCDEF01u);
    sim_state_clear(&st);
    free(text);
    meter_close(&a);
    meter_close(&b);
}
END_TEST

/* kill -9 five seconds after the last save: the restarted meter replays
 * them, so every value a client read before the kill is reached again at
 * the same simulated time and exceeded after. */
START_TEST(test_kill9_replay_never_goes_back)
{
    meter a;
    meter_open(&a, 0);
    fwd(&a, 600000);
    char *text = dump_at(&a, 600000, WALL0 + 600000);  /* last periodic save */
    int64_t read_before_kill = fwd(&a, 604900);         /* a client read 4.9 s later */
    int64_t imp_before = sim_model_register(sim_meter_model(a.m), SIM_REG_IMP_VARH);
    sim_state st;
    char err[300];
    ck_assert_int_eq(sim_state_parse(text, strlen(text), "f", &st, err, sizeof err), SIM_STATE_OK);

    /* the new process starts 4.9 s of wall time after the save */
    meter b;
    meter_open(&b, 7);
    ck_assert_int_eq(sim_meter_state_apply(b.m, &st, 7, WALL0 + 604900, err, sizeof err), SIM_METER_STATE_OK);
    ck_assert_int_eq(fwd(&b, 7), read_before_kill); /* deterministic replay: exactly */
    ck_assert_int_eq(sim_model_register(sim_meter_model(b.m), SIM_REG_IMP_VARH), imp_before);
    ck_assert_int_gt(fwd(&b, 7 + 60000), read_before_kill);
    meter_close(&b);

    /* a restart an hour later: the hour was booked as if the meter ran */
    meter c;
    meter_open(&c, 7);
    ck_assert_int_eq(sim_meter_state_apply(c.m, &st, 7, WALL0 + 600000 + 3600000, err, sizeof err),
                     SIM_METER_STATE_OK);
    ck_assert_int_eq(fwd(&c, 7), fwd(&a, 600000 + 3600000));
    meter_close(&c);

    /* a wall clock that went back counts as no time: never below the save */
    meter d;
    meter_open(&d, 7);
    ck_assert_int_eq(sim_meter_state_apply(d.m, &st, 7, WALL0, err, sizeof err), SIM_METER_STATE_OK);
    ck_assert_int_ge(fwd(&d, 7), st.model.reg_m[SIM_REG_FWD_WH] / 1000);
    meter_close(&d);
    sim_state_clear(&st);
    free(text);
    meter_close(&a);
}
END_TEST

/* Parse a state text with one substring replaced; the message must contain want. */
static void expect_bad(const char *text, const char *from, const char *to, const char *want)
{
    char *buf = malloc(strlen(text) + strlen(to) + 1);
    const char *at = strstr(text, from);
    ck_assert_msg(at != NULL, "fixture text lacks %s", from);
    size_t k = (size_t)(at - text);
    memcpy(buf, text, k);
    strcpy(buf + k, to);
    strcat(buf, at + strlen(from));
    sim_state st;
    char err[400] = "";
    ck_assert_int_eq(sim_state_parse(buf, strlen(buf), "s.json", &st, err, sizeof err), SIM_STATE_BAD);
    ck_assert_msg(strstr(err, want) && !strncmp(err, "s.json: ", 8), "message \"%s\" lacks \"%s\"", err, want);
    free(buf);
}

START_TEST(test_bad_file_classes)
{
    meter a;
    meter_open(&a, 0);
    char *text = dump_at(&a, 1000, WALL0);
    expect_bad(text, "{", "{{", "not valid JSON");
    expect_bad(text, "\"mepsim-state\"", "\"other\"", "not a mepsim state file");
    expect_bad(text, "\"version\": 1", "\"version\": 7", "state version 7 is not supported (this mepsim reads version 1)");
    expect_bad(text, "\"version\": 1", "\"version\": \"1\"", "version: missing or not an integer");
    expect_bad(text, "\"seq_next\"", "\"seq_nxt\"", "seq_nxt: unknown key");
    expect_bad(text, "\"speed\"", "\"speedy\"", "speedy: unknown key");
    expect_bad(text, "\"profile\": \"nes-3ph\"", "\"profile\": 3", "meter.profile: expected a string");
    expect_bad(text, "\"rng\": \"", "\"rng\": \"zz", "model.rng: expected 16 hex digits");
    expect_bad(text, "\"registers_m\": [", "\"registers_m\": [1, ", "model.registers_m: expected an array of 12 integers");
    expect_bad(text, "\"registers_m\": [\n   ", "\"registers_m\": [\n   -", "model.registers_m: registers must be >= 0");
    expect_bad(text, "\"kind\": \"random_walk\"", "\"kind\": \"wild\"", "model.loads[0].kind: expected");
    expect_bad(text, "\"pf\": ", "\"pf\": 7, \"x\": ", "model.loads[0].x: unknown key");
    expect_bad(text, "\"ET50\": \"", "\"ET50\": \"0", "tables.ET50: odd number of hex digits");
    expect_bad(text, "\"ET50\": \"", "\"ET50\": \"zz", "tables.ET50: not a hex string");
    expect_bad(text, "\"ET50\"", "\"XX50\"", "tables.XX50: expected a table name");
    expect_bad(text, "\"seq_next\": 4096", "\"seq_next\": 99999999999", "seq_next: out of range");
    free(text);

    /* mismatches are found against the meter, which stays unchanged */
    sim_state st;
    char err[400];
    text = dump_at(&a, 1000, WALL0);
    ck_assert_int_eq(sim_state_parse(text, strlen(text), "s.json", &st, err, sizeof err), SIM_STATE_OK);
    meter other;
    meter_open_profile(&other, "nes-1ph.json", 0);
    ck_assert_int_eq(sim_meter_state_apply(other.m, &st, 0, WALL0, err, sizeof err), SIM_METER_STATE_MISMATCH);
    ck_assert_msg(strstr(err, "saved for profile \"nes-3ph\", this meter runs profile \"nes-1ph\""), "%s", err);
    ck_assert_uint_eq(sim_meter_next_seq(other.m), 0x1000);
    meter_close(&other);

    meter same;
    meter_open(&same, 0);
    snprintf(st.meter_serial, sizeof st.meter_serial, "0000000099999999");
    ck_assert_int_eq(sim_meter_state_apply(same.m, &st, 0, WALL0, err, sizeof err), SIM_METER_STATE_MISMATCH);
    ck_assert_msg(strstr(err, "saved for meter serial 0000000099999999"), "%s", err);
    snprintf(st.meter_serial, sizeof st.meter_serial, "%s", a.prof.meter_serial);
    for (size_t i = 0; i < st.n_tables; i++)
        if (st.tables[i].id == MEP_ET(50))
            st.tables[i].len--;
    ck_assert_int_eq(sim_meter_state_apply(same.m, &st, 0, WALL0, err, sizeof err), SIM_METER_STATE_MISMATCH);
    ck_assert_msg(strstr(err, "tables.ET50: ") && strstr(err, "bytes saved, this meter's table has"), "%s", err);
    ck_assert_uint_eq(sim_meter_next_seq(same.m), 0x1000);
    meter_close(&same);
    sim_state_clear(&st);
    free(text);
    meter_close(&a);
}
END_TEST

START_TEST(test_files_atomic_missing_empty_folder)
{
    char dir[] = "/tmp/test_state_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128], tmp[140], err[400];
    snprintf(path, sizeof path, "%s/m.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    sim_state st;
    ck_assert_int_eq(sim_state_load(path, &st, err, sizeof err), SIM_STATE_MISSING);
    ck_assert_int_eq(sim_state_check_path(path, err, sizeof err), 0);

    meter a;
    meter_open(&a, 0);
    char *text = dump_at(&a, 5000, WALL0);
    ck_assert_int_eq(sim_state_write_file(path, text, err, sizeof err), 0);
    ck_assert_int_ne(access(tmp, F_OK), 0); /* renamed into place */
    ck_assert_int_eq(sim_state_load(path, &st, err, sizeof err), SIM_STATE_OK);
    ck_assert_uint_eq(st.next_seq, 0x1000);
    sim_state_clear(&st);
    free(text);
    meter_close(&a);

    FILE *f = fopen(path, "w");
    fclose(f);
    ck_assert_int_eq(sim_state_load(path, &st, err, sizeof err), SIM_STATE_BAD);
    ck_assert_msg(strstr(err, "empty file"), "%s", err);

    char nodir[200];
    snprintf(nodir, sizeof nodir, "%s/nope/m.json", dir);
    ck_assert_int_eq(sim_state_check_path(nodir, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "does not exist"), "%s", err);
    ck_assert_int_eq(sim_state_write_file(nodir, "{}", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "cannot create"), "%s", err);
    ck_assert_int_eq(sim_state_check_path(dir, err, sizeof err), -1); /* a folder, not a file */
    ck_assert_msg(strstr(err, "not a regular file"), "%s", err);
    unlink(path);
    rmdir(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("state");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_round_trip_keeps_registers_e_tables);
    tcase_add_test(tc, test_kill9_replay_never_goes_back);
    tcase_add_test(tc, test_bad_file_classes);
    tcase_add_test(tc, test_files_atomic_missing_empty_folder);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
