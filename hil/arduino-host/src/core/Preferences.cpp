/* Preferences.cpp: Preferences and nvs_flash on files (see Preferences.h).
 *
 * File format, one entry per line, in the order the keys were first written:
 *   TYPE<TAB>KEY<TAB>VALUE
 * TYPE is i8 u8 i16 u16 i32 u32 i64 u64 str blob; integers are decimal, blobs hex, keys and
 * strings with %XX for '%', control characters and bytes >= 0x7f. Floats, doubles are
 * blobs and bools u8, as the ESP32 library stores them. */
#include "Preferences.h"
#include "nvs_flash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "ahk_vt.h"
#include "ahk_runtime.h"

namespace {

const char *const k_type_names[] = {"i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "str", "blob"};
const size_t k_int_size[] = {1, 1, 2, 2, 4, 4, 8, 8};
constexpr size_t k_max_key = 15;
constexpr size_t k_max_str = 4000;
constexpr size_t k_max_blob = 508000;
constexpr size_t k_total_entries = 504; /* 20 KB default partition: 4 usable pages of 126 */

struct Entry {
    std::string key;
    int type;
    std::string data; /* integers little-endian in their width; str without NUL; blob bytes */
};

struct NvsState {
    bool initialized = true; /* the core initialises NVS before setup() */
    unsigned generation = 1;
};

NvsState &nvs()
{
    static NvsState s;
    return s;
}

std::string escape(const std::string &s)
{
    std::string o;
    for (unsigned char c : s) {
        if (c < 0x20 || c >= 0x7f || c == '%') {
            char b[4];
            snprintf(b, sizeof b, "%%%02X", c);
            o += b;
        } else {
            o += (char)c;
        }
    }
    return o;
}

bool unescape(const std::string &s, std::string &o)
{
    o.clear();
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] != '%') {
            o += s[i];
            continue;
        }
        unsigned v;
        if (i + 2 >= s.size() || sscanf(s.substr(i + 1, 2).c_str(), "%2X", &v) != 1)
            return false;
        o += (char)v;
        i += 2;
    }
    return true;
}

std::string ns_file(const char *name) { return ahk::state_path("nvs/" + escape(name) + ".prefs"); }

bool file_exists(const std::string &p) { return access(p.c_str(), F_OK) == 0; }

/* false if the file is missing or damaged (a damaged namespace reads as empty, like an NVS
 * page that fails its CRC) */
bool load(const char *name, std::vector<Entry> &out)
{
    out.clear();
    std::ifstream in(ns_file(name));
    if (!in)
        return false;
    std::string line;
    while (std::getline(in, line)) {
        size_t t1 = line.find('\t'), t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
        if (t2 == std::string::npos)
            continue;
        std::string tname = line.substr(0, t1), key, val = line.substr(t2 + 1);
        if (!unescape(line.substr(t1 + 1, t2 - t1 - 1), key))
            continue;
        int type = -1;
        for (int i = 0; i <= PT_BLOB; i++)
            if (tname == k_type_names[i])
                type = i;
        Entry e{key, type, ""};
        if (type < 0)
            continue;
        if (type < PT_STR) {
            bool neg = type % 2 == 0 && !val.empty() && val[0] == '-';
            uint64_t u = neg ? (uint64_t)strtoll(val.c_str(), nullptr, 10) : strtoull(val.c_str(), nullptr, 10);
            for (size_t b = 0; b < k_int_size[type]; b++)
                e.data += (char)(u >> (8 * b));
        } else if (type == PT_STR) {
            if (!unescape(val, e.data))
                continue;
        } else {
            for (size_t i = 0; i + 1 < val.size(); i += 2)
                e.data += (char)strtoul(val.substr(i, 2).c_str(), nullptr, 16);
        }
        out.push_back(e);
    }
    return true;
}

