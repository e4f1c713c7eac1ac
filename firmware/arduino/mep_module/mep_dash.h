/* mep_dash: the documents the module publishes, built from one mepc_readings.
 *
 * Owns: the Home Assistant contract of docs/module-behaviour.md 8.1 (GET
 * /getDashDataWS: the 34 members, names, units, JSON integers, a non-empty
 * Utility_SN, CurrentDateTime ticking every second, 503 with an error object
 * until identity and a first BT23+BT28 poll are in), the same extra members
 * as the host port (firmware/host/host_dash.c), the /status document, and
 * the 8.2 MQTT payloads. Pure: readings and time in, text out.
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

/* NULL if /getDashDataWS can serve readings, else why not. r may be NULL
 * (no key configured, the client is not running). */
const char *mep_dash_not_ready(const mepc_readings *r);

/* Port-side counters merged into "Counters". */
typedef struct {
    uint32_t rx_bytes, tx_bytes, http_requests, mqtt_published;
} MepPortCounters;

/* The /getDashDataWS body into buf; returns the HTTP status (200 or 503). */
int mep_dash_json(const mepc_readings *r, const MepClock *clk, uint32_t now_ms, const MepPortCounters *pc,
                  char *buf, size_t cap);
/* The /status body. */
void mep_dash_status_json(const mepc_readings *r, const MepPortCounters *pc, bool xcvr_on, bool enable_on,
                          char *buf, size_t cap);

/* MQTT (8.2): the five state topics after "<prefix>/". */
#define MEP_MQTT_TOPICS 5
const char *mep_dash_mqtt_topic(int i);
/* Compact JSON for topic i; false if not ready (never zeros as readings). */
bool mep_dash_mqtt_payload(const mepc_readings *r, int i, char *buf, size_t cap);

#endif
