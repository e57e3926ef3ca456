/*
 * src/sync/mpsc.c - the bounded multi-producer channel (see
 * include/weft/mpsc.h).
 *
 * One allocation: the state, then a ring of `cap` slots of elem_size bytes.
 * All state is under the channel's spinlock, so a send or a recv that does
 * not wait costs one atomic exchange; wakers are taken out under the lock and
 * woken after it.
 *
 * Capacity accounting: len values are buffered and `reserved` slots are set
 * aside for senders that were waiting and have been granted a slot but not
 * yet re-polled; len + reserved <= cap.  When a recv frees a slot and senders
 * wait, the oldest is granted it (FIFO, no barging: try_send and new sends
 * queue behind waiters).  A granted sender that is cancelled passes its slot
 * to the next waiter.
 *
 * Lifetime: the receiver and each sender are references.  The receiver drops
 * its buffered values before it lets go of its reference, and whoever finds
 * both counts at zero (under the lock) frees the channel.
 */
#include <weft/mpsc.h>

#include "../core/alloc.h"
#include "../core/copy.h"
#include "../core/lock.h"
#include "../core/wait_list.h"
#include "../rt/internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { SEND_IDLE = 0, SEND_WAITING, SEND_GRANTED };

typedef struct mpsc {
    weft__lock lock;
    size_t cap, elem_size, stride;
    size_t head, len, reserved;
    size_t senders;
    uint8_t rx_closed; /* no new values */
    uint8_t rx_gone;   /* receiver dropped: nothing is pushed any more */
    uint8_t rx_ref;    /* the receiver still holds its reference */
    weft_waker *rx_waker; /* the receiver's last waker (a reference), kept */
    uint8_t rx_parked;    /* the receiver waits for rx_waker to be woken */
    weft_wait_node waiting; /* senders waiting for room */
    void (*drop_elem)(void *);
    unsigned char *buf;
} mpsc;

int weft_mpsc_new(weft_mpsc_tx **tx, weft_mpsc_rx **rx, size_t capacity, size_t elem_size,
                  void (*drop_elem)(void *elem)) {
    if (!tx || !rx) return -EINVAL;
    *tx = NULL;
    *rx = NULL;
    if (capacity == 0) return -EINVAL;
    size_t stride = (elem_size + 7) & ~(size_t)7;
    if (stride < elem_size || (stride && capacity > (SIZE_MAX - sizeof(mpsc) - 16) / stride))
        return -EINVAL;
    size_t head = (sizeof(mpsc) + 15) & ~(size_t)15;
    mpsc *c = weft__calloc(1, head + capacity * stride);
    if (!c) return -ENOMEM;
    c->cap = capacity;
    c->elem_size = elem_size;
    c->stride = stride;
    c->senders = 1;
    c->rx_ref = 1;
    c->drop_elem = drop_elem;
    c->buf = (unsigned char *)c + head;
    *tx = (weft_mpsc_tx *)c;
    *rx = (weft_mpsc_rx *)c;
    return 0;
}

static weft_mpsc_send_op *op_of(weft_wait_node *n) {
    return WEFT__CONTAINER(n, weft_mpsc_send_op, node);
}

/*
 * Under the lock: wake the receiver if it is parked.  The receiver's waker
 * stays registered, so it does not clone a new one at every park.  A weft
 * task's wake_by_ref only marks it and puts it on a run queue, so it is done
 * right here; any other waker is handed out to be woken after the unlock
 * (wakers of unknown code are never called under a lock).
 */
static weft_waker *wake_rx_locked(mpsc *c) {
    if (!c->rx_parked) return NULL;
    c->rx_parked = 0;
    weft_waker *w = c->rx_waker;
    if (weft__is_task_waker(w)) {
        w->vtable->wake_by_ref(w);
        return NULL;
    }
    c->rx_waker = NULL;
    return w;
}

/* Under the lock: append a value; returns a waker to wake after the unlock. */
static weft_waker *push_locked(mpsc *c, const void *value) {
    size_t i = c->head + c->len;
    if (i >= c->cap) i -= c->cap;
    weft__copy(c->buf + i * c->stride, value, c->elem_size);
    c->len++;
    return wake_rx_locked(c);
}

