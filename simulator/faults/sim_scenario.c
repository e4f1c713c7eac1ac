/* sim_scenario: scenario file loader and timeline runner (see sim_scenario.h).
 *
 * Everything is parsed into a fresh sim_scenario and handed out only when
 * the whole file validated, so a bad file never leaves half a scenario
 * behind. Messages follow sim_profile: "<file>: <json path>: <problem>".
 */
#include "sim_scenario.h"
#include "sim_text.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name;
    char *err;
    size_t errlen;
} ctx;

static int fail(ctx *c, const char *path, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->err && c->errlen)
        snprintf(c->err, c->errlen, "%s: %s: %s", c->name, path, msg);
    return -1;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* Reject keys not in the NULL-terminated list. */
static int only_keys(ctx *c, const char *path, json_t *obj, const char *const *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        bool ok = false;
        for (size_t i = 0; keys[i]; i++)
            ok |= strcmp(k, keys[i]) == 0;
        if (!ok)
            return fail(c, path, "unknown key \"%s\"", k);
    }
    return 0;
}

static int want(ctx *c, const char *path, json_t *v, json_type t, const char *what)
{
    bool ok = json_typeof(v) == t || (t == JSON_REAL && json_is_integer(v)) ||
              (t == JSON_TRUE && json_is_boolean(v));
    if (!ok)
        return fail(c, path, "must be %s, got %s", what, type_name(v));
    return 0;
}

/* An object with only the keys in the NULL-terminated list. */
static int want_object(ctx *c, const char *path, json_t *v, const char *const *keys)
{
    if (want(c, path, v, JSON_OBJECT, "an object") < 0)
        return -1;
    return only_keys(c, path, v, keys);
}

/* ---- small value parsers ---------------------------------------------- */
static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Hex digits with optional spaces/colons -> bytes. Returns count or -1. */
static int parse_hex(const char *t, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (; *t; t++) {
        if (*t == ' ' || *t == ':')
            continue;
        int v = hexval((unsigned char)*t);
        if (v < 0)
            return -1;
        if (hi < 0) {
            hi = v;
        } else {
            if (n == cap)
                return -1;
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return hi < 0 ? (int)n : -1;
}

/* MBK/MAK as 16 or 20 ASCII characters (first 16 used, docs/module-behaviour.md 3)
 * or 32/40 hex digits. */
static int parse_key(const char *t, uint8_t out[16])
{
    size_t len = strlen(t);
    uint8_t b[20];
    int n = parse_hex(t, b, sizeof b);
    if (n == 16 || n == 20) {
        memcpy(out, b, 16);
        return 0;
    }
    if (len == 16 || len == 20) {
        for (size_t i = 0; i < len; i++)
            if (t[i] < 0x20 || t[i] > 0x7E)
                return -1;
        memcpy(out, t, 16);
        return 0;
    }
    return -1;
}

static int utc_value(ctx *c, const char *path, json_t *v, int64_t *ms)
{
    if (json_is_string(v)) {
        if (sim_text_parse_utc(json_string_value(v), ms) < 0)
            return fail(c, path, "bad UTC time \"%s\" (want YYYY-MM-DDTHH:MM:SSZ, years 2000-2099)",
                        json_string_value(v));
        return 0;
    }
    if (json_is_integer(v)) {
        json_int_t s = json_integer_value(v);
        if (s < 946684800 || s > 4102444799LL)
            return fail(c, path, "Unix time %lld out of range (2000-2099)", (long long)s);
        *ms = (int64_t)s * 1000;
        return 0;
    }
    return fail(c, path, "must be a UTC time string or Unix seconds, got %s", type_name(v));
}

/* A fault/glitch parameter as text for the modules' setters. */
static int param_text(json_t *v, char *buf, size_t cap)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
        return 0;
    case JSON_REAL:
        snprintf(buf, cap, "%.17g", json_real_value(v));
        return 0;
    case JSON_STRING:
        if (strlen(json_string_value(v)) >= cap)
            return -1;
        strcpy(buf, json_string_value(v));
        return 0;
    case JSON_TRUE:
        snprintf(buf, cap, "1");
        return 0;
    case JSON_FALSE:
        snprintf(buf, cap, "0");
        return 0;
    case JSON_ARRAY: {
        size_t n = 0, i;
        json_t *e;
        buf[0] = '\0';
        json_array_foreach(v, i, e) {
            if (!json_is_integer(e) && !json_is_string(e))
                return -1;
            char one[64];
            if (json_is_integer(e))
                snprintf(one, sizeof one, "%lld", (long long)json_integer_value(e));
            else if (strlen(json_string_value(e)) < sizeof one)
                strcpy(one, json_string_value(e));
            else
                return -1;
            if (n + strlen(one) + 2 > cap)
                return -1;
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "," : "", one);
        }
        return 0;
    }
    default:
        return -1;
    }
}

/* Set each "params" entry through the family's table (sim_text). */
static int apply_params(ctx *c, const char *spath, json_t *params, const sim_spec_family *fam, int k, void *spec)
{
    char path[160];
    snprintf(path, sizeof path, "%s.params", spath);
    if (!params)
        return 0;
    if (want(c, path, params, JSON_OBJECT, "an object") < 0)
        return -1;
    const char *key;
    json_t *v;
    json_object_foreach(params, key, v) {
        char kp[224], text[256], msg[256];
        snprintf(kp, sizeof kp, "%s.%s", path, key);
        if (param_text(v, text, sizeof text) < 0)
            return fail(c, kp, "bad type: %s is not a parameter value", type_name(v));
        if (sim_spec_spec_set(fam, k, spec, key, text, msg, sizeof msg) < 0)
            return fail(c, kp, "%s", msg);
    }
    return 0;
}

