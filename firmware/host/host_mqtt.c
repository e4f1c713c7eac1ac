/* host_mqtt: mepmod's MQTT output (see host_mqtt.h). */
#include "host_mqtt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mosquitto.h>

#include "host_dash.h"

/* ---- connection state, shared with the network thread -------------------- */

static void set_error(host_mqtt *m, host_mqtt_state st, const char *text)
{
    pthread_mutex_lock(&m->err_lock);
    snprintf(m->last_error, sizeof m->last_error, "%s", text);
    pthread_mutex_unlock(&m->err_lock);
    atomic_store(&m->state, (int)st);
}

static const char *state_name(host_mqtt_state st)
{
    switch (st) {
    case HOST_MQTT_CONNECTING: return "connecting";
    case HOST_MQTT_CONNECTED: return "connected";
    case HOST_MQTT_UNREACHABLE: return "unreachable";
    case HOST_MQTT_REFUSED: return "refused";
    case HOST_MQTT_TLS_FAILED: return "tls_failed";
    }
    return "?";
}

/* MQTT 3.1.1 CONNACK return codes 1-5 in words, with what to check.
 * mosquitto answers a wrong password with 5 (not authorised), not 4. */
static const char *refusal_words(int rc, bool login)
{
    switch (rc) {
    case 1: return "the broker does not speak this MQTT protocol version";
    case 2: return "the broker rejected the client id";
    case 3: return "the broker says its MQTT service is unavailable";
    case 4:
    case 5:
        return login ? "bad user name or password, or this user may not connect "
                       "(check --mqtt-user and the first line of --mqtt-password-file)"
                     : "not authorised: the broker wants a login (--mqtt-user and --mqtt-password-file)";
    default: return "refused";
    }
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    host_mqtt *m = obj;
    if (rc != 0) {
        char text[320];
        snprintf(text, sizeof text, "broker refused the connection: %s", refusal_words(rc, m->user[0] != '\0'));
        atomic_store(&m->refused, 1);
        unsigned n = atomic_fetch_add(&m->refusals, 1);
        if (n == 0 || atomic_load(&m->state) != HOST_MQTT_REFUSED)
            host_logf(m->log, HOST_LOG_ERROR, "mqtt: %s; retrying with back-off", text);
        set_error(m, HOST_MQTT_REFUSED, text);
        /* end this attempt: the network thread owns the back-off */
        mosquitto_disconnect(mosq);
        return;
    }
    /* 8.2: `Online`, retained, after connecting */
    mosquitto_publish(mosq, NULL, m->lwt_topic, 6, "Online", 0, true);
    atomic_fetch_add(&m->connects, 1);
    atomic_store(&m->connected, 1);
    set_error(m, HOST_MQTT_CONNECTED, "");
    host_logf(m->log, HOST_LOG_INFO, "mqtt: connected to %s:%u%s; %s = Online", m->host, m->port,
              m->tls ? " (TLS, broker certificate verified)" : "", m->lwt_topic);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    (void)rc;
    host_mqtt *m = obj;
    atomic_store(&m->connected, 0); /* the network thread says why */
}

/* libmosquitto's own log: keep the last error line (the TLS library's reason
 * for a failed handshake arrives only here). */
static void on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
    (void)mosq;
    host_mqtt *m = obj;
    if (level != MOSQ_LOG_ERR || !str)
        return;
    pthread_mutex_lock(&m->err_lock);
    snprintf(m->mosq_error, sizeof m->mosq_error, "%s", str);
    pthread_mutex_unlock(&m->err_lock);
    host_logf(m->log, HOST_LOG_DEBUG, "mqtt: libmosquitto: %s", str);
}

/* Why the attempt ended, in words. rc: libmosquitto's result of the connect
 * (tcp_up false) or of the network loop (tcp_up true, no CONNACK yet). */
