/*
 * weft/semaphore.h - an async counting semaphore (Tokio's sync::Semaphore).
 * It is also what weft's Mutex, RwLock and OnceCell are built on.
 *
 * Semantics:
 *   - The semaphore holds a number of permits.  weft_semaphore_acquire_many
 *     waits until it can take n of them; the op then HOLDS them until
 *     weft_semaphore_release gives them back (or weft_semaphore_forget
 *     removes them for good).
 *   - Fair, first in first out: a waiter is served before anyone who started
 *     waiting after it, and a new acquire never overtakes a waiter, even when
 *     enough permits for the newcomer are free.  Permits that come back go to
 *     the oldest waiter first; a waiter for many permits collects them as
 *     they come back (they are set aside for it), so a large request is not
 *     starved by a stream of small ones.
 *   - weft_semaphore_close makes every waiting and every later acquire fail
 *     with -EPIPE.  Permits held at close time may still be released (and
 *     weft_semaphore_available counts them) but no one can take them.
 *   - At most WEFT_SEMAPHORE_MAX_PERMITS permits.
 *
 * Cancel safety: acquire is cancel-safe.  A cancelled acquire holds nothing:
 * the permits that were already set aside for it (some of them while it
 * waited for more, or all of them if it was granted but not yet polled) go
 * back to the semaphore, i.e. to the next waiters, so a cancellation never
 * loses a wake-up and never leaks a permit.
 *
 * Holding permits across awaits is the point of the primitive.  A frame that
 * may be cancelled while its op holds permits gives them back in its
 * weft_finally; weft_semaphore_release on an op that holds nothing is a
 * no-op, so that is always safe:
 *
 *     weft_await(weft_semaphore_acquire(&sem, cx, &self->permit, &self->rc));
 *     if (self->rc < 0) weft_return;                // -EPIPE: closed
 *     weft_await(do_limited_work(...));
 *     weft_finally:
 *         weft_semaphore_release(&self->permit);
 *
 * Threads: every function may be called from any thread; an op is used by
 * one task at a time.  A weft_semaphore needs no destructor, but no op may be
 * waiting on it when it goes away.
 */
#ifndef WEFT_SEMAPHORE_H
#define WEFT_SEMAPHORE_H

#include "future.h"
#include "wait.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_SEMAPHORE_MAX_PERMITS (SIZE_MAX >> 3)

typedef struct weft_semaphore {
    weft_spinlock lock;
    uint32_t closed;
    size_t permits;          /* free, not set aside for anyone */
    weft_wait_node waiters;  /* FIFO of weft_acquire_op */
} weft_semaphore;

/* A static initializer: weft_semaphore s = WEFT_SEMAPHORE_INIT(3); */
#define WEFT_SEMAPHORE_INIT(n) {{0}, 0, (n), {0, 0}}

/*
 * One acquire, and then the permits it holds (Tokio's SemaphorePermit), in
 * the caller's frame.  Zeroed = holds nothing.  Fields are private.
 */
typedef struct weft_acquire_op {
    weft_wait_node node;
    weft_waker *waker;
    weft_semaphore *sem;
    size_t want;    /* permits asked for (held, once READY with result 0) */
    size_t needed;  /* while waiting: how many are still missing */
    _Atomic uint32_t state;
} weft_acquire_op;

/* Set up s with `permits` permits.  0, or -EINVAL above the maximum. */
int weft_semaphore_init(weft_semaphore *s, size_t permits);

/*
 * Acquire n permits.  Poll expression: READY with *res 0 when op holds n
 * permits; -EPIPE when the semaphore is (or gets) closed; -EINVAL when n is
 * above WEFT_SEMAPHORE_MAX_PERMITS.  n == 0 completes at once holding
 * nothing.  cx == NULL cancels (see above).  op must hold nothing when the
 * acquire starts (acquiring again through an op that still holds permits
 * aborts the program: release them first).
 */
weft_poll weft_semaphore_acquire_many(weft_semaphore *s, weft_cx *cx, weft_acquire_op *op,
                                      size_t n, int *res);

/* weft_semaphore_acquire_many with n = 1. */
weft_poll weft_semaphore_acquire(weft_semaphore *s, weft_cx *cx, weft_acquire_op *op, int *res);

/*
 * Take n permits only if that needs no waiting: 0 (op holds them), -EAGAIN
 * (not enough free, or others are waiting), -EPIPE (closed), -EINVAL.
 */
int weft_semaphore_try_acquire_many(weft_semaphore *s, weft_acquire_op *op, size_t n);
int weft_semaphore_try_acquire(weft_semaphore *s, weft_acquire_op *op);

/* Give back what op holds (to the oldest waiters first).  No-op if none. */
void weft_semaphore_release(weft_acquire_op *op);

/* Drop what op holds without giving it back: the semaphore shrinks. */
void weft_semaphore_forget(weft_acquire_op *op);

/* How many permits op holds now (0 unless a completed acquire holds them). */
size_t weft_semaphore_held(const weft_acquire_op *op);

/*
 * Add n new permits (they go to waiters first).  0, or -EOVERFLOW when the
 * free count would pass WEFT_SEMAPHORE_MAX_PERMITS (nothing is added).
 */
int weft_semaphore_add_permits(weft_semaphore *s, size_t n);

/* Permits free right now (a snapshot). */
size_t weft_semaphore_available(weft_semaphore *s);

/* Fail every waiting and future acquire with -EPIPE.  Idempotent. */
void weft_semaphore_close(weft_semaphore *s);

/* Nonzero once closed. */
int weft_semaphore_is_closed(weft_semaphore *s);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SEMAPHORE_H */
