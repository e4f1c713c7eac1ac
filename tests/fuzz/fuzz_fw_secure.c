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
    fz_port port;
    mepc_hal hal;
    mepc_config cfg;
    mepc_client *c = malloc(sizeof *c);
    if (!c)
        return 0;
    memset(&port, 0, sizeof port);
    memset(&hal, 0, sizeof hal);
    hal.ctx = &port;
    hal.uart_write = fz_write;
    hal.uart_flush_rx = fz_flush;
    hal.transceiver_power = fz_line_ctl;
    hal.meter_enable = fz_line_ctl;
    hal.secure_request = fz_secure;
    mepc_config_defaults(&cfg);
    uint32_t now = 0xFFFF0000u; /* cross the uint32 wrap during the run */
    mepc_init(c, &hal, &cfg, now);
    now += 2100;
    mepc_run(c, now);

    size_t i = 0;
    while (i < size) {
        uint8_t op = data[i++] % 4;
        if (op == 0) {
            if (i >= size)
                break;
            size_t n = data[i++];
            if (n > size - i)
                n = size - i;
            mepc_rx_bare(c, data + i, n, now);
            i += n;
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
