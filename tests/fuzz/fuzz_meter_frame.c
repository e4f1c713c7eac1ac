/* libFuzzer target: frame parsing and dispatch through sim_meter_on_frame.
 *
 * Each input is used twice on one fresh meter (fixtures/meters/guide-example.json):
 *  1. as one raw frame exactly as received (E is set from the bytes where a
 *     request's sequence number would be, so a valid frame such as the
 *     guide's vectors in corpus/meter_frame/ gets past the window);
 *  2. then, with E moved just before the uint32 wrap (the meter otherwise as
 *     the raw frame left it; one meter per input, as building a meter costs
 *     more than the frames), as a script of up to 16 requests, each chunk
 *     `mode(1) n(1) body(n)`
 *     (body = C12.18 code .. data) sealed by the harness with a valid
 *     sequence number and digest, so the fuzzer reaches the dispatch, the
 *     procedures and the transactions, not only the authentication check.
 *     mode bit0: MBK instead of MAK; bit1: RC4-encrypt; bit2: corrupt one
 *     digest byte; bits 4-7: sequence offset from E (0..15, so the window
 *     edges and replays are exercised); time advances between chunks and
 *     the meter's tick/on_sent/alert paths run.
 * Invariants checked: a response is never larger than MEP_MAX_FRAME, its
 * length field matches, and every reply to a sealed request other than
 * 0x0B carries a digest valid with the request's key.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mep_digest.h"
#include "mep_frame.h"
#include "mep_rc4.h"
#include "sim_meter.h"
#include "sim_profile.h"

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "fixtures"
#endif

static const uint8_t MAK[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const uint8_t MBK[16] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};

static sim_meter *fresh(const sim_profile *p, uint32_t e)
{
    sim_meter_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.profile = p;
    memcpy(cfg.mak, MAK, 16);
    memcpy(cfg.mbk, MBK, 16);
    cfg.has_seq_start = true;
    cfg.seq_start = e;
    cfg.seed = 1;
    cfg.speed = 1.0;
    cfg.start_utc_ms = 1704067200000LL;
    cfg.policy = p->policy;
    cfg.name = "fuzz";
    char err[256];
    sim_meter *m = sim_meter_new(&cfg, 1000, err, sizeof err);
    if (!m)
        abort();
    return m;
}

static void check_reply(const uint8_t *out, size_t n)
{
    if (n > MEP_MAX_FRAME)
        abort();
    if (n && (n < 3 || mep_get_be16(out) != n - 2))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The profile is read-only after loading: loaded once per process. */
    static sim_profile prof;
    static int loaded;
    if (!loaded) {
        char err[256];
        const char *dir = getenv("FIXTURES_DIR");
        char path[512];
        snprintf(path, sizeof path, "%s/meters/guide-example.json", dir ? dir : FIXTURES_DIR);
        if (sim_profile_load(&prof, path, err, sizeof err) != 0)
            abort();
        loaded = 1;
    }
    uint8_t out[MEP_MAX_FRAME];
    char log[512];

    /* 1. raw frame */
    uint32_t e = size >= 14 ? mep_get_be32(data + size - 12) : 0x77635B90u;
    sim_meter *m = fresh(&prof, e);
    size_t n = sim_meter_on_frame(m, data, size, 2000, out, sizeof out, log, sizeof log);
    check_reply(out, n);

    /* 2. script of sealed requests */
    sim_meter_set_next_seq(m, 0xFFFFFFF8u); /* near the wrap */
    uint64_t now = 2000;
    size_t pos = 0;
    for (int k = 0; k < 16 && pos + 2 <= size; k++) {
        uint8_t mode = data[pos], len = data[pos + 1];
        pos += 2;
        if (len > size - pos)
            len = (uint8_t)(size - pos);
        if ((size_t)len + 12 > MEP_MAX_BODY)
            break;
        const uint8_t *key = (mode & 1) ? MBK : MAK;
        uint8_t f[MEP_MAX_FRAME];
        memcpy(f + 2, data + pos, len);
        pos += len;
        mep_put_be32(f + 2 + len, sim_meter_next_seq(m) + (mode >> 4));
        uint8_t d[8];
        mep_digest(key, f + 2, (size_t)len + 4, d);
        uint8_t plain[MEP_MAX_BODY];
        memcpy(plain, f + 2, (size_t)len + 4);
        mep_rc4 c;
        if (mode & 2) {
            mep_rc4_packet_init(&c, key, d);
            mep_rc4_crypt(&c, f + 2, (size_t)len + 4);
        }
        memcpy(f + 6 + len, d, 8);
        if (mode & 4)
            f[6 + len + (mode >> 5)] ^= 0x5A;
        mep_put_be16(f, (uint16_t)(len + 12));
        now += 120;
        n = sim_meter_on_frame(m, f, (size_t)len + 14, now, out, sizeof out, log, sizeof log);
        check_reply(out, n);
        if (n > 11 && !(mode & 4) && out[2] != MEP_RSP_AUTH) {
            uint8_t body[MEP_MAX_BODY], want[8];
            memcpy(body, out + 2, n - 10);
            if (mode & 2)
                mep_rc4_crypt(&c, body, n - 10);
            mep_digest_pair(key, plain, (size_t)len + 4, body, n - 10, want);
            if (memcmp(want, out + n - 8, 8) != 0)
                abort();
        }
        sim_meter_on_sent(m, now + 30);
        (void)sim_meter_alert_pending(m);
        now += (mode & 8) ? 20000 : 50;
        sim_meter_tick(m, now);
    }
    sim_meter_free(m);
    return 0;
}
