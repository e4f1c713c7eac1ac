/* WString.h: the Arduino String class (Arduino language reference, "String()" and its
 * functions and operators), with the board's conversions: numbers in a base, floats with a
 * number of decimal places, toInt() as atol and toFloat() as atof. An allocation failure
 * leaves the String invalid (if (s) is false), as the reference describes. */
#ifndef AHK_WSTRING_H
#define AHK_WSTRING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

class __FlashStringHelper;
#define F(string_literal) (reinterpret_cast<const __FlashStringHelper *>(string_literal))
#define FPSTR(pstr_pointer) (reinterpret_cast<const __FlashStringHelper *>(pstr_pointer))

class String {
    /* the reference's "safe bool": if (s) is true for any valid String, even an empty one */
    typedef void (String::*StringIfHelperType)() const;
    void StringIfHelper() const {}

public:
    String(const char *cstr = "");
    String(const char *cstr, unsigned int length);
    String(const uint8_t *cstr, unsigned int length) : String((const char *)cstr, length) {}
    String(const String &str);
    String(const __FlashStringHelper *str);
    String(String &&rval) noexcept;
    explicit String(char c);
    explicit String(unsigned char value, unsigned char base = 10);
    explicit String(int value, unsigned char base = 10);
    explicit String(unsigned int value, unsigned char base = 10);
    explicit String(long value, unsigned char base = 10);
    explicit String(unsigned long value, unsigned char base = 10);
    explicit String(long long value, unsigned char base = 10);
    explicit String(unsigned long long value, unsigned char base = 10);
    explicit String(float value, unsigned int decimalPlaces = 2);
    explicit String(double value, unsigned int decimalPlaces = 2);
    ~String();

    /* memory: false when the buffer cannot be allocated (the String is then invalid) */
    bool reserve(unsigned int size);
    unsigned int length() const { return buf() ? len() : 0; }
    bool isEmpty() const { return length() == 0; }

    String &operator=(const String &rhs);
    String &operator=(const char *cstr);
    String &operator=(const __FlashStringHelper *str);
    String &operator=(String &&rval) noexcept;

    /* concat: true on success, false if out of memory (the String is then unchanged) */
    bool concat(const String &str);
    bool concat(const char *cstr);
    bool concat(const char *cstr, unsigned int length);
    bool concat(const uint8_t *cstr, unsigned int length) { return concat((const char *)cstr, length); }
    bool concat(char c);
    bool concat(unsigned char num);
    bool concat(int num);
    bool concat(unsigned int num);
    bool concat(long num);
    bool concat(unsigned long num);
    bool concat(long long num);
    bool concat(unsigned long long num);
    bool concat(float num);
    bool concat(double num);
    bool concat(const __FlashStringHelper *str);

    template <typename T> String &operator+=(const T &rhs)
    {
        concat(rhs);
        return *this;
    }
    String &operator+=(const char *cstr)
    {
        concat(cstr);
        return *this;
    }

    operator StringIfHelperType() const { return buf() ? &String::StringIfHelper : 0; }

    /* comparison: compareTo is strcmp's sign; operators compare the whole content */
    int compareTo(const String &s) const;
    bool equals(const String &s) const;
    bool equals(const char *cstr) const;
    bool operator==(const String &rhs) const { return equals(rhs); }
    bool operator==(const char *cstr) const { return equals(cstr); }
    bool operator!=(const String &rhs) const { return !equals(rhs); }
    bool operator!=(const char *cstr) const { return !equals(cstr); }
    bool operator<(const String &rhs) const { return compareTo(rhs) < 0; }
    bool operator>(const String &rhs) const { return compareTo(rhs) > 0; }
    bool operator<=(const String &rhs) const { return compareTo(rhs) <= 0; }
    bool operator>=(const String &rhs) const { return compareTo(rhs) >= 0; }
    bool equalsIgnoreCase(const String &s) const;
    bool equalsConstantTime(const String &s) const;
    bool startsWith(const String &prefix) const;
    bool startsWith(const String &prefix, unsigned int offset) const;
    bool endsWith(const String &suffix) const;

    /* characters: out-of-range reads give 0, out-of-range writes are ignored */
    char charAt(unsigned int index) const;
    void setCharAt(unsigned int index, char c);
    char operator[](unsigned int index) const;
    char &operator[](unsigned int index);
    void getBytes(unsigned char *buf, unsigned int bufsize, unsigned int index = 0) const;
    void toCharArray(char *buf, unsigned int bufsize, unsigned int index = 0) const
    {
        getBytes((unsigned char *)buf, bufsize, index);
    }
    const char *c_str() const { return buf() ? buf() : ""; }
    char *begin() { return buf(); }
    char *end() { return buf() ? buf() + len() : buf(); }
    const char *begin() const { return c_str(); }
    const char *end() const { return c_str() + length(); }

