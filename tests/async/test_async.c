/*
 * tests/async/test_async.c - the rules of async frames, checked by polling
 * frames by hand (no runtime).
 */
#include <weft.h>

#include "test.h"

/* A leaf operation that completes when told to, and counts its drops. */
typedef struct leaf {
    int ready;     /* set by the test: the next poll completes */
    int armed;     /* between a PENDING and completion/drop */
    int polls;
    int cancelled; /* drops that found it armed */
} leaf;

static weft_poll leaf_poll(leaf *l, weft_cx *cx) {
    if (cx == NULL) {
        if (l->armed) l->cancelled++;
        l->armed = 0;
        return WEFT_READY;
    }
    l->polls++;
    if (l->ready) {
        l->ready = 0;
        l->armed = 0;
        return WEFT_READY;
    }
    l->armed = 1;
    return WEFT_PENDING;
}

/* child: two awaits, a finally that records how it ended */
typedef struct child {
    weft_frame fr;
    leaf a, b;
    int early;        /* argument: weft_return after the first await */
    int steps;
    int finally_runs;
    int was_cancelled;
} child;

weft_async_fn(child_poll, child) {
    weft_async (self) {
        self->steps++;
        weft_await(leaf_poll(&self->a, cx));
        self->steps++;
        if (self->early) weft_return;
        weft_await(leaf_poll(&self->b, cx));
        self->steps++;
    weft_finally:
        self->finally_runs++;
        self->was_cancelled = weft_cancelled();
    }
    return WEFT_READY;
}

typedef struct parent {
    weft_frame fr;
    child c;
    int i, rounds;
    int finally_runs;
} parent;

weft_async_fn(parent_poll, parent) {
    weft_async (self) {
        for (self->i = 0; self->i < self->rounds; self->i++) {
            self->c = (child){.early = 0};
            weft_await(child_poll(&self->c, cx));
        }
    weft_finally:
        self->finally_runs++;
    }
    return WEFT_READY;
}

static weft_cx cx_;
static weft_cx *cx(void) {
    cx_ = weft_cx_manual(NULL);
    return &cx_;
}

static void frame_is_lazy_until_first_poll(void) {
    child c = {0};
    CHECK_EQ(c.steps, 0);
    CHECK(!weft_frame_done(&c.fr));
    CHECK_EQ(child_poll(&c, cx()), WEFT_PENDING);
    CHECK_EQ(c.steps, 1);
}

static void await_resumes_after_pending(void) {
    child c = {0};
    CHECK_EQ(child_poll(&c, cx()), WEFT_PENDING);
    c.a.ready = 1;
    CHECK_EQ(child_poll(&c, cx()), WEFT_PENDING);
    CHECK_EQ(c.steps, 2);
    c.b.ready = 1;
    CHECK_EQ(child_poll(&c, cx()), WEFT_READY);
    CHECK_EQ(c.steps, 3);
    CHECK(weft_frame_done(&c.fr));
}

static void spurious_poll_reevaluates_and_stays_pending(void) {
    child c = {0};
    CHECK_EQ(child_poll(&c, cx()), WEFT_PENDING);
    for (int i = 0; i < 5; i++) CHECK_EQ(child_poll(&c, cx()), WEFT_PENDING);
    CHECK_EQ(c.a.polls, 6);
    CHECK_EQ(c.steps, 1);
}

static void finally_runs_once_on_completion(void) {
    child c = {0};
    c.a.ready = c.b.ready = 1;
    CHECK_EQ(child_poll(&c, cx()), WEFT_READY);
    CHECK_EQ(c.finally_runs, 1);
    CHECK_EQ(c.was_cancelled, 0);
    (void)child_poll(&c, NULL); /* dropping a finished frame does nothing */
    CHECK_EQ(c.finally_runs, 1);
}

