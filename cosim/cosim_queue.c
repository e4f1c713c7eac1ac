/* cosim_queue: indexed binary min-heap of per-source times; see cosim_queue.h. */
#include "cosim_queue.h"

static bool before(const cosim_queue *q, unsigned a, unsigned b)
{
    return q->at[a] < q->at[b] || (q->at[a] == q->at[b] && a < b);
}

static void swap(cosim_queue *q, unsigned i, unsigned j)
{
    unsigned s = q->heap[i];
    q->heap[i] = q->heap[j];
    q->heap[j] = s;
    q->pos[q->heap[i]] = i;
    q->pos[q->heap[j]] = j;
}

void cosim_queue_init(cosim_queue *q, unsigned n)
{
    q->n = n > COSIM_QUEUE_MAX ? COSIM_QUEUE_MAX : n;
    for (unsigned i = 0; i < q->n; i++) {
        q->at[i] = COSIM_NEVER;
        q->heap[i] = i;
        q->pos[i] = i;
    }
}

void cosim_queue_set(cosim_queue *q, unsigned src, uint64_t at_us)
{
    if (src >= q->n)
        return;
    q->at[src] = at_us;
    unsigned i = q->pos[src];
    while (i > 0 && before(q, q->heap[i], q->heap[(i - 1) / 2])) {
        swap(q, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        unsigned l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->n && before(q, q->heap[l], q->heap[m]))
            m = l;
        if (r < q->n && before(q, q->heap[r], q->heap[m]))
            m = r;
        if (m == i)
            break;
        swap(q, i, m);
        i = m;
    }
}

void cosim_queue_soon(cosim_queue *q, unsigned src, uint64_t at_us)
{
    if (src < q->n && at_us < q->at[src])
        cosim_queue_set(q, src, at_us);
}

bool cosim_queue_peek(const cosim_queue *q, unsigned *src, uint64_t *at_us)
{
    if (q->n == 0 || q->at[q->heap[0]] == COSIM_NEVER)
        return false;
    *src = q->heap[0];
    *at_us = q->at[q->heap[0]];
    return true;
}

uint64_t cosim_queue_at(const cosim_queue *q, unsigned src) { return src < q->n ? q->at[src] : COSIM_NEVER; }
