/* mep_settings: the module's settings in Preferences (see mep_settings.h). */
#include "mep_settings.h"

#include <Preferences.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define NS_SETTINGS "mep"
#define NS_CORE "mepc"
#define SETTINGS_VERSION 1u

typedef enum { K_KEY, K_BOOL, K_TEXT, K_UINT, K_PREFIX } kind_t;

typedef struct {
    const char *name;
    kind_t kind;
    size_t offset;
    size_t size;         /* text: buffer size; uint: unused */
    uint32_t min, max;   /* uint limits */
    unsigned effects;
    bool secret;
} setting_t;

#define TEXT(n, f, fx, sec) {n, K_TEXT, offsetof(MepSettings, f), sizeof(((MepSettings *)0)->f), 0, 0, fx, sec}
/* The one table the route, the console, load and save all walk. */
static const setting_t table[] = {
    {"mbk", K_KEY, offsetof(MepSettings, mbk), sizeof(((MepSettings *)0)->mbk), 0, 0, MEP_FX_CORE, true},
    {"mak", K_KEY, offsetof(MepSettings, mak), sizeof(((MepSettings *)0)->mak), 0, 0, MEP_FX_CORE, true},
    {"use_mak", K_BOOL, offsetof(MepSettings, use_mak), 0, 0, 1, MEP_FX_CORE, false},
    {"encrypt", K_BOOL, offsetof(MepSettings, encrypt), 0, 0, 1, MEP_FX_CORE, false},
    TEXT("wifi_ssid", wifi_ssid, MEP_FX_WIFI, false),
    TEXT("wifi_pass", wifi_pass, MEP_FX_WIFI, true),
    TEXT("mqtt_host", mqtt_host, MEP_FX_MQTT, false),
    {"mqtt_port", K_UINT, offsetof(MepSettings, mqtt_port), 0, 1, 65535, MEP_FX_MQTT, false},
    {"mqtt_prefix", K_PREFIX, offsetof(MepSettings, mqtt_prefix), sizeof(((MepSettings *)0)->mqtt_prefix), 0, 0,
     MEP_FX_MQTT, false},
    {"poll_ms", K_UINT, offsetof(MepSettings, poll_ms), 0, 1000, 600000, MEP_FX_CORE, false},
};
#define N_SETTINGS (sizeof table / sizeof table[0])

static const setting_t *find(const char *name)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (!strcmp(table[i].name, name))
            return &table[i];
    return NULL;
}

static void copy_text(char *dst, size_t cap, const char *src)
{
    strncpy(dst, src, cap - 1);
    dst[cap - 1] = '\0';
}

void mep_settings_defaults(MepSettings *s)
{
    memset(s, 0, sizeof *s);
    copy_text(s->mbk, sizeof s->mbk, MEP_DEFAULT_MBK);
    copy_text(s->mak, sizeof s->mak, MEP_DEFAULT_MAK);
    copy_text(s->wifi_ssid, sizeof s->wifi_ssid, MEP_DEFAULT_WIFI_SSID);
    copy_text(s->wifi_pass, sizeof s->wifi_pass, MEP_DEFAULT_WIFI_PASS);
    copy_text(s->mqtt_host, sizeof s->mqtt_host, MEP_DEFAULT_MQTT_HOST);
    s->mqtt_port = MEP_DEFAULT_MQTT_PORT;
    copy_text(s->mqtt_prefix, sizeof s->mqtt_prefix, MEP_DEFAULT_MQTT_PREFIX);
    s->poll_ms = MEP_DEFAULT_POLL_MS;
}

/* docs/module-behaviour.md 3: twenty '0' characters mean "no key". */
static bool is_no_key(const char *v)
{
    if (!*v)
        return true;
    for (const char *p = v; *p; p++)
        if (*p != '0')
            return false;
    return strlen(v) == 20;
}

static const char *parse_uint(const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end = NULL;
    if (!*v || *v == '-')
        return "expected a whole number";
    unsigned long n = strtoul(v, &end, 10);
    if (*end)
        return "expected a whole number";
    if (n < min || n > max)
        return "out of range";
    *out = (uint32_t)n;
    return NULL;
}

static const char *check_text(const setting_t *t, const char *v)
{
    if (strlen(v) >= t->size)
        return "too long";
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7F)
            return "control characters are not allowed";
    return NULL;
}

static const char *check(const setting_t *t, const char *v)
{
    uint8_t key[16];
    switch (t->kind) {
    case K_KEY:
        if (is_no_key(v) || mepc_parse_key(v, key))
            return NULL;
        return "a key is 20 (or 16) characters as the utility hands it out, or 32/40 hex digits";
    case K_BOOL:
        if (!strcmp(v, "0") || !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "false") ||
            !strcmp(v, "on") || !strcmp(v, "off"))
            return NULL;
        return "expected 1/0, true/false or on/off";
    case K_UINT: {
        uint32_t n;
        return parse_uint(v, t->min, t->max, &n);
    }
    case K_PREFIX:
        if (!*v)
            return "the MQTT topic prefix cannot be empty";
        if (strchr(v, '+') || strchr(v, '#'))
            return "the MQTT topic prefix cannot contain + or #";
        return check_text(t, v);
    case K_TEXT:
        return check_text(t, v);
    }
    return "unknown kind";
}

