/* cosim_ctl: JSON-lines control channel of mepsim-cosim; see cosim_ctl.h.
 *
 * One table of commands (name, handler, argument schema, help), in the
 * manner of mepsim's control socket (simulator/app/sim_control.c), whose
 * reply shapes `get`, `status`, `counters` and `fault_status` repeat so one
 * Python client (hil/osgp_hil) reads both. The fault commands go through
 * sim_fault_set_command, the parser mepsim's socket and the scenario files
 * use, so names, parameters and errors are the same. The table is walked by
 * sim_ctlcmd (faults/sim_ctlcmd.h), as mepsim's: a request is checked
 * against its row (no unknown field, required fields present and typed)
 * before anything runs, so a bad request changes nothing.
 *
 * Virtual time moves only on advance / run_until (and while a sketch
 * answers an HTTP request, cosim_http_get). The core's MQTT messages are
 * made here as mepmod's host_mqtt_tick makes them (firmware/host/host_mqtt.c:
 * the five 8.2 state topics every HOST_MQTT_PERIOD_MS while the readings may
 * be served, LWT "Online" retained at power-up): advance stops at each
 * publishing moment to make them.
 */
#include "cosim_ctl.h"
#include "sim_ctlcmd.h"
#include "sim_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cosim_internal.h"
#include "host_dash.h"
#include "host_mqtt.h"

#define MQTT_KEEP 4096u              /* messages kept between two `mqtt` calls */
#define LINE_EVENTS_KEEP 4096u       /* board-line events kept (the oldest are dropped) */
#define HTTP_BODY_CAP (256u * 1024u)
#define MAX_ADVANCE_S (366.0 * 86400.0)
#define FIRST_READY_CHECK_US 1000000ull  /* before the first publish: look once a virtual second */

typedef struct {
    uint64_t t_us;
    char *topic, *payload;
    bool retain;
} ctl_msg;

typedef struct {
    uint64_t t_us;
    bool transceiver;               /* else ENABLE */
    bool on;
} ctl_line_event;

struct cosim_ctl {
    cosim *s;
    bool finished;
    /* board (the core): powered, its original line hooks (cosim.c) */
    bool board_on;
    uint64_t boot_us;               /* when it was last powered up */
    void (*xcvr_orig)(void *, bool);
    void (*enable_orig)(void *, bool);
    ctl_line_event ev[LINE_EVENTS_KEEP];
    size_t ev_n, ev_dropped;
    /* the core's MQTT, as mepmod's host_mqtt_update */
    char prefix[32];
    bool mq_have, mq_last_ready;
    uint64_t mq_last_us;
    ctl_msg *msgs;
    size_t msgs_n;
    uint64_t msgs_dropped;
};

/* ---- replies -------------------------------------------------------------- */


static double now_s(const cosim *s) { return (double)(s->now - V0_US) / 1e6; }
static uint32_t fw_ms(const cosim *s) { return (uint32_t)(s->now / 1000u); }

static json_t *with_time(json_t *r, const cosim *s)
{
    json_object_set_new(r, "t", json_real(now_s(s)));
    json_object_set_new(r, "t_us", json_integer((json_int_t)(s->now - V0_US)));
    return r;
}

/* The station's kick after a control command (io/sim_port.c): the line
 * looks at its state again now. */
static void kick(cosim *s)
{
    s->line.meter_deadline_ms = 0;
    cosim_queue_soon(&s->q, SRC_LINE, s->now);
}

/* ---- board lines: the core's HAL hooks, recorded ----------------------------- */

void cosim_ctl_line_event(cosim_ctl *c, bool xcvr, bool on)
{
    if (c->ev_n == LINE_EVENTS_KEEP) {
        memmove(c->ev, c->ev + 1, (LINE_EVENTS_KEEP - 1) * sizeof c->ev[0]);
        c->ev_n--;
        c->ev_dropped++;
    }
    c->ev[c->ev_n++] = (ctl_line_event){c->s->now - V0_US, xcvr, on};
}

