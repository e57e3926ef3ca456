#!/bin/sh
# Project rules a compiler does not check.  Exit status 1 on a violation.
set -u
status=0
# 1. Every heap allocation in the library goes through src/core/alloc.h, so
#    weft_alloc_count() sees it (the "no allocation per await" test relies on
#    that).  Only the allocator itself may call the system directly.
bad=$(grep -rnE '\b(malloc|calloc|realloc|free|mmap|munmap|aligned_alloc|posix_memalign|strdup)[[:space:]]*\(' src \
      --include='*.c' --include='*.h' | grep -v '^src/core/alloc\.' | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)')
if [ -n "$bad" ]; then
    echo "lint: allocation outside src/core/alloc.c:"
    echo "$bad"
    status=1
fi
# 2. Public symbols start with weft_ / WEFT_ (check the exported library).
lib=${BUILD:-build}/libweft.a
if [ -f "$lib" ]; then
    syms=$(nm -g --defined-only "$lib" 2>/dev/null | awk 'NF==3 {print $3}' | grep -vE '^(weft_|weft__|WEFT_)' | sort -u)
    if [ -n "$syms" ]; then
        echo "lint: exported symbols without the weft_ prefix:"
        echo "$syms"
        status=1
    fi
fi
[ $status -eq 0 ] && echo "lint: ok"
exit $status
