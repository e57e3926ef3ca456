/*
 * src/rt/internal.h - the runtime's insides, shared by src/rt, src/time,
 * src/io users (net) and src/sync.
 *
 * Two parts.  `weft_rt` is the core: run queue, LIFO slot, timer wheel,
 * reactor; it is touched only by the thread driving the runtime.  `weft__shared`
 * is what tasks and wakers reach from any thread: the remote queue, the
 * eventfd, and the task heap.  The shared part is reference-counted by the
 * core and by every allocated task, so a waker or join handle that outlives
 * the runtime still points at valid memory (its wake finds the task finished,
 * or the remote queue closed, and only drops a reference).
 */
#ifndef WEFT_SRC_RT_INTERNAL_H
#define WEFT_SRC_RT_INTERNAL_H

#include <weft/rt.h>
#include <weft/time.h>

#include "../io/reactor.h"
#include "../time/wheel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* ---- tasks ------------------------------------------------------------- */

/*
 * The task header.  The frame always follows at offset 40.  Slots are
 * 8-aligned; for a frame that needs 16-byte alignment the task starts 8 bytes
 * into its slot when that makes the frame aligned, and the slot's first word
 * then holds WEFT__TASK_SHIFTED so walkers find the header.
 *
 * state: lifecycle bits and, above them, the reference count.  References are
 * held by: the scheduler from spawn until the task finishes (OWNED); the run
 * queue while the task is queued (one per NOTIFIED episode); the join handle;
 * each waker clone.  Between weft_task_new and spawn (or discard) the state
 * is exactly TASK_RESERVED plus one reference, the caller's.
 */
struct weft_task {
    weft_waker waker;          /* the task is its own waker */
    _Atomic uint32_t state;
    uint32_t id;
    weft_poll_fn poll;         /* the root future's poll function */
    const char *site;          /* "poll @ file:line" of weft_task_new */
    weft_waker *join_waker;    /* guarded by TASK_JOIN_WAKER, see task.c */
};

enum {
    TASK_RUNNING = 1u << 0,           /* being polled */
    TASK_NOTIFIED = 1u << 1,          /* queued, or to be re-queued after the poll */
    TASK_COMPLETE = 1u << 2,          /* finished; the frame holds the output */
    TASK_CANCELLED = 1u << 3,         /* abort requested */
    TASK_JOIN_INTEREST = 1u << 4,     /* a join handle exists */
    TASK_JOIN_WAKER = 1u << 5,        /* join_waker is set (access protocol) */
    TASK_OUTCOME_CANCELLED = 1u << 6, /* finished by cancellation */
    TASK_RESERVED = 1u << 7,          /* from weft_task_new, not spawned yet */
    TASK_REF_ONE = 1u << 8,
};
#define TASK_REF_MAX (UINT32_MAX / TASK_REF_ONE)

#define WEFT__TASK_HEADER 40u

_Static_assert(sizeof(struct weft_task) == WEFT__TASK_HEADER, "task header is 40 bytes");

#define WEFT__TASK_SHIFTED ((void *)1)

static inline void *weft__task_frame(const weft_task *t) {
    return (char *)t + WEFT__TASK_HEADER;
}

static inline weft_task *weft__task_of_frame(void *frame) {
    return (weft_task *)((char *)frame - WEFT__TASK_HEADER);
}

/* First word of a slot that holds a small object, not a task. */
#define WEFT__OBJ_IN_HEAP ((void *)2)
/* First word of a small object that came from malloc instead. */
#define WEFT__OBJ_IN_MALLOC ((void *)3)

/* The task in a slot handed to a heap walker, or NULL for an object. */
static inline weft_task *weft__task_of_slot(void *slot) {
    void *w = *(void **)slot;
    if (w == WEFT__OBJ_IN_HEAP) return NULL;
    return w == WEFT__TASK_SHIFTED ? (weft_task *)((char *)slot + 8) : (weft_task *)slot;
}

/*
 * Small shared objects (a oneshot channel): zeroed memory whose first word is
 * reserved (it says where the memory came from).  On the thread driving a
 * runtime they come from its task heap - a few instructions instead of
 * malloc, and freeable from any thread; elsewhere from malloc.  NULL when out
 * of memory.
 */
void *weft__obj_alloc(size_t size);
void weft__obj_free(void *p);

extern const weft_waker_vtable weft__task_waker_vtable;

static inline int weft__is_task_waker(const weft_waker *w) {
    return w && w->vtable == &weft__task_waker_vtable;
}

void weft__task_drop_ref(weft_task *t);

/* The task finished (see task.c): its frame returned READY, or was dropped
 * when cancelled != 0. */
void weft__task_complete(weft_task *t, int cancelled);

/* ---- the task heap (src/rt/heap.c) ------------------------------------- */

/*
 * ASan and the task heap.  The heap carves slots out of its own mappings, so
 * AddressSanitizer, which only knows malloc's blocks, would take a write past
 * the end of a frame into the next slot, or a read of a freed task, for a
 * valid access.  ASan builds therefore poison what is not in use - free
 * slots, the tail of a slot past the bytes asked for, the 8 spare bytes of an
 * unshifted 16-aligned task - and unpoison exactly the bytes asked for on
 * allocation and exactly the words the allocator itself touches (see heap.c).
 * Everywhere else these macros compile to nothing.  gcc announces ASan with
 * __SANITIZE_ADDRESS__, clang with __has_feature(address_sanitizer);
 * __has_feature is a compiler extension, so it is tested for first.
 */
