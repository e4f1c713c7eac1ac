/* mep_tlsbio: mbed TLS's transport over one MEP message at a time.
 *
 * Owns: the in-memory BIO both ends of TLS mode hand to mbedtls_ssl_set_bio
 * (the meter in simulator/mep/sim_tls.c, the module in
 * firmware/host/host_tls.c). A TLS flight travels in the data of one MEP
 * message (docs/mep.md 3.5, 7.2): the input is the TLS bytes of the message
 * just received, the output the room for the answer. Reading past the input
 * says "want read" (the rest of the flight comes in the next message);
 * writing more than the room says "want write" (the flight would not fit one
 * message), so mbed TLS never blocks and never splits a flight silently.
 *
 * Not freestanding (mbed TLS's error codes, memcpy): part of the mbed TLS
 * target (simulator/tls.cmake), not of mepproto.
 */
#ifndef MEP_TLSBIO_H
#define MEP_TLSBIO_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *in;  /* TLS bytes of the message being read, or NULL */
    size_t in_len, in_pos;
    uint8_t *out;       /* room for the answer's TLS bytes, or NULL */
    size_t out_cap, out_len;
} mep_tlsbio;

/* New input (in may be NULL when n is 0); nothing of it read yet. */
void mep_tlsbio_set_in(mep_tlsbio *b, const uint8_t *in, size_t n);
/* New output room (out may be NULL when cap is 0); nothing written yet. */
void mep_tlsbio_set_out(mep_tlsbio *b, uint8_t *out, size_t cap);
/* Input bytes mbed TLS has not read. */
size_t mep_tlsbio_unread(const mep_tlsbio *b);

/* mbedtls_ssl_send_t / mbedtls_ssl_recv_t with ctx = the mep_tlsbio. */
int mep_tlsbio_send(void *ctx, const unsigned char *buf, size_t len);
int mep_tlsbio_recv(void *ctx, unsigned char *buf, size_t len);

#endif
