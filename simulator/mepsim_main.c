/* mepsim: the OSGP meter emulator program.
 *
 * Thin main: parse the command line (sim_config), create one sim_meter per
 * meter section, put each on its line (sim_port: PTY or UART), and run them
 * all on one libev loop together with the control socket (sim_control) and
 * the live view (sim_display). SIGINT/SIGTERM and --exit-after stop the loop;
 * cleanup removes PTY symlinks and the control socket.
 *
 * Exit codes: 0 normal stop, 1 a device or socket could not be set up,
 * 2 bad command line, bad profile or bad config file.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "sim_config.h"
#include "sim_control.h"
#include "sim_display.h"
#include "sim_line.h"
#include "sim_meter.h"

#define MEPSIM_VERSION "0.1.0"

typedef struct {
    struct ev_loop *loop;
    sim_config cfg;
    sim_profile profiles[SIM_CONFIG_MAX_METERS];
    bool profile_loaded[SIM_CONFIG_MAX_METERS];
    sim_meter *meters[SIM_CONFIG_MAX_METERS];
    sim_port *ports[SIM_CONFIG_MAX_METERS];
    size_t n;
    sim_control *control;
    sim_display *display;
    ev_signal sigint, sigterm;
    ev_timer exit_timer;
    int stop_signal;
} mepsim_app;

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

static void app_cleanup(mepsim_app *app);

/* Clean up, free the app and give the exit code. */
static int finish(mepsim_app *app, int code)
{
    app_cleanup(app);
    if (app->loop)
        ev_loop_destroy(app->loop);
    free(app);
    return code;
}

static void app_cleanup(mepsim_app *app)
{
    sim_display_free(app->display);
    sim_control_free(app->control);
    for (size_t i = 0; i < SIM_CONFIG_MAX_METERS; i++) {
        sim_port_close(app->ports[i]);
        if (app->meters[i])
            sim_meter_free(app->meters[i]);
        if (app->profile_loaded[i])
            sim_profile_free(&app->profiles[i]);
    }
    if (app->loop) {
        ev_signal_stop(app->loop, &app->sigint);
        ev_signal_stop(app->loop, &app->sigterm);
        ev_timer_stop(app->loop, &app->exit_timer);
    }
}

int main(int argc, char **argv)
{
    mepsim_app *app = calloc(1, sizeof *app); /* large (profiles); lives for the whole run */
    char err[1024];
    if (!app) {
        fprintf(stderr, "mepsim: out of memory\n");
        return 1;
    }

    if (sim_config_parse_args(&app->cfg, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "mepsim: %s\n", err);
        return finish(app, 2);
    }
    if (app->cfg.help) {
        fputs(sim_config_usage(), stdout);
        fputs(sim_config_policy_help(), stdout);
        return finish(app, 0);
    }
    if (app->cfg.version) {
        printf("mepsim %s\n", MEPSIM_VERSION);
        return finish(app, 0);
    }
    if (sim_config_validate(&app->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "mepsim: %s\n", err);
        return finish(app, 2);
    }

    /* Build every meter before touching any device, so a bad profile exits
     * 2 without leaving PTY symlinks behind. */
    uint64_t now_ms = sim_now_us() / 1000u;
    for (size_t i = 0; i < app->cfg.n_meters; i++) {
        sim_meter_cfg mc;
        if (sim_config_meter_cfg(&app->cfg.meters[i], &app->profiles[i], &mc, err, sizeof err) != 0) {
            fprintf(stderr, "mepsim: %s\n", err);
            return finish(app, 2);
        }
        app->profile_loaded[i] = true;
        app->meters[i] = sim_meter_new(&mc, now_ms, err, sizeof err);
        if (!app->meters[i]) {
            fprintf(stderr, "mepsim: meter %s: %s\n", app->cfg.meters[i].name, err);
            return finish(app, 2);
        }
    }

    signal(SIGPIPE, SIG_IGN); /* a control client that vanishes must not kill us */
    app->loop = ev_default_loop(0);
    if (!app->loop) {
        fprintf(stderr, "mepsim: cannot initialise libev\n");
        return finish(app, 1);
    }
    ev_signal_init(&app->sigint, on_signal, SIGINT);
    app->sigint.data = app;
    ev_signal_start(app->loop, &app->sigint);
    ev_signal_init(&app->sigterm, on_signal, SIGTERM);
    app->sigterm.data = app;
    ev_signal_start(app->loop, &app->sigterm);
    ev_init(&app->exit_timer, on_exit_timer);

    for (size_t i = 0; i < app->cfg.n_meters; i++) {
        const sim_config_meter *s = &app->cfg.meters[i];
        sim_port_cfg pc = {
            .name = s->name,
            .pty_path = s->pty[0] ? s->pty : NULL,
            .uart = s->uart[0] ? s->uart : NULL,
            .baud = s->baud,
            .format = s->format,
            .verbose = app->cfg.verbose,
            .log = stderr,
        };
        app->ports[i] = sim_port_open(app->loop, app->meters[i], &pc, err, sizeof err);
        if (!app->ports[i]) {
            fprintf(stderr, "mepsim: meter %s: %s\n", s->name, err);
            return finish(app, 1);
        }
        app->n = i + 1;
        printf("%s: %s %s -> %s (%u baud, E=0x%08X)\n", s->name, s->pty[0] ? "pty" : "uart",
               sim_port_path(app->ports[i]), sim_port_device(app->ports[i]),
               (unsigned)sim_port_line(app->ports[i])->baud, (unsigned)sim_meter_next_seq(app->meters[i]));
    }

    if (app->cfg.control[0]) {
        app->control = sim_control_new(app->loop, app->cfg.control, app->ports, app->n, err, sizeof err);
        if (!app->control) {
            fprintf(stderr, "mepsim: %s\n", err);
            return finish(app, 1);
        }
        printf("control: %s\n", app->cfg.control);
    }
    if (app->cfg.display)
        app->display = sim_display_new(app->loop, app->ports, app->n, stdout, isatty(STDOUT_FILENO) == 1);
    if (app->cfg.exit_after_s > 0) {
        ev_timer_set(&app->exit_timer, app->cfg.exit_after_s, 0.0);
        ev_timer_start(app->loop, &app->exit_timer);
    }
    printf("mepsim: ready (%zu meter%s)\n", app->n, app->n == 1 ? "" : "s");
    fflush(stdout);

    ev_run(app->loop, 0);

    if (app->stop_signal)
        fprintf(stderr, "mepsim: stopping on signal %d\n", app->stop_signal);
    return finish(app, 0);
}
