/* mepsim: the OSGP meter emulator program.
 *
 * Thin main: parse the command line (sim_config), create one sim_meter per
 * meter section, put each on its line (sim_port: PTY or UART), and run them
 * all on one libev loop together with the control socket (sim_control) and
 * the live view (sim_display). A meter given --scenario runs that timeline
 * (sim_scenario) on a timer here: loads, line faults on its port, alerts,
 * clock sets and E jumps at simulated times. SIGINT/SIGTERM and --exit-after
 * stop the loop; cleanup removes PTY symlinks and the control socket.
 *
 * Exit codes: 0 normal stop, 1 a device or socket could not be set up,
 * 2 bad command line, bad profile or bad config file.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "sim_config.h"
#include "sim_control.h"
#include "sim_display.h"
#include "sim_port.h"
#include "sim_meter.h"
#include "sim_optical_port.h"
#include "sim_portmodem.h"
#include "sim_tls.h"

#define MEPSIM_VERSION "0.1.0"

/* A scenario timeline running on one meter. Elapsed simulated time is
 * accumulated from wall time x the clock's speed, so a "clock" step (which
 * moves the meter's UTC) does not move the timeline. */
typedef struct {
    sim_scenario *sc;
    sim_meter *meter;
    sim_port *port;
    sim_optical_port *optical;    /* for "optical" steps (S35), or NULL */
    ev_timer timer;
    uint64_t last_wall_ms;
    double elapsed_ms;
    bool started, ended;
} mepsim_scenario;

