/* ahk_vt_proto.h: the lockstep protocol between a sketch built with
 * `hil/arduino-host/build --virtual-time` and the co-simulation that runs it
 * (mepsim-cosim --firmware PATH, cosim/cosim_sketch.c). Plain C, shared by
 * both sides; the kit's README ("Virtual time") describes the rules.
 *
 * Transport: one AF_UNIX SOCK_SEQPACKET socket (--vt-fd N on the sketch's
 * command line), so every message is one packet of at most AHK_VT_MSG_MAX
 * bytes. Host byte order (both ends run on the same machine).
 *
 * A message is an ahk_vt_head followed by n_items items, each an
 * ahk_vt_item followed by len data bytes padded to a multiple of 8.
 *
 * Sketch -> co-simulation
 *   HELLO  once per boot, before anything else (reboots = restarts since power-up)
 *   SYNC   the sketch's clock reached the horizon or an output needs the
 *          other side: clock_us = its clock; items TX, LINE, HTTP_RESP, MQTT
 * Co-simulation -> sketch (the answer to HELLO and to each SYNC)
 *   GRANT  clock_us = the co-simulation's clock (= the sketch's); the sketch
 *          may run until horizon_us without talking; items RX, HTTP_REQ, STOP
 *
 * Times are virtual microseconds of the co-simulation's clock (absolute,
 * the same numbers on both sides).
 */
#ifndef AHK_VT_PROTO_H
#define AHK_VT_PROTO_H

#include <stdint.h>

#define AHK_VT_VERSION 1u
#define AHK_VT_MSG_MAX 65536u
#define AHK_VT_MARKER "virtual-time" /* OUT.d/virtual-time: the build is a co-simulation variant */

enum {
    AHK_VT_HELLO = 1,
    AHK_VT_SYNC = 2,
    AHK_VT_GRANT = 3,
};

enum {
    /* sketch -> co-simulation */
    AHK_VT_ITEM_TX = 1,        /* bytes written to the meter line's UART at t_us (its transmitter paces them) */
    AHK_VT_ITEM_LINE = 2,      /* a board line changed at t_us: arg = AHK_VT_LINE_*, flag = on */
    AHK_VT_ITEM_HTTP_RESP = 3, /* arg = request id; data = the raw HTTP response (status line, headers, body)
                                  as far as the handler wrote it; flag = 1: more of the same answer */
    AHK_VT_ITEM_MQTT = 4,      /* a publish: flag = retained, arg = topic length; data = topic then payload */
    /* co-simulation -> sketch */
    AHK_VT_ITEM_RX = 16,       /* arg = n bytes for the module: data = n bytes, then n uint32 offsets
                                  (µs after t_us) at which each byte has arrived (its stop bit ended) */
    AHK_VT_ITEM_HTTP_REQ = 17, /* arg = request id; data = a raw HTTP request, served from t_us on;
                                  flag = 1: the co-simulation waits for the answer (sync at once) */
    AHK_VT_ITEM_STOP = 18,     /* the run ends: exit with status 0 */
};

enum { AHK_VT_LINE_ENABLE = 0, AHK_VT_LINE_TRANSCEIVER = 1 };

typedef struct {
    uint16_t type;             /* AHK_VT_HELLO, _SYNC, _GRANT */
    uint16_t version;          /* AHK_VT_VERSION */
    uint32_t n_items;
    uint64_t clock_us;
    uint64_t horizon_us;       /* GRANT only */
    uint32_t reboots;          /* HELLO only */
    uint32_t flags;            /* unused, 0 */
} ahk_vt_head;

typedef struct {
    uint8_t kind;              /* AHK_VT_ITEM_* */
    uint8_t flag;
    uint16_t pad;
    uint32_t len;              /* data bytes that follow (then padding to 8) */
    uint64_t t_us;
    uint32_t arg;
    uint32_t pad2;
} ahk_vt_item;

#define AHK_VT_PAD8(n) (((n) + 7u) & ~(uint32_t)7u)

#endif
