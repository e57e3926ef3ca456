/*
 * src/io/reactor.h - the I/O driver (internal): readiness per registration.
 *
 * Semantics.  A registration (weft__io) ties a nonblocking descriptor to a
 * runtime's reactor.  The reactor keeps, per registration, which directions
 * are ready and a tick that counts the events seen.  An operation polls for
 * readiness, tries the syscall, and on EAGAIN clears the readiness it observed
 * - only if the tick is still the one it observed, so an event that arrived
 * between the failed syscall and the clear is not lost - and waits again.
 * Reader and writer have separate waker slots, so one task can read while
 * another writes.  New registrations start out assumed ready in both
 * directions: the first syscall finds out, which saves a reactor turn for a
 * freshly accepted socket that already has data.
 *
 * Backend.  epoll, edge-triggered, with EPOLLRDHUP; the descriptor is
 * registered once for both directions.  The backend lives in src/io/epoll.c;
 * an io_uring or kqueue backend would implement this header.
 *
 * Lifetime.  The registration is embedded in the object that owns the
 * descriptor (a socket).  Events are dispatched at the start of a turn, before
 * any task runs, so a registration freed by a task is never named by an event
 * still being dispatched.  (A multi-threaded driver will need to defer the
 * release to its next turn; see docs/architecture.md.)  When the runtime is
 * freed first, its live registrations are detached: their state becomes
 * SHUTDOWN, operations on them fail with -ESHUTDOWN.
 */
#ifndef WEFT_SRC_IO_REACTOR_H
#define WEFT_SRC_IO_REACTOR_H

#include "../core/atomic_waker.h"

#include <weft/future.h>

#include <stdatomic.h>
#include <stdint.h>

/* Readiness bits (low 16 bits of the readiness word; the tick is above). */
enum {
    WEFT__READABLE = 1u << 0,
    WEFT__WRITABLE = 1u << 1,
    WEFT__READ_CLOSED = 1u << 2,
    WEFT__WRITE_CLOSED = 1u << 3,
    WEFT__IO_ERROR = 1u << 4,
    WEFT__IO_SHUTDOWN = 1u << 5, /* the runtime is gone */
};

/* What satisfies each direction. */
#define WEFT__READ_READY (WEFT__READABLE | WEFT__READ_CLOSED | WEFT__IO_ERROR | WEFT__IO_SHUTDOWN)
#define WEFT__WRITE_READY (WEFT__WRITABLE | WEFT__WRITE_CLOSED | WEFT__IO_ERROR | WEFT__IO_SHUTDOWN)

typedef enum { WEFT__DIR_READ = 0, WEFT__DIR_WRITE = 1 } weft__dir;

typedef struct weft__reactor weft__reactor;

typedef struct weft__io {
    int fd;
    _Atomic uint32_t readiness; /* bits | tick << 16 */
    weft__aw waker[2];          /* reader, writer */
    weft__reactor *reactor;     /* NULL when not registered / detached */
    struct weft__io *next, *prev;
} weft__io;

struct weft__reactor {
    int epfd;
    weft__io *live; /* every registration, to detach them at shutdown */
    size_t count;
    void *events;   /* struct epoll_event[max_events] */
    unsigned max_events;
};

/* A readiness snapshot: the bits and the tick they were seen at. */
typedef struct weft__ready {
    uint32_t bits;
    uint32_t tick;
} weft__ready;

int weft__reactor_init(weft__reactor *r, unsigned max_events);
/* Detach every live registration (wakes their waiters) and close epoll. */
void weft__reactor_close(weft__reactor *r);

/*
 * Register fd (nonblocking) with the reactor of runtime rt.  0, or a negative
 * errno from epoll_ctl.  io must stay in place until deregistered.
 */
int weft__io_register(weft__reactor *r, weft__io *io, int fd);

/* Remove io from its reactor (drops its wakers).  Idempotent. */
void weft__io_deregister(weft__io *io);

/*
 * Wait for readiness in direction d.  READY with a snapshot in *out, or
 * PENDING with the waker registered.  A detached registration is READY with
 * WEFT__IO_SHUTDOWN.
 */
weft_poll weft__io_poll_ready(weft__io *io, weft_cx *cx, weft__dir d, weft__ready *out);

/* After EAGAIN: forget the readiness seen in `seen` for direction d. */
void weft__io_clear_ready(weft__io *io, weft__dir d, weft__ready seen);

/* Drop the waker of direction d (the waiting operation was cancelled). */
static inline void weft__io_cancel(weft__io *io, weft__dir d) {
    weft__aw_clear(&io->waker[d]);
}

/*
 * Wait for events for at most timeout_ms (-1: no limit, 0: just look) and
 * dispatch them.  The eventfd `wake_fd` is recognised and drained.  Returns the
 * number of events, or a negative errno.
 */
int weft__reactor_turn(weft__reactor *r, int timeout_ms, int wake_fd);

/* Register the runtime's eventfd (its events are recognised by turn). */
int weft__reactor_add_wake_fd(weft__reactor *r, int fd);

#endif /* WEFT_SRC_IO_REACTOR_H */
