/* Check suite: sim_fault (line faults, MAX3232 models), sim_pfault
 * (protocol faults) and the family tables all three fault families share
 * (sim_text). Everything runs on a fixed seed and on explicit times, so
 * statistical checks are deterministic; bounds are generous and noted. */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "sim_fault.h"
#include "sim_glitch.h"
#include "sim_pfault.h"

#define MS 1000ull /* us per ms */

/* text parsed as a spec of family fam into spec; the test fails with the
 * parser's message if it does not parse. */
static void parse_spec(const sim_spec_family *fam, void *spec, const char *text)
{
    char err[256];
    ck_assert_msg(sim_spec_spec_parse(fam, spec, text, err, sizeof err) == 0, "%s: %s", text, err);
}

/* A start's id, which must be > 0 (else the test fails with err). */
static int started(int id, const char *err)
{
    ck_assert_msg(id > 0, "%s", err);
    return id;
}

static sim_fault_spec spec(const char *text)
{
    sim_fault_spec s;
    parse_spec(sim_fault_family(), &s, text);
    return s;
}

static int start(sim_fault *f, const char *text, uint64_t now_us)
{
    sim_fault_spec s = spec(text);
    char err[256] = "";
    return started(sim_fault_start(f, &s, now_us, err, sizeof err), err);
}

static size_t popcount8(uint8_t x)
{
    size_t n = 0;
    for (; x; x &= (uint8_t)(x - 1))
        n++;
    return n;
}

/* A response frame: `00 05 00 01 02 03 04` */
static const uint8_t FRAME[] = {0x00, 0x05, 0x00, 0x01, 0x02, 0x03, 0x04};

/* A fault set on a fixed seed with one fault started at now_us. */
static void begin(sim_fault *f, uint64_t seed, const char *text, uint64_t now_us)
{
    sim_fault_init(f, seed);
    start(f, text, now_us);
}

/* FRAME copied into buf (cap bytes) and passed toward the module at now_us;
 * returns what sim_fault_tx returns. */
static size_t tx_frame(sim_fault *f, uint8_t *buf, size_t cap, uint64_t now_us)
{
    memcpy(buf, FRAME, sizeof FRAME);
    return sim_fault_tx(f, buf, sizeof FRAME, cap, now_us);
}

/* ---- statistics on a fixed seed ----------------------------------------- */
START_TEST(test_flip_rate_within_bounds_for_seed)
{
    /* 100000 bytes x 8 bits at 1e-3: mean 800, sd ~28; bounds are +-5 sd. */
    enum { N = 100000 };
    static uint8_t buf[N], orig[N];
    for (size_t i = 0; i < N; i++)
        orig[i] = buf[i] = (uint8_t)(i * 31u + 7u);
    sim_fault f;
    begin(&f, 42, "flip rate=0.001 dir=to-meter", 0);
    size_t n = 0;
    for (size_t off = 0; off < N; off += 1000)
        n += sim_fault_rx(&f, buf + off, 1000, 1000, off);
    ck_assert_uint_eq(n, N);
    size_t bits = 0;
    for (size_t i = 0; i < N; i++)
        bits += popcount8(buf[i] ^ orig[i]);
    ck_assert_uint_ge(bits, 660);
    ck_assert_uint_le(bits, 940);
    ck_assert_uint_eq(f.c.injected[SIM_FAULT_FLIP], bits);

    /* Same seed, same result; another seed, another result. */
    static uint8_t again[N];
    memcpy(again, orig, N);
    sim_fault g;
    sim_fault_init(&g, 42);
    start(&g, "flip rate=0.001 dir=to-meter", 0);
    for (size_t off = 0; off < N; off += 1000)
        sim_fault_rx(&g, again + off, 1000, 1000, off);
    ck_assert_mem_eq(again, buf, N);
    memcpy(again, orig, N);
    sim_fault_init(&g, 43);
    start(&g, "flip rate=0.001 dir=to-meter", 0);
    for (size_t off = 0; off < N; off += 1000)
        sim_fault_rx(&g, again + off, 1000, 1000, off);
    ck_assert_int_ne(memcmp(again, buf, N), 0);
}
END_TEST

START_TEST(test_drop_probability_within_bounds)
{
    /* p = 0.1 over 20000 bytes: mean 2000, sd ~42. */
    uint8_t buf[1000];
    sim_fault f;
    begin(&f, 7, "drop p=0.1 dir=to-module", 0);
    size_t kept = 0;
    for (int i = 0; i < 20; i++) {
        memset(buf, 0x55, sizeof buf);
        kept += sim_fault_tx(&f, buf, sizeof buf, sizeof buf, (uint64_t)i * MS);
    }
    ck_assert_uint_ge(20000 - kept, 1790);
    ck_assert_uint_le(20000 - kept, 2210);
}
END_TEST

