/*
 * src/sync/notify.c - Notify (see include/weft/notify.h).
 *
 * Everything is under the notify's spinlock except the waiter's check of its
 * own op->state, which the notifier sets (release) while the node is still
 * linked and the waiter reads (acquire).  Wakers are taken out of the nodes
 * under the lock and woken after it is released.
 */
#include <weft/notify.h>

#include "../core/lock.h"
#include "../core/wait_list.h"

#include <errno.h>

enum {
    OP_IDLE = 0,     /* not started, or finished */
    OP_ENABLED,      /* generation snapshot taken, not queued */
    OP_WAITING,      /* queued */
    OP_NOTIFIED_ONE, /* dequeued by notify_one */
    OP_NOTIFIED_ALL, /* dequeued by notify_waiters */
};

void weft_notify_init(weft_notify *n) {
    weft_notify zero = WEFT_NOTIFY_INIT;
    *n = zero;
}

static weft_notified_op *op_of(weft_wait_node *node) {
    return WEFT__CONTAINER(node, weft_notified_op, node);
}

/* Under the lock: hand one notification to the oldest waiter or store it. */
static weft_waker *notify_one_locked(weft_notify *n) {
    weft_wait_node *node = weft__wl_pop_front(&n->waiters);
    if (!node) {
        n->permit = 1;
        return NULL;
    }
    weft_notified_op *op = op_of(node);
    weft_waker *w = op->waker;
    op->waker = NULL;
    atomic_store_explicit(&op->state, OP_NOTIFIED_ONE, memory_order_release);
    return w;
}

void weft_notify_one(weft_notify *n) {
    weft__lock_acquire(&n->lock);
    weft_waker *w = notify_one_locked(n);
    weft__lock_release(&n->lock);
    weft_waker_wake(w);
}

/* Under the lock: a waiter that notify_waiters takes. */
static weft_waker *take_all(weft_wait_node *node) {
    weft_notified_op *op = op_of(node);
    weft_waker *w = op->waker;
    op->waker = NULL;
    atomic_store_explicit(&op->state, OP_NOTIFIED_ALL, memory_order_release);
    return w;
}

void weft_notify_waiters(weft_notify *n) {
    weft_wait_node local;
    weft__lock_acquire(&n->lock);
    n->gen++;
    /* Move the current waiters to a list of our own: waiters that arrive
     * while we wake in batches are not part of this call.  A waiter that
     * cancels meanwhile unlinks itself from our list under the lock. */
    weft__wl_splice(&local, &n->waiters);
    weft__wl_wake_all_unlock(&n->lock, &local, take_all);
}

void weft_notified_enable(weft_notified_op *op, weft_notify *n) {
    if (atomic_load_explicit(&op->state, memory_order_relaxed) != OP_IDLE) return;
    weft__lock_acquire(&n->lock);
    op->gen = n->gen;
    weft__lock_release(&n->lock);
    atomic_store_explicit(&op->state, OP_ENABLED, memory_order_relaxed);
}

static weft_poll finish(weft_cx *cx, weft_notified_op *op) {
    atomic_store_explicit(&op->state, OP_IDLE, memory_order_relaxed);
    weft_coop_made_progress(cx);
    return WEFT_READY;
}

static void cancel(weft_notify *n, weft_notified_op *op) {
    uint32_t st = atomic_load_explicit(&op->state, memory_order_acquire);
    if (st == OP_IDLE || st == OP_ENABLED) {
        atomic_store_explicit(&op->state, OP_IDLE, memory_order_relaxed);
        return;
    }
    weft_waker *forward = NULL, *mine;
    weft__lock_acquire(&n->lock);
    st = atomic_load_explicit(&op->state, memory_order_relaxed);
    if (st == OP_WAITING && weft__wl_linked(&op->node)) weft__wl_remove(&op->node);
    /* Picked by notify_one but never saw it: pass it on, not lose it. */
    if (st == OP_NOTIFIED_ONE) forward = notify_one_locked(n);
    mine = op->waker;
    op->waker = NULL;
    weft__lock_release(&n->lock);
    atomic_store_explicit(&op->state, OP_IDLE, memory_order_relaxed);
    weft_waker_drop(mine);
    weft_waker_wake(forward);
}

weft_poll weft_notified(weft_notify *n, weft_cx *cx, weft_notified_op *op) {
    if (cx == NULL) {
        cancel(n, op);
        return WEFT_READY;
    }
    /* Every completion counts against the budget, a notification that
     * arrived while waiting too.  A spent budget leaves the op as it is (a
     * notify_one it was picked for stays its own). */
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    uint32_t st = atomic_load_explicit(&op->state, memory_order_acquire);
    if (st == OP_NOTIFIED_ONE || st == OP_NOTIFIED_ALL) return finish(cx, op);
    if (st == OP_WAITING) {
        /* Spurious poll: refresh the waker unless a notification raced in. */
        weft_waker *old = NULL;
        weft__lock_acquire(&n->lock);
        st = atomic_load_explicit(&op->state, memory_order_relaxed);
        if (st == OP_WAITING && op->waker != cx->waker) {
            old = op->waker;
            op->waker = weft_waker_clone(cx->waker);
        }
        weft__lock_release(&n->lock);
        weft_waker_drop(old);
        return st == OP_WAITING ? WEFT_PENDING : finish(cx, op);
    }
    weft__lock_acquire(&n->lock);
    if (st == OP_IDLE) op->gen = n->gen;
    if (op->gen != n->gen || n->permit) {
        /* A notify_waiters since enable, or a stored permit. */
        if (op->gen == n->gen) n->permit = 0;
        weft__lock_release(&n->lock);
        return finish(cx, op);
    }
    op->waker = weft_waker_clone(cx->waker);
    atomic_store_explicit(&op->state, OP_WAITING, memory_order_relaxed);
    weft__wl_push_back(&n->waiters, &op->node);
    weft__lock_release(&n->lock);
    return WEFT_PENDING;
}
