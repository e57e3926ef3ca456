/*
 * src/sync/broadcast.c - the broadcast channel (see include/weft/broadcast.h).
 *
 * One allocation for the channel: the state, then a ring of exactly `cap`
 * slots of elem_size bytes.  Each receiver is a small allocation of its own
 * holding its position, its wait node and its registered waker.  All of it
 * is under the channel's spinlock, so a send and a recv are one lock round
 * trip each and allocate nothing.
 *
 * Positions.  `tail` counts the values ever stored (64 bits: never wraps in
 * practice); the value at position p lives in slot p mod cap.  To avoid a
 * division per operation every side keeps its slot index next to its
 * position and wraps it by comparison: the channel has tail_idx, each
 * receiver has idx for its `next` position.  The ring retains positions
 * [tail - cap, tail) (or [0, tail) before it first fills).  A receiver whose
 * next < tail - cap lagged: it jumps to tail - cap, whose slot index is
 * tail_idx, and reports how many it skipped.
 *
 * Waiting.  One receiver is one waiter: its node lives in the handle and is
 * linked in `waiting` exactly while it waits.  Its waker stays registered
 * across waits (cloned again only when the task's waker changed), as in
 * mpsc.  A send unlinks every waiting receiver and wakes it: a weft task by
 * reference under the lock (it is only marked and queued), any other waker
 * taken out of the handle and woken after the unlock, in batches of
 * WEFT__WAKE_BATCH; for the batches the rest of the list is moved to a list
 * of the sender's own first, so waiters that arrive meanwhile (they already
 * saw the value) are not this send's business.  A receiver that cancels
 * meanwhile unlinks itself from that list under the lock.
 *
 * Lifetime.  senders and receivers count the handles; whoever drops the
 * last one (both counts zero, under the lock) frees the channel.  The last
 * sender's drop wakes the waiting receivers in batches with the lock
 * released in between, so it keeps the channel alive (`closing`) until it
 * is done.
 */
#include <weft/broadcast.h>

#include "../core/alloc.h"
#include "../core/copy.h"
#include "../core/lock.h"
#include "../core/wait_list.h"
#include "../rt/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

typedef struct bchan {
    weft__lock lock;
    size_t cap, elem_size, stride;
    uint64_t tail;   /* values stored so far */
    size_t tail_idx; /* tail mod cap */
    size_t senders, receivers;
    uint8_t closing; /* the last sender is still waking receivers */
    weft_wait_node waiting; /* receivers waiting for a value */
    void (*clone_elem)(void *dst, const void *src);
    void (*drop_elem)(void *elem);
    unsigned char *buf;
} bchan;

struct weft_broadcast_rx {
    bchan *c;
    uint64_t next;       /* position of the next value to receive */
    size_t idx;          /* next mod cap */
    weft_wait_node node; /* linked in c->waiting while waiting */
    weft_waker *waker;   /* the registered waker (a reference), kept */
};

typedef struct weft_broadcast_rx brx;

int weft_broadcast_new(weft_broadcast_tx **tx, weft_broadcast_rx **rx, size_t capacity,
                       size_t elem_size, void (*clone_elem)(void *dst, const void *src),
                       void (*drop_elem)(void *elem)) {
    if (rx) *rx = NULL;
    if (!tx) return -EINVAL;
    *tx = NULL;
    if (capacity == 0 || capacity > SIZE_MAX / 4) return -EINVAL;
    size_t stride = (elem_size + 7) & ~(size_t)7;
    if (stride < elem_size || (stride && capacity > (SIZE_MAX - sizeof(bchan) - 16) / stride))
        return -EINVAL;
    size_t head = (sizeof(bchan) + 15) & ~(size_t)15;
    bchan *c = weft__calloc(1, head + capacity * stride);
    if (!c) return -ENOMEM;
    c->cap = capacity;
    c->elem_size = elem_size;
    c->stride = stride;
    c->senders = 1;
    c->clone_elem = clone_elem;
    c->drop_elem = drop_elem;
    c->buf = (unsigned char *)c + head;
    if (rx) {
        brx *r = weft__calloc(1, sizeof *r);
        if (!r) {
            weft__free(c);
            return -ENOMEM;
        }
        r->c = c;
        c->receivers = 1;
        *rx = r;
    }
    *tx = (weft_broadcast_tx *)c;
    return 0;
}

