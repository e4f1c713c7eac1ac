/* pubsubclient.cpp: PubSubClient (include/PubSubClient.h) over the native MQTT bridge
 * (mqtt_link.h). The library's documented behaviour is kept on this side: the state() codes,
 * the buffer-size limits of publish/subscribe and incoming messages, one message per loop(). */
#include <string.h>

#include "../../bridge/ahk_mqtt_bridge_proto.h"
#include "ahk_runtime.h"
#include "ahk_vt.h"
#include "mqtt_link.h"
#include "net_host.h"
#include "PubSubClient.h"
#include "WiFi.h"

namespace ahk_net {

struct MqttLink {
    std::string domain;            /* setServer(const char *) */
    IPAddress ip;                  /* setServer(IPAddress) */
    bool use_ip = false;
    uint16_t port = 1883;
    std::function<void(char *, uint8_t *, unsigned int)> callback;
    Client *client = nullptr;      /* kept for the API; the bridge carries the traffic */
    uint16_t keepalive = MQTT_KEEPALIVE, socket_timeout = MQTT_SOCKET_TIMEOUT;
    uint16_t buffer_size = MQTT_MAX_PACKET_SIZE;
    int state = MQTT_DISCONNECTED;
    BridgeLink bridge;
    std::deque<BridgeFrame> frames;
    std::string last_target_note;
    /* beginPublish .. endPublish */
    bool streaming = false, stream_retain = false;
    std::string stream_topic, stream_payload;
    unsigned stream_expected = 0;
    uint64_t last_loop_note_ms = 0;  /* when the bridge was last told of a loop() call */
    /* the message handed to the callback (valid during the call, as on the board) */
    std::string cb_topic, cb_payload;
};

} // namespace ahk_net

using ahk_net::MqttLink;

/* Bytes of an MQTT packet's remaining-length field. */
static size_t varint_len(size_t n) { return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4; }

void PubSubClient::init() { link_.reset(new MqttLink()); }

PubSubClient::PubSubClient() { init(); }
PubSubClient::PubSubClient(Client &client) { init(); setClient(client); }

PubSubClient::PubSubClient(IPAddress addr, uint16_t port, Client &client)
{
    init();
    setServer(addr, port);
    setClient(client);
}

PubSubClient::PubSubClient(IPAddress addr, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client &client)
{
    init();
    setServer(addr, port);
    setCallback(callback);
    setClient(client);
}

PubSubClient::PubSubClient(uint8_t *ip, uint16_t port, Client &client)
{
    init();
    setServer(ip, port);
    setClient(client);
}

PubSubClient::PubSubClient(uint8_t *ip, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client &client)
{
    init();
    setServer(ip, port);
    setCallback(callback);
    setClient(client);
}

PubSubClient::PubSubClient(const char *domain, uint16_t port, Client &client)
{
    init();
    setServer(domain, port);
    setClient(client);
}

PubSubClient::PubSubClient(const char *domain, uint16_t port, MQTT_CALLBACK_SIGNATURE, Client &client)
{
    init();
    setServer(domain, port);
    setCallback(callback);
    setClient(client);
}

PubSubClient::~PubSubClient() {}

PubSubClient &PubSubClient::setServer(IPAddress ip, uint16_t port)
{
    link_->ip = ip;
    link_->use_ip = true;
    link_->port = port;
    return *this;
}

PubSubClient &PubSubClient::setServer(uint8_t *ip, uint16_t port) { return setServer(IPAddress(ip), port); }

PubSubClient &PubSubClient::setServer(const char *domain, uint16_t port)
{
    link_->domain = domain ? domain : "";
    link_->use_ip = false;
    link_->port = port;
    return *this;
}

PubSubClient &PubSubClient::setCallback(MQTT_CALLBACK_SIGNATURE)
{
    link_->callback = callback;
    return *this;
}

PubSubClient &PubSubClient::setClient(Client &client)
{
    link_->client = &client;
    return *this;
}

PubSubClient &PubSubClient::setKeepAlive(uint16_t keepAlive)
{
    link_->keepalive = keepAlive;
    return *this;
}

PubSubClient &PubSubClient::setSocketTimeout(uint16_t timeout)
{
    link_->socket_timeout = timeout;
    return *this;
}

bool PubSubClient::setBufferSize(uint16_t size)
{
    if (size == 0)
        return false;
    link_->buffer_size = size;
    return true;
}

