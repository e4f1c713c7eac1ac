/* Check suite: sim_profile (fixtures/meters profiles loading, strict validation,
 * key parsing, the built-in default).
 *
 * Bad profiles are small temp files; each must fail with -1 and a message
 * "<file>: <json path>: <problem>", and must leave the caller's profile as
 * it was (nothing half-applied).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "sim_profile.h"
#include "sim_tables.h"

static const char *const SHIPPED[] = {"nes-3ph", "nes-1ph", "nes-3ph-fw4", "guide-example", "guide-tx"};

static void shipped_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/meters/%s.json", FIXTURES_DIR, name);
}

/* Write text to a fresh temp file; path returned in out. */
static void temp_profile(char *out, size_t cap, const char *text)
{
    snprintf(out, cap, "/tmp/test_profile_XXXXXX");
    int fd = mkstemp(out);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq((int)write(fd, text, n), (int)n);
    close(fd);
}

/* Load text, expect failure with "<file>: <suffix>", and the profile unchanged. */
static void expect_error(const char *text, const char *suffix)
{
    char path[64], err[512], want[600];
    temp_profile(path, sizeof path, text);
    sim_profile p, before;
    sim_profile_default(&p);
    memcpy(&before, &p, sizeof p);
    err[0] = '\0';
    int rc = sim_profile_load(&p, path, err, sizeof err);
    unlink(path);
    ck_assert_int_eq(rc, -1);
    snprintf(want, sizeof want, "%s: %s", path, suffix);
    ck_assert_str_eq(err, want);
    ck_assert_msg(memcmp(&p, &before, sizeof p) == 0, "profile changed by a failed load");
}

START_TEST(test_each_shipped_profile_loads)
{
    for (size_t i = 0; i < sizeof SHIPPED / sizeof SHIPPED[0]; i++) {
        char path[512], err[512] = "";
        shipped_path(path, sizeof path, SHIPPED[i]);
        sim_profile p;
        int rc = sim_profile_load(&p, path, err, sizeof err);
        ck_assert_msg(rc == 0, "%s: %s", SHIPPED[i], err);
        ck_assert_str_eq(p.name, SHIPPED[i]);
        ck_assert_str_eq(p.path, path);
        ck_assert_str_eq(p.manufacturer, "NES ");
        ck_assert_uint_eq(strlen(p.model_name), 8);
        sim_profile_free(&p);
    }
}
END_TEST

START_TEST(test_default_equals_nes_3ph_json)
{
    char path[512], err[512] = "";
    shipped_path(path, sizeof path, "nes-3ph");
    sim_profile f, d;
    ck_assert_int_eq(sim_profile_load(&f, path, err, sizeof err), 0);
    sim_profile_default(&d);
    ck_assert_str_eq(d.name, "nes-3ph");
    /* everything but the file path must be identical */
    memset(f.path, 0, sizeof f.path);
    memset(d.path, 0, sizeof d.path);
    ck_assert_uint_eq(f.n_overrides, 0);
    ck_assert_msg(memcmp(&f, &d, sizeof f) == 0, "sim_profile_default() differs from nes-3ph.json");
    sim_profile_free(&f);
    sim_profile_free(&d);
}
END_TEST

START_TEST(test_nes_3ph_content)
{
    sim_profile p;
    sim_profile_default(&p);
    ck_assert_int_eq(p.generation, 3);
    ck_assert_int_eq(p.model.phases, 3);
    ck_assert_uint_eq(p.bt21[9], 55); /* full 0..54 list (docs/module-behaviour.md 7) */
    ck_assert_uint_eq(p.bt21[8], 0);
    ck_assert_uint_eq(p.fw_version, (3u << 12) | (72u << 5) | 4u);
    ck_assert_double_eq_tol(p.model.load[0].watts, 320.0, 1e-9);
    ck_assert(p.model.load[0].capacitive);
    ck_assert_uint_eq(p.mak[0], 0x01);
    ck_assert_uint_eq(p.mbk[15], 0x02);
    ck_assert(!p.has_seq_start);
    /* policy defaults (sim_profile.h comments) */
    ck_assert_int_eq(p.policy.seq_reply, SIM_SEQ_REPLY_NEXT);
    ck_assert_uint_eq(p.policy.seq_window, 8);
    ck_assert(p.policy.idt_bump_adds_25);
    ck_assert(!p.policy.past_end_error);
    ck_assert_int_eq(p.policy.auth_reply, SIM_AUTH_REPLY_SHORT);
    ck_assert_int_eq(p.policy.proc_deny, SIM_PROC_DENY_RESULT5);
    ck_assert_uint_eq(p.policy.reply_delay_ms, SIM_POLICY_DEFAULT_REPLY_DELAY_MS); /* turnaround */
    ck_assert_uint_eq(p.policy.reply_jitter_ms, SIM_POLICY_DEFAULT_REPLY_JITTER_MS);
}
END_TEST

