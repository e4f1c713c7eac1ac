/* cosim: meter + line + faults + scenario + firmware core on one
 * discrete-event clock; see cosim.h and README.md.
 *
 * Event sources (cosim_queue), run in this order at equal times:
 *   SCEN  the scenario timeline (steps through sim_fault_set_apply_step,
 *         as the station runs them)
 *   MODTX the module's UART transmitter: each byte reaches the meter's
 *         line when its stop bit ends (10 bit times at the line rate)
 *   LINE  the meter's line core (sim_line_next_wake: paced reply bytes,
 *         117-byte segments + 25 ms, throttle, gap abort, alerts, meter
 *         ticks, fault-layer wakes)
 *   FW    the firmware core (mepc_run's returned delay; at once after
 *         bytes arrived, firmware/README.md "Driving the core")
 * Board-line events from the core's HAL (transceiver power, ENABLE) reach
 * the meter and the fault set the way io/sim_port.c hands them on
 * (sim_meter_set_line, then the line's line_event hook, then a kick).
 */
#include "cosim_internal.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "host_dash.h"

static uint32_t fw_ms(const cosim *s) { return (uint32_t)(s->now / 1000u); }
static double sim_s(const cosim *s) { return (double)(s->now - V0_US) / 1e6; }

static void vlog(cosim *s, const char *who, const char *msg)
{
    fprintf(s->log, "[%12.6f] %s %s\n", sim_s(s), who, msg);
}

/* ---- firmware HAL ----------------------------------------------------------- */

static uint64_t modtx_done_us(const cosim *s, uint64_t k)
{
    return s->tx_burst_us + (k + 1) * s->bits_per_char * 1000000ull / s->module_baud;
}

static size_t hal_uart_write(void *ctx, const uint8_t *p, size_t n)
{
    cosim *s = ctx;
    if (s->tx_n == 0) {           /* idle transmitter: the first start bit goes now */
        s->tx_burst_us = s->now;
        s->tx_burst_k = 0;
    }
    size_t k = MODTX_CAP - s->tx_n;
    if (k > n) k = n;
    for (size_t i = 0; i < k; i++)
        s->tx[(s->tx_head + s->tx_n + i) % MODTX_CAP] = p[i];
    s->tx_n += k;
    s->c.tx_overflow += n - k;
    if (s->tx_n)
        cosim_queue_soon(&s->q, SRC_MODTX, modtx_done_us(s, s->tx_burst_k));
    return k;
}

static void hal_flush_rx(void *ctx) { ((cosim *)ctx)->c.rx_flushes++; }

/* io/sim_port.c sim_port_line_event_at: the meter stores the level, the
 * line hooks (the fault set's transceiver model, S09) hear of it, a kick. */
static void board_line(cosim *s, sim_meter_line which, bool on)
{
    const char *name = sim_meter_line_name(which);
    sim_line_line_event(&s->line, which, on, s->now);
    if (s->cfg.verbose >= 1) {
        char msg[96];
        snprintf(msg, sizeof msg, "line event: %s %s", name, on ? "on" : "off");
        vlog(s, "board", msg);
    }
    s->line.meter_deadline_ms = 0;
    cosim_queue_soon(&s->q, SRC_LINE, s->now);
}

static void hal_xcvr(void *ctx, bool on)
{
    cosim *s = ctx;
    s->xcvr_on = on;
    if (on) s->c.xcvr_on++; else s->c.xcvr_off++;
    board_line(s, SIM_METER_TRANSCEIVER, on);
}

static void hal_enable(void *ctx, bool on)
{
    cosim *s = ctx;
    s->enable_on = on;
    if (on) s->c.enable_on++; else s->c.enable_off++;
    board_line(s, SIM_METER_ENABLE, on);
}

static void hal_log(void *ctx, int level, const char *msg)
{
    cosim *s = ctx;
    if (level <= s->cfg.verbose)
        vlog(s, "fw", msg);
}

static bool hal_store_load(void *ctx, void *blob, size_t len)
{
    cosim *s = ctx;
    if (s->store_n != len)
        return false;
    memcpy(blob, s->store, len);
    return true;
}