uint16_t PubSubClient::getBufferSize() { return link_->buffer_size; }

/* Where the session goes: --mqtt if given (the sketch's server is replaced), else the sketch's
 * own server if it is a loopback address. */
static bool target(MqttLink &m, std::string *host, unsigned *port)
{
    const ahk::Options &o = ahk::options();
    std::string sketch = m.use_ip ? std::string(m.ip.toString().c_str()) : m.domain;
    std::string note = sketch + ":" + std::to_string(m.port);
    if (ahk::vt::enabled) { /* the co-simulation's broker answers whatever server the sketch names */
        *host = sketch;
        *port = m.port;
        return true;
    }
    if (!o.mqtt_host.empty() && o.mqtt_port > 0) {
        *host = o.mqtt_host;
        *port = (unsigned)o.mqtt_port;
        if (m.last_target_note != note)
            ahk::log("MQTT", "the sketch's server %s replaced by --mqtt %s:%d", note.c_str(),
                     o.mqtt_host.c_str(), o.mqtt_port);
        m.last_target_note = note;
        return true;
    }
    if (ahk_net::loopback_host(sketch.c_str(), nullptr)) {
        *host = sketch;
        *port = m.port;
        return true;
    }
    if (m.last_target_note != note)
        ahk::log("MQTT", "server %s is not reachable from the host board (loopback only): "
                         "give --mqtt HOST:PORT", note.c_str());
    m.last_target_note = note;
    return false;
}

/* Takes in what the bridge sent: a lost session changes the state, messages wait for loop(). */
static void pump(MqttLink &m, int wait_ms)
{
    if (!m.bridge.up())
        return;
    std::deque<ahk_net::BridgeFrame> in;
    bool up = m.bridge.receive(in, wait_ms);
    for (auto &f : in) {
        if (f.type == AHKB_MESSAGE)
            m.frames.push_back(std::move(f));
        else if (f.type == AHKB_LOST && m.state == MQTT_CONNECTED)
            m.state = f.body.empty() ? MQTT_CONNECTION_LOST : (int)(int8_t)f.body[0];
        else if (f.type == AHKB_CONNECT_RESULT)
            m.frames.push_back(std::move(f));
    }
    if (!up && m.state == MQTT_CONNECTED)
        m.state = MQTT_CONNECTION_LOST;
}

bool PubSubClient::connect(const char *id) { return connect(id, nullptr, nullptr, nullptr, 0, false, nullptr, true); }

bool PubSubClient::connect(const char *id, const char *user, const char *pass)
{
    return connect(id, user, pass, nullptr, 0, false, nullptr, true);
}

bool PubSubClient::connect(const char *id, const char *willTopic, uint8_t willQos, bool willRetain,
                           const char *willMessage)
{
    return connect(id, nullptr, nullptr, willTopic, willQos, willRetain, willMessage, true);
}

bool PubSubClient::connect(const char *id, const char *user, const char *pass, const char *willTopic,
                           uint8_t willQos, bool willRetain, const char *willMessage)
{
    return connect(id, user, pass, willTopic, willQos, willRetain, willMessage, true);
}

/* Waits for the bridge's answer to CONNECT: the state code, or MQTT_CONNECTION_TIMEOUT. */
static int await_connect_result(MqttLink &m)
{
    uint64_t until = ahk_net::mono_ms() + (uint64_t)m.socket_timeout * 1000u + 2000u;
    for (;;) {
        for (auto it = m.frames.begin(); it != m.frames.end(); ++it)
            if (it->type == AHKB_CONNECT_RESULT) {
                int rc = it->body.empty() ? MQTT_CONNECT_FAILED : (int)(int8_t)it->body[0];
                m.frames.erase(it);
                return rc;
            }
        uint64_t now = ahk_net::mono_ms();
        if (!m.bridge.up() || now >= until)
            return MQTT_CONNECTION_TIMEOUT;
        pump(m, (int)(until - now));
    }
}

