/* test_core_prefs.cpp: Preferences and nvs_flash (Arduino-ESP32 Preferences API): every type
 * round-trips, a get with another type or a missing key returns the default, NVS name limits,
 * read-only namespaces, and what was written is in the namespace's file for the next boot.
 * (Persistence across a real ESP.restart() is checked by run.sh with tests/sketches/reboot.) */
#include "Arduino.h"
#include "Preferences.h"
#include "nvs_flash.h"
#include "test_core_util.h"

#include <fstream>
#include <sstream>

namespace {

void types()
{
    Preferences p;
    CHECK(!p.begin("missing", true), "read-only begin of a namespace that does not exist fails");
    CHECK(p.begin("app"), "begin");
    CHECK(!p.begin("app"), "begin twice fails");
    CHECK(p.putChar("c", -5) == 1 && p.getChar("c") == -5, "char");
    CHECK(p.putUShort("us", 65535) == 2 && p.getUShort("us") == 65535, "ushort");
    CHECK(p.putInt("i", -123456) == 4 && p.getInt("i") == -123456, "int");
    CHECK(p.putULong64("u64", 0xFFFFFFFFFFFFFFFFull) == 8 && p.getULong64("u64") == 0xFFFFFFFFFFFFFFFFull, "u64");
    CHECK(p.putLong64("i64", -9000000000LL) == 8 && p.getLong64("i64") == -9000000000LL, "i64");
    CHECK(p.putFloat("f", 1.25f) == 4 && p.getFloat("f") == 1.25f, "float");
    CHECK(p.putDouble("d", -2.5) == 8 && p.getDouble("d") == -2.5, "double");
    CHECK(p.putBool("b", true) == 1 && p.getBool("b") == true, "bool");
    CHECK(p.putString("s", "tab\there\nnl %") == 13, "putString returns the length");
    CHECK(p.getString("s") == "tab\there\nnl %", "string with control characters");
    char cbuf[32];
    CHECK(p.getString("s", cbuf, sizeof cbuf) == 14 && !strcmp(cbuf, "tab\there\nnl %"), "getString into a buffer");
    CHECK(p.getString("s", cbuf, 5) == 0, "a buffer too small gives 0");
    uint8_t blob[3] = {0, 0xff, 7}, back[8];
    CHECK(p.putBytes("blob", blob, 3) == 3 && p.getBytesLength("blob") == 3, "bytes");
    CHECK(p.getBytes("blob", back, sizeof back) == 3 && !memcmp(back, blob, 3), "getBytes");
    CHECK(p.getInt("s", 77) == 77, "a get with another type returns the default");
    CHECK(p.getString("i", "dflt") == "dflt", "string get of an int key returns the default");
    CHECK(p.getUInt("nokey", 9) == 9, "missing key: default");
    CHECK(p.getType("i") == PT_I32 && p.getType("s") == PT_STR && p.getType("blob") == PT_BLOB, "getType");
    CHECK(p.getType("nokey") == PT_INVALID && p.isKey("i") && !p.isKey("nokey"), "isKey");
    CHECK(p.putInt("sixteen-chars-xx", 1) == 0, "keys are limited to 15 characters");
    CHECK(p.remove("c") && !p.isKey("c") && !p.remove("c"), "remove");
    CHECK(p.freeEntries() > 400 && p.freeEntries() < 504, "freeEntries %zu", p.freeEntries());
    p.end();
    CHECK(p.getInt("i", 1) == 1, "after end() nothing is read");
    Preferences ro;
    CHECK(ro.begin("app", true), "read-only begin of an existing namespace");
    CHECK(ro.putInt("x", 1) == 0, "read-only: put fails");
    CHECK(ro.getInt("i") == -123456, "a new handle reads what the first wrote");
    ro.end();
}

void file_and_erase(const std::string &state)
{
    std::ifstream in(state + "/nvs/app.prefs");
    std::stringstream ss;
    ss << in.rdbuf();
    CHECK(ss.str().find("i32\ti\t-123456\n") != std::string::npos, "the namespace file holds the value");
    Preferences p;
    CHECK(p.begin("app"), "begin");
    CHECK(nvs_flash_erase() == ESP_OK, "erase");
    CHECK(p.getInt("i", 5) == 5, "an erased partition ends open handles");
    p.end();
    CHECK(!p.begin("app"), "nothing opens until nvs_flash_init");
    CHECK(nvs_flash_init() == ESP_OK && p.begin("app") && !p.isKey("i"), "after init the namespace is empty");
    p.end();
}

} // namespace

int main()
{
    ahk::Options o;
    o.state_dir = fresh_state_dir("prefs");
    ahk::init_for_test(o);
    types();
    file_and_erase(o.state_dir);
    return finish_tests("test_core_prefs");
}
