/* bench_scale: how many meters one mepsim process serves.
 *
 * Starts one mepsim with N meters, each on its own PTY (a generated --config
 * file), opens every PTY, and does one RC4 read transaction per second per
 * meter (start times spread evenly over the second) for a few seconds. For
 * each transaction it measures the time from writing the request to having
 * the whole reply, and subtracts the reply's wire time at the meter's baud
 * rate (10 bit times per byte; the PTY carries no baud, mepsim paces its
 * output as a wire would). What remains is the latency the emulator adds;
 * it prints p50/p99/max per N and stops once the first-byte p99 exceeds
 * the budget. The completion figure also contains the pacer's write
 * granularity (bytes are written as they fall due, ~2 ms apart at most),
 * which delays the last byte by design and is reported separately.
 *
 * Usage: bench_scale --mepsim PATH [--counts 1,10,100,500,1000,2000] [--baud 115200]
 *                    [--seconds S] [--budget-ms 1.0]
 * A benchmark: it prints figures and never fails a build.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "mep_digest.h"
#include "mep_frame.h"

#define KEY_TEXT "BENCHBENCHBENCHBENCH"   /* MBK, 20 ASCII chars; first 16 used */

typedef struct {
    int fd;
    uint32_t seq;
    uint8_t rx[MEP_MAX_FRAME + 16];
    size_t have;
    double sent_at;    /* ms, 0 = idle */
    double first_at;   /* ms, first reply byte seen (0 = none yet) */
    double next_at;    /* ms */
} bench_meter;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static size_t build_request(uint32_t seq, uint8_t *out)
{
    /* Partial read BT23 offset 0, 13 bytes: what a module polls (module-behaviour P1). */
    static const uint8_t req[] = {0x3F, 0x00, 0x17, 0x00, 0x00, 0x00, 0x00, 0x0D};
    uint8_t key[16];
    memcpy(key, KEY_TEXT, 16);
    size_t body = sizeof req + 4;
    mep_put_be16(out, (uint16_t)(body + 8));
    memcpy(out + 2, req, sizeof req);
    mep_put_be32(out + 2 + sizeof req, seq);
    mep_digest(key, out + 2, body, out + 2 + body);
    return 2 + body + 8;
}

static double g_baud = 115200.0;

static void percentiles(double *v, size_t n, double *p50, double *p99, double *mx)
{
    *p50 = *p99 = *mx = -1;
    if (!n)
        return;
    qsort(v, n, sizeof *v, cmp_double);
    *p50 = v[n / 2];
    *p99 = v[(size_t)floor(0.99 * (double)(n - 1))];
    *mx = v[n - 1];
}

