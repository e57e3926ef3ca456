/*
 * src/rt/runtime.c - the current-thread executor.
 *
 * Invariants:
 *   - A task is in at most one place: the LIFO slot, the local ring, or the
 *     remote queue, and only while NOTIFIED; each place holds one reference.
 *   - Only the driving thread touches the core (ring, LIFO slot, wheel,
 *     reactor).  Other threads reach the runtime only through the shared
 *     part's remote queue and eventfd.
 *   - The driver never blocks while a task is runnable: it parks in
 *     epoll_wait only after the local ring, the LIFO slot and the remote
 *     queue were all found empty, and a remote wake that races with parking
 *     is caught by the parked/remote_pending handshake (both sides store,
 *     then load the other's flag, sequentially consistent) and the eventfd.
 *
 * The loop (one "tick" is one task poll): pop from the LIFO slot (at most
 * max_lifo_polls in a row), else from the ring; every remote_interval ticks
 * look at the remote queue first so remote wakes are not starved; every
 * event_interval ticks, or when nothing is runnable, turn the reactor (with a
 * zero timeout when work is waiting) and fire due timers.
 */
#define _GNU_SOURCE
#include "internal.h"

#include "../core/alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

_Thread_local weft_rt *weft__tls_rt;

_Noreturn void weft__rt_misuse(const char *what) {
    fprintf(stderr, "weft: %s\n", what);
    fflush(stderr);
    abort();
}

/* ---- the shared part --------------------------------------------------- */

void weft__shared_release(weft__shared *sh) {
    if (atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) != 1) return;
    weft__heap_destroy(&sh->heap);
    pthread_mutex_destroy(&sh->lock);
    weft__free(sh->remote);
    if (sh->wake_fd >= 0) close(sh->wake_fd);
    weft__free(sh);
}

void weft__remote_schedule(weft__shared *sh, weft_task *t) {
    pthread_mutex_lock(&sh->lock);
    if (sh->closed) {
        pthread_mutex_unlock(&sh->lock);
        weft__task_drop_ref(t); /* the runtime is gone; nobody will poll it */
        return;
    }
    if (sh->remote_len == sh->remote_cap) {
        size_t cap = sh->remote_cap ? sh->remote_cap * 2 : 64;
        weft_task **q = weft__realloc(sh->remote, cap * sizeof *q);
        if (!q) {
            /* Out of memory with a wake in hand: losing it could hang the
             * task for ever, and there is no one to report to. */
            pthread_mutex_unlock(&sh->lock);
            abort();
        }
        sh->remote = q;
        sh->remote_cap = cap;
    }
    sh->remote[sh->remote_len++] = t;
    atomic_store_explicit(&sh->remote_pending, 1, memory_order_seq_cst);
    /* Dekker with the driver: it stores parked, then loads remote_pending. */
    if (atomic_load_explicit(&sh->parked, memory_order_seq_cst) &&
        !atomic_exchange_explicit(&sh->signaled, 1, memory_order_acq_rel)) {
        uint64_t one = 1;
        ssize_t r = write(sh->wake_fd, &one, sizeof one);
        (void)r; /* EAGAIN: the counter is already nonzero, a wake is pending */
    }
    pthread_mutex_unlock(&sh->lock);
}

/* ---- the local run queue ------------------------------------------------- */

/*
 * A FIFO of task pointers in linked 64 KiB blocks.  Unlike a ring it never
 * copies on growth (a million spawns would otherwise copy and fault in 16 MB
 * of doubling arrays) and gives memory back as it drains: emptied blocks are
 * kept for reuse up to QBLOCK_KEEP and unmapped beyond that (mmap, not
 * malloc, so the memory really leaves the process).
 */
#define QBLOCK_SIZE ((size_t)64 * 1024)
#define QBLOCK_CAP ((QBLOCK_SIZE - sizeof(void *)) / sizeof(void *))
#define QBLOCK_KEEP 2

struct weft__qblock {
    struct weft__qblock *next;
    weft_task *items[QBLOCK_CAP];
};

static void qblock_put(weft_rt *rt, weft__qblock *b) {
    if (rt->nqspare < QBLOCK_KEEP) {
        b->next = rt->qspare;
        rt->qspare = b;
        rt->nqspare++;
    } else {
        weft__munmap(b, QBLOCK_SIZE);
    }
}

