/* Check suite: sim_ctlcmd — a control channel's command table walked in one
 * place: rows found by name, every class of bad request refused with its
 * exact text in both refusal styles (mepsim's and mepsim-cosim's), the help
 * in table order, and one request line to one reply line. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "sim_ctlcmd.h"

/* A program's own row: the schema first, then what only the program knows. */
typedef struct {
    sim_ctlcmd def;
    int handler;
} row;

static const row ROWS[] = {
    {{"now", {{0}}, false, "the time"}, 1},
    {{"move",
      {{"s", SIM_CTLCMD_NUMBER, true, NULL},
       {"n", SIM_CTLCMD_INT, false, NULL},
       {"on", SIM_CTLCMD_BOOL, false, "move: on: expected true or false"},
       {"what", SIM_CTLCMD_ANY, false, NULL}},
      false,
      "move s seconds"},
     2},
    {{"name", {{"text", SIM_CTLCMD_STRING, false, NULL}}, false, "a name"}, 3},
    {{"free", {{0}}, true, "checks its own fields"}, 4},
};
static const char *const ENVELOPE[] = {"cmd", "id", NULL};
static const sim_ctlcmd_table NAMED = SIM_CTLCMD_TABLE(ROWS, ENVELOPE, true);
static const sim_ctlcmd_table PLAIN = SIM_CTLCMD_TABLE(ROWS, ENVELOPE, false);

/* The refusal's text; the refusal itself is released. */
static char *error_of(json_t *refusal)
{
    ck_assert_ptr_nonnull(refusal);
    ck_assert(json_is_false(json_object_get(refusal, "ok")));
    char *text = strdup(json_string_value(json_object_get(refusal, "error")));
    json_decref(refusal);
    return text;
}

START_TEST(test_find_returns_the_programs_row)
{
    const row *r = sim_ctlcmd_find(&NAMED, "name");
    ck_assert_ptr_eq(r, &ROWS[2]);
    ck_assert_int_eq(r->handler, 3);
    ck_assert_ptr_null(sim_ctlcmd_find(&NAMED, "nam"));
    ck_assert_ptr_null(sim_ctlcmd_find(&NAMED, ""));
}
END_TEST

START_TEST(test_lookup_refuses_a_non_string_and_an_unknown_name)
{
    const void *found = NULL;
    json_t *e = NULL, *v = json_string("free");
    ck_assert_int_eq(sim_ctlcmd_lookup(&NAMED, v, &found, &e), SIM_CTLCMD_OK);
    ck_assert_ptr_eq(found, &ROWS[3]);
    json_decref(v);

    v = json_integer(7);
    ck_assert_int_eq(sim_ctlcmd_lookup(&NAMED, v, &found, &e), SIM_CTLCMD_REFUSED);
    char *t = error_of(e);
    ck_assert_str_eq(t, "cmd: expected a string");
    free(t);
    json_decref(v);

    v = json_string("fly");
    ck_assert_int_eq(sim_ctlcmd_lookup(&NAMED, v, &found, &e), SIM_CTLCMD_REFUSED);
    t = error_of(e);
    ck_assert_str_eq(t, "unknown cmd \"fly\"; commands: now, move, name, free");
    free(t);
    json_decref(v);
}
END_TEST

START_TEST(test_unknown_cuts_a_long_name_and_keeps_the_list)
{
    char name[2001];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = 0;
    char *t = error_of(sim_ctlcmd_unknown(&PLAIN, name));
    ck_assert_uint_eq(strspn(t + strlen("unknown cmd \""), "x"), 100);
    ck_assert_ptr_nonnull(strstr(t, "\"; commands: now, move, name, free"));
    free(t);
}
END_TEST

/* Each bad request and its refusal in both styles (NULL: it passes). */
static const struct {
    const char *cmd, *req, *named, *plain;
} CHECKS[] = {
    {"move", "{\"cmd\":\"move\",\"s\":1}", NULL, NULL},
    {"move", "{\"cmd\":\"move\",\"s\":1,\"n\":2,\"on\":true,\"what\":[1],\"id\":{}}", NULL, NULL},
    {"move", "{\"cmd\":\"move\"}", "move: missing field \"s\"", "missing field \"s\""},
    {"move", "{\"cmd\":\"move\",\"s\":\"1\"}", "move: s: expected a number", "s: expected a number"},
    {"move", "{\"cmd\":\"move\",\"s\":1,\"n\":1.5}", "move: n: expected an integer", "n: expected an integer"},
    {"move", "{\"cmd\":\"move\",\"s\":1,\"on\":1}", "move: on: expected true or false",
     "move: on: expected true or false"},
    {"move", "{\"cmd\":\"move\",\"s\":1,\"x\":1}", "move: unknown field \"x\"", "move: unknown field \"x\""},
    {"move", "{\"cmd\":\"move\",\"s\":1,\"meter\":0}", "move: unknown field \"meter\"",
     "move: unknown field \"meter\""},
    /* the unknown field is refused before a missing one */
    {"move", "{\"cmd\":\"move\",\"x\":1}", "move: unknown field \"x\"", "move: unknown field \"x\""},
    {"name", "{\"cmd\":\"name\",\"text\":false}", "name: text: expected a string", "text: expected a string"},
    {"name", "{\"cmd\":\"name\"}", NULL, NULL},
    {"free", "{\"cmd\":\"free\",\"anything\":1}", NULL, NULL},
    {"now", "{\"cmd\":\"now\",\"s\":1}", "now: unknown field \"s\"", "now: unknown field \"s\""},
};

