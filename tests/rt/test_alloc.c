/*
 * tests/rt/test_alloc.c - no heap allocation per await in steady state.
 *
 * weft_alloc_count() counts every request weft makes for memory
 * (scripts/lint.sh makes sure nothing in src/ bypasses the counter).  Each
 * test warms a workload up, then runs it again and checks the count did not
 * move.
 */
#include <weft.h>

#include "test.h"
#include "rt/flavour.h"

#include <sys/socket.h>
#include <unistd.h>

static weft_rt *new_rt(int paused) {
    weft_rt_config cfg = {.start_paused = paused};
    return test_rt_new(&cfg);
}

/* ---- ping-pong over two capacity-1 channels ------------------------------- */

typedef struct pinger {
    weft_frame fr;
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    weft_mpsc_send_op op;
    long i, n, v;
    int st, first;
} pinger;

weft_async_fn(pinger_poll, pinger) {
    weft_async (self) {
        for (self->i = 0; self->i < self->n; self->i++) {
            if (self->first) {
                self->v = self->i;
                weft_await(weft_mpsc_send(self->tx, cx, &self->op, &self->v, &self->st));
                weft_await(weft_mpsc_recv(self->rx, cx, &self->v, &self->st));
            } else {
                weft_await(weft_mpsc_recv(self->rx, cx, &self->v, &self->st));
                weft_await(weft_mpsc_send(self->tx, cx, &self->op, &self->v, &self->st));
            }
        }
    }
    return WEFT_READY;
}

typedef struct pingpong {
    weft_frame fr;
    weft_mpsc_tx *t1, *t2;
    weft_mpsc_rx *r1, *r2;
    weft_task *a, *b;
    long n;
    uint64_t before, after;
    int round;
} pingpong;

weft_async_fn(pingpong_poll, pingpong) {
    weft_async (self) {
        for (self->round = 0; self->round < 2; self->round++) {
            /* round 0 warms up; round 1 is measured (its spawns included:
             * the task heap reuses the slots of round 0) */
            if (self->round == 1) self->before = weft_alloc_count();
            {
                pinger *a;
                MUST(weft_task_new(&a, cx->rt, pinger_poll));
                *a = (pinger){.tx = self->t1, .rx = self->r2, .n = self->n, .first = 1};
                pinger *b;
                MUST(weft_task_new(&b, cx->rt, pinger_poll));
                *b = (pinger){.tx = self->t2, .rx = self->r1, .n = self->n};
                self->a = weft_task_spawn(a);
                self->b = weft_task_spawn(b);
            }
            weft_await(weft_join(self->a, cx, NULL));
            weft_await(weft_join(self->b, cx, NULL));
            weft_task_release(self->a);
            weft_task_release(self->b);
            if (self->round == 1) self->after = weft_alloc_count();
        }
    }
    return WEFT_READY;
}

static void pingpong_round_trips_allocate_nothing(void) {
    weft_rt *rt = new_rt(0);
    pingpong p = {.n = 100000};
    CHECK_EQ(weft_mpsc_new(&p.t1, &p.r1, 1, sizeof(long), NULL), 0);
    CHECK_EQ(weft_mpsc_new(&p.t2, &p.r2, 1, sizeof(long), NULL), 0);
    CHECK_EQ(weft_block_on(rt, pingpong_poll, &p), 0);
    CHECK(p.before > 0); /* the counter does count (runtime, channels) */
    CHECK_EQ(p.after - p.before, 0);
    weft_mpsc_tx_drop(p.t1);
    weft_mpsc_tx_drop(p.t2);
    weft_mpsc_rx_drop(p.r1);
    weft_mpsc_rx_drop(p.r2);
    weft_rt_free(rt);
}

/* ---- sleeping -------------------------------------------------------------- */

typedef struct sleeper {
    weft_frame fr;
    weft_sleep_op sl;
    int i;
    uint64_t before, after;
} sleeper;

