/*
 * weft/mpsc.h - multi-producer, single-consumer channels: bounded (Tokio's
 * sync::mpsc::channel) and unbounded (sync::mpsc::unbounded_channel), with
 * send permits (Sender::reserve / Permit).
 *
 * Semantics:
 *   - A bounded channel buffers up to `capacity` values of elem_size bytes
 *     each, copied in on send and out on recv, in FIFO order.
 *   - weft_mpsc_send waits while the buffer is full; blocked senders (and
 *     blocked reserves) are served in the order they started waiting.
 *   - Permits: weft_mpsc_reserve waits for room like a send, but instead of
 *     sending it sets one slot aside for its op (the op "holds a permit").
 *     The slot counts against the capacity until weft_mpsc_permit_send puts
 *     a value in it (never waits, never fails for lack of room) or
 *     weft_mpsc_permit_release gives it back (to the next waiting sender).
 *     Sending through a permit is allowed after weft_mpsc_rx_close (as in
 *     Tokio: outstanding permits may still send); after weft_mpsc_rx_drop it
 *     fails with -EPIPE and releases the slot.
 *   - An unbounded channel (weft_mpsc_unbounded_new) is used through the
 *     same handles and functions but never waits for room: its buffer grows
 *     (doubling, starting at 16 slots) as needed, without limit, and is never
 *     shrunk - a burst keeps its memory until the channel is freed.  Sends and
 *     reserves that would need more memory than can be had fail with -ENOMEM.
 *   - The receiver sees the channel closed (result -EPIPE) once every sender
 *     has been dropped (or the receiver closed it), the buffer is drained and
 *     no permit is held - never before: nothing sent is lost.
 *   - A send to a channel whose receiver was dropped or closed fails with
 *     -EPIPE and gives the value back: it is not copied, the caller still
 *     owns it.
 *   - weft_mpsc_rx_close stops new sends and reserves (waiting ones get
 *     -EPIPE) but lets the receiver drain what is buffered and what held
 *     permits still send.  Dropping the receiver drops the buffered values
 *     with drop_elem (when given).
 *
 * Cancel safety, per operation:
 *   - recv: cancel-safe.  A cancelled recv takes nothing.
 *   - send: cancel-safe.  The value is copied only when the send completes,
 *     so a cancelled send leaves it with the caller, and a buffer slot that
 *     had already been set aside for it is passed on to the next waiting
 *     sender.
 *   - reserve: cancel-safe.  A cancelled reserve holds nothing: it leaves the
 *     queue, and a slot already granted to it (or held by its op) goes to the
 *     next waiting sender.
 *   - A permit held after reserve completed is NOT released by itself: the
 *     op is plain memory, not a handle with a destructor.  Release it on
 *     every path, cancellation included, with weft_mpsc_permit_release in
 *     weft_finally (a no-op when the op holds nothing):
 *
 *         typedef struct {
 *             weft_frame fr;
 *             weft_mpsc_tx *tx;
 *             weft_mpsc_send_op op;
 *             int st;
 *             msg m;
 *         } producer;
 *
 *         static weft_poll producer_poll(void *arg, weft_cx *cx) {
 *             producer *self = arg;
 *             weft_async (self) {
 *                 weft_await(weft_mpsc_reserve(self->tx, cx, &self->op, &self->st));
 *                 if (self->st) weft_return;          // receiver gone/closed
 *                 weft_await(build_message(&self->m, cx)); // may be cancelled
 *                 weft_mpsc_permit_send(self->tx, &self->op, &self->m);
 *             weft_finally:
 *                 weft_mpsc_permit_release(self->tx, &self->op);
 *             }
 *             return WEFT_READY;
 *         }
 *   - permit_send, permit_release, try_send, try_reserve, try_recv: do not
 *     wait; nothing to cancel.
 *
 * Ownership: weft_mpsc_new / weft_mpsc_unbounded_new return one sender and
 * the receiver.  Each sender (weft_mpsc_tx_clone makes more) is released with
 * weft_mpsc_tx_drop; the receiver with weft_mpsc_rx_drop.  The channel is
 * freed when all are.  A send op belongs to the sender it is used with: that
 * sender must stay alive while the op waits, is granted a slot or holds a
 * permit (a permit keeps the receiver from seeing the channel closed, but it
 * does not keep the channel's memory alive: release or use it before
 * dropping the sender).
 *
 * Threads: senders and the receiver may be used from any threads; the
 * receiver from one at a time; an op by one thread at a time.  The value
 * passed to weft_mpsc_send must stay valid until the send completes (keep it
 * in the frame).
 */
#ifndef WEFT_MPSC_H
#define WEFT_MPSC_H

#include "future.h"
#include "wait.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_mpsc_tx weft_mpsc_tx;
typedef struct weft_mpsc_rx weft_mpsc_rx;

/*
 * The state of one send or reserve, in the sending frame (zeroed = not
 * started); after a reserve it holds the permit.  Reusable once idle again.
 */
typedef struct weft_mpsc_send_op {
    weft_wait_node node;
    weft_waker *waker;
    uint32_t state;
} weft_mpsc_send_op;

/*
 * Create a channel.  capacity >= 1.  drop_elem (may be NULL) is called on
 * every value still buffered when the receiver is dropped.  0, -EINVAL
 * (capacity 0 or absurd sizes), -ENOMEM.
 */
