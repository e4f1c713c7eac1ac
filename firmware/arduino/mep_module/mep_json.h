/* mep_json: a tiny JSON writer into a fixed buffer.
 *
 * Owns: compact JSON text with correct escaping, so the module never emits
 * invalid JSON whatever the meter stored (docs/module-behaviour.md S30). Strings are
 * reduced to printable ASCII ('?' for anything else) and trailing spaces are
 * trimmed, like the host port's documents. Integers are written as JSON
 * integers from int64 (8.1: all numeric members are integers). No heap.
 */
#ifndef MEP_JSON_H
#define MEP_JSON_H

#include <stddef.h>
#include <stdint.h>

class MepJson {
public:
    MepJson(char *buf, size_t cap);
    void begin();                                  /* { */
    void end();                                    /* } */
    void object(const char *name);                 /* "name":{ ... end() */
    void str(const char *name, const char *v, size_t max = 64);
    void integer(const char *name, int64_t v);
    void boolean(const char *name, bool v);
    void null(const char *name);
    bool ok() const { return !overflow_; }
    const char *c_str() const { return buf_; }
    size_t length() const { return len_; }

private:
    void raw(const char *s);
    void ch(char c);
    void key(const char *name);
    char *buf_;
    size_t cap_, len_ = 0;
    bool first_ = true, overflow_ = false;
};

/* Decimal text of v (no libc printf: %lld is not in every printf). */
void mep_json_i64(char out[24], int64_t v);

#endif
