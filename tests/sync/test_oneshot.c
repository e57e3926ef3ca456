/*
 * tests/sync/test_oneshot.c - the one-value channel.
 */
#include <weft.h>

#include "sync_util.h"
#include "test.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>


/* ---- values that own memory: drop_elem frees them ----------------------- */

static atomic_int drops;

static void free_ptr_elem(void *elem) {
    atomic_fetch_add(&drops, 1);
    free(*(void **)elem);
}

static int *boxed(int v) {
    int *p = malloc(sizeof *p);
    if (p) *p = v;
    return p;
}

/* ---- frames ------------------------------------------------------------- */

/* Receives one value; posts *parked_sem the first time it parks. */
typedef struct receiver {
    weft_frame fr;
    weft_oneshot_rx *rx;
    union {
        int i;
        void *p;
    } val;
    int status, done, flagged;
    sem_t *parked_sem;
} receiver;

/* weft_oneshot_recv, announcing (once) that its waker is registered. */
static weft_poll recv_announced(receiver *self, weft_cx *cx) {
    weft_poll r = weft_oneshot_recv(self->rx, cx, &self->val, &self->status);
    if (cx && r == WEFT_PENDING && !self->flagged) {
        self->flagged = 1;
        if (self->parked_sem) sem_post(self->parked_sem);
    }
    return r;
}

weft_async_fn(receiver_poll, receiver) {
    weft_async (self) {
        weft_await(recv_announced(self, cx));
        self->done = 1;
    }
    return WEFT_READY;
}

/* Waits in weft_oneshot_closed; posts *parked_sem the first time it parks. */
typedef struct closed_waiter {
    weft_frame fr;
    weft_oneshot_tx *tx;
    int done, flagged;
    sem_t *parked_sem;
} closed_waiter;

static weft_poll closed_announced(closed_waiter *self, weft_cx *cx) {
    weft_poll r = weft_oneshot_closed(self->tx, cx);
    if (cx && r == WEFT_PENDING && !self->flagged) {
        self->flagged = 1;
        if (self->parked_sem) sem_post(self->parked_sem);
    }
    return r;
}

weft_async_fn(closed_waiter_poll, closed_waiter) {
    weft_async (self) {
        weft_await(closed_announced(self, cx));
        self->done = 1;
    }
    return WEFT_READY;
}

/* Spawns a victim before block_on; this frame lets it park, then aborts it. */
typedef struct abort_test {
    weft_frame fr;
    weft_task *h;
    int status, before; /* the victim's `done` before the abort */
} abort_test;

weft_async_fn(abort_after_park_poll, abort_test) {
    weft_async (self) {
        weft_yield(); /* the victim parks */
        weft_task_abort(self->h);
        weft_await(weft_join(self->h, cx, &self->status));
        weft_task_release(self->h);
        self->h = NULL;
    }
    return WEFT_READY;
}

/* A receiver task parks; this frame then runs action(chan) and joins it. */
typedef struct wake_test {
    weft_frame fr;
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    weft_task *h;
    int value, send_rc, parked_before;
    int drop_tx; /* 1: tx_drop instead of send */
    int close_rx; /* for closed_waiter tests: 1 rx_close, 2 rx_drop */
} wake_test;

weft_async_fn(recv_wake_test_poll, wake_test) {
    weft_async (self) {
        {
            receiver *r;
            MUST(weft_task_new(&r, cx->rt, receiver_poll));
            r->rx = self->rx;
            self->h = weft_task_spawn(r);
        }
        weft_yield(); /* it parks in recv */
        self->parked_before = ((receiver *)weft_task_frame(self->h))->flagged &&
                              !((receiver *)weft_task_frame(self->h))->done;
        if (self->drop_tx)
            weft_oneshot_tx_drop(self->tx);
        else
            self->send_rc = weft_oneshot_send(self->tx, &self->value);
        weft_await(weft_join(self->h, cx, NULL));
    }
    return WEFT_READY;
}

weft_async_fn(closed_wake_test_poll, wake_test) {
    weft_async (self) {
        {
            closed_waiter *w;
            MUST(weft_task_new(&w, cx->rt, closed_waiter_poll));
            w->tx = self->tx;
            self->h = weft_task_spawn(w);
        }
        weft_yield(); /* it parks in closed() */
        self->parked_before = ((closed_waiter *)weft_task_frame(self->h))->flagged &&
                              !((closed_waiter *)weft_task_frame(self->h))->done;
        if (self->close_rx == 1)
            weft_oneshot_rx_close(self->rx);
        else
            weft_oneshot_rx_drop(self->rx);
        weft_await(weft_join(self->h, cx, NULL));
    }
    return WEFT_READY;
}

/* ---- basic delivery ----------------------------------------------------- */