static void hook_xcvr(void *ctx, bool on)
{
    cosim *s = ctx;
    cosim_ctl_line_event(s->ctl, true, on);
    s->ctl->xcvr_orig(ctx, on);
}

static void hook_enable(void *ctx, bool on)
{
    cosim *s = ctx;
    cosim_ctl_line_event(s->ctl, false, on);
    s->ctl->enable_orig(ctx, on);
}

/* ---- the core's MQTT (host_mqtt_update) --------------------------------------- */

static void mq_add(cosim_ctl *c, const char *topic, const char *payload, bool retain)
{
    if (c->msgs_n == MQTT_KEEP) {
        free(c->msgs[0].topic);
        free(c->msgs[0].payload);
        memmove(c->msgs, c->msgs + 1, (MQTT_KEEP - 1) * sizeof c->msgs[0]);
        c->msgs_n--;
        c->msgs_dropped++;
    }
    ctl_msg *m = &c->msgs[c->msgs_n];
    m->topic = strdup(topic);
    m->payload = strdup(payload);
    if (!m->topic || !m->payload) {
        free(m->topic);
        free(m->payload);
        c->msgs_dropped++;
        return;
    }
    m->t_us = c->s->now - V0_US;
    m->retain = retain;
    c->msgs_n++;
}

/* The next virtual time mepmod's tick would publish at (UINT64_MAX: never). */
static uint64_t mq_next(const cosim_ctl *c)
{
    if (!c->board_on || c->s->sketch)
        return UINT64_MAX;
    if (c->mq_have && c->mq_last_ready)
        return c->mq_last_us + HOST_MQTT_PERIOD_MS * 1000ull;
    return c->s->now + FIRST_READY_CHECK_US;
}

static void mq_tick(cosim_ctl *c)
{
    cosim *s = c->s;
    if (!c->board_on || s->sketch)
        return;
    if (c->mq_have && s->now - c->mq_last_us < HOST_MQTT_PERIOD_MS * 1000ull)
        return;
    const mepc_readings *r = mepc_get_readings(&s->fw);
    c->mq_last_ready = host_dash_ready(r, fw_ms(s), NULL);
    if (!c->mq_last_ready)
        return;               /* never zeros as readings (S06), never stale ones as live */
    for (int i = 0; i < HOST_MQTT_TOPICS; i++) {
        char *payload = host_dash_mqtt_payload(r, fw_ms(s), i);
        if (!payload)
            continue;
        char topic[96];
        snprintf(topic, sizeof topic, "%s/%s", c->prefix, host_dash_mqtt_topic(i));
        mq_add(c, topic, payload, false);
        free(payload);
    }
    c->mq_have = true;
    c->mq_last_us = s->now;
}

/* Run to absolute virtual time `to` (µs since the start), stopping at every
 * MQTT publishing moment on the way. */
static void advance_to(cosim_ctl *c, uint64_t to)
{
    cosim *s = c->s;
    while (s->now - V0_US < to) {
        uint64_t next = mq_next(c);
        uint64_t step = next == UINT64_MAX || next - V0_US > to ? to : next - V0_US;
        cosim_run_until(s, step);
        mq_tick(c);
        if (s->now - V0_US < step)
            break;            /* the run's end: no further */
    }
}

/* ---- the command table ---------------------------------------------------------- */

/* A row: the schema sim_ctlcmd walks (name, fields, help), then the handler. */
typedef struct ctl_cmd ctl_cmd;
struct ctl_cmd {
    sim_ctlcmd def;
    json_t *(*run)(cosim_ctl *c, json_t *req, const ctl_cmd *cmd);
};
_Static_assert(offsetof(ctl_cmd, def) == 0, "a row begins with its sim_ctlcmd (sim_ctlcmd.h)");

/* A number field already type-checked: its value, or def when absent. */
static double num(json_t *req, const char *key, double def)
{
    json_t *v = json_object_get(req, key);
    return v ? json_number_value(v) : def;
}

