/* net_host.cpp: the host-side helpers of net_host.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ahk_runtime.h"
#include "net_host.h"

namespace ahk_net {

Socket::~Socket() { close(); }

void Socket::close()
{
    if (fd >= 0)
        ::close(fd);
    fd = -1;
}

uint64_t mono_ms()
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

bool loopback_host(const char *host, struct in_addr *out)
{
    struct in_addr a;
    if (!host)
        return false;
    if (strcasecmp(host, "localhost") == 0)
        a.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &a) != 1)
        return false;
    if ((ntohl(a.s_addr) >> 24) != 127)
        return false;
    if (out)
        *out = a;
    return true;
}

int host_port_for(uint16_t board_port)
{
    const ahk::Options &o = ahk::options();
    if (board_port == 80) {
        if (o.http_port > 0)
            return o.http_port;
        ahk::log("NET", "the board's port 80 is not reachable: no --http-port given");
        return -1;
    }
    if (board_port >= 1024)
        return board_port;
    ahk::log("NET", "the board's port %u is not reachable from the host (only 80, via --http-port, "
                    "and ports >= 1024 are served)", (unsigned)board_port);
    return -1;
}

bool write_all(int fd, const void *data, size_t len, int timeout_ms)
{
    const char *p = static_cast<const char *>(data);
    uint64_t until = mono_ms() + (uint64_t)timeout_ms;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return false;
        uint64_t now = mono_ms();
        if (now >= until)
            return false;
        struct pollfd pf = {fd, POLLOUT, 0};
        if (poll(&pf, 1, (int)(until - now)) < 0 && errno != EINTR)
            return false;
    }
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::string url_decode(const std::string &text, bool plus_is_space)
{
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        if (c == '%' && i + 2 < text.size() && hexval(text[i + 1]) >= 0 &&
            hexval(text[i + 2]) >= 0) {
            out += (char)(hexval(text[i + 1]) * 16 + hexval(text[i + 2]));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

} // namespace ahk_net
