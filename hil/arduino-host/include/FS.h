/* FS.h: the ESP32 core's file system API (Arduino-ESP32 "FS"/"File"): SPIFFS and LittleFS
 * mount a directory of the board's state directory (<state-dir>/spiffs, /littlefs).
 * File is a Stream (timeout 0: a read at the end returns at once); name() is the last path
 * component and path() the full path, as in core 2.x. */
#ifndef AHK_FS_H
#define AHK_FS_H

#include <memory>
#include <time.h>

#include "Arduino.h"

#define FILE_READ "r"
#define FILE_WRITE "w"
#define FILE_APPEND "a"

namespace fs {

enum SeekMode { SeekSet = 0, SeekCur = 1, SeekEnd = 2 };

class FileImpl;
typedef std::shared_ptr<FileImpl> FileImplPtr;
class FSImpl;
typedef std::shared_ptr<FSImpl> FSImplPtr;

class File : public Stream {
public:
    File(FileImplPtr p = FileImplPtr());

    size_t write(uint8_t) override;
    size_t write(const uint8_t *buf, size_t size) override;
    using Print::write;
    int available() override;
    int read() override;
    int peek() override;
    void flush() override;
    size_t read(uint8_t *buf, size_t size);
    size_t readBytes(char *buffer, size_t length) override { return read((uint8_t *)buffer, length); }
    using Stream::readBytes;

    bool seek(uint32_t pos, SeekMode mode);
    bool seek(uint32_t pos) { return seek(pos, SeekSet); }
    size_t position() const;
    size_t size() const;
    bool setBufferSize(size_t size);
    void close();
    operator bool() const;
    time_t getLastWrite();
    const char *path() const;
    const char *name() const;

    boolean isDirectory(void);
    boolean seekDir(long position);
    File openNextFile(const char *mode = FILE_READ);
    String getNextFileName(void);
    String getNextFileName(boolean *isDir);
    void rewindDirectory(void);

protected:
    FileImplPtr p_;
};

class FS {
public:
    FS(FSImplPtr impl) : impl_(impl) {}
    virtual ~FS() {}

    File open(const char *path, const char *mode = FILE_READ, const bool create = false);
    File open(const String &path, const char *mode = FILE_READ, const bool create = false)
    {
        return open(path.c_str(), mode, create);
    }
    bool exists(const char *path);
    bool exists(const String &path) { return exists(path.c_str()); }
    bool remove(const char *path);
    bool remove(const String &path) { return remove(path.c_str()); }
    bool rename(const char *pathFrom, const char *pathTo);
    bool rename(const String &pathFrom, const String &pathTo) { return rename(pathFrom.c_str(), pathTo.c_str()); }
    bool mkdir(const char *path);
    bool mkdir(const String &path) { return mkdir(path.c_str()); }
    bool rmdir(const char *path);
    bool rmdir(const String &path) { return rmdir(path.c_str()); }

protected:
    FSImplPtr impl_;
};

} // namespace fs

using fs::File;
using fs::FS;
using fs::SeekCur;
using fs::SeekEnd;
using fs::SeekMode;
using fs::SeekSet;

#endif
