/* sim_proc: procedures and ET52/ET53 transactions (see sim_proc.h;
 * docs/mep.md 8, 9, 10.4, 10.6). */
#include "sim_proc.h"

#include <string.h>

#include "mep_frame.h"

#define BT07 MEP_BT(7)
#define BT08 MEP_BT(8)
#define ET15 MEP_ET(15)
#define ET16 MEP_ET(16)
#define ET50 MEP_ET(50)
#define ET52 MEP_ET(52)
#define ET53 MEP_ET(53)
#define ET54 MEP_ET(54)
#define ET59 MEP_ET(59)

#define EP16 MEP_EP(16)
#define EP17 MEP_EP(17)
#define EP19 MEP_EP(19)
#define EP39 MEP_EP(39)
#define EP61 MEP_EP(61)

/* EP39 post types (docs/mep.md 8.3 [E]; the guide names the types but only
 * numbers "Clear Delta Data Alert" = 12; the reference module sends 4). */
enum {
    EP39_SCHEDULED = 3,
    EP39_SCHEDULED_ALARMS = 4,
    EP39_ON_DEMAND = 5,
    EP39_CLEAR_MBUS = 11,
    EP39_CLEAR_DELTA = 12,
};

void sim_proc_init(sim_proc *p)
{
    memset(p, 0, sizeof *p);
    p->last_psn = 255; /* docs/mep.md 8.1: the first PSN after start-up must not be 255 */
    p->et52_level = SIM_LEVEL_MBK;
}

static uint16_t proc_number(const uint8_t *data) { return (uint16_t)(mep_get_le16(data) & 0x0FFFu); }

uint8_t sim_proc_check_call(sim_proc *p, const sim_proc_env *e, const uint8_t *data, size_t n,
                            sim_level level, char *note, size_t cap)
{
    (void)e;
    if (n < 3) {
        sim_note_add(note, cap, "BT07 write of %zu bytes is not a call", n);
        return MEP_RSP_IAR;
    }
    uint8_t psn = data[2];
    if (psn == p->last_psn) { /* docs/mep.md 8.1 step 2 */
        sim_note_add(note, cap, "psn=%u repeats the previous call", psn);
        return MEP_RSP_ONP;
    }
    uint16_t id = proc_number(data);
    if (e->policy->proc_deny == SIM_PROC_DENY_ISC && sim_access_proc_listed(id) &&
        !sim_access_can_call(id, level)) {
        char nm[8];
        sim_note_add(note, cap, "%s not allowed with the %s", mep_proc_name(id, nm),
                     sim_level_name(level));
        return MEP_RSP_ISC;
    }
    return 0;
}

/* ---- result posting (docs/mep.md 8.1 step 4) ------------------------------- */
static void write_result(sim_tables *t, uint16_t table, const uint8_t *r, size_t len)
{
    size_t size = 0;
    uint8_t *dst = sim_tables_raw(t, table, &size);
    if (!dst)
        return;
    if (len > size)
        len = size;
    memset(dst, 0, size < SIM_PROC_RESULT_MAX ? size : SIM_PROC_RESULT_MAX);
    memcpy(dst, r, len);
}

static void post_result(sim_proc *p, const sim_proc_env *e, uint16_t id, uint8_t psn,
                        uint8_t result, const uint8_t *rdata, size_t rlen, char *note, size_t cap)
{
    /* MEP1: ET59 if ET50 "ET59 Response" (byte 30 bit1) else BT08. */
    const uint8_t *fl = sim_comm_field(e->tables, ET50, 30, 1);
    uint16_t table = fl && (fl[0] & 0x02) && !e->optical ? ET59 : BT08;
    uint8_t r[SIM_PROC_RESULT_MAX] = {0};
    if (rlen > SIM_PROC_RESULT_MAX - 4)
        rlen = SIM_PROC_RESULT_MAX - 4;
    mep_put_le16(r, id);
    r[2] = psn;
    r[3] = result;
    if (rlen)
        memcpy(r + 4, rdata, rlen);
    char tn[8];
    sim_note_add(note, cap, " result=%u in %s", result, mep_table_name(table, tn));
    if (p->result_pending) /* an older delayed result appears now */
        write_result(e->tables, p->result_table, p->result, p->result_len);
    p->result_pending = false;
    if (e->policy->proc_latency_ms) {
        p->result_pending = true;
        p->result_due_ms = e->now_ms + e->policy->proc_latency_ms;
        p->result_table = table;
        memcpy(p->result, r, sizeof r);
        p->result_len = 4 + rlen;
        sim_note_add(note, cap, " after %u ms", (unsigned)e->policy->proc_latency_ms);
        return;
    }
    write_result(e->tables, table, r, 4 + rlen);
}

