/* mep_frame: framing, request codec and names (see mep_frame.h). */
#include "mep_frame.h"

mep_parse_result mep_request_parse(const uint8_t *p, size_t n, mep_request *r)
{
    r->code = n ? p[0] : 0;
    r->table = 0;
    r->offset = 0;
    r->count = 0;
    r->has_count = 0;
    r->data = 0;
    r->data_len = 0;
    if (n < 1)
        return MEP_PARSE_SHORT;
    switch (p[0]) {
    case MEP_REQ_FULL_READ: /* 30 tttt [cccc] (docs/mep.md 3.3: count optional) */
        if (n < 3)
            return MEP_PARSE_SHORT;
        r->table = mep_get_be16(p + 1);
        if (n >= 5) {
            r->count = mep_get_be16(p + 3);
            r->has_count = 1;
        }
        return n == 3 || n == 5 ? MEP_PARSE_OK : MEP_PARSE_BAD_LENGTH;
    case MEP_REQ_PARTIAL_READ: /* 3F tttt oooooo cccc */
        if (n < 8)
            return MEP_PARSE_SHORT;
        r->table = mep_get_be16(p + 1);
        r->offset = mep_get_be24(p + 3);
        r->count = mep_get_be16(p + 6);
        r->has_count = 1;
        return n == 8 ? MEP_PARSE_OK : MEP_PARSE_BAD_LENGTH;
    case MEP_REQ_FULL_WRITE: /* 40 tttt cccc data */
        if (n < 5)
            return MEP_PARSE_SHORT;
        r->table = mep_get_be16(p + 1);
        r->count = mep_get_be16(p + 3);
        r->has_count = 1;
        r->data = p + 5;
        r->data_len = (uint16_t)(n - 5);
        return r->data_len == r->count ? MEP_PARSE_OK : MEP_PARSE_BAD_LENGTH;
    case MEP_REQ_PARTIAL_WRITE: /* 4F tttt oooooo cccc data */
        if (n < 8)
            return MEP_PARSE_SHORT;
        r->table = mep_get_be16(p + 1);
        r->offset = mep_get_be24(p + 3);
        r->count = mep_get_be16(p + 6);
        r->has_count = 1;
        r->data = p + 8;
        r->data_len = (uint16_t)(n - 8);
        return r->data_len == r->count ? MEP_PARSE_OK : MEP_PARSE_BAD_LENGTH;
    default:
        return MEP_PARSE_UNKNOWN_CODE;
    }
}

size_t mep_request_encode(const mep_request *r, uint8_t *out, size_t cap)
{
    size_t n;
    switch (r->code) {
    case MEP_REQ_FULL_READ:
        n = r->has_count ? 5 : 3;
        if (cap < n)
            return 0;
        out[0] = r->code;
        mep_put_be16(out + 1, r->table);
        if (r->has_count)
            mep_put_be16(out + 3, r->count);
        return n;
    case MEP_REQ_PARTIAL_READ:
        if (cap < 8)
            return 0;
        out[0] = r->code;
        mep_put_be16(out + 1, r->table);
        mep_put_be24(out + 3, r->offset);
        mep_put_be16(out + 6, r->count);
        return 8;
    case MEP_REQ_FULL_WRITE:
    case MEP_REQ_PARTIAL_WRITE: {
        size_t h = r->code == MEP_REQ_FULL_WRITE ? 5 : 8;
        n = h + r->data_len;
        if (cap < n)
            return 0;
        out[0] = r->code;
        mep_put_be16(out + 1, r->table);
        if (r->code == MEP_REQ_FULL_WRITE) {
            mep_put_be16(out + 3, r->data_len);
        } else {
            mep_put_be24(out + 3, r->offset);
            mep_put_be16(out + 6, r->data_len);
        }
        for (size_t i = 0; i < r->data_len; i++)
            out[h + i] = r->data[i];
        return n;
    }
    default:
        return 0;
    }
}

static void put_dec(char *p, unsigned v, unsigned digits)
{
    for (unsigned i = digits; i-- > 0;) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

static const char *id_name(uint16_t id, char buf[8], char kind)
{
    unsigned n = id >= 0x0800 ? id - 0x0800u : id;
    buf[0] = id >= 0x0800 ? 'E' : 'B';
    buf[1] = kind;
    unsigned digits = n >= 1000 ? 4 : 2 + (n >= 100);
    put_dec(buf + 2, n, digits);
    buf[2 + digits] = 0;
    return buf;
}

const char *mep_table_name(uint16_t id, char buf[8]) { return id_name(id, buf, 'T'); }
const char *mep_proc_name(uint16_t id, char buf[8]) { return id_name((uint16_t)(id & 0x0FFF), buf, 'P'); }

const char *mep_resp_name(uint8_t code)
{
    switch (code) {
    case MEP_RSP_OK: return "OK";
    case MEP_RSP_ERR: return "ERR";
    case MEP_RSP_SNS: return "SNS";
    case MEP_RSP_ISC: return "ISC";
    case MEP_RSP_ONP: return "ONP";
    case MEP_RSP_IAR: return "IAR";
    case MEP_RSP_ISSS: return "ISSS";
    case MEP_RSP_AUTH: return "AUTH";
    case MEP_RSP_SEQ: return "SEQ";
    default: return "?";
    }
}

void mep_asm_init(mep_assembler *a, uint16_t max_body, uint32_t gap_ms)
{
    a->max_body = max_body > MEP_MAX_BODY ? (uint16_t)MEP_MAX_BODY : max_body;
    a->gap_ms = gap_ms;
    a->last_ms = 0;
    a->dropped = 0;
    mep_asm_reset(a);
}

void mep_asm_reset(mep_assembler *a)
{
    a->have = 0;
    a->need = 0;
    a->discarding = 0;
}

int mep_asm_expired(const mep_assembler *a, uint64_t now_ms)
{
    return mep_asm_busy(a) && now_ms - a->last_ms > a->gap_ms;
}

mep_asm_event mep_asm_push(mep_assembler *a, uint8_t byte, uint64_t now_ms)
{
    mep_asm_event ev = MEP_ASM_NONE;
    if (a->need && a->have == a->need) /* previous frame was delivered */
        mep_asm_reset(a);
    if (mep_asm_expired(a, now_ms)) {
        ev = a->discarding ? MEP_ASM_NONE : MEP_ASM_GAP_ABORT;
        mep_asm_reset(a);
    }
    a->last_ms = now_ms;
    if (a->discarding) {
        a->dropped++;
        return MEP_ASM_NONE;
    }
    a->buf[a->have++] = byte;
    if (a->have == 2) {
        uint16_t len = mep_get_be16(a->buf);
        if (len == 0) {
            a->need = 2;
            return MEP_ASM_ZERO;
        }
        if (len > a->max_body) {
            a->have = 0;
            a->discarding = 1;
            a->dropped += 2;
            return MEP_ASM_OVERSIZE;
        }
        a->need = (uint16_t)(len + 2);
    }
    if (a->need && a->have == a->need)
        return MEP_ASM_FRAME;
    return ev;
}
