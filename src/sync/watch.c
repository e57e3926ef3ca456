/*
 * src/sync/watch.c - the watch channel (see include/weft/watch.h).
 *
 * One allocation for the channel: the state, then two buffers of elem_size
 * bytes - the current value and the sender's spare.  A store writes the new
 * value into the spare without the lock (only the sender touches the spare),
 * swaps the two pointers under the lock and drops the old value after the
 * unlock, so drop_elem never runs under the lock.
 *
 * The version word: the version counts in steps of 2 and bit 0 says the
 * sender is gone.  It is written under the lock (release) and may be read
 * without it (acquire): changed() completes on that read alone when the
 * receiver has something unseen, and has_changed / mark_* never lock.
 *
 * Each receiver handle holds its wait node and the waker of its last
 * changed().  A send moves the queued receivers to a list of its own and
 * wakes them: a weft task by reference right under the lock (its waker stays
 * registered in the handle), any other waker taken out and woken after the
 * unlock, in batches.  A receiver on that private list that cancels or is
 * dropped meanwhile unlinks itself under the lock, like notify_waiters.
 *
 * Lifetime: the sender (the channel pointer itself) and each receiver count;
 * whoever finds the sender gone and no receiver left (under the lock) frees
 * the channel, dropping its value outside the lock.
 */
#include <weft/watch.h>

#include "../core/alloc.h"
#include "../core/copy.h"
#include "../core/lock.h"
#include "../core/wait_list.h"
#include "../rt/internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

#define CLOSED ((uint64_t)1)
#define STEP ((uint64_t)2)

typedef struct watch {
    weft__lock lock;
    _Atomic uint64_t state;     /* version << 1 | CLOSED */
    size_t elem_size;
    size_t receivers;
    uint8_t tx_gone;
    weft_waker *closed_waker;   /* a pending tx_closed() */
    weft_wait_node waiting;     /* receivers parked in changed() */
    void (*clone_elem)(void *dst, const void *src);
    void (*drop_elem)(void *elem);
    unsigned char *value, *spare;
} watch;

struct weft_watch_rx {
    watch *c;
    uint64_t seen;        /* a version (CLOSED bit clear); only the owner */
    weft_wait_node node;  /* linked while parked in changed(); under lock */
    weft_waker *waker;    /* the last changed()'s waker, kept; under lock */
};

static watch *ch(weft_watch_tx *tx) { return (watch *)tx; }

static uint64_t load_state(watch *c) {
    return atomic_load_explicit(&c->state, memory_order_acquire);
}

int weft_watch_new(weft_watch_tx **tx, weft_watch_rx **rx, size_t elem_size, const void *initial,
                   void (*clone_elem)(void *dst, const void *src), void (*drop_elem)(void *elem)) {
    if (tx) *tx = NULL;
    if (rx) *rx = NULL;
    if (!tx || !rx || (!initial && elem_size)) return -EINVAL;
    size_t stride = (elem_size + 15) & ~(size_t)15;
    size_t head = (sizeof(watch) + 15) & ~(size_t)15;
    if (stride < elem_size || stride > (SIZE_MAX - head) / 2) return -EINVAL;
    watch *c = weft__calloc(1, head + 2 * stride);
    if (!c) return -ENOMEM;
    weft_watch_rx *r = weft__calloc(1, sizeof *r);
    if (!r) {
        weft__free(c);
        return -ENOMEM;
    }
    c->elem_size = elem_size;
    c->receivers = 1;
    c->clone_elem = clone_elem;
    c->drop_elem = drop_elem;
    c->value = (unsigned char *)c + head;
    c->spare = c->value + stride;
    atomic_init(&c->state, 0);
    weft__copy(c->value, initial, elem_size);
    r->c = c;
    *tx = (weft_watch_tx *)c;
    *rx = r;
    return 0;
}

/* Copy the current value out: clone_elem or bytewise.  Under the lock. */
static void read_locked(watch *c, void *out) {
    if (c->clone_elem)
        c->clone_elem(out, c->value);
    else
        weft__copy(out, c->value, c->elem_size);
}

/* Under the lock: a parked receiver that a send wakes. */
static weft_waker *take_rx(weft_wait_node *n) {
    weft_watch_rx *r = WEFT__CONTAINER(n, weft_watch_rx, node);
    weft_waker *w = r->waker;
    if (weft__is_task_waker(w)) {
        w->vtable->wake_by_ref(w); /* stays registered */
        return NULL;
    }
    r->waker = NULL;
    return w;
}

