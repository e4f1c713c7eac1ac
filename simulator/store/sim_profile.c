/* sim_profile: loading and strict validation of a meter profile (JSON).
 *
 * The format is documented in fixtures/meters/README.md. Every object is
 * checked against its list of known keys; a wrong type or an out-of-range
 * value is reported as "<file>: <json path>: <problem>" and the load returns
 * -1 without touching the caller's profile (everything is parsed into a
 * scratch copy first). Absent keys keep the documented defaults, which
 * start from a baseline Gen 3 three-phase meter (profile_baseline).
 *
 * sim_profile_default() parses an embedded copy of fixtures/meters/nes-3ph.json
 * (DEFAULT_PROFILE_JSON below), so the built-in meter and the shipped file
 * go through the same code; test_profile checks that they agree.
 */
#include "sim_profile.h"
#include "sim_text.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keep in sync with fixtures/meters/nes-3ph.json (test_profile compares them). */
static const char DEFAULT_PROFILE_JSON[] =
    "{\n"
    "  \"name\": \"nes-3ph\",\n"
    "  \"description\": \"Three-phase NES meter, Gen 3 firmware 3.72 (55 BT28 present values, docs/module-behaviour.md 7), loads like the field capture there\",\n"
    "  \"generation\": 3,\n"
    "  \"identity\": {\n"
    "    \"manufacturer\": \"NES\",\n"
    "    \"model\": \"83331-3I\",\n"
    "    \"hw_version\": 3,\n"
    "    \"hw_revision\": 1,\n"
    "    \"fw_version\": \"3.72.04\",\n"
    "    \"meter_serial\": \"0000000012345678\",\n"
    "    \"utility_serial\": \"EMU3PH000000001\",\n"
    "    \"image_crc\": 48879\n"
    "  },\n"
    "  \"ratings\": { \"rated_voltage_v\": 230, \"max_current_a\": 100 },\n"
    "  \"bt21\": {\n"
    "    \"flags0\": 0, \"flags1\": 0, \"self_reads\": 0, \"summations\": 11, \"demands\": 0,\n"
    "    \"coincident\": 0, \"occurrences\": 0, \"tiers\": 4, \"present_demands\": 0,\n"
    "    \"present_values\": 55\n"
    "  },\n"
    "  \"et11\": {\n"
    "    \"devices\": 5, \"et13_entry\": 66, \"et14_entry\": 36, \"et15_entries\": 5,\n"
    "    \"et15_entry\": 6, \"et16_entry\": 517, \"et52_len\": 769, \"et53_len\": 1785\n"
    "  },\n"
    "  \"keys\": {\n"
    "    \"mbk\": \"02020202020202020202020202020202\",\n"
    "    \"mak\": \"01010101010101010101010101010101\"\n"
    "  },\n"
    "  \"optical\": {\n"
    "    \"keys\": { \"mk\": \"OPTICAL-MK-000000001\", \"pk\": \"OPTICAL-PK-000000001\", \"rk\": \"OPTICAL-RK-000000001\" }\n"
    "  },\n"
    "  \"model\": {\n"
    "    \"phases\": 3, \"nominal_v\": 230.0, \"v_spread\": 3.0, \"freq_hz\": 50.0,\n"
    "    \"load\": [\n"
    "      { \"kind\": \"constant\", \"watts\": 320, \"pf\": 0.711, \"capacitive\": true },\n"
    "      { \"kind\": \"constant\", \"watts\": 59, \"pf\": 0.335, \"capacitive\": true },\n"
    "      { \"kind\": \"constant\", \"watts\": 53, \"pf\": 0.274, \"capacitive\": true }\n"
    "    ],\n"
    "    \"registers\": {\n"
    "      \"fwd_wh\": 1234567, \"rev_wh\": 0, \"imp_varh\": 2345, \"exp_varh\": 345678,\n"
    "      \"outage_seconds\": 0, \"outage_count\": 0, \"error_counter\": 0\n"
    "    }\n"
    "  },\n"
    "  \"clock\": { \"start_utc\": 0, \"tz_offset_min\": 0 },\n"
    "  \"tls_required\": false\n"
    "}\n";

void sim_policy_defaults(sim_policy *p)
{
    memset(p, 0, sizeof *p);
    p->seq_reply = SIM_SEQ_REPLY_NEXT;
    p->seq_window = 8;
    p->strict_full_read_count = false;
    p->auth_reply = SIM_AUTH_REPLY_SHORT;
    p->proc_deny = SIM_PROC_DENY_RESULT5;
    p->past_end_error = false;
    p->proc_latency_ms = 0;
    p->idt_bump_adds_25 = true;
    p->reply_delay_ms = SIM_POLICY_DEFAULT_REPLY_DELAY_MS;
    p->reply_jitter_ms = SIM_POLICY_DEFAULT_REPLY_JITTER_MS;
}

/* ---- error reporting -------------------------------------------------- */

typedef struct {
    const char *file;
    char *err;
    size_t errlen;
    int failed;
} pctx;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(pctx *c, const char *path, const char *fmt, ...)
{
    if (!c->failed && c->err && c->errlen) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(c->err, c->errlen, "%s: %s: %s", c->file, path, msg);
    }
    c->failed = 1;
    return -1;
}

static void child(char *out, size_t cap, const char *parent, const char *key)
{
    snprintf(out, cap, "%s.%s", parent, key);
}

/* ---- typed getters (absent key: keep *out, return 0) ------------------ */

static int check_keys(pctx *c, json_t *obj, const char *path, const char *const *allowed)
{
    if (!json_is_object(obj))
        return fail(c, path, "must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                ok = 1;
        if (!ok) {
            char p[256];
            child(p, sizeof p, path, key);
            return fail(c, p, "unknown key");
        }
    }
    return 0;
}

static int get_int(pctx *c, json_t *obj, const char *path, const char *key, long long lo,
                   long long hi, long long *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[256];
    child(p, sizeof p, path, key);
    if (!json_is_integer(v))
        return fail(c, p, "must be an integer");
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return fail(c, p, "must be between %lld and %lld", lo, hi);
    *out = x;
    return 0;
}

static int get_u8(pctx *c, json_t *obj, const char *path, const char *key, long long lo,
                  long long hi, uint8_t *out)
{
    long long x = *out;
    if (get_int(c, obj, path, key, lo, hi, &x) < 0)
        return -1;
    *out = (uint8_t)x;
    return 0;
}

static int get_num(pctx *c, json_t *obj, const char *path, const char *key, double lo,
                   double hi, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[256];
    child(p, sizeof p, path, key);
    if (!json_is_number(v))
        return fail(c, p, "must be a number");
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi))
        return fail(c, p, "must be between %g and %g", lo, hi);
    *out = x;
    return 0;
}

