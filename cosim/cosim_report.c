/* cosim_report: counters.json of a co-simulation; see cosim_report.h. */
#include "cosim_report.h"
#include "cosim_out.h"
#include "host_dash.h"

#include <stdio.h>
#include <stdlib.h>

static json_t *meter_json(const sim_meter_counters *k)
{
    json_t *resp = json_object();
    for (int i = 0; i < 256; i++)
        if (k->responses[i]) {
            char code[8];
            snprintf(code, sizeof code, "0x%02X", i);
            json_object_set_new(resp, code, json_integer((json_int_t)k->responses[i]));
        }
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "frames_rx",
                     (json_int_t)k->frames_rx, "frames_malformed", (json_int_t)k->frames_malformed, "auth_fail",
                     (json_int_t)k->auth_fail, "seq_rejects", (json_int_t)k->seq_rejects, "replays",
                     (json_int_t)k->replays, "alerts_sent", (json_int_t)k->alerts_sent, "procedures",
                     (json_int_t)k->procedures, "registrations", (json_int_t)k->registrations, "line_events",
                     (json_int_t)k->line_events, "transceiver_off_events", (json_int_t)k->transceiver_off_events,
                     "enable_off_events", (json_int_t)k->enable_off_events, "reboots", (json_int_t)k->reboots,
                     "pfault_acted", (json_int_t)k->pfault_acted, "responses", resp);
}

static json_t *line_json(const sim_line_counters *k)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "bytes_rx", (json_int_t)k->bytes_rx,
                     "bytes_tx", (json_int_t)k->bytes_tx, "frames_rx", (json_int_t)k->frames_rx, "gap_aborts",
                     (json_int_t)k->gap_aborts, "oversize", (json_int_t)k->oversize, "zero_rx",
                     (json_int_t)k->zero_rx, "throttled", (json_int_t)k->throttled, "queue_overflow",
                     (json_int_t)k->queue_overflow, "responses", (json_int_t)k->responses, "silent",
                     (json_int_t)k->silent, "muted", (json_int_t)k->muted, "deaf_bytes", (json_int_t)k->deaf_bytes,
                     "tx_lost", (json_int_t)k->tx_lost, "alerts", (json_int_t)k->alerts);
}

/* Like the control socket's fault `status`: what each family injected. */
static json_t *faults_json(const sim_fault_set *fs)
{
    json_t *line = json_object(), *proto = json_object(), *glitch = json_object();
    for (int i = 0; i < SIM_FAULT_KIND_COUNT; i++)
        if (fs->line.c.injected[i])
            json_object_set_new(line, sim_fault_kind_name((sim_fault_kind)i),
                                json_integer((json_int_t)fs->line.c.injected[i]));
    for (int i = 0; i < SIM_PF_KIND_COUNT; i++)
        if (fs->proto.c.injected[i])
            json_object_set_new(proto, sim_pfault_kind_name((sim_pfault_kind)i),
                                json_integer((json_int_t)fs->proto.c.injected[i]));
    for (int i = 0; i < SIM_GLITCH_KIND_COUNT; i++)
        if (fs->glitch.c.applied[i])
            json_object_set_new(glitch, sim_glitch_kind_name((sim_glitch_kind)i),
                                json_integer((json_int_t)fs->glitch.c.applied[i]));
    const sim_fault_counters *k = &fs->line.c;
    return json_pack("{s:o,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "line", line, "proto", proto, "glitch",
                     glitch, "worn_off", (json_int_t)sim_fault_set_worn_off(fs), "power_cycles_long",
                     (json_int_t)k->power_cycles_long, "power_cycles_short", (json_int_t)k->power_cycles_short,
                     "enable_cycles_long", (json_int_t)k->enable_cycles_long, "enable_cycles_short",
                     (json_int_t)k->enable_cycles_short, "latchups", (json_int_t)k->latchups, "latchups_cleared",
                     (json_int_t)k->latchups_cleared, "latchup_recover_failed",
                     (json_int_t)k->latchup_recover_failed, "held_overflow", (json_int_t)k->held_overflow);
}

/* The /status document mepmod serves (firmware/host/host_dash.c). */
static json_t *firmware_json(const mepc_readings *r, uint32_t fw_ms)
{
    char *st = host_dash_status_json(r, fw_ms, NULL);
    json_t *o = st ? json_loads(st, 0, NULL) : NULL;
    free(st);
    return o ? o : json_object();
}

json_t *cosim_report_json(const cosim_report *r)
{
    const cosim_counters *k = r->c;
    json_t *board = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "transceiver_on", (json_int_t)k->xcvr_on,
                              "transceiver_off", (json_int_t)k->xcvr_off, "enable_on", (json_int_t)k->enable_on,
                              "enable_off", (json_int_t)k->enable_off, "rx_unpowered", (json_int_t)k->rx_unpowered,
                              "rx_flushes", (json_int_t)k->rx_flushes, "tx_overflow", (json_int_t)k->tx_overflow);
    json_t *run = json_pack(
        "{s:f,s:f,s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "simulated_s", r->simulated_s,
        "timeline_started_s", r->timeline_started_s, "events", (json_int_t)r->events, "wire_sha256",
        r->wire_sha256, "wire_bytes_to_meter", (json_int_t)r->wire_to_meter, "wire_bytes_to_module",
        (json_int_t)r->wire_to_module, "published", (json_int_t)r->published, "suspect", (json_int_t)r->suspect,
        "published_fell", (json_int_t)k->published_fell, "published_above_truth",
        (json_int_t)k->published_above_truth, "scenario_steps", (json_int_t)k->steps, "scenario_step_errors",
        (json_int_t)k->step_errors, "optical_steps_skipped", (json_int_t)k->optical_skipped,
        "baud_changes_ignored", (json_int_t)k->baud_changes_ignored, "store_saves", (json_int_t)k->store_saves,
        "seed", (json_int_t)r->seed);
    json_object_set_new(run, "peak_rss_kib", json_integer(cosim_out_peak_rss_kib()));
    json_t *model = json_pack("{s:I,s:I,s:I,s:I}", "fwd_wh", (json_int_t)r->model_fwd_wh, "rev_wh",
                              (json_int_t)r->model_rev_wh, "published_fwd_wh", (json_int_t)r->published_fwd_wh,
                              "published_rev_wh", (json_int_t)r->published_rev_wh);
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "run", run, "meter", meter_json(r->meter), "line",
                     line_json(r->line), "faults", faults_json(r->faults), "board", board, "firmware",
                     firmware_json(r->fw, r->fw_ms), "model", model);
}
