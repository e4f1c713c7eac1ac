/* host_mqtt: mepmod's MQTT output through libmosquitto.
 *
 * Owns: the broker connection (a network thread of its own running
 * libmosquitto's blocking connect + loop with retries, so a slow or
 * unreachable broker never stalls the MEP loop: module-behaviour S34), the retained LWT `<prefix>/lwt` (`Offline` as
 * last will, `Online` after connect), the 8.2 state topics every 10 s, and
 * Home Assistant MQTT discovery (`homeassistant/sensor/<node>/<object>/config`,
 * retained, device block from BT01/ET03).
 *
 * Threading: the network thread only touches the atomics below and
 * publishes the constant `Online`; everything built from the readings is
 * published from the libev thread in host_mqtt_tick() (libmosquitto is
 * thread-safe with mosquitto_threaded_set).
 */
#ifndef HOST_MQTT_H
#define HOST_MQTT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host_log.h"
#include "mepc.h"

#define HOST_MQTT_PERIOD_MS 10000u /* 8.2: every 10 s while connected */
#define HOST_MQTT_DISCOVERY_PREFIX "homeassistant"

typedef struct {
    struct mosquitto *mosq;
    pthread_t thread;
    bool thread_started;
    atomic_int stop;            /* ask the network thread to end */
    atomic_int done;            /* the network thread has ended */
    char host[256];
    uint16_t port;
    char prefix[32];
    char node[40];              /* discovery node id: prefix reduced to [A-Za-z0-9_-] */
    char lwt_topic[48];
    const host_log *log;
    atomic_int connected;       /* set by the libmosquitto thread */
    atomic_uint connects;       /* successful CONNACKs so far */
    unsigned discovery_for;     /* `connects` value the discovery was sent for */
    char discovery_sn[31];      /* serial the discovery describes */
    bool have_published;
    uint32_t last_publish_ms;
    uint32_t published, publish_errors, discovery_sent;
} host_mqtt;

/* Create the client and start connecting in the background. Returns false
 * (err filled) only for errors that retrying cannot fix. */
bool host_mqtt_start(host_mqtt *m, const char *host, uint16_t port, const char *prefix,
                     const host_log *log, char *err, size_t errlen);
/* Call about once a second from the event loop. */
void host_mqtt_tick(host_mqtt *m, const mepc_readings *r, uint32_t now_ms);
/* Publish `Offline` (a clean exit suppresses the last will), disconnect, join. */
void host_mqtt_stop(host_mqtt *m);

#endif
