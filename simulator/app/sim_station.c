/* sim_station: one emulated meter with everything it has, and the wiring
 * between its parts; see sim_station.h.
 *
 * Wiring (docs/architecture.md):
 *   port --bytes--> line core --whole frame--> meter --whole reply--> line core --paced--> port
 *   fault set: line hooks of the port's line core (bytes on the wire, held
 *   frames, segment rewrites) and fault hooks of the meter (protocol faults
 *   on whole replies, glitches on table reads); both filled here.
 *   TLS: the meter's TLS hooks, backed by a sim_tls created on the first TLS
 *   frame (docs/mep.md 7).
 */
#include "sim_station.h"
#include "sim_serial.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "sim_ev.h"
#include "sim_state.h"

/* The line core's transmit buffer must hold the largest frame a protocol
 * fault emits plus the alert prefix it may glue on (S26). */
_Static_assert(SIM_PFAULT_OUT_MAX + 64 <= SIM_LINE_TX_MAX, "sim_line tx buffer too small for protocol faults");

/* A scenario timeline running on the station's meter. Elapsed simulated
 * time is accumulated from wall time x the clock's speed, so a "clock" step
 * (which moves the meter's UTC) does not move the timeline. */
typedef struct {
    sim_scenario *sc;
    ev_timer timer;
    uint64_t last_wall_ms;
    double elapsed_ms;
    bool started, ended;
} station_runner;

struct sim_station {
    const sim_config_meter *sec;
    size_t index;
    struct ev_loop *loop;
    FILE *log;
    int verbose;
    const char *capture;          /* --capture pcapng file (the app's config), NULL: none */
    sim_profile *own_profile;      /* a private profile (scenario patches, no shared store);
                                    * NULL: mcfg.profile belongs to the shared store */
    sim_meter_cfg mcfg;
    sim_meter *meter;
    sim_port *port;
    sim_optical_port *optical;
    sim_tls *tls;
    sim_tls_rng *tls_rng;          /* the process's, from sim_station_open (NULL: the context's own) */
    bool tls_failed;               /* creating the TLS context failed once (logged) */
    sim_portmodem *modem;
    station_runner run;
    sim_fault_set faults;
    ev_timer save_timer;           /* --state: periodic save (SIM_STATE_SAVE_S) */
    uint64_t saved_hash;           /* fingerprint of the last state written (0: none yet) */
    bool save_failed;              /* the last save failed (logged once) */
};

static void station_log(sim_station *s, int level, const char *msg)
{
    if (s->port)
        sim_port_log(s->port, level, msg);
    else if (s->verbose >= level)
        sim_serial_log_line(s->log, s->sec->name, msg);
}

/* ---- TLS, created on the first TLS frame ---------------------------------- */

static void tls_log(void *ctx, const char *line)
{
    char msg[600];
    snprintf(msg, sizeof msg, "TLS %s", line);
    station_log(ctx, 1, msg);
}

static sim_tls *station_tls_get(sim_station *s)
{
    if (s->tls || s->tls_failed)
        return s->tls;
    sim_tls_cfg tc;
    memset(&tc, 0, sizeof tc);
    memcpy(tc.mbk, s->mcfg.mbk, 16);
    memcpy(tc.mak, s->mcfg.mak, 16);
    tc.tls_required = s->mcfg.profile->tls_required;
    tc.dispatch = sim_meter_tls_dispatch;
    tc.dispatch_ctx = s->meter;
    tc.log = tls_log;
    tc.log_ctx = s;
    tc.name = s->sec->name;
    if (s->tls_rng) {
        tc.rng = sim_tls_rng_random;
        tc.rng_ctx = s->tls_rng;
    }
    char err[300], msg[400];
    s->tls = sim_tls_new(&tc, err, sizeof err);
    if (!s->tls) {
        s->tls_failed = true;
        snprintf(msg, sizeof msg, "TLS: %s", err);
        station_log(s, 0, msg);
    }
    return s->tls;
}

static size_t tls_on_message(void *ctx, const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
    sim_tls *t = station_tls_get(ctx);
    if (!t) {
        if (cap < 3)
            return 0;
        out[0] = 0x00; /* docs/mep.md 3.5: `00 01 01` TLS error */
        out[1] = 0x01;
        out[2] = SIM_TLS_RSP_TLS_ERROR;
        return 3;
    }
    return sim_tls_on_message(t, body, len, out, cap);
}

