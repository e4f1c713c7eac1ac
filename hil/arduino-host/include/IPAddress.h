/* IPAddress.h: the Arduino IPv4 address value type (Arduino API: IPAddress), printable,
 * comparable with another address or a uint32_t in network byte order, parsed by fromString
 * and shown by toString as dotted decimal. */
#ifndef AHK_IPADDRESS_H
#define AHK_IPADDRESS_H

#include <stdint.h>
#include <stddef.h>
#include "Printable.h"
#include "WString.h"

class Print;

class IPAddress : public Printable {
public:
    IPAddress();
    IPAddress(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
    IPAddress(uint32_t address);           /* network byte order, as on the board */
    IPAddress(const uint8_t *address);     /* four bytes */

    bool fromString(const char *address);  /* dotted decimal; false if malformed */
    bool fromString(const String &address) { return fromString(address.c_str()); }

    operator uint32_t() const { return dword(); }
    bool operator==(const IPAddress &o) const { return dword() == o.dword(); }
    bool operator!=(const IPAddress &o) const { return !(*this == o); }
    bool operator==(uint32_t addr) const { return dword() == addr; }
    bool operator==(const uint8_t *addr) const;
    uint8_t operator[](int index) const { return bytes_[index & 3]; }
    uint8_t &operator[](int index) { return bytes_[index & 3]; }
    IPAddress &operator=(const uint8_t *address);
    IPAddress &operator=(uint32_t address);

    String toString() const;
    size_t printTo(Print &p) const;

private:
    uint32_t dword() const;
    uint8_t bytes_[4];
};

/* Arduino API: the all-zero address ("no address"). The C library's <netinet/in.h> macro of the
 * same name is dropped here so the Arduino meaning wins, as with the board's headers. */
#ifdef INADDR_NONE
#undef INADDR_NONE
#endif
extern const IPAddress INADDR_NONE;

#endif
