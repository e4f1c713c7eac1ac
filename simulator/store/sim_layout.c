/* sim_layout: where BT23 summations and BT28 present values sit, derived
 * from the BT21 dimensions (docs/mep.md 12.6, 12.8). */
#include "sim_layout.h"


void sim_layout_from_bt21(const uint8_t bt21[10], sim_layout *out)
{
    uint32_t f0 = bt21[0], ns = bt21[3], nd = bt21[4], nc = bt21[5], occ = bt21[6];
    uint32_t tiers = bt21[7], npd = bt21[8], npv = bt21[9];
    uint32_t a = (f0 & 0x04) ? 1 : 0;                       /* demand reset counter */
    uint32_t dmd = ((f0 & 0x02) ? 5 * occ : 0)              /* event times STIME_DATE[occ] */
                   + ((f0 & 0x10) ? 4 : 0)                  /* cumulative demand */
                   + ((f0 & 0x20) ? 4 : 0)                  /* continuous cumulative */
                   + 4 * occ;                               /* demand values */
    uint32_t coin = 4 * occ;
    uint32_t block = 4 * ns + nd * dmd + nc * coin;
    out->n_summations = ns;
    out->n_present_values = npv;
    out->bt23_summation0 = a;
    out->bt23_block = block;
    out->bt23_size = a + block * (1 + tiers);
    /* BT28: the guide's "(A+4)*BT21.8 + n" lacks the factor 4 (docs/mep.md 15.7). */
    uint32_t pd = (f0 & 0x40) ? 7 : 4;
    out->bt28_value0 = pd * npd;
    out->bt28_size = pd * npd + 4 * npv;
}
