/* host_dash: the JSON documents mepmod serves, built from one mepc_readings.
 *
 * Owns: the Home Assistant contract of docs/module-behaviour.md 8.1 (GET
 * /getDashDataWS: 34 members, names, units, JSON integers, non-empty
 * Utility_SN, CurrentDateTime ticking every second), our extra diagnostic
 * members, the /status document, the 8.2 MQTT payloads and the diagnostics
 * topic's. Pure: readings and the time in, text out (jansson does the
 * escaping). A readings field emitted by several of these documents is
 * described once, in one table (host_dash.c). A cache keyed by
 * (readings generation, clock second) makes a request cost a memcpy, since HA
 * and the dashboard page poll it often (8.1: "must be cheap").
 */
#ifndef HOST_DASH_H
#define HOST_DASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mepc.h"
#include "osgp_version.h"

/* Firmware identity members (ESP_SW, ESP_SW_By, ESP_SW_Version). */
#define HOST_SW_NAME "mepmod"
#define HOST_SW_BY "osgp-mep-emulator project"
#define HOST_SW_VERSION OSGP_VERSION

/* The clock the date members show: the meter's (BT52, extrapolated with the
 * module's monotonic time) once read, else the host's UTC clock. */
typedef struct {
    int64_t unix_s;
    bool from_meter;
    uint32_t now_ms;      /* the module time it was computed at */
} host_clock;

host_clock host_dash_clock(const mepc_readings *r, uint32_t now_ms, int64_t host_unix_s);
/* "2024-03-28T17:23:27.000Z" and "2024-03-28 (Thursday) @ 17:23:27". */
void host_dash_format_time(int64_t unix_s, char iso[32], char human[48]);

/* Readings older than this many poll periods (plus the slack) are stale:
 * the meter has not answered for ~3 polls (a single lost reply and its
 * resends cost well under one period plus the slack). */
#define HOST_DASH_STALE_POLLS 3u
#define HOST_DASH_STALE_SLACK_MS 2000u

/* Can /getDashDataWS serve readings at now_ms? false = answer 503, reason
 * says why: no identity, no confirmed energy (mepc_sanitise.h rule 2), no
 * present values, or stale readings (firmware/README.md "Served states"). */
bool host_dash_ready(const mepc_readings *r, uint32_t now_ms, const char **reason);

/* The /getDashDataWS body. *http_status = 200 with the contract document,
 * or 503 with a text/plain body that no JSON parser accepts (a consumer that
 * ignores status codes must not store it as data, docs/module-behaviour.md
 * 8.4): "not ready: <reason>" and "Status: <NAME>" lines. extra (may be
 * NULL) is merged into "Counters" (port counters). Caller frees. */
char *host_dash_json(const mepc_readings *r, const host_clock *clk, json_t *extra, int *http_status);
/* Content-Type for a /getDashDataWS answer with this status. */
const char *host_dash_content_type(int http_status);
/* The /status body: status + all mepc_readings counters (+ extra). Caller frees. */
char *host_dash_status_json(const mepc_readings *r, uint32_t now_ms, json_t *extra);

/* MQTT (docs/module-behaviour.md 8.2): the five state topics after the prefix and
 * their members; index i in [0, HOST_MQTT_TOPICS). */
#define HOST_MQTT_TOPICS 5
const char *host_dash_mqtt_topic(int i);
/* Compact JSON for topic i from the readings; NULL if not ready at now_ms. Caller frees. */
char *host_dash_mqtt_payload(const mepc_readings *r, uint32_t now_ms, int i);

/* The diagnostics topic's payload (mepc_discovery.h, MEPC_DISC_T_DIAG):
 * status, the sanitiser's held state, the raw registers (null before the
 * first BT23 reply) and counters; served whether or not the readings are.
 * Caller frees. */
char *host_dash_diag_payload(const mepc_readings *r);

/* One BT28-derived member: name, BT28 index (docs/mep.md 12.8 / docs/module-behaviour.md 7). */
typedef struct {
    const char *name;
    uint8_t index;
} host_bt28_member;
const host_bt28_member *host_dash_bt28_member(const char *name);

/* Cache of the last dashboard body. */
typedef struct {
    bool valid;
    uint32_t generation;
    int64_t second;
    int status;
    char *body;
    size_t len;
    uint32_t builds;        /* how many times it was rebuilt (shown in /status) */
} host_dash_cache;

/* Body for now: rebuilt only if the generation or the clock second changed. */
const char *host_dash_cached(host_dash_cache *c, const mepc_readings *r, const host_clock *clk,
                             json_t *extra, int *http_status, size_t *len);
void host_dash_cache_free(host_dash_cache *c);

#endif
