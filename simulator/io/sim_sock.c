/* sim_sock: a listening TCP or Unix stream socket serving one client at a
 * time (see sim_sock.h). */
#define _GNU_SOURCE 1 /* accept4 */
#include "sim_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Connections the kernel holds before we accept them: one client at a time,
 * so a few are plenty (the others are accepted and closed). */
#define SOCK_BACKLOG 4

struct sim_sock {
    int listen_fd, client_fd;
    bool is_unix;
    dev_t dev;            /* the Unix socket file we bound (removed on close if still it) */
    ino_t ino;
    char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
    char peer[80];
};

/* ---- addresses ----------------------------------------------------------- */

static sim_sock_result bad(char *err, size_t errlen, const char *opt, const char *spec, const char *why)
{
    snprintf(err, errlen, "%s %s: %s", opt, spec, why);
    return SIM_SOCK_BAD_ADDRESS;
}

static bool parse_port(const char *p, unsigned *port)
{
    if (!*p || strlen(p) > 5)
        return false;
    unsigned v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10u + (unsigned)(*p - '0');
    }
    *port = v;
    return v >= 1 && v <= 65535;
}

sim_sock_result sim_sock_parse_tcp(const char *opt, const char *spec, sim_sock_addr *out, char *err,
                                   size_t errlen)
{
    char host[48];
    const char *port_s;
    memset(out, 0, sizeof *out);
    if (!spec || !*spec)
        return bad(err, errlen, opt, "\"\"", "expected [ADDR:]PORT");
    if (spec[0] == '[') { /* [IPv6]:PORT */
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof host)
            return bad(err, errlen, opt, spec, "expected [IPv6]:PORT, e.g. [::1]:5000");
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = 0;
        port_s = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon) {
            snprintf(host, sizeof host, "127.0.0.1");
            port_s = spec;
        } else if (memchr(spec, ':', (size_t)(colon - spec))) {
            return bad(err, errlen, opt, spec, "an IPv6 address goes in brackets: [::1]:5000");
        } else if ((size_t)(colon - spec) >= sizeof host || colon == spec) {
            return bad(err, errlen, opt, spec, "expected ADDR:PORT with a numeric address, e.g. 127.0.0.1:5000");
        } else {
            memcpy(host, spec, (size_t)(colon - spec));
            host[colon - spec] = 0;
            port_s = colon + 1;
        }
    }
    unsigned port;
    if (!parse_port(port_s, &port))
        return bad(err, errlen, opt, spec, "port must be a number from 1 to 65535");
    if (spec[0] == '[') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->sa;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return bad(err, errlen, opt, spec, "not a numeric IPv6 address");
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        out->len = sizeof *a;
        snprintf(out->text, sizeof out->text, "[%s]:%hu", host, (unsigned short)port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&out->sa;
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return bad(err, errlen, opt, spec, "not a numeric IPv4 address (names are not looked up)");
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        out->len = sizeof *a;
        snprintf(out->text, sizeof out->text, "%s:%hu", host, (unsigned short)port);
    }
    return SIM_SOCK_OK;
}

/* ---- listening ----------------------------------------------------------- */

static sim_sock *sock_new(int fd, bool is_unix, const char *name)
{
    sim_sock *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->listen_fd = fd;
    s->client_fd = -1;
    s->is_unix = is_unix;
    snprintf(s->name, sizeof s->name, "%s", name);
    return s;
}

static sim_sock_result sys_fail(int fd, char *err, size_t errlen, const char *opt, const char *spec,
                                const char *what)
{
    int e = errno;
    snprintf(err, errlen, "%s %s: %s: %s", opt, spec, what, strerror(e));
    if (fd >= 0)
        close(fd);
    errno = e;
    return e == EADDRINUSE ? SIM_SOCK_IN_USE : SIM_SOCK_SYSTEM;
}

sim_sock_result sim_sock_open_tcp(const char *opt, const char *spec, sim_sock **out, char *err, size_t errlen)
{
    *out = NULL;
    sim_sock_addr a;
    sim_sock_result rc = sim_sock_parse_tcp(opt, spec, &a, err, errlen);
    if (rc != SIM_SOCK_OK)
        return rc;
    int fd = socket(a.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sys_fail(fd, err, errlen, opt, a.text, "socket");
    int one = 1;
    /* a restarted mepsim gets its port back while old connections linger in TIME_WAIT */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        return sys_fail(fd, err, errlen, opt, a.text, "SO_REUSEADDR");
    if (bind(fd, (struct sockaddr *)&a.sa, a.len) != 0)
        return sys_fail(fd, err, errlen, opt, a.text, "cannot listen");
    if (listen(fd, SOCK_BACKLOG) != 0)
        return sys_fail(fd, err, errlen, opt, a.text, "listen");
    if (!(*out = sock_new(fd, false, a.text))) {
        close(fd);
        snprintf(err, errlen, "%s %s: out of memory", opt, a.text);
        return SIM_SOCK_SYSTEM;
    }
    return SIM_SOCK_OK;
}

/* A socket file at path: stale (nobody accepts: replace it) or live
 * (another process serves it: refuse). A listener whose queue is full
 * answers EAGAIN and counts as live. */
static bool unix_is_live(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return true; /* cannot tell: do not remove what may be in use */
    int rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
    int e = errno;
    close(fd);
    return rc == 0 || (e != ECONNREFUSED && e != ENOENT);
}

static sim_sock_result unix_addr(const char *opt, const char *path, struct sockaddr_un *sun, char *err,
                                 size_t errlen)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (!path || !*path)
        return bad(err, errlen, opt, "\"\"", "expected a socket path");
    if (strlen(path) >= sizeof sun->sun_path) {
        char why[80];
        snprintf(why, sizeof why, "path longer than %zu bytes (the limit of a Unix socket address)",
                 sizeof sun->sun_path - 1);
        return bad(err, errlen, opt, path, why);
    }
    memcpy(sun->sun_path, path, strlen(path) + 1);
    return SIM_SOCK_OK;
}

