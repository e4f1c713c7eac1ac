/* guide_meter.h: load fixtures/meters/guide-example.json (MAK 16x01,
 * MBK 16x02) and fill a sim_meter_cfg the way the Check suites use it:
 * E starts at 1000, seed 7, real-time clock from 2024-01-01 00:30:00 UTC. */
#ifndef GUIDE_METER_H
#define GUIDE_METER_H

#include <check.h>
#include <string.h>

#include "sim_meter.h"
#include "sim_profile.h"

static inline void guide_meter_cfg(sim_profile *prof, sim_meter_cfg *cfg, const char *name)
{
    static const uint8_t mak[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t mbk[16] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    char err[300];
    ck_assert_msg(sim_profile_load(prof, FIXTURES_DIR "/meters/guide-example.json", err, sizeof err) == 0,
                  "%s", err);
    memset(cfg, 0, sizeof *cfg);
    cfg->profile = prof;
    memcpy(cfg->mak, mak, 16);
    memcpy(cfg->mbk, mbk, 16);
    cfg->has_seq_start = true;
    cfg->seq_start = 1000;
    cfg->seed = 7;
    cfg->speed = 1.0;
    cfg->start_utc_ms = 1704069000000LL; /* 2024-01-01 00:30:00 UTC */
    cfg->policy = prof->policy;
    cfg->name = name;
}

#endif