/* Kind k of family fam with its params, checked: the spec of a fault or
 * glitch step. */
static int step_spec(ctx *c, const char *path, json_t *params, const sim_spec_family *fam, int k, void *spec)
{
    char msg[256];
    fam->init(spec, k);
    if (apply_params(c, path, params, fam, k, spec) < 0)
        return -1;
    if (sim_spec_spec_check(fam, k, spec, msg, sizeof msg) < 0)
        return fail(c, path, "%s", msg);
    return 0;
}

/* ---- steps ------------------------------------------------------------- */
static const char *const STEP_NAMES[SIM_STEP_KIND_COUNT] = {
    [SIM_STEP_LOAD] = "load", [SIM_STEP_FAULT] = "fault", [SIM_STEP_PFAULT] = "fault",
    [SIM_STEP_STOP] = "stop", [SIM_STEP_GLITCH] = "glitch", [SIM_STEP_ALERT] = "alert",
    [SIM_STEP_CLOCK] = "clock", [SIM_STEP_SEQ_JUMP] = "seq_jump", [SIM_STEP_REBOOT] = "reboot",
    [SIM_STEP_WAIT] = "wait", [SIM_STEP_END] = "end", [SIM_STEP_OPTICAL] = "optical",
    [SIM_STEP_POLICY] = "policy",
};

const char *sim_scenario_step_kind_name(sim_step_kind k)
{
    return (unsigned)k < SIM_STEP_KIND_COUNT ? STEP_NAMES[k] : "?";
}

bool sim_scenario_stop_known(const char *n)
{
    return strcmp(n, "all") == 0 || sim_fault_kind_from_name(n) >= 0 || sim_pfault_kind_from_name(n) >= 0 ||
           sim_glitch_kind_from_name(n) >= 0;
}

static int time_value(ctx *c, const char *path, json_t *v, int64_t *ms)
{
    if (!json_is_number(v))
        return fail(c, path, "must be a number of seconds, got %s", type_name(v));
    double s = json_number_value(v);
    if (!isfinite(s) || s < 0)
        return fail(c, path, "impossible time %g s: negative", s);
    if (s > SIM_SCENARIO_MAX_TIME_S)
        return fail(c, path, "impossible time %g s: more than %.0f s", s, SIM_SCENARIO_MAX_TIME_S);
    *ms = (int64_t)llround(s * 1000.0);
    return 0;
}

/* One step's action: path is the step ("$.timeline[2]"), kp the action's
 * value ("$.timeline[2].load"), v that value, params the step's "params". */
typedef struct {
    ctx *c;
    const char *path, *kp;
    json_t *v, *params;
    const char *name;
} step_in;

/* An action whose value is an object with only these keys. */
static int object_action(const step_in *in, sim_step *st, sim_step_kind kind, const char *const *keys)
{
    st->kind = kind;
    return want_object(in->c, in->kp, in->v, keys);
}

static int step_load(const step_in *in, sim_step *st)
{
    ctx *c = in->c;
    const char *kp = in->kp;
    static const char *const lk[] = {"phase", "watts", "pf", NULL};
    if (object_action(in, st, SIM_STEP_LOAD, lk) < 0)
        return -1;
    json_t *ph = json_object_get(in->v, "phase"), *w = json_object_get(in->v, "watts"),
           *pf = json_object_get(in->v, "pf");
    char sp[200];
    snprintf(sp, sizeof sp, "%s.phase", kp);
    if (!ph)
        return fail(c, kp, "missing \"phase\" (1..3, 0 = all)");
    if (want(c, sp, ph, JSON_INTEGER, "an integer") < 0)
        return -1;
    if (json_integer_value(ph) < 0 || json_integer_value(ph) > 3)
        return fail(c, sp, "phase must be 0..3 (0 = all), got %lld", (long long)json_integer_value(ph));
    st->u.load.phase = (int)json_integer_value(ph);
    snprintf(sp, sizeof sp, "%s.watts", kp);
    if (!w)
        return fail(c, kp, "missing \"watts\"");
    if (want(c, sp, w, JSON_REAL, "a number") < 0)
        return -1;
    st->u.load.watts = json_number_value(w);
    if (fabs(st->u.load.watts) > 1e6)
        return fail(c, sp, "watts out of range (|w| <= 1000000)");
    st->u.load.pf = 1.0;
    if (pf) {
        snprintf(sp, sizeof sp, "%s.pf", kp);
        if (want(c, sp, pf, JSON_REAL, "a number") < 0)
            return -1;
        st->u.load.pf = json_number_value(pf);
        if (st->u.load.pf < 0 || st->u.load.pf > 1)
            return fail(c, sp, "pf must be 0..1, got %g", st->u.load.pf);
    }
    return 0;
}

