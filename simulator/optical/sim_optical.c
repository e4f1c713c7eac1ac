/* sim_optical: PSEM services, session state machine and optical security of
 * the meter's optical port (see sim_optical.h). Section numbers refer to
 * docs/optical.md; [E] marks emulator policy where no source
 * decides (documented in fixtures/meters/README-optical.md). */
#include "sim_optical.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_text.h"

#define ET03_ID 2051u                 /* utility serial, Identify NES form (3.3) */
#define BT03_ID 3u                    /* alarms: offset 5 bit 0 invalid password (4) */
#define NO_USER 0xFFFFu

/* What must happen once the reply is on its way (applied by the caller of
 * dispatch: after link_send, or at once without a link). */
typedef struct {
    bool to_base;          /* Terminate: session over once the reply is out */
    bool negotiated;       /* new sizes / rate (3.3) */
    uint16_t packet_size;
    uint8_t nbr_packets;
    uint32_t baud;
    bool lockout;          /* bad-password lock-out starts after this reply */
    bool identify;         /* reply toggle restarts at 0 (2.4 [E]) */
} post_action;

struct sim_optical {
    sim_optical_cfg cfg;
    sim_optical_store store;
    sim_optical_link link;
    sim_optical_state state;
    sim_optical_key key;
    uint16_t user_id;
    uint8_t user[10];
    uint32_t baud;             /* rate in use */
    uint32_t next_baud;        /* applied when the outstanding reply completes; 0 none */
    bool next_baud_on_fail;    /* ...also if it fails (Terminate: back to 9600 anyway) */
    uint64_t last_traffic_ms;  /* channel traffic timer (3.5) */
    uint32_t wait_ms;          /* Wait service: next channel timeout; 0 = default */
    uint64_t session_start_ms; /* D.O.S. timer (3.5, 6) */
    uint64_t ignore_until_ms;  /* lock-out / D.O.S. hold-off end */
    uint32_t failed_auth;      /* consecutive bad passwords */
    post_action post;
    char name[32];             /* copy of cfg->name: the caller's string need not outlive us */
    sim_optical_counters ctr;
    uint8_t reply[SIM_OPTICAL_MAX_MESSAGE];
};

/* ---- names ---------------------------------------------------------------- */
const char *sim_optical_rsp_name(uint8_t code)
{
    static const char *const n[] = {"ok", "err", "sns", "isc", "onp", "iar",
                                    "bsy", "dnr", "dlk", "rno", "isss"};
    return code < sizeof n / sizeof n[0] ? n[code] : "?";
}

const char *sim_optical_req_name(uint8_t c)
{
    if (c >= 0x31 && c <= 0x39)
        return "index-read";
    if (c >= 0x41 && c <= 0x49)
        return "index-write";
    if (c >= 0x60 && c <= 0x6B)
        return "negotiate";
    switch (c) {
    case SIM_OPTICAL_IDENTIFY: return "identify";
    case SIM_OPTICAL_TERMINATE: return "terminate";
    case SIM_OPTICAL_FULL_READ: return "full-read";
    case SIM_OPTICAL_DEFAULT_READ: return "default-read";
    case SIM_OPTICAL_PARTIAL_READ: return "partial-read";
    case SIM_OPTICAL_FULL_WRITE: return "full-write";
    case SIM_OPTICAL_PARTIAL_WRITE: return "partial-write";
    case SIM_OPTICAL_LOGON: return "logon";
    case SIM_OPTICAL_SECURITY: return "security";
    case SIM_OPTICAL_LOGOFF: return "logoff";
    case SIM_OPTICAL_AUTHENTICATE: return "authenticate";
    case SIM_OPTICAL_WAIT: return "wait";
    case SIM_OPTICAL_TIMING_SETUP: return "timing-setup";
    }
    return "unknown";
}

const char *sim_optical_state_name(sim_optical_state s)
{
    switch (s) {
    case SIM_OPTICAL_STATE_BASE: return "BASE";
    case SIM_OPTICAL_STATE_ID: return "ID";
    case SIM_OPTICAL_STATE_SESSION: return "SESSION";
    }
    return "?";
}

const char *sim_optical_key_name(sim_optical_key k)
{
    switch (k) {
    case SIM_OPTICAL_KEY_NONE: return "no key";
    case SIM_OPTICAL_KEY_RK: return "RK";
    case SIM_OPTICAL_KEY_PK: return "PK";
    case SIM_OPTICAL_KEY_MK: return "MK";
    }
    return "?";
}

uint32_t sim_optical_baud_of_code(uint8_t code)
{
    /* 1: C12.18 baud codes; 0x0A is 57600 (some copies print 56200) */
    static const uint32_t b[] = {0, 300, 600, 1200, 2400, 4800, 9600, 14400,
                                 19200, 28800, 57600, 38400, 115200, 128000, 256000};
    return code < sizeof b / sizeof b[0] ? b[code] : 0;
}

static uint8_t code_of_baud(uint32_t baud)
{
    for (uint8_t c = 1; c <= 0x0E; c++)
        if (sim_optical_baud_of_code(c) == baud)
            return c;
    return 0x06;
}

