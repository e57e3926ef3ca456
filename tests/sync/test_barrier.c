/*
 * tests/sync/test_barrier.c - Barrier: generations, the leader, reuse,
 * cancellation withdrawing an arrival, threads.
 */
#include <weft.h>
#include <weft/barrier.h>

#include "sync_util.h"
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

/* Poll op by hand with waker w. */
static weft_poll poll_op(weft_barrier *b, cwaker *w, weft_barrier_wait_op *op, int *leader) {
    weft_cx cx = weft_cx_manual(&w->base);
    return weft_barrier_wait(b, &cx, op, leader);
}

static void cancel_op(weft_barrier *b, weft_barrier_wait_op *op) {
    (void)weft_barrier_wait(b, NULL, op, NULL);
}

/* ---- frames ------------------------------------------------------------- */

/* Waits `times` times; counts leaderships; records parking. */
typedef struct waiter {
    weft_frame fr;
    weft_barrier *b;
    weft_barrier_wait_op op;
    int times, done, leader, leaders, parked;
} waiter;

static weft_poll wait_announced(waiter *self, weft_cx *cx) {
    weft_poll r = weft_barrier_wait(self->b, cx, &self->op, &self->leader);
    if (cx && r == WEFT_PENDING) self->parked = 1;
    return r;
}

weft_async_fn(waiter_poll, waiter) {
    weft_async (self) {
        while (self->done < self->times) {
            self->parked = 0;
            weft_await(wait_announced(self, cx));
            self->leaders += self->leader;
            self->done++;
        }
    }
    return WEFT_READY;
}

static weft_task *spawn_waiter(weft_rt *rt, weft_barrier *b, int times) {
    waiter *w;
    if (weft_task_new(&w, rt, waiter_poll) != 0) return NULL;
    w->b = b;
    w->times = times;
    return weft_task_spawn(w);
}

static waiter *waiter_of(weft_task *h) { return weft_task_frame(h); }

/* ---- basics ------------------------------------------------------------- */

static void barrier_init_rejects_zero_parties(void) {
    weft_barrier b;
    CHECK_EQ(weft_barrier_init(&b, 0), -EINVAL);
    CHECK_EQ(weft_barrier_init(NULL, 3), -EINVAL);
    CHECK_EQ(weft_barrier_init(&b, 1), 0);
}

static void barrier_of_one_makes_every_wait_the_leader_at_once(void) {
    weft_barrier b;
    CHECK_EQ(weft_barrier_init(&b, 1), 0);
    cwaker w;
    cw_init(&w);
    weft_barrier_wait_op op = {0};
    for (int i = 0; i < 5; i++) {
        int leader = -1;
        CHECK_EQ(poll_op(&b, &w, &op, &leader), WEFT_READY);
        CHECK_EQ(leader, 1);
    }
    CHECK_EQ(poll_op(&b, &w, &op, NULL), WEFT_READY); /* is_leader may be NULL */
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(atomic_load(&w.wakes), 0);
}

static void barrier_releases_all_with_one_leader_per_generation(void) {
    enum { N = 3 };
    weft_barrier b;
    CHECK_EQ(weft_barrier_init(&b, N), 0);
    cwaker w[N];
    weft_barrier_wait_op op[N];
    for (int gen = 0; gen < 4; gen++) {
        int first = gen % N; /* a different party completes each time */
        int leader[N];
        for (int i = 0; i < N; i++) {
            cw_init(&w[i]);
            op[i] = (weft_barrier_wait_op){0};
            leader[i] = -1;
        }
        for (int k = 0; k < N - 1; k++) {
            int i = (first + k) % N;
            CHECK_EQ(poll_op(&b, &w[i], &op[i], &leader[i]), WEFT_PENDING);
            CHECK_EQ(poll_op(&b, &w[i], &op[i], &leader[i]), WEFT_PENDING); /* spurious */
            CHECK_EQ(atomic_load(&w[i].refs), 1);
        }
        int last = (first + N - 1) % N;
        CHECK_EQ(poll_op(&b, &w[last], &op[last], &leader[last]), WEFT_READY);
        CHECK_EQ(leader[last], 1);
        CHECK_EQ(atomic_load(&w[last].wakes), 0);
        for (int k = 0; k < N - 1; k++) {
            int i = (first + k) % N;
            CHECK_EQ(atomic_load(&w[i].wakes), 1);
            CHECK_EQ(poll_op(&b, &w[i], &op[i], &leader[i]), WEFT_READY);
            CHECK_EQ(leader[i], 0);
        }
        for (int i = 0; i < N; i++) CHECK_EQ(atomic_load(&w[i].refs), 0);
    }
}