/* ---- occurrence limits, wear-off, directions ---------------------------- */
START_TEST(test_count_limit_wears_off)
{
    uint8_t buf[256] = {0};
    sim_fault f;
    begin(&f, 1, "flip rate=1 dir=to-module count=3", 0);
    size_t n = sim_fault_tx(&f, buf, 100, sizeof buf, 0);
    ck_assert_uint_eq(n, 100);
    size_t bits = 0;
    for (size_t i = 0; i < 100; i++)
        bits += popcount8(buf[i]);
    ck_assert_uint_eq(bits, 3);            /* exactly N occurrences */
    ck_assert_uint_eq(sim_fault_active(&f, 0), 0);
    ck_assert_uint_eq(f.c.worn_off, 1);
    memset(buf, 0, sizeof buf);
    sim_fault_tx(&f, buf, 100, sizeof buf, 1);
    for (size_t i = 0; i < 100; i++)
        ck_assert_uint_eq(buf[i], 0);
}
END_TEST

START_TEST(test_duration_wears_off)
{
    uint8_t buf[16];
    sim_fault f;
    begin(&f, 1, "silence dir=to-module duration=1000", 10 * MS);
    ck_assert_uint_eq(sim_fault_next_wake(&f, 10 * MS), 1010 * MS);
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 1009 * MS), 0);
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 1010 * MS), sizeof FRAME);
    ck_assert_mem_eq(buf, FRAME, sizeof FRAME);
    ck_assert_uint_eq(f.c.injected[SIM_FAULT_SILENCE], 1);
}
END_TEST

START_TEST(test_direction_limits)
{
    uint8_t buf[64];
    sim_fault f;
    begin(&f, 3, "flip rate=1 dir=to-meter", 0);
    tx_frame(&f, buf, sizeof buf, 0);
    ck_assert_mem_eq(buf, FRAME, sizeof FRAME); /* responses untouched */
    memcpy(buf, FRAME, sizeof FRAME);
    sim_fault_rx(&f, buf, sizeof FRAME, sizeof buf, 0);
    for (size_t i = 0; i < sizeof FRAME; i++)
        ck_assert_uint_eq(buf[i], (uint8_t)~FRAME[i]); /* every bit of the requests */

    sim_fault_spec s;
    char err[256];
    ck_assert_int_eq(sim_fault_spec_parse(&s, "truncate dir=to-meter", err, sizeof err), -1);
    ck_assert_str_eq(err, "fault truncate acts on response frames: dir must be to-module");
}
END_TEST

/* ---- frame faults ------------------------------------------------------- */
START_TEST(test_truncate_trailing_and_alerts)
{
    uint8_t buf[SIM_FAULT_FRAME_CAP];
    sim_fault f;
    begin(&f, 5, "truncate len=3", 0);
    const uint8_t alert[2] = {0, 0};
    memcpy(buf, alert, 2);
    ck_assert_uint_eq(sim_fault_tx(&f, buf, 2, sizeof buf, 0), 2); /* alerts keep their 2 bytes */
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 0), 3);
    ck_assert_mem_eq(buf, FRAME, 3);
    sim_fault_clear(&f);
    start(&f, "trailing len=4 count=1", 0);
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 0), sizeof FRAME + 4);
    ck_assert_mem_eq(buf, FRAME, sizeof FRAME);
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 0), sizeof FRAME); /* count=1 */
}
END_TEST

START_TEST(test_delay_holds_frame_until_due)
{
    uint8_t buf[SIM_FAULT_FRAME_CAP], out[SIM_FAULT_FRAME_CAP];
    sim_fault f;
    begin(&f, 5, "delay delay=700", 0);
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 100 * MS), 0);
    ck_assert_uint_eq(sim_fault_next_wake(&f, 100 * MS), 800 * MS);
    ck_assert_uint_eq(sim_fault_due(&f, SIM_DIR_TO_MODULE, 799 * MS, out, sizeof out), 0);
    ck_assert_uint_eq(sim_fault_due(&f, SIM_DIR_TO_METER, 800 * MS, out, sizeof out), 0);
    ck_assert_uint_eq(sim_fault_due(&f, SIM_DIR_TO_MODULE, 800 * MS, out, sizeof out), sizeof FRAME);
    ck_assert_mem_eq(out, FRAME, sizeof FRAME);
    ck_assert_uint_eq(sim_fault_due(&f, SIM_DIR_TO_MODULE, 900 * MS, out, sizeof out), 0);
    ck_assert_uint_eq(sim_fault_next_wake(&f, 900 * MS), UINT64_MAX);
}
END_TEST

START_TEST(test_duplicate_sends_twice)
{
    uint8_t buf[SIM_FAULT_FRAME_CAP], out[SIM_FAULT_FRAME_CAP];
    sim_fault f;
    begin(&f, 5, "duplicate delay=50 count=1", 0);
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 0), sizeof FRAME);
    ck_assert_uint_eq(sim_fault_due(&f, SIM_DIR_TO_MODULE, 50 * MS, out, sizeof out), sizeof FRAME);
    ck_assert_mem_eq(out, FRAME, sizeof FRAME);
    ck_assert_uint_eq(f.c.injected[SIM_FAULT_DUPLICATE], 1);
}
END_TEST

