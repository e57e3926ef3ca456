/*
 * src/rt/task.c - the task: its state word, its waker, join handles, abort.
 *
 * The state word (see internal.h) is the only synchronisation a task has, so
 * every transition is one compare-and-swap.  Who may touch what:
 *
 *   - The frame: only the thread polling the task (RUNNING), and the
 *     cancelling thread, which also sets RUNNING.  After COMPLETE, the join
 *     handle holder may read it (the output).
 *   - join_waker (Tokio's rules):
 *       JOIN_WAKER clear, not COMPLETE: the join handle owns the field;
 *       JOIN_WAKER set,   not COMPLETE: nobody writes; the runtime may read;
 *       JOIN_WAKER set,   COMPLETE:     the runtime reads it to wake, then
 *                                       clears JOIN_WAKER;
 *       JOIN_WAKER clear, COMPLETE:     the handle owns it (or, when there is
 *                                       no handle any more, the runtime).
 *
 * Waking a task that is queued or finished does nothing; waking a running
 * task marks it NOTIFIED and the poller re-queues it after the poll; waking
 * an idle task marks it NOTIFIED and queues it with a new reference.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline uint32_t load(const weft_task *t) {
    return atomic_load_explicit(&((weft_task *)t)->state, memory_order_acquire);
}

static inline int cas(weft_task *t, uint32_t *cur, uint32_t next) {
    return atomic_compare_exchange_weak_explicit(&t->state, cur, next, memory_order_acq_rel,
                                                 memory_order_acquire);
}

static void task_free(weft_task *t) {
    /* The frame was dropped or completed long ago; nothing in it is live. */
    weft__heap_free(t);
}

void weft__task_drop_ref(weft_task *t) {
    uint32_t prev = atomic_fetch_sub_explicit(&t->state, TASK_REF_ONE, memory_order_acq_rel);
    if ((prev / TASK_REF_ONE) == 1) task_free(t);
}

static void task_ref(weft_task *t) {
    uint32_t prev = atomic_fetch_add_explicit(&t->state, TASK_REF_ONE, memory_order_relaxed);
    if (prev / TASK_REF_ONE >= TASK_REF_MAX - 1) {
        fprintf(stderr, "weft: task %u reference count overflow\n", t->id);
        abort();
    }
}

/* ---- the waker --------------------------------------------------------- */

static weft_waker *waker_clone(weft_waker *w) {
    task_ref((weft_task *)w);
    return w;
}

/* Mark t notified; returns 1 when the caller must queue it (with a new ref). */
static int notify(weft_task *t, int consume_ref) {
    uint32_t cur = load(t);
    for (;;) {
        uint32_t next;
        int queue = 0;
        if (cur & (TASK_COMPLETE | TASK_NOTIFIED)) {
            if (consume_ref) weft__task_drop_ref(t);
            return 0;
        }
        if (cur & TASK_RUNNING) {
            /* The poller re-queues it; a consumed ref can be dropped. */
            next = cur | TASK_NOTIFIED;
            if (consume_ref) next -= TASK_REF_ONE; /* RUNNING holds a queue ref */
        } else {
            next = cur | TASK_NOTIFIED;
            if (!consume_ref) next += TASK_REF_ONE; /* the queue's reference */
            queue = 1;
        }
        if (cas(t, &cur, next)) return queue;
    }
}

static void waker_wake_by_ref(weft_waker *w) {
    weft_task *t = (weft_task *)w;
    if (notify(t, 0)) weft__schedule(t);
}

static void waker_wake(weft_waker *w) {
    weft_task *t = (weft_task *)w;
    if (notify(t, 1)) weft__schedule(t);
}

static void waker_drop(weft_waker *w) { weft__task_drop_ref((weft_task *)w); }

const weft_waker_vtable weft__task_waker_vtable = {
    waker_clone,
    waker_wake,
    waker_wake_by_ref,
    waker_drop,
};

/* ---- creation ---------------------------------------------------------- */