/* What is at path: nothing (*stale false) or a stale socket file (*stale
 * true) are usable; a live socket and anything that is not a socket are not. */
static sim_sock_result unix_check(const char *opt, const struct sockaddr_un *sun, bool *stale, char *err,
                                  size_t errlen)
{
    const char *path = sun->sun_path;
    struct stat st;
    *stale = false;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? SIM_SOCK_OK : sys_fail(-1, err, errlen, opt, path, "cannot check the path");
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s %s: exists and is not a socket; refusing to replace it", opt, path);
        return SIM_SOCK_IN_USE;
    }
    if (unix_is_live(sun)) {
        snprintf(err, errlen, "%s %s: a live socket (another process accepts on it); refusing to replace it",
                 opt, path);
        return SIM_SOCK_IN_USE;
    }
    *stale = true;
    return SIM_SOCK_OK;
}

sim_sock_result sim_sock_check_unix(const char *opt, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    bool stale;
    sim_sock_result rc = unix_addr(opt, path, &sun, err, errlen);
    return rc != SIM_SOCK_OK ? rc : unix_check(opt, &sun, &stale, err, errlen);
}

sim_sock_result sim_sock_open_unix(const char *opt, const char *path, sim_sock **out, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_un sun;
    bool stale;
    sim_sock_result rc = unix_addr(opt, path, &sun, err, errlen);
    if (rc == SIM_SOCK_OK)
        rc = unix_check(opt, &sun, &stale, err, errlen);
    if (rc != SIM_SOCK_OK)
        return rc;
    if (stale && unlink(path) != 0 && errno != ENOENT)
        return sys_fail(-1, err, errlen, opt, path, "cannot remove the stale socket file");
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sys_fail(fd, err, errlen, opt, path, "socket");
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0)
        return sys_fail(fd, err, errlen, opt, path, "cannot bind");
    struct stat st;
    if (listen(fd, SOCK_BACKLOG) != 0 || lstat(path, &st) != 0) {
        sim_sock_result r = sys_fail(fd, err, errlen, opt, path, "listen");
        unlink(path);
        return r;
    }
    if (!(*out = sock_new(fd, true, path))) {
        close(fd);
        unlink(path);
        snprintf(err, errlen, "%s %s: out of memory", opt, path);
        return SIM_SOCK_SYSTEM;
    }
    (*out)->dev = st.st_dev;
    (*out)->ino = st.st_ino;
    return SIM_SOCK_OK;
}

/* ---- clients ------------------------------------------------------------- */

static void peer_text(sim_sock *s, const struct sockaddr_storage *sa)
{
    char host[INET6_ADDRSTRLEN] = "";
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(s->peer, sizeof s->peer, "%s:%u", host, (unsigned)ntohs(a->sin_port));
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(s->peer, sizeof s->peer, "[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
    } else {
        snprintf(s->peer, sizeof s->peer, "local");
    }
}

sim_sock_accept_result sim_sock_accept(sim_sock *s)
{
    struct sockaddr_storage sa;
    for (;;) {
        socklen_t len = sizeof sa;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? SIM_SOCK_ACCEPT_NONE : SIM_SOCK_ACCEPT_FAILED;
        }
        if (s->client_fd >= 0) {
            close(fd); /* one client at a time: the newcomer reads end of file */
            return SIM_SOCK_ACCEPT_REFUSED;
        }
        if (!s->is_unix) {
            /* the line paces bytes itself: each write leaves now, not when
             * Nagle's algorithm has gathered more */
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        s->client_fd = fd;
        peer_text(s, &sa);
        return SIM_SOCK_ACCEPT_CLIENT;
    }
}

void sim_sock_drop(sim_sock *s)
{
    if (s->client_fd >= 0)
        close(s->client_fd);
    s->client_fd = -1;
    s->peer[0] = 0;
}

void sim_sock_close(sim_sock *s)
{
    if (!s)
        return;
    sim_sock_drop(s);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    struct stat st;
    /* another process may have replaced the file since: leave theirs */
    if (s->is_unix && lstat(s->name, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == s->dev &&
        st.st_ino == s->ino)
        unlink(s->name);
    free(s);
}

int sim_sock_listen_fd(const sim_sock *s) { return s->listen_fd; }
int sim_sock_client_fd(const sim_sock *s) { return s->client_fd; }
bool sim_sock_is_unix(const sim_sock *s) { return s->is_unix; }
const char *sim_sock_name(const sim_sock *s) { return s->name; }
const char *sim_sock_peer(const sim_sock *s) { return s->peer; }
