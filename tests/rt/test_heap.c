/*
 * tests/rt/test_heap.c - the task heap (src/rt/heap.c) under churn, and, in
 * ASan builds, the poisoning that lets ASan see inside it: a write one byte
 * past a task's frame and a read of a freed task's frame must be reported.
 *
 * The ASan tests exist only in ASan builds (they are left out of the list
 * elsewhere, not skipped as passes).  The churn test runs in every build.
 * It looks inside the runtime (src/rt/internal.h) to see arenas come and go.
 */
#include <weft.h>

#include "rt/internal.h"

#include "rt_util.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>

/* The compiler must not reason about what p points to. */
static void *volatile laundry;
static void *launder(void *p) {
    laundry = p;
    return laundry;
}

/*
 * ASan ends a process with an exit status, not a signal (abort_on_error=0,
 * as tests/run.sh sets it).  Turn the expected report into SIGABRT, so that
 * a death test passes only when ASan reported exactly that; any other report
 * (or none) exits with a status and fails it.
 */
static const char *asan_kind, *asan_access;

static void on_asan_report(const char *report) {
    if (strstr(report, asan_kind) && strstr(report, asan_access)) abort();
}

static void expect_asan(const char *kind, const char *access) {
    asan_kind = kind;
    asan_access = access;
    __asan_set_error_report_callback(on_asan_report);
}

/* ---- a write one byte past the frame --------------------------------- */

/* What weft_task_new is told the frame is... */
typedef struct narrow {
    weft_frame fr;
    uint64_t a;
} narrow;

/* ...and what the poll function believes it is: one byte more. */
typedef struct wide {
    weft_frame fr;
    uint64_t a;
    unsigned char past;
} wide;

static weft_poll wide_poll(void *arg, weft_cx *cx) {
    wide *self = launder(arg);
    if (cx) {
        self->a = 1;
        self->past = 1; /* offset 16: one past a 16-byte frame */
    }
    return WEFT_READY;
}

static void write_past_a_frame_into_the_next_slot_is_caught(void) {
    expect_asan("AddressSanitizer: use-after-poison", "WRITE of size 1");
    weft_rt *rt = new_rt();
    CHECK(rt);
    /* 40 + 16 bytes fill a 56-byte slot exactly: the byte past the frame is
     * the next slot's first, which no one allocated. */
    /* weft_task_new refuses this mismatch at compile time; the internal
     * allocator behind it does not, which is what this test needs. */
    narrow *n = weft__task_alloc(rt, sizeof(narrow), _Alignof(narrow), wide_poll, "narrow");
    CHECK(n);
    weft_task_spawn_detached(n);
    weft_block_on(rt, yielder_poll, &(yielder){.n = 2});
    weft_rt_free(rt);
}

/* A 16-aligned frame whose slot is not shifted leaves 8 spare bytes after
 * it; those are poisoned too. */
static weft_poll spare_poll(void *arg, weft_cx *cx) {
    unsigned char *self = launder(arg);
    if (cx) self[24] = 1; /* one past a 24-byte frame */
    return WEFT_READY;
}

static void write_past_an_aligned_frame_into_its_spare_bytes_is_caught(void) {
    expect_asan("AddressSanitizer: use-after-poison", "WRITE of size 1");
    weft_rt *rt = new_rt();
    CHECK(rt);
    /* 72-byte slots alternate between 16-aligned (the task is shifted by 8,
     * the slot's first word says so) and not (the spare is at the end). */
    char *a = weft__task_alloc(rt, 24, 16, spare_poll, "a");
    char *b = weft__task_alloc(rt, 24, 16, spare_poll, "b");
    CHECK(a && b);
    char *unshifted = NULL, *shifted = NULL;
    char *both[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        if (*(void **)(both[i] - WEFT__TASK_HEADER - 8) == WEFT__TASK_SHIFTED)
            shifted = both[i];
        else
            unshifted = both[i];
    }
    CHECK(shifted && unshifted);
    weft_task_discard(shifted);
    weft_task_spawn_detached(unshifted);
    weft_block_on(rt, yielder_poll, &(yielder){.n = 2});
    weft_rt_free(rt);
}

