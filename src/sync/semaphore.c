/*
 * src/sync/semaphore.c - the fair async semaphore (see
 * include/weft/semaphore.h), the base of Mutex, RwLock and OnceCell.
 *
 * Everything is under the semaphore's spinlock except the waiter's check of
 * its own op->state, which a releaser sets (release order) after unlinking
 * the op and taking its waker, and the waiter reads (acquire order).
 *
 * Invariant: while anyone waits, no permit is free (s->permits == 0).
 * Permits that come back are assigned to the head of the queue first: the
 * head's `needed` falls, and once it reaches 0 the op is unlinked, marked
 * GRANTED and its waker collected.  So a newcomer can take permits without
 * looking at the queue only when the queue is empty, and FIFO order holds.
 */
#include <weft/semaphore.h>

#include "../core/lock.h"
#include "../core/wait_list.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    OP_IDLE = 0, /* holds nothing, not queued */
    OP_WAITING,  /* queued; want - needed permits set aside for it */
    OP_GRANTED,  /* unlinked with all `want` set aside, not yet polled */
    OP_HELD,     /* the acquire completed: it holds `want` permits */
    OP_CLOSED,   /* unlinked by close; holds nothing */
};

int weft_semaphore_init(weft_semaphore *s, size_t permits) {
    if (permits > WEFT_SEMAPHORE_MAX_PERMITS) return -EINVAL;
    weft_semaphore zero = WEFT_SEMAPHORE_INIT(0);
    *s = zero;
    s->permits = permits;
    return 0;
}

static weft_acquire_op *op_of(weft_wait_node *n) {
    return WEFT__CONTAINER(n, weft_acquire_op, node);
}

static uint32_t state(const weft_acquire_op *op, memory_order mo) {
    return atomic_load_explicit((_Atomic uint32_t *)&op->state, mo);
}

static void set_state(weft_acquire_op *op, uint32_t st, memory_order mo) {
    atomic_store_explicit(&op->state, st, mo);
}

/*
 * Under the lock: hand n returned permits to the waiters, oldest first;
 * what nobody needs becomes free.  Wakers of fully served ops go into wl;
 * returns nonzero if it stopped because wl filled up (the caller wakes them,
 * re-locks and calls again with the remaining *n).
 */
static int assign_locked(weft_semaphore *s, size_t *n, weft__wake_list *wl) {
    while (*n) {
        if (weft__wake_list_full(wl)) return 1;
        if (weft__wl_empty(&s->waiters)) break;
        weft_acquire_op *op = op_of(s->waiters.next);
        size_t take = op->needed < *n ? op->needed : *n;
        op->needed -= take;
        *n -= take;
        if (op->needed) break; /* *n is 0 now */
        weft__wl_remove(&op->node);
        weft__wake_list_push(wl, op->waker);
        op->waker = NULL;
        set_state(op, OP_GRANTED, memory_order_release);
    }
    s->permits += *n;
    *n = 0;
    return 0;
}

/*
 * Under the lock, waiters present: hand n permits out, wake, unlock.  noinline
 * (a GNU attribute, which gcc and clang both have) keeps the 33-word wake list
 * and its register saves out of the uncontended unlock, which is inlined.
 */
static __attribute__((noinline)) void give_back_slow(weft_semaphore *s, size_t n) {
    weft__wake_list wl;
    wl.n = 0; /* not "= {0}": that would clear all 33 words on every call */
    while (assign_locked(s, &n, &wl)) {
        weft__lock_release(&s->lock);
        weft__wake_list_wake(&wl);
        weft__lock_acquire(&s->lock);
    }
    weft__lock_release(&s->lock);
    weft__wake_list_wake(&wl);
}

/* Return n permits to s and wake whoever they complete. */
static inline void give_back(weft_semaphore *s, size_t n) {
    weft__lock_acquire(&s->lock);
    if (weft__wl_empty(&s->waiters)) { /* the common case: nobody to wake */
        s->permits += n;
        weft__lock_release(&s->lock);
        return;
    }
    give_back_slow(s, n);
}

static void misuse(const char *what) {
    fprintf(stderr, "weft: %s\n", what);
    abort();
}

static void cancel(weft_semaphore *s, weft_acquire_op *op) {
    uint32_t st = state(op, memory_order_acquire);
    if (st == OP_IDLE || st == OP_HELD) return; /* nothing in flight */
    if (st == OP_CLOSED) {
        set_state(op, OP_IDLE, memory_order_relaxed);
        return;
    }
    size_t back = 0;
    weft_waker *mine;
    weft__lock_acquire(&s->lock);
    st = state(op, memory_order_relaxed);
    if (st == OP_WAITING) {
        weft__wl_remove(&op->node);
        back = op->want - op->needed; /* set aside while it waited */
    } else if (st == OP_GRANTED) {
        back = op->want;
    }
    mine = op->waker;
    op->waker = NULL;
    weft__lock_release(&s->lock);
    set_state(op, OP_IDLE, memory_order_relaxed);
    weft_waker_drop(mine);
    if (back) give_back(s, back); /* to the next waiters: no lost wake-up */
}

/* Under the lock, op idle: take n now if nobody waits; 1 if taken. */
static int try_take_locked(weft_semaphore *s, size_t n) {
    if (s->permits >= n && weft__wl_empty(&s->waiters)) {
        s->permits -= n;
        return 1;
    }
    return 0;
}

