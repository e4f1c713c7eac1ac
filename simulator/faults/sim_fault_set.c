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

static void clear_all(sim_fault_set *fs)
{
    sim_fault_clear(&fs->line);
    sim_pfault_clear(&fs->proto);
    sim_glitch_clear(&fs->glitch);
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
        if (strcmp(st->u.stop, "all") == 0)
            clear_all(fs);
        else
            stop_everywhere(fs, st->u.stop);
        return 1;
    default:
        return 0;
    }
}

static void set_loads(sim_model *md, int phase, double watts, double pf)
{
    for (int ph = 1; ph <= md->cfg.phases; ph++)
        if (phase == 0 || phase == ph)
            sim_model_set_load(md, ph - 1, watts, pf);
}

/* Line faults, protocol faults and glitches all live in the fault set; a
 * glitch may also ask for loads (solar export) or a frozen clock. */
static sim_fault_set_step_result apply_fault_step(sim_fault_set *fs, sim_meter *m, const sim_step *st,
                                                  uint64_t now_us, char *err, size_t errlen)
{
    uint64_t now_ms = now_us / 1000u;
    sim_glitch_effects fx;
    memset(&fx, 0, sizeof fx);
    sim_meter_advance(m, now_ms);
    if (sim_fault_set_apply(fs, st, now_us, sim_meter_sim_now(m, now_ms), &fx, err, errlen) < 0)
        return SIM_FAULT_SET_STEP_REFUSED;
    sim_model *md = sim_meter_model(m);
    for (int i = 0; i < fx.n_loads && i < 3; i++)
        if (fx.load[i].phase >= 1 && fx.load[i].phase <= md->cfg.phases)
            sim_model_set_load(md, fx.load[i].phase - 1, fx.load[i].watts, fx.load[i].pf);
    return SIM_FAULT_SET_STEP_DONE;
}

sim_fault_set_step_result sim_fault_set_apply_step(sim_fault_set *fs, sim_meter *m, const sim_step *st,
                                                   uint64_t now_us, char *err, size_t errlen)
{
    uint64_t now_ms = now_us / 1000u;
    switch (st->kind) {
    case SIM_STEP_LOAD:
        sim_meter_advance(m, now_ms);
        set_loads(sim_meter_model(m), st->u.load.phase, st->u.load.watts, st->u.load.pf);
        return SIM_FAULT_SET_STEP_DONE;
    case SIM_STEP_FAULT:
    case SIM_STEP_PFAULT:
    case SIM_STEP_GLITCH:
    case SIM_STEP_STOP:
        return apply_fault_step(fs, m, st, now_us, err, errlen);
    case SIM_STEP_REBOOT:
        sim_meter_reboot(m, now_ms);
        return SIM_FAULT_SET_STEP_REBOOTED;
    case SIM_STEP_ALERT:
        if (st->u.alert.clear)
            sim_meter_clear_alert(m, st->u.alert.flags);
        else
            sim_meter_raise_alert(m, st->u.alert.flags);
        return SIM_FAULT_SET_STEP_DONE;
    case SIM_STEP_CLOCK:
        sim_meter_set_clock(m, now_ms, st->u.clock_utc_ms);
        return SIM_FAULT_SET_STEP_DONE;
    case SIM_STEP_SEQ_JUMP:
        sim_meter_set_next_seq(m, sim_meter_next_seq(m) + (uint32_t)st->u.seq_jump);
        return SIM_FAULT_SET_STEP_DONE;
    case SIM_STEP_END:
        return SIM_FAULT_SET_STEP_END;
    case SIM_STEP_OPTICAL:
        return SIM_FAULT_SET_STEP_OPTICAL;
    case SIM_STEP_POLICY: {
        const sim_scenario_policy *p = &st->u.policy;
        const sim_policy *cur = sim_meter_policy(m);
        sim_meter_set_reply_delay(m, p->has_reply_delay_ms ? p->reply_delay_ms : cur->reply_delay_ms,
                                  p->has_reply_jitter_ms ? p->reply_jitter_ms : cur->reply_jitter_ms);
        if (p->has_proc_latency_ms)
            sim_meter_set_proc_latency(m, p->proc_latency_ms);
        return SIM_FAULT_SET_STEP_DONE;
    }
    default: /* wait; unsupported kinds were refused at load */
        return SIM_FAULT_SET_STEP_DONE;
    }
}

