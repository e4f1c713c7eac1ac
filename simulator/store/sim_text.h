/* sim_text: small text helpers shared by the emulator's parsers.
 *
 * Owns: bounded string building, strict number parsing (the whole string
 * must be the number), UTC timestamps "YYYY-MM-DDTHH:MM:SSZ", and the
 * "NAME key=value key=value" form in which faults, protocol faults and
 * glitches are described (control socket, scenario files, CLI). No state.
 */
#ifndef SIM_TEXT_H
#define SIM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Append printf-style text at out[*n]; *n stays < cap; never overflows. */
void sim_appendf(char *out, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Write an error message into err (NULL or errlen 0: nothing). */
void sim_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Unsigned 32-bit, decimal or 0x hex, no sign: 0 or -1. */
int sim_parse_u32(const char *v, uint32_t *out);
/* Finite double: 0 or -1. */
int sim_parse_double(const char *v, double *out);
/* Finite double within 0..1 (probabilities, rates): 0 or -1. */
int sim_parse_unit(const char *v, double *out);
/* "2026-03-29T00:59:50Z" (years 2000-2099, real calendar dates) -> Unix ms. */
int sim_parse_utc(const char *t, int64_t *unix_ms);
/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t sim_days_from_civil(int64_t y, unsigned m, unsigned d);

/* The names and parameters of one family of specs (line faults, protocol
 * faults, glitches): kind k is kinds[k]; its allowed parameters are the
 * bits in kinds[k].params; params maps parameter names to bits. */
typedef struct {
    const char *name;
    unsigned params;
} sim_spec_kind;
typedef struct {
    const char *key;
    unsigned bit;
} sim_spec_param;
typedef struct {
    const sim_spec_kind *kinds;
    size_t n_kinds;
    const sim_spec_param *params;
    size_t n_params;
} sim_spec_catalog;

/* Index of the kind called name, or -1. */
int sim_spec_kind_index(const sim_spec_catalog *c, const char *name);
/* Name of kind k, "?" if out of range. */
const char *sim_spec_kind_name(const sim_spec_catalog *c, int k);
/* Bit of parameter key, 0 if unknown. */
unsigned sim_spec_param_bit(const sim_spec_catalog *c, const char *key);
/* Kind k takes parameter key. */
bool sim_spec_param_known(const sim_spec_catalog *c, int k, const char *key);

/* "NAME key=value key=value ..." split in place. */
#define SIM_SPEC_MAX_TEXT 512
#define SIM_SPEC_MAX_PAIRS 32
typedef struct {
    char buf[SIM_SPEC_MAX_TEXT];
    const char *name;                     /* NULL if the text is blank */
    const char *key[SIM_SPEC_MAX_PAIRS];
    const char *value[SIM_SPEC_MAX_PAIRS];
    size_t n;
} sim_spec_tokens;

/* Split text. `what` names the thing in messages ("fault", "glitch"):
 * "<what> description missing or too long" and
 * "<what> NAME: expected key=value, got \"TOKEN\"". 0 or -1. */
int sim_spec_tokenize(sim_spec_tokens *t, const char *what, const char *text, char *err, size_t errlen);

#endif
