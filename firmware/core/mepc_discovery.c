/* mepc_discovery: the Home Assistant discovery entities (see mepc_discovery.h). */
#include "mepc_discovery.h"

static const char *const topics[MEPC_DISC_TOPICS] = {
    "sensors/mydatajson",              "meterConsumptionTotal/mydatajson",
    "meterConsumptionFwd/mydatajson",  "meterConsumptionRev/mydatajson",
    "frequency/mydatajson",            "diagnostics/mydatajson",
};

/* What a row measures: unit, device class, state class, scale. Units and
 * scales: docs/module-behaviour.md 7 and 8.2 (mA, mV, mHz, PF x1000).
 * Energy is total_increasing (8.4); the raw registers are not (a held spike
 * would enter the statistics), and energy's device class allows no other. */
enum { K_ENERGY, K_POWER, K_CURRENT, K_VOLTAGE, K_PF, K_REACTIVE, K_FREQ, K_RAW_WH, K_COUNTER,
       K_TEXT, K_PROBLEM };
static const struct {
    const char *unit, *device_class, *state_class;
    uint16_t divisor;
} kinds[] = {
    [K_ENERGY] = {"Wh", "energy", "total_increasing", 1},
    [K_POWER] = {"W", "power", "measurement", 1},
    [K_CURRENT] = {"A", "current", "measurement", 1000},
    [K_VOLTAGE] = {"V", "voltage", "measurement", 1000},
    [K_PF] = {0, "power_factor", "measurement", 1000},
    [K_REACTIVE] = {"var", "reactive_power", "measurement", 1},
    [K_FREQ] = {"Hz", "frequency", "measurement", 1000},
    [K_RAW_WH] = {"Wh", 0, 0, 1},
    [K_COUNTER] = {0, 0, "total_increasing", 1},
    [K_TEXT] = {0, 0, 0, 1},
    [K_PROBLEM] = {0, "problem", 0, 1},
};

/* Row flags. */
#define F_PHASED 0x01u   /* three entities: L1, L2, L3 ("L<n> " name, "L<n>_" member) */
#define F_BINARY 0x02u   /* binary sensor */
#define F_MODULE 0x04u   /* on the module's device (else the meter's) */
#define F_DIAG 0x08u     /* entity_category diagnostic */

/* name: first letter lower case (mepc_disc_name capitalises or prefixes
 * "L<n> "); member: whole, or after "L<n>_" for a phased row; key: NULL =
 * the member lower-cased (with "l<n>_" for a phased row). Keys are the
 * unique_id ends earlier releases used, so Home Assistant keeps its entities. */
static const struct {
    const char *name, *member, *key;
    uint8_t kind, topic, flags;
} rows[] = {
    {"energy consumed", "Fwd_Act_Wh", 0, K_ENERGY, MEPC_DISC_T_TOTAL, 0},
    {"energy returned", "Rev_Act_Wh", 0, K_ENERGY, MEPC_DISC_T_TOTAL, 0},
    {"power consumed", "Fwd_W", 0, K_POWER, MEPC_DISC_T_FWD, 0},
    {"average power consumed", "Fwd_Avg_W", 0, K_POWER, MEPC_DISC_T_FWD, 0},
    {"power consumed", "Fwd_W", 0, K_POWER, MEPC_DISC_T_FWD, F_PHASED},
    {"average power consumed", "Fwd_Avg_W", 0, K_POWER, MEPC_DISC_T_FWD, F_PHASED},
    {"power returned", "Rev_W", 0, K_POWER, MEPC_DISC_T_REV, 0},
    {"average power returned", "Rev_Avg_W", 0, K_POWER, MEPC_DISC_T_REV, 0},
    {"power returned", "Rev_W", 0, K_POWER, MEPC_DISC_T_REV, F_PHASED},
    {"average power returned", "Rev_Avg_W", 0, K_POWER, MEPC_DISC_T_REV, F_PHASED},
    {"current", "RMS_A", 0, K_CURRENT, MEPC_DISC_T_SENSORS, F_PHASED},
    {"voltage", "RMS_V", 0, K_VOLTAGE, MEPC_DISC_T_SENSORS, F_PHASED},
    {"power factor", "PF_Fac", "pf", K_PF, MEPC_DISC_T_SENSORS, F_PHASED},
    {"reactive power imported", "ImportReactive_VAr", "import_reactive_var", K_REACTIVE, MEPC_DISC_T_SENSORS, 0},
    {"reactive power exported", "ExportReactive_VAr", "export_reactive_var", K_REACTIVE, MEPC_DISC_T_SENSORS, 0},
    {"frequency", "Freq_mHz", "freq_hz", K_FREQ, MEPC_DISC_T_FREQ, 0},
    /* diagnostics: what the module saw, not what the meter measured */
    {"energy reading held", "Energy_Suspect", 0, K_PROBLEM, MEPC_DISC_T_DIAG, F_DIAG | F_BINARY},
    {"raw energy consumed register", "Raw_Fwd_Act_Wh", 0, K_RAW_WH, MEPC_DISC_T_DIAG, F_DIAG},
    {"raw energy returned register", "Raw_Rev_Act_Wh", 0, K_RAW_WH, MEPC_DISC_T_DIAG, F_DIAG},
    {"status", "Status", 0, K_TEXT, MEPC_DISC_T_DIAG, F_DIAG | F_MODULE},
    {"polls", "Polls_OK", 0, K_COUNTER, MEPC_DISC_T_DIAG, F_DIAG | F_MODULE},
    {"timeouts", "Timeouts", 0, K_COUNTER, MEPC_DISC_T_DIAG, F_DIAG | F_MODULE},
    {"rejected replies", "Digest_Rejects", 0, K_COUNTER, MEPC_DISC_T_DIAG, F_DIAG | F_MODULE},
    {"authentication failures", "Auth_Failures", 0, K_COUNTER, MEPC_DISC_T_DIAG, F_DIAG | F_MODULE},
    {"recovery cycles", "Recovery_Cycles", 0, K_COUNTER, MEPC_DISC_T_DIAG, F_DIAG | F_MODULE},
};
#define N_ROWS (sizeof rows / sizeof rows[0])

