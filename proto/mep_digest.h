/* mep_digest: the MEP authentication digest of the MEP guide, Appendix A.
 *
 * Owns: the keyed 8-byte mixing function that authenticates every RC4-mode
 * request and response (docs/mep.md 5.2, 5.3). Freestanding: no allocation, no I/O;
 * shared by the emulator (simulator/) and the module firmware (firmware/core).
 *
 * The function is incremental so a response digest can be computed as
 * "request body, then response body" (docs/mep.md 5.3) without concatenating
 * buffers: init, update(request), update(response), final.
 */
#ifndef MEP_DIGEST_H
#define MEP_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define MEP_KEY_LEN 16    /* only the first 16 key bytes are ever used (docs/mep.md 5.1) */
#define MEP_DIGEST_LEN 8

/* Digest state: the 8 accumulators and the step position inside the
 * current 192-step pass (24 key bytes x 8 bits). The accumulators live in
 * one 64-bit word, byte v = accumulator v (see mep_digest.c for why).
 * Message bytes are taken eight at a time (one key byte's steps at once);
 * up to 7 wait in buf until the next update or the final zero padding. */
typedef struct {
    uint8_t key[MEP_KEY_LEN];
    uint64_t lanes;
    uint32_t pos;       /* step inside the current pass, a multiple of 8, 0..184 */
    uint32_t fed;       /* bytes fed so far (saturating; only "zero or not" matters) */
    uint8_t buf[8];     /* message bytes of a key byte not yet mixed */
    uint32_t nbuf;      /* 0..7 */
} mep_digest_ctx;

/* Start a digest with the first 16 bytes of the MAK or MBK. */
void mep_digest_init(mep_digest_ctx *ctx, const uint8_t key16[MEP_KEY_LEN]);
/* Feed message bytes. May be called any number of times. */
void mep_digest_update(mep_digest_ctx *ctx, const uint8_t *msg, size_t len);
/* Pad the current pass with zero steps and write the 8 digest bytes
 * (out[0] is sent first). An empty message still runs one full pass. */
void mep_digest_final(mep_digest_ctx *ctx, uint8_t out[MEP_DIGEST_LEN]);

/* One-shot: digest of msg[0..len). */
void mep_digest(const uint8_t key16[MEP_KEY_LEN], const uint8_t *msg, size_t len,
                uint8_t out[MEP_DIGEST_LEN]);

/* Response digest (docs/mep.md 5.3): digest of request body (code..seq) followed
 * by response body (code..last data byte), both plaintext. */
void mep_digest_pair(const uint8_t key16[MEP_KEY_LEN], const uint8_t *req, size_t req_len,
                     const uint8_t *resp, size_t resp_len, uint8_t out[MEP_DIGEST_LEN]);

/* Constant-time comparison of two digests: 1 if equal. */
int mep_digest_equal(const uint8_t a[MEP_DIGEST_LEN], const uint8_t b[MEP_DIGEST_LEN]);

#endif
