/*
 * tests/rt/test_task.c - tasks, join handles, abort, block_on, shutdown.
 */
#include <weft.h>

#include "gate.h"
#include "test.h"
#include "rt/flavour.h"

#include <pthread.h>

/* ---- small frames used by the tests ---------------------------------- */

typedef struct doubler {
    weft_frame fr;
    int in, out;
    int *polled; /* optional: counts polls */
} doubler;

weft_async_fn(doubler_poll, doubler) {
    weft_async (self) {
        if (self->polled) (*self->polled)++;
        self->out = self->in * 2;
    }
    return WEFT_READY;
}

typedef struct waiter {
    weft_frame fr;
    gate *g;
    int started, finished, finally_runs, cancelled;
} waiter;

weft_async_fn(waiter_poll, waiter) {
    weft_async (self) {
        self->started = 1;
        weft_await(gate_wait(self->g, cx));
        self->finished = 1;
    weft_finally:
        self->finally_runs++;
        self->cancelled = weft_cancelled();
    }
    return WEFT_READY;
}

static weft_rt *new_rt(void) { return test_rt_new(NULL); }

/* ---- block_on ------------------------------------------------------------ */

static void block_on_drives_future_to_completion(void) {
    weft_rt *rt = new_rt();
    CHECK(rt);
    doubler d = {.in = 21};
    CHECK_EQ(weft_block_on(rt, doubler_poll, &d), 0);
    CHECK_EQ(d.out, 42);
    weft_rt_free(rt);
}

typedef struct nested {
    weft_frame fr;
    weft_rt *rt;
    int r;
} nested;

weft_async_fn(nested_poll, nested) {
    weft_async (self) {
        doubler d = {.in = 1};
        self->r = weft_block_on(self->rt, doubler_poll, &d);
    }
    return WEFT_READY;
}

static void block_on_inside_runtime_fails_with_edeadlk(void) {
    weft_rt *rt = new_rt();
    nested n = {.rt = rt};
    CHECK_EQ(weft_block_on(rt, nested_poll, &n), 0);
    CHECK_EQ(n.r, -EDEADLK);
    weft_rt_free(rt);
}

static void block_on_rejects_null(void) {
    doubler d = {.in = 2};
    CHECK_EQ(weft_block_on(NULL, doubler_poll, &d), -EINVAL);
    weft_rt *rt = new_rt();
    CHECK_EQ(weft_block_on_future(rt, (weft_future){NULL, &d}), -EINVAL);
    CHECK_EQ(d.out, 0);
    /* The type-erased form drives the same future. */
    CHECK_EQ(weft_block_on_future(rt, weft_future_of(doubler_poll, &d)), 0);
    CHECK_EQ(d.out, 4);
    weft_rt_free(rt);
}

/* ---- spawn and join ------------------------------------------------------ */

typedef struct spawner {
    weft_frame fr;
    int n, i;
    weft_task **handles;
    long sum;
    int status;
    int polls;
} spawner;

weft_async_fn(spawner_poll, spawner) {
    weft_async (self) {
        for (self->i = 0; self->i < self->n; self->i++) {
            doubler *d;
            if (weft_task_new(&d, cx->rt, doubler_poll) < 0) weft_return;
            d->in = self->i;
            d->polled = &self->polls;
            self->handles[self->i] = weft_task_spawn(d);
        }
        for (self->i = 0; self->i < self->n; self->i++) {
            weft_await(weft_join(self->handles[self->i], cx, &self->status));
            if (self->status != 0) weft_return;
            self->sum += ((doubler *)weft_task_frame(self->handles[self->i]))->out;
            weft_task_release(self->handles[self->i]);
        }
    }
    return WEFT_READY;
}

static void spawn_runs_tasks_and_join_yields_outputs(void) {
    weft_rt *rt = new_rt();
    weft_task *h[1000];
    spawner s = {.n = 1000, .handles = h};
    CHECK_EQ(weft_block_on(rt, spawner_poll, &s), 0);
    CHECK_EQ(s.status, 0);
    CHECK_EQ(s.sum, 999L * 1000);
    CHECK_EQ(s.polls, 1000);
    weft_rt_stats st;
    weft_rt_stats_get(rt, &st);
    CHECK_EQ(st.spawned, 1001); /* and the block_on root */
    CHECK_EQ(st.alive, 0);
    weft_rt_free(rt);
}

