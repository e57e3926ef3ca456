/*
 * weft/sync.h - channels and synchronisation primitives, all usable from any
 * thread and all cancel-safe (each header states what a cancelled call
 * leaves behind).
 *
 *   oneshot.h  one value, one sender, one receiver
 *   mpsc.h     bounded multi-producer single-consumer queue
 *   notify.h   wake one waiter (or store a permit), or all waiters
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include "mpsc.h"
#include "notify.h"
#include "oneshot.h"

#endif /* WEFT_SYNC_H */
