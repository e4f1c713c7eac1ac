/* host_display: mepmod --display, live readings in the terminal.
 *
 * Owns: the terminal view. On a TTY it redraws a block in place with ANSI
 * escapes (status, dashboard URL, energy, power, V/I/PF per phase,
 * frequency); otherwise (pipes, logs, tests) it prints one plain line per
 * completed poll. Output only; reads the readings snapshot it is given.
 */
#ifndef HOST_DISPLAY_H
#define HOST_DISPLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "host_dash.h"
#include "mepc.h"

typedef struct {
    FILE *out;
    bool tty;
    bool drawn;              /* a block is on screen (move up before redrawing) */
    char url[96];            /* dashboard URL shown in the view */
    uint32_t last_polls;     /* plain mode: print once per completed poll */
    int last_status;
} host_display;

void host_display_init(host_display *d, FILE *out, const char *url);
/* Redraw (TTY) or print a line if a new poll completed (plain). */
void host_display_update(host_display *d, const mepc_readings *r, const host_clock *clk);

#endif