static host_mqtt_state attempt_error(host_mqtt *m, int rc, int err_no, bool tcp_up, char *text, size_t cap)
{
    if (rc == MOSQ_ERR_TLS || (m->tls && tcp_up)) {
        char detail[200];
        pthread_mutex_lock(&m->err_lock);
        snprintf(detail, sizeof detail, "%s", m->mosq_error);
        pthread_mutex_unlock(&m->err_lock);
        const char *why = strstr(detail, "certificate verify failed")
                              ? "the broker's certificate is not signed by the CA of --mqtt-cafile (or "
                                "names another host)"
                              : detail[0] ? detail : "handshake failed or the broker closed the connection";
        snprintf(text, cap, "TLS with the broker %.120s:%u failed: %.160s", m->host, m->port, why);
        return HOST_MQTT_TLS_FAILED;
    }
    if (tcp_up)
        snprintf(text, cap, "the broker %.120s:%u closed the connection before answering the login "
                 "(if that port speaks only TLS: --mqtt-cafile)", m->host, m->port);
    else if (rc == MOSQ_ERR_ERRNO)
        snprintf(text, cap, "cannot connect to the broker %.120s:%u: %.120s", m->host, m->port,
                 err_no ? strerror(err_no) : "connection failed");
    else
        snprintf(text, cap, "cannot connect to the broker %.120s:%u: %.120s", m->host, m->port,
                 mosquitto_strerror(rc));
    return HOST_MQTT_UNREACHABLE;
}

/* Log a failed attempt once per kind of failure (and again at the longest
 * back-off), and keep it for /status. */
static void report_attempt(host_mqtt *m, host_mqtt_state st, const char *text, int *last_logged, bool again)
{
    if (*last_logged != (int)st || again)
        host_logf(m->log, st == HOST_MQTT_UNREACHABLE ? HOST_LOG_WARN : HOST_LOG_ERROR,
                  "mqtt: %s; retrying with back-off", text);
    *last_logged = (int)st;
    set_error(m, st, text);
}

/* The network thread: connect (blocking, here, never on the MEP loop), run
 * libmosquitto's loop until the connection ends for any reason (lost, a
 * refused CONNACK: on_connect disconnects, a failed TLS handshake, asked to
 * stop), wait with a growing back-off (1 s -> 30 s, back to 1 s after a
 * connection that worked), again - until asked to stop. All reconnecting is
 * here (libmosquitto's loop_forever would retry by itself, out of our sight
 * and with sleeps we could not interrupt). */
static void *network_thread(void *arg)
{
    host_mqtt *m = arg;
    unsigned backoff_ms = 1000;
    int last_logged = -1;
    while (!atomic_load(&m->stop)) {
        atomic_store(&m->refused, 0);
        errno = 0;
        int rc = mosquitto_connect(m->mosq, m->host, m->port, 30);
        int err_no = errno;
        bool tcp_up = rc == MOSQ_ERR_SUCCESS, had = false;
        if (tcp_up) {
            while (!atomic_load(&m->stop) && (rc = mosquitto_loop(m->mosq, 500, 1)) == MOSQ_ERR_SUCCESS)
                had |= atomic_load(&m->connected) != 0;
            err_no = errno;
            had |= atomic_exchange(&m->connected, 0) != 0;
            mosquitto_disconnect(m->mosq); /* close the socket whatever state it is in */
        }
        if (atomic_load(&m->stop))
            break;
        char text[320];
        if (had) {
            snprintf(text, sizeof text, "connection to the broker lost (%s)", mosquitto_strerror(rc));
            host_logf(m->log, HOST_LOG_WARN, "mqtt: %s; reconnecting", text);
            set_error(m, HOST_MQTT_UNREACHABLE, text);
            backoff_ms = 1000;
            last_logged = -1;
        } else if (!atomic_load(&m->refused)) {
            host_mqtt_state st = attempt_error(m, rc, err_no, tcp_up, text, sizeof text);
            report_attempt(m, st, text, &last_logged, backoff_ms == 30000);
        } else {
            last_logged = HOST_MQTT_REFUSED;
        }
        for (unsigned waited = 0; waited < backoff_ms && !atomic_load(&m->stop); waited += 100)
            usleep(100 * 1000);
        backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
    }
    atomic_store(&m->done, 1);
    return NULL;
}

/* ---- start-up ------------------------------------------------------------- */

/* First line of `path` (without its line end) into out. */
static bool read_password(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--mqtt-password-file %s: cannot read it: %s", path, strerror(errno));
        return false;
    }
    bool ok = fgets(out, (int)cap, f) != NULL;
    int e = ferror(f) ? errno : 0;
    fclose(f);
    if (!ok) {
        if (e)
            snprintf(err, errlen, "--mqtt-password-file %s: cannot read it: %s", path, strerror(e));
        else
            snprintf(err, errlen, "--mqtt-password-file %s: the file is empty (the password is its first line)",
                     path);
        return false;
    }
    size_t n = strcspn(out, "\r\n");
    if (out[n] == '\0' && n + 1 >= cap) {
        snprintf(err, errlen, "--mqtt-password-file %s: the first line is longer than %zu characters", path,
                 cap - 2);
        return false;
    }
    out[n] = '\0';
    if (n == 0) {
        snprintf(err, errlen, "--mqtt-password-file %s: the first line is empty (it holds the password)", path);
        return false;
    }
    return true;
}

