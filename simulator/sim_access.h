/* sim_access: who may read, write and call what over MEP (MEP guide App. C).
 *
 * Owns: the MBK/MAK access matrix (data from fixtures/vectors/mep_access.json,
 * compiled in as sim_access_data.c; the Check test test_access walks the JSON
 * and proves every row agrees), plus the per-meter hardware-lock overrides.
 * Pure lookups.
 */
#ifndef SIM_ACCESS_H
#define SIM_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    SIM_LEVEL_NONE = 0,
    SIM_LEVEL_MBK = 1,
    SIM_LEVEL_MAK = 2,
} sim_level;

const char *sim_level_name(sim_level l);

/* Table known to the access matrix? (unlisted tables answer 0x05, mep.md 6) */
bool sim_access_table_listed(uint16_t table_id);
bool sim_access_can_read(uint16_t table_id, sim_level l);
bool sim_access_can_write(uint16_t table_id, sim_level l);
bool sim_access_proc_listed(uint16_t proc_id);
bool sim_access_can_call(uint16_t proc_id, sim_level l);

#endif
