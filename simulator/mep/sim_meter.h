/* sim_meter: one emulated OSGP meter, protocol side, with no I/O.
 *
 * Owns: everything a meter does with a complete MEP frame: RC4-mode
 * authentication and sequence window (sim_security), C12.18 dispatch with
 * access control (sim_psem), procedures and ET52/ET53 transactions
 * (sim_proc), and the communication model: registration, alert conditions,
 * client health and baud changes (sim_comm). It also owns the meter's model,
 * clock and table store.
 *
 * The line layer (sim_line) owns timing: it cuts frames from the byte stream
 * (50 ms gap rule), applies the 100 ms request throttle, paces bytes at the
 * baud rate in 117-byte segments, and decides when an alert `00 00` may go
 * out (sim_meter_alert_pending + hold-off). Everything here is a plain
 * function of (state, bytes, time): many meters run in one process.
 */
#ifndef SIM_METER_H
#define SIM_METER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mep_frame.h"
#include "sim_access.h"
#include "sim_meter_counters.h"
#include "sim_model.h"
#include "sim_profile.h"
#include "sim_state.h"
#include "sim_tables.h"

typedef struct sim_meter sim_meter;

typedef struct {
    const sim_profile *profile;   /* not copied: must outlive the meter (one profile
                                   * serves a whole fleet) */
    uint8_t mbk[16], mak[16];     /* effective keys (profile defaults or CLI) */
    bool has_seq_start;           /* else a random 32-bit start per run */
    uint32_t seq_start;           /* E at power-up */
    uint64_t seed;                /* model and random start; 0 = time-based */
    double speed;                 /* simulated clock speed (1.0 = real time) */
    int64_t start_utc_ms;         /* simulated clock start; 0 = profile / wall clock */
    sim_policy policy;            /* effective policies (profile + CLI) */
    const char *name;             /* label used in logs ("meter0") */
} sim_meter_cfg;

/* Create a meter at wall time now_ms. NULL with a message on error. */
sim_meter *sim_meter_new(const sim_meter_cfg *cfg, uint64_t now_ms, char *err, size_t errlen);
void sim_meter_free(sim_meter *m);

/* Handle one complete received frame (2-byte length included). Writes the
 * whole response frame (length included) to out and returns its length, or 0
 * when the meter stays silent. If log is non-NULL a one-line decoded summary
 * goes there, e.g. "READ BT23 off=0 n=44 seq=0x77635B91 MAK -> OK 44 bytes".
 * out must hold MEP_MAX_FRAME bytes. */
size_t sim_meter_on_frame(sim_meter *m, const uint8_t *frame, size_t len, uint64_t now_ms,
                          uint8_t *out, size_t cap, char *log, size_t logcap);

/* The line finished transmitting the last response at now_ms. Applies a
 * baud change written to ET13 (docs/mep.md 2: only after the response is out). */
void sim_meter_on_sent(sim_meter *m, uint64_t now_ms);
/* Baud rate the line should use now (9600 by default). */
uint32_t sim_meter_baud(const sim_meter *m);

/* Housekeeping at now_ms: scheduled-read alert, client health timeout,
 * delayed procedure results, EP61 auto-release. Returns the wall time of the
 * next deadline (UINT64_MAX if none). */
uint64_t sim_meter_tick(sim_meter *m, uint64_t now_ms);

/* An alert condition stands for a registered client (docs/mep.md 10.3): the line
 * layer sends `00 00` at most once per second, not within 1 s of a received
 * frame, never inside a response, and reports it with sim_meter_alert_sent. */
bool sim_meter_alert_pending(const sim_meter *m);
void sim_meter_alert_sent(sim_meter *m, uint64_t now_ms);

/* Control-socket operations. */
void sim_meter_raise_alert(sim_meter *m, uint8_t et13_flags);  /* OR into ET13 MEP1 alert flags */
void sim_meter_clear_alert(sim_meter *m, uint8_t et13_flags);
/* The module's control lines as the meter sees them (docs/module-behaviour.md 2):
 * the transceiver's power and the meter's ENABLE input. Their level is
 * stored here, once, and read by the line core (deaf / muted), the display
 * and the control socket. */
typedef enum {
    SIM_METER_TRANSCEIVER = 0,
    SIM_METER_ENABLE = 1,
} sim_meter_line;
#define SIM_METER_LINES 2
/* "transceiver" / "enable" (the control socket's and the modem's names). */
const char *sim_meter_line_name(sim_meter_line which);
/* The line named name; false if it is not one of the two. */
bool sim_meter_line_parse(const char *name, sim_meter_line *out);
/* A line went on/off (counted in the meter's counters). */
void sim_meter_set_line(sim_meter *m, sim_meter_line which, bool on, uint64_t now_ms);
/* Last reported level; on until reported otherwise. */
bool sim_meter_line_on(const sim_meter *m, sim_meter_line which);
/* The same by name (sim_meter_line_parse); an unknown name changes nothing. */
void sim_meter_line_event(sim_meter *m, const char *line, bool on, uint64_t now_ms);
/* Simulated now (UTC ms) for a wall time. */
int64_t sim_meter_sim_now(const sim_meter *m, uint64_t now_ms);
void sim_meter_set_clock(sim_meter *m, uint64_t now_ms, int64_t sim_utc_ms);
void sim_meter_set_speed(sim_meter *m, uint64_t now_ms, double speed);
/* Bring the model up to now (call before reading model values for display). */
void sim_meter_advance(sim_meter *m, uint64_t now_ms);

