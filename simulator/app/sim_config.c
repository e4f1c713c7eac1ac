/* sim_config: mepsim command line and JSON config files (see sim_config.h).
 *
 * Options before the first --meter belong to the implicit first meter
 * "meter0"; --meter NAME opens a new section that takes the options after
 * it. Global options (--control, -v, --display, --exit-after, --config) may
 * appear anywhere. Policies are the [E] choices of docs/mep.md 15 that a profile
 * sets and the command line may override.
 */
#include "sim_config.h"
#include "sim_report.h"
#include "sim_sock.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "mep_frame.h"
#include "sim_line.h"

const char *sim_config_usage(void)
{
    return
        "usage: mepsim [global options] [meter options] [--meter NAME meter options]...\n"
        "\n"
        "Emulates one or more OSGP meters on their MEP serial port (RC4 and TLS mode) and optical port.\n"
        "\n"
        "Meter options (before the first --meter they apply to meter \"meter0\"):\n"
        "  --pty PATH            create a pseudo-terminal and symlink PATH to it\n"
        "  --uart DEV            use a real serial device (libserialport)\n"
        "  --tcp [ADDR:]PORT     listen on a TCP port (raw bytes, one client at a time; ADDR a\n"
        "                        numeric address, default 127.0.0.1; IPv6 as [ADDR]:PORT)\n"
        "  --unix PATH           listen on a Unix stream socket, the same way\n"
        "  --count N             this section stands for N meters of the same profile, keys and\n"
        "                        seed: meter i (0..N-1) is named NAME-i, listens on port PORT+i,\n"
        "                        and takes i for the %d that --pty, --unix, --optical-pty and\n"
        "                        --state paths must then contain (e.g. --unix /run/m%d.sock)\n"
        "  --optical-pty PATH    separate optical port (C12.18) on a PTY (Gen 4; without it a\n"
        "                        Gen 2/3 meter shares its MEP line with the optical port)\n"
        "  --optical-uart DEV    separate optical port on a serial device\n"
        "  --baud N              initial line rate (default: the meter's, 9600)\n"
        "  --format FMT          character format: data bits 5-8, parity N/E/O/M/S, stop bits 1/2\n"
        "                        (8N1 default, 8E1, 7E1, 8N2 ...; sets bits per byte for pacing)\n"
        "  --profile FILE        meter profile JSON (default: built-in three-phase profile)\n"
        "  --mbk KEY, --mak KEY  keys: 16/20 ASCII characters or 32/40 hex digits\n"
        "  --seq-start N         first acceptable sequence number E (decimal or 0x hex)\n"
        "  --seed N              seed for the model and a random start E\n"
        "  --speed X             simulated clock speed (1 = real time)\n"
        "  --start-time T        simulated clock start, YYYY-MM-DDTHH:MM:SSZ\n"
        "  --policy NAME=VALUE   override a policy (repeatable), see below\n"
        "  --scenario FILE       run a fixtures/scenarios timeline on this meter (its profile,\n"
        "                        keys, seed, speed, E and policies apply unless given here);\n"
        "                        line/protocol faults, glitches, loads, alerts, clock, E jumps\n"
        "                        and reboots all run\n"
        "  --state FILE          keep this meter's registers, E, registration, written tables and\n"
        "                        clock in FILE (JSON; saved atomically every 5 s when changed and\n"
        "                        on exit, loaded at start; the meter catches up the time it was down)\n"
        "  --meter NAME          start the section of another meter\n"
        "\n"
        "HIL modem lines (--uart only; hil/README.md; config keys sense_transceiver, ...):\n"
        "  --sense-transceiver LINE[:inverted]  sense the board's transceiver supply on an\n"
        "                        adapter input, LINE = CTS|DSR|DCD|RI; each debounced change\n"
        "                        is a line event, as {\"line\":\"transceiver\",..} on the socket\n"
        "  --sense-enable LINE[:inverted]       the same for the meter ENABLE line\n"
        "  --modem-poll-ms N     sample the inputs every N ms (default 5)\n"
        "  --modem-debounce N    equal samples to accept a level (default 2)\n"
        "  --reset-line DTR|RTS[:inverted]      output for the control command board_reset\n"
        "  --power-line DTR|RTS[:inverted]      output for board_power (asserted = supply cut)\n"
        "                        mepsim drives DTR/RTS only when these two name them\n"
        "\n"
        "Global options:\n"
        "  --config FILE         JSON: {\"meters\":[{\"name\":..,\"pty\":..|\"uart\":..|\"tcp\":..|\"unix\":..,\n"
        "                        \"count\":..,\"baud\":..,\"format\":..,\"profile\":..,\"scenario\":..,\n"
        "                        \"mbk\":..,\"mak\":..,\"seq_start\":..,\n"
"                        \"seed\":..,\"speed\":..,\"start_time\":..,\"state\":..,\"policy\":{..}}],\n"
        "                        \"control\":PATH, \"capture\":FILE, \"state_dir\":DIR}; a relative profile,\n"
        "                        scenario, state or state_dir path is taken from the config file's\n"
        "                        directory\n"
        "  --state-dir DIR       state files DIR/<meter name>.json for meters without --state\n"
        "                        (config key \"state_dir\"; per meter \"state\")\n"
        "  --control PATH        JSON-lines control socket (Unix stream, mode 0600)\n"
        "  -v, -vv               log decoded frames and line events (-vv: + hex dumps) to stderr\n"
        "  --display             live view on stdout (plain summary every 5 s if not a TTY)\n"
        "  --exit-after SECONDS  stop after this long (for scripts)\n"
        "  --capture FILE        record every line into FILE (pcapng, one interface per port)\n"
        "  --help, --version\n"
        "\n"
        "Exit status: 0 stopped normally, 1 a device or socket could not be opened,\n"
        "2 bad option, profile, scenario or config file.\n"
        "\n"
        "Policies (docs/mep.md 15; defaults come from the profile):\n";
}

const char *sim_config_policy_help(void)
{
    return "  seq_reply=next|last                 what a 0x0C reply carries (E or E-1)\n"
           "  seq_window=N                        accepted steps ahead of E-1 (1..100000)\n"
           "  strict_full_read_count=on|off       0x30 without count -> 0x0C (field behaviour)\n"
           "  auth_reply=short|zero-digest|silent framing of 0x0B\n"
           "  proc_deny=result5|isc               forbidden procedure: result 5 or 0x03\n"
           "  past_end_error=on|off               read past the end -> 0x05 instead of clamping\n"
           "  proc_latency_ms=N                   delay before a procedure result (0..1000)\n"
           "  idt_bump_adds_25=on|off             IDT version bump moves E by 25\n"
           "  reply_delay_ms=N                    request's last byte to reply's first (0..4000, default 30)\n"
           "  reply_jitter_ms=N                   + 0..N ms from the seeded generator (0..1000, default 10)\n";
}

/* ---- small parsers ---------------------------------------------------- */

