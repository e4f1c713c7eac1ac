/* cosim_wire: what crossed the modelled wire, in virtual time.
 *
 * Every chunk of bytes handed from one side to the other (module UART ->
 * meter line, meter line -> module UART) goes through cosim_wire_chunk with
 * its direction and virtual time. Two things come out of it:
 *  - a SHA-256 over the exact chunk stream (8-byte big-endian time in us,
 *    1 direction byte, 2-byte big-endian length, the bytes): two runs agree on
 *    it only if they put the same bytes on the wire at the same virtual times;
 *  - optionally a capture file, wire.jsonl: one line per burst (chunks in one
 *    direction less than COSIM_WIRE_BURST_GAP_US apart), e.g.
 *    {"t_us":1002083,"end_us":1027083,"dir":"to-meter","n":24,"hex":"0016..."}
 *  - optionally the same bytes as a pcapng capture (capture/README.md: one
 *    packet per frame, as mepsim --capture writes them), stamped with the
 *    meter's UTC at each virtual time, for Wireshark and mepsim-decode.
 */
#ifndef COSIM_WIRE_H
#define COSIM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mbedtls/sha256.h>

#include "cap_line.h"

#define COSIM_WIRE_TO_METER 1u
#define COSIM_WIRE_TO_MODULE 2u
#define COSIM_WIRE_BURST_GAP_US 5000u
#define COSIM_WIRE_BURST_MAX 1400u

typedef struct {
    mbedtls_sha256_context sha;
    FILE *capture;                 /* NULL: hash only */
    uint64_t bytes[3];             /* by direction */
    uint64_t chunks;
    /* the burst being collected for the capture file */
    unsigned b_dir;
    uint64_t b_start_us, b_last_us;
    size_t b_n;
    uint8_t b[COSIM_WIRE_BURST_MAX];
    cap_line *pcap;                /* NULL: no pcapng */
    uint64_t pcap_epoch_us;        /* Unix-epoch us at virtual time 0 */
    uint64_t last_us;              /* virtual time of the last chunk */
} cosim_wire;

void cosim_wire_init(cosim_wire *w, FILE *capture);
/* Also record into a pcapng capture (owned from now on; closed by
 * cosim_wire_finish); epoch_us: the Unix-epoch us of virtual time 0. */
void cosim_wire_pcapng(cosim_wire *w, cap_line *l, uint64_t epoch_us);
void cosim_wire_chunk(cosim_wire *w, unsigned dir, uint64_t t_us, const uint8_t *p, size_t n);
/* Flush the capture and write the hex digest (65 bytes with the NUL). */
void cosim_wire_finish(cosim_wire *w, char hex[65]);
void cosim_wire_free(cosim_wire *w);

#endif
