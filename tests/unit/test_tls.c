/* Check suite: TLS mode on the MEP port (simulator/sim_tls, firmware/host/host_tls).
 *
 * Walks the guide's TLS example (fixtures/vectors/mep_rc4.json, tls_example:
 * docs/mep.md 7.2) record by record, replays the guide's client flights against
 * sim_tls with the guide's server random and session id and compares the
 * answers byte for byte, then runs host_tls against sim_tls in process
 * (MAK and MBK, wrong key, bad identities, 0x0A, 0x58 reset, TLS_TERMINATE,
 * RC4 gate) and prints handshake time and bytes on the wire for one
 * BT23+BT28 poll in TLS vs RC4 mode.
 *
 * host_tls.c is built into this test (unity build) because the firmware
 * host port is not a library the emulator tests link.
 *
 * Needs mbed TLS linked into mepsim_core (simulator/tls.cmake, which also
 * defines MEP_HAVE_MBEDTLS); without it the program only says so and fails.
 */
#ifdef MEP_HAVE_MBEDTLS /* set by simulator/tls.cmake on mepsim_core */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_run.h"
#include "mep_frame.h"
#include "sim_tls.h"

#include "../../firmware/host/host_tls.c"

/* ---- fake wall clock for the replay test ---------------------------------
 * mbed TLS 2.28 (Debian build: MBEDTLS_HAVE_TIME, no MBEDTLS_PLATFORM_TIME_ALT)
 * puts time() into the first 4 bytes of the ServerHello random and offers no
 * API to change it, so this test binary interposes time(). Test-only: the
 * one global here, 0 = pass through to the real clock. */
static time_t fake_now;

time_t time(time_t *tloc)
{
    time_t now = fake_now;
    if (now == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now = ts.tv_sec;
    }
    if (tloc)
        *tloc = now;
    return now;
}

/* ---- helpers ------------------------------------------------------------- */
static const uint8_t MAK01[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const uint8_t MBK02[16] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};

static size_t hex_parse(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        unsigned v;
        ck_assert_msg(sscanf(s, "%2x", &v) == 1, "bad hex at '%s'", s);
        ck_assert_uint_lt(n, cap);
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

typedef struct {
    char id[32];
    uint8_t raw[MEP_MAX_FRAME];
    size_t len;
    uint8_t plain[64];
    size_t plain_len;
} vec_msg;

/* Load the six messages of tls_example in file order. */
static size_t load_tls_vectors(vec_msg *m, size_t cap, uint8_t psk[16])
{
    json_error_t e;
    json_t *root = json_load_file(FIXTURES_DIR "/vectors/mep_rc4.json", 0, &e);
    ck_assert_msg(root != NULL, "mep_rc4.json: %s", e.text);
    json_t *ex = json_object_get(root, "tls_example");
    ck_assert_ptr_nonnull(ex);
    ck_assert_uint_eq(hex_parse(json_string_value(json_object_get(ex, "psk_hex")), psk, 16), 16);
    json_t *msgs = json_object_get(ex, "messages");
    size_t n = json_array_size(msgs);
    ck_assert_uint_le(n, cap);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(msgs, i);
        snprintf(m[i].id, sizeof m[i].id, "%s", json_string_value(json_object_get(o, "id")));
        m[i].len = hex_parse(json_string_value(json_object_get(o, "raw_hex")), m[i].raw, sizeof m[i].raw);
        const char *pl = json_string_value(json_object_get(o, "plaintext_c1218_hex"));
        m[i].plain_len = pl ? hex_parse(pl, m[i].plain, sizeof m[i].plain) : 0;
    }
    json_decref(root);
    return n;
}

static const vec_msg *vec_find(const vec_msg *m, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].id, id) == 0)
            return &m[i];
    ck_abort_msg("vector %s missing", id);
    return NULL;
}

/* Dispatch stub: records what sim_tls handed over, answers a scripted
 * response, or a table of `n` bytes for a read (poll measurement). */
typedef struct {
    sim_level level;
    uint8_t req[MEP_MAX_BODY];
    size_t req_len;
    int calls;
    uint8_t resp[SIM_TLS_MAX_PLAIN];
    size_t resp_len;           /* 0: synthesize a read reply */
    uint16_t bt28_size;
} dispatch_stub;

static int stub_dispatch(void *ctx, sim_level level, const uint8_t *req, size_t n, uint8_t *resp, size_t cap)
{
    dispatch_stub *d = ctx;
    d->level = level;
    d->calls++;
    memcpy(d->req, req, n);
    d->req_len = n;
    if (d->resp_len) {
        memcpy(resp, d->resp, d->resp_len);
        return (int)d->resp_len;
    }
    mep_request r;
    if (mep_request_parse(req, n, &r) != MEP_PARSE_OK) {
        resp[0] = MEP_RSP_ERR;
        return 1;
    }
    uint16_t cnt = r.code == MEP_REQ_PARTIAL_READ ? r.count : (r.table == MEP_BT(28) ? d->bt28_size : 44);
    if ((size_t)cnt + 3 > cap) {
        resp[0] = MEP_RSP_ONP;
        return 1;
    }
    resp[0] = MEP_RSP_OK;
    mep_put_be16(resp + 1, cnt);
    for (uint16_t i = 0; i < cnt; i++)
        resp[3 + i] = (uint8_t)(i * 7);
    return 3 + cnt;
}

