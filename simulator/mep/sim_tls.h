/* sim_tls: the meter side of TLS mode on one MEP port (docs/mep.md 3.5, 7).
 *
 * Owns: one TLS 1.2 PSK server session per port (mbed TLS 2.28 through its
 * public API), the MEP TLS codes 0x58 TLS_HANDSHAKE, 0x59
 * TLS_HANDSHAKE_CONT, 0x80 TLS_TABLE and 0x57 TLS_TERMINATE, the PSK
 * identity (client id UINT16 LSB-first + key id 0 = MBK / 1 = MAK), and the
 * port policy that decides what happens to RC4-mode frames while TLS is in
 * use (docs/mep.md 7.5).
 *
 * How it fits: sim_meter hands every frame whose first body byte is a TLS
 * code (sim_tls_is_tls_code) to sim_tls_on_message and asks
 * sim_tls_rc4_verdict before running the RC4 pipeline. A decrypted
 * TLS_TABLE request is a bare C12.18 request (no seq, no digest); sim_tls
 * passes it to the dispatch callback with the session's access level and
 * encrypts the bare response it gets back. Transport is an in-memory BIO:
 * one MEP message carries one whole flight, records are never split
 * (docs/mep.md 7.2). No I/O, no globals; many ports/meters per process.
 *
 * mbed TLS reads the wall clock (time()) once per handshake for the first
 * 4 bytes of the ServerHello random; everything else random comes from the
 * rng in the config (the replay hook for the guide's vectors).
 */
#ifndef SIM_TLS_H
#define SIM_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_access.h"

/* Largest bare C12.18 response that fits one application_data record in one
 * MEP message: 476 - code(1) - record header(5) - explicit nonce(8) - tag(16)
 * (docs/mep.md 7.2). The dispatch callback gets this as its capacity. */
#define SIM_TLS_MAX_PLAIN 446u

/* MEP TLS-mode response codes (docs/mep.md 3.5). */
#define SIM_TLS_RSP_OK 0x00
#define SIM_TLS_RSP_TLS_ERROR 0x01
#define SIM_TLS_RSP_BAD_IDENTITY 0x03   /* invalid identity or key */
#define SIM_TLS_RSP_NO_SESSION 0x0A     /* TLS_TABLE without a session */

typedef struct sim_tls sim_tls;

/* Executes one bare C12.18 request with the given access level and writes
 * the bare response (`code [count data]`). Returns the response length
 * (1..cap); anything else is a dispatch failure (answered 0x01 outside TLS,
 * session kept). */
typedef int (*sim_tls_dispatch_fn)(void *ctx, sim_level level, const uint8_t *req, size_t n,
                                   uint8_t *resp, size_t cap);

/* Random source in mbed TLS's f_rng shape: fill out[0..n-1], return 0. */
typedef int (*sim_tls_rng_fn)(void *ctx, unsigned char *out, size_t n);

/* One random generator for every meter of a process (a CTR_DRBG seeded
 * once from the system entropy source): seeding one per meter was most of
 * a fleet's start-up when TLS state was made with the meter, and is still
 * the most expensive step of a meter's first handshake. Pass
 * sim_tls_rng_random with it as cfg.rng / cfg.rng_ctx; it must outlive the
 * TLS contexts that use it. Not for several threads. */
typedef struct sim_tls_rng sim_tls_rng;
sim_tls_rng *sim_tls_rng_new(char *err, size_t errlen);
void sim_tls_rng_free(sim_tls_rng *r);
int sim_tls_rng_random(void *rng, unsigned char *out, size_t n);

typedef struct {
    uint8_t mbk[16], mak[16];       /* PSK = first 16 bytes of the key (docs/mep.md 5.1, 7.1) */
    bool tls_required;              /* port refuses RC4 frames at all times (docs/mep.md 7.4) */
    bool rc4_silent;                /* refuse RC4 frames with silence instead of `00 01 0A` (docs/mep.md 7.5) */
    sim_tls_dispatch_fn dispatch;   /* required */
    void *dispatch_ctx;
    /* NULL: a CTR_DRBG seeded from the system entropy source. Tests set
     * sim_tls_replay_rng here to reproduce the guide's server flights. */
    sim_tls_rng_fn rng;
    void *rng_ctx;
    /* Optional log sink: one human-readable line per event, no newline. */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
    const char *name;               /* label in log lines ("meter0/MEP1"), may be NULL */
} sim_tls_cfg;