typedef struct {
    struct ev_loop *loop;
    sim_config cfg;
    sim_profile profiles[SIM_CONFIG_MAX_METERS];
    bool profile_loaded[SIM_CONFIG_MAX_METERS];
    sim_meter *meters[SIM_CONFIG_MAX_METERS];
    sim_port *ports[SIM_CONFIG_MAX_METERS];
    sim_tls *tls[SIM_CONFIG_MAX_METERS];
    sim_optical_port *optical[SIM_CONFIG_MAX_METERS]; /* optical port (shared or separate), or NULL */
    sim_meter_cfg mcfg[SIM_CONFIG_MAX_METERS];
    mepsim_scenario scen[SIM_CONFIG_MAX_METERS];
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

/* TLS mode (docs/mep.md 7) plugs into the meter through sim_meter_tls_hooks. */
static size_t tls_on_message(void *ctx, const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
    return sim_tls_on_message(ctx, body, len, out, cap);
}

static sim_meter_rc4_verdict tls_rc4_gate(void *ctx)
{
    switch (sim_tls_rc4_gate(ctx)) {
    case SIM_TLS_RC4_REFUSE: return SIM_METER_RC4_REFUSE;
    case SIM_TLS_RC4_IGNORE: return SIM_METER_RC4_IGNORE;
    default: return SIM_METER_RC4_ACCEPT;
    }
}

static void tls_log(void *ctx, const char *line)
{
    char msg[600];
    snprintf(msg, sizeof msg, "TLS %s", line);
    sim_port_log(ctx, 1, msg);
}

/* An "optical" step's length is simulated time like the timeline; the probe
 * runs on the wall clock: divide by the clock speed (at least 0.1 s). */
static double optical_wall_s(const mepsim_scenario *r, double sim_s)
{
    double speed = sim_meter_clock(r->meter)->speed;
    double s = speed > 0 ? sim_s / speed : sim_s;
    return s < 0.1 ? 0.1 : s > 3600.0 ? 3600.0 : s;
}

static void scenario_apply(mepsim_scenario *r, const sim_step *st, uint64_t now_ms)
{
    char desc[256], msg[1024], err[300];
    sim_step_format(st, desc, sizeof desc);
    snprintf(msg, sizeof msg, "scenario %s: %s", r->sc->name, desc); /* desc includes the note */
    sim_port_log(r->port, 0, msg);
    sim_model *md = sim_meter_model(r->meter);
    switch (st->kind) {
    case SIM_STEP_LOAD:
        sim_meter_advance(r->meter, now_ms);
        for (int ph = 1; ph <= md->cfg.phases; ph++)
            if (st->u.load.phase == 0 || st->u.load.phase == ph)
                sim_model_set_load(md, ph - 1, st->u.load.watts, st->u.load.pf);
        break;
    case SIM_STEP_FAULT:
    case SIM_STEP_PFAULT:
    case SIM_STEP_GLITCH:
    case SIM_STEP_STOP: {
        /* line faults, protocol faults and glitches all live in the port's
         * fault set; a glitch may also ask for loads
         * (solar export) or a frozen clock. */
        sim_glitch_effects fx;
        memset(&fx, 0, sizeof fx);
        sim_meter_advance(r->meter, now_ms);
        if (sim_fault_set_apply(sim_port_faults(r->port), st, now_ms * 1000u,
                                sim_meter_sim_now(r->meter, now_ms), &fx, err, sizeof err) < 0) {
            snprintf(msg, sizeof msg, "scenario %s: %s not started: %s", r->sc->name, sim_step_kind_name(st->kind),
                     err);
            sim_port_log(r->port, 0, msg);
            break;
        }
        for (int i = 0; i < fx.n_loads && i < 3; i++)
            if (fx.load[i].phase >= 1 && fx.load[i].phase <= md->cfg.phases)
                sim_model_set_load(md, fx.load[i].phase - 1, fx.load[i].watts, fx.load[i].pf);
        break;
    }
    case SIM_STEP_REBOOT:
        sim_meter_reboot(r->meter, now_ms);
        snprintf(msg, sizeof msg, "scenario %s: meter restarted, E=0x%08X", r->sc->name,
                 (unsigned)sim_meter_next_seq(r->meter));
        sim_port_log(r->port, 0, msg);
        break;
    case SIM_STEP_ALERT:
        if (st->u.alert.clear)
            sim_meter_clear_alert(r->meter, st->u.alert.flags);
        else
            sim_meter_raise_alert(r->meter, st->u.alert.flags);
        break;
    case SIM_STEP_CLOCK:
        sim_meter_set_clock(r->meter, now_ms, st->u.clock_utc_ms);
        break;
    case SIM_STEP_SEQ_JUMP:
        sim_meter_set_next_seq(r->meter, sim_meter_next_seq(r->meter) + (uint32_t)st->u.seq_jump);
        break;
    case SIM_STEP_END:
        r->ended = true;
        break;
    case SIM_STEP_OPTICAL: /* a probe reads the meter over optical (docs/optical.md 6) */
        if (!r->optical) {
            snprintf(msg, sizeof msg, "scenario %s: optical step skipped: this meter has no optical port",
                     r->sc->name);
            sim_port_log(r->port, 0, msg);
        } else if (st->u.optical.stop) {
            sim_optical_port_probe_stop(r->optical);
        } else if (sim_optical_port_probe_start(r->optical, optical_wall_s(r, st->u.optical.seconds),
                                                st->u.optical.echo, err, sizeof err) != 0) {
            snprintf(msg, sizeof msg, "scenario %s: optical step: %s", r->sc->name, err);
            sim_port_log(r->port, 0, msg);
        }
        break;
    default: /* wait; unsupported kinds were refused at load (sim_config) */
        break;
    }
}

static void on_scenario_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    mepsim_scenario *r = w->data;
    uint64_t now = sim_now_us() / 1000u;
    const sim_clock *clk = sim_meter_clock(r->meter);
    if (r->started && !clk->frozen)
        r->elapsed_ms += (double)(now - r->last_wall_ms) * clk->speed;
    r->started = true;
    r->last_wall_ms = now;
    const sim_step *due[16];
    size_t n;
    while ((n = sim_scenario_due(r->sc, (int64_t)r->elapsed_ms, due, 16)) > 0)
        for (size_t i = 0; i < n; i++)
            scenario_apply(r, due[i], now);
    sim_port_kick(r->port);
    int64_t next = sim_scenario_next_at(r->sc);
    if (next == INT64_MAX || r->ended)
        return;
    double speed = clk->speed > 0 ? clk->speed : 1.0;
    double wait_s = ((double)next - r->elapsed_ms) / speed / 1000.0;
    if (wait_s < 0.001)
        wait_s = 0.001;
    if (clk->frozen && wait_s < 1.0)
        wait_s = 1.0; /* re-check: a frozen clock does not advance the timeline */
    ev_timer_set(w, wait_s, 0.0);
    ev_timer_start(loop, w);
}

/* Control "status": scenario progress and TLS state of each meter. */
static void status_extra(void *ctx, size_t i, void *obj)
{
    mepsim_app *app = ctx;
    json_t *o = obj;
    if (i >= app->n)
        return;
    const mepsim_scenario *r = &app->scen[i];
    if (r->sc)
        json_object_set_new(o, "scenario",
                            json_pack("{s:s, s:I, s:I, s:f, s:b}", "name", r->sc->name, "steps",
                                      (json_int_t)r->sc->n_steps, "next", (json_int_t)r->sc->next,
                                      "elapsed_s", r->elapsed_ms / 1000.0, "done",
                                      r->ended || sim_scenario_done(r->sc)));
    if (app->tls[i]) {
        static const char *const names[] = {"idle", "handshaking", "established"};
        sim_tls_state st = sim_tls_get_state(app->tls[i]);
        json_object_set_new(o, "tls", json_string(st <= SIM_TLS_ESTABLISHED ? names[st] : "?"));
        /* sim_tls counters for tests and ET89-style diagnostics (docs/mep.md 7.1) */
        const sim_tls_counters *k = sim_tls_counters_get(app->tls[i]);
        json_object_set_new(o, "tls_counters",
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}",
                                      "handshakes_started", (json_int_t)k->handshakes_started,
                                      "handshakes_ok", (json_int_t)k->handshakes_ok,
                                      "handshake_failures", (json_int_t)k->handshake_failures,
                                      "identity_rejects", (json_int_t)k->identity_rejects,
                                      "tables", (json_int_t)k->tables, "no_session", (json_int_t)k->no_session,
                                      "terminates", (json_int_t)k->terminates,
                                      "rc4_refused", (json_int_t)k->rc4_refused, "errors", (json_int_t)k->errors,
                                      "last_mbedtls_error", k->last_mbedtls_error));
    }
}

