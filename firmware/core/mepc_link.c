/* mepc_link: request framing and reply verification (see mepc_link.h). */
#include "mepc_link.h"

#include "mepc_fmt.h"

void mepc_link_init(mepc_link *l)
{
    mepc_mem_set(l, 0, sizeof *l);
    l->boundary = true;
}

void mepc_link_flush(mepc_link *l)
{
    l->have = 0;
    l->plain_len = 0;
    l->boundary = true;
}

bool mepc_link_build(mepc_link_req *r, const uint8_t key[MEP_KEY_LEN], bool encrypt,
                     const mep_request *req, uint32_t seq)
{
    uint8_t digest[MEP_DIGEST_LEN];
    size_t n = mep_request_encode(req, r->plain, sizeof r->plain);
    if (n == 0 || n + MEP_SEQ_LEN + MEP_DIGEST_LEN > MEPC_REQ_MAX_BODY)
        return false;
    /* docs/mep.md 3.2: request | seq (4, MSB first) | digest (8) */
    mep_put_be32(r->plain + n, seq);
    n += MEP_SEQ_LEN;
    r->plain_len = (uint16_t)n;
    mep_digest(key, r->plain, n, digest);  /* docs/mep.md 5.2: over code..seq, plaintext */

    mep_put_be16(r->frame, (uint16_t)(n + MEP_DIGEST_LEN));
    mepc_mem_copy(r->frame + 2, r->plain, n);
    if (encrypt) {
        /* docs/mep.md 5.4: encrypt code..seq; the same RC4 state then decrypts the reply */
        mep_rc4_packet_init(&r->rc4, key, digest);
        mep_rc4_crypt(&r->rc4, r->frame + 2, n);
    }
    mepc_mem_copy(r->frame + 2 + n, digest, MEP_DIGEST_LEN);
    r->frame_len = (uint16_t)(2 + n + MEP_DIGEST_LEN);
    mepc_mem_copy(r->key, key, MEP_KEY_LEN);
    r->encrypted = encrypt;
    r->code = req->code;
    r->table = req->table;
    r->offset = req->offset;
    r->read_count = (req->code == MEP_REQ_FULL_READ || req->code == MEP_REQ_PARTIAL_READ)
                        ? req->count : 0;
    r->seq = seq;
    r->active = true;
    return true;
}

void mepc_link_push(mepc_link *l, const uint8_t *p, size_t n, uint32_t now_ms)
{
    if (!n)
        return;
    if ((uint32_t)(now_ms - l->last_rx_ms) >= MEPC_RX_IDLE_MS) {
        /* a gap ends any frame (docs/mep.md 4): what is buffered cannot complete */
        l->stray_bytes += l->have;
        l->have = 0;
        l->boundary = true;
    }
    l->last_rx_ms = now_ms;
    for (size_t i = 0; i < n; i++) {
        if (l->have < MEPC_RX_BUF)
            l->buf[l->have++] = p[i];
        else
            l->stray_bytes++;  /* caller drains with mepc_link_next between pushes */
    }
}

bool mepc_link_idle(const mepc_link *l, uint32_t now_ms)
{
    return (uint32_t)(now_ms - l->last_rx_ms) >= MEPC_RX_IDLE_MS;
}

static void drop(mepc_link *l, uint16_t n)
{
    if (n > l->have)
        n = l->have;
    for (uint16_t i = n; i < l->have; i++)
        l->buf[i - n] = l->buf[i];
    l->have = (uint16_t)(l->have - n);
}

/* Body lengths a reply to req can have (docs/mep.md 3.4, 3.6): 1 (0x0B, short
 * form), 9 (code + digest: write OK, error codes, 0x0B with digest), 13 (0x0C
 * + seq) or 11 + c for a read of c <= asked bytes. */
static bool plausible_len(uint16_t len, const mepc_link_req *req)
{
    if (len == 0 || len > MEP_MAX_BODY)
        return false;
    if (!req)
        return true;
    if (len == 1 || len == 9 || len == 13)
        return true;
    return req->read_count && len >= 12 && len <= 11u + req->read_count;
}

