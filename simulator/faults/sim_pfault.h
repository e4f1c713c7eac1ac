/* sim_pfault: protocol faults of one emulated meter (docs/module-behaviour.md 9).
 *
 * Owns: faults that change *what* the meter answers rather than the bytes on
 * the wire: perpetual 0x0C and the "returns the last accepted number" 0x0C
 * variant (S04), 0x0B to everything or to the first request (S06), chosen
 * error codes on chosen tables (S22, S23), short and oversize table replies
 * (S15, S27), a busy meter that does not answer (S08), an alert storm and a
 * zero-byte stream (S21, S25), an alert glued to a split reply (S26),
 * awkward identity strings (S30) and loopback/echo (S33).
 *
 * Hooks (pure; the owner passes time in):
 *  - sim_pfault_on_response: called by the meter with the parsed request and
 *    its bare response (code + data, before digest/encryption). It may pass,
 *    suppress, return a *valid* different bare response (REPLACE_BARE: the
 *    meter must frame it, compute the digest and encrypt it like any reply,
 *    or for an 0x0B frame it per its auth_reply policy), or return raw wire
 *    bytes to send as they are (REPLACE_FRAME: no digest computed, e.g. echo).
 *  - sim_pfault_on_table_read: patches table bytes as they are read (before
 *    the digest, so the reply stays valid): S30 identity strings.
 *  - sim_pfault_tx / sim_pfault_tx_pause: called by the line for each
 *    outgoing response frame (S26: prefix `00 00`, pause inside the reply).
 *  - sim_pfault_due / sim_pfault_next_wake: bytes the line sends on its own
 *    (alert storm, zero-byte stream).
 *
 * Time: the meter-side hook takes milliseconds, the line-side functions
 * microseconds, of the same monotonic clock (ms = us / 1000).
 */
#ifndef SIM_PFAULT_H
#define SIM_PFAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mep_frame.h"
#include "sim_spec.h"
#include "sim_text.h"
#include "sim_meter.h" /* the actions and the request of the meter's fault hooks */

#define SIM_PFAULT_MAX 8
#define SIM_PFAULT_OUT_MAX 1100    /* oversize replies may exceed a 512-byte frame (S27) */
#define SIM_PFAULT_TEXT 32

typedef enum {
    SIM_PF_SEQ_ALWAYS = 0,  /* "seq-always": 0x0C + E to every authenticated request */
    SIM_PF_SEQ_LAST,        /* "seq-last": every 0x0C carries E-1, the last accepted number (S04) */
    SIM_PF_AUTH,            /* "auth": 0x0B to everything, or first=1: to the first request only (S06) */
    SIM_PF_TABLE_ERROR,     /* "table-error": answer code to requests on table (S22, S23) */
    SIM_PF_SHORT,           /* "short": read replies carry only `bytes` data bytes (S15) */
    SIM_PF_OVERSIZE,        /* "oversize": read replies padded to `size` data bytes (S27) */
    SIM_PF_BUSY,            /* "busy": no answer at all while active (S08) */
    SIM_PF_ALERT_STORM,     /* "alert-storm": `00 00` every period ms, regardless of hold-off (S21) */
    SIM_PF_ZERO_STREAM,     /* "zero-stream": 0x00 bytes at `rate` bytes/s (S25) */
    SIM_PF_ALERT_SPLIT,     /* "alert-split": `00 00` + reply split with a 0..gap_us pause (S26) */
    SIM_PF_STRINGS,         /* "strings": awkward BT01 model / ET03 serial bytes (S30) */
    SIM_PF_ECHO,            /* "echo": every request frame sent back unchanged (S33) */
    /* TLS mode (docs/mep.md 7): applied by the meter around sim_tls */
    SIM_PF_TLS_CORRUPT_HS,  /* "tls-corrupt-handshake": a byte of the server's 0x58 flight flipped */
    SIM_PF_TLS_DROP_SESSION,/* "tls-drop-session": meter forgets the session; next TLS_TABLE -> 0x0A */
    SIM_PF_TLS_WRONG_PSK,   /* "tls-wrong-psk": client Finished fails to authenticate -> 0x03 */
    SIM_PF_KIND_COUNT
} sim_pfault_kind;

typedef struct {
    sim_pfault_kind kind;
    uint32_t count;          /* wear off after N injections (0 = no limit) */
    uint32_t duration_ms;    /* wear off after this long (0 = until stopped) */
    double p;                /* probability per request (default 1) */
    bool has_table;
    uint16_t table;          /* table-error/short/oversize: only this table (any if !has_table) */
    uint8_t code;            /* table-error: response code (default 0x05) */
    unsigned ops;            /* table-error: 1 reads, 2 writes, 3 both (default 3) */
    bool first;              /* auth: only the first request seen after the start */
    uint32_t bytes;          /* short: data bytes kept (default 5) */
    uint32_t size;           /* oversize: data bytes in the reply (default 480) */
    uint32_t period_ms;      /* alert-storm: period (default 10) */
    uint32_t rate;           /* zero-stream: bytes per second (default 960 = a held 9600 line) */
    uint32_t gap_us;         /* alert-split: maximum pause (default 2000) */
    uint32_t split;          /* alert-split: bytes of the reply before the pause (0 = random) */
    char variant[SIM_PFAULT_TEXT]; /* strings: quote|backslash|ff|nul|spaces|mixed */
} sim_pfault_spec;

