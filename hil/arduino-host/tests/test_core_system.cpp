/* test_core_system.cpp: the board's own clock (settimeofday/configTime move it, never the
 * host's), EEPROM persistence, Update's checks, the ESP object, random/randomSeed, map and
 * millis/delay. */
#include "Arduino.h"
#include "EEPROM.h"
#include "Update.h"
#include "test_core_util.h"

#include <sys/stat.h>

namespace {

time_t host_now()
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

void board_clock()
{
    time_t t = time(nullptr);
    CHECK(t >= 0 && t < 60, "a powered-up board starts at the epoch (time() = %ld)", (long)t);
    struct tm tm;
    uint32_t t0 = millis();
    CHECK(!getLocalTime(&tm, 50), "getLocalTime fails while the clock is not set");
    CHECK(millis() - t0 >= 50, "getLocalTime waited its ms");
    struct timeval tv = {1700000000, 250000};
    CHECK(settimeofday(&tv, nullptr) == 0, "settimeofday");
    CHECK(time(nullptr) - 1700000000 < 3, "the board's clock moved (%ld)", (long)time(nullptr));
    CHECK(host_now() > 1750000000, "the host's clock did not");
    struct timeval now;
    gettimeofday(&now, nullptr);
    CHECK(now.tv_sec - 1700000000 < 3, "gettimeofday reads the board clock");
    CHECK(getLocalTime(&tm, 10) && tm.tm_year == 123 && tm.tm_mon == 10, "getLocalTime after the clock is set");
    configTime(3600, 0, "pool.ntp.org");
    time_t b = time(nullptr), h = host_now();
    CHECK(b - h <= 2 && h - b <= 2, "SNTP sets the board clock to the host's time");
    struct tm local, utc;
    localtime_r(&b, &local);
    gmtime_r(&b, &utc);
    CHECK((local.tm_hour - utc.tm_hour + 24) % 24 == 1, "configTime(3600, 0): local time is UTC+1");
    configTime(0, 0, "");
}

void eeprom(const std::string &state)
{
    struct Rec {
        int32_t a;
        char s[6];
    } in = {-7, "hello"}, out = {0, ""};
    CHECK(EEPROM.begin(64) && EEPROM.length() == 64, "begin");
    CHECK(EEPROM.read(3) == 0, "a new EEPROM reads 0");
    EEPROM.write(0, 0xAB);
    EEPROM.put(4, in);
    CHECK(EEPROM.commit(), "commit");
    EEPROM.end();
    CHECK(EEPROM.begin(64), "begin again");
    EEPROM.get(4, out);
    CHECK(EEPROM.read(0) == 0xAB && out.a == -7 && !strcmp(out.s, "hello"), "read back after end/begin");
    CHECK(EEPROM.read(100) == 0, "out of range reads 0");
    struct stat st;
    CHECK(stat((state + "/eeprom.bin").c_str(), &st) == 0 && st.st_size == 64, "stored in the state directory");
    EEPROM.end();
}

void update(const std::string &state)
{
    uint8_t bad[4] = {0x00, 1, 2, 3}, good[4] = {0xE9, 1, 2, 3};
    CHECK(!Update.begin(0x200000), "larger than the app slot");
    CHECK(Update.getError() == UPDATE_ERROR_SIZE, "size error");
    CHECK(Update.begin(100), "begin");
    CHECK(Update.write(bad, 4) == 0 && Update.getError() == UPDATE_ERROR_MAGIC_BYTE, "magic byte checked");
    CHECK(!strcmp(Update.errorString(), "Wrong Magic Byte"), "errorString");
    CHECK(Update.begin(4) && Update.write(good, 4) == 4 && Update.isFinished(), "a complete image");
    CHECK(Update.end() && !Update.hasError(), "end");
    struct stat st;
    CHECK(stat((state + "/ota/firmware.bin").c_str(), &st) == 0 && st.st_size == 4, "accepted into the state dir");
    CHECK(Update.begin(10) && Update.write(good, 4) == 4, "a partial image");
    CHECK(!Update.end() && Update.getError() == UPDATE_ERROR_ABORT, "end() refuses an incomplete image");
    CHECK(Update.begin(10) && Update.write(good, 4) == 4 && Update.end(true), "end(true) takes what came");
}

void esp_and_helpers()
{
    CHECK(!strcmp(ESP.getChipModel(), "ESP32-D0WDQ6") && ESP.getChipCores() == 2, "chip facts");
    uint64_t mac = ESP.getEfuseMac();
    CHECK((mac & 0xFFFFFF) == 0xC40A24 && mac == ESP.getEfuseMac(), "MAC: Espressif OUI first, stable");
    uint32_t before = ESP.getFreeHeap();
    void *p = malloc(100000);
    memset(p, 1, 100000);
    uint32_t after = ESP.getFreeHeap();
#ifndef __SANITIZE_ADDRESS__ /* ASan's allocator is invisible to mallinfo2 */
    CHECK(before - after >= 100000, "getFreeHeap follows allocations (%u -> %u)", before, after);
#else
    (void)before, (void)after;
#endif
    free(p);
    randomSeed(42);
    long a1 = random(1000), a2 = random(10, 20);
    randomSeed(42);
    CHECK(random(1000) == a1 && random(10, 20) == a2 && a2 >= 10 && a2 < 20, "randomSeed repeats the sequence");
    CHECK(random(0) == 0 && random(5, 5) == 5, "empty ranges");
    CHECK(map(5, 0, 10, 0, 100) == 50 && map(1, 2, 2, 0, 1) == -1, "map");
    CHECK(constrain(15, 0, 10) == 10 && bit(3) == 8 && lowByte(0x1234) == 0x34 && highByte(0x1234) == 0x12, "macros");
    unsigned long m0 = millis(), u0 = micros();
    delay(50);
    CHECK(millis() - m0 >= 50 && millis() - m0 < 200, "delay(50)");
    CHECK(micros() - u0 >= 50000, "micros");
}

} // namespace

int main()
{
    ahk::Options o;
    o.state_dir = fresh_state_dir("system");
    ahk::init_for_test(o);
    board_clock();
    eeprom(o.state_dir);
    update(o.state_dir);
    esp_and_helpers();
    return finish_tests("test_core_system");
}
