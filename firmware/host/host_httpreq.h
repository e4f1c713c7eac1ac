/* host_httpreq: parse one HTTP/1.x request head for mepmod's web server.
 *
 * Pure: bytes in, a verdict out (no sockets, no time), so the limits are
 * unit-testable and fuzzable (tests/fuzz/fuzz_fw_http.c); host_http owns the
 * connections and asks this file about the bytes each one has received.
 *
 * What is accepted (RFC 9112 where it matters for a GET-only server):
 * CRLF line ends only (a bare CR or LF is refused, it is how requests get
 * smuggled past a proxy), empty lines before the request line are skipped,
 * `METHOD SP /target SP HTTP/1.0|1.1`, `name: value` header lines (no
 * folding), no request body (Content-Length other than 0 and any
 * Transfer-Encoding are refused: body bytes would be read as the next
 * request). Limits: the request line, any header line, the whole head.
 */
#ifndef HOST_HTTPREQ_H
#define HOST_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>

#define HOST_HTTPREQ_MAX_HEAD 8192u   /* request line + headers + CRLFs; more -> 431 */
#define HOST_HTTPREQ_MAX_LINE 2048u   /* request line without CRLF; more -> 414 */
#define HOST_HTTPREQ_MAX_FIELD 4096u  /* one header line without CRLF; more -> 431 */

typedef enum {
    HOST_HTTPREQ_INCOMPLETE, /* no verdict yet: wait for more bytes */
    HOST_HTTPREQ_DONE,       /* a whole head: answer it (status 0: the handler; else that error) */
    HOST_HTTPREQ_REFUSE,     /* the stream cannot be trusted: answer status, then close */
} host_httpreq_result;

typedef struct {
    size_t head_len;   /* DONE: bytes the head took (what to drop before the next request) */
    int status;        /* 0 = serve path; else 400, 405, 414, 431, 505 */
    const char *why;   /* status != 0: a short static reason for the error body */
    bool head_only;    /* HEAD: headers without the body */
    bool close;        /* close after the answer (Connection, HTTP/1.0 default) */
    char path[HOST_HTTPREQ_MAX_LINE + 1]; /* DONE, status 0: the target without ?query/#frag */
} host_httpreq;

/* Look at buf[0..len) (the bytes received since the last request ended).
 * @return INCOMPLETE (the head is not over and no limit is broken yet),
 *         DONE (out->head_len bytes form one request; out->status says how
 *         to answer it) or REFUSE (out->status / out->why: answer and close). */
host_httpreq_result host_httpreq_parse(const char *buf, size_t len, host_httpreq *out);

#endif
