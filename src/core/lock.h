/*
 * src/core/lock.h - the spinlock that guards every channel and sync primitive.
 *
 * Why a spinlock: the critical sections are a handful of loads and stores
 * (push a value, link a waiter), never a syscall or a callback, so an
 * uncontended acquire is one atomic exchange and a release is a plain store -
 * half the cost of a pthread mutex pair.  Under contention it spins politely
 * (pause) and then yields the CPU, so a preempted holder cannot make others
 * burn a whole time slice.  Rule: never wake a waker, call a callback or
 * free memory while holding one of these; collect the wakers and wake them
 * after the unlock.  (The one exception is a weft task's wake_by_ref, which
 * only marks the task and queues it - see src/sync/mpsc.c.)
 */
#ifndef WEFT_SRC_CORE_LOCK_H
#define WEFT_SRC_CORE_LOCK_H

#include <weft/wait.h>

#include <stdatomic.h>

typedef weft_spinlock weft__lock;

void weft__lock_slow(weft__lock *l);

static inline void weft__lock_acquire(weft__lock *l) {
    if (!atomic_exchange_explicit(&l->held, 1, memory_order_acquire)) return;
    weft__lock_slow(l);
}

static inline void weft__lock_release(weft__lock *l) {
    atomic_store_explicit(&l->held, 0, memory_order_release);
}

#endif /* WEFT_SRC_CORE_LOCK_H */
