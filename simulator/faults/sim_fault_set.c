/* sim_fault_set: the three fault modules of one meter (line faults,
 * protocol faults, glitches) behind one set of calls: scenario steps,
 * control-socket commands, and the hooks the line and the meter call. */
#include "sim_fault_set.h"
#include "sim_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sim_fault_set_init(sim_fault_set *fs, uint64_t seed)
{
    sim_fault_init(&fs->line, seed);
    sim_pfault_init(&fs->proto, seed);
    sim_glitch_init(&fs->glitch);
}

static int stop_everywhere(sim_fault_set *fs, const char *what)
{
    return sim_fault_stop(&fs->line, what) + sim_pfault_stop(&fs->proto, what) + sim_glitch_stop(&fs->glitch, what);
}

int sim_fault_set_apply(sim_fault_set *fs, const sim_step *st, uint64_t now_us, int64_t sim_now_ms,
                        sim_glitch_effects *fx, char *err, size_t errlen)
{
    if (fx)
        memset(fx, 0, sizeof *fx);
    switch (st->kind) {
    case SIM_STEP_FAULT:
        return sim_fault_start(&fs->line, &st->u.fault, now_us, err, errlen) < 0 ? -1 : 1;
    case SIM_STEP_PFAULT:
        return sim_pfault_start(&fs->proto, &st->u.pfault, now_us, err, errlen) < 0 ? -1 : 1;
    case SIM_STEP_GLITCH:
        return sim_glitch_start(&fs->glitch, &st->u.glitch, sim_now_ms, fx, err, errlen) < 0 ? -1 : 1;
    case SIM_STEP_STOP:
        if (strcmp(st->u.stop, "all") == 0) {
            sim_fault_clear(&fs->line);
            sim_pfault_clear(&fs->proto);
            sim_glitch_clear(&fs->glitch);
        } else {
            stop_everywhere(fs, st->u.stop);
        }
        return 1;
    default:
        return 0;
    }
}

