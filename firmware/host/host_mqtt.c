/* host_mqtt: mepmod's MQTT output (see host_mqtt.h). */
#include "host_mqtt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>

#include "host_dash.h"

/* HA discovery entities: state topic index (host_dash_mqtt_topic), member,
 * scale divisor for the value template, unit, device class, state class. */
typedef struct {
    const char *object;
    const char *name;
    int topic;
    const char *member;
    int divisor;
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
    {"l1_fwd_avg_w", "L1 average power consumed", 2, "L1_Fwd_Avg_W", 1, "W", "power", "measurement"},
    {"l2_fwd_avg_w", "L2 average power consumed", 2, "L2_Fwd_Avg_W", 1, "W", "power", "measurement"},
    {"l3_fwd_avg_w", "L3 average power consumed", 2, "L3_Fwd_Avg_W", 1, "W", "power", "measurement"},
    {"rev_w", "Power returned", 3, "Rev_W", 1, "W", "power", "measurement"},
    {"rev_avg_w", "Average power returned", 3, "Rev_Avg_W", 1, "W", "power", "measurement"},
    {"l1_rev_w", "L1 power returned", 3, "L1_Rev_W", 1, "W", "power", "measurement"},
    {"l2_rev_w", "L2 power returned", 3, "L2_Rev_W", 1, "W", "power", "measurement"},
    {"l3_rev_w", "L3 power returned", 3, "L3_Rev_W", 1, "W", "power", "measurement"},
    {"l1_rev_avg_w", "L1 average power returned", 3, "L1_Rev_Avg_W", 1, "W", "power", "measurement"},
    {"l2_rev_avg_w", "L2 average power returned", 3, "L2_Rev_Avg_W", 1, "W", "power", "measurement"},
    {"l3_rev_avg_w", "L3 average power returned", 3, "L3_Rev_Avg_W", 1, "W", "power", "measurement"},
    {"l1_rms_a", "L1 current", 0, "L1_RMS_A", 1000, "A", "current", "measurement"},
    {"l2_rms_a", "L2 current", 0, "L2_RMS_A", 1000, "A", "current", "measurement"},
    {"l3_rms_a", "L3 current", 0, "L3_RMS_A", 1000, "A", "current", "measurement"},
    {"l1_rms_v", "L1 voltage", 0, "L1_RMS_V", 1000, "V", "voltage", "measurement"},
    {"l2_rms_v", "L2 voltage", 0, "L2_RMS_V", 1000, "V", "voltage", "measurement"},
    {"l3_rms_v", "L3 voltage", 0, "L3_RMS_V", 1000, "V", "voltage", "measurement"},
    {"l1_pf", "L1 power factor", 0, "L1_PF_Fac", 1000, NULL, "power_factor", "measurement"},
    {"l2_pf", "L2 power factor", 0, "L2_PF_Fac", 1000, NULL, "power_factor", "measurement"},
    {"l3_pf", "L3 power factor", 0, "L3_PF_Fac", 1000, NULL, "power_factor", "measurement"},
    {"import_reactive_var", "Reactive power imported", 0, "ImportReactive_VAr", 1, "var",
     "reactive_power", "measurement"},
    {"export_reactive_var", "Reactive power exported", 0, "ExportReactive_VAr", 1, "var",
     "reactive_power", "measurement"},
    {"freq_hz", "Frequency", 4, "Freq_mHz", 1000, "Hz", "frequency", "measurement"},
};

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    host_mqtt *m = obj;
    if (rc != 0) {
        host_logf(m->log, HOST_LOG_WARN, "mqtt: broker refused the connection: %s",
                  mosquitto_connack_string(rc));
        return;
    }
    /* 8.2: `Online`, retained, after connecting */
    mosquitto_publish(mosq, NULL, m->lwt_topic, 6, "Online", 0, true);
    atomic_fetch_add(&m->connects, 1);
    atomic_store(&m->connected, 1);
    host_logf(m->log, HOST_LOG_INFO, "mqtt: connected; %s = Online", m->lwt_topic);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    host_mqtt *m = obj;
    atomic_store(&m->connected, 0);
    if (rc != 0)
        host_logf(m->log, HOST_LOG_WARN, "mqtt: connection lost (%s); reconnecting",
                  mosquitto_strerror(rc));
}

/* The network thread. libmosquitto 2.0's mosquitto_loop_forever() only
 * reconnects a connection that once existed; if the very first connect fails
 * (broker not up yet) it gives up. So this loop owns the retries: connect
 * (blocking, here, never on the MEP loop), run the loop until it ends, wait
 * with a growing back-off (1 s -> 30 s), again - until asked to stop. */
