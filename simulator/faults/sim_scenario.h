/* sim_scenario: scenario files (fixtures/scenarios/NAME.json) and their timeline.
 *
 * Owns: strict loading of a scenario with jansson — the meter profile it
 * runs on (path relative to the scenario file or to fixtures/meters/),
 * keys, seed, clock speed, policy and dimension overrides, a free-form
 * "expect" block for the tests, and a timeline of steps at simulated times
 * (load changes, line/protocol faults, glitches, alerts, clock set,
 * sequence-number jumps, meter reboots, run-time policies such as the
 * reply delay, end) — and the runner that hands
 * out the steps that are due. Format reference: fixtures/scenarios/README.md.
 *
 * Strict: an unknown key, a bad type, an impossible time, an unknown fault
 * or glitch name or a bad parameter is an error naming the file, the JSON
 * path and the problem ("s16.json: $.timeline[2].params.delta: ..."), or
 * file:line:column for a syntax error; nothing is partially loaded.
 * Fault/glitch parameters are validated by the modules that use them
 * (sim_fault, sim_pfault, sim_glitch), so the file and the control socket
 * accept exactly the same things.
 */
#ifndef SIM_SCENARIO_H
#define SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_fault.h"
#include "sim_glitch.h"
#include "sim_meter.h"
#include "sim_pfault.h"

#define SIM_SCENARIO_MAX_STEPS 1024
#define SIM_SCENARIO_MAX_TIME_S 31536000.0   /* one simulated year */

/* Policy overrides the scenario asks for (sim_policy fields, sim_profile.h),
 * at the start ("policy") or at a step ("policy" step: the run-time ones). */
typedef struct {
    bool has_seq_reply, has_seq_window, has_strict_full_read_count, has_auth_reply, has_past_end_error,
        has_proc_latency_ms, has_reply_delay_ms, has_reply_jitter_ms;
    int seq_reply;                 /* SIM_SEQ_REPLY_NEXT / _LAST */
    uint32_t seq_window;
    bool strict_full_read_count;
    int auth_reply;                /* SIM_AUTH_REPLY_* */
    bool past_end_error;
    uint32_t proc_latency_ms;
    uint32_t reply_delay_ms, reply_jitter_ms; /* turnaround (docs/mep.md 4) */
} sim_scenario_policy;

typedef enum {
    SIM_STEP_LOAD = 0,   /* load: phase, watts, pf -> sim_model_set_load */
    SIM_STEP_FAULT,      /* line fault / transceiver model -> sim_fault_start */
    SIM_STEP_PFAULT,     /* protocol fault -> sim_pfault_start */
    SIM_STEP_STOP,       /* stop faults/glitches by name, or "all" */
    SIM_STEP_GLITCH,     /* -> sim_glitch_start */
    SIM_STEP_ALERT,      /* raise (or clear) ET13 alert flags */
    SIM_STEP_CLOCK,      /* set the simulated UTC clock */
    SIM_STEP_SEQ_JUMP,   /* move the meter's expected sequence number by n (S03) */
    SIM_STEP_REBOOT,     /* meter restart (S31) */
    SIM_STEP_WAIT,       /* marker, nothing to do */
    SIM_STEP_END,        /* scenario over */
    SIM_STEP_OPTICAL,    /* simulated optical probe session (docs/optical.md 6, S35) */
    SIM_STEP_POLICY,     /* run-time policies: turnaround, procedure latency (a slow meter) */
    SIM_STEP_KIND_COUNT
} sim_step_kind;

typedef struct {
    sim_step_kind kind;
    int64_t at_ms;                 /* simulated ms from the scenario start */
    char note[96];                 /* optional "note" for logs */
    union {
        struct {
            int phase;             /* 1..3, 0 = every phase */
            double watts, pf;
        } load;
        sim_fault_spec fault;
        sim_pfault_spec pfault;
        sim_glitch_spec glitch;
        char stop[32];             /* fault/pfault/glitch name or "all" */
        struct {
            uint8_t flags;
            bool clear;
        } alert;
        int64_t clock_utc_ms;
        int64_t seq_jump;
        struct {
            double seconds;        /* probe session length (0.1..3600) */
            bool stop;             /* end a running probe session instead */
            bool echo;             /* meter's optical replies on the wire (default true) */
        } optical;
        sim_scenario_policy policy; /* only the run-time keys are set */
    } u;
} sim_step;