static void weft_return_runs_finally_and_completes(void) {
    child c = {.early = 1};
    c.a.ready = 1;
    CHECK_EQ(child_poll(&c, cx()), WEFT_READY);
    CHECK_EQ(c.steps, 2);
    CHECK_EQ(c.b.polls, 0);
    CHECK_EQ(c.finally_runs, 1);
    CHECK_EQ(c.was_cancelled, 0);
}

static void cancel_drops_the_live_leaf_and_runs_finally(void) {
    child c = {0};
    CHECK_EQ(child_poll(&c, cx()), WEFT_PENDING);
    c.a.ready = 1;
    CHECK_EQ(child_poll(&c, cx()), WEFT_PENDING); /* now parked on b */
    (void)child_poll(&c, NULL);
    CHECK_EQ(c.a.cancelled, 0);
    CHECK_EQ(c.b.cancelled, 1);
    CHECK_EQ(c.b.armed, 0);
    CHECK_EQ(c.finally_runs, 1);
    CHECK_EQ(c.was_cancelled, 1);
    CHECK(weft_frame_done(&c.fr));
    (void)child_poll(&c, NULL); /* a second drop is a no-op */
    CHECK_EQ(c.finally_runs, 1);
    CHECK_EQ(c.b.cancelled, 1);
}

static void cancel_before_first_poll_runs_only_finally(void) {
    child c = {0};
    (void)child_poll(&c, NULL);
    CHECK_EQ(c.steps, 0);
    CHECK_EQ(c.a.polls, 0);
    CHECK_EQ(c.finally_runs, 1);
    CHECK_EQ(c.was_cancelled, 1);
}

static void child_frame_runs_embedded_in_parent(void) {
    parent p = {.rounds = 2};
    CHECK_EQ(parent_poll(&p, cx()), WEFT_PENDING);
    CHECK(weft_frame_child(&p.fr) == &p.c);
    CHECK(weft_frame_child(&p.c.fr) == NULL); /* parked on a leaf */
    p.c.a.ready = 1;
    CHECK_EQ(parent_poll(&p, cx()), WEFT_PENDING);
    p.c.b.ready = 1;
    CHECK_EQ(parent_poll(&p, cx()), WEFT_PENDING); /* second child started */
    CHECK_EQ(p.i, 1);
    CHECK_EQ(p.c.steps, 1);
    p.c.a.ready = 1;
    CHECK_EQ(parent_poll(&p, cx()), WEFT_PENDING);
    p.c.b.ready = 1;
    CHECK_EQ(parent_poll(&p, cx()), WEFT_READY);
    CHECK_EQ(p.c.finally_runs, 1);
    CHECK_EQ(p.finally_runs, 1);
}

static void cancel_parent_drops_child_chain_once(void) {
    parent p = {.rounds = 3};
    CHECK_EQ(parent_poll(&p, cx()), WEFT_PENDING);
    p.c.a.ready = 1;
    CHECK_EQ(parent_poll(&p, cx()), WEFT_PENDING);
    (void)parent_poll(&p, NULL);
    CHECK_EQ(p.c.b.cancelled, 1);
    CHECK_EQ(p.c.finally_runs, 1);
    CHECK_EQ(p.c.was_cancelled, 1);
    CHECK_EQ(p.finally_runs, 1);
    CHECK(weft_frame_done(&p.c.fr));
    CHECK(weft_frame_done(&p.fr));
}

static void frame_records_where_it_is_parked(void) {
    parent p = {.rounds = 1};
    CHECK_EQ(parent_poll(&p, cx()), WEFT_PENDING);
    CHECK(p.fr.site != NULL);
    CHECK_STR(p.fr.site->expr, "child_poll(&self->c, cx)");
    CHECK_STR(p.fr.site->func, "parent_poll");
    CHECK(p.c.fr.site != NULL);
    CHECK_STR(p.c.fr.site->expr, "leaf_poll(&self->a, cx)");
    char buf[2048] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    weft_frame_dump(&p.fr, f);
    fclose(f);
    CHECK(strstr(buf, "in parent_poll: awaiting child_poll(&self->c, cx)") != NULL);
    CHECK(strstr(buf, "in child_poll: awaiting leaf_poll(&self->a, cx)") != NULL);
    CHECK(strstr(buf, "test_async.c:") != NULL);
}

