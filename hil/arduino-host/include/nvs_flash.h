/* nvs_flash.h: ESP-IDF NVS partition initialisation (the Arduino core calls nvs_flash_init at
 * start-up). nvs_flash_erase() deletes every Preferences namespace of this board and leaves
 * NVS uninitialised until nvs_flash_init(). */
#ifndef AHK_NVS_FLASH_H
#define AHK_NVS_FLASH_H

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif
esp_err_t nvs_flash_init(void);
esp_err_t nvs_flash_deinit(void);
esp_err_t nvs_flash_erase(void);
esp_err_t nvs_flash_init_partition(const char *partition_label);
esp_err_t nvs_flash_erase_partition(const char *partition_label);
#ifdef __cplusplus
}
#endif

#endif