static void *network_thread(void *arg)
{
    host_mqtt *m = arg;
    unsigned backoff_ms = 1000;
    bool warned = false;
    while (!atomic_load(&m->stop)) {
        int rc = mosquitto_connect(m->mosq, m->host, m->port, 30);
        if (rc == MOSQ_ERR_SUCCESS) {
            backoff_ms = 1000;
            warned = false;
            if (atomic_load(&m->stop))
                break;
            rc = mosquitto_loop_forever(m->mosq, 500, 1);
            atomic_store(&m->connected, 0);
            if (atomic_load(&m->stop))
                break;
            host_logf(m->log, HOST_LOG_WARN, "mqtt: network loop ended (%s); reconnecting",
                      mosquitto_strerror(rc));
        } else if (!warned) {
            host_logf(m->log, HOST_LOG_WARN, "mqtt: cannot connect to %s:%u (%s); retrying with back-off",
                      m->host, m->port, rc == MOSQ_ERR_ERRNO ? "connection failed" : mosquitto_strerror(rc));
            warned = true;
        }
        for (unsigned waited = 0; waited < backoff_ms && !atomic_load(&m->stop); waited += 100)
            usleep(100 * 1000);
        backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
    }
    atomic_store(&m->done, 1);
    return NULL;
}

bool host_mqtt_start(host_mqtt *m, const char *host, uint16_t port, const char *prefix,
                     const host_log *log, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->log = log;
    snprintf(m->prefix, sizeof m->prefix, "%s", prefix);
    snprintf(m->lwt_topic, sizeof m->lwt_topic, "%s/lwt", prefix);
    size_t k = 0;
    for (size_t i = 0; prefix[i] && k + 1 < sizeof m->node; i++) {
        char c = prefix[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        m->node[k++] = ok ? c : '_';
    }
    m->node[k] = '\0';

    char client_id[64];
    snprintf(client_id, sizeof client_id, "%s-mepmod-%ld", prefix, (long)getpid());
    m->mosq = mosquitto_new(client_id, true, m);
    if (!m->mosq) {
        snprintf(err, errlen, "mqtt: cannot create a client");
        return false;
    }
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_reconnect_delay_set(m->mosq, 1, 30, true); /* used by loop_forever */
    if (mosquitto_will_set(m->mosq, m->lwt_topic, 7, "Offline", 0, true) != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "mqtt: cannot set the last will on %s", m->lwt_topic);
        mosquitto_destroy(m->mosq);
        m->mosq = NULL;
        return false;
    }
    mosquitto_threaded_set(m->mosq, true);
    snprintf(m->host, sizeof m->host, "%s", host);
    m->port = port;
    int rc = pthread_create(&m->thread, NULL, network_thread, m);
    if (rc != 0) {
        snprintf(err, errlen, "mqtt: cannot start the network thread: %s", strerror(rc));
        mosquitto_destroy(m->mosq);
        m->mosq = NULL;
        return false;
    }
    m->thread_started = true;
    host_logf(log, HOST_LOG_INFO, "mqtt: broker %s:%u, prefix %s", host, port, prefix);
    return true;
}

static void publish(host_mqtt *m, const char *topic, const char *payload, bool retain)
{
    int rc = mosquitto_publish(m->mosq, NULL, topic, (int)strlen(payload), payload, 0, retain);
    if (rc == MOSQ_ERR_SUCCESS) {
        m->published++;
    } else {
        m->publish_errors++;
        host_logf(m->log, HOST_LOG_DEBUG, "mqtt: publish %s failed: %s", topic, mosquitto_strerror(rc));
    }
}

static void sanitise_id(const char *in, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; in[i] && k + 1 < cap; i++) {
        char c = in[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        out[k++] = ok ? c : '_';
    }
    out[k] = '\0';
}

