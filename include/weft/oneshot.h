/*
 * weft/oneshot.h - a channel for exactly one value (Tokio's sync::oneshot).
 *
 * Semantics:
 *   - weft_oneshot_send delivers the value, or fails with -EPIPE when the
 *     receiver is gone or closed - and then the value was not taken: the
 *     caller still owns it.  Sending consumes the sender either way.
 *   - The receiver gets the value (result 0), or -EPIPE once the sender was
 *     dropped without sending.
 *   - weft_oneshot_closed lets a sender wait until nobody wants the value any
 *     more (the receiver closed or dropped) and stop working on it.
 *   - Values are elem_size bytes copied in and out.  If a value is sent but
 *     never received, drop_elem (if given) is called on it when the channel
 *     goes away, so a pointer in it is not leaked.
 *
 * Cancel safety: recv and closed are cancel-safe: a cancelled recv takes
 * nothing, and a value that arrives later can still be received.
 *
 * Ownership: weft_oneshot_new returns two handles; each is released exactly
 * once (send or tx_drop; rx_drop).  The channel is freed when both are.
 *
 * Threads: the two handles may be used from different threads.
 */
#ifndef WEFT_ONESHOT_H
#define WEFT_ONESHOT_H

#include "future.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_oneshot_tx weft_oneshot_tx;
typedef struct weft_oneshot_rx weft_oneshot_rx;

/* Create a channel for one value of elem_size bytes.  0, -EINVAL, -ENOMEM. */
WEFT_MUST_USE int weft_oneshot_new(weft_oneshot_tx **tx, weft_oneshot_rx **rx, size_t elem_size,
                     void (*drop_elem)(void *elem));

/* Send *value (elem_size bytes) and release tx.  0, or -EPIPE (not taken). */
int weft_oneshot_send(weft_oneshot_tx *tx, const void *value);

/* Release tx without sending: the receiver sees -EPIPE. */
void weft_oneshot_tx_drop(weft_oneshot_tx *tx);

/* Nonzero once the receiver closed or was dropped. */
int weft_oneshot_is_closed(const weft_oneshot_tx *tx);

/* Wait until the receiver closed or was dropped.  cx == NULL cancels. */
weft_poll weft_oneshot_closed(weft_oneshot_tx *tx, weft_cx *cx);

/*
 * Receive.  Poll expression: READY with *res 0 and the value in *out, or
 * *res -EPIPE when the sender went away without sending (or the value was
 * already received).  cx == NULL cancels (stops waiting).
 */
weft_poll weft_oneshot_recv(weft_oneshot_rx *rx, weft_cx *cx, void *out, int *res);

/* Receive if a value is there: 0, -EAGAIN (not yet), -EPIPE (never will). */
int weft_oneshot_try_recv(weft_oneshot_rx *rx, void *out);

/* Refuse the value from now on (a value already sent can still be taken). */
void weft_oneshot_rx_close(weft_oneshot_rx *rx);

/* Release rx (a value sent and not received is dropped with drop_elem). */
void weft_oneshot_rx_drop(weft_oneshot_rx *rx);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_ONESHOT_H */
