/*
 * src/net/line_reader.c - the bounded line reader (see include/weft/net.h).
 *
 * The buffer never grows.  Invariant: buf[start, end) holds bytes read but
 * not yet returned; buf[start, scanned) is known to contain no newline, so a
 * re-poll does not scan the same bytes twice.  An overlong line is reported
 * once and then discarded up to its newline, however long it turns out to be.
 */
#include <weft/net.h>

#include "../core/alloc.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int weft_line_reader_init(weft_line_reader *r, weft_tcp *s, size_t capacity) {
    if (!r || !s || capacity < 2 || capacity > INT_MAX) return -EINVAL;
    memset(r, 0, sizeof *r);
    r->buf = weft__malloc(capacity);
    if (!r->buf) return -ENOMEM;
    r->sock = s;
    r->cap = capacity;
    return 0;
}

void weft_line_reader_free(weft_line_reader *r) {
    if (!r) return;
    weft__free(r->buf);
    r->buf = NULL;
}

/* Hand out buf[start, nl) as a line (without "\r\n"), consuming the "\n". */
static void take_line(weft_line_reader *r, size_t nl, const char **line, size_t *len) {
    size_t n = nl - r->start;
    if (n && r->buf[nl - 1] == '\r') n--;
    r->buf[r->start + n] = '\0';
    *line = r->buf + r->start;
    *len = n;
    r->start = r->scanned = nl + 1;
}

/*
 * The coop budget: every call that completes counts once.  The reads it
 * makes count on their own (so skipping an endless overlong line still
 * yields); a call that completes from the buffer alone, or with an error
 * before any read, counts here.  `before` is the budget at the start.
 */
static weft_poll ready_counted(weft_cx *cx, unsigned before) {
    if (cx->budget == before) weft_coop_made_progress(cx);
    return WEFT_READY;
}

/* The reader: *status 0 with a line of *len bytes (or *line NULL at the end
 * of the stream), or a negative errno.  weft_read_line folds the two. */
static weft_poll read_line(weft_line_reader *r, weft_cx *cx, size_t max, const char **line,
                           size_t *len, int *status) {
    if (!weft_coop_poll(cx)) return WEFT_PENDING;
    unsigned before = cx->budget;
    if (max >= r->cap) {
        *status = -EINVAL;
        return ready_counted(cx, before);
    }
    for (;;) {
        char *nlp = r->scanned < r->end ? memchr(r->buf + r->scanned, '\n', r->end - r->scanned)
                                         : NULL;
        if (r->discarding) {
            if (nlp) {
                r->start = r->scanned = (size_t)(nlp - r->buf) + 1;
                r->discarding = 0;
                continue;
            }
            r->start = r->scanned = r->end = 0; /* drop it all, keep reading */
            /* The stream ended inside the overlong line (already reported):
             * what is left to say is the end of stream. */
            if (r->eof) r->discarding = 0;
        } else if (nlp) {
            size_t nl = (size_t)(nlp - r->buf);
            size_t n = nl - r->start;
            if (n && r->buf[nl - 1] == '\r') n--;
            if (n > max) {
                r->start = r->scanned = nl + 1;
                *status = -EMSGSIZE;
                return ready_counted(cx, before);
            }
            take_line(r, nl, line, len);
            *status = 0;
            return ready_counted(cx, before);
        } else {
            r->scanned = r->end;
            /* max bytes plus a possible '\r' may still become a valid line;
             * anything longer cannot. */
            if (r->end - r->start > max + 1 || (r->start == 0 && r->end == r->cap)) {
                if (r->end - r->start == max + 1 && r->buf[r->end - 1] == '\r' && !r->eof) {
                    /* max bytes and a '\r' fill the buffer (capacity == max + 1):
                     * only the next byte tells a line of max bytes ending in
                     * "\r\n" from an overlong one.  Peek at it without room:
                     * the byte is consumed only when this call completes. */
                    char c;
                    int n;
                    if (weft_tcp_read(r->sock, cx, &c, 1, &n) == WEFT_PENDING)
                        return WEFT_PENDING;
                    if (n < 0) {
                        *status = n;
                        return ready_counted(cx, before);
                    }
                    if (n == 0) {
                        r->eof = 1;
                        continue; /* a last line of max + 1 bytes: overlong */
                    }
                    if (c == '\n') {
                        r->buf[r->end - 1] = '\0';
                        *line = r->buf + r->start;
                        *len = max;
                        r->start = r->scanned = r->end;
                        *status = 0;
                        return ready_counted(cx, before);
                    }
                    /* c belongs to the overlong line: discard with the rest */
                }
                r->discarding = 1;
                r->start = r->scanned = r->end = 0;
                *status = -EMSGSIZE;
                return ready_counted(cx, before);
            }
            if (r->eof) {
                if (r->end > r->start) {
                    /* A last line without a newline. */
                    if (r->end == r->cap) { /* no room for the NUL: shift */
                        memmove(r->buf, r->buf + r->start, r->end - r->start);
                        r->end -= r->start;
                        r->start = 0;
                    }
                    size_t n = r->end - r->start;
                    if (n > max) {
                        r->start = r->scanned = r->end;
                        *status = -EMSGSIZE;
                        return ready_counted(cx, before);
                    }
                    r->buf[r->end] = '\0';
                    *line = r->buf + r->start;
                    *len = n;
                    r->start = r->scanned = r->end;
                    *status = 0;
                    return ready_counted(cx, before);
                }
                *line = NULL;
                *len = 0;
                *status = 0;
                return ready_counted(cx, before);
            }
        }
        if (r->eof) continue;
        /* Need more bytes: make room at the end first. */
        if (r->start > 0 && r->end == r->cap) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->scanned -= r->start;
            r->start = 0;
        }
        if (r->start == r->end) r->start = r->scanned = r->end = 0;
        int n;
        if (weft_tcp_read(r->sock, cx, r->buf + r->end, r->cap - r->end, &n) == WEFT_PENDING)
            return WEFT_PENDING;
        if (n < 0) {
            *status = n;
            return ready_counted(cx, before);
        }
        if (n == 0)
            r->eof = 1;
        else
            r->end += (size_t)n;
    }
}

weft_poll weft_read_line(weft_line_reader *r, weft_cx *cx, size_t max, const char **line,
                         int *res) {
    if (cx == NULL) return weft_tcp_read(r->sock, NULL, NULL, 0, NULL);
    size_t len = 0;
    int status = 0;
    if (read_line(r, cx, max, line, &len, &status) == WEFT_PENDING) return WEFT_PENDING;
    if (res) *res = status < 0 ? status : (int)len;
    return WEFT_READY;
}
