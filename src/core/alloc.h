/*
 * src/core/alloc.h - the only door through which the library gets memory.
 *
 * Every malloc, calloc, realloc and mmap weft makes goes through these
 * wrappers, which count the calls (weft_alloc_count), so a test can show that
 * steady-state awaiting allocates nothing.  scripts/lint.sh rejects direct
 * calls anywhere else in src/.
 */
#ifndef WEFT_SRC_CORE_ALLOC_H
#define WEFT_SRC_CORE_ALLOC_H

#include <stddef.h>

void *weft__malloc(size_t n);
void *weft__calloc(size_t n, size_t size);
void *weft__realloc(void *p, size_t n);
void weft__free(void *p);

/* Anonymous read-write pages, or NULL. */
void *weft__mmap(size_t len);
void weft__munmap(void *p, size_t len);

#endif /* WEFT_SRC_CORE_ALLOC_H */
