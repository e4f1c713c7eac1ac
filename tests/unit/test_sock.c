/* Check suite: the socket device of a meter line (sim_sock) and the line's
 * device layer without a client (sim_serial on a socket and on a PTY with
 * the hang-up set, sim_pty_hub), on a real libev loop over loopback.
 *
 * Covered: "ADDR:PORT" parsing (IPv4, bracketed IPv6, bare port, every
 * malformed form and out-of-range port refused with a message); TCP
 * listening (one client at a time: a second is accepted and closed, it
 * reads end of file; port in use refused; SO_REUSEADDR lets a restarted
 * listener take its port back at once); Unix paths (live socket refused
 * naming the path, stale socket file replaced, a non-socket file refused
 * and left alone, too long a path refused, the side-effect-free check a config runs first, the file removed on close only
 * while it is still ours); sim_serial on both sockets (bytes both ways,
 * bytes with no client lost, reconnect after the client leaves, the first
 * client keeps the line when a second knocks); sim_serial on a PTY with a
 * hang-up set (one fd per PTY, the loop stays idle while nobody has the PTY
 * open, a client that opens it later is heard) and without one (the kept
 * slave). */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <ev.h>

#include "check_run.h"
#include "sim_pty.h"
#include "sim_serial.h"
#include "sim_sock.h"

/* ---- helpers ---- */

/* A loopback port free right now (bound to 0, read back, released). */
static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int tcp_connect(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static int unix_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(path), sizeof a.sun_path);
    memcpy(a.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Bytes readable on fd within ms (0: end of file, -1: nothing). */
static ssize_t read_within(int fd, uint8_t *buf, size_t cap, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return recv(fd, buf, cap, 0);
}

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_sock.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[600];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(tmpdir);
}

/* Open fds of this process that are `target` (a /dev/pts/N). */
static int fds_on(const char *target)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        char p[300], t[300];
        snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
        ssize_t k = readlink(p, t, sizeof t - 1);
        if (k > 0) {
            t[k] = 0;
            n += strcmp(t, target) == 0;
        }
    }
    if (d)
        closedir(d);
    return n;
}

/* ---- address parsing ---- */

START_TEST(parse_accepts_ipv4_ipv6_and_a_bare_port)
{
    sim_sock_addr a;
    char err[200];
    ck_assert_int_eq(sim_sock_parse_tcp("--tcp", "127.0.0.1:5000", &a, err, sizeof err), SIM_SOCK_OK);
    ck_assert_str_eq(a.text, "127.0.0.1:5000");
    ck_assert_int_eq(a.sa.ss_family, AF_INET);
    ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&a.sa)->sin_port), 5000);
    ck_assert_int_eq(sim_sock_parse_tcp("--tcp", "[::1]:65535", &a, err, sizeof err), SIM_SOCK_OK);
    ck_assert_str_eq(a.text, "[::1]:65535");
    ck_assert_int_eq(a.sa.ss_family, AF_INET6);
    ck_assert_int_eq(sim_sock_parse_tcp("--tcp", "1", &a, err, sizeof err), SIM_SOCK_OK);
    ck_assert_str_eq(a.text, "127.0.0.1:1"); /* loopback by default */
}
END_TEST

static const struct {
    const char *spec, *why;
} BAD_TCP[] = {
    {"127.0.0.1:0", "port must be a number from 1 to 65535"},
    {"127.0.0.1:70000", "port must be a number from 1 to 65535"},
    {"127.0.0.1:65536", "port must be a number from 1 to 65535"},
    {"127.0.0.1:", "port must be a number from 1 to 65535"},
    {"127.0.0.1:50a", "port must be a number from 1 to 65535"},
    {"127.0.0.1:-5", "port must be a number from 1 to 65535"},
    {"localhost:5000", "not a numeric IPv4 address"},
    {"300.1.1.1:5000", "not a numeric IPv4 address"},
    {"::1:5000", "an IPv6 address goes in brackets"},
    {"[::1]5000", "expected [IPv6]:PORT"},
    {"[::1:5000", "expected [IPv6]:PORT"},
    {"[127.0.0.1]:5000", "not a numeric IPv6 address"},
    {":5000", "expected ADDR:PORT"},
    {"", "expected [ADDR:]PORT"},
};

