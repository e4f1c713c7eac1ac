/* sim_pty: PTY + symlink for an emulated serial line, and the hang-up set
 * of PTYs nobody has open (see sim_pty.h). */
#define _GNU_SOURCE 1 /* ptsname_r, cfmakeraw */
#include "sim_pty.h"
#include "sim_ev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <ev.h>

static void pty_fail(int m, int sl, char *err, size_t errlen, const char *opt, const char *path, const char *what,
                     const char *arg)
{
    snprintf(err, errlen, "%s %s: %s%s%s: %s", opt, path, what, arg ? " " : "", arg ? arg : "", strerror(errno));
    if (sl >= 0)
        close(sl);
    if (m >= 0)
        close(m);
}

int sim_pty_create(const char *opt, const char *path, char *device, size_t devcap, int *master,
                   int *slave, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISLNK(st.st_mode)) {
        snprintf(err, errlen, "%s %s: exists and is not a symlink; refusing to overwrite it", opt, path);
        return -1;
    }
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (m < 0) {
        pty_fail(-1, -1, err, errlen, opt, path, "posix_openpt", NULL);
        return -1;
    }
    if (grantpt(m) != 0 || unlockpt(m) != 0 || ptsname_r(m, device, devcap) != 0) {
        pty_fail(m, -1, err, errlen, opt, path, "pty setup", NULL);
        return -1;
    }
    /* Raw 9600 8N1: the line's pacing, not the PTY, models the baud rate.
     * Set through the master: it acts on the slave (Linux tty_mode_ioctl). */
    struct termios t;
    if (tcgetattr(m, &t) == 0) {
        cfmakeraw(&t);
        cfsetspeed(&t, B9600);
        tcsetattr(m, TCSANOW, &t);
    }
    int sl = -1;
    if (slave && (sl = open(device, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        pty_fail(m, -1, err, errlen, opt, path, "open", device);
        return -1;
    }
    if (lstat(path, &st) == 0 && unlink(path) != 0) {
        pty_fail(m, sl, err, errlen, opt, path, "cannot replace old symlink", NULL);
        return -1;
    }
    if (symlink(device, path) != 0) {
        pty_fail(m, sl, err, errlen, opt, path, "cannot create symlink", NULL);
        return -1;
    }
    *master = m;
    if (slave)
        *slave = sl;
    return 0;
}

/* ---- hang-up set ----------------------------------------------------------
 * An epoll set of its own, edge-triggered: a parked master reports POLLHUP
 * once when it joins, then only when its state changes (a client opened the
 * slave and wrote, or our own write woke it). libev's watchers are
 * level-triggered, so the parked masters cannot stay on the loop itself;
 * the set's one fd does. */

/* Wakes handled per call of the loop's watcher; more wait for the next
 * iteration (the set's fd is still readable), so other watchers run too. */
#define PTY_HUB_BATCH 256

struct sim_pty_hub {
    struct ev_loop *loop;
    int epfd;
    size_t parked;
    ev_io io;
};

static void on_hub(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    sim_pty_hub *h = w->data;
    /* one event per call: a wake may make another waiter leave (or its
     * owner close), which must not leave a stale pointer in a batch */
    for (int i = 0; i < PTY_HUB_BATCH; i++) {
        struct epoll_event ev;
        int n = epoll_wait(h->epfd, &ev, 1, 0);
        if (n <= 0)
            break;
        sim_pty_waiter *pw = ev.data.ptr;
        pw->wake(pw->data);
    }
}

sim_pty_hub *sim_pty_hub_new(struct ev_loop *loop, char *err, size_t errlen)
{
    sim_pty_hub *h = sim_ev_new(sizeof *h, err, errlen);
    if (!h)
        return NULL;
    h->loop = loop;
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (h->epfd < 0) {
        snprintf(err, errlen, "PTY hang-up set: epoll_create1: %s", strerror(errno));
        free(h);
        return NULL;
    }
    sim_ev_io(loop, &h->io, on_hub, h->epfd, EV_READ, h);
    return h;
}

void sim_pty_hub_free(sim_pty_hub *h)
{
    if (!h)
        return;
    ev_io_stop(h->loop, &h->io);
    close(h->epfd);
    free(h);
}

int sim_pty_hub_park(sim_pty_hub *h, sim_pty_waiter *w)
{
    if (w->parked)
        return 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = w};
    if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, w->fd, &ev) != 0)
        return -1;
    w->parked = true;
    h->parked++;
    return 0;
}

void sim_pty_hub_leave(sim_pty_hub *h, sim_pty_waiter *w)
{
    if (!w->parked)
        return;
    struct epoll_event ev = {0};
    epoll_ctl(h->epfd, EPOLL_CTL_DEL, w->fd, &ev);
    w->parked = false;
    h->parked--;
}

size_t sim_pty_hub_parked(const sim_pty_hub *h) { return h->parked; }
