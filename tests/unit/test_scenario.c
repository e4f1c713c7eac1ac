/* Check suite: sim_scenario — every shipped scenario loads, each class of bad
 * input gives its exact message (file, JSON path, problem) and nothing, and
 * the runner hands out due steps once, in order. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "guide_meter.h"
#include "mep_frame.h"
#include "sim_fault_set.h"

static const sim_scenario_opts NOCHECK = {FIXTURES_DIR "/meters", false};
static const sim_scenario_opts CHECK = {FIXTURES_DIR "/meters", true};

START_TEST(test_every_shipped_scenario_parses)
{
    DIR *d = opendir(FIXTURES_DIR "/scenarios");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int n = 0;
    bool seen[35] = {false};
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char path[1024], err[512];
        snprintf(path, sizeof path, "%s/scenarios/%s", FIXTURES_DIR, e->d_name);
        sim_scenario *s = sim_scenario_load(path, &CHECK, err, sizeof err);
        ck_assert_msg(s != NULL, "%s", err);
        ck_assert_ptr_nonnull(s->description);
        ck_assert_ptr_nonnull(s->expect_json);
        ck_assert_msg(strstr(s->expect_json, "\"good\""), "%s: expect has no \"good\"", e->d_name);
        ck_assert_msg(s->n_steps > 0 && s->steps[s->n_steps - 1].kind == SIM_STEP_END, "%s: no end step",
                      e->d_name);
        int id;
        if (sscanf(e->d_name, "s%2d-", &id) == 1 && id >= 1 && id <= 34)
            seen[id] = true;
        sim_scenario_free(s);
        n++;
    }
    closedir(d);
    ck_assert_int_ge(n, 34);
    for (int id = 1; id <= 33; id++) /* S34 is host-side only (README) */
        ck_assert_msg(seen[id], "no scenario file for S%02d", id);
}
END_TEST

