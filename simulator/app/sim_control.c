/* sim_control: JSON-lines control socket of mepsim (see sim_control.h).
 *
 * Every command is one row of COMMANDS: name, handler, argument schema and
 * one line of help. Dispatch, the
 * argument checks, `mepsim --help`'s command list and the error for an
 * unknown command all follow from the table, walked by sim_ctlcmd
 * (faults/sim_ctlcmd.h, shared with mepsim-cosim). A request is checked against
 * its row's schema (no unknown field, required fields present, every field
 * of its type) before the meter it names is looked up, and the handlers
 * check values before they touch the meter, so a request with an error
 * changes nothing. Model values are brought up to "now" (sim_meter_advance)
 * before they are reported, and dynamic tables are read through
 * sim_tables_read, so "get" and "read_table" show exactly what a MEP read
 * would serve at that moment.
 */
#include "sim_control.h"
#include "sim_report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "mep_frame.h"
#include "sim_config.h"
#include "sim_ctlcmd.h"
#include "sim_ev.h"
#include "sim_station.h"

typedef struct ctl_client ctl_client;

struct sim_control {
    struct ev_loop *loop;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int fd;
    ev_io lio;
    sim_station *const *stations;
    size_t n;
    ctl_client *clients;
    bool quit;
    dev_t sock_dev;           /* the socket file we bound: removed on exit */
    ino_t sock_ino;           /* only while it is still ours */
};

/* Output is bounded per client: while a reply is not yet taken by the
 * client (the socket would block), no further request of that client is
 * read or run; the bytes already received wait in rx. A client that never
 * reads its replies therefore holds at most one reply, one request line and
 * one receive chunk, however much it sends (the kernel's socket buffers
 * then stop it). */
#define CTL_RX_CHUNK 4096

struct ctl_client {
    sim_control *ctl;
    int fd;
    ev_io rio, wio;
    char *in;
    size_t in_len;
    bool overlong;            /* dropping the rest of a too-long line */
    char rx[CTL_RX_CHUNK];    /* received, not yet consumed */
    size_t rx_len, rx_off;
    char *out;
    size_t out_len, out_off;
    ctl_client *next;
};

/* ---- replies and values ------------------------------------------------- */


static uint64_t now_ms(void) { return sim_now_us() / 1000u; }

/* Range of a field the schema has already type-checked (absent: def). */
static json_t *get_number(json_t *req, const char *key, double def, double lo, double hi, double *out)
{
    json_t *v = json_object_get(req, key);
    *out = v ? json_number_value(v) : def;
    if (v && (!isfinite(*out) || *out < lo || *out > hi))
        return sim_ctlcmd_fail("%s: %g out of range %g..%g", key, *out, lo, hi);
    return NULL;
}

static json_t *get_int(json_t *req, const char *key, long long def, long long lo, long long hi, long long *out)
{
    json_t *v = json_object_get(req, key);
    *out = v ? json_integer_value(v) : def;
    if (v && (*out < lo || *out > hi))
        return sim_ctlcmd_fail("%s: %lld out of range %lld..%lld", key, *out, lo, hi);
    return NULL;
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = 0;
}

/* Table "BT28", "ET13", "bt23", 28, "0x80D" -> id. */
static int parse_table(json_t *v, uint16_t *id)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < 0 || x > 0xFFFF)
            return -1;
        *id = (uint16_t)x;
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    char *end;
    unsigned long n;
    if ((s[0] == 'B' || s[0] == 'b' || s[0] == 'E' || s[0] == 'e') && (s[1] == 'T' || s[1] == 't') &&
        s[2] >= '0' && s[2] <= '9') {
        n = strtoul(s + 2, &end, 10);
        if (*end || n > 2047)
            return -1;
        *id = (uint16_t)((s[0] == 'E' || s[0] == 'e') ? MEP_ET(n) : MEP_BT(n));
        return 0;
    }
    if (s[0] >= '0' && s[0] <= '9') {
        n = strtoul(s, &end, 0);
        if (*end || n > 0xFFFF)
            return -1;
        *id = (uint16_t)n;
        return 0;
    }
    return -1;
}

/* ---- the command table -------------------------------------------------- */

/* A row: the schema sim_ctlcmd walks (name, the fields it takes besides
 * cmd, meter and id, help), then the handler. */
typedef struct ctl_cmd ctl_cmd;
typedef json_t *(*ctl_handler)(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd);
struct ctl_cmd {
    sim_ctlcmd def;
    ctl_handler run;
};
_Static_assert(offsetof(ctl_cmd, def) == 0, "a row begins with its sim_ctlcmd (sim_ctlcmd.h)");

/* ---- meter state -------------------------------------------------------- */

