/* mepsniff: listen to a real module-meter link on two serial adapters (one
 * wired to the module's TX line, one to the meter's TX line; wiring in
 * capture/README.md "mepsniff"), write the same pcapng capture as mepsim
 * --capture (one interface, both directions) and print every exchange live
 * the way mepsim -v logs it.
 *
 *   mepsniff --module-tx DEV --meter-tx DEV -o FILE.pcapng [--baud N]
 *            [--format 8N1] [--optical] [--name NAME] [--exit-after S] [-q]
 *
 * The adapters are opened by the emulator's serial layer (simulator/io/
 * sim_serial: libserialport, or termios for a PTY) at the link's rate and
 * format, and only read: mepsniff never writes to them. Runs until SIGINT/
 * SIGTERM or --exit-after; frames in progress are then written as
 * incomplete. Exit 0, 1 when an adapter or the capture cannot be opened, 2
 * on a bad option.
 */
#include <ev.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cap_decode.h"
#include "cap_line.h"
#include "sim_serial.h"

/* Half frames are flushed this often (the MEP gap rule is 50 ms). */
#define TICK_MS 20

typedef struct {
    const char *module_tx, *meter_tx, *out, *name, *format;
    unsigned baud;
    bool optical, quiet;
    double exit_after_s;
} options;

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const char USAGE[] =
    "usage: mepsniff --module-tx DEV --meter-tx DEV -o FILE.pcapng [options]\n"
    "Listen to a module-meter serial link on two adapters and record it (pcapng,\n"
    "capture/README.md), printing every exchange as mepsim -v logs it.\n"
    "  --module-tx DEV     adapter whose RX is wired to the module's TX (to the meter)\n"
    "  --meter-tx DEV      adapter whose RX is wired to the meter's TX (to the module)\n"
    "  -o, --output FILE   the pcapng capture to write\n"
    "  --baud N            line rate (default 9600)\n"
    "  --format 8N1|8E1|7E1  character format (default 8N1)\n"
    "  --optical           the link is a C12.18 optical link, not MEP\n"
    "  --name NAME         interface name in the capture (default \"sniff\")\n"
    "  --exit-after S      stop after S seconds\n"
    "  -q                  no live decode on stdout\n"
    "Exit status: 0 stopped, 1 a device or the capture could not be opened, 2 bad option.\n";

static int bad(const char *msg, const char *arg)
{
    fprintf(stderr, "mepsniff: %s%s%s (see --help)\n", msg, arg ? " " : "", arg ? arg : "");
    return 2;
}

static int parse(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->baud = 9600;
    o->name = "sniff";
    o->format = "8N1";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(USAGE, stdout);
            exit(0);
        }
        if (!strcmp(a, "--optical")) {
            o->optical = true;
            continue;
        }
        if (!strcmp(a, "-q")) {
            o->quiet = true;
            continue;
        }
        const char **dst = !strcmp(a, "--module-tx") ? &o->module_tx
                           : !strcmp(a, "--meter-tx") ? &o->meter_tx
                           : (!strcmp(a, "-o") || !strcmp(a, "--output")) ? &o->out
                           : !strcmp(a, "--name") ? &o->name
                           : !strcmp(a, "--format") ? &o->format : NULL;
        bool numeric = !strcmp(a, "--baud") || !strcmp(a, "--exit-after");
        if (!dst && !numeric)
            return bad("unknown option", a);
        if (i + 1 >= argc)
            return bad("option needs a value:", a);
        const char *v = argv[++i];
        if (dst) {
            *dst = v;
            continue;
        }
        char *end;
        double x = strtod(v, &end);
        if (*end || !(x > 0) || x > 1e7)
            return bad("expected a positive number after", a);
        if (!strcmp(a, "--baud"))
            o->baud = (unsigned)x;
        else
            o->exit_after_s = x;
    }
    if (!o->module_tx || !o->meter_tx || !o->out)
        return bad("give --module-tx, --meter-tx and -o", NULL);
    const char *f = o->format;
    if (strlen(f) != 3 || f[0] < '5' || f[0] > '8' || !strchr("NEOneo", f[1]) || (f[2] != '1' && f[2] != '2'))
        return bad("--format: expected data bits 5-8, parity N/E/O, stop 1/2, e.g. 8N1:", f);
    return 0;
}

typedef struct {
    cap_decoder dec;
    const char *name;
} live;

static void print_line(void *ctx, uint32_t ifid, uint64_t ts_us, const char *line)
{
    (void)ifid;
    const live *lv = ctx;
    char t[16];
    cap_decode_time(ts_us, t);
    printf("%s %s %s\n", t, lv->name, line);
    fflush(stdout);
}

static void observe(void *ctx, uint32_t ifid, uint64_t ts_us, const uint8_t *pkt, size_t n, const char *comment)
{
    live *lv = ctx;
    cap_decode_packet(&lv->dec, ifid, ts_us, pkt, n, comment, strlen(comment));
}

