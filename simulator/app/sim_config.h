/* sim_config: mepsim's command line and --config JSON files, turned into
 * per-meter settings.
 *
 * Owns: parsing and validating every option (a bad flag or value gives a
 * message naming it; the caller exits 2), the per-meter sections started by
 * --meter NAME, the strict JSON config format (unknown key, bad type or bad
 * value -> "<file>: <json path>: <problem>"), the policy names accepted by
 * --policy NAME=VALUE, and building a sim_meter_cfg from a section (profile
 * load, key and policy overrides). No I/O beyond reading the files named.
 */
#ifndef SIM_CONFIG_H
#define SIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_meter.h"
#include "sim_modem.h"
#include "sim_profile.h"
#include "sim_profiles.h"
#include "sim_scenario.h"

#define SIM_CONFIG_MAX_POLICIES 16
#define SIM_CONFIG_PATH 4096       /* longest path accepted (PATH_MAX) */
#define SIM_CONFIG_MAX_COUNT 100000 /* --count: meters one section may stand for */

typedef struct {
    char name[64];
    char value[64];
} sim_config_policy;

/* One meter section. has_* flags say what was given explicitly. Path
 * strings are never NULL: "" when not given, else an owned copy (a meter
 * costs a few hundred bytes of configuration, not kilobytes, so a fleet of
 * 10,000 fits in memory; sim_config_free releases them). */
typedef struct {
    char name[64];
    const char *pty;
    const char *uart;
    const char *tcp;               /* "ADDR:PORT" (normalised: numeric address, [v6]), or */
    const char *unix_path;         /* a Unix stream socket path (--unix) */
    const char *optical_pty;       /* separate optical port (docs/optical.md; Gen 4), or */
    const char *optical_uart;      /* ...on a serial device; neither: shared on Gen 2/3 */
    uint32_t baud;                 /* 0 = the meter's (9600) */
    char format[8];                /* "8N1" */
    const char *profile;           /* "" = built-in default profile */
    const char *scenario;          /* fixtures/scenarios file; sets profile, keys, seed ... */
    const char *state;             /* --state FILE (store/sim_state.h); "" = keep nothing */
    uint32_t count;                /* --count N before expansion (0: not given) */
    bool has_mbk, has_mak;
    uint8_t mbk[16], mak[16];
    bool has_seq_start;
    uint32_t seq_start;
    bool has_seed;
    uint64_t seed;
    double speed;                  /* 0 = 1.0 */
    bool has_start_time;
    int64_t start_utc_ms;
    sim_config_policy *policies;   /* owned, up to SIM_CONFIG_MAX_POLICIES (NULL: none) */
    size_t n_policies;
    /* HIL modem lines (--sense-transceiver/--sense-enable/--reset-line/
     * --power-line/--modem-poll-ms/--modem-debounce; UART only) */
    sim_modem_cfg modem;
    bool has_modem;                /* any of those options was given */
} sim_config_meter;

/* The whole configuration. The meters array grows as sections are parsed
 * (no fixed limit); --count sections are expanded into one entry per meter
 * when parsing ends. Free with sim_config_free. */
typedef struct {
    sim_config_meter *meters;
    size_t n_meters, cap_meters;
    char control[SIM_CONFIG_PATH]; /* control socket path, empty = none */
    char capture[SIM_CONFIG_PATH]; /* --capture pcapng file for every line, empty = none */
    char state_dir[SIM_CONFIG_PATH]; /* --state-dir: DIR/<meter name>.json for meters without --state */
    int verbose;                   /* -v count */
    bool display;
    double exit_after_s;           /* 0 = run until signalled */
    bool help, version;
} sim_config;

/* A section as the defaults make it (name "meterN", format 8N1, no paths);
 * for tests that build a section by hand. Free with sim_config_meter_clear. */
void sim_config_meter_init(sim_config_meter *m, size_t index);
/* Set one of a section's path strings (m->pty, m->profile ...) to a copy of
 * value. -1 only when out of memory. */
int sim_config_meter_set(const char **field, const char *value);
void sim_config_meter_clear(sim_config_meter *m);
/* Release everything a parse allocated; c is zeroed (parsing again is fine). */
void sim_config_free(sim_config *c);

/* Parse argv into c (c's previous contents are ignored: zero it first or
 * sim_config_free it). Returns 0, or -1 with a message naming the bad
 * flag/value; sim_config_free releases c either way. --config files are
 * loaded while parsing (their meters are appended). */
int sim_config_parse_args(sim_config *c, int argc, char **argv, char *err, size_t errlen);
/* Load a JSON config file into c (appending meters; c zeroed or parsed). */
int sim_config_load_file(sim_config *c, const char *path, char *err, size_t errlen);
/* The same from a JSON text (name stands for the file in messages and as
 * the base of relative paths): fuzzing and tests. */
int sim_config_load_buffer(sim_config *c, const char *text, size_t len, const char *name, char *err,
                           size_t errlen);
/* Check the result is runnable: at least one meter, each with one transport,
 * unique names, paths and TCP ports (sorted, so 10,000 meters check fast). */
int sim_config_validate(const sim_config *c, char *err, size_t errlen);

/* The control socket path is not the live socket of another process:
 * connect() to it; an answer means a running mepsim owns it. -1 with a
 * message naming the socket (the caller exits 1 before creating anything).
 * A stale socket file (nobody listening) is fine: sim_control replaces it. */
int sim_config_check_control(const sim_config *c, char *err, size_t errlen);
/* That, and no meter's --unix path is another process's live socket or a
 * file that is not a socket (io/sim_sock.h): the caller exits 1 before any
 * meter starts, as for a live control socket. */
int sim_config_check_live(const sim_config *c, char *err, size_t errlen);

/* Set one policy field by name ("seq_reply", "auth_reply", ...). */
int sim_config_policy_set(sim_policy *p, const char *name, const char *value, char *err,
                          size_t errlen);
/* The accepted policy names and values, one per line, for --help. */
const char *sim_config_policy_help(void);

/* Load the section's profile (or the built-in default) into *prof and fill
 * *out (pointing at prof and the section's name). The caller frees prof with
 * sim_profile_free. With a scenario (s->scenario), the scenario is loaded
 * into *scen (caller frees with sim_scenario_free; scen may be NULL only when
 * the section has none): it supplies the profile, keys, seed, speed, E,
 * start time, policies and BT21/ET11 patches, and options given explicitly
 * on the command line or in the config file win over it. Every step kind
 * runs (line/protocol faults and glitches in the port's fault set). */
int sim_config_meter_cfg(const sim_config_meter *s, sim_profile *prof, sim_meter_cfg *out,
                         sim_scenario **scen, char *err, size_t errlen);
/* The same for a section without a scenario, its profile taken from the
 * shared store (parsed once for every meter that names it; nothing to free
 * but the store, after the meter). */
int sim_config_meter_cfg_shared(const sim_config_meter *s, sim_profiles *shared, sim_meter_cfg *out, char *err,
                                size_t errlen);

/* Parse "YYYY-MM-DDTHH:MM:SSZ" (UTC) into Unix ms. */
int sim_config_parse_time(const char *text, int64_t *utc_ms);
/* Format Unix ms as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void sim_config_format_time(int64_t utc_ms, char *buf, size_t len);

const char *sim_config_usage(void);

#endif
