/* sim_modem: the bench's modem-line sensing and driving core (HIL rig).
 *
 * On the bench the board under test is wired to the meter-side USB-serial
 * adapter not only with TX/RX but with its two control lines (module-
 * behaviour.md 2): the transceiver supply (active high on the board) and
 * the meter ENABLE line (driven through an inverting stage, ~8-9 V at the
 * meter). The adapter senses them on its modem INPUTS (CTS/DSR/DCD/RI) and
 * drives the board's reset or supply relay from its modem OUTPUTS (DTR/RTS).
 *
 * This module is pure: it samples an injectable serial-port interface
 * (sim_modem_port, a struct of function pointers; sim_modem_port_sp() wraps
 * libserialport) when the owner calls sim_modem_poll() with the time, applies
 * polarity and debounce, and reports "transceiver"/"enable" on/off through a
 * callback with the time the new level was FIRST seen (so the debounce does
 * not bias an off-time measurement, S09). It also runs timed pulses on the
 * outputs (reset, power cut) without sleeping: the owner polls and the
 * module releases the output once the pulse is over.
 *
 * Timing (documented choice): poll every SIM_MODEM_DEFAULT_POLL_US (5 ms)
 * with SIM_MODEM_DEFAULT_DEBOUNCE (2) equal samples, i.e. a level must hold
 * 5-10 ms to count. The reference module keeps the transceiver off for
 * 1000 ms and ENABLE off for 2000 ms (docs/module-behaviour.md 6), so a latch-up
 * threshold T (S09) is resolved to +-5 ms; shorter glitches are filtered out.
 *
 * Every call returns a sim_modem_result; sim_modem_strerror() names it.
 * No global state: one sim_modem per adapter.
 */
#ifndef SIM_MODEM_H
#define SIM_MODEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_meter.h"

#define SIM_MODEM_DEFAULT_POLL_US 5000u
#define SIM_MODEM_DEFAULT_DEBOUNCE 2u
#define SIM_MODEM_MAX_DEBOUNCE 1000u

/* Modem inputs, as bits of the get_signals mask. */
#define SIM_MODEM_CTS 0x01u
#define SIM_MODEM_DSR 0x02u
#define SIM_MODEM_DCD 0x04u
#define SIM_MODEM_RI 0x08u

typedef enum {
    SIM_MODEM_OK = 0,
    SIM_MODEM_ERR_ARG = -1,      /* bad configuration or argument */
    SIM_MODEM_ERR_PORT = -2,     /* the port interface reported a failure */
    SIM_MODEM_ERR_BUSY = -3,     /* a pulse is already running on that output */
    SIM_MODEM_ERR_UNWIRED = -4,  /* that input/output is not configured */
} sim_modem_result;

/* The adapter as the module sees it. Each function returns 0 on success,
 * anything else on failure. get_signals fills a SIM_MODEM_* mask of the
 * inputs that are electrically asserted (RS-232 "on" / space). */
typedef struct {
    int (*get_signals)(void *ctx, unsigned *mask);
    int (*set_dtr)(void *ctx, bool on);
    int (*set_rts)(void *ctx, bool on);
    void *ctx;
} sim_modem_port;

/* The two board lines the bench senses (docs/module-behaviour.md 2). */
/* The sensed lines are the meter's control lines: one enum for both
 * (mep/sim_meter.h, sim_meter_line), so a sensed level needs no mapping. */
typedef sim_meter_line sim_modem_line;
#define SIM_MODEM_LINE_TRANSCEIVER SIM_METER_TRANSCEIVER
#define SIM_MODEM_LINE_ENABLE SIM_METER_ENABLE
#define SIM_MODEM_LINES SIM_METER_LINES
/* The two outputs: RESET asserted = board held in reset; POWER asserted =
 * board supply cut (relay opened). Idle (deasserted) = board running. */
typedef enum { SIM_MODEM_OUT_RESET = 0, SIM_MODEM_OUT_POWER, SIM_MODEM_OUTS } sim_modem_out;
/* Which adapter pin drives an output. */
typedef enum { SIM_MODEM_PIN_NONE = 0, SIM_MODEM_PIN_DTR, SIM_MODEM_PIN_RTS } sim_modem_pin;

typedef struct {
    unsigned signal;             /* one SIM_MODEM_CTS/DSR/DCD/RI, 0 = not sensed */
    bool inverted;               /* line "on" when the input reads deasserted */
} sim_modem_input;

