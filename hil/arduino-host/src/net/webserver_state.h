/* webserver_state.h: the state behind a WebServer (include/WebServer.h) and the request parser
 * shared by webserver.cpp (connections, dispatch, responses) and webserver_parse.cpp (request
 * line, headers, arguments, multipart bodies). Internal to src/net. */
#ifndef AHK_WEBSERVER_STATE_H
#define AHK_WEBSERVER_STATE_H

#include <stdint.h>
#include <string>
#include <vector>

#include "WebServer.h"

namespace ahk_net {

#define AHK_HTTP_MAX_HEAD (8u * 1024u)          /* request line + headers */
#define AHK_HTTP_MAX_BODY (8u * 1024u * 1024u)  /* a firmware image fits */
#define AHK_HTTP_MAX_CONNS 8

struct KeyValue {
    std::string key, value;
};

struct Route {
    std::string uri;
    HTTPMethod method;
    WebServer::THandlerFunction fn, ufn;
    /* serveStatic: answered from a file system instead of fn */
    fs::FS *fs = nullptr;
    std::string fs_path, cache_header;
    bool fs_is_file = false;
};

/* The MIME type the board's server gives a file name's extension. */
const char *mime_type(const std::string &path);

/* A connection whose request is still arriving. */
struct PendingConn {
    int fd;
    std::string data;
    uint64_t last_ms;
    bool continue_sent;
};

/* One parsed request. */
struct Request {
    HTTPMethod method = HTTP_GET;
    std::string method_name, uri, query;
    int minor = 1;                     /* HTTP/1.minor */
    std::vector<KeyValue> headers;     /* all of them, in order */
    std::string body;
};

enum class HeadState { INCOMPLETE, COMPLETE, TOO_LARGE, BAD };

/* Where the request in `data` stands: head length (through the blank line) and body length. */
HeadState request_extent(const std::string &data, size_t *head_len, size_t *body_len, bool *expect_continue);

/* Parses the head of a complete request; false if malformed. */
bool parse_head(const std::string &head, Request *req);

const std::string *find_header(const Request &req, const char *name);

/* ESP32 argument rules: "k=v" pairs split on '&', both URL-decoded, pairs without '=' skipped. */
void parse_args(const std::string &text, std::vector<KeyValue> *args);

/* One part of a multipart/form-data body (data points into the body). */
struct FormPart {
    std::string name, filename, type;
    const char *data;
    size_t len;
    bool is_file;
};
/* Splits a multipart/form-data body by the boundary of content_type; false if malformed. */
bool parse_multipart(const std::string &body, const std::string &content_type, std::vector<FormPart> *parts);

struct WebServerState {
    WiFiServer server;
    std::vector<Route> routes;
    WebServer::THandlerFunction not_found, file_upload;
    std::vector<PendingConn> pending;
    std::vector<std::string> collect;   /* header names the sketch asked for (lower case) */
    bool cors = false;
    bool collect_all = false;

    /* the request being handled */
    bool active = false;
    Request req;
    std::vector<KeyValue> args;
    WiFiClient client;
    HTTPUpload upload;

    /* its response */
    std::vector<KeyValue> out_headers;
    size_t content_length = CONTENT_LENGTH_NOT_SET;
    bool head_sent = false, chunked = false, wrote = false, failed = false, warned_twice = false;
    /* virtual time: the response goes to the co-simulation (ahk_vt.h http_append), not a socket */
    bool vt_capture = false;
    bool begun_vt = false;     /* begin() was called: requests are served */

    explicit WebServerState(uint16_t port) : server(port) {}
};

} // namespace ahk_net

#endif
