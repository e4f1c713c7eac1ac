/* test_net_mqtt.cpp: PubSubClient through the kit's native bridge against a real mosquitto broker
 * the test starts on a free loopback port: connect with a will, retained and plain publishes,
 * subscribe + callback, the buffer-size limit, the will on an abrupt exit and not on
 * disconnect(), refused credentials (state 5), a dead broker (state -2, then -3 when it dies
 * under a connected client), and the loopback-only rule without --mqtt.
 * Needs: mosquitto (MOSQUITTO, default /usr/sbin/mosquitto) and the bridge program
 * (AHK_MQTT_BRIDGE, the path the kit's build gives it). */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "ahk_runtime.h"
#include "PubSubClient.h"
#include "WiFi.h"
#include "WiFiClient.h"
#include "test_net_util.h"

struct Received {
    std::string topic, payload;
};

static std::vector<Received> g_got;

static void on_message(char *topic, uint8_t *payload, unsigned int length)
{
    g_got.push_back({topic, std::string((const char *)payload, length)});
}

/* Starts mosquitto on `port` with the given extra config lines; returns its pid (-1 if it never
 * listened). */
static pid_t start_broker(int port, const std::string &extra)
{
    const char *bin = getenv("MOSQUITTO") ? getenv("MOSQUITTO") : "/usr/sbin/mosquitto";
    const char *tmp = getenv("TMPDIR");
    char conf[512];
    snprintf(conf, sizeof conf, "%s/kit-mosquitto-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(conf);
    std::string text = "listener " + std::to_string(port) + " 127.0.0.1\npersistence false\n" + extra;
    if (fd < 0 || write(fd, text.data(), text.size()) != (ssize_t)text.size())
        return -1;
    close(fd);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(bin, bin, "-c", conf, (char *)nullptr);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        int c = connect_port(port);
        if (c >= 0) {
            close(c);
            unlink(conf);
            return pid;
        }
        usleep(10000);
    }
    unlink(conf);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
}

static void stop_broker(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, nullptr, 0);
    }
}

/* Calls loop() (of c, and of `also` if given) until a message on `topic` arrived (true) or
 * wait_ms passed. */
static bool wait_for(PubSubClient &c, const std::string &topic, std::string *payload, int wait_ms = 3000,
                     PubSubClient *also = nullptr)
{
    uint64_t until = test_ms() + (uint64_t)wait_ms;
    while (test_ms() < until) {
        c.loop();
        if (also)
            also->loop();
        for (size_t i = 0; i < g_got.size(); i++)
            if (g_got[i].topic == topic) {
                if (payload)
                    *payload = g_got[i].payload;
                g_got.erase(g_got.begin() + (long)i);
                return true;
            }
        usleep(2000);
    }
    return false;
}

static void set_mqtt(int port)
{
    ahk::Options o = ahk::options();
    o.mqtt_host = port > 0 ? "127.0.0.1" : "";
    o.mqtt_port = port;
    ahk::init_for_test(o);
}

/* In a child: connect with a will, say Online, then leave abruptly or cleanly. */
static void device_child(const char *id, bool clean)
{
    WiFiClient net;
    PubSubClient dev(net);
    std::string will = std::string("kit/") + id + "/lwt";
    dev.setServer("192.168.1.20", 1883);   /* replaced by --mqtt */
    if (!dev.connect(id, nullptr, nullptr, will.c_str(), 0, true, "Offline"))
        _exit(3);
    dev.publish(will.c_str(), "Online", true);
    if (clean) {
        usleep(100000);
        dev.disconnect();
        usleep(200000);
    }
    _exit(0);
}

