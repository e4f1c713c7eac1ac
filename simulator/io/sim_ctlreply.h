/* sim_ctlreply: the two reply objects every control-socket handler ends
 * with, for the socket itself (app/sim_control) and the handlers the
 * optical port brings (sim_optical_port_ctl): {"ok":true} and
 * {"ok":false,"error":"..."} (docs/architecture.md, the station). */
#ifndef SIM_CTLREPLY_H
#define SIM_CTLREPLY_H

#include <jansson.h>

/* {"ok": false, "error": <printf text>}; NULL only if out of memory. */
json_t *sim_ctlreply_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* {"ok": true}. */
json_t *sim_ctlreply_ok(void);

#endif
