/*
 * weft/time.h - sleeping, intervals, timeouts and the runtime clock.
 *
 * Time is counted in milliseconds on the runtime's clock (weft_instant), which
 * starts near 0 when the runtime is created and is monotonic.  Timers live in
 * a hierarchical wheel owned by the runtime (1 ms resolution, O(1) insert and
 * cancel); the entry of each timer is embedded in the frame that waits on it,
 * so sleeping allocates nothing.
 *
 * A sleep of d ms completes no earlier than d ms after it started and, on an
 * idle runtime, within about a millisecond after that.
 *
 * The end of the clock.  The clock counts nanoseconds in 64 bits, so it ends
 * after about 584 years, at UINT64_MAX ns (weft_now() == UINT64_MAX / 1000000
 * ms).  It stops there on every path - weft_time_advance, weft_time_resume,
 * auto-advance, real time running after a resume - and never wraps or goes
 * back.  Deadlines are capped at the end: a sleep whose deadline lies beyond
 * it completes when the clock reaches the end, and once the clock stands at
 * its end every sleep is due at once.
 *
 * The paused clock (weft_time_pause, or weft_rt_config.start_paused) stops
 * time for tests: it moves only by weft_time_advance, or by itself when every
 * task is idle and a timer is pending, in which case it jumps straight to the
 * next timer's deadline.  A test that sleeps an hour runs in microseconds.
 *
 * Thread rules: all of this is for the thread that drives the runtime, from
 * inside its tasks (weft_now and the pause functions also from the thread
 * that owns the runtime while it is not being driven).  A timer records the
 * runtime it was armed on, so dropping one (cx == NULL) is also fine from
 * the owning thread while the runtime is not being driven, whatever waker it
 * was polled with; dropping an armed timer on a thread driving another
 * runtime, or while another thread drives its runtime, would corrupt a wheel
 * and aborts instead ("weft: timer dropped outside its runtime (...)" on
 * stderr).
 */
#ifndef WEFT_TIME_H
#define WEFT_TIME_H

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A point on a runtime's clock, in milliseconds. */
typedef uint64_t weft_instant;

/*
 * A timer entry.  Embed it in a frame (zero-initialised = idle).  Its fields
 * are the runtime's; do not touch them while the timer is armed.  48 bytes on
 * LP64: the list links, deadline, waker, the runtime whose wheel holds it
 * (so it can be taken out from any context that may touch that wheel), and
 * its state and position.
 */
typedef struct weft_timer {
    struct weft_timer *next, *prev; /* wheel slot list */
    weft_instant deadline;          /* fires when the clock reaches this */
    weft_waker *waker;              /* woken when it fires */
    weft_rt *rt;                    /* while armed: the runtime whose wheel holds it */
    uint8_t state;                  /* WEFT__TIMER_* */
    uint8_t level, slot;            /* position in the wheel while armed */
} weft_timer;

/* IDLE: nothing pending.  ARMED: in a wheel.  FIRED: its deadline came, not
 * yet observed by a poll.  RESET: idle, with the deadline of its next sleep
 * set by weft_sleep_reset. */
enum {
    WEFT__TIMER_IDLE = 0,
    WEFT__TIMER_ARMED = 1,
    WEFT__TIMER_FIRED = 2,
    WEFT__TIMER_RESET = 3,
};

/* The state of one sleep: a timer entry in the caller's frame. */
typedef weft_timer weft_sleep_op;

/* The runtime's clock now (paused-aware). */
weft_instant weft_now(weft_rt *rt);

/*
 * Sleep for ms milliseconds.  Poll expression: READY once the time has passed
 * (at once when ms == 0).  The op must stay in place while pending; after
 * READY it is idle again and can be reused.  cx == NULL cancels: the entry
 * leaves the wheel of the runtime it was armed on (see the thread rules
 * above: a drop where that wheel may not be touched aborts).  Cancel-safe.
 * Cannot fail, so it has no result; polling it with a context that has no
 * runtime (cx->rt == NULL) is misuse and aborts (it would end early).
 */
