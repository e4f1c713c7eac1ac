/* wificlient.cpp: WiFiClient (include/WiFiClient.h) on a non-blocking POSIX TCP socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ahk_runtime.h"
#include "net_host.h"
#include "WiFiClient.h"
#include "WiFi.h"

#define WRITE_WAIT_MS 10000   /* the board retries a stalled write for about 10 s */
#define CONNECT_WAIT_MS 3000  /* the board's default connect timeout */

using ahk_net::Socket;

WiFiClient::WiFiClient() {}

WiFiClient::WiFiClient(int fd)
{
    if (fd >= 0) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        sock_ = std::make_shared<Socket>(fd);
    }
}

WiFiClient::~WiFiClient() {}

int WiFiClient::fd() const { return sock_ ? sock_->fd : -1; }

int WiFiClient::connect(IPAddress ip, uint16_t port) { return connect(ip, port, CONNECT_WAIT_MS); }

int WiFiClient::connect(const char *host, uint16_t port) { return connect(host, port, CONNECT_WAIT_MS); }

int WiFiClient::connect(const char *host, uint16_t port, int32_t timeout_ms)
{
    struct in_addr a;
    if (!ahk_net::loopback_host(host, &a)) {
        ahk::log("NET", "WiFiClient: %s:%u is not reachable from the host board (loopback only)",
                 host ? host : "(null)", (unsigned)port);
        return 0;
    }
    uint32_t v = a.s_addr;
    return connect(IPAddress(v), port, timeout_ms);
}

int WiFiClient::connect(IPAddress ip, uint16_t port, int32_t timeout_ms)
{
    stop();
    if (WiFi.status() != WL_CONNECTED) {
        ahk::log("NET", "WiFiClient: no connection to %s:%u: the WiFi station is not connected",
                 ip.toString().c_str(), (unsigned)port);
        return 0;
    }
    if (ip[0] != 127) {
        ahk::log("NET", "WiFiClient: %s:%u is not reachable from the host board (loopback only)",
                 ip.toString().c_str(), (unsigned)port);
        return 0;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa = {};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = (uint32_t)ip;
    int rc = ::connect(fd, (struct sockaddr *)&sa, sizeof sa);
    if (rc < 0 && errno == EINPROGRESS) {
        struct pollfd pf = {fd, POLLOUT, 0};
        int err = 0;
        socklen_t el = sizeof err;
        if (poll(&pf, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
            err == 0)
            rc = 0;
    }
    if (rc != 0) {
        ::close(fd);
        return 0;
    }
    sock_ = std::make_shared<Socket>(fd);
    return 1;
}

size_t WiFiClient::write(uint8_t b) { return write(&b, 1); }

size_t WiFiClient::write(const uint8_t *buf, size_t size)
{
    if (!sock_ || sock_->fd < 0 || size == 0)
        return 0;
    if (!ahk_net::write_all(sock_->fd, buf, size, WRITE_WAIT_MS)) {
        stop();
        return 0;
    }
    return size;
}

size_t WiFiClient::write(Stream &stream)
{
    uint8_t buf[1436];
    size_t total = 0;
    int n;
    while ((n = stream.available()) > 0) {
        size_t k = 0;
        while (k < sizeof buf && k < (size_t)n) {
            int c = stream.read();
            if (c < 0)
                break;
            buf[k++] = (uint8_t)c;
        }
        if (k == 0 || write(buf, k) != k)
            break;
        total += k;
    }
    return total;
}

int WiFiClient::available()
{
    int n = 0;
    if (!sock_ || sock_->fd < 0 || ioctl(sock_->fd, FIONREAD, &n) < 0)
        return 0;
    return n;
}

int WiFiClient::read()
{
    uint8_t b;
    return read(&b, 1) == 1 ? b : -1;
}

int WiFiClient::read(uint8_t *buf, size_t size)
{
    if (!sock_ || sock_->fd < 0)
        return -1;
    ssize_t n = recv(sock_->fd, buf, size, MSG_DONTWAIT);
    if (n > 0)
        return (int)n;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        sock_->close();   /* peer closed or failed: connected() turns false */
    return -1;
}

int WiFiClient::peek()
{
    uint8_t b;
    if (!sock_ || sock_->fd < 0)
        return -1;
    return recv(sock_->fd, &b, 1, MSG_DONTWAIT | MSG_PEEK) == 1 ? b : -1;
}

void WiFiClient::flush()
{
    uint8_t buf[512];
    while (available() > 0 && read(buf, sizeof buf) > 0)
        ;
}

void WiFiClient::stop()
{
    if (sock_)
        sock_->close();
    sock_.reset();
}

uint8_t WiFiClient::connected()
{
    if (!sock_ || sock_->fd < 0)
        return 0;
    uint8_t b;
    ssize_t n = recv(sock_->fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n > 0)
        return 1;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        sock_->close();
        return 0;
    }
    return 1;
}

int WiFiClient::setNoDelay(bool nodelay)
{
    int v = nodelay ? 1 : 0;
    if (!sock_ || sock_->fd < 0)
        return -1;
    sock_->nodelay = nodelay;
    return setsockopt(sock_->fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v);
}

bool WiFiClient::getNoDelay() { return sock_ && sock_->nodelay; }

static IPAddress sock_ip(int fd, bool peer, uint16_t *port)
{
    struct sockaddr_in sa = {};
    socklen_t l = sizeof sa;
    int rc = fd < 0 ? -1 : peer ? getpeername(fd, (struct sockaddr *)&sa, &l)
                                : getsockname(fd, (struct sockaddr *)&sa, &l);
    if (rc != 0 || sa.sin_family != AF_INET) {
        if (port)
            *port = 0;
        return IPAddress();
    }
    if (port)
        *port = ntohs(sa.sin_port);
    return IPAddress((uint32_t)sa.sin_addr.s_addr);
}

IPAddress WiFiClient::remoteIP() const { return sock_ip(fd(), true, nullptr); }
IPAddress WiFiClient::localIP() const { return sock_ip(fd(), false, nullptr); }

uint16_t WiFiClient::remotePort() const
{
    uint16_t p;
    sock_ip(fd(), true, &p);
    return p;
}

uint16_t WiFiClient::localPort() const
{
    uint16_t p;
    sock_ip(fd(), false, &p);
    return p;
}