/* ---- configuration ---------------------------------------------------------- */
void sim_optical_cfg_defaults(sim_optical_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->name = "optical";
    c->pk_enabled = true;
    c->bad_password_alarm = true;
    c->dos_session_s = 600;   /* ET51.4 default (6) */
    c->dos_holdoff_s = 300;   /* ET51.6 default */
    sim_optical_link_timing_defaults(&c->link);
    c->channel_timeout_ms = SIM_OPTICAL_CHANNEL_TIMEOUT_MS;
    c->baud_codes[0] = 0x06;  /* [E] 9600 only (1) */
    c->n_baud_codes = 1;
    c->max_packet_size = 1024; /* [E] caps (3.3) */
    c->max_packets = 8;
    c->identify_form = SIM_OPTICAL_IDENT_NES;
    /* 4: Open tables readable after Logon alone */
    sim_optical_cfg_rule(c, 0, SIM_OPTICAL_R_OPEN);      /* BT00 */
    sim_optical_cfg_rule(c, 1, SIM_OPTICAL_R_OPEN);      /* BT01 */
    sim_optical_cfg_rule(c, ET03_ID, SIM_OPTICAL_R_OPEN);/* ET03 */
    /* 3.3: writable over optical per the guide: ET51 and procedures via BT07 (MK, PK) */
    sim_optical_cfg_rule(c, 7, SIM_OPTICAL_R_WRITABLE);     /* BT07 */
    sim_optical_cfg_rule(c, 2048 + 51, SIM_OPTICAL_R_WRITABLE); /* ET51 */
    /* 4: "no reading/writing of keys" for PK and RK. [E] The OSGP key,
     * calibration and download tables are not named in the guide; the C12.19
     * security tables stand in for them (BT42 security, BT45 keys, BT46 ext. keys). */
    sim_optical_cfg_rule(c, 42, SIM_OPTICAL_R_NO_RK | SIM_OPTICAL_R_NO_PK);
    sim_optical_cfg_rule(c, 45, SIM_OPTICAL_R_NO_RK | SIM_OPTICAL_R_NO_PK);
    sim_optical_cfg_rule(c, 46, SIM_OPTICAL_R_NO_RK | SIM_OPTICAL_R_NO_PK);
}

int sim_optical_cfg_rule(sim_optical_cfg *c, uint16_t table_id, uint16_t flags)
{
    for (size_t i = 0; i < c->n_rules; i++) {
        if (c->rules[i].table_id == table_id) {
            c->rules[i].flags = flags;
            return 0;
        }
    }
    if (c->n_rules >= SIM_OPTICAL_MAX_RULES)
        return -1;
    c->rules[c->n_rules].table_id = table_id;
    c->rules[c->n_rules].flags = flags;
    c->n_rules++;
    return 0;
}

int sim_optical_cfg_key(sim_optical_cfg *c, char which, const uint8_t *key, size_t len)
{
    uint8_t *dst;
    bool *set;
    switch (which) {
    case 'M': dst = c->mk; set = &c->mk_set; break;
    case 'P': dst = c->pk; set = &c->pk_set; break;
    case 'R': dst = c->rk; set = &c->rk_set; break;
    default: return -1;
    }
    if (len > SIM_OPTICAL_PASSWORD_LEN || (len && !key))
        return -1;
    memset(dst, 0, SIM_OPTICAL_PASSWORD_LEN);
    if (len)
        memcpy(dst, key, len);
    *set = true;
    return 0;
}

static int cfg_check(const sim_optical_cfg *c, const sim_optical_store *s, char *err, size_t errlen)
{
#define BAD(...) do { if (err && errlen) snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)
    if (!s || !s->size || !s->read)
        BAD("optical: store needs size and read functions");
    if (c->max_packet_size < SIM_OPTICAL_DEFAULT_PACKET_SIZE || c->max_packet_size > SIM_OPTICAL_MAX_PACKET)
        BAD("optical: max_packet_size %u out of range 64..8192", c->max_packet_size);
    if (c->max_packets < 1)
        BAD("optical: max_packets must be at least 1");
    if (c->n_baud_codes < 1 || c->n_baud_codes > SIM_OPTICAL_MAX_BAUDS)
        BAD("optical: baud list needs 1..%d codes, got %zu", SIM_OPTICAL_MAX_BAUDS, c->n_baud_codes);
    for (size_t i = 0; i < c->n_baud_codes; i++)
        if (sim_optical_baud_of_code(c->baud_codes[i]) == 0)
            BAD("optical: baud code 0x%02X is not a C12.18 rate (01..0E)", c->baud_codes[i]);
    if (c->n_rules > SIM_OPTICAL_MAX_RULES)
        BAD("optical: %zu access rules, at most %d", c->n_rules, SIM_OPTICAL_MAX_RULES);
    if (c->link.interchar_ms == 0 || c->link.ack_timeout_ms == 0)
        BAD("optical: inter-character and response timeouts must be > 0 ms");
    if (c->channel_timeout_ms == 0)
        BAD("optical: channel traffic timeout must be > 0 ms");
    if (c->lockout_threshold && c->lockout_minutes == 0)
        BAD("optical: lock-out threshold %u needs a duration > 0 minutes", c->lockout_threshold);
    if (c->dos_enabled && (c->dos_session_s == 0 || c->dos_holdoff_s == 0))
        BAD("optical: D.O.S. timer needs session and hold-off times > 0 s");
    if (c->identify_form != SIM_OPTICAL_IDENT_NES && c->identify_form != SIM_OPTICAL_IDENT_CLASSIC)
        BAD("optical: unknown identify form %d", (int)c->identify_form);
    return 0;
#undef BAD
}

/* ---- logging ----------------------------------------------------------------- */
/* "<meter> optical: ..." into the port's log (store/sim_text.h). */
#define logf_(o, ...)                                                                                  \
    sim_text_logf((o)->cfg.log, (o)->cfg.log_ctx, (o)->cfg.name ? (o)->cfg.name : "meter", "optical", __VA_ARGS__)

static const char *table_name(uint16_t id, char buf[16])
{
    const char *pend = id >= SIM_OPTICAL_PENDING_OFFSET ? "pending " : "";
    uint16_t base = id >= SIM_OPTICAL_PENDING_OFFSET ? (uint16_t)(id - SIM_OPTICAL_PENDING_OFFSET) : id;
    if (base >= 2048)
        snprintf(buf, 16, "%sET%02u", pend, (unsigned)(base - 2048));
    else
        snprintf(buf, 16, "%sBT%02u", pend, (unsigned)base);
    return buf;
}

/* ---- sim_tables as a store -------------------------------------------------- */
static int tables_size(void *ctx, uint16_t id) { return sim_tables_size(ctx, id); }
static int tables_read(void *ctx, uint16_t id, uint32_t off, uint32_t n, uint8_t *out)
{
    return sim_tables_read(ctx, id, off, n, out); /* BT00's write sets: bt00_port_write_sets */
}
static int tables_write(void *ctx, uint16_t id, uint32_t off, const uint8_t *d, uint32_t n)
{
    return sim_tables_write(ctx, id, off, d, n);
}

