/*
 * tests/sync/test_broadcast.c - the broadcast channel: every receiver sees
 * every value, lag, close, hooks, waking, cancellation, threads.
 */
#include <weft.h>
#include <weft/broadcast.h>

#include "payload.h"
#include "sync_util.h"
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>

typedef weft_broadcast_tx btx;
typedef weft_broadcast_rx brx;

static int send_u64(btx *tx, uint64_t v) { return weft_broadcast_send(tx, &v); }

/* Poll recv once by hand with waker w. */
static weft_poll poll_recv(brx *rx, cwaker *w, uint64_t *out, uint64_t *missed, int *res) {
    weft_cx cx = weft_cx_manual(&w->base);
    return weft_broadcast_recv(rx, &cx, out, missed, res);
}

static void cancel_recv(brx *rx) { (void)weft_broadcast_recv(rx, NULL, NULL, NULL, NULL); }

/* ---- frames ------------------------------------------------------------- */

/* Receives until a non-lag error (or max values), recording them. */
typedef struct rtask {
    weft_frame fr;
    brx *rx;
    int max, n, status, lags, drop_rx;
    uint64_t v, missed, missed_total;
    uint64_t *got;
} rtask;

weft_async_fn(rtask_poll, rtask) {
    weft_async (self) {
        while (self->n < self->max) {
            weft_await(weft_broadcast_recv(self->rx, cx, &self->v, &self->missed, &self->status));
            if (self->status == -EOVERFLOW) {
                self->lags++;
                self->missed_total += self->missed;
                continue;
            }
            if (self->status) break;
            if (self->got) self->got[self->n] = self->v;
            self->n++;
        }
    weft_finally:
        if (self->drop_rx) weft_broadcast_rx_drop(self->rx);
    }
    return WEFT_READY;
}

static weft_task *spawn_rtask(weft_rt *rt, brx *rx, int max, uint64_t *got) {
    rtask *r;
    if (weft_task_new(&r, rt, rtask_poll) != 0) return NULL;
    r->rx = rx;
    r->max = max;
    r->got = got;
    return weft_task_spawn(r);
}

static rtask *rtask_of(weft_task *t) { return weft_task_frame(t); }

/* ---- basics ------------------------------------------------------------- */

static void broadcast_delivers_values_in_order(void) {
    btx *tx;
    brx *rx;
    CHECK_EQ(weft_broadcast_new(&tx, &rx, 8, sizeof(uint64_t), NULL, NULL), 0);
    for (uint64_t i = 0; i < 5; i++) CHECK_EQ(send_u64(tx, i), 1);
    CHECK_EQ(weft_broadcast_len(rx), 5);
    for (uint64_t i = 0; i < 5; i++) {
        uint64_t v = 99;
        CHECK_EQ(weft_broadcast_try_recv(rx, &v, NULL), 0);
        CHECK_EQ(v, i);
        CHECK_EQ(weft_broadcast_len(rx), 4 - i);
    }
    uint64_t v = 99;
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, NULL), -EAGAIN);
    CHECK_EQ(v, 99);
    weft_broadcast_tx_drop(tx);
    weft_broadcast_rx_drop(rx);
}

static void broadcast_every_receiver_gets_every_value(void) {
    btx *tx;
    brx *rx[3];
    CHECK_EQ(weft_broadcast_new(&tx, &rx[0], 5, sizeof(uint64_t), NULL, NULL), 0);
    CHECK_EQ(weft_broadcast_subscribe(&rx[1], tx), 0);
    CHECK_EQ(weft_broadcast_rx_resubscribe(&rx[2], rx[0]), 0);
    CHECK(rx[1] && rx[2]);
    CHECK_EQ(weft_broadcast_receiver_count(tx), 3);
    /* 23 values through a ring of 5, read in steps so nobody lags */
    uint64_t next = 0, expect[3] = {0, 0, 0};
    for (int round = 0; round < 10; round++) {
        for (int k = 0; k < (round % 5) + 1 && next < 23; k++) CHECK_EQ(send_u64(tx, next++), 3);
        for (int r = 0; r < 3; r++) {
            uint64_t v;
            while (weft_broadcast_try_recv(rx[r], &v, NULL) == 0) {
                CHECK_EQ(v, expect[r]);
                expect[r]++;
            }
        }
    }
    for (int r = 0; r < 3; r++) CHECK_EQ(expect[r], 23);
    weft_broadcast_tx_drop(tx);
    for (int r = 0; r < 3; r++) {
        uint64_t v;
        CHECK_EQ(weft_broadcast_try_recv(rx[r], &v, NULL), -EPIPE);
        weft_broadcast_rx_drop(rx[r]);
    }
}

static void broadcast_multiple_senders_share_one_order(void) {
    btx *tx, *tx2;
    brx *a, *b;
    CHECK_EQ(weft_broadcast_new(&tx, &a, 16, sizeof(uint64_t), NULL, NULL), 0);
    CHECK_EQ(weft_broadcast_subscribe(&b, tx), 0);
    tx2 = weft_broadcast_tx_clone(tx);
    CHECK(tx2 == tx);
    for (uint64_t i = 0; i < 6; i++) CHECK_EQ(send_u64(i % 2 ? tx2 : tx, i), 2);
    weft_broadcast_tx_drop(tx);
    /* one sender left: not closed */
    for (uint64_t i = 0; i < 6; i++) {
        uint64_t va, vb;
        CHECK_EQ(weft_broadcast_try_recv(a, &va, NULL), 0);
        CHECK_EQ(weft_broadcast_try_recv(b, &vb, NULL), 0);
        CHECK_EQ(va, i);
        CHECK_EQ(vb, i);
    }
    uint64_t v;
    CHECK_EQ(weft_broadcast_try_recv(a, &v, NULL), -EAGAIN);
    CHECK_EQ(send_u64(tx2, 6), 2);
    weft_broadcast_tx_drop(tx2);
    CHECK_EQ(weft_broadcast_try_recv(a, &v, NULL), 0);
    CHECK_EQ(v, 6);
    CHECK_EQ(weft_broadcast_try_recv(a, &v, NULL), -EPIPE);
    CHECK_EQ(weft_broadcast_try_recv(b, &v, NULL), 0);
    CHECK_EQ(weft_broadcast_try_recv(b, &v, NULL), -EPIPE);
    weft_broadcast_rx_drop(a);
    weft_broadcast_rx_drop(b);
}