weft_poll weft_sleep(weft_sleep_op *op, weft_cx *cx, uint64_t ms);

/*
 * Sleep until the clock reads deadline (READY at once if it has passed).
 * The deadline is read once, when the sleep starts (the poll of an idle op);
 * while it is pending, re-polls ignore their deadline argument, by design (as
 * Tokio's sleep_until keeps its deadline): the op keeps the one it started
 * with.  To move the deadline of a sleep, use weft_sleep_reset.
 */
weft_poll weft_sleep_until(weft_sleep_op *op, weft_cx *cx, weft_instant deadline);

/*
 * Change the deadline of a sleep (Tokio's Sleep::reset), whatever its state;
 * O(1), never allocates, has no error to report (misuse aborts, see below):
 *   - pending (armed): the entry moves to the new deadline; the waiting poll
 *     keeps its waker and completes at the new deadline - later or earlier
 *     than the old one, never before the new one;
 *   - fired but not yet observed by a poll: armed again for the new
 *     deadline, so the next poll waits for it (the fire is forgotten);
 *   - idle (never polled, or completed, or dropped): nothing is armed, but
 *     the next sleep on op - weft_sleep or weft_sleep_until, whatever its
 *     argument - waits for this deadline; the sleep after that one is the
 *     caller's again.  A drop (cx == NULL) forgets it.
 * A deadline that has passed makes the sleep ready at its next poll (an
 * armed one fires at once: its waker is woken).  Deadlines are capped at the
 * end of the clock.
 *
 * The idle-timeout pattern: a task that polls "a line or the sleep" without
 * dropping the sleep, and on every line calls weft_sleep_reset_after(op, rt,
 * idle_ms), times out idle_ms after the last line.
 *
 * rt is the runtime the sleep is (to be) armed on.  Thread rules as for
 * dropping a timer (see the top of this file): from a task of rt, or from
 * rt's owner while rt is not being driven; resetting an armed sleep with
 * another runtime, on a thread driving another runtime, or while another
 * thread drives rt aborts with a message.  For sleeps only: an interval has
 * weft_interval_reset, and the timer inside a weft_timeout_op is not for
 * resetting.
 */
void weft_sleep_reset(weft_sleep_op *op, weft_rt *rt, weft_instant deadline);

/*
 * weft_sleep_reset to ms from now, counted as weft_sleep counts (from the
 * clock rounded up to a whole millisecond, so never early; ms == 0: ready at
 * the next poll).  Prefer it to weft_sleep_reset(op, rt, weft_now(rt) + ms),
 * which can end up to a millisecond early since weft_now rounds down.
 */
void weft_sleep_reset_after(weft_sleep_op *op, weft_rt *rt, uint64_t ms);

/* ---- intervals --------------------------------------------------------- */

/* What an interval does when ticks were missed (the task was late). */
typedef enum weft_missed_tick {
    /* Fire the missed ticks back to back until caught up (Tokio's default). */
    WEFT_MISSED_BURST = 0,
    /* Restart the schedule: the next tick is one period after this one. */
    WEFT_MISSED_DELAY,
    /* Drop the missed ticks: the next tick is the next one on the original
     * schedule that is still in the future. */
    WEFT_MISSED_SKIP,
} weft_missed_tick;

typedef struct weft_interval {
    weft_timer timer;
    uint64_t period;        /* ms, at least 1 */
    weft_instant next;      /* deadline of the next tick */
    weft_missed_tick missed;
    uint8_t started;
} weft_interval;

/*
 * Initialise an interval that ticks every period_ms (0 is taken as 1).  The
 * first tick completes at once, on the first poll; the schedule starts then.
 */
void weft_interval_init(weft_interval *iv, uint64_t period_ms, weft_missed_tick missed);

/*
 * Wait for the next tick.  Poll expression; *when (may be NULL) receives the
 * scheduled time of the tick that completed.  cx == NULL cancels the wait
 * (the schedule is kept).  Cancel-safe: a cancelled tick is not lost.
 */
