/* Stream.h: Arduino API Stream (Arduino reference, "Stream"): byte input with the documented
 * timeout: readBytes, readBytesUntil, readString, readStringUntil, find, findUntil, parseInt
 * and parseFloat wait for each next character at most getTimeout() ms (default 1000 ms,
 * setTimeout changes it); on a timeout they return what they have. */
#ifndef AHK_STREAM_H
#define AHK_STREAM_H

#include "Print.h"

enum LookaheadMode {
    SKIP_ALL,        /* skip everything that is not part of a number */
    SKIP_NONE,       /* nothing is skipped; a non-number character ends the parse */
    SKIP_WHITESPACE, /* only spaces, tabs, CR and LF are skipped */
};

#define NO_IGNORE_CHAR '\x01'

class Stream : public Print {
public:
    Stream() {}
    virtual int available() = 0;
    virtual int read() = 0;
    virtual int peek() = 0;

    void setTimeout(unsigned long timeout) { timeout_ = timeout; }
    unsigned long getTimeout(void) { return timeout_; }

    bool find(const char *target);
    bool find(const uint8_t *target) { return find((const char *)target); }
    bool find(const char *target, size_t length);
    bool find(const uint8_t *target, size_t length) { return find((const char *)target, length); }
    bool find(char target) { return find(&target, 1); }
    bool findUntil(const char *target, const char *terminator);
    bool findUntil(const uint8_t *target, const char *terminator) { return findUntil((const char *)target, terminator); }
    bool findUntil(const char *target, size_t targetLen, const char *terminate, size_t termLen);

    long parseInt(LookaheadMode lookahead = SKIP_ALL, char ignore = NO_IGNORE_CHAR);
    float parseFloat(LookaheadMode lookahead = SKIP_ALL, char ignore = NO_IGNORE_CHAR);

    virtual size_t readBytes(char *buffer, size_t length);
    size_t readBytes(uint8_t *buffer, size_t length) { return readBytes((char *)buffer, length); }
    size_t readBytesUntil(char terminator, char *buffer, size_t length);
    size_t readBytesUntil(char terminator, uint8_t *buffer, size_t length)
    {
        return readBytesUntil(terminator, (char *)buffer, length);
    }
    virtual String readString();
    String readStringUntil(char terminator);

protected:
    int timedRead();
    int timedPeek();
    int peekNextDigit(LookaheadMode lookahead, bool detectDecimal);
    unsigned long timeout_ = 1000;
};

#endif