static int get_bool(pctx *c, json_t *obj, const char *path, const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        char p[256];
        child(p, sizeof p, path, key);
        return fail(c, p, "must be true or false");
    }
    *out = json_is_true(v);
    return 0;
}

/* String of at most maxlen characters; printable ASCII only. */
static int get_str(pctx *c, json_t *obj, const char *path, const char *key, size_t maxlen,
                   char *out, size_t cap, int *present)
{
    json_t *v = json_object_get(obj, key);
    if (present)
        *present = v != NULL;
    if (!v)
        return 0;
    char p[256];
    child(p, sizeof p, path, key);
    if (!json_is_string(v))
        return fail(c, p, "must be a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > maxlen)
        return fail(c, p, "must be at most %zu characters", maxlen);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
            return fail(c, p, "must be printable ASCII (character %zu is not)", i);
    if (n + 1 > cap)
        return fail(c, p, "too long");
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static int get_enum(pctx *c, json_t *obj, const char *path, const char *key,
                    const char *const *names, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[256];
    child(p, sizeof p, path, key);
    if (json_is_string(v)) {
        for (int i = 0; names[i]; i++)
            if (strcmp(names[i], json_string_value(v)) == 0) {
                *out = i;
                return 0;
            }
    }
    char list[160] = "";
    for (int i = 0; names[i]; i++) {
        strncat(list, i ? ", \"" : "\"", sizeof list - strlen(list) - 1);
        strncat(list, names[i], sizeof list - strlen(list) - 1);
        strncat(list, "\"", sizeof list - strlen(list) - 1);
    }
    return fail(c, p, "must be one of %s", list);
}

/* ---- keys --------------------------------------------------------------- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* docs/mep.md 5.1: keys are 20-byte fields of which the first 16 bytes are used;
 * utilities hand them out as 20 ASCII characters [F] or as hex. */
int sim_parse_key(const char *text, uint8_t out[16], char *err, size_t errlen)
{
    if (!text) {
        snprintf(err, errlen, "no key given");
        return -1;
    }
    size_t n = strlen(text);
    if (n == 16 || n == 20) {
        memcpy(out, text, 16);
        return 0;
    }
    char digits[41];
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = text[i];
        if (ch == ' ' || ch == ':')
            continue;
        if (hexval((unsigned char)ch) < 0) {
            snprintf(err, errlen,
                     "key must be 16 or 20 ASCII characters or 32/40 hex digits; "
                     "'%c' at position %zu is not a hex digit",
                     isprint((unsigned char)ch) ? ch : '?', i);
            return -1;
        }
        if (nd == 40) {
            nd++;
            break;
        }
        digits[nd++] = ch;
    }
    if (nd != 32 && nd != 40) {
        snprintf(err, errlen,
                 "key must be 16 or 20 ASCII characters or 32/40 hex digits (got %zu characters, %zu hex digits)",
                 n, nd);
        return -1;
    }
    for (int i = 0; i < 16; i++)
        out[i] = (uint8_t)(hexval((unsigned char)digits[2 * i]) << 4 | hexval((unsigned char)digits[2 * i + 1]));
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static int parse_table_id(const char *s, uint16_t *out)
{
    if ((s[0] == 'B' || s[0] == 'b' || s[0] == 'E' || s[0] == 'e') && (s[1] == 'T' || s[1] == 't')) {
        char *end;
        long n = strtol(s + 2, &end, 10);
        if (end == s + 2 || *end || n < 0 || n > 2047)
            return -1;
        *out = (uint16_t)((s[0] == 'E' || s[0] == 'e') ? 0x0800 + n : n);
        return 0;
    }
    return -1;
}

static int table_ref(pctx *c, json_t *v, const char *path, uint16_t *out)
{
    if (json_is_integer(v)) {
        long long x = json_integer_value(v);
        if (x < 0 || x > 65535)
            return fail(c, path, "must be between 0 and 65535");
        *out = (uint16_t)x;
        return 0;
    }
    if (json_is_string(v) && parse_table_id(json_string_value(v), out) == 0)
        return 0;
    return fail(c, path, "must be a table number or a name like \"BT23\" or \"ET13\"");
}

/* ---- sections ------------------------------------------------------------ */

static void et11_defaults(sim_profile *p)
{
    /* docs/mep.md 12.13 defaults; bytes 32.. exist on fw 4.0+ only. */
    static const uint8_t base[39] = {
        5, 66, 36, 5, 6, 0x05, 0x02, 0x01, 0x03, 0xF9, 0x06, 25, 16, 22, 0, 0, 0, 0,
        10, 10, 65, 120, 6, 10, 10, 16, 80, 10, 0x05, 0x01, 0x01, 0x03,
        0, 0, 0, 0, 0, 0, 0};
    memcpy(p->et11, base, sizeof base);
    if (p->generation >= 4) {
        p->et11[0] = 6;
        p->et11[32] = 6;
        p->et11[33] = 7;
        p->et11[34] = 2;
        p->et11[35] = 10;
        p->et11[36] = 1250 & 0xFF;
        p->et11[37] = 1250 >> 8;
        p->et11[38] = 3;
    }
}

static void profile_baseline(sim_profile *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "unnamed");
    p->generation = 3;
    memcpy(p->manufacturer, "NES ", 5);
    memcpy(p->model_name, "        ", 9);
    p->fw_version = 0x3904;
    memset(p->meter_serial, '0', 16);
    p->rated_voltage_v = 230;
    p->max_current_a = 100;
    static const uint8_t bt21[10] = {0, 0, 0, 11, 0, 0, 0, 4, 0, 55};
    memcpy(p->bt21, bt21, 10);
    et11_defaults(p);
    memset(p->mak, 0x01, 16); /* the guide's example default MAK (docs/mep.md 5.1) */
    memset(p->mbk, 0x02, 16);
    p->model.phases = 3;
    p->model.nominal_v = 230.0;
    p->model.freq_hz = 50.0;
    for (int i = 0; i < SIM_MAX_PHASES; i++)
        p->model.load[i].pf = 1.0;
    sim_policy_defaults(&p->policy);
}

static int parse_identity(pctx *c, json_t *o, sim_profile *p)
{
    static const char *const keys[] = {"manufacturer", "model", "hw_version", "hw_revision",
                                       "fw_version", "meter_serial", "utility_serial",
                                       "image_crc", NULL};
    const char *path = "$.identity";
    if (check_keys(c, o, path, keys) < 0)
        return -1;
    char buf[64];
    int have;
    if (get_str(c, o, path, "manufacturer", 4, buf, sizeof buf, &have) < 0)
        return -1;
    if (have && !buf[0])
        return fail(c, "$.identity.manufacturer", "must not be empty");
    if (have) { /* CHAR[4], space padded (BT00.3, BT01.0) */
        memset(p->manufacturer, ' ', 4);
        memcpy(p->manufacturer, buf, strlen(buf));
        p->manufacturer[4] = '\0';
    }
    if (get_str(c, o, path, "model", 8, buf, sizeof buf, &have) < 0)
        return -1;
    if (have) { /* CHAR[8], left-justified */
        memset(p->model_name, ' ', 8);
        memcpy(p->model_name, buf, strlen(buf));
        p->model_name[8] = '\0';
    }
    if (get_u8(c, o, path, "hw_version", 0, 255, &p->hw_version) < 0 ||
        get_u8(c, o, path, "hw_revision", 0, 255, &p->hw_revision) < 0)
        return -1;
    json_t *fw = json_object_get(o, "fw_version");
    if (fw) {
        /* x.yy.zz -> bits 15-12 x, 11-5 yy, 4-0 zz (docs/mep.md 12.3) */
        unsigned x, yy, zz;
        char tail;
        if (!json_is_string(fw) ||
            sscanf(json_string_value(fw), "%u.%u.%u%c", &x, &yy, &zz, &tail) != 3)
            return fail(c, "$.identity.fw_version", "must be a string \"x.yy.zz\" (e.g. \"3.72.04\")");
        if (x > 9 || yy > 99 || zz > 31)
            return fail(c, "$.identity.fw_version", "x must be 0-9, yy 0-99 and zz 0-31");
        p->fw_version = (uint16_t)(x << 12 | yy << 5 | zz);
    }
    if (get_str(c, o, path, "meter_serial", 16, buf, sizeof buf, &have) < 0)
        return -1;
    if (have) {
        size_t n = strlen(buf);
        for (size_t i = 0; i < n; i++)
            if (!isdigit((unsigned char)buf[i]))
                return fail(c, "$.identity.meter_serial", "must be decimal digits only (BCD in BT01)");
        memset(p->meter_serial, '0', 16); /* right-align, zero-fill */
        memcpy(p->meter_serial + 16 - n, buf, n);
        p->meter_serial[16] = '\0';
    }
    if (get_str(c, o, path, "utility_serial", 29, p->utility_serial, sizeof p->utility_serial, NULL) < 0)
        return -1;
    long long crc = p->image_crc;
    if (get_int(c, o, path, "image_crc", 0, 65535, &crc) < 0)
        return -1;
    p->image_crc = (uint16_t)crc;
    return 0;
}

static int parse_ratings(pctx *c, json_t *o, sim_profile *p)
{
    static const char *const keys[] = {"rated_voltage_v", "max_current_a", NULL};
    const char *path = "$.ratings";
    if (check_keys(c, o, path, keys) < 0)
        return -1;
    long long v = p->rated_voltage_v, a = p->max_current_a;
    if (get_int(c, o, path, "rated_voltage_v", 1, 1000, &v) < 0 ||
        get_int(c, o, path, "max_current_a", 1, 1000, &a) < 0)
        return -1;
    p->rated_voltage_v = (uint16_t)v;
    p->max_current_a = (uint16_t)a;
    return 0;
}

static int parse_bt21(pctx *c, json_t *o, sim_profile *p)
{
    /* docs/mep.md 12.4 */
    static const char *const keys[] = {"flags0", "flags1", "self_reads", "summations", "demands",
                                       "coincident", "occurrences", "tiers", "present_demands",
                                       "present_values", NULL};
    static const struct { const char *k; int lo, hi; } f[10] = {
        {"flags0", 0, 127}, {"flags1", 0, 63}, {"self_reads", 0, 255}, {"summations", 1, 19},
        {"demands", 0, 8}, {"coincident", 0, 16}, {"occurrences", 0, 4}, {"tiers", 0, 8},
        {"present_demands", 0, 8}, {"present_values", 0, 84}};
    const char *path = "$.bt21";
    if (check_keys(c, o, path, keys) < 0)
        return -1;
    for (int i = 0; i < 10; i++)
        if (get_u8(c, o, path, f[i].k, f[i].lo, f[i].hi, &p->bt21[i]) < 0)
            return -1;
    return 0;
}

static int parse_et11(pctx *c, json_t *o, sim_profile *p)
{
    /* docs/mep.md 12.13: byte offset, width, range. The ranges keep the tables
     * the protocol layer indexes at fixed offsets (ET13/ET14 MEP1 entry 4)
     * in place; malformed dimensions for module tests (S29) go in an
     * override of ET11's bytes, which never changes the layout. */
    static const struct { const char *k; int off, w; long lo, hi; } f[] = {
        {"devices", 0, 1, 5, 8},
        {"et13_entry", 1, 1, 9, 255},
        {"et14_entry", 2, 1, 36, 255},
        {"et15_entries", 3, 1, 1, 15},
        {"et15_entry", 4, 1, 6, 255},
        {"et16_entry", 5, 2, 11, 4096},
        {"et52_len", 7, 2, 16, 4096},
        {"et53_len", 9, 2, 16, 4096},
        {"ondemand_write_entry", 11, 1, 1, 255},
        {"per_phase_size", 12, 1, 0, 255},
        {"et34_entry", 13, 1, 0, 255},
        {"group_ids", 18, 1, 0, 255},
        {"harmonics", 19, 1, 0, 255},
        {"multicast_len", 20, 1, 1, 255},
        {"et22_alarm_size", 21, 1, 0, 255},
        {"mep_data_sources", 22, 1, 0, 64},
        {"et48_entries", 23, 1, 0, 255},
        {"critical_event_bitmaps", 24, 1, 0, 255},
        {"et57_entries", 25, 1, 0, 255},
        {"relay_switches", 26, 1, 0, 255},
        {"delta_sources", 27, 1, 0, 64},
        {"ram_tx_req_len", 28, 2, 0, 65535},
        {"ram_tx_resp_len", 30, 2, 0, 65535},
        {"module_records", 32, 1, 0, 255},
        {"module_record_size", 33, 1, 0, 255},
        {"mep_channels", 34, 1, 0, 2},
        {"reserved_35", 35, 1, 0, 255},
        {"reserved_36", 36, 2, 0, 65535},
        {"error_screens", 38, 1, 0, 255},
    };
    const size_t nf = sizeof f / sizeof f[0];
    const char *keys[sizeof f / sizeof f[0] + 1];
    for (size_t i = 0; i < nf; i++)
        keys[i] = f[i].k;
    keys[nf] = NULL;
    const char *path = "$.et11";
    if (check_keys(c, o, path, keys) < 0)
        return -1;
    for (size_t i = 0; i < nf; i++) {
        long long x = f[i].w == 1 ? p->et11[f[i].off] : (p->et11[f[i].off] | p->et11[f[i].off + 1] << 8);
        if (get_int(c, o, path, f[i].k, f[i].lo, f[i].hi, &x) < 0)
            return -1;
        p->et11[f[i].off] = (uint8_t)x;
        if (f[i].w == 2)
            p->et11[f[i].off + 1] = (uint8_t)(x >> 8);
    }
    return 0;
}

static int parse_keys(pctx *c, json_t *o, sim_profile *p)
{
    static const char *const keys[] = {"mbk", "mak", NULL};
    if (check_keys(c, o, "$.keys", keys) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(o, keys[i]);
        if (!v)
            continue;
        char path[32];
        snprintf(path, sizeof path, "$.keys.%s", keys[i]);
        if (!json_is_string(v))
            return fail(c, path, "must be a string");
        char msg[200];
        if (sim_parse_key(json_string_value(v), i == 0 ? p->mbk : p->mak, msg, sizeof msg) < 0)
            return fail(c, path, "%s", msg);
    }
    return 0;
}

static int parse_load(pctx *c, json_t *o, const char *path, sim_load *l)
{
    static const char *const keys[] = {"kind", "watts", "pf", "capacitive", "daily_w",
                                       "step_w", "min_w", "max_w", NULL};
    static const char *const kinds[] = {"constant", "daily", "random_walk", NULL};
    if (check_keys(c, o, path, keys) < 0)
        return -1;
    int kind = SIM_LOAD_CONSTANT;
    if (get_enum(c, o, path, "kind", kinds, &kind) < 0)
        return -1;
    l->kind = (sim_load_kind)kind;
    const double maxw = 1e6;
    if (get_num(c, o, path, "watts", -maxw, maxw, &l->watts) < 0 ||
        get_num(c, o, path, "pf", 0.0, 1.0, &l->pf) < 0 ||
        get_bool(c, o, path, "capacitive", &l->capacitive) < 0 ||
        get_num(c, o, path, "step_w", 0.0, maxw, &l->walk_step_w) < 0 ||
        get_num(c, o, path, "min_w", -maxw, maxw, &l->walk_min_w) < 0 ||
        get_num(c, o, path, "max_w", -maxw, maxw, &l->walk_max_w) < 0)
        return -1;
    char p[160];
    json_t *d = json_object_get(o, "daily_w");
    child(p, sizeof p, path, "daily_w");
    if (d) {
        if (!json_is_array(d) || json_array_size(d) != 24)
            return fail(c, p, "must be an array of 24 numbers (one per hour, 00:00 UTC first)");
        for (size_t h = 0; h < 24; h++) {
            json_t *x = json_array_get(d, h);
            char ph[192];
            snprintf(ph, sizeof ph, "%s[%zu]", p, h);
            if (!json_is_number(x))
                return fail(c, ph, "must be a number");
            double w = json_number_value(x);
            if (!(w >= -maxw && w <= maxw))
                return fail(c, ph, "must be between %g and %g", -maxw, maxw);
            l->daily_w[h] = w;
        }
    } else if (l->kind == SIM_LOAD_DAILY) {
        return fail(c, p, "is required when kind is \"daily\"");
    }
    if (l->kind == SIM_LOAD_RANDOM_WALK) {
        if (!json_object_get(o, "min_w") || !json_object_get(o, "max_w")) {
            child(p, sizeof p, path, json_object_get(o, "min_w") ? "max_w" : "min_w");
            return fail(c, p, "is required when kind is \"random_walk\"");
        }
        if (l->walk_min_w > l->walk_max_w) {
            child(p, sizeof p, path, "min_w");
            return fail(c, p, "must not be above max_w");
        }
        if (!json_object_get(o, "watts"))
            l->watts = (l->walk_min_w + l->walk_max_w) / 2;
        if (l->watts < l->walk_min_w || l->watts > l->walk_max_w) {
            child(p, sizeof p, path, "watts");
            return fail(c, p, "must lie between min_w and max_w (the walk starts there)");
        }
    }
    return 0;
}

static int parse_registers(pctx *c, json_t *o, sim_model_cfg *m)
{
    static const char *const keys[] = {"fwd_wh", "rev_wh", "imp_varh", "exp_varh",
                                       "outage_seconds", "outage_count", "error_counter", NULL};
    const char *path = "$.model.registers";
    if (check_keys(c, o, path, keys) < 0)
        return -1;
    const long long maxr = 4294967295LL; /* what an INT32 register can show (low 32 bits) */
    long long a = m->start_fwd_wh, b = m->start_rev_wh, q1 = m->start_imp_varh, q2 = m->start_exp_varh;
    long long os = m->start_outage_seconds, oc = m->start_outage_count, ec = m->start_error_counter;
    if (get_int(c, o, path, "fwd_wh", 0, maxr, &a) < 0 || get_int(c, o, path, "rev_wh", 0, maxr, &b) < 0 ||
        get_int(c, o, path, "imp_varh", 0, maxr, &q1) < 0 ||
        get_int(c, o, path, "exp_varh", 0, maxr, &q2) < 0 ||
        get_int(c, o, path, "outage_seconds", 0, maxr, &os) < 0 ||
        get_int(c, o, path, "outage_count", 0, maxr, &oc) < 0 ||
        get_int(c, o, path, "error_counter", 0, maxr, &ec) < 0)
        return -1;
    m->start_fwd_wh = a;
    m->start_rev_wh = b;
    m->start_imp_varh = q1;
    m->start_exp_varh = q2;
    m->start_outage_seconds = (uint32_t)os;
    m->start_outage_count = (uint32_t)oc;
    m->start_error_counter = (uint32_t)ec;
    return 0;
}

static int parse_model(pctx *c, json_t *o, sim_profile *p)
{
    static const char *const keys[] = {"phases", "nominal_v", "v_spread", "freq_hz", "load",
                                       "registers", NULL};
    const char *path = "$.model";
    if (check_keys(c, o, path, keys) < 0)
        return -1;
    sim_model_cfg *m = &p->model;
    long long ph = m->phases;
    if (get_int(c, o, path, "phases", 1, 3, &ph) < 0)
        return -1;
    if (ph == 2)
        return fail(c, "$.model.phases", "must be 1 or 3");
    m->phases = (int)ph;
    if (get_num(c, o, path, "nominal_v", 50.0, 500.0, &m->nominal_v) < 0 ||
        get_num(c, o, path, "v_spread", 0.0, 50.0, &m->v_spread) < 0 ||
        get_num(c, o, path, "freq_hz", 40.0, 70.0, &m->freq_hz) < 0)
        return -1;
    json_t *loads = json_object_get(o, "load");
    if (loads) {
        if (!json_is_array(loads))
            return fail(c, "$.model.load", "must be an array with one object per phase");
        if (json_array_size(loads) != (size_t)m->phases)
            return fail(c, "$.model.load", "must have %d entries (one per phase), has %zu",
                        m->phases, json_array_size(loads));
        for (size_t i = 0; i < json_array_size(loads); i++) {
            char lp[64];
            snprintf(lp, sizeof lp, "$.model.load[%zu]", i);
            if (parse_load(c, json_array_get(loads, i), lp, &m->load[i]) < 0)
                return -1;
        }
    }
    for (int i = m->phases; i < SIM_MAX_PHASES; i++)
        memset(&m->load[i], 0, sizeof m->load[i]);
    json_t *r = json_object_get(o, "registers");
    if (r && parse_registers(c, r, m) < 0)
        return -1;
    return 0;
}

static int parse_clock(pctx *c, json_t *o, sim_profile *p)
{
    static const char *const keys[] = {"start_utc", "tz_offset_min", NULL};
    const char *path = "$.clock";
    if (check_keys(c, o, path, keys) < 0)
        return -1;
    json_t *s = json_object_get(o, "start_utc");
    if (s) {
        if (json_is_integer(s)) {
            long long v = json_integer_value(s);
            if (v < 0 || v > 4102444799LL) /* up to 2099-12-31: BT52 has a 2-digit year */
                return fail(c, "$.clock.start_utc", "must be between 0 (wall clock) and 4102444799");
            if (v != 0 && v < 946684800LL)
                return fail(c, "$.clock.start_utc", "must be 0 (wall clock) or in 2000..2099 (BT52 has a 2-digit year)");
            p->start_utc_s = v;
        } else if (json_is_string(s)) {
            int y, mo, d, h, mi, se;
            char z = 0, tail;
            int n = sscanf(json_string_value(s), "%4d-%2d-%2dT%2d:%2d:%2d%c%c", &y, &mo, &d, &h, &mi, &se, &z, &tail);
            if (n != 7 || z != 'Z' || y < 2000 || y > 2099 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
                h > 23 || mi > 59 || se > 59 || h < 0 || mi < 0 || se < 0)
                return fail(c, "$.clock.start_utc", "must be \"YYYY-MM-DDThh:mm:ssZ\" (2000..2099) or Unix seconds");
            static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
            if (d > mdays[mo - 1] || (mo == 2 && d == 29 && y % 4 != 0))
                return fail(c, "$.clock.start_utc", "no such date: %04d-%02d-%02d", y, mo, d);
            p->start_utc_s = sim_text_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
        } else {
            return fail(c, "$.clock.start_utc", "must be \"YYYY-MM-DDThh:mm:ssZ\" or Unix seconds");
        }
    }
    long long tz = p->tz_offset_min;
    if (get_int(c, o, path, "tz_offset_min", -720, 840, &tz) < 0)
        return -1;
    p->tz_offset_min = (int16_t)tz;
    return 0;
}

static int parse_policy(pctx *c, json_t *o, sim_policy *pol)
{
    static const char *const keys[] = {"seq_reply", "seq_window", "strict_full_read_count",
                                       "auth_reply", "proc_deny", "past_end_error",
                                       "proc_latency_ms", "idt_bump_adds_25", "reply_delay_ms",
                                       "reply_jitter_ms", NULL};
    static const char *const seq[] = {"next", "last", NULL};
    static const char *const auth[] = {"short", "zero_digest", "silent", NULL};
    static const char *const deny[] = {"result5", "isc", NULL};
    const char *path = "$.policy";
    if (check_keys(c, o, path, keys) < 0)
        return -1;
    int e = (int)pol->seq_reply;
    if (get_enum(c, o, path, "seq_reply", seq, &e) < 0)
        return -1;
    pol->seq_reply = (sim_seq_reply)e;
    e = (int)pol->auth_reply;
    if (get_enum(c, o, path, "auth_reply", auth, &e) < 0)
        return -1;
    pol->auth_reply = (sim_auth_reply)e;
    e = (int)pol->proc_deny;
    if (get_enum(c, o, path, "proc_deny", deny, &e) < 0)
        return -1;
    pol->proc_deny = (sim_proc_deny)e;
    long long w = pol->seq_window, lat = pol->proc_latency_ms;
    long long rd = pol->reply_delay_ms, rj = pol->reply_jitter_ms;
    if (get_int(c, o, path, "seq_window", 1, 1000000, &w) < 0 ||
        get_int(c, o, path, "proc_latency_ms", 0, 1000, &lat) < 0 ||
        get_int(c, o, path, "reply_delay_ms", 0, SIM_POLICY_MAX_REPLY_DELAY_MS, &rd) < 0 ||
        get_int(c, o, path, "reply_jitter_ms", 0, SIM_POLICY_MAX_REPLY_JITTER_MS, &rj) < 0 ||
        get_bool(c, o, path, "strict_full_read_count", &pol->strict_full_read_count) < 0 ||
        get_bool(c, o, path, "past_end_error", &pol->past_end_error) < 0 ||
        get_bool(c, o, path, "idt_bump_adds_25", &pol->idt_bump_adds_25) < 0)
        return -1;
    pol->seq_window = (uint32_t)w;
    pol->proc_latency_ms = (uint32_t)lat;
    pol->reply_delay_ms = (uint32_t)rd;
    pol->reply_jitter_ms = (uint32_t)rj;
    return 0;
}

static int parse_locked(pctx *c, json_t *a, sim_profile *p)
{
    if (!json_is_array(a))
        return fail(c, "$.locked_tables", "must be an array of table names or numbers");
    size_t cap = sizeof p->locked_tables / sizeof p->locked_tables[0];
    if (json_array_size(a) > cap)
        return fail(c, "$.locked_tables", "at most %zu tables", cap);
    p->n_locked = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        char path[48];
        snprintf(path, sizeof path, "$.locked_tables[%zu]", i);
        if (table_ref(c, json_array_get(a, i), path, &p->locked_tables[p->n_locked]) < 0)
            return -1;
        p->n_locked++;
    }
    return 0;
}