static sim_meter_rc4_verdict tls_rc4_gate(void *ctx)
{
    sim_station *s = ctx;
    /* docs/mep.md 7.5: without a session and without tls_required RC4 is
     * accepted; no TLS context is needed to say so */
    if (!s->tls && !s->mcfg.profile->tls_required)
        return SIM_METER_RC4_ACCEPT;
    sim_tls *t = station_tls_get(s);
    if (!t)
        return SIM_METER_RC4_REFUSE;
    switch (sim_tls_rc4_gate(t)) {
    case SIM_TLS_RC4_REFUSE: return SIM_METER_RC4_REFUSE;
    case SIM_TLS_RC4_IGNORE: return SIM_METER_RC4_IGNORE;
    default: return SIM_METER_RC4_ACCEPT;
    }
}

/* ---- the fault set between protocol and wire (docs/module-behaviour.md 9) ---- */

/* A line fault that acted on these bytes marks their frame in the capture
 * (--capture, capture/README.md "Fault marks"): "flip injected". */
static void mark_injected(sim_station *s, const uint64_t before[SIM_FAULT_KIND_COUNT], bool to_meter)
{
    for (int k = 0; k < SIM_FAULT_KIND_COUNT; k++) {
        if (s->faults.line.c.injected[k] == before[k])
            continue;
        char text[64];
        snprintf(text, sizeof text, "%s injected", sim_fault_kind_name((sim_fault_kind)k));
        sim_port_capture_mark(s->port, to_meter, text);
    }
}

static size_t fs_rx(void *ctx, uint8_t *buf, size_t n, size_t cap, uint64_t now_us)
{
    sim_station *s = ctx;
    uint64_t before[SIM_FAULT_KIND_COUNT];
    memcpy(before, s->faults.line.c.injected, sizeof before);
    size_t got = sim_fault_set_rx_filter(&s->faults, buf, n, cap, now_us);
    mark_injected(s, before, true);
    return got;
}
static size_t fs_tx(void *ctx, uint8_t *buf, size_t n, size_t cap, uint64_t now_us)
{
    sim_station *s = ctx;
    uint64_t before[SIM_FAULT_KIND_COUNT];
    memcpy(before, s->faults.line.c.injected, sizeof before);
    size_t got = sim_fault_set_tx_filter(&s->faults, buf, n, cap, now_us);
    mark_injected(s, before, false);
    return got;
}
static bool fs_pause(void *ctx, size_t *at, uint32_t *pause_us)
{
    return sim_fault_set_pause_hook(&((sim_station *)ctx)->faults, at, pause_us);
}
static size_t fs_due(void *ctx, unsigned dir, uint64_t now_us, uint8_t *out, size_t cap)
{
    return sim_fault_set_due_hook(&((sim_station *)ctx)->faults, dir, now_us, out, cap);
}
static uint64_t fs_wake(void *ctx, uint64_t now_us)
{
    return sim_fault_set_wake_hook(&((sim_station *)ctx)->faults, now_us);
}
static void fs_event(void *ctx, const char *line, bool on, uint64_t now_us)
{
    sim_fault_set_event_hook(&((sim_station *)ctx)->faults, line, on, now_us);
}
/* Segment pause of a response: kWh glitches that tear a reply (S18) edit
 * the rest of the frame; they need the meter's table layout. */
static bool fs_segment(void *ctx, uint8_t *frame, size_t len, size_t sent, uint64_t now_us)
{
    sim_station *s = ctx;
    return sim_fault_set_segment(&s->faults, s->meter, frame, len, sent, now_us);
}

static void wire_faults(sim_station *s)
{
    sim_line_hooks h = {
        .rx = fs_rx,
        .tx = fs_tx,
        .tx_pause = fs_pause,
        .segment = fs_segment,
        .due = fs_due,
        .next_wake = fs_wake,
        .line_event = fs_event,
        .ctx = s,
    };
    sim_port_set_line_hooks(s->port, &h);
}

/* ---- scenario runner -------------------------------------------------------- */

/* An "optical" step's length is simulated time like the timeline; the probe
 * runs on the wall clock: divide by the clock speed (at least 0.1 s). */