typedef struct {
    sim_pfault_spec spec;
    uint32_t id;
    uint64_t start_us;
    uint64_t injected;
    uint64_t emitted;        /* storm/stream: units sent so far */
    uint64_t seen;           /* requests seen since the start */
} sim_pfault_slot;

typedef struct {
    uint64_t injected[SIM_PF_KIND_COUNT];
    uint64_t worn_off;
} sim_pfault_counters;

typedef struct {
    uint64_t rng;
    uint32_t next_id;
    sim_pfault_slot slot[SIM_PFAULT_MAX];
    /* pending pause for the frame handed to sim_pfault_tx last */
    size_t pause_at;
    uint32_t pause_us;
    sim_pfault_counters c;
} sim_pfault;

/* What a protocol fault does with the meter's response (the action is one
 * of the meter's, mep/sim_meter.h). */
typedef struct {
    sim_meter_fault_action action;
    bool unauthenticated;    /* REPLACE_BARE of 0x0B: no digest; frame per auth_reply policy */
    uint8_t bytes[SIM_PFAULT_OUT_MAX];
    size_t len;
    sim_pfault_kind by;      /* fault that acted (for logs) */
} sim_pf_result;

/* sim_pfault_family, sim_pfault_kind_name, sim_pfault_kind_from_name,
 * sim_pfault_spec_parse, sim_pfault_spec_format (sim_spec.h). Kinds:
 * "seq-always", "busy", ... Parameters: count, duration (ms), p, table
 * (BT23 / ET13 / number), code, ops (read|write|both), first (0|1), bytes,
 * size, period (ms), rate, gap_us, split, variant; unused parameter for the
 * kind = error. Formatted "table-error table=ET13 code=0x05 ops=both": p
 * only below 1, count and duration only when set. */
SIM_SPEC_FAMILY_API(sim_pfault, sim_pfault_spec, sim_pfault_kind);

/* No fault active; the random stream is seeded apart from sim_fault's. */
void sim_pfault_init(sim_pfault *pf, uint64_t seed);
/* Start a protocol fault at now_us: its id (> 0), or -1 with a message
 * (bad spec, all SIM_PFAULT_MAX slots in use). */
int sim_pfault_start(sim_pfault *pf, const sim_pfault_spec *s, uint64_t now_us, char *err, size_t errlen);
/* Stop the faults a kind name, an id ("2") or "all" names; how many. */
int sim_pfault_stop(sim_pfault *pf, const char *what);
/* Stop everything and forget a pending alert-split pause. */
void sim_pfault_clear(sim_pfault *pf);
/* One line per active fault: "p<id> <spec> injected=N age_ms=N". */
size_t sim_pfault_list(const sim_pfault *pf, uint64_t now_us, char *out, size_t cap);

/* Meter hook. bare = code + data of the meter's response (no length, no
 * digest); bare_len 0 if the meter would stay silent. */
sim_meter_fault_action sim_pfault_on_response(sim_pfault *pf, const sim_meter_fault_request *rq,
                                              const uint8_t *bare, size_t bare_len, uint64_t now_ms,
                                              sim_pf_result *out);
/* TLS-mode hook: the meter calls it for every TLS-mode message
 * (first body byte 0x57/0x58/0x59/0x80, docs/mep.md 3.5) before sim_tls sees
 * it, and does what out says:
 *  - flip_reply (0x58): XOR 0x01 into the handshake type of the server's
 *    first record (ServerHello), so the client's TLS stack rejects the flight;
 *  - drop_session (0x80): end the session first (as TLS_TERMINATE would), so
 *    this TLS_TABLE gets 0x0A - a meter that lost its session state;
 *  - fail_finished (0x59): flip the last byte (GCM tag) of the client's
 *    flight, so its Finished does not authenticate and the meter answers
 *    0x03 - on the wire exactly what a meter holding another key does.
 * Returns true if one of them acts (counted as an injection). */
typedef struct {
    bool flip_reply, drop_session, fail_finished;
    sim_pfault_kind by;
} sim_pf_tls;
bool sim_pfault_on_tls(sim_pfault *pf, uint8_t tls_code, uint64_t now_ms, sim_pf_tls *out);
/* Table read hook: patch out[0..n) holding table bytes [off, off+n). */
void sim_pfault_on_table_read(sim_pfault *pf, uint16_t table, uint32_t off, uint8_t *out, size_t n,
                              uint64_t now_ms);
/* Line hook for each outgoing response frame (called by sim_fault_set_tx_filter). */
size_t sim_pfault_tx(sim_pfault *pf, uint8_t *buf, size_t n, size_t cap, uint64_t now_us);
/* After sim_pfault_tx: pause pause_us after byte `at` of that frame (S26).
 * Returns false if no pause was asked for. */
bool sim_pfault_tx_pause(const sim_pfault *pf, size_t *at, uint32_t *pause_us);
/* Bytes the line sends on its own now (storm pairs, zero bytes). */
size_t sim_pfault_due(sim_pfault *pf, uint64_t now_us, uint8_t *out, size_t cap);
uint64_t sim_pfault_next_wake(const sim_pfault *pf, uint64_t now_us);

#endif
