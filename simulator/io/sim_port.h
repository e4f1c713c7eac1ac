/* sim_port: the I/O edge of one meter's MEP line: a PTY (posix_openpt, raw,
 * symlinked) or a real UART (libserialport) whose fd drives one sim_line on
 * a shared ev_loop. It owns the meter's fault set (line faults + protocol
 * faults + glitches), installed as the line hooks and the meter's fault
 * hooks, the shared-UART optical tap and the HIL modem lines. */
#ifndef SIM_PORT_H
#define SIM_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim_fault_set.h"
#include "sim_line.h"
#include "sim_meter.h"

struct ev_loop;
typedef struct sim_port sim_port;

/* Shared-UART tap (Gen 2/3: optical and MEP on one UART, docs/optical.md 6; owned
 * by sim_optical_port). rx sees every received chunk before the MEP line and
 * copies the bytes the MEP line should still get into mep[] (room for n) and
 * returns their count; tx_blocked says MEP output must not reach the wire
 * (an optical session holds the line: the bytes are lost, counted tx_lost). */
typedef struct {
    size_t (*rx)(void *ctx, const uint8_t *in, size_t n, uint64_t now_us, uint8_t *mep);
    bool (*tx_blocked)(void *ctx, uint64_t now_us);
    void *ctx;
} sim_port_tap;
/* Install (NULL: remove) the tap. */
void sim_port_set_tap(sim_port *p, const sim_port_tap *t);
/* Write raw bytes on the port's wire (optical replies on a shared UART). */
void sim_port_write_raw(sim_port *p, const uint8_t *b, size_t n);

typedef struct {
    const char *name;             /* meter name for logs */
    const char *pty_path;         /* create a PTY and symlink it here, or */
    const char *uart;             /* open this serial device */
    uint32_t baud;                /* initial line rate (0 = the meter's) */
    const char *format;           /* "8N1" (default) */
    int verbose;                  /* 0, 1 (-v), 2 (-vv) */
    FILE *log;                    /* where log lines go (stderr) */
    uint64_t fault_seed;          /* seed of the port's line-fault layer (0 = 1) */
} sim_port_cfg;

/* Open the device and start serving meter m (not owned) on loop. NULL with
 * a message in err on failure. */
sim_port *sim_port_open(struct ev_loop *loop, sim_meter *m, const sim_port_cfg *cfg,
                        char *err, size_t errlen);
/* Stop, close the device and remove the PTY symlink (if still ours). */
void sim_port_close(sim_port *p);
/* Every port carries a line-fault layer (sim_fault), installed in its
 * line's hooks; with no fault started it passes everything through. */
sim_fault *sim_port_fault(sim_port *p);
/* The port's whole fault set (line faults + protocol faults + glitches,
 * sim_fault_set.h): installed as the line hooks, and its protocol-fault and
 * glitch parts handed to the meter (sim_meter_set_fault_hooks) while the port
 * is open. sim_port_fault(p) == &sim_port_faults(p)->line. */
sim_fault_set *sim_port_faults(sim_port *p);
/* Replace the hooks (NULL: back to the port's own sim_fault layer). */
void sim_port_set_hooks(sim_port *p, const sim_line_hooks *h);
/* Something changed outside the line (control socket): re-run and re-arm. */
void sim_port_kick(sim_port *p);
/* Apply a line event (module HAL / control socket) and log it. */
void sim_port_line_event(sim_port *p, const char *line, bool on);
/* The same, stamped with when it happened (monotonic us, not after now):
 * modem-line sensing reports the time a level was first seen (S09). */
void sim_port_line_event_at(sim_port *p, const char *line, bool on, uint64_t at_us);

/* HIL modem lines (sim_portmodem.h). A --uart port exposes its device: the
 * libserialport handle (NULL when opened with plain termios) and its fd. */
bool sim_port_is_uart(const sim_port *p);
void *sim_port_sp_handle(sim_port *p);
int sim_port_fd(const sim_port *p);
struct ev_loop *sim_port_loop(sim_port *p);
/* The modem lines attached to the port (NULL = none); the port owns them
 * and sim_port_close frees them with release (sim_portmodem_free), so the
 * port does not depend on the modem glue that depends on it. */
struct sim_portmodem;
void sim_port_set_modem(sim_port *p, struct sim_portmodem *pm, void (*release)(struct sim_portmodem *));
struct sim_portmodem *sim_port_get_modem(sim_port *p);

/* Write one log line "HH:MM:SS.mmm <name> <msg>" if the port's verbosity
 * is at least level (0 = always). */
void sim_port_log(sim_port *p, int level, const char *msg);

sim_meter *sim_port_meter(sim_port *p);
sim_line *sim_port_line(sim_port *p);
const char *sim_port_name(const sim_port *p);
/* "/dev/pts/7" or the UART path. */
const char *sim_port_device(const sim_port *p);
/* The symlink path (PTY) or the UART path. */
const char *sim_port_path(const sim_port *p);

#endif
