/*
 * tests/sync/test_mpsc_unbounded.c - the unbounded mpsc channel
 * (weft_mpsc_unbounded_new): growth, order across wraps and growths,
 * permits, close/drop, threads.
 */
#include <weft.h>

#include "sync_util.h"
#include "test.h"

#include <pthread.h>
#include <sched.h>

static void unbounded_new_rejects_bad_arguments(void) {
    weft_mpsc_tx *tx = (weft_mpsc_tx *)1;
    weft_mpsc_rx *rx = (weft_mpsc_rx *)1;
    CHECK_EQ(weft_mpsc_unbounded_new(&tx, &rx, SIZE_MAX - 3, NULL), -EINVAL);
    CHECK(tx == NULL && rx == NULL);
    CHECK_EQ(weft_mpsc_unbounded_new(&tx, &rx, SIZE_MAX / 8, NULL), -EINVAL);
    CHECK_EQ(weft_mpsc_unbounded_new(NULL, &rx, 8, NULL), -EINVAL);
    CHECK_EQ(weft_mpsc_unbounded_new(&tx, NULL, 8, NULL), -EINVAL);
}

/* try_send never says -EAGAIN; values come out in order. */
static void unbounded_try_send_never_waits(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_unbounded_new(&tx, &rx, sizeof(int), NULL), 0);
    CHECK_EQ(weft_mpsc_capacity(tx), SIZE_MAX);
    for (int i = 0; i < 10000; i++) CHECK_EQ(weft_mpsc_try_send(tx, &i), 0);
    CHECK_EQ(weft_mpsc_len(rx), 10000);
    CHECK_EQ(weft_mpsc_capacity(tx), SIZE_MAX);
    for (int i = 0; i < 10000; i++) {
        int v = -1;
        CHECK_EQ(weft_mpsc_try_recv(rx, &v), 0);
        CHECK_EQ(v, i);
    }
    int v;
    CHECK_EQ(weft_mpsc_try_recv(rx, &v), -EAGAIN);
    weft_mpsc_tx_drop(tx);
    CHECK_EQ(weft_mpsc_try_recv(rx, &v), -EPIPE);
    weft_mpsc_rx_drop(rx);
}

/* weft_mpsc_send completes on its first poll, however many are buffered. */
static void unbounded_send_completes_at_once(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_unbounded_new(&tx, &rx, sizeof(int), NULL), 0);
    cwaker w;
    cw_init(&w);
    weft_cx cx = weft_cx_manual(&w.base);
    weft_mpsc_send_op op = {0};
    for (int i = 0; i < 3000; i++) {
        int st = 1;
        CHECK_EQ(weft_mpsc_send(tx, &cx, &op, &i, &st), WEFT_READY);
        CHECK_EQ(st, 0);
    }
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(weft_mpsc_len(rx), 3000);
    for (int i = 0; i < 3000; i++) {
        int v = -1, st = 1;
        CHECK_EQ(weft_mpsc_recv(rx, &cx, &v, &st), WEFT_READY);
        CHECK_EQ(st, 0);
        CHECK_EQ(v, i);
    }
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

/*
 * Push and pop interleaved at random, so the ring wraps at every size and
 * grows while wrapped; the values come out in the order they went in.  A
 * permit taken early holds its slot across the growths; its value lands
 * where it is sent, not where it was reserved.
 */
static void unbounded_keeps_order_across_growths_and_wraps(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_unbounded_new(&tx, &rx, 24, NULL), 0); /* stride 24: not a copy.h size */
    uint64_t seed = 12345;
    long next_in = 0, next_out = 0;
    weft_mpsc_send_op op = {0};
    int holding = 0;
    for (int round = 0; round < 400; round++) {
        unsigned push = (unsigned)(test_rand(&seed) % 64);
        unsigned pop = (unsigned)(test_rand(&seed) % 56); /* drifts upward: grows */
        for (unsigned k = 0; k < push; k++) {
            long v[3] = {next_in, -next_in, next_in * 3};
            if (!holding && test_rand(&seed) % 16 == 0) {
                CHECK_EQ(weft_mpsc_try_reserve(tx, &op), 0);
                holding = 1;
            } else if (holding && test_rand(&seed) % 8 == 0) {
                CHECK_EQ(weft_mpsc_permit_send(tx, &op, v), 0);
                holding = 0;
                next_in++;
            } else {
                CHECK_EQ(weft_mpsc_try_send(tx, v), 0);
                next_in++;
            }
        }
        for (unsigned k = 0; k < pop; k++) {
            long v[3];
            int r = weft_mpsc_try_recv(rx, v);
            if (r == -EAGAIN) {
                CHECK_EQ(next_out, next_in);
                break;
            }
            CHECK_EQ(r, 0);
            CHECK_EQ(v[0], next_out);
            CHECK_EQ(v[1], -next_out);
            CHECK_EQ(v[2], next_out * 3);
            next_out++;
        }
        CHECK_EQ(weft_mpsc_len(rx), (size_t)(next_in - next_out));
    }
    CHECK(next_in - next_out > 1000); /* it did grow a lot */
    weft_mpsc_permit_release(tx, &op);
    weft_mpsc_tx_drop(tx);
    for (;;) {
        long v[3];
        int r = weft_mpsc_try_recv(rx, v);
        if (r == -EPIPE) break;
        CHECK_EQ(r, 0);
        CHECK_EQ(v[0], next_out);
        next_out++;
    }
    CHECK_EQ(next_out, next_in);
    weft_mpsc_rx_drop(rx);
}

