/* host_mqtt: mepmod's MQTT output through libmosquitto.
 *
 * Owns: the broker connection (a network thread of its own running
 * libmosquitto's blocking connect + loop with retries and a 1 s -> 30 s
 * back-off, so a slow, unreachable or refusing broker never stalls the MEP
 * loop: module-behaviour S34), the broker login (user name, password read
 * from the first line of a file, never from the command line) and TLS (the
 * broker's certificate verified against a CA file, host name included;
 * optional client certificate), the retained LWT `<prefix>/lwt` (`Offline`
 * as last will, `Online` after connect), the 8.2 state topics every 10 s,
 * the diagnostics topic, and Home Assistant MQTT discovery
 * (`homeassistant/<component>/<node>/<key>/config`, retained, built from the
 * core's entity table, firmware/core/mepc_discovery.h: a meter device
 * reached `via_device` the module's device, diagnostics with
 * `entity_category`, no entity for a phase the meter lacks).
 *
 * Why the connection is down is kept in plain words (a refused login, a
 * failed TLS handshake, an unreachable broker) for the log and for
 * host_mqtt_status_json (mepmod's /status).
 *
 * Threading: the network thread only touches the atomics and the
 * mutex-guarded error text below and publishes the constant `Online`;
 * everything built from the readings is published from the libev thread in
 * host_mqtt_update() (libmosquitto is thread-safe with mosquitto_threaded_set).
 */
#ifndef HOST_MQTT_H
#define HOST_MQTT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "host_log.h"
#include "mepc.h"
#include "mepc_discovery.h"

#define HOST_MQTT_PERIOD_MS 10000u /* 8.2: every 10 s while connected */
#define HOST_MQTT_DISCOVERY_PREFIX "homeassistant"
#define HOST_MQTT_PORT 1883u       /* plain MQTT */
#define HOST_MQTT_TLS_PORT 8883u   /* MQTT over TLS */

/* What mepmod was told about the broker (host_cli fills it). Strings are
 * borrowed for the duration of host_mqtt_open. */
typedef struct {
    const char *host;
    uint16_t port;
    const char *prefix;
    const char *user;           /* NULL: no login */
    const char *password_file;  /* NULL: no password; else its first line is the password */
    const char *cafile;         /* NULL: plain TCP; else TLS, broker verified against this CA */
    const char *certfile;       /* client certificate (PEM) with keyfile, or both NULL */
    const char *keyfile;
    const char *config_url;     /* the module's HTTP address (configuration_url); NULL: none */
} host_mqtt_config;

/* Where the connection stands (host_mqtt_status_json "state"). */
typedef enum {
    HOST_MQTT_CONNECTING = 0,   /* first attempt under way */
    HOST_MQTT_CONNECTED,
    HOST_MQTT_UNREACHABLE,      /* TCP connect failed or the connection was lost */
    HOST_MQTT_REFUSED,          /* CONNACK refused (login, client id, protocol) */
    HOST_MQTT_TLS_FAILED,       /* TLS handshake failed (certificate, host name, protocol) */
} host_mqtt_state;

typedef struct {
    struct mosquitto *mosq;
    pthread_t thread;
    bool thread_started;
    atomic_int stop;            /* ask the network thread to end */
    atomic_int done;            /* the network thread has ended */
    char host[256];
    uint16_t port;
    bool tls;
    char user[128];
    char prefix[32];
    char node[40];              /* discovery node id: prefix reduced to [A-Za-z0-9_-] */
    char lwt_topic[48];
    char config_url[128];       /* "" = none */
    const host_log *log;
    atomic_int connected;       /* set by the libmosquitto thread */
    atomic_uint connects;       /* successful CONNACKs so far */
    atomic_int state;           /* host_mqtt_state */
    atomic_uint refusals;       /* CONNACKs refused so far */
    atomic_int refused;         /* the current connection's CONNACK was refused */
    pthread_mutex_t err_lock;   /* guards last_error and mosq_error */
    char last_error[320];       /* why the connection is not up, in words ("" = no error yet) */
    char mosq_error[200];       /* libmosquitto's last error-level log line (TLS details) */
    unsigned discovery_for;     /* `connects` value the discovery was sent for */
    char discovery_sn[31];      /* serial the discovery describes */
    uint8_t discovery_phases;   /* phase count it was sent for */
    bool have_published;
    uint32_t last_publish_ms;
    bool have_diag;
    uint32_t last_diag_ms;
    int diag_status;            /* mepc_status of the last diagnostics message */
    uint32_t published, publish_errors, discovery_sent;
} host_mqtt;

/* Read the password file, set up login and TLS, and start connecting in the
 * background. Returns false (err filled: names the file or option and the
 * problem) for errors retrying cannot fix: mepmod then exits 2. */
bool host_mqtt_open(host_mqtt *m, const host_mqtt_config *cfg, const host_log *log, char *err,
                    size_t errlen);
/* Call about once a second from the event loop with the readings and the
 * meter's phase count (mepc_disc_phases; 0 = not known yet: discovery then
 * waits until the readings are served, and announces three phases). */
void host_mqtt_update(host_mqtt *m, const mepc_readings *r, uint8_t phases, uint32_t now_ms);
/* The connection as /status shows it: state, last_error, broker, tls,
 * user, connects, refusals, published, publish_errors, discovery_sent. */
json_t *host_mqtt_status_json(const host_mqtt *m);
/* Publish `Offline` (a clean exit suppresses the last will), disconnect, join. */
void host_mqtt_stop(host_mqtt *m);

#endif
