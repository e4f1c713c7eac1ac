/* mepc_fmt: tiny freestanding text and memory helpers for the MEP client.
 *
 * Owns: bounded string building (decimal, hex, text) for log lines and
 * status texts, printable-ASCII extraction of meter strings (BT01, ET03),
 * and the few mem* helpers the core needs. The core may not use libc
 * (mepc.h rules), so these replace memcpy/memcmp/snprintf.
 */
#ifndef MEPC_FMT_H
#define MEPC_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void mepc_mem_copy(void *dst, const void *src, size_t n);
void mepc_mem_set(void *dst, uint8_t v, size_t n);
bool mepc_mem_equal(const void *a, const void *b, size_t n);
size_t mepc_str_len(const char *s);
bool mepc_str_equal(const char *a, const char *b);

/* Bounded string builder: always NUL-terminated, silently truncates. */
typedef struct {
    char *p;
    size_t cap;
    size_t len;
} mepc_sb;

void mepc_sb_init(mepc_sb *b, char *buf, size_t cap);
void mepc_sb_char(mepc_sb *b, char ch);
void mepc_sb_str(mepc_sb *b, const char *s);
void mepc_sb_u32(mepc_sb *b, uint32_t v);
void mepc_sb_i64(mepc_sb *b, int64_t v);
/* Exactly `digits` upper-case hex digits (1..8). */
void mepc_sb_hex(mepc_sb *b, uint32_t v, unsigned digits);

/* Copy a fixed-width meter string: stops at NUL, maps any byte outside
 * 0x20..0x7E (0xFF padding, control bytes) to a space, trims trailing spaces
 * (S30). dst always NUL-terminated; at most cap-1 characters. */
void mepc_copy_printable(char *dst, size_t cap, const uint8_t *src, size_t n);

#endif
