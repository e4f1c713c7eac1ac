/* sim_tls: the meter side of TLS mode on one MEP port (docs/mep.md 3.5, 7).
 *
 * One mbed TLS server context per port, driven through an in-memory BIO:
 * the TLS data of one MEP message is the BIO's input, the server's answer
 * records are collected into the response frame after the response code.
 * mbed TLS is used only through its public API (config, PSK callback,
 * set_bio, handshake/read/write, session_reset). See sim_tls.h.
 */
#include "sim_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/ssl.h>

#include "mep_frame.h"
#include "mep_tlsbio.h"
#include "sim_text.h"

/* TLS record layer (RFC 5246 6.2): type(1) version(2) length(2). */
#define TLS_REC_HDR 5u
#define TLS_CT_CCS 20
#define TLS_CT_APPDATA 23

/* docs/mep.md 7.1: TLS_PSK_WITH_AES_256_GCM_SHA384 only. Constant, not state. */
static const int tls_suites[] = {MBEDTLS_TLS_PSK_WITH_AES_256_GCM_SHA384, 0};

struct sim_tls {
    sim_tls_cfg cfg;
    char name[48];
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    bool own_rng;
    sim_tls_state state;
    /* BIO: input is the current message's TLS data, output the answer. */
    mep_tlsbio bio;
    /* What the PSK callback decided in the current handshake. */
    bool identity_ok;
    uint16_t client_id;
    sim_level level;
    sim_tls_counters ctr;
};

/* "<meter> TLS: ..." into the port's log (store/sim_text.h). */
#define tls_log(t, ...) sim_text_logf((t)->cfg.log, (t)->cfg.log_ctx, (t)->name, "TLS", __VA_ARGS__)

static const char *tls_errtext(int ret, char *buf, size_t cap)
{
    mbedtls_strerror(ret, buf, cap);
    return buf;
}

/* ---- BIO over the current message (proto/mep_tlsbio.h) -------------------- */
static void bio_load(sim_tls *t, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap)
{
    mep_tlsbio_set_in(&t->bio, in, in_len);
    mep_tlsbio_set_out(&t->bio, out, out_cap);
}

static void bio_unload(sim_tls *t) { bio_load(t, NULL, 0, NULL, 0); }

/* docs/mep.md 7.2 [I]: one MEP message carries whole records. Checked before
 * mbed TLS sees anything, so a torn message changes no state. */
static bool whole_records(const uint8_t *p, size_t n)
{
    if (n < TLS_REC_HDR)
        return false;
    size_t pos = 0;
    while (pos < n) {
        if (n - pos < TLS_REC_HDR)
            return false;
        uint8_t type = p[pos];
        if (type < TLS_CT_CCS || type > TLS_CT_APPDATA)
            return false;
        size_t rl = mep_get_be16(p + pos + 3);
        if (rl > n - pos - TLS_REC_HDR)
            return false;
        pos += TLS_REC_HDR + rl;
    }
    return true;
}

/* ---- PSK identity (docs/mep.md 7.1) ------------------------------------------- */
static int psk_cb(void *ctx, mbedtls_ssl_context *ssl, const unsigned char *id, size_t n)
{
    sim_tls *t = ctx;
    if (n != 3) {
        tls_log(t, "PSK identity is %zu bytes, want 3 (client id LSB-first + key id)", n);
        return -1;
    }
    uint16_t client = mep_get_le16(id);
    const uint8_t *key;
    sim_level level;
    if (id[2] == 0) {
        key = t->cfg.mbk;
        level = SIM_LEVEL_MBK;
    } else if (id[2] == 1) {
        key = t->cfg.mak;
        level = SIM_LEVEL_MAK;
    } else {
        tls_log(t, "PSK identity client %u key id %u: key id must be 0 (MBK) or 1 (MAK)", client, id[2]);
        return -1;
    }
    if (mbedtls_ssl_set_hs_psk(ssl, key, 16) != 0)
        return -1;
    t->identity_ok = true;
    t->client_id = client;
    t->level = level;
    tls_log(t, "PSK identity client %u key id %u (%s)", client, id[2], sim_level_name(level));
    return 0;
}

