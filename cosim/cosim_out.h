/* cosim_out: the files a co-simulation writes into --out DIR.
 *
 *  published.jsonl  one line per published reading: the module's JSON
 *                   contract (docs/module-behaviour.md 8.1, built by
 *                   firmware/host/host_dash.c from the core's mepc_readings,
 *                   as mepmod serves it) preceded by the virtual time
 *                   ("Sim_s", "Sim_UTC") and the meter model's registers at
 *                   that moment ("Model_Fwd_Wh", "Model_Rev_Wh");
 *  wire.jsonl       the wire capture (cosim_wire.h);
 *  counters.json    written by cosim_finish (cosim.c).
 */
#ifndef COSIM_OUT_H
#define COSIM_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mepc.h"

typedef struct {
    char dir[512];
    FILE *published;               /* NULL: not writing */
    FILE *wire;
    bool failed;                   /* a write failed (reported at the end) */
} cosim_out;

/* Create dir if needed and open the files. -1 with a message. */
int cosim_out_open(cosim_out *o, const char *dir, bool published, bool capture_wire, char *err, size_t errlen);
/* One published.jsonl line. */
void cosim_out_publish(cosim_out *o, const mepc_readings *r, uint32_t fw_ms, double sim_s, int64_t utc_ms,
                       int64_t model_fwd_wh, int64_t model_rev_wh);
/* One published.jsonl line for a firmware that publishes a JSON document
 * itself (an Arduino sketch): doc is its text (an object); with a topic (an
 * MQTT payload) the line is {.., "Topic": topic, "Payload": doc}, else the
 * document's members follow the time and model members as for the core. */
void cosim_out_publish_doc(cosim_out *o, double sim_s, int64_t utc_ms, int64_t model_fwd_wh, int64_t model_rev_wh,
                           const char *topic, const char *doc);
/* Write text as DIR/name. -1 with a message. */
int cosim_out_write_file(cosim_out *o, const char *name, const char *text, char *err, size_t errlen);
/* Close the files; -1 with a message if any write failed. */
int cosim_out_close(cosim_out *o, char *err, size_t errlen);
/* Peak resident memory of this process so far in KiB (VmHWM of
 * /proc/self/status: per address space, so not inflated by the parent the
 * process was forked from); -1 where unknown. */
long cosim_out_peak_rss_kib(void);
/* "2025-01-01T00:00:02.083Z" */
void cosim_out_iso_utc(int64_t utc_ms, char out[32]);

#endif
