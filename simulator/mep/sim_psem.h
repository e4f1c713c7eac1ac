/* sim_psem: dispatch of one bare C12.18 request against the table store.
 *
 * Owns: the decisions of docs/mep.md 3.3/3.4/6 for reads and writes: parse
 * (unknown code or malformed -> 0x01), hardware lock (0x03), unknown table
 * (0x05), access level (0x03 when a stronger key could write, 0x05 when the
 * table is read-only for every key), read ranges (offset past the end ->
 * 0x05, offset+count past the end -> clamp or 0x05 by policy, reply larger
 * than the limit -> 0x04), writes (extra bytes ignored, bytes persist), and
 * the response body `code [count(2, MSB) data]`.
 *
 * Side effects of writes (procedure calls, registration, baud changes,
 * transactions) are not done here: the owner passes hooks that run before
 * a write is stored (may veto with a response code) and after. The same
 * dispatch runs direct MEP requests and ET52 transaction records.
 */
#ifndef SIM_PSEM_H
#define SIM_PSEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mep_frame.h"
#include "sim_access.h"
#include "sim_profile.h"
#include "sim_tables.h"

typedef struct {
    uint16_t table;
    uint32_t offset;
    const uint8_t *data;          /* all data bytes of the request (may exceed the table) */
    uint32_t n;
    bool full;                    /* 0x40 */
    sim_level level;
} sim_psem_write;

typedef struct {
    /* After access checks, before storing: return 0 to go on, or the
     * response code to answer (nothing is stored). */
    uint8_t (*before_write)(void *ctx, const sim_psem_write *w, char *note, size_t cap);
    /* After the bytes are stored. */
    void (*after_write)(void *ctx, const sim_psem_write *w, char *note, size_t cap);
    /* Optional: data[0..n) = table bytes [off, off+n) about to be answered;
     * may patch them (protocol faults S30, kWh glitches S16-S18). */
    void (*after_read)(void *ctx, uint16_t table, uint32_t off, uint8_t *data, size_t n);
    void *ctx;
} sim_psem_hooks;

typedef struct {
    sim_tables *tables;
    const uint16_t *locked;       /* hardware-locked tables (profile) */
    size_t n_locked;
    bool past_end_error;          /* policy: partial read past the end -> 0x05 */
    sim_psem_hooks hooks;
} sim_psem;

typedef struct {
    mep_parse_result parse;
    mep_request req;              /* valid when parse == MEP_PARSE_OK */
    uint8_t code;                 /* response code */
    uint32_t data_bytes;          /* reads: table bytes returned */
    char note[200];               /* why, and what the hooks did (for the log line) */
} sim_psem_result;

/* Dispatch req[0..n) (code .. data, no sequence number, no digest) at
 * access level `level`. Reads may return at most max_data table bytes
 * (MEP_MAX_READ_DATA for a MEP frame). Writes the response body into resp
 * (cap >= 3 + max_data) and returns its length (>= 1). */
size_t sim_psem_dispatch(sim_psem *p, const uint8_t *req, size_t n, sim_level level,
                         size_t max_data, uint8_t *resp, size_t cap, sim_psem_result *res);

#endif