static json_t *cmd_now(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)req, (void)cmd;
    return with_time(sim_ctlcmd_ok(), c->s);
}

/* advance {"s": seconds} / run_until {"t": seconds since the start} */
static json_t *cmd_advance(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    cosim *s = c->s;
    bool rel = !strcmp(cmd->def.name, "advance");
    double v = num(req, rel ? "s" : "t", 0);
    double base = rel ? 0.0 : now_s(s);
    if (!isfinite(v) || v < (rel ? 0.0 : base) || v > MAX_ADVANCE_S)
        return rel ? sim_ctlcmd_fail("advance: s: %g is not a duration in seconds (0..%.0f)", v, MAX_ADVANCE_S)
                   : sim_ctlcmd_fail("run_until: t: %g is not a virtual time from now (%.6f) to %.0f s", v,
                                     base, MAX_ADVANCE_S);
    uint64_t to = (uint64_t)llround((rel ? now_s(s) + v : v) * 1e6);
    advance_to(c, to);
    return with_time(sim_ctlcmd_ok(), s);
}

/* The model's truth as a read would serve it now: mepsim's `get`. */
static json_t *cmd_get(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)req, (void)cmd;
    cosim *s = c->s;
    json_t *r = with_time(sim_ctlcmd_ok(), s);
    json_object_set_new(r, "meter", json_string("meter0"));
    sim_report_truth(r, s->meter, s->now / 1000u);
    return r;
}

static json_t *scenario_json(const cosim *s)
{
    bool done = s->sc_ended || sim_scenario_done(s->sc);
    uint64_t el = s->sc_elapsed_us;
    if (!s->sc_ended && !s->sc_held && !sim_meter_clock(s->meter)->frozen)
        el += s->now - s->sc_last_us;  /* the runner books elapsed time at its next event */
    return json_pack("{s:s, s:I, s:I, s:f, s:b, s:b}", "name", s->sc->name, "steps", (json_int_t)s->sc->n_steps,
                     "next", (json_int_t)s->sc->next, "elapsed_s", (double)el / 1e6, "done", done, "running",
                     !done && !s->sc_held);
}

/* mepsim's `status` (one meter): scenario progress, lines, meter state. */
static json_t *cmd_status(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)req, (void)cmd;
    cosim *s = c->s;
    uint64_t ms = s->now / 1000u;
    char iso[40], e[11];
    sim_report_iso_utc(sim_meter_sim_now(s->meter, ms), iso, sizeof iso);
    snprintf(e, sizeof e, "0x%08X", (unsigned)sim_meter_next_seq(s->meter));
    json_t *st = json_pack("{s:s, s:I, s:s, s:I, s:s, s:I, s:b, s:I, s:s, s:{s:b, s:b}}", "name", "meter0",
                           "index", (json_int_t)0, "device", "cosim", "baud", (json_int_t)s->line.baud, "E", e,
                           "e", (json_int_t)sim_meter_next_seq(s->meter), "registered",
                           sim_meter_registered(s->meter), "alert_flags",
                           (json_int_t)sim_meter_alert_flags(s->meter), "sim_time", iso, "lines", "transceiver",
                           sim_meter_line_on(s->meter, SIM_METER_TRANSCEIVER), "enable",
                           sim_meter_line_on(s->meter, SIM_METER_ENABLE));
    if (s->sc)
        json_object_set_new(st, "scenario", scenario_json(s));
    json_t *r = with_time(sim_ctlcmd_ok(), s);
    json_object_set_new(r, "meters", json_pack("[o]", st));
    json_object_set_new(r, "board", json_pack("{s:b, s:s}", "on", c->board_on, "firmware",
                                              s->sketch ? "sketch" : "core"));
    return r;
}

