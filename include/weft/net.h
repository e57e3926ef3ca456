/*
 * weft/net.h - TCP: listeners, streams, connect with a timeout, and a
 * buffered line reader.
 *
 * Semantics (Tokio's net::TcpListener / TcpStream, readiness-based):
 *   - Every socket is nonblocking and registered, on its first poll, with
 *     the reactor of the runtime that polls it (edge-triggered epoll).  An
 *     operation tries the system call and waits only on EAGAIN, so a socket
 *     that already has data costs no trip through the reactor.
 *   - Operations are poll expressions for weft_await.  Each delivers its
 *     result the way every weft operation does (future.h): one int through
 *     its last parameter, res (may be NULL): a count, or a negative errno
 *     (-ECONNRESET, -EPIPE, -ETIMEDOUT, ...).  Nothing raises SIGPIPE.
 *   - Every completion counts against the task's cooperative budget (see
 *     weft_coop_poll in future.h) - a failure or a zero-length call as much
 *     as a transfer - and an operation polled with the budget spent returns
 *     PENDING (its task is woken and polled again after the others).  So a
 *     loop that retries a failing operation, or reads lines that are
 *     already buffered, still lets the other tasks run.
 *   - A socket belongs to the runtime that first polled it; polling it from
 *     another gives -EXDEV, and polling it with a hand-made context that has
 *     no runtime (cx->rt == NULL) gives -EINVAL.  If its runtime is freed
 *     first, the socket's operations fail with -ESHUTDOWN; it must still be
 *     closed.
 *
 * Cancel safety: read, write, accept are cancel-safe - a cancelled call took
 * nothing and wrote nothing (the waker registration, and an accept's backoff
 * timer entry, are dropped).  write_all
 * is not: a cancelled write_all may have written a prefix (op->done says how
 * much).  connect: a cancelled connect closes its half-made socket.
 * weft_read_line is cancel-safe: bytes already read stay in the reader's
 * buffer for the next call.
 *
 * Ownership: weft_tcp and weft_tcp_listener objects are created by listen,
 * accept, connect and from_fd, and owned by the caller until
 * weft_tcp_close / weft_tcp_listener_close, which closes the descriptor and
 * frees the object.  Using one after close, or from two tasks at once in the
 * same direction, is a bug.  One task may read while another writes.
 *
 * Threads: a socket is used from the thread driving its runtime.
 */
#ifndef WEFT_NET_H
#define WEFT_NET_H

#include "addr.h"
#include "future.h"
#include "time.h"

#include <errno.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_tcp weft_tcp;
typedef struct weft_tcp_listener weft_tcp_listener;

/* ---- listeners ----------------------------------------------------------- */

/*
 * Bind to addr (SO_REUSEADDR; port 0 picks a free port) and listen with the
 * given backlog (<= 0: SOMAXCONN).  0 and *out, or a negative errno
 * (-EADDRINUSE, -EACCES, -EINVAL for NULL arguments, ...).
 */
WEFT_MUST_USE int weft_tcp_listen(weft_tcp_listener **out, const weft_addr *addr, int backlog);

/* The same, parsing "127.0.0.1:8080" or "[::1]:80" (see addr.h). */
WEFT_MUST_USE int weft_tcp_listen_str(weft_tcp_listener **out, const char *addr, int backlog);

/* The default bounds of the accept backoff (see weft_tcp_accept). */
#define WEFT_TCP_ACCEPT_BACKOFF_MIN_MS 5
#define WEFT_TCP_ACCEPT_BACKOFF_MAX_MS 500

