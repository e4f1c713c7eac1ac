/* pins.cpp: GPIO levels and the pin map that turns two of them into the module's board lines
 * (docs/module-behaviour.md 2: meter ENABLE driven through an inverting stage, output LOW = asserted;
 * the MAX3232 supply on its own output, active high). A line is "on" while its pin is an
 * output at the line's active level. Each change is logged and, with --control PATH, sent to
 * the emulator as one JSON line, the same events mepmod sends (docs: board-line protocol):
 *   {"line":"transceiver","on":false}   {"line":"enable","on":true}
 * The socket is connected lazily and never blocks the sketch; after a (re)connect the state
 * of every known line is sent again so a restarted emulator agrees with the board.
 *
 * Pin map file (--pins FILE; replaces the board's default map), one entry per line:
 *   enable PIN active-low|active-high        the meter ENABLE line
 *   transceiver PIN active-low|active-high   the transceiver supply line
 *   input PIN high|low                       what digitalRead returns for an input pin
 *   adc PIN VALUE                            what analogRead returns (0-4095)
 * '#' starts a comment. */
#include "ahk_internal.h"
#include "ahk_runtime.h"
#include "ahk_vt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "esp32-hal-gpio.h"

namespace ahk {
namespace {

enum LineState { LINE_UNKNOWN = -1, LINE_OFF = 0, LINE_ON = 1 };

struct Line {
    const char *name;  /* protocol name */
    const char *label; /* log wording */
    int pin = -1;
    bool active_high = true;
    LineState state = LINE_UNKNOWN;
};

struct PinState {
    int mode = 0;  /* 0: not configured */
    int level = 0; /* output register (ESP32: 0 after reset) */
};

struct Pins {
    Line enable{"enable", "ENABLE"};
    Line transceiver{"transceiver", "transceiver"};
    std::map<int, int> input_level;
    std::map<int, int> adc;
    std::map<int, PinState> pins;
    std::atomic<bool> rx_pass{true};
    int ctl_fd = -1;
    char rbuf[512];
    size_t rlen = 0;
    unsigned rx_refused = 0;
};

Pins &pm()
{
    static Pins p;
    return p;
}

bool parse_polarity(const std::string &w, bool *active_high)
{
    if (w == "active-high")
        *active_high = true;
    else if (w == "active-low")
        *active_high = false;
    else
        return false;
    return true;
}

bool load_file(Pins &p, const std::string &path, std::string *err)
{
    std::ifstream in(path);
    if (!in) {
        *err = "cannot read " + path;
        return false;
    }
    std::string raw;
    int lineno = 0;
    while (std::getline(in, raw)) {
        lineno++;
        size_t hash = raw.find('#');
        if (hash != std::string::npos)
            raw.resize(hash);
        std::istringstream ls(raw);
        std::string what, pin_s, arg, extra;
        if (!(ls >> what))
            continue;
        char *end = nullptr;
        long pin = -1;
        if (ls >> pin_s)
            pin = strtol(pin_s.c_str(), &end, 10);
        bool ok = pin >= 0 && pin < 64 && end && !*end && (ls >> arg) && !(ls >> extra);
        if (ok && (what == "enable" || what == "transceiver")) {
            Line &l = what == "enable" ? p.enable : p.transceiver;
            ok = parse_polarity(arg, &l.active_high);
            l.pin = (int)pin;
        } else if (ok && what == "input") {
            ok = arg == "high" || arg == "low";
            p.input_level[(int)pin] = arg == "high";
        } else if (ok && what == "adc") {
            long v = strtol(arg.c_str(), &end, 10);
            ok = !*end && v >= 0 && v <= 4095;
            p.adc[(int)pin] = (int)v;
        } else {
            ok = false;
        }
        if (!ok) {
            *err = path + ":" + std::to_string(lineno) +
                   ": expected 'enable|transceiver PIN active-low|active-high', 'input PIN high|low' or "
                   "'adc PIN 0-4095'";
            return false;
        }
    }
    return true;
}

/* ---- the control socket ------------------------------------------------------ */
void ctl_close(Pins &p)
{
    if (p.ctl_fd < 0)
        return;
    unwatch_fd(p.ctl_fd);
    close(p.ctl_fd);
    p.ctl_fd = -1;
    p.rlen = 0;
}

/* replies are {"ok":true} lines; a refusal is worth a warning */
void ctl_readable(void *ctx, int fd, short revents)
{
    (void)revents;
    Pins &p = *(Pins *)ctx;
    ssize_t n = read(fd, p.rbuf + p.rlen, sizeof p.rbuf - 1 - p.rlen);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        log("LINE", "control: %s closed the connection", options().control.c_str());
        ctl_close(p);
        return;
    }
    p.rlen += (size_t)n;
    p.rbuf[p.rlen] = '\0';
    char *nl;
    while ((nl = strchr(p.rbuf, '\n')) != nullptr) {
        *nl = '\0';
        if (!strstr(p.rbuf, "\"ok\":true") && !strstr(p.rbuf, "\"ok\": true")) {
            p.rx_refused++;
            log("LINE", "control: the emulator refused a line event: %s", p.rbuf);
        }
        size_t used = (size_t)(nl + 1 - p.rbuf);
        memmove(p.rbuf, nl + 1, p.rlen - used + 1);
        p.rlen -= used;
    }
    if (p.rlen >= sizeof p.rbuf - 1)
        p.rlen = 0;
}

bool ctl_send(Pins &p, const Line &l)
{
    char msg[96];
    int len = snprintf(msg, sizeof msg, "{\"line\":\"%s\",\"on\":%s}\n", l.name, l.state == LINE_ON ? "true" : "false");
    ssize_t n = send(p.ctl_fd, msg, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n != len) {
        log("LINE", "control: cannot send a line event to %s: %s", options().control.c_str(),
            n < 0 ? strerror(errno) : "short write");
        ctl_close(p);
        return false;
    }
    return true;
}

bool ctl_connect(Pins &p)
{
    const std::string &path = options().control;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        log("LINE", "control: cannot connect to %s: %s (line change not reported)", path.c_str(), strerror(errno));
        close(fd);
        return false;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    p.ctl_fd = fd;
    watch_fd(fd, POLLIN, ctl_readable, &p);
    log("LINE", "control: connected to %s", path.c_str());
    return true;
}

void report(Pins &p, Line &l)
{
    if (vt::enabled) { /* to the co-simulation, at this virtual time */
        vt::line_event(&l == &p.enable ? 0 : 1, l.state == LINE_ON);
        return;
    }
    if (options().control.empty())
        return;
    if (p.ctl_fd < 0) {
        if (!ctl_connect(p))
            return;
        /* fresh connection: every known line, not just this change */
        for (Line *x : {&p.transceiver, &p.enable})
            if (x->state != LINE_UNKNOWN && !ctl_send(p, *x))
                return;
        return;
    }
    ctl_send(p, l);
}

void update_line(Pins &p, Line &l)
{
    if (l.pin < 0)
        return;
    const PinState &s = p.pins[l.pin];
    bool driven = (s.mode & OUTPUT) == OUTPUT;
    LineState now = driven && (s.level != 0) == l.active_high ? LINE_ON : LINE_OFF;
    if (now == l.state || (l.state == LINE_UNKNOWN && !driven))
        return; /* a line is known from the first time its pin drives it */
    l.state = now;
    if (&l == &p.transceiver)
        p.rx_pass = now == LINE_ON;
    if (&l == &p.enable)
        log("LINE", "ENABLE %s (GPIO%d %s%s)", now == LINE_ON ? "asserted" : "released", l.pin,
            driven ? (s.level ? "HIGH" : "LOW") : "not an output", l.active_high ? "" : ", active low");
    else
        log("LINE", "transceiver %s (GPIO%d %s)", now == LINE_ON ? "on" : "off", l.pin,
            driven ? (s.level ? "HIGH" : "LOW") : "not an output");
    report(p, l);
}

} // namespace

