/* test_net_webserver.cpp: the kit's WebServer served for real on 127.0.0.1: routing by URI and
 * method, query / form / "plain" arguments, 404 through onNotFound and the default one, chunked
 * sendContent, streamFile, headers and Basic authentication, multipart uploads, the request
 * limits, one request per handleClient() call, and interoperation with curl and Python. */
#include <stdlib.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "ahk_runtime.h"
#include "SPIFFS.h"
#include "WebServer.h"
#include "WiFi.h"
#include "test_net_util.h"

static WebServer *g_srv;
static int g_port;

static void pump() { g_srv->handleClient(); }

static std::string get(const std::string &target, const std::string &extra = "", const char *version = "1.1")
{
    return http_exchange(g_port, "GET " + target + " HTTP/" + version + "\r\nHost: x\r\n" + extra + "\r\n", pump);
}

static std::string post(const std::string &target, const std::string &type, const std::string &body)
{
    return http_exchange(g_port, "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Type: " + type +
                                     "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
                         pump);
}

/* A File-like object for streamFile (the template needs name(), size(), read(buf, n)). */
struct MemFile {
    const char *fname;
    std::string data;
    size_t pos = 0;
    const char *name() const { return fname; }
    size_t size() const { return data.size(); }
    size_t read(uint8_t *buf, size_t n)
    {
        size_t k = data.size() - pos < n ? data.size() - pos : n;
        memcpy(buf, data.data() + pos, k);
        pos += k;
        return k;
    }
};

static std::string big_text(size_t n)
{
    std::string s;
    for (size_t i = 0; i < n; i++)
        s += (char)('a' + (i * 7) % 26);
    return s;
}

struct UploadLog {
    std::vector<int> statuses;
    std::string data, filename, name;
    size_t total_at_end = 0;
};

static void setup_routes(WebServer &s, UploadLog &up)
{
    s.on("/hello", HTTP_GET, [&s]() { s.send(200, "text/plain", "hello"); });
    s.on("/m", HTTP_GET, [&s]() { s.send(200, "text/plain", "get"); });
    s.on("/m", HTTP_POST, [&s]() { s.send(200, "text/plain", "post"); });
    s.on("/any", [&s]() { s.send(200, "text/plain", String(s.method() == HTTP_PUT ? "put" : "other")); });
    s.on("/args", [&s]() {
        std::string out = std::to_string(s.args());
        for (int i = 0; i < s.args(); i++)
            out += std::string("|") + s.argName(i).c_str() + "=" + s.arg(i).c_str();
        s.send(200, "text/plain", out.c_str());
    });
    s.on("/chunked", [&s]() {
        s.setContentLength(CONTENT_LENGTH_UNKNOWN);
        s.send(200, "text/plain", "");
        s.sendContent("abc");
        s.sendContent(String("defg"));
    });
    s.on("/file", [&s]() {
        MemFile f{"page.html", big_text(20000)};
        s.streamFile(f, "text/html");
    });
    s.on("/gz", [&s]() {
        MemFile f{"page.html.gz", "\x1f\x8bxyz"};
        s.streamFile(f, "text/html");
    });
    s.on("/redirect", [&s]() {
        s.sendHeader("Location", "/recovery");
        s.send(303);
    });
    s.on("/headers", [&s]() {
        s.sendHeader("X-Second", "2");
        s.sendHeader("X-First", "1", true);
        std::string out = std::string(s.header("X-Test").c_str()) + "|" + (s.hasHeader("X-Hidden") ? "seen" : "hidden") +
                          "|" + s.hostHeader().c_str() + "|" + s.uri().c_str();
        s.send(200, "text/plain", out.c_str());
    });
    s.on("/auth", [&s]() {
        if (!s.authenticate("admin", "secret"))
            return s.requestAuthentication();
        s.send(200, "text/plain", "in");
    });
    s.on("/silent", []() {});
    s.on("/upload", HTTP_POST, [&s]() { s.send(200, "text/plain", (std::string("done ") + s.arg("note").c_str()).c_str()); },
         [&s, &up]() {
             HTTPUpload &u = s.upload();
             up.statuses.push_back(u.status);
             if (u.status == UPLOAD_FILE_START) {
                 up.filename = u.filename.c_str();
                 up.name = u.name.c_str();
             } else if (u.status == UPLOAD_FILE_WRITE) {
                 up.data.append((const char *)u.buf, u.currentSize);
             } else if (u.status == UPLOAD_FILE_END) {
                 up.total_at_end = u.totalSize;
             }
         });
    s.onNotFound([&s]() { s.send(404, "text/plain", (std::string("custom 404 ") + s.uri().c_str()).c_str()); });
    static const char *keys[] = {"X-Test"};
    s.collectHeaders(keys, 1);
}

