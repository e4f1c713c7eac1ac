/* host_dash: the JSON documents mepmod serves (see host_dash.h). */
#include "host_dash.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNIX_2000 946684800LL /* 2000-01-01T00:00:00Z: BT52 counts from here */

/* BT28 value index -> output name (docs/module-behaviour.md 7, 8.1, 8.2). */
static const host_bt28_member bt28_members[] = {
    {"Fwd_W", 0},          {"Rev_W", 1},          {"ImportReactive_VAr", 2},
    {"ExportReactive_VAr", 3}, {"L1_RMS_A", 4},   {"L2_RMS_A", 5},
    {"L3_RMS_A", 6},       {"L1_RMS_V", 7},       {"L2_RMS_V", 8},
    {"L3_RMS_V", 9},       {"L1_PF_Fac", 10},     {"Freq_mHz", 11},
    {"Apparent_VA", 12},   {"L2_PF_Fac", 13},     {"L3_PF_Fac", 14},
    {"L1_Fwd_W", 26},      {"L2_Fwd_W", 27},      {"L3_Fwd_W", 28},
    {"L1_Rev_W", 29},      {"L2_Rev_W", 30},      {"L3_Rev_W", 31},
    {"Fwd_Avg_W", 47},     {"Rev_Avg_W", 48},     {"L1_Fwd_Avg_W", 49},
    {"L2_Fwd_Avg_W", 50},  {"L3_Fwd_Avg_W", 51},  {"L1_Rev_Avg_W", 52},
    {"L2_Rev_Avg_W", 53},  {"L3_Rev_Avg_W", 54},
};

const host_bt28_member *host_dash_bt28_member(const char *name)
{
    for (size_t i = 0; i < sizeof bt28_members / sizeof bt28_members[0]; i++)
        if (!strcmp(bt28_members[i].name, name))
            return &bt28_members[i];
    return NULL;
}

/* The numeric members of 8.1 after the two energy members, in the order the
 * reference emits them. */
static const char *const dash_bt28_order[] = {
    "Fwd_W", "Rev_W", "Freq_mHz", "L1_RMS_A", "L2_RMS_A", "L3_RMS_A", "L1_RMS_V", "L2_RMS_V",
    "L3_RMS_V", "L1_Fwd_W", "L2_Fwd_W", "L3_Fwd_W", "L1_Rev_W", "L2_Rev_W", "L3_Rev_W",
    "Fwd_Avg_W", "Rev_Avg_W", "L1_Fwd_Avg_W", "L2_Fwd_Avg_W", "L3_Fwd_Avg_W", "L1_Rev_Avg_W",
    "L2_Rev_Avg_W", "L3_Rev_Avg_W", NULL};

/* 8.2 topics (after "<prefix>/") and their members. */
static const char *const mqtt_topics[HOST_MQTT_TOPICS] = {
    "sensors/mydatajson", "meterConsumptionTotal/mydatajson", "meterConsumptionFwd/mydatajson",
    "meterConsumptionRev/mydatajson", "frequency/mydatajson"};
static const char *const mqtt_members[HOST_MQTT_TOPICS][12] = {
    {"L1_RMS_A", "L2_RMS_A", "L3_RMS_A", "L1_RMS_V", "L2_RMS_V", "L3_RMS_V", "L1_PF_Fac",
     "L2_PF_Fac", "L3_PF_Fac", "ExportReactive_VAr", "ImportReactive_VAr", NULL},
    {"Fwd_Act_Wh", "Rev_Act_Wh", NULL},
    {"Fwd_W", "Fwd_Avg_W", "L1_Fwd_W", "L2_Fwd_W", "L3_Fwd_W", "L1_Fwd_Avg_W", "L2_Fwd_Avg_W",
     "L3_Fwd_Avg_W", NULL},
    {"Rev_W", "Rev_Avg_W", "L1_Rev_W", "L2_Rev_W", "L3_Rev_W", "L1_Rev_Avg_W", "L2_Rev_Avg_W",
     "L3_Rev_Avg_W", NULL},
    {"Freq_mHz", NULL},
};

