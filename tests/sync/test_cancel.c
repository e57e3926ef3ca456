/*
 * tests/sync/test_cancel.c - CancellationToken: cancel, trees of children,
 * handles dropped in any order, waiting tasks, cancel safety, threads.
 */
#include <weft.h>
#include <weft/cancel.h>

#include "sync_util.h"
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

typedef weft_cancel_token tok;

/* Poll op by hand with waker w. */
static weft_poll poll_op(tok *t, cwaker *w, weft_cancelled_op *op) {
    weft_cx cx = weft_cx_manual(&w->base);
    return weft_cancel_token_cancelled(t, &cx, op);
}

static void cancel_op(tok *t, weft_cancelled_op *op) {
    (void)weft_cancel_token_cancelled(t, NULL, op);
}

/* ---- frames ------------------------------------------------------------- */

/* Waits for its token once; records that it parked and that it finished. */
typedef struct waiter {
    weft_frame fr;
    tok *t;
    weft_cancelled_op op;
    int parked, done;
} waiter;

static weft_poll cancelled_announced(waiter *self, weft_cx *cx) {
    weft_poll r = weft_cancel_token_cancelled(self->t, cx, &self->op);
    if (cx && r == WEFT_PENDING) self->parked = 1;
    return r;
}

weft_async_fn(waiter_poll, waiter) {
    weft_async (self) {
        weft_await(cancelled_announced(self, cx));
        self->done = 1;
    }
    return WEFT_READY;
}

static weft_task *spawn_waiter(weft_rt *rt, tok *t) {
    waiter *w;
    if (weft_task_new(&w, rt, waiter_poll) != 0) return NULL;
    w->t = t;
    return weft_task_spawn(w);
}

static waiter *waiter_of(weft_task *h) { return weft_task_frame(h); }

/* ---- basics ------------------------------------------------------------- */

static void cancel_new_token_is_not_cancelled_until_cancel(void) {
    tok *t;
    CHECK_EQ(weft_cancel_token_new(&t), 0);
    CHECK(t);
    CHECK_EQ(weft_cancel_token_is_cancelled(t), 0);
    weft_cancel_token_cancel(t);
    CHECK_EQ(weft_cancel_token_is_cancelled(t), 1);
    weft_cancel_token_cancel(t); /* idempotent */
    CHECK_EQ(weft_cancel_token_is_cancelled(t), 1);
    weft_cancel_token_drop(t);
}

static void cancel_null_arguments_are_ignored(void) {
    weft_cancel_token_drop(NULL);
    weft_cancel_token_cancel(NULL);
    CHECK(weft_cancel_token_clone(NULL) == NULL);
    tok *none = (tok *)1;
    CHECK_EQ(weft_cancel_token_child(&none, NULL), -EINVAL);
    CHECK(none == NULL);
}

static void cancel_clone_is_the_same_token(void) {
    tok *a;
    CHECK_EQ(weft_cancel_token_new(&a), 0);
    tok *b = weft_cancel_token_clone(a);
    CHECK(a == b);
    weft_cancel_token_drop(a); /* b still holds it */
    CHECK_EQ(weft_cancel_token_is_cancelled(b), 0);
    weft_cancel_token_cancel(b);
    CHECK_EQ(weft_cancel_token_is_cancelled(b), 1);
    weft_cancel_token_drop(b);
}

static void cancel_wait_on_cancelled_token_completes_at_once(void) {
    tok *t;
    CHECK_EQ(weft_cancel_token_new(&t), 0);
    weft_cancel_token_cancel(t);
    cwaker w;
    cw_init(&w);
    weft_cancelled_op op = {0};
    CHECK_EQ(poll_op(t, &w, &op), WEFT_READY);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(poll_op(t, &w, &op), WEFT_READY); /* op idle again: a new wait */
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(atomic_load(&w.wakes), 0);
    weft_cancel_token_drop(t);
}

static void cancel_wakes_a_waiter_polled_by_hand_once(void) {
    tok *t;
    CHECK_EQ(weft_cancel_token_new(&t), 0);
    cwaker w;
    cw_init(&w);
    weft_cancelled_op op = {0};
    CHECK_EQ(poll_op(t, &w, &op), WEFT_PENDING);
    CHECK_EQ(poll_op(t, &w, &op), WEFT_PENDING); /* spurious: no second clone */
    CHECK_EQ(atomic_load(&w.refs), 1);
    weft_cancel_token_cancel(t);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_cancel_token_cancel(t); /* idempotent: no second wake */
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(poll_op(t, &w, &op), WEFT_READY);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_cancel_token_drop(t);
}

