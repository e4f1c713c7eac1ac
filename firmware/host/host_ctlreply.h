/* host_ctlreply: reads mepsim's replies on the control socket (host_linectl).
 *
 * The control socket answers every request with one JSON object on one line
 * (mepsim --help, "Control socket"): {"ok":true,...} or
 * {"ok":false,"error":"..."}. This file cuts the received bytes into lines
 * (bounded: a line longer than HOST_CTLREPLY_MAX_LINE is dropped whole, up
 * to its newline) and classifies each with a real JSON parser, so an error
 * text that happens to contain `"ok":true` is still a refusal. Pure: bytes
 * in, one callback per line out; fuzzed by tests/fuzz/fuzz_fw_ctlreply.c.
 */
#ifndef HOST_CTLREPLY_H
#define HOST_CTLREPLY_H

#include <stdbool.h>
#include <stddef.h>

#define HOST_CTLREPLY_MAX_LINE 512u

typedef enum {
    HOST_CTLREPLY_OK,        /* {"ok":true,...} */
    HOST_CTLREPLY_REFUSED,   /* {"ok":false,...}: the emulator refused the request */
    HOST_CTLREPLY_MALFORMED, /* not a JSON object with a boolean "ok" */
    HOST_CTLREPLY_TOO_LONG,  /* longer than HOST_CTLREPLY_MAX_LINE: dropped unread */
} host_ctlreply_kind;

typedef struct {
    char line[HOST_CTLREPLY_MAX_LINE];
    size_t len;
    bool skipping;           /* inside an over-long line: drop up to its newline */
} host_ctlreply;

/* One complete line (no newline; NUL-terminated copy, len excludes the NUL). */
typedef void (*host_ctlreply_fn)(void *ctx, host_ctlreply_kind kind, const char *line, size_t len);

void host_ctlreply_init(host_ctlreply *r);
/* Bytes as received (any split); fn is called once per complete line. */
void host_ctlreply_feed(host_ctlreply *r, const char *bytes, size_t n, host_ctlreply_fn fn, void *ctx);
/* Classify one line (without its newline). */
host_ctlreply_kind host_ctlreply_classify(const char *line, size_t len);
const char *host_ctlreply_kind_name(host_ctlreply_kind k);

#endif