static bool readable(const char *opt, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s %s: cannot read it: %s", opt, path, strerror(errno));
        return false;
    }
    fclose(f);
    return true;
}

/* An encrypted client key would make OpenSSL prompt on the terminal: say
 * there is no passphrase, so such a key fails at start instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
    (void)rwflag;
    (void)userdata;
    if (size > 0)
        buf[0] = '\0';
    return 0;
}

static bool setup_login_and_tls(host_mqtt *m, const host_mqtt_config *cfg, char *err, size_t errlen)
{
    if (cfg->user) {
        char password[512];
        const char *pw = NULL;
        if (cfg->password_file) {
            if (!read_password(cfg->password_file, password, sizeof password, err, errlen))
                return false;
            pw = password;
        }
        int rc = mosquitto_username_pw_set(m->mosq, cfg->user, pw);
        memset(password, 0, sizeof password); /* libmosquitto keeps its own copy */
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, errlen, "--mqtt-user: cannot set the login: %s", mosquitto_strerror(rc));
            return false;
        }
        snprintf(m->user, sizeof m->user, "%s", cfg->user);
    }
    if (!cfg->cafile)
        return true;
    if (!readable("--mqtt-cafile", cfg->cafile, err, errlen) ||
        (cfg->certfile && !readable("--mqtt-certfile", cfg->certfile, err, errlen)) ||
        (cfg->keyfile && !readable("--mqtt-keyfile", cfg->keyfile, err, errlen)))
        return false;
    int rc = mosquitto_tls_set(m->mosq, cfg->cafile, NULL, cfg->certfile, cfg->keyfile, no_passphrase);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "--mqtt-cafile %s: cannot use it for TLS: %s", cfg->cafile, mosquitto_strerror(rc));
        return false;
    }
    /* verify the broker's certificate (chain and host name): libmosquitto's
     * default, stated so no later change weakens it silently */
    rc = mosquitto_tls_opts_set(m->mosq, 1, NULL, NULL);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_tls_insecure_set(m->mosq, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "mqtt: cannot set the TLS options: %s", mosquitto_strerror(rc));
        return false;
    }
    m->tls = true;
    return true;
}

static void fail_open(host_mqtt *m)
{
    if (m->mosq)
        mosquitto_destroy(m->mosq);
    m->mosq = NULL;
    pthread_mutex_destroy(&m->err_lock);
}

bool host_mqtt_open(host_mqtt *m, const host_mqtt_config *cfg, const host_log *log, char *err,
                    size_t errlen)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->err_lock, NULL);
    m->log = log;
    snprintf(m->prefix, sizeof m->prefix, "%s", cfg->prefix);
    snprintf(m->lwt_topic, sizeof m->lwt_topic, "%s/lwt", cfg->prefix);
    snprintf(m->config_url, sizeof m->config_url, "%s", cfg->config_url ? cfg->config_url : "");
    size_t k = 0;
    for (size_t i = 0; cfg->prefix[i] && k + 1 < sizeof m->node; i++) {
        char c = cfg->prefix[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        m->node[k++] = ok ? c : '_';
    }
    m->node[k] = '\0';
    m->diag_status = -1;

    char client_id[64];
    snprintf(client_id, sizeof client_id, "%s-mepmod-%ld", cfg->prefix, (long)getpid());
    m->mosq = mosquitto_new(client_id, true, m);
    if (!m->mosq) {
        snprintf(err, errlen, "mqtt: cannot create a client");
        fail_open(m);
        return false;
    }
    if (!setup_login_and_tls(m, cfg, err, errlen)) {
        fail_open(m);
        return false;
    }
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_log_callback_set(m->mosq, on_log);
    if (mosquitto_will_set(m->mosq, m->lwt_topic, 7, "Offline", 0, true) != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "mqtt: cannot set the last will on %s", m->lwt_topic);
        fail_open(m);
        return false;
    }
    mosquitto_threaded_set(m->mosq, true);
    snprintf(m->host, sizeof m->host, "%s", cfg->host);
    m->port = cfg->port;
    atomic_store(&m->state, HOST_MQTT_CONNECTING);
    int rc = pthread_create(&m->thread, NULL, network_thread, m);
    if (rc != 0) {
        snprintf(err, errlen, "mqtt: cannot start the network thread: %s", strerror(rc));
        fail_open(m);
        return false;
    }
    m->thread_started = true;
    host_logf(log, HOST_LOG_INFO, "mqtt: broker %s:%u%s%s%s, prefix %s", m->host, m->port,
              m->tls ? " over TLS" : "", m->user[0] ? ", user " : "", m->user, cfg->prefix);
    return true;
}

