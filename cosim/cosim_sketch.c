/* cosim_sketch: an Arduino sketch built for virtual time as the firmware of
 * a co-simulation; see cosim_sketch.h, README.md ("Arduino sketches") and the
 * protocol in hil/arduino-host/vt/ahk_vt_proto.h. */
#define _GNU_SOURCE
#include "cosim_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/time.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ahk_vt_proto.h"
#include "mep_frame.h"

#define PRE_CAP 4096u              /* bytes sent ahead, not yet released by the line */
#define RXQ_CAP 4096u              /* bytes released, not yet sent */
#define REQ_CAP 16u                /* HTTP requests waiting for the next grant */
#define ANSWER_WALL_MS 60000       /* a sketch that does not answer within a minute of wall time is hung */
/* A sketch waiting for its slice is held when the line wakes within this time
 * (typically: its request is out and the meter's turnaround, 30-40 ms for the
 * default profile, ends then): its clock jumps to the wake, as after a long
 * loop() quantum, and the reply comes with the next slice (one sync per
 * transaction less; counters.json sketch.held_us). Longer waits (a late reply,
 * S13) are run, not held. README.md here, "Arduino sketches". */
#define HOLD_FOR_LINE_US 50000u
/* The longest slice: a request from outside (cosim_http_get) waits at most this
 * much virtual time for the sketch to take it; costs an idle sketch a sync per slice. */
#define MAX_SLICE_US 2000000u
#define DASH_PATH "/getDashDataWS" /* docs/module-behaviour.md 8.1 */
#define MQTT_TOTAL_SUFFIX "/meterConsumptionTotal/mydatajson" /* docs/module-behaviour.md 8.2 */

typedef struct {
    uint64_t t;
    uint8_t kind, flag;
    uint32_t arg;
    uint8_t *data;
    uint32_t len;
} sk_item;

typedef enum { REQ_PERIODIC, REQ_AWAITED, REQ_PROVISION } req_kind;

typedef struct {
    uint32_t id;
    uint64_t t;
    req_kind kind;
    char *text;
} sk_req;

typedef enum { PROV_SETUP, PROV_SETTINGS, PROV_DONE } prov_step;

struct cosim_sketch {
    pid_t pid;
    int fd;
    char state_dir[600];
    bool own_state_dir;
    uint64_t clock;                /* the sketch's clock (it waits for a grant there) */
    unsigned holds;                /* times held for the line since its last grant */
    uint64_t held_us;
    bool alive;
    char err[300];
    /* outputs of the sketch, applied when the clock reaches them */
    sk_item *inbox;
    size_t in_head, in_n, in_cap;
    /* bytes sent ahead: what the line will release, in order */
    uint64_t pre_t[PRE_CAP];
    uint8_t pre_b[PRE_CAP];
    size_t pre_head, pre_n;
    uint64_t pre_frame;            /* tx_start_us of the frame sent ahead */
    size_t pre_upto;               /* its bytes [0, pre_upto) are sent (or were released) */
    /* bytes released that were not sent ahead */
    uint8_t rxq[RXQ_CAP];
    uint64_t rxq_t[RXQ_CAP];
    size_t rxq_n;
    /* HTTP */
    sk_req req[REQ_CAP];
    size_t req_n;
    uint32_t next_id;
    uint32_t prov_id, await_id;
    prov_step prov;
    uint64_t next_get, get_period;
    bool await_done, brk;
    int await_status;
    char *await_text;              /* the raw response */
    size_t await_len;
    char *last_text;               /* the last published document without its clock members' values */
    size_t last_text_len;
    char last_sn[64];
    /* MQTT */
    cosim_mqtt_msg *mq;
    size_t mq_head, mq_n;
    /* counters */
    uint64_t syncs, reboots, ahead, late, ahead_mismatch, ahead_dropped, rx_forwarded;
    uint64_t tx_bytes, line_events, http_sent, http_answers, http_unanswered, mqtt_msgs, gets_published;
    /* work buffers (no state between calls) */
    uint8_t in[AHK_VT_MSG_MAX], out[AHK_VT_MSG_MAX];
    uint8_t ahead_b[PRE_CAP];
    uint64_t ahead_t[PRE_CAP];
    uint8_t rx_item[(PRE_CAP + RXQ_CAP) * 5];
    char norm[AHK_VT_MSG_MAX];
};

/* ---- start, stop -------------------------------------------------------------- */

bool cosim_sketch_check_path(const char *path, char *err, size_t errlen)
{
    char marker[1100];
    if (!path || !path[0]) {
        snprintf(err, errlen, "--firmware: empty path");
        return false;
    }
    if (access(path, X_OK) != 0) {
        snprintf(err, errlen, "--firmware %s: %s (give core, or a program built with "
                 "hil/arduino-host/build SKETCH -o PATH --virtual-time)", path, strerror(errno));
        return false;
    }
    snprintf(marker, sizeof marker, "%s.d/%s", path, AHK_VT_MARKER);
    if (access(marker, R_OK) != 0) {
        snprintf(err, errlen, "--firmware %s: not built for virtual time (no %s; rebuild with "
                 "hil/arduino-host/build SKETCH -o %s --virtual-time)", path, marker, path);
        return false;
    }
    return true;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    return remove(p);
}

static void fail(cosim_sketch *k, const char *msg)
{
    if (!k->err[0])
        snprintf(k->err, sizeof k->err, "sketch: %s", msg);
    k->alive = false;
}