static void oneshot_new_rejects_null_handles(void) {
    weft_oneshot_tx *tx = (weft_oneshot_tx *)1;
    weft_oneshot_rx *rx = (weft_oneshot_rx *)1;
    CHECK_EQ(weft_oneshot_new(NULL, &rx, sizeof(int), NULL), -EINVAL);
    CHECK_EQ(weft_oneshot_new(&tx, NULL, sizeof(int), NULL), -EINVAL);
}

static void oneshot_new_rejects_an_impossible_elem_size(void) {
    weft_oneshot_tx *tx = (weft_oneshot_tx *)1;
    weft_oneshot_rx *rx = (weft_oneshot_rx *)1;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, SIZE_MAX, NULL), -EINVAL);
    CHECK(tx == NULL && rx == NULL);
}

static void oneshot_try_recv_gets_a_value_sent_earlier(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    int v = 42, out = 0;
    CHECK_EQ(weft_oneshot_send(tx, &v), 0);
    CHECK_EQ(weft_oneshot_try_recv(rx, &out), 0);
    CHECK_EQ(out, 42);
    weft_oneshot_rx_drop(rx);
}

static void oneshot_recv_completes_at_once_when_value_is_there(void) {
    weft_rt *rt = new_rt();
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    int v = 7;
    CHECK_EQ(weft_oneshot_send(tx, &v), 0);
    receiver r = {.rx = rx, .status = 1};
    CHECK_EQ(weft_block_on(rt, receiver_poll, &r), 0);
    CHECK_EQ(r.flagged, 0); /* it never parked */
    CHECK_EQ(r.status, 0);
    CHECK_EQ(r.val.i, 7);
    weft_oneshot_rx_drop(rx);
    weft_rt_free(rt);
}

static void oneshot_send_wakes_the_parked_receiver_with_the_value(void) {
    weft_rt *rt = new_rt();
    wake_test t = {.value = 99};
    CHECK_EQ(weft_oneshot_new(&t.tx, &t.rx, sizeof(int), NULL), 0);
    CHECK_EQ(weft_block_on(rt, recv_wake_test_poll, &t), 0);
    CHECK_EQ(t.parked_before, 1);
    CHECK_EQ(t.send_rc, 0);
    receiver *r = weft_task_frame(t.h);
    CHECK_EQ(r->done, 1);
    CHECK_EQ(r->status, 0);
    CHECK_EQ(r->val.i, 99);
    weft_task_release(t.h);
    weft_oneshot_rx_drop(t.rx);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

typedef struct big {
    uint64_t a[5];
    char tag[24];
} big;

static void oneshot_copies_elem_size_bytes(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(big), NULL), 0);
    big in = {{1, 2, 3, 4, 0x1122334455667788ull}, "the whole struct"};
    big out;
    memset(&out, 0xEE, sizeof out);
    CHECK_EQ(weft_oneshot_send(tx, &in), 0);
    memset(&in, 0, sizeof in); /* the channel holds its own copy */
    CHECK_EQ(weft_oneshot_try_recv(rx, &out), 0);
    CHECK_EQ(out.a[0], 1);
    CHECK_EQ(out.a[3], 4);
    CHECK(out.a[4] == 0x1122334455667788ull);
    CHECK_STR(out.tag, "the whole struct");
    weft_oneshot_rx_drop(rx);
}

/* ---- failures: -EPIPE --------------------------------------------------- */

static void oneshot_send_after_rx_dropped_fails_and_keeps_value(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(void *), free_ptr_elem), 0);
    atomic_store(&drops, 0);
    weft_oneshot_rx_drop(rx);
    CHECK(weft_oneshot_is_closed(tx));
    int *p = boxed(5);
    CHECK_EQ(weft_oneshot_send(tx, &p), -EPIPE); /* tx is released either way */
    CHECK_EQ(atomic_load(&drops), 0);            /* the channel did not take it */
    CHECK_EQ(*p, 5);
    free(p); /* still ours: ASan/valgrind report a double free otherwise */
}

static void oneshot_send_after_rx_close_fails_and_keeps_value(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(void *), free_ptr_elem), 0);
    atomic_store(&drops, 0);
    CHECK_EQ(weft_oneshot_is_closed(tx), 0);
    weft_oneshot_rx_close(rx);
    CHECK(weft_oneshot_is_closed(tx));
    int *p = boxed(6);
    CHECK_EQ(weft_oneshot_send(tx, &p), -EPIPE);
    void *out = NULL;
    CHECK_EQ(weft_oneshot_try_recv(rx, &out), -EPIPE);
    CHECK(out == NULL);
    weft_oneshot_rx_drop(rx);
    CHECK_EQ(atomic_load(&drops), 0);
    CHECK_EQ(*p, 6);
    free(p);
}