/* ---- EP16 Change System Clock By Delta -------------------------------- */
static uint8_t ep16(const sim_proc_env *e, const uint8_t *prm, size_t n, char *note, size_t cap)
{
    /* docs/mep.md 8.3 [E]: bytes 3-6 = INT32 LSB-first seconds. Choice: applied
     * as one step at once (no slewing by ET55.4), and the model's energy
     * integration is shifted with the clock so no energy is booked (or
     * repeated) for the skipped time. */
    if (n < 4)
        return SIM_PR_INVALID_PARAM;
    int32_t delta = (int32_t)mep_get_le32(prm);
    int64_t now = sim_clock_now(e->clock, e->now_ms);
    int64_t dms = (int64_t)delta * 1000;
    sim_model_advance(e->model, now);
    sim_clock_set(e->clock, e->now_ms, now + dms);
    e->model->t_ms += dms;
    e->model->next_step_ms += dms;
    sim_comm_reschedule(e->comm, e->tables, now + dms);
    sim_note_add(note, cap, " delta=%+ld s", (long)delta);
    return SIM_PR_COMPLETED;
}

/* The meter's table layout and the ET14 occupancy byte (bit k: device k
 * installed, docs/mep.md 8.3); NULL if ET14 is too short to hold it. */
static const uint8_t *et14_occupancy(const sim_proc_env *e, sim_mep_layout *L)
{
    sim_mep_layout_get(e->tables, L);
    return sim_comm_field(e->tables, MEP_ET(14), 5, 1);
}

/* ---- EP17 Remove MEP Device (docs/mep.md 8.3, 10.6) ------------------------- */
static uint8_t ep17(const sim_proc_env *e, const uint8_t *prm, size_t n, sim_level level,
                    char *note, size_t cap)
{
    if (n < 3)
        return SIM_PR_INVALID_PARAM;
    uint8_t action = prm[0];
    uint16_t handle = mep_get_le16(prm + 1);
    sim_note_add(note, cap, " action=%u handle=%u", action, (unsigned)handle);
    if (action > 1)
        return SIM_PR_INVALID_PARAM;
    sim_mep_layout L;
    const uint8_t *occ = et14_occupancy(e, &L);
    if (!occ)
        return SIM_PR_CONFLICT;
    bool removed = false;
    for (uint32_t k = 0; k < L.ndev && k < 8; k++) {
        const uint8_t *h = sim_comm_field(e->tables, MEP_ET(14), 6 + (size_t)k * L.et14_entry, 2);
        if (!h || !(occ[0] & (1u << k)))
            continue;
        if (handle != 0xFFFF && mep_get_le16(h) != handle)
            continue;
        /* docs/mep.md 8.3: with the MBK only the MEP client itself. */
        if (level != SIM_LEVEL_MAK && k != SIM_MEP1_INDEX) {
            if (handle == 0xFFFF)
                continue;
            return SIM_PR_NO_AUTH;
        }
        sim_comm_remove(e->comm, e->tables, k);
        removed = true;
    }
    if (!removed)
        return SIM_PR_CONFLICT; /* 3: no installed device with that handle */
    sim_note_add(note, cap, " removed");
    return SIM_PR_COMPLETED;
}

