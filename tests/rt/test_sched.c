/*
 * tests/rt/test_sched.c - scheduling: the LIFO slot, the cooperative budget,
 * yield, fairness towards the reactor, wakes from other threads.
 */
#include <weft.h>

#include "gate.h"
#include "test.h"
#include "rt/flavour.h"

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static char order[64];
static int norder;

static void mark(char c) {
    if (norder < (int)sizeof order - 1) order[norder++] = c;
    order[norder] = '\0';
}

static weft_rt *new_rt(const weft_rt_config *cfg) { return test_rt_new(cfg); }

/* ---- LIFO slot ------------------------------------------------------------ */

typedef struct marker {
    weft_frame fr;
    char name;
    gate *wait_on; /* optional: park here first */
    gate *open;    /* optional: open this when run */
} marker;

weft_async_fn(marker_poll, marker) {
    weft_async (self) {
        if (self->wait_on) weft_await(gate_wait(self->wait_on, cx));
        mark(self->name);
        if (self->open) gate_open(self->open);
    }
    return WEFT_READY;
}

typedef struct lifo_test {
    weft_frame fr;
    gate g;
    weft_task *h[3];
    int i;
} lifo_test;

weft_async_fn(lifo_test_poll, lifo_test) {
    weft_async (self) {
        {
            marker *c;
            MUST(weft_task_new(&c, cx->rt, marker_poll));
            c->name = 'C';
            c->wait_on = &self->g;
            self->h[2] = weft_task_spawn(c);
        }
        weft_yield(); /* C parks on the gate */
        {
            marker *a;
            MUST(weft_task_new(&a, cx->rt, marker_poll));
            a->name = 'A';
            a->open = &self->g; /* wakes C while A is running */
            self->h[0] = weft_task_spawn(a);
            marker *b;
            MUST(weft_task_new(&b, cx->rt, marker_poll));
            b->name = 'B';
            self->h[1] = weft_task_spawn(b);
        }
        for (self->i = 0; self->i < 3; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void woken_task_runs_next_from_the_lifo_slot(void) {
    weft_rt *rt = new_rt(NULL);
    norder = 0;
    lifo_test t = {0};
    CHECK_EQ(weft_block_on(rt, lifo_test_poll, &t), 0);
    CHECK_STR(order, "ACB"); /* C, woken by A, jumps ahead of B */
    weft_rt_free(rt);
}

static void without_lifo_slot_the_woken_task_queues_behind(void) {
    weft_rt_config cfg = {.disable_lifo = 1};
    weft_rt *rt = new_rt(&cfg);
    norder = 0;
    lifo_test t = {0};
    CHECK_EQ(weft_block_on(rt, lifo_test_poll, &t), 0);
    CHECK_STR(order, "ABC");
    weft_rt_free(rt);
}

/* Two tasks that keep waking each other must not starve a third. */
typedef struct bouncer {
    weft_frame fr;
    gate *mine, *other;
    int rounds, i;
    int *other_ran_at; /* progress when the bystander ran */
    int *progress;
} bouncer;

weft_async_fn(bouncer_poll, bouncer) {
    weft_async (self) {
        for (self->i = 0; self->i < self->rounds; self->i++) {
            self->mine->open = 0;
            gate_open(self->other);
            (*self->progress)++;
            weft_await(gate_wait(self->mine, cx));
        }
        gate_open(self->other);
    }
    return WEFT_READY;
}

typedef struct bystander {
    weft_frame fr;
    int *progress;
    int ran_at;
} bystander;

weft_async_fn(bystander_poll, bystander) {
    weft_async (self) {
        self->ran_at = *self->progress;
    }
    return WEFT_READY;
}

typedef struct starve_test {
    weft_frame fr;
    gate ga, gb;
    int progress;
    weft_task *a, *b, *c;
} starve_test;

weft_async_fn(starve_test_poll, starve_test) {
    weft_async (self) {
        {
            bouncer *a;
            MUST(weft_task_new(&a, cx->rt, bouncer_poll));
            *a = (bouncer){.mine = &self->ga, .other = &self->gb, .rounds = 1000,
                           .progress = &self->progress};
            bouncer *b;
            MUST(weft_task_new(&b, cx->rt, bouncer_poll));
            *b = (bouncer){.mine = &self->gb, .other = &self->ga, .rounds = 1000,
                           .progress = &self->progress};
            self->a = weft_task_spawn(a);
            self->b = weft_task_spawn(b);
            bystander *c;
            MUST(weft_task_new(&c, cx->rt, bystander_poll));
            c->progress = &self->progress;
            c->ran_at = -1;
            self->c = weft_task_spawn(c);
        }
        weft_await(weft_join(self->a, cx, NULL));
        weft_await(weft_join(self->b, cx, NULL));
        weft_await(weft_join(self->c, cx, NULL));
    }
    return WEFT_READY;
}

static void lifo_slot_cannot_starve_the_queue(void) {
    weft_rt *rt = new_rt(NULL);
    starve_test t = {0};
    CHECK_EQ(weft_block_on(rt, starve_test_poll, &t), 0);
    bystander *c = weft_task_frame(t.c);
    CHECK(c->ran_at >= 0);
    CHECK(c->ran_at < 20); /* after at most a few LIFO rounds, not 2000 */
    weft_task_release(t.a);
    weft_task_release(t.b);
    weft_task_release(t.c);
    weft_rt_free(rt);
}

/* ---- the cooperative budget ---------------------------------------------- */

typedef struct hog {
    weft_frame fr;
    weft_mpsc_rx *rx;
    int v, st, n;
    int *seen_by_other; /* n when the other task ran */
} hog;

weft_async_fn(hog_poll, hog) {
    weft_async (self) {
        for (;;) {
            weft_await(weft_mpsc_recv(self->rx, cx, &self->v, &self->st));
            if (self->st) break;
            self->n++;
        }
    }
    return WEFT_READY;
}

typedef struct other {
    weft_frame fr;
    hog *h;
    int hog_n;
} other;

weft_async_fn(other_poll, other) {
    weft_async (self) {
        self->hog_n = self->h->n;
    }
    return WEFT_READY;
}

typedef struct coop_test {
    weft_frame fr;
    weft_task *hog_t, *other_t;
} coop_test;

weft_async_fn(coop_test_poll, coop_test) {
    weft_async (self) {
        weft_await(weft_join(self->other_t, cx, NULL));
        weft_await(weft_join(self->hog_t, cx, NULL));
    }
    return WEFT_READY;
}

static void budget_makes_an_always_ready_task_yield(void) {
    weft_rt *rt = new_rt(NULL);
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 1000, sizeof(int), NULL), 0);
    for (int i = 0; i < 1000; i++) CHECK_EQ(weft_mpsc_try_send(tx, &i), 0);
    weft_mpsc_tx_drop(tx);
    hog *h;
    MUST(weft_task_new(&h, rt, hog_poll));
    h->rx = rx;
    other *o;
    MUST(weft_task_new(&o, rt, other_poll));
    o->h = h;
    coop_test t = {0};
    t.hog_t = weft_task_spawn(h);
    t.other_t = weft_task_spawn(o);
    CHECK_EQ(weft_block_on(rt, coop_test_poll, &t), 0);
    CHECK_EQ(((other *)weft_task_frame(t.other_t))->hog_n, (int)WEFT_COOP_BUDGET);
    CHECK_EQ(((hog *)weft_task_frame(t.hog_t))->n, 1000);
    weft_task_release(t.hog_t);
    weft_task_release(t.other_t);
    weft_mpsc_rx_drop(rx);
    weft_rt_free(rt);
}

static void budget_is_configurable(void) {
    weft_rt_config cfg = {.budget = 10};
    weft_rt *rt = new_rt(&cfg);
    weft_mpsc_tx *tx;
    weft_mpsc_rx *rx;
    CHECK_EQ(weft_mpsc_new(&tx, &rx, 100, sizeof(int), NULL), 0);
    for (int i = 0; i < 100; i++) CHECK_EQ(weft_mpsc_try_send(tx, &i), 0);
    weft_mpsc_tx_drop(tx);
    hog *h;
    MUST(weft_task_new(&h, rt, hog_poll));
    h->rx = rx;
    other *o;
    MUST(weft_task_new(&o, rt, other_poll));
    o->h = h;
    coop_test t = {0};
    t.hog_t = weft_task_spawn(h);
    t.other_t = weft_task_spawn(o);
    CHECK_EQ(weft_block_on(rt, coop_test_poll, &t), 0);
    CHECK_EQ(((other *)weft_task_frame(t.other_t))->hog_n, 10);
    weft_task_release(t.hog_t);
    weft_task_release(t.other_t);
    weft_mpsc_rx_drop(rx);
    weft_rt_free(rt);
}

/* ---- yield --------------------------------------------------------------- */

typedef struct yielder {
    weft_frame fr;
    char name;
    int times, i;
} yielder;

weft_async_fn(yielder_poll, yielder) {
    weft_async (self) {
        for (self->i = 0; self->i < self->times; self->i++) {
            mark(self->name);
            weft_yield();
        }
    }
    return WEFT_READY;
}

typedef struct two {
    weft_frame fr;
    weft_task *a, *b;
} two;

weft_async_fn(two_poll, two) {
    weft_async (self) {
        weft_await(weft_join(self->a, cx, NULL));
        weft_await(weft_join(self->b, cx, NULL));
    }
    return WEFT_READY;
}

static void yield_goes_to_the_back_of_the_queue(void) {
    weft_rt *rt = new_rt(NULL);
    norder = 0;
    yielder *a;
    MUST(weft_task_new(&a, rt, yielder_poll));
    *a = (yielder){.name = 'a', .times = 3};
    yielder *b;
    MUST(weft_task_new(&b, rt, yielder_poll));
    *b = (yielder){.name = 'b', .times = 3};
    two t = {.a = weft_task_spawn(a), .b = weft_task_spawn(b)};
    CHECK_EQ(weft_block_on(rt, two_poll, &t), 0);
    CHECK_STR(order, "ababab");
    weft_task_release(t.a);
    weft_task_release(t.b);
    weft_rt_free(rt);
}

/* ---- the reactor is not starved by busy tasks ---------------------------- */

typedef struct spinner {
    weft_frame fr;
    int *stop;
    long spins;
} spinner;

weft_async_fn(spinner_poll, spinner) {
    weft_async (self) {
        while (!*self->stop) {
            self->spins++;
            weft_yield();
        }
    }
    return WEFT_READY;
}

typedef struct io_waiter {
    weft_frame fr;
    weft_tcp *sock;
    char buf[8];
    int n;
    int *stop;
} io_waiter;

weft_async_fn(io_waiter_poll, io_waiter) {
    weft_async (self) {
        weft_await(weft_tcp_read(self->sock, cx, self->buf, sizeof self->buf, &self->n));
        *self->stop = 1;
    }
    return WEFT_READY;
}

static void busy_tasks_do_not_starve_the_reactor(void) {
    weft_rt *rt = new_rt(NULL);
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    weft_tcp *s;
    CHECK_EQ(weft_tcp_from_fd(&s, sv[0]), 0);
    int stop = 0;
    io_waiter *w;
    MUST(weft_task_new(&w, rt, io_waiter_poll));
    w->sock = s;
    w->stop = &stop;
    spinner *sp;
    MUST(weft_task_new(&sp, rt, spinner_poll));
    sp->stop = &stop;
    two t = {.a = weft_task_spawn(w), .b = weft_task_spawn(sp)};
    /* The byte is there before the runtime starts; the first read finds it
     * only through the reactor if the optimistic read raced - either way the
     * spinner must stop. */
    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_EQ(weft_block_on(rt, two_poll, &t), 0);
    CHECK_EQ(((io_waiter *)weft_task_frame(t.a))->n, 1);
    weft_task_release(t.a);
    weft_task_release(t.b);
    weft_tcp_close(s);
    close(sv[1]);
    weft_rt_free(rt);
}

/* A byte written only after the waiter has parked must come via epoll. */
typedef struct late_writer {
    weft_frame fr;
    int fd;
    int yields, i;
} late_writer;

weft_async_fn(late_writer_poll, late_writer) {
    weft_async (self) {
        for (self->i = 0; self->i < self->yields; self->i++) weft_yield();
        if (write(self->fd, "y", 1) != 1) weft_return;
    }
    return WEFT_READY;
}

static void readiness_reaches_a_task_parked_while_others_spin(void) {
    weft_rt *rt = new_rt(NULL);
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    weft_tcp *s;
    CHECK_EQ(weft_tcp_from_fd(&s, sv[0]), 0);
    int stop = 0;
    io_waiter *w;
    MUST(weft_task_new(&w, rt, io_waiter_poll));
    w->sock = s;
    w->stop = &stop;
    spinner *sp;
    MUST(weft_task_new(&sp, rt, spinner_poll));
    sp->stop = &stop;
    late_writer *lw;
    MUST(weft_task_new(&lw, rt, late_writer_poll));
    lw->fd = sv[1];
    lw->yields = 5;
    weft_task_spawn_detached(lw);
    two t = {.a = weft_task_spawn(w), .b = weft_task_spawn(sp)};
    CHECK_EQ(weft_block_on(rt, two_poll, &t), 0);
    CHECK_EQ(((io_waiter *)weft_task_frame(t.a))->n, 1);
    weft_rt_stats st;
    weft_rt_stats_get(rt, &st);
    CHECK(st.turns > 0);
    weft_task_release(t.a);
    weft_task_release(t.b);
    weft_tcp_close(s);
    close(sv[1]);
    weft_rt_free(rt);
}

/* ---- wakes from other threads --------------------------------------------- */

#include <sched.h>
#include <stdatomic.h>

typedef struct notified_waiter {
    weft_frame fr;
    weft_notify *n;
    weft_notified_op op;
    int rounds, i;
    _Atomic int *acks;
} notified_waiter;

weft_async_fn(notified_waiter_poll, notified_waiter) {
    weft_async (self) {
        for (self->i = 0; self->i < self->rounds; self->i++) {
            weft_await(weft_notified(self->n, cx, &self->op));
            atomic_fetch_add(self->acks, 1);
        }
    }
    return WEFT_READY;
}

typedef struct notifier_arg {
    weft_notify *n;
    _Atomic int *acks;
    int rounds;
} notifier_arg;

/* One notification per round, each acknowledged before the next, so none
 * collapse into the single stored permit. */
static void *notifier_thread(void *p) {
    notifier_arg *a = p;
    for (int i = 0; i < a->rounds; i++) {
        weft_notify_one(a->n);
        while (atomic_load(a->acks) <= i) sched_yield();
    }
    return NULL;
}

static void wakes_from_another_thread_reach_a_parked_runtime(void) {
    weft_rt *rt = new_rt(NULL);
    weft_notify n = WEFT_NOTIFY_INIT;
    _Atomic int acks = 0;
    enum { ROUNDS = 300 };
    notified_waiter w = {.n = &n, .rounds = ROUNDS, .acks = &acks};
    notifier_arg a = {.n = &n, .acks = &acks, .rounds = ROUNDS};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, notifier_thread, &a), 0);
    CHECK_EQ(weft_block_on(rt, notified_waiter_poll, &w), 0);
    pthread_join(th, NULL);
    CHECK_EQ(w.i, ROUNDS);
    CHECK_EQ(atomic_load(&acks), ROUNDS);
    weft_rt_free(rt);
}