/* Control {"cmd":"scenario","action":..}. "load" validates the file
 * strictly (nothing changes on a bad file) and starts its timeline at once
 * on the running meter; the file's profile, keys, seed, policies and
 * patches need a fresh meter (--scenario) and are not applied, which the
 * reply says. "start" clears every fault and glitch, rewinds and restarts
 * the loaded timeline (tests start a timeline once the module reads), "stop"
 * stops it and clears every fault and glitch, "status" reports progress. */
static void *scenario_ctl(void *ctx, size_t i, const char *action, const char *path)
{
    mepsim_app *app = ctx;
    char err[700];
    if (i >= app->n)
        return json_pack("{s:b, s:s}", "ok", 0, "error", "scenario: no such meter");
    mepsim_scenario *r = &app->scen[i];
    if (!strcmp(action, "load")) {
        sim_scenario *sc = sim_scenario_load(path, NULL, err, sizeof err);
        if (!sc) {
            char msg[800];
            snprintf(msg, sizeof msg, "scenario: %s", err);
            return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
        }
        ev_timer_stop(app->loop, &r->timer);
        sim_scenario_free(r->sc);
        r->sc = sc;
        action = "start";
    }
    if (!r->sc)
        return json_pack("{s:b, s:s}", "ok", 0, "error", "scenario: none loaded (action \"load\" with a path)");
    if (!strcmp(action, "start")) {
        /* a clean restart: faults and glitches of an earlier run go first */
        char out[64];
        sim_fault_set_command(sim_port_faults(r->port), "clear all", sim_now_us(), 0, NULL, out, sizeof out);
        ev_timer_stop(app->loop, &r->timer);
        sim_scenario_rewind(r->sc);
        r->started = r->ended = false;
        r->elapsed_ms = 0;
        ev_timer_set(&r->timer, 0.0, 0.0);
        ev_timer_start(app->loop, &r->timer);
        char msg[300];
        snprintf(msg, sizeof msg, "scenario %s started from the control socket (%zu steps)", r->sc->name,
                 r->sc->n_steps);
        sim_port_log(r->port, 0, msg);
    } else if (!strcmp(action, "stop")) {
        ev_timer_stop(app->loop, &r->timer);
        r->ended = true;
        char out[64];
        sim_fault_set_command(sim_port_faults(r->port), "clear all", sim_now_us(), 0, NULL, out, sizeof out);
        sim_port_kick(r->port);
    }
    json_t *o = json_pack("{s:b}", "ok", 1);
    json_object_set_new(o, "scenario",
                        json_pack("{s:s, s:I, s:I, s:f, s:b, s:b}", "name", r->sc->name, "steps",
                                  (json_int_t)r->sc->n_steps, "next", (json_int_t)r->sc->next, "elapsed_s",
                                  r->elapsed_ms / 1000.0, "done", r->ended || sim_scenario_done(r->sc),
                                  "running", ev_is_active(&r->timer) || (!r->ended && r->started &&
                                                                           !sim_scenario_done(r->sc))));
    if (!strcmp(action, "start") && path)
        json_object_set_new(o, "note", json_string("timeline only: the file's profile, keys, seed, speed, "
                                                   "policies and patches apply with --scenario"));
    return o;
}

static int attach_tls(mepsim_app *app, size_t i, char *err, size_t errlen)
{
    const sim_meter_cfg *mc = &app->mcfg[i];
    sim_tls_cfg tc;
    memset(&tc, 0, sizeof tc);
    memcpy(tc.mbk, mc->mbk, 16);
    memcpy(tc.mak, mc->mak, 16);
    tc.tls_required = mc->profile->tls_required;
    tc.dispatch = sim_meter_tls_dispatch;
    tc.dispatch_ctx = app->meters[i];
    tc.log = tls_log;
    tc.log_ctx = app->ports[i];
    tc.name = app->cfg.meters[i].name;
    app->tls[i] = sim_tls_new(&tc, err, errlen);
    if (!app->tls[i])
        return -1;
    sim_meter_tls_hooks h = {.on_message = tls_on_message, .rc4_gate = tls_rc4_gate, .ctx = app->tls[i]};
    sim_meter_set_tls_hooks(app->meters[i], &h);
    return 0;
}