/* Free the channel: nobody else refers to it any more. */
static void destroy(bchan *c) {
    if (c->drop_elem) {
        size_t n = c->tail < c->cap ? (size_t)c->tail : c->cap;
        for (size_t i = 0; i < n; i++) c->drop_elem(c->buf + i * c->stride);
    }
    weft__free(c);
}

static brx *rx_of(weft_wait_node *n) { return WEFT__CONTAINER(n, brx, node); }

/* Under the lock: a parked receiver that a send (or close) wakes. */
static weft_waker *take_rx(weft_wait_node *n) {
    brx *r = rx_of(n);
    weft_waker *w = r->waker;
    if (weft__is_task_waker(w)) {
        w->vtable->wake_by_ref(w); /* stays registered */
        return NULL;
    }
    r->waker = NULL;
    return w;
}

/*
 * Entered with the lock held; returns with it released.  Unlinks every
 * waiting receiver and wakes it (see the top comment).
 */
static void wake_all_and_unlock(bchan *c) {
    /* Our own list: receivers that park between batches already saw the
     * value and are not woken by this send. */
    weft_wait_node local;
    weft__wl_splice(&local, &c->waiting);
    weft__wl_wake_all_unlock(&c->lock, &local, take_rx);
}

weft_broadcast_tx *weft_broadcast_tx_clone(weft_broadcast_tx *tx) {
    bchan *c = (bchan *)tx;
    if (!c) return NULL;
    weft__lock_acquire(&c->lock);
    c->senders++;
    weft__lock_release(&c->lock);
    return tx;
}

void weft_broadcast_tx_drop(weft_broadcast_tx *tx) {
    bchan *c = (bchan *)tx;
    if (!c) return;
    weft__lock_acquire(&c->lock);
    if (--c->senders > 0) {
        weft__lock_release(&c->lock);
        return;
    }
    if (c->receivers == 0) {
        weft__lock_release(&c->lock);
        destroy(c);
        return;
    }
    /* Closed: waiting receivers learn it.  Keep the channel alive while the
     * lock is let go between wake batches. */
    c->closing = 1;
    wake_all_and_unlock(c);
    weft__lock_acquire(&c->lock);
    c->closing = 0;
    int last = c->receivers == 0;
    weft__lock_release(&c->lock);
    if (last) destroy(c);
}

int weft_broadcast_send(weft_broadcast_tx *tx, const void *value) {
    bchan *c = (bchan *)tx;
    if (!c || (!value && c->elem_size)) return -EINVAL;
    weft__lock_acquire(&c->lock);
    size_t n = c->receivers;
    if (n == 0) {
        weft__lock_release(&c->lock);
        return -EPIPE;
    }
    unsigned char *slot = c->buf + c->tail_idx * c->stride;
    if (c->drop_elem && c->tail >= c->cap) c->drop_elem(slot); /* overwritten */
    weft__copy(slot, value, c->elem_size);
    c->tail++;
    if (++c->tail_idx == c->cap) c->tail_idx = 0;
    if (weft__wl_empty(&c->waiting))
        weft__lock_release(&c->lock);
    else
        wake_all_and_unlock(c);
    return n > INT_MAX ? INT_MAX : (int)n;
}

static brx *new_rx_at_tail(bchan *c) {
    brx *r = weft__calloc(1, sizeof *r);
    if (!r) return NULL;
    r->c = c;
    weft__lock_acquire(&c->lock);
    r->next = c->tail;
    r->idx = c->tail_idx;
    c->receivers++;
    weft__lock_release(&c->lock);
    return r;
}

int weft_broadcast_subscribe(weft_broadcast_rx **out, weft_broadcast_tx *tx) {
    *out = tx ? new_rx_at_tail((bchan *)tx) : NULL;
    return *out ? 0 : tx ? -ENOMEM : -EINVAL;
}