static bool hal_store_save(void *ctx, const void *blob, size_t len)
{
    cosim *s = ctx;
    if (len > sizeof s->store)
        return false;
    memcpy(s->store, blob, len);
    s->store_n = len;
    s->c.store_saves++;
    return true;
}

/* ---- the fault set on the line ------------------------------------------------ */

/* S18 torn snapshot: glitches rewrite the rest of a reply at a segment pause. */
static bool fs_segment(void *ctx, uint8_t *frame, size_t len, size_t sent, uint64_t t)
{
    cosim *s = ctx;
    return sim_fault_set_segment(&s->faults, s->meter, frame, len, sent, t);
}

static void line_log(void *ctx, int level, const char *msg)
{
    (void)level;
    cosim *s = ctx;
    vlog(s, sim_meter_name(s->meter), msg);
}

/* ---- scenario timeline (faults/sim_fault_set_apply_step, as the station) -- */

static uint64_t scenario_length_us(const sim_scenario *sc);

/* Steps run through sim_fault_set_apply_step, as in the station; no
 * optical port here (README "Limits"). */
static void apply_step(cosim *s, const sim_step *st)
{
    char err[300];
    s->c.steps++;
    if (s->cfg.verbose >= 1) {
        char desc[256];
        sim_scenario_step_format(st, desc, sizeof desc);
        vlog(s, "scenario", desc);
    }
    switch (sim_fault_set_apply_step(&s->faults, s->meter, st, s->now, err, sizeof err)) {
    case SIM_FAULT_SET_STEP_REFUSED: {
        s->c.step_errors++;
        char msg[400];
        snprintf(msg, sizeof msg, "scenario step not started: %s", err);
        vlog(s, "scenario", msg);
        break;
    }
    case SIM_FAULT_SET_STEP_END:
        s->sc_ended = true;
        break;
    case SIM_FAULT_SET_STEP_OPTICAL:
        s->c.optical_skipped++;
        break;
    case SIM_FAULT_SET_STEP_DONE:
    case SIM_FAULT_SET_STEP_REBOOTED:
        break;
    }
}

static void scen_schedule(cosim *s)
{
    int64_t next = s->sc ? sim_scenario_next_at(s->sc) : INT64_MAX;
    if (!s->sc || s->sc_ended || next == INT64_MAX) {
        cosim_queue_set(&s->q, SRC_SCEN, COSIM_NEVER);
        return;
    }
    if (s->sc_held) {             /* no reading yet: start anyway after HOLD_MAX_US */
        cosim_queue_set(&s->q, SRC_SCEN, s->sc_hold_from + HOLD_MAX_US);
        return;
    }
    uint64_t want = (uint64_t)next * 1000u;
    uint64_t at = s->now + (want > s->sc_elapsed_us ? want - s->sc_elapsed_us : 0);
    if (sim_meter_clock(s->meter)->frozen)
        at = s->now + 1000000u;   /* a frozen clock holds the timeline: look again in 1 s */
    cosim_queue_set(&s->q, SRC_SCEN, at);
}

/* The held timeline starts now: its time counts from here, and a run
 * without --duration lasts the scenario's length from here. */
static void release_timeline(cosim *s)
{
    s->sc_held = false;
    s->sc_last_us = s->now;
    s->sc_started_us = s->now;
    if (s->auto_end)
        s->end = s->now + scenario_length_us(s->sc);
    scen_schedule(s);
}

static void run_scenario(cosim *s)
{
    if (s->sc_held) {
        release_timeline(s);
        return;
    }
    if (!sim_meter_clock(s->meter)->frozen)
        s->sc_elapsed_us += s->now - s->sc_last_us;
    s->sc_last_us = s->now;
    const sim_step *due[16];
    size_t n;
    while (!s->sc_ended && (n = sim_scenario_due(s->sc, (int64_t)(s->sc_elapsed_us / 1000u), due, 16)) > 0)
        for (size_t i = 0; i < n; i++)
            apply_step(s, due[i]);
    s->line.meter_deadline_ms = 0;  /* the station kicks the port after steps */
    cosim_queue_soon(&s->q, SRC_LINE, s->now);
    scen_schedule(s);
}

