/* launcher: the program `build -o OUT` writes as OUT. It runs the sketch's binary (OUT.d/firmware)
 * with the same arguments: directly where the kernel can execute it, else under qemu-i386
 * (a 32-bit build on a kernel without IA-32 emulation). When the sketch calls ESP.restart()
 * the binary exits with status 85 and the launcher starts it again with the same state
 * directory, as a board reboots: it counts the restarts since this launcher started (power-up),
 * passes the count in AHK_REBOOTS (the sketch's runtime writes it to <state-dir>/reboots once
 * its options are valid, so bad options change nothing) and writes a line in the board log. A crash (SIGSEGV,
 * SIGBUS, SIGILL, SIGFPE, SIGABRT) is a panic, after which a board reboots too: same count. Signals that
 * stop the launcher are passed on to the sketch; the sketch also dies with the launcher.
 * The native MQTT bridge OUT.d/mqtt-bridge is passed as --bridge when present. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_RESTART 85

static volatile pid_t child_pid;
static volatile sig_atomic_t stopping;

static void forward(int sig)
{
    stopping = 1;
    if (child_pid > 0)
        kill(child_pid, sig);
}

static void log_line(const char *msg, unsigned n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld BOOT %s%u\n", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, msg, n);
    fflush(stderr);
}

int main(int argc, char **argv)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 16);
    if (n <= 0) {
        perror("launcher: /proc/self/exe");
        return 127;
    }
    self[n] = '\0';
    char fw[PATH_MAX + 16], bridge[PATH_MAX + 32], state_default[PATH_MAX + 16];
    snprintf(fw, sizeof fw, "%s.d/firmware", self);
    snprintf(bridge, sizeof bridge, "%s.d/mqtt-bridge", self);
    snprintf(state_default, sizeof state_default, "%s.state", self);
    if (access(fw, R_OK) != 0) {
        fprintf(stderr, "%s: %s is missing (keep OUT and OUT.d together)\n", argv[0], fw);
        return 127;
    }

    /* arguments for the sketch: ours, plus --state-dir and --bridge when not given */
    int have_state = 0, have_bridge = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--state-dir") || !strncmp(argv[i], "--state-dir=", 12))
            have_state = 1;
        else if (!strcmp(argv[i], "--bridge") || !strncmp(argv[i], "--bridge=", 9))
            have_bridge = 1;
    }
    char **args = calloc((size_t)argc + 8, sizeof *args);
    if (!args)
        return 127;
    int k = 0;
    args[k++] = "qemu-i386";
    args[k++] = fw;
    for (int i = 1; i < argc; i++)
        args[k++] = argv[i];
    if (!have_state) {
        args[k++] = "--state-dir";
        args[k++] = state_default;
    }
    if (!have_bridge && access(bridge, X_OK) == 0) {
        args[k++] = "--bridge";
        args[k++] = bridge;
    }
    args[k] = NULL;
    setenv("AHK_PROG_NAME", argv[0], 1);
    setenv("AHK_FIRMWARE", fw, 1); /* ESP.getSketchSize() */

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    unsigned reboots = 0;
    for (;;) {
        char count[16];
        snprintf(count, sizeof count, "%u", reboots);
        setenv("AHK_REBOOTS", count, 1);
        pid_t pid = fork();
        if (pid < 0) {
            perror("launcher: fork");
            return 127;
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            struct rlimit core; /* a board writes no core file, nor does qemu-i386 for it here */
            if (getrlimit(RLIMIT_CORE, &core) == 0) {
                core.rlim_cur = 0;
                setrlimit(RLIMIT_CORE, &core);
            }
            execv(fw, args + 1);
            if (errno == ENOEXEC) /* a 32-bit program on a kernel that cannot run it */
                execvp("qemu-i386", args);
            fprintf(stderr, "%s: cannot run %s: %s%s\n", argv[0], fw, strerror(errno),
                    errno == ENOENT ? " (a 32-bit build needs qemu-i386: Debian package qemu-user)" : "");
            _exit(127);
        }
        child_pid = pid;
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        child_pid = 0;
        if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_RESTART && !stopping) {
            reboots++;
            log_line("ESP.restart(): the board reboots; reboots since power-up: ", reboots);
            continue;
        }
        int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        if (!stopping && (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGABRT)) {
            /* a panic: the board prints its backtrace and reboots */
            reboots++;
            fprintf(stderr, "launcher: the sketch crashed (signal %d, %s), as a board panics\n", sig, strsignal(sig));
            log_line("panic: the board reboots; reboots since power-up: ", reboots);
            struct timespec boot = {0, 100000000L}; /* roughly a board's boot time */
            nanosleep(&boot, NULL);
            continue;
        }
        if (sig)
            return 128 + sig;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }
}