static void *wake_then_exit(void *p) {
    weft_notify_waiters(p);
    return NULL;
}

typedef struct parked_many {
    weft_frame fr;
    weft_notify *n;
    weft_notified_op op;
} parked_many;

weft_async_fn(parked_many_poll, parked_many) {
    weft_async (self) {
        weft_await(weft_notified(self->n, cx, &self->op));
    }
    return WEFT_READY;
}

typedef struct park_then_thread {
    weft_frame fr;
    weft_notify *n;
    weft_task *h;
    pthread_t th;
    int started;
} park_then_thread;

weft_async_fn(park_then_thread_poll, park_then_thread) {
    weft_async (self) {
        {
            parked_many *p;
            MUST(weft_task_new(&p, cx->rt, parked_many_poll));
            p->n = self->n;
            self->h = weft_task_spawn(p);
        }
        weft_yield(); /* it parks */
        self->started = pthread_create(&self->th, NULL, wake_then_exit, self->n) == 0;
        weft_await(weft_join(self->h, cx, NULL)); /* we park; the thread wakes it */
    }
    return WEFT_READY;
}

static void remote_wake_interrupts_epoll_wait(void) {
    for (int round = 0; round < 50; round++) {
        weft_rt *rt = new_rt(NULL);
        weft_notify n = WEFT_NOTIFY_INIT;
        park_then_thread t = {.n = &n};
        CHECK_EQ(weft_block_on(rt, park_then_thread_poll, &t), 0);
        CHECK(t.started);
        pthread_join(t.th, NULL);
        CHECK(weft_task_is_finished(t.h));
        weft_task_release(t.h);
        weft_rt_free(rt);
    }
}

