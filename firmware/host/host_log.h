/* host_log: timestamped log lines for mepmod (stderr).
 *
 * Owns: the one place the host port formats log output, so the core's log
 * hook (mepc_hal.log), the serial edge, HTTP and MQTT all print the same way:
 *   10:02:03.456 mepmod INFO  serial: opened /tmp/meter.pty (termios fallback)
 * Levels follow mepc_hal.log: 0 error, 1 warn, 2 info, 3 debug. State lives in
 * a host_log struct passed explicitly (no globals).
 */
#ifndef HOST_LOG_H
#define HOST_LOG_H

#include <stdarg.h>

enum { HOST_LOG_ERROR = 0, HOST_LOG_WARN = 1, HOST_LOG_INFO = 2, HOST_LOG_DEBUG = 3 };

typedef struct {
    int max_level;       /* print lines with level <= max_level */
    const char *name;    /* program/instance name in every line */
} host_log;

void host_log_init(host_log *l, const char *name, int max_level);
void host_logf(const host_log *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void host_vlogf(const host_log *l, int level, const char *fmt, va_list ap);

#endif