/* mepsim's `counters`: meter counters at the top level, line counters under "line". */
static json_t *cmd_counters(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)req, (void)cmd;
    cosim *s = c->s;
    json_t *r = with_time(sim_ctlcmd_ok(), s);
    json_object_set_new(r, "meter", json_string("meter0"));
    sim_report_meter_counters(r, sim_meter_counters_get(s->meter));
    json_object_set_new(r, "line", sim_report_line_counters(&s->line.c));
    return r;
}

/* ---- faults: the fault set's own command parser (sim_fault_set_command) ------ */

static json_t *fault_text(cosim_ctl *c, const char *what, const char *line)
{
    cosim *s = c->s;
    uint64_t ms = s->now / 1000u;
    sim_meter_advance(s->meter, ms);
    sim_glitch_effects fx;
    memset(&fx, 0, sizeof fx);
    char out[8192];
    if (sim_fault_set_command(&s->faults, line, s->now, sim_meter_sim_now(s->meter, ms), &fx, out, sizeof out) != 0)
        return sim_ctlcmd_fail("%s: %s", what, out);
    sim_model *md = sim_meter_model(s->meter);   /* a glitch's loads (solar export) go to the model */
    for (int i = 0; i < fx.n_loads && i < 3; i++)
        if (fx.load[i].phase >= 1 && fx.load[i].phase <= md->cfg.phases)
            sim_model_set_load(md, fx.load[i].phase - 1, fx.load[i].watts, fx.load[i].pf);
    kick(s);
    size_t n = strlen(out);
    while (n && out[n - 1] == '\n')
        out[--n] = 0;
    json_t *r = sim_ctlcmd_ok();
    json_object_set_new(r, "reply", json_string(out));
    return r;
}

/* inject / glitch {"spec": "..."}: the reply names the id ("3 flip ...", "p2 busy ...", "g1 spike ..."). */
static json_t *cmd_fs_spec(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    char line[1100];
    if (snprintf(line, sizeof line, "%s %s", cmd->def.name, json_string_value(json_object_get(req, "spec"))) >=
        (int)sizeof line)
        return sim_ctlcmd_fail("%s: spec too long", cmd->def.name);
    json_t *r = fault_text(c, cmd->def.name, line);
    const char *text = json_string_value(json_object_get(r, "reply"));
    if (text) {
        size_t k = strcspn(text, " ");
        json_object_set_new(r, "id", json_stringn(text, k));
        json_object_set_new(r, "fault", json_string(text[k] ? text + k + 1 : ""));
    }
    return r;
}

static json_t *cmd_clear(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)cmd;
    json_t *w = json_object_get(req, "what");
    char line[128];
    if (snprintf(line, sizeof line, "clear %s", w ? json_string_value(w) : "all") >= (int)sizeof line)
        return sim_ctlcmd_fail("clear: what: too long");
    return fault_text(c, "clear", line);
}

static json_t *cmd_list(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)req, (void)cmd;
    return fault_text(c, "list", "list");
}

static json_t *cmd_faults(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)cmd;
    return fault_text(c, "faults", json_string_value(json_object_get(req, "line")));
}

/* mepsim's `fault_status`: injected per fault, glitched per glitch, power
 * cycles, latch-ups, error codes, the active list. */
static json_t *cmd_fault_status(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)req, (void)cmd;
    cosim *s = c->s;
    json_t *r = with_time(sim_ctlcmd_ok(), s);
    sim_report_fault_status(r, &s->faults, sim_meter_counters_get(s->meter), s->now);
    return r;
}

/* ---- the scenario timeline ------------------------------------------------------ */

/* As mepsim's station: "start" clears every fault and glitch, rewinds and
 * runs the timeline from now; "stop" stops it and clears every fault. */