weft_poll weft_semaphore_acquire_many(weft_semaphore *s, weft_cx *cx, weft_acquire_op *op,
                                      size_t n, int *status) {
    if (cx == NULL) {
        cancel(s, op);
        return WEFT_READY;
    }
    uint32_t st = state(op, memory_order_acquire);
    if (st == OP_HELD)
        misuse("weft_semaphore_acquire: the op still holds permits (release them first)");
    /* Every completion counts against the budget: a granted permit, a closed
     * semaphore, a bad argument as much as permits taken at once. */
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    int r;
    switch (st) {
    case OP_GRANTED:
        set_state(op, OP_HELD, memory_order_relaxed);
        r = 0;
        goto ready;
    case OP_CLOSED:
        set_state(op, OP_IDLE, memory_order_relaxed);
        r = -EPIPE;
        goto ready;
    case OP_WAITING: {
        /* Spurious poll: refresh the waker unless it was served meanwhile. */
        weft_waker *old = NULL;
        weft__lock_acquire(&s->lock);
        st = state(op, memory_order_relaxed);
        if (st == OP_WAITING && op->waker != cx->waker) {
            old = op->waker;
            op->waker = weft_waker_clone(cx->waker);
        }
        weft__lock_release(&s->lock);
        weft_waker_drop(old);
        if (st == OP_WAITING) return WEFT_PENDING;
        return weft_semaphore_acquire_many(s, cx, op, n, status);
    }
    default:
        break;
    }
    if (n > WEFT_SEMAPHORE_MAX_PERMITS) {
        r = -EINVAL;
        goto ready;
    }
    op->sem = s;
    op->want = n;
    weft__lock_acquire(&s->lock);
    if (s->closed) {
        r = -EPIPE;
    } else if (try_take_locked(s, n)) {
        set_state(op, OP_HELD, memory_order_relaxed);
        r = 0;
    } else {
        /* Queue, taking what is free now (only when nobody else waits). */
        size_t take = weft__wl_empty(&s->waiters) ? s->permits : 0;
        s->permits -= take;
        op->needed = n - take;
        op->waker = weft_waker_clone(cx->waker);
        set_state(op, OP_WAITING, memory_order_relaxed);
        weft__wl_push_back(&s->waiters, &op->node);
        weft__lock_release(&s->lock);
        return WEFT_PENDING;
    }
    weft__lock_release(&s->lock);
ready:
    weft_coop_made_progress(cx);
    if (status) *status = r;
    return WEFT_READY;
}

weft_poll weft_semaphore_acquire(weft_semaphore *s, weft_cx *cx, weft_acquire_op *op, int *status) {
    return weft_semaphore_acquire_many(s, cx, op, 1, status);
}

int weft_semaphore_try_acquire_many(weft_semaphore *s, weft_acquire_op *op, size_t n) {
    uint32_t st = state(op, memory_order_relaxed);
    if (st == OP_HELD) misuse("weft_semaphore_try_acquire: the op still holds permits");
    if (st != OP_IDLE) misuse("weft_semaphore_try_acquire: the op is waiting in an acquire");
    if (n > WEFT_SEMAPHORE_MAX_PERMITS) return -EINVAL;
    int r;
    weft__lock_acquire(&s->lock);
    if (s->closed) r = -EPIPE;
    else r = try_take_locked(s, n) ? 0 : -EAGAIN;
    weft__lock_release(&s->lock);
    if (r == 0) {
        op->sem = s;
        op->want = n;
        set_state(op, OP_HELD, memory_order_relaxed);
    }
    return r;
}

int weft_semaphore_try_acquire(weft_semaphore *s, weft_acquire_op *op) {
    return weft_semaphore_try_acquire_many(s, op, 1);
}

void weft_semaphore_release(weft_acquire_op *op) {
    if (state(op, memory_order_relaxed) != OP_HELD) return;
    set_state(op, OP_IDLE, memory_order_relaxed);
    if (op->want) give_back(op->sem, op->want);
}

void weft_semaphore_forget(weft_acquire_op *op) {
    if (state(op, memory_order_relaxed) == OP_HELD) set_state(op, OP_IDLE, memory_order_relaxed);
}

size_t weft_semaphore_held(const weft_acquire_op *op) {
    return state(op, memory_order_relaxed) == OP_HELD ? op->want : 0;
}

int weft_semaphore_add_permits(weft_semaphore *s, size_t n) {
    weft__lock_acquire(&s->lock);
    int over = n > WEFT_SEMAPHORE_MAX_PERMITS - s->permits;
    weft__lock_release(&s->lock);
    if (over) return -EOVERFLOW;
    if (n) give_back(s, n);
    return 0;
}

size_t weft_semaphore_available(weft_semaphore *s) {
    weft__lock_acquire(&s->lock);
    size_t n = s->permits;
    weft__lock_release(&s->lock);
    return n;
}

/* Under the lock: a waiter that close fails; what was set aside returns. */
static weft_waker *take_closed(weft_wait_node *node) {
    weft_acquire_op *op = op_of(node);
    op->sem->permits += op->want - op->needed;
    weft_waker *w = op->waker;
    op->waker = NULL;
    set_state(op, OP_CLOSED, memory_order_release);
    return w;
}

void weft_semaphore_close(weft_semaphore *s) {
    weft__lock_acquire(&s->lock);
    s->closed = 1;
    /* No one queues after this; waiters that cancel meanwhile unlink
     * themselves under the lock, so taking them in batches is safe. */
    weft__wl_wake_all_unlock(&s->lock, &s->waiters, take_closed);
}

int weft_semaphore_is_closed(weft_semaphore *s) {
    weft__lock_acquire(&s->lock);
    int c = (int)s->closed;
    weft__lock_release(&s->lock);
    return c;
}