/* Log sink: keeps the last line so tests can assert an error is visible. */
typedef struct {
    char last[256];
    int lines;
} log_sink;

static void sink_log(void *ctx, const char *line)
{
    log_sink *s = ctx;
    snprintf(s->last, sizeof s->last, "%s", line);
    s->lines++;
    if (getenv("TLS_TEST_VERBOSE"))
        fprintf(stderr, "%s\n", line);
}

static sim_tls *make_server(dispatch_stub *d, log_sink *ls, sim_tls_rng_fn rng, void *rng_ctx)
{
    sim_tls_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    memcpy(cfg.mak, MAK01, 16);
    memcpy(cfg.mbk, MBK02, 16);
    cfg.dispatch = stub_dispatch;
    cfg.dispatch_ctx = d;
    cfg.rng = rng;
    cfg.rng_ctx = rng_ctx;
    cfg.log = sink_log;
    cfg.log_ctx = ls;
    cfg.name = "meter0/MEP1";
    char err[128];
    sim_tls *t = sim_tls_new(&cfg, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    return t;
}

/* Feed a whole frame (length included) to sim_tls; returns the reply length. */
static size_t feed(sim_tls *t, const uint8_t *frame, size_t len, uint8_t *out)
{
    ck_assert_uint_ge(len, 2);
    ck_assert_uint_eq(mep_get_be16(frame), len - 2);
    return sim_tls_on_message(t, frame + 2, len - 2, out, MEP_MAX_FRAME);
}

static void assert_code_only(const uint8_t *out, size_t n, uint8_t code)
{
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(out[0], 0x00);
    ck_assert_uint_eq(out[1], 0x01);
    ck_assert_uint_eq(out[2], code);
}

/* In-process link host_tls <-> sim_tls. */
typedef struct {
    sim_tls *server;
    int fail_next;             /* simulate a lost reply */
    int corrupt_next_table;    /* flip a ciphertext byte of the next 0x80 */
    size_t frames, bytes_tx, bytes_rx;
} link_ctx;

static int link_exchange(void *ctx, const uint8_t *frame, size_t len, uint8_t *reply, size_t cap, size_t *reply_len)
{
    link_ctx *l = ctx;
    uint8_t body[MEP_MAX_FRAME];
    ck_assert_uint_le(len, sizeof body);
    memcpy(body, frame, len);
    if (l->corrupt_next_table && body[2] == MEP_TLS_TABLE) {
        body[len - 1] ^= 0x01;   /* last GCM tag byte */
        l->corrupt_next_table = 0;
    }
    l->frames++;
    l->bytes_tx += len;
    size_t n = feed(l->server, body, len, reply);
    ck_assert_uint_le(n, cap);
    if (l->fail_next) {
        l->fail_next = 0;
        return -1;
    }
    l->bytes_rx += n;
    *reply_len = n;
    return 0;
}

static host_tls *make_client(link_ctx *l, uint16_t client_id, uint8_t key_id, const uint8_t psk[16], log_sink *ls)
{
    host_tls_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.client_id = client_id;
    cfg.key_id = key_id;
    memcpy(cfg.psk, psk, 16);
    cfg.exchange = link_exchange;
    cfg.exchange_ctx = l;
    cfg.log = sink_log;
    cfg.log_ctx = ls;
    host_tls *c = NULL;
    ck_assert_int_eq(host_tls_new(&cfg, &c), HOST_TLS_OK);
    return c;
}

static const uint8_t READ_ET70_142[] = {0x3F, 0x08, 0x46, 0x00, 0x00, 0x8E, 0x00, 0x01};

/* The guide's TLS example messages and their PSK (load_tls_vectors). */
typedef struct {
    vec_msg m[8];
    uint8_t psk[16];
    size_t n;
} tls_vectors;

static void vectors_load(tls_vectors *v) { v->n = load_tls_vectors(v->m, 8, v->psk); }
static const vec_msg *vec(const tls_vectors *v, const char *id) { return vec_find(v->m, v->n, id); }

/* One test's server (stub dispatcher, log sink) and, once rig_client has
 * run, a host_tls client linked to it in process. */
typedef struct {
    dispatch_stub d;
    log_sink ls;
    sim_tls *s;
    link_ctx l;
    host_tls *c;
} tls_rig;

static const uint8_t OK_REPLY[] = {0x00};

/* The server; its dispatcher answers resp (n bytes; n 0: synthesized read
 * replies, see stub_dispatch). */
static void rig_server(tls_rig *r, const uint8_t *resp, size_t n)
{
    memset(r, 0, sizeof *r);
    ck_assert_uint_le(n, sizeof r->d.resp);
    if (n)
        memcpy(r->d.resp, resp, n);
    r->d.resp_len = n;
    r->s = make_server(&r->d, &r->ls, NULL, NULL);
    r->l.server = r->s;
}

static void rig_client(tls_rig *r, uint16_t client_id, uint8_t key_id, const uint8_t psk[16])
{
    r->c = make_client(&r->l, client_id, key_id, psk, &r->ls);
}

/* Server answering 0x00 and client 1 with key_id and psk, handshake done. */
static void rig_connected(tls_rig *r, uint8_t key_id, const uint8_t psk[16])
{
    rig_server(r, OK_REPLY, sizeof OK_REPLY);
    rig_client(r, 1, key_id, psk);
    ck_assert_int_eq(host_tls_connect(r->c), HOST_TLS_OK);
}

static void rig_free(tls_rig *r)
{
    if (r->c)
        host_tls_free(r->c);
    sim_tls_free(r->s);
}

/* The client reads ET70 offset 142 (one byte) through TLS. */
static host_tls_result read_et70(host_tls *c)
{
    uint8_t resp[16];
    size_t rl;
    return host_tls_request(c, READ_ET70_142, sizeof READ_ET70_142, resp, sizeof resp, &rl);
}

/* ---- guide vectors --------------------------------------------------------- */

/* Every message of the guide's example is a well-formed MEP frame whose TLS
 * data is whole records of the expected content types (docs/mep.md 7.2). */
START_TEST(test_guide_vectors_are_whole_records)
{
    tls_vectors v;
    vectors_load(&v);
    ck_assert_uint_eq(v.n, 6);
    ck_assert_mem_eq(v.psk, MAK01, 16);
    static const char *want_types[6] = {"\x16", "\x16\x16", "\x16\x14\x16", "\x14\x16", "\x17", "\x17"};
    static const uint8_t want_code[6] = {0x58, 0x00, 0x59, 0x00, 0x80, 0x00};
    for (size_t i = 0; i < v.n; i++) {
        ck_assert_uint_eq(mep_get_be16(v.m[i].raw), v.m[i].len - 2);
        ck_assert_uint_eq(v.m[i].raw[2], want_code[i]);
        size_t pos = 3, k = 0;
        while (pos < v.m[i].len) {
            ck_assert_uint_ge(v.m[i].len - pos, 5);
            ck_assert_uint_eq(v.m[i].raw[pos + 1], 0x03);
            ck_assert_uint_eq(v.m[i].raw[pos + 2], 0x03);
            ck_assert_uint_lt(k, strlen(want_types[i]));
            ck_assert_uint_eq(v.m[i].raw[pos], (uint8_t)want_types[i][k]);
            pos += 5 + mep_get_be16(v.m[i].raw + pos + 3);
            k++;
        }
        ck_assert_uint_eq(pos, v.m[i].len);
        ck_assert_uint_eq(k, strlen(want_types[i]));
    }
    /* ClientKeyExchange carries the identity 64 00 01: client 100, MAK. */
    const vec_msg *m3 = vec(&v, "tls_ex1_m3");
    const uint8_t ident[] = {0x10, 0x00, 0x00, 0x05, 0x00, 0x03, 0x64, 0x00, 0x01};
    ck_assert_mem_eq(m3->raw + 8, ident, sizeof ident);
}
END_TEST

/* Replay the guide's client flights against sim_tls with the guide's server
 * random (time = first 4 bytes, rng = the other 28 + session id) and compare
 * every server answer byte for byte (docs/mep.md 7.2, vectors tls_ex1_m2/m4,
 * tls_ex2_resp). */
START_TEST(test_replay_guide_handshake_byte_exact)
{
    tls_vectors v;
    vectors_load(&v);
    const vec_msg *m1 = vec(&v, "tls_ex1_m1"), *m2 = vec(&v, "tls_ex1_m2"),
                  *m3 = vec(&v, "tls_ex1_m3"), *m4 = vec(&v, "tls_ex1_m4"),
                  *req = vec(&v, "tls_ex2_req"), *resp = vec(&v, "tls_ex2_resp");
    /* ServerHello body in m2: 02 00004D 0303 random(32) 20 session_id(32) ... */
    const uint8_t *random = m2->raw + 3 + 5 + 4 + 2;
    const uint8_t *sid = random + 33;
    ck_assert_uint_eq(random[32], 32);
    uint8_t script[28 + 32];
    memcpy(script, random + 4, 28);
    memcpy(script + 28, sid, 32);
    sim_tls_replay rp = {script, sizeof script, 0};
    fake_now = (time_t)mep_get_be32(random);

    dispatch_stub d;
    memset(&d, 0, sizeof d);
    const uint8_t et70_reply[] = {0x00, 0x00, 0x01, 0x02}; /* docs/mep.md 15.1: 4 bytes, not 3 */
    memcpy(d.resp, et70_reply, sizeof et70_reply);
    d.resp_len = sizeof et70_reply;
    log_sink ls = {{0}, 0};
    sim_tls *t = make_server(&d, &ls, sim_tls_replay_rng, &rp);

    uint8_t out[MEP_MAX_FRAME];
    size_t o = feed(t, m1->raw, m1->len, out);
    ck_assert_uint_eq(o, m2->len);
    ck_assert_mem_eq(out, m2->raw, m2->len);
    ck_assert_uint_eq(rp.pos, rp.len); /* mbed TLS used exactly the scripted bytes */
    ck_assert_int_eq(sim_tls_get_state(t), SIM_TLS_HANDSHAKING);

    o = feed(t, m3->raw, m3->len, out);
    ck_assert_uint_eq(o, m4->len);
    ck_assert_mem_eq(out, m4->raw, m4->len);
    ck_assert_int_eq(sim_tls_get_state(t), SIM_TLS_ESTABLISHED);
    uint16_t cid = 0;
    sim_level lvl = SIM_LEVEL_NONE;
    ck_assert(sim_tls_session_identity(t, &cid, &lvl));
    ck_assert_uint_eq(cid, 100);
    ck_assert_int_eq(lvl, SIM_LEVEL_MAK);

    o = feed(t, req->raw, req->len, out);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.level, SIM_LEVEL_MAK);
    ck_assert_uint_eq(d.req_len, req->plain_len);
    ck_assert_mem_eq(d.req, req->plain, req->plain_len);
    ck_assert_mem_eq(d.req, READ_ET70_142, sizeof READ_ET70_142);
    ck_assert_uint_eq(o, resp->len);
    ck_assert_mem_eq(out, resp->raw, resp->len);
    ck_assert_mem_eq(resp->plain, et70_reply, sizeof et70_reply);
    fake_now = 0;
    sim_tls_free(t);
}
END_TEST

