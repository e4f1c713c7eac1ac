/* test_net_wificlient.cpp: WiFiClient and WiFiServer on loopback sockets (connect, write, print,
 * available, peek, read, connected() after the peer closes, copies sharing one connection, the
 * loopback-only rule), IPAddress parsing and printing, the WiFi station / soft-AP state and the
 * logged-only mDNS responder. */
#include <stdlib.h>

#include <string>

#include "test_net_util.h"   /* first: the Arduino headers then replace <netinet/in.h>'s INADDR_NONE */

#include "ahk_runtime.h"
#include "ESPmDNS.h"
#include "WiFi.h"
#include "WiFiClient.h"
#include "WiFiServer.h"

/* Collects what Print writes, to check printTo. */
class Collect : public Print {
public:
    std::string text;
    size_t write(uint8_t b) { text += (char)b; return 1; }
};

static void test_ipaddress()
{
    IPAddress a;
    CHECK(a.fromString("192.168.4.1") && a[0] == 192 && a[3] == 1, "fromString");
    CHECK(a.toString() == "192.168.4.1", "toString %s", a.toString().c_str());
    CHECK(!a.fromString("1.2.3") && !a.fromString("1.2.3.256") && !a.fromString("1.2.3.4.5") && !a.fromString("a.b.c.d"),
          "malformed addresses rejected");
    CHECK(a == IPAddress(192, 168, 4, 1), "unchanged after a failed parse");
    Collect c;
    c.print(a);
    CHECK(c.text == "192.168.4.1", "printTo: '%s'", c.text.c_str());
    c.text.clear();
    c.println(IPAddress(127, 0, 0, 1));
    CHECK(c.text == "127.0.0.1\r\n", "println: '%s'", c.text.c_str());
    IPAddress b((uint32_t)0x0100007f);   /* network byte order, as on the board */
    CHECK(b == IPAddress(127, 0, 0, 1) && (uint32_t)b == 0x0100007fu, "uint32_t conversion");
    CHECK(INADDR_NONE == IPAddress(0, 0, 0, 0), "INADDR_NONE");
}

static void test_wifi()
{
    CHECK(WiFi.status() == WL_DISCONNECTED && WiFi.localIP() == IPAddress(), "before begin(): disconnected, no address");
    CHECK(WiFi.begin("") == WL_CONNECT_FAILED && WiFi.status() != WL_CONNECTED, "empty SSID fails");
    CHECK(WiFi.begin("home", "password") == WL_CONNECTED && WiFi.status() == WL_CONNECTED, "station joins at once");
    CHECK(WiFi.localIP().toString() == "127.0.0.1" && WiFi.SSID() == "home" && WiFi.RSSI() < 0, "station state");
    CHECK(WiFi.macAddress().length() == 17, "mac %s", WiFi.macAddress().c_str());
    CHECK(WiFi.getMode() == WIFI_STA, "mode STA");
    CHECK(WiFi.softAP("esp32-mep", "12345678") && WiFi.softAPIP().toString() == "192.168.4.1", "soft-AP");
    CHECK(WiFi.getMode() == WIFI_AP_STA, "mode AP+STA");
    CHECK(!WiFi.softAP("x", "short"), "a soft-AP passphrase under 8 characters is refused");
    CHECK(WiFi.setHostname("esp32-mep") && strcmp(WiFi.getHostname(), "esp32-mep") == 0, "hostname");
    CHECK(WiFi.disconnect() && WiFi.status() == WL_DISCONNECTED && WiFi.localIP() == IPAddress(), "disconnect");
    IPAddress r;
    CHECK(WiFi.hostByName("localhost", r) == 1 && r == IPAddress(127, 0, 0, 1), "hostByName(localhost)");
    CHECK(WiFi.hostByName("example.org", r) == 0, "no DNS beyond loopback");
    CHECK(MDNS.begin("esp32-mep") && MDNS.addService("http", "tcp", 80), "mDNS calls succeed (logged)");
}

static void test_client_server()
{
    int port = free_port();
    WiFiServer server((uint16_t)port);
    server.begin();
    CHECK((bool)server, "server listening on %d", port);
    CHECK(!server.hasClient(), "no client yet");

    WiFiClient c;
    CHECK(!c.connected() && c.read() == -1 && c.available() == 0, "unconnected client");
    CHECK(WiFi.status() != WL_CONNECTED && c.connect("127.0.0.1", (uint16_t)port) == 0,
          "no connection while the WiFi station is down");
    WiFi.begin("home", "password");
    CHECK(c.connect("127.0.0.1", (uint16_t)port) == 1 && c.connected(), "connect");
    usleep(20000);
    CHECK(server.hasClient(), "server sees the client");
    WiFiClient peer = server.available();
    CHECK(peer.connected() && peer.remoteIP() == IPAddress(127, 0, 0, 1) && peer.remotePort() == c.localPort(),
          "accepted peer");

    CHECK(c.print("ping\n") == 5 && c.write((const uint8_t *)"\x01\x02", 2) == 2, "write");
    usleep(20000);
    CHECK(peer.available() == 7, "available %d", peer.available());
    CHECK(peer.peek() == 'p' && peer.read() == 'p', "peek then read");
    uint8_t buf[16];
    CHECK(peer.read(buf, sizeof buf) == 6 && memcmp(buf, "ing\n\x01\x02", 6) == 0, "read(buf)");
    CHECK(peer.read() == -1, "nothing more: read() returns -1 without blocking");

    peer.print("pong");
    usleep(20000);
    WiFiClient copy = c;
    CHECK(copy == c && copy.available() == 4, "a copy shares the connection");
    String line = copy.readString();
    CHECK(line == "pong", "readString '%s'", line.c_str());

    peer.print("bye");
    peer.stop();
    usleep(20000);
    CHECK(c.connected(), "still connected while unread data remains");
    CHECK(c.read(buf, sizeof buf) == 3, "the last data");
    CHECK(!c.connected(), "disconnected after the peer closed and all was read");
    c.stop();

    CHECK(c.connect("127.0.0.1", (uint16_t)free_port()) == 0, "nobody listening: connect fails");
    CHECK(c.connect("192.168.1.20", 80) == 0 && c.connect(IPAddress(10, 0, 0, 1), 80) == 0,
          "non-loopback addresses are not reachable");
    CHECK(c.connect("localhost", (uint16_t)port) == 1, "localhost");
    c.stop();
    server.end();
    CHECK(!server, "server ended");
}

int main()
{
    ahk::Options o;
    ahk::init_for_test(o);
    test_ipaddress();
    test_wifi();
    test_client_server();
    return finish_tests("test_net_wificlient");
}