static void cancel_repolled_waiter_with_new_waker_wakes_the_new_one(void) {
    tok *t;
    CHECK_EQ(weft_cancel_token_new(&t), 0);
    cwaker w1, w2;
    cw_init(&w1);
    cw_init(&w2);
    weft_cancelled_op op = {0};
    CHECK_EQ(poll_op(t, &w1, &op), WEFT_PENDING);
    CHECK_EQ(poll_op(t, &w2, &op), WEFT_PENDING);
    CHECK_EQ(atomic_load(&w1.refs), 0);
    CHECK_EQ(atomic_load(&w2.refs), 1);
    weft_cancel_token_cancel(t);
    CHECK_EQ(atomic_load(&w1.wakes), 0);
    CHECK_EQ(atomic_load(&w2.wakes), 1);
    CHECK_EQ(poll_op(t, &w2, &op), WEFT_READY);
    CHECK_EQ(atomic_load(&w2.refs), 0);
    weft_cancel_token_drop(t);
}

static void cancel_cancelled_wait_leaves_no_waker(void) {
    tok *t;
    CHECK_EQ(weft_cancel_token_new(&t), 0);
    cwaker w;
    cw_init(&w);
    weft_cancelled_op op = {0}, idle = {0};
    cancel_op(t, &idle); /* never started: nothing to do */
    CHECK_EQ(poll_op(t, &w, &op), WEFT_PENDING);
    CHECK_EQ(atomic_load(&w.refs), 1);
    cancel_op(t, &op);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_cancel_token_cancel(t); /* finds no waiter */
    CHECK_EQ(atomic_load(&w.wakes), 0);
    /* dropping a wait that was woken but not re-polled: nothing left either */
    tok *u;
    CHECK_EQ(weft_cancel_token_new(&u), 0);
    CHECK_EQ(poll_op(u, &w, &op), WEFT_PENDING);
    weft_cancel_token_cancel(u);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    cancel_op(u, &op);
    CHECK_EQ(atomic_load(&w.refs), 0);
    CHECK_EQ(poll_op(u, &w, &op), WEFT_READY); /* idle: a new wait, done at once */
    weft_cancel_token_drop(t);
    weft_cancel_token_drop(u);
}

/* More waiters than one wake batch (32), spread over a subtree. */
static void cancel_wakes_more_waiters_than_a_batch(void) {
    enum { N = 100 };
    tok *root;
    CHECK_EQ(weft_cancel_token_new(&root), 0);
    tok *kids[3];
    CHECK_EQ(weft_cancel_token_child(&kids[0], root), 0);
    CHECK_EQ(weft_cancel_token_child(&kids[1], kids[0]), 0);
    CHECK_EQ(weft_cancel_token_child(&kids[2], root), 0);
    tok *where[4] = {root, kids[0], kids[1], kids[2]};
    static cwaker w[N];
    static weft_cancelled_op op[N];
    for (int i = 0; i < N; i++) {
        cw_init(&w[i]);
        op[i] = (weft_cancelled_op){0};
        CHECK_EQ(poll_op(where[i % 4], &w[i], &op[i]), WEFT_PENDING);
    }
    weft_cancel_token_cancel(root);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(atomic_load(&w[i].wakes), 1);
        CHECK_EQ(atomic_load(&w[i].refs), 0);
        CHECK_EQ(poll_op(where[i % 4], &w[i], &op[i]), WEFT_READY);
    }
    for (int i = 0; i < 3; i++) weft_cancel_token_drop(kids[i]);
    weft_cancel_token_drop(root);
}

/*
 * While cancel wakes its first batch, op 35 (still in cancel's list) is
 * dropped and op 36 re-polled: 35 leaves no waker, 36 completes, and
 * neither is woken by the later batch.
 */
#define BIG 40
static struct {
    tok *t;
    cwaker w[BIG];
    weft_cancelled_op op[BIG];
    int repoll_rc, fired;
} big;

static void big_hook(void *arg) {
    (void)arg;
    if (big.fired++) return;
    cancel_op(big.t, &big.op[35]);
    big.repoll_rc = poll_op(big.t, &big.w[36], &big.op[36]);
}