weft_async_fn(sleeper_poll, sleeper) {
    weft_async (self) {
        for (self->i = 0; self->i < 20000; self->i++) {
            if (self->i == 10000) self->before = weft_alloc_count();
            weft_await(weft_sleep(&self->sl, cx, 1 + self->i % 300));
        }
        self->after = weft_alloc_count();
    }
    return WEFT_READY;
}

static void sleeps_allocate_nothing(void) {
    weft_rt *rt = new_rt(1); /* paused: auto-advance makes this instant */
    sleeper s = {0};
    CHECK_EQ(weft_block_on(rt, sleeper_poll, &s), 0);
    CHECK_EQ(s.after - s.before, 0);
    weft_rt_free(rt);
}

/* ---- spawning, once the task heap is warm ---------------------------------- */

typedef struct child {
    weft_frame fr;
    int v;
} child;

weft_async_fn(child_poll, child) {
    weft_async (self) {
        self->v++;
        weft_yield();
    }
    return WEFT_READY;
}

typedef struct spawner {
    weft_frame fr;
    weft_task *h[100];
    int round, i;
    uint64_t before, after;
} spawner;

weft_async_fn(spawner_poll, spawner) {
    weft_async (self) {
        for (self->round = 0; self->round < 200; self->round++) {
            if (self->round == 100) self->before = weft_alloc_count();
            for (self->i = 0; self->i < 100; self->i++) {
                child *c;
                MUST(weft_task_new(&c, cx->rt, child_poll));
                self->h[self->i] = weft_task_spawn(c);
            }
            for (self->i = 0; self->i < 100; self->i++) {
                weft_await(weft_join(self->h[self->i], cx, NULL));
                weft_task_release(self->h[self->i]);
            }
        }
        self->after = weft_alloc_count();
    }
    return WEFT_READY;
}

static void spawn_and_join_allocate_nothing_once_warm(void) {
    weft_rt *rt = new_rt(0);
    spawner s = {0};
    CHECK_EQ(weft_block_on(rt, spawner_poll, &s), 0);
    CHECK_EQ(s.after - s.before, 0);
    weft_rt_free(rt);
}

/* ---- socket reads and writes ----------------------------------------------- */

typedef struct echoer {
    weft_frame fr;
    weft_tcp *a, *b;
    char out[64], in[64];
    int n;
    weft_write_op wr;
    int wr_res; /* its result */
    int i;
    uint64_t before, after;
} echoer;

weft_async_fn(echoer_poll, echoer) {
    weft_async (self) {
        for (self->i = 0; self->i < 20000; self->i++) {
            if (self->i == 10000) self->before = weft_alloc_count();
            weft_await(weft_tcp_write_all(self->a, cx, &self->wr, self->out, sizeof self->out, &self->wr_res));
            weft_await(weft_tcp_read(self->b, cx, self->in, sizeof self->in, &self->n));
        }
        self->after = weft_alloc_count();
    }
    return WEFT_READY;
}

static void socket_round_trips_allocate_nothing(void) {
    weft_rt *rt = new_rt(0);
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    echoer e = {0};
    CHECK_EQ(weft_tcp_from_fd(&e.a, sv[0]), 0);
    CHECK_EQ(weft_tcp_from_fd(&e.b, sv[1]), 0);
    memset(e.out, 'x', sizeof e.out);
    CHECK_EQ(weft_block_on(rt, echoer_poll, &e), 0);
    CHECK_EQ(e.n, 64);
    CHECK_EQ(e.after - e.before, 0);
    weft_tcp_close(e.a);
    weft_tcp_close(e.b);
    weft_rt_free(rt);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(pingpong_round_trips_allocate_nothing),
                         TEST(sleeps_allocate_nothing),
                         TEST(spawn_and_join_allocate_nothing_once_warm),
                         TEST(socket_round_trips_allocate_nothing),
                         {0},
                     });
}
