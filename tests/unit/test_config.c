/* sim_config: fleets without a fixed limit, --count expansion, the socket
 * transports' options, and the sorted uniqueness check
 * (simulator/app/sim_config.h). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check_run.h"
#include "config_cases.h"
#include "sim_config.h"
#include "sim_profiles.h"


static int load_json(sim_config *c, const char *json, char *err, size_t errlen)
{
    sim_config_free(c);
    if (sim_config_load_buffer(c, json, strlen(json), "t.json", err, errlen))
        return -1;
    return sim_config_validate(c, err, errlen);
}

START_TEST(test_tcp_forms)
{
    sim_config c = {0};
    char err[600];
    struct {
        const char *arg, *norm;
    } ok[] = {
        {"5000", "127.0.0.1:5000"},
        {"0.0.0.0:1", "0.0.0.0:1"},
        {"127.0.0.2:65535", "127.0.0.2:65535"},
        {"[::1]:7000", "[::1]:7000"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        const char *args[] = {"--tcp", ok[i].arg, NULL};
        ck_assert_msg(config_parse(&c, err, sizeof err, args) == 0, "%s: %s", ok[i].arg, err);
        ck_assert_str_eq(c.meters[0].tcp, ok[i].norm);
        ck_assert_str_eq(c.meters[0].pty, "");
    }
    const char *bad[] = {"0", "70000", "65536", "-1", "0x50", "1.2.3:80", "::1:80", "localhost:80",
                         "[::1]80", "[zz]:80", "127.0.0.1:", ":80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[] = {"--tcp", bad[i], NULL};
        err[0] = 0;
        ck_assert_msg(config_parse(&c, err, sizeof err, args) != 0, "--tcp %s accepted", bad[i]);
        ck_assert_msg(strstr(err, "--tcp") && strstr(err, "[ADDR:]PORT"), "%s: %s", bad[i], err);
    }
    sim_config_free(&c);
}
END_TEST

START_TEST(test_one_transport)
{
    sim_config c = {0};
    char err[600];
    const char *two[] = {"--tcp", "5000", "--unix", "/tmp/x.sock", NULL};
    ck_assert(config_parse(&c, err, sizeof err, two) != 0);
    ck_assert_msg(strstr(err, "only one of --pty, --uart, --tcp and --unix"), "%s", err);
    const char *none[] = {"--seed", "3", NULL};
    ck_assert(config_parse(&c, err, sizeof err, none) != 0);
    ck_assert_msg(strstr(err, "no transport"), "%s", err);
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = 0;
    const char *toolong[] = {"--unix", longp, NULL};
    ck_assert(config_parse(&c, err, sizeof err, toolong) != 0);
    ck_assert_msg(strstr(err, "too long for a Unix socket"), "%s", err);
    sim_config_free(&c);
}
END_TEST

START_TEST(test_count_expands)
{
    sim_config c = {0};
    char err[600];
    const char *unix_args[] = {"--meter", "m", "--unix", "/tmp/fleet%d.sock", "--count", "3", "--seed", "9",
                               "--policy", "reply_delay_ms=5", NULL};
    ck_assert_msg(config_parse(&c, err, sizeof err, unix_args) == 0, "%s", err);
    ck_assert_uint_eq(c.n_meters, 3);
    for (unsigned i = 0; i < 3; i++) {
        char name[16], path[64];
        snprintf(name, sizeof name, "m-%u", i);
        snprintf(path, sizeof path, "/tmp/fleet%u.sock", i);
        ck_assert_str_eq(c.meters[i].name, name);
        ck_assert_str_eq(c.meters[i].unix_path, path);
        ck_assert(c.meters[i].has_seed && c.meters[i].seed == 9); /* keys and seed as given */
        ck_assert_uint_eq(c.meters[i].n_policies, 1);
        ck_assert_str_eq(c.meters[i].policies[0].value, "5");
        ck_assert_uint_eq(c.meters[i].count, 0);
    }
    /* a TCP base port, and a plain meter before and after keeps its place */
    const char *tcp_args[] = {"--meter", "a", "--pty", "/tmp/a.pty", "--meter", "f", "--tcp", "6000", "--count",
                              "4", "--meter", "z", "--pty", "/tmp/z.pty", NULL};
    ck_assert_msg(config_parse(&c, err, sizeof err, tcp_args) == 0, "%s", err);
    ck_assert_uint_eq(c.n_meters, 6);
    ck_assert_str_eq(c.meters[0].name, "a");
    ck_assert_str_eq(c.meters[1].tcp, "127.0.0.1:6000");
    ck_assert_str_eq(c.meters[4].name, "f-3");
    ck_assert_str_eq(c.meters[4].tcp, "127.0.0.1:6003");
    ck_assert_str_eq(c.meters[5].name, "z");
    /* --count 1 is a fleet of one: its %d is 0 */
    const char *one[] = {"--pty", "/tmp/one%d", "--count", "1", NULL};
    ck_assert_msg(config_parse(&c, err, sizeof err, one) == 0, "%s", err);
    ck_assert_uint_eq(c.n_meters, 1);
    ck_assert_str_eq(c.meters[0].pty, "/tmp/one0");
    ck_assert_str_eq(c.meters[0].name, "meter0-0");
    /* literal %% stays a percent sign */
    const char *pct[] = {"--pty", "/tmp/100%%-%d", "--count", "2", NULL};
    ck_assert_msg(config_parse(&c, err, sizeof err, pct) == 0, "%s", err);
    ck_assert_str_eq(c.meters[1].pty, "/tmp/100%-1");
    sim_config_free(&c);
}
END_TEST