START_TEST(test_previous_reply_substituted)
{
    uint8_t a[] = {0x00, 0x03, 0x00, 0xAA, 0xAA}, b[] = {0x00, 0x03, 0x00, 0xBB, 0xBB};
    uint8_t buf[SIM_FAULT_FRAME_CAP];
    sim_fault f;
    begin(&f, 5, "previous", 0);
    memcpy(buf, a, sizeof a);
    ck_assert_uint_eq(sim_fault_tx(&f, buf, sizeof a, sizeof buf, 0), sizeof a); /* nothing earlier */
    ck_assert_mem_eq(buf, a, sizeof a);
    memcpy(buf, b, sizeof b);
    ck_assert_uint_eq(sim_fault_tx(&f, buf, sizeof b, sizeof buf, 1), sizeof a);
    ck_assert_mem_eq(buf, a, sizeof a); /* S14: reply n carries the data of n-1 */
    memcpy(buf, a, sizeof a);
    sim_fault_tx(&f, buf, sizeof a, sizeof buf, 2);
    ck_assert_mem_eq(buf, b, sizeof b);
}
END_TEST

START_TEST(test_stuck_line_bursts)
{
    uint8_t buf[SIM_FAULT_FRAME_CAP], out[64];
    sim_fault f;
    begin(&f, 5, "stuck level=0xff len=8 period=20", 0);
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 0), sizeof FRAME);
    for (size_t i = 0; i < sizeof FRAME; i++)
        ck_assert_uint_eq(buf[i], 0xFF); /* line held: the response reads as the level */
    ck_assert_uint_eq(sim_fault_due(&f, SIM_DIR_TO_MODULE, 0, out, sizeof out), 8);
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(out[i], 0xFF);
    ck_assert_uint_eq(sim_fault_due(&f, SIM_DIR_TO_MODULE, 10 * MS, out, sizeof out), 0);
    ck_assert_uint_eq(sim_fault_next_wake(&f, 10 * MS), 20 * MS);
    ck_assert_uint_eq(sim_fault_due(&f, SIM_DIR_TO_MODULE, 20 * MS, out, sizeof out), 8);
    ck_assert(!sim_fault_break_active(&f, SIM_DIR_TO_MODULE));
    sim_fault_clear(&f);
    start(&f, "stuck level=break", 0);
    ck_assert(sim_fault_break_active(&f, SIM_DIR_TO_MODULE));
    ck_assert_uint_eq(sim_fault_due(&f, SIM_DIR_TO_MODULE, 0, out, sizeof out), 16);
    ck_assert_uint_eq(out[0], 0x00);
    /* to-meter: the meter hears the level whatever the module sends */
    sim_fault_clear(&f);
    start(&f, "stuck level=0xff dir=to-meter", 0);
    memcpy(buf, FRAME, sizeof FRAME);
    ck_assert_uint_eq(sim_fault_rx(&f, buf, sizeof FRAME, sizeof buf, 0), sizeof FRAME);
    ck_assert_uint_eq(buf[0], 0xFF);
    ck_assert_uint_eq(sim_fault_due(&f, SIM_DIR_TO_MODULE, 0, out, sizeof out), 0);
    ck_assert_uint_eq(sim_fault_due(&f, SIM_DIR_TO_METER, 0, out, sizeof out), 16);
}
END_TEST

/* ---- transceiver models ------------------------------------------------- */
START_TEST(test_dead_blocks_both_directions)
{
    uint8_t buf[SIM_FAULT_FRAME_CAP];
    sim_fault f;
    begin(&f, 5, "dead", 0);
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 0), 0);
    memcpy(buf, FRAME, sizeof FRAME);
    ck_assert_uint_eq(sim_fault_rx(&f, buf, sizeof FRAME, sizeof buf, 0), 0);
    ck_assert_int_eq(sim_fault_stop(&f, "dead"), 1);
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 0), sizeof FRAME);
}
END_TEST

START_TEST(test_latchup_clears_only_with_long_off)
{
    uint8_t buf[SIM_FAULT_FRAME_CAP];
    sim_fault f;
    begin(&f, 9, "latchup off=1000 mode=silence", 0);
    ck_assert(sim_fault_latched(&f));
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 0), 0);
    ck_assert_uint_eq(sim_fault_rx(&f, buf, sizeof FRAME, sizeof buf, 0), 0);
    /* 999 ms off: counted as short, still latched */
    sim_fault_line_event(&f, SIM_LINE_POWER, false, 1000 * MS);
    sim_fault_line_event(&f, SIM_LINE_POWER, true, 1999 * MS);
    ck_assert(sim_fault_latched(&f));
    ck_assert_uint_eq(f.c.power_cycles_short, 1);
    ck_assert_uint_eq(f.c.power_cycles_long, 0);
    /* exactly T: cleared (module-behaviour S09: off >= T) */
    sim_fault_line_event(&f, SIM_LINE_POWER, false, 3000 * MS);
    sim_fault_line_event(&f, SIM_LINE_POWER, true, 4000 * MS);
    ck_assert(!sim_fault_latched(&f));
    ck_assert_uint_eq(f.c.power_cycles_long, 1);
    ck_assert_uint_eq(f.c.latchups_cleared, 1);
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 4001 * MS), sizeof FRAME);
    ck_assert_mem_eq(buf, FRAME, sizeof FRAME);
}
END_TEST