/*
 * Under the lock: wake every receiver parked in changed().  Called with the
 * lock held; returns with it released.  Task wakers are woken by reference
 * here and stay registered; others are woken after the unlock, in batches.
 */
static void wake_all_and_unlock(watch *c) {
    if (weft__wl_empty(&c->waiting)) {
        weft__lock_release(&c->lock);
        return;
    }
    weft_wait_node local;
    weft__wl_splice(&local, &c->waiting);
    weft__wl_wake_all_unlock(&c->lock, &local, take_rx);
}

/* The new value is in c->spare: swap it in, advance, wake; unlocks.  The old
 * value is then in c->spare. */
static void publish_and_unlock(watch *c) {
    unsigned char *old = c->value;
    c->value = c->spare;
    c->spare = old;
    uint64_t s = atomic_load_explicit(&c->state, memory_order_relaxed);
    atomic_store_explicit(&c->state, s + STEP, memory_order_release);
    wake_all_and_unlock(c);
}

int weft_watch_send(weft_watch_tx *tx, const void *value) {
    watch *c = ch(tx);
    if (!c || (!value && c->elem_size)) return -EINVAL;
    weft__copy(c->spare, value, c->elem_size); /* only bytes: not owned yet */
    weft__lock_acquire(&c->lock);
    if (c->receivers == 0) {
        weft__lock_release(&c->lock);
        return -EPIPE;
    }
    publish_and_unlock(c);
    if (c->drop_elem) c->drop_elem(c->spare);
    return 0;
}

void weft_watch_send_replace(weft_watch_tx *tx, const void *value, void *old) {
    watch *c = ch(tx);
    weft__copy(c->spare, value, c->elem_size);
    weft__lock_acquire(&c->lock);
    publish_and_unlock(c);
    if (old)
        weft__copy(old, c->spare, c->elem_size);
    else if (c->drop_elem)
        c->drop_elem(c->spare);
}

static weft_watch_rx *new_rx(watch *c, int use_seen, uint64_t seen) {
    weft_watch_rx *r = weft__calloc(1, sizeof *r);
    if (!r) return NULL;
    r->c = c;
    weft__lock_acquire(&c->lock);
    c->receivers++;
    r->seen = use_seen ? seen : atomic_load_explicit(&c->state, memory_order_relaxed) & ~CLOSED;
    weft__lock_release(&c->lock);
    return r;
}

int weft_watch_subscribe(weft_watch_rx **out, weft_watch_tx *tx) {
    if (!out) return -EINVAL;
    *out = tx ? new_rx(ch(tx), 0, 0) : NULL;
    return *out ? 0 : tx ? -ENOMEM : -EINVAL;
}

int weft_watch_rx_clone(weft_watch_rx **out, weft_watch_rx *rx) {
    if (!out) return -EINVAL;
    *out = rx ? new_rx(rx->c, 1, rx->seen) : NULL;
    return *out ? 0 : rx ? -ENOMEM : -EINVAL;
}

size_t weft_watch_receiver_count(weft_watch_tx *tx) {
    watch *c = ch(tx);
    weft__lock_acquire(&c->lock);
    size_t n = c->receivers;
    weft__lock_release(&c->lock);
    return n;
}

int weft_watch_tx_is_closed(weft_watch_tx *tx) { return weft_watch_receiver_count(tx) == 0; }

weft_poll weft_watch_tx_closed(weft_watch_tx *tx, weft_cx *cx) {
    watch *c = ch(tx);
    weft_waker *drop = NULL;
    if (cx == NULL) {
        weft__lock_acquire(&c->lock);
        drop = c->closed_waker;
        c->closed_waker = NULL;
        weft__lock_release(&c->lock);
        weft_waker_drop(drop);
        return WEFT_READY;
    }
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    weft__lock_acquire(&c->lock);
    int closed = c->receivers == 0;
    if (closed) {
        drop = c->closed_waker;
        c->closed_waker = NULL;
    } else if (c->closed_waker != cx->waker) {
        drop = c->closed_waker;
        c->closed_waker = weft_waker_clone(cx->waker);
    }
    weft__lock_release(&c->lock);
    weft_waker_drop(drop);
    if (!closed) return WEFT_PENDING;
    weft_coop_made_progress(cx);
    return WEFT_READY;
}

void weft_watch_borrow_tx(weft_watch_tx *tx, void *out) {
    watch *c = ch(tx);
    weft__lock_acquire(&c->lock);
    read_locked(c, out);
    weft__lock_release(&c->lock);
}

static void destroy(watch *c) {
    if (c->drop_elem) c->drop_elem(c->value);
    weft__free(c);
}

