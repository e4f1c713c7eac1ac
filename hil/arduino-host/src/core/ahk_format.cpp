/* ahk_format.cpp: see ahk_format.h. */
#include "ahk_format.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

size_t ahk_format_float(char *out, size_t cap, double number, unsigned digits, bool print_limits)
{
    if (cap == 0)
        return 0;
    const char *word = nullptr;
    if (isnan(number))
        word = "nan";
    else if (isinf(number))
        word = number < 0 && !print_limits ? "-inf" : "inf";
    else if (print_limits && (number > 4294967040.0 || number < -4294967040.0))
        word = "ovf";
    if (word) {
        snprintf(out, cap, "%s", word);
        return strlen(out);
    }
    size_t n = 0;
    auto put = [&](char c) {
        if (n + 1 < cap)
            out[n++] = c;
    };
    if (number < 0.0) {
        put('-');
        number = -number;
    }
    double rounding = 0.5;
    for (unsigned i = 0; i < digits; i++)
        rounding /= 10.0;
    number += rounding;
    /* integer part: exact digits from the double (it may exceed 64 bits for dtostrf) */
    double ip = floor(number);
    double rem = number - ip;
    char tmp[330];
    snprintf(tmp, sizeof tmp, "%.0f", ip);
    for (const char *p = tmp; *p; p++)
        put(*p);
    if (digits > 0)
        put('.');
    while (digits-- > 0) {
        rem *= 10.0;
        int d = (int)rem;
        if (d > 9)
            d = 9;
        put((char)('0' + d));
        rem -= d;
    }
    out[n] = '\0';
    return n;
}