/* Hex bytes with optional ' ', ':' or '-' separators into a new buffer
 * (*out owned by the caller on success). */
static int hex_bytes(pctx *c, const char *s, const char *fp, uint8_t **out, size_t *len)
{
    size_t n = strlen(s);
    uint8_t *bytes = malloc(n / 2 + 1);
    if (!bytes)
        return fail(c, fp, "out of memory");
    size_t nb = 0;
    int nib = -1;
    for (size_t k = 0; k < n; k++) {
        if (s[k] == ' ' || s[k] == ':' || s[k] == '-')
            continue;
        int v = hexval((unsigned char)s[k]);
        if (v < 0) {
            free(bytes);
            return fail(c, fp, "'%c' at position %zu is not a hex digit", isprint((unsigned char)s[k]) ? s[k] : '?', k);
        }
        if (nib < 0) {
            nib = v;
        } else {
            bytes[nb++] = (uint8_t)(nib << 4 | v);
            nib = -1;
        }
    }
    if (nib >= 0 || nb == 0) {
        free(bytes);
        return fail(c, fp, nib >= 0 ? "has an odd number of hex digits" : "must hold at least one byte");
    }
    *out = bytes;
    *len = nb;
    return 0;
}

/* One {table, [offset,] hex, comment} entry of "overrides" (with_offset) or
 * "tables" into ov; ov->bytes is allocated only when it returns 0. */
