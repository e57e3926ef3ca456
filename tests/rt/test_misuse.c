/*
 * tests/rt/test_misuse.c - misusing the runtime's lifetime: weft_rt_free from
 * inside the runtime or while another thread drives it, weft_block_on
 * re-entered or raced, weft_task_new / spawn / discard during and after
 * weft_rt_free.  Each misuse either has a documented result (checked here)
 * or aborts with a message naming it: the death tests check the death, and
 * misuse_aborts_name_the_misuse checks what the user reads on stderr (the
 * harness hides a death test's stderr).
 */
#include <weft.h>

#include "gate.h"
#include "rt_util.h"
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

/* Run fn in a child process with its stderr captured.  1 when the child
 * died of SIGABRT after printing want; otherwise prints what happened. */
static int dies_saying(void (*fn)(void), const char *want) {
    int p[2];
    if (pipe(p) != 0) return 0;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        close(p[1]);
        fn();
        _exit(0);
    }
    close(p[1]);
    char buf[8192];
    size_t n = 0;
    for (;;) {
        char tmp[512];
        ssize_t r = read(p[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        size_t k = (size_t)r < sizeof buf - 1 - n ? (size_t)r : sizeof buf - 1 - n;
        memcpy(buf + n, tmp, k);
        n += k;
    }
    buf[n] = '\0';
    close(p[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    int ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(buf, want) != NULL;
    if (!ok)
        fprintf(stderr, "    wanted SIGABRT and \"%s\"; got status %#x and stderr:\n%s\n", want,
                (unsigned)status, buf);
    return ok;
}

/* ---- frames ----------------------------------------------------------- */

/* Parks on a gate; its finally section records how it ended and may run a
 * hook (to misbehave during shutdown). */
typedef struct parker {
    weft_frame fr;
    gate *g;
    weft_rt *rt;
    void (*on_finally)(struct parker *self);
    int polls, finally_runs, cancelled;
} parker;

weft_async_fn(parker_poll, parker) {
    weft_async (self) {
        self->polls++;
        weft_await(gate_wait(self->g, cx));
    weft_finally:
        self->finally_runs++;
        self->cancelled = weft_cancelled();
        if (self->on_finally) self->on_finally(self);
    }
    return WEFT_READY;
}

/* ---- weft_rt_free from inside the runtime ------------------------------- */

typedef struct freer {
    weft_frame fr;
    weft_rt *rt;
} freer;

weft_async_fn(freer_poll, freer) {
    weft_async (self) {
        weft_rt_free(cx ? cx->rt : self->rt);
    }
    return WEFT_READY;
}

static void rt_free_from_a_task_aborts(void) {
    weft_rt *rt = new_rt();
    CHECK(rt);
    freer *f;
    CHECK_EQ(weft_task_new(&f, rt, freer_poll), 0);
    weft_task_spawn_detached(f);
    weft_block_on(rt, yielder_poll, &(yielder){.n = 3});
    /* not reached when the misuse is caught */
}

static void rt_free_from_the_block_on_future_aborts(void) {
    weft_rt *rt = new_rt();
    CHECK(rt);
    weft_block_on(rt, freer_poll, &(freer){.rt = rt});
}

/* A finally section run by weft_rt_free's cancellation frees it again. */
static void free_again(parker *self) { weft_rt_free(self->rt); }

static void rt_free_from_a_finally_run_by_shutdown_aborts(void) {
    weft_rt *rt = new_rt();
    CHECK(rt);
    gate g = {0};
    parker *p;
    MUST(weft_task_new(&p, rt, parker_poll));
    *p = (parker){.g = &g, .rt = rt, .on_finally = free_again};
    weft_task_spawn_detached(p);
    weft_block_on(rt, yielder_poll, &(yielder){.n = 2}); /* it parks */
    weft_rt_free(rt);
}

/* ---- weft_rt_free while another thread drives the runtime --------------- */

typedef struct forever {
    weft_frame fr;
    atomic_int started;
} forever;

/* Pending for ever, without keeping a waker: the driver parks in epoll. */
weft_future_fn(forever_poll, forever) {
    if (cx) atomic_store(&self->started, 1);
    return cx ? WEFT_PENDING : WEFT_READY;
}

typedef struct cross_free {
    weft_rt *rt;
    forever *f;
} cross_free;

static void *free_from_other_thread(void *arg) {
    cross_free *c = arg;
    while (!atomic_load(&c->f->started)) sched_yield();
    weft_rt_free(c->rt);
    /* Not caught: the driver is now using freed memory.  Fail the test
     * rather than hang it. */
    _exit(3);
}

static void rt_free_while_another_thread_drives_aborts(void) {
    weft_rt *rt = new_rt();
    CHECK(rt);
    forever f = {0};
    cross_free c = {rt, &f};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, free_from_other_thread, &c), 0);
    weft_block_on(rt, forever_poll, &f);
}

/* ---- weft_block_on re-entered or raced ---------------------------------- */

/* Two threads call weft_block_on on one runtime at once: exactly one drives
 * it, the other gets -EDEADLK.  The driver's future spins until the other
 * call returned, so both calls overlap whenever both got in. */
typedef struct race {
    pthread_barrier_t start;
    weft_rt *rt;
    atomic_int returned; /* calls that returned -EDEADLK */
    atomic_int entered;  /* futures that started */
    atomic_int both;     /* rounds where both got in */
} race;

typedef struct racer {
    weft_frame fr;
    race *r;
    struct timespec t0;
} racer;

static double since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

weft_async_fn(racer_poll, racer) {
    weft_async (self) {
        if (atomic_fetch_add(&self->r->entered, 1) == 1) atomic_store(&self->r->both, 1);
        clock_gettime(CLOCK_MONOTONIC, &self->t0);
        while (atomic_load(&self->r->returned) == 0 && !atomic_load(&self->r->both) &&
               since(&self->t0) < 10.0)
            weft_yield();
    }
    return WEFT_READY;
}

static void *race_one(void *arg) {
    race *r = arg;
    racer me = {.r = r};
    pthread_barrier_wait(&r->start);
    int rc = weft_block_on(r->rt, racer_poll, &me);
    if (rc == -EDEADLK) atomic_fetch_add(&r->returned, 1);
    return (void *)(intptr_t)rc;
}

static void block_on_raced_by_two_threads_lets_exactly_one_in(void) {
    weft_rt *rt = new_rt();
    CHECK(rt);
    for (int round = 0; round < 300; round++) {
        race r = {.rt = rt};
        pthread_barrier_init(&r.start, NULL, 2);
        pthread_t a, b;
        void *ra, *rb;
        CHECK_EQ(pthread_create(&a, NULL, race_one, &r), 0);
        CHECK_EQ(pthread_create(&b, NULL, race_one, &r), 0);
        pthread_join(a, &ra);
        pthread_join(b, &rb);
        pthread_barrier_destroy(&r.start);
        CHECK_EQ(atomic_load(&r.both), 0);
        CHECK_EQ(atomic_load(&r.entered), 1);
        CHECK_EQ(atomic_load(&r.returned), 1);
        CHECK_EQ((intptr_t)ra + (intptr_t)rb, -EDEADLK); /* one 0, one -EDEADLK */
    }
    weft_rt_free(rt);
}

/* A finally section run by weft_rt_free is inside the runtime: block_on on
 * it (or any runtime) fails with -EDEADLK, weft_task_new with ESHUTDOWN. */
static int during_shutdown_block_on_same, during_shutdown_block_on_other;
static int during_shutdown_new_rc;
static yielder *during_shutdown_new;
static weft_rt *other_rt;

static void try_block_on_and_spawn(parker *self) {
    during_shutdown_block_on_same = weft_block_on(self->rt, yielder_poll, &(yielder){0});
    during_shutdown_block_on_other = weft_block_on(other_rt, yielder_poll, &(yielder){0});
    during_shutdown_new_rc = weft_task_new(&during_shutdown_new, self->rt, yielder_poll);
}

static void block_on_and_task_new_during_rt_free_fail(void) {
    weft_rt *rt = new_rt();
    other_rt = new_rt();
    CHECK(rt && other_rt);
    gate g = {0};
    parker *p;
    MUST(weft_task_new(&p, rt, parker_poll));
    *p = (parker){.g = &g, .rt = rt, .on_finally = try_block_on_and_spawn};
    weft_task *h = weft_task_spawn(p);
    CHECK_EQ(weft_block_on(rt, yielder_poll, &(yielder){.n = 2}), 0);
    weft_rt_free(rt);
    parker *view = weft_task_frame(h);
    CHECK_EQ(view->finally_runs, 1);
    CHECK_EQ(view->cancelled, 1);
    CHECK_EQ(during_shutdown_block_on_same, -EDEADLK);
    CHECK_EQ(during_shutdown_block_on_other, -EDEADLK);
    CHECK(during_shutdown_new == NULL);
    CHECK_EQ(during_shutdown_new_rc, -ESHUTDOWN);
    weft_task_release(h);
    /* the other runtime is untouched */
    CHECK_EQ(weft_block_on(other_rt, yielder_poll, &(yielder){.n = 1}), 0);
    weft_rt_free(other_rt);
}

/* ---- frames reserved but not spawned when the runtime goes -------------- */

static void rt_free_leaves_reserved_frames_for_spawn_or_discard(void) {
    weft_rt *rt = new_rt();
    CHECK(rt);
    gate g = {0};
    parker *p;
    MUST(weft_task_new(&p, rt, parker_poll));
    CHECK(p);
    p->g = &g;
    weft_rt_free(rt);
    /* weft_rt_free did not drop it: the frame is still the caller's. */
    CHECK_EQ(p->polls, 0);
    CHECK_EQ(p->finally_runs, 0);
    CHECK(p->g == &g);
    weft_task_discard(p); /* frees it (and with it the last of the heap) */
}

static void spawn_after_rt_free_cancels_the_task_at_once(void) {
    weft_rt *rt = new_rt();
    CHECK(rt);
    gate g = {0};
    parker *p;
    MUST(weft_task_new(&p, rt, parker_poll));
    parker *q;
    MUST(weft_task_new(&q, rt, parker_poll));
    CHECK(p && q);
    p->g = q->g = &g;
    weft_rt_free(rt);
    weft_task *h = weft_task_spawn(p);
    CHECK(h);
    CHECK(weft_task_is_finished(h));
    parker *view = weft_task_frame(h);
    CHECK_EQ(view->polls, 0);
    CHECK_EQ(view->finally_runs, 1); /* dropped: its finally ran, here */
    CHECK_EQ(view->cancelled, 1);
    int st = 1;
    weft_cx c = weft_cx_manual(NULL);
    CHECK_EQ(weft_join(h, &c, &st), WEFT_READY);
    CHECK_EQ(st, -ECANCELED);
    weft_task_release(h);
    weft_task_spawn_detached(q); /* dropped and freed at once */
}

/* A finally section run by weft_rt_free spawns a frame reserved earlier. */
static parker *reserved_for_later;
static weft_task *spawned_during_shutdown;

static void spawn_reserved(parker *self) {
    (void)self;
    spawned_during_shutdown = weft_task_spawn(reserved_for_later);
}

static void spawn_during_rt_free_cancels_the_task_at_once(void) {
    weft_rt *rt = new_rt();
    CHECK(rt);
    gate g = {0}, never = {0};
    MUST(weft_task_new(&reserved_for_later, rt, parker_poll));
    reserved_for_later->g = &never;
    parker *p;
    MUST(weft_task_new(&p, rt, parker_poll));
    *p = (parker){.g = &g, .rt = rt, .on_finally = spawn_reserved};
    weft_task_spawn_detached(p);
    CHECK_EQ(weft_block_on(rt, yielder_poll, &(yielder){.n = 2}), 0);
    weft_rt_free(rt);
    weft_task *h = spawned_during_shutdown;
    CHECK(h);
    CHECK(weft_task_is_finished(h));
    parker *view = weft_task_frame(h);
    CHECK_EQ(view->polls, 0);
    CHECK_EQ(view->finally_runs, 1);
    CHECK_EQ(view->cancelled, 1);
    CHECK(never.waker == NULL);
    weft_task_release(h);
}

/* ---- spawning or discarding a frame twice -------------------------------- */

static void spawning_a_frame_twice_aborts(void) {
    weft_rt *rt = new_rt();
    CHECK(rt);
    yielder *y;
    MUST(weft_task_new(&y, rt, yielder_poll));
    weft_task *h = weft_task_spawn(y);
    (void)weft_task_spawn(y);
    weft_task_release(h);
}

static void discarding_a_spawned_frame_aborts(void) {
    weft_rt *rt = new_rt();
    CHECK(rt);
    yielder *y;
    MUST(weft_task_new(&y, rt, yielder_poll));
    weft_task *h = weft_task_spawn(y);
    weft_task_discard(y);
    weft_task_release(h);
}

/* ---- what the user reads ------------------------------------------------- */

static void misuse_aborts_name_the_misuse(void) {
    const char *inside = "weft: weft_rt_free called from inside the runtime it frees";
    CHECK(dies_saying(rt_free_from_a_task_aborts, inside));
    CHECK(dies_saying(rt_free_from_the_block_on_future_aborts, inside));
    CHECK(dies_saying(rt_free_from_a_finally_run_by_shutdown_aborts, inside));
    CHECK(dies_saying(rt_free_while_another_thread_drives_aborts,
                      "weft: weft_rt_free called while another thread drives the runtime"));
    CHECK(dies_saying(spawning_a_frame_twice_aborts,
                      "weft: weft_task_spawn of a frame that is not waiting to be spawned"));
    CHECK(dies_saying(discarding_a_spawned_frame_aborts,
                      "weft: weft_task_discard of a frame that is not waiting to be spawned"));
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST_DEATH(rt_free_from_a_task_aborts),
                         TEST_DEATH(rt_free_from_the_block_on_future_aborts),
                         TEST_DEATH(rt_free_from_a_finally_run_by_shutdown_aborts),
                         TEST_DEATH(rt_free_while_another_thread_drives_aborts),
                         TEST(block_on_raced_by_two_threads_lets_exactly_one_in),
                         TEST(block_on_and_task_new_during_rt_free_fail),
                         TEST(rt_free_leaves_reserved_frames_for_spawn_or_discard),
                         TEST(spawn_after_rt_free_cancels_the_task_at_once),
                         TEST(spawn_during_rt_free_cancels_the_task_at_once),
                         TEST_DEATH(spawning_a_frame_twice_aborts),
                         TEST_DEATH(discarding_a_spawned_frame_aborts),
                         TEST(misuse_aborts_name_the_misuse),
                         {0},
                     });
}
