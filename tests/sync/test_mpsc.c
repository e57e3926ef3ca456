/*
 * tests/sync/test_mpsc.c - the bounded mpsc channel, and its permits
 * (reserve / permit_send / permit_release).
 */
#include <weft.h>

#include "sync_util.h"
#include "test.h"

#include <pthread.h>

/* Sends [from, to) and records the status of the last send. */
typedef struct sender {
    weft_frame fr;
    weft_mpsc_tx *tx;
    int from, to, v;
    weft_mpsc_send_op op;
    int status, sent;
    int drop_tx;     /* release tx when done */
    int use_reserve; /* reserve a slot, then send through the permit */
} sender;

weft_async_fn(sender_poll, sender) {
    weft_async (self) {
        for (self->v = self->from; self->v < self->to; self->v++) {
            if (self->use_reserve) {
                weft_await(weft_mpsc_reserve(self->tx, cx, &self->op, &self->status));
                if (self->status) break;
                if (self->v & 1) weft_yield(); /* hold the permit across a suspension */
                self->status = weft_mpsc_permit_send(self->tx, &self->op, &self->v);
            } else {
                weft_await(weft_mpsc_send(self->tx, cx, &self->op, &self->v, &self->status));
            }
            if (self->status) break;
            self->sent++;
        }
    weft_finally:
        weft_mpsc_permit_release(self->tx, &self->op);
        if (self->drop_tx) weft_mpsc_tx_drop(self->tx);
    }
    return WEFT_READY;
}

/* Receives until closed (or max values), recording them. */
typedef struct receiver {
    weft_frame fr;
    weft_mpsc_rx *rx;
    int max, n, v, status;
    int *got;
} receiver;

weft_async_fn(receiver_poll, receiver) {
    weft_async (self) {
        while (self->n < self->max) {
            weft_await(weft_mpsc_recv(self->rx, cx, &self->v, &self->status));
            if (self->status) break;
            if (self->got) self->got[self->n] = self->v;
            self->n++;
        }
    }
    return WEFT_READY;
}

static void mpsc_delivers_values_in_order(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 4, sizeof(int), NULL), 0);
    for (int i = 0; i < 4; i++) CHECK_EQ(weft_mpsc_try_send(tx, &i), 0);
    CHECK_EQ(weft_mpsc_len(rx), 4);
    for (int i = 0; i < 4; i++) {
        int v = -1;
        CHECK_EQ(weft_mpsc_try_recv(rx, &v), 0);
        CHECK_EQ(v, i);
    }
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

static void mpsc_try_send_full_and_try_recv_empty_say_eagain(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    int v = 7, out = 0;
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), -EAGAIN);
    CHECK_EQ(weft_mpsc_try_send(tx, &v), 0);
    CHECK_EQ(weft_mpsc_try_send(tx, &v), -EAGAIN);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0);
    CHECK_EQ(out, 7);
    weft_mpsc_tx_drop(tx);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), -EPIPE);
    weft_mpsc_rx_drop(rx);
}

static void mpsc_new_rejects_zero_capacity(void) {
    weft_mpsc_tx *tx = (weft_mpsc_tx *)1;
    weft_mpsc_rx *rx = (weft_mpsc_rx *)1;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 0, 8, NULL), -EINVAL);
    CHECK(tx == NULL && rx == NULL);
    CHECK_EQ(weft_mpsc_new(NULL, &rx, 1, 8, NULL), -EINVAL);
}

/* A sender into a full channel waits; a recv lets it finish. */
typedef struct full_test {
    weft_frame fr;
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    weft_task *h;
    int v, status, before, after;
} full_test;

weft_async_fn(full_test_poll, full_test) {
    weft_async (self) {
        {
            sender *s;
            MUST(weft_task_new(&s, cx->rt, sender_poll));
            s->tx = self->tx;
            s->from = 0;
            s->to = 3;
            self->h = weft_task_spawn(s);
        }
        weft_yield();
        weft_yield();
        self->before = ((sender *)weft_task_frame(self->h))->sent; /* 2: the third waits */
        weft_await(weft_mpsc_recv(self->rx, cx, &self->v, &self->status));
        weft_await(weft_join(self->h, cx, NULL));
        self->after = ((sender *)weft_task_frame(self->h))->sent;
        weft_task_release(self->h);
    }
    return WEFT_READY;
}

static void mpsc_send_waits_when_full(void) {
    weft_rt *rt = new_rt();
    full_test t = {0};
    CHECK_EQ(weft_mpsc_new(&t.tx, &t.rx, 2, sizeof(int), NULL), 0);
    CHECK_EQ(weft_block_on(rt, full_test_poll, &t), 0);
    CHECK_EQ(t.before, 2);
    CHECK_EQ(t.v, 0);
    CHECK_EQ(t.after, 3);
    CHECK_EQ(weft_mpsc_len(t.rx), 2);
    weft_mpsc_tx_drop(t.tx);
    weft_mpsc_rx_drop(t.rx);
    weft_rt_free(rt);
}

/* Three senders block on a full channel; they get in in the order they came. */
typedef struct fifo_test {
    weft_frame fr;
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    weft_task *h[3];
    int i, got[4];
    receiver r;
} fifo_test;