static void spawned_task_is_lazy_until_the_runtime_runs(void) {
    weft_rt *rt = new_rt();
    int polls = 0;
    doubler *d;
    MUST(weft_task_new(&d, rt, doubler_poll));
    CHECK(d);
    d->in = 5;
    d->polled = &polls;
    weft_task *h = weft_task_spawn(d);
    CHECK_EQ(polls, 0);
    CHECK(!weft_task_is_finished(h));
    doubler other = {.in = 1};
    CHECK_EQ(weft_block_on(rt, doubler_poll, &other), 0);
    /* The root completes first, but the spawned task ran in the same loop
     * or runs on the next block_on. */
    doubler again = {.in = 1};
    CHECK_EQ(weft_block_on(rt, doubler_poll, &again), 0);
    CHECK_EQ(polls, 1);
    CHECK(weft_task_is_finished(h));
    CHECK_EQ(((doubler *)weft_task_frame(h))->out, 10);
    weft_task_release(h);
    weft_rt_free(rt);
}

static void task_ids_are_distinct_and_nonzero(void) {
    weft_rt *rt = new_rt();
    doubler *da, *db;
    CHECK_EQ(weft_task_new(&da, rt, doubler_poll), 0);
    CHECK_EQ(weft_task_new(&db, rt, doubler_poll), 0);
    weft_task *a = weft_task_spawn(da);
    weft_task *b = weft_task_spawn(db);
    CHECK(weft_task_id(a) != 0);
    CHECK(weft_task_id(b) != 0);
    CHECK(weft_task_id(a) != weft_task_id(b));
    weft_task_release(a);
    weft_task_release(b);
    weft_rt_free(rt);
}

/* The task polled with cx knows its own id. */
typedef struct whoami {
    weft_frame fr;
    uint64_t id;
} whoami;

weft_async_fn(whoami_poll, whoami) {
    weft_async (self) {
        self->id = weft_task_current_id(cx);
    }
    return WEFT_READY;
}

typedef struct id_check {
    weft_frame fr;
    weft_task *h;
} id_check;

weft_async_fn(id_check_poll, id_check) {
    weft_async (self) {
        {
            whoami *w;
            MUST(weft_task_new(&w, cx->rt, whoami_poll));
            self->h = weft_task_spawn(w);
        }
        weft_await(weft_join(self->h, cx, NULL));
    }
    return WEFT_READY;
}

/* A combinator polls its children with a waker of its own; the id is still
 * the task's (it comes from the task being run, not from the waker). */
static weft_waker *sub_clone(weft_waker *w) { return w; }
static void sub_nop(weft_waker *w) { (void)w; }
static const weft_waker_vtable sub_vtable = {sub_clone, sub_nop, sub_nop, sub_nop};

typedef struct sub_waker_id {
    weft_frame fr;
    uint64_t outer, inner;
} sub_waker_id;

weft_async_fn(sub_waker_id_poll, sub_waker_id) {
    weft_async (self) {
        self->outer = weft_task_current_id(cx);
        weft_waker sub = {&sub_vtable};
        weft_cx inner = *cx;
        inner.waker = &sub;
        self->inner = weft_task_current_id(&inner);
    }
    return WEFT_READY;
}

static void current_task_id_survives_a_sub_waker(void) {
    weft_rt *rt = new_rt();
    sub_waker_id *f;
    CHECK_EQ(weft_task_new(&f, rt, sub_waker_id_poll), 0);
    weft_task *h = weft_task_spawn(f);
    doubler d = {0};
    CHECK_EQ(weft_block_on(rt, doubler_poll, &d), 0);
    CHECK(weft_task_is_finished(h));
    sub_waker_id *got = weft_task_frame(h);
    CHECK(got->outer != 0);
    CHECK_EQ(got->outer, weft_task_id(h));
    CHECK_EQ(got->inner, weft_task_id(h));
    weft_task_release(h);
    weft_rt_free(rt);
}

static void current_task_id_matches_handle(void) {
    weft_rt *rt = new_rt();
    id_check c = {0};
    CHECK_EQ(weft_block_on(rt, id_check_poll, &c), 0);
    CHECK_EQ(((whoami *)weft_task_frame(c.h))->id, weft_task_id(c.h));
    weft_cx manual = weft_cx_manual(NULL);
    CHECK_EQ(weft_task_current_id(&manual), 0);
    weft_task_release(c.h);
    weft_rt_free(rt);
}

