/* sim_report: the JSON documents a control client reads about one meter,
 * built in one place for every front end that serves them: mepsim's control
 * socket (app/sim_control.c) and mepsim-cosim's control channel
 * (cosim/cosim_ctl.c). The shapes are the control protocol's (README.md
 * "Control socket"): the model's truth (`get`), the meter and line counters
 * (`counters`), the fault set's counters (`fault_status`).
 *
 * Below io/: no libev, no wall clock; the caller passes the times.
 */
#ifndef SIM_REPORT_H
#define SIM_REPORT_H

#include <stdarg.h>
#include <stdint.h>

#include <jansson.h>

#include "sim_fault_set.h"
#include "sim_line.h"
#include "sim_meter.h"

/* The members of `get` (sim_time, sim_time_ms, phases, frequency,
 * total_power_w, registers; bt23 and bt28 as a read serves them now through
 * the BT21 layout, docs/mep.md 12.6, 12.8) added to obj. Advances the
 * meter's model to now_ms (its monotonic ms) first. */
void sim_report_truth(json_t *obj, sim_meter *m, uint64_t now_ms);
/* The meter's protocol counters (frames, keys, alerts, ...), responses_total
 * and responses by code ({"0x0C": 3, ...}) added to obj. */
void sim_report_meter_counters(json_t *obj, const sim_meter_counters *mc);
/* The line core's counters as a new object. */
json_t *sim_report_line_counters(const sim_line_counters *lc);
/* `fault_status` added to obj: injected (line and protocol faults), glitched,
 * power and ENABLE cycles, latch-ups and their clearing, noise bytes, what
 * wore off and is active at now_us, replays, error codes the meter sent,
 * reboots, and the list text of what is active. */
void sim_report_fault_status(json_t *obj, sim_fault_set *fs, const sim_meter_counters *mc, uint64_t now_us);
/* {"ok": false, "error": <printf text>}: the refusal every control front end
 * answers with. The text is cut to ASCII (other bytes become '?'): it may
 * quote what the client sent (a JSON parser's "near '...'"), and a string
 * that is not valid UTF-8 cannot be encoded at all. NULL only if out of memory. */
json_t *sim_report_failv(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* UTC ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (len >= 25). */
void sim_report_iso_utc(int64_t utc_ms, char *buf, size_t len);

#endif
