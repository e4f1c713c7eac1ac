/* sim_ctlreply: control-socket reply objects (see sim_ctlreply.h). */
#include "sim_ctlreply.h"

#include <stdarg.h>
#include <stdio.h>

json_t *sim_ctlreply_fail(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

json_t *sim_ctlreply_ok(void) { return json_pack("{s:b}", "ok", 1); }
