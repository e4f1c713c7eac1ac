/* bench_txn: cost of one complete RC4-mode transaction inside the emulator,
 * no I/O: the meter authenticates the request (MAK tried first, then MBK, as
 * mep.md 5.6 requires), checks the sequence window, dispatches the read,
 * renders the table from the model and builds the digested (optionally
 * encrypted) response. The client's side (building the request) is done
 * outside the timed loop.
 *
 * Usage: bench_txn [--count N] [--case NAME]   (prints ns per transaction)
 * Under callgrind, bench/run.sh runs two counts and divides the difference
 * to get instructions per transaction without the setup cost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mep_digest.h"
#include "mep_frame.h"
#include "mep_rc4.h"
#include "sim_meter.h"

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

int main(int argc, char **argv)
{
    long count = 200000;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--count") && i + 1 < argc)
            count = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--case") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--count N] [--case NAME]\n", argv[0]);
            return 2;
        }
    }
    if (count < 1) {
        fprintf(stderr, "bench_txn: --count must be >= 1\n");
        return 2;
    }

    sim_profile prof;
    sim_profile_default(&prof);
    for (size_t ci = 0; ci < sizeof CASES / sizeof CASES[0]; ci++) {
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
        for (long done = 0; done < count;) {
            long batch = count - done < RING ? count - done : RING;
            for (long k = 0; k < batch; k++)
                lens[k] = build(c, key, (uint32_t)(1000 + done + k), frames[k]);
            uint64_t t0 = now_ns();
            for (long k = 0; k < batch; k++) {
                t_ms += 100; /* one request per 100 ms of meter time */
                resp_len = sim_meter_on_frame(m, frames[k], lens[k], t_ms, out, sizeof out, NULL, 0);
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
        printf("%-20s %8.0f ns/transaction  response %zu bytes  (%ld transactions)\n", c->name,
               (double)total_ns / (double)count, resp_len, count);
        sim_meter_free(m);
    }
    sim_profile_free(&prof);
    return 0;
}
