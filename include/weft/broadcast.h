/*
 * weft/broadcast.h - multi-producer, multi-consumer broadcast channel, where
 * every receiver sees every value (Tokio's sync::broadcast).
 *
 * Semantics:
 *   - The channel retains the last `capacity` values sent (values of
 *     elem_size bytes, copied in on send).  Each receiver has its own
 *     position and receives every value sent after it was created, in the
 *     order the channel stored them (per sender, the order sent).
 *   - weft_broadcast_send never waits.  When the ring is full the oldest
 *     value is overwritten (dropped with drop_elem), whether or not every
 *     receiver has seen it.  It returns how many receivers will see the
 *     value.  With no receivers it fails with -EPIPE and stores nothing: the
 *     value was not taken and still belongs to the caller.
 *   - A receiver that fell more than `capacity` values behind has lagged:
 *     its next receive reports -EOVERFLOW once, with how many values it
 *     missed, and the receiver then continues from the oldest value still
 *     retained.  A lag is reported once per fall-behind; then values come
 *     again, in order.
 *   - A receiver gets a copy of each value: clone_elem(dst, src) when given,
 *     else a bytewise copy.  The copy in the ring stays there (and is
 *     received by the other receivers) until a later send overwrites its
 *     slot or the channel is freed; drop_elem is then called on it.  Values
 *     handed out by receive belong to the caller.
 *   - When the last sender is dropped the channel is closed: each receiver
 *     still receives every retained value it had not received, then gets
 *     -EPIPE.
 *   - The channel is freed when every sender and receiver handle has been
 *     dropped; retained values are then dropped with drop_elem.
 *
 * clone_elem and drop_elem are called with the channel's lock held (clone
 * on receive, drop on overwrite): they must be short and must not call into
 * this channel - a reference count increment, a decrement-and-free, a
 * memcpy.  (A drop at the final free is called without the lock.)
 *
 * Cancel safety (per operation):
 *   - weft_broadcast_recv is cancel-safe.  A cancelled recv takes nothing:
 *     the receiver's position is unchanged, its wait node is unlinked and
 *     its stored waker released, and the next recv returns the value the
 *     cancelled one would have returned.  Receivers are independent, so a
 *     wake-up given to a cancelled recv is not owed to anybody else.
 *   - Nothing else waits: send, try_recv, subscribe, len and the drops
 *     complete in one call.
 *
 * Waking: a receiver that waits keeps its waker registered in its handle
 * across waits (it is cloned again only when the task's waker changed) and
 * releases it on cancel or weft_broadcast_rx_drop - so a receiver handle
 * keeps a reference to the last task that waited on it (its memory, not
 * its execution) until then, as mpsc's receiver does.  A send wakes every
 * waiting receiver; a weft task is woken by reference under the channel's
 * lock (it is only marked and queued), any other waker after the unlock,
 * in batches.
 *
 * Ownership: weft_broadcast_new returns one sender and, optionally, the
 * first receiver.  weft_broadcast_tx_clone makes more senders (each is
 * released with weft_broadcast_tx_drop); weft_broadcast_subscribe and
 * weft_broadcast_rx_resubscribe make more receivers (each released with
 * weft_broadcast_rx_drop).
 *
 * Threads: every handle may be used from any thread.  A sender may be used
 * by several threads at once; a receiver by one task (or thread) at a time.
 *
 * Errors are negative errno values: -EPIPE (no receivers / closed and
 * drained), -EOVERFLOW (lagged), -EAGAIN (try_recv: nothing yet), -EINVAL
 * (bad argument), -ENOMEM.
 */
#ifndef WEFT_BROADCAST_H
#define WEFT_BROADCAST_H

#include "future.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_broadcast_tx weft_broadcast_tx;
typedef struct weft_broadcast_rx weft_broadcast_rx;

/*
 * Create a channel retaining `capacity` (>= 1; exactly that many, no
 * rounding) values of elem_size bytes.  *tx gets the sender; *rx (rx may be
 * NULL: no receiver yet) the first receiver.  clone_elem (NULL: bytewise
 * copy) makes a receiver's copy of a value; drop_elem (may be NULL) is
 * called on a value when its slot is overwritten and on the values retained
 * when the channel is freed.  Both may run under the channel's lock (see
 * above).  0; -EINVAL (tx NULL, capacity 0, absurd sizes); -ENOMEM.  On
 * failure *tx and *rx are set to NULL.
 */
