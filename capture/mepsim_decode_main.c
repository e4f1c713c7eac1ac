/* mepsim-decode: print a pcapng capture of mepsim or mepsniff the way
 * mepsim -v logs, without Wireshark (capture/README.md).
 *
 *   mepsim-decode FILE.pcapng
 *
 * One line per exchange: "HH:MM:SS.mmm <interface> <request> -> <answer>",
 * in UTC, with pcapng comments (fault marks) in brackets. Exit 0, or 2 with
 * a message when the file cannot be read or is not a valid pcapng file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cap_decode.h"
#include "cap_pcapng.h"

#define MAX_IFS CAP_DECODE_IFS

typedef struct {
    char name[MAX_IFS][96];
    uint16_t linktype[MAX_IFS];
    uint8_t tsresol[MAX_IFS];
    uint32_t n_ifs;           /* of the current section */
    uint32_t base;            /* decoder slot of the section's interface 0 */
} sections;

static void print_line(void *ctx, uint32_t ifid, uint64_t ts_us, const char *line)
{
    const sections *s = ctx;
    char t[16];
    cap_decode_time(ts_us, t);
    printf("%s %s %s\n", t, s->name[ifid % MAX_IFS], line);
}

/* Timestamp units of if_tsresol (pcapng 4.2): 10^-n, or 2^-n with bit 7. */
static uint64_t to_us(uint64_t raw, uint8_t res)
{
    if (res & 0x80) {
        unsigned e = res & 0x7F;
        return e >= 64 ? 0 : (uint64_t)((double)raw / (double)(1ull << e) * 1e6);
    }
    uint64_t v = raw;
    for (unsigned i = 6; i < res; i++)
        v /= 10;
    for (unsigned i = res; i < 6; i++)
        v *= 10;
    return v;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (len < cap)
            break;
        unsigned char *nb = realloc(buf, cap *= 2);
        if (!nb) {
            free(buf);
            buf = NULL;
        }
        buf = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *n = len;
    return buf;
}

static int decode(const char *path, const unsigned char *buf, size_t n)
{
    static sections s;
    static cap_decoder d;
    memset(&s, 0, sizeof s);
    cap_decode_init(&d, print_line, &s);
    cap_reader r;
    cap_block b;
    char err[200];
    cap_reader_init(&r, buf, n);
    cap_result rc;
    while ((rc = cap_pcapng_next(&r, &b, err, sizeof err)) == CAP_OK) {
        if (b.type == CAP_BT_SHB) {
            s.base += s.n_ifs;
            s.n_ifs = 0;
        } else if (b.type == CAP_BT_IDB) {
            uint32_t slot = (s.base + s.n_ifs++) % MAX_IFS;
            snprintf(s.name[slot], sizeof s.name[slot], "%.*s", b.if_name ? (int)b.if_name_len : 0,
                     b.if_name ? b.if_name : "");
            cap_decode_printable(s.name[slot]);
            if (!s.name[slot][0])
                snprintf(s.name[slot], sizeof s.name[slot], "if%u", (unsigned)(s.n_ifs - 1));
            s.linktype[slot] = b.linktype;
            s.tsresol[slot] = b.tsresol;
        } else if (b.type == CAP_BT_EPB) {
            if (b.ifid >= s.n_ifs) {
                fprintf(stderr, "mepsim-decode: %s: packet on interface %u, which was never described\n", path,
                        (unsigned)b.ifid);
                return 2;
            }
            uint32_t slot = (s.base + b.ifid) % MAX_IFS;
            uint64_t us = to_us(b.ts_raw, s.tsresol[slot]);
            if (s.linktype[slot] != CAP_LINKTYPE_USER0)
                print_line(&s, slot, us, "(link type not decoded: not a mepsim capture interface)");
            else
                cap_decode_packet(&d, slot, us, b.data, b.len, b.comment, b.comment_len);
        }
    }
    cap_decode_finish(&d);
    if (rc != CAP_END) {
        fflush(stdout);
        fprintf(stderr, "mepsim-decode: %s: %s: %s\n", path, cap_result_name(rc), err);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: mepsim-decode FILE.pcapng\n"
               "Print a mepsim/mepsniff capture the way mepsim -v logs (UTC times).\n"
               "Exit status: 0 ok, 2 bad usage or a file that is not a valid pcapng capture.\n");
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: mepsim-decode FILE.pcapng (see --help)\n");
        return 2;
    }
    size_t n = 0;
    unsigned char *buf = slurp(argv[1], &n);
    if (!buf) {
        fprintf(stderr, "mepsim-decode: cannot read %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    int rc = decode(argv[1], buf, n);
    free(buf);
    return rc;
}