static int run_device(const char *id, bool clean)
{
    pid_t pid = fork();
    if (pid == 0)
        device_child(id, clean);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_session(int port)
{
    WiFiClient n1, n2;
    PubSubClient dev(n1), sub(n2);
    CHECK(dev.state() == MQTT_DISCONNECTED && !dev.connected(), "state before connect: %d", dev.state());

    dev.setServer("10.0.0.5", 1883);
    CHECK(dev.connect("meter-dev", nullptr, nullptr, "kit/dev/lwt", 0, true, "Offline"), "connect with a will: state %d", dev.state());
    CHECK(dev.state() == MQTT_CONNECTED && dev.connected(), "connected, state %d", dev.state());
    CHECK(dev.publish("kit/dev/lwt", "Online", true), "retained publish");

    sub.setServer(IPAddress(127, 0, 0, 1), (uint16_t)port).setCallback(on_message);
    CHECK(sub.connect("watcher"), "second client: state %d", sub.state());
    CHECK(sub.subscribe("kit/#"), "subscribe");
    std::string p;
    CHECK(wait_for(sub, "kit/dev/lwt", &p) && p == "Online", "retained message delivered on subscribe: '%s'", p.c_str());

    CHECK(dev.publish("kit/dev/sensors/mydatajson", "{\"Fwd_Act_Wh\":123}"), "plain publish");
    CHECK(wait_for(sub, "kit/dev/sensors/mydatajson", &p) && p == "{\"Fwd_Act_Wh\":123}", "payload '%s'", p.c_str());
    const uint8_t bin[] = {0, 1, 2, 255};
    CHECK(dev.publish("kit/dev/bin", bin, 4), "binary publish");
    CHECK(wait_for(sub, "kit/dev/bin", &p) && p == std::string("\0\1\2\377", 4), "binary payload, %zu bytes", p.size());

    std::string big(300, 'x');
    CHECK(!dev.publish("kit/dev/big", big.c_str()), "a publish larger than the 256-byte buffer fails, as in the library");
    CHECK(dev.setBufferSize(1024) && dev.getBufferSize() == 1024, "setBufferSize");
    CHECK(dev.publish("kit/dev/big", big.c_str()), "the same publish after setBufferSize(1024)");
    CHECK(!wait_for(sub, "kit/dev/big", nullptr, 500), "the subscriber's 256-byte buffer drops the 300-byte message");
    CHECK(dev.beginPublish("kit/dev/stream", 5, false) && dev.print("he") == 2 && dev.print("llo") == 3 && dev.endPublish() == 1,
          "beginPublish / print / endPublish");
    CHECK(wait_for(sub, "kit/dev/stream", &p) && p == "hello", "streamed payload '%s'", p.c_str());

    /* one message per loop() call */
    dev.publish("kit/dev/a", "1");
    dev.publish("kit/dev/b", "2");
    usleep(300000);
    g_got.clear();
    sub.loop();
    size_t after_one = g_got.size();
    sub.loop();
    CHECK(after_one == 1 && g_got.size() == 2, "one callback per loop(): %zu then %zu", after_one, g_got.size());
    g_got.clear();

    CHECK(sub.unsubscribe("kit/#"), "unsubscribe");
    usleep(200000);
    dev.publish("kit/dev/after", "x");
    CHECK(!wait_for(sub, "kit/dev/after", nullptr, 500), "no delivery after unsubscribe");
    CHECK(sub.subscribe("kit/+/lwt"), "resubscribe to the wills");

    /* a device that vanishes: the broker publishes its will */
    CHECK(run_device("vanisher", false) == 0, "child device connected");
    CHECK(wait_for(sub, "kit/vanisher/lwt", &p) && p == "Online", "child said Online: '%s'", p.c_str());
    CHECK(wait_for(sub, "kit/vanisher/lwt", &p) && p == "Offline", "will on abrupt exit: '%s'", p.c_str());

    /* a device that disconnects cleanly: no will */
    CHECK(run_device("leaver", true) == 0, "child device connected");
    CHECK(wait_for(sub, "kit/leaver/lwt", &p) && p == "Online", "child said Online: '%s'", p.c_str());
    CHECK(!wait_for(sub, "kit/leaver/lwt", &p, 1500), "no will after disconnect(): got '%s'", p.c_str());

    dev.disconnect();
    CHECK(dev.state() == MQTT_DISCONNECTED && !dev.connected(), "disconnect: state %d", dev.state());
    CHECK(dev.connect("meter-dev"), "reconnect after disconnect: state %d", dev.state());
    dev.disconnect();
    sub.disconnect();
}

/* PubSubClient pings only from loop(): a sketch that stops calling it is dropped by the broker
 * after 1.5 keep-alive intervals (its will published); one that keeps calling it stays. */
static void test_keepalive(int port)
{
    WiFiClient n1, n2, n3;
    PubSubClient busy(n1), stuck(n2), sub(n3);
    busy.setServer("127.0.0.1", (uint16_t)port).setKeepAlive(5);
    stuck.setServer("127.0.0.1", (uint16_t)port).setKeepAlive(5);
    sub.setServer("127.0.0.1", (uint16_t)port).setCallback(on_message);
    /* timed from before the stuck client's CONNECT, the last packet the broker hears from it:
     * the broker may drop it 1.5 x 5 s = 7.5 s later, never before (bound 7 s: clock slack) */
    uint64_t start = test_ms();
    CHECK(busy.connect("busy", "kit/busy/lwt", 0, false, "Offline") &&
              stuck.connect("stuck", "kit/stuck/lwt", 0, false, "Offline") && sub.connect("ka-watcher") &&
              sub.subscribe("kit/+/lwt"),
          "three clients connected");
    g_got.clear();
    std::string p;
    /* upper bound generous: on a loaded 2-core machine under qemu the broker's check runs late */
    bool stuck_dropped = wait_for(sub, "kit/stuck/lwt", &p, 30000, &busy);
    unsigned after = (unsigned)(test_ms() - start);
    CHECK(stuck_dropped && p == "Offline" && after >= 7000, "the stuck client's will after %u ms", after);
    CHECK(!wait_for(sub, "kit/busy/lwt", &p, 1000, &busy) && busy.connected(),
          "the client that calls loop() keeps its session");
    CHECK(!stuck.connected() && stuck.state() == MQTT_CONNECTION_LOST, "the stuck client lost its session: state %d",
          stuck.state());
    busy.disconnect();
    sub.disconnect();
}

static void test_refusals(int port)
{
    WiFiClient n;
    PubSubClient c(n);
    c.setServer("127.0.0.1", 1883);

    /* no broker on the port */
    int dead = free_port();
    set_mqtt(dead);
    CHECK(!c.connect("x") && c.state() == MQTT_CONNECT_FAILED, "no broker: state %d", c.state());

    /* a broker that wants credentials */
    int secure = free_port();
    pid_t b = start_broker(secure, "allow_anonymous false\n");
    CHECK(b > 0, "second broker started");
    set_mqtt(secure);
    CHECK(!c.connect("anon") && c.state() == MQTT_CONNECT_UNAUTHORIZED, "anonymous refused: state %d", c.state());
    stop_broker(b);

    /* the broker dies under a connected client */
    int fleeting = free_port();
    b = start_broker(fleeting, "allow_anonymous true\n");
    set_mqtt(fleeting);
    CHECK(c.connect("doomed"), "connected to the short-lived broker: state %d", c.state());
    stop_broker(b);
    bool lost = false;
    for (int i = 0; i < 300 && !lost; i++) {
        lost = !c.connected();
        usleep(10000);
    }
    CHECK(lost && c.state() == MQTT_CONNECTION_LOST, "connection lost: state %d", c.state());
    CHECK(!c.publish("kit/x", "y") && !c.loop(), "publish and loop fail while lost");

    /* without --mqtt only a loopback server is tried */
    set_mqtt(-1);
    c.setServer("192.168.1.20", 1883);
    CHECK(!c.connect("far") && c.state() == MQTT_CONNECT_FAILED, "non-loopback server without --mqtt: state %d", c.state());
    c.setServer("127.0.0.1", (uint16_t)port);
    CHECK(c.connect("near"), "loopback server without --mqtt: state %d", c.state());
    c.disconnect();
}

int main()
{
    ahk::Options o;
    const char *bridge = getenv("AHK_MQTT_BRIDGE");
    o.bridge_path = bridge ? bridge : "";
    ahk::init_for_test(o);
    if (o.bridge_path.empty() || access(o.bridge_path.c_str(), X_OK) != 0) {
        fprintf(stderr, "test_net_mqtt: set AHK_MQTT_BRIDGE to the built ahk-mqtt-bridge\n");
        CHECK(false, "bridge program missing");
        return finish_tests("test_net_mqtt");
    }
    signal(SIGPIPE, SIG_IGN);
    int port = free_port();
    pid_t broker = start_broker(port, "allow_anonymous true\n");
    CHECK(broker > 0, "mosquitto started on port %d", port);
    if (broker <= 0)
        return finish_tests("test_net_mqtt");
    set_mqtt(port);
    WiFiClient net;
    PubSubClient early(net);
    CHECK(!early.connect("early") && early.state() == MQTT_CONNECT_FAILED,
          "no connection before the WiFi station is up: state %d", early.state());
    WiFi.begin("rig", "password");
    test_session(port);
    test_keepalive(port);
    test_refusals(port);
    stop_broker(broker);
    return finish_tests("test_net_mqtt");
}