/* The optical port (docs/optical.md): a separate PTY/UART when asked for, else
 * shared with the MEP line on Gen 2/3 profiles (6); Gen 4 without
 * --optical-pty/--optical-uart has none. */
static int attach_optical(mepsim_app *app, size_t i, char *err, size_t errlen)
{
    const sim_config_meter *s = &app->cfg.meters[i];
    sim_optical_cfg oc;
    sim_optical_port_cfg_from_profile(app->mcfg[i].profile, s->name, &oc);
    if (!s->optical_pty[0] && !s->optical_uart[0] && !oc.shared_uart)
        return 0;
    sim_optical_port_cfg pc = {
        .name = s->name,
        .pty_path = s->optical_pty[0] ? s->optical_pty : NULL,
        .uart = s->optical_uart[0] ? s->optical_uart : NULL,
        .mep = app->ports[i],
        .verbose = app->cfg.verbose,
        .log = stderr,
    };
    app->optical[i] = sim_optical_port_open(app->loop, app->meters[i], &oc, &pc, err, errlen);
    if (!app->optical[i])
        return -1;
    if (sim_optical_port_shared(app->optical[i]))
        printf("%s: optical port shares the MEP line (Gen %d)\n", s->name, app->mcfg[i].profile->generation);
    else
        printf("%s: optical %s -> %s\n", s->name, sim_optical_port_path(app->optical[i]),
               sim_optical_port_device(app->optical[i]));
    return 0;
}

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
        sim_optical_port_close(app->optical[i]); /* removes its tap from the MEP port */
        sim_port_close(app->ports[i]);
        if (app->meters[i]) {
            sim_meter_set_tls_hooks(app->meters[i], NULL);
            sim_meter_free(app->meters[i]);
        }
        sim_tls_free(app->tls[i]);
        if (app->loop)
            ev_timer_stop(app->loop, &app->scen[i].timer);
        sim_scenario_free(app->scen[i].sc);
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

    /* Many meters = many PTYs (two fds each): use the whole fd allowance. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
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
        sim_meter_cfg *mcp = &app->mcfg[i];
        if (sim_config_meter_cfg(&app->cfg.meters[i], &app->profiles[i], mcp, &app->scen[i].sc, err,
                                 sizeof err) != 0) {
            fprintf(stderr, "mepsim: %s\n", err);
            return finish(app, 2);
        }
        app->profile_loaded[i] = true;
        app->meters[i] = sim_meter_new(mcp, now_ms, err, sizeof err);
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
            /* faults and glitches draw from the meter's seed (--seed or the
             * scenario's "seed"): a run is repeatable for a given seed */
            .fault_seed = app->mcfg[i].seed,
        };
        app->ports[i] = sim_port_open(app->loop, app->meters[i], &pc, err, sizeof err);
        if (!app->ports[i]) {
            fprintf(stderr, "mepsim: meter %s: %s\n", s->name, err);
            return finish(app, 1);
        }
        app->n = i + 1;
        /* HIL modem lines on the UART (sim_portmodem.h); the port owns them */
        if (s->has_modem && sim_portmodem_wanted(&s->modem) &&
            !sim_portmodem_attach(app->ports[i], &s->modem, NULL, err, sizeof err)) {
            fprintf(stderr, "mepsim: %s\n", err);
            return finish(app, 1);
        }
        if (attach_tls(app, i, err, sizeof err) != 0) {
            fprintf(stderr, "mepsim: meter %s: TLS: %s\n", s->name, err);
            return finish(app, 1);
        }
        if (attach_optical(app, i, err, sizeof err) != 0) {
            fprintf(stderr, "mepsim: meter %s: optical port: %s\n", s->name, err);
            return finish(app, 1);
        }
        mepsim_scenario *r = &app->scen[i];
        r->meter = app->meters[i];
        r->port = app->ports[i];
        r->optical = app->optical[i];
        ev_init(&r->timer, on_scenario_timer); /* also for "scenario load" on the control socket */
        r->timer.data = r;
        if (r->sc) {
            ev_timer_set(&r->timer, 0.0, 0.0);
            ev_timer_start(app->loop, &r->timer);
            printf("%s: scenario %s (%zu steps)\n", s->name, r->sc->name, r->sc->n_steps);
        }
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
        sim_control_set_status_hook(app->control, status_extra, app);
        sim_control_set_scenario_hook(app->control, scenario_ctl, app);
        sim_control_set_optical(app->control, app->optical);
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
