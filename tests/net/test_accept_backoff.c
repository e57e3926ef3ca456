/*
 * tests/net/test_accept_backoff.c - weft_tcp_accept when the process runs out
 * of descriptors (include/weft/net.h): the error is reported once per
 * episode, the listener then backs off by itself (5 ms doubling to 500 ms),
 * and recovers when descriptors are free again.
 *
 * Running out is made real with a lowered RLIMIT_NOFILE, in the forked test
 * process.  The limit counts descriptor numbers, not open files: a new
 * descriptor gets the lowest free number, and must be below the limit.  So
 * everything the test needs beyond what the server accepts - the runtime,
 * the listener, the clients - is opened first, and the limit is then set so
 * that exactly k numbers below it are free (limit_fds).  The clients are
 * plain blocking sockets that connect and send their line before the
 * runtime runs: the kernel completes the connections and queues the data,
 * so the server's accept and first read find them without waiting for an
 * event, and what the server does is decided by counts, not by when packets
 * arrive.
 *
 * Time is the paused clock: an idle runtime jumps to its next timer, so the
 * backoff's retries happen at exact instants, and "how many accept(2) calls
 * in 10 s" is a count of the server task's polls (each poll in an episode is
 * one retry).  Nothing is timed.
 *
 * Valgrind: it emulates the lowered limit, and when accept4 returns a
 * descriptor above it, it closes that descriptor and reports EMFILE - the
 * connection is lost rather than left queued.  The tests allow for that:
 * under valgrind the connections that met EMFILE are not served later.
 */
#include <weft.h>

#include "net_util.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/time.h>

#include <linux/sockios.h>

/* ---- helpers -------------------------------------------------------------- */

static int out_of_resources(int status) { return weft_tcp_accept_exhausted(status); }

/* The predicate the example's accept loop uses. */
static void accept_exhausted_names_the_resource_errors(void) {
    CHECK(weft_tcp_accept_exhausted(-EMFILE));
    CHECK(weft_tcp_accept_exhausted(-ENFILE));
    CHECK(weft_tcp_accept_exhausted(-ENOBUFS));
    CHECK(weft_tcp_accept_exhausted(-ENOMEM));
    CHECK(!weft_tcp_accept_exhausted(0));
    CHECK(!weft_tcp_accept_exhausted(-ESHUTDOWN));
    CHECK(!weft_tcp_accept_exhausted(-EINVAL));
    CHECK(!weft_tcp_accept_exhausted(EMFILE)); /* results are negative */
}

static struct rlimit saved_limit;
static int limit_lowered;

/* Set the soft RLIMIT_NOFILE (lower, or back up towards where it was) so
 * that exactly k more descriptors can be opened: the limit is the number of
 * the (k+1)-th free descriptor. */
static int limit_fds(int k) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return -errno;
    rlim_t end = limit_lowered ? saved_limit.rlim_cur : rl.rlim_cur;
    int seen = 0;
    for (int fd = 0; fd < (int)end; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
        if (seen++ < k) continue;
        if (!limit_lowered) saved_limit = rl;
        rl.rlim_cur = (rlim_t)fd;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) return -errno;
        limit_lowered = 1;
        return 0;
    }
    return -EMFILE;
}

/* Put the limit back (also after a failed check: the sanitizers' exit-time
 * work needs descriptors). */
static void unlimit_fds(void) {
    if (limit_lowered) setrlimit(RLIMIT_NOFILE, &saved_limit);
    limit_lowered = 0;
}

/* The backlog of the tests' listeners (listen_v4): room for every client
 * a test queues before the runtime runs. */
#define BACKLOG 64

/*
 * A blocking client: connected and its line sent, and then acknowledged by
 * the peer's kernel (nothing left in the send queue), so the connection and
 * the line are queued at the listener before anyone accepts - the kernel
 * completes both without an accept.  The descriptor, or -1.  (The wait for
 * the acknowledgement is bounded; loopback delivers at once.)
 */
