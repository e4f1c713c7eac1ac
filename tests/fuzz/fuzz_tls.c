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
 * Reused between inputs (building them is most of the cost: mbed TLS
 * config, context and record buffers). Two servers (TLS not required /
 * required) and one client are created on the first input that needs them
 * and reset at the end of every input that used them to the state a fresh
 * one has (and checked idle at the start of the next):
 *  - a server gets TLS_TERMINATE (`57 00`), which ends any handshake or
 *    session through mbedtls_ssl_session_reset (the same reset a 0x58 does)
 *    and clears its state, identity and level; only its counters keep
 *    counting, and nothing the server answers depends on them;
 *  - the client gets mbedtls_ssl_session_reset (what host_tls_new's
 *    mbedtls_ssl_setup leaves: no session, no handshake, zeroed record
 *    buffers) and every host_tls field after the mbed TLS contexts zeroed,
 *    as calloc left them;
 *  - both random generators restart from their fixed seeds.
 * So an input runs the same way alone as in a run, and a crash reproduces.
 *
 * Needs simulator/tls.cmake (mbed TLS + MEP_HAVE_MBEDTLS on mepsim_core);
 * without it the target builds as an empty fuzzer.
 */
#ifdef MEP_HAVE_MBEDTLS
#include <stddef.h>
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

/* Seeds of the two generators; each input starts them afresh. */
#define SRV_SEED 0x9E3779B97F4A7C15ull
#define CLI_SEED 0xD1B54A32D192ED03ull

static fuzz_rng srv_rng, cli_rng;
static fuzz_link link_to_server;

/* The server for `required` (0 or 1), created on first use. */
static sim_tls *server(int required)
{
    static sim_tls *srv[2];
    if (!srv[required]) {
        sim_tls_cfg cfg;
        memset(&cfg, 0, sizeof cfg);
        memset(cfg.mak, 0x01, 16);
        memset(cfg.mbk, 0x02, 16);
        cfg.dispatch = fuzz_dispatch;
        cfg.rng = fuzz_rand;
        cfg.rng_ctx = &srv_rng;
        cfg.tls_required = required != 0;
        char err[128];
        if (!(srv[required] = sim_tls_new(&cfg, err, sizeof err)))
            abort();
    }
    if (sim_tls_get_state(srv[required]) != SIM_TLS_IDLE)
        abort(); /* the last input did not leave it reset */
    return srv[required];
}

/* TLS_TERMINATE: no handshake, no session (mbedtls_ssl_session_reset). */
static void server_reset(sim_tls *t)
{
    static const uint8_t terminate[] = {0x57, 0x00};
    uint8_t out[MEP_MAX_FRAME];
    size_t n = sim_tls_on_message(t, terminate, sizeof terminate, out, sizeof out);
    if (n != 3 || out[2] != 0x00 || sim_tls_get_state(t) != SIM_TLS_IDLE)
        abort();
}

/* The client talking to `srv`, created on first use. */
static host_tls *client(sim_tls *srv)
{
    static host_tls *c;
    link_to_server.server = srv;
    if (!c) {
        host_tls_cfg hc;
        memset(&hc, 0, sizeof hc);
        hc.client_id = 100;
        hc.key_id = 1;
        memset(hc.psk, 0x01, 16);
        hc.exchange = fuzz_exchange;
        hc.exchange_ctx = &link_to_server;
        hc.rng = fuzz_rand;
        hc.rng_ctx = &cli_rng;
        if (host_tls_new(&hc, &c) != HOST_TLS_OK)
            abort();
    }
    return c;
}

/* What host_tls_new leaves after its configuration and mbed TLS contexts:
 * all zero. A field added before `connected` must be reset here too. */
_Static_assert(offsetof(host_tls, conf) > offsetof(host_tls, cfg) &&
                   offsetof(host_tls, ssl) > offsetof(host_tls, conf) &&
                   offsetof(host_tls, entropy) > offsetof(host_tls, ssl) &&
                   offsetof(host_tls, drbg) > offsetof(host_tls, entropy) &&
                   offsetof(host_tls, connected) == offsetof(host_tls, drbg) + sizeof(mbedtls_ctr_drbg_context),
               "client_reset zeroes the fields after the mbed TLS contexts");

static void client_reset(host_tls *c)
{
    if (mbedtls_ssl_session_reset(&c->ssl) != 0)
        abort();
    memset((char *)c + offsetof(host_tls, connected), 0, sizeof *c - offsetof(host_tls, connected));
}

/* Bit 2: meter replies from the input into the client's step API. */
static void client_side(host_tls *c, const uint8_t *data, size_t size)
{
    static const uint8_t rd[] = {0x3F, 0x00, 0x17, 0x00, 0x00, 0x00, 0x00, 0x0D};
    size_t pos = 1;
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
}

/* Otherwise: the input's messages into the server. */
static void server_side(sim_tls *t, const uint8_t *data, size_t size)
{
    uint8_t out[MEP_MAX_FRAME];
    size_t pos = 1;
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    srv_rng.s = SRV_SEED;
    cli_rng.s = CLI_SEED;
    sim_tls *t = server((mode & 2) != 0);
    host_tls *c = NULL;
    if (mode & 1) {
        c = client(t);
        if (host_tls_connect(c) != HOST_TLS_OK)
            abort();
    }
    if (mode & 4) {
        if (c)
            client_reset(c); /* a second client, as fresh as the first */
        else
            c = client(t);
        if ((mode & 1) && host_tls_connect(c) != HOST_TLS_OK)
            abort();
        client_side(c, data, size);
    } else {
        server_side(t, data, size);
    }
    /* Leave what this input used as a fresh one is: the next input starts
     * from the same state, and what this input allocated is released (the
     * fuzzer's per-input leak check sees as many frees as mallocs). */
    server_reset(t);
    if (c)
        client_reset(c);
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
