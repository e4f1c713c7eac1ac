/* vt.cpp: virtual time of a sketch built with --virtual-time (see ahk_vt.h and
 * vt/ahk_vt_proto.h). Single-threaded: only the loop task touches it. Compiled in
 * every variant (the calls sit behind `if (vt::enabled)`), used only with
 * AHK_VIRTUAL_TIME. */
#include "ahk_vt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <vector>

#include "../../vt/ahk_vt_proto.h"
#include "ahk_internal.h"
#include "ahk_runtime.h"

namespace ahk {
namespace vt {
namespace {

struct RxByte {
    uint64_t t;
    uint8_t b;
};

struct HttpReq {
    uint64_t t;
    uint32_t id;
    bool awaited;                      /* the co-simulation waits for the answer: sync at once */
    std::string raw;
};

struct State {
    int fd = -1;
    uint64_t abs = 0, boot_abs = 0, horizon = 0;
    int64_t utc_base_ms = 0;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    /* outputs not yet sent, and what they allow */
    std::vector<uint8_t> out;
    uint32_t out_items = 0;
    uint64_t stop_at = UINT64_MAX;     /* an output needs the other side by then */
    /* the meter line */
    std::deque<RxByte> future;         /* announced, not arrived yet */
    std::deque<uint8_t> rx;            /* arrived: the UART's receive buffer */
    size_t rx_cap = 256;
    uint64_t rx_overflow = 0, rx_dropped_off = 0;
    uint64_t tx_busy_until = 0;        /* last stop bit of what was written */
    uint64_t tx_byte_us = 0;
    uint64_t tx_burst_start = 0, tx_burst_n = 0;
    /* HTTP requests waiting for handleClient */
    std::deque<HttpReq> http;
    bool http_awaited = false;
    bool resp_open = false;            /* a handler is answering resp_id */
    uint32_t resp_id = 0, resp_parts = 0;
    std::string resp;
    /* the loop quantum */
    bool io = true;
    uint64_t q_loop = k_q_loop_min_us;
    uint64_t syncs = 0, loops = 0, rx_bytes = 0;
    std::vector<uint8_t> in;           /* the receive buffer of exchange() */
};

State &st()
{
    static State s;
    return s;
}

[[noreturn]] void lost(const char *what)
{
    fprintf(stderr, "virtual time: %s: %s; the co-simulation is gone\n", what, strerror(errno));
    _exit(3);
}

void put_item(uint8_t kind, uint8_t flag, uint64_t t, uint32_t arg, const void *data, size_t len)
{
    State &s = st();
    size_t room = AHK_VT_MSG_MAX - sizeof(ahk_vt_head) - sizeof(ahk_vt_item) - 8;
    if (s.out.size() + len > room) /* keep the message in one packet (a huge HTTP answer is cut) */
        len = s.out.size() < room ? room - s.out.size() : 0;
    ahk_vt_item it;
    memset(&it, 0, sizeof it);
    it.kind = kind;
    it.flag = flag;
    it.len = (uint32_t)len;
    it.t_us = t;
    it.arg = arg;
    const uint8_t *ip = (const uint8_t *)&it;
    s.out.insert(s.out.end(), ip, ip + sizeof it);
    if (len)
        s.out.insert(s.out.end(), (const uint8_t *)data, (const uint8_t *)data + len);
    s.out.resize(s.out.size() + (AHK_VT_PAD8(len) - len), 0);
    s.out_items++;
}

void reveal()
{
    State &s = st();
    while (!s.future.empty() && s.future.front().t <= s.abs) {
        uint8_t b = s.future.front().b;
        s.future.pop_front();
        if (!rx_passes())
            s.rx_dropped_off++;
        else if (s.rx.size() < s.rx_cap) {
            s.rx.push_back(b);
            s.rx_bytes++;
        }
        else
            s.rx_overflow++;
    }
}

void take_grant(const uint8_t *p, size_t n)
{
    State &s = st();
    ahk_vt_head h;
    if (n < sizeof h)
        lost("short message");
    memcpy(&h, p, sizeof h);
    if (h.type != AHK_VT_GRANT || h.version != AHK_VT_VERSION) {
        fprintf(stderr, "virtual time: unexpected message %u version %u\n", h.type, h.version);
        _exit(3);
    }
    if (h.clock_us > s.abs)
        s.abs = h.clock_us;
    s.horizon = h.horizon_us > s.abs ? h.horizon_us : s.abs + 1;
    size_t off = sizeof h;
    for (uint32_t i = 0; i < h.n_items && off + sizeof(ahk_vt_item) <= n; i++) {
        ahk_vt_item it;
        memcpy(&it, p + off, sizeof it);
        off += sizeof it;
        if (off + it.len > n)
            break;
        const uint8_t *d = p + off;
        off += AHK_VT_PAD8(it.len);
        switch (it.kind) {
        case AHK_VT_ITEM_RX:
            for (uint32_t k = 0; k < it.arg && it.arg * 5u <= it.len; k++) {
                uint32_t dt;
                memcpy(&dt, d + it.arg + 4u * k, 4);
                s.future.push_back({it.t_us + dt, d[k]});
            }
            break;
        case AHK_VT_ITEM_HTTP_REQ:
        { /* served in time order (a request for now may come after readings announced for later) */
            auto pos = s.http.end();
            while (pos != s.http.begin() && (pos - 1)->t > it.t_us)
                --pos;
            s.http.insert(pos, HttpReq{it.t_us, it.arg, it.flag != 0, std::string((const char *)d, it.len)});
        }
            break;
        case AHK_VT_ITEM_STOP:
            log("VT", "end of the run at %.3f s since boot: %llu syncs, %llu loop() calls, %llu bytes received, "
                "%llu dropped (transceiver off), %llu lost (receive buffer full)",
                (double)(s.abs - s.boot_abs) / 1e6, (unsigned long long)s.syncs, (unsigned long long)s.loops,
                (unsigned long long)s.rx_bytes, (unsigned long long)s.rx_dropped_off, (unsigned long long)s.rx_overflow);
            fflush(stdout);
            fflush(stderr);
            _exit(0);
        default:
            break;
        }
    }
    reveal();
}

/* what the handler has written so far: flag 0 the first part, 1 a continuation */
void flush_response()
{
    State &s = st();
    if (!s.resp_open || (s.resp.empty() && s.resp_parts))
        return;
    put_item(AHK_VT_ITEM_HTTP_RESP, s.resp_parts ? 1 : 0, s.abs, s.resp_id, s.resp.data(), s.resp.size());
    s.resp_parts++;
    s.resp.clear();
}

void exchange(uint16_t type, uint32_t reboots)
{
    State &s = st();
    if (!s.resp.empty())
        flush_response();
    ahk_vt_head h;
    memset(&h, 0, sizeof h);
    h.type = type;
    h.version = AHK_VT_VERSION;
    h.n_items = s.out_items;
    h.clock_us = s.abs;
    h.reboots = reboots;
    std::vector<uint8_t> msg(sizeof h);
    memcpy(msg.data(), &h, sizeof h);
    msg.insert(msg.end(), s.out.begin(), s.out.end());
    s.out.clear();
    s.out_items = 0;
    s.stop_at = UINT64_MAX;
    if (send(s.fd, msg.data(), msg.size(), MSG_NOSIGNAL) != (ssize_t)msg.size())
        lost("send");
    std::vector<uint8_t> &in = s.in;
    if (in.size() != AHK_VT_MSG_MAX)
        in.resize(AHK_VT_MSG_MAX);
    ssize_t got;
    do
        got = recv(s.fd, in.data(), in.size(), 0);
    while (got < 0 && errno == EINTR);
    if (got <= 0)
        lost("receive");
    s.syncs++;
    take_grant(in.data(), (size_t)got);
}

uint64_t limit()
{
    State &s = st();
    return s.stop_at < s.horizon ? s.stop_at : s.horizon;
}

} // namespace

void start(int fd, uint64_t seed, int64_t utc_base_ms, unsigned reboots)
{
    State &s = st();
    s.fd = fd;
    s.utc_base_ms = utc_base_ms;
    s.rng ^= seed * 0xD1B54A32D192ED03ull + reboots;
    exchange(AHK_VT_HELLO, reboots);
    s.boot_abs = s.abs;
}

bool started() { return st().fd >= 0; }
uint64_t abs_us() { return st().abs; }
uint64_t boot_us() { return st().abs - st().boot_abs; }
int64_t utc_us() { return st().utc_base_ms * 1000 + (int64_t)st().abs; }

void advance(uint64_t us)
{
    State &s = st();
    if (s.fd < 0) { /* before start (the kit's own tests): a clock that only moves */
        s.abs += us;
        return;
    }
    uint64_t target = s.abs + us;
    while (target >= limit()) {
        uint64_t l = limit();
        if (l > s.abs)
            s.abs = l;
        reveal();
        exchange(AHK_VT_SYNC, 0);
    }
    if (target > s.abs) /* a grant may have moved the clock past it (the sketch was held) */
        s.abs = target;
    reveal();
}

void sync_now()
{
    if (st().fd >= 0)
        exchange(AHK_VT_SYNC, 0);
}

void note_io() { st().io = true; }

void loop_end()
{
    State &s = st();
    if (s.io)
        s.q_loop = k_q_loop_min_us;
    else if (s.q_loop < k_q_loop_max_us)
        s.q_loop = s.q_loop * 2 < k_q_loop_max_us ? s.q_loop * 2 : k_q_loop_max_us;
    s.io = false;
    s.loops++;
    advance(s.q_loop);
}

uint64_t random64()
{
    uint64_t &x = st().rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- the meter line ---- */

void rx_open(size_t capacity)
{
    State &s = st();
    s.rx_cap = capacity ? capacity : 256;
    s.rx.clear();
}

int rx_available()
{
    State &s = st();
    reveal();
    if (s.rx.empty())
        advance(k_q_empty_rx_us);
    return (int)s.rx.size(); /* receiving is not I/O that resets the loop quantum: outputs are */
}

int rx_peek()
{
    State &s = st();
    if (rx_available() <= 0)
        return -1;
    return s.rx.front();
}

int rx_read()
{
    State &s = st();
    if (rx_available() <= 0)
        return -1;
    int c = s.rx.front();
    s.rx.pop_front();
    return c;
}

void rx_flush() { st().rx.clear(); }

void tx_write(const uint8_t *p, size_t n, unsigned long baud, unsigned frame_bits, size_t fifo)
{
    State &s = st();
    if (!n)
        return;
    uint64_t bits_us = (uint64_t)frame_bits * 1000000u; /* per byte, times baud */
    baud = baud ? baud : 9600;
    s.tx_byte_us = bits_us / baud;
    if (s.tx_busy_until <= s.abs) { /* an idle transmitter: a new burst starts now */
        s.tx_burst_start = s.abs;
        s.tx_burst_n = 0;
    }
    /* byte k of a burst ends (k + 1) frame times after its start, exactly as the
     * co-simulation's model of this UART (cosim.c modtx_done_us) */
    s.tx_burst_n += n;
    s.tx_busy_until = s.tx_burst_start + s.tx_burst_n * bits_us / baud;
    put_item(AHK_VT_ITEM_TX, 0, s.abs, 0, p, n);
    /* the meter cannot react before the last of these bytes has arrived */
    if (s.tx_busy_until < s.stop_at)
        s.stop_at = s.tx_busy_until;
    s.io = true;
    uint64_t fifo_us = (uint64_t)fifo * s.tx_byte_us;
    if (s.tx_busy_until > s.abs + fifo_us) /* the rest waits for room in the FIFO */
        advance(s.tx_busy_until - fifo_us - s.abs);
}

void tx_drain()
{
    State &s = st();
    if (s.tx_busy_until > s.abs)
        advance(s.tx_busy_until - s.abs);
}

int tx_room(size_t fifo)
{
    State &s = st();
    if (s.tx_busy_until <= s.abs || !s.tx_byte_us)
        return (int)fifo;
    uint64_t waiting = (s.tx_busy_until - s.abs + s.tx_byte_us - 1) / s.tx_byte_us;
    return waiting >= fifo ? 0 : (int)(fifo - waiting);
}

/* ---- board lines, HTTP, MQTT ---- */

void line_event(int which, bool on)
{
    State &s = st();
    put_item(AHK_VT_ITEM_LINE, on ? 1 : 0, s.abs, (uint32_t)which, nullptr, 0);
    /* bytes announced for later may no longer come (the meter muted, the
     * transceiver unpowered): the co-simulation drops the same ones */
    while (!s.future.empty() && s.future.back().t > s.abs)
        s.future.pop_back();
    s.stop_at = s.abs; /* the other side must see it before anything else happens */
    s.io = true;
}

bool http_take(uint32_t *id, std::string *request)
{
    State &s = st();
    if (s.http.empty() || s.http.front().t > s.abs)
        return false;
    *id = s.http.front().id;
    *request = std::move(s.http.front().raw);
    s.http_awaited = s.http.front().awaited;
    s.http.pop_front();
    s.io = true;
    return true;
}

void http_begin(uint32_t id)
{
    State &s = st();
    s.resp_open = true;
    s.resp_id = id;
    s.resp_parts = 0;
    s.resp.clear();
}

void http_append(const void *p, size_t n)
{
    State &s = st();
    if (!s.resp_open)
        return;
    s.resp.append((const char *)p, n);
    if (s.http_awaited) /* a client waits for it; a periodic reading goes with the next sync */
        s.stop_at = s.abs;
    s.io = true;
}

void http_end()
{
    State &s = st();
    flush_response();
    s.resp_open = false;
}

void mqtt_publish(const std::string &topic, const std::string &payload, bool retained)
{
    State &s = st();
    std::string d = topic + payload;
    put_item(AHK_VT_ITEM_MQTT, retained ? 1 : 0, s.abs, (uint32_t)topic.size(), d.data(), d.size());
    s.io = true;
}

} // namespace vt
} // namespace ahk
