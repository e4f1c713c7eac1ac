/* cosim_out: output files of a co-simulation; see cosim_out.h. */
#include "cosim_out.h"
#include "host_dash.h"

#include <jansson.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static FILE *open_in(cosim_out *o, const char *name, char *err, size_t errlen)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", o->dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        snprintf(err, errlen, "--out: cannot write %s: %s", path, strerror(errno));
    return f;
}

int cosim_out_open(cosim_out *o, const char *dir, bool published, bool capture_wire, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    if (strlen(dir) >= sizeof o->dir - 32) {
        snprintf(err, errlen, "--out: path too long");
        return -1;
    }
    snprintf(o->dir, sizeof o->dir, "%s", dir);
    /* like mkdir -p: every missing parent too */
    char part[sizeof o->dir];
    for (size_t i = 1; i <= strlen(o->dir); i++) {
        if (o->dir[i] != '/' && o->dir[i] != '\0')
            continue;
        memcpy(part, o->dir, i);
        part[i] = '\0';
        if (mkdir(part, 0777) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "--out: cannot create %s: %s", part, strerror(errno));
            return -1;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "--out: %s is not a directory", dir);
        return -1;
    }
    if (published && !(o->published = open_in(o, "published.jsonl", err, errlen)))
        return -1;
    if (capture_wire && !(o->wire = open_in(o, "wire.jsonl", err, errlen))) {
        if (o->published)
            fclose(o->published);
        o->published = NULL;
        return -1;
    }
    return 0;
}

void cosim_out_iso_utc(int64_t utc_ms, char out[32])
{
    time_t t = (time_t)(utc_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof tm);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
             tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100, (int)(utc_ms % 1000));
}

void cosim_out_publish(cosim_out *o, const mepc_readings *r, uint32_t fw_ms, double sim_s, int64_t utc_ms,
                       int64_t model_fwd_wh, int64_t model_rev_wh)
{
    if (!o->published)
        return;
    host_clock clk = host_dash_clock(r, fw_ms, utc_ms / 1000);
    int status = 0;
    char *body = host_dash_json(r, &clk, NULL, &status);
    if (!body)
        return;
    char iso[32];
    cosim_out_iso_utc(utc_ms, iso);
    /* the contract object with the virtual time and the model's truth first */
    if (status == 200 && body[0] == '{' &&
        fprintf(o->published, "{\"Sim_s\":%.3f,\"Sim_UTC\":\"%s\",\"Model_Fwd_Wh\":%lld,\"Model_Rev_Wh\":%lld,%s\n",
                sim_s, iso, (long long)model_fwd_wh, (long long)model_rev_wh, body + 1) < 0)
        o->failed = true;
    free(body);
}

void cosim_out_publish_doc(cosim_out *o, double sim_s, int64_t utc_ms, int64_t model_fwd_wh, int64_t model_rev_wh,
                           const char *topic, const char *doc)
{
    if (!o->published)
        return;
    char iso[32];
    cosim_out_iso_utc(utc_ms, iso);
    int rc;
    if (topic) {
        json_t *t = json_string(topic);
        char *tq = t ? json_dumps(t, JSON_ENCODE_ANY) : NULL;
        json_decref(t);
        rc = fprintf(o->published,
                     "{\"Sim_s\":%.3f,\"Sim_UTC\":\"%s\",\"Model_Fwd_Wh\":%lld,\"Model_Rev_Wh\":%lld,\"Topic\":%s,"
                     "\"Payload\":%s}\n",
                     sim_s, iso, (long long)model_fwd_wh, (long long)model_rev_wh, tq ? tq : "\"\"", doc);
        free(tq);
    } else {
        while (*doc == ' ' || *doc == '\t' || *doc == '\r' || *doc == '\n')
            doc++;
        bool empty = doc[0] == '{' && doc[1] == '}';
        rc = fprintf(o->published, "{\"Sim_s\":%.3f,\"Sim_UTC\":\"%s\",\"Model_Fwd_Wh\":%lld,\"Model_Rev_Wh\":%lld%s%s\n",
                     sim_s, iso, (long long)model_fwd_wh, (long long)model_rev_wh, empty ? "}" : ",",
                     empty ? "" : doc + 1);
    }
    if (rc < 0)
        o->failed = true;
}

int cosim_out_write_file(cosim_out *o, const char *name, const char *text, char *err, size_t errlen)
{
    FILE *f = open_in(o, name, err, errlen);
    if (!f)
        return -1;
    bool ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        snprintf(err, errlen, "--out: writing %s/%s failed", o->dir, name);
        return -1;
    }
    return 0;
}

int cosim_out_close(cosim_out *o, char *err, size_t errlen)
{
    if (o->published && fclose(o->published) != 0)
        o->failed = true;
    if (o->wire && fclose(o->wire) != 0)
        o->failed = true;
    o->published = o->wire = NULL;
    if (o->failed) {
        snprintf(err, errlen, "--out: writing into %s failed", o->dir);
        return -1;
    }
    return 0;
}

long cosim_out_peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}
