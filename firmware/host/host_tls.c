/* host_tls: TLS mode on the MEP port, client side (see host_tls.h).
 *
 * One mbed TLS client context driven through an in-memory BIO: every call
 * of mbedtls_ssl_handshake/write leaves the next client flight in the
 * outgoing MEP frame, and the TLS data of the meter's reply is the input of
 * the next call. mbed TLS public API only.
 */
#include "host_tls.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/ssl.h>

#include "mep_frame.h"

/* mep.md 7.1: the one suite the meter accepts. Constant, not state. */
static const int host_tls_suites[] = {MBEDTLS_TLS_PSK_WITH_AES_256_GCM_SHA384, 0};

/* A handshake is two client flights (mep.md 7.2); allow a little slack. */
#define HOST_TLS_MAX_FLIGHTS 4

struct host_tls {
    host_tls_cfg cfg;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    bool connected;
    /* BIO */
    const uint8_t *in;
    size_t in_len, in_pos;
    uint8_t *out;
    size_t out_cap, out_len;
    uint8_t frame[MEP_MAX_FRAME];
    uint8_t reply[MEP_MAX_FRAME];
    size_t reply_len;
    host_tls_stats stats;
};

const char *host_tls_strerror(host_tls_result r)
{
    switch (r) {
    case HOST_TLS_OK: return "ok";
    case HOST_TLS_ERR_ARG: return "bad argument";
    case HOST_TLS_ERR_TRANSPORT: return "no reply from the meter";
    case HOST_TLS_ERR_REPLY: return "malformed reply from the meter";
    case HOST_TLS_ERR_IDENTITY: return "meter rejected the PSK identity or key (0x03)";
    case HOST_TLS_ERR_TLS: return "TLS error";
    case HOST_TLS_ERR_NO_SESSION: return "meter has no TLS session (0x0A)";
    case HOST_TLS_ERR_NOMEM: return "out of memory";
    }
    return "unknown host_tls result";
}

static void hlog(host_tls *t, const char *fmt, ...)
{
    if (!t->cfg.log)
        return;
    char line[256];
    int n = snprintf(line, sizeof line, "TLS client: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    t->cfg.log(t->cfg.log_ctx, line);
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    host_tls *t = ctx;
    if (len > t->out_cap - t->out_len)
        return MBEDTLS_ERR_SSL_WANT_WRITE; /* would not fit one MEP message */
    memcpy(t->out + t->out_len, buf, len);
    t->out_len += len;
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    host_tls *t = ctx;
    size_t left = t->in_len - t->in_pos;
    if (left == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (len > left)
        len = left;
    memcpy(buf, t->in + t->in_pos, len);
    t->in_pos += len;
    return (int)len;
}

/* Outgoing flight goes to frame[3..]; input is whatever was set by feed(). */
static void out_reset(host_tls *t)
{
    t->out = t->frame + 3;
    t->out_cap = sizeof t->frame - 3;
    t->out_len = 0;
}

static void in_set(host_tls *t, const uint8_t *p, size_t n)
{
    t->in = p;
    t->in_len = n;
    t->in_pos = 0;
}

static host_tls_result tls_fail(host_tls *t, int ret, const char *during)
{
    char ebuf[96];
    mbedtls_strerror(ret, ebuf, sizeof ebuf);
    t->stats.last_mbedtls_error = ret;
    hlog(t, "%s: %s (-0x%04X)", during, ebuf, (unsigned)-ret);
    t->connected = false;
    return HOST_TLS_ERR_TLS;
}

host_tls_result host_tls_new(const host_tls_cfg *cfg, host_tls **out)
{
    if (!cfg || !out || !cfg->exchange)
        return HOST_TLS_ERR_ARG;
    *out = NULL;
    host_tls *t = calloc(1, sizeof *t);
    if (!t)
        return HOST_TLS_ERR_NOMEM;
    t->cfg = *cfg;
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_ssl_init(&t->ssl);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);

    int ret = 0;
    if (!cfg->rng) {
        static const char pers[] = "mepmod host_tls";
        ret = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, (const unsigned char *)pers,
                                    sizeof pers - 1);
    }
    if (ret == 0)
        ret = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret == 0) {
        /* mep.md 7.1: TLS 1.2, one suite, 3-byte identity, 16-byte PSK. */
        uint8_t identity[3];
        mep_put_le16(identity, cfg->client_id);
        identity[2] = cfg->key_id;
        mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
        mbedtls_ssl_conf_max_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
        mbedtls_ssl_conf_ciphersuites(&t->conf, host_tls_suites);
        /* Like the guide's client (mep.md 7.2): no resumption, and none of
         * the optional extensions, which saves ClientHello bytes at 9600 baud. */
        mbedtls_ssl_conf_session_tickets(&t->conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
        mbedtls_ssl_conf_extended_master_secret(&t->conf, MBEDTLS_SSL_EXTENDED_MS_DISABLED);
        mbedtls_ssl_conf_encrypt_then_mac(&t->conf, MBEDTLS_SSL_ETM_DISABLED);
        if (cfg->rng)
            mbedtls_ssl_conf_rng(&t->conf, cfg->rng, cfg->rng_ctx);
        else
            mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
        ret = mbedtls_ssl_conf_psk(&t->conf, cfg->psk, 16, identity, sizeof identity);
    }
    if (ret == 0)
        ret = mbedtls_ssl_setup(&t->ssl, &t->conf);
    if (ret != 0) {
        char ebuf[96];
        mbedtls_strerror(ret, ebuf, sizeof ebuf);
        if (cfg->log) {
            char line[160];
            snprintf(line, sizeof line, "TLS client: setup failed: %s (-0x%04X)", ebuf, (unsigned)-ret);
            cfg->log(cfg->log_ctx, line);
        }
        host_tls_free(t);
        return ret == MBEDTLS_ERR_SSL_ALLOC_FAILED ? HOST_TLS_ERR_NOMEM : HOST_TLS_ERR_TLS;
    }
    mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
    *out = t;
    return HOST_TLS_OK;
}