/* Under the lock: give free room to the oldest waiting sender, if any. */
static weft_waker *grant_locked(mpsc *c) {
    if (c->len + c->reserved >= c->cap) return NULL;
    weft_wait_node *n = weft__wl_pop_front(&c->waiting);
    if (!n) return NULL;
    weft_mpsc_send_op *op = op_of(n);
    op->state = SEND_GRANTED;
    c->reserved++;
    weft_waker *w = op->waker;
    op->waker = NULL;
    return w;
}

static void destroy(mpsc *c) { weft__free(c); }

weft_mpsc_tx *weft_mpsc_tx_clone(weft_mpsc_tx *tx) {
    mpsc *c = (mpsc *)tx;
    weft__lock_acquire(&c->lock);
    c->senders++;
    weft__lock_release(&c->lock);
    return tx;
}

void weft_mpsc_tx_drop(weft_mpsc_tx *tx) {
    mpsc *c = (mpsc *)tx;
    if (!c) return;
    weft_waker *w = NULL;
    weft__lock_acquire(&c->lock);
    if (--c->senders == 0) w = wake_rx_locked(c); /* it learns the channel is closed */
    int last = c->senders == 0 && !c->rx_ref;
    weft__lock_release(&c->lock);
    weft_waker_wake(w);
    if (last) destroy(c);
}

static void send_cancel(mpsc *c, weft_mpsc_send_op *op) {
    weft_waker *next = NULL, *mine;
    weft__lock_acquire(&c->lock);
    if (op->state == SEND_WAITING && weft__wl_linked(&op->node)) weft__wl_remove(&op->node);
    if (op->state == SEND_GRANTED) {
        c->reserved--;
        next = grant_locked(c); /* the slot was set aside for us: pass it on */
    }
    mine = op->waker;
    op->waker = NULL;
    op->state = SEND_IDLE;
    weft__lock_release(&c->lock);
    weft_waker_drop(mine);
    weft_waker_wake(next);
}

weft_poll weft_mpsc_send(weft_mpsc_tx *tx, weft_cx *cx, weft_mpsc_send_op *op, const void *value,
                         int *status) {
    mpsc *c = (mpsc *)tx;
    if (cx == NULL) {
        send_cancel(c, op);
        return WEFT_READY;
    }
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    weft_waker *wake = NULL, *drop = NULL;
    int st;
    weft__lock_acquire(&c->lock);
    switch (op->state) {
    case SEND_GRANTED:
        c->reserved--;
        op->state = SEND_IDLE;
        if (c->rx_gone) {
            st = -EPIPE;
        } else {
            wake = push_locked(c, value); /* permitted even after rx_close */
            st = 0;
        }
        break;
    case SEND_WAITING:
        /* Spurious poll: still queued (close would have released us). */
        if (op->waker != cx->waker) {
            drop = op->waker;
            op->waker = weft_waker_clone(cx->waker);
        }
        weft__lock_release(&c->lock);
        weft_waker_drop(drop);
        return WEFT_PENDING;
    default:
        if (c->rx_closed) {
            st = -EPIPE;
        } else if (weft__wl_empty(&c->waiting) && c->len + c->reserved < c->cap) {
            wake = push_locked(c, value);
            st = 0;
        } else {
            op->waker = weft_waker_clone(cx->waker);
            op->state = SEND_WAITING;
            weft__wl_push_back(&c->waiting, &op->node);
            weft__lock_release(&c->lock);
            return WEFT_PENDING;
        }
        break;
    }
    weft__lock_release(&c->lock);
    weft_waker_wake(wake);
    if (status) *status = st;
    weft_coop_made_progress(cx);
    return WEFT_READY;
}

int weft_mpsc_try_send(weft_mpsc_tx *tx, const void *value) {
    mpsc *c = (mpsc *)tx;
    weft_waker *wake = NULL;
    int r;
    weft__lock_acquire(&c->lock);
    if (c->rx_closed) {
        r = -EPIPE;
    } else if (!weft__wl_empty(&c->waiting) || c->len + c->reserved >= c->cap) {
        r = -EAGAIN;
    } else {
        wake = push_locked(c, value);
        r = 0;
    }
    weft__lock_release(&c->lock);
    weft_waker_wake(wake);
    return r;
}

