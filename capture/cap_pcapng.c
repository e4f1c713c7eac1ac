/* cap_pcapng: pcapng blocks in and out, and the capture file the serial
 * lines of one process share (see cap_pcapng.h; block layouts from the
 * pcapng specification, draft-ietf-opsawg-pcapng). */
#include "cap_pcapng.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Option codes (pcapng 3.5, 4.1, 4.2, 4.3). */
#define OPT_ENDOFOPT 0u
#define OPT_COMMENT 1u
#define SHB_USERAPPL 4u
#define IF_NAME 2u
#define IF_DESCRIPTION 3u
#define IF_TSRESOL 9u
#define EPB_FLAGS 2u

#define PAD4(n) (((n) + 3u) & ~(size_t)3u)
/* An option's text is cut here: comments and names stay short. */
#define OPT_TEXT_MAX 1024u

const char *cap_result_name(cap_result r)
{
    switch (r) {
    case CAP_OK: return "ok";
    case CAP_ERR_IO: return "i/o error";
    case CAP_ERR_FORMAT: return "not a valid pcapng file";
    case CAP_ERR_SPACE: return "buffer too small";
    case CAP_END: return "end of file";
    }
    return "?";
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static size_t text_len(const char *s) { return s ? strnlen(s, OPT_TEXT_MAX) : 0; }

static size_t opt_size(size_t len) { return len ? 4u + PAD4(len) : 0; }

/* Append an option at out+o (room already checked); returns the new offset. */
static size_t put_opt(uint8_t *out, size_t o, uint16_t code, const void *v, size_t len)
{
    if (!len)
        return o;
    put16(out + o, code);
    put16(out + o + 2, (uint16_t)len);
    memcpy(out + o + 4, v, len);
    memset(out + o + 4 + len, 0, PAD4(len) - len);
    return o + 4 + PAD4(len);
}

/* Header (type, total length) and trailer (total length) around a body. */
static size_t close_block(uint8_t *out, uint32_t type, size_t total)
{
    put32(out, type);
    put32(out + 4, (uint32_t)total);
    put32(out + total - 4, (uint32_t)total);
    return total;
}

size_t cap_pcapng_shb(uint8_t *out, size_t cap, const char *userappl)
{
    size_t ul = text_len(userappl);
    size_t opts = ul ? opt_size(ul) + 4u : 0;
    size_t total = 8 + 16 + opts + 4;
    if (total > cap)
        return 0;
    put32(out + 8, CAP_BYTE_ORDER_MAGIC);
    put16(out + 12, 1); /* major */
    put16(out + 14, 0); /* minor */
    memset(out + 16, 0xFF, 8); /* section length: not given (-1) */
    size_t o = 24;
    if (ul) {
        o = put_opt(out, o, SHB_USERAPPL, userappl, ul);
        memset(out + o, 0, 4);
    }
    return close_block(out, CAP_BT_SHB, total);
}

size_t cap_pcapng_idb(uint8_t *out, size_t cap, uint16_t linktype, const char *name, const char *desc)
{
    static const uint8_t tsresol = 6; /* microseconds */
    size_t nl = text_len(name), dl = text_len(desc);
    size_t total = 8 + 8 + opt_size(nl) + opt_size(dl) + opt_size(1) + 4 + 4;
    if (total > cap)
        return 0;
    put16(out + 8, linktype);
    put16(out + 10, 0);
    put32(out + 12, CAP_SNAPLEN);
    size_t o = 16;
    o = put_opt(out, o, IF_NAME, name, nl);
    o = put_opt(out, o, IF_DESCRIPTION, desc, dl);
    o = put_opt(out, o, IF_TSRESOL, &tsresol, 1);
    memset(out + o, 0, 4);
    return close_block(out, CAP_BT_IDB, total);
}

size_t cap_pcapng_epb_size(const cap_pcapng_packet *p)
{
    size_t cl = text_len(p->comment);
    size_t opts = opt_size(cl) + (p->flags ? opt_size(4) : 0);
    return 8 + 20 + PAD4(p->len) + (opts ? opts + 4 : 0) + 4;
}

size_t cap_pcapng_epb(uint8_t *out, size_t cap, const cap_pcapng_packet *p)
{
    size_t total = cap_pcapng_epb_size(p);
    if (total > cap || p->len > CAP_SNAPLEN)
        return 0;
    put32(out + 8, p->ifid);
    put32(out + 12, (uint32_t)(p->ts_us >> 32));
    put32(out + 16, (uint32_t)p->ts_us);
    put32(out + 20, (uint32_t)p->len);
    put32(out + 24, (uint32_t)p->len);
    if (p->len)
        memcpy(out + 28, p->data, p->len);
    memset(out + 28 + p->len, 0, PAD4(p->len) - p->len);
    size_t o = 28 + PAD4(p->len);
    size_t cl = text_len(p->comment);
    if (cl || p->flags) {
        o = put_opt(out, o, OPT_COMMENT, p->comment, cl);
        if (p->flags) {
            uint8_t f[4];
            put32(f, p->flags);
            o = put_opt(out, o, EPB_FLAGS, f, 4);
        }
        memset(out + o, 0, 4);
    }
    return close_block(out, CAP_BT_EPB, total);
}

/* ---- reading ------------------------------------------------------------ */

static uint16_t get16(const cap_reader *r, const uint8_t *p)
{
    return r->big_endian ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}
static uint32_t get32(const cap_reader *r, const uint8_t *p)
{
    return r->big_endian ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                         : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

void cap_reader_init(cap_reader *r, const uint8_t *p, size_t n)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    r->n = n;
}

#define FAIL(...) (snprintf(err, errlen, __VA_ARGS__), CAP_ERR_FORMAT)

/* Walk options o[0..n); fill the fields this block kind has. */
static cap_result read_options(const cap_reader *r, cap_block *b, const uint8_t *o, size_t n, char *err,
                               size_t errlen)
{
    size_t i = 0;
    while (i + 4 <= n) {
        uint16_t code = get16(r, o + i), len = get16(r, o + i + 2);
        if (code == OPT_ENDOFOPT)
            return CAP_OK;
        if (i + 4 + PAD4(len) > n)
            return FAIL("option %u of a block 0x%08X runs past the block", code, (unsigned)b->type);
        const uint8_t *v = o + i + 4;
        if (code == OPT_COMMENT) {
            b->comment = (const char *)v;
            b->comment_len = len;
        } else if (b->type == CAP_BT_SHB && code == SHB_USERAPPL) {
            b->userappl = (const char *)v;
            b->userappl_len = len;
        } else if (b->type == CAP_BT_IDB && code == IF_NAME) {
            b->if_name = (const char *)v;
            b->if_name_len = len;
        } else if (b->type == CAP_BT_IDB && code == IF_TSRESOL && len >= 1) {
            b->tsresol = v[0];
        } else if (b->type == CAP_BT_EPB && code == EPB_FLAGS && len == 4) {
            b->epb_flags = get32(r, v);
        }
        i += 4 + PAD4(len);
    }
    return CAP_OK;
}

static cap_result read_shb(cap_reader *r, size_t at, char *err, size_t errlen)
{
    if (r->n - at < 12)
        return FAIL("section header cut at byte %zu", at);
    const uint8_t *m = r->p + at + 8;
    if (m[0] == 0x4D && m[1] == 0x3C && m[2] == 0x2B && m[3] == 0x1A)
        r->big_endian = false;
    else if (m[0] == 0x1A && m[1] == 0x2B && m[2] == 0x3C && m[3] == 0x4D)
        r->big_endian = true;
    else
        return FAIL("section header at byte %zu has no byte-order magic", at);
    r->in_section = true;
    return CAP_OK;
}

static cap_result parse_body(const cap_reader *r, cap_block *b, char *err, size_t errlen)
{
    const uint8_t *p = b->body;
    size_t n = b->body_len;
    switch (b->type) {
    case CAP_BT_SHB:
        if (n < 16)
            return FAIL("section header too short");
        return read_options(r, b, p + 16, n - 16, err, errlen);
    case CAP_BT_IDB:
        if (n < 8)
            return FAIL("interface description too short");
        b->linktype = get16(r, p);
        b->tsresol = 6;
        return read_options(r, b, p + 8, n - 8, err, errlen);
    case CAP_BT_EPB: {
        if (n < 20)
            return FAIL("enhanced packet block too short");
        b->ifid = get32(r, p);
        b->ts_raw = (uint64_t)get32(r, p + 4) << 32 | get32(r, p + 8);
        b->len = get32(r, p + 12);
        if (b->len > n - 20 || PAD4(b->len) > n - 20)
            return FAIL("packet of %zu bytes does not fit its block", b->len);
        b->data = p + 20;
        return read_options(r, b, p + 20 + PAD4(b->len), n - 20 - PAD4(b->len), err, errlen);
    }
    default:
        return CAP_OK; /* other block kinds are skipped by the caller */
    }
}

cap_result cap_pcapng_next(cap_reader *r, cap_block *b, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    if (r->pos == r->n)
        return r->in_section ? CAP_END : FAIL("empty file");
    if (r->n - r->pos < 12)
        return FAIL("block header cut at byte %zu", r->pos);
    const uint8_t *p = r->p + r->pos;
    bool shb = p[0] == 0x0A && p[1] == 0x0D && p[2] == 0x0D && p[3] == 0x0A;
    if (!shb && !r->in_section)
        return FAIL("no section header block at the start (not a pcapng file?)");
    if (shb && read_shb(r, r->pos, err, errlen) != CAP_OK)
        return CAP_ERR_FORMAT;
    b->type = get32(r, p);
    uint32_t total = get32(r, p + 4);
    if (total < 12 || total % 4 || total > r->n - r->pos)
        return FAIL("block at byte %zu: length %u %s", r->pos, (unsigned)total,
                    total > r->n - r->pos ? "runs past the end of the file" : "is invalid");
    if (get32(r, p + total - 4) != total)
        return FAIL("block at byte %zu: trailing length differs", r->pos);
    b->body = p + 8;
    b->body_len = total - 12;
    r->pos += total;
    return parse_body(r, b, err, errlen);
}

/* ---- the shared file ------------------------------------------------------ */

static cap_result io_fail(char *err, size_t errlen, const char *what, const char *path)
{
    snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
    return CAP_ERR_IO;
}

cap_result cap_pcapng_append(int fd, const uint8_t *block, size_t n)
{
    while (n) {
        ssize_t w = write(fd, block, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return CAP_ERR_IO;
        block += w;
        n -= (size_t)w;
    }
    return CAP_OK;
}

/* Interfaces of a file this process started: its IDB count; -1 if the file
 * is not ours (another owner, empty, unreadable). */
static long count_ours(int fd, const char *owner)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size > (64L << 20))
        return -1;
    uint8_t *buf = malloc((size_t)st.st_size);
    if (!buf)
        return -1;
    size_t n = (size_t)st.st_size;
    long ifs = -1;
    if (pread(fd, buf, n, 0) == (ssize_t)n) {
        cap_reader r;
        cap_block b;
        char e[160];
        cap_reader_init(&r, buf, n);
        if (cap_pcapng_next(&r, &b, e, sizeof e) == CAP_OK && b.type == CAP_BT_SHB &&
            b.userappl_len == strlen(owner) && memcmp(b.userappl, owner, b.userappl_len) == 0) {
            ifs = 0;
            cap_result rc;
            while ((rc = cap_pcapng_next(&r, &b, e, sizeof e)) == CAP_OK)
                ifs += b.type == CAP_BT_IDB;
            if (rc != CAP_END)
                ifs = -1;
        }
    }
    free(buf);
    return ifs;
}

cap_result cap_pcapng_join(const char *path, const char *owner, uint16_t linktype, const char *if_name,
                           const char *if_desc, int *fd, uint32_t *ifid, char *err, size_t errlen)
{
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0)
        return io_fail(err, errlen, "cannot open capture", path);
    uint8_t block[2 * OPT_TEXT_MAX + 64];
    long ours = count_ours(f, owner);
    if (ours < 0) {
        size_t n = cap_pcapng_shb(block, sizeof block, owner);
        if (ftruncate(f, 0) != 0 || cap_pcapng_append(f, block, n) != CAP_OK) {
            cap_result rc = io_fail(err, errlen, "cannot write capture", path);
            close(f);
            return rc;
        }
        ours = 0;
    }
    int fl = fcntl(f, F_GETFL);
    size_t n = cap_pcapng_idb(block, sizeof block, linktype, if_name, if_desc);
    if (fl < 0 || fcntl(f, F_SETFL, fl | O_APPEND) != 0 || cap_pcapng_append(f, block, n) != CAP_OK) {
        cap_result rc = io_fail(err, errlen, "cannot write capture", path);
        close(f);
        return rc;
    }
    *fd = f;
    *ifid = (uint32_t)ours;
    return CAP_OK;
}
