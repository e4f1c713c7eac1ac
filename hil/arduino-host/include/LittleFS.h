/* LittleFS.h: the ESP32 core's LittleFS (Arduino-ESP32 "LittleFS"), on <state-dir>/littlefs:
 * real directories (open(path, "w", true) creates missing parents); begin() fails on an
 * unformatted partition (the directory does not exist) unless formatOnFail. */
#ifndef AHK_LITTLEFS_H
#define AHK_LITTLEFS_H

#include "FS.h"

namespace fs {

class LittleFSFS : public FS {
public:
    LittleFSFS();
    bool begin(bool formatOnFail = false, const char *basePath = "/littlefs", uint8_t maxOpenFiles = 10,
               const char *partitionLabel = "spiffs");
    bool format();
    size_t totalBytes();
    size_t usedBytes();
    void end();
};

} // namespace fs

extern fs::LittleFSFS LittleFS;

#endif