int sim_fault_set_command(sim_fault_set *fs, const char *line, uint64_t now_us, int64_t sim_now_ms,
                          sim_glitch_effects *fx, char *out, size_t cap)
{
    if (!cap)
        return -1;
    out[0] = '\0';
    if (fx)
        memset(fx, 0, sizeof *fx);
    while (line && (*line == ' ' || *line == '\t'))
        line++;
    if (!line || !*line) {
        snprintf(out, cap, "empty command (inject, glitch, clear, list, status)");
        return -1;
    }
    const char *sp = strpbrk(line, " \t");
    size_t vlen = sp ? (size_t)(sp - line) : strlen(line);
    const char *rest = sp ? sp : "";
    while (*rest == ' ' || *rest == '\t')
        rest++;
    char err[256];
    size_t n = 0;
    if (vlen == 6 && strncmp(line, "inject", 6) == 0) {
        sim_fault_spec f;
        sim_pfault_spec p;
        char name[64];
        size_t nl = strcspn(rest, " \t");
        snprintf(name, sizeof name, "%.*s", (int)(nl < sizeof name ? nl : sizeof name - 1), rest);
        int id;
        if (sim_pfault_kind_from_name(name) >= 0) {
            if (sim_pfault_spec_parse(&p, rest, err, sizeof err) < 0 ||
                (id = sim_pfault_start(&fs->proto, &p, now_us, err, sizeof err)) < 0) {
                snprintf(out, cap, "%s", err);
                return -1;
            }
            sim_pfault_spec_format(&p, err, sizeof err);
            snprintf(out, cap, "p%d %s", id, err);
            return 0;
        }
        if (sim_fault_spec_parse(&f, rest, err, sizeof err) < 0 ||
            (id = sim_fault_start(&fs->line, &f, now_us, err, sizeof err)) < 0) {
            snprintf(out, cap, "%s", err);
            return -1;
        }
        sim_fault_spec_format(&f, err, sizeof err);
        snprintf(out, cap, "%d %s", id, err);
        return 0;
    }
    if (vlen == 6 && strncmp(line, "glitch", 6) == 0) {
        sim_glitch_spec g;
        int id;
        if (sim_glitch_spec_parse(&g, rest, err, sizeof err) < 0 ||
            (id = sim_glitch_start(&fs->glitch, &g, sim_now_ms, fx, err, sizeof err)) < 0) {
            snprintf(out, cap, "%s", err);
            return -1;
        }
        sim_glitch_spec_format(&g, err, sizeof err);
        snprintf(out, cap, "g%d %s", id, err);
        return 0;
    }
    if (vlen == 5 && strncmp(line, "clear", 5) == 0) {
        const char *what = *rest ? rest : "all";
        if (strcmp(what, "all") == 0) {
            sim_fault_clear(&fs->line);
            sim_pfault_clear(&fs->proto);
            sim_glitch_clear(&fs->glitch);
            snprintf(out, cap, "cleared all");
            return 0;
        }
        /* "p3" / "g2" name a protocol fault / glitch by id */
        int k;
        if (what[0] == 'p' && what[1] >= '0' && what[1] <= '9')
            k = sim_pfault_stop(&fs->proto, what + 1);
        else if (what[0] == 'g' && what[1] >= '0' && what[1] <= '9')
            k = sim_glitch_stop(&fs->glitch, what + 1);
        else if (what[0] >= '0' && what[0] <= '9')
            k = sim_fault_stop(&fs->line, what);
        else if (!sim_step_stop_known(what)) {
            snprintf(out, cap, "unknown fault or glitch \"%s\"", what);
            return -1;
        } else
            k = stop_everywhere(fs, what);
        snprintf(out, cap, "cleared %d", k);
        return 0;
    }
    if (vlen == 4 && strncmp(line, "list", 4) == 0 && !*rest) {
        n = sim_fault_list(&fs->line, now_us, out, cap);
        if (n + 1 < cap)
            n += sim_pfault_list(&fs->proto, now_us, out + n, cap - n);
        if (n + 1 < cap)
            sim_glitch_list(&fs->glitch, out + n, cap - n);
        return 0;
    }
    if (vlen == 6 && strncmp(line, "status", 6) == 0 && !*rest) {
        for (int k = 0; k < SIM_FAULT_KIND_COUNT; k++)
            if (fs->line.c.injected[k])
                sim_appendf(out, cap, &n, "injected.%s=%llu\n", sim_fault_kind_name((sim_fault_kind)k),
                     (unsigned long long)fs->line.c.injected[k]);
        for (int k = 0; k < SIM_PF_KIND_COUNT; k++)
            if (fs->proto.c.injected[k])
                sim_appendf(out, cap, &n, "injected.%s=%llu\n", sim_pfault_kind_name((sim_pfault_kind)k),
                     (unsigned long long)fs->proto.c.injected[k]);
        for (int k = 0; k < SIM_GLITCH_KIND_COUNT; k++)
            if (fs->glitch.c.applied[k])
                sim_appendf(out, cap, &n, "glitched.%s=%llu\n", sim_glitch_kind_name((sim_glitch_kind)k),
                     (unsigned long long)fs->glitch.c.applied[k]);
        const sim_fault_counters *c = &fs->line.c;
        sim_appendf(out, cap, &n,
             "worn_off=%llu power_cycles_long=%llu power_cycles_short=%llu enable_cycles_long=%llu "
             "enable_cycles_short=%llu latchups=%llu latchups_cleared=%llu latchup_recover_failed=%llu "
             "latched=%d held_overflow=%llu\n",
             (unsigned long long)(c->worn_off + fs->proto.c.worn_off + fs->glitch.c.worn_off),
             (unsigned long long)c->power_cycles_long, (unsigned long long)c->power_cycles_short,
             (unsigned long long)c->enable_cycles_long, (unsigned long long)c->enable_cycles_short,
             (unsigned long long)c->latchups, (unsigned long long)c->latchups_cleared,
             (unsigned long long)c->latchup_recover_failed, fs->line.latched ? 1 : 0,
             (unsigned long long)c->held_overflow);
        return 0;
    }
    snprintf(out, cap, "unknown command \"%.*s\" (inject, glitch, clear, list, status)", (int)vlen, line);
    return -1;
}

size_t sim_fault_set_rx_filter(void *fsp, uint8_t *buf, size_t n, size_t cap, uint64_t now_us)
{
    sim_fault_set *fs = fsp;
    return sim_fault_rx(&fs->line, buf, n, cap, now_us);
}

size_t sim_fault_set_tx_filter(void *fsp, uint8_t *buf, size_t n, size_t cap, uint64_t now_us)
{
    sim_fault_set *fs = fsp;
    n = sim_pfault_tx(&fs->proto, buf, n, cap, now_us);
    return sim_fault_tx(&fs->line, buf, n, cap, now_us);
}

