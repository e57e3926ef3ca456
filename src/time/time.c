/*
 * src/time/time.c - the runtime clock, sleeps, intervals, timeouts and the
 * paused clock (see include/weft/time.h).
 *
 * The clock counts nanoseconds from the runtime's creation; timers work in
 * whole milliseconds.  A sleep's deadline is rounded up to the next
 * millisecond, so it never completes early; the wheel fires an entry when its
 * current time (the clock rounded down) reaches the deadline.
 */
#define _GNU_SOURCE
#include "../rt/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NS_PER_MS 1000000u

/*
 * The last millisecond the clock can show: it counts nanoseconds in 64 bits,
 * so it ends after about 584 years.  Deadlines are capped here - a later one
 * could never be reached, and the paused clock's auto-advance, which jumps the
 * clock to the next deadline in nanoseconds, would overflow chasing it.  A
 * capped timer fires if the clock ever reaches its end.
 */
#define INSTANT_END (UINT64_MAX / NS_PER_MS)

/* a + b, capped at INSTANT_END. */
static weft_instant instant_add(weft_instant a, uint64_t b) {
    return a >= INSTANT_END || b >= INSTANT_END - a ? INSTANT_END : a + b;
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* a + b, capped at UINT64_MAX: the clock stops at its end. */
static uint64_t ns_add(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }

/*
 * Running, the clock is base_ns plus the real time since origin_ns (when it
 * was created or last resumed), all unsigned and saturating: it cannot wrap
 * back to 0 and cannot go backwards (CLOCK_MONOTONIC does not).
 */
uint64_t weft__clock_ns(weft_rt *rt) {
    if (rt->paused) return rt->paused_ns;
    return ns_add(rt->base_ns, mono_ns() - rt->origin_ns);
}

weft_instant weft_now(weft_rt *rt) { return weft__clock_ns(rt) / NS_PER_MS; }

size_t weft__timers_process(weft_rt *rt) {
    if (weft__wheel_count(&rt->wheel) == 0) return 0;
    uint64_t now = weft_now(rt);
    if (weft__wheel_next_deadline(&rt->wheel) > now) return 0;
    size_t n = 0;
    weft_timer *e;
    while ((e = weft__wheel_poll(&rt->wheel, now))) {
        weft_waker *w = e->waker;
        e->waker = NULL;
        weft_waker_wake(w);
        n++;
    }
    return n;
}

int weft__timers_timeout(weft_rt *rt) {
    uint64_t next = weft__wheel_next_deadline(&rt->wheel);
    if (next == UINT64_MAX) return -1;
    uint64_t now = weft__clock_ns(rt);
    if (next > UINT64_MAX / NS_PER_MS) return INT_MAX;
    uint64_t at = next * NS_PER_MS;
    if (at <= now) return 0;
    uint64_t ms = (at - now + NS_PER_MS - 1) / NS_PER_MS;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

_Noreturn static void misuse(const char *what, const char *why) {
    fprintf(stderr, "weft: %s (%s)\n", what, why);
    fflush(stderr);
    abort();
}

/*
 * wheel_rt(rt): rt, checked to be a runtime whose wheel the caller may touch
 * now; timer_rt(t): the same for the runtime whose wheel holds armed timer t,
 * recorded when it was armed.  `what` names the operation for the message.
 * A runtime being freed fires every entry left in its wheel, so an armed
 * entry's runtime is alive.  Its wheel may be touched on the thread driving
 * it (tasks, cancellation, shutdown) or, while no thread drives it, by its
 * owner (a frame dropped by hand after weft_block_on returned).  Anything
 * else would corrupt a wheel and aborts: on a thread driving another
 * runtime, or while another thread drives this one (caught as far as a
 * plain read of rt->driving can tell).
 */
static weft_rt *wheel_rt(weft_rt *rt, const char *what) {
    weft_rt *here = weft__tls_rt;
    if (!rt) misuse(what, "no runtime");
    if (here == rt) return rt;
    if (here) misuse(what, "on a thread driving another runtime");
    if (rt->driving) misuse(what, "while another thread drives it");
    return rt;
}

static weft_rt *timer_rt(weft_timer *t, const char *what) { return wheel_rt(t->rt, what); }

/* The runtime pointer costs 8 bytes in every frame that sleeps (40 -> 48 on
 * LP64); keep it from growing further unnoticed. */
_Static_assert(sizeof(weft_timer) <= 6 * sizeof(uint64_t), "weft_timer stays small");

static void timer_cancel(weft_timer *t) {
    if (t->state == WEFT__TIMER_ARMED) {
        weft__wheel_remove(&timer_rt(t, "timer dropped outside its runtime")->wheel, t);
        t->rt = NULL;
    }
    weft_waker_drop(t->waker);
    t->waker = NULL;
    t->state = WEFT__TIMER_IDLE;
}

weft_poll weft_sleep_until(weft_sleep_op *op, weft_cx *cx, weft_instant deadline) {
    if (cx == NULL) {
        timer_cancel(op);
        return WEFT_READY;
    }
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    switch (op->state) {
    case WEFT__TIMER_FIRED:
        op->state = WEFT__TIMER_IDLE;
        weft_coop_made_progress(cx);
        return WEFT_READY;
    case WEFT__TIMER_ARMED:
        /* Re-polled: the deadline was fixed when the sleep started (or by
         * weft_sleep_reset since); the argument is ignored, as documented. */
        weft_waker_store(&op->waker, cx);
        return WEFT_PENDING;
    case WEFT__TIMER_RESET:
        /* Idle, but weft_sleep_reset chose this sleep's deadline. */
        deadline = op->deadline;
        op->state = WEFT__TIMER_IDLE;
        break;
    default:
        break;
    }
    weft_rt *rt = cx->rt;
    /* A sleep that completed at once without a clock would end early. */
    if (!rt) misuse("sleep polled", "no runtime (cx->rt == NULL)");
    if (deadline > INSTANT_END) deadline = INSTANT_END;
    if (deadline <= weft_now(rt)) {
        weft_coop_made_progress(cx);
        return WEFT_READY;
    }
    op->deadline = deadline;
    op->waker = weft_waker_clone(cx->waker);
    op->rt = rt;
    weft__wheel_insert(&rt->wheel, op);
    return WEFT_PENDING;
}

/*
 * The deadline of a sleep of ms starting now: the clock rounded up to a whole
 * millisecond, so the sleep lasts at least ms, plus ms; for ms == 0 the clock
 * itself (due at once).
 */
static weft_instant sleep_deadline(weft_rt *rt, uint64_t ms) {
    uint64_t now = weft__clock_ns(rt);
    if (ms == 0) return now / NS_PER_MS;
    return instant_add(now / NS_PER_MS + (now % NS_PER_MS != 0), ms);
}

weft_poll weft_sleep(weft_sleep_op *op, weft_cx *cx, uint64_t ms) {
    if (cx == NULL || op->state != WEFT__TIMER_IDLE || ms == 0 || !cx->rt)
        return weft_sleep_until(op, cx, 0);
    return weft_sleep_until(op, cx, sleep_deadline(cx->rt, ms));
}

/*
 * Armed: move the entry (remove + insert, O(1)), keeping its waker.  Fired
 * and not yet observed: file it again (its waker was used; the poll that
 * observes it stores a new one).  Either way a deadline that has passed
 * leaves it fired, with its waker woken, as the wheel would have.  Idle:
 * only remember the deadline for the next poll (RESET); arming an entry
 * nobody may poll again would leave it in the wheel when its frame goes.
 */
void weft_sleep_reset(weft_sleep_op *op, weft_rt *rt, weft_instant deadline) {
    if (deadline > INSTANT_END) deadline = INSTANT_END;
    switch (op->state) {
    case WEFT__TIMER_ARMED:
        if (op->rt != rt)
            misuse("sleep reset outside its runtime", "given another runtime than its own");
        weft__wheel_remove(&timer_rt(op, "sleep reset outside its runtime")->wheel, op);
        break;
    case WEFT__TIMER_FIRED:
        break;
    default:
        op->deadline = deadline;
        op->state = WEFT__TIMER_RESET;
        return;
    }
    op->deadline = deadline;
    if (deadline <= weft_now(rt)) {
        weft_waker *w = op->waker;
        op->waker = NULL;
        op->state = WEFT__TIMER_FIRED;
        weft_waker_wake(w);
        return;
    }
    op->rt = wheel_rt(rt, "sleep reset outside its runtime");
    weft__wheel_insert(&rt->wheel, op);
}

void weft_sleep_reset_after(weft_sleep_op *op, weft_rt *rt, uint64_t ms) {
    weft_sleep_reset(op, rt, sleep_deadline(rt, ms));
}

/* ---- intervals --------------------------------------------------------- */

void weft_interval_init(weft_interval *iv, uint64_t period_ms, weft_missed_tick missed) {
    weft_timer zero = {0};
    iv->timer = zero;
    iv->period = period_ms ? period_ms : 1;
    iv->next = 0;
    iv->missed = missed;
    iv->started = 0;
}

weft_poll weft_interval_tick(weft_interval *iv, weft_cx *cx, weft_instant *when) {
    if (cx == NULL) {
        timer_cancel(&iv->timer);
        return WEFT_READY;
    }
    if (!iv->started) {
        if (!cx->rt) misuse("interval ticked", "no runtime (cx->rt == NULL)");
        iv->started = 1;
        iv->next = weft_now(cx->rt);
    }
    if (weft_sleep_until(&iv->timer, cx, iv->next) == WEFT_PENDING) return WEFT_PENDING;
    weft_instant tick = iv->next;
    weft_instant now = cx->rt ? weft_now(cx->rt) : tick;
    uint64_t p = iv->period;
    /* Like Tokio, a tick up to 5 ms late is on time, not "missed"; any later
     * and the missed-tick behaviour picks the next deadline, also when less
     * than a whole period was lost (only Delay differs then). */
    if (now > tick + 5) {
        switch (iv->missed) {
        case WEFT_MISSED_DELAY:
            iv->next = instant_add(now, p);
            break;
        case WEFT_MISSED_SKIP:
            iv->next = instant_add(now, p - (now - tick) % p);
            break;
        default:
            iv->next = instant_add(tick, p);
            break;
        }
    } else {
        iv->next = instant_add(tick, p);
    }
    if (when) *when = tick;
    return WEFT_READY;
}

void weft_interval_reset(weft_interval *iv, weft_rt *rt) {
    timer_cancel(&iv->timer);
    iv->started = 1;
    iv->next = instant_add(weft_now(rt), iv->period);
}

/* ---- timeouts ---------------------------------------------------------- */

weft_poll weft__timeout_done(weft_timeout_op *op, int *res) {
    timer_cancel(&op->timer);
    if (res) *res = 0;
    return WEFT_READY;
}

void weft__timeout_drop(weft_timeout_op *op) { timer_cancel(&op->timer); }

int weft__timeout_expired_at(weft_timeout_op *op, weft_cx *cx, weft_instant deadline, int *res) {
    if (weft_sleep_until(&op->timer, cx, deadline) == WEFT_PENDING) return 0;
    if (res) *res = -ETIMEDOUT;
    return 1;
}

int weft__timeout_expired(weft_timeout_op *op, weft_cx *cx, uint64_t ms, int *res) {
    if (weft_sleep(&op->timer, cx, ms) == WEFT_PENDING) return 0;
    if (res) *res = -ETIMEDOUT;
    return 1;
}

weft_poll weft_timeout_future(weft_timeout_op *op, weft_cx *cx, uint64_t ms, weft_future f,
                              int *res) {
    if (cx == NULL) {
        weft_future_drop(f);
        weft__timeout_drop(op);
        return WEFT_READY;
    }
    if (weft_future_poll(f, cx) == WEFT_READY) return weft__timeout_done(op, res);
    if (weft__timeout_expired(op, cx, ms, res)) {
        weft_future_drop(f);
        return WEFT_READY;
    }
    return WEFT_PENDING;
}

/* ---- the paused clock -------------------------------------------------- */

int weft_time_pause(weft_rt *rt) {
    if (rt->paused) return -EALREADY;
    rt->paused_ns = weft__clock_ns(rt);
    rt->paused = 1;
    return 0;
}

int weft_time_resume(weft_rt *rt) {
    if (!rt->paused) return -EALREADY;
    rt->origin_ns = mono_ns();
    rt->base_ns = rt->paused_ns;
    rt->paused = 0;
    return 0;
}

int weft_time_advance(weft_rt *rt, uint64_t ms) {
    if (!rt->paused) return -EINVAL;
    rt->paused_ns = ms > UINT64_MAX / NS_PER_MS ? UINT64_MAX : ns_add(rt->paused_ns, ms * NS_PER_MS);
    /* Fire as the driver does: the woken tasks join the run queue in deadline
     * order, rather than the last one taking the calling task's LIFO slot. */
    weft_task *running = rt->current;
    rt->current = NULL;
    weft__timers_process(rt);
    rt->current = running;
    return 0;
}

int weft_time_is_paused(weft_rt *rt) { return rt->paused; }
