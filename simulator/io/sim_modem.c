/* sim_modem: modem-line sensing (transceiver supply, meter ENABLE) and
 * reset/power pulses for the HIL bench; see sim_modem.h. Pure except for
 * the libserialport adapter at the bottom, which only forwards calls. */
#include "sim_modem.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <libserialport.h>

static const char *const OUT_NAMES[SIM_MODEM_OUTS] = {"reset", "power"};

const char *sim_modem_line_name(sim_modem_line line)
{
    return sim_meter_line_name(line);
}

const char *sim_modem_strerror(int result)
{
    switch (result) {
    case SIM_MODEM_OK: return "ok";
    case SIM_MODEM_ERR_ARG: return "invalid argument";
    case SIM_MODEM_ERR_PORT: return "serial port call failed";
    case SIM_MODEM_ERR_BUSY: return "a pulse is already running on that output";
    case SIM_MODEM_ERR_UNWIRED: return "line or output not wired in the configuration";
    default: return "unknown sim_modem result";
    }
}

static bool one_input_bit(unsigned s)
{
    return s == SIM_MODEM_CTS || s == SIM_MODEM_DSR || s == SIM_MODEM_DCD || s == SIM_MODEM_RI;
}

/* Drive an output pin to the level that means `asserted` under its polarity. */
static int drive(sim_modem *m, sim_modem_out out, bool asserted)
{
    const sim_modem_output *o = &m->cfg.out[out];
    bool pin_on = asserted != o->inverted;
    int rc;
    if (o->pin == SIM_MODEM_PIN_DTR)
        rc = m->port.set_dtr(m->port.ctx, pin_on);
    else if (o->pin == SIM_MODEM_PIN_RTS)
        rc = m->port.set_rts(m->port.ctx, pin_on);
    else
        return SIM_MODEM_ERR_UNWIRED;
    if (rc != 0) {
        m->c.port_errors++;
        return SIM_MODEM_ERR_PORT;
    }
    m->asserted[out] = asserted;
    return SIM_MODEM_OK;
}

int sim_modem_init(sim_modem *m, const sim_modem_cfg *cfg, const sim_modem_port *port,
                   sim_modem_event_fn on_event, void *event_ctx, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!m || !cfg || !port) {
        if (err)
            snprintf(err, errlen, "sim_modem_init: NULL argument");
        return SIM_MODEM_ERR_ARG;
    }
    for (int i = 0; i < SIM_MODEM_LINES; i++) {
        unsigned s = cfg->in[i].signal;
        if (s != 0 && !one_input_bit(s)) {
            if (err)
                snprintf(err, errlen, "%s: signal mask 0x%x is not exactly one of CTS/DSR/DCD/RI", sim_meter_line_name((sim_meter_line)i),
                         s);
            return SIM_MODEM_ERR_ARG;
        }
        if (s != 0 && !port->get_signals) {
            if (err)
                snprintf(err, errlen, "%s is sensed but the port has no get_signals", sim_meter_line_name((sim_meter_line)i));
            return SIM_MODEM_ERR_ARG;
        }
    }
    if (cfg->in[0].signal != 0 && cfg->in[0].signal == cfg->in[1].signal) {
        if (err)
            snprintf(err, errlen, "transceiver and enable are sensed on the same input");
        return SIM_MODEM_ERR_ARG;
    }
    for (int i = 0; i < SIM_MODEM_OUTS; i++) {
        sim_modem_pin p = cfg->out[i].pin;
        if (p != SIM_MODEM_PIN_NONE && p != SIM_MODEM_PIN_DTR && p != SIM_MODEM_PIN_RTS) {
            if (err)
                snprintf(err, errlen, "%s: pin %d is neither DTR nor RTS", OUT_NAMES[i], (int)p);
            return SIM_MODEM_ERR_ARG;
        }
        if ((p == SIM_MODEM_PIN_DTR && !port->set_dtr) || (p == SIM_MODEM_PIN_RTS && !port->set_rts)) {
            if (err)
                snprintf(err, errlen, "%s is wired but the port cannot drive that pin", OUT_NAMES[i]);
            return SIM_MODEM_ERR_ARG;
        }
    }
    if (cfg->out[0].pin != SIM_MODEM_PIN_NONE && cfg->out[0].pin == cfg->out[1].pin) {
        if (err)
            snprintf(err, errlen, "reset and power are driven from the same pin");
        return SIM_MODEM_ERR_ARG;
    }
    if (cfg->debounce > SIM_MODEM_MAX_DEBOUNCE) {
        if (err)
            snprintf(err, errlen, "debounce %u samples is above the limit %u", cfg->debounce, SIM_MODEM_MAX_DEBOUNCE);
        return SIM_MODEM_ERR_ARG;
    }

    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (m->cfg.poll_us == 0)
        m->cfg.poll_us = SIM_MODEM_DEFAULT_POLL_US;
    if (m->cfg.debounce == 0)
        m->cfg.debounce = SIM_MODEM_DEFAULT_DEBOUNCE;
    m->port = *port;
    m->on_event = on_event;
    m->event_ctx = event_ctx;
    for (int i = 0; i < SIM_MODEM_OUTS; i++) {
        if (m->cfg.out[i].pin == SIM_MODEM_PIN_NONE)
            continue;
        int rc = drive(m, (sim_modem_out)i, false);
        if (rc != SIM_MODEM_OK) {
            if (err)
                snprintf(err, errlen, "%s: could not drive the idle level: %s", OUT_NAMES[i], sim_modem_strerror(rc));
            return rc;
        }
    }
    return SIM_MODEM_OK;
}

