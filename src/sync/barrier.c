/*
 * src/sync/barrier.c - Barrier (see include/weft/barrier.h).
 *
 * All state is under the barrier's spinlock.  A waiting op records the
 * generation it arrived in; the arrival that completes a generation bumps
 * b->generation, resets the count and moves the waiters to a list of its
 * own, which it empties in batches (re-taking the lock between them, as
 * notify_waiters does), marking each op RELEASED (release store, read by the
 * waiter with acquire) and waking it after the unlock.  So an op that is
 * still WAITING has its node linked either in b->waiters (its generation is
 * b->generation: not complete) or in a leader's list (older generation:
 * complete, release in progress).  A cancelled or re-polled op tells the two
 * apart by comparing generations under the lock: in the first case a
 * cancel withdraws its arrival; in the second the op simply leaves the
 * leader's list and counts as released.
 */
#include <weft/barrier.h>

#include "../core/lock.h"
#include "../core/wait_list.h"

#include <errno.h>

enum {
    OP_IDLE = 0, /* not started, or finished */
    OP_WAITING,  /* arrived, linked (see above) */
    OP_RELEASED, /* taken out by the leader, waker handed over */
};

int weft_barrier_init(weft_barrier *b, unsigned n) {
    if (!b || n == 0) return -EINVAL;
    weft_barrier zero = {{0}, 0, 0, 0, {0, 0}};
    *b = zero;
    b->n = n;
    return 0;
}

static weft_barrier_wait_op *op_of(weft_wait_node *node) {
    return WEFT__CONTAINER(node, weft_barrier_wait_op, node);
}

static weft_poll finish(weft_cx *cx, weft_barrier_wait_op *op, int *is_leader, int leader) {
    atomic_store_explicit(&op->state, OP_IDLE, memory_order_relaxed);
    if (is_leader) *is_leader = leader;
    weft_coop_made_progress(cx);
    return WEFT_READY;
}

/* Under the lock: a waiter that the completed generation releases. */
static weft_waker *take_released(weft_wait_node *node) {
    weft_barrier_wait_op *op = op_of(node);
    weft_waker *w = op->waker;
    op->waker = NULL;
    atomic_store_explicit(&op->state, OP_RELEASED, memory_order_release);
    return w;
}

/* Called with the lock held by the completing arrival; releases it.  The
 * waiters move to a list of our own first: arrivals for the next generation
 * that come between wake batches are not released by this one. */
static void release_generation_unlock(weft_barrier *b) {
    weft_wait_node local;
    b->arrived = 0;
    b->generation++;
    weft__wl_splice(&local, &b->waiters);
    weft__wl_wake_all_unlock(&b->lock, &local, take_released);
}

static void cancel(weft_barrier *b, weft_barrier_wait_op *op) {
    if (atomic_load_explicit(&op->state, memory_order_acquire) == OP_WAITING) {
        weft_waker *mine = NULL;
        weft__lock_acquire(&b->lock);
        if (atomic_load_explicit(&op->state, memory_order_relaxed) == OP_WAITING) {
            weft__wl_remove(&op->node);
            if (op->generation == b->generation) b->arrived--; /* withdraw */
            mine = op->waker;
            op->waker = NULL;
        }
        weft__lock_release(&b->lock);
        weft_waker_drop(mine);
    }
    atomic_store_explicit(&op->state, OP_IDLE, memory_order_relaxed);
}

weft_poll weft_barrier_wait(weft_barrier *b, weft_cx *cx, weft_barrier_wait_op *op,
                            int *is_leader) {
    if (cx == NULL) {
        cancel(b, op);
        return WEFT_READY;
    }
    /* Checked before anything can complete: finish() spends the budget. */
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    uint32_t st = atomic_load_explicit(&op->state, memory_order_acquire);
    if (st == OP_RELEASED) return finish(cx, op, is_leader, 0);
    if (st == OP_WAITING) {
        /* Re-polled while waiting: released if its generation completed
         * (the leader may still hold it in its list), else refresh. */
        weft_waker *old = NULL;
        int done = 1;
        weft__lock_acquire(&b->lock);
        if (atomic_load_explicit(&op->state, memory_order_relaxed) == OP_WAITING) {
            if (op->generation != b->generation) {
                weft__wl_remove(&op->node);
                old = op->waker;
                op->waker = NULL;
            } else {
                done = 0;
                if (op->waker != cx->waker) {
                    old = op->waker;
                    op->waker = weft_waker_clone(cx->waker);
                }
            }
        }
        weft__lock_release(&b->lock);
        weft_waker_drop(old);
        return done ? finish(cx, op, is_leader, 0) : WEFT_PENDING;
    }
    weft__lock_acquire(&b->lock);
    if (++b->arrived < b->n) {
        op->generation = b->generation;
        op->waker = weft_waker_clone(cx->waker);
        atomic_store_explicit(&op->state, OP_WAITING, memory_order_relaxed);
        weft__wl_push_back(&b->waiters, &op->node);
        weft__lock_release(&b->lock);
        return WEFT_PENDING;
    }
    release_generation_unlock(b);
    return finish(cx, op, is_leader, 1);
}
