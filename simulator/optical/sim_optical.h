/* sim_optical: the meter's optical port above the packet layer: ANSI C12.18
 * PSEM services, the BASE/ID/SESSION state machine and OSGP security
 * (20-byte passwords against MK/PK/RK, per-key read/write rights, hardware
 * lock, failed-password lock-out) (docs/optical.md 3, 4).
 *
 * Pure: bytes and the time in, bytes out; no I/O. One sim_optical per
 * optical channel; it owns its sim_optical_link (packet layer) and reads and
 * writes tables through a sim_optical_store, so it works on the emulator's
 * sim_tables (sim_optical_store_from_tables) or on any other table source.
 * The edge (PTY/UART/TCP) feeds received bytes to sim_optical_rx, writes what
 * it returns, calls sim_optical_tick at sim_optical_deadline, and sets the
 * line to sim_optical_baud() after every call.
 */
#ifndef SIM_OPTICAL_H
#define SIM_OPTICAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_optical_link.h"
#include "sim_tables.h"

#define SIM_OPTICAL_PASSWORD_LEN 20     /* Security 0x51 carries 20 bytes (4) */
#define SIM_OPTICAL_MAX_RULES 48
#define SIM_OPTICAL_MAX_BAUDS 15
#define SIM_OPTICAL_PENDING_OFFSET 4096u /* table id + 4096 = pending copy (3.4) */
#define SIM_OPTICAL_PED_LEN 6u           /* pending event description in front of the data */

/* PSEM request codes (docs/optical.md 3.1). */
enum sim_optical_req {
    SIM_OPTICAL_IDENTIFY = 0x20,
    SIM_OPTICAL_TERMINATE = 0x21,
    SIM_OPTICAL_FULL_READ = 0x30,
    SIM_OPTICAL_DEFAULT_READ = 0x3E,
    SIM_OPTICAL_PARTIAL_READ = 0x3F,
    SIM_OPTICAL_FULL_WRITE = 0x40,
    SIM_OPTICAL_PARTIAL_WRITE = 0x4F,
    SIM_OPTICAL_LOGON = 0x50,
    SIM_OPTICAL_SECURITY = 0x51,
    SIM_OPTICAL_LOGOFF = 0x52,
    SIM_OPTICAL_AUTHENTICATE = 0x53,
    SIM_OPTICAL_NEGOTIATE = 0x60,      /* 0x60..0x6B: + number of baud codes */
    SIM_OPTICAL_WAIT = 0x70,
    SIM_OPTICAL_TIMING_SETUP = 0x71,
};

/* PSEM response codes (docs/optical.md 3.2). Any non-ok reply is the code alone. */
enum sim_optical_rsp {
    SIM_OPTICAL_OK = 0x00,
    SIM_OPTICAL_ERR = 0x01,
    SIM_OPTICAL_SNS = 0x02,
    SIM_OPTICAL_ISC = 0x03,
    SIM_OPTICAL_ONP = 0x04,
    SIM_OPTICAL_IAR = 0x05,
    SIM_OPTICAL_BSY = 0x06,
    SIM_OPTICAL_DNR = 0x07,
    SIM_OPTICAL_DLK = 0x08,
    SIM_OPTICAL_RNO = 0x09,
    SIM_OPTICAL_ISSS = 0x0A,
};
const char *sim_optical_rsp_name(uint8_t code);   /* "ok", "isc", ... */
const char *sim_optical_req_name(uint8_t code);   /* "identify", "partial-read" ... */

typedef enum {
    SIM_OPTICAL_STATE_BASE = 0,   /* power-up, after Terminate or any timeout */
    SIM_OPTICAL_STATE_ID,         /* after Identify */
    SIM_OPTICAL_STATE_SESSION,    /* after Logon */
} sim_optical_state;
const char *sim_optical_state_name(sim_optical_state s);

/* Key level of the session (4). Order matters only for naming. */
typedef enum {
    SIM_OPTICAL_KEY_NONE = 0,     /* Logon only: "Open" tables */
    SIM_OPTICAL_KEY_RK,           /* read-only key */
    SIM_OPTICAL_KEY_PK,           /* provisioning key */
    SIM_OPTICAL_KEY_MK,           /* master / unique key */
} sim_optical_key;
const char *sim_optical_key_name(sim_optical_key k);

typedef enum {
    SIM_OPTICAL_IDENT_NES = 0,    /* default: 00 00 10 00 07 0F 11 + ET03 serial (30 ASCII) [T] */
    SIM_OPTICAL_IDENT_CLASSIC,    /* 00 00 01 00 00 (C12.18-1996, termineter, MeteringSDK) */
} sim_optical_identify_form;

/* Per-table access rules (4). A table without a rule is readable with
 * RK/PK/MK and not writable. Flags combine. */
