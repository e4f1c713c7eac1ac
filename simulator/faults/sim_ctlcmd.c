/* sim_ctlcmd: walking a control channel's command table; see sim_ctlcmd.h. */
#include "sim_ctlcmd.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim_report.h"

json_t *sim_ctlcmd_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *r = sim_report_failv(fmt, ap); /* ASCII only: see sim_report.h */
    va_end(ap);
    return r;
}

json_t *sim_ctlcmd_ok(void) { return json_pack("{s:b}", "ok", 1); }

static const sim_ctlcmd *row_at(const sim_ctlcmd_table *t, size_t i)
{
    return (const sim_ctlcmd *)((const char *)t->rows + i * t->stride);
}

const void *sim_ctlcmd_find(const sim_ctlcmd_table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(row_at(t, i)->name, name))
            return row_at(t, i);
    return NULL;
}

json_t *sim_ctlcmd_unknown(const sim_ctlcmd_table *t, const char *name)
{
    char list[1024];
    size_t n = 0;
    for (size_t i = 0; i < t->n && n + 1 < sizeof list; i++) {
        int w = snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", row_at(t, i)->name);
        if (w > 0)
            n += (size_t)w;
    }
    return sim_ctlcmd_fail("unknown cmd \"%.100s\"; commands: %s", name, list);
}

sim_ctlcmd_result sim_ctlcmd_lookup(const sim_ctlcmd_table *t, json_t *cmdv, const void **row, json_t **refusal)
{
    if (!json_is_string(cmdv)) {
        *refusal = sim_ctlcmd_fail("cmd: expected a string");
        return SIM_CTLCMD_REFUSED;
    }
    if (!(*row = sim_ctlcmd_find(t, json_string_value(cmdv)))) {
        *refusal = sim_ctlcmd_unknown(t, json_string_value(cmdv));
        return SIM_CTLCMD_REFUSED;
    }
    return SIM_CTLCMD_OK;
}

static const char *type_text(sim_ctlcmd_type type)
{
    switch (type) {
    case SIM_CTLCMD_INT: return "an integer";
    case SIM_CTLCMD_NUMBER: return "a number";
    case SIM_CTLCMD_STRING: return "a string";
    case SIM_CTLCMD_BOOL: return "true or false";
    default: return "a value";
    }
}

static bool type_ok(sim_ctlcmd_type type, json_t *v)
{
    switch (type) {
    case SIM_CTLCMD_INT: return json_is_integer(v);
    case SIM_CTLCMD_NUMBER: return json_is_number(v);
    case SIM_CTLCMD_STRING: return json_is_string(v);
    case SIM_CTLCMD_BOOL: return json_is_boolean(v);
    default: return true;
    }
}

static bool in_envelope(const sim_ctlcmd_table *t, const char *key)
{
    for (const char *const *e = t->envelope; e && *e; e++)
        if (!strcmp(*e, key))
            return true;
    return false;
}

static bool in_args(const sim_ctlcmd *cmd, const char *key)
{
    for (size_t i = 0; i < SIM_CTLCMD_MAX_ARGS && cmd->args[i].key; i++)
        if (!strcmp(cmd->args[i].key, key))
            return true;
    return false;
}

/* The refusal for one arg that is missing or of the wrong type (v NULL: missing). */
static json_t *bad_arg(const sim_ctlcmd_table *t, const sim_ctlcmd *cmd, const sim_ctlcmd_arg *a, json_t *v)
{
    if (a->bad)
        return sim_ctlcmd_fail("%s", a->bad);
    const char *name = t->name_in_errors ? cmd->name : "";
    const char *sep = t->name_in_errors ? ": " : "";
    return v ? sim_ctlcmd_fail("%s%s%s: expected %s", name, sep, a->key, type_text(a->type))
             : sim_ctlcmd_fail("%s%smissing field \"%s\"", name, sep, a->key);
}

/* No unknown field first (a typo must not pass silently), then each field
 * in order: present if required, of its type. */
sim_ctlcmd_result sim_ctlcmd_check(const sim_ctlcmd_table *t, const sim_ctlcmd *cmd, json_t *req,
                                   json_t **refusal)
{
    const char *key;
    json_t *v;
    json_object_foreach(req, key, v) {
        if (!cmd->own_args && !in_envelope(t, key) && !in_args(cmd, key)) {
            *refusal = sim_ctlcmd_fail("%s: unknown field \"%s\"", cmd->name, key);
            return SIM_CTLCMD_REFUSED;
        }
    }
    for (size_t i = 0; i < SIM_CTLCMD_MAX_ARGS && cmd->args[i].key; i++) {
        const sim_ctlcmd_arg *a = &cmd->args[i];
        v = json_object_get(req, a->key);
        if ((v && !type_ok(a->type, v)) || (!v && a->required)) {
            *refusal = bad_arg(t, cmd, a, v);
            return SIM_CTLCMD_REFUSED;
        }
    }
    return SIM_CTLCMD_OK;
}

json_t *sim_ctlcmd_help(const sim_ctlcmd_table *t)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < t->n; i++)
        json_object_set_new(o, row_at(t, i)->name, json_string(row_at(t, i)->help));
    return o;
}

void sim_ctlcmd_print(const sim_ctlcmd_table *t, FILE *out)
{
    for (size_t i = 0; i < t->n; i++) {
        const sim_ctlcmd *cmd = row_at(t, i);
        char name[80];
        size_t n = (size_t)snprintf(name, sizeof name, "%s", cmd->name);
        for (size_t k = 0; k < SIM_CTLCMD_MAX_ARGS && cmd->args[k].key && n < sizeof name; k++)
            n += (size_t)snprintf(name + n, sizeof name - n, "%s%s", k ? "," : "{", cmd->args[k].key);
        if (cmd->args[0].key && n < sizeof name)
            snprintf(name + n, sizeof name - n, "}");
        fprintf(out, "  %-30s %s\n", name, cmd->help);
    }
}

char *sim_ctlcmd_exec_line(const char *line, sim_ctlcmd_exec_fn exec, void *ctx)
{
    json_error_t je;
    json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, &je);
    json_t *rep;
    if (!req) {
        rep = sim_ctlcmd_fail("bad JSON: %s (column %d)", je.text, je.column);
    } else {
        rep = exec(ctx, req);
        json_t *id = json_object_get(req, "id");
        if (id && rep)
            json_object_set(rep, "id", id); /* echo a client's request id */
        json_decref(req);
    }
    char *s = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
    json_decref(rep);
    /* every line gets its one reply, even when the reply could not be made */
    return s ? s : strdup("{\"ok\":false,\"error\":\"the reply could not be encoded (out of memory?)\"}");
}
