/* sim_model: the electrical model of one meter and its simulated clock.
 *
 * The model turns a load description per phase (constant, daily curve,
 * seeded random walk) into per-phase V, I, P, Q, S, PF and sin(phi), and
 * integrates power into the energy registers BT23 shows (docs/mep.md 12.6).
 *
 * Integration runs in fixed steps of SIM_MODEL_STEP_MS simulated ms: the
 * power of a step is taken at the start of the step, rounded to milli-units
 * (mW, mvar, mVA) and booked with an integer residue, so the energy of an
 * interval is exact (2300 W for one hour is 2 300 000 mWh, not 2299.99 Wh)
 * and does not depend on --speed or on how often sim_model_advance runs.
 *
 * Metering choice (the MEP guide is silent): NET metering across phases
 * ("vector sum", as Dutch/German smart meters book energy). The total active
 * power is the sum of the per-phase powers; forward energy integrates it when
 * positive, reverse energy when negative. Per-phase forward/reverse energy
 * integrate each phase on its own. BT28 derives its totals from the rounded
 * per-phase W values (sim_tables), so Fwd_W - Rev_W == sum(Lx_Fwd_W -
 * Lx_Rev_W) holds exactly (Home Assistant rule, docs/module-behaviour.md 8.4.5).
 * Reactive energy is netted the same way; quadrant registers Q1..Q4 book
 * |Q_total| (varh) and the arithmetic sum of the phases' S (VAh) into the
 * quadrant of (P_total, Q_total): Q1 P>=0 Q>=0, Q2 P<0 Q>=0, Q3 P<0 Q<0,
 * Q4 P>=0 Q<0.
 */
#include "sim_model.h"

#include <math.h>
#include <string.h>

#define MILLI_HOUR_MS 3600000LL   /* milli-unit*ms in one milli-unit hour */
#define AVG_WINDOW_MS 900000.0    /* BT28 47-54: 15 simulated minutes */