START_TEST(test_latchup_by_power_ignores_enable)
{
    sim_fault f;
    begin(&f, 9, "latchup off=500 by=power", 0);
    sim_fault_line_event(&f, SIM_LINE_ENABLE, false, 0);
    sim_fault_line_event(&f, SIM_LINE_ENABLE, true, 2000 * MS);
    ck_assert(sim_fault_latched(&f));
    ck_assert_uint_eq(f.c.enable_cycles_long, 1);
    sim_fault_line_event(&f, SIM_LINE_POWER, false, 3000 * MS);
    sim_fault_line_event(&f, SIM_LINE_POWER, true, 3500 * MS);
    ck_assert(!sim_fault_latched(&f));
}
END_TEST

START_TEST(test_latchup_after_frames_garbage_and_recover_p0)
{
    uint8_t buf[SIM_FAULT_FRAME_CAP];
    sim_fault f;
    begin(&f, 11, "latchup after_frames=2 recover_p=0", 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 0), sizeof FRAME);
        ck_assert_mem_eq(buf, FRAME, sizeof FRAME);
    }
    ck_assert(sim_fault_latched(&f));
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 0), sizeof FRAME);
    ck_assert_int_ne(memcmp(buf, FRAME, sizeof FRAME), 0); /* garbage of the same length */
    sim_fault_line_event(&f, SIM_LINE_POWER, false, 0);
    sim_fault_line_event(&f, SIM_LINE_POWER, true, 5000 * MS);
    ck_assert(sim_fault_latched(&f));
    ck_assert_uint_eq(f.c.latchup_recover_failed, 1);
    ck_assert_uint_eq(f.c.latchups, 1);
}
END_TEST

/* Noise toward the module while latched in garbage mode (S09): rate x time
 * bytes on the burst clock, of the pattern; random noise repeats per seed;
 * none in silence mode, with noise=0, or once the latch-up is cleared. */
static size_t noise_over(sim_fault *f, uint64_t from_us, uint64_t to_us, uint8_t *all, size_t cap)
{
    size_t total = 0;
    for (uint64_t t = from_us; t < to_us; t += MS) {
        uint8_t b[256];
        size_t k;
        while ((k = sim_fault_due(f, SIM_DIR_TO_MODULE, t, b, sizeof b)) > 0) {
            if (all && total + k <= cap)
                memcpy(all + total, b, k);
            total += k;
        }
    }
    return total;
}

START_TEST(test_latchup_garbage_sends_noise_toward_the_module)
{
    sim_fault f, g;
    uint8_t a[512], b[512];
    begin(&f, 5, "latchup off=1000", 0);
    ck_assert(sim_fault_latched(&f));
    ck_assert_uint_eq(sim_fault_next_wake(&f, 0), 0); /* the first burst at once */
    size_t n = noise_over(&f, 0, 2000 * MS, a, sizeof a);
    ck_assert_uint_ge(n, 198);                        /* default 100 bytes/s over 2 s */
    ck_assert_uint_le(n, 202);
    ck_assert_uint_eq(f.c.noise_bytes, n);
    begin(&g, 5, "latchup off=1000", 0);
    ck_assert_uint_eq(noise_over(&g, 0, 2000 * MS, b, sizeof b), n);
    ck_assert_mem_eq(a, b, n);                         /* seeded: the same noise again */
    /* the module's power cycle clears the latch-up and the noise with it */
    sim_fault_line_event(&f, SIM_LINE_POWER, false, 2000 * MS);
    sim_fault_line_event(&f, SIM_LINE_POWER, true, 3000 * MS);
    ck_assert(!sim_fault_latched(&f));
    ck_assert_uint_eq(noise_over(&f, 3000 * MS, 4000 * MS, NULL, 0), 0);
    ck_assert_uint_eq(sim_fault_next_wake(&f, 3000 * MS), UINT64_MAX);

    begin(&f, 5, "latchup noise=10 pattern=0x55", 0);  /* slow: one byte per 100 ms */
    n = noise_over(&f, 0, 1000 * MS, a, sizeof a);
    ck_assert_uint_eq(n, 10);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(a[i], 0x55);
    begin(&f, 5, "latchup noise=0", 0);
    ck_assert_uint_eq(noise_over(&f, 0, 500 * MS, NULL, 0), 0);
    begin(&f, 5, "latchup mode=silence", 0);
    ck_assert_uint_eq(noise_over(&f, 0, 500 * MS, NULL, 0), 0);
    /* the parameters come from the spec table: ranges and names are checked */
    sim_fault_spec sp;
    char err[200];
    ck_assert_int_eq(sim_fault_spec_parse(&sp, "latchup noise=961", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "noise"));
    ck_assert_int_eq(sim_fault_spec_parse(&sp, "latchup pattern=0x12", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "random|0x00|0xff|0x55"));
    ck_assert_int_eq(sim_fault_spec_parse(&sp, "flip noise=5", err, sizeof err), -1);
    ck_assert_int_eq(sim_fault_spec_parse(&sp, "latchup noise=300 pattern=0xFF", err, sizeof err), 0);
    char txt[200];
    sim_fault_spec_format(&sp, txt, sizeof txt);
    ck_assert_ptr_nonnull(strstr(txt, "noise=300 pattern=0xff"));
}
END_TEST