weft_async_fn(fifo_test_poll, fifo_test) {
    weft_async (self) {
        {
            int filler = 100;
            weft_mpsc_try_send(self->tx, &filler);
        }
        for (self->i = 0; self->i < 3; self->i++) {
            {
                sender *s;
                MUST(weft_task_new(&s, cx->rt, sender_poll));
                s->tx = weft_mpsc_tx_clone(self->tx);
                s->drop_tx = 1;
                s->from = self->i;
                s->to = self->i + 1;
                self->h[self->i] = weft_task_spawn(s);
            }
            weft_yield(); /* let it queue before the next one */
        }
        self->r = (receiver){.rx = self->rx, .max = 4, .got = self->got};
        weft_await(receiver_poll(&self->r, cx));
        for (self->i = 0; self->i < 3; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void mpsc_blocked_senders_are_served_in_fifo_order(void) {
    weft_rt *rt = new_rt();
    fifo_test t = {0};
    CHECK_EQ(weft_mpsc_new(&t.tx, &t.rx, 1, sizeof(int), NULL), 0);
    CHECK_EQ(weft_block_on(rt, fifo_test_poll, &t), 0);
    CHECK_EQ(t.got[0], 100);
    CHECK_EQ(t.got[1], 0);
    CHECK_EQ(t.got[2], 1);
    CHECK_EQ(t.got[3], 2);
    weft_mpsc_tx_drop(t.tx);
    weft_mpsc_rx_drop(t.rx);
    weft_rt_free(rt);
}

/* Closed only after the last sender is gone and the buffer is drained. */
typedef struct close_test {
    weft_frame fr;
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    receiver r;
    int got[16];
} close_test;

weft_async_fn(close_test_poll, close_test) {
    weft_async (self) {
        for (int i = 0; i < 2; i++) {
            sender *s;
            MUST(weft_task_new(&s, cx->rt, sender_poll)); /* no await here */
            s->tx = i == 0 ? self->tx : weft_mpsc_tx_clone(self->tx);
            s->drop_tx = 1;
            s->from = i * 5;
            s->to = i * 5 + 5;
            weft_task_spawn_detached(s);
        }
        self->r = (receiver){.rx = self->rx, .max = 100, .got = self->got};
        weft_await(receiver_poll(&self->r, cx));
    }
    return WEFT_READY;
}

static void mpsc_recv_sees_closed_after_last_sender_and_drain(void) {
    weft_rt *rt = new_rt();
    close_test t = {0};
    CHECK_EQ(weft_mpsc_new(&t.tx, &t.rx, 2, sizeof(int), NULL), 0);
    CHECK_EQ(weft_block_on(rt, close_test_poll, &t), 0);
    CHECK_EQ(t.r.n, 10);
    CHECK_EQ(t.r.status, -EPIPE);
    int sum = 0;
    for (int i = 0; i < 10; i++) sum += t.got[i];
    CHECK_EQ(sum, 45);
    weft_mpsc_rx_drop(t.rx);
    weft_rt_free(rt);
}

static void mpsc_send_to_dropped_receiver_fails_and_keeps_value(void) {
    weft_rt *rt = new_rt();
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    weft_mpsc_rx_drop(rx);
    int v = 5;
    CHECK_EQ(weft_mpsc_try_send(tx, &v), -EPIPE);
    CHECK(weft_mpsc_tx_is_closed(tx));
    sender s = {.tx = tx, .from = 0, .to = 1};
    CHECK_EQ(weft_block_on(rt, sender_poll, &s), 0);
    CHECK_EQ(s.status, -EPIPE);
    CHECK_EQ(s.sent, 0);
    CHECK_EQ(s.v, 0); /* still the caller's value */
    weft_mpsc_tx_drop(tx);
    weft_rt_free(rt);
}

/* rx_close: waiting senders fail, buffered values can still be received. */
typedef struct rxclose_test {
    weft_frame fr;
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    weft_task *h;
    receiver r;
    int got[4];
} rxclose_test;

weft_async_fn(rxclose_test_poll, rxclose_test) {
    weft_async (self) {
        {
            sender *s;
            MUST(weft_task_new(&s, cx->rt, sender_poll));
            s->tx = self->tx;
            s->from = 0;
            s->to = 5;
            self->h = weft_task_spawn(s);
        }
        weft_yield();
        weft_yield(); /* 2 buffered, the sender waits with the third */
        weft_mpsc_rx_close(self->rx);
        weft_await(weft_join(self->h, cx, NULL));
        self->r = (receiver){.rx = self->rx, .max = 4, .got = self->got};
        weft_await(receiver_poll(&self->r, cx));
    }
    return WEFT_READY;
}

static void mpsc_rx_close_fails_waiting_senders_and_allows_drain(void) {
    weft_rt *rt = new_rt();
    rxclose_test t = {0};
    CHECK_EQ(weft_mpsc_new(&t.tx, &t.rx, 2, sizeof(int), NULL), 0);
    CHECK_EQ(weft_block_on(rt, rxclose_test_poll, &t), 0);
    sender *s = weft_task_frame(t.h);
    CHECK_EQ(s->status, -EPIPE);
    CHECK_EQ(s->sent, 2);
    CHECK_EQ(t.r.n, 2);
    CHECK_EQ(t.got[0], 0);
    CHECK_EQ(t.got[1], 1);
    CHECK_EQ(t.r.status, -EPIPE);
    weft_task_release(t.h);
    weft_mpsc_tx_drop(t.tx);
    weft_mpsc_rx_drop(t.rx);
    weft_rt_free(rt);
}

static int drops;
static void count_drop(void *elem) {
    drops++;
    free(*(void **)elem);
}

static void mpsc_rx_drop_drops_buffered_values(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 8, sizeof(void *), count_drop), 0);
    drops = 0;
    for (int i = 0; i < 3; i++) {
        void *p = malloc(32);
        CHECK_EQ(weft_mpsc_try_send(tx, &p), 0);
    }
    void *first = NULL;
    CHECK_EQ(weft_mpsc_try_recv(rx, &first), 0);
    free(first);
    weft_mpsc_rx_drop(rx);
    CHECK_EQ(drops, 2); /* valgrind/ASan: nothing leaked */
    weft_mpsc_tx_drop(tx);
}

/* ---- cancellation: abort a task parked in recv / send ----------------- */

typedef struct parked_test {
    weft_frame fr;
    weft_task *h;
    int status;
} parked_test;

weft_async_fn(abort_after_park_poll, parked_test) {
    weft_async (self) {
        weft_yield(); /* the victim parks */
        weft_task_abort(self->h);
        weft_await(weft_join(self->h, cx, &self->status));
        weft_task_release(self->h);
        self->h = NULL;
    }
    return WEFT_READY;
}

static void mpsc_cancelled_recv_leaves_no_registration(void) {
    weft_rt *rt = new_rt();
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    receiver *r;
    CHECK_EQ(weft_task_new(&r, rt, receiver_poll), 0);
    r->rx = rx;
    r->max = 1;
    parked_test t = {.h = weft_task_spawn(r)};
    CHECK_EQ(weft_block_on(rt, abort_after_park_poll, &t), 0);
    CHECK_EQ(t.status, -ECANCELED);
    /* The channel no longer holds the victim's waker: its memory is gone. */
    CHECK_EQ(held(rt), 0);
    int v = 1;
    CHECK_EQ(weft_mpsc_try_send(tx, &v), 0);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
    weft_rt_free(rt);
}

static void mpsc_cancelled_send_leaves_no_waiter(void) {
    weft_rt *rt = new_rt();
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    int v = 1, out = 0;
    CHECK_EQ(weft_mpsc_try_send(tx, &v), 0); /* full */
    sender *s;
    CHECK_EQ(weft_task_new(&s, rt, sender_poll), 0);
    s->tx = tx;
    s->from = 10;
    s->to = 11;
    parked_test t = {.h = weft_task_spawn(s)};
    CHECK_EQ(weft_block_on(rt, abort_after_park_poll, &t), 0);
    CHECK_EQ(t.status, -ECANCELED);
    CHECK_EQ(held(rt), 0);
    /* No ghost waiter: after a recv, a new try_send gets the room. */
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0);
    CHECK_EQ(weft_mpsc_try_send(tx, &v), 0);
    CHECK_EQ(weft_mpsc_len(rx), 1);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
    weft_rt_free(rt);
}