static void put_file(const char *path, const std::string &data)
{
    File f = SPIFFS.open(path, FILE_WRITE);
    f.write((const uint8_t *)data.data(), data.size());
    f.close();
}

/* serveStatic from SPIFFS (files written before the routes are registered) */
static void setup_static(WebServer &s)
{
    CHECK(SPIFFS.begin(true), "SPIFFS mounted");
    put_file("/www/index.htm", "<h1>index</h1>");
    put_file("/www/app.js", "let x = 1;");
    put_file("/www/style.css.gz", "\x1f\x8bgz");
    s.serveStatic("/static", SPIFFS, "/www", "max-age=60");
    s.serveStatic("/one", SPIFFS, "/www/app.js");
}

static void test_static()
{
    std::string r = get("/static/app.js");
    CHECK(reply_status(r) == 200 && reply_body(r) == "let x = 1;" &&
              reply_header(r, "Content-Type") == "application/javascript" &&
              reply_header(r, "Cache-Control") == "max-age=60",
          "%s", r.c_str());
    r = get("/static/");
    CHECK(reply_status(r) == 200 && reply_body(r) == "<h1>index</h1>" && reply_header(r, "Content-Type") == "text/html",
          "directory index: %s", r.c_str());
    r = get("/static/style.css");
    CHECK(reply_status(r) == 200 && reply_header(r, "Content-Encoding") == "gzip" &&
              reply_header(r, "Content-Type") == "text/css" && reply_body(r) == "\x1f\x8bgz",
          "the .gz file for a missing one: %s", r.c_str());
    r = get("/static/missing.txt");
    CHECK(reply_status(r) == 404 && reply_body(r) == "custom 404 /static/missing.txt", "%s", r.c_str());
    r = get("/static/../www/app.js");
    CHECK(reply_status(r) == 404, "no way out of the directory: %s", r.c_str());
    r = post("/static/app.js", "text/plain", "x");
    CHECK(reply_status(r) == 404, "GET only: %s", r.c_str());
    r = get("/one");
    CHECK(reply_status(r) == 200 && reply_body(r) == "let x = 1;", "a single file: %s", r.c_str());
    r = get("/one/more");
    CHECK(reply_status(r) == 404, "a file route matches its URI only: %s", r.c_str());
}

static void test_routing()
{
    std::string r = get("/hello");
    CHECK(reply_status(r) == 200 && reply_body(r) == "hello", "%s", r.c_str());
    CHECK(reply_header(r, "Content-Type") == "text/plain", "%s", r.c_str());
    CHECK(reply_header(r, "Content-Length") == "5", "%s", r.c_str());
    CHECK(reply_header(r, "Connection") == "close", "%s", r.c_str());
    CHECK(reply_body(get("/m")) == "get", "GET /m");
    CHECK(reply_body(post("/m", "text/plain", "x")) == "post", "POST /m");
    r = http_exchange(g_port, "PUT /any HTTP/1.1\r\nContent-Length: 0\r\n\r\n", pump);
    CHECK(reply_body(r) == "put", "%s", r.c_str());
    r = http_exchange(g_port, "DELETE /hello HTTP/1.1\r\n\r\n", pump);
    CHECK(reply_status(r) == 404 && reply_body(r) == "custom 404 /hello", "method mismatch: %s", r.c_str());
    r = get("/nowhere?x=1");
    CHECK(reply_status(r) == 404 && reply_body(r) == "custom 404 /nowhere", "%s", r.c_str());
    r = http_exchange(g_port, "HEAD /hello HTTP/1.1\r\n\r\n", pump);
    CHECK(reply_status(r) == 404, "HEAD does not match an HTTP_GET route, as on the board: %s", r.c_str());
    r = http_exchange(g_port, "HEAD /any HTTP/1.1\r\n\r\n", pump);
    CHECK(reply_status(r) == 200 && reply_body(r).empty() && reply_header(r, "Content-Length") == "5", "%s", r.c_str());
    r = get("/redirect");
    CHECK(reply_status(r) == 303 && reply_header(r, "Location") == "/recovery" &&
              reply_header(r, "Content-Type") == "text/html" && reply_header(r, "Content-Length") == "0",
          "%s", r.c_str());
    r = get("/silent");
    CHECK(r.empty(), "a handler that sends nothing: the connection closes without a reply: %s", r.c_str());
}