START_TEST(parse_refuses_malformed_addresses_and_ports)
{
    sim_sock_addr a;
    char err[200];
    const char *spec = BAD_TCP[_i].spec;
    ck_assert_int_eq(sim_sock_parse_tcp("--tcp", spec, &a, err, sizeof err), SIM_SOCK_BAD_ADDRESS);
    ck_assert_msg(strstr(err, BAD_TCP[_i].why) != NULL, "%s: %s", spec, err);
    ck_assert_msg(strncmp(err, "--tcp ", 6) == 0, "%s: %s", spec, err);
    /* opening refuses the same way and creates nothing */
    sim_sock *s = (sim_sock *)1;
    ck_assert_int_eq(sim_sock_open_tcp("--tcp", spec, &s, err, sizeof err), SIM_SOCK_BAD_ADDRESS);
    ck_assert_ptr_null(s);
}
END_TEST

/* ---- TCP ---- */

START_TEST(tcp_serves_one_client_at_a_time)
{
    char spec[40], err[200];
    unsigned port = free_port();
    snprintf(spec, sizeof spec, "127.0.0.1:%u", port);
    sim_sock *s;
    ck_assert_int_eq(sim_sock_open_tcp("--tcp", spec, &s, err, sizeof err), SIM_SOCK_OK);
    ck_assert_str_eq(sim_sock_name(s), spec);
    ck_assert_int_eq(sim_sock_client_fd(s), -1);
    ck_assert_int_eq(sim_sock_accept(s), SIM_SOCK_ACCEPT_NONE);
    int c1 = tcp_connect(port);
    ck_assert_int_eq(sim_sock_accept(s), SIM_SOCK_ACCEPT_CLIENT);
    ck_assert_int_ge(sim_sock_client_fd(s), 0);
    ck_assert_ptr_nonnull(strstr(sim_sock_peer(s), "127.0.0.1:"));
    int c2 = tcp_connect(port);
    ck_assert_int_eq(sim_sock_accept(s), SIM_SOCK_ACCEPT_REFUSED);
    uint8_t b[8];
    ck_assert_int_eq(read_within(c2, b, sizeof b, 1000), 0); /* the newcomer reads end of file */
    ck_assert_int_eq(send(sim_sock_client_fd(s), "x", 1, 0), 1); /* the first keeps the line */
    ck_assert_int_eq(read_within(c1, b, sizeof b, 1000), 1);
    close(c2);
    close(c1);
    sim_sock_drop(s);
    ck_assert_int_eq(sim_sock_client_fd(s), -1);
    ck_assert_str_eq(sim_sock_peer(s), "");
    int c3 = tcp_connect(port); /* the next client is served */
    ck_assert_int_eq(sim_sock_accept(s), SIM_SOCK_ACCEPT_CLIENT);
    close(c3);
    sim_sock_close(s);
}
END_TEST

START_TEST(tcp_port_in_use_is_refused_and_reuse_after_close_works)
{
    char spec[40], err[200];
    unsigned port = free_port();
    snprintf(spec, sizeof spec, "127.0.0.1:%u", port);
    sim_sock *s, *t;
    ck_assert_int_eq(sim_sock_open_tcp("--tcp", spec, &s, err, sizeof err), SIM_SOCK_OK);
    ck_assert_int_eq(sim_sock_open_tcp("--tcp", spec, &t, err, sizeof err), SIM_SOCK_IN_USE);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err, spec) && strstr(err, "in use"), "%s", err);
    /* a connection closed by our side lingers in TIME_WAIT: SO_REUSEADDR
     * still lets a restarted meter listen there at once */
    int c = tcp_connect(port);
    ck_assert_int_eq(sim_sock_accept(s), SIM_SOCK_ACCEPT_CLIENT);
    sim_sock_close(s);
    close(c);
    ck_assert_int_eq(sim_sock_open_tcp("--tcp", spec, &s, err, sizeof err), SIM_SOCK_OK);
    sim_sock_close(s);
}
END_TEST

/* ---- Unix ---- */

