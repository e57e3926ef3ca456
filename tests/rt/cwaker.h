/*
 * tests/rt/cwaker.h - a waker for polling by hand that counts the clones it
 * has out and the wakes it got (used by the sync and coop tests).
 */
#ifndef WEFT_TEST_CWAKER_H
#define WEFT_TEST_CWAKER_H

#include <weft.h>

#include <stdatomic.h>

typedef struct cwaker {
    weft_waker base;
    atomic_int refs;  /* clones not yet released */
    atomic_int wakes; /* wake + wake_by_ref calls */
} cwaker;

static inline weft_waker *cw_clone(weft_waker *w) {
    atomic_fetch_add(&((cwaker *)w)->refs, 1);
    return w;
}
static inline void cw_wake(weft_waker *w) {
    atomic_fetch_add(&((cwaker *)w)->wakes, 1);
    atomic_fetch_sub(&((cwaker *)w)->refs, 1);
}
static inline void cw_wake_by_ref(weft_waker *w) { atomic_fetch_add(&((cwaker *)w)->wakes, 1); }
static inline void cw_drop(weft_waker *w) { atomic_fetch_sub(&((cwaker *)w)->refs, 1); }

static const weft_waker_vtable cw_vtable = {cw_clone, cw_wake, cw_wake_by_ref, cw_drop};

static inline void cw_init(cwaker *c) {
    c->base.vtable = &cw_vtable;
    atomic_init(&c->refs, 0);
    atomic_init(&c->wakes, 0);
}

#endif /* WEFT_TEST_CWAKER_H */