/* ---- publishing ----------------------------------------------------------- */

static void publish(host_mqtt *m, const char *topic, const char *payload, bool retain)
{
    int rc = mosquitto_publish(m->mosq, NULL, topic, (int)strlen(payload), payload, 0, retain);
    if (rc == MOSQ_ERR_SUCCESS) {
        m->published++;
    } else {
        m->publish_errors++;
        host_logf(m->log, HOST_LOG_DEBUG, "mqtt: publish %s failed: %s", topic, mosquitto_strerror(rc));
    }
}

/* Text of a mepc_sb-built id or template. */
typedef struct {
    char buf[160];
    mepc_sb sb;
} text;

static const char *text_start(text *t)
{
    mepc_sb_init(&t->sb, t->buf, sizeof t->buf);
    return t->buf;
}

/* One discovery device's members; serial and via NULL for the module itself. */
typedef struct {
    const char *id, *name, *manufacturer, *model, *sw_version, *serial, *via;
} device_desc;

static json_t *device_object(const host_mqtt *m, const device_desc *dd)
{
    json_t *d = json_object();
    json_object_set_new(d, "identifiers", json_pack("[s]", dd->id));
    json_object_set_new(d, "name", json_string(dd->name));
    json_object_set_new(d, "manufacturer", json_string(dd->manufacturer));
    json_object_set_new(d, "model", json_string(dd->model));
    json_object_set_new(d, "sw_version", json_string(dd->sw_version));
    if (dd->serial)
        json_object_set_new(d, "serial_number", json_string(dd->serial));
    if (dd->via)
        json_object_set_new(d, "via_device", json_string(dd->via));
    if (m->config_url[0])
        json_object_set_new(d, "configuration_url", json_string(m->config_url));
    return d;
}

/* The two devices: the module (identifier mep_module_<node>) and the meter
 * (osgp_meter_<serial>), the meter reached through the module. */
static json_t *module_device(const host_mqtt *m, const char *module_id)
{
    char name[64];
    snprintf(name, sizeof name, "MEP module %s", m->prefix);
    device_desc dd = {module_id, name, HOST_SW_BY, HOST_SW_NAME, HOST_SW_VERSION, NULL, NULL};
    return device_object(m, &dd);
}

static json_t *meter_device(const host_mqtt *m, const mepc_readings *r, const char *meter_id,
                            const char *module_id)
{
    const char *serial = r->utility_sn[0] ? r->utility_sn : "unknown";
    char name[64];
    snprintf(name, sizeof name, "OSGP meter %s", serial);
    device_desc dd = {meter_id, name, r->manufacturer, r->model, r->sw_version, serial, module_id};
    return device_object(m, &dd);
}

static json_t *origin(const host_mqtt *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(HOST_SW_NAME));
    json_object_set_new(o, "sw_version", json_string(HOST_SW_VERSION));
    /* the module's own pages (dashboard, /status) are where its user looks first */
    if (m->config_url[0])
        json_object_set_new(o, "support_url", json_string(m->config_url));
    return o;
}

