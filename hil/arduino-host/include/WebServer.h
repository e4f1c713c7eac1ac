/* WebServer.h: the ESP32 synchronous HTTP server (Arduino-ESP32 API: WebServer), served for real
 * on 127.0.0.1 (port 80 on the rig's --http-port, see WiFiServer.h).
 *
 * As on the board: handlers run only inside handleClient(), which the sketch's loop() calls;
 * each call serves at most one complete request; every response closes its connection
 * ("Connection: close"); query and application/x-www-form-urlencoded arguments are decoded;
 * another POST/PUT/PATCH/DELETE body is the argument "plain"; multipart/form-data file parts go
 * to the upload handler (HTTPUpload, in HTTP_UPLOAD_BUFLEN pieces) and other parts become
 * arguments; header() only returns headers named in collectHeaders() (and Authorization), or
 * all of them after collectAllHeaders().
 * Unlike the board, handleClient() never waits for a slow client: partial requests are kept
 * between calls (up to 8 connections) and dropped after HTTP_MAX_DATA_WAIT ms of silence.
 * Limits: request line + headers 8 KiB (431), body 8 MiB (413). Handlers are tried in the
 * order they were registered (on, serveStatic), then onNotFound, then a 404 "Not found: URI". */
#ifndef AHK_WEBSERVER_H
#define AHK_WEBSERVER_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <functional>
#include <memory>
#include <string>
#include "Arduino.h"
#include "FS.h"
#include "WiFi.h"

enum HTTPMethod { HTTP_ANY, HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE, HTTP_OPTIONS };
enum HTTPUploadStatus { UPLOAD_FILE_START, UPLOAD_FILE_WRITE, UPLOAD_FILE_END, UPLOAD_FILE_ABORTED };
enum HTTPClientStatus { HC_NONE, HC_WAIT_READ, HC_WAIT_CLOSE };
enum HTTPAuthMethod { BASIC_AUTH };   /* digest authentication is not provided by the host kit */

#define HTTP_DOWNLOAD_UNIT_SIZE 1436
#define HTTP_UPLOAD_BUFLEN 1436
#define HTTP_MAX_DATA_WAIT 5000
#define HTTP_MAX_POST_WAIT 5000
#define HTTP_MAX_SEND_WAIT 5000
#define HTTP_MAX_CLOSE_WAIT 2000
#define CONTENT_LENGTH_UNKNOWN ((size_t) -1)
#define CONTENT_LENGTH_NOT_SET ((size_t) -2)

typedef struct {
    HTTPUploadStatus status;
    String filename;
    String name;
    String type;
    size_t totalSize;
    size_t currentSize;
    uint8_t buf[HTTP_UPLOAD_BUFLEN];
} HTTPUpload;

namespace ahk_net { struct WebServerState; struct Route; struct FormPart; }

class WebServer {
public:
    typedef std::function<void(void)> THandlerFunction;

    WebServer(int port = 80);
    WebServer(IPAddress addr, int port = 80);
    ~WebServer();
    WebServer(const WebServer &) = delete;
    WebServer &operator=(const WebServer &) = delete;

    void begin();
    void begin(uint16_t port);
    void handleClient();
    void close();
    void stop();

    void on(const String &uri, THandlerFunction fn);
    void on(const String &uri, HTTPMethod method, THandlerFunction fn);
    void on(const String &uri, HTTPMethod method, THandlerFunction fn, THandlerFunction ufn);
    void onNotFound(THandlerFunction fn);
    /* GET requests for uri (a file) or below it (a directory; "/" -> "index.htm") are answered
     * from fs at path, with a type from the extension and a "<file>.gz" taken when the file
     * itself is missing; cache_header, if given, becomes Cache-Control. */
    void serveStatic(const char *uri, fs::FS &fs, const char *path, const char *cache_header = nullptr);
    void onFileUpload(THandlerFunction fn);

    String uri();
    HTTPMethod method();
    WiFiClient &client();
    HTTPUpload &upload();

    String arg(const String &name);
    String arg(int i);
    String argName(int i);
    int args();
    bool hasArg(const String &name);

    void collectHeaders(const char *headerKeys[], const size_t headerKeysCount);
    void collectAllHeaders();
    String header(const String &name);
    String header(int i);
    String headerName(int i);
    int headers();
    bool hasHeader(const String &name);
    String hostHeader();

    bool authenticate(const char *username, const char *password);
    void requestAuthentication(HTTPAuthMethod mode = BASIC_AUTH, const char *realm = nullptr,
                               const String &authFailMsg = String(""));

    void send(int code, const char *content_type = nullptr, const String &content = String(""));
    void send(int code, char *content_type, const String &content);
    void send(int code, const String &content_type, const String &content);
    void send(int code, const char *content_type, const char *content);
    void send(int code, const char *content_type, const char *content, size_t contentLength);
    void send(int code, const char *content_type, const uint8_t *content, size_t contentLength);
    void send_P(int code, const char *content_type, const char *content);
    void send_P(int code, const char *content_type, const char *content, size_t contentLength);

    void enableCORS(bool enable = true);
    void enableCrossOrigin(bool enable = true) { enableCORS(enable); }
    void setContentLength(const size_t contentLength);
    void sendHeader(const String &name, const String &value, bool first = false);
    void sendContent(const String &content);
    void sendContent(const char *content, size_t contentLength);
    void sendContent_P(const char *content);
    void sendContent_P(const char *content, size_t size);

    static String urlDecode(const String &text);

    /* Sends the file with `code` (Content-Encoding: gzip for a *.gz file served as another
     * type, as on the board). T is the kit's File (FS.h): name(), size(), read(buf, n). */
    template <typename T>
    size_t streamFile(T &file, const String &contentType, const int code = 200)
    {
        const char *n = file.name();
        size_t nl = n ? strlen(n) : 0;
        if (nl >= 3 && strcmp(n + nl - 3, ".gz") == 0 &&
            strcmp(contentType.c_str(), "application/x-gzip") != 0 &&
            strcmp(contentType.c_str(), "application/octet-stream") != 0)
            sendHeader("Content-Encoding", "gzip");
        setContentLength((size_t)file.size());
        send(code, contentType.c_str(), "");
        uint8_t buf[HTTP_DOWNLOAD_UNIT_SIZE];
        size_t total = 0;
        for (;;) {
            long got = (long)file.read(buf, sizeof buf);
            if (got <= 0 || !rawWrite(buf, (size_t)got))
                break;
            total += (size_t)got;
        }
        return total;
    }

private:
    bool rawWrite(const uint8_t *data, size_t len);
    void serve(int fd, const std::string &data);
    bool take_body(const ahk_net::Route *handler);
    void run_upload(const ahk_net::Route *handler, const ahk_net::FormPart &part);
    void finish_response();
    bool serve_static(const ahk_net::Route &route);
    std::unique_ptr<ahk_net::WebServerState> st_;
};

#endif
