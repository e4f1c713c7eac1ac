/* WString.cpp: the Arduino String class (Arduino language reference, "String()").
 * Storage is one heap buffer with a terminating NUL; every operation that can grow it reports
 * allocation failure the way the reference does (concat/reserve return false). */
#include "WString.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ahk_format.h"

String::String(const char *cstr)
{
    init();
    if (cstr)
        assign(cstr, (unsigned int)strlen(cstr));
}

String::String(const char *cstr, unsigned int length)
{
    init();
    if (cstr)
        assign(cstr, length);
}

String::String(const String &str)
{
    init();
    if (str.buf())
        assign(str.buf(), str.len());
}

String::String(const __FlashStringHelper *str) : String(reinterpret_cast<const char *>(str)) {}

String::String(String &&rval) noexcept
{
    memcpy((void *)&sso_, (const void *)&rval.sso_, sizeof sso_);
    rval.init();
}

String::String(char c)
{
    init();
    char b[2] = {c, 0};
    assign(b, 1);
}

/* number constructors: the ESP32 core writes bases other than 10 with itoa-style digits
 * (lower case), a negative value as '-' and its magnitude */
String::String(unsigned char value, unsigned char base) : String((unsigned long long)value, base) {}
String::String(int value, unsigned char base) : String((long long)value, base) {}
String::String(unsigned int value, unsigned char base) : String((unsigned long long)value, base) {}
String::String(long value, unsigned char base) : String((long long)value, base) {}
String::String(unsigned long value, unsigned char base) : String((unsigned long long)value, base) {}

String::String(long long value, unsigned char base)
{
    init();
    char b[72];
    lltoa(value, b, base);
    assign(b, (unsigned int)strlen(b));
}

String::String(unsigned long long value, unsigned char base)
{
    init();
    char b[72];
    ulltoa(value, b, base);
    assign(b, (unsigned int)strlen(b));
}

/* the ESP32 core formats floats as dtostrf(value, decimalPlaces + 2, decimalPlaces) */
String::String(float value, unsigned int decimalPlaces) : String((double)value, decimalPlaces) {}

String::String(double value, unsigned int decimalPlaces)
{
    init();
    if (decimalPlaces > 60)
        decimalPlaces = 60;
    char b[400];
    dtostrf(value, (signed char)(decimalPlaces + 2), (unsigned char)decimalPlaces, b);
    assign(b, (unsigned int)strlen(b));
}

String::~String()
{
    if (!sso())
        free(ptr_.buff);
}

void String::invalidate()
{
    if (!sso())
        free(ptr_.buff);
    init();
}

bool String::reserve(unsigned int size)
{
    if (buf() && cap() >= size)
        return true;
    if (!buf() && size < SSOSIZE) { /* invalid -> an empty inline string */
        memset((void *)&sso_, 0, sizeof sso_);
        return true;
    }
    if (sso()) { /* inline -> heap */
        char *nb = (char *)malloc((size_t)size + 1);
        if (!nb)
            return false;
        unsigned int l = sso_.len;
        memcpy(nb, sso_.buff, l);
        nb[l] = '\0';
        sso_.isHeap = 1;
        ptr_.buff = nb;
        ptr_.cap = size;
        ptr_.len = l;
        return true;
    }
    char *nb = (char *)realloc(ptr_.buff, (size_t)size + 1);
    if (!nb)
        return false;
    if (!ptr_.buff) {
        nb[0] = '\0';
        ptr_.len = 0;
    }
    ptr_.buff = nb;
    ptr_.cap = size;
    return true;
}

bool String::assign(const char *cstr, unsigned int length)
{
    if (!reserve(length)) {
        invalidate();
        return false;
    }
    memmove(buf(), cstr, length);
    buf()[length] = '\0';
    set_len(length);
    return true;
}

