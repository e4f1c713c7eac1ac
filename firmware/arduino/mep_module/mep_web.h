/* mep_web: the module's HTTP routes on the Arduino WebServer.
 *
 *   GET  /getDashDataWS  the HA contract (docs/module-behaviour.md 8.1), 503 until ready
 *   GET  /status         status, validity flags, counters (JSON)
 *   GET  /               a small status page (refreshes itself every 5 s)
 *   GET  /setup          the settings form
 *   POST /setup          name=value pairs (form body or query): mbk, mak,
 *                        use_mak, encrypt, wifi_ssid, wifi_pass, mqtt_host,
 *                        mqtt_port, mqtt_prefix, poll_ms. All are checked
 *                        first; one bad value -> 400 naming it, nothing
 *                        changed. Else saved to Preferences and applied.
 * Anything else: 404; a wrong method on a known path: 405.
 */
#ifndef MEP_WEB_H
#define MEP_WEB_H

#include <WebServer.h>

#include "mep_mqtt.h"
#include "mep_port.h"
#include "mep_settings.h"

typedef struct {
    MepPort *port;
    MepSettings *settings;
    MepMqtt *mqtt;
    uint32_t http_requests;
    /* called after settings were saved, with the MEP_FX_* bits of the change */
    void (*apply)(unsigned effects);
} MepWebCtx;

void mep_web_begin(WebServer &server, MepWebCtx *ctx);

#endif
