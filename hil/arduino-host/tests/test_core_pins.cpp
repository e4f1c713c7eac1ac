/* test_core_pins.cpp: the esp32 pin map turned into board-line events on the control socket
 * (docs/module-behaviour.md 2: ENABLE on GPIO5 through an inverting stage, transceiver supply on
 * GPIO32 active high), checked on a fake emulator socket that records the JSON lines and
 * answers {"ok":true} like mepsim. */
#include "Arduino.h"
#include "test_core_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

int g_listen = -1, g_conn = -1;
std::string g_got;

/* collect what the board sent within wait_ms, answering every line */
std::string drain(int wait_ms)
{
    std::string out;
    uint64_t end = test_mono_us() + (uint64_t)wait_ms * 1000u;
    while (test_mono_us() < end) {
        ahk::idle(5); /* the board reads our replies */
        if (g_conn < 0) {
            g_conn = accept(g_listen, nullptr, nullptr);
            if (g_conn >= 0)
                fcntl(g_conn, F_SETFL, O_NONBLOCK);
            continue;
        }
        char buf[512];
        ssize_t n = read(g_conn, buf, sizeof buf);
        if (n > 0) {
            out.append(buf, (size_t)n);
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] == '\n' && write(g_conn, "{\"ok\":true}\n", 12) != 12)
                    fprintf(stderr, "reply failed\n");
        }
    }
    return out;
}

} // namespace

int main()
{
    ahk::Options o;
    o.state_dir = fresh_state_dir("pins");
    o.control = o.state_dir + "/ctl.sock";
    g_listen = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", o.control.c_str());
    if (bind(g_listen, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(g_listen, 4) != 0) {
        perror("control socket");
        return 2;
    }
    fcntl(g_listen, F_SETFL, O_NONBLOCK);
    ahk::init_for_test(o);

    pinMode(2, INPUT_PULLDOWN);
    pinMode(4, OUTPUT);
    digitalWrite(4, HIGH);
    CHECK_STR(drain(50), "");
    CHECK(digitalRead(2) == LOW && digitalRead(4) == HIGH, "unmapped pins read their level");

    digitalWrite(5, HIGH); /* not an output yet: no line change */
    CHECK_STR(drain(50), "");
    pinMode(5, OUTPUT); /* the pin now drives HIGH: ENABLE stays released, which is news */
    CHECK_STR(drain(100), "{\"line\":\"enable\",\"on\":false}\n");
    digitalWrite(5, LOW);
    CHECK_STR(drain(100), "{\"line\":\"enable\",\"on\":true}\n");
    digitalWrite(5, LOW); /* no change, no event */
    CHECK_STR(drain(50), "");
    pinMode(32, OUTPUT); /* output register 0: supply off */
    digitalWrite(32, HIGH);
    CHECK_STR(drain(100), "{\"line\":\"transceiver\",\"on\":false}\n{\"line\":\"transceiver\",\"on\":true}\n");

    /* the emulator restarts: the next change reconnects and reports both lines */
    close(g_conn);
    g_conn = -1;
    drain(50);
    digitalWrite(32, LOW);
    std::string again = drain(200);
    if (again.empty()) { /* the close may be noticed only by this send: one more change */
        digitalWrite(32, HIGH);
        digitalWrite(32, LOW);
        again = drain(200);
    }
    CHECK(again.find("{\"line\":\"transceiver\",\"on\":false}\n{\"line\":\"enable\",\"on\":true}\n") != std::string::npos,
          "after a reconnect both lines are sent: %s", again.c_str());
    return finish_tests("test_core_pins");
}
