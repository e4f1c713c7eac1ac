/* Print.cpp: Arduino API Print (see Print.h). */
#include "Print.h"

#include <stdio.h>
#include <stdlib.h>

#include "ahk_format.h"

size_t Print::write(const uint8_t *buffer, size_t size)
{
    size_t n = 0;
    while (size--) {
        if (write(*buffer++))
            n++;
        else
            break;
    }
    return n;
}

size_t Print::vprintf(const char *format, va_list ap)
{
    char small[128];
    va_list copy;
    va_copy(copy, ap);
    int len = vsnprintf(small, sizeof small, format, copy);
    va_end(copy);
    if (len < 0)
        return 0;
    if ((size_t)len < sizeof small)
        return write((const uint8_t *)small, (size_t)len);
    char *big = (char *)malloc((size_t)len + 1);
    if (!big)
        return 0;
    vsnprintf(big, (size_t)len + 1, format, ap);
    size_t n = write((const uint8_t *)big, (size_t)len);
    free(big);
    return n;
}

size_t Print::printf(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    size_t n = vprintf(format, ap);
    va_end(ap);
    return n;
}

size_t Print::printNumber(unsigned long long n, int base)
{
    char buf[8 * sizeof(unsigned long long) + 1];
    char *p = &buf[sizeof buf - 1];
    *p = '\0';
    if (base < 2)
        base = 10;
    do {
        unsigned d = (unsigned)(n % (unsigned)base);
        n /= (unsigned)base;
        *--p = (char)(d < 10 ? '0' + d : 'A' + d - 10); /* Print uses upper-case digits */
    } while (n);
    return write(p);
}

/* reference: base 0 writes the value as a byte; DEC prints a sign; other bases print the
 * value's two's complement in the type's width (print(-1, HEX) on a 32-bit long: FFFFFFFF) */
size_t Print::printSigned(long long n, int base, unsigned bits)
{
    if (base == 0)
        return write((uint8_t)n);
    if (base == 10) {
        if (n < 0) {
            size_t t = print('-');
            return t + printNumber(0ull - (unsigned long long)n, 10);
        }
        return printNumber((unsigned long long)n, 10);
    }
    unsigned long long u = (unsigned long long)n;
    if (bits < 64)
        u &= (1ull << bits) - 1;
    return printNumber(u, base);
}

size_t Print::print(const __FlashStringHelper *s) { return print(reinterpret_cast<const char *>(s)); }
size_t Print::print(const String &s) { return write(s.c_str(), s.length()); }
size_t Print::print(const char s[]) { return write(s); }
size_t Print::print(char c) { return write((uint8_t)c); }
size_t Print::print(unsigned char n, int base) { return print((unsigned long)n, base); }
size_t Print::print(int n, int base) { return printSigned(n, base, 8 * sizeof(long)); }
size_t Print::print(unsigned int n, int base) { return print((unsigned long)n, base); }
size_t Print::print(long n, int base) { return printSigned(n, base, 8 * sizeof(long)); }
size_t Print::print(long long n, int base) { return printSigned(n, base, 64); }

size_t Print::print(unsigned long n, int base)
{
    if (base == 0)
        return write((uint8_t)n);
    return printNumber(n, base);
}

size_t Print::print(unsigned long long n, int base)
{
    if (base == 0)
        return write((uint8_t)n);
    return printNumber(n, base);
}

size_t Print::print(double n, int digits)
{
    char buf[400];
    size_t len = ahk_format_float(buf, sizeof buf, n, digits < 0 ? 0 : (unsigned)digits, true);
    return write((const uint8_t *)buf, len);
}

size_t Print::print(const Printable &p) { return p.printTo(*this); }

/* ESP32 core: strftime with the given format, "%c" when none */
size_t Print::print(struct tm *timeinfo, const char *format)
{
    char buf[64];
    size_t n = strftime(buf, sizeof buf, format ? format : "%c", timeinfo);
    return write((const uint8_t *)buf, n);
}

size_t Print::println(void) { return write("\r\n"); }

#define AHK_PRINTLN(T)                                                                                                 \
    size_t Print::println(T x)                                                                                         \
    {                                                                                                                  \
        size_t n = print(x);                                                                                           \
        return n + println();                                                                                          \
    }
#define AHK_PRINTLN2(T, D)                                                                                             \
    size_t Print::println(T x, D y)                                                                                    \
    {                                                                                                                  \
        size_t n = print(x, y);                                                                                        \
        return n + println();                                                                                          \
    }
AHK_PRINTLN(const __FlashStringHelper *)
AHK_PRINTLN(const String &)
AHK_PRINTLN(const char *)
AHK_PRINTLN(char)
AHK_PRINTLN(const Printable &)
AHK_PRINTLN2(unsigned char, int)
AHK_PRINTLN2(int, int)
AHK_PRINTLN2(unsigned int, int)
AHK_PRINTLN2(long, int)
AHK_PRINTLN2(unsigned long, int)
AHK_PRINTLN2(long long, int)
AHK_PRINTLN2(unsigned long long, int)
AHK_PRINTLN2(double, int)
AHK_PRINTLN2(struct tm *, const char *)