WEFT_MUST_USE int weft_mpsc_new(weft_mpsc_tx **tx, weft_mpsc_rx **rx, size_t capacity, size_t elem_size,
                  void (*drop_elem)(void *elem));

/*
 * Create an unbounded channel: weft_mpsc_send completes at once (never waits
 * for room; it may still yield to the cooperative budget), weft_mpsc_try_send
 * never returns -EAGAIN, weft_mpsc_reserve and weft_mpsc_try_reserve take a
 * slot at once.  The buffer starts at 16 slots, doubles when full and is
 * never shrunk; those calls fail with -ENOMEM when it cannot grow.  drop_elem
 * as for weft_mpsc_new.  0, -EINVAL (absurd elem_size), -ENOMEM.
 */
WEFT_MUST_USE int weft_mpsc_unbounded_new(weft_mpsc_tx **tx, weft_mpsc_rx **rx, size_t elem_size,
                            void (*drop_elem)(void *elem));

/* Another sender for the same channel; release it with weft_mpsc_tx_drop. */
weft_mpsc_tx *weft_mpsc_tx_clone(weft_mpsc_tx *tx);

/* Release a sender.  The last one closes the channel for the receiver. */
void weft_mpsc_tx_drop(weft_mpsc_tx *tx);

/*
 * Send *value.  Poll expression: READY with *res 0 once the value is in
 * the buffer, or -EPIPE (receiver gone or closed; value not taken), or
 * (unbounded only) -ENOMEM.  When op holds a permit the value goes through
 * it (as weft_mpsc_permit_send).  cx == NULL cancels (and releases a permit
 * op holds).
 */
weft_poll weft_mpsc_send(weft_mpsc_tx *tx, weft_cx *cx, weft_mpsc_send_op *op, const void *value,
                         int *res);

/*
 * Send without waiting: 0, -EAGAIN (full, or others are waiting; never for
 * an unbounded channel), -EPIPE, -ENOMEM (unbounded only).
 */
int weft_mpsc_try_send(weft_mpsc_tx *tx, const void *value);

/*
 * Wait for room and set a slot aside for op (Tokio's Sender::reserve).  Poll
 * expression: READY with *res 0 when op holds a slot (a permit), -EPIPE
 * when the receiver is gone or closed, -ENOMEM (unbounded only).  Waiting
 * reserves and sends are served together in FIFO order.  Cancel-safe
 * (cx == NULL): a cancelled reserve holds nothing, and a slot already granted
 * to it goes to the next waiting sender.  While op holds the slot it counts
 * against the capacity; use it with weft_mpsc_permit_send (or
 * weft_mpsc_send), or give it back with weft_mpsc_permit_release - also when
 * the frame is cancelled later (see the example at the top).  Reserving with
 * an op that already holds a permit completes at once and keeps that one.
 */
weft_poll weft_mpsc_reserve(weft_mpsc_tx *tx, weft_cx *cx, weft_mpsc_send_op *op, int *res);

/*
 * Reserve without waiting (Tokio's try_reserve): 0 (op holds a slot; also
 * when it held one already), -EAGAIN (full, or others are waiting; never for
 * an unbounded channel), -EPIPE (receiver gone or closed), -ENOMEM
 * (unbounded only), -EINVAL (op is in the middle of a send or reserve).
 */
int weft_mpsc_try_reserve(weft_mpsc_tx *tx, weft_mpsc_send_op *op);

/*
 * Send *value through the slot op holds; never waits.  0 (op holds nothing
 * afterwards), -EPIPE when the receiver was dropped (the value is not taken,
 * the slot is released), -EINVAL when op holds no slot.  After
 * weft_mpsc_rx_close (but before the drop) the value is still delivered.
 */
int weft_mpsc_permit_send(weft_mpsc_tx *tx, weft_mpsc_send_op *op, const void *value);

/*
 * Give the slot op holds back unused: the next waiting sender gets it.  A
 * no-op when op holds none (or tx is NULL), so it is safe in weft_finally
 * even for a frame that never reserved.
 */
void weft_mpsc_permit_release(weft_mpsc_tx *tx, weft_mpsc_send_op *op);

/*
 * Free slots now: capacity minus buffered values minus slots set aside
 * (permits, granted waiters); SIZE_MAX for an unbounded channel (Tokio's
 * Sender::capacity).  A snapshot: other threads may change it at once.
 */
size_t weft_mpsc_capacity(weft_mpsc_tx *tx);

/* Nonzero once the receiver is gone or closed. */
int weft_mpsc_tx_is_closed(weft_mpsc_tx *tx);

/*
 * Receive into *out.  Poll expression: READY with *res 0 and a value, or
 * -EPIPE when the channel is closed and drained.  cx == NULL cancels.
 */
weft_poll weft_mpsc_recv(weft_mpsc_rx *rx, weft_cx *cx, void *out, int *res);

/* Receive without waiting: 0, -EAGAIN (empty), -EPIPE (closed, drained). */
int weft_mpsc_try_recv(weft_mpsc_rx *rx, void *out);

/* Values buffered now. */
size_t weft_mpsc_len(weft_mpsc_rx *rx);

/* Stop accepting values; what is buffered can still be received. */
void weft_mpsc_rx_close(weft_mpsc_rx *rx);

/* Release the receiver; buffered values are dropped (drop_elem). */
void weft_mpsc_rx_drop(weft_mpsc_rx *rx);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_MPSC_H */
