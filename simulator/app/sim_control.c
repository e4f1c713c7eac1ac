/* sim_control: JSON-lines control socket of mepsim (see sim_control.h).
 *
 * The interpreter validates every field before it touches a meter, so a
 * request with an error changes nothing. Model values are brought up to
 * "now" (sim_meter_advance) before they are reported, and dynamic tables are
 * read through sim_tables_read, so "get" and "read_table" show exactly what
 * a MEP read would serve at that moment.
 */
#include "sim_control.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
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
#include "sim_optical_port.h"
#include "sim_portmodem.h"

typedef struct ctl_client ctl_client;

struct sim_control {
    struct ev_loop *loop;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int fd;
    ev_io lio;
    sim_port *const *ports;
    size_t n;
    ctl_client *clients;
    bool quit;
    sim_control_status_fn status_fn;
    void *status_ctx;
    sim_control_scenario_fn scenario_fn;
    void *scenario_ctx;
    sim_optical_port *const *optical; /* parallel to ports (entries may be NULL), or NULL */
};

struct ctl_client {
    sim_control *ctl;
    int fd;
    ev_io rio, wio;
    char *in;
    size_t in_len;
    bool overlong;            /* dropping the rest of a too-long line */
    char *out;
    size_t out_len, out_off;
    ctl_client *next;
};

/* ---- helpers ---------------------------------------------------------- */

static json_t *fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *fail(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static json_t *ok(void) { return json_pack("{s:b}", "ok", 1); }

static uint64_t now_ms(void) { return sim_now_us() / 1000u; }

/* Reject keys a command does not know (a typo must not pass silently). */
static json_t *check_keys(json_t *req, const char *cmd, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(req, key, v) {
        if (!strcmp(key, "cmd") || !strcmp(key, "meter") || !strcmp(key, "id"))
            continue;
        bool found = false;
        for (size_t i = 0; allowed && allowed[i]; i++)
            if (!strcmp(allowed[i], key))
                found = true;
        if (!found)
            return fail("%s: unknown field \"%s\"", cmd, key);
    }
    return NULL;
}

static json_t *select_port(sim_control *c, json_t *req, sim_port **out)
{
    json_t *m = json_object_get(req, "meter");
    if (!m) {
        if (c->n == 0)
            return fail("no meters");
        *out = c->ports[0];
        return NULL;
    }
    if (json_is_integer(m)) {
        json_int_t i = json_integer_value(m);
        if (i < 0 || (size_t)i >= c->n)
            return fail("meter index %lld out of range (%zu meters)", (long long)i, c->n);
        *out = c->ports[i];
        return NULL;
    }
    if (json_is_string(m)) {
        for (size_t i = 0; i < c->n; i++)
            if (!strcmp(sim_port_name(c->ports[i]), json_string_value(m))) {
                *out = c->ports[i];
                return NULL;
            }
        return fail("unknown meter \"%s\"", json_string_value(m));
    }
    return fail("meter: expected a name or an index");
}

static json_t *get_number(json_t *req, const char *key, bool required, double def, double lo, double hi,
                          double *out)
{
    *out = def; /* always written (see get_int) */
    json_t *v = json_object_get(req, key);
    if (!v) {
        if (required)
            return fail("missing field \"%s\"", key);
        *out = def;
        return NULL;
    }
    if (!json_is_number(v))
        return fail("%s: expected a number", key);
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi)
        return fail("%s: %g out of range %g..%g", key, x, lo, hi);
    *out = x;
    return NULL;
}

