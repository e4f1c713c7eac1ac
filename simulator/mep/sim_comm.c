/* sim_comm: registration, alerts, schedule, client health and baud changes
 * of the meter's MEP client (see sim_comm.h; docs/mep.md 10, 2). */
#include "sim_comm.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mep_frame.h"

#define ET11 MEP_ET(11)
#define ET13 MEP_ET(13)
#define ET14 MEP_ET(14)
#define ET50 MEP_ET(50)
#define ET51 MEP_ET(51)

#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL
#define MIN_MS 60000LL

uint8_t *sim_comm_field(sim_tables *t, uint16_t id, size_t off, size_t n)
{
    size_t size = 0;
    uint8_t *p = sim_tables_raw(t, id, &size);
    if (!p || off > size || n > size - off)
        return NULL;
    return p + off;
}

void sim_note_add(char *note, size_t cap, const char *fmt, ...)
{
    if (!note || cap == 0)
        return;
    size_t used = strnlen(note, cap);
    if (used >= cap - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note + used, cap - used, fmt, ap);
    va_end(ap);
}

uint32_t sim_baud_from_code(uint8_t code)
{
    static const uint32_t rates[13] = {9600, 300, 600, 1200, 2400, 4800, 9600,
                                       14400, 19200, 28800, 38400, 57600, 115200};
    return code < 13 ? rates[code] : 0;
}

void sim_mep_layout_get(sim_tables *t, sim_mep_layout *L)
{
    /* docs/mep.md 12.13 defaults, overridden by the served ET11 bytes. */
    size_t size = 0;
    const uint8_t *e = sim_tables_raw(t, ET11, &size);
    L->ndev = size > 0 && e[0] ? e[0] : 5;
    L->et13_entry = size > 1 && e[1] ? e[1] : 66;
    L->et14_entry = size > 2 && e[2] ? e[2] : 36;
    L->et15_entries = size > 3 && e[3] ? e[3] : 5;
    L->et15_entry = size > 4 && e[4] ? e[4] : 6;
    L->et16_entry = size > 6 && mep_get_le16(e + 5) ? mep_get_le16(e + 5) : 517;
    L->et15_write_msg = size > 11 && e[11] ? e[11] : 25;
    L->et50_sources = size > 22 ? e[22] : 6;
    L->et13_mep = SIM_MEP1_INDEX * L->et13_entry;
    L->et14_mep = 6 + SIM_MEP1_INDEX * L->et14_entry;
    L->et16_mep = SIM_MEP1_INDEX * L->et16_entry;
}

bool sim_comm_registered(sim_tables *t)
{
    const uint8_t *f = sim_comm_field(t, ET50, 30, 1);
    return f && (f[0] & 0x01);
}

static bool mep_occupied(sim_tables *t)
{
    const uint8_t *occ = sim_comm_field(t, ET14, 5, 1);
    return occ && (occ[0] & (1u << SIM_MEP1_INDEX));
}

uint16_t sim_comm_handle(sim_tables *t)
{
    sim_mep_layout L;
    sim_mep_layout_get(t, &L);
    const uint8_t *h = sim_comm_field(t, ET14, L.et14_mep, 2);
    return h && mep_occupied(t) ? mep_get_le16(h) : 0;
}

uint8_t sim_comm_alert_flags(sim_tables *t)
{
    sim_mep_layout L;
    sim_mep_layout_get(t, &L);
    const uint8_t *f = sim_comm_field(t, ET13, L.et13_mep + 8, 1);
    return f ? f[0] : 0;
}

uint8_t sim_comm_device_status(sim_tables *t)
{
    sim_mep_layout L;
    sim_mep_layout_get(t, &L);
    const uint8_t *f = sim_comm_field(t, ET14, L.et14_mep + 2, 1);
    return f ? f[0] : 0;
}

void sim_comm_set_alert(sim_tables *t, uint8_t set, uint8_t clear)
{
    sim_mep_layout L;
    sim_mep_layout_get(t, &L);
    uint8_t *f = sim_comm_field(t, ET13, L.et13_mep + 8, 1);
    if (f)
        f[0] = (uint8_t)((f[0] & ~clear) | set);
}

