/* libFuzzer target: the strict profile loader (store/sim_profile) on
 * arbitrary bytes must either fail with a message or give a profile from
 * which a table store and a meter can be built and every table read and
 * saved as a state (store/sim_state) that parses
 * back; never crash, leak or read out of bounds. The bytes are also tried
 * as a state file; the meter's turnaround stays inside its policy.
 * Corpus: tests/fuzz/corpus/profile (copies of the profiles in fixtures/meters,
 * and one with every policy set). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim_meter.h"
#include "sim_profile.h"
#include "sim_state.h"
#include "sim_tables.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(sim_profile *p)
{
    sim_meter_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.profile = p;
    memcpy(cfg.mak, p->mak, 16);
    memcpy(cfg.mbk, p->mbk, 16);
    cfg.seed = 1;
    cfg.speed = 1.0;
    cfg.start_utc_ms = 1704067200000LL;
    cfg.policy = p->policy;
    cfg.name = "fuzz";
    char err[512];
    sim_meter *m = sim_meter_new(&cfg, 1000, err, sizeof err);
    if (!m) {
        if (!memchr(err, '\0', sizeof err) || !err[0])
            __builtin_trap(); /* a refused profile says why */
        return;
    }
    /* the turnaround stays within the policy's delay + jitter */
    const sim_policy *pol = sim_meter_policy(m);
    for (int i = 0; i < 4; i++) {
        uint64_t d = sim_meter_reply_delay_us(m);
        if (d < (uint64_t)pol->reply_delay_ms * 1000u ||
            d > ((uint64_t)pol->reply_delay_ms + pol->reply_jitter_ms) * 1000u)
            __builtin_trap();
    }
    sim_tables *t = sim_meter_tables(m);
    uint16_t ids[128];
    size_t n = sim_tables_list(t, ids, 128);
    static uint8_t buf[70000];
    for (size_t i = 0; i < n; i++) {
        int size = sim_tables_size(t, ids[i]);
        if (size < 0 || (size_t)size > sizeof buf)
            __builtin_trap();
        if (size == 0)
            continue;
        if (sim_tables_read(t, ids[i], 0, (uint32_t)size, buf) != size)
            __builtin_trap();
    }
    sim_meter_advance(m, 3601000);
    sim_state st;
    if (sim_meter_state_get(m, 3601000, 1704067200000LL, &st) == 0) {
        char *text = sim_state_dump(&st);
        sim_state back;
        if (!text || sim_state_parse(text, strlen(text), "dump", &back, err, sizeof err) != SIM_STATE_OK)
            __builtin_trap(); /* what we write we must read */
        if (sim_meter_state_apply(m, &back, 5000, 1704067300000LL, err, sizeof err) != SIM_METER_STATE_OK)
            __builtin_trap();
        sim_state_clear(&back);
        free(text);
        sim_state_clear(&st);
    }
    sim_meter_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    sim_profile p;
    if (sim_profile_parse(&p, (const char *)data, size, "fuzz.json", err, sizeof err) == 0) {
        exercise(&p);
        sim_profile_free(&p);
    } else if (!memchr(err, '\0', sizeof err) || !err[0]) {
        __builtin_trap();
    }
    sim_state st;
    if (sim_state_parse((const char *)data, size, "fuzz.state", &st, err, sizeof err) == SIM_STATE_OK)
        sim_state_clear(&st);
    else if (!memchr(err, '\0', sizeof err) || !err[0])
        __builtin_trap();
    return 0;
}
