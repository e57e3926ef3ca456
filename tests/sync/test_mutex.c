/*
 * tests/sync/test_mutex.c - the async Mutex and the fair RwLock: exclusion,
 * guards across awaits, FIFO order, writer fairness, cancel safety, the
 * hand-off-vs-cancel race, and threads.
 */
#include <weft.h>

#include "sync_util.h"
#include "test.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

static weft_poll lock_by_hand(weft_mutex *m, cwaker *w, weft_mutex_guard *g) {
    weft_cx cx = weft_cx_manual(&w->base);
    return weft_mutex_lock(m, &cx, g);
}

static weft_poll read_by_hand(weft_rwlock *l, cwaker *w, weft_rwlock_guard *g) {
    weft_cx cx = weft_cx_manual(&w->base);
    return weft_rwlock_read(l, &cx, g);
}

static weft_poll write_by_hand(weft_rwlock *l, cwaker *w, weft_rwlock_guard *g) {
    weft_cx cx = weft_cx_manual(&w->base);
    return weft_rwlock_write(l, &cx, g);
}

/* ---- Mutex by hand -------------------------------------------------------- */

static void mutex_try_lock_excludes_and_unlock_frees(void) {
    weft_mutex m = WEFT_MUTEX_INIT;
    weft_mutex_guard a = {0}, b = {0};
    CHECK(!weft_mutex_guard_held(&a));
    CHECK_EQ(weft_mutex_try_lock(&m, &a), 0);
    CHECK(weft_mutex_guard_held(&a));
    CHECK_EQ(weft_mutex_try_lock(&m, &b), -EAGAIN);
    CHECK(!weft_mutex_guard_held(&b));
    weft_mutex_unlock(&a);
    CHECK(!weft_mutex_guard_held(&a));
    weft_mutex_unlock(&a); /* no-op */
    weft_mutex_unlock(&b); /* never held: no-op */
    CHECK_EQ(weft_mutex_try_lock(&m, &b), 0);
    CHECK_EQ(weft_mutex_try_lock(&m, &a), -EAGAIN);
    weft_mutex_unlock(&b);
}

static void mutex_init_makes_an_unlocked_mutex(void) {
    weft_mutex m;
    memset(&m, 0xff, sizeof m);
    weft_mutex_init(&m);
    weft_mutex_guard a = {0};
    CHECK_EQ(weft_mutex_try_lock(&m, &a), 0);
    weft_mutex_unlock(&a);
}

static void mutex_unlock_hands_the_lock_to_the_oldest_waiter(void) {
    weft_mutex m = WEFT_MUTEX_INIT;
    enum { N = 5 };
    cwaker w[N];
    weft_mutex_guard holder = {0}, g[N];
    memset(g, 0, sizeof g);
    CHECK_EQ(weft_mutex_try_lock(&m, &holder), 0);
    for (int i = 0; i < N; i++) {
        cw_init(&w[i]);
        CHECK_EQ(lock_by_hand(&m, &w[i], &g[i]), WEFT_PENDING);
    }
    weft_mutex_guard late = {0};
    CHECK_EQ(weft_mutex_try_lock(&m, &late), -EAGAIN);
    weft_mutex_unlock(&holder);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) CHECK_EQ(atomic_load(&w[j].wakes), j <= i ? 1 : 0);
        weft_mutex_guard other = {0};
        CHECK_EQ(weft_mutex_try_lock(&m, &other), -EAGAIN); /* handed over, not free */
        CHECK_EQ(lock_by_hand(&m, &w[i], &g[i]), WEFT_READY);
        CHECK(weft_mutex_guard_held(&g[i]));
        weft_mutex_unlock(&g[i]);
    }
    CHECK_EQ(weft_mutex_try_lock(&m, &late), 0);
    weft_mutex_unlock(&late);
    for (int i = 0; i < N; i++) CHECK_EQ(atomic_load(&w[i].refs), 0);
}

static void mutex_cancelled_lock_leaves_no_waiter(void) {
    weft_mutex m = WEFT_MUTEX_INIT;
    cwaker w1, w2;
    cw_init(&w1);
    cw_init(&w2);
    weft_mutex_guard holder = {0}, a = {0}, b = {0};
    CHECK_EQ(weft_mutex_try_lock(&m, &holder), 0);
    CHECK_EQ(lock_by_hand(&m, &w1, &a), WEFT_PENDING);
    CHECK_EQ(lock_by_hand(&m, &w2, &b), WEFT_PENDING);
    (void)weft_mutex_lock(&m, NULL, &a); /* cancel a */
    CHECK_EQ(atomic_load(&w1.refs), 0);
    weft_mutex_unlock(&holder);
    CHECK_EQ(atomic_load(&w1.wakes), 0); /* a is gone */
    CHECK_EQ(atomic_load(&w2.wakes), 1);
    CHECK_EQ(lock_by_hand(&m, &w2, &b), WEFT_READY);
    CHECK(!weft_mutex_guard_held(&a));
    weft_mutex_unlock(&b);
}