/* A sender granted a slot but aborted before using it passes it on. */
typedef struct grant_test {
    weft_frame fr;
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    weft_task *a, *b;
    int v, status, b_sent;
} grant_test;

weft_async_fn(grant_test_poll, grant_test) {
    weft_async (self) {
        {
            int filler = 1;
            weft_mpsc_try_send(self->tx, &filler);
            sender *s;
            MUST(weft_task_new(&s, cx->rt, sender_poll));
            s->tx = self->tx;
            s->from = 10;
            s->to = 11;
            self->a = weft_task_spawn(s);
            MUST(weft_task_new(&s, cx->rt, sender_poll));
            s->tx = self->tx;
            s->from = 20;
            s->to = 21;
            self->b = weft_task_spawn(s);
        }
        weft_yield(); /* both wait, a first */
        /* recv grants the slot to a and wakes it; abort a before it runs */
        weft_await(weft_mpsc_recv(self->rx, cx, &self->v, &self->status));
        weft_task_abort(self->a);
        weft_await(weft_join(self->a, cx, NULL));
        weft_await(weft_join(self->b, cx, NULL));
        self->b_sent = ((sender *)weft_task_frame(self->b))->sent;
        weft_await(weft_mpsc_recv(self->rx, cx, &self->v, &self->status));
        weft_task_release(self->a);
        weft_task_release(self->b);
    }
    return WEFT_READY;
}

static void mpsc_cancelled_granted_send_passes_its_slot_on(void) {
    weft_rt *rt = new_rt();
    grant_test t = {0};
    CHECK_EQ(weft_mpsc_new(&t.tx, &t.rx, 1, sizeof(int), NULL), 0);
    CHECK_EQ(weft_block_on(rt, grant_test_poll, &t), 0);
    CHECK_EQ(t.b_sent, 1);
    CHECK_EQ(t.v, 20);
    weft_mpsc_tx_drop(t.tx);
    weft_mpsc_rx_drop(t.rx);
    weft_rt_free(rt);
}

/* ---- permits: reserve, try_reserve, permit_send, permit_release ------- */