void host_tls_free(host_tls *t)
{
    if (!t)
        return;
    mbedtls_ssl_free(&t->ssl);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    free(t);
}

/* Send `len code data(out_len)` from t->frame; check the reply's framing.
 * On success the reply is in t->reply and its code in *code. */
static host_tls_result send_frame(host_tls *t, uint8_t req_code, uint8_t *code)
{
    size_t flen = 3 + t->out_len;
    mep_put_be16(t->frame, (uint16_t)(1 + t->out_len));
    t->frame[2] = req_code;
    t->reply_len = 0;
    t->stats.bytes_tx += flen;
    if (t->cfg.exchange(t->cfg.exchange_ctx, t->frame, flen, t->reply, sizeof t->reply, &t->reply_len) != 0) {
        hlog(t, "no reply to code 0x%02X (%zu bytes sent)", req_code, flen);
        t->connected = false; /* the meter's TLS state is unknown now: handshake again */
        return HOST_TLS_ERR_TRANSPORT;
    }
    t->stats.bytes_rx += t->reply_len;
    if (t->reply_len < 3 || t->reply_len > sizeof t->reply || mep_get_be16(t->reply) != t->reply_len - 2) {
        hlog(t, "reply to code 0x%02X is not a MEP frame (%zu bytes)", req_code, t->reply_len);
        t->connected = false;
        return HOST_TLS_ERR_REPLY;
    }
    *code = t->reply[2];
    t->stats.last_meter_code = *code;
    return HOST_TLS_OK;
}

static host_tls_result meter_refusal(host_tls *t, uint8_t code, const char *during)
{
    t->connected = false;
    hlog(t, "%s: meter answered 0x%02X", during, code);
    switch (code) {
    case 0x01: return HOST_TLS_ERR_TLS;
    case 0x03: return HOST_TLS_ERR_IDENTITY;
    case 0x0A: return HOST_TLS_ERR_NO_SESSION;
    default: return HOST_TLS_ERR_REPLY;
    }
}

host_tls_result host_tls_connect(host_tls *t)
{
    if (!t)
        return HOST_TLS_ERR_ARG;
    t->connected = false;
    int ret = mbedtls_ssl_session_reset(&t->ssl);
    if (ret != 0)
        return tls_fail(t, ret, "session reset");
    in_set(t, NULL, 0);
    uint8_t req_code = MEP_TLS_HANDSHAKE;
    for (int flight = 0; flight < HOST_TLS_MAX_FLIGHTS; flight++) {
        out_reset(t);
        ret = mbedtls_ssl_handshake(&t->ssl);
        if (ret == 0) {
            if (t->in_pos != t->in_len) {
                hlog(t, "%zu unexpected bytes after the server Finished", t->in_len - t->in_pos);
                t->stats.handshake_failures++;
                return HOST_TLS_ERR_REPLY;
            }
            t->connected = true;
            t->stats.handshakes++;
            hlog(t, "handshake done (client id %u, key id %u), %s", t->cfg.client_id, t->cfg.key_id,
                 mbedtls_ssl_get_ciphersuite(&t->ssl));
            return HOST_TLS_OK;
        }
        if (ret != MBEDTLS_ERR_SSL_WANT_READ) {
            t->stats.handshake_failures++;
            return tls_fail(t, ret, "handshake");
        }
        if (t->out_len == 0) {
            /* The meter's last flight was incomplete and we have nothing to send. */
            hlog(t, "handshake stalled: meter flight incomplete");
            t->stats.handshake_failures++;
            return HOST_TLS_ERR_REPLY;
        }
        uint8_t code = 0;
        host_tls_result r = send_frame(t, req_code, &code);
        if (r != HOST_TLS_OK) {
            t->stats.handshake_failures++;
            return r;
        }
        if (code != 0x00) {
            t->stats.handshake_failures++;
            return meter_refusal(t, code, req_code == MEP_TLS_HANDSHAKE ? "TLS_HANDSHAKE" : "TLS_HANDSHAKE_CONT");
        }
        in_set(t, t->reply + 3, t->reply_len - 3);
        req_code = MEP_TLS_HANDSHAKE_CONT;
    }
    hlog(t, "handshake did not finish in %d flights", HOST_TLS_MAX_FLIGHTS);
    t->stats.handshake_failures++;
    return HOST_TLS_ERR_REPLY;
}

