/* Esp.h: the ESP32 core's ESP object (Arduino-ESP32 API, "ESP"): restart, heap and chip
 * facts. Chip facts are those of the board chosen at build time (esp32: ESP32-D0WDQ6 rev 1,
 * 2 cores, 240 MHz; esp32c3: ESP32-C3 rev 3, 1 core, 160 MHz), 4 MB flash with the core's
 * default partition scheme (1.25 MB app slots). The heap is 320 KiB less what the sketch
 * has allocated. The eFuse MAC is derived from the state directory, so each board keeps
 * its own. */
#ifndef AHK_ESP_H
#define AHK_ESP_H

#include <stdint.h>

#include "WString.h"

class EspClass {
public:
    [[noreturn]] void restart();

    uint32_t getHeapSize();
    uint32_t getFreeHeap();
    uint32_t getMinFreeHeap();
    uint32_t getMaxAllocHeap();
    uint32_t getPsramSize() { return 0; }
    uint32_t getFreePsram() { return 0; }

    uint16_t getChipRevision();
    const char *getChipModel();
    uint8_t getChipCores();
    uint32_t getCpuFreqMHz();
    uint32_t getCycleCount();
    const char *getSdkVersion();

    uint32_t getFlashChipSize() { return 4u * 1024u * 1024u; }
    uint32_t getFlashChipSpeed() { return 40000000u; }
    uint32_t getSketchSize();
    uint32_t getFreeSketchSpace();
    String getSketchMD5();
    uint64_t getEfuseMac();
};

extern EspClass ESP;

#endif
