/*
 * tests/sync/sync_util.h - helpers shared by the channel tests: a runtime,
 * its held-task count, a busy spin, and a waker for polling by hand that
 * counts the clones it has out and the wakes it got.
 */
#ifndef WEFT_TEST_SYNC_UTIL_H
#define WEFT_TEST_SYNC_UTIL_H

#include <weft.h>

#include <stdatomic.h>

static weft_rt *new_rt(void) {
    weft_rt *rt = NULL;
    return weft_rt_new(&rt, NULL) == 0 ? rt : NULL;
}

static uint64_t held(weft_rt *rt) {
    weft_rt_stats st;
    weft_rt_stats_get(rt, &st);
    return st.tasks_held;
}

static inline void spin(unsigned n) {
    for (volatile unsigned i = 0; i < n; i++) {
    }
}

/* ---- a waker for polling by hand: counts clones held and wakes --------- */

typedef struct cwaker {
    weft_waker base;
    atomic_int refs;  /* clones not yet released */
    atomic_int wakes; /* wake + wake_by_ref calls */
} cwaker;

static weft_waker *cw_clone(weft_waker *w) {
    atomic_fetch_add(&((cwaker *)w)->refs, 1);
    return w;
}
static void cw_wake(weft_waker *w) {
    atomic_fetch_add(&((cwaker *)w)->wakes, 1);
    atomic_fetch_sub(&((cwaker *)w)->refs, 1);
}
static void cw_wake_by_ref(weft_waker *w) { atomic_fetch_add(&((cwaker *)w)->wakes, 1); }
static void cw_drop(weft_waker *w) { atomic_fetch_sub(&((cwaker *)w)->refs, 1); }

static const weft_waker_vtable cw_vtable = {cw_clone, cw_wake, cw_wake_by_ref, cw_drop};

static void cw_init(cwaker *c) {
    c->base.vtable = &cw_vtable;
    atomic_init(&c->refs, 0);
    atomic_init(&c->wakes, 0);
}

#endif