sim_model *sim_meter_model(sim_meter *m);
sim_tables *sim_meter_tables(sim_meter *m);
const sim_meter_counters *sim_meter_counters_get(const sim_meter *m);
const char *sim_meter_name(const sim_meter *m);
uint32_t sim_meter_next_seq(const sim_meter *m);   /* E */
bool sim_meter_registered(const sim_meter *m);
uint16_t sim_meter_handle(const sim_meter *m);     /* ET14 device handle, 0 if none */
uint8_t sim_meter_alert_flags(const sim_meter *m); /* ET13 MEP1 byte 8 */
uint8_t sim_meter_device_status(const sim_meter *m); /* ET14 MEP1 status */

/* Meter manipulations for tests and scenarios. */
/* Move E (control socket / tests: "another party moved the counter", S03). */
void sim_meter_set_next_seq(sim_meter *m, uint32_t next_seq);
/* IDT Version bump (ET04.116 + 1; E += 25 under policy idt_bump_adds_25,
 * docs/mep.md 5.5). */
void sim_meter_bump_idt(sim_meter *m);
/* The meter's simulated clock (freeze/inspect from the control socket). */
sim_clock *sim_meter_clock(sim_meter *m);

/* Fault hooks: a fault layer above the meter (faults/sim_fault_set.h,
 * protocol faults and glitches of docs/module-behaviour.md 9) fills this table and
 * the meter calls it; the meter never includes that layer. The owner of the
 * fault set installs it (io/sim_port.c). */
typedef enum {
    SIM_METER_FAULT_PASS = 0,      /* send the meter's own response */
    SIM_METER_FAULT_SUPPRESS,      /* send nothing */
    SIM_METER_FAULT_REPLACE_BARE,  /* frame + digest reply.bytes like a normal response */
    SIM_METER_FAULT_REPLACE_FRAME, /* send reply.bytes as they are (already a whole frame) */
} sim_meter_fault_action;

/* The request as the meter saw it. */
typedef struct {
    const uint8_t *frame;          /* the received frame, length prefix included */
    size_t frame_len;
    const mep_request *req;        /* parsed bare request, NULL if it did not parse */
    uint32_t next_seq;             /* E after processing (for perpetual 0x0C) */
} sim_meter_fault_request;

typedef struct {
    bool unauthenticated;          /* REPLACE_BARE of 0x0B: no digest; frame per auth_reply policy */
    const uint8_t *bytes;          /* owned by the hook's ctx, valid until its next call */
    size_t len;
    const char *by;                /* name of the fault that acted (logs) */
} sim_meter_fault_reply;

/* What a TLS fault does around sim_tls (docs/mep.md 7). */
typedef struct {
    bool flip_reply, drop_session, fail_finished;
    const char *by;                /* name of the fault that acted (logs) */
} sim_meter_fault_tls;

typedef struct {
    /* After dispatch, with the bare response (code + data, before digest
     * and encryption) of an authenticated request, also on the 0x0C path;
     * never for frames that did not authenticate. */
    sim_meter_fault_action (*on_response)(void *ctx, const sim_meter_fault_request *rq, const uint8_t *bare,
                                          size_t bare_len, uint64_t now_ms, sim_meter_fault_reply *out);
    /* Once per TLS frame when TLS hooks are set; true if a fault acts. */
    bool (*on_tls)(void *ctx, uint8_t tls_code, uint64_t now_ms, sim_meter_fault_tls *out);
    /* Every table read the meter answers: may patch data[0..n), the bytes
     * [off, off+n) of table, before the digest (the reply stays valid). */
    void (*on_table_read)(void *ctx, sim_meter *m, uint16_t table, uint32_t off, uint8_t *data, size_t n,
                          uint64_t now_ms);
    void *ctx;
} sim_meter_fault_hooks;

void sim_meter_set_fault_hooks(sim_meter *m, const sim_meter_fault_hooks *hooks); /* NULL removes */
/* The BT21-derived layout of the served tables (for glitches on the line). */
void sim_meter_layout(const sim_meter *m, sim_layout *out);
/* Turnaround of the next reply in microseconds (policy reply_delay_ms plus
 * 0..reply_jitter_ms drawn from a generator seeded by the meter's seed, its
 * own stream so the draws move no other random choice): the line core waits
 * this long from a request's last byte to its reply's first, the optical
 * port from a packet's last byte to the reply packet (docs/mep.md 4). */