/* One entity's config (caller frees the text). */
static char *entity_config(const host_mqtt *m, const mepc_disc_entity *e, const char *unique_id,
                           json_t *device, json_t *orig)
{
    text slug, tmpl, state, name;
    const char *entity_name = text_start(&name);
    mepc_disc_name(e, &name.sb);
    const char *entity_id = text_start(&slug);
    mepc_sb_str(&slug.sb, mepc_disc_component_name(e));
    mepc_sb_char(&slug.sb, '.');
    mepc_disc_id(&slug.sb, unique_id, true);
    const char *value = text_start(&tmpl);
    mepc_disc_value_template(e, &tmpl.sb);
    const char *topic = text_start(&state);
    mepc_sb_str(&state.sb, m->prefix);
    mepc_sb_char(&state.sb, '/');
    mepc_sb_str(&state.sb, mepc_disc_topic_name(e->topic));

    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(entity_name));
    json_object_set_new(o, "unique_id", json_string(unique_id));
    json_object_set_new(o, "default_entity_id", json_string(entity_id));
    json_object_set_new(o, "state_topic", json_string(topic));
    json_object_set_new(o, "value_template", json_string(value));
    if (e->unit)
        json_object_set_new(o, "unit_of_measurement", json_string(e->unit));
    if (e->device_class)
        json_object_set_new(o, "device_class", json_string(e->device_class));
    if (e->state_class)
        json_object_set_new(o, "state_class", json_string(e->state_class));
    if (e->category == MEPC_DISC_DIAGNOSTIC)
        json_object_set_new(o, "entity_category", json_string("diagnostic"));
    json_object_set_new(o, "availability_topic", json_string(m->lwt_topic));
    json_object_set_new(o, "payload_available", json_string("Online"));
    json_object_set_new(o, "payload_not_available", json_string("Offline"));
    json_object_set(o, "device", device);
    json_object_set(o, "origin", orig);
    char *payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return payload;
}

static void publish_discovery(host_mqtt *m, const mepc_readings *r, uint8_t phases)
{
    text meter_id, module_id;
    const char *meter = text_start(&meter_id);
    mepc_sb_str(&meter_id.sb, "osgp_meter_");
    mepc_disc_id(&meter_id.sb, r->utility_sn, false);
    const char *module = text_start(&module_id);
    mepc_sb_str(&module_id.sb, "mep_module_");
    mepc_disc_id(&module_id.sb, m->node, false);
    json_t *meter_dev = meter_device(m, r, meter, module);
    json_t *module_dev = module_device(m, module);
    json_t *orig = origin(m);

    size_t announced = 0, removed = 0;
    for (size_t i = 0; i < mepc_disc_count(); i++) {
        mepc_disc_entity entity, *e = &entity;
        if (!mepc_disc_get(i, e))
            break;
        text key;
        const char *k = text_start(&key);
        mepc_disc_key(e, &key.sb);
        char topic[288];
        snprintf(topic, sizeof topic, "%s/%s/%s/%s/config", HOST_MQTT_DISCOVERY_PREFIX,
                 mepc_disc_component_name(e), m->node, k);
        if (!mepc_disc_applies(e, phases)) {
            /* an empty retained config removes an entity announced before
             * (an older release, or before the phase count was known) */
            publish(m, topic, "", true);
            removed++;
            continue;
        }
        text uid;
        const char *unique_id = text_start(&uid);
        mepc_sb_str(&uid.sb, m->node); /* node_serial_key: the unique_id of earlier releases */
        mepc_sb_char(&uid.sb, '_');
        if (e->device == MEPC_DISC_METER)
            mepc_disc_id(&uid.sb, r->utility_sn, false);
        else
            mepc_sb_str(&uid.sb, "module");
        mepc_sb_char(&uid.sb, '_');
        mepc_sb_str(&uid.sb, k);
        char *payload = entity_config(m, e, unique_id, e->device == MEPC_DISC_METER ? meter_dev : module_dev,
                                      orig);
        if (payload) {
            publish(m, topic, payload, true);
            free(payload);
            announced++;
        }
    }
    json_decref(meter_dev);
    json_decref(module_dev);
    json_decref(orig);
    m->discovery_sent++;
    snprintf(m->discovery_sn, sizeof m->discovery_sn, "%s", r->utility_sn);
    m->discovery_phases = phases;
    host_logf(m->log, HOST_LOG_INFO,
              "mqtt: Home Assistant discovery sent for meter %s (%zu entities, %u phase%s; %zu removed)",
              r->utility_sn, announced, phases ? phases : 3u, phases == 1 ? "" : "s", removed);
}

/* Publish a payload built for <prefix>/<suffix>, not retained, and free it;
 * false (nothing sent) if there is none. */
static bool publish_state(host_mqtt *m, const char *suffix, char *payload)
{
    if (!payload)
        return false;
    char topic[96];
    snprintf(topic, sizeof topic, "%s/%s", m->prefix, suffix);
    publish(m, topic, payload, false);
    free(payload);
    return true;
}

