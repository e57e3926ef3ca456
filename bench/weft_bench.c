/*
 * bench/weft_bench.c - weft-bench: the standard workloads of the benchmark
 * contract (../shared/bench.md), one figure per line:
 *
 *     weft-bench WORKLOAD [N] [--threads T]
 *
 * Workloads: spawn, alive, pingpong, oneshot, mpsc, timers, echo-server PORT,
 * http-server PORT.  T = 0 (or absent) is the current-thread runtime, the only
 * one so far.  Benchmarks never decide a test; tests never time anything.
 */
#define _GNU_SOURCE
#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report(const char *name, uint64_t ops, double secs) {
    printf("%s: %llu ops in %.3fs = %.0f ops/s (%.1f ns/op)\n", name, (unsigned long long)ops,
           secs, (double)ops / secs, secs * 1e9 / (double)ops);
    fflush(stdout);
}

static void print_rss(const char *what) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            printf("%s: %s", what, line);
            break;
        }
    }
    if (f) fclose(f);
    fflush(stdout);
}

static void die(const char *what, int err) {
    fprintf(stderr, "weft-bench: %s: %s\n", what, weft_strerror(err));
    exit(1);
}

static uint64_t N;

/* ---- spawn: N tasks return their index; join all in order ---------------- */

typedef struct ret_index {
    weft_frame fr;
    uint64_t i, out;
} ret_index;

weft_async_fn(ret_index_poll, ret_index) {
    weft_async (self) {
        self->out = self->i;
    }
    return WEFT_READY;
}

typedef struct spawn_bench {
    weft_frame fr;
    weft_task **h;
    uint64_t i, sum;
} spawn_bench;

