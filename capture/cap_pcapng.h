/* cap_pcapng: the pcapng file format, as much of it as mepsim's captures use
 * (capture/README.md "File format").
 *
 * Owns: encoding the three block kinds a capture holds (Section Header,
 * Interface Description, Enhanced Packet, with the options opt_comment,
 * shb_userappl, if_name, if_description, if_tsresol and epb_flags), walking
 * the blocks of a file held in memory (either byte order, several sections),
 * and joining a capture file that several serial lines of one process write
 * to (cap_pcapng_join). Pure except cap_pcapng_join and cap_pcapng_append,
 * which do the file I/O. Timestamps are microseconds since the Unix epoch
 * (the pcapng default resolution, if_tsresol 6).
 */
#ifndef CAP_PCAPNG_H
#define CAP_PCAPNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAP_BT_SHB 0x0A0D0D0Au
#define CAP_BT_IDB 0x00000001u
#define CAP_BT_EPB 0x00000006u
#define CAP_BYTE_ORDER_MAGIC 0x1A2B3C4Du

/* LINKTYPE_USER0: the encapsulation of capture/README.md (cap_frames.h). */
#define CAP_LINKTYPE_USER0 147u
#define CAP_SNAPLEN 65535u

/* epb_flags bits 0-1: direction (pcapng: 01 inbound, 10 outbound). */
#define CAP_EPB_INBOUND 0x1u
#define CAP_EPB_OUTBOUND 0x2u

typedef enum {
    CAP_OK = 0,
    CAP_ERR_IO,        /* open/read/write failed: errno-style message in err */
    CAP_ERR_FORMAT,    /* not a pcapng file, or a block is cut or inconsistent */
    CAP_ERR_SPACE,     /* the output buffer is too small */
    CAP_END,           /* cap_pcapng_next: no more blocks */
} cap_result;

const char *cap_result_name(cap_result r);

/* One packet to encode as an Enhanced Packet Block. */
typedef struct {
    uint32_t ifid;
    uint64_t ts_us;
    const uint8_t *data;
    size_t len;
    uint32_t flags;            /* epb_flags; 0 = option left out */
    const char *comment;       /* opt_comment; NULL or "" = none */
} cap_pcapng_packet;

/* Encoders: write one whole block to out (little-endian) and return its
 * size, or 0 if it does not fit cap. */
size_t cap_pcapng_shb(uint8_t *out, size_t cap, const char *userappl);
size_t cap_pcapng_idb(uint8_t *out, size_t cap, uint16_t linktype, const char *name, const char *desc);
size_t cap_pcapng_epb(uint8_t *out, size_t cap, const cap_pcapng_packet *p);
/* Bytes an EPB of this packet needs. */
size_t cap_pcapng_epb_size(const cap_pcapng_packet *p);

/* ---- reading a whole file in memory ------------------------------------- */
typedef struct {
    const uint8_t *p;
    size_t n, pos;
    bool big_endian;           /* of the current section */
    bool in_section;
} cap_reader;

/* One block as read. body/body_len: what lies between the total-length
 * fields. For EPBs and IDBs the fields below are filled in; pointers point
 * into the reader's buffer. */
typedef struct {
    uint32_t type;
    const uint8_t *body;
    size_t body_len;
    /* SHB */
    const char *userappl;      /* not NUL-terminated: userappl_len bytes */
    size_t userappl_len;
    /* IDB */
    uint16_t linktype;
    const char *if_name;
    size_t if_name_len;
    uint8_t tsresol;           /* 6 unless the option says otherwise */
    /* EPB */
    uint32_t ifid;
    uint64_t ts_raw;           /* in units of the interface's tsresol */
    const uint8_t *data;
    size_t len;
    uint32_t epb_flags;
    const char *comment;
    size_t comment_len;
} cap_block;

void cap_reader_init(cap_reader *r, const uint8_t *p, size_t n);
/* The next block: CAP_OK, CAP_END at the end of the data, CAP_ERR_FORMAT
 * (with a reason in err) for anything else. A file must start with an SHB. */
cap_result cap_pcapng_next(cap_reader *r, cap_block *b, char *err, size_t errlen);

/* ---- a capture file shared by the lines of one process ------------------ */
/* Join the capture at path as a new interface. If the file starts with an
 * SHB whose shb_userappl equals owner (this process's tag), the interface is
 * appended and *ifid is the number of IDBs already in the file; otherwise
 * the file is truncated and starts with a new SHB carrying owner (*ifid 0).
 * On CAP_OK *fd is open for appending (O_APPEND); every later block is one
 * write() so the lines of one single-threaded process never interleave. */
cap_result cap_pcapng_join(const char *path, const char *owner, uint16_t linktype, const char *if_name,
                           const char *if_desc, int *fd, uint32_t *ifid, char *err, size_t errlen);
/* Write one whole block (one write() call). */
cap_result cap_pcapng_append(int fd, const uint8_t *block, size_t n);

#endif