/* ---- lifecycle ----------------------------------------------------------- */
struct sim_tls_rng {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
};

sim_tls_rng *sim_tls_rng_new(char *err, size_t errlen)
{
    sim_tls_rng *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "sim_tls: out of memory");
        return NULL;
    }
    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    static const char pers[] = "mepsim shared";
    int ret = mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy, (const unsigned char *)pers,
                                    sizeof pers - 1);
    if (ret != 0) {
        char ebuf[96];
        mbedtls_strerror(ret, ebuf, sizeof ebuf);
        snprintf(err, errlen, "sim_tls: seeding the shared random generator: %s", ebuf);
        sim_tls_rng_free(r);
        return NULL;
    }
    return r;
}

void sim_tls_rng_free(sim_tls_rng *r)
{
    if (!r)
        return;
    mbedtls_ctr_drbg_free(&r->drbg);
    mbedtls_entropy_free(&r->entropy);
    free(r);
}

int sim_tls_rng_random(void *rng, unsigned char *out, size_t n)
{
    return mbedtls_ctr_drbg_random(&((sim_tls_rng *)rng)->drbg, out, n);
}

sim_tls *sim_tls_new(const sim_tls_cfg *cfg, char *err, size_t errlen)
{
    if (!cfg || !cfg->dispatch) {
        snprintf(err, errlen, "sim_tls: a dispatch callback is required");
        return NULL;
    }
    sim_tls *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "sim_tls: out of memory");
        return NULL;
    }
    t->cfg = *cfg;
    t->cfg.name = NULL;
    snprintf(t->name, sizeof t->name, "%s", cfg->name ? cfg->name : "mep");
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_ssl_init(&t->ssl);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);

    char ebuf[96];
    int ret = 0;
    const char *what = "";
    if (!cfg->rng) {
        static const char pers[] = "mepsim sim_tls";
        t->own_rng = true;
        ret = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                                    (const unsigned char *)pers, sizeof pers - 1);
        what = "seeding the random generator";
    }
    if (ret == 0) {
        ret = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT);
        what = "mbedtls_ssl_config_defaults";
    }
    if (ret == 0) {
        /* docs/mep.md 7.1: TLS 1.2 only, one suite, PSK by identity, no
         * resumption (no cache and no ticket callbacks are installed). */
        mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
        mbedtls_ssl_conf_max_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
        mbedtls_ssl_conf_ciphersuites(&t->conf, tls_suites);
        mbedtls_ssl_conf_psk_cb(&t->conf, psk_cb, t);
        if (t->own_rng)
            mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
        else
            mbedtls_ssl_conf_rng(&t->conf, cfg->rng, cfg->rng_ctx);
        ret = mbedtls_ssl_setup(&t->ssl, &t->conf);
        what = "mbedtls_ssl_setup";
    }
    if (ret != 0) {
        snprintf(err, errlen, "sim_tls: %s failed: %s (-0x%04X)", what, tls_errtext(ret, ebuf, sizeof ebuf),
                 (unsigned)-ret);
        sim_tls_free(t);
        return NULL;
    }
    mbedtls_ssl_set_bio(&t->ssl, &t->bio, mep_tlsbio_send, mep_tlsbio_recv, NULL);
    return t;
}

void sim_tls_free(sim_tls *t)
{
    if (!t)
        return;
    mbedtls_ssl_free(&t->ssl);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    free(t);
}

/* Discard any handshake or session (0x58, 0x57, errors). */
static void tls_reset(sim_tls *t)
{
    mbedtls_ssl_session_reset(&t->ssl);
    t->state = SIM_TLS_IDLE;
    t->identity_ok = false;
    t->client_id = 0;
    t->level = SIM_LEVEL_NONE;
}

/* ---- responses ----------------------------------------------------------- */
/* Frame `len(2) code data...`: data (if any) is already at out + 3. */
static size_t frame_finish(uint8_t *out, uint8_t code, size_t data_len)
{
    mep_put_be16(out, (uint16_t)(1u + data_len));
    out[2] = code;
    return 3u + data_len;
}