/* ---- EP19 Post On-demand M-Bus Request (docs/mep.md 8.3, 10.4), minimal ---- */
static uint8_t ep19(const sim_proc_env *e, const uint8_t *prm, size_t n, uint8_t *rdata,
                    size_t *rlen, char *note, size_t cap)
{
    if (n < 5)
        return SIM_PR_INVALID_PARAM;
    uint16_t txn = mep_get_le16(prm);
    uint16_t handle = mep_get_le16(prm + 2);
    uint8_t type = prm[4];
    sim_note_add(note, cap, " txn=0x%04X handle=%u type=%u", (unsigned)txn, (unsigned)handle, type);
    if (!(type >= 1 && type <= 6) && type != 9 && type != 10)
        return SIM_PR_INVALID_PARAM;
    sim_mep_layout L;
    const uint8_t *occ = et14_occupancy(e, &L);
    if (!occ)
        return SIM_PR_CONFLICT;
    int target = -1;
    if (type == 6) {
        target = -2; /* group mask: accepted as given */
    } else {
        for (uint32_t k = 0; k < L.ndev && k < 8 && target < 0; k++) {
            const uint8_t *h = sim_comm_field(e->tables, MEP_ET(14), 6 + (size_t)k * L.et14_entry, 2);
            if (!h || !(occ[0] & (1u << k)))
                continue;
            bool hit = type == 10 ? (handle & (1u << k)) != 0 : mep_get_le16(h) == handle;
            if (hit)
                target = (int)k;
        }
        if (target < 0)
            return SIM_PR_CONFLICT;
    }
    uint8_t *q = sim_comm_field(e->tables, ET15, 0, 1 + (size_t)L.et15_entries * L.et15_entry);
    if (!q || L.et15_entry < 6)
        return SIM_PR_CONFLICT;
    unsigned wp = (q[0] & 0x0F) % L.et15_entries;
    uint8_t *ent = q + 1 + (size_t)wp * L.et15_entry;
    if (ent[4] != 0 && ent[5] == 0)
        return SIM_PR_QUEUE_FULL; /* the slot to fill is still pending */
    mep_put_le16(ent, txn);
    mep_put_le16(ent + 2, handle);
    ent[4] = type;
    ent[5] = 0; /* pending */
    if ((type == 4 || type == 10) && n >= 6) {
        size_t len = prm[5];
        if (len > n - 6)
            len = n - 6;
        if (len > L.et15_write_msg - 1)
            len = L.et15_write_msg - 1;
        uint8_t *msg = sim_comm_field(e->tables, ET15, 1 + (size_t)L.et15_entries * L.et15_entry +
                                      (size_t)wp * L.et15_write_msg, L.et15_write_msg);
        if (msg) {
            memset(msg, 0, L.et15_write_msg);
            msg[0] = (uint8_t)len;
            memcpy(msg + 1, prm + 6, len);
        }
    }
    q[0] = (uint8_t)((q[0] & 0xF0) | ((wp + 1) % L.et15_entries));
    if (target == (int)SIM_MEP1_INDEX)
        sim_comm_set_alert(e->tables, SIM_ALERT_ON_DEMAND, 0);
    rdata[0] = (uint8_t)wp;
    *rlen = 1;
    sim_note_add(note, cap, " queued at %u", wp);
    return SIM_PR_COMPLETED;
}

/* Complete the oldest pending ET15 entry for the MEP client (EP39 answer). */
static void complete_on_demand(const sim_proc_env *e, char *note, size_t cap)
{
    sim_mep_layout L;
    sim_mep_layout_get(e->tables, &L);
    uint8_t *q = sim_comm_field(e->tables, ET15, 0, 1 + (size_t)L.et15_entries * L.et15_entry);
    uint16_t mine = sim_comm_handle(e->tables);
    if (!q || L.et15_entry < 6 || !mine)
        return;
    unsigned rp = ((q[0] >> 4) & 0x0F) % L.et15_entries;
    bool done = false, left = false;
    for (unsigned i = 0; i < L.et15_entries; i++) {
        unsigned k = (rp + i) % L.et15_entries;
        uint8_t *ent = q + 1 + (size_t)k * L.et15_entry;
        if (ent[4] == 0 || ent[5] != 0 || mep_get_le16(ent + 2) != mine)
            continue;
        if (!done) {
            ent[5] = 1; /* success */
            q[0] = (uint8_t)((q[0] & 0x0F) | (((k + 1) % L.et15_entries) << 4));
            done = true;
            sim_note_add(note, cap, " completed ET15[%u]", k);
        } else {
            left = true;
        }
    }
    if (!left)
        sim_comm_set_alert(e->tables, 0, SIM_ALERT_ON_DEMAND);
}

