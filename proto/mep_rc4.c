/* mep_rc4: RC4 and the MEP packet key (see mep_rc4.h; MEP guide Appendix B). */
#include "mep_rc4.h"

/* Appendix B constant, encrypted with the MEP key to give the encrypt key. */
static const uint8_t MEP_CONST_KEY[16] = {0x38, 0x8B, 0x8F, 0xBC, 0x36, 0xA8, 0x55, 0x85,
                                          0x87, 0xAF, 0xC9, 0x0F, 0xB2, 0x3A, 0x3B, 0x99};

void mep_rc4_init(mep_rc4 *c, const uint8_t *key, size_t key_len)
{
    for (unsigned k = 0; k < 256; k++)
        c->s[k] = (uint8_t)k;
    uint8_t j = 0;
    for (unsigned k = 0; k < 256; k++) {
        j = (uint8_t)(j + c->s[k] + key[k % key_len]);
        uint8_t t = c->s[k];
        c->s[k] = c->s[j];
        c->s[j] = t;
    }
    c->i = 0;
    c->j = 0;
}

void mep_rc4_crypt(mep_rc4 *c, uint8_t *buf, size_t len)
{
    uint8_t i = c->i, j = c->j;
    for (size_t n = 0; n < len; n++) {
        i = (uint8_t)(i + 1);
        j = (uint8_t)(j + c->s[i]);
        uint8_t t = c->s[i];
        c->s[i] = c->s[j];
        c->s[j] = t;
        buf[n] ^= c->s[(uint8_t)(c->s[i] + c->s[j])];
    }
    c->i = i;
    c->j = j;
}

void mep_rc4_encrypt_key(const uint8_t key16[MEP_KEY_LEN], uint8_t out[16])
{
    mep_rc4 c;
    mep_rc4_init(&c, key16, MEP_KEY_LEN);
    for (unsigned k = 0; k < 16; k++)
        out[k] = MEP_CONST_KEY[k];
    mep_rc4_crypt(&c, out, 16);
}

void mep_rc4_packet_init_ek(mep_rc4 *c, const uint8_t encrypt_key[16],
                            const uint8_t digest[MEP_DIGEST_LEN])
{
    uint8_t pk[16];
    for (unsigned k = 0; k < 16; k++)
        pk[k] = encrypt_key[k];
    for (unsigned k = 0; k < MEP_DIGEST_LEN; k++)
        pk[k] ^= digest[k];
    mep_rc4_init(c, pk, sizeof pk);
}

void mep_rc4_packet_init(mep_rc4 *c, const uint8_t key16[MEP_KEY_LEN],
                         const uint8_t digest[MEP_DIGEST_LEN])
{
    uint8_t ek[16];
    mep_rc4_encrypt_key(key16, ek);
    mep_rc4_packet_init_ek(c, ek, digest);
}
