/* cosim: the emulator's meter, line, fault set and scenario timeline and the
 * firmware core (firmware/core, mepc) in one process on one discrete-event
 * clock (README.md here).
 *
 * Nothing waits and nothing reads the wall clock: the virtual time jumps
 * from one event to the next (cosim_queue). Bytes take 10 bit times per
 * byte in both directions (the meter's paced transmitter in sim_line, the
 * module's UART modelled here), so the timing rules of docs/mep.md 4 act as
 * on a wire. A run is a function of (profile or scenario, seed, firmware
 * configuration): the wire hash and the published values repeat exactly.
 */
#ifndef COSIM_H
#define COSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    COSIM_FIRMWARE_CORE = 0,       /* our firmware/core through its HAL */
} cosim_firmware;

typedef struct {
    cosim_firmware firmware;
    const char *profile_path;      /* NULL and no scenario: the built-in default profile */
    const char *scenario_path;     /* fixtures/scenarios format (sim_scenario) */
    bool has_seed;
    uint64_t seed;                 /* else the scenario's seed, else 1 (never 0: 0 is time-based) */
    uint64_t duration_us;          /* 0: the scenario's end (or last step + 60 s), else 1 h */
    bool has_mbk, has_mak;         /* the module's keys; default: the profile's */
    uint8_t mbk[16], mak[16];
    uint32_t poll_ms;              /* 0: the core's default (2000) */
    const char *out_dir;           /* NULL: no files */
    bool capture_wire;             /* write wire.jsonl into out_dir */
    bool no_published;             /* do not write published.jsonl (long soaks) */
    bool start_at_once;            /* start the timeline at t=0, not at the first published reading */
    int verbose;                   /* 1: decoded frames, line and board events; 2: + core info */
    FILE *log;                     /* stderr when NULL */
} cosim_cfg;

typedef enum {
    COSIM_OK = 0,
    COSIM_ERR_CONFIG,              /* bad profile/scenario/key: message in err */
    COSIM_ERR_IO,                  /* an output file could not be written */
} cosim_result;

typedef struct cosim cosim;

/* Build everything at virtual time 0. NULL with a message in err. */
cosim *cosim_new(const cosim_cfg *cfg, char *err, size_t errlen);
/* Run events up to and including virtual time t_us since the start
 * (capped at the configured duration); false once the end is reached. */
bool cosim_run_until(cosim *s, uint64_t t_us);
/* Run to the end, then write counters.json (and close the other files). */
cosim_result cosim_finish(cosim *s, char *err, size_t errlen);
void cosim_free(cosim *s);

typedef struct {
    double simulated_s;
    char wire_sha256[65];
    uint64_t published, suspect;   /* lines published; of those, energy held as suspect */
    uint64_t events;               /* events processed */
} cosim_summary;

/* Valid after cosim_finish. */
void cosim_get_summary(const cosim *s, cosim_summary *out);

#endif
