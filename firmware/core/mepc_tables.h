/* mepc_tables: decoding of the meter tables the MEP client reads.
 *
 * Owns: the BT21-driven layouts of BT23 and BT28 (docs/mep.md 12.6, 12.8; never
 * hard-coded: module-behaviour S28), and decoders for BT01 (identity), ET03
 * (utility serial), BT52 (UTC clock), ET04.56-62 (rating), ET11 (dimensions,
 * bounds-checked: S29), ET13 (alert flags offset) and the procedure response
 * tables (ET59/BT08, docs/mep.md 8.1). Table data is LSB-first (docs/mep.md 11). Every
 * decoder checks the byte count it was given before reading (S15). Pure.
 */
#ifndef MEPC_TABLES_H
#define MEPC_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEPC_BT28_MAX_VALUES 84u   /* values 0..83 of docs/mep.md 12.8 */

typedef struct {
    bool valid;
    uint8_t bt21[10];
    uint8_t bt23_sum0;           /* A: 1 if BT21.0 bit2 (demand reset counter) */
    uint8_t n_summations;        /* BT21.3 */
    uint16_t bt28_value0;        /* (BT21.0 bit6 ? 7 : 4) * BT21.8 */
    uint8_t n_present_values;    /* BT21.9 */
    uint16_t bt28_size;          /* value0 + 4 * BT21.9 */
} mepc_layout;

/* Needs the 10 bytes of BT21. False (layout invalid) if n < 10 or the table
 * has fewer than 2 summations (no Fwd/Rev active energy). */
bool mepc_layout_from_bt21(const uint8_t *bt21, size_t n, mepc_layout *out);
/* Bytes to read from BT23 offset 0 to get summations 0 and 1. */
static inline uint16_t mepc_layout_bt23_count(const mepc_layout *l) { return (uint16_t)(l->bt23_sum0 + 8u); }

/* BT23 data from offset 0: summation 0 (Fwd Wh) and 1 (Rev Wh). */
bool mepc_decode_bt23(const mepc_layout *l, const uint8_t *d, size_t n, int64_t *fwd_wh, int64_t *rev_wh);
/* BT28 data from offset 0: present values as far as n covers whole values
 * (max `max`, at most BT21.9). Returns the number decoded. */
size_t mepc_decode_bt28(const mepc_layout *l, const uint8_t *d, size_t n, int32_t *v, size_t max);
/* BT52 LTIME_DATE (UTC) -> seconds since 2000-01-01 00:00:00. False if the
 * date is not a valid one. */
bool mepc_decode_bt52(const uint8_t *d, size_t n, uint32_t *s2000);
/* BT01: manufacturer (0-3), model (4-11), "<b14>.<b15>" (docs/module-behaviour.md 8.1). */
bool mepc_decode_bt01(const uint8_t *d, size_t n, char manufacturer[5], char model[9], char sw[12]);
/* ET03 bytes 0-29: utility serial number. */
bool mepc_decode_et03(const uint8_t *d, size_t n, char sn[31]);

typedef struct {
    uint16_t max_current_a;      /* ET04.58 */
    uint16_t rated_voltage_v;    /* ET04.60 */
    uint8_t phases;              /* 3 - voltage phases flagged absent in ET04.62 bits 0-2 */
} mepc_rating;
/* d = ET04 from offset 56, n >= 7. */
bool mepc_decode_et04_rating(const uint8_t *d, size_t n, mepc_rating *out);

/* ET11.0 (device entries) and ET11.1 (ET13 entry size). False unless the MEP1
 * entry (index 4) exists and holds its alert flags byte (S29). */
bool mepc_decode_et11(const uint8_t *d, size_t n, uint8_t *devices, uint8_t *entry_size);
/* Offset of the MEP1 alert flags in ET13 (docs/mep.md 12.14): 4 * size + 8. */
static inline uint32_t mepc_et13_flags_offset(uint8_t entry_size) { return 4u * entry_size + 8u; }

/* Procedure response (ET59/BT08, docs/mep.md 8.1). */
typedef struct {
    uint16_t proc;   /* bits 0..11 */
    uint8_t psn;
    uint8_t result;
} mepc_proc_result;
bool mepc_decode_proc_result(const uint8_t *d, size_t n, mepc_proc_result *out);

#endif
