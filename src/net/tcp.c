/*
 * src/net/tcp.c - TCP listeners and streams on the reactor (see
 * include/weft/net.h and src/io/reactor.h).
 *
 * Every operation follows the readiness protocol: look at the readiness the
 * reactor recorded, try the system call, and on EAGAIN clear exactly the
 * readiness that was observed (by tick) and wait.  A read or write that moved
 * fewer bytes than asked also clears it: the kernel buffer was drained or
 * filled, and edge-triggered epoll reports the next change, so the next call
 * waits for it instead of paying for a system call that would fail.
 *
 * Accept backoff.  When accept(2) fails for want of descriptors or memory
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM) the connection stays queued and trying
 * again at once would fail again, so the listener keeps an episode state:
 * `delay` (0 outside an episode), `retry_at` on its runtime's clock, and a
 * timer entry of its own.  The first failure of an episode is reported;
 * after it every accept first waits on the timer until retry_at, then tries
 * accept(2) (which may still find EAGAIN and wait for readiness as usual).
 * A failed retry doubles the delay, up to max_ms; a connection accepted ends
 * the episode.  At any time an accept in an episode waits on exactly one
 * thing: the timer, or readiness.
 */
#define _GNU_SOURCE
#include <weft/net.h>

#include "../core/alloc.h"
#include "../rt/internal.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Write an operation's result; res may be NULL (future.h, rule 1). */
static void set_res(int *res, int v) {
    if (res) *res = v;
}

struct weft_tcp {
    weft__io io; /* io.fd is the descriptor */
};

struct weft_tcp_listener {
    weft__io io;
    weft_timer timer;      /* backoff; armed only while an accept waits on it */
    weft_instant retry_at; /* in an episode: the next accept(2) not before this */
    uint64_t delay;        /* the current backoff in ms; 0: no episode */
    uint64_t min_ms, max_ms;
};

/* Register io with cx's runtime on first use; 0 or a negative errno. */
static int attach(weft__io *io, weft_cx *cx) {
    if (!cx->rt) return -EINVAL; /* polled outside a runtime */
    if (io->reactor) return io->reactor == &cx->rt->io ? 0 : -EXDEV;
    if (atomic_load_explicit(&io->readiness, memory_order_relaxed) & WEFT__IO_SHUTDOWN)
        return -ESHUTDOWN;
    return weft__io_register(&cx->rt->io, io, io->fd);
}

static void io_init(weft__io *io, int fd) {
    memset(io, 0, sizeof *io);
    io->fd = fd;
}

/* ---- listeners ------------------------------------------------------------- */

int weft_tcp_listen(weft_tcp_listener **out, const weft_addr *addr, int backlog) {
    if (!out || !addr || addr->len == 0) return -EINVAL;
    *out = NULL;
    int fd = socket(addr->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, &addr->u.sa, addr->len) < 0 || listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    weft_tcp_listener *l = weft__malloc(sizeof *l);
    if (!l) {
        close(fd);
        return -ENOMEM;
    }
    memset(l, 0, sizeof *l);
    io_init(&l->io, fd);
    l->min_ms = WEFT_TCP_ACCEPT_BACKOFF_MIN_MS;
    l->max_ms = WEFT_TCP_ACCEPT_BACKOFF_MAX_MS;
    *out = l;
    return 0;
}

int weft_tcp_listen_str(weft_tcp_listener **out, const char *addr, int backlog) {
    weft_addr a;
    int r = weft_addr_parse(&a, addr);
    if (r < 0) {
        if (out) *out = NULL;
        return r;
    }
    return weft_tcp_listen(out, &a, backlog);
}

static weft_tcp *tcp_new(int fd) {
    weft_tcp *s = weft__malloc(sizeof *s);
    if (s) io_init(&s->io, fd);
    return s;
}

int weft_tcp_listener_set_backoff(weft_tcp_listener *l, uint64_t min_ms, uint64_t max_ms) {
    if (!l || min_ms == 0 || min_ms > max_ms) return -EINVAL;
    l->min_ms = min_ms;
    l->max_ms = max_ms;
    /* An episode under way goes on with the new bounds from its next retry. */
    if (l->delay && l->delay < min_ms) l->delay = min_ms;
    if (l->delay > max_ms) l->delay = max_ms;
    return 0;
}

