/*
 * tests/time/test_time.c - the runtime clock, sleeps, intervals, timeouts and
 * the paused clock (src/time/time.c, and the auto-advance of the paused clock
 * in src/rt/runtime.c's turn).
 *
 * Timing never decides a test.  Almost every test runs on a paused clock
 * (weft_rt_config.start_paused or weft_time_pause), where time moves only by
 * weft_time_advance or by auto-advance when every task is idle, and asserts
 * exact weft_now() readings, orders and counts.  The few tests on the real
 * clock assert one-sided bounds only ("took at least d ms"), never upper
 * bounds on wall-clock time.
 */
#include <weft.h>

#include "rt/gate.h"
#include "test.h"
#include "rt/flavour.h"

#include <time.h>

/* ---- helpers ------------------------------------------------------------- */

static weft_rt *new_rt(int paused) {
    weft_rt_config cfg = {.start_paused = paused};
    return test_rt_new(&cfg);
}

static weft_rt_stats stats(weft_rt *rt) {
    weft_rt_stats st;
    weft_rt_stats_get(rt, &st);
    return st;
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void wall_sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The last millisecond the runtime's nanosecond clock can show. */
#define CLOCK_END_MS (UINT64_MAX / 1000000u)

/*
 * A leaf that completes only when released: counts its polls and its drops
 * (polls with cx == NULL), keeps one waker.
 */
typedef struct probe {
    int polls, drops, ready;
    weft_waker *waker;
} probe;

static weft_poll probe_wait(probe *p, weft_cx *cx) {
    if (cx == NULL) {
        p->drops++;
        weft_waker_drop(p->waker);
        p->waker = NULL;
        return WEFT_READY;
    }
    p->polls++;
    if (p->ready) {
        weft_waker_drop(p->waker);
        p->waker = NULL;
        return WEFT_READY;
    }
    weft_waker_store(&p->waker, cx);
    return WEFT_PENDING;
}

/* The order in which sleepers woke, and the clock when each did. */
typedef struct wake_log {
    int n;
    int id[64];
    weft_instant at[64];
} wake_log;

/* Sleeps ms once; records the clock before and after. */
typedef struct sleeper {
    weft_frame fr;
    uint64_t ms;
    int id;
    wake_log *log;       /* optional */
    int *finally_count;  /* optional: shared count of finally runs */
    weft_sleep_op op;
    weft_instant before, after;
    int woke, finally_runs, cancelled;
} sleeper;

weft_async_fn(sleeper_poll, sleeper) {
    weft_async (self) {
        self->before = weft_now(cx->rt);
        weft_await(weft_sleep(&self->op, cx, self->ms));
        self->after = weft_now(cx->rt);
        self->woke = 1;
        if (self->log && self->log->n < 64) {
            self->log->id[self->log->n] = self->id;
            self->log->at[self->log->n] = self->after;
            self->log->n++;
        }
    weft_finally:
        self->finally_runs++;
        self->cancelled = weft_cancelled();
        if (self->finally_count) (*self->finally_count)++;
    }
    return WEFT_READY;
}

static weft_task *spawn_sleeper(weft_rt *rt, uint64_t ms, int id, wake_log *log) {
    sleeper *s;
    MUST(weft_task_new(&s, rt, sleeper_poll));
    if (!s) return NULL;
    s->ms = ms;
    s->id = id;
    s->log = log;
    return weft_task_spawn(s);
}

static sleeper *sleeper_of(weft_task *h) { return weft_task_frame(h); }

/* Yields n times: lets every spawned task run until it parks. */
typedef struct yielder {
    weft_frame fr;
    int n, i;
} yielder;

weft_async_fn(yielder_poll, yielder) {
    weft_async (self) {
        for (self->i = 0; self->i < self->n; self->i++) weft_yield();
    }
    return WEFT_READY;
}

/* Joins handles h[0..n) in order, recording each status. */
typedef struct join_all {
    weft_frame fr;
    weft_task **h;
    int n, i;
    int status[64];
} join_all;

weft_async_fn(join_all_poll, join_all) {
    weft_async (self) {
        for (self->i = 0; self->i < self->n; self->i++)
            weft_await(weft_join(self->h[self->i], cx, &self->status[self->i]));
    }
    return WEFT_READY;
}

/* A child frame: waits on a gate (when g is set) or sleeps ms. */
typedef struct child {
    weft_frame fr;
    gate *g;
    uint64_t ms;
    weft_sleep_op op;
    int finished, finally_runs, cancelled;
} child;

weft_async_fn(child_poll, child) {
    weft_async (self) {
        if (self->g)
            weft_await(gate_wait(self->g, cx));
        else
            weft_await(weft_sleep(&self->op, cx, self->ms));
        self->finished = 1;
    weft_finally:
        self->finally_runs++;
        self->cancelled = weft_cancelled();
    }
    return WEFT_READY;
}

/* ---- sleep --------------------------------------------------------------- */

static void sleep_completes_exactly_its_duration_on_the_paused_clock(void) {
    weft_rt *rt = new_rt(1);
    CHECK(rt);
    sleeper s = {.ms = 250};
    CHECK_EQ(weft_block_on(rt, sleeper_poll, &s), 0);
    CHECK_EQ(s.woke, 1);
    CHECK_EQ(s.before, 0);
    CHECK_EQ(s.after, 250);
    CHECK_EQ(weft_now(rt), 250);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

/* The same op sleeps again once it completed; each sleep counts from its start. */
typedef struct two_sleeps {
    weft_frame fr;
    weft_sleep_op op;
    weft_instant first, second;
} two_sleeps;

weft_async_fn(two_sleeps_poll, two_sleeps) {
    weft_async (self) {
        weft_await(weft_sleep(&self->op, cx, 30));
        self->first = weft_now(cx->rt);
        weft_await(weft_sleep(&self->op, cx, 45));
        self->second = weft_now(cx->rt);
    }
    return WEFT_READY;
}

static void sleep_op_is_reusable_after_it_completes(void) {
    weft_rt *rt = new_rt(1);
    two_sleeps t = {0};
    CHECK_EQ(weft_block_on(rt, two_sleeps_poll, &t), 0);
    CHECK_EQ(t.first, 30);
    CHECK_EQ(t.second, 75);
    CHECK_EQ(t.op.state, WEFT__TIMER_IDLE);
    weft_rt_free(rt);
}

static void sleep_of_an_hour_auto_advances_the_paused_clock(void) {
    weft_rt *rt = new_rt(1);
    sleeper s = {.ms = 3600000};
    CHECK_EQ(weft_block_on(rt, sleeper_poll, &s), 0);
    CHECK_EQ(s.after - s.before, 3600000);
    CHECK_EQ(weft_now(rt), 3600000);
    /* It never waited in epoll_wait: the clock jumped instead. */
    CHECK_EQ(stats(rt).parks, 0);
    weft_rt_free(rt);
}

static void paused_clock_starts_at_zero_and_stands_still(void) {
    weft_rt *rt = new_rt(1);
    CHECK(weft_time_is_paused(rt));
    CHECK_EQ(weft_now(rt), 0);
    wall_sleep_ms(5);
    CHECK_EQ(weft_now(rt), 0);
    weft_rt_free(rt);
}

static void sleepers_wake_in_deadline_order(void) {
    weft_rt *rt = new_rt(1);
    static const uint64_t ms[6] = {50, 10, 40, 20, 60, 30};
    wake_log log = {0};
    weft_task *h[6];
    for (int i = 0; i < 6; i++) CHECK((h[i] = spawn_sleeper(rt, ms[i], i, &log)));
    join_all j = {.h = h, .n = 6};
    CHECK_EQ(weft_block_on(rt, join_all_poll, &j), 0);
    static const int order[6] = {1, 3, 5, 2, 0, 4};
    CHECK_EQ(log.n, 6);
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(log.id[i], order[i]);
        CHECK_EQ(log.at[i], (i + 1) * 10);
        CHECK_EQ(sleeper_of(h[i])->after, ms[i]);
        CHECK_EQ(j.status[i], 0);
        weft_task_release(h[i]);
    }
    weft_rt_free(rt);
}

static void sleepers_with_equal_deadlines_wake_in_arming_order(void) {
    weft_rt *rt = new_rt(1);
    wake_log log = {0};
    weft_task *h[5];
    for (int i = 0; i < 5; i++) CHECK((h[i] = spawn_sleeper(rt, 25, i, &log)));
    join_all j = {.h = h, .n = 5};
    CHECK_EQ(weft_block_on(rt, join_all_poll, &j), 0);
    CHECK_EQ(log.n, 5);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(log.id[i], i);
        CHECK_EQ(log.at[i], 25);
        weft_task_release(h[i]);
    }
    weft_rt_free(rt);
}

/* Polls sleep ops directly (not awaited) to see what the first poll says. */
typedef struct direct {
    weft_frame fr;
    weft_sleep_op op;
    weft_poll r_zero, r_past, r_now;
    uint64_t timers;
    weft_instant now;
} direct;

weft_async_fn(sleep_zero_poll, direct) {
    weft_async (self) {
        self->r_zero = weft_sleep(&self->op, cx, 0);
        self->timers = stats(cx->rt).timers;
        self->now = weft_now(cx->rt);
    }
    return WEFT_READY;
}

static void sleep_zero_is_ready_at_once(void) {
    weft_rt *rt = new_rt(1);
    direct d = {.r_zero = WEFT_PENDING};
    CHECK_EQ(weft_block_on(rt, sleep_zero_poll, &d), 0);
    CHECK_EQ(d.r_zero, WEFT_READY);
    CHECK_EQ(d.timers, 0);
    CHECK_EQ(d.op.state, WEFT__TIMER_IDLE);
    CHECK_EQ(d.now, 0);
    weft_rt_free(rt);
}

weft_async_fn(sleep_until_past_poll, direct) {
    weft_async (self) {
        weft_await(weft_sleep(&self->op, cx, 100));
        self->r_past = weft_sleep_until(&self->op, cx, 40);
        self->r_now = weft_sleep_until(&self->op, cx, 100);
        self->timers = stats(cx->rt).timers;
        self->now = weft_now(cx->rt);
    }
    return WEFT_READY;
}

static void sleep_until_in_the_past_is_ready_at_once(void) {
    weft_rt *rt = new_rt(1);
    direct d = {.r_past = WEFT_PENDING, .r_now = WEFT_PENDING};
    CHECK_EQ(weft_block_on(rt, sleep_until_past_poll, &d), 0);
    CHECK_EQ(d.now, 100);
    CHECK_EQ(d.r_past, WEFT_READY);
    CHECK_EQ(d.r_now, WEFT_READY); /* a deadline equal to now has passed */
    CHECK_EQ(d.timers, 0);
    weft_rt_free(rt);
}

typedef struct until {
    weft_frame fr;
    weft_instant deadline;
    weft_sleep_op op;
    weft_instant at;
} until;

weft_async_fn(until_poll, until) {
    weft_async (self) {
        weft_await(weft_sleep_until(&self->op, cx, self->deadline));
        self->at = weft_now(cx->rt);
    }
    return WEFT_READY;
}

static void sleep_until_completes_at_its_deadline(void) {
    weft_rt *rt = new_rt(1);
    until u = {.deadline = 1234};
    CHECK_EQ(weft_block_on(rt, until_poll, &u), 0);
    CHECK_EQ(u.at, 1234);
    weft_rt_free(rt);
}

/* Dropping an idle op needs no runtime and is harmless. */
static void dropping_an_idle_sleep_needs_no_runtime(void) {
    weft_sleep_op op = {0};
    CHECK_EQ(weft_sleep(&op, NULL, 1000), WEFT_READY);
    CHECK_EQ(op.state, WEFT__TIMER_IDLE);
    CHECK(op.waker == NULL);
}

/* A sleep with no clock to measure it would end early: a clear abort. */
static void sleep_polled_outside_a_runtime_aborts(void) {
    weft_cx cx = weft_cx_manual(NULL);
    weft_sleep_op op = {0};
    (void)weft_sleep(&op, &cx, 1000); /* must abort */
}

static void interval_ticked_outside_a_runtime_aborts(void) {
    weft_cx cx = weft_cx_manual(NULL);
    weft_interval iv;
    weft_interval_init(&iv, 10, WEFT_MISSED_BURST);
    (void)weft_interval_tick(&iv, &cx, NULL); /* must abort */
}

/* The clock was paused mid-millisecond: the sleep rounds up, never early. */
typedef struct midms {
    weft_frame fr;
    weft_sleep_op op;
    weft_instant before, after;
} midms;

weft_async_fn(midms_poll, midms) {
    weft_async (self) {
        self->before = weft_now(cx->rt);
        weft_await(weft_sleep(&self->op, cx, 40));
        self->after = weft_now(cx->rt);
    }
    return WEFT_READY;
}

static void sleep_on_a_clock_paused_mid_millisecond_never_ends_early(void) {
    weft_rt *rt = new_rt(0);
    wall_sleep_ms(2);
    CHECK_EQ(weft_time_pause(rt), 0);
    midms m = {0};
    CHECK_EQ(weft_block_on(rt, midms_poll, &m), 0);
    /* Deadline = the paused reading rounded up to a whole ms, plus 40; the
     * paused clock then jumps exactly there. */
    CHECK(m.after >= m.before + 40);
    CHECK(m.after <= m.before + 41);
    weft_rt_free(rt);
}

/* ---- weft_time_advance --------------------------------------------------- */