/* ---- reading a freed task's frame ------------------------------------ */

typedef struct doubler {
    weft_frame fr;
    int in, out;
} doubler;

weft_async_fn(doubler_poll, doubler) {
    weft_async (self) {
        self->out = self->in * 2;
    }
    return WEFT_READY;
}

/* Joins a child, releases its handle (freed on the runtime's thread), then
 * reads its frame. */
typedef struct reader {
    weft_frame fr;
    weft_task *h;
    doubler *view;
    int got;
} reader;

weft_async_fn(reader_poll, reader) {
    weft_async (self) {
        {
            doubler *d;
            MUST(weft_task_new(&d, cx->rt, doubler_poll));
            d->in = 21;
            self->h = weft_task_spawn(d);
        }
        weft_await(weft_join(self->h, cx, NULL));
        self->view = launder(weft_task_frame(self->h));
        weft_task_release(self->h); /* the last reference: freed here */
        self->got = *(volatile int *)&self->view->out;
    }
    return WEFT_READY;
}

static void read_of_a_frame_freed_on_the_runtime_is_caught(void) {
    expect_asan("AddressSanitizer: use-after-poison", "READ of size 4");
    weft_rt *rt = new_rt();
    CHECK(rt);
    reader r = {0};
    weft_block_on(rt, reader_poll, &r);
    weft_rt_free(rt);
}

static void read_of_a_frame_freed_off_the_runtime_is_caught(void) {
    expect_asan("AddressSanitizer: use-after-poison", "READ of size 4");
    weft_rt *rt = new_rt();
    CHECK(rt);
    doubler *d;
    MUST(weft_task_new(&d, rt, doubler_poll));
    d->in = 2;
    weft_task *h = weft_task_spawn(d);
    weft_block_on(rt, yielder_poll, &(yielder){.n = 2});
    CHECK(weft_task_is_finished(h));
    doubler *view = launder(weft_task_frame(h));
    /* Not on the runtime's thread: the slot goes on the remote-free stack
     * (the runtime takes it back later), and its frame is poisoned now. */
    weft_task_release(h);
    int got = *(volatile int *)&view->out;
    (void)got;
    weft_rt_free(rt);
}
#endif /* TEST_ASAN */

/* ---- churn: many sizes, local and remote frees, walks, trims ---------- */

/*
 * Each task's frame is this header followed by a pattern: the first poll
 * writes every byte of the frame, the second checks them.  In between other
 * tasks run, allocate and free.
 */
typedef struct churn_frame {
    weft_frame fr; /* dumps read it */
    uint32_t size; /* of the whole frame */
    uint32_t align;
    uint32_t seed;
    uint32_t polls;
} churn_frame;

static atomic_int churn_bad, churn_done;

static weft_poll churn_poll(void *arg, weft_cx *cx) {
    churn_frame *f = arg;
    if (!cx) return WEFT_READY;
    unsigned char *b = arg;
    if ((uintptr_t)f % f->align) atomic_fetch_add(&churn_bad, 1);
    if (f->polls++ == 0) {
        for (size_t i = sizeof *f; i < f->size; i++) b[i] = (unsigned char)(f->seed + i);
        weft_waker_wake_by_ref(cx->waker);
        return WEFT_PENDING;
    }
    for (size_t i = sizeof *f; i < f->size; i++)
        if (b[i] != (unsigned char)(f->seed + i)) {
            atomic_fetch_add(&churn_bad, 1);
            break;
        }
    atomic_fetch_add(&churn_done, 1);
    return WEFT_READY;
}

/* Frees on another thread: handles and oneshot receivers handed over. */
typedef struct releaser {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    void *items[4096];
    int kinds[4096]; /* 0 handle, 1 oneshot rx */
    size_t n;
    int stop;
} releaser;