static void cancel_waiters_leaving_between_wake_batches(void) {
    CHECK_EQ(weft_cancel_token_new(&big.t), 0);
    hook_waker first;
    hw_init(&first, big_hook, NULL);
    weft_cancelled_op op0 = {0};
    weft_cx cx = weft_cx_manual(&first.cw.base);
    CHECK_EQ(weft_cancel_token_cancelled(big.t, &cx, &op0), WEFT_PENDING);
    for (int i = 0; i < BIG; i++) {
        cw_init(&big.w[i]);
        CHECK_EQ(poll_op(big.t, &big.w[i], &big.op[i]), WEFT_PENDING);
    }
    weft_cancel_token_cancel(big.t);
    CHECK_EQ(big.fired, 1);
    CHECK_EQ(big.repoll_rc, WEFT_READY);
    CHECK_EQ(atomic_load(&big.w[35].wakes), 0);
    CHECK_EQ(atomic_load(&big.w[36].wakes), 0);
    for (int i = 0; i < BIG; i++) {
        if (i == 35 || i == 36) continue;
        CHECK_EQ(atomic_load(&big.w[i].wakes), 1);
        CHECK_EQ(poll_op(big.t, &big.w[i], &big.op[i]), WEFT_READY);
    }
    for (int i = 0; i < BIG; i++) CHECK_EQ(atomic_load(&big.w[i].refs), 0);
    CHECK_EQ(atomic_load(&first.cw.refs), 0);
    CHECK_EQ(weft_cancel_token_cancelled(big.t, &cx, &op0), WEFT_READY);
    weft_cancel_token_drop(big.t);
}

/* ---- trees -------------------------------------------------------------- */

static void cancel_parent_cancels_children_and_grandchildren(void) {
    tok *root, *a, *b, *aa, *ab, *aaa;
    CHECK_EQ(weft_cancel_token_new(&root), 0);
    CHECK_EQ(weft_cancel_token_child(&a, root), 0);
    CHECK_EQ(weft_cancel_token_child(&b, root), 0);
    CHECK_EQ(weft_cancel_token_child(&aa, a), 0);
    CHECK_EQ(weft_cancel_token_child(&ab, a), 0);
    CHECK_EQ(weft_cancel_token_child(&aaa, aa), 0);
    tok *all[] = {root, a, b, aa, ab, aaa};
    for (int i = 0; i < 6; i++) CHECK_EQ(weft_cancel_token_is_cancelled(all[i]), 0);
    weft_cancel_token_cancel(root);
    for (int i = 0; i < 6; i++) CHECK_EQ(weft_cancel_token_is_cancelled(all[i]), 1);
    for (int i = 0; i < 6; i++) weft_cancel_token_drop(all[i]);
}

static void cancel_child_does_not_cancel_parent_or_siblings(void) {
    tok *root, *a, *b, *aa, *ba;
    CHECK_EQ(weft_cancel_token_new(&root), 0);
    CHECK_EQ(weft_cancel_token_child(&a, root), 0);
    CHECK_EQ(weft_cancel_token_child(&b, root), 0);
    CHECK_EQ(weft_cancel_token_child(&aa, a), 0);
    CHECK_EQ(weft_cancel_token_child(&ba, b), 0);
    weft_cancel_token_cancel(a);
    CHECK_EQ(weft_cancel_token_is_cancelled(a), 1);
    CHECK_EQ(weft_cancel_token_is_cancelled(aa), 1);
    CHECK_EQ(weft_cancel_token_is_cancelled(root), 0);
    CHECK_EQ(weft_cancel_token_is_cancelled(b), 0);
    CHECK_EQ(weft_cancel_token_is_cancelled(ba), 0);
    /* later, the root: the rest follows; the cancelled branch is skipped */
    weft_cancel_token_cancel(root);
    CHECK_EQ(weft_cancel_token_is_cancelled(b), 1);
    CHECK_EQ(weft_cancel_token_is_cancelled(ba), 1);
    tok *all[] = {aa, ba, a, b, root};
    for (int i = 0; i < 5; i++) weft_cancel_token_drop(all[i]);
}

static void cancel_child_of_cancelled_parent_is_born_cancelled(void) {
    tok *root, *a;
    CHECK_EQ(weft_cancel_token_new(&root), 0);
    CHECK_EQ(weft_cancel_token_child(&a, root), 0);
    weft_cancel_token_cancel(root);
    tok *b, *c;
    CHECK_EQ(weft_cancel_token_child(&b, a), 0);
    CHECK_EQ(weft_cancel_token_child(&c, b), 0);
    CHECK(b && c);
    CHECK_EQ(weft_cancel_token_is_cancelled(b), 1);
    CHECK_EQ(weft_cancel_token_is_cancelled(c), 1);
    cwaker w;
    cw_init(&w);
    weft_cancelled_op op = {0};
    CHECK_EQ(poll_op(c, &w, &op), WEFT_READY);
    weft_cancel_token_drop(root);
    weft_cancel_token_drop(a);
    weft_cancel_token_drop(c);
    weft_cancel_token_drop(b);
}