typedef struct {
    char path[512];                /* the scenario file */
    char name[128];                /* file name without directory */
    char profile[512];             /* resolved profile path */
    char *description;             /* owned */
    char *expect_json;             /* owned: the "expect" object, compact JSON */
    bool has_mbk, has_mak;
    uint8_t mbk[16], mak[16];
    uint64_t seed;                 /* default 1 */
    double speed;                  /* default 1.0 */
    bool has_seq_start;
    uint32_t seq_start;
    bool has_start_utc;
    int64_t start_utc_ms;          /* "start": simulated clock at the start */
    sim_scenario_policy policy;
    bool has_bt21;
    uint8_t bt21[10];              /* "patch.bt21": replaces sim_profile.bt21 */
    uint64_t et11_mask;            /* "patch.et11": bit i set = et11[i] replaced */
    uint8_t et11[39];
    sim_step *steps;               /* owned */
    size_t n_steps;
    size_t next;                   /* runner position */
} sim_scenario;

typedef struct {
    const char *meters_dir;        /* fixtures/meters (NULL: <scenario dir>/../meters) */
    bool check_profile;            /* the profile file must exist (default for _load) */
} sim_scenario_opts;

/* Load a scenario file. NULL with "<file>: <path>: <problem>" in err. */
sim_scenario *sim_scenario_load(const char *path, const sim_scenario_opts *opts, char *err, size_t errlen);
/* Parse scenario text; name is used in messages and to resolve the profile
 * (its directory). */
sim_scenario *sim_scenario_parse(const char *text, size_t len, const char *name,
                                 const sim_scenario_opts *opts, char *err, size_t errlen);
void sim_scenario_free(sim_scenario *s);

/* Runner. elapsed_ms = simulated ms since the scenario started. Fills out
 * with the steps now due, in timeline order, each once; returns how many
 * (call again if it returned cap). */
size_t sim_scenario_due(sim_scenario *s, int64_t elapsed_ms, const sim_step **out, size_t cap);
/* Simulated ms of the next step (INT64_MAX when all were handed out). */
int64_t sim_scenario_next_at(const sim_scenario *s);
bool sim_scenario_done(const sim_scenario *s);
void sim_scenario_rewind(sim_scenario *s);

/* "load", "fault", "glitch", ... ("?" if out of range). */
const char *sim_scenario_step_kind_name(sim_step_kind k);
/* A name a "stop" step or "clear" may give: "all", or a line fault,
 * protocol fault or glitch kind name. */
bool sim_scenario_stop_known(const char *n);
/* "t=12.000s fault flip dir=to-module rate=0.001" */
size_t sim_scenario_step_format(const sim_step *st, char *out, size_t cap);

/* The meter's profile and configuration for a scenario (sc may be NULL):
 * loads the profile the scenario names, else profile_path, else the
 * built-in one (NULL or ""), and applies the scenario's patches (bt21,
 * et11) to it; then fills out (cleared first): profile, keys, sequence
 * start, start UTC (0 if nothing gives one), speed (1 if none), seed (the
 * scenario's, else 0) and the profile's policy with the scenario's
 * overrides. The caller then applies its own options (command line,
 * virtual clock) and the name. -1 with a message in err if the profile
 * could not be loaded (nothing to free then). */
int sim_scenario_meter_cfg(const sim_scenario *sc, const char *profile_path, sim_profile *prof,
                           sim_meter_cfg *out, char *err, size_t errlen);
/* The second half of that, for a profile already loaded (a fleet shares
 * one parsed profile: app/sim_profiles): fills out from prof and the
 * scenario's settings (sc may be NULL). */
void sim_scenario_meter_cfg_of(const sim_scenario *sc, const sim_profile *prof, sim_meter_cfg *out);

#endif