void weft_watch_tx_drop(weft_watch_tx *tx) {
    watch *c = ch(tx);
    if (!c) return;
    weft__lock_acquire(&c->lock);
    uint64_t s = atomic_load_explicit(&c->state, memory_order_relaxed);
    atomic_store_explicit(&c->state, s | CLOSED, memory_order_release);
    wake_all_and_unlock(c); /* they learn the channel is closed */
    /* Only now does the sender let go: while it wakes in batches, a receiver
     * that drops cannot free the channel under it. */
    weft__lock_acquire(&c->lock);
    c->tx_gone = 1;
    weft_waker *cw = c->closed_waker;
    c->closed_waker = NULL;
    int last = c->receivers == 0;
    weft__lock_release(&c->lock);
    weft_waker_drop(cw);
    if (last) destroy(c);
}

void weft_watch_borrow(weft_watch_rx *rx, void *out) {
    watch *c = rx->c;
    weft__lock_acquire(&c->lock);
    read_locked(c, out);
    weft__lock_release(&c->lock);
}

void weft_watch_borrow_and_update(weft_watch_rx *rx, void *out) {
    watch *c = rx->c;
    weft__lock_acquire(&c->lock);
    read_locked(c, out);
    rx->seen = atomic_load_explicit(&c->state, memory_order_relaxed) & ~CLOSED;
    weft__lock_release(&c->lock);
}

int weft_watch_has_changed(weft_watch_rx *rx) {
    if (!rx) return -EINVAL;
    uint64_t s = load_state(rx->c);
    if (s & CLOSED) return -EPIPE;
    return s != rx->seen;
}

void weft_watch_mark_seen(weft_watch_rx *rx) { rx->seen = load_state(rx->c) & ~CLOSED; }

void weft_watch_mark_changed(weft_watch_rx *rx) {
    rx->seen = (load_state(rx->c) & ~CLOSED) - STEP; /* never the current one */
}

/* Cancel: unlink, drop the waker, mark nothing. */
static void changed_cancel(weft_watch_rx *rx) {
    watch *c = rx->c;
    weft__lock_acquire(&c->lock);
    if (weft__wl_linked(&rx->node)) weft__wl_remove(&rx->node);
    weft_waker *w = rx->waker;
    rx->waker = NULL;
    weft__lock_release(&c->lock);
    weft_waker_drop(w);
}

/* 0 (now seen), -EPIPE, or -EAGAIN (nothing new, still open). */
static int check(weft_watch_rx *rx, uint64_t s) {
    uint64_t v = s & ~CLOSED;
    if (v != rx->seen) {
        rx->seen = v;
        return 0;
    }
    return (s & CLOSED) ? -EPIPE : -EAGAIN;
}

weft_poll weft_watch_changed(weft_watch_rx *rx, weft_cx *cx, int *status) {
    if (cx == NULL) {
        changed_cancel(rx);
        return WEFT_READY;
    }
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    watch *c = rx->c;
    /* Fast path: something unseen (or closed) needs no lock. */
    int r = check(rx, load_state(c));
    if (r == -EAGAIN) {
        weft_waker *drop = NULL;
        weft__lock_acquire(&c->lock);
        r = check(rx, atomic_load_explicit(&c->state, memory_order_relaxed));
        if (r == -EAGAIN) {
            if (rx->waker != cx->waker) {
                drop = rx->waker;
                rx->waker = weft_waker_clone(cx->waker);
            }
            if (!weft__wl_linked(&rx->node)) weft__wl_push_back(&c->waiting, &rx->node);
        } else if (weft__wl_linked(&rx->node)) {
            weft__wl_remove(&rx->node);
        }
        weft__lock_release(&c->lock);
        weft_waker_drop(drop);
        if (r == -EAGAIN) return WEFT_PENDING;
    }
    if (status) *status = r;
    weft_coop_made_progress(cx);
    return WEFT_READY;
}

void weft_watch_rx_drop(weft_watch_rx *rx) {
    if (!rx) return;
    watch *c = rx->c;
    weft__lock_acquire(&c->lock);
    if (weft__wl_linked(&rx->node)) weft__wl_remove(&rx->node);
    weft_waker *w = rx->waker;
    rx->waker = NULL;
    weft_waker *cw = NULL;
    if (--c->receivers == 0) {
        cw = c->closed_waker;
        c->closed_waker = NULL;
    }
    int last = c->receivers == 0 && c->tx_gone;
    weft__lock_release(&c->lock);
    weft_waker_drop(w);
    weft_waker_wake(cw);
    weft__free(rx);
    if (last) destroy(c);
}