static void oneshot_recv_sees_epipe_when_tx_dropped_without_sending(void) {
    weft_rt *rt = new_rt();
    wake_test t = {.drop_tx = 1};
    CHECK_EQ(weft_oneshot_new(&t.tx, &t.rx, sizeof(int), NULL), 0);
    CHECK_EQ(weft_block_on(rt, recv_wake_test_poll, &t), 0);
    CHECK_EQ(t.parked_before, 1);
    receiver *r = weft_task_frame(t.h);
    CHECK_EQ(r->done, 1);
    CHECK_EQ(r->status, -EPIPE);
    weft_task_release(t.h);
    weft_oneshot_rx_drop(t.rx);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

static void oneshot_try_recv_says_eagain_then_value_then_epipe(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    int v = 3, out = -1;
    CHECK_EQ(weft_oneshot_try_recv(rx, &out), -EAGAIN);
    CHECK_EQ(weft_oneshot_try_recv(rx, &out), -EAGAIN);
    CHECK_EQ(out, -1);
    CHECK_EQ(weft_oneshot_send(tx, &v), 0);
    CHECK_EQ(weft_oneshot_try_recv(rx, &out), 0);
    CHECK_EQ(out, 3);
    out = -1;
    CHECK_EQ(weft_oneshot_try_recv(rx, &out), -EPIPE); /* already received */
    CHECK_EQ(out, -1);
    weft_oneshot_rx_drop(rx);
}

static void oneshot_try_recv_says_epipe_after_tx_dropped(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    int out = -1;
    weft_oneshot_tx_drop(tx);
    CHECK_EQ(weft_oneshot_try_recv(rx, &out), -EPIPE);
    CHECK_EQ(out, -1);
    weft_oneshot_rx_drop(rx);
}

static void oneshot_recv_twice_gives_epipe(void) {
    weft_rt *rt = new_rt();
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    int v = 11;
    CHECK_EQ(weft_oneshot_send(tx, &v), 0);
    receiver r = {.rx = rx, .status = 1};
    CHECK_EQ(weft_block_on(rt, receiver_poll, &r), 0);
    CHECK_EQ(r.status, 0);
    CHECK_EQ(r.val.i, 11);
    r = (receiver){.rx = rx, .status = 1, .val.i = -1};
    CHECK_EQ(weft_block_on(rt, receiver_poll, &r), 0);
    CHECK_EQ(r.flagged, 0); /* it did not wait */
    CHECK_EQ(r.status, -EPIPE);
    CHECK_EQ(r.val.i, -1);
    weft_oneshot_rx_drop(rx);
    weft_rt_free(rt);
}

/* ---- rx_close ----------------------------------------------------------- */

static void oneshot_value_sent_before_rx_close_can_still_be_received(void) {
    weft_rt *rt = new_rt();
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    int v = 21;
    CHECK_EQ(weft_oneshot_send(tx, &v), 0);
    weft_oneshot_rx_close(rx);
    receiver r = {.rx = rx, .status = 1};
    CHECK_EQ(weft_block_on(rt, receiver_poll, &r), 0);
    CHECK_EQ(r.status, 0);
    CHECK_EQ(r.val.i, 21);
    weft_oneshot_rx_drop(rx);
    weft_rt_free(rt);
}

static void oneshot_recv_after_rx_close_without_value_gives_epipe(void) {
    weft_rt *rt = new_rt();
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    weft_oneshot_rx_close(rx);
    /* the sender is still alive, but no value can come any more */
    receiver r = {.rx = rx, .status = 1};
    CHECK_EQ(weft_block_on(rt, receiver_poll, &r), 0);
    CHECK_EQ(r.flagged, 0);
    CHECK_EQ(r.status, -EPIPE);
    weft_oneshot_tx_drop(tx);
    weft_oneshot_rx_drop(rx);
    weft_rt_free(rt);
}

/* ---- closed() ----------------------------------------------------------- */

static void oneshot_is_closed_turns_on_at_rx_drop(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    CHECK_EQ(weft_oneshot_is_closed(tx), 0);
    weft_oneshot_rx_drop(rx);
    CHECK(weft_oneshot_is_closed(tx));
    weft_oneshot_tx_drop(tx);
}

static void oneshot_closed_completes_when_rx_closes(void) {
    weft_rt *rt = new_rt();
    wake_test t = {.close_rx = 1};
    CHECK_EQ(weft_oneshot_new(&t.tx, &t.rx, sizeof(int), NULL), 0);
    CHECK_EQ(weft_block_on(rt, closed_wake_test_poll, &t), 0);
    CHECK_EQ(t.parked_before, 1);
    CHECK_EQ(((closed_waiter *)weft_task_frame(t.h))->done, 1);
    weft_task_release(t.h);
    CHECK(weft_oneshot_is_closed(t.tx));
    weft_oneshot_tx_drop(t.tx);
    weft_oneshot_rx_drop(t.rx);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

static void oneshot_closed_completes_when_rx_dropped(void) {
    weft_rt *rt = new_rt();
    wake_test t = {.close_rx = 2};
    CHECK_EQ(weft_oneshot_new(&t.tx, &t.rx, sizeof(int), NULL), 0);
    CHECK_EQ(weft_block_on(rt, closed_wake_test_poll, &t), 0);
    CHECK_EQ(t.parked_before, 1);
    CHECK_EQ(((closed_waiter *)weft_task_frame(t.h))->done, 1);
    weft_task_release(t.h);
    weft_oneshot_tx_drop(t.tx);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

static void oneshot_closed_is_ready_at_once_when_rx_already_closed(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    weft_oneshot_rx_close(rx);
    cwaker w;
    cw_init(&w);
    weft_cx cx = weft_cx_manual(&w.base);
    CHECK_EQ(weft_oneshot_closed(tx, &cx), WEFT_READY);
    CHECK_EQ(atomic_load(&w.refs), 0); /* nothing kept */
    weft_oneshot_tx_drop(tx);
    weft_oneshot_rx_drop(rx);
}

/* A cancelled closed() keeps no waker; a later closed() still works. */
static void oneshot_cancelled_closed_is_not_woken_and_can_wait_again(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    cwaker a, b;
    cw_init(&a);
    cw_init(&b);
    weft_cx cxa = weft_cx_manual(&a.base), cxb = weft_cx_manual(&b.base);
    CHECK_EQ(weft_oneshot_closed(tx, &cxa), WEFT_PENDING);
    CHECK_EQ(atomic_load(&a.refs), 1);
    CHECK_EQ(weft_oneshot_closed(tx, NULL), WEFT_READY); /* cancel */
    CHECK_EQ(atomic_load(&a.refs), 0);
    CHECK_EQ(weft_oneshot_closed(tx, &cxb), WEFT_PENDING);
    weft_oneshot_rx_close(rx);
    CHECK_EQ(atomic_load(&a.wakes), 0);
    CHECK_EQ(atomic_load(&b.wakes), 1);
    CHECK_EQ(atomic_load(&b.refs), 0);
    CHECK_EQ(weft_oneshot_closed(tx, &cxb), WEFT_READY);
    CHECK_EQ(atomic_load(&b.refs), 0);
    weft_oneshot_tx_drop(tx);
    weft_oneshot_rx_drop(rx);
}

static void oneshot_aborted_closed_wait_leaves_no_registration(void) {
    weft_rt *rt = new_rt();
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    closed_waiter *w;
    CHECK_EQ(weft_task_new(&w, rt, closed_waiter_poll), 0);
    w->tx = tx;
    abort_test t = {.h = weft_task_spawn(w)};
    CHECK_EQ(weft_block_on(rt, abort_after_park_poll, &t), 0);
    CHECK_EQ(t.status, -ECANCELED);
    /* The channel no longer holds the victim's waker: its memory is gone. */
    CHECK_EQ(held(rt), 0);
    CHECK_EQ(weft_oneshot_is_closed(tx), 0);
    int v = 8, out = 0;
    CHECK_EQ(weft_oneshot_send(tx, &v), 0);
    CHECK_EQ(weft_oneshot_try_recv(rx, &out), 0);
    CHECK_EQ(out, 8);
    weft_oneshot_rx_drop(rx);
    weft_rt_free(rt);
}

/* ---- cancel safety of recv ---------------------------------------------- */

static void oneshot_aborted_recv_leaves_no_registration(void) {
    weft_rt *rt = new_rt();
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    receiver *r;
    CHECK_EQ(weft_task_new(&r, rt, receiver_poll), 0);
    r->rx = rx;
    abort_test t = {.h = weft_task_spawn(r)};
    CHECK_EQ(weft_block_on(rt, abort_after_park_poll, &t), 0);
    CHECK_EQ(t.status, -ECANCELED);
    CHECK_EQ(held(rt), 0);
    int v = 9;
    CHECK_EQ(weft_oneshot_send(tx, &v), 0);
    CHECK_EQ(held(rt), 0);
    weft_oneshot_rx_drop(rx);
    weft_rt_free(rt);
}

static void oneshot_value_sent_after_cancelled_recv_is_still_received(void) {
    weft_rt *rt = new_rt();
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    receiver *victim;
    CHECK_EQ(weft_task_new(&victim, rt, receiver_poll), 0);
    victim->rx = rx;
    abort_test t = {.h = weft_task_spawn(victim)};
    CHECK_EQ(weft_block_on(rt, abort_after_park_poll, &t), 0);
    CHECK_EQ(t.status, -ECANCELED);
    int v = 12;
    CHECK_EQ(weft_oneshot_send(tx, &v), 0);
    receiver r = {.rx = rx, .status = 1};
    CHECK_EQ(weft_block_on(rt, receiver_poll, &r), 0);
    CHECK_EQ(r.status, 0);
    CHECK_EQ(r.val.i, 12);
    weft_oneshot_rx_drop(rx);
    weft_rt_free(rt);
}

/* By hand: a cancelled recv's waker is released and not woken by the send. */
static void oneshot_cancelled_recv_keeps_no_waker(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    cwaker w;
    cw_init(&w);
    weft_cx cx = weft_cx_manual(&w.base);
    int out = -1, status = 1;
    CHECK_EQ(weft_oneshot_recv(rx, &cx, &out, &status), WEFT_PENDING);
    CHECK_EQ(atomic_load(&w.refs), 1);
    CHECK_EQ(weft_oneshot_recv(rx, NULL, &out, &status), WEFT_READY); /* cancel */
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(status, 1); /* a cancelled recv reports nothing */
    int v = 4;
    CHECK_EQ(weft_oneshot_send(tx, &v), 0);
    CHECK_EQ(atomic_load(&w.wakes), 0);
    CHECK_EQ(out, -1); /* and took nothing */
    CHECK_EQ(weft_oneshot_try_recv(rx, &out), 0);
    CHECK_EQ(out, 4);
    weft_oneshot_rx_drop(rx);
}

/* A re-poll with another waker replaces the stored one (spurious polls). */
static void oneshot_recv_repolled_with_new_waker_wakes_the_new_one(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(int), NULL), 0);
    cwaker a, b;
    cw_init(&a);
    cw_init(&b);
    weft_cx cxa = weft_cx_manual(&a.base), cxb = weft_cx_manual(&b.base);
    int out = -1, status = 1;
    CHECK_EQ(weft_oneshot_recv(rx, &cxa, &out, &status), WEFT_PENDING);
    CHECK_EQ(weft_oneshot_recv(rx, &cxa, &out, &status), WEFT_PENDING);
    CHECK_EQ(atomic_load(&a.refs), 1); /* the same waker is not cloned again */
    CHECK_EQ(weft_oneshot_recv(rx, &cxb, &out, &status), WEFT_PENDING);
    CHECK_EQ(atomic_load(&a.refs), 0);
    CHECK_EQ(atomic_load(&b.refs), 1);
    int v = 5;
    CHECK_EQ(weft_oneshot_send(tx, &v), 0);
    CHECK_EQ(atomic_load(&a.wakes), 0);
    CHECK_EQ(atomic_load(&b.wakes), 1);
    CHECK_EQ(atomic_load(&b.refs), 0);
    CHECK_EQ(weft_oneshot_recv(rx, &cxb, &out, &status), WEFT_READY);
    CHECK_EQ(status, 0);
    CHECK_EQ(out, 5);
    weft_oneshot_rx_drop(rx);
}

/* ---- drop_elem ---------------------------------------------------------- */

static void oneshot_drop_elem_frees_a_value_never_received(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(void *), free_ptr_elem), 0);
    atomic_store(&drops, 0);
    int *p = boxed(1);
    CHECK_EQ(weft_oneshot_send(tx, &p), 0);
    CHECK_EQ(atomic_load(&drops), 0);
    weft_oneshot_rx_drop(rx); /* valgrind/ASan: nothing leaked */
    CHECK_EQ(atomic_load(&drops), 1);
}

