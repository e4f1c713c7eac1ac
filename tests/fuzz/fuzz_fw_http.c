/* libFuzzer target: mepmod's HTTP request-head parser (firmware/host/host_httpreq.c).
 *
 * The first input byte sets a chunk size (1..256); the rest is the byte
 * stream of one connection, delivered in chunks of that size the way
 * host_http's connection code uses the parser: bytes accumulate in a
 * buffer of HOST_HTTPREQ_MAX_HEAD, every whole head is dropped after it is
 * answered (pipelining), a refusal ends the connection.
 * Invariants checked (abort = a finding):
 * - INCOMPLETE only while the buffer is below the head limit (a full buffer
 *   must get a verdict, or the connection would wait with nothing to read);
 * - DONE: 0 < head_len <= bytes given and <= HOST_HTTPREQ_MAX_HEAD; status 0
 *   or 405; status 0 -> the path starts with '/', has no '?' '#' or control
 *   bytes, fits; parsing exactly the head again gives the same verdict;
 * - REFUSE: status one of 400 414 431 505 with a reason.
 * Seeds: tests/fuzz/corpus/fw_http (real requests from browsers and curl,
 * pipelined and malformed ones). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host_httpreq.h"

static void check_done(const char *buf, size_t len, const host_httpreq *r)
{
    if (r->head_len == 0 || r->head_len > len || r->head_len > HOST_HTTPREQ_MAX_HEAD)
        abort();
    if (r->status != 0 && r->status != 405)
        abort();
    if (r->status == 0) {
        size_t pl = strnlen(r->path, sizeof r->path);
        if (pl == 0 || pl > HOST_HTTPREQ_MAX_LINE || r->path[0] != '/')
            abort();
        for (size_t i = 0; i < pl; i++)
            if (r->path[i] == '?' || r->path[i] == '#' || (unsigned char)r->path[i] < 0x20)
                abort();
    }
    host_httpreq again;
    if (host_httpreq_parse(buf, r->head_len, &again) != HOST_HTTPREQ_DONE || again.head_len != r->head_len ||
        again.status != r->status || again.close != r->close || again.head_only != r->head_only ||
        strcmp(again.path, r->path))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    const char *in = (const char *)data + 1;
    size_t left = size - 1;
    static char buf[HOST_HTTPREQ_MAX_HEAD];
    size_t have = 0;
    static host_httpreq r;
    while (left || have) {
        size_t room = sizeof buf - have;
        size_t take = left < chunk ? left : chunk;
        if (take > room)
            take = room;
        memcpy(buf + have, in, take);
        have += take;
        in += take;
        left -= take;
        host_httpreq_result res = host_httpreq_parse(buf, have, &r);
        if (res == HOST_HTTPREQ_INCOMPLETE) {
            if (have >= sizeof buf)
                abort();
            if (!left)
                break; /* the client stopped sending: the deadline's business */
            continue;
        }
        if (res == HOST_HTTPREQ_REFUSE) {
            if ((r.status != 400 && r.status != 414 && r.status != 431 && r.status != 505) || !r.why)
                abort();
            break;
        }
        if (res != HOST_HTTPREQ_DONE)
            abort();
        check_done(buf, have, &r);
        memmove(buf, buf + r.head_len, have - r.head_len);
        have -= r.head_len;
        if (r.close)
            break;
    }
    return 0;
}