sim_optical_store sim_optical_store_from_tables(sim_tables *t)
{
    sim_optical_store s = {t, tables_size, tables_read, tables_write, NULL};
    return s;
}

/* ---- lifecycle ---------------------------------------------------------------- */
static void session_clear(sim_optical *o)
{
    o->key = SIM_OPTICAL_KEY_NONE;
    o->user_id = NO_USER;
    memset(o->user, 0, sizeof o->user);
    o->wait_ms = 0;
}

/* Timeouts, lock-out, D.O.S.: everything back to BASE at once (3.5). */
static void go_base_now(sim_optical *o)
{
    o->state = SIM_OPTICAL_STATE_BASE;
    session_clear(o);
    sim_optical_link_reset(&o->link);
    if (o->baud != 9600)
        o->ctr.baud_changes++;
    o->baud = 9600;
    o->link.wire_baud = o->cfg.wire_paced ? o->baud : 0;
    o->next_baud = 0;
    if (o->cfg.shared_uart)
        sim_optical_link_force_nak(&o->link); /* 6: UART falls back to MEP */
}

sim_optical *sim_optical_new(const sim_optical_cfg *cfg, const sim_optical_store *store,
                             uint64_t now_ms, char *err, size_t errlen)
{
    if (!cfg) {
        if (err && errlen)
            snprintf(err, errlen, "optical: no configuration");
        return NULL;
    }
    if (cfg_check(cfg, store, err, errlen) != 0)
        return NULL;
    sim_optical *o = calloc(1, sizeof *o);
    if (!o) {
        if (err && errlen)
            snprintf(err, errlen, "optical: out of memory");
        return NULL;
    }
    o->cfg = *cfg;
    snprintf(o->name, sizeof o->name, "%s", cfg->name ? cfg->name : "meter");
    o->cfg.name = o->name;
    o->store = *store;
    sim_optical_link_init(&o->link, &cfg->link);
    o->baud = 9600;
    o->link.wire_baud = o->cfg.wire_paced ? o->baud : 0;
    go_base_now(o);
    o->ctr.baud_changes = 0;
    o->last_traffic_ms = now_ms;
    return o;
}

void sim_optical_free(sim_optical *o) { free(o); }

int sim_optical_cfg_validate(const sim_optical_cfg *cfg, const sim_optical_store *store, char *err, size_t errlen)
{
    if (!cfg) {
        if (err && errlen)
            snprintf(err, errlen, "optical: no configuration");
        return -1;
    }
    return cfg_check(cfg, store, err, errlen);
}

/* ---- access (4) ------------------------------------------------------------- */
static uint16_t rule_flags(const sim_optical *o, uint16_t base)
{
    for (size_t i = 0; i < o->cfg.n_rules; i++)
        if (o->cfg.rules[i].table_id == base)
            return o->cfg.rules[i].flags;
    return 0;
}

static bool can_read(sim_optical_key k, uint16_t f)
{
    switch (k) {
    case SIM_OPTICAL_KEY_NONE: return (f & SIM_OPTICAL_R_OPEN) != 0;
    case SIM_OPTICAL_KEY_RK: return !(f & SIM_OPTICAL_R_NO_RK);
    case SIM_OPTICAL_KEY_PK: return !(f & SIM_OPTICAL_R_NO_PK);
    case SIM_OPTICAL_KEY_MK: return true;
    }
    return false;
}

/* Write *access* (isc when false); writability itself is checked after (iar). */
static bool can_write_key(sim_optical_key k, uint16_t f)
{
    switch (k) {
    case SIM_OPTICAL_KEY_NONE:
    case SIM_OPTICAL_KEY_RK: return false; /* 4: the guide lists no RK write rights */
    case SIM_OPTICAL_KEY_PK: return !(f & (SIM_OPTICAL_R_NO_PK | SIM_OPTICAL_R_WRITE_MK));
    case SIM_OPTICAL_KEY_MK: return true;
    }
    return false;
}

static uint8_t cksum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return (uint8_t)-s; /* 3.1: two's complement of the 8-bit sum */
}

/* Largest PSEM reply the link can carry now. */
static size_t reply_capacity(const sim_optical *o)
{
    size_t c = sim_optical_link_capacity(&o->link);
    return c < sizeof o->reply ? c : sizeof o->reply;
}

static size_t rsp(uint8_t *r, uint8_t code)
{
    r[0] = code;
    return 1;
}

static uint8_t too_big(const sim_optical *o)
{
    return o->cfg.oversize_rno ? SIM_OPTICAL_RNO : SIM_OPTICAL_ONP;
}

/* ---- services (3.3) ----------------------------------------------------------- */
static size_t svc_identify(sim_optical *o, size_t n, uint64_t now_ms, uint8_t *r)
{
    if (n != 1)
        return rsp(r, SIM_OPTICAL_ERR);
    if (o->state != SIM_OPTICAL_STATE_BASE) {
        if (o->cfg.strict_identify) {
            logf_(o, "identify in %s -> isss (strict mode)", sim_optical_state_name(o->state));
            return rsp(r, SIM_OPTICAL_ISSS);
        }
        /* [E] 3.5: restart: a client that crashed mid-session recovers at once */
        logf_(o, "identify in %s: session dropped, restarting", sim_optical_state_name(o->state));
        session_clear(o);
        sim_optical_link_set_sizes(&o->link, SIM_OPTICAL_DEFAULT_PACKET_SIZE, SIM_OPTICAL_DEFAULT_NBR_PACKETS);
    }
    o->state = SIM_OPTICAL_STATE_ID;
    o->session_start_ms = now_ms;
    o->post.identify = true;
    if (o->cfg.identify_form == SIM_OPTICAL_IDENT_CLASSIC) {
        const uint8_t c[] = {0x00, 0x00, 0x01, 0x00, 0x00}; /* ok, std 0, ver 1, rev 0, end */
        memcpy(r, c, sizeof c);
        logf_(o, "identify -> ok (classic form) state ID");
        return sizeof c;
    }
    /* [T] NES form: ok std=0 ver=0x10 rev=0, 07 0F 11, ET03 serial as 30 ASCII */
    const uint8_t h[] = {0x00, 0x00, 0x10, 0x00, 0x07, 0x0F, 0x11};
    memcpy(r, h, sizeof h);
    uint8_t *serial = r + sizeof h;
    memset(serial, ' ', 30);
    int got = o->store.size(o->store.ctx, ET03_ID) >= 0 ? o->store.read(o->store.ctx, ET03_ID, 0, 30, serial) : -1;
    for (int i = 0; i < 30; i++)
        if (i >= got || serial[i] == 0)
            serial[i] = ' '; /* null-terminated in ET03, space padded on the wire */
    logf_(o, "identify -> ok (NES form, serial \"%.30s\") state ID", (const char *)serial);
    return sizeof h + 30;
}