static void *releaser_main(void *arg) {
    releaser *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (r->n == 0 && !r->stop) pthread_cond_wait(&r->cond, &r->lock);
        if (r->n == 0) break;
        void *item = r->items[--r->n];
        int kind = r->kinds[r->n];
        pthread_mutex_unlock(&r->lock);
        if (kind == 0)
            weft_task_release(item);
        else
            weft_oneshot_rx_drop(item);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* 1 when handed over; 0 when the queue is full (the caller frees it). */
static int hand_over(releaser *r, void *item, int kind) {
    pthread_mutex_lock(&r->lock);
    int ok = r->n < sizeof r->items / sizeof r->items[0];
    if (ok) {
        r->items[r->n] = item;
        r->kinds[r->n++] = kind;
        pthread_cond_signal(&r->cond);
    }
    pthread_mutex_unlock(&r->lock);
    return ok;
}

#define PARKED 80000 /* tasks alive at once in the first phase */
#define ROUNDS 30
#define PER_ROUND 1000

typedef struct parked_task {
    weft_frame fr;
    weft_notify *n;
    weft_notified_op op;
    unsigned char pad[40];
} parked_task;

weft_async_fn(parked_poll, parked_task) {
    weft_async (self) {
        weft_await(weft_notified(self->n, cx, &self->op));
        atomic_fetch_add(&churn_done, 1);
    }
    return WEFT_READY;
}

typedef struct churn {
    weft_frame fr;
    releaser *rel;
    weft_notify n;
    weft_sleep_op sl;
    uint64_t rng;
    size_t peak_arenas, trimmed_arenas;
    int i, round, spawned, zero_bad;
    weft_task *h[PER_ROUND];
    FILE *devnull;
} churn;

/* One frame of a random size and alignment, checked to come zeroed. */
static churn_frame *churn_new(churn *self, weft_rt *rt) {
    uint64_t r = test_rand(&self->rng);
    size_t size, align = 8;
    unsigned kind = (unsigned)(r % 100);
    if (kind == 0)
        size = 16400 + (r >> 8) % 50000; /* a mapping of its own */
    else if (kind <= 12) {
        align = 16;
        size = sizeof(churn_frame) + (r >> 8) % 600; /* any size, not just multiples of 16 */
    } else if (kind <= 40)
        size = 233 + (r >> 8) % 4000; /* the classes in 32-byte and wider steps */
    else
        size = sizeof(churn_frame) + (r >> 8) % 210; /* the 8-byte classes */
    churn_frame *f = weft__task_alloc(rt, size, align, churn_poll, "churn");
    if (!f) return NULL;
    const unsigned char *b = (const unsigned char *)f;
    for (size_t i = 0; i < size; i++)
        if (b[i]) {
            self->zero_bad++;
            break;
        }
    f->size = (uint32_t)size;
    f->align = (uint32_t)align;
    f->seed = (uint32_t)(r >> 32);
    self->spawned++;
    return f;
}

weft_async_fn(churn_main, churn) {
    weft_async (self) {
        /* Phase 1: enough tasks alive at once to fill several arenas; once
         * they are gone and the runtime idles, whole arenas are unmapped. */
        for (self->i = 0; self->i < PARKED; self->i++) {
            parked_task *p;
            MUST(weft_task_new(&p, cx->rt, parked_poll));
            if (!p) weft_return;
            p->n = &self->n;
            weft_task_spawn_detached(p);
        }
        weft_yield(); /* every one of them parks */
        self->peak_arenas = cx->rt->sh->heap.narenas;
        weft_notify_waiters(&self->n);
        while (atomic_load(&churn_done) < PARKED) weft_yield();
        /* Idle (parked in epoll for a timer): the heap trims.  A slow run
         * (valgrind) may reach the park after the deadline, so try again. */
        for (self->i = 0; self->i < 100; self->i++) {
            weft_await(weft_sleep(&self->sl, cx, 5));
            self->trimmed_arenas = cx->rt->sh->heap.narenas;
            if (self->trimmed_arenas < self->peak_arenas) break;
        }

        /* Phase 2: random sizes into memory that was unmapped and mapped
         * again; frees here, on another thread, and while walking. */
        for (self->round = 0; self->round < ROUNDS; self->round++) {
            for (self->i = 0; self->i < PER_ROUND; self->i++) {
                churn_frame *f = churn_new(self, cx->rt);
                if (!f) weft_return;
                self->h[self->i] = NULL;
                if (self->i % 2)
                    weft_task_spawn_detached(f);
                else
                    self->h[self->i] = weft_task_spawn(f);
            }
            {
                weft_oneshot_tx *tx;
                weft_oneshot_rx *rx;
                if (weft_oneshot_new(&tx, &rx, 8 + self->round, NULL) == 0) {
                    weft_oneshot_tx_drop(tx);
                    if (!hand_over(self->rel, rx, 1)) weft_oneshot_rx_drop(rx);
                }
            }
            weft_rt_dump(cx->rt, self->devnull); /* a walk over free slots */
            for (self->i = 0; self->i < PER_ROUND; self->i += 2) {
                weft_await(weft_join(self->h[self->i], cx, NULL));
                if (self->i % 3 == 0 || !hand_over(self->rel, self->h[self->i], 0))
                    weft_task_release(self->h[self->i]);
            }
        }
        /* Phase 3: leave work behind for weft_rt_free's walk. */
        for (self->i = 0; self->i < 200; self->i++) {
            churn_frame *f = churn_new(self, cx->rt);
            if (!f) weft_return;
            weft_task_spawn_detached(f);
        }
    }
    return WEFT_READY;
}

static void churn_of_many_sizes_stays_clean(void) {
    weft_rt *rt = new_rt();
    CHECK(rt);
    releaser rel = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, releaser_main, &rel), 0);
    churn *c = calloc(1, sizeof *c);
    CHECK(c);
    c->rel = &rel;
    c->rng = 0x9e3779b97f4a7c15u;
    c->devnull = fopen("/dev/null", "w");
    CHECK(c->devnull);
    weft_notify_init(&c->n);
    /* Reserved all along and never spawned: every walk must leave it be. */
    parked_task *left;
    MUST(weft_task_new(&left, rt, parked_poll));
    CHECK(left);
    CHECK_EQ(weft_block_on(rt, churn_main, c), 0);
    pthread_mutex_lock(&rel.lock);
    rel.stop = 1;
    pthread_cond_signal(&rel.cond);
    pthread_mutex_unlock(&rel.lock);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&churn_bad), 0);
    CHECK_EQ(c->zero_bad, 0);
    CHECK_EQ(c->spawned, ROUNDS * PER_ROUND + 200);
    CHECK(c->peak_arenas >= 4);
    CHECK(c->trimmed_arenas < c->peak_arenas);
    /* Phase 3's tasks have run once (their first poll queued them again)
     * or not at all; weft_rt_free cancels them. */
    weft_rt_free(rt);
    weft_task_discard(left); /* after the runtime: still the caller's to free */
    fclose(c->devnull);
    free(c);
}