static void cancel_waiter_on_grandchild_is_woken_by_root(void) {
    tok *root, *a, *aa;
    CHECK_EQ(weft_cancel_token_new(&root), 0);
    CHECK_EQ(weft_cancel_token_child(&a, root), 0);
    CHECK_EQ(weft_cancel_token_child(&aa, a), 0);
    cwaker w;
    cw_init(&w);
    weft_cancelled_op op = {0};
    CHECK_EQ(poll_op(aa, &w, &op), WEFT_PENDING);
    weft_cancel_token_drop(a); /* the intermediate handle is gone */
    weft_cancel_token_cancel(root);
    CHECK_EQ(atomic_load(&w.wakes), 1);
    CHECK_EQ(poll_op(aa, &w, &op), WEFT_READY);
    CHECK_EQ(atomic_load(&w.refs), 0);
    weft_cancel_token_drop(root);
    weft_cancel_token_drop(aa);
}

static void cancel_parent_dropped_before_children_still_cancels_them(void) {
    tok *root, *a, *aa, *ab, *aaa;
    CHECK_EQ(weft_cancel_token_new(&root), 0);
    CHECK_EQ(weft_cancel_token_child(&a, root), 0);
    CHECK_EQ(weft_cancel_token_child(&aa, a), 0);
    CHECK_EQ(weft_cancel_token_child(&ab, a), 0);
    CHECK_EQ(weft_cancel_token_child(&aaa, aa), 0);
    weft_cancel_token_drop(a);
    weft_cancel_token_drop(aa);
    /* a and aa only live on as the path from root to ab and aaa */
    CHECK_EQ(weft_cancel_token_is_cancelled(aaa), 0);
    weft_cancel_token_cancel(root);
    CHECK_EQ(weft_cancel_token_is_cancelled(aaa), 1);
    CHECK_EQ(weft_cancel_token_is_cancelled(ab), 1);
    weft_cancel_token_drop(root); /* the root before the leaves too */
    weft_cancel_token_drop(aaa);
    weft_cancel_token_drop(ab);
}

static void cancel_intermediate_dropped_then_cancel_root_of_subtree(void) {
    /* Cancelling a child whose own parent handle is gone. */
    tok *root, *a, *aa, *aaa;
    CHECK_EQ(weft_cancel_token_new(&root), 0);
    CHECK_EQ(weft_cancel_token_child(&a, root), 0);
    CHECK_EQ(weft_cancel_token_child(&aa, a), 0);
    CHECK_EQ(weft_cancel_token_child(&aaa, aa), 0);
    weft_cancel_token_drop(root);
    weft_cancel_token_drop(aa);
    weft_cancel_token_cancel(a);
    CHECK_EQ(weft_cancel_token_is_cancelled(aaa), 1);
    weft_cancel_token_drop(a);
    weft_cancel_token_drop(aaa);
}

/*
 * Random trees: build, clone, cancel at random nodes and drop every handle
 * in a random order.  Checks the cancelled state of each node against a
 * model; ASan and valgrind check that everything was freed.
 */
static void cancel_random_trees_dropped_in_any_order_free_everything(void) {
    enum { NODES = 12, HANDLES = 24 };
    uint64_t rng = 0x1234567887654321ull;
    for (int iter = 0; iter < 300; iter++) {
        tok *node[NODES];
        int parent[NODES], model[NODES];
        tok *h[HANDLES];
        int nh = 0;
        CHECK_EQ(weft_cancel_token_new(&node[0]), 0);
        parent[0] = -1;
        model[0] = 0;
        h[nh++] = node[0];
        for (int i = 1; i < NODES; i++) {
            int p = (int)(test_rand(&rng) % (uint64_t)i);
            if (test_rand(&rng) % 4 == 0) {
                /* cancel something first */
                int c = (int)(test_rand(&rng) % (uint64_t)i);
                weft_cancel_token_cancel(node[c]);
                for (int k = 0; k < i; k++) {
                    int x = k;
                    while (x >= 0 && x != c) x = parent[x];
                    if (x == c) model[k] = 1;
                }
            }
            CHECK_EQ(weft_cancel_token_child(&node[i], node[p]), 0);
            CHECK(node[i]);
            parent[i] = p;
            model[i] = model[p];
            h[nh++] = node[i];
            if (test_rand(&rng) % 3 == 0) h[nh++] = weft_cancel_token_clone(node[i]);
        }
        for (int i = 0; i < NODES; i++)
            CHECK_EQ(weft_cancel_token_is_cancelled(node[i]), model[i]);
        /* Drop in random order; sometimes cancel through a live handle. */
        for (int left = nh; left > 0; left--) {
            int k = (int)(test_rand(&rng) % (uint64_t)left);
            tok *x = h[k];
            h[k] = h[left - 1];
            if (test_rand(&rng) % 5 == 0) weft_cancel_token_cancel(x);
            weft_cancel_token_drop(x);
        }
    }
}

