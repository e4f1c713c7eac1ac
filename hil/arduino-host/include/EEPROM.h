/* EEPROM.h: the ESP32 core's EEPROM emulation (Arduino-ESP32 "EEPROM"): begin(size) reads the
 * stored bytes into RAM (a new EEPROM, or the part beyond what was stored, reads as zeros),
 * read/write/get/put work on RAM, commit() stores it: here <state-dir>/eeprom.bin, written
 * atomically. Out-of-range reads give 0, out-of-range writes are ignored. */
#ifndef AHK_EEPROM_H
#define AHK_EEPROM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

class EEPROMClass {
public:
    EEPROMClass() {}
    explicit EEPROMClass(const char *name) : name_(name) {}
    ~EEPROMClass();

    bool begin(size_t size);
    uint8_t read(int address);
    void write(int address, uint8_t val);
    uint16_t length() { return (uint16_t)size_; }
    bool commit();
    void end();
    uint8_t *getDataPtr()
    {
        dirty_ = true;
        return data_;
    }
    const uint8_t *getConstDataPtr() const { return data_; }

    template <typename T> T &get(int address, T &t)
    {
        if (address >= 0 && (size_t)address + sizeof(T) <= size_)
            memcpy((uint8_t *)&t, data_ + address, sizeof(T));
        return t;
    }
    template <typename T> const T &put(int address, const T &t)
    {
        if (address >= 0 && (size_t)address + sizeof(T) <= size_) {
            memcpy(data_ + address, (const uint8_t *)&t, sizeof(T));
            dirty_ = true;
        }
        return t;
    }

    uint8_t readByte(int address) { return read(address); }
    size_t writeByte(int address, uint8_t value)
    {
        write(address, value);
        return address >= 0 && (size_t)address < size_ ? 1 : 0;
    }

private:
    const char *name_ = "eeprom";
    uint8_t *data_ = nullptr;
    size_t size_ = 0;
    bool dirty_ = false;
};

extern EEPROMClass EEPROM;

#endif