#if defined(__SANITIZE_ADDRESS__)
#define WEFT__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT__ASAN 1
#endif
#endif

#ifdef WEFT__ASAN
#include <sanitizer/asan_interface.h>
#define WEFT__POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define WEFT__UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define WEFT__POISON(p, n) ((void)(p), (void)(n))
#define WEFT__UNPOISON(p, n) ((void)(p), (void)(n))
#endif

typedef struct weft__shared weft__shared;

#define WEFT__CHUNK_SIZE ((size_t)64 * 1024)
#define WEFT__NCLASSES 80

typedef struct weft__chunk weft__chunk;

typedef struct weft__heap {
    weft__chunk *chunks;                  /* every chunk in use (for enumeration) */
    weft__chunk *partial[WEFT__NCLASSES]; /* chunks of a class with room */
    weft__chunk *free_chunks;             /* empty chunks, ready for any class */
    weft__chunk *arenas;                  /* every 2 MiB arena */
    _Atomic(void *) remote_free;          /* slots freed on other threads */
    size_t nchunks, nfree_chunks, narenas;
    size_t allocated;                     /* slots in use (owner's count) */
    size_t objects;                       /* of which small objects, not tasks */
    unsigned walking;                     /* inside weft__heap_foreach */
} weft__heap;

/* Allocate an 8-aligned slot of at least size bytes, size >= 32 (owner
 * thread).  *zeroed says whether the memory is known to be zero.  In ASan
 * builds exactly size bytes are addressable. */
void *weft__heap_alloc(weft__shared *sh, size_t size, int *zeroed);
/* Give wholly free arenas back to the system, keeping a reserve (idle time). */
void weft__heap_trim(weft__heap *h);
/* Free the slot containing p; any thread (frees off the owner thread are
 * queued). */
void weft__heap_free(void *p);
/* The shared part a slot belongs to. */
weft__shared *weft__slot_shared(const void *slot);
/* Take back slots freed on other threads (owner thread). */
void weft__heap_collect(weft__shared *sh);
/* The runtime is going: slots still allocated become references on sh. */
void weft__heap_orphan(weft__shared *sh);
/* Call fn for every allocated slot whose first word is nonzero. */
void weft__heap_foreach(weft__shared *sh, void (*fn)(void *slot, void *arg), void *arg);
/* Unmap everything (when the last reference to the shared part goes). */
void weft__heap_destroy(weft__heap *h);

/* ---- the shared part --------------------------------------------------- */

struct weft__shared {
    _Atomic size_t refs; /* the core; after it is freed, each task left */
    weft_rt *owner;      /* the core, or NULL once freed (owner thread only) */

    pthread_mutex_t lock; /* remote queue */
    weft_task **remote;
    size_t remote_len, remote_cap;
    int closed;                  /* under lock: the runtime is gone */
    _Atomic int remote_pending;  /* remote_len != 0, readable without lock */
    _Atomic int parked;          /* the driver is (about to be) in epoll_wait */
    _Atomic int signaled;        /* the eventfd has been written since park */
    int wake_fd;                 /* eventfd */

    weft__heap heap;
};

void weft__shared_release(weft__shared *sh);

/* Push t (holding a queue reference) onto the remote queue; any thread. */
void weft__remote_schedule(weft__shared *sh, weft_task *t);

/* ---- the core ---------------------------------------------------------- */

typedef struct weft__qblock weft__qblock;

struct weft_rt {
    weft__shared *sh;
    weft_rt_config cfg;

    /* run queue: blocks of task pointers (each holds a queue reference) */
    weft__qblock *qhead, *qtail, *qspare;
    unsigned qhead_i, qtail_i, nqspare;
    size_t qlen;
    weft_task *lifo;
    unsigned lifo_run;  /* LIFO polls in a row */
    weft_task *current; /* being polled */
    /* Nonzero while a thread is inside weft_block_on or weft_rt_free.  Atomic
     * because both claim it with an exchange, so that a second thread
     * calling either is told (weft_block_on) or stopped (weft_rt_free). */
    _Atomic int driving;
    int closing;        /* inside weft_rt_free (read on its thread only) */
    uint32_t next_id;

    /* time */
    uint64_t origin_ns; /* CLOCK_MONOTONIC when the clock last started running */
    int paused;
    uint64_t paused_ns; /* the clock while paused */
    uint64_t base_ns;   /* the clock at origin_ns (0 at creation; the paused
                           reading after a resume); src/time/time.c */
    weft__wheel wheel;

    weft__reactor io;

    weft_rt_stats st;
};

/* The runtime being driven on this thread, if any. */
extern _Thread_local weft_rt *weft__tls_rt;

/* A caller bug that cannot be reported as a result: print "weft: what" on
 * stderr and abort. */
_Noreturn void weft__rt_misuse(const char *what);

/* Schedule t (holding a queue reference) from whatever thread we are on. */
void weft__schedule(weft_task *t);
/* The same for a task just spawned (never the LIFO slot). */
void weft__schedule_spawned(weft_task *t);

/* ---- time (src/time/time.c) -------------------------------------------- */

uint64_t weft__clock_ns(weft_rt *rt); /* ns since creation, paused-aware */
/* Fire every due timer; returns how many. */
size_t weft__timers_process(weft_rt *rt);
/* ms until the next timer (rounded up), or -1 when none. */
int weft__timers_timeout(weft_rt *rt);

#endif /* WEFT_SRC_RT_INTERNAL_H */
