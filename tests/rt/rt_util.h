/*
 * tests/rt/rt_util.h - helpers shared by the runtime tests (and, through
 * tests/net/net_util.h, the network tests): a runtime, its statistics, and
 * two tiny tasks - a yielder and a flagger.
 *
 * Everything here may go unused in a file that includes it: the functions
 * are static inline, and the tasks' poll functions (which weft_async_fn
 * makes static, not inline) are declared unused-ok before they are defined.
 */
#ifndef WEFT_TEST_RT_UTIL_H
#define WEFT_TEST_RT_UTIL_H

#include <weft.h>

#include "test.h"
#include "flavour.h"

#include <stddef.h>

/* A runtime with configuration cfg (NULL: the defaults), or NULL. */
static inline weft_rt *new_rt_with(const weft_rt_config *cfg) { return test_rt_new(cfg); }

/* A runtime with the default configuration, or NULL. */
static inline weft_rt *new_rt(void) { return new_rt_with(NULL); }

/* A runtime whose clock starts paused, or NULL. */
static inline weft_rt *new_paused_rt(void) {
    return new_rt_with(&(weft_rt_config){.start_paused = 1});
}

static inline weft_rt_stats stats(weft_rt *rt) {
    weft_rt_stats st;
    weft_rt_stats_get(rt, &st);
    return st;
}

/* Yields `n` times, then finishes. */
typedef struct yielder {
    weft_frame fr;
    int i, n;
} yielder;

static weft_poll yielder_poll(yielder *self, weft_cx *cx) __attribute__((unused));

weft_async_fn(yielder_poll, yielder) {
    weft_async (self) {
        for (self->i = 0; self->i < self->n; self->i++) weft_yield();
    }
    return WEFT_READY;
}

/* Sets *flag when it runs. */
typedef struct flagger {
    weft_frame fr;
    int *flag;
} flagger;

static weft_poll flagger_poll(flagger *self, weft_cx *cx) __attribute__((unused));

weft_async_fn(flagger_poll, flagger) {
    weft_async (self) {
        *self->flag = 1;
    }
    return WEFT_READY;
}

/* Spawn a flagger for *flag on rt: its join handle, or NULL. */
static inline weft_task *spawn_flagger(weft_rt *rt, int *flag) {
    flagger *f;
    MUST(weft_task_new(&f, rt, flagger_poll));
    if (!f) return NULL;
    f->flag = flag;
    return weft_task_spawn(f);
}

#endif
