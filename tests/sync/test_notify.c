/*
 * tests/sync/test_notify.c - Notify: notify_one, notify_waiters, permits,
 * enable, cancel safety, threads.
 */
#include <weft.h>

#include "sync_util.h"
#include "test.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>


/* Poll op by hand with waker w. */
static weft_poll poll_op(weft_notify *n, cwaker *w, weft_notified_op *op) {
    weft_cx cx = weft_cx_manual(&w->base);
    return weft_notified(n, &cx, op);
}

static void cancel_op(weft_notify *n, weft_notified_op *op) { (void)weft_notified(n, NULL, op); }

/* 1 when a permit was stored (it is consumed), else 0 (nothing is left). */
static int take_permit(weft_notify *n) {
    cwaker w;
    cw_init(&w);
    weft_notified_op op = {0};
    int got = poll_op(n, &w, &op) == WEFT_READY;
    if (!got) cancel_op(n, &op);
    return got;
}

/* ---- frames ------------------------------------------------------------- */

/* Waits once; logs its id on completion; posts *parked_sem when it parks. */
typedef struct waiter {
    weft_frame fr;
    weft_notify *n;
    weft_notified_op op;
    int id, done, flagged;
    int *log, *log_n;
    sem_t *parked_sem;
} waiter;

/* weft_notified, announcing (once) that the op is queued. */
static weft_poll notified_announced(waiter *self, weft_cx *cx) {
    weft_poll r = weft_notified(self->n, cx, &self->op);
    if (cx && r == WEFT_PENDING && !self->flagged) {
        self->flagged = 1;
        if (self->parked_sem) sem_post(self->parked_sem);
    }
    return r;
}

weft_async_fn(waiter_poll, waiter) {
    weft_async (self) {
        weft_await(notified_announced(self, cx));
        self->done = 1;
        if (self->log) self->log[(*self->log_n)++] = self->id;
    }
    return WEFT_READY;
}

static weft_task *spawn_waiter(weft_rt *rt, weft_notify *n, int id, int *log, int *log_n,
                               sem_t *parked_sem) {
    waiter *w;
    if (weft_task_new(&w, rt, waiter_poll) != 0) return NULL;
    w->n = n;
    w->id = id;
    w->log = log;
    w->log_n = log_n;
    w->parked_sem = parked_sem;
    return weft_task_spawn(w);
}

static waiter *waiter_of(weft_task *h) { return weft_task_frame(h); }

/* Spawns a victim before block_on; this frame lets it park, then aborts it. */
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

/* ---- notify_one and the permit ------------------------------------------ */

typedef struct one_test {
    weft_frame fr;
    weft_notify n;
    weft_task *h[3];
    int i, k, before, parked_before, done_before, log[3], log_n, permit_after;
} one_test;

weft_async_fn(one_wakes_poll, one_test) {
    weft_async (self) {
        self->h[0] = spawn_waiter(cx->rt, &self->n, 0, NULL, NULL, NULL);
        weft_yield(); /* it parks */
        self->parked_before = waiter_of(self->h[0])->flagged;
        self->done_before = waiter_of(self->h[0])->done;
        weft_notify_one(&self->n);
        weft_await(weft_join(self->h[0], cx, NULL));
        self->permit_after = take_permit(&self->n);
        weft_task_release(self->h[0]);
    }
    return WEFT_READY;
}