static json_t *get_int(json_t *req, const char *key, bool required, long long def, long long lo,
                       long long hi, long long *out)
{
    /* *out is always written: gcc -O2 cannot tell fail() never returns NULL
     * and would warn -Wmaybe-uninitialized at every caller */
    *out = def;
    json_t *v = json_object_get(req, key);
    if (!v) {
        if (required)
            return fail("missing field \"%s\"", key);
        *out = def;
        return NULL;
    }
    if (!json_is_integer(v))
        return fail("%s: expected an integer", key);
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return fail("%s: %lld out of range %lld..%lld", key, x, lo, hi);
    *out = x;
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

static char *seq_hex(uint32_t v, char buf[11])
{
    snprintf(buf, 11, "0x%08X", (unsigned)v);
    return buf;
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

static int read_le32s(sim_tables *t, uint16_t id, uint32_t off, int32_t *out)
{
    uint8_t b[4];
    if (sim_tables_read(t, id, off, 4, b) != 4)
        return -1;
    *out = (int32_t)mep_get_le32(b);
    return 0;
}

/* ---- commands ---------------------------------------------------------- */

static json_t *meter_status(sim_port *p, size_t index, uint64_t now)
{
    sim_meter *m = sim_port_meter(p);
    sim_line *l = sim_port_line(p);
    char iso[40], e[11];
    sim_config_format_time(sim_meter_sim_now(m, now), iso, sizeof iso);
    return json_pack("{s:s, s:I, s:s, s:s, s:I, s:s, s:I, s:b, s:I, s:I, s:b, s:I, s:s, "
                     "s:{s:b, s:b}}",
                     "name", sim_port_name(p), "index", (json_int_t)index, "device", sim_port_device(p),
                     "path", sim_port_path(p), "baud", (json_int_t)l->baud, "E",
                     seq_hex(sim_meter_next_seq(m), e), "e", (json_int_t)sim_meter_next_seq(m),
                     "registered", sim_meter_registered(m), "handle", (json_int_t)sim_meter_handle(m),
                     "alert_flags", (json_int_t)sim_meter_alert_flags(m), "alert_pending",
                     sim_meter_alert_pending(m), "device_status",
                     (json_int_t)sim_meter_device_status(m), "sim_time", iso, "lines", "transceiver",
                     sim_meter_line_state(m, "transceiver"), "enable", sim_meter_line_state(m, "enable"));
}

static json_t *cmd_status(sim_control *c)
{
    uint64_t now = now_ms();
    json_t *arr = json_array();
    for (size_t i = 0; i < c->n; i++) {
        json_t *m = meter_status(c->ports[i], i, now);
        const sim_portmodem *pm = sim_port_get_modem(c->ports[i]);
        if (pm) { /* HIL modem lines (sim_portmodem.h) */
            const sim_modem *md = sim_portmodem_modem(pm);
            json_object_set_new(m, "modem",
                                json_pack("{s:I, s:I, s:I, s:I, s:b, s:b}", "samples", (json_int_t)md->c.samples,
                                          "port_errors", (json_int_t)md->c.port_errors, "bounces",
                                          (json_int_t)md->c.bounces, "pulses", (json_int_t)md->c.pulses,
                                          "reset_asserted", md->asserted[SIM_MODEM_OUT_RESET],
                                          "power_cut", md->asserted[SIM_MODEM_OUT_POWER]));
        }
        if (c->status_fn)
            c->status_fn(c->status_ctx, i, m);
        json_array_append_new(arr, m);
    }
    json_t *r = ok();
    json_object_set_new(r, "meters", arr);
    return r;
}

static json_t *cmd_get(sim_port *p)
{
    sim_meter *m = sim_port_meter(p);
    uint64_t now = now_ms();
    sim_meter_advance(m, now);
    sim_model *md = sim_meter_model(m);
    sim_tables *t = sim_meter_tables(m);
    int64_t sim_ms = sim_meter_sim_now(m, now);
    char iso[40];
    sim_config_format_time(sim_ms, iso, sizeof iso);
    json_t *r = ok();
    json_object_set_new(r, "meter", json_string(sim_port_name(p)));
    json_object_set_new(r, "sim_time", json_string(iso));
    json_object_set_new(r, "sim_time_ms", json_integer(sim_ms));
    json_t *ph = json_array();
    for (int i = 0; i < md->cfg.phases && i < SIM_MAX_PHASES; i++)
        json_array_append_new(ph, json_pack("{s:i, s:f, s:f, s:f, s:f, s:f}", "phase", i + 1, "v",
                                            md->ph[i].v, "i", md->ph[i].i, "p", md->ph[i].p, "q",
                                            md->ph[i].q, "pf", md->ph[i].pf));
    json_object_set_new(r, "phases", ph);
    json_object_set_new(r, "frequency", json_real(md->freq_hz));
    json_object_set_new(r, "total_power_w", json_real(sim_model_total_power_w(md)));
    json_object_set_new(r, "registers",
                        json_pack("{s:I, s:I, s:I, s:I}", "fwd_wh",
                                  (json_int_t)sim_model_register(md, SIM_REG_FWD_WH), "rev_wh",
                                  (json_int_t)sim_model_register(md, SIM_REG_REV_WH), "imp_varh",
                                  (json_int_t)sim_model_register(md, SIM_REG_IMP_VARH), "exp_varh",
                                  (json_int_t)sim_model_register(md, SIM_REG_EXP_VARH)));
    /* What a read serves now: decode BT23/BT28 through the BT21 layout (docs/mep.md 12.6, 12.8). */
    uint8_t bt21[10];
    if (sim_tables_read(t, MEP_BT(21), 0, 10, bt21) == 10) {
        sim_layout lay;
        sim_layout_from_bt21(bt21, &lay);
        int32_t fwd, rev;
        if (read_le32s(t, MEP_BT(23), lay.bt23_summation0, &fwd) == 0 &&
            read_le32s(t, MEP_BT(23), lay.bt23_summation0 + 4, &rev) == 0)
            json_object_set_new(r, "bt23", json_pack("{s:i, s:i}", "fwd_wh", (int)fwd, "rev_wh", (int)rev));
        json_t *vals = json_array();
        for (uint32_t k = 0; k < lay.n_present_values; k++) {
            int32_t v;
            if (read_le32s(t, MEP_BT(28), lay.bt28_value0 + 4 * k, &v) != 0)
                break;
            json_array_append_new(vals, json_integer(v));
        }
        json_object_set_new(r, "bt28", vals);
    }
    return r;
}

static json_t *cmd_set_load(sim_port *p, json_t *req)
{
    static const char *const keys[] = {"phase", "watts", "pf", NULL};
    json_t *e;
    long long phase = 0;
    double watts = 0, pf = 1.0; /* set by get_*; initialised for gcc -O2 -Wmaybe-uninitialized */
    sim_model *md = sim_meter_model(sim_port_meter(p));
    if ((e = check_keys(req, "set_load", keys)) ||
        (e = get_int(req, "phase", true, 0, 1, md->cfg.phases, &phase)) ||
        (e = get_number(req, "watts", true, 0, -1e7, 1e7, &watts)) ||
        (e = get_number(req, "pf", false, 1.0, 0.0, 1.0, &pf)))
        return e;
    sim_meter_advance(sim_port_meter(p), now_ms()); /* book energy at the old load first */
    sim_model_set_load(md, (int)phase - 1, watts, pf);
    sim_port_kick(p);
    return ok();
}

static json_t *cmd_set_clock(sim_port *p, json_t *req)
{
    static const char *const keys[] = {"utc", "unix", NULL};
    json_t *e = check_keys(req, "set_clock", keys);
    if (e)
        return e;
    json_t *u = json_object_get(req, "utc"), *x = json_object_get(req, "unix");
    int64_t ms;
    if ((u != NULL) == (x != NULL))
        return fail("set_clock: give exactly one of \"utc\" (YYYY-MM-DDTHH:MM:SSZ) and \"unix\" (seconds)");
    if (u) {
        if (!json_is_string(u) || sim_config_parse_time(json_string_value(u), &ms))
            return fail("utc: expected \"YYYY-MM-DDTHH:MM:SSZ\"");
    } else {
        if (!json_is_number(x) || json_number_value(x) < 0 || json_number_value(x) > 4.3e9)
            return fail("unix: expected seconds since 1970 (0..4300000000)");
        ms = (int64_t)llround(json_number_value(x) * 1000.0);
    }
    sim_meter_set_clock(sim_port_meter(p), now_ms(), ms);
    sim_port_kick(p);
    return ok();
}

static json_t *cmd_set_speed(sim_port *p, json_t *req)
{
    static const char *const keys[] = {"speed", NULL};
    json_t *e;
    double s;
    if ((e = check_keys(req, "set_speed", keys)) || (e = get_number(req, "speed", true, 0, 1e-3, 1e6, &s)))
        return e;
    sim_meter_set_speed(sim_port_meter(p), now_ms(), s);
    sim_port_kick(p);
    return ok();
}

static json_t *cmd_set_register(sim_port *p, json_t *req)
{
    static const char *const keys[] = {"name", "value", NULL};
    static const struct { const char *n; enum sim_register r; } regs[] = {
        {"fwd_wh", SIM_REG_FWD_WH}, {"rev_wh", SIM_REG_REV_WH},
        {"imp_varh", SIM_REG_IMP_VARH}, {"exp_varh", SIM_REG_EXP_VARH}};
    json_t *e;
    long long value;
    if ((e = check_keys(req, "set_register", keys)) ||
        (e = get_int(req, "value", true, 0, 0, 4294967295LL, &value)))
        return e;
    json_t *n = json_object_get(req, "name");
    if (!n || !json_is_string(n))
        return fail("set_register: name: expected fwd_wh, rev_wh, imp_varh or exp_varh");
    for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++)
        if (!strcmp(regs[i].n, json_string_value(n))) {
            sim_meter_advance(sim_port_meter(p), now_ms());
            sim_model_set_register(sim_meter_model(sim_port_meter(p)), regs[i].r, value);
            sim_port_kick(p);
            return ok();
        }
    return fail("set_register: unknown register \"%s\" (fwd_wh, rev_wh, imp_varh, exp_varh)",
                json_string_value(n));
}

static json_t *cmd_alert(sim_port *p, json_t *req, bool raise)
{
    static const char *const keys[] = {"flags", NULL};
    json_t *e;
    long long flags = 0;
    if ((e = check_keys(req, raise ? "alert" : "clear_alert", keys)) ||
        (e = get_int(req, "flags", false, raise ? 1 : 0xFF, 0, 255, &flags)))
        return e;
    if (raise)
        sim_meter_raise_alert(sim_port_meter(p), (uint8_t)flags);
    else
        sim_meter_clear_alert(sim_port_meter(p), (uint8_t)flags);
    sim_port_kick(p);
    json_t *r = ok();
    json_object_set_new(r, "alert_flags", json_integer(sim_meter_alert_flags(sim_port_meter(p))));
    json_object_set_new(r, "alert_pending", json_boolean(sim_meter_alert_pending(sim_port_meter(p))));
    return r;
}

static json_t *cmd_counters(sim_port *p)
{
    const sim_meter_counters *mc = sim_meter_counters_get(sim_port_meter(p));
    const sim_line_counters *lc = &sim_port_line(p)->c;
    json_t *codes = json_object();
    for (int i = 0; i < 256; i++)
        if (mc->responses[i]) {
            char k[8];
            snprintf(k, sizeof k, "0x%02X", i);
            json_object_set_new(codes, k, json_integer((json_int_t)mc->responses[i]));
        }
#define M(f) #f, (json_int_t)mc->f
#define L(f) #f, (json_int_t)lc->f
    json_t *meter = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                              "s:I, s:I, s:I}",
                              M(frames_rx), M(frames_malformed), M(auth_fail), M(seq_rejects), M(replays),
                              M(encrypted_rx), M(mak_requests), M(mbk_requests), M(alerts_sent),
                              M(procedures), M(registrations), M(health_down), M(baud_changes),
                              M(line_events), M(transceiver_off_events), M(enable_off_events),
                              "responses_total", (json_int_t)0);
    json_int_t total = 0;
    for (int i = 0; i < 256; i++)
        total += (json_int_t)mc->responses[i];
    json_object_set_new(meter, "responses_total", json_integer(total));
    json_object_set_new(meter, "responses", codes);
    json_t *line = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                             L(bytes_rx), L(bytes_tx), L(frames_rx), L(gap_aborts), L(oversize),
                             L(zero_rx), L(throttled), L(queue_overflow), L(responses), L(silent),
                             L(muted), L(deaf_bytes), L(tx_lost), L(alerts), L(baud_changes));
