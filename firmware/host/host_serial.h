/* host_serial: the meter UART edge of mepmod (a real UART or mepsim's PTY).
 *
 * Owns: opening the device at 9600 8N1 raw (docs/module-behaviour.md 2), the
 * exclusive lock (flock, so two mepmods cannot share one meter port), the
 * libev watchers for non-blocking read/write, a transmit queue, and reopening
 * the same path when the device goes away (mepsim restarted on the same PTY
 * path, USB adapter unplugged) without restarting the program.
 *
 * Received bytes go to on_rx; nothing here knows about MEP. The HAL
 * (host_hal.c) sits between this and the core.
 */
#ifndef HOST_SERIAL_H
#define HOST_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "host_log.h"

#define HOST_SERIAL_TXQ 4096u
#define HOST_SERIAL_REOPEN_MS 500u

typedef struct host_serial host_serial;
typedef void (*host_serial_rx_fn)(void *ctx, const uint8_t *p, size_t n);

struct host_serial {
    char path[4096];
    int fd;                    /* -1 while closed */
    void *sp;                  /* struct sp_port * when libserialport opened it */
    dev_t rdev;                /* device behind path when opened (detects a new PTY) */
    struct ev_loop *loop;
    ev_io rio, wio;
    ev_timer check;            /* reopen / path-still-the-same-device check */
    uint8_t txq[HOST_SERIAL_TXQ];
    size_t txq_len;
    host_serial_rx_fn on_rx;
    void *rx_ctx;
    const host_log *log;
    /* counters (shown in /status) */
    uint32_t opens, closes, tx_dropped, rx_bytes, tx_bytes;
    bool via_termios;          /* libserialport refused; opened with open()+termios */
};

/* Open and lock path. On failure returns false with a message naming the
 * path and the reason in err (start-up errors: main exits 2). */
bool host_serial_open(host_serial *s, struct ev_loop *loop, const char *path,
                      host_serial_rx_fn on_rx, void *rx_ctx, const host_log *log,
                      char *err, size_t errlen);
/* Queue bytes for the wire. Returns bytes accepted (all of them while the
 * device is away: those are counted as dropped, like a line nobody hears). */
size_t host_serial_write(host_serial *s, const uint8_t *p, size_t n);
/* Discard unread input in the kernel buffer. */
void host_serial_flush_rx(host_serial *s);
bool host_serial_is_open(const host_serial *s);
void host_serial_close(host_serial *s);

#endif
