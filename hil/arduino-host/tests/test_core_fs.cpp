/* test_core_fs.cpp: SPIFFS and LittleFS on the state directory (Arduino-ESP32 FS API):
 * mounting an unformatted partition, files written, appended, read back, listed, renamed and
 * removed, SPIFFS's flat names and 31-character limit, LittleFS's directories. */
#include "Arduino.h"
#include "LittleFS.h"
#include "SPIFFS.h"
#include "test_core_util.h"

#include <sys/stat.h>

namespace {

void spiffs()
{
    CHECK(!SPIFFS.open("/x.txt", FILE_WRITE), "open before begin fails");
    CHECK(!SPIFFS.begin(false), "an unformatted partition does not mount");
    CHECK(SPIFFS.begin(true), "begin(true) formats and mounts");
    File f = SPIFFS.open("/www/index.html", FILE_WRITE);
    CHECK((bool)f, "a flat name with a slash needs no directory");
    CHECK(f.print("<html>") == 6 && f.println(42) == 4, "print into a file");
    f.close();
    CHECK(!f, "closed file is false");
    File a = SPIFFS.open("/www/index.html", FILE_APPEND);
    a.write((const uint8_t *)"!", 1);
    a.close();
    File r = SPIFFS.open("/www/index.html");
    CHECK(r.size() == 11, "size %zu", r.size());
    CHECK_STR(r.name(), "index.html");
    CHECK_STR(r.path(), "/www/index.html");
    CHECK(r.peek() == '<' && r.read() == '<', "peek/read");
    CHECK(r.available() == 10, "available %d", r.available());
    String rest = r.readString(); /* File's timeout is 0: no waiting at the end */
    CHECK_STR(rest.c_str(), "html>42\r\n!");
    CHECK(r.seek(1) && r.read() == 'h', "seek");
    r.close();
    CHECK(SPIFFS.exists("/www/index.html") && !SPIFFS.exists("/nope"), "exists");
    CHECK(!SPIFFS.open("/nope", FILE_READ), "reading a missing file fails");
    CHECK(!SPIFFS.open("/a-name-that-is-longer-than-31-chars.txt", FILE_WRITE), "31-character limit");
    File w2 = SPIFFS.open("/b.txt", FILE_WRITE);
    w2.print("bb");
    w2.close();
    File root = SPIFFS.open("/");
    CHECK(root && root.isDirectory(), "root is a directory");
    std::string names;
    for (File e = root.openNextFile(); e; e = root.openNextFile())
        names += std::string(e.path()) + ";";
    CHECK_STR(names, "/b.txt;/www/index.html;");
    CHECK(SPIFFS.usedBytes() == 13, "usedBytes %zu", SPIFFS.usedBytes());
    CHECK(SPIFFS.rename("/b.txt", "/c.txt") && SPIFFS.exists("/c.txt") && !SPIFFS.exists("/b.txt"), "rename");
    CHECK(SPIFFS.remove("/c.txt") && !SPIFFS.exists("/c.txt"), "remove");
    CHECK(!SPIFFS.remove("/c.txt"), "removing twice fails");
    CHECK(!SPIFFS.mkdir("/d"), "SPIFFS has no directories");
    CHECK(SPIFFS.format() && !SPIFFS.exists("/www/index.html"), "format empties the partition");
    CHECK(SPIFFS.totalBytes() > 1000000, "totalBytes");
}

void littlefs()
{
    CHECK(LittleFS.begin(true), "LittleFS mounts");
    CHECK(!LittleFS.open("/d/x.txt", FILE_WRITE), "no parent directory: open fails");
    CHECK(LittleFS.open("/d/x.txt", FILE_WRITE, true), "create=true makes the parents");
    CHECK(LittleFS.mkdir("/e"), "mkdir");
    File d = LittleFS.open("/");
    int n = 0, dirs = 0;
    for (File e = d.openNextFile(); e; e = d.openNextFile()) {
        n++;
        dirs += e.isDirectory();
    }
    CHECK(n == 2 && dirs == 2, "root lists two directories (got %d, %d)", n, dirs);
    CHECK(LittleFS.rmdir("/e"), "rmdir");
}

} // namespace

int main()
{
    ahk::Options o;
    o.state_dir = fresh_state_dir("fs");
    ahk::init_for_test(o);
    spiffs();
    littlefs();
    struct stat st;
    CHECK(stat((o.state_dir + "/littlefs/d/x.txt").c_str(), &st) == 0, "files live in the state directory");
    return finish_tests("test_core_fs");
}