static int parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "on") || !strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcasecmp(v, "off") || !strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no")) {
        *out = false;
        return 0;
    }
    return -1;
}

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
{
    if (!v || !*v || *v == '-' || *v == '+')
        return -1;
    char *end;
    errno = 0;
    /* decimal, or hex with 0x; a leading 0 is not octal */
    bool hex = v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
    unsigned long long x = strtoull(v, &end, hex ? 16 : 10);
    if (errno || *end || x > max)
        return -1;
    *out = x;
    return 0;
}

static int parse_double(const char *v, double lo, double hi, double *out)
{
    if (!v || !*v)
        return -1;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || !isfinite(x) || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

int sim_config_parse_time(const char *text, int64_t *utc_ms)
{
    int Y, M, D, h, m, s;
    char z = 0, extra = 0;
    if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%c%c", &Y, &M, &D, &h, &m, &s, &z, &extra) != 7 ||
        z != 'Z' || strlen(text) != 20)
        return -1;
    if (Y < 1970 || Y > 2105 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || s > 60 ||
        h < 0 || m < 0 || s < 0)
        return -1;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = s;
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_mday != D || back.tm_mon != M - 1) /* e.g. 2026-02-30 */
        return -1;
    *utc_ms = (int64_t)t * 1000;
    return 0;
}

void sim_config_format_time(int64_t utc_ms, char *buf, size_t len)
{
    sim_report_iso_utc(utc_ms, buf, len);
}

int sim_config_policy_set(sim_policy *p, const char *name, const char *value, char *err, size_t errlen)
{
    bool b;
    uint64_t u;
    if (!strcmp(name, "seq_reply")) {
        if (!strcmp(value, "next")) p->seq_reply = SIM_SEQ_REPLY_NEXT;
        else if (!strcmp(value, "last")) p->seq_reply = SIM_SEQ_REPLY_LAST;
        else goto bad;
    } else if (!strcmp(name, "seq_window")) {
        if (parse_u64(value, 100000, &u) || u == 0) goto bad;
        p->seq_window = (uint32_t)u;
    } else if (!strcmp(name, "strict_full_read_count")) {
        if (parse_bool(value, &b)) goto bad;
        p->strict_full_read_count = b;
    } else if (!strcmp(name, "auth_reply")) {
        if (!strcmp(value, "short")) p->auth_reply = SIM_AUTH_REPLY_SHORT;
        else if (!strcmp(value, "zero-digest") || !strcmp(value, "zero_digest"))
            p->auth_reply = SIM_AUTH_REPLY_ZERO_DIGEST;
        else if (!strcmp(value, "silent")) p->auth_reply = SIM_AUTH_REPLY_SILENT;
        else goto bad;
    } else if (!strcmp(name, "proc_deny")) {
        if (!strcmp(value, "result5")) p->proc_deny = SIM_PROC_DENY_RESULT5;
        else if (!strcmp(value, "isc")) p->proc_deny = SIM_PROC_DENY_ISC;
        else goto bad;
    } else if (!strcmp(name, "past_end_error")) {
        if (parse_bool(value, &b)) goto bad;
        p->past_end_error = b;
    } else if (!strcmp(name, "proc_latency_ms")) {
        if (parse_u64(value, 1000, &u)) goto bad;
        p->proc_latency_ms = (uint32_t)u;
    } else if (!strcmp(name, "idt_bump_adds_25")) {
        if (parse_bool(value, &b)) goto bad;
        p->idt_bump_adds_25 = b;
    } else if (!strcmp(name, "reply_delay_ms")) {
        if (parse_u64(value, SIM_POLICY_MAX_REPLY_DELAY_MS, &u)) goto bad;
        p->reply_delay_ms = (uint32_t)u;
    } else if (!strcmp(name, "reply_jitter_ms")) {
        if (parse_u64(value, SIM_POLICY_MAX_REPLY_JITTER_MS, &u)) goto bad;
        p->reply_jitter_ms = (uint32_t)u;
    } else {
        snprintf(err, errlen, "unknown policy \"%s\" (known: seq_reply, seq_window, "
                 "strict_full_read_count, auth_reply, proc_deny, past_end_error, proc_latency_ms, "
                 "idt_bump_adds_25, reply_delay_ms, reply_jitter_ms)", name);
        return -1;
    }
    return 0;
bad:
    snprintf(err, errlen, "policy %s: bad value \"%s\"", name, value);
    return -1;
}

/* ---- sections ---------------------------------------------------------- */

/* "" for every path not given: one shared empty string, never freed, so an
 * untouched section compares equal to a fresh one (meter_touched). */
static const char no_path[] = "";

/* The addresses of every path string of a section. */
#define SIM_CONFIG_PATH_FIELDS(m) \
    { &(m)->pty, &(m)->uart, &(m)->tcp, &(m)->unix_path, &(m)->optical_pty, &(m)->optical_uart, \
      &(m)->profile, &(m)->scenario, &(m)->state }

void sim_config_meter_init(sim_config_meter *m, size_t index)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "meter%zu", index);
    snprintf(m->format, sizeof m->format, "8N1");
    const char **f[] = SIM_CONFIG_PATH_FIELDS(m);
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        *f[i] = no_path;
}

int sim_config_meter_set(const char **field, const char *value)
{
    char *copy = NULL;
    if (value[0] && !(copy = strdup(value)))
        return -1;
    if (*field && *field != no_path)
        free((char *)*field);
    *field = copy ? copy : no_path;
    return 0;
}

void sim_config_meter_clear(sim_config_meter *m)
{
    const char **f[] = SIM_CONFIG_PATH_FIELDS(m);
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (*f[i] && *f[i] != no_path)
            free((char *)*f[i]);
    free(m->policies);
    sim_config_meter_init(m, 0);
}

void sim_config_free(sim_config *c)
{
    for (size_t i = 0; i < c->n_meters; i++)
        sim_config_meter_clear(&c->meters[i]);
    free(c->meters);
    memset(c, 0, sizeof *c);
}

/* A new section at the end of c->meters (grown as needed); NULL when out of
 * memory (err says so). */
static sim_config_meter *add_meter(sim_config *c, char *err, size_t errlen)
{
    if (c->n_meters == c->cap_meters) {
        size_t cap = c->cap_meters ? c->cap_meters * 2 : 8;
        sim_config_meter *m = realloc(c->meters, cap * sizeof *m);
        if (!m) {
            snprintf(err, errlen, "out of memory for %zu meters", cap);
            return NULL;
        }
        c->meters = m;
        c->cap_meters = cap;
    }
    sim_config_meter *m = &c->meters[c->n_meters];
    sim_config_meter_init(m, c->n_meters);
    c->n_meters++;
    return m;
}

