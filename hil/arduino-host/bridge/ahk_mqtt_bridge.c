/* ahk_mqtt_bridge.c: the kit's native MQTT bridge. A sketch's PubSubClient (src/net) starts it with
 * one end of a socketpair on fd 3 (`ahk-mqtt-bridge --fd 3`) and sends it MQTT operations in the
 * framed protocol of ahk_mqtt_bridge_proto.h; the bridge runs one MQTT 3.1.1 session at a time on
 * libmosquitto (external-loop mode: poll() on both sockets, mosquitto_loop_read/write/misc) and
 * sends back connect results, incoming messages and the loss of the session. It never reconnects
 * by itself: reconnecting is the sketch's business, as with PubSubClient on the board.
 * State lives in one struct bridge; log lines go to stderr (the board's log). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "ahk_mqtt_bridge_proto.h"

#define OUT_LIMIT (8u * 1024u * 1024u) /* queued frames to the sketch before messages are dropped */

enum session_state { SESSION_NONE, SESSION_CONNECTING, SESSION_CONNECTED };

struct buf {
    uint8_t *data;
    size_t len, cap;
};

struct bridge {
    int link;
    int link_eof;
    struct buf in, out;
    struct mosquitto *mosq;
    enum session_state state;
    int drop_pending;        /* the session ended inside a libmosquitto callback */
    uint64_t connect_deadline_ms;
    int loop_seen;           /* the sketch called loop() since the last keep-alive check */
};

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void blog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void blog(const char *fmt, ...)
{
    struct timespec t;
    struct tm tm;
    va_list ap;
    char line[1024];
    int n;

    clock_gettime(CLOCK_REALTIME, &t);
    gmtime_r(&t.tv_sec, &tm);
    n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld MQTT-BRIDGE ", tm.tm_hour, tm.tm_min,
                 tm.tm_sec, t.tv_nsec / 1000000L);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    (void)!write(2, line, strlen(line));
}

