/* sim_station: one emulated meter with everything it has.
 *
 * A station is built from one meter section of the configuration
 * (sim_config_meter) and owns: the meter's profile and sim_meter (mep/), its
 * MEP port (io/sim_port), its optical port when it has an optical line
 * (io/sim_optical_port, separate PTY/UART or shared with the MEP line,
 * docs/optical.md 6), the TLS server (mep/sim_tls, created on the first TLS
 * frame), the fault set (faults/sim_fault_set: line faults, protocol faults,
 * glitches), the scenario runner on a libev timer, and the HIL modem lines
 * of a --uart port (io/sim_portmodem). The station wires the parts
 * together through their hook tables: the port hands bytes and line events
 * up, the meter returns whole replies, and no part owns another.
 *
 * The control socket, the live display and mepsim_main.c address meters
 * only through stations. Getters never create anything: a part that does
 * not exist (yet) is NULL.
 */
#ifndef SIM_STATION_H
#define SIM_STATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "sim_config.h"
#include "sim_fault_set.h"
#include "sim_meter.h"
#include "sim_optical_port.h"
#include "sim_port.h"
#include "sim_portmodem.h"
#include "sim_tls.h"

struct ev_loop;
typedef struct sim_station sim_station;

/* ---- life cycle ---------------------------------------------------------- */

/* Build the station of config section sec (kept by pointer: it must outlive
 * the station) at wall time now_ms: profile, scenario file, meter. Touches no
 * device, so a bad profile fails before any PTY symlink exists. index is the
 * section's position in the config. shared: the process's profile store
 * (the profile is parsed once per fleet; must outlive the station), or
 * NULL to load a private copy; a meter with a scenario always has its own
 * (the scenario patches it). NULL with a message in err. */
sim_station *sim_station_new(const sim_config_meter *sec, size_t index, sim_profiles *shared, uint64_t now_ms,
                             char *err, size_t errlen);
/* What every station of a process shares: the loop and what lives on it
 * once per process (each must outlive the stations). */
typedef struct {
    struct ev_loop *loop;
    int verbose;                  /* 0, 1 (-v), 2 (-vv) */
    FILE *log;                    /* log lines (stderr when NULL) */
    const char *capture;          /* --capture pcapng file, NULL or "": none */
    sim_pty_hub *pty_hub;         /* PTYs nobody has open (sim_pty.h); NULL: each PTY keeps
                                   * a slave fd open */
    sim_pacer *pacer;             /* the microsecond pacer of every line (sim_pacer.h); NULL:
                                   * each port paces with its own millisecond timer */
    sim_tls_rng *tls_rng;         /* one random generator for every meter's TLS (sim_tls.h);
                                   * NULL: each TLS context seeds its own */
} sim_station_env;

/* Open the station's lines on env->loop: the MEP port, its modem lines,
 * the optical port (separate, or shared on Gen 2/3), and start a scenario
 * given with --scenario. Prints one line per opened device on stdout. -1
 * with a message. */
int sim_station_open(sim_station *s, const sim_station_env *env, char *err, size_t errlen);
/* Attach HIL modem lines to the station's --uart port (sim_station_open
 * does this for a section with modem options); iface NULL = the port's own
 * device, a test passes a fake adapter. -1 with a message (PTY, lines
 * already attached, bad cfg, adapter refused). */
int sim_station_attach_modem(sim_station *s, const sim_modem_cfg *cfg, const sim_modem_port *iface, char *err,
                             size_t errlen);
/* Close every line (PTY symlinks removed) and free everything. NULL is fine. */
void sim_station_free(sim_station *s);

/* ---- identity ------------------------------------------------------------ */

const char *sim_station_name(const sim_station *s);       /* the meter section's name */
size_t sim_station_index(const sim_station *s);           /* position in the config, 0-based */

/* ---- parts (NULL when the part does not exist, or not yet) ---------------- */

sim_meter *sim_station_meter(sim_station *s);
sim_port *sim_station_port(sim_station *s);               /* the MEP line (after sim_station_open) */
sim_optical_port *sim_station_optical(sim_station *s);    /* NULL when the meter has no optical line */
sim_tls *sim_station_tls(sim_station *s);                 /* NULL until the first TLS frame */
sim_fault_set *sim_station_faults(sim_station *s);        /* line + protocol faults + glitches */
sim_portmodem *sim_station_modem(sim_station *s);         /* NULL unless UART modem lines are configured */

/* ---- operations -------------------------------------------------------- */

/* After a control command changed the meter (load, clock, speed,
 * registers): re-arm the timers, book energy, let the port send what became
 * due. */
void sim_station_kick(sim_station *s);

/* Board-line event from a firmware or the modem lines
 * (docs/module-behaviour.md 2): the transceiver's power or the meter's
 * ENABLE went on/off. The level is kept once, in the meter
 * (sim_meter_line_on); the fault set's transceiver models are told too. */
typedef enum { SIM_STATION_LINE_TRANSCEIVER, SIM_STATION_LINE_ENABLE } sim_station_line;
void sim_station_line_event(sim_station *s, sim_station_line which, bool on);
/* The same, stamped with when it happened (monotonic us, not after now):
 * modem-line sensing reports when a level was first seen. */
void sim_station_line_event_at(sim_station *s, sim_station_line which, bool on, uint64_t at_us);

/* Scenario runner (control command "scenario"): action "load" (path
 * required: validate strictly, then start), "start" (clear every fault and
 * glitch, rewind, run), "stop" (stop and clear faults), "status". Returns
 * a new JSON reply object {"ok":...}. */
json_t *sim_station_scenario(sim_station *s, const char *action, const char *path);

/* Persistent state (--state FILE; store/sim_state.h). sim_station_new
 * loads it (a bad or mismatched file fails there, before any device); an
 * open station saves it every SIM_STATE_SAVE_S when registers, E or a kept
 * table changed. This saves now (force: even if nothing changed), atomically. */
typedef enum {
    SIM_STATION_SAVE_NONE = 0,     /* the meter has no state file */
    SIM_STATION_SAVE_WRITTEN,
    SIM_STATION_SAVE_UNCHANGED,    /* nothing changed since the last save */
    SIM_STATION_SAVE_FAILED,       /* err says why */
} sim_station_save_result;
sim_station_save_result sim_station_save_state(sim_station *s, bool force, char *err, size_t errlen);

/* Add this station's scenario progress and TLS state to a control "status"
 * entry (a JSON object). TLS reads "idle" with zero counters before the
 * first TLS frame. */
void sim_station_status(sim_station *s, json_t *entry);

#endif