typedef struct advancer {
    weft_frame fr;
    weft_task *a, *b; /* sleeping 100 and 300 */
    int rc1, rc2;
    weft_instant now1, now2;
    int a_woke_before_yield, b_woke_mid;
    uint64_t timers_parked, timers_mid, timers_end;
} advancer;

weft_async_fn(advancer_poll, advancer) {
    weft_async (self) {
        weft_yield(); /* both park */
        self->timers_parked = stats(cx->rt).timers;
        self->rc1 = weft_time_advance(cx->rt, 150);
        self->now1 = weft_now(cx->rt);
        self->a_woke_before_yield = sleeper_of(self->a)->woke;
        weft_await(weft_join(self->a, cx, NULL));
        self->b_woke_mid = sleeper_of(self->b)->woke;
        self->timers_mid = stats(cx->rt).timers;
        self->rc2 = weft_time_advance(cx->rt, 150);
        self->now2 = weft_now(cx->rt);
        weft_await(weft_join(self->b, cx, NULL));
        self->timers_end = stats(cx->rt).timers;
    }
    return WEFT_READY;
}

static void time_advance_fires_due_timers_and_moves_the_clock(void) {
    weft_rt *rt = new_rt(1);
    advancer a = {.a = spawn_sleeper(rt, 100, 0, NULL), .b = spawn_sleeper(rt, 300, 1, NULL)};
    CHECK(a.a && a.b);
    CHECK_EQ(weft_block_on(rt, advancer_poll, &a), 0);
    CHECK_EQ(a.timers_parked, 2);
    CHECK_EQ(a.rc1, 0);
    CHECK_EQ(a.now1, 150);
    CHECK_EQ(a.a_woke_before_yield, 0); /* woken; runs when the caller yields */
    CHECK_EQ(sleeper_of(a.a)->after, 150);
    CHECK_EQ(a.b_woke_mid, 0);
    CHECK_EQ(a.timers_mid, 1);
    CHECK_EQ(a.rc2, 0);
    CHECK_EQ(a.now2, 300);
    CHECK_EQ(sleeper_of(a.b)->after, 300);
    CHECK_EQ(a.timers_end, 0);
    weft_task_release(a.a);
    weft_task_release(a.b);
    weft_rt_free(rt);
}

/* One advance makes several timers due: their tasks run in deadline order. */
typedef struct advance_all {
    weft_frame fr;
    weft_task **h;
    int n, i;
} advance_all;

weft_async_fn(advance_all_poll, advance_all) {
    weft_async (self) {
        weft_yield();
        weft_time_advance(cx->rt, 100);
        for (self->i = 0; self->i < self->n; self->i++)
            weft_await(weft_join(self->h[self->i], cx, NULL));
    }
    return WEFT_READY;
}

static void time_advance_wakes_sleepers_in_deadline_order(void) {
    weft_rt *rt = new_rt(1);
    static const uint64_t ms[4] = {40, 10, 30, 20};
    wake_log log = {0};
    weft_task *h[4];
    for (int i = 0; i < 4; i++) CHECK((h[i] = spawn_sleeper(rt, ms[i], i, &log)));
    advance_all a = {.h = h, .n = 4};
    CHECK_EQ(weft_block_on(rt, advance_all_poll, &a), 0);
    static const int order[4] = {1, 3, 2, 0};
    CHECK_EQ(log.n, 4);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(log.id[i], order[i]);
        CHECK_EQ(log.at[i], 100);
        weft_task_release(h[i]);
    }
    weft_rt_free(rt);
}

typedef struct advance_rc {
    weft_frame fr;
    int rc;
} advance_rc;

weft_async_fn(advance_rc_poll, advance_rc) {
    weft_async (self) {
        self->rc = weft_time_advance(cx->rt, 10000);
    }
    return WEFT_READY;
}

static void time_advance_fails_with_einval_when_not_paused(void) {
    weft_rt *rt = new_rt(0);
    advance_rc a = {0};
    CHECK_EQ(weft_block_on(rt, advance_rc_poll, &a), 0);
    CHECK_EQ(a.rc, -EINVAL);
    CHECK(!weft_time_is_paused(rt));
    weft_rt_free(rt);
}

weft_async_fn(advance_to_the_end_poll, advance_rc) {
    weft_async (self) {
        self->rc = weft_time_advance(cx->rt, UINT64_MAX);
        if (self->rc == 0) self->rc = weft_time_advance(cx->rt, 1000);
    }
    return WEFT_READY;
}

static void time_advance_saturates_at_the_end_of_the_clock(void) {
    weft_rt *rt = new_rt(1);
    advance_rc a = {.rc = -1};
    CHECK_EQ(weft_block_on(rt, advance_to_the_end_poll, &a), 0);
    CHECK_EQ(a.rc, 0);
    CHECK_EQ(weft_now(rt), CLOCK_END_MS); /* no wrap-around to 0 */
    weft_rt_free(rt);
}

/* ---- pause and resume ---------------------------------------------------- */

static void time_pause_twice_returns_ealready(void) {
    weft_rt *rt = new_rt(0);
    CHECK(!weft_time_is_paused(rt));
    CHECK_EQ(weft_time_pause(rt), 0);
    CHECK(weft_time_is_paused(rt));
    CHECK_EQ(weft_time_pause(rt), -EALREADY);
    CHECK(weft_time_is_paused(rt));
    weft_rt_free(rt);
}

static void time_resume_twice_returns_ealready(void) {
    weft_rt *rt = new_rt(1);
    CHECK_EQ(weft_time_resume(rt), 0);
    CHECK(!weft_time_is_paused(rt));
    CHECK_EQ(weft_time_resume(rt), -EALREADY);
    CHECK(!weft_time_is_paused(rt));
    weft_rt_free(rt);
}

static void pause_stops_the_real_clock(void) {
    weft_rt *rt = new_rt(0);
    CHECK_EQ(weft_time_pause(rt), 0);
    weft_instant t0 = weft_now(rt);
    wall_sleep_ms(20);
    CHECK_EQ(weft_now(rt), t0);
    weft_rt_free(rt);
}

/*
 * Paused for 100 ms of wall time, then resumed: the clock continues from its
 * paused reading.  The only bound is the wall time measured around the resume
 * itself, so a slow machine cannot fail it.
 */
static void resume_does_not_jump_over_the_time_spent_paused(void) {
    weft_rt *rt = new_rt(0);
    CHECK_EQ(weft_time_pause(rt), 0);
    weft_instant t0 = weft_now(rt);
    wall_sleep_ms(100);
    uint64_t m0 = mono_ns();
    CHECK_EQ(weft_time_resume(rt), 0);
    weft_instant t1 = weft_now(rt);
    uint64_t m1 = mono_ns();
    CHECK(t1 >= t0);
    CHECK(t1 - t0 <= (m1 - m0) / 1000000u + 1);
    weft_rt_free(rt);
}

typedef struct resume_from {
    weft_frame fr;
    weft_instant t0, t1;
    uint64_t m0, m1;
    int rc;
} resume_from;

weft_async_fn(resume_from_poll, resume_from) {
    weft_async (self) {
        weft_time_advance(cx->rt, 10000000); /* ~2.8 hours ahead of real time */
        self->t0 = weft_now(cx->rt);
        self->m0 = mono_ns();
        self->rc = weft_time_resume(cx->rt);
        self->t1 = weft_now(cx->rt);
        self->m1 = mono_ns();
    }
    return WEFT_READY;
}

static void resume_continues_from_an_advanced_reading(void) {
    weft_rt *rt = new_rt(1);
    resume_from r = {0};
    CHECK_EQ(weft_block_on(rt, resume_from_poll, &r), 0);
    CHECK_EQ(r.rc, 0);
    CHECK_EQ(r.t0, 10000000);
    CHECK(r.t1 >= r.t0); /* not back to real time */
    CHECK(r.t1 - r.t0 <= (r.m1 - r.m0) / 1000000u + 1);
    /* and it runs again */
    wall_sleep_ms(5);
    CHECK(weft_now(rt) >= r.t1 + 5);
    weft_rt_free(rt);
}

/* ---- auto-advance -------------------------------------------------------- */

typedef struct spinner {
    weft_frame fr;
    int n, i;
    int *count;
} spinner;

weft_async_fn(spinner_poll, spinner) {
    weft_async (self) {
        for (self->i = 0; self->i < self->n; self->i++) {
            (*self->count)++;
            weft_yield();
        }
    }
    return WEFT_READY;
}

typedef struct watcher {
    weft_frame fr;
    int *count;
    int seen;
    weft_sleep_op op;
    weft_instant at;
} watcher;

weft_async_fn(watcher_poll, watcher) {
    weft_async (self) {
        weft_await(weft_sleep(&self->op, cx, 1));
        self->seen = *self->count;
        self->at = weft_now(cx->rt);
    }
    return WEFT_READY;
}

static void auto_advance_waits_until_every_task_is_idle(void) {
    weft_rt *rt = new_rt(1);
    int count = 0;
    spinner *sp;
    MUST(weft_task_new(&sp, rt, spinner_poll));
    sp->n = 1000;
    sp->count = &count;
    watcher *w;
    MUST(weft_task_new(&w, rt, watcher_poll));
    w->count = &count;
    weft_task *h[2] = {weft_task_spawn(sp), weft_task_spawn(w)};
    join_all j = {.h = h, .n = 2};
    CHECK_EQ(weft_block_on(rt, join_all_poll, &j), 0);
    watcher *view = weft_task_frame(h[1]);
    CHECK_EQ(view->seen, 1000); /* the clock did not move while the spinner ran */
    CHECK_EQ(view->at, 1);
    weft_task_release(h[0]);
    weft_task_release(h[1]);
    weft_rt_free(rt);
}

static void sleeps_beyond_the_wheel_range_fire_at_their_exact_deadlines(void) {
    weft_rt *rt = new_rt(1);
    /* 64^6 ms (~2.2 years) is the wheel's span; these are further out. */
    const uint64_t three_years = UINT64_C(94608000000) + 7;
    const uint64_t century = UINT64_C(3153600000000) + 13;
    wake_log log = {0};
    weft_task *h[2] = {spawn_sleeper(rt, century, 0, &log),
                       spawn_sleeper(rt, three_years, 1, &log)};
    CHECK(h[0] && h[1]);
    join_all j = {.h = h, .n = 2};
    CHECK_EQ(weft_block_on(rt, join_all_poll, &j), 0);
    CHECK_EQ(log.n, 2);
    CHECK_EQ(log.id[0], 1);
    CHECK_EQ(log.at[0], three_years);
    CHECK_EQ(log.id[1], 0);
    CHECK_EQ(log.at[1], century);
    CHECK_EQ(weft_now(rt), century);
    weft_task_release(h[0]);
    weft_task_release(h[1]);
    weft_rt_free(rt);
}

/*
 * A sleep past the end of the clock (which counts nanoseconds in 64 bits, so
 * it ends after ~584 years) on a runtime with nothing else to do: the
 * auto-advance must neither spin for ever nor wrap the clock around.  The
 * sleep ends when the clock reaches its end.
 */
static void sleep_past_the_end_of_the_clock_does_not_hang_an_idle_paused_runtime(void) {
    weft_rt *rt = new_rt(1);
    sleeper s = {.ms = UINT64_MAX / 2};
    CHECK_EQ(weft_block_on(rt, sleeper_poll, &s), 0);
    CHECK_EQ(s.woke, 1);
    CHECK_EQ(s.after, CLOCK_END_MS);
    CHECK_EQ(weft_now(rt), CLOCK_END_MS);
    weft_rt_free(rt);
}

/* ---- the end of the clock ------------------------------------------------ */

/*
 * The clock counts nanoseconds in 64 bits and stops at its end (UINT64_MAX
 * ns, CLOCK_END_MS): in every path - advance, resume, auto-advance, real
 * time running after a resume - it saturates there, never wraps back to 0.
 * The wall sleeps below only make sure real time has run on (a lower bound);
 * no outcome depends on how long they took.
 */

/* Reads the clock n times: never backwards, never past its end. */
static void check_clock_steady(weft_rt *rt, weft_instant *prev, int n) {
    for (int i = 0; i < n; i++) {
        weft_instant t = weft_now(rt);
        CHECK(t >= *prev);
        CHECK(t <= CLOCK_END_MS);
        *prev = t;
    }
}