weft_poll weft_interval_tick(weft_interval *iv, weft_cx *cx, weft_instant *when);

/* Restart the schedule: the next tick is one period from now. */
void weft_interval_reset(weft_interval *iv, weft_rt *rt);

/* ---- timeouts ---------------------------------------------------------- */

/* The state of one timeout, in the caller's frame (zeroed = idle). */
typedef struct weft_timeout_op {
    weft_timer timer;
    weft_cx *cx; /* scratch for weft_timeout */
} weft_timeout_op;

/*
 * weft_timeout(op, ms, res, expr): a poll expression that polls expr, giving
 * it ms milliseconds.  For use in weft_await inside an async function:
 *
 *     weft_await(weft_timeout(&self->to, 5000, &self->rc,
 *                             weft_tcp_read(self->sock, cx, buf, len, &self->n)));
 *     if (self->rc == -ETIMEDOUT) ...          // else self->n is read's result
 *
 * *res (res may be NULL) is 0 when expr completed in time - expr's own
 * result is wherever expr put it - or -ETIMEDOUT when the time ran out, in
 * which case expr was dropped (evaluated once with cx == NULL, so the
 * operation released what it held).  expr is polled first on every poll, so
 * an operation that completes in the same poll as the deadline passes wins
 * (as Tokio's timeout does).  cx == NULL drops expr and the timer.
 * Cancel-safe exactly when expr is.
 */
#define weft_timeout(op, ms, res, expr)                                        \
    ((cx) == NULL                                                              \
         ? ((void)(expr), weft__timeout_drop(op), WEFT_READY)                  \
     : (expr) == WEFT_READY                                                    \
         ? weft__timeout_done((op), (res))                                     \
     : weft__timeout_expired((op), cx, (ms), (res))                            \
         ? ((op)->cx = cx, cx = NULL, (void)(expr), cx = (op)->cx, WEFT_READY) \
         : WEFT_PENDING)

/* The same with an absolute deadline on the runtime clock. */
#define weft_timeout_at(op, deadline, res, expr)                               \
    ((cx) == NULL                                                              \
         ? ((void)(expr), weft__timeout_drop(op), WEFT_READY)                  \
     : (expr) == WEFT_READY                                                    \
         ? weft__timeout_done((op), (res))                                     \
     : weft__timeout_expired_at((op), cx, (deadline), (res))                   \
         ? ((op)->cx = cx, cx = NULL, (void)(expr), cx = (op)->cx, WEFT_READY) \
         : WEFT_PENDING)

/*
 * Timeout around a type-erased future f (which the caller owns; see
 * weft_future_of).  READY with *res 0 when f completed, or -ETIMEDOUT after
 * dropping f.  cx == NULL drops both.
 */
weft_poll weft_timeout_future(weft_timeout_op *op, weft_cx *cx, uint64_t ms, weft_future f,
                              int *res);

/* ---- the paused clock -------------------------------------------------- */

/* Stop the runtime's clock.  Returns 0, or -EALREADY if paused. */
int weft_time_pause(weft_rt *rt);

/* Let the clock run again from where it stands.  0, or -EALREADY if running. */
int weft_time_resume(weft_rt *rt);

/*
 * Move a paused clock forward by ms and fire the timers that came due (their
 * tasks run when the caller yields).  The clock stops at its end (see the top
 * of this file), so any ms is valid.  Returns 0, or -EINVAL when the clock is
 * not paused.
 */
int weft_time_advance(weft_rt *rt, uint64_t ms);

/* Nonzero when the clock is paused. */
int weft_time_is_paused(weft_rt *rt);

/* ---- implementation details -------------------------------------------- */

weft_poll weft__timeout_done(weft_timeout_op *op, int *res);
void weft__timeout_drop(weft_timeout_op *op);
int weft__timeout_expired(weft_timeout_op *op, weft_cx *cx, uint64_t ms, int *res);
int weft__timeout_expired_at(weft_timeout_op *op, weft_cx *cx, weft_instant deadline, int *res);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_TIME_H */
