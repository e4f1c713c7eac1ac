/* ahk_mqtt_bridge_proto.h: the framed protocol between a sketch's PubSubClient (src/net) and the
 * native MQTT bridge program (ahk-mqtt-bridge, on libmosquitto). Shared by both sides; C11 and
 * C++17, no dependencies.
 *
 * Why a bridge: a sketch is usually a 32-bit static program (run under qemu-i386 where the
 * kernel cannot execute it) and cannot link the host's 64-bit libmosquitto, so PubSubClient
 * starts `ahk-mqtt-bridge --fd 3` with one end of a socketpair on fd 3 and sends it the MQTT
 * operations; the bridge runs the real MQTT session and sends back results and messages.
 *
 * Framing (both directions): u32 LEN (big-endian) then LEN bytes of body; LEN <= AHKB_MAX_FRAME.
 * Body: u8 TYPE, then the fields of that type in order. Field encodings:
 *   u8, u16 (big-endian), i8 (two's complement),
 *   str  = u16 length + bytes (no terminator),
 *   blob = u32 length + bytes.
 *
 * Sketch -> bridge
 *   AHKB_CONNECT     str host, u16 port, str client_id, u8 flags (AHKB_F_*), u8 will_qos,
 *                    str user, str password, str will_topic, blob will_payload,
 *                    u16 keepalive_s, u16 timeout_s
 *                    Drops any current session (without DISCONNECT), opens a new one; the bridge
 *                    answers with exactly one AHKB_CONNECT_RESULT.
 *   AHKB_PUBLISH     str topic, blob payload, u8 flags (AHKB_F_RETAIN)        QoS 0, no answer
 *   AHKB_SUBSCRIBE   str topic, u8 qos                                        no answer
 *   AHKB_UNSUBSCRIBE str topic                                                no answer
 *   AHKB_DISCONNECT  (nothing): a clean MQTT DISCONNECT (the broker discards the will)
 *   AHKB_LOOP        (nothing): the sketch called PubSubClient::loop() (sent at most about once
 *                    a second). PubSubClient pings the broker only from loop(), when a ping is
 *                    due, so the bridge runs libmosquitto's keep-alive check only when a LOOP
 *                    arrives: a sketch that stops calling loop() is dropped by the broker after
 *                    1.5 keep-alive intervals (and its will published), as on the board.
 * Bridge -> sketch
 *   AHKB_CONNECT_RESULT i8 state: PubSubClient's state() code (0 connected; 1..5 the broker's
 *                    CONNACK refusal; -2 the TCP connection failed; -4 no CONNACK in time)
 *   AHKB_MESSAGE     str topic, blob payload, u8 flags (AHKB_F_RETAIN)
 *   AHKB_LOST        i8 state: the session ended without the sketch asking (-3 lost, -4 the
 *                    keep-alive timed out)
 *
 * End of the link: when the sketch's end closes (the sketch exited, crashed or re-executed
 * itself for ESP.restart()), the bridge sends what is queued, then closes its MQTT socket
 * without DISCONNECT and exits, so the broker publishes the will as for a board that vanished.
 * A malformed frame makes the bridge log it and exit the same way. */
#ifndef AHK_MQTT_BRIDGE_PROTO_H
#define AHK_MQTT_BRIDGE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define AHKB_MAX_FRAME (16u * 1024u * 1024u)
#define AHKB_LINK_FD 3

enum ahkb_type {
    AHKB_CONNECT = 0x01,
    AHKB_PUBLISH = 0x02,
    AHKB_SUBSCRIBE = 0x03,
    AHKB_UNSUBSCRIBE = 0x04,
    AHKB_DISCONNECT = 0x05,
    AHKB_LOOP = 0x06,
    AHKB_CONNECT_RESULT = 0x81,
    AHKB_MESSAGE = 0x82,
    AHKB_LOST = 0x83
};

/* AHKB_CONNECT flags */
#define AHKB_F_USER 0x01u
#define AHKB_F_PASSWORD 0x02u
#define AHKB_F_WILL 0x04u
#define AHKB_F_WILL_RETAIN 0x08u
#define AHKB_F_CLEAN_SESSION 0x10u
/* AHKB_PUBLISH / AHKB_MESSAGE flags */
#define AHKB_F_RETAIN 0x01u

/* A read cursor over one frame body; any read past the end sets `bad` and yields zeros. */
struct ahkb_reader {
    const uint8_t *p;
    size_t left;
    int bad;
};

static inline uint32_t ahkb_get_u32be(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void ahkb_put_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline const uint8_t *ahkb_take(struct ahkb_reader *r, size_t n)
{
    const uint8_t *at;
    if (r->bad || r->left < n) {
        r->bad = 1;
        return NULL;
    }
    at = r->p;
    r->p += n;
    r->left -= n;
    return at;
}

static inline uint8_t ahkb_u8(struct ahkb_reader *r)
{
    const uint8_t *p = ahkb_take(r, 1);
    return p ? p[0] : 0;
}

static inline uint16_t ahkb_u16(struct ahkb_reader *r)
{
    const uint8_t *p = ahkb_take(r, 2);
    return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

/* str and blob: returns the bytes (not terminated) and their count in *len. */
static inline const uint8_t *ahkb_str(struct ahkb_reader *r, size_t *len)
{
    *len = ahkb_u16(r);
    return r->bad ? NULL : ahkb_take(r, *len);
}

static inline const uint8_t *ahkb_blob(struct ahkb_reader *r, size_t *len)
{
    const uint8_t *p = ahkb_take(r, 4);
    *len = p ? ahkb_get_u32be(p) : 0;
    return r->bad ? NULL : ahkb_take(r, *len);
}

#endif
