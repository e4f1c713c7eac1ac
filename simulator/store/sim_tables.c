/* sim_tables: the C12.19 table store of one meter (docs/mep.md 12).
 *
 * Every table is one zero-initialised byte block, allocated once when the
 * store is built and sized from the dimension tables of the profile (BT00,
 * BT21, ET11). Static tables are filled once; BT23, BT28, BT52 and BT55 are
 * re-rendered from the model when read. BT23/BT28 renders are cached on the
 * model's `version`, so polling an unchanged model costs a compare; a render
 * itself is a few hundred integer stores with no allocation (hot path of the
 * transaction budget).
 *
 * Profile overrides (offset + bytes) are applied to static tables once and
 * to dynamic tables after every render. They change bytes, never sizes. A
 * cloned profile's verbatim tables ("tables", static only) come first in the
 * same list, so overrides land on top of them.
 *
 * Choices where the guide is silent (documented in fixtures/meters/README.md):
 *  - tariffs are not modelled: tier 0 gets all energy, tiers 1.. read 0;
 *    outage/pulse/error summations appear in the total block only;
 *  - demand and coincident records in BT23 read 0; a BT28 present demand
 *    shows the present value of its source and, with BT21.0 bit 6, the time
 *    left in the current 15-minute interval;
 *  - BT28 72-74 (average current) show the instantaneous current.
 */
#include "sim_tables.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mep_frame.h"
#include "sim_access.h"

#define MAX_TABLES 48

enum render_kind { R_STATIC = 0, R_BT23, R_BT28, R_BT52, R_BT55 };

typedef struct {
    uint16_t id;
    uint8_t render;         /* enum render_kind */
    bool fresh;             /* rendering matches model version `ver` */
    uint64_t ver;
    uint32_t size;
    uint8_t *data;
} tbl;

typedef struct {
    uint16_t id;
    uint32_t off;
    uint32_t len;
    uint8_t *bytes;         /* owned copy */
} ovr;

struct sim_tables {
    const sim_model *model;
    /* slot+1 of BTn (n < 128) at [n], ETn (n < 128) at [128 + n]; 0 = absent */
    uint8_t slot[256];
    sim_layout lay;
    uint8_t bt21[10];
    uint8_t et11[39];       /* layout dimensions (the profile's, before overrides) */
    int phases;
    tbl t[MAX_TABLES];
    size_t n;
    ovr ov[SIM_MAX_TABLE_OVERRIDES + SIM_MAX_PROFILE_TABLES]; /* verbatim tables, then overrides */
    size_t n_ov;
};

/* ---- store ------------------------------------------------------------ */