/* ---- tasks -------------------------------------------------------------- */

typedef struct wake_test {
    weft_frame fr;
    tok *t;
    weft_task *h;
    int status, parked, done_before, done;
} wake_test;

weft_async_fn(wake_test_poll, wake_test) {
    weft_async (self) {
        self->h = spawn_waiter(cx->rt, self->t);
        weft_yield(); /* it parks */
        self->parked = waiter_of(self->h)->parked;
        self->done_before = waiter_of(self->h)->done;
        weft_cancel_token_cancel(self->t);
        weft_await(weft_join(self->h, cx, &self->status));
        self->done = waiter_of(self->h)->done;
        weft_task_release(self->h);
    }
    return WEFT_READY;
}

static void cancel_wakes_a_waiting_task(void) {
    weft_rt *rt = new_rt();
    tok *root, *child;
    CHECK_EQ(weft_cancel_token_new(&root), 0);
    CHECK_EQ(weft_cancel_token_child(&child, root), 0);
    wake_test t = {.t = root};
    CHECK_EQ(weft_block_on(rt, wake_test_poll, &t), 0);
    CHECK_EQ(t.parked, 1);
    CHECK_EQ(t.done_before, 0);
    CHECK_EQ(t.done, 1);
    CHECK_EQ(t.status, 0);
    CHECK_EQ(weft_cancel_token_is_cancelled(child), 1);
    CHECK_EQ(held(rt), 0);
    weft_cancel_token_drop(root);
    weft_cancel_token_drop(child);
    weft_rt_free(rt);
}

#define MANY 64

typedef struct many_test {
    weft_frame fr;
    tok *where[3];
    weft_task *h[MANY];
    int i, done;
} many_test;