static int client(const weft_addr *addr, const char *line) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    size_t n = strlen(line);
    if (connect(fd, &addr->u.sa, addr->len) < 0 || send(fd, line, n, MSG_NOSIGNAL) != (ssize_t)n) {
        close(fd);
        return -1;
    }
    for (int i = 0; i < 100000; i++) {
        int outq = -1;
        if (ioctl(fd, SIOCOUTQ, &outq) < 0 || outq == 0) return fd;
        usleep(100);
    }
    close(fd);
    return -1;
}

static void line_of(int i, char *buf, size_t size) { snprintf(buf, size, "hello %d\n", i); }

/* After the runtime ran: did client fd get its line back?  1 yes, 0 the
 * connection ended without it (or failed), -1 something else came.
 * SO_RCVTIMEO only guards against a hang; the echo is already queued. */
static int got_echo(int fd, int i) {
    char want[32], buf[32];
    line_of(i, want, sizeof want);
    size_t n = strlen(want), got = 0;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        got += (size_t)r;
    }
    return memcmp(buf, want, n) == 0 ? 1 : -1;
}

/* ---- the server ----------------------------------------------------------- */

/* One connection: echo until end of stream; counts the connections that got
 * their first echo written. */
typedef struct conn {
    weft_frame fr;
    weft_tcp *sock;
    int *echoed;
    int counted;
    char buf[64];
    int n;
    weft_write_op wr;
    int wr_res; /* its result */
} conn;

weft_async_fn(conn_poll, conn) {
    weft_async (self) {
        for (;;) {
            weft_await(weft_tcp_read(self->sock, cx, self->buf, sizeof self->buf, &self->n));
            if (self->n <= 0) break;
            weft_await(weft_tcp_write_all(self->sock, cx, &self->wr, self->buf, (size_t)self->n, &self->wr_res));
            if (self->wr_res) break;
            if (!self->counted) {
                self->counted = 1;
                (*self->echoed)++;
            }
        }
    weft_finally:
        weft_tcp_close(self->sock);
    }
    return WEFT_READY;
}

#define MAX_AT 64

/*
 * The accept loop a user should write: a resource error is logged (here:
 * counted) and the loop goes on; any other error ends it.  It records the
 * clock at each of its polls.  Should resource errors be reported again and
 * again (no backoff), it gives up after a few, so that such a bug fails the
 * test rather than spinning.
 */
typedef struct server {
    weft_frame fr;
    weft_tcp_listener *l;
    weft_tcp *sock;
    int status;
    unsigned polls;
    weft_instant at[MAX_AT]; /* the clock at each poll */
    int accepted, echoed, reports, report_status, failed;
    weft_instant reported_at;
} server;

weft_async_fn(server_poll, server) {
    if (cx) {
        if (self->polls < MAX_AT) self->at[self->polls] = weft_now(cx->rt);
        self->polls++;
    }
    weft_async (self) {
        for (;;) {
            weft_await(weft_tcp_accept(self->l, cx, &self->sock, NULL, &self->status));
            if (self->status == 0) {
                self->accepted++;
                conn *c;
                MUST(weft_task_new(&c, cx->rt, conn_poll));
                if (!c) {
                    weft_tcp_close(self->sock);
                    self->failed = -ENOMEM;
                    break;
                }
                c->sock = self->sock;
                c->echoed = &self->echoed;
                weft_task_spawn_detached(c);
                continue;
            }
            if (out_of_resources(self->status)) {
                self->report_status = self->status;
                self->reported_at = weft_now(cx->rt);
                if (++self->reports > 4) break; /* no backoff: stop spinning */
                continue;
            }
            self->failed = self->status;
            break;
        }
    }
    return WEFT_READY;
}

/* Spawn a server on l: its handle (NULL if out of memory), and its frame in
 * *srv unless srv is NULL. */
