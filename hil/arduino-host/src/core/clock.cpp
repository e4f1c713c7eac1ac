/* clock.cpp: the board's own wall clock. An ESP32 starts at the epoch when it is powered up
 * and keeps its time across a software restart; settimeofday() (and SNTP after configTime)
 * sets it. Here the board time is the host's CLOCK_REALTIME plus an offset that belongs to
 * the board: it is 0 - (host time at power-up) on the first boot, kept in the state
 * directory across ESP.restart(), and changed only by the sketch. The host's clock is never
 * touched. The sketch's time(), gettimeofday() and settimeofday() reach this file through
 * the linker (--wrap), so unmodified C library calls read the board's clock. */
#include "Arduino.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

#include "ahk_internal.h"
#include "ahk_runtime.h"
#include "ahk_vt.h"

namespace ahk {
namespace {

int64_t &offset_us()
{
    static int64_t off = 0;
    return off;
}

int64_t host_us()
{
    if (vt::enabled) /* a virtual board's "host clock" is the co-simulation's UTC */
        return vt::utc_us();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void save()
{
    std::string path = state_path("rtc");
    std::string tmp = path + ".tmp";
    FILE *f = fopen(tmp.c_str(), "w");
    if (!f)
        return;
    fprintf(f, "%lld\n", (long long)offset_us());
    bool ok = fflush(f) == 0;
    ok &= fclose(f) == 0;
    if (ok)
        rename(tmp.c_str(), path.c_str());
}

} // namespace

void clock_start()
{
    offset_us() = -host_us(); /* power-up: the board's clock reads 1970-01-01 00:00:00 */
    if (reboot_count() > 0) {
        FILE *f = fopen(state_path("rtc").c_str(), "r");
        long long v;
        if (f && fscanf(f, "%lld", &v) == 1)
            offset_us() = v;
        if (f)
            fclose(f);
    }
    save();
}

void clock_save_for_restart() { save(); }

int64_t clock_wall_us() { return host_us() + offset_us(); }

void clock_set_wall_us(int64_t us)
{
    offset_us() = us - host_us();
    save();
}

} // namespace ahk

extern "C" {

time_t __wrap_time(time_t *t)
{
    int64_t us = ahk::clock_wall_us();
    time_t s = (time_t)(us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000));
    if (t)
        *t = s;
    return s;
}

int __wrap_gettimeofday(struct timeval *tv, void *tz)
{
    (void)tz;
    if (tv) {
        int64_t us = ahk::clock_wall_us();
        tv->tv_sec = (time_t)(us / 1000000);
        tv->tv_usec = (suseconds_t)(us % 1000000);
        if (tv->tv_usec < 0) {
            tv->tv_usec += 1000000;
            tv->tv_sec -= 1;
        }
    }
    return 0;
}

int __wrap_settimeofday(const struct timeval *tv, const struct timezone *tz)
{
    (void)tz;
    if (!tv)
        return 0;
    ahk::clock_set_wall_us((int64_t)tv->tv_sec * 1000000 + tv->tv_usec);
    char buf[32];
    struct tm tm;
    time_t s = tv->tv_sec;
    gmtime_r(&s, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    ahk::log("TIME", "settimeofday: board clock set to %s UTC (the host's clock is untouched)", buf);
    return 0;
}

} /* extern "C" */

namespace {

/* POSIX TZ for a fixed offset east of UTC: "UTC-1" is one hour ahead of UTC */
std::string tz_offset(long east_sec)
{
    long west = -east_sec;
    char buf[32];
    long a = west < 0 ? -west : west;
    snprintf(buf, sizeof buf, "%s%ld:%02ld:%02ld", west < 0 ? "-" : "", a / 3600, (a / 60) % 60, a % 60);
    return buf;
}

void sntp_start(const char *s1, const char *s2, const char *s3)
{
    const char *server = s1 && *s1 ? s1 : s2 && *s2 ? s2 : s3 && *s3 ? s3 : nullptr;
    if (!server) {
        ahk::log("TIME", "configTime: no SNTP server: the board clock is left as it is");
        return;
    }
    /* no internet on the rig: the SNTP answer is the host's clock (virtual time: the co-simulation's UTC) */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    if (ahk::vt::enabled)
        us = ahk::vt::utc_us();
    ahk::clock_set_wall_us(us);
    ahk::log("TIME", "SNTP (%s): board clock synchronised to the host's clock", server);
}

} // namespace

void configTime(long gmtOffset_sec, int daylightOffset_sec, const char *server1, const char *server2,
                const char *server3)
{
    std::string tz = "UTC" + tz_offset(gmtOffset_sec);
    if (daylightOffset_sec)
        tz += "DST" + tz_offset(gmtOffset_sec + daylightOffset_sec) + ",M3.5.0,M10.5.0/3";
    setenv("TZ", tz.c_str(), 1);
    tzset();
    ahk::log("TIME", "configTime: time zone %s", tz.c_str());
    sntp_start(server1, server2, server3);
}

void configTzTime(const char *tz, const char *server1, const char *server2, const char *server3)
{
    setenv("TZ", tz ? tz : "UTC0", 1);
    tzset();
    ahk::log("TIME", "configTzTime: time zone %s", tz ? tz : "UTC0");
    sntp_start(server1, server2, server3);
}

/* ESP32 core: true once the clock is past 2016, waiting at most ms for SNTP to set it */
bool getLocalTime(struct tm *info, uint32_t ms)
{
    uint32_t start = millis();
    for (;;) {
        time_t now = __wrap_time(nullptr);
        localtime_r(&now, info);
        if (info->tm_year > 2016 - 1900)
            return true;
        if (millis() - start > ms)
            return false;
        delay(10);
    }
}
