/* mep_tlsbio: mbed TLS's transport over one MEP message (see mep_tlsbio.h). */
#include "mep_tlsbio.h"

#include <string.h>

#include <mbedtls/ssl.h>

void mep_tlsbio_set_in(mep_tlsbio *b, const uint8_t *in, size_t n)
{
    b->in = in;
    b->in_len = n;
    b->in_pos = 0;
}

void mep_tlsbio_set_out(mep_tlsbio *b, uint8_t *out, size_t cap)
{
    b->out = out;
    b->out_cap = cap;
    b->out_len = 0;
}

size_t mep_tlsbio_unread(const mep_tlsbio *b) { return b->in_len - b->in_pos; }

int mep_tlsbio_send(void *ctx, const unsigned char *buf, size_t len)
{
    mep_tlsbio *b = ctx;
    if (len > b->out_cap - b->out_len)
        return MBEDTLS_ERR_SSL_WANT_WRITE; /* the flight would not fit one MEP message */
    memcpy(b->out + b->out_len, buf, len);
    b->out_len += len;
    return (int)len;
}

int mep_tlsbio_recv(void *ctx, unsigned char *buf, size_t len)
{
    mep_tlsbio *b = ctx;
    size_t left = mep_tlsbio_unread(b);
    if (left == 0)
        return MBEDTLS_ERR_SSL_WANT_READ; /* the rest of the flight comes in the next message */
    if (len > left)
        len = left;
    memcpy(buf, b->in + b->in_pos, len);
    b->in_pos += len;
    return (int)len;
}
