/*
 * tests/sync/sync_util.h - helpers shared by the channel tests: a runtime,
 * its held-task count, a busy spin, and a waker for polling by hand that
 * counts the clones it has out and the wakes it got.
 */
#ifndef WEFT_TEST_SYNC_UTIL_H
#define WEFT_TEST_SYNC_UTIL_H

#include <weft.h>

#include "../rt/flavour.h"

#include <pthread.h>
#include <stdatomic.h>

static weft_rt *new_rt(void) { return test_rt_new(NULL); }

static uint64_t held(weft_rt *rt) {
    weft_rt_stats st;
    weft_rt_stats_get(rt, &st);
    return st.tasks_held;
}

static inline void spin(unsigned n) {
    for (volatile unsigned i = 0; i < n; i++) {
    }
}

#include "../rt/cwaker.h"

/* ---- threads, each driving its own runtime ------------------------------ */

/*
 * A root frame that awaits a type-erased future, so a thread can block on a
 * future chosen at run time (weft_block_on takes the async function's name).
 */
typedef struct future_root {
    weft_frame fr;
    weft_future f;
} future_root;

weft_async_fn(future_root_poll, future_root) {
    weft_async (self) {
        weft_await(weft_future_poll(self->f, cx));
    }
    return WEFT_READY;
}

typedef struct rt_thread_arg {
    weft_future f;
    int failed;
} rt_thread_arg;

static void *rt_thread_main(void *p) {
    rt_thread_arg *a = p;
    weft_rt *rt = new_rt();
    future_root root = {.f = a->f};
    a->failed = !rt || weft_block_on(rt, future_root_poll, &root) != 0;
    if (rt) weft_rt_free(rt);
    return NULL;
}

/*
 * run_on_threads(n, name, frames): run n threads, thread i with a runtime of
 * its own blocking on the async function `name` (declared with
 * weft_async_fn) on &frames[i]; returns how many failed (0 = all fine).
 * frames must point to name's frame type (a compile error otherwise).
 */
#define run_on_threads(n, name, frames)                                        \
    run_on_threads_((n), weft_future_of(name, &(frames)[0]), sizeof (frames)[0])

static inline int run_on_threads_(int n, weft_future first, size_t frame_size) {
    pthread_t th[16];
    rt_thread_arg arg[16];
    int failed = 0;
    if (n > 16) return n;
    for (int i = 0; i < n; i++) {
        weft_future f = {first.poll, (char *)first.self + (size_t)i * frame_size};
        arg[i] = (rt_thread_arg){f, 0};
        if (pthread_create(&th[i], NULL, rt_thread_main, &arg[i]) != 0) return n;
    }
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        failed += arg[i].failed;
    }
    return failed;
}

/*
 * A root frame for a thread's runtime: spawns n tasks (n <= 16), task i made
 * and spawned by make(rt, self, i), and joins them all.  arg and seed are
 * the caller's (shared state, a per-thread random seed).
 */
typedef struct spawn_all {
    weft_frame fr;
    weft_task *(*make)(weft_rt *rt, const struct spawn_all *self, int i);
    void *arg;
    uint64_t seed;
    int n, i;
    weft_task *h[16];
} spawn_all;

weft_async_fn(spawn_all_poll, spawn_all) {
    weft_async (self) {
        for (self->i = 0; self->i < self->n && self->i < 16; self->i++)
            self->h[self->i] = self->make(cx->rt, self, self->i);
        for (self->i = 0; self->i < self->n && self->i < 16; self->i++) {
            if (!self->h[self->i]) continue;
            weft_await(weft_join(self->h[self->i], cx, NULL));
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

/*
 * A counting waker whose wake also runs a hook.  A primitive wakes after
 * releasing its lock and before its next batch, so the hook meets waiters
 * that are still in the waking call's list.
 */
typedef struct hook_waker {
    cwaker cw;
    void (*hook)(void *arg);
    void *arg;
} hook_waker;

static void hw_wake(weft_waker *w) {
    hook_waker *h = (hook_waker *)w;
    cw_wake(w);
    if (h->hook) h->hook(h->arg);
}

static inline void hw_init(hook_waker *h, void (*hook)(void *), void *arg) {
    static const weft_waker_vtable hw_vtable = {cw_clone, hw_wake, cw_wake_by_ref, cw_drop};
    cw_init(&h->cw);
    h->cw.base.vtable = &hw_vtable;
    h->hook = hook;
    h->arg = arg;
}

#endif
