/* PubSubClient.h: the Arduino MQTT client library's API (knolleary PubSubClient 2.8: connect with
 * credentials and will, publish incl. retained, subscribe, loop, state codes) on a real broker.
 *
 * The MQTT session itself runs in the kit's native bridge program (bridge/, on libmosquitto),
 * which the first connect() starts and which talks to this object over a socketpair (protocol in
 * bridge/ahk_mqtt_bridge_proto.h). What the sketch sees is what the library documents: connect()
 * blocks until the broker's CONNACK (or the socket timeout), publish() is QoS 0 and fails on a
 * packet larger than the buffer (setBufferSize, default MQTT_MAX_PACKET_SIZE), incoming messages
 * reach the callback only inside loop(), one per call, and state() holds the documented codes.
 * The server set with setServer() is replaced by the rig's --mqtt HOST:PORT when given (logged);
 * without it only a loopback server is reachable. As on the board, connect() fails
 * (MQTT_CONNECT_FAILED) while the WiFi station is not connected; keep-alive pings go out only
 * while the sketch keeps calling loop(), so a sketch stuck longer than 1.5 keep-alive intervals
 * is dropped by the broker; and if the sketch process ends without disconnect() (crash, kill,
 * ESP.restart()), the broker sees the connection drop and publishes the will. The WiFiClient
 * passed in is not used for the MQTT traffic (the bridge carries it). */
#ifndef AHK_PUBSUBCLIENT_H
#define AHK_PUBSUBCLIENT_H

#include <stdint.h>
#include <stddef.h>
#include <functional>
#include <memory>
#include "Arduino.h"
#include "IPAddress.h"
#include "Client.h"
#include "Stream.h"

#define MQTT_VERSION_3_1 3
#define MQTT_VERSION_3_1_1 4
#ifndef MQTT_VERSION
#define MQTT_VERSION MQTT_VERSION_3_1_1
#endif
#ifndef MQTT_MAX_PACKET_SIZE
#define MQTT_MAX_PACKET_SIZE 256
#endif
#ifndef MQTT_KEEPALIVE
#define MQTT_KEEPALIVE 15
#endif
#ifndef MQTT_SOCKET_TIMEOUT
#define MQTT_SOCKET_TIMEOUT 15
#endif

/* state() */
#define MQTT_CONNECTION_TIMEOUT     -4
#define MQTT_CONNECTION_LOST        -3
#define MQTT_CONNECT_FAILED         -2
#define MQTT_DISCONNECTED           -1
#define MQTT_CONNECTED               0
#define MQTT_CONNECT_BAD_PROTOCOL    1
#define MQTT_CONNECT_BAD_CLIENT_ID   2
#define MQTT_CONNECT_UNAVAILABLE     3
#define MQTT_CONNECT_BAD_CREDENTIALS 4
#define MQTT_CONNECT_UNAUTHORIZED    5

#define MQTTQOS0 (0 << 1)
#define MQTTQOS1 (1 << 1)
#define MQTTQOS2 (2 << 1)
#define MQTT_MAX_HEADER_SIZE 5

#define MQTT_CALLBACK_SIGNATURE std::function<void(char *, uint8_t *, unsigned int)> callback

namespace ahk_net { struct MqttLink; }

class PubSubClient : public Print {
public:
    PubSubClient();
    PubSubClient(Client &client);
    PubSubClient(IPAddress addr, uint16_t port, Client &client);
    PubSubClient(IPAddress addr, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client &client);
    PubSubClient(uint8_t *ip, uint16_t port, Client &client);
    PubSubClient(uint8_t *ip, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client &client);
    PubSubClient(const char *domain, uint16_t port, Client &client);
    PubSubClient(const char *domain, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client &client);
    ~PubSubClient();
    PubSubClient(const PubSubClient &) = delete;
    PubSubClient &operator=(const PubSubClient &) = delete;

    PubSubClient &setServer(IPAddress ip, uint16_t port);
    PubSubClient &setServer(uint8_t *ip, uint16_t port);
    PubSubClient &setServer(const char *domain, uint16_t port);
    PubSubClient &setCallback(MQTT_CALLBACK_SIGNATURE);
    PubSubClient &setClient(Client &client);
    PubSubClient &setKeepAlive(uint16_t keepAlive);
    PubSubClient &setSocketTimeout(uint16_t timeout);
    bool setBufferSize(uint16_t size);
    uint16_t getBufferSize();

    bool connect(const char *id);
    bool connect(const char *id, const char *user, const char *pass);
    bool connect(const char *id, const char *willTopic, uint8_t willQos, bool willRetain,
                 const char *willMessage);
    bool connect(const char *id, const char *user, const char *pass, const char *willTopic,
                 uint8_t willQos, bool willRetain, const char *willMessage);
    bool connect(const char *id, const char *user, const char *pass, const char *willTopic,
                 uint8_t willQos, bool willRetain, const char *willMessage, bool cleanSession);
    void disconnect();

    bool publish(const char *topic, const char *payload);
    bool publish(const char *topic, const char *payload, bool retained);
    bool publish(const char *topic, const uint8_t *payload, unsigned int plength);
    bool publish(const char *topic, const uint8_t *payload, unsigned int plength, bool retained);
    bool publish_P(const char *topic, const char *payload, bool retained);
    bool publish_P(const char *topic, const uint8_t *payload, unsigned int plength, bool retained);

    /* a streamed publish: beginPublish, print/write the payload, endPublish (returns 1 if sent) */
    bool beginPublish(const char *topic, unsigned int plength, bool retained);
    int endPublish();
    using Print::write;
    size_t write(uint8_t b);
    size_t write(const uint8_t *buffer, size_t size);

    bool subscribe(const char *topic);
    bool subscribe(const char *topic, uint8_t qos);
    bool unsubscribe(const char *topic);
    bool loop();
    bool connected();
    int state();

private:
    void init();
    std::unique_ptr<ahk_net::MqttLink> link_;
};

#endif
