/*
 * tests/rt/gate.h - a minimal leaf for runtime tests: a gate that a task
 * waits on until the test opens it.  It keeps one waker, counts how often it
 * was dropped while a waiter was parked, and is single-threaded.
 */
#ifndef WEFT_TEST_GATE_H
#define WEFT_TEST_GATE_H

#include <weft.h>

typedef struct gate {
    int open;
    weft_waker *waker;
    int cancels; /* drops of a parked waiter */
} gate;

static inline weft_poll gate_wait(gate *g, weft_cx *cx) {
    if (cx == NULL) {
        if (g->waker) g->cancels++;
        weft_waker_drop(g->waker);
        g->waker = NULL;
        return WEFT_READY;
    }
    if (g->open) {
        weft_waker_drop(g->waker);
        g->waker = NULL;
        return WEFT_READY;
    }
    weft_waker_store(&g->waker, cx);
    return WEFT_PENDING;
}

static inline void gate_open(gate *g) {
    g->open = 1;
    weft_waker *w = g->waker;
    g->waker = NULL;
    weft_waker_wake(w);
}

#endif