/* ---- the wire in both directions -------------------------------------------- */

static void run_modtx(cosim *s)
{
    uint8_t b[MODTX_CAP];
    size_t k = 0;
    while (s->tx_n > 0 && modtx_done_us(s, s->tx_burst_k) <= s->now) {
        b[k++] = s->tx[s->tx_head];
        s->tx_head = (s->tx_head + 1) % MODTX_CAP;
        s->tx_n--;
        s->tx_burst_k++;
    }
    if (k) {
        cosim_wire_chunk(&s->wire, COSIM_WIRE_TO_METER, s->now, b, k);
        sim_line_rx(&s->line, b, k, s->now);
    }
    cosim_queue_set(&s->q, SRC_MODTX, s->tx_n ? modtx_done_us(s, s->tx_burst_k) : COSIM_NEVER);
}

static void run_line(cosim *s)
{
    uint8_t out[512];
    size_t n;
    while ((n = sim_line_poll(&s->line, s->now, out, sizeof out)) > 0) {
        cosim_wire_chunk(&s->wire, COSIM_WIRE_TO_MODULE, s->now, out, n);
        if (s->sketch) {          /* the sketch's own transceiver model drops what it must */
            if (!s->xcvr_on)
                s->c.rx_unpowered += n;
            cosim_sketch_line_bytes(s, out, n);
            continue;
        }
        if (!s->xcvr_on) {
            s->c.rx_unpowered += n;   /* an unpowered transceiver passes nothing */
            continue;
        }
        mepc_rx(&s->fw, out, n, fw_ms(s));
        cosim_queue_soon(&s->q, SRC_FW, s->now);
    }
    if (s->line.baud_dirty) {
        s->line.baud_dirty = false;
        s->c.baud_changes_ignored++;
    }
}

/* ---- publishing ----------------------------------------------------------------- */

/* The bookkeeping of one published reading (any firmware): counts, a
 * reading that fell or exceeds the model, a meter change, the start of a
 * held timeline. Gives the model's registers now. */
void cosim_published(cosim *s, int64_t fwd_wh, int64_t rev_wh, const char *sn, bool suspect, int64_t *model_fwd,
                     int64_t *model_rev)
{
    if (!sn)
        sn = "";
    s->pub_any = true;
    if (s->sc_held)               /* a held timeline starts at the first reading (cosim.h) */
        release_timeline(s);
    /* a new Utility_SN is a new meter (S17 reset): a new baseline */
    bool same_meter = !strcmp(s->pub_sn, sn);
    if (s->published && same_meter && (fwd_wh < s->pub_fwd || rev_wh < s->pub_rev))
        s->c.published_fell++;
    snprintf(s->pub_sn, sizeof s->pub_sn, "%s", sn);
    s->pub_fwd = fwd_wh;
    s->pub_rev = rev_wh;
    s->published++;
    if (suspect)
        s->suspect++;
    /* the truth at this moment (the model integrates lazily: exact at any time) */
    sim_meter_advance(s->meter, s->now / 1000u);
    const sim_model *md = sim_meter_model(s->meter);
    int64_t fwd = sim_model_register(md, SIM_REG_FWD_WH), rev = sim_model_register(md, SIM_REG_REV_WH);
    /* a published value the meter's model never reached is bogus (a spike
     * let through); after a meter change (new serial) the model's registers
     * are no longer what the meter serves */
    if (!s->sn_changed && s->published > 1 && !same_meter)
        s->sn_changed = true;
    if (!s->sn_changed && (fwd_wh > fwd || rev_wh > rev))
        s->c.published_above_truth++;
    *model_fwd = fwd;
    *model_rev = rev;
}

static void maybe_publish(cosim *s)
{
    const mepc_readings *r = mepc_get_readings(&s->fw);
    /* one line per completed poll: the core reads BT23 then BT28 */
    if (!r->present_valid || (s->pub_any && r->bt28.at_ms == s->pub_bt28_at))
        return;
    if (!host_dash_ready(r, fw_ms(s), NULL))
        return;
    s->pub_bt28_at = r->bt28.at_ms;
    int64_t fwd, rev;
    cosim_published(s, r->fwd_wh, r->rev_wh, r->utility_sn, r->energy_suspect, &fwd, &rev);
    if (!s->out.published)
        return;
    int64_t utc = s->start_utc_ms + (int64_t)((s->now - V0_US) / 1000u);
    cosim_out_publish(&s->out, r, fw_ms(s), sim_s(s), utc, fwd, rev);
}

