/*
 * tests/rt/test_coop.c - the cooperative budget in the sync leaf operations
 * and weft_join (include/weft/future.h, weft_coop_poll).
 *
 * Two kinds of test.
 *
 * Loops: a task calls one operation that completes at once - often with an
 * error, such as weft_mpsc_recv on a closed channel - again and again until
 * a flag set by another task is seen.  With the runtime's budget at BUDGET
 * every call completes and counts until the budget is spent, the next call
 * returns PENDING (waking its task), the flag task runs, and the loop sees
 * the flag after exactly BUDGET + 1 calls.  A call that does not count lets
 * the loop run to LIMIT (the test fails instead of hanging).
 *
 * Probes: an operation in a state in which its next poll completes (a
 * granted permit, a released barrier, a finished task, ...) is polled by
 * hand with the budget at 0: it must return PENDING, wake the waker once and
 * leave the budget at 0 (no wrap-around to "unconstrained"); then with a
 * budget of 3: READY, leaving 2.
 */
#include <weft.h>

#include "rt_util.h"
#include "test.h"

#include <stdatomic.h>

#define BUDGET 16
#define LIMIT (BUDGET * 8)

static weft_rt *new_coop_rt(void) { return new_rt_with(&(weft_rt_config){.budget = BUDGET}); }

#include "cwaker.h"

/* ---- probes ------------------------------------------------------------------- */

typedef weft_poll (*probe_fn)(void *arg, weft_cx *cx);

/* fn(arg, cx) would complete now: at budget 0 it must wait (waking once,
 * spending nothing); at budget 3 complete, spending one.  Use PROBE. */
