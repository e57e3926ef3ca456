/* src/core/lock.c - the contended path of weft__lock (see lock.h). */
#define _GNU_SOURCE
#include "lock.h"

#include <sched.h>

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause"); /* GNU asm: the spin-wait hint */
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void weft__lock_slow(weft__lock *l) {
    for (unsigned spins = 0;; spins++) {
        /* Spin on a plain load so waiters do not bounce the cache line. */
        while (atomic_load_explicit(&l->held, memory_order_relaxed)) {
            if (spins++ < 64)
                cpu_relax();
            else
                sched_yield();
        }
        if (!atomic_exchange_explicit(&l->held, 1, memory_order_acquire)) return;
    }
}