static weft_task *spawn_server(weft_rt *rt, weft_tcp_listener *l, server **srv) {
    server *s;
    MUST(weft_task_new(&s, rt, server_poll));
    if (!s) return NULL;
    s->l = l;
    if (srv) *srv = s;
    return weft_task_spawn(s);
}

/* ---- exhaustion, backoff and recovery ----------------------------------- */

#define K 4      /* descriptors the server can take */
#define E 2      /* clients beyond that */
#define M 2      /* new clients after the first ones left */
#define WINDOW 10000 /* ms of exhaustion measured */

typedef struct exhaust {
    weft_frame fr;
    weft_tcp_listener *l;
    weft_addr addr;
    int *fds; /* K + E + M client descriptors (the last M made here) */
    int valgrind;
    server *srv;
    weft_task *h;
    int i, status;
    weft_sleep_op sl;
    /* observations */
    int echoed_at_start, accepted_at_start, reports_at_start;
    unsigned polls0, polls1;
    uint64_t rt_polls0, rt_polls1;
    weft_rt_stats st_window;
    int echoed_after_leave, accepted_after_leave, reports_after_leave, waited;
} exhaust;

/* In an async function with a counter self->i (and, for WAIT_UNTIL, a
 * sleep op self->sl): yield, or sleep 100 ms, until cond holds, at most
 * `rounds` times. */
#define YIELD_UNTIL(cond, rounds)                                              \
    for (self->i = 0; !(cond) && self->i < (rounds); self->i++) weft_yield()
#define WAIT_UNTIL(cond, rounds)                                               \
    for (self->i = 0; !(cond) && self->i < (rounds); self->i++)                \
    weft_await(weft_sleep(&self->sl, cx, 100))

weft_async_fn(exhaust_poll, exhaust) {
    weft_rt_stats st;
    weft_async (self) {
        self->h = spawn_server(cx->rt, self->l, &self->srv);
        if (!self->h) weft_return;
        /* Phase 1: the server accepts K, echoes their lines (queued before
         * the runtime ran) and meets EMFILE on the next.  None of this waits
         * for an event or a timer. */
        YIELD_UNTIL(self->srv->echoed >= K, 1000);
        self->echoed_at_start = self->srv->echoed;
        self->accepted_at_start = self->srv->accepted;
        self->reports_at_start = self->srv->reports;
        /* Phase 2: exhausted for WINDOW ms.  Every server poll now is a retry
         * of accept(2) when its backoff timer fires. */
        weft_rt_stats_get(cx->rt, &st);
        self->rt_polls0 = st.polls;
        self->polls0 = self->srv->polls;
        weft_await(weft_sleep(&self->sl, cx, WINDOW));
        weft_rt_stats_get(cx->rt, &st);
        self->rt_polls1 = st.polls;
        self->polls1 = self->srv->polls;
        self->st_window = st;
        /* Phase 3: the first K clients leave; the server's conns see the end
         * of stream and close, and a retry then accepts the E waiting ones. */
        for (self->i = 0; self->i < K; self->i++) {
            close(self->fds[self->i]);
            self->fds[self->i] = -1;
        }
        WAIT_UNTIL(self->srv->echoed >= K + (self->valgrind ? 0 : E), 100000);
        self->echoed_after_leave = self->srv->echoed;
        self->accepted_after_leave = self->srv->accepted;
        self->reports_after_leave = self->srv->reports;
        /* Phase 4: new clients are served (the limit is still in place). */
        for (self->i = K + E; self->i < K + E + M; self->i++) {
            char line[32];
            line_of(self->i, line, sizeof line);
            self->fds[self->i] = client(&self->addr, line);
        }
        WAIT_UNTIL(self->srv->echoed >= K + M + (self->valgrind ? 0 : E), 100000);
        self->waited = self->i;
        weft_task_abort(self->h);
        weft_await(weft_join(self->h, cx, &self->status));
    }
    return WEFT_READY;
}

