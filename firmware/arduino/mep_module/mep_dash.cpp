/* mep_dash: the documents the module publishes (see mep_dash.h). */
#include "mep_dash.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "mep_json.h"

#define UNIX_2000 946684800LL /* 2000-01-01T00:00:00Z: BT52 counts from here */

typedef struct {
    const char *name;
    uint8_t index;           /* BT28 value index (docs/module-behaviour.md 7, docs/mep.md 12.8) */
} bt28_member;

/* The numeric members of 8.1 after the two energy members, in the order the
 * reference emits them. */
static const bt28_member dash_members[] = {
    {"Fwd_W", 0},         {"Rev_W", 1},         {"Freq_mHz", 11},     {"L1_RMS_A", 4},
    {"L2_RMS_A", 5},      {"L3_RMS_A", 6},      {"L1_RMS_V", 7},      {"L2_RMS_V", 8},
    {"L3_RMS_V", 9},      {"L1_Fwd_W", 26},     {"L2_Fwd_W", 27},     {"L3_Fwd_W", 28},
    {"L1_Rev_W", 29},     {"L2_Rev_W", 30},     {"L3_Rev_W", 31},     {"Fwd_Avg_W", 47},
    {"Rev_Avg_W", 48},    {"L1_Fwd_Avg_W", 49}, {"L2_Fwd_Avg_W", 50}, {"L3_Fwd_Avg_W", 51},
    {"L1_Rev_Avg_W", 52}, {"L2_Rev_Avg_W", 53}, {"L3_Rev_Avg_W", 54},
};

/* 8.2 topics and their members; index 0xFE/0xFF = Fwd_Act_Wh/Rev_Act_Wh. */
#define M_FWD_WH 0xFE
#define M_REV_WH 0xFF
static const char *const mqtt_topics[MEP_MQTT_TOPICS] = {
    "sensors/mydatajson", "meterConsumptionTotal/mydatajson", "meterConsumptionFwd/mydatajson",
    "meterConsumptionRev/mydatajson", "frequency/mydatajson"};
static const bt28_member mqtt_members[MEP_MQTT_TOPICS][12] = {
    {{"L1_RMS_A", 4}, {"L2_RMS_A", 5}, {"L3_RMS_A", 6}, {"L1_RMS_V", 7}, {"L2_RMS_V", 8}, {"L3_RMS_V", 9},
     {"L1_PF_Fac", 10}, {"L2_PF_Fac", 13}, {"L3_PF_Fac", 14}, {"ExportReactive_VAr", 3},
     {"ImportReactive_VAr", 2}, {NULL, 0}},
    {{"Fwd_Act_Wh", M_FWD_WH}, {"Rev_Act_Wh", M_REV_WH}, {NULL, 0}},
    {{"Fwd_W", 0}, {"Fwd_Avg_W", 47}, {"L1_Fwd_W", 26}, {"L2_Fwd_W", 27}, {"L3_Fwd_W", 28},
     {"L1_Fwd_Avg_W", 49}, {"L2_Fwd_Avg_W", 50}, {"L3_Fwd_Avg_W", 51}, {NULL, 0}},
    {{"Rev_W", 1}, {"Rev_Avg_W", 48}, {"L1_Rev_W", 29}, {"L2_Rev_W", 30}, {"L3_Rev_W", 31},
     {"L1_Rev_Avg_W", 52}, {"L2_Rev_Avg_W", 53}, {"L3_Rev_Avg_W", 54}, {NULL, 0}},
    {{"Freq_mHz", 11}, {NULL, 0}},
};