static double optical_wall_s(const sim_station *s, double sim_s)
{
    double speed = sim_meter_clock(s->meter)->speed;
    double w = speed > 0 ? sim_s / speed : sim_s;
    return w < 0.1 ? 0.1 : w > 3600.0 ? 3600.0 : w;
}

/* docs/optical.md 6: a probe reads the meter over optical. */
static void apply_optical_step(sim_station *s, const sim_step *st)
{
    char err[300], msg[600];
    if (!s->optical) {
        snprintf(msg, sizeof msg, "scenario %s: optical step skipped: this meter has no optical port", s->run.sc->name);
        station_log(s, 0, msg);
    } else if (st->u.optical.stop) {
        sim_optical_port_probe_stop(s->optical);
    } else if (sim_optical_port_probe_start(s->optical, optical_wall_s(s, st->u.optical.seconds), st->u.optical.echo,
                                            err, sizeof err) != 0) {
        snprintf(msg, sizeof msg, "scenario %s: optical step: %s", s->run.sc->name, err);
        station_log(s, 0, msg);
    }
}

/* One step through sim_fault_set_apply_step (as the co-simulation runs it);
 * the log lines and the optical probe are the station's. */
static void apply_step(sim_station *s, const sim_step *st, uint64_t now_ms)
{
    char desc[256], msg[1024], err[300];
    sim_scenario_step_format(st, desc, sizeof desc);
    snprintf(msg, sizeof msg, "scenario %s: %s", s->run.sc->name, desc); /* desc includes the note */
    station_log(s, 0, msg);
    switch (sim_fault_set_apply_step(&s->faults, s->meter, st, now_ms * 1000u, err, sizeof err)) {
    case SIM_FAULT_SET_STEP_REFUSED:
        snprintf(msg, sizeof msg, "scenario %s: %s not started: %s", s->run.sc->name,
                 sim_scenario_step_kind_name(st->kind), err);
        station_log(s, 0, msg);
        break;
    case SIM_FAULT_SET_STEP_REBOOTED:
        snprintf(msg, sizeof msg, "scenario %s: meter restarted, E=0x%08X", s->run.sc->name,
                 (unsigned)sim_meter_next_seq(s->meter));
        station_log(s, 0, msg);
        break;
    case SIM_FAULT_SET_STEP_END:
        s->run.ended = true;
        break;
    case SIM_FAULT_SET_STEP_OPTICAL:
        apply_optical_step(s, st);
        break;
    case SIM_FAULT_SET_STEP_DONE:
        break;
    }
}

static void on_scenario_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    sim_station *s = w->data;
    station_runner *r = &s->run;
    uint64_t now = sim_now_us() / 1000u;
    const sim_clock *clk = sim_meter_clock(s->meter);
    if (r->started && !clk->frozen)
        r->elapsed_ms += (double)(now - r->last_wall_ms) * clk->speed;
    r->started = true;
    r->last_wall_ms = now;
    const sim_step *due[16];
    size_t n;
    while ((n = sim_scenario_due(r->sc, (int64_t)r->elapsed_ms, due, 16)) > 0)
        for (size_t i = 0; i < n; i++)
            apply_step(s, due[i], now);
    sim_station_kick(s);
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

static void runner_start(sim_station *s)
{
    station_runner *r = &s->run;
    ev_timer_stop(s->loop, &r->timer);
    sim_scenario_rewind(r->sc);
    r->started = r->ended = false;
    r->elapsed_ms = 0;
    ev_timer_set(&r->timer, 0.0, 0.0);
    ev_timer_start(s->loop, &r->timer);
}

static void clear_faults(sim_station *s)
{
    char out[64];
    sim_fault_set_command(&s->faults, "clear all", sim_now_us(), 0, NULL, out, sizeof out);
}