START_TEST(test_latchup_at_time)
{
    sim_fault f;
    begin(&f, 11, "latchup at=2000", 1000 * MS);
    ck_assert(!sim_fault_latched(&f));
    ck_assert_uint_eq(sim_fault_next_wake(&f, 1000 * MS), 3000 * MS);
    ck_assert_uint_eq(sim_fault_active(&f, 3000 * MS), 1);
    ck_assert(sim_fault_latched(&f));
}
END_TEST

/* Spec texts the family refuses, each with its exact message: one row
 * each, walked by test_spec_errors_are_exact. */
static const struct {
    const char *text, *err;
} BAD_FAULT_SPECS[] = {
    {"zap", "unknown fault \"zap\""},
    {"flip rate=2", "fault flip: rate must be a probability 0..1, got \"2\""},
    {"flip p=0.5", "fault flip takes no parameter \"p\""},
    {"delay delay=-5", "fault delay: delay must be a whole number 0..4294967295, got \"-5\""},
    {"stuck level=0x7f", "fault stuck: bad value \"0x7f\" for level"},
    {"drop bogus=1", "unknown parameter \"bogus\" for fault drop"},
    {"drop 0.5", "fault drop: expected key=value, got \"0.5\""},
};

START_TEST(test_spec_errors_are_exact)
{
    sim_fault_spec s;
    char err[256];
    ck_assert_int_eq(sim_fault_spec_parse(&s, BAD_FAULT_SPECS[_i].text, err, sizeof err), -1);
    ck_assert_str_eq(err, BAD_FAULT_SPECS[_i].err);
}
END_TEST


START_TEST(test_list_and_stop)
{
    sim_fault f;
    sim_fault_init(&f, 1);
    int a = start(&f, "flip rate=0.01 dir=to-module count=5", 0);
    start(&f, "delay delay=600", 0);
    char out[1024];
    sim_fault_list(&f, 2000 * MS, out, sizeof out);
    ck_assert_ptr_nonnull(strstr(out, "flip dir=to-module rate=0.01 count=5 injected=0 age_ms=2000"));
    ck_assert_ptr_nonnull(strstr(out, "delay dir=to-module p=1 delay=600"));
    ck_assert_ptr_nonnull(strstr(out, "transceiver power=on enable=on latched=no"));
    char id[16];
    snprintf(id, sizeof id, "%d", a);
    ck_assert_int_eq(sim_fault_stop(&f, id), 1);
    ck_assert_uint_eq(sim_fault_active(&f, 0), 1);
    ck_assert_int_eq(sim_fault_stop(&f, "all"), 1);
    ck_assert_uint_eq(sim_fault_active(&f, 0), 0);
}
END_TEST

START_TEST(test_junk_inserts_bytes)
{
    uint8_t buf[SIM_FAULT_FRAME_CAP];
    sim_fault f;
    begin(&f, 1, "junk p=1 len=2 count=1 dir=to-module", 0);
    ck_assert_uint_eq(tx_frame(&f, buf, sizeof buf, 0), sizeof FRAME + 2);
    ck_assert_mem_eq(buf + 2, FRAME, sizeof FRAME); /* inserted before the first byte */
}
END_TEST

/* ---- protocol faults ---------------------------------------------------- */
static void pstart(sim_pfault *pf, const char *text, uint64_t now_us)
{
    sim_pfault_spec s;
    parse_spec(sim_pfault_family(), &s, text);
    char err[256] = "";
    started(sim_pfault_start(pf, &s, now_us, err, sizeof err), err);
}

static sim_meter_fault_request read_req(mep_request *r, uint16_t table, uint8_t code)
{
    memset(r, 0, sizeof *r);
    r->code = code;
    r->table = table;
    r->count = 13;
    r->has_count = 1;
    sim_meter_fault_request rq = {NULL, 0, r, 0x1000};
    return rq;
}

/* A protocol-fault set (seed 1) with one fault started at 0, the request
 * it sees (read_req) and the result of the last response. */
typedef struct {
    sim_pfault pf;
    sim_pf_result out;
    mep_request r;
    sim_meter_fault_request rq;
} pf_case;

/* A protocol-fault set on seed 1 with one fault started at 0. */
static void pbegin(sim_pfault *pf, const char *text)
{
    sim_pfault_init(pf, 1);
    pstart(pf, text, 0);
}

static void pf_begin(pf_case *c, const char *text)
{
    memset(c, 0, sizeof *c);
    pbegin(&c->pf, text);
}

