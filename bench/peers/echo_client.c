/*
 * echo_client.c - the load generator for weft's TCP echo benchmark (see
 * bench.md). Drives any echo server on a loopback address: weft-bench
 * echo-server, raw_epoll_echo, the Go peer, ...
 *
 *   echo_client HOST:PORT [--conns 50] [--size 64] [--seconds 10] [--warmup 1]
 *
 * Opens C connections (TCP_NODELAY), each sending a message of S bytes and
 * waiting until the whole echo has come back before sending the next one, so
 * every connection has exactly one message in flight. One thread, one
 * level-triggered epoll set. Round trips completed during the first `warmup`
 * seconds are not counted; the measurement window is the following `seconds`
 * seconds, after which the client closes everything and exits by itself.
 * Prints exactly one line on stdout:
 *
 *   echo: C conns, S B: N rt in T s = R rt/s
 *
 * Every echo is compared byte for byte with what was sent (each message
 * carries the connection number and a per-connection sequence number, so a
 * stale or misrouted echo is caught too). Exit status: 0 on success, 1 on a
 * mismatch, a connection error or an early close by the server (diagnostic
 * on stderr), 2 on a usage error.
 *
 *   build:  make -C bench/peers            (-> build/peers/echo_client)
 *   run:    taskset -c 1 build/peers/echo_client 127.0.0.1:7000
 *
 * HOST must resolve to a loopback address (127.0.0.0/8 or ::1); anything else
 * is refused: this is a local benchmark tool.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256

struct conn {
    int fd;
    uint32_t id;
    uint64_t seq;
    size_t sent, got; /* progress of the message in flight */
    int want_out;     /* EPOLLOUT registered (only while a write is short) */
    char *msg, *rbuf;
};

static size_t msg_size = 64;

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s HOST:PORT [--conns 50] [--size 64] [--seconds 10] [--warmup 1]\n",
            argv0);
    exit(2);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fail(const char *fmt, const struct conn *c, const char *detail) {
    fprintf(stderr, "echo_client: ");
    fprintf(stderr, fmt, c ? c->id : 0u, detail ? detail : "");
    fputc('\n', stderr);
    exit(1);
}

/* Fill the message for the connection's current sequence number. */
static void make_msg(struct conn *c) {
    unsigned char *m = (unsigned char *)c->msg;
    uint64_t x = ((uint64_t)c->id << 40) ^ c->seq ^ 0x9e3779b97f4a7c15ull;
    size_t i = 0;
    /* First 12 bytes: id and seq in the clear, so any mix-up changes them. */
    uint8_t head[12];
    memcpy(head, &c->id, 4);
    memcpy(head + 4, &c->seq, 8);
    for (; i < msg_size && i < sizeof head; i++) m[i] = head[i];
    for (; i < msg_size; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        m[i] = (unsigned char)x;
    }
}

static void set_events(int epfd, struct conn *c, uint32_t ev) {
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) < 0) fail("conn %u: epoll_ctl: %s", c, strerror(errno));
}

/* Push the rest of the current message out. */
static void do_write(int epfd, struct conn *c) {
    while (c->sent < msg_size) {
        ssize_t w = write(c->fd, c->msg + c->sent, msg_size - c->sent);
        if (w > 0) {
            c->sent += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out) {
                c->want_out = 1;
                set_events(epfd, c, EPOLLIN | EPOLLOUT);
            }
            return;
        } else {
            fail("conn %u: write: %s", c, w < 0 ? strerror(errno) : "wrote 0 bytes");
        }
    }
    if (c->want_out) {
        c->want_out = 0;
        set_events(epfd, c, EPOLLIN);
    }
}

/* One read; returns the number of round trips this completed (0 or 1). */
static int do_read(int epfd, struct conn *c) {
    ssize_t r = read(c->fd, c->rbuf + c->got, msg_size - c->got);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        fail("conn %u: read: %s", c, strerror(errno));
    }
    if (r == 0) fail("conn %u: server closed the connection%s", c, "");
    if (c->got + (size_t)r > c->sent) fail("conn %u: got more bytes back than were sent%s", c, "");
    c->got += (size_t)r;
    if (c->got < msg_size) return 0;
    if (memcmp(c->rbuf, c->msg, msg_size) != 0) fail("conn %u: echoed bytes differ from sent bytes%s", c, "");
    c->seq++;
    c->sent = c->got = 0;
    make_msg(c);
    do_write(epfd, c);
    return 1;
}

static long parse_num(const char *s, const char *name, long lo, long hi, const char *argv0) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "bad value for %s: %s\n", name, s);
        usage(argv0);
    }
    return v;
}

static int is_loopback(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
        return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
        return IN6_IS_ADDR_LOOPBACK(&s->sin6_addr);
    }
    return 0;
}