double cosim_sim_seconds(const cosim *s) { return sim_s(s); }

int64_t cosim_utc_ms(const cosim *s) { return s->start_utc_ms + (int64_t)((s->now - V0_US) / 1000u); }

void cosim_module_uart_write(cosim *s, const uint8_t *p, size_t n) { hal_uart_write(s, p, n); }

void cosim_module_line(cosim *s, bool transceiver, bool on)
{
    /* through the HAL's pointers, as the core's own events go, so whatever
     * observes them (the control channel's record, cosim_ctl.c) sees a
     * sketch's lines too */
    if (transceiver)
        s->hal.transceiver_power(s->hal.ctx, on);
    else
        s->hal.meter_enable(s->hal.ctx, on);
}

static void run_fw(cosim *s)
{
    if (s->sketch) {
        cosim_sketch_run(s);
        return;
    }
    uint32_t w = mepc_run(&s->fw, fw_ms(s));
    cosim_queue_set(&s->q, SRC_FW, s->now + (uint64_t)(w ? w : 1) * 1000u);
    maybe_publish(s);
}

/* ---- setup ---------------------------------------------------------------------- */

/* As the real-time scenario suite does (tests/hil/test_scenarios.py): a
 * timeline whose first fault-like step is after 0 is held until the module
 * publishes, as on an installation where the module is up long before the
 * fault; else the first steps would hit its very first reading. */
static bool timeline_wants_hold(const sim_scenario *sc)
{
    for (size_t i = 0; i < sc->n_steps; i++)
        if (sc->steps[i].kind != SIM_STEP_LOAD && sc->steps[i].kind != SIM_STEP_WAIT)
            return sc->steps[i].at_ms > 0;
    return false;
}

static uint64_t scenario_length_us(const sim_scenario *sc)
{
    int64_t last = 0;
    for (size_t i = 0; i < sc->n_steps; i++) {
        if (sc->steps[i].kind == SIM_STEP_END)
            return (uint64_t)sc->steps[i].at_ms * 1000u;
        if (sc->steps[i].at_ms > last)
            last = sc->steps[i].at_ms;
    }
    return (uint64_t)(last + 60000) * 1000u;
}

/* The meter's configuration from --profile/--scenario through
 * sim_scenario_meter_cfg (as simulator/app/sim_config.c builds it), on the
 * virtual clock: speed 1 (virtual time is the simulated time), a fixed UTC
 * start and a non-zero seed. */
static int load_meter_cfg(cosim *s, char *err, size_t errlen)
{
    const cosim_cfg *c = &s->cfg;
    if (c->scenario_path) {
        s->sc = sim_scenario_load(c->scenario_path, NULL, err, errlen);
        if (!s->sc)
            return -1;
    }
    sim_meter_cfg *m = &s->mcfg;
    if (sim_scenario_meter_cfg(s->sc, c->profile_path, &s->prof, m, err, errlen) != 0)
        return -1;
    s->prof_loaded = true;
    if (c->has_seed)
        m->seed = c->seed;
    if (!m->seed)
        m->seed = 1;
    m->speed = 1.0;
    if (!(s->sc && s->sc->has_start_utc) && !s->prof.start_utc_s)
        m->start_utc_ms = DEFAULT_UTC_MS;
    s->start_utc_ms = m->start_utc_ms;
    m->name = "meter0";
    return 0;
}

