/*
 * src/sync/oneshot.c - the one-value channel (see include/weft/oneshot.h).
 *
 * One allocation holds the state and the value.  All state is under the
 * channel's spinlock; wakers are taken out under it and woken after.  The
 * channel is freed by whichever side is released second (both flags are set
 * under the lock, so exactly one side sees the other's already set).
 */
#include <weft/oneshot.h>

#include "../core/alloc.h"
#include "../core/copy.h"
#include "../core/lock.h"
#include "../rt/internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct oneshot {
    void *mark; /* reserved by weft__obj_alloc */
    weft__lock lock;
    uint8_t sent, received, tx_gone, rx_gone, rx_closed;
    weft_waker *rx_waker; /* the receiver, parked in recv */
    weft_waker *tx_waker; /* the sender, parked in closed */
    void (*drop_elem)(void *);
    size_t elem_size;
} oneshot;

#define VALUE_OFFSET ((sizeof(oneshot) + 15) & ~(size_t)15)

static void *value_of(oneshot *c) { return (char *)c + VALUE_OFFSET; }

int weft_oneshot_new(weft_oneshot_tx **tx, weft_oneshot_rx **rx, size_t elem_size,
                     void (*drop_elem)(void *elem)) {
    if (!tx || !rx) return -EINVAL;
    *tx = NULL;
    *rx = NULL;
    if (elem_size > SIZE_MAX / 2) return -EINVAL;
    oneshot *c = weft__obj_alloc(VALUE_OFFSET + elem_size);
    if (!c) return -ENOMEM;
    c->elem_size = elem_size;
    c->drop_elem = drop_elem;
    *tx = (weft_oneshot_tx *)c;
    *rx = (weft_oneshot_rx *)c;
    return 0;
}

int weft_oneshot_send(weft_oneshot_tx *tx, const void *value) {
    oneshot *c = (oneshot *)tx;
    weft__lock_acquire(&c->lock);
    c->tx_gone = 1;
    weft_waker *tw = c->tx_waker;
    c->tx_waker = NULL;
    if (c->rx_closed) {
        int last = c->rx_gone;
        weft__lock_release(&c->lock);
        weft_waker_drop(tw);
        if (last) weft__obj_free(c);
        return -EPIPE; /* the value was not taken */
    }
    weft__copy(value_of(c), value, c->elem_size);
    c->sent = 1;
    weft_waker *rw = c->rx_waker;
    c->rx_waker = NULL;
    weft__lock_release(&c->lock);
    weft_waker_drop(tw);
    weft_waker_wake(rw);
    return 0;
}

void weft_oneshot_tx_drop(weft_oneshot_tx *tx) {
    oneshot *c = (oneshot *)tx;
    if (!c) return;
    weft__lock_acquire(&c->lock);
    c->tx_gone = 1;
    weft_waker *tw = c->tx_waker, *rw = c->rx_waker;
    c->tx_waker = c->rx_waker = NULL;
    int last = c->rx_gone;
    weft__lock_release(&c->lock);
    weft_waker_drop(tw);
    weft_waker_wake(rw); /* the receiver learns it will get nothing */
    if (last) weft__obj_free(c);
}

int weft_oneshot_is_closed(const weft_oneshot_tx *tx) {
    oneshot *c = (oneshot *)tx;
    weft__lock_acquire(&c->lock);
    int closed = c->rx_closed;
    weft__lock_release(&c->lock);
    return closed;
}

weft_poll weft_oneshot_closed(weft_oneshot_tx *tx, weft_cx *cx) {
    oneshot *c = (oneshot *)tx;
    weft_waker *old = NULL;
    weft_poll r = WEFT_PENDING;
    if (cx && !weft_coop_poll(cx)) return WEFT_PENDING;
    weft__lock_acquire(&c->lock);
    if (cx == NULL) {
        old = c->tx_waker;
        c->tx_waker = NULL;
        r = WEFT_READY;
    } else if (c->rx_closed) {
        old = c->tx_waker;
        c->tx_waker = NULL;
        r = WEFT_READY;
    } else if (c->tx_waker != cx->waker) {
        old = c->tx_waker;
        c->tx_waker = weft_waker_clone(cx->waker);
    }
    weft__lock_release(&c->lock);
    weft_waker_drop(old);
    if (cx && r == WEFT_READY) weft_coop_made_progress(cx);
    return r;
}

/* Under the lock: 0 and the value, -EPIPE, or -EAGAIN. */
static int take_locked(oneshot *c, void *out) {
    if (c->sent && !c->received) {
        weft__copy(out, value_of(c), c->elem_size);
        c->received = 1;
        return 0;
    }
    if (c->received || c->tx_gone || c->rx_closed) return -EPIPE;
    return -EAGAIN;
}

weft_poll weft_oneshot_recv(weft_oneshot_rx *rx, weft_cx *cx, void *out, int *status) {
    oneshot *c = (oneshot *)rx;
    weft_waker *old = NULL;
    if (cx == NULL) {
        weft__lock_acquire(&c->lock);
        old = c->rx_waker;
        c->rx_waker = NULL;
        weft__lock_release(&c->lock);
        weft_waker_drop(old);
        return WEFT_READY;
    }
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    weft__lock_acquire(&c->lock);
    int r = take_locked(c, out);
    if (r == -EAGAIN) {
        if (c->rx_waker != cx->waker) {
            old = c->rx_waker;
            c->rx_waker = weft_waker_clone(cx->waker);
        }
    } else {
        old = c->rx_waker;
        c->rx_waker = NULL;
    }
    weft__lock_release(&c->lock);
    weft_waker_drop(old);
    if (r == -EAGAIN) return WEFT_PENDING;
    if (status) *status = r;
    weft_coop_made_progress(cx);
    return WEFT_READY;
}

int weft_oneshot_try_recv(weft_oneshot_rx *rx, void *out) {
    oneshot *c = (oneshot *)rx;
    weft__lock_acquire(&c->lock);
    int r = take_locked(c, out);
    weft__lock_release(&c->lock);
    return r;
}

void weft_oneshot_rx_close(weft_oneshot_rx *rx) {
    oneshot *c = (oneshot *)rx;
    weft__lock_acquire(&c->lock);
    c->rx_closed = 1;
    weft_waker *tw = c->tx_waker;
    c->tx_waker = NULL;
    weft__lock_release(&c->lock);
    weft_waker_wake(tw); /* a sender waiting in closed() can stop */
}

void weft_oneshot_rx_drop(weft_oneshot_rx *rx) {
    oneshot *c = (oneshot *)rx;
    if (!c) return;
    weft__lock_acquire(&c->lock);
    c->rx_closed = 1;
    c->rx_gone = 1;
    weft_waker *tw = c->tx_waker, *rw = c->rx_waker;
    c->tx_waker = c->rx_waker = NULL;
    int unclaimed = c->sent && !c->received;
    int last = c->tx_gone;
    weft__lock_release(&c->lock);
    weft_waker_drop(rw);
    weft_waker_wake(tw);
    /* A sent value means the sender is gone too (send releases it), so
     * nobody else can touch the channel now. */
    if (unclaimed && c->drop_elem) c->drop_elem(value_of(c));
    if (last) weft__obj_free(c);
}
