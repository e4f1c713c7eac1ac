/* sim_security: the meter's RC4-mode security pipeline (docs/mep.md 5.6).
 *
 * Owns: length checks, key selection (MAK tried before MBK, on the bytes as
 * received, then decrypt-and-verify with each key, docs/mep.md 5.4), the sequence
 * window and E, the "next acceptable sequence number" (docs/mep.md 5.5), and the
 * framing of every RC4-mode answer: the sealed response
 * `len | (enc ? RC4-continued(resp) : resp) | digest(key, plain_req || resp)`,
 * the 0x0C reply and the 0x0B reply (never encrypted, framing per policy).
 *
 * Pure: bytes in, bytes out; no time, no I/O, no allocation. sim_meter owns
 * one sim_security per MEP port and runs every received frame through
 * sim_sec_open before dispatching the plain request.
 */
#ifndef SIM_SECURITY_H
#define SIM_SECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mep_digest.h"
#include "mep_frame.h"
#include "mep_rc4.h"
#include "sim_access.h"
#include "sim_profile.h"

#define SIM_SEC_MIN_BODY 15u          /* 0x30 without count: 1+2+4+8 (docs/mep.md 3.6) */
#define SIM_SEC_DEFAULT_WINDOW 8u     /* accept 1..8 steps after the last accepted */

typedef struct {
    uint8_t mak[MEP_KEY_LEN], mbk[MEP_KEY_LEN];
    uint32_t window;                  /* accept iff (uint32)(rx - E) < window; 0 = default 8 */
    sim_seq_reply seq_reply;          /* 0x0C carries E (default) or E-1 */
    sim_auth_reply auth_reply;        /* 0x0B framing */
    bool strict_full_read_count;      /* 0x30 without count -> 0x0C, E unchanged (docs/mep.md 3.3) */
} sim_sec_cfg;

typedef struct {
    sim_sec_cfg cfg;
    uint32_t next_seq;                /* E: the next sequence number accepted */
    uint8_t mak_ek[16], mbk_ek[16];   /* App. B encrypt keys, computed once per key */
    /* The (key, plain or encrypted) that authenticated the last request: a
     * module keeps using one, so it is tried first (sim_sec_open). */
    bool has_last;
    uint8_t last_key;                 /* 0 MAK, 1 MBK */
    bool last_encrypted;
} sim_security;

typedef enum {
    SIM_SEC_OK = 0,                   /* authenticated and in window: dispatch x->plain */
    SIM_SEC_MALFORMED,                /* body length outside 15..476 or length field wrong: drop */
    SIM_SEC_AUTH_FAIL,                /* no key verifies: answer with sim_sec_auth_reply */
    SIM_SEC_SEQ_REJECT,               /* authenticated, out of window: answer sim_sec_seq_reply */
} sim_sec_verdict;

/* One exchange: what sim_sec_open learnt from the request, and the RC4
 * state the response must continue with. */
typedef struct {
    sim_sec_verdict verdict;
    sim_level level;                  /* key that authenticated (NONE on failure) */
    bool encrypted;                   /* the request arrived RC4-encrypted */
    bool replay;                      /* rx == E-1: the last accepted number again */
    bool countless_read;              /* rejected by strict_full_read_count */
    uint32_t rx_seq;
    uint32_t expected;                /* E when the request was checked */
    uint8_t key[MEP_KEY_LEN];         /* key of `level` */
    uint8_t rx_digest[MEP_DIGEST_LEN];
    uint8_t plain[MEP_MAX_BODY];      /* plaintext request body code..seq */
    size_t plain_len;                 /* includes the 4-byte sequence number */
    mep_rc4 cipher;                   /* valid when encrypted */
} sim_sec_exchange;

void sim_sec_init(sim_security *s, const sim_sec_cfg *cfg, uint32_t next_seq);

/* The window rule alone (docs/mep.md 5.5): true iff rx is E..E+window-1 (mod 2^32). */
bool sim_sec_window_accepts(uint32_t next_seq, uint32_t rx, uint32_t window);

/* Run one received frame (2-byte length included) through authentication,
 * decryption and the sequence window. On SIM_SEC_OK, E becomes rx + 1;
 * every other verdict leaves E unchanged. x is always filled. */
sim_sec_verdict sim_sec_open(sim_security *s, const uint8_t *frame, size_t len, sim_sec_exchange *x);

/* What sim_sec_seal did; only SIM_SEC_SEALED put a frame in out. */
typedef enum {
    SIM_SEC_SEALED = 0,               /* *out_len = the whole frame's length */
    SIM_SEC_SEAL_EMPTY,               /* no response body (resp_len 0): nothing to send */
    SIM_SEC_SEAL_TOO_LONG,            /* body + digest above MEP_MAX_BODY (docs/mep.md 3.1) */
    SIM_SEC_SEAL_NO_ROOM,             /* out holds fewer than the frame's bytes */
} sim_sec_seal_result;

/* Frame a response body (code [+ data]) for the exchange x: length, body
 * (RC4-continued when the request was encrypted), digest over plain request
 * and plain response (docs/mep.md 5.3, 5.4). *out_len is the frame length
 * on SIM_SEC_SEALED, else 0. Call at most once per exchange. */
sim_sec_seal_result sim_sec_seal(sim_sec_exchange *x, const uint8_t *resp, size_t resp_len, uint8_t *out,
                                 size_t cap, size_t *out_len);
/* The same with the length field as the only limit (body up to 65535):
 * the oversize protocol fault (docs/module-behaviour.md 9, S27) sends a
 * valid digest on a reply no real frame may carry. */
sim_sec_seal_result sim_sec_seal_oversize(sim_sec_exchange *x, const uint8_t *resp, size_t resp_len, uint8_t *out,
                                          size_t cap, size_t *out_len);
/* "sealed", "empty response", "body too long", "no room" (logs). */
const char *sim_sec_seal_name(sim_sec_seal_result r);

/* The 0x0C reply for x: code + E (or E-1 under SIM_SEQ_REPLY_LAST), sealed
 * like any response (valid digest with the request's key, encrypted if the
 * request was). Returns the frame length; 0 only if cap is too small. */
size_t sim_sec_seq_reply(const sim_security *s, sim_sec_exchange *x, uint8_t *out, size_t cap);

/* The 0x0B reply per policy: `00 01 0B`, `00 09 0B` + 8 zero bytes, or
 * nothing (returns 0). Never encrypted (docs/mep.md 3.4). */
size_t sim_sec_auth_reply(sim_auth_reply policy, uint8_t *out, size_t cap);

const char *sim_sec_verdict_name(sim_sec_verdict v);

#endif
