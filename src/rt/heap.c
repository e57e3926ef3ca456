/*
 * src/rt/heap.c - the task heap: size-classed slabs in 64 KiB aligned chunks.
 *
 * Why not malloc: a parked task must cost under 100 bytes, and a runtime must
 * be able to find every task at shutdown.  With slabs a task pays no
 * allocator header, its runtime is found by masking its address down to the
 * chunk header (so the task header needs no scheduler pointer), and shutdown
 * walks the chunks instead of keeping a list of tasks.  Allocation and local
 * free are a few instructions.
 *
 * Layout: a chunk is a 64 KiB-aligned mapping; its header is at the start and
 * slots of one size class follow from offset 128.  Classes step by 8 bytes up
 * to 256 (a parked task is about 90 bytes; 16-byte steps would waste 8 of
 * them) and then by eighths of each power of two up to 16 KiB; bigger
 * requests get a chunk of their own.  Slots are 8-aligned.  Slots are handed
 * out by bumping through a fresh chunk, then from the chunk's free list.
 *
 * Slot states: a slot whose first word is NULL is free.  The free functions
 * accept any pointer into a slot.  A free on the owner
 * thread pushes the slot on its chunk's free list at once.  A free from any
 * other thread only pushes it on an atomic stack (linked through the slot's
 * third word, leaving the first two words - the task's vtable and state -
 * intact), which the owner drains later; until then the slot still reads as
 * an allocated task in the COMPLETE state, which every walker skips.
 *
 * Lifetime: every allocated slot holds a reference on the shared part; the
 * last reference unmaps everything (weft__heap_destroy).
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define DATA_OFFSET 128u
#define BIG_CLASS 0xffffu

struct weft__chunk {
    weft__shared *sh;
    weft__chunk *next, *prev;         /* heap->chunks */
    weft__chunk *pnext, *pprev;       /* heap->partial[cls] */
    void *free;                       /* free slots, linked through LOCAL_LINK */
    uint32_t slot_size, nslots, bump, used;
    uint16_t cls;
    uint8_t in_partial;
    size_t map_size;
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

/* The start of the slot that contains p. */
static void *slot_start(weft__chunk *c, const void *p) {
    size_t off = (size_t)((const char *)p - ((char *)c + DATA_OFFSET));
    return (char *)c + DATA_OFFSET + off / c->slot_size * c->slot_size;
}

static void *map_aligned(size_t size) {
    size_t span = size + WEFT__CHUNK_SIZE;
    char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    uintptr_t a = ((uintptr_t)p + WEFT__CHUNK_SIZE - 1) & ~(uintptr_t)(WEFT__CHUNK_SIZE - 1);
    size_t head = a - (uintptr_t)p, tail = span - head - size;
    if (head) munmap(p, head);
    if (tail) munmap((char *)a + size, tail);
    return (void *)a;
}

static weft__chunk *chunk_of(const void *slot) {
    return (weft__chunk *)((uintptr_t)slot & ~(uintptr_t)(WEFT__CHUNK_SIZE - 1));
}

weft__shared *weft__slot_shared(const void *slot) { return chunk_of(slot)->sh; }

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
    weft__chunk *c = h->empty;
    if (c) {
        h->empty = NULL;
    } else {
        c = map_aligned(WEFT__CHUNK_SIZE);
        if (!c) return NULL;
    }
    chunk_setup(sh, c, cls, WEFT__CHUNK_SIZE, class_size(cls));
    all_push(h, c);
    partial_push(h, c);
    return c;
}

/*
 * An empty chunk leaves the heap.  One is kept mapped to absorb spawn/finish
 * churn; the rest go back to the system so a burst of tasks does not pin its
 * memory for ever.
 */
static void chunk_release(weft__heap *h, weft__chunk *c) {
    if (c->in_partial) partial_remove(h, c);
    all_remove(h, c);
    if (!h->empty && c->cls != BIG_CLASS) {
        h->empty = c;
    } else {
        munmap(c, c->map_size);
    }
}

