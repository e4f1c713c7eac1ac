/* sim_control: mepsim's control socket (JSON lines over a Unix stream socket).
 *
 * Owns: the listening socket (mode 0600), any number of clients on the
 * shared ev_loop, and the command table that tests and the HIL package use
 * to see and steer the meters (stations, sim_station.h): each command is a
 * row with its name, handler, argument schema and one line of help, from
 * which dispatch, argument checks, the help text (sim_control_print_commands)
 * and the error for an unknown command follow. Commands: status, get,
 * set_load, set_clock, set_speed, set_register, alert, clear_alert,
 * counters, read_table, set_seq, bump_idt, freeze_clock, inject, glitch,
 * clear, list, fault_status, faults (the station's sim_fault_set), scenario,
 * board_reset and board_power (HIL outputs on a UART, sim_portmodem.h),
 * line (also without "cmd": {"line":"enable","on":false}), optical,
 * optical_session, quit. Each request line gets exactly one reply line,
 * {"ok":true,...} or {"ok":false,"error":"..."}; a bad request changes
 * nothing and the connection stays usable. Output is bounded per client:
 * while a reply is not taken, that client's next request is neither read
 * nor run (sim_control.c).
 *
 * The command interpreter (sim_control_exec) is separate from the socket
 * code so it can be driven directly.
 */
#ifndef SIM_CONTROL_H
#define SIM_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_CONTROL_MAX_LINE 65536

struct ev_loop;
struct sim_station;
typedef struct sim_control sim_control;

/* Serve stations[0..n) (not owned; they must outlive the control object).
 * With path NULL no socket is opened (sim_control_exec still works; loop
 * may then be NULL too). NULL with a message on error: path too long, in
 * use by a non-socket, or a live socket (a connect succeeds: another
 * process serves it; it is left alone); a dead socket file is replaced. */
sim_control *sim_control_new(struct ev_loop *loop, const char *path, struct sim_station *const *stations, size_t n,
                             char *err, size_t errlen);
/* Close all clients and the socket; remove the socket file if it is still
 * the one this object bound (same device and inode), never another's. */
void sim_control_free(sim_control *c);
/* Execute one request line; returns a malloc'd reply line without newline. */
char *sim_control_exec(sim_control *c, const char *line);
/* The command list with one line of help each, for `mepsim --help`. */
void sim_control_print_commands(FILE *out);

#endif