/*
 * Accept a connection.  Poll expression: READY with *res 0, *out a new
 * socket (owned by the caller) and *peer (may be NULL) its address; or
 * *res a negative errno and *out NULL.  cx == NULL cancels.
 *
 * Out of descriptors or memory.  When accept(2) fails with EMFILE, ENFILE,
 * ENOBUFS or ENOMEM, the connection stays queued in the kernel and trying
 * again at once would only fail again.  The listener rides such an episode
 * out by itself:
 *   - the call that meets the first failure completes with *res -EMFILE
 *     (or -ENFILE, -ENOBUFS, -ENOMEM): once per episode, so the caller can
 *     log it;
 *   - from then on weft_tcp_accept does not report it again: each call
 *     waits (PENDING, on a timer entry inside the listener - nothing is
 *     allocated) and then retries accept(2); every retry that fails the same
 *     way doubles the wait, from WEFT_TCP_ACCEPT_BACKOFF_MIN_MS (5 ms) up to
 *     WEFT_TCP_ACCEPT_BACKOFF_MAX_MS (500 ms), see
 *     weft_tcp_listener_set_backoff;
 *     a retry that finds no connection waiting waits for one, as usual;
 *   - the episode ends when a connection is accepted (that call completes
 *     with it, as usual); the next episode starts from the minimum again.
 *     (Linux checks the descriptor limit first, so an exhausted process
 *     gets EMFILE even with no connection queued.)
 * So the right accept loop logs a resource error and carries on, and stops
 * on the others (examples/echo.c):
 *
 *     weft_await(weft_tcp_accept(l, cx, &self->sock, NULL, &self->rc));
 *     if (weft_tcp_accept_exhausted(self->rc)) {
 *         warn(self->rc);      // once per episode
 *         continue;            // the next accept waits out the backoff
 *     }
 *     if (self->rc < 0) break;
 *
 * Other failures complete every call that meets them: -ESHUTDOWN (the
 * runtime is gone), -EXDEV and -EINVAL (see the top of this file), -ENOMEM
 * when the socket object for an accepted connection could not be allocated
 * (that connection is closed; it also ends an episode), and any other errno
 * of accept(2), such as -EINVAL for a socket that was shut down.
 * ECONNABORTED and EPROTO from the kernel are skipped; a connection reset
 * after the kernel had completed it is returned like any other, and its
 * first read reports -ECONNRESET.
 *
 * Cancel safety: cancel-safe.  A cancelled accept took no connection.  One
 * cancelled while it waits out a backoff releases the listener's timer entry
 * at once; the episode goes on (the next call waits for what is left of the
 * backoff, then retries, and does not report the error again).  The timer
 * belongs to the runtime that polls the listener (the one it is bound to);
 * weft_tcp_listener_close releases it too.  Like every completion, each
 * READY counts against the coop budget; waiting out a backoff costs none.
 */
weft_poll weft_tcp_accept(weft_tcp_listener *l, weft_cx *cx, weft_tcp **out, weft_addr *peer,
                          int *res);

/*
 * Set the bounds of the accept backoff: the first wait of an episode is
 * min_ms, each failed retry doubles it, up to max_ms.  0, or -EINVAL unless
 * 0 < min_ms <= max_ms (or when l is NULL).  An episode under way uses the
 * new bounds from its next retry.  Call it from the thread driving the
 * listener's runtime, or before it is first polled.
 */
int weft_tcp_listener_set_backoff(weft_tcp_listener *l, uint64_t min_ms, uint64_t max_ms);

/*
 * Nonzero when res, an accept's result, is one of the resource errors the
 * listener rides out by itself (-EMFILE, -ENFILE, -ENOBUFS, -ENOMEM; see
 * weft_tcp_accept): log it and accept again.
 */
static inline int weft_tcp_accept_exhausted(int res) {
    return res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM;
}

/* The bound address (with the real port after binding port 0). */
int weft_tcp_listener_addr(const weft_tcp_listener *l, weft_addr *out);

/* Close and free (also releasing a backoff timer entry).  NULL is ignored. */
void weft_tcp_listener_close(weft_tcp_listener *l);

/* ---- streams --------------------------------------------------------------- */

/* The state of one connect, in the caller's frame (zeroed = idle). */
typedef struct weft_connect_op {
    weft_timer timer;
    weft_tcp *sock;
    int state;
} weft_connect_op;

/*
 * Connect to addr, giving up after timeout_ms (0: no limit).  Poll
 * expression: READY with *res 0 and *out the connected socket (owned by
 * the caller), or *res -ECONNREFUSED, -ETIMEDOUT, -ENETUNREACH, ...
 * cx == NULL cancels (the half-made socket is closed).
 */
weft_poll weft_tcp_connect(weft_connect_op *op, weft_cx *cx, const weft_addr *addr,
                           uint64_t timeout_ms, weft_tcp **out, int *res);

/*
 * Wrap a connected stream socket fd (made nonblocking here) in *out, which
 * then owns it.  0, or a negative errno (-EINVAL, -ENOMEM, ...) with *out
 * NULL and fd still the caller's.
 */
