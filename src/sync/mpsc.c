/*
 * src/sync/mpsc.c - the multi-producer channel, bounded and unbounded (see
 * include/weft/mpsc.h).
 *
 * Bounded: one allocation, the state then a ring of `cap` slots of
 * elem_size bytes.  All state is under the channel's spinlock, so a send or a
 * recv that does not wait costs one atomic exchange; wakers are taken out
 * under the lock and woken after it.
 *
 * Unbounded: the same state and code, with the ring in a buffer of its own
 * that doubles when it is full (grow_locked: the allocation is made with the
 * lock dropped, and the old buffer freed after it is released).  It is never
 * shrunk.  Nobody ever waits for room, so the waiting list stays empty.
 *
 * Capacity accounting: len values are buffered and `reserved` slots are set
 * aside: for senders that were waiting and have been granted a slot but not
 * yet re-polled (op state GRANTED), and for permits (HELD, weft_mpsc_reserve);
 * len + reserved <= cap, in both kinds of channel, so sending through a
 * permit never allocates.  When a recv frees a slot and senders wait, the
 * oldest is granted it (FIFO, no barging: try_send, try_reserve and new sends
 * queue behind waiters).  A slot set aside and then not used (a cancelled
 * granted sender, a released permit) goes to the next waiter (unreserve_locked).
 * The receiver sees the channel closed only when reserved == 0 as well: a
 * permit may still deliver a value, also after rx_close.
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

/* weft_mpsc_send_op.state */
enum {
    SEND_IDLE = 0, /* holds nothing */
    SEND_WAITING,  /* in c->waiting */
    SEND_GRANTED,  /* a slot is set aside for it, not yet re-polled */
    SEND_HELD      /* holds a permit (a reserved slot) */
};

typedef struct mpsc {
    weft__lock lock;
    size_t cap, elem_size, stride;
    size_t head, len, reserved;
    size_t senders;
    uint8_t rx_closed; /* no new values */
    uint8_t rx_gone;   /* receiver dropped: nothing is pushed any more */
    uint8_t rx_ref;    /* the receiver still holds its reference */
    uint8_t unbounded; /* buf is a separate allocation that grows */
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

enum { UNBOUNDED_START = 16 }; /* slots in an unbounded channel's first ring */

int weft_mpsc_unbounded_new(weft_mpsc_tx **tx, weft_mpsc_rx **rx, size_t elem_size,
                            void (*drop_elem)(void *elem)) {
    if (!tx || !rx) return -EINVAL;
    *tx = NULL;
    *rx = NULL;
    size_t stride = (elem_size + 7) & ~(size_t)7;
    if (stride < elem_size || (stride && UNBOUNDED_START > SIZE_MAX / 2 / stride)) return -EINVAL;
    mpsc *c = weft__calloc(1, sizeof(mpsc));
    if (!c) return -ENOMEM;
    c->buf = weft__malloc(stride ? UNBOUNDED_START * stride : 1);
    if (!c->buf) {
        weft__free(c);
        return -ENOMEM;
    }
    c->cap = UNBOUNDED_START;
    c->elem_size = elem_size;
    c->stride = stride;
    c->senders = 1;
    c->rx_ref = 1;
    c->unbounded = 1;
    c->drop_elem = drop_elem;
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

/*
 * Under the lock: a slot set aside (GRANTED or HELD) goes unused.  It goes to
 * the oldest waiting sender; with none, a receiver that waits only for
 * reserved slots to be used learns that the channel is closed.  Returns a
 * waker to wake after the unlock.
 */
static weft_waker *unreserve_locked(mpsc *c) {
    c->reserved--;
    weft_waker *w = grant_locked(c);
    if (!w && c->reserved == 0 && c->len == 0 && (c->rx_closed || c->senders == 0))
        w = wake_rx_locked(c);
    return w;
}

/*
 * Unbounded, under the lock (dropped and retaken): double the ring.  Returns
 * 0 (check for room again) or -ENOMEM.  The allocation is made unlocked; if
 * the ring changed meanwhile (someone else grew it, a recv made room, the
 * receiver closed) the new buffer is not used.  *garbage receives the buffer
 * that is no longer used, to be freed by the caller after its unlock; one
 * left there from an earlier call is freed here first.
 */
static int grow_locked(mpsc *c, void **garbage) {
    size_t cap = c->cap;
    weft__lock_release(&c->lock);
    weft__free(*garbage);
    *garbage = NULL;
    unsigned char *nb = NULL;
    if (cap <= SIZE_MAX / 2 / (c->stride ? c->stride : 1))
        nb = weft__malloc(c->stride ? 2 * cap * c->stride : 1);
    weft__lock_acquire(&c->lock);
    if (!nb) return c->cap != cap || c->len + c->reserved < c->cap ? 0 : -ENOMEM;
    if (c->cap != cap || c->len + c->reserved < cap || c->rx_closed) {
        *garbage = nb;
        return 0;
    }
    /* Move the values to the front of the new ring, oldest first. */
    size_t first = c->len < cap - c->head ? c->len : cap - c->head;
    memcpy(nb, c->buf + c->head * c->stride, first * c->stride);
    memcpy(nb + first * c->stride, c->buf, (c->len - first) * c->stride);
    *garbage = c->buf;
    c->buf = nb;
    c->head = 0;
    c->cap = 2 * cap;
    return 0;
}

/*
 * Unbounded, under the lock (may be dropped and retaken): make sure there is
 * room for one more value or reserved slot.  0, -EPIPE (closed), -ENOMEM.
 */
static int unbounded_room_locked(mpsc *c, void **garbage) {
    for (;;) {
        if (c->rx_closed) return -EPIPE;
        if (c->len + c->reserved < c->cap) return 0;
        int r = grow_locked(c, garbage);
        if (r) return r;
    }
}

/* Unbounded: push *value, growing the ring if needed; drops the lock. */
static int unbounded_push_unlock(mpsc *c, const void *value) {
    void *garbage = NULL;
    weft_waker *wake = NULL;
    int r = unbounded_room_locked(c, &garbage);
    if (r == 0) wake = push_locked(c, value);
    weft__lock_release(&c->lock);
    weft__free(garbage);
    weft_waker_wake(wake);
    return r;
}

static void destroy(mpsc *c) {
    if (c->unbounded) weft__free(c->buf);
    weft__free(c);
}

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
    if (op->state == SEND_GRANTED || op->state == SEND_HELD)
        next = unreserve_locked(c); /* the slot was set aside for us: pass it on */
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
    case SEND_HELD: /* send through the permit op holds */
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
        } else if (c->unbounded) {
            st = unbounded_push_unlock(c, value);
            if (status) *status = st;
            weft_coop_made_progress(cx);
            return WEFT_READY;
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
        if (c->unbounded) return unbounded_push_unlock(c, value);
        r = -EAGAIN;
    } else {
        wake = push_locked(c, value);
        r = 0;
    }
    weft__lock_release(&c->lock);
    weft_waker_wake(wake);
    return r;
}

