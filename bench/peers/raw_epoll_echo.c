/*
 * raw_epoll_echo.c - the "hand-written single-thread epoll server with no
 * runtime" peer for weft's TCP echo benchmark (see bench.md): the
 * readiness-model limit that weft's `weft-bench echo-server` is compared to.
 *
 * A TCP echo server on 127.0.0.1:PORT. libc only, one thread, one epoll set,
 * nonblocking sockets, TCP_NODELAY on every accepted connection, reads of at
 * most 4 KiB. Runs until SIGINT or SIGTERM, then exits 0.
 *
 *   build:  make -C bench/peers            (-> build/peers/raw_epoll_echo)
 *   run:    taskset -c 0 build/peers/raw_epoll_echo 7000
 *   bench:  bench/peers/run_tcp.sh echo build/peers/raw_epoll_echo {PORT}
 *
 * Trigger mode: LEVEL-triggered, EPOLLIN only in the steady state.
 *   The benchmark is 50 connections each with one 64-byte message in flight,
 *   so each readiness event has one small message behind it. Level-triggered
 *   lets us do exactly one read() per event: if more than 4 KiB were queued,
 *   epoll simply reports the socket again on the next epoll_wait. Edge-
 *   triggered would oblige us to read until EAGAIN (one wasted read() per
 *   event, i.e. per round trip) or to rely on the "short read means drained"
 *   heuristic, and registering EPOLLOUT under EPOLLET brings nothing here
 *   because writes of 64 bytes never block. So the steady-state cost of one
 *   round trip is: a share of one epoll_wait + one read() + one write(),
 *   and no epoll_ctl at all. EPOLLOUT is requested (EPOLL_CTL_MOD) only when
 *   a write comes back short; the unsent tail is then kept in a per-connection
 *   buffer and reading from that connection pauses until the tail has gone out
 *   (backpressure), after which the interest goes back to EPOLLIN.
 *
 * Connection state lives in an array indexed by fd; the 4 KiB read buffer is
 * shared by all connections (a connection needs a buffer of its own only while
 * it has unsent bytes, which never happens in the benchmark).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 4096
#define MAX_EVENTS 256

struct conn {
    char *pend;        /* unsent bytes, only while a write was short */
    uint32_t off, len; /* pend[off..len) still to send */
    uint8_t open;
};

static struct conn *conns;
static size_t nconns;
static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static struct conn *conn_get(int fd) {
    if ((size_t)fd >= nconns) {
        size_t n = nconns ? nconns : 1024;
        while (n <= (size_t)fd) n *= 2;
        struct conn *c = realloc(conns, n * sizeof *c);
        if (!c) die("realloc");
        memset(c + nconns, 0, (n - nconns) * sizeof *c);
        conns = c;
        nconns = n;
    }
    return &conns[fd];
}

static void conn_close(int epfd, int fd) {
    struct conn *c = &conns[fd];
    free(c->pend);
    c->pend = NULL;
    c->off = c->len = 0;
    c->open = 0;
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
}

static void set_interest(int epfd, int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0) die("epoll_ctl MOD");
}

/* Write buf[0..n); on a short write keep the rest and wait for EPOLLOUT.
 * Returns -1 if the connection must be closed. */
static int send_or_park(int epfd, int fd, const char *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, buf + done, n - done);
        if (w > 0) {
            done += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct conn *c = &conns[fd];
            size_t rest = n - done;
            c->pend = malloc(rest);
            if (!c->pend) die("malloc");
            memcpy(c->pend, buf + done, rest);
            c->off = 0;
            c->len = (uint32_t)rest;
            set_interest(epfd, fd, EPOLLOUT);
            return 0;
        } else {
            return -1;
        }
    }
    return 0;
}

/* EPOLLOUT on a connection with a parked tail. */
static int flush_pending(int epfd, int fd) {
    struct conn *c = &conns[fd];
    while (c->off < c->len) {
        ssize_t w = write(fd, c->pend + c->off, c->len - c->off);
        if (w > 0) {
            c->off += (uint32_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else {
            return -1;
        }
    }
    free(c->pend);
    c->pend = NULL;
    c->off = c->len = 0;
    set_interest(epfd, fd, EPOLLIN);
    return 0;
}

static void accept_all(int epfd, int lfd) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EMFILE || errno == ENFILE) {
                perror("accept4");
                return;
            }
            die("accept4");
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = conn_get(fd);
        c->open = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl ADD");
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*end || port <= 0 || port > 65535) {
        fprintf(stderr, "bad port: %s\n", argv[1]);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_pwait returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* Keep the signals blocked except inside epoll_pwait, so that a signal
     * can never slip in between the `stop` check and the wait. */
    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGINT);
    sigdelset(&waitmask, SIGTERM);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0) die("bind");
    if (listen(lfd, 1024) < 0) die("listen");

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0) die("epoll_ctl ADD");

    static char buf[BUF_SIZE];
    struct epoll_event evs[MAX_EVENTS];
    while (!stop) {
        int n = epoll_pwait(epfd, evs, MAX_EVENTS, -1, &waitmask);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_pwait");
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            uint32_t e = evs[i].events;
            if (fd == lfd) {
                accept_all(epfd, lfd);
                continue;
            }
            if (!conns[fd].open) continue;
            if (conns[fd].pend) {
                /* Parked on EPOLLOUT (reading is paused meanwhile). */
                if ((e & (EPOLLERR | EPOLLHUP)) || flush_pending(epfd, fd) < 0)
                    conn_close(epfd, fd);
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r > 0) {
                if (send_or_park(epfd, fd, buf, (size_t)r) < 0) conn_close(epfd, fd);
            } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                conn_close(epfd, fd); /* EOF or error (EPOLLERR/EPOLLHUP land here) */
            }
        }
    }

    for (size_t fd = 0; fd < nconns; fd++)
        if (conns[fd].open) conn_close(epfd, (int)fd);
    free(conns);
    close(epfd);
    close(lfd);
    return 0;
}