START_TEST(unix_live_socket_is_refused_naming_the_path)
{
    make_tmpdir();
    char path[300], err[400];
    snprintf(path, sizeof path, "%s/m.sock", tmpdir);
    sim_sock *s, *t;
    ck_assert_int_eq(sim_sock_open_unix("--unix", path, &s, err, sizeof err), SIM_SOCK_OK);
    ck_assert(sim_sock_is_unix(s));
    struct stat st0, st1;
    ck_assert_int_eq(lstat(path, &st0), 0);
    ck_assert_int_eq(sim_sock_check_unix("--unix", path, err, sizeof err), SIM_SOCK_IN_USE);
    ck_assert_msg(strstr(err, path) && strstr(err, "live socket"), "%s", err);
    ck_assert_int_eq(sim_sock_accept(s), SIM_SOCK_ACCEPT_CLIENT); /* the check's probe, gone at once */
    sim_sock_drop(s);
    ck_assert_int_eq(sim_sock_open_unix("--unix", path, &t, err, sizeof err), SIM_SOCK_IN_USE);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err, path) && strstr(err, "live socket"), "%s", err);
    ck_assert_int_eq(lstat(path, &st1), 0);
    ck_assert_uint_eq(st0.st_ino, st1.st_ino); /* untouched */
    /* the probe that found it live connected and left: the listener sees
     * a client that is gone at once */
    ck_assert_int_eq(sim_sock_accept(s), SIM_SOCK_ACCEPT_CLIENT);
    sim_sock_drop(s);
    int c = unix_connect(path);
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(sim_sock_accept(s), SIM_SOCK_ACCEPT_CLIENT);
    ck_assert_str_eq(sim_sock_peer(s), "local");
    int c2 = unix_connect(path);
    ck_assert_int_eq(sim_sock_accept(s), SIM_SOCK_ACCEPT_REFUSED);
    uint8_t b[4];
    ck_assert_int_eq(read_within(c2, b, sizeof b, 1000), 0);
    close(c2);
    close(c);
    sim_sock_close(s);
    ck_assert_int_ne(lstat(path, &st1), 0); /* ours: removed */
    remove_tmpdir();
}
END_TEST

START_TEST(unix_stale_socket_file_is_replaced)
{
    make_tmpdir();
    char path[300], err[400];
    snprintf(path, sizeof path, "%s/stale.sock", tmpdir);
    /* a socket file nobody accepts on (a crashed process left it) */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(path), sizeof a.sun_path);
    memcpy(a.sun_path, path, strlen(path) + 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
    ck_assert_int_lt(unix_connect(path), 0);
    ck_assert_int_eq(sim_sock_check_unix("--unix", path, err, sizeof err), SIM_SOCK_OK);
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0); /* a check changes nothing */
    sim_sock *s;
    ck_assert_int_eq(sim_sock_open_unix("--unix", path, &s, err, sizeof err), SIM_SOCK_OK);
    int c = unix_connect(path);
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(sim_sock_accept(s), SIM_SOCK_ACCEPT_CLIENT);
    close(c);
    sim_sock_close(s);
    remove_tmpdir();
}
END_TEST

START_TEST(unix_refuses_a_file_that_is_not_a_socket_and_too_long_a_path)
{
    make_tmpdir();
    char path[300], err[400];
    snprintf(path, sizeof path, "%s/plain", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("keep me", f);
    fclose(f);
    sim_sock *s;
    ck_assert_int_eq(sim_sock_open_unix("--unix", path, &s, err, sizeof err), SIM_SOCK_IN_USE);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, path) && strstr(err, "not a socket"), "%s", err);
    ck_assert_int_eq(sim_sock_check_unix("--unix", path, err, sizeof err), SIM_SOCK_IN_USE);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 7);
    char longp[200];
    memset(longp, 'x', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = 0;
    ck_assert_int_eq(sim_sock_open_unix("--unix", longp, &s, err, sizeof err), SIM_SOCK_BAD_ADDRESS);
    ck_assert_ptr_nonnull(strstr(err, "longer than"));
    ck_assert_int_eq(sim_sock_open_unix("--unix", "", &s, err, sizeof err), SIM_SOCK_BAD_ADDRESS);
    remove_tmpdir();
}
END_TEST