static void broadcast_subscribe_mid_stream_sees_only_later_values(void) {
    btx *tx;
    brx *a;
    CHECK_EQ(weft_broadcast_new(&tx, &a, 4, sizeof(uint64_t), NULL, NULL), 0);
    CHECK_EQ(send_u64(tx, 1), 1);
    CHECK_EQ(send_u64(tx, 2), 1);
    brx *b;
    CHECK_EQ(weft_broadcast_subscribe(&b, tx), 0);
    CHECK_EQ(weft_broadcast_len(b), 0);
    uint64_t v;
    CHECK_EQ(weft_broadcast_try_recv(b, &v, NULL), -EAGAIN);
    CHECK_EQ(send_u64(tx, 3), 2);
    /* resubscribe starts at the tail, not at a's position */
    brx *c;
    CHECK_EQ(weft_broadcast_rx_resubscribe(&c, a), 0);
    CHECK_EQ(weft_broadcast_len(a), 3);
    CHECK_EQ(weft_broadcast_len(c), 0);
    CHECK_EQ(send_u64(tx, 4), 3);
    CHECK_EQ(weft_broadcast_try_recv(b, &v, NULL), 0);
    CHECK_EQ(v, 3);
    CHECK_EQ(weft_broadcast_try_recv(b, &v, NULL), 0);
    CHECK_EQ(v, 4);
    CHECK_EQ(weft_broadcast_try_recv(c, &v, NULL), 0);
    CHECK_EQ(v, 4);
    CHECK_EQ(weft_broadcast_try_recv(c, &v, NULL), -EAGAIN);
    for (uint64_t i = 1; i <= 4; i++) {
        CHECK_EQ(weft_broadcast_try_recv(a, &v, NULL), 0);
        CHECK_EQ(v, i);
    }
    weft_broadcast_rx_drop(a);
    weft_broadcast_rx_drop(b);
    weft_broadcast_rx_drop(c);
    weft_broadcast_tx_drop(tx);
}

/* ---- hooks: a reference-counted payload ---------------------------------- */

static void broadcast_send_without_receivers_fails_and_keeps_value(void) {
    btx *tx;
    CHECK_EQ(weft_broadcast_new(&tx, NULL, 2, sizeof(payload *), payload_clone_hook, payload_drop_hook), 0);
    CHECK_EQ(weft_broadcast_receiver_count(tx), 0);
    payload *p = payload_new(7);
    CHECK_EQ(weft_broadcast_send(tx, &p), -EPIPE);
    CHECK_EQ(atomic_load(&drops), 0);   /* not taken: drop_elem never saw it */
    CHECK_EQ(atomic_load(&p->refs), 1); /* still ours */
    /* a receiver arrives: now it is taken */
    brx *rx;
    CHECK_EQ(weft_broadcast_subscribe(&rx, tx), 0);
    CHECK_EQ(weft_broadcast_send(tx, &p), 1);
    /* the receiver goes: sends fail again */
    weft_broadcast_rx_drop(rx);
    CHECK_EQ(weft_broadcast_receiver_count(tx), 0);
    payload *q = payload_new(8);
    CHECK_EQ(weft_broadcast_send(tx, &q), -EPIPE);
    CHECK_EQ(atomic_load(&drops), 0);
    payload_unref(q);
    weft_broadcast_tx_drop(tx); /* frees the channel: the retained p dropped */
    CHECK_EQ(atomic_load(&drops), 1);
    CHECK_EQ(atomic_load(&payloads_alive), 0);
}

static void broadcast_clone_and_drop_hooks_balance(void) {
    btx *tx;
    brx *rx[3];
    CHECK_EQ(weft_broadcast_new(&tx, &rx[0], 3, sizeof(payload *), payload_clone_hook, payload_drop_hook), 0);
    CHECK_EQ(weft_broadcast_subscribe(&rx[1], tx), 0);
    CHECK_EQ(weft_broadcast_subscribe(&rx[2], tx), 0);
    int received = 0;
    for (uint64_t i = 0; i < 20; i++) {
        payload *p = payload_new(i);
        CHECK_EQ(weft_broadcast_send(tx, &p), 3);
        /* rx0 reads everything, rx1 every 4th round (it lags), rx2 never */
        for (int r = 0; r < 2; r++) {
            if (r == 1 && i % 4 != 3) continue;
            payload *got;
            uint64_t missed;
            int st;
            while ((st = weft_broadcast_try_recv(rx[r], &got, &missed)) != -EAGAIN) {
                if (st == -EOVERFLOW) continue;
                CHECK_EQ(st, 0);
                received++;
                payload_unref(got);
            }
        }
    }
    /* 20 sends into a ring of 3: 17 overwritten */
    CHECK_EQ(atomic_load(&drops), 17);
    CHECK_EQ(atomic_load(&clones), received);
    CHECK_EQ(atomic_load(&payloads_alive), 3);
    weft_broadcast_rx_drop(rx[0]);
    weft_broadcast_tx_drop(tx);
    CHECK_EQ(atomic_load(&payloads_alive), 3); /* rx1, rx2 keep the channel */
    weft_broadcast_rx_drop(rx[1]);
    weft_broadcast_rx_drop(rx[2]);
    CHECK_EQ(atomic_load(&drops), 20);
    CHECK_EQ(atomic_load(&payloads_alive), 0);
}

/* ---- lag ------------------------------------------------------------------ */

static void broadcast_lagged_receiver_gets_overflow_once_then_oldest(void) {
    btx *tx;
    brx *rx;
    CHECK_EQ(weft_broadcast_new(&tx, &rx, 4, sizeof(uint64_t), NULL, NULL), 0);
    for (uint64_t i = 0; i < 10; i++) CHECK_EQ(send_u64(tx, i), 1);
    CHECK_EQ(weft_broadcast_len(rx), 4);
    uint64_t v = 99, missed = 0;
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, &missed), -EOVERFLOW);
    CHECK_EQ(missed, 6);
    CHECK_EQ(v, 99); /* untouched */
    CHECK_EQ(weft_broadcast_len(rx), 4);
    for (uint64_t i = 6; i < 10; i++) {
        CHECK_EQ(weft_broadcast_try_recv(rx, &v, &missed), 0);
        CHECK_EQ(v, i);
    }
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, &missed), -EAGAIN);
    /* lag again, now via recv, with missed == NULL allowed */
    for (uint64_t i = 10; i < 15; i++) CHECK_EQ(send_u64(tx, i), 1);
    cwaker w;
    cw_init(&w);
    int st = 1;
    CHECK_EQ(poll_recv(rx, &w, &v, NULL, &st), WEFT_READY);
    CHECK_EQ(st, -EOVERFLOW);
    CHECK_EQ(poll_recv(rx, &w, &v, &missed, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(v, 11);
    /* closed while lagging: the lag is reported, then the drain, -EPIPE */
    for (uint64_t i = 15; i < 20; i++) CHECK_EQ(send_u64(tx, i), 1);
    weft_broadcast_tx_drop(tx);
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, &missed), -EOVERFLOW);
    CHECK_EQ(missed, 4);
    for (uint64_t i = 16; i < 20; i++) {
        CHECK_EQ(weft_broadcast_try_recv(rx, &v, &missed), 0);
        CHECK_EQ(v, i);
    }
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, &missed), -EPIPE);
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, &missed), -EPIPE);
    weft_broadcast_rx_drop(rx);
    CHECK_EQ(atomic_load(&w.refs), 0);
}