#define PROBE(fn, arg)                                                         \
    do {                                                                       \
        probe(fn, arg);                                                        \
        if (test_failed()) {                                                   \
            fprintf(stderr, "    (probing %s at line %d)\n", #fn, __LINE__);   \
            return;                                                            \
        }                                                                      \
    } while (0)

static void probe(probe_fn fn, void *arg) {
    cwaker w;
    cw_init(&w);
    weft_cx c = weft_cx_manual(&w.base);
    c.budget = 0;
    CHECK_EQ(fn(arg, &c), WEFT_PENDING);
    CHECK_EQ(c.budget, 0);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    c.budget = 3;
    CHECK_EQ(fn(arg, &c), WEFT_READY);
    CHECK_EQ(c.budget, 2);
    CHECK_EQ(atomic_load(&w.refs), 0); /* nothing kept our waker */
}

/* A context for setting up states by hand. */
typedef struct setup {
    cwaker w;
    weft_cx cx;
} setup;

static void setup_init(setup *s) {
    cw_init(&s->w);
    s->cx = weft_cx_manual(&s->w.base);
}

/* semaphore: a waiter that was granted its permit */
typedef struct sem_probe {
    weft_semaphore sem;
    weft_acquire_op op;
    int status;
} sem_probe;

static weft_poll sem_acquire_fn(void *arg, weft_cx *cx) {
    sem_probe *p = arg;
    return weft_semaphore_acquire(&p->sem, cx, &p->op, &p->status);
}

static void semaphore_granted_waiter_counts(void) {
    setup s;
    setup_init(&s);
    sem_probe p = {0};
    weft_semaphore_init(&p.sem, 1);
    weft_acquire_op holder = {0};
    CHECK_EQ(weft_semaphore_try_acquire(&p.sem, &holder), 0);
    CHECK_EQ(weft_semaphore_acquire(&p.sem, &s.cx, &p.op, &p.status), WEFT_PENDING);
    weft_semaphore_release(&holder); /* granted to p.op */
    PROBE(sem_acquire_fn, &p);
    CHECK_EQ(p.status, 0);
    CHECK_EQ(weft_semaphore_held(&p.op), 1);
    weft_semaphore_release(&p.op);
    CHECK_EQ(atomic_load(&s.w.refs), 0);
}

static void semaphore_closed_waiter_counts(void) {
    setup s;
    setup_init(&s);
    sem_probe p = {0};
    weft_semaphore_init(&p.sem, 0);
    CHECK_EQ(weft_semaphore_acquire(&p.sem, &s.cx, &p.op, &p.status), WEFT_PENDING);
    weft_semaphore_close(&p.sem);
    PROBE(sem_acquire_fn, &p);
    CHECK_EQ(p.status, -EPIPE);
    CHECK_EQ(atomic_load(&s.w.refs), 0);
}

/* mutex: a waiter handed the lock */
typedef struct mutex_probe {
    weft_mutex m;
    weft_mutex_guard g;
} mutex_probe;

static weft_poll mutex_lock_fn(void *arg, weft_cx *cx) {
    mutex_probe *p = arg;
    return weft_mutex_lock(&p->m, cx, &p->g);
}

static void mutex_handed_over_counts(void) {
    setup s;
    setup_init(&s);
    mutex_probe p = {0};
    weft_mutex_init(&p.m);
    weft_mutex_guard first = {0};
    CHECK_EQ(weft_mutex_try_lock(&p.m, &first), 0);
    CHECK_EQ(weft_mutex_lock(&p.m, &s.cx, &p.g), WEFT_PENDING);
    weft_mutex_unlock(&first);
    PROBE(mutex_lock_fn, &p);
    CHECK(weft_mutex_guard_held(&p.g));
    weft_mutex_unlock(&p.g);
}

/* barrier: a waiter released by the last arrival */
typedef struct barrier_probe {
    weft_barrier b;
    weft_barrier_wait_op op;
    int leader;
} barrier_probe;

static weft_poll barrier_wait_fn(void *arg, weft_cx *cx) {
    barrier_probe *p = arg;
    return weft_barrier_wait(&p->b, cx, &p->op, &p->leader);
}

static void barrier_released_waiter_counts(void) {
    setup s;
    setup_init(&s);
    barrier_probe p = {0};
    CHECK_EQ(weft_barrier_init(&p.b, 2), 0);
    CHECK_EQ(weft_barrier_wait(&p.b, &s.cx, &p.op, &p.leader), WEFT_PENDING);
    weft_barrier_wait_op last = {0};
    int leader = 0;
    CHECK_EQ(weft_barrier_wait(&p.b, &s.cx, &last, &leader), WEFT_READY);
    CHECK_EQ(leader, 1);
    PROBE(barrier_wait_fn, &p);
    CHECK_EQ(p.leader, 0);
    CHECK_EQ(atomic_load(&s.w.refs), 0);
}

/* cancellation token: a waiter woken by the cancel */
typedef struct cancel_probe {
    weft_cancel_token *t;
    weft_cancelled_op op;
} cancel_probe;

static weft_poll cancelled_fn(void *arg, weft_cx *cx) {
    cancel_probe *p = arg;
    return weft_cancel_token_cancelled(p->t, cx, &p->op);
}

static void cancel_woken_waiter_counts(void) {
    setup s;
    setup_init(&s);
    cancel_probe p = {0};
    CHECK_EQ(weft_cancel_token_new(&p.t), 0);
    CHECK_EQ(weft_cancel_token_cancelled(p.t, &s.cx, &p.op), WEFT_PENDING);
    weft_cancel_token_cancel(p.t);
    PROBE(cancelled_fn, &p);
    weft_cancel_token_drop(p.t);
    CHECK_EQ(atomic_load(&s.w.refs), 0);
}

/* notify: a waiter picked by notify_one, one woken by notify_waiters, and
 * a stored permit */
typedef struct notify_probe {
    weft_notify n;
    weft_notified_op op;
    int stored; /* notify_then_notified_fn: a permit is stored */
} notify_probe;

static weft_poll notified_fn(void *arg, weft_cx *cx) {
    notify_probe *p = arg;
    return weft_notified(&p->n, cx, &p->op);
}

static void notify_woken_waiters_count(void) {
    setup s;
    setup_init(&s);
    notify_probe p = {0};
    weft_notify_init(&p.n);
    CHECK_EQ(weft_notified(&p.n, &s.cx, &p.op), WEFT_PENDING);
    weft_notify_one(&p.n);
    PROBE(notified_fn, &p);
    CHECK_EQ(weft_notified(&p.n, &s.cx, &p.op), WEFT_PENDING);
    weft_notify_waiters(&p.n);
    PROBE(notified_fn, &p);
    weft_notify_one(&p.n); /* nobody waits: stored */
    PROBE(notified_fn, &p);
    CHECK_EQ(atomic_load(&s.w.refs), 0);
}

/* once cell: already set, and a waiter woken by the initializer finishing */
typedef struct once_probe {
    weft_once_cell c;
    weft_once_op op;
    int status;
} once_probe;

static weft_poll once_fn(void *arg, weft_cx *cx) {
    once_probe *p = arg;
    return weft_once_cell_get_or_begin(&p->c, cx, &p->op, &p->status);
}

static void once_cell_set_counts(void) {
    setup s;
    setup_init(&s);
    static int value = 42;
    once_probe p = {0};
    weft_once_cell_init(&p.c);
    weft_once_op init = {0};
    int st = -1;
    CHECK_EQ(weft_once_cell_get_or_begin(&p.c, &s.cx, &init, &st), WEFT_READY);
    CHECK_EQ(st, WEFT_ONCE_INIT);
    CHECK_EQ(weft_once_cell_get_or_begin(&p.c, &s.cx, &p.op, &p.status), WEFT_PENDING);
    weft_once_cell_finish(&init, &value); /* wakes p.op */
    PROBE(once_fn, &p);
    CHECK_EQ(p.status, WEFT_ONCE_SET);
    if (test_failed()) return;
    p.status = -1;
    PROBE(once_fn, &p); /* the fast path */
    CHECK_EQ(p.status, WEFT_ONCE_SET);
    CHECK(weft_once_cell_get(&p.c) == &value);
    CHECK_EQ(atomic_load(&s.w.refs), 0);
}

/* mpsc: a waiting sender granted a slot, and a waiting reserve */
typedef struct mpsc_probe {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    weft_mpsc_send_op op;
    int value, status;
} mpsc_probe;

static weft_poll mpsc_send_fn(void *arg, weft_cx *cx) {
    mpsc_probe *p = arg;
    return weft_mpsc_send(p->tx, cx, &p->op, &p->value, &p->status);
}

static weft_poll mpsc_reserve_fn(void *arg, weft_cx *cx) {
    mpsc_probe *p = arg;
    return weft_mpsc_reserve(p->tx, cx, &p->op, &p->status);
}

static weft_poll mpsc_recv_fn(void *arg, weft_cx *cx) {
    mpsc_probe *p = arg;
    return weft_mpsc_recv(p->rx, cx, &p->value, &p->status);
}

static void mpsc_granted_sender_and_recv_count(void) {
    setup s;
    setup_init(&s);
    mpsc_probe p = {.value = 7};
    CHECK_EQ(weft_mpsc_new(&p.tx, &p.rx, 1, sizeof(int), NULL), 0);
    int one = 1, got = 0;
    CHECK_EQ(weft_mpsc_try_send(p.tx, &one), 0);
    CHECK_EQ(weft_mpsc_send(p.tx, &s.cx, &p.op, &p.value, &p.status), WEFT_PENDING);
    CHECK_EQ(weft_mpsc_try_recv(p.rx, &got), 0); /* grants the slot to p.op */
    PROBE(mpsc_send_fn, &p);
    CHECK_EQ(p.status, 0);
    if (test_failed()) return;
    CHECK_EQ(weft_mpsc_reserve(p.tx, &s.cx, &p.op, &p.status), WEFT_PENDING);
    CHECK_EQ(weft_mpsc_try_recv(p.rx, &got), 0);
    CHECK_EQ(got, 7);
    PROBE(mpsc_reserve_fn, &p);
    CHECK_EQ(p.status, 0);
    CHECK_EQ(weft_mpsc_permit_send(p.tx, &p.op, &one), 0);
    PROBE(mpsc_recv_fn, &p);
    CHECK_EQ(p.status, 0);
    CHECK_EQ(p.value, 1);
    weft_mpsc_tx_drop(p.tx);
    PROBE(mpsc_recv_fn, &p);
    CHECK_EQ(p.status, -EPIPE);
    weft_mpsc_rx_drop(p.rx);
    CHECK_EQ(atomic_load(&s.w.refs), 0);
}

/* oneshot: recv of a sent value, closed() once the receiver is gone */
typedef struct oneshot_probe {
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    int value, status;
} oneshot_probe;

static weft_poll oneshot_recv_fn(void *arg, weft_cx *cx) {
    oneshot_probe *p = arg;
    return weft_oneshot_recv(p->rx, cx, &p->value, &p->status);
}

static weft_poll oneshot_closed_fn(void *arg, weft_cx *cx) {
    oneshot_probe *p = arg;
    return weft_oneshot_closed(p->tx, cx);
}

static void oneshot_recv_and_closed_count(void) {
    oneshot_probe p = {0};
    CHECK_EQ(weft_oneshot_new(&p.tx, &p.rx, sizeof(int), NULL), 0);
    int v = 5;
    CHECK_EQ(weft_oneshot_send(p.tx, &v), 0);
    PROBE(oneshot_recv_fn, &p);
    CHECK_EQ(p.status, 0);
    CHECK_EQ(p.value, 5);
    weft_oneshot_rx_drop(p.rx);
    if (test_failed()) return;
    CHECK_EQ(weft_oneshot_new(&p.tx, &p.rx, sizeof(int), NULL), 0);
    weft_oneshot_rx_close(p.rx);
    PROBE(oneshot_closed_fn, &p);
    weft_oneshot_tx_drop(p.tx);
    weft_oneshot_rx_drop(p.rx);
}

/* broadcast and watch: a value, and the closed channel */
typedef struct bw_probe {
    weft_broadcast_tx *btx;
    weft_broadcast_rx *brx;
    weft_watch_tx *wtx;
    weft_watch_rx *wrx;
    int value, status;
} bw_probe;

static weft_poll broadcast_recv_fn(void *arg, weft_cx *cx) {
    bw_probe *p = arg;
    return weft_broadcast_recv(p->brx, cx, &p->value, NULL, &p->status);
}

static weft_poll watch_changed_fn(void *arg, weft_cx *cx) {
    bw_probe *p = arg;
    return weft_watch_changed(p->wrx, cx, &p->status);
}

static weft_poll watch_tx_closed_fn(void *arg, weft_cx *cx) {
    bw_probe *p = arg;
    return weft_watch_tx_closed(p->wtx, cx);
}

static void broadcast_and_watch_count(void) {
    bw_probe p = {0};
    int v = 3;
    CHECK_EQ(weft_broadcast_new(&p.btx, &p.brx, 4, sizeof(int), NULL, NULL), 0);
    CHECK_EQ(weft_broadcast_send(p.btx, &v), 1); /* one receiver */
    PROBE(broadcast_recv_fn, &p);
    CHECK_EQ(p.status, 0);
    CHECK_EQ(p.value, 3);
    weft_broadcast_tx_drop(p.btx);
    PROBE(broadcast_recv_fn, &p);
    CHECK_EQ(p.status, -EPIPE);
    weft_broadcast_rx_drop(p.brx);
    if (test_failed()) return;
    CHECK_EQ(weft_watch_new(&p.wtx, &p.wrx, sizeof(int), &v, NULL, NULL), 0);
    CHECK(weft_watch_send(p.wtx, &v) >= 0);
    PROBE(watch_changed_fn, &p);
    CHECK_EQ(p.status, 0);
    weft_watch_rx_drop(p.wrx);
    PROBE(watch_tx_closed_fn, &p);
    weft_watch_tx_drop(p.wtx);
}

/* weft_join of a task that finished */
typedef struct nothing {
    weft_frame fr;
} nothing;

weft_async_fn(nothing_poll, nothing) {
    weft_async (self) {
    }
    return WEFT_READY;
}

typedef struct join_probe {
    weft_task *h;
    int status;
} join_probe;

static weft_poll join_fn(void *arg, weft_cx *cx) {
    join_probe *p = arg;
    return weft_join(p->h, cx, &p->status);
}

typedef struct joiner {
    weft_frame fr;
    weft_task *h;
} joiner;

weft_async_fn(joiner_poll, joiner) {
    weft_async (self) {
        weft_await(weft_join(self->h, cx, NULL));
    }
    return WEFT_READY;
}

/* Spawn a task that does nothing and run it to completion; its handle. */
static weft_task *finished_task(weft_rt *rt) {
    nothing *n;
    MUST(weft_task_new(&n, rt, nothing_poll));
    if (!n) return NULL;
    joiner j = {.h = weft_task_spawn(n)};
    if (weft_block_on(rt, joiner_poll, &j) != 0 || !weft_task_is_finished(j.h)) {
        weft_task_release(j.h);
        return NULL;
    }
    return j.h;
}

static void join_of_finished_task_counts(void) {
    weft_rt *rt = new_coop_rt();
    CHECK(rt);
    join_probe p = {finished_task(rt), -1};
    CHECK(p.h);
    PROBE(join_fn, &p);
    CHECK_EQ(p.status, 0);
    weft_task_release(p.h);
    weft_rt_free(rt);
}

/* ---- loops ---------------------------------------------------------------------- */

/* Call fn(arg) until the flag task has run (or LIMIT calls). */
typedef struct loop {
    weft_frame fr;
    probe_fn fn;
    void *arg;
    weft_task *other;
    int flag, calls;
} loop;

weft_async_fn(loop_poll, loop) {
    weft_async (self) {
        self->other = spawn_flagger(cx->rt, &self->flag);
        if (!self->other) weft_return;
        while (!self->flag && self->calls < LIMIT) {
            weft_await(self->fn(self->arg, cx));
            self->calls++;
        }
        weft_await(weft_join(self->other, cx, NULL));
    weft_finally:
        if (self->other) weft_task_release(self->other);
    }
    return WEFT_READY;
}

/* The loop on rt (NULL: a fresh runtime) must stop after BUDGET + 1 calls. */
static void run_loop_on(weft_rt *rt, probe_fn fn, void *arg) {
    weft_rt *own = rt ? NULL : new_coop_rt();
    loop l = {.fn = fn, .arg = arg};
    int r = weft_block_on(rt ? rt : own, loop_poll, &l);
    weft_rt_free(own);
    CHECK_EQ(r, 0);
    CHECK_EQ(l.flag, 1);
    CHECK_EQ(l.calls, BUDGET + 1);
}

static void run_loop(probe_fn fn, void *arg) { run_loop_on(NULL, fn, arg); }

static void mpsc_recv_on_closed_channel_loop_yields(void) {
    mpsc_probe p = {0};
    CHECK_EQ(weft_mpsc_new(&p.tx, &p.rx, 4, sizeof(int), NULL), 0);
    weft_mpsc_tx_drop(p.tx);
    run_loop(mpsc_recv_fn, &p);
    CHECK_EQ(p.status, -EPIPE);
    weft_mpsc_rx_drop(p.rx);
}

static void mpsc_send_on_closed_channel_loop_yields(void) {
    mpsc_probe p = {0};
    CHECK_EQ(weft_mpsc_new(&p.tx, &p.rx, 4, sizeof(int), NULL), 0);
    weft_mpsc_rx_drop(p.rx);
    run_loop(mpsc_send_fn, &p);
    CHECK_EQ(p.status, -EPIPE);
    weft_mpsc_tx_drop(p.tx);
}

static void oneshot_recv_after_close_loop_yields(void) {
    oneshot_probe p = {0};
    CHECK_EQ(weft_oneshot_new(&p.tx, &p.rx, sizeof(int), NULL), 0);
    weft_oneshot_tx_drop(p.tx);
    run_loop(oneshot_recv_fn, &p);
    CHECK_EQ(p.status, -EPIPE);
    weft_oneshot_rx_drop(p.rx);
}

static void oneshot_closed_loop_yields(void) {
    oneshot_probe p = {0};
    CHECK_EQ(weft_oneshot_new(&p.tx, &p.rx, sizeof(int), NULL), 0);
    weft_oneshot_rx_drop(p.rx);
    run_loop(oneshot_closed_fn, &p);
    weft_oneshot_tx_drop(p.tx);
}

static void broadcast_recv_on_closed_channel_loop_yields(void) {
    bw_probe p = {0};
    CHECK_EQ(weft_broadcast_new(&p.btx, &p.brx, 4, sizeof(int), NULL, NULL), 0);
    weft_broadcast_tx_drop(p.btx);
    run_loop(broadcast_recv_fn, &p);
    CHECK_EQ(p.status, -EPIPE);
    weft_broadcast_rx_drop(p.brx);
}

static weft_poll broadcast_recv_null_fn(void *arg, weft_cx *cx) {
    bw_probe *p = arg;
    return weft_broadcast_recv(p->brx, cx, NULL, NULL, &p->status);
}

/* A bad argument fails at once: that completion counts too. */
static void broadcast_recv_bad_argument_loop_yields(void) {
    bw_probe p = {0};
    CHECK_EQ(weft_broadcast_new(&p.btx, &p.brx, 4, sizeof(int), NULL, NULL), 0);
    run_loop(broadcast_recv_null_fn, &p);
    CHECK_EQ(p.status, -EINVAL);
    weft_broadcast_rx_drop(p.brx);
    weft_broadcast_tx_drop(p.btx);
}

static void watch_changed_on_closed_channel_loop_yields(void) {
    bw_probe p = {0};
    int v = 1;
    CHECK_EQ(weft_watch_new(&p.wtx, &p.wrx, sizeof(int), &v, NULL, NULL), 0);
    weft_watch_tx_drop(p.wtx);
    run_loop(watch_changed_fn, &p);
    CHECK_EQ(p.status, -EPIPE);
    weft_watch_rx_drop(p.wrx);
}

static void watch_tx_closed_loop_yields(void) {
    bw_probe p = {0};
    int v = 1;
    CHECK_EQ(weft_watch_new(&p.wtx, &p.wrx, sizeof(int), &v, NULL, NULL), 0);
    weft_watch_rx_drop(p.wrx);
    run_loop(watch_tx_closed_fn, &p);
    weft_watch_tx_drop(p.wtx);
}

static void semaphore_acquire_on_closed_semaphore_loop_yields(void) {
    sem_probe p = {0};
    weft_semaphore_init(&p.sem, 1);
    weft_semaphore_close(&p.sem);
    run_loop(sem_acquire_fn, &p);
    CHECK_EQ(p.status, -EPIPE);
}

static weft_poll sem_acquire_too_many_fn(void *arg, weft_cx *cx) {
    sem_probe *p = arg;
    return weft_semaphore_acquire_many(&p->sem, cx, &p->op, WEFT_SEMAPHORE_MAX_PERMITS + 1,
                                       &p->status);
}

static void semaphore_acquire_bad_argument_loop_yields(void) {
    sem_probe p = {0};
    weft_semaphore_init(&p.sem, 1);
    run_loop(sem_acquire_too_many_fn, &p);
    CHECK_EQ(p.status, -EINVAL);
}

static weft_poll mutex_lock_unlock_fn(void *arg, weft_cx *cx) {
    mutex_probe *p = arg;
    weft_poll r = weft_mutex_lock(&p->m, cx, &p->g);
    if (cx && r == WEFT_READY) weft_mutex_unlock(&p->g);
    return r;
}

static void mutex_lock_unlock_loop_yields(void) {
    mutex_probe p = {0};
    weft_mutex_init(&p.m);
    run_loop(mutex_lock_unlock_fn, &p);
}

static void once_cell_set_loop_yields(void) {
    static int value = 1;
    once_probe p = {0};
    weft_once_cell_init(&p.c);
    CHECK_EQ(weft_once_cell_set(&p.c, &value), 0);
    run_loop(once_fn, &p);
    CHECK_EQ(p.status, WEFT_ONCE_SET);
}

/* Store a permit (once per wait), then take it. */
static weft_poll notify_then_notified_fn(void *arg, weft_cx *cx) {
    notify_probe *p = arg;
    if (cx && !p->stored) {
        weft_notify_one(&p->n);
        p->stored = 1;
    }
    weft_poll r = weft_notified(&p->n, cx, &p->op);
    if (cx && r == WEFT_READY) p->stored = 0;
    return r;
}

static void notify_permit_loop_yields(void) {
    notify_probe p = {0};
    weft_notify_init(&p.n);
    run_loop(notify_then_notified_fn, &p);
}

static void barrier_of_one_loop_yields(void) {
    barrier_probe p = {0};
    CHECK_EQ(weft_barrier_init(&p.b, 1), 0);
    run_loop(barrier_wait_fn, &p);
    CHECK_EQ(p.leader, 1);
}

static void cancelled_token_loop_yields(void) {
    cancel_probe p = {0};
    CHECK_EQ(weft_cancel_token_new(&p.t), 0);
    weft_cancel_token_cancel(p.t);
    run_loop(cancelled_fn, &p);
    weft_cancel_token_drop(p.t);
}

static void join_of_finished_task_loop_yields(void) {
    weft_rt *rt = new_coop_rt();
    CHECK(rt);
    join_probe p = {finished_task(rt), -1};
    CHECK(p.h);
    run_loop_on(rt, join_fn, &p);
    weft_task_release(p.h);
    weft_rt_free(rt);
}

typedef struct sleep_probe {
    weft_sleep_op op;
} sleep_probe;

static weft_poll sleep_zero_fn(void *arg, weft_cx *cx) {
    sleep_probe *p = arg;
    return weft_sleep(&p->op, cx, 0);
}

static void sleep_of_zero_loop_yields(void) {
    sleep_probe p = {{0}};
    run_loop(sleep_zero_fn, &p);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(semaphore_granted_waiter_counts),
                         TEST(semaphore_closed_waiter_counts),
                         TEST(mutex_handed_over_counts),
                         TEST(barrier_released_waiter_counts),
                         TEST(cancel_woken_waiter_counts),
                         TEST(notify_woken_waiters_count),
                         TEST(once_cell_set_counts),
                         TEST(mpsc_granted_sender_and_recv_count),
                         TEST(oneshot_recv_and_closed_count),
                         TEST(broadcast_and_watch_count),
                         TEST(join_of_finished_task_counts),
                         TEST(mpsc_recv_on_closed_channel_loop_yields),
                         TEST(mpsc_send_on_closed_channel_loop_yields),
                         TEST(oneshot_recv_after_close_loop_yields),
                         TEST(oneshot_closed_loop_yields),
                         TEST(broadcast_recv_on_closed_channel_loop_yields),
                         TEST(broadcast_recv_bad_argument_loop_yields),
                         TEST(watch_changed_on_closed_channel_loop_yields),
                         TEST(watch_tx_closed_loop_yields),
                         TEST(semaphore_acquire_on_closed_semaphore_loop_yields),
                         TEST(semaphore_acquire_bad_argument_loop_yields),
                         TEST(mutex_lock_unlock_loop_yields),
                         TEST(once_cell_set_loop_yields),
                         TEST(notify_permit_loop_yields),
                         TEST(barrier_of_one_loop_yields),
                         TEST(cancelled_token_loop_yields),
                         TEST(join_of_finished_task_loop_yields),
                         TEST(sleep_of_zero_loop_yields),
                         {0},
                     });
}
