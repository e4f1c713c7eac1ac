/* meter_client.h: a test client that talks to one in-process sim_meter
 * with frames built from fields (request + sequence number + digest), for
 * the Check suites test_meter and test_proc. Meter:
 * fixtures/meters/guide-example.json (MAK 16x01, MBK 16x02). Header-only:
 * each suite is its own program. */
#ifndef METER_CLIENT_H
#define METER_CLIENT_H
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "mep_digest.h"
#include "mep_frame.h"
#include "sim_comm.h"
#include "sim_meter.h"
#include "sim_profile.h"
#include "guide_meter.h"

static const uint8_t MAK[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const uint8_t MBK[16] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};

#define ET(n) MEP_ET(n)
#define BT(n) MEP_BT(n)

/* A client talking to one meter. */
typedef struct {
    sim_profile prof;
    sim_meter *m;
    uint32_t seq;
    uint64_t now;
    uint8_t out[MEP_MAX_FRAME];
    size_t n;
    char log[400];
} cli;

static void cli_open_cfg(cli *c, void (*tweak)(sim_profile *, sim_meter_cfg *))
{
    char err[300];
    memset(c, 0, sizeof *c);
    sim_meter_cfg cfg;
    guide_meter_cfg(&c->prof, &cfg, "t");
    if (tweak)
        tweak(&c->prof, &cfg);
    c->now = 10000;
    c->m = sim_meter_new(&cfg, c->now, err, sizeof err);
    ck_assert_msg(c->m != NULL, "%s", err);
    c->seq = 1000;
}

static void cli_open(cli *c) { cli_open_cfg(c, NULL); }

static void cli_close(cli *c)
{
    sim_meter_free(c->m);
    sim_profile_free(&c->prof);
}

/* Send msg with the next sequence number; returns the response code and
 * checks the reply's framing and digest. */
static uint8_t send_msg(cli *c, const uint8_t *key, const uint8_t *msg, size_t n)
{
    uint8_t f[MEP_MAX_FRAME];
    memcpy(f + 2, msg, n);
    mep_put_be32(f + 2 + n, c->seq++);
    mep_digest(key, f + 2, n + 4, f + 6 + n);
    mep_put_be16(f, (uint16_t)(n + 12));
    c->now += 150;
    c->n = sim_meter_on_frame(c->m, f, n + 14, c->now, c->out, sizeof c->out, c->log, sizeof c->log);
    ck_assert_msg(c->n >= 11, "no reply (%s)", c->log);
    ck_assert_uint_eq(mep_get_be16(c->out), c->n - 2);
    uint8_t d[8];
    mep_digest_pair(key, f + 2, n + 4, c->out + 2, c->n - 10, d);
    ck_assert_msg(!memcmp(d, c->out + c->n - 8, 8), "reply digest (%s)", c->log);
    sim_meter_on_sent(c->m, c->now + 20);
    return c->out[2];
}

static uint8_t rd(cli *c, const uint8_t *key, uint16_t t, uint32_t off, uint16_t cnt)
{
    uint8_t q[8] = {0x3F};
    mep_put_be16(q + 1, t);
    mep_put_be24(q + 3, off);
    mep_put_be16(q + 6, cnt);
    return send_msg(c, key, q, 8);
}

static uint8_t wr(cli *c, const uint8_t *key, uint16_t t, uint32_t off, const uint8_t *d, uint16_t n)
{
    uint8_t q[MEP_MAX_BODY] = {0x4F};
    mep_put_be16(q + 1, t);
    mep_put_be24(q + 3, off);
    mep_put_be16(q + 6, n);
    memcpy(q + 8, d, n);
    return send_msg(c, key, q, 8u + n);
}

static uint8_t *raw(cli *c, uint16_t t, size_t off)
{
    size_t size = 0;
    uint8_t *p = sim_tables_raw(sim_meter_tables(c->m), t, &size);
    ck_assert_msg(p && off < size, "table 0x%04X too short", t);
    return p + off;
}

static void reg(cli *c, const uint8_t *key, uint8_t idbyte, uint8_t flags)
{
    uint8_t id[31] = {0x80 | idbyte, 0x01, 0x02, 5, 0};
    id[30] = flags;
    ck_assert_uint_eq(wr(c, key, ET(50), 0, id, 31), 0);
}

/* A client registered with the MBK as device 0x11, alerts on (flags 0x01). */
static void cli_open_reg(cli *c)
{
    cli_open(c);
    reg(c, MBK, 0x11, 0x01);
}

/* The meter raises alert 0x01; it must then be pending. */
static void cli_alert(cli *c)
{
    sim_meter_raise_alert(c->m, 0x01);
    ck_assert(sim_meter_alert_pending(c->m));
}

#endif