/* ---- detach and abort ---------------------------------------------------- */

typedef struct opener {
    weft_frame fr;
    gate *g;
    weft_task *victim;
    int abort_it;
    int status;
    weft_task *h;
} opener;

weft_async_fn(detach_poll, opener) {
    weft_async (self) {
        weft_yield(); /* let the waiter park */
        gate_open(self->g);
        weft_yield(); /* let it finish */
    }
    return WEFT_READY;
}

static void dropping_join_handle_detaches_task(void) {
    weft_rt *rt = new_rt();
    gate g = {0};
    waiter *w;
    MUST(weft_task_new(&w, rt, waiter_poll));
    w->g = &g;
    weft_task *h = weft_task_spawn(w);
    waiter *view = weft_task_frame(h);
    weft_task_release(h); /* detach */
    (void)view;
    opener o = {.g = &g};
    /* the waiter's frame may be freed once it finishes; observe through g */
    CHECK_EQ(weft_block_on(rt, detach_poll, &o), 0);
    CHECK(g.open);
    CHECK(g.waker == NULL); /* it was woken and consumed the wake */
    weft_rt_stats st;
    weft_rt_stats_get(rt, &st);
    CHECK_EQ(st.alive, 0);
    weft_rt_free(rt);
}

weft_async_fn(abort_poll, opener) {
    weft_async (self) {
        weft_yield(); /* the waiter parks on the gate */
        weft_task_abort(self->victim);
        weft_await(weft_join(self->victim, cx, &self->status));
    }
    return WEFT_READY;
}

static void abort_cancels_parked_task_and_join_reports_ecanceled(void) {
    weft_rt *rt = new_rt();
    gate g = {0};
    waiter *w;
    MUST(weft_task_new(&w, rt, waiter_poll));
    w->g = &g;
    opener o = {.victim = weft_task_spawn(w)};
    CHECK_EQ(weft_block_on(rt, abort_poll, &o), 0);
    CHECK_EQ(o.status, -ECANCELED);
    waiter *view = weft_task_frame(o.victim);
    CHECK_EQ(view->started, 1);
    CHECK_EQ(view->finished, 0);
    CHECK_EQ(view->finally_runs, 1);
    CHECK_EQ(view->cancelled, 1);
    CHECK_EQ(g.cancels, 1); /* the gate's registration was dropped */
    CHECK(g.waker == NULL);
    weft_task_release(o.victim);
    weft_rt_free(rt);
}

weft_async_fn(abort_early_poll, opener) {
    weft_async (self) {
        {
            waiter *w;
            MUST(weft_task_new(&w, cx->rt, waiter_poll));
            w->g = self->g;
            self->victim = weft_task_spawn(w);
        }
        weft_task_abort(self->victim); /* before its first poll */
        weft_await(weft_join(self->victim, cx, &self->status));
    }
    return WEFT_READY;
}

static void abort_before_first_poll_runs_only_finally(void) {
    weft_rt *rt = new_rt();
    gate g = {0};
    opener o = {.g = &g};
    CHECK_EQ(weft_block_on(rt, abort_early_poll, &o), 0);
    CHECK_EQ(o.status, -ECANCELED);
    waiter *view = weft_task_frame(o.victim);
    CHECK_EQ(view->started, 0);
    CHECK_EQ(view->finally_runs, 1);
    CHECK_EQ(view->cancelled, 1);
    weft_task_release(o.victim);
    weft_rt_free(rt);
}

weft_async_fn(abort_late_poll, opener) {
    weft_async (self) {
        weft_await(weft_join(self->victim, cx, &self->status));
        weft_task_abort(self->victim); /* after completion: no effect */
        weft_await(weft_join(self->victim, cx, &self->status));
    }
    return WEFT_READY;
}

static void abort_after_completion_keeps_the_output(void) {
    weft_rt *rt = new_rt();
    doubler *d;
    MUST(weft_task_new(&d, rt, doubler_poll));
    d->in = 4;
    opener o = {.victim = weft_task_spawn(d)};
    CHECK_EQ(weft_block_on(rt, abort_late_poll, &o), 0);
    CHECK_EQ(o.status, 0);
    CHECK_EQ(((doubler *)weft_task_frame(o.victim))->out, 8);
    weft_task_release(o.victim);
    weft_rt_free(rt);
}