static int parse_byte_entry(pctx *c, json_t *o, const char *path, bool with_offset, sim_table_override *ov)
{
    static const char *const ov_keys[] = {"table", "offset", "hex", "comment", NULL};
    static const char *const tb_keys[] = {"table", "hex", "comment", NULL};
    char fp[64];
    if (check_keys(c, o, path, with_offset ? ov_keys : tb_keys) < 0)
        return -1;
    json_t *t = json_object_get(o, "table"), *h = json_object_get(o, "hex");
    json_t *cm = json_object_get(o, "comment");
    if (cm && !json_is_string(cm)) {
        child(fp, sizeof fp, path, "comment");
        return fail(c, fp, "must be a string");
    }
    child(fp, sizeof fp, path, "table");
    if (!t)
        return fail(c, fp, "is required");
    memset(ov, 0, sizeof *ov);
    if (table_ref(c, t, fp, &ov->table_id) < 0)
        return -1;
    long long off = 0;
    if (with_offset && get_int(c, o, path, "offset", 0, 65535, &off) < 0)
        return -1;
    ov->offset = (uint32_t)off;
    child(fp, sizeof fp, path, "hex");
    if (!h)
        return fail(c, fp, "is required");
    if (!json_is_string(h))
        return fail(c, fp, "must be a string of hex bytes (\"00 11 2A\")");
    return hex_bytes(c, json_string_value(h), fp, &ov->bytes, &ov->len);
}

