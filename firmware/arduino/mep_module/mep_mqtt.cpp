/* mep_mqtt: the module's MQTT output over PubSubClient (see mep_mqtt.h). */
#include "mep_mqtt.h"

#include <WiFi.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "mep_dash.h"
#include "mep_json.h"

extern "C" {
#include "src/firmware/core/mepc_discovery.h"
}

#define PUBLISH_PERIOD_MS 10000u  /* 8.2: every 10 s */
#define BACKOFF_MAX_MS 30000u
#define MQTT_BUFFER 1536u         /* one discovery config (~1000 bytes) + topic + header */
#define DISCOVERY_PREFIX "homeassistant"

static void reduce(const char *in, char *out, size_t cap, bool dash_ok)
{
    size_t k = 0;
    for (size_t i = 0; in[i] && k + 1 < cap; i++) {
        char c = in[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  (dash_ok && c == '-');
        out[k++] = ok ? c : '_';
    }
    out[k] = '\0';
}

void MepMqtt::configure(const char *host, uint16_t port, const char *prefix)
{
    if (mq_.connected())
        mq_.disconnect();
    snprintf(host_, sizeof host_, "%s", host);
    port_ = port;
    snprintf(prefix_, sizeof prefix_, "%s", prefix);
    reduce(prefix_, node_, sizeof node_, true);
    snprintf(lwt_, sizeof lwt_, "%s/lwt", prefix_);
    uint8_t mac[6];
    WiFi.macAddress(mac);
    snprintf(client_id_, sizeof client_id_, "%s-%02x%02x%02x", node_, mac[3], mac[4], mac[5]);
    enabled_ = host_[0] != '\0';
    mq_.setServer(host_, port_); /* PubSubClient keeps the pointer: host_ lives here */
    mq_.setBufferSize(MQTT_BUFFER);
    next_try_ms_ = millis();
    backoff_ms_ = 1000;
    was_connected_ = false;
    have_published_ = false;
}

bool MepMqtt::try_connect(uint32_t now_ms)
{
    if ((int32_t)(now_ms - next_try_ms_) < 0)
        return false;
    if (WiFi.status() != WL_CONNECTED) {
        next_try_ms_ = now_ms + 1000;
        return false;
    }
    /* 8.2: last will `Offline`, retained, QoS 0 */
    if (!mq_.connect(client_id_, lwt_, 0, true, "Offline")) {
        if (connect_failures++ == 0 || backoff_ms_ == BACKOFF_MAX_MS)
            Serial.printf("mqtt: cannot connect to %s:%u (state %d); retrying with back-off\n", host_,
                          (unsigned)port_, mq_.state());
        next_try_ms_ = millis() + backoff_ms_;
        backoff_ms_ = backoff_ms_ * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms_ * 2;
        return false;
    }
    backoff_ms_ = 1000;
    connects++;
    mq_.publish(lwt_, "Online", true); /* retained */
    Serial.printf("mqtt: connected to %s:%u; %s = Online\n", host_, (unsigned)port_, lwt_);
    discovery_due_ = true;
    return true;
}

void MepMqtt::publish(const char *topic, const char *payload, bool retain)
{
    if (mq_.publish(topic, payload, retain))
        published++;
    else
        publish_errors++;
}

/* Home Assistant discovery from the core's entity table
 * (firmware/core/mepc_discovery.h, the same rows as the host port): a meter
 * device reached through the module's device (via_device), diagnostics with
 * entity_category, default_entity_id instead of the deprecated object_id.
 * The phase count is not known here, so the configs go out once readings
 * are served and announce three phases (mepc_disc_applies with 0). */
void MepMqtt::publish_discovery(const mepc_readings *r)
{
    char meter_id[48], module_id[48], devname[48], modname[48], url[40];
    mepc_sb b;
    mepc_sb_init(&b, meter_id, sizeof meter_id);
    mepc_sb_str(&b, "osgp_meter_");
    mepc_disc_id(&b, r->utility_sn, false);
    mepc_sb_init(&b, module_id, sizeof module_id);
    mepc_sb_str(&b, "mep_module_");
    mepc_disc_id(&b, node_, false);
    snprintf(devname, sizeof devname, "OSGP meter %s", r->utility_sn[0] ? r->utility_sn : "unknown");
    snprintf(modname, sizeof modname, "MEP module %s", prefix_);
    snprintf(url, sizeof url, "http://%s/", WiFi.localIP().toString().c_str());
    static char payload[MQTT_BUFFER - 160];
    size_t announced = 0;
    for (size_t i = 0; i < mepc_disc_count(); i++) {
        mepc_disc_entity entity, *e = &entity;
        if (!mepc_disc_get(i, e))
            break;
        char topic[128], state[96], uid[96], entity_id[112], tmpl[96], key[40], name[48];
        mepc_sb_init(&b, key, sizeof key);
        mepc_disc_key(e, &b);
        mepc_sb_init(&b, name, sizeof name);
        mepc_disc_name(e, &b);
        snprintf(topic, sizeof topic, "%s/%s/%s/%s/config", DISCOVERY_PREFIX, mepc_disc_component_name(e),
                 node_, key);
        if (!mepc_disc_applies(e, 0)) {
            publish(topic, "", true); /* removes an entity announced before */
            continue;
        }
        bool meter = e->device == MEPC_DISC_METER;
        mepc_sb_init(&b, uid, sizeof uid);
        mepc_sb_str(&b, node_); /* node_serial_key: the unique_id of earlier releases */
        mepc_sb_char(&b, '_');
        if (meter)
            mepc_disc_id(&b, r->utility_sn, false);
        else
            mepc_sb_str(&b, "module");
        mepc_sb_char(&b, '_');
        mepc_sb_str(&b, key);
        mepc_sb_init(&b, entity_id, sizeof entity_id);
        mepc_sb_str(&b, mepc_disc_component_name(e));
        mepc_sb_char(&b, '.');
        mepc_disc_id(&b, uid, true);
        mepc_sb_init(&b, tmpl, sizeof tmpl);
        mepc_disc_value_template(e, &b);
        snprintf(state, sizeof state, "%s/%s", prefix_, mepc_disc_topic_name(e->topic));

        MepJson j(payload, sizeof payload);
        j.begin();
        j.str("name", name, sizeof name);
        j.str("unique_id", uid, sizeof uid);
        j.str("default_entity_id", entity_id, sizeof entity_id);
        j.str("state_topic", state, sizeof state);
        j.str("value_template", tmpl, sizeof tmpl);
        if (e->unit)
            j.str("unit_of_measurement", e->unit);
        if (e->device_class)
            j.str("device_class", e->device_class);
        if (e->state_class)
            j.str("state_class", e->state_class);
        if (e->category == MEPC_DISC_DIAGNOSTIC)
            j.str("entity_category", "diagnostic");
        j.str("availability_topic", lwt_);
        j.str("payload_available", "Online");
        j.str("payload_not_available", "Offline");
        j.object("device");
        j.str("identifiers", meter ? meter_id : module_id); /* HA accepts a string or a list */
        if (meter) {
            j.str("name", devname);
            j.str("manufacturer", r->manufacturer, sizeof r->manufacturer);
            j.str("model", r->model, sizeof r->model);
            j.str("sw_version", r->sw_version, sizeof r->sw_version);
            j.str("serial_number", r->utility_sn[0] ? r->utility_sn : "unknown", sizeof r->utility_sn);
            j.str("via_device", module_id);
        } else {
            j.str("name", modname);
            j.str("manufacturer", MEP_SW_BY);
            j.str("model", MEP_SW_NAME);
            j.str("sw_version", MEP_SW_VERSION);
        }
        j.str("configuration_url", url);
        j.end();
        j.object("origin");
        j.str("name", MEP_SW_NAME);
        j.str("sw_version", MEP_SW_VERSION);
        j.str("support_url", url);
        j.end();
        j.end();
        if (j.ok()) {
            publish(topic, payload, true);
            announced++;
        } else {
            publish_errors++;
        }
    }
    discovery_sent++;
    snprintf(discovery_sn_, sizeof discovery_sn_, "%s", r->utility_sn);
    Serial.printf("mqtt: Home Assistant discovery sent for meter %s (%u entities)\n", r->utility_sn,
                  (unsigned)announced);
}

void MepMqtt::loop(const mepc_readings *r, uint32_t now_ms)
{
    if (!enabled_)
        return;
    if (!mq_.connected()) {
        if (was_connected_)
            Serial.printf("mqtt: connection lost (state %d); reconnecting\n", mq_.state());
        was_connected_ = false;
        if (!try_connect(now_ms))
            return;
        was_connected_ = true;
    }
    mq_.loop();
    bool ready = r && mep_dash_not_ready(r, now_ms) == NULL;
    if (ready && (discovery_due_ || strcmp(discovery_sn_, r->utility_sn) != 0)) {
        publish_discovery(r);
        discovery_due_ = false;
    }
    if (have_published_ && now_ms - last_publish_ms_ < PUBLISH_PERIOD_MS)
        return;
    char payload[400], topic[80];
    bool any = false;
    /* diagnostics (mepc_discovery.h: status, raw registers, counters) of a
     * known meter, also while readings are not served: that is when they matter */
    if (r && r->identity_valid) {
        if (mep_dash_diag_payload(r, payload, sizeof payload)) {
            snprintf(topic, sizeof topic, "%s/%s", prefix_, mepc_disc_topic_name(MEPC_DISC_T_DIAG));
            publish(topic, payload, false);
            any = true;
        }
    }
    for (int i = 0; i < MEP_MQTT_TOPICS; i++) {
        if (!r || !mep_dash_mqtt_payload(r, now_ms, i, payload, sizeof payload))
            continue; /* never zeros as readings (S06) */
        snprintf(topic, sizeof topic, "%s/%s", prefix_, mep_dash_mqtt_topic(i));
        publish(topic, payload, false);
        any = true;
    }
    if (any) {
        have_published_ = true;
        last_publish_ms_ = now_ms;
    }
}