static void ring_push(weft_rt *rt, weft_task *t) {
    if (!rt->qtail || rt->qtail_i == QBLOCK_CAP) {
        weft__qblock *b = rt->qspare;
        if (b) {
            rt->qspare = b->next;
            rt->nqspare--;
        } else {
            b = weft__mmap(QBLOCK_SIZE);
            /* Out of memory with a wake in hand: dropping it could hang the
             * task for ever, and there is nobody to report to. */
            if (!b) abort();
        }
        b->next = NULL;
        if (rt->qtail)
            rt->qtail->next = b;
        else
            rt->qhead = b;
        rt->qtail = b;
        rt->qtail_i = 0;
    }
    rt->qtail->items[rt->qtail_i++] = t;
    rt->qlen++;
}

static weft_task *ring_pop(weft_rt *rt) {
    if (!rt->qlen) return NULL;
    if (rt->qhead_i == QBLOCK_CAP) {
        weft__qblock *b = rt->qhead;
        rt->qhead = b->next;
        rt->qhead_i = 0;
        qblock_put(rt, b);
    }
    weft_task *t = rt->qhead->items[rt->qhead_i++];
    if (--rt->qlen == 0) rt->qhead_i = rt->qtail_i = 0; /* head and tail share a block */
    return t;
}

static void ring_free(weft_rt *rt) {
    weft__qblock *b = rt->qhead;
    while (b) {
        weft__qblock *n = b->next;
        weft__munmap(b, QBLOCK_SIZE);
        b = n;
    }
    b = rt->qspare;
    while (b) {
        weft__qblock *n = b->next;
        weft__munmap(b, QBLOCK_SIZE);
        b = n;
    }
    rt->qhead = rt->qtail = rt->qspare = NULL;
}

void weft__schedule(weft_task *t) {
    weft__shared *sh = weft__slot_shared(t);
    weft_rt *rt = weft__tls_rt;
    if (rt && rt->sh == sh) {
        if (rt->current && !rt->cfg.disable_lifo) {
            /* Woken by the running task: run it next (LIFO slot). */
            if (rt->lifo) ring_push(rt, rt->lifo);
            rt->lifo = t;
        } else {
            ring_push(rt, t);
        }
        return;
    }
    weft__remote_schedule(sh, t);
}

void weft__schedule_spawned(weft_task *t) {
    weft__shared *sh = weft__slot_shared(t);
    weft_rt *rt = weft__tls_rt;
    /* A new task goes to the back of the queue, behind work already waiting.
     * Off the driving thread (before weft_block_on) it goes through the
     * remote queue, which the first tick drains. */
    if (rt && rt->sh == sh)
        ring_push(rt, t);
    else
        weft__remote_schedule(sh, t);
}

static void drain_remote(weft_rt *rt) {
    weft__shared *sh = rt->sh;
    if (!atomic_load_explicit(&sh->remote_pending, memory_order_acquire)) return;
    pthread_mutex_lock(&sh->lock);
    weft_task **items = sh->remote;
    size_t n = sh->remote_len;
    sh->remote = NULL;
    sh->remote_len = sh->remote_cap = 0;
    atomic_store_explicit(&sh->remote_pending, 0, memory_order_relaxed);
    pthread_mutex_unlock(&sh->lock);
    for (size_t i = 0; i < n; i++) ring_push(rt, items[i]);
    rt->st.remote_wakes += n;
    weft__free(items);
}

