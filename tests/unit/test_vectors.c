/* Check suite: every vector of fixtures/vectors/mep_rc4.json, walked by one
 * generic test (adding a vector to the JSON needs no code here).
 *
 * For each vector, whatever fields it carries are checked:
 *   raw_hex            framing: length field, and the parsed request/response
 *                      fields against `fields` (code, table, offset, count,
 *                      sequence number, data, digest) and the ET52/ET53/BT07
 *                      payload descriptions;
 *   digest_input_hex   equals the frame bytes the guide digests; with
 *                      key_hex the digest is recomputed and, when
 *                      `verified` is true, must equal expected_digest_hex
 *                      (unverifiable vectors are checked for framing only);
 *   request/response   a verified request with a verified reply (in_reply_to)
 *                      is replayed through a sim_meter built from
 *                      fixtures/meters/guide-example.json and the whole reply
 *                      frame must match byte for byte;
 *   encrypted_*        derived RC4 vectors: the encrypt/packet keys, the
 *                      decryption of the request, and the meter's encrypted
 *                      reply must match byte for byte;
 *   message_len / message_hex + digest_hex   one-shot digest vectors;
 *   expected_access    the key level the meter must pick.
 *
 * Which meter: the guide's examples come from two meters (RC4 Example 1/2
 * with demand off; the transaction/EP17 examples with demand on), so every
 * fixtures/meters/guide-*.json profile is loaded and a request is replayed
 * on the one whose starting sequence number (profile seq_start) is nearest
 * to the request's own number.
 *
 * Sequence numbers for replay: the examples come from different sessions,
 * so the replay keeps one meter while the requests follow each other
 * (E..E+7) and starts a fresh meter when they do not: with E = the number a
 * 0x0C reply carries, or E = the request's own number when the expected
 * reply is not 0x0C. That is exactly the server state each vector's
 * server_action describes (e.g. E = 0x77635B90 for Example 1).
 */
#include <check.h>
#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "mep_digest.h"
#include "mep_frame.h"
#include "mep_rc4.h"
#include "sim_meter.h"
#include "sim_profile.h"

#define MAXB 600

typedef struct {
    uint8_t b[MAXB];
    size_t n;
    bool placeholder; /* NN/DD tokens: bytes after the first one are unknown */
} hexbuf;