START_TEST(test_shipped_values_decoded)
{
    char err[512];
    sim_scenario *s = sim_scenario_load(FIXTURES_DIR "/scenarios/s16-kwh-spike.json", &CHECK, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(s->steps[0].kind, SIM_STEP_GLITCH);
    ck_assert_int_eq(s->steps[0].at_ms, 30000);
    ck_assert_int_eq(s->steps[0].u.glitch.kind, SIM_GLITCH_SPIKE);
    ck_assert_int_eq(s->steps[0].u.glitch.delta, 16777216);
    ck_assert_uint_eq(s->steps[0].u.glitch.polls, 3);
    ck_assert_uint_eq(s->steps[2].u.glitch.regs, SIM_GLITCH_REV);
    ck_assert_ptr_nonnull(strstr(s->profile, "meters/nes-3ph.json"));
    sim_scenario_free(s);

    s = sim_scenario_load(FIXTURES_DIR "/scenarios/s09-transceiver-latch-up.json", &CHECK, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(s->steps[0].kind, SIM_STEP_FAULT);
    ck_assert_int_eq(s->steps[0].u.fault.kind, SIM_FAULT_LATCHUP);
    ck_assert_uint_eq(s->steps[0].u.fault.off_ms, 1000);
    sim_scenario_free(s);

    s = sim_scenario_load(FIXTURES_DIR "/scenarios/s28-bt21-variants.json", &CHECK, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert(s->has_bt21);
    ck_assert_uint_eq(s->bt21[0], 0x44);
    ck_assert_uint_eq(s->bt21[9], 55);
    sim_scenario_free(s);
}
END_TEST

/* ---- bad input: one line per class, exact message ----------------------- */
#define HEAD "\"description\": \"d\", \"profile\": \"nes-3ph.json\", \"expect\": {}, "

static const struct {
    const char *text;
    const char *msg;
} BAD[] = {
    {"{\"description\": }", "/some/dir/bad.json:1:17: JSON syntax error: unexpected token near '}'"},
    {"{" HEAD "\"timeline\": [], \"timeline\": []}",
     "/some/dir/bad.json:1:88: JSON syntax error: duplicate object key near '\"timeline\"'"},
    {"[]", "/some/dir/bad.json: $: must be an object, got an array"},
    {"{" HEAD "\"timeline\": [], \"colour\": 1}", "/some/dir/bad.json: $: unknown key \"colour\""},
    {"{\"description\": \"d\", \"profile\": \"nes-3ph.json\", \"timeline\": []}",
     "/some/dir/bad.json: $: missing required key \"expect\""},
    {"{" HEAD "\"timeline\": [], \"seed\": \"one\"}", "/some/dir/bad.json: $.seed: must be an integer, got a string"},
    {"{" HEAD "\"timeline\": [], \"speed\": 0}", "/some/dir/bad.json: $.speed: must be > 0 and <= 10000, got 0"},
    {"{" HEAD "\"timeline\": {}}", "/some/dir/bad.json: $.timeline: must be an array, got an object"},
    {"{" HEAD "\"timeline\": [{\"at\": -1, \"end\": true}]}",
     "/some/dir/bad.json: $.timeline[0].at: impossible time -1 s: negative"},
    {"{" HEAD "\"timeline\": [{\"at\": 10, \"wait\": true}, {\"at\": 5, \"end\": true}]}",
     "/some/dir/bad.json: $.timeline[1].at: impossible time 5.000 s: before the previous step at 10.000 s (steps run in order)"},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"after\": 2, \"end\": true}]}",
     "/some/dir/bad.json: $.timeline[0]: needs exactly one of \"at\" or \"after\""},
    {"{" HEAD "\"timeline\": [{\"at\": 1}]}",
     "/some/dir/bad.json: $.timeline[0]: no action (load, fault, stop, glitch, alert, clock, seq_jump, reboot, wait, end, "
     "optical, policy)"},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"policy\": {\"seq_window\": 4}}]}",
     "/some/dir/bad.json: $.timeline[0].policy: unknown key \"seq_window\""},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"policy\": {}}]}",
     "/some/dir/bad.json: $.timeline[0].policy: names no policy (reply_delay_ms, reply_jitter_ms, proc_latency_ms)"},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"policy\": {\"reply_delay_ms\": 4001}}]}",
     "/some/dir/bad.json: $.timeline[0].policy.reply_delay_ms: must be 0..4000 (ms from the request's last byte to "
     "the reply's first)"},
    {"{" HEAD "\"timeline\": [], \"policy\": {\"reply_jitter_ms\": -1}}",
     "/some/dir/bad.json: $.policy.reply_jitter_ms: must be 0..1000"},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"wait\": true, \"end\": true}]}",
     "/some/dir/bad.json: $.timeline[0]: has both \"wait\" and \"end\": one action per step"},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"fault\": \"zap\"}]}",
     "/some/dir/bad.json: $.timeline[0].fault: unknown fault \"zap\""},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"glitch\": \"melt\"}]}",
     "/some/dir/bad.json: $.timeline[0].glitch: unknown glitch \"melt\""},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"fault\": \"flip\", \"params\": {\"rate\": 2}}]}",
     "/some/dir/bad.json: $.timeline[0].params.rate: fault flip: rate must be a probability 0..1, got \"2\""},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"fault\": \"flip\", \"params\": {\"p\": 0.5}}]}",
     "/some/dir/bad.json: $.timeline[0].params.p: fault flip takes no parameter \"p\""},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"fault\": \"delay\", \"params\": {\"delay\": {}}}]}",
     "/some/dir/bad.json: $.timeline[0].params.delay: bad type: an object is not a parameter value"},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"fault\": \"truncate\", \"params\": {\"dir\": \"to-meter\"}}]}",
     "/some/dir/bad.json: $.timeline[0]: fault truncate acts on response frames: dir must be to-module"},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"glitch\": \"spike\", \"params\": {\"delta\": 1.5}}]}",
     "/some/dir/bad.json: $.timeline[0].params.delta: glitch spike: delta must be an integer or 2^N, got \"1.5\""},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"fault\": \"short\", \"params\": {\"table\": \"QT1\"}}]}",
     "/some/dir/bad.json: $.timeline[0].params.table: fault short: bad table \"QT1\" (want BTn, ETn or a number)"},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"wait\": true, \"params\": {}}]}",
     "/some/dir/bad.json: $.timeline[0]: \"params\" belongs to a fault or glitch step, not to \"wait\""},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"stop\": \"everything\"}]}",
     "/some/dir/bad.json: $.timeline[0].stop: unknown fault or glitch \"everything\""},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"load\": {\"phase\": 4, \"watts\": 1}}]}",
     "/some/dir/bad.json: $.timeline[0].load.phase: phase must be 0..3 (0 = all), got 4"},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"load\": {\"phase\": 1}}]}",
     "/some/dir/bad.json: $.timeline[0].load: missing \"watts\""},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"alert\": 0}]}",
     "/some/dir/bad.json: $.timeline[0].alert: alert flags must be 1..255 (docs/mep.md 10.3), got 0"},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"clock\": \"2027-02-29T00:00:00Z\"}]}",
     "/some/dir/bad.json: $.timeline[0].clock: bad UTC time \"2027-02-29T00:00:00Z\" (want YYYY-MM-DDTHH:MM:SSZ, years 2000-2099)"},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"end\": true}, {\"at\": 2, \"wait\": true}]}",
     "/some/dir/bad.json: $.timeline[1]: step after \"end\""},
    {"{" HEAD "\"timeline\": [{\"at\": 1, \"reboot\": false}]}",
     "/some/dir/bad.json: $.timeline[0].reboot: must be true, got false"},
    {"{" HEAD "\"timeline\": [], \"keys\": {\"mbk\": \"short\"}}",
     "/some/dir/bad.json: $.keys.mbk: key must be 16 or 20 ASCII characters or 32/40 hex digits"},
    {"{" HEAD "\"timeline\": [], \"policy\": {\"seq_reply\": \"previous\"}}",
     "/some/dir/bad.json: $.policy.seq_reply: must be \"next\" or \"last\", got \"previous\""},
    {"{" HEAD "\"timeline\": [], \"patch\": {\"bt21\": \"00 11\"}}",
     "/some/dir/bad.json: $.patch.bt21: must be 10 bytes of hex (docs/mep.md 12.4), got \"00 11\""},
    {"{" HEAD "\"timeline\": [], \"patch\": {\"et11\": {\"39\": 1}}}",
     "/some/dir/bad.json: $.patch.et11.39: byte index must be 0..38"},
    {"{\"description\": \"\", \"profile\": \"p.json\", \"expect\": {}, \"timeline\": []}",
     "/some/dir/bad.json: $.description: must not be empty"},
    {"{\"description\": \"d\", \"profile\": \"p.json\", \"expect\": [], \"timeline\": []}",
     "/some/dir/bad.json: $.expect: must be an object, got an array"},
};

