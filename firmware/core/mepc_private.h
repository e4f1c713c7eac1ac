/* mepc_private: the mepc_client struct (included by mepc.h only).
 *
 * Owns: every piece of client state, in fixed-size buffers, so a port can
 * allocate a client statically and many clients can coexist. Fields are
 * private to firmware/core/mepc_*.c; ports use the functions of mepc.h.
 */
#ifndef MEPC_PRIVATE_H
#define MEPC_PRIVATE_H

#include "mepc_link.h"
#include "mepc_sanitise.h"
#include "mepc_tables.h"

/* What the client does next, one bit per request kind; lower bit = higher
 * priority (docs/mep.md 8.1: alerts before other procedure calls; identity and
 * dimensions before polls). */
enum {
    MEPC_OP_BT52 = 0,      /* clock */
    MEPC_OP_BT01,          /* identity */
    MEPC_OP_BT21,          /* dimensions -> BT23/BT28 layout */
    MEPC_OP_ET03,          /* utility serial (meter change detection) */
    MEPC_OP_ET11,          /* ET13 entry size */
    MEPC_OP_ET04,          /* rating for the sanitiser */
    MEPC_OP_ET50_READ,     /* registration state */
    MEPC_OP_ET50_ID,       /* write identification string */
    MEPC_OP_ET50_FLAGS,    /* write MEP flags */
    MEPC_OP_ET13_FLAGS,    /* alert flags */
    MEPC_OP_EP39,          /* BT07 write: post MEP data */
    MEPC_OP_PROC_RESULT,   /* ET59 / BT08 */
    MEPC_OP_BT23,          /* poll: energy */
    MEPC_OP_BT28,          /* poll: present values */
    MEPC_OP_COUNT,
    MEPC_OP_NONE = 0xFF,
};

/* Line/power phases of the client. */
enum {
    MEPC_PH_POWER_OFF = 0, /* recovery: transceiver (and ENABLE) off for cycle_off_ms */
    MEPC_PH_POWER_ON,      /* transceiver on, settling before ENABLE */
    MEPC_PH_ENABLE,        /* ENABLE on, settling before the first request */
    MEPC_PH_READY,         /* may send when an op is due */
    MEPC_PH_WAIT,          /* one request outstanding */
    MEPC_PH_BACKOFF,       /* waiting before the next request (auth, 0x0C cap, failures) */
};

/* What the client keeps across restarts through mepc_hal.store_load/save:
 * the energy values it last published for one meter, as a floor for the
 * sanitiser (a restart must not let a glitch through). Opaque to ports. */
#define MEPC_STORE_MAGIC 0x4D455043u  /* "MEPC" */
#define MEPC_STORE_VERSION 1u
typedef struct {
    uint32_t magic;
    uint32_t version;
    char serial[32];               /* ET03 utility serial, NUL-terminated */
    int64_t fwd_wh, rev_wh;
} mepc_store_blob;

typedef struct mepc_client {
    mepc_hal hal;
    mepc_config cfg;
    mepc_readings rd;
    mepc_link link;
    mepc_link_req req;             /* the outstanding (or last) request */
    mepc_layout layout;
    mepc_san_reg san_fwd, san_rev;

    uint8_t phase;
    uint32_t phase_until;          /* end of a timed phase */
    uint32_t next_seq;
    uint32_t due;                  /* MEPC_OP_* bits */
    uint8_t op;                    /* op of the outstanding request */
    uint8_t sends;                 /* frames sent for this op attempt (original + resends) */
    bool rejected;                 /* a reply to the outstanding request failed verification */
    uint32_t sent_at;              /* when the current frame was handed to the UART */
    uint32_t last_send_ms;
    bool sent_once;
    uint8_t seq_errs_in_row;       /* consecutive 0x0C */
    uint8_t auth_in_row;           /* consecutive 0x0B */
    uint32_t auth_backoff_ms;
    uint16_t fails_in_row;         /* consecutive failed requests (no verified reply) */
    uint16_t fails_since_cycle;
    uint16_t rejects_in_row;
    uint8_t loopbacks_in_row;
    uint32_t cycle_backoff_ms;     /* minimum time between recovery cycles, grows */
    uint32_t last_cycle_ms;
    bool cycled_once;
    uint8_t op_errors[MEPC_OP_COUNT]; /* consecutive error replies per op (bounded retries) */

    /* schedule */
    bool polled_once, have_good_poll;
    uint32_t last_poll_ms;
    uint32_t dims_read_ms, clock_read_ms;
    bool dims_read_once, clock_read_once;
    bool poll_bt23_ok;             /* this poll's BT23 succeeded */

    /* what we know about the meter */
    bool et11_valid;
    uint8_t et11_devices, et11_entry;
    bool rating_valid;
    mepc_rating rating;
    uint32_t max_power_w;
    bool bt01_ok, et03_ok;         /* identity read at least once */
    bool et50_known;
    uint8_t et50_flags;
    char serial_known[31];
    bool stored_valid;             /* blob loaded at init */
    mepc_store_blob stored;
    bool saved_once;
    uint32_t saved_ms;
    int64_t saved_fwd, saved_rev;  /* the values of the last successful save */
    /* BT28 power (Fwd_W, Rev_W) since the last BT23 reading, for the
     * sanitiser's power check (mepc_sanitise.h rule 3) */
    bool pw_valid[2], pw_have_last[2];
    uint32_t pw_min[2], pw_last[2];

    /* alerts (docs/mep.md 10.3) and procedures (8.1) */
    bool alert_flow;               /* a flow is running */
    bool alert_pending;            /* an alert came while flows were rate-limited */
    uint32_t alert_flow_ms;        /* start of the last flow */
    bool alert_flow_once;
    bool alert_hold;               /* flows deferred until alert_hold_until (BT07 rate limit) */
    uint32_t alert_hold_until;
    uint8_t alert_todo;            /* ET13 flags still to act on */
    uint8_t alert_idle_flows;      /* consecutive flows that found nothing to do */
    uint8_t post_type;             /* EP39 type being posted */
    uint8_t psn;                   /* last procedure sequence number used (5..9) */
    uint8_t psn_tries, result_tries;
    uint32_t bt07_ms[4];           /* times of the last BT07 writes (ring) */
    uint8_t bt07_n, bt07_pos;
    uint32_t zero_window_ms;
    uint8_t zero_in_window;
    bool line_fault;
    uint32_t last_zero_ms;

    /* TLS mode (hal.secure_request set) */
    uint8_t tls_in_row;            /* consecutive TLS failures (0x01/0x03/0x0A) */
    uint32_t tls_backoff_ms;       /* grows like the 0x0B back-off */
} mepc_client;

#endif
