/* mepc_discovery: the Home Assistant MQTT discovery entities of a MEP module.
 *
 * Owns: the one table of entities every port announces (key, name, the
 * state topic and JSON member the value comes from, scale, unit, device
 * class, state class, entity category, which device it belongs to, and the
 * phase it needs), the state topics after the user's prefix
 * (docs/module-behaviour.md 8.2, plus a diagnostics topic of our own), the
 * value templates and entity ids derived from a row, the phase count of the
 * meter (ET04.62, docs/mep.md 12.4). Ports
 * (firmware/host/host_mqtt.c, the Arduino sketch's mep_mqtt.cpp) turn the
 * rows into JSON configs and publish them; nothing here does I/O.
 *
 * Home Assistant schema (MQTT sensor and binary sensor, 2025.10 on):
 * `default_entity_id` (`<component>.<slug>`) replaces the deprecated
 * `object_id`; `entity_category` is `diagnostic` or absent for sensors;
 * `device.via_device` names the identifier of the device a device is reached
 * through (here: the meter through the module).
 *
 * Freestanding like the rest of the core (mepc.h rules): text is built with
 * mepc_sb (mepc_fmt.h).
 */
#ifndef MEPC_DISCOVERY_H
#define MEPC_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mepc.h"
#include "mepc_fmt.h"

/* State topics, after "<prefix>/". The first five are the reference's
 * (docs/module-behaviour.md 8.2, same order as the ports' 8.2 payload
 * builders); MEPC_DISC_T_DIAG carries our diagnostics (see the end of this file). */
typedef enum {
    MEPC_DISC_T_SENSORS = 0,   /* sensors/mydatajson */
    MEPC_DISC_T_TOTAL,         /* meterConsumptionTotal/mydatajson */
    MEPC_DISC_T_FWD,           /* meterConsumptionFwd/mydatajson */
    MEPC_DISC_T_REV,           /* meterConsumptionRev/mydatajson */
    MEPC_DISC_T_FREQ,          /* frequency/mydatajson */
    MEPC_DISC_T_DIAG,          /* diagnostics/mydatajson */
    MEPC_DISC_TOPICS
} mepc_disc_topic;

/* The topic text after "<prefix>/"; NULL outside [0, MEPC_DISC_TOPICS). */
const char *mepc_disc_topic_name(unsigned topic);

typedef enum { MEPC_DISC_SENSOR = 0, MEPC_DISC_BINARY_SENSOR } mepc_disc_component;
typedef enum { MEPC_DISC_METER = 0, MEPC_DISC_MODULE } mepc_disc_device;
typedef enum { MEPC_DISC_PRIMARY = 0, MEPC_DISC_DIAGNOSTIC } mepc_disc_category;

/* One entity, filled by mepc_disc_get. Strings are constant; NULL = the key
 * is left out of the config. The table stores a per-phase quantity once
 * (L1..L3 share a row), so the key, name and member are built from the
 * row's text and the phase by mepc_disc_key/_name/_member. */
typedef struct {
    const char *unit;          /* unit_of_measurement */
    const char *device_class;
    const char *state_class;
    uint16_t divisor;          /* the template divides the member by this (1 = as is) */
    uint8_t topic;             /* mepc_disc_topic */
    uint8_t component;         /* mepc_disc_component */
    uint8_t device;            /* mepc_disc_device: whose device page shows it */
    uint8_t category;          /* mepc_disc_category */
    uint8_t phase;             /* 0 = the whole meter; 1..3 = that phase's value */
    const char *name_, *member_, *key_;   /* row text: use the builders below */
} mepc_disc_entity;

/* The entities, 0 <= i < mepc_disc_count(); false past the end. */
size_t mepc_disc_count(void);
bool mepc_disc_get(size_t i, mepc_disc_entity *e);

/* Key ([a-z0-9_]: the config topic's object id, the end of unique_id and
 * of default_entity_id), name (the device name is not repeated in it:
 * "L2 voltage") and the JSON member on the state topic ("L2_RMS_V"). */
void mepc_disc_key(const mepc_disc_entity *e, mepc_sb *b);
void mepc_disc_name(const mepc_disc_entity *e, mepc_sb *b);
void mepc_disc_member(const mepc_disc_entity *e, mepc_sb *b);

/* The meter's phase count from ET04.62 (voltage phases not flagged absent):
 * 1..3, or 0 while ET04 has not been read (or could not be). */
uint8_t mepc_disc_phases(const mepc_client *c);
/* Does the entity exist on a meter with `phases` phases? phases 0 (not
 * known) counts as 3: a port that cannot wait announces everything. */
bool mepc_disc_applies(const mepc_disc_entity *e, uint8_t phases);

/* "sensor" / "binary_sensor": the discovery topic's component and the
 * default_entity_id's domain. */
const char *mepc_disc_component_name(const mepc_disc_entity *e);

/* The value_template: `{{ value_json.<member> }}`, with ` | float / <d>` for
 * a divisor, or `{{ 'ON' if value_json.<member> else 'OFF' }}` for a binary
 * sensor (its default payload_on/payload_off). */
void mepc_disc_value_template(const mepc_disc_entity *e, mepc_sb *b);

/* Append `s` reduced to an id: ASCII letters and digits kept (lower-cased
 * if `lower`), everything else '_'. Empty input appends "unknown". */
void mepc_disc_id(mepc_sb *b, const char *s, bool lower);

/* The diagnostics topic (MEPC_DISC_T_DIAG) is built by the port (it is
 * code, and the core's code budget is small: ci/fw-size.sh): compact JSON
 * with at least the members the table's diagnostic rows read (Status,
 * Energy_Suspect, Raw_Fwd_Act_Wh, Raw_Rev_Act_Wh, Polls_OK, Timeouts,
 * Digest_Rejects, Auth_Failures, Recovery_Cycles), published once the
 * meter's identity is known (the entities exist from then on) and also
 * while readings are not served (that is when they matter), the raw
 * registers null until a BT23 reply was decoded. */

#endif
