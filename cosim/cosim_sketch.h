/* cosim_sketch: the firmware adapter for an Arduino sketch built with
 * `hil/arduino-host/build SKETCH -o PATH --virtual-time`: the sketch runs as
 * a child process (PATH, the kit's launcher, which restarts it on
 * ESP.restart() or a crash) on the co-simulation's clock, in lockstep over a
 * SOCK_SEQPACKET socket (hil/arduino-host/vt/ahk_vt_proto.h; README.md here,
 * "Arduino sketches").
 *
 * In the event loop of cosim.c the sketch is the FW source: when the
 * co-simulation's clock reaches the sketch's, it grants the sketch a horizon
 * (the next event that could send something toward it) together with the
 * bytes for the module (those the meter has already committed to the wire
 * come ahead, with their arrival times) and HTTP requests; the sketch
 * answers at the horizon, or earlier with outputs (UART bytes, board lines,
 * HTTP answers, MQTT publishes) stamped with their virtual times, which are
 * applied here when the clock reaches them. */
#ifndef COSIM_SKETCH_H
#define COSIM_SKETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cosim.h"

typedef struct cosim_sketch cosim_sketch;

/* --firmware PATH is a kit build for virtual time: PATH is executable and
 * PATH.d/virtual-time exists. false with a message naming what is wrong. */
bool cosim_sketch_check_path(const char *path, char *err, size_t errlen);

/* Start the child and wait for its first HELLO (a run is then at t = 0).
 * NULL with a message. */
cosim_sketch *cosim_sketch_start(cosim *s, char *err, size_t errlen);
/* The FW event: apply outputs that are due, grant the sketch its next slice. */
void cosim_sketch_run(cosim *s);
/* Bytes the line released toward the module at the current time
 * (run_line): matched against those sent ahead, the others forwarded. */
void cosim_sketch_line_bytes(cosim *s, const uint8_t *p, size_t n);
int cosim_sketch_http_get(cosim *s, const char *path, char *body, size_t cap, size_t *len, char *ctype,
                          size_t ctcap);
/* true once (then false) when an awaited HTTP answer has arrived: the run loop stops there. */
bool cosim_sketch_take_break(cosim_sketch *k);
size_t cosim_sketch_mqtt_take(cosim_sketch *k, cosim_mqtt_msg *out, size_t max);
/* Stop the child (a STOP grant, then its exit); idempotent. */
void cosim_sketch_stop(cosim *s);
/* counters.json "sketch": syncs, reboots, bytes sent ahead, late bytes, HTTP, MQTT. */
json_t *cosim_sketch_counters(const cosim_sketch *k);
/* A fatal error of the adapter (the sketch vanished, did not answer): message, or NULL. */
const char *cosim_sketch_error(const cosim_sketch *k);
void cosim_sketch_free(cosim_sketch *k);

/* ---- what cosim.c offers the adapter (the same paths the core's HAL takes) ---- */

/* The module's UART transmitter queues bytes now (10 bit times each). */
void cosim_module_uart_write(cosim *s, const uint8_t *p, size_t n);
/* A board line changed now: transceiver (true) or ENABLE (false). */
void cosim_module_line(cosim *s, bool transceiver, bool on);
/* A published reading at the current time: the bookkeeping of published
 * values (fell, above the model, meter changed, a held timeline starts).
 * Gives the model's registers now. */
void cosim_published(cosim *s, int64_t fwd_wh, int64_t rev_wh, const char *utility_sn, bool suspect,
                     int64_t *model_fwd, int64_t *model_rev);
/* Virtual seconds since the start and the meter's UTC now. */
double cosim_sim_seconds(const cosim *s);
int64_t cosim_utc_ms(const cosim *s);

#endif
