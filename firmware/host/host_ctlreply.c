/* host_ctlreply: mepsim control-socket reply lines (see host_ctlreply.h). */
#include "host_ctlreply.h"

#include <string.h>

#include <jansson.h>

void host_ctlreply_init(host_ctlreply *r)
{
    r->len = 0;
    r->skipping = false;
}

host_ctlreply_kind host_ctlreply_classify(const char *line, size_t len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    host_ctlreply_kind k = HOST_CTLREPLY_MALFORMED;
    json_t *ok = json_is_object(doc) ? json_object_get(doc, "ok") : NULL;
    if (json_is_boolean(ok))
        k = json_is_true(ok) ? HOST_CTLREPLY_OK : HOST_CTLREPLY_REFUSED;
    json_decref(doc);
    return k;
}

const char *host_ctlreply_kind_name(host_ctlreply_kind k)
{
    switch (k) {
    case HOST_CTLREPLY_OK: return "ok";
    case HOST_CTLREPLY_REFUSED: return "refused";
    case HOST_CTLREPLY_MALFORMED: return "malformed";
    case HOST_CTLREPLY_TOO_LONG: return "too long";
    }
    return "?";
}

void host_ctlreply_feed(host_ctlreply *r, const char *bytes, size_t n, host_ctlreply_fn fn, void *ctx)
{
    while (n) {
        const char *nl = memchr(bytes, '\n', n);
        size_t take = nl ? (size_t)(nl - bytes) : n;
        if (!r->skipping) {
            if (r->len + take < sizeof r->line) {
                memcpy(r->line + r->len, bytes, take);
                r->len += take;
            } else {
                r->skipping = true;
                r->len = 0;
            }
        }
        if (!nl)
            return;
        if (r->skipping) {
            fn(ctx, HOST_CTLREPLY_TOO_LONG, "", 0);
        } else {
            r->line[r->len] = '\0';
            fn(ctx, host_ctlreply_classify(r->line, r->len), r->line, r->len);
        }
        r->len = 0;
        r->skipping = false;
        bytes = nl + 1;
        n -= take + 1;
    }
}