static size_t svc_terminate(sim_optical *o, size_t n, uint8_t *r)
{
    if (n != 1)
        return rsp(r, SIM_OPTICAL_ERR);
    logf_(o, "terminate in %s -> ok, state BASE", sim_optical_state_name(o->state));
    o->state = SIM_OPTICAL_STATE_BASE;
    session_clear(o);
    o->post.to_base = true;
    return rsp(r, SIM_OPTICAL_OK);
}

static size_t svc_negotiate(sim_optical *o, const uint8_t *q, size_t n, uint8_t *r)
{
    size_t nb = (size_t)(q[0] - SIM_OPTICAL_NEGOTIATE);
    if (n != 4 + nb)
        return rsp(r, SIM_OPTICAL_ERR);
    if (o->state != SIM_OPTICAL_STATE_ID) {
        logf_(o, "negotiate in %s -> isss", sim_optical_state_name(o->state));
        return rsp(r, SIM_OPTICAL_ISSS);
    }
    uint16_t want_size = (uint16_t)((q[1] << 8) | q[2]);
    uint8_t want_pk = q[3];
    if (want_size < SIM_OPTICAL_DEFAULT_PACKET_SIZE || want_pk == 0) {
        /* [E] our replies need 64-byte packets (Identify NES form is 45) */
        logf_(o, "negotiate %u bytes x %u packets -> err (below 64 x 1)", want_size, want_pk);
        return rsp(r, SIM_OPTICAL_ERR);
    }
    uint16_t size = want_size < o->cfg.max_packet_size ? want_size : o->cfg.max_packet_size;
    uint8_t pk = want_pk < o->cfg.max_packets ? want_pk : o->cfg.max_packets;
    /* rate: the first offered code we support, else keep the current rate [E] */
    uint8_t code = code_of_baud(o->baud);
    bool found = false;
    for (size_t i = 0; i < nb && !found; i++)
        for (size_t j = 0; j < o->cfg.n_baud_codes && !found; j++)
            if (q[4 + i] == o->cfg.baud_codes[j]) {
                code = q[4 + i];
                found = true;
            }
    r[0] = SIM_OPTICAL_OK;
    r[1] = (uint8_t)(size >> 8);
    r[2] = (uint8_t)size;
    r[3] = pk;
    size_t len = 4;
    if (nb)
        r[len++] = code; /* baud byte only when the request offered rates [S][T] */
    o->post.negotiated = true;
    o->post.packet_size = size;
    o->post.nbr_packets = pk;
    o->post.baud = sim_optical_baud_of_code(code);
    logf_(o, "negotiate %u x %u (%zu rates offered) -> ok %u x %u at %u bit/s", want_size, want_pk, nb,
          size, pk, o->post.baud);
    return len;
}

static size_t svc_wait(sim_optical *o, const uint8_t *q, size_t n, uint8_t *r)
{
    if (n != 2)
        return rsp(r, SIM_OPTICAL_ERR);
    if (o->state == SIM_OPTICAL_STATE_BASE)
        return rsp(r, SIM_OPTICAL_ISSS);
    o->wait_ms = (uint32_t)q[1] * 1000u; /* 0 = default channel timeout [E] */
    logf_(o, "wait %u s -> ok", q[1]);
    return rsp(r, SIM_OPTICAL_OK);
}

static size_t svc_logon(sim_optical *o, const uint8_t *q, size_t n, uint8_t *r)
{
    if (n != 13)
        return rsp(r, SIM_OPTICAL_ERR);
    if (o->state != SIM_OPTICAL_STATE_ID) {
        logf_(o, "logon in %s -> isss", sim_optical_state_name(o->state));
        return rsp(r, SIM_OPTICAL_ISSS);
    }
    /* G p.13: user-id and user are not checked; the user-id goes into BT74 */
    o->user_id = (uint16_t)((q[1] << 8) | q[2]);
    memcpy(o->user, q + 3, 10);
    o->key = SIM_OPTICAL_KEY_NONE;
    o->state = SIM_OPTICAL_STATE_SESSION;
    char u[11];
    for (int i = 0; i < 10; i++)
        u[i] = (q[3 + i] >= 0x20 && q[3 + i] < 0x7F) ? (char)q[3 + i] : '.';
    u[10] = 0;
    logf_(o, "logon user-id %u user \"%s\" -> ok, state SESSION (no key)", o->user_id, u);
    return rsp(r, SIM_OPTICAL_OK);
}

/* 4 [E]: BT03 offset 5 bit 0 "invalid password", set by a wrong password.
 * It is latched: a later good password leaves it (a client must be able to
 * read it, and BT03 needs a key); C12.19 standard procedure 8 "clear
 * manufacturer status flags" written to BT07 clears it (sim_proc.h
 * SIM_SP_CLEAR_MFG_STATUS; the guide names no clearing service,
 * docs/optical.md 10). */
static void set_bad_password_alarm(sim_optical *o)
{
    uint8_t b;
    if (!o->cfg.bad_password_alarm || !o->store.write || o->store.size(o->store.ctx, BT03_ID) < 6)
        return;
    if (o->store.read(o->store.ctx, BT03_ID, 5, 1, &b) != 1)
        return;
    b |= 0x01;
    (void)o->store.write(o->store.ctx, BT03_ID, 5, &b, 1);
}

