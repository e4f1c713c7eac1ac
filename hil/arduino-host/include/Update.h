/* Update.h: the ESP32 core's OTA updater (Arduino-ESP32 "Update"). An upload is accepted
 * into <state-dir>/ota/firmware.bin (U_FLASH) or ota/spiffs.bin (U_SPIFFS) and logged; the
 * board keeps running this build after ESP.restart(). Checks kept: the size against the
 * 1.25 MB app slot, the image magic byte 0xE9 of a firmware, and end() refusing an
 * incomplete image unless evenIfRemaining. Not provided: setMD5/md5String (MD5 checks). */
#ifndef AHK_UPDATE_H
#define AHK_UPDATE_H

#include <functional>
#include <stdint.h>
#include <stdio.h>

#include "Arduino.h"

#define UPDATE_ERROR_OK (0)
#define UPDATE_ERROR_WRITE (1)
#define UPDATE_ERROR_ERASE (2)
#define UPDATE_ERROR_READ (3)
#define UPDATE_ERROR_SPACE (4)
#define UPDATE_ERROR_SIZE (5)
#define UPDATE_ERROR_STREAM (6)
#define UPDATE_ERROR_MD5 (7)
#define UPDATE_ERROR_MAGIC_BYTE (8)
#define UPDATE_ERROR_ACTIVATE (9)
#define UPDATE_ERROR_NO_PARTITION (10)
#define UPDATE_ERROR_BAD_ARGUMENT (11)
#define UPDATE_ERROR_ABORT (12)

#define UPDATE_SIZE_UNKNOWN 0xFFFFFFFF

#define U_FLASH 0
#define U_SPIFFS 100
#define U_AUTH 200

class UpdateClass {
public:
    typedef std::function<void(size_t, size_t)> THandlerFunction_Progress;

    UpdateClass &onProgress(THandlerFunction_Progress fn);
    bool begin(size_t size = UPDATE_SIZE_UNKNOWN, int command = U_FLASH, int ledPin = -1, uint8_t ledOn = LOW,
               const char *label = NULL);
    size_t write(uint8_t *data, size_t len);
    size_t writeStream(Stream &data);
    bool end(bool evenIfRemaining = false);
    void abort();
    void printError(Print &out);
    const char *errorString();
    bool hasError() { return error_ != UPDATE_ERROR_OK; }
    bool isRunning() { return size_ > 0; }
    bool isFinished() { return progress_ == size_; }
    size_t size() { return size_; }
    size_t progress() { return progress_; }
    size_t remaining() { return size_ - progress_; }
    uint8_t getError() { return error_; }
    void clearError() { error_ = UPDATE_ERROR_OK; }
    bool canRollBack() { return false; }
    bool rollBack() { return false; }

private:
    void fail(uint8_t err);
    uint8_t error_ = UPDATE_ERROR_OK;
    size_t size_ = 0;
    size_t progress_ = 0;
    int command_ = U_FLASH;
    FILE *f_ = nullptr;
    THandlerFunction_Progress progress_cb_;
};

extern UpdateClass Update;

#endif
