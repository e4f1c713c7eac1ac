/* sim_report: control documents of one meter; see sim_report.h. */
#include "sim_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mep_frame.h"
#include "sim_glitch.h"
#include "sim_layout.h"
#include "sim_model.h"
#include "sim_pfault.h"
#include "sim_tables.h"

/* Counters as {"name": value, ...}: names[i] -> values[i]. */
static void set_counts(json_t *obj, const char *const *names, const uint64_t *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_object_set_new(obj, names[i], json_integer((json_int_t)values[i]));
}

/* Response codes sent, {"0x0C": 3, ...}, from code `from` on (0x00 = OK). */
static json_t *code_counts(const sim_meter_counters *mc, int from)
{
    json_t *codes = json_object();
    for (int k = from; k < 256; k++)
        if (mc->responses[k]) {
            char key[8];
            snprintf(key, sizeof key, "0x%02X", k);
            json_object_set_new(codes, key, json_integer((json_int_t)mc->responses[k]));
        }
    return codes;
}

json_t *sim_report_failv(const char *fmt, va_list ap)
{
    char msg[1200];
    vsnprintf(msg, sizeof msg, fmt, ap);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

void sim_report_iso_utc(int64_t utc_ms, char *buf, size_t len)
{
    int64_t sec = utc_ms >= 0 ? utc_ms / 1000 : (utc_ms - 999) / 1000;
    int ms = (int)(utc_ms - sec * 1000);
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/* What a read serves now: BT23 totals and BT28 values through the BT21
 * layout (docs/mep.md 12.6, 12.8). One read of each block: a read renders
 * the table. */
static void add_tables(sim_tables *t, json_t *r)
{
    uint8_t bt21[10], b[8];
    if (sim_tables_read(t, MEP_BT(21), 0, 10, bt21) != 10)
        return;
    sim_layout lay;
    sim_layout_from_bt21(bt21, &lay);
    if (sim_tables_read(t, MEP_BT(23), lay.bt23_summation0, 8, b) == 8)
        json_object_set_new(r, "bt23", json_pack("{s:i, s:i}", "fwd_wh", (int)(int32_t)mep_get_le32(b), "rev_wh",
                                                 (int)(int32_t)mep_get_le32(b + 4)));
    json_t *vals = json_array();
    uint32_t n = lay.n_present_values;
    uint8_t *v = n ? malloc(4u * n) : NULL;
    int got = v ? sim_tables_read(t, MEP_BT(28), lay.bt28_value0, 4u * n, v) : 0;
    for (int k = 0; got > 0 && k < got / 4; k++)
        json_array_append_new(vals, json_integer((int32_t)mep_get_le32(v + 4 * k)));
    free(v);
    json_object_set_new(r, "bt28", vals);
}

void sim_report_truth(json_t *r, sim_meter *m, uint64_t now_ms)
{
    sim_meter_advance(m, now_ms);
    const sim_model *md = sim_meter_model(m);
    int64_t sim_ms = sim_meter_sim_now(m, now_ms);
    char iso[64];
    sim_report_iso_utc(sim_ms, iso, sizeof iso);
    json_object_set_new(r, "sim_time", json_string(iso));
    json_object_set_new(r, "sim_time_ms", json_integer(sim_ms));
    json_t *ph = json_array();
    for (int i = 0; i < md->cfg.phases && i < SIM_MAX_PHASES; i++)
        json_array_append_new(ph, json_pack("{s:i, s:f, s:f, s:f, s:f, s:f}", "phase", i + 1, "v", md->ph[i].v,
                                            "i", md->ph[i].i, "p", md->ph[i].p, "q", md->ph[i].q, "pf",
                                            md->ph[i].pf));
    json_object_set_new(r, "phases", ph);
    json_object_set_new(r, "frequency", json_real(md->freq_hz));
    json_object_set_new(r, "total_power_w", json_real(sim_model_total_power_w(md)));
    json_object_set_new(r, "registers",
                        json_pack("{s:I, s:I, s:I, s:I}", "fwd_wh", (json_int_t)sim_model_register(md, SIM_REG_FWD_WH),
                                  "rev_wh", (json_int_t)sim_model_register(md, SIM_REG_REV_WH), "imp_varh",
                                  (json_int_t)sim_model_register(md, SIM_REG_IMP_VARH), "exp_varh",
                                  (json_int_t)sim_model_register(md, SIM_REG_EXP_VARH)));
    add_tables(sim_meter_tables(m), r);
}

void sim_report_meter_counters(json_t *obj, const sim_meter_counters *mc)
{
    static const char *const names[] = {
        "frames_rx",     "frames_malformed", "auth_fail",    "seq_rejects",  "replays",
        "encrypted_rx",  "mak_requests",     "mbk_requests", "alerts_sent",  "procedures",
        "registrations", "health_down",      "baud_changes", "line_events",  "transceiver_off_events",
        "enable_off_events"};
    const uint64_t values[] = {
        mc->frames_rx,     mc->frames_malformed, mc->auth_fail,    mc->seq_rejects, mc->replays,
        mc->encrypted_rx,  mc->mak_requests,     mc->mbk_requests, mc->alerts_sent, mc->procedures,
        mc->registrations, mc->health_down,      mc->baud_changes, mc->line_events, mc->transceiver_off_events,
        mc->enable_off_events};
    set_counts(obj, names, values, sizeof values / sizeof values[0]);
    json_int_t total = 0;
    for (int i = 0; i < 256; i++)
        total += (json_int_t)mc->responses[i];
    json_object_set_new(obj, "responses_total", json_integer(total));
    json_object_set_new(obj, "responses", code_counts(mc, 0));
}

json_t *sim_report_line_counters(const sim_line_counters *lc)
{
    static const char *const names[] = {"bytes_rx", "bytes_tx",  "frames_rx",  "gap_aborts", "oversize",
                                        "zero_rx",  "throttled", "queue_overflow", "responses", "silent",
                                        "muted",    "deaf_bytes", "tx_lost",    "alerts",     "baud_changes"};
    const uint64_t values[] = {lc->bytes_rx, lc->bytes_tx,   lc->frames_rx,      lc->gap_aborts, lc->oversize,
                               lc->zero_rx,  lc->throttled,  lc->queue_overflow, lc->responses,  lc->silent,
                               lc->muted,    lc->deaf_bytes, lc->tx_lost,        lc->alerts,     lc->baud_changes};
    json_t *line = json_object();
    set_counts(line, names, values, sizeof values / sizeof values[0]);
    return line;
}

void sim_report_fault_status(json_t *r, sim_fault_set *fs, const sim_meter_counters *mc, uint64_t now_us)
{
    const sim_fault_counters *fc = &fs->line.c;
    json_t *inj = json_object(), *gl = json_object();
    for (int k = 0; k < SIM_FAULT_KIND_COUNT; k++)
        json_object_set_new(inj, sim_fault_kind_name((sim_fault_kind)k), json_integer((json_int_t)fc->injected[k]));
    for (int k = 0; k < SIM_PF_KIND_COUNT; k++)
        json_object_set_new(inj, sim_pfault_kind_name((sim_pfault_kind)k),
                            json_integer((json_int_t)fs->proto.c.injected[k]));
    for (int k = 0; k < SIM_GLITCH_KIND_COUNT; k++)
        json_object_set_new(gl, sim_glitch_kind_name((sim_glitch_kind)k),
                            json_integer((json_int_t)fs->glitch.c.applied[k]));
    json_object_set_new(r, "injected", inj);
    json_object_set_new(r, "glitched", gl);
    static const char *const names[] = {"power_cycles_long", "power_cycles_short", "enable_cycles_long",
                                        "enable_cycles_short", "latchups", "latchups_cleared",
                                        "latchup_recover_failed", "noise_bytes", "worn_off", "active", "replays",
                                        "seq_rejects", "auth_fail", "reboots", "pfault_acted"};
    const uint64_t values[] = {fc->power_cycles_long, fc->power_cycles_short, fc->enable_cycles_long,
                               fc->enable_cycles_short, fc->latchups, fc->latchups_cleared,
                               fc->latchup_recover_failed, fc->noise_bytes, sim_fault_set_worn_off(fs),
                               sim_fault_active(&fs->line, now_us), mc->replays, mc->seq_rejects, mc->auth_fail,
                               mc->reboots, mc->pfault_acted};
    set_counts(r, names, values, sizeof values / sizeof values[0]);
    json_object_set_new(r, "latched", json_boolean(sim_fault_latched(&fs->line)));
    json_object_set_new(r, "error_codes", code_counts(mc, 1));
    char *text = malloc(8192);
    if (text) {
        sim_fault_set_list(fs, now_us, text, 8192);
        json_object_set_new(r, "list", json_string(text));
        free(text);
    }
}