/* Set a path string of a section: not empty, not longer than a path. */
static int set_path(const char **field, const char *src, const char *what, char *err, size_t errlen)
{
    if (!src[0]) {
        snprintf(err, errlen, "%s: empty value", what);
        return -1;
    }
    if (strlen(src) >= SIM_CONFIG_PATH) {
        snprintf(err, errlen, "%s: value too long (max %d characters)", what, SIM_CONFIG_PATH - 1);
        return -1;
    }
    if (sim_config_meter_set(field, src) != 0) {
        snprintf(err, errlen, "%s: out of memory", what);
        return -1;
    }
    return 0;
}


static int copy_str(char *dst, size_t cap, const char *src, const char *what, char *err, size_t errlen)
{
    if (!src[0]) {
        snprintf(err, errlen, "%s: empty value", what);
        return -1;
    }
    if (strlen(src) >= cap) {
        snprintf(err, errlen, "%s: value too long (max %zu characters)", what, cap - 1);
        return -1;
    }
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

/* Apply one meter option (flag without dashes, e.g. "seq-start") to a
 * section. what = how to name it in errors ("--seq-start" or "file: meters[1].seq_start"). */
static int meter_option(sim_config_meter *m, const char *opt, const char *v, const char *what,
                        char *err, size_t errlen)
{
    char sub[400];
    uint64_t u;
    if (!strcmp(opt, "pty"))
        return set_path(&m->pty, v, what, err, errlen);
    if (!strcmp(opt, "uart"))
        return set_path(&m->uart, v, what, err, errlen);
    if (!strcmp(opt, "unix"))
        return set_path(&m->unix_path, v, what, err, errlen);
    if (!strcmp(opt, "optical-pty"))
        return set_path(&m->optical_pty, v, what, err, errlen);
    if (!strcmp(opt, "optical-uart"))
        return set_path(&m->optical_uart, v, what, err, errlen);
    if (!strcmp(opt, "profile"))
        return set_path(&m->profile, v, what, err, errlen);
    if (!strcmp(opt, "scenario"))
        return set_path(&m->scenario, v, what, err, errlen);
    if (!strcmp(opt, "state"))
        return set_path(&m->state, v, what, err, errlen);
    if (!strcmp(opt, "tcp")) {
        /* the listener's own parser (io/sim_sock), normalised to "ADDR:PORT"
         * ([v6]:PORT): a bare PORT is the loopback's */
        sim_sock_addr a;
        if (sim_sock_parse_tcp(what, v, &a, sub, sizeof sub) != SIM_SOCK_OK) {
            snprintf(err, errlen, "%s \"%s\": expected [ADDR:]PORT with PORT 1..65535 and a numeric "
                     "address (127.0.0.1, 0.0.0.0, [::1])", what, v);
            return -1;
        }
        return set_path(&m->tcp, a.text, what, err, errlen);
    }
    if (!strcmp(opt, "count")) {
        if (parse_u64(v, SIM_CONFIG_MAX_COUNT, &u) || u < 1) {
            snprintf(err, errlen, "%s \"%s\": expected a number of meters 1..%d", what, v, SIM_CONFIG_MAX_COUNT);
            return -1;
        }
        m->count = (uint32_t)u;
        return 0;
    }
    if (!strcmp(opt, "name")) {
        if (copy_str(m->name, sizeof m->name, v, what, err, errlen))
            return -1;
        for (const char *c = v; *c; c++)
            if (*c <= ' ' || *c == '"' || *c == '\\') {
                snprintf(err, errlen, "%s \"%s\": no spaces, quotes or backslashes in a meter name", what, v);
                return -1;
            }
        return 0;
    }
    if (!strcmp(opt, "baud")) {
        if (parse_u64(v, 4000000, &u) || u < 50) {
            snprintf(err, errlen, "%s \"%s\": expected a baud rate such as 9600", what, v);
            return -1;
        }
        m->baud = (uint32_t)u;
        return 0;
    }
    if (!strcmp(opt, "format")) {
        if (sim_line_format_bits(v) == 0) {
            snprintf(err, errlen, "%s \"%s\": expected data bits 5-8, parity N/E/O/M/S, stop bits 1/2 "
                     "(e.g. 8N1)", what, v);
            return -1;
        }
        snprintf(m->format, sizeof m->format, "%s", v);
        return 0;
    }
    if (!strcmp(opt, "mbk") || !strcmp(opt, "mak")) {
        bool mbk = opt[1] == 'b';
        if (sim_parse_key(v, mbk ? m->mbk : m->mak, sub, sizeof sub) != 0) {
            snprintf(err, errlen, "%s: %s", what, sub);
            return -1;
        }
        if (mbk) m->has_mbk = true; else m->has_mak = true;
        return 0;
    }
    if (!strcmp(opt, "seq-start")) {
        if (parse_u64(v, UINT32_MAX, &u)) {
            snprintf(err, errlen, "%s \"%s\": expected a 32-bit number (decimal or 0x hex)", what, v);
            return -1;
        }
        m->seq_start = (uint32_t)u;
        m->has_seq_start = true;
        return 0;
    }
    if (!strcmp(opt, "seed")) {
        if (parse_u64(v, UINT64_MAX, &u)) {
            snprintf(err, errlen, "%s \"%s\": expected an unsigned number", what, v);
            return -1;
        }
        m->seed = u;
        m->has_seed = true;
        return 0;
    }
    if (!strcmp(opt, "speed")) {
        if (parse_double(v, 1e-3, 1e6, &m->speed)) {
            snprintf(err, errlen, "%s \"%s\": expected a number between 0.001 and 1000000", what, v);
            return -1;
        }
        return 0;
    }
    if (!strcmp(opt, "start-time")) {
        if (sim_config_parse_time(v, &m->start_utc_ms)) {
            snprintf(err, errlen, "%s \"%s\": expected YYYY-MM-DDTHH:MM:SSZ", what, v);
            return -1;
        }
        m->has_start_time = true;
        return 0;
    }
    /* HIL modem lines (sim_modem.h, hil/README.md): UART only, checked in
     * sim_config_validate once the transport is known. */
    if (!strcmp(opt, "sense-transceiver") || !strcmp(opt, "sense-enable")) {
        sim_modem_input *in = &m->modem.in[opt[6] == 't' ? SIM_MODEM_LINE_TRANSCEIVER : SIM_MODEM_LINE_ENABLE];
        if (sim_modem_parse_input(v, in) != SIM_MODEM_OK) {
            snprintf(err, errlen, "%s \"%s\": expected CTS, DSR, DCD or RI, optionally :inverted", what, v);
            return -1;
        }
        m->has_modem = true;
        return 0;
    }
    if (!strcmp(opt, "reset-line") || !strcmp(opt, "power-line")) {
        sim_modem_output *o = &m->modem.out[opt[0] == 'r' ? SIM_MODEM_OUT_RESET : SIM_MODEM_OUT_POWER];
        if (sim_modem_parse_output(v, o) != SIM_MODEM_OK) {
            snprintf(err, errlen, "%s \"%s\": expected DTR or RTS, optionally :inverted", what, v);
            return -1;
        }
        m->has_modem = true;
        return 0;
    }
    if (!strcmp(opt, "modem-poll-ms")) {
        if (parse_u64(v, 1000, &u) || u < 1) {
            snprintf(err, errlen, "%s \"%s\": expected milliseconds 1..1000", what, v);
            return -1;
        }
        m->modem.poll_us = (uint32_t)u * 1000u;
        m->has_modem = true;
        return 0;
    }
    if (!strcmp(opt, "modem-debounce")) {
        if (parse_u64(v, SIM_MODEM_MAX_DEBOUNCE, &u) || u < 1) {
            snprintf(err, errlen, "%s \"%s\": expected equal samples 1..%u", what, v, SIM_MODEM_MAX_DEBOUNCE);
            return -1;
        }
        m->modem.debounce = (unsigned)u;
        m->has_modem = true;
        return 0;
    }
    if (!strcmp(opt, "policy")) {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || !eq[1]) {
            snprintf(err, errlen, "%s \"%s\": expected NAME=VALUE", what, v);
            return -1;
        }
        sim_config_policy pol;
        size_t nl = (size_t)(eq - v);
        if (nl >= sizeof pol.name || strlen(eq + 1) >= sizeof pol.value) {
            snprintf(err, errlen, "%s \"%s\": too long", what, v);
            return -1;
        }
        memcpy(pol.name, v, nl);
        pol.name[nl] = 0;
        snprintf(pol.value, sizeof pol.value, "%s", eq + 1);
        sim_policy scratch;
        memset(&scratch, 0, sizeof scratch);
        if (sim_config_policy_set(&scratch, pol.name, pol.value, sub, sizeof sub)) {
            snprintf(err, errlen, "%s: %s", what, sub);
            return -1;
        }
        if (m->n_policies == SIM_CONFIG_MAX_POLICIES) {
            snprintf(err, errlen, "%s: more than %d policies", what, SIM_CONFIG_MAX_POLICIES);
            return -1;
        }
        if (!m->policies && !(m->policies = malloc(SIM_CONFIG_MAX_POLICIES * sizeof *m->policies))) {
            snprintf(err, errlen, "%s: out of memory", what);
            return -1;
        }
        m->policies[m->n_policies++] = pol;
        return 0;
    }
    snprintf(err, errlen, "unknown option %s", what);
    return -1;
}

