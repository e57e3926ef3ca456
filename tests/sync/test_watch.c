/*
 * tests/sync/test_watch.c - the watch channel: values and versions, seen
 * marks, close in both directions, hooks, cancel safety, threads.
 */
#include <weft.h>
#include <weft/watch.h>

#include "payload.h"
#include "sync_util.h"
#include "test.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

/* ---- helpers ------------------------------------------------------------ */

static weft_poll poll_changed(weft_watch_rx *rx, cwaker *w, int *status) {
    weft_cx cx = weft_cx_manual(&w->base);
    return weft_watch_changed(rx, &cx, status);
}

static void cancel_changed(weft_watch_rx *rx) { (void)weft_watch_changed(rx, NULL, NULL); }

static int new_int(weft_watch_tx **tx, weft_watch_rx **rx, int initial) {
    return weft_watch_new(tx, rx, sizeof(int), &initial, NULL, NULL);
}

static int borrow_int(weft_watch_rx *rx) {
    int v = -1;
    weft_watch_borrow(rx, &v);
    return v;
}

/* ---- values, versions, seen marks --------------------------------------- */

static void watch_initial_value_is_borrowed_and_counts_as_seen(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 7), 0);
    CHECK_EQ(borrow_int(rx), 7);
    int v = 0;
    weft_watch_borrow_tx(tx, &v);
    CHECK_EQ(v, 7);
    CHECK_EQ(weft_watch_has_changed(rx), 0);
    cwaker w;
    cw_init(&w);
    int st = 1;
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
    cancel_changed(rx);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

