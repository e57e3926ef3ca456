/*
 * weft/rt.h - the runtime: tasks, join handles and the current-thread
 * executor.
 *
 * Semantics (Tokio's current_thread runtime):
 *   - weft_block_on drives one future to completion on the calling thread,
 *     running every spawned task of the runtime meanwhile.  Tasks left when it
 *     returns stay in the runtime and run on the next weft_block_on.
 *   - A task is one allocation: a 40-byte header followed by the frame of the
 *     future it runs.  weft_task_new reserves it; you fill in the frame; then
 *     weft_task_spawn schedules it and returns its join handle.
 *   - The join handle (a weft_task pointer holding a reference) is awaited
 *     with weft_join; the task's output is read from its frame
 *     (weft_task_frame) while the handle is held.  Releasing the handle
 *     detaches the task: it keeps running.  weft_task_abort cancels it: its
 *     frame is dropped (its weft_finally section runs) and the join reports
 *     -ECANCELED - unless it had already completed.
 *   - Scheduling: a FIFO run queue; a LIFO slot holding the task most recently
 *     woken by the running task, which runs next (message passing hands the
 *     receiver the hot cache), at most max_lifo_polls times in a row; a
 *     cooperative budget per poll (leaf operations stop succeeding after
 *     `budget` completions, so a task that is always ready yields); the
 *     reactor and timers are polled every event_interval tasks, and the
 *     queue of wakes from other threads every remote_interval tasks.
 *   - Wakers may be used from any thread: a wake from elsewhere goes through
 *     a locked remote queue and an eventfd that interrupts epoll_wait.
 *   - weft_rt_free cancels every task that has not finished (their finally
 *     sections run) and frees everything.
 *
 * Thread rules: a runtime is driven by one thread at a time (the one inside
 * weft_block_on; a second thread calling it meanwhile gets -EDEADLK).
 * weft_task_new / weft_task_spawn must be called on the thread that drives it
 * (from its tasks) or, while it is not being driven, on the thread that owns
 * it.  weft_rt_free is called from outside the runtime, when no thread drives
 * it (see there: the misuses it can see abort).  Join handles may be aborted
 * and released from any thread; wakers may be used from any thread.
 */
#ifndef WEFT_RT_H
#define WEFT_RT_H

#include "async.h"
#include "future.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_task weft_task;

/* Runtime settings.  Zero in any field means "the default". */
typedef struct weft_rt_config {
    unsigned budget;          /* coop budget per task poll (128) */
    unsigned event_interval;  /* task polls between reactor/timer polls (61) */
    unsigned remote_interval; /* task polls between remote-queue checks (31) */
    unsigned max_lifo_polls;  /* LIFO-slot polls in a row (3) */
    unsigned max_events;      /* epoll events per turn (1024) */
    int disable_lifo;         /* nonzero: no LIFO slot, strict FIFO */
    int start_paused;         /* nonzero: the clock starts paused */
} weft_rt_config;

/*
 * Create a runtime.  cfg may be NULL for the defaults.  On success *out owns
 * the runtime (free it with weft_rt_free) and 0 is returned; otherwise a
 * negative errno (-ENOMEM, -EMFILE, ...) and *out is NULL.
 */
WEFT_MUST_USE int weft_rt_new(weft_rt **out, const weft_rt_config *cfg);

