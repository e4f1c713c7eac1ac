/* sim_state: what one emulated meter keeps across process restarts
 * (mepsim --state FILE), and its JSON file format.
 *
 * Owns: the saved-state record (energy registers and the model state that
 * continues them, sequence number E, the simulated clock, the tables a
 * client or the meter wrote: registration, alerts, schedules), its strict
 * JSON form (format "mepsim-state", version SIM_STATE_VERSION), and the
 * file operations: load, and an atomic save (temporary file in the same
 * folder, fsync, rename, fsync of the folder). No event loop; the caller
 * decides when to save (app/sim_station: at most every SIM_STATE_SAVE_S
 * while something changed, and on exit).
 *
 * Restart rule (kill -9 included): the file records the simulated time and
 * the wall-clock time (CLOCK_REALTIME) of the save together with the whole
 * model state (registers, integration residues, random-walk generator, the
 * loads in force, control-socket overrides included). On
 * load the meter continues as if it had kept running while the process was
 * down: the simulated clock moves on by the wall time that passed (times the
 * saved speed, never backwards) and the model integrates from the saved
 * registers over that gap. The model is deterministic in simulated time, so
 * after a kill -9 it replays the lost seconds exactly and every register is
 * at least what any client read before the kill.
 */
#ifndef SIM_STATE_H
#define SIM_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_model.h"

#define SIM_STATE_FORMAT "mepsim-state"
#define SIM_STATE_VERSION 1
#define SIM_STATE_MAX_TABLES 32
#define SIM_STATE_SAVE_S 5.0          /* at most one periodic save per meter per 5 s */

typedef struct {
    uint16_t id;                      /* MEP_BT(n) / MEP_ET(n) numbering: ET = 2048 + n */
    size_t len;
    uint8_t *bytes;                   /* owned */
} sim_state_table;

/* The model fields that carry on across a restart (a copy of sim_model's
 * dynamic part; its configuration comes from the profile again). */
typedef struct {
    int64_t t_ms, next_step_ms;
    uint64_t rng;
    int64_t reg_m[SIM_REG_COUNT], reg_res[SIM_REG_COUNT];
    int64_t phase_fwd_mwh[SIM_MAX_PHASES], phase_rev_mwh[SIM_MAX_PHASES];
    int64_t phase_fwd_res[SIM_MAX_PHASES], phase_rev_res[SIM_MAX_PHASES];
    double walk_w[SIM_MAX_PHASES], v_dev[SIM_MAX_PHASES];
    double avg_fwd_w[SIM_MAX_PHASES], avg_rev_w[SIM_MAX_PHASES], avg_v[SIM_MAX_PHASES];
    uint32_t outage_count, outage_seconds, error_counter;
    /* the loads as they were, control-socket overrides included: the
     * replay of the seconds a kill -9 lost must book at least what was
     * booked before (top of this file) */
    sim_load load[SIM_MAX_PHASES];
    bool override_active[SIM_MAX_PHASES];
} sim_state_model;

typedef struct {
    /* identity: a state file only continues the meter it was saved for */
    char profile[64];                 /* sim_profile.name */
    char meter_serial[17];            /* BT01.16 source digits */
    char utility_serial[31];          /* ET03.0 */
    int64_t saved_utc_ms;             /* wall clock (Unix ms) at the save */
    int64_t sim_utc_ms;               /* the meter's simulated time at the save */
    double speed;                     /* simulated ms per wall ms then */
    uint32_t next_seq;                /* E */
    sim_state_model model;
    sim_state_table tables[SIM_STATE_MAX_TABLES];
    size_t n_tables;
} sim_state;

typedef enum {
    SIM_STATE_OK = 0,
    SIM_STATE_MISSING,                /* no file at the path: a first run */
    SIM_STATE_BAD,                    /* unreadable, corrupt, wrong version ...: err says which */
} sim_state_result;

/* Free the table copies (the struct itself is the caller's). */
void sim_state_clear(sim_state *st);
/* Add a copy of a table's bytes. -1 when full or out of memory. */
int sim_state_add_table(sim_state *st, uint16_t id, const uint8_t *bytes, size_t len);
/* Copy the dynamic part of a model in and out. */
void sim_state_model_get(sim_state_model *out, const sim_model *m);
void sim_state_model_put(const sim_state_model *in, sim_model *m);

/* Parse a state document (text of len bytes; name is used in messages).
 * Strict: unknown keys, wrong types, wrong format or version -> BAD with
 * "<name>: <where>: <problem>". On BAD, *st holds nothing to free. */
sim_state_result sim_state_parse(const char *text, size_t len, const char *name, sim_state *st, char *err,
                                 size_t errlen);
/* Read and parse a file; MISSING (not an error) when it does not exist. */
sim_state_result sim_state_load(const char *path, sim_state *st, char *err, size_t errlen);
/* The JSON text of a state (malloc'd, caller frees), NULL when out of memory. */
char *sim_state_dump(const sim_state *st);
/* Write text atomically to path: path.tmp, fsync, rename, fsync the folder.
 * -1 with a message naming the step that failed. */
int sim_state_write_file(const char *path, const char *text, char *err, size_t errlen);
/* Can a state file be created at path (its folder exists and is writable)?
 * -1 with a message. */
int sim_state_check_path(const char *path, char *err, size_t errlen);

#endif