/* Exact capacities that are not powers of two, many laps, random steps. */
static void broadcast_odd_capacities_wrap_and_lag_exactly(void) {
    uint64_t rng = 0x1234567u;
    for (size_t cap = 1; cap <= 7; cap++) {
        btx *tx;
        brx *rx;
        CHECK_EQ(weft_broadcast_new(&tx, &rx, cap, sizeof(uint64_t), NULL, NULL), 0);
        uint64_t sent = 0, expect = 0, got = 0, missed_total = 0;
        for (int step = 0; step < 300; step++) {
            unsigned k = (unsigned)(test_rand(&rng) % (2 * cap + 2));
            for (unsigned j = 0; j < k; j++) CHECK_EQ(send_u64(tx, sent++), 1);
            uint64_t lenbefore = weft_broadcast_len(rx);
            uint64_t behind = sent - expect;
            CHECK_EQ(lenbefore, behind > cap ? cap : behind);
            unsigned reads = (unsigned)(test_rand(&rng) % (cap + 2));
            for (unsigned j = 0; j < reads; j++) {
                uint64_t v, missed = 0;
                int st = weft_broadcast_try_recv(rx, &v, &missed);
                if (st == -EAGAIN) {
                    CHECK_EQ(expect, sent);
                    break;
                }
                if (st == -EOVERFLOW) {
                    CHECK(sent - expect > cap);
                    CHECK_EQ(missed, sent - cap - expect);
                    missed_total += missed;
                    expect = sent - cap;
                    continue;
                }
                CHECK_EQ(st, 0);
                CHECK_EQ(v, expect);
                expect++;
                got++;
            }
        }
        weft_broadcast_tx_drop(tx);
        for (;;) {
            uint64_t v, missed = 0;
            int st = weft_broadcast_try_recv(rx, &v, &missed);
            if (st == -EPIPE) break;
            if (st == -EOVERFLOW) {
                missed_total += missed;
                expect += missed;
                continue;
            }
            CHECK_EQ(st, 0);
            CHECK_EQ(v, expect);
            expect++;
            got++;
        }
        CHECK_EQ(got + missed_total, sent);
        weft_broadcast_rx_drop(rx);
    }
}

static void broadcast_capacity_one(void) {
    btx *tx;
    brx *rx;
    CHECK_EQ(weft_broadcast_new(&tx, &rx, 1, sizeof(uint64_t), NULL, NULL), 0);
    uint64_t v, missed;
    CHECK_EQ(send_u64(tx, 1), 1);
    CHECK_EQ(weft_broadcast_len(rx), 1);
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, &missed), 0);
    CHECK_EQ(v, 1);
    CHECK_EQ(send_u64(tx, 2), 1);
    CHECK_EQ(send_u64(tx, 3), 1);
    CHECK_EQ(weft_broadcast_len(rx), 1);
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, &missed), -EOVERFLOW);
    CHECK_EQ(missed, 1);
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, &missed), 0);
    CHECK_EQ(v, 3);
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, &missed), -EAGAIN);
    CHECK_EQ(send_u64(tx, 4), 1);
    weft_broadcast_tx_drop(tx);
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, &missed), 0);
    CHECK_EQ(v, 4);
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, &missed), -EPIPE);
    weft_broadcast_rx_drop(rx);
}

/* A value bigger than a word: copied whole. */
typedef struct big {
    uint64_t a, b, c;
    char s[13];
} big;

static void broadcast_copies_large_values(void) {
    btx *tx;
    brx *rx;
    CHECK_EQ(weft_broadcast_new(&tx, &rx, 3, sizeof(big), NULL, NULL), 0);
    for (uint64_t i = 0; i < 5; i++) {
        big b = {i, i * 2, i * 3, "hello, world"};
        CHECK_EQ(weft_broadcast_send(tx, &b), 1);
        big o;
        memset(&o, 0, sizeof o);
        CHECK_EQ(weft_broadcast_try_recv(rx, &o, NULL), 0);
        CHECK(o.a == b.a && o.b == b.b && o.c == b.c && strcmp(o.s, b.s) == 0);
    }
    weft_broadcast_tx_drop(tx);
    weft_broadcast_rx_drop(rx);
}

/* ---- close --------------------------------------------------------------- */

typedef struct close_test {
    weft_frame fr;
    btx *tx;
    brx *rx[2];
    weft_task *h[2];
    uint64_t got[2][8];
    int i, before;
} close_test;

weft_async_fn(close_test_poll, close_test) {
    weft_async (self) {
        for (int i = 0; i < 2; i++) self->h[i] = spawn_rtask(cx->rt, self->rx[i], 8, self->got[i]);
        weft_yield(); /* both park */
        self->before = weft_task_is_finished(self->h[0]) + weft_task_is_finished(self->h[1]);
        send_u64(self->tx, 10);
        send_u64(self->tx, 11);
        weft_broadcast_tx_drop(self->tx); /* they drain, then see -EPIPE */
        for (self->i = 0; self->i < 2; self->i++)
            weft_await(weft_join(self->h[self->i], cx, NULL));
    }
    return WEFT_READY;
}

static void broadcast_last_sender_dropped_receivers_drain_then_epipe(void) {
    weft_rt *rt = new_rt();
    close_test t = {0};
    CHECK_EQ(weft_broadcast_new(&t.tx, &t.rx[0], 4, sizeof(uint64_t), NULL, NULL), 0);
    CHECK_EQ(weft_broadcast_subscribe(&t.rx[1], t.tx), 0);
    CHECK_EQ(weft_block_on(rt, close_test_poll, &t), 0);
    CHECK_EQ(t.before, 0);
    for (int i = 0; i < 2; i++) {
        rtask *r = rtask_of(t.h[i]);
        CHECK_EQ(r->n, 2);
        CHECK_EQ(r->status, -EPIPE);
        CHECK_EQ(t.got[i][0], 10);
        CHECK_EQ(t.got[i][1], 11);
        weft_task_release(t.h[i]);
    }
    /* a receiver made after the close sees it at once */
    brx *late;
    CHECK_EQ(weft_broadcast_rx_resubscribe(&late, t.rx[0]), 0);
    uint64_t v;
    CHECK_EQ(weft_broadcast_try_recv(late, &v, NULL), -EPIPE);
    weft_broadcast_rx_drop(late);
    weft_broadcast_rx_drop(t.rx[0]);
    weft_broadcast_rx_drop(t.rx[1]);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

static void broadcast_tx_drop_wakes_waiters_by_hand(void) {
    enum { N = 70 }; /* more than a wake batch */
    btx *tx;
    CHECK_EQ(weft_broadcast_new(&tx, NULL, 2, sizeof(uint64_t), NULL, NULL), 0);
    static brx *rx[N];
    static cwaker w[N];
    for (int i = 0; i < N; i++) {
        cw_init(&w[i]);
        CHECK_EQ(weft_broadcast_subscribe(&rx[i], tx), 0);
        uint64_t v;
        int st;
        CHECK_EQ(poll_recv(rx[i], &w[i], &v, NULL, &st), WEFT_PENDING);
        CHECK_EQ(atomic_load(&w[i].refs), 1);
    }
    weft_broadcast_tx_drop(tx);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(atomic_load(&w[i].wakes), 1);
        CHECK_EQ(atomic_load(&w[i].refs), 0);
        uint64_t v;
        int st = 1;
        CHECK_EQ(poll_recv(rx[i], &w[i], &v, NULL, &st), WEFT_READY);
        CHECK_EQ(st, -EPIPE);
        weft_broadcast_rx_drop(rx[i]);
        CHECK_EQ(atomic_load(&w[i].refs), 0);
    }
}