/* A line fault or a protocol fault: the name says which family. */
static int step_fault(const step_in *in, sim_step *st)
{
    if (want(in->c, in->kp, in->v, JSON_STRING, "a fault name") < 0)
        return -1;
    const char *name = json_string_value(in->v);
    int k = sim_fault_kind_from_name(name);
    if (k >= 0) {
        st->kind = SIM_STEP_FAULT;
        return step_spec(in->c, in->path, in->params, sim_fault_family(), k, &st->u.fault);
    }
    if ((k = sim_pfault_kind_from_name(name)) >= 0) {
        st->kind = SIM_STEP_PFAULT;
        return step_spec(in->c, in->path, in->params, sim_pfault_family(), k, &st->u.pfault);
    }
    return fail(in->c, in->kp, "unknown fault \"%s\"", name);
}

static int step_glitch(const step_in *in, sim_step *st)
{
    if (want(in->c, in->kp, in->v, JSON_STRING, "a glitch name") < 0)
        return -1;
    int k = sim_glitch_kind_from_name(json_string_value(in->v));
    if (k < 0)
        return fail(in->c, in->kp, "unknown glitch \"%s\"", json_string_value(in->v));
    st->kind = SIM_STEP_GLITCH;
    return step_spec(in->c, in->path, in->params, sim_glitch_family(), k, &st->u.glitch);
}

static int step_stop(const step_in *in, sim_step *st)
{
    st->kind = SIM_STEP_STOP;
    if (want(in->c, in->kp, in->v, JSON_STRING, "a fault or glitch name") < 0)
        return -1;
    if (!sim_scenario_stop_known(json_string_value(in->v)))
        return fail(in->c, in->kp, "unknown fault or glitch \"%s\"", json_string_value(in->v));
    snprintf(st->u.stop, sizeof st->u.stop, "%s", json_string_value(in->v));
    return 0;
}

/* ET13 flags 1..255, or {"flags": n, "clear": true} (docs/mep.md 10.3). */
static int step_alert(const step_in *in, sim_step *st)
{
    ctx *c = in->c;
    char kp[200];
    snprintf(kp, sizeof kp, "%s", in->kp);
    st->kind = SIM_STEP_ALERT;
    json_t *flags = in->v;
    if (json_is_object(in->v)) {
        static const char *const ak[] = {"flags", "clear", NULL};
        if (only_keys(c, kp, in->v, ak) < 0)
            return -1;
        json_t *cl = json_object_get(in->v, "clear");
        if (cl) {
            char sp[220];
            snprintf(sp, sizeof sp, "%s.clear", kp);
            if (want(c, sp, cl, JSON_TRUE, "a boolean") < 0)
                return -1;
            st->u.alert.clear = json_is_true(cl);
        }
        flags = json_object_get(in->v, "flags");
        if (!flags)
            return fail(c, kp, "missing \"flags\"");
        snprintf(kp, sizeof kp, "%s.alert.flags", in->path);
    }
    if (want(c, kp, flags, JSON_INTEGER, "an integer (ET13 alert flags)") < 0)
        return -1;
    json_int_t f = json_integer_value(flags);
    if (f < 1 || f > 255)
        return fail(c, kp, "alert flags must be 1..255 (docs/mep.md 10.3), got %lld", (long long)f);
    st->u.alert.flags = (uint8_t)f;
    return 0;
}

static int step_clock(const step_in *in, sim_step *st)
{
    st->kind = SIM_STEP_CLOCK;
    return utc_value(in->c, in->kp, in->v, &st->u.clock_utc_ms);
}

static int step_seq_jump(const step_in *in, sim_step *st)
{
    st->kind = SIM_STEP_SEQ_JUMP;
    if (want(in->c, in->kp, in->v, JSON_INTEGER, "an integer") < 0)
        return -1;
    json_int_t j = json_integer_value(in->v);
    if (j == 0 || j < -2147483647LL || j > 2147483647LL)
        return fail(in->c, in->kp, "seq_jump must be a non-zero 32-bit step, got %lld", (long long)j);
    st->u.seq_jump = j;
    return 0;
}

/* {"optical": {"seconds": S[, "echo": bool]}} or {"optical": {"stop": true}}:
 * a simulated probe session on the optical port (docs/optical.md 6). */
static int step_optical(const step_in *in, sim_step *st)
{
    ctx *c = in->c;
    const char *kp = in->kp;
    static const char *const ok[] = {"seconds", "echo", "stop", NULL};
    if (object_action(in, st, SIM_STEP_OPTICAL, ok) < 0)
        return -1;
    json_t *sec = json_object_get(in->v, "seconds"), *stop = json_object_get(in->v, "stop"),
           *echo = json_object_get(in->v, "echo");
    st->u.optical.echo = true;
    if (echo) {
        if (!json_is_boolean(echo))
            return fail(c, kp, "\"echo\" must be true or false");
        st->u.optical.echo = json_is_true(echo);
    }
    if (stop) {
        if (!json_is_true(stop) || sec)
            return fail(c, kp, "\"stop\" must be true and comes without \"seconds\"");
        st->u.optical.stop = true;
        return 0;
    }
    if (!sec || !json_is_number(sec))
        return fail(c, kp, "needs \"seconds\" (probe session length) or \"stop\": true");
    double secs = json_number_value(sec);
    if (!(secs >= 0.1 && secs <= 3600.0))
        return fail(c, kp, "seconds must be 0.1..3600, got %g", secs);
    st->u.optical.seconds = secs;
    return 0;
}