static void mutex_cancel_after_the_hand_off_passes_the_lock_on(void) {
    weft_mutex m = WEFT_MUTEX_INIT;
    cwaker w1, w2;
    cw_init(&w1);
    cw_init(&w2);
    weft_mutex_guard holder = {0}, a = {0}, b = {0};
    CHECK_EQ(weft_mutex_try_lock(&m, &holder), 0);
    CHECK_EQ(lock_by_hand(&m, &w1, &a), WEFT_PENDING);
    CHECK_EQ(lock_by_hand(&m, &w2, &b), WEFT_PENDING);
    weft_mutex_unlock(&holder); /* a is granted ... */
    CHECK_EQ(atomic_load(&w1.wakes), 1);
    (void)weft_mutex_lock(&m, NULL, &a); /* ... and cancelled before it ran */
    CHECK_EQ(atomic_load(&w2.wakes), 1); /* the wake-up went on to b */
    CHECK_EQ(lock_by_hand(&m, &w2, &b), WEFT_READY);
    weft_mutex_unlock(&b);
    weft_mutex_guard c = {0};
    CHECK_EQ(weft_mutex_try_lock(&m, &c), 0); /* and nothing is stuck */
    weft_mutex_unlock(&c);
}

static void mutex_cancel_with_nobody_behind_frees_it(void) {
    weft_mutex m = WEFT_MUTEX_INIT;
    cwaker w;
    cw_init(&w);
    weft_mutex_guard holder = {0}, a = {0};
    CHECK_EQ(weft_mutex_try_lock(&m, &holder), 0);
    CHECK_EQ(lock_by_hand(&m, &w, &a), WEFT_PENDING);
    weft_mutex_unlock(&holder);
    (void)weft_mutex_lock(&m, NULL, &a);
    CHECK_EQ(weft_mutex_try_lock(&m, &a), 0);
    weft_mutex_unlock(&a);
    CHECK_EQ(atomic_load(&w.refs), 0);
}

/* ---- Mutex with tasks -------------------------------------------------------
 * Workers lock, read the shared counter, yield while holding the guard, write
 * counter + 1, unlock: any overlap would lose increments.
 */
typedef struct shared_counter {
    weft_mutex m;
    long count;
    int inside, overlaps;
    int log[16], log_n;
} shared_counter;

typedef struct incr {
    weft_frame fr;
    shared_counter *sh;
    weft_mutex_guard g;
    int id, rounds, i;
    long seen;
} incr;

weft_async_fn(incr_poll, incr) {
    weft_async (self) {
        for (self->i = 0; self->i < self->rounds; self->i++) {
            weft_await(weft_mutex_lock(&self->sh->m, cx, &self->g));
            if (self->sh->inside++) self->sh->overlaps++;
            if (self->i == 0 && self->sh->log_n < 16) self->sh->log[self->sh->log_n++] = self->id;
            self->seen = self->sh->count;
            weft_yield(); /* the guard is held across an await */
            self->sh->count = self->seen + 1;
            self->sh->inside--;
            weft_mutex_unlock(&self->g);
        }
    weft_finally:
        weft_mutex_unlock(&self->g);
    }
    return WEFT_READY;
}

typedef struct incr_test {
    weft_frame fr;
    shared_counter sh;
    weft_task *h[8];
    int i;
} incr_test;