static json_t *modem_status(const sim_portmodem *pm)
{
    const sim_modem *md = sim_portmodem_modem(pm);
    return json_pack("{s:I, s:I, s:I, s:I, s:b, s:b}", "samples", (json_int_t)md->c.samples, "port_errors",
                     (json_int_t)md->c.port_errors, "bounces", (json_int_t)md->c.bounces, "pulses",
                     (json_int_t)md->c.pulses, "reset_asserted", md->asserted[SIM_MODEM_OUT_RESET], "power_cut",
                     md->asserted[SIM_MODEM_OUT_POWER]);
}

static json_t *station_status(sim_station *s, uint64_t now)
{
    sim_meter *m = sim_station_meter(s);
    sim_port *p = sim_station_port(s);
    char iso[40], e[11];
    sim_config_format_time(sim_meter_sim_now(m, now), iso, sizeof iso);
    snprintf(e, sizeof e, "0x%08X", (unsigned)sim_meter_next_seq(m));
    json_t *st = json_pack("{s:s, s:I, s:s, s:s, s:I, s:s, s:I, s:b, s:I, s:I, s:b, s:I, s:s, s:{s:b, s:b}}",
                           "name", sim_station_name(s), "index", (json_int_t)sim_station_index(s), "device",
                           p ? sim_port_device(p) : "", "path", p ? sim_port_path(p) : "", "baud",
                           (json_int_t)(p ? sim_port_line(p)->baud : 0), "E", e, "e",
                           (json_int_t)sim_meter_next_seq(m), "registered", sim_meter_registered(m), "handle",
                           (json_int_t)sim_meter_handle(m), "alert_flags", (json_int_t)sim_meter_alert_flags(m),
                           "alert_pending", sim_meter_alert_pending(m), "device_status",
                           (json_int_t)sim_meter_device_status(m), "sim_time", iso, "lines", "transceiver",
                           sim_meter_line_on(m, SIM_METER_TRANSCEIVER), "enable",
                           sim_meter_line_on(m, SIM_METER_ENABLE));
    if (sim_station_modem(s)) /* HIL modem lines (sim_portmodem.h) */
        json_object_set_new(st, "modem", modem_status(sim_station_modem(s)));
    sim_station_status(s, st);
    return st;
}

static json_t *cmd_status(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)s, (void)req, (void)cmd;
    uint64_t now = now_ms();
    json_t *arr = json_array();
    for (size_t i = 0; i < c->n; i++)
        json_array_append_new(arr, station_status(c->stations[i], now));
    json_t *r = sim_ctlcmd_ok();
    json_object_set_new(r, "meters", arr);
    return r;
}

static json_t *cmd_get(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)req, (void)cmd;
    json_t *r = sim_ctlcmd_ok();
    json_object_set_new(r, "meter", json_string(sim_station_name(s)));
    sim_report_truth(r, sim_station_meter(s), now_ms());
    return r;
}

/* ---- meter manipulations ------------------------------------------------ */

static json_t *cmd_set_load(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)cmd;
    json_t *e;
    long long phase;
    double watts, pf;
    sim_model *md = sim_meter_model(sim_station_meter(s));
    if ((e = get_int(req, "phase", 0, 1, md->cfg.phases, &phase)) ||
        (e = get_number(req, "watts", 0, -1e7, 1e7, &watts)) || (e = get_number(req, "pf", 1.0, 0.0, 1.0, &pf)))
        return e;
    sim_meter_advance(sim_station_meter(s), now_ms()); /* book energy at the old load first */
    sim_model_set_load(md, (int)phase - 1, watts, pf);
    sim_station_kick(s);
    return sim_ctlcmd_ok();
}

static json_t *cmd_set_clock(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)cmd;
    json_t *u = json_object_get(req, "utc"), *x = json_object_get(req, "unix");
    int64_t ms;
    if ((u != NULL) == (x != NULL))
        return sim_ctlcmd_fail("set_clock: give exactly one of \"utc\" (YYYY-MM-DDTHH:MM:SSZ) and \"unix\" (seconds)");
    if (u) {
        if (sim_config_parse_time(json_string_value(u), &ms))
            return sim_ctlcmd_fail("utc: expected \"YYYY-MM-DDTHH:MM:SSZ\"");
    } else {
        if (json_number_value(x) < 0 || json_number_value(x) > 4.3e9)
            return sim_ctlcmd_fail("unix: expected seconds since 1970 (0..4300000000)");
        ms = (int64_t)llround(json_number_value(x) * 1000.0);
    }
    sim_meter_set_clock(sim_station_meter(s), now_ms(), ms);
    sim_station_kick(s);
    return sim_ctlcmd_ok();
}

static json_t *cmd_set_speed(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)cmd;
    double speed;
    json_t *e = get_number(req, "speed", 0, 1e-3, 1e6, &speed);
    if (e)
        return e;
    sim_meter_set_speed(sim_station_meter(s), now_ms(), speed);
    sim_station_kick(s);
    return sim_ctlcmd_ok();
}

