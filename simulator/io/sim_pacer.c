/* sim_pacer: one timerfd and a binary heap for every paced line (see
 * sim_pacer.h). */
#include "sim_pacer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <ev.h>

#include "sim_line.h"

struct sim_pacer {
    struct ev_loop *loop;
    int fd;
    ev_io watcher;
    sim_pacer_entry **heap;
    size_t n, cap;
    uint64_t armed_us;            /* what the timerfd is set to; UINT64_MAX: disarmed */
    bool expired;                 /* it went off and has not been set since (still readable) */
    bool firing;                  /* inside the wake-up: arm once at its end */
    uint64_t grain_us;            /* wake-ups on this grid: entries due close together share one */
    sim_pacer_counters c;
};

static void put(sim_pacer *p, size_t i, sim_pacer_entry *e)
{
    p->heap[i] = e;
    e->slot = i + 1;
}

static void sift_up(sim_pacer *p, size_t i)
{
    sim_pacer_entry *e = p->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (p->heap[parent]->at_us <= e->at_us)
            break;
        put(p, i, p->heap[parent]);
        i = parent;
    }
    put(p, i, e);
}

static void sift_down(sim_pacer *p, size_t i)
{
    sim_pacer_entry *e = p->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= p->n)
            break;
        if (c + 1 < p->n && p->heap[c + 1]->at_us < p->heap[c]->at_us)
            c++;
        if (p->heap[c]->at_us >= e->at_us)
            break;
        put(p, i, p->heap[c]);
        i = c;
    }
    put(p, i, e);
}

static void remove_at(sim_pacer *p, size_t i)
{
    sim_pacer_entry *e = p->heap[i];
    e->slot = 0;
    p->n--;
    if (i == p->n)
        return;
    put(p, i, p->heap[p->n]);
    sift_down(p, i);
    sift_up(p, p->heap[i]->slot - 1);
}

/* Make sure the timerfd goes off no later than the earliest entry
 * (rounded up to the grain). It is moved only when that is earlier than
 * what it is set to: an entry cancelled or moved later leaves it set, and
 * the wake-up then finds nothing due and sets it again, which costs less
 * than a timerfd_settime per change in a fleet. Setting the timer also
 * clears an expiration not yet read (timerfd_settime resets the count),
 * which saves a read per wake-up. Inside the wake-up nothing is set until
 * every due entry has fired. */
static void arm(sim_pacer *p)
{
    if (p->firing)
        return;
    uint64_t want = p->n ? p->heap[0]->at_us : UINT64_MAX;
    if (want != UINT64_MAX && p->grain_us > 1)
        want = (want + p->grain_us - 1) / p->grain_us * p->grain_us;
    if (!p->expired && want >= p->armed_us)
        return;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (want != UINT64_MAX) {
        /* 0 would disarm: an overdue time becomes 1 ns, i.e. at once */
        uint64_t ns = want ? want * 1000u : 1u;
        its.it_value.tv_sec = (time_t)(ns / 1000000000u);
        its.it_value.tv_nsec = (long)(ns % 1000000000u);
    }
    timerfd_settime(p->fd, TFD_TIMER_ABSTIME, &its, NULL);
    p->armed_us = want;
    p->expired = false;
    p->c.arms++;
}

static void on_timerfd(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    sim_pacer *p = w->data;
    p->c.wakeups++;
    p->expired = true; /* arm() below sets it again, or reads the count when nothing is left */
    p->armed_us = UINT64_MAX;
    p->firing = true;
    uint64_t now = sim_now_us();
    /* Fire what is due; an entry a callback reschedules for now or earlier
     * waits for the next wake-up, so one busy line cannot hold the loop. */
    size_t budget = p->n;
    while (p->n && p->heap[0]->at_us <= now && budget--) {
        sim_pacer_entry *e = p->heap[0];
        remove_at(p, 0);
        e->at_us = UINT64_MAX;
        p->c.fired++;
        e->fire(e->ctx, now);
    }
    p->firing = false;
    if (p->n) {
        arm(p);
    } else {
        uint64_t expirations;
        if (read(p->fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
            return; /* stays readable: the next iteration tries again */
        p->expired = false;
        p->armed_us = UINT64_MAX;
    }
}

sim_pacer *sim_pacer_new(struct ev_loop *loop, uint32_t grain_us, char *err, size_t errlen)
{
    sim_pacer *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "pacer: out of memory");
        return NULL;
    }
    p->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (p->fd < 0) {
        snprintf(err, errlen, "pacer: timerfd_create: %s", strerror(errno));
        free(p);
        return NULL;
    }
    p->loop = loop;
    p->armed_us = UINT64_MAX;
    p->grain_us = grain_us ? grain_us : 1;
    ev_io_init(&p->watcher, on_timerfd, p->fd, EV_READ);
    p->watcher.data = p;
    ev_io_start(loop, &p->watcher);
    return p;
}

void sim_pacer_free(sim_pacer *p)
{
    if (!p)
        return;
    ev_io_stop(p->loop, &p->watcher);
    close(p->fd);
    for (size_t i = 0; i < p->n; i++)
        p->heap[i]->slot = 0;
    free(p->heap);
    free(p);
}

void sim_pacer_entry_init(sim_pacer_entry *e, void (*fire)(void *ctx, uint64_t now_us), void *ctx)
{
    e->at_us = UINT64_MAX;
    e->slot = 0;
    e->fire = fire;
    e->ctx = ctx;
}

void sim_pacer_cancel(sim_pacer *p, sim_pacer_entry *e)
{
    if (!p || !e->slot)
        return;
    remove_at(p, e->slot - 1);
    e->at_us = UINT64_MAX;
    arm(p);
}

int sim_pacer_at(sim_pacer *p, sim_pacer_entry *e, uint64_t at_us)
{
    if (at_us == UINT64_MAX) {
        sim_pacer_cancel(p, e);
        return 0;
    }
    if (e->slot) {
        uint64_t was = e->at_us;
        e->at_us = at_us;
        if (at_us < was)
            sift_up(p, e->slot - 1);
        else if (at_us > was)
            sift_down(p, e->slot - 1);
    } else {
        if (p->n == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 64;
            sim_pacer_entry **h = realloc(p->heap, cap * sizeof *h);
            if (!h)
                return -1;
            p->heap = h;
            p->cap = cap;
        }
        e->at_us = at_us;
        put(p, p->n++, e);
        sift_up(p, p->n - 1);
    }
    arm(p);
    return 0;
}

sim_pacer_counters sim_pacer_counters_get(const sim_pacer *p) { return p->c; }
size_t sim_pacer_pending(const sim_pacer *p) { return p->n; }