bool String::append(const char *cstr, unsigned int length)
{
    if (!cstr)
        return false;
    if (length == 0)
        return buf() != nullptr || reserve(0);
    unsigned int old = buf() ? len() : 0;
    unsigned int nl = old + length;
    /* cstr may point into our own buffer (s += s): remember where before a realloc */
    bool self = buf() && cstr >= buf() && cstr < buf() + old + 1;
    size_t off = self ? (size_t)(cstr - buf()) : 0;
    if (!reserve(nl))
        return false;
    if (self)
        cstr = buf() + off;
    memmove(buf() + old, cstr, length);
    buf()[nl] = '\0';
    set_len(nl);
    return true;
}

String &String::operator=(const String &rhs)
{
    if (this != &rhs) {
        if (rhs.buf())
            assign(rhs.buf(), rhs.len());
        else
            invalidate();
    }
    return *this;
}

String &String::operator=(const char *cstr)
{
    if (cstr)
        assign(cstr, (unsigned int)strlen(cstr));
    else
        invalidate();
    return *this;
}

String &String::operator=(const __FlashStringHelper *str) { return *this = reinterpret_cast<const char *>(str); }

String &String::operator=(String &&rval) noexcept
{
    if (this != &rval) {
        if (!sso())
            free(ptr_.buff);
        memcpy((void *)&sso_, (const void *)&rval.sso_, sizeof sso_);
        rval.init();
    }
    return *this;
}

bool String::concat(const String &s) { return append(s.c_str(), s.length()); }
bool String::concat(const char *cstr) { return cstr && append(cstr, (unsigned int)strlen(cstr)); }
bool String::concat(const char *cstr, unsigned int length) { return append(cstr, length); }
bool String::concat(char c) { return append(&c, 1); }
bool String::concat(const __FlashStringHelper *str) { return concat(reinterpret_cast<const char *>(str)); }
bool String::concat(unsigned char num) { return concat(String(num)); }
bool String::concat(int num) { return concat(String(num)); }
bool String::concat(unsigned int num) { return concat(String(num)); }
bool String::concat(long num) { return concat(String(num)); }
bool String::concat(unsigned long num) { return concat(String(num)); }
bool String::concat(long long num) { return concat(String(num)); }
bool String::concat(unsigned long long num) { return concat(String(num)); }
bool String::concat(float num) { return concat(String(num)); }
bool String::concat(double num) { return concat(String(num)); }

int String::compareTo(const String &s) const
{
    if (!buf() || !s.buf()) {
        if (s.buf() && s.length() > 0)
            return 0 - (unsigned char)*s.buf();
        if (buf() && length() > 0)
            return (unsigned char)*buf();
        return 0;
    }
    return strcmp(buf(), s.buf());
}

bool String::equals(const String &s) const { return length() == s.length() && compareTo(s) == 0; }

bool String::equals(const char *cstr) const
{
    if (length() == 0)
        return cstr == nullptr || *cstr == '\0';
    if (!cstr)
        return buf()[0] == '\0';
    return strcmp(buf(), cstr) == 0;
}

bool String::equalsIgnoreCase(const String &s) const
{
    if (this == &s)
        return true;
    if (length() != s.length())
        return false;
    for (unsigned int i = 0; i < length(); i++)
        if (tolower((unsigned char)buf()[i]) != tolower((unsigned char)s.buf()[i]))
            return false;
    return true;
}

bool String::equalsConstantTime(const String &s) const
{
    if (length() != s.length())
        return false;
    unsigned char diff = 0;
    for (unsigned int i = 0; i < length(); i++)
        diff |= (unsigned char)(buf()[i] ^ s.buf()[i]);
    return diff == 0;
}

bool String::startsWith(const String &prefix) const
{
    if (length() < prefix.length())
        return false;
    return startsWith(prefix, 0);
}

bool String::startsWith(const String &prefix, unsigned int offset) const
{
    if (offset > length() || prefix.length() > length() - offset || !buf() || !prefix.buf())
        return false;
    return strncmp(buf() + offset, prefix.buf(), prefix.length()) == 0;
}

bool String::endsWith(const String &suffix) const
{
    if (length() < suffix.length() || !buf() || !suffix.buf())
        return false;
    return strcmp(buf() + length() - suffix.length(), suffix.buf()) == 0;
}

char String::charAt(unsigned int index) const { return (*this)[index]; }

void String::setCharAt(unsigned int index, char c)
{
    if (index < length())
        buf()[index] = c;
}