static void barrier_repolled_waiter_with_new_waker_wakes_the_new_one(void) {
    weft_barrier b;
    weft_barrier_init(&b, 2);
    cwaker w1, w2, w3;
    cw_init(&w1);
    cw_init(&w2);
    cw_init(&w3);
    weft_barrier_wait_op a = {0}, c = {0};
    int la = -1, lc = -1;
    CHECK_EQ(poll_op(&b, &w1, &a, &la), WEFT_PENDING);
    CHECK_EQ(poll_op(&b, &w2, &a, &la), WEFT_PENDING); /* not a second arrival */
    CHECK_EQ(atomic_load(&w1.refs), 0);
    CHECK_EQ(poll_op(&b, &w3, &c, &lc), WEFT_READY);
    CHECK_EQ(lc, 1);
    CHECK_EQ(atomic_load(&w1.wakes), 0);
    CHECK_EQ(atomic_load(&w2.wakes), 1);
    CHECK_EQ(poll_op(&b, &w2, &a, &la), WEFT_READY);
    CHECK_EQ(la, 0);
    CHECK_EQ(atomic_load(&w2.refs), 0);
}

static void barrier_releases_more_waiters_than_a_batch(void) {
    enum { N = 100 };
    weft_barrier b;
    weft_barrier_init(&b, N);
    static cwaker w[N];
    static weft_barrier_wait_op op[N];
    int leader = -1;
    for (int i = 0; i < N - 1; i++) {
        cw_init(&w[i]);
        op[i] = (weft_barrier_wait_op){0};
        CHECK_EQ(poll_op(&b, &w[i], &op[i], &leader), WEFT_PENDING);
    }
    cw_init(&w[N - 1]);
    op[N - 1] = (weft_barrier_wait_op){0};
    CHECK_EQ(poll_op(&b, &w[N - 1], &op[N - 1], &leader), WEFT_READY);
    CHECK_EQ(leader, 1);
    for (int i = 0; i < N - 1; i++) {
        CHECK_EQ(atomic_load(&w[i].wakes), 1);
        CHECK_EQ(atomic_load(&w[i].refs), 0);
        CHECK_EQ(poll_op(&b, &w[i], &op[i], &leader), WEFT_READY);
        CHECK_EQ(leader, 0);
    }
}

/*
 * 40 waiters: the leader wakes them 32 at a time.  While the first batch is
 * woken, op 35 (released, still in the leader's list) is cancelled and op 36
 * re-polled: neither withdraws anything, 36 completes as a non-leader, and
 * the leader does not touch them again.
 */
#define BIG 40
static struct {
    weft_barrier b;
    cwaker w[BIG];
    weft_barrier_wait_op op[BIG];
    int repoll_rc, repoll_leader, arrived_seen, fired;
} big;

static void big_hook(void *arg) {
    (void)arg;
    if (big.fired++) return;
    cancel_op(&big.b, &big.op[35]);
    big.repoll_rc = poll_op(&big.b, &big.w[36], &big.op[36], &big.repoll_leader);
    big.arrived_seen = (int)big.b.arrived;
}