static const char *const meter_flags[] = {"pty", "uart", "tcp", "unix", "count", "optical-pty", "optical-uart", "baud", "format", "profile", "scenario", "state", "mbk", "mak",
                                          "seq-start", "seed", "speed", "start-time", "policy",
                                          "sense-transceiver", "sense-enable", "reset-line", "power-line",
                                          "modem-poll-ms", "modem-debounce", NULL};

static bool is_meter_flag(const char *f)
{
    for (size_t i = 0; meter_flags[i]; i++)
        if (!strcmp(meter_flags[i], f))
            return true;
    return false;
}

static bool meter_touched(const sim_config_meter *m, size_t index)
{
    sim_config_meter fresh;
    sim_config_meter_init(&fresh, index);
    return memcmp(&fresh, m, sizeof fresh) != 0;
}

/* --state-dir / "state_dir": a meter without its own state file keeps it
 * in DIR/<name>.json. */
static int resolve_state_dir(sim_config *c, char *err, size_t errlen)
{
    if (!c->state_dir[0])
        return 0;
    for (size_t i = 0; i < c->n_meters; i++) {
        sim_config_meter *m = &c->meters[i];
        if (m->state[0])
            continue;
        char path[SIM_CONFIG_PATH];
        if ((size_t)snprintf(path, sizeof path, "%s/%s.json", c->state_dir, m->name) >= sizeof path) {
            snprintf(err, errlen, "--state-dir %s: path of meter %s's state file too long", c->state_dir, m->name);
            return -1;
        }
        if (set_path(&m->state, path, "--state-dir", err, errlen))
            return -1;
    }
    return 0;
}

/* A path of a --count section must take the meter's index once: "%d"
 * and no other conversion ("%%" for a literal %). */
static int count_pattern(const char *path, const char *what, const char *meter, char *err, size_t errlen)
{
    int d = 0;
    for (const char *p = path; *p; p++) {
        if (*p != '%')
            continue;
        if (p[1] == '%') {
            p++;
        } else if (p[1] == 'd') {
            d++;
            p++;
        } else {
            d = 2;
            break;
        }
    }
    if (d != 1) {
        snprintf(err, errlen, "meter %s: --count: %s %s must contain %%d once (meter i gets i there) and "
                 "no other %% conversion", meter, what, path);
        return -1;
    }
    return 0;
}

