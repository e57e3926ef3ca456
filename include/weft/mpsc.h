/*
 * weft/mpsc.h - bounded multi-producer, single-consumer channel (Tokio's
 * sync::mpsc::channel).
 *
 * Semantics:
 *   - The channel buffers up to `capacity` values of elem_size bytes each,
 *     copied in on send and out on recv, in FIFO order.
 *   - weft_mpsc_send waits while the buffer is full; blocked senders are
 *     served in the order they started waiting.
 *   - The receiver sees the channel closed (status -EPIPE) once every sender
 *     has been dropped and the buffer is drained - never before: nothing sent
 *     is lost.
 *   - A send to a channel whose receiver was dropped or closed fails with
 *     -EPIPE and gives the value back: it is not copied, the caller still
 *     owns it.
 *   - weft_mpsc_rx_close stops new sends (waiting senders get -EPIPE) but
 *     lets the receiver drain what is buffered.  Dropping the receiver drops
 *     the buffered values with drop_elem (when given).
 *
 * Cancel safety: recv is cancel-safe (a cancelled recv takes nothing).  send
 * is cancel-safe too: the value is copied only when the send completes, so a
 * cancelled send leaves it with the caller, and a buffer slot that had
 * already been set aside for it is passed on to the next waiting sender.
 *
 * Ownership: weft_mpsc_new returns one sender and the receiver.  Each sender
 * (weft_mpsc_tx_clone makes more) is released with weft_mpsc_tx_drop; the
 * receiver with weft_mpsc_rx_drop.  The channel is freed when all are.
 *
 * Threads: senders and the receiver may be used from any threads; the
 * receiver from one at a time.  The value passed to weft_mpsc_send must stay
 * valid until the send completes (keep it in the frame).
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

/* The state of one send, in the sending frame (zeroed = not started). */
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
int weft_mpsc_new(weft_mpsc_tx **tx, weft_mpsc_rx **rx, size_t capacity, size_t elem_size,
                  void (*drop_elem)(void *elem));

/* Another sender for the same channel; release it with weft_mpsc_tx_drop. */
weft_mpsc_tx *weft_mpsc_tx_clone(weft_mpsc_tx *tx);

/* Release a sender.  The last one closes the channel for the receiver. */
void weft_mpsc_tx_drop(weft_mpsc_tx *tx);

/*
 * Send *value.  Poll expression: READY with *status 0 once the value is in
 * the buffer, or -EPIPE (receiver gone or closed; value not taken).
 * cx == NULL cancels.
 */
weft_poll weft_mpsc_send(weft_mpsc_tx *tx, weft_cx *cx, weft_mpsc_send_op *op, const void *value,
                         int *status);

/* Send without waiting: 0, -EAGAIN (full, or others are waiting), -EPIPE. */
int weft_mpsc_try_send(weft_mpsc_tx *tx, const void *value);

/* Nonzero once the receiver is gone or closed. */
int weft_mpsc_tx_is_closed(weft_mpsc_tx *tx);

/*
 * Receive into *out.  Poll expression: READY with *status 0 and a value, or
 * -EPIPE when the channel is closed and drained.  cx == NULL cancels.
 */
weft_poll weft_mpsc_recv(weft_mpsc_rx *rx, weft_cx *cx, void *out, int *status);

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
