/* ahk_vt.h: the sketch's side of virtual time (a build with `--virtual-time`,
 * compiled with AHK_VIRTUAL_TIME): a local clock that only the sketch's own
 * calls move, and the lockstep link to the co-simulation that runs it
 * (vt/ahk_vt_proto.h; the kit's README, "Virtual time").
 *
 * THE BUSY-WAIT RULE. Nothing waits on the wall clock; virtual time moves by
 *   delay(n)                 exactly n ms (delayMicroseconds(n): n µs)
 *   millis() / micros()      k_q_time_us per call
 *   yield(), an idle wait    k_q_yield_us
 *   an empty Serial read     k_q_empty_rx_us per available()/read()/peek() that finds nothing
 *   loop() returning         a loop quantum: k_q_loop_min_us after an iteration that did output
 *                            I/O (serial write, a pin change, an HTTP request served, an MQTT
 *                            publish, console output), doubling per iteration without it up to
 *                            k_q_loop_max_us (receiving does not reset it: a reply trickling in
 *                            at 1 byte/ms is read in batches, the UART buffers it as on a board)
 * so `while (!Serial2.available())` and `while (millis() - t < 500)` end, and
 * an idle loop() costs a few dozen iterations per simulated second.
 *
 * Synchronisation is conservative: the co-simulation grants a horizon (its
 * next event that could send something toward the sketch); below it the
 * sketch runs alone. Bytes the meter has already committed to the wire come
 * ahead of time with their arrival times and appear in the UART's receive
 * buffer when the clock passes them. An output (TX bytes, a board line)
 * lowers the horizon: a pin change to its own time, TX bytes to the arrival
 * of the last one at the meter (nothing the meter does can depend on them
 * earlier). Only without AHK_VIRTUAL_TIME are these functions absent. */
#ifndef AHK_VT_H
#define AHK_VT_H

#include <stddef.h>
#include <stdint.h>

#include <string>

namespace ahk {
namespace vt {

constexpr uint64_t k_q_time_us = 1;          /* per millis()/micros() call */
constexpr uint64_t k_q_yield_us = 10;        /* yield(), idle(0) */
constexpr uint64_t k_q_empty_rx_us = 10;     /* an empty available()/read()/peek() */
constexpr uint64_t k_q_loop_min_us = 100;    /* loop() return after an iteration with I/O */
constexpr uint64_t k_q_loop_max_us = 32000;  /* cap of the doubling idle loop quantum */

#ifdef AHK_VIRTUAL_TIME
constexpr bool enabled = true;
#else
constexpr bool enabled = false;
#endif

/* Connect on fd (HELLO, first GRANT). Exits 2 with a message if the other side is not there. */
void start(int fd, uint64_t seed, int64_t utc_base_ms, unsigned reboots);
bool started();
uint64_t abs_us();                 /* the co-simulation's clock */
uint64_t boot_us();                /* µs since this boot (millis/micros) */
int64_t utc_us();                  /* the co-simulation's UTC now (the "host clock" of a virtual board) */
void advance(uint64_t us);         /* move the clock (syncing at the horizon) */
void sync_now();                   /* report the clock and the outputs now (before ESP.restart's exit) */
void note_io();                    /* this loop() iteration did I/O */
void loop_end();                   /* loop() returned: advance by the loop quantum */
uint64_t random64();               /* repeatable generator seeded by --vt-seed */

/* the meter line (the UART the co-simulation drives) */
void rx_open(size_t capacity);
int rx_available();                /* reveals due bytes; an empty answer costs k_q_empty_rx_us */
int rx_peek();
int rx_read();
void rx_flush();
/* write blocks while more than fifo bytes wait, as the board's UART driver does */
void tx_write(const uint8_t *p, size_t n, unsigned long baud, unsigned frame_bits, size_t fifo);
void tx_drain();                   /* flush(): until the last byte is on the wire */
int tx_room(size_t fifo);          /* fifo minus the bytes still waiting */

/* board lines, HTTP, MQTT */
void line_event(int which, bool on);  /* AHK_VT_LINE_* */
bool http_take(uint32_t *id, std::string *request);
/* The answer to request id, written as the handler writes it: bytes appended so far go with
 * the next sync, as a board's socket sends them while the handler goes on (a handler that
 * answers, waits and restarts still answers), the rest at http_end. */
void http_begin(uint32_t id);
void http_append(const void *p, size_t n);
void http_end();
void mqtt_publish(const std::string &topic, const std::string &payload, bool retained);

} // namespace vt
} // namespace ahk

#endif