static json_t *cmd_set_register(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)cmd;
    static const struct {
        const char *n;
        enum sim_register r;
    } regs[] = {{"fwd_wh", SIM_REG_FWD_WH}, {"rev_wh", SIM_REG_REV_WH}, {"imp_varh", SIM_REG_IMP_VARH},
                {"exp_varh", SIM_REG_EXP_VARH}};
    long long value;
    json_t *e = get_int(req, "value", 0, 0, 4294967295LL, &value);
    if (e)
        return e;
    const char *name = json_string_value(json_object_get(req, "name"));
    for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++)
        if (!strcmp(regs[i].n, name)) {
            sim_meter_advance(sim_station_meter(s), now_ms());
            sim_model_set_register(sim_meter_model(sim_station_meter(s)), regs[i].r, value);
            sim_station_kick(s);
            return sim_ctlcmd_ok();
        }
    return sim_ctlcmd_fail("set_register: unknown register \"%s\" (fwd_wh, rev_wh, imp_varh, exp_varh)", name);
}

/* alert raises ET13 flags (default 0x01), clear_alert clears them (default all). */
static json_t *cmd_alert(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c;
    bool raise = !strcmp(cmd->def.name, "alert");
    sim_meter *m = sim_station_meter(s);
    long long flags;
    json_t *e = get_int(req, "flags", raise ? 1 : 0xFF, 0, 255, &flags);
    if (e)
        return e;
    if (raise)
        sim_meter_raise_alert(m, (uint8_t)flags);
    else
        sim_meter_clear_alert(m, (uint8_t)flags);
    sim_station_kick(s);
    json_t *r = sim_ctlcmd_ok();
    json_object_set_new(r, "alert_flags", json_integer(sim_meter_alert_flags(m)));
    json_object_set_new(r, "alert_pending", json_boolean(sim_meter_alert_pending(m)));
    return r;
}

/* Meter manipulations the field scenarios need: move E (S03), bump the IDT
 * version (docs/mep.md 5.5), freeze the clock. */
static json_t *cmd_set_seq(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c;
    sim_meter *m = sim_station_meter(s);
    if (!strcmp(cmd->def.name, "bump_idt")) {
        sim_meter_bump_idt(m);
    } else {
        long long v;
        json_t *e = get_int(req, "e", 0, 0, 0xFFFFFFFFLL, &v);
        if (e)
            return e;
        sim_meter_set_next_seq(m, (uint32_t)v);
    }
    json_t *r = sim_ctlcmd_ok();
    json_object_set_new(r, "e", json_integer(sim_meter_next_seq(m)));
    return r;
}

static json_t *cmd_freeze_clock(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)cmd;
    json_t *f = json_object_get(req, "frozen");
    sim_meter *m = sim_station_meter(s);
    uint64_t now = now_ms();
    sim_meter_advance(m, now);
    sim_clock_freeze(sim_meter_clock(m), now, f ? json_is_true(f) : true);
    sim_station_kick(s);
    return sim_ctlcmd_ok();
}

/* ---- counters and tables ------------------------------------------------ */

static json_t *cmd_counters(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)req, (void)cmd;
    json_t *r = sim_ctlcmd_ok();
    json_object_set_new(r, "meter", json_string(sim_station_name(s)));
    /* meter counters at the top level (tests read them directly), line counters under "line" */
    sim_report_meter_counters(r, sim_meter_counters_get(sim_station_meter(s)));
    sim_port *p = sim_station_port(s);
    if (p)
        json_object_set_new(r, "line", sim_report_line_counters(&sim_port_line(p)->c));
    return r;
}

static json_t *cmd_read_table(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)cmd;
    uint16_t id;
    if (parse_table(json_object_get(req, "table"), &id))
        return sim_ctlcmd_fail("read_table: table: expected \"BT28\", \"ET13\" or a table number");
    sim_meter *m = sim_station_meter(s);
    sim_tables *t = sim_meter_tables(m);
    int size = sim_tables_size(t, id);
    char name[8];
    mep_table_name(id, name);
    if (size < 0)
        return sim_ctlcmd_fail("read_table: %s: no such table in this meter", name);
    long long off, count;
    json_t *e;
    if ((e = get_int(req, "offset", 0, 0, size, &off)) || (e = get_int(req, "count", size - off, 0, 65535, &count)))
        return e;
    sim_meter_advance(m, now_ms());
    uint8_t *buf = malloc((size_t)count + 1);
    char *hex = malloc(2 * (size_t)count + 1);
    int got = buf && hex && count ? sim_tables_read(t, id, (uint32_t)off, (uint32_t)count, buf) : 0;
    json_t *r;
    if (!buf || !hex)
        r = sim_ctlcmd_fail("out of memory");
    else if (got < 0)
        r = sim_ctlcmd_fail("read_table: %s offset %lld: out of range (size %d)", name, off, size);
    else {
        hex_of(buf, (size_t)got, hex);
        r = json_pack("{s:b, s:i, s:s, s:i, s:I, s:i, s:s}", "ok", 1, "table", (int)id, "name", name, "size", size,
                      "offset", (json_int_t)off, "count", got, "hex", hex);
    }
    free(buf);
    free(hex);
    return r;
}