/* The section's path with i for its %d. */
static int count_path(const char **field, const char *pattern, size_t i, const char *what, char *err,
                      size_t errlen)
{
    char buf[SIM_CONFIG_PATH];
    char *o = buf, *end = buf + sizeof buf - 1;
    for (const char *p = pattern; *p && o < end; p++) {
        if (p[0] == '%' && p[1] == '%') {
            *o++ = '%';
            p++;
        } else if (p[0] == '%' && p[1] == 'd') {
            o += snprintf(o, (size_t)(end - o) + 1, "%zu", i);
            if (o > end)
                o = end;
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return set_path(field, buf, what, err, errlen);
}

/* dst = a deep copy of src (dst's old contents are not freed). */
static int section_copy(sim_config_meter *dst, const sim_config_meter *src, char *err, size_t errlen)
{
    *dst = *src;
    const char **f[] = SIM_CONFIG_PATH_FIELDS(dst);
    for (size_t j = 0; j < sizeof f / sizeof f[0]; j++)
        *f[j] = no_path;
    dst->policies = NULL;
    const char *const *from[] = SIM_CONFIG_PATH_FIELDS(src);
    for (size_t j = 0; j < sizeof f / sizeof f[0]; j++)
        if ((*from[j])[0] && sim_config_meter_set(f[j], *from[j]) != 0)
            goto oom;
    if (src->n_policies) {
        if (!(dst->policies = malloc(SIM_CONFIG_MAX_POLICIES * sizeof *dst->policies)))
            goto oom;
        memcpy(dst->policies, src->policies, src->n_policies * sizeof *dst->policies);
    }
    return 0;
oom:
    snprintf(err, errlen, "meter %s: out of memory", src->name);
    return -1;
}

/* Meter i of --count section p, appended to out: named NAME-i, i for the
 * %d of its paths, port PORT+i; keys, seed and everything else as given. */
static int expand_one(sim_config *out, const sim_config_meter *p, uint32_t i, char *err, size_t errlen)
{
    sim_config_meter *m = add_meter(out, err, errlen);
    if (!m)
        return -1;
    if (section_copy(m, p, err, errlen))
        return -1;
    m->count = 0;
    if ((size_t)snprintf(m->name, sizeof m->name, "%s-%u", p->name, (unsigned)i) >= sizeof m->name) {
        snprintf(err, errlen, "meter %s: --count: name too long to add an index", p->name);
        return -1;
    }
    if ((p->pty[0] && count_path(&m->pty, p->pty, i, "--pty", err, errlen)) ||
        (p->unix_path[0] && count_path(&m->unix_path, p->unix_path, i, "--unix", err, errlen)) ||
        (p->optical_pty[0] && count_path(&m->optical_pty, p->optical_pty, i, "--optical-pty", err, errlen)) ||
        (p->state[0] && count_path(&m->state, p->state, i, "--state", err, errlen)))
        return -1;
    if (p->tcp[0]) {
        const char *colon = strrchr(p->tcp, ':');
        char port[INET6_ADDRSTRLEN + 16];
        snprintf(port, sizeof port, "%.*s:%lu", (int)(colon - p->tcp), p->tcp, strtoul(colon + 1, NULL, 10) + i);
        if (set_path(&m->tcp, port, "--tcp", err, errlen))
            return -1;
    }
    return 0;
}

/* A --count section can be expanded: a socket or PTY transport, one %d in
 * its paths, ports within range. */
static int check_count(const sim_config_meter *p, char *err, size_t errlen)
{
    const char *name = p->name;
    if (p->uart[0] || p->optical_uart[0]) {
        snprintf(err, errlen, "meter %s: --count needs --pty, --tcp or --unix (a serial device is one meter)", name);
        return -1;
    }
    if (!p->pty[0] && !p->tcp[0] && !p->unix_path[0]) {
        snprintf(err, errlen, "meter %s: --count %u: give --pty PATH%%d, --tcp PORT or --unix PATH%%d", name,
                 (unsigned)p->count);
        return -1;
    }
    if ((p->pty[0] && count_pattern(p->pty, "--pty", name, err, errlen)) ||
        (p->unix_path[0] && count_pattern(p->unix_path, "--unix", name, err, errlen)) ||
        (p->optical_pty[0] && count_pattern(p->optical_pty, "--optical-pty", name, err, errlen)) ||
        (p->state[0] && count_pattern(p->state, "--state", name, err, errlen)))
        return -1;
    if (p->tcp[0]) {
        unsigned long base = strtoul(strrchr(p->tcp, ':') + 1, NULL, 10);
        if (base + p->count - 1 > 65535) {
            snprintf(err, errlen, "meter %s: --count %u from port %lu runs past port 65535", name,
                     (unsigned)p->count, base);
            return -1;
        }
    }
    return 0;
}

/* Every meter holds at least one file descriptor (its PTY master, UART or
 * listening socket; two while a socket client is connected), so a fleet
 * larger than the process's hard open-file limit could never start: say so
 * before building anything. The limit is the only bound on the number of
 * meters; mepsim raises its soft limit to the hard one at start. */
#define SIM_CONFIG_FD_RESERVE 64 /* stdio, the loop, control and capture files, clients */
static int check_fd_room(size_t meters, char *err, size_t errlen)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max == RLIM_INFINITY)
        return 0;
    rlim_t room = rl.rlim_max > SIM_CONFIG_FD_RESERVE ? rl.rlim_max - SIM_CONFIG_FD_RESERVE : 0;
    if ((rlim_t)meters <= room)
        return 0;
    snprintf(err, errlen, "%zu meters need at least %zu file descriptors, and this process may open at most %llu "
             "(its hard open-file limit, %d kept for itself): raise it (ulimit -Hn, LimitNOFILE= in a "
             "systemd unit) or split the fleet over several processes",
             meters, meters, (unsigned long long)room, SIM_CONFIG_FD_RESERVE);
    return -1;
}

/* Every section with --count N becomes N sections in its place (N = 1
 * too: the %d of its paths becomes 0, as a script that scales from one
 * meter expects). */
static int expand_counts(sim_config *c, char *err, size_t errlen)
{
    bool any = false;
    size_t total = 0;
    for (size_t i = 0; i < c->n_meters; i++) {
        total += c->meters[i].count >= 1 ? c->meters[i].count : 1;
        if (c->meters[i].count >= 1) {
            if (check_count(&c->meters[i], err, errlen))
                return -1;
            any = true;
        }
    }
    if (!any)
        return 0;
    if (check_fd_room(total, err, errlen)) /* before a section is made for each */
        return -1;
    sim_config out;
    memset(&out, 0, sizeof out);
    for (size_t i = 0; i < c->n_meters; i++) {
        const sim_config_meter *p = &c->meters[i];
        if (p->count == 0) {
            sim_config_meter *m = add_meter(&out, err, errlen);
            if (!m || section_copy(m, p, err, errlen))
                goto fail;
            continue;
        }
        for (uint32_t k = 0; k < p->count; k++)
            if (expand_one(&out, p, k, err, errlen))
                goto fail;
    }
    for (size_t i = 0; i < c->n_meters; i++)
        sim_config_meter_clear(&c->meters[i]);
    free(c->meters);
    c->meters = out.meters;
    c->n_meters = out.n_meters;
    c->cap_meters = out.cap_meters;
    return 0;
fail:
    sim_config_free(&out);
    return -1;
}

int sim_config_parse_args(sim_config *c, int argc, char **argv, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (!add_meter(c, err, errlen))
        return -1;
    size_t cur = 0;
    bool implicit_used = true; /* meters[0] is the implicit section */

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            c->help = true;
            continue;
        }
        if (!strcmp(a, "--version")) {
            c->version = true;
            continue;
        }
        if (!strcmp(a, "--display")) {
            c->display = true;
            continue;
        }
        if (a[0] == '-' && a[1] == 'v' && strspn(a + 1, "v") == strlen(a + 1)) {
            c->verbose += (int)strlen(a + 1);
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (options start with --; see --help)", a);
            return -1;
        }
        /* --flag VALUE or --flag=VALUE */
        char flag[64];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        size_t fl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (fl == 0 || fl >= sizeof flag) {
            snprintf(err, errlen, "unknown option %s (see --help)", a);
            return -1;
        }
        memcpy(flag, a + 2, fl);
        flag[fl] = 0;
        bool known = is_meter_flag(flag) || !strcmp(flag, "meter") || !strcmp(flag, "config") ||
                     !strcmp(flag, "control") || !strcmp(flag, "exit-after") || !strcmp(flag, "state-dir") ||
                     !strcmp(flag, "capture");
        if (!known) {
            snprintf(err, errlen, "unknown option --%s (see --help)", flag);
            return -1;
        }
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "option --%s needs a value", flag);
                return -1;
            }
            val = argv[++i];
        }
        char what[96];
        snprintf(what, sizeof what, "--%s", flag);
        if (!strcmp(flag, "meter")) {
            if (implicit_used && cur == 0 && !meter_touched(&c->meters[0], 0) && c->n_meters == 1) {
                /* "--meter m1 --pty ..." as the first thing: name the implicit section */
                implicit_used = false;
            } else {
                if (!add_meter(c, err, errlen))
                    return -1;
                cur = c->n_meters - 1;
            }
            if (meter_option(&c->meters[cur], "name", val, what, err, errlen))
                return -1;
            continue;
        }
        if (!strcmp(flag, "config")) {
            if (sim_config_load_file(c, val, err, errlen))
                return -1;
            cur = c->n_meters - 1;
            continue;
        }
        if (!strcmp(flag, "control")) {
            if (copy_str(c->control, sizeof c->control, val, what, err, errlen))
                return -1;
            continue;
        }
        if (!strcmp(flag, "state-dir")) {
            if (copy_str(c->state_dir, sizeof c->state_dir, val, what, err, errlen))
                return -1;
            continue;
        }
        if (!strcmp(flag, "capture")) {
            /* every serial line joins this pcapng file (simulator/io/sim_serial.c, capture/README.md) */
            if (!*val) {
                snprintf(err, errlen, "--capture \"\": expected a file name");
                return -1;
            }
            if (copy_str(c->capture, sizeof c->capture, val, what, err, errlen))
                return -1;
            continue;
        }
        if (!strcmp(flag, "exit-after")) {
            if (parse_double(val, 0.001, 1e7, &c->exit_after_s)) {
                snprintf(err, errlen, "--exit-after \"%s\": expected seconds > 0", val);
                return -1;
            }
            continue;
        }
        if (meter_option(&c->meters[cur], flag, val, what, err, errlen))
            return -1;
    }
    /* The implicit section disappears when it was never used and other
     * meters exist (e.g. everything came from --config). */
    if (c->n_meters > 1 && !meter_touched(&c->meters[0], 0)) {
        sim_config_meter_clear(&c->meters[0]); /* owns nothing: untouched */
        memmove(&c->meters[0], &c->meters[1], (c->n_meters - 1) * sizeof c->meters[0]);
        c->n_meters--;
    }
    if (expand_counts(c, err, errlen))
        return -1;
    return resolve_state_dir(c, err, errlen);
}