const char *mepc_disc_topic_name(unsigned topic)
{
    return topic < MEPC_DISC_TOPICS ? topics[topic] : 0;
}

size_t mepc_disc_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < N_ROWS; i++)
        n += (rows[i].flags & F_PHASED) ? 3u : 1u;
    return n;
}

bool mepc_disc_get(size_t i, mepc_disc_entity *e)
{
    for (size_t r = 0; r < N_ROWS; r++) {
        size_t n = (rows[r].flags & F_PHASED) ? 3u : 1u;
        if (i >= n) {
            i -= n;
            continue;
        }
        uint8_t k = rows[r].kind, f = rows[r].flags;
        e->unit = kinds[k].unit;
        e->device_class = kinds[k].device_class;
        e->state_class = kinds[k].state_class;
        e->divisor = kinds[k].divisor;
        e->topic = rows[r].topic;
        e->component = (f & F_BINARY) ? MEPC_DISC_BINARY_SENSOR : MEPC_DISC_SENSOR;
        e->device = (f & F_MODULE) ? MEPC_DISC_MODULE : MEPC_DISC_METER;
        e->category = (f & F_DIAG) ? MEPC_DISC_DIAGNOSTIC : MEPC_DISC_PRIMARY;
        e->phase = (f & F_PHASED) ? (uint8_t)(i + 1u) : 0u;
        e->name_ = rows[r].name;
        e->member_ = rows[r].member;
        e->key_ = rows[r].key;
        return true;
    }
    return false;
}

/* "L<n>" plus `sep`, for a phase's entity. */
static void phase_prefix(const mepc_disc_entity *e, mepc_sb *b, char l, char sep)
{
    if (!e->phase)
        return;
    mepc_sb_char(b, l);
    mepc_sb_char(b, (char)('0' + e->phase));
    mepc_sb_char(b, sep);
}

void mepc_disc_key(const mepc_disc_entity *e, mepc_sb *b)
{
    phase_prefix(e, b, 'l', '_');
    if (e->key_)
        mepc_sb_str(b, e->key_);
    else
        mepc_disc_id(b, e->member_, true);
}

void mepc_disc_name(const mepc_disc_entity *e, mepc_sb *b)
{
    const char *s = e->name_;
    phase_prefix(e, b, 'L', ' ');
    if (!e->phase && *s >= 'a' && *s <= 'z')
        mepc_sb_char(b, (char)(*s++ - 'a' + 'A'));
    mepc_sb_str(b, s);
}

void mepc_disc_member(const mepc_disc_entity *e, mepc_sb *b)
{
    phase_prefix(e, b, 'L', '_');
    mepc_sb_str(b, e->member_);
}

uint8_t mepc_disc_phases(const mepc_client *c)
{
    /* docs/mep.md 12.4: ET04.62 bits 0-2 flag absent voltage phases
     * (mepc_decode_et04_rating) */
    return c->rating_valid ? c->rating.phases : 0u;
}

bool mepc_disc_applies(const mepc_disc_entity *e, uint8_t phases)
{
    if (phases == 0u)
        phases = 3u;
    return e->phase <= phases;
}

const char *mepc_disc_component_name(const mepc_disc_entity *e)
{
    return e->component == MEPC_DISC_BINARY_SENSOR ? "binary_sensor" : "sensor";
}

void mepc_disc_value_template(const mepc_disc_entity *e, mepc_sb *b)
{
    bool binary = e->component == MEPC_DISC_BINARY_SENSOR;
    mepc_sb_str(b, binary ? "{{ 'ON' if value_json." : "{{ value_json.");
    mepc_disc_member(e, b);
    if (binary) {
        mepc_sb_str(b, " else 'OFF' }}");
        return;
    }
    if (e->divisor > 1u) {
        mepc_sb_str(b, " | float / ");
        mepc_sb_u32(b, e->divisor);
    }
    mepc_sb_str(b, " }}");
}

void mepc_disc_id(mepc_sb *b, const char *s, bool lower)
{
    if (!s || !*s)
        s = "unknown";
    for (; *s; s++) {
        char ch = *s;
        if (ch >= 'A' && ch <= 'Z')
            mepc_sb_char(b, lower ? (char)(ch - 'A' + 'a') : ch);
        else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
            mepc_sb_char(b, ch);
        else
            mepc_sb_char(b, '_');
    }
}