weft_async_fn(many_test_poll, many_test) {
    weft_async (self) {
        for (self->i = 0; self->i < MANY; self->i++)
            self->h[self->i] = spawn_waiter(cx->rt, self->where[self->i % 3]);
        weft_yield();
        weft_cancel_token_cancel(self->where[0]);
        for (self->i = 0; self->i < MANY; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            self->done += waiter_of(self->h[self->i])->done & waiter_of(self->h[self->i])->parked;
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void cancel_wakes_many_waiting_tasks_in_the_subtree(void) {
    weft_rt *rt = new_rt();
    many_test t = {0};
    CHECK_EQ(weft_cancel_token_new(&t.where[0]), 0);
    CHECK_EQ(weft_cancel_token_child(&t.where[1], t.where[0]), 0);
    CHECK_EQ(weft_cancel_token_child(&t.where[2], t.where[1]), 0);
    CHECK_EQ(weft_block_on(rt, many_test_poll, &t), 0);
    CHECK_EQ(t.done, MANY);
    CHECK_EQ(held(rt), 0);
    for (int i = 0; i < 3; i++) weft_cancel_token_drop(t.where[i]);
    weft_rt_free(rt);
}

typedef struct abort_test {
    weft_frame fr;
    tok *t;
    weft_task *h;
    int status;
} abort_test;

weft_async_fn(abort_test_poll, abort_test) {
    weft_async (self) {
        self->h = spawn_waiter(cx->rt, self->t);
        weft_yield(); /* it parks */
        weft_task_abort(self->h);
        weft_await(weft_join(self->h, cx, &self->status));
        weft_task_release(self->h);
    }
    return WEFT_READY;
}

static void cancel_aborted_waiting_task_leaves_no_waker(void) {
    weft_rt *rt = new_rt();
    tok *t;
    CHECK_EQ(weft_cancel_token_new(&t), 0);
    abort_test a = {.t = t};
    CHECK_EQ(weft_block_on(rt, abort_test_poll, &a), 0);
    CHECK_EQ(a.status, -ECANCELED);
    CHECK_EQ(held(rt), 0); /* the token does not hold the task's waker */
    weft_cancel_token_cancel(t); /* no ghost waiter */
    weft_cancel_token_drop(t);
    weft_rt_free(rt);
}

/* ---- races -------------------------------------------------------------- */

/*
 * A thread cancels the token while this thread, after a random delay,
 * either drops its pending wait or re-polls it with another waker.
 *   dropped:   no waker left, at most one wake.
 *   re-polled: PENDING => the new waker gets exactly one wake (none lost,
 *              none to the old one); READY => at most one wake in all.
 * With K waiters on a tree, several at once, so cancel's batches meet
 * waiters leaving its list.
 */
#define RACE_ITERS 1000
#define RACE_K 40

typedef struct race_shared {
    tok *t;
    unsigned spin;
    atomic_int seq;  /* round posted by the test; -1 stops the thread */
    atomic_int started; /* round the thread has begun */
    atomic_int done;    /* round the thread has finished */
} race_shared;

/* A persistent thread: both sides start a round within a few nanoseconds
 * of each other and then spin a random while, so the cancel lands anywhere
 * in the other side's work. */
static void *race_canceller(void *p) {
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
        weft_cancel_token_cancel(s->t);
        atomic_store(&s->done, cur);
    }
}

static void race_start(race_shared *s, pthread_t *th) {
    atomic_init(&s->seq, 0);
    atomic_init(&s->started, 0);
    atomic_init(&s->done, 0);
    pthread_create(th, NULL, race_canceller, s);
}

static void race_stop(race_shared *s, pthread_t th) {
    atomic_store(&s->seq, -1);
    pthread_join(th, NULL);
}

/* Start round `round` and return once the thread has picked it up. */
static void race_go(race_shared *s, int round) {
    atomic_store(&s->seq, round);
    for (unsigned n = 0; atomic_load(&s->started) != round; n++)
        if (n > 20000) sched_yield(); /* spin: leave together with the thread */
}

static void race_wait(race_shared *s, int round) {
    for (unsigned n = 0; atomic_load(&s->done) != round; n++)
        if (n > 200) sched_yield();
}

static void cancel_racing_with_dropped_and_repolled_waits(void) {
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    static cwaker w1[RACE_K], w2[RACE_K];
    static weft_cancelled_op op[RACE_K];
    int lost = 0, doubled = 0, leaked = 0;
    race_shared s;
    pthread_t th;
    race_start(&s, &th);
    for (int iter = 0; iter < RACE_ITERS; iter++) {
        int k = (iter % 8 == 0) ? RACE_K : 1 + (int)(test_rand(&rng) % 3);
        tok *root, *child;
        CHECK_EQ(weft_cancel_token_new(&root), 0);
        CHECK_EQ(weft_cancel_token_child(&child, root), 0);
        tok *on[RACE_K];
        int action[RACE_K], repoll[RACE_K];
        for (int i = 0; i < k; i++) {
            cw_init(&w1[i]);
            cw_init(&w2[i]);
            op[i] = (weft_cancelled_op){0};
            on[i] = (i & 1) ? child : root;
            action[i] = (int)(test_rand(&rng) % 3); /* 0 drop, 1 re-poll, 2 wait */
            repoll[i] = -1;
            CHECK_EQ(poll_op(on[i], &w1[i], &op[i]), WEFT_PENDING);
        }
        /* order: 0 a real race; 1 we act first; 2 the cancel goes first
         * (1 and 2 make sure both outcomes are covered whatever the
         * scheduler does with the race) */
        int order = iter % 3;
        s.t = root;
        s.spin = (unsigned)(test_rand(&rng) % 2000);
        if (order != 1) race_go(&s, iter + 1);
        if (order == 2) race_wait(&s, iter + 1);
        spin((unsigned)(test_rand(&rng) % 2000));
        for (int i = 0; i < k; i++) {
            if (action[i] == 0) cancel_op(on[i], &op[i]);
            if (action[i] == 1) repoll[i] = poll_op(on[i], &w2[i], &op[i]);
        }
        if (order == 1) race_go(&s, iter + 1);
        race_wait(&s, iter + 1);
        for (int i = 0; i < k; i++) {
            int a = atomic_load(&w1[i].wakes), b = atomic_load(&w2[i].wakes);
            if (a + b > 1) doubled++;
            if (action[i] == 1 && repoll[i] == WEFT_PENDING && (b != 1 || a != 0)) lost++;
            if (action[i] == 2 && a != 1) lost++;
            if (action[i] != 0) {
                if (repoll[i] != WEFT_READY &&
                    poll_op(on[i], &w2[i], &op[i]) != WEFT_READY)
                    lost++;
            }
            if (atomic_load(&w1[i].refs) || atomic_load(&w2[i].refs)) leaked++;
        }
        weft_cancel_token_drop(child);
        weft_cancel_token_drop(root);
    }
    race_stop(&s, th);
    CHECK_EQ(lost, 0);
    CHECK_EQ(doubled, 0);
    CHECK_EQ(leaked, 0);
}

/*
 * Tasks: A and B wait on a child; a thread cancels the root while the
 * runtime aborts A.  B must always be woken; A either finished or was
 * cancelled; no task memory is left held by the token.
 */
typedef struct task_race {
    weft_frame fr;
    race_shared *s;
    tok *child;
    weft_task *a, *b;
    uint64_t rng;
    int i, k, yields, late, status;
    int lost, leaks, a_done, a_cancelled;
} task_race;

weft_async_fn(task_race_poll, task_race) {
    weft_async (self) {
        for (self->i = 0; self->i < RACE_ITERS; self->i++) {
            {
                uint64_t x = test_rand(&self->rng);
                self->yields = (int)(x % 64);
                self->late = (int)((x >> 40) % 3) == 0;
                MUST(weft_cancel_token_new(&self->s->t));
                self->s->spin = (unsigned)((x >> 8) % 2000);
                MUST(weft_cancel_token_child(&self->child, self->s->t));
                self->a = spawn_waiter(cx->rt, self->child);
                self->b = spawn_waiter(cx->rt, self->child);
            }
            weft_yield(); /* they park */
            race_go(self->s, self->i + 1);
            if (self->late) race_wait(self->s, self->i + 1); /* cancel is over */
            for (self->k = 0; self->k < self->yields; self->k++) weft_yield();
            spin((unsigned)(test_rand(&self->rng) % 2000));
            weft_task_abort(self->a);
            weft_await(weft_join(self->a, cx, &self->status));
            weft_await(weft_join(self->b, cx, NULL));
            race_wait(self->s, self->i + 1);
            if (!waiter_of(self->b)->done) self->lost++;
            if (self->status == 0 && !waiter_of(self->a)->done) self->lost++;
            self->a_done += self->status == 0;
            self->a_cancelled += self->status == -ECANCELED;
            weft_task_release(self->a);
            weft_task_release(self->b);
            weft_cancel_token_drop(self->child);
            weft_cancel_token_drop(self->s->t);
            if (held(cx->rt) != 1) self->leaks++;
        }
    }
    return WEFT_READY;
}

static void cancel_racing_with_task_abort_wakes_the_rest_and_leaks_nothing(void) {
    weft_rt *rt = new_rt();
    race_shared s;
    pthread_t th;
    race_start(&s, &th);
    task_race t = {.s = &s, .rng = 0x2545f4914f6cdd1dull};
    int rc = weft_block_on(rt, task_race_poll, &t);
    race_stop(&s, th);
    CHECK_EQ(rc, 0);
    CHECK_EQ(t.lost, 0);
    CHECK_EQ(t.leaks, 0);
    CHECK_EQ(t.a_done + t.a_cancelled, RACE_ITERS);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

/* ---- stress ------------------------------------------------------------- */

/*
 * THREADS threads, each with its own runtime, share a root R and its child
 * C per round.  Each thread makes a little tree below C (children created
 * while others cancel), spawns tasks waiting on its tokens, drops an
 * intermediate handle, and sometimes cancels one of its own tokens; thread
 * 0 cancels C and thread 1 cancels R at random moments.  Every wait must
 * complete, every token must end cancelled, nothing may leak.
 */
#define THREADS 3
#define ROUNDS 150

typedef struct stress_shared {
    pthread_barrier_t round;
    tok *r, *c;
} stress_shared;

typedef struct stress_frame {
    weft_frame fr;
    stress_shared *s;
    int id;
    uint64_t rng;
    int round, i, bad, waited;
    tok *mine[4];
    weft_task *h[4];
} stress_frame;

weft_async_fn(stress_poll, stress_frame) {
    weft_async (self) {
        for (self->round = 0; self->round < ROUNDS; self->round++) {
            pthread_barrier_wait(&self->s->round); /* main made r and c */
            {
                stress_shared *s = self->s;
                if (weft_cancel_token_child(&self->mine[0], s->c) != 0) self->bad++;
                if (weft_cancel_token_child(&self->mine[1], self->mine[0]) != 0) self->bad++;
                if (weft_cancel_token_child(&self->mine[2], self->mine[1]) != 0) self->bad++;
                self->mine[3] = weft_cancel_token_clone(s->r);
                for (int i = 0; i < 4; i++) self->h[i] = spawn_waiter(cx->rt, self->mine[i]);
                spin((unsigned)(test_rand(&self->rng) % 2000));
                if (self->id == 0) weft_cancel_token_cancel(s->c);
                if (self->id == 1) weft_cancel_token_cancel(s->r);
                if (test_rand(&self->rng) % 4 == 0) weft_cancel_token_cancel(self->mine[1]);
            }
            weft_yield();
            for (self->i = 0; self->i < 4; self->i++) {
                weft_await(weft_join(self->h[self->i], cx, NULL));
                self->waited += waiter_of(self->h[self->i])->done;
                weft_task_release(self->h[self->i]);
                if (!weft_cancel_token_is_cancelled(self->mine[self->i])) self->bad++;
            }
            {
                /* drop in a random order */
                int order[4] = {0, 1, 2, 3};
                for (int i = 3; i > 0; i--) {
                    int j = (int)(test_rand(&self->rng) % (uint64_t)(i + 1));
                    int x = order[i];
                    order[i] = order[j];
                    order[j] = x;
                }
                for (int i = 0; i < 4; i++) weft_cancel_token_drop(self->mine[order[i]]);
            }
            pthread_barrier_wait(&self->s->round); /* round over */
        }
    }
    return WEFT_READY;
}

typedef struct stress_arg {
    stress_shared *s;
    int id, rc, waited, bad;
    uint64_t held;
} stress_arg;

static void *stress_thread(void *p) {
    stress_arg *a = p;
    weft_rt *rt = new_rt();
    stress_frame f = {.s = a->s, .id = a->id, .rng = 0x51ed27ull * (uint64_t)(a->id + 1)};
    a->rc = weft_block_on(rt, stress_poll, &f);
    a->waited = f.waited;
    a->bad = f.bad;
    a->held = held(rt);
    weft_rt_free(rt);
    return NULL;
}

static void cancel_threads_share_a_tree_under_stress(void) {
    stress_shared s;
    pthread_barrier_init(&s.round, NULL, THREADS + 1);
    pthread_t th[THREADS];
    stress_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (stress_arg){.s = &s, .id = i};
        CHECK_EQ(pthread_create(&th[i], NULL, stress_thread, &args[i]), 0);
    }
    for (int r = 0; r < ROUNDS; r++) {
        CHECK_EQ(weft_cancel_token_new(&s.r), 0);
        CHECK_EQ(weft_cancel_token_child(&s.c, s.r), 0);
        pthread_barrier_wait(&s.round);
        pthread_barrier_wait(&s.round);
        CHECK_EQ(weft_cancel_token_is_cancelled(s.c), 1);
        weft_cancel_token_drop(s.r);
        weft_cancel_token_drop(s.c);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].rc, 0);
        CHECK_EQ(args[i].waited, 4 * ROUNDS);
        CHECK_EQ(args[i].bad, 0);
        CHECK_EQ(args[i].held, 0);
    }
    pthread_barrier_destroy(&s.round);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(cancel_new_token_is_not_cancelled_until_cancel),
                         TEST(cancel_null_arguments_are_ignored),
                         TEST(cancel_clone_is_the_same_token),
                         TEST(cancel_wait_on_cancelled_token_completes_at_once),
                         TEST(cancel_wakes_a_waiter_polled_by_hand_once),
                         TEST(cancel_repolled_waiter_with_new_waker_wakes_the_new_one),
                         TEST(cancel_cancelled_wait_leaves_no_waker),
                         TEST(cancel_wakes_more_waiters_than_a_batch),
                         TEST(cancel_waiters_leaving_between_wake_batches),
                         TEST(cancel_parent_cancels_children_and_grandchildren),
                         TEST(cancel_child_does_not_cancel_parent_or_siblings),
                         TEST(cancel_child_of_cancelled_parent_is_born_cancelled),
                         TEST(cancel_waiter_on_grandchild_is_woken_by_root),
                         TEST(cancel_parent_dropped_before_children_still_cancels_them),
                         TEST(cancel_intermediate_dropped_then_cancel_root_of_subtree),
                         TEST(cancel_random_trees_dropped_in_any_order_free_everything),
                         TEST(cancel_wakes_a_waiting_task),
                         TEST(cancel_wakes_many_waiting_tasks_in_the_subtree),
                         TEST(cancel_aborted_waiting_task_leaves_no_waker),
                         TEST(cancel_racing_with_dropped_and_repolled_waits),
                         TEST(cancel_racing_with_task_abort_wakes_the_rest_and_leaks_nothing),
                         TEST(cancel_threads_share_a_tree_under_stress),
                         {0},
                     });
}
