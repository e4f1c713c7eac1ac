/* ahk_runtime.h: the host runtime under the Arduino API (not an Arduino header; the kit's
 * own libraries use it). It owns the program's options, the board clock, the board log and
 * the wait loop: delay(), yield() and Stream timeouts call idle(), which polls the file
 * descriptors libraries registered with watch_fd and runs their callbacks. */
#ifndef AHK_RUNTIME_H
#define AHK_RUNTIME_H

#include <stdint.h>

#include <string>
#include <vector>

namespace ahk {

struct SerialSpec {
    std::string name;      /* Serial1, Serial2 or SoftwareSerial */
    std::string path;      /* PTY or UART device */
    unsigned long baud = 0; /* the line's baud rate, 0 = whatever the sketch chooses */
};

struct Options {
    std::string http_host = "127.0.0.1";
    int http_port = -1;            /* --http-port N (WebServer(80) is served here) */
    std::string mqtt_host;         /* --mqtt HOST:PORT (empty = none) */
    int mqtt_port = -1;
    std::string state_dir;         /* --state-dir DIR */
    std::string control;           /* --control PATH (board-line events) */
    std::string bridge_path;       /* --bridge PATH: the native MQTT bridge program */
    std::string board = "esp32";   /* fixed when the sketch was built (--board) */
    std::string pins_file;         /* --pins FILE */
    unsigned loop_pause_us = 100;  /* --loop-pause-us N: host CPU relief between loop() calls */
    std::vector<SerialSpec> serials;
    /* a --virtual-time build (src/runtime/ahk_vt.h): the co-simulation's socket, seed, UTC base */
    int vt_fd = -1;                /* --vt-fd N */
    uint64_t vt_seed = 1;          /* --vt-seed N */
    int64_t vt_utc_base_ms = 0;    /* --vt-utc-base-ms N: UTC in ms at virtual time 0 */
};

const Options &options();

/* The board clock: microseconds since this boot (millis()/micros() derive from it). */
uint64_t now_us();

/* One timestamped line on stderr: "HH:MM:SS.mmm TAG message" (host UTC wall time). */
void log(const char *tag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Wait for I/O at most max_wait_ms (0: only run what is ready now). */
void idle(uint32_t max_wait_ms);

using FdCallback = void (*)(void *ctx, int fd, short revents);
void watch_fd(int fd, short events, FdCallback cb, void *ctx); /* poll() events; replaces an earlier watch of fd */
void unwatch_fd(int fd);

/* A file or directory below the state directory (created on first use). */
std::string state_path(const std::string &relative);

/* How many times this board has restarted since it was powered up (0 on the first boot). */
unsigned reboot_count();

/* ESP.restart(): flush, leave; the launcher starts the program again. */
[[noreturn]] void restart(const char *why);

/* Used by the kit's tests: set options without main(). */
void init_for_test(const Options &o);

} // namespace ahk

#endif