START_TEST(test_fw4_and_guide_profiles)
{
    char path[512], err[512] = "";
    sim_profile p;
    shipped_path(path, sizeof path, "nes-3ph-fw4");
    ck_assert_int_eq(sim_profile_load(&p, path, err, sizeof err), 0);
    ck_assert_int_eq(p.generation, 4);
    ck_assert_uint_eq(p.bt21[3], 19);
    ck_assert_uint_eq(p.bt21[7], 8);
    ck_assert_uint_eq(p.et11[0], 6);  /* ET11.0 = 6 on Gen 4 */
    ck_assert_uint_eq(p.et11[34], 2); /* MEP channel count */
    ck_assert_int_eq(p.tz_offset_min, 60);
    ck_assert_int_eq(p.model.load[0].kind, SIM_LOAD_RANDOM_WALK);
    ck_assert_int_eq(p.model.load[1].kind, SIM_LOAD_DAILY);
    sim_profile_free(&p);

    shipped_path(path, sizeof path, "guide-example");
    ck_assert_int_eq(sim_profile_load(&p, path, err, sizeof err), 0);
    ck_assert(p.has_seq_start);
    ck_assert_uint_eq(p.seq_start, 0x77635B90u); /* RC4 Example 1 (docs/mep.md 5.5) */
    ck_assert_uint_eq(p.model.start_outage_seconds, 8);
    ck_assert_uint_eq(p.model.start_outage_count, 3);
    ck_assert_uint_eq(p.model.start_error_counter, 6);
    sim_profile_free(&p);

    shipped_path(path, sizeof path, "guide-tx");
    ck_assert_int_eq(sim_profile_load(&p, path, err, sizeof err), 0);
    static const uint8_t bt21[10] = {0x3F, 0x0E, 0x0C, 0x0F, 0x08, 0x00, 0x01, 0x04, 0x08, 0x1A};
    ck_assert_mem_eq(p.bt21, bt21, 10);
    ck_assert_uint_eq(p.n_overrides, 5);
    ck_assert_uint_eq(p.overrides[0].table_id, 20);
    ck_assert_uint_eq(p.overrides[0].len, 10);
    ck_assert_uint_eq(p.overrides[2].table_id, 0x080E);
    ck_assert_uint_eq(p.overrides[2].offset, 150);
    ck_assert_uint_eq(p.seq_start, 0x5B4E42E6u);
    sim_profile_free(&p);
}
END_TEST

START_TEST(test_error_unknown_key)
{
    expect_error("{\"name\": \"x\", \"model\": {\"phases\": 3, \"colour\": 1}}",
                 "$.model.colour: unknown key");
    expect_error("{\"name\": \"x\", \"frobnicate\": true}", "$.frobnicate: unknown key");
}
END_TEST

START_TEST(test_error_bad_type)
{
    expect_error("{\"name\": \"x\", \"generation\": \"three\"}", "$.generation: must be an integer");
    expect_error("{\"name\": \"x\", \"tls_required\": 1}", "$.tls_required: must be true or false");
    expect_error("{\"name\": \"x\", \"model\": []}", "$.model: must be an object");
    expect_error("{\"name\": 7}", "$.name: must be a string");
}
END_TEST

START_TEST(test_error_pf_out_of_range)
{
    expect_error("{\"name\": \"x\", \"model\": {\"phases\": 3, \"load\": ["
                 "{\"watts\": 1, \"pf\": 0.9}, {\"watts\": 1, \"pf\": 1.5}, {\"watts\": 1}]}}",
                 "$.model.load[1].pf: must be between 0 and 1");
}
END_TEST

START_TEST(test_error_bad_key_length)
{
    expect_error("{\"name\": \"x\", \"keys\": {\"mak\": \"0102\"}}",
                 "$.keys.mak: key must be 16 or 20 ASCII characters or 32/40 hex digits "
                 "(got 4 characters, 4 hex digits)");
}
END_TEST

