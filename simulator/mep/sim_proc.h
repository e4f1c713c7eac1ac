/* sim_proc: procedures (BT07 -> ET59/BT08) and ET52/ET53 transactions.
 *
 * Owns: the BT07 call checks (procedure sequence number repeated -> 0x04,
 * docs/mep.md 8.1; unauthorised call -> result 5 or 0x03 by policy, docs/mep.md 6),
 * the procedures a MEP client uses (EP16, EP17, EP19, EP39, EP61; others ->
 * result 6), SP08 from the optical port, posting results in ET59 or BT08 (docs/mep.md 8.1, optionally after
 * policy.proc_latency_ms), the EP61 transaction lock with its 10 s
 * auto-release (ET54 R+6/R+7), and transactions (docs/mep.md 9): execute ET52
 * when its trailing number matches, run each record through the same
 * dispatch at the level of the key that wrote ET52, write ET53 (type 1, or
 * 2 when records do not fit or are malformed, 4 for group broadcasts), and
 * never execute the same (number, content) twice.
 *
 * Choices where the guide is silent (documented in sim_proc.c):
 *   EP16: the delta is applied as a step (no slewing), energy is not booked
 *         for the skipped time.
 *   EP39 types: 3 scheduled read data, 4 scheduled read data + alarms
 *         (what the reference module sends), 5 on-demand read data,
 *         11 clear M-Bus alert, 12 clear delta data alert (guide).
 */
#ifndef SIM_PROC_H
#define SIM_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_access.h"
#include "sim_comm.h"
#include "sim_meter_counters.h"
#include "sim_model.h"
#include "sim_profile.h"
#include "sim_tables.h"

#define SIM_PROC_RESULT_MAX 16u       /* 4 header bytes + BT00.10 (12) data bytes */
#define SIM_EP61_AUTO_RELEASE_MS 10000u

/* Procedure result codes (docs/mep.md 8.2). */
enum sim_proc_result {
    SIM_PR_COMPLETED = 0,
    SIM_PR_NOT_COMPLETE = 1,
    SIM_PR_INVALID_PARAM = 2,
    SIM_PR_CONFLICT = 3,
    SIM_PR_TIMING = 4,
    SIM_PR_NO_AUTH = 5,
    SIM_PR_UNRECOGNISED = 6,
    SIM_PR_QUEUE_FULL = 7,            /* EP19 */
};

/* Runs one transaction record: bare request in, response body out (see
 * sim_psem_dispatch). */
typedef size_t (*sim_proc_dispatch_fn)(void *ctx, const uint8_t *req, size_t n, sim_level level,
                                       size_t max_data, uint8_t *resp, size_t cap);

/* What procedures may touch, passed in per call (no hidden state). */
typedef struct {
    sim_tables *tables;
    sim_comm *comm;
    sim_clock *clock;
    sim_model *model;
    const sim_policy *policy;
    sim_meter_counters *ctr;
    uint64_t now_ms;
    sim_proc_dispatch_fn dispatch;
    void *dispatch_ctx;
    bool optical;                     /* the call came in over the optical port */
} sim_proc_env;

/* C12.19 standard procedure 8 "clear manufacturer status flags": on the
 * optical port (the only port that serves BT03, docs/optical.md 5) it clears
 * BT03's manufacturer status bytes, the invalid-password alarm among them
 * (docs/optical.md 4); its result goes to BT08. Not in the MEP matrix. */
#define SIM_SP_CLEAR_MFG_STATUS 8u

typedef struct {
    uint8_t last_psn;                 /* 255 at power-up (docs/mep.md 8.1) */
    /* delayed result (policy.proc_latency_ms) */
    bool result_pending;
    uint64_t result_due_ms;
    uint16_t result_table;
    uint8_t result[SIM_PROC_RESULT_MAX];
    size_t result_len;
    /* EP61 */
    bool tx_locked;
    uint64_t tx_lock_until_ms;
    /* ET52/ET53 */
    sim_level et52_level;             /* key of the last ET52 write */
    bool tx_running;
    bool tx_done;
    uint16_t tx_number;
    uint64_t tx_hash;
    uint32_t tx_executed;             /* transactions run since power-up */
} sim_proc;

void sim_proc_init(sim_proc *p);

/* Before a BT07 write is stored: 0 to go on, or the response code (0x04
 * repeated PSN, 0x03 unauthorised under SIM_PROC_DENY_ISC, 0x05 too short
 * to be a call). */
uint8_t sim_proc_check_call(sim_proc *p, const sim_proc_env *e, const uint8_t *data, size_t n,
                            sim_level level, char *note, size_t cap);
/* After the BT07 write is stored: run the procedure and post its result. */
void sim_proc_call(sim_proc *p, const sim_proc_env *e, const uint8_t *data, size_t n,
                   sim_level level, char *note, size_t cap);

/* Before an ET52 write / ET53 read: 0 or 0x04 (transaction running). */
uint8_t sim_proc_check_et52_write(const sim_proc *p);
/* After an ET52 write: execute the transaction when it is complete. */
void sim_proc_after_et52_write(sim_proc *p, const sim_proc_env *e, sim_level level, char *note,
                               size_t cap);

/* Post delayed results, release an expired EP61 lock. Returns the next
 * wall deadline (UINT64_MAX if none). */
uint64_t sim_proc_tick(sim_proc *p, const sim_proc_env *e);

#endif