static void test_arguments()
{
    std::string r = reply_body(get("/args?x=1&y=hello+world&z=%2F%26&flag&e="));
    CHECK(r == "4|x=1|y=hello world|z=/&|e=", "query: %s", r.c_str());
    r = reply_body(post("/args?q=9", "application/x-www-form-urlencoded", "a=1&b=two+words"));
    CHECK(r == "3|q=9|a=1|b=two words", "form: %s", r.c_str());
    r = reply_body(post("/args", "application/json", "{\"k\":1}"));
    CHECK(r == "1|plain={\"k\":1}", "plain: %s", r.c_str());
    r = reply_body(post("/args?q=1", "text/plain", ""));
    CHECK(r == "1|q=1", "empty body adds no plain: %s", r.c_str());
}

static void test_default_404()
{
    WebServer bare(80);
    UploadLog unused;
    (void)unused;
    ahk::Options o = ahk::options();
    o.http_port = free_port();
    ahk::init_for_test(o);
    bare.begin();
    std::string r = http_exchange(o.http_port, "GET /missing HTTP/1.1\r\n\r\n", [&bare]() { bare.handleClient(); });
    CHECK(reply_status(r) == 404 && reply_body(r) == "Not found: /missing", "%s", r.c_str());
    CHECK(reply_header(r, "Content-Type") == "text/html", "%s", r.c_str());
    o.http_port = g_port;
    ahk::init_for_test(o);
}

static void test_chunked_and_files()
{
    std::string r = get("/chunked");
    CHECK(reply_header(r, "Transfer-Encoding") == "chunked" && reply_header(r, "Content-Length").empty(), "%s", r.c_str());
    CHECK(reply_body(r) == "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n", "chunk framing: %s", r.c_str());
    r = get("/chunked", "", "1.0");
    CHECK(r.compare(0, 9, "HTTP/1.0 ") == 0 && reply_body(r) == "abcdefg", "HTTP/1.0 gets raw content: %s", r.c_str());
    r = get("/file");
    CHECK(reply_status(r) == 200 && reply_header(r, "Content-Length") == "20000", "%s", r.substr(0, 200).c_str());
    CHECK(reply_body(r) == big_text(20000), "streamed file content (%zu bytes)", reply_body(r).size());
    r = get("/gz");
    CHECK(reply_header(r, "Content-Encoding") == "gzip" && reply_body(r) == "\x1f\x8bxyz", "%s", r.c_str());
}

static void test_headers_auth()
{
    std::string r = get("/headers", "X-Test: yes\r\nX-Hidden: no\r\n");
    CHECK(reply_body(r) == "yes|hidden|x|/headers", "%s", r.c_str());
    size_t first = r.find("X-First"), second = r.find("X-Second");
    CHECK(first != std::string::npos && second != std::string::npos && first < second, "header order: %s", r.c_str());
    g_srv->collectAllHeaders();
    r = get("/headers", "X-Test: yes\r\nX-Hidden: no\r\n");
    CHECK(reply_body(r) == "yes|seen|x|/headers", "collectAllHeaders: %s", r.c_str());
    r = get("/auth");
    CHECK(reply_status(r) == 401 && reply_header(r, "WWW-Authenticate") == "Basic realm=\"Login Required\"", "%s", r.c_str());
    r = get("/auth", "Authorization: Basic YWRtaW46c2VjcmV0\r\n");   /* admin:secret */
    CHECK(reply_status(r) == 200 && reply_body(r) == "in", "%s", r.c_str());
    r = get("/auth", "Authorization: Basic YWRtaW46d3Jvbmc=\r\n");   /* admin:wrong */
    CHECK(reply_status(r) == 401, "%s", r.c_str());
}