static json_t *cmd_scenario(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)cmd;
    cosim *s = c->s;
    const char *action = json_string_value(json_object_get(req, "action"));
    bool start = !strcmp(action, "start"), stop = !strcmp(action, "stop");
    if (!start && !stop && strcmp(action, "status"))
        return sim_ctlcmd_fail("scenario: action: expected \"start\", \"stop\" or \"status\" (a new timeline "
                               "needs a new run: --scenario FILE)");
    if (!s->sc)
        return sim_ctlcmd_fail("scenario: none loaded (start mepsim-cosim with --scenario FILE)");
    if (start || stop) {
        char out[256];
        sim_fault_set_command(&s->faults, "clear all", s->now, 0, NULL, out, sizeof out);
        s->sc_held = false;
        s->sc_ended = stop;
        if (start) {
            sim_scenario_rewind(s->sc);
            s->sc_elapsed_us = 0;
            s->sc_last_us = s->sc_started_us = s->now;
        }
        cosim_queue_set(&s->q, SRC_SCEN, start ? s->now : COSIM_NEVER);
        kick(s);
    }
    json_t *r = with_time(sim_ctlcmd_ok(), s);
    json_object_set_new(r, "scenario", scenario_json(s));
    return r;
}

/* ---- the module's outputs ----------------------------------------------------------- */

/* GET path {"path": "/getDashDataWS"}: status, content type, body. */
static json_t *cmd_http(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)cmd;
    json_t *p = json_object_get(req, "path");
    const char *path = p ? json_string_value(p) : "/getDashDataWS";
    if (path[0] != '/')
        return sim_ctlcmd_fail("http: path: expected an absolute path such as \"/getDashDataWS\"");
    if (!c->board_on)
        return with_time(json_pack("{s:b, s:n, s:s}", "ok", 1, "status", "error", "board is off"), c->s);
    char *body = malloc(HTTP_BODY_CAP);
    if (!body)
        return sim_ctlcmd_fail("http: out of memory");
    char ctype[128] = "";
    size_t len = 0;
    int st = cosim_http_get(c->s, path, body, HTTP_BODY_CAP, &len, ctype, sizeof ctype);
    mq_tick(c);               /* a sketch's answer may have moved the clock */
    json_t *r;
    if (st < 0)
        r = json_pack("{s:b, s:n, s:s}", "ok", 1, "status", "error", "no answer from the firmware in time");
    else
        r = json_pack("{s:b, s:i, s:s, s:s%}", "ok", 1, "status", st, "content_type", ctype, "body", body,
                      len < HTTP_BODY_CAP ? len : (size_t)HTTP_BODY_CAP - 1);
    free(body);
    return r ? with_time(r, c->s) : sim_ctlcmd_fail("http: the body is not UTF-8 text");
}

/* MQTT messages published since the last call, oldest first. */
static json_t *cmd_mqtt(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)req, (void)cmd;
    json_t *arr = json_array();
    cosim_mqtt_msg *m = c->s->sketch ? malloc(64 * sizeof *m) : NULL;
    if (m) {
        size_t n;
        while ((n = cosim_mqtt_take(c->s, m, 64)) > 0)
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, json_pack("{s:f, s:s, s:s%, s:b}", "t", (double)m[i].t_us / 1e6,
                                                     "topic", m[i].topic, "payload", m[i].payload,
                                                     m[i].payload_len < sizeof m[i].payload ? m[i].payload_len
                                                                                            : sizeof m[i].payload - 1,
                                                     "retain", m[i].retained));
        free(m);
    }
    for (size_t i = 0; i < c->msgs_n; i++) {
        ctl_msg *k = &c->msgs[i];
        json_array_append_new(arr, json_pack("{s:f, s:s, s:s, s:b}", "t", (double)k->t_us / 1e6, "topic",
                                             k->topic, "payload", k->payload, "retain", k->retain));
        free(k->topic);
        free(k->payload);
    }
    c->msgs_n = 0;
    json_t *r = with_time(sim_ctlcmd_ok(), c->s);
    json_object_set_new(r, "messages", arr);
    json_object_set_new(r, "dropped", json_integer((json_int_t)c->msgs_dropped));
    return r;
}