static int buf_reserve(struct buf *b, size_t more)
{
    size_t cap = b->cap ? b->cap : 4096;
    uint8_t *d;

    if (b->len + more <= b->cap)
        return 0;
    while (cap < b->len + more)
        cap *= 2;
    d = realloc(b->data, cap);
    if (!d)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

static void buf_put(struct buf *b, const void *p, size_t n)
{
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_consume(struct buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* Queues one frame to the sketch: its type and already encoded fields. Messages are dropped
 * (-1) while more than OUT_LIMIT bytes wait for a sketch that does not read. */
static int send_frame(struct bridge *b, uint8_t type, const uint8_t *body, size_t body_len)
{
    uint8_t hdr[5];

    if (b->out.len + body_len + 5 > OUT_LIMIT && type == AHKB_MESSAGE)
        return -1;
    if (buf_reserve(&b->out, body_len + 5) != 0)
        return -1;
    ahkb_put_u32be(hdr, (uint32_t)(body_len + 1));
    hdr[4] = type;
    buf_put(&b->out, hdr, 5);
    buf_put(&b->out, body, body_len);
    return 0;
}

static void send_state(struct bridge *b, uint8_t type, int state)
{
    uint8_t v = (uint8_t)(int8_t)state;
    if (send_frame(b, type, &v, 1) != 0)
        blog("out of memory queueing a result");
}

static void drop_session(struct bridge *b)
{
    if (b->mosq)
        mosquitto_destroy(b->mosq); /* closes the socket without DISCONNECT */
    b->mosq = NULL;
    b->state = SESSION_NONE;
    b->drop_pending = 0;
}

static void on_connect(struct mosquitto *m, void *ctx, int rc)
{
    struct bridge *b = ctx;
    (void)m;
    if (b->state != SESSION_CONNECTING)
        return;
    if (rc == 0) {
        b->state = SESSION_CONNECTED;
        blog("connected");
        send_state(b, AHKB_CONNECT_RESULT, 0);
        return;
    }
    blog("broker refused the connection: %s (CONNACK %d)", mosquitto_connack_string(rc), rc);
    send_state(b, AHKB_CONNECT_RESULT, rc >= 1 && rc <= 5 ? rc : 3);
    b->state = SESSION_NONE;   /* answered: the disconnect that follows is not news */
    b->drop_pending = 1;
}

static void on_disconnect(struct mosquitto *m, void *ctx, int rc)
{
    struct bridge *b = ctx;
    (void)m;
    if (b->state == SESSION_CONNECTING) {
        blog("connection closed before CONNACK (%s)", mosquitto_strerror(rc));
        send_state(b, AHKB_CONNECT_RESULT, -4);
    } else if (b->state == SESSION_CONNECTED && rc != 0) {
        blog("connection lost: %s", mosquitto_strerror(rc));
        send_state(b, AHKB_LOST, rc == MOSQ_ERR_KEEPALIVE ? -4 : -3);
    }
    if (b->state != SESSION_NONE)
        b->drop_pending = 1;
    b->state = SESSION_NONE;
}

static void on_message(struct mosquitto *m, void *ctx, const struct mosquitto_message *msg)
{
    struct bridge *b = ctx;
    size_t tl = strlen(msg->topic), pl = (size_t)msg->payloadlen, n = 0;
    uint8_t *body;
    (void)m;

    if (tl > 0xffff)
        return;
    body = malloc(2 + tl + 4 + pl + 1);
    if (!body)
        return;
    body[n++] = (uint8_t)(tl >> 8);
    body[n++] = (uint8_t)tl;
    memcpy(body + n, msg->topic, tl);
    n += tl;
    ahkb_put_u32be(body + n, (uint32_t)pl);
    n += 4;
    if (pl)
        memcpy(body + n, msg->payload, pl);
    n += pl;
    body[n++] = msg->retain ? AHKB_F_RETAIN : 0;
    if (send_frame(b, AHKB_MESSAGE, body, n) != 0)
        blog("sketch is not reading: message on '%s' dropped", msg->topic);
    free(body);
}

/* Copies a protocol str into a fresh C string (NULL on allocation failure). */
static char *cstr(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

struct connect_req {
    char *host, *id, *user, *pass, *will_topic;
    const uint8_t *will_payload;
    size_t will_len;
    unsigned port, flags, will_qos, keepalive, timeout;
};

static void free_req(struct connect_req *c)
{
    free(c->host);
    free(c->id);
    free(c->user);
    free(c->pass);
    free(c->will_topic);
}

static int parse_connect(struct ahkb_reader *r, struct connect_req *c)
{
    const uint8_t *p;
    size_t n;

    memset(c, 0, sizeof *c);
    p = ahkb_str(r, &n);
    c->host = cstr(p, n);
    c->port = ahkb_u16(r);
    p = ahkb_str(r, &n);
    c->id = cstr(p, n);
    c->flags = ahkb_u8(r);
    c->will_qos = ahkb_u8(r);
    p = ahkb_str(r, &n);
    c->user = cstr(p, n);
    p = ahkb_str(r, &n);
    c->pass = cstr(p, n);
    p = ahkb_str(r, &n);
    c->will_topic = cstr(p, n);
    c->will_payload = ahkb_blob(r, &c->will_len);
    c->keepalive = ahkb_u16(r);
    c->timeout = ahkb_u16(r);
    if (r->bad || r->left || !c->host || !c->id || !c->user || !c->pass || !c->will_topic)
        return -1;
    return 0;
}

static int configure(struct bridge *b, const struct connect_req *c)
{
    int rc;

    mosquitto_int_option(b->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(b->mosq, on_connect);
    mosquitto_disconnect_callback_set(b->mosq, on_disconnect);
    mosquitto_message_callback_set(b->mosq, on_message);
    if (c->flags & AHKB_F_USER) {
        rc = mosquitto_username_pw_set(b->mosq, c->user,
                                       (c->flags & AHKB_F_PASSWORD) ? c->pass : NULL);
        if (rc != MOSQ_ERR_SUCCESS)
            return rc;
    }
    if (c->flags & AHKB_F_WILL) {
        rc = mosquitto_will_set(b->mosq, c->will_topic, (int)c->will_len, c->will_payload,
                                (int)c->will_qos, (c->flags & AHKB_F_WILL_RETAIN) != 0);
        if (rc != MOSQ_ERR_SUCCESS)
            return rc;
    }
    return MOSQ_ERR_SUCCESS;
}

static void do_connect(struct bridge *b, struct ahkb_reader *r)
{
    struct connect_req c;
    int rc, keepalive;

    if (parse_connect(r, &c) != 0) {
        free_req(&c);
        blog("malformed CONNECT frame");
        send_state(b, AHKB_CONNECT_RESULT, -2);
        return;
    }
    drop_session(b);
    /* libmosquitto needs a keep-alive of 0 or at least 5 s */
    keepalive = c.keepalive > 0 && c.keepalive < 5 ? 5 : (int)c.keepalive;
    b->mosq = mosquitto_new(c.id[0] ? c.id : NULL, (c.flags & AHKB_F_CLEAN_SESSION) != 0, b);
    rc = b->mosq ? configure(b, &c) : MOSQ_ERR_NOMEM;
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_connect(b->mosq, c.host, (int)c.port, keepalive);
    if (rc != MOSQ_ERR_SUCCESS) {
        blog("cannot connect to %s:%u as '%s': %s", c.host, c.port, c.id,
             rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        drop_session(b);
        send_state(b, AHKB_CONNECT_RESULT, -2);
    } else {
        blog("connecting to %s:%u as '%s'%s%s", c.host, c.port, c.id,
             (c.flags & AHKB_F_USER) ? " with credentials" : "",
             (c.flags & AHKB_F_WILL) ? " with a will" : "");
        b->state = SESSION_CONNECTING;
        b->connect_deadline_ms = now_ms() + (uint64_t)(c.timeout ? c.timeout : 15) * 1000u;
    }
    free_req(&c);
}

static void do_publish(struct bridge *b, struct ahkb_reader *r)
{
    size_t tl, pl;
    const uint8_t *t = ahkb_str(r, &tl), *p = ahkb_blob(r, &pl);
    unsigned flags = ahkb_u8(r);
    char *topic;

    if (r->bad || r->left || b->state != SESSION_CONNECTED)
        return;
    topic = cstr(t, tl);
    if (topic && mosquitto_publish(b->mosq, NULL, topic, (int)pl, p, 0,
                                   (flags & AHKB_F_RETAIN) != 0) != MOSQ_ERR_SUCCESS)
        blog("publish on '%s' failed", topic);
    free(topic);
}

static void do_subscribe(struct bridge *b, struct ahkb_reader *r, int subscribe)
{
    size_t tl;
    const uint8_t *t = ahkb_str(r, &tl);
    unsigned qos = subscribe ? ahkb_u8(r) : 0;
    char *topic;
    int rc;

    if (r->bad || r->left || b->state != SESSION_CONNECTED)
        return;
    topic = cstr(t, tl);
    if (!topic)
        return;
    rc = subscribe ? mosquitto_subscribe(b->mosq, NULL, topic, (int)qos)
                   : mosquitto_unsubscribe(b->mosq, NULL, topic);
    if (rc != MOSQ_ERR_SUCCESS)
        blog("%s '%s' failed: %s", subscribe ? "subscribe" : "unsubscribe", topic,
             mosquitto_strerror(rc));
    free(topic);
}

static void do_disconnect(struct bridge *b)
{
    uint64_t until = now_ms() + 1000;

    if (b->state == SESSION_NONE)
        return;
    mosquitto_disconnect(b->mosq);
    while (mosquitto_want_write(b->mosq) && now_ms() < until &&
           mosquitto_loop_write(b->mosq, 1) == MOSQ_ERR_SUCCESS)
        ;
    blog("disconnected");
    drop_session(b);
}

/* Handles every complete frame in b->in; returns -1 on a malformed one. */
static int handle_frames(struct bridge *b)
{
    while (b->in.len >= 4) {
        uint32_t len = ahkb_get_u32be(b->in.data);
        struct ahkb_reader r;
        uint8_t type;

        if (len == 0 || len > AHKB_MAX_FRAME) {
            blog("malformed frame from the sketch (length %u)", (unsigned)len);
            return -1;
        }
        if (b->in.len < 4u + len)
            return 0;
        r.p = b->in.data + 5;
        r.left = len - 1;
        r.bad = 0;
        type = b->in.data[4];
        switch (type) {
        case AHKB_CONNECT: do_connect(b, &r); break;
        case AHKB_PUBLISH: do_publish(b, &r); break;
        case AHKB_SUBSCRIBE: do_subscribe(b, &r, 1); break;
        case AHKB_UNSUBSCRIBE: do_subscribe(b, &r, 0); break;
        case AHKB_DISCONNECT: do_disconnect(b); break;
        case AHKB_LOOP: b->loop_seen = 1; break;
        default:
            blog("unknown frame type 0x%02x from the sketch", type);
            return -1;
        }
        buf_consume(&b->in, 4u + len);
    }
    return 0;
}

static void read_link(struct bridge *b)
{
    ssize_t n;

    if (buf_reserve(&b->in, 65536) != 0) {
        b->link_eof = 1;
        return;
    }
    n = read(b->link, b->in.data + b->in.len, b->in.cap - b->in.len);
    if (n > 0)
        b->in.len += (size_t)n;
    else if (n == 0 || (errno != EINTR && errno != EAGAIN))
        b->link_eof = 1;
}

static void write_link(struct bridge *b)
{
    ssize_t n = send(b->link, b->out.data, b->out.len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0)
        buf_consume(&b->out, (size_t)n);
    else if (n < 0 && errno != EINTR && errno != EAGAIN)
        b->link_eof = 1;
}

/* One pass of libmosquitto's external loop, then the bookkeeping its callbacks asked for. */
static void service_mqtt(struct bridge *b, short revents)
{
    int rc = MOSQ_ERR_SUCCESS;

    if (!b->mosq)
        return;
    if (revents & (POLLIN | POLLHUP | POLLERR))
        rc = mosquitto_loop_read(b->mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS && b->mosq && mosquitto_want_write(b->mosq))
        rc = mosquitto_loop_write(b->mosq, 1);
    /* the keep-alive (ping when due, give up without an answer) is checked only when the
     * sketch called loop(), as PubSubClient does it inside loop() */
    if (rc == MOSQ_ERR_SUCCESS && b->mosq && b->loop_seen)
        rc = mosquitto_loop_misc(b->mosq);
    b->loop_seen = 0;
    if (rc != MOSQ_ERR_SUCCESS && !b->drop_pending && b->state != SESSION_NONE) {
        /* the socket failed without a disconnect callback */
        on_disconnect(b->mosq, b, rc == MOSQ_ERR_NO_CONN ? MOSQ_ERR_CONN_LOST : rc);
    }
    if (b->state == SESSION_CONNECTING && now_ms() > b->connect_deadline_ms) {
        blog("no CONNACK in time");
        send_state(b, AHKB_CONNECT_RESULT, -4);
        b->drop_pending = 1;
    }
    if (b->drop_pending)
        drop_session(b);
}

/* The sketch is gone: deliver what it queued, then vanish without DISCONNECT (the will fires). */
static void finish(struct bridge *b)
{
    uint64_t until = now_ms() + 500;

    if (b->state == SESSION_CONNECTED) {
        while (b->mosq && mosquitto_want_write(b->mosq) && now_ms() < until &&
               mosquitto_loop_write(b->mosq, 1) == MOSQ_ERR_SUCCESS)
            ;
        blog("sketch ended without disconnect(): dropping the connection (the broker sends the will)");
    }
    drop_session(b);
    mosquitto_lib_cleanup();
    _exit(0);
}

static void run(struct bridge *b)
{
    for (;;) {
        struct pollfd p[2];
        int sock = b->mosq ? mosquitto_socket(b->mosq) : -1;
        nfds_t n = 1;

        p[0].fd = b->link;
        p[0].events = (short)(POLLIN | (b->out.len ? POLLOUT : 0));
        p[0].revents = 0;
        if (sock >= 0) {
            p[1].fd = sock;
            p[1].events = (short)(POLLIN | (mosquitto_want_write(b->mosq) ? POLLOUT : 0));
            p[1].revents = 0;
            n = 2;
        }
        if (poll(p, n, 100) < 0 && errno != EINTR) {
            blog("poll: %s", strerror(errno));
            finish(b);
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
            read_link(b);
        if (handle_frames(b) != 0)
            finish(b);
        service_mqtt(b, n == 2 ? p[1].revents : 0);
        if (b->out.len)
            write_link(b);
        if (b->link_eof)
            finish(b);
    }
}

int main(int argc, char **argv)
{
    struct bridge b;

    memset(&b, 0, sizeof b);
    b.link = AHKB_LINK_FD;
    if (argc == 3 && strcmp(argv[1], "--fd") == 0) {
        b.link = atoi(argv[2]);
    } else if (argc != 1) {
        fprintf(stderr, "usage: %s [--fd N]\n"
                        "MQTT bridge of the Arduino host kit: speaks the protocol of\n"
                        "ahk_mqtt_bridge_proto.h on fd N (default 3), started by PubSubClient.\n",
                argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    mosquitto_lib_init();
    run(&b);
    return 0;
}