/* ---- faults: line + protocol faults and kWh glitches ---------------------
 * inject, glitch, clear, list and faults all go through
 * sim_fault_set_command, so the socket, mepsim-ctl and scenario files
 * accept exactly the same names and parameters
 * (fixtures/scenarios/README.md). */

static json_t *fault_set_text(sim_station *s, const char *what, const char *line)
{
    sim_fault_set *fs = sim_station_faults(s);
    sim_meter *m = sim_station_meter(s);
    uint64_t now_us = sim_now_us();
    sim_meter_advance(m, now_us / 1000u);
    sim_glitch_effects fx;
    char *out = malloc(8192);
    if (!out)
        return sim_ctlcmd_fail("%s: out of memory", what);
    int rc = sim_fault_set_command(fs, line, now_us, sim_meter_sim_now(m, now_us / 1000u), &fx, out, 8192);
    if (rc != 0) {
        json_t *r = sim_ctlcmd_fail("%s: %s", what, out);
        free(out);
        return r;
    }
    /* a glitch's model effects (solar export loads) go to the model */
    sim_model *md = sim_meter_model(m);
    for (int i = 0; i < fx.n_loads && i < 3; i++)
        if (fx.load[i].phase >= 1 && fx.load[i].phase <= md->cfg.phases)
            sim_model_set_load(md, fx.load[i].phase - 1, fx.load[i].watts, fx.load[i].pf);
    sim_station_kick(s);
    json_t *r = sim_ctlcmd_ok();
    size_t n = strlen(out);
    while (n && out[n - 1] == '\n')
        out[--n] = 0;
    json_object_set_new(r, "reply", json_string(out));
    free(out);
    return r;
}

/* inject / glitch {"spec": "..."}: the reply names the id to clear it with
 * ("3 flip ...", "p2 busy ...", "g1 spike ..."). */
static json_t *cmd_fs_spec(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c;
    char line[1100];
    if (snprintf(line, sizeof line, "%s %s", cmd->def.name, json_string_value(json_object_get(req, "spec"))) >=
        (int)sizeof line)
        return sim_ctlcmd_fail("%s: spec too long", cmd->def.name);
    json_t *r = fault_set_text(s, cmd->def.name, line);
    json_t *rv = json_object_get(r, "reply");
    if (rv && json_is_string(rv)) {
        const char *text = json_string_value(rv);
        size_t k = strcspn(text, " ");
        json_object_set_new(r, "id", json_stringn(text, k));
        json_object_set_new(r, "fault", json_string(text[k] ? text + k + 1 : ""));
    }
    return r;
}

static json_t *cmd_clear(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)cmd;
    json_t *w = json_object_get(req, "what");
    char line[128];
    snprintf(line, sizeof line, "clear %s", w ? json_string_value(w) : "all");
    return fault_set_text(s, "clear", line);
}

static json_t *cmd_list(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)req, (void)cmd;
    return fault_set_text(s, "list", "list");
}

static json_t *cmd_faults_line(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)cmd;
    return fault_set_text(s, "faults", json_string_value(json_object_get(req, "line")));
}

/* What was injected and what the client did about it: per-fault injection
 * counts, transceiver/ENABLE power cycles seen, latch-ups and their
 * clearing, error codes the meter sent, replays (identical resends),
 * reboots. */
static json_t *cmd_fault_status(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)req, (void)cmd;
    json_t *r = sim_ctlcmd_ok();
    sim_report_fault_status(r, sim_station_faults(s), sim_meter_counters_get(sim_station_meter(s)), sim_now_us());
    return r;
}

/* ---- station parts ------------------------------------------------------ */

/* {"cmd":"scenario","action":"load|start|stop|status","path":FILE}: the
 * station runs the timeline (sim_station_scenario). */
static json_t *cmd_scenario(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)cmd;
    const char *action = json_string_value(json_object_get(req, "action"));
    json_t *path = json_object_get(req, "path");
    if (strcmp(action, "load") && strcmp(action, "start") && strcmp(action, "stop") && strcmp(action, "status"))
        return sim_ctlcmd_fail("scenario: action: expected \"load\", \"start\", \"stop\" or \"status\"");
    if (!strcmp(action, "load") && !path)
        return sim_ctlcmd_fail("scenario: load needs \"path\" (a fixtures/scenarios file)");
    return sim_station_scenario(s, action, path ? json_string_value(path) : NULL);
}

