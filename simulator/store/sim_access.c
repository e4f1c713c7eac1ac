/* sim_access: lookups in the MEP access matrix (MEP guide App. C, docs/mep.md 6).
 *
 * The data is generated into sim_access_data.c from
 * fixtures/vectors/mep_access.json (ci/gen_access_data.py); this file only
 * searches it. Hardware-lock overrides (profile `locked_tables`) are applied
 * by the protocol layer on top of these answers. Pure, no state.
 */
#include "sim_access.h"

#include <stddef.h>

const char *sim_level_name(sim_level l)
{
    switch (l) {
    case SIM_LEVEL_NONE: return "NONE";
    case SIM_LEVEL_MBK: return "MBK";
    case SIM_LEVEL_MAK: return "MAK";
    }
    return "?";
}

static const sim_access_row *find(const sim_access_row *rows, size_t n, uint16_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rows[mid].id == id)
            return &rows[mid];
        if (rows[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static bool level_in(uint8_t mask, sim_level l)
{
    /* NONE never has a right: only an authenticated request reaches a table. */
    if (l != SIM_LEVEL_MBK && l != SIM_LEVEL_MAK)
        return false;
    return (mask & (1u << l)) != 0;
}

bool sim_access_table_listed(uint16_t table_id)
{
    return find(sim_access_tables, sim_access_n_tables, table_id) != NULL;
}

bool sim_access_can_read(uint16_t table_id, sim_level l)
{
    const sim_access_row *r = find(sim_access_tables, sim_access_n_tables, table_id);
    return r && level_in(r->read, l);
}

bool sim_access_can_write(uint16_t table_id, sim_level l)
{
    const sim_access_row *r = find(sim_access_tables, sim_access_n_tables, table_id);
    return r && level_in(r->write, l);
}

bool sim_access_proc_listed(uint16_t proc_id)
{
    return find(sim_access_procs, sim_access_n_procs, proc_id) != NULL;
}

bool sim_access_can_call(uint16_t proc_id, sim_level l)
{
    /* Unlisted procedures are not callable (docs/mep.md 6: refuse, result 6). */
    const sim_access_row *r = find(sim_access_procs, sim_access_n_procs, proc_id);
    return r && level_in(r->read, l);
}
