/* sim_pty: a pseudo-terminal that stands in for a serial line.
 *
 * Owns: creating the PTY pair in raw mode at 9600 8N1, keeping a slave fd
 * open (so the master never sees EIO while no client has the line open),
 * and the symlink clients open (never overwriting a file that is not a
 * symlink). Used by the MEP port (sim_port) and the optical port.
 */
#ifndef SIM_PTY_H
#define SIM_PTY_H

#include <stddef.h>

/* Create the PTY and link `path` to its slave. `opt` names the option in
 * messages ("--pty"). On success *master is non-blocking, both fds are
 * close-on-exec, device holds "/dev/pts/N"; returns 0. -1 with a message. */
int sim_pty_create(const char *opt, const char *path, char *device, size_t devcap, int *master,
                   int *slave, char *err, size_t errlen);

#endif