/* A server that has answered the guide's ClientHello (tls_ex1_m1); returns
 * the guide's second client flight (tls_ex1_m3) for the test to alter. */
static const vec_msg *guide_after_hello(tls_rig *r, tls_vectors *v)
{
    uint8_t out[MEP_MAX_FRAME];
    vectors_load(v);
    const vec_msg *m1 = vec(v, "tls_ex1_m1");
    rig_server(r, NULL, 0);
    ck_assert_uint_gt(feed(r->s, m1->raw, m1->len, out), 3);
    return vec(v, "tls_ex1_m3");
}

/* The guide's flights with the identity's key id changed to 2: refused with
 * 0x03 when the ClientKeyExchange is parsed, before Finished is checked. */
START_TEST(test_guide_flight_key_id_2_is_0x03)
{
    tls_vectors v;
    tls_rig r;
    uint8_t out[MEP_MAX_FRAME], m3[MEP_MAX_FRAME];
    const vec_msg *m3v = guide_after_hello(&r, &v);
    memcpy(m3, m3v->raw, m3v->len);
    m3[16] = 0x02; /* identity 64 00 02 */
    assert_code_only(out, feed(r.s, m3, m3v->len, out), SIM_TLS_RSP_BAD_IDENTITY);
    ck_assert_int_eq(sim_tls_get_state(r.s), SIM_TLS_IDLE);
    ck_assert_uint_eq(sim_tls_counters_get(r.s)->identity_rejects, 1);
    ck_assert_ptr_nonnull(strstr(r.ls.last, "0x03"));
    rig_free(&r);
}
END_TEST