static void broadcast_rx_drop_lowers_receiver_count(void) {
    btx *tx;
    brx *a;
    CHECK_EQ(weft_broadcast_new(&tx, &a, 2, sizeof(uint64_t), NULL, NULL), 0);
    brx *b;
    CHECK_EQ(weft_broadcast_subscribe(&b, tx), 0);
    CHECK_EQ(weft_broadcast_receiver_count(tx), 2);
    CHECK_EQ(send_u64(tx, 1), 2);
    weft_broadcast_rx_drop(a);
    CHECK_EQ(weft_broadcast_receiver_count(tx), 1);
    CHECK_EQ(send_u64(tx, 2), 1);
    weft_broadcast_rx_drop(b);
    CHECK_EQ(weft_broadcast_receiver_count(tx), 0);
    CHECK_EQ(send_u64(tx, 3), -EPIPE);
    weft_broadcast_tx_drop(tx);
}

/* ---- waking -------------------------------------------------------------- */

typedef struct wake_test {
    weft_frame fr;
    btx *tx;
    brx *rx;
    weft_task *h;
    int parked, sent_to;
} wake_test;

weft_async_fn(wake_test_poll, wake_test) {
    weft_async (self) {
        self->h = spawn_rtask(cx->rt, self->rx, 1, NULL);
        weft_yield();
        weft_yield();
        self->parked = !weft_task_is_finished(self->h);
        self->sent_to = send_u64(self->tx, 42);
        weft_await(weft_join(self->h, cx, NULL));
    }
    return WEFT_READY;
}

static void broadcast_waiting_task_is_woken_by_send(void) {
    weft_rt *rt = new_rt();
    wake_test t = {0};
    CHECK_EQ(weft_broadcast_new(&t.tx, &t.rx, 2, sizeof(uint64_t), NULL, NULL), 0);
    CHECK_EQ(weft_block_on(rt, wake_test_poll, &t), 0);
    CHECK_EQ(t.parked, 1);
    CHECK_EQ(t.sent_to, 1);
    rtask *r = rtask_of(t.h);
    CHECK_EQ(r->n, 1);
    CHECK_EQ(r->v, 42);
    weft_task_release(t.h);
    weft_broadcast_rx_drop(t.rx); /* releases the task's waker it kept */
    CHECK_EQ(held(rt), 0);
    weft_broadcast_tx_drop(t.tx);
    weft_rt_free(rt);
}

/* Many receiver tasks, one sender task: everybody gets everything. */
#define FAN 100
#define FAN_MSGS 300

typedef struct fan_test {
    weft_frame fr;
    btx *tx;
    brx *rx[FAN];
    weft_task *h[FAN];
    int i;
} fan_test;

weft_async_fn(fan_test_poll, fan_test) {
    weft_async (self) {
        for (int i = 0; i < FAN; i++) {
            self->h[i] = spawn_rtask(cx->rt, self->rx[i], FAN_MSGS + 1, NULL);
            rtask_of(self->h[i])->drop_rx = 1;
        }
        weft_yield();
        for (self->i = 0; self->i < FAN_MSGS; self->i++) {
            send_u64(self->tx, (uint64_t)self->i);
            weft_yield();
        }
        weft_broadcast_tx_drop(self->tx);
        for (self->i = 0; self->i < FAN; self->i++) weft_await(weft_join(self->h[self->i], cx, NULL));
    }
    return WEFT_READY;
}

static void broadcast_many_receiver_tasks_get_everything(void) {
    weft_rt *rt = new_rt();
    static fan_test t;
    memset(&t, 0, sizeof t);
    CHECK_EQ(weft_broadcast_new(&t.tx, &t.rx[0], 16, sizeof(uint64_t), NULL, NULL), 0);
    for (int i = 1; i < FAN; i++) CHECK_EQ(weft_broadcast_subscribe(&t.rx[i], t.tx), 0);
    CHECK_EQ(weft_block_on(rt, fan_test_poll, &t), 0);
    for (int i = 0; i < FAN; i++) {
        rtask *r = rtask_of(t.h[i]);
        CHECK_EQ(r->status, -EPIPE);
        CHECK_EQ(r->n + r->missed_total, FAN_MSGS);
        CHECK_EQ(r->lags, 0); /* the sender yields after every send */
        weft_task_release(t.h[i]);
    }
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

/* Non-task wakers, more than a batch: each woken once, taken out. */
static void broadcast_send_wakes_every_waiter_beyond_a_batch(void) {
    enum { N = 100 };
    btx *tx;
    CHECK_EQ(weft_broadcast_new(&tx, NULL, 2, sizeof(uint64_t), NULL, NULL), 0);
    static brx *rx[N];
    static cwaker w[N];
    uint64_t v;
    int st;
    for (int i = 0; i < N; i++) {
        cw_init(&w[i]);
        CHECK_EQ(weft_broadcast_subscribe(&rx[i], tx), 0);
        CHECK_EQ(poll_recv(rx[i], &w[i], &v, NULL, &st), WEFT_PENDING);
    }
    /* a spurious re-poll keeps the same registration */
    CHECK_EQ(poll_recv(rx[0], &w[0], &v, NULL, &st), WEFT_PENDING);
    CHECK_EQ(atomic_load(&w[0].refs), 1);
    CHECK_EQ(send_u64(tx, 5), N);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(atomic_load(&w[i].wakes), 1);
        CHECK_EQ(atomic_load(&w[i].refs), 0);
    }
    /* nobody waits now: a second send wakes nobody */
    CHECK_EQ(send_u64(tx, 6), N);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(atomic_load(&w[i].wakes), 1);
        st = 1;
        CHECK_EQ(poll_recv(rx[i], &w[i], &v, NULL, &st), WEFT_READY);
        CHECK_EQ(st, 0);
        CHECK_EQ(v, 5);
        CHECK_EQ(weft_broadcast_try_recv(rx[i], &v, NULL), 0);
        CHECK_EQ(v, 6);
        weft_broadcast_rx_drop(rx[i]);
        CHECK_EQ(atomic_load(&w[i].refs), 0);
    }
    weft_broadcast_tx_drop(tx);
}