START_TEST(test_count_refusals)
{
    sim_config c = {0};
    static const config_refusal bad[] = {
        {{"--unix", "/tmp/same.sock", "--count", "2", NULL}, "must contain %d once"},
        {{"--pty", "/tmp/a%d-%d", "--count", "2", NULL}, "must contain %d once"},
        {{"--pty", "/tmp/a%s%d", "--count", "2", NULL}, "no other % conversion"},
        {{"--uart", "/dev/ttyS0", "--count", "2", NULL}, "a serial device is one meter"},
        {{"--tcp", "65000", "--count", "600", NULL}, "runs past port 65535"},
        {{"--tcp", "5000", "--count", "0", NULL}, "expected a number of meters 1..100000"},
        {{"--tcp", "5000", "--count", "100001", NULL}, "expected a number of meters"},
        {{"--tcp", "5000", "--count", "2", "--state", "/tmp/s.json", NULL}, "--state /tmp/s.json must contain %d"},
    };
    config_expect_refusals(&c, bad, sizeof bad / sizeof bad[0]);
    sim_config_free(&c);
}
END_TEST

START_TEST(test_unique_claims)
{
    sim_config c = {0};
    char err[600];
    static const config_refusal bad[] = {
        {{"--meter", "a", "--tcp", "5000", "--meter", "b", "--tcp", "127.0.0.1:5000", NULL},
         "meters a and b listen on the same TCP port 127.0.0.1:5000"},
        {{"--meter", "a", "--tcp", "5000", "--count", "3", "--meter", "b", "--tcp", "5002", NULL},
         "listen on the same TCP port 127.0.0.1:5002"},
        {{"--meter", "a", "--pty", "/tmp/p", "--meter", "a", "--pty", "/tmp/q", NULL}, "meter name a used twice"},
        {{"--meter", "a", "--pty", "/tmp/p", "--meter", "b", "--unix", "/tmp/p", NULL},
         "meters a and b use the same device /tmp/p"},
        {{"--pty", "/tmp/p", "--optical-pty", "/tmp/p", NULL}, "is both its MEP and its optical port"},
        {{"--meter", "a", "--pty", "/tmp/p", "--state", "/tmp/s", "--meter", "b", "--pty", "/tmp/q", "--state",
          "/tmp/s", NULL},
         "use the same state file /tmp/s"},
    };
    config_expect_refusals(&c, bad, sizeof bad / sizeof bad[0]);
    /* the same port number on two addresses is two sockets */
    const char *two_addr[] = {"--meter", "a", "--tcp", "127.0.0.1:5000", "--meter", "b", "--tcp", "127.0.0.2:5000",
                              NULL};
    ck_assert_msg(config_parse(&c, err, sizeof err, two_addr) == 0, "%s", err);
    sim_config_free(&c);
}
END_TEST