/* ---- EP39 Post MEP Data (docs/mep.md 8.3 [E]) ------------------------------ */
static uint8_t ep39(const sim_proc_env *e, const uint8_t *prm, size_t n, char *note, size_t cap)
{
    if (!sim_comm_registered(e->tables)) {
        sim_note_add(note, cap, " client not registered");
        return SIM_PR_CONFLICT;
    }
    if (n < 1)
        return SIM_PR_INVALID_PARAM;
    uint8_t type = prm[0];
    sim_note_add(note, cap, " type=%u", type);
    switch (type) {
    case EP39_SCHEDULED:
    case EP39_SCHEDULED_ALARMS:
    case EP39_ON_DEMAND: {
        if (n < 4)
            return SIM_PR_INVALID_PARAM;
        uint8_t status = prm[1];
        size_t len = mep_get_le16(prm + 2);
        if (len > n - 4)
            return SIM_PR_INVALID_PARAM;
        sim_note_add(note, cap, " status=%u len=%zu", status, len);
        sim_mep_layout L;
        sim_mep_layout_get(e->tables, &L);
        uint8_t *rec = sim_comm_field(e->tables, ET16, L.et16_mep, L.et16_entry);
        if (rec && L.et16_entry >= 11) {
            /* ET16 MEP record (docs/mep.md 12.16): time, read count+1, length, data. */
            size_t room = L.et16_entry - 11;
            size_t keep = len < room ? len : room;
            sim_comm_ltime(sim_clock_now(e->clock, e->now_ms), rec);
            mep_put_le16(rec + 7, (uint16_t)(mep_get_le16(rec + 7) + 1u));
            mep_put_le16(rec + 9, (uint16_t)keep);
            memset(rec + 11, 0, room);
            memcpy(rec + 11, prm + 4, keep);
        }
        if (type == EP39_ON_DEMAND)
            complete_on_demand(e, note, cap);
        else
            sim_comm_set_alert(e->tables, 0, SIM_ALERT_SCHEDULED);
        return SIM_PR_COMPLETED;
    }
    case EP39_CLEAR_MBUS:
        sim_comm_set_alert(e->tables, 0, SIM_ALERT_MBUS);
        return SIM_PR_COMPLETED;
    case EP39_CLEAR_DELTA:
        sim_comm_set_alert(e->tables, 0, SIM_ALERT_DELTA);
        return SIM_PR_COMPLETED;
    default:
        return SIM_PR_INVALID_PARAM;
    }
}

/* ---- EP61 MEP Transaction Lock Control (docs/mep.md 8.3, 9, 12.19) --------- */
static void set_lock_bytes(sim_tables *t, bool locked)
{
    size_t size = 0;
    const uint8_t *e11 = sim_tables_raw(t, MEP_ET(11), &size);
    size_t recs = size > 33 ? (size_t)e11[32] * e11[33] : 0;
    size_t r = 91 + (recs ? recs : 42); /* R = 91 + ET11.32*ET11.33 (42 by default) */
    uint8_t *f = sim_comm_field(t, ET54, r + 6, 2);
    if (f) {
        f[0] = locked ? 1 : 0; /* MEP TX Locked */
        f[1] = locked ? 1 : 0; /* lock channel: MEP1 (this emulator has one port) */
    }
}

static uint8_t ep61(sim_proc *p, const sim_proc_env *e, const uint8_t *prm, size_t n, char *note,
                    size_t cap)
{
    if (n < 1 || prm[0] > 1)
        return SIM_PR_INVALID_PARAM;
    p->tx_locked = prm[0] == 1;
    p->tx_lock_until_ms = e->now_ms + SIM_EP61_AUTO_RELEASE_MS;
    set_lock_bytes(e->tables, p->tx_locked);
    sim_note_add(note, cap, p->tx_locked ? " locked (10 s)" : " unlocked");
    return SIM_PR_COMPLETED;
}

/* SP08 over the optical port: BT03 bytes from offset 4 (the manufacturer
 * status, BT00.17 bytes) back to zero. */
static uint8_t sp08(const sim_proc_env *e, char *note, size_t cap)
{
    size_t size = 0;
    uint8_t *bt03 = sim_tables_raw(e->tables, MEP_BT(3), &size);
    if (!bt03 || size <= 4)
        return SIM_PR_UNRECOGNISED;
    memset(bt03 + 4, 0, size - 4);
    sim_note_add(note, cap, " BT03 manufacturer status cleared");
    return SIM_PR_COMPLETED;
}

void sim_proc_call(sim_proc *p, const sim_proc_env *e, const uint8_t *data, size_t n,
                   sim_level level, char *note, size_t cap)
{
    if (n < 3)
        return;
    uint16_t id = proc_number(data);
    uint8_t psn = data[2];
    const uint8_t *prm = data + 3;
    size_t np = n - 3;
    uint8_t rdata[12];
    size_t rlen = 0;
    uint8_t result;
    p->last_psn = psn;
    e->ctr->procedures++;
    if (e->optical && id == SIM_SP_CLEAR_MFG_STATUS) { /* bit 11 clear: a standard procedure */
        result = sp08(e, note, cap);
    } else if (!sim_access_proc_listed(id)) {
        result = SIM_PR_UNRECOGNISED; /* docs/mep.md 6 [E] */
    } else if (!sim_access_can_call(id, level)) {
        result = SIM_PR_NO_AUTH; /* default SIM_PROC_DENY_RESULT5 */
    } else {
        switch (id) {
        case EP16: result = ep16(e, prm, np, note, cap); break;
        case EP17: result = ep17(e, prm, np, level, note, cap); break;
        case EP19: result = ep19(e, prm, np, rdata, &rlen, note, cap); break;
        case EP39: result = ep39(e, prm, np, note, cap); break;
        case EP61: result = ep61(p, e, prm, np, note, cap); break;
        default: result = SIM_PR_UNRECOGNISED; break;
        }
    }
    post_result(p, e, id, psn, result, rdata, rlen, note, cap);
}