/* A slot went back to chunk c (owner thread). */
static void chunk_put(weft__heap *h, weft__chunk *c, void *slot) {
    ((void **)slot)[0] = NULL;
    if (c->cls == BIG_CLASS) {
        c->used = 0;
        if (!h->walking) chunk_release(h, c);
        return;
    }
    LOCAL_LINK(slot) = c->free;
    c->free = slot;
    c->used--;
    if (c->used == 0 && !h->walking) {
        chunk_release(h, c);
        return;
    }
    if (!c->in_partial) partial_push(h, c);
}

void weft__heap_collect(weft__shared *sh) {
    void *s = atomic_exchange_explicit(&sh->heap.remote_free, NULL, memory_order_acquire);
    while (s) {
        void *next = REMOTE_LINK(s);
        chunk_put(&sh->heap, chunk_of(s), s);
        s = next;
    }
}

void *weft__heap_alloc(weft__shared *sh, size_t size) {
    weft__heap *h = &sh->heap;
    if (atomic_load_explicit(&h->remote_free, memory_order_relaxed)) weft__heap_collect(sh);
    unsigned cls = class_of(size);
    void *slot;
    if (cls == BIG_CLASS) {
        if (size > SIZE_MAX - DATA_OFFSET - 4096) return NULL;
        size_t map_size = (DATA_OFFSET + size + 4095) & ~(size_t)4095;
        weft__chunk *c = map_aligned(map_size);
        if (!c) return NULL;
        chunk_setup(sh, c, BIG_CLASS, map_size, (uint32_t)(map_size - DATA_OFFSET));
        c->nslots = 1;
        c->bump = 1;
        c->used = 1;
        all_push(h, c);
        slot = (char *)c + DATA_OFFSET;
    } else {
        weft__chunk *c = h->partial[cls];
        if (!c && !(c = chunk_new(sh, cls))) return NULL;
        if (c->free) {
            slot = c->free;
            c->free = LOCAL_LINK(slot);
        } else {
            slot = (char *)c + DATA_OFFSET + (size_t)c->bump * c->slot_size;
            c->bump++;
        }
        c->used++;
        if (c->used == c->nslots) partial_remove(h, c);
    }
    atomic_fetch_add_explicit(&sh->refs, 1, memory_order_relaxed);
    return slot;
}

void weft__heap_free(void *p) {
    weft__chunk *c = chunk_of(p);
    weft__shared *sh = c->sh;
    void *slot = slot_start(c, p);
    if (weft__tls_rt && weft__tls_rt->sh == sh) {
        chunk_put(&sh->heap, c, slot);
    } else {
        void *head = atomic_load_explicit(&sh->heap.remote_free, memory_order_relaxed);
        do {
            REMOTE_LINK(slot) = head;
        } while (!atomic_compare_exchange_weak_explicit(&sh->heap.remote_free, &head, slot,
                                                        memory_order_release,
                                                        memory_order_relaxed));
    }
    weft__shared_release(sh);
}

void weft__heap_foreach(weft__shared *sh, void (*fn)(void *slot, void *arg), void *arg) {
    weft__heap *h = &sh->heap;
    /* fn may free slots; while walking, emptied chunks stay in the list and
     * are released afterwards, so the walk never steps on unmapped memory. */
    h->walking++;
    for (weft__chunk *c = h->chunks; c; c = c->next) {
        char *base = (char *)c + DATA_OFFSET;
        for (uint32_t i = 0; i < c->bump; i++) {
            void *slot = base + (size_t)i * c->slot_size;
            if (((void **)slot)[0] != NULL) fn(slot, arg);
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

void weft__heap_destroy(weft__heap *h) {
    weft__chunk *c = h->chunks;
    while (c) {
        weft__chunk *next = c->next;
        munmap(c, c->map_size);
        c = next;
    }
    if (h->empty) munmap(h->empty, h->empty->map_size);
    memset(h, 0, sizeof *h);
}
