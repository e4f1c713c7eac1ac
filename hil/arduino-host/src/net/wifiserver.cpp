/* wifiserver.cpp: WiFiServer (include/WiFiServer.h): a non-blocking listening socket on the
 * rig's HTTP host (127.0.0.1), at the host port net_host.h maps the board's port to. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ahk_vt.h"
#include "ahk_runtime.h"
#include "net_host.h"
#include "WiFiServer.h"

WiFiServer::WiFiServer(uint16_t port, uint8_t max_clients) : port_(port), max_clients_(max_clients) {}

WiFiServer::WiFiServer(const IPAddress &, uint16_t port, uint8_t max_clients)
    : port_(port), max_clients_(max_clients) {}

WiFiServer::~WiFiServer() { end(); }

void WiFiServer::begin() { begin(port_, 1); }

void WiFiServer::begin(uint16_t port) { begin(port, 1); }

void WiFiServer::begin(uint16_t port, int reuse_enable)
{
    if (fd_ >= 0)
        return;
    port_ = port;
    if (ahk::vt::enabled) { /* requests come from the co-simulation (WebServer::handleClient) */
        ahk::log("NET", "board port %u: virtual requests from the co-simulation", (unsigned)port);
        return;
    }
    int host_port = ahk_net::host_port_for(port);
    if (host_port < 0)
        return;
    const std::string &host = ahk::options().http_host;
    struct in_addr a;
    if (!ahk_net::loopback_host(host.c_str(), &a)) {
        ahk::log("NET", "server for board port %u not started: HTTP host %s is not a loopback address",
                 (unsigned)port, host.c_str());
        return;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0 && reuse_enable)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)host_port);
    sa.sin_addr = a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(fd, max_clients_ > 0 ? max_clients_ * 4 : 16) != 0) {
        ahk::log("NET", "cannot serve board port %u on %s:%d: %s", (unsigned)port, host.c_str(),
                 host_port, strerror(errno));
        if (fd >= 0)
            ::close(fd);
        return;
    }
    fd_ = fd;
    ahk::log("NET", "board port %u served on http://%s:%d/", (unsigned)port, host.c_str(), host_port);
}

bool WiFiServer::hasClient()
{
    struct pollfd pf = {fd_, POLLIN, 0};
    return fd_ >= 0 && poll(&pf, 1, 0) == 1 && (pf.revents & POLLIN);
}

WiFiClient WiFiServer::available()
{
    if (fd_ < 0)
        return WiFiClient();
    int c = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0)
        return WiFiClient();
    WiFiClient client(c);
    if (nodelay_)
        client.setNoDelay(true);
    return client;
}

void WiFiServer::end()
{
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}