START_TEST(unix_file_replaced_by_another_is_left_on_close)
{
    make_tmpdir();
    char path[300], err[400];
    snprintf(path, sizeof path, "%s/m.sock", tmpdir);
    sim_sock *s, *t;
    ck_assert_int_eq(sim_sock_open_unix("--unix", path, &s, err, sizeof err), SIM_SOCK_OK);
    /* someone removes our file and another listener takes the path */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(sim_sock_open_unix("--unix", path, &t, err, sizeof err), SIM_SOCK_OK);
    sim_sock_close(s);
    int c = unix_connect(path); /* the other one's file is still there */
    ck_assert_int_ge(c, 0);
    close(c);
    sim_sock_close(t);
    struct stat st;
    ck_assert_int_ne(lstat(path, &st), 0);
    remove_tmpdir();
}
END_TEST

/* ---- sim_serial on a socket / PTY (libev) ---- */

typedef struct {
    uint8_t rx[256];
    size_t n_rx;
    unsigned idles;
} sink;

static void on_rx(void *ctx, const uint8_t *b, size_t n, uint64_t now_us)
{
    sink *k = ctx;
    (void)now_us;
    for (size_t i = 0; i < n && k->n_rx < sizeof k->rx; i++)
        k->rx[k->n_rx++] = b[i];
}

static void on_idle(void *ctx) { ((sink *)ctx)->idles++; }

static void on_stop(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ONE);
}

/* Run loop for ms; returns the loop iterations it took. */
static unsigned run_for(struct ev_loop *loop, int ms)
{
    ev_timer t;
    ev_timer_init(&t, on_stop, ms / 1000.0, 0.0);
    ev_now_update(loop);
    ev_timer_start(loop, &t);
    unsigned before = ev_iteration(loop);
    ev_run(loop, 0);
    ev_timer_stop(loop, &t);
    return ev_iteration(loop) - before;
}

/* Run until k has n bytes (at most 2 s). */
static void run_until_rx(struct ev_loop *loop, sink *k, size_t n)
{
    for (int i = 0; i < 200 && k->n_rx < n; i++)
        run_for(loop, 10);
    ck_assert_uint_ge(k->n_rx, n);
}