static int parse_overrides(pctx *c, json_t *a, sim_profile *p)
{
    if (!json_is_array(a))
        return fail(c, "$.overrides", "must be an array of {table, offset, hex} objects");
    if (json_array_size(a) > SIM_MAX_TABLE_OVERRIDES)
        return fail(c, "$.overrides", "at most %d overrides", SIM_MAX_TABLE_OVERRIDES);
    for (size_t i = 0; i < json_array_size(a); i++) {
        char path[48];
        snprintf(path, sizeof path, "$.overrides[%zu]", i);
        sim_table_override *ov = &p->overrides[p->n_overrides];
        if (parse_byte_entry(c, json_array_get(a, i), path, true, ov) < 0)
            return -1;
        ov->index = (uint16_t)i;
        p->n_overrides++;
    }
    return 0;
}

/* "tables": a cloned meter's static tables, verbatim (fixtures/meters/README.md
 * "Cloned profiles"). Each entry lands in the overrides array at offset 0,
 * before the "overrides" entries (which apply on top). The dynamic tables
 * are rendered from the model and cannot be frozen here (their start values
 * are model.registers). */
static int parse_tables(pctx *c, json_t *a, sim_profile *p)
{
    static const uint16_t dynamic[] = {23, 28, 52, 55}; /* sim_tables.c renders */
    if (!json_is_array(a))
        return fail(c, "$.tables", "must be an array of {table, hex} objects");
    if (json_array_size(a) > SIM_MAX_PROFILE_TABLES)
        return fail(c, "$.tables", "at most %d tables", SIM_MAX_PROFILE_TABLES);
    size_t first = p->n_overrides;
    for (size_t i = 0; i < json_array_size(a); i++) {
        char path[48], fp[64];
        snprintf(path, sizeof path, "$.tables[%zu]", i);
        child(fp, sizeof fp, path, "table");
        sim_table_override *ov = &p->overrides[p->n_overrides];
        if (parse_byte_entry(c, json_array_get(a, i), path, false, ov) < 0)
            return -1;
        int bad = 0;
        for (size_t k = 0; k < sizeof dynamic / sizeof dynamic[0]; k++)
            if (ov->table_id == dynamic[k])
                bad = fail(c, fp, "BT%u is rendered from the model: give its start in model.registers", dynamic[k]);
        for (size_t k = first; k < p->n_overrides && !bad; k++)
            if (p->overrides[k].table_id == ov->table_id)
                bad = fail(c, fp, "table given twice (also $.tables[%u])", p->overrides[k].index);
        if (bad) {
            free(ov->bytes);
            ov->bytes = NULL;
            return -1;
        }
        ov->from_tables = true;
        ov->index = (uint16_t)i;
        p->n_overrides++;
    }
    return 0;
}