/* One sample of one line through the debounce (N equal samples in a row). */
static void debounce(sim_modem *m, int i, bool on, uint64_t now_us)
{
    if (m->known[i] && on == m->level[i]) {
        if (m->cand_n[i] > 0)
            m->c.bounces++; /* the new level did not hold for N samples */
        m->cand_n[i] = 0;
        return;
    }
    if (m->cand_n[i] > 0 && m->cand[i] == on) {
        m->cand_n[i]++;
    } else {
        if (m->cand_n[i] > 0)
            m->c.bounces++;
        m->cand[i] = on;
        m->cand_n[i] = 1;
        m->cand_since[i] = now_us;
    }
    if (m->cand_n[i] >= m->cfg.debounce) {
        m->level[i] = on;
        m->known[i] = true;
        m->cand_n[i] = 0;
        m->c.events[i][on ? 1 : 0]++;
        if (m->on_event)
            m->on_event(m->event_ctx, sim_meter_line_name((sim_meter_line)i), on, m->cand_since[i]);
    }
}

int sim_modem_poll(sim_modem *m, uint64_t now_us)
{
    if (!m)
        return SIM_MODEM_ERR_ARG;
    int result = SIM_MODEM_OK;
    for (int i = 0; i < SIM_MODEM_OUTS; i++) {
        if (m->pulsing[i] && now_us >= m->pulse_end_us[i]) {
            int rc = drive(m, (sim_modem_out)i, false);
            if (rc != SIM_MODEM_OK) {
                result = rc; /* keep pulsing: the next poll retries the release */
                continue;
            }
            m->pulsing[i] = false;
            m->c.pulses++;
        }
    }
    bool sensing = m->cfg.in[0].signal != 0 || m->cfg.in[1].signal != 0;
    if (!sensing || (m->sampled_any && now_us < m->next_sample_us))
        return result;
    m->sampled_any = true;
    m->next_sample_us = now_us + m->cfg.poll_us;
    unsigned mask = 0;
    if (m->port.get_signals(m->port.ctx, &mask) != 0) {
        m->c.port_errors++;
        return SIM_MODEM_ERR_PORT; /* levels unchanged: a failed read is no evidence */
    }
    m->c.samples++;
    for (int i = 0; i < SIM_MODEM_LINES; i++) {
        const sim_modem_input *in = &m->cfg.in[i];
        if (in->signal == 0)
            continue;
        bool on = ((mask & in->signal) != 0) != in->inverted;
        debounce(m, i, on, now_us);
    }
    return result;
}

uint64_t sim_modem_next_wake(const sim_modem *m)
{
    uint64_t t = UINT64_MAX;
    if (!m)
        return t;
    if (m->cfg.in[0].signal != 0 || m->cfg.in[1].signal != 0)
        t = m->sampled_any ? m->next_sample_us : 0;
    for (int i = 0; i < SIM_MODEM_OUTS; i++)
        if (m->pulsing[i] && m->pulse_end_us[i] < t)
            t = m->pulse_end_us[i];
    return t;
}

int sim_modem_level(const sim_modem *m, sim_modem_line line, bool *on)
{
    if (!m || !on || (unsigned)line >= SIM_MODEM_LINES)
        return SIM_MODEM_ERR_ARG;
    if (m->cfg.in[line].signal == 0)
        return SIM_MODEM_ERR_UNWIRED;
    if (!m->known[line])
        return SIM_MODEM_ERR_ARG;
    *on = m->level[line];
    return SIM_MODEM_OK;
}

int sim_modem_set(sim_modem *m, sim_modem_out out, bool asserted)
{
    if (!m || (unsigned)out >= SIM_MODEM_OUTS)
        return SIM_MODEM_ERR_ARG;
    if (m->cfg.out[out].pin == SIM_MODEM_PIN_NONE)
        return SIM_MODEM_ERR_UNWIRED;
    int rc = drive(m, out, asserted);
    if (rc == SIM_MODEM_OK)
        m->pulsing[out] = false;
    return rc;
}