#undef M
#undef L
    json_t *r = ok();
    json_object_set_new(r, "meter", json_string(sim_port_name(p)));
    /* meter counters at the top level (tests read them directly), line counters under "line" */
    const char *k;
    json_t *v;
    json_object_foreach(meter, k, v) json_object_set(r, k, v);
    json_decref(meter);
    json_object_set_new(r, "line", line);
    return r;
}

static json_t *cmd_read_table(sim_port *p, json_t *req)
{
    static const char *const keys[] = {"table", "offset", "count", NULL};
    json_t *e;
    uint16_t id;
    if ((e = check_keys(req, "read_table", keys)))
        return e;
    json_t *tv = json_object_get(req, "table");
    if (!tv || parse_table(tv, &id))
        return fail("read_table: table: expected \"BT28\", \"ET13\" or a table number");
    sim_meter *m = sim_port_meter(p);
    sim_tables *t = sim_meter_tables(m);
    int size = sim_tables_size(t, id);
    char name[8];
    mep_table_name(id, name);
    if (size < 0)
        return fail("read_table: %s: no such table in this meter", name);
    long long off = 0, count = 0;
    if ((e = get_int(req, "offset", false, 0, 0, size, &off)) ||
        (e = get_int(req, "count", false, size - off, 0, 65535, &count)))
        return e;
    sim_meter_advance(m, now_ms());
    uint8_t *buf = malloc((size_t)count + 1);
    char *hex = malloc(2 * (size_t)count + 1);
    if (!buf || !hex) {
        free(buf);
        free(hex);
        return fail("out of memory");
    }
    int got = count ? sim_tables_read(t, id, (uint32_t)off, (uint32_t)count, buf) : 0;
    if (got < 0) {
        free(buf);
        free(hex);
        return fail("read_table: %s offset %lld: out of range (size %d)", name, off, size);
    }
    hex_of(buf, (size_t)got, hex);
    json_t *r = ok();
    json_object_set_new(r, "table", json_integer(id));
    json_object_set_new(r, "name", json_string(name));
    json_object_set_new(r, "size", json_integer(size));
    json_object_set_new(r, "offset", json_integer(off));
    json_object_set_new(r, "count", json_integer(got));
    json_object_set_new(r, "hex", json_string(hex));
    free(buf);
    free(hex);
    return r;
}