char String::operator[](unsigned int index) const
{
    if (index >= length() || !buf())
        return 0;
    return buf()[index];
}

char &String::operator[](unsigned int index)
{
    static char dummy_writable_char;
    if (index >= length() || !buf()) {
        dummy_writable_char = 0;
        return dummy_writable_char;
    }
    return buf()[index];
}

void String::getBytes(unsigned char *out, unsigned int bufsize, unsigned int index) const
{
    if (!bufsize || !out)
        return;
    if (index >= length()) {
        out[0] = 0;
        return;
    }
    unsigned int n = bufsize - 1;
    if (n > length() - index)
        n = length() - index;
    memcpy(out, buf() + index, n);
    out[n] = 0;
}

int String::indexOf(char c) const { return indexOf(c, 0); }

int String::indexOf(char ch, unsigned int fromIndex) const
{
    if (fromIndex >= length())
        return -1;
    const char *p = (const char *)memchr(buf() + fromIndex, ch, length() - fromIndex);
    return p ? (int)(p - buf()) : -1;
}

int String::indexOf(const String &s) const { return indexOf(s, 0); }

int String::indexOf(const String &s, unsigned int fromIndex) const
{
    if (fromIndex >= length())
        return -1;
    const char *p = strstr(buf() + fromIndex, s.c_str());
    return p ? (int)(p - buf()) : -1;
}

int String::lastIndexOf(char ch) const { return length() ? lastIndexOf(ch, length() - 1) : -1; }

int String::lastIndexOf(char ch, unsigned int fromIndex) const
{
    if (fromIndex >= length())
        return -1;
    for (int i = (int)fromIndex; i >= 0; i--)
        if (buf()[i] == ch)
            return i;
    return -1;
}

int String::lastIndexOf(const String &s) const
{
    if (s.length() > length())
        return -1;
    return lastIndexOf(s, length() - s.length());
}

int String::lastIndexOf(const String &s, unsigned int fromIndex) const
{
    if (s.length() == 0 || length() == 0 || s.length() > length())
        return -1;
    if (fromIndex >= length())
        fromIndex = length() - 1;
    int found = -1;
    for (const char *p = buf(); p <= buf() + fromIndex; p++) {
        p = strstr(p, s.buf());
        if (!p || (unsigned int)(p - buf()) > fromIndex)
            break;
        found = (int)(p - buf());
    }
    return found;
}

/* reference: substring(from, to) swaps reversed bounds and clips "to" at the length */
String String::substring(unsigned int left, unsigned int right) const
{
    if (left > right) {
        unsigned int t = right;
        right = left;
        left = t;
    }
    if (left >= length())
        return String();
    if (right > length())
        right = length();
    return String(buf() + left, right - left);
}

void String::replace(char find, char repl)
{
    for (unsigned int i = 0; i < length(); i++)
        if (buf()[i] == find)
            buf()[i] = repl;
}

void String::replace(const String &find, const String &repl)
{
    if (length() == 0 || find.length() == 0)
        return;
    String out;
    if (!out.reserve(length()))
        return;
    const char *p = buf();
    const char *hit;
    while ((hit = strstr(p, find.buf())) != nullptr) {
        if (!out.append(p, (unsigned int)(hit - p)) || !out.append(repl.c_str(), repl.length()))
            return; /* out of memory: leave the original untouched */
        p = hit + find.length();
    }
    if (!out.append(p, (unsigned int)(buf() + length() - p)))
        return;
    *this = static_cast<String &&>(out);
}

void String::remove(unsigned int index) { remove(index, (unsigned int)-1); }

void String::remove(unsigned int index, unsigned int count)
{
    if (index >= length() || count == 0)
        return;
    if (count > length() - index)
        count = length() - index;
    memmove(buf() + index, buf() + index + count, len() - index - count + 1);
    set_len(len() - count);
}

void String::toLowerCase()
{
    for (unsigned int i = 0; i < length(); i++)
        buf()[i] = (char)tolower((unsigned char)buf()[i]);
}

void String::toUpperCase()
{
    for (unsigned int i = 0; i < length(); i++)
        buf()[i] = (char)toupper((unsigned char)buf()[i]);
}

