/* sim_profiles: parse-once profile store (see sim_profiles.h).
 *
 * An open-addressing hash on the path (FNV-1a), doubled at half load, so
 * a config that gives every meter its own profile file still looks each
 * one up in constant time. */
#include "sim_profiles.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *path;          /* "" for the built-in profile; NULL = empty slot */
    sim_profile *prof;
} slot;

struct sim_profiles {
    slot *slots;
    size_t cap, n;       /* cap is a power of two */
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static slot *find(slot *slots, size_t cap, const char *path)
{
    for (size_t i = hash(path) & (cap - 1);; i = (i + 1) & (cap - 1))
        if (!slots[i].path || !strcmp(slots[i].path, path))
            return &slots[i];
}

sim_profiles *sim_profiles_new(void)
{
    sim_profiles *ps = calloc(1, sizeof *ps);
    if (!ps)
        return NULL;
    ps->cap = 8;
    ps->slots = calloc(ps->cap, sizeof *ps->slots);
    if (!ps->slots) {
        free(ps);
        return NULL;
    }
    return ps;
}

static int grow(sim_profiles *ps)
{
    size_t cap = ps->cap * 2;
    slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < ps->cap; i++)
        if (ps->slots[i].path)
            *find(slots, cap, ps->slots[i].path) = ps->slots[i];
    free(ps->slots);
    ps->slots = slots;
    ps->cap = cap;
    return 0;
}

const sim_profile *sim_profiles_get(sim_profiles *ps, const char *path, char *err, size_t errlen)
{
    if (!path)
        path = "";
    slot *sl = find(ps->slots, ps->cap, path);
    if (sl->path)
        return sl->prof;
    if ((ps->n + 1) * 2 > ps->cap) {
        if (grow(ps) != 0)
            goto oom;
        sl = find(ps->slots, ps->cap, path);
    }
    sim_profile *prof = calloc(1, sizeof *prof);
    char *key = strdup(path);
    if (!prof || !key) {
        free(prof);
        free(key);
        goto oom;
    }
    if (path[0]) {
        if (sim_profile_load(prof, path, err, errlen) != 0) {
            free(prof);
            free(key);
            return NULL;
        }
    } else {
        sim_profile_default(prof);
    }
    sl->path = key;
    sl->prof = prof;
    ps->n++;
    return prof;
oom:
    snprintf(err, errlen, "profile %s: out of memory", path[0] ? path : "(built-in)");
    return NULL;
}

size_t sim_profiles_count(const sim_profiles *ps)
{
    return ps ? ps->n : 0;
}

void sim_profiles_free(sim_profiles *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->cap; i++)
        if (ps->slots[i].path) {
            sim_profile_free(ps->slots[i].prof);
            free(ps->slots[i].prof);
            free(ps->slots[i].path);
        }
    free(ps->slots);
    free(ps);
}