static json_t *scenario_json(const sim_station *s, bool with_running)
{
    const station_runner *r = &s->run;
    bool done = r->ended || sim_scenario_done(r->sc);
    /* elapsed timeline time now, not at the last step: the runner only
     * books it when a step falls due (on_scenario_timer) */
    double elapsed_ms = r->elapsed_ms;
    const sim_clock *clk = sim_meter_clock(s->meter);
    if (r->started && !done && !clk->frozen && ev_is_active(&r->timer))
        elapsed_ms += (double)(sim_now_us() / 1000u - r->last_wall_ms) * clk->speed;
    json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:b}", "name", r->sc->name, "steps", (json_int_t)r->sc->n_steps,
                          "next", (json_int_t)r->sc->next, "elapsed_s", elapsed_ms / 1000.0, "done", done);
    if (with_running)
        json_object_set_new(o, "running",
                            json_boolean(ev_is_active(&r->timer) || (!r->ended && r->started &&
                                                                      !sim_scenario_done(r->sc))));
    return o;
}

static json_t *scenario_fail(const char *msg) { return json_pack("{s:b, s:s}", "ok", 0, "error", msg); }

/* "load" validates the file strictly (nothing changes on a bad file) and
 * starts its timeline at once on the running meter; the file's profile,
 * keys, seed, policies and patches need a fresh meter (--scenario) and are
 * not applied, which the reply says. "start" clears every fault and glitch,
 * rewinds and restarts the loaded timeline (tests start a timeline once the
 * module reads), "stop" stops it and clears every fault and glitch. */
json_t *sim_station_scenario(sim_station *s, const char *action, const char *path)
{
    station_runner *r = &s->run;
    char err[700], msg[800];
    if (!strcmp(action, "load")) {
        sim_scenario *sc = sim_scenario_load(path, NULL, err, sizeof err);
        if (!sc) {
            snprintf(msg, sizeof msg, "scenario: %s", err);
            return scenario_fail(msg);
        }
        ev_timer_stop(s->loop, &r->timer);
        sim_scenario_free(r->sc);
        r->sc = sc;
        action = "start";
    }
    if (!r->sc)
        return scenario_fail("scenario: none loaded (action \"load\" with a path)");
    if (!strcmp(action, "start")) {
        clear_faults(s); /* a clean restart: faults and glitches of an earlier run go first */
        runner_start(s);
        snprintf(msg, sizeof msg, "scenario %s started from the control socket (%zu steps)", r->sc->name,
                 r->sc->n_steps);
        station_log(s, 0, msg);
    } else if (!strcmp(action, "stop")) {
        ev_timer_stop(s->loop, &r->timer);
        r->ended = true;
        clear_faults(s);
        sim_station_kick(s);
    }
    json_t *o = json_pack("{s:b}", "ok", 1);
    json_object_set_new(o, "scenario", scenario_json(s, true));
    if (!strcmp(action, "start") && path)
        json_object_set_new(o, "note", json_string("timeline only: the file's profile, keys, seed, speed, "
                                                   "policies and patches apply with --scenario"));
    return o;
}

void sim_station_status(sim_station *s, json_t *o)
{
    if (s->run.sc)
        json_object_set_new(o, "scenario", scenario_json(s, false));
    static const char *const names[] = {"idle", "handshaking", "established"};
    sim_tls_state st = s->tls ? sim_tls_get_state(s->tls) : SIM_TLS_IDLE;
    json_object_set_new(o, "tls", json_string(st <= SIM_TLS_ESTABLISHED ? names[st] : "?"));
    /* sim_tls counters for tests and ET89-style diagnostics (docs/mep.md 7.1) */
    static const sim_tls_counters zero;
    const sim_tls_counters *k = s->tls ? sim_tls_counters_get(s->tls) : &zero;
    json_object_set_new(o, "tls_counters",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "handshakes_started",
                                  (json_int_t)k->handshakes_started, "handshakes_ok", (json_int_t)k->handshakes_ok,
                                  "handshake_failures", (json_int_t)k->handshake_failures, "identity_rejects",
                                  (json_int_t)k->identity_rejects, "tables", (json_int_t)k->tables, "no_session",
                                  (json_int_t)k->no_session, "terminates", (json_int_t)k->terminates,
                                  "rc4_refused", (json_int_t)k->rc4_refused, "errors", (json_int_t)k->errors,
                                  "last_mbedtls_error", k->last_mbedtls_error));
}

/* ---- life cycle ------------------------------------------------------------- */

/* ---- persistent state (--state FILE, store/sim_state.h) -------------------- */

static int64_t wall_utc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What makes a save worth writing: registers, E, loads and the kept
 * tables (FNV-1a). The simulated time alone moving does not: the model replays it. */