weft_async_fn(incr_test_poll, incr_test) {
    weft_async (self) {
        for (self->i = 0; self->i < 8; self->i++) {
            incr *w;
            MUST(weft_task_new(&w, cx->rt, incr_poll));
            w->sh = &self->sh;
            w->id = self->i;
            w->rounds = 50;
            self->h[self->i] = weft_task_spawn(w);
        }
        for (self->i = 0; self->i < 8; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void mutex_guard_held_across_awaits_excludes_other_tasks(void) {
    weft_rt *rt = new_rt();
    incr_test t = {0};
    weft_mutex_init(&t.sh.m);
    CHECK_EQ(weft_block_on(rt, incr_test_poll, &t), 0);
    CHECK_EQ(t.sh.count, 400);
    CHECK_EQ(t.sh.overlaps, 0);
    CHECK_EQ(t.sh.log_n, 8);
    for (int i = 0; i < 8; i++) CHECK_EQ(t.sh.log[i], i); /* first locks in spawn order */
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

/* A task aborted while it holds the lock (parked inside) releases it. */
typedef struct holder_task {
    weft_frame fr;
    weft_mutex *m;
    weft_mutex_guard g;
    weft_notify *forever;
    weft_notified_op op;
} holder_task;

weft_async_fn(holder_poll, holder_task) {
    weft_async (self) {
        weft_await(weft_mutex_lock(self->m, cx, &self->g));
        weft_await(weft_notified(self->forever, cx, &self->op)); /* never comes */
    weft_finally:
        weft_mutex_unlock(&self->g);
    }
    return WEFT_READY;
}

typedef struct abort_holder_test {
    weft_frame fr;
    weft_mutex m;
    weft_notify never;
    weft_task *h;
    int got;
} abort_holder_test;

weft_async_fn(abort_holder_test_poll, abort_holder_test) {
    weft_async (self) {
        {
            holder_task *t;
            MUST(weft_task_new(&t, cx->rt, holder_poll));
            t->m = &self->m;
            t->forever = &self->never;
            self->h = weft_task_spawn(t);
        }
        weft_yield(); /* the holder locks and parks */
        {
            weft_mutex_guard probe = {0};
            if (weft_mutex_try_lock(&self->m, &probe) == 0) weft_return; /* must be held */
        }
        weft_task_abort(self->h);
        weft_await(weft_join(self->h, cx, NULL));
        weft_task_release(self->h);
        {
            weft_mutex_guard probe = {0};
            self->got = weft_mutex_try_lock(&self->m, &probe) == 0;
            weft_mutex_unlock(&probe);
        }
    }
    return WEFT_READY;
}

static void mutex_aborted_holder_releases_in_finally(void) {
    weft_rt *rt = new_rt();
    abort_holder_test t = {0};
    weft_mutex_init(&t.m);
    CHECK_EQ(weft_block_on(rt, abort_holder_test_poll, &t), 0);
    CHECK_EQ(t.got, 1);
    weft_rt_free(rt);
}

/* ---- the hand-off-vs-cancel race --------------------------------------------
 * Task A waits for the lock (B maybe behind it); a thread unlocks while the
 * runtime aborts A at a random moment.  Afterwards B has had the lock, and the
 * lock is free: never lost (stuck) or doubled.
 */
#define RACE_ITERS 600

typedef struct race_shared {
    weft_mutex m;
    weft_mutex_guard holder;
    sem_t go, done;
    unsigned spin;
    int stop;
} race_shared;

static void *race_unlocker(void *p) {
    race_shared *s = p;
    for (;;) {
        sem_wait(&s->go);
        if (s->stop) return NULL;
        spin(s->spin);
        weft_mutex_unlock(&s->holder);
        sem_post(&s->done);
    }
}

typedef struct locker {
    weft_frame fr;
    weft_mutex *m;
    weft_mutex_guard g;
    int *got;
} locker;

weft_async_fn(locker_poll, locker) {
    weft_async (self) {
        weft_await(weft_mutex_lock(self->m, cx, &self->g));
        *self->got = 1;
    weft_finally:
        weft_mutex_unlock(&self->g);
    }
    return WEFT_READY;
}

static weft_task *spawn_locker(weft_rt *rt, weft_mutex *m, int *got) {
    locker *l;
    if (weft_task_new(&l, rt, locker_poll) != 0) return NULL;
    l->m = m;
    l->got = got;
    return weft_task_spawn(l);
}

typedef struct race_test {
    weft_frame fr;
    race_shared *s;
    weft_task *a, *b;
    uint64_t rng;
    int i, k, yields, with_b, a_got, b_got;
    int lost, stuck, leaks;
} race_test;

weft_async_fn(race_test_poll, race_test) {
    weft_async (self) {
        for (self->i = 0; self->i < RACE_ITERS; self->i++) {
            {
                uint64_t x = test_rand(&self->rng);
                self->with_b = (int)(x & 1);
                self->yields = (int)((x >> 8) % 20);
                self->s->spin = (unsigned)((x >> 16) % 2000);
                self->a_got = self->b_got = 0;
                if (weft_mutex_try_lock(&self->s->m, &self->s->holder) != 0) self->stuck++;
            }
            self->a = spawn_locker(cx->rt, &self->s->m, &self->a_got);
            self->b = self->with_b ? spawn_locker(cx->rt, &self->s->m, &self->b_got) : NULL;
            weft_yield();
            sem_post(&self->s->go);
            for (self->k = 0; self->k < self->yields; self->k++) weft_yield();
            spin((unsigned)(test_rand(&self->rng) % 2000));
            weft_task_abort(self->a);
            weft_await(weft_join(self->a, cx, NULL));
            sem_wait(&self->s->done);
            if (self->b) {
                weft_await(weft_join(self->b, cx, NULL));
                weft_task_release(self->b);
                if (!self->b_got) self->lost++;
            }
            weft_task_release(self->a);
            {
                weft_mutex_guard probe = {0};
                if (weft_mutex_try_lock(&self->s->m, &probe) != 0) self->stuck++;
                weft_mutex_unlock(&probe);
            }
            if (held(cx->rt) != 1) self->leaks++;
        }
    }
    return WEFT_READY;
}

static void mutex_unlock_racing_with_abort_loses_no_wakeup(void) {
    weft_rt *rt = new_rt();
    race_shared *s = calloc(1, sizeof *s);
    CHECK(rt && s);
    weft_mutex_init(&s->m);
    sem_init(&s->go, 0, 0);
    sem_init(&s->done, 0, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, race_unlocker, s), 0);
    race_test t = {.s = s, .rng = 0x2545f4914f6cdd1dull};
    int rc = weft_block_on(rt, race_test_poll, &t);
    s->stop = 1;
    sem_post(&s->go);
    pthread_join(th, NULL);
    CHECK_EQ(rc, 0);
    CHECK_EQ(t.lost, 0);
    CHECK_EQ(t.stuck, 0);
    CHECK_EQ(t.leaks, 0);
    sem_destroy(&s->go);
    sem_destroy(&s->done);
    free(s);
    weft_rt_free(rt);
}

/* ---- Mutex across threads ----------------------------------------------------
 * Threads with their own runtimes and tasks increment a plain (non-atomic)
 * counter under the mutex, sometimes holding it across a yield.  TSan sees
 * any missing happens-before; the count sees any lost exclusion.
 */
#define MT_THREADS 3
#define MT_TASKS 3
#define MT_ROUNDS 400

typedef struct mt_shared {
    weft_mutex m;
    long count;
} mt_shared;

typedef struct mt_task {
    weft_frame fr;
    mt_shared *sh;
    weft_mutex_guard g;
    int i;
} mt_task;

weft_async_fn(mt_task_poll, mt_task) {
    weft_async (self) {
        for (self->i = 0; self->i < MT_ROUNDS; self->i++) {
            weft_await(weft_mutex_lock(&self->sh->m, cx, &self->g));
            self->sh->count++;
            if (self->i % 5 == 0) weft_yield();
            weft_mutex_unlock(&self->g);
        }
    }
    return WEFT_READY;
}

static weft_task *mt_make(weft_rt *rt, const spawn_all *sa, int i) {
    mt_task *t;
    if (weft_task_new(&t, rt, mt_task_poll) != 0) return NULL;
    (void)i;
    t->sh = sa->arg;
    return weft_task_spawn(t);
}

static void mutex_shared_by_threads_loses_no_increment(void) {
    mt_shared *sh = calloc(1, sizeof *sh);
    weft_mutex_init(&sh->m);
    spawn_all m[MT_THREADS];
    for (int i = 0; i < MT_THREADS; i++)
        m[i] = (spawn_all){.make = mt_make, .arg = sh, .n = MT_TASKS};
    CHECK_EQ(run_on_threads(MT_THREADS, spawn_all_poll, m), 0);
    CHECK_EQ(sh->count, (long)MT_THREADS * MT_TASKS * MT_ROUNDS);
    free(sh);
}

/* ---- RwLock by hand ------------------------------------------------------------ */

static void rwlock_readers_share_and_a_writer_excludes(void) {
    weft_rwlock l = WEFT_RWLOCK_INIT;
    weft_rwlock_guard r1 = {0}, r2 = {0}, w = {0};
    CHECK_EQ(weft_rwlock_try_read(&l, &r1), 0);
    CHECK_EQ(weft_rwlock_try_read(&l, &r2), 0);
    CHECK_EQ(weft_rwlock_guard_held(&r1), 1);
    CHECK_EQ(weft_rwlock_try_write(&l, &w), -EAGAIN);
    weft_rwlock_unlock(&r1);
    CHECK_EQ(weft_rwlock_try_write(&l, &w), -EAGAIN);
    weft_rwlock_unlock(&r2);
    CHECK_EQ(weft_rwlock_try_write(&l, &w), 0);
    CHECK_EQ(weft_rwlock_guard_held(&w), 2);
    CHECK_EQ(weft_rwlock_try_read(&l, &r1), -EAGAIN);
    weft_rwlock_unlock(&w);
    CHECK_EQ(weft_rwlock_guard_held(&w), 0);
    weft_rwlock_unlock(&w); /* no-op */
    CHECK_EQ(weft_rwlock_try_read(&l, &r1), 0);
    weft_rwlock_unlock(&r1);
}

static void rwlock_waiting_writer_is_not_starved_by_new_readers(void) {
    weft_rwlock l;
    weft_rwlock_init(&l);
    cwaker ww, wr;
    cw_init(&ww);
    cw_init(&wr);
    weft_rwlock_guard r1 = {0}, r2 = {0}, w = {0}, r3 = {0}, r4 = {0};
    CHECK_EQ(weft_rwlock_try_read(&l, &r1), 0);
    CHECK_EQ(weft_rwlock_try_read(&l, &r2), 0);
    CHECK_EQ(write_by_hand(&l, &ww, &w), WEFT_PENDING);
    /* readers that come after the writer wait behind it */
    CHECK_EQ(weft_rwlock_try_read(&l, &r4), -EAGAIN);
    CHECK_EQ(read_by_hand(&l, &wr, &r3), WEFT_PENDING);
    weft_rwlock_unlock(&r1);
    CHECK_EQ(atomic_load(&ww.wakes), 0);
    weft_rwlock_unlock(&r2);
    CHECK_EQ(atomic_load(&ww.wakes), 1); /* the writer first */
    CHECK_EQ(atomic_load(&wr.wakes), 0);
    CHECK_EQ(write_by_hand(&l, &ww, &w), WEFT_READY);
    CHECK_EQ(weft_rwlock_guard_held(&w), 2);
    weft_rwlock_unlock(&w);
    CHECK_EQ(atomic_load(&wr.wakes), 1); /* then the reader */
    CHECK_EQ(read_by_hand(&l, &wr, &r3), WEFT_READY);
    CHECK_EQ(weft_rwlock_try_read(&l, &r4), 0); /* no one waits: readers share */
    weft_rwlock_unlock(&r3);
    weft_rwlock_unlock(&r4);
    CHECK_EQ(atomic_load(&ww.refs), 0);
    CHECK_EQ(atomic_load(&wr.refs), 0);
}

static void rwlock_writer_release_wakes_every_waiting_reader(void) {
    weft_rwlock l = WEFT_RWLOCK_INIT;
    enum { N = 40 };
    cwaker w[N];
    weft_rwlock_guard wr = {0}, r[N];
    memset(r, 0, sizeof r);
    CHECK_EQ(weft_rwlock_try_write(&l, &wr), 0);
    for (int i = 0; i < N; i++) {
        cw_init(&w[i]);
        CHECK_EQ(read_by_hand(&l, &w[i], &r[i]), WEFT_PENDING);
    }
    weft_rwlock_unlock(&wr);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(atomic_load(&w[i].wakes), 1);
        CHECK_EQ(read_by_hand(&l, &w[i], &r[i]), WEFT_READY);
    }
    for (int i = 0; i < N; i++) weft_rwlock_unlock(&r[i]);
    CHECK_EQ(weft_rwlock_try_write(&l, &wr), 0);
    weft_rwlock_unlock(&wr);
}

static void rwlock_cancelled_writer_gives_back_what_it_collected(void) {
    weft_rwlock l = WEFT_RWLOCK_INIT;
    cwaker ww, wr;
    cw_init(&ww);
    cw_init(&wr);
    weft_rwlock_guard r1 = {0}, r2 = {0}, w = {0}, r3 = {0};
    CHECK_EQ(weft_rwlock_try_read(&l, &r1), 0);
    CHECK_EQ(weft_rwlock_try_read(&l, &r2), 0);
    CHECK_EQ(write_by_hand(&l, &ww, &w), WEFT_PENDING);
    CHECK_EQ(read_by_hand(&l, &wr, &r3), WEFT_PENDING); /* behind the writer */
    weft_rwlock_unlock(&r1); /* the writer collects it */
    CHECK_EQ(atomic_load(&wr.wakes), 0);
    (void)weft_rwlock_write(&l, NULL, &w); /* cancel the writer */
    CHECK_EQ(atomic_load(&ww.refs), 0);
    CHECK_EQ(atomic_load(&wr.wakes), 1); /* the reader behind it goes in */
    CHECK_EQ(read_by_hand(&l, &wr, &r3), WEFT_READY);
    weft_rwlock_unlock(&r2);
    weft_rwlock_unlock(&r3);
    CHECK_EQ(weft_rwlock_try_write(&l, &w), 0); /* everything came back */
    weft_rwlock_unlock(&w);
}

/* ---- RwLock across threads ----------------------------------------------------
 * Readers check that no writer is inside; writers check they are alone and
 * bump a plain counter.
 */
#define RW_THREADS 3
#define RW_TASKS 3
#define RW_ROUNDS 300

typedef struct rw_shared {
    weft_rwlock l;
    atomic_int readers, writers, bad;
    long writes;
} rw_shared;

typedef struct rw_task {
    weft_frame fr;
    rw_shared *sh;
    weft_rwlock_guard g;
    int i, writer;
} rw_task;

weft_async_fn(rw_task_poll, rw_task) {
    weft_async (self) {
        for (self->i = 0; self->i < RW_ROUNDS; self->i++) {
            if (self->writer && self->i % 4 == 0) {
                weft_await(weft_rwlock_write(&self->sh->l, cx, &self->g));
                if (atomic_fetch_add(&self->sh->writers, 1) != 0 || atomic_load(&self->sh->readers) != 0)
                    atomic_fetch_add(&self->sh->bad, 1);
                self->sh->writes++;
                weft_yield();
                atomic_fetch_sub(&self->sh->writers, 1);
            } else {
                weft_await(weft_rwlock_read(&self->sh->l, cx, &self->g));
                atomic_fetch_add(&self->sh->readers, 1);
                if (atomic_load(&self->sh->writers) != 0) atomic_fetch_add(&self->sh->bad, 1);
                if (self->i % 3 == 0) weft_yield();
                atomic_fetch_sub(&self->sh->readers, 1);
            }
            weft_rwlock_unlock(&self->g);
        }
    }
    return WEFT_READY;
}

static weft_task *rw_make(weft_rt *rt, const spawn_all *sa, int i) {
    rw_task *t;
    if (weft_task_new(&t, rt, rw_task_poll) != 0) return NULL;
    t->sh = sa->arg;
    t->writer = i == 0;
    return weft_task_spawn(t);
}

static void rwlock_shared_by_threads_keeps_writers_exclusive(void) {
    rw_shared *sh = calloc(1, sizeof *sh);
    weft_rwlock_init(&sh->l);
    spawn_all m[RW_THREADS];
    for (int i = 0; i < RW_THREADS; i++)
        m[i] = (spawn_all){.make = rw_make, .arg = sh, .n = RW_TASKS};
    CHECK_EQ(run_on_threads(RW_THREADS, spawn_all_poll, m), 0);
    CHECK_EQ(atomic_load(&sh->bad), 0);
    CHECK_EQ(sh->writes, (long)RW_THREADS * (RW_ROUNDS / 4));
    free(sh);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(mutex_try_lock_excludes_and_unlock_frees),
                         TEST(mutex_init_makes_an_unlocked_mutex),
                         TEST(mutex_unlock_hands_the_lock_to_the_oldest_waiter),
                         TEST(mutex_cancelled_lock_leaves_no_waiter),
                         TEST(mutex_cancel_after_the_hand_off_passes_the_lock_on),
                         TEST(mutex_cancel_with_nobody_behind_frees_it),
                         TEST(mutex_guard_held_across_awaits_excludes_other_tasks),
                         TEST(mutex_aborted_holder_releases_in_finally),
                         TEST(mutex_unlock_racing_with_abort_loses_no_wakeup),
                         TEST(mutex_shared_by_threads_loses_no_increment),
                         TEST(rwlock_readers_share_and_a_writer_excludes),
                         TEST(rwlock_waiting_writer_is_not_starved_by_new_readers),
                         TEST(rwlock_writer_release_wakes_every_waiting_reader),
                         TEST(rwlock_cancelled_writer_gives_back_what_it_collected),
                         TEST(rwlock_shared_by_threads_keeps_writers_exclusive),
                         {0}});
}