static void store(MepSettings *s, const setting_t *t, const char *v)
{
    uint8_t *base = (uint8_t *)s;
    switch (t->kind) {
    case K_KEY:
        copy_text((char *)(base + t->offset), t->size, is_no_key(v) ? "" : v);
        break;
    case K_BOOL:
        *(bool *)(base + t->offset) = !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "on");
        break;
    case K_UINT:
        parse_uint(v, t->min, t->max, (uint32_t *)(base + t->offset));
        break;
    case K_TEXT:
    case K_PREFIX:
        copy_text((char *)(base + t->offset), t->size, v);
        break;
    }
}

const char *mep_settings_set(MepSettings *s, const char *name, const char *value, unsigned *effects)
{
    const setting_t *t = find(name);
    if (!t)
        return "unknown setting";
    const char *err = check(t, value);
    if (err)
        return err;
    store(s, t, value);
    if (effects)
        *effects |= t->effects;
    return NULL;
}

bool mep_settings_secret(const char *name)
{
    const setting_t *t = find(name);
    return t && t->secret;
}

const char *mep_settings_name(size_t i, bool *secret)
{
    if (i >= N_SETTINGS)
        return NULL;
    if (secret)
        *secret = table[i].secret;
    return table[i].name;
}

void mep_settings_show(const MepSettings *s, const char *name, char *out, size_t cap)
{
    const setting_t *t = find(name);
    const uint8_t *base = (const uint8_t *)s;
    out[0] = '\0';
    if (!t || cap == 0)
        return;
    switch (t->kind) {
    case K_KEY:
    case K_TEXT:
    case K_PREFIX: {
        const char *v = (const char *)(base + t->offset);
        copy_text(out, cap, t->secret ? (*v ? "(set)" : "") : v);
        break;
    }
    case K_BOOL:
        copy_text(out, cap, *(const bool *)(base + t->offset) ? "1" : "0");
        break;
    case K_UINT:
        snprintf(out, cap, "%lu", (unsigned long)*(const uint32_t *)(base + t->offset));
        break;
    }
}

/* Preferences keys are the setting names (all <= 15 characters, the NVS limit). */
static void save_one(Preferences &p, const MepSettings *s, const setting_t *t)
{
    const uint8_t *base = (const uint8_t *)s;
    switch (t->kind) {
    case K_KEY:
    case K_TEXT:
    case K_PREFIX:
        p.putString(t->name, (const char *)(base + t->offset));
        break;
    case K_BOOL:
        p.putBool(t->name, *(const bool *)(base + t->offset));
        break;
    case K_UINT:
        p.putULong(t->name, *(const uint32_t *)(base + t->offset));
        break;
    }
}

static void load_one(Preferences &p, MepSettings *s, const setting_t *t)
{
    uint8_t *base = (uint8_t *)s;
    switch (t->kind) {
    case K_KEY:
    case K_TEXT:
    case K_PREFIX: {
        String v = p.getString(t->name, (const char *)(base + t->offset));
        /* a value that no longer passes validation keeps the default */
        if (!check(t, v.c_str()))
            copy_text((char *)(base + t->offset), t->size, v.c_str());
        break;
    }
    case K_BOOL:
        *(bool *)(base + t->offset) = p.getBool(t->name, *(const bool *)(base + t->offset));
        break;
    case K_UINT: {
        uint32_t v = p.getULong(t->name, *(const uint32_t *)(base + t->offset));
        if (v >= t->min && v <= t->max)
            *(uint32_t *)(base + t->offset) = v;
        break;
    }
    }
}

void mep_settings_load(MepSettings *s)
{
    mep_settings_defaults(s);
    Preferences p;
    if (!p.begin(NS_SETTINGS, false))
        return; /* NVS unusable: run on the defaults */
    if (p.getUInt("version", 0) != SETTINGS_VERSION) {
        /* first boot: seed Preferences from config.h */
        for (size_t i = 0; i < N_SETTINGS; i++)
            save_one(p, s, &table[i]);
        p.putUInt("version", SETTINGS_VERSION);
    } else {
        for (size_t i = 0; i < N_SETTINGS; i++)
            load_one(p, s, &table[i]);
    }
    p.end();
}

bool mep_settings_save(const MepSettings *s)
{
    Preferences p;
    if (!p.begin(NS_SETTINGS, false))
        return false;
    for (size_t i = 0; i < N_SETTINGS; i++)
        save_one(p, s, &table[i]);
    p.putUInt("version", SETTINGS_VERSION);
    p.end();
    return true;
}

bool mep_settings_has_key(const MepSettings *s)
{
    uint8_t key[16];
    const char *k = s->use_mak ? s->mak : s->mbk;
    return *k && mepc_parse_key(k, key);
}

bool mep_settings_core_config(const MepSettings *s, mepc_config *cfg)
{
    mepc_config_defaults(cfg);
    if (!mep_settings_has_key(s))
        return false;
    if (s->use_mak) {
        mepc_parse_key(s->mak, cfg->mak);
        cfg->has_mak = true;
    } else {
        mepc_parse_key(s->mbk, cfg->mbk);
    }
    cfg->encrypt = s->encrypt;
    cfg->poll_ms = s->poll_ms;
    return true;
}

bool mep_settings_blob_load(void *blob, size_t len)
{
    Preferences p;
    if (!p.begin(NS_CORE, true))
        return false; /* namespace not created yet: nothing stored */
    bool ok = p.getBytesLength("floor") == len && p.getBytes("floor", blob, len) == len;
    p.end();
    return ok;
}

bool mep_settings_blob_save(const void *blob, size_t len)
{
    Preferences p;
    if (!p.begin(NS_CORE, false))
        return false;
    bool ok = p.putBytes("floor", blob, len) == len;
    p.end();
    return ok;
}
