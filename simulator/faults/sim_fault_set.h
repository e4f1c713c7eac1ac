/* sim_fault_set: the per-meter fault set: line faults (sim_fault), protocol
 * faults (sim_pfault) and table glitches (sim_glitch) of one meter, applied
 * from scenario steps and control-socket commands, and wired into the line
 * (sim_line_hooks) and the meter (sim_meter_fault_hooks) by their owner. */
#ifndef SIM_FAULT_SET_H
#define SIM_FAULT_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_fault.h"
#include "sim_glitch.h"
#include "sim_meter.h"
#include "sim_pfault.h"
#include "sim_scenario.h"

/* ---- the three fault modules of one meter ------------------------------
 * The line and the meter reach them through the hook tables the owner fills
 * from this set (sim_line_hooks, sim_fault_set_meter_hooks); the control
 * socket and the scenario runner go through apply and command. */
typedef struct {
    sim_fault line;                /* line faults + transceiver (sim_line hooks) */
    sim_pfault proto;              /* protocol faults (sim_meter hook) */
    sim_glitch glitch;             /* table glitches (table read hook) */
    sim_pf_result reply;           /* the last protocol-fault reply handed to the meter */
} sim_fault_set;

void sim_fault_set_init(sim_fault_set *fs, uint64_t seed);
/* Apply a fault, pfault, glitch or stop step. Returns 1 if applied, 0 if
 * the step is for the owner (load, alert, clock, seq_jump, reboot, wait,
 * end), -1 with a message if a module refused it (e.g. no free slot).
 * fx (may be NULL) receives a glitch's model effects (solar, clock freeze). */
int sim_fault_set_apply(sim_fault_set *fs, const sim_step *st, uint64_t now_us, int64_t sim_now_ms,
                        sim_glitch_effects *fx, char *err, size_t errlen);
/* What sim_fault_set_apply_step did with one scenario step; the owner
 * branches on it (logging, counters, its optical port). */
typedef enum {
    SIM_FAULT_SET_STEP_DONE = 0,   /* applied to the meter or the fault set (or a wait) */
    SIM_FAULT_SET_STEP_REFUSED,    /* a fault module refused it: err says why */
    SIM_FAULT_SET_STEP_REBOOTED,   /* the meter restarted (a new E) */
    SIM_FAULT_SET_STEP_END,        /* "end": the timeline is over */
    SIM_FAULT_SET_STEP_OPTICAL,    /* "optical": for the owner's optical port, if it has one */
} sim_fault_set_step_result;
/* One scenario step of any kind on meter m at now_us (the meter gets ms of
 * the same clock): load, alert, clock, seq_jump and reboot on the meter;
 * fault, pfault, glitch and stop through sim_fault_set_apply, then a
 * glitch's loads (solar export) on the model. The station's ev_timer and
 * the co-simulation's event queue both call it. */
sim_fault_set_step_result sim_fault_set_apply_step(sim_fault_set *fs, sim_meter *m, const sim_step *st,
                                                   uint64_t now_us, char *err, size_t errlen);
/* Control-socket commands, one line each (README "Control socket"):
 *   inject <fault> [k=v ...]   line or protocol fault ("inject flip rate=0.001")
 *   glitch <name> [k=v ...]    table glitch ("glitch spike delta=2^24 polls=3")
 *   clear [<name>|<id>|all]    stop faults/glitches (default all)
 *   list                       one line per active fault/glitch
 *   status                     counters of what was injected
 * Writes the reply (or the error) to out; returns 0 or -1. */
int sim_fault_set_command(sim_fault_set *fs, const char *line, uint64_t now_us, int64_t sim_now_ms,
                          sim_glitch_effects *fx, char *out, size_t cap);
/* One line per active line fault (with the transceiver state), protocol
 * fault ("p<id> ...") and glitch ("g<id> ..."): the `list` reply. Returns
 * the length written. */
size_t sim_fault_set_list(const sim_fault_set *fs, uint64_t now_us, char *out, size_t cap);
/* Faults and glitches of all three families ended by count or duration. */
uint64_t sim_fault_set_worn_off(const sim_fault_set *fs);

/* Line wiring in one place: sim_line_hooks {rx = sim_fault_set_rx_filter,
 * tx = sim_fault_set_tx_filter, ctx = fs}. The tx filter applies the
 * protocol layer's alert-split (then ask sim_pfault_tx_pause(&fs->proto))
 * and then the line faults. */
size_t sim_fault_set_rx_filter(void *ctx, uint8_t *buf, size_t n, size_t cap, uint64_t now_us);
size_t sim_fault_set_tx_filter(void *ctx, uint8_t *buf, size_t n, size_t cap, uint64_t now_us);
/* Bytes to put on the wire toward the module now *without* the tx filter:
 * held (delayed/duplicated) frames, stuck-line bursts, alert storms, zero
 * streams. One chunk per call; call until 0. */
size_t sim_fault_set_tx_due(sim_fault_set *fs, uint64_t now_us, uint8_t *out, size_t cap);
/* Bytes the meter hears now although the module sent nothing (stuck line
 * toward the meter): feed them to sim_line_rx. Call until 0. */
size_t sim_fault_set_rx_due(sim_fault_set *fs, uint64_t now_us, uint8_t *out, size_t cap);
/* Earliest time one of the three modules needs a call (UINT64_MAX if none). */
uint64_t sim_fault_set_next_wake(const sim_fault_set *fs, uint64_t now_us);
/* The same with the signatures of sim_line_hooks (ctx = the sim_fault_set):
 *   {.rx = sim_fault_set_rx_filter, .tx = sim_fault_set_tx_filter,
 *    .tx_pause = sim_fault_set_pause_hook, .due = sim_fault_set_due_hook,
 *    .next_wake = sim_fault_set_wake_hook, .line_event = sim_fault_set_event_hook} */
size_t sim_fault_set_due_hook(void *fsp, unsigned dir, uint64_t now_us, uint8_t *out, size_t cap);
uint64_t sim_fault_set_wake_hook(void *fsp, uint64_t now_us);
void sim_fault_set_event_hook(void *fsp, const char *line, bool on, uint64_t now_us);
bool sim_fault_set_pause_hook(void *fsp, size_t *at, uint32_t *pause_us);

/* The segment pause of a reply on meter m's line (sim_line_hooks.segment):
 * kWh glitches that tear a reply (S18) rewrite the rest of the frame from
 * the meter's table layout. True if the frame changed. */
bool sim_fault_set_segment(sim_fault_set *fs, sim_meter *m, uint8_t *frame, size_t len, size_t sent,
                           uint64_t now_us);

/* The meter's fault hooks (mep/sim_meter.h) for this set, ctx = fs:
 * protocol faults act on responses and TLS frames; table reads pass the
 * protocol faults (S30 strings), then the glitches (S16-S18). */
void sim_fault_set_meter_hooks(sim_fault_set *fs, sim_meter_fault_hooks *out);

#endif
