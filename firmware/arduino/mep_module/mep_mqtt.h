/* mep_mqtt: the module's MQTT output over PubSubClient.
 *
 * Owns: docs/module-behaviour.md 8.2: `<prefix>/lwt` (will `Offline`, retained;
 * `Online`, retained, after each connect), the five state topics every 10 s
 * while connected and readings are valid (non-retained compact JSON with the
 * reference's members), and Home Assistant discovery (retained config topics
 * with value templates, sent after each connect once the meter identity is
 * known, and again if the meter's serial changes). Reconnects with a
 * 1 s -> 30 s back-off so a dead broker costs one connect attempt per
 * back-off step, not one per loop() pass (S34).
 */
#ifndef MEP_MQTT_H
#define MEP_MQTT_H

#include <Arduino.h>
#include <Client.h>
#include <PubSubClient.h>

extern "C" {
#include "src/firmware/core/mepc.h"
}

class MepMqtt {
public:
    explicit MepMqtt(Client &net) : mq_(net) {}
    /* host "" = MQTT off. Copies the strings. */
    void configure(const char *host, uint16_t port, const char *prefix);
    /* Call from loop(); r may be NULL (no readings). */
    void loop(const mepc_readings *r, uint32_t now_ms);
    bool connected() { return mq_.connected(); }
    int state() { return mq_.state(); }

    uint32_t published = 0, publish_errors = 0, connects = 0, connect_failures = 0, discovery_sent = 0;

private:
    bool try_connect(uint32_t now_ms);
    void publish(const char *topic, const char *payload, bool retain);
    void publish_discovery(const mepc_readings *r);

    PubSubClient mq_;
    char host_[64] = "";
    uint16_t port_ = 1883;
    char prefix_[25] = "";
    char node_[25] = "";       /* prefix reduced to [A-Za-z0-9_-] for discovery topics */
    char lwt_[40] = "";
    char client_id_[48] = "";
    bool enabled_ = false;
    bool was_connected_ = false;
    uint32_t next_try_ms_ = 0, backoff_ms_ = 1000;
    uint32_t last_publish_ms_ = 0;
    bool have_published_ = false;
    bool discovery_due_ = false;
    char discovery_sn_[31] = "";
};

#endif
