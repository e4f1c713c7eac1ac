/* webserver.cpp: the kit's WebServer (include/WebServer.h): connections gathered without blocking
 * in handleClient(), one complete request dispatched per call to the sketch's handlers, and the
 * response calls (send, sendHeader, setContentLength, sendContent incl. chunked) written to the
 * socket; every connection is closed after its response, as the board's server does. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ahk_runtime.h"
#include "ahk_vt.h"
#include "net_host.h"
#include "webserver_state.h"

using ahk_net::KeyValue;
using ahk_net::PendingConn;
using ahk_net::WebServerState;

static const char *status_text(int code)
{
    static const struct { int code; const char *text; } table[] = {
        {100, "Continue"}, {101, "Switching Protocols"}, {200, "OK"}, {201, "Created"},
        {202, "Accepted"}, {204, "No Content"}, {206, "Partial Content"},
        {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"}, {304, "Not Modified"},
        {307, "Temporary Redirect"}, {308, "Permanent Redirect"}, {400, "Bad Request"},
        {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
        {405, "Method Not Allowed"}, {408, "Request Time-out"}, {409, "Conflict"},
        {411, "Length Required"}, {413, "Request Entity Too Large"}, {414, "Request-URI Too Large"},
        {415, "Unsupported Media Type"}, {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"}, {501, "Not Implemented"}, {503, "Service Unavailable"},
    };
    for (const auto &row : table)
        if (row.code == code)
            return row.text;
    return "";
}

WebServer::WebServer(int port) : st_(new WebServerState((uint16_t)port)) {}

WebServer::WebServer(IPAddress, int port) : st_(new WebServerState((uint16_t)port)) {}

WebServer::~WebServer() { close(); }

void WebServer::begin()
{
    st_->begun_vt = true;
    st_->server.begin();
}

void WebServer::begin(uint16_t port)
{
    st_->begun_vt = true;
    st_->server.begin(port);
}

void WebServer::close()
{
    for (auto &c : st_->pending)
        ::close(c.fd);
    st_->pending.clear();
    st_->server.end();
}

void WebServer::stop() { close(); }

void WebServer::on(const String &uri, THandlerFunction fn) { on(uri, HTTP_ANY, fn); }

void WebServer::on(const String &uri, HTTPMethod method, THandlerFunction fn) { on(uri, method, fn, nullptr); }

void WebServer::on(const String &uri, HTTPMethod method, THandlerFunction fn, THandlerFunction ufn)
{
    ahk_net::Route r;
    r.uri = uri.c_str();
    r.method = method;
    r.fn = fn;
    r.ufn = ufn;
    st_->routes.push_back(r);
}

void WebServer::onNotFound(THandlerFunction fn) { st_->not_found = fn; }

void WebServer::serveStatic(const char *uri, fs::FS &fs, const char *path, const char *cache_header)
{
    ahk_net::Route r;
    r.uri = uri ? uri : "/";
    r.method = HTTP_GET;
    r.fs = &fs;
    r.fs_path = path ? path : "/";
    r.cache_header = cache_header ? cache_header : "";
    fs::File f = fs.open(r.fs_path.c_str(), FILE_READ);
    r.fs_is_file = f && !f.isDirectory();
    st_->routes.push_back(r);
}

void WebServer::onFileUpload(THandlerFunction fn) { st_->file_upload = fn; }

/* ---- connections ---- */

