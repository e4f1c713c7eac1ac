/* host_cli: mepmod's command line, parsed into a host_options struct.
 *
 * Owns: flag syntax, value checks and the messages for bad input. Pure: no
 * I/O beyond writing the error text into a caller buffer, so main decides how
 * to report it (exit status 2 for every bad flag or value, as the brief and
 * conventions ask: the message names the flag and the problem).
 */
#ifndef HOST_CLI_H
#define HOST_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host_mqtt.h"
#include "mepc.h"

#define HOST_MQTT_PREFIX_MAX 24 /* the reference's limit (docs/module-behaviour.md 8.2) */

typedef struct {
    const char *port;           /* --port PATH (required) */
    mepc_config core;           /* keys, --encrypt, --poll-ms on top of mepc_config_defaults */
    const char *http_bind;      /* --http-bind ADDR (default 127.0.0.1) */
    uint16_t http_port;         /* --http-port N (default 8080) */
    const char *mqtt_host;      /* --mqtt HOST[:PORT]; NULL = MQTT off */
    char mqtt_host_buf[256];
    uint16_t mqtt_port;         /* default 1883, 8883 with --mqtt-cafile */
    char mqtt_prefix[HOST_MQTT_PREFIX_MAX + 1]; /* default esp32-mep */
    /* The broker settings as host_mqtt_open takes them: host, port and
     * prefix point at the fields above; --mqtt-user NAME,
     * --mqtt-password-file FILE (read at start, never a password on the
     * command line), --mqtt-cafile FILE, --mqtt-certfile FILE with
     * --mqtt-keyfile FILE. config_url is left to main (the HTTP address). */
    host_mqtt_config mqtt;
    const char *control_path;   /* --control SOCK: report line changes to mepsim */
    bool display;               /* --display */
    int verbose;                /* -v count */
    double exit_after_s;        /* --exit-after S; 0 = run until signalled */
    const char *tls_reserved;   /* (unused; kept for source compatibility) */
    /* TLS mode: --tls [--tls-key mbk|mak] [--tls-client-id N] (docs/mep.md 7.1) */
    bool tls;
    bool tls_key_given;
    uint8_t tls_key_id;         /* 0 = MBK, 1 = MAK; default: MAK if --mak was given */
    uint16_t tls_client_id;     /* default 1 */
    const char *state_dir;      /* --state-dir DIR: keep the energy floor across restarts */
} host_options;

typedef enum { HOST_CLI_OK = 0, HOST_CLI_HELP, HOST_CLI_VERSION, HOST_CLI_ERROR } host_cli_result;

/* Parse argv. On HOST_CLI_ERROR, err holds one line naming the problem. */
host_cli_result host_cli_parse(int argc, char **argv, host_options *o, char *err, size_t errlen);
/* The --help text. */
const char *host_cli_usage(void);

#endif
