/* Print.h: Arduino API Print: the text and number output every stream shares (Arduino
 * reference, Serial.print/println/write; the ESP32 core adds printf and print(struct tm*)).
 * Numbers print in a base (DEC, HEX, OCT, BIN; base 0 writes the byte itself), negative
 * values in other bases as their two's complement; floats with `digits` decimals. */
#ifndef AHK_PRINT_H
#define AHK_PRINT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "Printable.h"
#include "WString.h"

#define DEC 10
#define HEX 16
#define OCT 8
#define BIN 2

class Print {
public:
    Print() {}
    virtual ~Print() {}
    int getWriteError() { return write_error_; }
    void clearWriteError() { write_error_ = 0; }

    virtual size_t write(uint8_t) = 0;
    size_t write(const char *str) { return str ? write((const uint8_t *)str, strlen(str)) : 0; }
    virtual size_t write(const uint8_t *buffer, size_t size);
    size_t write(const char *buffer, size_t size) { return write((const uint8_t *)buffer, size); }
    virtual int availableForWrite() { return 0; }
    virtual void flush() {}

    size_t printf(const char *format, ...) __attribute__((format(printf, 2, 3)));
    size_t vprintf(const char *format, va_list ap);

    size_t print(const __FlashStringHelper *s);
    size_t print(const String &s);
    size_t print(const char s[]);
    size_t print(char c);
    size_t print(unsigned char n, int base = DEC);
    size_t print(int n, int base = DEC);
    size_t print(unsigned int n, int base = DEC);
    size_t print(long n, int base = DEC);
    size_t print(unsigned long n, int base = DEC);
    size_t print(long long n, int base = DEC);
    size_t print(unsigned long long n, int base = DEC);
    size_t print(double n, int digits = 2);
    size_t print(const Printable &p);
    size_t print(struct tm *timeinfo, const char *format = NULL);

    size_t println(const __FlashStringHelper *s);
    size_t println(const String &s);
    size_t println(const char s[]);
    size_t println(char c);
    size_t println(unsigned char n, int base = DEC);
    size_t println(int n, int base = DEC);
    size_t println(unsigned int n, int base = DEC);
    size_t println(long n, int base = DEC);
    size_t println(unsigned long n, int base = DEC);
    size_t println(long long n, int base = DEC);
    size_t println(unsigned long long n, int base = DEC);
    size_t println(double n, int digits = 2);
    size_t println(const Printable &p);
    size_t println(struct tm *timeinfo, const char *format = NULL);
    size_t println(void);

protected:
    void setWriteError(int err = 1) { write_error_ = err; }

private:
    size_t printNumber(unsigned long long n, int base);
    size_t printSigned(long long n, int base, unsigned bits);
    int write_error_ = 0;
};

#endif