static void oneshot_drop_elem_frees_a_value_left_after_rx_close(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(void *), free_ptr_elem), 0);
    atomic_store(&drops, 0);
    int *p = boxed(2);
    CHECK_EQ(weft_oneshot_send(tx, &p), 0);
    weft_oneshot_rx_close(rx);
    CHECK_EQ(atomic_load(&drops), 0); /* close alone keeps it receivable */
    weft_oneshot_rx_drop(rx);
    CHECK_EQ(atomic_load(&drops), 1);
}

static void oneshot_drop_elem_is_not_called_for_a_received_value(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(void *), free_ptr_elem), 0);
    atomic_store(&drops, 0);
    int *p = boxed(3), *got = NULL;
    CHECK_EQ(weft_oneshot_send(tx, &p), 0);
    CHECK_EQ(weft_oneshot_try_recv(rx, &got), 0);
    CHECK(got == p);
    weft_oneshot_rx_drop(rx);
    CHECK_EQ(atomic_load(&drops), 0);
    free(got); /* ours now: a drop_elem call as well would double-free */
}

static void oneshot_drop_elem_is_not_called_when_nothing_was_sent(void) {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(void *), free_ptr_elem), 0);
    atomic_store(&drops, 0);
    weft_oneshot_tx_drop(tx);
    weft_oneshot_rx_drop(rx);
    CHECK_EQ(atomic_load(&drops), 0);
    /* and the other release order */
    CHECK_EQ(weft_oneshot_new(&tx, &rx, sizeof(void *), free_ptr_elem), 0);
    weft_oneshot_rx_drop(rx);
    weft_oneshot_tx_drop(tx);
    CHECK_EQ(atomic_load(&drops), 0);
}

