/*
 * src/sync/once_cell.c - OnceCell (see include/weft/once_cell.h).
 *
 * The initializer role is the one permit of a semaphore.  Finishing stores
 * the value, sets the flag (release) and closes the semaphore, which wakes
 * every waiter with -EPIPE: for them that means "set".  Abandoning releases
 * the permit, which the semaphore hands to the oldest waiter.
 */
#include <weft/once_cell.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

void weft_once_cell_init(weft_once_cell *c) {
    atomic_init(&c->set, 0);
    c->value = NULL;
    weft_semaphore_init(&c->sem, 1);
}

static int is_set(weft_once_cell *c) { return atomic_load_explicit(&c->set, memory_order_acquire); }

weft_poll weft_once_cell_get_or_begin(weft_once_cell *c, weft_cx *cx, weft_once_op *op,
                                      int *status) {
    if (cx && is_set(c) && weft_semaphore_held(&op->op) == 0) {
        /* Fast path; a wait in flight (woken by the close) is finished below.
         * It counts against the budget like any completion, so a loop on a
         * set cell yields. */
        if (!weft_coop_poll(cx)) return WEFT_PENDING;
        weft_poll p = weft_semaphore_acquire_many(&c->sem, NULL, &op->op, 1, NULL);
        (void)p;
        if (status) *status = WEFT_ONCE_SET;
        weft_coop_made_progress(cx);
        return WEFT_READY;
    }
    int r = 0;
    if (weft_semaphore_acquire_many(&c->sem, cx, &op->op, 1, &r) == WEFT_PENDING) return WEFT_PENDING;
    if (cx == NULL) return WEFT_READY;
    if (r == 0 && is_set(c)) {
        weft_semaphore_release(&op->op); /* set while we were being handed the role */
        r = -EPIPE;
    }
    if (status) *status = r == 0 ? WEFT_ONCE_INIT : WEFT_ONCE_SET;
    return WEFT_READY;
}

void weft_once_cell_finish(weft_once_op *op, void *value) {
    if (weft_semaphore_held(&op->op) == 0) {
        fprintf(stderr, "weft: weft_once_cell_finish without the initializer role\n");
        abort();
    }
    weft_once_cell *c = (weft_once_cell *)((char *)op->op.sem - offsetof(weft_once_cell, sem));
    c->value = value;
    atomic_store_explicit(&c->set, 1, memory_order_release);
    weft_semaphore_forget(&op->op);
    weft_semaphore_close(&c->sem); /* every waiter completes, and sees it set */
}

void weft_once_cell_abandon(weft_once_op *op) { weft_semaphore_release(&op->op); }

void *weft_once_cell_get(weft_once_cell *c) { return is_set(c) ? c->value : NULL; }

int weft_once_cell_is_set(weft_once_cell *c) { return is_set(c); }

int weft_once_cell_set(weft_once_cell *c, void *value) {
    weft_once_op op = {0};
    if (is_set(c) || weft_semaphore_try_acquire(&c->sem, &op.op) != 0) return -EBUSY;
    weft_once_cell_finish(&op, value);
    return 0;
}