/* ---- random numbers (xorshift64, seeded) ----------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* Uniform in [-1, 1). */
static double rng_sym(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static uint64_t seed_state(uint64_t seed)
{
    /* splitmix64 scramble: any seed, including 0, gives a non-zero state. */
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z ? z : 0x2545F4914F6CDD1DULL;
}

/* ---- instantaneous values -------------------------------------------- */

static double load_watts(const sim_model *m, int ph, int64_t utc_ms)
{
    const sim_load *l = &m->cfg.load[ph];
    switch (l->kind) {
    case SIM_LOAD_CONSTANT:
        return l->watts;
    case SIM_LOAD_DAILY: {
        int64_t day_ms = utc_ms % 86400000LL;
        if (day_ms < 0)
            day_ms += 86400000LL;
        double h = (double)day_ms / 3600000.0;
        int h0 = (int)h;
        if (h0 > 23)
            h0 = 23;
        double f = h - h0;
        return l->daily_w[h0] + (l->daily_w[(h0 + 1) % 24] - l->daily_w[h0]) * f;
    }
    case SIM_LOAD_RANDOM_WALK:
        return m->walk_w[ph];
    }
    return 0.0;
}

static void compute_phase(sim_model *m, int ph, int64_t utc_ms, sim_phase *out)
{
    memset(out, 0, sizeof *out);
    if (ph >= m->cfg.phases)
        return; /* single-phase meter: L2/L3 read zero */
    const sim_load *l = &m->cfg.load[ph];
    double p = load_watts(m, ph, utc_ms);
    double pf = l->pf;
    if (pf > 1.0)
        pf = 1.0;
    if (pf < 0.01)
        pf = 0.01; /* a pure reactive load has no defined S for a given P */
    out->v = m->cfg.nominal_v + m->v_dev[ph];
    out->p = p;
    if (p == 0.0) {
        out->pf = 1.0;
        return;
    }
    out->s = fabs(p) / pf;
    double q = sqrt(out->s * out->s - p * p);
    out->q = l->capacitive ? -q : q;
    out->i = out->v > 0 ? out->s / out->v : 0.0;
    out->pf = fabs(p) / out->s;
    out->sin_phi = out->q / out->s;
}

static void compute_now(sim_model *m)
{
    for (int ph = 0; ph < SIM_MAX_PHASES; ph++)
        compute_phase(m, ph, m->t_ms, &m->ph[ph]);
    m->freq_hz = m->cfg.freq_hz;
}

/* ---- integration ----------------------------------------------------- */

static void book(int64_t *reg_m, int64_t *res, int64_t milli_units)
{
    if (milli_units <= 0)
        return;
    *res += milli_units * SIM_MODEL_STEP_MS;
    *reg_m += *res / MILLI_HOUR_MS;
    *res %= MILLI_HOUR_MS;
}

/* Round half away from zero, like llround, without the libm call. */
static int64_t rnd(double v) { return (int64_t)(v >= 0 ? v + 0.5 : v - 0.5); }

static void integrate_step(sim_model *m, const sim_phase ph[SIM_MAX_PHASES])
{
    int64_t p_tot = 0, q_tot = 0, s_tot = 0;
    for (int i = 0; i < SIM_MAX_PHASES; i++) {
        int64_t p = rnd(ph[i].p * 1000.0);
        p_tot += p;
        q_tot += rnd(ph[i].q * 1000.0);
        s_tot += rnd(ph[i].s * 1000.0);
        book(&m->phase_fwd_mwh[i], &m->phase_fwd_res[i], p);
        book(&m->phase_rev_mwh[i], &m->phase_rev_res[i], -p);
    }
    book(&m->reg_m[SIM_REG_FWD_WH], &m->reg_res[SIM_REG_FWD_WH], p_tot);
    book(&m->reg_m[SIM_REG_REV_WH], &m->reg_res[SIM_REG_REV_WH], -p_tot);
    book(&m->reg_m[SIM_REG_IMP_VARH], &m->reg_res[SIM_REG_IMP_VARH], q_tot);
    book(&m->reg_m[SIM_REG_EXP_VARH], &m->reg_res[SIM_REG_EXP_VARH], -q_tot);
    int quad = p_tot >= 0 ? (q_tot >= 0 ? 0 : 3) : (q_tot >= 0 ? 1 : 2);
    int64_t q_abs = q_tot < 0 ? -q_tot : q_tot;
    book(&m->reg_m[SIM_REG_Q1_VARH + quad], &m->reg_res[SIM_REG_Q1_VARH + quad], q_abs);
    book(&m->reg_m[SIM_REG_Q1_VAH + quad], &m->reg_res[SIM_REG_Q1_VAH + quad], s_tot);

    /* Exponential averages over 15 simulated minutes (BT28 41-54). */
    const double a = (double)SIM_MODEL_STEP_MS / AVG_WINDOW_MS;
    for (int i = 0; i < SIM_MAX_PHASES; i++) {
        double f = ph[i].p > 0 ? ph[i].p : 0.0, r = ph[i].p < 0 ? -ph[i].p : 0.0;
        m->avg_fwd_w[i] += (f - m->avg_fwd_w[i]) * a;
        m->avg_rev_w[i] += (r - m->avg_rev_w[i]) * a;
        m->avg_v[i] += (ph[i].v - m->avg_v[i]) * a;
    }
}

/* Random parts move once per step, phase by phase, in a fixed order so a
 * seed always gives the same run. */
static void evolve_step(sim_model *m)
{
    for (int i = 0; i < m->cfg.phases && i < SIM_MAX_PHASES; i++) {
        double spread = m->cfg.v_spread;
        if (spread > 0) {
            /* slow mean-reverting wander, bounded by +-spread */
            m->v_dev[i] = m->v_dev[i] * 0.998 + rng_sym(&m->rng) * spread * 0.02;
            if (m->v_dev[i] > spread)
                m->v_dev[i] = spread;
            if (m->v_dev[i] < -spread)
                m->v_dev[i] = -spread;
        }
        const sim_load *l = &m->cfg.load[i];
        if (l->kind == SIM_LOAD_RANDOM_WALK) {
            double w = m->walk_w[i] + rng_sym(&m->rng) * l->walk_step_w;
            if (w > l->walk_max_w)
                w = l->walk_max_w;
            if (w < l->walk_min_w)
                w = l->walk_min_w;
            m->walk_w[i] = w;
        }
    }
}

void sim_model_init(sim_model *m, const sim_model_cfg *cfg, uint64_t seed, int64_t start_utc_ms)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (m->cfg.phases < 1)
        m->cfg.phases = 1;
    if (m->cfg.phases > SIM_MAX_PHASES)
        m->cfg.phases = SIM_MAX_PHASES;
    m->rng = seed_state(seed);
    m->t_ms = start_utc_ms;
    m->next_step_ms = start_utc_ms + SIM_MODEL_STEP_MS;
    for (int i = 0; i < m->cfg.phases; i++) {
        if (m->cfg.v_spread > 0)
            m->v_dev[i] = rng_sym(&m->rng) * m->cfg.v_spread * 0.5;
        m->walk_w[i] = m->cfg.load[i].watts;
    }
    m->reg_m[SIM_REG_FWD_WH] = cfg->start_fwd_wh * 1000;
    m->reg_m[SIM_REG_REV_WH] = cfg->start_rev_wh * 1000;
    m->reg_m[SIM_REG_IMP_VARH] = cfg->start_imp_varh * 1000;
    m->reg_m[SIM_REG_EXP_VARH] = cfg->start_exp_varh * 1000;
    m->outage_seconds = cfg->start_outage_seconds;
    m->outage_count = cfg->start_outage_count;
    m->error_counter = cfg->start_error_counter;
    compute_now(m);
    for (int i = 0; i < SIM_MAX_PHASES; i++) {
        m->avg_fwd_w[i] = m->ph[i].p > 0 ? m->ph[i].p : 0.0;
        m->avg_rev_w[i] = m->ph[i].p < 0 ? -m->ph[i].p : 0.0;
        m->avg_v[i] = m->ph[i].v;
    }
    m->version = 1;
}

