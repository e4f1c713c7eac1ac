/* Esp.cpp: the ESP object (see Esp.h). */
#include "Esp.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "Arduino.h"
#include "esp_system.h"
#include "ahk_vt.h"
#include "ahk_runtime.h"

EspClass ESP;

namespace {
constexpr uint32_t k_heap = 320u * 1024u;
constexpr uint32_t k_app_slot = 0x140000u; /* default partition scheme: two 1.25 MB OTA slots */

uint32_t heap_used()
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks > k_heap ? k_heap : (uint32_t)mi.uordblks;
}
} // namespace

void EspClass::restart() { ahk::restart("ESP.restart()"); }

uint32_t EspClass::getHeapSize() { return k_heap; }
uint32_t EspClass::getFreeHeap() { return k_heap - heap_used(); }
uint32_t EspClass::getMinFreeHeap() { return getFreeHeap(); }
uint32_t EspClass::getMaxAllocHeap() { return getFreeHeap() > 110592u ? 110592u : getFreeHeap(); }

uint16_t EspClass::getChipRevision() { return ahk::options().board == "esp32c3" ? 3 : 1; }
const char *EspClass::getChipModel() { return ahk::options().board == "esp32c3" ? "ESP32-C3" : "ESP32-D0WDQ6"; }
uint8_t EspClass::getChipCores() { return ahk::options().board == "esp32c3" ? 1 : 2; }
uint32_t EspClass::getCpuFreqMHz() { return getCpuFrequencyMhz(); }
uint32_t EspClass::getCycleCount() { return (uint32_t)(ahk::now_us() * getCpuFrequencyMhz()); }
const char *EspClass::getSdkVersion() { return "v4.4.7 (Arduino host kit)"; }

/* the size of the program file, which stands in for the sketch's flash image (the launcher
 * names it: under qemu-i386 /proc/self/exe may be the emulator) */
uint32_t EspClass::getSketchSize()
{
    struct stat st;
    const char *fw = getenv("AHK_FIRMWARE");
    if (stat(fw && *fw ? fw : "/proc/self/exe", &st) != 0)
        return 0;
    return (uint32_t)st.st_size;
}

uint32_t EspClass::getFreeSketchSpace()
{
    uint32_t used = getSketchSize();
    return used < k_app_slot ? k_app_slot - used : 0;
}

String EspClass::getSketchMD5()
{
    char buf[33];
    uint64_t mac = getEfuseMac();
    snprintf(buf, sizeof buf, "%016llx%016llx", (unsigned long long)mac, (unsigned long long)getSketchSize());
    return String(buf);
}

/* six bytes, first MAC byte in the lowest byte as the eFuse holds it: Espressif's OUI
 * 24:0A:C4 and three bytes from the state directory's name (FNV-1a) */
uint64_t EspClass::getEfuseMac()
{
    char real[4096];
    const std::string &dir = ahk::options().state_dir;
    const char *name = realpath(dir.empty() ? "." : dir.c_str(), real) ? real : dir.c_str();
    char seed[32];
    if (ahk::vt::enabled) { /* virtual time: a fresh temporary flash per run; the run's seed keeps it repeatable */
        snprintf(seed, sizeof seed, "vt-%llu", (unsigned long long)ahk::options().vt_seed);
        name = seed;
    }
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    uint8_t mac[6] = {0x24, 0x0A, 0xC4, (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h};
    uint64_t v = 0;
    for (int i = 5; i >= 0; i--)
        v = (v << 8) | mac[i];
    return v;
}

extern "C" uint32_t esp_get_free_heap_size(void) { return ESP.getFreeHeap(); }
extern "C" uint32_t esp_get_minimum_free_heap_size(void) { return ESP.getMinFreeHeap(); }