void *weft__task_alloc(weft_rt *rt, size_t size, size_t align, weft_poll_fn poll,
                       const char *site) {
    if (!rt || !poll || align > 16 || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    if (rt->closing) {
        errno = ESHUTDOWN;
        return NULL;
    }
    if (size > SIZE_MAX - 48) {
        errno = ENOMEM;
        return NULL;
    }
    /* A 16-aligned frame needs its task at 8 (mod 16): ask for 8 spare bytes
     * and shift when the slot happens to be 16-aligned. */
    size_t need = WEFT__TASK_HEADER + size + (align > 8 ? 8 : 0);
    int zeroed;
    char *slot = weft__heap_alloc(rt->sh, need, &zeroed);
    if (!slot) {
        errno = ENOMEM;
        return NULL;
    }
    weft_task *t = (weft_task *)slot;
    if (align > 8 && ((uintptr_t)slot & 15u) == 0) {
        *(void **)slot = WEFT__TASK_SHIFTED;
        t = (weft_task *)(slot + 8);
    } else if (align > 8) {
        /* Not shifted: the 8 spare bytes are after the frame (ASan builds). */
        WEFT__POISON(slot + WEFT__TASK_HEADER + size, 8);
    }
    t->waker.vtable = &weft__task_waker_vtable;
    /* Not spawned yet: one reference (the caller's), state settles at spawn. */
    atomic_store_explicit(&t->state, TASK_RESERVED | TASK_REF_ONE, memory_order_relaxed);
    t->id = ++rt->next_id;
    if (t->id == 0) t->id = ++rt->next_id; /* ids wrap after 2^32 spawns; 0 means none */
    t->poll = poll;
    t->site = site;
    t->join_waker = NULL;
    void *frame = weft__task_frame(t);
    if (!zeroed) memset(frame, 0, size);
    rt->st.alive++;
    return frame;
}

/* A frame from weft_task_new not yet spawned or discarded has exactly this
 * state; anything else is a second spawn or discard (or not a frame from
 * weft_task_new), which would corrupt the reference count. */
static void check_reserved(const weft_task *t, const char *what) {
    if (load(t) != (TASK_RESERVED | TASK_REF_ONE)) weft__rt_misuse(what);
}

static weft_task *spawn(void *frame, int join) {
    weft_task *t = weft__task_of_frame(frame);
    check_reserved(t, "weft_task_spawn of a frame that is not waiting to be spawned (spawned "
                      "or discarded already, or not from weft_task_new)");
    weft__shared *sh = weft__slot_shared(t);
    weft_rt *rt = sh->owner;
    /* refs: OWNED + queue (+ join handle) */
    uint32_t refs = TASK_REF_ONE * (join ? 3u : 2u);
    uint32_t j = join ? TASK_JOIN_INTEREST : 0;
    if (!rt || rt->closing) {
        /* The runtime is gone, or going (a finally section run by
         * weft_rt_free): nothing will poll the task again, so, as Tokio
         * does, it is cancelled at once - its frame dropped here - and the
         * handle reports -ECANCELED. */
        atomic_store_explicit(&t->state, TASK_RUNNING | TASK_CANCELLED | j | refs,
                              memory_order_relaxed);
        (void)t->poll(frame, NULL);
        weft__task_complete(t, 1);
        return join ? t : NULL;
    }
    atomic_store_explicit(&t->state, TASK_NOTIFIED | j | refs, memory_order_release);
    rt->st.spawned++;
    weft__schedule_spawned(t);
    return t;
}

weft_task *weft_task_spawn(void *frame) { return frame ? spawn(frame, 1) : NULL; }

void weft_task_spawn_detached(void *frame) {
    if (frame) spawn(frame, 0);
}

void weft_task_discard(void *frame) {
    if (!frame) return;
    weft_task *t = weft__task_of_frame(frame);
    check_reserved(t, "weft_task_discard of a frame that is not waiting to be spawned (spawned "
                      "or discarded already, or not from weft_task_new)");
    weft__shared *sh = weft__slot_shared(t);
    if (sh->owner) sh->owner->st.alive--;
    weft__task_drop_ref(t);
}

/* ---- completion (called by the runtime) -------------------------------- */

/*
 * The task finished (its frame returned READY or was dropped).  Caller holds
 * the queue reference and had set RUNNING.  Wakes the joiner, then drops the
 * queue and OWNED references.
 */
void weft__task_complete(weft_task *t, int cancelled) {
    uint32_t cur = load(t), next;
    do {
        next = (cur & ~(TASK_RUNNING | TASK_NOTIFIED)) | TASK_COMPLETE;
        if (cancelled) next |= TASK_OUTCOME_CANCELLED;
    } while (!cas(t, &cur, next));
    if ((next & TASK_JOIN_INTEREST) && (next & TASK_JOIN_WAKER)) {
        weft_waker_wake_by_ref(t->join_waker);
        /* Hand the field back to the handle; if the handle went away
         * meanwhile, the waker is ours to drop. */
        cur = load(t);
        while (!cas(t, &cur, cur & ~TASK_JOIN_WAKER)) {
        }
        if (!(cur & TASK_JOIN_INTEREST)) {
            weft_waker_drop(t->join_waker);
            t->join_waker = NULL;
        }
    } else if (!(next & TASK_JOIN_INTEREST) && t->join_waker) {
        weft_waker_drop(t->join_waker);
        t->join_waker = NULL;
    }
    weft__shared *sh = weft__slot_shared(t);
    if (sh->owner) sh->owner->st.alive--;
    /* the queue's and the OWNED reference, in one step */
    uint32_t prev = atomic_fetch_sub_explicit(&t->state, 2 * TASK_REF_ONE, memory_order_acq_rel);
    if (prev / TASK_REF_ONE == 2) weft__heap_free(t);
}

/* ---- join handles ------------------------------------------------------ */

static int outcome(uint32_t s) { return (s & TASK_OUTCOME_CANCELLED) ? -ECANCELED : 0; }

weft_poll weft_join(weft_task *t, weft_cx *cx, int *status) {
    uint32_t cur = load(t);
    if (cx == NULL) {
        /* Stop waiting: take our waker back if the task has not finished. */
        while ((cur & TASK_JOIN_WAKER) && !(cur & TASK_COMPLETE)) {
            if (cas(t, &cur, cur & ~TASK_JOIN_WAKER)) {
                weft_waker_drop(t->join_waker);
                t->join_waker = NULL;
                break;
            }
        }
        return WEFT_READY;
    }
    /* Checked before anything can complete: done spends the budget (at 0 it
     * would wrap to "unconstrained"). */
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    if (cur & TASK_COMPLETE) goto done;
    if (cur & TASK_JOIN_WAKER) {
        if (t->join_waker == cx->waker) return WEFT_PENDING;
        /* A different waker: take the field back to replace it. */
        do {
            if (cur & TASK_COMPLETE) goto done;
        } while (!cas(t, &cur, cur & ~TASK_JOIN_WAKER));
        weft_waker_drop(t->join_waker);
        t->join_waker = NULL;
    }
    t->join_waker = weft_waker_clone(cx->waker);
    do {
        if (cur & TASK_COMPLETE) {
            /* Finished before we published the waker: the field is ours. */
            weft_waker_drop(t->join_waker);
            t->join_waker = NULL;
            goto done;
        }
    } while (!cas(t, &cur, cur | TASK_JOIN_WAKER));
    return WEFT_PENDING;
done:
    cur = load(t);
    if (!(cur & TASK_JOIN_WAKER) && t->join_waker) {
        /* COMPLETE and JOIN_WAKER clear: the field is the handle's. */
        weft_waker_drop(t->join_waker);
        t->join_waker = NULL;
    } else if (cur & TASK_JOIN_WAKER) {
        /* The runtime is still waking us: it clears the bit right after. */
    }
    weft_coop_made_progress(cx);
    if (status) *status = outcome(cur);
    return WEFT_READY;
}

void *weft_task_frame(weft_task *t) { return t ? weft__task_frame(t) : NULL; }

int weft_task_is_finished(const weft_task *t) { return (load(t) & TASK_COMPLETE) != 0; }

uint64_t weft_task_id(const weft_task *t) { return t ? t->id : 0; }

uint64_t weft_task_current_id(const weft_cx *cx) {
    if (!cx) return 0;
    /* The task this thread is running for cx's runtime, whatever waker a
     * combinator put in cx; else a task waker in cx (polled by hand). */
    weft_rt *rt = cx->rt;
    if (rt && weft__tls_rt == rt && rt->current) return rt->current->id;
    return weft__is_task_waker(cx->waker) ? ((weft_task *)cx->waker)->id : 0;
}

void weft_task_release(weft_task *t) {
    if (!t) return;
    uint32_t cur = load(t), next;
    int own_waker;
    do {
        next = cur & ~TASK_JOIN_INTEREST;
        own_waker = 0;
        if (!(cur & TASK_COMPLETE) && (cur & TASK_JOIN_WAKER)) {
            next &= ~TASK_JOIN_WAKER;
            own_waker = 1;
        } else if ((cur & TASK_COMPLETE) && !(cur & TASK_JOIN_WAKER)) {
            own_waker = 1;
        }
    } while (!cas(t, &cur, next));
    if (own_waker && t->join_waker) {
        weft_waker_drop(t->join_waker);
        t->join_waker = NULL;
    }
    weft__task_drop_ref(t);
}

void weft_task_abort(weft_task *t) {
    if (!t) return;
    uint32_t cur = load(t);
    for (;;) {
        if (cur & (TASK_COMPLETE | TASK_CANCELLED)) return;
        uint32_t next = cur | TASK_CANCELLED;
        int queue = 0;
        if (!(cur & (TASK_RUNNING | TASK_NOTIFIED))) {
            next = (next | TASK_NOTIFIED) + TASK_REF_ONE;
            queue = 1;
        }
        if (cas(t, &cur, next)) {
            if (queue) weft__schedule(t);
            return;
        }
    }
}