START_TEST(test_error_other_checks)
{
    expect_error("{\"generation\": 3}", "$.name: is required");
    expect_error("{\"name\": \"x\", \"model\": {\"phases\": 1, \"load\": [{}, {}]}}",
                 "$.model.load: must have 1 entries (one per phase), has 2");
    expect_error("{\"name\": \"x\", \"model\": {\"phases\": 2}}", "$.model.phases: must be 1 or 3");
    expect_error("{\"name\": \"x\", \"model\": {\"phases\": 1, \"load\": [{\"kind\": \"daily\"}]}}",
                 "$.model.load[0].daily_w: is required when kind is \"daily\"");
    expect_error("{\"name\": \"x\", \"model\": {\"phases\": 1, \"load\": [{\"kind\": \"random_walk\", "
                 "\"min_w\": 10, \"max_w\": 5}]}}",
                 "$.model.load[0].min_w: must not be above max_w");
    expect_error("{\"name\": \"x\", \"model\": {\"phases\": 1, \"load\": [{\"kind\": \"wobble\"}]}}",
                 "$.model.load[0].kind: must be one of \"constant\", \"daily\", \"random_walk\"");
    expect_error("{\"name\": \"x\", \"bt21\": {\"tiers\": 9}}", "$.bt21.tiers: must be between 0 and 8");
    expect_error("{\"name\": \"x\", \"identity\": {\"fw_version\": \"3.1\"}}",
                 "$.identity.fw_version: must be a string \"x.yy.zz\" (e.g. \"3.72.04\")");
    expect_error("{\"name\": \"x\", \"identity\": {\"meter_serial\": \"12AB\"}}",
                 "$.identity.meter_serial: must be decimal digits only (BCD in BT01)");
    expect_error("{\"name\": \"x\", \"overrides\": [{\"table\": \"XT01\", \"hex\": \"00\"}]}",
                 "$.overrides[0].table: must be a table number or a name like \"BT23\" or \"ET13\"");
    expect_error("{\"name\": \"x\", \"overrides\": [{\"table\": \"ET14\", \"hex\": \"0\"}]}",
                 "$.overrides[0].hex: has an odd number of hex digits");
    expect_error("{\"name\": \"x\", \"policy\": {\"seq_reply\": \"previous\"}}",
                 "$.policy.seq_reply: must be one of \"next\", \"last\"");
    expect_error("{\"name\": \"x\", \"policy\": {\"reply_delay_ms\": 4001}}",
                 "$.policy.reply_delay_ms: must be between 0 and 4000");
    expect_error("{\"name\": \"x\", \"policy\": {\"reply_jitter_ms\": 1001}}",
                 "$.policy.reply_jitter_ms: must be between 0 and 1000");
    expect_error("{\"name\": \"x\", \"clock\": {\"start_utc\": \"yesterday\"}}",
                 "$.clock.start_utc: must be \"YYYY-MM-DDThh:mm:ssZ\" (2000..2099) or Unix seconds");
    expect_error("{\"name\": \"x\", \"clock\": {\"start_utc\": \"2023-02-29T00:00:00Z\"}}",
                 "$.clock.start_utc: no such date: 2023-02-29");
    expect_error("{\"name\": \"x\", \"clock\": {\"start_utc\": 12345}}",
                 "$.clock.start_utc: must be 0 (wall clock) or in 2000..2099 (BT52 has a 2-digit year)");
    /* a failure after an override was parsed must not leak it (ASan checks) */
    expect_error("{\"name\": \"x\", \"overrides\": [{\"table\": \"ET14\", \"hex\": \"00\"}], \"seq_start\": -1}",
                 "$.seq_start: must be between 0 and 4294967295");
}
END_TEST

