/* host_state: mepmod's state file (see host_state.h). */
#include "host_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_HEADER "mepmod-floor 1"

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Parse the file text; false with err set if it is not exactly the format. */
static bool parse(host_state *s, const char *text, size_t n, char *err, size_t errlen)
{
    const char *p = text, *end = text + n;
    size_t hl = strlen(STATE_HEADER);
    if ((size_t)(end - p) < hl + 1 || memcmp(p, STATE_HEADER "\n", hl + 1) != 0) {
        snprintf(err, errlen, "first line is not '%s'", STATE_HEADER);
        return false;
    }
    p += hl + 1;
    if (end - p < 5 || memcmp(p, "blob ", 5) != 0) {
        snprintf(err, errlen, "second line is not 'blob <hex>'");
        return false;
    }
    p += 5;
    size_t k = 0;
    while (p + 1 < end && *p != '\n') {
        int hi = hexval((unsigned char)p[0]), lo = hexval((unsigned char)p[1]);
        if (hi < 0 || lo < 0 || k >= sizeof s->blob) {
            snprintf(err, errlen, "blob: bad hex or longer than %d bytes", HOST_STATE_BLOB_MAX);
            return false;
        }
        s->blob[k++] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    if (p >= end || *p != '\n' || k == 0) {
        snprintf(err, errlen, "blob: empty, odd number of hex digits or no end of line");
        return false;
    }
    p++;
    unsigned crc;
    char tail[4];
    if (end - p != 15 || sscanf(p, "crc32 %8x%1[\n]", &crc, tail) != 2) {
        snprintf(err, errlen, "third line is not 'crc32 <8 hex digits>'");
        return false;
    }
    if (crc != crc32_of(s->blob, k)) {
        snprintf(err, errlen, "CRC mismatch (file damaged)");
        return false;
    }
    s->blob_n = k;
    s->have_blob = true;
    return true;
}

bool host_state_open(host_state *s, const char *dir, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    struct stat st;
    if (!*dir || strlen(dir) >= sizeof s->dir) {
        snprintf(err, errlen, "--state-dir: empty or too long path");
        return false;
    }
    if (stat(dir, &st) != 0) {
        snprintf(err, errlen, "--state-dir %s: %s (create the directory first)", dir, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "--state-dir %s: not a directory", dir);
        return false;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "--state-dir %s: not writable: %s", dir, strerror(errno));
        return false;
    }
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->path, sizeof s->path, "%s/%s", dir, HOST_STATE_FILE);
    snprintf(s->tmp, sizeof s->tmp, "%s.tmp", s->path);
    FILE *f = fopen(s->path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return true;  /* first run: no floor */
        snprintf(err, errlen, "state file %s: %s", s->path, strerror(errno));
        return false;
    }
    char text[1024];
    size_t n = fread(text, 1, sizeof text, f);
    bool too_long = n == sizeof text;
    fclose(f);
    char why[160];
    if (too_long) {
        snprintf(err, errlen, "state file %s is corrupt: longer than %zu bytes (remove it to start without a floor)",
                 s->path, sizeof text - 1);
        return false;
    }
    if (!parse(s, text, n, why, sizeof why)) {
        s->have_blob = false;
        snprintf(err, errlen, "state file %s is corrupt: %s (remove it to start without a floor)", s->path, why);
        return false;
    }
    return true;
}

bool host_state_load(host_state *s, void *blob, size_t len)
{
    if (!s->have_blob || s->blob_n != len)
        return false;
    memcpy(blob, s->blob, len);
    return true;
}

static bool fail(host_state *s, const char *what)
{
    snprintf(s->last_error, sizeof s->last_error, "%s: %s", what, strerror(errno));
    s->save_failures++;
    return false;
}

bool host_state_save(host_state *s, const void *blob, size_t len)
{
    if (len == 0 || len > HOST_STATE_BLOB_MAX) {
        errno = EINVAL;
        return fail(s, "blob size");
    }
    char text[16 + 6 + 2 * HOST_STATE_BLOB_MAX + 16];
    size_t n = (size_t)snprintf(text, sizeof text, "%s\nblob ", STATE_HEADER);
    const uint8_t *b = blob;
    for (size_t i = 0; i < len; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%02x", b[i]);
    n += (size_t)snprintf(text + n, sizeof text - n, "\ncrc32 %08x\n", (unsigned)crc32_of(b, len));
    int fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(s, s->tmp);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(s->tmp);
            return fail(s, "write");
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        close(fd);
        unlink(s->tmp);
        return fail(s, "fsync");
    }
    close(fd);
    if (rename(s->tmp, s->path) != 0) {
        unlink(s->tmp);
        return fail(s, "rename");
    }
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);  /* the rename itself survives a power loss */
        close(dfd);
    }
    s->saves++;
    return true;
}