/*
 * Under the lock, for an idle op: set a slot aside for it now.  0, -EPIPE,
 * -EAGAIN (bounded: full, or others wait) or -ENOMEM (unbounded growth; the
 * lock may be dropped and retaken, *garbage as for grow_locked).
 */
static int reserve_now_locked(mpsc *c, weft_mpsc_send_op *op, void **garbage) {
    if (c->rx_closed) return -EPIPE;
    if (!weft__wl_empty(&c->waiting) || c->len + c->reserved >= c->cap) {
        if (!c->unbounded) return -EAGAIN;
        int r = unbounded_room_locked(c, garbage);
        if (r) return r;
    }
    c->reserved++;
    op->state = SEND_HELD;
    return 0;
}

weft_poll weft_mpsc_reserve(weft_mpsc_tx *tx, weft_cx *cx, weft_mpsc_send_op *op, int *status) {
    mpsc *c = (mpsc *)tx;
    if (cx == NULL) {
        send_cancel(c, op); /* also gives back a slot it holds */
        return WEFT_READY;
    }
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    weft_waker *wake = NULL, *drop = NULL;
    void *garbage = NULL;
    int st;
    weft__lock_acquire(&c->lock);
    switch (op->state) {
    case SEND_GRANTED:
        if (c->rx_gone) {
            op->state = SEND_IDLE;
            wake = unreserve_locked(c);
            st = -EPIPE;
        } else {
            op->state = SEND_HELD; /* the granted slot becomes the permit */
            st = 0;
        }
        break;
    case SEND_HELD:
        st = 0;
        break;
    case SEND_WAITING:
        if (op->waker != cx->waker) {
            drop = op->waker;
            op->waker = weft_waker_clone(cx->waker);
        }
        weft__lock_release(&c->lock);
        weft_waker_drop(drop);
        return WEFT_PENDING;
    default:
        st = reserve_now_locked(c, op, &garbage);
        if (st == -EAGAIN) {
            op->waker = weft_waker_clone(cx->waker);
            op->state = SEND_WAITING;
            weft__wl_push_back(&c->waiting, &op->node);
            weft__lock_release(&c->lock);
            return WEFT_PENDING;
        }
        break;
    }
    weft__lock_release(&c->lock);
    weft__free(garbage);
    weft_waker_wake(wake);
    if (status) *status = st;
    weft_coop_made_progress(cx);
    return WEFT_READY;
}