/* Meter manipulations the field scenarios need: move E (S03), bump the IDT version (docs/mep.md 5.5), freeze the clock. */
static json_t *cmd_set_seq(sim_port *p, json_t *req)
{
    static const char *const keys[] = {"e", NULL};
    json_t *e;
    long long v;
    if ((e = check_keys(req, "set_seq", keys)) || (e = get_int(req, "e", true, 0, 0, 0xFFFFFFFFLL, &v)))
        return e;
    sim_meter_set_next_seq(sim_port_meter(p), (uint32_t)v);
    json_t *r = ok();
    json_object_set_new(r, "e", json_integer(sim_meter_next_seq(sim_port_meter(p))));
    return r;
}

static json_t *cmd_bump_idt(sim_port *p, json_t *req)
{
    json_t *e = check_keys(req, "bump_idt", NULL);
    if (e)
        return e;
    sim_meter_bump_idt(sim_port_meter(p));
    json_t *r = ok();
    json_object_set_new(r, "e", json_integer(sim_meter_next_seq(sim_port_meter(p))));
    return r;
}

static json_t *cmd_freeze_clock(sim_port *p, json_t *req)
{
    static const char *const keys[] = {"frozen", NULL};
    json_t *e = check_keys(req, "freeze_clock", keys);
    if (e)
        return e;
    json_t *f = json_object_get(req, "frozen");
    if (f && !json_is_boolean(f))
        return fail("frozen: expected true or false");
    sim_meter *m = sim_port_meter(p);
    uint64_t now = now_ms();
    sim_meter_advance(m, now);
    sim_clock_freeze(sim_meter_clock(m), now, f ? json_is_true(f) : true);
    sim_port_kick(p);
    return ok();
}

/* Line faults (sim_fault.h): {"cmd":"fault","spec":"flip rate=0.001 dir=to-module count=3"}. */
static json_t *cmd_fault(sim_port *p, json_t *req)
{
    static const char *const keys[] = {"spec", NULL};
    json_t *e = check_keys(req, "fault", keys);
    if (e)
        return e;
    json_t *sv = json_object_get(req, "spec");
    if (!json_is_string(sv))
        return fail("fault: spec: expected a string such as \"drop p=0.1 dir=to-module\"");
    sim_fault_spec spec;
    char err[300];
    if (sim_fault_spec_parse(&spec, json_string_value(sv), err, sizeof err) != 0 ||
        sim_fault_spec_check(&spec, err, sizeof err) != 0)
        return fail("fault: %s", err);
    int id = sim_fault_start(sim_port_fault(p), &spec, sim_now_us(), err, sizeof err);
    if (id < 0)
        return fail("fault: %s", err);
    sim_port_kick(p);
    char desc[300];
    sim_fault_spec_format(&spec, desc, sizeof desc);
    json_t *r = ok();
    json_object_set_new(r, "id", json_integer(id));
    json_object_set_new(r, "fault", json_string(desc));
    return r;
}

static json_t *cmd_fault_stop(sim_port *p, json_t *req)
{
    static const char *const keys[] = {"what", NULL};
    json_t *e = check_keys(req, "fault_stop", keys);
    if (e)
        return e;
    json_t *w = json_object_get(req, "what");
    if (w && !json_is_string(w))
        return fail("fault_stop: what: expected a fault name, an id or \"all\"");
    const char *what = w ? json_string_value(w) : "all";
    char *end;
    (void)strtoul(what, &end, 10);
    bool is_id = what[0] >= '0' && what[0] <= '9' && *end == 0;
    if (strcmp(what, "all") != 0 && !is_id && sim_fault_kind_from_name(what) < 0)
        return fail("fault_stop: \"%s\" is not a fault name, an id or \"all\"", what);
    int n = sim_fault_stop(sim_port_fault(p), what);
    sim_port_kick(p);
    json_t *r = ok();
    json_object_set_new(r, "stopped", json_integer(n));
    return r;
}

