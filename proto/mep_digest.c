/* mep_digest: MEP guide Appendix A digest (see mep_digest.h).
 *
 * The guide prints the function as an incremental C routine; mep.md 5.2 gives
 * the equivalent closed form used here: each message byte drives one step; a
 * pass is 192 steps (key bytes 0..15 then 0..7 again, bits LSB first); the last
 * pass is padded with zero bytes. Step t of a pass uses key bit (t & 7) of key
 * byte (t >> 3) % 16 and updates accumulator 7 - (t & 7), chained from the
 * accumulator updated just before it.
 */
#include "mep_digest.h"

#define PASS_STEPS 192u

static void step(mep_digest_ctx *c, uint8_t m)
{
    unsigned t = c->pos;
    uint8_t kb = c->key[(t >> 3) % MEP_KEY_LEN];
    unsigned bit = (kb >> (t & 7u)) & 1u;
    unsigned v = 7u - (t & 7u);
    uint8_t n = (uint8_t)~(uint8_t)(c->d[v] + v);
    uint8_t mix = bit ? (uint8_t)((n << 1) | (n >> 7))
                      : (uint8_t)(0u - (uint8_t)((n >> 1) | (n << 7)));
    c->d[v] = (uint8_t)(c->d[(v + 1u) & 7u] + m + mix);
    c->pos = (t + 1u == PASS_STEPS) ? 0u : t + 1u;
}

void mep_digest_init(mep_digest_ctx *ctx, const uint8_t key16[MEP_KEY_LEN])
{
    for (unsigned i = 0; i < MEP_KEY_LEN; i++)
        ctx->key[i] = key16[i];
    for (unsigned i = 0; i < MEP_DIGEST_LEN; i++)
        ctx->d[i] = 0;
    ctx->pos = 0;
    ctx->fed = 0;
}

void mep_digest_update(mep_digest_ctx *ctx, const uint8_t *msg, size_t len)
{
    for (size_t i = 0; i < len; i++)
        step(ctx, msg[i]);
    if (len && ctx->fed < 0xFFFFFFFFu)
        ctx->fed++;
}

void mep_digest_final(mep_digest_ctx *ctx, uint8_t out[MEP_DIGEST_LEN])
{
    /* Pad to the end of the pass; an empty message runs one whole pass. */
    if (ctx->fed == 0 || ctx->pos != 0) {
        do
            step(ctx, 0);
        while (ctx->pos != 0);
    }
    for (unsigned i = 0; i < MEP_DIGEST_LEN; i++)
        out[i] = ctx->d[i];
}

void mep_digest(const uint8_t key16[MEP_KEY_LEN], const uint8_t *msg, size_t len,
                uint8_t out[MEP_DIGEST_LEN])
{
    mep_digest_ctx c;
    mep_digest_init(&c, key16);
    mep_digest_update(&c, msg, len);
    mep_digest_final(&c, out);
}

void mep_digest_pair(const uint8_t key16[MEP_KEY_LEN], const uint8_t *req, size_t req_len,
                     const uint8_t *resp, size_t resp_len, uint8_t out[MEP_DIGEST_LEN])
{
    mep_digest_ctx c;
    mep_digest_init(&c, key16);
    mep_digest_update(&c, req, req_len);
    mep_digest_update(&c, resp, resp_len);
    mep_digest_final(&c, out);
}

int mep_digest_equal(const uint8_t a[MEP_DIGEST_LEN], const uint8_t b[MEP_DIGEST_LEN])
{
    uint8_t diff = 0;
    for (unsigned i = 0; i < MEP_DIGEST_LEN; i++)
        diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}
