/* wiring.cpp: Arduino timing, digital/analog I/O, random numbers and small helpers
 * (Arduino reference: millis, micros, delay, delayMicroseconds, pinMode, digitalWrite,
 * digitalRead, analogRead, random, randomSeed, map, word; ESP32 core: yield, log_x, esp_random). */
#include "Arduino.h"
#include "esp_system.h"

#include <stdarg.h>
#include <sys/random.h>
#include <time.h>

#include "ahk_internal.h"
#include "ahk_runtime.h"
#include "ahk_vt.h"

extern "C" {

/* virtual time: each call costs a quantum, so a loop that only reads the clock ends (ahk_vt.h) */
unsigned long millis(void)
{
    if (ahk::vt::enabled)
        ahk::vt::advance(ahk::vt::k_q_time_us);
    return (unsigned long)(ahk::now_us() / 1000u);
}
unsigned long micros(void)
{
    if (ahk::vt::enabled)
        ahk::vt::advance(ahk::vt::k_q_time_us);
    return (unsigned long)ahk::now_us();
}

/* delay() lets the runtime serve I/O while it waits, as the board's other tasks run while
 * the loop task sleeps */
void delay(uint32_t ms)
{
    if (ahk::vt::enabled) {
        ahk::vt::advance((uint64_t)ms * 1000u);
        return;
    }
    uint64_t end = ahk::now_us() + (uint64_t)ms * 1000u;
    for (;;) {
        uint64_t now = ahk::now_us();
        if (now >= end)
            break;
        ahk::idle((uint32_t)((end - now + 999u) / 1000u));
    }
}

/* a busy wait on the board: nothing else runs */
void delayMicroseconds(uint32_t us)
{
    if (ahk::vt::enabled) {
        ahk::vt::advance(us);
        return;
    }
    uint64_t end = ahk::now_us() + us;
    if (us > 50) {
        struct timespec ts = {(time_t)((us - 20) / 1000000u), (long)((us - 20) % 1000000u) * 1000L};
        nanosleep(&ts, nullptr);
    }
    while (ahk::now_us() < end) {
    }
}

void yield(void) { ahk::idle(0); }

uint32_t getCpuFrequencyMhz(void) { return ahk::options().board == "esp32c3" ? 160 : 240; }

void pinMode(uint8_t pin, uint8_t mode) { ahk::pin_mode(pin, mode); }
void digitalWrite(uint8_t pin, uint8_t val) { ahk::pin_write(pin, val); }
int digitalRead(uint8_t pin) { return ahk::pin_read(pin); }
uint16_t analogRead(uint8_t pin) { return (uint16_t)ahk::pin_analog(pin); }

uint32_t esp_random(void)
{
    uint32_t v = 0;
    if (ahk::vt::enabled) /* repeatable: seeded by --vt-seed */
        return (uint32_t)(ahk::vt::random64() >> 32);
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        v = (uint32_t)ahk::now_us() * 2654435761u;
    return v;
}

void esp_fill_random(void *buf, size_t len)
{
    uint8_t *p = (uint8_t *)buf;
    while (len) {
        uint32_t v = esp_random();
        size_t n = len < 4 ? len : 4;
        memcpy(p, &v, n);
        p += n;
        len -= n;
    }
}

void ahk_hal_log(char level, const char *file, int line, const char *func, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    ahk::log("HAL", "[%c][%s:%d] %s(): %s", level, base ? base + 1 : file, line, func, msg);
}

const char *esp_err_to_name(esp_err_t code)
{
    switch (code) {
    case ESP_OK: return "ESP_OK";
    case ESP_FAIL: return "ESP_FAIL";
    case ESP_ERR_NO_MEM: return "ESP_ERR_NO_MEM";
    case ESP_ERR_INVALID_ARG: return "ESP_ERR_INVALID_ARG";
    case ESP_ERR_INVALID_STATE: return "ESP_ERR_INVALID_STATE";
    case ESP_ERR_INVALID_SIZE: return "ESP_ERR_INVALID_SIZE";
    case ESP_ERR_NOT_FOUND: return "ESP_ERR_NOT_FOUND";
    case ESP_ERR_NOT_SUPPORTED: return "ESP_ERR_NOT_SUPPORTED";
    case ESP_ERR_TIMEOUT: return "ESP_ERR_TIMEOUT";
    case ESP_ERR_NVS_NOT_INITIALIZED: return "ESP_ERR_NVS_NOT_INITIALIZED";
    case ESP_ERR_NVS_NOT_FOUND: return "ESP_ERR_NVS_NOT_FOUND";
    case ESP_ERR_NVS_NO_FREE_PAGES: return "ESP_ERR_NVS_NO_FREE_PAGES";
    case ESP_ERR_NVS_NEW_VERSION_FOUND: return "ESP_ERR_NVS_NEW_VERSION_FOUND";
    default: return "UNKNOWN ERROR";
    }
}

/* ESP-IDF: a failed ESP_ERROR_CHECK aborts, and the board reboots */
void ahk_esp_error_check_failed(esp_err_t rc, const char *file, int line, const char *function, const char *expression)
{
    ahk::log("ESP", "ESP_ERROR_CHECK failed: esp_err_t 0x%x (%s) at %s:%d in %s(): %s", (unsigned)rc,
             esp_err_to_name(rc), file, line, function, expression);
    ahk::restart("abort() after ESP_ERROR_CHECK");
}

void esp_restart(void) { ahk::restart("esp_restart()"); }

} /* extern "C" */

uint16_t makeWord(uint16_t w) { return w; }
uint16_t makeWord(uint8_t h, uint8_t l) { return (uint16_t)((h << 8) | l); }

long map(long x, long in_min, long in_max, long out_min, long out_max)
{
    long run = in_max - in_min;
    if (run == 0) {
        log_e("map(): Invalid input range, min == max");
        return -1;
    }
    return (x - in_min) * (out_max - out_min) / run + out_min;
}

namespace {
struct RandomState {
    bool seeded = false;
    uint32_t state = 0;
};
RandomState &rnd()
{
    static RandomState r;
    return r;
}
uint32_t next_random()
{
    RandomState &r = rnd();
    if (!r.seeded)
        return esp_random();
    /* xorshift32: repeatable for a seed */
    uint32_t x = r.state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    r.state = x;
    return x;
}
} // namespace

void randomSeed(unsigned long seed)
{
    if (seed == 0)
        return; /* ESP32 core: a zero seed keeps the hardware generator */
    rnd().seeded = true;
    rnd().state = (uint32_t)seed ? (uint32_t)seed : 1u;
}

long random(long howbig)
{
    if (howbig == 0)
        return 0;
    if (howbig < 0)
        return random(0, -howbig);
    if ((unsigned long)howbig <= 0xffffffffUL)
        return (long)((uint64_t)next_random() * (uint64_t)howbig >> 32);
    uint64_t wide = ((uint64_t)next_random() << 32) | next_random(); /* 64-bit long only */
    return (long)(wide % (uint64_t)howbig);
}

long random(long howsmall, long howbig)
{
    if (howsmall >= howbig)
        return howsmall;
    return random(howbig - howsmall) + howsmall;
}