enum {
    SIM_OPTICAL_R_OPEN = 1u << 0,        /* readable after Logon without Security */
    SIM_OPTICAL_R_NO_RK = 1u << 1,       /* RK may not read (keys, calibration, download) */
    SIM_OPTICAL_R_NO_PK = 1u << 2,       /* PK may neither read nor write (keys, download) */
    SIM_OPTICAL_R_WRITABLE = 1u << 3,    /* writable with MK (and PK unless NO_PK) */
    SIM_OPTICAL_R_WRITE_MK = 1u << 4,    /* writable with MK only */
    SIM_OPTICAL_R_LOCK_READ = 1u << 5,   /* hardware lock: nobody reads (isc) */
    SIM_OPTICAL_R_LOCK_WRITE = 1u << 6,  /* hardware lock: nobody writes (isc) */
};
typedef struct {
    uint16_t table_id;   /* base id; pending ids (+4096) use their base table's rule */
    uint16_t flags;
} sim_optical_rule;

typedef struct {
    const char *name;                    /* label in log lines ("meter0") */

    /* 4: the meter keys. A key is usable only if set. */
    uint8_t mk[SIM_OPTICAL_PASSWORD_LEN], pk[SIM_OPTICAL_PASSWORD_LEN], rk[SIM_OPTICAL_PASSWORD_LEN];
    bool mk_set, pk_set, rk_set;
    bool pk_enabled;                     /* PK can be disabled through ET04; default true */
    /* 3.5 / 4 [M p.141, FW >= 4.30, ET55.22/23]: after lockout_threshold
     * consecutive bad passwords ignore the port for lockout_minutes.
     * 0 = feature off (default; FW < 4.30). */
    uint8_t lockout_threshold;
    uint32_t lockout_minutes;
    bool bad_password_alarm;             /* BT03 offset 5 bit 0 "invalid password" [E]: set by a bad
                                          * password, latched (cleared by SP08 via BT07); default on */

    /* 3.5 / 6: D.O.S. timer (Gen 2/3 ET51 bit 0, Gen 4 ET55): a session older
     * than dos_session_s is ended and the port ignored for dos_holdoff_s. */
    bool dos_enabled;                    /* default off */
    uint32_t dos_session_s, dos_holdoff_s; /* 600, 300 */
    /* 6: Gen 2/3 shared UART: the first packet after the port was idle
     * (base state) is NAKed as if garbled by the switch. Default off. */
    bool shared_uart;
    /* The port paces replies at the line rate (docs/optical.md 1): the
     * response timer of a reply packet (2.5) starts once its last byte is
     * on the wire, not when it was handed to the port. */
    bool wire_paced;

    /* 2.7 timing */
    sim_optical_link_timing link;        /* 500 ms / 2000 ms / 3 retries */
    /* Turnaround (2.7: real meters ACK and reply within ~30 ms): asked once
     * per request; the ACK leaves at once (2.3 step 5), the reply packet this
     * many ms after the request's last byte. NULL = at once. */
    uint32_t (*reply_delay_ms)(void *ctx);
    void *reply_delay_ctx;
    uint32_t channel_timeout_ms;         /* 6000: no valid packet -> BASE */

    /* 3.3 Negotiate */
    uint8_t baud_codes[SIM_OPTICAL_MAX_BAUDS]; /* supported codes; default {06} = 9600 only */
    size_t n_baud_codes;
    uint16_t max_packet_size;            /* default 1024 (cap, 64..8192) */
    uint8_t max_packets;                 /* default 8 (1..255) */

    /* 3.3 / 3.5 behaviour */
    sim_optical_identify_form identify_form;
    bool strict_identify;                /* Identify outside BASE -> isss; default off (restart) */
    bool past_end_zeros;                 /* partial read at offset >= size -> zeros; default off (onp) */
    bool oversize_rno;                   /* reply too big -> rno instead of onp; default off */

    sim_optical_rule rules[SIM_OPTICAL_MAX_RULES];
    size_t n_rules;

    /* Optional log sink: one line per service and per notable link event. */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} sim_optical_cfg;

/* Defaults as documented above and in fixtures/meters/README-optical.md:
 * no keys set, rules BT00/BT01/ET03 open, BT07 and ET51 writable (MK, PK),
 * C12.19 security tables BT42/BT45/BT46 closed to RK and PK. */
void sim_optical_cfg_defaults(sim_optical_cfg *c);
/* Add or replace a rule; -1 if the rule table is full. */
int sim_optical_cfg_rule(sim_optical_cfg *c, uint16_t table_id, uint16_t flags);
/* Set a key from a 20-byte buffer (len < 20 is padded with 0x00, as
 * termineter does). which: 'M', 'P' or 'R'. -1 on a bad argument. */