/* board_reset {ms} / board_power {ms} | {on}: drive the HIL bench's board
 * reset or supply relay from the UART adapter's DTR/RTS (sim_portmodem.h). */
static json_t *cmd_board(sim_port *p, json_t *req, sim_modem_out out)
{
    const char *name = out == SIM_MODEM_OUT_RESET ? "board_reset" : "board_power";
    static const char *const reset_keys[] = {"ms", NULL};
    static const char *const power_keys[] = {"ms", "on", NULL};
    json_t *e;
    if ((e = check_keys(req, name, out == SIM_MODEM_OUT_RESET ? reset_keys : power_keys)))
        return e;
    sim_portmodem *pm = sim_port_get_modem(p);
    if (!pm)
        return fail("%s: meter %s has no modem lines (needs --uart and --%s-line DTR|RTS)", name,
                    sim_port_name(p), out == SIM_MODEM_OUT_RESET ? "reset" : "power");
    char err[300];
    json_t *on = json_object_get(req, "on");
    if (on) {
        if (!json_is_boolean(on))
            return fail("%s: on: expected true or false", name);
        if (json_object_get(req, "ms"))
            return fail("%s: give either ms (a timed cut) or on, not both", name);
        /* on = board powered = power output released */
        if (sim_portmodem_set(pm, out, !json_is_true(on), err, sizeof err))
            return fail("%s", err);
    } else {
        long long ms = 0;
        if ((e = get_int(req, "ms", false,
                         out == SIM_MODEM_OUT_RESET ? SIM_PORTMODEM_RESET_MS : SIM_PORTMODEM_POWER_MS, 1,
                         SIM_PORTMODEM_MAX_PULSE_MS, &ms)))
            return e;
        if (sim_portmodem_pulse(pm, out, (uint32_t)ms, err, sizeof err))
            return fail("%s", err);
    }
    json_t *r = ok();
    json_object_set_new(r, "active", json_boolean(sim_portmodem_modem(pm)->asserted[out]));
    return r;
}

static json_t *cmd_fault_list(sim_port *p, json_t *req)
{
    json_t *e = check_keys(req, "fault_list", NULL);
    if (e)
        return e;
    sim_fault *f = sim_port_fault(p);
    uint64_t now = sim_now_us();
    char text[4096];
    sim_fault_list(f, now, text, sizeof text);
    json_t *r = ok();
    json_object_set_new(r, "active", json_integer((json_int_t)sim_fault_active(f, now)));
    json_object_set_new(r, "list", json_string(text));
    json_t *inj = json_object();
    for (int k = 0; k < SIM_FAULT_KIND_COUNT; k++)
        json_object_set_new(inj, sim_fault_kind_name((sim_fault_kind)k),
                            json_integer((json_int_t)f->c.injected[k]));
    json_object_set_new(r, "injected", inj);
    json_object_set_new(r, "latched", json_boolean(sim_fault_latched(f)));
    return r;
}

/* ---- fault set: line + protocol faults and kWh glitches ---------
 * {"cmd":"inject","spec":"flip rate=0.001 dir=to-module"}, {"cmd":"glitch",
 * "spec":"spike delta=2^24 polls=3"}, {"cmd":"clear","what":"all"},
 * {"cmd":"list"}, {"cmd":"fault_status"} and the text form of the same
 * {"cmd":"faults","line":"inject drop p=0.5"} all go through
 * sim_fault_set_command, so the socket, mepsim-ctl and scenario files accept
 * exactly the same names and parameters (fixtures/scenarios/README.md). */
static json_t *fault_set_text(sim_port *p, const char *what, const char *line)
{
    sim_fault_set *fs = sim_port_faults(p);
    sim_meter *m = sim_port_meter(p);
    uint64_t now_us = sim_now_us();
    sim_meter_advance(m, now_us / 1000u);
    sim_glitch_effects fx;
    char *out = malloc(8192);
    if (!out)
        return fail("%s: out of memory", what);
    int rc = sim_fault_set_command(fs, line, now_us, sim_meter_sim_now(m, now_us / 1000u), &fx, out, 8192);
    if (rc != 0) {
        json_t *r = fail("%s: %s", what, out);
        free(out);
        return r;
    }
    /* a glitch's model effects (solar export loads) go to the model */
    sim_model *md = sim_meter_model(m);
    for (int i = 0; i < fx.n_loads && i < 3; i++)
        if (fx.load[i].phase >= 1 && fx.load[i].phase <= md->cfg.phases)
            sim_model_set_load(md, fx.load[i].phase - 1, fx.load[i].watts, fx.load[i].pf);
    sim_port_kick(p);
    json_t *r = ok();
    size_t n = strlen(out);
    while (n && out[n - 1] == '\n')
        out[--n] = 0;
    json_object_set_new(r, "reply", json_string(out));
    free(out);
    return r;
}