weft_async_fn(spawn_bench_poll, spawn_bench) {
    weft_async (self) {
        for (self->i = 0; self->i < N; self->i++) {
            ret_index *t;
            if (weft_task_new(&t, cx->rt, ret_index_poll) < 0) die("spawn", -ENOMEM);
            t->i = self->i;
            self->h[self->i] = weft_task_spawn(t);
        }
        for (self->i = 0; self->i < N; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            self->sum += ((ret_index *)weft_task_frame(self->h[self->i]))->out;
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void bench_spawn(weft_rt *rt) {
    spawn_bench b = {.h = malloc(N * sizeof(weft_task *))};
    double t0 = now_s();
    weft_block_on(rt, spawn_bench_poll, &b);
    double t = now_s() - t0;
    if (b.sum != N * (N - 1) / 2) die("spawn: wrong sum", -EINVAL);
    report("spawn_join", N, t);
    free(b.h);
}

/* ---- alive: N tasks park on one notify; RSS; release; join --------------- */

typedef struct parked {
    weft_frame fr;
    weft_notify *signal;
    weft_notified_op op;
} parked;

weft_async_fn(parked_poll, parked) {
    weft_async (self) {
        weft_await(weft_notified(self->signal, cx, &self->op));
    }
    return WEFT_READY;
}

typedef struct alive_bench {
    weft_frame fr;
    weft_notify signal;
    weft_task **h;
    uint64_t i;
} alive_bench;

weft_async_fn(alive_bench_poll, alive_bench) {
    weft_async (self) {
        for (self->i = 0; self->i < N; self->i++) {
            parked *p;
            if (weft_task_new(&p, cx->rt, parked_poll) < 0) die("alive", -ENOMEM);
            p->signal = &self->signal;
            self->h[self->i] = weft_task_spawn(p);
        }
        weft_yield(); /* behind all of them: when we run again, all parked */
        {
            char what[128];
            snprintf(what, sizeof what, "spawn_alive rss with %llu parked tasks",
                     (unsigned long long)N);
            print_rss(what);
        }
        weft_notify_waiters(&self->signal);
        for (self->i = 0; self->i < N; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void bench_alive(weft_rt *rt) {
    alive_bench b = {.h = malloc(N * sizeof(weft_task *))};
    double t0 = now_s();
    weft_block_on(rt, alive_bench_poll, &b);
    report("spawn_alive", N, now_s() - t0);
    free(b.h);
}

/* ---- pingpong: two tasks bounce a counter over two capacity-1 channels --- */

typedef struct pinger {
    weft_frame fr;
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    weft_mpsc_send_op op;
    uint64_t i, v;
    int st;
    int first; /* the pinger sends first */
} pinger;

weft_async_fn(pinger_poll, pinger) {
    weft_async (self) {
        for (self->i = 0; self->i < N; self->i++) {
            if (self->first) {
                self->v = self->i;
                weft_await(weft_mpsc_send(self->tx, cx, &self->op, &self->v, &self->st));
                weft_await(weft_mpsc_recv(self->rx, cx, &self->v, &self->st));
                if (self->v != self->i + 1) die("pingpong: wrong value", -EINVAL);
            } else {
                weft_await(weft_mpsc_recv(self->rx, cx, &self->v, &self->st));
                self->v++;
                weft_await(weft_mpsc_send(self->tx, cx, &self->op, &self->v, &self->st));
            }
        }
    }
    return WEFT_READY;
}

typedef struct pair_bench {
    weft_frame fr;
    weft_task *a, *b;
} pair_bench;

weft_async_fn(pair_bench_poll, pair_bench) {
    weft_async (self) {
        weft_await(weft_join(self->a, cx, NULL));
        weft_await(weft_join(self->b, cx, NULL));
    }
    return WEFT_READY;
}

static void bench_pingpong(weft_rt *rt) {
    weft_mpsc_tx *t1, *t2;
    weft_mpsc_rx *r1, *r2;
    if (weft_mpsc_new(&t1, &r1, 1, sizeof(uint64_t), NULL) < 0 ||
        weft_mpsc_new(&t2, &r2, 1, sizeof(uint64_t), NULL) < 0)
        die("pingpong", -ENOMEM);
    pinger *a;
    if (weft_task_new(&a, rt, pinger_poll) < 0) die("spawn", -ENOMEM);
    pinger *b;
    if (weft_task_new(&b, rt, pinger_poll) < 0) die("spawn", -ENOMEM);
    a->tx = t1;
    a->rx = r2;
    a->first = 1;
    b->tx = t2;
    b->rx = r1;
    pair_bench p = {0};
    double t0 = now_s();
    p.a = weft_task_spawn(a);
    p.b = weft_task_spawn(b);
    weft_block_on(rt, pair_bench_poll, &p);
    report("ping_pong", N, now_s() - t0);
    weft_task_release(p.a);
    weft_task_release(p.b);
    weft_mpsc_tx_drop(t1);
    weft_mpsc_tx_drop(t2);
    weft_mpsc_rx_drop(r1);
    weft_mpsc_rx_drop(r2);
}

/* ---- oneshot: N times, a task sends its index on a fresh oneshot --------- */

typedef struct one_sender {
    weft_frame fr;
    weft_oneshot_tx *tx;
    uint64_t v;
} one_sender;

weft_async_fn(one_sender_poll, one_sender) {
    weft_async (self) {
        weft_oneshot_send(self->tx, &self->v);
    }
    return WEFT_READY;
}

typedef struct oneshot_bench {
    weft_frame fr;
    weft_oneshot_rx *rx;
    uint64_t i, v;
    int st;
} oneshot_bench;

weft_async_fn(oneshot_bench_poll, oneshot_bench) {
    weft_async (self) {
        for (self->i = 0; self->i < N; self->i++) {
            {
                weft_oneshot_tx *tx;
                if (weft_oneshot_new(&tx, &self->rx, sizeof(uint64_t), NULL) < 0)
                    die("oneshot", -ENOMEM);
                one_sender *s;
                if (weft_task_new(&s, cx->rt, one_sender_poll) < 0) die("spawn", -ENOMEM);
                s->tx = tx;
                s->v = self->i;
                weft_task_spawn_detached(s);
            }
            weft_await(weft_oneshot_recv(self->rx, cx, &self->v, &self->st));
            if (self->st || self->v != self->i) die("oneshot: wrong value", -EINVAL);
            weft_oneshot_rx_drop(self->rx);
        }
    }
    return WEFT_READY;
}

static void bench_oneshot(weft_rt *rt) {
    oneshot_bench *d;
    if (weft_task_new(&d, rt, oneshot_bench_poll) < 0) die("spawn", -ENOMEM);
    pair_bench p = {0};
    double t0 = now_s();
    p.a = p.b = weft_task_spawn(d);
    weft_block_on(rt, pair_bench_poll, &p);
    report("oneshot_spawn", N, now_s() - t0);
    weft_task_release(p.a);
}

/* ---- mpsc: 4 producers x N values into one channel of capacity 1024 ------ */

typedef struct producer {
    weft_frame fr;
    weft_mpsc_tx *tx;
    weft_mpsc_send_op op;
    uint64_t i;
    int st;
} producer;

weft_async_fn(producer_poll, producer) {
    weft_async (self) {
        for (self->i = 0; self->i < N; self->i++)
            weft_await(weft_mpsc_send(self->tx, cx, &self->op, &self->i, &self->st));
        weft_mpsc_tx_drop(self->tx);
    }
    return WEFT_READY;
}

typedef struct consumer {
    weft_frame fr;
    weft_mpsc_rx *rx;
    uint64_t v, count;
    int st;
} consumer;

weft_async_fn(consumer_poll, consumer) {
    weft_async (self) {
        for (;;) {
            weft_await(weft_mpsc_recv(self->rx, cx, &self->v, &self->st));
            if (self->st) break;
            self->count++;
        }
    }
    return WEFT_READY;
}

static void bench_mpsc(weft_rt *rt) {
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    if (weft_mpsc_new(&tx, &rx, 1024, sizeof(uint64_t), NULL) < 0) die("mpsc", -ENOMEM);
    double t0 = now_s();
    for (int p = 0; p < 4; p++) {
        producer *pr;
        if (weft_task_new(&pr, rt, producer_poll) < 0) die("spawn", -ENOMEM);
        pr->tx = p == 0 ? tx : weft_mpsc_tx_clone(tx);
        weft_task_spawn_detached(pr);
    }
    consumer c = {.rx = rx};
    weft_block_on(rt, consumer_poll, &c);
    if (c.count != 4 * N) die("mpsc: wrong count", -EINVAL);
    report("mpsc", 4 * N, now_s() - t0);
    weft_mpsc_rx_drop(rx);
}

/* ---- mutex: 4 tasks x N lock/unlock, incrementing a shared counter ------ */

typedef struct mutex_shared {
    weft_mutex m;
    uint64_t count;
} mutex_shared;

typedef struct mutex_worker {
    weft_frame fr;
    mutex_shared *sh;
    weft_mutex_guard g;
    uint64_t i;
} mutex_worker;

weft_async_fn(mutex_worker_poll, mutex_worker) {
    weft_async (self) {
        for (self->i = 0; self->i < N; self->i++) {
            weft_await(weft_mutex_lock(&self->sh->m, cx, &self->g));
            self->sh->count++;
            weft_mutex_unlock(&self->g);
        }
    }
    return WEFT_READY;
}

typedef struct mutex_main {
    weft_frame fr;
    mutex_shared *sh;
    weft_task *h[4];
    int i;
} mutex_main;

weft_async_fn(mutex_main_poll, mutex_main) {
    weft_async (self) {
        for (self->i = 0; self->i < 4; self->i++) {
            mutex_worker *w;
            if (weft_task_new(&w, cx->rt, mutex_worker_poll) < 0) die("mutex", -ENOMEM);
            w->sh = self->sh;
            self->h[self->i] = weft_task_spawn(w);
        }
        for (self->i = 0; self->i < 4; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void bench_mutex(weft_rt *rt) {
    mutex_shared sh = {.m = WEFT_MUTEX_INIT};
    mutex_main m = {.sh = &sh};
    double t0 = now_s();
    weft_block_on(rt, mutex_main_poll, &m);
    if (sh.count != 4 * N) die("mutex: wrong count", -EINVAL);
    report("mutex", 4 * N, now_s() - t0);
}

/* ---- broadcast: 1 sender, 100 receivers, N values, capacity 1024 --------- */

#define BC_RX 100

typedef struct bc_receiver {
    weft_frame fr;
    weft_broadcast_rx *rx;
    uint64_t v, missed, count, lagged;
    int st;
} bc_receiver;

weft_async_fn(bc_receiver_poll, bc_receiver) {
    weft_async (self) {
        for (;;) {
            weft_await(weft_broadcast_recv(self->rx, cx, &self->v, &self->missed, &self->st));
            if (self->st == -EOVERFLOW) {
                self->count += self->missed; /* lagged: counted, as bench.md says */
                self->lagged += self->missed;
                continue;
            }
            if (self->st) break;
            self->count++;
        }
        weft_broadcast_rx_drop(self->rx);
    }
    return WEFT_READY;
}

typedef struct bc_main {
    weft_frame fr;
    weft_broadcast_tx *tx;
    weft_task *h[BC_RX];
    uint64_t i, total, lagged;
    int k;
} bc_main;

weft_async_fn(bc_main_poll, bc_main) {
    weft_async (self) {
        for (self->k = 0; self->k < BC_RX; self->k++) {
            bc_receiver *r;
            if (weft_task_new(&r, cx->rt, bc_receiver_poll) < 0) die("broadcast", -ENOMEM);
            if (weft_broadcast_subscribe(&r->rx, self->tx) < 0) die("broadcast", -ENOMEM);
            self->h[self->k] = weft_task_spawn(r);
        }
        for (self->i = 0; self->i < N; self->i++) {
            if (weft_broadcast_send(self->tx, &self->i) < 0) die("broadcast: send", -EPIPE);
            if ((self->i & 511) == 511) weft_yield();
        }
        weft_broadcast_tx_drop(self->tx);
        for (self->k = 0; self->k < BC_RX; self->k++) {
            weft_await(weft_join(self->h[self->k], cx, NULL));
            {
                bc_receiver *r = weft_task_frame(self->h[self->k]);
                self->total += r->count;
                self->lagged += r->lagged;
            }
            weft_task_release(self->h[self->k]);
        }
    }
    return WEFT_READY;
}

static void bench_broadcast(weft_rt *rt) {
    bc_main m = {0};
    if (weft_broadcast_new(&m.tx, NULL, 1024, sizeof(uint64_t), NULL, NULL) < 0)
        die("broadcast", -ENOMEM);
    double t0 = now_s();
    weft_block_on(rt, bc_main_poll, &m);
    if (m.total != BC_RX * N) die("broadcast: wrong total", -EINVAL);
    double t = now_s() - t0;
    report("broadcast", BC_RX * N, t);
    /* Lagged values count as deliveries (bench.md); say how many they were
     * and what a value that was really received cost. */
    uint64_t got = m.total - m.lagged;
    printf("broadcast lagged: %llu of %llu deliveries (%.1f ns per value received)\n",
           (unsigned long long)m.lagged, (unsigned long long)m.total,
           got ? t * 1e9 / (double)got : 0.0);
}

/* ---- watch: 100 receivers wait on changed, N updates --------------------- */

#define WATCH_RX 100

typedef struct w_receiver {
    weft_frame fr;
    weft_watch_rx *rx;
    uint64_t deliveries;
    int st;
} w_receiver;

weft_async_fn(w_receiver_poll, w_receiver) {
    weft_async (self) {
        for (;;) {
            weft_await(weft_watch_changed(self->rx, cx, &self->st));
            if (self->st) break;
            self->deliveries++;
        }
        weft_watch_rx_drop(self->rx);
    }
    return WEFT_READY;
}

typedef struct w_main {
    weft_frame fr;
    weft_watch_tx *tx;
    weft_watch_rx *rx0;
    weft_task *h[WATCH_RX];
    uint64_t i, deliveries;
    int k;
} w_main;

weft_async_fn(w_main_poll, w_main) {
    weft_async (self) {
        for (self->k = 0; self->k < WATCH_RX; self->k++) {
            w_receiver *r;
            if (weft_task_new(&r, cx->rt, w_receiver_poll) < 0) die("watch", -ENOMEM);
            if (self->k == 0)
                r->rx = self->rx0;
            else if (weft_watch_subscribe(&r->rx, self->tx) < 0)
                die("watch", -ENOMEM);
            self->h[self->k] = weft_task_spawn(r);
        }
        weft_yield(); /* every receiver waits */
        for (self->i = 1; self->i <= N; self->i++) {
            if (weft_watch_send(self->tx, &self->i) < 0) die("watch: send", -EPIPE);
            weft_yield();
        }
        weft_watch_tx_drop(self->tx);
        for (self->k = 0; self->k < WATCH_RX; self->k++) {
            weft_await(weft_join(self->h[self->k], cx, NULL));
            self->deliveries += ((w_receiver *)weft_task_frame(self->h[self->k]))->deliveries;
            weft_task_release(self->h[self->k]);
        }
    }
    return WEFT_READY;
}

static void bench_watch(weft_rt *rt) {
    w_main m = {0};
    uint64_t zero = 0;
    if (weft_watch_new(&m.tx, &m.rx0, sizeof(uint64_t), &zero, NULL, NULL) < 0)
        die("watch", -ENOMEM);
    double t0 = now_s();
    weft_block_on(rt, w_main_poll, &m);
    report("watch", N, now_s() - t0);
    printf("watch deliveries: %llu\n", (unsigned long long)m.deliveries);
}

/* ---- timers: N tasks sleep 1..1000 ms (xorshift), join all --------------- */

typedef struct sleeper {
    weft_frame fr;
    uint64_t ms;
    weft_sleep_op sl;
} sleeper;

weft_async_fn(sleeper_poll, sleeper) {
    weft_async (self) {
        weft_await(weft_sleep(&self->sl, cx, self->ms));
    }
    return WEFT_READY;
}

typedef struct timers_bench {
    weft_frame fr;
    weft_task **h;
    uint64_t i, x;
} timers_bench;

weft_async_fn(timers_bench_poll, timers_bench) {
    weft_async (self) {
        for (self->i = 0; self->i < N; self->i++) {
            self->x ^= self->x << 13;
            self->x ^= self->x >> 7;
            self->x ^= self->x << 17;
            sleeper *s;
            if (weft_task_new(&s, cx->rt, sleeper_poll) < 0) die("timers", -ENOMEM);
            s->ms = 1 + self->x % 1000;
            self->h[self->i] = weft_task_spawn(s);
        }
        for (self->i = 0; self->i < N; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void bench_timers(weft_rt *rt) {
    timers_bench b = {.h = malloc(N * sizeof(weft_task *)), .x = 88172645463325252ull};
    double t0 = now_s();
    weft_block_on(rt, timers_bench_poll, &b);
    report("timers_1s", N, now_s() - t0);
    free(b.h);
}

/* ---- TCP servers ---------------------------------------------------------- */

typedef struct echo_conn {
    weft_frame fr;
    weft_tcp *sock;
    char buf[4096];
    int n; /* bytes read or written, or a negative errno */
    weft_write_op wr;
} echo_conn;

weft_async_fn(echo_conn_poll, echo_conn) {
    weft_async (self) {
        for (;;) {
            weft_await(weft_tcp_read(self->sock, cx, self->buf, sizeof self->buf, &self->n));
            if (self->n <= 0) break;
            weft_await(weft_tcp_write_all(self->sock, cx, &self->wr, self->buf,
                                          (size_t)self->n, &self->n));
            if (self->n < 0) break;
        }
    weft_finally:
        weft_tcp_close(self->sock);
    }
    return WEFT_READY;
}

static const char HTTP_RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
                                    "Content-Type: text/plain\r\n\r\nHello, World!";

typedef struct http_conn {
    weft_frame fr;
    weft_tcp *sock;
    char buf[4096];
    char out[4096];
    size_t have, outlen;
    int n; /* bytes read or written, or a negative errno */
    weft_write_op wr;
} http_conn;

/* Count complete requests in buf[0, have), keep the partial tail. */
static size_t http_take_requests(http_conn *c) {
    size_t reqs = 0, pos = 0;
    for (;;) {
        char *end = memmem(c->buf + pos, c->have - pos, "\r\n\r\n", 4);
        if (!end) break;
        pos = (size_t)(end - c->buf) + 4;
        reqs++;
    }
    memmove(c->buf, c->buf + pos, c->have - pos);
    c->have -= pos;
    return reqs;
}

weft_async_fn(http_conn_poll, http_conn) {
    weft_async (self) {
        for (;;) {
            if (self->have == sizeof self->buf) break; /* request too large */
            weft_await(weft_tcp_read(self->sock, cx, self->buf + self->have,
                                     sizeof self->buf - self->have, &self->n));
            if (self->n <= 0) break;
            self->have += (size_t)self->n;
            {
                size_t reqs = http_take_requests(self);
                self->outlen = 0;
                while (reqs--) {
                    if (self->outlen + sizeof HTTP_RESPONSE - 1 > sizeof self->out) break;
                    memcpy(self->out + self->outlen, HTTP_RESPONSE, sizeof HTTP_RESPONSE - 1);
                    self->outlen += sizeof HTTP_RESPONSE - 1;
                }
            }
            if (self->outlen) {
                weft_await(weft_tcp_write_all(self->sock, cx, &self->wr, self->out,
                                              self->outlen, &self->n));
                if (self->n < 0) break;
            }
        }
    weft_finally:
        weft_tcp_close(self->sock);
    }
    return WEFT_READY;
}

typedef struct acceptor {
    weft_frame fr;
    weft_tcp_listener *l;
    int http;
    weft_tcp *sock;
    int st;
} acceptor;

weft_async_fn(acceptor_poll, acceptor) {
    weft_async (self) {
        for (;;) {
            weft_await(weft_tcp_accept(self->l, cx, &self->sock, NULL, &self->st));
            if (self->st < 0) continue;
            weft_tcp_set_nodelay(self->sock, 1);
            if (self->http) {
                http_conn *c;
                if (weft_task_new(&c, cx->rt, http_conn_poll) < 0) {
                    weft_tcp_close(self->sock);
                    continue;
                }
                c->sock = self->sock;
                weft_task_spawn_detached(c);
            } else {
                echo_conn *c;
                if (weft_task_new(&c, cx->rt, echo_conn_poll) < 0) {
                    weft_tcp_close(self->sock);
                    continue;
                }
                c->sock = self->sock;
                weft_task_spawn_detached(c);
            }
        }
    }
    return WEFT_READY;
}

static void serve(weft_rt *rt, const char *port, int http) {
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%s", port);
    acceptor a = {.http = http};
    int r = weft_tcp_listen_str(&a.l, addr, 4096);
    if (r < 0) die(addr, r);
    fprintf(stderr, "weft-bench: %s server on %s\n", http ? "http" : "echo", addr);
    weft_block_on(rt, acceptor_poll, &a);
}

/* ---- main ----------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr,
            "usage: weft-bench WORKLOAD [N] [--threads T]\n"
            "  spawn [1000000]       spawn N tasks, join all in order\n"
            "  alive [1000000]       N tasks parked on one notify: RSS\n"
            "  pingpong [1000000]    round trips over two capacity-1 mpsc channels\n"
            "  oneshot [1000000]     create a oneshot, spawn a sender, await it\n"
            "  mpsc [2500000]        4 producers x N values, capacity 1024\n"
            "  timers [100000]       N tasks sleep 1..1000 ms\n"
            "  mutex [1000000]       4 tasks x N lock/unlock of one async mutex\n"
            "  broadcast [100000]    1 sender, 100 receivers, capacity 1024\n"
            "  watch [100000]        100 receivers wait on changed, N updates\n"
            "  echo-server PORT      TCP echo server on 127.0.0.1:PORT\n"
            "  http-server PORT      minimal HTTP/1.1 server on 127.0.0.1:PORT\n"
            "join_all, select and buffer_unordered need\n"
            "primitives that are not built yet.\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    const char *w = argv[1];
    const char *arg = NULL;
    long threads = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = strtol(argv[++i], NULL, 10);
        else
            arg = argv[i];
    }
    if (threads != 0) {
        fprintf(stderr, "weft-bench: the multi-thread runtime is not built yet (--threads %ld)\n",
                threads);
        return 2;
    }
    weft_rt *rt;
    int r = weft_rt_new(&rt, NULL);
    if (r < 0) die("runtime", r);
    uint64_t def = 1000000;
    if (strcmp(w, "mpsc") == 0) def = 2500000;
    if (strcmp(w, "timers") == 0 || strcmp(w, "watch") == 0 || strcmp(w, "broadcast") == 0)
        def = 100000;
    N = arg ? strtoull(arg, NULL, 10) : def;
    if (N == 0) N = def;
    if (strcmp(w, "spawn") == 0)
        bench_spawn(rt);
    else if (strcmp(w, "alive") == 0)
        bench_alive(rt);
    else if (strcmp(w, "pingpong") == 0)
        bench_pingpong(rt);
    else if (strcmp(w, "oneshot") == 0)
        bench_oneshot(rt);
    else if (strcmp(w, "mpsc") == 0)
        bench_mpsc(rt);
    else if (strcmp(w, "timers") == 0)
        bench_timers(rt);
    else if (strcmp(w, "mutex") == 0)
        bench_mutex(rt);
    else if (strcmp(w, "watch") == 0)
        bench_watch(rt);
    else if (strcmp(w, "broadcast") == 0)
        bench_broadcast(rt);
    else if (strcmp(w, "echo-server") == 0 && arg)
        serve(rt, arg, 0);
    else if (strcmp(w, "http-server") == 0 && arg)
        serve(rt, arg, 1);
    else if (strcmp(w, "join_all") == 0 || strcmp(w, "select") == 0 ||
             strcmp(w, "buffer_unordered") == 0) {
        fprintf(stderr, "weft-bench: %s needs primitives that are not built yet\n", w);
        weft_rt_free(rt);
        return 2;
    } else
        usage();
    weft_rt_free(rt);
    return 0;
}
