/* ahk_format.h: the one float formatter behind Print::print(double, digits), String(double)
 * and dtostrf (Arduino reference, Print::print: "digits" decimal places, rounded half away
 * from zero; nan/inf printed as words; Print writes "ovf" beyond +-4294967040). */
#ifndef AHK_FORMAT_H
#define AHK_FORMAT_H

#include <stddef.h>

/* Writes the text into out (always NUL terminated) and returns its length. */
size_t ahk_format_float(char *out, size_t cap, double number, unsigned digits, bool print_limits);

#endif
