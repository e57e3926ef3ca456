/*
 * tests/sync/test_mpsc.c - the bounded mpsc channel.
 */
#include <weft.h>

#include "test.h"

#include <pthread.h>

static weft_rt *new_rt(void) {
    weft_rt *rt = NULL;
    return weft_rt_new(&rt, NULL) == 0 ? rt : NULL;
}

static uint64_t held(weft_rt *rt) {
    weft_rt_stats st;
    weft_rt_stats_get(rt, &st);
    return st.tasks_held;
}

/* Sends [from, to) and records the status of the last send. */
typedef struct sender {
    weft_frame fr;
    weft_mpsc_tx *tx;
    int from, to, v;
    weft_mpsc_send_op op;
    int status, sent;
    int drop_tx; /* release tx when done */
} sender;

static weft_poll sender_poll(void *arg, weft_cx *cx) {
    sender *self = arg;
    weft_async (self) {
        for (self->v = self->from; self->v < self->to; self->v++) {
            weft_await(weft_mpsc_send(self->tx, cx, &self->op, &self->v, &self->status));
            if (self->status) break;
            self->sent++;
        }
    weft_finally:
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

static weft_poll receiver_poll(void *arg, weft_cx *cx) {
    receiver *self = arg;
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

static weft_poll full_test_poll(void *arg, weft_cx *cx) {
    full_test *self = arg;
    weft_async (self) {
        {
            sender *s = weft_task_new(cx->rt, sender, sender_poll);
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

static weft_poll fifo_test_poll(void *arg, weft_cx *cx) {
    fifo_test *self = arg;
    weft_async (self) {
        {
            int filler = 100;
            weft_mpsc_try_send(self->tx, &filler);
        }
        for (self->i = 0; self->i < 3; self->i++) {
            {
                sender *s = weft_task_new(cx->rt, sender, sender_poll);
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

static weft_poll close_test_poll(void *arg, weft_cx *cx) {
    close_test *self = arg;
    weft_async (self) {
        for (int i = 0; i < 2; i++) {
            sender *s = weft_task_new(cx->rt, sender, sender_poll); /* no await here */
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

static weft_poll rxclose_test_poll(void *arg, weft_cx *cx) {
    rxclose_test *self = arg;
    weft_async (self) {
        {
            sender *s = weft_task_new(cx->rt, sender, sender_poll);
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

static weft_poll abort_after_park_poll(void *arg, weft_cx *cx) {
    parked_test *self = arg;
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
    receiver *r = weft_task_new(rt, receiver, receiver_poll);
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
    sender *s = weft_task_new(rt, sender, sender_poll);
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

static weft_poll grant_test_poll(void *arg, weft_cx *cx) {
    grant_test *self = arg;
    weft_async (self) {
        {
            int filler = 1;
            weft_mpsc_try_send(self->tx, &filler);
            sender *s = weft_task_new(cx->rt, sender, sender_poll);
            s->tx = self->tx;
            s->from = 10;
            s->to = 11;
            self->a = weft_task_spawn(s);
            s = weft_task_new(cx->rt, sender, sender_poll);
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

/* ---- threads ------------------------------------------------------------ */

#define THREADS 3
#define PER_THREAD 20000

typedef struct thread_arg {
    weft_mpsc_tx *tx;
    int id;
    int rc;
} thread_arg;

static void *producer_thread(void *p) {
    thread_arg *a = p;
    weft_rt *rt = new_rt();
    sender s = {.tx = a->tx, .from = a->id * PER_THREAD, .to = (a->id + 1) * PER_THREAD,
                .drop_tx = 1};
    a->rc = weft_block_on(rt, sender_poll, &s);
    if (s.sent != PER_THREAD) a->rc = -1;
    weft_rt_free(rt);
    return NULL;
}

static void mpsc_producers_on_other_threads_deliver_everything(void) {
    weft_rt *rt = new_rt();
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 16, sizeof(int), NULL), 0);
    pthread_t th[THREADS];
    thread_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (thread_arg){.tx = weft_mpsc_tx_clone(tx), .id = i};
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
                         TEST(mpsc_producers_on_other_threads_deliver_everything),
                         {0},
                     });
}