bool PubSubClient::connect(const char *id, const char *user, const char *pass, const char *willTopic,
                           uint8_t willQos, bool willRetain, const char *willMessage, bool cleanSession)
{
    MqttLink &m = *link_;
    if (connected())
        return true;
    std::string host;
    unsigned port = 0;
    if (WiFi.status() != WL_CONNECTED) {
        /* no station link, no route to a broker (a soft-AP alone does not reach one) */
        ahk::log("MQTT", "connect: the WiFi station is not connected (WiFi.begin() not called or failed)");
        m.state = MQTT_CONNECT_FAILED;
        return false;
    }
    if (!target(m, &host, &port) || (!m.bridge.up() && !m.bridge.start())) {
        m.state = MQTT_CONNECT_FAILED;
        return false;
    }
    unsigned flags = (user ? AHKB_F_USER : 0) | (user && pass ? AHKB_F_PASSWORD : 0) |
                     (willTopic ? AHKB_F_WILL : 0) | (willTopic && willRetain ? AHKB_F_WILL_RETAIN : 0) |
                     (cleanSession ? AHKB_F_CLEAN_SESSION : 0);
    std::string b;
    ahk_net::put_str(b, host);
    ahk_net::put_u16(b, port);
    ahk_net::put_str(b, id ? id : "", id ? strlen(id) : 0);
    ahk_net::put_u8(b, flags);
    ahk_net::put_u8(b, willQos);
    ahk_net::put_str(b, user ? user : "", user ? strlen(user) : 0);
    ahk_net::put_str(b, pass ? pass : "", pass ? strlen(pass) : 0);
    ahk_net::put_str(b, willTopic ? willTopic : "", willTopic ? strlen(willTopic) : 0);
    ahk_net::put_blob(b, willMessage ? willMessage : "", willMessage ? strlen(willMessage) : 0);
    ahk_net::put_u16(b, m.keepalive);
    ahk_net::put_u16(b, m.socket_timeout);
    m.frames.clear();
    if (!m.bridge.send(AHKB_CONNECT, b)) {
        m.state = MQTT_CONNECT_FAILED;
        return false;
    }
    m.state = await_connect_result(m);
    if (m.state == MQTT_CONNECTION_TIMEOUT)
        m.bridge.close();   /* a bridge that does not answer is replaced at the next connect */
    if (m.state != MQTT_CONNECTED)
        ahk::log("MQTT", "connect to %s:%u as '%s' failed, state %d", host.c_str(), port, id ? id : "", m.state);
    return m.state == MQTT_CONNECTED;
}

void PubSubClient::disconnect()
{
    MqttLink &m = *link_;
    if (m.state == MQTT_CONNECTED)
        m.bridge.send(AHKB_DISCONNECT, std::string());
    m.state = MQTT_DISCONNECTED;
    m.frames.clear();
}

bool PubSubClient::connected()
{
    MqttLink &m = *link_;
    pump(m, 0);
    return m.state == MQTT_CONNECTED && m.bridge.up();
}

int PubSubClient::state() { return link_->state; }

bool PubSubClient::publish(const char *topic, const char *payload)
{
    return publish(topic, (const uint8_t *)payload, payload ? (unsigned)strlen(payload) : 0, false);
}

bool PubSubClient::publish(const char *topic, const char *payload, bool retained)
{
    return publish(topic, (const uint8_t *)payload, payload ? (unsigned)strlen(payload) : 0, retained);
}

bool PubSubClient::publish(const char *topic, const uint8_t *payload, unsigned int plength)
{
    return publish(topic, payload, plength, false);
}

bool PubSubClient::publish(const char *topic, const uint8_t *payload, unsigned int plength, bool retained)
{
    MqttLink &m = *link_;
    if (!topic || !connected())
        return false;
    size_t tl = strnlen(topic, m.buffer_size);
    /* the library's check: header + topic length + topic + payload must fit the buffer */
    if (MQTT_MAX_HEADER_SIZE + 2 + tl + plength > m.buffer_size) {
        ahk::log("MQTT", "publish on '%s' refused: %u payload bytes do not fit the buffer of %u "
                         "(PubSubClient::setBufferSize)", topic, plength, (unsigned)m.buffer_size);
        return false;
    }
    std::string b;
    ahk_net::put_str(b, topic, strlen(topic));
    ahk_net::put_blob(b, payload ? payload : (const uint8_t *)"", payload ? plength : 0);
    ahk_net::put_u8(b, retained ? AHKB_F_RETAIN : 0);
    return m.bridge.send(AHKB_PUBLISH, b);
}

bool PubSubClient::publish_P(const char *topic, const char *payload, bool retained)
{
    return publish(topic, payload, retained);
}