/* The meter's bare response (n bytes) to c->rq at now_ms. */
static sim_meter_fault_action pf_respond(pf_case *c, const uint8_t *bare, size_t n, uint64_t now_ms)
{
    return sim_pfault_on_response(&c->pf, &c->rq, bare, n, now_ms, &c->out);
}

START_TEST(test_pfault_perpetual_seq_and_last)
{
    pf_case c;
    pf_begin(&c, "seq-always");
    c.rq = read_req(&c.r, 23, MEP_REQ_PARTIAL_READ);
    const uint8_t ok[] = {0x00, 0x00, 0x01, 0x42};
    ck_assert_int_eq(pf_respond(&c, ok, sizeof ok, 0), SIM_METER_FAULT_REPLACE_BARE);
    const uint8_t want[] = {0x0C, 0x00, 0x00, 0x10, 0x00};
    ck_assert_uint_eq(c.out.len, 5);
    ck_assert_mem_eq(c.out.bytes, want, 5);
    ck_assert(!c.out.unauthenticated);

    sim_pfault_clear(&c.pf);
    pstart(&c.pf, "seq-last", 0);
    const uint8_t seq[] = {0x0C, 0xCE, 0xAC, 0xE9, 0xE2};
    ck_assert_int_eq(pf_respond(&c, seq, sizeof seq, 0), SIM_METER_FAULT_REPLACE_BARE);
    const uint8_t last[] = {0x0C, 0xCE, 0xAC, 0xE9, 0xE1}; /* S04: E-1 */
    ck_assert_mem_eq(c.out.bytes, last, 5);
    ck_assert_int_eq(pf_respond(&c, ok, sizeof ok, 0), SIM_METER_FAULT_PASS);
}
END_TEST

START_TEST(test_pfault_auth_first_only)
{
    pf_case c;
    pf_begin(&c, "auth first=1");
    c.rq = read_req(&c.r, 52, MEP_REQ_FULL_READ);
    const uint8_t ok[] = {0x00, 0x00, 0x00};
    ck_assert_int_eq(pf_respond(&c, ok, sizeof ok, 0), SIM_METER_FAULT_REPLACE_BARE);
    ck_assert(c.out.unauthenticated);
    ck_assert_uint_eq(c.out.len, 1);
    ck_assert_uint_eq(c.out.bytes[0], 0x0B);
    ck_assert_int_eq(pf_respond(&c, ok, sizeof ok, 0), SIM_METER_FAULT_PASS);
}
END_TEST

START_TEST(test_pfault_table_error_on_chosen_table)
{
    pf_case c;
    pf_begin(&c, "table-error table=BT07 code=4 ops=write count=1");
    const uint8_t ok[] = {0x00};
    c.rq = read_req(&c.r, 7, MEP_REQ_FULL_READ);
    ck_assert_int_eq(pf_respond(&c, ok, 1, 0), SIM_METER_FAULT_PASS); /* a read */
    c.rq = read_req(&c.r, 8, MEP_REQ_FULL_WRITE);
    ck_assert_int_eq(pf_respond(&c, ok, 1, 0), SIM_METER_FAULT_PASS); /* other table */
    c.rq = read_req(&c.r, 7, MEP_REQ_FULL_WRITE);
    ck_assert_int_eq(pf_respond(&c, ok, 1, 0), SIM_METER_FAULT_REPLACE_BARE);
    ck_assert_uint_eq(c.out.bytes[0], 0x04);
    ck_assert_int_eq(pf_respond(&c, ok, 1, 0), SIM_METER_FAULT_PASS); /* count=1 */
    ck_assert_uint_eq(c.pf.c.worn_off, 1);
}
END_TEST

START_TEST(test_pfault_short_and_oversize)
{
    pf_case c;
    uint8_t bare[3 + 13];
    bare[0] = 0;
    bare[1] = 0;
    bare[2] = 13;
    for (int i = 0; i < 13; i++)
        bare[3 + i] = (uint8_t)(0x10 + i);
    pf_begin(&c, "short table=BT23 bytes=5");
    c.rq = read_req(&c.r, 23, MEP_REQ_PARTIAL_READ);
    ck_assert_int_eq(pf_respond(&c, bare, sizeof bare, 0), SIM_METER_FAULT_REPLACE_BARE);
    const uint8_t want[] = {0x00, 0x00, 0x05, 0x10, 0x11, 0x12, 0x13, 0x14};
    ck_assert_uint_eq(c.out.len, sizeof want);
    ck_assert_mem_eq(c.out.bytes, want, sizeof want);
    sim_pfault_clear(&c.pf);
    pstart(&c.pf, "oversize size=600", 0);
    ck_assert_int_eq(pf_respond(&c, bare, sizeof bare, 0), SIM_METER_FAULT_REPLACE_BARE);
    ck_assert_uint_eq(c.out.len, 603);
    ck_assert_uint_eq(mep_get_be16(c.out.bytes + 1), 600);
    ck_assert_mem_eq(c.out.bytes + 3, bare + 3, 13);
    /* a read the meter refused as too large (0x04) goes out anyway */
    const uint8_t onp[] = {0x04};
    c.rq = read_req(&c.r, 23, MEP_REQ_FULL_READ);
    ck_assert_int_eq(pf_respond(&c, onp, 1, 0), SIM_METER_FAULT_REPLACE_BARE);
    ck_assert_uint_eq(c.out.bytes[0], 0x00);
    ck_assert_uint_eq(c.out.len, 603);
    c.rq = read_req(&c.r, 23, MEP_REQ_FULL_WRITE);
    ck_assert_int_eq(pf_respond(&c, onp, 1, 0), SIM_METER_FAULT_PASS);
}
END_TEST