static void watch_send_then_borrow_sees_the_new_value(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    for (int i = 1; i <= 5; i++) {
        CHECK_EQ(weft_watch_send(tx, &i), 0);
        CHECK_EQ(borrow_int(rx), i);
        int v = 0;
        weft_watch_borrow_tx(tx, &v);
        CHECK_EQ(v, i);
    }
    CHECK_EQ(weft_watch_has_changed(rx), 1);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

static void watch_changed_completes_only_for_unseen_versions_and_marks_them(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    cwaker w;
    cw_init(&w);
    int st = 99;
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
    CHECK_EQ(atomic_load(&w.refs), 1);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING); /* spurious: no clone */
    CHECK_EQ(atomic_load(&w.refs), 1);
    int v = 1;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(atomic_load(&w.refs), 0); /* a non-task waker is consumed */
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(weft_watch_has_changed(rx), 0);
    CHECK_EQ(borrow_int(rx), 1);
    st = 99;
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
    CHECK_EQ(st, 99);
    v = 2;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    CHECK_EQ(atomic_load(&w.wakes), 2);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

static void watch_several_sends_make_one_change_with_the_latest_value(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    for (int i = 1; i <= 3; i++) CHECK_EQ(weft_watch_send(tx, &i), 0);
    cwaker w;
    cw_init(&w);
    int st = 99;
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(borrow_int(rx), 3);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
    cancel_changed(rx);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(atomic_load(&w.wakes), 0);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

static void watch_has_changed_mark_seen_and_mark_changed(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    CHECK_EQ(weft_watch_has_changed(rx), 0);
    weft_watch_mark_changed(rx);
    CHECK_EQ(weft_watch_has_changed(rx), 1);
    cwaker w;
    cw_init(&w);
    int st = 99;
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY); /* at once */
    CHECK_EQ(st, 0);
    CHECK_EQ(weft_watch_has_changed(rx), 0);
    int v = 1;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    CHECK_EQ(weft_watch_has_changed(rx), 1);
    CHECK_EQ(weft_watch_has_changed(rx), 1); /* marks nothing */
    weft_watch_mark_seen(rx);
    CHECK_EQ(weft_watch_has_changed(rx), 0);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
    cancel_changed(rx);
    /* mark_changed twice is still one change */
    weft_watch_mark_changed(rx);
    weft_watch_mark_changed(rx);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
    cancel_changed(rx);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

static void watch_borrow_does_not_mark_seen_but_borrow_and_update_does(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    int v = 4;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    CHECK_EQ(borrow_int(rx), 4);
    CHECK_EQ(weft_watch_has_changed(rx), 1);
    int out = 0;
    weft_watch_borrow_and_update(rx, &out);
    CHECK_EQ(out, 4);
    CHECK_EQ(weft_watch_has_changed(rx), 0);
    cwaker w;
    cw_init(&w);
    int st = 99;
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
    cancel_changed(rx);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

static void watch_subscribe_has_seen_current_and_clone_copies_seen_version(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    int v = 1;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    weft_watch_rx *sub;
    CHECK_EQ(weft_watch_subscribe(&sub, tx), 0);
    CHECK(sub != NULL);
    CHECK_EQ(weft_watch_has_changed(sub), 0);
    CHECK_EQ(borrow_int(sub), 1);
    weft_watch_rx *c1;
    CHECK_EQ(weft_watch_rx_clone(&c1, rx), 0); /* rx has not seen 1 */
    CHECK(c1 != NULL);
    CHECK_EQ(weft_watch_has_changed(c1), 1);
    weft_watch_mark_seen(rx);
    weft_watch_rx *c2;
    CHECK_EQ(weft_watch_rx_clone(&c2, rx), 0);
    CHECK_EQ(weft_watch_has_changed(c2), 0);
    CHECK_EQ(weft_watch_has_changed(c1), 1); /* each keeps its own */
    CHECK_EQ(weft_watch_receiver_count(tx), 4);
    weft_watch_rx_drop(c1);
    weft_watch_rx_drop(c2);
    weft_watch_rx_drop(sub);
    CHECK_EQ(weft_watch_receiver_count(tx), 1);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

/* ---- no receivers ------------------------------------------------------- */

static void watch_send_without_receivers_fails_and_leaves_the_value(void) {
    atomic_store(&payloads_alive, 0);
    atomic_store(&drops, 0);
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    payload *p0 = payload_new(0);
    CHECK_EQ(weft_watch_new(&tx, &rx, sizeof(payload *), &p0, payload_clone_hook, payload_drop_hook), 0);
    CHECK(!weft_watch_tx_is_closed(tx));
    weft_watch_rx_drop(rx);
    CHECK(weft_watch_tx_is_closed(tx));
    CHECK_EQ(weft_watch_receiver_count(tx), 0);
    payload *p1 = payload_new(1);
    CHECK_EQ(weft_watch_send(tx, &p1), -EPIPE);
    CHECK_EQ(atomic_load(&p1->refs), 1); /* still ours, untouched */
    CHECK_EQ(atomic_load(&drops), 0);
    payload *cur = NULL;
    weft_watch_borrow_tx(tx, &cur);
    CHECK(cur == p0);
    payload_unref(cur);
    payload_unref(p1);
    weft_watch_tx_drop(tx);
    CHECK_EQ(atomic_load(&payloads_alive), 0);
}

static void watch_send_replace_stores_without_receivers_and_returns_the_old_value(void) {
    atomic_store(&payloads_alive, 0);
    atomic_store(&drops, 0);
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    payload *p0 = payload_new(0);
    CHECK_EQ(weft_watch_new(&tx, &rx, sizeof(payload *), &p0, payload_clone_hook, payload_drop_hook), 0);
    weft_watch_rx_drop(rx);
    payload *p1 = payload_new(1), *old = NULL;
    weft_watch_send_replace(tx, &p1, &old);
    CHECK(old == p0);
    CHECK_EQ(atomic_load(&drops), 0);
    payload_unref(old);
    /* old == NULL: the replaced value is dropped */
    payload *p2 = payload_new(2);
    weft_watch_send_replace(tx, &p2, NULL);
    CHECK_EQ(atomic_load(&drops), 1);
    payload *cur = NULL;
    weft_watch_borrow_tx(tx, &cur);
    CHECK(cur == p2);
    payload_unref(cur);
    /* a subscriber reopens the channel and has seen p2 */
    CHECK_EQ(weft_watch_subscribe(&rx, tx), 0);
    CHECK(!weft_watch_tx_is_closed(tx));
    CHECK_EQ(weft_watch_has_changed(rx), 0);
    payload *p3 = payload_new(3);
    CHECK_EQ(weft_watch_send(tx, &p3), 0);
    CHECK_EQ(weft_watch_has_changed(rx), 1);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
    CHECK_EQ(atomic_load(&payloads_alive), 0);
}

static void watch_send_replace_wakes_waiting_receivers(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    cwaker w;
    cw_init(&w);
    int st = 99, v = 5, old = -1;
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
    weft_watch_send_replace(tx, &v, &old);
    CHECK_EQ(old, 0);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(borrow_int(rx), 5);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

/* ---- closing ------------------------------------------------------------ */

static void watch_tx_drop_reports_an_unseen_value_first_then_epipe(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    int v = 9;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    weft_watch_tx_drop(tx);
    CHECK_EQ(weft_watch_has_changed(rx), -EPIPE); /* Tokio: Err once closed */
    cwaker w;
    cw_init(&w);
    int st = 99;
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(borrow_int(rx), 9);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_watch_rx_drop(rx);
}

static void watch_tx_drop_wakes_pending_changed_with_epipe(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    weft_watch_rx *rx2;
    CHECK_EQ(weft_watch_subscribe(&rx2, tx), 0);
    cwaker w, w2;
    cw_init(&w);
    cw_init(&w2);
    int st = 99, st2 = 99;
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
    CHECK_EQ(poll_changed(rx2, &w2, &st2), WEFT_PENDING);
    weft_watch_tx_drop(tx);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(atomic_load(&w2.wakes), 1);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    CHECK_EQ(poll_changed(rx2, &w2, &st2), WEFT_READY);
    CHECK_EQ(st2, -EPIPE);
    CHECK_EQ(atomic_load(&w.refs) + atomic_load(&w2.refs), 0);
    CHECK_EQ(borrow_int(rx), 0); /* the last value stays readable */
    weft_watch_rx_drop(rx);
    weft_watch_rx_drop(rx2);
}

static void watch_tx_closed_completes_when_the_last_receiver_goes(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    weft_watch_rx *rx2;
    CHECK_EQ(weft_watch_rx_clone(&rx2, rx), 0);
    CHECK_EQ(weft_watch_receiver_count(tx), 2);
    cwaker w;
    cw_init(&w);
    weft_cx cx = weft_cx_manual(&w.base);
    CHECK_EQ(weft_watch_tx_closed(tx, &cx), WEFT_PENDING);
    CHECK_EQ(weft_watch_tx_closed(tx, &cx), WEFT_PENDING);
    CHECK_EQ(atomic_load(&w.refs), 1);
    weft_watch_rx_drop(rx);
    CHECK_EQ(atomic_load(&w.wakes), 0);
    CHECK_EQ(weft_watch_receiver_count(tx), 1);
    CHECK_EQ(weft_watch_tx_closed(tx, &cx), WEFT_PENDING);
    weft_watch_rx_drop(rx2);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK(weft_watch_tx_is_closed(tx));
    CHECK_EQ(weft_watch_tx_closed(tx, &cx), WEFT_READY);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_watch_tx_drop(tx);
}

static void watch_cancelled_tx_closed_keeps_no_waker(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    cwaker w;
    cw_init(&w);
    weft_cx cx = weft_cx_manual(&w.base);
    CHECK_EQ(weft_watch_tx_closed(tx, &cx), WEFT_PENDING);
    CHECK_EQ(weft_watch_tx_closed(tx, NULL), WEFT_READY);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_watch_rx_drop(rx);
    CHECK_EQ(atomic_load(&w.wakes), 0);
    weft_watch_tx_drop(tx);
}

/* A task waits in tx_closed; receivers go away one by one. */
typedef struct closed_waiter {
    weft_frame fr;
    weft_watch_tx *tx;
    int done;
} closed_waiter;

weft_async_fn(closed_waiter_poll, closed_waiter) {
    weft_async (self) {
        weft_await(weft_watch_tx_closed(self->tx, cx));
        self->done = 1;
    }
    return WEFT_READY;
}

typedef struct closed_test {
    weft_frame fr;
    weft_watch_tx *tx;
    weft_watch_rx *rx[3];
    weft_task *h;
    int i, done_early;
} closed_test;

weft_async_fn(closed_test_poll, closed_test) {
    weft_async (self) {
        {
            closed_waiter *c;
            MUST(weft_task_new(&c, cx->rt, closed_waiter_poll));
            c->tx = self->tx;
            self->h = weft_task_spawn(c);
        }
        for (self->i = 0; self->i < 3; self->i++) {
            weft_yield();
            weft_yield();
            self->done_early += ((closed_waiter *)weft_task_frame(self->h))->done;
            weft_watch_rx_drop(self->rx[self->i]);
        }
        weft_await(weft_join(self->h, cx, NULL));
        weft_task_release(self->h);
    }
    return WEFT_READY;
}

static void watch_tx_closed_task_is_woken_by_the_last_rx_drop(void) {
    weft_rt *rt = new_rt();
    closed_test t = {0};
    CHECK_EQ(new_int(&t.tx, &t.rx[0], 0), 0);
    CHECK_EQ(weft_watch_subscribe(&t.rx[1], t.tx), 0);
    CHECK_EQ(weft_watch_rx_clone(&t.rx[2], t.rx[0]), 0);
    CHECK_EQ(weft_block_on(rt, closed_test_poll, &t), 0);
    CHECK_EQ(t.done_early, 0);
    CHECK_EQ(held(rt), 0);
    weft_watch_tx_drop(t.tx);
    weft_rt_free(rt);
}

static void watch_receiver_count_follows_subscribe_clone_and_drop(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    CHECK_EQ(weft_watch_receiver_count(tx), 1);
    weft_watch_rx *r[6];
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(i % 2 ? weft_watch_subscribe(&r[i], tx) : weft_watch_rx_clone(&r[i], rx), 0);
        CHECK(r[i] != NULL);
        CHECK_EQ(weft_watch_receiver_count(tx), (size_t)i + 2);
    }
    for (int i = 0; i < 6; i++) weft_watch_rx_drop(r[i]);
    CHECK_EQ(weft_watch_receiver_count(tx), 1);
    weft_watch_rx_drop(rx);
    CHECK_EQ(weft_watch_receiver_count(tx), 0);
    weft_watch_tx_drop(tx);
}

/* Receivers outliving the sender free the channel, with its value. */
static void watch_last_handle_frees_in_either_order(void) {
    atomic_store(&payloads_alive, 0);
    for (int order = 0; order < 2; order++) {
        weft_watch_tx *tx;
        weft_watch_rx *rx;
        payload *p = payload_new(order);
        CHECK_EQ(weft_watch_new(&tx, &rx, sizeof(payload *), &p, payload_clone_hook, payload_drop_hook), 0);
        weft_watch_rx *rx2;
        CHECK_EQ(weft_watch_rx_clone(&rx2, rx), 0);
        if (order) {
            weft_watch_tx_drop(tx);
            weft_watch_rx_drop(rx);
            CHECK_EQ(atomic_load(&payloads_alive), 1);
            weft_watch_rx_drop(rx2);
        } else {
            weft_watch_rx_drop(rx);
            weft_watch_rx_drop(rx2);
            CHECK_EQ(atomic_load(&payloads_alive), 1);
            weft_watch_tx_drop(tx);
        }
        CHECK_EQ(atomic_load(&payloads_alive), 0);
    }
}

/* ---- hooks -------------------------------------------------------------- */

static void watch_clone_and_drop_hooks_balance(void) {
    atomic_store(&payloads_alive, 0);
    atomic_store(&clones, 0);
    atomic_store(&drops, 0);
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    payload *p = payload_new(0);
    CHECK_EQ(weft_watch_new(&tx, &rx, sizeof(payload *), &p, payload_clone_hook, payload_drop_hook), 0);
    CHECK_EQ(atomic_load(&clones), 0); /* initial taken over, not cloned */
    weft_watch_rx *rx2;
    CHECK_EQ(weft_watch_subscribe(&rx2, tx), 0);
    for (int i = 1; i <= 10; i++) {
        payload *n = payload_new(i);
        CHECK_EQ(weft_watch_send(tx, &n), 0);
        CHECK_EQ(atomic_load(&drops), i); /* the replaced one */
        payload *a = NULL, *b = NULL, *c = NULL;
        weft_watch_borrow(rx, &a);
        weft_watch_borrow_and_update(rx2, &b);
        weft_watch_borrow_tx(tx, &c);
        CHECK(a == n && b == n && c == n);
        CHECK_EQ(atomic_load(&n->refs), 4);
        payload_unref(a);
        payload_unref(b);
        payload_unref(c);
        CHECK_EQ(atomic_load(&payloads_alive), 1);
    }
    CHECK_EQ(atomic_load(&clones), 30);
    weft_watch_rx_drop(rx);
    weft_watch_tx_drop(tx);
    CHECK_EQ(atomic_load(&payloads_alive), 1);
    weft_watch_rx_drop(rx2);
    CHECK_EQ(atomic_load(&drops), 11);
    CHECK_EQ(atomic_load(&payloads_alive), 0);
}

/* drop_elem runs outside the lock: it may call into the channel. */
static weft_watch_tx *reentrant_tx;
static int reentrant_seen;
static void reentrant_drop(void *elem) {
    (void)elem;
    if (reentrant_tx) reentrant_seen = (int)weft_watch_receiver_count(reentrant_tx);
}

static void watch_drop_hook_runs_outside_the_lock(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    int v = 0;
    CHECK_EQ(weft_watch_new(&tx, &rx, sizeof v, &v, NULL, reentrant_drop), 0);
    reentrant_tx = tx;
    v = 1;
    CHECK_EQ(weft_watch_send(tx, &v), 0); /* would deadlock if under the lock */
    CHECK_EQ(reentrant_seen, 1);
    reentrant_tx = NULL;
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

/* ---- wakers ------------------------------------------------------------- */

static void watch_repoll_with_a_new_waker_wakes_the_new_one(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    cwaker a, b;
    cw_init(&a);
    cw_init(&b);
    int st = 99;
    CHECK_EQ(poll_changed(rx, &a, &st), WEFT_PENDING);
    CHECK_EQ(poll_changed(rx, &b, &st), WEFT_PENDING);
    CHECK_EQ(atomic_load(&a.refs), 0);
    CHECK_EQ(atomic_load(&b.refs), 1);
    int v = 1;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    CHECK_EQ(atomic_load(&a.wakes), 0);
    CHECK_EQ(atomic_load(&b.wakes), 1);
    CHECK_EQ(atomic_load(&b.refs), 0);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

/* More waiters than one wake batch: all are woken, once. */
#define MANY 100
static void watch_send_wakes_every_waiting_receiver(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    static weft_watch_rx *r[MANY];
    static cwaker w[MANY];
    int st = 0;
    for (int i = 0; i < MANY; i++) {
        r[i] = rx;
        if (i) CHECK_EQ(weft_watch_subscribe(&r[i], tx), 0);
        cw_init(&w[i]);
        CHECK_EQ(poll_changed(r[i], &w[i], &st), WEFT_PENDING);
    }
    int v = 1;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    for (int i = 0; i < MANY; i++) {
        CHECK_EQ(atomic_load(&w[i].wakes), 1);
        CHECK_EQ(atomic_load(&w[i].refs), 0);
    }
    v = 2;
    CHECK_EQ(weft_watch_send(tx, &v), 0); /* nobody queued any more */
    for (int i = 0; i < MANY; i++) {
        CHECK_EQ(atomic_load(&w[i].wakes), 1);
        CHECK_EQ(poll_changed(r[i], &w[i], &st), WEFT_READY);
        CHECK_EQ(borrow_int(r[i]), 2);
        weft_watch_rx_drop(r[i]);
    }
    weft_watch_tx_drop(tx);
}

static void watch_cancelled_changed_leaves_no_waker_and_marks_nothing(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    cwaker w;
    cw_init(&w);
    int st = 99;
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
    cancel_changed(rx);
    CHECK_EQ(atomic_load(&w.refs), 0);
    int v = 1;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    CHECK_EQ(atomic_load(&w.wakes), 0); /* no node left behind */
    /* woken, then cancelled before it looked: the change is still unseen */
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
    v = 2;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    cancel_changed(rx);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(weft_watch_has_changed(rx), 1);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(borrow_int(rx), 2);
    /* cancelling a changed that is not parked is harmless */
    cancel_changed(rx);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

static void watch_rx_drop_while_parked_leaves_nothing(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    weft_watch_rx *rx2;
    CHECK_EQ(weft_watch_subscribe(&rx2, tx), 0);
    cwaker w;
    cw_init(&w);
    int st = 99;
    CHECK_EQ(poll_changed(rx2, &w, &st), WEFT_PENDING);
    weft_watch_rx_drop(rx2); /* misuse tolerated: the node goes too */
    CHECK_EQ(atomic_load(&w.refs), 0);
    int v = 1;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    CHECK_EQ(atomic_load(&w.wakes), 0);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

/* Steady state allocates nothing: send, changed, borrow, park again. */
static void watch_send_and_changed_do_not_allocate(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    cwaker w;
    cw_init(&w);
    int st = 0;
    uint64_t before = weft_alloc_count();
    for (int i = 1; i <= 1000; i++) {
        CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
        CHECK_EQ(weft_watch_send(tx, &i), 0);
        CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
        CHECK_EQ(borrow_int(rx), i);
    }
    CHECK_EQ(weft_alloc_count(), before);
    CHECK_EQ(atomic_load(&w.wakes), 1000);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

/* ---- tasks -------------------------------------------------------------- */

/* Waits for changes until it sees `until` (or the channel closes). */
typedef struct watcher {
    weft_frame fr;
    weft_watch_rx *rx;
    int until, v, last, status, changes, monotonic_errors;
    int drop_rx;
} watcher;

weft_async_fn(watcher_poll, watcher) {
    weft_async (self) {
        self->last = -1;
        for (;;) {
            weft_await(weft_watch_changed(self->rx, cx, &self->status));
            if (self->status) break;
            self->changes++;
            weft_watch_borrow(self->rx, &self->v);
            if (self->v < self->last) self->monotonic_errors++;
            self->last = self->v;
            if (self->v >= self->until) break;
        }
    weft_finally:
        if (self->drop_rx) weft_watch_rx_drop(self->rx);
    }
    return WEFT_READY;
}

#define TASKS 10
typedef struct task_test {
    weft_frame fr;
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    weft_task *h[TASKS];
    int i, n, sends, early;
} task_test;

weft_async_fn(task_test_poll, task_test) {
    weft_async (self) {
        for (self->i = 0; self->i < TASKS; self->i++) {
            watcher *w;
            MUST(weft_task_new(&w, cx->rt, watcher_poll));
            MUST(weft_watch_subscribe(&w->rx, self->tx));
            w->until = self->sends;
            w->drop_rx = 1;
            self->h[self->i] = weft_task_spawn(w);
        }
        weft_yield(); /* all park */
        for (self->i = 0; self->i < TASKS; self->i++)
            self->early += ((watcher *)weft_task_frame(self->h[self->i]))->changes;
        for (self->n = 1; self->n <= self->sends; self->n++) {
            weft_watch_send(self->tx, &self->n);
            weft_yield();
        }
        for (self->i = 0; self->i < TASKS; self->i++)
            weft_await(weft_join(self->h[self->i], cx, NULL));
    }
    return WEFT_READY;
}

static void watch_waiting_tasks_are_woken_by_send(void) {
    weft_rt *rt = new_rt();
    task_test t = {.sends = 200};
    CHECK_EQ(new_int(&t.tx, &t.rx, 0), 0);
    CHECK_EQ(weft_block_on(rt, task_test_poll, &t), 0);
    CHECK_EQ(t.early, 0);
    for (int i = 0; i < TASKS; i++) {
        watcher *w = weft_task_frame(t.h[i]);
        CHECK_EQ(w->status, 0);
        CHECK_EQ(w->last, 200);
        CHECK_EQ(w->monotonic_errors, 0);
        CHECK(w->changes >= 1 && w->changes <= 200);
        weft_task_release(t.h[i]);
    }
    CHECK_EQ(held(rt), 0); /* the rx drops released the kept wakers */
    weft_watch_tx_drop(t.tx);
    weft_watch_rx_drop(t.rx);
    weft_rt_free(rt);
}

/* The sender goes away: waiting tasks finish with -EPIPE. */
typedef struct close_task_test {
    weft_frame fr;
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    weft_task *h[2];
    int i;
} close_task_test;

weft_async_fn(close_task_test_poll, close_task_test) {
    weft_async (self) {
        for (self->i = 0; self->i < 2; self->i++) {
            watcher *w;
            MUST(weft_task_new(&w, cx->rt, watcher_poll));
            w->rx = self->rx;
            if (self->i) MUST(weft_watch_subscribe(&w->rx, self->tx));
            w->until = 1000;
            w->drop_rx = 1;
            self->h[self->i] = weft_task_spawn(w);
        }
        weft_yield();
        {
            int v = 5;
            weft_watch_send(self->tx, &v);
        }
        weft_watch_tx_drop(self->tx); /* before they ran: 5 then -EPIPE */
        for (self->i = 0; self->i < 2; self->i++)
            weft_await(weft_join(self->h[self->i], cx, NULL));
    }
    return WEFT_READY;
}

static void watch_tx_drop_ends_waiting_tasks_after_the_last_value(void) {
    weft_rt *rt = new_rt();
    close_task_test t = {0};
    CHECK_EQ(new_int(&t.tx, &t.rx, 0), 0);
    CHECK_EQ(weft_block_on(rt, close_task_test_poll, &t), 0);
    for (int i = 0; i < 2; i++) {
        watcher *w = weft_task_frame(t.h[i]);
        CHECK_EQ(w->changes, 1);
        CHECK_EQ(w->last, 5);
        CHECK_EQ(w->status, -EPIPE);
        weft_task_release(t.h[i]);
    }
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

/* A task parked in changed() is aborted: nothing is left behind. */
typedef struct abort_test {
    weft_frame fr;
    weft_task *h;
    int status;
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

static void watch_aborted_waiting_task_leaves_no_waker(void) {
    weft_rt *rt = new_rt();
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    watcher *w;
    CHECK_EQ(weft_task_new(&w, rt, watcher_poll), 0);
    w->rx = rx; /* not dropped by the task: the rx outlives it */
    w->until = 1;
    abort_test t = {.h = weft_task_spawn(w)};
    CHECK_EQ(weft_block_on(rt, abort_after_park_poll, &t), 0);
    CHECK_EQ(t.status, -ECANCELED);
    CHECK_EQ(held(rt), 0); /* the rx keeps no reference to the dead task */
    int v = 1;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    CHECK_EQ(weft_watch_has_changed(rx), 1);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
    weft_rt_free(rt);
}

/* ---- bad arguments ------------------------------------------------------ */

static void watch_bad_arguments_are_rejected(void) {
    weft_watch_tx *tx = (weft_watch_tx *)1;
    weft_watch_rx *rx = (weft_watch_rx *)1;
    int v = 0;
    CHECK_EQ(weft_watch_new(NULL, &rx, sizeof v, &v, NULL, NULL), -EINVAL);
    CHECK(rx == NULL);
    CHECK_EQ(weft_watch_new(&tx, NULL, sizeof v, &v, NULL, NULL), -EINVAL);
    CHECK(tx == NULL);
    CHECK_EQ(weft_watch_new(&tx, &rx, sizeof v, NULL, NULL, NULL), -EINVAL);
    CHECK(tx == NULL && rx == NULL);
    CHECK_EQ(weft_watch_new(&tx, &rx, SIZE_MAX - 8, &v, NULL, NULL), -EINVAL);
    CHECK_EQ(weft_watch_new(&tx, &rx, SIZE_MAX / 2, &v, NULL, NULL), -EINVAL);
    CHECK_EQ(weft_watch_send(NULL, &v), -EINVAL);
    CHECK_EQ(weft_watch_has_changed(NULL), -EINVAL);
    weft_watch_tx_drop(NULL);
    weft_watch_rx_drop(NULL);
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    CHECK_EQ(weft_watch_send(tx, NULL), -EINVAL);
    CHECK_EQ(borrow_int(rx), 0);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

/* A watch of nothing (elem_size 0) is a version counter. */
static void watch_zero_sized_values_still_count_versions(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(weft_watch_new(&tx, &rx, 0, NULL, NULL, NULL), 0);
    CHECK_EQ(weft_watch_has_changed(rx), 0);
    CHECK_EQ(weft_watch_send(tx, NULL), 0);
    CHECK_EQ(weft_watch_has_changed(rx), 1);
    weft_watch_mark_seen(rx);
    CHECK_EQ(weft_watch_has_changed(rx), 0);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

/* ---- wake versus cancel across threads --------------------------------- */

/*
 * Task A waits in changed() on its receiver (and, in some iterations, task
 * B on another one); a thread sends while the runtime aborts A, at random
 * moments.  Every interleaving must give: A either completed (and then saw
 * the value: nothing unseen) or was cancelled (and then marked nothing: the
 * value is unseen); B completes with the value (no lost wake-up); the
 * kept wakers are gone once the receivers are dropped (no leak).
 */
#define RACE_ITERS 1000

typedef struct race_shared {
    weft_watch_tx *tx;
    sem_t go, done;
    unsigned spin;
    int value, stop;
} race_shared;

static void *race_sender(void *p) {
    race_shared *s = p;
    for (;;) {
        sem_wait(&s->go);
        if (s->stop) return NULL;
        spin(s->spin);
        if (weft_watch_send(s->tx, &s->value) != 0) s->value = -1;
        sem_post(&s->done);
    }
}

typedef struct race_test {
    weft_frame fr;
    race_shared *s;
    weft_watch_rx *ra, *rb;
    weft_task *a, *b;
    uint64_t rng;
    int i, k, yields, late, with_b;
    int wrong, lost, leaks, a_won, a_cancelled;
} race_test;

static weft_task *spawn_watcher(weft_rt *rt, weft_watch_rx *rx, int until) {
    watcher *w;
    if (weft_task_new(&w, rt, watcher_poll) != 0) return NULL;
    w->rx = rx;
    w->until = until;
    return weft_task_spawn(w);
}

weft_async_fn(race_test_poll, race_test) {
    weft_async (self) {
        for (self->i = 1; self->i <= RACE_ITERS; self->i++) {
            {
                uint64_t x = test_rand(&self->rng);
                self->with_b = (int)(x & 1);
                self->late = (int)((x >> 1) % 3) == 0;
                self->yields = (int)((x >> 8) % 40);
                self->s->spin = (unsigned)((x >> 16) % 2000);
                self->s->value = self->i;
                MUST(weft_watch_subscribe(&self->ra, self->s->tx));
                self->rb = NULL;
                if (self->with_b) MUST(weft_watch_subscribe(&self->rb, self->s->tx));
            }
            self->a = spawn_watcher(cx->rt, self->ra, self->i);
            self->b = self->with_b ? spawn_watcher(cx->rt, self->rb, self->i) : NULL;
            weft_yield(); /* they park */
            sem_post(&self->s->go);
            if (self->late) sem_wait(&self->s->done); /* the send is over */
            for (self->k = 0; self->k < self->yields; self->k++) weft_yield();
            spin((unsigned)(test_rand(&self->rng) % 2000));
            weft_task_abort(self->a);
            weft_await(weft_join(self->a, cx, NULL));
            if (!self->late) sem_wait(&self->s->done);
            if (self->s->value != self->i) self->wrong++;
            {
                watcher *wa = weft_task_frame(self->a);
                int unseen = weft_watch_has_changed(self->ra);
                if (wa->changes) {
                    self->a_won++;
                    if (wa->last != self->i || unseen != 0) self->wrong++;
                } else {
                    self->a_cancelled++;
                    if (unseen != 1) self->wrong++; /* cancel marked it seen */
                }
            }
            if (self->b) {
                weft_await(weft_join(self->b, cx, NULL)); /* hangs if lost */
                watcher *wb = weft_task_frame(self->b);
                if (wb->last != self->i || wb->changes != 1) self->lost++;
                weft_task_release(self->b);
                self->b = NULL;
                weft_watch_rx_drop(self->rb);
            }
            weft_task_release(self->a);
            weft_watch_rx_drop(self->ra);
            if (held(cx->rt) != 1) self->leaks++; /* only the block_on root */
        }
    }
    return WEFT_READY;
}

static void watch_send_racing_with_abort_loses_nothing_and_leaks_nothing(void) {
    weft_rt *rt = new_rt();
    race_shared *s = calloc(1, sizeof *s);
    weft_watch_rx *keep;
    CHECK(rt && s);
    CHECK_EQ(new_int(&s->tx, &keep, 0), 0);
    sem_init(&s->go, 0, 0);
    sem_init(&s->done, 0, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, race_sender, s), 0);
    race_test t = {.s = s, .rng = 0x9e3779b97f4a7c15ull};
    int rc = weft_block_on(rt, race_test_poll, &t);
    s->stop = 1;
    sem_post(&s->go);
    pthread_join(th, NULL);
    CHECK_EQ(rc, 0);
    CHECK_EQ(t.wrong, 0);
    CHECK_EQ(t.lost, 0);
    CHECK_EQ(t.leaks, 0);
    CHECK_EQ(t.a_won + t.a_cancelled, RACE_ITERS);
    CHECK_EQ(held(rt), 0);
    weft_watch_tx_drop(s->tx);
    weft_watch_rx_drop(keep);
    sem_destroy(&s->go);
    sem_destroy(&s->done);
    free(s);
    weft_rt_free(rt);
}

/*
 * The same race with a waker that is not a task (taken out and woken after
 * the unlock): a hand-polled changed() on this thread is cancelled or
 * re-polled while another thread sends.  The waker is released exactly
 * once, woken at most once, and a cancel marks nothing seen.
 */
typedef struct hand_race {
    weft_watch_tx *tx;
    sem_t go, done;
    unsigned spin;
    int stop;
} hand_race;

static void *hand_sender(void *p) {
    hand_race *s = p;
    for (int i = 1;; i++) {
        sem_wait(&s->go);
        if (s->stop) return NULL;
        spin(s->spin);
        weft_watch_send(s->tx, &i);
        sem_post(&s->done);
    }
}

static void watch_send_racing_with_cancel_of_a_hand_polled_changed(void) {
    hand_race *s = calloc(1, sizeof *s);
    weft_watch_rx *rx;
    CHECK(s);
    CHECK_EQ(new_int(&s->tx, &rx, 0), 0);
    sem_init(&s->go, 0, 0);
    sem_init(&s->done, 0, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, hand_sender, s), 0);
    uint64_t rng = 0x2545f4914f6cdd1dull;
    int bad = 0;
    for (int i = 1; i <= RACE_ITERS; i++) {
        uint64_t x = test_rand(&rng);
        cwaker w;
        cw_init(&w);
        int st = 99, cancel = (int)(x & 1);
        if (poll_changed(rx, &w, &st) != WEFT_PENDING) bad++;
        s->spin = (unsigned)((x >> 8) % 2000);
        sem_post(&s->go);
        spin((unsigned)((x >> 24) % 2000));
        if (cancel) {
            cancel_changed(rx);
            sem_wait(&s->done);
            if (weft_watch_has_changed(rx) != 1) bad++;
            weft_watch_mark_seen(rx);
        } else {
            weft_poll r = poll_changed(rx, &w, &st); /* maybe before the send */
            sem_wait(&s->done);
            if (r == WEFT_PENDING) {
                /* the send came after: it must have woken us */
                if (atomic_load(&w.wakes) != 1) bad++;
                r = poll_changed(rx, &w, &st);
            }
            if (r != WEFT_READY || st != 0) bad++;
            if (borrow_int(rx) != i) bad++;
        }
        if (atomic_load(&w.wakes) > 1) bad++;
        if (atomic_load(&w.refs) != 0) bad++;
    }
    s->stop = 1;
    sem_post(&s->go);
    pthread_join(th, NULL);
    CHECK_EQ(bad, 0);
    weft_watch_tx_drop(s->tx);
    weft_watch_rx_drop(rx);
    sem_destroy(&s->go);
    sem_destroy(&s->done);
    free(s);
}

/*
 * The sender is dropped while another thread cancels and drops every
 * receiver (more than one wake batch of them, so tx_drop unlocks between
 * batches).  Whichever handle goes last frees the channel exactly once, and
 * every waker is released: under ASan / valgrind a use after free or a leak
 * fails the test.
 */
#define DROP_RX 70
#define DROP_ITERS 200

typedef struct drop_race {
    weft_watch_rx *rx[DROP_RX];
    cwaker w[DROP_RX];
    unsigned spin;
    uint64_t rng;
} drop_race;

/* A counting waker whose wake takes a while: tx_drop's batches stretch out,
 * so the receivers often all go while it is between two batches. */
static void slow_wake(weft_waker *w) {
    spin(3000);
    cw_wake(w);
}
static const weft_waker_vtable slow_vtable = {cw_clone, slow_wake, cw_wake_by_ref, cw_drop};

static void *drop_receivers(void *p) {
    drop_race *d = p;
    spin(d->spin);
    for (int i = 0; i < DROP_RX; i++) {
        cancel_changed(d->rx[i]);
        weft_watch_rx_drop(d->rx[i]);
    }
    return NULL;
}

static void watch_tx_drop_racing_with_receiver_drops_frees_once(void) {
    static drop_race d;
    d.rng = 0x51afd7ed558ccd1dull;
    int bad = 0;
    for (int it = 0; it < DROP_ITERS; it++) {
        weft_watch_tx *tx;
        CHECK_EQ(new_int(&tx, &d.rx[0], 0), 0);
        int st = 0;
        for (int i = 0; i < DROP_RX; i++) {
            if (i) CHECK_EQ(weft_watch_subscribe(&d.rx[i], tx), 0);
            cw_init(&d.w[i]);
            d.w[i].base.vtable = &slow_vtable;
            if (poll_changed(d.rx[i], &d.w[i], &st) != WEFT_PENDING) bad++;
        }
        uint64_t x = test_rand(&d.rng);
        d.spin = (unsigned)(x % 30000);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, drop_receivers, &d), 0);
        spin((unsigned)((x >> 16) % 3000));
        weft_watch_tx_drop(tx);
        pthread_join(th, NULL);
        for (int i = 0; i < DROP_RX; i++) {
            if (atomic_load(&d.w[i].refs) != 0) bad++;
            if (atomic_load(&d.w[i].wakes) > 1) bad++;
        }
    }
    CHECK_EQ(bad, 0);
}

/* changed() completes without the lock while its node is still queued (a
 * mark_changed while it waited): the stale node does no harm. */
static void watch_changed_ready_while_still_queued_is_harmless(void) {
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    CHECK_EQ(new_int(&tx, &rx, 0), 0);
    cwaker w;
    cw_init(&w);
    int st = 99;
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
    weft_watch_mark_changed(rx);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING); /* no double link */
    int v = 1;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_PENDING);
    weft_watch_mark_changed(rx);
    CHECK_EQ(poll_changed(rx, &w, &st), WEFT_READY);
    cancel_changed(rx); /* unlinks the stale node */
    CHECK_EQ(atomic_load(&w.refs), 0);
    v = 2;
    CHECK_EQ(weft_watch_send(tx, &v), 0);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    weft_watch_tx_drop(tx);
    weft_watch_rx_drop(rx);
}

/* ---- threads ------------------------------------------------------------ */

/*
 * A sender thread publishes refcounted payloads 1..STRESS_N, yielding after
 * each; receiver threads (each its own runtime) wait in changed() and borrow.
 * Values seen never go backwards, every receiver ends at the last value and
 * then sees the channel closed, and no payload is leaked.
 */
#define STRESS_RX 3
#define STRESS_N 5000

typedef struct p_sender {
    weft_frame fr;
    weft_watch_tx *tx;
    int i, fails;
} p_sender;

weft_async_fn(p_sender_poll, p_sender) {
    weft_async (self) {
        for (self->i = 1; self->i <= STRESS_N; self->i++) {
            {
                payload *p = payload_new(self->i);
                if (weft_watch_send(self->tx, &p) != 0) {
                    self->fails++;
                    payload_unref(p);
                }
            }
            weft_yield();
        }
        weft_watch_tx_drop(self->tx);
    }
    return WEFT_READY;
}

typedef struct p_watcher {
    weft_frame fr;
    weft_watch_rx *rx;
    uint64_t last;
    int status, changes, backwards, use_update;
} p_watcher;

weft_async_fn(p_watcher_poll, p_watcher) {
    weft_async (self) {
        for (;;) {
            weft_await(weft_watch_changed(self->rx, cx, &self->status));
            if (self->status) break;
            self->changes++;
            {
                payload *p = NULL;
                if (self->use_update)
                    weft_watch_borrow_and_update(self->rx, &p);
                else
                    weft_watch_borrow(self->rx, &p);
                if (p->v < self->last) self->backwards++;
                self->last = p->v;
                payload_unref(p);
            }
        }
    }
    return WEFT_READY;
}

typedef struct stress_arg {
    weft_watch_tx *tx;
    p_watcher w;
    p_sender s;
    int rc;
} stress_arg;

static void *stress_sender_thread(void *p) {
    stress_arg *a = p;
    weft_rt *rt = new_rt();
    a->s = (p_sender){.tx = a->tx};
    a->rc = weft_block_on(rt, p_sender_poll, &a->s);
    weft_rt_free(rt);
    return NULL;
}

static void *stress_rx_thread(void *p) {
    stress_arg *a = p;
    weft_rt *rt = new_rt();
    a->rc = weft_block_on(rt, p_watcher_poll, &a->w);
    weft_watch_rx_drop(a->w.rx); /* and the waker it kept */
    if (held(rt) != 0) a->rc = -1;
    weft_rt_free(rt);
    return NULL;
}

static void watch_threads_see_values_in_order_and_end_at_the_last(void) {
    atomic_store(&payloads_alive, 0);
    weft_watch_tx *tx;
    weft_watch_rx *rx;
    payload *p0 = payload_new(0);
    CHECK_EQ(weft_watch_new(&tx, &rx, sizeof(payload *), &p0, payload_clone_hook, payload_drop_hook), 0);
    stress_arg args[STRESS_RX + 1];
    memset(args, 0, sizeof args);
    for (int i = 0; i < STRESS_RX; i++) {
        args[i].w.rx = rx;
        if (i == 1) CHECK_EQ(weft_watch_subscribe(&args[i].w.rx, tx), 0);
        if (i > 1) CHECK_EQ(weft_watch_rx_clone(&args[i].w.rx, rx), 0);
        args[i].w.use_update = i & 1;
    }
    args[STRESS_RX].tx = tx;
    pthread_t th[STRESS_RX + 1];
    for (int i = 0; i < STRESS_RX; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, stress_rx_thread, &args[i]), 0);
    CHECK_EQ(pthread_create(&th[STRESS_RX], NULL, stress_sender_thread, &args[STRESS_RX]), 0);
    for (int i = 0; i <= STRESS_RX; i++) pthread_join(th[i], NULL);
    CHECK_EQ(args[STRESS_RX].rc, 0);
    CHECK_EQ(args[STRESS_RX].s.fails, 0);
    for (int i = 0; i < STRESS_RX; i++) {
        CHECK_EQ(args[i].rc, 0);
        CHECK_EQ(args[i].w.status, -EPIPE);
        CHECK_EQ(args[i].w.backwards, 0);
        CHECK_EQ(args[i].w.last, STRESS_N);
        CHECK(args[i].w.changes >= 1 && args[i].w.changes <= STRESS_N);
    }
    CHECK_EQ(atomic_load(&payloads_alive), 0);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(watch_initial_value_is_borrowed_and_counts_as_seen),
                         TEST(watch_send_then_borrow_sees_the_new_value),
                         TEST(watch_changed_completes_only_for_unseen_versions_and_marks_them),
                         TEST(watch_several_sends_make_one_change_with_the_latest_value),
                         TEST(watch_has_changed_mark_seen_and_mark_changed),
                         TEST(watch_borrow_does_not_mark_seen_but_borrow_and_update_does),
                         TEST(watch_subscribe_has_seen_current_and_clone_copies_seen_version),
                         TEST(watch_send_without_receivers_fails_and_leaves_the_value),
                         TEST(watch_send_replace_stores_without_receivers_and_returns_the_old_value),
                         TEST(watch_send_replace_wakes_waiting_receivers),
                         TEST(watch_tx_drop_reports_an_unseen_value_first_then_epipe),
                         TEST(watch_tx_drop_wakes_pending_changed_with_epipe),
                         TEST(watch_tx_closed_completes_when_the_last_receiver_goes),
                         TEST(watch_cancelled_tx_closed_keeps_no_waker),
                         TEST(watch_tx_closed_task_is_woken_by_the_last_rx_drop),
                         TEST(watch_receiver_count_follows_subscribe_clone_and_drop),
                         TEST(watch_last_handle_frees_in_either_order),
                         TEST(watch_clone_and_drop_hooks_balance),
                         TEST(watch_drop_hook_runs_outside_the_lock),
                         TEST(watch_repoll_with_a_new_waker_wakes_the_new_one),
                         TEST(watch_send_wakes_every_waiting_receiver),
                         TEST(watch_cancelled_changed_leaves_no_waker_and_marks_nothing),
                         TEST(watch_rx_drop_while_parked_leaves_nothing),
                         TEST(watch_send_and_changed_do_not_allocate),
                         TEST(watch_waiting_tasks_are_woken_by_send),
                         TEST(watch_tx_drop_ends_waiting_tasks_after_the_last_value),
                         TEST(watch_aborted_waiting_task_leaves_no_waker),
                         TEST(watch_bad_arguments_are_rejected),
                         TEST(watch_zero_sized_values_still_count_versions),
                         TEST(watch_send_racing_with_abort_loses_nothing_and_leaks_nothing),
                         TEST(watch_send_racing_with_cancel_of_a_hand_polled_changed),
                         TEST(watch_tx_drop_racing_with_receiver_drops_frees_once),
                         TEST(watch_changed_ready_while_still_queued_is_harmless),
                         TEST(watch_threads_see_values_in_order_and_end_at_the_last),
                         {0},
                     });
}