/* ---- creating and freeing ---------------------------------------------- */

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int weft_rt_new(weft_rt **out, const weft_rt_config *cfg) {
    if (!out) return -EINVAL;
    *out = NULL;
    weft_rt *rt = weft__calloc(1, sizeof *rt);
    weft__shared *sh = weft__calloc(1, sizeof *sh);
    if (!rt || !sh) {
        weft__free(rt);
        weft__free(sh);
        return -ENOMEM;
    }
    if (cfg) rt->cfg = *cfg;
    if (!rt->cfg.budget) rt->cfg.budget = WEFT_COOP_BUDGET;
    if (!rt->cfg.event_interval) rt->cfg.event_interval = 61;
    if (!rt->cfg.remote_interval) rt->cfg.remote_interval = 31;
    if (!rt->cfg.max_lifo_polls) rt->cfg.max_lifo_polls = 3;
    if (!rt->cfg.max_events) rt->cfg.max_events = 1024;

    atomic_init(&sh->refs, 1);
    sh->owner = rt;
    sh->wake_fd = -1;
    pthread_mutex_init(&sh->lock, NULL);
    rt->sh = sh;

    int err;
    sh->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (sh->wake_fd < 0) {
        err = -errno;
        goto fail;
    }
    if ((err = weft__reactor_init(&rt->io, rt->cfg.max_events)) < 0) goto fail;
    if ((err = weft__reactor_add_wake_fd(&rt->io, sh->wake_fd)) < 0) {
        weft__reactor_close(&rt->io);
        goto fail;
    }
    rt->origin_ns = mono_ns();
    weft__wheel_init(&rt->wheel, 0);
    if (rt->cfg.start_paused) {
        rt->paused = 1;
        rt->paused_ns = 0;
    }
    *out = rt;
    return 0;
fail:
    sh->owner = NULL;
    weft__shared_release(sh);
    weft__free(rt);
    return err;
}

/* Drop task t's frame and finish it as cancelled (driving thread). */
static void cancel_now(weft_rt *rt, weft_task *t) {
    rt->current = t;
    (void)t->poll(weft__task_frame(t), NULL);
    rt->current = NULL;
    weft__task_complete(t, 1);
}