/* A task that aborts itself while running finishes cancelled after the poll. */
typedef struct self_abort {
    weft_frame fr;
    weft_task **me;
    gate g;
    int finally_runs, cancelled, after;
} self_abort;

weft_async_fn(self_abort_poll, self_abort) {
    weft_async (self) {
        weft_task_abort(*self->me);
        weft_await(gate_wait(&self->g, cx));
        self->after = 1;
    weft_finally:
        self->finally_runs++;
        self->cancelled = weft_cancelled();
    }
    return WEFT_READY;
}

weft_async_fn(join_self_abort, opener) {
    weft_async (self) {
        weft_await(weft_join(self->victim, cx, &self->status));
    }
    return WEFT_READY;
}

static void abort_of_running_task_takes_effect_after_its_poll(void) {
    weft_rt *rt = new_rt();
    weft_task *me = NULL;
    self_abort *s;
    MUST(weft_task_new(&s, rt, self_abort_poll));
    s->me = &me;
    me = weft_task_spawn(s);
    opener o = {.victim = me};
    CHECK_EQ(weft_block_on(rt, join_self_abort, &o), 0);
    CHECK_EQ(o.status, -ECANCELED);
    self_abort *view = weft_task_frame(me);
    CHECK_EQ(view->after, 0);
    CHECK_EQ(view->finally_runs, 1);
    CHECK_EQ(view->cancelled, 1);
    CHECK_EQ(view->g.cancels, 1);
    weft_task_release(me);
    weft_rt_free(rt);
}

/* Dropping the join wait (cx == NULL) does not affect the task. */
typedef struct join_then_drop {
    weft_frame fr;
    weft_task *h;
    gate *g;
} join_then_drop;

weft_async_fn(join_then_drop_poll, join_then_drop) {
    weft_async (self) {
        weft_await(weft_join(self->h, cx, NULL));
    }
    return WEFT_READY;
}

typedef struct jtd_driver {
    weft_frame fr;
    weft_task *joiner, *target;
    gate *g;
    int status;
} jtd_driver;

weft_async_fn(jtd_driver_poll, jtd_driver) {
    weft_async (self) {
        weft_yield();
        weft_yield(); /* joiner parked on the target's join */
        weft_task_abort(self->joiner);
        weft_await(weft_join(self->joiner, cx, &self->status));
        gate_open(self->g);
        weft_await(weft_join(self->target, cx, NULL));
    }
    return WEFT_READY;
}

static void cancelling_a_join_leaves_the_task_running(void) {
    weft_rt *rt = new_rt();
    gate g = {0};
    waiter *w;
    MUST(weft_task_new(&w, rt, waiter_poll));
    w->g = &g;
    weft_task *target = weft_task_spawn(w);
    join_then_drop *j;
    MUST(weft_task_new(&j, rt, join_then_drop_poll));
    j->h = target;
    weft_task *joiner = weft_task_spawn(j);
    jtd_driver d = {.joiner = joiner, .target = target, .g = &g};
    CHECK_EQ(weft_block_on(rt, jtd_driver_poll, &d), 0);
    CHECK_EQ(d.status, -ECANCELED);
    waiter *view = weft_task_frame(target);
    CHECK_EQ(view->finished, 1);
    CHECK_EQ(view->cancelled, 0);
    weft_task_release(joiner);
    weft_task_release(target);
    weft_rt_free(rt);
}

/* ---- shutdown ------------------------------------------------------------ */

static void rt_free_cancels_remaining_tasks(void) {
    weft_rt *rt = new_rt();
    gate g = {0};
    weft_task *h[10];
    for (int i = 0; i < 10; i++) {
        waiter *w;
        MUST(weft_task_new(&w, rt, waiter_poll));
        w->g = &g;
        h[i] = weft_task_spawn(w);
    }
    doubler d = {.in = 1};
    CHECK_EQ(weft_block_on(rt, doubler_poll, &d), 0);
    /* let them all park */
    CHECK_EQ(weft_block_on(rt, doubler_poll, &(doubler){.in = 1}), 0);
    weft_rt_free(rt);
    for (int i = 0; i < 10; i++) {
        CHECK(weft_task_is_finished(h[i]));
        waiter *view = weft_task_frame(h[i]);
        CHECK_EQ(view->finally_runs, 1);
        CHECK_EQ(view->cancelled, 1);
        weft_task_release(h[i]); /* handles outlive the runtime */
    }
}