static void test_upload(UploadLog &up)
{
    std::string file = big_text(5000);
    std::string body = "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nfirmware v2\r\n"
                       "--XyZ\r\nContent-Disposition: form-data; name=\"update\"; filename=\"fw.bin\"\r\n"
                       "Content-Type: application/octet-stream\r\n\r\n" + file + "\r\n--XyZ--\r\n";
    std::string r = post("/upload", "multipart/form-data; boundary=XyZ", body);
    CHECK(reply_status(r) == 200 && reply_body(r) == "done firmware v2", "%s", r.c_str());
    std::vector<int> want = {UPLOAD_FILE_START, UPLOAD_FILE_WRITE, UPLOAD_FILE_WRITE, UPLOAD_FILE_WRITE,
                             UPLOAD_FILE_WRITE, UPLOAD_FILE_END};   /* 3 x 1436 + 692 */
    CHECK(up.statuses == want, "upload callbacks: %zu", up.statuses.size());
    CHECK(up.data == file && up.total_at_end == 5000, "upload data %zu bytes, total %zu", up.data.size(), up.total_at_end);
    CHECK(up.filename == "fw.bin" && up.name == "update", "%s %s", up.filename.c_str(), up.name.c_str());
    r = post("/upload", "multipart/form-data; boundary=XyZ", "--XyZ\r\ngarbage");
    CHECK(reply_status(r) == 400, "malformed multipart: %s", r.c_str());
}