/* Identity of 2 bytes (not 3): 0x03 (docs/mep.md 7.1 [I]). */
START_TEST(test_identity_length_2_is_0x03)
{
    tls_vectors v;
    tls_rig r;
    uint8_t out[MEP_MAX_FRAME], m3[MEP_MAX_FRAME];
    const vec_msg *m3v = guide_after_hello(&r, &v);
    /* Rebuild the ClientKeyExchange record with identity `64 00`. */
    const uint8_t cke[] = {0x59, 0x16, 0x03, 0x03, 0x00, 0x08, 0x10, 0x00, 0x00, 0x04, 0x00, 0x02, 0x64, 0x00};
    size_t rest = m3v->len - 17; /* CCS + Finished records after the original CKE */
    memcpy(m3 + 2, cke, sizeof cke);
    memcpy(m3 + 2 + sizeof cke, m3v->raw + 17, rest);
    size_t len = 2 + sizeof cke + rest;
    mep_put_be16(m3, (uint16_t)(len - 2));
    assert_code_only(out, feed(r.s, m3, len, out), SIM_TLS_RSP_BAD_IDENTITY);
    ck_assert_ptr_nonnull(strstr(r.ls.last, "0x03"));
    rig_free(&r);
}
END_TEST

/* ClientHellos the meter must refuse (docs/mep.md 7.1: TLS 1.2 and 0x00A9
 * only): only TLS_PSK_WITH_AES_256_CBC_SHA (0x008D) offered, or
 * client_version TLS 1.1. Both answered 0x01, no session. */
START_TEST(test_client_hello_without_00A9_or_tls12_is_0x01)
{
    tls_vectors v;
    vectors_load(&v);
    uint8_t out[MEP_MAX_FRAME], hello[MEP_MAX_FRAME];
    const vec_msg *m1 = vec(&v, "tls_ex1_m1");
    ck_assert_uint_eq(m1->raw[49], 0x00);
    ck_assert_uint_eq(m1->raw[50], 0xA9); /* first offered suite */
    ck_assert_uint_eq(m1->raw[13], 0x03); /* client_version 03 03 */
    for (int variant = 0; variant < 2; variant++) {
        tls_rig r;
        rig_server(&r, NULL, 0);
        sim_tls *s = r.s;
        memcpy(hello, m1->raw, m1->len);
        if (variant == 0)
            hello[50] = 0x8D;
        else
            hello[13] = 0x02;
        assert_code_only(out, feed(s, hello, m1->len, out), SIM_TLS_RSP_TLS_ERROR);
        ck_assert_int_eq(sim_tls_get_state(s), SIM_TLS_IDLE);
        ck_assert_uint_eq(sim_tls_counters_get(s)->handshake_failures, 1);
        ck_assert_int_ne(sim_tls_counters_get(s)->last_mbedtls_error, 0);
        ck_assert_ptr_nonnull(strstr(r.ls.last, "handshake failed"));
        rig_free(&r);
    }
}
END_TEST

/* ---- host_tls <-> sim_tls ------------------------------------------------- */