static int parse_policy(ctx *c, const char *at, json_t *p, const char *const *keys, sim_scenario_policy *pol);
/* The policies a "policy" step may change: what the meter reads at run time. */
static const char *const POLICY_STEP_KEYS[] = {"proc_latency_ms", "reply_delay_ms", "reply_jitter_ms", NULL};

/* {"policy": {"reply_delay_ms": N, ...}}: the run-time policies from this
 * step on (a meter that becomes slow, without a fault). */
static int step_policy(const step_in *in, sim_step *st)
{
    st->kind = SIM_STEP_POLICY;
    if (parse_policy(in->c, in->kp, in->v, POLICY_STEP_KEYS, &st->u.policy) < 0)
        return -1;
    const sim_scenario_policy *p = &st->u.policy;
    if (!p->has_proc_latency_ms && !p->has_reply_delay_ms && !p->has_reply_jitter_ms)
        return fail(in->c, in->kp, "names no policy (reply_delay_ms, reply_jitter_ms, proc_latency_ms)");
    return 0;
}

/* reboot / wait / end: the value must be true. */
static int step_flag(const step_in *in, sim_step *st)
{
    st->kind = strcmp(in->name, "reboot") == 0 ? SIM_STEP_REBOOT
               : strcmp(in->name, "wait") == 0 ? SIM_STEP_WAIT
                                                : SIM_STEP_END;
    if (!json_is_true(in->v))
        return fail(in->c, in->kp, "must be true, got %s", json_is_false(in->v) ? "false" : type_name(in->v));
    return 0;
}

/* The actions of a step, in the order a "has both" message names them. */
static const struct {
    const char *name;
    int (*parse)(const step_in *in, sim_step *st);
    bool takes_params;
} ACTIONS[] = {
    {"load", step_load, false},       {"fault", step_fault, true},   {"stop", step_stop, false},
    {"glitch", step_glitch, true},    {"alert", step_alert, false},  {"clock", step_clock, false},
    {"seq_jump", step_seq_jump, false}, {"reboot", step_flag, false}, {"wait", step_flag, false},
    {"end", step_flag, false},        {"optical", step_optical, false}, {"policy", step_policy, false},
};
#define N_ACTIONS (sizeof ACTIONS / sizeof ACTIONS[0])

/* "at" (absolute, not before the previous step) or "after" (relative). */
static int step_time(ctx *c, const char *path, json_t *js, int64_t *prev_ms, sim_step *st)
{
    char kp[160];
    json_t *at = json_object_get(js, "at"), *after = json_object_get(js, "after");
    if (!at == !after)
        return fail(c, path, "needs exactly one of \"at\" or \"after\"");
    int64_t ms = 0;
    snprintf(kp, sizeof kp, "%s.%s", path, at ? "at" : "after");
    if (time_value(c, kp, at ? at : after, &ms) < 0)
        return -1;
    if (at && ms < *prev_ms)
        return fail(c, kp, "impossible time %.3f s: before the previous step at %.3f s (steps run in order)",
                    (double)ms / 1000.0, (double)*prev_ms / 1000.0);
    st->at_ms = at ? ms : *prev_ms + ms;
    if ((double)st->at_ms > SIM_SCENARIO_MAX_TIME_S * 1000.0)
        return fail(c, kp, "impossible time: step falls after %.0f s", SIM_SCENARIO_MAX_TIME_S);
    *prev_ms = st->at_ms;
    return 0;
}

/* Exactly one action key; returns its ACTIONS index or -1. */
static int step_action(ctx *c, const char *path, json_t *js)
{
    int act = -1;
    for (size_t i = 0; i < N_ACTIONS; i++)
        if (json_object_get(js, ACTIONS[i].name)) {
            if (act >= 0)
                return fail(c, path, "has both \"%s\" and \"%s\": one action per step", ACTIONS[act].name,
                            ACTIONS[i].name);
            act = (int)i;
        }
    if (act < 0)
        return fail(c, path, "no action (load, fault, stop, glitch, alert, clock, seq_jump, reboot, wait, end, "
                    "optical, policy)");
    return act;
}

static int parse_step(ctx *c, size_t idx, json_t *js, int64_t *prev_ms, sim_step *st)
{
    char path[96], kp[160];
    snprintf(path, sizeof path, "$.timeline[%zu]", idx);
    memset(st, 0, sizeof *st);
    static const char *const keys[] = {"at", "after", "note", "params", "load", "fault", "stop", "glitch",
                                       "alert", "clock", "seq_jump", "reboot", "wait", "end", "optical",
                                       "policy", NULL};
    if (want_object(c, path, js, keys) < 0 || step_time(c, path, js, prev_ms, st) < 0)
        return -1;
    json_t *note = json_object_get(js, "note");
    if (note) {
        snprintf(kp, sizeof kp, "%s.note", path);
        if (want(c, kp, note, JSON_STRING, "a string") < 0)
            return -1;
        snprintf(st->note, sizeof st->note, "%s", json_string_value(note));
    }
    int act = step_action(c, path, js);
    if (act < 0)
        return -1;
    const char *name = ACTIONS[act].name;
    json_t *params = json_object_get(js, "params");
    if (params && !ACTIONS[act].takes_params)
        return fail(c, path, "\"params\" belongs to a fault or glitch step, not to \"%s\"", name);
    snprintf(kp, sizeof kp, "%s.%s", path, name);
    step_in in = {c, path, kp, json_object_get(js, name), params, name};
    return ACTIONS[act].parse(&in, st);
}

