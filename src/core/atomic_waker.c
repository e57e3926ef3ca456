/* src/core/atomic_waker.c - see atomic_waker.h. */
#include "atomic_waker.h"

enum { WAITING = 0, REGISTERING = 1, WAKING = 2 };

void weft__aw_register(weft__aw *aw, weft_waker *w) {
    unsigned expect = WAITING;
    if (atomic_compare_exchange_strong_explicit(&aw->state, &expect, REGISTERING,
                                                memory_order_acquire,
                                                memory_order_acquire)) {
        /* We hold the slot: nobody reads aw->waker until we release it. */
        if (aw->waker != w) {
            weft_waker *old = aw->waker;
            aw->waker = weft_waker_clone(w);
            weft_waker_drop(old);
        }
        expect = REGISTERING;
        if (!atomic_compare_exchange_strong_explicit(&aw->state, &expect, WAITING,
                                                     memory_order_acq_rel,
                                                     memory_order_acquire)) {
            /* A wake arrived while we held the slot (state is now
             * REGISTERING|WAKING) and left the waking to us. */
            weft_waker *mine = aw->waker;
            aw->waker = NULL;
            atomic_store_explicit(&aw->state, WAITING, memory_order_release);
            weft_waker_wake(mine);
        }
        return;
    }
    if (expect == WAKING) {
        /* A wake is taking the old waker right now; it may not see ours, so
         * make sure we are polled again. */
        weft_waker_wake_by_ref(w);
    }
    /* REGISTERING|...: a concurrent register, which the contract forbids. */
}

weft_waker *weft__aw_take(weft__aw *aw) {
    unsigned prev = atomic_fetch_or_explicit(&aw->state, WAKING, memory_order_acq_rel);
    if (prev != WAITING) return NULL; /* a register or another wake owns it */
    weft_waker *w = aw->waker;
    aw->waker = NULL;
    atomic_fetch_and_explicit(&aw->state, ~(unsigned)WAKING, memory_order_release);
    return w;
}
