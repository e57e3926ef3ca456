/*
 * weft/mutex.h - an async mutex (Tokio's sync::Mutex) and a fair
 * readers-writer lock (Tokio's sync::RwLock).
 *
 * Both are built on weft_semaphore (a mutex is a semaphore of one permit, an
 * RwLock one of WEFT_RWLOCK_MAX_READERS permits where a writer takes all of
 * them), so they share its properties:
 *   - Locking waits without blocking the thread: other tasks run meanwhile.
 *   - Fair, first in first out.  A task that starts waiting is served before
 *     any task that starts later, and a new lock never overtakes a waiter.
 *     For the RwLock this means a waiting writer is not starved by a stream
 *     of readers: readers that arrive after it wait until it is done.
 *   - The guard may be held across awaits; that is what an async mutex is
 *     for.  It is released with weft_mutex_unlock / weft_rwlock_unlock, which
 *     are no-ops on a guard that holds nothing - so a frame that may be
 *     cancelled while it holds the lock releases it in its weft_finally:
 *
 *         weft_await(weft_mutex_lock(&shared->lock, cx, &self->guard));
 *         shared->count++;                       // the data the lock guards
 *         weft_await(weft_sleep(&self->sl, cx, 10));   // still held
 *         weft_mutex_unlock(&self->guard);
 *         weft_finally:
 *             weft_mutex_unlock(&self->guard);   // on cancellation
 *
 * The lock does not contain the data it protects: keep the data next to it.
 * Unlocking publishes the holder's writes to the next holder (acquire and
 * release ordering), on any thread.
 *
 * Cancel safety: lock, read and write are cancel-safe.  A cancelled lock
 * leaves no waiter behind, and if the lock had already been handed to it
 * (it was granted but not yet polled) it passes straight on to the next
 * waiter: no lost wake-up.  A cancelled write that had been collecting
 * reader permits gives them back.
 *
 * Threads: any thread.  A guard belongs to one task at a time; it may be
 * unlocked by another task or thread than the one that locked (there is no
 * owner check).  The locks need no destructor, but nothing may wait on them
 * when they go away.
 */
#ifndef WEFT_MUTEX_H
#define WEFT_MUTEX_H

#include "semaphore.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Mutex --------------------------------------------------------------- */

typedef struct weft_mutex {
    weft_semaphore sem;
} weft_mutex;

/* A static initializer: weft_mutex m = WEFT_MUTEX_INIT; */
#define WEFT_MUTEX_INIT {WEFT_SEMAPHORE_INIT(1)}

/* The lock's wait and then the hold, in the caller's frame; zeroed = free. */
typedef struct weft_mutex_guard {
    weft_acquire_op op;
} weft_mutex_guard;

/* Set up an unlocked mutex (or use WEFT_MUTEX_INIT). */
void weft_mutex_init(weft_mutex *m);

/*
 * Lock.  Poll expression: READY once g holds the lock.  cx == NULL cancels
 * (see above).  g must not hold a lock already (that aborts).
 */
weft_poll weft_mutex_lock(weft_mutex *m, weft_cx *cx, weft_mutex_guard *g);

/* Lock if free and nobody waits: 0 (g holds it) or -EAGAIN. */
int weft_mutex_try_lock(weft_mutex *m, weft_mutex_guard *g);

/* Release the lock g holds (to the oldest waiter).  No-op if g holds none. */
void weft_mutex_unlock(weft_mutex_guard *g);

/* Nonzero if g holds its mutex. */
int weft_mutex_guard_held(const weft_mutex_guard *g);

/* ---- RwLock -------------------------------------------------------------- */

#define WEFT_RWLOCK_MAX_READERS ((size_t)0x1fffffff)

typedef struct weft_rwlock {
    weft_semaphore sem;
} weft_rwlock;

/* A static initializer: weft_rwlock l = WEFT_RWLOCK_INIT; */
#define WEFT_RWLOCK_INIT {WEFT_SEMAPHORE_INIT(WEFT_RWLOCK_MAX_READERS)}

/* A read or a write hold, in the caller's frame; zeroed = holds nothing. */
typedef struct weft_rwlock_guard {
    weft_acquire_op op;
} weft_rwlock_guard;

/* Set up an unlocked RwLock (or use WEFT_RWLOCK_INIT). */
void weft_rwlock_init(weft_rwlock *l);

/*
 * Shared (read) lock.  Poll expression: READY once g holds a read lock (up to
 * WEFT_RWLOCK_MAX_READERS at once).  cx == NULL cancels.
 */
weft_poll weft_rwlock_read(weft_rwlock *l, weft_cx *cx, weft_rwlock_guard *g);

/* Exclusive (write) lock.  Poll expression: READY once g holds it. */
weft_poll weft_rwlock_write(weft_rwlock *l, weft_cx *cx, weft_rwlock_guard *g);

/* Without waiting: 0 (g holds it) or -EAGAIN (held, or others wait). */
int weft_rwlock_try_read(weft_rwlock *l, weft_rwlock_guard *g);
int weft_rwlock_try_write(weft_rwlock *l, weft_rwlock_guard *g);

/* Release whatever g holds (read or write).  No-op if it holds nothing. */
void weft_rwlock_unlock(weft_rwlock_guard *g);

/* 0 if g holds nothing, 1 for a read lock, 2 for the write lock. */
int weft_rwlock_guard_held(const weft_rwlock_guard *g);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_MUTEX_H */