START_TEST(test_check_refuses_with_the_exact_text)
{
    json_t *req = json_loads(CHECKS[_i].req, 0, NULL);
    ck_assert_ptr_nonnull(req);
    const row *r = sim_ctlcmd_find(&NAMED, CHECKS[_i].cmd);
    ck_assert_ptr_nonnull(r);
    const sim_ctlcmd_table *tables[2] = {&NAMED, &PLAIN};
    const char *want[2] = {CHECKS[_i].named, CHECKS[_i].plain};
    for (int k = 0; k < 2; k++) {
        json_t *e = NULL;
        sim_ctlcmd_result rc = sim_ctlcmd_check(tables[k], &r->def, req, &e);
        if (!want[k]) {
            ck_assert_int_eq(rc, SIM_CTLCMD_OK);
            continue;
        }
        ck_assert_int_eq(rc, SIM_CTLCMD_REFUSED);
        char *t = error_of(e);
        ck_assert_str_eq(t, want[k]);
        free(t);
    }
    json_decref(req);
}
END_TEST

START_TEST(test_help_lists_every_row_in_order)
{
    json_t *h = sim_ctlcmd_help(&NAMED);
    char *s = json_dumps(h, JSON_COMPACT);
    ck_assert_str_eq(s, "{\"now\":\"the time\",\"move\":\"move s seconds\",\"name\":\"a name\","
                        "\"free\":\"checks its own fields\"}");
    free(s);
    json_decref(h);
}
END_TEST

START_TEST(test_print_names_the_fields)
{
    char buf[1024] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ck_assert_ptr_nonnull(f);
    sim_ctlcmd_print(&PLAIN, f);
    fclose(f);
    ck_assert_str_eq(buf, "  now                            the time\n"
                          "  move{s,n,on,what}              move s seconds\n"
                          "  name{text}                     a name\n"
                          "  free                           checks its own fields\n");
}
END_TEST

/* The exec callback of the line test: answers with the request's cmd, or
 * refuses a non-object. */
static json_t *echo_cmd(void *ctx, json_t *req)
{
    ++*(int *)ctx;
    if (!json_is_object(req))
        return json_pack("{s:b, s:s}", "ok", 0, "error", "expected a JSON object");
    return json_pack("{s:b, s:O}", "ok", 1, "cmd", json_object_get(req, "cmd"));
}

static json_t *no_reply(void *ctx, json_t *req)
{
    (void)ctx, (void)req;
    return NULL;
}

START_TEST(test_exec_line_one_reply_per_line)
{
    static const struct {
        const char *line, *reply;
        int calls;
    } LINES[] = {
        {"{\"cmd\":\"now\"}", "{\"ok\":true,\"cmd\":\"now\"}", 1},
        {"{\"cmd\":\"now\",\"id\":[7]}", "{\"ok\":true,\"cmd\":\"now\",\"id\":[7]}", 1},
        {"[1,{\"id\":2}]", "{\"ok\":false,\"error\":\"expected a JSON object\"}", 1},
        {"{not json", "{\"ok\":false,\"error\":\"bad JSON: string or '}' expected near 'not' (column 4)\"}", 0},
        {"{\"cmd\":1,\"cmd\":2}",
         "{\"ok\":false,\"error\":\"bad JSON: duplicate object key near '\\\"cmd\\\"' (column 14)\"}", 0},
    };
    for (size_t i = 0; i < sizeof LINES / sizeof LINES[0]; i++) {
        int calls = 0;
        char *rep = sim_ctlcmd_exec_line(LINES[i].line, echo_cmd, &calls);
        ck_assert_ptr_nonnull(rep);
        ck_assert_str_eq(rep, LINES[i].reply);
        ck_assert_int_eq(calls, LINES[i].calls);
        free(rep);
    }
    char *rep = sim_ctlcmd_exec_line("{\"id\":1}", no_reply, NULL);
    ck_assert_str_eq(rep, "{\"ok\":false,\"error\":\"the reply could not be encoded (out of memory?)\"}");
    free(rep);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ctlcmd");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_find_returns_the_programs_row);
    tcase_add_test(tc, test_lookup_refuses_a_non_string_and_an_unknown_name);
    tcase_add_test(tc, test_unknown_cuts_a_long_name_and_keeps_the_list);
    tcase_add_loop_test(tc, test_check_refuses_with_the_exact_text, 0, (int)(sizeof CHECKS / sizeof CHECKS[0]));
    tcase_add_test(tc, test_help_lists_every_row_in_order);
    tcase_add_test(tc, test_print_names_the_fields);
    tcase_add_test(tc, test_exec_line_one_reply_per_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