static size_t answer_code(sim_tls *t, uint8_t *out, size_t cap, uint8_t code)
{
    if (cap < 3)
        return 0;
    if (code == SIM_TLS_RSP_TLS_ERROR)
        t->ctr.errors++;
    else if (code == SIM_TLS_RSP_NO_SESSION)
        t->ctr.no_session++;
    return frame_finish(out, code, 0);
}

/* A failed handshake or record: log, count, drop the session, and pick the
 * MEP code (docs/mep.md 3.5, 7.3). mbed TLS reports an unknown identity as
 * UNKNOWN_IDENTITY; a wrong key (right identity, wrong PSK) shows up as the
 * client Finished failing to authenticate (INVALID_MAC) or mismatching
 * (BAD_HS_FINISHED). Both are "invalid identity or key" = 0x03. */
static size_t fail(sim_tls *t, int ret, const char *during, uint8_t *out, size_t cap)
{
    char ebuf[96];
    bool in_handshake = t->state == SIM_TLS_HANDSHAKING;
    uint8_t code = SIM_TLS_RSP_TLS_ERROR;
    if (in_handshake &&
        (ret == MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY ||
         (t->identity_ok && (ret == MBEDTLS_ERR_SSL_INVALID_MAC || ret == MBEDTLS_ERR_SSL_BAD_HS_FINISHED))))
        code = SIM_TLS_RSP_BAD_IDENTITY;
    t->ctr.last_mbedtls_error = ret;
    if (in_handshake)
        t->ctr.handshake_failures++;
    if (code == SIM_TLS_RSP_BAD_IDENTITY)
        t->ctr.identity_rejects++;
    tls_log(t, "%s failed: %s (-0x%04X) -> 0x%02X, session dropped", during, tls_errtext(ret, ebuf, sizeof ebuf),
            (unsigned)-ret, code);
    tls_reset(t);
    return answer_code(t, out, cap, code);
}

/* Run the handshake over one client flight; answer 0x00 + server flight. */
static size_t handshake_flight(sim_tls *t, const uint8_t *data, size_t n, uint8_t *out, size_t cap)
{
    bio_load(t, data, n, out + 3, cap - 3);
    int ret = mbedtls_ssl_handshake(&t->ssl);
    size_t leftover = mep_tlsbio_unread(&t->bio);
    size_t flight = t->bio.out_len;
    bio_unload(t);
    if (ret == 0) {
        if (leftover) {
            /* Records after the client Finished: not a handshake flight. */
            tls_log(t, "%zu bytes after the client Finished", leftover);
            return fail(t, MBEDTLS_ERR_SSL_BAD_INPUT_DATA, "handshake", out, cap);
        }
        t->state = SIM_TLS_ESTABLISHED;
        t->ctr.handshakes_ok++;
        tls_log(t, "handshake done: client %u, %s, %s", t->client_id, sim_level_name(t->level),
                mbedtls_ssl_get_ciphersuite(&t->ssl));
    } else if (ret != MBEDTLS_ERR_SSL_WANT_READ) {
        return fail(t, ret, "handshake", out, cap);
    }
    return frame_finish(out, SIM_TLS_RSP_OK, flight);
}

static size_t on_handshake(sim_tls *t, const uint8_t *data, size_t n, uint8_t *out, size_t cap)
{
    if (!whole_records(data, n)) {
        tls_log(t, "TLS_HANDSHAKE with %zu bytes that are not whole TLS records: 0x01, nothing changed", n);
        return answer_code(t, out, cap, SIM_TLS_RSP_TLS_ERROR);
    }
    /* docs/mep.md 3.5, 7.3: 0x58 discards any handshake or session in progress. */
    if (t->state != SIM_TLS_IDLE)
        tls_log(t, "TLS_HANDSHAKE while %s: old session discarded",
                t->state == SIM_TLS_ESTABLISHED ? "established" : "handshaking");
    tls_reset(t);
    t->state = SIM_TLS_HANDSHAKING;
    t->ctr.handshakes_started++;
    return handshake_flight(t, data, n, out, cap);
}

