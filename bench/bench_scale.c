/* bench_scale: how many meters one mepsim process serves.
 *
 * Starts one mepsim with N meters of one profile (--count N), each on its
 * own PTY, Unix socket or TCP port (--transport; "auto": PTYs up to 4000
 * meters, the kernel's default PTY limit being 4096, Unix sockets above),
 * connects to every one, and does one RC4 read transaction per second per
 * meter (start times spread evenly over the second) for a few seconds. For
 * each transaction it measures the time from writing the request to having
 * the whole reply, and subtracts the reply's wire time at the meter's baud
 * rate (10 bit times per byte; the PTY carries no baud, mepsim paces its
 * output as a wire would). What remains is the latency the emulator adds;
 * it prints p50/p99/max per N, mepsim's CPU share and CPU time per
 * transaction (from /proc), its RSS per meter and its start-up time (fork to
 * its "ready" line), and flags a first-byte p99 over the budget; every count
 * runs, a refusal (e.g. more meters than the build allows) is printed as one.
 * The completion figure also contains the pacer's write
 * granularity (bytes are written as they fall due, ~2 ms apart at most),
 * which delays the last byte by design and is reported separately.
 *
 * The meter's deliberate turnaround (policies reply_delay_ms and
 * reply_jitter_ms, 30 + 0..10 ms by default: docs/mep.md) is set to 0 here,
 * so the figures are what the emulator adds, not what it imitates.
 *
 * Usage: bench_scale --mepsim PATH [--counts 1,100,1000,4000,10000] [--baud 115200]
 *                    [--seconds S] [--budget-ms 1.0] [--transport auto|pty|unix|tcp]
 * A benchmark: it prints figures and never fails a build.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
#define BENCH_TCP_BASE 20000 /* --transport tcp: meter i on 127.0.0.1:BASE+i */

typedef enum { T_PTY, T_UNIX, T_TCP } transport;
static const char *const transport_name[] = {"pty", "unix", "tcp"};

/* The client end of meter i: open its PTY, or connect to its socket. -1
 * with errno on failure. */
