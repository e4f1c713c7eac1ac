/* host_tls: TLS mode on the MEP port, client side, for the host port mepmod.
 *
 * Owns: one mbed TLS 2.28 client session (TLS 1.2, TLS_PSK_WITH_AES_256_GCM_SHA384
 * only, PSK identity = client id UINT16 LSB-first + key id 0 MBK / 1 MAK;
 * docs/mep.md 7.1), and the MEP messages that carry it: 0x58 TLS_HANDSHAKE,
 * 0x59 TLS_HANDSHAKE_CONT, 0x80 TLS_TABLE, 0x57 TLS_TERMINATE (docs/mep.md 3.5).
 *
 * How it fits: the port gives an `exchange` callback that sends one MEP
 * frame and returns the meter's reply frame (alerts `00 00` already
 * stripped, 500 ms timeout applied by the port, docs/mep.md 4). host_tls turns a
 * bare C12.18 request (`3F 0846 00008E 0001`) into a TLS_TABLE message and
 * returns the bare response (`00 0001 02`); no sequence numbers or digests
 * (docs/mep.md 7.2). It handshakes on first use and again after TLS_TERMINATE,
 * 0x0A (no session), a TLS error or a transport failure.
 * Every call returns a host_tls_result; host_tls_strerror names it.
 *
 * Two ways to drive it: the step API (host_tls_start_request, then
 * host_tls_frame / host_tls_feed until it stops saying HOST_TLS_PENDING)
 * never waits, so mepmod runs it on its libev loop beside HTTP and MQTT;
 * the blocking helpers (host_tls_connect/request/terminate) run the same
 * steps through cfg.exchange, for tests and benches.
 */
#ifndef HOST_TLS_H
#define HOST_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest bare request/response in one record (docs/mep.md 7.2: 476 - 30). */
#define HOST_TLS_MAX_PLAIN 446u

typedef enum {
    HOST_TLS_OK = 0,
    HOST_TLS_ERR_ARG,          /* bad argument (NULL, size out of range) */
    HOST_TLS_ERR_TRANSPORT,    /* exchange callback failed (timeout, line error) */
    HOST_TLS_ERR_REPLY,        /* reply frame malformed (length, unknown code, junk TLS data) */
    HOST_TLS_ERR_IDENTITY,     /* meter answered 0x03: invalid identity or key */
    HOST_TLS_ERR_TLS,          /* meter answered 0x01, or the local TLS stack failed */
    HOST_TLS_ERR_NO_SESSION,   /* meter answered 0x0A even after a fresh handshake */
    HOST_TLS_ERR_NOMEM,
    HOST_TLS_PENDING,          /* step API: send host_tls_frame(), then host_tls_feed() the reply */
} host_tls_result;

const char *host_tls_strerror(host_tls_result r);

/* Send frame[0..len-1] (2-byte length included) and store the reply frame
 * (2-byte length included) in reply (cap bytes), its length in *reply_len.
 * Return 0 on success, non-zero if no reply came. */
typedef int (*host_tls_exchange_fn)(void *ctx, const uint8_t *frame, size_t len, uint8_t *reply, size_t cap,
                                    size_t *reply_len);

typedef struct {
    uint16_t client_id;        /* free value, recorded by the meter (docs/mep.md 7.1) */
    uint8_t key_id;            /* 0 = MBK, 1 = MAK (other values are sent as given: tests) */
    uint8_t psk[16];           /* first 16 bytes of that key */
    host_tls_exchange_fn exchange; /* blocking helpers only; may be NULL with the step API */
    void *exchange_ctx;
    /* Optional rng in mbed TLS f_rng shape; NULL = CTR_DRBG on system entropy. */
    int (*rng)(void *ctx, unsigned char *out, size_t n);
    void *rng_ctx;
    /* Optional log sink (one line, no newline). */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} host_tls_cfg;

typedef struct host_tls host_tls;

/* Figures for the bench note and the status page. */
typedef struct {
    uint32_t handshakes, handshake_failures, requests, reconnects, terminates;
    uint64_t bytes_tx, bytes_rx;   /* whole MEP frames, length fields included */
    uint8_t last_meter_code;       /* response code of the last reply */
    int last_mbedtls_error;        /* last negative mbed TLS return code, 0 if none */
} host_tls_stats;

host_tls_result host_tls_new(const host_tls_cfg *cfg, host_tls **out);
void host_tls_free(host_tls *t);

/* Run a full handshake now (0x58, then 0x59 until done). */
host_tls_result host_tls_connect(host_tls *t);
/* Bare C12.18 request in, bare response out. Handshakes if there is no
 * session; on 0x0A re-handshakes once and resends. */
host_tls_result host_tls_request(host_tls *t, const uint8_t *req, size_t n, uint8_t *resp, size_t cap,
                                 size_t *resp_len);
/* Send TLS_TERMINATE (`00 02 57 00`); the session is gone afterwards
 * whatever the meter answers. */
host_tls_result host_tls_terminate(host_tls *t);
bool host_tls_connected(const host_tls *t);

/* ---- step API (non-blocking) ----------------------------------------------
 * Start an exchange; anything still in progress is abandoned first (a
 * TLS_TABLE whose reply never came leaves the record sequence numbers out of
 * step, so the next request handshakes again). Each returns HOST_TLS_PENDING
 * with a frame to send (host_tls_frame), or a final result. */
host_tls_result host_tls_start_request(host_tls *t, const uint8_t *req, size_t n);
host_tls_result host_tls_start_connect(host_tls *t);
host_tls_result host_tls_start_terminate(host_tls *t);
/* The MEP frame (length included) to send now, or NULL if none is pending. */
const uint8_t *host_tls_frame(const host_tls *t, size_t *len);
/* The meter's reply frame to the pending frame (length included; alerts
 * stripped), or reply = NULL when none came in time (docs/mep.md 4: 500 ms).
 * Returns HOST_TLS_PENDING (send host_tls_frame() next), HOST_TLS_OK (for a
 * request: host_tls_response() holds the bare response) or an error. */
host_tls_result host_tls_feed(host_tls *t, const uint8_t *reply, size_t len);
/* The bare C12.18 response of the last request that returned HOST_TLS_OK. */
const uint8_t *host_tls_response(const host_tls *t, size_t *len);
/* An exchange is in progress (a frame awaits its reply). */
bool host_tls_busy(const host_tls *t);
/* Forget the exchange in progress, if any (see host_tls_start_request). */
void host_tls_abort(host_tls *t);
const host_tls_stats *host_tls_get_stats(const host_tls *t);

#endif