int weft_broadcast_rx_resubscribe(weft_broadcast_rx **out, weft_broadcast_rx *rx) {
    *out = rx ? new_rx_at_tail(rx->c) : NULL;
    return *out ? 0 : rx ? -ENOMEM : -EINVAL;
}

size_t weft_broadcast_receiver_count(weft_broadcast_tx *tx) {
    bchan *c = (bchan *)tx;
    weft__lock_acquire(&c->lock);
    size_t n = c->receivers;
    weft__lock_release(&c->lock);
    return n;
}

size_t weft_broadcast_len(weft_broadcast_rx *rx) {
    bchan *c = rx->c;
    weft__lock_acquire(&c->lock);
    uint64_t d = c->tail - rx->next;
    weft__lock_release(&c->lock);
    return d > c->cap ? c->cap : (size_t)d;
}

/* Under the lock: 0 and a value, -EOVERFLOW, -EPIPE or -EAGAIN. */
static int take_locked(bchan *c, brx *r, void *out, uint64_t *missed) {
    uint64_t tail = c->tail;
    if (r->next == tail) return c->senders == 0 ? -EPIPE : -EAGAIN;
    if (tail - r->next > c->cap) {
        uint64_t oldest = tail - c->cap;
        if (missed) *missed = oldest - r->next;
        r->next = oldest;
        r->idx = c->tail_idx; /* oldest mod cap == tail mod cap */
        return -EOVERFLOW;
    }
    const unsigned char *slot = c->buf + r->idx * c->stride;
    if (c->clone_elem)
        c->clone_elem(out, slot);
    else
        weft__copy(out, slot, c->elem_size);
    r->next++;
    if (++r->idx == c->cap) r->idx = 0;
    return 0;
}

weft_poll weft_broadcast_recv(weft_broadcast_rx *rx, weft_cx *cx, void *out, uint64_t *missed,
                              int *status) {
    bchan *c = rx->c;
    weft_waker *drop = NULL;
    if (cx == NULL) {
        weft__lock_acquire(&c->lock);
        if (weft__wl_linked(&rx->node)) weft__wl_remove(&rx->node);
        drop = rx->waker;
        rx->waker = NULL;
        weft__lock_release(&c->lock);
        weft_waker_drop(drop);
        return WEFT_READY;
    }
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    if (!out && c->elem_size) {
        if (status) *status = -EINVAL;
        weft_coop_made_progress(cx); /* an error counts too */
        return WEFT_READY;
    }
    weft__lock_acquire(&c->lock);
    int r = take_locked(c, rx, out, missed);
    if (r == -EAGAIN) {
        if (rx->waker != cx->waker) {
            drop = rx->waker;
            rx->waker = weft_waker_clone(cx->waker);
        }
        if (!weft__wl_linked(&rx->node)) weft__wl_push_back(&c->waiting, &rx->node);
        weft__lock_release(&c->lock);
        weft_waker_drop(drop);
        return WEFT_PENDING;
    }
    if (weft__wl_linked(&rx->node)) weft__wl_remove(&rx->node);
    weft__lock_release(&c->lock);
    if (status) *status = r;
    weft_coop_made_progress(cx);
    return WEFT_READY;
}

int weft_broadcast_try_recv(weft_broadcast_rx *rx, void *out, uint64_t *missed) {
    if (!rx || (!out && rx->c->elem_size)) return -EINVAL;
    bchan *c = rx->c;
    weft__lock_acquire(&c->lock);
    int r = take_locked(c, rx, out, missed);
    weft__lock_release(&c->lock);
    return r;
}

void weft_broadcast_rx_drop(weft_broadcast_rx *rx) {
    if (!rx) return;
    bchan *c = rx->c;
    weft__lock_acquire(&c->lock);
    if (weft__wl_linked(&rx->node)) weft__wl_remove(&rx->node);
    weft_waker *w = rx->waker;
    rx->waker = NULL;
    c->receivers--;
    int last = c->receivers == 0 && c->senders == 0 && !c->closing;
    weft__lock_release(&c->lock);
    weft_waker_drop(w);
    weft__free(rx);
    if (last) destroy(c);
}
