/*
 * weft/notify.h - Notify: wake one waiting task, or all of them (Tokio's
 * sync::Notify).
 *
 * Semantics:
 *   - weft_notify_one wakes the task that has waited longest.  If nobody
 *     waits it stores one permit (at most one; more calls do not add up), and
 *     the next weft_notified completes at once, consuming it.
 *   - weft_notify_waiters wakes every task waiting at the time of the call,
 *     including those whose op was enabled (weft_notified_enable) but not yet
 *     polled, and stores no permit.
 *   - Waiters are woken in FIFO order.
 *
 * Cancel safety: weft_notified is cancel-safe.  A cancelled wait leaves no
 * node behind, and if it had already been picked by weft_notify_one, that
 * notification is passed on to the next waiter (or stored as the permit), so
 * dropping a woken waiter never loses a wake-up.
 *
 * Threads: every function may be called from any thread.  A weft_notify may
 * be zero-initialised (or WEFT_NOTIFY_INIT) instead of weft_notify_init.
 * It needs no destructor, but nothing may wait on it when it goes away.
 */
#ifndef WEFT_NOTIFY_H
#define WEFT_NOTIFY_H

#include "future.h"
#include "wait.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_notify {
    weft_spinlock lock;
    uint32_t permit;         /* a stored notify_one */
    uint32_t gen;            /* notify_waiters calls so far */
    weft_wait_node waiters;  /* FIFO */
} weft_notify;

#define WEFT_NOTIFY_INIT {{0}, 0, 0, {0, 0}}

/* The state of one wait, in the waiting frame (zeroed = not started). */
typedef struct weft_notified_op {
    weft_wait_node node;
    weft_waker *waker;
    _Atomic uint32_t state;
    uint32_t gen;
} weft_notified_op;

void weft_notify_init(weft_notify *n);

/* Wake the longest waiter, or store the permit.  Any thread. */
void weft_notify_one(weft_notify *n);

/* Wake every current waiter; stores nothing.  Any thread. */
void weft_notify_waiters(weft_notify *n);

/*
 * Make op count as waiting from now on for weft_notify_waiters, before its
 * first poll (Tokio's Notified::enable): check your condition after this
 * and a notify_waiters that races with the check is not missed.
 */
void weft_notified_enable(weft_notified_op *op, weft_notify *n);

/*
 * Wait for a notification.  Poll expression: READY when notified (or a
 * permit was stored).  op stays in place while pending and is idle again
 * after READY.  cx == NULL cancels (see above).
 */
weft_poll weft_notified(weft_notify *n, weft_cx *cx, weft_notified_op *op);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_NOTIFY_H */
