/* src/core/async.c - the frame sentinels, rule violations, frame dumps. */
#include <weft/async.h>

#include <stdio.h>
#include <stdlib.h>

const weft_site weft__site_fin = {"", "", "(finishing)", WEFT__LINE_FIN, 0};
const weft_site weft__site_cancel = {"", "", "(cancelling)", WEFT__LINE_FIN, 0};
const weft_site weft__site_done = {"", "", "(done)", WEFT__LINE_DONE, 0};

void weft__frame_panic(const weft_site *s, const char *what) {
    if (s && s->line > 0)
        fprintf(stderr, "weft: %s:%d in %s: %s (at weft_await(%s))\n", s->file, s->line, s->func,
                what, s->expr);
    else
        fprintf(stderr, "weft: %s\n", what);
    fflush(stderr);
    abort();
}

void weft_frame_dump(const weft_frame *fr, FILE *out) {
    /* A chain is finite (each child is embedded in its parent); the depth
     * guard only protects against a corrupt frame. */
    for (int depth = 0; fr && depth < 64; depth++) {
        const weft_site *s = fr->site;
        if (s == NULL)
            fprintf(out, "  not started\n");
        else if (s->line < 0)
            fprintf(out, "  %s\n", s->expr);
        else
            fprintf(out, "  at %s:%d in %s: awaiting %s\n", s->file, s->line, s->func, s->expr);
        if (s && s->line > 0 &&
            atomic_load_explicit(&((weft_site *)s)->child, memory_order_relaxed) ==
                WEFT__CHILD_VARIES)
            fprintf(out, "  (in a child frame whose place varies)\n");
        fr = weft_frame_child(fr);
    }
}

void weft__body_panic(const char *file, int line, const char *func, const char *what) {
    fprintf(stderr, "weft: %s:%d in %s: %s\n", file, line, func, what);
    fflush(stderr);
    abort();
}