static void full_read(uint8_t key_id, const uint8_t psk[16], sim_level want_level)
{
    const uint8_t reply[] = {0x00, 0x00, 0x01, 0x01};
    tls_rig r;
    rig_server(&r, reply, sizeof reply);
    rig_client(&r, 0x1234, key_id, psk);
    dispatch_stub *d = &r.d;
    sim_tls *s = r.s;
    host_tls *c = r.c;
    ck_assert_int_eq(host_tls_connect(c), HOST_TLS_OK);
    ck_assert(host_tls_connected(c));
    ck_assert_int_eq(sim_tls_get_state(s), SIM_TLS_ESTABLISHED);
    uint16_t cid = 0;
    sim_level lvl = SIM_LEVEL_NONE;
    ck_assert(sim_tls_session_identity(s, &cid, &lvl));
    ck_assert_uint_eq(cid, 0x1234);
    ck_assert_int_eq(lvl, want_level);
    uint8_t resp[64];
    size_t rl = 0;
    ck_assert_int_eq(host_tls_request(c, READ_ET70_142, sizeof READ_ET70_142, resp, sizeof resp, &rl), HOST_TLS_OK);
    ck_assert_uint_eq(rl, sizeof reply);
    ck_assert_mem_eq(resp, reply, sizeof reply);
    ck_assert_int_eq(d->level, want_level);
    ck_assert_mem_eq(d->req, READ_ET70_142, sizeof READ_ET70_142);
    ck_assert_uint_eq(r.l.frames, 3); /* 0x58, 0x59, 0x80 */
    ck_assert_uint_eq(sim_tls_counters_get(s)->handshakes_ok, 1);
    rig_free(&r);
}

START_TEST(test_host_handshake_and_read_mak) { full_read(1, MAK01, SIM_LEVEL_MAK); }
END_TEST

/* A fleet's meters draw from one generator (sim_tls_rng): two servers on
 * it both complete a handshake, and it never repeats itself. */
START_TEST(test_shared_rng_serves_two_meters)
{
    char err[200];
    sim_tls_rng *rng = sim_tls_rng_new(err, sizeof err);
    ck_assert_msg(rng != NULL, "%s", err);
    uint8_t a[32], b[32];
    ck_assert_int_eq(sim_tls_rng_random(rng, a, sizeof a), 0);
    ck_assert_int_eq(sim_tls_rng_random(rng, b, sizeof b), 0);
    ck_assert(memcmp(a, b, sizeof a) != 0);
    for (int k = 0; k < 2; k++) {
        tls_rig r;
        memset(&r, 0, sizeof r);
        memcpy(r.d.resp, OK_REPLY, sizeof OK_REPLY);
        r.d.resp_len = sizeof OK_REPLY;
        r.s = make_server(&r.d, &r.ls, sim_tls_rng_random, rng);
        r.l.server = r.s;
        rig_client(&r, (uint16_t)(1 + k), 0, MBK02);
        ck_assert_int_eq(host_tls_connect(r.c), HOST_TLS_OK);
        ck_assert_int_eq(sim_tls_get_state(r.s), SIM_TLS_ESTABLISHED);
        rig_free(&r);
    }
    sim_tls_rng_free(rng);
}
END_TEST

START_TEST(test_host_handshake_and_read_mbk) { full_read(0, MBK02, SIM_LEVEL_MBK); }
END_TEST

/* Right identity, wrong key: the client Finished does not authenticate;
 * sim_tls answers 0x03 (invalid identity or key), the client reports
 * HOST_TLS_ERR_IDENTITY and both sides log it. */
START_TEST(test_wrong_psk_is_0x03_and_visible)
{
    tls_rig r; /* the server logs to r.ls, the client to cls */
    rig_server(&r, NULL, 0);
    log_sink cls = {{0}, 0};
    host_tls *c = r.c = make_client(&r.l, 7, 1, MBK02 /* not the MAK */, &cls);
    sim_tls *s = r.s;
    ck_assert_int_eq(host_tls_connect(c), HOST_TLS_ERR_IDENTITY);
    ck_assert(!host_tls_connected(c));
    ck_assert_uint_eq(host_tls_get_stats(c)->last_meter_code, 0x03);
    ck_assert_int_eq(sim_tls_get_state(s), SIM_TLS_IDLE);
    const sim_tls_counters *k = sim_tls_counters_get(s);
    ck_assert_uint_eq(k->identity_rejects, 1);
    ck_assert_uint_eq(k->handshake_failures, 1);
    ck_assert_int_eq(k->last_mbedtls_error, MBEDTLS_ERR_SSL_INVALID_MAC);
    ck_assert_ptr_nonnull(strstr(r.ls.last, "handshake failed"));
    ck_assert_ptr_nonnull(strstr(cls.last, "0x03"));
    ck_assert_str_eq(host_tls_strerror(HOST_TLS_ERR_IDENTITY), "meter rejected the PSK identity or key (0x03)");
    /* No table access follows. */
    ck_assert_int_eq(read_et70(c), HOST_TLS_ERR_IDENTITY);
    ck_assert_int_eq(r.d.calls, 0);
    rig_free(&r);
}
END_TEST

START_TEST(test_key_id_2_is_0x03)
{
    tls_rig r;
    rig_server(&r, NULL, 0);
    rig_client(&r, 100, 2, MAK01);
    ck_assert_int_eq(host_tls_connect(r.c), HOST_TLS_ERR_IDENTITY);
    ck_assert_int_eq(sim_tls_counters_get(r.s)->last_mbedtls_error, MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY);
    rig_free(&r);
}
END_TEST