int sim_modem_pulse(sim_modem *m, sim_modem_out out, uint32_t duration_us, uint64_t now_us)
{
    if (!m || (unsigned)out >= SIM_MODEM_OUTS || duration_us == 0)
        return SIM_MODEM_ERR_ARG;
    if (m->cfg.out[out].pin == SIM_MODEM_PIN_NONE)
        return SIM_MODEM_ERR_UNWIRED;
    if (m->pulsing[out])
        return SIM_MODEM_ERR_BUSY;
    int rc = drive(m, out, true);
    if (rc != SIM_MODEM_OK)
        return rc;
    m->pulsing[out] = true;
    m->pulse_end_us[out] = now_us + duration_us;
    return SIM_MODEM_OK;
}

bool sim_modem_pulse_active(const sim_modem *m, sim_modem_out out)
{
    return m && (unsigned)out < SIM_MODEM_OUTS && m->pulsing[out];
}

/* Split "NAME[:inverted]"; name copied upper-case into buf. */
static int split_polarity(const char *text, char *buf, size_t cap, bool *inverted)
{
    if (!text)
        return SIM_MODEM_ERR_ARG;
    const char *colon = strchr(text, ':');
    size_t n = colon ? (size_t)(colon - text) : strlen(text);
    if (n == 0 || n >= cap)
        return SIM_MODEM_ERR_ARG;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)toupper((unsigned char)text[i]);
    buf[n] = '\0';
    *inverted = false;
    if (colon) {
        if (strcmp(colon + 1, "inverted") != 0)
            return SIM_MODEM_ERR_ARG;
        *inverted = true;
    }
    return SIM_MODEM_OK;
}

/* Line names as the options write them ("CD" is DCD's other name). */
typedef struct {
    const char *name;
    unsigned value;
} modem_name;

static const modem_name INPUT_NAMES[] = {
    {"CTS", SIM_MODEM_CTS}, {"DSR", SIM_MODEM_DSR}, {"DCD", SIM_MODEM_DCD}, {"CD", SIM_MODEM_DCD}, {"RI", SIM_MODEM_RI},
};
static const modem_name OUTPUT_NAMES[] = {{"DTR", SIM_MODEM_PIN_DTR}, {"RTS", SIM_MODEM_PIN_RTS}};

/* "NAME" or "NAME:inverted" looked up in names[0..n): SIM_MODEM_OK with
 * the value and polarity, else SIM_MODEM_ERR_ARG. */
static int parse_line(const char *text, const modem_name *names, size_t n, unsigned *value, bool *inverted)
{
    char name[8];
    if (split_polarity(text, name, sizeof name, inverted) != SIM_MODEM_OK)
        return SIM_MODEM_ERR_ARG;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, names[i].name)) {
            *value = names[i].value;
            return SIM_MODEM_OK;
        }
    return SIM_MODEM_ERR_ARG;
}

int sim_modem_parse_input(const char *text, sim_modem_input *in)
{
    unsigned s;
    bool inv;
    if (!in || parse_line(text, INPUT_NAMES, sizeof INPUT_NAMES / sizeof INPUT_NAMES[0], &s, &inv) != SIM_MODEM_OK)
        return SIM_MODEM_ERR_ARG;
    in->signal = s;
    in->inverted = inv;
    return SIM_MODEM_OK;
}

int sim_modem_parse_output(const char *text, sim_modem_output *out)
{
    unsigned pin;
    bool inv;
    if (!out || parse_line(text, OUTPUT_NAMES, sizeof OUTPUT_NAMES / sizeof OUTPUT_NAMES[0], &pin, &inv) !=
                    SIM_MODEM_OK)
        return SIM_MODEM_ERR_ARG;
    out->pin = (sim_modem_pin)pin;
    out->inverted = inv;
    return SIM_MODEM_OK;
}

/* ---- libserialport adapter ------------------------------------------- */
static int sp_get(void *ctx, unsigned *mask)
{
    enum sp_signal s = 0;
    if (sp_get_signals((struct sp_port *)ctx, &s) != SP_OK)
        return -1;
    *mask = ((s & SP_SIG_CTS) ? SIM_MODEM_CTS : 0u) | ((s & SP_SIG_DSR) ? SIM_MODEM_DSR : 0u) |
            ((s & SP_SIG_DCD) ? SIM_MODEM_DCD : 0u) | ((s & SP_SIG_RI) ? SIM_MODEM_RI : 0u);
    return 0;
}

static int sp_dtr(void *ctx, bool on)
{
    return sp_set_dtr((struct sp_port *)ctx, on ? SP_DTR_ON : SP_DTR_OFF) == SP_OK ? 0 : -1;
}

static int sp_rts(void *ctx, bool on)
{
    return sp_set_rts((struct sp_port *)ctx, on ? SP_RTS_ON : SP_RTS_OFF) == SP_OK ? 0 : -1;
}

sim_modem_port sim_modem_port_sp(void *sp_port)
{
    sim_modem_port p = {sp_get, sp_dtr, sp_rts, sp_port};
    return p;
}