/* The board's transceiver/ENABLE events since the last call (the core's HAL). */
static json_t *cmd_lines(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)req, (void)cmd;
    json_t *arr = json_array();
    for (size_t i = 0; i < c->ev_n; i++)
        json_array_append_new(arr, json_pack("{s:f, s:s, s:b}", "t", (double)c->ev[i].t_us / 1e6, "line",
                                             c->ev[i].transceiver ? "transceiver" : "enable", "on", c->ev[i].on));
    c->ev_n = 0;
    json_t *r = with_time(sim_ctlcmd_ok(), c->s);
    json_object_set_new(r, "events", arr);
    json_object_set_new(r, "dropped", json_integer((json_int_t)c->ev_dropped));
    return r;
}

/* The module loses its supply: the transceiver and ENABLE go off (as on a
 * board whose regulator drops), nothing queued is sent, the core stops. */
static void board_off(cosim_ctl *c)
{
    cosim *s = c->s;
    if (s->xcvr_on)
        s->hal.transceiver_power(s, false);
    if (s->enable_on)
        s->hal.meter_enable(s, false);
    s->tx_n = 0;
    cosim_queue_set(&s->q, SRC_MODTX, COSIM_NEVER);
    cosim_queue_set(&s->q, SRC_FW, COSIM_NEVER);
    c->board_on = false;
}

/* board {"action": "start"|"off", "poll_ms": N, "prefix": "esp32-mep"}:
 * start = a fresh boot of the core now (its flash, store_*, kept). */
static json_t *cmd_board(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)cmd;
    cosim *s = c->s;
    const char *action = json_string_value(json_object_get(req, "action"));
    bool start = !strcmp(action, "start");
    if (!start && strcmp(action, "off"))
        return sim_ctlcmd_fail("board: action: expected \"start\" or \"off\"");
    double poll = num(req, "poll_ms", s->fwcfg.poll_ms);
    json_t *pv = json_object_get(req, "prefix");
    const char *prefix = pv ? json_string_value(pv) : c->prefix;
    if (!(poll >= 200 && poll <= 3600000))
        return sim_ctlcmd_fail("board: poll_ms: %g is not a period in ms (200..3600000)", poll);
    if (!prefix[0] || strlen(prefix) > 24)     /* docs/module-behaviour.md 8.2 */
        return sim_ctlcmd_fail("board: prefix: 1..24 characters");
    if (s->sketch)
        return sim_ctlcmd_fail("board: %s: only with --firmware core (a sketch boots with the run)", action);
    /* powered up at this very instant already (the run's own power-up at
     * t = 0): boot again with the new options, no supply cut in between */
    bool again = start && c->board_on && s->now == c->boot_us;
    if (again)
        while (c->ev_n && c->ev[c->ev_n - 1].t_us == s->now - V0_US)
            c->ev_n--;
    else if (c->board_on)
        board_off(c);
    if (start) {
        memmove(c->prefix, prefix, strlen(prefix) + 1);
        s->fwcfg.poll_ms = (uint32_t)poll;
        c->mq_have = c->mq_last_ready = false;
        mepc_init(&s->fw, &s->hal, &s->fwcfg, fw_ms(s));
        s->xcvr_on = s->enable_on = true;  /* as cosim_new's power-up */
        cosim_queue_set(&s->q, SRC_FW, s->now);
        c->board_on = true;
        c->boot_us = s->now;
        if (again && c->msgs_n && !strcmp(c->msgs[c->msgs_n - 1].payload, "Online")) {
            c->msgs_n--;      /* the LWT of the boot being replaced */
            free(c->msgs[c->msgs_n].topic);
            free(c->msgs[c->msgs_n].payload);
        }
        char lwt[64];
        snprintf(lwt, sizeof lwt, "%s/lwt", c->prefix);
        mq_add(c, lwt, "Online", true);    /* host_mqtt.c: LWT Online, retained, on connect */
    }
    json_t *r = with_time(sim_ctlcmd_ok(), s);
    json_object_set_new(r, "board", json_pack("{s:b, s:i}", "on", c->board_on, "poll_ms", (int)s->fwcfg.poll_ms));
    return r;
}

