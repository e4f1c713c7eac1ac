/* sim_ev: allocation, I/O watcher start and one-shot timer re-arming for
 * the objects of io/ and app/ (see sim_ev.h). */
#include "sim_ev.h"

#include <stdio.h>
#include <stdlib.h>

#define SIM_EV_MAX_WAIT_S 3600.0

void *sim_ev_new(size_t size, char *err, size_t errlen)
{
    void *p = calloc(1, size);
    if (!p)
        snprintf(err, errlen, "out of memory");
    return p;
}

void sim_ev_io(struct ev_loop *loop, ev_io *w, void (*cb)(struct ev_loop *, ev_io *, int), int fd, int events,
               void *data)
{
    ev_io_init(w, cb, fd, events);
    w->data = data;
    if (loop)
        ev_io_start(loop, w);
}

void sim_ev_timer_wake(struct ev_loop *loop, ev_timer *w, uint64_t wake, uint64_t now, double per_s,
                       double overdue_s)
{
    ev_timer_stop(loop, w);
    if (wake == UINT64_MAX)
        return;
    double delay = wake > now ? (double)(wake - now) / per_s : overdue_s;
    if (delay > SIM_EV_MAX_WAIT_S)
        delay = SIM_EV_MAX_WAIT_S;
    ev_now_update(loop);
    ev_timer_set(w, delay, 0.0);
    ev_timer_start(loop, w);
}
