/* mep_dash: the documents the module publishes, built from one mepc_readings.
 *
 * Owns: the Home Assistant contract of docs/module-behaviour.md 8.1 (GET
 * /getDashDataWS: the 34 members, names, units, JSON integers, a non-empty
 * Utility_SN, CurrentDateTime ticking every second; 503 with a text/plain
 * body that no JSON parser accepts while there is nothing trustworthy to
 * serve: not ready, first energy value unconfirmed, or stale readings;
 * firmware/README.md "Served states"), the same extra members
 * as the host port (firmware/host/host_dash.c), the /status document, the
 * 8.2 MQTT payloads and the diagnostics topic's. Pure: readings and time in,
 * text out. A readings field emitted by several of these documents is
 * described once, in one table (mep_dash.cpp).
 */
#ifndef MEP_DASH_H
#define MEP_DASH_H

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "src/firmware/core/mepc.h"
}

/* The clock the date members show: the meter's (BT52, extrapolated with the
 * module's monotonic time) once read, else the module's own clock. */
typedef struct {
    int64_t unix_s;
    bool from_meter;
} MepClock;

MepClock mep_dash_clock(const mepc_readings *r, uint32_t now_ms, int64_t own_unix_s);
/* "2024-03-28T17:23:27.000Z" and "2024-03-28 (Thursday) @ 17:23:27". */
void mep_dash_format_time(int64_t unix_s, char iso[32], char human[48]);

/* Readings older than this many poll periods (plus the slack) are stale,
 * as on the host port (firmware/host/host_dash.h). */
#define MEP_DASH_STALE_POLLS 3u
#define MEP_DASH_STALE_SLACK_MS 2000u

/* NULL if /getDashDataWS can serve readings at now_ms, else why not (the
 * same reasons and words as firmware/host/host_dash.c). r may be NULL (no
 * key configured, the client is not running). */
const char *mep_dash_not_ready(const mepc_readings *r, uint32_t now_ms);
/* Content-Type of a /getDashDataWS answer with this status. */
const char *mep_dash_content_type(int http_status);

/* Port-side counters merged into "Counters". */
typedef struct {
    uint32_t rx_bytes, tx_bytes, http_requests, mqtt_published;
} MepPortCounters;

/* The /getDashDataWS body into buf; returns the HTTP status: 200 with the
 * contract document, or 503 with "not ready: <reason>", "Status: ",
 * "Status_Text: " and "CurrentDateTime: " lines (text/plain: a consumer
 * that ignores status codes must not store it as data, module-behaviour 8.4). */
int mep_dash_json(const mepc_readings *r, const MepClock *clk, uint32_t now_ms, const MepPortCounters *pc,
                  char *buf, size_t cap);
/* The /status body. */
void mep_dash_status_json(const mepc_readings *r, const MepPortCounters *pc, bool xcvr_on, bool enable_on,
                          uint32_t now_ms, char *buf, size_t cap);

/* MQTT (8.2): the five state topics after "<prefix>/". */
#define MEP_MQTT_TOPICS 5
const char *mep_dash_mqtt_topic(int i);
/* Compact JSON for topic i; false if not ready or stale at now_ms (never zeros as readings). */
bool mep_dash_mqtt_payload(const mepc_readings *r, uint32_t now_ms, int i, char *buf, size_t cap);

/* The diagnostics topic's payload (mepc_discovery.h, MEPC_DISC_T_DIAG):
 * status, the sanitiser's held state, the raw registers (null before the
 * first BT23 reply) and counters; also while readings are not served (that
 * is when they matter). false if it does not fit. */
bool mep_dash_diag_payload(const mepc_readings *r, char *buf, size_t cap);

#endif
