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
#include "fuzz_fw.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[16] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    fz_line line = {{0}, 0};
    fzfw *f = fzfw_new(&line, fz_write);
    if (!f)
        return 0;
    memcpy(f->cfg.mbk, key, 16);
    mepc_client *c = &f->c;
    uint32_t now = fzfw_start(f);

    size_t i = 0;
    while (i < size) {
        uint8_t op = data[i++] % 3;
        if (op == 2) {
            if (i >= size)
                break;
            now += 10u * data[i++];
        } else {
            const uint8_t *b;
            size_t n;
            if (!fzfw_chunk(data, size, &i, &b, &n))
                break;
            if (op == 0) {
                mepc_rx(c, b, n, now);
            } else if (line.last_n >= 2 + 12 && n >= 1) {
                /* seal body for the last request (plaintext requests only) */
                uint8_t fr[2 + 255 + 8];
                const uint8_t *req = line.last + 2;
                size_t req_len = line.last_n - 2 - 8;
                mep_put_be16(fr, (uint16_t)(n + 8));
                memcpy(fr + 2, b, n);
                mep_digest_pair(key, req, req_len, fr + 2, n, fr + 2 + n);
                mepc_rx(c, fr, n + 10, now);
            }
        }
        now = fzfw_run_and_check(c, now);
    }
    free(f);
    return 0;
}