/* docs/mep.md 7.3: a message carrying TLS records needs the session in
 * state `need` (else 0x0A) and whole records (else 0x01; `kept` says what
 * stays). True if refused, with the answer's length in *len. */
static bool refuse_records(sim_tls *t, sim_tls_state need, const char *msg, const char *missing, const char *kept,
                           const uint8_t *data, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    if (t->state != need) {
        tls_log(t, "%s %s: 0x0A", msg, missing);
        *len = answer_code(t, out, cap, SIM_TLS_RSP_NO_SESSION);
        return true;
    }
    if (!whole_records(data, n)) {
        tls_log(t, "%s with %zu bytes that are not whole TLS records: 0x01, %s", msg, n, kept);
        *len = answer_code(t, out, cap, SIM_TLS_RSP_TLS_ERROR);
        return true;
    }
    return false;
}

static size_t on_handshake_cont(sim_tls *t, const uint8_t *data, size_t n, uint8_t *out, size_t cap)
{
    /* [E] no handshake to continue (or renegotiation, which the meter does
     * not do): same answer as TLS_TABLE without a session. */
    size_t len;
    if (refuse_records(t, SIM_TLS_HANDSHAKING, "TLS_HANDSHAKE_CONT", "without a handshake in progress",
                       "nothing changed", data, n, out, cap, &len))
        return len;
    return handshake_flight(t, data, n, out, cap);
}

static size_t on_table(sim_tls *t, const uint8_t *data, size_t n, uint8_t *out, size_t cap)
{
    size_t len;
    if (refuse_records(t, SIM_TLS_ESTABLISHED, "TLS_TABLE", "without a session", "session kept", data, n, out, cap,
                       &len))
        return len;
    uint8_t req[MEP_MAX_BODY];
    size_t got = 0;
    bio_load(t, data, n, out + 3, cap - 3);
    for (;;) {
        if (got == sizeof req) {
            bio_unload(t);
            return fail(t, MBEDTLS_ERR_SSL_BAD_INPUT_DATA, "TLS_TABLE (request too large)", out, cap);
        }
        int ret = mbedtls_ssl_read(&t->ssl, req + got, sizeof req - got);
        if (ret > 0) {
            got += (size_t)ret;
            continue;
        }
        if (ret == MBEDTLS_ERR_SSL_WANT_READ)
            break;
        bio_unload(t);
        if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            tls_log(t, "client sent close_notify in TLS_TABLE: session ended");
            tls_reset(t);
            return answer_code(t, out, cap, SIM_TLS_RSP_TLS_ERROR);
        }
        return fail(t, ret, "TLS_TABLE record", out, cap);
    }
    if (got == 0) {
        bio_unload(t);
        tls_log(t, "TLS_TABLE carried no application data: 0x01, session kept");
        return answer_code(t, out, cap, SIM_TLS_RSP_TLS_ERROR);
    }
    t->ctr.tables++;
    uint8_t resp[SIM_TLS_MAX_PLAIN];
    int rl = t->cfg.dispatch(t->cfg.dispatch_ctx, t->level, req, got, resp, sizeof resp);
    if (rl <= 0 || (size_t)rl > sizeof resp) {
        bio_unload(t);
        tls_log(t, "dispatch returned %d for a %zu-byte request: 0x01, session kept", rl, got);
        return answer_code(t, out, cap, SIM_TLS_RSP_TLS_ERROR);
    }
    int ret = mbedtls_ssl_write(&t->ssl, resp, (size_t)rl);
    size_t rec = t->bio.out_len;
    bio_unload(t);
    if (ret != rl)
        return fail(t, ret < 0 ? ret : MBEDTLS_ERR_SSL_INTERNAL_ERROR, "TLS_TABLE response", out, cap);
    char tn[8];
    tls_log(t, "TLS_TABLE %zu-byte request 0x%02X %s (%s) -> 0x%02X, %d bytes", got, req[0],
            got >= 3 ? mep_table_name(mep_get_be16(req + 1), tn) : "-", sim_level_name(t->level), resp[0], rl);
    return frame_finish(out, SIM_TLS_RSP_OK, rec);
}