/*
 * The batched wake lets go of the lock between batches.  Meanwhile (here:
 * from inside the first woken waker) a waiter still queued for a later
 * batch cancels, another is dropped, and a new receiver parks: the first
 * two must not be woken, the new one must not be woken by this send (it
 * waits for the next value), everybody else exactly once.
 */
enum { BW = 80 };
static brx *bw_rx[BW];
static cwaker bw_w[BW];
static brx *bw_new;
static cwaker bw_new_w;
static int bw_hook_ran;

static void bw_wake(weft_waker *w) {
    atomic_fetch_add(&((cwaker *)w)->wakes, 1);
    atomic_fetch_sub(&((cwaker *)w)->refs, 1);
    if (w == &bw_w[0].base && !bw_hook_ran) {
        bw_hook_ran = 1;
        cancel_recv(bw_rx[50]);
        weft_broadcast_rx_drop(bw_rx[60]);
        bw_rx[60] = NULL;
        MUST(weft_broadcast_rx_resubscribe(&bw_new, bw_rx[1]));
        uint64_t v;
        int st;
        (void)poll_recv(bw_new, &bw_new_w, &v, NULL, &st);
    }
}

static const weft_waker_vtable bw_vtable = {cw_clone, bw_wake, cw_wake_by_ref, cw_drop};

static void broadcast_waiters_leaving_during_a_batched_wake_are_skipped(void) {
    btx *tx;
    CHECK_EQ(weft_broadcast_new(&tx, NULL, 4, sizeof(uint64_t), NULL, NULL), 0);
    uint64_t v;
    int st;
    cw_init(&bw_new_w);
    for (int i = 0; i < BW; i++) {
        cw_init(&bw_w[i]);
        bw_w[i].base.vtable = &bw_vtable;
        CHECK_EQ(weft_broadcast_subscribe(&bw_rx[i], tx), 0);
        CHECK_EQ(poll_recv(bw_rx[i], &bw_w[i], &v, NULL, &st), WEFT_PENDING);
    }
    CHECK_EQ(send_u64(tx, 1), BW);
    CHECK_EQ(bw_hook_ran, 1);
    CHECK(bw_new != NULL);
    CHECK_EQ(atomic_load(&bw_new_w.refs), 1); /* parked, not woken */
    CHECK_EQ(atomic_load(&bw_new_w.wakes), 0);
    for (int i = 0; i < BW; i++) {
        CHECK_EQ(atomic_load(&bw_w[i].refs), 0);
        CHECK_EQ(atomic_load(&bw_w[i].wakes), i == 50 || i == 60 ? 0 : 1);
    }
    CHECK_EQ(send_u64(tx, 2), BW);
    CHECK_EQ(atomic_load(&bw_new_w.wakes), 1);
    CHECK_EQ(poll_recv(bw_new, &bw_new_w, &v, NULL, &st), WEFT_READY);
    CHECK_EQ(v, 2);
    weft_broadcast_rx_drop(bw_new);
    for (int i = 0; i < BW; i++) {
        if (!bw_rx[i]) continue;
        CHECK_EQ(weft_broadcast_try_recv(bw_rx[i], &v, NULL), 0);
        CHECK_EQ(v, 1);
        weft_broadcast_rx_drop(bw_rx[i]);
    }
    weft_broadcast_tx_drop(tx);
    CHECK_EQ(atomic_load(&bw_new_w.refs), 0);
}

static void broadcast_repoll_with_new_waker_wakes_the_new_one(void) {
    btx *tx;
    brx *rx;
    CHECK_EQ(weft_broadcast_new(&tx, &rx, 2, sizeof(uint64_t), NULL, NULL), 0);
    cwaker a, b;
    cw_init(&a);
    cw_init(&b);
    uint64_t v;
    int st;
    CHECK_EQ(poll_recv(rx, &a, &v, NULL, &st), WEFT_PENDING);
    CHECK_EQ(poll_recv(rx, &b, &v, NULL, &st), WEFT_PENDING);
    CHECK_EQ(atomic_load(&a.refs), 0);
    CHECK_EQ(atomic_load(&b.refs), 1);
    CHECK_EQ(send_u64(tx, 1), 1);
    CHECK_EQ(atomic_load(&a.wakes), 0);
    CHECK_EQ(atomic_load(&b.wakes), 1);
    CHECK_EQ(atomic_load(&b.refs), 0);
    CHECK_EQ(poll_recv(rx, &b, &v, NULL, &st), WEFT_READY);
    CHECK_EQ(v, 1);
    weft_broadcast_tx_drop(tx);
    weft_broadcast_rx_drop(rx);
}

/* Steady state allocates nothing: sends, receives, parks, wakes. */
static void broadcast_send_and_recv_do_not_allocate(void) {
    btx *tx;
    brx *a, *b;
    CHECK_EQ(weft_broadcast_new(&tx, &a, 4, sizeof(uint64_t), NULL, NULL), 0);
    CHECK_EQ(weft_broadcast_subscribe(&b, tx), 0);
    cwaker w;
    cw_init(&w);
    uint64_t before = weft_alloc_count();
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t v;
        int st;
        CHECK_EQ(poll_recv(a, &w, &v, NULL, &st), WEFT_PENDING);
        CHECK_EQ(send_u64(tx, i), 2);
        CHECK_EQ(poll_recv(a, &w, &v, NULL, &st), WEFT_READY);
        CHECK_EQ(v, i);
        if (i % 3 == 0) {
            while (weft_broadcast_try_recv(b, &v, NULL) != -EAGAIN) {
            }
        }
    }
    CHECK_EQ(weft_alloc_count(), before);
    weft_broadcast_tx_drop(tx);
    weft_broadcast_rx_drop(a);
    weft_broadcast_rx_drop(b);
    CHECK_EQ(atomic_load(&w.refs), 0);
}

/* ---- cancellation ------------------------------------------------------- */

static void broadcast_cancelled_recv_leaves_no_waker_and_takes_nothing(void) {
    btx *tx;
    brx *rx;
    CHECK_EQ(weft_broadcast_new(&tx, &rx, 2, sizeof(uint64_t), NULL, NULL), 0);
    cwaker w;
    cw_init(&w);
    uint64_t v = 0;
    int st;
    CHECK_EQ(poll_recv(rx, &w, &v, NULL, &st), WEFT_PENDING);
    CHECK_EQ(atomic_load(&w.refs), 1);
    cancel_recv(rx);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(send_u64(tx, 9), 1);
    CHECK_EQ(atomic_load(&w.wakes), 0); /* no ghost registration */
    CHECK_EQ(poll_recv(rx, &w, &v, NULL, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(v, 9);
    /* cancelled after the wake but before the re-poll: the value stays */
    CHECK_EQ(poll_recv(rx, &w, &v, NULL, &st), WEFT_PENDING);
    CHECK_EQ(send_u64(tx, 10), 1);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    cancel_recv(rx);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, NULL), 0);
    CHECK_EQ(v, 10);
    /* cancelling a recv that is not waiting is harmless */
    cancel_recv(rx);
    weft_broadcast_tx_drop(tx);
    weft_broadcast_rx_drop(rx);
}

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

