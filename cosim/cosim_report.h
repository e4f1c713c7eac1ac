/* cosim_report: counters.json of a co-simulation, built from the counters
 * of every part (run, meter, line, fault set, board lines, firmware, model).
 * Pure: the numbers in, a jansson object out. */
#ifndef COSIM_REPORT_H
#define COSIM_REPORT_H

#include <stdint.h>

#include <jansson.h>

#include "mepc.h"
#include "sim_fault_set.h"
#include "sim_line.h"
#include "sim_meter_counters.h"

/* What the co-simulation itself counts. */
typedef struct {
    uint64_t xcvr_on, xcvr_off, enable_on, enable_off; /* board-line events from the HAL */
    uint64_t rx_unpowered;        /* bytes that reached an unpowered module transceiver */
    uint64_t rx_flushes;          /* hal.uart_flush_rx calls */
    uint64_t tx_overflow;         /* bytes uart_write could not take */
    uint64_t steps, step_errors, optical_skipped;
    uint64_t baud_changes_ignored; /* the meter switched rate; the module UART does not follow */
    uint64_t store_saves;
    uint64_t published_fell;      /* published Fwd/Rev energy below the previous line */
    uint64_t published_above_truth; /* published Fwd/Rev energy above the model's registers */
} cosim_counters;

typedef struct {
    double simulated_s, timeline_started_s;
    uint64_t events;
    const char *wire_sha256;
    uint64_t wire_to_meter, wire_to_module;   /* bytes */
    uint64_t published, suspect, seed;
    const cosim_counters *c;
    const sim_meter_counters *meter;
    const sim_line_counters *line;
    const sim_fault_set *faults;
    const mepc_readings *fw;
    uint32_t fw_ms;                           /* the core's clock now */
    int64_t model_fwd_wh, model_rev_wh;       /* the model's registers at the end */
    int64_t published_fwd_wh, published_rev_wh;
} cosim_report;

/* {"run", "meter", "line", "faults", "board", "firmware", "model"} (cosim/README.md). */
json_t *cosim_report_json(const cosim_report *r);

#endif