typedef enum {
    SIM_TLS_IDLE = 0,               /* no handshake, no session */
    SIM_TLS_HANDSHAKING,            /* 0x58 seen, handshake not finished */
    SIM_TLS_ESTABLISHED,            /* TLS_TABLE accepted */
} sim_tls_state;

/* Counters for tests, the control socket and ET89 (docs/mep.md 7.1). */
typedef struct {
    uint64_t handshakes_started;    /* 0x58 received */
    uint64_t handshakes_ok;
    uint64_t handshake_failures;    /* answered 0x01 or 0x03 during a handshake */
    uint64_t identity_rejects;      /* bad identity or wrong key: 0x03 */
    uint64_t tables;                /* TLS_TABLE requests dispatched */
    uint64_t no_session;            /* 0x0A answers */
    uint64_t terminates;            /* 0x57 received */
    uint64_t rc4_refused;           /* RC4 frames refused by the port policy */
    uint64_t errors;                /* every 0x01 answer */
    int last_mbedtls_error;         /* last negative mbed TLS return code, 0 if none */
} sim_tls_counters;

/* Create a port's TLS state. NULL with a message in err on failure. */
sim_tls *sim_tls_new(const sim_tls_cfg *cfg, char *err, size_t errlen);
void sim_tls_free(sim_tls *t);

/* First body byte is one of 0x57/0x58/0x59/0x80 (RC4 requests start with
 * 0x30/0x3F/0x40/0x4F, docs/mep.md 7.5). */
bool sim_tls_is_tls_code(uint8_t code);

/* Handle one TLS-mode MEP message. body = frame body after the 2-byte
 * length (code + TLS data), len = the length field. Writes the whole
 * response frame (length included) to out and returns its length; out must
 * hold MEP_MAX_FRAME bytes. Never silent for a TLS code. */
size_t sim_tls_on_message(sim_tls *t, const uint8_t *body, size_t len, uint8_t *out, size_t cap);

/* A TLS session has been started (handshake in progress or established):
 * docs/mep.md 7.5 "after a TLS session has been started". */
bool sim_tls_active(const sim_tls *t);
sim_tls_state sim_tls_get_state(const sim_tls *t);
/* Identity of the established (or handshaking, once its identity was
 * accepted) session; false if there is none. */
bool sim_tls_session_identity(const sim_tls *t, uint16_t *client_id, sim_level *level);
const sim_tls_counters *sim_tls_counters_get(const sim_tls *t);

/* What the meter does with an RC4-mode frame on this port (docs/mep.md 7.5). */
typedef enum {
    SIM_TLS_RC4_ACCEPT = 0,         /* run the RC4 pipeline */
    SIM_TLS_RC4_REFUSE,             /* answer with sim_tls_rc4_refusal (`00 01 0A`) */
    SIM_TLS_RC4_IGNORE,             /* stay silent */
} sim_tls_rc4_verdict;

/* Decide, and count a refusal. Call once per RC4-mode frame. */
sim_tls_rc4_verdict sim_tls_rc4_gate(sim_tls *t);
/* Writes `00 01 0A` (no digest) and returns 3 (0 if cap < 3). */
size_t sim_tls_rc4_refusal(uint8_t *out, size_t cap);

/* ---- replay hook (tests) -------------------------------------------------
 * An rng that hands out fixed bytes in order, then fails (so a test notices
 * if mbed TLS asks for more than the script holds). For the guide's
 * ServerHello: server random bytes 4..31 then the 32-byte session id
 * (bytes 0..3 of the random are mbed TLS's gmt_unix_time). */
typedef struct {
    const uint8_t *bytes;
    size_t len;
    size_t pos;
} sim_tls_replay;

int sim_tls_replay_rng(void *replay, unsigned char *out, size_t n);

#endif