/* weft_yield: pending once, after waking its waker */
typedef struct yielder {
    weft_frame fr;
    int before, after;
} yielder;

static int wakes;
static weft_waker *counting_clone(weft_waker *w) { return w; }
static void counting_wake(weft_waker *w) {
    (void)w;
    wakes++;
}
static void counting_drop(weft_waker *w) { (void)w; }
static const weft_waker_vtable counting_vt = {counting_clone, counting_wake, counting_wake,
                                              counting_drop};
static weft_waker counting_waker = {&counting_vt};

weft_async_fn(yielder_poll, yielder) {
    weft_async (self) {
        self->before++;
        weft_yield();
        self->after++;
    }
    return WEFT_READY;
}

static void yield_wakes_itself_and_suspends_once(void) {
    yielder y = {0};
    weft_cx c = weft_cx_manual(&counting_waker);
    wakes = 0;
    CHECK_EQ(yielder_poll(&y, &c), WEFT_PENDING);
    CHECK_EQ(wakes, 1);
    CHECK_EQ(y.after, 0);
    CHECK_EQ(yielder_poll(&y, &c), WEFT_READY);
    CHECK_EQ(y.before, 1);
    CHECK_EQ(y.after, 1);
}

static void cancel_at_yield_is_clean(void) {
    yielder y = {0};
    weft_cx c = weft_cx_manual(&counting_waker);
    CHECK_EQ(yielder_poll(&y, &c), WEFT_PENDING);
    (void)yielder_poll(&y, NULL);
    CHECK(weft_frame_done(&y.fr));
    CHECK_EQ(y.after, 0);
}

/* A frame without a finally section. */
typedef struct plain {
    weft_frame fr;
    leaf l;
    int done;
} plain;

weft_async_fn(plain_poll, plain) {
    weft_async (self) {
        weft_await(leaf_poll(&self->l, cx));
        if (self->done) weft_return;
        self->done = 1;
    }
    return WEFT_READY;
}

static void frame_without_finally_cancels_cleanly(void) {
    plain p = {0};
    CHECK_EQ(plain_poll(&p, cx()), WEFT_PENDING);
    (void)plain_poll(&p, NULL);
    CHECK_EQ(p.l.cancelled, 1);
    CHECK(weft_frame_done(&p.fr));
    CHECK_EQ(p.done, 0);
    plain q = {.done = 1};
    q.l.ready = 1;
    CHECK_EQ(plain_poll(&q, cx()), WEFT_READY); /* weft_return without finally */
    CHECK(weft_frame_done(&q.fr));
}

/* A weft_return inside the finally section ends the finally section. */
typedef struct ret_in_finally {
    weft_frame fr;
    int a, b;
} ret_in_finally;

weft_async_fn(ret_in_finally_poll, ret_in_finally) {
    weft_async (self) {
        self->a = 0;
    weft_finally:
        self->a++;
        if (self->a) weft_return;
        self->b++;
    }
    return WEFT_READY;
}

static void return_inside_finally_ends_it(void) {
    ret_in_finally r = {0};
    CHECK_EQ(ret_in_finally_poll(&r, cx()), WEFT_READY);
    CHECK_EQ(r.a, 1);
    CHECK_EQ(r.b, 0);
    CHECK(weft_frame_done(&r.fr));
}


/* ---- leaving the body: break and continue finish it like weft_return ---- */

typedef struct leaver {
    weft_frame fr;
    leaf a, b;
    int how;          /* argument: 0 fall off the end, 1 break, 2 continue */
    int loops;        /* iterations of an inner loop (break leaves only it) */
    int after;        /* reached the code after the top-level break/continue */
    int finally_runs;
    int was_cancelled;
} leaver;