/* Growth allocates about log2(n) times; steady state allocates nothing. */
static void unbounded_grows_by_doubling_and_reuses_its_buffer(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_unbounded_new(&tx, &rx, sizeof(int), NULL), 0);
    uint64_t a0 = weft_alloc_count();
    for (int i = 0; i < 4096; i++) CHECK_EQ(weft_mpsc_try_send(tx, &i), 0);
    uint64_t grew = weft_alloc_count() - a0;
    CHECK_EQ(grew, 8); /* 16 -> 32 -> ... -> 4096 */
    int v;
    for (int i = 0; i < 4096; i++) CHECK_EQ(weft_mpsc_try_recv(rx, &v), 0);
    /* never shrunk: refilling to the same size allocates nothing */
    a0 = weft_alloc_count();
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4096; i++) CHECK_EQ(weft_mpsc_try_send(tx, &i), 0);
        for (int i = 0; i < 4096; i++) {
            CHECK_EQ(weft_mpsc_try_recv(rx, &v), 0);
            CHECK_EQ(v, i);
        }
    }
    CHECK_EQ(weft_alloc_count() - a0, 0);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

static int drops;
static void free_drop(void *elem) {
    drops++;
    free(*(void **)elem);
}

/* Dropping the receiver drops what is buffered, also across a wrap. */
static void unbounded_rx_drop_drops_buffered_values(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_unbounded_new(&tx, &rx, sizeof(void *), free_drop), 0);
    drops = 0;
    for (int i = 0; i < 10; i++) {
        void *p = malloc(8);
        CHECK_EQ(weft_mpsc_try_send(tx, &p), 0);
    }
    for (int i = 0; i < 8; i++) {
        void *p = NULL;
        CHECK_EQ(weft_mpsc_try_recv(rx, &p), 0);
        free(p);
    }
    for (int i = 0; i < 100; i++) { /* wraps, then grows while wrapped */
        void *p = malloc(8);
        CHECK_EQ(weft_mpsc_try_send(tx, &p), 0);
    }
    weft_mpsc_send_op op = {0};
    CHECK_EQ(weft_mpsc_try_reserve(tx, &op), 0);
    weft_mpsc_rx_drop(rx);
    CHECK_EQ(drops, 102); /* ASan/valgrind: nothing leaked */
    void *p = malloc(8);
    CHECK_EQ(weft_mpsc_try_send(tx, &p), -EPIPE);
    CHECK_EQ(weft_mpsc_permit_send(tx, &op, &p), -EPIPE); /* not taken */
    free(p);
    CHECK_EQ(weft_mpsc_try_reserve(tx, &op), -EPIPE);
    CHECK(weft_mpsc_tx_is_closed(tx));
    weft_mpsc_tx_drop(tx);
}