static mepc_rx_event verify(mepc_link *l, const mepc_link_req *req, uint16_t start, uint16_t len)
{
    const uint8_t *body = l->buf + start + 2;
    uint8_t calc[MEP_DIGEST_LEN];
    if (len >= MEP_DIGEST_LEN + 1) {
        uint16_t n = (uint16_t)(len - MEP_DIGEST_LEN);
        mepc_mem_copy(l->plain, body, n);
        if (req->encrypted) {
            mep_rc4 c = req->rc4;  /* keep the request's state: the next candidate needs it too */
            mep_rc4_crypt(&c, l->plain, n);
        }
        /* docs/mep.md 5.3: digest(request code..seq || reply code..data) */
        mep_digest_pair(req->key, req->plain, req->plain_len, l->plain, n, calc);
        if (mep_digest_equal(calc, body + n)) {
            l->plain_len = n;
            return MEPC_RX_REPLY;
        }
    }
    /* 0x0B carries no valid digest and is never encrypted (docs/mep.md 3.4, 5.4) */
    if ((len == 1 || len == 9) && body[0] == MEP_RSP_AUTH) {
        l->plain[0] = MEP_RSP_AUTH;
        l->plain_len = 1;
        return MEPC_RX_AUTH_FAIL;
    }
    return MEPC_RX_REJECT;
}

static void drop_stray(mepc_link *l)
{
    drop(l, 1);
    l->stray_bytes++;
    l->boundary = false;
}

mepc_rx_event mepc_link_next(mepc_link *l, const mepc_link_req *req, bool idle)
{
    if (req && !req->active)
        req = NULL;
    for (;;) {
        if (l->have < 2) {
            if (idle) {
                l->stray_bytes += l->have;
                l->have = 0;
                l->boundary = true;
            }
            return MEPC_RX_NONE;
        }
        uint16_t len = mep_get_be16(l->buf);
        if (len == 0) {
            if (!l->boundary) {  /* zeros while resynchronising: not an alert */
                drop_stray(l);
                continue;
            }
            /* docs/mep.md 3.1: `00 00` is the alert sequence ... */
            if (req) {
                /* ... unless it is a stray 00 followed by the reply's `00 LL`: try
                 * the frame at offset 1 before taking the pair as an alert */
                if (l->have < 3) {
                    if (!idle)
                        return MEPC_RX_NONE;
                } else {
                    uint16_t alt = mep_get_be16(l->buf + 1);
                    if (plausible_len(alt, req)) {
                        if (l->have < (uint32_t)alt + 3u) {
                            if (!idle)
                                return MEPC_RX_NONE;
                        } else {
                            mepc_rx_event ev = verify(l, req, 1, alt);
                            if (ev == MEPC_RX_REPLY || ev == MEPC_RX_AUTH_FAIL) {
                                l->stray_bytes++;
                                drop(l, (uint16_t)(alt + 3));
                                l->boundary = true;
                                return ev;
                            }
                        }
                    }
                }
            }
            drop(l, 2);
            l->boundary = true;
            return MEPC_RX_ALERT;
        }
        if (req && (uint32_t)len + 2u == req->frame_len) {
            /* could be our own request echoed (S33) */
            if (l->have < req->frame_len) {
                if (!idle)
                    return MEPC_RX_NONE;
            } else if (mepc_mem_equal(l->buf, req->frame, req->frame_len)) {
                drop(l, req->frame_len);
                l->boundary = true;
                return MEPC_RX_LOOPBACK;
            }
        }
        bool fits = plausible_len(len, req);
        if (!fits && !(l->boundary && len <= MEP_MAX_BODY)) {
            drop_stray(l);
            continue;
        }
        if (l->have < (uint32_t)len + 2u) {
            if (!idle)
                return MEPC_RX_NONE;
            drop_stray(l);  /* cannot complete any more: it was not a frame start */
            continue;
        }
        if (!req) {
            drop(l, (uint16_t)(len + 2));
            l->boundary = true;
            l->unexpected++;
            return MEPC_RX_UNEXPECTED;
        }
        mepc_rx_event ev = fits ? verify(l, req, 0, len) : MEPC_RX_REJECT;
        drop(l, (uint16_t)(len + 2));
        l->boundary = true;
        if (ev == MEPC_RX_REJECT)
            l->rejects++;
        return ev;
    }
}
