/*
 * src/rt/heap.c - the task heap: size-classed slabs in 64 KiB aligned chunks,
 * carved from 2 MiB arenas.
 *
 * Why not malloc: a parked task must cost under 100 bytes, and a runtime must
 * be able to find every task at shutdown.  With slabs a task pays no
 * allocator header, its runtime is found by masking its address down to the
 * chunk header (so the task header needs no scheduler pointer), and shutdown
 * walks the chunks instead of keeping a list of tasks.  Allocation and local
 * free are a few instructions.
 *
 * Why arenas: on a virtual machine a page fault costs microseconds, and an
 * munmap costs a TLB shootdown.  Chunks come from 2 MiB-aligned arenas marked
 * MADV_HUGEPAGE (one fault per arena where transparent huge pages are
 * enabled), and an emptied chunk goes to a free list for the next size class
 * that needs one instead of back to the system.  Memory returns to the system
 * only when the runtime is idle (weft__heap_trim, called before it parks):
 * arenas whose every chunk is free are unmapped, beyond a small reserve.
 *
 * Layout: a chunk's header is at its start and slots of one size class follow
 * from offset 128.  Classes step by 8 bytes up to 256 (a parked task is about
 * 90 bytes; 16-byte steps would waste 8 of them) and then by eighths of each
 * power of two up to 16 KiB; bigger requests get a mapping of their own.
 * Slots are 8-aligned, handed out by bumping through a fresh chunk, then from
 * the chunk's free list.  Fresh arena memory is zero, which the caller may
 * rely on (heap_alloc says so) to skip clearing a frame.
 *
 * Slot states: a slot whose first word is NULL is free.  The free functions
 * accept any pointer into a slot.  A free on the owner thread pushes the slot
 * on its chunk's free list at once.  A free from any other thread only pushes
 * it on an atomic stack (linked through the slot's fourth word, leaving the
 * task's vtable and state words intact), which the owner drains later; until
 * then the slot still reads as an allocated task in the COMPLETE state, which
 * every walker skips.
 *
 * ASan builds (WEFT__POISON in internal.h) keep every byte of a chunk's data
 * area that is not asked for poisoned: a chunk's whole data area when it is
 * set up for a class, a slot when it is freed (on the owner thread: all of
 * it; from another thread: all but its first four words, which the owner's
 * walkers and collector still read until it takes the slot back), and an
 * allocation unpoisons exactly the bytes asked for.  The allocator's own
 * reads and writes of poisoned slots - the free-list link in the second word,
 * the remote link in the fourth, the first word a walker reads - unpoison
 * that one word around the access.  Memory is unpoisoned before it is
 * unmapped, so a later mapping at the same address starts clean.  Slots of
 * at least 32 bytes keep both links inside their own slot.
 *
 * Lifetime: while the runtime lives, the owner counts allocated slots without
 * atomics (remote frees are counted when collected).  When the runtime is
 * freed (weft__heap_orphan), the remote stack is closed with a tag, and each
 * slot still allocated becomes a reference on the shared part: a later free,
 * from any thread, drops one, and the last unmaps everything
 * (weft__heap_destroy).
 */
#define _GNU_SOURCE
#include "internal.h"

#include "../core/alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define DATA_OFFSET 128u
#define BIG_CLASS 0xffffu
#define ARENA_SIZE ((size_t)2 << 20)
#define CHUNKS_PER_ARENA (ARENA_SIZE / WEFT__CHUNK_SIZE)
#define TRIM_RESERVE CHUNKS_PER_ARENA /* free chunks kept when trimming */

struct weft__chunk {
    weft__shared *sh;
    weft__chunk *next, *prev;   /* heap->chunks, or heap->free_chunks (next only) */
    weft__chunk *pnext, *pprev; /* heap->partial[cls] */
    void *free;                 /* free slots, linked through LOCAL_LINK */
    uint32_t slot_size, nslots, bump, used;
    uint16_t cls;
    uint8_t in_partial;
    uint8_t fresh; /* never used since its arena was mapped: slots are zero */
    size_t map_size;
    /* Meaningful in the first chunk of an arena only; chunk_setup keeps them. */
    weft__chunk *arena_next; /* heap->arenas */
    uint32_t arena_free;     /* chunks of this arena on the free list */
    uint8_t doomed;          /* chosen by weft__heap_trim */
};