static void barrier_waiters_leaving_between_wake_batches_withdraw_nothing(void) {
    weft_barrier_init(&big.b, BIG + 1);
    hook_waker first;
    hw_init(&first, big_hook, NULL);
    weft_barrier_wait_op op0 = {0};
    int l = -1;
    weft_cx cx = weft_cx_manual(&first.cw.base);
    CHECK_EQ(weft_barrier_wait(&big.b, &cx, &op0, &l), WEFT_PENDING);
    for (int i = 0; i < BIG - 1; i++) {
        cw_init(&big.w[i]);
        CHECK_EQ(poll_op(&big.b, &big.w[i], &big.op[i], &l), WEFT_PENDING);
    }
    cwaker wl;
    cw_init(&wl);
    weft_barrier_wait_op last = {0};
    CHECK_EQ(poll_op(&big.b, &wl, &last, &l), WEFT_READY);
    CHECK_EQ(l, 1);
    CHECK_EQ(big.fired, 1);
    CHECK_EQ(big.repoll_rc, WEFT_READY);
    CHECK_EQ(big.repoll_leader, 0);
    CHECK_EQ(big.arrived_seen, 0); /* the cancel withdrew nothing */
    CHECK_EQ(atomic_load(&big.w[35].wakes), 0);
    CHECK_EQ(atomic_load(&big.w[36].wakes), 0); /* left the list before its batch */
    for (int i = 0; i < BIG - 1; i++) {
        if (i == 35 || i == 36) continue;
        CHECK_EQ(atomic_load(&big.w[i].wakes), 1);
        CHECK_EQ(poll_op(&big.b, &big.w[i], &big.op[i], &l), WEFT_READY);
        CHECK_EQ(l, 0);
    }
    for (int i = 0; i < BIG - 1; i++) CHECK_EQ(atomic_load(&big.w[i].refs), 0);
    CHECK_EQ(weft_barrier_wait(&big.b, &cx, &op0, &l), WEFT_READY);
    CHECK_EQ(atomic_load(&first.cw.refs), 0);
    CHECK_EQ(big.b.arrived, 0);
    CHECK_EQ(big.b.generation, 1);
}

/* The arrival after the n-th belongs to the next generation. */
static void barrier_extra_arrival_waits_for_the_next_generation(void) {
    weft_barrier b;
    weft_barrier_init(&b, 2);
    cwaker w[5];
    weft_barrier_wait_op op[5];
    memset(op, 0, sizeof op);
    int l[5] = {-1, -1, -1, -1, -1};
    for (int i = 0; i < 5; i++) cw_init(&w[i]);
    CHECK_EQ(poll_op(&b, &w[0], &op[0], &l[0]), WEFT_PENDING);
    CHECK_EQ(poll_op(&b, &w[1], &op[1], &l[1]), WEFT_READY);
    /* op[0] is released but not yet re-polled; a third arrival starts gen 2 */
    CHECK_EQ(poll_op(&b, &w[2], &op[2], &l[2]), WEFT_PENDING);
    CHECK_EQ(poll_op(&b, &w[0], &op[0], &l[0]), WEFT_READY);
    CHECK_EQ(l[0], 0);
    CHECK_EQ(l[1], 1);
    CHECK_EQ(atomic_load(&w[2].wakes), 0);
    CHECK_EQ(poll_op(&b, &w[2], &op[2], &l[2]), WEFT_PENDING);
    CHECK_EQ(poll_op(&b, &w[3], &op[3], &l[3]), WEFT_READY);
    CHECK_EQ(l[3], 1);
    CHECK_EQ(poll_op(&b, &w[2], &op[2], &l[2]), WEFT_READY);
    CHECK_EQ(l[2], 0);
    for (int i = 0; i < 5; i++) CHECK_EQ(atomic_load(&w[i].refs), 0);
}

/* ---- cancellation ------------------------------------------------------- */