/* A canned response to a request the server refuses before any handler sees it. */
static void refuse(int fd, int code)
{
    char r[160];
    int n = snprintf(r, sizeof r, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n", code, status_text(code));
    ahk_net::write_all(fd, r, (size_t)n, 1000);
}

static void close_conn(int fd)
{
    shutdown(fd, SHUT_WR);
    ::close(fd);
}

static void accept_pending(WebServerState &s)
{
    while (s.pending.size() < AHK_HTTP_MAX_CONNS) {
        int fd = accept4(s.server.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        s.pending.push_back({fd, std::string(), ahk_net::mono_ms(), false});
    }
}

/* Reads what arrived; returns 1 when the request is complete, 0 to wait, -1 when dropped. */
static int gather(PendingConn &c)
{
    char buf[16384];
    bool ended = false;   /* the client closed its side (it may still wait for the reply) */
    for (;;) {
        ssize_t n = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            c.data.append(buf, (size_t)n);
            c.last_ms = ahk_net::mono_ms();
            if (c.data.size() > AHK_HTTP_MAX_HEAD + AHK_HTTP_MAX_BODY)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        ended = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        break;
    }
    size_t head = 0, body = 0;
    bool expect = false;
    switch (ahk_net::request_extent(c.data, &head, &body, &expect)) {
    case ahk_net::HeadState::COMPLETE:
        return 1;
    case ahk_net::HeadState::TOO_LARGE:
        ahk::log("HTTP", "request too large: refused");
        refuse(c.fd, head ? 413 : 431);
        return -1;
    case ahk_net::HeadState::BAD:
        ahk::log("HTTP", "malformed request head or chunked request body: refused");
        refuse(c.fd, 400);
        return -1;
    case ahk_net::HeadState::INCOMPLETE:
        if (ended)
            return -1;   /* closed before the request was complete */
        if (head && expect && !c.continue_sent) {
            ahk_net::write_all(c.fd, "HTTP/1.1 100 Continue\r\n\r\n", 25, 1000);
            c.continue_sent = true;
        }
        break;
    }
    if (ahk_net::mono_ms() - c.last_ms > HTTP_MAX_DATA_WAIT)
        return -1;       /* a silent client is dropped, as the board does */
    return 0;
}

void WebServer::handleClient()
{
    WebServerState &s = *st_;
    if (ahk::vt::enabled) { /* a virtual request from the co-simulation, answered in full */
        uint32_t id;
        std::string req;
        if (s.active || !s.begun_vt || !ahk::vt::http_take(&id, &req))
            return;
        s.vt_capture = true;
        ahk::vt::http_begin(id);
        serve(-1, req);
        s.vt_capture = false;
        ahk::vt::http_end();
        return;
    }
    if (s.server.fd() < 0 || s.active)
        return;
    accept_pending(s);
    for (size_t i = 0; i < s.pending.size();) {
        int r = gather(s.pending[i]);
        if (r < 0) {
            close_conn(s.pending[i].fd);
            s.pending.erase(s.pending.begin() + (long)i);
            continue;
        }
        if (r > 0) {
            PendingConn c = std::move(s.pending[i]);
            s.pending.erase(s.pending.begin() + (long)i);
            serve(c.fd, c.data);
            return;     /* one request per call, as on the board */
        }
        i++;
    }
}

/* ---- one request ---- */

static bool route_matches(const ahk_net::Route &r, const ahk_net::Request &q)
{
    if (r.method != HTTP_ANY && r.method != q.method)
        return false;
    if (r.fs && !r.fs_is_file)
        return q.uri.compare(0, r.uri.size(), r.uri) == 0;   /* a directory serves below its URI */
    return r.uri == q.uri;
}

/* serveStatic's answer; false (not handled) if no such file. */
bool WebServer::serve_static(const ahk_net::Route &r)
{
    const std::string &uri = st_->req.uri;
    std::string path = r.fs_path;
    if (!r.fs_is_file) {
        if (uri.find("..") != std::string::npos)
            return false;
        path += uri.substr(r.uri.size());
        if (path.empty() || path.back() == '/')
            path += "index.htm";
    }
    const char *type = ahk_net::mime_type(path);
    if (path.size() < 3 || path.compare(path.size() - 3, 3, ".gz") != 0) {
        if (!r.fs->exists(path.c_str()) && r.fs->exists((path + ".gz").c_str()))
            path += ".gz";
    }
    fs::File f = r.fs->open(path.c_str(), FILE_READ);
    if (!f || f.isDirectory())
        return false;
    if (!r.cache_header.empty())
        sendHeader("Cache-Control", r.cache_header.c_str());
    streamFile(f, type);
    return true;
}

void WebServer::serve(int fd, const std::string &data)
{
    WebServerState &s = *st_;
    size_t head_len = 0, body_len = 0;
    bool expect;
    ahk_net::request_extent(data, &head_len, &body_len, &expect);

    s.req = ahk_net::Request();
    s.args.clear();
    s.out_headers.clear();
    s.content_length = CONTENT_LENGTH_NOT_SET;
    s.head_sent = s.chunked = s.wrote = s.failed = s.warned_twice = false;
    s.client = WiFiClient(fd);

    if (!ahk_net::parse_head(data.substr(0, head_len), &s.req)) {
        ahk::log("HTTP", "malformed request line: refused");
        refuse(fd, 400);
        s.client.stop();
        return;
    }
    s.req.body = data.substr(head_len, body_len);
    ahk_net::parse_args(s.req.query, &s.args);

    const ahk_net::Route *handler = nullptr;
    for (const auto &r : s.routes)
        if (route_matches(r, s.req)) {
            handler = &r;
            break;
        }

    s.active = true;
    bool ok = take_body(handler);
    if (ok) {
        bool handled = false;
        if (handler && handler->fs) {
            handled = serve_static(*handler);
        } else if (handler && handler->fn) {
            handler->fn();
            handled = true;
        }
        if (!handled && s.not_found)
            s.not_found();
        else if (!handled)
            send(404, "text/html", String(("Not found: " + s.req.uri).c_str()));
    }
    finish_response();
    s.active = false;
    s.client.stop();
}

/* Turns the body into arguments or uploads, by content type (the board's rules). */
bool WebServer::take_body(const ahk_net::Route *handler)
{
    WebServerState &s = *st_;
    const std::string *ct = ahk_net::find_header(s.req, "Content-Type");
    std::string type = ct ? *ct : std::string();

    if (strncasecmp(type.c_str(), "multipart/form-data", 19) == 0) {
        std::vector<ahk_net::FormPart> parts;
        if (!ahk_net::parse_multipart(s.req.body, type, &parts)) {
            ahk::log("HTTP", "malformed multipart body to %s: refused", s.req.uri.c_str());
            send(400, "text/plain", "Bad multipart body");
            return false;
        }
        for (const auto &p : parts) {
            if (!p.is_file)
                s.args.push_back({p.name, std::string(p.data, p.len)});
            else
                run_upload(handler, p);
        }
        return true;
    }
    if (s.req.body.empty())
        return true;
    if (strncasecmp(type.c_str(), "application/x-www-form-urlencoded", 33) == 0)
        ahk_net::parse_args(s.req.body, &s.args);
    else
        s.args.push_back({"plain", s.req.body});
    return true;
}

/* Feeds one file part to the route's upload handler: START, WRITE per HTTP_UPLOAD_BUFLEN, END. */
void WebServer::run_upload(const ahk_net::Route *handler, const ahk_net::FormPart &p)
{
    WebServerState &s = *st_;
    THandlerFunction ufn = handler && handler->ufn && s.req.method == HTTP_POST ? handler->ufn
                                                                                : s.file_upload;
    if (!ufn)
        return;
    HTTPUpload &u = s.upload;
    u.status = UPLOAD_FILE_START;
    u.name = p.name.c_str();
    u.filename = p.filename.c_str();
    u.type = p.type.c_str();
    u.totalSize = 0;
    u.currentSize = 0;
    ufn();
    for (size_t off = 0; off < p.len;) {
        size_t n = p.len - off < HTTP_UPLOAD_BUFLEN ? p.len - off : HTTP_UPLOAD_BUFLEN;
        memcpy(u.buf, p.data + off, n);
        u.status = UPLOAD_FILE_WRITE;
        u.currentSize = n;
        ufn();
        u.totalSize += n;
        off += n;
    }
    u.status = UPLOAD_FILE_END;
    u.currentSize = 0;
    ufn();
}

void WebServer::finish_response()
{
    WebServerState &s = *st_;
    if (s.chunked)
        sendContent("", 0);   /* the closing chunk */
    if (!s.wrote)
        ahk::log("HTTP", "%s %s: the handler sent no response", s.req.method_name.c_str(), s.req.uri.c_str());
}

/* ---- request accessors ---- */

String WebServer::uri() { return String(st_->req.uri.c_str()); }

HTTPMethod WebServer::method() { return st_->req.method; }

WiFiClient &WebServer::client() { return st_->client; }

HTTPUpload &WebServer::upload() { return st_->upload; }

String WebServer::arg(const String &name)
{
    for (const auto &a : st_->args)
        if (a.key == name.c_str())
            return String(a.value.c_str());
    return String("");
}

String WebServer::arg(int i)
{
    return i >= 0 && (size_t)i < st_->args.size() ? String(st_->args[(size_t)i].value.c_str()) : String("");
}

String WebServer::argName(int i)
{
    return i >= 0 && (size_t)i < st_->args.size() ? String(st_->args[(size_t)i].key.c_str()) : String("");
}

int WebServer::args() { return (int)st_->args.size(); }

bool WebServer::hasArg(const String &name)
{
    for (const auto &a : st_->args)
        if (a.key == name.c_str())
            return true;
    return false;
}

void WebServer::collectAllHeaders() { st_->collect_all = true; }

void WebServer::collectHeaders(const char *headerKeys[], const size_t headerKeysCount)
{
    st_->collect_all = false;
    st_->collect.clear();
    for (size_t i = 0; i < headerKeysCount; i++)
        if (headerKeys[i])
            st_->collect.push_back(headerKeys[i]);
}

/* The headers a sketch can see: those it collected, plus Authorization (as on the board). */
static std::vector<const KeyValue *> visible_headers(const WebServerState &s)
{
    std::vector<const KeyValue *> out;
    for (const auto &h : s.req.headers) {
        bool seen = s.collect_all || strcasecmp(h.key.c_str(), "Authorization") == 0;
        for (const auto &c : s.collect)
            seen = seen || strcasecmp(c.c_str(), h.key.c_str()) == 0;
        if (seen)
            out.push_back(&h);
    }
    return out;
}

String WebServer::header(const String &name)
{
    for (const KeyValue *h : visible_headers(*st_))
        if (strcasecmp(h->key.c_str(), name.c_str()) == 0)
            return String(h->value.c_str());
    return String("");
}

String WebServer::header(int i)
{
    auto v = visible_headers(*st_);
    return i >= 0 && (size_t)i < v.size() ? String(v[(size_t)i]->value.c_str()) : String("");
}

String WebServer::headerName(int i)
{
    auto v = visible_headers(*st_);
    return i >= 0 && (size_t)i < v.size() ? String(v[(size_t)i]->key.c_str()) : String("");
}

int WebServer::headers() { return (int)visible_headers(*st_).size(); }

bool WebServer::hasHeader(const String &name)
{
    for (const KeyValue *h : visible_headers(*st_))
        if (strcasecmp(h->key.c_str(), name.c_str()) == 0)
            return true;
    return false;
}

String WebServer::hostHeader()
{
    const std::string *h = ahk_net::find_header(st_->req, "Host");
    return String(h ? h->c_str() : "");
}

String WebServer::urlDecode(const String &text) { return String(ahk_net::url_decode(text.c_str(), true).c_str()); }

/* ---- authentication (Basic) ---- */

static std::string base64_decode(const std::string &in)
{
    std::string out;
    unsigned acc = 0;
    int bits = 0;
    for (char c : in) {
        int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
              : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
        if (v < 0)
            break;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += (char)((acc >> bits) & 0xff);
        }
    }
    return out;
}

bool WebServer::authenticate(const char *username, const char *password)
{
    const std::string *h = ahk_net::find_header(st_->req, "Authorization");
    if (!h || !username || !password || strncasecmp(h->c_str(), "Basic ", 6) != 0)
        return false;
    return base64_decode(h->substr(6)) == std::string(username) + ":" + password;
}

void WebServer::requestAuthentication(HTTPAuthMethod, const char *realm, const String &authFailMsg)
{
    std::string v = std::string("Basic realm=\"") + (realm ? realm : "Login Required") + "\"";
    sendHeader("WWW-Authenticate", v.c_str());
    send(401, "text/html", authFailMsg);
}

/* ---- responses ---- */

void WebServer::enableCORS(bool enable) { st_->cors = enable; }

void WebServer::setContentLength(const size_t contentLength) { st_->content_length = contentLength; }

void WebServer::sendHeader(const String &name, const String &value, bool first)
{
    KeyValue h{name.c_str(), value.c_str()};
    if (first)
        st_->out_headers.insert(st_->out_headers.begin(), h);
    else
        st_->out_headers.push_back(h);
}

bool WebServer::rawWrite(const uint8_t *data, size_t len)
{
    WebServerState &s = *st_;
    if (!s.active || s.failed)
        return false;
    s.wrote = true;
    if (s.req.method == HTTP_HEAD && s.head_sent)
        return true;    /* no body in a reply to HEAD */
    if (s.vt_capture) {
        ahk::vt::http_append(data, len);
        return true;
    }
    if (len && !ahk_net::write_all(s.client.fd(), data, len, HTTP_MAX_SEND_WAIT)) {
        s.failed = true;
        ahk::log("HTTP", "%s: the client went away during the response", s.req.uri.c_str());
        return false;
    }
    return true;
}

void WebServer::send(int code, const char *content_type, const uint8_t *content, size_t contentLength)
{
    WebServerState &s = *st_;
    if (!s.active)
        return;
    if (s.head_sent) {
        if (!s.warned_twice)
            ahk::log("HTTP", "%s: a second response (%d) in one request ignored", s.req.uri.c_str(), code);
        s.warned_twice = true;
        return;
    }
    std::string h = "HTTP/1." + std::to_string(s.req.minor) + " " + std::to_string(code) + " " +
                    status_text(code) + "\r\n";
    h += std::string("Content-Type: ") + (content_type && *content_type ? content_type : "text/html") + "\r\n";
    if (s.content_length == CONTENT_LENGTH_UNKNOWN) {
        if (s.req.minor >= 1) {
            h += "Transfer-Encoding: chunked\r\n";
            s.chunked = true;
        }
    } else {
        size_t n = s.content_length == CONTENT_LENGTH_NOT_SET ? contentLength : s.content_length;
        h += "Content-Length: " + std::to_string(n) + "\r\n";
    }
    if (s.cors)
        h += "Access-Control-Allow-Origin: *\r\n";
    bool connection = false;
    for (const auto &kv : s.out_headers) {
        h += kv.key + ": " + kv.value + "\r\n";
        connection = connection || strcasecmp(kv.key.c_str(), "Connection") == 0;
    }
    if (!connection)
        h += "Connection: close\r\n";
    h += "\r\n";
    s.out_headers.clear();
    s.content_length = CONTENT_LENGTH_NOT_SET;
    rawWrite((const uint8_t *)h.data(), h.size());
    s.head_sent = true;
    if (contentLength)
        sendContent((const char *)content, contentLength);
}

void WebServer::send(int code, const char *content_type, const String &content)
{
    send(code, content_type, (const uint8_t *)content.c_str(), content.length());
}

void WebServer::send(int code, char *content_type, const String &content)
{
    send(code, (const char *)content_type, content);
}

void WebServer::send(int code, const String &content_type, const String &content)
{
    send(code, content_type.c_str(), content);
}

void WebServer::send(int code, const char *content_type, const char *content)
{
    send(code, content_type, (const uint8_t *)content, content ? strlen(content) : 0);
}

void WebServer::send(int code, const char *content_type, const char *content, size_t contentLength)
{
    send(code, content_type, (const uint8_t *)content, contentLength);
}

void WebServer::send_P(int code, const char *content_type, const char *content)
{
    send(code, content_type, content);
}

void WebServer::send_P(int code, const char *content_type, const char *content, size_t contentLength)
{
    send(code, content_type, (const uint8_t *)content, contentLength);
}

void WebServer::sendContent(const String &content) { sendContent(content.c_str(), content.length()); }

void WebServer::sendContent(const char *content, size_t contentLength)
{
    WebServerState &s = *st_;
    if (!s.chunked) {
        rawWrite((const uint8_t *)content, contentLength);
        return;
    }
    char size_line[16];
    int n = snprintf(size_line, sizeof size_line, "%zx\r\n", contentLength);
    rawWrite((const uint8_t *)size_line, (size_t)n);
    rawWrite((const uint8_t *)content, contentLength);
    rawWrite((const uint8_t *)"\r\n", 2);
    if (contentLength == 0)
        s.chunked = false;   /* that was the last chunk */
}

void WebServer::sendContent_P(const char *content) { sendContent(content, content ? strlen(content) : 0); }

void WebServer::sendContent_P(const char *content, size_t size) { sendContent(content, size); }
