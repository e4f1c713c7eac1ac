/* esp32-hal-log.h: the ESP32 core's log_e/log_w/log_i/log_d/log_v. They print only at or
 * below CORE_DEBUG_LEVEL (Arduino IDE "Core Debug Level"; default 0 = none), as on the board;
 * build with -DCORE_DEBUG_LEVEL=N (kit option: AHK_CXXFLAGS) to see them in the board log. */
#ifndef AHK_ESP32_HAL_LOG_H
#define AHK_ESP32_HAL_LOG_H

#define ARDUHAL_LOG_LEVEL_NONE 0
#define ARDUHAL_LOG_LEVEL_ERROR 1
#define ARDUHAL_LOG_LEVEL_WARN 2
#define ARDUHAL_LOG_LEVEL_INFO 3
#define ARDUHAL_LOG_LEVEL_DEBUG 4
#define ARDUHAL_LOG_LEVEL_VERBOSE 5

#ifndef CORE_DEBUG_LEVEL
#define CORE_DEBUG_LEVEL 0
#endif

#ifdef __cplusplus
extern "C" {
#endif
void ahk_hal_log(char level, const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#ifdef __cplusplus
}
#endif

#define AHK_HAL_LOG(lvl, ch, fmt, ...)                                                                                 \
    do {                                                                                                               \
        if (CORE_DEBUG_LEVEL >= (lvl))                                                                                 \
            ahk_hal_log(ch, __FILE__, __LINE__, __func__, fmt, ##__VA_ARGS__);                                         \
    } while (0)
#define log_e(fmt, ...) AHK_HAL_LOG(ARDUHAL_LOG_LEVEL_ERROR, 'E', fmt, ##__VA_ARGS__)
#define log_w(fmt, ...) AHK_HAL_LOG(ARDUHAL_LOG_LEVEL_WARN, 'W', fmt, ##__VA_ARGS__)
#define log_i(fmt, ...) AHK_HAL_LOG(ARDUHAL_LOG_LEVEL_INFO, 'I', fmt, ##__VA_ARGS__)
#define log_d(fmt, ...) AHK_HAL_LOG(ARDUHAL_LOG_LEVEL_DEBUG, 'D', fmt, ##__VA_ARGS__)
#define log_v(fmt, ...) AHK_HAL_LOG(ARDUHAL_LOG_LEVEL_VERBOSE, 'V', fmt, ##__VA_ARGS__)

#endif