/* Run one round with n meters; returns p99 added latency in ms (or -1). */
static double run_round(const char *mepsim, int n, double seconds, const char *dir)
{
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/bench-%d.json", dir, n);
    FILE *f = fopen(cfg, "w");
    if (!f)
        return -1;
    fprintf(f, "{\"meters\":[");
    for (int i = 0; i < n; i++)
        fprintf(f, "%s{\"name\":\"m%d\",\"pty\":\"%s/m%d.pty\",\"baud\":%d,\"mbk\":\"%s\",\"seq_start\":%d,\"seed\":%d}",
                i ? "," : "", i, dir, i, (int)g_baud, KEY_TEXT, 1000, i + 1);
    fprintf(f, "]}\n");
    fclose(f);

    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
        }
        execl(mepsim, mepsim, "--config", cfg, (char *)NULL);
        _exit(127);
    }
    bench_meter *ms = calloc((size_t)n, sizeof *ms);
    int ep = epoll_create1(0);
    double deadline = now_ms() + 10000 + n * 10.0;
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/m%d.pty", dir, i);
        while ((ms[i].fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK)) < 0 && now_ms() < deadline)
            usleep(2000);
        if (ms[i].fd < 0) {
            fprintf(stderr, "bench_scale: %s did not appear (%s)\n", path, strerror(errno));
            n = i;
            break;
        }
        struct termios t;
        if (tcgetattr(ms[i].fd, &t) == 0) {
            cfmakeraw(&t);
            tcsetattr(ms[i].fd, TCSANOW, &t);
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, ms[i].fd, &ev);
        ms[i].seq = 1000;
    }
    size_t cap = (size_t)(n * (seconds + 2)), nlat = 0, timeouts = 0, bad = 0;
    double *lat = calloc(cap + 1, sizeof *lat);
    double *first = calloc(cap + 1, sizeof *first);
    size_t nfirst = 0;
    double t0 = now_ms() + 200;
    for (int i = 0; i < n; i++)
        ms[i].next_at = t0 + 1000.0 * i / (n ? n : 1);
    double end = t0 + seconds * 1000.0;
    struct epoll_event evs[256];
    while (n > 0) {
        double t = now_ms();
        if (t > end + 1500)
            break;
        double wake = end + 1500;
        for (int i = 0; i < n; i++) {
            bench_meter *b = &ms[i];
            if (!b->sent_at && b->next_at <= t && b->next_at < end) {
                uint8_t fr[64];
                size_t len = build_request(b->seq, fr);
                b->have = 0;
                b->first_at = 0;
                b->sent_at = now_ms();
                if (write(b->fd, fr, len) != (ssize_t)len)
                    bad++;
                b->next_at += 1000.0;
            }
            if (b->sent_at && t - b->sent_at > 2000) { /* lost: count and move on */
                timeouts++;
                b->sent_at = 0;
                b->seq += 9; /* past the window: next answer is 0x0C; counted as bad */
            }
            if (!b->sent_at && b->next_at < wake)
                wake = b->next_at;
        }
        int timeout = (int)(wake - now_ms());
        if (timeout < 0)
            timeout = 0;
        if (timeout > 50)
            timeout = 50;
        int k = epoll_wait(ep, evs, 256, timeout);
        double tr = now_ms();
        for (int e = 0; e < k; e++) {
            bench_meter *b = &ms[evs[e].data.u32];
            ssize_t r = read(b->fd, b->rx + b->have, sizeof b->rx - b->have);
            if (r <= 0)
                continue;
            b->have += (size_t)r;
            if (b->sent_at && !b->first_at)
                b->first_at = tr;
            while (b->have >= 2 && b->rx[0] == 0 && b->rx[1] == 0) { /* alert: skip */
                memmove(b->rx, b->rx + 2, b->have - 2);
                b->have -= 2;
            }
            if (b->have >= 2 && b->have >= (size_t)mep_get_be16(b->rx) + 2u && b->sent_at) {
                size_t flen = (size_t)mep_get_be16(b->rx) + 2u;
                double wire = flen * 10.0 * 1000.0 / g_baud;
                if (b->rx[2] == MEP_RSP_OK) {
                    if (nlat < cap)
                        lat[nlat++] = (tr - b->sent_at) - wire;
                    if (nfirst < cap)
                        first[nfirst++] = b->first_at - b->sent_at;
                    b->seq++;
                } else {
                    bad++;
                    if (b->rx[2] == MEP_RSP_SEQ && flen >= 7)
                        b->seq = mep_get_be32(b->rx + 3);
                }
                b->sent_at = 0;
                b->have = 0;
            }
        }
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    for (int i = 0; i < n; i++)
        close(ms[i].fd);
    close(ep);
    double p50, p99, mx, f50, f99, fmx;
    percentiles(lat, nlat, &p50, &p99, &mx);
    percentiles(first, nfirst, &f50, &f99, &fmx);
    printf("%6d meters %7zu txns | first byte p50 %6.3f p99 %6.3f max %6.3f ms"
           " | complete-minus-wire p50 %6.3f p99 %6.3f max %6.3f ms | errors %zu lost %zu\n",
           n, nlat, f50, f99, fmx, p50, p99, mx, bad, timeouts);
    fflush(stdout);
    free(lat);
    free(first);
    free(ms);
    return nfirst ? f99 : -1; /* the stop rule uses first-byte latency: see the header */
}

int main(int argc, char **argv)
{
    const char *mepsim = NULL;
    char counts[256] = "1,10,100,500,1000,2000";
    double seconds = 5, budget = 1.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mepsim") && i + 1 < argc)
            mepsim = argv[++i];
        else if (!strcmp(argv[i], "--counts") && i + 1 < argc)
            snprintf(counts, sizeof counts, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--budget-ms") && i + 1 < argc)
            budget = atof(argv[++i]);
        else if (!strcmp(argv[i], "--baud") && i + 1 < argc)
            g_baud = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s --mepsim PATH [--counts LIST] [--seconds S] [--budget-ms MS] [--baud N]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!mepsim || seconds <= 0 || g_baud < 300) {
        fprintf(stderr, "bench_scale: --mepsim PATH is required (and --seconds > 0)\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    char dir[] = "/tmp/bench_scale.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    printf("bench_scale: one BT23 read (13 bytes) per meter per second, %.0f s per round, %g baud;\n"
           "  first byte = request written -> first reply byte read (processing + scheduling);\n"
           "  complete-minus-wire = whole reply read, minus its wire time at the baud rate\n",
           seconds, g_baud);
    for (char *tok = strtok(counts, ","); tok; tok = strtok(NULL, ",")) {
        int n = atoi(tok);
        if (n < 1)
            continue;
        double p99 = run_round(mepsim, n, seconds, dir);
        if (p99 < 0 || p99 > budget) {
            printf("stopping: p99 %.3f ms over the %.3f ms budget at %d meters\n", p99, budget, n);
            break;
        }
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_scale: could not remove %s\n", dir);
    return 0;
}