static bool parse_hex(const char *s, hexbuf *h)
{
    h->n = 0;
    h->placeholder = false;
    if (!s)
        return false;
    while (*s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        char tok[3] = {s[0], s[1] ? s[1] : 0, 0};
        char *end;
        unsigned long v = strtoul(tok, &end, 16);
        if (end != tok + 2) {
            h->placeholder = true;
            return true;
        }
        if (h->n < MAXB)
            h->b[h->n++] = (uint8_t)v;
        s += 2;
    }
    return true;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static long jnum_or_hex(json_t *o, const char *k, bool *have)
{
    json_t *v = json_object_get(o, k);
    *have = true;
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    if (json_is_string(v))
        return strtol(json_string_value(v), NULL, 0);
    *have = false;
    return 0;
}

#define MAXPROF 8

typedef struct {
    sim_profile prof[MAXPROF];
    size_t nprof;
    size_t cur;           /* profile of the current meter */
    sim_meter *m;
    uint8_t mak[16], mbk[16];
    uint64_t now_ms;
    int replays, digests, framings, encrypted, payloads;
} walk;

static uint32_t dist(uint32_t a, uint32_t b)
{
    uint32_t d1 = a - b, d2 = b - a;
    return d1 < d2 ? d1 : d2;
}

static size_t nearest_profile(const walk *w, uint32_t rx)
{
    size_t best = 0;
    for (size_t i = 1; i < w->nprof; i++)
        if (dist(w->prof[i].seq_start, rx) < dist(w->prof[best].seq_start, rx))
            best = i;
    return best;
}

static sim_meter *meter_with(walk *w, size_t pi, uint32_t e, const uint8_t mak[16],
                             const uint8_t mbk[16])
{
    if (w->m && w->cur == pi && sim_meter_next_seq(w->m) == e && !memcmp(w->mak, mak, 16) &&
        !memcmp(w->mbk, mbk, 16))
        return w->m;
    sim_meter_free(w->m);
    w->cur = pi;
    sim_meter_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.profile = &w->prof[pi];
    memcpy(cfg.mak, mak, 16);
    memcpy(cfg.mbk, mbk, 16);
    memcpy(w->mak, mak, 16);
    memcpy(w->mbk, mbk, 16);
    cfg.has_seq_start = true;
    cfg.seq_start = e;
    cfg.seed = 1;
    cfg.speed = 1.0;
    cfg.policy = w->prof[pi].policy;
    cfg.name = "vectors";
    char err[256];
    w->m = sim_meter_new(&cfg, w->now_ms, err, sizeof err);
    ck_assert_msg(w->m != NULL, "sim_meter_new: %s", err);
    return w->m;
}

/* Meter for a request with sequence number rx whose expected reply is
 * `resp` (plaintext): keep the current one if it is in step. */
static sim_meter *meter_for(walk *w, uint32_t rx, const uint8_t *resp, size_t rn,
                            const uint8_t mak[16], const uint8_t mbk[16])
{
    size_t pi = nearest_profile(w, rx);
    if (rn >= 7 && resp[2] == MEP_RSP_SEQ)
        return meter_with(w, pi, mep_get_be32(resp + 3), mak, mbk);
    if (w->m && w->cur == pi && !memcmp(w->mak, mak, 16) && !memcmp(w->mbk, mbk, 16) &&
        (uint32_t)(rx - sim_meter_next_seq(w->m)) < 8)
        return w->m;
    return meter_with(w, pi, rx, mak, mbk);
}

static void check_fields(const char *id, json_t *fields, const hexbuf *raw, bool request)
{
    if (!json_is_object(fields) || raw->n < 2)
        return;
    bool have;
    long v = jnum_or_hex(fields, "length_field", &have);
    if (have)
        ck_assert_msg(mep_get_be16(raw->b) == v, "%s: length_field", id);
    if (raw->placeholder)
        return;
    const uint8_t *body = raw->b + 2;
    size_t bn = raw->n - 2;
    ck_assert_msg(bn == mep_get_be16(raw->b), "%s: length field %u vs %zu bytes", id,
                  mep_get_be16(raw->b), bn);
    hexbuf d;
    if (parse_hex(jstr(fields, "digest_hex"), &d) && d.n == 8 && bn >= 8)
        ck_assert_msg(!memcmp(body + bn - 8, d.b, 8), "%s: digest field", id);
    if (request) {
        ck_assert_msg(bn >= 12, "%s: request too short", id);
        mep_request r;
        ck_assert_msg(mep_request_parse(body, bn - 12, &r) == MEP_PARSE_OK, "%s: parse", id);
        v = jnum_or_hex(fields, "request_code", &have);
        if (have)
            ck_assert_msg(r.code == v, "%s: request_code", id);
        v = jnum_or_hex(fields, "table_id", &have);
        if (have)
            ck_assert_msg(r.table == v, "%s: table_id", id);
        v = jnum_or_hex(fields, "offset", &have);
        if (have)
            ck_assert_msg(r.offset == (uint32_t)v, "%s: offset", id);
        v = jnum_or_hex(fields, "count", &have);
        if (have)
            ck_assert_msg(r.count == v, "%s: count", id);
        v = jnum_or_hex(fields, "sequence_number", &have);
        if (have)
            ck_assert_msg(mep_get_be32(body + bn - 12) == (uint32_t)v, "%s: sequence_number", id);
        hexbuf data;
        if (parse_hex(jstr(fields, "data_hex"), &data)) {
            ck_assert_msg(data.n == r.data_len && !memcmp(data.b, r.data, data.n), "%s: data", id);
        }
    } else {
        v = jnum_or_hex(fields, "response_code", &have);
        if (have)
            ck_assert_msg(body[0] == v, "%s: response_code", id);
        v = jnum_or_hex(fields, "sequence_number", &have);
        if (have)
            ck_assert_msg(bn >= 13 && mep_get_be32(body + 1) == (uint32_t)v, "%s: seq", id);
        v = jnum_or_hex(fields, "count", &have);
        if (have)
            ck_assert_msg(bn >= 11 && mep_get_be16(body + 1) == v, "%s: count", id);
        hexbuf data;
        if (parse_hex(jstr(fields, "table_data_hex"), &data))
            ck_assert_msg(bn == 3 + data.n + 8 && !memcmp(body + 3, data.b, data.n),
                          "%s: table data", id);
    }
}

/* ET52/ET53 payload description (docs/mep.md 9) against its bytes. */
static void check_tx_payload(const char *id, json_t *pl, const uint8_t *b, size_t n)
{
    bool have;
    ck_assert_msg(n >= 7, "%s: payload too short", id);
    long size = jnum_or_hex(pl, "transaction_size", &have);
    ck_assert_msg(have && (size_t)size == n && mep_get_le16(b) == size, "%s: transaction_size", id);
    ck_assert_msg(b[2] == jnum_or_hex(pl, "transaction_type", &have), "%s: type", id);
    long num = jnum_or_hex(pl, "transaction_number", &have);
    ck_assert_msg(mep_get_le16(b + 3) == num, "%s: number", id);
    size_t off = 5;
    json_t *rec;
    size_t i;
    json_array_foreach(json_object_get(pl, "records"), i, rec) {
        long L = jnum_or_hex(rec, "length", &have);
        hexbuf msg;
        parse_hex(jstr(rec, "message_hex"), &msg);
        ck_assert_msg(off + 2 + (size_t)L <= n, "%s: record %zu overruns", id, i);
        ck_assert_msg(mep_get_le16(b + off) == L && msg.n == (size_t)L &&
                          !memcmp(b + off + 2, msg.b, msg.n),
                      "%s: record %zu", id, i);
        off += 2 + (size_t)L;
    }
    ck_assert_msg(off == n - 2, "%s: records end at %zu, trailer at %zu", id, off, n - 2);
    ck_assert_msg(mep_get_le16(b + n - 2) == jnum_or_hex(pl, "trailing_transaction_number", &have),
                  "%s: trailing number", id);
}

static void check_payloads(walk *w, const char *id, json_t *v, const hexbuf *raw)
{
    (void)raw; /* the payloads are checked on the fields' data, complete even
                * when the frame has placeholders (tx_single_write) */
    json_t *fields = json_object_get(v, "fields");
    hexbuf data;
    json_t *pl;
    if ((pl = json_object_get(v, "et52_payload")) && parse_hex(jstr(fields, "data_hex"), &data)) {
        check_tx_payload(id, pl, data.b, data.n);
        w->payloads++;
    }
    if ((pl = json_object_get(v, "et53_payload")) &&
        parse_hex(jstr(fields, "table_data_hex"), &data)) {
        check_tx_payload(id, pl, data.b, data.n);
        w->payloads++;
    }
    if ((pl = json_object_get(v, "bt07_payload")) && parse_hex(jstr(fields, "data_hex"), &data)) {
        bool have;
        ck_assert_msg(data.n >= 3, "%s: BT07 data", id);
        ck_assert_msg((mep_get_le16(data.b) & 0x0FFF) == jnum_or_hex(pl, "procedure_number", &have),
                      "%s: procedure number", id);
        ck_assert_msg((data.b[1] >> 4) == jnum_or_hex(pl, "response_handling", &have), "%s: rh", id);
        ck_assert_msg(data.b[2] == jnum_or_hex(pl, "psn", &have), "%s: psn", id);
        w->payloads++;
    }
}

static json_t *find_reply(json_t *all, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) {
        const char *r = jstr(v, "in_reply_to");
        if (r && !strcmp(r, id))
            return v;
    }
    return NULL;
}