static void rt_free_cancels_tasks_never_polled(void) {
    weft_rt *rt = new_rt();
    gate g = {0};
    waiter *w;
    MUST(weft_task_new(&w, rt, waiter_poll));
    w->g = &g;
    weft_task *h = weft_task_spawn(w);
    weft_rt_free(rt);
    waiter *view = weft_task_frame(h);
    CHECK_EQ(view->started, 0);
    CHECK_EQ(view->finally_runs, 1);
    int st = 1;
    weft_cx c = weft_cx_manual(NULL);
    CHECK_EQ(weft_join(h, &c, &st), WEFT_READY);
    CHECK_EQ(st, -ECANCELED);
    weft_task_release(h);
}

static void discarded_frame_is_freed_without_running(void) {
    weft_rt *rt = new_rt();
    int polls = 0;
    doubler *d;
    MUST(weft_task_new(&d, rt, doubler_poll));
    d->polled = &polls;
    weft_task_discard(d);
    CHECK_EQ(weft_block_on(rt, doubler_poll, &(doubler){.in = 1}), 0);
    CHECK_EQ(polls, 0);
    weft_rt_stats st;
    weft_rt_stats_get(rt, &st);
    CHECK_EQ(st.alive, 0);
    weft_rt_free(rt);
}

/* A frame type aligned beyond what the task heap gives. */
typedef struct aligned32 {
    weft_frame fr;
    _Alignas(32) unsigned char v[32];
} aligned32;

weft_async_fn(aligned32_poll, aligned32) {
    weft_async (self) { self->v[0] = 1; }
    return WEFT_READY;
}

static void task_new_fails_with_einval_on_bad_alignment(void) {
    weft_rt *rt = new_rt();
    aligned32 *a = (aligned32 *)&a;
    CHECK_EQ(weft_task_new(&a, rt, aligned32_poll), -EINVAL);
    CHECK(a == NULL);
    doubler *d = (doubler *)&d;
    CHECK_EQ(weft_task_new(&d, NULL, doubler_poll), -EINVAL);
    CHECK(d == NULL);
    weft_rt_free(rt);
}

/* A frame type that needs 16-byte alignment lands aligned. */
typedef struct aligned16 {
    weft_frame fr;
    _Alignas(16) unsigned char v[32];
    int ok;
} aligned16;

weft_async_fn(aligned16_poll, aligned16) {
    weft_async (self) {
        self->ok = ((uintptr_t)self % 16 == 0) && ((uintptr_t)self->v % 16 == 0);
    }
    return WEFT_READY;
}

static void frames_needing_16_byte_alignment_are_aligned(void) {
    weft_rt *rt = new_rt();
    aligned16 *a;
    MUST(weft_task_new(&a, rt, aligned16_poll));
    CHECK(a);
    CHECK_EQ((uintptr_t)a % 16, 0);
    weft_task *h = weft_task_spawn(a);
    CHECK(weft_task_frame(h) == a);
    CHECK_EQ(weft_block_on(rt, doubler_poll, &(doubler){0}), 0);
    CHECK_EQ(weft_block_on(rt, doubler_poll, &(doubler){0}), 0);
    CHECK(weft_task_is_finished(h));
    CHECK_EQ(((aligned16 *)weft_task_frame(h))->ok, 1);
    weft_task_release(h);
    weft_rt_free(rt);
}

/* A frame far bigger than a heap chunk. */
typedef struct big_frame {
    weft_frame fr;
    int in, out;
    unsigned char pad[200000];
} big_frame;

weft_async_fn(big_frame_poll, big_frame) {
    weft_async (self) {
        self->pad[sizeof self->pad - 1] = 1;
        self->out = self->in * 2;
    }
    return WEFT_READY;
}

static void large_frames_get_their_own_chunk(void) {
    weft_rt *rt = new_rt();
    big_frame *big;
    CHECK_EQ(weft_task_new(&big, rt, big_frame_poll), 0);
    CHECK(big);
    for (size_t i = 0; i < sizeof big->pad; i += 4096) CHECK_EQ(big->pad[i], 0);
    big->in = 3;
    weft_task *h = weft_task_spawn(big);
    CHECK_EQ(weft_block_on(rt, doubler_poll, &(doubler){0}), 0);
    CHECK_EQ(weft_block_on(rt, doubler_poll, &(doubler){0}), 0);
    CHECK_EQ(((big_frame *)weft_task_frame(h))->out, 6);
    weft_task_release(h);
    weft_rt_free(rt);
}

