/* sim_profiles: the meter profiles of one mepsim process, each parsed once.
 *
 * A fleet of 10,000 meters usually runs a handful of profiles: parsing the
 * built-in profile per meter was most of the start-up time and a copy per
 * meter most of its memory. Stations ask here for a profile by path ("" =
 * the built-in one) and share the result read-only; a meter with a
 * scenario patches its profile (BT21/ET11) and keeps a private copy
 * instead (app/sim_station.c). Every profile lives until
 * sim_profiles_free, after the stations that use it.
 */
#ifndef SIM_PROFILES_H
#define SIM_PROFILES_H

#include <stddef.h>

#include "sim_profile.h"

typedef struct sim_profiles sim_profiles;

sim_profiles *sim_profiles_new(void);
/* The profile at path ("" or NULL: the built-in default), loaded on first
 * use. NULL with the loader's message in err (a bad file is not cached:
 * the next call reports it again). */
const sim_profile *sim_profiles_get(sim_profiles *ps, const char *path, char *err, size_t errlen);
/* Distinct profiles loaded so far. */
size_t sim_profiles_count(const sim_profiles *ps);
void sim_profiles_free(sim_profiles *ps);

#endif
