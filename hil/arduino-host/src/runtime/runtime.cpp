/* runtime.cpp: options, board clock, board log, wait loop and state directory of a sketch
 * built with the kit (see ahk_runtime.h). The command-line options are rows of one table,
 * from which parsing, --help and the error messages follow. */
#include "ahk_runtime.h"
#include "ahk_internal.h"
#include "ahk_vt.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mutex>

#ifndef AHK_BOARD
#define AHK_BOARD "esp32"
#endif

namespace ahk {
namespace {

struct Watch {
    int fd;
    short events;
    FdCallback cb;
    void *ctx;
};

struct Runtime {
    Options opt;
    bool have_opt = false;
    uint64_t mono0_ns = 0;
    std::vector<Watch> watches;
    unsigned reboots = 0;
    std::string prog = "sketch";
    std::mutex log_mu;
};

Runtime &rt()
{
    static Runtime r;
    return r;
}

uint64_t mono_ns()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- option table ------------------------------------------------------------ */
using Setter = bool (*)(Options &o, const char *val, std::string &err);

struct OptRow {
    const char *name;
    const char *arg; /* nullptr: a flag */
    const char *help;
    Setter set;
};

bool parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || errno || s[0] == '-' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

const char *const k_serial_names_esp32[] = {"Serial1", "Serial2", "SoftwareSerial", nullptr};
const char *const k_serial_names_esp32c3[] = {"Serial1", "SoftwareSerial", nullptr};

bool set_serial(Options &o, const char *val, std::string &err)
{
    const char *eq = strchr(val, '=');
    if (!eq || eq == val || !eq[1]) {
        err = "expected NAME=PATH[:BAUD], e.g. Serial2=/dev/pts/3:9600";
        return false;
    }
    SerialSpec s;
    s.name.assign(val, (size_t)(eq - val));
    s.path = eq + 1;
    const char *const *names = o.board == "esp32c3" ? k_serial_names_esp32c3 : k_serial_names_esp32;
    bool known = false;
    std::string list;
    for (const char *const *n = names; *n; n++) {
        known |= s.name == *n;
        list += list.empty() ? *n : std::string(", ") + *n;
    }
    if (!known) {
        err = "'" + s.name + "' is not a serial port of an " + o.board + " (one of: " + list + ")";
        return false;
    }
    size_t colon = s.path.rfind(':');
    if (colon != std::string::npos) {
        unsigned long baud;
        if (!parse_uint(s.path.c_str() + colon + 1, 50, 5000000, &baud)) {
            err = "baud rate '" + s.path.substr(colon + 1) + "' is not a number from 50 to 5000000";
            return false;
        }
        s.baud = baud;
        s.path.resize(colon);
    }
    if (s.path.empty()) {
        err = "empty device path";
        return false;
    }
    for (const SerialSpec &x : o.serials)
        if (x.name == s.name) {
            err = s.name + " given twice";
            return false;
        }
    o.serials.push_back(s);
    return true;
}

bool set_http_port(Options &o, const char *val, std::string &err)
{
    unsigned long p;
    if (!parse_uint(val, 1, 65535, &p)) {
        err = std::string("'") + val + "' is not a TCP port (1-65535)";
        return false;
    }
    o.http_port = (int)p;
    return true;
}

bool set_state_dir(Options &o, const char *val, std::string &err)
{
    if (!*val) {
        err = "empty directory name";
        return false;
    }
    o.state_dir = val;
    return true;
}

bool set_control(Options &o, const char *val, std::string &err)
{
    if (!*val || strlen(val) >= 108) {
        err = std::string("'") + val + "' cannot be a Unix socket path (1-107 characters)";
        return false;
    }
    o.control = val;
    return true;
}

bool set_mqtt(Options &o, const char *val, std::string &err)
{
    const char *colon = strrchr(val, ':');
    unsigned long p;
    if (!colon || colon == val || !parse_uint(colon + 1, 1, 65535, &p)) {
        err = std::string("'") + val + "' is not HOST:PORT (port 1-65535)";
        return false;
    }
    o.mqtt_host.assign(val, (size_t)(colon - val));
    o.mqtt_port = (int)p;
    return true;
}

bool set_pins(Options &o, const char *val, std::string &err)
{
    if (access(val, R_OK) != 0) {
        err = std::string("cannot read '") + val + "': " + strerror(errno);
        return false;
    }
    o.pins_file = val;
    return true;
}

bool set_loop_pause(Options &o, const char *val, std::string &err)
{
    unsigned long us;
    if (!parse_uint(val, 0, 100000, &us)) {
        err = std::string("'") + val + "' is not a number of microseconds (0-100000)";
        return false;
    }
    o.loop_pause_us = (unsigned)us;
    return true;
}

bool set_bridge(Options &o, const char *val, std::string &err)
{
    if (access(val, X_OK) != 0) {
        err = std::string("'") + val + "' is not an executable program";
        return false;
    }
    o.bridge_path = val;
    return true;
}

#ifdef AHK_VIRTUAL_TIME
bool set_vt_fd(Options &o, const char *val, std::string &err)
{
    unsigned long fd;
    if (!parse_uint(val, 3, 1023, &fd)) {
        err = std::string("'") + val + "' is not a file descriptor (3-1023)";
        return false;
    }
    o.vt_fd = (int)fd;
    return true;
}

bool set_vt_seed(Options &o, const char *val, std::string &err)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(val, &end, 10);
    if (!*val || *end || errno || val[0] == '-') {
        err = std::string("'") + val + "' is not a seed (a non-negative integer)";
        return false;
    }
    o.vt_seed = v;
    return true;
}

bool set_vt_utc(Options &o, const char *val, std::string &err)
{
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (!*val || *end || errno) {
        err = std::string("'") + val + "' is not a time in ms since the epoch";
        return false;
    }
    o.vt_utc_base_ms = v;
    return true;
}
#endif

const OptRow k_options[] = {
    {"--serial", "NAME=PATH[:BAUD]",
     "connect the sketch's Serial1, Serial2 or SoftwareSerial to a PTY or UART; BAUD is the line's rate "
     "(a sketch that begins another rate is warned about); repeatable",
     set_serial},
    {"--http-port", "N", "serve the sketch's WebServer (port 80 on the board) on 127.0.0.1:N", set_http_port},
    {"--state-dir", "DIR",
     "the board's flash: Preferences, SPIFFS/LittleFS, EEPROM, OTA uploads and the reboot counter (created if "
     "missing; default: the program's name + .state)",
     set_state_dir},
    {"--control", "PATH", "send board-line events (meter ENABLE, transceiver supply) to this Unix socket (mepsim --control)",
     set_control},
    {"--mqtt", "HOST:PORT", "the MQTT broker the sketch's PubSubClient reaches (whatever server it names)", set_mqtt},
    {"--pins", "FILE", "pin map replacing the board's default (see the kit's README, \"Pin maps\")", set_pins},
    {"--bridge", "PATH", "the native MQTT bridge program (the launcher passes it)", set_bridge},
    {"--loop-pause-us", "N",
     "sleep N us between loop() calls (default 100) so a sketch that never waits does not keep a host core busy; "
     "0 spins as the board's loop task does",
     set_loop_pause},
#ifdef AHK_VIRTUAL_TIME
    {"--vt-fd", "N", "virtual time: the co-simulation's socket (mepsim-cosim --firmware passes it)", set_vt_fd},
    {"--vt-seed", "N", "virtual time: seed of esp_random() and the other generators", set_vt_seed},
    {"--vt-utc-base-ms", "N", "virtual time: UTC (ms since the epoch) at virtual time 0", set_vt_utc},
#endif
    {"--help", nullptr, "show this help and exit", nullptr},
};

void usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s [options]\n", prog);
    fprintf(f, "An Arduino sketch built by the Arduino host kit for an %s board.\n\n", AHK_BOARD);
    for (const OptRow &r : k_options) {
        std::string lhs = std::string(r.name) + (r.arg ? std::string(" ") + r.arg : "");
        fprintf(f, "  %-30s %s\n", lhs.c_str(), r.help);
    }
}

