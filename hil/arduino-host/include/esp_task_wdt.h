/* esp_task_wdt.h: the ESP-IDF task watchdog (IDF 4.4, Arduino-ESP32 2.x signatures). Calls
 * are logged; a subscribed task that does not call esp_task_wdt_reset() within the timeout
 * is reported, and with panic=true the board restarts, as on the board. Only the sketch's
 * loop task exists here, so any handle stands for it. */
#ifndef AHK_ESP_TASK_WDT_H
#define AHK_ESP_TASK_WDT_H

#include <stdbool.h>
#include <stdint.h>

#include "esp_err.h"

#ifndef INC_TASK_H
typedef void *TaskHandle_t;
#endif

#ifdef __cplusplus
extern "C" {
#endif
esp_err_t esp_task_wdt_init(uint32_t timeout, bool panic);
esp_err_t esp_task_wdt_deinit(void);
esp_err_t esp_task_wdt_add(TaskHandle_t handle);
esp_err_t esp_task_wdt_reset(void);
esp_err_t esp_task_wdt_delete(TaskHandle_t handle);
esp_err_t esp_task_wdt_status(TaskHandle_t handle);
#ifdef __cplusplus
}
#endif

#endif