bool sim_fault_set_segment(sim_fault_set *fs, sim_meter *m, uint8_t *frame, size_t len, size_t sent,
                           uint64_t now_us)
{
    sim_layout lay;
    sim_meter_layout(m, &lay);
    return sim_glitch_between_segments(&fs->glitch, &lay, frame, len, sent, sim_meter_sim_now(m, now_us / 1000u));
}

/* ---- text commands ------------------------------------------------------
 * Each verb gets the rest of the line (leading blanks removed) and writes
 * its reply or its error to out. */
typedef struct {
    sim_fault_set *fs;
    const char *rest;
    uint64_t now_us;
    int64_t sim_now_ms;
    sim_glitch_effects *fx;
    char *out;
    size_t cap;
} fs_cmd;

/* "<prefix><id> <spec>" for a started fault, or the error. */
static int started(const fs_cmd *c, const char *prefix, int id, const char *text)
{
    if (id < 0) {
        snprintf(c->out, c->cap, "%s", text);
        return -1;
    }
    snprintf(c->out, c->cap, "%s%d %s", prefix, id, text);
    return 0;
}

/* inject <fault>: a protocol fault if the name is one, else a line fault. */
static int verb_inject(const fs_cmd *c)
{
    char name[64], text[256];
    size_t nl = strcspn(c->rest, " \t");
    snprintf(name, sizeof name, "%.*s", (int)(nl < sizeof name ? nl : sizeof name - 1), c->rest);
    bool proto = sim_pfault_kind_from_name(name) >= 0;
    const sim_spec_family *fam = proto ? sim_pfault_family() : sim_fault_family();
    union {
        sim_fault_spec line;
        sim_pfault_spec proto;
    } spec;
    int id = -1;
    if (sim_spec_spec_parse(fam, &spec, c->rest, text, sizeof text) == 0)
        id = proto ? sim_pfault_start(&c->fs->proto, &spec.proto, c->now_us, text, sizeof text)
                   : sim_fault_start(&c->fs->line, &spec.line, c->now_us, text, sizeof text);
    if (id < 0)
        return started(c, "", -1, text);
    sim_spec_spec_format(fam, proto ? (int)spec.proto.kind : (int)spec.line.kind, &spec, text, sizeof text);
    return started(c, proto ? "p" : "", id, text);
}

static int verb_glitch(const fs_cmd *c)
{
    char text[256];
    sim_glitch_spec g;
    int id;
    if (sim_glitch_spec_parse(&g, c->rest, text, sizeof text) < 0 ||
        (id = sim_glitch_start(&c->fs->glitch, &g, c->sim_now_ms, c->fx, text, sizeof text)) < 0)
        return started(c, "", -1, text);
    sim_glitch_spec_format(&g, text, sizeof text);
    return started(c, "g", id, text);
}

/* clear [<name>|<id>|p<id>|g<id>|all]: "p3" / "g2" name a protocol fault /
 * glitch by id, a bare number a line fault. */
static int verb_clear(const fs_cmd *c)
{
    const char *what = *c->rest ? c->rest : "all";
    int k;
    if (strcmp(what, "all") == 0) {
        clear_all(c->fs);
        snprintf(c->out, c->cap, "cleared all");
        return 0;
    }
    if (what[0] == 'p' && what[1] >= '0' && what[1] <= '9')
        k = sim_pfault_stop(&c->fs->proto, what + 1);
    else if (what[0] == 'g' && what[1] >= '0' && what[1] <= '9')
        k = sim_glitch_stop(&c->fs->glitch, what + 1);
    else if (what[0] >= '0' && what[0] <= '9')
        k = sim_fault_stop(&c->fs->line, what);
    else if (!sim_scenario_stop_known(what)) {
        snprintf(c->out, c->cap, "unknown fault or glitch \"%s\"", what);
        return -1;
    } else
        k = stop_everywhere(c->fs, what);
    snprintf(c->out, c->cap, "cleared %d", k);
    return 0;
}

static int verb_list(const fs_cmd *c)
{
    sim_fault_set_list(c->fs, c->now_us, c->out, c->cap);
    return 0;
}

