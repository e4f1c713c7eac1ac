/* bench_txn: cost of one complete RC4-mode transaction inside the emulator,
 * no I/O: the meter authenticates the request (MAK tried first, then MBK, as
 * docs/mep.md 5.6 requires), checks the sequence window, dispatches the read,
 * renders the table from the model and builds the digested (optionally
 * encrypted) response. The client's side (building the request) is done
 * outside the timed loop.
 *
 * Usage: bench_txn [--count N] [--case NAME]   (prints ns per transaction)
 * Under callgrind, bench/run.sh runs two counts and divides the difference
 * to get instructions per transaction without the setup cost.
 *
 * TLS mode (docs/mep.md 7): the tls-* cases run sim_tls (meter, on a
 * sim_meter through its TLS hooks, as mepsim does) against host_tls (the
 * module's client, mepmod's code) in process. tls-handshake times one full
 * handshake (0x58 + 0x59, both sides); tls-bt23-13 / tls-bt28-full time one
 * TLS_TABLE round trip - client encrypt, meter decrypt + dispatch + encrypt,
 * client decrypt - and print the meter's share separately. `--wire` prints
 * bytes on the wire and 9600-baud wire time of one BT23+BT28 poll in both
 * modes.
 *
 * `--line` runs the same requests through the MEP line core (sim_line:
 * framing, throttle, pacing; what mepsim does per request without I/O);
 * `--describe` also keeps the one-line request description the live display
 * shows (sim_line_keep_recent), which mepsim builds only with -v or
 * --display.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mep_digest.h"
#include "mep_frame.h"
#include "mep_rc4.h"
#include "sim_line.h"
#include "sim_meter.h"
#ifdef MEP_HAVE_MBEDTLS
#include "host_tls.h"
#include "sim_tls.h"
#endif

typedef struct {
    const char *name;
    uint8_t req[16];     /* bare C12.18 request */
    size_t req_len;
    int use_mbk;         /* authenticate with the MBK (MAK tried first, fails) */
    int encrypt;
} bench_case;

static const bench_case CASES[] = {
    {"bt23-13-mbk", {0x3F, 0x00, 0x17, 0x00, 0x00, 0x00, 0x00, 0x0D}, 8, 1, 0},
    {"bt28-full-mbk", {0x30, 0x00, 0x1C, 0x02, 0x00}, 5, 1, 0},
    {"bt23-13-mak", {0x3F, 0x00, 0x17, 0x00, 0x00, 0x00, 0x00, 0x0D}, 8, 0, 0},
    {"bt28-full-mbk-enc", {0x30, 0x00, 0x1C, 0x02, 0x00}, 5, 1, 1},
};