static json_t *cmd_fs_spec(sim_port *p, json_t *req, const char *cmd)
{
    static const char *const keys[] = {"spec", NULL};
    json_t *e = check_keys(req, cmd, keys);
    if (e)
        return e;
    json_t *sv = json_object_get(req, "spec");
    if (!json_is_string(sv))
        return fail("%s: spec: expected a string such as \"%s\"", cmd,
                    !strcmp(cmd, "glitch") ? "spike delta=2^24 polls=3" : "flip rate=0.001 dir=to-module");
    char line[1100];
    if (snprintf(line, sizeof line, "%s %s", cmd, json_string_value(sv)) >= (int)sizeof line)
        return fail("%s: spec too long", cmd);
    json_t *r = fault_set_text(p, cmd, line);
    /* "3 flip ..." / "p2 busy ..." / "g1 spike ...": the id to clear it with */
    json_t *rv = json_object_get(r, "reply");
    if (rv && json_is_string(rv)) {
        const char *s = json_string_value(rv);
        size_t k = strcspn(s, " ");
        json_object_set_new(r, "id", json_stringn(s, k));
        json_object_set_new(r, "fault", json_string(s[k] ? s + k + 1 : ""));
    }
    return r;
}

static json_t *cmd_clear(sim_port *p, json_t *req)
{
    static const char *const keys[] = {"what", NULL};
    json_t *e = check_keys(req, "clear", keys);
    if (e)
        return e;
    json_t *w = json_object_get(req, "what");
    if (w && !json_is_string(w))
        return fail("clear: what: expected a fault or glitch name, an id (3, p2, g1) or \"all\"");
    char line[128];
    snprintf(line, sizeof line, "clear %s", w ? json_string_value(w) : "all");
    return fault_set_text(p, "clear", line);
}

static json_t *cmd_faults_line(sim_port *p, json_t *req)
{
    static const char *const keys[] = {"line", NULL};
    json_t *e = check_keys(req, "faults", keys);
    if (e)
        return e;
    json_t *l = json_object_get(req, "line");
    if (!json_is_string(l))
        return fail("faults: line: expected a command such as \"inject drop p=0.5\" "
                    "(inject, glitch, clear, list, status)");
    return fault_set_text(p, "faults", json_string_value(l));
}

/* What was injected and what the client did about it (issue 4): per-fault
 * injection counts, transceiver/ENABLE power cycles seen, latch-ups and
 * their clearing, error codes the meter sent, replays (identical resends),
 * reboots. */
static json_t *cmd_fault_status(sim_port *p, json_t *req)
{
    json_t *e = check_keys(req, "fault_status", NULL);
    if (e)
        return e;
    sim_fault_set *fs = sim_port_faults(p);
    const sim_meter_counters *mc = sim_meter_counters_get(sim_port_meter(p));
    uint64_t now = sim_now_us();
    json_t *r = ok();
    json_t *inj = json_object();
    for (int k = 0; k < SIM_FAULT_KIND_COUNT; k++)
        json_object_set_new(inj, sim_fault_kind_name((sim_fault_kind)k),
                            json_integer((json_int_t)fs->line.c.injected[k]));
    for (int k = 0; k < SIM_PF_KIND_COUNT; k++)
        json_object_set_new(inj, sim_pfault_kind_name((sim_pfault_kind)k),
                            json_integer((json_int_t)fs->proto.c.injected[k]));
    json_object_set_new(r, "injected", inj);
    json_t *gl = json_object();
    for (int k = 0; k < SIM_GLITCH_KIND_COUNT; k++)
        json_object_set_new(gl, sim_glitch_kind_name((sim_glitch_kind)k),
                            json_integer((json_int_t)fs->glitch.c.applied[k]));
    json_object_set_new(r, "glitched", gl);
    const sim_fault_counters *c = &fs->line.c;
    json_object_set_new(r, "power_cycles_long", json_integer((json_int_t)c->power_cycles_long));
    json_object_set_new(r, "power_cycles_short", json_integer((json_int_t)c->power_cycles_short));
    json_object_set_new(r, "enable_cycles_long", json_integer((json_int_t)c->enable_cycles_long));
    json_object_set_new(r, "enable_cycles_short", json_integer((json_int_t)c->enable_cycles_short));
    json_object_set_new(r, "latchups", json_integer((json_int_t)c->latchups));
    json_object_set_new(r, "latchups_cleared", json_integer((json_int_t)c->latchups_cleared));
    json_object_set_new(r, "latchup_recover_failed", json_integer((json_int_t)c->latchup_recover_failed));
    json_object_set_new(r, "latched", json_boolean(sim_fault_latched(&fs->line)));
    json_object_set_new(r, "worn_off",
                        json_integer((json_int_t)(c->worn_off + fs->proto.c.worn_off + fs->glitch.c.worn_off)));
    json_object_set_new(r, "active", json_integer((json_int_t)sim_fault_active(&fs->line, now)));
    json_object_set_new(r, "replays", json_integer((json_int_t)mc->replays));
    json_object_set_new(r, "seq_rejects", json_integer((json_int_t)mc->seq_rejects));
    json_object_set_new(r, "auth_fail", json_integer((json_int_t)mc->auth_fail));
    json_object_set_new(r, "reboots", json_integer((json_int_t)mc->reboots));
    json_object_set_new(r, "pfault_acted", json_integer((json_int_t)mc->pfault_acted));
    json_t *codes = json_object();
    for (int k = 1; k < 256; k++) /* error codes sent (0x00 = OK left out) */
        if (mc->responses[k]) {
            char key[8];
            snprintf(key, sizeof key, "0x%02X", k);
            json_object_set_new(codes, key, json_integer((json_int_t)mc->responses[k]));
        }
    json_object_set_new(r, "error_codes", codes);
    char *text = malloc(8192);
    if (text) {
        size_t n = sim_fault_list(&fs->line, now, text, 8192);
        if (n + 1 < 8192)
            n += sim_pfault_list(&fs->proto, now, text + n, 8192 - n);
        if (n + 1 < 8192)
            sim_glitch_list(&fs->glitch, text + n, 8192 - n);
        json_object_set_new(r, "list", json_string(text));
        free(text);
    }
    return r;
}