START_TEST(test_table_without_session_is_0x0A)
{
    tls_vectors v;
    vectors_load(&v);
    uint8_t out[MEP_MAX_FRAME];
    const vec_msg *req = vec(&v, "tls_ex2_req"), *m3 = vec(&v, "tls_ex1_m3");
    tls_rig r;
    rig_server(&r, NULL, 0);
    assert_code_only(out, feed(r.s, req->raw, req->len, out), SIM_TLS_RSP_NO_SESSION);
    /* [E] TLS_HANDSHAKE_CONT without a handshake: 0x0A as well. */
    assert_code_only(out, feed(r.s, m3->raw, m3->len, out), SIM_TLS_RSP_NO_SESSION);
    ck_assert_uint_eq(sim_tls_counters_get(r.s)->no_session, 2);
    ck_assert_int_eq(r.d.calls, 0);
    ck_assert(!sim_tls_active(r.s));
    rig_free(&r);
}
END_TEST

/* 0x58 during a session discards it (docs/mep.md 7.3): the old client's next
 * TLS_TABLE gets 0x0A, and host_tls recovers by handshaking again. */
START_TEST(test_handshake_mid_session_resets)
{
    tls_vectors v;
    vectors_load(&v);
    uint8_t out[MEP_MAX_FRAME];
    const vec_msg *m1 = vec(&v, "tls_ex1_m1");
    tls_rig r;
    rig_connected(&r, 1, MAK01);
    size_t o = feed(r.s, m1->raw, m1->len, out); /* someone else's ClientHello */
    ck_assert_uint_gt(o, 3);
    ck_assert_uint_eq(out[2], 0x00);
    ck_assert_int_eq(sim_tls_get_state(r.s), SIM_TLS_HANDSHAKING);
    ck_assert(sim_tls_active(r.s));
    ck_assert(!sim_tls_session_identity(r.s, NULL, NULL));
    ck_assert_int_eq(read_et70(r.c), HOST_TLS_OK);
    ck_assert_uint_eq(sim_tls_counters_get(r.s)->no_session, 1); /* the first attempt */
    ck_assert_uint_eq(host_tls_get_stats(r.c)->handshakes, 2);
    ck_assert_uint_eq(host_tls_get_stats(r.c)->reconnects, 1);
    ck_assert_int_eq(r.d.calls, 1);
    rig_free(&r);
}
END_TEST

START_TEST(test_terminate_then_table_is_0x0A)
{
    tls_vectors v;
    vectors_load(&v);
    uint8_t out[MEP_MAX_FRAME];
    const vec_msg *req = vec(&v, "tls_ex2_req");
    tls_rig r;
    rig_connected(&r, 0, MBK02);
    const uint8_t term[] = {0x00, 0x02, 0x57, 0x00};
    assert_code_only(out, feed(r.s, term, sizeof term, out), 0x00);
    ck_assert(!sim_tls_active(r.s));
    assert_code_only(out, feed(r.s, req->raw, req->len, out), SIM_TLS_RSP_NO_SESSION);
    /* Client side: terminate, then a request handshakes again by itself. */
    ck_assert_int_eq(host_tls_connect(r.c), HOST_TLS_OK);
    ck_assert_int_eq(host_tls_terminate(r.c), HOST_TLS_OK);
    ck_assert(!host_tls_connected(r.c));
    ck_assert_uint_eq(sim_tls_counters_get(r.s)->terminates, 2);
    ck_assert_int_eq(read_et70(r.c), HOST_TLS_OK);
    ck_assert_uint_eq(host_tls_get_stats(r.c)->handshakes, 3);
    /* TLS_TERMINATE without its data byte: 0x01, session kept. */
    const uint8_t bad_term[] = {0x00, 0x01, 0x57};
    assert_code_only(out, feed(r.s, bad_term, sizeof bad_term, out), SIM_TLS_RSP_TLS_ERROR);
    ck_assert_int_eq(sim_tls_get_state(r.s), SIM_TLS_ESTABLISHED);
    rig_free(&r);
}
END_TEST

/* A tampered TLS_TABLE record fails authentication: 0x01, session dropped;
 * a lost reply makes the client handshake again; both recover. */
START_TEST(test_tampered_record_and_lost_reply_recover)
{
    tls_rig r;
    rig_server(&r, OK_REPLY, sizeof OK_REPLY);
    rig_client(&r, 1, 1, MAK01);
    ck_assert_int_eq(read_et70(r.c), HOST_TLS_OK);
    r.l.corrupt_next_table = 1;
    ck_assert_int_eq(read_et70(r.c), HOST_TLS_ERR_TLS);
    ck_assert_int_eq(sim_tls_get_state(r.s), SIM_TLS_IDLE);
    ck_assert_int_eq(sim_tls_counters_get(r.s)->last_mbedtls_error, MBEDTLS_ERR_SSL_INVALID_MAC);
    ck_assert_int_eq(r.d.calls, 1);
    ck_assert_int_eq(read_et70(r.c), HOST_TLS_OK);
    ck_assert_int_eq(r.d.calls, 2);
    r.l.fail_next = 1;
    ck_assert_int_eq(read_et70(r.c), HOST_TLS_ERR_TRANSPORT);
    ck_assert(!host_tls_connected(r.c));
    ck_assert_int_eq(read_et70(r.c), HOST_TLS_OK);
    ck_assert_uint_eq(host_tls_get_stats(r.c)->handshakes, 3);
    rig_free(&r);
}
END_TEST

