/* libFuzzer target: the firmware core's receive path and state machine.
 *
 * The input is a script of chunks, each starting with an opcode byte:
 *   0 n bytes...   raw bytes from the meter line (mepc_rx)
 *   1 n body...    a reply to the outstanding request that verifies: the
 *                  harness seals `body` (response code [+ count + data]) with
 *                  the key, so the decoders and reply handlers see arbitrary
 *                  content behind a valid digest
 *   2 t            advance virtual time by t * 10 ms and run the client
 * After every chunk mepc_run is called. Invariants checked: the run interval
 * stays within 1..1000 ms, strings in the snapshot stay NUL-terminated and
 * printable, no request exceeds the MEP frame limit. Build with -DFUZZ=ON and
 * CC=clang (tests/CMakeLists.txt). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mep_digest.h"
#include "mepc.h"

typedef struct {
    uint8_t last[MEP_MAX_FRAME];
    size_t last_n;
} fz_line;

static size_t fz_write(void *ctx, const uint8_t *p, size_t n)
{
    fz_line *l = ctx;
    if (n > sizeof l->last)
        abort();
    memcpy(l->last, p, n);
    l->last_n = n;
    return n;
}

static void fz_flush(void *ctx) { (void)ctx; }
static void fz_line_ctl(void *ctx, bool on) { (void)ctx; (void)on; }

static void check_str(const char *s, size_t cap)
{
    size_t i;
    for (i = 0; i < cap && s[i]; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
            abort();
    if (i == cap)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[16] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    fz_line line;
    mepc_hal hal = {0};
    mepc_config cfg;
    mepc_client *c = malloc(sizeof *c);
    if (!c)
        return 0;
    memset(&line, 0, sizeof line);
    hal.ctx = &line;
    hal.uart_write = fz_write;
    hal.uart_flush_rx = fz_flush;
    hal.transceiver_power = fz_line_ctl;
    hal.meter_enable = fz_line_ctl;
    mepc_config_defaults(&cfg);
    memcpy(cfg.mbk, key, 16);
    uint32_t now = 0xFFFF0000u;  /* cross the uint32 wrap during the run */
    mepc_init(c, &hal, &cfg, now);
    now += 2100;
    mepc_run(c, now);

    size_t i = 0;
    while (i < size) {
        uint8_t op = data[i++] % 3;
        if (op == 2) {
            if (i >= size)
                break;
            now += 10u * data[i++];
        } else {
            if (i >= size)
                break;
            size_t n = data[i++];
            if (n > size - i)
                n = size - i;
            if (op == 0) {
                mepc_rx(c, data + i, n, now);
            } else if (line.last_n >= 2 + 12 && n >= 1) {
                /* seal body for the last request (plaintext requests only) */
                uint8_t f[2 + 255 + 8];
                const uint8_t *req = line.last + 2;
                size_t req_len = line.last_n - 2 - 8;
                mep_put_be16(f, (uint16_t)(n + 8));
                memcpy(f + 2, data + i, n);
                mep_digest_pair(key, req, req_len, f + 2, n, f + 2 + n);
                mepc_rx(c, f, n + 10, now);
            }
            i += n;
        }
        uint32_t w = mepc_run(c, now);
        if (w < 1 || w > 1000)
            abort();
        now += w;
        mepc_run(c, now);
        const mepc_readings *rd = mepc_get_readings(c);
        check_str(rd->manufacturer, sizeof rd->manufacturer);
        check_str(rd->model, sizeof rd->model);
        check_str(rd->utility_sn, sizeof rd->utility_sn);
        check_str(rd->sw_version, sizeof rd->sw_version);
        check_str(rd->status_text, sizeof rd->status_text);
        if (rd->bt28.n > 84)
            abort();
    }
    free(c);
    return 0;
}