static void clock_resumed_at_its_end_stays_there(void) {
    weft_rt *rt = new_rt(1);
    CHECK_EQ(weft_time_advance(rt, UINT64_MAX), 0);
    CHECK_EQ(weft_now(rt), CLOCK_END_MS);
    CHECK_EQ(weft_time_resume(rt), 0);
    wall_sleep_ms(1); /* real time runs on past the end */
    weft_instant prev = CLOCK_END_MS;
    check_clock_steady(rt, &prev, 1000);
    if (test_failed()) return;
    CHECK_EQ(prev, CLOCK_END_MS);
    /* A sleep started now: its deadline is capped at the end, which the clock
     * has reached, so it is due at once - and not a moment before it. */
    sleeper s = {.ms = 100};
    CHECK_EQ(weft_block_on(rt, sleeper_poll, &s), 0);
    CHECK_EQ(s.woke, 1);
    CHECK_EQ(s.before, CLOCK_END_MS);
    CHECK_EQ(s.after, CLOCK_END_MS);
    CHECK_EQ(s.op.state, WEFT__TIMER_IDLE);
    CHECK_EQ(weft_now(rt), CLOCK_END_MS);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

/* Resumed just below 2^63 ns: the running clock crosses it without a signed
 * overflow (UBSan) and keeps counting. */
static void clock_resumed_below_2_pow_63_ns_crosses_it(void) {
    weft_rt *rt = new_rt(1);
    const uint64_t ms = (UINT64_C(1) << 63) / 1000000u; /* 775807 ns below 2^63 */
    CHECK_EQ(weft_time_advance(rt, ms), 0);
    CHECK_EQ(weft_now(rt), ms);
    CHECK_EQ(weft_time_resume(rt), 0);
    wall_sleep_ms(2);
    weft_instant prev = ms;
    check_clock_steady(rt, &prev, 100);
    if (test_failed()) return;
    CHECK(prev >= ms + 2);
    CHECK_EQ(weft_time_pause(rt), 0);
    CHECK(weft_now(rt) >= prev);
    weft_rt_free(rt);
}

static void clock_advanced_in_big_steps_stops_at_its_end(void) {
    weft_rt *rt = new_rt(1);
    const uint64_t step = CLOCK_END_MS / 3 + 1; /* three steps pass the end */
    CHECK_EQ(weft_time_advance(rt, step), 0);
    CHECK_EQ(weft_now(rt), step);
    CHECK_EQ(weft_time_advance(rt, step), 0);
    CHECK_EQ(weft_now(rt), 2 * step);
    /* a run of real time in the middle, across 2^63 ns */
    CHECK_EQ(weft_time_resume(rt), 0);
    wall_sleep_ms(1);
    CHECK(weft_now(rt) >= 2 * step + 1);
    CHECK_EQ(weft_time_pause(rt), 0);
    weft_instant mid = weft_now(rt);
    CHECK(mid >= 2 * step + 1);
    CHECK_EQ(weft_time_advance(rt, step), 0);
    CHECK_EQ(weft_now(rt), CLOCK_END_MS);
    CHECK_EQ(weft_time_advance(rt, step), 0);
    CHECK_EQ(weft_now(rt), CLOCK_END_MS);
    CHECK_EQ(weft_time_advance(rt, UINT64_MAX), 0);
    CHECK_EQ(weft_now(rt), CLOCK_END_MS);
    CHECK_EQ(weft_time_resume(rt), 0);
    wall_sleep_ms(1);
    CHECK_EQ(weft_now(rt), CLOCK_END_MS);
    weft_rt_free(rt);
}

/* Resume, run, pause, again and again, from 2 ms before the end: each reading
 * is at least the last, the clock reaches its end and stays there. */
static void pause_resume_cycles_near_the_end_never_go_back(void) {
    weft_rt *rt = new_rt(1);
    CHECK_EQ(weft_time_advance(rt, CLOCK_END_MS - 2), 0);
    weft_instant prev = weft_now(rt);
    CHECK_EQ(prev, CLOCK_END_MS - 2);
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(weft_time_resume(rt), 0);
        check_clock_steady(rt, &prev, 10);
        wall_sleep_ms(1);
        check_clock_steady(rt, &prev, 10);
        CHECK_EQ(weft_time_pause(rt), 0);
        check_clock_steady(rt, &prev, 10);
        if (test_failed()) return;
        CHECK_EQ(weft_time_advance(rt, 0), 0);
        check_clock_steady(rt, &prev, 1);
        if (test_failed()) return;
    }
    CHECK_EQ(prev, CLOCK_END_MS); /* 6 ms of real time ran */
    weft_rt_free(rt);
}

/* The running clock 5 ms before its end: a 2 ms sleep lasts at least 2 ms
 * (one-sided bound) and a 100 ms one ends at the end of the clock, not
 * before (its deadline is capped there). */
typedef struct near_end {
    weft_frame fr;
    weft_sleep_op op;
    weft_instant t0, t1, t2;
} near_end;

weft_async_fn(near_end_poll, near_end) {
    weft_async (self) {
        weft_time_advance(cx->rt, CLOCK_END_MS - 5);
        weft_time_resume(cx->rt);
        self->t0 = weft_now(cx->rt);
        weft_await(weft_sleep(&self->op, cx, 2));
        self->t1 = weft_now(cx->rt);
        weft_await(weft_sleep(&self->op, cx, 100));
        self->t2 = weft_now(cx->rt);
    }
    return WEFT_READY;
}

static void sleeps_on_the_running_clock_near_its_end_never_end_early(void) {
    weft_rt *rt = new_rt(1);
    near_end n = {0};
    CHECK_EQ(weft_block_on(rt, near_end_poll, &n), 0);
    CHECK(n.t0 >= CLOCK_END_MS - 5);
    /* at least 2 ms, or the end of the clock if it got there first (the
     * deadline is capped there) */
    CHECK(n.t1 >= (n.t0 + 2 < CLOCK_END_MS ? n.t0 + 2 : CLOCK_END_MS));
    CHECK_EQ(n.t2, CLOCK_END_MS);
    wall_sleep_ms(1);
    CHECK_EQ(weft_now(rt), CLOCK_END_MS);
    weft_rt_free(rt);
}

/* Auto-advance to a deadline capped at the end, then resume: still the end. */
static void auto_advance_to_the_end_then_resume_stays_at_the_end(void) {
    weft_rt *rt = new_rt(1);
    CHECK_EQ(weft_time_advance(rt, CLOCK_END_MS - 10), 0);
    sleeper s = {.ms = 100};
    CHECK_EQ(weft_block_on(rt, sleeper_poll, &s), 0);
    CHECK_EQ(s.before, CLOCK_END_MS - 10);
    CHECK_EQ(s.after, CLOCK_END_MS);
    CHECK_EQ(weft_time_resume(rt), 0);
    wall_sleep_ms(1);
    weft_instant prev = CLOCK_END_MS;
    check_clock_steady(rt, &prev, 100);
    if (test_failed()) return;
    sleeper s2 = {.ms = 50};
    CHECK_EQ(weft_block_on(rt, sleeper_poll, &s2), 0);
    CHECK_EQ(s2.before, CLOCK_END_MS);
    CHECK_EQ(s2.after, CLOCK_END_MS);
    weft_rt_free(rt);
}

/* ---- intervals ----------------------------------------------------------- */

/*
 * Ticks `before` times, then makes the task late by advancing the clock by
 * `stall` ms from inside the ticking task (or by sleeping that long, when
 * sleep_stall is set), then ticks `after` more times.  Records each tick's
 * reported instant and the clock when it completed.
 */
typedef struct ticker {
    weft_frame fr;
    uint64_t period;
    weft_missed_tick missed;
    uint64_t pre_advance; /* ms to advance before the first tick */
    int before, after;
    uint64_t stall;
    int sleep_stall;
    int reset_after_stall; /* call weft_interval_reset after the stall */
    weft_interval iv;
    weft_sleep_op op;
    int i, n;
    weft_instant when[32], now[32];
} ticker;

weft_async_fn(ticker_poll, ticker) {
    weft_async (self) {
        weft_interval_init(&self->iv, self->period, self->missed);
        if (self->pre_advance) weft_time_advance(cx->rt, self->pre_advance);
        for (self->i = 0; self->i < self->before; self->i++) {
            weft_await(weft_interval_tick(&self->iv, cx, &self->when[self->n]));
            self->now[self->n++] = weft_now(cx->rt);
        }
        if (self->stall && self->sleep_stall)
            weft_await(weft_sleep(&self->op, cx, self->stall));
        else if (self->stall)
            weft_time_advance(cx->rt, self->stall);
        if (self->reset_after_stall) weft_interval_reset(&self->iv, cx->rt);
        for (self->i = 0; self->i < self->after; self->i++) {
            weft_await(weft_interval_tick(&self->iv, cx, &self->when[self->n]));
            self->now[self->n++] = weft_now(cx->rt);
        }
    }
    return WEFT_READY;
}

/* Compare the recorded (when, now) pairs with the expected ones. */
static int ticks_are(const ticker *t, const weft_instant (*want)[2], int n) {
    int ok = t->n == n;
    if (!ok) fprintf(stderr, "    %d ticks, want %d\n", t->n, n);
    for (int i = 0; i < n && i < t->n; i++) {
        if (t->when[i] != want[i][0] || t->now[i] != want[i][1]) {
            fprintf(stderr, "    tick %d: when=%llu now=%llu, want when=%llu now=%llu\n", i,
                    (unsigned long long)t->when[i], (unsigned long long)t->now[i],
                    (unsigned long long)want[i][0], (unsigned long long)want[i][1]);
            ok = 0;
        }
    }
    return ok;
}

static void interval_first_tick_is_immediate(void) {
    weft_rt *rt = new_rt(1);
    ticker t = {.period = 1000, .pre_advance = 7, .before = 1};
    CHECK_EQ(weft_block_on(rt, ticker_poll, &t), 0);
    static const weft_instant want[][2] = {{7, 7}};
    CHECK(ticks_are(&t, want, 1));
    weft_rt_free(rt);
}

static void interval_ticks_every_period_at_the_reported_instants(void) {
    weft_rt *rt = new_rt(1);
    ticker t = {.period = 10, .pre_advance = 3, .before = 5};
    CHECK_EQ(weft_block_on(rt, ticker_poll, &t), 0);
    static const weft_instant want[][2] = {{3, 3}, {13, 13}, {23, 23}, {33, 33}, {43, 43}};
    CHECK(ticks_are(&t, want, 5));
    weft_rt_free(rt);
}

static void interval_period_zero_is_taken_as_one_ms(void) {
    weft_rt *rt = new_rt(1);
    ticker t = {.period = 0, .before = 4};
    CHECK_EQ(weft_block_on(rt, ticker_poll, &t), 0);
    static const weft_instant want[][2] = {{0, 0}, {1, 1}, {2, 2}, {3, 3}};
    CHECK(ticks_are(&t, want, 4));
    weft_rt_free(rt);
}

/*
 * The missed-tick scenario of the next three tests: period 10, ticks at 0 and
 * 10, then the task is busy until 47, so the ticks due at 20, 30 and 40 were
 * missed.  Tokio (MissedTickBehavior; interval.rs poll_tick returns the
 * scheduled instant and, when now > scheduled + 5 ms, asks the behaviour for
 * the next deadline):
 *   Burst: next = scheduled + period: 20, 30, 40 at once, then 50, 60.
 *   Delay: next = now + period:       20 at once, then 57, 67.
 *   Skip:  next = now + period - (now - scheduled) % period:
 *                                     20 at once, then 50, 60.
 */
static void interval_burst_fires_missed_ticks_back_to_back(void) {
    weft_rt *rt = new_rt(1);
    ticker t = {.period = 10, .missed = WEFT_MISSED_BURST, .before = 2, .stall = 37, .after = 5};
    CHECK_EQ(weft_block_on(rt, ticker_poll, &t), 0);
    static const weft_instant want[][2] = {{0, 0},   {10, 10}, {20, 47}, {30, 47},
                                           {40, 47}, {50, 50}, {60, 60}};
    CHECK(ticks_are(&t, want, 7));
    weft_rt_free(rt);
}

static void interval_delay_restarts_the_schedule_from_the_late_tick(void) {
    weft_rt *rt = new_rt(1);
    ticker t = {.period = 10, .missed = WEFT_MISSED_DELAY, .before = 2, .stall = 37, .after = 3};
    CHECK_EQ(weft_block_on(rt, ticker_poll, &t), 0);
    static const weft_instant want[][2] = {{0, 0}, {10, 10}, {20, 47}, {57, 57}, {67, 67}};
    CHECK(ticks_are(&t, want, 5));
    weft_rt_free(rt);
}

static void interval_skip_realigns_to_the_original_schedule(void) {
    weft_rt *rt = new_rt(1);
    ticker t = {.period = 10, .missed = WEFT_MISSED_SKIP, .before = 2, .stall = 37, .after = 3};
    CHECK_EQ(weft_block_on(rt, ticker_poll, &t), 0);
    static const weft_instant want[][2] = {{0, 0}, {10, 10}, {20, 47}, {50, 50}, {60, 60}};
    CHECK(ticks_are(&t, want, 5));
    weft_rt_free(rt);
}

/* The same Burst scenario, made late by an ordinary (auto-advanced) sleep. */
static void interval_burst_after_a_long_sleep_in_the_ticking_task(void) {
    weft_rt *rt = new_rt(1);
    ticker t = {.period = 10, .before = 2, .stall = 37, .sleep_stall = 1, .after = 5};
    CHECK_EQ(weft_block_on(rt, ticker_poll, &t), 0);
    static const weft_instant want[][2] = {{0, 0},   {10, 10}, {20, 47}, {30, 47},
                                           {40, 47}, {50, 50}, {60, 60}};
    CHECK(ticks_are(&t, want, 7));
    weft_rt_free(rt);
}

/*
 * Tokio applies the missed-tick behaviour whenever a tick is more than 5 ms
 * late, also when less than a whole period was lost: period 100, tick at 0,
 * busy until 130, so the tick due at 100 is 30 ms late.  Delay: next = now +
 * period = 230.
 */
static void interval_delay_applies_to_a_tick_late_by_less_than_a_period(void) {
    weft_rt *rt = new_rt(1);
    ticker t = {.period = 100, .missed = WEFT_MISSED_DELAY, .before = 1, .stall = 130, .after = 2};
    CHECK_EQ(weft_block_on(rt, ticker_poll, &t), 0);
    static const weft_instant want[][2] = {{0, 0}, {100, 130}, {230, 230}};
    CHECK(ticks_are(&t, want, 3));
    weft_rt_free(rt);
}

