/* libFuzzer target: mepmod's reader of mepsim's control-socket replies
 * (firmware/host/host_ctlreply.c, used by host_linectl).
 *
 * The first input byte sets a chunk size (1..256); the rest is what the
 * socket delivers. It is fed twice: in chunks of that size and in one
 * piece; both must give the same lines with the same verdicts (a reply
 * split across reads is the same reply). Each line handed out must be
 * NUL-terminated, free of newlines and shorter than HOST_CTLREPLY_MAX_LINE.
 * Seeds: tests/fuzz/corpus/fw_ctlreply (replies mepsim sends). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host_ctlreply.h"

typedef struct {
    uint32_t lines;
    uint64_t hash; /* FNV-1a over (kind, line) of every line, in order */
} seen;

static void on_line(void *ctx, host_ctlreply_kind kind, const char *line, size_t len)
{
    seen *s = ctx;
    if (len >= HOST_CTLREPLY_MAX_LINE || line[len] != '\0' || memchr(line, '\n', len))
        abort();
    if (kind == HOST_CTLREPLY_TOO_LONG && len != 0)
        abort();
    s->lines++;
    s->hash = (s->hash ^ (uint8_t)kind) * 0x100000001b3ull;
    for (size_t i = 0; i < len; i++)
        s->hash = (s->hash ^ (uint8_t)line[i]) * 0x100000001b3ull;
    s->hash = (s->hash ^ 0xFFu) * 0x100000001b3ull;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;

    static host_ctlreply r;
    seen a = {0, 0xcbf29ce484222325ull}, b = a;
    host_ctlreply_init(&r);
    for (size_t off = 0; off < n; off += chunk)
        host_ctlreply_feed(&r, in + off, n - off < chunk ? n - off : chunk, on_line, &a);
    host_ctlreply_init(&r);
    host_ctlreply_feed(&r, in, n, on_line, &b);
    if (a.lines != b.lines || a.hash != b.hash)
        abort();
    return 0;
}
