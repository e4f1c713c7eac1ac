/* cosim_internal: the state of one co-simulation (struct cosim), shared by
 * the files of this folder that implement parts of cosim.h (the run loop in
 * cosim.c, firmware adapters, the interactive control channel). Not
 * installed and not for callers outside cosim/: they use cosim.h. */
#ifndef COSIM_INTERNAL_H
#define COSIM_INTERNAL_H

#include "cosim.h"
#include "cosim_out.h"
#include "cosim_queue.h"
#include "cosim_report.h"
#include "cosim_sketch.h"
#include "cosim_wire.h"

#include "mepc.h"
#include "sim_fault_set.h"
#include "sim_line.h"
#include "sim_meter.h"
#include "sim_profile.h"
#include "sim_scenario.h"

enum { SRC_SCEN = 0, SRC_MODTX, SRC_LINE, SRC_FW, SRC_COUNT };

#define V0_US 1000000ull                  /* virtual time of the start (0 is avoided) */
#define DEFAULT_UTC_MS 1735689600000LL    /* 2025-01-01T00:00:00Z when nothing gives a start */
#define DEFAULT_DURATION_US 3600000000ull /* 1 h without a scenario */
#define MODTX_CAP 4096                    /* module UART transmit buffer */
#define HOLD_MAX_US 20000000ull           /* a held timeline starts after 20 s without a reading
                                             (tests/hil/scenario_checks.py wait_first_reading) */

struct cosim {
    /* First member: the line hooks' ctx is the cosim and, converted, the
     * fault set the sim_fault_set_*_hook functions expect (C11 6.7.2.1). */
    sim_fault_set faults;
    cosim_cfg cfg;
    FILE *log;
    sim_profile prof;
    bool prof_loaded;
    sim_scenario *sc;
    sim_meter_cfg mcfg;
    sim_meter *meter;
    sim_line line;
    mepc_config fwcfg;
    mepc_hal hal;
    mepc_client fw;
    cosim_queue q;
    uint64_t now, end;
    int64_t start_utc_ms;
    unsigned bits_per_char;
    uint32_t module_baud;         /* the module's UART rate: the line's initial rate, fixed */
    /* module UART transmitter */
    uint8_t tx[MODTX_CAP];
    size_t tx_head, tx_n;
    uint64_t tx_burst_us, tx_burst_k;
    /* scenario runner: elapsed timeline time, stopped while the meter clock is frozen */
    uint64_t sc_elapsed_us, sc_last_us;
    bool sc_ended;
    bool sc_held;                 /* waiting for the module's first published reading */
    uint64_t sc_hold_from, sc_started_us;
    bool auto_end;                /* no --duration: the end follows the timeline */
    /* board */
    bool xcvr_on, enable_on;
    /* firmware persistent store (mepc_hal.store_*) */
    uint8_t store[512];
    size_t store_n;
    /* publishing */
    bool pub_any;
    uint32_t pub_bt28_at;
    int64_t pub_fwd, pub_rev;
    char pub_sn[sizeof ((mepc_readings *)0)->utility_sn];
    bool sn_changed;              /* the meter was replaced (S17): no truth to compare with */
    uint64_t published, suspect;
    cosim_counters c;
    cosim_out out;
    bool out_open;
    cosim_wire wire;
    uint64_t events;
    char sha[65];
    /* the interactive control channel (cosim_ctl.c), NULL without one: its
     * board-line hooks reach it through the cosim */
    struct cosim_ctl *ctl;
    cosim_sketch *sketch;         /* --firmware PATH: the sketch child (cosim_sketch.c); NULL: the core */
};

#endif