static json_t *cmd_finish(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)req, (void)cmd;
    c->finished = true;
    c->s->end = c->s->now;    /* cosim_finish runs nothing further */
    return with_time(sim_ctlcmd_ok(), c->s);
}

static json_t *cmd_help(cosim_ctl *c, json_t *req, const ctl_cmd *cmd);

static const ctl_cmd COMMANDS[] = {
    {{"now", {{0}}, false, "the virtual time (s since the start)"}, cmd_now},
    {{"advance",
      {{"s", SIM_CTLCMD_NUMBER, true, NULL}},
      false,
      "run the simulation for s virtual seconds"},
     cmd_advance},
    {{"run_until",
      {{"t", SIM_CTLCMD_NUMBER, true, NULL}},
      false,
      "run the simulation up to virtual time t (s)"},
     cmd_advance},
    {{"get", {{0}}, false, "the meter model's truth now (mepsim's get)"}, cmd_get},
    {{"status", {{0}}, false, "meter, scenario and board state (mepsim's status)"}, cmd_status},
    {{"counters", {{0}}, false, "meter and line counters (mepsim's counters)"}, cmd_counters},
    {{"inject",
      {{"spec", SIM_CTLCMD_STRING, true, NULL}},
      false,
      "start a line or protocol fault: spec \"drop p=0.5\""},
     cmd_fs_spec},
    {{"glitch",
      {{"spec", SIM_CTLCMD_STRING, true, NULL}},
      false,
      "start a kWh glitch: spec \"spike delta=2^24 polls=3\""},
     cmd_fs_spec},
    {{"clear",
      {{"what", SIM_CTLCMD_STRING, false, NULL}},
      false,
      "stop faults/glitches: a name, an id or all (default)"},
     cmd_clear},
    {{"list", {{0}}, false, "active faults and glitches, one per line"}, cmd_list},
    {{"fault_status", {{0}}, false, "fault counters (mepsim's fault_status)"}, cmd_fault_status},
    {{"faults",
      {{"line", SIM_CTLCMD_STRING, true, NULL}},
      false,
      "the text form: line \"inject drop p=0.5\""},
     cmd_faults},
    {{"scenario",
      {{"action", SIM_CTLCMD_STRING, true, NULL}},
      false,
      "timeline: action start | stop | status"},
     cmd_scenario},
    {{"http",
      {{"path", SIM_CTLCMD_STRING, false, NULL}},
      false,
      "the module's HTTP answer now: status, content_type, body"},
     cmd_http},
    {{"mqtt", {{0}}, false, "MQTT messages the module published since the last call"}, cmd_mqtt},
    {{"lines", {{0}}, false, "the board's transceiver/ENABLE events since the last call"}, cmd_lines},
    {{"board",
      {{"action", SIM_CTLCMD_STRING, true, NULL},
       {"poll_ms", SIM_CTLCMD_INT, false, NULL},
       {"prefix", SIM_CTLCMD_STRING, false, NULL}},
      false,
      "the module's supply: action start (a fresh boot; poll_ms, MQTT prefix) | off"},
     cmd_board},
    {{"finish", {{0}}, false, "end the run here: counters.json, then the summary line"}, cmd_finish},
    {{"help", {{0}}, false, "this list"}, cmd_help},
};
/* Fields any request may carry besides its command's. The refusals name the
 * command ("advance: missing field \"s\""): hil/README.md "The control channel". */
static const char *const ENVELOPE[] = {"cmd", "id", NULL};
static const sim_ctlcmd_table TABLE = SIM_CTLCMD_TABLE(COMMANDS, ENVELOPE, true);

static json_t *cmd_help(cosim_ctl *c, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)req, (void)cmd;
    json_t *r = sim_ctlcmd_ok();
    json_object_set_new(r, "commands", sim_ctlcmd_help(&TABLE));
    return r;
}

