/* Shared by the Check suites that drive mepsim's command line
 * (simulator/app/sim_config.h): parse a NULL-terminated argument list the
 * way main does, and check a table of refusals, each naming its problem. */
#ifndef CONFIG_CASES_H
#define CONFIG_CASES_H

#include <check.h>
#include <string.h>

#include "sim_config.h"

/* Parse args (NULL-terminated, without argv[0]) and validate; c's previous
 * contents are freed first. 0, or -1 with the message in err. */
static inline int config_parse(sim_config *c, char *err, size_t errlen, const char *const *args)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"mepsim";
    for (; *args && argc < 63; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    sim_config_free(c);
    if (sim_config_parse_args(c, argc, argv, err, errlen))
        return -1;
    return sim_config_validate(c, err, errlen);
}

/* A command line that must be refused, and a piece of the message. */
typedef struct {
    const char *args[16];
    const char *msg;
} config_refusal;

/* Every case is refused with a message containing its msg. */
static inline void config_expect_refusals(sim_config *c, const config_refusal *cases, size_t n)
{
    char err[600];
    for (size_t i = 0; i < n; i++) {
        err[0] = 0;
        ck_assert_msg(config_parse(c, err, sizeof err, cases[i].args) != 0, "case %zu accepted", i);
        ck_assert_msg(strstr(err, cases[i].msg) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
    }
}

#endif