int main(int argc, char **argv) {
    long nconns = 50, seconds = 10, warmup = 1;
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        const char *names[] = {"--conns", "--size", "--seconds", "--warmup"};
        int which = -1;
        for (int k = 0; k < 4; k++) {
            size_t l = strlen(names[k]);
            if (strncmp(a, names[k], l) == 0 && (a[l] == '\0' || a[l] == '=')) {
                which = k;
                if (a[l] == '=') v = a + l + 1;
                else if (i + 1 < argc) v = argv[++i];
                else usage(argv[0]);
                break;
            }
        }
        if (which < 0) {
            if (a[0] == '-' || target) usage(argv[0]);
            target = a;
            continue;
        }
        switch (which) {
        case 0: nconns = parse_num(v, "--conns", 1, 100000, argv[0]); break;
        case 1: msg_size = (size_t)parse_num(v, "--size", 1, 64L << 20, argv[0]); break;
        case 2: seconds = parse_num(v, "--seconds", 1, 3600, argv[0]); break;
        case 3: warmup = parse_num(v, "--warmup", 0, 3600, argv[0]); break;
        }
    }
    if (!target) usage(argv[0]);

    /* HOST:PORT, HOST may be [v6]. */
    char host[256];
    const char *colon = strrchr(target, ':');
    if (!colon || colon == target || strlen(colon + 1) == 0 || (size_t)(colon - target) >= sizeof host)
        usage(argv[0]);
    size_t hl = (size_t)(colon - target);
    if (target[0] == '[' && hl >= 2 && target[hl - 1] == ']') {
        memcpy(host, target + 1, hl - 2);
        host[hl - 2] = '\0';
    } else {
        memcpy(host, target, hl);
        host[hl] = '\0';
    }
    struct addrinfo hints, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, colon + 1, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "echo_client: %s: %s\n", target, gai_strerror(gai));
        return 1;
    }
    /* Use the first loopback address that accepts a connection (localhost may
     * resolve to ::1 first while the server listens on 127.0.0.1 only). */
    struct addrinfo *addr = NULL;
    int first_fd = -1, saw_non_loopback = 0, last_err = 0;
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        if (!is_loopback(p->ai_addr)) {
            saw_non_loopback = 1;
            continue;
        }
        int fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, p->ai_addr, p->ai_addrlen) == 0) {
            addr = p;
            first_fd = fd;
            break;
        }
        last_err = errno;
        if (fd >= 0) close(fd);
    }
    if (!addr) {
        if (saw_non_loopback && !last_err)
            fprintf(stderr, "echo_client: %s is not a loopback address; refusing\n", target);
        else
            fprintf(stderr, "echo_client: connect %s: %s\n", target, strerror(last_err));
        return saw_non_loopback && !last_err ? 2 : 1;
    }

    signal(SIGPIPE, SIG_IGN);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        perror("epoll_create1");
        return 1;
    }
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns) {
        perror("calloc");
        return 1;
    }
    for (long i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->id = (uint32_t)i;
        c->msg = malloc(msg_size);
        c->rbuf = malloc(msg_size);
        if (!c->msg || !c->rbuf) {
            perror("malloc");
            return 1;
        }
        if (i == 0) {
            c->fd = first_fd;
        } else {
            c->fd = socket(addr->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (c->fd < 0) fail("conn %u: socket: %s", c, strerror(errno));
            if (connect(c->fd, addr->ai_addr, addr->ai_addrlen) < 0)
                fail("conn %u: connect: %s", c, strerror(errno));
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e) < 0) fail("conn %u: epoll_ctl: %s", c, strerror(errno));
    }
    freeaddrinfo(ai);

    double t0 = now();
    double t_measure = t0 + (double)warmup, t_end = t_measure + (double)seconds;
    for (long i = 0; i < nconns; i++) {
        make_msg(&conns[i]);
        do_write(epfd, &conns[i]);
    }

    uint64_t rt = 0, rt_at_start = 0;
    int measuring = (warmup == 0);
    double t_start = t0; /* when counting actually began */
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        double t = now();
        if (!measuring && t >= t_measure) {
            measuring = 1;
            rt_at_start = rt;
            t_start = t;
        }
        if (t >= t_end) break;
        double next = measuring ? t_end : t_measure;
        int timeout_ms = (int)((next - t) * 1000.0) + 1;
        int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (evs[i].events & EPOLLOUT) do_write(epfd, c);
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) rt += (uint64_t)do_read(epfd, c);
        }
    }
    double t_stop = now();
    uint64_t counted = rt - rt_at_start;
    double secs = t_stop - t_start;

    for (long i = 0; i < nconns; i++) {
        close(conns[i].fd);
        free(conns[i].msg);
        free(conns[i].rbuf);
    }
    free(conns);
    close(epfd);

    printf("echo: %ld conns, %zu B: %llu rt in %.3f s = %llu rt/s\n", nconns, msg_size,
           (unsigned long long)counted, secs, (unsigned long long)((double)counted / secs + 0.5));
    return 0;
}