static json_t *exec_json(void *ctx, json_t *req)
{
    cosim_ctl *c = ctx;
    if (!json_is_object(req))
        return sim_ctlcmd_fail("expected a JSON object such as {\"cmd\":\"now\"}");
    if (c->finished)
        return sim_ctlcmd_fail("the run is finished");
    json_t *cmdv = json_object_get(req, "cmd");
    if (!cmdv)
        return sim_ctlcmd_fail("missing \"cmd\"");
    const void *row;
    json_t *e;
    if (sim_ctlcmd_lookup(&TABLE, cmdv, &row, &e) != SIM_CTLCMD_OK)
        return e;
    const ctl_cmd *cmd = row;
    if (sim_ctlcmd_check(&TABLE, &cmd->def, req, &e) != SIM_CTLCMD_OK)
        return e;
    return cmd->run(c, req, cmd);
}

char *cosim_ctl_exec(cosim_ctl *c, const char *line) { return sim_ctlcmd_exec_line(line, exec_json, c); }

bool cosim_ctl_finished(const cosim_ctl *c) { return c->finished; }

cosim_ctl *cosim_ctl_new(cosim *s)
{
    cosim_ctl *c = calloc(1, sizeof *c);
    if (!c || !(c->msgs = calloc(MQTT_KEEP, sizeof c->msgs[0]))) {
        free(c);
        return NULL;
    }
    c->s = s;
    s->ctl = c;
    snprintf(c->prefix, sizeof c->prefix, "esp32-mep");
    /* the run lasts until `finish`, not the configured duration */
    s->end = COSIM_NEVER - 1;
    s->auto_end = false;
    c->board_on = true;       /* cosim_new powered the firmware up at t = 0 */
    c->boot_us = s->now;
    if (!s->sketch) {
        c->xcvr_orig = s->hal.transceiver_power;
        c->enable_orig = s->hal.meter_enable;
        s->hal.transceiver_power = hook_xcvr;
        s->hal.meter_enable = hook_enable;
        /* the core keeps a copy of its HAL: boot it again (still at t = 0) with the hooks */
        mepc_init(&s->fw, &s->hal, &s->fwcfg, fw_ms(s));
        char lwt[64];
        snprintf(lwt, sizeof lwt, "%s/lwt", c->prefix);
        mq_add(c, lwt, "Online", true);
    }
    return c;
}

void cosim_ctl_free(cosim_ctl *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->msgs_n; i++) {
        free(c->msgs[i].topic);
        free(c->msgs[i].payload);
    }
    free(c->msgs);
    if (c->s && c->s->ctl == c)
        c->s->ctl = NULL;
    free(c);
}

/* ---- the stdio loop ------------------------------------------------------------------- */

static void reply(FILE *out, const char *text)
{
    fputs(text ? text : "{\"ok\":false,\"error\":\"out of memory\"}", out);
    fputc('\n', out);
    fflush(out);
}

bool cosim_ctl_serve(cosim_ctl *c, FILE *in, FILE *out)
{
    char *buf = malloc(COSIM_CTL_MAX_LINE);
    if (!buf)
        return false;
    size_t n = 0;
    bool overlong = false;
    int ch;
    while (!c->finished && (ch = fgetc(in)) != EOF) {
        if (ch != '\n') {
            if (n + 1 < COSIM_CTL_MAX_LINE)
                buf[n++] = (char)ch;
            else
                overlong = true;
            continue;
        }
        buf[n] = 0;
        size_t start = strspn(buf, " \t\r");
        if (overlong) {
            char msg[96];
            snprintf(msg, sizeof msg, "{\"ok\":false,\"error\":\"request line longer than %d bytes\"}",
                     COSIM_CTL_MAX_LINE - 1);
            reply(out, msg);
        } else if (buf[start]) {
            char *rep = cosim_ctl_exec(c, buf + start);
            reply(out, rep);
            free(rep);
        }
        n = 0;
        overlong = false;
    }
    free(buf);
    c->s->end = c->s->now;    /* the end of the input ends the run here, as `finish` */
    return c->finished;
}