static size_t svc_security(sim_optical *o, const uint8_t *q, size_t n, uint8_t *r)
{
    if (n != 1 + SIM_OPTICAL_PASSWORD_LEN)
        return rsp(r, SIM_OPTICAL_ERR);
    if (o->state != SIM_OPTICAL_STATE_SESSION) {
        logf_(o, "security in %s -> isss", sim_optical_state_name(o->state));
        return rsp(r, SIM_OPTICAL_ISSS);
    }
    const uint8_t *pw = q + 1;
    /* 4: first match wins: MK, PK (if enabled), RK; all 20 bytes, binary */
    sim_optical_key k = SIM_OPTICAL_KEY_NONE;
    if (o->cfg.mk_set && memcmp(pw, o->cfg.mk, SIM_OPTICAL_PASSWORD_LEN) == 0)
        k = SIM_OPTICAL_KEY_MK;
    else if (o->cfg.pk_set && o->cfg.pk_enabled && memcmp(pw, o->cfg.pk, SIM_OPTICAL_PASSWORD_LEN) == 0)
        k = SIM_OPTICAL_KEY_PK;
    else if (o->cfg.rk_set && memcmp(pw, o->cfg.rk, SIM_OPTICAL_PASSWORD_LEN) == 0)
        k = SIM_OPTICAL_KEY_RK;
    if (k != SIM_OPTICAL_KEY_NONE) {
        o->key = k;
        o->failed_auth = 0;
        o->ctr.auth_ok++;
        logf_(o, "security -> ok, key %s", sim_optical_key_name(k));
        return rsp(r, SIM_OPTICAL_OK);
    }
    o->failed_auth++;
    o->ctr.auth_fail++;
    set_bad_password_alarm(o);
    if (o->cfg.lockout_threshold && o->failed_auth >= o->cfg.lockout_threshold) {
        o->post.lockout = true; /* 3.5 [M p.141]: FW >= 4.30 */
        logf_(o, "security -> err: wrong password (%u in a row): port locked out for %u min",
              o->failed_auth, o->cfg.lockout_minutes);
    } else {
        logf_(o, "security -> err: wrong password (%u in a row), key stays %s", o->failed_auth,
              sim_optical_key_name(o->key));
    }
    return rsp(r, SIM_OPTICAL_ERR); /* [E] level unchanged, session kept */
}

static size_t svc_logoff(sim_optical *o, size_t n, uint8_t *r)
{
    if (n != 1)
        return rsp(r, SIM_OPTICAL_ERR);
    if (o->state != SIM_OPTICAL_STATE_SESSION) {
        logf_(o, "logoff in %s -> isss", sim_optical_state_name(o->state));
        return rsp(r, SIM_OPTICAL_ISSS);
    }
    session_clear(o);
    o->state = SIM_OPTICAL_STATE_ID;
    logf_(o, "logoff -> ok, state ID");
    return rsp(r, SIM_OPTICAL_OK);
}

/* Resolve a table for read/write: existence (iar), hardware lock and key
 * (isc). Returns 0 when allowed, else the response code; *size gets the size. */
static uint8_t table_check(sim_optical *o, uint16_t id, bool write, int *size, uint8_t ped[6])
{
    bool pending = id >= SIM_OPTICAL_PENDING_OFFSET;
    uint16_t base = pending ? (uint16_t)(id - SIM_OPTICAL_PENDING_OFFSET) : id;
    *size = o->store.size(o->store.ctx, id);
    if (*size < 0)
        return SIM_OPTICAL_IAR; /* G p.23, 28, 53: table not present */
    if (pending && !write && (!o->store.pending || !o->store.pending(o->store.ctx, id, ped)))
        return SIM_OPTICAL_IAR;
    uint16_t f = rule_flags(o, base);
    if (f & (write ? SIM_OPTICAL_R_LOCK_WRITE : SIM_OPTICAL_R_LOCK_READ))
        return SIM_OPTICAL_ISC; /* 4: hardware lock overrides keys */
    if (write ? !can_write_key(o->key, f) : !can_read(o->key, f))
        return SIM_OPTICAL_ISC;
    if (write && !(f & (SIM_OPTICAL_R_WRITABLE | SIM_OPTICAL_R_WRITE_MK)))
        return SIM_OPTICAL_IAR; /* [E] write to a read-only table */
    return 0;
}

/* BT00's write sets (C12.19 ST0 after the used and procedure sets,
 * docs/optical.md 5 "general") as THIS port shows them: a table's bit is set
 * when a client may write it here (a writable rule without a hardware write
 * lock, docs/optical.md 3.3: BT07 and ET51 by default), not the MEP rights
 * the table store holds. d holds BT00 bytes [off, off + n). */
static void bt00_port_write_sets(sim_optical *o, uint32_t off, uint8_t *d, size_t n)
{
    uint8_t h[19];
    if (o->store.read(o->store.ctx, 0, 0, sizeof h, h) != (int)sizeof h)
        return;
    uint32_t a = h[13], e = h[14], wr = 19u + a + e + h[15] + h[16];
    for (size_t i = 0; i < n; i++) {
        uint32_t j = off + (uint32_t)i;
        if (j < wr || j >= wr + a + e)
            continue;
        bool std = j < wr + a;
        uint32_t first = std ? (j - wr) * 8u : 2048u + (j - wr - a) * 8u;
        uint8_t bits = 0;
        for (unsigned b = 0; b < 8; b++) {
            uint16_t id = (uint16_t)(first + b);
            uint16_t f = rule_flags(o, id);
            if ((f & (SIM_OPTICAL_R_WRITABLE | SIM_OPTICAL_R_WRITE_MK)) && !(f & SIM_OPTICAL_R_LOCK_WRITE) &&
                o->store.size(o->store.ctx, id) >= 0)
                bits |= (uint8_t)(1u << b);
        }
        d[i] = bits;
    }
}