/* The diagnostics topic (host_dash_diag_payload). */
static void publish_diagnostics(host_mqtt *m, const mepc_readings *r, uint32_t now_ms)
{
    if (!publish_state(m, mepc_disc_topic_name(MEPC_DISC_T_DIAG), host_dash_diag_payload(r)))
        return;
    m->have_diag = true;
    m->last_diag_ms = now_ms;
    m->diag_status = (int)r->status;
}

void host_mqtt_update(host_mqtt *m, const mepc_readings *r, uint8_t phases, uint32_t now_ms)
{
    if (!m->mosq || !atomic_load(&m->connected))
        return;
    unsigned connects = atomic_load(&m->connects);
    bool ready = host_dash_ready(r, now_ms, NULL);
    /* discovery once the meter is known and its phase count too (ET04), or
     * the readings are served (a meter without ET04 gets three phases) */
    if (r->identity_valid && (phases || ready) &&
        (m->discovery_for != connects || strcmp(m->discovery_sn, r->utility_sn) ||
         m->discovery_phases != phases)) {
        publish_discovery(m, r, phases);
        m->discovery_for = connects;
    }
    /* diagnostics of a known meter (mepc_discovery.h) every period, and at
     * once when the status changes */
    if (r->identity_valid &&
        (!m->have_diag || now_ms - m->last_diag_ms >= HOST_MQTT_PERIOD_MS || m->diag_status != (int)r->status))
        publish_diagnostics(m, r, now_ms);
    if (m->have_published && now_ms - m->last_publish_ms < HOST_MQTT_PERIOD_MS)
        return;
    if (!ready)
        return; /* never zeros as readings (S06), never stale ones as live */
    for (int i = 0; i < HOST_MQTT_TOPICS; i++)
        publish_state(m, host_dash_mqtt_topic(i), host_dash_mqtt_payload(r, now_ms, i));
    m->have_published = true;
    m->last_publish_ms = now_ms;
}

json_t *host_mqtt_status_json(const host_mqtt *m)
{
    json_t *o = json_object();
    char broker[300], err[sizeof m->last_error];
    snprintf(broker, sizeof broker, "%s:%u", m->host, m->port);
    pthread_mutex_t *lock = (pthread_mutex_t *)&m->err_lock; /* reading is not a change */
    pthread_mutex_lock(lock);
    snprintf(err, sizeof err, "%s", m->last_error);
    pthread_mutex_unlock(lock);
    json_object_set_new(o, "state", json_string(state_name((host_mqtt_state)atomic_load(&m->state))));
    json_object_set_new(o, "connected", json_boolean(atomic_load(&m->connected)));
    json_object_set_new(o, "last_error", err[0] ? json_string(err) : json_null());
    json_object_set_new(o, "broker", json_string(broker));
    json_object_set_new(o, "tls", json_boolean(m->tls));
    json_object_set_new(o, "user", m->user[0] ? json_string(m->user) : json_null());
    json_object_set_new(o, "connects", json_integer(atomic_load(&m->connects)));
    json_object_set_new(o, "refusals", json_integer(atomic_load(&m->refusals)));
    json_object_set_new(o, "published", json_integer(m->published));
    json_object_set_new(o, "publish_errors", json_integer(m->publish_errors));
    json_object_set_new(o, "discovery_sent", json_integer(m->discovery_sent));
    return o;
}

void host_mqtt_stop(host_mqtt *m)
{
    if (!m->mosq)
        return;
    if (atomic_load(&m->connected)) {
        /* a clean DISCONNECT cancels the will, so say Offline ourselves */
        mosquitto_publish(m->mosq, NULL, m->lwt_topic, 7, "Offline", 0, true);
        usleep(100 * 1000); /* let the network thread send it (bounded, exit path only) */
    }
    atomic_store(&m->stop, 1);
    mosquitto_disconnect(m->mosq); /* ends the network loop in the thread at once */
    if (m->thread_started) {
        /* a TCP connect to an unroutable broker can block for minutes: give
         * the thread 2 s, then cancel it (connect() is a cancellation point) */
        for (int i = 0; i < 20 && !atomic_load(&m->done); i++)
            usleep(100 * 1000);
        if (!atomic_load(&m->done)) {
            host_logf(m->log, HOST_LOG_WARN, "mqtt: network thread stuck (connecting?); cancelling it");
            pthread_cancel(m->thread);
        }
        pthread_join(m->thread, NULL);
    }
    m->thread_started = false;
    mosquitto_destroy(m->mosq);
    m->mosq = NULL;
    pthread_mutex_destroy(&m->err_lock);
}