static void setup_firmware(cosim *s)
{
    const cosim_cfg *c = &s->cfg;
    mepc_config_defaults(&s->fwcfg);
    /* the module is configured with the key printed for the meter (the
     * profile's), not the one a scenario gives the meter (S06 wrong MBK) */
    memcpy(s->fwcfg.mbk, c->has_mbk ? c->mbk : s->prof.mbk, 16);
    if (c->has_mak) {
        memcpy(s->fwcfg.mak, c->mak, 16);
        s->fwcfg.has_mak = true;
    }
    if (c->poll_ms)
        s->fwcfg.poll_ms = c->poll_ms;
    memset(&s->hal, 0, sizeof s->hal);
    s->hal.ctx = s;
    s->hal.uart_write = hal_uart_write;
    s->hal.uart_flush_rx = hal_flush_rx;
    s->hal.transceiver_power = hal_xcvr;
    s->hal.meter_enable = hal_enable;
    s->hal.log = hal_log;
    s->hal.store_load = hal_store_load;
    s->hal.store_save = hal_store_save;
    s->xcvr_on = s->enable_on = true;
    mepc_init(&s->fw, &s->hal, &s->fwcfg, fw_ms(s));
}

cosim *cosim_new(const cosim_cfg *cfg, char *err, size_t errlen)
{
    if (cfg->firmware == COSIM_FIRMWARE_SKETCH && !cosim_sketch_check_path(cfg->firmware_path, err, errlen))
        return NULL;
    if (cfg->profile_path && cfg->scenario_path) {
        snprintf(err, errlen, "give --profile or --scenario (the scenario names its profile)");
        return NULL;
    }
    cosim *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->log = cfg->log ? cfg->log : stderr;
    s->now = V0_US;
    cosim_queue_init(&s->q, SRC_COUNT);
    if (load_meter_cfg(s, err, errlen) != 0) {
        cosim_free(s);
        return NULL;
    }
    uint64_t dur = cfg->duration_us ? cfg->duration_us : s->sc ? scenario_length_us(s->sc) : DEFAULT_DURATION_US;
    s->end = V0_US + dur;
    char sub[400];
    s->meter = sim_meter_new(&s->mcfg, s->now / 1000u, sub, sizeof sub);
    if (!s->meter) {
        snprintf(err, errlen, "meter: %s", sub);
        cosim_free(s);
        return NULL;
    }
    if (cfg->out_dir) {
        if (cosim_out_open(&s->out, cfg->out_dir, !cfg->no_published, cfg->capture_wire, err, errlen) != 0) {
            cosim_free(s);
            return NULL;
        }
        s->out_open = true;
    }
    cosim_wire_init(&s->wire, s->out.wire);
    if (s->out_open && cfg->capture_pcapng) {
        /* the wire also as pcapng (capture/README.md), stamped with the meter's UTC */
        char path[sizeof s->out.dir + 16], owner[96], sub2[300];
        snprintf(path, sizeof path, "%s/wire.pcapng", s->out.dir);
        snprintf(owner, sizeof owner, "mepsim-cosim (seed %llu)", (unsigned long long)s->mcfg.seed);
        cap_line *cl = cap_line_open(path, owner, "meter0", "MEP port (virtual time, mepsim-cosim)", CAP_PORT_MEP,
                                     sub2, sizeof sub2);
        if (!cl) {
            snprintf(err, errlen, "--out: wire.pcapng: %s", sub2);
            cosim_free(s);
            return NULL;
        }
        cosim_wire_pcapng(&s->wire, cl, (uint64_t)(s->start_utc_ms * 1000) - V0_US);
    }
    /* faults and glitches draw from the meter's seed, as in the station */
    sim_fault_set_init(&s->faults, s->mcfg.seed);
    sim_meter_fault_hooks fh;
    sim_fault_set_meter_hooks(&s->faults, &fh);
    sim_meter_set_fault_hooks(s->meter, &fh);
    s->bits_per_char = 10;        /* 8N1, docs/mep.md 2 */
    sim_line_init(&s->line, s->meter, 0, s->bits_per_char);
    s->module_baud = s->line.baud;
    sim_line_set_log(&s->line, line_log, s, cfg->verbose);
    /* the fault set between protocol and wire, as the station wires it */
    sim_line_hooks h = {.rx = sim_fault_set_rx_filter, .tx = sim_fault_set_tx_filter,
                        .tx_pause = sim_fault_set_pause_hook, .segment = fs_segment,
                        .due = sim_fault_set_due_hook, .next_wake = sim_fault_set_wake_hook,
                        .line_event = sim_fault_set_event_hook, .ctx = s};
    sim_line_set_hooks(&s->line, &h);
    setup_firmware(s);
    if (cfg->firmware == COSIM_FIRMWARE_SKETCH) {
        /* the sketch drives the lines itself; the meter sees them on until it does */
        s->sketch = cosim_sketch_start(s, err, errlen);
        if (!s->sketch) {
            cosim_free(s);
            return NULL;
        }
    }
    s->sc_last_us = s->now;
    s->sc_held = s->sc && !cfg->start_at_once && timeline_wants_hold(s->sc);
    s->sc_hold_from = s->sc_started_us = s->now;
    s->auto_end = !cfg->duration_us && s->sc;
    if (s->auto_end && s->sc_held)
        s->end = COSIM_NEVER - 1; /* set when the timeline starts */
    scen_schedule(s);
    cosim_queue_set(&s->q, SRC_FW, s->now);
    cosim_queue_soon(&s->q, SRC_LINE, s->now);
    return s;
}

