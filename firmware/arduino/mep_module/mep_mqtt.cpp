/* mep_mqtt: the module's MQTT output over PubSubClient (see mep_mqtt.h). */
#include "mep_mqtt.h"

#include <WiFi.h>
#include <stdio.h>
#include <string.h>

#include "mep_dash.h"
#include "mep_json.h"

#define PUBLISH_PERIOD_MS 10000u  /* 8.2: every 10 s */
#define BACKOFF_MAX_MS 30000u
#define MQTT_BUFFER 1024u         /* one discovery config (~700 bytes) + topic + header */
#define DISCOVERY_PREFIX "homeassistant"

/* HA discovery entities: state topic index (mep_dash_mqtt_topic), member,
 * divisor for the value template, unit, device class, state class. */
typedef struct {
    const char *object;
    const char *name;
    uint8_t topic;
    const char *member;
    uint16_t divisor;
    const char *unit;
    const char *device_class;
    const char *state_class;
} ha_entity;

static const ha_entity entities[] = {
    {"fwd_act_wh", "Energy consumed", 1, "Fwd_Act_Wh", 1, "Wh", "energy", "total_increasing"},
    {"rev_act_wh", "Energy returned", 1, "Rev_Act_Wh", 1, "Wh", "energy", "total_increasing"},
    {"fwd_w", "Power consumed", 2, "Fwd_W", 1, "W", "power", "measurement"},
    {"fwd_avg_w", "Average power consumed", 2, "Fwd_Avg_W", 1, "W", "power", "measurement"},
    {"l1_fwd_w", "L1 power consumed", 2, "L1_Fwd_W", 1, "W", "power", "measurement"},
    {"l2_fwd_w", "L2 power consumed", 2, "L2_Fwd_W", 1, "W", "power", "measurement"},
    {"l3_fwd_w", "L3 power consumed", 2, "L3_Fwd_W", 1, "W", "power", "measurement"},
    {"rev_w", "Power returned", 3, "Rev_W", 1, "W", "power", "measurement"},
    {"rev_avg_w", "Average power returned", 3, "Rev_Avg_W", 1, "W", "power", "measurement"},
    {"l1_rev_w", "L1 power returned", 3, "L1_Rev_W", 1, "W", "power", "measurement"},
    {"l2_rev_w", "L2 power returned", 3, "L2_Rev_W", 1, "W", "power", "measurement"},
    {"l3_rev_w", "L3 power returned", 3, "L3_Rev_W", 1, "W", "power", "measurement"},
    {"l1_rms_a", "L1 current", 0, "L1_RMS_A", 1000, "A", "current", "measurement"},
    {"l2_rms_a", "L2 current", 0, "L2_RMS_A", 1000, "A", "current", "measurement"},
    {"l3_rms_a", "L3 current", 0, "L3_RMS_A", 1000, "A", "current", "measurement"},
    {"l1_rms_v", "L1 voltage", 0, "L1_RMS_V", 1000, "V", "voltage", "measurement"},
    {"l2_rms_v", "L2 voltage", 0, "L2_RMS_V", 1000, "V", "voltage", "measurement"},
    {"l3_rms_v", "L3 voltage", 0, "L3_RMS_V", 1000, "V", "voltage", "measurement"},
    {"l1_pf", "L1 power factor", 0, "L1_PF_Fac", 1000, NULL, "power_factor", "measurement"},
    {"l2_pf", "L2 power factor", 0, "L2_PF_Fac", 1000, NULL, "power_factor", "measurement"},
    {"l3_pf", "L3 power factor", 0, "L3_PF_Fac", 1000, NULL, "power_factor", "measurement"},
    {"freq_hz", "Frequency", 4, "Freq_mHz", 1000, "Hz", "frequency", "measurement"},
};

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

void MepMqtt::publish_discovery(const mepc_readings *r)
{
    char sn[32], topic[128], state[96], uid[96], tmpl[64], devid[48], devname[48];
    const char *serial = r->utility_sn[0] ? r->utility_sn : "unknown";
    reduce(serial, sn, sizeof sn, false);
    snprintf(devid, sizeof devid, "osgp_meter_%s", sn);
    snprintf(devname, sizeof devname, "OSGP meter %s", serial);
    static char payload[MQTT_BUFFER - 160];
    for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++) {
        const ha_entity *e = &entities[i];
        snprintf(topic, sizeof topic, "%s/sensor/%s/%s/config", DISCOVERY_PREFIX, node_, e->object);
        snprintf(state, sizeof state, "%s/%s", prefix_, mep_dash_mqtt_topic(e->topic));
        snprintf(uid, sizeof uid, "%s_%s_%s", node_, sn, e->object);
        if (e->divisor > 1)
            snprintf(tmpl, sizeof tmpl, "{{ value_json.%s | float / %u }}", e->member, (unsigned)e->divisor);
        else
            snprintf(tmpl, sizeof tmpl, "{{ value_json.%s }}", e->member);
        MepJson j(payload, sizeof payload);
        j.begin();
        j.str("name", e->name);
        j.str("unique_id", uid, sizeof uid);
        j.str("object_id", uid, sizeof uid);
        j.str("state_topic", state, sizeof state);
        j.str("value_template", tmpl);
        if (e->unit)
            j.str("unit_of_measurement", e->unit);
        j.str("device_class", e->device_class);
        j.str("state_class", e->state_class);
        j.str("availability_topic", lwt_);
        j.str("payload_available", "Online");
        j.str("payload_not_available", "Offline");
        j.object("device");
        j.str("name", devname);
        j.str("identifiers", devid); /* HA accepts a string or a list */
        j.str("manufacturer", r->manufacturer, sizeof r->manufacturer);
        j.str("model", r->model, sizeof r->model);
        j.str("sw_version", r->sw_version, sizeof r->sw_version);
        j.str("serial_number", r->utility_sn, sizeof r->utility_sn);
        j.end();
        j.end();
        if (j.ok())
            publish(topic, payload, true);
        else
            publish_errors++;
    }
    discovery_sent++;
    snprintf(discovery_sn_, sizeof discovery_sn_, "%s", r->utility_sn);
    Serial.printf("mqtt: Home Assistant discovery sent for meter %s (%u sensors)\n", r->utility_sn,
                  (unsigned)(sizeof entities / sizeof entities[0]));
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
    if (r && r->identity_valid && (discovery_due_ || strcmp(discovery_sn_, r->utility_sn) != 0)) {
        publish_discovery(r);
        discovery_due_ = false;
    }
    if (have_published_ && now_ms - last_publish_ms_ < PUBLISH_PERIOD_MS)
        return;
    char payload[400], topic[80];
    bool any = false;
    for (int i = 0; i < MEP_MQTT_TOPICS; i++) {
        if (!r || !mep_dash_mqtt_payload(r, i, payload, sizeof payload))
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