static sim_serial *open_on(struct ev_loop *loop, sink *k, const char *tcp, const char *unix_path,
                           const char *pty, sim_pty_hub *hub, FILE *log)
{
    sim_serial_cfg c = {.tcp = tcp, .unix_path = unix_path, .pty_path = pty, .pty_hub = hub, .baud = 9600,
                        .who = "m0", .log = log, .verbose = 1, .rx = on_rx, .idle = on_idle, .ctx = k};
    char err[300];
    sim_serial *s = sim_serial_open(loop, &c, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

/* One scenario for both socket kinds: connect(arg) gives a client fd. */
static void serial_socket_scenario(const char *tcp, const char *unix_path, int (*connect_fn)(const void *),
                                   const void *arg, sim_serial_kind kind)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char *logbuf = NULL;
    size_t loglen = 0;
    FILE *log = open_memstream(&logbuf, &loglen);
    sink k = {0};
    sim_serial *s = open_on(loop, &k, tcp, unix_path, NULL, NULL, log);
    ck_assert_int_eq(sim_serial_get_kind(s), kind);
    ck_assert(!sim_serial_is_pty(s));
    ck_assert(!sim_serial_has_client(s));
    ck_assert_int_eq(sim_serial_fd(s), -1);
    /* no client: bytes are lost, counted by the caller */
    ck_assert_uint_eq(sim_serial_write(s, (const uint8_t *)"abc", 3), 3);

    int c1 = connect_fn(arg);
    run_for(loop, 20);
    ck_assert(sim_serial_has_client(s));
    ck_assert_int_eq(send(c1, "req", 3, 0), 3);
    run_until_rx(loop, &k, 3);
    ck_assert_int_eq(memcmp(k.rx, "req", 3), 0);
    ck_assert_uint_eq(sim_serial_write(s, (const uint8_t *)"rsp", 3), 0);
    uint8_t b[16];
    ck_assert_int_eq(read_within(c1, b, sizeof b, 1000), 3);
    ck_assert_int_eq(memcmp(b, "rsp", 3), 0);

    /* a second client is closed at once; the first keeps the line */
    int c2 = connect_fn(arg);
    run_for(loop, 20);
    ck_assert_int_eq(read_within(c2, b, sizeof b, 1000), 0);
    close(c2);
    ck_assert_int_eq(send(c1, "x", 1, 0), 1);
    run_until_rx(loop, &k, 4);
    ck_assert(sim_serial_has_client(s));

    /* the client leaves: the line listens for the next one */
    close(c1);
    run_for(loop, 20);
    ck_assert(!sim_serial_has_client(s));
    ck_assert_uint_eq(sim_serial_write(s, (const uint8_t *)"lost", 4), 4);
    unsigned iters = run_for(loop, 100);
    ck_assert_uint_lt(iters, 20); /* idle, not spinning */

    int c3 = connect_fn(arg);
    run_for(loop, 20);
    ck_assert_int_eq(send(c3, "again", 5, 0), 5);
    run_until_rx(loop, &k, 9);
    ck_assert_int_eq(memcmp(k.rx + 4, "again", 5), 0);
    /* paced bytes reach the new client */
    ck_assert_uint_eq(sim_serial_send(s, (const uint8_t *)"ok", 2), 0);
    run_for(loop, 20);
    ck_assert_int_eq(read_within(c3, b, sizeof b, 1000), 2);
    close(c3);
    run_for(loop, 20);
    sim_serial_close(s);
    ev_loop_destroy(loop);
    fclose(log);
    ck_assert_msg(strstr(logbuf, "m0 client") && strstr(logbuf, "connected to"), "%s", logbuf);
    ck_assert_msg(strstr(logbuf, "another client connected and was closed"), "%s", logbuf);
    ck_assert_msg(strstr(logbuf, "listening for the next"), "%s", logbuf);
    free(logbuf);
}

static int connect_tcp_arg(const void *arg) { return tcp_connect(*(const unsigned *)arg); }
static int connect_unix_arg(const void *arg)
{
    int fd = unix_connect(arg);
    ck_assert_int_ge(fd, 0);
    return fd;
}

START_TEST(serial_on_tcp_keeps_running_across_clients)
{
    unsigned port = free_port();
    char spec[40];
    snprintf(spec, sizeof spec, "127.0.0.1:%u", port);
    serial_socket_scenario(spec, NULL, connect_tcp_arg, &port, SIM_SERIAL_TCP);
}
END_TEST

START_TEST(serial_on_unix_keeps_running_across_clients)
{
    make_tmpdir();
    char path[300];
    snprintf(path, sizeof path, "%s/line.sock", tmpdir);
    serial_socket_scenario(NULL, path, connect_unix_arg, path, SIM_SERIAL_UNIX);
    struct stat st;
    ck_assert_int_ne(lstat(path, &st), 0); /* removed on close */
    remove_tmpdir();
}
END_TEST

START_TEST(serial_refuses_two_devices_and_bad_sockets)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    sink k = {0};
    char err[300];
    sim_serial_cfg c = {.tcp = "127.0.0.1:5000", .unix_path = "/tmp/x.sock", .rx = on_rx, .ctx = &k};
    ck_assert_ptr_null(sim_serial_open(loop, &c, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "exactly one of --pty, --uart, --tcp or --unix"));
    sim_serial_cfg d = {.tcp = "127.0.0.1:70000", .tcp_opt = "--optical-tcp", .rx = on_rx, .ctx = &k};
    ck_assert_ptr_null(sim_serial_open(loop, &d, err, sizeof err));
    ck_assert_str_eq(err, "--optical-tcp 127.0.0.1:70000: port must be a number from 1 to 65535");
    ev_loop_destroy(loop);
}
END_TEST

/* A client of the PTY: open, raw, as SerialLink does. */
static int pty_client(const char *path)
{
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    return fd;
}