START_TEST(test_pfault_busy_then_answers)
{
    pf_case c;
    pf_begin(&c, "busy duration=3000");
    c.rq = read_req(&c.r, 23, MEP_REQ_FULL_READ);
    const uint8_t ok[] = {0x00, 0x00, 0x00};
    ck_assert_int_eq(pf_respond(&c, ok, 3, 2999), SIM_METER_FAULT_SUPPRESS);
    ck_assert_int_eq(pf_respond(&c, ok, 3, 3000), SIM_METER_FAULT_PASS);
}
END_TEST

START_TEST(test_pfault_echo_returns_request)
{
    pf_case c;
    const uint8_t frame[] = {0x00, 0x11, 0x30, 0x00, 0x34, 0x02, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    pf_begin(&c, "echo");
    c.rq = read_req(&c.r, 52, MEP_REQ_FULL_READ);
    c.rq.frame = frame;
    c.rq.frame_len = sizeof frame;
    ck_assert_int_eq(pf_respond(&c, frame, 1, 0), SIM_METER_FAULT_REPLACE_FRAME);
    ck_assert_uint_eq(c.out.len, sizeof frame);
    ck_assert_mem_eq(c.out.bytes, frame, sizeof frame);
}
END_TEST

START_TEST(test_pfault_alert_split)
{
    sim_pfault pf;
    uint8_t buf[64];
    pbegin(&pf, "alert-split gap_us=2000");
    for (int i = 0; i < 50; i++) {
        memcpy(buf, FRAME, sizeof FRAME);
        ck_assert_uint_eq(sim_pfault_tx(&pf, buf, sizeof FRAME, sizeof buf, 0), sizeof FRAME + 2);
        ck_assert_uint_eq(buf[0], 0);
        ck_assert_uint_eq(buf[1], 0);
        ck_assert_mem_eq(buf + 2, FRAME, sizeof FRAME);
        size_t at;
        uint32_t us;
        ck_assert(sim_pfault_tx_pause(&pf, &at, &us));
        ck_assert_uint_ge(at, 3);                   /* inside the reply */
        ck_assert_uint_lt(at, sizeof FRAME + 2);
        ck_assert_uint_le(us, 2000);
    }
    uint8_t alert[4] = {0, 0};
    ck_assert_uint_eq(sim_pfault_tx(&pf, alert, 2, sizeof alert, 0), 2); /* an alert stays one */
    size_t at;
    uint32_t us;
    ck_assert(!sim_pfault_tx_pause(&pf, &at, &us));
}
END_TEST

START_TEST(test_pfault_storm_and_zero_stream_rates)
{
    sim_pfault pf;
    uint8_t out[256];
    pbegin(&pf, "alert-storm period=10");
    size_t bytes = 0;
    for (uint64_t t = 0; t < 1000 * MS; t += MS) /* every ms for 1 s */
        bytes += sim_pfault_due(&pf, t, out, sizeof out);
    ck_assert_uint_eq(bytes, 2 * 100); /* pairs at 0, 10, ..., 990 ms */
    for (size_t i = 0; i < 2; i++)
        ck_assert_uint_eq(out[i], 0);
    ck_assert_uint_eq(sim_pfault_next_wake(&pf, 999 * MS), 1000 * MS);

    sim_pfault_clear(&pf);
    pstart(&pf, "zero-stream rate=960 count=500", 0);
    bytes = 0;
    for (uint64_t t = 0; t < 2000 * MS; t += 5 * MS)
        bytes += sim_pfault_due(&pf, t, out, sizeof out);
    ck_assert_uint_eq(bytes, 500); /* count limit */
}
END_TEST

START_TEST(test_pfault_strings_patch_identity)
{
    sim_pfault pf;
    pbegin(&pf, "strings variant=quote");
    uint8_t bt01[24];
    memset(bt01, 'x', sizeof bt01);
    sim_pfault_on_table_read(&pf, 1, 0, bt01, sizeof bt01, 0);
    ck_assert_mem_eq(bt01 + 4, "Q\"MODEL\"", 8);
    ck_assert_uint_eq(bt01[3], 'x');
    ck_assert_uint_eq(bt01[12], 'x');
    uint8_t et03[4];
    memset(et03, 'x', sizeof et03);
    sim_pfault_on_table_read(&pf, MEP_ET(3), 2, et03, sizeof et03, 0); /* partial window */
    ck_assert_mem_eq(et03, "\"471", 4);
    sim_pfault_spec s;
    char err[256];
    ck_assert_int_eq(sim_pfault_spec_parse(&s, "strings variant=emoji", err, sizeof err), -1);
    ck_assert_str_eq(err, "fault strings: bad variant \"emoji\" (quote|backslash|ff|nul|spaces|mixed)");
    ck_assert_int_eq(sim_pfault_spec_parse(&s, "table-error table=XT9", err, sizeof err), -1);
    ck_assert_str_eq(err, "fault table-error: bad table \"XT9\" (want BTn, ETn or a number)");
}
END_TEST

/* The family tables drive one spec engine (sim_text): for every kind of
 * every family, the defaults written out parse back to the same text,
 * every parameter the kind takes is accepted with the value format wrote,
 * and a parameter of another kind is refused with the table's message. */
START_TEST(test_family_tables_round_trip)
{
    const sim_spec_family *fams[] = {sim_fault_family(), sim_pfault_family(), sim_glitch_family()};
    for (size_t f = 0; f < 3; f++) {
        const sim_spec_family *fam = fams[f];
        for (size_t k = 0; k < fam->n_kinds; k++) {
            const sim_spec_kind *kd = sim_spec_kind_at(fam, (int)k);
            _Alignas(max_align_t) unsigned char a[SIM_SPEC_SPEC_MAX_SIZE], b[SIM_SPEC_SPEC_MAX_SIZE];
            char t1[512], t2[512], err[256];
            ck_assert_msg(sim_spec_spec_parse(fam, a, kd->name, err, sizeof err) == 0, "%s: %s", kd->name, err);
            sim_spec_spec_format(fam, (int)k, a, t1, sizeof t1);
            ck_assert_msg(strncmp(t1, kd->name, strlen(kd->name)) == 0, "%s formats as \"%s\"", kd->name, t1);
            ck_assert_msg(sim_spec_spec_parse(fam, b, t1, err, sizeof err) == 0, "\"%s\": %s", t1, err);
            sim_spec_spec_format(fam, (int)k, b, t2, sizeof t2);
            ck_assert_str_eq(t1, t2);
            for (size_t i = 0; i < fam->n_params; i++) {
                const char *key = fam->params[i].key;
                int r = sim_spec_spec_set(fam, (int)k, b, key, "0", err, sizeof err);
                if (kd->params & (1u << i))
                    continue; /* taken: "0" may be out of range, but never "takes no parameter" */
                ck_assert_int_eq(r, -1);
                char want[160];
                snprintf(want, sizeof want, "%s %s takes no parameter \"%s\"", fam->what, kd->name, key);
                ck_assert_str_eq(err, want);
            }
        }
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fault");
    TCase *tc = tcase_create("line");
    tcase_add_test(tc, test_flip_rate_within_bounds_for_seed);
    tcase_add_test(tc, test_drop_probability_within_bounds);
    tcase_add_test(tc, test_count_limit_wears_off);
    tcase_add_test(tc, test_duration_wears_off);
    tcase_add_test(tc, test_direction_limits);
    tcase_add_test(tc, test_truncate_trailing_and_alerts);
    tcase_add_test(tc, test_delay_holds_frame_until_due);
    tcase_add_test(tc, test_duplicate_sends_twice);
    tcase_add_test(tc, test_previous_reply_substituted);
    tcase_add_test(tc, test_stuck_line_bursts);
    tcase_add_test(tc, test_junk_inserts_bytes);
    tcase_add_loop_test(tc, test_spec_errors_are_exact, 0,
                        (int)(sizeof BAD_FAULT_SPECS / sizeof BAD_FAULT_SPECS[0]));
    tcase_add_test(tc, test_list_and_stop);
    tcase_add_test(tc, test_family_tables_round_trip);
    suite_add_tcase(s, tc);
    tc = tcase_create("transceiver");
    tcase_add_test(tc, test_dead_blocks_both_directions);
    tcase_add_test(tc, test_latchup_clears_only_with_long_off);
    tcase_add_test(tc, test_latchup_by_power_ignores_enable);
    tcase_add_test(tc, test_latchup_after_frames_garbage_and_recover_p0);
    tcase_add_test(tc, test_latchup_at_time);
    tcase_add_test(tc, test_latchup_garbage_sends_noise_toward_the_module);
    suite_add_tcase(s, tc);
    tc = tcase_create("protocol");
    tcase_add_test(tc, test_pfault_perpetual_seq_and_last);
    tcase_add_test(tc, test_pfault_auth_first_only);
    tcase_add_test(tc, test_pfault_table_error_on_chosen_table);
    tcase_add_test(tc, test_pfault_short_and_oversize);
    tcase_add_test(tc, test_pfault_busy_then_answers);
    tcase_add_test(tc, test_pfault_echo_returns_request);
    tcase_add_test(tc, test_pfault_alert_split);
    tcase_add_test(tc, test_pfault_storm_and_zero_stream_rates);
    tcase_add_test(tc, test_pfault_strings_patch_identity);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(suite()); }
