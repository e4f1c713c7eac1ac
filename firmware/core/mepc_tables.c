/* mepc_tables: table layouts and decoders (see mepc_tables.h). */
#include "mepc_tables.h"

#include "../../proto/mep_frame.h"
#include "mepc_fmt.h"

bool mepc_layout_from_bt21(const uint8_t *bt21, size_t n, mepc_layout *out)
{
    mepc_mem_set(out, 0, sizeof *out);
    if (n < 10)
        return false;
    mepc_mem_copy(out->bt21, bt21, 10);
    /* docs/mep.md 12.6: A = BT21.0 bit2 (UINT8 number of demand resets first) */
    out->bt23_sum0 = (bt21[0] & 0x04u) ? 1u : 0u;
    out->n_summations = bt21[3];
    /* docs/mep.md 12.8: each present demand is NI_FMAT2 (4), plus TIME (3) if BT21.0 bit6 */
    out->bt28_value0 = (uint16_t)(((bt21[0] & 0x40u) ? 7u : 4u) * bt21[8]);
    out->n_present_values = bt21[9];
    out->bt28_size = (uint16_t)(out->bt28_value0 + 4u * bt21[9]);
    out->valid = out->n_summations >= 2;
    return out->valid;
}

static int32_t get_i32(const uint8_t *p)
{
    return (int32_t)mep_get_le32(p);
}

bool mepc_decode_bt23(const mepc_layout *l, const uint8_t *d, size_t n, int64_t *fwd_wh, int64_t *rev_wh)
{
    if (!l->valid || n < (size_t)l->bt23_sum0 + 8u)
        return false;
    /* docs/mep.md 12.6/12.1 code NI_FMAT1 is INT32, but an energy register only counts
     * up and wraps at 2^32 (docs/module-behaviour.md S17): read the bytes unsigned */
    *fwd_wh = (int64_t)(uint32_t)get_i32(d + l->bt23_sum0);
    *rev_wh = (int64_t)(uint32_t)get_i32(d + l->bt23_sum0 + 4);
    return true;
}

size_t mepc_decode_bt28(const mepc_layout *l, const uint8_t *d, size_t n, int32_t *v, size_t max)
{
    if (!l->valid || n < l->bt28_value0)
        return 0;
    size_t k = (n - l->bt28_value0) / 4u;
    if (k > l->n_present_values)
        k = l->n_present_values;
    if (k > max)
        k = max;
    for (size_t i = 0; i < k; i++)
        v[i] = get_i32(d + l->bt28_value0 + 4u * i);
    return k;
}

/* Days from 2000-01-01 to y-m-d (y >= 2000), proleptic Gregorian. */
static uint32_t days_since_2000(uint32_t y, uint32_t m, uint32_t d)
{
    static const uint16_t before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    uint32_t days = 0;
    for (uint32_t yy = 2000; yy < y; yy++)
        days += ((yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0) ? 366u : 365u;
    days += before[m - 1] + (d - 1);
    if (m > 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        days++;
    return days;
}

bool mepc_decode_bt52(const uint8_t *d, size_t n, uint32_t *s2000)
{
    static const uint8_t mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n < 6)
        return false;
    /* docs/mep.md 12.10 / 11: LTIME_DATE = year (2 digits), month, day, hour, minute, second */
    uint32_t y = d[0], mo = d[1], dd = d[2], h = d[3], mi = d[4], s = d[5];
    if (y > 99 || mo < 1 || mo > 12 || dd < 1 || dd > mdays[mo - 1] || h > 23 || mi > 59 || s > 59)
        return false;
    y += 2000;
    if (mo == 2 && dd == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    *s2000 = days_since_2000(y, mo, dd) * 86400u + h * 3600u + mi * 60u + s;
    return true;
}

bool mepc_decode_bt01(const uint8_t *d, size_t n, char manufacturer[5], char model[9], char sw[12])
{
    mepc_sb b;
    if (n < 16)
        return false;
    mepc_copy_printable(manufacturer, 5, d, 4);
    mepc_copy_printable(model, 9, d + 4, 8);
    /* docs/module-behaviour.md 8.1: "<b14>.<b15>" as two decimals, like the reference */
    mepc_sb_init(&b, sw, 12);
    mepc_sb_u32(&b, d[14]);
    mepc_sb_char(&b, '.');
    mepc_sb_u32(&b, d[15]);
    return true;
}

bool mepc_decode_et03(const uint8_t *d, size_t n, char sn[31])
{
    if (n < 30)
        return false;
    mepc_copy_printable(sn, 31, d, 30);
    return true;
}

bool mepc_decode_et04_rating(const uint8_t *d, size_t n, mepc_rating *out)
{
    if (n < 7)
        return false;
    out->max_current_a = mep_get_le16(d + 2);
    out->rated_voltage_v = mep_get_le16(d + 4);
    unsigned absent = (d[6] & 1u) + ((d[6] >> 1) & 1u) + ((d[6] >> 2) & 1u);
    out->phases = (uint8_t)(absent >= 3 ? 1u : 3u - absent);
    return true;
}

bool mepc_decode_et11(const uint8_t *d, size_t n, uint8_t *devices, uint8_t *entry_size)
{
    if (n < 2)
        return false;
    *devices = d[0];
    *entry_size = d[1];
    /* the MEP1 entry is index 4 and its alert flags byte is entry byte 8 */
    return d[0] >= 5 && d[1] >= 9;
}

bool mepc_decode_proc_result(const uint8_t *d, size_t n, mepc_proc_result *out)
{
    if (n < 4)
        return false;
    out->proc = (uint16_t)(mep_get_le16(d) & 0x0FFFu);
    out->psn = d[2];
    out->result = d[3];
    return true;
}
