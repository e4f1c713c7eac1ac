/* mep_rc4: RC4 stream cipher and the MEP per-packet key (MEP guide Appendix B).
 *
 * Owns: the RC4 state machine and the derivation of the packet key from a
 * 16-byte MEP key and a request digest (docs/mep.md 5.4). Freestanding.
 *
 * One RC4 state covers one exchange: the server decrypts the request body
 * with it and then keeps going with the same state to encrypt its response.
 */
#ifndef MEP_RC4_H
#define MEP_RC4_H

#include <stddef.h>
#include <stdint.h>

#include "mep_digest.h"

typedef struct {
    uint8_t s[256];
    uint8_t i, j;
} mep_rc4;

void mep_rc4_init(mep_rc4 *c, const uint8_t *key, size_t key_len);
/* XOR len bytes of keystream into buf (encrypt and decrypt are the same). */
void mep_rc4_crypt(mep_rc4 *c, uint8_t *buf, size_t len);

/* mep_encrypt_key = RC4(key16) applied to the guide's 16-byte constant. */
void mep_rc4_encrypt_key(const uint8_t key16[MEP_KEY_LEN], uint8_t out[16]);
/* Start the cipher for one exchange: packet key = encrypt key with bytes
 * 0..7 XORed with the request's (plaintext) digest. */
void mep_rc4_packet_init(mep_rc4 *c, const uint8_t key16[MEP_KEY_LEN],
                         const uint8_t digest[MEP_DIGEST_LEN]);
/* The same from a precomputed encrypt key (mep_rc4_encrypt_key depends on
 * the key only, so a meter computes it once per key, not once per frame). */
void mep_rc4_packet_init_ek(mep_rc4 *c, const uint8_t encrypt_key[16],
                            const uint8_t digest[MEP_DIGEST_LEN]);

#endif