    /* search: -1 when not found */
    int indexOf(char ch) const;
    int indexOf(char ch, unsigned int fromIndex) const;
    int indexOf(const String &str) const;
    int indexOf(const String &str, unsigned int fromIndex) const;
    int lastIndexOf(char ch) const;
    int lastIndexOf(char ch, unsigned int fromIndex) const;
    int lastIndexOf(const String &str) const;
    int lastIndexOf(const String &str, unsigned int fromIndex) const;
    String substring(unsigned int beginIndex) const { return substring(beginIndex, length()); }
    String substring(unsigned int beginIndex, unsigned int endIndex) const;

    /* modification in place */
    void replace(char find, char replace);
    void replace(const String &find, const String &replace);
    void remove(unsigned int index);
    void remove(unsigned int index, unsigned int count);
    void toLowerCase();
    void toUpperCase();
    void trim();

    /* parsing */
    long toInt() const;
    float toFloat() const;
    double toDouble() const;

private:
    bool assign(const char *cstr, unsigned int length);
    bool append(const char *cstr, unsigned int length);
    void invalidate();
    /* The ESP32 core's layout: strings shorter than SSOSIZE live inside the object (small
     * string optimisation), NUL terminated from its first byte; longer ones on the heap.
     * Sketches see this layout when they pass a String to printf("%s") by mistake: on the
     * board (and here) a short one prints, a long one prints garbage. */
    struct Ptr {
        char *buff;
        unsigned int cap;
        unsigned int len;
    };
    enum { SSOSIZE = sizeof(Ptr) + 4 - 1 };
    struct Sso {
        char buff[SSOSIZE];
        unsigned char len : 7;
        unsigned char isHeap : 1;
    } __attribute__((packed));
    union {
        Ptr ptr_;
        Sso sso_;
    };
    void init() /* the invalid (null) String */
    {
        memset((void *)&sso_, 0, sizeof sso_);
        sso_.isHeap = 1;
        ptr_.buff = nullptr;
    }
    bool sso() const { return !sso_.isHeap; }
    char *buf() const { return sso() ? const_cast<char *>(sso_.buff) : ptr_.buff; }
    unsigned int len() const { return sso() ? sso_.len : ptr_.len; }
    unsigned int cap() const { return sso() ? SSOSIZE - 1 : ptr_.cap; }
    void set_len(unsigned int n)
    {
        if (sso())
            sso_.len = n & 0x7f;
        else
            ptr_.len = n;
    }
};

/* The reference's concatenation operator: String + anything String::concat accepts, and
 * "literal" + String. Chains (s + 1 + "x" + 2.5) build one String left to right. */
typedef String StringSumHelper;
String operator+(const String &lhs, const String &rhs);
String operator+(const String &lhs, const char *rhs);
String operator+(const char *lhs, const String &rhs);
String operator+(const String &lhs, const __FlashStringHelper *rhs);
String operator+(const String &lhs, char rhs);
String operator+(const String &lhs, unsigned char rhs);
String operator+(const String &lhs, int rhs);
String operator+(const String &lhs, unsigned int rhs);
String operator+(const String &lhs, long rhs);
String operator+(const String &lhs, unsigned long rhs);
String operator+(const String &lhs, long long rhs);
String operator+(const String &lhs, unsigned long long rhs);
String operator+(const String &lhs, float rhs);
String operator+(const String &lhs, double rhs);
String operator+(String &&lhs, const String &rhs);
String operator+(String &&lhs, const char *rhs);
String operator+(String &&lhs, char rhs);
String operator+(String &&lhs, int rhs);
String operator+(String &&lhs, unsigned int rhs);
String operator+(String &&lhs, long rhs);
String operator+(String &&lhs, unsigned long rhs);
String operator+(String &&lhs, const __FlashStringHelper *rhs);
String operator+(String &&lhs, unsigned char rhs);
String operator+(String &&lhs, long long rhs);
String operator+(String &&lhs, unsigned long long rhs);
String operator+(String &&lhs, float rhs);
String operator+(String &&lhs, double rhs);
inline bool operator==(const char *lhs, const String &rhs) { return rhs.equals(lhs); }
inline bool operator!=(const char *lhs, const String &rhs) { return !rhs.equals(lhs); }

/* C library conversions the ESP32 core provides (stdlib_noniso) */
extern "C" {
char *itoa(int value, char *result, int base);
char *ltoa(long value, char *result, int base);
char *utoa(unsigned value, char *result, int base);
char *ultoa(unsigned long value, char *result, int base);
char *lltoa(long long value, char *result, int base);
char *ulltoa(unsigned long long value, char *result, int base);
char *dtostrf(double number, signed char width, unsigned char prec, char *s);
}

#endif
