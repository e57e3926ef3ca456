/*
 * examples/workers.c - the sync family together: a Semaphore limits how many
 * jobs run at once, a Mutex guards shared totals (held across an await), and
 * a CancellationToken tells a background task to stop.
 *
 *     workers [JOBS] [LIMIT]      (default 8 jobs, 3 at a time)
 */
#include <weft.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct shared {
    weft_semaphore limit;  /* how many jobs may run at once */
    weft_mutex lock;       /* guards the fields below */
    int running, max_running, done, sum;
} shared;

typedef struct job {
    weft_frame fr;
    shared *sh;
    int n;
    weft_acquire_op permit;
    weft_mutex_guard guard;
    weft_sleep_op sl;
} job;

weft_async_fn(job_poll, job) {
    weft_async (self) {
        weft_await(weft_semaphore_acquire(&self->sh->limit, cx, &self->permit, NULL));
        self->sh->running++; /* one thread: plain counters are fine here */
        if (self->sh->running > self->sh->max_running) self->sh->max_running = self->sh->running;
        weft_await(weft_sleep(&self->sl, cx, 5 + (uint64_t)self->n % 3)); /* the work */
        weft_await(weft_mutex_lock(&self->sh->lock, cx, &self->guard));
        weft_await(weft_sleep(&self->sl, cx, 1)); /* the guard is held across this */
        self->sh->sum += self->n * self->n;
        self->sh->done++;
        weft_mutex_unlock(&self->guard);
        self->sh->running--;
    weft_finally: /* also runs if the task is aborted: nothing stays held */
        weft_mutex_unlock(&self->guard);
        weft_semaphore_release(&self->permit);
    }
    return WEFT_READY;
}

typedef struct watchdog {
    weft_frame fr;
    weft_cancel_token *stop;
    weft_cancelled_op op;
} watchdog;

weft_async_fn(watchdog_poll, watchdog) {
    weft_async (self) {
        weft_await(weft_cancel_token_cancelled(self->stop, cx, &self->op));
        printf("watchdog: told to stop\n");
    weft_finally:
        weft_cancel_token_drop(self->stop);
    }
    return WEFT_READY;
}

typedef struct main_fut {
    weft_frame fr;
    int jobs;
    shared *sh;
    weft_cancel_token *stop;
    weft_task **h, *dog;
    int i;
} main_fut;

weft_async_fn(main_poll, main_fut) {
    weft_async (self) {
        {
            watchdog *d;
            if (weft_task_new(&d, cx->rt, watchdog_poll) < 0) weft_return;
            d->stop = weft_cancel_token_clone(self->stop);
            self->dog = weft_task_spawn(d);
        }
        for (self->i = 0; self->i < self->jobs; self->i++) {
            job *j;
            if (weft_task_new(&j, cx->rt, job_poll) < 0) weft_return;
            j->sh = self->sh;
            j->n = self->i + 1;
            self->h[self->i] = weft_task_spawn(j);
        }
        for (self->i = 0; self->i < self->jobs; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            weft_task_release(self->h[self->i]);
        }
        printf("done: %d jobs, at most %d at once, sum of squares = %d\n", self->sh->done,
               self->sh->max_running, self->sh->sum);
        weft_cancel_token_cancel(self->stop);
        weft_await(weft_join(self->dog, cx, NULL));
        weft_task_release(self->dog);
    }
    return WEFT_READY;
}

int main(int argc, char **argv) {
    int jobs = argc > 1 ? atoi(argv[1]) : 8;
    int limit = argc > 2 ? atoi(argv[2]) : 3;
    if (jobs < 1 || limit < 1) {
        fprintf(stderr, "usage: workers [JOBS >= 1] [LIMIT >= 1]\n");
        return 2;
    }
    shared sh = {.lock = WEFT_MUTEX_INIT};
    weft_semaphore_init(&sh.limit, (size_t)limit);
    main_fut m = {.jobs = jobs, .sh = &sh};
    m.h = calloc((size_t)jobs, sizeof *m.h);
    weft_rt *rt;
    if (!m.h || weft_cancel_token_new(&m.stop) < 0 || weft_rt_new(&rt, NULL) < 0) return 1;
    int rc = weft_block_on(rt, main_poll, &m);
    weft_rt_free(rt);
    weft_cancel_token_drop(m.stop);
    free(m.h);
    return rc == 0 && sh.done == jobs ? 0 : 1;
}
