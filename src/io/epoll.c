/* src/io/epoll.c - the epoll backend of the reactor (see reactor.h). */
#define _GNU_SOURCE
#include "reactor.h"

#include "../core/alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define TICK_SHIFT 16
#define BITS_MASK 0xffffu

/* epoll's data for the runtime's eventfd: no registration lives at address 1. */
#define WAKE_TOKEN ((void *)1)

int weft__reactor_init(weft__reactor *r, unsigned max_events) {
    r->live = NULL;
    r->count = 0;
    r->max_events = max_events;
    r->events = weft__calloc(max_events, sizeof(struct epoll_event));
    if (!r->events) return -ENOMEM;
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (r->epfd < 0) {
        int e = -errno;
        weft__free(r->events);
        r->events = NULL;
        return e;
    }
    return 0;
}

int weft__reactor_add_wake_fd(weft__reactor *r, int fd) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = WAKE_TOKEN};
    return epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Merge bits into the readiness and advance the tick; returns the new word. */
static uint32_t set_ready(weft__io *io, uint32_t bits) {
    uint32_t cur = atomic_load_explicit(&io->readiness, memory_order_relaxed);
    for (;;) {
        uint32_t tick = ((cur >> TICK_SHIFT) + 1) & 0xffffu;
        uint32_t next = (tick << TICK_SHIFT) | ((cur & BITS_MASK) | bits);
        if (atomic_compare_exchange_weak_explicit(&io->readiness, &cur, next,
                                                  memory_order_acq_rel,
                                                  memory_order_relaxed))
            return next;
    }
}

static void dispatch(weft__io *io, uint32_t wakeup) {
    uint32_t bits = 0;
    if (wakeup & EPOLLIN) bits |= WEFT__READABLE;
    if (wakeup & EPOLLOUT) bits |= WEFT__WRITABLE;
    if (wakeup & (EPOLLRDHUP | EPOLLHUP)) bits |= WEFT__READ_CLOSED;
    if (wakeup & EPOLLHUP) bits |= WEFT__WRITE_CLOSED;
    if (wakeup & EPOLLERR) bits |= WEFT__IO_ERROR;
    set_ready(io, bits);
    if (bits & WEFT__READ_READY) weft__aw_wake(&io->waker[WEFT__DIR_READ]);
    if (bits & WEFT__WRITE_READY) weft__aw_wake(&io->waker[WEFT__DIR_WRITE]);
}

int weft__reactor_turn(weft__reactor *r, int timeout_ms, int wake_fd) {
    struct epoll_event *evs = r->events;
    int n = epoll_wait(r->epfd, evs, (int)r->max_events, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == WAKE_TOKEN) {
            uint64_t v;
            while (read(wake_fd, &v, sizeof v) == (ssize_t)sizeof v) {
            }
            continue;
        }
        dispatch(evs[i].data.ptr, evs[i].events);
    }
    return n;
}

int weft__io_register(weft__reactor *r, weft__io *io, int fd) {
    io->fd = fd;
    /* Optimistic: assume ready both ways; the first EAGAIN corrects it. */
    atomic_store_explicit(&io->readiness, WEFT__READABLE | WEFT__WRITABLE,
                          memory_order_relaxed);
    atomic_store_explicit(&io->waker[0].state, 0, memory_order_relaxed);
    atomic_store_explicit(&io->waker[1].state, 0, memory_order_relaxed);
    io->waker[0].waker = io->waker[1].waker = NULL;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.ptr = io};
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        io->reactor = NULL;
        return -errno;
    }
    io->reactor = r;
    io->prev = NULL;
    io->next = r->live;
    if (r->live) r->live->prev = io;
    r->live = io;
    r->count++;
    return 0;
}

static void unlink_io(weft__reactor *r, weft__io *io) {
    if (io->prev)
        io->prev->next = io->next;
    else
        r->live = io->next;
    if (io->next) io->next->prev = io->prev;
    io->next = io->prev = NULL;
    r->count--;
}

void weft__io_deregister(weft__io *io) {
    weft__reactor *r = io->reactor;
    if (r) {
        /* The descriptor may already be closed by the caller; either way it
         * is out of the interest list afterwards. */
        (void)epoll_ctl(r->epfd, EPOLL_CTL_DEL, io->fd, NULL);
        unlink_io(r, io);
        io->reactor = NULL;
    }
    weft__aw_clear(&io->waker[0]);
    weft__aw_clear(&io->waker[1]);
}

void weft__reactor_close(weft__reactor *r) {
    while (r->live) {
        weft__io *io = r->live;
        unlink_io(r, io);
        io->reactor = NULL;
        set_ready(io, WEFT__IO_SHUTDOWN);
        weft__aw_wake(&io->waker[0]);
        weft__aw_wake(&io->waker[1]);
    }
    if (r->epfd >= 0) close(r->epfd);
    r->epfd = -1;
    weft__free(r->events);
    r->events = NULL;
}

weft_poll weft__io_poll_ready(weft__io *io, weft_cx *cx, weft__dir d, weft__ready *out) {
    uint32_t want = d == WEFT__DIR_READ ? WEFT__READ_READY : WEFT__WRITE_READY;
    uint32_t cur = atomic_load_explicit(&io->readiness, memory_order_acquire);
    if (!(cur & want)) {
        weft__aw_register(&io->waker[d], cx->waker);
        /* An event may have landed before the waker was in place. */
        cur = atomic_load_explicit(&io->readiness, memory_order_acquire);
        if (!(cur & want)) return WEFT_PENDING;
    }
    out->bits = cur & BITS_MASK;
    out->tick = cur >> TICK_SHIFT;
    return WEFT_READY;
}

void weft__io_clear_ready(weft__io *io, weft__dir d, weft__ready seen) {
    /* Closed, error and shutdown states are final: only clear the plain
     * readable/writable bit. */
    uint32_t mask = d == WEFT__DIR_READ ? WEFT__READABLE : WEFT__WRITABLE;
    uint32_t cur = atomic_load_explicit(&io->readiness, memory_order_relaxed);
    for (;;) {
        if ((cur >> TICK_SHIFT) != seen.tick) return; /* a newer event came */
        uint32_t next = cur & ~mask;
        if (atomic_compare_exchange_weak_explicit(&io->readiness, &cur, next,
                                                  memory_order_acq_rel,
                                                  memory_order_relaxed))
            return;
    }
}
