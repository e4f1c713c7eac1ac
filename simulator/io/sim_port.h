/* sim_port: the MEP line of one emulated meter on a device: a sim_serial
 * (PTY symlinked for clients, or a real UART) whose received bytes drive one
 * sim_line (mep/sim_line.h, the MEP timing core: framing, throttle, pacing
 * in 117-byte segments, alerts) on a shared libev loop.
 *
 * The port owns no part of the meter. Its owner (app/sim_station) fills two
 * small function tables: the line hooks (sim_line_hooks: the fault layer
 * between protocol and wire) and the tap (sim_port_tap: a shared-UART
 * optical port that takes its bytes first). The port hands line events
 * (transceiver power, ENABLE) to the meter and to the line hooks. */
#ifndef SIM_PORT_H
#define SIM_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim_line.h"
#include "sim_meter.h"
#include "sim_pacer.h"
#include "sim_pty.h"

struct ev_loop;
typedef struct sim_port sim_port;

/* Shared-UART tap (Gen 2/3: optical and MEP on one UART, docs/optical.md 6;
 * filled by sim_optical_port). rx sees every received chunk before the MEP
 * line and copies the bytes the MEP line should still get into mep[] (room
 * for n) and returns their count; tx_blocked says MEP output must not reach
 * the wire (an optical session holds the line: the bytes are lost, counted
 * tx_lost). */
typedef struct {
    size_t (*rx)(void *ctx, const uint8_t *in, size_t n, uint64_t now_us, uint8_t *mep);
    bool (*tx_blocked)(void *ctx, uint64_t now_us);
    void *ctx;
} sim_port_tap;
/* Install (NULL: remove) the tap. */
void sim_port_set_tap(sim_port *p, const sim_port_tap *t);
/* Queue bytes on the port's wire, paced at the line rate (optical replies
 * on a shared UART). */
void sim_port_send(sim_port *p, const uint8_t *b, size_t n);

typedef struct {
    const char *name;             /* meter name for logs */
    const char *pty_path;         /* create a PTY and symlink it here, or */
    const char *uart;             /* open this serial device, or */
    const char *tcp;              /* listen on "ADDR:PORT" (numeric; sim_config fills the
                                   * default 127.0.0.1), raw bytes, one client at a time, or */
    const char *unix_path;        /* listen on this Unix stream socket path, the same way */
    sim_pty_hub *pty_hub;         /* PTY: the loop's hang-up set, so no slave fd is kept
                                   * open (sim_pty.h); NULL: the PTY keeps one */
    sim_pacer *pacer;             /* the loop's microsecond pacer (sim_pacer.h); NULL: an
                                   * ev_timer of its own (millisecond wake-ups) */
    uint32_t baud;                /* initial line rate (0 = the meter's) */
    const char *format;           /* "8N1" (default) */
    int verbose;                  /* 0, 1 (-v), 2 (-vv) */
    FILE *log;                    /* where log lines go (stderr) */
    const char *capture;          /* pcapng file of --capture (NULL: none) */
} sim_port_cfg;

/* Open the device and start serving meter m (not owned) on loop. NULL with
 * a message in err on failure. */
sim_port *sim_port_open(struct ev_loop *loop, sim_meter *m, const sim_port_cfg *cfg, char *err, size_t errlen);
/* Stop, close the device and remove the PTY symlink (if still ours). */
void sim_port_close(sim_port *p);
/* The fault layer between protocol and wire (NULL: none). */
void sim_port_set_line_hooks(sim_port *p, const sim_line_hooks *h);
/* Mark the frame in progress (or the last one recorded, toward the meter)
 * of one direction in the capture (--capture): a fault was injected into it
 * (sim_serial_capture_mark). */
void sim_port_capture_mark(sim_port *p, bool to_meter, const char *text);
/* Something changed outside the line (control socket): re-run and re-arm. */
void sim_port_kick(sim_port *p);
/* A module control line changed at at_us (monotonic, not after now; modem
 * sensing reports when a level was first seen, S09): the meter stores the
 * level, the line hooks hear of it, one log line, then a kick. */
void sim_port_line_event_at(sim_port *p, sim_meter_line which, bool on, uint64_t at_us);

/* HIL modem lines (sim_portmodem.h): a --uart port exposes its device. */
bool sim_port_is_uart(const sim_port *p);
void *sim_port_sp_handle(sim_port *p);   /* libserialport handle, NULL with plain termios */
int sim_port_fd(const sim_port *p);
struct ev_loop *sim_port_loop(sim_port *p);

/* Write one log line "HH:MM:SS.mmm <name> <msg>" if the port's verbosity
 * is at least level (0 = always). */
void sim_port_log(sim_port *p, int level, const char *msg);
int sim_port_verbose(const sim_port *p);

sim_meter *sim_port_meter(sim_port *p);
sim_line *sim_port_line(sim_port *p);
const char *sim_port_name(const sim_port *p);
/* "/dev/pts/7" or the UART path. */
const char *sim_port_device(const sim_port *p);
/* The symlink path (PTY) or the UART path. */
const char *sim_port_path(const sim_port *p);

#endif
