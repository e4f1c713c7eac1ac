/* mepsim: the OSGP meter emulator program.
 *
 * config -> stations -> loop: parse the command line (sim_config), build
 * one station per meter section (sim_station: meter, ports, faults,
 * scenario runner, TLS), open their lines, and run them all on one libev
 * loop together with the control socket (sim_control) and the live view
 * (sim_display). SIGINT/SIGTERM and --exit-after stop the loop; cleanup
 * removes PTY symlinks and the control socket.
 *
 * Exit codes: 0 normal stop, 1 a device or socket could not be set up (or
 * a live --control socket of another mepsim, or a state file could not be
 * saved on exit), 2 bad command line, bad profile, config or state file.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ev.h>
#ifdef MEPSIM_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "sim_config.h"
#include "sim_control.h"
#include "sim_display.h"
#include "sim_station.h"

#include "osgp_version.h"

/* The pacer's grid: a byte is written at most this late (plus the port's
 * coalescing), and the lines of a fleet due within one grain share a
 * wake-up (bench/bench_scale: 4,000 meters cost 45 us of CPU per
 * transaction on an exact timer, 40 on this grid, 24 on libev's
 * millisecond timers, which write up to ~1-2 ms late). */
#define MEPSIM_PACER_GRAIN_US 50

typedef struct {
    struct ev_loop *loop;
    sim_config cfg;
    sim_profiles *profiles;        /* each profile parsed once, shared by its meters */
    sim_station **stations;        /* one per configured meter */
    sim_pty_hub *pty_hub;          /* PTYs nobody has open wait here: one fd per PTY (sim_pty.h) */
    sim_pacer *pacer;              /* one microsecond timer for every line (sim_pacer.h) */
    sim_tls_rng *tls_rng;          /* one random generator for every meter's TLS (sim_tls.h) */
    size_t n;                      /* stations built */
    sim_control *control;
    sim_display *display;
    ev_signal sigint, sigterm;
    ev_timer exit_timer;
    int stop_signal;
} mepsim_app;

/* Every meter with a state file saves it once more on exit (SIGINT,
 * SIGTERM, --exit-after). Returns false if one could not be written. */
static bool save_all(mepsim_app *app)
{
    bool ok = true;
    char err[1024];
    for (size_t i = 0; i < app->n; i++)
        if (sim_station_save_state(app->stations[i], true, err, sizeof err) == SIM_STATION_SAVE_FAILED) {
            fprintf(stderr, "mepsim: %s\n", err);
            ok = false;
        }
    return ok;
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    mepsim_app *app = w->data;
    app->stop_signal = w->signum;
    ev_break(loop, EVBREAK_ALL);
}

static void on_exit_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* Clean up, free the app and give the exit code. */
static int finish(mepsim_app *app, int code)
{
    sim_display_free(app->display);
    sim_control_free(app->control);
    for (size_t i = 0; i < app->n; i++)
        sim_station_free(app->stations[i]);
    free(app->stations);
    sim_pty_hub_free(app->pty_hub); /* after the PTYs parked in it */
    sim_pacer_free(app->pacer);     /* after the ports scheduled on it */
    sim_tls_rng_free(app->tls_rng); /* after the TLS contexts drawing from it */
    sim_profiles_free(app->profiles); /* after the meters that share them */
    sim_config_free(&app->cfg);
    if (app->loop) {
        ev_signal_stop(app->loop, &app->sigint);
        ev_signal_stop(app->loop, &app->sigterm);
        ev_timer_stop(app->loop, &app->exit_timer);
        ev_loop_destroy(app->loop);
    }
    free(app);
    return code;
}

static int fail(mepsim_app *app, int code, const char *err)
{
    fprintf(stderr, "mepsim: %s\n", err);
    return finish(app, code);
}

/* Command line: 0 to run, else the exit code (help, version, bad option). */
static int configure(mepsim_app *app, int argc, char **argv, char *err, size_t errlen)
{
    if (sim_config_parse_args(&app->cfg, argc, argv, err, errlen) != 0)
        return 2;
    if (app->cfg.help) {
        fputs(sim_config_usage(), stdout);
        fputs(sim_config_policy_help(), stdout);
        fputc('\n', stdout);
        sim_control_print_commands(stdout);
        return -1;
    }
    if (app->cfg.version) {
        printf("mepsim %s\n", OSGP_VERSION);
        return -1;
    }
    if (sim_config_validate(&app->cfg, err, errlen) != 0)
        return 2;
    /* a live control or --unix socket belongs to another process: refuse
     * before anything exists (and never delete it on exit) */
    return sim_config_check_live(&app->cfg, err, errlen) != 0 ? 1 : 0;
}

/* A fleet's start-up is mostly first-touch page faults on the heap (10,000
 * meters: ~90,000 faults, most of a second on this kind of virtual
 * machine). When transparent huge pages are on "madvise", grow the heap
 * once by what the meters will take and mark that range for huge pages, as
 * glibc's glibc.malloc.hugetlb=1 tunable would (which a running process
 * cannot set for itself): the meters are then carved from 2 MiB pages, a
 * fault each. Nothing changes where THP is off or the calls fail. */
