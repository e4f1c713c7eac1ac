/* main.cpp: the board's program: setup() once, then loop() forever, as the Arduino core's
 * loop task does, including the core's serialEvent hooks for sketches that define them.
 * Between two loop() calls the runtime serves I/O and, unless --loop-pause-us 0, sleeps a
 * little: a busy loop costs a board nothing but a host core; 100 us is a tenth of a byte at
 * 9600 baud, and the UART threads keep receiving meanwhile. */
#include "Arduino.h"

#include <time.h>
#include "ahk_internal.h"
#include "ahk_runtime.h"
#include "ahk_vt.h"

void setup(void);
void loop(void);
void serialEvent(void) __attribute__((weak));
void serialEvent1(void) __attribute__((weak));
void serialEvent2(void) __attribute__((weak));

int main(int argc, char **argv)
{
    ahk::runtime_start(argc, argv);
    setup();
    for (;;) {
        loop();
        if (serialEvent && Serial.available())
            serialEvent();
        if (serialEvent1 && Serial1.available())
            serialEvent1();
#if SOC_UART_NUM > 2
        if (serialEvent2 && Serial2.available())
            serialEvent2();
#endif
        if (ahk::vt::enabled) { /* the loop quantum (ahk_vt.h, the busy-wait rule) */
            ahk::vt::loop_end();
            continue;
        }
        ahk::idle(0);
        unsigned pause = ahk::options().loop_pause_us;
        if (pause) {
            struct timespec ts = {0, (long)pause * 1000L};
            nanosleep(&ts, nullptr);
        }
    }
}
