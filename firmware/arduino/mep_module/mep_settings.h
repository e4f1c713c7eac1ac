/* mep_settings: the module's settings, kept in Preferences (NVS).
 *
 * Owns: the settings table (name, kind, limits, what a change affects), the
 * first-boot seeding from config.h, validation of a new value (keys through
 * mepc_parse_key, docs/module-behaviour.md 3), loading/saving, and the mepc_config
 * they produce. The /setup route and the serial console both go through
 * mep_settings_set(), so they accept and refuse exactly the same things.
 * The core's energy-floor blob (mepc_hal.store_load/save) lives in its own
 * namespace here too.
 */
#ifndef MEP_SETTINGS_H
#define MEP_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "src/firmware/core/mepc.h"
}

typedef struct {
    char mbk[41];            /* as typed: 20 characters or 32/40 hex digits; "" = none */
    char mak[41];
    bool use_mak;            /* authenticate with the MAK instead of the MBK */
    bool encrypt;            /* RC4-encrypt requests (docs/mep.md 5.4) */
    char wifi_ssid[33];
    char wifi_pass[65];
    char mqtt_host[64];      /* "" = MQTT off */
    uint32_t mqtt_port;
    char mqtt_prefix[25];    /* docs/module-behaviour.md 8.2: <= 24 characters */
    uint32_t poll_ms;
} MepSettings;

/* What a changed setting needs (bit set). */
enum {
    MEP_FX_CORE = 1,         /* restart the MEP client with a new mepc_config */
    MEP_FX_WIFI = 2,         /* reconnect WiFi (the module restarts) */
    MEP_FX_MQTT = 4,         /* reconnect MQTT */
};

void mep_settings_defaults(MepSettings *s);
/* Load from Preferences; at first boot store the config.h defaults. */
void mep_settings_load(MepSettings *s);
bool mep_settings_save(const MepSettings *s);

/* Set one setting from text. Returns NULL on success (*effects gets the
 * MEP_FX_* bits), else a message naming the problem (s unchanged). */
const char *mep_settings_set(MepSettings *s, const char *name, const char *value, unsigned *effects);
/* Is `name` a secret setting (never shown back; empty input keeps it)? */
bool mep_settings_secret(const char *name);
/* Name of setting i, NULL past the end; *secret = never shown back. */
const char *mep_settings_name(size_t i, bool *secret);
/* Current value as text ("(set)" / "" for secrets). */
void mep_settings_show(const MepSettings *s, const char *name, char *out, size_t cap);

/* Is a usable key configured for the access level in use? */
bool mep_settings_has_key(const MepSettings *s);
/* The core's configuration from the settings; false if no usable key. */
bool mep_settings_core_config(const MepSettings *s, mepc_config *cfg);

/* mepc_hal.store_load / store_save: the core's opaque blob in NVS. */
bool mep_settings_blob_load(void *blob, size_t len);
bool mep_settings_blob_save(const void *blob, size_t len);

#endif