static void broadcast_aborted_waiting_task_leaves_no_waker(void) {
    weft_rt *rt = new_rt();
    btx *tx;
    brx *rx;
    CHECK_EQ(weft_broadcast_new(&tx, &rx, 2, sizeof(uint64_t), NULL, NULL), 0);
    abort_test t = {.h = spawn_rtask(rt, rx, 1, NULL)};
    CHECK_EQ(weft_block_on(rt, abort_after_park_poll, &t), 0);
    CHECK_EQ(t.status, -ECANCELED);
    CHECK_EQ(held(rt), 0); /* the channel no longer holds the task */
    CHECK_EQ(send_u64(tx, 3), 1);
    uint64_t v;
    CHECK_EQ(weft_broadcast_try_recv(rx, &v, NULL), 0);
    CHECK_EQ(v, 3);
    weft_broadcast_tx_drop(tx);
    weft_broadcast_rx_drop(rx);
    weft_rt_free(rt);
}

/*
 * The race, with tasks: A and B wait on receivers of their own; a thread
 * sends while the runtime aborts A at a random moment.  Every interleaving
 * must give: the value is received on A's receiver exactly once (by A, or
 * by a recv after the abort - a cancelled recv takes nothing); B gets it
 * (no lost wake-up; a lost one hangs the join); no task memory is left.
 */
#define RACE_ITERS 1000

typedef struct race_shared {
    btx *tx;
    sem_t go, done;
    unsigned spin;
    int stop;
    uint64_t value;
} race_shared;

static void *race_sender(void *p) {
    race_shared *s = p;
    for (;;) {
        sem_wait(&s->go);
        if (s->stop) return NULL;
        spin(s->spin);
        send_u64(s->tx, s->value);
        sem_post(&s->done);
    }
}

typedef struct race_test {
    weft_frame fr;
    race_shared *s;
    brx *ra, *rb;
    weft_task *a, *b;
    uint64_t rng;
    int i, k, yields, late;
    int lost, doubled, leaks, wrong, a_won;
} race_test;

weft_async_fn(race_test_poll, race_test) {
    weft_async (self) {
        for (self->i = 0; self->i < RACE_ITERS; self->i++) {
            {
                uint64_t x = test_rand(&self->rng);
                self->late = (int)((x >> 1) % 3) == 0;
                self->yields = (int)((x >> 8) % 8);
                self->s->spin = (unsigned)((x >> 16) % 2000);
                self->s->value = (uint64_t)self->i;
                MUST(weft_broadcast_subscribe(&self->ra, self->s->tx));
                MUST(weft_broadcast_subscribe(&self->rb, self->s->tx));
                self->a = spawn_rtask(cx->rt, self->ra, 1, NULL);
                self->b = spawn_rtask(cx->rt, self->rb, 1, NULL);
            }
            weft_yield(); /* they park */
            sem_post(&self->s->go);
            if (self->late) sem_wait(&self->s->done); /* the send is over */
            for (self->k = 0; self->k < self->yields; self->k++) weft_yield();
            spin((unsigned)(test_rand(&self->rng) % 2000));
            weft_task_abort(self->a);
            weft_await(weft_join(self->a, cx, NULL));
            if (!self->late) sem_wait(&self->s->done);
            weft_await(weft_join(self->b, cx, NULL));
            {
                rtask *ra = rtask_of(self->a), *rb = rtask_of(self->b);
                uint64_t v = 0;
                int st = weft_broadcast_try_recv(self->ra, &v, NULL);
                int n = ra->n + (st == 0);
                if (n == 0) self->lost++;
                if (n > 1) self->doubled++;
                if ((ra->n && ra->v != (uint64_t)self->i) || (st == 0 && v != (uint64_t)self->i))
                    self->wrong++;
                if (rb->n != 1 || rb->v != (uint64_t)self->i) self->lost++;
                self->a_won += ra->n;
                weft_task_release(self->a);
                weft_task_release(self->b);
                weft_broadcast_rx_drop(self->ra);
                weft_broadcast_rx_drop(self->rb);
            }
            if (held(cx->rt) != 1) self->leaks++; /* only the block_on root */
        }
    }
    return WEFT_READY;
}

static void broadcast_send_racing_with_abort_loses_and_doubles_nothing(void) {
    weft_rt *rt = new_rt();
    race_shared *s = calloc(1, sizeof *s);
    CHECK(rt && s);
    CHECK_EQ(weft_broadcast_new(&s->tx, NULL, 4, sizeof(uint64_t), NULL, NULL), 0);
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
    CHECK_EQ(t.lost, 0);
    CHECK_EQ(t.doubled, 0);
    CHECK_EQ(t.wrong, 0);
    CHECK_EQ(t.leaks, 0);
    CHECK_EQ(held(rt), 0);
    weft_broadcast_tx_drop(s->tx);
    sem_destroy(&s->go);
    sem_destroy(&s->done);
    free(s);
    weft_rt_free(rt);
}

/*
 * The race, by hand with a counting waker (the waker is taken out under the
 * lock and woken after it): a thread sends while this thread cancels (or,
 * in some iterations, waits and re-polls).  Always: the waker's references
 * come back to 0, it is woken at most once - exactly once when the recv was
 * not cancelled - and the value is received exactly once.
 */
#define RACE2_ITERS 2000

static void broadcast_send_racing_with_cancel_by_hand(void) {
    race_shared *s = calloc(1, sizeof *s);
    CHECK(s);
    CHECK_EQ(weft_broadcast_new(&s->tx, NULL, 4, sizeof(uint64_t), NULL, NULL), 0);
    sem_init(&s->go, 0, 0);
    sem_init(&s->done, 0, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, race_sender, s), 0);
    uint64_t rng = 0x2545f4914f6cdd1dull;
    int bad = 0;
    for (int i = 0; i < RACE2_ITERS && !bad; i++) {
        uint64_t x = test_rand(&rng);
        int cancel = (int)(x & 1);
        s->spin = (unsigned)((x >> 8) % 2000);
        s->value = (uint64_t)i;
        brx *rx;
        if (weft_broadcast_subscribe(&rx, s->tx) != 0) {
            bad = 8;
            break;
        }
        cwaker w;
        cw_init(&w);
        uint64_t v = 0;
        int st = 1, got = 0;
        if (poll_recv(rx, &w, &v, NULL, &st) != WEFT_PENDING) bad = 1;
        sem_post(&s->go);
        spin((unsigned)((x >> 24) % 2000));
        if (cancel) {
            cancel_recv(rx);
            sem_wait(&s->done);
            if (atomic_load(&w.wakes) > 1) bad = 2;
        } else {
            sem_wait(&s->done);
            if (atomic_load(&w.wakes) != 1) bad = 3; /* a lost wake-up */
            if (poll_recv(rx, &w, &v, NULL, &st) != WEFT_READY || st != 0) bad = 4;
            got++;
        }
        if (cancel) {
            if (weft_broadcast_try_recv(rx, &v, NULL) == 0) got++;
        } else if (weft_broadcast_try_recv(rx, &v, NULL) != -EAGAIN) {
            bad = 5;
        }
        if (got != 1 || v != (uint64_t)i) bad = 6;
        weft_broadcast_rx_drop(rx);
        if (atomic_load(&w.refs) != 0) bad = 7;
    }
    s->stop = 1;
    sem_post(&s->go);
    pthread_join(th, NULL);
    CHECK_EQ(bad, 0);
    weft_broadcast_tx_drop(s->tx);
    sem_destroy(&s->go);
    sem_destroy(&s->done);
    free(s);
}

