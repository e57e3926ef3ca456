/*
 * weft/once_cell.h - a cell that is set once, by an async initializer, while
 * other tasks wait for it (Tokio's sync::OnceCell).
 *
 * Semantics:
 *   - The cell holds a `void *` value (often a pointer to what was built)
 *     once it is set, and never changes after that.  It does not own the
 *     value: freeing it, if needed, is the user's business.
 *   - weft_once_cell_get_or_begin is how tasks get the value: if the cell is
 *     set it completes at once with WEFT_ONCE_SET.  Otherwise exactly one
 *     caller gets WEFT_ONCE_INIT: it is now the initializer and may await
 *     whatever it needs to build the value, then calls weft_once_cell_finish
 *     (value published, every waiter completes with WEFT_ONCE_SET) or
 *     weft_once_cell_abandon (it failed: the longest waiter becomes the
 *     initializer and gets WEFT_ONCE_INIT).  The others wait, in FIFO order.
 *
 *         weft_await(weft_once_cell_get_or_begin(&cell, cx, &self->once, &self->st));
 *         if (self->st == WEFT_ONCE_INIT) {
 *             weft_await(load_config(&self->load, cx));   // any awaits
 *             weft_once_cell_finish(&self->once, self->load.cfg);
 *         }
 *         use(weft_once_cell_get(&cell));
 *         weft_finally:
 *             weft_once_cell_abandon(&self->once);  // no-op unless initializing
 *
 * Cancel safety: get_or_begin is cancel-safe: a cancelled wait leaves
 * nothing behind, and if the initializer role had just been handed to it, it
 * goes to the next waiter.  An initializer that is cancelled (or gives up)
 * must call weft_once_cell_abandon - in weft_finally, where it is a no-op
 * for every other task - or the waiters wait forever.
 *
 * Threads: any thread.  Setting the cell publishes the value: whoever sees
 * the cell set also sees every write the initializer made before finish.
 * The cell needs no destructor, but nobody may wait on it when it goes away.
 */
#ifndef WEFT_ONCE_CELL_H
#define WEFT_ONCE_CELL_H

#include "semaphore.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_once_cell {
    _Atomic int set;
    void *value;
    weft_semaphore sem; /* one permit: the initializer role; closed once set */
} weft_once_cell;

/* A static initializer: weft_once_cell c = WEFT_ONCE_CELL_INIT; */
#define WEFT_ONCE_CELL_INIT {0, 0, WEFT_SEMAPHORE_INIT(1)}

/* The results of weft_once_cell_get_or_begin. */
enum { WEFT_ONCE_SET = 0, WEFT_ONCE_INIT = 1 };

/* One get_or_begin, and the initializer role it may hold; zeroed = idle. */
typedef struct weft_once_op {
    weft_acquire_op op;
} weft_once_op;

/* Set up an empty cell (or use WEFT_ONCE_CELL_INIT). */
void weft_once_cell_init(weft_once_cell *c);

/*
 * Poll expression: READY with *res WEFT_ONCE_SET when the cell is set
 * (read it with weft_once_cell_get), or WEFT_ONCE_INIT when this caller must
 * initialize it (op then holds the role until finish or abandon).
 * cx == NULL cancels (see above).
 */
weft_poll weft_once_cell_get_or_begin(weft_once_cell *c, weft_cx *cx, weft_once_op *op,
                                      int *res);

/* Publish value (op must hold the initializer role, else it aborts). */
void weft_once_cell_finish(weft_once_op *op, void *value);

/* Give the initializer role up, to the next waiter.  No-op if op lacks it. */
void weft_once_cell_abandon(weft_once_op *op);

/* The value, or NULL while the cell is not set. */
void *weft_once_cell_get(weft_once_cell *c);

/* Nonzero once the cell is set (the value itself may be NULL). */
int weft_once_cell_is_set(weft_once_cell *c);

/*
 * Set the cell without waiting: 0, or -EBUSY when it is already set or an
 * initializer is at work (then value was not stored).
 */
int weft_once_cell_set(weft_once_cell *c, void *value);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_ONCE_CELL_H */