/* One listening adapter: the direction its bytes travel. */
typedef struct {
    cap_line *cap;
    unsigned dir;
} tap;

static void on_rx(void *ctx, const uint8_t *b, size_t n, uint64_t now_us)
{
    (void)now_us; /* monotonic; the capture wants the wall clock */
    tap *t = ctx;
    cap_line_bytes(t->cap, t->dir, b, n, wall_us());
}

typedef struct {
    cap_line *cap;
    const char *out;
    uint64_t end_us;
    int rc;
} ticker;

/* Half frames go out once their gap rule expired; --exit-after ends it. */
static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    ticker *t = w->data;
    uint64_t now = wall_us();
    if (cap_line_tick(t->cap, now) != CAP_OK) {
        fprintf(stderr, "mepsniff: %s: %s\n", t->out, cap_line_error(t->cap));
        t->rc = 1;
        ev_break(loop, EVBREAK_ALL);
    }
    if (now >= t->end_us)
        ev_break(loop, EVBREAK_ALL);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static sim_serial *open_tap(struct ev_loop *loop, const options *o, const char *dev, const char *opt, tap *t)
{
    char err[400];
    sim_serial_cfg c = {.uart_opt = opt, .uart = dev, .baud = o->baud, .format = o->format, .who = "mepsniff",
                        .rx = on_rx, .ctx = t};
    sim_serial *s = sim_serial_open(loop, &c, err, sizeof err);
    if (!s)
        fprintf(stderr, "mepsniff: %s\n", err);
    return s;
}

/* Open both adapters, then the capture (a wrong device leaves no file
 * behind), then listen until a signal or --exit-after. */
static int run(const options *o, struct ev_loop *loop, live *lv)
{
    tap taps[2] = {{NULL, CAP_DIR_TO_METER}, {NULL, CAP_DIR_FROM_METER}};
    sim_serial *a = open_tap(loop, o, o->module_tx, "--module-tx", &taps[0]);
    sim_serial *b = a ? open_tap(loop, o, o->meter_tx, "--meter-tx", &taps[1]) : NULL;
    char err[300], owner[96], desc[1200];
    /* one line joins: the start time keeps a file of an earlier run from being appended to */
    snprintf(owner, sizeof owner, "mepsniff (pid %ld, started %llu us)", (long)getpid(),
             (unsigned long long)wall_us());
    snprintf(desc, sizeof desc, "%s link sniffed: module TX on %s, meter TX on %s, %u baud %s",
             o->optical ? "optical C12.18" : "MEP", o->module_tx, o->meter_tx, o->baud, o->format);
    cap_line *cap = NULL;
    if (a && b) {
        cap = cap_line_open(o->out, owner, o->name, desc, o->optical ? CAP_PORT_OPTICAL : CAP_PORT_MEP, err,
                            sizeof err);
        if (!cap)
            fprintf(stderr, "mepsniff: %s\n", err);
    }
    ticker tk = {.cap = cap, .out = o->out, .rc = cap ? 0 : 1,
                 .end_us = o->exit_after_s > 0 ? wall_us() + (uint64_t)(o->exit_after_s * 1e6) : UINT64_MAX};
    if (cap) {
        taps[0].cap = taps[1].cap = cap;
        if (!o->quiet)
            cap_line_observe(cap, observe, lv);
        ev_timer tick;
        ev_signal sig_int, sig_term;
        ev_timer_init(&tick, on_tick, TICK_MS / 1000.0, TICK_MS / 1000.0);
        tick.data = &tk;
        ev_timer_start(loop, &tick);
        ev_signal_init(&sig_int, on_signal, SIGINT);
        ev_signal_init(&sig_term, on_signal, SIGTERM);
        ev_signal_start(loop, &sig_int);
        ev_signal_start(loop, &sig_term);
        fprintf(stderr, "mepsniff: listening (module TX %s, meter TX %s), writing %s\n", o->module_tx,
                o->meter_tx, o->out);
        ev_run(loop, 0);
        ev_timer_stop(loop, &tick);
        ev_signal_stop(loop, &sig_int);
        ev_signal_stop(loop, &sig_term);
        cap_line_close(cap, wall_us());
    }
    sim_serial_close(a);
    sim_serial_close(b);
    return tk.rc;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    if (!loop) {
        fprintf(stderr, "mepsniff: cannot create an event loop\n");
        return 1;
    }
    static live lv;
    lv.name = o.name;
    cap_decode_init(&lv.dec, print_line, &lv);
    rc = run(&o, loop, &lv);
    ev_loop_destroy(loop);
    if (!o.quiet)
        cap_decode_finish(&lv.dec);
    fprintf(stderr, "mepsniff: stopped\n");
    return rc;
}
