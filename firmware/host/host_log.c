/* host_log: timestamped log lines for mepmod (see host_log.h). */
#include "host_log.h"

#include <stdio.h>
#include <sys/time.h>
#include <time.h>

void host_log_init(host_log *l, const char *name, int max_level)
{
    l->name = name;
    l->max_level = max_level;
}

static const char *level_name(int level)
{
    switch (level) {
    case HOST_LOG_ERROR: return "ERROR";
    case HOST_LOG_WARN: return "WARN ";
    case HOST_LOG_INFO: return "INFO ";
    default: return "DEBUG";
    }
}

void host_vlogf(const host_log *l, int level, const char *fmt, va_list ap)
{
    if (level > l->max_level)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    time_t t = tv.tv_sec;
    localtime_r(&t, &tm);
    char line[1024];
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %s %s ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (long)(tv.tv_usec / 1000), l->name, level_name(level));
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    /* one fputs per line so lines from the MQTT thread never interleave mid-line */
    fprintf(stderr, "%s\n", line);
}

void host_logf(const host_log *l, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    host_vlogf(l, level, fmt, ap);
    va_end(ap);
}