size_t sim_fault_set_tx_due(sim_fault_set *fs, uint64_t now_us, uint8_t *out, size_t cap)
{
    size_t n = sim_fault_due(&fs->line, SIM_DIR_TO_MODULE, now_us, out, cap);
    return n ? n : sim_pfault_due(&fs->proto, now_us, out, cap);
}

size_t sim_fault_set_rx_due(sim_fault_set *fs, uint64_t now_us, uint8_t *out, size_t cap)
{
    /* held frames exist only toward the module, so this is stuck bursts only */
    return sim_fault_due(&fs->line, SIM_DIR_TO_METER, now_us, out, cap);
}

uint64_t sim_fault_set_next_wake(const sim_fault_set *fs, uint64_t now_us)
{
    uint64_t a = sim_fault_next_wake(&fs->line, now_us), b = sim_pfault_next_wake(&fs->proto, now_us);
    return a < b ? a : b;
}

size_t sim_fault_set_due_hook(void *fsp, unsigned dir, uint64_t now_us, uint8_t *out, size_t cap)
{
    sim_fault_set *fs = fsp;
    return dir == SIM_DIR_TO_METER ? sim_fault_set_rx_due(fs, now_us, out, cap)
                                   : sim_fault_set_tx_due(fs, now_us, out, cap);
}

uint64_t sim_fault_set_wake_hook(void *fsp, uint64_t now_us)
{
    return sim_fault_set_next_wake(fsp, now_us);
}

void sim_fault_set_event_hook(void *fsp, const char *line, bool on, uint64_t now_us)
{
    sim_fault_set *fs = fsp;
    int which = sim_fault_line_from_name(line);
    if (which >= 0)
        sim_fault_line_event(&fs->line, (sim_fault_line)which, on, now_us);
}

bool sim_fault_set_pause_hook(void *fsp, size_t *at, uint32_t *pause_us)
{
    sim_fault_set *fs = fsp;
    return sim_pfault_tx_pause(&fs->proto, at, pause_us);
}

/* ---- the meter's fault hooks ------------------------------------------- */
static sim_meter_fault_action meter_on_response(void *ctx, const sim_meter_fault_request *rq, const uint8_t *bare,
                                                size_t bare_len, uint64_t now_ms, sim_meter_fault_reply *out)
{
    sim_fault_set *fs = ctx;
    sim_pf_result *res = &fs->reply;
    sim_meter_fault_action a = sim_pfault_on_response(&fs->proto, rq, bare, bare_len, now_ms, res);
    if (a == SIM_METER_FAULT_PASS)
        return a;
    out->unauthenticated = res->unauthenticated;
    out->bytes = res->bytes;
    out->len = res->len;
    out->by = sim_pfault_kind_name(res->by);
    return a;
}

static bool meter_on_tls(void *ctx, uint8_t tls_code, uint64_t now_ms, sim_meter_fault_tls *out)
{
    sim_fault_set *fs = ctx;
    sim_pf_tls tf;
    if (!sim_pfault_on_tls(&fs->proto, tls_code, now_ms, &tf))
        return false;
    out->flip_reply = tf.flip_reply;
    out->drop_session = tf.drop_session;
    out->fail_finished = tf.fail_finished;
    out->by = sim_pfault_kind_name(tf.by);
    return true;
}

static void meter_on_table_read(void *ctx, sim_meter *m, uint16_t table, uint32_t off, uint8_t *data, size_t n,
                                uint64_t now_ms)
{
    sim_fault_set *fs = ctx;
    sim_pfault_on_table_read(&fs->proto, table, off, data, n, now_ms);
    sim_layout lay;
    sim_meter_layout(m, &lay);
    size_t full_len = 0;
    const uint8_t *full = sim_tables_raw(sim_meter_tables(m), table, &full_len);
    if (full)
        sim_glitch_on_read(&fs->glitch, &lay, table, full, full_len, off, data, n,
                           sim_clock_now(sim_meter_clock(m), now_ms));
}

void sim_fault_set_meter_hooks(sim_fault_set *fs, sim_meter_fault_hooks *out)
{
    out->on_response = meter_on_response;
    out->on_tls = meter_on_tls;
    out->on_table_read = meter_on_table_read;
    out->ctx = fs;
}
