/* esp32-hal-gpio.h: Arduino digital and analog I/O on ESP32 pin numbers (GPIOn = n), with the
 * ESP32 core's mode values. Levels of mapped pins become board lines (see the kit README,
 * "Pin maps"). */
#ifndef AHK_ESP32_HAL_GPIO_H
#define AHK_ESP32_HAL_GPIO_H

#include <stdint.h>

#define LOW 0x0
#define HIGH 0x1

#define INPUT 0x01
#define OUTPUT 0x03
#define PULLUP 0x04
#define INPUT_PULLUP 0x05
#define PULLDOWN 0x08
#define INPUT_PULLDOWN 0x09
#define OPEN_DRAIN 0x10
#define OUTPUT_OPEN_DRAIN 0x13
#define ANALOG 0xC0

#ifdef __cplusplus
extern "C" {
#endif
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t val);
int digitalRead(uint8_t pin);
uint16_t analogRead(uint8_t pin);
#ifdef __cplusplus
}
#endif

#endif
