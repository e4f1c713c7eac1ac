/* net_host.h: what the kit's network classes share on the host: the loopback-only policy, the
 * board-port to host-port mapping of servers, bounded socket writes and URL decoding.
 * Internal to src/net (not an Arduino header). */
#ifndef AHK_NET_HOST_H
#define AHK_NET_HOST_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string>

namespace ahk_net {

/* One socket owned by any number of WiFiClient copies; closed with the last one. */
struct Socket {
    int fd = -1;
    bool nodelay = false;
    explicit Socket(int f) : fd(f) {}
    ~Socket();
    void close();
};

uint64_t mono_ms();

/* True and the address in *out if host is "localhost" or a dotted 127.x.y.z address. */
bool loopback_host(const char *host, struct in_addr *out);

/* The host port that serves the board's listening port (80 -> --http-port), or -1 (logged). */
int host_port_for(uint16_t board_port);

/* Writes all of data to a (possibly non-blocking) socket, waiting at most timeout_ms for it to
 * drain; false if the peer went away or the time ran out. Never raises SIGPIPE. */
bool write_all(int fd, const void *data, size_t len, int timeout_ms);

/* %XX decoding; '+' becomes a space when plus_is_space (query strings and form bodies). */
std::string url_decode(const std::string &text, bool plus_is_space);

} // namespace ahk_net

#endif