weft_async_fn(leaver_poll, leaver) {
    weft_async (self) {
        for (int i = 0; i < 10; i++) {
            self->loops++;
            if (i == 2) break; /* leaves the inner loop only */
        }
        weft_await(leaf_poll(&self->a, cx));
        if (self->how == 1) break;
        if (self->how == 2) continue;
        self->after = 1;
        weft_await(leaf_poll(&self->b, cx));
    weft_finally:
        self->finally_runs++;
        self->was_cancelled = weft_cancelled();
    }
    return WEFT_READY;
}

static void break_at_top_level_runs_finally_and_completes(void) {
    leaver l = {.how = 1};
    l.a.ready = 1;
    CHECK_EQ(leaver_poll(&l, cx()), WEFT_READY);
    CHECK_EQ(l.loops, 3);
    CHECK_EQ(l.after, 0);
    CHECK_EQ(l.b.polls, 0);
    CHECK_EQ(l.finally_runs, 1);
    CHECK_EQ(l.was_cancelled, 0);
    CHECK(weft_frame_done(&l.fr));
    (void)leaver_poll(&l, NULL); /* dropping a finished frame does nothing */
    CHECK_EQ(l.finally_runs, 1);
}

static void continue_at_top_level_runs_finally_and_completes(void) {
    leaver l = {.how = 2};
    CHECK_EQ(leaver_poll(&l, cx()), WEFT_PENDING);
    l.a.ready = 1;
    CHECK_EQ(leaver_poll(&l, cx()), WEFT_READY);
    CHECK_EQ(l.loops, 3); /* the body did not run again */
    CHECK_EQ(l.after, 0);
    CHECK_EQ(l.finally_runs, 1);
    CHECK(weft_frame_done(&l.fr));
}

static void falling_off_the_end_runs_finally_once(void) {
    leaver l = {.how = 0};
    l.a.ready = l.b.ready = 1;
    CHECK_EQ(leaver_poll(&l, cx()), WEFT_READY);
    CHECK_EQ(l.after, 1);
    CHECK_EQ(l.finally_runs, 1);
    CHECK(weft_frame_done(&l.fr));
}

/* break at the top level of the finally section ends the section. */
typedef struct break_in_finally {
    weft_frame fr;
    int a, b;
} break_in_finally;

weft_async_fn(break_in_finally_poll, break_in_finally) {
    weft_async (self) {
        self->a = 0;
    weft_finally:
        self->a++;
        if (self->a) break;
        self->b++;
    }
    return WEFT_READY;
}

static void break_inside_finally_ends_it(void) {
    break_in_finally r = {0};
    CHECK_EQ(break_in_finally_poll(&r, cx()), WEFT_READY);
    CHECK_EQ(r.a, 1);
    CHECK_EQ(r.b, 0);
    CHECK(weft_frame_done(&r.fr));
}

/* break with no finally section completes the frame. */
typedef struct break_plain {
    weft_frame fr;
    leaf l;
    int after;
} break_plain;

weft_async_fn(break_plain_poll, break_plain) {
    weft_async (self) {
        weft_await(leaf_poll(&self->l, cx));
        break;
        self->after = 1;
    }
    return WEFT_READY;
}

static void break_without_finally_completes(void) {
    break_plain p = {0};
    p.l.ready = 1;
    CHECK_EQ(break_plain_poll(&p, cx()), WEFT_READY);
    CHECK_EQ(p.after, 0);
    CHECK(weft_frame_done(&p.fr));
}

/* ---- rules that abort: each must die ------------------------------------ */

static void poll_after_ready_aborts(void) {
    child c = {0};
    c.a.ready = c.b.ready = 1;
    (void)child_poll(&c, cx());
    (void)child_poll(&c, cx()); /* must abort */
}

typedef struct switcher {
    weft_frame fr;
    leaf l;
    int k;
} switcher;

