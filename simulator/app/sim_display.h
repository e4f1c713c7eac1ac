/* sim_display: mepsim's live view (--display).
 *
 * Owns: rendering the state of every meter for a person watching the
 * emulator: simulated clock, energy registers (kWh), power, voltage, current
 * and power factor per phase, frequency, registration and alerts, line
 * counters and the last decoded requests. On a TTY it redraws in place
 * (ANSI) about twice a second; otherwise it prints one plain summary line
 * per meter every 5 s so logs stay readable. Rendering is a plain function
 * of the stations (sim_display_render); only the timer touches libev.
 */
#ifndef SIM_DISPLAY_H
#define SIM_DISPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim_station.h"

struct ev_loop;
typedef struct sim_display sim_display;

/* Start refreshing stations[0..n) (not owned; the array must outlive the
 * display) on out (not owned). tty decides the mode. */
sim_display *sim_display_new(struct ev_loop *loop, sim_station *const *stations, size_t n, FILE *out, bool tty);
void sim_display_free(sim_display *d);

/* Render the full view (tty) or the summary lines (plain) into buf.
 * Returns the length written (truncated at cap-1). */
size_t sim_display_render(sim_station *const *stations, size_t n, uint64_t now_ms, bool full, char *buf,
                          size_t cap);

#endif
