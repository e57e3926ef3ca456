/*
 * weft/future.h - the future protocol: poll results, wakers, the context.
 *
 * This is Rust's std::future contract, translated to C.
 *
 *   - A future is any object with a poll function.  poll(self, cx) either
 *     finishes (WEFT_READY; the result is then in the object) or returns
 *     WEFT_PENDING after arranging that cx->waker will be woken when polling
 *     again can make progress.
 *   - Futures are lazy: nothing happens before the first poll.
 *   - Futures are cancelled by drop.  In weft a future is dropped by calling
 *     its poll function with cx == NULL: it must release every registration it
 *     holds (timer entry, waiter node, I/O interest, child futures) and return.
 *     Dropping a future that never started, or that already finished, is
 *     allowed and does nothing beyond running its cleanup once.
 *   - Futures are robust to spurious polls: poll re-checks the real condition,
 *     so being polled without having been woken is harmless.
 *   - A waker is an object whose first member is its vtable (struct
 *     weft_waker).  A runtime's tasks are wakers; so is anything a user builds
 *     to drive futures by hand.
 *
 * Why poll(self, NULL) is the drop, rather than a second function pointer:
 * an async function's cleanup (its weft_finally section) lives inside its poll
 * function, so dropping one must call poll anyway; one entry point keeps every
 * future at one word of type information, which is what makes a parked task
 * fit in under 100 bytes.  See docs/architecture.md.
 *
 * Why a waker is a pointer to an object that starts with its vtable, rather
 * than a {vtable, data} pair: every place that stores a waker (timer entries,
 * waiter nodes, I/O registrations, join handles) then takes 8 bytes, not 16.
 * The vtable still carries the four operations of Rust's RawWakerVTable.
 */
#ifndef WEFT_FUTURE_H
#define WEFT_FUTURE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * On a constructor: ignoring its result is a warning (an error with
 * -Werror), since the out-pointer is NULL when it failed.  A GNU attribute
 * (gcc and clang); nothing elsewhere.
 */
#if defined(__GNUC__)
#define WEFT_MUST_USE __attribute__((warn_unused_result))
#else
#define WEFT_MUST_USE
#endif

/* The result of polling a future. */
typedef enum weft_poll {
    WEFT_PENDING = 0,
    WEFT_READY = 1
} weft_poll;

typedef struct weft_cx weft_cx;
typedef struct weft_waker weft_waker;
typedef struct weft_rt weft_rt;

/*
 * The operations of a waker.  All four may be called from any thread.
 *   clone:       return a waker that wakes the same target (usually the same
 *                pointer with a reference added); the caller owns it.
 *   wake:        wake the target and release this waker (consumes it).
 *   wake_by_ref: wake the target; the caller keeps its waker.
 *   drop:        release this waker without waking.
 */
typedef struct weft_waker_vtable {
    weft_waker *(*clone)(weft_waker *w);
    void (*wake)(weft_waker *w);
    void (*wake_by_ref)(weft_waker *w);
    void (*drop)(weft_waker *w);
} weft_waker_vtable;

/* A waker: embed this as the first member of the object that gets woken. */
struct weft_waker {
    const weft_waker_vtable *vtable;
};

/*
 * The context handed to every poll.  Owned by whoever polls; a future may read
 * it during the poll and must not keep the pointer.
 *   waker:  wake this when the future can make progress (clone it to keep it).
 *   rt:     the runtime driving this poll, or NULL when polled by hand.  Timers
 *           and I/O register with it.
 *   parked: set by an async frame that returns WEFT_PENDING to itself, so the
 *           awaiting frame can record its live child for task dumps.
 *   budget: the cooperative budget left in this task's poll (see
 *           weft_coop_poll below).
 */
struct weft_cx {
    weft_waker *waker;
    weft_rt *rt;
    void *parked;
    unsigned budget;
};

/*
 * A poll function.  self is the future object; cx == NULL means "drop".
 * Return WEFT_READY or WEFT_PENDING (the value is ignored on drop).
 */
typedef weft_poll (*weft_poll_fn)(void *self, weft_cx *cx);

/*
 * A type-erased reference to a future: the object and its poll function.
 * Combinators, tasks and streams hold futures of any type through this.
 * The referenced object is owned by whoever owns the weft_future value.
 */
typedef struct weft_future {
    weft_poll_fn poll;
    void *self;
} weft_future;

static inline weft_poll weft_future_poll(weft_future f, weft_cx *cx) {
    return f.poll(f.self, cx);
}

/* Drop (cancel) a future: releases everything it holds. */
static inline void weft_future_drop(weft_future f) {
    (void)f.poll(f.self, NULL);
}

/* ---- wakers ------------------------------------------------------------ */

/* Clone w (w may be NULL: returns NULL).  The caller owns the result. */
static inline weft_waker *weft_waker_clone(weft_waker *w) {
    return w ? w->vtable->clone(w) : NULL;
}

/* Wake and release w (NULL is ignored). */
static inline void weft_waker_wake(weft_waker *w) {
    if (w) w->vtable->wake(w);
}

