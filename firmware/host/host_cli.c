/* host_cli: mepmod's command line (see host_cli.h). */
#include "host_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *host_cli_usage(void)
{
    return "usage: mepmod --port PATH --mbk KEY [options]\n"
           "MEP module firmware, POSIX host port: reads an OSGP meter over its MEP port\n"
           "(a real UART or mepsim's PTY) and serves the readings over HTTP and MQTT.\n"
           "\n"
           "  --port PATH         serial device or mepsim PTY path (required)\n"
           "  --mbk KEY           MEP Basic Key: 20 (or 16) ASCII characters, or 32/40 hex digits\n"
           "  --mak KEY           MEP Advanced Key; when given it is used instead of the MBK\n"
           "  --encrypt           RC4-encrypt requests (docs/mep.md 5.4)\n"
           "  --tls               TLS mode (docs/mep.md 7): TLS 1.2 PSK, bare requests, no digest\n"
           "  --tls-key mbk|mak   key whose first 16 bytes are the PSK (default: MAK if --mak given)\n"
           "  --tls-client-id N   client ID in the PSK identity, 0..65535 (default 1)\n"
           "  --http-port N       HTTP port (default 8080)\n"
           "  --http-bind ADDR    HTTP listen address (default 127.0.0.1)\n"
           "  --mqtt HOST[:PORT]  publish to an MQTT broker (default port 1883)\n"
           "  --mqtt-prefix P     MQTT topic prefix, <= 24 characters (default esp32-mep)\n"
           "  --mqtt-user NAME    log in to the broker as NAME\n"
           "  --mqtt-password-file FILE\n"
           "                      the broker password is the first line of FILE (needs --mqtt-user)\n"
           "  --mqtt-cafile FILE  TLS to the broker, its certificate verified against the CA in\n"
           "                      FILE (PEM), host name included (default port then 8883)\n"
           "  --mqtt-certfile FILE, --mqtt-keyfile FILE\n"
           "                      client certificate and its unencrypted key (PEM), with --mqtt-cafile\n"
           "  --poll-ms N         BT23+BT28 poll period in ms (default 2000, 200..600000)\n"
           "  --control SOCK      report transceiver/ENABLE changes to mepsim's control socket\n"
           "  --state-dir DIR     keep the published energy floor in DIR across restarts\n"
           "                      (DIR must exist; a corrupt state file is an error: exit 2)\n"
           "  --display           live readings in the terminal\n"
           "  -v                  more log output (debug)\n"
           "  --exit-after S      exit after S seconds (scripts, tests)\n"
           "  --help, --version\n"
           "\n"
           "Exit status: 0 normal, 2 bad command line or start-up error (port, keys, sockets).\n";
}

static host_cli_result set_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    snprintf(err, errlen, fmt, a, b);
    return HOST_CLI_ERROR;
}

/* Parse a decimal unsigned in [lo, hi]. */
static bool parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool prefix_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > HOST_MQTT_PREFIX_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        /* MQTT wildcards and '/' would break the §8.2 topic layout */
        if (c <= ' ' || c >= 0x7F || c == '+' || c == '#' || c == '/')
            return false;
    }
    return true;
}

/* The broker options belong together: login and TLS need --mqtt, a password
 * file needs a user, a client certificate needs its key and TLS. */
static host_cli_result finish_mqtt(host_options *o, bool have_port, char *err, size_t errlen)
{
    host_mqtt_config *q = &o->mqtt;
    bool any = q->user || q->password_file || q->cafile || q->certfile || q->keyfile;
    if (any && !o->mqtt_host)
        return set_err(err, errlen, "--mqtt-user/--mqtt-password-file/--mqtt-cafile/--mqtt-certfile/"
                       "--mqtt-keyfile need --mqtt HOST[:PORT]%s%s", "", "");
    if (q->password_file && !q->user)
        return set_err(err, errlen, "--mqtt-password-file needs --mqtt-user NAME%s%s", "", "");
    if ((q->certfile != NULL) != (q->keyfile != NULL))
        return set_err(err, errlen, "--mqtt-certfile and --mqtt-keyfile go together%s%s", "", "");
    if (q->certfile && !q->cafile)
        return set_err(err, errlen, "--mqtt-certfile needs --mqtt-cafile (a client certificate is TLS)%s%s",
                       "", "");
    if (q->cafile && !have_port)
        o->mqtt_port = HOST_MQTT_TLS_PORT;
    q->host = o->mqtt_host;
    q->port = o->mqtt_port;
    q->prefix = o->mqtt_prefix;
    return HOST_CLI_OK;
}