/* ---- threads ------------------------------------------------------------ */

typedef struct sender_frame {
    weft_frame fr;
    weft_oneshot_tx *tx;
    int value, rc;
} sender_frame;

weft_async_fn(sender_frame_poll, sender_frame) {
    weft_async (self) {
        weft_yield();
        self->rc = weft_oneshot_send(self->tx, &self->value);
    }
    return WEFT_READY;
}

typedef struct xthread {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    sem_t parked;
    int value, rc, own_rt, drop; /* drop: tx_drop instead of send */
    closed_waiter cw;
} xthread;

/* Waits until the receiver parked, then sends (from a runtime or plainly). */
static void *send_thread(void *p) {
    xthread *x = p;
    sem_wait(&x->parked);
    if (x->drop) {
        weft_oneshot_tx_drop(x->tx);
        x->rc = 0;
    } else if (x->own_rt) {
        weft_rt *rt = new_rt();
        sender_frame s = {.tx = x->tx, .value = x->value, .rc = 1};
        x->rc = rt ? weft_block_on(rt, sender_frame_poll, &s) : -1;
        if (x->rc == 0) x->rc = s.rc;
        weft_rt_free(rt);
    } else {
        x->rc = weft_oneshot_send(x->tx, &x->value);
    }
    return NULL;
}