/* Shutdown visitor: cancel a task that has not finished. */
static void shutdown_task(void *slot, void *arg) {
    weft_rt *rt = arg;
    weft_task *t = weft__task_of_slot(slot);
    if (!t) return; /* a small object, not a task */
    uint32_t cur = atomic_load_explicit(&t->state, memory_order_acquire);
    for (;;) {
        /* Finished, or reserved and not spawned yet: that frame is still
         * the caller's, to spawn (it is then cancelled at once) or discard,
         * even after weft_rt_free. */
        if (cur & (TASK_COMPLETE | TASK_RESERVED)) return;
        /* Take it as if popped from a queue: RUNNING plus a reference. */
        uint32_t next = (cur | TASK_RUNNING | TASK_CANCELLED) + TASK_REF_ONE;
        if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    cancel_now(rt, t);
}

void weft_rt_free(weft_rt *rt) {
    if (!rt) return;
    /* Freeing the runtime under a run loop (this thread's or another's)
     * would leave that loop on freed memory.  Both are caller bugs with no
     * one to return an error to, so they abort.  The first check is exact;
     * the second catches a free racing with a driver whenever the two are
     * not ordered (a free ordered after the driver returned is fine). */
    if (weft__tls_rt == rt)
        weft__rt_misuse("weft_rt_free called from inside the runtime it frees (from one of its "
                        "tasks, from the future of its weft_block_on, or from a finally section "
                        "its shutdown runs)");
    if (atomic_exchange_explicit(&rt->driving, 1, memory_order_acquire))
        weft__rt_misuse("weft_rt_free called while another thread drives the runtime (is inside "
                        "weft_block_on or weft_rt_free on it)");
    weft__shared *sh = rt->sh;
    weft_rt *prev_tls = weft__tls_rt;
    weft__tls_rt = rt; /* frees during shutdown are local */
    rt->closing = 1;

    /* Queued tasks keep their queue references until the end, so a task
     * cancelled below is not freed under the queue's feet. */
    weft__heap_collect(sh);
    weft__heap_foreach(sh, shutdown_task, rt);

    /* Close the remote queue: later wakes from other threads just drop. */
    pthread_mutex_lock(&sh->lock);
    sh->closed = 1;
    pthread_mutex_unlock(&sh->lock);
    drain_remote(rt);
    /* Every queued task is now finished; drop the queue references. */
    weft_task *t;
    if (rt->lifo) {
        t = rt->lifo;
        rt->lifo = NULL;
        weft__task_drop_ref(t);
    }
    while ((t = ring_pop(rt))) weft__task_drop_ref(t);
    /* Cancelled frames may have woken tasks that finished already; nothing
     * else can be queued now.  Timers: every entry belonged to a frame that
     * was dropped; any left belong to futures polled by hand - detach them. */
    weft_timer *e;
    while ((e = weft__wheel_poll(&rt->wheel, UINT64_MAX))) {
        weft_waker *w = e->waker;
        e->waker = NULL;
        weft_waker_wake(w);
    }
    weft__reactor_close(&rt->io);
    ring_free(rt);

    weft__heap_orphan(sh);
    weft__tls_rt = prev_tls == rt ? NULL : prev_tls;
    sh->owner = NULL;
    weft__free(rt);
    weft__shared_release(sh);
}

/* ---- polling a task ---------------------------------------------------- */

static void run_task(weft_rt *rt, weft_task *t) {
    uint32_t cur = atomic_load_explicit(&t->state, memory_order_acquire);
    for (;;) {
        uint32_t next = (cur & ~TASK_NOTIFIED) | TASK_RUNNING;
        if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    if (cur & TASK_CANCELLED) {
        cancel_now(rt, t);
        return;
    }
    rt->st.polls++;
    rt->current = t;
    weft_cx cx = {&t->waker, rt, NULL, rt->cfg.budget};
    weft_poll r = t->poll(weft__task_frame(t), &cx);
    rt->current = NULL;
    if (r == WEFT_READY) {
        weft__task_complete(t, 0);
        return;
    }
    cur = atomic_load_explicit(&t->state, memory_order_acquire);
    for (;;) {
        if (cur & TASK_CANCELLED) {
            /* Aborted while it ran: drop it now, still RUNNING. */
            cancel_now(rt, t);
            return;
        }
        uint32_t next = cur & ~TASK_RUNNING;
        int requeue = (cur & TASK_NOTIFIED) != 0;
        if (!requeue) next -= TASK_REF_ONE; /* the queue's reference */
        if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            /* Woken during its own poll (yield, coop): back of the queue,
             * behind everyone else, not the LIFO slot. */
            if (requeue) ring_push(rt, t);
            return;
        }
    }
}

static weft_task *next_task(weft_rt *rt, uint64_t tick) {
    if (rt->lifo) {
        weft_task *t = rt->lifo;
        rt->lifo = NULL;
        if (rt->lifo_run < rt->cfg.max_lifo_polls) {
            rt->lifo_run++;
            rt->st.lifo_polls++;
            return t;
        }
        ring_push(rt, t); /* let the others have a turn */
    }
    rt->lifo_run = 0;
    if (tick % rt->cfg.remote_interval == 0) drain_remote(rt);
    weft_task *t = ring_pop(rt);
    if (!t) {
        drain_remote(rt);
        t = ring_pop(rt);
    }
    return t;
}

/*
 * One reactor turn.  block: nothing is runnable, so wait for I/O, a timer,
 * or a remote wake.  With the clock paused, an idle runtime does not wait
 * for timers: it jumps the clock to the next one.
 */
static void turn(weft_rt *rt, int block) {
    weft__shared *sh = rt->sh;
    int timeout = 0;
    if (block) {
        /* Re-arm the eventfd signal before announcing the park.  A turn that
         * did not block may have drained a write whose writer left
         * `signaled` set; left so, every later remote wake would skip the
         * write and this park would never end.  After the reset, `signaled`
         * is set again only by a thread that then writes. */
        atomic_store_explicit(&sh->signaled, 0, memory_order_seq_cst);
        atomic_store_explicit(&sh->parked, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&sh->remote_pending, memory_order_seq_cst))
            timeout = 0;
        else if (rt->paused)
            timeout = weft__wheel_count(&rt->wheel) ? 0 : -1;
        else
            timeout = weft__timers_timeout(rt);
        if (timeout != 0) {
            rt->st.parks++;
            weft__heap_trim(&sh->heap); /* idle: a good time to give memory back */
        }
    }
    rt->st.turns++;
    int n = weft__reactor_turn(&rt->io, timeout, sh->wake_fd);
    if (block) {
        atomic_store_explicit(&sh->parked, 0, memory_order_relaxed);
    }
    size_t fired = weft__timers_process(rt);
    if (block && rt->paused && n == 0 && fired == 0 && rt->qlen == 0 &&
        !atomic_load_explicit(&sh->remote_pending, memory_order_acquire)) {
        /* Idle with the clock paused: auto-advance to the next timer. */
        uint64_t next = weft__wheel_next_deadline(&rt->wheel);
        if (next != UINT64_MAX) {
            uint64_t now_ms = rt->paused_ns / 1000000u;
            if (next > now_ms) rt->paused_ns = next * 1000000u;
            weft__timers_process(rt);
        }
    }
}

