/* sim_model: the electrical model of one meter and its simulated clock.
 *
 * Owns: per-phase voltage, current, power factor and frequency; the load on
 * each phase (constant, daily curve or seeded random walk); the energy
 * registers that integrate power over simulated time; and the mapping from
 * wall-clock milliseconds to simulated UTC (sim_clock, with --speed).
 *
 * Integration runs in fixed steps of simulated time (SIM_MODEL_STEP_MS), so
 * the energy booked for a simulated interval does not depend on how fast
 * the clock runs or how often the model is advanced. Pure: no I/O, time is
 * passed in, randomness comes from the seed only.
 */
#ifndef SIM_MODEL_H
#define SIM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_clock.h"

#define SIM_MODEL_STEP_MS 1000  /* integration step in simulated time */
#define SIM_MAX_PHASES 3

/* ---- loads ----------------------------------------------------------- */
typedef enum {
    SIM_LOAD_CONSTANT = 0,
    SIM_LOAD_DAILY,        /* 24 hourly points, linear interpolation, local = UTC */
    SIM_LOAD_RANDOM_WALK,  /* seeded walk between min and max */
} sim_load_kind;

typedef struct {
    sim_load_kind kind;
    double watts;          /* constant value / walk start; negative = export (solar) */
    double pf;             /* power factor 0..1 (magnitude); reactive sign from inductive */
    bool capacitive;       /* reactive power exported (Q negative) */
    double daily_w[24];    /* SIM_LOAD_DAILY */
    double walk_step_w;    /* SIM_LOAD_RANDOM_WALK: max change per step */
    double walk_min_w, walk_max_w;
} sim_load;

typedef struct {
    int phases;            /* 1 or 3 */
    double nominal_v;      /* 230.0 */
    double v_spread;       /* +- volts of slow per-phase deviation (seeded) */
    double freq_hz;        /* 50.0 */
    sim_load load[SIM_MAX_PHASES];
    /* register start values, Wh (import/export active, import/export reactive) */
    int64_t start_fwd_wh, start_rev_wh, start_imp_varh, start_exp_varh;
    /* BT23 summations 4, 5, 10 start values (the model keeps them constant) */
    uint32_t start_outage_seconds, start_outage_count, start_error_counter;
} sim_model_cfg;

/* Energy registers, in milli-Wh / milli-varh / milli-VAh so small steps are
 * not lost. Index order follows BT23 summations where they exist. */
enum sim_register {
    SIM_REG_FWD_WH = 0,      /* BT23 summation 0 */
    SIM_REG_REV_WH,          /* 1 */
    SIM_REG_IMP_VARH,        /* 2 */
    SIM_REG_EXP_VARH,        /* 3 */
    SIM_REG_Q1_VARH, SIM_REG_Q2_VARH, SIM_REG_Q3_VARH, SIM_REG_Q4_VARH, /* 11..14 */
    SIM_REG_Q1_VAH, SIM_REG_Q2_VAH, SIM_REG_Q3_VAH, SIM_REG_Q4_VAH,     /* 15..18 */
    SIM_REG_COUNT
};

typedef struct {
    double v;       /* RMS volts */
    double i;       /* RMS amps */
    double p;       /* active W, >0 import (forward), <0 export (reverse) */
    double q;       /* reactive var, >0 import */
    double s;       /* apparent VA */
    double pf;      /* |P|/S */
    double sin_phi; /* sin of the phase angle, signed like q */
} sim_phase;

typedef struct {
    sim_model_cfg cfg;
    uint64_t rng;                  /* xorshift state */
    int64_t t_ms;                  /* simulated UTC ms the state is valid for */
    int64_t next_step_ms;          /* next integration step boundary */
    sim_phase ph[SIM_MAX_PHASES];
    double freq_hz;
    double walk_w[SIM_MAX_PHASES]; /* random-walk state */
    double v_dev[SIM_MAX_PHASES];  /* slow voltage deviation state */
    int64_t reg_m[SIM_REG_COUNT];  /* registers in milli-units */
    int64_t phase_fwd_mwh[SIM_MAX_PHASES], phase_rev_mwh[SIM_MAX_PHASES];
    /* averages over the last 15 simulated minutes (BT28 47-54), exponential */
    double avg_fwd_w[SIM_MAX_PHASES], avg_rev_w[SIM_MAX_PHASES];
    double avg_v[SIM_MAX_PHASES];
    uint32_t outage_count, outage_seconds, error_counter;
    bool override_active[SIM_MAX_PHASES]; /* set by control: load fixed at override */
    /* Energy not yet booked into the milli-unit registers, in milli-unit
     * milliseconds (mW*ms etc.; 3 600 000 make one milli-unit hour): keeps
     * the integration exact in integers. */
    int64_t reg_res[SIM_REG_COUNT];
    int64_t phase_fwd_res[SIM_MAX_PHASES], phase_rev_res[SIM_MAX_PHASES];
    /* Bumped whenever any value the tables show changes (time, load,
     * registers): lets sim_tables skip re-rendering unchanged tables. */
    uint64_t version;
} sim_model;

void sim_model_init(sim_model *m, const sim_model_cfg *cfg, uint64_t seed, int64_t start_utc_ms);
/* Advance to simulated time utc_ms (no-op if not later than m->t_ms).
 * Integrates whole steps; instantaneous values follow the load at utc_ms. */
void sim_model_advance(sim_model *m, int64_t utc_ms);
/* Move the model to simulated time utc_ms WITHOUT integrating the gap (a
 * clock set, EP16, a meter restart): registers keep their values, the step
 * grid moves with the time, instantaneous values follow utc_ms. Works in
 * both directions. sim_model_advance over a gap longer than
 * SIM_MODEL_MAX_CATCHUP_MS integrates only the last SIM_MODEL_MAX_CATCHUP_MS
 * and treats the rest like this (bounded work per call). */
#define SIM_MODEL_MAX_CATCHUP_MS (7LL * 86400000LL)
void sim_model_rebase(sim_model *m, int64_t utc_ms);
/* Control: fix the load of one phase (watts signed, pf 0..1). */
void sim_model_set_load(sim_model *m, int phase, double watts, double pf);
/* Control: replace a phase's load description. */
void sim_model_set_load_desc(sim_model *m, int phase, const sim_load *load);
/* Control: set a register (whole units: Wh, varh, VAh). */
void sim_model_set_register(sim_model *m, enum sim_register r, int64_t value);
/* Register value in whole units, truncated (what BT23 shows). */
int64_t sim_model_register(const sim_model *m, enum sim_register r);
/* Active energy expected over [t0, t1) for a constant-load model, Wh: for tests. */
double sim_model_total_power_w(const sim_model *m);

#endif