static const char *const weekdays[7] = {"Sunday", "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};

MepClock mep_dash_clock(const mepc_readings *r, uint32_t now_ms, int64_t own_unix_s)
{
    MepClock c;
    if (r && r->clock_valid) {
        /* wrapping uint32 difference: exact for ~49 days between BT52 reads */
        c.unix_s = UNIX_2000 + (int64_t)r->clock_s2000 + (int64_t)((now_ms - r->clock_set_at_ms) / 1000u);
        c.from_meter = true;
    } else {
        c.unix_s = own_unix_s;
        c.from_meter = false;
    }
    return c;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

void mep_dash_format_time(int64_t unix_s, char iso[32], char human[48])
{
    /* 8.1: the 20YY format cannot say more than 2000..2099 */
    if (unix_s < UNIX_2000)
        unix_s = UNIX_2000;
    int64_t days = unix_s / 86400, rem = unix_s % 86400;
    int wday = (int)((days + 4) % 7); /* 1970-01-01 was a Thursday */
    int y = 1970;
    while (days >= (leap(y) ? 366 : 365)) {
        days -= leap(y) ? 366 : 365;
        y++;
    }
    static const uint8_t mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int m = 0;
    while (m < 11 && days >= mdays[m] + (m == 1 && leap(y))) {
        days -= mdays[m] + (m == 1 && leap(y));
        m++;
    }
    if (y > 2099) {
        y = 2099;
    }
    unsigned h = (unsigned)(rem / 3600), mi = (unsigned)(rem / 60 % 60), s = (unsigned)(rem % 60);
    snprintf(iso, 32, "%04u-%02u-%02uT%02u:%02u:%02u.000Z", (unsigned)y, (unsigned)m + 1,
             (unsigned)days + 1, h, mi, s);
    snprintf(human, 48, "%04u-%02u-%02u (%s) @ %02u:%02u:%02u", (unsigned)y, (unsigned)m + 1,
             (unsigned)days + 1, weekdays[wday], h, mi, s);
}

/* Age (ms) of the older of the two snapshots served. */
static uint32_t readings_age_ms(const mepc_readings *r, uint32_t now_ms)
{
    uint32_t e = now_ms - r->energy_at_ms, p = now_ms - r->bt28.at_ms;
    return e > p ? e : p;
}

const char *mep_dash_not_ready(const mepc_readings *r, uint32_t now_ms)
{
    if (!r)
        return "no MBK configured: set one at /setup";
    uint32_t poll = r->poll_ms ? r->poll_ms : 2000u;
    if (r->status == MEPC_ST_AUTH_FAIL && !r->energy_valid)
        return "authentication failed: check the key (MBK/MAK)";
    if (!r->identity_valid)
        return "meter identity (BT01/ET03) not read yet";
    if (!r->energy_valid && r->energy_confirming)
        return "first energy reading (BT23) not confirmed yet";
    if (!r->energy_valid)
        return "no energy reading (BT23) yet";
    if (!r->present_valid || r->bt28.n < 32)
        return "no present values (BT28) yet";
    if (readings_age_ms(r, now_ms) > MEP_DASH_STALE_POLLS * poll + MEP_DASH_STALE_SLACK_MS)
        return "stale: the meter has not answered for several polls";
    return NULL;
}

const char *mep_dash_content_type(int http_status)
{
    return http_status == 200 ? "application/json" : "text/plain; charset=utf-8";
}

static int64_t bt28_value(const mepc_readings *r, uint8_t index)
{
    return index < r->bt28.n ? (int64_t)r->bt28.v[index] : 0;
}

/* ---- readings members shared by the documents ----------------------------
 * Every mepc_readings field that more than one document emits (the
 * dashboard's extras and "Counters", /status, the MQTT diagnostics topic)
 * is one row below: its spellings, where it lives and how it becomes a JSON
 * value. A document lists the rows it emits, in its order. */

/* How a field becomes a JSON value. */
enum RdKind : uint8_t {
    RD_U32,        /* uint32_t: a JSON integer */
    RD_BOOL,       /* bool */
    RD_STATUS,     /* mepc_status: its name (mepc_status_name) */
    RD_TEXT,       /* char[]: MepJson::str (printable ASCII, trailing spaces trimmed) */
    RD_RAW_WH,     /* uint32_t BT23 register: null until a BT23 reply arrived */
};

enum RdId : uint8_t {
    RD_POLLS_OK, RD_TIMEOUTS, RD_RESENDS, RD_SEQ_RESYNCS, RD_AUTH_FAILURES, RD_DIGEST_REJECTS,
    RD_MISMATCHED_REPLIES, RD_RECOVERY_CYCLES, RD_ALERTS_SEEN, RD_PROCEDURES_POSTED, RD_STRAY_BYTES,
    RD_STATUS_NAME, RD_STATUS_TEXT, RD_ENERGY_SUSPECT, RD_SUSPECT_REASON, RD_RAW_FWD_WH, RD_RAW_REV_WH,
    RD_GENERATION, RD_IDENTITY_VALID, RD_CLOCK_VALID, RD_ENERGY_VALID, RD_PRESENT_VALID,
    RD_ENERGY_CONFIRMING, RD_COUNT
};

/* One field: snake_case (/status, "Counters") and Pascal_Case (dashboard
 * extras, MQTT diagnostics) names; NULL where no document spells it so. */
struct RdMember {
    RdId id;                 /* its own index: checked below */
    const char *snake, *pascal;
    size_t offset, size;
    RdKind kind;
};

#define RD_ROW(id, snake, pascal, field, kind) \
    {id, snake, pascal, offsetof(mepc_readings, field), sizeof(((mepc_readings *)0)->field), kind}

static constexpr RdMember rd_members[RD_COUNT] = {
    RD_ROW(RD_POLLS_OK, "polls_ok", "Polls_OK", polls_ok, RD_U32),
    RD_ROW(RD_TIMEOUTS, "timeouts", "Timeouts", timeouts, RD_U32),
    RD_ROW(RD_RESENDS, "resends", NULL, resends, RD_U32),
    RD_ROW(RD_SEQ_RESYNCS, "seq_resyncs", "Seq_Resyncs", seq_resyncs, RD_U32),
    RD_ROW(RD_AUTH_FAILURES, "auth_failures", "Auth_Failures", auth_failures, RD_U32),
    RD_ROW(RD_DIGEST_REJECTS, "digest_rejects", "Digest_Rejects", digest_rejects, RD_U32),
    RD_ROW(RD_MISMATCHED_REPLIES, "mismatched_replies", NULL, mismatched_replies, RD_U32),
    RD_ROW(RD_RECOVERY_CYCLES, "recovery_cycles", "Recovery_Cycles", recovery_cycles, RD_U32),
    RD_ROW(RD_ALERTS_SEEN, "alerts_seen", NULL, alerts_seen, RD_U32),
    RD_ROW(RD_PROCEDURES_POSTED, "procedures_posted", NULL, procedures_posted, RD_U32),
    RD_ROW(RD_STRAY_BYTES, "stray_bytes", NULL, stray_bytes, RD_U32),
    RD_ROW(RD_STATUS_NAME, "status", "Status", status, RD_STATUS),
    RD_ROW(RD_STATUS_TEXT, "status_text", "Status_Text", status_text, RD_TEXT),
    RD_ROW(RD_ENERGY_SUSPECT, "energy_suspect", "Energy_Suspect", energy_suspect, RD_BOOL),
    RD_ROW(RD_SUSPECT_REASON, "suspect_reason", "Suspect_Reason", suspect_reason, RD_TEXT),
    RD_ROW(RD_RAW_FWD_WH, NULL, "Raw_Fwd_Act_Wh", raw_fwd_wh, RD_RAW_WH),
    RD_ROW(RD_RAW_REV_WH, NULL, "Raw_Rev_Act_Wh", raw_rev_wh, RD_RAW_WH),
    RD_ROW(RD_GENERATION, "generation", "Generation", generation, RD_U32),
    RD_ROW(RD_IDENTITY_VALID, "identity_valid", NULL, identity_valid, RD_BOOL),
    RD_ROW(RD_CLOCK_VALID, "clock_valid", NULL, clock_valid, RD_BOOL),
    RD_ROW(RD_ENERGY_VALID, "energy_valid", NULL, energy_valid, RD_BOOL),
    RD_ROW(RD_PRESENT_VALID, "present_valid", NULL, present_valid, RD_BOOL),
    RD_ROW(RD_ENERGY_CONFIRMING, "energy_confirming", NULL, energy_confirming, RD_BOOL),
};

static constexpr bool rd_rows_in_order(size_t i = 0)
{
    return i == RD_COUNT || ((size_t)rd_members[i].id == i && rd_rows_in_order(i + 1));
}
static_assert(rd_rows_in_order(), "rd_members rows must stand in RdId order");

/* The core's counters: "Counters" of the dashboard and of /status. */
static const RdId rd_counters[] = {
    RD_POLLS_OK, RD_TIMEOUTS, RD_RESENDS, RD_SEQ_RESYNCS, RD_AUTH_FAILURES, RD_DIGEST_REJECTS,
    RD_MISMATCHED_REPLIES, RD_RECOVERY_CYCLES, RD_ALERTS_SEEN, RD_PROCEDURES_POSTED, RD_STRAY_BYTES};
/* The dashboard's extras before Clock_Source (HA ignores unknown members). */
static const RdId rd_dash_extras[] = {RD_STATUS_NAME, RD_STATUS_TEXT, RD_ENERGY_SUSPECT, RD_SUSPECT_REASON,
                                      RD_RAW_FWD_WH, RD_RAW_REV_WH};
/* /status, once a client runs (after the members computed there). */
static const RdId rd_status[] = {RD_IDENTITY_VALID, RD_CLOCK_VALID, RD_ENERGY_VALID, RD_PRESENT_VALID,
                                 RD_ENERGY_CONFIRMING, RD_ENERGY_SUSPECT, RD_SUSPECT_REASON, RD_GENERATION};
/* The MQTT diagnostics topic (mepc_discovery.h: the diagnostic entities'
 * value templates read these members). */
static const RdId rd_diag[] = {RD_STATUS_NAME, RD_STATUS_TEXT, RD_ENERGY_SUSPECT, RD_RAW_FWD_WH, RD_RAW_REV_WH,
                               RD_POLLS_OK, RD_TIMEOUTS, RD_DIGEST_REJECTS, RD_AUTH_FAILURES,
                               RD_RECOVERY_CYCLES, RD_SEQ_RESYNCS};

enum RdSpelling : uint8_t { RD_SNAKE, RD_PASCAL };

static void rd_put_one(MepJson &j, const mepc_readings *r, RdId id, RdSpelling sp)
{
    const RdMember &m = rd_members[id];
    const char *name = sp == RD_SNAKE ? m.snake : m.pascal;
    const char *p = (const char *)r + m.offset;
    switch (m.kind) {
    case RD_U32: j.integer(name, *(const uint32_t *)p); break;
    case RD_BOOL: j.boolean(name, *(const bool *)p); break;
    case RD_STATUS: j.str(name, mepc_status_name(*(const mepc_status *)p)); break;
    case RD_TEXT: j.str(name, p, m.size); break;
    case RD_RAW_WH:
        /* the dashboard is served only with energy_valid, so there it is never null */
        if (r->energy_valid || r->energy_confirming)
            j.integer(name, *(const uint32_t *)p);
        else
            j.null(name);
        break;
    }
}

/* Write the members `ids` of r, in that order. */
template <size_t N>
static void rd_put(MepJson &j, const mepc_readings *r, const RdId (&ids)[N], RdSpelling sp)
{
    for (size_t i = 0; i < N; i++)
        rd_put_one(j, r, ids[i], sp);
}

static void counters(MepJson &j, const mepc_readings *r, const MepPortCounters *pc)
{
    j.object("Counters");
    if (r)
        rd_put(j, r, rd_counters, RD_SNAKE);
    if (pc) {
        j.integer("serial_rx_bytes", pc->rx_bytes);
        j.integer("serial_tx_bytes", pc->tx_bytes);
        j.integer("http_requests", pc->http_requests);
        j.integer("mqtt_published", pc->mqtt_published);
    }
    j.end();
}

static const char *status_name(const mepc_readings *r)
{
    return r ? mepc_status_name(r->status) : "NO_KEY";
}

int mep_dash_json(const mepc_readings *r, const MepClock *clk, uint32_t now_ms, const MepPortCounters *pc,
                  char *buf, size_t cap)
{
    char iso[32], human[48];
    mep_dash_format_time(clk->unix_s, iso, human);
    const char *why = mep_dash_not_ready(r, now_ms);
    if (why) {
        /* 8.4: a consumer that ignores the status code parses any JSON body
         * as data; this body is not JSON (it starts with a letter) */
        char text[64];
        size_t n = 0;
        const char *st = r ? r->status_text : "no key configured";
        for (; n + 1 < sizeof text && st[n]; n++) {
            unsigned char ch = (unsigned char)st[n];
            text[n] = (ch >= 0x20 && ch < 0x7F) ? (char)ch : '?';
        }
        text[n] = '\0';
        snprintf(buf, cap, "not ready: %s\nStatus: %s\nStatus_Text: %s\nCurrentDateTime: %s\n", why,
                 status_name(r), text, iso);
        return 503;
    }
    MepJson j(buf, cap);
    j.begin();
    j.str("ESP_SW", MEP_SW_NAME);
    j.str("ESP_SW_By", MEP_SW_BY);
    j.str("ESP_SW_Version", MEP_SW_VERSION);
    j.str("Meter_Manufacturer", r->manufacturer, sizeof r->manufacturer);
    j.str("Meter_Model", r->model, sizeof r->model);
    j.str("Meter_SW_Version", r->sw_version, sizeof r->sw_version);
    /* a meter with a blank ET03: HA needs a non-empty serial (8.4) */
    bool blank = true;
    for (size_t i = 0; i < sizeof r->utility_sn && r->utility_sn[i]; i++)
        if (r->utility_sn[i] != ' ')
            blank = false;
    j.str("Utility_SN", blank ? "unknown" : r->utility_sn, sizeof r->utility_sn);
    j.str("CurrentDateTimeString", human);
    j.str("CurrentDateTime", iso);
    /* both Wh members from one BT23 reply, every BT28 member from one BT28
     * reply (10): the core keeps each snapshot whole */
    j.integer("Fwd_Act_Wh", r->fwd_wh);
    j.integer("Rev_Act_Wh", r->rev_wh);
    for (size_t i = 0; i < sizeof dash_members / sizeof dash_members[0]; i++)
        j.integer(dash_members[i].name, bt28_value(r, dash_members[i].index));
    /* extras (HA ignores unknown members), as the host port serves them */
    rd_put(j, r, rd_dash_extras, RD_PASCAL);
    j.str("Clock_Source", clk->from_meter ? "meter" : "module");
    j.integer("Energy_Age_s", (int64_t)((now_ms - r->energy_at_ms) / 1000u));
    rd_put_one(j, r, RD_GENERATION, RD_PASCAL);
    counters(j, r, pc);
    j.end();
    return j.ok() ? 200 : 500;
}

void mep_dash_status_json(const mepc_readings *r, const MepPortCounters *pc, bool xcvr_on, bool enable_on,
                          uint32_t now_ms, char *buf, size_t cap)
{
    MepJson j(buf, cap);
    const char *why = mep_dash_not_ready(r, now_ms);
    j.begin();
    j.str("status", status_name(r));
    j.str("status_text", r ? r->status_text : "no key configured", 64);
    j.boolean("ready", why == NULL);
    if (why)
        j.str("not_ready_reason", why);
    else
        j.null("not_ready_reason");
    j.str("board", MEP_BOARD_NAME);
    j.boolean("transceiver_on", xcvr_on);
    j.boolean("enable_on", enable_on);
    if (r)
        rd_put(j, r, rd_status, RD_SNAKE);
    counters(j, r, pc);
    j.end();
}

bool mep_dash_diag_payload(const mepc_readings *r, char *buf, size_t cap)
{
    MepJson j(buf, cap);
    j.begin();
    rd_put(j, r, rd_diag, RD_PASCAL);
    j.end();
    return j.ok();
}

const char *mep_dash_mqtt_topic(int i)
{
    return (i >= 0 && i < MEP_MQTT_TOPICS) ? mqtt_topics[i] : NULL;
}

bool mep_dash_mqtt_payload(const mepc_readings *r, uint32_t now_ms, int i, char *buf, size_t cap)
{
    if (i < 0 || i >= MEP_MQTT_TOPICS || mep_dash_not_ready(r, now_ms))
        return false;
    MepJson j(buf, cap);
    j.begin();
    for (const bt28_member *m = mqtt_members[i]; m->name; m++) {
        if (m->index == M_FWD_WH)
            j.integer(m->name, r->fwd_wh);
        else if (m->index == M_REV_WH)
            j.integer(m->name, r->rev_wh);
        else
            j.integer(m->name, bt28_value(r, m->index));
    }
    j.end();
    return j.ok();
}
