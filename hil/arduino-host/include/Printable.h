/* Printable.h: Arduino API: a value that knows how to print itself (Print::print(const
 * Printable&) calls printTo). */
#ifndef AHK_PRINTABLE_H
#define AHK_PRINTABLE_H

#include <stddef.h>

class Print;

class Printable {
public:
    virtual ~Printable() {}
    virtual size_t printTo(Print &p) const = 0;
};

#endif