bool PubSubClient::publish_P(const char *topic, const uint8_t *payload, unsigned int plength, bool retained)
{
    return publish(topic, payload, plength, retained);
}

bool PubSubClient::beginPublish(const char *topic, unsigned int plength, bool retained)
{
    MqttLink &m = *link_;
    if (!topic || !connected())
        return false;
    m.streaming = true;
    m.stream_topic = topic;
    m.stream_payload.clear();
    m.stream_expected = plength;
    m.stream_retain = retained;
    return true;
}

size_t PubSubClient::write(uint8_t b) { return write(&b, 1); }

size_t PubSubClient::write(const uint8_t *buffer, size_t size)
{
    MqttLink &m = *link_;
    if (!m.streaming)
        return 0;
    m.stream_payload.append((const char *)buffer, size);
    return size;
}

int PubSubClient::endPublish()
{
    MqttLink &m = *link_;
    if (!m.streaming)
        return 0;
    m.streaming = false;
    if (m.stream_payload.size() != m.stream_expected)
        ahk::log("MQTT", "beginPublish on '%s' announced %u bytes, %zu written", m.stream_topic.c_str(),
                 m.stream_expected, m.stream_payload.size());
    if (!connected())
        return 0;
    /* a streamed publish is not limited by the buffer size, as in the library */
    std::string b;
    ahk_net::put_str(b, m.stream_topic);
    ahk_net::put_blob(b, m.stream_payload.data(), m.stream_payload.size());
    ahk_net::put_u8(b, m.stream_retain ? AHKB_F_RETAIN : 0);
    return m.bridge.send(AHKB_PUBLISH, b) ? 1 : 0;
}

bool PubSubClient::subscribe(const char *topic) { return subscribe(topic, 0); }

bool PubSubClient::subscribe(const char *topic, uint8_t qos)
{
    MqttLink &m = *link_;
    if (!topic || qos > 1 || m.buffer_size < 9 + strnlen(topic, m.buffer_size) || !connected())
        return false;
    std::string b;
    ahk_net::put_str(b, topic, strlen(topic));
    ahk_net::put_u8(b, qos);
    return m.bridge.send(AHKB_SUBSCRIBE, b);
}

bool PubSubClient::unsubscribe(const char *topic)
{
    MqttLink &m = *link_;
    if (!topic || m.buffer_size < 9 + strnlen(topic, m.buffer_size) || !connected())
        return false;
    std::string b;
    ahk_net::put_str(b, topic, strlen(topic));
    return m.bridge.send(AHKB_UNSUBSCRIBE, b);
}

/* Hands the oldest waiting message to the callback, unless it would not fit the buffer (the
 * library reads and drops such a packet). */
static void deliver_one(MqttLink &m)
{
    if (m.frames.empty())
        return;
    ahk_net::BridgeFrame f = std::move(m.frames.front());
    m.frames.pop_front();
    struct ahkb_reader r = {(const uint8_t *)f.body.data(), f.body.size(), 0};
    size_t tl, pl;
    const uint8_t *t = ahkb_str(&r, &tl);
    const uint8_t *p = ahkb_blob(&r, &pl);
    if (r.bad)
        return;
    size_t remaining = 2 + tl + pl;
    if (1 + varint_len(remaining) + remaining > m.buffer_size) {
        ahk::log("MQTT", "message on '%.*s' dropped: %zu bytes exceed the buffer of %u", (int)tl,
                 (const char *)t, pl, (unsigned)m.buffer_size);
        return;
    }
    if (!m.callback)
        return;
    m.cb_topic.assign((const char *)t, tl);
    m.cb_payload.assign((const char *)p, pl);
    m.cb_payload.reserve(pl + 1);   /* room for a sketch that terminates payload[length] */
    m.callback(&m.cb_topic[0], (uint8_t *)&m.cb_payload[0], (unsigned int)pl);
}

bool PubSubClient::loop()
{
    MqttLink &m = *link_;
    if (!connected())
        return false;
    uint64_t now = ahk_net::mono_ms();
    if (now - m.last_loop_note_ms >= 1000) {
        m.last_loop_note_ms = now;
        m.bridge.send(AHKB_LOOP, std::string());   /* keeps the keep-alive pings going */
    }
    deliver_one(m);
    return true;
}