static size_t svc_read(sim_optical *o, const uint8_t *q, size_t n, uint8_t *r)
{
    bool full = q[0] == SIM_OPTICAL_FULL_READ;
    char nm[16];
    if (n != (full ? 3u : 8u))
        return rsp(r, SIM_OPTICAL_ERR);
    uint16_t id = (uint16_t)((q[1] << 8) | q[2]);
    uint32_t off = full ? 0 : ((uint32_t)q[3] << 16) | ((uint32_t)q[4] << 8) | q[5];
    if (o->state != SIM_OPTICAL_STATE_SESSION) {
        logf_(o, "read %s in %s -> isss", table_name(id, nm), sim_optical_state_name(o->state));
        return rsp(r, SIM_OPTICAL_ISSS);
    }
    int size;
    uint8_t ped[SIM_OPTICAL_PED_LEN] = {0};
    uint8_t code = table_check(o, id, false, &size, ped);
    if (code) {
        logf_(o, "read %s with %s -> %s", table_name(id, nm), sim_optical_key_name(o->key),
              sim_optical_rsp_name(code));
        return rsp(r, code);
    }
    size_t pedlen = id >= SIM_OPTICAL_PENDING_OFFSET ? SIM_OPTICAL_PED_LEN : 0;
    size_t count = full ? (size_t)size + pedlen : (size_t)((q[6] << 8) | q[7]);
    if (4 + count > reply_capacity(o) || count > 0xFFFFu) {
        logf_(o, "read %s %zu bytes: reply exceeds %zu-byte capacity -> %s", table_name(id, nm), count,
              reply_capacity(o) - 4, sim_optical_rsp_name(too_big(o)));
        return rsp(r, too_big(o));
    }
    /* 3.3: partial read past the end -> zeros, count = requested [G p.9];
     * an offset at/after the end -> onp [E] (or all zeros by policy) */
    if (!full && count > pedlen && off >= (uint32_t)size && !o->cfg.past_end_zeros) {
        logf_(o, "read %s offset %u beyond its %d bytes -> onp", table_name(id, nm), off, size);
        return rsp(r, SIM_OPTICAL_ONP);
    }
    uint8_t *d = r + 3;
    memset(d, 0, count);
    size_t p = pedlen < count ? pedlen : count;
    memcpy(d, ped, p); /* 3.4: PED in front; the offset is into the table data */
    if (count > p && off < (uint32_t)size) {
        int got = o->store.read(o->store.ctx, id, off, (uint32_t)(count - p), d + p);
        if (got < 0) {
            logf_(o, "read %s: store error %d -> iar", table_name(id, nm), got);
            return rsp(r, SIM_OPTICAL_IAR);
        }
        if (id == 0)
            bt00_port_write_sets(o, off, d + p, (size_t)got);
    }
    r[0] = SIM_OPTICAL_OK;
    r[1] = (uint8_t)(count >> 8);
    r[2] = (uint8_t)count;
    r[3 + count] = cksum(d, count);
    if (full)
        logf_(o, "full read %s with %s -> ok %zu bytes", table_name(id, nm), sim_optical_key_name(o->key), count);
    else
        logf_(o, "partial read %s off=%u n=%zu with %s -> ok", table_name(id, nm), off, count,
              sim_optical_key_name(o->key));
    return 4 + count;
}

static size_t svc_write(sim_optical *o, const uint8_t *q, size_t n, uint8_t *r)
{
    bool full = q[0] == SIM_OPTICAL_FULL_WRITE;
    size_t hdr = full ? 5 : 8;
    char nm[16];
    if (n < hdr + 1)
        return rsp(r, SIM_OPTICAL_ERR);
    uint16_t id = (uint16_t)((q[1] << 8) | q[2]);
    uint32_t off = full ? 0 : ((uint32_t)q[3] << 16) | ((uint32_t)q[4] << 8) | q[5];
    size_t count = (size_t)((q[hdr - 2] << 8) | q[hdr - 1]);
    if (n != hdr + count + 1) {
        logf_(o, "write %s: count %zu disagrees with %zu bytes received -> err", table_name(id, nm), count, n);
        return rsp(r, SIM_OPTICAL_ERR); /* [E] length does not match the code */
    }
    if (o->state != SIM_OPTICAL_STATE_SESSION) {
        logf_(o, "write %s in %s -> isss", table_name(id, nm), sim_optical_state_name(o->state));
        return rsp(r, SIM_OPTICAL_ISSS);
    }
    const uint8_t *data = q + hdr;
    if (cksum(data, count) != q[hdr + count]) {
        logf_(o, "write %s: bad cksum 0x%02X (want 0x%02X) -> err", table_name(id, nm), q[hdr + count],
              cksum(data, count));
        return rsp(r, SIM_OPTICAL_ERR);
    }
    int size;
    uint8_t ped[SIM_OPTICAL_PED_LEN];
    uint8_t code = table_check(o, id, true, &size, ped);
    if (code) {
        logf_(o, "write %s with %s -> %s", table_name(id, nm), sim_optical_key_name(o->key),
              sim_optical_rsp_name(code));
        return rsp(r, code);
    }
    /* [E] a write must fit the table: a full write carries exactly its size,
     * except BT07, whose length depends on the procedure called (a call
     * carries only its own parameters, as on MEP, docs/mep.md 8.1) */
    bool short_ok = full && id == 7 && count >= 3 && count <= (size_t)size;
    if ((full && count != (size_t)size && !short_ok) || (!full && (uint64_t)off + count > (uint64_t)size)) {
        logf_(o, "write %s off=%u n=%zu does not fit its %d bytes -> onp", table_name(id, nm), off, count, size);
        return rsp(r, SIM_OPTICAL_ONP);
    }
    if (!o->store.write || o->store.write(o->store.ctx, id, off, data, (uint32_t)count) < 0) {
        logf_(o, "write %s: store refused -> iar", table_name(id, nm));
        return rsp(r, SIM_OPTICAL_IAR);
    }
    logf_(o, "write %s off=%u n=%zu with %s -> ok", table_name(id, nm), off, count, sim_optical_key_name(o->key));
    return rsp(r, SIM_OPTICAL_OK);
}