static void send_from_thread(int own_rt, int drop) {
    weft_rt *rt = new_rt();
    xthread x = {.value = 1234, .rc = 1, .own_rt = own_rt, .drop = drop};
    sem_init(&x.parked, 0, 0);
    CHECK_EQ(weft_oneshot_new(&x.tx, &x.rx, sizeof(int), NULL), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, send_thread, &x), 0);
    receiver r = {.rx = x.rx, .status = 1, .parked_sem = &x.parked};
    CHECK_EQ(weft_block_on(rt, receiver_poll, &r), 0);
    pthread_join(th, NULL);
    CHECK_EQ(x.rc, 0);
    CHECK_EQ(r.flagged, 1); /* it did park: the send had to wake it */
    CHECK_EQ(r.status, drop ? -EPIPE : 0);
    if (!drop) CHECK_EQ(r.val.i, 1234);
    weft_oneshot_rx_drop(x.rx);
    sem_destroy(&x.parked);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

static void oneshot_sender_runtime_on_other_thread_wakes_parked_receiver(void) {
    send_from_thread(1, 0);
}

static void oneshot_plain_thread_send_wakes_parked_receiver(void) { send_from_thread(0, 0); }

static void oneshot_tx_drop_on_other_thread_wakes_parked_receiver_with_epipe(void) {
    send_from_thread(0, 1);
}

static void *closed_thread(void *p) {
    xthread *x = p;
    weft_rt *rt = new_rt();
    x->cw = (closed_waiter){.tx = x->tx, .parked_sem = &x->parked};
    x->rc = rt ? weft_block_on(rt, closed_waiter_poll, &x->cw) : -1;
    weft_oneshot_tx_drop(x->tx);
    weft_rt_free(rt);
    return NULL;
}

static void oneshot_rx_drop_wakes_closed_wait_on_other_thread(void) {
    xthread x = {.rc = 1};
    sem_init(&x.parked, 0, 0);
    CHECK_EQ(weft_oneshot_new(&x.tx, &x.rx, sizeof(int), NULL), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, closed_thread, &x), 0);
    sem_wait(&x.parked); /* the sender's task is parked in closed() */
    weft_oneshot_rx_drop(x.rx);
    pthread_join(th, NULL);
    CHECK_EQ(x.rc, 0);
    CHECK_EQ(x.cw.done, 1);
    sem_destroy(&x.parked);
}

/*
 * Many channels, all sent from one thread while the runtime receives: every
 * value ends up exactly once with the receiver, with drop_elem, or back with
 * the sender (-EPIPE), whatever the interleaving.  Every third receiver is
 * dropped without receiving (racing with the send), every fifth sender is
 * dropped without sending.
 */
#define STRESS_N 2000

typedef struct stress {
    weft_oneshot_tx *tx[STRESS_N];
    weft_oneshot_rx *rx[STRESS_N];
    atomic_int sent, refused, failures;
} stress;

static int stress_rx_drops_early(int i) { return i % 3 == 2; }
static int stress_tx_drops(int i) { return i % 5 == 4; }

