/* mepc: the MEP client core of the module firmware (freestanding).
 *
 * Owns: the whole MEP client: framing, RC4-mode digest (MBK, optional MAK),
 * optional RC4 encryption, sequence numbers and 0x0C resync, reply
 * verification (digest over request + reply, reply matched to the outstanding
 * request), timeouts and bounded retries, transceiver/ENABLE recovery,
 * boot reads, registration, alert handling, periodic polls, and the kWh
 * sanitiser. It publishes one `mepc_readings` snapshot that the port turns
 * into HTTP/MQTT.
 *
 * Rules: no malloc, no libc I/O, no POSIX; fixed-size buffers; all time is
 * passed in (ms, wrapping uint32 arithmetic is fine); all I/O goes through
 * mepc_hal. One client per struct; no globals. A port is one file that fills
 * a mepc_hal and calls mepc_rx/mepc_run (see firmware/host/host_hal.c).
 */
#ifndef MEPC_H
#define MEPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../proto/mep_frame.h"

/* ---- HAL: everything the core needs from the board ----------------------- */
typedef struct {
    void *ctx;
    /* Queue bytes for the meter UART. Returns bytes accepted. */
    size_t (*uart_write)(void *ctx, const uint8_t *p, size_t n);
    /* Discard anything buffered in the receive path (after a recovery cycle). */
    void (*uart_flush_rx)(void *ctx);
    /* MAX3232 supply / enable (true = powered). May be NULL (variant B). */
    void (*transceiver_power)(void *ctx, bool on);
    /* Meter ENABLE line (true = asserted; the board inverts as needed). */
    void (*meter_enable)(void *ctx, bool on);
    /* Optional log sink: level 0 error, 1 warn, 2 info, 3 debug. May be NULL. */
    void (*log)(void *ctx, int level, const char *msg);
    /* Optional persistent settings hooks (key, sanitiser baseline). May be NULL. */
    bool (*store_load)(void *ctx, void *blob, size_t len);
    bool (*store_save)(void *ctx, const void *blob, size_t len);
    /* Optional secure transport: TLS mode (docs/mep.md 3.5, 7).
     * When set, the core frames nothing itself: each request goes out here
     * as a BARE C12.18 request (`3F 0846 00008E 0001`: no sequence number,
     * no digest, docs/mep.md 7.2) and the port answers later, from its event
     * loop and never from inside this call, with mepc_rx_bare() (the bare
     * response) or mepc_secure_fail(). A new call abandons any exchange
     * still in progress (the core resends after its own watchdog). The
     * port owns the TLS session (handshake, 0x0A re-handshake); uart_write
     * and mepc_rx are unused in this mode. Returns false if the port cannot
     * take the request now (treated like a lost reply). */
    bool (*secure_request)(void *ctx, const uint8_t *req, size_t n);
} mepc_hal;

/* ---- configuration -------------------------------------------------------- */
typedef struct {
    uint8_t mbk[16];
    uint8_t mak[16];
    bool has_mak;               /* use the MAK (full access) instead of the MBK */
    bool encrypt;               /* RC4-encrypt requests (Appendix B) */
    uint32_t poll_ms;           /* BT23+BT28 poll period (default 2000) */
    uint32_t reply_timeout_ms;  /* guide: 500 */
    uint8_t max_resends;        /* identical resends before giving up a request (default 3) */
    uint8_t fails_before_cycle; /* consecutive failed requests before a transceiver/ENABLE cycle (default 4) */
    uint32_t cycle_off_ms;      /* transceiver off time in a recovery cycle (default 1500) */
    uint32_t reread_dims_ms;    /* BT21 re-read period (default 600000) */
    uint32_t reread_clock_ms;   /* BT52 re-read period (default 3600000) */
    bool register_client;       /* write ET50 registration at boot (default true) */
    /* kWh sanitiser (docs/module-behaviour.md 10; HA rules 8.4) */
    uint32_t max_current_a;     /* meter rating per phase; 0 = derive from profile/ET04 or 100 A */
    uint32_t baseline_persist_ms; /* a new baseline must persist this long (default 1800000) */
    /* ET50 identification string bytes 0-29 (docs/mep.md 10.2); the
     * default is a placeholder ID (manufacturer 0x80 0x00 0x00, class 5 OSGP,
     * 4-byte program ID, no unique ID). Ports should put a unique ID in it. */
    uint8_t ident[30];
    /* Energy floor persistence through hal.store_save (docs/module-behaviour.md 8.4):
     * at most one save per store_period_ms (0 = hourly, flash wear), plus one
     * at the first confirmed value, at a new baseline and at mepc_store_flush. */
    uint32_t store_period_ms;
    /* Publish only energy values already saved (the published value lags by
     * up to store_period_ms), so a restart after a crash still has a floor at
     * or above everything published. Off by default. */
    bool publish_saved_only;
} mepc_config;

void mepc_config_defaults(mepc_config *c);
/* Key text: 20 (or 16) ASCII characters -> first 16 byte values (module
 * behaviour 3); also accepts 32/40 hex digits. Returns false if invalid. */
bool mepc_parse_key(const char *text, uint8_t out[16]);

