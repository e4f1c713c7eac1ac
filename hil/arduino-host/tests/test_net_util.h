/* test_net_util.h: what the kit's network tests share beyond test_core_util.h (CHECK and the
 * counts run.sh sums): a free loopback port, and a raw HTTP client that lets the test pump
 * WebServer::handleClient() while it waits for the reply. */
#ifndef AHK_TEST_NET_UTIL_H
#define AHK_TEST_NET_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "test_core_util.h"

static inline uint64_t test_ms() { return test_mono_us() / 1000u; }

/* A loopback TCP port nobody listens on right now. */
static inline int free_port()
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {};
    socklen_t l = sizeof sa;
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &l);
    close(fd);
    return ntohs(sa.sin_port);
}

static inline int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends `request` raw, then reads the reply until the server closes, calling pump() (the
 * sketch's loop) between reads. Returns the whole reply ("" on failure or timeout). */
static inline std::string http_exchange(int port, const std::string &request, const std::function<void()> &pump,
                                        int timeout_ms = 5000)
{
    int fd = connect_port(port);
    if (fd < 0)
        return "";
    size_t off = 0;
    while (off < request.size()) {
        ssize_t n = send(fd, request.data() + off, request.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        else
            pump();
    }
    std::string reply;
    uint64_t until = test_ms() + (uint64_t)timeout_ms;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    while (test_ms() < until) {
        pump();
        char buf[65536];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            reply.append(buf, (size_t)n);
            continue;
        }
        if (n == 0)
            break;
        struct pollfd pf = {fd, POLLIN, 0};
        poll(&pf, 1, 2);
    }
    close(fd);
    return reply;
}

/* Status code, a header's value ("" if absent) and the body of a raw reply. */
static inline int reply_status(const std::string &r)
{
    return r.compare(0, 7, "HTTP/1.") == 0 && r.size() > 12 ? atoi(r.c_str() + 9) : -1;
}

static inline std::string reply_header(const std::string &r, const char *name)
{
    size_t end = r.find("\r\n\r\n");
    std::string head = "\r\n" + r.substr(0, end);
    std::string key = std::string("\r\n") + name + ":";
    for (size_t i = 0; i + key.size() <= head.size(); i++)
        if (strncasecmp(head.c_str() + i, key.c_str(), key.size()) == 0) {
            size_t v = i + key.size(), e = head.find("\r\n", v);
            std::string val = head.substr(v, e == std::string::npos ? std::string::npos : e - v);
            return val.erase(0, val.find_first_not_of(' '));
        }
    return "";
}

static inline std::string reply_body(const std::string &r)
{
    size_t end = r.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : r.substr(end + 4);
}

#endif
