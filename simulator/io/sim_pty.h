/* sim_pty: a pseudo-terminal that stands in for a serial line.
 *
 * Owns: creating the PTY pair in raw mode at 9600 8N1 (set through the
 * master: on Linux the termios requests of a master act on its slave, and
 * they last while the master is open), the symlink clients open (never
 * overwriting a file that is not a symlink), and the hang-up set
 * (sim_pty_hub).
 *
 * Hang-up: while no client has the slave open after one had it, the master
 * reads EIO and polls POLLHUP without end, so a level-triggered read
 * watcher would spin. Two ways out: keep a slave fd open ourselves (two fds
 * per PTY), or park the master in a sim_pty_hub, one edge-triggered epoll
 * set per loop that wakes the owner when the master's state changes (a
 * client wrote), and costs no fd per PTY and no timer. Bytes written to
 * the master meanwhile wait in the slave's input queue, as with a kept
 * slave (the next client reads them unless it flushes).
 */
#ifndef SIM_PTY_H
#define SIM_PTY_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;

/* Create the PTY and link `path` to its slave. `opt` names the option in
 * messages ("--pty"). On success *master is non-blocking and close-on-exec,
 * device holds "/dev/pts/N"; with slave not NULL the slave is opened and
 * kept there (close-on-exec), with NULL it is never opened by us. Returns
 * 0, or -1 with a message (nothing left behind). */
int sim_pty_create(const char *opt, const char *path, char *device, size_t devcap, int *master,
                   int *slave, char *err, size_t errlen);

/* ---- hang-up set --------------------------------------------------------- */

typedef struct sim_pty_hub sim_pty_hub;

/* One parked master, embedded in its owner. wake(data) runs (from the loop)
 * when the master's state changed: the owner reads it, then leaves the set
 * (a client is back: the read said EAGAIN or gave bytes and no EIO) or
 * stays (EIO again). */
typedef struct {
    int fd;
    bool parked;
    void (*wake)(void *data);
    void *data;
} sim_pty_waiter;

/* A hang-up set watched on loop (one fd). NULL with a message. */
sim_pty_hub *sim_pty_hub_new(struct ev_loop *loop, char *err, size_t errlen);
/* Free the set; every waiter must have left it. */
void sim_pty_hub_free(sim_pty_hub *h);
/* Park w->fd (its client closed the slave). 0, or -1 (errno) when the set
 * refuses it (the owner then keeps polling it level-triggered or stops). */
int sim_pty_hub_park(sim_pty_hub *h, sim_pty_waiter *w);
/* Leave the set (no-op when not parked). */
void sim_pty_hub_leave(sim_pty_hub *h, sim_pty_waiter *w);
/* Masters parked now. */
size_t sim_pty_hub_parked(const sim_pty_hub *h);

#endif