/*
 * Shut the runtime down and free it: cancels every task that has not
 * finished (finally sections run, join handles report -ECANCELED), releases
 * timers and I/O registrations, closes its descriptors.  Join handles and
 * wakers that outlive it stay valid to release.  Sockets still open are
 * detached (their operations then fail with -ESHUTDOWN); close them as usual.
 * Frames reserved with weft_task_new and not yet spawned are left alone: they
 * are still the caller's to spawn (the task is then cancelled at once) or to
 * discard.  NULL is ignored.
 *
 * Threads: call it from outside the runtime, on a thread that is not inside
 * any of its tasks, and when no thread drives it (every weft_block_on on it
 * has returned, and the return is ordered before this call, e.g. by a
 * pthread_join).  It aborts, printing "weft: weft_rt_free called from inside
 * the runtime it frees" on stderr, when called from one of its tasks, from
 * the future of its weft_block_on, or from a finally section its own shutdown
 * runs; and it aborts, printing "weft: weft_rt_free called while another
 * thread drives the runtime", when it sees another thread inside
 * weft_block_on or weft_rt_free on it (a call racing with one that has not
 * visibly begun yet is not always seen).  Any use of rt once it has returned
 * (a second weft_rt_free, weft_block_on, weft_task_new) uses freed memory and
 * is not detected.
 */
void weft_rt_free(weft_rt *rt);

/*
 * Drive the future `poll` (declared with weft_async_fn or weft_future_fn) on
 * `frame` to completion on this thread, running the runtime's tasks
 * meanwhile.  frame is the caller's, a pointer to poll's frame type (a
 * compile error otherwise), and must stay valid and in place until this
 * returns; read its output from it afterwards.  Returns 0, -ENOMEM, -EINVAL
 * when rt is NULL, or -EDEADLK when this thread is already inside a runtime
 * (in one of its tasks, in a weft_block_on future, or in a finally section
 * run by weft_rt_free) or another thread is driving rt; nothing is run then.
 * (A call racing with weft_rt_free on another thread may also get -EDEADLK,
 * but is a bug: rt may be freed under it.)
 */