static size_t port_index(const sim_control *c, const sim_port *p)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->ports[i] == p)
            return i;
    return 0;
}

/* {"cmd":"scenario","action":"load|start|stop|status","path":FILE}: the
 * program owns the timeline runner (sim_control_set_scenario_hook). */
static json_t *cmd_scenario(sim_control *c, sim_port *p, json_t *req)
{
    static const char *const keys[] = {"action", "path", NULL};
    json_t *e = check_keys(req, "scenario", keys);
    if (e)
        return e;
    json_t *a = json_object_get(req, "action"), *path = json_object_get(req, "path");
    const char *action = a && json_is_string(a) ? json_string_value(a) : NULL;
    if (!action || (strcmp(action, "load") && strcmp(action, "start") && strcmp(action, "stop") &&
                    strcmp(action, "status")))
        return fail("scenario: action: expected \"load\", \"start\", \"stop\" or \"status\"");
    if (path && !json_is_string(path))
        return fail("scenario: path: expected a file name");
    if (!strcmp(action, "load") && !path)
        return fail("scenario: load needs \"path\" (a fixtures/scenarios file)");
    if (!c->scenario_fn)
        return fail("scenario: this program runs no scenarios");
    return c->scenario_fn(c->scenario_ctx, port_index(c, p), action, path ? json_string_value(path) : NULL);
}

static json_t *line_event(sim_port *p, json_t *req)
{
    static const char *const keys[] = {"line", "on", NULL};
    json_t *e = check_keys(req, "line event", keys);
    if (e)
        return e;
    json_t *l = json_object_get(req, "line"), *on = json_object_get(req, "on");
    if (!json_is_string(l) ||
        (strcmp(json_string_value(l), "transceiver") != 0 && strcmp(json_string_value(l), "enable") != 0))
        return fail("line: expected \"transceiver\" or \"enable\"");
    if (!on || !json_is_boolean(on))
        return fail("on: expected true or false");
    sim_port_line_event(p, json_string_value(l), json_is_true(on));
    return ok();
}

/* optical / optical_session: the meter's optical port (sim_optical_port.h) */
static json_t *cmd_optical(sim_control *c, sim_port *p, json_t *req, const char *cmd)
{
    sim_optical_port *op = NULL;
    for (size_t i = 0; c->optical && i < c->n; i++)
        if (c->ports[i] == p)
            op = c->optical[i];
    return sim_optical_port_control(op, cmd, req);
}

static json_t *exec_json(sim_control *c, json_t *req)
{
    if (!json_is_object(req))
        return fail("expected a JSON object");
    sim_port *p = NULL;
    json_t *e = select_port(c, req, &p);
    if (e)
        return e;
    json_t *cmdv = json_object_get(req, "cmd");
    if (!cmdv) {
        if (json_object_get(req, "line"))
            return line_event(p, req);
        return fail("missing \"cmd\" (or a line event {\"line\":..,\"on\":..})");
    }
    if (!json_is_string(cmdv))
        return fail("cmd: expected a string");
    const char *cmd = json_string_value(cmdv);
    if (!strcmp(cmd, "status")) {
        if ((e = check_keys(req, cmd, NULL)))
            return e;
        return cmd_status(c);
    }
    if (!strcmp(cmd, "get")) {
        if ((e = check_keys(req, cmd, NULL)))
            return e;
        return cmd_get(p);
    }
    if (!strcmp(cmd, "set_load"))
        return cmd_set_load(p, req);
    if (!strcmp(cmd, "set_clock"))
        return cmd_set_clock(p, req);
    if (!strcmp(cmd, "set_speed"))
        return cmd_set_speed(p, req);
    if (!strcmp(cmd, "set_register"))
        return cmd_set_register(p, req);
    if (!strcmp(cmd, "alert"))
        return cmd_alert(p, req, true);
    if (!strcmp(cmd, "clear_alert"))
        return cmd_alert(p, req, false);
    if (!strcmp(cmd, "counters")) {
        if ((e = check_keys(req, cmd, NULL)))
            return e;
        return cmd_counters(p);
    }
    if (!strcmp(cmd, "read_table"))
        return cmd_read_table(p, req);
    if (!strcmp(cmd, "fault"))
        return cmd_fault(p, req);
    if (!strcmp(cmd, "fault_stop"))
        return cmd_fault_stop(p, req);
    if (!strcmp(cmd, "fault_list"))
        return cmd_fault_list(p, req);
    if (!strcmp(cmd, "inject") || !strcmp(cmd, "glitch"))
        return cmd_fs_spec(p, req, cmd);
    if (!strcmp(cmd, "clear"))
        return cmd_clear(p, req);
    if (!strcmp(cmd, "list")) {
        if ((e = check_keys(req, cmd, NULL)))
            return e;
        return fault_set_text(p, "list", "list");
    }
    if (!strcmp(cmd, "fault_status"))
        return cmd_fault_status(p, req);
    if (!strcmp(cmd, "faults"))
        return cmd_faults_line(p, req);
    if (!strcmp(cmd, "scenario"))
        return cmd_scenario(c, p, req);
    if (!strcmp(cmd, "board_reset"))
        return cmd_board(p, req, SIM_MODEM_OUT_RESET);
    if (!strcmp(cmd, "board_power"))
        return cmd_board(p, req, SIM_MODEM_OUT_POWER);
    if (!strcmp(cmd, "set_seq"))
        return cmd_set_seq(p, req);
    if (!strcmp(cmd, "bump_idt"))
        return cmd_bump_idt(p, req);
    if (!strcmp(cmd, "freeze_clock"))
        return cmd_freeze_clock(p, req);
    if (!strcmp(cmd, "line")) {
        return line_event(p, req);
    }
    if (!strcmp(cmd, "optical") || !strcmp(cmd, "optical_session"))
        return cmd_optical(c, p, req, cmd);
    if (!strcmp(cmd, "quit")) {
        if ((e = check_keys(req, cmd, NULL)))
            return e;
        c->quit = true;
        if (c->loop)
            ev_break(c->loop, EVBREAK_ALL);
        return ok();
    }
    return fail("unknown cmd \"%s\" (status, get, set_load, set_clock, set_speed, set_register, alert, "
                "clear_alert, counters, read_table, set_seq, bump_idt, freeze_clock, fault, fault_stop, fault_list, "
                "inject, glitch, clear, list, fault_status, faults, scenario, quit)", cmd);
}

