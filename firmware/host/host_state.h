/* host_state: mepmod's state file (--state-dir DIR), which keeps the core's
 * energy floor across restarts (mepc_hal.store_load / store_save).
 *
 * Owns: the file DIR/mepmod-floor.state and its format, checked at start and
 * written atomically. The blob inside is the core's (opaque here: the core
 * checks its magic, version and meter serial, and ignores a floor saved for
 * another meter with a log line). The file is text, three lines:
 *     mepmod-floor 1
 *     blob <hex bytes>
 *     crc32 <8 hex digits of the blob bytes>
 * Anything else is corrupt: host_state_open fails with a message naming the
 * file and the problem, and mepmod exits 2 before anything starts (a module
 * that silently dropped its floor could publish a fall, docs/module-behaviour.md
 * 8.4; the operator removes the file to start without one).
 * A save writes DIR/mepmod-floor.state.tmp, fsyncs it, renames it over the
 * file and fsyncs DIR, so a crash leaves the old file or the new one. The
 * core bounds the write rate (mepc_config.store_period_ms).
 */
#ifndef HOST_STATE_H
#define HOST_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOST_STATE_FILE "mepmod-floor.state"
#define HOST_STATE_BLOB_MAX 256

typedef struct {
    char dir[512];
    char path[600];
    char tmp[608];
    bool have_blob;              /* a valid file was loaded at open */
    uint8_t blob[HOST_STATE_BLOB_MAX];
    size_t blob_n;
    unsigned saves, save_failures;
    char last_error[704];        /* the last save failure, for the log */
} host_state;

/* Check DIR (an existing, writable directory) and load the file if it is
 * there. false: err names the problem (bad directory, corrupt file). */
bool host_state_open(host_state *s, const char *dir, char *err, size_t errlen);
/* mepc_hal.store_load: the loaded blob if its size is len. */
bool host_state_load(host_state *s, void *blob, size_t len);
/* mepc_hal.store_save: write the blob atomically. false: last_error says why. */
bool host_state_save(host_state *s, const void *blob, size_t len);

#endif
