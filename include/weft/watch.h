/*
 * weft/watch.h - a single-producer, multi-consumer channel that keeps only
 * the latest value (Tokio's sync::watch).
 *
 * Semantics:
 *   - The channel holds one value of elem_size bytes and a version counter.
 *     Every store (weft_watch_send, weft_watch_send_replace) replaces the
 *     value and advances the version.  Each receiver remembers the version
 *     it has seen; it is never told about the values in between: several
 *     sends before a receiver looks count as one change, and it reads the
 *     latest value.
 *   - The initial value counts as seen by the first receiver.  A receiver
 *     made by weft_watch_subscribe has seen the value current at that time;
 *     one made by weft_watch_rx_clone has seen what its original has seen.
 *   - weft_watch_changed completes (result 0) as soon as the channel holds a
 *     version the receiver has not seen, and marks it seen; read the value
 *     with weft_watch_borrow.  Once the sender is dropped and nothing unseen
 *     remains it completes with -EPIPE: an unseen last value is reported
 *     first.
 *   - weft_watch_has_changed reports -EPIPE as soon as the sender is gone,
 *     even if an unseen value remains (as Tokio's has_changed does); the
 *     value can still be borrowed.
 *   - weft_watch_borrow copies the current value out without marking it
 *     seen; weft_watch_borrow_and_update copies it and marks exactly that
 *     version seen.  weft_watch_mark_seen / weft_watch_mark_changed set the
 *     receiver's seen version to the current one / to "something unseen".
 *   - weft_watch_send fails with -EPIPE when no receiver exists: nothing is
 *     stored and the value stays the caller's.  weft_watch_send_replace
 *     stores even then and hands the old value back.  A new subscriber
 *     reopens a channel whose receivers were all dropped.
 *
 * Values and hooks.  Values are moved in bytewise: the channel owns what it
 * is sent.  clone_elem(dst, src) (NULL: bytewise copy) makes every copy a
 * reader gets (borrow, borrow_and_update, borrow_tx); the caller owns that
 * copy.  drop_elem(elem) (may be NULL) is called on each value that is
 * replaced (unless send_replace hands it back) and on the last value when the
 * channel is freed.  clone_elem runs under the channel's lock: it must be
 * short and must not call into this channel.  drop_elem never runs under the
 * lock (the sender writes a new value into a spare buffer, swaps the buffers
 * under the lock and drops the old value after the unlock), so it may free;
 * it runs on the thread of the call that replaced the value, or of the call
 * that dropped the last handle.
 *
 * Cancel safety:
 *   - weft_watch_changed is cancel-safe.  A cancelled changed() marks
 *     nothing seen, leaves no node queued and holds no waker: a later
 *     changed() reports the same unseen version.
 *   - weft_watch_tx_closed is cancel-safe: a cancelled call keeps no waker.
 *   - Every other operation completes at once.
 *
 * Wakers.  A receiver keeps the waker of its last changed() registered after
 * a wake-up (so a task that waits again and again clones it once, and a
 * send wakes a weft task by reference); that reference is released by
 * weft_watch_rx_drop, by a cancelled changed(), or when a changed() is
 * polled with another waker.  Wakers that are not weft tasks are consumed by
 * the wake-up, as usual.
 *
 * Ownership: weft_watch_new returns the sender and one receiver.  More
 * receivers come from weft_watch_subscribe and weft_watch_rx_clone; each is
 * released with weft_watch_rx_drop, the sender with weft_watch_tx_drop.  The
 * channel (and its last value) is freed when every handle is gone.
 *
 * Threads: every handle may be used from any thread, each handle by one task
 * (or thread) at a time; different handles concurrently.  A changed() or
 * tx_closed() that is pending must be completed or cancelled before its
 * handle is dropped.
 */
#ifndef WEFT_WATCH_H
#define WEFT_WATCH_H

#include "future.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_watch_tx weft_watch_tx;
typedef struct weft_watch_rx weft_watch_rx;

/*
 * Create a channel whose first value is the elem_size bytes at initial (taken
 * over bytewise; initial may be NULL only when elem_size is 0).  *tx gets the
 * sender and *rx the first receiver, which has seen the initial value.
 * Hooks: see the header comment.  0, -EINVAL (NULL out-pointers, NULL
 * initial, absurd elem_size; *tx and *rx are then NULL when given), -ENOMEM.
 */
