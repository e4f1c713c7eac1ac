/* sim_security: RC4-mode authentication, sequence window and answer framing
 * of the meter (see sim_security.h; docs/mep.md 5.2-5.6, 3.4). */
#include "sim_security.h"

#include <string.h>

void sim_sec_init(sim_security *s, const sim_sec_cfg *cfg, uint32_t next_seq)
{
    s->cfg = *cfg;
    if (s->cfg.window == 0)
        s->cfg.window = SIM_SEC_DEFAULT_WINDOW;
    s->next_seq = next_seq;
    s->has_last = false;
    mep_rc4_encrypt_key(s->cfg.mak, s->mak_ek);
    mep_rc4_encrypt_key(s->cfg.mbk, s->mbk_ek);
}

bool sim_sec_window_accepts(uint32_t next_seq, uint32_t rx, uint32_t window)
{
    /* docs/mep.md 5.5: "up to 8 increments from the previous one" = E..E+7 with
     * E = last accepted + 1; unsigned subtraction gives the 2^32 wrap. */
    return (uint32_t)(rx - next_seq) < window;
}

/* Try one key on the bytes as received, then on their decryption. */
static bool try_plain(const uint8_t key[MEP_KEY_LEN], const uint8_t *wire, size_t n,
                      const uint8_t rx_digest[MEP_DIGEST_LEN])
{
    uint8_t d[MEP_DIGEST_LEN];
    mep_digest(key, wire, n, d);
    return mep_digest_equal(d, rx_digest);
}

static bool try_encrypted(const uint8_t key[MEP_KEY_LEN], const uint8_t ek[16],
                          const uint8_t *wire, size_t n,
                          const uint8_t rx_digest[MEP_DIGEST_LEN], uint8_t *plain, mep_rc4 *c)
{
    /* docs/mep.md 5.4: the packet key needs only the key and the received
     * digest (the digest is sent in clear and covers the plaintext). */
    uint8_t d[MEP_DIGEST_LEN];
    mep_rc4_packet_init_ek(c, ek, rx_digest);
    memcpy(plain, wire, n);
    mep_rc4_crypt(c, plain, n);
    mep_digest(key, plain, n, d);
    return mep_digest_equal(d, rx_digest);
}

sim_sec_verdict sim_sec_open(sim_security *s, const uint8_t *frame, size_t len, sim_sec_exchange *x)
{
    x->verdict = SIM_SEC_MALFORMED;
    x->level = SIM_LEVEL_NONE;
    x->encrypted = false;
    x->replay = false;
    x->countless_read = false;
    x->rx_seq = 0;
    x->expected = s->next_seq;
    x->plain_len = 0;
    memset(x->key, 0, sizeof x->key);
    memset(x->rx_digest, 0, sizeof x->rx_digest);

    /* docs/mep.md 3.1 / 5.6: body length 15..476 and consistent with the frame. */
    if (len < 2)
        return x->verdict;
    size_t body = mep_get_be16(frame);
    if (body != len - 2 || body < SIM_SEC_MIN_BODY || body > MEP_MAX_BODY)
        return x->verdict;

    const uint8_t *wire = frame + 2;
    size_t n = body - MEP_DIGEST_LEN; /* code..seq */
    memcpy(x->rx_digest, wire + n, MEP_DIGEST_LEN);

    /* docs/mep.md 5.6: MAK first, then MBK, on the bytes as received; then
     * decrypted with each key and verified again (docs/mep.md 5.4). That
     * order costs a module that uses the MBK, or encrypts, one to three
     * failed digests (and key schedules) per request, every request. So the
     * combination that authenticated the last request is tried first: with
     * two different keys at most one combination verifies (a second one
     * would be a 64-bit digest collision), so the verdict and the level are
     * the order's; with equal keys (keys can change at run time) the order
     * alone decides. */
    const uint8_t *keys[2] = {s->cfg.mak, s->cfg.mbk};
    const uint8_t *eks[2] = {s->mak_ek, s->mbk_ek};
    const sim_level levels[2] = {SIM_LEVEL_MAK, SIM_LEVEL_MBK};
    int found = -1;
    int tried = -1;                   /* 0..3: k + 2 * encrypted, tried first */
    if (s->has_last && memcmp(s->cfg.mak, s->cfg.mbk, MEP_KEY_LEN) != 0) {
        int k = s->last_key;
        tried = k + (s->last_encrypted ? 2 : 0);
        if (!s->last_encrypted && try_plain(keys[k], wire, n, x->rx_digest)) {
            memcpy(x->plain, wire, n);
            found = k;
        } else if (s->last_encrypted &&
                   try_encrypted(keys[k], eks[k], wire, n, x->rx_digest, x->plain, &x->cipher)) {
            x->encrypted = true;
            found = k;
        }
    }
    for (int k = 0; k < 2 && found < 0; k++) {
        if (tried != k && try_plain(keys[k], wire, n, x->rx_digest)) {
            memcpy(x->plain, wire, n);
            found = k;
        }
    }
    for (int k = 0; k < 2 && found < 0; k++) {
        if (tried != k + 2 && try_encrypted(keys[k], eks[k], wire, n, x->rx_digest, x->plain, &x->cipher)) {
            x->encrypted = true;
            found = k;
        }
    }
    if (found < 0) {
        x->verdict = SIM_SEC_AUTH_FAIL;
        x->plain_len = 0;
        return x->verdict;
    }
    x->level = levels[found];
    memcpy(x->key, keys[found], MEP_KEY_LEN);
    s->has_last = true;
    s->last_key = (uint8_t)found;
    s->last_encrypted = x->encrypted;
    x->plain_len = n;
    x->rx_seq = mep_get_be32(x->plain + n - MEP_SEQ_LEN);

    /* docs/mep.md 3.3 [E] strict_full_read_count: a meter that expects the
     * 2-byte count looks for the sequence number in the wrong place, so a
     * count-less 0x30 never passes its sequence check. */
    if (s->cfg.strict_full_read_count && n == 3 + MEP_SEQ_LEN && x->plain[0] == MEP_REQ_FULL_READ) {
        x->countless_read = true;
        x->verdict = SIM_SEC_SEQ_REJECT;
        return x->verdict;
    }
    /* docs/mep.md 5.5: sequence check after authentication. */
    if (!sim_sec_window_accepts(s->next_seq, x->rx_seq, s->cfg.window)) {
        x->replay = x->rx_seq == (uint32_t)(s->next_seq - 1u);
        x->verdict = SIM_SEC_SEQ_REJECT;
        return x->verdict;
    }
    s->next_seq = x->rx_seq + 1u;
    x->verdict = SIM_SEC_OK;
    return x->verdict;
}

