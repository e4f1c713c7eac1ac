/* cosim_cli: option table of mepsim-cosim; see cosim_cli.h. */
#include "cosim_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mepc.h"
#include "osgp_version.h"
#include "cosim_sketch.h"

typedef bool (*opt_fn)(cosim_cfg *cfg, const char *val, char *why, size_t whylen);

typedef struct {
    const char *name;              /* "--seed" */
    const char *arg;               /* "N", or NULL for a flag */
    opt_fn set;
    const char *help;
} cli_opt;

static bool parse_u64(const char *v, uint64_t max, uint64_t *out)
{
    if (!v[0] || v[0] == '-' || v[0] == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || x > max)
        return false;
    *out = x;
    return true;
}

static bool set_firmware(cosim_cfg *c, const char *v, char *why, size_t n)
{
    if (!strcmp(v, "core")) {
        c->firmware = COSIM_FIRMWARE_CORE;
        return true;
    }
    /* an Arduino sketch built with hil/arduino-host/build ... --virtual-time (cosim_sketch.h) */
    if (!cosim_sketch_check_path(v, why, n))
        return false;
    c->firmware = COSIM_FIRMWARE_SKETCH;
    c->firmware_path = v;
    return true;
}
static bool set_profile(cosim_cfg *c, const char *v, char *why, size_t n)
{
    (void)why; (void)n;
    c->profile_path = v;
    return true;
}
static bool set_scenario(cosim_cfg *c, const char *v, char *why, size_t n)
{
    (void)why; (void)n;
    c->scenario_path = v;
    return true;
}
static bool set_seed(cosim_cfg *c, const char *v, char *why, size_t n)
{
    if (!parse_u64(v, UINT64_MAX, &c->seed) || c->seed == 0) {
        snprintf(why, n, "--seed: '%s' is not a positive integer", v);
        return false;
    }
    c->has_seed = true;
    return true;
}
static bool set_duration(cosim_cfg *c, const char *v, char *why, size_t n)
{
    if (!cosim_cli_duration(v, &c->duration_us)) {
        snprintf(why, n, "--duration: '%s' is not a duration (90s, 15m, 24h, 7d; at most 366d)", v);
        return false;
    }
    return true;
}
static bool set_key(uint8_t out[16], bool *has, const char *opt, const char *v, char *why, size_t n);
static bool set_state_dir(cosim_cfg *c, const char *v, char *why, size_t n)
{
    if (!v[0]) {
        snprintf(why, n, "--state-dir: empty directory name");
        return false;
    }
    c->state_dir = v;
    return true;
}
static bool set_key(uint8_t out[16], bool *has, const char *opt, const char *v, char *why, size_t n)
{
    if (!mepc_parse_key(v, out)) {
        snprintf(why, n, "%s: not a key (20 or 16 ASCII characters, or 32/40 hex digits)", opt);
        return false;
    }
    *has = true;
    return true;
}
static bool set_mbk(cosim_cfg *c, const char *v, char *why, size_t n)
{
    c->mbk_text = v;              /* a sketch is given the key as the user typed it */
    return set_key(c->mbk, &c->has_mbk, "--mbk", v, why, n);
}
static bool set_mak(cosim_cfg *c, const char *v, char *why, size_t n)
{
    return set_key(c->mak, &c->has_mak, "--mak", v, why, n);
}
static bool set_poll(cosim_cfg *c, const char *v, char *why, size_t n)
{
    uint64_t x;
    if (!parse_u64(v, 3600000, &x) || x < 200) {
        snprintf(why, n, "--poll-ms: '%s' is not a period in ms (200..3600000)", v);
        return false;
    }
    c->poll_ms = (uint32_t)x;
    return true;
}
static bool set_out(cosim_cfg *c, const char *v, char *why, size_t n)
{
    if (!v[0]) {
        snprintf(why, n, "--out: empty directory name");
        return false;
    }
    c->out_dir = v;
    return true;
}
/* v must be one of two words; true if it is, *second = it is the second. */
static bool two_words(const char *v, const char *first, const char *second_word, bool *second, const char *opt,
                      char *why, size_t n)
{
    if (strcmp(v, first) && strcmp(v, second_word)) {
        snprintf(why, n, "%s: '%s' is not %s or %s", opt, v, first, second_word);
        return false;
    }
    *second = !strcmp(v, second_word);
    return true;
}
static bool set_capture(cosim_cfg *c, const char *v, char *why, size_t n)
{
    /* which wire captures --out gets: wire.jsonl, wire.pcapng, both or none */
    static const struct { const char *word; bool jsonl, pcapng; } kinds[] = {
        {"all", true, true}, {"jsonl", true, false}, {"pcapng", false, true}, {"none", false, false}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(v, kinds[i].word)) {
            c->capture_wire = kinds[i].jsonl;
            c->capture_pcapng = kinds[i].pcapng;
            return true;
        }
    snprintf(why, n, "--capture: '%s' is not all, jsonl, pcapng or none", v);
    return false;
}
static bool set_published(cosim_cfg *c, const char *v, char *why, size_t n)
{
    return two_words(v, "jsonl", "none", &c->no_published, "--published", why, n);
}
static bool set_timeline(cosim_cfg *c, const char *v, char *why, size_t n)
{
    return two_words(v, "first-reading", "now", &c->start_at_once, "--timeline-start", why, n);
}
static bool set_control(cosim_cfg *c, const char *v, char *why, size_t n)
{
    (void)v; (void)why; (void)n;
    c->control_stdio = true;
    return true;
}
static bool set_verbose(cosim_cfg *c, const char *v, char *why, size_t n)
{
    (void)v; (void)why; (void)n;
    c->verbose++;
    return true;
}