static uint64_t state_hash(const sim_state *st)
{
    uint64_t h = 1469598103934665603ull;
#define MIX(p, n) for (size_t k_ = 0; k_ < (n); k_++) h = (h ^ ((const uint8_t *)(p))[k_]) * 1099511628211ull
    MIX(st->model.reg_m, sizeof st->model.reg_m);
    MIX(&st->next_seq, sizeof st->next_seq);
    for (size_t i = 0; i < SIM_MAX_PHASES; i++) {
        MIX(&st->model.load[i].watts, sizeof st->model.load[i].watts);
        MIX(&st->model.override_active[i], sizeof st->model.override_active[i]);
    }
    for (size_t i = 0; i < st->n_tables; i++) {
        MIX(&st->tables[i].id, sizeof st->tables[i].id);
        MIX(st->tables[i].bytes, st->tables[i].len);
    }
#undef MIX
    return h ? h : 1;
}

/* A missing file is a first run (the folder must be writable); a bad or
 * mismatched one stops mepsim before any device exists. */
static int load_state(sim_station *s, uint64_t now_ms, char *err, size_t errlen)
{
    const char *path = s->sec->state;
    char sub[600];
    if (sim_state_check_path(path, sub, sizeof sub) != 0) {
        snprintf(err, errlen, "meter %s: state file %s", s->sec->name, sub);
        return -1;
    }
    sim_state st;
    sim_state_result r = sim_state_load(path, &st, sub, sizeof sub);
    if (r == SIM_STATE_MISSING)
        return 0;
    if (r != SIM_STATE_OK) {
        snprintf(err, errlen, "meter %s: state file %s", s->sec->name, sub);
        return -1;
    }
    int rc = 0;
    if (sim_meter_state_apply(s->meter, &st, now_ms, wall_utc_now_ms(), sub, sizeof sub) != SIM_METER_STATE_OK) {
        snprintf(err, errlen, "meter %s: state file %s: %s", s->sec->name, path, sub);
        rc = -1;
    } else {
        s->saved_hash = state_hash(&st);
    }
    sim_state_clear(&st);
    return rc;
}

sim_station_save_result sim_station_save_state(sim_station *s, bool force, char *err, size_t errlen)
{
    if (!s->sec->state[0])
        return SIM_STATION_SAVE_NONE;
    sim_state st;
    if (sim_meter_state_get(s->meter, sim_now_us() / 1000u, wall_utc_now_ms(), &st) != 0) {
        snprintf(err, errlen, "meter %s: state: out of memory", s->sec->name);
        return SIM_STATION_SAVE_FAILED;
    }
    uint64_t h = state_hash(&st);
    if (!force && h == s->saved_hash) {
        sim_state_clear(&st);
        return SIM_STATION_SAVE_UNCHANGED;
    }
    char *text = sim_state_dump(&st);
    sim_state_clear(&st);
    char sub[600] = "out of memory";
    if (!text || sim_state_write_file(s->sec->state, text, sub, sizeof sub) != 0) {
        free(text);
        snprintf(err, errlen, "meter %s: state not saved: %s", s->sec->name, sub);
        return SIM_STATION_SAVE_FAILED;
    }
    free(text);
    s->saved_hash = h;
    return SIM_STATION_SAVE_WRITTEN;
}

static void on_save_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    sim_station *s = w->data;
    char err[800];
    sim_station_save_result r = sim_station_save_state(s, false, err, sizeof err);
    if (r == SIM_STATION_SAVE_FAILED && !s->save_failed)
        station_log(s, 0, err); /* once per failure streak, then quiet until a save works */
    s->save_failed = r == SIM_STATION_SAVE_FAILED;
}