void sim_model_rebase(sim_model *m, int64_t utc_ms)
{
    int64_t d = utc_ms - m->t_ms;
    m->t_ms = utc_ms;
    m->next_step_ms += d;
    compute_now(m);
    m->version++;
}

void sim_model_advance(sim_model *m, int64_t utc_ms)
{
    if (utc_ms <= m->t_ms)
        return;
    if (utc_ms - m->t_ms > SIM_MODEL_MAX_CATCHUP_MS)
        sim_model_rebase(m, utc_ms - SIM_MODEL_MAX_CATCHUP_MS); /* bounded work per call */
    sim_phase step_ph[SIM_MAX_PHASES];
    while (m->next_step_ms <= utc_ms) {
        int64_t t0 = m->next_step_ms - SIM_MODEL_STEP_MS;
        for (int i = 0; i < SIM_MAX_PHASES; i++)
            compute_phase(m, i, t0, &step_ph[i]);
        integrate_step(m, step_ph);
        evolve_step(m);
        m->next_step_ms += SIM_MODEL_STEP_MS;
    }
    m->t_ms = utc_ms;
    compute_now(m);
    m->version++;
}

void sim_model_set_load(sim_model *m, int phase, double watts, double pf)
{
    if (phase < 0 || phase >= SIM_MAX_PHASES)
        return;
    sim_load *l = &m->cfg.load[phase];
    l->kind = SIM_LOAD_CONSTANT;
    l->watts = watts;
    l->pf = pf < 0 ? 0 : (pf > 1 ? 1 : pf);
    m->walk_w[phase] = watts;
    m->override_active[phase] = true;
    compute_now(m);
    m->version++;
}

void sim_model_set_load_desc(sim_model *m, int phase, const sim_load *load)
{
    if (phase < 0 || phase >= SIM_MAX_PHASES)
        return;
    m->cfg.load[phase] = *load;
    m->walk_w[phase] = load->watts;
    m->override_active[phase] = false;
    compute_now(m);
    m->version++;
}

void sim_model_set_register(sim_model *m, enum sim_register r, int64_t value)
{
    if ((int)r < 0 || r >= SIM_REG_COUNT)
        return;
    m->reg_m[r] = value * 1000;
    m->reg_res[r] = 0;
    m->version++;
}

int64_t sim_model_register(const sim_model *m, enum sim_register r)
{
    if ((int)r < 0 || r >= SIM_REG_COUNT)
        return 0;
    return m->reg_m[r] / 1000;
}

double sim_model_total_power_w(const sim_model *m)
{
    double p = 0;
    for (int i = 0; i < SIM_MAX_PHASES; i++)
        p += m->ph[i].p;
    return p;
}
