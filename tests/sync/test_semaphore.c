/*
 * tests/sync/test_semaphore.c - the semaphore: acquire, acquire_many,
 * try_acquire, release, forget, add_permits, close, FIFO fairness, cancel
 * safety, the wake-vs-cancel race, and threads.
 */
#include <weft.h>

#include "sync_util.h"
#include "test.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

/* Poll an acquire of n by hand with waker w. */
static weft_poll acq(weft_semaphore *s, cwaker *w, weft_acquire_op *op, size_t n, int *st) {
    weft_cx cx = weft_cx_manual(&w->base);
    return weft_semaphore_acquire_many(s, &cx, op, n, st);
}

static void cancel_acq(weft_semaphore *s, weft_acquire_op *op) {
    (void)weft_semaphore_acquire_many(s, NULL, op, 0, NULL);
}

/* ---- hand-polled semantics ------------------------------------------------ */

static void semaphore_acquire_takes_free_permits_at_once(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(3);
    cwaker w;
    cw_init(&w);
    weft_acquire_op a = {0}, b = {0};
    int st = 99;
    CHECK_EQ(acq(&s, &w, &a, 2, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(weft_semaphore_held(&a), 2);
    CHECK_EQ(weft_semaphore_available(&s), 1);
    st = 99;
    CHECK_EQ(acq(&s, &w, &b, 1, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(weft_semaphore_available(&s), 0);
    weft_semaphore_release(&a);
    weft_semaphore_release(&b);
    CHECK_EQ(weft_semaphore_available(&s), 3);
    CHECK_EQ(weft_semaphore_held(&a), 0);
    CHECK_EQ(atomic_load(&w.refs), 0);
}

static void semaphore_release_is_a_noop_on_an_op_holding_nothing(void) {
    weft_semaphore s;
    CHECK_EQ(weft_semaphore_init(&s, 2), 0);
    weft_acquire_op a = {0};
    weft_semaphore_release(&a); /* never acquired */
    CHECK_EQ(weft_semaphore_try_acquire(&s, &a), 0);
    weft_semaphore_release(&a);
    weft_semaphore_release(&a); /* twice */
    CHECK_EQ(weft_semaphore_available(&s), 2);
}

static void semaphore_waiter_is_woken_when_permits_return(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(1);
    cwaker w;
    cw_init(&w);
    weft_acquire_op a = {0}, b = {0};
    int st = 99;
    CHECK_EQ(weft_semaphore_try_acquire(&s, &a), 0);
    CHECK_EQ(acq(&s, &w, &b, 1, &st), WEFT_PENDING);
    CHECK_EQ(atomic_load(&w.refs), 1);
    CHECK_EQ(atomic_load(&w.wakes), 0);
    weft_semaphore_release(&a);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(weft_semaphore_available(&s), 0); /* handed to b, not freed */
    CHECK_EQ(acq(&s, &w, &b, 1, &st), WEFT_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(weft_semaphore_held(&b), 1);
    weft_semaphore_release(&b);
    CHECK_EQ(weft_semaphore_available(&s), 1);
}

static void semaphore_waiters_are_served_in_fifo_order(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(1);
    enum { N = 6 };
    cwaker w[N];
    weft_acquire_op holder = {0}, op[N];
    memset(op, 0, sizeof op);
    CHECK_EQ(weft_semaphore_try_acquire(&s, &holder), 0);
    for (int i = 0; i < N; i++) {
        cw_init(&w[i]);
        CHECK_EQ(acq(&s, &w[i], &op[i], 1, NULL), WEFT_PENDING);
    }
    weft_semaphore_release(&holder);
    for (int i = 0; i < N; i++) {
        /* exactly waiter i has been woken */
        for (int j = 0; j < N; j++) CHECK_EQ(atomic_load(&w[j].wakes), j <= i ? 1 : 0);
        CHECK_EQ(acq(&s, &w[i], &op[i], 1, NULL), WEFT_READY);
        weft_semaphore_release(&op[i]);
    }
    CHECK_EQ(weft_semaphore_available(&s), 1);
}

static void semaphore_newcomer_does_not_overtake_a_waiter(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(2);
    cwaker w;
    cw_init(&w);
    weft_acquire_op a = {0}, big = {0}, small = {0};
    CHECK_EQ(weft_semaphore_try_acquire(&s, &a), 0); /* 1 free */
    CHECK_EQ(acq(&s, &w, &big, 2, NULL), WEFT_PENDING); /* takes the free 1, needs 1 more */
    CHECK_EQ(weft_semaphore_available(&s), 0);
    CHECK_EQ(weft_semaphore_try_acquire(&s, &small), -EAGAIN);
    cwaker w2;
    cw_init(&w2);
    CHECK_EQ(acq(&s, &w2, &small, 1, NULL), WEFT_PENDING);
    weft_semaphore_release(&a); /* goes to big, not small */
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(atomic_load(&w2.wakes), 0);
    CHECK_EQ(acq(&s, &w, &big, 2, NULL), WEFT_READY);
    weft_semaphore_release(&big); /* 2 back: small takes 1, 1 free */
    CHECK_EQ(atomic_load(&w2.wakes), 1);
    CHECK_EQ(weft_semaphore_available(&s), 1);
    CHECK_EQ(acq(&s, &w2, &small, 1, NULL), WEFT_READY);
    weft_semaphore_release(&small);
    CHECK_EQ(weft_semaphore_available(&s), 2);
}

static void semaphore_acquire_many_collects_permits_as_they_return(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(3);
    cwaker w;
    cw_init(&w);
    weft_acquire_op r[3], big = {0};
    memset(r, 0, sizeof r);
    for (int i = 0; i < 3; i++) CHECK_EQ(weft_semaphore_try_acquire(&s, &r[i]), 0);
    CHECK_EQ(acq(&s, &w, &big, 3, NULL), WEFT_PENDING);
    weft_semaphore_release(&r[0]);
    weft_semaphore_release(&r[1]);
    CHECK_EQ(atomic_load(&w.wakes), 0); /* 2 of 3 set aside: not yet */
    CHECK_EQ(weft_semaphore_available(&s), 0);
    CHECK_EQ(acq(&s, &w, &big, 3, NULL), WEFT_PENDING); /* spurious poll */
    weft_semaphore_release(&r[2]);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(acq(&s, &w, &big, 3, NULL), WEFT_READY);
    CHECK_EQ(weft_semaphore_held(&big), 3);
    weft_semaphore_release(&big);
    CHECK_EQ(weft_semaphore_available(&s), 3);
    CHECK_EQ(atomic_load(&w.refs), 0);
}

static void semaphore_cancelled_waiter_returns_what_was_set_aside(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(2);
    cwaker w, w2;
    cw_init(&w);
    cw_init(&w2);
    weft_acquire_op a = {0}, big = {0}, next = {0};
    CHECK_EQ(weft_semaphore_try_acquire(&s, &a), 0);
    CHECK_EQ(acq(&s, &w, &big, 3, NULL), WEFT_PENDING); /* holds 1 aside */
    CHECK_EQ(acq(&s, &w2, &next, 2, NULL), WEFT_PENDING);
    cancel_acq(&s, &big); /* its 1 goes to next (needs 2: still waiting) */
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(atomic_load(&w2.wakes), 0);
    weft_semaphore_release(&a); /* next is complete now */
    CHECK_EQ(atomic_load(&w2.wakes), 1);
    CHECK_EQ(acq(&s, &w2, &next, 2, NULL), WEFT_READY);
    weft_semaphore_release(&next);
    CHECK_EQ(weft_semaphore_available(&s), 2);
}

static void semaphore_cancelled_granted_waiter_passes_the_permit_on(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(1);
    cwaker w1, w2;
    cw_init(&w1);
    cw_init(&w2);
    weft_acquire_op a = {0}, b = {0}, c = {0};
    CHECK_EQ(weft_semaphore_try_acquire(&s, &a), 0);
    CHECK_EQ(acq(&s, &w1, &b, 1, NULL), WEFT_PENDING);
    CHECK_EQ(acq(&s, &w2, &c, 1, NULL), WEFT_PENDING);
    weft_semaphore_release(&a); /* granted to b */
    CHECK_EQ(atomic_load(&w1.wakes), 1);
    cancel_acq(&s, &b); /* b never polls again: c must get it */
    CHECK_EQ(atomic_load(&w2.wakes), 1);
    CHECK_EQ(acq(&s, &w2, &c, 1, NULL), WEFT_READY);
    CHECK_EQ(weft_semaphore_held(&b), 0);
    weft_semaphore_release(&c);
    CHECK_EQ(weft_semaphore_available(&s), 1);
    CHECK_EQ(atomic_load(&w1.refs), 0);
    CHECK_EQ(atomic_load(&w2.refs), 0);
}

static void semaphore_cancel_of_an_idle_op_does_nothing(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(1);
    weft_acquire_op a = {0};
    cancel_acq(&s, &a);
    CHECK_EQ(weft_semaphore_available(&s), 1);
    CHECK_EQ(weft_semaphore_try_acquire(&s, &a), 0);
    cancel_acq(&s, &a); /* a completed acquire is not undone by a late cancel */
    CHECK_EQ(weft_semaphore_held(&a), 1);
    weft_semaphore_release(&a);
}

static void semaphore_spurious_poll_with_a_new_waker_wakes_the_new_one(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(0);
    cwaker w1, w2;
    cw_init(&w1);
    cw_init(&w2);
    weft_acquire_op a = {0};
    CHECK_EQ(acq(&s, &w1, &a, 1, NULL), WEFT_PENDING);
    CHECK_EQ(acq(&s, &w2, &a, 1, NULL), WEFT_PENDING);
    CHECK_EQ(atomic_load(&w1.refs), 0);
    CHECK_EQ(atomic_load(&w2.refs), 1);
    CHECK_EQ(weft_semaphore_add_permits(&s, 1), 0);
    CHECK_EQ(atomic_load(&w1.wakes), 0);
    CHECK_EQ(atomic_load(&w2.wakes), 1);
    CHECK_EQ(acq(&s, &w2, &a, 1, NULL), WEFT_READY);
    weft_semaphore_release(&a);
}

static void semaphore_add_permits_wakes_waiters_and_stores_the_rest(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(0);
    enum { N = 40 }; /* more than one wake batch */
    cwaker w[N];
    weft_acquire_op op[N];
    memset(op, 0, sizeof op);
    for (int i = 0; i < N; i++) {
        cw_init(&w[i]);
        CHECK_EQ(acq(&s, &w[i], &op[i], 1, NULL), WEFT_PENDING);
    }
    CHECK_EQ(weft_semaphore_add_permits(&s, N + 5), 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(atomic_load(&w[i].wakes), 1);
        CHECK_EQ(acq(&s, &w[i], &op[i], 1, NULL), WEFT_READY);
    }
    CHECK_EQ(weft_semaphore_available(&s), 5);
    for (int i = 0; i < N; i++) weft_semaphore_release(&op[i]);
    CHECK_EQ(weft_semaphore_available(&s), N + 5);
}

static void semaphore_add_permits_refuses_to_pass_the_maximum(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(5);
    CHECK_EQ(weft_semaphore_add_permits(&s, WEFT_SEMAPHORE_MAX_PERMITS), -EOVERFLOW);
    CHECK_EQ(weft_semaphore_available(&s), 5);
    CHECK_EQ(weft_semaphore_add_permits(&s, WEFT_SEMAPHORE_MAX_PERMITS - 5), 0);
    CHECK_EQ(weft_semaphore_available(&s), WEFT_SEMAPHORE_MAX_PERMITS);
}

static void semaphore_bad_arguments_are_refused(void) {
    weft_semaphore s;
    CHECK_EQ(weft_semaphore_init(&s, WEFT_SEMAPHORE_MAX_PERMITS + 1), -EINVAL);
    CHECK_EQ(weft_semaphore_init(&s, 1), 0);
    weft_acquire_op a = {0};
    CHECK_EQ(weft_semaphore_try_acquire_many(&s, &a, WEFT_SEMAPHORE_MAX_PERMITS + 1), -EINVAL);
    int st = 0;
    cwaker w;
    cw_init(&w);
    CHECK_EQ(acq(&s, &w, &a, WEFT_SEMAPHORE_MAX_PERMITS + 1, &st), WEFT_READY);
    CHECK_EQ(st, -EINVAL);
    CHECK_EQ(weft_semaphore_held(&a), 0);
    st = 99;
    CHECK_EQ(acq(&s, &w, &a, 0, &st), WEFT_READY); /* zero: at once, holds nothing */
    CHECK_EQ(st, 0);
    weft_semaphore_release(&a);
    CHECK_EQ(weft_semaphore_available(&s), 1);
}

static void semaphore_forget_shrinks_it(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(3);
    weft_acquire_op a = {0};
    CHECK_EQ(weft_semaphore_try_acquire_many(&s, &a, 2), 0);
    weft_semaphore_forget(&a);
    CHECK_EQ(weft_semaphore_held(&a), 0);
    weft_semaphore_release(&a); /* nothing to give back */
    CHECK_EQ(weft_semaphore_available(&s), 1);
}

static void semaphore_try_acquire_reports_eagain_and_epipe(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(1);
    weft_acquire_op a = {0}, b = {0};
    CHECK_EQ(weft_semaphore_try_acquire_many(&s, &a, 2), -EAGAIN);
    CHECK_EQ(weft_semaphore_held(&a), 0);
    CHECK_EQ(weft_semaphore_try_acquire(&s, &a), 0);
    CHECK_EQ(weft_semaphore_try_acquire(&s, &b), -EAGAIN);
    weft_semaphore_close(&s);
    weft_semaphore_release(&a);
    CHECK_EQ(weft_semaphore_try_acquire(&s, &b), -EPIPE);
    CHECK(weft_semaphore_is_closed(&s));
}

static void semaphore_close_fails_every_waiter_and_later_acquires(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(1);
    enum { N = 37 };
    cwaker w[N];
    weft_acquire_op holder = {0}, op[N];
    memset(op, 0, sizeof op);
    CHECK_EQ(weft_semaphore_try_acquire(&s, &holder), 0);
    for (int i = 0; i < N; i++) {
        cw_init(&w[i]);
        CHECK_EQ(acq(&s, &w[i], &op[i], 1 + (size_t)(i % 3), NULL), WEFT_PENDING);
    }
    CHECK(!weft_semaphore_is_closed(&s));
    weft_semaphore_close(&s);
    weft_semaphore_close(&s); /* idempotent */
    for (int i = 0; i < N; i++) {
        int st = 0;
        CHECK_EQ(atomic_load(&w[i].wakes), 1);
        CHECK_EQ(atomic_load(&w[i].refs), 0);
        CHECK_EQ(acq(&s, &w[i], &op[i], 1, &st), WEFT_READY);
        CHECK_EQ(st, -EPIPE);
        CHECK_EQ(weft_semaphore_held(&op[i]), 0);
    }
    int st = 0;
    weft_acquire_op late = {0};
    CHECK_EQ(acq(&s, &w[0], &late, 1, &st), WEFT_READY);
    CHECK_EQ(st, -EPIPE);
    /* the holder may still give its permit back; nobody can take it */
    weft_semaphore_release(&holder);
    CHECK_EQ(weft_semaphore_available(&s), 1);
}

static void semaphore_close_returns_permits_set_aside_for_waiters(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(2);
    cwaker w;
    cw_init(&w);
    weft_acquire_op big = {0};
    CHECK_EQ(acq(&s, &w, &big, 5, NULL), WEFT_PENDING); /* 2 set aside */
    CHECK_EQ(weft_semaphore_available(&s), 0);
    weft_semaphore_close(&s);
    CHECK_EQ(weft_semaphore_available(&s), 2);
    cancel_acq(&s, &big); /* closed op: cancel is harmless */
    CHECK_EQ(weft_semaphore_available(&s), 2);
    CHECK_EQ(atomic_load(&w.refs), 0);
}

static void semaphore_acquire_through_a_holding_op_aborts(void) {
    weft_semaphore s = WEFT_SEMAPHORE_INIT(2);
    weft_acquire_op a = {0};
    cwaker w;
    cw_init(&w);
    if (weft_semaphore_try_acquire(&s, &a) != 0) return; /* no death: fails */
    (void)acq(&s, &w, &a, 1, NULL);
}

/* ---- with tasks ------------------------------------------------------------ */

/* Acquires n, logs its id, holds across `hold` yields, releases. */
typedef struct worker {
    weft_frame fr;
    weft_semaphore *s;
    weft_acquire_op op;
    size_t n;
    int id, hold, k, status;
    int *log, *log_n;
    int *got; /* set to 1 once it holds the permits */
    int *inside, *max_inside;
} worker;

weft_async_fn(worker_poll, worker) {
    weft_async (self) {
        weft_await(weft_semaphore_acquire_many(self->s, cx, &self->op, self->n, &self->status));
        if (self->status) weft_return;
        if (self->log) self->log[(*self->log_n)++] = self->id;
        if (self->got) *self->got = 1;
        if (self->inside) {
            *self->inside += (int)self->n;
            if (*self->inside > *self->max_inside) *self->max_inside = *self->inside;
        }
        for (self->k = 0; self->k < self->hold; self->k++) weft_yield();
        if (self->inside) *self->inside -= (int)self->n;
    weft_finally:
        weft_semaphore_release(&self->op);
    }
    return WEFT_READY;
}

typedef struct limit_test {
    weft_frame fr;
    weft_semaphore s;
    weft_task *h[20];
    int i, log[20], log_n, inside, max_inside;
} limit_test;

weft_async_fn(limit_test_poll, limit_test) {
    weft_async (self) {
        for (self->i = 0; self->i < 20; self->i++) {
            worker *w;
            MUST(weft_task_new(&w, cx->rt, worker_poll));
            w->s = &self->s;
            w->n = 1;
            w->id = self->i;
            w->hold = 3 + self->i % 4;
            w->log = self->log;
            w->log_n = &self->log_n;
            w->inside = &self->inside;
            w->max_inside = &self->max_inside;
            self->h[self->i] = weft_task_spawn(w);
        }
        for (self->i = 0; self->i < 20; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void semaphore_limits_concurrency_and_serves_tasks_in_order(void) {
    weft_rt *rt = new_rt();
    limit_test t = {0};
    weft_semaphore_init(&t.s, 3);
    CHECK_EQ(weft_block_on(rt, limit_test_poll, &t), 0);
    CHECK_EQ(t.log_n, 20);
    CHECK_EQ(t.max_inside, 3);
    for (int i = 0; i < 20; i++) CHECK_EQ(t.log[i], i);
    CHECK_EQ(weft_semaphore_available(&t.s), 3);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

/* An aborted task that waits (or was just granted) leaves nothing behind. */
typedef struct abort_test {
    weft_frame fr;
    weft_semaphore s;
    weft_acquire_op mine;
    weft_task *a, *b;
    int b_got;
} abort_test;

weft_async_fn(abort_test_poll, abort_test) {
    weft_async (self) {
        weft_await(weft_semaphore_acquire(&self->s, cx, &self->mine, NULL));
        {
            worker *w;
            MUST(weft_task_new(&w, cx->rt, worker_poll));
            w->s = &self->s;
            w->n = 1;
            self->a = weft_task_spawn(w);
            MUST(weft_task_new(&w, cx->rt, worker_poll));
            w->s = &self->s;
            w->n = 1;
            w->got = &self->b_got;
            self->b = weft_task_spawn(w);
        }
        weft_yield(); /* both wait */
        weft_semaphore_release(&self->mine); /* granted to a ... */
        weft_task_abort(self->a);            /* ... which dies before it runs */
        weft_await(weft_join(self->a, cx, NULL));
        weft_await(weft_join(self->b, cx, NULL)); /* b still gets it */
        weft_task_release(self->a);
        weft_task_release(self->b);
    }
    return WEFT_READY;
}

static void semaphore_aborted_granted_task_passes_the_permit_on(void) {
    weft_rt *rt = new_rt();
    abort_test t = {0};
    weft_semaphore_init(&t.s, 1);
    CHECK_EQ(weft_block_on(rt, abort_test_poll, &t), 0);
    CHECK_EQ(t.b_got, 1);
    CHECK_EQ(weft_semaphore_available(&t.s), 1);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

/* ---- the wake-vs-cancel race --------------------------------------------------
 * A waits for the one permit (B maybe behind it) while a thread releases it and
 * the runtime aborts A at a random moment.  Afterwards the permit is either held
 * by B (which then completes) or free: never lost, never doubled, no waker left.
 */
#define RACE_ITERS 600

typedef struct race_shared {
    weft_semaphore s;
    weft_acquire_op holder;
    sem_t go, done;
    unsigned spin;
    int stop;
} race_shared;

static void *race_releaser(void *p) {
    race_shared *s = p;
    for (;;) {
        sem_wait(&s->go);
        if (s->stop) return NULL;
        spin(s->spin);
        weft_semaphore_release(&s->holder);
        sem_post(&s->done);
    }
}

typedef struct race_test {
    weft_frame fr;
    race_shared *s;
    weft_task *a, *b;
    uint64_t rng;
    int i, k, yields, with_b, a_got, b_got;
    int lost, doubled, leaks;
} race_test;

static weft_task *spawn_worker(weft_rt *rt, weft_semaphore *s, int *flag) {
    worker *w;
    if (weft_task_new(&w, rt, worker_poll) != 0) return NULL;
    w->s = s;
    w->n = 1;
    w->got = flag;
    return weft_task_spawn(w);
}

weft_async_fn(race_test_poll, race_test) {
    weft_async (self) {
        for (self->i = 0; self->i < RACE_ITERS; self->i++) {
            {
                uint64_t x = test_rand(&self->rng);
                self->with_b = (int)(x & 1);
                self->yields = (int)((x >> 8) % 20);
                self->s->spin = (unsigned)((x >> 16) % 2000);
                self->a_got = self->b_got = 0;
                if (weft_semaphore_try_acquire(&self->s->s, &self->s->holder) != 0) self->lost++;
            }
            self->a = spawn_worker(cx->rt, &self->s->s, &self->a_got);
            self->b = self->with_b ? spawn_worker(cx->rt, &self->s->s, &self->b_got) : NULL;
            weft_yield(); /* they wait, a first */
            sem_post(&self->s->go);
            for (self->k = 0; self->k < self->yields; self->k++) weft_yield();
            spin((unsigned)(test_rand(&self->rng) % 2000));
            weft_task_abort(self->a);
            weft_await(weft_join(self->a, cx, NULL));
            sem_wait(&self->s->done);
            if (self->b) {
                weft_await(weft_join(self->b, cx, NULL)); /* must not hang */
                weft_task_release(self->b);
            }
            weft_task_release(self->a);
            if (self->with_b && !self->b_got) self->lost++;
            {
                size_t avail = weft_semaphore_available(&self->s->s);
                if (avail < 1) self->lost++;
                if (avail > 1) self->doubled++;
            }
            if (held(cx->rt) != 1) self->leaks++;
        }
    }
    return WEFT_READY;
}

static void semaphore_release_racing_with_abort_loses_nothing(void) {
    weft_rt *rt = new_rt();
    race_shared *s = calloc(1, sizeof *s);
    CHECK(rt && s);
    weft_semaphore_init(&s->s, 1);
    sem_init(&s->go, 0, 0);
    sem_init(&s->done, 0, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, race_releaser, s), 0);
    race_test t = {.s = s, .rng = 0x9e3779b97f4a7c15ull};
    int rc = weft_block_on(rt, race_test_poll, &t);
    s->stop = 1;
    sem_post(&s->go);
    pthread_join(th, NULL);
    CHECK_EQ(rc, 0);
    CHECK_EQ(t.lost, 0);
    CHECK_EQ(t.doubled, 0);
    CHECK_EQ(t.leaks, 0);
    CHECK_EQ(held(rt), 0);
    sem_destroy(&s->go);
    sem_destroy(&s->done);
    free(s);
    weft_rt_free(rt);
}

/* ---- threads ---------------------------------------------------------------
 * Threads, each with its own runtime and several tasks, share a semaphore of
 * 3 permits; tasks take 1 or 2 permits and check the bound while they hold.
 */
#define ST_THREADS 3
#define ST_TASKS 4
#define ST_ROUNDS 300

typedef struct st_shared {
    weft_semaphore s;
    atomic_int inside;
    atomic_int over;
    atomic_long acquired;
} st_shared;

typedef struct st_task {
    weft_frame fr;
    st_shared *sh;
    weft_acquire_op op;
    int i, n;
    uint64_t rng;
} st_task;

weft_async_fn(st_task_poll, st_task) {
    weft_async (self) {
        for (self->i = 0; self->i < ST_ROUNDS; self->i++) {
            self->n = 1 + (int)(test_rand(&self->rng) % 2);
            weft_await(weft_semaphore_acquire_many(&self->sh->s, cx, &self->op, (size_t)self->n, NULL));
            if (atomic_fetch_add(&self->sh->inside, self->n) + self->n > 3)
                atomic_fetch_add(&self->sh->over, 1);
            atomic_fetch_add(&self->sh->acquired, 1);
            if (self->i % 3 == 0) weft_yield(); /* hold across an await */
            atomic_fetch_sub(&self->sh->inside, self->n);
            weft_semaphore_release(&self->op);
        }
    weft_finally:
        weft_semaphore_release(&self->op);
    }
    return WEFT_READY;
}

static weft_task *st_make(weft_rt *rt, const spawn_all *sa, int i) {
    st_task *t;
    if (weft_task_new(&t, rt, st_task_poll) != 0) return NULL;
    t->sh = sa->arg;
    t->rng = sa->seed + (uint64_t)i * 7919;
    return weft_task_spawn(t);
}

static void semaphore_shared_by_threads_keeps_its_bound(void) {
    st_shared *sh = calloc(1, sizeof *sh);
    weft_semaphore_init(&sh->s, 3);
    spawn_all m[ST_THREADS];
    for (int i = 0; i < ST_THREADS; i++)
        m[i] = (spawn_all){.make = st_make, .arg = sh, .seed = 0x1234567ull * (uint64_t)(i + 1),
                           .n = ST_TASKS};
    CHECK_EQ(run_on_threads(ST_THREADS, spawn_all_poll, m), 0);
    CHECK_EQ(atomic_load(&sh->over), 0);
    CHECK_EQ(atomic_load(&sh->acquired), (long)ST_THREADS * ST_TASKS * ST_ROUNDS);
    CHECK_EQ(weft_semaphore_available(&sh->s), 3);
    free(sh);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(semaphore_acquire_takes_free_permits_at_once),
                         TEST(semaphore_release_is_a_noop_on_an_op_holding_nothing),
                         TEST(semaphore_waiter_is_woken_when_permits_return),
                         TEST(semaphore_waiters_are_served_in_fifo_order),
                         TEST(semaphore_newcomer_does_not_overtake_a_waiter),
                         TEST(semaphore_acquire_many_collects_permits_as_they_return),
                         TEST(semaphore_cancelled_waiter_returns_what_was_set_aside),
                         TEST(semaphore_cancelled_granted_waiter_passes_the_permit_on),
                         TEST(semaphore_cancel_of_an_idle_op_does_nothing),
                         TEST(semaphore_spurious_poll_with_a_new_waker_wakes_the_new_one),
                         TEST(semaphore_add_permits_wakes_waiters_and_stores_the_rest),
                         TEST(semaphore_add_permits_refuses_to_pass_the_maximum),
                         TEST(semaphore_bad_arguments_are_refused),
                         TEST(semaphore_forget_shrinks_it),
                         TEST(semaphore_try_acquire_reports_eagain_and_epipe),
                         TEST(semaphore_close_fails_every_waiter_and_later_acquires),
                         TEST(semaphore_close_returns_permits_set_aside_for_waiters),
                         TEST_DEATH(semaphore_acquire_through_a_holding_op_aborts),
                         TEST(semaphore_limits_concurrency_and_serves_tasks_in_order),
                         TEST(semaphore_aborted_granted_task_passes_the_permit_on),
                         TEST(semaphore_release_racing_with_abort_loses_nothing),
                         TEST(semaphore_shared_by_threads_keeps_its_bound),
                         {0}});
}
