/* libFuzzer target: the firmware core in TLS mode (hal.secure_request,
 * mepc_rx_bare, mepc_secure_fail, mepc_secure_alert; docs/mep.md 3.5, 7).
 *
 * The input is a script of chunks, each starting with an opcode byte:
 *   0 n bytes...   a bare response (`code [count data]`) to whatever is
 *                  outstanding (or to nothing: a late answer)
 *   1 k            a port failure report, kind k % 5 (no reply, bad reply,
 *                  0x01, 0x03, 0x0A after re-handshake)
 *   2 t            advance virtual time by t * 10 ms
 *   3              the alert sequence between TLS frames
 * After every chunk mepc_run is called. Invariants: the core never writes
 * to the UART in this mode, every bare request it hands out parses as a
 * C12.18 request and fits one TLS record (446 bytes, docs/mep.md 7.2), the run
 * interval stays within 1..1000 ms, snapshot strings stay NUL-terminated
 * and printable. Build with -DFUZZ=ON and CC=clang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_fw.h"
#include "mepc.h"

typedef struct {
    uint32_t requests;
} fz_port;

static size_t fz_write(void *ctx, const uint8_t *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
    abort(); /* no RC4 frame in TLS mode */
}

static bool fz_secure(void *ctx, const uint8_t *req, size_t n)
{
    fz_port *p = ctx;
    mep_request r;
    if (n == 0 || n > 446 || mep_request_parse(req, n, &r) != MEP_PARSE_OK)
        abort();
    p->requests++;
    return (p->requests % 7) != 0; /* now and then the port refuses */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_port port = {0};
    fzfw *f = fzfw_new(&port, fz_write);
    if (!f)
        return 0;
    f->hal.secure_request = fz_secure;
    mepc_client *c = &f->c;
    uint32_t now = fzfw_start(f);

    size_t i = 0;
    while (i < size) {
        uint8_t op = data[i++] % 4;
        if (op == 0) {
            const uint8_t *b;
            size_t n;
            if (!fzfw_chunk(data, size, &i, &b, &n))
                break;
            mepc_rx_bare(c, b, n, now);
        } else if (op == 1) {
            if (i >= size)
                break;
            mepc_secure_fail(c, (mepc_secure_error)(data[i++] % 5), now);
        } else if (op == 2) {
            if (i >= size)
                break;
            now += 10u * data[i++];
        } else {
            mepc_secure_alert(c, now);
        }
        now = fzfw_run_and_check(c, now);
    }
    free(f);
    return 0;
}
