/* mepsim-cosim: run the emulated meter and the firmware core on one virtual
 * clock (cosim/README.md). The wall clock is read here only, to report how
 * much faster than real time the run was. With --control-stdio the run is
 * driven step by step from stdin (cosim_ctl.h) and ends on `finish` or at
 * the end of the input; the summary line follows the last reply. Exit 0,
 * 1 (run failed: an output could not be written), 2 (bad command line or
 * input file). */
#include <stdio.h>
#include <time.h>

#include "cosim.h"
#include "cosim_cli.h"
#include "cosim_ctl.h"

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    cosim_cfg cfg;
    char err[1024];
    switch (cosim_cli_parse(argc, argv, &cfg, err, sizeof err)) {
    case COSIM_CLI_HELP:
        return 0;
    case COSIM_CLI_ERROR:
        fprintf(stderr, "mepsim-cosim: %s\n", err);
        return 2;
    default:
        break;
    }
    cfg.log = stderr;
    if (cfg.control_stdio)
        cfg.start_at_once = true; /* the rig holds the timeline itself (`scenario stop`/`start`) */
    double w0 = wall_s();
    cosim *s = cosim_new(&cfg, err, sizeof err);
    if (!s) {
        fprintf(stderr, "mepsim-cosim: %s\n", err);
        return 2;
    }
    cosim_ctl *ctl = NULL;
    if (cfg.control_stdio) {
        if (!(ctl = cosim_ctl_new(s))) {
            fprintf(stderr, "mepsim-cosim: out of memory\n");
            cosim_free(s);
            return 1;
        }
        cosim_ctl_serve(ctl, stdin, stdout); /* returns on `finish` or at the end of stdin */
    }
    cosim_result rc = cosim_finish(s, err, sizeof err);
    cosim_ctl_free(ctl);            /* after the run: the core's line hooks reach it */
    double w = wall_s() - w0;
    cosim_summary sum;
    cosim_get_summary(s, &sum);
    cosim_free(s);
    if (rc != COSIM_OK) {
        fprintf(stderr, "mepsim-cosim: %s\n", err);
        return 1;
    }
    double x = w > 0 ? sum.simulated_s / w : 0.0;
    printf("simulated %.0f s in %.2f s wall (%.0f x), wire sha256 %s, published %llu values, suspect %llu\n",
           sum.simulated_s, w, x, sum.wire_sha256, (unsigned long long)sum.published,
           (unsigned long long)sum.suspect);
    return 0;
}
