/* webserver_parse.cpp: HTTP/1.x request parsing for the kit's WebServer: where a request ends
 * (Content-Length bodies only, as the board's server), the request line and headers, URL-encoded
 * arguments and multipart/form-data bodies. Pure functions over strings. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net_host.h"
#include "webserver_state.h"

namespace ahk_net {

static std::string lower(std::string s)
{
    for (char &c : s)
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
    return s;
}

static std::string trim(const std::string &s)
{
    size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t\r");
    return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

/* The value of header `name` in a raw head (first line skipped, first occurrence); false if absent. */
static bool raw_header(const std::string &head, const char *name, std::string *value)
{
    size_t pos = head.find('\n');
    size_t nl = strlen(name);
    while (pos != std::string::npos && pos + 1 < head.size()) {
        size_t start = pos + 1, end = head.find('\n', start);
        std::string line = head.substr(start, end == std::string::npos ? std::string::npos : end - start);
        size_t colon = line.find(':');
        if (colon == nl && strncasecmp(line.c_str(), name, nl) == 0) {
            *value = trim(line.substr(colon + 1));
            return true;
        }
        pos = end;
    }
    return false;
}

HeadState request_extent(const std::string &data, size_t *head_len, size_t *body_len, bool *expect_continue)
{
    size_t end = data.find("\r\n\r\n");
    size_t sep = 4;
    size_t lf = data.find("\n\n");
    if (lf != std::string::npos && (end == std::string::npos || lf < end)) {
        end = lf;
        sep = 2;
    }
    if (end == std::string::npos)
        return data.size() > AHK_HTTP_MAX_HEAD ? HeadState::TOO_LARGE : HeadState::INCOMPLETE;
    if (end + sep > AHK_HTTP_MAX_HEAD)
        return HeadState::TOO_LARGE;
    *head_len = end + sep;
    std::string head = data.substr(0, end + sep), v;
    if (raw_header(head, "Transfer-Encoding", &v) && strcasecmp(v.c_str(), "identity") != 0)
        return HeadState::BAD;   /* the board's server reads Content-Length bodies only */
    *body_len = 0;
    if (raw_header(head, "Content-Length", &v)) {
        char *e;
        unsigned long long n = strtoull(v.c_str(), &e, 10);
        if (v.empty() || *e)
            return HeadState::BAD;
        if (n > AHK_HTTP_MAX_BODY)
            return HeadState::TOO_LARGE;
        *body_len = (size_t)n;
    }
    *expect_continue = raw_header(head, "Expect", &v) && strcasecmp(v.c_str(), "100-continue") == 0;
    return data.size() >= *head_len + *body_len ? HeadState::COMPLETE : HeadState::INCOMPLETE;
}

static HTTPMethod method_of(const std::string &m)
{
    static const struct { const char *name; HTTPMethod m; } table[] = {
        {"GET", HTTP_GET},     {"HEAD", HTTP_HEAD},     {"POST", HTTP_POST},
        {"PUT", HTTP_PUT},     {"PATCH", HTTP_PATCH},   {"DELETE", HTTP_DELETE},
        {"OPTIONS", HTTP_OPTIONS},
    };
    for (const auto &row : table)
        if (m == row.name)
            return row.m;
    return HTTP_ANY;
}

bool parse_head(const std::string &head, Request *req)
{
    size_t eol = head.find('\n');
    std::string line = trim(head.substr(0, eol));
    size_t s1 = line.find(' '), s2 = line.rfind(' ');
    if (s1 == std::string::npos || s2 == s1)
        return false;
    req->method_name = line.substr(0, s1);
    req->method = method_of(req->method_name);
    std::string target = line.substr(s1 + 1, s2 - s1 - 1), version = line.substr(s2 + 1);
    if (req->method == HTTP_ANY || target.empty() || target[0] != '/' ||
        version.compare(0, 7, "HTTP/1.") != 0 || version.size() != 8)
        return false;
    req->minor = version[7] == '0' ? 0 : 1;
    size_t q = target.find('?');
    req->uri = target.substr(0, q);
    req->query = q == std::string::npos ? std::string() : target.substr(q + 1);

    size_t pos = eol;
    while (pos != std::string::npos && pos + 1 < head.size()) {
        size_t start = pos + 1, end = head.find('\n', start);
        std::string l = trim(head.substr(start, end == std::string::npos ? std::string::npos : end - start));
        pos = end;
        if (l.empty())
            break;
        size_t colon = l.find(':');
        if (colon == std::string::npos || colon == 0)
            return false;
        req->headers.push_back({l.substr(0, colon), trim(l.substr(colon + 1))});
    }
    return true;
}

