/* SPIFFS.h: the ESP32 core's SPIFFS (Arduino-ESP32 "SPIFFS"), on <state-dir>/spiffs. SPIFFS
 * rules kept: a flat name space (writing "/a/b.txt" needs no directory, listing "/" shows
 * every file), names of at most 31 characters, no mkdir; begin() fails on an unformatted
 * partition (the directory does not exist) unless formatOnFail. Put files in that directory
 * to give the board a SPIFFS image. */
#ifndef AHK_SPIFFS_H
#define AHK_SPIFFS_H

#include "FS.h"

namespace fs {

class SPIFFSFS : public FS {
public:
    SPIFFSFS();
    bool begin(bool formatOnFail = false, const char *basePath = "/spiffs", uint8_t maxOpenFiles = 10,
               const char *partitionLabel = NULL);
    bool format();
    size_t totalBytes();
    size_t usedBytes();
    void end();
};

} // namespace fs

extern fs::SPIFFSFS SPIFFS;

#endif
