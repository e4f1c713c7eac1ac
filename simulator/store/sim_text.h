/* sim_text: small text helpers shared by the emulator's parsers.
 *
 * Owns: bounded string building, prefixed log lines, strict number parsing (the whole string
 * must be the number) and UTC timestamps "YYYY-MM-DDTHH:MM:SSZ". No state.
 */
#ifndef SIM_TEXT_H
#define SIM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Append printf-style text at out[*n]; *n stays < cap; never overflows. */
void sim_text_appendf(char *out, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Write an error message into err (NULL or errlen 0: nothing). */
void sim_text_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Longest log line sim_text_logf hands on (with its NUL); longer text is cut. */
#define SIM_TEXT_LOG_MAX 320
/* One log line "<who> <what>: <text>" (e.g. "meter0 TLS: ...") handed to
 * log(ctx, line); a NULL log: nothing (the arguments are still evaluated). */
void sim_text_logf(void (*log)(void *ctx, const char *line), void *ctx, const char *who, const char *what,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Unsigned 32-bit, decimal or 0x hex, no sign: 0 or -1. */
int sim_text_parse_u32(const char *v, uint32_t *out);
/* Finite double: 0 or -1. */
int sim_text_parse_double(const char *v, double *out);
/* "2026-03-29T00:59:50Z" (years 2000-2099, real calendar dates) -> Unix ms. */
int sim_text_parse_utc(const char *t, int64_t *unix_ms);
/* Days since 1970-01-01 of a proleptic Gregorian date (also used by
 * store/sim_profile.c). */
int64_t sim_text_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