static const char *const weekdays[7] = {"Sunday", "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};

host_clock host_dash_clock(const mepc_readings *r, uint32_t now_ms, int64_t host_unix_s)
{
    host_clock c;
    if (r->clock_valid) {
        /* BT52 read at clock_set_at_ms; extrapolate with our monotonic time
         * (wrapping uint32 difference is exact for ~49 days). */
        uint32_t since = now_ms - r->clock_set_at_ms;
        c.unix_s = UNIX_2000 + (int64_t)r->clock_s2000 + since / 1000u;
        c.from_meter = true;
        c.now_ms = now_ms;
    } else {
        /* Before the first BT52 read: the host clock, so the strings are never
         * malformed (the reference's "20-30" quirk, 8.1). */
        c.unix_s = host_unix_s;
        c.from_meter = false;
        c.now_ms = now_ms;
    }
    return c;
}

void host_dash_format_time(int64_t unix_s, char iso[32], char human[48])
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof tm);
    int year = tm.tm_year + 1900;
    if (year < 2000 || year > 2099)
        year = year < 2000 ? 2000 : 2099; /* the 20YY format cannot say more */
    /* every field reduced to its digits so the widths are provable */
    unsigned y = (unsigned)year % 10000u, mo = (unsigned)(tm.tm_mon + 1) % 100u,
             d = (unsigned)tm.tm_mday % 100u, h = (unsigned)tm.tm_hour % 100u,
             mi = (unsigned)tm.tm_min % 100u, s = (unsigned)tm.tm_sec % 100u;
    snprintf(iso, 32, "%04u-%02u-%02uT%02u:%02u:%02u.000Z", y, mo, d, h, mi, s);
    snprintf(human, 48, "%04u-%02u-%02u (%s) @ %02u:%02u:%02u", y, mo, d,
             weekdays[(unsigned)tm.tm_wday % 7u], h, mi, s);
}

/* Age (ms) of the older of the two snapshots served. */
static uint32_t readings_age_ms(const mepc_readings *r, uint32_t now_ms)
{
    uint32_t e = now_ms - r->energy_at_ms, p = now_ms - r->bt28.at_ms;
    return e > p ? e : p;
}

bool host_dash_ready(const mepc_readings *r, uint32_t now_ms, const char **reason)
{
    const char *why = NULL;
    uint32_t poll = r->poll_ms ? r->poll_ms : 2000u;
    if (r->status == MEPC_ST_AUTH_FAIL && !r->energy_valid)
        why = "authentication failed: check the key (MBK/MAK, or the TLS PSK key)";
    else if (!r->identity_valid)
        why = "meter identity (BT01/ET03) not read yet";
    else if (!r->energy_valid && r->energy_confirming)
        why = "first energy reading (BT23) not confirmed yet";
    else if (!r->energy_valid)
        why = "no energy reading (BT23) yet";
    else if (!r->present_valid || r->bt28.n < 32)
        why = "no present values (BT28) yet";
    else if (readings_age_ms(r, now_ms) > HOST_DASH_STALE_POLLS * poll + HOST_DASH_STALE_SLACK_MS)
        why = "stale: the meter has not answered for several polls";
    if (reason)
        *reason = why;
    return why == NULL;
}

const char *host_dash_content_type(int http_status)
{
    return http_status == 200 ? "application/json" : "text/plain; charset=utf-8";
}

/* Printable ASCII only: the core already trims, this makes sure JSON and
 * every HA consumer get valid UTF-8 whatever the meter stored (S30). */
static json_t *clean_string(const char *s, size_t cap)
{
    char buf[64];
    size_t n = 0;
    for (size_t i = 0; i < cap && s[i] && n + 1 < sizeof buf; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[n++] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
    }
    while (n && buf[n - 1] == ' ')
        n--;
    buf[n] = '\0';
    return json_string(buf);
}

static json_int_t bt28_value(const mepc_readings *r, uint8_t index)
{
    return index < r->bt28.n ? (json_int_t)r->bt28.v[index] : 0;
}

/* ---- readings members shared by the documents ----------------------------
 * Every mepc_readings field that more than one document emits (the
 * dashboard's extras and "Counters", /status, the MQTT diagnostics topic)
 * is one row below: its spellings, where it lives and how it becomes a JSON
 * value. A document lists the rows it emits, in its order. */

/* How a field becomes a JSON value. */
typedef enum {
    RD_U32,        /* uint32_t: a JSON integer */
    RD_BOOL,       /* bool */
    RD_STATUS,     /* mepc_status: its name (mepc_status_name) */
    RD_TEXT,       /* char[]: printable ASCII, trailing spaces trimmed (S30) */
    RD_RAW_WH,     /* uint32_t BT23 register: null until a BT23 reply arrived */
} rd_kind;

