/* cosim_cli: the command line of mepsim-cosim, one table of options from
 * which parsing, --help and the error messages follow. */
#ifndef COSIM_CLI_H
#define COSIM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cosim.h"

typedef enum {
    COSIM_CLI_RUN = 0,             /* cfg is complete */
    COSIM_CLI_HELP,                /* --help or --version was printed: exit 0 */
    COSIM_CLI_ERROR,               /* message in err: exit 2 */
} cosim_cli_result;

/* Parse argv into cfg (string fields point into argv). */
cosim_cli_result cosim_cli_parse(int argc, char **argv, cosim_cfg *cfg, char *err, size_t errlen);
/* The usage text, from the option table. */
void cosim_cli_usage(FILE *f);
/* "90s", "15m", "24h", "7d", "1.5h" or plain seconds -> microseconds; false if
 * malformed, not positive or above 366 days. */
bool cosim_cli_duration(const char *text, uint64_t *us);

#endif