/* "import": provenance of a cloned profile, written by simulator/mepsim-profile.
 * Validated (known keys, types) and otherwise ignored. */
static int parse_import(pctx *c, json_t *o)
{
    static const char *const keys[] = {"tool", "route", "source", "date", "verbatim", "derived",
                                       "modelled", "skipped", NULL};
    static const char *const strs[] = {"tool", "route", "source", "date", NULL};
    static const char *const lists[] = {"verbatim", "derived", "modelled", "skipped", NULL};
    if (check_keys(c, o, "$.import", keys) < 0)
        return -1;
    char fp[64];
    for (const char *const *k = strs; *k; k++) {
        json_t *v = json_object_get(o, *k);
        child(fp, sizeof fp, "$.import", *k);
        if (v && !json_is_string(v))
            return fail(c, fp, "must be a string");
    }
    for (const char *const *k = lists; *k; k++) {
        json_t *v = json_object_get(o, *k);
        child(fp, sizeof fp, "$.import", *k);
        if (!v)
            continue;
        if (!json_is_array(v))
            return fail(c, fp, "must be an array of strings");
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i)))
                return fail(c, fp, "must be an array of strings");
    }
    return 0;
}

/* ---- optical port (docs/optical.md) -------------------------------------- */

int sim_parse_key20(const char *text, uint8_t out[20], char *err, size_t errlen)
{
    if (!text) {
        snprintf(err, errlen, "no key given");
        return -1;
    }
    size_t n = strlen(text);
    memset(out, 0, 20);
    if (n >= 1 && n <= 20) { /* a password typed as text, 0x00-padded (docs/optical.md 4) */
        memcpy(out, text, n);
        return 0;
    }
    uint8_t b[20];
    size_t nd = 0;
    int hi = -1;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ' || text[i] == ':')
            continue;
        int v = hexval((unsigned char)text[i]);
        if (v < 0 || nd == 20) {
            snprintf(err, errlen, "optical key must be 1-20 ASCII characters or 32/40 hex digits");
            return -1;
        }
        if (hi < 0) {
            hi = v;
        } else {
            b[nd++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0 || (nd != 16 && nd != 20)) {
        snprintf(err, errlen, "optical key must be 1-20 ASCII characters or 32/40 hex digits");
        return -1;
    }
    memcpy(out, b, nd);
    return 0;
}

static int parse_optical_rules(pctx *c, json_t *a, sim_profile_optical *o)
{
    static const char *const flag_names[] = {"open", "no_rk", "no_pk", "writable", "write_mk",
                                             "lock_read", "lock_write", NULL};
    if (!json_is_array(a))
        return fail(c, "$.optical.rules", "must be a list of {\"table\", \"flags\"}");
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        char path[64];
        snprintf(path, sizeof path, "$.optical.rules[%zu]", i);
        static const char *const keys[] = {"table", "flags", NULL};
        if (check_keys(c, e, path, keys) < 0)
            return -1;
        if (o->n_rules >= SIM_PROFILE_OPTICAL_RULES)
            return fail(c, path, "too many rules (at most %d)", SIM_PROFILE_OPTICAL_RULES);
        json_t *t = json_object_get(e, "table"), *f = json_object_get(e, "flags");
        char p2[80];
        snprintf(p2, sizeof p2, "%s.table", path);
        if (!t)
            return fail(c, p2, "is required");
        uint16_t id;
        if (table_ref(c, t, p2, &id) < 0)
            return -1;
        snprintf(p2, sizeof p2, "%s.flags", path);
        if (!json_is_array(f))
            return fail(c, p2, "must be a list of flag names (open, no_rk, no_pk, writable, write_mk, "
                               "lock_read, lock_write)");
        uint16_t flags = 0;
        size_t j;
        json_t *fv;
        json_array_foreach(f, j, fv) {
            int k = -1;
            for (int q = 0; flag_names[q] && json_is_string(fv); q++)
                if (strcmp(flag_names[q], json_string_value(fv)) == 0)
                    k = q;
            if (k < 0)
                return fail(c, p2, "unknown flag (expected open, no_rk, no_pk, writable, write_mk, "
                                   "lock_read, lock_write)");
            flags |= (uint16_t)(1u << k); /* same bit order as SIM_OPTICAL_R_* */
        }
        o->rules[o->n_rules].table_id = id;
        o->rules[o->n_rules].flags = flags;
        o->n_rules++;
    }
    return 0;
}

