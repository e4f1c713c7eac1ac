/* host_linectl: reports the module's control lines to mepsim's control socket.
 *
 * On a bench the transceiver supply and the meter ENABLE line are wires the
 * emulator senses (docs/module-behaviour.md 2). On a PTY there are no wires, so with
 * --control SOCK the HAL sends each change as a JSON line event
 *   {"line":"transceiver","on":false}   {"line":"enable","on":true}
 * and the emulator's transceiver model applies it. Non-blocking: a missing or
 * slow emulator never stalls the MEP loop; after a reconnect the current state
 * of both lines is sent again so a restarted emulator agrees with us.
 */
#ifndef HOST_LINECTL_H
#define HOST_LINECTL_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "host_ctlreply.h"
#include "host_log.h"

typedef struct {
    char path[108];
    int fd;                  /* -1 while not connected */
    struct ev_loop *loop;
    ev_io rio;
    const host_log *log;
    bool transceiver_on, enable_on;
    uint32_t events_sent, send_failures, replies_not_ok;
    host_ctlreply replies;
} host_linectl;

/* Remember the path; connect lazily. Returns false if the path cannot be a
 * Unix socket path (too long). */
bool host_linectl_init(host_linectl *lc, struct ev_loop *loop, const char *path, const host_log *log);
/* A line changed: name is "transceiver" or "enable". */
void host_linectl_set(host_linectl *lc, const char *name, bool on);
void host_linectl_close(host_linectl *lc);

#endif
