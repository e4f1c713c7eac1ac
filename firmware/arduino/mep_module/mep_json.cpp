/* mep_json: a tiny JSON writer into a fixed buffer (see mep_json.h). */
#include "mep_json.h"

MepJson::MepJson(char *buf, size_t cap) : buf_(buf), cap_(cap)
{
    if (cap_)
        buf_[0] = '\0';
    else
        overflow_ = true;
}

void MepJson::ch(char c)
{
    if (len_ + 1 >= cap_) {
        overflow_ = true;
        return;
    }
    buf_[len_++] = c;
    buf_[len_] = '\0';
}

void MepJson::raw(const char *s)
{
    while (*s)
        ch(*s++);
}

void MepJson::key(const char *name)
{
    if (!first_)
        ch(',');
    first_ = false;
    if (name) {
        str(NULL, name, 64);
        ch(':');
    }
}

void MepJson::begin()
{
    ch('{');
    first_ = true;
}

void MepJson::end()
{
    ch('}');
    first_ = false;
}

void MepJson::object(const char *name)
{
    key(name);
    ch('{');
    first_ = true;
}

void MepJson::str(const char *name, const char *v, size_t max)
{
    if (name)
        key(name);
    size_t n = 0;
    while (n < max && v[n])
        n++;
    while (n && v[n - 1] == ' ')
        n--; /* trailing spaces (8.1: ET03 "trailing spaces removed") */
    ch('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\') {
            ch('\\');
            ch((char)c);
        } else if (c >= 0x20 && c < 0x7F) {
            ch((char)c);
        } else {
            ch('?'); /* S30: only printable ASCII, so always valid UTF-8 */
        }
    }
    ch('"');
}

void mep_json_i64(char out[24], int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10u));
        u /= 10u;
    } while (u);
    size_t k = 0;
    if (v < 0)
        out[k++] = '-';
    while (n)
        out[k++] = tmp[--n];
    out[k] = '\0';
}

void MepJson::integer(const char *name, int64_t v)
{
    char d[24];
    key(name);
    mep_json_i64(d, v);
    raw(d);
}

void MepJson::boolean(const char *name, bool v)
{
    key(name);
    raw(v ? "true" : "false");
}

void MepJson::null(const char *name)
{
    key(name);
    raw("null");
}