bool store(const char *name, const std::vector<Entry> &entries)
{
    std::string path = ns_file(name), tmp = path + ".tmp";
    FILE *f = fopen(tmp.c_str(), "w");
    if (!f)
        return false;
    for (const Entry &e : entries) {
        fprintf(f, "%s\t%s\t", k_type_names[e.type], escape(e.key).c_str());
        if (e.type < PT_STR) {
            uint64_t u = 0;
            for (size_t b = 0; b < e.data.size(); b++)
                u |= (uint64_t)(uint8_t)e.data[b] << (8 * b);
            if (e.type % 2 == 0) { /* signed: sign-extend from its width */
                unsigned bits = 8u * (unsigned)e.data.size();
                int64_t s = bits < 64 && (u >> (bits - 1)) ? (int64_t)(u | (~0ull << bits)) : (int64_t)u;
                fprintf(f, "%" PRId64, s);
            } else {
                fprintf(f, "%" PRIu64, u);
            }
        } else if (e.type == PT_STR) {
            fputs(escape(e.data).c_str(), f);
        } else {
            for (unsigned char c : e.data)
                fprintf(f, "%02x", c);
        }
        fputc('\n', f);
    }
    /* virtual time: a throw-away flash of one run, no fsync (it costs ms of wall time) */
    bool ok = fflush(f) == 0 && (ahk::vt::enabled || fsync(fileno(f)) == 0);
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
        unlink(tmp.c_str());
        ahk::log("NVS", "cannot write %s: %s", path.c_str(), strerror(errno));
        return false;
    }
    return true;
}

Entry *find(std::vector<Entry> &v, const char *key)
{
    for (Entry &e : v)
        if (e.key == key)
            return &e;
    return nullptr;
}

size_t entries_of(const Entry &e)
{
    if (e.type < PT_STR)
        return 1;
    return 1 + (e.data.size() + (e.type == PT_STR ? 1 : 0) + 31) / 32;
}

bool valid_key(const char *key) { return key && *key && strlen(key) <= k_max_key; }

} // namespace

Preferences::Preferences() {}
Preferences::~Preferences() { end(); }

bool Preferences::begin(const char *name, bool readOnly, const char *partition_label)
{
    if (started_ || !name || !*name)
        return false;
    if (partition_label && *partition_label && strcmp(partition_label, "nvs") != 0) {
        ahk::log("NVS", "Preferences.begin(\"%s\"): partition \"%s\" does not exist on this board", name,
                 partition_label);
        return false;
    }
    if (!nvs().initialized) {
        ahk::log("NVS", "Preferences.begin(\"%s\"): nvs_open failed: NOT_INITIALIZED", name);
        return false;
    }
    if (strlen(name) > k_max_key) {
        ahk::log("NVS", "Preferences.begin(\"%s\"): nvs_open failed: KEY_TOO_LONG", name);
        return false;
    }
    std::string path = ns_file(name);
    if (!file_exists(path)) {
        if (readOnly)
            return false; /* NVS: a read-only open of a missing namespace is NOT_FOUND */
        if (!store(name, {}))
            return false;
    }
    snprintf(name_, sizeof name_, "%s", name);
    read_only_ = readOnly;
    started_ = true;
    generation_ = nvs().generation;
    return true;
}

void Preferences::end() { started_ = false; }

bool Preferences::clear()
{
    if (!started_ || read_only_ || generation_ != nvs().generation)
        return false;
    return store(name_, {});
}

bool Preferences::remove(const char *key)
{
    if (!started_ || read_only_ || !key || generation_ != nvs().generation)
        return false;
    std::vector<Entry> v;
    load(name_, v);
    for (size_t i = 0; i < v.size(); i++)
        if (v[i].key == key) {
            v.erase(v.begin() + (long)i);
            return store(name_, v);
        }
    return false;
}

size_t Preferences::put(const char *key, int type, const void *data, size_t len, size_t ret)
{
    if (!started_ || read_only_ || !valid_key(key) || generation_ != nvs().generation)
        return 0;
    if ((type == PT_STR && len > k_max_str - 1) || (type == PT_BLOB && len > k_max_blob))
        return 0;
    std::vector<Entry> v;
    load(name_, v);
    Entry *e = find(v, key);
    std::string bytes((const char *)data, len);
    if (e) {
        if (e->type == type && e->data == bytes)
            return ret; /* NVS does not rewrite an unchanged value */
        e->type = type;
        e->data = bytes;
    } else {
        v.push_back(Entry{key, type, bytes});
    }
    return store(name_, v) ? ret : 0;
}