/* Build a request frame: len | body(code..seq) | digest, body encrypted on request. */
static size_t build(const bench_case *c, const uint8_t key[16], uint32_t seq, uint8_t *out)
{
    size_t body = c->req_len + 4;
    mep_put_be16(out, (uint16_t)(body + 8));
    memcpy(out + 2, c->req, c->req_len);
    mep_put_be32(out + 2 + c->req_len, seq);
    uint8_t d[8];
    mep_digest(key, out + 2, body, d);
    if (c->encrypt) {
        mep_rc4 rc;
        mep_rc4_packet_init(&rc, key, d);
        mep_rc4_crypt(&rc, out + 2, body);
    }
    memcpy(out + 2 + body, d, 8);
    return 2 + body + 8;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static sim_meter *bench_meter(sim_profile *prof)
{
    sim_meter_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.profile = prof;
    memcpy(cfg.mbk, prof->mbk, 16);
    memcpy(cfg.mak, prof->mak, 16);
    cfg.has_seq_start = true;
    cfg.seq_start = 1000;
    cfg.seed = 1;
    cfg.speed = 1.0;
    cfg.policy = prof->policy;
    cfg.name = "bench";
    char err[256];
    sim_meter *m = sim_meter_new(&cfg, 0, err, sizeof err);
    if (!m)
        fprintf(stderr, "bench_txn: %s\n", err);
    return m;
}

/* 9600 8N1 = 10 bits a byte; replies > 117 bytes pause 25 ms per segment (docs/mep.md 4). */
static double wire_ms(size_t req_bytes, size_t resp_bytes)
{
    size_t pauses = resp_bytes > 117 ? (resp_bytes - 1) / 117 : 0;
    return (double)(req_bytes + resp_bytes) * 10.0 / 9.6 + 25.0 * (double)pauses;
}

#ifdef MEP_HAVE_MBEDTLS
/* ---- TLS mode: sim_tls on a sim_meter <-> host_tls, in process ---------- */
typedef struct {
    sim_meter *m;
    sim_tls *server;
    uint64_t t_ms;
    uint64_t meter_ns;
    size_t frames, tx, rx, last_rx;
} tls_link;

static size_t hook_message(void *ctx, const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
    return sim_tls_on_message(ctx, body, len, out, cap);
}

static sim_meter_rc4_verdict hook_gate(void *ctx)
{
    return sim_tls_rc4_gate(ctx) == SIM_TLS_RC4_ACCEPT ? SIM_METER_RC4_ACCEPT : SIM_METER_RC4_REFUSE;
}

static int link_exchange(void *ctx, const uint8_t *frame, size_t len, uint8_t *reply, size_t cap, size_t *reply_len)
{
    tls_link *l = ctx;
    l->t_ms += 100; /* one request per 100 ms of meter time */
    uint64_t t0 = now_ns();
    size_t n = sim_meter_on_frame(l->m, frame, len, l->t_ms, reply, cap, NULL, 0);
    l->meter_ns += now_ns() - t0;
    l->frames++;
    l->tx += len;
    l->rx += n;
    l->last_rx = n;
    if (n == 0)
        return -1;
    *reply_len = n;
    return 0;
}

/* Fixed-output rng: the figures must not depend on the entropy source. */
static int bench_rng(void *ctx, unsigned char *out, size_t n)
{
    uint32_t *x = ctx;
    for (size_t i = 0; i < n; i++) {
        *x = *x * 1664525u + 1013904223u;
        out[i] = (uint8_t)(*x >> 24);
    }
    return 0;
}

static int tls_cases(sim_profile *prof, const char *only, long count, int wire)
{
    static const struct {
        const char *name;
        uint8_t req[8];
        size_t len;
    } TC[] = {
        {"tls-handshake", {0}, 0},
        {"tls-bt23-13", {0x3F, 0x00, 0x17, 0x00, 0x00, 0x00, 0x00, 0x0D}, 8},
        {"tls-bt28-full", {0x30, 0x00, 0x1C, 0x02, 0x00}, 5},
    };
    for (size_t ci = 0; ci < sizeof TC / sizeof TC[0]; ci++) {
        if (wire ? ci != 0 : (only && strcmp(only, TC[ci].name)))
            continue;
        tls_link l;
        memset(&l, 0, sizeof l);
        l.m = bench_meter(prof);
        if (!l.m)
            return 1;
        uint32_t srv_seed = 1, cli_seed = 2;
        sim_tls_cfg sc;
        memset(&sc, 0, sizeof sc);
        memcpy(sc.mbk, prof->mbk, 16);
        memcpy(sc.mak, prof->mak, 16);
        sc.tls_required = true;
        sc.dispatch = sim_meter_tls_dispatch;
        sc.dispatch_ctx = l.m;
        sc.rng = bench_rng;
        sc.rng_ctx = &srv_seed;
        char err[256];
        l.server = sim_tls_new(&sc, err, sizeof err);
        if (!l.server) {
            fprintf(stderr, "bench_txn: %s\n", err);
            return 1;
        }
        sim_meter_tls_hooks h = {.on_message = hook_message, .rc4_gate = hook_gate, .ctx = l.server};
        sim_meter_set_tls_hooks(l.m, &h);
        host_tls_cfg hc;
        memset(&hc, 0, sizeof hc);
        hc.client_id = 100;
        hc.key_id = 0;
        memcpy(hc.psk, prof->mbk, 16);
        hc.exchange = link_exchange;
        hc.exchange_ctx = &l;
        hc.rng = bench_rng;
        hc.rng_ctx = &cli_seed;
        host_tls *c = NULL;
        if (host_tls_new(&hc, &c) != HOST_TLS_OK) {
            fprintf(stderr, "bench_txn: host_tls_new failed\n");
            return 1;
        }
        int rc = 0;
        if (wire) {
            /* one BT23(13)+BT28(full) poll in both modes, bytes and 9600-baud time */
            if (host_tls_connect(c) != HOST_TLS_OK)
                rc = 1;
            size_t hs_tx = l.tx, hs_rx = l.rx;
            uint8_t resp[HOST_TLS_MAX_PLAIN];
            size_t rl = 0, tls_tx = 0, tls_rx = 0, rc4_tx = 0, rc4_rx = 0, n_rsp[2] = {0, 0};
            double tls_ms = 0, rc4_ms = 0;
            for (int k = 1; k <= 2 && !rc; k++) {
                const uint8_t *rq = TC[k].req;
                size_t before_tx = l.tx, before_rx = l.rx;
                if (host_tls_request(c, rq, TC[k].len, resp, sizeof resp, &rl) != HOST_TLS_OK || resp[0] != 0) {
                    rc = 1;
                    break;
                }
                n_rsp[k - 1] = rl;
                tls_tx += l.tx - before_tx;
                tls_rx += l.rx - before_rx;
                tls_ms += wire_ms(l.tx - before_tx, l.rx - before_rx);
                /* RC4 (docs/mep.md 3.2, 3.6): len + bare + seq(4) + digest(8) / len + bare + digest(8) */
                size_t q = 2 + TC[k].len + 12, a = 2 + rl + 8;
                rc4_tx += q;
                rc4_rx += a;
                rc4_ms += wire_ms(q, a);
            }
            if (rc) {
                fprintf(stderr, "bench_txn: TLS poll failed\n");
            } else {
                /* both server flights are < 117 bytes: no segment pauses */
                printf("TLS handshake: %zu bytes module->meter + %zu meter->module in 2 exchanges = %.0f ms at 9600 8N1\n",
                       hs_tx, hs_rx, (double)(hs_tx + hs_rx) * 10.0 / 9.6);
                printf("one BT23(13 B)+BT28(%zu B) poll: RC4 %zu+%zu = %zu bytes, %.0f ms; TLS %zu+%zu = %zu bytes, %.0f ms "
                       "(+%zu bytes, +%.0f ms) at 9600 8N1 incl. 25 ms segment pauses\n",
                       n_rsp[1] > 3 ? n_rsp[1] - 3 : 0, rc4_tx, rc4_rx, rc4_tx + rc4_rx, rc4_ms, tls_tx, tls_rx,
                       tls_tx + tls_rx, tls_ms, tls_tx + tls_rx - rc4_tx - rc4_rx, tls_ms - rc4_ms);
            }
        } else if (TC[ci].len == 0) {
            long hs = count > 200 ? 200 : count; /* a handshake costs ~40 transactions */
            uint64_t t0 = now_ns();
            for (long k = 0; k < hs && !rc; k++)
                rc = host_tls_connect(c) != HOST_TLS_OK;
            uint64_t ns = now_ns() - t0;
            if (!rc)
                printf("%-20s %8.0f ns/handshake  (meter side %.0f ns; %zu+%zu bytes on the wire; %ld handshakes)\n",
                       TC[ci].name, (double)ns / (double)hs, (double)l.meter_ns / (double)hs,
                       l.tx / (size_t)hs, l.rx / (size_t)hs, hs);
        } else {
            uint8_t resp[HOST_TLS_MAX_PLAIN];
            size_t rl = 0;
            rc = host_tls_connect(c) != HOST_TLS_OK;
            l.meter_ns = 0;
            size_t tx0 = l.tx, rx0 = l.rx;
            uint64_t t0 = now_ns();
            for (long k = 0; k < count && !rc; k++)
                rc = host_tls_request(c, TC[ci].req, TC[ci].len, resp, sizeof resp, &rl) != HOST_TLS_OK ||
                     resp[0] != MEP_RSP_OK;
            uint64_t ns = now_ns() - t0;
            if (!rc)
                printf("%-20s %8.0f ns/transaction round trip (meter side %.0f ns)  request %zu / response %zu bytes "
                       "(%ld transactions)\n",
                       TC[ci].name, (double)ns / (double)count, (double)l.meter_ns / (double)count,
                       (l.tx - tx0) / (size_t)count, (l.rx - rx0) / (size_t)count, count);
        }
        if (rc)
            fprintf(stderr, "bench_txn: %s failed\n", TC[ci].name);
        host_tls_free(c);
        sim_meter_set_tls_hooks(l.m, NULL);
        sim_tls_free(l.server);
        sim_meter_free(l.m);
        if (rc)
            return 1;
    }
    return 0;
}
#endif

/* The floor of one authenticated MBK read on the meter side: three digest
 * passes (docs/mep.md 5.6: the request checked with the MAK and then the
 * MBK, the reply's digest), each a single 192-step pass for a short body.
 * bench/run.sh counts this function's instructions beside a transaction's. */
__attribute__((noinline)) static void floor_three_passes(const uint8_t key[16], const uint8_t body[12],
                                                         uint8_t out[8])
{
    uint8_t d[8];
    mep_digest(key, body, 12, d);
    mep_digest(key, body, 12, out);
    mep_digest_pair(key, body, 12, d, 8, out);
}

int main(int argc, char **argv)
{
    long count = 200000;
    const char *only = NULL;
    int wire = 0, use_line = 0, describe = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--count") && i + 1 < argc)
            count = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--case") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--wire"))
            wire = 1;
        else if (!strcmp(argv[i], "--line"))
            use_line = 1;
        else if (!strcmp(argv[i], "--describe"))
            use_line = describe = 1;
        else if (!strcmp(argv[i], "--floor"))
            wire = 2;
        else {
            fprintf(stderr, "usage: %s [--count N] [--case NAME] [--wire] [--line [--describe]] [--floor]\n",
                    argv[0]);
            return 2;
        }
    }
    if (count < 1) {
        fprintf(stderr, "bench_txn: --count must be >= 1\n");
        return 2;
    }

    if (wire == 2) { /* --floor: the three passes alone, for callgrind */
        uint8_t key[16] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, body[12] = {0x3F, 0, 0x17}, out[8];
        for (long k = 0; k < count; k++) {
            body[11] = (uint8_t)k;
            floor_three_passes(key, body, out);
        }
        printf("floor: %ld x three digest passes (last %02X)\n", count, out[0]);
        return 0;
    }
    sim_profile prof;
    sim_profile_default(&prof);
    for (size_t ci = 0; ci < sizeof CASES / sizeof CASES[0] && !wire; ci++) {
        const bench_case *c = &CASES[ci];
        if (only && strcmp(only, c->name))
            continue;
        sim_meter_cfg cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.profile = &prof;
        memcpy(cfg.mbk, prof.mbk, 16);
        memcpy(cfg.mak, prof.mak, 16);
        cfg.has_seq_start = true;
        cfg.seq_start = 1000;
        cfg.seed = 1;
        cfg.speed = 1.0;
        cfg.policy = prof.policy;
        cfg.name = "bench";
        char err[256];
        sim_meter *m = sim_meter_new(&cfg, 0, err, sizeof err);
        if (!m) {
            fprintf(stderr, "bench_txn: %s\n", err);
            return 1;
        }
        const uint8_t *key = c->use_mbk ? cfg.mbk : cfg.mak;
        /* Pre-build every request so the loop times the meter only. */
        enum { RING = 1024 };
        static uint8_t frames[RING][64];
        static size_t lens[RING];
        uint8_t out[MEP_MAX_FRAME];
        uint64_t t_ms = 1000, total_ns = 0;
        size_t resp_len = 0;
        sim_line line;
        sim_line_init(&line, m, 9600, 10);
        sim_line_keep_recent(&line, describe);
        uint64_t t_us = 1000000u;
        for (long done = 0; done < count;) {
            long batch = count - done < RING ? count - done : RING;
            for (long k = 0; k < batch; k++)
                lens[k] = build(c, key, (uint32_t)(1000 + done + k), frames[k]);
            uint64_t t0 = now_ns();
            for (long k = 0; k < batch && !use_line; k++) {
                t_ms += 100; /* one request per 100 ms of meter time */
                resp_len = sim_meter_on_frame(m, frames[k], lens[k], t_ms, out, sizeof out, NULL, 0);
            }
            for (long k = 0; k < batch && use_line; k++) {
                t_us += 200000u; /* past the 100 ms throttle and the reply's wire time */
                sim_line_rx(&line, frames[k], lens[k], t_us);
                /* the meter's turnaround (reply_delay_ms + jitter, 30-40 ms by
                 * default) first, then the reply's wire time */
                resp_len = sim_line_poll(&line, t_us, out, sizeof out);
                resp_len += sim_line_poll(&line, t_us + 100000u, out + resp_len, sizeof out - resp_len);
                resp_len += sim_line_poll(&line, t_us + 150000u, out + resp_len, sizeof out - resp_len);
            }
            total_ns += now_ns() - t0;
            done += batch;
        }
        /* An encrypted reply's code byte is ciphertext: check its length only. */
        if (resp_len < 3 || (!c->encrypt && out[2] != MEP_RSP_OK) || (c->encrypt && resp_len < 19)) {
            fprintf(stderr, "bench_txn: %s: unexpected response (len %zu code 0x%02X)\n", c->name,
                    resp_len, resp_len > 2 ? out[2] : 0);
            return 1;
        }
        printf("%-20s %8.0f ns/transaction  response %zu bytes  (%ld transactions%s)\n", c->name,
               (double)total_ns / (double)count, resp_len, count,
               use_line ? (describe ? ", line core + description" : ", line core") : "");
        sim_meter_free(m);
    }
#ifdef MEP_HAVE_MBEDTLS
    /* TLS cases: fewer by default (a handshake costs ~1000 transactions) */
    long tls_count = count > 20000 ? 20000 : count;
    if (tls_cases(&prof, only, tls_count, wire) != 0) {
        sim_profile_free(&prof);
        return 1;
    }
#endif
    sim_profile_free(&prof);
    return 0;
}
