/* Stream.cpp: Arduino API Stream (see Stream.h). The per-character timeout restarts for every
 * character, as the reference's readBytes/readString describe ("times out" waiting for the
 * next character). While waiting the runtime is idle, so other I/O keeps going. */
#include "Stream.h"

#include "Arduino.h"
#include "ahk_runtime.h"

int Stream::timedRead()
{
    unsigned long start = millis();
    for (;;) {
        int c = read();
        if (c >= 0)
            return c;
        if (millis() - start >= timeout_)
            return -1;
        ahk::idle(1);
    }
}

int Stream::timedPeek()
{
    unsigned long start = millis();
    for (;;) {
        int c = peek();
        if (c >= 0)
            return c;
        if (millis() - start >= timeout_)
            return -1;
        ahk::idle(1);
    }
}

int Stream::peekNextDigit(LookaheadMode lookahead, bool detectDecimal)
{
    for (;;) {
        int c = timedPeek();
        if (c < 0 || c == '-' || (c >= '0' && c <= '9') || (detectDecimal && c == '.'))
            return c;
        if (lookahead == SKIP_NONE)
            return -1;
        if (lookahead == SKIP_WHITESPACE && c != ' ' && c != '\t' && c != '\r' && c != '\n')
            return -1;
        read(); /* discard the skipped character */
    }
}

bool Stream::find(const char *target) { return findUntil(target, strlen(target), NULL, 0); }
bool Stream::find(const char *target, size_t length) { return findUntil(target, length, NULL, 0); }

bool Stream::findUntil(const char *target, const char *terminator)
{
    return findUntil(target, strlen(target), terminator, terminator ? strlen(terminator) : 0);
}

/* true when target was read; false on the terminator or a timeout. A partial match that
 * fails restarts at the longest suffix that is again a prefix of the target. */
bool Stream::findUntil(const char *target, size_t targetLen, const char *terminate, size_t termLen)
{
    if (targetLen == 0)
        return true;
    size_t ti = 0, ei = 0;
    for (;;) {
        int c = timedRead();
        if (c < 0)
            return false;
        while (ti > 0 && (char)c != target[ti]) {
            /* fall back: longest proper prefix of target[0..ti) that is also its suffix */
            size_t k = ti - 1;
            while (k > 0 && memcmp(target, target + ti - k, k) != 0)
                k--;
            ti = k;
        }
        if ((char)c == target[ti] && ++ti == targetLen)
            return true;
        if (termLen > 0) {
            if ((char)c == terminate[ei]) {
                if (++ei == termLen)
                    return false;
            } else {
                ei = (char)c == terminate[0] ? 1 : 0;
            }
        }
    }
}

long Stream::parseInt(LookaheadMode lookahead, char ignore)
{
    int c = peekNextDigit(lookahead, false);
    if (c < 0)
        return 0;
    bool negative = false;
    long value = 0;
    do {
        if (c == ignore) {
        } else if (c == '-') {
            negative = true;
        } else if (c >= '0' && c <= '9') {
            value = value * 10 + c - '0';
        }
        read();
        c = timedPeek();
    } while ((c >= '0' && c <= '9') || c == ignore);
    return negative ? -value : value;
}

float Stream::parseFloat(LookaheadMode lookahead, char ignore)
{
    int c = peekNextDigit(lookahead, true);
    if (c < 0)
        return 0;
    bool negative = false, fraction = false;
    double value = 0, scale = 1;
    do {
        if (c == ignore) {
        } else if (c == '-') {
            negative = true;
        } else if (c == '.') {
            fraction = true;
        } else if (c >= '0' && c <= '9') {
            value = value * 10 + c - '0';
            if (fraction)
                scale *= 0.1;
        }
        read();
        c = timedPeek();
    } while ((c >= '0' && c <= '9') || (c == '.' && !fraction) || c == ignore);
    if (negative)
        value = -value;
    return (float)(fraction ? value * scale : value);
}

size_t Stream::readBytes(char *buffer, size_t length)
{
    size_t n = 0;
    while (n < length) {
        int c = timedRead();
        if (c < 0)
            break;
        buffer[n++] = (char)c;
    }
    return n;
}

size_t Stream::readBytesUntil(char terminator, char *buffer, size_t length)
{
    size_t n = 0;
    while (n < length) {
        int c = timedRead();
        if (c < 0 || c == terminator)
            break;
        buffer[n++] = (char)c;
    }
    return n;
}

String Stream::readString()
{
    String s;
    int c;
    while ((c = timedRead()) >= 0)
        s += (char)c;
    return s;
}

String Stream::readStringUntil(char terminator)
{
    String s;
    int c;
    while ((c = timedRead()) >= 0 && c != terminator)
        s += (char)c;
    return s;
}