uint64_t sim_meter_reply_delay_us(sim_meter *m);
/* Change the turnaround at run time (scenario step "policy": a slow meter).
 * The caller checks delay + jitter <= SIM_POLICY_MAX_REPLY_MS. */
void sim_meter_set_reply_delay(sim_meter *m, uint32_t delay_ms, uint32_t jitter_ms);
/* Change the procedure-result latency at run time (0..1000 ms). */
void sim_meter_set_proc_latency(sim_meter *m, uint32_t ms);
/* The policies in force (profile + command line + scenario steps). */
const sim_policy *sim_meter_policy(const sim_meter *m);

/* Meter restart (scenario step "reboot", S31). Chosen semantics (the spec
 * is silent): E starts again (the fixed seq_start if one was configured,
 * else a new random value from the meter's seeded generator, docs/mep.md 5.5);
 * pending procedure results are lost; the table store (registration, keys,
 * written bytes), the energy registers (non-volatile in a real meter) and
 * the battery-backed clock are kept. */
void sim_meter_reboot(sim_meter *m, uint64_t now_ms);

/* TLS mode (docs/mep.md 7) plugs in here so that sim_meter does not link mbed
 * TLS itself. The owner creates a sim_tls per meter with
 * cfg.dispatch = sim_meter_tls_dispatch, cfg.dispatch_ctx = the meter, and
 * installs hooks that forward to sim_tls_on_message / sim_tls_rc4_gate.
 * Without hooks, a profile with tls_required answers every RC4 frame with
 * `00 01 0A` (docs/mep.md 7.5 [E]) and TLS codes with `00 01 01` (TLS error). */
typedef enum {
    SIM_METER_RC4_ACCEPT = 0,     /* same values as sim_tls_rc4_verdict */
    SIM_METER_RC4_REFUSE,         /* `00 01 0A` */
    SIM_METER_RC4_IGNORE,         /* silence */
} sim_meter_rc4_verdict;

typedef struct {
    /* A frame whose first body byte is 0x57/0x58/0x59/0x80: body = bytes
     * after the length field, len = its value. Returns the reply frame
     * length written to out (0 = silent). */
    size_t (*on_message)(void *ctx, const uint8_t *body, size_t len, uint8_t *out, size_t cap);
    /* Asked once per RC4-mode frame before authentication. */
    sim_meter_rc4_verdict (*rc4_gate)(void *ctx);
    void *ctx;
} sim_meter_tls_hooks;

void sim_meter_set_tls_hooks(sim_meter *m, const sim_meter_tls_hooks *hooks); /* NULL removes */
/* sim_tls_dispatch_fn for TLS_TABLE: runs a bare C12.18 request through the
 * same dispatch (access level from the PSK identity), counts it as a
 * successful request for client health, writes `code [count data]` and
 * returns its length (>= 1), or -1 on bad arguments. ctx = the sim_meter. */
int sim_meter_tls_dispatch(void *ctx, sim_level level, const uint8_t *req, size_t n, uint8_t *resp,
                           size_t cap);

/* A table write from the optical port (access already
 * checked there). Brings the model to now_ms, then runs the MEP write
 * side effects (BT07 procedure call, ET52, ET13/ET50) around the store.
 * Returns bytes stored, or < 0 (unknown table / refused procedure). */
int sim_meter_optical_write(sim_meter *m, uint16_t table, uint32_t off, const uint8_t *data, uint32_t n,
                            uint64_t now_ms);

/* Persistent state (store/sim_state.h: what is kept and the restart rule).
 * Capture the meter at wall time now_ms (monotonic) / wall_utc_ms
 * (CLOCK_REALTIME): model brought up to now, E, simulated time and speed,
 * and the tables a client or the meter writes (registration ET13/ET14/ET50,
 * alerts, schedules, ET51, every MEP-writable table but BT07/BT08/ET52).
 * out is filled afresh (sim_state_clear frees it). -1 when out of memory. */
int sim_meter_state_get(sim_meter *m, uint64_t now_ms, int64_t wall_utc_ms, sim_state *out);
/* Continue from a saved state (right after sim_meter_new). Refuses, with
 * the meter unchanged and a message naming the problem, a state saved for
 * another profile or meter serial, or a table that this profile does not
 * have or sizes differently. Otherwise the simulated clock resumes at the
 * saved simulated time plus the wall time since the save (times the saved
 * speed; a wall clock that went back counts as no time), the model resumes
 * from the saved registers and integrates that gap, E and the tables are
 * restored and registration is derived from them again. */
typedef enum { SIM_METER_STATE_OK = 0, SIM_METER_STATE_MISMATCH } sim_meter_state_result;
sim_meter_state_result sim_meter_state_apply(sim_meter *m, const sim_state *st, uint64_t now_ms,
                                             int64_t wall_utc_ms, char *err, size_t errlen);

#endif