sim_station *sim_station_new(const sim_config_meter *sec, size_t index, sim_profiles *shared, uint64_t now_ms,
                             char *err, size_t errlen)
{
    sim_station *s = sim_ev_new(sizeof *s, err, errlen);
    if (!s)
        return NULL;
    s->sec = sec;
    s->index = index;
    s->log = stderr;
    if (shared && !sec->scenario[0]) {
        if (sim_config_meter_cfg_shared(sec, shared, &s->mcfg, err, errlen) != 0) {
            sim_station_free(s);
            return NULL;
        }
    } else {
        sim_profile *own = calloc(1, sizeof *own);
        if (!own) {
            snprintf(err, errlen, "meter %s: out of memory", sec->name);
            sim_station_free(s);
            return NULL;
        }
        if (sim_config_meter_cfg(sec, own, &s->mcfg, &s->run.sc, err, errlen) != 0) {
            free(own);
            sim_station_free(s);
            return NULL;
        }
        s->own_profile = own;
    }
    char sub[700];
    s->meter = sim_meter_new(&s->mcfg, now_ms, sub, sizeof sub);
    if (!s->meter) {
        snprintf(err, errlen, "meter %s: %s", sec->name, sub);
        sim_station_free(s);
        return NULL;
    }
    /* faults and glitches draw from the meter's seed (--seed or the
     * scenario's "seed"): a run is repeatable for a given seed */
    sim_fault_set_init(&s->faults, s->mcfg.seed ? s->mcfg.seed : 1);
    sim_meter_fault_hooks fh;
    sim_fault_set_meter_hooks(&s->faults, &fh);
    sim_meter_set_fault_hooks(s->meter, &fh);
    sim_meter_tls_hooks th = {.on_message = tls_on_message, .rc4_gate = tls_rc4_gate, .ctx = s};
    sim_meter_set_tls_hooks(s->meter, &th);
    if (sec->state[0] && load_state(s, now_ms, err, errlen) != 0) {
        sim_station_free(s);
        return NULL;
    }
    return s;
}

/* The optical port (docs/optical.md): a separate PTY/UART when asked for,
 * else shared with the MEP line on Gen 2/3 profiles (6); Gen 4 without
 * --optical-pty/--optical-uart has none. */
static int open_optical(sim_station *s, char *err, size_t errlen)
{
    const sim_config_meter *c = s->sec;
    sim_optical_cfg oc;
    sim_optical_port_cfg_from_profile(s->mcfg.profile, c->name, &oc);
    if (!c->optical_pty[0] && !c->optical_uart[0] && !oc.shared_uart)
        return 0;
    sim_optical_port_cfg pc = {
        .name = c->name,
        .pty_path = c->optical_pty[0] ? c->optical_pty : NULL,
        .uart = c->optical_uart[0] ? c->optical_uart : NULL,
        .mep = s->port,
        .verbose = s->verbose,
        .log = s->log,
        .capture = s->capture,
    };
    s->optical = sim_optical_port_open(s->loop, s->meter, &oc, &pc, err, errlen);
    if (!s->optical)
        return -1;
    if (sim_optical_port_shared(s->optical))
        printf("%s: optical port shares the MEP line (Gen %d)\n", c->name, s->mcfg.profile->generation);
    else
        printf("%s: optical %s -> %s\n", c->name, sim_optical_port_path(s->optical),
               sim_optical_port_device(s->optical));
    return 0;
}