/* A module control line went on/off ({"line":"enable","on":false}, also
 * without "cmd"): docs/module-behaviour.md 2. */
static json_t *cmd_line(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c, (void)cmd;
    const char *l = json_string_value(json_object_get(req, "line"));
    sim_station_line which;
    if (!strcmp(l, "transceiver"))
        which = SIM_STATION_LINE_TRANSCEIVER;
    else if (!strcmp(l, "enable"))
        which = SIM_STATION_LINE_ENABLE;
    else
        return sim_ctlcmd_fail("line: expected \"transceiver\" or \"enable\"");
    sim_station_line_event(s, which, json_is_true(json_object_get(req, "on")));
    return sim_ctlcmd_ok();
}

/* board_reset {ms} / board_power {ms} | {on}: drive the HIL bench's board
 * reset or supply relay from the UART adapter's DTR/RTS (sim_portmodem.h). */
static json_t *cmd_board(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c;
    sim_modem_out out = !strcmp(cmd->def.name, "board_reset") ? SIM_MODEM_OUT_RESET : SIM_MODEM_OUT_POWER;
    sim_portmodem *pm = sim_station_modem(s);
    if (!pm)
        return sim_ctlcmd_fail("%s: meter %s has no modem lines (needs --uart and --%s-line DTR|RTS)",
                                 cmd->def.name, sim_station_name(s), out == SIM_MODEM_OUT_RESET ? "reset" : "power");
    char err[300];
    json_t *on = json_object_get(req, "on");
    if (on) {
        if (json_object_get(req, "ms"))
            return sim_ctlcmd_fail("%s: give either ms (a timed cut) or on, not both", cmd->def.name);
        /* on = board powered = power output released */
        if (sim_portmodem_set(pm, out, !json_is_true(on), err, sizeof err))
            return sim_ctlcmd_fail("%s", err);
    } else {
        long long ms;
        json_t *e = get_int(req, "ms", out == SIM_MODEM_OUT_RESET ? SIM_PORTMODEM_RESET_MS : SIM_PORTMODEM_POWER_MS,
                            1, SIM_PORTMODEM_MAX_PULSE_MS, &ms);
        if (e)
            return e;
        if (sim_portmodem_pulse(pm, out, (uint32_t)ms, err, sizeof err))
            return sim_ctlcmd_fail("%s", err);
    }
    json_t *r = sim_ctlcmd_ok();
    json_object_set_new(r, "active", json_boolean(sim_portmodem_modem(pm)->asserted[out]));
    return r;
}

/* optical / optical_session: the meter's optical port (sim_optical_port.h),
 * which checks its own fields. */
static json_t *cmd_optical(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)c;
    return sim_optical_port_control(sim_station_optical(s), cmd->def.name, req);
}

static json_t *cmd_quit(sim_control *c, sim_station *s, json_t *req, const ctl_cmd *cmd)
{
    (void)s, (void)req, (void)cmd;
    c->quit = true;
    if (c->loop)
        ev_break(c->loop, EVBREAK_ALL);
    return sim_ctlcmd_ok();
}

/* ---- the table ---------------------------------------------------------- */