int weft_mpsc_try_reserve(weft_mpsc_tx *tx, weft_mpsc_send_op *op) {
    mpsc *c = (mpsc *)tx;
    if (!c || !op) return -EINVAL;
    void *garbage = NULL;
    int r;
    weft__lock_acquire(&c->lock);
    if (op->state == SEND_HELD)
        r = 0;
    else if (op->state != SEND_IDLE)
        r = -EINVAL; /* op is in the middle of a send or reserve */
    else
        r = reserve_now_locked(c, op, &garbage);
    weft__lock_release(&c->lock);
    weft__free(garbage);
    return r;
}

int weft_mpsc_permit_send(weft_mpsc_tx *tx, weft_mpsc_send_op *op, const void *value) {
    mpsc *c = (mpsc *)tx;
    if (!c || !op) return -EINVAL;
    weft_waker *wake;
    int r;
    weft__lock_acquire(&c->lock);
    if (op->state != SEND_HELD) {
        weft__lock_release(&c->lock);
        return -EINVAL;
    }
    op->state = SEND_IDLE;
    if (c->rx_gone) {
        wake = unreserve_locked(c);
        r = -EPIPE;
    } else {
        c->reserved--;
        wake = push_locked(c, value); /* also after rx_close */
        r = 0;
    }
    weft__lock_release(&c->lock);
    weft_waker_wake(wake);
    return r;
}

void weft_mpsc_permit_release(weft_mpsc_tx *tx, weft_mpsc_send_op *op) {
    mpsc *c = (mpsc *)tx;
    if (!c || !op) return;
    weft_waker *wake = NULL;
    weft__lock_acquire(&c->lock);
    if (op->state == SEND_HELD) {
        op->state = SEND_IDLE;
        wake = unreserve_locked(c);
    }
    weft__lock_release(&c->lock);
    weft_waker_wake(wake);
}

size_t weft_mpsc_capacity(weft_mpsc_tx *tx) {
    mpsc *c = (mpsc *)tx;
    weft__lock_acquire(&c->lock);
    size_t n = c->unbounded ? SIZE_MAX : c->cap - c->len - c->reserved;
    weft__lock_release(&c->lock);
    return n;
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

/* Under the lock: a waiting sender that rx_close releases. */
static weft_waker *take_closed(weft_wait_node *n) {
    weft_mpsc_send_op *op = op_of(n);
    op->state = SEND_IDLE;
    weft_waker *w = op->waker;
    op->waker = NULL;
    return w;
}

void weft_mpsc_rx_close(weft_mpsc_rx *rx) {
    mpsc *c = (mpsc *)rx;
    weft__lock_acquire(&c->lock);
    c->rx_closed = 1;
    /* Waiting senders are released; they see the channel closed.  No one
     * queues after this, so the queue itself is woken in batches. */
    weft__wl_wake_all_unlock(&c->lock, &c->waiting, take_closed);
}

void weft_mpsc_rx_drop(weft_mpsc_rx *rx) {
    mpsc *c = (mpsc *)rx;
    if (!c) return;
    weft_mpsc_rx_close(rx);
    weft__lock_acquire(&c->lock);
    c->rx_gone = 1; /* from here on nothing is pushed: the buffer is ours */
    size_t head = c->head, len = c->len, cap = c->cap;
    unsigned char *buf = c->buf; /* an unbounded ring no longer grows: closed */
    c->len = 0;
    weft_waker *w = c->rx_waker;
    c->rx_waker = NULL;
    c->rx_parked = 0;
    weft__lock_release(&c->lock);
    weft_waker_drop(w);
    if (c->drop_elem) {
        for (size_t k = 0; k < len; k++) {
            c->drop_elem(buf + head * c->stride);
            if (++head == cap) head = 0;
        }
    }
    weft__lock_acquire(&c->lock);
    c->rx_ref = 0;
    int last = c->senders == 0;
    weft__lock_release(&c->lock);
    if (last) destroy(c);
}
