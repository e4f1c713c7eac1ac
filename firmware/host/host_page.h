/* host_page: mepmod's dashboard page (`/`) and the history it draws.
 *
 * Owns: the page (HTML, CSS, script: one document, no external assets; it
 * polls /getDashDataWS for the readings and /dashboard.json for the rest),
 * a fixed ring of power/energy samples for the last hour, the last status
 * changes with their times, and the /dashboard.json document (that history
 * plus the present values the contract document lacks: power factors,
 * reactive and apparent power). History is recorded only from served
 * readings (host_dash_ready), so the trend never shows zeros or stale values
 * as live (docs/module-behaviour.md S06).
 */
#ifndef HOST_PAGE_H
#define HOST_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mepc.h"

#define HOST_PAGE_TREND_STEP_MS 10000u  /* one sample per 10 s ... */
#define HOST_PAGE_TREND_N 360u          /* ... for the last hour */
#define HOST_PAGE_CHANGES_N 16u         /* status changes kept */

typedef struct {
    int64_t unix_s;
    int32_t fwd_w, rev_w;
    int64_t fwd_wh, rev_wh;
} host_page_sample;

typedef struct {
    int64_t unix_s;
    mepc_status status;
    char text[64];
} host_page_change;

typedef struct {
    host_page_sample trend[HOST_PAGE_TREND_N];    /* ring, oldest at trend_head once full */
    size_t trend_n, trend_head;
    uint32_t last_sample_ms;
    host_page_change changes[HOST_PAGE_CHANGES_N]; /* ring, likewise */
    size_t changes_n, changes_head;
    bool have_status;
    mepc_status status;
} host_page_history;

extern const char host_page_html[];

/* A zeroed host_page_history is an empty one. */
/* Note the readings at now_ms (module clock) and unix_s (wall clock): a
 * status change at once, a trend sample at most every HOST_PAGE_TREND_STEP_MS
 * and only while readings are served. Call whenever the readings change. */
void host_page_record(host_page_history *h, const mepc_readings *r, uint32_t now_ms, int64_t unix_s);
/* The /dashboard.json body (caller frees; NULL if out of memory):
 * {"status_history":[{"t","status","text"}...] oldest first,
 *  "trend":{"step_s","points":[[t, fwd_w, rev_w, fwd_wh, rev_wh]...]} oldest first,
 *  "present":{"L1_PF_Fac"... "ImportReactive_VAr", "ExportReactive_VAr", "Apparent_VA"}
 *  or null while readings are not served,
 *  "phases": the meter's phase count (mepc_disc_phases), null while not known:
 *  the page shows no L2/L3 rows for a single-phase meter}. */
char *host_page_json(const host_page_history *h, const mepc_readings *r, uint8_t phases, uint32_t now_ms);

#endif