_Static_assert(sizeof(struct weft__chunk) <= DATA_OFFSET, "chunk header fits");

/* Free-list link of a slot on a chunk's local list: the second word. */
#define LOCAL_LINK(slot) (((void **)(slot))[1])
/* Link on the remote stack: the fourth word, which is neither the first word
 * (the "allocated" mark) nor, with or without the 8-byte shift of an aligned
 * task, the task's state word. */
#define REMOTE_LINK(slot) (((void **)(slot))[3])

#define SMALL_CLASSES 32 /* 8, 16, ..., 256 */

static uint32_t class_size(unsigned cls) {
    if (cls < SMALL_CLASSES) return 8u * (cls + 1);
    unsigned g = (cls - SMALL_CLASSES) / 8, i = (cls - SMALL_CLASSES) % 8;
    uint32_t base = 256u << g, step = 32u << g;
    return base + step * (i + 1);
}

static unsigned class_of(size_t size) {
    if (size <= 256) return size == 0 ? 0 : (unsigned)((size + 7) / 8 - 1);
    for (unsigned g = 0; g < 6; g++) {
        size_t base = (size_t)256 << g, step = (size_t)32 << g;
        if (size <= base * 2)
            return SMALL_CLASSES + 8 * g + (unsigned)((size - base + step - 1) / step) - 1;
    }
    return BIG_CLASS;
}

static weft__chunk *chunk_of(const void *slot) {
    return (weft__chunk *)((uintptr_t)slot & ~(uintptr_t)(WEFT__CHUNK_SIZE - 1));
}

static weft__chunk *arena_of(const weft__chunk *c) {
    return (weft__chunk *)((uintptr_t)c & ~(uintptr_t)(ARENA_SIZE - 1));
}

/* The start of the slot that contains p. */
static void *slot_start(weft__chunk *c, const void *p) {
    size_t off = (size_t)((const char *)p - ((char *)c + DATA_OFFSET));
    return (char *)c + DATA_OFFSET + off / c->slot_size * c->slot_size;
}

weft__shared *weft__slot_shared(const void *slot) { return chunk_of(slot)->sh; }

/* mmap size bytes aligned to align (a power of two), or NULL. */
static void *map_aligned(size_t size, size_t align) {
    size_t span = size + align;
    char *p = weft__mmap(span);
    if (!p) return NULL;
    uintptr_t a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = a - (uintptr_t)p, tail = span - head - size;
    if (head) weft__munmap(p, head);
    if (tail) weft__munmap((char *)a + size, tail);
    return (void *)a;
}

/* ---- lists ------------------------------------------------------------------ */

static void partial_push(weft__heap *h, weft__chunk *c) {
    c->pprev = NULL;
    c->pnext = h->partial[c->cls];
    if (c->pnext) c->pnext->pprev = c;
    h->partial[c->cls] = c;
    c->in_partial = 1;
}

static void partial_remove(weft__heap *h, weft__chunk *c) {
    if (c->pprev)
        c->pprev->pnext = c->pnext;
    else
        h->partial[c->cls] = c->pnext;
    if (c->pnext) c->pnext->pprev = c->pprev;
    c->pnext = c->pprev = NULL;
    c->in_partial = 0;
}

static void all_push(weft__heap *h, weft__chunk *c) {
    c->prev = NULL;
    c->next = h->chunks;
    if (c->next) c->next->prev = c;
    h->chunks = c;
    h->nchunks++;
}

static void all_remove(weft__heap *h, weft__chunk *c) {
    if (c->prev)
        c->prev->next = c->next;
    else
        h->chunks = c->next;
    if (c->next) c->next->prev = c->prev;
    h->nchunks--;
}

static void free_chunk_push(weft__heap *h, weft__chunk *c) {
    c->next = h->free_chunks;
    h->free_chunks = c;
    h->nfree_chunks++;
    arena_of(c)->arena_free++;
}

