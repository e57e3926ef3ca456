/* src/core/alloc.c - counted allocation (see alloc.h). */
#define _GNU_SOURCE
#include "alloc.h"

#include <weft/rt.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

static _Atomic uint64_t calls;

static void count(void) { atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed); }

uint64_t weft_alloc_count(void) { return atomic_load_explicit(&calls, memory_order_relaxed); }

void *weft__malloc(size_t n) {
    count();
    return malloc(n);
}

void *weft__calloc(size_t n, size_t size) {
    count();
    return calloc(n, size);
}

void *weft__realloc(void *p, size_t n) {
    count();
    return realloc(p, n);
}

void weft__free(void *p) { free(p); }

void *weft__mmap(size_t len) {
    count();
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void weft__munmap(void *p, size_t len) { munmap(p, len); }
