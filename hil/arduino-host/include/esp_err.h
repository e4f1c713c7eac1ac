/* esp_err.h: ESP-IDF error codes used by the APIs the kit provides (nvs_flash, task WDT). */
#ifndef AHK_ESP_ERR_H
#define AHK_ESP_ERR_H

#include <stddef.h>
#include <stdint.h>

typedef int esp_err_t;

#define ESP_OK 0
#define ESP_FAIL -1
#define ESP_ERR_NO_MEM 0x101
#define ESP_ERR_INVALID_ARG 0x102
#define ESP_ERR_INVALID_STATE 0x103
#define ESP_ERR_INVALID_SIZE 0x104
#define ESP_ERR_NOT_FOUND 0x105
#define ESP_ERR_NOT_SUPPORTED 0x106
#define ESP_ERR_TIMEOUT 0x107
#define ESP_ERR_NVS_BASE 0x1100
#define ESP_ERR_NVS_NOT_INITIALIZED (ESP_ERR_NVS_BASE + 0x01)
#define ESP_ERR_NVS_NOT_FOUND (ESP_ERR_NVS_BASE + 0x02)
#define ESP_ERR_NVS_NO_FREE_PAGES (ESP_ERR_NVS_BASE + 0x0d)
#define ESP_ERR_NVS_NEW_VERSION_FOUND (ESP_ERR_NVS_BASE + 0x10)

#ifdef __cplusplus
extern "C" {
#endif
const char *esp_err_to_name(esp_err_t code);
#ifdef __cplusplus
}
#endif

#define ESP_ERROR_CHECK(x)                                                                                             \
    do {                                                                                                               \
        esp_err_t err_rc_ = (x);                                                                                       \
        if (err_rc_ != ESP_OK)                                                                                         \
            ahk_esp_error_check_failed(err_rc_, __FILE__, __LINE__, __func__, #x);                                     \
    } while (0)
#ifdef __cplusplus
extern "C"
#endif
    void
    ahk_esp_error_check_failed(esp_err_t rc, const char *file, int line, const char *function, const char *expression)
        __attribute__((noreturn));

#endif