static void *stress_thread(void *p) {
    stress *s = p;
    for (int i = 0; i < STRESS_N; i++) {
        if (stress_tx_drops(i)) {
            weft_oneshot_tx_drop(s->tx[i]);
            continue;
        }
        int *v = boxed(i);
        int rc = weft_oneshot_send(s->tx[i], &v);
        if (rc == 0) {
            atomic_fetch_add(&s->sent, 1);
        } else if (rc == -EPIPE && stress_rx_drops_early(i)) {
            atomic_fetch_add(&s->refused, 1);
            free(v);
        } else {
            atomic_fetch_add(&s->failures, 1);
            free(v);
        }
    }
    return NULL;
}

typedef struct stress_recv {
    weft_frame fr;
    stress *s;
    int i, received, bad;
    int *got;
    int status;
} stress_recv;

weft_async_fn(stress_recv_poll, stress_recv) {
    weft_async (self) {
        for (self->i = 0; self->i < STRESS_N; self->i++) {
            if (stress_rx_drops_early(self->i)) {
                weft_oneshot_rx_drop(self->s->rx[self->i]);
                continue;
            }
            self->got = NULL;
            weft_await(weft_oneshot_recv(self->s->rx[self->i], cx, &self->got, &self->status));
            if (stress_tx_drops(self->i)) {
                if (self->status != -EPIPE) self->bad++;
            } else if (self->status != 0 || !self->got || *self->got != self->i) {
                self->bad++;
            } else {
                self->received++;
            }
            free(self->got);
            weft_oneshot_rx_drop(self->s->rx[self->i]);
        }
    }
    return WEFT_READY;
}

static void oneshot_many_channels_sent_from_a_thread(void) {
    weft_rt *rt = new_rt();
    stress *s = calloc(1, sizeof *s);
    CHECK(s);
    for (int i = 0; i < STRESS_N; i++)
        CHECK_EQ(weft_oneshot_new(&s->tx[i], &s->rx[i], sizeof(int *), free_ptr_elem), 0);
    atomic_store(&drops, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, stress_thread, s), 0);
    stress_recv r = {.s = s};
    CHECK_EQ(weft_block_on(rt, stress_recv_poll, &r), 0);
    pthread_join(th, NULL);
    int expect_received = 0, expect_orphaned = 0;
    for (int i = 0; i < STRESS_N; i++) {
        if (stress_tx_drops(i)) continue;
        if (stress_rx_drops_early(i))
            expect_orphaned++;
        else
            expect_received++;
    }
    CHECK_EQ(r.bad, 0);
    CHECK_EQ(atomic_load(&s->failures), 0);
    CHECK_EQ(r.received, expect_received);
    /* an orphaned value was either refused or dropped by rx_drop */
    CHECK_EQ(atomic_load(&s->refused) + atomic_load(&drops), expect_orphaned);
    CHECK_EQ(atomic_load(&s->sent), expect_received + atomic_load(&drops));
    CHECK_EQ(held(rt), 0);
    free(s);
    weft_rt_free(rt);
}

/*
 * A receiver task is aborted while another thread sends it a value: the
 * value is received exactly once - by the task if its recv completed, else
 * still in the channel for a later try_recv - and nothing leaks.
 */
#define RACE_ITERS 1000

typedef struct race_shared {
    weft_oneshot_tx *tx;
    sem_t go, done;
    unsigned spin;
    int value, stop, rc;
} race_shared;

static void *race_sender(void *p) {
    race_shared *s = p;
    for (;;) {
        sem_wait(&s->go);
        if (s->stop) return NULL;
        spin(s->spin);
        int *v = boxed(s->value);
        s->rc = weft_oneshot_send(s->tx, &v);
        if (s->rc) free(v);
        sem_post(&s->done);
    }
}

typedef struct race_test {
    weft_frame fr;
    race_shared *s;
    weft_oneshot_rx *rx;
    weft_task *h;
    uint64_t rng;
    int i, k, yields, late;
    int by_task, by_try, bad, leaks;
} race_test;