/* ---- transactions (docs/mep.md 9) ----------------------------------------- */
uint8_t sim_proc_check_et52_write(const sim_proc *p)
{
    return p->tx_running ? MEP_RSP_ONP : 0;
}

static uint64_t fnv1a(const uint8_t *b, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

void sim_proc_after_et52_write(sim_proc *p, const sim_proc_env *e, sim_level level, char *note,
                               size_t cap)
{
    p->et52_level = level;
    size_t rsize = 0, osize = 0;
    const uint8_t *rq = sim_tables_raw(e->tables, ET52, &rsize);
    uint8_t *out = sim_tables_raw(e->tables, ET53, &osize);
    if (!rq || !out || rsize < 7 || osize < 7)
        return;
    size_t B = mep_get_le16(rq);
    if (B < 7 || B > rsize)
        return; /* not complete (or nonsense): wait for more writes */
    uint16_t number = mep_get_le16(rq + 3);
    if (mep_get_le16(rq + B - 2) != number)
        return; /* docs/mep.md 9: execute when the trailing number matches */
    uint64_t h = fnv1a(rq, B);
    if (p->tx_done && p->tx_number == number && p->tx_hash == h) {
        sim_note_add(note, cap, " [TX #%u already executed: not run again]", (unsigned)number);
        return;
    }
    p->tx_done = true;
    p->tx_number = number;
    p->tx_hash = h;
    p->tx_executed++;

    /* Work on a copy: a record may legitimately rewrite ET52. */
    uint8_t req[2048];
    if (B > sizeof req)
        B = sizeof req;
    memcpy(req, rq, B);
    memset(out, 0, osize);
    uint8_t type = req[2];
    size_t w = 5, records = 0;
    uint8_t out_type = 1;
    if (type == 3) {
        out_type = 4; /* docs/mep.md 9 [E]: group broadcasts denied */
    } else if (type != 0) {
        out_type = 2;
    } else {
        p->tx_running = true;
        size_t r = 5;
        uint8_t rbuf[2048];
        while (r < B - 2) {
            if (r + 2 > B - 2) {
                out_type = 2;
                break;
            }
            size_t L = mep_get_le16(req + r);
            if (L == 0 || r + 2 + L > B - 2) { /* docs/mep.md 9: bad length -> type 2 */
                out_type = 2;
                break;
            }
            /* Room for this record's header and the trailing number. */
            if (w + 2 + 1 + 2 > osize) {
                out_type = 2;
                break;
            }
            /* Reads are not limited by the MEP frame here, only by ET53:
             * a response that does not fit makes the result type 2. */
            size_t rl = e->dispatch(e->dispatch_ctx, req + r + 2, L, level, sizeof rbuf - 3, rbuf,
                                    sizeof rbuf);
            if (rl == 0 || w + 2 + rl + 2 > osize) {
                out_type = 2; /* responses do not fit */
                break;
            }
            mep_put_le16(out + w, (uint16_t)rl);
            memcpy(out + w + 2, rbuf, rl);
            w += 2 + rl;
            r += 2 + L;
            records++;
        }
        p->tx_running = false;
    }
    mep_put_le16(out + w, number);
    w += 2;
    mep_put_le16(out, (uint16_t)w);
    out[2] = out_type;
    mep_put_le16(out + 3, number);
    sim_note_add(note, cap, " [TX #%u executed: %zu records, ET53 type %u, %zu bytes]",
                 (unsigned)number, records, out_type, w);
}

uint64_t sim_proc_tick(sim_proc *p, const sim_proc_env *e)
{
    uint64_t next = UINT64_MAX;
    if (p->result_pending) {
        if (e->now_ms >= p->result_due_ms) {
            write_result(e->tables, p->result_table, p->result, p->result_len);
            p->result_pending = false;
        } else {
            next = p->result_due_ms;
        }
    }
    if (p->tx_locked) {
        if (e->now_ms >= p->tx_lock_until_ms) { /* docs/mep.md 4: EP61 auto-release 10 s */
            p->tx_locked = false;
            set_lock_bytes(e->tables, false);
        } else if (p->tx_lock_until_ms < next) {
            next = p->tx_lock_until_ms;
        }
    }
    return next;
}