/* No fixed cap: 10,000 meters from one section, and from 5,000 sections
 * in a JSON file; every name and port distinct. */
START_TEST(test_ten_thousand)
{
    sim_config c = {0};
    char err[600];
    /* each meter holds a file descriptor: the fleet must fit the hard
     * open-file limit, which root may raise (Check forks each test; under
     * valgrind the limit cannot be changed, and a smaller one is checked
     * for its message instead) */
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 20000) {
        struct rlimit more = {.rlim_cur = 20000, .rlim_max = 20000};
        if (setrlimit(RLIMIT_NOFILE, &more) == 0)
            rl = more;
    }
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 10000 + 64) {
        const char *big[] = {"--unix", "/tmp/t10k-%d.sock", "--count", "10000", NULL};
        ck_assert(config_parse(&c, err, sizeof err, big) != 0);
        ck_assert_msg(strstr(err, "10000 meters need at least 10000 file descriptors"), "%s", err);
        sim_config_free(&c);
        return;
    }
    const char *args[] = {"--unix", "/tmp/t10k-%d.sock", "--count", "10000", NULL};
    ck_assert_msg(config_parse(&c, err, sizeof err, args) == 0, "%s", err);
    ck_assert_uint_eq(c.n_meters, 10000);
    ck_assert_str_eq(c.meters[9999].unix_path, "/tmp/t10k-9999.sock");
    ck_assert_str_eq(c.meters[9999].name, "meter0-9999");

    size_t cap = 5000 * 64 + 64;
    char *json = malloc(cap);
    ck_assert_ptr_nonnull(json);
    size_t o = (size_t)snprintf(json, cap, "{\"meters\":[");
    for (int i = 0; i < 5000; i++)
        o += (size_t)snprintf(json + o, cap - o, "%s{\"name\":\"j%d\",\"tcp\":%d}", i ? "," : "", i, 10000 + i);
    snprintf(json + o, cap - o, "]}");
    ck_assert_msg(load_json(&c, json, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(c.n_meters, 5000);
    ck_assert_str_eq(c.meters[4999].tcp, "127.0.0.1:14999");
    free(json);
    sim_config_free(&c);
}
END_TEST

START_TEST(test_json_fleet)
{
    sim_config c = {0};
    char err[600];
    ck_assert_msg(load_json(&c, "{\"meters\":[{\"name\":\"f\",\"tcp\":\"[::1]:6000\",\"count\":2},"
                                "{\"name\":\"u\",\"unix\":\"/tmp/u%d\",\"count\":2}]}",
                            err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(c.n_meters, 4);
    ck_assert_str_eq(c.meters[1].name, "f-1");
    ck_assert_str_eq(c.meters[1].tcp, "[::1]:6001");
    ck_assert_str_eq(c.meters[3].unix_path, "/tmp/u1");
    ck_assert(load_json(&c, "{\"meters\":[{\"tcp\":true}]}", err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "meters[0].tcp: expected \"[ADDR:]PORT\" or a port number"), "%s", err);
    ck_assert(load_json(&c, "{\"meters\":[{\"tcp\":99999}]}", err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "meters[0].tcp \"99999\""), "%s", err);
    ck_assert(load_json(&c, "{\"meters\":[{\"unix\":\"/tmp/a\",\"count\":\"x\"}]}", err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "meters[0].count"), "%s", err);
    sim_config_free(&c);
}
END_TEST

/* The only bound on a fleet: the hard open-file limit, checked before a
 * section is made for each meter (30 sections of --count 100000 in a
 * 1.3 KB file once took seconds and a gigabyte to refuse). */
START_TEST(test_fleet_must_fit_the_fd_limit)
{
    sim_config c = {0};
    char err[600];
    /* a limit of 1000 for this forked test; where it cannot be changed
     * (valgrind), the limit there is */
    struct rlimit before, rl = {.rlim_cur = 1000, .rlim_max = 1000};
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &before), 0);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        rl = before;
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 1000000) {
        /* no bound to find here: the refusal itself is covered where it can be set */
        ck_assert(rl.rlim_max > 1000000);
        return;
    }
    unsigned long room = (unsigned long)rl.rlim_max - 64;
    char n_ok[24], n_big[24], want[96];
    snprintf(n_ok, sizeof n_ok, "%lu", room < 2000 ? room : 2000);
    snprintf(n_big, sizeof n_big, "%lu", room + 1);
    const char *ok[] = {"--tcp", "5000", "--count", n_ok, NULL};
    ck_assert_msg(config_parse(&c, err, sizeof err, ok) == 0, "%s", err);
    const char *big[] = {"--unix", "/tmp/f%d", "--count", n_big, NULL};
    ck_assert(config_parse(&c, err, sizeof err, big) != 0);
    snprintf(want, sizeof want, "%s meters need at least %s file descriptors", n_big, n_big);
    ck_assert_msg(strstr(err, want) && strstr(err, "hard open-file limit"), "%s", err);
    ck_assert_uint_eq(c.n_meters, 1); /* refused before the sections were made */
    char json[2400];
    size_t o = (size_t)snprintf(json, sizeof json, "{\"meters\":[");
    for (int i = 0; i < 30; i++)
        o += (size_t)snprintf(json + o, sizeof json - o, "%s{\"name\":\"s%d\",\"unix\":\"/tmp/s%d-%%d\",\"count\":100000}",
                              i ? "," : "", i, i);
    snprintf(json + o, sizeof json - o, "]}");
    ck_assert(load_json(&c, json, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "3000000 meters need"), "%s", err);
    sim_config_free(&c);
    setrlimit(RLIMIT_NOFILE, &before); /* with CK_FORK=no the next test runs in this process (root may) */
}
END_TEST

