/* libFuzzer target: mepsim's command line and JSON config parser
 * (app/sim_config) on arbitrary bytes. First byte even: the rest is a JSON
 * config text (sim_config_load_buffer); odd: newline-separated argv.
 * Either fails with a message or gives a config that validates or is
 * refused with a message; a validated section without profile or scenario
 * file builds its meter configuration. Options naming files to read
 * (--config, --profile, --scenario) are dropped from argv so the fuzzer
 * never opens devices. Never crash, leak or read out of bounds.
 * Nothing carries over between inputs: each input parses into a zeroed
 * sim_config on the stack and sim_config_free releases it, whatever the
 * result (a leak there is reported by the fuzzer's leak check).
 * The process's hard open-file limit is lowered to 4096 once: it bounds a
 * fleet (--count, "count"), so a few bytes cannot ask for millions of
 * meters and make one input take seconds (the bound itself is tested).
 * Corpus: tests/fuzz/corpus/config (fixtures/configs and command lines). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "sim_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64

static void need_message(const char *err, size_t cap)
{
    if (!memchr(err, '\0', cap) || !err[0])
        __builtin_trap();
}

static bool reads_a_file(const char *a)
{
    return !strncmp(a, "--config", 8) || !strncmp(a, "--profile", 9) || !strncmp(a, "--scenario", 10);
}

/* argv from newline-separated text (modified in place). */
static int split_args(char *text, char **argv)
{
    int argc = 0;
    argv[argc++] = "mepsim";
    char *save = NULL;
    for (char *tok = strtok_r(text, "\n", &save); tok && argc < MAX_ARGS; tok = strtok_r(NULL, "\n", &save)) {
        if (reads_a_file(tok)) {
            strtok_r(NULL, "\n", &save); /* and its value */
            continue;
        }
        argv[argc++] = tok;
    }
    argv[argc] = NULL;
    return argc;
}

/* Validate a parsed config and build the first sections' meter configs. */
static void check_parsed(const sim_config *c)
{
    char err[1024] = "";
    if (sim_config_validate(c, err, sizeof err) != 0) {
        need_message(err, sizeof err);
        return;
    }
    for (size_t i = 0; i < c->n_meters && i < 4; i++) {
        const sim_config_meter *m = &c->meters[i];
        if (m->profile[0] || m->scenario[0])
            continue;
        sim_profile prof;
        sim_meter_cfg mc;
        if (sim_config_meter_cfg(m, &prof, &mc, NULL, err, sizeof err) == 0)
            sim_profile_free(&prof);
        else
            need_message(err, sizeof err);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct rlimit rl = {.rlim_cur = 4096, .rlim_max = 4096};
    struct rlimit now;
    if (getrlimit(RLIMIT_NOFILE, &now) == 0 && (now.rlim_max == RLIM_INFINITY || now.rlim_max > 4096))
        setrlimit(RLIMIT_NOFILE, &rl);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    sim_config c;
    memset(&c, 0, sizeof c);
    char err[1024] = "";
    int rc;
    if ((data[0] & 1) == 0) {
        rc = sim_config_load_buffer(&c, (const char *)data + 1, size - 1, "fuzz.json", err, sizeof err);
    } else {
        char *text = malloc(size);
        if (!text)
            abort();
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        char *argv[MAX_ARGS + 1];
        int argc = split_args(text, argv);
        rc = sim_config_parse_args(&c, argc, argv, err, sizeof err);
        free(text);
    }
    if (rc != 0)
        need_message(err, sizeof err);
    else
        check_parsed(&c);
    sim_config_free(&c);
    return 0;
}