static void exhaustion_body(void) {
    int valgrind = under_valgrind();
    weft_rt *rt = new_paused_rt();
    CHECK(rt);
    exhaust t = {.valgrind = valgrind};
    t.l = listen_v4(BACKLOG, &t.addr);
    CHECK(t.l);
    int fds[K + E + M];
    for (int i = 0; i < K + E + M; i++) fds[i] = -1;
    for (int i = 0; i < K + E; i++) {
        char line[32];
        line_of(i, line, sizeof line);
        fds[i] = client(&t.addr, line);
        CHECK(fds[i] >= 0);
    }
    t.fds = fds;
    CHECK_EQ(limit_fds(K), 0);
    int r = weft_block_on(rt, exhaust_poll, &t);
    CHECK_EQ(r, 0);
    CHECK(t.srv != NULL);
    server *s = weft_task_frame(t.h);

    /* Phase 1: served what it could, reported the error once. */
    CHECK_EQ(t.accepted_at_start, K);
    CHECK_EQ(t.echoed_at_start, K);
    CHECK_EQ(t.reports_at_start, 1);
    CHECK_EQ(s->report_status, -EMFILE);
    CHECK_EQ(s->reported_at, 0);
    /* Phase 2: the retries follow the backoff (5, 10, ... 500 ms): 25 in
     * 10 s here - a spinning loop would make millions of calls, and the
     * runtime as a whole did nothing else. */
    unsigned retries = t.polls1 - t.polls0;
    if (!valgrind) {
        CHECK(retries >= 20);
    }
    CHECK(retries <= 30);
    CHECK(t.rt_polls1 - t.rt_polls0 <= retries + 2);
    CHECK_EQ(t.st_window.timers, valgrind ? 0 : 1); /* the backoff; valgrind: drained */
    /* Phase 3: recovered - the waiting clients were accepted (natively; see
     * the top of the file for valgrind) and nothing was reported again. */
    CHECK_EQ(t.reports_after_leave, 1);
    if (!valgrind) {
        CHECK_EQ(t.accepted_after_leave, K + E);
        CHECK_EQ(t.echoed_after_leave, K + E);
    }
    /* Phase 4: new clients were served, without a new report. */
    CHECK(t.waited < 100000);
    for (int i = K + E; i < K + E + M; i++) CHECK(fds[i] >= 0);
    CHECK_EQ(s->echoed, K + M + (valgrind ? 0 : E));
    CHECK_EQ(s->accepted, K + M + (valgrind ? 0 : E));
    CHECK_EQ(s->reports, 1);
    CHECK_EQ(s->failed, 0);
    CHECK_EQ(t.status, -ECANCELED);
    /* Every client that was served has its line back. */
    for (int i = K; i < K + E + M; i++) {
        int want = (i < K + E && valgrind) ? 0 : 1;
        CHECK_EQ(got_echo(fds[i], i), want);
    }
    weft_task_release(t.h);
    for (int i = 0; i < K + E + M; i++)
        if (fds[i] >= 0) close(fds[i]);
    unlimit_fds();
    weft_tcp_listener_close(t.l);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

static void accept_backs_off_while_out_of_descriptors_and_recovers(void) {
    exhaustion_body();
    unlimit_fds();
}

/* ---- the schedule ---------------------------------------------------------- */

#define QUEUED 12

typedef struct schedule {
    weft_frame fr;
    weft_tcp_listener *l;
    weft_task *h;
    weft_sleep_op sl;
    uint64_t ms;
    int status;
} schedule;

weft_async_fn(schedule_poll, schedule) {
    weft_async (self) {
        self->h = spawn_server(cx->rt, self->l, NULL);
        if (!self->h) weft_return;
        weft_await(weft_sleep(&self->sl, cx, self->ms));
        weft_task_abort(self->h);
        weft_await(weft_join(self->h, cx, &self->status));
    }
    return WEFT_READY;
}

/* With no descriptor free at all, the server polls at 0 (the report), then
 * once per retry; the gaps between its polls are the backoff.  QUEUED
 * connections wait (under valgrind each failed accept uses one up, so at
 * most QUEUED - 1 retries are checked). */
static void schedule_body(uint64_t min_ms, uint64_t max_ms, uint64_t run_ms, const uint64_t *gaps,
                          int ngaps) {
    weft_rt *rt = new_paused_rt();
    CHECK(rt);
    weft_addr addr;
    schedule t = {.ms = run_ms};
    t.l = listen_v4(BACKLOG, &addr);
    CHECK(t.l);
    if (min_ms) CHECK_EQ(weft_tcp_listener_set_backoff(t.l, min_ms, max_ms), 0);
    int fds[QUEUED];
    for (int i = 0; i < QUEUED; i++) {
        fds[i] = client(&addr, "x");
        CHECK(fds[i] >= 0);
    }
    CHECK_EQ(limit_fds(0), 0);
    CHECK_EQ(weft_block_on(rt, schedule_poll, &t), 0);
    unlimit_fds();
    server *s = weft_task_frame(t.h);
    CHECK_EQ(s->reports, 1);
    CHECK_EQ(s->accepted, 0);
    CHECK_EQ(s->failed, 0);
    CHECK_EQ(s->at[0], 0);
    CHECK(s->polls >= (unsigned)ngaps + 1);
    for (int i = 0; i < ngaps; i++) {
        if (s->at[i + 1] - s->at[i] != gaps[i])
            fprintf(stderr, "    gap %d: %llu ms, expected %llu\n", i,
                    (unsigned long long)(s->at[i + 1] - s->at[i]), (unsigned long long)gaps[i]);
        CHECK_EQ(s->at[i + 1] - s->at[i], gaps[i]);
    }
    /* never faster than the maximum, however long it lasts */
    for (unsigned i = ngaps; i + 1 < s->polls && i + 1 < MAX_AT; i++)
        CHECK_EQ(s->at[i + 1] - s->at[i], max_ms ? max_ms : WEFT_TCP_ACCEPT_BACKOFF_MAX_MS);
    CHECK_EQ(t.status, -ECANCELED);
    weft_task_release(t.h);
    for (int i = 0; i < QUEUED; i++) close(fds[i]);
    weft_tcp_listener_close(t.l);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

static void accept_backoff_doubles_from_5_to_500_ms(void) {
    static const uint64_t gaps[] = {5, 10, 20, 40, 80, 160, 320, 500, 500, 500, 500};
    /* natively: retries at 5, 15, ... 635, then every 500 ms up to 4635 */
    schedule_body(0, 0, 5000, gaps, (int)(sizeof gaps / sizeof gaps[0]));
    unlimit_fds();
}

static void accept_backoff_follows_set_backoff(void) {
    static const uint64_t gaps[] = {100, 200, 400, 400, 400, 400};
    schedule_body(100, 400, 3000, gaps, (int)(sizeof gaps / sizeof gaps[0]));
    unlimit_fds();
}

static void set_backoff_rejects_bad_bounds(void) {
    weft_addr addr;
    weft_tcp_listener *l = listen_v4(BACKLOG, &addr);
    CHECK(l);
    CHECK_EQ(weft_tcp_listener_set_backoff(l, 0, 10), -EINVAL);
    CHECK_EQ(weft_tcp_listener_set_backoff(l, 20, 10), -EINVAL);
    CHECK_EQ(weft_tcp_listener_set_backoff(NULL, 1, 10), -EINVAL);
    CHECK_EQ(weft_tcp_listener_set_backoff(l, 10, 10), 0);
    CHECK_EQ(weft_tcp_listener_set_backoff(l, 1, UINT64_MAX), 0);
    weft_tcp_listener_close(l);
}

/* ---- a new episode is reported again ------------------------------------------ */

typedef struct episodes {
    weft_frame fr;
    weft_tcp_listener *l;
    weft_task *h;
    server *srv;
    weft_sleep_op sl;
    int i, status, lowered;
} episodes;

weft_async_fn(episodes_poll, episodes) {
    weft_async (self) {
        self->h = spawn_server(cx->rt, self->l, &self->srv);
        if (!self->h) weft_return;
        YIELD_UNTIL(self->srv->reports >= 1, 100);
        /* One descriptor free: the retry at 5 ms accepts A; the server's conn
         * keeps it, so the accept after that is out of descriptors again. */
        self->lowered = limit_fds(1);
        weft_await(weft_sleep(&self->sl, cx, 1000));
        weft_task_abort(self->h);
        weft_await(weft_join(self->h, cx, &self->status));
    }
    return WEFT_READY;
}

/* Each episode is reported once: accepting a connection ends one, and the
 * next failure starts a new one, reported again, with the backoff back at
 * its minimum.  (Linux checks the descriptor limit before the queue, so the
 * accept after A fails at once.  Under valgrind it does not: that accept
 * finds nothing queued and waits, so there is no second episode.) */
static void accept_reports_each_episode_once(void) {
    int valgrind = under_valgrind();
    weft_rt *rt = new_paused_rt();
    CHECK(rt);
    weft_addr addr;
    episodes t = {0};
    t.l = listen_v4(BACKLOG, &addr);
    CHECK(t.l);
    int a = client(&addr, "hello 0\n"), b = client(&addr, "hello 1\n");
    CHECK(a >= 0 && b >= 0);
    CHECK_EQ(limit_fds(0), 0);
    int r = weft_block_on(rt, episodes_poll, &t);
    unlimit_fds();
    CHECK_EQ(r, 0);
    CHECK_EQ(t.lowered, 0);
    server *s = weft_task_frame(t.h);
    CHECK_EQ(s->accepted, 1);
    CHECK_EQ(s->echoed, 1);
    CHECK_EQ(s->failed, 0);
    CHECK_EQ(s->at[0], 0); /* report 1 */
    CHECK_EQ(s->at[1], 5); /* the retry: accepted, then report 2 */
    if (valgrind) {
        CHECK_EQ(s->reports, 1);
        CHECK_EQ(s->polls, 2);
        CHECK_EQ(got_echo(b, 1), 1); /* A was lost to the first EMFILE */
    } else {
        CHECK_EQ(s->reports, 2);
        CHECK_EQ(s->reported_at, 5);
        CHECK_EQ(s->at[2], 10); /* the new episode starts from 5 ms again */
        CHECK_EQ(s->at[3], 20);
        CHECK_EQ(s->at[4], 40);
        CHECK_EQ(got_echo(a, 0), 1);
    }
    weft_task_release(t.h);
    close(a);
    close(b);
    weft_tcp_listener_close(t.l);
    CHECK_EQ(stats(rt).timers, 0);
    weft_rt_free(rt);
}

static void accept_reports_a_new_episode_again(void) {
    accept_reports_each_episode_once();
    unlimit_fds();
}

/* ---- cancel and close in backoff ---------------------------------------------- */

/* Accept until a connection comes, counting the resource errors reported. */
typedef struct acceptor {
    weft_frame fr;
    weft_tcp_listener *l;
    weft_tcp *sock;
    int status, reports, accepted;
    weft_instant accepted_at;
} acceptor;

weft_async_fn(acceptor_poll, acceptor) {
    weft_async (self) {
        for (;;) {
            weft_await(weft_tcp_accept(self->l, cx, &self->sock, NULL, &self->status));
            if (out_of_resources(self->status) && ++self->reports < 5) continue;
            break;
        }
        if (self->status == 0) {
            self->accepted = 1;
            self->accepted_at = weft_now(cx->rt);
            weft_tcp_close(self->sock);
        }
    }
    return WEFT_READY;
}

/* Spawn an acceptor on l: its handle, or NULL. */
static weft_task *spawn_acceptor(weft_rt *rt, weft_tcp_listener *l) {
    acceptor *a;
    MUST(weft_task_new(&a, rt, acceptor_poll));
    if (!a) return NULL;
    a->l = l;
    return weft_task_spawn(a);
}

/* The resource errors the acceptor behind h has reported so far. */
static int reports_of(weft_task *h) { return ((acceptor *)weft_task_frame(h))->reports; }

typedef struct cancel_test {
    weft_frame fr;
    weft_tcp_listener *l;
    weft_addr addr;
    weft_task *h;
    int i, status, second_fd;
    weft_rt_stats parked, after_cancel, after_second;
    acceptor first, second;
} cancel_test;

weft_async_fn(cancel_test_poll, cancel_test) {
    weft_async (self) {
        self->h = spawn_acceptor(cx->rt, self->l);
        if (!self->h) weft_return;
        /* It reports EMFILE, accepts again and parks on the backoff timer
         * (the clock does not move: we never let the runtime go idle). */
        YIELD_UNTIL(reports_of(self->h) == 1, 100);
        weft_yield();
        weft_rt_stats_get(cx->rt, &self->parked);
        weft_task_abort(self->h);
        weft_await(weft_join(self->h, cx, &self->status));
        self->first = *(acceptor *)weft_task_frame(self->h);
        weft_task_release(self->h);
        self->h = NULL;
        weft_rt_stats_get(cx->rt, &self->after_cancel);
        /* Descriptors again; one more client (valgrind lost the first). */
        unlimit_fds();
        self->second_fd = client(&self->addr, "x");
        self->h = spawn_acceptor(cx->rt, self->l);
        if (!self->h) weft_return;
        weft_await(weft_join(self->h, cx, NULL));
        self->second = *(acceptor *)weft_task_frame(self->h);
        weft_task_release(self->h);
        self->h = NULL;
        weft_rt_stats_get(cx->rt, &self->after_second);
    weft_finally:
        if (self->h) weft_task_release(self->h);
    }
    return WEFT_READY;
}

static void cancel_accept_waiting_in_backoff_releases_the_timer(void) {
    weft_rt *rt = new_paused_rt();
    CHECK(rt);
    cancel_test t = {.second_fd = -1};
    t.l = listen_v4(BACKLOG, &t.addr);
    CHECK(t.l);
    int c = client(&t.addr, "x");
    CHECK(c >= 0);
    CHECK_EQ(limit_fds(0), 0);
    int r = weft_block_on(rt, cancel_test_poll, &t);
    unlimit_fds();
    CHECK_EQ(r, 0);
    CHECK_EQ(t.first.reports, 1);
    CHECK_EQ(t.first.status, -EMFILE);
    CHECK_EQ(t.parked.timers, 1); /* the listener's backoff timer */
    CHECK_EQ(t.status, -ECANCELED);
    CHECK_EQ(t.after_cancel.timers, 0); /* released by the cancel */
    CHECK_EQ(t.after_cancel.tasks_held, 1); /* no waker of the victim kept */
    CHECK(t.second_fd >= 0);
    /* The episode went on: no second report; the accept waited out the
     * backoff (5 ms from the report at 0) and then got a connection. */
    CHECK_EQ(t.second.reports, 0);
    CHECK_EQ(t.second.status, 0);
    CHECK_EQ(t.second.accepted, 1);
    CHECK_EQ(t.second.accepted_at, 5);
    CHECK_EQ(t.after_second.timers, 0);
    close(c);
    close(t.second_fd);
    weft_tcp_listener_close(t.l);
    CHECK_EQ(stats(rt).io_registered, 0);
    weft_rt_free(rt);
}

/* The first accept reports EMFILE; the next waits on a 1 s backoff under a
 * 100 ms timeout, which cancels it; then the listener, still in its episode,
 * is closed from the task. */
typedef struct close_test {
    weft_frame fr;
    weft_tcp_listener *l;
    weft_tcp *sock;
    int first, second;
    weft_timeout_op to;
    int to_err; /* the timeout's result */
    weft_rt_stats waiting, after_timeout, after_close;
    weft_instant timed_out_at;
} close_test;

weft_async_fn(close_test_poll, close_test) {
    weft_async (self) {
        weft_await(weft_tcp_accept(self->l, cx, &self->sock, NULL, &self->first));
        self->second = 1;
        weft_await(weft_timeout(&self->to, 100, &self->to_err,
                                weft_tcp_accept(self->l, cx, &self->sock, NULL, &self->second)));
        self->timed_out_at = weft_now(cx->rt);
        weft_rt_stats_get(cx->rt, &self->after_timeout);
        weft_tcp_listener_close(self->l);
        self->l = NULL;
        weft_rt_stats_get(cx->rt, &self->after_close);
    }
    return WEFT_READY;
}

static void close_listener_in_backoff_is_clean(void) {
    weft_rt *rt = new_paused_rt();
    CHECK(rt);
    weft_addr addr;
    close_test t = {0};
    t.l = listen_v4(BACKLOG, &addr);
    CHECK(t.l);
    CHECK_EQ(weft_tcp_listener_set_backoff(t.l, 1000, 1000), 0);
    int c = client(&addr, "x");
    CHECK(c >= 0);
    CHECK_EQ(limit_fds(0), 0);
    int r = weft_block_on(rt, close_test_poll, &t);
    unlimit_fds();
    CHECK_EQ(r, 0);
    CHECK_EQ(t.first, -EMFILE);
    CHECK_EQ(t.to_err, -ETIMEDOUT);
    CHECK_EQ(t.second, 1); /* not completed */
    CHECK_EQ(t.timed_out_at, 100);
    CHECK_EQ(t.after_timeout.timers, 0); /* the timeout's and the backoff's */
    CHECK(t.l == NULL);
    CHECK_EQ(t.after_close.io_registered, 0);
    CHECK_EQ(t.after_close.timers, 0);
    close(c);
    weft_rt_free(rt);
}

/* The runtime is freed while a task waits on the backoff timer: the task is
 * cancelled (releasing the timer), and the listener, detached, is closed
 * afterwards. */
typedef struct park_acceptor {
    weft_frame fr;
    weft_tcp_listener *l;
    weft_task *h;
    int i;
} park_acceptor;

weft_async_fn(park_acceptor_poll, park_acceptor) {
    weft_async (self) {
        self->h = spawn_acceptor(cx->rt, self->l);
        if (!self->h) weft_return;
        YIELD_UNTIL(reports_of(self->h) == 1, 100);
        weft_yield();
    }
    return WEFT_READY;
}

static void free_runtime_with_accept_in_backoff_then_close(void) {
    weft_rt *rt = new_paused_rt();
    CHECK(rt);
    weft_addr addr;
    park_acceptor t = {0};
    t.l = listen_v4(BACKLOG, &addr);
    CHECK(t.l);
    int c = client(&addr, "x");
    CHECK(c >= 0);
    CHECK_EQ(limit_fds(0), 0);
    int r = weft_block_on(rt, park_acceptor_poll, &t);
    unlimit_fds();
    CHECK_EQ(r, 0);
    CHECK(t.h);
    acceptor *a = weft_task_frame(t.h);
    CHECK_EQ(a->reports, 1);
    CHECK(!weft_task_is_finished(t.h));
    CHECK_EQ(stats(rt).timers, 1);
    weft_rt_free(rt);
    CHECK(weft_task_is_finished(t.h));
    weft_task_release(t.h);
    weft_tcp_listener_close(t.l);
    close(c);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(accept_exhausted_names_the_resource_errors),
            TEST(accept_backs_off_while_out_of_descriptors_and_recovers),
                         TEST(accept_backoff_doubles_from_5_to_500_ms),
                         TEST(accept_backoff_follows_set_backoff),
                         TEST(set_backoff_rejects_bad_bounds),
                         TEST(accept_reports_a_new_episode_again),
                         TEST(cancel_accept_waiting_in_backoff_releases_the_timer),
                         TEST(close_listener_in_backoff_is_clean),
                         TEST(free_runtime_with_accept_in_backoff_then_close),
                         {0},
                     });
}