static size_t on_terminate(sim_tls *t, size_t n, uint8_t *out, size_t cap)
{
    if (n < 1) {
        /* docs/mep.md 3.5: TLS_TERMINATE carries at least 1 byte. */
        tls_log(t, "TLS_TERMINATE without its data byte: 0x01, nothing changed");
        return answer_code(t, out, cap, SIM_TLS_RSP_TLS_ERROR);
    }
    t->ctr.terminates++;
    tls_log(t, "TLS_TERMINATE (%s): session ended", t->state == SIM_TLS_ESTABLISHED ? "established"
                                                  : t->state == SIM_TLS_HANDSHAKING ? "handshaking"
                                                                                    : "no session");
    tls_reset(t);
    return answer_code(t, out, cap, SIM_TLS_RSP_OK); /* docs/mep.md 15.27 [E]: `00 01 00` */
}

bool sim_tls_is_tls_code(uint8_t code)
{
    return code == MEP_TLS_TERMINATE || code == MEP_TLS_HANDSHAKE || code == MEP_TLS_HANDSHAKE_CONT ||
           code == MEP_TLS_TABLE;
}

size_t sim_tls_on_message(sim_tls *t, const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
    if (!t || !out || cap < MEP_MAX_FRAME)
        return 0;
    if (!body || len < 1 || len > MEP_MAX_BODY) {
        tls_log(t, "TLS message with body length %zu: 0x01", len);
        return answer_code(t, out, cap, SIM_TLS_RSP_TLS_ERROR);
    }
    /* Never let a response exceed the MEP limit (docs/mep.md 3.1). */
    cap = MEP_MAX_FRAME;
    const uint8_t *data = body + 1;
    size_t n = len - 1;
    switch (body[0]) {
    case MEP_TLS_HANDSHAKE:
        return on_handshake(t, data, n, out, cap);
    case MEP_TLS_HANDSHAKE_CONT:
        return on_handshake_cont(t, data, n, out, cap);
    case MEP_TLS_TABLE:
        return on_table(t, data, n, out, cap);
    case MEP_TLS_TERMINATE:
        return on_terminate(t, n, out, cap);
    default:
        tls_log(t, "code 0x%02X is not a TLS-mode code: 0x01", body[0]);
        return answer_code(t, out, cap, SIM_TLS_RSP_TLS_ERROR);
    }
}

bool sim_tls_active(const sim_tls *t) { return t && t->state != SIM_TLS_IDLE; }

sim_tls_state sim_tls_get_state(const sim_tls *t) { return t ? t->state : SIM_TLS_IDLE; }

bool sim_tls_session_identity(const sim_tls *t, uint16_t *client_id, sim_level *level)
{
    if (!t || t->state == SIM_TLS_IDLE || !t->identity_ok)
        return false;
    if (client_id)
        *client_id = t->client_id;
    if (level)
        *level = t->level;
    return true;
}

const sim_tls_counters *sim_tls_counters_get(const sim_tls *t) { return &t->ctr; }

sim_tls_rc4_verdict sim_tls_rc4_gate(sim_tls *t)
{
    if (!t->cfg.tls_required && t->state == SIM_TLS_IDLE)
        return SIM_TLS_RC4_ACCEPT;
    t->ctr.rc4_refused++;
    tls_log(t, "RC4 frame refused: %s", t->cfg.tls_required ? "port requires TLS" : "TLS session active");
    return t->cfg.rc4_silent ? SIM_TLS_RC4_IGNORE : SIM_TLS_RC4_REFUSE;
}

size_t sim_tls_rc4_refusal(uint8_t *out, size_t cap)
{
    if (cap < 3)
        return 0;
    return frame_finish(out, SIM_TLS_RSP_NO_SESSION, 0); /* docs/mep.md 7.5 [E]: `00 01 0A` */
}

int sim_tls_replay_rng(void *replay, unsigned char *out, size_t n)
{
    sim_tls_replay *r = replay;
    if (!r || n > r->len - r->pos)
        return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
    memcpy(out, r->bytes + r->pos, n);
    r->pos += n;
    return 0;
}
