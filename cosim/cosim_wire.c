/* cosim_wire: wire hash and capture; see cosim_wire.h. */
#include "cosim_wire.h"

#include <string.h>

static void burst_flush(cosim_wire *w)
{
    if (!w->capture || w->b_n == 0)
        return;
    fprintf(w->capture, "{\"t_us\":%llu,\"end_us\":%llu,\"dir\":\"%s\",\"n\":%zu,\"hex\":\"",
            (unsigned long long)w->b_start_us, (unsigned long long)w->b_last_us,
            w->b_dir == COSIM_WIRE_TO_METER ? "to-meter" : "to-module", w->b_n);
    static const char hexd[] = "0123456789abcdef";
    char line[2 * COSIM_WIRE_BURST_MAX];
    for (size_t i = 0; i < w->b_n; i++) {
        line[2 * i] = hexd[w->b[i] >> 4];
        line[2 * i + 1] = hexd[w->b[i] & 15];
    }
    fwrite(line, 1, 2 * w->b_n, w->capture);
    fputs("\"}\n", w->capture);
    w->b_n = 0;
}

void cosim_wire_init(cosim_wire *w, FILE *capture)
{
    memset(w, 0, sizeof *w);
    mbedtls_sha256_init(&w->sha);
    mbedtls_sha256_starts_ret(&w->sha, 0);
    w->capture = capture;
}

void cosim_wire_pcapng(cosim_wire *w, cap_line *l, uint64_t epoch_us)
{
    w->pcap = l;
    w->pcap_epoch_us = epoch_us;
}

void cosim_wire_chunk(cosim_wire *w, unsigned dir, uint64_t t_us, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    uint8_t head[11];
    for (int i = 0; i < 8; i++)
        head[i] = (uint8_t)(t_us >> (56 - 8 * i));
    head[8] = (uint8_t)dir;
    head[9] = (uint8_t)(n >> 8);
    head[10] = (uint8_t)n;
    mbedtls_sha256_update_ret(&w->sha, head, sizeof head);
    mbedtls_sha256_update_ret(&w->sha, p, n);
    w->bytes[dir & 3u] += n;
    w->chunks++;
    w->last_us = t_us;
    if (w->pcap && cap_line_bytes(w->pcap, dir == COSIM_WIRE_TO_METER ? CAP_DIR_TO_METER : CAP_DIR_FROM_METER,
                                  p, n, w->pcap_epoch_us + t_us) != CAP_OK) {
        fprintf(stderr, "mepsim-cosim: wire.pcapng: %s; the capture stops here\n", cap_line_error(w->pcap));
        cap_line_close(w->pcap, w->pcap_epoch_us + t_us);
        w->pcap = NULL;
    }
    if (!w->capture)
        return;
    if (w->b_n && (dir != w->b_dir || t_us > w->b_last_us + COSIM_WIRE_BURST_GAP_US))
        burst_flush(w);
    while (n > 0) {
        if (w->b_n == 0) {
            w->b_dir = dir;
            w->b_start_us = t_us;
        }
        size_t k = COSIM_WIRE_BURST_MAX - w->b_n;
        if (k > n)
            k = n;
        memcpy(w->b + w->b_n, p, k);
        w->b_n += k;
        w->b_last_us = t_us;
        p += k;
        n -= k;
        if (w->b_n == COSIM_WIRE_BURST_MAX)
            burst_flush(w);
    }
}

void cosim_wire_finish(cosim_wire *w, char hex[65])
{
    burst_flush(w);
    if (w->pcap) {
        cap_line_close(w->pcap, w->pcap_epoch_us + w->last_us + 1000000u);
        w->pcap = NULL;
    }
    uint8_t d[32];
    mbedtls_sha256_context c;
    mbedtls_sha256_init(&c);
    mbedtls_sha256_clone(&c, &w->sha);   /* the running hash stays usable */
    mbedtls_sha256_finish_ret(&c, d);
    mbedtls_sha256_free(&c);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

void cosim_wire_free(cosim_wire *w)
{
    if (w->pcap)
        cap_line_close(w->pcap, w->pcap_epoch_us);
    w->pcap = NULL;
    mbedtls_sha256_free(&w->sha);
}
