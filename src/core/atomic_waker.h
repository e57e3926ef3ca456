/*
 * src/core/atomic_waker.h - one waker slot shared between one registering
 * side and any number of waking threads (the AtomicWaker of futures-rs).
 *
 * Semantics: weft__aw_register stores the current task's waker; a later
 * weft__aw_wake wakes whatever is stored (and empties the slot).  A wake that
 * races with a register is never lost: either the wake sees the new waker, or
 * the registering side sees that a wake happened and wakes its own waker.
 * Only one side may register at a time (the single consumer of a channel, the
 * reader of a socket); any thread may wake or take.
 *
 * Mechanics: a state word with REGISTERING and WAKING bits acts as a tiny
 * lock around the waker pointer; neither side ever waits for the other.
 */
#ifndef WEFT_SRC_CORE_ATOMIC_WAKER_H
#define WEFT_SRC_CORE_ATOMIC_WAKER_H

#include <weft/future.h>

#include <stdatomic.h>

typedef struct weft__aw {
    _Atomic unsigned state;
    weft_waker *waker;
} weft__aw;

/* Store w (cloned unless already stored). */
void weft__aw_register(weft__aw *aw, weft_waker *w);

/* Remove and return the stored waker (the caller owns it), or NULL. */
weft_waker *weft__aw_take(weft__aw *aw);

/* Wake and remove the stored waker, if any. */
static inline void weft__aw_wake(weft__aw *aw) {
    weft_waker *w = weft__aw_take(aw);
    if (w) weft_waker_wake(w);
}

/* Drop the stored waker without waking (cancellation). */
static inline void weft__aw_clear(weft__aw *aw) {
    weft_waker_drop(weft__aw_take(aw));
}

#endif /* WEFT_SRC_CORE_ATOMIC_WAKER_H */