bool Preferences::get(const char *key, int type, void *out, size_t len)
{
    if (!started_ || !key || generation_ != nvs().generation)
        return false;
    std::vector<Entry> v;
    load(name_, v);
    Entry *e = find(v, key);
    if (!e || e->type != type || (type != PT_STR && e->data.size() != len))
        return false;
    memcpy(out, e->data.data(), len);
    return true;
}

#define AHK_PUT_INT(fn, T, PT)                                                                                          \
    size_t Preferences::fn(const char *key, T value)                                                                   \
    {                                                                                                                  \
        uint8_t b[sizeof(T)];                                                                                          \
        for (size_t i = 0; i < sizeof(T); i++)                                                                         \
            b[i] = (uint8_t)((uint64_t)value >> (8 * i));                                                              \
        return put(key, PT, b, sizeof b, sizeof(T));                                                                   \
    }
#define AHK_GET_INT(fn, T, PT)                                                                                          \
    T Preferences::fn(const char *key, T defaultValue)                                                                 \
    {                                                                                                                  \
        uint8_t b[sizeof(T)];                                                                                          \
        if (!get(key, PT, b, sizeof b))                                                                                \
            return defaultValue;                                                                                       \
        uint64_t u = 0;                                                                                                \
        for (size_t i = 0; i < sizeof(T); i++)                                                                         \
            u |= (uint64_t)b[i] << (8 * i);                                                                            \
        return (T)u;                                                                                                   \
    }
AHK_PUT_INT(putChar, int8_t, PT_I8)
AHK_PUT_INT(putUChar, uint8_t, PT_U8)
AHK_PUT_INT(putShort, int16_t, PT_I16)
AHK_PUT_INT(putUShort, uint16_t, PT_U16)
AHK_PUT_INT(putInt, int32_t, PT_I32)
AHK_PUT_INT(putUInt, uint32_t, PT_U32)
AHK_PUT_INT(putLong, int32_t, PT_I32)
AHK_PUT_INT(putULong, uint32_t, PT_U32)
AHK_PUT_INT(putLong64, int64_t, PT_I64)
AHK_PUT_INT(putULong64, uint64_t, PT_U64)
AHK_GET_INT(getChar, int8_t, PT_I8)
AHK_GET_INT(getUChar, uint8_t, PT_U8)
AHK_GET_INT(getShort, int16_t, PT_I16)
AHK_GET_INT(getUShort, uint16_t, PT_U16)
AHK_GET_INT(getInt, int32_t, PT_I32)
AHK_GET_INT(getUInt, uint32_t, PT_U32)
AHK_GET_INT(getLong, int32_t, PT_I32)
AHK_GET_INT(getULong, uint32_t, PT_U32)
AHK_GET_INT(getLong64, int64_t, PT_I64)
AHK_GET_INT(getULong64, uint64_t, PT_U64)
#undef AHK_PUT_INT
#undef AHK_GET_INT

size_t Preferences::putBool(const char *key, bool value) { return putUChar(key, value ? 1 : 0); }
bool Preferences::getBool(const char *key, bool defaultValue) { return getUChar(key, defaultValue ? 1 : 0) != 0; }
size_t Preferences::putFloat(const char *key, float value) { return put(key, PT_BLOB, &value, sizeof value, sizeof value); }
size_t Preferences::putDouble(const char *key, double value) { return put(key, PT_BLOB, &value, sizeof value, sizeof value); }

float Preferences::getFloat(const char *key, float defaultValue)
{
    float v;
    return get(key, PT_BLOB, &v, sizeof v) ? v : defaultValue;
}

double Preferences::getDouble(const char *key, double defaultValue)
{
    double v;
    return get(key, PT_BLOB, &v, sizeof v) ? v : defaultValue;
}

size_t Preferences::putString(const char *key, const char *value)
{
    if (!value)
        return 0;
    size_t n = strlen(value);
    return put(key, PT_STR, value, n, n);
}

size_t Preferences::putString(const char *key, String value) { return putString(key, value.c_str()); }

size_t Preferences::putBytes(const char *key, const void *value, size_t len)
{
    if (!value || !len)
        return 0;
    return put(key, PT_BLOB, value, len, len);
}

bool Preferences::isKey(const char *key) { return getType(key) != PT_INVALID; }

