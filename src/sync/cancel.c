/*
 * src/sync/cancel.c - CancellationToken (see include/weft/cancel.h).
 *
 * A token is a node of a tree, one allocation each.  The whole tree shares
 * one spinlock, its root's: it guards the child lists, the waiter lists and
 * every zero crossing of a reference count.  A node never changes parent, so
 * node->root is fixed at creation.
 *
 * References.  refs counts the handles to a node plus its linked children.
 * A child thus keeps its parent, and so the whole path to the root and the
 * root's lock, alive.  clone adds a reference without the lock (the caller
 * holds one, so it cannot be the zero crossing); drop subtracts without it
 * and, only when it took the count to zero, takes the tree lock to unlink
 * the node from its parent's child list and release its reference on the
 * parent - which may in turn reach zero, so the walk continues upwards (a
 * loop, no recursion).  Every zero crossing is handled under the tree lock,
 * so the thread that frees the root cannot race with another still releasing
 * that lock.  Nodes are freed after the unlock.
 *
 * Cancellation.  cancelled is an atomic flag, set (release) under the tree
 * lock; is_cancelled is one acquire load.  Invariant: a cancelled node's
 * descendants are all cancelled (cancel marks the whole subtree, and a child
 * of a cancelled node is born cancelled).  So cancel walks the subtree
 * iteratively (first child, next sibling, back up through parent pointers),
 * skipping subtrees already cancelled, so each node is marked exactly once
 * over the life of the tree.  While marking, it splices every node's waiters
 * into one list of its own, then wakes them in batches of WEFT__WAKE_BATCH,
 * re-taking the lock between batches exactly as notify_waiters does; a
 * waiter that cancels (or is re-polled) meanwhile unlinks itself from that
 * list under the lock.
 *
 * A child made from an already cancelled parent is a tree of its own (no
 * parent link): it is cancelled forever and never needs the parent's lock,
 * and it does not keep the parent's memory alive.
 */
#include <weft/cancel.h>

#include <errno.h>

#include "../core/alloc.h"
#include "../core/lock.h"
#include "../core/wait_list.h"

#include <stdatomic.h>
#include <stddef.h>

struct weft_cancel_token {
    weft__lock lock;              /* the tree's lock: used on the root only */
    _Atomic uint32_t cancelled;
    atomic_size_t refs;           /* handles + linked children */
    weft_cancel_token *root;      /* holder of the tree lock (may be self) */
    weft_cancel_token *parent;    /* NULL for a root; free-list link when dead */
    weft_wait_node sib;           /* in parent->children */
    weft_wait_node children;      /* children, oldest first */
    weft_wait_node waiters;       /* weft_cancelled_op nodes, FIFO */
};

typedef weft_cancel_token node;

enum {
    OP_IDLE = 0, /* not started, or finished */
    OP_WAITING,  /* linked in the token's waiters (or a cancel's local list) */
    OP_WOKEN,    /* taken out by cancel, waker handed over */
};

static node *of_sib(weft_wait_node *n) { return WEFT__CONTAINER(n, node, sib); }

static weft_cancelled_op *op_of(weft_wait_node *n) {
    return WEFT__CONTAINER(n, weft_cancelled_op, node);
}

static int flag(const node *t, memory_order mo) {
    return (int)atomic_load_explicit(&((node *)t)->cancelled, mo);
}

static node *alloc_root(int cancelled) {
    node *t = weft__calloc(1, sizeof *t);
    if (!t) return NULL;
    atomic_init(&t->refs, 1);
    atomic_init(&t->cancelled, (uint32_t)cancelled);
    t->root = t;
    return t;
}

int weft_cancel_token_new(weft_cancel_token **out) {
    *out = alloc_root(0);
    return *out ? 0 : -ENOMEM;
}

static weft_cancel_token *new_child(weft_cancel_token *parent) {
    if (flag(parent, memory_order_acquire)) return alloc_root(1);
    node *c = alloc_root(0);
    if (!c) return NULL;
    node *root = parent->root;
    weft__lock_acquire(&root->lock);
    if (flag(parent, memory_order_relaxed)) {
        /* Cancelled since the check above: born cancelled, on its own. */
        weft__lock_release(&root->lock);
        atomic_store_explicit(&c->cancelled, 1, memory_order_relaxed);
        return c;
    }
    c->root = root;
    c->parent = parent;
    atomic_fetch_add_explicit(&parent->refs, 1, memory_order_relaxed);
    weft__wl_push_back(&parent->children, &c->sib);
    weft__lock_release(&root->lock);
    return c;
}

int weft_cancel_token_child(weft_cancel_token **out, weft_cancel_token *parent) {
    if (!parent) {
        *out = NULL;
        return -EINVAL;
    }
    *out = new_child(parent);
    return *out ? 0 : -ENOMEM;
}

