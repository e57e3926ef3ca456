/*
 * raw_epoll_http.c - the "hand-written single-thread epoll server with no
 * runtime" peer for weft's HTTP benchmark (see bench.md): the readiness-model
 * limit that weft's `weft-bench http-server` is compared to.
 *
 * A minimal HTTP/1.1 keep-alive server on 127.0.0.1:PORT. For every complete
 * request in the connection's buffer (a request is everything up to and
 * including "\r\n\r\n"; bodies are not supported, headers are not parsed) it
 * answers exactly
 *   "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!"
 * Pipelining-safe: several requests arriving in one read get as many
 * responses, in order, in one write; a request split across reads (even in
 * the middle of "\r\n\r\n") is completed by the next read. A connection whose
 * unfinished request fills the 4 KiB buffer is closed.
 * libc only, one thread, one epoll set, nonblocking sockets, TCP_NODELAY.
 * Runs until SIGINT or SIGTERM, then exits 0.
 *
 *   build:  make -C bench/peers            (-> build/peers/raw_epoll_http)
 *   run:    taskset -c 0 build/peers/raw_epoll_http 8080
 *   bench:  bench/peers/run_tcp.sh http build/peers/raw_epoll_http {PORT}
 *           (wrk -t1 -c50 -d10s http://127.0.0.1:8080/, pinned to core 1)
 *
 * Trigger mode: LEVEL-triggered, EPOLLIN only in the steady state, for the
 * same reason as raw_epoll_echo.c: one read() per readiness event is enough
 * (epoll reports the socket again if more is queued), so a request costs a
 * share of one epoll_wait + one read() + one write() and no epoll_ctl; ET
 * would add a read() that returns EAGAIN to every request. EPOLLOUT is asked
 * for only after a short write; the connection then stops reading until its
 * unsent responses are out (backpressure against a client that pipelines
 * without reading).
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

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";
#define RESP_LEN (sizeof RESPONSE - 1)
/* Responses batched per write(); at most BUF_SIZE/4 requests fit in a read. */
#define OUT_BATCH 64

struct conn {
    uint32_t len;      /* bytes of an unfinished request kept in buf */
    uint32_t scanned;  /* buf[0..scanned) is known to hold no terminator */
    char *pend;        /* unsent responses, only after a short write */
    size_t off, plen;  /* pend[off..plen) still to send */
    char buf[BUF_SIZE];
};

static struct conn **conns;
static size_t nconns;
static volatile sig_atomic_t stop;
static char out[OUT_BATCH * RESP_LEN];

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void conn_close(int epfd, int fd) {
    struct conn *c = conns[fd];
    free(c->pend);
    free(c);
    conns[fd] = NULL;
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
}

static void set_interest(int epfd, int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0) die("epoll_ctl MOD");
}

/* Send `count` responses. On a short write, park the rest in c->pend and
 * switch to EPOLLOUT. Returns -1 if the connection must be closed. */
static int respond(int epfd, int fd, struct conn *c, size_t count) {
    while (count > 0) {
        size_t k = count < OUT_BATCH ? count : OUT_BATCH;
        size_t n = k * RESP_LEN, done = 0;
        count -= k;
        while (done < n) {
            ssize_t w = write(fd, out + done, n - done);
            if (w > 0) {
                done += (size_t)w;
            } else if (w < 0 && errno == EINTR) {
                continue;
            } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                size_t rest = (n - done) + count * RESP_LEN;
                c->pend = malloc(rest);
                if (!c->pend) die("malloc");
                memcpy(c->pend, out + done, n - done);
                for (size_t i = 0; i < count; i++)
                    memcpy(c->pend + (n - done) + i * RESP_LEN, RESPONSE, RESP_LEN);
                c->off = 0;
                c->plen = rest;
                set_interest(epfd, fd, EPOLLOUT);
                return 0;
            } else {
                return -1;
            }
        }
    }
    return 0;
}

static int flush_pending(int epfd, int fd, struct conn *c) {
    while (c->off < c->plen) {
        ssize_t w = write(fd, c->pend + c->off, c->plen - c->off);
        if (w > 0) {
            c->off += (size_t)w;
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
    c->off = c->plen = 0;
    set_interest(epfd, fd, EPOLLIN);
    return 0;
}

/* Readable: one read, count complete requests, answer them all.
 * Returns -1 if the connection must be closed. */
static int on_readable(int epfd, int fd, struct conn *c) {
    ssize_t r = read(fd, c->buf + c->len, BUF_SIZE - c->len);
    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
        return -1; /* EOF or error */
    }
    size_t len = c->len + (size_t)r;
    /* Resume the scan 3 bytes back so a terminator split across reads is found. */
    size_t pos = c->scanned > 3 ? c->scanned - 3 : 0, start = 0, count = 0;
    for (;;) {
        const char *t = memmem(c->buf + pos, len - pos, "\r\n\r\n", 4);
        if (!t) break;
        count++;
        pos = start = (size_t)(t - c->buf) + 4;
    }
    if (start == len) {
        c->len = c->scanned = 0; /* the common case: nothing left over */
    } else {
        if (start > 0) memmove(c->buf, c->buf + start, len - start);
        c->len = (uint32_t)(len - start);
        c->scanned = c->len;
        if (c->len == BUF_SIZE) return -1; /* request head larger than 4 KiB */
    }
    return count ? respond(epfd, fd, c, count) : 0;
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
        if ((size_t)fd >= nconns) {
            size_t n = nconns ? nconns : 1024;
            while (n <= (size_t)fd) n *= 2;
            struct conn **a = realloc(conns, n * sizeof *a);
            if (!a) die("realloc");
            memset(a + nconns, 0, (n - nconns) * sizeof *a);
            conns = a;
            nconns = n;
        }
        struct conn *c = malloc(sizeof *c);
        if (!c) die("malloc");
        c->len = c->scanned = 0;
        c->pend = NULL;
        c->off = c->plen = 0;
        conns[fd] = c;
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
    for (size_t i = 0; i < OUT_BATCH; i++) memcpy(out + i * RESP_LEN, RESPONSE, RESP_LEN);

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_pwait returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
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

    struct epoll_event evs[MAX_EVENTS];
    while (!stop) {
        int n = epoll_pwait(epfd, evs, MAX_EVENTS, -1, &waitmask);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_pwait");
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                accept_all(epfd, lfd);
                continue;
            }
            struct conn *c = conns[fd];
            if (!c) continue;
            int rc;
            if (c->pend)
                rc = (evs[i].events & (EPOLLERR | EPOLLHUP)) ? -1 : flush_pending(epfd, fd, c);
            else
                rc = on_readable(epfd, fd, c);
            if (rc < 0) conn_close(epfd, fd);
        }
    }

    for (size_t fd = 0; fd < nconns; fd++)
        if (conns[fd]) conn_close(epfd, (int)fd);
    free(conns);
    close(epfd);
    close(lfd);
    return 0;
}