weft_async_fn(race_test_poll, race_test) {
    weft_async (self) {
        for (self->i = 0; self->i < RACE_ITERS; self->i++) {
            {
                int rc = weft_oneshot_new(&self->s->tx, &self->rx, sizeof(int *), free_ptr_elem);
                if (rc) {
                    self->bad++;
                    weft_return;
                }
                receiver *r;
                MUST(weft_task_new(&r, cx->rt, receiver_poll));
                r->rx = self->rx;
                r->status = 1;
                self->h = weft_task_spawn(r);
                uint64_t x = test_rand(&self->rng);
                self->s->spin = (unsigned)(x % 2000);
                self->s->value = self->i;
                self->yields = (int)((x >> 16) % 40);
                self->late = (int)((x >> 24) % 3) == 0;
            }
            weft_yield(); /* the receiver parks */
            sem_post(&self->s->go);
            if (self->late) sem_wait(&self->s->done); /* the send is over */
            for (self->k = 0; self->k < self->yields; self->k++) weft_yield();
            spin((unsigned)(test_rand(&self->rng) % 2000));
            weft_task_abort(self->h);
            weft_await(weft_join(self->h, cx, NULL));
            if (!self->late) sem_wait(&self->s->done);
            {
                receiver *r = weft_task_frame(self->h);
                int *got = NULL;
                int rc = weft_oneshot_try_recv(self->rx, &got);
                if (self->s->rc != 0) {
                    self->bad++; /* the receiver was alive: the send must succeed */
                } else if (r->done) {
                    /* the task has it; the channel must not give it twice */
                    if (r->status != 0 || !r->val.p || *(int *)r->val.p != self->i ||
                        rc != -EPIPE)
                        self->bad++;
                    free(r->val.p);
                    self->by_task++;
                } else {
                    if (rc != 0 || !got || *got != self->i) self->bad++;
                    self->by_try++;
                }
                free(got);
                weft_task_release(self->h);
                weft_oneshot_rx_drop(self->rx);
                if (held(cx->rt) != 1) self->leaks++; /* only the block_on root */
            }
        }
    }
    return WEFT_READY;
}

static void oneshot_abort_racing_with_send_loses_and_leaks_nothing(void) {
    weft_rt *rt = new_rt();
    race_shared s = {0};
    sem_init(&s.go, 0, 0);
    sem_init(&s.done, 0, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, race_sender, &s), 0);
    atomic_store(&drops, 0);
    race_test t = {.s = &s, .rng = 0x9e3779b97f4a7c15ull};
    CHECK_EQ(weft_block_on(rt, race_test_poll, &t), 0);
    s.stop = 1;
    sem_post(&s.go);
    pthread_join(th, NULL);
    CHECK_EQ(t.bad, 0);
    CHECK_EQ(t.leaks, 0);
    CHECK_EQ(t.by_task + t.by_try, RACE_ITERS);
    CHECK_EQ(atomic_load(&drops), 0); /* every value was received */
    CHECK_EQ(held(rt), 0);
    sem_destroy(&s.go);
    sem_destroy(&s.done);
    weft_rt_free(rt);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(oneshot_new_rejects_null_handles),
                         TEST(oneshot_new_rejects_an_impossible_elem_size),
                         TEST(oneshot_try_recv_gets_a_value_sent_earlier),
                         TEST(oneshot_recv_completes_at_once_when_value_is_there),
                         TEST(oneshot_send_wakes_the_parked_receiver_with_the_value),
                         TEST(oneshot_copies_elem_size_bytes),
                         TEST(oneshot_send_after_rx_dropped_fails_and_keeps_value),
                         TEST(oneshot_send_after_rx_close_fails_and_keeps_value),
                         TEST(oneshot_recv_sees_epipe_when_tx_dropped_without_sending),
                         TEST(oneshot_try_recv_says_eagain_then_value_then_epipe),
                         TEST(oneshot_try_recv_says_epipe_after_tx_dropped),
                         TEST(oneshot_recv_twice_gives_epipe),
                         TEST(oneshot_value_sent_before_rx_close_can_still_be_received),
                         TEST(oneshot_recv_after_rx_close_without_value_gives_epipe),
                         TEST(oneshot_is_closed_turns_on_at_rx_drop),
                         TEST(oneshot_closed_completes_when_rx_closes),
                         TEST(oneshot_closed_completes_when_rx_dropped),
                         TEST(oneshot_closed_is_ready_at_once_when_rx_already_closed),
                         TEST(oneshot_cancelled_closed_is_not_woken_and_can_wait_again),
                         TEST(oneshot_aborted_closed_wait_leaves_no_registration),
                         TEST(oneshot_aborted_recv_leaves_no_registration),
                         TEST(oneshot_value_sent_after_cancelled_recv_is_still_received),
                         TEST(oneshot_cancelled_recv_keeps_no_waker),
                         TEST(oneshot_recv_repolled_with_new_waker_wakes_the_new_one),
                         TEST(oneshot_drop_elem_frees_a_value_never_received),
                         TEST(oneshot_drop_elem_frees_a_value_left_after_rx_close),
                         TEST(oneshot_drop_elem_is_not_called_for_a_received_value),
                         TEST(oneshot_drop_elem_is_not_called_when_nothing_was_sent),
                         TEST(oneshot_sender_runtime_on_other_thread_wakes_parked_receiver),
                         TEST(oneshot_plain_thread_send_wakes_parked_receiver),
                         TEST(oneshot_tx_drop_on_other_thread_wakes_parked_receiver_with_epipe),
                         TEST(oneshot_rx_drop_wakes_closed_wait_on_other_thread),
                         TEST(oneshot_many_channels_sent_from_a_thread),
                         TEST(oneshot_abort_racing_with_send_loses_and_leaks_nothing),
                         {0},
                     });
}