static void replay(walk *w, const char *id, const hexbuf *req, const hexbuf *want_wire,
                   const hexbuf *want_plain, const uint8_t mak[16], const uint8_t mbk[16],
                   uint32_t rx)
{
    sim_meter *m = meter_for(w, rx, want_plain->b, want_plain->n, mak, mbk);
    uint8_t out[MEP_MAX_FRAME];
    char log[300];
    w->now_ms += 200;
    size_t n = sim_meter_on_frame(m, req->b, req->n, w->now_ms, out, sizeof out, log, sizeof log);
    sim_meter_on_sent(m, w->now_ms);
    ck_assert_msg(n == want_wire->n && !memcmp(out, want_wire->b, n),
                  "%s: reply differs (%zu bytes, want %zu); meter said: %s", id, n, want_wire->n, log);
    w->replays++;
}

static void walk_vector(walk *w, json_t *all, json_t *v, const uint8_t example_mak[16])
{
    const char *id = jstr(v, "id");
    ck_assert_msg(id != NULL, "vector without id");
    const char *dir = jstr(v, "direction");
    bool request = dir && !strcmp(dir, "client->server");
    json_t *verified = json_object_get(v, "verified");
    bool is_verified = json_is_true(verified);
    uint8_t mak[16], mbk[16];
    memcpy(mak, example_mak, 16);
    memset(mbk, 2, 16); /* guide-example.json's MBK */
    hexbuf k;
    if (parse_hex(jstr(v, "mak_hex"), &k) && k.n >= 16)
        memcpy(mak, k.b, 16);
    if (parse_hex(jstr(v, "mbk_hex"), &k) && k.n >= 16)
        memcpy(mbk, k.b, 16);

    /* Framing and fields. */
    hexbuf raw;
    if (parse_hex(jstr(v, "raw_hex"), &raw)) {
        check_fields(id, json_object_get(v, "fields"), &raw, request);
        check_payloads(w, id, v, &raw);
        w->framings++;
    }

    /* Digest recomputation. */
    hexbuf din, key, exp;
    if (parse_hex(jstr(v, "digest_input_hex"), &din) && parse_hex(jstr(v, "expected_digest_hex"), &exp)) {
        if (!raw.placeholder && raw.n > 10) {
            /* The digest input is the frame without length and digest
             * (requests), or request input || response body (replies). */
            const uint8_t *body = raw.b + 2;
            size_t bn = raw.n - 10;
            ck_assert_msg(din.n >= bn && !memcmp(din.b + din.n - bn, body, bn),
                          "%s: digest_input_hex is not the frame's body", id);
        }
        if (parse_hex(jstr(v, "key_hex"), &key) && key.n >= 16) {
            uint8_t d[8];
            mep_digest(key.b, din.b, din.n, d);
            if (is_verified)
                ck_assert_msg(!memcmp(d, exp.b, 8), "%s: digest mismatch", id);
            w->digests++;
        }
    }

    /* One-shot digest vectors. */
    hexbuf dg;
    if (parse_hex(jstr(v, "digest_hex"), &dg) && dg.n == 8 && !json_object_get(v, "fields")) {
        bool have;
        long len = jnum_or_hex(v, "message_len", &have);
        uint8_t msg[MAXB], d[8];
        size_t mn = 0;
        const uint8_t *kk = example_mak;
        if (have) {
            for (long i = 0; i < len && i < MAXB; i++)
                msg[i] = (uint8_t)(7 * i + 3);
            mn = (size_t)len;
        } else {
            hexbuf mh;
            ck_assert_msg(parse_hex(jstr(v, "message_hex"), &mh), "%s: no message", id);
            memcpy(msg, mh.b, mh.n);
            mn = mh.n;
        }
        if (parse_hex(jstr(v, "key_hex"), &key) && key.n >= 16)
            kk = key.b;
        mep_digest(kk, msg, mn, d);
        ck_assert_msg(!memcmp(d, dg.b, 8), "%s: one-shot digest", id);
        hexbuf wrong;
        if (parse_hex(jstr(v, "wrong_if_all_20_bytes_used_hex"), &wrong))
            ck_assert_msg(memcmp(d, wrong.b, 8) != 0, "%s: 20-byte key used", id);
        w->digests++;
    }

    /* Replay a verified request against its verified reply. */
    if (request && is_verified && !raw.placeholder) {
        json_t *rv = find_reply(all, id);
        hexbuf want;
        if (rv && json_is_true(json_object_get(rv, "verified")) && parse_hex(jstr(rv, "raw_hex"), &want))
            replay(w, id, &raw, &want, &want, mak, mbk, mep_get_be32(raw.b + raw.n - 12));
    }

    /* Derived RC4 vectors. */
    hexbuf enc_req;
    if (parse_hex(jstr(v, "encrypted_request_hex"), &enc_req) && enc_req.n >= 17) {
        hexbuf ek, pk, preq, eresp, presp;
        uint8_t e16[16];
        mep_rc4_encrypt_key(mak, e16);
        if (parse_hex(jstr(v, "mep_encrypt_key_hex"), &ek))
            ck_assert_msg(ek.n == 16 && !memcmp(ek.b, e16, 16), "%s: encrypt key", id);
        const uint8_t *dig = enc_req.b + enc_req.n - 8;
        if (parse_hex(jstr(v, "packet_rc4_key_hex"), &pk)) {
            uint8_t p16[16];
            memcpy(p16, e16, 16);
            for (int i = 0; i < 8; i++)
                p16[i] ^= dig[i];
            ck_assert_msg(pk.n == 16 && !memcmp(pk.b, p16, 16), "%s: packet key", id);
        }
        /* Decrypt as the server would. */
        uint8_t plain[MAXB];
        mep_rc4 c;
        size_t pn = enc_req.n - 10;
        memcpy(plain, enc_req.b + 2, pn);
        mep_rc4_packet_init(&c, mak, dig);
        mep_rc4_crypt(&c, plain, pn);
        uint8_t d[8];
        mep_digest(mak, plain, pn, d);
        ck_assert_msg(!memcmp(d, dig, 8), "%s: decrypted request does not verify", id);
        if (parse_hex(jstr(v, "plain_request_hex"), &preq))
            ck_assert_msg(preq.n == enc_req.n && !memcmp(preq.b + 2, plain, pn), "%s: plain request", id);
        if (parse_hex(jstr(v, "encrypted_response_hex"), &eresp) &&
            parse_hex(jstr(v, "plain_response_hex"), &presp)) {
            ck_assert_msg(eresp.n == presp.n && eresp.n > 10, "%s: response sizes", id);
            uint8_t rb[MAXB];
            memcpy(rb, eresp.b + 2, eresp.n - 10);
            mep_rc4_crypt(&c, rb, eresp.n - 10); /* keystream continues (docs/mep.md 5.4) */
            ck_assert_msg(!memcmp(rb, presp.b + 2, presp.n - 10), "%s: response decryption", id);
            replay(w, id, &enc_req, &eresp, &presp, mak, mbk, mep_get_be32(plain + pn - 4));
        }
        w->encrypted++;
    }

    /* Expected key level for a plain request. */
    const char *acc = jstr(v, "expected_access");
    if (acc && !raw.placeholder && raw.n >= 17) {
        uint32_t rx = mep_get_be32(raw.b + raw.n - 12);
        hexbuf none = {.n = 0};
        sim_meter *m = meter_for(w, rx, none.b, 0, mak, mbk);
        sim_meter_counters before = *sim_meter_counters_get(m);
        uint8_t out[MEP_MAX_FRAME];
        w->now_ms += 200;
        size_t n = sim_meter_on_frame(m, raw.b, raw.n, w->now_ms, out, sizeof out, NULL, 0);
        const sim_meter_counters *after = sim_meter_counters_get(m);
        ck_assert_msg(n > 10 && out[2] == MEP_RSP_OK, "%s: not answered OK", id);
        if (!strcmp(acc, "MBK"))
            ck_assert_msg(after->mbk_requests == before.mbk_requests + 1, "%s: not MBK", id);
        else
            ck_assert_msg(after->mak_requests == before.mak_requests + 1, "%s: not MAK", id);
        /* The reply digest is made with that key. */
        uint8_t d[8];
        mep_digest_pair(!strcmp(acc, "MBK") ? mbk : mak, raw.b + 2, raw.n - 10, out + 2, n - 10, d);
        ck_assert_msg(!memcmp(d, out + n - 8, 8), "%s: reply digest key", id);
    }
}