static void spawn(cosim *s, cosim_sketch *k, int child_fd)
{
    char seed[32], base[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->mcfg.seed);
    /* UTC in ms at virtual time 0: the sketch's "host clock" is the meter's UTC */
    snprintf(base, sizeof base, "%lld", (long long)(s->start_utc_ms - (int64_t)(V0_US / 1000u)));
    char *argv[] = {(char *)s->cfg.firmware_path, "--vt-fd", "3", "--vt-seed", seed, "--vt-utc-base-ms", base,
                    "--state-dir", k->state_dir, NULL};
    char logpath[700] = "/dev/null";
    if (s->cfg.out_dir)
        snprintf(logpath, sizeof logpath, "%s/board.log", s->cfg.out_dir);
    k->pid = fork();
    if (k->pid != 0)
        return;
    /* the child: fd 3 is the link, stdin empty, the board log in --out DIR */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (child_fd == 3)
        fcntl(3, F_SETFD, 0);
    else
        dup2(child_fd, 3);
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0)
        dup2(nul, 0);
    int lg = s->cfg.verbose ? 2 : open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0666);
    if (lg >= 0) {
        dup2(lg, 1);
        dup2(lg, 2);
    }
    for (int fd = 4; fd < 1024; fd++)
        close(fd);
    execv(s->cfg.firmware_path, argv);
    fprintf(stderr, "mepsim-cosim: cannot run %s: %s\n", s->cfg.firmware_path, strerror(errno));
    _exit(127);
}

/* ---- messages ----------------------------------------------------------------- */

typedef struct {
    uint8_t *b;
    size_t n, cap;
    uint32_t items;
} msgbuf;