/* One parsed profile for every meter that names it. */
START_TEST(test_profiles_shared)
{
    char err[600];
    sim_profiles *ps = sim_profiles_new();
    ck_assert_ptr_nonnull(ps);
    const sim_profile *a = sim_profiles_get(ps, "", err, sizeof err);
    const sim_profile *b = sim_profiles_get(ps, NULL, err, sizeof err);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(a, b);
    const char *path = FIXTURES_DIR "/meters/guide-example.json";
    const sim_profile *g = sim_profiles_get(ps, path, err, sizeof err);
    ck_assert_msg(g != NULL, "%s", err);
    ck_assert_ptr_ne(g, a);
    ck_assert_ptr_eq(sim_profiles_get(ps, path, err, sizeof err), g);
    ck_assert(sim_profiles_get(ps, "/nonexistent/p.json", err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "/nonexistent/p.json"), "%s", err);
    ck_assert_uint_eq(sim_profiles_count(ps), 2);
    sim_profiles_free(ps);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tcp_forms);
    tcase_add_test(tc, test_one_transport);
    tcase_add_test(tc, test_count_expands);
    tcase_add_test(tc, test_count_refusals);
    tcase_add_test(tc, test_unique_claims);
    tcase_add_test(tc, test_ten_thousand);
    tcase_add_test(tc, test_fleet_must_fit_the_fd_limit);
    tcase_add_test(tc, test_json_fleet);
    tcase_add_test(tc, test_profiles_shared);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