typedef enum {
    RD_POLLS_OK, RD_TIMEOUTS, RD_RESENDS, RD_SEQ_RESYNCS, RD_AUTH_FAILURES, RD_DIGEST_REJECTS,
    RD_MISMATCHED_REPLIES, RD_RECOVERY_CYCLES, RD_ALERTS_SEEN, RD_PROCEDURES_POSTED, RD_STRAY_BYTES,
    RD_STATUS_NAME, RD_STATUS_TEXT, RD_ENERGY_SUSPECT, RD_SUSPECT_REASON, RD_RAW_FWD_WH, RD_RAW_REV_WH,
    RD_GENERATION, RD_IDENTITY_VALID, RD_CLOCK_VALID, RD_ENERGY_VALID, RD_ENERGY_CONFIRMING,
    RD_PRESENT_VALID,
} rd_id;

/* One field: snake_case (/status, "Counters") and Pascal_Case (dashboard
 * extras, MQTT diagnostics) names; NULL where no document spells it so. */
typedef struct {
    const char *snake, *pascal;
    size_t offset, size;
    rd_kind kind;
} rd_member;

#define RD_ROW(snake, pascal, field, kind) \
    {snake, pascal, offsetof(mepc_readings, field), sizeof((mepc_readings *)0)->field, kind}

static const rd_member rd_members[] = {
    [RD_POLLS_OK] = RD_ROW("polls_ok", "Polls_OK", polls_ok, RD_U32),
    [RD_TIMEOUTS] = RD_ROW("timeouts", "Timeouts", timeouts, RD_U32),
    [RD_RESENDS] = RD_ROW("resends", NULL, resends, RD_U32),
    [RD_SEQ_RESYNCS] = RD_ROW("seq_resyncs", "Seq_Resyncs", seq_resyncs, RD_U32),
    [RD_AUTH_FAILURES] = RD_ROW("auth_failures", "Auth_Failures", auth_failures, RD_U32),
    [RD_DIGEST_REJECTS] = RD_ROW("digest_rejects", "Digest_Rejects", digest_rejects, RD_U32),
    [RD_MISMATCHED_REPLIES] = RD_ROW("mismatched_replies", NULL, mismatched_replies, RD_U32),
    [RD_RECOVERY_CYCLES] = RD_ROW("recovery_cycles", "Recovery_Cycles", recovery_cycles, RD_U32),
    [RD_ALERTS_SEEN] = RD_ROW("alerts_seen", NULL, alerts_seen, RD_U32),
    [RD_PROCEDURES_POSTED] = RD_ROW("procedures_posted", NULL, procedures_posted, RD_U32),
    [RD_STRAY_BYTES] = RD_ROW("stray_bytes", NULL, stray_bytes, RD_U32),
    [RD_STATUS_NAME] = RD_ROW("status", "Status", status, RD_STATUS),
    [RD_STATUS_TEXT] = RD_ROW("status_text", "Status_Text", status_text, RD_TEXT),
    [RD_ENERGY_SUSPECT] = RD_ROW("energy_suspect", "Energy_Suspect", energy_suspect, RD_BOOL),
    [RD_SUSPECT_REASON] = RD_ROW("suspect_reason", "Suspect_Reason", suspect_reason, RD_TEXT),
    [RD_RAW_FWD_WH] = RD_ROW(NULL, "Raw_Fwd_Act_Wh", raw_fwd_wh, RD_RAW_WH),
    [RD_RAW_REV_WH] = RD_ROW(NULL, "Raw_Rev_Act_Wh", raw_rev_wh, RD_RAW_WH),
    [RD_GENERATION] = RD_ROW("generation", "Generation", generation, RD_U32),
    [RD_IDENTITY_VALID] = RD_ROW("identity_valid", NULL, identity_valid, RD_BOOL),
    [RD_CLOCK_VALID] = RD_ROW("clock_valid", NULL, clock_valid, RD_BOOL),
    [RD_ENERGY_VALID] = RD_ROW("energy_valid", NULL, energy_valid, RD_BOOL),
    [RD_ENERGY_CONFIRMING] = RD_ROW("energy_confirming", NULL, energy_confirming, RD_BOOL),
    [RD_PRESENT_VALID] = RD_ROW("present_valid", NULL, present_valid, RD_BOOL),
};

/* The core's counters: "Counters" of the dashboard, "counters" of /status. */
static const rd_id rd_counters[] = {
    RD_POLLS_OK, RD_TIMEOUTS, RD_RESENDS, RD_SEQ_RESYNCS, RD_AUTH_FAILURES, RD_DIGEST_REJECTS,
    RD_MISMATCHED_REPLIES, RD_RECOVERY_CYCLES, RD_ALERTS_SEEN, RD_PROCEDURES_POSTED, RD_STRAY_BYTES};
/* The dashboard's extras before Clock_Source (HA ignores unknown members). */
static const rd_id rd_dash_extras[] = {RD_STATUS_NAME, RD_STATUS_TEXT, RD_ENERGY_SUSPECT, RD_SUSPECT_REASON,
                                       RD_RAW_FWD_WH, RD_RAW_REV_WH};
