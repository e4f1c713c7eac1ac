/* libFuzzer target: arbitrary MEP bodies into sim_tls_on_message.
 *
 * Input layout: byte 0 selects the start state (bit 0: establish a real
 * session first with host_tls in process, so fuzzed TLS_TABLE records reach
 * the record layer of a live session; bit 1: require TLS on the port); the
 * rest is a sequence of wire frames `len(2, MSB) body`, each fed to
 * sim_tls_on_message (lengths past the end are clipped). Checks: every
 * answer is a well-formed MEP frame no longer than MEP_MAX_FRAME with a TLS
 * response code, and no sanitizer report. Randomness is a fixed xorshift so
 * runs are reproducible.
 *
 * Bit 2 turns it around: the frames are *meter replies* fed to the
 * module's client through the host_tls step API (host_tls_feed, as mepmod
 * does), after a real handshake when bit 0 is set; a new request is started
 * whenever the client is idle. Checks: every pending client frame is a
 * well-formed MEP frame with a TLS request code, results are known codes,
 * a response is never longer than a MEP body.
 *
 * Needs simulator/tls.cmake (mbed TLS + MEP_HAVE_MBEDTLS on mepsim_core);
 * without it the target builds as an empty fuzzer.
 */
#ifdef MEP_HAVE_MBEDTLS
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mep_frame.h"
#include "sim_tls.h"

#include "../../firmware/host/host_tls.c"

typedef struct {
    uint64_t s;
} fuzz_rng;

static int fuzz_rand(void *ctx, unsigned char *out, size_t n)
{
    fuzz_rng *r = ctx;
    for (size_t i = 0; i < n; i++) {
        r->s ^= r->s << 13;
        r->s ^= r->s >> 7;
        r->s ^= r->s << 17;
        out[i] = (uint8_t)r->s;
    }
    return 0;
}

static int fuzz_dispatch(void *ctx, sim_level level, const uint8_t *req, size_t n, uint8_t *resp, size_t cap)
{
    (void)ctx;
    (void)level;
    if (n == 0 || cap < 4)
        return -1;
    resp[0] = 0x00;
    resp[1] = 0x00;
    resp[2] = 0x01;
    resp[3] = req[0];
    return 4;
}

typedef struct {
    sim_tls *server;
} fuzz_link;

static int fuzz_exchange(void *ctx, const uint8_t *frame, size_t len, uint8_t *reply, size_t cap, size_t *reply_len)
{
    fuzz_link *l = ctx;
    if (len < 2 || cap < MEP_MAX_FRAME)
        return -1;
    *reply_len = sim_tls_on_message(l->server, frame + 2, len - 2, reply, cap);
    return *reply_len ? 0 : -1;
}

static void check_answer(const uint8_t *out, size_t n)
{
    if (n == 0)
        return;
    if (n < 3 || n > MEP_MAX_FRAME || mep_get_be16(out) != n - 2)
        abort();
    uint8_t code = out[2];
    if (code != 0x00 && code != 0x01 && code != 0x03 && code != 0x0A)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    fuzz_rng srv_rng = {0x9E3779B97F4A7C15ull}, cli_rng = {0xD1B54A32D192ED03ull};
    sim_tls_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    memset(cfg.mak, 0x01, 16);
    memset(cfg.mbk, 0x02, 16);
    cfg.dispatch = fuzz_dispatch;
    cfg.rng = fuzz_rand;
    cfg.rng_ctx = &srv_rng;
    cfg.tls_required = (mode & 2) != 0;
    char err[128];
    sim_tls *t = sim_tls_new(&cfg, err, sizeof err);
    if (!t)
        abort();
    if (mode & 1) {
        fuzz_link l = {t};
        host_tls_cfg hc;
        memset(&hc, 0, sizeof hc);
        hc.client_id = 100;
        hc.key_id = 1;
        memset(hc.psk, 0x01, 16);
        hc.exchange = fuzz_exchange;
        hc.exchange_ctx = &l;
        hc.rng = fuzz_rand;
        hc.rng_ctx = &cli_rng;
        host_tls *c = NULL;
        if (host_tls_new(&hc, &c) != HOST_TLS_OK || host_tls_connect(c) != HOST_TLS_OK)
            abort();
        host_tls_free(c);
    }
    uint8_t out[MEP_MAX_FRAME];
    size_t pos = 1;
    if (mode & 4) {
        static const uint8_t rd[] = {0x3F, 0x00, 0x17, 0x00, 0x00, 0x00, 0x00, 0x0D};
        fuzz_link l = {t};
        host_tls_cfg hc;
        memset(&hc, 0, sizeof hc);
        hc.client_id = 100;
        hc.key_id = 1;
        memset(hc.psk, 0x01, 16);
        hc.exchange = fuzz_exchange;
        hc.exchange_ctx = &l;
        hc.rng = fuzz_rand;
        hc.rng_ctx = &cli_rng;
        host_tls *c = NULL;
        if (host_tls_new(&hc, &c) != HOST_TLS_OK)
            abort();
        if ((mode & 1) && host_tls_connect(c) != HOST_TLS_OK)
            abort();
        while (pos + 2 <= size) {
            if (!host_tls_busy(c)) {
                host_tls_result r0 = (data[pos] & 0x80) ? host_tls_start_terminate(c)
                                                        : host_tls_start_request(c, rd, sizeof rd);
                if (r0 != HOST_TLS_PENDING && r0 != HOST_TLS_ERR_TLS)
                    abort();
            }
            size_t fl = 0;
            const uint8_t *f = host_tls_frame(c, &fl);
            if (host_tls_busy(c)) {
                if (!f || fl < 4 || fl > MEP_MAX_FRAME || mep_get_be16(f) != fl - 2 ||
                    (f[2] != 0x57 && f[2] != 0x58 && f[2] != 0x59 && f[2] != 0x80))
                    abort();
            }
            size_t len = mep_get_be16(data + pos);
            pos += 2;
            if (len > size - pos)
                len = size - pos;
            host_tls_result r = host_tls_feed(c, len ? data + pos : NULL, len);
            if (r > HOST_TLS_PENDING)
                abort();
            size_t rl = 0;
            host_tls_response(c, &rl);
            if (rl > MEP_MAX_BODY)
                abort();
            pos += len;
        }
        host_tls_free(c);
        sim_tls_free(t);
        return 0;
    }
    while (pos + 2 <= size) {
        size_t len = mep_get_be16(data + pos);
        pos += 2;
        if (len > size - pos)
            len = size - pos;
        size_t n = sim_tls_on_message(t, data + pos, len, out, sizeof out);
        if (len >= 1 && n == 0)
            abort(); /* a TLS-mode message is never answered with silence */
        check_answer(out, n);
        if (sim_tls_rc4_gate(t) == SIM_TLS_RC4_REFUSE) {
            size_t r = sim_tls_rc4_refusal(out, sizeof out);
            check_answer(out, r);
        }
        pos += len;
    }
    sim_tls_free(t);
    return 0;
}

#else /* !MEP_HAVE_MBEDTLS */
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    return 0;
}
#endif