/* ---- top level --------------------------------------------------------- */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(out, cap, ".");
        return;
    }
    size_t n = (size_t)(slash - path);
    if (n == 0)
        n = 1;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, path, n);
    out[n] = '\0';
}

static int resolve_profile(ctx *c, const char *file, const char *prof, const sim_scenario_opts *o, char *out,
                           size_t cap)
{
    if (!*prof)
        return fail(c, "$.profile", "must not be empty");
    if (prof[0] == '/') {
        snprintf(out, cap, "%s", prof);
        if (o->check_profile && access(out, R_OK) != 0)
            return fail(c, "$.profile", "profile \"%s\" not found", prof);
        return 0;
    }
    char dir[512], a[1100], b[1100], meters[600];
    dir_of(file, dir, sizeof dir);
    snprintf(a, sizeof a, "%s/%s", dir, prof);
    if (o->meters_dir)
        snprintf(meters, sizeof meters, "%s", o->meters_dir);
    else
        snprintf(meters, sizeof meters, "%s/../meters", dir);
    snprintf(b, sizeof b, "%s/%s", meters, prof);
    const char *pick = access(a, R_OK) == 0 ? a : access(b, R_OK) == 0 ? b : NULL;
    if (!pick && o->check_profile)
        return fail(c, "$.profile", "profile \"%s\" not found (looked in %s and %s)", prof, dir, meters);
    if (!pick)
        pick = b;
    if (strlen(pick) >= cap)
        return fail(c, "$.profile", "resolved path too long");
    snprintf(out, cap, "%s", pick);
    return 0;
}

/* The "policy" keys: the sim_policy fields a scenario may override
 * (sim_profile.h). A string key takes one of names (its index is the
 * value: SIM_SEQ_REPLY_NEXT = 0, _LAST = 1; SIM_AUTH_REPLY_SHORT = 0,
 * _ZERO_DIGEST = 1, _SILENT = 2); an integer key lo..hi; a boolean key
 * true or false. */
static const struct {
    const char *key;
    json_type type;
    size_t has, value;             /* offsets of the has_ flag and of the value */
    const char *const names[3];
    long long lo, hi;
    const char *bad;               /* message for a value out of range */
} POLICY[] = {
#define AT(f) offsetof(sim_scenario_policy, has_##f), offsetof(sim_scenario_policy, f)
    {"seq_reply", JSON_STRING, AT(seq_reply), {"next", "last", NULL}, 0, 0, "must be \"next\" or \"last\""},
    {"seq_window", JSON_INTEGER, AT(seq_window), {NULL}, 1, 1000, "must be 1..1000"},
    {"strict_full_read_count", JSON_TRUE, AT(strict_full_read_count), {NULL}, 0, 0, NULL},
    {"auth_reply", JSON_STRING, AT(auth_reply), {"short", "zero-digest", "silent"}, 0, 0,
     "must be \"short\", \"zero-digest\" or \"silent\""},
    {"past_end_error", JSON_TRUE, AT(past_end_error), {NULL}, 0, 0, NULL},
    {"proc_latency_ms", JSON_INTEGER, AT(proc_latency_ms), {NULL}, 0, 1000, "must be 0..1000 (docs/mep.md 4)"},
    {"reply_delay_ms", JSON_INTEGER, AT(reply_delay_ms), {NULL}, 0, SIM_POLICY_MAX_REPLY_DELAY_MS,
     "must be 0..4000 (ms from the request's last byte to the reply's first)"},
    {"reply_jitter_ms", JSON_INTEGER, AT(reply_jitter_ms), {NULL}, 0, SIM_POLICY_MAX_REPLY_JITTER_MS,
     "must be 0..1000"},
#undef AT
};

/* Keys of the top-level "policy" (a "policy" step takes POLICY_STEP_KEYS). */
static const char *const POLICY_KEYS[] = {"seq_reply", "seq_window", "strict_full_read_count", "auth_reply",
                                          "past_end_error", "proc_latency_ms", "reply_delay_ms",
                                          "reply_jitter_ms", NULL};

static int parse_policy(ctx *c, const char *at, json_t *p, const char *const *keys, sim_scenario_policy *pol)
{
    if (want_object(c, at, p, keys) < 0)
        return -1;
    unsigned char *base = (unsigned char *)pol;
    for (size_t i = 0; i < sizeof POLICY / sizeof POLICY[0]; i++) {
        json_t *v = json_object_get(p, POLICY[i].key);
        if (!v)
            continue;
        char path[200];
        snprintf(path, sizeof path, "%s.%s", at, POLICY[i].key);
        static const char *const what[] = {[JSON_STRING] = "a string", [JSON_INTEGER] = "an integer",
                                           [JSON_TRUE] = "a boolean"};
        if (want(c, path, v, POLICY[i].type, what[POLICY[i].type]) < 0)
            return -1;
        bool flag = json_is_true(v);
        int32_t value = -1;
        if (POLICY[i].type == JSON_STRING) {
            for (int k = 0; k < 3 && POLICY[i].names[k]; k++)
                if (strcmp(json_string_value(v), POLICY[i].names[k]) == 0)
                    value = k;
            if (value < 0)
                return fail(c, path, "%s, got \"%s\"", POLICY[i].bad, json_string_value(v));
        } else if (POLICY[i].type == JSON_INTEGER) {
            if (json_integer_value(v) < POLICY[i].lo || json_integer_value(v) > POLICY[i].hi)
                return fail(c, path, "%s", POLICY[i].bad);
            value = (int32_t)json_integer_value(v);
        }
        base[POLICY[i].has] = true;
        if (POLICY[i].type == JSON_TRUE)
            memcpy(base + POLICY[i].value, &flag, sizeof flag);
        else
            memcpy(base + POLICY[i].value, &value, sizeof value);
    }
    return 0;
}