/* ---- what the firmware publishes ----------------------------------------- */
typedef enum {
    MEPC_ST_BOOT = 0,        /* powering the line, first exchange not done */
    MEPC_ST_SYNC,            /* boot reads in progress */
    MEPC_ST_OK,              /* polling, readings fresh */
    MEPC_ST_NO_REPLY,        /* consecutive timeouts; recovery in progress */
    MEPC_ST_AUTH_FAIL,       /* 0x0B: wrong key; backing off */
    MEPC_ST_LINE_ERROR,      /* replies fail verification repeatedly */
    MEPC_ST_LOOPBACK,        /* replies equal requests: wiring loopback (S33) */
    MEPC_ST_TLS_FAIL,        /* TLS mode: handshake or session keeps failing (0x01) */
} mepc_status;

const char *mepc_status_name(mepc_status s);

typedef struct {
    int32_t v[84];           /* BT28 present values (NI_FMAT1), index as docs/mep.md 12.8 */
    uint16_t n;              /* values in this snapshot */
    uint32_t at_ms;          /* when the reply arrived */
} mepc_bt28;

typedef struct {
    mepc_status status;
    char status_text[64];    /* human-readable detail ("authentication failed (0x0B)") */
    /* identity (BT01, ET03): printable ASCII, trimmed, never containing NUL */
    char manufacturer[5];
    char model[9];
    char sw_version[12];     /* "<b14>.<b15>" like the reference (8.1) */
    char utility_sn[31];
    bool identity_valid;     /* BT01 and ET03 read at least once */
    /* clock: meter UTC (BT52) as seconds since 2000-01-01, extrapolated */
    bool clock_valid;
    uint32_t clock_s2000;
    uint32_t clock_set_at_ms;
    /* energy, Wh: published (sanitised) and raw (last BT23 reply) */
    bool energy_valid;               /* fwd_wh/rev_wh are confirmed and may be published
                                        (mepc_sanitise.h rule 2; false again after a meter change) */
    int64_t fwd_wh, rev_wh;          /* what HA reads: falls only when a held deviation becomes
                                        a new baseline (mepc_sanitise.h rule 5); continues
                                        past a 32-bit wrap */
    uint32_t raw_fwd_wh, raw_rev_wh; /* diagnostic: BT23 registers as received (UINT32) */
    bool energy_suspect;             /* raw differs from published: held */
    char suspect_reason[48];
    uint32_t energy_at_ms;           /* arrival of the last BT23 reply: ports
                                        can tell stale energy from fresh (HA filter, 8.4) */
    uint32_t poll_ms;                /* the poll period in use: ports judge staleness by it */
    bool energy_confirming;          /* readings arrive but the first value is not confirmed yet */
    /* present values (one BT28 reply) */
    bool present_valid;
    mepc_bt28 bt28;
    /* counters */
    uint32_t polls_ok, timeouts, resends, seq_resyncs, auth_failures,
             digest_rejects, mismatched_replies, recovery_cycles, alerts_seen,
             procedures_posted, stray_bytes;
    uint32_t generation;             /* increments whenever anything changes */
} mepc_readings;

/* ---- the client -------------------------------------------------------- */
/* Opaque to ports in spirit, but defined here so a port can allocate it
 * statically (sizeof is fixed). Fields are private to mepc_*.c. */
#include "mepc_private.h"

void mepc_init(mepc_client *c, const mepc_hal *hal, const mepc_config *cfg, uint32_t now_ms);
/* Bytes received from the meter UART at now_ms. */
void mepc_rx(mepc_client *c, const uint8_t *p, size_t n, uint32_t now_ms);
/* Run the state machine. Returns ms until it wants to run again (<= 1000). */
uint32_t mepc_run(mepc_client *c, uint32_t now_ms);
/* TLS mode (hal.secure_request set; docs/mep.md 3.5, 7).
 * The bare C12.18 response to the outstanding request (`00 0001 02`). */
void mepc_rx_bare(mepc_client *c, const uint8_t *resp, size_t n, uint32_t now_ms);
/* Why the port could not produce a bare response. */
typedef enum {
    MEPC_SEC_NO_REPLY = 0,   /* a MEP frame got no reply in time (docs/mep.md 4) */
    MEPC_SEC_BAD_REPLY,      /* a reply was not a well-formed TLS-mode frame */
    MEPC_SEC_TLS_ERROR,      /* meter answered 0x01, or the local TLS stack failed */
    MEPC_SEC_IDENTITY,       /* meter answered 0x03: invalid identity or key (docs/mep.md 7.3) */
    MEPC_SEC_NO_SESSION,     /* 0x0A even after a fresh handshake */
} mepc_secure_error;
void mepc_secure_fail(mepc_client *c, mepc_secure_error err, uint32_t now_ms);
/* The alert sequence `00 00` seen between TLS-mode frames (docs/mep.md 10.3). */
void mepc_secure_alert(mepc_client *c, uint32_t now_ms);
/* Save the energy floor now (a port calls this on a clean exit); does
 * nothing without hal.store_save or a confirmed value. */
void mepc_store_flush(mepc_client *c, uint32_t now_ms);
/* The current snapshot (valid until the next mepc_rx/mepc_run). */
const mepc_readings *mepc_get_readings(const mepc_client *c);

#endif
