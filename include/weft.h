/*
 * weft.h - the whole public API of weft, an asynchronous runtime for C.
 *
 * Layers (docs/architecture.md): the future protocol (future.h), async
 * functions (async.h), tasks and the runtime (rt.h), time (time.h), and the
 * library on top: channels and sync primitives (sync.h), networking (net.h).
 */
#ifndef WEFT_H
#define WEFT_H

#include "weft/future.h"
#include "weft/async.h"
#include "weft/rt.h"
#include "weft/time.h"
#include "weft/sync.h"
#include "weft/net.h"

#endif /* WEFT_H */