static int parse_optical(pctx *c, json_t *o, sim_profile_optical *op)
{
    static const char *const keys[] = {"keys", "pk_enabled", "identify_form", "bauds", "max_packet_size",
                                       "max_packets", "strict_identify", "past_end_zeros", "oversize_rno",
                                       "bad_password_alarm", "lockout", "dos", "shared_uart", "timing",
                                       "rules", NULL};
    if (check_keys(c, o, "$.optical", keys) < 0)
        return -1;
    op->present = true;
    json_t *v;
    if ((v = json_object_get(o, "keys"))) {
        static const char *const kk[] = {"mk", "pk", "rk", NULL};
        if (check_keys(c, v, "$.optical.keys", kk) < 0)
            return -1;
        uint8_t *dst[3] = {op->mk, op->pk, op->rk};
        bool *set[3] = {&op->mk_set, &op->pk_set, &op->rk_set};
        for (int i = 0; i < 3; i++) {
            json_t *k = json_object_get(v, kk[i]);
            if (!k)
                continue;
            char path[32], msg[200];
            snprintf(path, sizeof path, "$.optical.keys.%s", kk[i]);
            if (!json_is_string(k))
                return fail(c, path, "must be a string");
            if (sim_parse_key20(json_string_value(k), dst[i], msg, sizeof msg) < 0)
                return fail(c, path, "%s", msg);
            *set[i] = true;
        }
    }
    bool pk_en = true, alarm = true;
    if (get_bool(c, o, "$.optical", "pk_enabled", &pk_en) < 0 ||
        get_bool(c, o, "$.optical", "bad_password_alarm", &alarm) < 0 ||
        get_bool(c, o, "$.optical", "strict_identify", &op->strict_identify) < 0 ||
        get_bool(c, o, "$.optical", "past_end_zeros", &op->past_end_zeros) < 0 ||
        get_bool(c, o, "$.optical", "oversize_rno", &op->oversize_rno) < 0)
        return -1;
    op->pk_disabled = !pk_en;
    op->no_bad_password_alarm = !alarm;
    static const char *const forms[] = {"nes", "classic", NULL};
    int form = 0;
    if (get_enum(c, o, "$.optical", "identify_form", forms, &form) < 0)
        return -1;
    op->classic_identify = form == 1;
    if ((v = json_object_get(o, "shared_uart"))) {
        bool sh = false;
        if (get_bool(c, o, "$.optical", "shared_uart", &sh) < 0)
            return -1;
        op->shared_uart = sh ? 1 : 2;
    }
    long long x = 0;
    if (json_object_get(o, "max_packet_size")) {
        if (get_int(c, o, "$.optical", "max_packet_size", 64, 8192, &x) < 0)
            return -1;
        op->max_packet_size = (uint16_t)x;
    }
    if (json_object_get(o, "max_packets")) {
        if (get_int(c, o, "$.optical", "max_packets", 1, 255, &x) < 0)
            return -1;
        op->max_packets = (uint8_t)x;
    }
    if ((v = json_object_get(o, "bauds"))) {
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 15)
            return fail(c, "$.optical.bauds", "must be a list of 1-15 C12.18 baud codes (6 = 9600)");
        size_t i;
        json_t *b;
        json_array_foreach(v, i, b) {
            if (!json_is_integer(b) || json_integer_value(b) < 1 || json_integer_value(b) > 14)
                return fail(c, "$.optical.bauds", "entry %zu must be a baud code 1..14 (6 = 9600)", i);
            op->bauds[i] = (uint8_t)json_integer_value(b);
        }
        op->n_bauds = json_array_size(v);
    }
    if ((v = json_object_get(o, "lockout"))) {
        static const char *const lk[] = {"threshold", "minutes", NULL};
        if (check_keys(c, v, "$.optical.lockout", lk) < 0 ||
            get_u8(c, v, "$.optical.lockout", "threshold", 0, 255, &op->lockout_threshold) < 0)
            return -1;
        x = op->lockout_minutes;
        if (get_int(c, v, "$.optical.lockout", "minutes", 0, 65535, &x) < 0)
            return -1;
        op->lockout_minutes = (uint32_t)x;
    }
    if ((v = json_object_get(o, "dos"))) {
        static const char *const dk[] = {"enabled", "session_s", "holdoff_s", NULL};
        if (check_keys(c, v, "$.optical.dos", dk) < 0 ||
            get_bool(c, v, "$.optical.dos", "enabled", &op->dos_enabled) < 0)
            return -1;
        x = op->dos_session_s;
        if (get_int(c, v, "$.optical.dos", "session_s", 1, 65535, &x) < 0)
            return -1;
        op->dos_session_s = (uint32_t)x;
        x = op->dos_holdoff_s;
        if (get_int(c, v, "$.optical.dos", "holdoff_s", 1, 65535, &x) < 0)
            return -1;
        op->dos_holdoff_s = (uint32_t)x;
    }
    if ((v = json_object_get(o, "timing"))) {
        static const char *const tk[] = {"interchar_ms", "ack_timeout_ms", "retries", "channel_timeout_ms",
                                         NULL};
        if (check_keys(c, v, "$.optical.timing", tk) < 0)
            return -1;
        uint32_t *dst[4] = {&op->interchar_ms, &op->ack_timeout_ms, &op->retries, &op->channel_timeout_ms};
        const long long lo[4] = {10, 100, 0, 500}, hi[4] = {60000, 60000, 10, 600000};
        for (int i = 0; i < 4; i++) {
            x = *dst[i];
            if (get_int(c, v, "$.optical.timing", tk[i], lo[i], hi[i], &x) < 0)
                return -1;
            *dst[i] = (uint32_t)x;
        }
        if (json_object_get(v, "retries"))
            op->has_retries = true;
    }
    if ((v = json_object_get(o, "rules")) && parse_optical_rules(c, v, op) < 0)
        return -1;
    return 0;
}

