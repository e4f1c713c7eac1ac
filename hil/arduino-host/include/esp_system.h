/* esp_system.h: the few ESP-IDF system calls Arduino sketches use: restart, free heap,
 * hardware random numbers. */
#ifndef AHK_ESP_SYSTEM_H
#define AHK_ESP_SYSTEM_H

#include <stdint.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif
void esp_restart(void) __attribute__((noreturn));
uint32_t esp_get_free_heap_size(void);
uint32_t esp_get_minimum_free_heap_size(void);
uint32_t esp_random(void);
void esp_fill_random(void *buf, size_t len);
#ifdef __cplusplus
}
#endif

#endif