static int parse_patch(ctx *c, json_t *p, sim_scenario *s)
{
    static const char *const keys[] = {"bt21", "et11", NULL};
    if (want_object(c, "$.patch", p, keys) < 0)
        return -1;
    json_t *v;
    if ((v = json_object_get(p, "bt21"))) {
        if (want(c, "$.patch.bt21", v, JSON_STRING, "a hex string of 10 bytes") < 0)
            return -1;
        if (parse_hex(json_string_value(v), s->bt21, sizeof s->bt21) != 10)
            return fail(c, "$.patch.bt21", "must be 10 bytes of hex (docs/mep.md 12.4), got \"%s\"",
                        json_string_value(v));
        s->has_bt21 = true;
    }
    if ((v = json_object_get(p, "et11"))) {
        if (want(c, "$.patch.et11", v, JSON_OBJECT, "an object of byte index -> value") < 0)
            return -1;
        const char *k;
        json_t *b;
        json_object_foreach(v, k, b) {
            char kp[96];
            snprintf(kp, sizeof kp, "$.patch.et11.%s", k);
            char *end;
            long idx = strtol(k, &end, 10);
            if (!*k || *end || idx < 0 || idx >= (long)sizeof s->et11)
                return fail(c, kp, "byte index must be 0..%zu", sizeof s->et11 - 1);
            if (want(c, kp, b, JSON_INTEGER, "an integer") < 0)
                return -1;
            if (json_integer_value(b) < 0 || json_integer_value(b) > 255)
                return fail(c, kp, "byte value must be 0..255");
            s->et11[idx] = (uint8_t)json_integer_value(b);
            s->et11_mask |= 1ull << idx;
        }
    }
    return 0;
}

/* "keys": {"mbk": .., "mak": ..}. */
static int parse_keys(ctx *c, json_t *v, sim_scenario *s)
{
    static const char *const kk[] = {"mbk", "mak", NULL};
    if (want_object(c, "$.keys", v, kk) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        json_t *k = json_object_get(v, kk[i]);
        if (!k)
            continue;
        char kp[32];
        snprintf(kp, sizeof kp, "$.keys.%s", kk[i]);
        if (want(c, kp, k, JSON_STRING, "a string") < 0)
            return -1;
        if (parse_key(json_string_value(k), i ? s->mak : s->mbk) < 0)
            return fail(c, kp, "key must be 16 or 20 ASCII characters or 32/40 hex digits");
        *(i ? &s->has_mak : &s->has_mbk) = true;
    }
    return 0;
}

/* The optional run settings: seed, speed, seq_start, start. */
static int parse_run(ctx *c, json_t *root, sim_scenario *s)
{
    json_t *v;
    if ((v = json_object_get(root, "seed"))) {
        if (want(c, "$.seed", v, JSON_INTEGER, "an integer") < 0)
            return -1;
        if (json_integer_value(v) < 0)
            return fail(c, "$.seed", "must be >= 0");
        s->seed = (uint64_t)json_integer_value(v);
    }
    if ((v = json_object_get(root, "speed"))) {
        if (want(c, "$.speed", v, JSON_REAL, "a number") < 0)
            return -1;
        s->speed = json_number_value(v);
        if (!(s->speed > 0.0) || s->speed > 10000.0)
            return fail(c, "$.speed", "must be > 0 and <= 10000, got %g", s->speed);
    }
    if ((v = json_object_get(root, "seq_start"))) {
        if (want(c, "$.seq_start", v, JSON_INTEGER, "an integer") < 0)
            return -1;
        if (json_integer_value(v) < 0 || json_integer_value(v) > 0xFFFFFFFFLL)
            return fail(c, "$.seq_start", "must be 0..4294967295");
        s->has_seq_start = true;
        s->seq_start = (uint32_t)json_integer_value(v);
    }
    if ((v = json_object_get(root, "start"))) {
        if (utc_value(c, "$.start", v, &s->start_utc_ms) < 0)
            return -1;
        s->has_start_utc = true;
    }
    return 0;
}

static int parse_timeline(ctx *c, json_t *v, sim_scenario *s)
{
    if (want(c, "$.timeline", v, JSON_ARRAY, "an array") < 0)
        return -1;
    size_t n = json_array_size(v);
    if (n > SIM_SCENARIO_MAX_STEPS)
        return fail(c, "$.timeline", "too many steps (%zu > %d)", n, SIM_SCENARIO_MAX_STEPS);
    s->steps = calloc(n ? n : 1, sizeof *s->steps);
    if (!s->steps)
        return fail(c, "$.timeline", "out of memory");
    int64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && s->steps[i - 1].kind == SIM_STEP_END) {
            char p[64];
            snprintf(p, sizeof p, "$.timeline[%zu]", i);
            return fail(c, p, "step after \"end\"");
        }
        if (parse_step(c, i, json_array_get(v, i), &prev, &s->steps[i]) < 0)
            return -1;
        s->n_steps = i + 1;
    }
    return 0;
}

