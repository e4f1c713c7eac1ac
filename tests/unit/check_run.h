/* Runs one Check suite the way every tests/unit program does: all its
 * tests with normal output; EXIT_FAILURE if any failed, so ctest reports
 * the program as failed. A suite file ends with
 *     int main(void) { return check_run(suite()); }
 */
#ifndef CHECK_RUN_H
#define CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

static inline int check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