/* ---- JSON config files ------------------------------------------------ */

static int json_meter(sim_config *c, const char *file, const char *dir, size_t idx, json_t *obj,
                      char *err, size_t errlen)
{
    char where[SIM_CONFIG_PATH + 64];
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "%s: meters[%zu]: expected an object", file, idx);
        return -1;
    }
    sim_config_meter *m = add_meter(c, err, errlen);
    if (!m)
        return -1;
    /* on a bad key the partial section stays: the whole parse fails and
     * sim_config_free releases it */
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        snprintf(where, sizeof where, "%s: meters[%zu].%s", file, idx, key);
        char buf[SIM_CONFIG_PATH];
        static const char *const str_keys[] = {"name", "pty", "uart", "unix", "optical_pty", "optical_uart", "format", "profile", "scenario", "state",
                                               "mbk", "mak", "start_time", "sense_transceiver",
                                               "sense_enable", "reset_line", "power_line", NULL};
        char dashed[32]; /* JSON key -> option name: sense_enable -> sense-enable */
        snprintf(dashed, sizeof dashed, "%s", key);
        for (char *d = dashed; *d; d++)
            if (*d == '_')
                *d = '-';
        bool is_str = false;
        for (size_t k = 0; str_keys[k]; k++)
            if (!strcmp(str_keys[k], key))
                is_str = true;
        if (is_str) {
            if (!json_is_string(v)) {
                snprintf(err, errlen, "%s: expected a string", where);
                return -1;
            }
            const char *s = json_string_value(v);
            if ((!strcmp(key, "profile") || !strcmp(key, "scenario") || !strcmp(key, "state")) && s[0] &&
                s[0] != '/' && dir[0]) {
                if ((size_t)snprintf(buf, sizeof buf, "%s/%s", dir, s) >= sizeof buf) {
                    snprintf(err, errlen, "%s: path too long", where);
                    return -1;
                }
                s = buf;
            }
            const char *opt = dashed; /* start_time -> start-time, sense_enable -> sense-enable ... */
            if (meter_option(m, opt, s, where, err, errlen))
                return -1;
            continue;
        }
        if (!strcmp(key, "tcp") && json_is_integer(v)) {
            /* a bare port number, as "PORT" */
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
            if (meter_option(m, "tcp", buf, where, err, errlen))
                return -1;
            continue;
        }
        if (!strcmp(key, "tcp")) {
            if (!json_is_string(v)) {
                snprintf(err, errlen, "%s: expected \"[ADDR:]PORT\" or a port number", where);
                return -1;
            }
            if (meter_option(m, "tcp", json_string_value(v), where, err, errlen))
                return -1;
            continue;
        }
        if (!strcmp(key, "baud") || !strcmp(key, "seq_start") || !strcmp(key, "seed") || !strcmp(key, "count") ||
            !strcmp(key, "speed") || !strcmp(key, "modem_poll_ms") || !strcmp(key, "modem_debounce")) {
            if (json_is_integer(v)) {
                snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
            } else if (json_is_real(v) && !strcmp(key, "speed")) {
                snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
            } else if (json_is_string(v) && strcmp(key, "speed") != 0) {
                snprintf(buf, sizeof buf, "%s", json_string_value(v));
            } else {
                snprintf(err, errlen, "%s: expected a number%s", where,
                         strcmp(key, "speed") ? " (or a \"0x...\" string)" : "");
                return -1;
            }
            const char *opt = dashed; /* seq_start -> seq-start, modem_poll_ms -> modem-poll-ms */
            if (meter_option(m, opt, buf, where, err, errlen))
                return -1;
            continue;
        }
        if (!strcmp(key, "policy")) {
            if (!json_is_object(v)) {
                snprintf(err, errlen, "%s: expected an object of NAME: VALUE", where);
                return -1;
            }
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv) {
                char pw[SIM_CONFIG_PATH + 128];
                snprintf(pw, sizeof pw, "%s.%s", where, pk);
                char val[64];
                if (json_is_string(pv))
                    snprintf(val, sizeof val, "%s", json_string_value(pv));
                else if (json_is_boolean(pv))
                    snprintf(val, sizeof val, "%s", json_is_true(pv) ? "on" : "off");
                else if (json_is_integer(pv))
                    snprintf(val, sizeof val, "%lld", (long long)json_integer_value(pv));
                else {
                    snprintf(err, errlen, "%s: expected a string, boolean or integer", pw);
                    return -1;
                }
                char nv[200];
                snprintf(nv, sizeof nv, "%s=%s", pk, val);
                if (meter_option(m, "policy", nv, pw, err, errlen))
                    return -1;
            }
            continue;
        }
        snprintf(err, errlen, "%s: unknown key (known: name, pty, uart, tcp, unix, count, baud, format, profile, "
                 "scenario, state, mbk, mak, seq_start, seed, speed, start_time, policy, optical_pty, "
                 "optical_uart, sense_transceiver, sense_enable, reset_line, power_line, modem_poll_ms, "
                 "modem_debounce)", where);
        return -1;
    }
    return 0;
}

static int load_root(sim_config *c, const char *path, json_t *root, char *err, size_t errlen);