START_TEST(pty_with_hangup_set_has_one_fd_and_idles_while_closed)
{
    make_tmpdir();
    char path[300];
    snprintf(path, sizeof path, "%s/m.pty", tmpdir);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char err[200];
    sim_pty_hub *hub = sim_pty_hub_new(loop, err, sizeof err);
    ck_assert_ptr_nonnull(hub);
    sink k = {0};
    FILE *log = fopen("/dev/null", "w");
    sim_serial *s = open_on(loop, &k, NULL, NULL, path, hub, log);
    const char *dev = sim_serial_device(s);
    ck_assert_int_eq(fds_on(dev), 0); /* no slave kept */
    ck_assert(sim_serial_has_client(s));
    /* raw mode set through the master reaches the slave */
    int c = pty_client(path);
    struct termios t;
    ck_assert_int_eq(tcgetattr(c, &t), 0);
    ck_assert(!(t.c_lflag & (ICANON | ECHO)));
    ck_assert_int_eq(write(c, "one", 3), 3);
    run_until_rx(loop, &k, 3);
    close(c);
    run_for(loop, 20);
    ck_assert_uint_eq(sim_pty_hub_parked(hub), 1);
    ck_assert(!sim_serial_has_client(s));
    /* nobody has it open: the loop sleeps (a spinning read watcher would
     * run thousands of iterations in 200 ms); the line may still write */
    ck_assert_uint_eq(sim_serial_write(s, (const uint8_t *)"al", 2), 0);
    unsigned iters = run_for(loop, 200);
    ck_assert_uint_lt(iters, 20);
    /* a client that opens it later is heard */
    c = pty_client(path);
    tcflush(c, TCIOFLUSH);
    ck_assert_int_eq(write(c, "two", 3), 3);
    run_until_rx(loop, &k, 6);
    ck_assert_int_eq(memcmp(k.rx, "onetwo", 6), 0);
    ck_assert_uint_eq(sim_pty_hub_parked(hub), 0);
    ck_assert(sim_serial_has_client(s));
    ck_assert_uint_eq(sim_serial_write(s, (const uint8_t *)"rsp", 3), 0);
    uint8_t b[8];
    run_for(loop, 10);
    ck_assert_int_eq(read(c, b, sizeof b), 3);
    /* open, write and close before the loop looks: still heard */
    close(c);
    run_for(loop, 20);
    c = pty_client(path);
    ck_assert_int_eq(write(c, "3", 1), 1);
    close(c);
    run_until_rx(loop, &k, 7);
    run_for(loop, 20);
    ck_assert_uint_eq(sim_pty_hub_parked(hub), 1);
    sim_serial_close(s); /* leaves the set */
    ck_assert_uint_eq(sim_pty_hub_parked(hub), 0);
    struct stat st;
    ck_assert_int_ne(lstat(path, &st), 0); /* symlink removed */
    sim_pty_hub_free(hub);
    ev_loop_destroy(loop);
    fclose(log);
    remove_tmpdir();
}
END_TEST

START_TEST(pty_without_hangup_set_keeps_a_slave_open)
{
    make_tmpdir();
    char path[300];
    snprintf(path, sizeof path, "%s/m.pty", tmpdir);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    sink k = {0};
    sim_serial *s = open_on(loop, &k, NULL, NULL, path, NULL, NULL);
    ck_assert_int_eq(fds_on(sim_serial_device(s)), 1);
    int c = pty_client(path);
    ck_assert_int_eq(write(c, "hi", 2), 2);
    run_until_rx(loop, &k, 2);
    close(c);
    ck_assert_uint_lt(run_for(loop, 100), 20);
    sim_serial_close(s);
    ev_loop_destroy(loop);
    remove_tmpdir();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sock");
    TCase *t = tcase_create("address");
    tcase_add_test(t, parse_accepts_ipv4_ipv6_and_a_bare_port);
    tcase_add_loop_test(t, parse_refuses_malformed_addresses_and_ports, 0,
                        (int)(sizeof BAD_TCP / sizeof BAD_TCP[0]));
    suite_add_tcase(s, t);
    t = tcase_create("listen");
    tcase_add_test(t, tcp_serves_one_client_at_a_time);
    tcase_add_test(t, tcp_port_in_use_is_refused_and_reuse_after_close_works);
    tcase_add_test(t, unix_live_socket_is_refused_naming_the_path);
    tcase_add_test(t, unix_stale_socket_file_is_replaced);
    tcase_add_test(t, unix_refuses_a_file_that_is_not_a_socket_and_too_long_a_path);
    tcase_add_test(t, unix_file_replaced_by_another_is_left_on_close);
    suite_add_tcase(s, t);
    t = tcase_create("serial");
    tcase_set_timeout(t, 20);
    tcase_add_test(t, serial_on_tcp_keeps_running_across_clients);
    tcase_add_test(t, serial_on_unix_keeps_running_across_clients);
    tcase_add_test(t, serial_refuses_two_devices_and_bad_sockets);
    tcase_add_test(t, pty_with_hangup_set_has_one_fd_and_idles_while_closed);
    tcase_add_test(t, pty_without_hangup_set_keeps_a_slave_open);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return check_run(suite()); }
