/* Check suite: sim_access against fixtures/vectors/mep_access.json.
 *
 * Walks EVERY table and procedure row of the JSON (docs/mep.md 6, guide App. C)
 * and asserts that the compiled matrix (sim_access_data.c) gives the same
 * answer for NONE, MBK and MAK: reads from "read", writes from
 * "write_effective", calls from "call", MAK a superset of MBK, NONE nothing.
 */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "sim_access.h"

static json_t *load_access(void)
{
    json_error_t e;
    json_t *j = json_load_file(FIXTURES_DIR "/vectors/mep_access.json", 0, &e);
    ck_assert_msg(j != NULL, "cannot load mep_access.json: %s", e.text);
    return j;
}

static bool list_has(json_t *arr, const char *key)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), key) == 0)
            return true;
    }
    return false;
}

/* Expected right of a level from a JSON key list, MAK being a superset of MBK. */
static bool expect(json_t *arr, sim_level l)
{
    if (l == SIM_LEVEL_NONE)
        return false;
    if (l == SIM_LEVEL_MBK)
        return list_has(arr, "MBK");
    return list_has(arr, "MAK") || list_has(arr, "MBK");
}

START_TEST(test_every_table_row_matches)
{
    json_t *j = load_access();
    json_t *tables = json_object_get(j, "tables");
    ck_assert(json_is_array(tables));
    ck_assert_uint_gt(json_array_size(tables), 50);
    size_t i;
    json_t *row;
    json_array_foreach(tables, i, row) {
        const char *name = json_string_value(json_object_get(row, "id"));
        uint16_t id = (uint16_t)json_integer_value(json_object_get(row, "table_number"));
        json_t *rd = json_object_get(row, "read"), *wr = json_object_get(row, "write_effective");
        ck_assert_msg(rd && wr, "%s: row lacks read/write_effective", name);
        ck_assert_msg(sim_access_table_listed(id), "%s not listed", name);
        for (int l = SIM_LEVEL_NONE; l <= SIM_LEVEL_MAK; l++) {
            ck_assert_msg(sim_access_can_read(id, (sim_level)l) == expect(rd, (sim_level)l),
                          "%s read %s", name, sim_level_name((sim_level)l));
            ck_assert_msg(sim_access_can_write(id, (sim_level)l) == expect(wr, (sim_level)l),
                          "%s write %s", name, sim_level_name((sim_level)l));
        }
    }
    /* the compiled matrix has no rows the JSON lacks */
    ck_assert_uint_eq(sim_access_n_tables, json_array_size(tables));
    json_decref(j);
}
END_TEST

START_TEST(test_every_procedure_row_matches)
{
    json_t *j = load_access();
    json_t *procs = json_object_get(j, "procedures");
    ck_assert(json_is_array(procs));
    size_t i;
    json_t *row;
    json_array_foreach(procs, i, row) {
        const char *name = json_string_value(json_object_get(row, "id"));
        uint16_t id = (uint16_t)json_integer_value(json_object_get(row, "procedure_number"));
        json_t *call = json_object_get(row, "call");
        ck_assert_msg(sim_access_proc_listed(id), "%s not listed", name);
        for (int l = SIM_LEVEL_NONE; l <= SIM_LEVEL_MAK; l++)
            ck_assert_msg(sim_access_can_call(id, (sim_level)l) == expect(call, (sim_level)l),
                          "%s call %s", name, sim_level_name((sim_level)l));
    }
    ck_assert_uint_eq(sim_access_n_procs, json_array_size(procs));
    json_decref(j);
}
END_TEST

START_TEST(test_brief_rules_spot_checks)
{
    /* docs/mep.md 6: MBK writes only BT07, ET50, ET51, ET52 (+ ET71 by resolution) */
    ck_assert(sim_access_can_write(0x0007, SIM_LEVEL_MBK));
    ck_assert(sim_access_can_write(0x0832, SIM_LEVEL_MBK));
    ck_assert(!sim_access_can_write(0x080D, SIM_LEVEL_MBK)); /* ET13: MAK only */
    ck_assert(sim_access_can_write(0x080D, SIM_LEVEL_MAK));
    ck_assert(!sim_access_can_write(0x0846, SIM_LEVEL_MAK)); /* ET70 read-only */
    ck_assert(sim_access_can_write(0x0847, SIM_LEVEL_MBK));  /* ET71 writable */
    ck_assert(!sim_access_can_write(0x001C, SIM_LEVEL_MAK)); /* BT28 read-only */
    /* EP19 MAK only; EP16/17/39/61 both */
    ck_assert(!sim_access_can_call(0x0813, SIM_LEVEL_MBK));
    ck_assert(sim_access_can_call(0x0813, SIM_LEVEL_MAK));
    static const uint16_t both[] = {0x0810, 0x0811, 0x0827, 0x083D};
    for (size_t i = 0; i < 4; i++) {
        ck_assert(sim_access_can_call(both[i], SIM_LEVEL_MBK));
        ck_assert(sim_access_can_call(both[i], SIM_LEVEL_MAK));
        ck_assert(!sim_access_can_call(both[i], SIM_LEVEL_NONE));
    }
}
END_TEST

START_TEST(test_unlisted_are_refused)
{
    /* BT02 / ET99 / EP18 are not in App. C: not listed, no right for anyone */
    static const uint16_t tables[] = {0x0002, 0x0863, 0x0005, 0xFFFF};
    for (size_t i = 0; i < 4; i++) {
        ck_assert(!sim_access_table_listed(tables[i]));
        for (int l = SIM_LEVEL_NONE; l <= SIM_LEVEL_MAK; l++) {
            ck_assert(!sim_access_can_read(tables[i], (sim_level)l));
            ck_assert(!sim_access_can_write(tables[i], (sim_level)l));
        }
    }
    ck_assert(!sim_access_proc_listed(0x0812));
    ck_assert(!sim_access_can_call(0x0812, SIM_LEVEL_MAK));
    ck_assert(!sim_access_can_call(0x0005, SIM_LEVEL_MAK)); /* BP05 */
    ck_assert_str_eq(sim_level_name(SIM_LEVEL_MBK), "MBK");
    ck_assert_str_eq(sim_level_name(SIM_LEVEL_MAK), "MAK");
    ck_assert_str_eq(sim_level_name(SIM_LEVEL_NONE), "NONE");
}
END_TEST

START_TEST(test_rows_sorted)
{
    for (size_t i = 1; i < sim_access_n_tables; i++)
        ck_assert_uint_lt(sim_access_tables[i - 1].id, sim_access_tables[i].id);
    for (size_t i = 1; i < sim_access_n_procs; i++)
        ck_assert_uint_lt(sim_access_procs[i - 1].id, sim_access_procs[i].id);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("access");
    TCase *tc = tcase_create("matrix");
    tcase_add_test(tc, test_every_table_row_matches);
    tcase_add_test(tc, test_every_procedure_row_matches);
    tcase_add_test(tc, test_brief_rules_spot_checks);
    tcase_add_test(tc, test_unlisted_are_refused);
    tcase_add_test(tc, test_rows_sorted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