static int verb_status(const fs_cmd *c)
{
    const sim_fault_set *fs = c->fs;
    char *out = c->out;
    size_t cap = c->cap, n = 0;
    for (int k = 0; k < SIM_FAULT_KIND_COUNT; k++)
        if (fs->line.c.injected[k])
            sim_text_appendf(out, cap, &n, "injected.%s=%llu\n", sim_fault_kind_name((sim_fault_kind)k),
                             (unsigned long long)fs->line.c.injected[k]);
    for (int k = 0; k < SIM_PF_KIND_COUNT; k++)
        if (fs->proto.c.injected[k])
            sim_text_appendf(out, cap, &n, "injected.%s=%llu\n", sim_pfault_kind_name((sim_pfault_kind)k),
                             (unsigned long long)fs->proto.c.injected[k]);
    for (int k = 0; k < SIM_GLITCH_KIND_COUNT; k++)
        if (fs->glitch.c.applied[k])
            sim_text_appendf(out, cap, &n, "glitched.%s=%llu\n", sim_glitch_kind_name((sim_glitch_kind)k),
                             (unsigned long long)fs->glitch.c.applied[k]);
    const sim_fault_counters *lc = &fs->line.c;
    sim_text_appendf(out, cap, &n,
                     "worn_off=%llu power_cycles_long=%llu power_cycles_short=%llu enable_cycles_long=%llu "
                     "enable_cycles_short=%llu latchups=%llu latchups_cleared=%llu latchup_recover_failed=%llu "
                     "latched=%d held_overflow=%llu noise_bytes=%llu\n",
                     (unsigned long long)sim_fault_set_worn_off(fs), (unsigned long long)lc->power_cycles_long,
                     (unsigned long long)lc->power_cycles_short, (unsigned long long)lc->enable_cycles_long,
                     (unsigned long long)lc->enable_cycles_short, (unsigned long long)lc->latchups,
                     (unsigned long long)lc->latchups_cleared, (unsigned long long)lc->latchup_recover_failed,
                     fs->line.latched ? 1 : 0, (unsigned long long)lc->held_overflow,
                     (unsigned long long)lc->noise_bytes);
    return 0;
}

/* The verbs; list and status take no arguments. */
static const struct {
    const char *name;
    int (*run)(const fs_cmd *c);
    bool no_args;
} VERBS[] = {
    {"inject", verb_inject, false}, {"glitch", verb_glitch, false}, {"clear", verb_clear, false},
    {"list", verb_list, true},      {"status", verb_status, true},
};
#define N_VERBS (sizeof VERBS / sizeof VERBS[0])

/* "(inject, glitch, clear, list, status)" */
static void verb_names(char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_VERBS; i++)
        sim_text_appendf(out, cap, &n, "%s%s", i ? ", " : "(", VERBS[i].name);
    sim_text_appendf(out, cap, &n, ")");
}

int sim_fault_set_command(sim_fault_set *fs, const char *line, uint64_t now_us, int64_t sim_now_ms,
                          sim_glitch_effects *fx, char *out, size_t cap)
{
    if (!cap)
        return -1;
    out[0] = '\0';
    if (fx)
        memset(fx, 0, sizeof *fx);
    char names[64];
    verb_names(names, sizeof names);
    while (line && (*line == ' ' || *line == '\t'))
        line++;
    if (!line || !*line) {
        snprintf(out, cap, "empty command %s", names);
        return -1;
    }
    const char *sp = strpbrk(line, " \t");
    size_t vlen = sp ? (size_t)(sp - line) : strlen(line);
    const char *rest = sp ? sp : "";
    while (*rest == ' ' || *rest == '\t')
        rest++;
    fs_cmd c = {fs, rest, now_us, sim_now_ms, fx, out, cap};
    for (size_t i = 0; i < N_VERBS; i++)
        if (strlen(VERBS[i].name) == vlen && strncmp(line, VERBS[i].name, vlen) == 0 &&
            !(VERBS[i].no_args && *rest))
            return VERBS[i].run(&c);
    snprintf(out, cap, "unknown command \"%.*s\" %s", (int)vlen, line, names);
    return -1;
}

size_t sim_fault_set_list(const sim_fault_set *fs, uint64_t now_us, char *out, size_t cap)
{
    if (!cap)
        return 0;
    size_t n = sim_fault_list(&fs->line, now_us, out, cap);
    if (n + 1 < cap)
        n += sim_pfault_list(&fs->proto, now_us, out + n, cap - n);
    if (n + 1 < cap)
        n += sim_glitch_list(&fs->glitch, out + n, cap - n);
    return n;
}

uint64_t sim_fault_set_worn_off(const sim_fault_set *fs)
{
    return fs->line.c.worn_off + fs->proto.c.worn_off + fs->glitch.c.worn_off;
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