/* /status, in three runs around the members computed there. */
static const rd_id rd_status_head[] = {RD_STATUS_NAME, RD_STATUS_TEXT};
static const rd_id rd_status_valid[] = {RD_IDENTITY_VALID, RD_CLOCK_VALID, RD_ENERGY_VALID,
                                        RD_ENERGY_CONFIRMING};
static const rd_id rd_status_tail[] = {RD_PRESENT_VALID, RD_ENERGY_SUSPECT, RD_SUSPECT_REASON, RD_GENERATION};
/* The MQTT diagnostics topic (mepc_discovery.h: the diagnostic entities'
 * value templates read these members). */
static const rd_id rd_diag[] = {RD_STATUS_NAME, RD_STATUS_TEXT, RD_ENERGY_SUSPECT, RD_RAW_FWD_WH, RD_RAW_REV_WH,
                                RD_POLLS_OK, RD_TIMEOUTS, RD_DIGEST_REJECTS, RD_AUTH_FAILURES,
                                RD_RECOVERY_CYCLES, RD_SEQ_RESYNCS};

typedef enum { RD_SNAKE, RD_PASCAL } rd_spelling;

static json_t *rd_value(const mepc_readings *r, const rd_member *m)
{
    const char *p = (const char *)r + m->offset;
    switch (m->kind) {
    case RD_U32: return json_integer(*(const uint32_t *)p);
    case RD_BOOL: return json_boolean(*(const bool *)p);
    case RD_STATUS: return json_string(mepc_status_name(*(const mepc_status *)p));
    case RD_TEXT: return clean_string(p, m->size);
    case RD_RAW_WH:
        /* the dashboard is served only with energy_valid, so there it is never null */
        return r->energy_valid || r->energy_confirming ? json_integer(*(const uint32_t *)p) : json_null();
    }
    return json_null();
}

static void rd_put_one(json_t *o, const mepc_readings *r, rd_id id, rd_spelling sp)
{
    const rd_member *m = &rd_members[id];
    json_object_set_new(o, sp == RD_SNAKE ? m->snake : m->pascal, rd_value(r, m));
}

/* Set the members `ids` of r on o, in that order. */
static void rd_put(json_t *o, const mepc_readings *r, const rd_id *ids, size_t n, rd_spelling sp)
{
    for (size_t i = 0; i < n; i++)
        rd_put_one(o, r, ids[i], sp);
}
#define RD_PUT(o, r, list, sp) rd_put(o, r, list, sizeof list / sizeof list[0], sp)

static json_t *counters_object(const mepc_readings *r)
{
    json_t *o = json_object();
    RD_PUT(o, r, rd_counters, RD_SNAKE);
    return o;
}

