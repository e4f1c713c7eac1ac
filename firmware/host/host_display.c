/* host_display: mepmod --display (see host_display.h). */
#include "host_display.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void host_display_init(host_display *d, FILE *out, const char *url)
{
    memset(d, 0, sizeof *d);
    d->out = out;
    d->tty = isatty(fileno(out));
    d->last_status = -1;
    snprintf(d->url, sizeof d->url, "%s", url);
}

static int32_t v28(const mepc_readings *r, const char *name)
{
    const host_bt28_member *m = host_dash_bt28_member(name);
    return (m && m->index < r->bt28.n) ? r->bt28.v[m->index] : 0;
}

#define ROWS 11

void host_display_update(host_display *d, const mepc_readings *r, const host_clock *clk)
{
    char iso[32], human[48];
    host_dash_format_time(clk->unix_s, iso, human);
    bool ready = host_dash_ready(r, clk->now_ms, NULL);

    if (!d->tty) {
        if (r->polls_ok == d->last_polls && (int)r->status == d->last_status)
            return;
        d->last_polls = r->polls_ok;
        d->last_status = (int)r->status;
        if (!ready) {
            fprintf(d->out, "%s status=%s (%s)\n", iso, mepc_status_name(r->status), r->status_text);
        } else {
            fprintf(d->out,
                    "%s status=%s sn=%s fwd=%lld Wh rev=%lld Wh P=%d/%d W V=%d/%d/%d mV "
                    "I=%d/%d/%d mA f=%d mHz%s\n",
                    iso, mepc_status_name(r->status), r->utility_sn, (long long)r->fwd_wh,
                    (long long)r->rev_wh, v28(r, "Fwd_W"), v28(r, "Rev_W"), v28(r, "L1_RMS_V"),
                    v28(r, "L2_RMS_V"), v28(r, "L3_RMS_V"), v28(r, "L1_RMS_A"), v28(r, "L2_RMS_A"),
                    v28(r, "L3_RMS_A"), v28(r, "Freq_mHz"), r->energy_suspect ? " SUSPECT" : "");
        }
        fflush(d->out);
        return;
    }

    if (d->drawn)
        fprintf(d->out, "\x1b[%dA", ROWS); /* back to the top of our block */
    d->drawn = true;
#define LINE(...) do { fprintf(d->out, "\x1b[2K" __VA_ARGS__); fputc('\n', d->out); } while (0)
    LINE("mepmod  %s  dashboard %s", human, d->url);
    LINE("status  %-10s %s", mepc_status_name(r->status), r->status_text);
    LINE("meter   %s %s sw %s  serial %s", r->manufacturer, r->model, r->sw_version,
         r->utility_sn[0] ? r->utility_sn : "-");
    if (ready) {
        LINE("energy  fwd %12.3f kWh   rev %12.3f kWh%s", r->fwd_wh / 1000.0, r->rev_wh / 1000.0,
             r->energy_suspect ? "   (raw differs: held)" : "");
        LINE("power   fwd %7d W   rev %7d W   freq %7.3f Hz", v28(r, "Fwd_W"), v28(r, "Rev_W"),
             v28(r, "Freq_mHz") / 1000.0);
        static const char *const ph[3] = {"L1", "L2", "L3"};
        for (int i = 0; i < 3; i++) {
            char n[4][16];
            snprintf(n[0], 16, "%s_RMS_V", ph[i]);
            snprintf(n[1], 16, "%s_RMS_A", ph[i]);
            snprintf(n[2], 16, "%s_PF_Fac", ph[i]);
            snprintf(n[3], 16, "%s_Fwd_W", ph[i]);
            LINE("%s      %8.3f V  %7.3f A  PF %6.3f  %7d W", ph[i], v28(r, n[0]) / 1000.0,
                 v28(r, n[1]) / 1000.0, v28(r, n[2]) / 1000.0, v28(r, n[3]));
        }
    } else {
        for (int i = 0; i < 5; i++)
            LINE("%s", i == 0 ? "        (no readings yet)" : "");
    }
    LINE("counts  polls %u  timeouts %u  resends %u  seq-resyncs %u  auth-fail %u",
         r->polls_ok, r->timeouts, r->resends, r->seq_resyncs, r->auth_failures);
    LINE("        digest-rejects %u  recovery %u  alerts %u  stray %u", r->digest_rejects,
         r->recovery_cycles, r->alerts_seen, r->stray_bytes);
    LINE("%s", "");
#undef LINE
    fflush(d->out);
}