/* ---- walks over slots freed off the runtime's thread ------------------ */

/* A frame discarded while the runtime is not driven goes on the remote-free
 * stack; until the runtime takes it back a walk still meets it. */
static void dump_skips_a_frame_freed_off_the_runtime(void) {
    weft_rt *rt = new_rt();
    CHECK(rt);
    void *f = weft__task_alloc(rt, 64, 8, churn_poll, "discarded");
    CHECK(f);
    weft_task_discard(f);
    char buf[1024] = {0};
    FILE *out = fmemopen(buf, sizeof buf - 1, "w");
    weft_rt_dump(rt, out);
    fclose(out);
    if (buf[0]) fprintf(stderr, "    dump: %s", buf);
    CHECK_EQ(strlen(buf), 0);
    weft_rt_free(rt);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
#ifdef TEST_ASAN
                         TEST_DEATH(write_past_a_frame_into_the_next_slot_is_caught),
                         TEST_DEATH(write_past_an_aligned_frame_into_its_spare_bytes_is_caught),
                         TEST_DEATH(read_of_a_frame_freed_on_the_runtime_is_caught),
                         TEST_DEATH(read_of_a_frame_freed_off_the_runtime_is_caught),
#endif
                         TEST(dump_skips_a_frame_freed_off_the_runtime),
                         TEST(churn_of_many_sizes_stays_clean),
                         {0},
                     });
}