/* One PSEM request -> reply in r (never empty). Fills o->post. */
static size_t dispatch(sim_optical *o, const uint8_t *q, size_t n, uint64_t now_ms, uint8_t *r)
{
    memset(&o->post, 0, sizeof o->post);
    o->ctr.requests++;
    if (n == 0) {
        logf_(o, "empty request -> err");
        return rsp(r, SIM_OPTICAL_ERR);
    }
    uint8_t c = q[0];
    switch (c) {
    case SIM_OPTICAL_IDENTIFY: return svc_identify(o, n, now_ms, r);
    case SIM_OPTICAL_TERMINATE: return svc_terminate(o, n, r);
    case SIM_OPTICAL_FULL_READ:
    case SIM_OPTICAL_PARTIAL_READ: return svc_read(o, q, n, r);
    case SIM_OPTICAL_FULL_WRITE:
    case SIM_OPTICAL_PARTIAL_WRITE: return svc_write(o, q, n, r);
    case SIM_OPTICAL_LOGON: return svc_logon(o, q, n, r);
    case SIM_OPTICAL_SECURITY: return svc_security(o, q, n, r);
    case SIM_OPTICAL_LOGOFF: return svc_logoff(o, n, r);
    case SIM_OPTICAL_WAIT: return svc_wait(o, q, n, r);
    default:
        break;
    }
    if (c >= 0x60 && c <= 0x6B)
        return svc_negotiate(o, q, n, r);
    /* 3.1 [E]: index reads/writes, default read, Authenticate (C12.21),
     * Timing Setup (C12.21) and every unknown code: sns */
    logf_(o, "%s (0x%02X) -> sns", sim_optical_req_name(c), c);
    return rsp(r, SIM_OPTICAL_SNS);
}

static void count_reply(sim_optical *o, const uint8_t *r) { o->ctr.responses[r[0]]++; }

size_t sim_optical_dispatch(sim_optical *o, const uint8_t *req, size_t n, uint64_t now_ms,
                            uint8_t *reply, size_t cap)
{
    size_t len = dispatch(o, req, n, now_ms, o->reply);
    count_reply(o, o->reply);
    if (len > cap)
        len = cap;
    memcpy(reply, o->reply, len);
    /* no link: the post actions apply at once */
    if (o->post.negotiated) {
        sim_optical_link_set_sizes(&o->link, o->post.packet_size, o->post.nbr_packets);
        if (o->baud != o->post.baud)
            o->ctr.baud_changes++;
        o->baud = o->post.baud;
        o->link.wire_baud = o->cfg.wire_paced ? o->baud : 0;
    }
    if (o->post.to_base || o->post.lockout) {
        if (o->post.lockout) {
            o->ignore_until_ms = now_ms + (uint64_t)o->cfg.lockout_minutes * 60000u;
            o->failed_auth = 0;
            o->ctr.lockouts++;
        }
        go_base_now(o);
    }
    return len;
}

/* ---- timers ------------------------------------------------------------------ */
/* Milliseconds from since to now; 0 if the clock went backwards. */
static uint64_t elapsed_ms(uint64_t now_ms, uint64_t since_ms)
{
    return now_ms > since_ms ? now_ms - since_ms : 0;
}

static uint32_t channel_timeout(const sim_optical *o)
{
    return o->wait_ms ? o->wait_ms : o->cfg.channel_timeout_ms;
}

static void check_timers(sim_optical *o, uint64_t now_ms)
{
    if (o->state == SIM_OPTICAL_STATE_BASE)
        return;
    if (o->cfg.dos_enabled && elapsed_ms(now_ms, o->session_start_ms) >= (uint64_t)o->cfg.dos_session_s * 1000u) {
        /* 3.5 / 6 [G p.14-15]: session too long: close it, ignore the port */
        logf_(o, "D.O.S. timer: session open %u s -> BASE, port ignored for %u s", o->cfg.dos_session_s,
              o->cfg.dos_holdoff_s);
        o->ctr.dos_closes++;
        o->ignore_until_ms = now_ms + (uint64_t)o->cfg.dos_holdoff_s * 1000u;
        go_base_now(o);
        return;
    }
    /* 3.5: no valid packet for the channel traffic timeout -> BASE. [E] Not
     * while a packet is arriving (the inter-character timeout bounds that)
     * nor while our reply still waits for its ACK (the retries bound that:
     * 4 x 2 s would otherwise be cut at 6 s). */
    if (o->link.rx_have == 0 && !sim_optical_link_busy(&o->link) &&
        elapsed_ms(now_ms, o->last_traffic_ms) >= channel_timeout(o)) {
        logf_(o, "channel traffic timeout (%u ms without a packet) in %s -> BASE", channel_timeout(o),
              sim_optical_state_name(o->state));
        o->ctr.channel_timeouts++;
        go_base_now(o);
    }
}

/* Book the link's events; apply what waits on the reply's completion. */
static void link_events(sim_optical *o, unsigned ev, uint64_t now_ms)
{
    if (ev & SIM_OPTICAL_LINK_PACKET) {
        o->ctr.packets_rx++;
        o->last_traffic_ms = now_ms;
    }
    if (ev & (SIM_OPTICAL_LINK_ACK_RX | SIM_OPTICAL_LINK_NAK_RX))
        o->last_traffic_ms = now_ms; /* [E] handshakes are channel traffic too */
    if (ev & SIM_OPTICAL_LINK_DUPLICATE) {
        o->ctr.duplicates++;
        logf_(o, "duplicate packet (same toggle and CRC): ACKed again, not executed");
    }
    if (ev & SIM_OPTICAL_LINK_CRC_ERROR) {
        o->ctr.crc_errors++;
        logf_(o, "bad CRC: NAK sent");
    }
    if (ev & SIM_OPTICAL_LINK_FORCED_NAK) {
        o->ctr.forced_naks++;
        logf_(o, "first packet after idle NAKed (shared UART switching to optical)");
    }
    if (ev & SIM_OPTICAL_LINK_RX_TIMEOUT) {
        o->ctr.rx_timeouts++;
        logf_(o, "partial packet dropped: gap over %u ms", o->cfg.link.interchar_ms);
    }
    if (ev & SIM_OPTICAL_LINK_GARBAGE)
        o->ctr.garbage++;
    if (ev & SIM_OPTICAL_LINK_ACK_RX)
        o->ctr.acks_rx++;
    if (ev & SIM_OPTICAL_LINK_NAK_RX)
        o->ctr.naks_rx++;
    if (ev & SIM_OPTICAL_LINK_RETRANSMIT)
        o->ctr.retransmits++;
    if (ev & SIM_OPTICAL_LINK_IMPLICIT_ACK)
        o->ctr.implicit_acks++;
    if (ev & SIM_OPTICAL_LINK_REPLY_CUT) {
        o->ctr.replies_cut++;
        logf_(o, "multi-packet reply cut short by a new request");
    }
    if (ev & SIM_OPTICAL_LINK_REPLY_FAILED) {
        o->ctr.replies_failed++;
        logf_(o, "reply not acknowledged after %u retries: given up, state %s kept", o->cfg.link.retries,
              sim_optical_state_name(o->state));
    }
    if (o->next_baud && ((ev & SIM_OPTICAL_LINK_REPLY_DONE) ||
                         ((ev & (SIM_OPTICAL_LINK_REPLY_FAILED | SIM_OPTICAL_LINK_REPLY_CUT)) && o->next_baud_on_fail))) {
        /* 1: the new rate applies once the Negotiate reply was ACKed */
        if (o->baud != o->next_baud) {
            o->ctr.baud_changes++;
            logf_(o, "line rate now %u bit/s", o->next_baud);
        }
        o->baud = o->next_baud;
        o->link.wire_baud = o->cfg.wire_paced ? o->baud : 0;
        o->next_baud = 0;
    } else if (o->next_baud && (ev & (SIM_OPTICAL_LINK_REPLY_FAILED | SIM_OPTICAL_LINK_REPLY_CUT))) {
        o->next_baud = 0; /* the client never saw the Negotiate reply: keep the rate */
    }
}