static void barrier_cancelled_wait_withdraws_its_arrival(void) {
    weft_barrier b;
    weft_barrier_init(&b, 3);
    cwaker wa, wb, wc, wd;
    cw_init(&wa);
    cw_init(&wb);
    cw_init(&wc);
    cw_init(&wd);
    weft_barrier_wait_op a = {0}, bb = {0}, c = {0}, d = {0}, idle = {0};
    int lb = -1, lc = -1, ld = -1;
    cancel_op(&b, &idle); /* never started: nothing */
    CHECK_EQ(poll_op(&b, &wa, &a, NULL), WEFT_PENDING);
    CHECK_EQ(poll_op(&b, &wb, &bb, &lb), WEFT_PENDING);
    cancel_op(&b, &a);
    CHECK_EQ(atomic_load(&wa.refs), 0);
    /* a withdrew: c is only the second arrival */
    CHECK_EQ(poll_op(&b, &wc, &c, &lc), WEFT_PENDING);
    CHECK_EQ(atomic_load(&wb.wakes), 0);
    CHECK_EQ(poll_op(&b, &wd, &d, &ld), WEFT_READY);
    CHECK_EQ(ld, 1);
    CHECK_EQ(poll_op(&b, &wb, &bb, &lb), WEFT_READY);
    CHECK_EQ(poll_op(&b, &wc, &c, &lc), WEFT_READY);
    CHECK_EQ(lb + lc, 0);
    CHECK_EQ(atomic_load(&wa.wakes), 0);
    /* a cancelled op is idle: polling it again is a new arrival */
    CHECK_EQ(poll_op(&b, &wa, &a, NULL), WEFT_PENDING);
    cancel_op(&b, &a);
    CHECK_EQ(b.arrived, 0);
    CHECK_EQ(b.generation, 1);
    int refs = atomic_load(&wa.refs) + atomic_load(&wb.refs) + atomic_load(&wc.refs) +
               atomic_load(&wd.refs);
    CHECK_EQ(refs, 0);
}

static void barrier_cancel_after_release_is_harmless(void) {
    weft_barrier b;
    weft_barrier_init(&b, 2);
    cwaker w[4];
    weft_barrier_wait_op op[4];
    memset(op, 0, sizeof op);
    int l = -1;
    for (int i = 0; i < 4; i++) cw_init(&w[i]);
    CHECK_EQ(poll_op(&b, &w[0], &op[0], &l), WEFT_PENDING);
    CHECK_EQ(poll_op(&b, &w[1], &op[1], &l), WEFT_READY);
    CHECK_EQ(atomic_load(&w[0].wakes), 1);
    cancel_op(&b, &op[0]); /* released, never re-polled: no withdrawal */
    CHECK_EQ(atomic_load(&w[0].refs), 0);
    CHECK_EQ(b.arrived, 0);
    /* the next generation still needs two arrivals */
    CHECK_EQ(poll_op(&b, &w[2], &op[2], &l), WEFT_PENDING);
    CHECK_EQ(poll_op(&b, &w[3], &op[3], &l), WEFT_READY);
    CHECK_EQ(l, 1);
    CHECK_EQ(poll_op(&b, &w[2], &op[2], &l), WEFT_READY);
    CHECK_EQ(l, 0);
    for (int i = 0; i < 4; i++) CHECK_EQ(atomic_load(&w[i].refs), 0);
}

/* ---- tasks -------------------------------------------------------------- */

#define TASKS 5
#define GENS 4

typedef struct gens_test {
    weft_frame fr;
    weft_barrier *b;
    int tasks;
    weft_task *h[TASKS + 1];
    int i, leaders, done, parked_after_first;
} gens_test;

