/* ahk_internal.h: what the kit's own Arduino classes need from the runtime beyond
 * ahk_runtime.h: the pin map and board lines, the board's wall clock, the meter serial
 * ports. Not an Arduino header; sketches never see it. */
#ifndef AHK_INTERNAL_H
#define AHK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <string>

namespace ahk {

/* exit status by which the program asks the launcher to start it again (ESP.restart) */
constexpr int k_exit_restart = 85;

void runtime_start(int argc, char **argv);

/* ---- pins (pins.cpp) ------------------------------------------------------------ */
/* Load the board's pin map, or --pins FILE; false with a message on a bad file. */
bool pins_init(std::string *err = nullptr);
void pin_mode(int pin, int mode);
void pin_write(int pin, int level);
int pin_read(int pin);
int pin_analog(int pin);
/* false while the board's transceiver supply line is known to be off: an unpowered
 * MAX3232 passes nothing, so received bytes are not meter data (docs/module-behaviour.md 2) */
bool rx_passes();

/* ---- board wall clock (clock.cpp) ------------------------------------------------- */
void clock_start();
void clock_save_for_restart();
int64_t clock_wall_us();            /* the board's idea of the time since the epoch */
void clock_set_wall_us(int64_t us); /* settimeofday: moves the board's offset only */

} // namespace ahk

#endif