START_TEST(test_bad_input_exact_messages)
{
    char err[512];
    const char *t = BAD[_i].text;
    sim_scenario *s = sim_scenario_parse(t, strlen(t), "/some/dir/bad.json", &NOCHECK, err, sizeof err);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(err, BAD[_i].msg);
}
END_TEST

START_TEST(test_profile_must_exist)
{
    char err[512];
    const char *t = "{\"description\": \"d\", \"profile\": \"no-such-meter.json\", \"expect\": {}, \"timeline\": []}";
    sim_scenario *s = sim_scenario_parse(t, strlen(t), "/tmp/x/bad.json", &CHECK, err, sizeof err);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(err, "/tmp/x/bad.json: $.profile: profile \"no-such-meter.json\" not found (looked in /tmp/x and "
                          FIXTURES_DIR "/meters)");
    s = sim_scenario_load("/nonexistent/x.json", &CHECK, err, sizeof err);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(err, "/nonexistent/x.json: cannot open: No such file or directory");
}
END_TEST

START_TEST(test_runner_due_in_order_once)
{
    const char *t = "{" HEAD "\"seed\": 99, \"speed\": 2.5, \"seq_start\": 305419896, \"start\": \"2026-11-25T09:00:00Z\","
                    "\"keys\": {\"mbk\": \"ABCDEFGHIJKLMNOPQRST\", \"mak\": \"0101010101010101 0101010101010101\"},"
                    "\"timeline\": ["
                    "{\"at\": 1.5, \"load\": {\"phase\": 2, \"watts\": -1500}},"
                    "{\"after\": 0.5, \"fault\": \"flip\", \"params\": {\"rate\": 0.01, \"dir\": \"both\", \"count\": 5}},"
                    "{\"after\": 0, \"fault\": \"table-error\", \"params\": {\"table\": \"ET13\", \"code\": 5}},"
                    "{\"at\": 10, \"alert\": {\"flags\": 3, \"clear\": true}, \"note\": \"clear both\"},"
                    "{\"at\": 10, \"seq_jump\": -3},"
                    "{\"after\": 5, \"clock\": 1800000000},"
                    "{\"at\": 20, \"end\": true}]}";
    char err[512];
    sim_scenario *s = sim_scenario_parse(t, strlen(t), "run.json", &NOCHECK, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_uint_eq(s->seed, 99);
    ck_assert_double_eq(s->speed, 2.5);
    ck_assert_uint_eq(s->seq_start, 0x12345678);
    ck_assert_int_eq(s->start_utc_ms, 1795597200000LL);
    ck_assert(s->has_mbk && s->has_mak);
    ck_assert_mem_eq(s->mbk, "ABCDEFGHIJKLMNOP", 16);
    ck_assert_uint_eq(s->mak[15], 0x01);

    const sim_step *due[8];
    ck_assert_uint_eq(sim_scenario_due(s, 1499, due, 8), 0);
    ck_assert_int_eq(sim_scenario_next_at(s), 1500);
    ck_assert_uint_eq(sim_scenario_due(s, 2000, due, 8), 3);
    ck_assert_int_eq(due[0]->kind, SIM_STEP_LOAD);
    ck_assert_int_eq(due[0]->u.load.phase, 2);
    ck_assert_double_eq(due[0]->u.load.pf, 1.0);
    ck_assert_int_eq(due[1]->kind, SIM_STEP_FAULT);
    ck_assert_int_eq(due[1]->at_ms, 2000);
    ck_assert_uint_eq(due[1]->u.fault.dir, SIM_DIR_BOTH);
    ck_assert_uint_eq(due[1]->u.fault.count, 5);
    ck_assert_int_eq(due[2]->kind, SIM_STEP_PFAULT);
    ck_assert_uint_eq(due[2]->u.pfault.table, 0x080D);
    ck_assert_uint_eq(sim_scenario_due(s, 2000, due, 8), 0); /* each step once */
    ck_assert_uint_eq(sim_scenario_due(s, 100000, due, 1), 1); /* cap respected */
    ck_assert(due[0]->u.alert.clear);
    ck_assert_uint_eq(due[0]->u.alert.flags, 3);
    ck_assert_str_eq(due[0]->note, "clear both");
    ck_assert_uint_eq(sim_scenario_due(s, 100000, due, 8), 3);
    ck_assert_int_eq(due[0]->u.seq_jump, -3);
    ck_assert_int_eq(due[1]->kind, SIM_STEP_CLOCK);
    ck_assert_int_eq(due[1]->at_ms, 15000);
    ck_assert_int_eq(due[1]->u.clock_utc_ms, 1800000000000LL);
    ck_assert(sim_scenario_done(s));
    ck_assert_int_eq(sim_scenario_next_at(s), INT64_MAX);
    char line[256];
    sim_scenario_step_format(due[1], line, sizeof line);
    ck_assert_str_eq(line, "t=15.000s clock utc_ms=1800000000000");
    sim_scenario_rewind(s);
    ck_assert_uint_eq(sim_scenario_due(s, 100000, due, 8), 7);
    sim_scenario_step_format(due[1], line, sizeof line);
    ck_assert_str_eq(line, "t=2.000s fault flip dir=both rate=0.01 count=5");
    sim_scenario_free(s);
}
END_TEST

START_TEST(test_fault_set_control_commands)
{
    sim_fault_set fs;
    sim_fault_set_init(&fs, 5);
    char out[2048];
    ck_assert_int_eq(sim_fault_set_command(&fs, "inject flip rate=0.001 dir=to-module", 0, 0, NULL, out, sizeof out), 0);
    ck_assert_str_eq(out, "1 flip dir=to-module rate=0.001");
    ck_assert_int_eq(sim_fault_set_command(&fs, "inject short table=BT23 bytes=5", 0, 0, NULL, out, sizeof out), 0);
    ck_assert_str_eq(out, "p1 short table=BT23 bytes=5");
    ck_assert_int_eq(sim_fault_set_command(&fs, "glitch spike delta=2^24 polls=3", 0, 0, NULL, out, sizeof out), 0);
    ck_assert_str_eq(out, "g1 spike reg=fwd delta=16777216 polls=3");
    sim_glitch_effects fx;
    ck_assert_int_eq(sim_fault_set_command(&fs, "glitch solar phases=L1 watts=-500", 0, 0, &fx, out, sizeof out), 0);
    ck_assert_int_eq(fx.n_loads, 1);
    ck_assert_int_eq(sim_fault_set_command(&fs, "inject zap", 0, 0, NULL, out, sizeof out), -1);
    ck_assert_str_eq(out, "unknown fault \"zap\"");
    ck_assert_int_eq(sim_fault_set_command(&fs, "inject oversize size=0", 0, 0, NULL, out, sizeof out), -1);
    ck_assert_str_eq(out, "fault oversize: size must be 1..1097");
    ck_assert_int_eq(sim_fault_set_command(&fs, "explode", 0, 0, NULL, out, sizeof out), -1);
    ck_assert_str_eq(out, "unknown command \"explode\" (inject, glitch, clear, list, status)");
    ck_assert_int_eq(sim_fault_set_command(&fs, "list", 1000000, 0, NULL, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "1 flip dir=to-module rate=0.001 injected=0 age_ms=1000\n"));
    ck_assert_ptr_nonnull(strstr(out, "p1 short table=BT23 bytes=5 injected=0"));
    ck_assert_ptr_nonnull(strstr(out, "g1 spike reg=fwd delta=16777216 polls=3 reads=0\n"));
    ck_assert_int_eq(sim_fault_set_command(&fs, "clear p1", 0, 0, NULL, out, sizeof out), 0);
    ck_assert_str_eq(out, "cleared 1");
    ck_assert_int_eq(sim_fault_set_command(&fs, "clear spike", 0, 0, NULL, out, sizeof out), 0);
    ck_assert_str_eq(out, "cleared 1");
    ck_assert_int_eq(sim_fault_set_command(&fs, "clear nonsense", 0, 0, NULL, out, sizeof out), -1);
    ck_assert_int_eq(sim_fault_set_command(&fs, "status", 0, 0, NULL, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "glitched.solar=1\n"));
    ck_assert_ptr_nonnull(strstr(out, "latched=0"));
    ck_assert_int_eq(sim_fault_set_command(&fs, "clear", 0, 0, NULL, out, sizeof out), 0);
    ck_assert_uint_eq(sim_fault_active(&fs.line, 0), 0);

    /* scenario steps: fault modules take theirs, the owner the rest */
    const char *t = "{" HEAD "\"timeline\": [{\"at\": 0, \"fault\": \"dead\"}, {\"at\": 1, \"stop\": \"dead\"},"
                    "{\"at\": 2, \"load\": {\"phase\": 0, \"watts\": 10}}]}";
    char err[256];
    sim_scenario *s = sim_scenario_parse(t, strlen(t), "a.json", &NOCHECK, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(sim_fault_set_apply(&fs, &s->steps[0], 0, 0, NULL, err, sizeof err), 1);
    ck_assert_uint_eq(sim_fault_active(&fs.line, 0), 1);
    ck_assert_int_eq(sim_fault_set_apply(&fs, &s->steps[1], 0, 0, NULL, err, sizeof err), 1);
    ck_assert_uint_eq(sim_fault_active(&fs.line, 0), 0);
    ck_assert_int_eq(sim_fault_set_apply(&fs, &s->steps[2], 0, 0, NULL, err, sizeof err), 0);
    sim_scenario_free(s);
}
END_TEST

/* A "policy" step slows the meter down at run time without a fault: the
 * turnaround (docs/mep.md 4) and the procedure latency change, the rest stays. */
START_TEST(test_policy_step_slows_the_meter)
{
    const char *t = "{" HEAD "\"policy\": {\"reply_delay_ms\": 5},"
                    "\"timeline\": [{\"at\": 60, \"policy\": {\"reply_delay_ms\": 400, \"reply_jitter_ms\": 0}},"
                    "{\"at\": 90, \"policy\": {\"proc_latency_ms\": 700}}]}";
    char err[512];
    sim_scenario *s = sim_scenario_parse(t, strlen(t), "slow.json", &NOCHECK, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert(s->policy.has_reply_delay_ms && !s->policy.has_reply_jitter_ms);
    char line[256];
    sim_scenario_step_format(&s->steps[0], line, sizeof line);
    ck_assert_str_eq(line, "t=60.000s policy reply_delay_ms=400 reply_jitter_ms=0");

    sim_profile prof;
    sim_meter_cfg cfg;
    guide_meter_cfg(&prof, &cfg, "slow");
    cfg.policy.reply_delay_ms = s->policy.reply_delay_ms;
    sim_meter *m = sim_meter_new(&cfg, 1000, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_uint_eq(sim_meter_policy(m)->reply_delay_ms, 5);
    ck_assert_uint_eq(sim_meter_policy(m)->reply_jitter_ms, SIM_POLICY_DEFAULT_REPLY_JITTER_MS);
    sim_fault_set fs;
    sim_fault_set_init(&fs, 5);
    ck_assert_int_eq(sim_fault_set_apply_step(&fs, m, &s->steps[0], 60000000u, err, sizeof err),
                     SIM_FAULT_SET_STEP_DONE);
    ck_assert_uint_eq(sim_meter_reply_delay_us(m), 400000u);
    ck_assert_int_eq(sim_fault_set_apply_step(&fs, m, &s->steps[1], 90000000u, err, sizeof err),
                     SIM_FAULT_SET_STEP_DONE);
    ck_assert_uint_eq(sim_meter_policy(m)->proc_latency_ms, 700);
    ck_assert_uint_eq(sim_meter_policy(m)->reply_delay_ms, 400); /* kept */
    sim_meter_free(m);
    sim_profile_free(&prof);
    sim_scenario_free(s);
}
END_TEST

START_TEST(test_fault_set_line_wiring)
{
    sim_fault_set fs;
    sim_fault_set_init(&fs, 5);
    char out[512];
    ck_assert_int_eq(sim_fault_set_command(&fs, "inject alert-split gap_us=0 split=2", 0, 0, NULL, out, sizeof out), 0);
    ck_assert_int_eq(sim_fault_set_command(&fs, "inject delay delay=100", 0, 0, NULL, out, sizeof out), 0);
    ck_assert_int_eq(sim_fault_set_command(&fs, "inject alert-storm period=1000", 0, 0, NULL, out, sizeof out), 0);
    const uint8_t frame[] = {0x00, 0x03, 0x00, 0x11, 0x22};
    uint8_t buf[600], due[600];
    memcpy(buf, frame, sizeof frame);
    ck_assert_uint_eq(sim_fault_set_tx_filter(&fs, buf, sizeof frame, sizeof buf, 0), 0); /* held */
    size_t at;
    uint32_t us;
    ck_assert(sim_fault_set_pause_hook(&fs, &at, &us));
    ck_assert_uint_eq(at, 4);
    ck_assert_uint_eq(us, 0);
    ck_assert_uint_eq(sim_fault_set_tx_due(&fs, 0, due, sizeof due), 2);       /* storm pair at 0 */
    ck_assert_uint_eq(sim_fault_set_tx_due(&fs, 0, due, sizeof due), 0);
    ck_assert_uint_eq(sim_fault_set_next_wake(&fs, 0), 100000);
    ck_assert_uint_eq(sim_fault_set_tx_due(&fs, 100000, due, sizeof due), sizeof frame + 2);
    const uint8_t want[] = {0x00, 0x00, 0x00, 0x03, 0x00, 0x11, 0x22};
    ck_assert_mem_eq(due, want, sizeof want);
    ck_assert_uint_eq(sim_fault_set_next_wake(&fs, 100000), 1000000);
    ck_assert_uint_eq(sim_fault_set_rx_due(&fs, 100000, due, sizeof due), 0);
    ck_assert_int_eq(sim_fault_set_command(&fs, "inject stuck dir=both level=0xff len=4", 0, 0, NULL, out, sizeof out), 0);
    ck_assert_uint_eq(sim_fault_set_rx_due(&fs, 200000, due, sizeof due), 4);
    ck_assert_uint_eq(sim_fault_set_tx_due(&fs, 200000, due, sizeof due), 4); /* own clock per direction */
    memcpy(buf, frame, sizeof frame);
    ck_assert_uint_eq(sim_fault_set_rx_filter(&fs, buf, sizeof frame, sizeof buf, 200000), sizeof frame);
    ck_assert_uint_eq(buf[0], 0xFF);
    /* sim_line_hooks-shaped adapters */
    ck_assert_uint_eq(sim_fault_set_due_hook(&fs, SIM_DIR_TO_METER, 400000, due, sizeof due), 4);
    ck_assert_uint_eq(sim_fault_set_wake_hook(&fs, 400000), sim_fault_set_next_wake(&fs, 400000));
    sim_fault_set_command(&fs, "clear", 0, 0, NULL, out, sizeof out);
    sim_fault_set_command(&fs, "inject latchup off=100 mode=silence", 0, 0, NULL, out, sizeof out);
    ck_assert(sim_fault_latched(&fs.line));
    sim_fault_set_event_hook(&fs, "transceiver", false, 500000);
    sim_fault_set_event_hook(&fs, "transceiver", true, 600000);
    ck_assert(!sim_fault_latched(&fs.line));
}
END_TEST

/* Run field-day.json's timeline against a fault set, pushing one response
 * frame every 100 ms through the tx path; returns a hash of every byte out. */
static uint64_t run_field_day(uint64_t seed)
{
    char err[512];
    sim_scenario *s = sim_scenario_load(FIXTURES_DIR "/scenarios/field-day.json", &CHECK, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    sim_fault_set fs;
    sim_fault_set_init(&fs, seed ? seed : s->seed);
    uint64_t h = 1469598103934665603ull;
    uint8_t buf[600];
    for (int64_t t = 0; t <= 600000; t += 100) {
        const sim_step *due[8];
        size_t n = sim_scenario_due(s, t, due, 8);
        for (size_t i = 0; i < n; i++)
            ck_assert_int_ge(sim_fault_set_apply(&fs, due[i], (uint64_t)t * 1000u, t, NULL, err, sizeof err), 0);
        for (size_t i = 0; i < 40; i++)
            buf[i] = (uint8_t)(t + (int64_t)i);
        mep_put_be16(buf, 38);
        size_t k = sim_fault_set_tx_filter(&fs, buf, 40, sizeof buf, (uint64_t)t * 1000u);
        for (;;) {
            for (size_t i = 0; i < k; i++)
                h = (h ^ buf[i]) * 1099511628211ull;
            h = (h ^ k) * 1099511628211ull;
            k = sim_fault_set_tx_due(&fs, (uint64_t)t * 1000u, buf, sizeof buf);
            if (!k)
                break;
        }
    }
    ck_assert(sim_scenario_done(s));
    sim_scenario_free(s);
    return h;
}

/* fixtures/scenarios/README.md documents every kind of the three family
 * tables with every parameter it takes (in its row or in the section's
 * "Common parameters"), and names no kind the tables do not have. */
static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    static char buf[1 << 17];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

/* The text from the "## " heading before at up to at. */
static const char *section_start(const char *doc, const char *at)
{
    const char *best = doc;
    for (const char *h = strstr(doc, "\n## "); h && h < at; h = strstr(h + 1, "\n## "))
        best = h;
    return best;
}

static bool in_line(const char *line, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++)
        if (memcmp(line + i, needle, nl) == 0)
            return true;
    return false;
}

static const struct {
    const char *heading;
    const sim_spec_family *(*family)(void);
} DOC_SECTIONS[] = {
    {"## Line faults", sim_fault_family},
    {"## Transceiver models", sim_fault_family},
    {"## Protocol faults", sim_pfault_family},
    {"## Glitches", sim_glitch_family},
};

START_TEST(test_readme_matches_family_tables)
{
    const char *doc = read_text(FIXTURES_DIR "/scenarios/README.md");
    const sim_spec_family *fams[] = {sim_fault_family(), sim_pfault_family(), sim_glitch_family()};
    for (size_t f = 0; f < 3; f++)
        for (size_t k = 0; k < fams[f]->n_kinds; k++) {
            const sim_spec_kind *kd = sim_spec_kind_at(fams[f], (int)k);
            char row[96];
            snprintf(row, sizeof row, "\n| `%s` |", kd->name);
            const char *r = strstr(doc, row);
            ck_assert_msg(r != NULL, "README.md: no row for %s %s", fams[f]->what, kd->name);
            size_t rlen = strcspn(r + 1, "\n") + 1;
            const char *sec = section_start(doc, r);
            const char *common = strstr(sec, "Common parameters:");
            size_t clen = common && common < r ? strcspn(common, "|") : 0;
            for (size_t i = 0; i < fams[f]->n_params; i++) {
                if (!(kd->params & (1u << i)))
                    continue;
                char p[64];
                snprintf(p, sizeof p, "`%s`", fams[f]->params[i].key);
                ck_assert_msg(in_line(r, rlen, p) || (clen && in_line(common, clen, p)),
                              "README.md: %s %s takes %s, not documented", fams[f]->what, kd->name, p);
            }
        }
    for (size_t i = 0; i < sizeof DOC_SECTIONS / sizeof DOC_SECTIONS[0]; i++) {
        const char *sec = strstr(doc, DOC_SECTIONS[i].heading);
        ck_assert_msg(sec != NULL, "README.md: no section %s", DOC_SECTIONS[i].heading);
        const char *end = strstr(sec + 1, "\n## ");
        for (const char *r = strstr(sec, "\n| `"); r && (!end || r < end); r = strstr(r + 1, "\n| `")) {
            char name[64];
            ck_assert_int_eq(sscanf(r, "\n| `%63[^`]`", name), 1);
            ck_assert_msg(sim_spec_kind_index(DOC_SECTIONS[i].family(), name) >= 0,
                          "README.md %s: \"%s\" is no kind of the table", DOC_SECTIONS[i].heading, name);
        }
    }
}
END_TEST

START_TEST(test_field_day_deterministic_for_seed)
{
    uint64_t a = run_field_day(0), b = run_field_day(0), c = run_field_day(12345);
    ck_assert_uint_eq(a, b);
    ck_assert_uint_ne(a, c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("scenario");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_every_shipped_scenario_parses);
    tcase_add_test(tc, test_shipped_values_decoded);
    tcase_add_loop_test(tc, test_bad_input_exact_messages, 0, (int)(sizeof BAD / sizeof BAD[0]));
    tcase_add_test(tc, test_profile_must_exist);
    tcase_add_test(tc, test_runner_due_in_order_once);
    tcase_add_test(tc, test_fault_set_control_commands);
    tcase_add_test(tc, test_fault_set_line_wiring);
    tcase_add_test(tc, test_policy_step_slows_the_meter);
    tcase_add_test(tc, test_field_day_deterministic_for_seed);
    tcase_add_test(tc, test_readme_matches_family_tables);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
