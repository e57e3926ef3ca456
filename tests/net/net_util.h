/*
 * tests/net/net_util.h - helpers shared by the network tests: loopback
 * listeners and connected pairs, a port that refuses connections, and
 * whether the test runs under valgrind.  It includes tests/rt/rt_util.h for
 * the runtime helpers (new_rt, new_paused_rt, new_rt_with, stats).
 *
 * Loopback sockets are made with plain blocking calls (accept4, so the tests
 * are built with _GNU_SOURCE, as the Makefile does).  The functions are
 * static inline: a file may use only some of them.
 */
#ifndef WEFT_TEST_NET_UTIL_H
#define WEFT_TEST_NET_UTIL_H

#include <weft.h>

#include "../rt/rt_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Whether the test runs under valgrind (its preload library is loaded). */
static inline int under_valgrind(void) {
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL;
}

/* A listener on 127.0.0.1, port 0, with the given backlog (<= 0: SOMAXCONN),
 * and its address in *addr when addr is not NULL.  NULL on failure. */
static inline weft_tcp_listener *listen_v4(int backlog, weft_addr *addr) {
    weft_tcp_listener *l = NULL;
    if (weft_tcp_listen_str(&l, "127.0.0.1:0", backlog) < 0) return NULL;
    if (addr && weft_tcp_listener_addr(l, addr) < 0) {
        weft_tcp_listener_close(l);
        return NULL;
    }
    return l;
}

/*
 * A connected loopback pair made with plain blocking calls: *mine (the
 * connecting end) wrapped as a weft socket, *peer (the accepted end) a raw
 * blocking descriptor - or, when peer_weft is not NULL, *peer_weft that end
 * wrapped too (peer may then be NULL).  0 or a negative errno.
 */
static inline int loopback_pair(weft_tcp **mine, int *peer, weft_tcp **peer_weft) {
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sin;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0) return -errno;
    if (bind(l, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&sin, &sl) < 0) {
        int e = -errno;
        close(l);
        return e;
    }
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&sin, sizeof sin) < 0) {
        int e = -errno;
        if (c >= 0) close(c);
        close(l);
        return e;
    }
    int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    int e = -errno;
    close(l);
    if (a < 0) {
        close(c);
        return e;
    }
    int r = weft_tcp_from_fd(mine, c);
    if (r < 0) {
        close(c);
        close(a);
        return r;
    }
    if (peer_weft) {
        r = weft_tcp_from_fd(peer_weft, a);
        if (r < 0) {
            close(a);
            return r;
        }
        a = -1;
    }
    if (peer) *peer = a;
    return 0;
}

/* A port on 127.0.0.1 that refuses connections: bound, not listening, held
 * open by the returned descriptor so nobody else takes it while the test
 * runs.  Its address in *out; the descriptor, or a negative errno. */
static inline int closed_port(weft_addr *out) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sin;
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &sl) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    weft_addr_from_sockaddr(out, (struct sockaddr *)&sin, sl);
    return fd;
}

#endif
