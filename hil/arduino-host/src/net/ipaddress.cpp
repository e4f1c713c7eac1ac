/* ipaddress.cpp: the Arduino IPAddress value type (include/IPAddress.h). */
#include <stdio.h>
#include <string.h>

#include "IPAddress.h"
#include "Print.h"

const IPAddress INADDR_NONE(0, 0, 0, 0);

IPAddress::IPAddress() { memset(bytes_, 0, sizeof bytes_); }

IPAddress::IPAddress(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    bytes_[0] = a;
    bytes_[1] = b;
    bytes_[2] = c;
    bytes_[3] = d;
}

IPAddress::IPAddress(uint32_t address) { memcpy(bytes_, &address, 4); }

IPAddress::IPAddress(const uint8_t *address) { memcpy(bytes_, address, 4); }

uint32_t IPAddress::dword() const
{
    uint32_t v;
    memcpy(&v, bytes_, 4);
    return v;
}

bool IPAddress::operator==(const uint8_t *addr) const { return memcmp(addr, bytes_, 4) == 0; }

IPAddress &IPAddress::operator=(const uint8_t *address)
{
    memcpy(bytes_, address, 4);
    return *this;
}

IPAddress &IPAddress::operator=(uint32_t address)
{
    memcpy(bytes_, &address, 4);
    return *this;
}

bool IPAddress::fromString(const char *address)
{
    unsigned part = 0, dots = 0;
    bool digit = false;
    uint8_t out[4];

    if (!address)
        return false;
    for (const char *p = address;; p++) {
        if (*p >= '0' && *p <= '9') {
            part = part * 10 + (unsigned)(*p - '0');
            if (part > 255)
                return false;
            digit = true;
        } else if (*p == '.' || *p == 0) {
            if (!digit || dots > 3 || (*p == '.' && dots == 3))
                return false;
            out[dots++] = (uint8_t)part;
            part = 0;
            digit = false;
            if (*p == 0)
                break;
        } else {
            return false;
        }
    }
    if (dots != 4)
        return false;
    memcpy(bytes_, out, 4);
    return true;
}

String IPAddress::toString() const
{
    char s[16];
    snprintf(s, sizeof s, "%u.%u.%u.%u", bytes_[0], bytes_[1], bytes_[2], bytes_[3]);
    return String(s);
}

size_t IPAddress::printTo(Print &p) const { return p.print(toString().c_str()); }