int sim_station_open(sim_station *s, const sim_station_env *env, char *err, size_t errlen)
{
    const sim_config_meter *c = s->sec;
    struct ev_loop *loop = env->loop;
    int verbose = env->verbose;
    FILE *log = env->log;
    const char *capture = env->capture;
    s->tls_rng = env->tls_rng;
    char sub[900];
    s->loop = loop;
    s->verbose = verbose;
    s->log = log ? log : stderr;
    s->capture = capture && capture[0] ? capture : NULL;
    ev_init(&s->run.timer, on_scenario_timer); /* also for "scenario load" on the control socket */
    s->run.timer.data = s;
    ev_init(&s->save_timer, on_save_timer);
    s->save_timer.data = s;
    if (c->state[0]) {
        ev_timer_set(&s->save_timer, SIM_STATE_SAVE_S, SIM_STATE_SAVE_S);
        ev_timer_start(loop, &s->save_timer);
    }
    sim_port_cfg pc = {
        .name = c->name,
        .pty_path = c->pty[0] ? c->pty : NULL,
        .uart = c->uart[0] ? c->uart : NULL,
        .tcp = c->tcp[0] ? c->tcp : NULL,
        .unix_path = c->unix_path[0] ? c->unix_path : NULL,
        .pty_hub = env->pty_hub,
        .pacer = env->pacer,
        .baud = c->baud,
        .format = c->format[0] ? c->format : NULL,
        .verbose = verbose,
        .log = s->log,
        .capture = s->capture,
    };
    s->port = sim_port_open(loop, s->meter, &pc, sub, sizeof sub);
    if (!s->port) {
        snprintf(err, errlen, "meter %s: %s", c->name, sub);
        return -1;
    }
    wire_faults(s);
    /* HIL modem lines on the UART (sim_portmodem.h) */
    if (c->has_modem && sim_portmodem_wanted(&c->modem) &&
        sim_station_attach_modem(s, &c->modem, NULL, err, errlen) != 0)
        return -1;
    if (open_optical(s, sub, sizeof sub) != 0) {
        snprintf(err, errlen, "meter %s: optical port: %s", c->name, sub);
        return -1;
    }
    if (s->run.sc) {
        ev_timer_set(&s->run.timer, 0.0, 0.0);
        ev_timer_start(loop, &s->run.timer);
        printf("%s: scenario %s (%zu steps)\n", c->name, s->run.sc->name, s->run.sc->n_steps);
    }
    printf("%s: %s %s -> %s (%u baud, E=0x%08X)\n", c->name,
           c->pty[0] ? "pty" : c->uart[0] ? "uart" : c->tcp[0] ? "tcp" : "unix", sim_port_path(s->port),
           sim_port_device(s->port), (unsigned)sim_port_line(s->port)->baud,
           (unsigned)sim_meter_next_seq(s->meter));
    return 0;
}

int sim_station_attach_modem(sim_station *s, const sim_modem_cfg *cfg, const sim_modem_port *iface, char *err,
                             size_t errlen)
{
    if (s->modem) {
        snprintf(err, errlen, "meter %s: modem lines already attached", s->sec->name);
        return -1;
    }
    if (!s->port) {
        snprintf(err, errlen, "meter %s: modem lines need an open port", s->sec->name);
        return -1;
    }
    s->modem = sim_portmodem_attach(s->port, cfg, iface, err, errlen);
    return s->modem ? 0 : -1;
}

void sim_station_free(sim_station *s)
{
    if (!s)
        return;
    if (s->loop) {
        ev_timer_stop(s->loop, &s->run.timer);
        ev_timer_stop(s->loop, &s->save_timer);
    }
    sim_optical_port_close(s->optical); /* removes its tap from the MEP port */
    sim_portmodem_free(s->modem);       /* before the device it polls is closed */
    sim_port_close(s->port);
    if (s->meter) {
        sim_meter_set_tls_hooks(s->meter, NULL);
        sim_meter_set_fault_hooks(s->meter, NULL);
        sim_meter_free(s->meter);
    }
    sim_tls_free(s->tls);
    sim_scenario_free(s->run.sc);
    if (s->own_profile) { /* after the meter, which uses it */
        sim_profile_free(s->own_profile);
        free(s->own_profile);
    }
    free(s);
}

/* ---- identity, parts, operations ------------------------------------------ */

const char *sim_station_name(const sim_station *s) { return s->sec->name; }
size_t sim_station_index(const sim_station *s) { return s->index; }
sim_meter *sim_station_meter(sim_station *s) { return s->meter; }
sim_port *sim_station_port(sim_station *s) { return s->port; }
sim_optical_port *sim_station_optical(sim_station *s) { return s->optical; }
sim_tls *sim_station_tls(sim_station *s) { return s->tls; }
sim_fault_set *sim_station_faults(sim_station *s) { return &s->faults; }
sim_portmodem *sim_station_modem(sim_station *s) { return s->modem; }

void sim_station_kick(sim_station *s)
{
    if (s->port)
        sim_port_kick(s->port);
}

void sim_station_line_event(sim_station *s, sim_station_line which, bool on)
{
    sim_station_line_event_at(s, which, on, sim_now_us());
}

void sim_station_line_event_at(sim_station *s, sim_station_line which, bool on, uint64_t at_us)
{
    sim_meter_line l = which == SIM_STATION_LINE_ENABLE ? SIM_METER_ENABLE : SIM_METER_TRANSCEIVER;
    if (s->port)
        sim_port_line_event_at(s->port, l, on, at_us);
    else
        sim_meter_set_line(s->meter, l, on, at_us / 1000u);
}