weft_async_fn(gens_test_poll, gens_test) {
    weft_async (self) {
        for (self->i = 0; self->i < self->tasks; self->i++)
            self->h[self->i] = spawn_waiter(cx->rt, self->b, GENS);
        for (self->i = 0; self->i < self->tasks; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            self->leaders += waiter_of(self->h[self->i])->leaders;
            self->done += waiter_of(self->h[self->i])->done;
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void barrier_tasks_released_together_over_generations(void) {
    weft_rt *rt = new_rt();
    weft_barrier b;
    weft_barrier_init(&b, TASKS);
    gens_test t = {.b = &b, .tasks = TASKS};
    CHECK_EQ(weft_block_on(rt, gens_test_poll, &t), 0);
    CHECK_EQ(t.done, TASKS * GENS);
    CHECK_EQ(t.leaders, GENS); /* exactly one per generation */
    CHECK_EQ(b.generation, GENS);
    CHECK_EQ(b.arrived, 0);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

typedef struct extra_test {
    weft_frame fr;
    weft_barrier *b;
    weft_task *h[6];
    int i, done_first, parked_first, done, leaders;
} extra_test;

weft_async_fn(extra_test_poll, extra_test) {
    weft_async (self) {
        for (self->i = 0; self->i < 4; self->i++)
            self->h[self->i] = spawn_waiter(cx->rt, self->b, 1);
        for (self->i = 0; self->i < 5; self->i++) weft_yield();
        for (self->i = 0; self->i < 4; self->i++) {
            self->done_first += waiter_of(self->h[self->i])->done;
            self->parked_first +=
                waiter_of(self->h[self->i])->parked && !waiter_of(self->h[self->i])->done;
        }
        /* two more complete the second generation with the one left over */
        self->h[4] = spawn_waiter(cx->rt, self->b, 1);
        self->h[5] = spawn_waiter(cx->rt, self->b, 1);
        for (self->i = 0; self->i < 6; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            self->done += waiter_of(self->h[self->i])->done;
            self->leaders += waiter_of(self->h[self->i])->leaders;
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void barrier_extra_task_waits_for_the_next_generation(void) {
    weft_rt *rt = new_rt();
    weft_barrier b;
    weft_barrier_init(&b, 3);
    extra_test t = {.b = &b};
    CHECK_EQ(weft_block_on(rt, extra_test_poll, &t), 0);
    CHECK_EQ(t.done_first, 3);
    CHECK_EQ(t.parked_first, 1); /* the fourth is still waiting */
    CHECK_EQ(t.done, 6);
    CHECK_EQ(t.leaders, 2);
    CHECK_EQ(b.generation, 2);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

typedef struct abort_test {
    weft_frame fr;
    weft_barrier *b;
    weft_task *a, *h[2];
    int status, i, b_parked_alone, done, leaders;
} abort_test;

weft_async_fn(abort_test_poll, abort_test) {
    weft_async (self) {
        self->a = spawn_waiter(cx->rt, self->b, 1);
        weft_yield(); /* it arrives and parks */
        weft_task_abort(self->a);
        weft_await(weft_join(self->a, cx, &self->status));
        weft_task_release(self->a);
        self->h[0] = spawn_waiter(cx->rt, self->b, 1);
        for (self->i = 0; self->i < 3; self->i++) weft_yield();
        /* the aborted arrival was withdrawn: this one is alone */
        self->b_parked_alone = waiter_of(self->h[0])->parked && !waiter_of(self->h[0])->done;
        self->h[1] = spawn_waiter(cx->rt, self->b, 1);
        for (self->i = 0; self->i < 2; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            self->done += waiter_of(self->h[self->i])->done;
            self->leaders += waiter_of(self->h[self->i])->leaders;
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void barrier_aborted_task_withdraws_its_arrival_and_leaves_no_waker(void) {
    weft_rt *rt = new_rt();
    weft_barrier b;
    weft_barrier_init(&b, 2);
    abort_test t = {.b = &b};
    CHECK_EQ(weft_block_on(rt, abort_test_poll, &t), 0);
    CHECK_EQ(t.status, -ECANCELED);
    CHECK_EQ(t.b_parked_alone, 1);
    CHECK_EQ(t.done, 2);
    CHECK_EQ(t.leaders, 1);
    CHECK_EQ(b.generation, 1);
    CHECK_EQ(held(rt), 0); /* no task waker held by the barrier */
    weft_rt_free(rt);
}

/* ---- race --------------------------------------------------------------- */

/*
 * n = 3.  A and B wait (polled by hand here).  A thread makes the completing
 * arrival C while this thread cancels A - or re-polls it with a new waker.
 * Either A was released with the generation (C is the leader, B released,
 * nothing withdrawn) or A withdrew first (C waits with B; one more arrival D
 * then leads and releases both).  Never both, never neither; every waker is
 * released; the barrier ends empty.
 */
#define RACE_ITERS 1500

typedef struct race_shared {
    weft_barrier b;
    weft_barrier_wait_op c;
    cwaker wc;
    int lc;
    weft_poll rc;
    unsigned spin;
    atomic_int seq, started, done;
} race_shared;

static void *race_arriver(void *p) {
    race_shared *s = p;
    int last = 0;
    for (;;) {
        int cur;
        for (unsigned n = 0; (cur = atomic_load(&s->seq)) == last; n++)
            if (n > 20000) sched_yield(); /* valgrind runs one thread at a time */
        if (cur < 0) return NULL;
        last = cur;
        atomic_store(&s->started, cur);
        spin(s->spin);
        s->rc = poll_op(&s->b, &s->wc, &s->c, &s->lc);
        atomic_store(&s->done, cur);
    }
}

static void race_go(race_shared *s, int round) {
    atomic_store(&s->seq, round);
    for (unsigned n = 0; atomic_load(&s->started) != round; n++)
        if (n > 20000) sched_yield();
}

static void race_wait(race_shared *s, int round) {
    for (unsigned n = 0; atomic_load(&s->done) != round; n++)
        if (n > 200) sched_yield();
}

static void barrier_completing_arrival_racing_with_cancel(void) {
    race_shared *s = calloc(1, sizeof *s);
    CHECK(s);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, race_arriver, s), 0);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int bad = 0, released = 0, withdrew = 0;
    for (int iter = 0; iter < RACE_ITERS && !bad; iter++) {
        cwaker wa, wa2, wb, wd;
        cw_init(&wa);
        cw_init(&wa2);
        cw_init(&wb);
        cw_init(&wd);
        cw_init(&s->wc);
        weft_barrier_wait_op a = {0}, bo = {0}, d = {0};
        s->c = (weft_barrier_wait_op){0};
        weft_barrier_init(&s->b, 3);
        int la = -1, lb = -1, ld = -1, repoll = (int)(test_rand(&rng) % 3) == 0;
        weft_poll ra = WEFT_PENDING;
        if (poll_op(&s->b, &wa, &a, &la) != WEFT_PENDING) bad++;
        if (poll_op(&s->b, &wb, &bo, &lb) != WEFT_PENDING) bad++;
        s->spin = (unsigned)(test_rand(&rng) % 2000);
        /* order: 0 a real race; 1 we act first; 2 the arrival goes first */
        int order = iter % 3;
        if (order != 1) race_go(s, iter + 1);
        if (order == 2) race_wait(s, iter + 1);
        spin((unsigned)(test_rand(&rng) % 2000));
        if (repoll)
            ra = poll_op(&s->b, &wa2, &a, &la);
        else
            cancel_op(&s->b, &a);
        if (order == 1) race_go(s, iter + 1);
        race_wait(s, iter + 1);
        if (s->rc == WEFT_READY) {
            /* the generation completed with A in it */
            if (s->lc != 1) bad++;
            if (atomic_load(&wb.wakes) != 1) bad++;
            if (poll_op(&s->b, &wb, &bo, &lb) != WEFT_READY || lb != 0) bad++;
            if (repoll && ra == WEFT_PENDING &&
                (atomic_load(&wa2.wakes) != 1 || atomic_load(&wa.wakes) != 0))
                bad++; /* A parked again before C: its new waker is woken */
            if (repoll && ra == WEFT_PENDING &&
                (poll_op(&s->b, &wa2, &a, &la) != WEFT_READY || la != 0))
                bad++;
            if (repoll && ra == WEFT_READY && la != 0) bad++;
            released++;
        } else {
            /* A withdrew before C arrived (a re-poll cannot withdraw) */
            if (repoll) bad++;
            if (atomic_load(&wb.wakes) != 0 || atomic_load(&s->wc.wakes) != 0) bad++;
            if (poll_op(&s->b, &wd, &d, &ld) != WEFT_READY || ld != 1) bad++;
            if (poll_op(&s->b, &wb, &bo, &lb) != WEFT_READY || lb != 0) bad++;
            if (poll_op(&s->b, &s->wc, &s->c, &s->lc) != WEFT_READY || s->lc != 0) bad++;
            withdrew++;
        }
        if (atomic_load(&wa.wakes) + atomic_load(&wa2.wakes) > 1) bad++;
        /* one generation completed either way, and nothing is left in it */
        if (s->b.arrived != 0 || s->b.generation != 1) bad++;
        if (s->b.waiters.next != &s->b.waiters) bad++;
        int refs = atomic_load(&wa.refs) + atomic_load(&wa2.refs) + atomic_load(&wb.refs) +
                   atomic_load(&wd.refs) + atomic_load(&s->wc.refs);
        if (refs) bad++;
    }
    atomic_store(&s->seq, -1);
    pthread_join(th, NULL);
    free(s);
    CHECK_EQ(bad, 0);
    CHECK(released > 0);
    CHECK(withdrew > 0);
}

/* ---- stress ------------------------------------------------------------- */

/*
 * THREADS threads with their own runtimes, PER_THREAD tasks each, share a
 * barrier of THREADS * PER_THREAD parties for ROUNDS generations.  Before
 * its k-th wait each task counts itself in arrivals[k]; after it, all n must
 * have counted (nobody got through early).  Leaders total ROUNDS.
 */
#define THREADS 3
#define PER_THREAD 2
#define ROUNDS 300

typedef struct stress_shared {
    weft_barrier b;
    atomic_int arrivals[ROUNDS];
    atomic_int leaders, early;
} stress_shared;

typedef struct stress_task {
    weft_frame fr;
    stress_shared *s;
    weft_barrier_wait_op op;
    int k, leader;
} stress_task;

weft_async_fn(stress_task_poll, stress_task) {
    weft_async (self) {
        for (self->k = 0; self->k < ROUNDS; self->k++) {
            atomic_fetch_add(&self->s->arrivals[self->k], 1);
            weft_await(weft_barrier_wait(&self->s->b, cx, &self->op, &self->leader));
            if (atomic_load(&self->s->arrivals[self->k]) != THREADS * PER_THREAD)
                atomic_fetch_add(&self->s->early, 1);
            atomic_fetch_add(&self->s->leaders, self->leader);
            if (self->k % 7 == 0) weft_yield();
        }
    }
    return WEFT_READY;
}

typedef struct stress_main {
    weft_frame fr;
    stress_shared *s;
    weft_task *h[PER_THREAD];
    int i;
} stress_main;

weft_async_fn(stress_main_poll, stress_main) {
    weft_async (self) {
        for (self->i = 0; self->i < PER_THREAD; self->i++) {
            stress_task *t;
            MUST(weft_task_new(&t, cx->rt, stress_task_poll));
            t->s = self->s;
            self->h[self->i] = weft_task_spawn(t);
        }
        for (self->i = 0; self->i < PER_THREAD; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

typedef struct stress_arg {
    stress_shared *s;
    int rc;
    uint64_t held;
} stress_arg;

static void *stress_thread(void *p) {
    stress_arg *a = p;
    weft_rt *rt = new_rt();
    stress_main m = {.s = a->s};
    a->rc = weft_block_on(rt, stress_main_poll, &m);
    a->held = held(rt);
    weft_rt_free(rt);
    return NULL;
}

static void barrier_threads_with_own_runtimes_over_many_generations(void) {
    stress_shared *s = calloc(1, sizeof *s);
    CHECK(s);
    CHECK_EQ(weft_barrier_init(&s->b, THREADS * PER_THREAD), 0);
    pthread_t th[THREADS];
    stress_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (stress_arg){.s = s};
        CHECK_EQ(pthread_create(&th[i], NULL, stress_thread, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].rc, 0);
        CHECK_EQ(args[i].held, 0);
    }
    CHECK_EQ(atomic_load(&s->leaders), ROUNDS);
    CHECK_EQ(atomic_load(&s->early), 0);
    CHECK_EQ(s->b.generation, ROUNDS);
    CHECK_EQ(s->b.arrived, 0);
    free(s);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(barrier_init_rejects_zero_parties),
                         TEST(barrier_of_one_makes_every_wait_the_leader_at_once),
                         TEST(barrier_releases_all_with_one_leader_per_generation),
                         TEST(barrier_repolled_waiter_with_new_waker_wakes_the_new_one),
                         TEST(barrier_releases_more_waiters_than_a_batch),
                         TEST(barrier_extra_arrival_waits_for_the_next_generation),
                         TEST(barrier_waiters_leaving_between_wake_batches_withdraw_nothing),
                         TEST(barrier_cancelled_wait_withdraws_its_arrival),
                         TEST(barrier_cancel_after_release_is_harmless),
                         TEST(barrier_tasks_released_together_over_generations),
                         TEST(barrier_extra_task_waits_for_the_next_generation),
                         TEST(barrier_aborted_task_withdraws_its_arrival_and_leaves_no_waker),
                         TEST(barrier_completing_arrival_racing_with_cancel),
                         TEST(barrier_threads_with_own_runtimes_over_many_generations),
                         {0},
                     });
}