#define SPEC_BAD(cmd, eg) cmd ": spec: expected a string such as \"" eg "\""
static const ctl_cmd COMMANDS[] = {
    {{"status", {{0}}, false, "every meter: port, E, registration, alerts, lines, scenario, TLS"}, cmd_status},
    {{"get", {{0}}, false, "model values now: phases, registers, BT23/BT28 as a read serves them"}, cmd_get},
    {{"set_load",
      {{"phase", SIM_CTLCMD_INT, true, NULL},
       {"watts", SIM_CTLCMD_NUMBER, true, NULL},
       {"pf", SIM_CTLCMD_NUMBER, false, NULL}},
      false,
      "phase 1..3, watts (negative = export), pf 0..1"},
     cmd_set_load},
    {{"set_clock",
      {{"utc", SIM_CTLCMD_STRING, false, "utc: expected \"YYYY-MM-DDTHH:MM:SSZ\""},
       {"unix", SIM_CTLCMD_NUMBER, false, "unix: expected seconds since 1970 (0..4300000000)"}},
      false,
      "set the simulated clock: utc \"YYYY-MM-DDTHH:MM:SSZ\" or unix seconds"},
     cmd_set_clock},
    {{"set_speed",
      {{"speed", SIM_CTLCMD_NUMBER, true, NULL}},
      false,
      "simulated clock speed 0.001..1e6"},
     cmd_set_speed},
    {{"set_register",
      {{"value", SIM_CTLCMD_INT, true, NULL},
       {"name", SIM_CTLCMD_STRING, true, "set_register: name: expected fwd_wh, rev_wh, imp_varh or exp_varh"}},
      false,
      "set an energy register: name fwd_wh|rev_wh|imp_varh|exp_varh, value Wh/varh"},
     cmd_set_register},
    {{"alert", {{"flags", SIM_CTLCMD_INT, false, NULL}}, false, "raise ET13 alert flags (default 0x01)"}, cmd_alert},
    {{"clear_alert",
      {{"flags", SIM_CTLCMD_INT, false, NULL}},
      false,
      "clear ET13 alert flags (default all)"},
     cmd_alert},
    {{"counters", {{0}}, false, "meter and line counters"}, cmd_counters},
    {{"read_table",
      {{"table", SIM_CTLCMD_ANY, true, "read_table: table: expected \"BT28\", \"ET13\" or a table number"},
       {"offset", SIM_CTLCMD_INT, false, NULL},
       {"count", SIM_CTLCMD_INT, false, NULL}},
      false,
      "table bytes as a read serves them now: table, offset, count"},
     cmd_read_table},
    {{"set_seq", {{"e", SIM_CTLCMD_INT, true, NULL}}, false, "set the expected sequence number E"}, cmd_set_seq},
    {{"bump_idt", {{0}}, false, "bump the IDT version (E moves on)"}, cmd_set_seq},
    {{"freeze_clock",
      {{"frozen", SIM_CTLCMD_BOOL, false, NULL}},
      false,
      "stop (frozen true, default) or restart the simulated clock"},
     cmd_freeze_clock},
    {{"inject",
      {{"spec", SIM_CTLCMD_STRING, true, SPEC_BAD("inject", "flip rate=0.001 dir=to-module")}},
      false,
      "start a line or protocol fault: spec \"drop p=0.5\""},
     cmd_fs_spec},
    {{"glitch",
      {{"spec", SIM_CTLCMD_STRING, true, SPEC_BAD("glitch", "spike delta=2^24 polls=3")}},
      false,
      "start a kWh glitch: spec \"spike delta=2^24 polls=3\""},
     cmd_fs_spec},
    {{"clear",
      {{"what", SIM_CTLCMD_STRING, false,
        "clear: what: expected a fault or glitch name, an id (3, p2, g1) or \"all\""}},
      false,
      "stop faults/glitches: what = a name, an id (3, p2, g1) or all (default)"},
     cmd_clear},
    {{"list", {{0}}, false, "active faults and glitches, one per line"}, cmd_list},
    {{"fault_status", {{0}}, false, "fault counters: injected, power cycles, latch-ups, codes"}, cmd_fault_status},
    {{"faults",
      {{"line", SIM_CTLCMD_STRING, true,
        "faults: line: expected a command such as \"inject drop p=0.5\" (inject, glitch, clear, list, status)"}},
      false,
      "the text form: line \"inject drop p=0.5\""},
     cmd_faults_line},
    {{"scenario",
      {{"action", SIM_CTLCMD_STRING, true, "scenario: action: expected \"load\", \"start\", \"stop\" or \"status\""},
       {"path", SIM_CTLCMD_STRING, false, "scenario: path: expected a file name"}},
      false,
      "scenario timeline: action load (path) | start | stop | status"},
     cmd_scenario},
    {{"board_reset",
      {{"ms", SIM_CTLCMD_INT, false, NULL}},
      false,
      "pulse the board's reset for ms (default 100; UART + --reset-line)"},
     cmd_board},
    {{"board_power",
      {{"ms", SIM_CTLCMD_INT, false, NULL},
       {"on", SIM_CTLCMD_BOOL, false, "board_power: on: expected true or false"}},
      false,
      "cut the supply for ms (default 2000), or on true = restore / false = cut"},
     cmd_board},
    {{"line",
      {{"line", SIM_CTLCMD_STRING, true, "line: expected \"transceiver\" or \"enable\""},
       {"on", SIM_CTLCMD_BOOL, true, "on: expected true or false"}},
      false,
      "module control line event: line transceiver|enable, on true|false"},
     cmd_line},
    {{"optical", {{0}}, true, "the optical port's state"}, cmd_optical},
    {{"optical_session", {{0}}, true, "start/stop a simulated optical probe session"}, cmd_optical},
    {{"quit", {{0}}, false, "stop mepsim"}, cmd_quit},
};
#undef SPEC_BAD
/* Fields any request may carry besides its command's; the generic refusals
 * name the field only ("missing field \"phase\"", "watts: expected a number"). */
static const char *const ENVELOPE[] = {"cmd", "meter", "id", NULL};
static const sim_ctlcmd_table TABLE = SIM_CTLCMD_TABLE(COMMANDS, ENVELOPE, false);