/* Wake w, keeping it (NULL is ignored). */
static inline void weft_waker_wake_by_ref(weft_waker *w) {
    if (w) w->vtable->wake_by_ref(w);
}

/* Release w without waking (NULL is ignored). */
static inline void weft_waker_drop(weft_waker *w) {
    if (w) w->vtable->drop(w);
}

/* Nonzero when a and b wake the same target (Rust's will_wake). */
static inline int weft_waker_will_wake(const weft_waker *a, const weft_waker *b) {
    return a == b;
}

/*
 * Store the current waker in *slot, replacing what was there only when it
 * would wake something else (so re-polls do not clone).  Single-threaded use:
 * the slot must be protected by the caller.
 */
static inline void weft_waker_store(weft_waker **slot, weft_cx *cx) {
    if (*slot != cx->waker) {
        weft_waker_drop(*slot);
        *slot = weft_waker_clone(cx->waker);
    }
}

/* A waker that does nothing; useful to poll futures by hand in tests. */
extern weft_waker weft_noop_waker;

/* ---- cooperative budget ------------------------------------------------ */

/* The budget a runtime gives each task poll unless configured otherwise. */
#define WEFT_COOP_BUDGET 128u
/* A context with this budget is never throttled. */
#define WEFT_COOP_UNCONSTRAINED (~0u)

/*
 * Leaf operations call this before doing work that could complete.  When the
 * task has used up its budget it wakes the task (so it is polled again soon,
 * after others had their turn) and returns 0: the caller returns WEFT_PENDING
 * without side effects.  Otherwise it returns 1.  Call weft_coop_made_progress
 * when the operation then completes, so a task that only waits spends nothing.
 */
static inline int weft_coop_poll(weft_cx *cx) {
    if (cx->budget == 0) {
        weft_waker_wake_by_ref(cx->waker);
        return 0;
    }
    return 1;
}

static inline void weft_coop_made_progress(weft_cx *cx) {
    /* Saturates at 0: a leaf that spends without checking first must not
     * wrap the budget round to "unconstrained". */
    if (cx->budget != WEFT_COOP_UNCONSTRAINED && cx->budget != 0) cx->budget--;
}

/* A context for polling by hand: no runtime, noop waker unless given one. */
static inline weft_cx weft_cx_manual(weft_waker *w) {
    weft_cx cx;
    cx.waker = w ? w : &weft_noop_waker;
    cx.rt = NULL;
    cx.parked = NULL;
    cx.budget = WEFT_COOP_UNCONSTRAINED;
    return cx;
}

/* ---- results and errors: one rule for every header ------------------- */

/*
 * Every function in weft reports its outcome the same way.
 *
 *   1. An awaited operation (a poll expression: it returns weft_poll) that
 *      can fail delivers its outcome as one int through its LAST parameter,
 *      `int *res`: a non-negative value on success (a count of bytes, a
 *      line's length, 1 for a barrier's leader, else 0) or a negative errno
 *      (-ECONNRESET, -EPIPE, -ETIMEDOUT, -ECANCELED, ...).  res may be NULL
 *      when the caller does not need it.  *res is written once, when the
 *      operation returns WEFT_READY; never on WEFT_PENDING, never on drop.
 *      Other outputs (the value received, the socket accepted, the peer's
 *      address) come through out-parameters before res and are written only
 *      on success.  The arguments come in one order: the object operated on,
 *      cx, the operation's state in the caller's frame (if any), the inputs,
 *      the outputs, res.
 *   2. An awaited operation that cannot fail has no res (weft_sleep,
 *      weft_mutex_lock, weft_notified, weft_cancel_token_cancelled, ...).
 *   3. A function that completes at once returns an int: 0 or a
 *      non-negative value on success, or a negative errno (weft_mpsc_try_send,
 *      weft_tcp_shutdown, ...).
 *   4. A constructor returns 0 or a negative errno and fills its FIRST
 *      parameter, an out-pointer (weft_rt_new(&rt, cfg),
 *      weft_task_new(&frame, rt, poll), weft_mpsc_new(&tx, &rx, ...)); on
 *      failure the out-pointers are set to NULL.  Constructors are marked
 *      WEFT_MUST_USE: ignoring the result is a compiler warning.
 *   5. A function that cannot fail returns its value directly: clones
 *      (a reference count), ids, counts, predicates, weft_now.
 *   6. A NULL where a function that returns an int needs an object gives
 *      -EINVAL.  Misuse that has no result to report it through - a frame
 *      polled after it completed, a `return` out of an async body, a sleep
 *      polled without a runtime, a runtime freed from inside itself, a
 *      timer dropped on a thread driving another runtime - aborts with a
 *      message naming it, where weft can detect it.  Bad input from outside
 *      (a malformed address, a peer that resets) is always an error value.
 *
 * weft_strerror names an error; it accepts the value with either sign and
 * never returns NULL.  Thread-safe.
 */
const char *weft_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_FUTURE_H */