static sim_sec_seal_result seal(sim_sec_exchange *x, const uint8_t *resp, size_t resp_len, size_t max_body,
                                uint8_t *out, size_t cap, size_t *out_len)
{
    size_t body = resp_len + MEP_DIGEST_LEN;
    *out_len = 0;
    if (resp_len == 0)
        return SIM_SEC_SEAL_EMPTY;
    if (body > max_body)
        return SIM_SEC_SEAL_TOO_LONG;
    if (cap < body + 2)
        return SIM_SEC_SEAL_NO_ROOM;
    /* docs/mep.md 5.3: digest over the plain request (code..seq) then the plain
     * response, with the key that authenticated the request. */
    uint8_t d[MEP_DIGEST_LEN];
    mep_digest_pair(x->key, x->plain, x->plain_len, resp, resp_len, d);
    mep_put_be16(out, (uint16_t)body);
    memcpy(out + 2, resp, resp_len);
    if (x->encrypted) /* docs/mep.md 5.4: continue the request's RC4 state */
        mep_rc4_crypt(&x->cipher, out + 2, resp_len);
    memcpy(out + 2 + resp_len, d, MEP_DIGEST_LEN);
    *out_len = body + 2;
    return SIM_SEC_SEALED;
}

sim_sec_seal_result sim_sec_seal(sim_sec_exchange *x, const uint8_t *resp, size_t resp_len, uint8_t *out,
                                 size_t cap, size_t *out_len)
{
    return seal(x, resp, resp_len, MEP_MAX_BODY, out, cap, out_len);
}

sim_sec_seal_result sim_sec_seal_oversize(sim_sec_exchange *x, const uint8_t *resp, size_t resp_len, uint8_t *out,
                                          size_t cap, size_t *out_len)
{
    return seal(x, resp, resp_len, 0xFFFFu, out, cap, out_len);
}

const char *sim_sec_seal_name(sim_sec_seal_result r)
{
    switch (r) {
    case SIM_SEC_SEALED: return "sealed";
    case SIM_SEC_SEAL_EMPTY: return "empty response";
    case SIM_SEC_SEAL_TOO_LONG: return "body too long";
    case SIM_SEC_SEAL_NO_ROOM: return "no room";
    }
    return "?";
}

size_t sim_sec_seq_reply(const sim_security *s, sim_sec_exchange *x, uint8_t *out, size_t cap)
{
    uint8_t r[1 + MEP_SEQ_LEN];
    uint32_t v = s->next_seq;
    if (s->cfg.seq_reply == SIM_SEQ_REPLY_LAST) /* docs/module-behaviour.md S04 */
        v -= 1u;
    r[0] = MEP_RSP_SEQ;
    mep_put_be32(r + 1, v);
    size_t n;
    sim_sec_seal(x, r, sizeof r, out, cap, &n);
    return n;
}

size_t sim_sec_auth_reply(sim_auth_reply policy, uint8_t *out, size_t cap)
{
    /* docs/mep.md 3.4: no key verified, so no digest can be made; framing [E]. */
    switch (policy) {
    case SIM_AUTH_REPLY_SHORT:
        if (cap < 3)
            return 0;
        out[0] = 0x00;
        out[1] = 0x01;
        out[2] = MEP_RSP_AUTH;
        return 3;
    case SIM_AUTH_REPLY_ZERO_DIGEST:
        if (cap < 11)
            return 0;
        out[0] = 0x00;
        out[1] = 0x09;
        out[2] = MEP_RSP_AUTH;
        memset(out + 3, 0, MEP_DIGEST_LEN);
        return 11;
    case SIM_AUTH_REPLY_SILENT:
    default:
        return 0;
    }
}

const char *sim_sec_verdict_name(sim_sec_verdict v)
{
    switch (v) {
    case SIM_SEC_OK: return "ok";
    case SIM_SEC_MALFORMED: return "malformed";
    case SIM_SEC_AUTH_FAIL: return "auth-fail";
    case SIM_SEC_SEQ_REJECT: return "seq-reject";
    default: return "?";
    }
}