/* ---- threads ------------------------------------------------------------ */

#define STRESS_SENDERS 3
#define STRESS_RECEIVERS 3
#define STRESS_PER_SENDER 10000

/*
 * Pacing, so that the threads interleave rather than the senders finishing
 * first: a sender sends only while the values in flight (sent minus the
 * slowest receiver's received + missed) are within a window that alternates
 * between less than the capacity (receivers mostly find the ring empty and
 * park) and several times it (receivers lag).
 */
static _Atomic int64_t stress_sent;
static _Atomic int64_t stress_progress[STRESS_RECEIVERS];

static void stress_pace(uint64_t i) {
    int64_t window = (i / 300) % 2 ? 3 : 20;
    for (;;) {
        int64_t low = INT64_MAX;
        for (int r = 0; r < STRESS_RECEIVERS; r++) {
            int64_t p = atomic_load(&stress_progress[r]);
            if (p < low) low = p;
        }
        if (atomic_load(&stress_sent) - low <= window) break;
        sched_yield();
    }
    atomic_fetch_add(&stress_sent, 1);
}

typedef struct stask {
    weft_frame fr;
    btx *tx;
    uint64_t id, i;
    int failed;
} stask;

weft_async_fn(stask_poll, stask) {
    weft_async (self) {
        for (self->i = 0; self->i < STRESS_PER_SENDER; self->i++) {
            stress_pace(self->i);
            if (send_u64(self->tx, self->id << 32 | self->i) < 1) self->failed++;
            if (self->i % 64 == 63) weft_yield();
        }
    weft_finally:
        weft_broadcast_tx_drop(self->tx);
    }
    return WEFT_READY;
}

typedef struct qtask {
    weft_frame fr;
    brx *rx;
    uint64_t v, missed, received, missed_total, lags, parks;
    int64_t last[STRESS_SENDERS];
    int status, disorder, index;
} qtask;

static weft_poll qtask_recv(qtask *self, weft_cx *cx) {
    weft_poll p = weft_broadcast_recv(self->rx, cx, &self->v, &self->missed, &self->status);
    if (cx && p == WEFT_PENDING) self->parks++;
    return p;
}

weft_async_fn(qtask_poll, qtask) {
    weft_async (self) {
        for (int i = 0; i < STRESS_SENDERS; i++) self->last[i] = -1;
        for (;;) {
            weft_await(qtask_recv(self, cx));
            if (self->status == -EOVERFLOW) {
                self->lags++;
                self->missed_total += self->missed;
                atomic_fetch_add(&stress_progress[self->index], (int64_t)self->missed);
                continue;
            }
            if (self->status) break;
            atomic_fetch_add(&stress_progress[self->index], 1);
            {
                uint64_t id = self->v >> 32;
                int64_t seq = (int64_t)(self->v & 0xffffffffu);
                if (id >= STRESS_SENDERS || seq <= self->last[id])
                    self->disorder++;
                else
                    self->last[id] = seq;
            }
            self->received++;
        }
    weft_finally:
        weft_broadcast_rx_drop(self->rx);
    }
    return WEFT_READY;
}

typedef struct thread_arg {
    btx *tx;
    brx *rx;
    uint64_t id;
    int rc;
    qtask q;
    int failed;
} thread_arg;

static void *sender_thread(void *p) {
    thread_arg *a = p;
    weft_rt *rt = new_rt();
    stask s = {.tx = a->tx, .id = a->id};
    a->rc = weft_block_on(rt, stask_poll, &s);
    a->failed = s.failed;
    weft_rt_free(rt);
    return NULL;
}

static void *receiver_thread(void *p) {
    thread_arg *a = p;
    weft_rt *rt = new_rt();
    a->q = (qtask){.rx = a->rx, .index = (int)a->id};
    a->rc = weft_block_on(rt, qtask_poll, &a->q);
    weft_rt_free(rt);
    return NULL;
}

static void broadcast_threads_stress(void) {
    btx *tx;
    brx *rx0;
    /* a small ring (not a power of two) so receivers both park and lag */
    CHECK_EQ(weft_broadcast_new(&tx, &rx0, 6, sizeof(uint64_t), NULL, NULL), 0);
    thread_arg s[STRESS_SENDERS], r[STRESS_RECEIVERS];
    pthread_t ts[STRESS_SENDERS], tr[STRESS_RECEIVERS];
    for (int i = 0; i < STRESS_RECEIVERS; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].rx = rx0;
        if (i > 0) CHECK_EQ(weft_broadcast_subscribe(&r[i].rx, tx), 0);
        r[i].id = (uint64_t)i;
        CHECK(r[i].rx);
    }
    for (int i = 0; i < STRESS_RECEIVERS; i++)
        CHECK_EQ(pthread_create(&tr[i], NULL, receiver_thread, &r[i]), 0);
    for (int i = 0; i < STRESS_SENDERS; i++) {
        s[i] = (thread_arg){.tx = weft_broadcast_tx_clone(tx), .id = (uint64_t)i};
        CHECK_EQ(pthread_create(&ts[i], NULL, sender_thread, &s[i]), 0);
    }
    weft_broadcast_tx_drop(tx);
    for (int i = 0; i < STRESS_SENDERS; i++) {
        pthread_join(ts[i], NULL);
        CHECK_EQ(s[i].rc, 0);
        CHECK_EQ(s[i].failed, 0);
    }
    for (int i = 0; i < STRESS_RECEIVERS; i++) {
        pthread_join(tr[i], NULL);
        CHECK_EQ(r[i].rc, 0);
        CHECK_EQ(r[i].q.status, -EPIPE);
        CHECK_EQ(r[i].q.disorder, 0);
        CHECK_EQ(r[i].q.received + r[i].q.missed_total,
                 (uint64_t)STRESS_SENDERS * STRESS_PER_SENDER);
    }
}

/*
 * Hooks across threads: senders hand reference-counted payloads to the
 * channel (overwrites drop them on the sender's thread) while receivers on
 * other threads clone them (under the lock) and release their copies
 * (outside it).  Everything is freed exactly once at the end.
 */
#define HOOK_PER_SENDER 5000

typedef struct hook_arg {
    btx *tx;
    brx *rx;
    uint64_t id, received, missed;
    int bad;
} hook_arg;