/* root NULL: the JSON error in je, named after the file. */
static int load_parsed(sim_config *c, const char *name, json_t *root, const json_error_t *je, char *err,
                       size_t errlen)
{
    if (!root) {
        snprintf(err, errlen, "%s: line %d column %d: %s", name, je->line, je->column, je->text);
        return -1;
    }
    return load_root(c, name, root, err, errlen);
}

int sim_config_load_file(sim_config *c, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    return load_parsed(c, path, json_load_file(path, JSON_REJECT_DUPLICATES, &je), &je, err, errlen);
}

int sim_config_load_buffer(sim_config *c, const char *text, size_t len, const char *name, char *err,
                           size_t errlen)
{
    json_error_t je;
    return load_parsed(c, name, json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), &je, err, errlen);
}

/* Takes the reference to root. */
static int load_root(sim_config *c, const char *path, json_t *root, char *err, size_t errlen)
{
    char dir[SIM_CONFIG_PATH] = "";
    const char *slash = strrchr(path, '/');
    if (slash && (size_t)(slash - path) < sizeof dir) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = 0;
        if (!dir[0])
            snprintf(dir, sizeof dir, "/");
    }
    int rc = -1;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: top level: expected an object {\"meters\": [...]}", path);
        goto out;
    }
    /* a config file replaces the untouched implicit section */
    if (c->n_meters == 1 && !meter_touched(&c->meters[0], 0))
        c->n_meters = 0; /* owns nothing */
    const char *key;
    json_t *v;
    bool have_meters = false;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "meters")) {
            if (!json_is_array(v) || json_array_size(v) == 0) {
                snprintf(err, errlen, "%s: meters: expected a non-empty array of meter objects", path);
                goto out;
            }
            size_t i;
            json_t *mv;
            json_array_foreach(v, i, mv) {
                if (json_meter(c, path, dir, i, mv, err, errlen))
                    goto out;
            }
            have_meters = true;
        } else if (!strcmp(key, "control")) {
            if (!json_is_string(v)) {
                snprintf(err, errlen, "%s: control: expected a string (socket path)", path);
                goto out;
            }
            char what[SIM_CONFIG_PATH + 32];
            snprintf(what, sizeof what, "%s: control", path);
            if (copy_str(c->control, sizeof c->control, json_string_value(v), what, err, errlen))
                goto out;
        } else if (!strcmp(key, "capture")) {
            /* as --capture; a command-line --capture wins */
            const char *cp = json_string_value(v);
            if (!cp || !cp[0]) {
                snprintf(err, errlen, "%s: capture: expected a file name (pcapng)", path);
                goto out;
            }
            char what[SIM_CONFIG_PATH + 32];
            snprintf(what, sizeof what, "%s: capture", path);
            if (!c->capture[0] && copy_str(c->capture, sizeof c->capture, cp, what, err, errlen))
                goto out;
        } else if (!strcmp(key, "state_dir")) {
            const char *sd = json_string_value(v);
            if (!sd || !sd[0]) {
                snprintf(err, errlen, "%s: state_dir: expected a folder path", path);
                goto out;
            }
            int k = sd[0] != '/' && dir[0] ? snprintf(c->state_dir, sizeof c->state_dir, "%s/%s", dir, sd)
                                           : snprintf(c->state_dir, sizeof c->state_dir, "%s", sd);
            if (k < 0 || (size_t)k >= sizeof c->state_dir) {
                snprintf(err, errlen, "%s: state_dir: path too long", path);
                goto out;
            }
        } else {
            snprintf(err, errlen, "%s: %s: unknown key (known: meters, control, capture, state_dir)", path, key);
            goto out;
        }
    }
    if (!have_meters) {
        snprintf(err, errlen, "%s: meters: missing", path);
        goto out;
    }
    rc = expand_counts(c, err, errlen);
out:
    if (rc != 0 && c->n_meters == 0)
        add_meter(c, err, errlen); /* the implicit section again; err keeps the first message
                                    * unless memory ran out */
    json_decref(root);
    return rc;
}

/* Stand-in adapter so the modem options are checked by sim_modem_init
 * itself (shared input, shared pin ...) before any device is opened. */
static int dry_get(void *ctx, unsigned *mask)
{
    (void)ctx;
    *mask = 0;
    return 0;
}

static int dry_set(void *ctx, bool on)
{
    (void)ctx;
    (void)on;
    return 0;
}

static int validate_modem(const sim_config_meter *m, char *err, size_t errlen)
{
    if (!m->uart[0]) {
        snprintf(err, errlen, "meter %s: modem lines need --uart (--sense-transceiver, --sense-enable, "
                 "--reset-line, --power-line, --modem-poll-ms and --modem-debounce do not work on a PTY)",
                 m->name);
        return -1;
    }
    sim_modem dry;
    sim_modem_port io = {dry_get, dry_set, dry_set, NULL};
    char sub[200];
    if (sim_modem_init(&dry, &m->modem, &io, NULL, NULL, sub, sizeof sub) != SIM_MODEM_OK) {
        snprintf(err, errlen, "meter %s: modem lines: %s", m->name, sub);
        return -1;
    }
    return 0;
}

int sim_config_check_live(const sim_config *c, char *err, size_t errlen)
{
    if (sim_config_check_control(c, err, errlen) != 0)
        return -1;
    char sub[600];
    for (size_t i = 0; i < c->n_meters; i++) {
        const sim_config_meter *m = &c->meters[i];
        if (m->unix_path[0] && sim_sock_check_unix("--unix", m->unix_path, sub, sizeof sub) != SIM_SOCK_OK) {
            snprintf(err, errlen, "meter %s: %s", m->name, sub);
            return -1;
        }
    }
    return 0;
}

int sim_config_check_control(const sim_config *c, char *err, size_t errlen)
{
    if (!c->control[0])
        return 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(c->control) >= sizeof sa.sun_path)
        return 0; /* sim_config_validate refuses it */
    memcpy(sa.sun_path, c->control, strlen(c->control) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    if (rc == 0) {
        snprintf(err, errlen, "--control %s: the socket is live (another mepsim is listening on it); "
                 "stop that one or give another path", c->control);
        return -1;
    }
    return 0;
}

/* One name, file or port a meter claims; two meters claiming the same
 * one is a configuration error. Sorted, so 10,000 meters check in
 * milliseconds rather than the seconds a pairwise check took. */
typedef struct {
    const char *key;     /* the name, path or "ADDR:PORT" */
    char space;          /* 'n' name, 'f' file (device/socket path), 's' state file, 't' TCP port */
    uint32_t meter;      /* index into c->meters */
} claim;

static int claim_cmp(const void *a, const void *b)
{
    const claim *x = a, *y = b;
    if (x->space != y->space)
        return x->space < y->space ? -1 : 1;
    int d = strcmp(x->key, y->key);
    if (d)
        return d;
    return x->meter < y->meter ? -1 : x->meter > y->meter;
}

