/* Arduino.h: the Arduino language for an ESP32 (Arduino reference; Arduino-ESP32 core 2.x):
 * types, constants and macros, timing, digital/analog I/O, random numbers, String, Print,
 * Stream, the UARTs, the ESP object and the time helpers. The build defines ESP32,
 * ARDUINO_ARCH_ESP32 and the board macro (ARDUINO_ESP32_DEV or ARDUINO_ESP32C3_DEV). */
#ifndef Arduino_h
#define Arduino_h

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#ifdef __cplusplus
#include <algorithm>
#include <cmath>
#endif

#include "esp32-hal-gpio.h"
#include "esp32-hal-log.h"
#include "pgmspace.h"

#define PI 3.1415926535897932384626433832795
#define HALF_PI 1.5707963267948966192313216916398
#define TWO_PI 6.283185307179586476925286766559
#define DEG_TO_RAD 0.017453292519943295769236907684886
#define RAD_TO_DEG 57.295779513082320876798154814105
#define EULER 2.718281828459045235360287471352

#define LSBFIRST 0
#define MSBFIRST 1
#define CHANGE 0x03
#define FALLING 0x02
#define RISING 0x01

#define constrain(amt, low, high) ((amt) < (low) ? (low) : ((amt) > (high) ? (high) : (amt)))
#define radians(deg) ((deg)*DEG_TO_RAD)
#define degrees(rad) ((rad)*RAD_TO_DEG)
#define sq(x) ((x) * (x))

#define lowByte(w) ((uint8_t)((w)&0xff))
#define highByte(w) ((uint8_t)((w) >> 8))
#define bitRead(value, bit) (((value) >> (bit)) & 0x01)
#define bitSet(value, bit) ((value) |= (1UL << (bit)))
#define bitClear(value, bit) ((value) &= ~(1UL << (bit)))
#define bitToggle(value, bit) ((value) ^= (1UL << (bit)))
#define bitWrite(value, bit, bitvalue) ((bitvalue) ? bitSet(value, bit) : bitClear(value, bit))
#define bit(b) (1UL << (b))
#ifndef _BV
#define _BV(b) (1UL << (b))
#endif

#define interrupts()
#define noInterrupts()
#define IRAM_ATTR
#define ARDUINO_ISR_ATTR
#define DRAM_ATTR
#define RTC_DATA_ATTR
#define RTC_NOINIT_ATTR

#define clockCyclesPerMicrosecond() 240
#define microsecondsToClockCycles(a) ((a)*clockCyclesPerMicrosecond())

typedef bool boolean;
typedef uint8_t byte;
typedef unsigned int word;

#ifdef __cplusplus
extern "C" {
#endif
unsigned long millis(void);
unsigned long micros(void);
void delay(uint32_t ms);
void delayMicroseconds(uint32_t us);
void yield(void);
uint32_t getCpuFrequencyMhz(void);
#ifdef __cplusplus
}
#endif

void setup(void);
void loop(void);

#ifdef __cplusplus
/* the ESP32 core takes min/max/abs from the C++ library (both arguments of one type) */
using std::abs;
using std::isinf;
using std::isnan;
using std::max;
using std::min;
using ::round;

#include "WString.h"
#include "Printable.h"
#include "Print.h"
#include "Stream.h"
#include "IPAddress.h"
#include "HardwareSerial.h"
#include "Esp.h"

uint16_t makeWord(uint16_t w);
uint16_t makeWord(uint8_t h, uint8_t l);
#define word(...) makeWord(__VA_ARGS__)

/* ESP32 core: map() with an empty input range logs an error and returns -1 */
long map(long x, long in_min, long in_max, long out_min, long out_max);

/* random(max) is in [0, max); random(min, max) in [min, max). Until randomSeed(nonzero)
 * the numbers come from the host's entropy, as the board's come from its hardware RNG;
 * after it, the sequence is repeatable for that seed. */
long random(long howbig);
long random(long howsmall, long howbig);
void randomSeed(unsigned long seed);

/* esp32-hal-time: SNTP and the time zone. The board's clock is its own (see the kit README,
 * "Time"): settimeofday and configTime move it, never the host's clock. */
void configTime(long gmtOffset_sec, int daylightOffset_sec, const char *server1, const char *server2 = nullptr,
                const char *server3 = nullptr);
void configTzTime(const char *tz, const char *server1, const char *server2 = nullptr, const char *server3 = nullptr);
bool getLocalTime(struct tm *info, uint32_t ms = 5000);
#endif

#endif