/* Up to 5 ms late is on time (Tokio's tolerance): the schedule is kept. */
static void interval_tick_late_by_at_most_5ms_keeps_the_schedule(void) {
    weft_rt *rt = new_rt(1);
    ticker t = {.period = 100, .missed = WEFT_MISSED_DELAY, .before = 1, .stall = 105, .after = 2};
    CHECK_EQ(weft_block_on(rt, ticker_poll, &t), 0);
    static const weft_instant want[][2] = {{0, 0}, {100, 105}, {200, 200}};
    CHECK(ticks_are(&t, want, 3));
    weft_rt_free(rt);
}

static void interval_reset_restarts_one_period_from_now(void) {
    weft_rt *rt = new_rt(1);
    ticker t = {.period = 10, .before = 2, .stall = 3, .reset_after_stall = 1, .after = 2};
    CHECK_EQ(weft_block_on(rt, ticker_poll, &t), 0);
    static const weft_instant want[][2] = {{0, 0}, {10, 10}, {23, 23}, {33, 33}};
    CHECK(ticks_are(&t, want, 4));
    weft_rt_free(rt);
}

/* Resetting before the first tick: the first tick comes a period later. */
static void interval_reset_before_the_first_tick_delays_it_by_a_period(void) {
    weft_rt *rt = new_rt(1);
    ticker t = {.period = 10, .stall = 4, .reset_after_stall = 1, .after = 2};
    CHECK_EQ(weft_block_on(rt, ticker_poll, &t), 0);
    static const weft_instant want[][2] = {{14, 14}, {24, 24}};
    CHECK(ticks_are(&t, want, 2));
    weft_rt_free(rt);
}

/* A tick wait dropped by a timeout: the schedule is kept, the tick not lost. */
typedef struct tick_timeout {
    weft_frame fr;
    weft_interval iv;
    weft_timeout_op to;
    int to_err; /* the timeout's result */
    weft_instant w0, w1, w2, at_timeout, at_tick;
    int err;
    uint64_t timers_after_timeout;
} tick_timeout;

weft_async_fn(tick_timeout_poll, tick_timeout) {
    weft_async (self) {
        weft_interval_init(&self->iv, 100, WEFT_MISSED_BURST);
        weft_await(weft_interval_tick(&self->iv, cx, &self->w0));
        weft_await(weft_timeout(&self->to, 30, &self->to_err, weft_interval_tick(&self->iv, cx, &self->w1)));
        self->err = self->to_err;
        self->at_timeout = weft_now(cx->rt);
        self->timers_after_timeout = stats(cx->rt).timers;
        weft_await(weft_interval_tick(&self->iv, cx, &self->w2));
        self->at_tick = weft_now(cx->rt);
    }
    return WEFT_READY;
}

static void interval_tick_cancelled_by_a_timeout_is_not_lost(void) {
    weft_rt *rt = new_rt(1);
    tick_timeout t = {.w1 = 999};
    CHECK_EQ(weft_block_on(rt, tick_timeout_poll, &t), 0);
    CHECK_EQ(t.w0, 0);
    CHECK_EQ(t.err, -ETIMEDOUT);
    CHECK_EQ(t.at_timeout, 30);
    CHECK_EQ(t.w1, 999); /* untouched: that tick did not complete */
    CHECK_EQ(t.timers_after_timeout, 0);
    CHECK_EQ(t.w2, 100);
    CHECK_EQ(t.at_tick, 100);
    weft_rt_free(rt);
}

/* A huge period saturates instead of wrapping around to an instant tick. */
typedef struct huge_period {
    weft_frame fr;
    weft_interval iv;
    weft_timeout_op to;
    int to_err; /* the timeout's result */
    weft_instant w0, w1;
    int err;
} huge_period;

weft_async_fn(huge_period_poll, huge_period) {
    weft_async (self) {
        weft_time_advance(cx->rt, 5);
        weft_interval_init(&self->iv, UINT64_MAX, WEFT_MISSED_BURST);
        weft_await(weft_interval_tick(&self->iv, cx, &self->w0));
        weft_await(weft_timeout(&self->to, 1000, &self->to_err, weft_interval_tick(&self->iv, cx, &self->w1)));
        self->err = self->to_err;
    }
    return WEFT_READY;
}

static void interval_with_a_huge_period_does_not_tick_again(void) {
    weft_rt *rt = new_rt(1);
    huge_period h = {.w1 = 999};
    CHECK_EQ(weft_block_on(rt, huge_period_poll, &h), 0);
    CHECK_EQ(h.w0, 5);
    CHECK_EQ(h.err, -ETIMEDOUT);
    CHECK_EQ(h.w1, 999);
    CHECK_EQ(weft_now(rt), 1005);
    weft_rt_free(rt);
}

/* ---- timeouts ------------------------------------------------------------ */

/* weft_timeout around a sleep: inner_ms against limit_ms. */
typedef struct timed_sleep {
    weft_frame fr;
    uint64_t inner_ms, limit_ms;
    weft_sleep_op op;
    weft_timeout_op to;
    int to_err; /* the timeout's result */
    weft_instant at;
    uint64_t timers_after;
} timed_sleep;

weft_async_fn(timed_sleep_poll, timed_sleep) {
    weft_async (self) {
        weft_await(weft_timeout(&self->to, self->limit_ms, &self->to_err,
                                weft_sleep(&self->op, cx, self->inner_ms)));
        self->at = weft_now(cx->rt);
        self->timers_after = stats(cx->rt).timers;
    }
    return WEFT_READY;
}

static void timeout_inner_completing_first_gives_err_zero(void) {
    weft_rt *rt = new_rt(1);
    timed_sleep t = {.inner_ms = 30, .limit_ms = 100, .to_err = 12345};
    CHECK_EQ(weft_block_on(rt, timed_sleep_poll, &t), 0);
    CHECK_EQ(t.to_err, 0);
    CHECK_EQ(t.at, 30);
    CHECK_EQ(t.timers_after, 0); /* the timeout's timer was disarmed */
    CHECK_EQ(t.to.timer.state, WEFT__TIMER_IDLE);
    weft_rt_free(rt);
}

static void timeout_deadline_first_gives_etimedout_and_drops_the_inner_sleep(void) {
    weft_rt *rt = new_rt(1);
    timed_sleep t = {.inner_ms = 100, .limit_ms = 50};
    CHECK_EQ(weft_block_on(rt, timed_sleep_poll, &t), 0);
    CHECK_EQ(t.to_err, -ETIMEDOUT);
    CHECK_EQ(t.at, 50);
    CHECK_EQ(t.timers_after, 0); /* the inner sleep left the wheel */
    CHECK_EQ(t.op.state, WEFT__TIMER_IDLE);
    CHECK(t.op.waker == NULL);
    weft_rt_free(rt);
}

/* Inner and deadline due in the same poll: the inner operation wins. */
static void timeout_inner_ready_at_the_deadline_wins(void) {
    weft_rt *rt = new_rt(1);
    timed_sleep t = {.inner_ms = 50, .limit_ms = 50, .to_err = 12345};
    CHECK_EQ(weft_block_on(rt, timed_sleep_poll, &t), 0);
    CHECK_EQ(t.to_err, 0);
    CHECK_EQ(t.at, 50);
    CHECK_EQ(t.timers_after, 0);
    weft_rt_free(rt);
}

/* weft_timeout around a probe leaf that never completes. */
typedef struct timed_probe {
    weft_frame fr;
    uint64_t ms;
    int absolute; /* ms is a deadline for weft_timeout_at */
    uint64_t pre_advance;
    probe *p;
    weft_timeout_op to;
    int to_err; /* the timeout's result */
    weft_instant at;
    int finally_runs, cancelled, done;
} timed_probe;

weft_async_fn(timed_probe_poll, timed_probe) {
    weft_async (self) {
        if (self->pre_advance) weft_time_advance(cx->rt, self->pre_advance);
        if (self->absolute)
            weft_await(weft_timeout_at(&self->to, self->ms, &self->to_err, probe_wait(self->p, cx)));
        else
            weft_await(weft_timeout(&self->to, self->ms, &self->to_err, probe_wait(self->p, cx)));
        self->at = weft_now(cx->rt);
        self->done = 1;
    weft_finally:
        self->finally_runs++;
        self->cancelled = weft_cancelled();
    }
    return WEFT_READY;
}

