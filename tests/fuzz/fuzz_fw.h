/* The part of a libFuzzer harness for the firmware core that the receive
 * path (fuzz_fw_rx.c) and TLS mode (fuzz_fw_secure.c) share: a HAL whose
 * line controls do nothing, the start of the client a little before the
 * uint32 time wrap, the length-prefixed chunk reader, and the invariants
 * checked after every chunk (run interval 1..1000 ms, snapshot strings
 * NUL-terminated and printable, BT28 within its 84 entries). Each harness
 * is one translation unit, so the functions are static. */
#ifndef FUZZ_FW_H
#define FUZZ_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mepc.h"

static void fzfw_flush(void *ctx) { (void)ctx; }
static void fzfw_line_ctl(void *ctx, bool on)
{
    (void)ctx;
    (void)on;
}

/* One client with its HAL and configuration. */
typedef struct {
    mepc_hal hal;
    mepc_config cfg;
    mepc_client c;
} fzfw;

/* A HAL writing the UART through uart_write with ctx (nothing else set)
 * and the default configuration; NULL if out of memory. */
static fzfw *fzfw_new(void *ctx, size_t (*uart_write)(void *, const uint8_t *, size_t))
{
    fzfw *f = malloc(sizeof *f);
    if (!f)
        return NULL;
    f->hal = (mepc_hal){0};
    f->hal.ctx = ctx;
    f->hal.uart_write = uart_write;
    f->hal.uart_flush_rx = fzfw_flush;
    f->hal.transceiver_power = fzfw_line_ctl;
    f->hal.meter_enable = fzfw_line_ctl;
    mepc_config_defaults(&f->cfg);
    return f;
}

/* Start the client just before the uint32 wrap (crossed during the run),
 * past the power-up wait; returns the time now. */
static uint32_t fzfw_start(fzfw *f)
{
    uint32_t now = 0xFFFF0000u;
    mepc_init(&f->c, &f->hal, &f->cfg, now);
    now += 2100;
    mepc_run(&f->c, now);
    return now;
}

/* The next "n bytes..." chunk at data[*i]: its length (cut at the end of
 * the input) with *i moved past it; false if the input ends first. */
static bool fzfw_chunk(const uint8_t *data, size_t size, size_t *i, const uint8_t **bytes, size_t *n)
{
    if (*i >= size)
        return false;
    *n = data[(*i)++];
    if (*n > size - *i)
        *n = size - *i;
    *bytes = data + *i;
    *i += *n;
    return true;
}

static void fzfw_check_str(const char *s, size_t cap)
{
    size_t i;
    for (i = 0; i < cap && s[i]; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
            abort();
    if (i == cap)
        abort();
}

/* Run the client after a chunk, then once more at its next wake, checking
 * the invariants; returns the time now. */
static uint32_t fzfw_run_and_check(mepc_client *c, uint32_t now)
{
    uint32_t w = mepc_run(c, now);
    if (w < 1 || w > 1000)
        abort();
    now += w;
    mepc_run(c, now);
    const mepc_readings *rd = mepc_get_readings(c);
    fzfw_check_str(rd->manufacturer, sizeof rd->manufacturer);
    fzfw_check_str(rd->model, sizeof rd->model);
    fzfw_check_str(rd->utility_sn, sizeof rd->utility_sn);
    fzfw_check_str(rd->sw_version, sizeof rd->sw_version);
    fzfw_check_str(rd->status_text, sizeof rd->status_text);
    if (rd->bt28.n > 84)
        abort();
    return now;
}

#endif
