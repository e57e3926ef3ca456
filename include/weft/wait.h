/*
 * weft/wait.h - the pieces of wait queues that public structs embed.
 *
 * Operations that can wait (a notified(), a send on a full channel, a lock)
 * keep a node in the caller's frame, linked into the primitive's queue while
 * they wait; nothing is allocated.  The fields are private to weft.
 */
#ifndef WEFT_WAIT_H
#define WEFT_WAIT_H

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A link in a primitive's FIFO of waiters. */
typedef struct weft_wait_node {
    struct weft_wait_node *next, *prev;
} weft_wait_node;

/* The lock inside a primitive (a spinlock; see src/core/lock.h). */
typedef struct weft_spinlock {
    _Atomic int held;
} weft_spinlock;

#ifdef __cplusplus
}
#endif

#endif /* WEFT_WAIT_H */