/* rx_close: sends and reserves fail, permits still deliver, then -EPIPE. */
static void unbounded_rx_close_lets_permits_and_buffer_drain(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_unbounded_new(&tx, &rx, sizeof(int), NULL), 0);
    weft_mpsc_send_op a = {0}, b = {0};
    cwaker w;
    cw_init(&w);
    weft_cx cx = weft_cx_manual(&w.base);
    int v = 1, st = 0, out = 0;
    for (int i = 0; i < 40; i++) CHECK_EQ(weft_mpsc_try_send(tx, &i), 0);
    CHECK_EQ(weft_mpsc_reserve(tx, &cx, &a, &st), WEFT_READY); /* immediate */
    CHECK_EQ(st, 0);
    weft_mpsc_rx_close(rx);
    CHECK_EQ(weft_mpsc_try_send(tx, &v), -EPIPE);
    CHECK_EQ(weft_mpsc_send(tx, &cx, &b, &v, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    CHECK_EQ(weft_mpsc_reserve(tx, &cx, &b, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    for (int i = 0; i < 40; i++) {
        CHECK_EQ(weft_mpsc_try_recv(rx, &out), 0);
        CHECK_EQ(out, i);
    }
    CHECK_EQ(weft_mpsc_recv(rx, &cx, &out, &st), WEFT_PENDING); /* a may still send */
    v = 99;
    CHECK_EQ(weft_mpsc_permit_send(tx, &a, &v), 0);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(weft_mpsc_recv(rx, &cx, &out, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(out, 99);
    CHECK_EQ(weft_mpsc_recv(rx, &cx, &out, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

/* Zero-sized values: only the count moves. */
static void unbounded_zero_sized_values(void) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_unbounded_new(&tx, &rx, 0, NULL), 0);
    char dummy = 0;
    for (int i = 0; i < 100; i++) CHECK_EQ(weft_mpsc_try_send(tx, &dummy), 0);
    CHECK_EQ(weft_mpsc_len(rx), 100);
    for (int i = 0; i < 100; i++) CHECK_EQ(weft_mpsc_try_recv(rx, &dummy), 0);
    CHECK_EQ(weft_mpsc_try_recv(rx, &dummy), -EAGAIN);
    weft_mpsc_tx_drop(tx);
    weft_mpsc_rx_drop(rx);
}

/* ---- threads: producers with their own runtimes, one consumer ---------- */

#define THREADS 3
#define PER_THREAD 20000

typedef struct producer {
    weft_frame fr;
    weft_mpsc_tx *tx;
    int id, i, v, st, sent;
    weft_mpsc_send_op op;
} producer;

/* Sends id * PER_THREAD + i in order, by send, try_send and permit in turn. */
weft_async_fn(producer_poll, producer) {
    weft_async (self) {
        for (self->i = 0; self->i < PER_THREAD; self->i++) {
            self->v = self->id * PER_THREAD + self->i;
            if (self->i % 3 == 0) {
                weft_await(weft_mpsc_send(self->tx, cx, &self->op, &self->v, &self->st));
            } else if (self->i % 3 == 1) {
                self->st = weft_mpsc_try_send(self->tx, &self->v);
            } else {
                weft_await(weft_mpsc_reserve(self->tx, cx, &self->op, &self->st));
                if (self->st) break;
                if (self->i % 64 == 2) weft_yield(); /* others push meanwhile */
                self->st = weft_mpsc_permit_send(self->tx, &self->op, &self->v);
            }
            if (self->st) break;
            self->sent++;
        }
    weft_finally:
        weft_mpsc_permit_release(self->tx, &self->op);
        weft_mpsc_tx_drop(self->tx);
    }
    return WEFT_READY;
}

typedef struct consumer {
    weft_frame fr;
    weft_mpsc_rx *rx;
    int v, st, n, bad;
    int next[THREADS];
} consumer;

weft_async_fn(consumer_poll, consumer) {
    weft_async (self) {
        for (;;) {
            weft_await(weft_mpsc_recv(self->rx, cx, &self->v, &self->st));
            if (self->st) break;
            {
                int p = self->v / PER_THREAD;
                if (p < 0 || p >= THREADS || self->v % PER_THREAD != self->next[p])
                    self->bad++;
                else
                    self->next[p]++;
            }
            self->n++;
        }
    }
    return WEFT_READY;
}

typedef struct thread_arg {
    weft_mpsc_tx *tx;
    int id, rc, sent;
} thread_arg;

static void *producer_thread(void *p) {
    thread_arg *a = p;
    weft_rt *rt = new_rt();
    producer s = {.tx = a->tx, .id = a->id};
    a->rc = weft_block_on(rt, producer_poll, &s);
    a->sent = s.sent;
    weft_rt_free(rt);
    return NULL;
}

static void unbounded_producers_on_other_threads_deliver_in_order(void) {
    weft_rt *rt = new_rt();
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_unbounded_new(&tx, &rx, sizeof(int), NULL), 0);
    pthread_t th[THREADS];
    thread_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (thread_arg){.tx = weft_mpsc_tx_clone(tx), .id = i};
        pthread_create(&th[i], NULL, producer_thread, &args[i]);
    }
    weft_mpsc_tx_drop(tx);
    consumer c = {.rx = rx};
    CHECK_EQ(weft_block_on(rt, consumer_poll, &c), 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].rc, 0);
        CHECK_EQ(args[i].sent, PER_THREAD);
        CHECK_EQ(c.next[i], PER_THREAD);
    }
    CHECK_EQ(c.bad, 0);
    CHECK_EQ(c.n, THREADS * PER_THREAD);
    CHECK_EQ(c.st, -EPIPE);
    weft_mpsc_rx_drop(rx); /* lets go of the consumer's registered waker */
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

/* The receiver is dropped while producers push and grow: no leak, no race. */
static void *pusher_thread(void *p) {
    thread_arg *a = p;
    for (int i = 0; i < PER_THREAD; i++) {
        void *m = malloc(8);
        int r = weft_mpsc_try_send(a->tx, &m);
        if (r) {
            free(m);
            if (r != -EPIPE) a->rc = r;
            break;
        }
        a->sent++;
    }
    weft_mpsc_tx_drop(a->tx);
    return NULL;
}

static void unbounded_rx_drop_races_with_growing_producers(void) {
    uint64_t seed = 777;
    for (int round = 0; round < 8; round++) {
        weft_mpsc_tx *tx;
        weft_mpsc_rx *rx;
        CHECK_EQ(weft_mpsc_unbounded_new(&tx, &rx, sizeof(void *), free_drop), 0);
        drops = 0;
        pthread_t th[2];
        thread_arg args[2];
        for (int i = 0; i < 2; i++) {
            args[i] = (thread_arg){.tx = weft_mpsc_tx_clone(tx), .id = i};
            pthread_create(&th[i], NULL, pusher_thread, &args[i]);
        }
        weft_mpsc_tx_drop(tx);
        int got = 0;
        for (int i = 0; i < 1000 * round; i++) {
            void *m;
            if (weft_mpsc_try_recv(rx, &m) == 0) {
                free(m);
                got++;
            }
        }
        spin((unsigned)(test_rand(&seed) % 2000000));
        weft_mpsc_rx_drop(rx);
        int dropped = drops;
        for (int i = 0; i < 2; i++) {
            pthread_join(th[i], NULL);
            CHECK_EQ(args[i].rc, 0);
        }
        CHECK_EQ(got + dropped, args[0].sent + args[1].sent); /* each value freed once */
    }
}

/*
 * Several threads push into a fresh channel at the same moment while a third
 * pops, so two of them often find the ring full together and allocate: the
 * loser's buffer is discarded (or the ring changed: a pop made room) and it
 * tries again.  Per-pusher order and the count hold; ASan/valgrind see no
 * leak of a discarded buffer.
 */
typedef struct racer {
    weft_mpsc_tx *tx;
    atomic_int *go;
    int id, rc;
} racer;

#define RACE_N 300

static void *racer_thread(void *p) {
    racer *a = p;
    while (!atomic_load(a->go)) sched_yield(); /* no busy wait: valgrind runs one thread at a time */
    for (int i = 0; i < RACE_N; i++) {
        int v = a->id * RACE_N + i;
        int r = weft_mpsc_try_send(a->tx, &v);
        if (r) {
            a->rc = r;
            break;
        }
    }
    weft_mpsc_tx_drop(a->tx);
    return NULL;
}

static void unbounded_concurrent_growth_keeps_every_value(void) {
    uint64_t seed = 99;
    for (int round = 0; round < 150; round++) {
        weft_mpsc_tx *tx;
        weft_mpsc_rx *rx;
        CHECK_EQ(weft_mpsc_unbounded_new(&tx, &rx, sizeof(int), NULL), 0);
        atomic_int go;
        atomic_init(&go, 0);
        pthread_t th[2];
        racer args[2];
        for (int i = 0; i < 2; i++) {
            args[i] = (racer){.tx = weft_mpsc_tx_clone(tx), .go = &go, .id = i};
            pthread_create(&th[i], NULL, racer_thread, &args[i]);
        }
        weft_mpsc_tx_drop(tx);
        unsigned delay = (unsigned)(test_rand(&seed) % 3000);
        atomic_store(&go, 1);
        spin(delay);
        int next[2] = {0, 0}, n = 0, bad = 0;
        for (;;) {
            int v, r = weft_mpsc_try_recv(rx, &v);
            if (r == -EAGAIN) {
                sched_yield();
                continue;
            }
            if (r == -EPIPE) break;
            int p = v / RACE_N;
            if (p < 0 || p > 1 || v % RACE_N != next[p])
                bad++;
            else
                next[p]++;
            n++;
        }
        for (int i = 0; i < 2; i++) {
            pthread_join(th[i], NULL);
            CHECK_EQ(args[i].rc, 0);
        }
        CHECK_EQ(bad, 0);
        CHECK_EQ(n, 2 * RACE_N);
        weft_mpsc_rx_drop(rx);
    }
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(unbounded_new_rejects_bad_arguments),
                         TEST(unbounded_try_send_never_waits),
                         TEST(unbounded_send_completes_at_once),
                         TEST(unbounded_keeps_order_across_growths_and_wraps),
                         TEST(unbounded_grows_by_doubling_and_reuses_its_buffer),
                         TEST(unbounded_rx_drop_drops_buffered_values),
                         TEST(unbounded_rx_close_lets_permits_and_buffer_drain),
                         TEST(unbounded_zero_sized_values),
                         TEST(unbounded_producers_on_other_threads_deliver_in_order),
                         TEST(unbounded_rx_drop_races_with_growing_producers),
                         TEST(unbounded_concurrent_growth_keeps_every_value),
                         {0},
                     });
}