WEFT_MUST_USE int weft_tcp_from_fd(weft_tcp **out, int fd);

/*
 * Read up to len bytes (at most INT_MAX in one call).  Poll expression:
 * READY with *res > 0 bytes read, 0 at end of stream, or a negative errno.
 * len == 0 completes at once with 0 (which, as with read(2), says nothing
 * about end of stream).  cx == NULL cancels.
 */
weft_poll weft_tcp_read(weft_tcp *s, weft_cx *cx, void *buf, size_t len, int *res);

/*
 * Write up to len bytes (at least one unless len == 0; at most INT_MAX in
 * one call).  Poll expression: READY with *res bytes written, or a negative
 * errno (-EPIPE, -ECONNRESET).  cx == NULL cancels.
 */
weft_poll weft_tcp_write(weft_tcp *s, weft_cx *cx, const void *buf, size_t len, int *res);

/* Progress of one write_all, in the caller's frame (zeroed = idle). */
typedef struct weft_write_op {
    size_t done; /* bytes written so far (also after a failure or a cancel) */
    int active;
} weft_write_op;

/*
 * Write all len bytes of buf (which must stay valid and unchanged until
 * READY).  Poll expression: READY with *res 0 when all was written, or a
 * negative errno (then op->done bytes went).  cx == NULL cancels (op->done
 * tells how much went).
 */
weft_poll weft_tcp_write_all(weft_tcp *s, weft_cx *cx, weft_write_op *op, const void *buf,
                             size_t len, int *res);

/* shutdown(2): SHUT_RD, SHUT_WR or SHUT_RDWR.  0 or a negative errno. */
int weft_tcp_shutdown(weft_tcp *s, int how);

/* Set TCP_NODELAY (on != 0 disables Nagle).  0 or a negative errno. */
int weft_tcp_set_nodelay(weft_tcp *s, int on);

int weft_tcp_local_addr(const weft_tcp *s, weft_addr *out);
int weft_tcp_peer_addr(const weft_tcp *s, weft_addr *out);

/* The descriptor (still owned by the socket). */
int weft_tcp_fd(const weft_tcp *s);

/* Deregister, close and free.  NULL is ignored. */
void weft_tcp_close(weft_tcp *s);

/* ---- buffered line reader ------------------------------------------------ */

/*
 * Reads lines from a stream through a buffer of fixed capacity, so a peer
 * cannot make it grow: a line longer than the caller's limit is reported
 * (-EMSGSIZE) and skipped, and reading continues with the next line.
 * Give it a capacity of at least max + 2 (a line of max bytes plus "\r\n");
 * with max + 1 it still works but needs an extra one-byte read to tell a
 * "\r\n" line of max bytes from an overlong one.
 */
typedef struct weft_line_reader {
    weft_tcp *sock;
    char *buf;
    size_t cap, start, end, scanned;
    int discarding; /* skipping the rest of an overlong line */
    int eof;
} weft_line_reader;

/*
 * Set up a reader of s with a buffer of capacity bytes (allocated here;
 * 2 <= capacity <= INT_MAX).  The reader does not own s.  0, -EINVAL or
 * -ENOMEM.
 */
WEFT_MUST_USE int weft_line_reader_init(weft_line_reader *r, weft_tcp *s, size_t capacity);

/* Free the buffer (not the socket). */
void weft_line_reader_free(weft_line_reader *r);

/*
 * Read the next line, without its "\n" or "\r\n".  Poll expression:
 *   *res >= 0, *line != NULL: a line of *res bytes (NUL-terminated in the
 *       buffer), valid until the next call;
 *   *res == 0, *line == NULL: end of stream (a last line without a newline
 *       is delivered first);
 *   *res == -EMSGSIZE: the line is longer than max bytes; it is skipped (the
 *       next call returns the line after it) - the caller may go on;
 *   *res another negative errno: the stream failed (a later call reads
 *       again).
 * *line is written only when *res >= 0.  Only "\n" ends a line; a "\r"
 * before it is dropped, a "\r" anywhere else (also at the end of the stream)
 * is part of the line.  max must be < the capacity (else -EINVAL).
 * cx == NULL cancels.
 */
weft_poll weft_read_line(weft_line_reader *r, weft_cx *cx, size_t max, const char **line,
                         int *res);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_NET_H */
