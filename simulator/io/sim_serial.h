/* sim_serial: one serial line's device, for both the MEP port (sim_port)
 * and the optical port (sim_optical_port).
 *
 * Owns: the device life cycle (a PTY symlinked for clients, or a real UART
 * through libserialport, or plain termios for devices libserialport does
 * not enumerate, or a TCP or Unix stream socket serving one client at a
 * time, sim_sock), the client coming and going (a PTY's client closing the
 * slave, a socket's client disconnecting: the line keeps running, bytes
 * written meanwhile are lost and counted by the owner), the read watcher on a libev loop that hands received
 * chunks to its owner, the device's rate and character format, unpaced
 * writes (for an owner that paces itself, like the MEP line core, which adds
 * the 117-byte segment pauses of docs/mep.md 4), a paced transmit queue
 * (bytes leave at the configured baud, bits_per_char bit times each: 10 for
 * 8N1, 11 for 8N2/8E1, docs/optical.md 1), and the one formatter of
 * timestamped log lines ("HH:MM:SS.mmm <who> <msg>"). With cfg.capture
 * (mepsim --capture FILE) every line records both directions into that
 * pcapng file as one interface (capture/README.md).
 */
#ifndef SIM_SERIAL_H
#define SIM_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim_pty.h"

struct ev_loop;
typedef struct sim_serial sim_serial;

typedef enum {
    SIM_SERIAL_PTY,
    SIM_SERIAL_UART,   /* libserialport or plain termios */
    SIM_SERIAL_TCP,
    SIM_SERIAL_UNIX,
} sim_serial_kind;

/* Bytes arrived at now_us (monotonic). */
typedef void (*sim_serial_rx_fn)(void *ctx, const uint8_t *b, size_t n, uint64_t now_us);
/* The read watcher drained the device (call after a burst of rx). */
typedef void (*sim_serial_idle_fn)(void *ctx);

typedef struct {
    const char *pty_opt;          /* option named in PTY messages ("--pty", "--optical-pty") */
    const char *uart_opt;         /* option named in UART messages ("--uart", "--optical-uart") */
    const char *tcp_opt;          /* ("--tcp") */
    const char *unix_opt;         /* ("--unix") */
    const char *pty_path;         /* create a PTY and symlink it here, or */
    const char *uart;             /* open this serial device, or */
    const char *tcp;              /* listen on "ADDR:PORT" (sim_sock_parse_tcp), or */
    const char *unix_path;        /* listen on this Unix stream socket path */
    sim_pty_hub *pty_hub;         /* PTY: park the master here while no client has
                                     it open (NULL: keep a slave fd open instead) */
    int verbose;                  /* >= 1: log clients coming and going */
    uint32_t baud;                /* device and pacing rate (9600 when 0) */
    const char *format;           /* "8N1" when NULL (sim_line_format_bits) */
    const char *who;              /* prefix of log lines ("meter0", "meter0 optical:") */
    FILE *log;                    /* stderr when NULL */
    const char *capture;          /* --capture: record into this pcapng file (NULL: none);
                                     the lines of a process join it, one interface each */
    sim_serial_rx_fn rx;          /* required */
    sim_serial_idle_fn idle;      /* optional */
    void *ctx;
} sim_serial_cfg;

/* Open the device and start reading on loop. NULL with a message. */
sim_serial *sim_serial_open(struct ev_loop *loop, const sim_serial_cfg *cfg, char *err, size_t errlen);
/* Stop, close, remove the PTY symlink if it still points at our PTY. */
void sim_serial_close(sim_serial *s);

/* Write now, unpaced. Returns the bytes the device would not take (lost,
 * as on a wire nobody listens to). */
size_t sim_serial_write(sim_serial *s, const uint8_t *b, size_t n);
/* Queue bytes to leave at the pacing rate after what is already queued.
 * Returns the bytes that did not fit the queue (lost). */
size_t sim_serial_send(sim_serial *s, const uint8_t *b, size_t n);
/* Bytes still queued by sim_serial_send. */
size_t sim_serial_queued(const sim_serial *s);
/* Change the rate: the device at once, the pacing of queued bytes after
 * the ones already queued are out (a negotiated rate applies after the
 * reply that granted it, docs/optical.md 1). */
void sim_serial_set_baud(sim_serial *s, uint32_t baud);
uint32_t sim_serial_baud(const sim_serial *s);
unsigned sim_serial_bits_per_char(const sim_serial *s);

/* Wire time of n characters at baud with bits per character, in us. */
uint64_t sim_serial_wire_us(size_t n, uint32_t baud, unsigned bits);

/* One log line "HH:MM:SS.mmm <who> <msg>" (who may be NULL) to f (NULL:
 * stderr), flushed; sim_serial_logf formats msg printf-style. */
void sim_serial_log_line(FILE *f, const char *who, const char *msg);
void sim_serial_logf(FILE *f, const char *who, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void sim_serial_log(sim_serial *s, const char *msg);

/* Mark a frame of one direction in the capture: a fault was injected into
 * it; text is its pcapng comment ("flip injected"). Toward the meter (the
 * rx callback is running: its bytes are recorded and held) the last frame
 * they completed, else the frame in progress or the next one written.
 * Nothing without --capture. */
void sim_serial_capture_mark(sim_serial *s, bool to_meter, const char *text);

sim_serial_kind sim_serial_get_kind(const sim_serial *s);
bool sim_serial_is_pty(const sim_serial *s);
/* A client has the line: a socket's client is connected, a PTY's slave is
 * open (or has not been closed since the start); always true on a UART. */
bool sim_serial_has_client(const sim_serial *s);
void *sim_serial_sp_handle(sim_serial *s);   /* libserialport handle, NULL for PTY/termios */
/* The fd bytes are read from and written to: PTY master, UART, the
 * socket's client (-1 while none). */
int sim_serial_fd(const sim_serial *s);
struct ev_loop *sim_serial_loop(sim_serial *s);
/* "/dev/pts/N", the UART, "tcp:127.0.0.1:5000" or "unix:/run/m0.sock" */
const char *sim_serial_device(const sim_serial *s);
/* The symlink, the UART, "127.0.0.1:5000" or the socket path */
const char *sim_serial_path(const sim_serial *s);

#endif