static void notify_one_wakes_a_waiting_task(void) {
    weft_rt *rt = new_rt();
    one_test t = {0};
    weft_notify_init(&t.n);
    CHECK_EQ(weft_block_on(rt, one_wakes_poll, &t), 0);
    CHECK_EQ(t.parked_before, 1);
    CHECK_EQ(t.done_before, 0);
    CHECK_EQ(t.permit_after, 0); /* the wake-up was used, not stored */
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

weft_async_fn(permit_first_poll, one_test) {
    weft_async (self) {
        weft_notify_one(&self->n); /* nobody waits: stored */
        self->h[0] = spawn_waiter(cx->rt, &self->n, 0, NULL, NULL, NULL);
        weft_await(weft_join(self->h[0], cx, NULL));
        self->parked_before = waiter_of(self->h[0])->flagged;
        self->permit_after = take_permit(&self->n);
        weft_task_release(self->h[0]);
    }
    return WEFT_READY;
}

static void notify_one_without_waiters_stores_a_permit_for_the_next_wait(void) {
    weft_rt *rt = new_rt();
    one_test t = {0};
    weft_notify_init(&t.n);
    CHECK_EQ(weft_block_on(rt, permit_first_poll, &t), 0);
    CHECK_EQ(t.parked_before, 0); /* completed at once */
    CHECK_EQ(t.permit_after, 0);  /* and consumed the permit */
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

static void notify_permit_is_consumed_by_one_notified(void) {
    weft_notify n;
    weft_notify_init(&n);
    cwaker w;
    cw_init(&w);
    weft_notified_op op = {0};
    weft_notify_one(&n);
    CHECK_EQ(poll_op(&n, &w, &op), WEFT_READY);
    CHECK_EQ(atomic_load(&w.refs), 0);
    /* the op is idle again: the next wait on it is a new one */
    CHECK_EQ(poll_op(&n, &w, &op), WEFT_PENDING);
    CHECK_EQ(atomic_load(&w.refs), 1);
    cancel_op(&n, &op);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(atomic_load(&w.wakes), 0);
}

static void notify_permits_do_not_accumulate(void) {
    weft_notify n;
    weft_notify_init(&n);
    cwaker w1, w2;
    cw_init(&w1);
    cw_init(&w2);
    weft_notified_op op1 = {0}, op2 = {0};
    weft_notify_one(&n);
    weft_notify_one(&n);
    CHECK_EQ(poll_op(&n, &w1, &op1), WEFT_READY);
    CHECK_EQ(poll_op(&n, &w2, &op2), WEFT_PENDING); /* the second one waits */
    cancel_op(&n, &op2);
    CHECK_EQ(atomic_load(&w2.refs), 0);
}

static void notify_one_wakes_only_the_oldest_waiter(void) {
    weft_notify n;
    weft_notify_init(&n);
    cwaker w[3];
    weft_notified_op op[3];
    memset(op, 0, sizeof op);
    for (int i = 0; i < 3; i++) {
        cw_init(&w[i]);
        CHECK_EQ(poll_op(&n, &w[i], &op[i]), WEFT_PENDING);
    }
    weft_notify_one(&n);
    CHECK_EQ(atomic_load(&w[0].wakes), 1);
    CHECK_EQ(atomic_load(&w[1].wakes), 0);
    CHECK_EQ(atomic_load(&w[2].wakes), 0);
    CHECK_EQ(atomic_load(&w[0].refs), 0); /* the wake consumed its clone */
    CHECK_EQ(poll_op(&n, &w[0], &op[0]), WEFT_READY);
    CHECK_EQ(poll_op(&n, &w[1], &op[1]), WEFT_PENDING);
    CHECK_EQ(poll_op(&n, &w[2], &op[2]), WEFT_PENDING);
    cancel_op(&n, &op[1]);
    cancel_op(&n, &op[2]);
    CHECK_EQ(atomic_load(&w[1].refs), 0);
    CHECK_EQ(atomic_load(&w[2].refs), 0);
    CHECK_EQ(take_permit(&n), 0);
}

static void notify_one_wakes_waiters_in_fifo_order(void) {
    weft_notify n;
    weft_notify_init(&n);
    cwaker w[4];
    weft_notified_op op[4];
    memset(op, 0, sizeof op);
    /* queue in the order 2, 0, 3, 1 */
    static const int order[4] = {2, 0, 3, 1};
    for (int i = 0; i < 4; i++) cw_init(&w[i]);
    for (int i = 0; i < 4; i++) CHECK_EQ(poll_op(&n, &w[order[i]], &op[order[i]]), WEFT_PENDING);
    for (int i = 0; i < 4; i++) {
        weft_notify_one(&n);
        for (int j = 0; j < 4; j++) {
            int woken = 0;
            for (int k = 0; k <= i; k++) woken |= order[k] == j;
            CHECK_EQ(atomic_load(&w[j].wakes), woken);
        }
        CHECK_EQ(poll_op(&n, &w[order[i]], &op[order[i]]), WEFT_READY);
    }
    CHECK_EQ(take_permit(&n), 0);
    for (int i = 0; i < 4; i++) CHECK_EQ(atomic_load(&w[i].refs), 0);
}

weft_async_fn(fifo_tasks_poll, one_test) {
    weft_async (self) {
        for (self->i = 0; self->i < 3; self->i++)
            self->h[self->i] = spawn_waiter(cx->rt, &self->n, self->i, self->log, &self->log_n,
                                            NULL);
        weft_yield(); /* all three park, in spawn order */
        for (self->i = 0; self->i < 3; self->i++) {
            self->before = self->log_n;
            weft_notify_one(&self->n);
            /* the woken task is queued locally: a few turns let it run */
            for (self->k = 0; self->k < 100 && self->log_n == self->before; self->k++)
                weft_yield();
            if (self->log_n != self->before + 1) break;
        }
        for (self->i = 0; self->i < 3; self->i++) {
            weft_task_abort(self->h[self->i]); /* no-op for finished ones */
            weft_await(weft_join(self->h[self->i], cx, NULL));
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void notify_one_resumes_waiting_tasks_in_fifo_order(void) {
    weft_rt *rt = new_rt();
    one_test t = {0};
    weft_notify_init(&t.n);
    CHECK_EQ(weft_block_on(rt, fifo_tasks_poll, &t), 0);
    CHECK_EQ(t.log_n, 3);
    CHECK_EQ(t.log[0], 0);
    CHECK_EQ(t.log[1], 1);
    CHECK_EQ(t.log[2], 2);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

/* A re-poll with another waker replaces the stored one (spurious polls). */
static void notify_waiter_repolled_with_new_waker_wakes_the_new_one(void) {
    weft_notify n;
    weft_notify_init(&n);
    cwaker a, b;
    cw_init(&a);
    cw_init(&b);
    weft_notified_op op = {0};
    CHECK_EQ(poll_op(&n, &a, &op), WEFT_PENDING);
    CHECK_EQ(poll_op(&n, &a, &op), WEFT_PENDING);
    CHECK_EQ(atomic_load(&a.refs), 1); /* the same waker is not cloned again */
    CHECK_EQ(poll_op(&n, &b, &op), WEFT_PENDING);
    CHECK_EQ(atomic_load(&a.refs), 0);
    CHECK_EQ(atomic_load(&b.refs), 1);
    weft_notify_one(&n);
    CHECK_EQ(atomic_load(&a.wakes), 0);
    CHECK_EQ(atomic_load(&b.wakes), 1);
    CHECK_EQ(poll_op(&n, &b, &op), WEFT_READY);
    CHECK_EQ(atomic_load(&b.refs), 0);
    CHECK_EQ(take_permit(&n), 0);
}

/* ---- notify_waiters ----------------------------------------------------- */

weft_async_fn(waiters_wake_all_poll, one_test) {
    weft_async (self) {
        for (self->i = 0; self->i < 3; self->i++)
            self->h[self->i] = spawn_waiter(cx->rt, &self->n, self->i, self->log, &self->log_n,
                                            NULL);
        weft_yield(); /* all three park */
        self->done_before = self->log_n;
        weft_notify_waiters(&self->n);
        for (self->i = 0; self->i < 3; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            weft_task_release(self->h[self->i]);
        }
        self->permit_after = take_permit(&self->n);
    }
    return WEFT_READY;
}

static void notify_waiters_wakes_every_waiting_task(void) {
    weft_rt *rt = new_rt();
    one_test t = {0};
    weft_notify_init(&t.n);
    CHECK_EQ(weft_block_on(rt, waiters_wake_all_poll, &t), 0);
    CHECK_EQ(t.done_before, 0);
    CHECK_EQ(t.log_n, 3);
    CHECK_EQ(t.permit_after, 0);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

static void notify_waiters_wakes_more_waiters_than_a_batch(void) {
    enum { N = 100 };
    weft_notify n;
    weft_notify_init(&n);
    static cwaker w[N];
    static weft_notified_op op[N];
    for (int i = 0; i < N; i++) {
        cw_init(&w[i]);
        CHECK_EQ(poll_op(&n, &w[i], &op[i]), WEFT_PENDING);
    }
    weft_notify_waiters(&n);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(atomic_load(&w[i].wakes), 1);
        CHECK_EQ(atomic_load(&w[i].refs), 0);
        CHECK_EQ(poll_op(&n, &w[i], &op[i]), WEFT_READY);
    }
    CHECK_EQ(take_permit(&n), 0);
}

static void notify_waiters_stores_no_permit(void) {
    weft_notify n;
    weft_notify_init(&n);
    weft_notify_waiters(&n); /* nobody waits */
    CHECK_EQ(take_permit(&n), 0);
    cwaker w;
    cw_init(&w);
    weft_notified_op op = {0};
    CHECK_EQ(poll_op(&n, &w, &op), WEFT_PENDING);
    weft_notify_waiters(&n); /* somebody waits */
    CHECK_EQ(poll_op(&n, &w, &op), WEFT_READY);
    CHECK_EQ(take_permit(&n), 0);
}

static void notify_waiters_does_not_wake_later_waiters(void) {
    weft_notify n;
    weft_notify_init(&n);
    cwaker a, b;
    cw_init(&a);
    cw_init(&b);
    weft_notified_op opa = {0}, opb = {0};
    CHECK_EQ(poll_op(&n, &a, &opa), WEFT_PENDING);
    weft_notify_waiters(&n);
    CHECK_EQ(poll_op(&n, &b, &opb), WEFT_PENDING); /* came after the call */
    CHECK_EQ(poll_op(&n, &a, &opa), WEFT_READY);
    CHECK_EQ(atomic_load(&b.wakes), 0);
    cancel_op(&n, &opb);
    CHECK_EQ(atomic_load(&b.refs), 0);
}

static void notify_waiters_counts_an_enabled_op_not_yet_polled(void) {
    weft_notify n;
    weft_notify_init(&n);
    cwaker w;
    cw_init(&w);
    weft_notified_op op = {0};
    weft_notified_enable(&op, &n);
    weft_notify_waiters(&n);
    CHECK_EQ(poll_op(&n, &w, &op), WEFT_READY);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(take_permit(&n), 0);
}

static void notify_waiters_before_enable_is_not_counted(void) {
    weft_notify n;
    weft_notify_init(&n);
    cwaker w;
    cw_init(&w);
    weft_notified_op op = {0};
    weft_notify_waiters(&n);
    weft_notified_enable(&op, &n);
    CHECK_EQ(poll_op(&n, &w, &op), WEFT_PENDING);
    weft_notify_waiters(&n); /* now it is waiting */
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(poll_op(&n, &w, &op), WEFT_READY);
    CHECK_EQ(atomic_load(&w.refs), 0);
}

static void notify_enabled_op_takes_a_stored_permit(void) {
    weft_notify n;
    weft_notify_init(&n);
    cwaker w;
    cw_init(&w);
    weft_notified_op op = {0};
    weft_notified_enable(&op, &n);
    weft_notify_one(&n);
    CHECK_EQ(poll_op(&n, &w, &op), WEFT_READY);
    CHECK_EQ(take_permit(&n), 0); /* consumed */
}

/* ---- cancel safety ------------------------------------------------------- */

static void notify_cancelled_waiter_picked_by_notify_one_passes_it_on(void) {
    weft_notify n;
    weft_notify_init(&n);
    cwaker a, b;
    cw_init(&a);
    cw_init(&b);
    weft_notified_op opa = {0}, opb = {0};
    CHECK_EQ(poll_op(&n, &a, &opa), WEFT_PENDING);
    CHECK_EQ(poll_op(&n, &b, &opb), WEFT_PENDING);
    weft_notify_one(&n);
    CHECK_EQ(atomic_load(&a.wakes), 1);
    CHECK_EQ(atomic_load(&b.wakes), 0);
    cancel_op(&n, &opa); /* dropped before it saw the notification */
    CHECK_EQ(atomic_load(&b.wakes), 1);
    CHECK_EQ(poll_op(&n, &b, &opb), WEFT_READY);
    CHECK_EQ(take_permit(&n), 0); /* passed on once, not also stored */
    CHECK_EQ(atomic_load(&a.refs), 0);
    CHECK_EQ(atomic_load(&b.refs), 0);
}

static void notify_cancelled_picked_waiter_stores_the_permit_when_alone(void) {
    weft_notify n;
    weft_notify_init(&n);
    cwaker a;
    cw_init(&a);
    weft_notified_op opa = {0};
    CHECK_EQ(poll_op(&n, &a, &opa), WEFT_PENDING);
    weft_notify_one(&n);
    cancel_op(&n, &opa);
    CHECK_EQ(atomic_load(&a.refs), 0);
    CHECK_EQ(take_permit(&n), 1);
    CHECK_EQ(take_permit(&n), 0);
}

static void notify_cancelled_waiter_leaves_no_node(void) {
    weft_notify n;
    weft_notify_init(&n);
    cwaker a, b;
    cw_init(&a);
    cw_init(&b);
    weft_notified_op opa = {0}, opb = {0};
    CHECK_EQ(poll_op(&n, &a, &opa), WEFT_PENDING);
    CHECK_EQ(poll_op(&n, &b, &opb), WEFT_PENDING);
    cancel_op(&n, &opa);
    CHECK_EQ(atomic_load(&a.refs), 0);
    weft_notify_one(&n); /* goes to b, not to the ghost of a */
    CHECK_EQ(atomic_load(&a.wakes), 0);
    CHECK_EQ(atomic_load(&b.wakes), 1);
    CHECK_EQ(poll_op(&n, &b, &opb), WEFT_READY);
    cancel_op(&n, &opb); /* dropping a finished op is harmless */
    weft_notify_one(&n); /* nobody left: stored, not swallowed */
    CHECK_EQ(atomic_load(&a.wakes), 0);
    CHECK_EQ(take_permit(&n), 1);
}

static void notify_cancel_after_notify_waiters_passes_nothing_on(void) {
    weft_notify n;
    weft_notify_init(&n);
    cwaker a, b;
    cw_init(&a);
    cw_init(&b);
    weft_notified_op opa = {0}, opb = {0};
    CHECK_EQ(poll_op(&n, &a, &opa), WEFT_PENDING);
    CHECK_EQ(poll_op(&n, &b, &opb), WEFT_PENDING);
    weft_notify_waiters(&n);
    cancel_op(&n, &opa);
    CHECK_EQ(atomic_load(&b.wakes), 1);
    CHECK_EQ(poll_op(&n, &b, &opb), WEFT_READY);
    CHECK_EQ(take_permit(&n), 0);
    CHECK_EQ(atomic_load(&a.refs), 0);
}

typedef struct handoff_test {
    weft_frame fr;
    weft_notify n;
    weft_task *a, *b;
    int a_status, a_done, b_done, permit_after;
} handoff_test;

weft_async_fn(handoff_poll, handoff_test) {
    weft_async (self) {
        self->a = spawn_waiter(cx->rt, &self->n, 0, NULL, NULL, NULL);
        self->b = spawn_waiter(cx->rt, &self->n, 1, NULL, NULL, NULL);
        weft_yield(); /* both wait, a first */
        weft_notify_one(&self->n); /* picks a and wakes it ... */
        weft_task_abort(self->a);  /* ... which is dropped before it runs */
        weft_await(weft_join(self->a, cx, &self->a_status));
        weft_await(weft_join(self->b, cx, NULL));
        self->a_done = waiter_of(self->a)->done;
        self->b_done = waiter_of(self->b)->done;
        self->permit_after = take_permit(&self->n);
        weft_task_release(self->a);
        weft_task_release(self->b);
    }
    return WEFT_READY;
}

static void notify_aborted_woken_task_passes_the_wakeup_to_the_next_task(void) {
    weft_rt *rt = new_rt();
    handoff_test t = {0};
    weft_notify_init(&t.n);
    CHECK_EQ(weft_block_on(rt, handoff_poll, &t), 0);
    CHECK_EQ(t.a_status, -ECANCELED);
    CHECK_EQ(t.a_done, 0);
    CHECK_EQ(t.b_done, 1);
    CHECK_EQ(t.permit_after, 0);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

static void notify_aborted_waiting_task_leaves_no_waker(void) {
    weft_rt *rt = new_rt();
    weft_notify n;
    weft_notify_init(&n);
    abort_test t = {.h = spawn_waiter(rt, &n, 0, NULL, NULL, NULL)};
    CHECK_EQ(weft_block_on(rt, abort_after_park_poll, &t), 0);
    CHECK_EQ(t.status, -ECANCELED);
    /* The notify no longer holds the victim's waker: its memory is gone. */
    CHECK_EQ(held(rt), 0);
    weft_notify_one(&n); /* no ghost waiter swallows it */
    CHECK_EQ(take_permit(&n), 1);
    weft_rt_free(rt);
}

/* ---- initialisation ----------------------------------------------------- */

static void notify_zero_initialised_works(void) {
    weft_notify n1, n2;
    memset(&n1, 0, sizeof n1);
    memset(&n2, 0, sizeof n2);
    /* first use: a notify_waiters, then a permit */
    weft_notify_waiters(&n1);
    CHECK_EQ(take_permit(&n1), 0);
    weft_notify_one(&n1);
    CHECK_EQ(take_permit(&n1), 1);
    /* first use: a waiter */
    cwaker w;
    cw_init(&w);
    weft_notified_op op = {0};
    CHECK_EQ(poll_op(&n2, &w, &op), WEFT_PENDING);
    weft_notify_one(&n2);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(poll_op(&n2, &w, &op), WEFT_READY);
    CHECK_EQ(take_permit(&n2), 0);
}

static void notify_static_initializer_and_init_work(void) {
    weft_notify a = WEFT_NOTIFY_INIT, b;
    memset(&b, 0xA5, sizeof b); /* garbage, then init */
    weft_notify_init(&b);
    weft_notify *ns[2] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        cwaker w;
        cw_init(&w);
        weft_notified_op op = {0};
        CHECK_EQ(take_permit(ns[i]), 0);
        CHECK_EQ(poll_op(ns[i], &w, &op), WEFT_PENDING);
        weft_notify_waiters(ns[i]);
        CHECK_EQ(poll_op(ns[i], &w, &op), WEFT_READY);
        weft_notify_one(ns[i]);
        CHECK_EQ(take_permit(ns[i]), 1);
    }
}

/* ---- threads ------------------------------------------------------------ */

typedef struct xthread {
    weft_notify *n;
    sem_t parked;
    int wait_for; /* parked waiters to wait for */
    int all;      /* notify_waiters instead of notify_one */
} xthread;

static void *notify_thread(void *p) {
    xthread *x = p;
    for (int i = 0; i < x->wait_for; i++) sem_wait(&x->parked);
    if (x->all)
        weft_notify_waiters(x->n);
    else
        weft_notify_one(x->n);
    return NULL;
}

static void notify_one_from_other_thread_wakes_parked_task(void) {
    weft_rt *rt = new_rt();
    weft_notify n;
    weft_notify_init(&n);
    xthread x = {.n = &n, .wait_for = 1};
    sem_init(&x.parked, 0, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, notify_thread, &x), 0);
    waiter w = {.n = &n, .parked_sem = &x.parked};
    CHECK_EQ(weft_block_on(rt, waiter_poll, &w), 0);
    pthread_join(th, NULL);
    CHECK_EQ(w.flagged, 1); /* it did park: the notify had to wake it */
    CHECK_EQ(w.done, 1);
    CHECK_EQ(take_permit(&n), 0);
    sem_destroy(&x.parked);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

typedef struct join_all {
    weft_frame fr;
    weft_notify *n;
    sem_t *parked;
    weft_task *h[4];
    int i, done;
} join_all;

weft_async_fn(join_all_poll, join_all) {
    weft_async (self) {
        for (self->i = 0; self->i < 4; self->i++)
            self->h[self->i] = spawn_waiter(cx->rt, self->n, self->i, NULL, NULL, self->parked);
        for (self->i = 0; self->i < 4; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            self->done += waiter_of(self->h[self->i])->done;
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void notify_waiters_from_other_thread_wakes_all_parked_tasks(void) {
    weft_rt *rt = new_rt();
    weft_notify n;
    weft_notify_init(&n);
    xthread x = {.n = &n, .wait_for = 4, .all = 1};
    sem_init(&x.parked, 0, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, notify_thread, &x), 0);
    join_all j = {.n = &n, .parked = &x.parked};
    CHECK_EQ(weft_block_on(rt, join_all_poll, &j), 0);
    pthread_join(th, NULL);
    CHECK_EQ(j.done, 4);
    CHECK_EQ(take_permit(&n), 0);
    sem_destroy(&x.parked);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

/*
 * Many waiting tasks, several threads calling notify_one at once: with every
 * waiter parked before the first call, each call wakes a different task.
 */
#define MANY_WAITERS 64
#define NOTIFIERS 4

typedef struct many_waiters {
    weft_frame fr;
    weft_notify *n;
    sem_t *parked;
    weft_task *h[MANY_WAITERS];
    int i, done;
} many_waiters;

weft_async_fn(many_waiters_poll, many_waiters) {
    weft_async (self) {
        for (self->i = 0; self->i < MANY_WAITERS; self->i++)
            self->h[self->i] = spawn_waiter(cx->rt, self->n, self->i, NULL, NULL, self->parked);
        for (self->i = 0; self->i < MANY_WAITERS; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            self->done += waiter_of(self->h[self->i])->done;
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

typedef struct many_notifiers {
    weft_notify *n;
    sem_t parked;
    pthread_barrier_t start;
} many_notifiers;

static void *notify_one_many_thread(void *p) {
    many_notifiers *m = p;
    pthread_barrier_wait(&m->start);
    for (int i = 0; i < MANY_WAITERS / NOTIFIERS; i++) weft_notify_one(m->n);
    return NULL;
}

static void *wait_parked_then_start_thread(void *p) {
    many_notifiers *m = p;
    for (int i = 0; i < MANY_WAITERS; i++) sem_wait(&m->parked);
    pthread_barrier_wait(&m->start);
    return NULL;
}

static void notify_one_from_many_threads_wakes_each_waiter_once(void) {
    weft_rt *rt = new_rt();
    weft_notify n;
    weft_notify_init(&n);
    many_notifiers m = {.n = &n};
    sem_init(&m.parked, 0, 0);
    pthread_barrier_init(&m.start, NULL, NOTIFIERS + 1);
    pthread_t th[NOTIFIERS + 1];
    for (int i = 0; i < NOTIFIERS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, notify_one_many_thread, &m), 0);
    CHECK_EQ(pthread_create(&th[NOTIFIERS], NULL, wait_parked_then_start_thread, &m), 0);
    many_waiters w = {.n = &n, .parked = &m.parked};
    CHECK_EQ(weft_block_on(rt, many_waiters_poll, &w), 0);
    for (int i = 0; i <= NOTIFIERS; i++) pthread_join(th[i], NULL);
    CHECK_EQ(w.done, MANY_WAITERS);
    CHECK_EQ(take_permit(&n), 0); /* none was lost to a permit */
    pthread_barrier_destroy(&m.start);
    sem_destroy(&m.parked);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

/*
 * Ping-pong: a thread calls notify_one, then waits for the task's ack before
 * the next one.  Whether each notify finds the task parked or stores the
 * permit for its next wait, every one of them is seen exactly once.
 */
#define PINGS 2000

typedef struct pong {
    weft_frame fr;
    weft_notify *n;
    weft_notified_op op;
    sem_t *ack;
    int count;
} pong;

weft_async_fn(pong_poll, pong) {
    weft_async (self) {
        while (self->count < PINGS) {
            weft_await(weft_notified(self->n, cx, &self->op));
            self->count++;
            sem_post(self->ack);
        }
    }
    return WEFT_READY;
}

typedef struct ping {
    weft_notify *n;
    sem_t ack;
} ping;

static void *ping_thread(void *p) {
    ping *x = p;
    for (int i = 0; i < PINGS; i++) {
        weft_notify_one(x->n);
        sem_wait(&x->ack);
    }
    return NULL;
}

static void notify_one_ping_pong_with_a_thread_loses_no_wakeup(void) {
    weft_rt *rt = new_rt();
    weft_notify n;
    weft_notify_init(&n);
    ping x = {.n = &n};
    sem_init(&x.ack, 0, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, ping_thread, &x), 0);
    pong p = {.n = &n, .ack = &x.ack};
    CHECK_EQ(weft_block_on(rt, pong_poll, &p), 0);
    pthread_join(th, NULL);
    CHECK_EQ(p.count, PINGS);
    CHECK_EQ(take_permit(&n), 0); /* none was delivered twice */
    sem_destroy(&x.ack);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

/*
 * The race: task A (and, in some iterations, task B behind it) waits; a
 * thread notifies while the runtime aborts A.  Every interleaving must give:
 *
 *   notify_one:     exactly one of {A completed, B woken, permit stored}, and
 *                   never the permit while B waits.  B being woken is seen
 *                   by a second notify_one turning into a permit.
 *   notify_waiters: B woken, no permit; A either way.
 *
 * and no task memory left behind (tasks_held back to the block_on root).
 */
#define RACE_ITERS 1000

typedef struct race_shared {
    weft_notify n;
    sem_t go, done;
    unsigned spin;
    int all, stop;
} race_shared;

static void *race_notifier(void *p) {
    race_shared *s = p;
    for (;;) {
        sem_wait(&s->go);
        if (s->stop) return NULL;
        spin(s->spin);
        if (s->all)
            weft_notify_waiters(&s->n);
        else
            weft_notify_one(&s->n);
        sem_post(&s->done);
    }
}

typedef struct race_test {
    weft_frame fr;
    race_shared *s;
    weft_task *a, *b;
    uint64_t rng;
    int i, k, yields, late, with_b;
    int a_done, p1, p2;
    int lost, doubled, leaks, a_won, b_won, stored;
} race_test;

weft_async_fn(race_test_poll, race_test) {
    weft_async (self) {
        for (self->i = 0; self->i < RACE_ITERS; self->i++) {
            {
                uint64_t x = test_rand(&self->rng);
                self->with_b = (int)(x & 1);
                self->late = (int)((x >> 1) % 3) == 0;
                self->yields = (int)((x >> 8) % 40);
                self->s->spin = (unsigned)((x >> 16) % 2000);
            }
            self->a = spawn_waiter(cx->rt, &self->s->n, 0, NULL, NULL, NULL);
            self->b = self->with_b ? spawn_waiter(cx->rt, &self->s->n, 1, NULL, NULL, NULL) : NULL;
            weft_yield(); /* they park, a first */
            sem_post(&self->s->go);
            if (self->late) sem_wait(&self->s->done); /* the notify is over */
            for (self->k = 0; self->k < self->yields; self->k++) weft_yield();
            spin((unsigned)(test_rand(&self->rng) % 2000));
            weft_task_abort(self->a);
            weft_await(weft_join(self->a, cx, NULL));
            if (!self->late) sem_wait(&self->s->done);
            self->a_done = waiter_of(self->a)->done;
            self->p1 = take_permit(&self->s->n);
            self->p2 = 0;
            if (self->b) {
                /* a second notification: b takes it unless the first one
                 * already reached b, in which case it becomes the permit */
                weft_notify_one(&self->s->n);
                weft_await(weft_join(self->b, cx, NULL));
                weft_task_release(self->b);
                self->b = NULL;
                self->p2 = take_permit(&self->s->n);
            }
            weft_task_release(self->a);
            if (!self->s->all) {
                int delivered = self->a_done + self->p1 + self->p2;
                if (delivered < 1) self->lost++;
                if (delivered > 1 || (self->with_b && self->p1)) self->doubled++;
            } else {
                if (self->p1) self->doubled++;              /* stored a permit */
                if (self->with_b && !self->p2) self->lost++; /* b missed it */
            }
            self->a_won += self->a_done;
            self->b_won += self->p2;
            self->stored += self->p1;
            if (held(cx->rt) != 1) self->leaks++; /* only the block_on root */
        }
    }
    return WEFT_READY;
}

static void run_race(int all, race_test *t) {
    weft_rt *rt = new_rt();
    race_shared *s = calloc(1, sizeof *s);
    CHECK(rt && s);
    weft_notify_init(&s->n);
    s->all = all;
    sem_init(&s->go, 0, 0);
    sem_init(&s->done, 0, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, race_notifier, s), 0);
    *t = (race_test){.s = s, .rng = all ? 0x2545f4914f6cdd1dull : 0x9e3779b97f4a7c15ull};
    int rc = weft_block_on(rt, race_test_poll, t);
    s->stop = 1;
    sem_post(&s->go);
    pthread_join(th, NULL);
    CHECK_EQ(rc, 0);
    CHECK_EQ(held(rt), 0);
    sem_destroy(&s->go);
    sem_destroy(&s->done);
    free(s);
    weft_rt_free(rt);
}

static void notify_one_racing_with_abort_loses_and_doubles_nothing(void) {
    race_test t;
    run_race(0, &t);
    if (test_failed()) return;
    CHECK_EQ(t.lost, 0);
    CHECK_EQ(t.doubled, 0);
    CHECK_EQ(t.leaks, 0);
}

static void notify_waiters_racing_with_abort_wakes_the_rest_and_stores_nothing(void) {
    race_test t;
    run_race(1, &t);
    if (test_failed()) return;
    CHECK_EQ(t.lost, 0);
    CHECK_EQ(t.doubled, 0);
    CHECK_EQ(t.leaks, 0);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(notify_one_wakes_a_waiting_task),
                         TEST(notify_one_without_waiters_stores_a_permit_for_the_next_wait),
                         TEST(notify_permit_is_consumed_by_one_notified),
                         TEST(notify_permits_do_not_accumulate),
                         TEST(notify_one_wakes_only_the_oldest_waiter),
                         TEST(notify_one_wakes_waiters_in_fifo_order),
                         TEST(notify_one_resumes_waiting_tasks_in_fifo_order),
                         TEST(notify_waiter_repolled_with_new_waker_wakes_the_new_one),
                         TEST(notify_waiters_wakes_every_waiting_task),
                         TEST(notify_waiters_wakes_more_waiters_than_a_batch),
                         TEST(notify_waiters_stores_no_permit),
                         TEST(notify_waiters_does_not_wake_later_waiters),
                         TEST(notify_waiters_counts_an_enabled_op_not_yet_polled),
                         TEST(notify_waiters_before_enable_is_not_counted),
                         TEST(notify_enabled_op_takes_a_stored_permit),
                         TEST(notify_cancelled_waiter_picked_by_notify_one_passes_it_on),
                         TEST(notify_cancelled_picked_waiter_stores_the_permit_when_alone),
                         TEST(notify_cancelled_waiter_leaves_no_node),
                         TEST(notify_cancel_after_notify_waiters_passes_nothing_on),
                         TEST(notify_aborted_woken_task_passes_the_wakeup_to_the_next_task),
                         TEST(notify_aborted_waiting_task_leaves_no_waker),
                         TEST(notify_zero_initialised_works),
                         TEST(notify_static_initializer_and_init_work),
                         TEST(notify_one_from_other_thread_wakes_parked_task),
                         TEST(notify_waiters_from_other_thread_wakes_all_parked_tasks),
                         TEST(notify_one_from_many_threads_wakes_each_waiter_once),
                         TEST(notify_one_ping_pong_with_a_thread_loses_no_wakeup),
                         TEST(notify_one_racing_with_abort_loses_and_doubles_nothing),
                         TEST(notify_waiters_racing_with_abort_wakes_the_rest_and_stores_nothing),
                         {0},
                     });
}
