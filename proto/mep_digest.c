/* mep_digest: MEP guide Appendix A digest (see mep_digest.h).
 *
 * The guide prints the function as an incremental C routine; docs/mep.md 5.2 gives
 * the equivalent closed form used here: each message byte drives one step; a
 * pass is 192 steps (key bytes 0..15 then 0..7 again, bits LSB first); the last
 * pass is padded with zero bytes. Step t of a pass uses key bit (t & 7) of key
 * byte (t >> 3) % 16 and updates accumulator 7 - (t & 7), chained from the
 * accumulator updated just before it.
 */
#include "mep_digest.h"

#include <stdbool.h>

#define PASS_STEPS 192u

/* The accumulators d[0..7] are kept as the bytes of one 64-bit word,
 * reversed: lane L (byte L, L = 7 - v) holds d[v]. Step k of a key byte
 * (key bit k, message byte k) updates d[7 - k], i.e. lane k, so a key
 * byte's eight steps walk the lanes upwards; see key_byte(). */
#define LANES_LO 0x7F7F7F7F7F7F7F7Full
#define LANES_HI 0x8080808080808080ull
#define LANES_01 0x0101010101010101ull
#define SLOTS_LO 0x00FF00FF00FF00FFull   /* even lanes as 16-bit slots */
#define SLOTS_01 0x0001000100010001ull

/* Byte-wise add: no carry from one lane into the next. */
static inline uint64_t lanes_add(uint64_t a, uint64_t b)
{
    return ((a & LANES_LO) + (b & LANES_LO)) ^ ((a ^ b) & LANES_HI);
}

static inline uint8_t acc(uint64_t l, unsigned v) { return (uint8_t)(l >> (8u * (7u - v))); }

static inline uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
           ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) |
           ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

/* Eight steps = one key byte, starting on a key-byte boundary. Every step
 * goes through here: a message is fed eight bytes at a time (a shorter
 * tail waits in ctx->buf, and the final zero padding completes it), so no
 * byte takes a slower one-step path (bench/bench_txn).
 *
 * One step mixes accumulator v = 7 - (t & 7) from the previous result,
 * message byte m and key bit (t & 7) of key byte (t >> 3) % 16: rotl1(n) if
 * the bit is 1, else -rotr1(n), with n = ~(d[v] + v); d[v] = d[v+1 mod 8] +
 * m + mix (docs/mep.md 5.2).
 *
 * Within a key byte each accumulator is updated once and its
 * n = ~(d[v] + v) uses d[v]'s value from before this key byte, so the eight
 * mixes x_k = m_k + mix_k are computed at once in the lanes. The chain
 *   lane 0' = d0 + x_0, lane 1' = lane 0' + x_1, ..., lane 7' = lane 6' + x_7
 * (d0 = the old d[0] = old lane 7) is an upward prefix sum mod 256, done on
 * even and odd lanes separately in 16-bit slots, where one multiply sums
 * without overflow. */
static inline uint64_t mix8(uint64_t d, unsigned kb, uint64_t m)
{
    uint64_t n = ~lanes_add(d, 0x0001020304050607ull);         /* ~(d[v] + v) */
    uint64_t rl = ((n << 1) & ~LANES_01) | ((n >> 7) & LANES_01);
    uint64_t rr = ((n >> 1) & LANES_LO) | ((n << 7) & LANES_HI);
    rr = lanes_add(~rr, LANES_01);                              /* -rotr1(n) */
    /* lane k takes key bit k: 0xFF where set */
    uint64_t bits = ((uint64_t)kb * LANES_01) & 0x8040201008040201ull;
    uint64_t sel = ((((bits + LANES_LO) & LANES_HI) >> 7) * 0xFFu);
    uint64_t mix = rr ^ ((rl ^ rr) & sel);
    /* x_k = m_k + mix_k, split into even lanes (e) and odd lanes (o) */
    uint64_t e = (mix & SLOTS_LO) + (m & SLOTS_LO) + (d >> 56);
    uint64_t o = ((mix >> 8) & SLOTS_LO) + ((m >> 8) & SLOTS_LO);
    e *= SLOTS_01;                       /* slot s: d0 + x_0 + x_2 + ... + x_2s */
    o *= SLOTS_01;                       /* slot s: x_1 + x_3 + ... + x_2s+1 */
    uint64_t even = (e + (o << 16)) & SLOTS_LO;     /* lane 2s   */
    uint64_t odd = (e + o) & SLOTS_LO;              /* lane 2s+1 */
    return even | (odd << 8);
}

/* Key bytes of a pass: 0..15 then 0..7 again. */
static inline unsigned pass_key(const mep_digest_ctx *c, unsigned pos)
{
    return c->key[(pos >> 3) & (MEP_KEY_LEN - 1u)];
}

/* Mix n whole key bytes of message (msg, 8 * n bytes) into the state, in
 * local variables so the chain stays in registers. */
static void key_bytes(mep_digest_ctx *c, const uint8_t *msg, size_t n)
{
    uint64_t d = c->lanes;
    unsigned pos = c->pos;
    for (size_t k = 0; k < n; k++, msg += 8) {
        d = mix8(d, pass_key(c, pos), load_le64(msg));
        pos = (pos + 8u == PASS_STEPS) ? 0u : pos + 8u;
    }
    c->lanes = d;
    c->pos = pos;
}

/* The zero padding: whole key bytes of zeros up to the end of the pass
 * (a whole pass when at its start and force is set). */
static void pad_pass(mep_digest_ctx *c, bool force)
{
    if (c->pos == 0 && !force)
        return;
    uint64_t d = c->lanes;
    unsigned pos = c->pos;
    do {
        d = mix8(d, pass_key(c, pos), 0);
        pos += 8u;
    } while (pos != PASS_STEPS);
    c->lanes = d;
    c->pos = 0;
}

void mep_digest_init(mep_digest_ctx *ctx, const uint8_t key16[MEP_KEY_LEN])
{
    for (unsigned i = 0; i < MEP_KEY_LEN; i++)
        ctx->key[i] = key16[i];
    ctx->lanes = 0;
    ctx->pos = 0;
    ctx->fed = 0;
    ctx->nbuf = 0;
}

void mep_digest_update(mep_digest_ctx *ctx, const uint8_t *msg, size_t len)
{
    size_t i = 0;
    /* complete a key byte left over from the previous update */
    while (ctx->nbuf && i < len) {
        ctx->buf[ctx->nbuf++ & 7u] = msg[i++];
        if (ctx->nbuf == 8u) {
            key_bytes(ctx, ctx->buf, 1);
            ctx->nbuf = 0;
        }
    }
    key_bytes(ctx, msg + i, (len - i) / 8u);
    i += (len - i) & ~(size_t)7u;
    while (i < len)
        ctx->buf[ctx->nbuf++ & 7u] = msg[i++];
    if (len && ctx->fed < 0xFFFFFFFFu)
        ctx->fed++;
}

void mep_digest_final(mep_digest_ctx *ctx, uint8_t out[MEP_DIGEST_LEN])
{
    /* Pad with zeros to the end of the pass (zero steps are steps with
     * message byte 0); an empty message still runs one whole pass
     * (docs/mep.md 5.2). */
    if (ctx->nbuf) {
        while (ctx->nbuf < 8u)
            ctx->buf[ctx->nbuf++ & 7u] = 0;
        key_bytes(ctx, ctx->buf, 1);
        ctx->nbuf = 0;
    }
    pad_pass(ctx, ctx->fed == 0);
    for (unsigned i = 0; i < MEP_DIGEST_LEN; i++)
        out[i] = acc(ctx->lanes, i);
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