static void test_limits()
{
    std::string r = get("/hello", "X-Big: " + std::string(9000, 'a') + "\r\n");
    CHECK(reply_status(r) == 431, "oversized head: %s", r.substr(0, 60).c_str());
    r = http_exchange(g_port, "POST /m HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", pump);
    CHECK(reply_status(r) == 413, "oversized body: %s", r.c_str());
    r = http_exchange(g_port, "BREW /pot HTCPCP/1.0\r\n\r\n", pump);
    CHECK(reply_status(r) == 400, "malformed request line: %s", r.c_str());
    r = http_exchange(g_port, "POST /m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", pump);
    CHECK(reply_status(r) == 400, "chunked request body: %s", r.c_str());

    /* a client that sends half a request does not hold up the next one */
    int slow = connect_port(g_port);
    send(slow, "GET /hel", 8, 0);
    r = get("/hello");
    CHECK(reply_body(r) == "hello", "served while another request is incomplete: %s", r.c_str());
    send(slow, "lo HTTP/1.1\r\n\r\n", 15, 0);
    std::string late;
    for (int i = 0; i < 200 && late.find("hello") == std::string::npos; i++) {
        pump();
        char buf[512];
        ssize_t n = recv(slow, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
            late.append(buf, (size_t)n);
        usleep(2000);
    }
    CHECK(reply_body(late) == "hello", "the slow request completes later: %s", late.c_str());
    close(slow);

    /* a client that shuts down its sending side after the request still gets the reply */
    int half = connect_port(g_port);
    send(half, "GET /hello HTTP/1.1\r\n\r\n", 23, 0);
    shutdown(half, SHUT_WR);
    late.clear();
    for (int i = 0; i < 200 && late.find("hello") == std::string::npos; i++) {
        pump();
        char buf[512];
        ssize_t n = recv(half, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
            late.append(buf, (size_t)n);
        usleep(2000);
    }
    CHECK(reply_body(late) == "hello", "half-closed client: %s", late.c_str());
    close(half);
}

static void test_one_request_per_call()
{
    int a = connect_port(g_port), b = connect_port(g_port);
    send(a, "GET /hello HTTP/1.1\r\n\r\n", 23, 0);
    send(b, "GET /hello HTTP/1.1\r\n\r\n", 23, 0);
    usleep(100000);
    g_srv->handleClient();
    usleep(50000);
    char buf[512];
    ssize_t na = recv(a, buf, sizeof buf, MSG_DONTWAIT), nb = recv(b, buf, sizeof buf, MSG_DONTWAIT);
    CHECK((na > 0) != (nb > 0), "one handleClient() call answers exactly one request (%zd, %zd)", na, nb);
    g_srv->handleClient();
    usleep(50000);
    nb = recv(na > 0 ? b : a, buf, sizeof buf, MSG_DONTWAIT);
    CHECK(nb > 0, "the next call answers the other");
    close(a);
    close(b);
}

/* Runs argv in a child while this process keeps serving; returns its stdout and exit status. */
static std::string run_client(const std::vector<std::string> &args, int *status)
{
    int out[2];
    if (pipe(out) != 0)
        return "";
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        std::vector<char *> argv;
        for (const auto &a : args)
            argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        _exit(127);
    }
    close(out[1]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    std::string text;
    uint64_t until = test_ms() + 20000;
    *status = -1;
    while (test_ms() < until) {
        pump();
        char buf[4096];
        ssize_t n = read(out[0], buf, sizeof buf);
        if (n > 0)
            text.append(buf, (size_t)n);
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            while ((n = read(out[0], buf, sizeof buf)) > 0)
                text.append(buf, (size_t)n);
            *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        usleep(1000);
    }
    close(out[0]);
    return text;
}

static void test_interop()
{
    std::string base = "http://127.0.0.1:" + std::to_string(g_port);
    int st;
    if (access("/usr/bin/curl", X_OK) == 0) {
        std::string out = run_client({"curl", "-s", "-w", " %{http_code}", base + "/args?a=%C3%A6"}, &st);
        CHECK(st == 0 && out == "1|a=\xc3\xa6 200", "curl GET: %d '%s'", st, out.c_str());
        out = run_client({"curl", "-s", "-d", "k=v w", base + "/args"}, &st);
        CHECK(st == 0 && out == "1|k=v w", "curl form POST: %d '%s'", st, out.c_str());
        out = run_client({"curl", "-s", "-F", "note=n1", "-F", "update=@/etc/hostname", base + "/upload"}, &st);
        CHECK(st == 0 && out == "done n1", "curl multipart upload: %d '%s'", st, out.c_str());
        out = run_client({"curl", "-s", base + "/chunked"}, &st);
        CHECK(st == 0 && out == "abcdefg", "curl chunked: %d '%s'", st, out.c_str());
    } else {
        CHECK(false, "curl is needed for the interoperation test");
    }
    std::string py =
        "import json,sys,urllib.request,urllib.parse\n"
        "b=sys.argv[1]\n"
        "r=urllib.request.urlopen(b+'/hello',timeout=5); a=r.read().decode()\n"
        "d=urllib.parse.urlencode({'x':'1 2'}).encode()\n"
        "c=urllib.request.urlopen(b+'/args',data=d,timeout=5).read().decode()\n"
        "k=urllib.request.urlopen(b+'/chunked',timeout=5).read().decode()\n"
        "try:\n"
        "    urllib.request.urlopen(b+'/nope',timeout=5); e='no error'\n"
        "except urllib.error.HTTPError as x: e=str(x.code)\n"
        "print(a,c,k,e,sep=';')\n";
    std::string out = run_client({"python3", "-c", py, base}, &st);
    CHECK(st == 0 && out == "hello;1|x=1 2;abcdefg;404\n", "python urllib: %d '%s'", st, out.c_str());
    std::string rq = "import sys\ntry:\n    import requests\nexcept ImportError:\n    print('skip'); sys.exit(0)\n"
                     "r=requests.get(sys.argv[1]+'/file',timeout=5)\nprint(r.status_code,len(r.content))\n";
    out = run_client({"python3", "-c", rq, base}, &st);
    CHECK(st == 0 && (out == "200 20000\n" || out == "skip\n"), "python requests: %d '%s'", st, out.c_str());
}

static void test_no_port()
{
    ahk::Options o = ahk::options();
    o.http_port = -1;
    ahk::init_for_test(o);
    WiFiServer s(80);
    s.begin();
    CHECK(!s, "without --http-port the board's port 80 is not served");
    WiFiServer s2(81);
    s2.begin();
    CHECK(!s2, "a privileged port other than 80 is not served");
    o.http_port = g_port;
    ahk::init_for_test(o);
}

int main()
{
    ahk::Options o;
    g_port = free_port();
    o.http_port = g_port;
    o.state_dir = fresh_state_dir("net-web");
    ahk::init_for_test(o);

    WiFi.begin("rig", "pw");
    CHECK(WiFi.status() == WL_CONNECTED && WiFi.localIP().toString() == "127.0.0.1", "WiFi joins at once");
    CHECK(WiFi.begin("") == WL_CONNECT_FAILED, "an empty SSID fails as on the board");

    WebServer server(80);
    g_srv = &server;
    UploadLog up;
    setup_static(server);
    setup_routes(server, up);
    server.begin();

    test_routing();
    test_static();
    test_arguments();
    test_default_404();
    test_chunked_and_files();
    test_headers_auth();
    test_upload(up);
    test_limits();
    test_one_request_per_call();
    test_interop();
    test_no_port();
    return finish_tests("test_net_webserver");
}