void String::trim()
{
    if (!buf() || length() == 0)
        return;
    unsigned int b = 0, e = length();
    while (b < e && isspace((unsigned char)buf()[b]))
        b++;
    while (e > b && isspace((unsigned char)buf()[e - 1]))
        e--;
    memmove(buf(), buf() + b, e - b);
    buf()[e - b] = '\0';
    set_len(e - b);
}

long String::toInt() const { return buf() ? atol(buf()) : 0; }
float String::toFloat() const { return buf() ? (float)atof(buf()) : 0.0f; }
double String::toDouble() const { return buf() ? atof(buf()) : 0.0; }

/* ---- operator+ ------------------------------------------------------------ */
#define AHK_SUM(T)                                                                                                     \
    String operator+(const String &lhs, T rhs)                                                                         \
    {                                                                                                                  \
        String r(lhs);                                                                                                 \
        r.concat(rhs);                                                                                                 \
        return r;                                                                                                      \
    }
AHK_SUM(const String &)
AHK_SUM(const char *)
AHK_SUM(const __FlashStringHelper *)
AHK_SUM(char)
AHK_SUM(unsigned char)
AHK_SUM(int)
AHK_SUM(unsigned int)
AHK_SUM(long)
AHK_SUM(unsigned long)
AHK_SUM(long long)
AHK_SUM(unsigned long long)
AHK_SUM(float)
AHK_SUM(double)
#undef AHK_SUM

#define AHK_SUM_RV(T)                                                                                                  \
    String operator+(String &&lhs, T rhs)                                                                              \
    {                                                                                                                  \
        lhs.concat(rhs);                                                                                               \
        return static_cast<String &&>(lhs);                                                                            \
    }
AHK_SUM_RV(const String &)
AHK_SUM_RV(const char *)
AHK_SUM_RV(char)
AHK_SUM_RV(int)
AHK_SUM_RV(unsigned int)
AHK_SUM_RV(long)
AHK_SUM_RV(unsigned long)
AHK_SUM_RV(const __FlashStringHelper *)
AHK_SUM_RV(unsigned char)
AHK_SUM_RV(long long)
AHK_SUM_RV(unsigned long long)
AHK_SUM_RV(float)
AHK_SUM_RV(double)
#undef AHK_SUM_RV

String operator+(const char *lhs, const String &rhs)
{
    String r(lhs);
    r.concat(rhs);
    return r;
}

/* ---- stdlib_noniso conversions ---------------------------------------------- */
extern "C" {

char *ulltoa(unsigned long long value, char *result, int base)
{
    if (base < 2 || base > 36) {
        *result = '\0';
        return result;
    }
    char tmp[72];
    int n = 0;
    do {
        unsigned d = (unsigned)(value % (unsigned)base);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        value /= (unsigned)base;
    } while (value);
    for (int i = 0; i < n; i++)
        result[i] = tmp[n - 1 - i];
    result[n] = '\0';
    return result;
}

char *lltoa(long long value, char *result, int base)
{
    if (value < 0 && base >= 2 && base <= 36) {
        result[0] = '-';
        ulltoa(0ull - (unsigned long long)value, result + 1, base);
        return result;
    }
    return ulltoa((unsigned long long)value, result, base);
}

char *itoa(int value, char *result, int base) { return lltoa(value, result, base); }
char *ltoa(long value, char *result, int base) { return lltoa(value, result, base); }
char *utoa(unsigned value, char *result, int base) { return ulltoa(value, result, base); }
char *ultoa(unsigned long value, char *result, int base) { return ulltoa(value, result, base); }

/* dtostrf: at least `width` characters (right-aligned, space padded), `prec` decimals,
 * rounded half away from zero */
char *dtostrf(double number, signed char width, unsigned char prec, char *s)
{
    char body[360];
    ahk_format_float(body, sizeof body, number, prec, false);
    int len = (int)strlen(body);
    int pad = width > len ? width - len : 0;
    memset(s, ' ', (size_t)pad);
    memcpy(s + pad, body, (size_t)len + 1);
    return s;
}
}