static int parse_root(pctx *c, json_t *root, sim_profile *p)
{
    static const char *const keys[] = {"name", "description", "generation", "identity", "ratings",
                                       "bt21", "et11", "keys", "model", "clock", "seq_start",
                                       "tls_required", "policy", "locked_tables", "overrides",
                                       "optical", "tables", "import", NULL};
    if (check_keys(c, root, "$", keys) < 0)
        return -1;
    int have;
    if (get_str(c, root, "$", "name", 63, p->name, sizeof p->name, &have) < 0)
        return -1;
    if (!have)
        return fail(c, "$.name", "is required");
    char desc[512];
    if (get_str(c, root, "$", "description", sizeof desc - 1, desc, sizeof desc, NULL) < 0)
        return -1;
    long long gen = p->generation;
    if (get_int(c, root, "$", "generation", 2, 4, &gen) < 0)
        return -1;
    p->generation = (int)gen;
    et11_defaults(p); /* generation decides the Gen 4 defaults */
    json_t *v;
    if ((v = json_object_get(root, "identity")) && parse_identity(c, v, p) < 0)
        return -1;
    if ((v = json_object_get(root, "ratings")) && parse_ratings(c, v, p) < 0)
        return -1;
    if ((v = json_object_get(root, "bt21")) && parse_bt21(c, v, p) < 0)
        return -1;
    if ((v = json_object_get(root, "et11")) && parse_et11(c, v, p) < 0)
        return -1;
    if ((v = json_object_get(root, "keys")) && parse_keys(c, v, p) < 0)
        return -1;
    if ((v = json_object_get(root, "model")) && parse_model(c, v, p) < 0)
        return -1;
    if ((v = json_object_get(root, "clock")) && parse_clock(c, v, p) < 0)
        return -1;
    long long seq = 0;
    if (json_object_get(root, "seq_start")) {
        if (get_int(c, root, "$", "seq_start", 0, 4294967295LL, &seq) < 0)
            return -1;
        p->seq_start = (uint32_t)seq;
        p->has_seq_start = true;
    }
    if (get_bool(c, root, "$", "tls_required", &p->tls_required) < 0)
        return -1;
    if ((v = json_object_get(root, "policy")) && parse_policy(c, v, &p->policy) < 0)
        return -1;
    if ((v = json_object_get(root, "locked_tables")) && parse_locked(c, v, p) < 0)
        return -1;
    /* verbatim tables first: overrides then apply on top of them */
    if ((v = json_object_get(root, "tables")) && parse_tables(c, v, p) < 0)
        return -1;
    if ((v = json_object_get(root, "overrides")) && parse_overrides(c, v, p) < 0)
        return -1;
    if ((v = json_object_get(root, "import")) && parse_import(c, v) < 0)
        return -1;
    if ((v = json_object_get(root, "optical")) && parse_optical(c, v, &p->optical) < 0)
        return -1;
    return 0;
}

static int load_json(sim_profile *p, json_t *root, const char *file, const char *path_for_struct,
                     char *err, size_t errlen)
{
    sim_profile tmp;
    profile_baseline(&tmp);
    snprintf(tmp.path, sizeof tmp.path, "%s", path_for_struct);
    pctx c = {file, err, errlen, 0};
    if (parse_root(&c, root, &tmp) < 0) {
        sim_profile_free(&tmp);
        return -1;
    }
    *p = tmp;
    return 0;
}

/* A document from json_load_file/json_loadb (NULL: its error in je) into
 * p; takes the reference to root. */
static int load_parsed(sim_profile *p, json_t *root, const json_error_t *je, const char *name, char *err,
                       size_t errlen)
{
    if (!root) {
        if (err && errlen)
            snprintf(err, errlen, "%s: $: cannot load: %s (line %d, column %d)", name, je->text, je->line,
                     je->column);
        return -1;
    }
    int rc = load_json(p, root, name, name, err, errlen);
    json_decref(root);
    return rc;
}

int sim_profile_load(sim_profile *p, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    return load_parsed(p, json_load_file(path, JSON_REJECT_DUPLICATES, &je), &je, path, err, errlen);
}

int sim_profile_parse(sim_profile *p, const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    json_error_t je;
    return load_parsed(p, json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), &je, name, err, errlen);
}

void sim_profile_default(sim_profile *p)
{
    json_error_t je;
    json_t *root = json_loads(DEFAULT_PROFILE_JSON, JSON_REJECT_DUPLICATES, &je);
    char err[256];
    if (!root || load_json(p, root, "(built-in nes-3ph)", "(built-in)", err, sizeof err) < 0) {
        /* Cannot happen unless the embedded text is broken (test_profile
         * would fail); fall back to the baseline rather than crash. */
        profile_baseline(p);
    }
    json_decref(root);
}

void sim_profile_free(sim_profile *p)
{
    for (size_t i = 0; i < p->n_overrides; i++) {
        free(p->overrides[i].bytes);
        p->overrides[i].bytes = NULL;
    }
    p->n_overrides = 0;
}
