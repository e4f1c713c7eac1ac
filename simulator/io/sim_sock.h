/* sim_sock: a listening stream socket that serves one client at a time, the
 * device of a meter line on `--tcp ADDR:PORT` or `--unix PATH`
 * (docs/ser2net.md says when to use which).
 *
 * Owns: parsing "ADDR:PORT" (numeric IPv4, or IPv6 in brackets:
 * "[::1]:5000"), the listening socket (SO_REUSEADDR for TCP; a Unix path
 * that is a live socket is refused, a stale socket file is replaced, and the
 * file is removed on close only while it is still the one we bound), and the
 * one client: a second client that connects while one is connected is
 * accepted and closed at once (it reads end of file; the first keeps the
 * line). Raw bytes, no framing. No libev: sim_serial watches the two fds and
 * moves the bytes. Every fd is non-blocking and close-on-exec.
 */
#ifndef SIM_SOCK_H
#define SIM_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef struct sim_sock sim_sock;

typedef enum {
    SIM_SOCK_OK = 0,
    SIM_SOCK_BAD_ADDRESS, /* malformed "ADDR:PORT", port outside 1-65535, path too long */
    SIM_SOCK_IN_USE,      /* port taken; path is a live socket or not a socket */
    SIM_SOCK_SYSTEM,      /* a system call failed (message says which) */
} sim_sock_result;

typedef enum {
    SIM_SOCK_ACCEPT_NONE,    /* nobody is waiting */
    SIM_SOCK_ACCEPT_CLIENT,  /* a client is connected now (sim_sock_client_fd) */
    SIM_SOCK_ACCEPT_REFUSED, /* a second client came and was closed at once */
    SIM_SOCK_ACCEPT_FAILED,  /* accept failed (errno kept; out of fds: retry later) */
} sim_sock_accept_result;

/* A parsed TCP listening address. */
typedef struct {
    struct sockaddr_storage sa;
    socklen_t len;
    char text[72];  /* "127.0.0.1:5000", "[::1]:5000" */
} sim_sock_addr;

/* Parse "ADDR:PORT" (numeric IPv4 "127.0.0.1:5000", IPv6 "[::1]:5000"; a
 * bare "PORT" means 127.0.0.1). opt names the option in messages ("--tcp").
 * SIM_SOCK_OK, or SIM_SOCK_BAD_ADDRESS with a message. */
sim_sock_result sim_sock_parse_tcp(const char *opt, const char *spec, sim_sock_addr *out, char *err,
                                   size_t errlen);

/* Listen on a TCP address (sim_sock_parse_tcp) or a Unix stream socket
 * path. On SIM_SOCK_OK *out is the new socket; otherwise *out is NULL, err
 * holds a message naming opt and the address, and nothing was created. */
sim_sock_result sim_sock_open_tcp(const char *opt, const char *spec, sim_sock **out, char *err, size_t errlen);
sim_sock_result sim_sock_open_unix(const char *opt, const char *path, sim_sock **out, char *err, size_t errlen);

/* Would sim_sock_open_unix take path? SIM_SOCK_OK when nothing is there
 * or a stale socket file (it would be replaced); SIM_SOCK_IN_USE for a live
 * socket or a file that is not a socket, SIM_SOCK_BAD_ADDRESS for too long
 * a path, with a message. Changes nothing (a config check runs it before
 * any meter starts); a live listener sees one connection that closes. */
sim_sock_result sim_sock_check_unix(const char *opt, const char *path, char *err, size_t errlen);

/* Accept one waiting connection (call until SIM_SOCK_ACCEPT_NONE when the
 * listening fd is readable). */
sim_sock_accept_result sim_sock_accept(sim_sock *s);
/* Close the client's connection (it left, or the line drops it). */
void sim_sock_drop(sim_sock *s);
/* Close everything; remove the Unix socket file if it is still ours. */
void sim_sock_close(sim_sock *s);

int sim_sock_listen_fd(const sim_sock *s);
int sim_sock_client_fd(const sim_sock *s);   /* -1: no client */
bool sim_sock_is_unix(const sim_sock *s);
const char *sim_sock_name(const sim_sock *s); /* "127.0.0.1:5000", "[::1]:5000" or the path */
const char *sim_sock_peer(const sim_sock *s); /* the client ("127.0.0.1:40312", "local"), "" if none */

#endif