START_TEST(test_error_invalid_json_and_missing_file)
{
    char path[64], err[512];
    temp_profile(path, sizeof path, "{\"name\": \"x\",,}");
    sim_profile p;
    ck_assert_int_eq(sim_profile_load(&p, path, err, sizeof err), -1);
    unlink(path);
    ck_assert_ptr_nonnull(strstr(err, path));
    ck_assert_ptr_nonnull(strstr(err, ": $: cannot load: "));
    ck_assert_ptr_nonnull(strstr(err, "line 1"));
    ck_assert_int_eq(sim_profile_load(&p, "/nonexistent/meter.json", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/meter.json: $: cannot load"));
    /* duplicate keys are refused too */
    temp_profile(path, sizeof path, "{\"name\": \"x\", \"name\": \"y\"}");
    ck_assert_int_eq(sim_profile_load(&p, path, err, sizeof err), -1);
    unlink(path);
}
END_TEST

START_TEST(test_good_options_parse)
{
    char path[64], err[512] = "";
    temp_profile(path, sizeof path,
                 "{\"name\": \"opts\", \"generation\": 4, \"seq_start\": 4294967295,"
                 " \"tls_required\": true,"
                 " \"clock\": {\"start_utc\": \"2024-02-29T12:34:56Z\", \"tz_offset_min\": -300},"
                 " \"policy\": {\"seq_reply\": \"last\", \"seq_window\": 3, \"strict_full_read_count\": true,"
                 "   \"auth_reply\": \"silent\", \"proc_deny\": \"isc\", \"past_end_error\": true,"
                 "   \"proc_latency_ms\": 700, \"idt_bump_adds_25\": false, \"reply_delay_ms\": 120,"
                 "   \"reply_jitter_ms\": 0},"
                 " \"locked_tables\": [\"ET13\", \"bt23\", 2052],"
                 " \"overrides\": [{\"table\": \"ET03\", \"offset\": 2, \"hex\": \"22:5c FF\"}],"
                 " \"identity\": {\"fw_version\": \"3.10.21\", \"meter_serial\": \"42\", \"model\": \"AB\"}}");
    sim_profile p;
    int rc = sim_profile_load(&p, path, err, sizeof err);
    unlink(path);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert(p.has_seq_start);
    ck_assert_uint_eq(p.seq_start, 0xFFFFFFFFu);
    ck_assert(p.tls_required);
    ck_assert_int_eq(p.start_utc_s, 1709210096); /* 2024-02-29 12:34:56 UTC */
    ck_assert_int_eq(p.tz_offset_min, -300);
    ck_assert_int_eq(p.policy.seq_reply, SIM_SEQ_REPLY_LAST);
    ck_assert_uint_eq(p.policy.seq_window, 3);
    ck_assert(p.policy.strict_full_read_count);
    ck_assert_int_eq(p.policy.auth_reply, SIM_AUTH_REPLY_SILENT);
    ck_assert_int_eq(p.policy.proc_deny, SIM_PROC_DENY_ISC);
    ck_assert_uint_eq(p.policy.reply_delay_ms, 120);
    ck_assert_uint_eq(p.policy.reply_jitter_ms, 0);
    ck_assert(p.policy.past_end_error);
    ck_assert_uint_eq(p.policy.proc_latency_ms, 700);
    ck_assert(!p.policy.idt_bump_adds_25);
    ck_assert_uint_eq(p.n_locked, 3);
    ck_assert_uint_eq(p.locked_tables[0], 0x080D);
    ck_assert_uint_eq(p.locked_tables[1], 23);
    ck_assert_uint_eq(p.locked_tables[2], 2052);
    ck_assert_uint_eq(p.n_overrides, 1);
    ck_assert_uint_eq(p.overrides[0].len, 3);
    ck_assert_uint_eq(p.overrides[0].bytes[0], 0x22);
    ck_assert_uint_eq(p.overrides[0].bytes[1], 0x5C);
    ck_assert_uint_eq(p.overrides[0].bytes[2], 0xFF);
    ck_assert_uint_eq(p.fw_version, 0x3155); /* docs/mep.md 12.3: 3.10.21 = 0x3155 */
    ck_assert_str_eq(p.meter_serial, "0000000000000042");
    ck_assert_str_eq(p.model_name, "AB      ");
    ck_assert_uint_eq(p.et11[0], 6);  /* Gen 4 default */
    ck_assert_uint_eq(p.et11[34], 2);
    sim_profile_free(&p);
    ck_assert_uint_eq(p.n_overrides, 0);
}
END_TEST

START_TEST(test_parse_key_forms)
{
    uint8_t k[16];
    char err[256];
    ck_assert_int_eq(sim_parse_key("ABCDEFGHIJKLMNOPQRST", k, err, sizeof err), 0);
    ck_assert_mem_eq(k, "ABCDEFGHIJKLMNOP", 16);  /* first 16 of 20 (docs/mep.md 5.1) */
    ck_assert_int_eq(sim_parse_key("0123456789abcdef", k, err, sizeof err), 0);
    ck_assert_mem_eq(k, "0123456789abcdef", 16);  /* 16 chars are ASCII, not hex */
    static const uint8_t seq[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    ck_assert_int_eq(sim_parse_key("0102030405060708090A0B0C0D0E0F10", k, err, sizeof err), 0);
    ck_assert_mem_eq(k, seq, 16);
    ck_assert_int_eq(sim_parse_key("01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:12:13:14", k, err, sizeof err), 0);
    ck_assert_mem_eq(k, seq, 16);
    ck_assert_int_eq(sim_parse_key("01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10", k, err, sizeof err), 0);
    ck_assert_mem_eq(k, seq, 16);
    ck_assert_int_eq(sim_parse_key("0102", k, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "16 or 20 ASCII characters or 32/40 hex digits"));
    ck_assert_int_eq(sim_parse_key("0102030405060708090A0B0C0D0E0F1G", k, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "'G' at position 31 is not a hex digit"));
    ck_assert_int_eq(sim_parse_key("", k, err, sizeof err), -1);
    ck_assert_int_eq(sim_parse_key(NULL, k, err, sizeof err), -1);
    /* 42 hex digits */
    ck_assert_int_eq(sim_parse_key("0102030405060708090A0B0C0D0E0F101112131415", k, err, sizeof err), -1);
}
END_TEST

/* A cloned profile: "tables" (verbatim static tables, beyond the 16-override
 * limit, before the overrides) and the "import" provenance object
 * (fixtures/meters/README.md "Cloned profiles"). */
START_TEST(test_tables_and_import_parse)
{
    const char *txt = "{\"name\": \"clone\","
                      " \"import\": {\"tool\": \"mepsim-profile\", \"route\": \"dump\", \"source\": \"d.txt\","
                      "  \"date\": \"2026-12-06T00:00:00Z\", \"verbatim\": [\"BT01\"], \"derived\": [\"identity\"],"
                      "  \"modelled\": [\"BT23\"], \"skipped\": []},"
                      " \"overrides\": [{\"table\": \"BT01\", \"offset\": 1, \"hex\": \"EE\"}],"
                      " \"tables\": [{\"table\": \"BT01\", \"hex\": \"4E 45 53 20\"},"
                      "  {\"table\": 2051, \"hex\": \"41:42\", \"comment\": \"ET03\"}]}";
    sim_profile p;
    char err[512] = "";
    ck_assert_int_eq(sim_profile_parse(&p, txt, strlen(txt), "clone.json", err, sizeof err), 0);
    ck_assert_uint_eq(p.n_overrides, 3);
    ck_assert(p.overrides[0].from_tables);
    ck_assert_uint_eq(p.overrides[0].table_id, 1);
    ck_assert_uint_eq(p.overrides[0].offset, 0);
    ck_assert_uint_eq(p.overrides[0].len, 4);
    ck_assert_uint_eq(p.overrides[1].table_id, 0x0803);
    ck_assert_uint_eq(p.overrides[1].index, 1);
    ck_assert_uint_eq(p.overrides[1].bytes[1], 0x42);
    /* the override comes last, so it applies on top of the verbatim bytes */
    ck_assert(!p.overrides[2].from_tables);
    ck_assert_uint_eq(p.overrides[2].index, 0);
    ck_assert_uint_eq(p.overrides[2].bytes[0], 0xEE);
    sim_profile_free(&p);
}
END_TEST

START_TEST(test_tables_and_import_errors)
{
    expect_error("{\"name\": \"x\", \"tables\": [{\"table\": \"BT23\", \"hex\": \"00\"}]}",
                 "$.tables[0].table: BT23 is rendered from the model: give its start in model.registers");
    expect_error("{\"name\": \"x\", \"tables\": [{\"table\": \"BT01\", \"hex\": \"00\"},"
                 " {\"table\": 1, \"hex\": \"00\"}]}",
                 "$.tables[1].table: table given twice (also $.tables[0])");
    expect_error("{\"name\": \"x\", \"tables\": [{\"table\": \"BT01\", \"offset\": 2, \"hex\": \"00\"}]}",
                 "$.tables[0].offset: unknown key");
    expect_error("{\"name\": \"x\", \"tables\": [{\"table\": \"BT01\", \"hex\": \"0g\"}]}",
                 "$.tables[0].hex: 'g' at position 1 is not a hex digit");
    expect_error("{\"name\": \"x\", \"tables\": [{\"table\": \"BT01\"}]}", "$.tables[0].hex: is required");
    expect_error("{\"name\": \"x\", \"tables\": {}}", "$.tables: must be an array of {table, hex} objects");
    expect_error("{\"name\": \"x\", \"import\": {\"by\": \"me\"}}", "$.import.by: unknown key");
    expect_error("{\"name\": \"x\", \"import\": {\"route\": 3}}", "$.import.route: must be a string");
    expect_error("{\"name\": \"x\", \"import\": {\"verbatim\": [\"BT01\", 1]}}",
                 "$.import.verbatim: must be an array of strings");
    expect_error("{\"name\": \"x\", \"import\": []}", "$.import: must be an object");
}
END_TEST

/* The store serves "tables" bytes verbatim, overrides on top; a verbatim
 * table longer than the meter's, or one the meter lacks, stops the start
 * with a message naming $.tables[i]. */
START_TEST(test_tables_served_by_the_store)
{
    const char *txt = "{\"name\": \"clone\","
                      " \"overrides\": [{\"table\": \"BT21\", \"offset\": 9, \"hex\": \"36\"}],"
                      " \"tables\": [{\"table\": \"BT21\", \"hex\": \"01 02 00 0B 00 00 00 04 00 37\"},"
                      "  {\"table\": \"ET03\", \"hex\": \"41 42 43\"}]}";
    sim_profile p;
    char err[512] = "";
    ck_assert_int_eq(sim_profile_parse(&p, txt, strlen(txt), "clone.json", err, sizeof err), 0);
    sim_model m;
    sim_model_init(&m, &p.model, 1, 1709210096000LL);
    sim_tables *t = sim_tables_new(&p, &m, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    static const uint8_t want[10] = {0x01, 0x02, 0x00, 0x0B, 0x00, 0x00, 0x00, 0x04, 0x00, 0x36};
    uint8_t b[10];
    ck_assert_int_eq(sim_tables_read(t, 21, 0, 10, b), 10);
    ck_assert_mem_eq(b, want, 10);
    ck_assert_int_eq(sim_tables_read(t, 0x0803, 0, 4, b), 4);
    ck_assert_mem_eq(b, "ABC\0", 4);   /* a shorter table: its first bytes, the rest as built */
    sim_tables_free(t);
    /* ET03 is 143 bytes: 144 run past its end */
    uint8_t *big = calloc(1, 144);
    ck_assert_ptr_nonnull(big);
    free(p.overrides[1].bytes);
    p.overrides[1].bytes = big;
    p.overrides[1].len = 144;
    ck_assert_ptr_null(sim_tables_new(&p, &m, err, sizeof err));
    ck_assert_str_eq(err, "clone.json: $.tables[1]: 144 bytes at offset 0 run past the end of ET03 (143 bytes)");
    p.overrides[1].len = 3;
    p.overrides[1].table_id = 0x0800 + 99;
    ck_assert_ptr_null(sim_tables_new(&p, &m, err, sizeof err));
    ck_assert_str_eq(err, "clone.json: $.tables[1].table: ET99 does not exist in this meter");
    sim_profile_free(&p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("profile");
    tcase_add_test(tc, test_each_shipped_profile_loads);
    tcase_add_test(tc, test_default_equals_nes_3ph_json);
    tcase_add_test(tc, test_nes_3ph_content);
    tcase_add_test(tc, test_fw4_and_guide_profiles);
    tcase_add_test(tc, test_error_unknown_key);
    tcase_add_test(tc, test_error_bad_type);
    tcase_add_test(tc, test_error_pf_out_of_range);
    tcase_add_test(tc, test_error_bad_key_length);
    tcase_add_test(tc, test_error_other_checks);
    tcase_add_test(tc, test_error_invalid_json_and_missing_file);
    tcase_add_test(tc, test_good_options_parse);
    tcase_add_test(tc, test_parse_key_forms);
    tcase_add_test(tc, test_tables_and_import_parse);
    tcase_add_test(tc, test_tables_and_import_errors);
    tcase_add_test(tc, test_tables_served_by_the_store);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