weft_async_fn(switcher_poll, switcher) {
    weft_async (self) {
        switch (self->k) {
        case 1:
            weft_await(leaf_poll(&self->l, cx)); /* breaks rule 3 */
            break;
        default:
            break;
        }
    }
    return WEFT_READY;
}

static void await_inside_switch_aborts_on_resume(void) {
    switcher s = {.k = 1};
    (void)switcher_poll(&s, cx());
    s.l.ready = 1;
    (void)switcher_poll(&s, cx()); /* must abort */
}

typedef struct fin_await {
    weft_frame fr;
    leaf l;
} fin_await;

weft_async_fn(fin_await_poll, fin_await) {
    weft_async (self) {
        (void)0;
    weft_finally:
        weft_await(leaf_poll(&self->l, cx)); /* breaks rule 4 */
    }
    return WEFT_READY;
}

static void await_inside_finally_aborts(void) {
    fin_await f = {0};
    (void)fin_await_poll(&f, cx()); /* must abort */
}

/* Rule 5: a plain return out of the body skips weft_finally (debug abort). */
typedef struct returner {
    weft_frame fr;
    leaf l;
    int where; /* 0 before any await, 1 after one, 2 in finally */
} returner;

weft_async_fn(returner_poll, returner) {
    weft_async (self) {
        if (self->where == 0) return WEFT_READY; /* breaks rule 5 */
        weft_await(leaf_poll(&self->l, cx));
        if (self->where == 1) return WEFT_READY; /* breaks rule 5 */
    weft_finally:
        if (self->where == 2) return WEFT_READY; /* breaks rule 5 */
    }
    return WEFT_READY;
}

static void return_before_any_await_aborts(void) {
    returner r = {.where = 0};
    (void)returner_poll(&r, cx()); /* must abort */
}

static void return_after_an_await_aborts(void) {
    returner r = {.where = 1};
    r.l.ready = 1;
    (void)returner_poll(&r, cx()); /* must abort */
}

static void return_inside_finally_aborts(void) {
    returner r = {.where = 2};
    r.l.ready = 1;
    (void)returner_poll(&r, cx()); /* must abort */
}

/* The control for the three above: the same frame, left by the rules. */
static void returner_by_the_rules_completes(void) {
    returner r = {.where = 3};
    CHECK_EQ(returner_poll(&r, cx()), WEFT_PENDING);
    r.l.ready = 1;
    CHECK_EQ(returner_poll(&r, cx()), WEFT_READY);
    CHECK(weft_frame_done(&r.fr));
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(frame_is_lazy_until_first_poll),
                         TEST(await_resumes_after_pending),
                         TEST(spurious_poll_reevaluates_and_stays_pending),
                         TEST(finally_runs_once_on_completion),
                         TEST(weft_return_runs_finally_and_completes),
                         TEST(cancel_drops_the_live_leaf_and_runs_finally),
                         TEST(cancel_before_first_poll_runs_only_finally),
                         TEST(child_frame_runs_embedded_in_parent),
                         TEST(cancel_parent_drops_child_chain_once),
                         TEST(frame_records_where_it_is_parked),
                         TEST(yield_wakes_itself_and_suspends_once),
                         TEST(cancel_at_yield_is_clean),
                         TEST(frame_without_finally_cancels_cleanly),
                         TEST(return_inside_finally_ends_it),
                         TEST(break_at_top_level_runs_finally_and_completes),
                         TEST(continue_at_top_level_runs_finally_and_completes),
                         TEST(falling_off_the_end_runs_finally_once),
                         TEST(break_inside_finally_ends_it),
                         TEST(break_without_finally_completes),
                         TEST(returner_by_the_rules_completes),
                         TEST_DEATH(return_before_any_await_aborts),
                         TEST_DEATH(return_after_an_await_aborts),
                         TEST_DEATH(return_inside_finally_aborts),
                         TEST_DEATH(poll_after_ready_aborts),
                         TEST_DEATH(await_inside_switch_aborts_on_resume),
                         TEST_DEATH(await_inside_finally_aborts),
                         {0},
                     });
}