static tbl *find(const sim_tables *st, uint16_t id)
{
    unsigned k = id < 128 ? id : (id >= 0x0800 && id < 0x0880 ? 128u + (id - 0x0800u) : 256u);
    if (k < 256)
        return st->slot[k] ? (tbl *)&st->t[st->slot[k] - 1] : NULL;
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->t[mid].id == id)
            return (tbl *)&st->t[mid];
        if (st->t[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static uint8_t *add(sim_tables *st, uint16_t id, uint32_t size, enum render_kind r)
{
    if (st->n >= MAX_TABLES || size == 0)
        return NULL;
    uint8_t *d = calloc(1, size);
    if (!d)
        return NULL;
    tbl *t = &st->t[st->n++];
    t->id = id;
    t->size = size;
    t->data = d;
    t->render = (uint8_t)r;
    return d;
}

/* Tables in id order. They are added almost in order (a few standard
 * tables after the first manufacturer tables), so an insertion sort does a
 * handful of moves where qsort's merge sort cost ~10,000 instructions per
 * meter: a fleet of 10,000 builds these at start-up. Stable. */
static void sort_tables(tbl *t, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        tbl x = t[i];
        size_t j = i;
        for (; j > 0 && t[j - 1].id > x.id; j--)
            t[j] = t[j - 1];
        t[j] = x;
    }
}

/* ---- source IDs (docs/mep.md 12.9) ------------------------------------------- */

/* BT28 present value k -> BT27 source ID (docs/mep.md 12.8). */
static uint8_t present_value_source(unsigned k)
{
    static const uint8_t ids[84] = {
        8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
        81, 82, 83, 84, 104, 105, 106, 107, 185, 186, 187, 188, 189, 190,
        191, 192, 193, 194, 195, 196, 197, 198, 199, 202, 203, 204, 205, 206, 207,
        208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219,
        220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235,
        236, 237, 238, 239, 240, 241, 242, 243, 244};
    return k < 84 ? ids[k] : 0xFF;
}

/* BT23 summation i -> BT22 source ID. 15-18 (apparent energy) have no ID in
 * the guide's list: 0xFF. */
static uint8_t summation_source(unsigned i)
{
    if (i <= 10)
        return (uint8_t)i;
    if (i <= 14)
        return (uint8_t)(108 + i - 11);
    return 0xFF;
}

/* Demand k measures this present-value source (fwd, rev, imp, exp, Q1..Q4). */
static uint8_t demand_source(unsigned k)
{
    static const uint8_t ids[8] = {8, 9, 10, 11, 104, 105, 106, 107};
    return ids[k % 8];
}

/* ---- dates ---------------------------------------------------------------- */

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

/* LTIME_DATE (docs/mep.md 11) + day of week (0 = Sunday). */
static unsigned put_ltime(uint8_t *p, int64_t secs)
{
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t sod = secs - days * 86400;
    int y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    p[0] = (uint8_t)(((y % 100) + 100) % 100);
    p[1] = (uint8_t)mo;
    p[2] = (uint8_t)d;
    p[3] = (uint8_t)(sod / 3600);
    p[4] = (uint8_t)(sod / 60 % 60);
    p[5] = (uint8_t)(sod % 60);
    return (unsigned)(((days % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* ---- present values (one model snapshot) ------------------------------- */

/* Round half away from zero (as llround) without the libm call: this runs
 * ~90 times per BT28 render on the transaction hot path. */
static int32_t r32(double v) { return (int32_t)(v >= 0 ? v + 0.5 : v - 0.5); }

static int quadrant(int64_t p, int64_t q)
{
    return p >= 0 ? (q >= 0 ? 0 : 3) : (q >= 0 ? 1 : 2);
}

/* All 84 BT28 present values (docs/mep.md 12.8, scaling 12.1). Totals are sums of
 * the rounded per-phase values, so Fwd_W - Rev_W == sum(Lx_Fwd_W - Lx_Rev_W)
 * exactly (docs/module-behaviour.md 8.4.5). Net metering: see sim_model.c. */
static void present_values(const sim_model *m, int phases, int32_t v[84])
{
    memset(v, 0, 84 * sizeof v[0]);
    int32_t pw[3], qv[3], sva[3];
    int64_t p_tot = 0, q_tot = 0, s_tot = 0, avg_net = 0;
    double in_re = 0, in_im = 0;
    /* phase voltage angles 0, -120, +120 degrees (cos, sin) */
    static const double rot[3][2] = {{1.0, 0.0}, {-0.5, -0.86602540378443865}, {-0.5, 0.86602540378443865}};
    for (int i = 0; i < 3; i++) {
        const sim_phase *ph = &m->ph[i];
        pw[i] = r32(ph->p);
        qv[i] = r32(ph->q);
        sva[i] = r32(ph->s);
        p_tot += pw[i];
        q_tot += qv[i];
        s_tot += sva[i];
        int32_t fwd = pw[i] > 0 ? pw[i] : 0, rev = pw[i] < 0 ? -pw[i] : 0;
        int32_t ima = r32(ph->i * 1000.0), vmv = r32(ph->v * 1000.0);
        v[4 + i] = ima;                         /* RMS current mA */
        v[7 + i] = vmv;                         /* RMS voltage mV */
        v[15 + i] = r32(ph->sin_phi * 1000.0);  /* sin(phase angle) */
        v[26 + i] = fwd;
        v[29 + i] = rev;
        v[32 + i] = fwd;                        /* post CT/VT: ratio 1 */
        v[35 + i] = rev;
        v[38 + i] = ima;
        v[41 + i] = vmv;                        /* continuous voltage */
        v[44 + i] = r32(m->avg_v[i] * 1000.0);
        int32_t af = r32(m->avg_fwd_w[i]), ar = r32(m->avg_rev_w[i]);
        v[49 + i] = af;
        v[52 + i] = ar;
        avg_net += (int64_t)af - ar;
        v[59 + 4 * i + quadrant(pw[i], qv[i])] = sva[i];
        v[72 + i] = ima;
        v[78 + i] = qv[i] > 0 ? qv[i] : 0;
        v[81 + i] = qv[i] < 0 ? -qv[i] : 0;
        /* neutral current: phasor sum of I_k = conj(S_k / V_k) = (P - jQ) / |V| at
         * the phase's voltage angle (inductive Q: current lags) */
        if (ph->v > 0) {
            double re = ph->p / ph->v, im = -ph->q / ph->v;
            in_re += re * rot[i][0] - im * rot[i][1];
            in_im += re * rot[i][1] + im * rot[i][0];
        }
    }
    v[0] = (int32_t)(p_tot > 0 ? p_tot : 0);
    v[1] = (int32_t)(p_tot < 0 ? -p_tot : 0);
    v[2] = (int32_t)(q_tot > 0 ? q_tot : 0);
    v[3] = (int32_t)(q_tot < 0 ? -q_tot : 0);
    v[10] = phases >= 1 ? r32(m->ph[0].pf * 1000.0) : 0;
    v[11] = r32(m->freq_hz * 1000.0);
    v[12] = (int32_t)s_tot;
    v[13] = phases >= 2 ? r32(m->ph[1].pf * 1000.0) : 0;
    v[14] = phases >= 3 ? r32(m->ph[2].pf * 1000.0) : 0;
    v[18] = v[0];
    v[19] = v[1];
    v[20] = v[2];
    v[21] = v[3];
    v[22 + quadrant(p_tot, q_tot)] = (int32_t)(q_tot < 0 ? -q_tot : q_tot);
    v[47] = (int32_t)(avg_net > 0 ? avg_net : 0);
    v[48] = (int32_t)(avg_net < 0 ? -avg_net : 0);
    v[55 + quadrant(p_tot, q_tot)] = (int32_t)s_tot;
    v[71] = r32(sqrt(in_re * in_re + in_im * in_im) * 1000.0);
    if (phases >= 3) {
        v[75] = 12000; /* 1/100 degree */
        v[76] = 12000;
        v[77] = 12000;
    }
}

static int32_t value_of_source(const int32_t v[84], uint8_t id)
{
    for (unsigned k = 0; k < 84; k++)
        if (present_value_source(k) == id)
            return v[k];
    return 0;
}

/* ---- dynamic renders ---------------------------------------------------- */

static void apply_overrides(sim_tables *st, tbl *t)
{
    for (size_t i = 0; i < st->n_ov; i++)
        if (st->ov[i].id == t->id)
            memcpy(t->data + st->ov[i].off, st->ov[i].bytes, st->ov[i].len);
}

/* BT23 summation i in the total block (tier < 0) or a tier block
 * (docs/mep.md 12.6), from the model's registers read once per render
 * (reg[r] = sim_model_register(m, r)). */
static uint32_t summation_value(const sim_model *m, const int64_t reg[SIM_REG_COUNT], unsigned i, int tier)
{
    if (tier > 0)
        return 0; /* no tariffs: tier 0 books everything */
    int64_t fwd = reg[SIM_REG_FWD_WH], rev = reg[SIM_REG_REV_WH];
    int64_t v;
    switch (i) {
    case 0: v = fwd; break;
    case 1: v = rev; break;
    case 2: v = reg[SIM_REG_IMP_VARH]; break;
    case 3: v = reg[SIM_REG_EXP_VARH]; break;
    case 4: v = tier < 0 ? m->outage_seconds : 0; break;
    case 5: v = tier < 0 ? m->outage_count : 0; break;
    case 6: v = fwd + rev; break;
    case 7: v = fwd > rev ? fwd - rev : 0; break;
    case 8: case 9: v = 0; break; /* pulse inputs: nothing connected */
    case 10: v = tier < 0 ? m->error_counter : 0; break;
    default:
        if (i <= 18)
            v = reg[SIM_REG_Q1_VARH + (i - 11)];
        else
            v = 0;
    }
    /* INT32 on the wire: a real register shows its low 32 bits when it wraps. */
    return (uint32_t)(uint64_t)v;
}

static void render_bt23(sim_tables *st, tbl *t)
{
    const sim_layout *L = &st->lay;
    memset(t->data, 0, t->size);
    int64_t reg[SIM_REG_COUNT];
    for (int r = 0; r < SIM_REG_COUNT; r++)
        reg[r] = sim_model_register(st->model, (enum sim_register)r);
    /* the total block and tier 0's; the other tiers' blocks stay 0 (summation_value) */
    uint32_t tiers = st->bt21[7];
    for (uint32_t b = 0; b <= tiers && b <= 1; b++) {
        uint8_t *blk = t->data + L->bt23_summation0 + b * L->bt23_block;
        for (unsigned i = 0; i < L->n_summations; i++)
            mep_put_le32(blk + 4 * i, summation_value(st->model, reg, i, (int)b - 1));
        /* demand and coincident records stay 0 (no demand model) */
    }
}

static void render_bt28(sim_tables *st, tbl *t)
{
    int32_t v[84];
    present_values(st->model, st->phases, v);
    uint8_t *p = t->data;
    bool trem = (st->bt21[0] & 0x40) != 0;
    int64_t secs = floor_div(st->model->t_ms, 1000);
    unsigned left = (unsigned)(900 - ((secs % 900) + 900) % 900);
    for (unsigned k = 0; k < st->bt21[8]; k++) {
        if (trem) { /* TIME: hour, minute, second left in the demand interval */
            *p++ = (uint8_t)(left / 3600);
            *p++ = (uint8_t)(left / 60 % 60);
            *p++ = (uint8_t)(left % 60);
        }
        mep_put_le32(p, (uint32_t)value_of_source(v, demand_source(k)));
        p += 4;
    }
    for (unsigned k = 0; k < st->lay.n_present_values; k++, p += 4)
        mep_put_le32(p, (uint32_t)(k < 84 ? v[k] : 0));
}

static void render_bt52(sim_tables *st, tbl *t)
{
    /* docs/mep.md 12.10: UTC, GMT flag (bit 4), no TZ/DST applied */
    unsigned dow = put_ltime(t->data, floor_div(st->model->t_ms, 1000));
    t->data[6] = (uint8_t)(dow | 0x10);
}

static void render_bt55(sim_tables *st, tbl *t)
{
    /* Local = UTC + BT53 time-zone offset (INT16 minutes at 4), so a MAK write
     * to BT53 moves the local clock. No DST model. */
    int16_t tz = 0;
    tbl *b53 = find(st, MEP_BT(53));
    if (b53)
        tz = (int16_t)mep_get_le16(b53->data + 4);
    unsigned dow = put_ltime(t->data, floor_div(st->model->t_ms, 1000) + (int64_t)tz * 60);
    t->data[6] = (uint8_t)(dow | 0x20 | 0x40); /* TZ applied, DST applied (docs/mep.md 12.10) */
    t->data[7] = 0;                             /* tier 0, no special schedule, season 0 */
    t->data[8] = 0;
}

static void render(sim_tables *st, tbl *t)
{
    switch (t->render) {
    case R_BT23:
        if (t->fresh && t->ver == st->model->version)
            return;
        render_bt23(st, t);
        break;
    case R_BT28:
        if (t->fresh && t->ver == st->model->version)
            return;
        render_bt28(st, t);
        break;
    case R_BT52:
        render_bt52(st, t);
        break;
    case R_BT55:
        render_bt55(st, t);
        break;
    default:
        return;
    }
    t->fresh = true;
    t->ver = st->model->version;
    apply_overrides(st, t);
}

/* ---- static tables ------------------------------------------------------- */

static void build_bt00(sim_tables *st, const sim_profile *p)
{
    /* docs/mep.md 12.2; bytes 19.. are the C12.19 "used"/"writable" sets. */
    uint8_t a = 10, e = p->generation >= 4 ? 20 : 13, bp = 2, ep = 12;
    uint32_t size = 19u + a + e + bp + ep + a + e;
    uint8_t *d = add(st, MEP_BT(0), size, R_STATIC);
    if (!d)
        return;
    d[0] = 0x02; /* LSB-first, ASCII */
    d[1] = 0x2A; /* LTIME UINT8 fields, offset/count access, BCD id, two's complement */
    d[2] = 0x88; /* NI_FMAT1 = NI_FMAT2 = INT32 */
    memcpy(d + 3, p->manufacturer, 4);
    d[7] = 2;
    d[8] = 0;
    d[9] = 255;
    d[10] = 12;
    d[11] = 1;
    d[12] = 0;
    d[13] = a;
    d[14] = e;
    d[15] = bp;
    d[16] = ep;
    d[17] = SIM_TABLES_MFG_STATUS_LEN;
    d[18] = p->generation >= 4 ? 4 : 2;
    uint8_t *used = d + 19, *xused = used + a, *procs = xused + e, *xprocs = procs + bp;
    uint8_t *wr = xprocs + ep, *xwr = wr + a;
    for (size_t i = 0; i < st->n; i++) {
        uint16_t id = st->t[i].id;
        bool w = sim_access_can_write(id, SIM_LEVEL_MAK);
        if (id < 0x0800 && id < 8u * a) {
            used[id / 8] |= (uint8_t)(1u << (id % 8));
            if (w)
                wr[id / 8] |= (uint8_t)(1u << (id % 8));
        } else if (id >= 0x0800 && id - 0x0800u < 8u * e) {
            unsigned x = id - 0x0800u;
            xused[x / 8] |= (uint8_t)(1u << (x % 8));
            if (w)
                xwr[x / 8] |= (uint8_t)(1u << (x % 8));
        }
    }
    used[0] |= 1; /* BT00 itself */
    for (size_t i = 0; i < sim_access_n_procs; i++) {
        unsigned x = sim_access_procs[i].id - 0x0800u;
        if (x < 8u * ep)
            xprocs[x / 8] |= (uint8_t)(1u << (x % 8));
    }
}

static void put_str_pad(uint8_t *d, const char *s, size_t n, uint8_t pad)
{
    size_t l = strlen(s);
    memset(d, pad, n);
    memcpy(d, s, l < n ? l : n);
}

static void build_identity(sim_tables *st, const sim_profile *p)
{
    /* BT01 (docs/mep.md 12.3): 24 bytes [E]; serial as 8 BCD bytes (BT00 ID format 1) */
    uint8_t *d = add(st, MEP_BT(1), 24, R_STATIC);
    if (d) {
        memcpy(d, p->manufacturer, 4);
        memcpy(d + 4, p->model_name, 8);
        d[12] = p->hw_version;
        d[13] = p->hw_revision;
        d[14] = (uint8_t)(p->fw_version >> 8);
        d[15] = (uint8_t)p->fw_version;
        for (int i = 0; i < 8; i++)
            d[16 + i] = (uint8_t)(((p->meter_serial[2 * i] - '0') << 4) | (p->meter_serial[2 * i + 1] - '0'));
    }
    /* BT03 mode and status (docs/optical.md 5 "alarms"; C12.19 ST3):
     * 0 mode, 1-2 standard status, 3 extended status, then BT00.17 = 9
     * manufacturer status bytes (docs/optical.md 11.3: BT00.17 matches the
     * BT03 served). All clear at power-up; a bad optical password sets
     * offset 5 bit 0 (docs/optical.md 4). Not in the MEP access matrix
     * (docs/mep.md App. C), so MEP answers 0x05: optical only. */
    add(st, MEP_BT(3), 4 + SIM_TABLES_MFG_STATUS_LEN, R_STATIC);
    /* BT05 device identification (docs/optical.md 7.9: exactly 10 bytes):
     * BT00.1 says BCD ids, so 20 digits in 10 bytes: the 16-digit meter
     * serial, right-aligned with leading zeros. */
    d = add(st, MEP_BT(5), 10, R_STATIC);
    if (d) {
        char digits[21];
        size_t sl = strnlen(p->meter_serial, 20);
        memset(digits, '0', 20 - sl);
        memcpy(digits + 20 - sl, p->meter_serial, sl);
        digits[20] = 0;
        for (int i = 0; i < 10; i++) {
            int hi = digits[2 * i] >= '0' && digits[2 * i] <= '9' ? digits[2 * i] - '0' : 0;
            int lo = digits[2 * i + 1] >= '0' && digits[2 * i + 1] <= '9' ? digits[2 * i + 1] - '0' : 0;
            d[i] = (uint8_t)(hi << 4 | lo);
        }
    }
    /* ET03 (docs/mep.md 12.11): 143 bytes */
    d = add(st, MEP_ET(3), 143, R_STATIC);
    if (d) {
        put_str_pad(d, p->utility_serial, 30, 0x00);
        mep_put_le16(d + 137, p->image_crc);
    }
}

static void build_et04(sim_tables *st, const sim_profile *p)
{
    /* docs/mep.md 12.12; 129 bytes before fw 4.0, 140 with the per-channel
     * sequence numbers and the 4.0 fields. 103/129 belong to the protocol layer. */
    bool g4 = p->generation >= 4;
    uint8_t *d = add(st, MEP_ET(4), g4 ? 140 : 129, R_STATIC);
    if (!d)
        return;
    d[13] = (uint8_t)lround(p->model.freq_hz);
    d[20] = (uint8_t)(p->fw_version >> 8); /* program ID: firmware version in the last bytes */
    d[21] = (uint8_t)p->fw_version;
    d[53] = 10;
    d[55] = 4;                               /* max TE registers (tx example: 4) */
    mep_put_le16(d + 56, 10);
    mep_put_le16(d + 58, p->max_current_a);
    mep_put_le16(d + 60, p->rated_voltage_v);
    if (p->model.phases == 1)
        d[62] = 0x06 | 0x60;                 /* L2, L3 voltage and current not present */
    mep_put_le16(d + 88, 1000);
    mep_put_le16(d + 98, 180);
    mep_put_le16(d + 100, 512);
    d[110] = 72;
    d[111] = 61;
    d[116] = 1;                              /* IDT Version */
    d[117] = 30;
    mep_put_le32(d + 123, 1000000);
    if (g4)
        mep_put_le16(d + 138, 10);
}

static int build_all(sim_tables *st, const sim_profile *p)
{
    const uint8_t *e11 = p->et11;
    unsigned dev = e11[0], e13 = e11[1], e14 = e11[2], q_n = e11[3], q_sz = e11[4];
    unsigned e16 = mep_get_le16(e11 + 5), e52 = mep_get_le16(e11 + 7), e53 = mep_get_le16(e11 + 9);
    unsigned wr_sz = e11[11], mcast = e11[20], nsrc = e11[22], ndelta = e11[27];
    unsigned chans = e11[34] ? e11[34] : 1;   /* ET50/51: ARRAY[ET11.34] (1 before fw 4.0) */
    const uint8_t *b = p->bt21;
    uint8_t *d;

    build_identity(st, p);
    add(st, MEP_BT(7), 3 + 255, R_STATIC);   /* BT07: id, PSN, <= BT00.9 parameter bytes */
    add(st, MEP_BT(8), 16, R_STATIC);        /* BT08: 4 + BT00.10 (docs/mep.md 8.1) */
    if ((d = add(st, MEP_BT(20), 10, R_STATIC)))
        memcpy(d, b, 10);                    /* maximum dimensions = actual unless overridden */
    if ((d = add(st, MEP_BT(21), 10, R_STATIC)))
        memcpy(d, b, 10);
    /* BT22 (docs/mep.md 12.5) */
    unsigned ns = b[3], nd = b[4], nc = b[5], npd = b[8], npv = b[9];
    if ((d = add(st, MEP_BT(22), ns + nd + (nd + 7) / 8 + 2 * nc, R_STATIC))) {
        uint8_t *q = d;
        for (unsigned i = 0; i < ns; i++)
            *q++ = summation_source(i);
        for (unsigned k = 0; k < nd; k++)
            *q++ = demand_source(k);
        for (unsigned k = 0; k < nd; k++)
            q[k / 8] |= (uint8_t)(1u << (k % 8)); /* maximum demands */
        q += (nd + 7) / 8;
        for (unsigned k = 0; k < nc; k++)
            q[k] = 8;                            /* coincident with fwd W */
        for (unsigned k = 0; k < nc; k++)
            q[nc + k] = (uint8_t)(nd ? k % nd : 0);
    }
    add(st, MEP_BT(23), st->lay.bt23_size, R_BT23);
    if ((d = add(st, MEP_BT(27), npd + npv, R_STATIC))) { /* docs/mep.md 12.7 */
        for (unsigned k = 0; k < npd; k++)
            d[k] = demand_source(k);
        for (unsigned k = 0; k < npv; k++)
            d[npd + k] = present_value_source(k);
    }
    add(st, MEP_BT(28), st->lay.bt28_size, R_BT28);
    add(st, MEP_BT(52), 7, R_BT52);
    if ((d = add(st, MEP_BT(53), 6, R_STATIC)))   /* DST time (3), amount, TZ offset INT16 */
        mep_put_le16(d + 4, (uint16_t)p->tz_offset_min);
    add(st, MEP_BT(55), 9, R_BT55);
    build_et04(st, p);
    if ((d = add(st, MEP_ET(11), 39, R_STATIC)))
        memcpy(d, e11, 39);
    /* ET13 (docs/mep.md 12.14): MEP entries scheduled monthly, 1st, 00:00; baud 0 = 9600 */
    if ((d = add(st, MEP_ET(13), dev * e13, R_STATIC)))
        for (unsigned k = 4; k < dev && k < 6; k++)
            d[k * e13 + 3] = 3;
    add(st, MEP_ET(14), 6 + dev * e14, R_STATIC);
    add(st, MEP_ET(15), 1 + q_n * q_sz + q_n * wr_sz + mcast, R_STATIC); /* docs/mep.md 10.4 */
    add(st, MEP_ET(16), dev * e16, R_STATIC);
    add(st, MEP_ET(50), chans * (35 + 6 * nsrc), R_STATIC);
    if ((d = add(st, MEP_ET(51), chans * 10, R_STATIC))) { /* docs/mep.md 12.18 defaults */
        for (unsigned c = 0; c < chans; c++) {
            uint8_t *e = d + 10 * c;
            e[0] = 0;               /* optical D.O.S. off, health monitor off (docs/mep.md 15.19) */
            mep_put_le16(e + 1, 60);
            e[3] = 30;
            mep_put_le16(e + 4, 600);
            mep_put_le16(e + 6, 300);
            e[8] = 1;
        }
    }
    add(st, MEP_ET(52), e52, R_STATIC);
    add(st, MEP_ET(53), e53, R_STATIC);
    unsigned recs = e11[32] * e11[33];
    unsigned r = 91 + (recs ? recs : 42);
    if ((d = add(st, MEP_ET(54), r + 12, R_STATIC))) { /* docs/mep.md 12.19 */
        if (p->generation >= 4 && chans >= 2)
            mep_put_le16(d, 0x0100);   /* Multiple MEP Clients */
        d[90] = 0x05;
    }
    add(st, MEP_ET(58), dev * 20, R_STATIC);
    add(st, MEP_ET(59), 16, R_STATIC);
    if ((d = add(st, MEP_ET(70), 156, R_STATIC)))
        d[142] = 1;                    /* current comm channel: MEP1 (protocol layer sets) */
    add(st, MEP_ET(71), 13 * (ndelta ? ndelta : 1), R_STATIC);
    if (p->generation >= 4)
        add(st, MEP_ET(85), 16, R_STATIC);
    sort_tables(st->t, st->n);
    build_bt00(st, p);
    sort_tables(st->t, st->n);
    for (size_t i = 0; i < st->n; i++) {
        uint16_t id = st->t[i].id;
        if (id < 128)
            st->slot[id] = (uint8_t)(i + 1);
        else if (id >= 0x0800 && id < 0x0880)
            st->slot[128 + id - 0x0800] = (uint8_t)(i + 1);
    }
    return 0;
}

/* ---- public API ---------------------------------------------------------- */

void sim_tables_free(sim_tables *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++)
        free(st->t[i].data);
    for (size_t i = 0; i < st->n_ov; i++)
        free(st->ov[i].bytes);
    free(st);
}

sim_tables *sim_tables_new(const sim_profile *p, const sim_model *model, char *err, size_t errlen)
{
    sim_tables *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->model = model;
    memcpy(st->bt21, p->bt21, 10);
    memcpy(st->et11, p->et11, sizeof st->et11);
    st->phases = p->model.phases;
    sim_layout_from_bt21(p->bt21, &st->lay);
    build_all(st, p);
    /* every table allocated? (add() fails only on OOM or a zero size) */
    static const uint16_t must[] = {MEP_BT(0), MEP_BT(1), MEP_BT(21), MEP_BT(23), MEP_ET(13), MEP_ET(14)};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        if (!find(st, must[i])) {
            char nb[8];
            snprintf(err, errlen, "%s: cannot build table %s (out of memory or zero size)", p->path,
                     mep_table_name(must[i], nb));
            sim_tables_free(st);
            return NULL;
        }
    }
    for (size_t i = 0; i < p->n_overrides; i++) {
        const sim_table_override *o = &p->overrides[i];
        char nb[8];
        tbl *t = find(st, o->table_id);
        /* "tables" entries (verbatim clone bytes) are named by their own array */
        const char *arr = o->from_tables ? "tables" : "overrides";
        size_t ix = o->index;
        if (!t) {
            snprintf(err, errlen, "%s: $.%s[%zu].table: %s does not exist in this meter", p->path, arr, ix,
                     mep_table_name(o->table_id, nb));
            sim_tables_free(st);
            return NULL;
        }
        if (o->offset > t->size || o->len > t->size - o->offset) {
            snprintf(err, errlen, "%s: $.%s[%zu]: %zu bytes at offset %u run past the end of %s (%u bytes)",
                     p->path, arr, ix, o->len, o->offset, mep_table_name(o->table_id, nb), t->size);
            sim_tables_free(st);
            return NULL;
        }
        ovr *v = &st->ov[st->n_ov];
        v->bytes = malloc(o->len);
        if (!v->bytes) {
            snprintf(err, errlen, "out of memory");
            sim_tables_free(st);
            return NULL;
        }
        memcpy(v->bytes, o->bytes, o->len);
        v->id = o->table_id;
        v->off = o->offset;
        v->len = (uint32_t)o->len;
        st->n_ov++;
        if (t->render == R_STATIC)
            memcpy(t->data + o->offset, o->bytes, o->len);
    }
    for (size_t i = 0; i < st->n; i++)
        render(st, &st->t[i]);
    return st;
}

int sim_tables_size(const sim_tables *st, uint16_t id)
{
    const tbl *t = find(st, id);
    return t ? (int)t->size : SIM_TBL_UNKNOWN;
}

int sim_tables_read(sim_tables *st, uint16_t id, uint32_t off, uint32_t n, uint8_t *out)
{
    tbl *t = find(st, id);
    if (!t)
        return SIM_TBL_UNKNOWN;
    if (off >= t->size)
        return SIM_TBL_RANGE;
    render(st, t);
    uint32_t k = t->size - off < n ? t->size - off : n;
    memcpy(out, t->data + off, k);
    return (int)k;
}

int sim_tables_write(sim_tables *st, uint16_t id, uint32_t off, const uint8_t *data, uint32_t n)
{
    tbl *t = find(st, id);
    if (!t)
        return SIM_TBL_UNKNOWN;
    if (off >= t->size)
        return SIM_TBL_RANGE;
    uint32_t k = t->size - off < n ? t->size - off : n;
    memcpy(t->data + off, data, k);
    /* A dynamic table shows the model again at the next read: the protocol
     * layer turns a BT23 write into sim_model_set_register. */
    t->fresh = false;
    return (int)k;
}

const uint8_t *sim_tables_layout_et11(const sim_tables *st) { return st->et11; }

int sim_tables_apply_bt23_write(const sim_tables *st, sim_model *m, uint32_t off,
                                const uint8_t *data, uint32_t n)
{
    const sim_layout *L = &st->lay;
    int applied = 0;
    for (unsigned i = 0; i < L->n_summations; i++) {
        uint32_t at = L->bt23_summation0 + 4 * i;
        if (at < off || (uint64_t)at + 4 > (uint64_t)off + n)
            continue;
        /* INT32 on the wire; taken as the unsigned 32-bit counter value so
         * a register written near 2^32 wraps on the wire like a real one. */
        int64_t v = (int64_t)mep_get_le32(data + (at - off));
        switch (i) {
        case 0: sim_model_set_register(m, SIM_REG_FWD_WH, v); break;
        case 1: sim_model_set_register(m, SIM_REG_REV_WH, v); break;
        case 2: sim_model_set_register(m, SIM_REG_IMP_VARH, v); break;
        case 3: sim_model_set_register(m, SIM_REG_EXP_VARH, v); break;
        case 4: m->outage_seconds = (uint32_t)v; m->version++; break;
        case 5: m->outage_count = (uint32_t)v; m->version++; break;
        case 10: m->error_counter = (uint32_t)v; m->version++; break;
        default:
            if (i >= 11 && i <= 18) {
                sim_model_set_register(m, (enum sim_register)(SIM_REG_Q1_VARH + (i - 11)), v);
                break;
            }
            continue; /* 6, 7 derived; 8, 9 pulse inputs */
        }
        applied++;
    }
    return applied;
}

uint8_t *sim_tables_raw(sim_tables *st, uint16_t id, size_t *size)
{
    tbl *t = find(st, id);
    if (!t)
        return NULL;
    if (size)
        *size = t->size;
    return t->data;
}

void sim_tables_render(sim_tables *st, uint16_t id)
{
    tbl *t = find(st, id);
    if (t)
        render(st, t);
}

void sim_tables_invalidate(sim_tables *st)
{
    for (size_t i = 0; i < st->n; i++)
        st->t[i].fresh = false;
}

size_t sim_tables_list(const sim_tables *st, uint16_t *ids, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < st->n && k < cap; i++)
        ids[k++] = st->t[i].id;
    return k;
}
