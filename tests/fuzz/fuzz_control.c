/* libFuzzer target: sim_control_exec on arbitrary request lines must answer
 * every line with exactly one JSON object carrying "ok" (and "error" when
 * false); never crash, leak or read out of bounds. The control object
 * serves no station, so this covers what the command table does before a
 * meter is touched: JSON parsing, dispatch by name, the argument schema
 * (unknown fields, required fields, types) and the unknown-command error.
 * Corpus: tests/fuzz/corpus/control (one request line per file). */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim_control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sim_control *ctl;
    if (!ctl) {
        char err[256];
        ctl = sim_control_new(NULL, NULL, NULL, 0, err, sizeof err);
        if (!ctl)
            __builtin_trap();
    }
    char line[4096];
    if (size >= sizeof line || memchr(data, '\0', size))
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';
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