/* One TLS_TABLE exchange on the current session. */
static host_tls_result table_once(host_tls *t, const uint8_t *req, size_t n, uint8_t *resp, size_t cap,
                                  size_t *resp_len)
{
    out_reset(t);
    in_set(t, NULL, 0);
    int ret = mbedtls_ssl_write(&t->ssl, req, n);
    if (ret != (int)n)
        return tls_fail(t, ret < 0 ? ret : MBEDTLS_ERR_SSL_INTERNAL_ERROR, "encrypting the request");
    uint8_t code = 0;
    host_tls_result r = send_frame(t, MEP_TLS_TABLE, &code);
    if (r != HOST_TLS_OK)
        return r;
    if (code != 0x00)
        return meter_refusal(t, code, "TLS_TABLE");
    in_set(t, t->reply + 3, t->reply_len - 3);
    uint8_t plain[MEP_MAX_BODY];
    size_t got = 0;
    for (;;) {
        if (got == sizeof plain)
            break;
        ret = mbedtls_ssl_read(&t->ssl, plain + got, sizeof plain - got);
        if (ret > 0) {
            got += (size_t)ret;
            continue;
        }
        if (ret == MBEDTLS_ERR_SSL_WANT_READ)
            break;
        return tls_fail(t, ret == 0 ? MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY : ret, "decrypting the response");
    }
    if (got == 0 || t->in_pos != t->in_len) {
        hlog(t, "TLS_TABLE reply carried %zu plaintext bytes and %zu unread bytes", got, t->in_len - t->in_pos);
        t->connected = false;
        return HOST_TLS_ERR_REPLY;
    }
    if (got > cap) {
        hlog(t, "response of %zu bytes does not fit the caller's %zu", got, cap);
        return HOST_TLS_ERR_ARG;
    }
    memcpy(resp, plain, got);
    *resp_len = got;
    t->stats.requests++;
    return HOST_TLS_OK;
}

host_tls_result host_tls_request(host_tls *t, const uint8_t *req, size_t n, uint8_t *resp, size_t cap,
                                 size_t *resp_len)
{
    if (!t || !req || !resp || !resp_len || n == 0 || n > HOST_TLS_MAX_PLAIN)
        return HOST_TLS_ERR_ARG;
    *resp_len = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!t->connected) {
            if (attempt > 0 || t->stats.handshakes > 0)
                t->stats.reconnects++;
            host_tls_result r = host_tls_connect(t);
            if (r != HOST_TLS_OK)
                return r;
        }
        host_tls_result r = table_once(t, req, n, resp, cap, resp_len);
        /* mep.md 7.3: 0x0A means the meter lost the session; handshake again once. */
        if (r == HOST_TLS_ERR_NO_SESSION && attempt == 0)
            continue;
        return r;
    }
    return HOST_TLS_ERR_NO_SESSION;
}

host_tls_result host_tls_terminate(host_tls *t)
{
    if (!t)
        return HOST_TLS_ERR_ARG;
    out_reset(t);
    t->out[0] = 0x00; /* mep.md 3.5: at least one byte, any value */
    t->out_len = 1;
    t->connected = false;
    t->stats.terminates++;
    uint8_t code = 0;
    host_tls_result r = send_frame(t, MEP_TLS_TERMINATE, &code);
    mbedtls_ssl_session_reset(&t->ssl);
    if (r != HOST_TLS_OK)
        return r;
    if (code != 0x00)
        return meter_refusal(t, code, "TLS_TERMINATE");
    hlog(t, "session terminated");
    return HOST_TLS_OK;
}

bool host_tls_connected(const host_tls *t) { return t && t->connected; }

const host_tls_stats *host_tls_get_stats(const host_tls *t) { return &t->stats; }
