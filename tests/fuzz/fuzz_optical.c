/* libFuzzer target: arbitrary bytes into the optical port (sim_optical_link
 * packet layer + sim_optical service dispatch), with time advancing under
 * the input's control, then the same bytes as one bare PSEM request.
 *
 * Input layout: byte 0 selects options (strict identify, lock-out, D.O.S.,
 * shared UART, classic identify, past-end zeros); then a stream where 0xF0
 * followed by one byte d advances the clock by d * 16 ms and runs tick;
 * every other byte is received at the current time. Invariants checked:
 * no call produces more than SIM_OPTICAL_OUT_MAX bytes, every packet the
 * meter sends parses with a good CRC, a key is held only in SESSION, and
 * after a tick the next deadline lies in the future.
 * Seeds: tests/fuzz/corpus/optical/ (frames of fixtures/vectors/optical.json).
 * Nothing carries over between inputs: the port is created per input (its
 * library has no reset), the tables are copied from a pristine image built
 * on the first input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim_optical.h"
#include "sim_optical_link.h"

typedef struct {
    uint8_t bytes[256];
    int size;
} one_table;

typedef struct {
    one_table t[6];
    uint16_t ids[6];
} mini_store;

static int ms_find(mini_store *s, uint16_t id)
{
    for (int i = 0; i < 6; i++)
        if (s->ids[i] == id)
            return i;
    return -1;
}

static int ms_size(void *ctx, uint16_t id)
{
    mini_store *s = ctx;
    int i = ms_find(s, id);
    return i < 0 ? -1 : s->t[i].size;
}

static int ms_read(void *ctx, uint16_t id, uint32_t off, uint32_t n, uint8_t *out)
{
    mini_store *s = ctx;
    int i = ms_find(s, id);
    if (i < 0)
        return -1;
    if (off >= (uint32_t)s->t[i].size)
        return -2;
    if (n > (uint32_t)s->t[i].size - off)
        n = (uint32_t)s->t[i].size - off;
    memcpy(out, s->t[i].bytes + off, n);
    return (int)n;
}

static int ms_write(void *ctx, uint16_t id, uint32_t off, const uint8_t *d, uint32_t n)
{
    mini_store *s = ctx;
    int i = ms_find(s, id);
    if (i < 0 || off >= (uint32_t)s->t[i].size)
        return -1;
    if (n > (uint32_t)s->t[i].size - off)
        n = (uint32_t)s->t[i].size - off;
    memcpy(s->t[i].bytes + off, d, n);
    return (int)n;
}

static bool ms_pending(void *ctx, uint16_t id, uint8_t ped[6])
{
    (void)ctx;
    if (id != 4096 + 54)
        return false;
    memset(ped, 0x11, 6);
    return true;
}

/* Every packet the meter emits must be well formed. */
static void check_output(const uint8_t *out, size_t n)
{
    if (n > SIM_OPTICAL_OUT_MAX)
        abort();
    size_t i = 0;
    if (n && (out[0] == SIM_OPTICAL_ACK || out[0] == SIM_OPTICAL_NAK))
        i = 1;
    if (i < n) {
        sim_optical_packet p;
        if (sim_optical_packet_parse(out + i, n - i, &p) != SIM_OPTICAL_PKT_OK)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* The tables' starting contents are built once; every input gets its
     * own copy, so writes never carry over to the next input. */
    static mini_store pristine;
    static bool built;
    if (!built) {
        static const uint16_t ids[6] = {0, 1, 3, 23, 2051, 2099};
        static const int sizes[6] = {94, 24, 10, 200, 143, 10};
        for (int i = 0; i < 6; i++) {
            pristine.ids[i] = ids[i];
            pristine.t[i].size = sizes[i];
            for (int k = 0; k < sizes[i]; k++)
                pristine.t[i].bytes[k] = (uint8_t)(i * 31 + k);
        }
        built = true;
    }
    mini_store ms = pristine;
    ms.ids[5] = 4096 + 54; /* pending BT54 instead of ET51 half the time */
    if (data[0] & 0x80)
        ms.ids[5] = 2099;
    sim_optical_store st = {&ms, ms_size, ms_read, ms_write, ms_pending};

    sim_optical_cfg c;
    sim_optical_cfg_defaults(&c);
    sim_optical_cfg_key(&c, 'M', (const uint8_t *)"MMMMMMMMMMMMMMMMMMMM", 20);
    sim_optical_cfg_key(&c, 'R', NULL, 0); /* 20 x 00 */
    c.strict_identify = data[0] & 0x01;
    if (data[0] & 0x02) {
        c.lockout_threshold = 2;
        c.lockout_minutes = 1;
    }
    if (data[0] & 0x04) {
        c.dos_enabled = true;
        c.dos_session_s = 5;
        c.dos_holdoff_s = 2;
    }
    c.shared_uart = data[0] & 0x08;
    c.identify_form = (data[0] & 0x10) ? SIM_OPTICAL_IDENT_CLASSIC : SIM_OPTICAL_IDENT_NES;
    c.past_end_zeros = data[0] & 0x20;
    c.oversize_rno = data[0] & 0x40;
    c.baud_codes[1] = 0x08;
    c.n_baud_codes = 2;
    char err[128];
    sim_optical *o = sim_optical_new(&c, &st, 0, err, sizeof err);
    if (!o)
        abort();

    static uint8_t out[SIM_OPTICAL_OUT_MAX];
    uint64_t now = 1;
    for (size_t i = 1; i < size; i++) {
        if (data[i] == 0xF0 && i + 1 < size) {
            now += (uint64_t)data[++i] * 16u;
            check_output(out, sim_optical_tick(o, now, out, sizeof out));
            if (sim_optical_deadline(o) <= now)
                abort(); /* a deadline not in the future would spin the edge's timer */
            continue;
        }
        check_output(out, sim_optical_rx(o, data[i], now, out, sizeof out));
        if (sim_optical_get_state(o) != SIM_OPTICAL_STATE_SESSION && sim_optical_get_key(o) != SIM_OPTICAL_KEY_NONE)
            abort();
    }
    /* the same bytes as one bare PSEM request, in every state */
    uint8_t rep[SIM_OPTICAL_MAX_MESSAGE];
    size_t n = sim_optical_dispatch(o, data + 1, size - 1, now, rep, sizeof rep);
    if (n < 1 || n > sizeof rep)
        abort();
    sim_optical_free(o);
    return 0;
}