void sim_control_print_commands(FILE *out)
{
    fputs("Control socket: one JSON object per line, one reply line each ({\"ok\":true,..} or\n"
          "{\"ok\":false,\"error\":..}); \"meter\": name|index selects a meter (default the first).\n",
          out);
    sim_ctlcmd_print(&TABLE, out);
    fputs("  a line event also comes without cmd: {\"line\":\"enable\",\"on\":false}\n"
          "  (client: hil/osgp_hil/mepsim_control.py, mepsim-ctl)\n",
          out);
}

static json_t *select_station(sim_control *c, json_t *req, sim_station **out)
{
    json_t *m = json_object_get(req, "meter");
    if (!m) {
        if (c->n == 0)
            return sim_ctlcmd_fail("no meters");
        *out = c->stations[0];
        return NULL;
    }
    if (json_is_integer(m)) {
        json_int_t i = json_integer_value(m);
        if (i < 0 || (size_t)i >= c->n)
            return sim_ctlcmd_fail("meter index %lld out of range (%zu meters)", (long long)i, c->n);
        *out = c->stations[i];
        return NULL;
    }
    if (json_is_string(m)) {
        for (size_t i = 0; i < c->n; i++)
            if (!strcmp(sim_station_name(c->stations[i]), json_string_value(m))) {
                *out = c->stations[i];
                return NULL;
            }
        return sim_ctlcmd_fail("unknown meter \"%s\"", json_string_value(m));
    }
    return sim_ctlcmd_fail("meter: expected a name or an index");
}

static json_t *exec_json(void *ctx, json_t *req)
{
    sim_control *c = ctx;
    if (!json_is_object(req))
        return sim_ctlcmd_fail("expected a JSON object");
    json_t *cmdv = json_object_get(req, "cmd");
    const void *row = NULL;
    json_t *e;
    if (!cmdv) {
        if (!json_object_get(req, "line"))
            return sim_ctlcmd_fail("missing \"cmd\" (or a line event {\"line\":..,\"on\":..})");
        row = sim_ctlcmd_find(&TABLE, "line");
    } else if (sim_ctlcmd_lookup(&TABLE, cmdv, &row, &e) != SIM_CTLCMD_OK) {
        return e;
    }
    const ctl_cmd *cmd = row;
    sim_station *s = NULL;
    if (sim_ctlcmd_check(&TABLE, &cmd->def, req, &e) != SIM_CTLCMD_OK || (e = select_station(c, req, &s)))
        return e;
    return cmd->run(c, s, req, cmd);
}

char *sim_control_exec(sim_control *c, const char *line) { return sim_ctlcmd_exec_line(line, exec_json, c); }

/* ---- socket ------------------------------------------------------------ */

static void client_free(ctl_client *cl)
{
    sim_control *c = cl->ctl;
    ev_io_stop(c->loop, &cl->rio);
    ev_io_stop(c->loop, &cl->wio);
    close(cl->fd);
    for (ctl_client **pp = &c->clients; *pp; pp = &(*pp)->next)
        if (*pp == cl) {
            *pp = cl->next;
            break;
        }
    free(cl->in);
    free(cl->out);
    free(cl);
}

static bool client_output_pending(const ctl_client *cl) { return cl->out_off < cl->out_len; }

/* Write what the socket takes; true when all pending output is out. */
static bool client_flush(ctl_client *cl)
{
    while (cl->out_off < cl->out_len) {
        ssize_t w = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev_io_start(cl->ctl->loop, &cl->wio);
                return false;
            }
            cl->out_off = cl->out_len; /* peer gone; the read side will notice */
            break;
        }
        cl->out_off += (size_t)w;
    }
    cl->out_len = cl->out_off = 0;
    ev_io_stop(cl->ctl->loop, &cl->wio);
    return true;
}

static void client_reply(ctl_client *cl, const char *s)
{
    size_t n = strlen(s);
    char *nb = realloc(cl->out, cl->out_len + n + 1);
    if (!nb)
        return;
    cl->out = nb;
    memcpy(cl->out + cl->out_len, s, n);
    cl->out[cl->out_len + n] = '\n';
    cl->out_len += n + 1;
    client_flush(cl);
}

/* One complete request line (or the end of an overlong one). */
static void client_line(ctl_client *cl)
{
    if (cl->overlong) {
        cl->overlong = false;
        json_t *e = sim_ctlcmd_fail("request line longer than %d bytes", SIM_CONTROL_MAX_LINE);
        char *s = json_dumps(e, JSON_COMPACT);
        json_decref(e);
        client_reply(cl, s ? s : "{\"ok\":false,\"error\":\"line too long\"}");
        free(s);
        return;
    }
    cl->in[cl->in_len] = 0;
    size_t start = 0;
    while (start < cl->in_len && (cl->in[start] == ' ' || cl->in[start] == '\r' || cl->in[start] == '\t'))
        start++;
    if (start < cl->in_len) {
        char *rep = sim_control_exec(cl->ctl, cl->in + start);
        client_reply(cl, rep ? rep : "{\"ok\":false,\"error\":\"internal error\"}");
        free(rep);
    }
}