/* A waker cloned by a task and kept by another thread outlives the runtime. */
static weft_waker *kept;

typedef struct keep_waker {
    weft_frame fr;
} keep_waker;

weft_async_fn(keep_waker_poll, keep_waker) {
    weft_async (self) {
        kept = weft_waker_clone(cx->waker);
    }
    return WEFT_READY;
}

static void *use_kept_waker(void *p) {
    (void)p;
    weft_waker_wake_by_ref(kept);
    weft_waker_wake(kept); /* consumes: the last reference frees the task */
    return NULL;
}

static void waker_outliving_its_runtime_is_safe_to_use(void) {
    weft_rt *rt = new_rt(NULL);
    keep_waker k = {0};
    CHECK_EQ(weft_block_on(rt, keep_waker_poll, &k), 0);
    CHECK(kept != NULL);
    weft_rt_free(rt);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, use_kept_waker, NULL), 0);
    pthread_join(th, NULL); /* ASan/valgrind: no use after free, no leak */
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(woken_task_runs_next_from_the_lifo_slot),
                         TEST(without_lifo_slot_the_woken_task_queues_behind),
                         TEST(lifo_slot_cannot_starve_the_queue),
                         TEST(budget_makes_an_always_ready_task_yield),
                         TEST(budget_is_configurable),
                         TEST(yield_goes_to_the_back_of_the_queue),
                         TEST(busy_tasks_do_not_starve_the_reactor),
                         TEST(readiness_reaches_a_task_parked_while_others_spin),
                         TEST(wakes_from_another_thread_reach_a_parked_runtime),
                         TEST(remote_wake_interrupts_epoll_wait),
                         TEST(waker_outliving_its_runtime_is_safe_to_use),
                         {0},
                     });
}