/* Malformed TLS-mode messages get 0x01 and change nothing. */
START_TEST(test_malformed_messages_change_nothing)
{
    tls_rig r;
    rig_connected(&r, 1, MAK01);
    uint8_t out[MEP_MAX_FRAME];
    const uint8_t torn_hello[] = {0x58, 0x16, 0x03, 0x03, 0x00, 0x2F, 0x01, 0x00};
    const uint8_t torn_table[] = {0x80, 0x17, 0x03, 0x03, 0x00, 0x20, 0x00};
    const uint8_t empty_table[] = {0x80};
    const uint8_t bad_type[] = {0x80, 0x42, 0x03, 0x03, 0x00, 0x00};
    const uint8_t not_tls[] = {0x30, 0x00, 0x17};
    struct { const uint8_t *b; size_t n; } cases[] = {
        {torn_hello, sizeof torn_hello}, {torn_table, sizeof torn_table}, {empty_table, sizeof empty_table},
        {bad_type, sizeof bad_type}, {not_tls, sizeof not_tls},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_code_only(out, sim_tls_on_message(r.s, cases[i].b, cases[i].n, out, sizeof out), SIM_TLS_RSP_TLS_ERROR);
        ck_assert_int_eq(sim_tls_get_state(r.s), SIM_TLS_ESTABLISHED);
    }
    ck_assert_uint_eq(sim_tls_counters_get(r.s)->errors, 5);
    assert_code_only(out, sim_tls_on_message(r.s, torn_hello, 0, out, sizeof out), SIM_TLS_RSP_TLS_ERROR);
    assert_code_only(out, sim_tls_on_message(r.s, torn_hello, MEP_MAX_BODY + 1, out, sizeof out),
                     SIM_TLS_RSP_TLS_ERROR);
    ck_assert_uint_eq(sim_tls_on_message(r.s, torn_hello, sizeof torn_hello, out, 10), 0); /* out too small */
    /* The session still works. */
    uint8_t resp[16];
    size_t rl;
    ck_assert_int_eq(read_et70(r.c), HOST_TLS_OK);
    ck_assert_uint_eq(host_tls_get_stats(r.c)->handshakes, 1);
    /* Dispatch failure: 0x01 outside TLS, session kept on the meter. */
    r.d.resp_len = 0;
    r.d.bt28_size = 1000; /* reply cannot fit: stub answers 0x04 inside TLS */
    const uint8_t read_bt28[] = {0x30, 0x00, 0x1C, 0x02, 0x00};
    ck_assert_int_eq(host_tls_request(r.c, read_bt28, sizeof read_bt28, resp, sizeof resp, &rl), HOST_TLS_OK);
    ck_assert_uint_eq(rl, 1);
    ck_assert_uint_eq(resp[0], MEP_RSP_ONP);
    /* host_tls argument checks */
    ck_assert_int_eq(host_tls_request(r.c, read_bt28, 0, resp, sizeof resp, &rl), HOST_TLS_ERR_ARG);
    ck_assert_int_eq(host_tls_request(r.c, read_bt28, HOST_TLS_MAX_PLAIN + 1, resp, sizeof resp, &rl),
                     HOST_TLS_ERR_ARG);
    rig_free(&r);
}
END_TEST

/* docs/mep.md 7.5: RC4 frames on a TLS-required port or during a session. */
START_TEST(test_rc4_gate_policy)
{
    dispatch_stub d;
    memset(&d, 0, sizeof d);
    sim_tls_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dispatch = stub_dispatch;
    cfg.dispatch_ctx = &d;
    char err[128];
    sim_tls *s = sim_tls_new(&cfg, err, sizeof err);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(sim_tls_rc4_gate(s), SIM_TLS_RC4_ACCEPT);
    tls_vectors v;
    vectors_load(&v);
    uint8_t out[MEP_MAX_FRAME];
    const vec_msg *m1 = vec(&v, "tls_ex1_m1");
    feed(s, m1->raw, m1->len, out);
    ck_assert_int_eq(sim_tls_rc4_gate(s), SIM_TLS_RC4_REFUSE); /* handshake started */
    ck_assert_uint_eq(sim_tls_rc4_refusal(out, sizeof out), 3);
    const uint8_t want[] = {0x00, 0x01, 0x0A};
    ck_assert_mem_eq(out, want, 3);
    const uint8_t term[] = {0x57, 0xFF};
    sim_tls_on_message(s, term, sizeof term, out, sizeof out);
    ck_assert_int_eq(sim_tls_rc4_gate(s), SIM_TLS_RC4_ACCEPT);
    ck_assert_uint_eq(sim_tls_counters_get(s)->rc4_refused, 1);
    sim_tls_free(s);

    cfg.tls_required = true;
    s = sim_tls_new(&cfg, err, sizeof err);
    ck_assert_int_eq(sim_tls_rc4_gate(s), SIM_TLS_RC4_REFUSE);
    sim_tls_free(s);
    cfg.rc4_silent = true;
    s = sim_tls_new(&cfg, err, sizeof err);
    ck_assert_int_eq(sim_tls_rc4_gate(s), SIM_TLS_RC4_IGNORE);
    sim_tls_free(s);
    ck_assert(sim_tls_is_tls_code(0x57) && sim_tls_is_tls_code(0x58) && sim_tls_is_tls_code(0x59) &&
              sim_tls_is_tls_code(0x80));
    ck_assert(!sim_tls_is_tls_code(0x30) && !sim_tls_is_tls_code(0x3F) && !sim_tls_is_tls_code(0x40) &&
              !sim_tls_is_tls_code(0x4F));
    cfg.dispatch = NULL;
    ck_assert_ptr_null(sim_tls_new(&cfg, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "dispatch"));
}
END_TEST

