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
    COSIM_FIRMWARE_SKETCH,         /* an Arduino sketch built with the host kit for virtual time
                                      (hil/arduino-host/build --virtual-time), a child process */
} cosim_firmware;

typedef struct {
    cosim_firmware firmware;
    const char *firmware_path;     /* COSIM_FIRMWARE_SKETCH: the program `build` wrote */
    const char *state_dir;         /* sketch flash (Preferences, SPIFFS); NULL: a fresh temporary one */
    const char *mbk_text;          /* --mbk as given (a sketch gets the key as text), NULL: from mbk */
    uint32_t http_poll_ms;         /* sketch: GET /getDashDataWS every this many virtual ms (0: poll_ms) */
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
    bool capture_pcapng;           /* write wire.pcapng into out_dir (capture/README.md) */
    bool no_published;             /* do not write published.jsonl (long soaks) */
    bool start_at_once;            /* start the timeline at t=0, not at the first published reading */
    bool control_stdio;            /* --control-stdio: JSON-lines requests on stdin (cosim_ctl.h) */
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

/* ---- driving a run from outside (test rigs, the control channel) ---------- */

/* Virtual µs since the start of the run. */
uint64_t cosim_now_us(const cosim *s);

/* GET path from the firmware at the current virtual time, as a client on the
 * module's network would (docs/module-behaviour.md 8.1). The core answers as
 * mepmod does (firmware/host/host_dash.c: /getDashDataWS 200 JSON or 503
 * text/plain, /status, else 404); a sketch gets a virtual request on its
 * WebServer, and virtual time runs (events included) until it answers, at
 * most COSIM_HTTP_TIMEOUT_US. body gets up to cap-1 bytes and a NUL (*len
 * the full length, may exceed cap-1: truncated), ctype the Content-Type.
 * Returns the HTTP status, or -1 when the firmware did not answer in time
 * (a sketch busy, rebooting or ended). */
#define COSIM_HTTP_TIMEOUT_US 10000000ull
int cosim_http_get(cosim *s, const char *path, char *body, size_t cap, size_t *len, char *ctype, size_t ctcap);

/* An MQTT message the firmware published (a sketch's PubSubClient reaches a
 * virtual broker inside the co-simulation, connected at once). */
typedef struct {
    uint64_t t_us;                 /* virtual µs since the start */
    char topic[128];
    char payload[1024];            /* NUL-terminated, truncated to 1023 bytes */
    size_t payload_len;            /* the full length */
    bool retained;
} cosim_mqtt_msg;

/* Move up to max messages published since the last call into out (oldest
 * first); returns how many. Messages not taken are kept up to
 * COSIM_MQTT_KEEP (the oldest are dropped beyond it). The core publishes no
 * MQTT here: always 0. */
#define COSIM_MQTT_KEEP 4096u
size_t cosim_mqtt_take(cosim *s, cosim_mqtt_msg *out, size_t max);

#endif