[[noreturn]] void bad_usage(const char *prog, const std::string &msg)
{
    fprintf(stderr, "%s: %s (see --help)\n", prog, msg.c_str());
    exit(2);
}

bool mkdir_p(const std::string &path)
{
    std::string cur;
    size_t i = 0;
    while (i <= path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string::npos)
            j = path.size();
        cur = path.substr(0, j);
        if (!cur.empty() && mkdir(cur.c_str(), 0777) != 0 && errno != EEXIST)
            return false;
        i = j + 1;
    }
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/* <state-dir>/reboots: restarts since power-up, for the rig (written atomically) */
void write_reboots(const std::string &dir, unsigned n)
{
    std::string path = dir + "/reboots", tmp = path + ".tmp";
    FILE *f = fopen(tmp.c_str(), "w");
    if (!f)
        return;
    fprintf(f, "%u\n", n);
    if (fclose(f) == 0)
        rename(tmp.c_str(), path.c_str());
}

} // namespace

const Options &options() { return rt().opt; }

uint64_t now_us()
{
    if (vt::enabled)
        return vt::boot_us();
    Runtime &r = rt();
    if (r.mono0_ns == 0)
        r.mono0_ns = mono_ns();
    return (mono_ns() - r.mono0_ns) / 1000u;
}

