/* cosim_ctl: the interactive control channel of mepsim-cosim
 * (`--control-stdio`): JSON-lines requests in, one JSON reply line per
 * request out, so a test rig (hil/osgp_hil, the virtual-time rig) drives
 * one co-simulation step by step in virtual time.
 *
 * Commands are rows of one table (name, handler, argument schema, help),
 * as in mepsim's control socket (simulator/app/sim_control.c): advance,
 * run_until and now move or read the virtual clock; get (the meter's
 * truth), status, counters, fault_status and the fault commands (inject,
 * glitch, clear, list, faults, through sim_fault_set_command as mepsim's)
 * answer in the shapes mepsim's socket gives; http (the module's answer
 * now), mqtt (its 8.2 messages since the last call), lines (its
 * transceiver/ENABLE events since the last call), board (power it up or
 * off), scenario (start, stop, status), help and finish. A bad request
 * (bad JSON, an unknown command or field, a value of the wrong type or out
 * of range) gets {"ok":false,"error":...} and changes nothing; the channel
 * keeps going. The commands and replies: hil/README.md "The control
 * channel".
 */
#ifndef COSIM_CTL_H
#define COSIM_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cosim.h"

typedef struct cosim_ctl cosim_ctl;

/* The channel on a co-simulation just built by cosim_new (not owned; it
 * must outlive the channel). It holds the run open: the run ends on
 * `finish` (or at the end of the input), not at the configured duration.
 * NULL if out of memory. */
cosim_ctl *cosim_ctl_new(cosim *s);
void cosim_ctl_free(cosim_ctl *c);

/* Execute one request line (without the newline). Returns a malloc'd reply
 * line without newline (the caller frees it); NULL only if out of memory. */
char *cosim_ctl_exec(cosim_ctl *c, const char *line);

/* A board line of the firmware changed at the current virtual time
 * (transceiver if xcvr, else ENABLE): kept for `lines`. The core's HAL
 * hooks call it; a firmware adapter whose board lines reach cosim.c another
 * way (a sketch) calls it there when s->ctl is set. */
void cosim_ctl_line_event(cosim_ctl *c, bool xcvr, bool on);

/* `finish` was executed: the caller ends the loop and prints the summary. */
bool cosim_ctl_finished(const cosim_ctl *c);

/* Serve requests from in until `finish` or the end of input, one reply
 * line per request to out (flushed). Overlong lines (> COSIM_CTL_MAX_LINE)
 * get an error reply. Returns true if the loop ended with `finish`. */
#define COSIM_CTL_MAX_LINE 65536
bool cosim_ctl_serve(cosim_ctl *c, FILE *in, FILE *out);

#endif