/* ---- block_on ---------------------------------------------------------- */

typedef struct block_root {
    weft_frame fr;
    weft_poll_fn poll;
    void *frame;
    int is_frame; /* the future is an async frame (for dumps) */
} block_root;

weft_async_fn(block_root_poll, block_root) {
    if (cx == NULL) return self->poll(self->frame, NULL);
    cx->parked = NULL;
    weft_poll r = self->poll(self->frame, cx);
    /* The user's future is a frame when it reports itself parked. */
    self->is_frame = r == WEFT_PENDING && cx->parked == self->frame;
    return r;
}

int weft__block_on(weft_rt *rt, weft_poll_fn poll, void *frame) {
    if (!rt || !poll) return -EINVAL;
    /* Inside a runtime already (a task, a block_on future, or a finally
     * section run by weft_rt_free): this thread's loop is busy. */
    if (weft__tls_rt) return -EDEADLK;
    /* Claim the runtime: of two threads calling at once, one drives it and
     * the other is told so, instead of both sharing the run queue. */
    if (atomic_exchange_explicit(&rt->driving, 1, memory_order_acquire)) return -EDEADLK;
    block_root *root;
    int rc = weft_task_new(&root, rt, block_root_poll);
    if (rc < 0) {
        atomic_store_explicit(&rt->driving, 0, memory_order_release);
        return rc;
    }
    root->poll = poll;
    root->frame = frame;
    weft_task *jt = weft_task_spawn(root);
    weft__tls_rt = rt;
    uint64_t tick = 0;
    for (;;) {
        unsigned n = 0;
        weft_task *t;
        while (n < rt->cfg.event_interval && (t = next_task(rt, ++tick))) {
            run_task(rt, t);
            n++;
            if (atomic_load_explicit(&jt->state, memory_order_relaxed) & TASK_COMPLETE) goto done;
        }
        if (atomic_load_explicit(&jt->state, memory_order_relaxed) & TASK_COMPLETE) break;
        turn(rt, n < rt->cfg.event_interval && !rt->lifo && rt->qlen == 0);
    }
done:
    weft__tls_rt = NULL;
    atomic_store_explicit(&rt->driving, 0, memory_order_release);
    weft_task_release(jt);
    return 0;
}

/* ---- observing --------------------------------------------------------- */

void weft_rt_stats_get(weft_rt *rt, weft_rt_stats *out) {
    *out = rt->st;
    if (!atomic_load_explicit(&rt->driving, memory_order_relaxed) || weft__tls_rt == rt)
        weft__heap_collect(rt->sh);
    out->tasks_held = rt->sh->heap.allocated - rt->sh->heap.objects;
    out->io_registered = rt->io.count;
    out->timers = weft__wheel_count(&rt->wheel);
}

static void dump_task(void *slot, void *arg) {
    FILE *out = arg;
    weft_task *t = weft__task_of_slot(slot);
    if (!t) return;
    uint32_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    /* No references: freed off the runtime's thread, not taken back yet
     * (only its first words are still its own). */
    if ((s & TASK_COMPLETE) || s < TASK_REF_ONE) return;
    if (s & TASK_RESERVED) { /* its frame may not be filled in yet */
        fprintf(out, "task %u reserved, not spawned, at %s\n", t->id, t->site);
        return;
    }
    fprintf(out, "task %u %s%s%s refs=%u spawned at %s\n", t->id,
            (s & TASK_RUNNING) ? "running" : (s & TASK_NOTIFIED) ? "runnable" : "idle",
            (s & TASK_CANCELLED) ? " cancelling" : "",
            (s & TASK_JOIN_INTEREST) ? "" : " detached", s / TASK_REF_ONE, t->site);
    if (s & TASK_RUNNING) return; /* its frame is in use */
    if (t->poll == block_root_poll_erased) {
        block_root *r = weft__task_frame(t);
        fprintf(out, "  in weft_block_on\n");
        if (r->is_frame) weft_frame_dump(r->frame, out);
        return;
    }
    weft_frame_dump(weft__task_frame(t), out);
}

void weft_rt_dump(weft_rt *rt, FILE *out) {
    weft__heap_foreach(rt->sh, dump_task, out);
}
