/* libFuzzer target: sim_control_exec on arbitrary request lines must answer
 * every line with exactly one JSON object carrying "ok" (and "error" when
 * false); never crash, leak or read out of bounds.
 *
 * The control object serves one station (a default meter, built but not
 * opened: no device, no event loop), so the whole JSON command layer runs:
 * JSON parsing, dispatch by name, the argument schema (unknown fields,
 * required fields, types), the meter lookup and every handler that acts on
 * a meter (get, set_load, set_register, set_clock, set_seq, read_table,
 * counters, inject/glitch/clear/list/fault_status through the fault set,
 * alerts, line events ...). Lines naming "scenario" are skipped: that
 * handler loads files and runs a timer on the event loop, and the scenario
 * parser has its own target (fuzz_scenario).
 * Corpus: tests/fuzz/corpus/control (one request line per file). */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim_config.h"
#include "sim_control.h"
#include "sim_line.h"
#include "sim_station.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One default meter (nes-3ph built in, fixed seed), as mepsim builds it.
 * The station keeps pointing at its config section: both live as long as
 * the process. */
static sim_control *control_with_a_station(void)
{
    static sim_station *stations[1];
    static sim_config *cfg;
    cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        abort();
    char *argv[] = {"mepsim", "--pty", "fuzz.pty", "--seed", "1", "--seq-start", "0x10000000", NULL};
    char err[512];
    if (sim_config_parse_args(cfg, 7, argv, err, sizeof err) != 0)
        __builtin_trap();
    stations[0] = sim_station_new(&cfg->meters[0], 0, NULL, sim_now_us() / 1000u, err, sizeof err);
    if (!stations[0])
        __builtin_trap();
    sim_control *ctl = sim_control_new(NULL, NULL, stations, 1, err, sizeof err);
    if (!ctl)
        __builtin_trap();
    return ctl;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sim_control *ctl;
    if (!ctl)
        ctl = control_with_a_station();
    char line[4096];
    if (size >= sizeof line || memchr(data, '\0', size))
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    if (strstr(line, "scenario"))
        return 0;
    char *rep = sim_control_exec(ctl, line);
    if (!rep)
        __builtin_trap();
    json_error_t je;
    json_t *r = json_loads(rep, 0, &je);
    json_t *ok = r ? json_object_get(r, "ok") : NULL;
    if (!ok || !json_is_boolean(ok) || (!json_is_true(ok) && !json_is_string(json_object_get(r, "error"))))
        __builtin_trap(); /* every reply is {"ok":..} and a refusal says why */
    json_decref(r);
    free(rep);
    return 0;
}