static void publish_discovery(host_mqtt *m, const mepc_readings *r)
{
    char sn[40];
    sanitise_id(r->utility_sn[0] ? r->utility_sn : "unknown", sn, sizeof sn);
    json_t *dev = json_object();
    char devid[64], devname[64];
    snprintf(devid, sizeof devid, "osgp_meter_%s", sn);
    snprintf(devname, sizeof devname, "OSGP meter %s", r->utility_sn[0] ? r->utility_sn : "unknown");
    json_object_set_new(dev, "identifiers", json_pack("[s]", devid));
    json_object_set_new(dev, "name", json_string(devname));
    json_object_set_new(dev, "manufacturer", json_string(r->manufacturer));
    json_object_set_new(dev, "model", json_string(r->model));
    json_object_set_new(dev, "sw_version", json_string(r->sw_version));
    json_object_set_new(dev, "serial_number", json_string(r->utility_sn));

    for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++) {
        const ha_entity *e = &entities[i];
        char topic[192], state[96], uid[128], tmpl[96];
        snprintf(topic, sizeof topic, "%s/sensor/%s/%s/config", HOST_MQTT_DISCOVERY_PREFIX, m->node,
                 e->object);
        snprintf(state, sizeof state, "%s/%s", m->prefix, host_dash_mqtt_topic(e->topic));
        snprintf(uid, sizeof uid, "%s_%s_%s", m->node, sn, e->object);
        if (e->divisor > 1)
            snprintf(tmpl, sizeof tmpl, "{{ value_json.%s | float / %d }}", e->member, e->divisor);
        else
            snprintf(tmpl, sizeof tmpl, "{{ value_json.%s }}", e->member);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(e->name));
        json_object_set_new(o, "unique_id", json_string(uid));
        json_object_set_new(o, "object_id", json_string(uid));
        json_object_set_new(o, "state_topic", json_string(state));
        json_object_set_new(o, "value_template", json_string(tmpl));
        if (e->unit)
            json_object_set_new(o, "unit_of_measurement", json_string(e->unit));
        json_object_set_new(o, "device_class", json_string(e->device_class));
        json_object_set_new(o, "state_class", json_string(e->state_class));
        json_object_set_new(o, "availability_topic", json_string(m->lwt_topic));
        json_object_set_new(o, "payload_available", json_string("Online"));
        json_object_set_new(o, "payload_not_available", json_string("Offline"));
        json_object_set(o, "device", dev);
        char *payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (payload) {
            publish(m, topic, payload, true);
            free(payload);
        }
    }
    json_decref(dev);
    m->discovery_sent++;
    snprintf(m->discovery_sn, sizeof m->discovery_sn, "%s", r->utility_sn);
    host_logf(m->log, HOST_LOG_INFO, "mqtt: Home Assistant discovery sent for meter %s (%zu sensors)",
              r->utility_sn, sizeof entities / sizeof entities[0]);
}

void host_mqtt_tick(host_mqtt *m, const mepc_readings *r, uint32_t now_ms)
{
    if (!m->mosq || !atomic_load(&m->connected))
        return;
    unsigned connects = atomic_load(&m->connects);
    if (r->identity_valid &&
        (m->discovery_for != connects || strcmp(m->discovery_sn, r->utility_sn))) {
        publish_discovery(m, r);
        m->discovery_for = connects;
    }
    if (m->have_published && now_ms - m->last_publish_ms < HOST_MQTT_PERIOD_MS)
        return;
    if (!host_dash_ready(r, now_ms, NULL))
        return; /* never zeros as readings (S06), never stale ones as live */
    for (int i = 0; i < HOST_MQTT_TOPICS; i++) {
        char *payload = host_dash_mqtt_payload(r, now_ms, i);
        if (!payload)
            continue;
        char topic[96];
        snprintf(topic, sizeof topic, "%s/%s", m->prefix, host_dash_mqtt_topic(i));
        publish(m, topic, payload, false);
        free(payload);
    }
    m->have_published = true;
    m->last_publish_ms = now_ms;
}

void host_mqtt_stop(host_mqtt *m)
{
    if (!m->mosq)
        return;
    if (atomic_load(&m->connected)) {
        /* a clean DISCONNECT cancels the will, so say Offline ourselves */
        mosquitto_publish(m->mosq, NULL, m->lwt_topic, 7, "Offline", 0, true);
        usleep(100 * 1000); /* let the network thread send it (bounded, exit path only) */
    }
    atomic_store(&m->stop, 1);
    mosquitto_disconnect(m->mosq); /* ends mosquitto_loop_forever in the thread */
    if (m->thread_started) {
        /* a TCP connect to an unroutable broker can block for minutes: give
         * the thread 2 s, then cancel it (connect() is a cancellation point) */
        for (int i = 0; i < 20 && !atomic_load(&m->done); i++)
            usleep(100 * 1000);
        if (!atomic_load(&m->done)) {
            host_logf(m->log, HOST_LOG_WARN, "mqtt: network thread stuck (connecting?); cancelling it");
            pthread_cancel(m->thread);
        }
        pthread_join(m->thread, NULL);
    }
    m->thread_started = false;
    mosquitto_destroy(m->mosq);
    m->mosq = NULL;
}