int sim_optical_cfg_key(sim_optical_cfg *c, char which, const uint8_t *key, size_t len);

/* Table source. Mirrors sim_tables: size < 0 = no such table; read copies
 * clamped bytes and returns the count; write returns >= 0 on success.
 * pending (optional) tells whether a pending copy of base table `id` exists
 * and fills its 6-byte PED. The write callback is where the integrator hooks
 * side effects (BT07 procedures, ET51 reconfiguration). */
typedef struct {
    void *ctx;
    int (*size)(void *ctx, uint16_t id);
    int (*read)(void *ctx, uint16_t id, uint32_t off, uint32_t n, uint8_t *out);
    int (*write)(void *ctx, uint16_t id, uint32_t off, const uint8_t *data, uint32_t n);
    bool (*pending)(void *ctx, uint16_t id, uint8_t ped[SIM_OPTICAL_PED_LEN]);
} sim_optical_store;

typedef struct {
    uint64_t packets_rx, duplicates, crc_errors, forced_naks, rx_timeouts, garbage;
    uint64_t acks_rx, naks_rx, retransmits, implicit_acks, replies_failed, replies_cut;
    uint64_t requests;                 /* PSEM messages dispatched */
    uint64_t responses[256];           /* by response code */
    uint64_t auth_ok, auth_fail, lockouts, dos_closes, channel_timeouts;
    uint64_t bytes_ignored;            /* dropped during lock-out / D.O.S. hold-off */
    uint64_t baud_changes;
} sim_optical_counters;

/* The emulator's table store as a sim_optical_store (no pending tables; the
 * caller advances the meter model to "now" before feeding bytes, as for MEP).
 * Writes go straight to sim_tables_write: side effects such as running a
 * procedure written to BT07 need a wrapping store (see README-optical.md). */
sim_optical_store sim_optical_store_from_tables(sim_tables *t);

typedef struct sim_optical sim_optical;

/* New channel in BASE at 9600. The cfg is validated (a message naming the
 * bad field, NULL) and copied; the store is copied (its ctx must outlive). */
sim_optical *sim_optical_new(const sim_optical_cfg *cfg, const sim_optical_store *store,
                             uint64_t now_ms, char *err, size_t errlen);
void sim_optical_free(sim_optical *o);
/* What sim_optical_new checks, without building the port's state (44 KB):
 * a port validates its configuration at start and makes the core on the
 * first optical byte. 0, or -1 with a message. */
int sim_optical_cfg_validate(const sim_optical_cfg *cfg, const sim_optical_store *store, char *err, size_t errlen);

/* One received byte. Returns the bytes to transmit now (ACK/NAK and possibly
 * one reply packet); out should hold SIM_OPTICAL_OUT_MAX bytes. */
size_t sim_optical_rx(sim_optical *o, uint8_t byte, uint64_t now_ms, uint8_t *out, size_t cap);
/* Timers: retransmission, inter-character drop, channel traffic timeout,
 * D.O.S. session limit. Call at (or after) sim_optical_deadline(). */
size_t sim_optical_tick(sim_optical *o, uint64_t now_ms, uint8_t *out, size_t cap);
uint64_t sim_optical_deadline(const sim_optical *o);

/* One PSEM request without the packet layer (tests, fuzzing, a future
 * transport). Applies the state machine; returns the reply length (>= 1).
 * A Negotiate takes effect at once (no ACK to wait for). */
size_t sim_optical_dispatch(sim_optical *o, const uint8_t *req, size_t n, uint64_t now_ms,
                            uint8_t *reply, size_t cap);

/* Line rate the edge must use now (bit/s). Changes only after the Negotiate
 * reply was acknowledged (1), back to 9600 in BASE. */
uint32_t sim_optical_baud(const sim_optical *o);
sim_optical_state sim_optical_get_state(const sim_optical *o);
sim_optical_key sim_optical_get_key(const sim_optical *o);
/* Logon user-id of the open session (BT74 user-id column, G p.52); 0xFFFF if none. */
uint16_t sim_optical_user_id(const sim_optical *o);
/* An optical session is open (ID or SESSION): on a shared Gen 2/3 UART the
 * MEP side is unresponsive meanwhile (6). */
bool sim_optical_session_active(const sim_optical *o);
/* Port ignoring all input (lock-out or D.O.S. hold-off) at now_ms? */
bool sim_optical_ignoring(const sim_optical *o, uint64_t now_ms);
const sim_optical_counters *sim_optical_counters_get(const sim_optical *o);
/* The link, for inspection (sizes, toggle) in tests. */
const sim_optical_link *sim_optical_get_link(const sim_optical *o);

/* Baud code (3.3 list) -> bit/s, 0 if reserved/externally defined. */
uint32_t sim_optical_baud_of_code(uint8_t code);

#endif
