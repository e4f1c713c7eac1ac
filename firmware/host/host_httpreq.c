/* host_httpreq: one HTTP/1.x request head, parsed (see host_httpreq.h). */
#include "host_httpreq.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 5.6.2: the characters of a token (method, header name). */
static bool is_tchar(char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static host_httpreq_result refuse(host_httpreq *o, int status, const char *why)
{
    o->status = status;
    o->why = why;
    o->close = true;
    return HOST_HTTPREQ_REFUSE;
}

/* What the header lines said, gathered as they complete. */
typedef struct {
    bool body;          /* a request body was announced */
    bool bad_length;    /* Content-Length is not a number */
    bool conn_close, conn_keep;
} head_flags;

static bool name_is(const char *p, size_t n, const char *name)
{
    return strlen(name) == n && !strncasecmp(p, name, n);
}

/* Does the comma-separated list v[0..vl) hold token (case-insensitive)? */
static bool list_has(const char *v, size_t vl, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; i < vl;) {
        while (i < vl && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < vl && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && !strncasecmp(v + s, token, tl))
            return true;
    }
    return false;
}

/* One complete header line p[0..n) (no CRLF); false = malformed. */
static bool header_line(const char *p, size_t n, head_flags *f)
{
    size_t colon = 0;
    while (colon < n && is_tchar(p[colon]))
        colon++;
    if (colon == 0 || colon == n || p[colon] != ':')
        return false; /* empty name, whitespace before ':', or folding (RFC 9112 5.1/5.2) */
    const char *v = p + colon + 1;
    size_t vl = n - colon - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    for (size_t i = 0; i < vl; i++)
        if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7F)
            return false; /* RFC 9110 5.5: no control bytes in a field value */
    if (name_is(p, colon, "Content-Length")) {
        if (vl == 0)
            f->bad_length = true;
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                f->bad_length = true;
            else if (v[i] != '0')
                f->body = true;
        }
    } else if (name_is(p, colon, "Transfer-Encoding")) {
        f->body = true;
    } else if (name_is(p, colon, "Connection")) {
        f->conn_close |= list_has(v, vl, "close");
        f->conn_keep |= list_has(v, vl, "keep-alive");
    }
    return true;
}

static int line_fail(host_httpreq *o, const char *why, int status)
{
    o->why = why;
    return status;
}

/* The request line p[0..n): method SP target SP version. Fills out->head_only,
 * the path and the version; returns 0 or the error status (out->why set). */
static int request_line(const char *p, size_t n, host_httpreq *out, bool *http11)
{
    size_t m = 0;
    while (m < n && is_tchar(p[m]))
        m++;
    if (m == 0 || m >= n || p[m] != ' ')
        return line_fail(out, "malformed request line", 400);
    size_t t0 = m + 1, t1 = t0;
    while (t1 < n && p[t1] != ' ')
        t1++;
    if (t1 == t0 || t1 >= n)
        return line_fail(out, "malformed request line", 400);
    const char *ver = p + t1 + 1;
    size_t vl = n - t1 - 1;
    if (memchr(ver, ' ', vl))
        return line_fail(out, "malformed request line", 400);
    if (vl != 8 || strncmp(ver, "HTTP/", 5) || ver[5] < '0' || ver[5] > '9' || ver[6] != '.' ||
        ver[7] < '0' || ver[7] > '9')
        return line_fail(out, "malformed HTTP version", 400);
    if (ver[5] != '1' || (ver[7] != '0' && ver[7] != '1'))
        return line_fail(out, "unsupported HTTP version", 505);
    *http11 = ver[7] == '1';
    bool get = m == 3 && !memcmp(p, "GET", 3);
    out->head_only = m == 4 && !memcmp(p, "HEAD", 4);
    if (!get && !out->head_only)
        return line_fail(out, "only GET is supported", 405);
    if (p[t0] != '/')
        return line_fail(out, "request target must be a path", 400);
    for (size_t i = t0; i < t1; i++)
        if ((unsigned char)p[i] < 0x21 || p[i] == 0x7F)
            return line_fail(out, "control byte in request target", 400); /* RFC 3986: none allowed */
    size_t pl = 0;
    while (t0 + pl < t1 && p[t0 + pl] != '?' && p[t0 + pl] != '#')
        pl++;
    memcpy(out->path, p + t0, pl);
    out->path[pl] = '\0';
    return 0;
}

/* Where the line starting at `start` ends: the index of its CR, or len when
 * the CRLF is not all in yet. *bad names a byte that is never allowed. */
static size_t line_end(const char *buf, size_t len, size_t start, const char **bad)
{
    *bad = NULL;
    for (size_t i = start; i < len; i++) {
        if (buf[i] == '\0')
            *bad = "NUL byte in request";
        else if (buf[i] == '\n')
            *bad = "bare LF in request";
        if (*bad)
            return i;
        if (buf[i] == '\r') {
            if (i + 1 == len)
                return len;
            if (buf[i + 1] != '\n')
                *bad = "bare CR in request";
            return i;
        }
    }
    return len;
}

host_httpreq_result host_httpreq_parse(const char *buf, size_t len, host_httpreq *out)
{
    out->head_len = 0;
    out->status = 0;
    out->why = NULL;
    out->head_only = out->close = false;
    out->path[0] = '\0';
    size_t pos = 0;
    while (pos + 1 < len && buf[pos] == '\r' && buf[pos + 1] == '\n')
        pos += 2; /* RFC 9112 2.2: empty lines before a request line are ignored */
    head_flags f = {false, false, false, false};
    bool http11 = false, first = true;
    int line_status = 0;
    for (;;) {
        const char *bad;
        size_t end = line_end(buf, len, pos, &bad);
        if (bad)
            return refuse(out, 400, bad);
        size_t ll = end - pos;
        if (first && ll > HOST_HTTPREQ_MAX_LINE)
            return refuse(out, 414, "request line too long");
        if (!first && ll > HOST_HTTPREQ_MAX_FIELD)
            return refuse(out, 431, "header line too long");
        if (end == len) /* this line is not over yet */
            return len >= HOST_HTTPREQ_MAX_HEAD ? refuse(out, 431, "request header too large")
                                                : HOST_HTTPREQ_INCOMPLETE;
        if (end + 2 > HOST_HTTPREQ_MAX_HEAD)
            return refuse(out, 431, "request header too large");
        if (first) {
            line_status = request_line(buf + pos, ll, out, &http11);
            /* a bad line is refused at once; a 405 still needs the whole head */
            if (line_status && line_status != 405)
                return refuse(out, line_status, out->why);
            first = false;
        } else if (ll == 0) {
            pos = end + 2;
            break;
        } else if (!header_line(buf + pos, ll, &f)) {
            return refuse(out, 400, "malformed header line");
        }
        pos = end + 2;
    }
    out->head_len = pos;
    if (f.bad_length)
        return refuse(out, 400, "malformed Content-Length");
    if (f.body)
        return refuse(out, 400, "request bodies are not accepted");
    out->close = http11 ? f.conn_close : !f.conn_keep;
    out->status = line_status;
    if (line_status)
        out->path[0] = '\0';
    return HOST_HTTPREQ_DONE;
}