typedef struct {
    sim_modem_pin pin;           /* SIM_MODEM_PIN_NONE = not wired */
    bool inverted;               /* output asserted by driving the pin OFF */
} sim_modem_output;

typedef struct {
    sim_modem_input in[SIM_MODEM_LINES];
    sim_modem_output out[SIM_MODEM_OUTS];
    uint32_t poll_us;            /* 0 = SIM_MODEM_DEFAULT_POLL_US */
    unsigned debounce;           /* equal samples to accept a level; 0 = default */
} sim_modem_cfg;

/* A debounced level change: line "transceiver" or "enable", at_us = time of
 * the first sample that showed the new level. The first sample after
 * sim_modem_init reports the initial level of each sensed line as an event. */
typedef void (*sim_modem_event_fn)(void *ctx, const char *line, bool on, uint64_t at_us);

typedef struct {
    unsigned samples;            /* successful get_signals calls */
    unsigned port_errors;        /* failed port calls */
    unsigned events[SIM_MODEM_LINES][2]; /* [line][on] debounced changes */
    unsigned bounces;            /* candidate levels that did not hold */
    unsigned pulses;             /* pulses completed */
} sim_modem_counters;

typedef struct {
    sim_modem_cfg cfg;
    sim_modem_port port;
    sim_modem_event_fn on_event;
    void *event_ctx;

    bool known[SIM_MODEM_LINES];     /* a level has been reported */
    bool level[SIM_MODEM_LINES];     /* debounced level */
    bool cand[SIM_MODEM_LINES];      /* candidate level being counted */
    unsigned cand_n[SIM_MODEM_LINES];
    uint64_t cand_since[SIM_MODEM_LINES];

    bool pulsing[SIM_MODEM_OUTS];
    uint64_t pulse_end_us[SIM_MODEM_OUTS];
    bool asserted[SIM_MODEM_OUTS];

    bool sampled_any;
    uint64_t next_sample_us;
    sim_modem_counters c;
} sim_modem;

/* Check cfg (a signal must be exactly one input bit and the two lines must
 * not share one; outputs must not share a pin) and set m up. The outputs are
 * driven to their idle (deasserted) level. err gets a message on failure. */
int sim_modem_init(sim_modem *m, const sim_modem_cfg *cfg, const sim_modem_port *port,
                   sim_modem_event_fn on_event, void *event_ctx, char *err, size_t errlen);

/* Sample the inputs if a sample is due at now_us, debounce, emit events; end
 * pulses whose time is up. Call at least every poll period. */
int sim_modem_poll(sim_modem *m, uint64_t now_us);
/* When sim_modem_poll wants to run next. */
uint64_t sim_modem_next_wake(const sim_modem *m);

/* Debounced level of a line: SIM_MODEM_OK with *on set, or
 * SIM_MODEM_ERR_UNWIRED / SIM_MODEM_ERR_ARG (not sensed, or not known yet). */
int sim_modem_level(const sim_modem *m, sim_modem_line line, bool *on);

/* Assert (or release) an output now; cancels a running pulse on it. */
int sim_modem_set(sim_modem *m, sim_modem_out out, bool asserted);
/* Assert an output for duration_us from now_us; sim_modem_poll releases it
 * at now_us + duration_us. SIM_MODEM_ERR_BUSY if a pulse is running. */
int sim_modem_pulse(sim_modem *m, sim_modem_out out, uint32_t duration_us, uint64_t now_us);
bool sim_modem_pulse_active(const sim_modem *m, sim_modem_out out);

/* Parse "CTS", "dsr", "DCD" (or "CD"), "RI", optionally ":inverted", into
 * an input (the mepsim option --sense-transceiver CTS[:inverted]). */
int sim_modem_parse_input(const char *text, sim_modem_input *in);
/* Parse "DTR" / "RTS", optionally ":inverted". */
int sim_modem_parse_output(const char *text, sim_modem_output *out);

const char *sim_modem_line_name(sim_modem_line line);
const char *sim_modem_strerror(int result);

/* The real adapter: wraps libserialport's sp_get_signals / sp_set_dtr /
 * sp_set_rts on an open struct sp_port * (passed as void * so this header
 * does not need <libserialport.h>). */
sim_modem_port sim_modem_port_sp(void *sp_port);

#endif