void log(const char *tag, const char *fmt, ...)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (vt::enabled && vt::started()) { /* the co-simulation's UTC: a repeatable log */
        int64_t us = vt::utc_us();
        ts.tv_sec = (time_t)(us / 1000000);
        ts.tv_nsec = (long)(us % 1000000) * 1000L;
    }
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    std::lock_guard<std::mutex> lock(rt().log_mu);
    fprintf(stderr, "%02d:%02d:%02d.%03ld %s %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, tag, msg);
    fflush(stderr);
}

void watch_fd(int fd, short events, FdCallback cb, void *ctx)
{
    unwatch_fd(fd);
    rt().watches.push_back(Watch{fd, events, cb, ctx});
}

void unwatch_fd(int fd)
{
    auto &w = rt().watches;
    for (size_t i = 0; i < w.size(); i++)
        if (w[i].fd == fd) {
            w.erase(w.begin() + (long)i);
            return;
        }
}

void idle(uint32_t max_wait_ms)
{
    if (vt::enabled) { /* nothing to wait for: the time passes (ahk_vt.h, the busy-wait rule) */
        vt::advance(max_wait_ms ? (uint64_t)max_wait_ms * 1000u : vt::k_q_yield_us);
        return;
    }
    Runtime &r = rt();
    if (r.watches.empty()) {
        if (max_wait_ms) {
            struct timespec ts = {(time_t)(max_wait_ms / 1000), (long)(max_wait_ms % 1000) * 1000000L};
            nanosleep(&ts, nullptr);
        }
        return;
    }
    std::vector<Watch> ws = r.watches; /* callbacks may watch/unwatch while we dispatch */
    std::vector<struct pollfd> pfd(ws.size());
    for (size_t i = 0; i < ws.size(); i++)
        pfd[i] = {ws[i].fd, ws[i].events, 0};
    int n = poll(pfd.data(), pfd.size(), (int)max_wait_ms);
    if (n <= 0)
        return;
    for (size_t i = 0; i < ws.size(); i++) {
        if (!pfd[i].revents)
            continue;
        bool still = false; /* skip fds an earlier callback unwatched */
        for (const Watch &w : r.watches)
            still |= w.fd == ws[i].fd && w.cb == ws[i].cb && w.ctx == ws[i].ctx;
        if (still)
            ws[i].cb(ws[i].ctx, ws[i].fd, pfd[i].revents);
    }
}