/* ---- the loop ----------------------------------------------------------------- */

bool cosim_run_until(cosim *s, uint64_t t_us)
{
    uint64_t stop = t_us > UINT64_MAX - V0_US ? UINT64_MAX : V0_US + t_us;
    unsigned src;
    uint64_t at;
    /* s->end may move while running (a held timeline sets it when it starts) */
    while (cosim_queue_peek(&s->q, &src, &at) && at <= stop && at <= s->end) {
        if (s->sketch && cosim_sketch_take_break(s->sketch))
            return true;          /* an awaited answer arrived (cosim_http_get): stop here */
        if (at > s->now)
            s->now = at;
        s->events++;
        switch (src) {
        case SRC_SCEN: run_scenario(s); break;
        case SRC_MODTX: run_modtx(s); break;
        case SRC_LINE: run_line(s); break;
        default: run_fw(s); break;
        }
        /* the line's next wake is a function of its state, which any event may change */
        uint64_t w = sim_line_next_wake(&s->line, s->now);
        if (w <= s->now && src == SRC_LINE)
            w = s->now + 1;       /* polled now and nothing moved: never spin at one instant */
        cosim_queue_set(&s->q, SRC_LINE, w);
    }
    if (s->sketch && cosim_sketch_take_break(s->sketch))
        return true;
    uint64_t t = stop < s->end ? stop : s->end;
    if (t > s->now)
        s->now = t;
    return s->now < s->end;
}

/* ---- counters.json -------------------------------------------------------------- */

static json_t *counters_json(cosim *s)
{
    sim_meter_advance(s->meter, s->now / 1000u);
    const sim_model *md = sim_meter_model(s->meter);
    cosim_report r = {
        .simulated_s = sim_s(s),
        .timeline_started_s = (double)(s->sc_started_us - V0_US) / 1e6,
        .events = s->events,
        .wire_sha256 = s->sha,
        .wire_to_meter = s->wire.bytes[COSIM_WIRE_TO_METER],
        .wire_to_module = s->wire.bytes[COSIM_WIRE_TO_MODULE],
        .published = s->published,
        .suspect = s->suspect,
        .seed = s->mcfg.seed,
        .c = &s->c,
        .meter = sim_meter_counters_get(s->meter),
        .line = &s->line.c,
        .faults = &s->faults,
        .fw = mepc_get_readings(&s->fw),
        .fw_ms = fw_ms(s),
        .model_fwd_wh = sim_model_register(md, SIM_REG_FWD_WH),
        .model_rev_wh = sim_model_register(md, SIM_REG_REV_WH),
        .published_fwd_wh = s->pub_fwd,
        .published_rev_wh = s->pub_rev,
    };
    json_t *o = cosim_report_json(&r);
    if (o && s->sketch)
        json_object_set_new(o, "sketch", cosim_sketch_counters(s->sketch));
    return o;
}