/* ---- figures (printed, never pass/fail on time) --------------------------- */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_bench_handshake_and_poll_bytes)
{
    enum { ROUNDS = 20, BT28_BYTES = 300 };
    tls_rig r;
    rig_server(&r, NULL, 0);
    r.d.bt28_size = BT28_BYTES;
    rig_client(&r, 1, 1, MAK01);
    host_tls *c = r.c;
    link_ctx *l = &r.l;
    double t0 = now_s();
    for (int i = 0; i < ROUNDS; i++)
        ck_assert_int_eq(host_tls_connect(c), HOST_TLS_OK);
    double hs_ms = (now_s() - t0) * 1000.0 / ROUNDS;
    size_t hs_tx = l->bytes_tx / ROUNDS, hs_rx = l->bytes_rx / ROUNDS;
    ck_assert_uint_eq(l->frames, 2 * ROUNDS);

    /* One poll (module-behaviour P1 + P2): BT23 offset 0 count 13, BT28 full. */
    const uint8_t p1[] = {0x3F, 0x00, 0x17, 0x00, 0x00, 0x00, 0x00, 0x0D};
    const uint8_t p2[] = {0x30, 0x00, 0x1C, 0x02, 0x00};
    uint8_t resp[HOST_TLS_MAX_PLAIN];
    size_t rl1, rl2;
    l->bytes_tx = l->bytes_rx = 0;
    ck_assert_int_eq(host_tls_request(c, p1, sizeof p1, resp, sizeof resp, &rl1), HOST_TLS_OK);
    ck_assert_int_eq(host_tls_request(c, p2, sizeof p2, resp, sizeof resp, &rl2), HOST_TLS_OK);
    ck_assert_uint_eq(rl1, 3 + 13);
    ck_assert_uint_eq(rl2, 3 + BT28_BYTES);
    size_t tls_poll = l->bytes_tx + l->bytes_rx;
    /* RC4 mode (docs/mep.md 3.2/3.6): request = len(2) + bare + seq(4) + digest(8),
     * response = len(2) + bare response + digest(8). */
    size_t rc4_poll = (2 + sizeof p1 + 12) + (2 + rl1 + 8) + (2 + sizeof p2 + 12) + (2 + rl2 + 8);
    /* TLS adds per message: code(1) + record header(5) + nonce(8) + tag(16). */
    ck_assert_uint_eq(tls_poll, (2 + 1 + 29 + sizeof p1) + (2 + 1 + 29 + rl1) + (2 + 1 + 29 + sizeof p2) +
                                    (2 + 1 + 29 + rl2));
    printf("TLS bench: handshake %.2f ms in process (mean of %d, mbed TLS, PSK AES-256-GCM-SHA384), "
           "%zu bytes client->meter + %zu bytes meter->client in 2 exchanges = %.0f ms at 9600 8N1\n",
           hs_ms, ROUNDS, hs_tx, hs_rx, (double)(hs_tx + hs_rx) * 10.0 / 9.6);
    printf("TLS bench: one BT23(13 B)+BT28(%d B) poll: TLS %zu bytes on the wire, RC4 %zu bytes "
           "(+%zu, %.0f ms vs %.0f ms at 9600 8N1)\n",
           BT28_BYTES, tls_poll, rc4_poll, tls_poll - rc4_poll, (double)tls_poll * 10.0 / 9.6,
           (double)rc4_poll * 10.0 / 9.6);
    rig_free(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tv = tcase_create("guide_vectors");
    tcase_add_test(tv, test_guide_vectors_are_whole_records);
    tcase_add_test(tv, test_replay_guide_handshake_byte_exact);
    tcase_add_test(tv, test_guide_flight_key_id_2_is_0x03);
    tcase_add_test(tv, test_identity_length_2_is_0x03);
    tcase_add_test(tv, test_client_hello_without_00A9_or_tls12_is_0x01);
    suite_add_tcase(s, tv);
    TCase *tc = tcase_create("host_sim");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_host_handshake_and_read_mak);
    tcase_add_test(tc, test_host_handshake_and_read_mbk);
    tcase_add_test(tc, test_shared_rng_serves_two_meters);
    tcase_add_test(tc, test_wrong_psk_is_0x03_and_visible);
    tcase_add_test(tc, test_key_id_2_is_0x03);
    tcase_add_test(tc, test_table_without_session_is_0x0A);
    tcase_add_test(tc, test_handshake_mid_session_resets);
    tcase_add_test(tc, test_terminate_then_table_is_0x0A);
    tcase_add_test(tc, test_tampered_record_and_lost_reply_recover);
    tcase_add_test(tc, test_malformed_messages_change_nothing);
    tcase_add_test(tc, test_rc4_gate_policy);
    tcase_add_test(tc, test_bench_handshake_and_poll_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }

#else /* !MEP_HAVE_MBEDTLS */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "test_tls: mbed TLS is not linked into mepsim_core; "
                    "include(simulator/tls.cmake) from simulator/CMakeLists.txt\n");
    return 77;
}
#endif