/*
 * Release the backoff timer (idempotent): the timer's own cancel, which
 * takes the entry out of the wheel it recorded when armed (the listener's
 * runtime) and aborts where that wheel may not be touched (time.h).
 */
static void backoff_timer_release(weft_tcp_listener *l) { (void)weft_sleep_until(&l->timer, NULL, 0); }

/* accept(2) failed for want of resources (a connection stays queued). */
static int out_of_resources(int e) {
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

/* Schedule the next retry of an episode, delay ms from now. */
static void backoff_schedule(weft_tcp_listener *l, weft_rt *rt) {
    weft_instant now = weft_now(rt);
    l->retry_at = l->delay > UINT64_MAX - now ? UINT64_MAX : now + l->delay;
}

weft_poll weft_tcp_accept(weft_tcp_listener *l, weft_cx *cx, weft_tcp **out, weft_addr *peer,
                          int *res) {
    if (cx == NULL) {
        weft__io_cancel(&l->io, WEFT__DIR_READ);
        backoff_timer_release(l); /* the episode goes on; its timer entry goes */
        return WEFT_READY;
    }
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    int err = attach(&l->io, cx);
    if (err) goto fail;
    for (;;) {
        if (l->delay) {
            /* In an episode: wait out the backoff.  The timer is part of this
             * operation, not a completion of its own: it spends no budget. */
            weft_cx tcx = *cx;
            tcx.budget = WEFT_COOP_UNCONSTRAINED;
            if (weft_sleep_until(&l->timer, &tcx, l->retry_at) == WEFT_PENDING)
                return WEFT_PENDING;
        }
        weft__ready rd;
        if (weft__io_poll_ready(&l->io, cx, WEFT__DIR_READ, &rd) == WEFT_PENDING)
            return WEFT_PENDING;
        if (rd.bits & WEFT__IO_SHUTDOWN) {
            err = -ESHUTDOWN;
            goto fail;
        }
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(l->io.fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            l->delay = 0; /* the episode (if any) is over */
            weft_tcp *s = tcp_new(fd);
            if (!s) {
                close(fd);
                err = -ENOMEM;
                goto fail;
            }
            if (peer && weft_addr_from_sockaddr(peer, (struct sockaddr *)&ss, len) < 0)
                memset(peer, 0, sizeof *peer);
            *out = s;
            set_res(res, 0);
            weft_coop_made_progress(cx);
            return WEFT_READY;
        }
        int e = errno;
        if (e == EAGAIN) {
            weft__io_clear_ready(&l->io, WEFT__DIR_READ, rd);
            continue;
        }
        if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
        if (out_of_resources(e)) {
            /* Back off.  Until the retry time no connection event should
             * wake the task: it waits on the timer, not on readiness. */
            weft__io_cancel(&l->io, WEFT__DIR_READ);
            if (l->delay) {
                /* A retry failed: back off further, report nothing. */
                l->delay = l->delay > l->max_ms / 2 ? l->max_ms : l->delay * 2;
                if (l->delay < l->min_ms) l->delay = l->min_ms;
                backoff_schedule(l, cx->rt);
                continue; /* to the timer */
            }
            /* A new episode: report it, once. */
            l->delay = l->min_ms;
            backoff_schedule(l, cx->rt);
        }
        err = -e;
        goto fail;
    }
fail:
    *out = NULL;
    set_res(res, err);
    weft_coop_made_progress(cx); /* a failure counts too: a retry loop must yield */
    return WEFT_READY;
}

static int sockname(int fd, weft_addr *out, int peer) {
    if (!out) return -EINVAL;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
                 : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (r < 0) {
        memset(out, 0, sizeof *out);
        return -errno;
    }
    return weft_addr_from_sockaddr(out, (struct sockaddr *)&ss, len);
}

int weft_tcp_listener_addr(const weft_tcp_listener *l, weft_addr *out) {
    return sockname(l->io.fd, out, 0);
}

static void io_close(weft__io *io) {
    weft__io_deregister(io);
    close(io->fd);
}

void weft_tcp_listener_close(weft_tcp_listener *l) {
    if (!l) return;
    backoff_timer_release(l);
    io_close(&l->io);
    weft__free(l);
}

/* ---- connect --------------------------------------------------------------- */

enum { CONNECT_IDLE = 0, CONNECT_WAITING };

static void connect_abandon(weft_connect_op *op, weft_cx *cx) {
    (void)weft_sleep(&op->timer, NULL, 0);
    weft_tcp_close(op->sock);
    op->sock = NULL;
    op->state = CONNECT_IDLE;
    (void)cx;
}

weft_poll weft_tcp_connect(weft_connect_op *op, weft_cx *cx, const weft_addr *addr,
                           uint64_t timeout_ms, weft_tcp **out, int *res) {
    if (cx == NULL) {
        connect_abandon(op, NULL);
        return WEFT_READY;
    }
    /* Budget: checked on every poll, spent once when the connect completes,
     * either way.  The timeout's sleep is part of this operation and does
     * not count on its own. */
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    weft_cx tcx = *cx;
    tcx.budget = WEFT_COOP_UNCONSTRAINED;
    int err;
    if (op->state == CONNECT_IDLE) {
        if (!addr || addr->len == 0) {
            err = -EINVAL;
            goto fail;
        }
        int fd = socket(addr->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = -errno;
            goto fail;
        }
        op->sock = tcp_new(fd);
        if (!op->sock) {
            close(fd);
            err = -ENOMEM;
            goto fail;
        }
        op->state = CONNECT_WAITING;
        if ((err = attach(&op->sock->io, cx)) < 0) goto fail;
        if (connect(fd, &addr->u.sa, addr->len) == 0) goto done;
        if (errno != EINPROGRESS) {
            err = -errno;
            goto fail;
        }
        /* Loopback connects often finish at once; the first write-readiness
         * check below finds out without a reactor turn. */
    }
    for (;;) {
        weft__ready rd;
        if (weft__io_poll_ready(&op->sock->io, cx, WEFT__DIR_WRITE, &rd) == WEFT_READY) {
            if (rd.bits & WEFT__IO_SHUTDOWN) {
                err = -ESHUTDOWN;
                goto fail;
            }
            int soerr = 0;
            socklen_t len = sizeof soerr;
            if (getsockopt(op->sock->io.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) soerr = errno;
            if (soerr == 0) {
                /* Writable and no error: connected, unless the readiness was
                 * stale (the optimistic initial state) - ask the kernel. */
                struct sockaddr_storage ss;
                socklen_t sl = sizeof ss;
                if (getpeername(op->sock->io.fd, (struct sockaddr *)&ss, &sl) == 0) goto done;
                if (errno != ENOTCONN) {
                    err = -errno;
                    goto fail;
                }
                weft__io_clear_ready(&op->sock->io, WEFT__DIR_WRITE, rd);
                continue;
            }
            if (soerr != EINPROGRESS && soerr != EALREADY) {
                err = -soerr;
                goto fail;
            }
            weft__io_clear_ready(&op->sock->io, WEFT__DIR_WRITE, rd);
            continue;
        }
        break;
    }
    if (timeout_ms && weft_sleep(&op->timer, &tcx, timeout_ms) == WEFT_READY) {
        err = -ETIMEDOUT;
        goto fail;
    }
    return WEFT_PENDING;
done:
    (void)weft_sleep(&op->timer, NULL, 0);
    weft__io_cancel(&op->sock->io, WEFT__DIR_WRITE);
    *out = op->sock;
    op->sock = NULL;
    op->state = CONNECT_IDLE;
    set_res(res, 0);
    weft_coop_made_progress(cx);
    return WEFT_READY;
fail:
    connect_abandon(op, cx);
    *out = NULL;
    set_res(res, err);
    weft_coop_made_progress(cx);
    return WEFT_READY;
}

int weft_tcp_from_fd(weft_tcp **out, int fd) {
    if (!out) return -EINVAL;
    *out = NULL;
    if (fd < 0) return -EINVAL;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    weft_tcp *s = tcp_new(fd);
    if (!s) return -ENOMEM;
    *out = s;
    return 0;
}

/* ---- reading and writing --------------------------------------------------- */

/* One read (d == READ) or write of up to len bytes, by the readiness
 * protocol: the shared body of weft_tcp_read and weft_tcp_write.  len is
 * capped at INT_MAX so the count fits the int result (Linux transfers at
 * most 0x7ffff000 bytes per call anyway). */
static weft_poll transfer(weft_tcp *s, weft_cx *cx, weft__dir d, void *buf, size_t len,
                          int *res) {
    if (cx == NULL) {
        weft__io_cancel(&s->io, d);
        return WEFT_READY;
    }
    /* Every completion counts against the budget - an error or a zero-length
     * call as much as a transfer - so a loop that keeps failing yields. */
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    if (len > INT_MAX) len = INT_MAX;
    ssize_t r = attach(&s->io, cx);
    if (r < 0 || len == 0) goto done; /* len == 0: 0 (after attach's checks) */
    for (;;) {
        weft__ready rd;
        if (weft__io_poll_ready(&s->io, cx, d, &rd) == WEFT_PENDING) return WEFT_PENDING;
        if (rd.bits & WEFT__IO_SHUTDOWN) {
            r = -ESHUTDOWN;
            break;
        }
        r = d == WEFT__DIR_READ ? recv(s->io.fd, buf, len, 0)
                                : send(s->io.fd, buf, len, MSG_NOSIGNAL);
        if (r >= 0) {
            if ((size_t)r < len) weft__io_clear_ready(&s->io, d, rd);
            break;
        }
        if (errno == EAGAIN) {
            weft__io_clear_ready(&s->io, d, rd);
            continue;
        }
        if (errno == EINTR) continue;
        r = -errno;
        break;
    }
done:
    set_res(res, (int)r);
    weft_coop_made_progress(cx);
    return WEFT_READY;
}

weft_poll weft_tcp_read(weft_tcp *s, weft_cx *cx, void *buf, size_t len, int *res) {
    return transfer(s, cx, WEFT__DIR_READ, buf, len, res);
}

weft_poll weft_tcp_write(weft_tcp *s, weft_cx *cx, const void *buf, size_t len, int *res) {
    /* send() only reads buf; the cast serves the shared body */
    return transfer(s, cx, WEFT__DIR_WRITE, (void *)buf, len, res);
}

weft_poll weft_tcp_write_all(weft_tcp *s, weft_cx *cx, weft_write_op *op, const void *buf,
                             size_t len, int *res) {
    if (cx == NULL) {
        weft__io_cancel(&s->io, WEFT__DIR_WRITE);
        op->active = 0;
        return WEFT_READY;
    }
    /* Each write counts against the budget (so a long write_all yields
     * between writes); one that needs no write (len == 0) counts itself. */
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    unsigned before = cx->budget;
    if (!op->active) {
        op->active = 1;
        op->done = 0;
    }
    int err = 0;
    while (op->done < len) {
        int n;
        if (weft_tcp_write(s, cx, (const char *)buf + op->done, len - op->done, &n) ==
            WEFT_PENDING)
            return WEFT_PENDING;
        if (n < 0) {
            err = n;
            break;
        }
        op->done += (size_t)n;
    }
    op->active = 0;
    set_res(res, err);
    if (cx->budget == before) weft_coop_made_progress(cx);
    return WEFT_READY;
}

int weft_tcp_shutdown(weft_tcp *s, int how) { return shutdown(s->io.fd, how) < 0 ? -errno : 0; }

int weft_tcp_set_nodelay(weft_tcp *s, int on) {
    int v = on ? 1 : 0;
    return setsockopt(s->io.fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0 ? -errno : 0;
}

int weft_tcp_local_addr(const weft_tcp *s, weft_addr *out) { return sockname(s->io.fd, out, 0); }

int weft_tcp_peer_addr(const weft_tcp *s, weft_addr *out) { return sockname(s->io.fd, out, 1); }

int weft_tcp_fd(const weft_tcp *s) { return s->io.fd; }

void weft_tcp_close(weft_tcp *s) {
    if (!s) return;
    io_close(&s->io);
    weft__free(s);
}
