/* sim_meter_counters: the counters of one emulated meter, readable through
 * the control socket (tests assert on them). A header of its own so that the
 * parts of the meter that count (sim_comm, sim_proc) do not include
 * sim_meter.h, which includes them. */
#ifndef SIM_METER_COUNTERS_H
#define SIM_METER_COUNTERS_H

#include <stdint.h>

/* Counters readable through the control socket (tests assert on them). */
typedef struct {
    uint64_t frames_rx;           /* complete frames handed to the meter */
    uint64_t frames_malformed;    /* too short/long for RC4 framing, bad request layout */
    uint64_t auth_fail;           /* answered 0x0B (or silently dropped by policy) */
    uint64_t seq_rejects;         /* answered 0x0C */
    uint64_t replays;             /* rx == E-1: the previous number again */
    uint64_t encrypted_rx;        /* requests that arrived RC4-encrypted */
    uint64_t mak_requests, mbk_requests;
    uint64_t responses[256];      /* responses sent, by response code */
    uint64_t alerts_sent;         /* `00 00` sequences (line layer reports them) */
    uint64_t procedures;          /* BT07 calls executed */
    uint64_t registrations;
    uint64_t health_down;         /* ET14 active -> down transitions */
    uint64_t baud_changes;
    uint64_t line_events;         /* line events received from a module HAL */
    uint64_t transceiver_off_events, enable_off_events;
    uint64_t reboots;             /* sim_meter_reboot (scenario step, S31) */
    uint64_t pfault_acted;        /* responses a protocol fault changed or suppressed */
} sim_meter_counters;

#endif