size_t sim_optical_rx(sim_optical *o, uint8_t byte, uint64_t now_ms, uint8_t *out, size_t cap)
{
    if (now_ms < o->ignore_until_ms) {
        o->ctr.bytes_ignored++; /* lock-out / D.O.S. hold-off: no ACK, no NAK */
        return 0;
    }
    check_timers(o, now_ms);
    unsigned ev = 0;
    size_t n = sim_optical_link_rx(&o->link, byte, now_ms, out, cap, &ev);
    link_events(o, ev, now_ms);
    if (!(ev & SIM_OPTICAL_LINK_MESSAGE))
        return n;

    o->wait_ms = 0; /* a Wait covers only the next channel timeout */
    size_t qlen;
    const uint8_t *q = sim_optical_link_message(&o->link, &qlen);
    size_t rlen = dispatch(o, q, qlen, now_ms, o->reply);
    count_reply(o, o->reply);
    if (o->post.identify)
        sim_optical_link_reset_toggle(&o->link);
    /* 2.7 turnaround; a lock-out reply goes at once (the port goes deaf next) */
    uint32_t delay = (o->cfg.reply_delay_ms && !o->post.lockout) ? o->cfg.reply_delay_ms(o->cfg.reply_delay_ctx) : 0;
    long sent = sim_optical_link_send_after(&o->link, o->reply, rlen, now_ms, delay, out + n, cap > n ? cap - n : 0);
    if (sent < 0) {
        /* cannot happen: every reply was checked against the capacity */
        logf_(o, "reply of %zu bytes did not fit the link", rlen);
    } else {
        n += (size_t)sent;
    }
    if (o->post.negotiated) {
        sim_optical_link_set_sizes(&o->link, o->post.packet_size, o->post.nbr_packets);
        o->next_baud = o->post.baud;
        o->next_baud_on_fail = false;
    }
    if (o->post.to_base) {
        /* Terminate: reply goes out with the old settings, then BASE (3.5) */
        sim_optical_link_forget(&o->link);
        sim_optical_link_set_sizes(&o->link, SIM_OPTICAL_DEFAULT_PACKET_SIZE, SIM_OPTICAL_DEFAULT_NBR_PACKETS);
        if (o->baud != 9600) {
            o->next_baud = 9600;
            o->next_baud_on_fail = true;
        }
        if (o->cfg.shared_uart)
            sim_optical_link_force_nak(&o->link);
    }
    if (o->post.lockout) {
        o->ignore_until_ms = now_ms + (uint64_t)o->cfg.lockout_minutes * 60000u;
        o->failed_auth = 0;
        o->ctr.lockouts++;
        go_base_now(o); /* the err reply is already in out; nothing is retransmitted */
    }
    return n;
}

size_t sim_optical_tick(sim_optical *o, uint64_t now_ms, uint8_t *out, size_t cap)
{
    check_timers(o, now_ms);
    unsigned ev = 0;
    size_t n = sim_optical_link_tick(&o->link, now_ms, out, cap, &ev);
    link_events(o, ev, now_ms);
    if (ev & (SIM_OPTICAL_LINK_REPLY_FAILED | SIM_OPTICAL_LINK_RX_TIMEOUT))
        check_timers(o, now_ms); /* the channel timer was held while the link was busy */
    return n;
}

uint64_t sim_optical_deadline(const sim_optical *o)
{
    uint64_t d = sim_optical_link_deadline(&o->link);
    if (o->state != SIM_OPTICAL_STATE_BASE) {
        uint64_t c = o->last_traffic_ms + channel_timeout(o);
        if (c < d && !sim_optical_link_busy(&o->link) && o->link.rx_have == 0)
            d = c;
        if (o->cfg.dos_enabled) {
            uint64_t s = o->session_start_ms + (uint64_t)o->cfg.dos_session_s * 1000u;
            if (s < d)
                d = s;
        }
    }
    return d;
}

/* ---- accessors ----------------------------------------------------------------- */
uint32_t sim_optical_baud(const sim_optical *o) { return o->baud; }
sim_optical_state sim_optical_get_state(const sim_optical *o) { return o->state; }
sim_optical_key sim_optical_get_key(const sim_optical *o) { return o->key; }
uint16_t sim_optical_user_id(const sim_optical *o) { return o->user_id; }
bool sim_optical_session_active(const sim_optical *o) { return o->state != SIM_OPTICAL_STATE_BASE; }
bool sim_optical_ignoring(const sim_optical *o, uint64_t now_ms) { return now_ms < o->ignore_until_ms; }
const sim_optical_counters *sim_optical_counters_get(const sim_optical *o) { return &o->ctr; }
const sim_optical_link *sim_optical_get_link(const sim_optical *o) { return &o->link; }
