/* libFuzzer target: sim_scenario_parse on arbitrary bytes must either fail
 * with a message or yield a scenario whose every step can be started on
 * the fault modules and formatted; never crash, leak or read out of bounds.
 * Input that is not a scenario is also tried as a control-socket command.
 * Corpus: tests/fuzz/corpus/scenario (copies of fixtures/scenarios). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sim_fault_set.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const sim_scenario_opts opts = {"/nonexistent/meters", false};
    char err[512];
    sim_scenario *s = sim_scenario_parse((const char *)data, size, "fuzz.json", &opts, err, sizeof err);
    if (!s) {
        if (!memchr(err, '\0', sizeof err) || err[0] == '\0')
            __builtin_trap(); /* every failure must carry a message */
        /* the same bytes as a control-socket command line */
        char line[600];
        size_t n = size < sizeof line - 1 ? size : sizeof line - 1;
        memcpy(line, data, n);
        line[n] = '\0';
        sim_fault_set fs;
        sim_fault_set_init(&fs, 1);
        char out[2048];
        sim_glitch_effects fx;
        sim_fault_set_command(&fs, line, 1000, 1000, &fx, out, sizeof out);
        sim_fault_set_command(&fs, "list", 2000, 2000, NULL, out, sizeof out);
        sim_fault_set_command(&fs, "status", 2000, 2000, NULL, out, sizeof out);
        return 0;
    }
    sim_fault f;
    sim_pfault pf;
    sim_glitch g;
    sim_fault_init(&f, s->seed);
    sim_pfault_init(&pf, s->seed);
    sim_glitch_init(&g);
    const sim_step *due[16];
    size_t n;
    char line[512];
    uint8_t buf[SIM_FAULT_FRAME_CAP];
    while ((n = sim_scenario_due(s, INT64_MAX, due, 16)) > 0) {
        for (size_t i = 0; i < n; i++) {
            const sim_step *st = due[i];
            uint64_t now_us = (uint64_t)st->at_ms * 1000u;
            sim_scenario_step_format(st, line, sizeof line);
            switch (st->kind) {
            case SIM_STEP_FAULT:
                sim_fault_start(&f, &st->u.fault, now_us, err, sizeof err);
                break;
            case SIM_STEP_PFAULT:
                sim_pfault_start(&pf, &st->u.pfault, now_us, err, sizeof err);
                break;
            case SIM_STEP_GLITCH: {
                sim_glitch_effects fx;
                sim_glitch_start(&g, &st->u.glitch, st->at_ms, &fx, err, sizeof err);
                break;
            }
            case SIM_STEP_STOP:
                sim_fault_stop(&f, st->u.stop);
                sim_pfault_stop(&pf, st->u.stop);
                sim_glitch_stop(&g, st->u.stop);
                break;
            default:
                break;
            }
            /* push one frame through every hook */
            static const uint8_t frame[] = {0x00, 0x05, 0x00, 0x00, 0x02, 0x11, 0x22};
            memcpy(buf, frame, sizeof frame);
            size_t m = sim_fault_tx(&f, buf, sizeof frame, sizeof buf, now_us);
            (void)m;
            memcpy(buf, frame, sizeof frame);
            sim_fault_rx(&f, buf, sizeof frame, sizeof buf, now_us);
            sim_fault_due(&f, SIM_DIR_BOTH, now_us, buf, sizeof buf);
            sim_pfault_due(&pf, now_us, buf, sizeof buf);
        }
    }
    sim_scenario_free(s);
    return 0;
}
