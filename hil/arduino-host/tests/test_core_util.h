/* test_core_util.h: what the kit's core tests share: pass/fail counting (each test program
 * prints "NAME: N passed, M failed" and exits non-zero on a failure, the format run.sh sums),
 * a fresh state directory and the runtime set up without main(). */
#ifndef AHK_TEST_CORE_UTIL_H
#define AHK_TEST_CORE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <string>

#include "ahk_runtime.h"

static int g_pass, g_fail;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            g_pass++;                                                                                                  \
        } else {                                                                                                       \
            g_fail++;                                                                                                  \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                            \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
        }                                                                                                              \
    } while (0)

#define CHECK_STR(got, want)                                                                                           \
    do {                                                                                                               \
        std::string got_ = (got), want_ = (want);                                                                      \
        CHECK(got_ == want_, "%s: got \"%s\", want \"%s\"", #got, got_.c_str(), want_.c_str());                          \
    } while (0)

static inline int finish_tests(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, g_pass, g_fail);
    return g_fail ? 1 : 0;
}

/* a new empty state directory under $TMPDIR (or /tmp) */
static inline std::string fresh_state_dir(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    std::string tpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/kit-test-" + tag + "-XXXXXX";
    char buf[512];
    snprintf(buf, sizeof buf, "%s", tpl.c_str());
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(2);
    }
    return buf;
}

static inline uint64_t test_mono_us()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif
