/* sim_profile: a meter profile (fixtures/meters/NAME.json) and the emulator's
 * policy options.
 *
 * Owns: loading and strictly validating a profile with jansson (an unknown
 * key, a bad type or an out-of-range value is an error that names the file
 * and the JSON path), and the in-memory description of one meter type:
 * identity (BT01, ET03), dimensions (BT21, ET11), default keys, model
 * configuration, per-table overrides and policies.
 *
 * Policies are the documented choices where the MEP guide is silent or
 * contradicts itself (docs/mep.md 15). Each default is the digest's recommendation.
 */
#ifndef SIM_PROFILE_H
#define SIM_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_model.h"

#define SIM_MAX_TABLE_OVERRIDES 16

/* What a 0x0C reply carries (docs/mep.md 5.5, module-behaviour S04). */
typedef enum {
    SIM_SEQ_REPLY_NEXT = 0,   /* default: E, the next acceptable number */
    SIM_SEQ_REPLY_LAST,       /* E-1, the last accepted number (robustness tests) */
} sim_seq_reply;

/* Framing of a 0x0B reply (docs/mep.md 3.4: unspecified). */
typedef enum {
    SIM_AUTH_REPLY_SHORT = 0, /* default: `00 01 0B`, no digest */
    SIM_AUTH_REPLY_ZERO_DIGEST, /* `00 09 0B` + 8 zero bytes */
    SIM_AUTH_REPLY_SILENT,    /* no answer at all */
} sim_auth_reply;

/* A BT07 call of a procedure the key may not call (docs/mep.md 6). */
typedef enum {
    SIM_PROC_DENY_RESULT5 = 0, /* default: accept the write, post result 5 */
    SIM_PROC_DENY_ISC,         /* refuse the BT07 write with 0x03 */
} sim_proc_deny;

typedef struct {
    sim_seq_reply seq_reply;
    uint32_t seq_window;           /* accept 1..window steps ahead; default 8 */
    bool strict_full_read_count;   /* 0x30 without count -> 0x0C (field behaviour); default off */
    sim_auth_reply auth_reply;
    sim_proc_deny proc_deny;
    bool past_end_error;           /* partial read offset+count past end -> 0x05 instead of clamping; default off */
    uint32_t proc_latency_ms;      /* delay before a procedure result appears in ET59/BT08 (0..1000); default 0 */
    bool idt_bump_adds_25;         /* IDT version bump moves E by 25 (docs/mep.md 5.5); default on */
    /* Turnaround: from a request's last byte to its reply's first byte, on
     * the MEP line and the optical port (reply packet after the ACK). The
     * guide's client waits 500 ms (docs/mep.md 4); real meters answer an
     * optical request within ~30 ms (docs/optical.md 2.7, MeteringSDK
     * trace). Default 30 ms + 0..10 ms jitter from the meter's seeded
     * generator. */
    uint32_t reply_delay_ms;       /* 0..SIM_POLICY_MAX_REPLY_DELAY_MS */
    uint32_t reply_jitter_ms;      /* 0..SIM_POLICY_MAX_REPLY_JITTER_MS */
} sim_policy;

#define SIM_POLICY_DEFAULT_REPLY_DELAY_MS 30u
#define SIM_POLICY_DEFAULT_REPLY_JITTER_MS 10u
/* A slow meter may exceed the guide's 500 ms without a fault; delay +
 * jitter stays well below the module's 10 s timeout (docs/module-behaviour.md 6). */
#define SIM_POLICY_MAX_REPLY_DELAY_MS 4000u
#define SIM_POLICY_MAX_REPLY_JITTER_MS 1000u

void sim_policy_defaults(sim_policy *p);

/* Verbatim static tables ("tables": a cloned meter's bytes, fixtures/meters/
 * README.md "Cloned profiles"): kept in the overrides array before the
 * "overrides" entries, each at offset 0, beyond the 16-override limit. */
#define SIM_MAX_PROFILE_TABLES 64

typedef struct {
    uint16_t table_id;
    uint32_t offset;
    size_t len;
    uint8_t *bytes;                /* owned */
    bool from_tables;              /* "tables" entry (message names $.tables[index]) */
    uint16_t index;                /* position in its JSON array (error messages) */
} sim_table_override;

/* The optical port's settings ("optical" object, docs/optical.md). All-zero
 * means the documented defaults, so a profile without the object needs no
 * initialisation (sim_optical_port turns this into a sim_optical_cfg). */