WEFT_MUST_USE int weft_watch_new(weft_watch_tx **tx, weft_watch_rx **rx, size_t elem_size, const void *initial,
                   void (*clone_elem)(void *dst, const void *src), void (*drop_elem)(void *elem));

/*
 * Store *value (taken over bytewise) as the new value, advance the version
 * and wake every receiver waiting in changed().  The replaced value is
 * dropped (drop_elem) after the lock is released.  0; -EPIPE when no
 * receiver exists (nothing stored, the caller still owns *value); -EINVAL
 * for NULL arguments.  Never waits, never allocates.
 */
int weft_watch_send(weft_watch_tx *tx, const void *value);

/*
 * Store *value like weft_watch_send, even when no receiver exists.  The old
 * value is copied to *old (the caller owns it then) or, when old is NULL,
 * dropped with drop_elem.
 */
void weft_watch_send_replace(weft_watch_tx *tx, const void *value, void *old);

/*
 * A new receiver, in *out, that has seen the current value; release it with
 * weft_watch_rx_drop.  0, or -ENOMEM or -EINVAL (tx NULL) with *out NULL.
 */
WEFT_MUST_USE int weft_watch_subscribe(weft_watch_rx **out, weft_watch_tx *tx);

/* How many receivers exist now. */
size_t weft_watch_receiver_count(weft_watch_tx *tx);

/* Nonzero when no receiver exists (a subscribe may reopen it). */
int weft_watch_tx_is_closed(weft_watch_tx *tx);

/*
 * Wait until no receiver exists.  Poll expression: READY once the receiver
 * count is 0.  Cancel-safe; cx == NULL cancels and drops the stored waker.
 * One wait at a time (there is one sender).
 */
weft_poll weft_watch_tx_closed(weft_watch_tx *tx, weft_cx *cx);

/* Copy the current value into *out (clone_elem); the caller owns the copy. */
void weft_watch_borrow_tx(weft_watch_tx *tx, void *out);

/*
 * Release the sender.  Receivers see the channel closed: changed() reports an
 * unseen value first, then -EPIPE; waiting receivers are woken.  A pending
 * tx_closed() must be cancelled before.  Frees the channel if no receiver
 * is left.
 */
void weft_watch_tx_drop(weft_watch_tx *tx);

/* Copy the current value into *out (clone_elem); does not mark it seen. */
void weft_watch_borrow(weft_watch_rx *rx, void *out);

/* Copy the current value into *out (clone_elem) and mark that version seen. */
void weft_watch_borrow_and_update(weft_watch_rx *rx, void *out);

/*
 * 1 when the channel holds a version this receiver has not seen, 0 when not,
 * -EPIPE when the sender is gone (even with an unseen value; Tokio's
 * has_changed is Err then too), -EINVAL for NULL.  Marks nothing.
 */
int weft_watch_has_changed(weft_watch_rx *rx);

/* Mark the current version seen. */
void weft_watch_mark_seen(weft_watch_rx *rx);

/* Mark the current version unseen: the next changed() completes at once. */
void weft_watch_mark_changed(weft_watch_rx *rx);

/*
 * Wait for a version this receiver has not seen.  Poll expression: READY
 * with *res 0 when one exists (it is now marked seen; read it with
 * weft_watch_borrow), or -EPIPE when the sender is gone and nothing unseen
 * remains.  res may be NULL.  Cancel-safe: cx == NULL cancels, marking
 * nothing seen and leaving no node and no waker.  Never allocates beyond
 * cloning a new waker.
 */
weft_poll weft_watch_changed(weft_watch_rx *rx, weft_cx *cx, int *res);

/*
 * Another receiver, in *out, that has seen the same version as rx; release
 * it with weft_watch_rx_drop.  0, or -ENOMEM or -EINVAL (rx NULL) with *out
 * NULL.
 */
WEFT_MUST_USE int weft_watch_rx_clone(weft_watch_rx **out, weft_watch_rx *rx);

/*
 * Release a receiver (and the waker it keeps).  The last receiver wakes a
 * pending tx_closed(); the last handle frees the channel.
 */
void weft_watch_rx_drop(weft_watch_rx *rx);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_WATCH_H */