static char *dump(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

char *host_dash_json(const mepc_readings *r, const host_clock *clk, json_t *extra, int *http_status)
{
    const char *reason = NULL;
    json_t *o = json_object();
    char iso[32], human[48];
    host_dash_format_time(clk->unix_s, iso, human);

    if (!host_dash_ready(r, clk->now_ms, &reason)) {
        /* 8.4: a consumer that ignores the status code parses any JSON body
         * as data; this body is not JSON (it starts with a letter) */
        json_decref(o);
        *http_status = 503;
        char text[64];
        size_t n = 0;
        for (; n + 1 < sizeof text && r->status_text[n]; n++) {
            unsigned char ch = (unsigned char)r->status_text[n];
            text[n] = (ch >= 0x20 && ch < 0x7F) ? (char)ch : '?';
        }
        text[n] = '\0';
        size_t cap = 512;
        char *body = malloc(cap);
        if (body)
            snprintf(body, cap, "not ready: %s\nStatus: %s\nStatus_Text: %s\nCurrentDateTime: %s\n", reason,
                     mepc_status_name(r->status), text, iso);
        (void)extra;
        return body;
    }
    *http_status = 200;
    char sw[16];
    snprintf(sw, sizeof sw, "%s", r->sw_version);
    json_object_set_new(o, "ESP_SW", json_string(HOST_SW_NAME));
    json_object_set_new(o, "ESP_SW_By", json_string(HOST_SW_BY));
    json_object_set_new(o, "ESP_SW_Version", json_string(HOST_SW_VERSION));
    json_object_set_new(o, "Meter_Manufacturer", clean_string(r->manufacturer, sizeof r->manufacturer));
    json_object_set_new(o, "Meter_Model", clean_string(r->model, sizeof r->model));
    json_object_set_new(o, "Meter_SW_Version", clean_string(sw, sizeof sw));
    json_t *sn = clean_string(r->utility_sn, sizeof r->utility_sn);
    if (!json_string_length(sn)) {
        /* a meter with a blank ET03: HA needs a non-empty serial (8.4) */
        json_decref(sn);
        sn = json_string("unknown");
    }
    json_object_set_new(o, "Utility_SN", sn);
    json_object_set_new(o, "CurrentDateTimeString", json_string(human));
    json_object_set_new(o, "CurrentDateTime", json_string(iso));
    /* both Wh members from one BT23 reply, every BT28 member from one BT28
     * reply (10): the core keeps each snapshot whole */
    json_object_set_new(o, "Fwd_Act_Wh", json_integer((json_int_t)r->fwd_wh));
    json_object_set_new(o, "Rev_Act_Wh", json_integer((json_int_t)r->rev_wh));
    for (int i = 0; dash_bt28_order[i]; i++) {
        const host_bt28_member *m = host_dash_bt28_member(dash_bt28_order[i]);
        json_object_set_new(o, m->name, json_integer(bt28_value(r, m->index)));
    }
    /* extras (HA ignores unknown members) */
    RD_PUT(o, r, rd_dash_extras, RD_PASCAL);
    json_object_set_new(o, "Clock_Source", json_string(clk->from_meter ? "meter" : "host"));
    /* whole seconds since the energy reply arrived: stale readings are visible */
    json_object_set_new(o, "Energy_Age_s", json_integer((json_int_t)((clk->now_ms - r->energy_at_ms) / 1000u)));
    rd_put_one(o, r, RD_GENERATION, RD_PASCAL);
    json_t *c = counters_object(r);
    if (extra)
        json_object_update(c, extra);
    json_object_set_new(o, "Counters", c);
    return dump(o);
}

char *host_dash_status_json(const mepc_readings *r, uint32_t now_ms, json_t *extra)
{
    json_t *o = json_object();
    const char *reason = NULL;
    bool ready = host_dash_ready(r, now_ms, &reason);
    RD_PUT(o, r, rd_status_head, RD_SNAKE);
    json_object_set_new(o, "ready", json_boolean(ready));
    json_object_set_new(o, "not_ready_reason", reason ? json_string(reason) : json_null());
    RD_PUT(o, r, rd_status_valid, RD_SNAKE);
    json_object_set_new(o, "readings_age_ms", json_integer((json_int_t)readings_age_ms(r, now_ms)));
    RD_PUT(o, r, rd_status_tail, RD_SNAKE);
    json_object_set_new(o, "counters", counters_object(r));
    if (extra)
        json_object_update(o, extra);
    return dump(o);
}

char *host_dash_diag_payload(const mepc_readings *r)
{
    json_t *o = json_object();
    RD_PUT(o, r, rd_diag, RD_PASCAL);
    return dump(o);
}

const char *host_dash_mqtt_topic(int i)
{
    return (i >= 0 && i < HOST_MQTT_TOPICS) ? mqtt_topics[i] : NULL;
}

char *host_dash_mqtt_payload(const mepc_readings *r, uint32_t now_ms, int i)
{
    if (i < 0 || i >= HOST_MQTT_TOPICS || !host_dash_ready(r, now_ms, NULL))
        return NULL;
    json_t *o = json_object();
    for (int k = 0; mqtt_members[i][k]; k++) {
        const char *name = mqtt_members[i][k];
        if (!strcmp(name, "Fwd_Act_Wh"))
            json_object_set_new(o, name, json_integer((json_int_t)r->fwd_wh));
        else if (!strcmp(name, "Rev_Act_Wh"))
            json_object_set_new(o, name, json_integer((json_int_t)r->rev_wh));
        else
            json_object_set_new(o, name, json_integer(bt28_value(r, host_dash_bt28_member(name)->index)));
    }
    return dump(o);
}

const char *host_dash_cached(host_dash_cache *c, const mepc_readings *r, const host_clock *clk,
                             json_t *extra, int *http_status, size_t *len)
{
    if (!c->valid || c->generation != r->generation || c->second != clk->unix_s) {
        char *body = host_dash_json(r, clk, extra, &c->status);
        if (body) {
            free(c->body);
            c->body = body;
            c->len = strlen(body);
            c->generation = r->generation;
            c->second = clk->unix_s;
            c->valid = true;
            c->builds++;
        }
    }
    if (!c->valid) {
        *http_status = 500;
        *len = 0;
        return "";
    }
    *http_status = c->status;
    *len = c->len;
    return c->body;
}

void host_dash_cache_free(host_dash_cache *c)
{
    free(c->body);
    memset(c, 0, sizeof *c);
}
