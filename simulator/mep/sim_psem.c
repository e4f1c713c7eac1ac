/* sim_psem: C12.18 read/write dispatch with access control (see sim_psem.h;
 * docs/mep.md 3.3, 3.4, 6). */
#include "sim_psem.h"

#include <stdio.h>
#include <string.h>

static bool locked(const sim_psem *p, uint16_t id)
{
    for (size_t i = 0; i < p->n_locked; i++)
        if (p->locked[i] == id)
            return true;
    return false;
}

static size_t answer(sim_psem_result *res, uint8_t *resp, uint8_t code, const char *why)
{
    res->code = code;
    if (why)
        snprintf(res->note, sizeof res->note, "%s", why);
    resp[0] = code;
    return 1;
}

static size_t do_read(sim_psem *p, const mep_request *r, int size, size_t max_data, uint8_t *resp,
                      size_t cap, sim_psem_result *res)
{
    uint32_t off = r->code == MEP_REQ_FULL_READ ? 0 : r->offset;
    uint32_t want;
    if (r->code == MEP_REQ_FULL_READ) {
        /* docs/mep.md 3.3 [E]: the count of a full read is ignored; whole table. */
        want = (uint32_t)size;
    } else {
        if (off >= (uint32_t)size)
            return answer(res, resp, MEP_RSP_IAR, "offset at or past the end"); /* docs/mep.md 3.3 [E] */
        want = r->count;
        if (want > (uint32_t)size - off) {
            if (p->past_end_error)
                return answer(res, resp, MEP_RSP_IAR, "offset+count past the end");
            want = (uint32_t)size - off; /* clamp: the count says what came back */
        }
    }
    if (want > max_data || 3 + (size_t)want > cap) {
        char why[64];
        snprintf(why, sizeof why, "reply of %u bytes exceeds %zu", (unsigned)want, max_data);
        return answer(res, resp, MEP_RSP_ONP, why); /* docs/mep.md 3.3 [E] */
    }
    int got = want ? sim_tables_read(p->tables, r->table, off, want, resp + 3) : 0;
    if (got < 0)
        return answer(res, resp, MEP_RSP_IAR, "table read failed");
    if (got > 0 && p->hooks.after_read)
        p->hooks.after_read(p->hooks.ctx, r->table, off, resp + 3, (size_t)got);
    resp[0] = MEP_RSP_OK;
    mep_put_be16(resp + 1, (uint16_t)got);
    res->code = MEP_RSP_OK;
    res->data_bytes = (uint32_t)got;
    return 3 + (size_t)got;
}

static size_t do_write(sim_psem *p, const mep_request *r, int size, sim_level level, uint8_t *resp,
                       sim_psem_result *res)
{
    if (!sim_access_can_write(r->table, level)) {
        /* docs/mep.md 3.4 [E]: no right with this key but a stronger key could
         * write -> 0x03; read-only for every key -> 0x05. */
        if (level == SIM_LEVEL_MBK && sim_access_can_write(r->table, SIM_LEVEL_MAK))
            return answer(res, resp, MEP_RSP_ISC, "write needs the MAK");
        return answer(res, resp, MEP_RSP_IAR, "table is read-only");
    }
    uint32_t off = r->code == MEP_REQ_FULL_WRITE ? 0 : r->offset;
    if (off >= (uint32_t)size)
        return answer(res, resp, MEP_RSP_IAR, "offset at or past the end");
    sim_psem_write w = {
        .table = r->table, .offset = off, .data = r->data, .n = r->data_len,
        .full = r->code == MEP_REQ_FULL_WRITE, .level = level,
    };
    if (p->hooks.before_write) {
        uint8_t veto = p->hooks.before_write(p->hooks.ctx, &w, res->note, sizeof res->note);
        if (veto)
            return answer(res, resp, veto, NULL);
    }
    /* docs/mep.md 3.3: bytes past the table end are ignored, no error. */
    if (r->data_len && sim_tables_write(p->tables, r->table, off, r->data, r->data_len) < 0)
        return answer(res, resp, MEP_RSP_IAR, "table write failed");
    if (p->hooks.after_write)
        p->hooks.after_write(p->hooks.ctx, &w, res->note, sizeof res->note);
    return answer(res, resp, MEP_RSP_OK, NULL);
}

size_t sim_psem_dispatch(sim_psem *p, const uint8_t *req, size_t n, sim_level level,
                         size_t max_data, uint8_t *resp, size_t cap, sim_psem_result *res)
{
    memset(res, 0, sizeof *res);
    res->parse = mep_request_parse(req, n, &res->req);
    if (cap < 1)
        return 0;
    switch (res->parse) {
    case MEP_PARSE_OK:
        break;
    case MEP_PARSE_UNKNOWN_CODE:
        return answer(res, resp, MEP_RSP_ERR, "unknown request code"); /* docs/mep.md 3.4 [E] */
    case MEP_PARSE_SHORT:
        return answer(res, resp, MEP_RSP_ERR, "request header incomplete");
    case MEP_PARSE_BAD_LENGTH:
    default:
        return answer(res, resp, MEP_RSP_ERR, "count disagrees with the bytes sent");
    }
    const mep_request *r = &res->req;
    if (locked(p, r->table)) /* docs/mep.md 6: hardware lock -> Insufficient Security Clearance */
        return answer(res, resp, MEP_RSP_ISC, "hardware lock");
    int size = sim_tables_size(p->tables, r->table);
    if (size < 0 || !sim_access_table_listed(r->table)) /* docs/mep.md 6 [E]: unlisted -> 0x05 */
        return answer(res, resp, MEP_RSP_IAR, "no such table");
    bool is_read = r->code == MEP_REQ_FULL_READ || r->code == MEP_REQ_PARTIAL_READ;
    if (is_read) {
        if (!sim_access_can_read(r->table, level))
            return answer(res, resp, MEP_RSP_ISC, "no read right");
        return do_read(p, r, size, max_data, resp, cap, res);
    }
    return do_write(p, r, size, level, resp, res);
}