PreferenceType Preferences::getType(const char *key)
{
    if (!started_ || !valid_key(key) || generation_ != nvs().generation)
        return PT_INVALID;
    std::vector<Entry> v;
    load(name_, v);
    Entry *e = find(v, key);
    return e ? (PreferenceType)e->type : PT_INVALID;
}

/* ESP32 library: the length including the terminating NUL, 0 if it does not fit */
size_t Preferences::getString(const char *key, char *value, size_t maxLen)
{
    if (!value || !maxLen || !started_ || !key || generation_ != nvs().generation)
        return 0;
    std::vector<Entry> v;
    load(name_, v);
    Entry *e = find(v, key);
    if (!e || e->type != PT_STR || e->data.size() + 1 > maxLen)
        return 0;
    memcpy(value, e->data.c_str(), e->data.size() + 1);
    return e->data.size() + 1;
}

String Preferences::getString(const char *key, String defaultValue)
{
    if (!started_ || !key || generation_ != nvs().generation)
        return defaultValue;
    std::vector<Entry> v;
    load(name_, v);
    Entry *e = find(v, key);
    if (!e || e->type != PT_STR)
        return defaultValue;
    return String(e->data.c_str(), (unsigned)e->data.size());
}

size_t Preferences::getBytesLength(const char *key)
{
    if (!started_ || !key || generation_ != nvs().generation)
        return 0;
    std::vector<Entry> v;
    load(name_, v);
    Entry *e = find(v, key);
    return e && e->type == PT_BLOB ? e->data.size() : 0;
}

size_t Preferences::getBytes(const char *key, void *buf, size_t maxLen)
{
    size_t len = getBytesLength(key);
    if (!len || !buf || !maxLen || len > maxLen)
        return 0;
    std::vector<Entry> v;
    load(name_, v);
    memcpy(buf, find(v, key)->data.data(), len);
    return len;
}

size_t Preferences::freeEntries()
{
    if (!started_)
        return 0;
    size_t used = 0;
    std::string dir = ahk::state_path("nvs/x");
    dir.resize(dir.size() - 2);
    DIR *d = opendir(dir.c_str());
    for (struct dirent *de; d && (de = readdir(d));) {
        std::string n = de->d_name;
        if (n.size() < 7 || n.compare(n.size() - 6, 6, ".prefs") != 0)
            continue;
        std::string ns;
        unescape(n.substr(0, n.size() - 6), ns);
        std::vector<Entry> v;
        load(ns.c_str(), v);
        used += 1;
        for (const Entry &e : v)
            used += entries_of(e);
    }
    if (d)
        closedir(d);
    return used < k_total_entries ? k_total_entries - used : 0;
}

/* ---- nvs_flash ----------------------------------------------------------------- */
extern "C" {

esp_err_t nvs_flash_init(void)
{
    nvs().initialized = true;
    return ESP_OK;
}

esp_err_t nvs_flash_init_partition(const char *label)
{
    if (label && strcmp(label, "nvs") != 0)
        return ESP_ERR_NOT_FOUND;
    return nvs_flash_init();
}

esp_err_t nvs_flash_deinit(void)
{
    if (!nvs().initialized)
        return ESP_ERR_NVS_NOT_INITIALIZED;
    nvs().initialized = false;
    nvs().generation++;
    return ESP_OK;
}

/* ESP-IDF: erase de-initialises the partition first, then erases all of it */
esp_err_t nvs_flash_erase(void)
{
    nvs().initialized = false;
    nvs().generation++;
    std::string dir = ahk::state_path("nvs/x");
    dir.resize(dir.size() - 2);
    DIR *d = opendir(dir.c_str());
    unsigned n = 0;
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        if (unlink((dir + "/" + de->d_name).c_str()) == 0)
            n++;
    }
    if (d)
        closedir(d);
    ahk::log("NVS", "nvs_flash_erase: %u namespace(s) erased", n);
    return ESP_OK;
}

esp_err_t nvs_flash_erase_partition(const char *label)
{
    if (label && strcmp(label, "nvs") != 0)
        return ESP_ERR_NOT_FOUND;
    return nvs_flash_erase();
}

} /* extern "C" */