static const cli_opt opts[] = {
    {"--firmware", "core|PATH", set_firmware,
     "firmware under test: core (firmware/core), or an Arduino sketch built with "
     "hil/arduino-host/build SKETCH -o PATH --virtual-time"},
    {"--profile", "FILE", set_profile, "meter profile (fixtures/meters); default: the built-in profile"},
    {"--scenario", "FILE", set_scenario, "scenario file (fixtures/scenarios); names its own profile"},
    {"--seed", "N", set_seed, "seed of every generator (default: the scenario's, else 1)"},
    {"--duration", "D", set_duration, "virtual time to run: 90s, 15m, 24h, 7d (default: scenario end, else 1h)"},
    {"--mbk", "KEY", set_mbk, "the module's MBK (default: the profile's)"},
    {"--mak", "KEY", set_mak, "the module uses this MAK (full access) instead of the MBK"},
    {"--poll-ms", "N", set_poll, "the module's poll period in ms (default 2000; a sketch gets it at set-up)"},
    {"--state-dir", "DIR", set_state_dir, "a sketch's flash (Preferences, SPIFFS); default: a fresh temporary one"},
    {"--out", "DIR", set_out, "write published.jsonl, wire.jsonl and counters.json here"},
    {"--capture", "all|jsonl|pcapng|none", set_capture, "wire captures in --out: wire.jsonl and wire.pcapng (default all)"},
    {"--published", "jsonl|none", set_published, "published.jsonl in --out (default jsonl; none for long soaks)"},
    {"--timeline-start", "first-reading|now", set_timeline,
     "scenario timeline starts at the first published reading (default, as tests/hil) or at 0"},
    {"--control-stdio", NULL, set_control, "drive the run step by step: JSON-lines requests on stdin (hil/README.md, cosim_ctl.h)"},
    {"-v", NULL, set_verbose, "decoded frames, line and board events to stderr (-v -v: + core info)"},
};
#define N_OPTS (sizeof opts / sizeof opts[0])

void cosim_cli_usage(FILE *f)
{
    fprintf(f, "usage: mepsim-cosim [options]\n"
               "Runs the emulated meter (line, faults, scenario) and the firmware core, or an Arduino\n"
               "sketch built with hil/arduino-host/build --virtual-time, on one virtual clock and ends\n"
               "with one line: simulated S s in W s wall (X x), wire sha256 H, published N values,\n"
               "suspect K.\n\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        char left[48];
        snprintf(left, sizeof left, "%s%s%s", opts[i].name, opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
        if (strlen(left) > 22)   /* a long option gets its own line */
            fprintf(f, "  %s\n  %-22s %s\n", left, "", opts[i].help);
        else
            fprintf(f, "  %-22s %s\n", left, opts[i].help);
    }
    fprintf(f, "  %-22s %s\n", "-h, --help", "this text");
    fprintf(f, "  %-22s %s\n", "--version", "the version");
}

bool cosim_cli_duration(const char *text, uint64_t *us)
{
    char *end;
    if (!text[0] || !((text[0] >= '0' && text[0] <= '9') || text[0] == '.'))
        return false;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text)
        return false;
    double mult = 1.0;
    if (*end) {
        switch (*end) {
        case 's': mult = 1.0; break;
        case 'm': mult = 60.0; break;
        case 'h': mult = 3600.0; break;
        case 'd': mult = 86400.0; break;
        default: return false;
        }
        if (end[1])
            return false;
    }
    double s = v * mult;
    if (!(s > 0.0) || s > 366.0 * 86400.0)
        return false;
    *us = (uint64_t)(s * 1e6 + 0.5);
    return *us > 0;
}

cosim_cli_result cosim_cli_parse(int argc, char **argv, cosim_cfg *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->capture_wire = true;
    cfg->capture_pcapng = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cosim_cli_usage(stdout);
            return COSIM_CLI_HELP;
        }
        if (!strcmp(a, "--version")) {
            printf("mepsim-cosim %s\n", OSGP_VERSION);
            return COSIM_CLI_HELP;
        }
        if (!strcmp(a, "-vv")) {
            cfg->verbose += 2;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        const cli_opt *o = NULL;
        for (size_t k = 0; k < N_OPTS && !o; k++)
            if (strlen(opts[k].name) == nlen && !strncmp(opts[k].name, a, nlen))
                o = &opts[k];
        if (!o) {
            snprintf(err, errlen, "unknown option %s (see --help)", a);
            return COSIM_CLI_ERROR;
        }
        const char *val = NULL;
        if (o->arg) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                snprintf(err, errlen, "%s needs a value (%s)", o->name, o->arg);
                return COSIM_CLI_ERROR;
            }
        } else if (eq) {
            snprintf(err, errlen, "%s takes no value", o->name);
            return COSIM_CLI_ERROR;
        }
        if (!o->set(cfg, val, err, errlen))
            return COSIM_CLI_ERROR;
    }
    if (cfg->profile_path && cfg->scenario_path) {
        snprintf(err, errlen, "give --profile or --scenario, not both (the scenario names its profile)");
        return COSIM_CLI_ERROR;
    }
    return COSIM_CLI_RUN;
}
