/* sim_optical_port: the meter's optical port on a transport (docs/optical.md 1, 6).
 *
 * Owns: the I/O edge of one meter's optical channel (sim_optical on top of
 * sim_optical_link), in one of two forms:
 *   - separate port (Gen 4, or --optical-pty / --optical-uart): its own PTY
 *     or UART, every byte goes to the optical core;
 *   - shared UART (Gen 2/3): installed as a tap on the meter's MEP sim_port.
 *     A 0xEE at a MEP frame boundary switches the line to optical (the first
 *     packet gets a NAK, as on a real meter); while the optical side holds
 *     the line MEP requests are not answered (and a MEP response in flight
 *     is cut); the line returns to MEP once the session is over (Terminate,
 *     channel timeout, D.O.S.) and the line was quiet for a short hold.
 * It also owns the table store the optical core sees (the meter's tables,
 * model advanced to "now" before every read; writes run the meter's MEP
 * write side effects, so a BT07 write calls the procedure), and a simulated
 * probe (control socket / scenario): the emulator reads the meter itself for
 * N seconds, occupying a shared line; the meter's optical replies appear on
 * the wire the module listens to (one wire, docs/optical.md 6).
 *
 * Its bytes go through the same device code as the MEP port (sim_serial):
 * replies leave paced at the session's rate (9600 until a Negotiate changes
 * it, docs/optical.md 1), on its own device or queued on the shared MEP line.
 * libev at this edge only; the protocol is in sim_optical. No globals.
 */
#ifndef SIM_OPTICAL_PORT_H
#define SIM_OPTICAL_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim_port.h"
#include "sim_meter.h"
#include "sim_optical.h"
#include "sim_profile.h"

struct ev_loop;
typedef struct sim_optical_port sim_optical_port;

typedef struct {
    const char *name;        /* meter name for logs */
    const char *pty_path;    /* separate port: create a PTY, symlink it here, or */
    const char *uart;        /* separate port: this serial device, or neither: */
    sim_port *mep;           /* shared UART: tap into this MEP port */
    int verbose;             /* 1: one line per optical service / line switch */
    FILE *log;               /* stderr when NULL */
    const char *capture;     /* pcapng file of --capture (NULL: none; a shared UART is the MEP port's) */
} sim_optical_port_cfg;

typedef struct {
    uint64_t line_switches;      /* shared UART: MEP -> optical */
    uint64_t mep_bytes_blocked;  /* received while the optical side held the line */
    uint64_t probe_sessions;     /* simulated probe sessions started */
    uint64_t probe_packets;      /* optical reply packets the probe put on the wire */
} sim_optical_port_counters;

/* The sim_optical_cfg for a meter profile: its "optical" object on top of
 * sim_optical_cfg_defaults; shared_uart follows the generation (2/3) unless
 * set; profile locked_tables become lock-read/lock-write rules. name is
 * kept by pointer. */
void sim_optical_port_cfg_from_profile(const sim_profile *p, const char *name, sim_optical_cfg *out);

/* Open the port for meter m (not owned). With neither pty_path nor uart
 * the port is shared with cfg->mep (required then). NULL + message on error. */
sim_optical_port *sim_optical_port_open(struct ev_loop *loop, sim_meter *m, const sim_optical_cfg *ocfg,
                                        const sim_optical_port_cfg *cfg, char *err, size_t errlen);
/* Stop, remove the tap / close the device and PTY symlink. NULL is fine. */
void sim_optical_port_close(sim_optical_port *p);

/* Simulated probe (docs/optical.md 6): for seconds (0.1..3600) the emulator reads
 * the meter over its own optical session; on a shared UART the MEP side is
 * unresponsive meanwhile. echo: put the meter's optical replies on the wire.
 * -1 with a message if a session is already running. */
int sim_optical_port_probe_start(sim_optical_port *p, double seconds, bool echo, char *err, size_t errlen);
/* End the probe session now (Terminate); false if none was running. */
bool sim_optical_port_probe_stop(sim_optical_port *p);

bool sim_optical_port_shared(const sim_optical_port *p);
/* The optical side holds the line now (shared: optical mode or probe). */
bool sim_optical_port_holds_line(const sim_optical_port *p);
bool sim_optical_port_probe_active(const sim_optical_port *p);
double sim_optical_port_probe_left_s(const sim_optical_port *p);
const sim_optical_port_counters *sim_optical_port_counters_get(const sim_optical_port *p);
/* "/dev/pts/N", the UART, or "" when shared; path: the symlink. */
const char *sim_optical_port_device(const sim_optical_port *p);
const char *sim_optical_port_path(const sim_optical_port *p);

/* Control socket commands (json_req: the jansson request object; returns a
 * new json_t reply with "ok"). p may be NULL (no optical port: an error):
 *   {"cmd":"optical"}                                  state, key, counters
 *   {"cmd":"optical_session","action":"start","seconds":S[,"echo":bool]}
 *   {"cmd":"optical_session","action":"stop"} */
void *sim_optical_port_control(sim_optical_port *p, const char *cmd, void *json_req);

#endif