static void *hook_sender(void *p) {
    hook_arg *a = p;
    for (uint64_t i = 0; i < HOOK_PER_SENDER; i++) {
        payload *q = payload_new(a->id << 32 | i);
        if (weft_broadcast_send(a->tx, &q) < 1) {
            a->bad++;
            payload_unref(q);
        }
        if (i % 16 == 15) sched_yield();
    }
    weft_broadcast_tx_drop(a->tx);
    return NULL;
}

static void *hook_receiver(void *p) {
    hook_arg *a = p;
    int64_t last[2] = {-1, -1};
    for (;;) {
        payload *q;
        uint64_t missed = 0;
        int st = weft_broadcast_try_recv(a->rx, &q, &missed);
        if (st == -EAGAIN) {
            sched_yield();
            continue;
        }
        if (st == -EOVERFLOW) {
            a->missed += missed;
            continue;
        }
        if (st == -EPIPE) break;
        uint64_t id = q->v >> 32;
        int64_t seq = (int64_t)(q->v & 0xffffffffu);
        if (id > 1 || seq <= last[id]) a->bad++;
        else last[id] = seq;
        a->received++;
        payload_unref(q);
    }
    weft_broadcast_rx_drop(a->rx);
    return NULL;
}

static void broadcast_hooks_balance_across_threads(void) {
    btx *tx;
    brx *rx0;
    CHECK_EQ(weft_broadcast_new(&tx, &rx0, 5, sizeof(payload *), payload_clone_hook, payload_drop_hook), 0);
    hook_arg s[2], r[2];
    pthread_t ts[2], tr[2];
    for (int i = 0; i < 2; i++) {
        r[i] = (hook_arg){.rx = rx0};
        if (i > 0) CHECK_EQ(weft_broadcast_subscribe(&r[i].rx, tx), 0);
        CHECK_EQ(pthread_create(&tr[i], NULL, hook_receiver, &r[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        s[i] = (hook_arg){.tx = weft_broadcast_tx_clone(tx), .id = (uint64_t)i};
        CHECK_EQ(pthread_create(&ts[i], NULL, hook_sender, &s[i]), 0);
    }
    weft_broadcast_tx_drop(tx);
    for (int i = 0; i < 2; i++) pthread_join(ts[i], NULL);
    for (int i = 0; i < 2; i++) pthread_join(tr[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(s[i].bad, 0);
        CHECK_EQ(r[i].bad, 0);
        CHECK_EQ(r[i].received + r[i].missed, 2 * HOOK_PER_SENDER);
    }
    /* the channel is gone: every payload was dropped by it exactly once */
    CHECK_EQ(atomic_load(&drops), 2 * HOOK_PER_SENDER);
    CHECK_EQ(atomic_load(&clones), (int)(r[0].received + r[1].received));
    CHECK_EQ(atomic_load(&payloads_alive), 0);
}

/* ---- bad arguments ------------------------------------------------------ */

static void broadcast_rejects_bad_arguments(void) {
    btx *tx = (btx *)1;
    brx *rx = (brx *)1;
    CHECK_EQ(weft_broadcast_new(&tx, &rx, 0, 8, NULL, NULL), -EINVAL);
    CHECK(tx == NULL && rx == NULL);
    CHECK_EQ(weft_broadcast_new(NULL, &rx, 1, 8, NULL, NULL), -EINVAL);
    CHECK_EQ(weft_broadcast_new(&tx, &rx, SIZE_MAX / 2, 8, NULL, NULL), -EINVAL);
    CHECK_EQ(weft_broadcast_new(&tx, &rx, 4, SIZE_MAX - 3, NULL, NULL), -EINVAL);
    CHECK(tx == NULL && rx == NULL);
    CHECK_EQ(weft_broadcast_new(&tx, &rx, 4, sizeof(uint64_t), NULL, NULL), 0);
    CHECK_EQ(weft_broadcast_send(NULL, &tx), -EINVAL);
    CHECK_EQ(weft_broadcast_send(tx, NULL), -EINVAL);
    CHECK_EQ(weft_broadcast_try_recv(NULL, &tx, NULL), -EINVAL);
    CHECK_EQ(weft_broadcast_try_recv(rx, NULL, NULL), -EINVAL);
    brx *none = (brx *)1;
    CHECK_EQ(weft_broadcast_subscribe(&none, NULL), -EINVAL);
    CHECK(none == NULL);
    none = (brx *)1;
    CHECK_EQ(weft_broadcast_rx_resubscribe(&none, NULL), -EINVAL);
    CHECK(none == NULL);
    cwaker w;
    cw_init(&w);
    weft_cx cx = weft_cx_manual(&w.base);
    int st = 0;
    CHECK_EQ(weft_broadcast_recv(rx, &cx, NULL, NULL, &st), WEFT_READY);
    CHECK_EQ(st, -EINVAL);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_broadcast_tx_drop(NULL);
    weft_broadcast_rx_drop(NULL);
    weft_broadcast_tx_drop(tx);
    weft_broadcast_rx_drop(rx);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(broadcast_delivers_values_in_order),
                         TEST(broadcast_every_receiver_gets_every_value),
                         TEST(broadcast_multiple_senders_share_one_order),
                         TEST(broadcast_subscribe_mid_stream_sees_only_later_values),
                         TEST(broadcast_send_without_receivers_fails_and_keeps_value),
                         TEST(broadcast_clone_and_drop_hooks_balance),
                         TEST(broadcast_lagged_receiver_gets_overflow_once_then_oldest),
                         TEST(broadcast_odd_capacities_wrap_and_lag_exactly),
                         TEST(broadcast_capacity_one),
                         TEST(broadcast_copies_large_values),
                         TEST(broadcast_last_sender_dropped_receivers_drain_then_epipe),
                         TEST(broadcast_tx_drop_wakes_waiters_by_hand),
                         TEST(broadcast_rx_drop_lowers_receiver_count),
                         TEST(broadcast_waiting_task_is_woken_by_send),
                         TEST(broadcast_many_receiver_tasks_get_everything),
                         TEST(broadcast_send_wakes_every_waiter_beyond_a_batch),
                         TEST(broadcast_waiters_leaving_during_a_batched_wake_are_skipped),
                         TEST(broadcast_repoll_with_new_waker_wakes_the_new_one),
                         TEST(broadcast_send_and_recv_do_not_allocate),
                         TEST(broadcast_cancelled_recv_leaves_no_waker_and_takes_nothing),
                         TEST(broadcast_aborted_waiting_task_leaves_no_waker),
                         TEST(broadcast_send_racing_with_abort_loses_and_doubles_nothing),
                         TEST(broadcast_send_racing_with_cancel_by_hand),
                         TEST(broadcast_threads_stress),
                         TEST(broadcast_hooks_balance_across_threads),
                         TEST(broadcast_rejects_bad_arguments),
                         {0},
                     });
}
