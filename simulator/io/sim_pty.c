/* sim_pty: PTY + symlink for an emulated serial line (see sim_pty.h). */
#define _GNU_SOURCE 1 /* ptsname_r, cfmakeraw */
#include "sim_pty.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

int sim_pty_create(const char *opt, const char *path, char *device, size_t devcap, int *master,
                   int *slave, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISLNK(st.st_mode)) {
        snprintf(err, errlen, "%s %s: exists and is not a symlink; refusing to overwrite it", opt, path);
        return -1;
    }
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0) {
        snprintf(err, errlen, "%s %s: posix_openpt: %s", opt, path, strerror(errno));
        return -1;
    }
    if (grantpt(m) != 0 || unlockpt(m) != 0 || ptsname_r(m, device, devcap) != 0) {
        snprintf(err, errlen, "%s %s: pty setup: %s", opt, path, strerror(errno));
        close(m);
        return -1;
    }
    int s = open(device, O_RDWR | O_NOCTTY);
    if (s < 0) {
        snprintf(err, errlen, "%s %s: open %s: %s", opt, path, device, strerror(errno));
        close(m);
        return -1;
    }
    /* Raw 9600 8N1: the line's pacing, not the PTY, models the baud rate. */
    struct termios t;
    if (tcgetattr(s, &t) == 0) {
        cfmakeraw(&t);
        cfsetspeed(&t, B9600);
        tcsetattr(s, TCSANOW, &t);
    }
    fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
    fcntl(m, F_SETFD, FD_CLOEXEC);
    fcntl(s, F_SETFD, FD_CLOEXEC);
    if (lstat(path, &st) == 0 && unlink(path) != 0) {
        snprintf(err, errlen, "%s %s: cannot replace old symlink: %s", opt, path, strerror(errno));
        close(s);
        close(m);
        return -1;
    }
    if (symlink(device, path) != 0) {
        snprintf(err, errlen, "%s %s: cannot create symlink: %s", opt, path, strerror(errno));
        close(s);
        close(m);
        return -1;
    }
    *master = m;
    *slave = s;
    return 0;
}
