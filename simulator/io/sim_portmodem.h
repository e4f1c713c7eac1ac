/* sim_portmodem: the HIL modem lines of one UART sim_port (docs/module-behaviour.md 2).
 *
 * Owns the wiring between sim_modem (pure sensing/pulsing, sim_modem.h) and
 * a running --uart port: an ev_timer that polls the adapter's modem inputs
 * at sim_modem_next_wake, delivery of each debounced "transceiver"/"enable"
 * change to the port exactly like a control-socket line event
 * (sim_port_line_event_at, with the time the level was first seen), and the
 * board reset/power pulses the control socket asks for (board_reset,
 * board_power) on the adapter's DTR/RTS outputs.
 *
 * mepsim drives DTR/RTS only when --reset-line/--power-line name them, and
 * then only to their idle level at start and on a board_* command. A PTY has
 * no modem lines: attaching to one is refused ("modem lines need --uart").
 *
 * The adapter is reached through sim_modem_port, so tests inject a fake one;
 * with none given the port's own device is used (libserialport, or TIOCMGET/
 * TIOCMBIS ioctls when the device was opened with plain termios).
 */
#ifndef SIM_PORTMODEM_H
#define SIM_PORTMODEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_port.h"
#include "sim_modem.h"

/* Default pulse lengths of the control commands (documented choice: a
 * reset of 100 ms is well above an ESP32 EN/RST minimum; a 2 s power cut
 * lets the board's bulk capacitors drain). Limit for both: 60 s. */
#define SIM_PORTMODEM_RESET_MS 100u
#define SIM_PORTMODEM_POWER_MS 2000u
#define SIM_PORTMODEM_MAX_PULSE_MS 60000u

typedef struct sim_portmodem sim_portmodem;

/* True when cfg senses a line or wires an output (else nothing to attach). */
bool sim_portmodem_wanted(const sim_modem_cfg *cfg);

/* Attach modem lines to port p (a --uart port) and start polling on the
 * port's loop. iface NULL = the port's own device. The caller owns the
 * result and frees it with sim_portmodem_free before closing the port. NULL
 * with a message in err on failure (PTY, bad cfg, adapter refused). */
sim_portmodem *sim_portmodem_attach(sim_port *p, const sim_modem_cfg *cfg, const sim_modem_port *iface,
                                    char *err, size_t errlen);
/* Stop the timer, release a running pulse and free. NULL is fine. */
void sim_portmodem_free(sim_portmodem *pm);

/* Pulse an output for ms (1..SIM_PORTMODEM_MAX_PULSE_MS) from now. < 0 with
 * a message naming the problem (not wired, already pulsing, port failure). */
int sim_portmodem_pulse(sim_portmodem *pm, sim_modem_out out, uint32_t ms, char *err, size_t errlen);
/* Hold an output asserted (true) or release it (false), cancelling a pulse. */
int sim_portmodem_set(sim_portmodem *pm, sim_modem_out out, bool asserted, char *err, size_t errlen);

const sim_modem *sim_portmodem_modem(const sim_portmodem *pm);

#endif
