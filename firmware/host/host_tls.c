/* host_tls: TLS mode on the MEP port, client side (see host_tls.h).
 *
 * One mbed TLS client context driven through an in-memory BIO: every call
 * of mbedtls_ssl_handshake/write leaves the next client flight in the
 * outgoing MEP frame, and the TLS data of the meter's reply is the input of
 * the next call. mbed TLS public API only. The step API is the state
 * machine (one pending frame, ht_phase says what it is); the blocking
 * helpers loop it through cfg.exchange.
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
#include "mep_tlsbio.h"

/* docs/mep.md 7.1: the one suite the meter accepts. Constant, not state. */
static const int host_tls_suites[] = {MBEDTLS_TLS_PSK_WITH_AES_256_GCM_SHA384, 0};

/* A handshake is two client flights (docs/mep.md 7.2); allow a little slack. */
#define HOST_TLS_MAX_FLIGHTS 4

/* What the pending frame is (step API). */
typedef enum {
    HT_IDLE = 0,      /* nothing in flight */
    HT_HANDSHAKE,     /* 0x58 / 0x59 sent, waiting for the server flight */
    HT_TABLE,         /* 0x80 sent */
    HT_TERMINATE,     /* 0x57 sent */
} ht_phase;

struct host_tls {
    host_tls_cfg cfg;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    bool connected;
    mep_tlsbio bio;                /* in: the meter's flight; out: frame[3..] */
    uint8_t frame[MEP_MAX_FRAME];
    size_t frame_len;              /* 0: no frame pending */
    uint8_t reply[MEP_MAX_FRAME];
    size_t reply_len;
    host_tls_stats stats;
    /* step API */
    ht_phase phase;
    uint8_t req_code;              /* code of the next handshake flight */
    int flights;
    bool want_table;               /* the handshake serves a request */
    bool rehandshaken;             /* this request already re-handshook after 0x0A */
    uint8_t req[HOST_TLS_MAX_PLAIN];
    size_t req_len;
    uint8_t resp[MEP_MAX_BODY];
    size_t resp_len;
    uint8_t xbuf[MEP_MAX_FRAME];   /* blocking helpers: the exchange's reply */
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
    case HOST_TLS_PENDING: return "exchange in progress";
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

/* Outgoing flight goes to frame[3..] (after `len code`). */
static void out_reset(host_tls *t) { mep_tlsbio_set_out(&t->bio, t->frame + 3, sizeof t->frame - 3); }

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
    if (!cfg || !out)
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
        /* docs/mep.md 7.1: TLS 1.2, one suite, 3-byte identity, 16-byte PSK. */
        uint8_t identity[3];
        mep_put_le16(identity, cfg->client_id);
        identity[2] = cfg->key_id;
        mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
        mbedtls_ssl_conf_max_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
        mbedtls_ssl_conf_ciphersuites(&t->conf, host_tls_suites);
        /* Like the guide's client (docs/mep.md 7.2): no resumption, and none of
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
    mbedtls_ssl_set_bio(&t->ssl, &t->bio, mep_tlsbio_send, mep_tlsbio_recv, NULL);
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

/* ---- step API: one pending MEP frame at a time ---------------------------- */

/* The client flight in t->bio.out becomes the pending frame `len code data`. */
static void frame_set(host_tls *t, uint8_t code)
{
    mep_put_be16(t->frame, (uint16_t)(1 + t->bio.out_len));
    t->frame[2] = code;
    t->frame_len = 3 + t->bio.out_len;
    t->stats.bytes_tx += t->frame_len;
}

/* The exchange ended (result r): nothing pending any more. */
static host_tls_result finish(host_tls *t, host_tls_result r)
{
    t->phase = HT_IDLE;
    t->frame_len = 0;
    return r;
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

static host_tls_result hs_fail(host_tls *t, host_tls_result r)
{
    t->stats.handshake_failures++;
    t->connected = false;
    return finish(t, r);
}

static host_tls_result table_begin(host_tls *t);

/* Run the handshake on whatever server flight is in the input. */
static host_tls_result hs_step(host_tls *t)
{
    out_reset(t);
    int ret = mbedtls_ssl_handshake(&t->ssl);
    if (ret == 0) {
        if (mep_tlsbio_unread(&t->bio) != 0) {
            hlog(t, "%zu unexpected bytes after the server Finished", mep_tlsbio_unread(&t->bio));
            return hs_fail(t, HOST_TLS_ERR_REPLY);
        }
        t->connected = true;
        t->stats.handshakes++;
        hlog(t, "handshake done (client id %u, key id %u), %s", t->cfg.client_id, t->cfg.key_id,
             mbedtls_ssl_get_ciphersuite(&t->ssl));
        if (t->want_table)
            return table_begin(t);
        return finish(t, HOST_TLS_OK);
    }
    if (ret != MBEDTLS_ERR_SSL_WANT_READ) {
        tls_fail(t, ret, "handshake");
        return hs_fail(t, HOST_TLS_ERR_TLS);
    }
    if (t->bio.out_len == 0) {
        /* The meter's last flight was incomplete and we have nothing to send. */
        hlog(t, "handshake stalled: meter flight incomplete");
        return hs_fail(t, HOST_TLS_ERR_REPLY);
    }
    if (++t->flights > HOST_TLS_MAX_FLIGHTS) {
        hlog(t, "handshake did not finish in %d flights", HOST_TLS_MAX_FLIGHTS);
        return hs_fail(t, HOST_TLS_ERR_REPLY);
    }
    frame_set(t, t->req_code);
    t->req_code = MEP_TLS_HANDSHAKE_CONT;
    t->phase = HT_HANDSHAKE;
    return HOST_TLS_PENDING;
}

/* docs/mep.md 7.2: a fresh handshake; 0x58 resets anything the meter had. */
static host_tls_result hs_begin(host_tls *t)
{
    t->connected = false;
    int ret = mbedtls_ssl_session_reset(&t->ssl);
    if (ret != 0) {
        tls_fail(t, ret, "session reset");
        return finish(t, HOST_TLS_ERR_TLS);
    }
    mep_tlsbio_set_in(&t->bio, NULL, 0);
    t->flights = 0;
    t->req_code = MEP_TLS_HANDSHAKE;
    return hs_step(t);
}

/* Encrypt the pending request into one TLS_TABLE message. */
static host_tls_result table_begin(host_tls *t)
{
    out_reset(t);
    mep_tlsbio_set_in(&t->bio, NULL, 0);
    int ret = mbedtls_ssl_write(&t->ssl, t->req, t->req_len);
    if (ret != (int)t->req_len) {
        tls_fail(t, ret < 0 ? ret : MBEDTLS_ERR_SSL_INTERNAL_ERROR, "encrypting the request");
        return finish(t, HOST_TLS_ERR_TLS);
    }
    frame_set(t, MEP_TLS_TABLE);
    t->phase = HT_TABLE;
    return HOST_TLS_PENDING;
}

/* The meter's answer to a TLS_TABLE: one application_data record. */
static host_tls_result table_reply(host_tls *t)
{
    mep_tlsbio_set_in(&t->bio, t->reply + 3, t->reply_len - 3);
    size_t got = 0;
    for (;;) {
        if (got == sizeof t->resp)
            break;
        int ret = mbedtls_ssl_read(&t->ssl, t->resp + got, sizeof t->resp - got);
        if (ret > 0) {
            got += (size_t)ret;
            continue;
        }
        if (ret == MBEDTLS_ERR_SSL_WANT_READ)
            break;
        tls_fail(t, ret == 0 ? MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY : ret, "decrypting the response");
        return finish(t, HOST_TLS_ERR_TLS);
    }
    if (got == 0 || mep_tlsbio_unread(&t->bio) != 0) {
        hlog(t, "TLS_TABLE reply carried %zu plaintext bytes and %zu unread bytes", got, mep_tlsbio_unread(&t->bio));
        t->connected = false;
        return finish(t, HOST_TLS_ERR_REPLY);
    }
    t->resp_len = got;
    t->stats.requests++;
    return finish(t, HOST_TLS_OK);
}

void host_tls_abort(host_tls *t)
{
    if (!t || t->phase == HT_IDLE)
        return;
    if (t->phase == HT_TABLE || t->phase == HT_HANDSHAKE) {
        /* the meter may or may not have taken the record: our sequence
         * numbers may be out of step with its, so start afresh */
        hlog(t, "exchange abandoned (code 0x%02X pending)", t->frame[2]);
        t->connected = false;
        if (t->phase == HT_HANDSHAKE)
            t->stats.handshake_failures++;
    }
    finish(t, HOST_TLS_ERR_TRANSPORT);
}

host_tls_result host_tls_start_connect(host_tls *t)
{
    if (!t)
        return HOST_TLS_ERR_ARG;
    host_tls_abort(t);
    t->want_table = false;
    return hs_begin(t);
}

host_tls_result host_tls_start_request(host_tls *t, const uint8_t *req, size_t n)
{
    if (!t || !req || n == 0 || n > HOST_TLS_MAX_PLAIN)
        return HOST_TLS_ERR_ARG;
    host_tls_abort(t);
    memcpy(t->req, req, n);
    t->req_len = n;
    t->resp_len = 0;
    t->want_table = true;
    t->rehandshaken = false;
    if (t->connected)
        return table_begin(t);
    if (t->stats.handshakes > 0)
        t->stats.reconnects++;
    return hs_begin(t);
}

host_tls_result host_tls_start_terminate(host_tls *t)
{
    if (!t)
        return HOST_TLS_ERR_ARG;
    host_tls_abort(t);
    out_reset(t);
    t->bio.out[0] = 0x00; /* docs/mep.md 3.5: at least one byte, any value */
    t->bio.out_len = 1;
    t->connected = false;
    t->stats.terminates++;
    frame_set(t, MEP_TLS_TERMINATE);
    t->phase = HT_TERMINATE;
    return HOST_TLS_PENDING;
}

const uint8_t *host_tls_frame(const host_tls *t, size_t *len)
{
    if (!t || t->phase == HT_IDLE || t->frame_len == 0) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = t->frame_len;
    return t->frame;
}

host_tls_result host_tls_feed(host_tls *t, const uint8_t *reply, size_t len)
{
    if (!t || t->phase == HT_IDLE)
        return HOST_TLS_ERR_ARG;
    ht_phase ph = t->phase;
    uint8_t req_code = t->frame[2];
    if (!reply) {
        hlog(t, "no reply to code 0x%02X (%zu bytes sent)", req_code, t->frame_len);
        if (ph == HT_TERMINATE) {
            mbedtls_ssl_session_reset(&t->ssl);
            return finish(t, HOST_TLS_ERR_TRANSPORT);
        }
        t->connected = false; /* the meter's TLS state is unknown now: handshake again */
        return ph == HT_HANDSHAKE ? hs_fail(t, HOST_TLS_ERR_TRANSPORT) : finish(t, HOST_TLS_ERR_TRANSPORT);
    }
    t->stats.bytes_rx += len;
    if (len < 3 || len > sizeof t->reply || mep_get_be16(reply) != len - 2) {
        hlog(t, "reply to code 0x%02X is not a MEP frame (%zu bytes)", req_code, len);
        t->connected = false;
        if (ph == HT_TERMINATE)
            mbedtls_ssl_session_reset(&t->ssl);
        return ph == HT_HANDSHAKE ? hs_fail(t, HOST_TLS_ERR_REPLY) : finish(t, HOST_TLS_ERR_REPLY);
    }
    memmove(t->reply, reply, len);
    t->reply_len = len;
    uint8_t code = t->reply[2];
    t->stats.last_meter_code = code;
    t->frame_len = 0;
    switch (ph) {
    case HT_HANDSHAKE:
        if (code != 0x00) {
            host_tls_result r = meter_refusal(t, code, req_code == MEP_TLS_HANDSHAKE ? "TLS_HANDSHAKE"
                                                                                     : "TLS_HANDSHAKE_CONT");
            return hs_fail(t, r);
        }
        mep_tlsbio_set_in(&t->bio, t->reply + 3, t->reply_len - 3);
        return hs_step(t);
    case HT_TABLE:
        if (code == 0x0A && !t->rehandshaken) {
            /* docs/mep.md 7.3: the meter lost the session (restart, 0x58 from
             * elsewhere, fault): handshake again once and resend */
            meter_refusal(t, code, "TLS_TABLE");
            t->rehandshaken = true;
            t->stats.reconnects++;
            return hs_begin(t);
        }
        if (code != 0x00)
            return finish(t, meter_refusal(t, code, "TLS_TABLE"));
        return table_reply(t);
    case HT_TERMINATE:
        mbedtls_ssl_session_reset(&t->ssl);
        if (code != 0x00)
            return finish(t, meter_refusal(t, code, "TLS_TERMINATE"));
        hlog(t, "session terminated");
        return finish(t, HOST_TLS_OK);
    case HT_IDLE:
        break;
    }
    return finish(t, HOST_TLS_ERR_ARG);
}

const uint8_t *host_tls_response(const host_tls *t, size_t *len)
{
    if (len)
        *len = t ? t->resp_len : 0;
    return t ? t->resp : NULL;
}

bool host_tls_busy(const host_tls *t) { return t && t->phase != HT_IDLE; }

/* ---- blocking helpers: the step API through cfg.exchange ------------------ */

static host_tls_result drive(host_tls *t, host_tls_result r)
{
    while (r == HOST_TLS_PENDING) {
        size_t rl = 0;
        if (t->cfg.exchange(t->cfg.exchange_ctx, t->frame, t->frame_len, t->xbuf, sizeof t->xbuf, &rl) != 0)
            r = host_tls_feed(t, NULL, 0);
        else
            r = host_tls_feed(t, t->xbuf, rl > sizeof t->xbuf ? sizeof t->xbuf + 1 : rl);
    }
    return r;
}

host_tls_result host_tls_connect(host_tls *t)
{
    if (!t || !t->cfg.exchange)
        return HOST_TLS_ERR_ARG;
    return drive(t, host_tls_start_connect(t));
}

host_tls_result host_tls_request(host_tls *t, const uint8_t *req, size_t n, uint8_t *resp, size_t cap,
                                 size_t *resp_len)
{
    if (!t || !t->cfg.exchange || !req || !resp || !resp_len || n == 0 || n > HOST_TLS_MAX_PLAIN)
        return HOST_TLS_ERR_ARG;
    *resp_len = 0;
    host_tls_result r = drive(t, host_tls_start_request(t, req, n));
    if (r != HOST_TLS_OK)
        return r;
    if (t->resp_len > cap) {
        hlog(t, "response of %zu bytes does not fit the caller's %zu", t->resp_len, cap);
        return HOST_TLS_ERR_ARG;
    }
    memcpy(resp, t->resp, t->resp_len);
    *resp_len = t->resp_len;
    return HOST_TLS_OK;
}

host_tls_result host_tls_terminate(host_tls *t)
{
    if (!t || !t->cfg.exchange)
        return HOST_TLS_ERR_ARG;
    return drive(t, host_tls_start_terminate(t));
}

bool host_tls_connected(const host_tls *t) { return t && t->connected; }

const host_tls_stats *host_tls_get_stats(const host_tls *t) { return &t->stats; }