static int connect_meter(transport t, const char *dir, int i)
{
    char path[512];
    if (t == T_PTY) {
        snprintf(path, sizeof path, "%s/m%d.pty", dir, i);
        int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK);
        if (fd >= 0) {
            struct termios tio;
            if (tcgetattr(fd, &tio) == 0) {
                cfmakeraw(&tio);
                tcsetattr(fd, TCSANOW, &tio);
            }
        }
        return fd;
    }
    int fd = socket(t == T_UNIX ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc;
    if (t == T_UNIX) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s/m%d.sock", dir, i);
        rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(BENCH_TCP_BASE + i)),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    }
    if (rc != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

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

/* CPU time (user + system) of a process in ms, from /proc/PID/stat; -1 if gone. */
static double proc_cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* Resident set of a process in KiB, from /proc/PID/status; -1 if gone. */
static long proc_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* Wait for mepsim's "mepsim: ready" line on its stdout (pipe fd); false on
 * exit or timeout. What it printed instead goes to stderr. */
static bool wait_ready(int fd, double deadline)
{
    char buf[4096];
    size_t have = 0;
    buf[0] = 0;
    while (now_ms() < deadline) {
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        have += (size_t)r;
        buf[have] = 0;
        if (strstr(buf, "mepsim: ready"))
            return true;
        if (have > sizeof buf / 2) { /* keep only the tail */
            memmove(buf, buf + have - 64, 64);
            have = 64;
        }
    }
    (void)buf;
    return false; /* the caller prints mepsim's own message */
}

/* Run one round with n meters; returns p99 first-byte latency in ms (or -1).
 *
 * The driver itself must not distort the figure: requests go out from a
 * cursor over the meters in the order they fall due (they are spread evenly
 * and each is due once a second, so the order never changes), not from a
 * scan of all N per wake-up; lost replies are looked for every 100 ms; and
 * epoll_wait's timeout is rounded up to the next whole ms, never truncated to
 * a 0 ms spin. The driver's own CPU time is printed beside mepsim's. */
static double run_round(const char *mepsim, int n, double seconds, const char *dir, transport tr_kind)
{
    char where[600], count[16], baud[16];
    if (tr_kind == T_PTY)
        snprintf(where, sizeof where, "%s/m%%d.pty", dir);
    else if (tr_kind == T_UNIX)
        snprintf(where, sizeof where, "%s/m%%d.sock", dir);
    else
        snprintf(where, sizeof where, "%d", BENCH_TCP_BASE);
    snprintf(count, sizeof count, "%d", n);
    snprintf(baud, sizeof baud, "%d", (int)g_baud);

    int out[2];
    if (pipe(out) != 0)
        return -1;
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/mepsim-%d.log", dir, n);
    double t_fork = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        int log = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (log >= 0)
            dup2(log, 2);
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        const char *flag = tr_kind == T_PTY ? "--pty" : tr_kind == T_UNIX ? "--unix" : "--tcp";
        execl(mepsim, mepsim, flag, where, "--count", count, "--baud", baud, "--mbk", KEY_TEXT, "--seq-start",
              "1000", "--seed", "1", "--policy", "reply_delay_ms=0", "--policy", "reply_jitter_ms=0",
              (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    if (!wait_ready(out[0], now_ms() + 60000 + n * 10.0)) {
        int st = 0;
        kill(pid, SIGTERM);
        waitpid(pid, &st, 0);
        close(out[0]);
        char why[300] = "";
        FILE *lf = fopen(logpath, "r");
        if (lf) {
            if (!fgets(why, sizeof why, lf))
                why[0] = 0;
            fclose(lf);
        }
        why[strcspn(why, "\n")] = 0;
        printf("%6d meters (%s): mepsim did not start (exit status %d): %s\n", n, transport_name[tr_kind],
               WIFEXITED(st) ? WEXITSTATUS(st) : -1, why);
        fflush(stdout);
        return -1;
    }
    double startup_ms = now_ms() - t_fork;
    double cpu_start = proc_cpu_ms(pid);
    long rss_start = proc_rss_kib(pid);

    bench_meter *ms = calloc((size_t)n, sizeof *ms);
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        if ((ms[i].fd = connect_meter(tr_kind, dir, i)) < 0) {
            fprintf(stderr, "bench_scale: meter %d (%s): %s\n", i, transport_name[tr_kind], strerror(errno));
            n = i;
            break;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, ms[i].fd, &ev);
        ms[i].seq = 1000;
    }
    size_t cap = (size_t)(n * (seconds + 2)), nlat = 0, timeouts = 0, bad = 0, overrun = 0;
    double *lat = calloc(cap + 1, sizeof *lat);
    double *first = calloc(cap + 1, sizeof *first);
    size_t nfirst = 0;
    double t0 = now_ms() + 200;
    for (int i = 0; i < n; i++)
        ms[i].next_at = t0 + 1000.0 * i / (n ? n : 1);
    double end = t0 + seconds * 1000.0, next_sweep = t0 + 100;
    double cpu_t0 = -1, cpu_t1 = -1, wall_t0 = 0, wall_t1 = 0;
    double self0 = proc_cpu_ms(getpid());
    int cur = 0;
    struct epoll_event evs[256];
    while (n > 0) {
        double t = now_ms();
        if (cpu_t0 < 0 && t >= t0) {
            cpu_t0 = proc_cpu_ms(pid);
            wall_t0 = t;
        }
        if (cpu_t1 < 0 && t >= end) {
            cpu_t1 = proc_cpu_ms(pid);
            wall_t1 = t;
        }
        if (t > end + 1500)
            break;
        /* requests due now, in order */
        while (ms[cur].next_at <= t && ms[cur].next_at < end) {
            bench_meter *b = &ms[cur];
            if (b->sent_at) {
                overrun++; /* the previous one is still out: skip this second */
            } else {
                uint8_t fr[64];
                size_t len = build_request(b->seq, fr);
                b->have = 0;
                b->first_at = 0;
                b->sent_at = now_ms();
                if (write(b->fd, fr, len) != (ssize_t)len)
                    bad++;
            }
            b->next_at += 1000.0;
            cur = (cur + 1) % n;
        }
        if (t >= next_sweep) { /* lost replies: count and move on */
            for (int i = 0; i < n; i++) {
                bench_meter *b = &ms[i];
                if (b->sent_at && t - b->sent_at > 2000) {
                    timeouts++;
                    b->sent_at = 0;
                    b->seq += 9; /* past the window: the next answer is 0x0C, counted as bad */
                }
            }
            next_sweep = t + 100;
        }
        double wake = ms[cur].next_at < end ? ms[cur].next_at : end + 1500;
        if (next_sweep < wake)
            wake = next_sweep;
        double dt = wake - now_ms();
        int timeout = dt <= 0 ? 0 : (int)ceil(dt);
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
    double self_ms = proc_cpu_ms(getpid()) - self0;
    long rss_end = proc_rss_kib(pid);
    (void)cpu_start;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    close(out[0]);
    for (int i = 0; i < n; i++)
        close(ms[i].fd);
    close(ep);
    double p50, p99, mx, f50, f99, fmx;
    percentiles(lat, nlat, &p50, &p99, &mx);
    percentiles(first, nfirst, &f50, &f99, &fmx);
    double wall = wall_t1 - wall_t0, cpu = cpu_t1 - cpu_t0;
    double cpu_pct = wall > 0 && cpu >= 0 ? 100.0 * cpu / wall : -1;
    double us_txn = nlat ? cpu * 1000.0 / (double)nlat : -1;
    long rss = rss_end > rss_start ? rss_end : rss_start;
    printf("%6d meters %-4s %7zu txns | first byte p50 %6.3f p99 %6.3f max %6.3f ms"
           " | complete-minus-wire p50 %6.3f p99 %6.3f ms | mepsim CPU %5.1f %% %6.1f us/txn"
           " | RSS %ld KiB (%.1f KiB/meter) | start-up %.0f ms | driver CPU %.1f %% | errors %zu lost %zu overrun %zu\n",
           n, transport_name[tr_kind], nlat, f50, f99, fmx, p50, p99, cpu_pct, us_txn, rss, n ? (double)rss / n : 0.0, startup_ms,
           wall > 0 ? 100.0 * self_ms / (wall + 1500) : 0.0, bad, timeouts, overrun);
    fflush(stdout);
    free(lat);
    free(first);
    free(ms);
    return nfirst ? f99 : -1; /* the stop rule uses first-byte latency: see the header */
}

int main(int argc, char **argv)
{
    const char *mepsim = NULL;
    char counts[256] = "1,100,1000,4000,10000";
    double seconds = 5, budget = 1.0;
    int tmode = -1; /* auto */
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
        else if (!strcmp(argv[i], "--transport") && i + 1 < argc) {
            const char *t = argv[++i];
            tmode = !strcmp(t, "pty") ? T_PTY : !strcmp(t, "unix") ? T_UNIX : !strcmp(t, "tcp") ? T_TCP
                    : !strcmp(t, "auto") ? -1 : -2;
            if (tmode == -2) {
                fprintf(stderr, "bench_scale: --transport %s: expected auto, pty, unix or tcp\n", t);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: %s --mepsim PATH [--counts LIST] [--seconds S] [--budget-ms MS] [--baud N] "
                    "[--transport auto|pty|unix|tcp]\n", argv[0]);
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
        transport t = tmode >= 0 ? (transport)tmode : n <= 4000 ? T_PTY : T_UNIX;
        double p99 = run_round(mepsim, n, seconds, dir, t);
        if (p99 > budget)
            printf("  over budget: first-byte p99 %.3f ms > %.3f ms at %d meters\n", p99, budget, n);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_scale: could not remove %s\n", dir);
    return 0;
}