#define MEPSIM_HEAP_PER_METER (48u * 1024u)
#define MEPSIM_HUGE_PAGE (2u * 1024u * 1024u)
static void reserve_fleet_heap(size_t meters)
{
#if defined(M_TOP_PAD) && defined(MADV_HUGEPAGE)
    if (meters < 256)
        return;
    size_t want = meters * MEPSIM_HEAP_PER_METER;
    if (want > (size_t)INT32_MAX / 2)
        want = (size_t)INT32_MAX / 2;
    /* the next growth of the heap takes the whole fleet's share at once,
     * and nothing of it is given back when the probes below are freed */
    mallopt(M_TRIM_THRESHOLD, (int)want * 2);
    mallopt(M_TOP_PAD, (int)want);
    char *before = sbrk(0);
    void *probe[64];
    size_t n = 0;
    while (n < 64 && (char *)sbrk(0) == before && (probe[n] = malloc(64 * 1024)))
        n++;
    for (size_t i = 0; i < n; i++)
        free(probe[i]);
    mallopt(M_TOP_PAD, 128 * 1024); /* glibc's default again */
    uintptr_t start = ((uintptr_t)before + MEPSIM_HUGE_PAGE - 1) & ~(uintptr_t)(MEPSIM_HUGE_PAGE - 1);
    uintptr_t end = (uintptr_t)sbrk(0) & ~(uintptr_t)(MEPSIM_HUGE_PAGE - 1);
    if (start < end)
        madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
    (void)meters;
#endif
}

/* Build every station before touching any device, so a bad profile exits
 * 2 without leaving PTY symlinks behind. */
static int build_stations(mepsim_app *app, char *err, size_t errlen)
{
    uint64_t now_ms = sim_now_us() / 1000u;
    reserve_fleet_heap(app->cfg.n_meters);
    app->stations = calloc(app->cfg.n_meters, sizeof *app->stations);
    app->profiles = sim_profiles_new();
    if (!app->stations || !app->profiles) {
        snprintf(err, errlen, "out of memory for %zu meters", app->cfg.n_meters);
        return -1;
    }
    for (size_t i = 0; i < app->cfg.n_meters; i++) {
        app->stations[i] = sim_station_new(&app->cfg.meters[i], i, app->profiles, now_ms, err, errlen);
        if (!app->stations[i])
            return -1;
        app->n = i + 1;
    }
    return 0;
}

static int start_loop(mepsim_app *app)
{
    signal(SIGPIPE, SIG_IGN); /* a control client that vanishes must not kill us */
    app->loop = ev_default_loop(0);
    if (!app->loop)
        return -1;
    ev_signal_init(&app->sigint, on_signal, SIGINT);
    app->sigint.data = app;
    ev_signal_start(app->loop, &app->sigint);
    ev_signal_init(&app->sigterm, on_signal, SIGTERM);
    app->sigterm.data = app;
    ev_signal_start(app->loop, &app->sigterm);
    ev_init(&app->exit_timer, on_exit_timer);
    return 0;
}

static int open_stations(mepsim_app *app, char *err, size_t errlen)
{
    if (!(app->pty_hub = sim_pty_hub_new(app->loop, err, errlen)) ||
        !(app->pacer = sim_pacer_new(app->loop, MEPSIM_PACER_GRAIN_US, err, errlen)) ||
        !(app->tls_rng = sim_tls_rng_new(err, errlen)))
        return -1;
    sim_station_env env = {
        .loop = app->loop,
        .verbose = app->cfg.verbose,
        .log = stderr,
        .capture = app->cfg.capture,
        .pty_hub = app->pty_hub,
        .pacer = app->pacer,
        .tls_rng = app->tls_rng,
    };
    for (size_t i = 0; i < app->n; i++)
        if (sim_station_open(app->stations[i], &env, err, errlen) != 0)
            return -1;
    return 0;
}

/* Control socket, display, --exit-after. */
static int open_extras(mepsim_app *app, char *err, size_t errlen)
{
    if (app->cfg.control[0]) {
        app->control = sim_control_new(app->loop, app->cfg.control, app->stations, app->n, err, errlen);
        if (!app->control)
            return -1;
        printf("control: %s\n", app->cfg.control);
    }
    if (app->cfg.display)
        app->display = sim_display_new(app->loop, app->stations, app->n, stdout, isatty(STDOUT_FILENO) == 1);
    if (app->cfg.exit_after_s > 0) {
        ev_timer_set(&app->exit_timer, app->cfg.exit_after_s, 0.0);
        ev_timer_start(app->loop, &app->exit_timer);
    }
    return 0;
}

int main(int argc, char **argv)
{
    mepsim_app *app = calloc(1, sizeof *app); /* lives for the whole run */
    char err[1024];
    if (!app) {
        fprintf(stderr, "mepsim: out of memory\n");
        return 1;
    }
    /* Many meters = many PTYs or sockets (an fd each, two with a client
     * connected): use the whole fd allowance. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int rc = configure(app, argc, argv, err, sizeof err);
    if (rc != 0)
        return rc > 0 ? fail(app, rc, err) : finish(app, 0);
    if (build_stations(app, err, sizeof err) != 0)
        return fail(app, 2, err);
    if (start_loop(app) != 0)
        return fail(app, 1, "cannot initialise libev");
    if (open_stations(app, err, sizeof err) != 0 || open_extras(app, err, sizeof err) != 0)
        return fail(app, 1, err);
    printf("mepsim: ready (%zu meter%s)\n", app->n, app->n == 1 ? "" : "s");
    fflush(stdout);
#ifdef MEPSIM_HAVE_SYSTEMD
    /* systemd Type=notify (packaging/systemd/mepsim@.service): every port
     * and the control socket are open; a no-op outside systemd */
    sd_notifyf(0, "READY=1\nSTATUS=%zu meter%s", app->n, app->n == 1 ? "" : "s");
#endif

    ev_run(app->loop, 0);
#ifdef MEPSIM_HAVE_SYSTEMD
    sd_notify(0, "STOPPING=1");
#endif

    if (app->stop_signal)
        fprintf(stderr, "mepsim: stopping on signal %d\n", app->stop_signal);
    return finish(app, save_all(app) ? 0 : 1);
}