static weft__chunk *free_chunk_pop(weft__heap *h) {
    weft__chunk *c = h->free_chunks;
    if (!c) return NULL;
    h->free_chunks = c->next;
    h->nfree_chunks--;
    arena_of(c)->arena_free--;
    return c;
}

/* ---- chunks ----------------------------------------------------------------- */

static int arena_new(weft__heap *h) {
    char *a = map_aligned(ARENA_SIZE, ARENA_SIZE);
    if (!a) return -1;
    (void)madvise(a, ARENA_SIZE, MADV_HUGEPAGE); /* a hint; fine if refused */
    weft__chunk *first = (weft__chunk *)a;
    first->arena_free = 0;
    first->doomed = 0;
    first->arena_next = h->arenas;
    h->arenas = first;
    h->narenas++;
    /* Push in reverse so chunks are used in address order. */
    for (size_t i = CHUNKS_PER_ARENA; i-- > 0;) {
        weft__chunk *c = (weft__chunk *)(a + i * WEFT__CHUNK_SIZE);
        c->fresh = 1;
        free_chunk_push(h, c);
    }
    return 0;
}

static void chunk_setup(weft__shared *sh, weft__chunk *c, unsigned cls, size_t map_size,
                        uint32_t slot_size) {
    c->sh = sh;
    c->free = NULL;
    c->slot_size = slot_size;
    c->nslots = (uint32_t)((map_size - DATA_OFFSET) / slot_size);
    c->bump = 0;
    c->used = 0;
    c->cls = (uint16_t)cls;
    c->in_partial = 0;
    c->map_size = map_size;
    c->pnext = c->pprev = NULL;
}

static weft__chunk *chunk_new(weft__shared *sh, unsigned cls) {
    weft__heap *h = &sh->heap;
    if (!h->free_chunks && arena_new(h) < 0) return NULL;
    weft__chunk *c = free_chunk_pop(h);
    chunk_setup(sh, c, cls, WEFT__CHUNK_SIZE, class_size(cls));
    WEFT__POISON((char *)c + DATA_OFFSET, WEFT__CHUNK_SIZE - DATA_OFFSET);
    all_push(h, c);
    partial_push(h, c);
    return c;
}

/* An empty chunk goes back to the free list (big mappings to the system). */
static void chunk_release(weft__heap *h, weft__chunk *c) {
    if (c->in_partial) partial_remove(h, c);
    all_remove(h, c);
    if (c->cls == BIG_CLASS) {
        WEFT__UNPOISON(c, c->map_size);
        weft__munmap(c, c->map_size);
        return;
    }
    c->fresh = 0;
    free_chunk_push(h, c);
}

/* A slot went back to chunk c (owner thread).  Its first word is readable
 * (the slot was allocated, or freed remotely: see heap_free). */
static void chunk_put(weft__heap *h, weft__chunk *c, void *slot) {
    if (((void **)slot)[0] == WEFT__OBJ_IN_HEAP) h->objects--;
    ((void **)slot)[0] = NULL;
    if (c->cls == BIG_CLASS) {
        WEFT__POISON(slot, c->slot_size);
        c->used = 0;
        if (!h->walking) chunk_release(h, c);
        return;
    }
    WEFT__UNPOISON(&LOCAL_LINK(slot), sizeof(void *)); /* past a small object's end */
    LOCAL_LINK(slot) = c->free;
    WEFT__POISON(slot, c->slot_size);
    c->free = slot;
    c->used--;
    if (!c->in_partial) partial_push(h, c);
    /* An emptied chunk goes back to the free list - unless it is the only
     * one its class has room in: then a class with one task coming and
     * going would release and set up a chunk on every spawn. */
    if (c->used == 0 && !h->walking && (h->partial[c->cls] != c || c->pnext))
        chunk_release(h, c);
}

/* The remote stack's head once the runtime is gone: frees drop references. */
#define ORPHANED ((void *)1)

static void put_list(weft__heap *h, void *s) {
    while (s) {
        void *next = REMOTE_LINK(s);
        chunk_put(h, chunk_of(s), s);
        h->allocated--;
        s = next;
    }
}

