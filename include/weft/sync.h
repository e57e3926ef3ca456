/*
 * weft/sync.h - channels and synchronisation primitives, all usable from any
 * thread and all cancel-safe (each header states what a cancelled call
 * leaves behind).
 *
 *   oneshot.h  one value, one sender, one receiver
 *   mpsc.h     bounded multi-producer single-consumer queue
 *   broadcast.h  every receiver sees every value (or learns it lagged)
 *   barrier.h  n tasks meet, one of them the leader
 *   cancel.h   CancellationToken: a tree of tokens and a cancelled() future
 *   notify.h   wake one waiter (or store a permit), or all waiters
 *   semaphore.h  fair async semaphore (acquire_many, close, forget)
 *   mutex.h    async Mutex and fair RwLock (guards held across awaits)
 *   once_cell.h  a value set once by an async initializer
 *   watch.h    the latest value, many receivers (changed, borrow)
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include "barrier.h"
#include "broadcast.h"
#include "cancel.h"
#include "mpsc.h"
#include "mutex.h"
#include "notify.h"
#include "once_cell.h"
#include "oneshot.h"
#include "semaphore.h"
#include "watch.h"

#endif /* WEFT_SYNC_H */
