/* mep_boardline.h: report a module's control lines to the mepsim emulator.
 *
 * The board-line protocol (docs/board-line-protocol.md): a firmware running
 * on a PC against mepsim tells the emulated meter when it switches its
 * RS-232 transceiver's supply and the meter's ENABLE input, so the meter's
 * line model (no reception while the transceiver is off, no reply while
 * ENABLE is released, the MAX3232 latch-up of scenario S09 cleared only by a
 * long enough power cycle) reacts as a real meter would. Each event is one
 * JSON line on mepsim's control socket (`mepsim --control PATH`):
 *
 *     {"line":"transceiver","on":true}\n
 *     {"line":"enable","on":false}\n
 *
 * mepsim answers every line with one line, {"ok":true} or
 * {"ok":false,"error":"..."}; read and discard the answers now and then
 * (mep_boardline_drain) so they do not pile up.
 *
 * Header only, no dependencies beyond POSIX sockets, no state: the caller
 * owns the file descriptor. Include it before any system header, or build
 * with _POSIX_C_SOURCE >= 200809L (MSG_NOSIGNAL, MSG_DONTWAIT).
 *
 *     int fd = mep_boardline_connect("/tmp/run/meter.ctl");
 *     if (fd >= 0) {
 *         mep_boardline_transceiver(fd, true);   // supply on
 *         ...1000 ms later (module-behaviour 2)...
 *         mep_boardline_enable(fd, true);        // ENABLE asserted
 *     }
 *
 * After (re)connecting, report both lines: mepsim takes a line as "on"
 * until it is told otherwise.
 */
#ifndef MEP_BOARDLINE_H
#define MEP_BOARDLINE_H

#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

/* Result of every call; MEP_BOARDLINE_IO leaves errno as the system set it. */
typedef enum {
    MEP_BOARDLINE_OK = 0,      /* the event was written (or: every answer read was ok) */
    MEP_BOARDLINE_IO = -1,     /* write/read failed or the peer closed: reconnect */
    MEP_BOARDLINE_ARG = -2,    /* bad argument (negative fd, NULL or too long path) */
    MEP_BOARDLINE_REFUSED = -3 /* mep_boardline_drain: mepsim answered {"ok":false,...} */
} mep_boardline_result;

/* Connect to mepsim's control socket (a Unix stream socket at `path`).
 * @return the connected fd (close-on-exec), or -1 with errno set
 *         (ENAMETOOLONG when path does not fit sockaddr_un). */
static inline int mep_boardline_connect(const char *path)
{
    struct sockaddr_un sa;
    if (path == NULL || strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(fd, (const struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Write one whole line; a socket gets MSG_NOSIGNAL (no SIGPIPE when mepsim
 * is gone), any other fd (a pipe, a file in a test) plain write(). */
static inline mep_boardline_result mep_boardline_write_line(int fd, const char *msg, size_t len)
{
    if (fd < 0 || msg == NULL)
        return MEP_BOARDLINE_ARG;
    size_t done = 0;
    while (done < len) {
        ssize_t n = send(fd, msg + done, len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, msg + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return MEP_BOARDLINE_IO;
        done += (size_t)n;
    }
    return MEP_BOARDLINE_OK;
}

/* The RS-232 transceiver's supply (MAX3232 VCC) was switched on or off.
 * docs/board-line-protocol.md: {"line":"transceiver","on":true|false} */
static inline mep_boardline_result mep_boardline_transceiver(int fd, bool on)
{
    static const char on_msg[] = "{\"line\":\"transceiver\",\"on\":true}\n";
    static const char off_msg[] = "{\"line\":\"transceiver\",\"on\":false}\n";
    return on ? mep_boardline_write_line(fd, on_msg, sizeof on_msg - 1)
              : mep_boardline_write_line(fd, off_msg, sizeof off_msg - 1);
}

/* The meter's ENABLE input was asserted (on) or released (off); the
 * electrical level is the firmware's business (module-behaviour 2: active
 * low on the MCU pin). docs/board-line-protocol.md: {"line":"enable",...} */
static inline mep_boardline_result mep_boardline_enable(int fd, bool on)
{
    static const char on_msg[] = "{\"line\":\"enable\",\"on\":true}\n";
    static const char off_msg[] = "{\"line\":\"enable\",\"on\":false}\n";
    return on ? mep_boardline_write_line(fd, on_msg, sizeof on_msg - 1)
              : mep_boardline_write_line(fd, off_msg, sizeof off_msg - 1);
}

/* Read and discard the answers that have arrived, without blocking.
 * @return MEP_BOARDLINE_OK (all ok, or none yet), MEP_BOARDLINE_REFUSED
 *         (at least one {"ok":false,...}), MEP_BOARDLINE_IO (peer closed). */
static inline mep_boardline_result mep_boardline_drain(int fd)
{
    if (fd < 0)
        return MEP_BOARDLINE_ARG;
    mep_boardline_result r = MEP_BOARDLINE_OK;
    char buf[512];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return r;
        if (n <= 0)
            return MEP_BOARDLINE_IO;
        buf[n] = '\0';
        if (strstr(buf, "\"ok\":false") != NULL)
            r = MEP_BOARDLINE_REFUSED;
    }
}

#endif /* MEP_BOARDLINE_H */