bool sim_comm_alert_pending(sim_tables *t)
{
    if (!sim_comm_registered(t))
        return false;
    const uint8_t *fl = sim_comm_field(t, ET50, 30, 1);
    /* docs/mep.md 10.3: any flag alerts, except M-Bus change / delta data,
     * which count only when the client asked for them in ET50 bits 2/3. */
    uint8_t mask = 0xFF;
    if (!(fl[0] & 0x04))
        mask &= (uint8_t)~SIM_ALERT_MBUS;
    if (!(fl[0] & 0x08))
        mask &= (uint8_t)~SIM_ALERT_DELTA;
    return (sim_comm_alert_flags(t) & mask) != 0;
}

/* ---- calendar (proleptic Gregorian, days since 1970-01-01) ------------- */
static int64_t days_from_ymd(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned mp = (m + 9) % 12;
    unsigned doy = (153 * mp + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void ymd_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b) != 0 && ((a < 0) != (b < 0))); }

int64_t sim_comm_next_schedule(const uint8_t s[4], int64_t after_ms)
{
    unsigned day = s[0], hour = s[1], minute = s[2], freq = s[3];
    if (!day && !hour && !minute && !freq) /* docs/mep.md 10.3: all zeros = 1st of month, midnight */
        freq = 3;
    if (hour > 23 || minute > 59)
        return INT64_MAX;
    int64_t today = floor_div(after_ms, DAY_MS);
    int64_t tod = (int64_t)hour * HOUR_MS + (int64_t)minute * MIN_MS;
    int64_t c;
    switch (freq) {
    case 0: /* hourly, at the minute */
        c = floor_div(after_ms, HOUR_MS) * HOUR_MS + (int64_t)minute * MIN_MS;
        if (c <= after_ms)
            c += HOUR_MS;
        return c;
    case 1: /* daily */
        c = today * DAY_MS + tod;
        if (c <= after_ms)
            c += DAY_MS;
        return c;
    case 2: { /* weekly: day 32..38 = Sunday..Saturday; anything else never [E] */
        if (day < 32 || day > 38)
            return INT64_MAX;
        int64_t wd = ((today + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday */
        int64_t delta = (((int64_t)(day - 32) - wd) % 7 + 7) % 7;
        c = (today + delta) * DAY_MS + tod;
        if (c <= after_ms)
            c += 7 * DAY_MS;
        return c;
    }
    case 3: { /* monthly: day 1..28, 0 = first day; 29..31 must not be used -> never [E] */
        if (day > 28)
            return INT64_MAX;
        if (day == 0)
            day = 1;
        int64_t y;
        unsigned m, d;
        ymd_from_days(today, &y, &m, &d);
        c = days_from_ymd(y, m, day) * DAY_MS + tod;
        if (c <= after_ms) {
            if (++m > 12) {
                m = 1;
                y++;
            }
            c = days_from_ymd(y, m, day) * DAY_MS + tod;
        }
        return c;
    }
    default: /* 4 = never; 5..255 undefined */
        return INT64_MAX;
    }
}

void sim_comm_ltime(int64_t utc_ms, uint8_t out[6])
{
    int64_t days = floor_div(utc_ms, DAY_MS), y;
    int64_t ms = utc_ms - days * DAY_MS;
    unsigned m, d;
    ymd_from_days(days, &y, &m, &d);
    out[0] = (uint8_t)(((y % 100) + 100) % 100);
    out[1] = (uint8_t)m;
    out[2] = (uint8_t)d;
    out[3] = (uint8_t)(ms / HOUR_MS);
    out[4] = (uint8_t)(ms % HOUR_MS / MIN_MS);
    out[5] = (uint8_t)(ms % MIN_MS / 1000);
}

static void schedule_bytes(sim_tables *t, uint8_t out[4])
{
    sim_mep_layout L;
    sim_mep_layout_get(t, &L);
    const uint8_t *s = sim_comm_field(t, ET13, L.et13_mep, 4);
    if (s)
        memcpy(out, s, 4);
    else
        memset(out, 0, 4), out[3] = 4; /* no ET13: never */
}

void sim_comm_reschedule(sim_comm *c, sim_tables *t, int64_t sim_now_ms)
{
    uint8_t s[4];
    schedule_bytes(t, s);
    c->next_sched_ms = sim_comm_next_schedule(s, sim_now_ms);
}

void sim_comm_init(sim_comm *c, sim_tables *t, int64_t sim_now_ms, uint64_t now_ms)
{
    memset(c, 0, sizeof *c);
    sim_mep_layout L;
    sim_mep_layout_get(t, &L);
    c->pending_baud = -1;
    const uint8_t *b = sim_comm_field(t, ET13, L.et13_mep + 6, 1);
    c->baud_code = b && sim_baud_from_code(b[0]) ? b[0] : 0;
    if (mep_occupied(t)) {
        /* A client registered before "power-up" (profile tables): keep it. */
        const uint8_t *id = sim_comm_field(t, ET50, 0, 30);
        c->have_last = true;
        c->last_handle = sim_comm_handle(t);
        if (id)
            memcpy(c->last_id, id, 30);
    }
    c->last_ok_ms = now_ms;
    sim_comm_reschedule(c, t, sim_now_ms);
}

void sim_comm_request_ok(sim_comm *c, sim_tables *t, uint64_t now_ms, char *note, size_t cap)
{
    c->last_ok_ms = now_ms;
    /* docs/mep.md 10.5 [I]: the next successful request brings the client back. */
    sim_mep_layout L;
    sim_mep_layout_get(t, &L);
    uint8_t *st = sim_comm_field(t, ET14, L.et14_mep + 2, 1);
    if (st && mep_occupied(t) && st[0] == SIM_ET14_DOWN) {
        st[0] = SIM_ET14_ACTIVE;
        sim_note_add(note, cap, " [client up again]");
    }
}

/* docs/mep.md 10.2 step 4 (discovery) [I][E]. */
static void discover(sim_comm *c, sim_tables *t, sim_meter_counters *ctr, char *note, size_t cap)
{
    sim_mep_layout L;
    sim_mep_layout_get(t, &L);
    const uint8_t *id = sim_comm_field(t, ET50, 0, 30);
    uint8_t *occ = sim_comm_field(t, ET14, 5, 1);
    uint8_t *e = sim_comm_field(t, ET14, L.et14_mep, 4);
    if (!id || !occ || !e)
        return;
    bool same = c->have_last && memcmp(id, c->last_id, 30) == 0;
    if ((occ[0] & (1u << SIM_MEP1_INDEX)) && same)
        return; /* re-registration by the same client: nothing changes */
    uint16_t h = SIM_MEP1_HANDLE_FIRST;
    if (c->have_last) {
        h = same ? c->last_handle : (uint16_t)(c->last_handle + 1u);
        if (h < SIM_MEP1_HANDLE_FIRST || h > SIM_MEP1_HANDLE_LAST)
            h = SIM_MEP1_HANDLE_FIRST;
    }
    occ[0] |= (uint8_t)(1u << SIM_MEP1_INDEX);
    mep_put_le16(e, h);
    e[2] = SIM_ET14_ACTIVE;
    e[3] = c->baud_code;
    c->have_last = true;
    c->last_handle = h;
    memcpy(c->last_id, id, 30);
    ctr->registrations++;
    sim_note_add(note, cap, " [registered: handle %u%s]", (unsigned)h,
                 same ? ", same ID" : "");
}

static bool covers(uint32_t off, uint32_t n, uint32_t at) { return at >= off && at - off < n; }

void sim_comm_after_write(sim_comm *c, sim_tables *t, uint16_t table, uint32_t off, uint32_t n,
                          uint64_t now_ms, int64_t sim_now_ms, sim_meter_counters *ctr,
                          char *note, size_t cap)
{
    sim_mep_layout L;
    sim_mep_layout_get(t, &L);
    if (table == ET50 && covers(off, n, 30) && sim_comm_registered(t))
        discover(c, t, ctr, note, cap);
    if (table == ET13) {
        if (covers(off, n, L.et13_mep + 6)) {
            /* docs/mep.md 2: switch only after this response is sent. */
            const uint8_t *b = sim_comm_field(t, ET13, L.et13_mep + 6, 1);
            if (b && sim_baud_from_code(b[0]) == 0) {
                sim_note_add(note, cap, " [baud code %u reserved: rate unchanged]", b[0]);
            } else if (b && b[0] != c->baud_code) {
                c->pending_baud = b[0];
                sim_note_add(note, cap, " [baud -> %u after this response]",
                             (unsigned)sim_baud_from_code(b[0]));
            }
        }
        if (off < L.et13_mep + 4 && off + n > L.et13_mep)
            sim_comm_reschedule(c, t, sim_now_ms);
    }
    if (table == ET51 && covers(off, n, 0))
        c->last_ok_ms = now_ms; /* monitoring (re)configured: the timeout starts now */
}

bool sim_comm_on_sent(sim_comm *c, sim_tables *t, sim_meter_counters *ctr)
{
    if (c->pending_baud < 0)
        return false;
    uint8_t code = (uint8_t)c->pending_baud;
    c->pending_baud = -1;
    bool changed = sim_baud_from_code(code) != sim_baud_from_code(c->baud_code);
    c->baud_code = code;
    sim_mep_layout L;
    sim_mep_layout_get(t, &L);
    uint8_t *mirror = sim_comm_field(t, ET14, L.et14_mep + 3, 1); /* docs/mep.md 12.15 byte 153 */
    if (mirror)
        mirror[0] = code;
    if (changed)
        ctr->baud_changes++;
    return changed;
}

uint64_t sim_comm_tick(sim_comm *c, sim_tables *t, const sim_clock *clk, uint64_t now_ms,
                       sim_meter_counters *ctr)
{
    uint64_t next = UINT64_MAX;
    sim_mep_layout L;
    sim_mep_layout_get(t, &L);

    /* docs/mep.md 10.5: client health. */
    const uint8_t *cfg = sim_comm_field(t, ET51, 0, 3);
    uint8_t *st = sim_comm_field(t, ET14, L.et14_mep + 2, 1);
    uint8_t *alarms = sim_comm_field(t, ET14, L.et14_mep + 14, 2);
    if (cfg && (cfg[0] & 0x02) && st && alarms && sim_comm_handle(t) != 0 &&
        st[0] == SIM_ET14_ACTIVE) {
        uint64_t timeout = (uint64_t)mep_get_le16(cfg + 1) * 1000u;
        uint64_t due = c->last_ok_ms + timeout;
        if (now_ms >= due) {
            st[0] = SIM_ET14_DOWN;
            mep_put_le16(alarms, (uint16_t)(mep_get_le16(alarms) | 0x10u)); /* failed comms */
            ctr->health_down++;
        } else {
            next = due;
        }
    }

    /* docs/mep.md 10.3: scheduled billing read in simulated time. */
    int64_t sim_now = sim_clock_now(clk, now_ms);
    if (c->next_sched_ms != INT64_MAX && sim_now >= c->next_sched_ms) {
        if (sim_comm_registered(t))
            sim_comm_set_alert(t, SIM_ALERT_SCHEDULED, 0);
        sim_comm_reschedule(c, t, sim_now);
    }
    if (c->next_sched_ms != INT64_MAX && !clk->frozen && clk->speed > 0) {
        uint64_t w = sim_clock_wall_at(clk, now_ms, c->next_sched_ms);
        if (w < next)
            next = w;
    }
    return next;
}

void sim_comm_remove(sim_comm *c, sim_tables *t, uint32_t k)
{
    sim_mep_layout L;
    sim_mep_layout_get(t, &L);
    uint8_t *occ = sim_comm_field(t, ET14, 5, 1);
    uint8_t *e = sim_comm_field(t, ET14, 6 + (size_t)k * L.et14_entry, L.et14_entry);
    if (occ && k < 8)
        occ[0] &= (uint8_t)~(1u << k);
    if (e) {
        memset(e, 0, L.et14_entry); /* handle, status, alarms ... (docs/mep.md 10.6) */
        /* baud field back to 9600: code 0 (MEP default) */
    }
    if (k != SIM_MEP1_INDEX)
        return;
    uint8_t *fl = sim_comm_field(t, ET50, 30, 1);
    if (fl)
        fl[0] &= (uint8_t)~0x01u;
    uint8_t *icons = sim_comm_field(t, ET50, 31 + 6 * (size_t)L.et50_sources, 2);
    if (icons)
        icons[0] = icons[1] = 0;
    sim_comm_set_alert(t, 0, SIM_ALERT_ON_DEMAND);
    if (sim_baud_from_code(c->baud_code) != 9600)
        c->pending_baud = 0; /* the port returns to 9600 once the EP17 reply is out */
}
