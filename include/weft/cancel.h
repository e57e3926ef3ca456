/*
 * weft/cancel.h - CancellationToken: a signal that tells a tree of tasks to
 * stop (tokio_util's sync::CancellationToken).
 *
 * Semantics:
 *   - A token starts not cancelled.  weft_cancel_token_cancel cancels it,
 *     once and for all (calling it again does nothing), and wakes every
 *     task waiting in weft_cancel_token_cancelled on it.
 *   - Tokens form trees: weft_cancel_token_child makes a token that is
 *     cancelled whenever its parent is - and so, transitively, whenever any
 *     ancestor is.  Cancelling a child does not affect its parent or its
 *     siblings.  A child made from an already cancelled token is born
 *     cancelled.
 *   - Handles.  Every weft_cancel_token pointer you get (from new, child or
 *     clone) is a handle holding one reference; clone returns another handle
 *     to the SAME token (cancelling either cancels it).  Release each one
 *     with weft_cancel_token_drop.  Dropping handles never cancels (use
 *     cancel first if that is what you want), and handles may be dropped in
 *     any order: a child keeps working - it is still cancelled by its
 *     ancestors - after every handle to its parent is gone.  Memory is freed
 *     when a token has no handles and no living children.
 *   - Visibility: once weft_cancel_token_is_cancelled returns nonzero (or
 *     cancelled() completes), everything the cancelling thread did before
 *     weft_cancel_token_cancel is visible.
 *
 * Cancel safety: weft_cancel_token_cancelled is cancel-safe.  A cancelled
 * wait (polled with cx == NULL) leaves nothing behind: its node is unlinked
 * and its stored waker released, whether or not the token was cancelled
 * meanwhile.  There is nothing to lose: the cancelled state is permanent, so
 * a new wait completes at once.
 *
 * Threads: every function may be called from any thread, concurrently, on
 * any handles of the same tree.  A handle must not be used after it was
 * dropped; a handle passed to weft_cancel_token_cancelled must stay valid
 * until that wait completes or is cancelled.
 *
 * Cost: is_cancelled is one atomic load.  A wait that has to park, cancel,
 * child and the last drop of a token take the tree's one spinlock (that of
 * its root).  cancel walks the cancelled subtree without recursion, skipping
 * subtrees already cancelled, and wakes waiters in batches.
 */
#ifndef WEFT_CANCEL_H
#define WEFT_CANCEL_H

#include "future.h"
#include "wait.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A handle to a cancellation token (opaque). */
typedef struct weft_cancel_token weft_cancel_token;

/* The state of one wait, in the waiting frame (zeroed = not started). */
typedef struct weft_cancelled_op {
    weft_wait_node node;
    weft_waker *waker;
    _Atomic uint32_t state;
} weft_cancelled_op;

/*
 * A new token, not cancelled, the root of its own tree, in *out (owned by
 * the caller).  0, or -ENOMEM with *out NULL.  Any thread.
 */
WEFT_MUST_USE int weft_cancel_token_new(weft_cancel_token **out);

/*
 * A new child of parent: cancelled when parent (or any ancestor) is; born
 * cancelled if parent already is.  Cancelling the child does not cancel the
 * parent.  The caller owns the returned handle; parent's handle is not
 * consumed.  0 and the child in *out (owned by the caller), or -ENOMEM or
 * -EINVAL (parent is NULL) with *out NULL.  Any thread.
 */
WEFT_MUST_USE int weft_cancel_token_child(weft_cancel_token **out, weft_cancel_token *parent);

/*
 * Another handle to the same token (returns t; NULL gives NULL).  Release it
 * with weft_cancel_token_drop.  Never fails.  Any thread.
 */
weft_cancel_token *weft_cancel_token_clone(weft_cancel_token *t);

/*
 * Release a handle (NULL is ignored).  Does not cancel.  The token's memory
 * goes when its last handle and its last child are gone.  Must not be
 * called while a wait on this handle is pending.  Any thread.
 */
void weft_cancel_token_drop(weft_cancel_token *t);

/*
 * Cancel t and all of its descendants, and wake every task waiting on any
 * of them.  Idempotent.  Wakers are woken after the lock is released, at
 * most 32 per lock hold.  Any thread.
 */
void weft_cancel_token_cancel(weft_cancel_token *t);

/* Nonzero once t is cancelled (by itself or an ancestor).  Any thread. */
int weft_cancel_token_is_cancelled(const weft_cancel_token *t);

/*
 * Wait until t is cancelled.  Poll expression: READY once t is cancelled (at
 * once if it already is).  op stays in place while pending and is idle again
 * after READY.  cx == NULL cancels the wait (see above).
 */
weft_poll weft_cancel_token_cancelled(weft_cancel_token *t, weft_cx *cx, weft_cancelled_op *op);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_CANCEL_H */