static int parse_root(ctx *c, json_t *root, const sim_scenario_opts *o, sim_scenario *s)
{
    static const char *const keys[] = {"description", "profile", "keys", "seed", "speed", "seq_start",
                                       "start", "policy", "patch", "expect", "timeline", NULL};
    if (want_object(c, "$", root, keys) < 0)
        return -1;
    static const char *const required[] = {"description", "profile", "expect", "timeline"};
    for (size_t i = 0; i < 4; i++)
        if (!json_object_get(root, required[i]))
            return fail(c, "$", "missing required key \"%s\"", required[i]);

    json_t *v = json_object_get(root, "description");
    if (want(c, "$.description", v, JSON_STRING, "a string") < 0)
        return -1;
    if (!*json_string_value(v))
        return fail(c, "$.description", "must not be empty");
    s->description = strdup(json_string_value(v));

    v = json_object_get(root, "profile");
    if (want(c, "$.profile", v, JSON_STRING, "a string") < 0)
        return -1;
    if (resolve_profile(c, s->path, json_string_value(v), o, s->profile, sizeof s->profile) < 0)
        return -1;
    if ((v = json_object_get(root, "keys")) && parse_keys(c, v, s) < 0)
        return -1;
    if (parse_run(c, root, s) < 0)
        return -1;
    if ((v = json_object_get(root, "policy")) && parse_policy(c, "$.policy", v, POLICY_KEYS, &s->policy) < 0)
        return -1;
    if ((v = json_object_get(root, "patch")) && parse_patch(c, v, s) < 0)
        return -1;

    v = json_object_get(root, "expect");
    if (want(c, "$.expect", v, JSON_OBJECT, "an object") < 0)
        return -1;
    s->expect_json = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return parse_timeline(c, json_object_get(root, "timeline"), s);
}

void sim_scenario_free(sim_scenario *s)
{
    if (!s)
        return;
    free(s->description);
    free(s->expect_json);
    free(s->steps);
    free(s);
}

sim_scenario *sim_scenario_parse(const char *text, size_t len, const char *name, const sim_scenario_opts *opts,
                                 char *err, size_t errlen)
{
    sim_scenario_opts def = {NULL, true};
    if (!opts)
        opts = &def;
    if (!name)
        name = "<scenario>";
    const char *base = strrchr(name, '/');
    ctx c = {name, err, errlen};
    if (err && errlen)
        err[0] = '\0';
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (err && errlen)
            snprintf(err, errlen, "%s:%d:%d: JSON syntax error: %s", c.name, je.line, je.column, je.text);
        return NULL;
    }
    sim_scenario *s = calloc(1, sizeof *s);
    if (!s) {
        json_decref(root);
        fail(&c, "$", "out of memory");
        return NULL;
    }
    snprintf(s->path, sizeof s->path, "%s", name);
    snprintf(s->name, sizeof s->name, "%s", base ? base + 1 : name);
    s->seed = 1;
    s->speed = 1.0;
    int rc = parse_root(&c, root, opts, s);
    json_decref(root);
    if (rc < 0) {
        sim_scenario_free(s);
        return NULL;
    }
    return s;
}

sim_scenario *sim_scenario_load(const char *path, const sim_scenario_opts *opts, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= (4u << 20)) {
                fclose(fp);
                free(buf);
                if (err && errlen)
                    snprintf(err, errlen, "%s: file larger than 4 MiB", path);
                return NULL;
            }
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                fclose(fp);
                free(buf);
                if (err && errlen)
                    snprintf(err, errlen, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    fclose(fp);
    sim_scenario *s = sim_scenario_parse(buf, len, path, opts, err, errlen);
    free(buf);
    return s;
}

size_t sim_scenario_due(sim_scenario *s, int64_t elapsed_ms, const sim_step **out, size_t cap)
{
    size_t n = 0;
    while (n < cap && s->next < s->n_steps && s->steps[s->next].at_ms <= elapsed_ms)
        out[n++] = &s->steps[s->next++];
    return n;
}

int64_t sim_scenario_next_at(const sim_scenario *s)
{
    return s->next < s->n_steps ? s->steps[s->next].at_ms : INT64_MAX;
}

bool sim_scenario_done(const sim_scenario *s)
{
    return s->next >= s->n_steps || (s->next > 0 && s->steps[s->next - 1].kind == SIM_STEP_END);
}

void sim_scenario_rewind(sim_scenario *s)
{
    s->next = 0;
}