#define weft_block_on(rt, poll, frame)                                         \
    weft__block_on((rt), poll##_erased, WEFT__FRAME_PTR(poll, frame))

/*
 * The same for a type-erased future (see weft_future_of), for code that
 * holds futures of any type: drives f to completion.  The future's object
 * is the caller's and must stay in place until this returns.  Returns as
 * weft_block_on; -EINVAL also when f.poll is NULL.
 */
int weft__block_on(weft_rt *rt, weft_poll_fn poll, void *frame);

static inline int weft_block_on_future(weft_rt *rt, weft_future f) {
    return weft__block_on(rt, f.poll, f.self);
}

/*
 * Reserve a task that will run the async function `poll` (declared with
 * weft_async_fn, not weft_future_fn) and set *frame to its frame: zeroed
 * memory of poll's frame type, for you to initialise before
 * weft_task_spawn.  frame must be a pointer to a pointer to that type (a
 * compile error otherwise).  The task belongs to rt (inside a task: cx->rt).
 * Returns 0, or -ENOMEM, or -ESHUTDOWN (the runtime is shutting down: called
 * from a finally section run by weft_rt_free), or -EINVAL (rt is NULL, or
 * the frame type's alignment is above 16), with *frame set to NULL.  A frame
 * you decide not to spawn must still be spawned or freed with
 * weft_task_discard, also after weft_rt_free (which leaves it alone).  rt
 * itself must not have been freed.
 *
 *     echo_conn *c;
 *     if (weft_task_new(&c, cx->rt, echo_conn_poll) == 0) {
 *         c->sock = sock;
 *         weft_task_spawn_detached(c);
 *     }
 */
#define weft_task_new(frame, rt, poll)                                         \
    weft__alloc_result(*_Generic((frame), poll##_async_frame **: (frame)) =    \
                           weft__task_alloc((rt), sizeof(poll##_async_frame),  \
                                            _Alignof(poll##_async_frame),      \
                                            poll##_erased,                     \
                                            #poll " @ " __FILE__               \
                                            ":" WEFT__STR(__LINE__)))

/* The function behind weft_task_new: NULL with errno set on failure; site
 * names the spawn site for dumps. */
void *weft__task_alloc(weft_rt *rt, size_t size, size_t align, weft_poll_fn poll,
                       const char *site);

WEFT_MUST_USE static inline int weft__alloc_result(const void *p) { return p ? 0 : -errno; }

/*
 * Schedule the task whose frame came from weft_task_new.  Returns its join
 * handle, owned by the caller (release it with weft_task_release).  When the
 * runtime is shutting down (from a finally section run by weft_rt_free) or
 * gone (the frame was reserved before weft_rt_free), the task is cancelled at
 * once instead: its frame is dropped on this thread (its finally section
 * runs) and the handle reports -ECANCELED.  A frame that is not waiting to be
 * spawned (spawned or discarded already) aborts with "weft: weft_task_spawn
 * of a frame that is not waiting to be spawned" when it can be seen (while
 * its memory is still the task's).
 */
weft_task *weft_task_spawn(void *frame);

/* Schedule the task and keep no handle (fire and forget). */
void weft_task_spawn_detached(void *frame);

/* Free a frame from weft_task_new without running it (its poll never runs).
 * Also after weft_rt_free.  Aborts like weft_task_spawn for a frame that is
 * not waiting to be spawned. */
void weft_task_discard(void *frame);

/*
 * Await the task's completion.  Poll expression: READY when it finished;
 * *res (may be NULL) is 0 if it ran to completion or -ECANCELED if it was
 * cancelled.  Polling again after READY is READY again.  cx == NULL stops
 * waiting (the task is not affected).  Cancel-safe.
 */
weft_poll weft_join(weft_task *t, weft_cx *cx, int *res);

/* The task's frame (its output), valid while the handle is held. */
void *weft_task_frame(weft_task *t);

/*
 * Cancel the task: it will not be polled again; its frame is dropped on the
 * runtime's thread (synchronously if called there while the task is not
 * running).  No effect once it finished.  Any thread.
 */
void weft_task_abort(weft_task *t);

/* Release the handle; the task keeps running (detached).  Any thread. */
void weft_task_release(weft_task *t);

/* Nonzero once the task finished (completed or cancelled). */
int weft_task_is_finished(const weft_task *t);

/* The task's id: nonzero, counting up from 1 per runtime. */
uint64_t weft_task_id(const weft_task *t);

/*
 * The id of the task being polled with cx - the task its runtime is running
 * on this thread, also when a combinator polls a child with a waker of its
 * own - or 0 when cx belongs to no task (a context made by hand).
 */
uint64_t weft_task_current_id(const weft_cx *cx);

/* ---- observing ----------------------------------------------------------- */

/* Counters of a runtime (for tests, tuning and dumps). */
typedef struct weft_rt_stats {
    uint64_t spawned;        /* tasks spawned */
    uint64_t alive;          /* tasks not yet finished */
    uint64_t tasks_held;     /* task memory still referenced (by the runtime,
                                join handles or wakers kept anywhere) */
    uint64_t polls;          /* task polls */
    uint64_t lifo_polls;     /* of which from the LIFO slot */
    uint64_t remote_wakes;   /* wakes that came through the remote queue */
    uint64_t turns;          /* reactor turns */
    uint64_t parks;          /* turns that blocked in epoll_wait */
    uint64_t io_registered;  /* live I/O registrations */
    uint64_t timers;         /* armed timers */
} weft_rt_stats;

void weft_rt_stats_get(weft_rt *rt, weft_rt_stats *out);

/*
 * How many times weft has asked the system for memory (malloc, calloc,
 * realloc, mmap) in this process, all runtimes together.  For tests and
 * tuning: a steady state should leave it unchanged.  Any thread.
 */
uint64_t weft_alloc_count(void);

/*
 * Print every unfinished task: id, spawn site, state and its chain of awaits
 * (the async backtrace).  Call on the runtime's thread: from a task, or while
 * the runtime is not being driven.
 */
void weft_rt_dump(weft_rt *rt, FILE *out);

#define WEFT__STR_(x) #x
#define WEFT__STR(x) WEFT__STR_(x)

#ifdef __cplusplus
}
#endif

#endif /* WEFT_RT_H */
