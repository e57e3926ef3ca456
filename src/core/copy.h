/*
 * src/core/copy.h - copying channel values.
 *
 * Channels move values of a size fixed at creation.  Most are a word or two
 * (a pointer, an integer, a small struct); for those a constant-size memcpy
 * compiles to a load and a store, where a variable-size one is a libc call.
 */
#ifndef WEFT_SRC_CORE_COPY_H
#define WEFT_SRC_CORE_COPY_H

#include <stddef.h>
#include <string.h>

static inline void weft__copy(void *dst, const void *src, size_t n) {
    switch (n) {
    case 0:
        return;
    case 1:
        memcpy(dst, src, 1);
        return;
    case 2:
        memcpy(dst, src, 2);
        return;
    case 4:
        memcpy(dst, src, 4);
        return;
    case 8:
        memcpy(dst, src, 8);
        return;
    case 16:
        memcpy(dst, src, 16);
        return;
    default:
        memcpy(dst, src, n);
        return;
    }
}

#endif /* WEFT_SRC_CORE_COPY_H */