weft_cancel_token *weft_cancel_token_clone(weft_cancel_token *t) {
    if (t) atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void weft_cancel_token_drop(weft_cancel_token *t) {
    if (!t) return;
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1) return;
    node *root = t->root, *dead = NULL, *n = t;
    weft__lock_acquire(&root->lock);
    for (;;) {
        node *p = n->parent;
        if (p) weft__wl_remove(&n->sib);
        n->parent = dead; /* collected; freed after the unlock */
        dead = n;
        if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1) break;
        n = p; /* that was the parent's last reference: it goes too */
    }
    weft__lock_release(&root->lock);
    while (dead) {
        node *next = dead->parent;
        weft__free(dead);
        dead = next;
    }
}

int weft_cancel_token_is_cancelled(const weft_cancel_token *t) {
    return flag(t, memory_order_acquire);
}

/* Under the lock: move every node of src, in order, to the end of dst. */
static void splice_locked(weft_wait_node *dst, weft_wait_node *src) {
    if (weft__wl_empty(src)) return;
    weft_wait_node *first = src->next, *last = src->prev;
    first->prev = dst->prev;
    dst->prev->next = first;
    last->next = dst;
    dst->prev = last;
    src->next = src->prev = src;
}

/* Under the lock: p's first child from `from` on that is not cancelled. */
static node *next_live(node *p, weft_wait_node *from) {
    if (p->children.next == NULL) return NULL;
    for (weft_wait_node *x = from; x != &p->children; x = x->next) {
        node *c = of_sib(x);
        if (!flag(c, memory_order_relaxed)) return c;
    }
    return NULL;
}

/* Under the lock: mark top's subtree cancelled; collect its waiters. */
static void cancel_subtree_locked(node *top, weft_wait_node *local) {
    node *n = top;
    for (;;) {
        atomic_store_explicit(&n->cancelled, 1, memory_order_release);
        splice_locked(local, &n->waiters);
        node *next = next_live(n, n->children.next);
        if (next) {
            n = next;
            continue;
        }
        for (;;) {
            if (n == top) return;
            node *p = n->parent;
            next = next_live(p, n->sib.next);
            if (next) break;
            n = p;
        }
        n = next;
    }
}

/* Under the lock: a waiter that the cancellation wakes. */
static weft_waker *take_woken(weft_wait_node *wn) {
    weft_cancelled_op *op = op_of(wn);
    weft_waker *w = op->waker;
    op->waker = NULL;
    atomic_store_explicit(&op->state, OP_WOKEN, memory_order_release);
    return w;
}

void weft_cancel_token_cancel(weft_cancel_token *t) {
    if (!t || flag(t, memory_order_acquire)) return;
    node *root = t->root;
    weft_wait_node local = {&local, &local};
    weft__lock_acquire(&root->lock);
    if (!flag(t, memory_order_relaxed)) cancel_subtree_locked(t, &local);
    weft__wl_wake_all_unlock(&root->lock, &local, take_woken);
}

/* Drop the wait: unlink the node wherever it is, release the waker. */
static void leave(node *t, weft_cancelled_op *op) {
    if (atomic_load_explicit(&op->state, memory_order_acquire) == OP_WAITING) {
        node *root = t->root;
        weft__lock_acquire(&root->lock);
        if (weft__wl_linked(&op->node)) weft__wl_remove(&op->node);
        weft_waker *mine = op->waker;
        op->waker = NULL;
        weft__lock_release(&root->lock);
        weft_waker_drop(mine);
    }
    /* OP_WOKEN: cancel took the node out and the waker with it. */
    atomic_store_explicit(&op->state, OP_IDLE, memory_order_relaxed);
}

static weft_poll finish(weft_cx *cx, weft_cancelled_op *op) {
    atomic_store_explicit(&op->state, OP_IDLE, memory_order_relaxed);
    weft_coop_made_progress(cx);
    return WEFT_READY;
}

weft_poll weft_cancel_token_cancelled(weft_cancel_token *t, weft_cx *cx, weft_cancelled_op *op) {
    if (cx == NULL) {
        leave(t, op);
        return WEFT_READY;
    }
    /* Checked before anything can complete: finish() spends the budget. */
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    uint32_t st = atomic_load_explicit(&op->state, memory_order_acquire);
    if (st == OP_WOKEN) return finish(cx, op);
    node *root = t->root;
    if (st == OP_WAITING) {
        /* Re-polled while queued: done if the token was cancelled (cancel
         * may still hold us in its list: leave it), else refresh the waker. */
        weft_waker *old = NULL;
        int done = 1;
        weft__lock_acquire(&root->lock);
        if (atomic_load_explicit(&op->state, memory_order_relaxed) == OP_WAITING) {
            if (flag(t, memory_order_relaxed)) {
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
        weft__lock_release(&root->lock);
        weft_waker_drop(old);
        return done ? finish(cx, op) : WEFT_PENDING;
    }
    if (flag(t, memory_order_acquire)) return finish(cx, op);
    weft__lock_acquire(&root->lock);
    if (flag(t, memory_order_relaxed)) {
        weft__lock_release(&root->lock);
        return finish(cx, op);
    }
    op->waker = weft_waker_clone(cx->waker);
    atomic_store_explicit(&op->state, OP_WAITING, memory_order_relaxed);
    weft__wl_push_back(&t->waiters, &op->node);
    weft__lock_release(&root->lock);
    return WEFT_PENDING;
}