/* ---- dump ---------------------------------------------------------------- */

static void dump_prints_each_task_and_its_await_chain(void) {
    weft_rt *rt = new_rt();
    gate g = {0};
    waiter *w;
    MUST(weft_task_new(&w, rt, waiter_poll));
    w->g = &g;
    weft_task *h = weft_task_spawn(w);
    CHECK_EQ(weft_block_on(rt, doubler_poll, &(doubler){0}), 0);
    CHECK_EQ(weft_block_on(rt, doubler_poll, &(doubler){0}), 0);
    char buf[4096] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    weft_rt_dump(rt, f);
    fclose(f);
    CHECK(strstr(buf, "idle") != NULL);
    CHECK(strstr(buf, "spawned at waiter_poll @ tests/rt/test_task.c:") != NULL);
    CHECK(strstr(buf, "in waiter_poll: awaiting gate_wait(self->g, cx)") != NULL);
    weft_task_release(h);
    weft_rt_free(rt);
}

/* Channels made inside a runtime live in its task heap; walkers must skip
 * them and they must outlive the runtime. */
typedef struct make_oneshot {
    weft_frame fr;
    weft_oneshot_tx *tx;
    weft_oneshot_rx *rx;
    int r;
} make_oneshot;

weft_async_fn(make_oneshot_poll, make_oneshot) {
    weft_async (self) {
        self->r = weft_oneshot_new(&self->tx, &self->rx, sizeof(int), NULL);
    }
    return WEFT_READY;
}

static void heap_objects_are_not_tasks_and_outlive_the_runtime(void) {
    weft_rt *rt = new_rt();
    make_oneshot m = {0};
    CHECK_EQ(weft_block_on(rt, make_oneshot_poll, &m), 0);
    CHECK_EQ(m.r, 0);
    weft_rt_stats st;
    weft_rt_stats_get(rt, &st);
    CHECK_EQ(st.tasks_held, 0); /* the channel is not counted as a task */
    char buf[1024] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    weft_rt_dump(rt, f); /* must not mistake the channel for a task */
    fclose(f);
    CHECK_EQ(strlen(buf), 0);
    weft_rt_free(rt); /* the channel survives its runtime */
    int v = 5, out = 0;
    CHECK_EQ(weft_oneshot_send(m.tx, &v), 0);
    CHECK_EQ(weft_oneshot_try_recv(m.rx, &out), 0);
    CHECK_EQ(out, 5);
    weft_oneshot_rx_drop(m.rx); /* the last piece of the runtime's heap */
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(block_on_drives_future_to_completion),
                         TEST(block_on_inside_runtime_fails_with_edeadlk),
                         TEST(block_on_rejects_null),
                         TEST(spawn_runs_tasks_and_join_yields_outputs),
                         TEST(spawned_task_is_lazy_until_the_runtime_runs),
                         TEST(task_ids_are_distinct_and_nonzero),
                         TEST(current_task_id_survives_a_sub_waker),
                         TEST(current_task_id_matches_handle),
                         TEST(dropping_join_handle_detaches_task),
                         TEST(abort_cancels_parked_task_and_join_reports_ecanceled),
                         TEST(abort_before_first_poll_runs_only_finally),
                         TEST(abort_after_completion_keeps_the_output),
                         TEST(abort_of_running_task_takes_effect_after_its_poll),
                         TEST(cancelling_a_join_leaves_the_task_running),
                         TEST(rt_free_cancels_remaining_tasks),
                         TEST(rt_free_cancels_tasks_never_polled),
                         TEST(discarded_frame_is_freed_without_running),
                         TEST(task_new_fails_with_einval_on_bad_alignment),
                         TEST(frames_needing_16_byte_alignment_are_aligned),
                         TEST(large_frames_get_their_own_chunk),
                         TEST(dump_prints_each_task_and_its_await_chain),
                         TEST(heap_objects_are_not_tasks_and_outlive_the_runtime),
                         {0},
                     });
}