char *sim_control_exec(sim_control *c, const char *line)
{
    json_error_t je;
    json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, &je);
    json_t *rep;
    if (!req) {
        rep = fail("bad JSON: %s (column %d)", je.text, je.column);
    } else {
        rep = exec_json(c, req);
        json_t *id = json_object_get(req, "id");
        if (id && json_is_object(req))
            json_object_set(rep, "id", id); /* echo a client's request id */
        json_decref(req);
    }
    char *s = json_dumps(rep, JSON_COMPACT);
    json_decref(rep);
    return s;
}

bool sim_control_quit_requested(const sim_control *c) { return c->quit; }

void sim_control_set_status_hook(sim_control *c, sim_control_status_fn fn, void *ctx)
{
    c->status_fn = fn;
    c->status_ctx = ctx;
}

void sim_control_set_scenario_hook(sim_control *c, sim_control_scenario_fn fn, void *ctx)
{
    c->scenario_fn = fn;
    c->scenario_ctx = ctx;
}

void sim_control_set_optical(sim_control *c, sim_optical_port *const *optical) { c->optical = optical; }

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

static void client_flush(ctl_client *cl)
{
    while (cl->out_off < cl->out_len) {
        ssize_t w = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev_io_start(cl->ctl->loop, &cl->wio);
                return;
            }
            cl->out_off = cl->out_len; /* peer gone; the read side will notice */
            break;
        }
        cl->out_off += (size_t)w;
    }
    cl->out_len = cl->out_off = 0;
    ev_io_stop(cl->ctl->loop, &cl->wio);
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

static void on_client_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    client_flush(w->data);
}

static void on_client_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    ctl_client *cl = w->data;
    char buf[4096];
    ssize_t r = recv(cl->fd, buf, sizeof buf, 0);
    if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (r <= 0) {
        client_free(cl);
        return;
    }
    for (ssize_t i = 0; i < r; i++) {
        char ch = buf[i];
        if (ch == '\n') {
            if (cl->overlong) {
                cl->overlong = false;
                json_t *e = fail("request line longer than %d bytes", SIM_CONTROL_MAX_LINE);
                char *s = json_dumps(e, JSON_COMPACT);
                json_decref(e);
                client_reply(cl, s ? s : "{\"ok\":false,\"error\":\"line too long\"}");
                free(s);
            } else {
                cl->in[cl->in_len] = 0;
                size_t start = 0;
                while (start < cl->in_len && (cl->in[start] == ' ' || cl->in[start] == '\r' ||
                                              cl->in[start] == '\t'))
                    start++;
                if (start < cl->in_len) {
                    char *rep = sim_control_exec(cl->ctl, cl->in + start);
                    client_reply(cl, rep ? rep : "{\"ok\":false,\"error\":\"internal error\"}");
                    free(rep);
                }
            }
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
    ev_io_init(&cl->rio, on_client_readable, fd, EV_READ);
    cl->rio.data = cl;
    ev_io_init(&cl->wio, on_client_writable, fd, EV_WRITE);
    cl->wio.data = cl;
    ev_io_start(loop, &cl->rio);
    cl->next = c->clients;
    c->clients = cl;
}

sim_control *sim_control_new(struct ev_loop *loop, const char *path, sim_port *const *ports, size_t n,
                             char *err, size_t errlen)
{
    sim_control *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->ports = ports;
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
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "--control %s: exists and is not a socket; refusing to replace it", path);
            free(c);
            return NULL;
        }
        unlink(path); /* stale socket of an earlier run */
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        snprintf(err, errlen, "--control %s: socket: %s", path, strerror(errno));
        free(c);
        return NULL;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
    mode_t old = umask(0177); /* socket file mode 0600 */
    int rc = bind(c->fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || chmod(c->path, 0600) != 0 || listen(c->fd, 16) != 0) {
        snprintf(err, errlen, "--control %s: %s", path, strerror(errno));
        close(c->fd);
        free(c);
        return NULL;
    }
    ev_io_init(&c->lio, on_accept, c->fd, EV_READ);
    c->lio.data = c;
    ev_io_start(loop, &c->lio);
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
        unlink(c->path);
    }
    free(c);
}
