/* sim_ev: the steps every object of io/ and app/ repeats to come alive on
 * the libev loop: allocate itself (or say why not), start an I/O watcher
 * with itself as the watcher's data, and re-arm its one-shot timer for the
 * next wake time its protocol core reports. */
#ifndef SIM_EV_H
#define SIM_EV_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

/* A zeroed object of size bytes, or NULL with "out of memory" in err. */
void *sim_ev_new(size_t size, char *err, size_t errlen);

/* Initialise w to call cb when fd is ready for events, with w->data = data;
 * started on loop when loop is not NULL (a write watcher is started only
 * when there is something to write). */
void sim_ev_io(struct ev_loop *loop, ev_io *w, void (*cb)(struct ev_loop *, ev_io *, int), int fd, int events,
               void *data);

/* Stop w, then start it once for wake, a time on the clock now was read
 * from, in units of 1/per_s second (1e6: microseconds). UINT64_MAX: leave
 * it stopped. An overdue wake fires after overdue_s; one more than an hour
 * away after an hour (the owner re-arms then). The loop's time is
 * refreshed first: the owner's clock has run since the loop last looked. */
void sim_ev_timer_wake(struct ev_loop *loop, ev_timer *w, uint64_t wake, uint64_t now, double per_s,
                       double overdue_s);

#endif