/* Poll a reserve by hand once; returns the poll result, *st the status. */
static weft_poll reserve_once(weft_mpsc_tx *tx, weft_mpsc_send_op *op, cwaker *w, int *st) {
    weft_cx cx = weft_cx_manual(&w->base);
    return weft_mpsc_reserve(tx, &cx, op, st);
}

static weft_poll send_once(weft_mpsc_tx *tx, weft_mpsc_send_op *op, cwaker *w, const int *v,
                           int *st) {
    weft_cx cx = weft_cx_manual(&w->base);
    return weft_mpsc_send(tx, &cx, op, v, st);
}

static void mpsc_reserve_then_permit_send_delivers(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 2, sizeof(int), NULL), 0);
    cwaker w;
    cw_init(&w);
    weft_mpsc_send_op op = {0};
    int st = 1, v = 41, out = 0;
    CHECK_EQ(weft_mpsc_capacity(tx), 2);
    CHECK_EQ(reserve_once(tx, &op, &w, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(weft_mpsc_capacity(tx), 1);
    CHECK_EQ(weft_mpsc_len(rx), 0);
    /* reserving again with an op that holds a permit keeps that one */
    CHECK_EQ(reserve_once(tx, &op, &w, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(weft_mpsc_try_reserve(tx, &op), 0);
    CHECK_EQ(weft_mpsc_capacity(tx), 1);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), -EAGAIN);
    CHECK_EQ(weft_mpsc_permit_send(tx, &op, &v), 0);
    CHECK_EQ(weft_mpsc_capacity(tx), 1); /* the slot now holds the value */
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0);
    CHECK_EQ(out, 41);
    CHECK_EQ(weft_mpsc_capacity(tx), 2);
    /* the op holds nothing now */
    CHECK_EQ(weft_mpsc_permit_send(tx, &op, &v), -EINVAL);
    weft_mpsc_permit_release(tx, &op); /* no-op */
    weft_mpsc_permit_release(NULL, &op);
    weft_mpsc_permit_release(tx, NULL);
    CHECK_EQ(weft_mpsc_permit_send(tx, NULL, &v), -EINVAL);
    CHECK_EQ(weft_mpsc_try_reserve(tx, NULL), -EINVAL);
    CHECK_EQ(weft_mpsc_capacity(tx), 2);
    /* try_reserve + permit_send, and the op is reusable */
    v = 42;
    CHECK_EQ(weft_mpsc_try_reserve(tx, &op), 0);
    CHECK_EQ(weft_mpsc_permit_send(tx, &op, &v), 0);
    /* weft_mpsc_send with an op that holds a permit sends through it */
    CHECK_EQ(weft_mpsc_try_reserve(tx, &op), 0);
    CHECK_EQ(weft_mpsc_capacity(tx), 0);
    v = 43;
    CHECK_EQ(send_once(tx, &op, &w, &v, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0);
    CHECK_EQ(out, 42);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0);
    CHECK_EQ(out, 43);
    CHECK_EQ(weft_mpsc_capacity(tx), 2);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(atomic_load(&w.wakes), 0);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

static void mpsc_reserved_slot_counts_against_capacity(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    weft_mpsc_send_op a = {0}, b = {0};
    int v = 1, out = 0, st = 1;
    CHECK_EQ(weft_mpsc_try_reserve(tx, &a), 0);
    CHECK_EQ(weft_mpsc_capacity(tx), 0);
    CHECK_EQ(weft_mpsc_try_send(tx, &v), -EAGAIN);
    CHECK_EQ(weft_mpsc_try_reserve(tx, &b), -EAGAIN);
    /* a send waits for it */
    cwaker w;
    cw_init(&w);
    CHECK_EQ(send_once(tx, &b, &w, &v, &st), WEFT_PENDING);
    CHECK_EQ(weft_mpsc_try_reserve(tx, &b), -EINVAL); /* b is waiting */
    CHECK_EQ(weft_mpsc_permit_send(tx, &b, &v), -EINVAL);
    weft_mpsc_permit_release(tx, &b); /* no-op: b holds nothing yet */
    CHECK_EQ(atomic_load(&w.refs), 1);
    weft_mpsc_permit_release(tx, &a);
    CHECK_EQ(atomic_load(&w.wakes), 1); /* the slot went to the waiting send */
    CHECK_EQ(weft_mpsc_capacity(tx), 0);
    CHECK_EQ(weft_mpsc_try_send(tx, &v), -EAGAIN);
    v = 7;
    CHECK_EQ(send_once(tx, &b, &w, &v, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0);
    CHECK_EQ(out, 7);
    CHECK_EQ(weft_mpsc_capacity(tx), 1);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

/* Released slots go to waiting reserves and sends in the order they came. */
static void mpsc_permit_release_hands_the_slot_on_in_fifo_order(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    weft_mpsc_send_op first = {0}, a = {0}, b = {0}, c = {0};
    cwaker wa, wb, wc;
    cw_init(&wa);
    cw_init(&wb);
    cw_init(&wc);
    int st = 1, vb = 20, vc = 30, out = 0;
    CHECK_EQ(weft_mpsc_try_reserve(tx, &first), 0);
    CHECK_EQ(reserve_once(tx, &a, &wa, &st), WEFT_PENDING);
    CHECK_EQ(send_once(tx, &b, &wb, &vb, &st), WEFT_PENDING);
    CHECK_EQ(reserve_once(tx, &c, &wc, &st), WEFT_PENDING);
    /* a spurious poll of a waiting reserve stays pending and queued */
    CHECK_EQ(reserve_once(tx, &a, &wa, &st), WEFT_PENDING);
    weft_mpsc_permit_release(tx, &first);
    CHECK_EQ(atomic_load(&wa.wakes), 1);
    CHECK_EQ(atomic_load(&wb.wakes), 0);
    CHECK_EQ(atomic_load(&wc.wakes), 0);
    st = 1;
    CHECK_EQ(reserve_once(tx, &a, &wa, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    weft_mpsc_permit_release(tx, &a);
    CHECK_EQ(atomic_load(&wb.wakes), 1);
    CHECK_EQ(atomic_load(&wc.wakes), 0);
    st = 1;
    CHECK_EQ(send_once(tx, &b, &wb, &vb, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(atomic_load(&wc.wakes), 0);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0); /* frees the slot: c gets it */
    CHECK_EQ(out, 20);
    CHECK_EQ(atomic_load(&wc.wakes), 1);
    st = 1;
    CHECK_EQ(reserve_once(tx, &c, &wc, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(weft_mpsc_permit_send(tx, &c, &vc), 0);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0);
    CHECK_EQ(out, 30);
    CHECK_EQ(weft_mpsc_capacity(tx), 1);
    CHECK_EQ(atomic_load(&wa.refs) + atomic_load(&wb.refs) + atomic_load(&wc.refs), 0);
    CHECK_EQ(atomic_load(&wa.wakes) + atomic_load(&wb.wakes) + atomic_load(&wc.wakes), 3);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

static void mpsc_cancelled_waiting_reserve_leaves_nothing(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    int v = 1, out = 0, st = 1;
    CHECK_EQ(weft_mpsc_try_send(tx, &v), 0);
    weft_mpsc_send_op a = {0};
    cwaker w;
    cw_init(&w);
    CHECK_EQ(reserve_once(tx, &a, &w, &st), WEFT_PENDING);
    CHECK_EQ(atomic_load(&w.refs), 1);
    CHECK_EQ(weft_mpsc_reserve(tx, NULL, &a, &st), WEFT_READY);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0);
    CHECK_EQ(atomic_load(&w.wakes), 0); /* nobody was granted the slot */
    CHECK_EQ(weft_mpsc_capacity(tx), 1);
    CHECK_EQ(weft_mpsc_try_send(tx, &v), 0); /* no ghost waiter ahead */
    /* the op is reusable; cancelling an idle op is a no-op */
    CHECK_EQ(weft_mpsc_reserve(tx, NULL, &a, &st), WEFT_READY);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0);
    CHECK_EQ(weft_mpsc_try_reserve(tx, &a), 0);
    /* cancelling an op that holds a permit releases it */
    CHECK_EQ(weft_mpsc_reserve(tx, NULL, &a, &st), WEFT_READY);
    CHECK_EQ(weft_mpsc_capacity(tx), 1);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

/* Granted a slot, then cancelled before it was polled again: passed on. */
static void mpsc_cancelled_granted_reserve_passes_its_slot_on(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    int v = 1, out = 0, st = 1;
    CHECK_EQ(weft_mpsc_try_send(tx, &v), 0);
    weft_mpsc_send_op a = {0}, b = {0};
    cwaker wa, wb;
    cw_init(&wa);
    cw_init(&wb);
    CHECK_EQ(reserve_once(tx, &a, &wa, &st), WEFT_PENDING);
    CHECK_EQ(reserve_once(tx, &b, &wb, &st), WEFT_PENDING);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0); /* grants a */
    CHECK_EQ(atomic_load(&wa.wakes), 1);
    CHECK_EQ(atomic_load(&wb.wakes), 0);
    CHECK_EQ(weft_mpsc_reserve(tx, NULL, &a, &st), WEFT_READY); /* cancel a */
    CHECK_EQ(atomic_load(&wb.wakes), 1);
    CHECK_EQ(atomic_load(&wa.refs), 0);
    CHECK_EQ(weft_mpsc_capacity(tx), 0);
    st = 1;
    CHECK_EQ(reserve_once(tx, &b, &wb, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    /* and with no one waiting, a cancelled granted reserve frees the slot */
    CHECK_EQ(reserve_once(tx, &a, &wa, &st), WEFT_PENDING);
    weft_mpsc_permit_release(tx, &b); /* grants a */
    CHECK_EQ(atomic_load(&wa.wakes), 2);
    CHECK_EQ(weft_mpsc_reserve(tx, NULL, &a, &st), WEFT_READY);
    CHECK_EQ(weft_mpsc_capacity(tx), 1);
    CHECK_EQ(atomic_load(&wa.refs) + atomic_load(&wb.refs), 0);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

static void mpsc_reserve_on_closed_or_dropped_receiver_fails(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    cwaker w;
    cw_init(&w);
    weft_mpsc_send_op a = {0}, b = {0};
    int st = 0, v = 1;
    /* closed while a reserve waits: it is woken and fails */
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    CHECK_EQ(weft_mpsc_try_send(tx, &v), 0);
    CHECK_EQ(reserve_once(tx, &a, &w, &st), WEFT_PENDING);
    weft_mpsc_rx_close(rx);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(reserve_once(tx, &a, &w, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    CHECK_EQ(reserve_once(tx, &b, &w, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    CHECK_EQ(weft_mpsc_try_reserve(tx, &b), -EPIPE);
    CHECK_EQ(weft_mpsc_permit_send(tx, &b, &v), -EINVAL);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
    /* dropped */
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    weft_mpsc_rx_drop(rx);
    st = 0;
    CHECK_EQ(reserve_once(tx, &a, &w, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    CHECK_EQ(weft_mpsc_try_reserve(tx, &a), -EPIPE);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_mpsc_tx_drop(tx);
}

/* A slot granted to a waiting reserve before the receiver was dropped. */
static void mpsc_granted_reserve_after_rx_drop_fails(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    cwaker w;
    cw_init(&w);
    weft_mpsc_send_op a = {0};
    int st = 0, v = 1, out;
    CHECK_EQ(weft_mpsc_try_send(tx, &v), 0);
    CHECK_EQ(reserve_once(tx, &a, &w, &st), WEFT_PENDING);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0); /* grants a */
    weft_mpsc_rx_drop(rx);
    CHECK_EQ(reserve_once(tx, &a, &w, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    CHECK_EQ(weft_mpsc_permit_send(tx, &a, &v), -EINVAL);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_mpsc_tx_drop(tx);
}

static void mpsc_permit_send_after_rx_close_delivers(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 2, sizeof(int), NULL), 0);
    weft_mpsc_send_op a = {0};
    int v = 5, out = 0, st = 1;
    CHECK_EQ(weft_mpsc_try_reserve(tx, &a), 0);
    weft_mpsc_rx_close(rx);
    CHECK(weft_mpsc_tx_is_closed(tx));
    CHECK_EQ(weft_mpsc_try_send(tx, &v), -EPIPE);
    /* not closed for the receiver while a permit may still send */
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), -EAGAIN);
    cwaker rw;
    cw_init(&rw);
    weft_cx rcx = weft_cx_manual(&rw.base);
    CHECK_EQ(weft_mpsc_recv(rx, &rcx, &out, &st), WEFT_PENDING);
    CHECK_EQ(weft_mpsc_permit_send(tx, &a, &v), 0);
    CHECK_EQ(atomic_load(&rw.wakes), 1);
    CHECK_EQ(weft_mpsc_recv(rx, &rcx, &out, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(out, 5);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), -EPIPE);
    CHECK_EQ(weft_mpsc_recv(rx, NULL, &out, &st), WEFT_READY);
    CHECK_EQ(atomic_load(&rw.refs), 0);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

/* A receiver waiting only for a permit learns the channel closed on release. */
static void mpsc_permit_release_after_rx_close_wakes_receiver(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    weft_mpsc_send_op a = {0};
    int out = 0, st = 1;
    cwaker rw;
    cw_init(&rw);
    weft_cx rcx = weft_cx_manual(&rw.base);
    CHECK_EQ(weft_mpsc_try_reserve(tx, &a), 0);
    weft_mpsc_rx_close(rx);
    CHECK_EQ(weft_mpsc_recv(rx, &rcx, &out, &st), WEFT_PENDING);
    weft_mpsc_permit_release(tx, &a);
    CHECK_EQ(atomic_load(&rw.wakes), 1);
    CHECK_EQ(weft_mpsc_recv(rx, &rcx, &out, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    CHECK_EQ(atomic_load(&rw.refs), 0);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

/* Same for a send that was granted a slot and then cancelled after close. */
static void mpsc_cancelled_granted_send_after_rx_close_wakes_receiver(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    weft_mpsc_send_op a = {0};
    int v = 1, out = 0, st = 1;
    cwaker rw, sw;
    cw_init(&rw);
    cw_init(&sw);
    weft_cx rcx = weft_cx_manual(&rw.base);
    CHECK_EQ(weft_mpsc_try_send(tx, &v), 0);
    CHECK_EQ(send_once(tx, &a, &sw, &v, &st), WEFT_PENDING);
    CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0); /* grants a */
    weft_mpsc_rx_close(rx);
    CHECK_EQ(weft_mpsc_recv(rx, &rcx, &out, &st), WEFT_PENDING); /* a may still send */
    CHECK_EQ(weft_mpsc_send(tx, NULL, &a, &v, &st), WEFT_READY);  /* it is cancelled */
    CHECK_EQ(atomic_load(&rw.wakes), 1);
    CHECK_EQ(weft_mpsc_recv(rx, &rcx, &out, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    CHECK_EQ(atomic_load(&rw.refs) + atomic_load(&sw.refs), 0);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

static void mpsc_permit_send_after_rx_drop_fails_and_keeps_value(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 2, sizeof(void *), count_drop), 0);
    drops = 0;
    weft_mpsc_send_op a = {0};
    void *p = malloc(16);
    CHECK_EQ(weft_mpsc_try_reserve(tx, &a), 0);
    weft_mpsc_rx_drop(rx);
    CHECK_EQ(weft_mpsc_permit_send(tx, &a, &p), -EPIPE);
    CHECK_EQ(drops, 0);
    free(p); /* still ours: ASan/valgrind would report a double free otherwise */
    CHECK_EQ(weft_mpsc_permit_send(tx, &a, &p), -EINVAL); /* the slot is released */
    weft_mpsc_permit_release(tx, &a);
    weft_mpsc_tx_drop(tx);
}

/*
 * The receiver does not see the channel closed while a permit is held, even
 * when the permit's sender is the last one; the value sent through it comes
 * before -EPIPE.
 */
static void mpsc_receiver_gets_permit_value_before_close(void) {
    weft_mpsc_tx *tx, *tx2;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    tx2 = weft_mpsc_tx_clone(tx);
    weft_mpsc_send_op a = {0};
    int v = 9, out = 0, st = 1;
    cwaker rw;
    cw_init(&rw);
    weft_cx rcx = weft_cx_manual(&rw.base);
    CHECK_EQ(weft_mpsc_try_reserve(tx2, &a), 0);
    weft_mpsc_tx_drop(tx);
    CHECK_EQ(weft_mpsc_recv(rx, &rcx, &out, &st), WEFT_PENDING);
    CHECK_EQ(weft_mpsc_permit_send(tx2, &a, &v), 0);
    weft_mpsc_tx_drop(tx2);
    CHECK(atomic_load(&rw.wakes) >= 1);
    CHECK_EQ(weft_mpsc_recv(rx, &rcx, &out, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(out, 9);
    CHECK_EQ(weft_mpsc_recv(rx, &rcx, &out, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    CHECK_EQ(atomic_load(&rw.refs), 0);
    weft_mpsc_rx_drop(rx);
}

/* A task holding a permit is aborted: its weft_finally gives the slot back. */
typedef struct holder {
    weft_frame fr;
    weft_mpsc_tx *tx;
    weft_mpsc_rx *never; /* parks here forever while holding the permit */
    weft_mpsc_send_op op;
    int st, v;
} holder;

weft_async_fn(holder_poll, holder) {
    weft_async (self) {
        weft_await(weft_mpsc_reserve(self->tx, cx, &self->op, &self->st));
        if (self->st) weft_return;
        weft_await(weft_mpsc_recv(self->never, cx, &self->v, &self->st));
        weft_mpsc_permit_send(self->tx, &self->op, &self->v);
    weft_finally:
        weft_mpsc_permit_release(self->tx, &self->op);
    }
    return WEFT_READY;
}

static void mpsc_aborted_task_releases_its_permit_in_finally(void) {
    weft_rt *rt = new_rt();
    weft_mpsc_tx *tx, *ntx;
    weft_mpsc_rx *rx, *nrx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    CHECK_EQ(weft_mpsc_new(&ntx, &nrx, 1, sizeof(int), NULL), 0);
    holder *h;
    CHECK_EQ(weft_task_new(&h, rt, holder_poll), 0);
    h->tx = tx;
    h->never = nrx;
    parked_test t = {.h = weft_task_spawn(h)};
    CHECK_EQ(weft_block_on(rt, abort_after_park_poll, &t), 0);
    CHECK_EQ(t.status, -ECANCELED);
    CHECK_EQ(held(rt), 0);
    CHECK_EQ(weft_mpsc_capacity(tx), 1);
    int v = 3;
    CHECK_EQ(weft_mpsc_try_send(tx, &v), 0);
    /* and a frame dropped before it ran releases nothing and does not crash */
    holder fresh = {0};
    CHECK_EQ(holder_poll(&fresh, NULL), WEFT_READY);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
    weft_mpsc_tx_drop(ntx);
    weft_mpsc_rx_drop(nrx);
    weft_rt_free(rt);
}

/*
 * Race: a recv on one thread frees the only slot (granting it to the oldest
 * waiting reserve, a) while another thread cancels a.  Whichever wins, the
 * slot ends up with b, woken exactly once; a's waker is released; nothing
 * is lost: afterwards the capacity is whole.
 */
typedef struct race_arg {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    weft_mpsc_send_op *op;
    unsigned delay;
    int r;
} race_arg;

static void *race_recv(void *p) {
    race_arg *a = p;
    int out;
    spin(a->delay);
    a->r = weft_mpsc_try_recv(a->rx, &out);
    return NULL;
}

static void *race_cancel(void *p) {
    race_arg *a = p;
    int st;
    spin(a->delay);
    weft_mpsc_reserve(a->tx, NULL, a->op, &st);
    return NULL;
}

static void mpsc_grant_vs_cancel_race_loses_no_slot(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1, sizeof(int), NULL), 0);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int a_woken = 0;
    for (int it = 0; it < 400; it++) {
        int v = it, st = 1;
        weft_mpsc_send_op a = {0}, b = {0};
        cwaker wa, wb;
        cw_init(&wa);
        cw_init(&wb);
        CHECK_EQ(weft_mpsc_try_send(tx, &v), 0);
        CHECK_EQ(reserve_once(tx, &a, &wa, &st), WEFT_PENDING);
        CHECK_EQ(reserve_once(tx, &b, &wb, &st), WEFT_PENDING);
        race_arg ra = {.tx = tx, .rx = rx, .delay = (unsigned)(test_rand(&seed) % 2000)};
        race_arg ca = {.tx = tx, .rx = rx, .op = &a, .delay = (unsigned)(test_rand(&seed) % 2000)};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, race_recv, &ra);
        pthread_create(&t2, NULL, race_cancel, &ca);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        CHECK_EQ(ra.r, 0);
        a_woken += atomic_load(&wa.wakes);
        CHECK(atomic_load(&wa.wakes) <= 1);
        CHECK_EQ(atomic_load(&wa.refs), 0);
        CHECK_EQ(atomic_load(&wb.wakes), 1); /* b got the slot, once */
        CHECK_EQ(weft_mpsc_capacity(tx), 0);
        st = 1;
        CHECK_EQ(reserve_once(tx, &b, &wb, &st), WEFT_READY);
        CHECK_EQ(st, 0);
        CHECK_EQ(atomic_load(&wb.refs), 0);
        weft_mpsc_permit_release(tx, &b);
        CHECK_EQ(weft_mpsc_capacity(tx), 1);
        CHECK_EQ(weft_mpsc_len(rx), 0);
    }
    (void)a_woken; /* how often the grant came first: up to the scheduler */
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

/* ---- threads ------------------------------------------------------------ */

#define THREADS 3
#define PER_THREAD 20000

typedef struct thread_arg {
    weft_mpsc_tx *tx;
    int id, use_reserve;
    int rc;
} thread_arg;

static void *producer_thread(void *p) {
    thread_arg *a = p;
    weft_rt *rt = new_rt();
    sender s = {.tx = a->tx, .from = a->id * PER_THREAD, .to = (a->id + 1) * PER_THREAD,
                .drop_tx = 1, .use_reserve = a->use_reserve};
    a->rc = weft_block_on(rt, sender_poll, &s);
    if (s.sent != PER_THREAD) a->rc = -1;
    weft_rt_free(rt);
    return NULL;
}

static void producers_deliver_everything(int use_reserve) {
    weft_rt *rt = new_rt();
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 16, sizeof(int), NULL), 0);
    pthread_t th[THREADS];
    thread_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (thread_arg){.tx = weft_mpsc_tx_clone(tx), .id = i,
                               .use_reserve = use_reserve && i != 0};
        pthread_create(&th[i], NULL, producer_thread, &args[i]);
    }
    weft_mpsc_tx_drop(tx);
    static int got[THREADS * PER_THREAD];
    receiver r = {.rx = rx, .max = THREADS * PER_THREAD + 1, .got = got};
    CHECK_EQ(weft_block_on(rt, receiver_poll, &r), 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].rc, 0);
    }
    CHECK_EQ(r.n, THREADS * PER_THREAD);
    CHECK_EQ(r.status, -EPIPE);
    /* Per producer, values arrive in the order sent. */
    int last[THREADS] = {-1, -1, -1};
    long sum = 0;
    for (int i = 0; i < r.n; i++) {
        int p = got[i] / PER_THREAD;
        CHECK(got[i] > last[p]);
        last[p] = got[i];
        sum += got[i];
    }
    CHECK_EQ(sum, (long)THREADS * PER_THREAD * (THREADS * PER_THREAD - 1) / 2);
    weft_mpsc_rx_drop(rx);
    weft_rt_free(rt);
}

static void mpsc_producers_on_other_threads_deliver_everything(void) {
    producers_deliver_everything(0);
}

/* Two of the three producers reserve and send through permits. */
static void mpsc_reserving_producers_on_other_threads_deliver_everything(void) {
    producers_deliver_everything(1);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(mpsc_delivers_values_in_order),
                         TEST(mpsc_try_send_full_and_try_recv_empty_say_eagain),
                         TEST(mpsc_new_rejects_zero_capacity),
                         TEST(mpsc_send_waits_when_full),
                         TEST(mpsc_blocked_senders_are_served_in_fifo_order),
                         TEST(mpsc_recv_sees_closed_after_last_sender_and_drain),
                         TEST(mpsc_send_to_dropped_receiver_fails_and_keeps_value),
                         TEST(mpsc_rx_close_fails_waiting_senders_and_allows_drain),
                         TEST(mpsc_rx_drop_drops_buffered_values),
                         TEST(mpsc_cancelled_recv_leaves_no_registration),
                         TEST(mpsc_cancelled_send_leaves_no_waiter),
                         TEST(mpsc_cancelled_granted_send_passes_its_slot_on),
                         TEST(mpsc_reserve_then_permit_send_delivers),
                         TEST(mpsc_reserved_slot_counts_against_capacity),
                         TEST(mpsc_permit_release_hands_the_slot_on_in_fifo_order),
                         TEST(mpsc_cancelled_waiting_reserve_leaves_nothing),
                         TEST(mpsc_cancelled_granted_reserve_passes_its_slot_on),
                         TEST(mpsc_reserve_on_closed_or_dropped_receiver_fails),
                         TEST(mpsc_granted_reserve_after_rx_drop_fails),
                         TEST(mpsc_permit_send_after_rx_close_delivers),
                         TEST(mpsc_permit_release_after_rx_close_wakes_receiver),
                         TEST(mpsc_cancelled_granted_send_after_rx_close_wakes_receiver),
                         TEST(mpsc_permit_send_after_rx_drop_fails_and_keeps_value),
                         TEST(mpsc_receiver_gets_permit_value_before_close),
                         TEST(mpsc_aborted_task_releases_its_permit_in_finally),
                         TEST(mpsc_grant_vs_cancel_race_loses_no_slot),
                         TEST(mpsc_producers_on_other_threads_deliver_everything),
                         TEST(mpsc_reserving_producers_on_other_threads_deliver_everything),
                         {0},
                     });
}
