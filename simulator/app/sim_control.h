/* sim_control: mepsim's control socket (JSON lines over a Unix stream socket).
 *
 * Owns: the listening socket (mode 0600), any number of clients on the
 * shared ev_loop, and the command set that tests and the HIL package use to
 * see and steer the meters: status, get, set_load, set_clock, set_speed,
 * set_register, alert, clear_alert, counters, read_table, set_seq,
 * bump_idt, freeze_clock, fault, fault_stop, fault_list (line faults of
 * sim_fault.h on the port), inject, glitch, clear, list, fault_status,
 * faults (text form), scenario (the port's whole sim_fault_set), board_reset
 * and board_power (HIL outputs on a UART, sim_portmodem.h), quit, and line
 * events ({"line":"enable","on":false}). Each request line gets exactly one
 * reply line, {"ok":true,...} or {"ok":false,"error":"..."}; a bad request
 * changes nothing and the connection stays usable.
 *
 * The command interpreter (sim_control_exec) is separate from the socket
 * code so it can be driven directly.
 */
#ifndef SIM_CONTROL_H
#define SIM_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_port.h"

#define SIM_CONTROL_MAX_LINE 65536

struct ev_loop;
typedef struct sim_control sim_control;

/* Serve ports[0..n) (not owned; they must outlive the control object). With
 * path NULL no socket is opened (sim_control_exec still works). NULL with a
 * message on error (path in use by a non-socket, bind failure ...). */
sim_control *sim_control_new(struct ev_loop *loop, const char *path, sim_port *const *ports, size_t n,
                             char *err, size_t errlen);
/* Lets the program add fields to each meter's "status" entry (scenario
 * progress, TLS state ...). json_object is a jansson json_t object. */
typedef void (*sim_control_status_fn)(void *ctx, size_t meter_index, void *json_object);
void sim_control_set_status_hook(sim_control *c, sim_control_status_fn fn, void *ctx);
/* {"cmd":"scenario","action":"load|start|stop|status","path":..} is handed
 * to the program that runs the timelines; it returns the reply (a jansson
 * json_t object with "ok"). path is NULL unless given. */
typedef void *(*sim_control_scenario_fn)(void *ctx, size_t meter_index, const char *action, const char *path);
void sim_control_set_scenario_hook(sim_control *c, sim_control_scenario_fn fn, void *ctx);
/* Optical ports parallel to ports[] (entries may be NULL; the array must
 * outlive the control object): enables "optical" and "optical_session"
 * (start/stop a simulated probe session, see sim_optical_port.h). */
struct sim_optical_port;
void sim_control_set_optical(sim_control *c, struct sim_optical_port *const *optical);
/* Close all clients and the socket, remove the socket file. */
void sim_control_free(sim_control *c);
/* Execute one request line; returns a malloc'd reply line without newline. */
char *sim_control_exec(sim_control *c, const char *line);
/* A client sent {"cmd":"quit"} (the loop has been told to stop). */
bool sim_control_quit_requested(const sim_control *c);

#endif