size_t sim_scenario_step_format(const sim_step *st, char *out, size_t cap)
{
    if (!cap)
        return 0;
    char body[320] = "";
    switch (st->kind) {
    case SIM_STEP_LOAD:
        snprintf(body, sizeof body, "load phase=%d watts=%g pf=%g", st->u.load.phase, st->u.load.watts,
                 st->u.load.pf);
        break;
    case SIM_STEP_FAULT: {
        char f[256];
        sim_fault_spec_format(&st->u.fault, f, sizeof f);
        snprintf(body, sizeof body, "fault %s", f);
        break;
    }
    case SIM_STEP_PFAULT: {
        char f[256];
        sim_pfault_spec_format(&st->u.pfault, f, sizeof f);
        snprintf(body, sizeof body, "fault %s", f);
        break;
    }
    case SIM_STEP_GLITCH: {
        char f[256];
        sim_glitch_spec_format(&st->u.glitch, f, sizeof f);
        snprintf(body, sizeof body, "glitch %s", f);
        break;
    }
    case SIM_STEP_STOP: snprintf(body, sizeof body, "stop %s", st->u.stop); break;
    case SIM_STEP_ALERT:
        snprintf(body, sizeof body, "alert %s flags=0x%02X", st->u.alert.clear ? "clear" : "raise",
                 st->u.alert.flags);
        break;
    case SIM_STEP_CLOCK: snprintf(body, sizeof body, "clock utc_ms=%lld", (long long)st->u.clock_utc_ms); break;
    case SIM_STEP_SEQ_JUMP: snprintf(body, sizeof body, "seq_jump %+lld", (long long)st->u.seq_jump); break;
    case SIM_STEP_OPTICAL:
        if (st->u.optical.stop)
            snprintf(body, sizeof body, "optical probe session stop");
        else
            snprintf(body, sizeof body, "optical probe session %.1f s%s", st->u.optical.seconds,
                     st->u.optical.echo ? "" : " (no echo)");
        break;
    case SIM_STEP_POLICY: {
        const sim_scenario_policy *p = &st->u.policy;
        size_t o = (size_t)snprintf(body, sizeof body, "policy");
        if (p->has_reply_delay_ms)
            o += (size_t)snprintf(body + o, sizeof body - o, " reply_delay_ms=%u", (unsigned)p->reply_delay_ms);
        if (p->has_reply_jitter_ms && o < sizeof body)
            o += (size_t)snprintf(body + o, sizeof body - o, " reply_jitter_ms=%u", (unsigned)p->reply_jitter_ms);
        if (p->has_proc_latency_ms && o < sizeof body)
            snprintf(body + o, sizeof body - o, " proc_latency_ms=%u", (unsigned)p->proc_latency_ms);
        break;
    }
    default: snprintf(body, sizeof body, "%s", sim_scenario_step_kind_name(st->kind)); break;
    }
    int w = snprintf(out, cap, "t=%lld.%03llds %s%s%s", (long long)(st->at_ms / 1000),
                     (long long)(st->at_ms % 1000), body, st->note[0] ? " -- " : "", st->note);
    return w < 0 ? 0 : (size_t)w < cap ? (size_t)w : cap - 1;
}

int sim_scenario_meter_cfg(const sim_scenario *sc, const char *profile_path, sim_profile *prof,
                           sim_meter_cfg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (sc) {
        if (sim_profile_load(prof, sc->profile, err, errlen) != 0)
            return -1;
        if (sc->has_bt21)
            memcpy(prof->bt21, sc->bt21, sizeof prof->bt21);
        for (size_t i = 0; i < sizeof prof->et11; i++)
            if (sc->et11_mask & (1ull << i))
                prof->et11[i] = sc->et11[i];
    } else if (profile_path && profile_path[0]) {
        if (sim_profile_load(prof, profile_path, err, errlen) != 0)
            return -1;
    } else {
        sim_profile_default(prof);
    }
    sim_scenario_meter_cfg_of(sc, prof, out);
    return 0;
}

void sim_scenario_meter_cfg_of(const sim_scenario *sc, const sim_profile *prof, sim_meter_cfg *out)
{
    memset(out, 0, sizeof *out);
    out->profile = prof;
    memcpy(out->mbk, (sc && sc->has_mbk) ? sc->mbk : prof->mbk, 16);
    memcpy(out->mak, (sc && sc->has_mak) ? sc->mak : prof->mak, 16);
    out->has_seq_start = (sc && sc->has_seq_start) || prof->has_seq_start;
    out->seq_start = (sc && sc->has_seq_start) ? sc->seq_start : prof->seq_start;
    out->seed = sc ? sc->seed : 0;
    out->speed = (sc && sc->speed > 0) ? sc->speed : 1.0;
    out->start_utc_ms = (sc && sc->has_start_utc) ? sc->start_utc_ms : prof->start_utc_s * 1000;
    out->policy = prof->policy;
    if (sc) {
        const sim_scenario_policy *sp = &sc->policy;
        if (sp->has_seq_reply) out->policy.seq_reply = (sim_seq_reply)sp->seq_reply;
        if (sp->has_seq_window) out->policy.seq_window = sp->seq_window;
        if (sp->has_strict_full_read_count) out->policy.strict_full_read_count = sp->strict_full_read_count;
        if (sp->has_auth_reply) out->policy.auth_reply = (sim_auth_reply)sp->auth_reply;
        if (sp->has_past_end_error) out->policy.past_end_error = sp->past_end_error;
        if (sp->has_proc_latency_ms) out->policy.proc_latency_ms = sp->proc_latency_ms;
        if (sp->has_reply_delay_ms) out->policy.reply_delay_ms = sp->reply_delay_ms;
        if (sp->has_reply_jitter_ms) out->policy.reply_jitter_ms = sp->reply_jitter_ms;
    }
}
