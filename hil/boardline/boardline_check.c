/* boardline_check: compile test and example of mep_boardline.h.
 *
 *   boardline_check SOCKET     connect to mepsim's control socket, report the
 *                              boot order of module-behaviour 2 (transceiver
 *                              on, ENABLE off, ENABLE on), a recovery cycle's
 *                              transceiver off/on, and print one line per
 *                              answer mepsim gave
 *   boardline_check -          write the same events to stdout (no mepsim)
 *
 * tests/hil/test_boardline.py builds it with -Wall -Wextra -Werror (C11 and
 * C++17) and checks what mepsim counted. Exit status 0 when every event was
 * written and accepted, 1 otherwise.
 */
#include "mep_boardline.h"

#include <stdio.h>

static int fail(const char *what)
{
    fprintf(stderr, "boardline_check: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: boardline_check SOCKET|-\n");
        return 2;
    }
    int to_stdout = strcmp(argv[1], "-") == 0;
    int fd = to_stdout ? 1 : mep_boardline_connect(argv[1]);
    if (fd < 0)
        return fail(argv[1]);
    if (mep_boardline_connect(NULL) != -1 || mep_boardline_transceiver(-1, true) != MEP_BOARDLINE_ARG) {
        fprintf(stderr, "boardline_check: bad arguments were not refused\n");
        return 1;
    }
    if (mep_boardline_transceiver(fd, true) != MEP_BOARDLINE_OK ||
        mep_boardline_enable(fd, false) != MEP_BOARDLINE_OK ||
        mep_boardline_enable(fd, true) != MEP_BOARDLINE_OK ||
        mep_boardline_transceiver(fd, false) != MEP_BOARDLINE_OK ||
        mep_boardline_transceiver(fd, true) != MEP_BOARDLINE_OK)
        return fail("write");
    if (to_stdout)
        return 0;
    /* five answers, one per event; a blocking read until all are in */
    int lines = 0, refused = 0;
    char buf[256];
    while (lines < 5) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n <= 0)
            return fail("read");
        buf[n] = '\0';
        for (char *p = buf; (p = strchr(p, '\n')) != NULL; p++)
            lines++;
        if (strstr(buf, "\"ok\":false"))
            refused = 1;
    }
    if (mep_boardline_drain(fd) != MEP_BOARDLINE_OK)
        refused = 1;
    printf("answers %d refused %d\n", lines, refused);
    close(fd);
    return refused;
}