static void timeout_deadline_first_drops_the_inner_leaf_once(void) {
    weft_rt *rt = new_rt(1);
    probe p = {0};
    timed_probe t = {.ms = 50, .p = &p};
    CHECK_EQ(weft_block_on(rt, timed_probe_poll, &t), 0);
    CHECK_EQ(t.to_err, -ETIMEDOUT);
    CHECK_EQ(t.at, 50);
    CHECK_EQ(p.drops, 1);
    CHECK(p.waker == NULL);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

/* Like Tokio's timeout(0): the inner operation gets its one poll first. */
static void timeout_zero_polls_the_inner_once_then_times_out(void) {
    weft_rt *rt = new_rt(1);
    probe p = {0};
    timed_probe t = {.ms = 0, .p = &p};
    CHECK_EQ(weft_block_on(rt, timed_probe_poll, &t), 0);
    CHECK_EQ(t.to_err, -ETIMEDOUT);
    CHECK_EQ(t.at, 0);
    CHECK_EQ(p.polls, 1);
    CHECK_EQ(p.drops, 1);
    weft_rt_free(rt);
}

static void timeout_at_times_out_at_the_absolute_deadline(void) {
    weft_rt *rt = new_rt(1);
    probe p = {0};
    timed_probe t = {.ms = 70, .absolute = 1, .pre_advance = 20, .p = &p};
    CHECK_EQ(weft_block_on(rt, timed_probe_poll, &t), 0);
    CHECK_EQ(t.to_err, -ETIMEDOUT);
    CHECK_EQ(t.at, 70);
    CHECK_EQ(p.drops, 1);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

static void timeout_at_a_past_deadline_polls_the_inner_once_then_times_out(void) {
    weft_rt *rt = new_rt(1);
    probe p = {0};
    timed_probe t = {.ms = 10, .absolute = 1, .pre_advance = 20, .p = &p};
    CHECK_EQ(weft_block_on(rt, timed_probe_poll, &t), 0);
    CHECK_EQ(t.to_err, -ETIMEDOUT);
    CHECK_EQ(t.at, 20);
    CHECK_EQ(p.polls, 1);
    CHECK_EQ(p.drops, 1);
    weft_rt_free(rt);
}

/* weft_timeout_at whose inner operation completes first. */
typedef struct release_later {
    weft_frame fr;
    probe *p;
    weft_sleep_op op;
} release_later;

weft_async_fn(release_later_poll, release_later) {
    weft_async (self) {
        weft_await(weft_sleep(&self->op, cx, 40));
        self->p->ready = 1;
        weft_waker_wake(self->p->waker);
        self->p->waker = NULL;
    }
    return WEFT_READY;
}

static void timeout_at_inner_completing_first_gives_err_zero(void) {
    weft_rt *rt = new_rt(1);
    probe p = {0};
    release_later *r;
    MUST(weft_task_new(&r, rt, release_later_poll));
    r->p = &p;
    weft_task_spawn_detached(r);
    timed_probe t = {.ms = 100, .absolute = 1, .p = &p, .to_err = 12345};
    CHECK_EQ(weft_block_on(rt, timed_probe_poll, &t), 0);
    CHECK_EQ(t.to_err, 0);
    CHECK_EQ(t.at, 40);
    CHECK_EQ(p.drops, 0);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

/* weft_timeout around a child frame. */
typedef struct timed_child {
    weft_frame fr;
    uint64_t limit;
    child c;
    weft_timeout_op to;
    int to_err; /* the timeout's result */
    weft_instant at;
    gate *after; /* optional: wait here afterwards */
} timed_child;

weft_async_fn(timed_child_poll, timed_child) {
    weft_async (self) {
        weft_await(weft_timeout(&self->to, self->limit, &self->to_err, child_poll(&self->c, cx)));
        self->at = weft_now(cx->rt);
        if (self->after) weft_await(gate_wait(self->after, cx));
    }
    return WEFT_READY;
}

static void timeout_drops_a_child_frame_whose_finally_runs_once(void) {
    weft_rt *rt = new_rt(1);
    gate g = {0};
    timed_child t = {.limit = 60, .c = {.g = &g}};
    CHECK_EQ(weft_block_on(rt, timed_child_poll, &t), 0);
    CHECK_EQ(t.to_err, -ETIMEDOUT);
    CHECK_EQ(t.at, 60);
    CHECK_EQ(t.c.finished, 0);
    CHECK_EQ(t.c.finally_runs, 1);
    CHECK_EQ(t.c.cancelled, 1);
    CHECK(weft_frame_done(&t.c.fr));
    CHECK_EQ(g.cancels, 1);
    CHECK(g.waker == NULL);
    weft_rt_free(rt);
}

static void timeout_child_frame_completing_first_runs_finally_once(void) {
    weft_rt *rt = new_rt(1);
    timed_child t = {.limit = 60, .c = {.ms = 25}, .to_err = 12345};
    CHECK_EQ(weft_block_on(rt, timed_child_poll, &t), 0);
    CHECK_EQ(t.to_err, 0);
    CHECK_EQ(t.at, 25);
    CHECK_EQ(t.c.finished, 1);
    CHECK_EQ(t.c.finally_runs, 1);
    CHECK_EQ(t.c.cancelled, 0);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

/* The child was dropped by the timeout; aborting the parent later does not
 * drop it again. */
typedef struct abort_later {
    weft_frame fr;
    weft_task *victim;
    weft_sleep_op op;
    int status;
} abort_later;

weft_async_fn(abort_later_poll, abort_later) {
    weft_async (self) {
        weft_await(weft_sleep(&self->op, cx, 100)); /* the timeout fired at 60 */
        weft_task_abort(self->victim);
        weft_await(weft_join(self->victim, cx, &self->status));
    }
    return WEFT_READY;
}

static void timeout_child_finally_is_not_rerun_when_the_parent_is_aborted(void) {
    weft_rt *rt = new_rt(1);
    gate g = {0}, after = {0};
    timed_child *t;
    MUST(weft_task_new(&t, rt, timed_child_poll));
    t->limit = 60;
    t->c.g = &g;
    t->after = &after;
    abort_later a = {.victim = weft_task_spawn(t)};
    CHECK_EQ(weft_block_on(rt, abort_later_poll, &a), 0);
    CHECK_EQ(a.status, -ECANCELED);
    timed_child *view = weft_task_frame(a.victim);
    CHECK_EQ(view->to_err, -ETIMEDOUT);
    CHECK_EQ(view->c.finally_runs, 1);
    CHECK_EQ(g.cancels, 1);
    CHECK_EQ(after.cancels, 1);
    weft_task_release(a.victim);
    CHECK_EQ(stats(rt).tasks_held, 0);
    weft_rt_free(rt);
}

/* The op is reusable: a timeout that fired, then one that does not. */
typedef struct reuse_timeout {
    weft_frame fr;
    probe p;
    weft_sleep_op op;
    weft_timeout_op to;
    int to_err; /* the timeout's result */
    int err1, err2;
    weft_instant at1, at2;
} reuse_timeout;

weft_async_fn(reuse_timeout_poll, reuse_timeout) {
    weft_async (self) {
        weft_await(weft_timeout(&self->to, 10, &self->to_err, probe_wait(&self->p, cx)));
        self->err1 = self->to_err;
        self->at1 = weft_now(cx->rt);
        weft_await(weft_timeout(&self->to, 50, &self->to_err, weft_sleep(&self->op, cx, 20)));
        self->err2 = self->to_err;
        self->at2 = weft_now(cx->rt);
    }
    return WEFT_READY;
}

static void timeout_op_is_reusable_after_it_fired(void) {
    weft_rt *rt = new_rt(1);
    reuse_timeout r = {.err2 = 12345};
    CHECK_EQ(weft_block_on(rt, reuse_timeout_poll, &r), 0);
    CHECK_EQ(r.err1, -ETIMEDOUT);
    CHECK_EQ(r.at1, 10);
    CHECK_EQ(r.err2, 0);
    CHECK_EQ(r.at2, 30);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

/* weft_timeout_future over a type-erased child frame. */
typedef struct timed_future {
    weft_frame fr;
    uint64_t limit;
    weft_future f;
    weft_timeout_op to;
    int to_err; /* the timeout's result */
    weft_instant at;
} timed_future;

weft_async_fn(timed_future_poll, timed_future) {
    weft_async (self) {
        weft_await(weft_timeout_future(&self->to, cx, self->limit, self->f, &self->to_err));
        self->at = weft_now(cx->rt);
    }
    return WEFT_READY;
}

static void timeout_future_completing_first_gives_err_zero(void) {
    weft_rt *rt = new_rt(1);
    child c = {.ms = 30};
    timed_future t = {.limit = 100, .f = weft_future_of(child_poll, &c), .to_err = 12345};
    CHECK_EQ(weft_block_on(rt, timed_future_poll, &t), 0);
    CHECK_EQ(t.to_err, 0);
    CHECK_EQ(t.at, 30);
    CHECK_EQ(c.finished, 1);
    CHECK_EQ(c.finally_runs, 1);
    CHECK_EQ(c.cancelled, 0);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

static void timeout_future_drops_the_future_when_time_runs_out(void) {
    weft_rt *rt = new_rt(1);
    gate g = {0};
    child c = {.g = &g};
    timed_future t = {.limit = 40, .f = weft_future_of(child_poll, &c)};
    CHECK_EQ(weft_block_on(rt, timed_future_poll, &t), 0);
    CHECK_EQ(t.to_err, -ETIMEDOUT);
    CHECK_EQ(t.at, 40);
    CHECK_EQ(c.finished, 0);
    CHECK_EQ(c.finally_runs, 1);
    CHECK_EQ(c.cancelled, 1);
    CHECK_EQ(g.cancels, 1);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

/* ---- cancellation -------------------------------------------------------- */

/* Lets the victim park, aborts it, joins it; records the timers around it. */
typedef struct aborter {
    weft_frame fr;
    weft_task *victim;
    int status;
    uint64_t timers_parked, timers_after;
    weft_instant now_after;
} aborter;

weft_async_fn(aborter_poll, aborter) {
    weft_async (self) {
        weft_yield();
        self->timers_parked = stats(cx->rt).timers;
        weft_task_abort(self->victim);
        weft_await(weft_join(self->victim, cx, &self->status));
        self->timers_after = stats(cx->rt).timers;
        self->now_after = weft_now(cx->rt);
    }
    return WEFT_READY;
}

static void abort_of_a_task_parked_in_sleep_removes_its_timer(void) {
    weft_rt *rt = new_rt(1);
    aborter a = {.victim = spawn_sleeper(rt, 3600000, 0, NULL)};
    CHECK(a.victim);
    CHECK_EQ(weft_block_on(rt, aborter_poll, &a), 0);
    CHECK_EQ(a.timers_parked, 1);
    CHECK_EQ(a.status, -ECANCELED);
    CHECK_EQ(a.timers_after, 0);
    CHECK_EQ(a.now_after, 0);
    sleeper *view = sleeper_of(a.victim);
    CHECK_EQ(view->woke, 0);
    CHECK_EQ(view->finally_runs, 1);
    CHECK_EQ(view->cancelled, 1);
    CHECK_EQ(view->op.state, WEFT__TIMER_IDLE);
    CHECK(view->op.waker == NULL);
    CHECK_EQ(stats(rt).timers, 0);
    weft_task_release(a.victim);
    CHECK_EQ(stats(rt).tasks_held, 0);
    CHECK_EQ(weft_now(rt), 0); /* nothing left to auto-advance to */
    weft_rt_free(rt);
}

static void abort_of_a_task_parked_in_a_timeout_releases_timer_and_inner(void) {
    weft_rt *rt = new_rt(1);
    probe p = {0};
    timed_probe *t;
    MUST(weft_task_new(&t, rt, timed_probe_poll));
    t->ms = 3600000;
    t->p = &p;
    aborter a = {.victim = weft_task_spawn(t)};
    CHECK_EQ(weft_block_on(rt, aborter_poll, &a), 0);
    CHECK_EQ(a.timers_parked, 1);
    CHECK_EQ(a.status, -ECANCELED);
    CHECK_EQ(a.timers_after, 0);
    CHECK_EQ(p.polls, 1);
    CHECK_EQ(p.drops, 1);
    CHECK(p.waker == NULL);
    timed_probe *view = weft_task_frame(a.victim);
    CHECK_EQ(view->done, 0);
    CHECK_EQ(view->finally_runs, 1);
    CHECK_EQ(view->cancelled, 1);
    weft_task_release(a.victim);
    CHECK_EQ(stats(rt).tasks_held, 0);
    weft_rt_free(rt);
}

static void abort_of_a_task_parked_in_timeout_future_releases_timer_and_future(void) {
    weft_rt *rt = new_rt(1);
    gate g = {0};
    child c = {.g = &g};
    timed_future *t;
    MUST(weft_task_new(&t, rt, timed_future_poll));
    t->limit = 3600000;
    t->f = (weft_future)weft_future_of(child_poll, &c);
    aborter a = {.victim = weft_task_spawn(t)};
    CHECK_EQ(weft_block_on(rt, aborter_poll, &a), 0);
    CHECK_EQ(a.timers_parked, 1);
    CHECK_EQ(a.status, -ECANCELED);
    CHECK_EQ(a.timers_after, 0);
    CHECK_EQ(c.finally_runs, 1);
    CHECK_EQ(c.cancelled, 1);
    CHECK_EQ(g.cancels, 1);
    weft_task_release(a.victim);
    CHECK_EQ(stats(rt).tasks_held, 0);
    weft_rt_free(rt);
}

static void abort_of_a_task_parked_in_an_interval_tick_removes_its_timer(void) {
    weft_rt *rt = new_rt(1);
    ticker *t;
    MUST(weft_task_new(&t, rt, ticker_poll));
    t->period = 1000;
    t->before = 10;
    aborter a = {.victim = weft_task_spawn(t)};
    CHECK_EQ(weft_block_on(rt, aborter_poll, &a), 0);
    CHECK_EQ(a.timers_parked, 1);
    CHECK_EQ(a.status, -ECANCELED);
    CHECK_EQ(a.timers_after, 0);
    ticker *view = weft_task_frame(a.victim);
    CHECK_EQ(view->n, 1); /* the immediate first tick */
    CHECK_EQ(view->iv.timer.state, WEFT__TIMER_IDLE);
    weft_task_release(a.victim);
    CHECK_EQ(stats(rt).tasks_held, 0);
    weft_rt_free(rt);
}

/* A huge sleep does not fire while time passes, and aborts cleanly. */
typedef struct huge_watch {
    weft_frame fr;
    weft_task *victim;
    weft_sleep_op op;
    int woke_after_hour, woke_after_century, status;
    uint64_t timers_parked, timers_after;
} huge_watch;

weft_async_fn(huge_watch_poll, huge_watch) {
    weft_async (self) {
        weft_yield();
        self->timers_parked = stats(cx->rt).timers;
        weft_await(weft_sleep(&self->op, cx, 3600000)); /* auto-advance */
        self->woke_after_hour = sleeper_of(self->victim)->woke;
        weft_time_advance(cx->rt, UINT64_C(3153600000000)); /* a century */
        weft_yield();
        self->woke_after_century = sleeper_of(self->victim)->woke;
        weft_task_abort(self->victim);
        weft_await(weft_join(self->victim, cx, &self->status));
        self->timers_after = stats(cx->rt).timers;
    }
    return WEFT_READY;
}

static void huge_sleep_does_not_fire_and_aborts_cleanly(void) {
    weft_rt *rt = new_rt(1);
    huge_watch w = {.victim = spawn_sleeper(rt, UINT64_MAX / 2, 0, NULL)};
    CHECK(w.victim);
    CHECK_EQ(weft_block_on(rt, huge_watch_poll, &w), 0);
    CHECK_EQ(w.timers_parked, 1);
    CHECK_EQ(w.woke_after_hour, 0);
    CHECK_EQ(w.woke_after_century, 0);
    CHECK_EQ(w.status, -ECANCELED);
    CHECK_EQ(w.timers_after, 0);
    CHECK_EQ(sleeper_of(w.victim)->finally_runs, 1);
    CHECK_EQ(sleeper_of(w.victim)->cancelled, 1);
    weft_task_release(w.victim);
    CHECK_EQ(stats(rt).tasks_held, 0);
    weft_rt_free(rt);
}

static void rt_free_with_huge_sleeps_pending_cancels_them(void) {
    weft_rt *rt = new_rt(1);
    const uint64_t ms[3] = {UINT64_MAX, UINT64_MAX - 1, UINT64_MAX / 2};
    weft_task *h[3];
    for (int i = 0; i < 3; i++) CHECK((h[i] = spawn_sleeper(rt, ms[i], i, NULL)));
    yielder y = {.n = 1};
    CHECK_EQ(weft_block_on(rt, yielder_poll, &y), 0);
    CHECK_EQ(stats(rt).timers, 3);
    weft_rt_free(rt);
    for (int i = 0; i < 3; i++) {
        CHECK(weft_task_is_finished(h[i]));
        CHECK_EQ(sleeper_of(h[i])->woke, 0);
        CHECK_EQ(sleeper_of(h[i])->finally_runs, 1);
        CHECK_EQ(sleeper_of(h[i])->cancelled, 1);
        weft_task_release(h[i]);
    }
}

static void rt_free_cancels_sleeping_tasks(void) {
    weft_rt *rt = new_rt(1);
    weft_task *h[10];
    int detached_finally = 0;
    for (int i = 0; i < 10; i++) CHECK((h[i] = spawn_sleeper(rt, 100 + (uint64_t)i * 37, i, NULL)));
    for (int i = 0; i < 5; i++) {
        sleeper *s;
        MUST(weft_task_new(&s, rt, sleeper_poll));
        CHECK(s);
        s->ms = 5000 + (uint64_t)i;
        s->finally_count = &detached_finally;
        weft_task_spawn_detached(s);
    }
    yielder y = {.n = 1};
    CHECK_EQ(weft_block_on(rt, yielder_poll, &y), 0);
    CHECK_EQ(stats(rt).timers, 15);
    weft_rt_free(rt);
    CHECK_EQ(detached_finally, 5);
    for (int i = 0; i < 10; i++) {
        CHECK(weft_task_is_finished(h[i]));
        int st = 1;
        weft_cx c = weft_cx_manual(NULL);
        CHECK_EQ(weft_join(h[i], &c, &st), WEFT_READY);
        CHECK_EQ(st, -ECANCELED);
        CHECK_EQ(sleeper_of(h[i])->woke, 0);
        CHECK_EQ(sleeper_of(h[i])->finally_runs, 1);
        CHECK_EQ(sleeper_of(h[i])->cancelled, 1);
        CHECK_EQ(sleeper_of(h[i])->op.state, WEFT__TIMER_IDLE);
        weft_task_release(h[i]);
    }
}

/* ---- timers dropped outside their runtime -------------------------------- */

/* A waker that is not a task's, as a hand-made context has: counts wakes. */
typedef struct count_waker {
    weft_waker w;
    int wakes;
} count_waker;

static weft_waker *count_waker_clone(weft_waker *w) { return w; }
static void count_waker_wake(weft_waker *w) { ((count_waker *)w)->wakes++; }
static void count_waker_drop(weft_waker *w) { (void)w; }
static const weft_waker_vtable count_waker_vtable = {count_waker_clone, count_waker_wake,
                                                     count_waker_wake, count_waker_drop};

/* Polls weft_sleep(op, ms) once, from a task but with a hand-made context:
 * the runtime of the poll and a waker of its own. */
typedef struct hand_arm {
    weft_sleep_op *op;
    uint64_t ms;
    count_waker *w;
    weft_poll r;
} hand_arm;

weft_future_fn(hand_arm_poll, hand_arm) {
    if (cx == NULL) return WEFT_READY;
    weft_cx hand = weft_cx_manual(&self->w->w);
    hand.rt = cx->rt;
    self->r = weft_sleep(self->op, &hand, self->ms);
    return WEFT_READY;
}

/* Drops op (weft_sleep with cx == NULL) from a task. */
typedef struct drop_in {
    weft_sleep_op *op;
} drop_in;

weft_future_fn(drop_in_poll, drop_in) {
    if (cx != NULL) (void)weft_sleep(self->op, NULL, 0);
    return WEFT_READY;
}

/*
 * Armed with a hand-made context, dropped by hand after weft_block_on
 * returned (on the thread that owns the runtime, which nobody drives): the
 * entry leaves the wheel of the runtime it was armed on, and the memory can
 * go.  (It used to stay linked: the next turn read freed memory.)
 */
static void timer_armed_by_hand_and_dropped_after_block_on_leaves_the_wheel(void) {
    weft_rt *rt = new_rt(1);
    count_waker w = {{&count_waker_vtable}, 0};
    weft_sleep_op *op = calloc(1, sizeof *op); /* on the heap: ASan sees any use after free */
    CHECK(rt && op);
    hand_arm a = {.op = op, .ms = 100, .w = &w};
    CHECK_EQ(weft_block_on(rt, hand_arm_poll, &a), 0);
    CHECK_EQ(a.r, WEFT_PENDING);
    CHECK_EQ(op->state, WEFT__TIMER_ARMED);
    CHECK_EQ(stats(rt).timers, 1);
    CHECK_EQ(weft_sleep(op, NULL, 0), WEFT_READY); /* outside weft_block_on */
    CHECK_EQ(op->state, WEFT__TIMER_IDLE);
    CHECK(op->waker == NULL);
    CHECK_EQ(stats(rt).timers, 0);
    free(op);
    /* the wheel is intact: later sleeps go through it at their deadlines */
    sleeper s = {.ms = 250};
    CHECK_EQ(weft_block_on(rt, sleeper_poll, &s), 0);
    CHECK_EQ(s.after, 250);
    CHECK_EQ(w.wakes, 0);
    CHECK_EQ(weft_now(rt), 250);
    weft_rt_free(rt);
}

/* Left armed when the runtime goes: weft_rt_free fires it (the hand-made
 * waker is woken), so a drop afterwards has no wheel to touch. */
static void timer_armed_by_hand_outlives_its_runtime_and_drops_cleanly(void) {
    weft_rt *rt = new_rt(1);
    count_waker w = {{&count_waker_vtable}, 0};
    weft_sleep_op op = {0};
    hand_arm a = {.op = &op, .ms = 100, .w = &w};
    CHECK_EQ(weft_block_on(rt, hand_arm_poll, &a), 0);
    CHECK_EQ(op.state, WEFT__TIMER_ARMED);
    weft_rt_free(rt);
    CHECK_EQ(w.wakes, 1);
    CHECK_EQ(op.state, WEFT__TIMER_FIRED);
    CHECK_EQ(weft_sleep(&op, NULL, 0), WEFT_READY);
    CHECK_EQ(op.state, WEFT__TIMER_IDLE);
}

/* Armed on runtime a, dropped on the thread while it drives runtime b: the
 * entry is in a's wheel, which this thread may not touch now (it used to be
 * "removed" from b's wheel, corrupting both).  Must abort. */
static void drop_timer_of_a_while_driving_b(void) {
    weft_rt *a = new_rt(1), *b = new_rt(1);
    count_waker w = {{&count_waker_vtable}, 0};
    weft_sleep_op op = {0};
    hand_arm arm = {.op = &op, .ms = 100, .w = &w};
    if (!a || !b || weft_block_on(a, hand_arm_poll, &arm) != 0) return;
    drop_in d = {.op = &op};
    weft_block_on(b, drop_in_poll, &d);
    /* not reached when the misuse is caught */
    weft_rt_free(b);
    weft_rt_free(a);
}

static void timer_dropped_on_a_thread_driving_another_runtime_aborts(void) {
    drop_timer_of_a_while_driving_b();
}

/* The same misuse in a child process: it dies by SIGABRT and says why. */
static void timer_dropped_outside_its_runtime_says_so_on_stderr(void) {
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        drop_timer_of_a_while_driving_b();
        _exit(0);
    }
    close(fds[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1 && (r = read(fds[0], buf + len, sizeof buf - 1 - len)) != 0) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    CHECK(WIFSIGNALED(status));
    CHECK_EQ(WTERMSIG(status), SIGABRT);
    CHECK(strstr(buf, "weft: ") != NULL);
    CHECK(strstr(buf, "timer dropped outside its runtime") != NULL);
}

/* ---- weft_sleep_reset ---------------------------------------------------- */

/* Sleeps `wait` ms, then resets *target to `to` (or, with `after` set, to
 * `after` ms from now via weft_sleep_reset_after); records what it saw. */
typedef struct resetter {
    weft_frame fr;
    weft_sleep_op *target;
    uint64_t wait;
    weft_instant to;
    uint64_t after;
    weft_sleep_op op;
    int state_before, state_after;
    uint64_t timers_before, timers_after;
    weft_instant at;
} resetter;

weft_async_fn(resetter_poll, resetter) {
    weft_async (self) {
        weft_await(weft_sleep(&self->op, cx, self->wait));
        self->at = weft_now(cx->rt);
        self->state_before = self->target->state;
        self->timers_before = stats(cx->rt).timers;
        if (self->after)
            weft_sleep_reset_after(self->target, cx->rt, self->after);
        else
            weft_sleep_reset(self->target, cx->rt, self->to);
        self->state_after = self->target->state;
        self->timers_after = stats(cx->rt).timers;
    }
    return WEFT_READY;
}

/* Runs a sleeper of `ms` and a resetter that moves its deadline at `wait`;
 * copies both frames out when they are done. */
static void run_reset(weft_rt *rt, uint64_t ms, resetter *r, sleeper *s) {
    weft_task *h[2];
    h[0] = spawn_sleeper(rt, ms, 0, NULL);
    resetter *t;
    MUST(weft_task_new(&t, rt, resetter_poll));
    t->target = &sleeper_of(h[0])->op;
    t->wait = r->wait;
    t->to = r->to;
    t->after = r->after;
    h[1] = weft_task_spawn(t);
    join_all j = {.h = h, .n = 2};
    weft_block_on(rt, join_all_poll, &j);
    *r = *(resetter *)weft_task_frame(h[1]);
    *s = *sleeper_of(h[0]);
    weft_task_release(h[0]);
    weft_task_release(h[1]);
}

static void sleep_reset_to_a_later_deadline_completes_then(void) {
    weft_rt *rt = new_rt(1);
    resetter r = {.wait = 50, .to = 300};
    sleeper s;
    run_reset(rt, 100, &r, &s);
    CHECK_EQ(r.at, 50);
    CHECK_EQ(r.state_before, WEFT__TIMER_ARMED);
    CHECK_EQ(r.state_after, WEFT__TIMER_ARMED);
    CHECK_EQ(r.timers_before, 1);
    CHECK_EQ(r.timers_after, 1); /* moved, not added */
    CHECK_EQ(s.woke, 1);
    CHECK_EQ(s.after, 300); /* not at 100 */
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

/* Reset to an earlier deadline: fires then, and not a millisecond before. */
typedef struct earlier {
    weft_frame fr;
    weft_task *victim;
    int woke_199;
    weft_instant after;
} earlier;

weft_async_fn(earlier_poll, earlier) {
    weft_async (self) {
        weft_yield(); /* the victim parks: sleep 1000 */
        weft_time_advance(cx->rt, 50);
        weft_sleep_reset(&sleeper_of(self->victim)->op, cx->rt, 200);
        weft_time_advance(cx->rt, 149);
        weft_yield();
        self->woke_199 = sleeper_of(self->victim)->woke;
        weft_time_advance(cx->rt, 1);
        weft_await(weft_join(self->victim, cx, NULL));
        self->after = sleeper_of(self->victim)->after;
    }
    return WEFT_READY;
}

static void sleep_reset_to_an_earlier_deadline_fires_then_not_before(void) {
    weft_rt *rt = new_rt(1);
    earlier e = {.victim = spawn_sleeper(rt, 1000, 0, NULL)};
    CHECK(e.victim);
    CHECK_EQ(weft_block_on(rt, earlier_poll, &e), 0);
    CHECK_EQ(e.woke_199, 0);
    CHECK_EQ(e.after, 200);
    CHECK_EQ(stats(rt).timers, 0);
    weft_task_release(e.victim);
    /* the same through auto-advance: from 200, sleep 1000, reset at 250 */
    resetter r = {.wait = 50, .to = 320};
    sleeper s;
    run_reset(rt, 1000, &r, &s);
    CHECK_EQ(r.at, 250);
    CHECK_EQ(s.before, 200);
    CHECK_EQ(s.after, 320);
    /* and relative: from 320, sleep 1000, reset at 370 to 15 ms from then */
    resetter r2 = {.wait = 50, .after = 15};
    run_reset(rt, 1000, &r2, &s);
    CHECK_EQ(r2.state_after, WEFT__TIMER_ARMED);
    CHECK_EQ(s.after, 385);
    weft_rt_free(rt);
}

/* Fired (the clock reached it, its task is woken) but not yet observed:
 * reset re-arms it for the new deadline; the task's next poll waits. */
typedef struct refire {
    weft_frame fr;
    weft_task *victim;
    int state_fired, state_reset, woke_mid;
    uint64_t timers_reset;
} refire;

weft_async_fn(refire_poll, refire) {
    weft_async (self) {
        weft_yield(); /* the victim parks: sleep 100 */
        weft_time_advance(cx->rt, 100);
        self->state_fired = sleeper_of(self->victim)->op.state;
        weft_sleep_reset(&sleeper_of(self->victim)->op, cx->rt, 250);
        self->state_reset = sleeper_of(self->victim)->op.state;
        self->timers_reset = stats(cx->rt).timers;
        weft_yield(); /* the victim runs its poll: waits again */
        self->woke_mid = sleeper_of(self->victim)->woke;
        weft_await(weft_join(self->victim, cx, NULL));
    }
    return WEFT_READY;
}

static void sleep_reset_of_a_fired_unobserved_sleep_rearms_it(void) {
    weft_rt *rt = new_rt(1);
    refire f = {.victim = spawn_sleeper(rt, 100, 0, NULL)};
    CHECK(f.victim);
    CHECK_EQ(weft_block_on(rt, refire_poll, &f), 0);
    CHECK_EQ(f.state_fired, WEFT__TIMER_FIRED);
    CHECK_EQ(f.state_reset, WEFT__TIMER_ARMED);
    CHECK_EQ(f.timers_reset, 1);
    CHECK_EQ(f.woke_mid, 0);
    CHECK_EQ(sleeper_of(f.victim)->after, 250);
    CHECK_EQ(stats(rt).timers, 0);
    weft_task_release(f.victim);
    weft_rt_free(rt);
}

/* An idle op: reset arms nothing, but the next sleep on it - weft_sleep or
 * weft_sleep_until, whatever its argument - waits for the reset deadline;
 * only that one: the sleep after it is the caller's again. */
typedef struct idle_reset {
    weft_frame fr;
    weft_sleep_op op;
    int state;
    uint64_t timers;
    weft_instant a1, a2, a3, a4;
} idle_reset;

weft_async_fn(idle_reset_poll, idle_reset) {
    weft_async (self) {
        weft_sleep_reset(&self->op, cx->rt, 500);
        self->state = self->op.state;
        self->timers = stats(cx->rt).timers;
        weft_await(weft_sleep(&self->op, cx, 10));
        self->a1 = weft_now(cx->rt);
        weft_await(weft_sleep(&self->op, cx, 10));
        self->a2 = weft_now(cx->rt);
        weft_sleep_reset(&self->op, cx->rt, 600);
        weft_await(weft_sleep_until(&self->op, cx, 2000));
        self->a3 = weft_now(cx->rt);
        weft_sleep_reset_after(&self->op, cx->rt, 30);
        weft_await(weft_sleep_until(&self->op, cx, 0));
        self->a4 = weft_now(cx->rt);
    }
    return WEFT_READY;
}

static void sleep_reset_of_an_idle_op_sets_its_next_deadline(void) {
    weft_rt *rt = new_rt(1);
    idle_reset r = {0};
    CHECK_EQ(weft_block_on(rt, idle_reset_poll, &r), 0);
    CHECK(r.state != WEFT__TIMER_ARMED);
    CHECK_EQ(r.timers, 0); /* armed nothing */
    CHECK_EQ(r.a1, 500);
    CHECK_EQ(r.a2, 510);
    CHECK_EQ(r.a3, 600);
    CHECK_EQ(r.a4, 630);
    CHECK_EQ(r.op.state, WEFT__TIMER_IDLE);
    weft_rt_free(rt);
}

/* A reset idle op that is dropped forgets the reset. */
static void sleep_reset_of_an_idle_op_is_forgotten_by_a_drop(void) {
    weft_rt *rt = new_rt(1);
    sleeper s = {.ms = 40};
    weft_sleep_reset(&s.op, rt, 5000); /* owner thread, runtime not driven */
    CHECK_EQ(stats(rt).timers, 0);
    CHECK_EQ(weft_sleep(&s.op, NULL, 0), WEFT_READY);
    CHECK_EQ(s.op.state, WEFT__TIMER_IDLE);
    CHECK_EQ(weft_block_on(rt, sleeper_poll, &s), 0);
    CHECK_EQ(s.after, 40);
    weft_rt_free(rt);
}

/* A deadline already passed: ready at the next poll, whatever the state.
 * Polled by hand from a task, with a counting waker. */
typedef struct past_reset {
    count_waker w;
    weft_sleep_op op, idle;
    weft_poll r[8];
    int state[8];
    uint64_t timers_after_reset;
    int wakes_after_reset;
    weft_instant end;
} past_reset;

weft_future_fn(past_reset_poll, past_reset) {
    if (cx == NULL) return WEFT_READY;
    weft_cx hand = weft_cx_manual(&self->w.w);
    hand.rt = cx->rt;
    weft_time_advance(cx->rt, 100);
    /* armed, reset into the past: fired at once, its waker woken */
    self->r[0] = weft_sleep_until(&self->op, &hand, 1000);
    weft_sleep_reset(&self->op, cx->rt, 50);
    self->state[0] = self->op.state;
    self->timers_after_reset = stats(cx->rt).timers;
    self->wakes_after_reset = self->w.wakes;
    self->r[1] = weft_sleep_until(&self->op, &hand, 1000);
    self->state[1] = self->op.state;
    /* idle, reset to now */
    weft_sleep_reset(&self->idle, cx->rt, 100);
    self->r[2] = weft_sleep(&self->idle, &hand, 1000);
    self->state[2] = self->idle.state;
    /* fired by the clock, reset into the past: stays fired */
    self->r[3] = weft_sleep(&self->op, &hand, 10);
    weft_time_advance(cx->rt, 10);
    self->state[3] = self->op.state;
    weft_sleep_reset(&self->op, cx->rt, 0);
    self->state[4] = self->op.state;
    self->r[4] = weft_sleep(&self->op, &hand, 10);
    /* reset_after(0): due at once */
    self->r[5] = weft_sleep(&self->op, &hand, 10);
    weft_sleep_reset_after(&self->op, cx->rt, 0);
    self->r[6] = weft_sleep(&self->op, &hand, 10);
    self->state[6] = self->op.state;
    self->end = weft_now(cx->rt);
    return WEFT_READY;
}

static void sleep_reset_to_a_past_deadline_is_ready_at_the_next_poll(void) {
    weft_rt *rt = new_rt(1);
    past_reset p = {.w = {{&count_waker_vtable}, 0}};
    CHECK_EQ(weft_block_on(rt, past_reset_poll, &p), 0);
    CHECK_EQ(p.r[0], WEFT_PENDING);
    CHECK_EQ(p.state[0], WEFT__TIMER_FIRED);
    CHECK_EQ(p.timers_after_reset, 0);
    CHECK_EQ(p.wakes_after_reset, 1);
    CHECK_EQ(p.r[1], WEFT_READY);
    CHECK_EQ(p.state[1], WEFT__TIMER_IDLE);
    CHECK_EQ(p.r[2], WEFT_READY);
    CHECK_EQ(p.state[2], WEFT__TIMER_IDLE);
    CHECK_EQ(p.r[3], WEFT_PENDING);
    CHECK_EQ(p.state[3], WEFT__TIMER_FIRED);
    CHECK_EQ(p.state[4], WEFT__TIMER_FIRED);
    CHECK_EQ(p.r[4], WEFT_READY);
    CHECK_EQ(p.r[5], WEFT_PENDING);
    CHECK_EQ(p.r[6], WEFT_READY);
    CHECK_EQ(p.state[6], WEFT__TIMER_IDLE);
    CHECK_EQ(p.end, 110);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

/* Every kind of reset, many times: no allocation at all. */
typedef struct reset_alloc {
    count_waker w;
    weft_sleep_op op;
    uint64_t allocs;
    int bad;
} reset_alloc;

static void reset_round(reset_alloc *self, weft_cx *cx, weft_cx *hand) {
    weft_rt *rt = cx->rt;
    weft_instant now = weft_now(rt);
    if (weft_sleep(&self->op, hand, 100) != WEFT_PENDING) self->bad++;
    weft_sleep_reset(&self->op, rt, now + 5000);          /* later */
    weft_sleep_reset(&self->op, rt, now + 3);             /* earlier */
    weft_sleep_reset_after(&self->op, rt, 70000);         /* later, relative */
    weft_sleep_reset(&self->op, rt, now);                 /* past: fired */
    weft_sleep_reset(&self->op, rt, now + 10);            /* fired: re-armed */
    if (weft_sleep(&self->op, hand, 0) != WEFT_PENDING) self->bad++;
    weft_time_advance(rt, 10);                            /* fires */
    if (weft_sleep(&self->op, hand, 0) != WEFT_READY) self->bad++;
    weft_sleep_reset(&self->op, rt, now + 20);            /* idle */
    if (weft_sleep(&self->op, hand, 0) != WEFT_PENDING) self->bad++;
    (void)weft_sleep(&self->op, NULL, 0);                 /* drop */
}

weft_future_fn(reset_alloc_poll, reset_alloc) {
    if (cx == NULL) return WEFT_READY;
    weft_cx hand = weft_cx_manual(&self->w.w);
    hand.rt = cx->rt;
    reset_round(self, cx, &hand); /* warm up */
    uint64_t a0 = weft_alloc_count();
    for (int i = 0; i < 1000; i++) reset_round(self, cx, &hand);
    self->allocs = weft_alloc_count() - a0;
    return WEFT_READY;
}

static void sleep_reset_does_not_allocate(void) {
    weft_rt *rt = new_rt(1);
    reset_alloc r = {.w = {{&count_waker_vtable}, 0}};
    CHECK_EQ(weft_block_on(rt, reset_alloc_poll, &r), 0);
    CHECK_EQ(r.bad, 0);
    CHECK_EQ(r.allocs, 0);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

/*
 * weft_sleep_until reads its deadline when the sleep starts: a re-poll with
 * another deadline (here after a spurious wake) is ignored, by design.  Only
 * weft_sleep_reset moves it.
 */
typedef struct until_var {
    weft_frame fr;
    weft_sleep_op op;
    weft_instant deadline, after;
    int polls;
} until_var;

weft_async_fn(until_var_poll, until_var) {
    weft_async (self) {
        weft_await((self->polls++, weft_sleep_until(&self->op, cx, self->deadline)));
        self->after = weft_now(cx->rt);
    }
    return WEFT_READY;
}

typedef struct until_ctl {
    weft_frame fr;
    weft_rt *rt;
    weft_task *h;
    until_var *v;
    weft_sleep_op op;
    int polls_mid, done_mid;
    weft_instant after1, after2;
} until_ctl;

weft_async_fn(until_ctl_poll, until_ctl) {
    weft_async (self) {
        /* 1: deadline 100, changed to 20 at 50 and re-polled: still 100 */
        MUST(weft_task_new(&self->v, cx->rt, until_var_poll));
        self->v->deadline = 100;
        self->h = weft_task_spawn(self->v);
        weft_await(weft_sleep(&self->op, cx, 50));
        self->v->deadline = 20;
        weft_waker_wake_by_ref(self->v->op.waker); /* a spurious wake: re-poll */
        weft_yield();
        self->polls_mid = self->v->polls;
        self->done_mid = weft_task_is_finished(self->h);
        weft_await(weft_join(self->h, cx, NULL));
        self->after1 = self->v->after;
        weft_task_release(self->h);
        /* 2: deadline 400 (from 100), reset at 150 to 200: then */
        MUST(weft_task_new(&self->v, cx->rt, until_var_poll));
        self->v->deadline = 400;
        self->h = weft_task_spawn(self->v);
        weft_await(weft_sleep(&self->op, cx, 50));
        self->v->deadline = 20;
        weft_sleep_reset(&self->v->op, cx->rt, 200);
        weft_await(weft_join(self->h, cx, NULL));
        self->after2 = self->v->after;
        weft_task_release(self->h);
    }
    return WEFT_READY;
}

static void sleep_until_ignores_a_changed_deadline_unless_reset(void) {
    weft_rt *rt = new_rt(1);
    until_ctl c = {0};
    CHECK_EQ(weft_block_on(rt, until_ctl_poll, &c), 0);
    CHECK_EQ(c.polls_mid, 2);
    CHECK_EQ(c.done_mid, 0);
    CHECK_EQ(c.after1, 100);
    CHECK_EQ(c.after2, 200);
    weft_rt_free(rt);
}

/* weft_sleep_reset_after counts like weft_sleep: from now rounded up to a
 * whole millisecond, so on a clock paused mid-millisecond it is never early. */
typedef struct after_midms {
    weft_frame fr;
    weft_sleep_op op;
    weft_instant before, after;
} after_midms;

weft_async_fn(after_midms_poll, after_midms) {
    weft_async (self) {
        self->before = weft_now(cx->rt);
        weft_sleep_reset_after(&self->op, cx->rt, 40);
        weft_await(weft_sleep(&self->op, cx, 1));
        self->after = weft_now(cx->rt);
    }
    return WEFT_READY;
}

static void sleep_reset_after_on_a_clock_paused_mid_millisecond_never_ends_early(void) {
    weft_rt *rt = new_rt(0);
    wall_sleep_ms(2);
    CHECK_EQ(weft_time_pause(rt), 0);
    after_midms m = {0};
    CHECK_EQ(weft_block_on(rt, after_midms_poll, &m), 0);
    CHECK(m.after >= m.before + 40);
    CHECK(m.after <= m.before + 41);
    weft_rt_free(rt);
}

/*
 * The idle-timeout pattern: a task waits for "a line or the idle timeout",
 * polling both without dropping the sleep, and pushes the deadline on with
 * weft_sleep_reset_after on every line.  It times out only once the lines
 * stop: exactly `idle` ms after the last one.
 */
typedef struct line_src {
    int queued;
    weft_waker *waker;
} line_src;

static weft_poll line_recv(line_src *s, weft_cx *cx) {
    if (cx != NULL && s->queued) s->queued--;
    else if (cx != NULL) {
        weft_waker_store(&s->waker, cx);
        return WEFT_PENDING;
    }
    weft_waker_drop(s->waker);
    s->waker = NULL;
    return WEFT_READY;
}

static void line_send(line_src *s) {
    s->queued++;
    weft_waker *w = s->waker;
    s->waker = NULL;
    weft_waker_wake(w);
}

/* Poll expression: READY with *got = 1 on a line, 0 on the timeout. */
static weft_poll line_or_idle(line_src *s, weft_sleep_op *op, weft_cx *cx, uint64_t idle, int *got) {
    if (cx == NULL) {
        (void)line_recv(s, NULL);
        (void)weft_sleep(op, NULL, 0);
        return WEFT_READY;
    }
    if (line_recv(s, cx) == WEFT_READY) {
        *got = 1;
        return WEFT_READY;
    }
    if (weft_sleep(op, cx, idle) == WEFT_READY) {
        *got = 0;
        return WEFT_READY;
    }
    return WEFT_PENDING;
}

typedef struct idle_reader {
    weft_frame fr;
    line_src *src;
    uint64_t idle;
    weft_sleep_op op;
    int got, lines;
    weft_instant last_line, timed_out;
} idle_reader;

weft_async_fn(idle_reader_poll, idle_reader) {
    weft_async (self) {
        for (;;) {
            weft_await(line_or_idle(self->src, &self->op, cx, self->idle, &self->got));
            if (!self->got) break;
            self->lines++;
            self->last_line = weft_now(cx->rt);
            weft_sleep_reset_after(&self->op, cx->rt, self->idle);
        }
        self->timed_out = weft_now(cx->rt);
    }
    return WEFT_READY;
}

typedef struct line_writer {
    weft_frame fr;
    line_src *src;
    const uint64_t *gaps;
    int n, i;
    weft_sleep_op op;
} line_writer;

weft_async_fn(line_writer_poll, line_writer) {
    weft_async (self) {
        for (self->i = 0; self->i < self->n; self->i++) {
            weft_await(weft_sleep(&self->op, cx, self->gaps[self->i]));
            line_send(self->src);
        }
    }
    return WEFT_READY;
}

static void run_idle(weft_rt *rt, const uint64_t *gaps, int n, idle_reader *out) {
    line_src src = {0};
    idle_reader *r;
    MUST(weft_task_new(&r, rt, idle_reader_poll));
    r->src = &src;
    r->idle = 30;
    line_writer *w;
    MUST(weft_task_new(&w, rt, line_writer_poll));
    w->src = &src;
    w->gaps = gaps;
    w->n = n;
    weft_task *h[2] = {weft_task_spawn(r), weft_task_spawn(w)};
    join_all j = {.h = h, .n = 2};
    weft_block_on(rt, join_all_poll, &j);
    *out = *(idle_reader *)weft_task_frame(h[0]);
    weft_task_release(h[0]);
    weft_task_release(h[1]);
    weft_waker_drop(src.waker);
}

static void idle_timeout_with_reset_fires_only_after_activity_stops(void) {
    weft_rt *rt = new_rt(1);
    /* a line every 10 ms for 100 ms: each pushes the 30 ms timeout on */
    static const uint64_t steady[10] = {10, 10, 10, 10, 10, 10, 10, 10, 10, 10};
    idle_reader r;
    run_idle(rt, steady, 10, &r);
    CHECK_EQ(r.lines, 10);
    CHECK_EQ(r.last_line, 100);
    CHECK_EQ(r.timed_out, 130);
    CHECK_EQ(stats(rt).timers, 0);
    /* gaps of 10, 20, 29 keep it alive; 31 is too long: it times out 30 ms
     * after the third line, before the fourth arrives */
    static const uint64_t gappy[4] = {10, 20, 29, 31};
    run_idle(rt, gappy, 4, &r);
    CHECK_EQ(r.lines, 3);
    CHECK_EQ(r.last_line, 130 + 59);
    CHECK_EQ(r.timed_out, 130 + 89);
    weft_rt_free(rt);
}

/* Reset with another runtime than the one the sleep is armed on: abort. */
static void sleep_reset_with_another_runtime_aborts(void) {
    weft_rt *a = new_rt(1), *b = new_rt(1);
    count_waker w = {{&count_waker_vtable}, 0};
    weft_sleep_op op = {0};
    hand_arm arm = {.op = &op, .ms = 100, .w = &w};
    if (!a || !b || weft_block_on(a, hand_arm_poll, &arm) != 0) return;
    weft_sleep_reset(&op, b, 500);
    weft_rt_free(b);
    weft_rt_free(a);
}

/* ---- many timers --------------------------------------------------------- */

typedef struct many_state {
    int n, done;
    int early, late, out_of_order;
    weft_instant last;
    gate *all_done;
} many_state;

typedef struct many_sleeper {
    weft_frame fr;
    many_state *st;
    uint64_t ms;
    weft_instant start;
    weft_sleep_op op;
} many_sleeper;

weft_async_fn(many_sleeper_poll, many_sleeper) {
    weft_async (self) {
        self->start = weft_now(cx->rt);
        weft_await(weft_sleep(&self->op, cx, self->ms));
        {
            many_state *st = self->st;
            weft_instant now = weft_now(cx->rt);
            if (now < self->start + self->ms) st->early++;
            if (now > self->start + self->ms) st->late++;
            if (now < st->last) st->out_of_order++;
            st->last = now;
            if (++st->done == st->n) gate_open(st->all_done);
        }
    }
    return WEFT_READY;
}

typedef struct many_root {
    weft_frame fr;
    many_state *st;
    uint64_t seed, max_ms;
    int spawn_failed;
    gate g;
} many_root;

weft_async_fn(many_root_poll, many_root) {
    weft_async (self) {
        self->st->all_done = &self->g;
        for (int i = 0; i < self->st->n; i++) {
            many_sleeper *s;
            MUST(weft_task_new(&s, cx->rt, many_sleeper_poll));
            if (!s) {
                self->spawn_failed = 1;
                weft_return;
            }
            s->st = self->st;
            s->ms = 1 + test_rand(&self->seed) % 1000;
            if (s->ms > self->max_ms) self->max_ms = s->ms;
            weft_task_spawn_detached(s);
        }
        weft_await(gate_wait(&self->g, cx));
    }
    return WEFT_READY;
}

/* bench's timers workload: 100,000 tasks sleeping 1..1000 ms (xorshift). */
static void hundred_thousand_random_sleeps_wake_exactly_at_their_deadlines(void) {
    weft_rt *rt = new_rt(1);
    many_state st = {.n = 100000};
    many_root r = {.st = &st, .seed = UINT64_C(88172645463325252)};
    CHECK_EQ(weft_block_on(rt, many_root_poll, &r), 0);
    CHECK_EQ(r.spawn_failed, 0);
    CHECK_EQ(st.done, 100000);
    CHECK_EQ(st.early, 0);
    CHECK_EQ(st.late, 0);
    CHECK_EQ(st.out_of_order, 0);
    CHECK_EQ(r.max_ms, 1000);
    CHECK_EQ(weft_now(rt), r.max_ms);
    weft_rt_stats s = stats(rt);
    CHECK_EQ(s.timers, 0);
    CHECK_EQ(s.alive, 0);
    CHECK_EQ(s.parks, 0);
    weft_rt_free(rt);
}

/* ---- the real clock (one-sided bounds only) ------------------------------ */

static void real_clock_sleep_lasts_at_least_its_duration(void) {
    weft_rt *rt = new_rt(0);
    sleeper s = {.ms = 20};
    uint64_t m0 = mono_ns();
    CHECK_EQ(weft_block_on(rt, sleeper_poll, &s), 0);
    uint64_t m1 = mono_ns();
    CHECK(m1 - m0 >= 20u * 1000000u);
    CHECK(s.after >= s.before + 20);
    weft_rt_free(rt);
}

static void real_clock_timeout_fires_no_earlier_than_its_duration(void) {
    weft_rt *rt = new_rt(0);
    probe p = {0};
    timed_probe t = {.ms = 15, .p = &p};
    uint64_t m0 = mono_ns();
    CHECK_EQ(weft_block_on(rt, timed_probe_poll, &t), 0);
    uint64_t m1 = mono_ns();
    CHECK_EQ(t.to_err, -ETIMEDOUT);
    CHECK(m1 - m0 >= 15u * 1000000u);
    CHECK_EQ(p.drops, 1);
    weft_rt_free(rt);
}

/* Burst keeps the schedule exact however late the ticks are. */
static void real_clock_burst_interval_reports_the_exact_schedule(void) {
    weft_rt *rt = new_rt(0);
    ticker t = {.period = 5, .before = 6};
    CHECK_EQ(weft_block_on(rt, ticker_poll, &t), 0);
    CHECK_EQ(t.n, 6);
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(t.when[i], t.when[0] + (uint64_t)i * 5);
        CHECK(t.now[i] >= t.when[i]);
    }
    weft_rt_free(rt);
}

static void real_clock_never_goes_backwards(void) {
    weft_rt *rt = new_rt(0);
    weft_instant prev = weft_now(rt);
    for (int i = 0; i < 100000; i++) {
        weft_instant t = weft_now(rt);
        CHECK(t >= prev);
        prev = t;
    }
    weft_rt_free(rt);
}

int main(int argc, char **argv) {
    return test_main(
        argc, argv,
        (const test_case[]){
            /* sleep */
            TEST(sleep_completes_exactly_its_duration_on_the_paused_clock),
            TEST(sleep_op_is_reusable_after_it_completes),
            TEST(sleep_of_an_hour_auto_advances_the_paused_clock),
            TEST(paused_clock_starts_at_zero_and_stands_still),
            TEST(sleepers_wake_in_deadline_order),
            TEST(sleepers_with_equal_deadlines_wake_in_arming_order),
            TEST(sleep_zero_is_ready_at_once),
            TEST(sleep_until_in_the_past_is_ready_at_once),
            TEST(sleep_until_completes_at_its_deadline),
            TEST(dropping_an_idle_sleep_needs_no_runtime),
            TEST_DEATH(sleep_polled_outside_a_runtime_aborts),
            TEST_DEATH(interval_ticked_outside_a_runtime_aborts),
            TEST(sleep_on_a_clock_paused_mid_millisecond_never_ends_early),
            /* advance */
            TEST(time_advance_fires_due_timers_and_moves_the_clock),
            TEST(time_advance_wakes_sleepers_in_deadline_order),
            TEST(time_advance_fails_with_einval_when_not_paused),
            TEST(time_advance_saturates_at_the_end_of_the_clock),
            /* pause and resume */
            TEST(time_pause_twice_returns_ealready),
            TEST(time_resume_twice_returns_ealready),
            TEST(pause_stops_the_real_clock),
            TEST(resume_does_not_jump_over_the_time_spent_paused),
            TEST(resume_continues_from_an_advanced_reading),
            /* auto-advance */
            TEST(auto_advance_waits_until_every_task_is_idle),
            TEST(sleeps_beyond_the_wheel_range_fire_at_their_exact_deadlines),
            TEST(sleep_past_the_end_of_the_clock_does_not_hang_an_idle_paused_runtime),
            /* the end of the clock */
            TEST(clock_resumed_at_its_end_stays_there),
            TEST(clock_resumed_below_2_pow_63_ns_crosses_it),
            TEST(clock_advanced_in_big_steps_stops_at_its_end),
            TEST(pause_resume_cycles_near_the_end_never_go_back),
            TEST(sleeps_on_the_running_clock_near_its_end_never_end_early),
            TEST(auto_advance_to_the_end_then_resume_stays_at_the_end),
            /* intervals */
            TEST(interval_first_tick_is_immediate),
            TEST(interval_ticks_every_period_at_the_reported_instants),
            TEST(interval_period_zero_is_taken_as_one_ms),
            TEST(interval_burst_fires_missed_ticks_back_to_back),
            TEST(interval_delay_restarts_the_schedule_from_the_late_tick),
            TEST(interval_skip_realigns_to_the_original_schedule),
            TEST(interval_burst_after_a_long_sleep_in_the_ticking_task),
            TEST(interval_delay_applies_to_a_tick_late_by_less_than_a_period),
            TEST(interval_tick_late_by_at_most_5ms_keeps_the_schedule),
            TEST(interval_reset_restarts_one_period_from_now),
            TEST(interval_reset_before_the_first_tick_delays_it_by_a_period),
            TEST(interval_tick_cancelled_by_a_timeout_is_not_lost),
            TEST(interval_with_a_huge_period_does_not_tick_again),
            /* timeouts */
            TEST(timeout_inner_completing_first_gives_err_zero),
            TEST(timeout_deadline_first_gives_etimedout_and_drops_the_inner_sleep),
            TEST(timeout_inner_ready_at_the_deadline_wins),
            TEST(timeout_deadline_first_drops_the_inner_leaf_once),
            TEST(timeout_zero_polls_the_inner_once_then_times_out),
            TEST(timeout_at_times_out_at_the_absolute_deadline),
            TEST(timeout_at_a_past_deadline_polls_the_inner_once_then_times_out),
            TEST(timeout_at_inner_completing_first_gives_err_zero),
            TEST(timeout_drops_a_child_frame_whose_finally_runs_once),
            TEST(timeout_child_frame_completing_first_runs_finally_once),
            TEST(timeout_child_finally_is_not_rerun_when_the_parent_is_aborted),
            TEST(timeout_op_is_reusable_after_it_fired),
            TEST(timeout_future_completing_first_gives_err_zero),
            TEST(timeout_future_drops_the_future_when_time_runs_out),
            /* cancellation and shutdown */
            TEST(abort_of_a_task_parked_in_sleep_removes_its_timer),
            TEST(abort_of_a_task_parked_in_a_timeout_releases_timer_and_inner),
            TEST(abort_of_a_task_parked_in_timeout_future_releases_timer_and_future),
            TEST(abort_of_a_task_parked_in_an_interval_tick_removes_its_timer),
            TEST(huge_sleep_does_not_fire_and_aborts_cleanly),
            TEST(rt_free_with_huge_sleeps_pending_cancels_them),
            TEST(rt_free_cancels_sleeping_tasks),
            /* timers dropped outside their runtime */
            TEST(timer_armed_by_hand_and_dropped_after_block_on_leaves_the_wheel),
            TEST(timer_armed_by_hand_outlives_its_runtime_and_drops_cleanly),
            TEST_DEATH(timer_dropped_on_a_thread_driving_another_runtime_aborts),
            TEST(timer_dropped_outside_its_runtime_says_so_on_stderr),
            /* weft_sleep_reset */
            TEST(sleep_reset_to_a_later_deadline_completes_then),
            TEST(sleep_reset_to_an_earlier_deadline_fires_then_not_before),
            TEST(sleep_reset_of_a_fired_unobserved_sleep_rearms_it),
            TEST(sleep_reset_of_an_idle_op_sets_its_next_deadline),
            TEST(sleep_reset_of_an_idle_op_is_forgotten_by_a_drop),
            TEST(sleep_reset_to_a_past_deadline_is_ready_at_the_next_poll),
            TEST(sleep_reset_does_not_allocate),
            TEST(sleep_until_ignores_a_changed_deadline_unless_reset),
            TEST(sleep_reset_after_on_a_clock_paused_mid_millisecond_never_ends_early),
            TEST(idle_timeout_with_reset_fires_only_after_activity_stops),
            TEST_DEATH(sleep_reset_with_another_runtime_aborts),
            /* many timers */
            TEST(hundred_thousand_random_sleeps_wake_exactly_at_their_deadlines),
            /* the real clock */
            TEST(real_clock_sleep_lasts_at_least_its_duration),
            TEST(real_clock_timeout_fires_no_earlier_than_its_duration),
            TEST(real_clock_burst_interval_reports_the_exact_schedule),
            TEST(real_clock_never_goes_backwards),
            {0},
        });
}