WEFT_MUST_USE int weft_broadcast_new(weft_broadcast_tx **tx, weft_broadcast_rx **rx, size_t capacity,
                       size_t elem_size, void (*clone_elem)(void *dst, const void *src),
                       void (*drop_elem)(void *elem));

/* Another sender for the same channel (never fails; same pointer).  Release
 * it with weft_broadcast_tx_drop.  Any thread. */
weft_broadcast_tx *weft_broadcast_tx_clone(weft_broadcast_tx *tx);

/*
 * Release a sender (NULL is ignored).  When it is the last one the channel
 * closes: waiting receivers are woken, drain what is retained, then get
 * -EPIPE.  Any thread.
 */
void weft_broadcast_tx_drop(weft_broadcast_tx *tx);

/*
 * Send *value to every receiver.  Never waits.  Returns the number of
 * receivers that will see it (>= 1; INT_MAX at most), or -EPIPE when there
 * are no receivers: then nothing is stored, drop_elem is not called on it,
 * the caller still owns the value.  On success the channel owns the value
 * (its elem_size bytes are copied into the ring).  When the ring is full
 * the oldest value is dropped (drop_elem, under the lock).  Wakes every
 * waiting receiver.  -EINVAL when tx is NULL or value is NULL with
 * elem_size > 0.  Any thread, concurrently with other senders.
 */
int weft_broadcast_send(weft_broadcast_tx *tx, const void *value);

/*
 * A new receiver, in *out, that sees the values sent after this call.  0, or
 * -ENOMEM or -EINVAL (tx NULL) with *out NULL.  Release it with
 * weft_broadcast_rx_drop.  Any thread.
 */
WEFT_MUST_USE int weft_broadcast_subscribe(weft_broadcast_rx **out, weft_broadcast_tx *tx);

/*
 * A new receiver of rx's channel, starting at the newest position (like
 * weft_broadcast_subscribe), not at rx's position.  Works after the channel
 * closed (the new receiver then gets -EPIPE).  0 and the receiver in *out, or
 * -ENOMEM or -EINVAL (rx NULL) with *out NULL.
 */
WEFT_MUST_USE int weft_broadcast_rx_resubscribe(weft_broadcast_rx **out, weft_broadcast_rx *rx);

/* Receivers alive now.  Any thread. */
size_t weft_broadcast_receiver_count(weft_broadcast_tx *tx);

/* Values this receiver has not yet received that are still retained
 * (at most capacity).  Any thread. */
size_t weft_broadcast_len(weft_broadcast_rx *rx);

/*
 * Receive the next value into *out (elem_size bytes; made by clone_elem
 * when given; the caller owns it).  Poll expression: READY with *res
 *   0:          the next value is in *out;
 *   -EOVERFLOW: the receiver lagged: *missed (may be NULL) gets how many
 *               values it missed, *out is untouched, and the receiver now
 *               continues from the oldest retained value (the next recv
 *               returns it);
 *   -EPIPE:     every sender is gone and this receiver received everything
 *               retained;
 *   -EINVAL:    out is NULL with elem_size > 0.
 * PENDING while there is nothing to receive; the handle's waker is woken
 * by the next send or by the last sender's drop.  cx == NULL cancels
 * (cancel-safe: see above).  One task per receiver at a time.
 */
weft_poll weft_broadcast_recv(weft_broadcast_rx *rx, weft_cx *cx, void *out, uint64_t *missed,
                              int *res);

/*
 * Receive without waiting: 0 (value in *out), -EAGAIN (nothing yet),
 * -EOVERFLOW (lagged, as recv), -EPIPE (closed and drained), -EINVAL.
 */
int weft_broadcast_try_recv(weft_broadcast_rx *rx, void *out, uint64_t *missed);

/*
 * Release a receiver (NULL is ignored): it stops counting for send, and its
 * stored waker is released.  Must not be called while a recv on it is
 * pending (cancel that first).  Any thread.
 */
void weft_broadcast_rx_drop(weft_broadcast_rx *rx);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BROADCAST_H */