static void mb_put(msgbuf *m, const void *p, size_t n)
{
    if (m->n + n > m->cap)
        return;
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

/* One item; false (nothing added) if it does not fit the packet. */
static bool mb_item(msgbuf *m, uint8_t kind, uint8_t flag, uint64_t t, uint32_t arg, const void *data, uint32_t len)
{
    if (m->n + sizeof(ahk_vt_item) + AHK_VT_PAD8(len) > m->cap)
        return false;
    ahk_vt_item it;
    memset(&it, 0, sizeof it);
    it.kind = kind;
    it.flag = flag;
    it.len = len;
    it.t_us = t;
    it.arg = arg;
    mb_put(m, &it, sizeof it);
    if (len)
        mb_put(m, data, len);
    static const uint8_t zero[8];
    mb_put(m, zero, AHK_VT_PAD8(len) - len);
    m->items++;
    return true;
}

static void inbox_push(cosim_sketch *k, const ahk_vt_item *it, const uint8_t *d)
{
    if (k->in_n == k->in_cap) {
        size_t cap = k->in_cap ? k->in_cap * 2 : 64;
        sk_item *a = malloc(cap * sizeof *a);
        if (!a)
            return;
        for (size_t i = 0; i < k->in_n; i++)
            a[i] = k->inbox[(k->in_head + i) % k->in_cap];
        free(k->inbox);
        k->inbox = a;
        k->in_cap = cap;
        k->in_head = 0;
    }
    sk_item *x = &k->inbox[(k->in_head + k->in_n) % k->in_cap];
    x->t = it->t_us;
    x->kind = it->kind;
    x->flag = it->flag;
    x->arg = it->arg;
    x->len = it->len;
    x->data = malloc(it->len ? it->len : 1);
    if (x->data && it->len)
        memcpy(x->data, d, it->len);
    k->in_n++;
}

/* A HELLO: the board (re)booted. What it had been sent is gone with it. */
static void on_hello(cosim *s, cosim_sketch *k, const ahk_vt_head *h, bool first)
{
    if (!first)
        k->reboots++;
    (void)h;
    k->pre_n = 0;
    k->pre_frame = 0;
    k->rxq_n = 0;
    k->clock = s->now;
    if (k->await_id && !k->await_done) { /* never answered: the waiter gives up */
        k->http_unanswered++;
    }
    for (size_t i = 0; i < k->req_n; i++)
        if (k->req[i].t < s->now)
            k->req[i].t = s->now;
}

/* Wait for the sketch's next message and take it in. */
static void receive(cosim *s, cosim_sketch *k, bool first)
{
    uint8_t *in = k->in;
    ssize_t n;
    do /* SO_RCVTIMEO bounds the wait (cosim_sketch_start) */
        n = recv(k->fd, in, sizeof k->in, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        fail(k, "no answer within 60 s of wall time: a loop that never calls delay(), millis() or a "
                "Serial function, or a sketch stuck elsewhere");
        return;
    }
    if (n <= 0) {
        int st = 0;
        char msg[200];
        if (k->pid > 0 && waitpid(k->pid, &st, 0) == k->pid) {
            k->pid = 0;
            if (WIFEXITED(st))
                snprintf(msg, sizeof msg, "the program exited with status %d (its log: board.log in --out DIR, "
                         "or -v)", WEXITSTATUS(st));
            else
                snprintf(msg, sizeof msg, "the program was killed by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        } else {
            snprintf(msg, sizeof msg, "the link closed");
        }
        fail(k, msg);
        return;
    }
    ahk_vt_head h;
    if ((size_t)n < sizeof h) {
        fail(k, "a short message");
        return;
    }
    memcpy(&h, in, sizeof h);
    if (h.version != AHK_VT_VERSION || (h.type != AHK_VT_HELLO && h.type != AHK_VT_SYNC)) {
        fail(k, "a message of another protocol version (rebuild the sketch with this checkout's kit)");
        return;
    }
    k->syncs++;
    if (h.type == AHK_VT_HELLO) {
        on_hello(s, k, &h, first);
        return;
    }
    k->clock = h.clock_us > s->now ? h.clock_us : s->now;
    size_t off = sizeof h;
    for (uint32_t i = 0; i < h.n_items && off + sizeof(ahk_vt_item) <= (size_t)n; i++) {
        ahk_vt_item it;
        memcpy(&it, in + off, sizeof it);
        off += sizeof it;
        if (off + it.len > (size_t)n)
            break;
        inbox_push(k, &it, in + off);
        off += AHK_VT_PAD8(it.len);
    }
}

static void vlog(cosim *s, const char *msg)
{
    if (s->cfg.verbose >= 1)
        fprintf(s->log, "[%12.6f] sketch %s\n", cosim_sim_seconds(s), msg);
}

/* ---- HTTP ----------------------------------------------------------------------- */

/* false if it could not be queued (REQ_CAP requests already wait for the next grant) */
static bool queue_request(cosim_sketch *k, req_kind kind, uint64_t t, const char *method, const char *path,
                          const char *body, uint32_t *id_out)
{
    if (k->req_n == REQ_CAP)
        return false;
    size_t blen = body ? strlen(body) : 0;
    size_t cap = strlen(path) + blen + 300;
    char *text = malloc(cap);
    if (!text)
        return false;
    if (body)
        snprintf(text, cap, "%s %s HTTP/1.1\r\nHost: esp32-mep\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", method, path, blen, body);
    else
        snprintf(text, cap, "%s %s HTTP/1.1\r\nHost: esp32-mep\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
                 method, path);
    uint32_t id = ++k->next_id;
    k->req[k->req_n++] = (sk_req){id, t, kind, text};
    if (id_out)
        *id_out = id;
    return true;
}

/* status, Content-Type and body of a raw response (chunked bodies decoded in place) */
static int parse_response(char *raw, size_t n, const char **ctype, size_t *ctlen, char **body, size_t *blen)
{
    int status = -1;
    *ctype = "";
    *ctlen = 0;
    *body = raw + n;
    *blen = 0;
    if (n < 12 || strncmp(raw, "HTTP/1.", 7) != 0)
        return -1;
    status = atoi(raw + 9);
    char *end = memmem(raw, n, "\r\n\r\n", 4);
    if (!end)
        return status;
    bool chunked = false;
    for (char *l = strstr(raw, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n")) {
        char *h = l + 2;
        if (!strncasecmp(h, "Content-Type:", 13)) {
            char *v = h + 13;
            while (*v == ' ')
                v++;
            *ctype = v;
            *ctlen = (size_t)(strstr(v, "\r\n") - v);
        } else if (!strncasecmp(h, "Transfer-Encoding:", 18) && strstr(h, "chunked") && strstr(h, "chunked") < end) {
            chunked = true;
        }
    }
    char *b = end + 4;
    size_t bl = (size_t)(raw + n - b);
    if (chunked) { /* size line, data, CRLF ... 0 */
        size_t out = 0, i = 0;
        while (i < bl) {
            size_t sz = strtoul(b + i, NULL, 16);
            char *nl = memmem(b + i, bl - i, "\r\n", 2);
            if (!nl || sz == 0)
                break;
            i = (size_t)(nl - b) + 2;
            if (i + sz > bl)
                sz = bl - i;
            memmove(b + out, b + i, sz);
            out += sz;
            i += sz + 2;
        }
        bl = out;
    }
    *body = b;
    *blen = bl;
    return status;
}

static void url_encode(const uint8_t *p, size_t n, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        uint8_t c = p[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

/* The key the way a user gives it (hil/osgp_hil/boards/arduino-*.yaml): our
 * sketch's set-up form (POST /setup mbk=..., 32 hex digits unless --mbk gave
 * text), else a hobby-style GET /settings?mbk=<the key's characters>. */
static void provision(cosim *s, cosim_sketch *k)
{
    const uint8_t *key = s->cfg.has_mbk ? s->cfg.mbk : s->prof.mbk;
    char enc[200], body[300], path[300];
    if (k->prov == PROV_SETUP) {
        char hex[33];
        for (int i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02X", key[i]);
        const char *txt = s->cfg.mbk_text ? s->cfg.mbk_text : hex;
        url_encode((const uint8_t *)txt, strlen(txt), enc, sizeof enc);
        if (s->cfg.poll_ms)
            snprintf(body, sizeof body, "mbk=%s&poll_ms=%u", enc, (unsigned)s->cfg.poll_ms);
        else
            snprintf(body, sizeof body, "mbk=%s", enc);
        queue_request(k, REQ_PROVISION, s->now, "POST", "/setup", body, &k->prov_id);
    } else if (k->prov == PROV_SETTINGS) {
        if (s->cfg.mbk_text)
            url_encode((const uint8_t *)s->cfg.mbk_text, strlen(s->cfg.mbk_text), enc, sizeof enc);
        else
            url_encode(key, 16, enc, sizeof enc);
        snprintf(path, sizeof path, "/settings?mbk=%s", enc);
        queue_request(k, REQ_PROVISION, s->now, "GET", path, NULL, &k->prov_id);
    }
}

static bool json_bool_member(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return v && json_is_true(v);
}

/* A periodic GET /getDashDataWS answered: a published value when it is a
 * JSON document that differs from the last one in more than its clock. */
/* body without the values of the clock members (they change every second):
 * the text a repeated document is recognised by, without parsing it */
static size_t clockless(const char *body, size_t blen, char *out, size_t cap)
{
    static const char *const skip[] = {"\"CurrentDateTimeString\":\"", "\"CurrentDateTime\":\""};
    size_t o = 0;
    for (size_t i = 0; i < blen && o < cap;) {
        bool cut = false;
        for (size_t k = 0; k < 2 && !cut; k++) {
            size_t kl = strlen(skip[k]);
            if (i + kl <= blen && !memcmp(body + i, skip[k], kl)) {
                i += kl;
                while (i < blen && body[i] != '"')
                    i++;
                cut = true;
            }
        }
        if (!cut)
            out[o++] = body[i++];
    }
    return o;
}

static void publish_document(cosim *s, cosim_sketch *k, int status, const char *body, size_t blen)
{
    if (status != 200)
        return;
    char *norm = k->norm;
    size_t nl = clockless(body, blen, norm, sizeof k->norm);
    if (k->last_text && nl == k->last_text_len && !memcmp(k->last_text, norm, nl))
        return;                   /* the same document again: the firmware has not polled since */
    free(k->last_text);
    k->last_text = malloc(nl ? nl : 1);
    if (k->last_text)
        memcpy(k->last_text, norm, nl);
    k->last_text_len = nl;
    /* parsed (and written compact) once per new document */
    json_t *doc = json_loadb(body, blen, 0, NULL);
    if (!json_is_object(doc) || !json_is_integer(json_object_get(doc, "Fwd_Act_Wh"))) {
        json_decref(doc);
        return;
    }
    json_t *sn = json_object_get(doc, "Utility_SN");
    snprintf(k->last_sn, sizeof k->last_sn, "%s", json_is_string(sn) ? json_string_value(sn) : "");
    int64_t mf, mr;
    cosim_published(s, json_integer_value(json_object_get(doc, "Fwd_Act_Wh")),
                    json_integer_value(json_object_get(doc, "Rev_Act_Wh")), k->last_sn,
                    json_bool_member(doc, "Energy_Suspect"), &mf, &mr);
    k->gets_published++;
    if (s->out.published) {
        bool one_line = !memchr(body, '\n', blen);
        char *text = one_line ? NULL : json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (one_line) { /* the document as the firmware wrote it */
            text = malloc(blen + 1);
            if (text) {
                memcpy(text, body, blen);
                text[blen] = '\0';
            }
        }
        if (text)
            cosim_out_publish_doc(&s->out, cosim_sim_seconds(s), cosim_utc_ms(s), mf, mr, NULL, text);
        free(text);
    }
    json_decref(doc);
}

static void on_http_answer(cosim *s, cosim_sketch *k, const sk_item *it)
{
    if (it->flag) /* the rest of an answer whose status and first bytes came before */
        return;
    k->http_answers++;
    char *raw = malloc(it->len + 1);
    if (!raw)
        return;
    memcpy(raw, it->data, it->len);
    raw[it->len] = '\0';
    const char *ct;
    size_t ctl, blen;
    char *body;
    int status = parse_response(raw, it->len, &ct, &ctl, &body, &blen);
    if (s->cfg.verbose >= 2 || (s->cfg.verbose && (it->arg == k->await_id || it->arg == k->prov_id))) {
        char msg[120];
        snprintf(msg, sizeof msg, "HTTP answer %u: status %d, %zu body bytes", (unsigned)it->arg, status, blen);
        vlog(s, msg);
    }
    if (it->arg == k->await_id) {
        free(k->await_text);
        k->await_text = raw;
        k->await_len = it->len;
        k->await_status = status;
        k->await_done = true;
        k->brk = true;
        return;
    }
    if (it->arg == k->prov_id) {
        char msg[160];
        snprintf(msg, sizeof msg, "provisioning: %s answered %d", k->prov == PROV_SETUP ? "POST /setup" : "GET /settings",
                 status);
        vlog(s, msg);
        k->prov_id = 0;
        if (k->prov == PROV_SETUP && status == 404) {
            k->prov = PROV_SETTINGS;
            provision(s, k);
        } else {
            k->prov = PROV_DONE;
        }
    } else {
        publish_document(s, k, status, body, blen);
    }
    free(raw);
}

/* ---- MQTT ----------------------------------------------------------------------- */

static void on_mqtt(cosim *s, cosim_sketch *k, const sk_item *it)
{
    size_t tl = it->arg <= it->len ? it->arg : it->len;
    cosim_mqtt_msg *m;
    if (k->mq_n == COSIM_MQTT_KEEP) { /* drop the oldest */
        k->mq_head = (k->mq_head + 1) % COSIM_MQTT_KEEP;
        k->mq_n--;
    }
    m = &k->mq[(k->mq_head + k->mq_n) % COSIM_MQTT_KEEP];
    k->mq_n++;
    k->mqtt_msgs++;
    memset(m, 0, sizeof *m);
    m->t_us = it->t - V0_US;
    m->retained = it->flag != 0;
    size_t ct = tl < sizeof m->topic - 1 ? tl : sizeof m->topic - 1;
    memcpy(m->topic, it->data, ct);
    m->payload_len = it->len - tl;
    size_t cp = m->payload_len < sizeof m->payload - 1 ? m->payload_len : sizeof m->payload - 1;
    memcpy(m->payload, it->data + tl, cp);
    size_t sl = strlen(MQTT_TOTAL_SUFFIX);
    if (tl < sl || memcmp(it->data + tl - sl, MQTT_TOTAL_SUFFIX, sl) != 0)
        return;
    json_t *doc = json_loadb((const char *)it->data + tl, it->len - tl, 0, NULL);
    if (json_is_object(doc) && json_is_integer(json_object_get(doc, "Fwd_Act_Wh"))) {
        int64_t mf, mr;
        cosim_published(s, json_integer_value(json_object_get(doc, "Fwd_Act_Wh")),
                        json_integer_value(json_object_get(doc, "Rev_Act_Wh")), k->last_sn, false, &mf, &mr);
        char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text)
            cosim_out_publish_doc(&s->out, cosim_sim_seconds(s), cosim_utc_ms(s), mf, mr, m->topic, text);
        free(text);
    }
    json_decref(doc);
}

/* ---- the line toward the module ------------------------------------------------ */

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static bool output_reaches_module(const cosim *s)
{
    return s->xcvr_on && sim_meter_line_on(s->meter, SIM_METER_TRANSCEIVER) &&
           sim_meter_line_on(s->meter, SIM_METER_ENABLE);
}

void cosim_sketch_line_bytes(cosim *s, const uint8_t *p, size_t n)
{
    cosim_sketch *k = s->sketch;
    for (size_t i = 0; i < n; i++) {
        if (k->pre_n) { /* sent ahead: the sketch has it already */
            if (k->pre_b[k->pre_head] != p[i])
                k->ahead_mismatch++;
            k->pre_head = (k->pre_head + 1) % PRE_CAP;
            k->pre_n--;
            continue;
        }
        if (!s->xcvr_on || k->rxq_n == RXQ_CAP)
            continue;
        k->rxq[k->rxq_n] = p[i];
        k->rxq_t[k->rxq_n++] = s->now;
        k->rx_forwarded++;
    }
}

/* A board line changed at now: what was sent ahead after now will not come
 * as announced; the sketch dropped the same bytes (src/runtime/vt.cpp). */
static void drop_ahead_after(cosim_sketch *k, uint64_t t)
{
    while (k->pre_n) {
        size_t last = (k->pre_head + k->pre_n - 1) % PRE_CAP;
        if (k->pre_t[last] <= t)
            break;
        k->pre_n--;
        k->ahead_dropped++;
    }
    k->pre_frame = 0;
}

/* The bytes of the current response the meter has committed (up to the end of
 * this 117-byte segment: the fault layer may rewrite the rest at the pause,
 * docs/mep.md 4), stamped with the end of their stop bits, as far as cap.
 * Returns the time up to which the line's output toward the module is known. */
static uint64_t send_ahead(cosim *s, cosim_sketch *k, uint64_t cap, uint8_t *b, uint64_t *t, size_t *n, size_t max)
{
    const sim_line *l = &s->line;
    if (!l->tx_active)
        return sim_line_next_wake(l, s->now);
    uint64_t tx_end = l->tx_start_us + sim_line_tx_duration_us(l, l->tx_len);
    if (!output_reaches_module(s))
        return tx_end;            /* nothing of this frame reaches the module; the line's next output starts after it */
    if (k->pre_frame != l->tx_start_us) {
        if (k->pre_n) {           /* a frame sent ahead that was not released as announced */
            k->ahead_dropped += k->pre_n;
            k->pre_n = 0;
        }
        k->pre_frame = l->tx_start_us;
        k->pre_upto = l->tx_pos;
    }
    if (k->pre_upto < l->tx_pos)
        k->pre_upto = l->tx_pos;
    /* only a segment glitch rewrites a reply at a segment pause (sim_glitch_between_segments) */
    bool rewrite = false;
    for (size_t i = 0; i < SIM_GLITCH_MAX && !l->tx_is_alert; i++)
        rewrite |= s->faults.glitch.slot[i].id && s->faults.glitch.slot[i].spec.kind == SIM_GLITCH_SEGMENT;
    size_t seg_end = !rewrite ? l->tx_len : (l->tx_pos / MEP_SEGMENT_BYTES + 1) * MEP_SEGMENT_BYTES;
    if (seg_end > l->tx_len)
        seg_end = l->tx_len;
    while (k->pre_upto < seg_end && *n < max && k->pre_n < PRE_CAP) {
        uint64_t at = l->tx_start_us + sim_line_tx_duration_us(l, k->pre_upto + 1);
        if (at > cap)
            return cap;
        b[*n] = l->tx[k->pre_upto];
        t[(*n)++] = at;
        size_t slot = (k->pre_head + k->pre_n++) % PRE_CAP;
        k->pre_b[slot] = l->tx[k->pre_upto];
        k->pre_t[slot] = at;
        k->pre_upto++;
        k->ahead++;
    }
    if (k->pre_upto < seg_end)
        return s->now;            /* full: sync again soon */
    /* new output (the next segment, rewritten at the pause, or the next frame) comes at a wake
     * of the line after the last committed byte, and not before the line's next wake */
    uint64_t known = l->tx_start_us + sim_line_tx_duration_us(l, seg_end);
    uint64_t w = sim_line_next_wake(l, s->now);
    if (seg_end < l->tx_len)
        return known > w ? known : w;
    /* the whole frame is known: after it the line sends a queued frame's reply (not before its
     * end), a fault layer's own bytes (its next wake) or an alert, never within 1 s of the last
     * byte it heard nor of the last alert (sim_line.c alert_due, docs/mep.md 4) */
    uint64_t next = COSIM_NEVER;
    if (l->q_n > 0)
        next = known;
    if (l->hooks.next_wake) {
        uint64_t f = l->hooks.next_wake(l->hooks.ctx, s->now);
        next = min64(next, f > known ? f : known);
    }
    uint64_t alert = known;
    if (!sim_meter_alert_pending(l->meter) && l->meter_deadline_ms < COSIM_NEVER / 1000u &&
        l->meter_deadline_ms * 1000u > alert)
        alert = l->meter_deadline_ms * 1000u; /* nothing to announce before the meter's next tick */
    if (l->heard_any && l->last_rx_us + SIM_ALERT_HOLDOFF_MS * 1000u > alert)
        alert = l->last_rx_us + SIM_ALERT_HOLDOFF_MS * 1000u;
    if (l->alerted_any && l->last_alert_us + SIM_ALERT_PERIOD_MS * 1000u > alert)
        alert = l->last_alert_us + SIM_ALERT_PERIOD_MS * 1000u;
    next = min64(next, alert);
    return next > known ? next : known;
}

/* ---- the grant ------------------------------------------------------------------ */

static void apply_item(cosim *s, cosim_sketch *k, const sk_item *it)
{
    switch (it->kind) {
    case AHK_VT_ITEM_TX:
        k->tx_bytes += it->len;
        cosim_module_uart_write(s, it->data, it->len);
        break;
    case AHK_VT_ITEM_LINE:
        k->line_events++;
        drop_ahead_after(k, s->now);
        cosim_module_line(s, it->arg == AHK_VT_LINE_TRANSCEIVER, it->flag != 0);
        break;
    case AHK_VT_ITEM_HTTP_RESP:
        on_http_answer(s, k, it);
        break;
    case AHK_VT_ITEM_MQTT:
        on_mqtt(s, k, it);
        break;
    default:
        break;
    }
}

static void grant(cosim *s, cosim_sketch *k)
{
    uint8_t *buf = k->out;
    msgbuf m = {buf, sizeof(ahk_vt_head), sizeof k->out, 0};
    bool stop = s->now >= s->end;
    /* the horizon: the next thing that could send something toward the sketch */
    uint64_t h = min64(s->end, s->now + MAX_SLICE_US);
    h = min64(h, cosim_queue_at(&s->q, SRC_SCEN));
    if (s->tx_n) /* the meter cannot answer before the module's last queued byte has arrived */
        h = min64(h, s->tx_burst_us + (s->tx_burst_k + s->tx_n) * s->bits_per_char * 1000000ull / s->module_baud);
    uint8_t *ab = k->ahead_b;
    uint64_t *at = k->ahead_t;
    size_t an = 0;
    h = min64(h, send_ahead(s, k, h, ab, at, &an, PRE_CAP));
    if (h <= s->now)
        h = s->now + 1;
    /* bytes for the module: those released since the last grant, then those sent ahead */
    size_t total = k->rxq_n + an;
    if (total) {
        uint64_t t0 = k->rxq_n ? k->rxq_t[0] : at[0];
        uint8_t *d = k->rx_item;
        for (size_t i = 0; i < k->rxq_n; i++) {
            d[i] = k->rxq[i];
            uint32_t off = (uint32_t)(k->rxq_t[i] - t0);
            memcpy(d + total + 4 * i, &off, 4);
        }
        for (size_t i = 0; i < an; i++) {
            d[k->rxq_n + i] = ab[i];
            uint32_t off = (uint32_t)(at[i] - t0);
            memcpy(d + total + 4 * (k->rxq_n + i), &off, 4);
        }
        for (size_t i = 0; i < k->rxq_n; i++)
            k->late += k->rxq_t[i] < s->now; /* released after the sketch's clock had passed them */
        mb_item(&m, AHK_VT_ITEM_RX, 0, t0, (uint32_t)total, d, (uint32_t)(total * 5));
        k->rxq_n = 0;
    }
    /* the periodic reading of the published document, ahead of its time */
    while (k->get_period && k->next_get < h && k->req_n < REQ_CAP) {
        queue_request(k, REQ_PERIODIC, k->next_get > s->now ? k->next_get : s->now, "GET", DASH_PATH, NULL, NULL);
        k->next_get += k->get_period;
    }
    size_t kept = 0;
    for (size_t i = 0; i < k->req_n; i++) {
        sk_req *r = &k->req[i];
        if (mb_item(&m, AHK_VT_ITEM_HTTP_REQ, r->kind != REQ_PERIODIC, r->t, r->id, r->text, (uint32_t)strlen(r->text))) {
            k->http_sent++;
            if (s->cfg.verbose >= 2 || (s->cfg.verbose && r->kind != REQ_PERIODIC)) {
                char msg[200];
                const char *eol = strstr(r->text, "\r\n");
                snprintf(msg, sizeof msg, "HTTP request %u at %.6f: %.*s", (unsigned)r->id,
                         (double)(r->t - V0_US) / 1e6, eol ? (int)(eol - r->text) : 40, r->text);
                vlog(s, msg);
            }
            free(r->text);
        } else {
            k->req[kept++] = *r;
        }
    }
    k->req_n = kept;
    if (stop)
        mb_item(&m, AHK_VT_ITEM_STOP, 0, s->now, 0, NULL, 0);
    ahk_vt_head hd;
    memset(&hd, 0, sizeof hd);
    hd.type = AHK_VT_GRANT;
    hd.version = AHK_VT_VERSION;
    hd.n_items = m.items;
    hd.clock_us = s->now;
    hd.horizon_us = h;
    memcpy(buf, &hd, sizeof hd);
    if (send(k->fd, buf, m.n, MSG_NOSIGNAL) != (ssize_t)m.n) {
        fail(k, "the link closed");
        return;
    }
    if (stop) {
        k->alive = false;
        return;
    }
    receive(s, k, false);
}

/* Would the line hand bytes to the module by time at (it sends one of its frames)? A
 * sketch is never held over bytes it would receive late. */
static bool releases_before(const cosim *s, uint64_t at)
{
    const sim_line *l = &s->line;
    if (!l->tx_active || l->tx_pos >= l->tx_len || !output_reaches_module(s))
        return false;
    return l->tx_start_us + sim_line_tx_duration_us(l, l->tx_pos + 1) <= at + SIM_LINE_EARLY_US;
}

static uint64_t next_due(const cosim_sketch *k)
{
    uint64_t next = k->clock;
    if (k->in_n && k->inbox[k->in_head].t < next)
        next = k->inbox[k->in_head].t;
    return next;
}

void cosim_sketch_run(cosim *s)
{
    cosim_sketch *k = s->sketch;
    while (k->in_n && k->inbox[k->in_head].t <= s->now) {
        sk_item it = k->inbox[k->in_head];
        k->in_head = (k->in_head + 1) % k->in_cap;
        k->in_n--;
        apply_item(s, k, &it);
        free(it.data);
    }
    if (k->alive && next_due(k) <= s->now) {
        /* the line wakes within HOLD_MAX_US (its batching of paced bytes, a tick after a
         * reply): let it run first rather than granting a slice that ends there */
        uint64_t w = sim_line_next_wake(&s->line, s->now);
        /* once up to HOLD_FOR_LINE_US, then a few times more for a wake within 1 ms (a meter
         * tick right after a reply started, whose outcome the horizon would have to wait for) */
        uint64_t at = w > s->now ? w : s->now + 1;
        if (((k->holds == 0 && w < s->now + HOLD_FOR_LINE_US) || (k->holds < 4 && w <= s->now + 1000u)) &&
            !releases_before(s, at)) {
            k->holds++;
            k->held_us += at - s->now;
            k->clock = at;
            cosim_queue_set(&s->q, SRC_FW, at);
            return;
        }
        k->holds = 0;
        grant(s, k);              /* it waits at now and owes nothing before: its next slice */
    }
    if (!k->alive) {
        cosim_queue_set(&s->q, SRC_FW, COSIM_NEVER);
        return;
    }
    /* outputs at now (a pin change) come through the queue again, after the line's turn at now */
    uint64_t next = next_due(k);
    cosim_queue_set(&s->q, SRC_FW, next > s->now ? next : s->now);
}

/* ---- API ------------------------------------------------------------------------- */

cosim_sketch *cosim_sketch_start(cosim *s, char *err, size_t errlen)
{
    cosim_sketch *k = calloc(1, sizeof *k);
    cosim_mqtt_msg *mq = calloc(COSIM_MQTT_KEEP, sizeof *mq);
    if (!k || !mq) {
        free(k);
        free(mq);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->mq = mq;
    k->fd = -1;
    if (s->cfg.state_dir) {
        snprintf(k->state_dir, sizeof k->state_dir, "%s", s->cfg.state_dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(k->state_dir, sizeof k->state_dir, "%s/mepsim-cosim-flash-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(k->state_dir)) {
            snprintf(err, errlen, "cannot create a state directory in %s: %s", tmp && *tmp ? tmp : "/tmp",
                     strerror(errno));
            cosim_sketch_free(k);
            return NULL;
        }
        k->own_state_dir = true;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(err, errlen, "socketpair: %s", strerror(errno));
        cosim_sketch_free(k);
        return NULL;
    }
    int bufsz = (int)AHK_VT_MSG_MAX * 4;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
    fflush(NULL);
    spawn(s, k, sv[1]);
    close(sv[1]);
    if (k->pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(sv[0]);
        cosim_sketch_free(k);
        return NULL;
    }
    k->fd = sv[0];
    struct timeval tv = {ANSWER_WALL_MS / 1000, 0};
    setsockopt(k->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    k->alive = true;
    receive(s, k, true);
    if (!k->alive) {
        snprintf(err, errlen, "%s", k->err);
        cosim_sketch_free(k);
        return NULL;
    }
    k->get_period = (uint64_t)(s->cfg.http_poll_ms ? s->cfg.http_poll_ms : s->cfg.poll_ms ? s->cfg.poll_ms : 2000u) * 1000u;
    k->next_get = s->now + k->get_period;
    k->prov = PROV_SETUP;
    provision(s, k);
    return k;
}

bool cosim_sketch_take_break(cosim_sketch *k)
{
    bool b = k->brk;
    k->brk = false;
    return b;
}

int cosim_sketch_http_get(cosim *s, const char *path, char *body, size_t cap, size_t *len, char *ctype, size_t ctcap)
{
    cosim_sketch *k = s->sketch;
    if (!k->alive)
        return -1;
    k->await_done = false;
    if (!queue_request(k, REQ_AWAITED, k->clock > s->now ? k->clock : s->now, "GET", path, NULL, &k->await_id))
        return -1;
    uint64_t deadline = s->now - V0_US + COSIM_HTTP_TIMEOUT_US;
    while (!k->await_done && k->alive && cosim_run_until(s, deadline) && s->now - V0_US < deadline) {
    }
    k->brk = false;
    k->await_id = 0;
    if (!k->await_done) {
        k->http_unanswered++;
        return -1;
    }
    const char *ct;
    size_t ctl, blen;
    char *b;
    int status = parse_response(k->await_text, k->await_len, &ct, &ctl, &b, &blen);
    if (len)
        *len = blen;
    if (body && cap) {
        size_t c = blen < cap - 1 ? blen : cap - 1;
        memcpy(body, b, c);
        body[c] = '\0';
    }
    if (ctype && ctcap) {
        size_t c = ctl < ctcap - 1 ? ctl : ctcap - 1;
        memcpy(ctype, ct, c);
        ctype[c] = '\0';
    }
    return status;
}

size_t cosim_sketch_mqtt_take(cosim_sketch *k, cosim_mqtt_msg *out, size_t max)
{
    size_t n = 0;
    while (n < max && k->mq_n) {
        out[n++] = k->mq[k->mq_head];
        k->mq_head = (k->mq_head + 1) % COSIM_MQTT_KEEP;
        k->mq_n--;
    }
    return n;
}

void cosim_sketch_stop(cosim *s)
{
    cosim_sketch *k = s->sketch;
    if (!k)
        return;
    if (k->alive && k->fd >= 0) { /* it waits for a grant: STOP, and it exits */
        uint8_t buf[sizeof(ahk_vt_head) + sizeof(ahk_vt_item)];
        msgbuf m = {buf, sizeof(ahk_vt_head), sizeof buf, 0};
        mb_item(&m, AHK_VT_ITEM_STOP, 0, s->now, 0, NULL, 0);
        ahk_vt_head hd;
        memset(&hd, 0, sizeof hd);
        hd.type = AHK_VT_GRANT;
        hd.version = AHK_VT_VERSION;
        hd.n_items = 1;
        hd.clock_us = s->now;
        hd.horizon_us = s->now + 1;
        memcpy(buf, &hd, sizeof hd);
        (void)!send(k->fd, buf, m.n, MSG_NOSIGNAL);
        k->alive = false;
    }
    if (k->fd >= 0) {
        close(k->fd);
        k->fd = -1;
    }
    if (k->pid > 0) {
        int st;
        while (waitpid(k->pid, &st, 0) < 0 && errno == EINTR) {
        }
        k->pid = 0;
    }
}

json_t *cosim_sketch_counters(const cosim_sketch *k)
{
    json_t *o = json_object();
    json_object_set_new(o, "syncs", json_integer((json_int_t)k->syncs));
    json_object_set_new(o, "reboots", json_integer((json_int_t)k->reboots));
    json_object_set_new(o, "held_us", json_integer((json_int_t)k->held_us));
    json_object_set_new(o, "bytes_sent_ahead", json_integer((json_int_t)k->ahead));
    json_object_set_new(o, "bytes_forwarded", json_integer((json_int_t)k->rx_forwarded));
    json_object_set_new(o, "bytes_late", json_integer((json_int_t)k->late));
    json_object_set_new(o, "ahead_mismatch", json_integer((json_int_t)k->ahead_mismatch));
    json_object_set_new(o, "ahead_dropped", json_integer((json_int_t)k->ahead_dropped));
    json_object_set_new(o, "tx_bytes", json_integer((json_int_t)k->tx_bytes));
    json_object_set_new(o, "line_events", json_integer((json_int_t)k->line_events));
    json_object_set_new(o, "http_requests", json_integer((json_int_t)k->http_sent));
    json_object_set_new(o, "http_answers", json_integer((json_int_t)k->http_answers));
    json_object_set_new(o, "http_unanswered", json_integer((json_int_t)k->http_unanswered));
    json_object_set_new(o, "documents_published", json_integer((json_int_t)k->gets_published));
    json_object_set_new(o, "mqtt_messages", json_integer((json_int_t)k->mqtt_msgs));
    json_object_set_new(o, "provisioned", json_boolean(k->prov == PROV_DONE));
    return o;
}

const char *cosim_sketch_error(const cosim_sketch *k) { return k->err[0] ? k->err : NULL; }

void cosim_sketch_free(cosim_sketch *k)
{
    if (!k)
        return;
    if (k->fd >= 0)
        close(k->fd);
    if (k->pid > 0) {
        kill(k->pid, SIGTERM);
        int st;
        while (waitpid(k->pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    for (size_t i = 0; i < k->in_n; i++)
        free(k->inbox[(k->in_head + i) % k->in_cap].data);
    free(k->inbox);
    for (size_t i = 0; i < k->req_n; i++)
        free(k->req[i].text);
    free(k->await_text);
    free(k->last_text);
    free(k->mq);
    if (k->own_state_dir)
        nftw(k->state_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(k);
}