#define SIM_PROFILE_OPTICAL_RULES 32
typedef struct {
    bool present;
    uint8_t mk[20], pk[20], rk[20];          /* docs/optical.md 4: 20-byte passwords */
    bool mk_set, pk_set, rk_set;
    bool pk_disabled;                        /* ET04 PK disable */
    int shared_uart;                         /* 0 = by generation (on for 2/3), 1 on, 2 off */
    bool dos_enabled;
    uint32_t dos_session_s, dos_holdoff_s;   /* 0 = 600 / 300 */
    bool classic_identify, strict_identify, past_end_zeros, oversize_rno;
    bool no_bad_password_alarm;
    uint8_t lockout_threshold;
    uint32_t lockout_minutes;
    uint16_t max_packet_size;                /* 0 = 1024 */
    uint8_t max_packets;                     /* 0 = 8 */
    uint8_t bauds[15];
    size_t n_bauds;                          /* 0 = {06} (9600) */
    uint32_t interchar_ms, ack_timeout_ms, retries, channel_timeout_ms; /* 0 = C12.18 values */
    bool has_retries;
    struct {
        uint16_t table_id, flags;            /* SIM_OPTICAL_R_* bits */
    } rules[SIM_PROFILE_OPTICAL_RULES];
    size_t n_rules;
} sim_profile_optical;

typedef struct {
    char name[64];                 /* profile name, e.g. "nes-3ph-fw3" */
    char path[256];                /* file it came from */
    int generation;                /* 2, 3 or 4 (shared optical UART on 2/3; MEP2 on 4) */
    /* identity */
    char manufacturer[5];          /* BT01.0 CHAR[4], also BT00.3 */
    char model_name[9];            /* BT01.4 CHAR[8] (named so: `model` is the model config) */
    uint8_t hw_version, hw_revision;
    uint16_t fw_version;           /* x.yy.zz packed as in docs/mep.md 12.3, BT01.14-15 high byte first */
    char meter_serial[17];         /* BT01.16 BCD source digits */
    char utility_serial[31];       /* ET03.0 CHAR[30] */
    uint16_t image_crc;            /* ET03.137 */
    /* dimensions */
    uint8_t bt21[10];              /* BT21 bytes as served (docs/mep.md 12.4) */
    uint8_t et11[39];              /* ET11 bytes as served (docs/mep.md 12.13) */
    uint16_t rated_voltage_v;      /* ET04.60 */
    uint16_t max_current_a;        /* ET04.58 (rating: the firmware derives its kWh limit from it) */
    /* keys (16 bytes used; may be given as 20 ASCII chars or hex) */
    uint8_t mbk[16], mak[16];
    /* model */
    sim_model_cfg model;
    int64_t start_utc_s;           /* simulated clock start (0 = wall clock at start) */
    int16_t tz_offset_min;         /* local time (BT55) = UTC + this; also BT53.4 */
    uint32_t seq_start;            /* initial E */
    bool has_seq_start;            /* else random per run */
    bool tls_required;             /* port policy (TLS issue) */
    sim_policy policy;
    /* hardware lock: tables nobody may read/write (0x03) */
    uint16_t locked_tables[16];
    size_t n_locked;
    sim_table_override overrides[SIM_MAX_TABLE_OVERRIDES + SIM_MAX_PROFILE_TABLES];
    size_t n_overrides;            /* "tables" entries, then "overrides" entries */
    sim_profile_optical optical;   /* optical port */
} sim_profile;

/* Load and validate a profile. On error returns -1 and writes a message of
 * the form "<file>: <json path>: <problem>" into err. */
int sim_profile_load(sim_profile *p, const char *path, char *err, size_t errlen);
/* The same from a JSON text of len bytes (name stands for the file in
 * messages): the strict loader without the file (fuzzing, tests). */
int sim_profile_parse(sim_profile *p, const char *text, size_t len, const char *name, char *err, size_t errlen);
/* Built-in default three-phase profile (same content as fixtures/meters/nes-3ph.json
 * when no file is given). */
void sim_profile_default(sim_profile *p);
void sim_profile_free(sim_profile *p);
/* Parse a key given as 20/16 ASCII characters or 32/40 hex digits (with or
 * without spaces/colons); first 16 bytes kept. -1 with a message on error. */
int sim_parse_key(const char *text, uint8_t out[16], char *err, size_t errlen);
/* 20-byte variant for optical passwords (docs/optical.md 4): up to 20 ASCII
 * characters (padded with 0x00, as termineter does) or 32/40 hex digits. */
int sim_parse_key20(const char *text, uint8_t out[20], char *err, size_t errlen);

#endif