const std::string *find_header(const Request &req, const char *name)
{
    for (const auto &h : req.headers)
        if (strcasecmp(h.key.c_str(), name) == 0)
            return &h.value;
    return nullptr;
}

void parse_args(const std::string &text, std::vector<KeyValue> *args)
{
    size_t pos = 0;
    while (pos < text.size()) {
        size_t amp = text.find('&', pos);
        std::string item = text.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
        size_t eq = item.find('=');
        if (eq != std::string::npos)
            args->push_back({url_decode(item.substr(0, eq), true), url_decode(item.substr(eq + 1), true)});
        if (amp == std::string::npos)
            break;
        pos = amp + 1;
    }
}

/* A parameter of a header value such as `form-data; name="x"; filename="y"` (quotes removed). */
static bool header_param(const std::string &value, const char *param, std::string *out)
{
    std::string lv = lower(value), key = std::string(param) + "=";
    size_t pos = 0;
    while ((pos = lv.find(key, pos)) != std::string::npos) {
        if (pos == 0 || lv[pos - 1] == ' ' || lv[pos - 1] == ';' || lv[pos - 1] == '\t') {
            size_t v = pos + key.size();
            if (v < value.size() && value[v] == '"') {
                size_t e = value.find('"', v + 1);
                if (e == std::string::npos)
                    return false;
                *out = value.substr(v + 1, e - v - 1);
            } else {
                size_t e = value.find(';', v);
                *out = trim(value.substr(v, e == std::string::npos ? std::string::npos : e - v));
            }
            return true;
        }
        pos += key.size();
    }
    return false;
}

bool parse_multipart(const std::string &body, const std::string &content_type, std::vector<FormPart> *parts)
{
    std::string boundary;
    if (!header_param(content_type, "boundary", &boundary) || boundary.empty())
        return false;
    const std::string delim = "--" + boundary;
    size_t pos = body.find(delim);
    if (pos == std::string::npos)
        return false;
    for (;;) {
        pos += delim.size();
        if (body.compare(pos, 2, "--") == 0)
            return true;                           /* closing delimiter */
        if (body.compare(pos, 2, "\r\n") != 0)
            return false;
        size_t hstart = pos + 2, hend = body.find("\r\n\r\n", hstart);
        if (hend == std::string::npos)
            return false;
        size_t dstart = hend + 4, dend = body.find("\r\n" + delim, dstart);
        if (dend == std::string::npos)
            return false;
        FormPart part;
        part.is_file = false;
        std::string head = "\n" + body.substr(hstart, hend - hstart) + "\n", disp, type;
        if (!raw_header(head, "Content-Disposition", &disp) || !header_param(disp, "name", &part.name))
            return false;
        part.is_file = header_param(disp, "filename", &part.filename);
        part.type = raw_header(head, "Content-Type", &type) ? type : std::string("text/plain");
        part.data = body.data() + dstart;
        part.len = dend - dstart;
        parts->push_back(part);
        pos = dend + 2;
    }
}

const char *mime_type(const std::string &path)
{
    static const struct { const char *ext, *type; } table[] = {
        {".html", "text/html"}, {".htm", "text/html"}, {".css", "text/css"},
        {".txt", "text/plain"}, {".js", "application/javascript"}, {".json", "application/json"},
        {".png", "image/png"}, {".gif", "image/gif"}, {".jpg", "image/jpeg"},
        {".ico", "image/x-icon"}, {".svg", "image/svg+xml"}, {".ttf", "application/x-font-ttf"},
        {".otf", "application/x-font-opentype"}, {".woff", "application/font-woff"},
        {".woff2", "application/font-woff2"}, {".eot", "application/vnd.ms-fontobject"},
        {".xml", "text/xml"}, {".pdf", "application/pdf"}, {".zip", "application/zip"},
        {".gz", "application/x-gzip"}, {".appcache", "text/cache-manifest"},
    };
    std::string lp = lower(path);
    for (const auto &row : table) {
        size_t n = strlen(row.ext);
        if (lp.size() >= n && lp.compare(lp.size() - n, n, row.ext) == 0)
            return row.type;
    }
    return "application/octet-stream";
}

} // namespace ahk_net
