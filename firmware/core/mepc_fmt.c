/* mepc_fmt: tiny text and memory helpers (see mepc_fmt.h). Freestanding. */
#include "mepc_fmt.h"

void mepc_mem_copy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--)
        *d++ = *s++;
}

void mepc_mem_set(void *dst, uint8_t v, size_t n)
{
    uint8_t *d = dst;
    while (n--)
        *d++ = v;
}

bool mepc_mem_equal(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return false;
    return true;
}

size_t mepc_str_len(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

bool mepc_str_equal(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

void mepc_sb_init(mepc_sb *b, char *buf, size_t cap)
{
    b->p = buf;
    b->cap = cap;
    b->len = 0;
    if (cap)
        buf[0] = '\0';
}

void mepc_sb_char(mepc_sb *b, char ch)
{
    if (b->len + 1 < b->cap) {
        b->p[b->len++] = ch;
        b->p[b->len] = '\0';
    }
}

void mepc_sb_str(mepc_sb *b, const char *s)
{
    while (s && *s)
        mepc_sb_char(b, *s++);
}

void mepc_sb_u32(mepc_sb *b, uint32_t v)
{
    char tmp[10];
    unsigned n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        mepc_sb_char(b, tmp[--n]);
}

void mepc_sb_i64(mepc_sb *b, int64_t v)
{
    uint64_t u;
    char tmp[20];
    unsigned n = 0;
    if (v < 0) {
        mepc_sb_char(b, '-');
        u = (uint64_t)0 - (uint64_t)v;
    } else {
        u = (uint64_t)v;
    }
    do {
        tmp[n++] = (char)('0' + (unsigned)(u % 10u));
        u /= 10u;
    } while (u);
    while (n)
        mepc_sb_char(b, tmp[--n]);
}

void mepc_sb_hex(mepc_sb *b, uint32_t v, unsigned digits)
{
    static const char hex[] = "0123456789ABCDEF";
    if (digits < 1)
        digits = 1;
    if (digits > 8)
        digits = 8;
    while (digits--)
        mepc_sb_char(b, hex[(v >> (4u * digits)) & 0xFu]);
}

void mepc_copy_printable(char *dst, size_t cap, const uint8_t *src, size_t n)
{
    size_t len = 0;
    if (!cap)
        return;
    for (size_t i = 0; i < n && len + 1 < cap; i++) {
        uint8_t ch = src[i];
        if (ch == 0)
            break;
        dst[len++] = (ch >= 0x20 && ch <= 0x7E) ? (char)ch : ' ';
    }
    while (len && dst[len - 1] == ' ')
        len--;
    dst[len] = '\0';
}
