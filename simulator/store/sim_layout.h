/* sim_layout: table layout derived from BT21 (docs/mep.md 12.6, 12.8): sizes of
 * BT23 and BT28 and the offsets of summation 0 and present value 0. Used by
 * the table store, the kWh glitches and the control socket. */
#ifndef SIM_LAYOUT_H
#define SIM_LAYOUT_H

#include <stdint.h>

typedef struct {
    uint32_t bt23_size;
    uint32_t bt23_summation0;   /* offset of summation 0 in the total block (A) */
    uint32_t bt23_block;        /* size of one block */
    uint32_t bt28_size;
    uint32_t bt28_value0;       /* offset of present value 0 */
    uint32_t n_summations, n_present_values;
} sim_layout;
void sim_layout_from_bt21(const uint8_t bt21[10], sim_layout *out);

#endif
