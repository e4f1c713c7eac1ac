/* sim_ctlreply: control-socket reply objects (see sim_ctlreply.h). */
#include "sim_ctlreply.h"

#include <stdarg.h>

#include "sim_report.h"

json_t *sim_ctlreply_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *r = sim_report_failv(fmt, ap); /* ASCII only: see sim_report.h */
    va_end(ap);
    return r;
}

json_t *sim_ctlreply_ok(void) { return json_pack("{s:b}", "ok", 1); }
