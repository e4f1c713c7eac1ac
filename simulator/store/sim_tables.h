/* sim_tables: the C12.19 table store of one meter.
 *
 * Owns: the bytes of every table a MEP module uses, sized from the dimension
 * tables (BT00, BT21, ET11) of the profile, and the rendering of the tables
 * that mirror the meter model at read time (BT23, BT28, BT52, BT55, and the
 * ET04 sequence-number field is left to the protocol layer). Static tables
 * are built once from the profile; writable ones keep what was written for
 * the run. Access control is not done here (sim_access, sim_psem).
 */
#ifndef SIM_TABLES_H
#define SIM_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_layout.h"
#include "sim_model.h"
#include "sim_profile.h"

typedef struct sim_tables sim_tables;

typedef enum {
    SIM_TBL_OK = 0,
    SIM_TBL_UNKNOWN = -1,     /* no such table in this meter -> 0x05 */
    SIM_TBL_RANGE = -2,       /* offset at or past the end -> 0x05 */
} sim_tbl_result;

/* Build the store for a profile. The model is read (never written) when
 * dynamic tables are rendered; it must outlive the store. */
sim_tables *sim_tables_new(const sim_profile *p, const sim_model *model, char *err, size_t errlen);
void sim_tables_free(sim_tables *t);

/* Size in bytes of a table, or SIM_TBL_UNKNOWN. */
int sim_tables_size(const sim_tables *t, uint16_t id);
/* Copy bytes [off, off+n) into out, clamped at the table end (returns the
 * number copied, >= 0) or a negative sim_tbl_result. Dynamic tables are
 * rendered from the model's current state first (the caller advances the
 * model to "now" before dispatching a request). */
int sim_tables_read(sim_tables *t, uint16_t id, uint32_t off, uint32_t n, uint8_t *out);
/* BT00's writable-table sets hold the MEP rights (docs/mep.md App. C); the
 * optical core shows its own port's rights in their place (sim_optical.c). */
/* BT00.17, the manufacturer status bytes of BT03 (BT03 = 4 + this). */
#define SIM_TABLES_MFG_STATUS_LEN 9
/* Store data at off (extra bytes past the end are ignored, docs/mep.md 3.3).
 * Returns bytes stored or a negative sim_tbl_result. No side effects beyond
 * the bytes: the protocol layer reacts to writes (BT07, ET50, ET13...). */
int sim_tables_write(sim_tables *t, uint16_t id, uint32_t off, const uint8_t *data, uint32_t n);
/* Direct access to a table's storage for the protocol layer (ET13 alert
 * flags, ET14 status, ET59 results...). NULL if unknown. Dynamic tables
 * return their last rendering. */
uint8_t *sim_tables_raw(sim_tables *t, uint16_t id, size_t *size);
/* Render a dynamic table now (no-op for static tables). */
void sim_tables_render(sim_tables *t, uint16_t id);
/* BT23/BT28 renders are cached on the model's `version`. A model that is
 * re-initialised (sim_model_init) under a live store starts its version
 * again: call this afterwards so the next read re-renders. */
void sim_tables_invalidate(sim_tables *t);
/* Table ids present, in ascending order. Returns count (<= cap written). */
size_t sim_tables_list(const sim_tables *t, uint16_t *ids, size_t cap);

/* The ET11 bytes the store was laid out with (39 bytes: the profile's
 * dimensions). A profile override may make the SERVED ET11 differ (malformed
 * dimensions for module tests, scenario S29); code that locates entries in
 * ET13/ET14/ET15/ET16/ET50 should use these bytes, not the served table. */
const uint8_t *sim_tables_layout_et11(const sim_tables *t);

/* A MAK write to BT23 (docs/mep.md 6: BT23 is MAK-writable) sets registers: the
 * protocol layer calls this after sim_tables_write with the same bytes.
 * Every total-block summation fully inside [off, off+n) is applied to the
 * model (energies 0-3 and 11-18 via sim_model_set_register; 4 outage
 * seconds, 5 outage count, 10 error counter). Derived sums (6, 7), pulse
 * inputs (8, 9), the demand-reset counter and tier blocks are not state of
 * the model and are ignored. Returns the number of summations applied. */
int sim_tables_apply_bt23_write(const sim_tables *t, sim_model *m, uint32_t off,
                                const uint8_t *data, uint32_t n);


#endif