bool pins_init(std::string *err)
{
    Pins &p = pm();
    const Options &o = options();
    std::string e;
    if (!o.pins_file.empty()) {
        p.enable.pin = p.transceiver.pin = -1;
        if (!load_file(p, o.pins_file, err ? err : &e))
            return false;
    } else {
        /* docs/module-behaviour.md 2: ENABLE on GPIO5 through an inverting stage on both variants;
         * the ESP32 module switches the MAX3232 supply on GPIO32, the C3 module has none */
        p.enable.pin = 5;
        p.enable.active_high = false;
        p.transceiver.pin = o.board == "esp32c3" ? -1 : 32;
        p.transceiver.active_high = true;
    }
    return true;
}

void pin_mode(int pin, int mode)
{
    Pins &p = pm();
    p.pins[pin].mode = mode;
    if (pin == p.enable.pin)
        update_line(p, p.enable);
    if (pin == p.transceiver.pin)
        update_line(p, p.transceiver);
}

void pin_write(int pin, int level)
{
    Pins &p = pm();
    p.pins[pin].level = level ? 1 : 0;
    if (pin == p.enable.pin)
        update_line(p, p.enable);
    if (pin == p.transceiver.pin)
        update_line(p, p.transceiver);
}

int pin_read(int pin)
{
    Pins &p = pm();
    auto it = p.pins.find(pin);
    if (it != p.pins.end() && (it->second.mode & OUTPUT) == OUTPUT)
        return it->second.level;
    auto lv = p.input_level.find(pin);
    if (lv != p.input_level.end())
        return lv->second;
    /* an unconnected input reads its pull resistor; a floating one reads LOW here */
    int mode = it != p.pins.end() ? it->second.mode : 0;
    return (mode & PULLUP) ? HIGH : LOW;
}

int pin_analog(int pin)
{
    Pins &p = pm();
    auto it = p.adc.find(pin);
    if (it != p.adc.end())
        return it->second;
    /* an unconnected ADC pin reads noise on the board */
    static std::minstd_rand noise(vt::enabled ? (unsigned)vt::random64() : (unsigned)now_us() ^ (unsigned)getpid());
    return (int)(noise() % 4096u);
}

bool rx_passes() { return pm().rx_pass.load(); }

} // namespace ahk
