/* sim_comm: the meter's communication model for its MEP client (docs/mep.md 10).
 *
 * Owns: registration and discovery (ET50 byte 30 bit0 -> device handle,
 * ET14 occupancy/entry), the alert condition (ET13 MEP1 alert flags while
 * registered, docs/mep.md 10.3), the scheduled-read flag (ET13 schedule elapsing
 * in simulated time), client health (ET51 monitor/timeout -> ET14 status
 * 4 and alarm bit 4, docs/mep.md 10.5), baud-rate changes written to ET13 and
 * applied only after the response is out (docs/mep.md 2), and device removal
 * (used by EP17). The tables are the state: everything a client can read
 * (ET13/ET14/ET50) lives in the table store; this struct keeps only what a
 * real meter keeps internally (last ID and handle, timers, pending baud).
 *
 * Timers: client health runs on wall time (it is about the link); the
 * billing-read schedule runs on the simulated clock (it is calendar time).
 */
#ifndef SIM_COMM_H
#define SIM_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_access.h"
#include "sim_meter_counters.h"
#include "sim_model.h"
#include "sim_tables.h"

#define SIM_MEP1_INDEX 4u         /* ET13/ET14/ET16 entry of MEP1 (docs/mep.md 10.8) */
#define SIM_MEP1_HANDLE_FIRST 1000u
#define SIM_MEP1_HANDLE_LAST 1999u
#define SIM_ET14_ACTIVE 3u        /* ET14 device status "MEP client active" */
#define SIM_ET14_DOWN 4u          /* "MEP client down" */
#define SIM_ALERT_SCHEDULED 0x01u /* ET13 alert flags (docs/mep.md 10.3) */
#define SIM_ALERT_ON_DEMAND 0x02u
#define SIM_ALERT_MBUS 0x08u
#define SIM_ALERT_DELTA 0x10u

/* Offsets derived from ET11 (docs/mep.md 12.13-12.17), with the guide's
 * defaults when ET11 is missing or short. */
typedef struct {
    uint32_t ndev;                /* ET11.0 */
    uint32_t et13_entry;          /* ET11.1 (66) */
    uint32_t et14_entry;          /* ET11.2 (36) */
    uint32_t et15_entries;        /* ET11.3 (5) */
    uint32_t et15_entry;          /* ET11.4 (6) */
    uint32_t et16_entry;          /* ET11.5 (517) */
    uint32_t et15_write_msg;      /* ET11.11 (25) */
    uint32_t et50_sources;        /* ET11.22 (6) */
    uint32_t et13_mep;            /* ET13 offset of the MEP1 entry (264) */
    uint32_t et14_mep;            /* ET14 offset of the MEP1 entry (150) */
    uint32_t et16_mep;            /* ET16 offset of the MEP1 record (2068) */
} sim_mep_layout;

void sim_mep_layout_get(sim_tables *t, sim_mep_layout *L);

/* Pointer to bytes [off, off+n) of a table, NULL if the table is missing or
 * too short (every internal access is bounds-checked this way). */
uint8_t *sim_comm_field(sim_tables *t, uint16_t id, size_t off, size_t n);

/* Append printf-style text to a note buffer (never overflows). */
void sim_note_add(char *note, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* LTIME_DATE (docs/mep.md 11: YY MM DD hh mm ss) of a simulated UTC time. */
void sim_comm_ltime(int64_t utc_ms, uint8_t out[6]);

/* Baud code (docs/mep.md 2) to bits per second; 0 for reserved codes. */
uint32_t sim_baud_from_code(uint8_t code);

typedef struct {
    bool have_last;               /* a client was registered since power-up */
    uint8_t last_id[30];          /* its ET50 identification string */
    uint16_t last_handle;
    uint64_t last_ok_ms;          /* wall time of the last authenticated request */
    int pending_baud;             /* code to apply after the response, -1 none */
    uint8_t baud_code;            /* code of the rate in use */
    int64_t next_sched_ms;        /* simulated UTC of the next billing read, INT64_MAX never */
} sim_comm;

/* Initialise from the table store at power-up (an ET14 entry that is
 * already occupied keeps its handle). */
void sim_comm_init(sim_comm *c, sim_tables *t, int64_t sim_now_ms, uint64_t now_ms);

bool sim_comm_registered(sim_tables *t);      /* ET50[0].30 bit0 */
uint16_t sim_comm_handle(sim_tables *t);      /* ET14 MEP1 handle, 0 if not occupied */
uint8_t sim_comm_alert_flags(sim_tables *t);  /* ET13 MEP1 byte 8 */
uint8_t sim_comm_device_status(sim_tables *t);
void sim_comm_set_alert(sim_tables *t, uint8_t set, uint8_t clear);
/* registered && ET13 flags non-zero (bits 3/4 only if ET50 bits 2/3). */
bool sim_comm_alert_pending(sim_tables *t);

/* An authenticated request arrived (docs/mep.md 5.6 "successful request"). */
void sim_comm_request_ok(sim_comm *c, sim_tables *t, uint64_t now_ms, char *note, size_t cap);

/* React to a stored write (table bytes [off, off+n) already updated). */
void sim_comm_after_write(sim_comm *c, sim_tables *t, uint16_t table, uint32_t off, uint32_t n,
                          uint64_t now_ms, int64_t sim_now_ms, sim_meter_counters *ctr,
                          char *note, size_t cap);

/* The response is completely sent: apply a pending baud change. Returns
 * true if the rate changed. */
bool sim_comm_on_sent(sim_comm *c, sim_tables *t, sim_meter_counters *ctr);

/* Housekeeping; returns the next wall deadline (UINT64_MAX if none). */
uint64_t sim_comm_tick(sim_comm *c, sim_tables *t, const sim_clock *clk, uint64_t now_ms,
                       sim_meter_counters *ctr);

/* The simulated clock jumped: recompute the schedule from sim_now_ms. */
void sim_comm_reschedule(sim_comm *c, sim_tables *t, int64_t sim_now_ms);

/* Remove ET14 device entry k (EP17, docs/mep.md 10.6): clears its occupancy bit
 * and entry, resets its baud field to 9600; for the MEP client also clears
 * ET50 bit0 and the icon bytes, its on-demand flag, and returns the port
 * to 9600 after the response. */
void sim_comm_remove(sim_comm *c, sim_tables *t, uint32_t k);

/* Next scheduled billing read strictly after after_ms (simulated UTC, local
 * = UTC) for ET13 schedule bytes day/hour/minute/frequency (docs/mep.md 10.3);
 * INT64_MAX when never. */
int64_t sim_comm_next_schedule(const uint8_t sched[4], int64_t after_ms);

#endif