void weft__heap_collect(weft__shared *sh) {
    put_list(&sh->heap,
             atomic_exchange_explicit(&sh->heap.remote_free, NULL, memory_order_acquire));
}

void weft__heap_orphan(weft__shared *sh) {
    weft__heap *h = &sh->heap;
    /* Frees that see the tag drop a reference each, possibly before the
     * count below is in: a bias keeps the count from reaching zero early. */
    const size_t bias = (size_t)1 << (sizeof(size_t) * 8 - 2);
    atomic_fetch_add_explicit(&sh->refs, bias, memory_order_relaxed);
    put_list(h, atomic_exchange_explicit(&h->remote_free, ORPHANED, memory_order_acq_rel));
    atomic_fetch_add_explicit(&sh->refs, h->allocated - bias, memory_order_acq_rel);
}

/* weft__heap_alloc without the final unpoisoning: every byte of the slot is
 * poisoned in ASan builds. */
static inline void *slot_alloc(weft__shared *sh, size_t size, int *zeroed) {
    weft__heap *h = &sh->heap;
    if (atomic_load_explicit(&h->remote_free, memory_order_relaxed)) weft__heap_collect(sh);
    unsigned cls = class_of(size);
    void *slot;
    if (cls == BIG_CLASS) {
        if (size > SIZE_MAX - DATA_OFFSET - 4096) return NULL;
        size_t map_size = (DATA_OFFSET + size + 4095) & ~(size_t)4095;
        weft__chunk *c = map_aligned(map_size, WEFT__CHUNK_SIZE);
        if (!c) return NULL;
        chunk_setup(sh, c, BIG_CLASS, map_size, (uint32_t)(map_size - DATA_OFFSET));
        WEFT__POISON((char *)c + DATA_OFFSET, map_size - DATA_OFFSET);
        c->nslots = 1;
        c->bump = 1;
        c->used = 1;
        all_push(h, c);
        slot = (char *)c + DATA_OFFSET;
        *zeroed = 1;
    } else {
        weft__chunk *c = h->partial[cls];
        if (!c && !(c = chunk_new(sh, cls))) return NULL;
        if (c->free) {
            slot = c->free;
            WEFT__UNPOISON(&LOCAL_LINK(slot), sizeof(void *));
            c->free = LOCAL_LINK(slot);
            WEFT__POISON(&LOCAL_LINK(slot), sizeof(void *));
            *zeroed = 0;
        } else {
            slot = (char *)c + DATA_OFFSET + (size_t)c->bump * c->slot_size;
            c->bump++;
            *zeroed = c->fresh;
        }
        c->used++;
        if (c->used == c->nslots) partial_remove(h, c);
    }
    h->allocated++;
    return slot;
}

void *weft__heap_alloc(weft__shared *sh, size_t size, int *zeroed) {
    void *slot = slot_alloc(sh, size, zeroed);
    if (slot) WEFT__UNPOISON(slot, size);
    return slot;
}

void weft__heap_free(void *p) {
    weft__chunk *c = chunk_of(p);
    weft__shared *sh = c->sh;
    void *slot = slot_start(c, p);
    if (weft__tls_rt && weft__tls_rt->sh == sh) {
        chunk_put(&sh->heap, c, slot);
        sh->heap.allocated--;
        return;
    }
    /* Off the owner thread the slot stays as it is until the owner takes it
     * back: its first words must stay readable (the mark and the task's
     * state for walkers, the link for the collector).  Poison the rest now -
     * before the slot is published, after which it may be reused - and the
     * link word, which lies past a small object's end, is opened up. */
    WEFT__POISON((char *)slot + 4 * sizeof(void *), c->slot_size - 4 * sizeof(void *));
    WEFT__UNPOISON(&REMOTE_LINK(slot), sizeof(void *));
    void *head = atomic_load_explicit(&sh->heap.remote_free, memory_order_relaxed);
    do {
        if (head == ORPHANED) {
            weft__shared_release(sh); /* the runtime is gone: just let go */
            return;
        }
        REMOTE_LINK(slot) = head;
    } while (!atomic_compare_exchange_weak_explicit(&sh->heap.remote_free, &head, slot,
                                                    memory_order_release, memory_order_relaxed));
}

