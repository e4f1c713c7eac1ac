/* sim_ctlcmd: the command table of a JSON-lines control channel, walked in
 * one place for both front ends that have one: mepsim's control socket
 * (app/sim_control.c) and mepsim-cosim's control channel (cosim/cosim_ctl.c).
 *
 * Each program keeps its own table, one row per command: a row of the
 * program's own type that begins with a sim_ctlcmd (name, argument schema,
 * help) and goes on with the program's handler. This module knows only that first part: it finds a row by name,
 * checks a request against the row's schema before anything runs (no
 * unknown field, required fields present, every field of its type), makes
 * the refusal for an unknown command (which lists the commands), the help
 * (a JSON object, or lines for --help), and turns one request line into one
 * reply line. The reply shapes are the control protocol's (README.md
 * "Control socket", hil/README.md "The control channel").
 *
 * Below io/: jansson only, no libev, no state outside the caller's table.
 */
#ifndef SIM_CTLCMD_H
#define SIM_CTLCMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* What a field's value must be. */
typedef enum {
    SIM_CTLCMD_INT,    /* a JSON integer ("an integer") */
    SIM_CTLCMD_NUMBER, /* an integer or a real ("a number") */
    SIM_CTLCMD_STRING, /* "a string" */
    SIM_CTLCMD_BOOL,   /* "true or false" */
    SIM_CTLCMD_ANY,    /* any value: the handler checks it */
} sim_ctlcmd_type;

/* One field a command takes besides the envelope (cmd, id, ...). */
typedef struct {
    const char *key;
    sim_ctlcmd_type type;
    bool required;
    const char *bad; /* the whole refusal when missing or of the wrong type; NULL: the generic text */
} sim_ctlcmd_arg;

#define SIM_CTLCMD_MAX_ARGS 4

/* The part of a row this module reads. */
typedef struct {
    const char *name;
    sim_ctlcmd_arg args[SIM_CTLCMD_MAX_ARGS]; /* up to the first with key NULL */
    bool own_args;                            /* fields are not limited to args: the handler checks them */
    const char *help;                         /* one line */
} sim_ctlcmd;

/* A program's table. Texts of the generic refusals, by name_in_errors:
 *   false: missing field "s"            s: expected a number
 *   true:  advance: missing field "s"   advance: s: expected a number
 * An unknown field is always `<name>: unknown field "<key>"`. */
typedef struct {
    const void *rows;            /* the program's rows, each beginning with its sim_ctlcmd */
    size_t n;                    /* how many */
    size_t stride;               /* sizeof one row */
    const char *const *envelope; /* fields every request may carry (NULL-terminated): "cmd", "id", ... */
    bool name_in_errors;
} sim_ctlcmd_table;

/* The table of an array of rows whose first member is a sim_ctlcmd. */
#define SIM_CTLCMD_TABLE(rows, envelope, name_in_errors) \
    {(rows), sizeof(rows) / sizeof((rows)[0]), sizeof((rows)[0]), (envelope), (name_in_errors)}

typedef enum {
    SIM_CTLCMD_OK,      /* go on: the row is found / the request fits its schema */
    SIM_CTLCMD_REFUSED, /* *refusal holds {"ok":false,"error":...} (NULL only if out of memory) */
} sim_ctlcmd_result;

/* {"ok": false, "error": <printf text>}, the refusal of every command: the
 * text cut to ASCII by sim_report_failv (it may quote what the client
 * sent). NULL only if out of memory. */
json_t *sim_ctlcmd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* {"ok": true}, the start of every answer. NULL only if out of memory. */
json_t *sim_ctlcmd_ok(void);

/* The program's row named name, NULL if there is none. */
const void *sim_ctlcmd_find(const sim_ctlcmd_table *t, const char *name);

/* The row a request's "cmd" value names (cmdv not NULL). Refused:
 * "cmd: expected a string", or sim_ctlcmd_unknown's text. */
sim_ctlcmd_result sim_ctlcmd_lookup(const sim_ctlcmd_table *t, json_t *cmdv, const void **row, json_t **refusal);

/* `unknown cmd "<name>"; commands: a, b, c` (the name cut to 100 characters,
 * so a long one cannot push the list out of the reply). */
json_t *sim_ctlcmd_unknown(const sim_ctlcmd_table *t, const char *name);

/* The request (an object) against cmd's schema: no field besides the
 * envelope and cmd's args (unless own_args), then each arg in order:
 * present if required, of its type. The first problem is refused. */
sim_ctlcmd_result sim_ctlcmd_check(const sim_ctlcmd_table *t, const sim_ctlcmd *cmd, json_t *req,
                                   json_t **refusal);

/* {"<name>": "<help>", ...} in table order; NULL only if out of memory. */
json_t *sim_ctlcmd_help(const sim_ctlcmd_table *t);

/* One line per command, "  name{arg,arg}" padded to 30, then its help. */
void sim_ctlcmd_print(const sim_ctlcmd_table *t, FILE *out);

/* One request line (without its newline) to one reply line: bad JSON is
 * refused with the parser's message and column; otherwise exec(ctx, req)
 * answers (req may be any JSON value) and a request object's "id" is echoed
 * in the reply. Returns a malloc'd line without newline (the caller frees
 * it); a reply that cannot be made becomes a fixed refusal. NULL only if
 * even that copy fails. */
typedef json_t *(*sim_ctlcmd_exec_fn)(void *ctx, json_t *req);
char *sim_ctlcmd_exec_line(const char *line, sim_ctlcmd_exec_fn exec, void *ctx);

#endif
