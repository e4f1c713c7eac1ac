/* mqtt_link.h: a PubSubClient's link to its native MQTT bridge process: starting the bridge
 * (ahk::options().bridge_path) with one end of a socketpair on fd 3, and the framed protocol of
 * bridge/ahk_mqtt_bridge_proto.h in both directions. Internal to src/net. */
#ifndef AHK_MQTT_LINK_H
#define AHK_MQTT_LINK_H

#include <stdint.h>
#include <deque>
#include <string>

namespace ahk_net {

struct BridgeFrame {
    uint8_t type;
    std::string body;   /* the fields after the type byte */
};

class BridgeLink {
public:
    ~BridgeLink() { close(); }
    bool up() const { return fd_ >= 0; }
    bool start();                      /* false (logged) if the bridge cannot be started */
    void close();                      /* the bridge then drops its session without DISCONNECT */
    bool send(uint8_t type, const std::string &body);
    /* Reads what the bridge sent, waiting at most wait_ms for something; false once the link
     * is down. Complete frames are appended to `frames`. */
    bool receive(std::deque<BridgeFrame> &frames, int wait_ms);

private:
    /* virtual time: a broker inside the co-simulation (frames answered here, publishes to it) */
    bool virtual_send(uint8_t type, const std::string &body);

    int fd_ = -1;
    std::string in_;
    std::deque<BridgeFrame> vt_in_;
};

/* Field encoders of the bridge protocol. */
void put_u8(std::string &b, unsigned v);
void put_u16(std::string &b, unsigned v);
void put_str(std::string &b, const char *s, size_t n);
void put_str(std::string &b, const std::string &s);
void put_blob(std::string &b, const void *p, size_t n);

} // namespace ahk_net

#endif