cosim_result cosim_finish(cosim *s, char *err, size_t errlen)
{
    cosim_run_until(s, UINT64_MAX);
    if (s->sketch)
        cosim_sketch_stop(s);
    cosim_wire_finish(&s->wire, s->sha);
    if (s->sketch && cosim_sketch_error(s->sketch)) {
        snprintf(err, errlen, "%s", cosim_sketch_error(s->sketch));
        if (s->out_open) {
            char e2[64];
            cosim_out_close(&s->out, e2, sizeof e2);
            s->out_open = false;
        }
        return COSIM_ERR_CONFIG;
    }
    if (!s->out_open)
        return COSIM_OK;
    json_t *o = counters_json(s);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    int rc = text ? cosim_out_write_file(&s->out, "counters.json", text, err, errlen) : -1;
    free(text);
    if (rc == 0)
        rc = cosim_out_close(&s->out, err, errlen);
    s->out_open = false;
    return rc == 0 ? COSIM_OK : COSIM_ERR_IO;
}

void cosim_get_summary(const cosim *s, cosim_summary *out)
{
    memset(out, 0, sizeof *out);
    out->simulated_s = sim_s(s);
    memcpy(out->wire_sha256, s->sha, sizeof out->wire_sha256);
    out->published = s->published;
    out->suspect = s->suspect;
    out->events = s->events;
}

void cosim_free(cosim *s)
{
    if (!s)
        return;
    if (s->sketch) {
        cosim_sketch_stop(s);
        cosim_sketch_free(s->sketch);
        s->sketch = NULL;
    }
    if (s->out_open) {
        char err[64];
        cosim_out_close(&s->out, err, sizeof err);
    }
    if (s->meter) {
        sim_meter_set_fault_hooks(s->meter, NULL);
        sim_meter_free(s->meter);
        cosim_wire_free(&s->wire);
    }
    sim_scenario_free(s->sc);
    if (s->prof_loaded)
        sim_profile_free(&s->prof);
    free(s);
}

/* ---- driving a run from outside ------------------------------------------------- */

uint64_t cosim_now_us(const cosim *s) { return s->now - V0_US; }

/* body/ctype out as cosim_http_get describes; the status back */
static int http_answer(int status, const char *ctype, const char *text, char *body, size_t cap, size_t *len,
                       char *ct, size_t ctcap)
{
    size_t n = strlen(text);
    if (len)
        *len = n;
    if (body && cap) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(body, text, k);
        body[k] = '\0';
    }
    if (ct && ctcap)
        snprintf(ct, ctcap, "%s", ctype);
    return status;
}

/* The core's answers, as mepmod serves them (firmware/host/host_dash.c). */
static int core_http_get(cosim *s, const char *path, char *body, size_t cap, size_t *len, char *ct, size_t ctcap)
{
    const mepc_readings *r = mepc_get_readings(&s->fw);
    int64_t utc_s = (s->start_utc_ms + (int64_t)((s->now - V0_US) / 1000u)) / 1000;
    int status = 200;
    char *text = NULL;
    const char *ctype = "application/json";
    if (!strcmp(path, "/getDashDataWS")) {
        host_clock clk = host_dash_clock(r, fw_ms(s), utc_s);
        text = host_dash_json(r, &clk, NULL, &status);
        ctype = host_dash_content_type(status);
    } else if (!strcmp(path, "/status")) {
        text = host_dash_status_json(r, fw_ms(s), NULL);
    } else {
        return http_answer(404, "text/plain", "not found\n", body, cap, len, ct, ctcap);
    }
    if (!text)
        return http_answer(500, "text/plain", "out of memory\n", body, cap, len, ct, ctcap);
    http_answer(status, ctype, text, body, cap, len, ct, ctcap);
    free(text);
    return status;
}

int cosim_http_get(cosim *s, const char *path, char *body, size_t cap, size_t *len, char *ctype, size_t ctcap)
{
    if (s->sketch)
        return cosim_sketch_http_get(s, path, body, cap, len, ctype, ctcap);
    return core_http_get(s, path, body, cap, len, ctype, ctcap);
}

size_t cosim_mqtt_take(cosim *s, cosim_mqtt_msg *out, size_t max)
{
    return s->sketch ? cosim_sketch_mqtt_take(s->sketch, out, max) : 0;
}
