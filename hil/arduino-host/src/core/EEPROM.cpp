/* EEPROM.cpp: EEPROM emulation on a file (see EEPROM.h). */
#include "EEPROM.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "ahk_vt.h"
#include "ahk_runtime.h"

EEPROMClass EEPROM;

namespace {
std::string eeprom_file(const char *name) { return ahk::state_path(std::string(name) + ".bin"); }
constexpr size_t k_max = 508000; /* the largest NVS blob, which holds the board's EEPROM */
} // namespace

EEPROMClass::~EEPROMClass() { free(data_); }

bool EEPROMClass::begin(size_t size)
{
    if (size == 0 || size > k_max)
        return false;
    uint8_t *nd = (uint8_t *)calloc(1, size);
    if (!nd)
        return false;
    FILE *f = fopen(eeprom_file(name_).c_str(), "rb");
    if (f) {
        size_t got = fread(nd, 1, size, f);
        (void)got;
        fclose(f);
    }
    free(data_);
    data_ = nd;
    size_ = size;
    dirty_ = false;
    return true;
}

uint8_t EEPROMClass::read(int address)
{
    if (!data_ || address < 0 || (size_t)address >= size_)
        return 0;
    return data_[address];
}

void EEPROMClass::write(int address, uint8_t val)
{
    if (!data_ || address < 0 || (size_t)address >= size_)
        return;
    if (data_[address] != val) {
        data_[address] = val;
        dirty_ = true;
    }
}

bool EEPROMClass::commit()
{
    if (!data_ || !size_)
        return false;
    if (!dirty_)
        return true;
    std::string path = eeprom_file(name_), tmp = path + ".tmp";
    FILE *f = fopen(tmp.c_str(), "wb");
    if (!f)
        return false;
    /* virtual time: a throw-away flash of one run, no fsync (it costs ms of wall time) */
    bool ok = fwrite(data_, 1, size_, f) == size_ && fflush(f) == 0 && (ahk::vt::enabled || fsync(fileno(f)) == 0);
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
        unlink(tmp.c_str());
        return false;
    }
    dirty_ = false;
    return true;
}

void EEPROMClass::end()
{
    commit();
    free(data_);
    data_ = nullptr;
    size_ = 0;
}
