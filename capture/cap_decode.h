/* cap_decode: captured frames as text, in the words of mepsim's -v log.
 *
 * A MEP request is described with proto/mep_frame (mep_request_parse,
 * mep_table_name, mep_proc_name, mep_resp_name) as the meter's log line
 * does ("READ BT28 full seq=0x8E2C0016 -> OK 220 bytes"); a C12.18 packet
 * with the optical link's parser and names (sim_optical_packet_parse,
 * sim_optical_req_name, sim_optical_rsp_name: "full-read BT23 -> ok 94
 * bytes"). Without the keys nothing is decrypted or verified: an RC4 body
 * that does not parse as a plaintext request is reported as encrypted
 * (the -v line names the key level, which a capture cannot know).
 *
 * A request is held until its answer arrives on the same interface, then
 * one line gives both (as -v does); cap_decode_finish prints what is left.
 * Pure: records in, lines out through a callback.
 */
#ifndef CAP_DECODE_H
#define CAP_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAP_DECODE_IFS 64u
#define CAP_DECODE_LINE 400u

typedef void (*cap_decode_out)(void *ctx, uint32_t ifid, uint64_t ts_us, const char *line);

typedef struct {
    bool pending;
    bool tls;                 /* the held request was a TLS-mode frame */
    bool encrypted;           /* ...an RC4 body that did not parse as plaintext */
    bool read;                /* ...a table read (answer: count + data) */
    uint64_t ts_us;
    char text[CAP_DECODE_LINE];
    char note[CAP_DECODE_LINE];   /* the request's comment, printed at the end of the line */
} cap_decode_if;

typedef struct {
    cap_decode_if ifs[CAP_DECODE_IFS];
    cap_decode_out out;
    void *ctx;
} cap_decoder;

void cap_decode_init(cap_decoder *d, cap_decode_out out, void *ctx);
/* One packet of the capture: the LINKTYPE_USER0 header (cap_frames.h) and
 * the frame; comment (may be NULL) is appended in brackets. */
void cap_decode_packet(cap_decoder *d, uint32_t ifid, uint64_t ts_us, const uint8_t *p, size_t n,
                       const char *comment, size_t comment_len);
/* Requests still waiting for an answer: "(no answer)". */
void cap_decode_finish(cap_decoder *d);

/* Replace bytes outside printable ASCII by '.' (names and comments of a
 * capture are text from whoever wrote it). */
void cap_decode_printable(char *s);
/* "HH:MM:SS.mmm" (UTC) of a capture timestamp, as mepsim's log lines. */
void cap_decode_time(uint64_t ts_us, char out[16]);

/* The description of a bare MEP request (code + fields [+ data]) as the
 * meter logs it: "READ BT23 off=0 n=8", "CALL EP17 psn=3 params=2" ... */
void cap_decode_mep_request(const uint8_t *bare, size_t n, char *out, size_t cap);

#endif
