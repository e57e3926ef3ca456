/*
 * weft/barrier.h - Barrier: n tasks wait until all n have arrived (Tokio's
 * sync::Barrier).
 *
 * Semantics:
 *   - weft_barrier_init(b, n) makes a barrier for n parties (n >= 1).
 *   - Each weft_barrier_wait is one arrival.  The first n - 1 arrivals of a
 *     generation wait; the n-th completes the generation: it returns READY at
 *     once with *res = 1, and every waiter of that generation is
 *     released (READY with *res = 0 when next polled).  Exactly one
 *     wait per generation is the leader.
 *   - The barrier then starts the next generation at once: it is reusable,
 *     and an arrival after the n-th (even one racing with the release of the
 *     others) counts towards the next generation.
 *   - With n == 1 every wait completes at once as the leader.
 *   - Waiters are woken in arrival order, at most 32 per lock hold; the
 *     leader's poll does the waking (after the lock is released).
 *
 * Cancel safety: weft_barrier_wait is cancel-safe in this sense:
 *   - A wait cancelled (polled with cx == NULL) while its generation has not
 *     completed WITHDRAWS its arrival: the barrier then needs another
 *     arrival before it releases that generation.  Nothing is left behind.
 *   - A wait cancelled after its generation completed (released but not yet
 *     re-polled) leaves nothing behind either; its arrival had counted, the
 *     generation stays complete, and no other wait is affected.
 *   - The leader never waits, so it is never cancelled in between.
 *
 * Threads: every function may be called from any thread.  The barrier is
 * embedded by the user; it needs no destructor, but nothing may wait on it
 * when it goes away.
 */
#ifndef WEFT_BARRIER_H
#define WEFT_BARRIER_H

#include "future.h"
#include "wait.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_barrier {
    weft_spinlock lock;
    unsigned n;              /* parties per generation */
    unsigned arrived;        /* arrivals in the current generation */
    uint64_t generation;     /* generations completed */
    weft_wait_node waiters;  /* waits of the current generation, FIFO */
} weft_barrier;

/* The state of one wait, in the waiting frame (zeroed = not started). */
typedef struct weft_barrier_wait_op {
    weft_wait_node node;
    weft_waker *waker;
    uint64_t generation;     /* the generation it arrived in */
    _Atomic uint32_t state;
} weft_barrier_wait_op;

/*
 * Initialise b for n parties.  0, or -EINVAL when n == 0 (or b is NULL).
 * Must not be called while anything waits on b.
 */
int weft_barrier_init(weft_barrier *b, unsigned n);

/*
 * Arrive and wait for the generation to complete.  Poll expression: READY
 * once n waits have arrived in this wait's generation; *res (may be
 * NULL) is then 1 for the one wait whose arrival completed it, 0 for the
 * others.  op stays in place while pending and is idle again after READY
 * (the next poll is a new arrival).  cx == NULL cancels (see above).
 */
weft_poll weft_barrier_wait(weft_barrier *b, weft_cx *cx, weft_barrier_wait_op *op,
                            int *res);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BARRIER_H */