void *weft__obj_alloc(size_t size) {
    weft_rt *rt = weft__tls_rt;
    void *p;
    if (rt && !rt->closing && size >= sizeof(void *)) {
        int zeroed;
        /* At least 32 bytes of slot, so that the free links (the second and
         * fourth words) stay inside it; exactly size bytes addressable. */
        p = slot_alloc(rt->sh, size < 32 ? 32 : size, &zeroed);
        if (!p) return NULL;
        WEFT__UNPOISON(p, size);
        if (!zeroed) memset(p, 0, size);
        *(void **)p = WEFT__OBJ_IN_HEAP;
        rt->sh->heap.objects++;
        return p;
    }
    p = weft__calloc(1, size < sizeof(void *) ? sizeof(void *) : size);
    if (p) *(void **)p = WEFT__OBJ_IN_MALLOC;
    return p;
}

void weft__obj_free(void *p) {
    if (!p) return;
    if (*(void **)p == WEFT__OBJ_IN_HEAP)
        weft__heap_free(p);
    else
        weft__free(p);
}

void weft__heap_foreach(weft__shared *sh, void (*fn)(void *slot, void *arg), void *arg) {
    weft__heap *h = &sh->heap;
    /* fn may free slots; while walking, emptied chunks stay in the list and
     * are released afterwards, so the walk never steps on a recycled chunk. */
    h->walking++;
    for (weft__chunk *c = h->chunks; c; c = c->next) {
        char *base = (char *)c + DATA_OFFSET;
        for (uint32_t i = 0; i < c->bump; i++) {
            void *slot = base + (size_t)i * c->slot_size;
            /* A free slot is poisoned whole: read only its first word, and
             * poison that again when the slot is free. */
            WEFT__UNPOISON(slot, sizeof(void *));
            if (((void **)slot)[0] != NULL)
                fn(slot, arg);
            else
                WEFT__POISON(slot, sizeof(void *));
        }
    }
    h->walking--;
    if (h->walking) return;
    weft__chunk *c = h->chunks;
    while (c) {
        weft__chunk *next = c->next;
        if (c->used == 0) chunk_release(h, c);
        c = next;
    }
}

void weft__heap_trim(weft__heap *h) {
    if (h->nfree_chunks < TRIM_RESERVE + CHUNKS_PER_ARENA) return;
    /* Choose wholly free arenas to give back, keeping a reserve. */
    size_t nfree = h->nfree_chunks;
    int any = 0;
    for (weft__chunk *a = h->arenas; a; a = a->arena_next) {
        a->doomed = a->arena_free == CHUNKS_PER_ARENA && nfree >= TRIM_RESERVE + CHUNKS_PER_ARENA;
        if (a->doomed) {
            nfree -= CHUNKS_PER_ARENA;
            any = 1;
        }
    }
    if (!any) return;
    /* Their chunks leave the free list... */
    weft__chunk **pp = &h->free_chunks;
    while (*pp) {
        if (arena_of(*pp)->doomed) {
            *pp = (*pp)->next;
            h->nfree_chunks--;
        } else {
            pp = &(*pp)->next;
        }
    }
    /* ...and the arenas go back to the system. */
    weft__chunk **ap = &h->arenas;
    while (*ap) {
        weft__chunk *a = *ap;
        if (a->doomed) {
            *ap = a->arena_next;
            h->narenas--;
            WEFT__UNPOISON(a, ARENA_SIZE);
            weft__munmap(a, ARENA_SIZE);
        } else {
            ap = &a->arena_next;
        }
    }
}

void weft__heap_destroy(weft__heap *h) {
    weft__chunk *c = h->chunks;
    while (c) {
        weft__chunk *next = c->next;
        if (c->cls == BIG_CLASS) {
            WEFT__UNPOISON(c, c->map_size);
            weft__munmap(c, c->map_size);
        }
        c = next;
    }
    weft__chunk *a = h->arenas;
    while (a) {
        weft__chunk *next = a->arena_next;
        WEFT__UNPOISON(a, ARENA_SIZE);
        weft__munmap(a, ARENA_SIZE);
        a = next;
    }
    memset(h, 0, sizeof *h);
}