host_cli_result host_cli_parse(int argc, char **argv, host_options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    mepc_config_defaults(&o->core);
    o->http_bind = "127.0.0.1";
    o->http_port = 8080;
    o->mqtt_port = 1883;
    snprintf(o->mqtt_prefix, sizeof o->mqtt_prefix, "%s", "esp32-mep");
    bool have_mbk = false;
    bool have_client_id = false;
    bool have_mqtt_port = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        /* flags without a value */
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return HOST_CLI_HELP;
        if (!strcmp(a, "--version"))
            return HOST_CLI_VERSION;
        if (!strcmp(a, "--encrypt")) { o->core.encrypt = true; continue; }
        if (!strcmp(a, "--tls")) { o->tls = true; continue; }
        if (!strcmp(a, "--display")) { o->display = true; continue; }
        if (!strcmp(a, "-v")) { o->verbose++; continue; }
        if (!strcmp(a, "-vv")) { o->verbose += 2; continue; }

        static const char *const with_value[] = {
            "--port", "--mbk", "--mak", "--http-port", "--http-bind", "--mqtt",
            "--mqtt-prefix", "--poll-ms", "--control", "--exit-after", "--tls-key", "--tls-client-id",
            "--state-dir", "--mqtt-user", "--mqtt-password-file", "--mqtt-cafile", "--mqtt-certfile",
            "--mqtt-keyfile", NULL};
        bool known = false;
        for (int k = 0; with_value[k]; k++)
            known |= !strcmp(a, with_value[k]);
        if (!known) {
            return set_err(err, errlen, "unknown option '%s'%s (see --help)", a, "");
        }
        if (i + 1 >= argc)
            return set_err(err, errlen, "%s needs a value%s", a, "");
        const char *v = argv[++i];
        unsigned long n;

        if (!strcmp(a, "--port")) {
            if (!*v)
                return set_err(err, errlen, "%s: empty path%s", a, "");
            o->port = v;
        } else if (!strcmp(a, "--mbk") || !strcmp(a, "--mak")) {
            uint8_t *dst = !strcmp(a, "--mbk") ? o->core.mbk : o->core.mak;
            if (!mepc_parse_key(v, dst)) {
                char len[32];
                snprintf(len, sizeof len, "%zu", strlen(v));
                return set_err(err, errlen,
                               "%s: invalid key (%s characters): expected 20 or 16 printable ASCII "
                               "characters, or 32/40 hex digits", a, len);
            }
            if (dst == o->core.mak)
                o->core.has_mak = true;
            else
                have_mbk = true;
        } else if (!strcmp(a, "--http-port")) {
            if (!parse_uint(v, 1, 65535, &n))
                return set_err(err, errlen, "%s: bad port number '%s' (1..65535)", a, v);
            o->http_port = (uint16_t)n;
        } else if (!strcmp(a, "--http-bind")) {
            if (!*v)
                return set_err(err, errlen, "%s: empty address%s", a, "");
            o->http_bind = v;
        } else if (!strcmp(a, "--mqtt")) {
            if (!*v || strlen(v) >= sizeof o->mqtt_host_buf)
                return set_err(err, errlen, "%s: bad broker address '%s'", a, v);
            snprintf(o->mqtt_host_buf, sizeof o->mqtt_host_buf, "%s", v);
            char *colon = strrchr(o->mqtt_host_buf, ':');
            if (colon && !strchr(o->mqtt_host_buf, ']') && strchr(o->mqtt_host_buf, ':') != colon)
                colon = NULL; /* bare IPv6 address without port */
            if (colon) {
                *colon = '\0';
                if (!parse_uint(colon + 1, 1, 65535, &n))
                    return set_err(err, errlen, "%s: bad port number in '%s' (1..65535)", a, v);
                o->mqtt_port = (uint16_t)n;
                have_mqtt_port = true;
            }
            if (!o->mqtt_host_buf[0])
                return set_err(err, errlen, "%s: missing host in '%s'", a, v);
            o->mqtt_host = o->mqtt_host_buf;
        } else if (!strcmp(a, "--mqtt-prefix")) {
            if (!prefix_ok(v))
                return set_err(err, errlen,
                               "%s: bad prefix '%s' (1..24 printable characters, no '/', '+', '#' or spaces)",
                               a, v);
            snprintf(o->mqtt_prefix, sizeof o->mqtt_prefix, "%s", v);
        } else if (!strcmp(a, "--mqtt-user")) {
            if (!*v || strlen(v) > 127)
                return set_err(err, errlen, "%s: bad user name '%s' (1..127 characters)", a, v);
            o->mqtt.user = v;
        } else if (!strncmp(a, "--mqtt-", 7)) {
            /* the file options: --mqtt-password-file, -cafile, -certfile, -keyfile
             * (host_mqtt_open reads them and names a file it cannot read) */
            if (!*v)
                return set_err(err, errlen, "%s: empty path%s", a, "");
            const char **dst = !strcmp(a, "--mqtt-password-file") ? &o->mqtt.password_file
                               : !strcmp(a, "--mqtt-cafile")      ? &o->mqtt.cafile
                               : !strcmp(a, "--mqtt-certfile")    ? &o->mqtt.certfile
                                                                  : &o->mqtt.keyfile;
            *dst = v;
        } else if (!strcmp(a, "--poll-ms")) {
            if (!parse_uint(v, 200, 600000, &n))
                return set_err(err, errlen, "%s: bad value '%s' (200..600000 ms)", a, v);
            o->core.poll_ms = (uint32_t)n;
        } else if (!strcmp(a, "--control")) {
            if (!*v)
                return set_err(err, errlen, "%s: empty path%s", a, "");
            o->control_path = v;
        } else if (!strcmp(a, "--state-dir")) {
            if (!*v)
                return set_err(err, errlen, "%s: empty path%s", a, "");
            o->state_dir = v;
        } else if (!strcmp(a, "--tls-key")) {
            if (!strcmp(v, "mbk") || !strcmp(v, "MBK"))
                o->tls_key_id = 0;
            else if (!strcmp(v, "mak") || !strcmp(v, "MAK"))
                o->tls_key_id = 1;
            else
                return set_err(err, errlen, "%s: bad key '%s' (mbk or mak)", a, v);
            o->tls_key_given = true;
        } else if (!strcmp(a, "--tls-client-id")) {
            if (!parse_uint(v, 0, 65535, &n))
                return set_err(err, errlen, "%s: bad client ID '%s' (0..65535)", a, v);
            o->tls_client_id = (uint16_t)n;
            have_client_id = true;
        } else if (!strcmp(a, "--exit-after")) {
            char *end;
            errno = 0;
            double d = strtod(v, &end);
            if (errno || *end || end == v || !(d > 0) || d > 1e7)
                return set_err(err, errlen, "%s: bad number of seconds '%s'", a, v);
            o->exit_after_s = d;
        }
    }
    if (!o->port)
        return set_err(err, errlen, "missing --port PATH (the meter's serial device or mepsim PTY)%s%s", "", "");
    if (!have_mbk && !o->core.has_mak)
        return set_err(err, errlen, "missing --mbk KEY (or --mak KEY)%s%s", "", "");
    if (!have_mbk)
        memcpy(o->core.mbk, o->core.mak, sizeof o->core.mbk);
    host_cli_result mq = finish_mqtt(o, have_mqtt_port, err, errlen);
    if (mq != HOST_CLI_OK)
        return mq;
    if ((o->tls_key_given || have_client_id) && !o->tls)
        return set_err(err, errlen, "--tls-key/--tls-client-id need --tls%s%s", "", "");
    if (o->tls) {
        if (o->core.encrypt)
            return set_err(err, errlen, "--encrypt is RC4 mode; it cannot be combined with --tls%s%s", "", "");
        if (!o->tls_key_given)
            o->tls_key_id = o->core.has_mak ? 1 : 0;
        if (o->tls_key_id == 1 && !o->core.has_mak)
            return set_err(err, errlen, "--tls-key mak needs --mak KEY%s%s", "", "");
        if (o->tls_key_id == 0 && !have_mbk)
            return set_err(err, errlen, "--tls-key mbk needs --mbk KEY%s%s", "", "");
        if (!have_client_id)
            o->tls_client_id = 1;
    }
    return HOST_CLI_OK;
}
