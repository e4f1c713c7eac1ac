/* cosim_queue: the event queue of the co-simulation: one pending time per
 * event source (line, module UART, firmware, scenario), kept in a binary
 * min-heap ordered by (time, source), so equal times always run in the same
 * source order and a run is repeatable. A source has at most one pending
 * time; setting it again moves it (the queue of a discrete-event simulation
 * with a fixed set of processes). */
#ifndef COSIM_QUEUE_H
#define COSIM_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#define COSIM_QUEUE_MAX 8
#define COSIM_NEVER UINT64_MAX

typedef struct {
    uint64_t at[COSIM_QUEUE_MAX];     /* per source; COSIM_NEVER = nothing pending */
    unsigned heap[COSIM_QUEUE_MAX];   /* source ids, heap-ordered */
    unsigned pos[COSIM_QUEUE_MAX];    /* source -> index in heap */
    unsigned n;
} cosim_queue;

/* n sources (<= COSIM_QUEUE_MAX), none pending. */
void cosim_queue_init(cosim_queue *q, unsigned n);
/* Source src next wants to run at at_us (COSIM_NEVER: not at all). */
void cosim_queue_set(cosim_queue *q, unsigned src, uint64_t at_us);
/* Run src no later than at_us (keeps an earlier pending time). */
void cosim_queue_soon(cosim_queue *q, unsigned src, uint64_t at_us);
/* The earliest pending source; false if nothing is pending. */
bool cosim_queue_peek(const cosim_queue *q, unsigned *src, uint64_t *at_us);
uint64_t cosim_queue_at(const cosim_queue *q, unsigned src);

#endif