/* Run the received bytes up to the first reply the client has not taken;
 * read from the socket again only once rx is used up and nothing waits. */
static void client_consume(ctl_client *cl)
{
    while (cl->rx_off < cl->rx_len && !client_output_pending(cl)) {
        char ch = cl->rx[cl->rx_off++];
        if (ch == '\n') {
            client_line(cl);
            cl->in_len = 0;
            if (cl->ctl->quit)
                return;
            continue;
        }
        if (cl->overlong)
            continue;
        if (cl->in_len + 1 >= SIM_CONTROL_MAX_LINE) {
            cl->overlong = true;
            cl->in_len = 0;
            continue;
        }
        cl->in[cl->in_len++] = ch;
    }
    if (cl->rx_off < cl->rx_len || client_output_pending(cl))
        ev_io_stop(cl->ctl->loop, &cl->rio);
    else
        ev_io_start(cl->ctl->loop, &cl->rio);
}

static void on_client_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    ctl_client *cl = w->data;
    if (client_flush(cl) && !cl->ctl->quit)
        client_consume(cl); /* the reply is taken: go on with the next request */
}

static void on_client_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    ctl_client *cl = w->data;
    ssize_t r = recv(cl->fd, cl->rx, sizeof cl->rx, 0);
    if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (r <= 0) {
        client_free(cl);
        return;
    }
    cl->rx_len = (size_t)r;
    cl->rx_off = 0;
    client_consume(cl);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    sim_control *c = w->data;
    int fd = accept(c->fd, NULL, NULL);
    if (fd < 0)
        return;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    ctl_client *cl = calloc(1, sizeof *cl);
    if (!cl || !(cl->in = malloc(SIM_CONTROL_MAX_LINE))) {
        free(cl);
        close(fd);
        return;
    }
    cl->ctl = c;
    cl->fd = fd;
    sim_ev_io(loop, &cl->rio, on_client_readable, fd, EV_READ, cl);
    sim_ev_io(NULL, &cl->wio, on_client_writable, fd, EV_WRITE, cl); /* started when a reply waits */
    cl->next = c->clients;
    c->clients = cl;
}

sim_control *sim_control_new(struct ev_loop *loop, const char *path, sim_station *const *stations, size_t n,
                             char *err, size_t errlen)
{
    sim_control *c = sim_ev_new(sizeof *c, err, errlen);
    if (!c)
        return NULL;
    c->loop = loop;
    c->stations = stations;
    c->n = n;
    c->fd = -1;
    if (!path)
        return c;
    if (strlen(path) >= sizeof c->path) {
        snprintf(err, errlen, "--control %s: path too long for a Unix socket (max %zu)", path,
                 sizeof c->path - 1);
        free(c);
        return NULL;
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "--control %s: exists and is not a socket; refusing to replace it", path);
            free(c);
            return NULL;
        }
        /* connect first: a socket someone listens on belongs to a live
         * process and is never taken over; only a dead one is replaced */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0)
            close(probe);
        if (live) {
            snprintf(err, errlen, "--control %s: the socket is live (another mepsim is listening on it); "
                     "stop that one or give another path", path);
            free(c);
            return NULL;
        }
        unlink(path); /* stale socket of an earlier run */
    }
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        snprintf(err, errlen, "--control %s: socket: %s", path, strerror(errno));
        free(c);
        return NULL;
    }
    mode_t old = umask(0177); /* socket file mode 0600 */
    int rc = bind(c->fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || chmod(c->path, 0600) != 0 || listen(c->fd, 16) != 0 || lstat(c->path, &st) != 0) {
        snprintf(err, errlen, "--control %s: %s", path, strerror(errno));
        if (rc == 0)
            unlink(c->path); /* ours: bound just now */
        close(c->fd);
        free(c);
        return NULL;
    }
    c->sock_dev = st.st_dev;
    c->sock_ino = st.st_ino;
    sim_ev_io(loop, &c->lio, on_accept, c->fd, EV_READ, c);
    return c;
}

void sim_control_free(sim_control *c)
{
    if (!c)
        return;
    while (c->clients)
        client_free(c->clients);
    if (c->fd >= 0) {
        ev_io_stop(c->loop, &c->lio);
        close(c->fd);
        /* remove the socket file only if it is still the one we bound: a
         * path another process has bound since is not ours to delete */
        struct stat st;
        if (lstat(c->path, &st) == 0 && st.st_dev == c->sock_dev && st.st_ino == c->sock_ino)
            unlink(c->path);
    }
    free(c);
}