int weft_mpsc_tx_is_closed(weft_mpsc_tx *tx) {
    mpsc *c = (mpsc *)tx;
    weft__lock_acquire(&c->lock);
    int r = c->rx_closed;
    weft__lock_release(&c->lock);
    return r;
}

/* Under the lock: 0 and a value, -EAGAIN, or -EPIPE; *wake gets a sender. */
static int pop_locked(mpsc *c, void *out, weft_waker **wake) {
    if (c->len) {
        weft__copy(out, c->buf + c->head * c->stride, c->elem_size);
        if (++c->head == c->cap) c->head = 0;
        c->len--;
        *wake = grant_locked(c);
        return 0;
    }
    if ((c->senders == 0 || c->rx_closed) && c->reserved == 0) return -EPIPE;
    return -EAGAIN;
}

weft_poll weft_mpsc_recv(weft_mpsc_rx *rx, weft_cx *cx, void *out, int *status) {
    mpsc *c = (mpsc *)rx;
    weft_waker *wake = NULL, *drop = NULL;
    if (cx == NULL) {
        weft__lock_acquire(&c->lock);
        drop = c->rx_waker;
        c->rx_waker = NULL;
        c->rx_parked = 0;
        weft__lock_release(&c->lock);
        weft_waker_drop(drop);
        return WEFT_READY;
    }
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    weft__lock_acquire(&c->lock);
    int r = pop_locked(c, out, &wake);
    if (r == -EAGAIN) {
        if (c->rx_waker != cx->waker) {
            drop = c->rx_waker;
            c->rx_waker = weft_waker_clone(cx->waker);
        }
        c->rx_parked = 1;
    } else {
        c->rx_parked = 0;
    }
    weft__lock_release(&c->lock);
    weft_waker_drop(drop);
    weft_waker_wake(wake);
    if (r == -EAGAIN) return WEFT_PENDING;
    if (status) *status = r;
    weft_coop_made_progress(cx);
    return WEFT_READY;
}

int weft_mpsc_try_recv(weft_mpsc_rx *rx, void *out) {
    mpsc *c = (mpsc *)rx;
    weft_waker *wake = NULL;
    weft__lock_acquire(&c->lock);
    int r = pop_locked(c, out, &wake);
    weft__lock_release(&c->lock);
    weft_waker_wake(wake);
    return r;
}

size_t weft_mpsc_len(weft_mpsc_rx *rx) {
    mpsc *c = (mpsc *)rx;
    weft__lock_acquire(&c->lock);
    size_t n = c->len;
    weft__lock_release(&c->lock);
    return n;
}

void weft_mpsc_rx_close(weft_mpsc_rx *rx) {
    mpsc *c = (mpsc *)rx;
    weft__wake_list wl = {.n = 0};
    weft__lock_acquire(&c->lock);
    c->rx_closed = 1;
    /* Waiting senders are released; they see the channel closed. */
    for (;;) {
        weft_wait_node *n;
        while (!weft__wake_list_full(&wl) && (n = weft__wl_pop_front(&c->waiting))) {
            weft_mpsc_send_op *op = op_of(n);
            op->state = SEND_IDLE;
            weft__wake_list_push(&wl, op->waker);
            op->waker = NULL;
        }
        int more = !weft__wl_empty(&c->waiting);
        weft__lock_release(&c->lock);
        weft__wake_list_wake(&wl);
        if (!more) return;
        weft__lock_acquire(&c->lock);
    }
}

void weft_mpsc_rx_drop(weft_mpsc_rx *rx) {
    mpsc *c = (mpsc *)rx;
    if (!c) return;
    weft_mpsc_rx_close(rx);
    weft__lock_acquire(&c->lock);
    c->rx_gone = 1; /* from here on nothing is pushed: the buffer is ours */
    size_t head = c->head, len = c->len;
    c->len = 0;
    weft_waker *w = c->rx_waker;
    c->rx_waker = NULL;
    c->rx_parked = 0;
    weft__lock_release(&c->lock);
    weft_waker_drop(w);
    if (c->drop_elem) {
        for (size_t k = 0; k < len; k++) {
            c->drop_elem(c->buf + head * c->stride);
            if (++head == c->cap) head = 0;
        }
    }
    weft__lock_acquire(&c->lock);
    c->rx_ref = 0;
    int last = c->senders == 0;
    weft__lock_release(&c->lock);
    if (last) destroy(c);
}