std::string state_path(const std::string &relative)
{
    Runtime &r = rt();
    std::string base = r.opt.state_dir.empty() ? "." : r.opt.state_dir;
    std::string p = base + "/" + relative;
    size_t slash = p.rfind('/');
    if (slash != std::string::npos)
        mkdir_p(p.substr(0, slash));
    return p;
}

unsigned reboot_count() { return rt().reboots; }

void restart(const char *why)
{
    log("ESP", "restart: %s; the launcher starts the sketch again", why);
    clock_save_for_restart();
    if (vt::enabled) /* the co-simulation's clock goes on from here, not from the last sync */
        vt::sync_now();
    fflush(stdout);
    fflush(stderr);
    _exit(k_exit_restart);
}

void init_for_test(const Options &o)
{
    Runtime &r = rt();
    r.opt = o;
    r.have_opt = true;
    if (!r.opt.state_dir.empty())
        mkdir_p(r.opt.state_dir);
    setenv("TZ", "UTC0", 1);
    tzset();
    now_us();
    pins_init();
    clock_start();
}

/* main()'s first step: options, state directory, board clock; exits 2 on bad usage. */
void runtime_start(int argc, char **argv)
{
    Runtime &r = rt();
    const char *pn = getenv("AHK_PROG_NAME");
    r.prog = pn && *pn ? pn : argv[0];
    const char *prog = r.prog.c_str();
    r.opt.board = AHK_BOARD;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        std::string name = eq && a[0] == '-' ? std::string(a, (size_t)(eq - a)) : a;
        const OptRow *row = nullptr;
        for (const OptRow &rr : k_options)
            if (name == rr.name)
                row = &rr;
        if (!row)
            bad_usage(prog, a[0] == '-' ? "unknown option '" + name + "'" : "unexpected argument '" + name + "'");
        if (!row->arg) {
            usage(stdout, prog);
            exit(0);
        }
        const char *val = eq ? eq + 1 : nullptr;
        if (!val) {
            if (i + 1 >= argc)
                bad_usage(prog, name + " needs a value: " + row->arg);
            val = argv[++i];
        }
        std::string err;
        if (!row->set(r.opt, val, err))
            bad_usage(prog, name + ": " + err);
    }
#ifdef AHK_VIRTUAL_TIME
    if (r.opt.vt_fd < 0) /* checked before anything is created */
        bad_usage(prog, "this is a virtual-time build (--virtual-time): run it with mepsim-cosim --firmware " +
                            r.prog);
#endif
    std::string perr;
    if (!pins_init(&perr))
        bad_usage(prog, "--pins: " + perr);
    if (r.opt.state_dir.empty())
        r.opt.state_dir = r.prog + ".state";
    if (!mkdir_p(r.opt.state_dir))
        bad_usage(prog, "--state-dir: cannot create '" + r.opt.state_dir + "': " + strerror(errno));
    r.have_opt = true;
    const char *boots = getenv("AHK_REBOOTS");
    r.reboots = boots ? (unsigned)strtoul(boots, nullptr, 10) : 0;
    write_reboots(r.opt.state_dir, r.reboots);
#ifdef AHK_VIRTUAL_TIME
    vt::start(r.opt.vt_fd, r.opt.vt_seed, r.opt.vt_utc_base_ms, r.reboots);
#endif
    /* an ESP32 starts with no time zone: local time is UTC until configTime/setenv say otherwise */
    setenv("TZ", "UTC0", 1);
    tzset();
    now_us();
    clock_start();
    log("BOOT", "%s board, state in %s, boot %u since power-up", AHK_BOARD, r.opt.state_dir.c_str(), r.reboots + 1);
}

} // namespace ahk