static int check_unique(const sim_config *c, char *err, size_t errlen)
{
    enum { CLAIMS_PER_METER = 8 }; /* name, pty, uart, unix, optical pty/uart, state, tcp */
    claim *cl = malloc(c->n_meters * CLAIMS_PER_METER * sizeof *cl);
    if (!cl) {
        snprintf(err, errlen, "out of memory checking %zu meters", c->n_meters);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < c->n_meters; i++) {
        const sim_config_meter *m = &c->meters[i];
        const struct { const char *key; char space; } mine[CLAIMS_PER_METER] = {
            {m->name, 'n'}, {m->pty, 'f'}, {m->uart, 'f'}, {m->unix_path, 'f'}, {m->optical_pty, 'f'},
            {m->optical_uart, 'f'}, {m->state, 's'}, {m->tcp, 't'},
        };
        for (size_t k = 0; k < sizeof mine / sizeof mine[0]; k++)
            if (mine[k].key[0])
                cl[n++] = (claim){mine[k].key, mine[k].space, (uint32_t)i};
    }
    qsort(cl, n, sizeof *cl, claim_cmp);
    int rc = 0;
    for (size_t k = 1; k < n && rc == 0; k++) {
        if (cl[k].space != cl[k - 1].space || strcmp(cl[k].key, cl[k - 1].key))
            continue;
        const char *a = c->meters[cl[k - 1].meter].name, *b = c->meters[cl[k].meter].name;
        rc = -1;
        if (cl[k].space == 'n')
            snprintf(err, errlen, "meter name %s used twice", a);
        else if (cl[k].space == 's')
            snprintf(err, errlen, "meters %s and %s use the same state file %s", a, b, cl[k].key);
        else if (cl[k].space == 't')
            snprintf(err, errlen, "meters %s and %s listen on the same TCP port %s", a, b, cl[k].key);
        else if (cl[k].meter == cl[k - 1].meter)
            snprintf(err, errlen, "meter %s: %s is both its MEP and its optical port", a, cl[k].key);
        else
            snprintf(err, errlen, "meters %s and %s use the same device %s", a, b, cl[k].key);
    }
    free(cl);
    return rc;
}

int sim_config_validate(const sim_config *c, char *err, size_t errlen)
{
    if (c->n_meters == 0) {
        snprintf(err, errlen, "no meter: give --pty PATH, --uart DEV, --tcp PORT, --unix PATH or --config FILE");
        return -1;
    }
    if (check_fd_room(c->n_meters, err, errlen))
        return -1;
    /* the socket address holds sizeof sun_path - 1 characters (unix(7)) */
    size_t sun_max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    if (c->control[0] && strlen(c->control) > sun_max) {
        snprintf(err, errlen, "--control %s: path too long for a Unix socket (%zu characters, at most %zu)",
                 c->control, strlen(c->control), sun_max);
        return -1;
    }
    for (size_t i = 0; i < c->n_meters; i++) {
        const sim_config_meter *m = &c->meters[i];
        int transports = !!m->pty[0] + !!m->uart[0] + !!m->tcp[0] + !!m->unix_path[0];
        if (transports == 0) {
            snprintf(err, errlen, "meter %s: no transport: give --pty PATH, --uart DEV, --tcp PORT or --unix PATH",
                     m->name);
            return -1;
        }
        if (transports > 1) {
            snprintf(err, errlen, "meter %s: give only one of --pty, --uart, --tcp and --unix", m->name);
            return -1;
        }
        if (m->unix_path[0] && strlen(m->unix_path) > sun_max) {
            snprintf(err, errlen, "meter %s: --unix %s: path too long for a Unix socket (%zu characters, at most %zu)",
                     m->name, m->unix_path, strlen(m->unix_path), sun_max);
            return -1;
        }
        if (m->count >= 1) {
            snprintf(err, errlen, "meter %s: --count was not expanded (internal error)", m->name);
            return -1;
        }
        if (m->optical_pty[0] && m->optical_uart[0]) {
            snprintf(err, errlen, "meter %s: give only one of --optical-pty and --optical-uart", m->name);
            return -1;
        }
        if (m->has_modem && validate_modem(m, err, errlen))
            return -1;
    }
    return check_unique(c, err, errlen);
}

/* The command line and config file override the scenario and profile. */
static int apply_overrides(const sim_config_meter *s, const sim_scenario *sc, sim_meter_cfg *out, char *err,
                           size_t errlen)
{
    if (s->has_mbk)
        memcpy(out->mbk, s->mbk, 16);
    if (s->has_mak)
        memcpy(out->mak, s->mak, 16);
    if (s->has_seq_start) {
        out->has_seq_start = true;
        out->seq_start = s->seq_start;
    }
    if (s->has_seed || !sc)
        out->seed = s->seed;
    if (s->speed > 0)
        out->speed = s->speed;
    if (s->has_start_time)
        out->start_utc_ms = s->start_utc_ms;
    for (size_t i = 0; i < s->n_policies; i++) {
        char sub[300];
        if (sim_config_policy_set(&out->policy, s->policies[i].name, s->policies[i].value, sub, sizeof sub)) {
            snprintf(err, errlen, "meter %s: %s", s->name, sub);
            return -1;
        }
    }
    out->name = s->name;
    return 0;
}

int sim_config_meter_cfg(const sim_config_meter *s, sim_profile *prof, sim_meter_cfg *out,
                         sim_scenario **scen, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    sim_scenario *sc = NULL;
    if (scen)
        *scen = NULL;
    if (s->scenario[0]) {
        if (!scen) {
            snprintf(err, errlen, "meter %s: internal error: scenario without a place to keep it", s->name);
            return -1;
        }
        if (s->profile[0]) {
            snprintf(err, errlen, "meter %s: give --profile or --scenario (the scenario names its profile)",
                     s->name);
            return -1;
        }
        sc = sim_scenario_load(s->scenario, NULL, err, errlen);
        if (!sc)
            return -1;
        /* every step kind runs: line faults, protocol faults and glitches
         * in the port's fault set, reboot/seq_jump on the meter (mepsim_main) */
    }
    if (sim_scenario_meter_cfg(sc, s->profile, prof, out, err, errlen) != 0) {
        sim_scenario_free(sc);
        return -1;
    }
    if (apply_overrides(s, sc, out, err, errlen) != 0) {
        sim_profile_free(prof);
        sim_scenario_free(sc);
        return -1;
    }
    if (scen)
        *scen = sc;
    return 0;
}

int sim_config_meter_cfg_shared(const sim_config_meter *s, sim_profiles *shared, sim_meter_cfg *out, char *err,
                                size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (s->scenario[0]) {
        snprintf(err, errlen, "meter %s: internal error: a scenario patches its profile; load it privately", s->name);
        return -1;
    }
    const sim_profile *prof = sim_profiles_get(shared, s->profile, err, errlen);
    if (!prof)
        return -1;
    sim_scenario_meter_cfg_of(NULL, prof, out);
    return apply_overrides(s, NULL, out, err, errlen);
}
