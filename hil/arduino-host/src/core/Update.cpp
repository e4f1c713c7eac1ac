/* Update.cpp: OTA uploads into the state directory (see Update.h). */
#include "Update.h"

#include <string.h>

#include "ahk_runtime.h"

UpdateClass Update;

namespace {
constexpr size_t k_app_slot = 0x140000; /* default partition scheme */
constexpr size_t k_spiffs_part = 0x160000;
constexpr uint8_t k_image_magic = 0xE9; /* ESP-IDF app image header */

const char *const k_errors[] = {"No Error",        "Flash Write Failed",   "Flash Erase Failed",
                                "Flash Read Failed", "Not Enough Space",   "Bad Size Given",
                                "Stream Read Timeout", "MD5 Check Failed", "Wrong Magic Byte",
                                "Could Not Activate The Firmware", "Partition Could Not be Found",
                                "Bad Argument",    "Aborted"};

std::string target(int command) { return ahk::state_path(command == U_SPIFFS ? "ota/spiffs.bin" : "ota/firmware.bin"); }
} // namespace

UpdateClass &UpdateClass::onProgress(THandlerFunction_Progress fn)
{
    progress_cb_ = fn;
    return *this;
}

void UpdateClass::fail(uint8_t err)
{
    error_ = err;
    ahk::log("OTA", "update failed: %s", k_errors[err]);
    abort();
    error_ = err;
}

bool UpdateClass::begin(size_t size, int command, int ledPin, uint8_t ledOn, const char *label)
{
    (void)ledPin, (void)ledOn, (void)label;
    if (size_ > 0) {
        ahk::log("OTA", "begin: an update is already running");
        return false;
    }
    error_ = UPDATE_ERROR_OK;
    progress_ = 0;
    if (size == 0) {
        error_ = UPDATE_ERROR_SIZE;
        return false;
    }
    if (command != U_FLASH && command != U_SPIFFS) {
        error_ = UPDATE_ERROR_BAD_ARGUMENT;
        return false;
    }
    size_t max = command == U_SPIFFS ? k_spiffs_part : k_app_slot;
    if (size == UPDATE_SIZE_UNKNOWN)
        size = max;
    if (size > max) {
        error_ = UPDATE_ERROR_SIZE;
        ahk::log("OTA", "begin(%zu): larger than the %zu-byte partition", size, max);
        return false;
    }
    command_ = command;
    f_ = fopen((target(command) + ".part").c_str(), "wb");
    if (!f_) {
        error_ = UPDATE_ERROR_ERASE;
        return false;
    }
    size_ = size;
    ahk::log("OTA", "begin: %s update of up to %zu bytes", command == U_SPIFFS ? "SPIFFS" : "firmware", size);
    return true;
}

size_t UpdateClass::write(uint8_t *data, size_t len)
{
    if (hasError() || !isRunning())
        return 0;
    if (len > remaining()) {
        fail(UPDATE_ERROR_SPACE);
        return 0;
    }
    if (progress_ == 0 && len > 0 && command_ == U_FLASH && data[0] != k_image_magic) {
        fail(UPDATE_ERROR_MAGIC_BYTE);
        return 0;
    }
    if (fwrite(data, 1, len, f_) != len) {
        fail(UPDATE_ERROR_WRITE);
        return 0;
    }
    progress_ += len;
    if (progress_cb_)
        progress_cb_(progress_, size_);
    return len;
}

size_t UpdateClass::writeStream(Stream &data)
{
    size_t written = 0;
    uint8_t buf[1024];
    while (remaining() && !hasError()) {
        size_t want = remaining() < sizeof buf ? remaining() : sizeof buf;
        size_t got = data.readBytes(buf, want);
        if (got == 0) {
            fail(UPDATE_ERROR_STREAM);
            break;
        }
        if (write(buf, got) != got)
            break;
        written += got;
    }
    return written;
}

bool UpdateClass::end(bool evenIfRemaining)
{
    if (hasError() || size_ == 0)
        return false;
    if (!isFinished() && !evenIfRemaining) {
        fail(UPDATE_ERROR_ABORT);
        return false;
    }
    if (evenIfRemaining)
        size_ = progress_;
    bool ok = fclose(f_) == 0;
    f_ = nullptr;
    std::string path = target(command_);
    ok = ok && rename((path + ".part").c_str(), path.c_str()) == 0;
    if (!ok) {
        error_ = UPDATE_ERROR_ACTIVATE;
        size_ = progress_ = 0;
        return false;
    }
    ahk::log("OTA", "accepted %zu bytes into %s (the kit keeps running this build after a restart)", progress_,
             path.c_str());
    size_ = progress_ = 0;
    return true;
}

void UpdateClass::abort()
{
    if (f_) {
        fclose(f_);
        f_ = nullptr;
        remove((target(command_) + ".part").c_str());
    }
    size_ = progress_ = 0;
    error_ = UPDATE_ERROR_ABORT;
}

void UpdateClass::printError(Print &out) { out.println(errorString()); }

const char *UpdateClass::errorString() { return k_errors[error_ <= UPDATE_ERROR_ABORT ? error_ : UPDATE_ERROR_ABORT]; }