START_TEST(test_every_rc4_vector)
{
    json_error_t je;
    json_t *root = json_load_file(FIXTURES_DIR "/vectors/mep_rc4.json", 0, &je);
    ck_assert_msg(root != NULL, "mep_rc4.json: %s", je.text);
    walk *w = calloc(1, sizeof *w);
    char err[512];
    glob_t g;
    ck_assert_int_eq(glob(FIXTURES_DIR "/meters/guide-*.json", 0, NULL, &g), 0);
    for (size_t p = 0; p < g.gl_pathc && w->nprof < MAXPROF; p++) {
        ck_assert_msg(sim_profile_load(&w->prof[w->nprof], g.gl_pathv[p], err, sizeof err) == 0,
                      "%s", err);
        w->nprof++;
    }
    globfree(&g);
    ck_assert_uint_ge(w->nprof, 1);
    w->now_ms = 1000;
    hexbuf mk;
    ck_assert(parse_hex(jstr(json_object_get(root, "keys"), "example_MAK"), &mk) && mk.n == 16);

    json_t *all = json_array();
    json_array_extend(all, json_object_get(root, "rc4_vectors"));
    json_array_extend(all, json_object_get(root, "derived_vectors"));
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) walk_vector(w, all, v, mk.b);

    /* The file's own content: make sure the walk did what it claims. */
    ck_assert_uint_ge(json_array_size(all), 26);
    ck_assert_int_ge(w->replays, 9);   /* 7 verified pairs + 2 encrypted */
    ck_assert_int_ge(w->encrypted, 2);
    ck_assert_int_ge(w->digests, 20);
    ck_assert_int_ge(w->payloads, 4);
    sim_meter_free(w->m);
    for (size_t p = 0; p < w->nprof; p++)
        sim_profile_free(&w->prof[p]);
    free(w);
    json_decref(all);
    json_decref(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vectors");
    TCase *tc = tcase_create("rc4");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_every_rc4_vector);
    suite_add_tcase(s, tc);
    return check_run(s);
}
