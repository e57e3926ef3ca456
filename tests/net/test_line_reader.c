/*
 * tests/net/test_line_reader.c - the bounded line reader (weft_read_line).
 *
 * The reader is fed over a loopback TCP connection by a feeder task that
 * writes the stream in chosen fragments (whole, 1, 2, 3, 5 bytes, around the
 * buffer capacity, random sizes), sleeping 1 ms on the paused clock between
 * them.  The paused clock only moves when the runtime is idle, i.e. after the
 * reader has consumed what was sent, so in practice every fragment is a
 * separate read - but nothing depends on that: the expected result is
 * computed from the stream alone by a small reference model of the spec
 * (net.h), and every interleaving must produce it.
 *
 * The model: split at '\n'; drop one '\r' before each '\n'; a line longer
 * than max is reported as -EMSGSIZE (once) instead; a last line without a
 * newline is delivered (or reported) before the end of stream.
 */
#include <weft.h>

#include "net_util.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* ---- helpers -------------------------------------------------------------- */

/* A growing text buffer for event logs. */
typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void text_add(text *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (t->len + n + 1 > cap) cap *= 2;
        char *q = realloc(t->p, cap);
        if (!q) abort();
        t->p = q;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void text_str(text *t, const char *s) { text_add(t, s, strlen(s)); }

static void text_free(text *t) {
    free(t->p);
    t->p = NULL;
    t->len = t->cap = 0;
}

/*
 * The reference model: the events weft_read_line must produce for stream,
 * one per line of the log: "=<line>" for a line, "!" for -EMSGSIZE, "EOF".
 */
static void model(const char *s, size_t n, size_t max, text *out) {
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - s) : n;
        size_t len = end - i;
        if (nl && len && s[end - 1] == '\r') len--;
        if (len > max) {
            text_str(out, "!\n");
        } else {
            text_str(out, "=");
            text_add(out, s + i, len);
            text_str(out, "\n");
        }
        i = end + 1;
    }
    text_str(out, "EOF\n");
}

/* ---- the feeder and the collector ------------------------------------------- */

/* Write data in fragments of frag bytes (0: random sizes 1..rmax), 1 ms of
 * paused clock apart; then shut down the write side. */
typedef struct feeder {
    weft_frame fr;
    weft_tcp *s;
    const char *data;
    size_t len, pos, cur, frag, rmax;
    uint64_t seed;
    weft_write_op wr;
    int wr_res; /* its result */
    weft_sleep_op sl;
    int err;
} feeder;

weft_async_fn(feeder_poll, feeder) {
    weft_async (self) {
        while (self->pos < self->len) {
            self->cur = self->frag ? self->frag : 1 + test_rand(&self->seed) % self->rmax;
            if (self->cur > self->len - self->pos) self->cur = self->len - self->pos;
            weft_await(weft_tcp_write_all(self->s, cx, &self->wr, self->data + self->pos,
                                          self->cur, &self->err));
            if (self->err) break;
            self->pos += self->cur;
            weft_await(weft_sleep(&self->sl, cx, 1));
        }
        weft_tcp_shutdown(self->s, SHUT_WR);
    }
    return WEFT_READY;
}

#define MAX_EVENTS 100000

/* weft_read_line's result as these tests check it: *status 0 or a negative
 * errno, *len the line's length. */
static void split_res(int *status, size_t *len) {
    if (*status >= 0) {
        *len = (size_t)*status;
        *status = 0;
    }
}

/* Read lines until the end of stream or an error other than -EMSGSIZE,
 * logging each event; checks every line lies inside the reader's buffer. */
typedef struct collector {
    weft_frame fr;
    weft_line_reader *r;
    size_t max;
    const char *line;
    size_t len;
    int status;
    text *log;
    int events, bad_line, final_status;
} collector;

weft_async_fn(collector_poll, collector) {
    weft_async (self) {
        while (self->events++ < MAX_EVENTS) {
            self->line = (const char *)1;
            self->status = 12345;
            weft_await(weft_read_line(self->r, cx, self->max, &self->line, &self->status));
            split_res(&self->status, &self->len);
            if (self->status == -EMSGSIZE) {
                text_str(self->log, "!\n");
                continue;
            }
            if (self->status != 0) {
                char e[32];
                snprintf(e, sizeof e, "E%d\n", self->status);
                text_str(self->log, e);
                break;
            }
            if (self->line == NULL) {
                text_str(self->log, "EOF\n");
                break;
            }
            if (self->line < self->r->buf ||
                self->line + self->len >= self->r->buf + self->r->cap ||
                self->line[self->len] != '\0' || self->len > self->max)
                self->bad_line++;
            text_str(self->log, "=");
            text_add(self->log, self->line, self->len);
            text_str(self->log, "\n");
        }
        self->final_status = self->status;
    }
    return WEFT_READY;
}

/* One run: feed stream in fragments of frag bytes to a reader with the given
 * capacity, reading with max; the event log goes to *log. */
typedef struct run_result {
    int setup, bad_line, feeder_err, grew;
    uint64_t held, registered, timers;
} run_result;

static run_result run_reader(const char *stream, size_t n, size_t cap, size_t max, size_t frag,
                             uint64_t seed, text *log) {
    run_result res = {0};
    weft_rt *rt = new_paused_rt();
    weft_tcp *a = NULL, *b = NULL;
    if (!rt || loopback_pair(&a, NULL, &b) < 0) {
        res.setup = -1;
        weft_rt_free(rt);
        return res;
    }
    weft_line_reader r;
    if (weft_line_reader_init(&r, b, cap) < 0) {
        res.setup = -1;
        return res;
    }
    char *buf0 = r.buf;
    feeder *f;
    MUST(weft_task_new(&f, rt, feeder_poll));
    f->s = a;
    f->data = stream;
    f->len = n;
    f->frag = frag;
    f->rmax = 2 * cap;
    f->seed = seed | 1;
    weft_task *fh = weft_task_spawn(f);
    collector c = {.r = &r, .max = max, .log = log};
    weft_block_on(rt, collector_poll, &c);
    res.bad_line = c.bad_line;
    res.grew = r.buf != buf0 || r.cap != cap;
    /* the feeder is done or parked on a write the reader will never take */
    weft_task_abort(fh);
    weft_task_release(fh);
    weft_line_reader_free(&r);
    weft_tcp_close(a);
    weft_tcp_close(b);
    weft_rt_free(rt);
    return res;
}

static const size_t frags[] = {0 /* whole */, 1, 2, 3, 5, 7, (size_t)-1 /* cap - 1 */,
                               (size_t)-2 /* cap */, (size_t)-3 /* cap + 1 */,
                               (size_t)-4 /* random */, (size_t)-5 /* random */};

static size_t frag_size(size_t f, size_t cap, size_t n) {
    switch (f) {
    case 0: return n ? n : 1;
    case (size_t)-1: return cap - 1;
    case (size_t)-2: return cap;
    case (size_t)-3: return cap + 1;
    case (size_t)-4:
    case (size_t)-5: return 0; /* random */
    default: return f;
    }
}

/*
 * Feed stream to readers of capacity cap with limit max under every
 * fragmentation, and compare with the model (or with want, when given).
 */
static void check_stream(const char *stream, size_t n, size_t cap, size_t max, const char *want) {
    text expect = {0};
    if (want)
        text_str(&expect, want);
    else
        model(stream, n, max, &expect);
    for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++) {
        text got = {0};
        size_t fs = frag_size(frags[i], cap, n);
        run_result res = run_reader(stream, n, cap, max, fs, 0x1234567 + i, &got);
        int same = got.p && strcmp(got.p, expect.p) == 0;
        if (!same || res.setup || res.bad_line || res.grew) {
            fprintf(stderr, "    cap %zu max %zu fragment %zu (stream of %zu bytes)\n", cap, max,
                    fs, n);
            fprintf(stderr, "    expected:\n%s    got:\n%s", expect.p,
                    got.p ? got.p : "(nothing)\n");
        }
        CHECK_EQ(res.setup, 0);
        CHECK_EQ(res.bad_line, 0);
        CHECK_EQ(res.grew, 0);
        CHECK(same);
        text_free(&got);
    }
    text_free(&expect);
}

/* ---- setup and argument checks --------------------------------------------- */

static void init_rejects_bad_arguments(void) {
    weft_tcp *a, *b;
    CHECK_EQ(loopback_pair(&a, NULL, &b), 0);
    weft_line_reader r;
    CHECK_EQ(weft_line_reader_init(&r, b, 0), -EINVAL);
    CHECK_EQ(weft_line_reader_init(&r, b, 1), -EINVAL);
    CHECK_EQ(weft_line_reader_init(&r, NULL, 16), -EINVAL);
    CHECK_EQ(weft_line_reader_init(NULL, b, 16), -EINVAL);
    CHECK_EQ(weft_line_reader_init(&r, b, 2), 0);
    CHECK_EQ(r.cap, 2);
    CHECK(r.sock == b);
    weft_line_reader_free(&r);
    weft_line_reader_free(&r); /* idempotent */
    weft_line_reader_free(NULL);
    weft_tcp_close(a);
    weft_tcp_close(b);
}

typedef struct one_line {
    weft_frame fr;
    weft_line_reader *r;
    size_t max;
    const char *line;
    size_t len;
    int status;
} one_line;

weft_async_fn(one_line_poll, one_line) {
    weft_async (self) {
        weft_await(weft_read_line(self->r, cx, self->max, &self->line, &self->status));
        split_res(&self->status, &self->len);
    }
    return WEFT_READY;
}

static void max_not_below_capacity_is_einval(void) {
    weft_rt *rt = new_paused_rt();
    weft_tcp *a, *b;
    CHECK_EQ(loopback_pair(&a, NULL, &b), 0);
    weft_line_reader r;
    CHECK_EQ(weft_line_reader_init(&r, b, 16), 0);
    CHECK_EQ(send(weft_tcp_fd(a), "ok\n", 3, MSG_NOSIGNAL), 3);
    one_line t = {.r = &r, .max = 16};
    CHECK_EQ(weft_block_on(rt, one_line_poll, &t), 0);
    CHECK_EQ(t.status, -EINVAL);
    t = (one_line){.r = &r, .max = (size_t)-1};
    CHECK_EQ(weft_block_on(rt, one_line_poll, &t), 0);
    CHECK_EQ(t.status, -EINVAL);
    /* Nothing was consumed: the line is still there for a valid max. */
    t = (one_line){.r = &r, .max = 15};
    CHECK_EQ(weft_block_on(rt, one_line_poll, &t), 0);
    CHECK_EQ(t.status, 0);
    CHECK_STR(t.line, "ok");
    CHECK_EQ(t.len, 2);
    weft_line_reader_free(&r);
    weft_tcp_close(a);
    weft_tcp_close(b);
    weft_rt_free(rt);
}

/* ---- lines ---------------------------------------------------------------------- */

static void lines_split_across_reads(void) {
    static const char s[] = "hello\nworld\nthis line is split\n";
    check_stream(s, sizeof s - 1, 64, 40, "=hello\n=world\n=this line is split\nEOF\n");
}

static void crlf_is_stripped(void) {
    static const char s[] = "a\r\nb\r\n\r\n\nx\ry\r\nlone\r\r\n";
    check_stream(s, sizeof s - 1, 32, 20, "=a\n=b\n=\n=\n=x\ry\n=lone\r\nEOF\n");
}

static void last_line_without_newline_comes_before_eof(void) {
    static const char s[] = "one\ntwo";
    check_stream(s, sizeof s - 1, 16, 10, "=one\n=two\nEOF\n");
    if (test_failed()) return;
    static const char t[] = "one\r\ntwo\r"; /* no "\r\n" at the end: kept as is */
    check_stream(t, sizeof t - 1, 16, 10, "=one\n=two\r\nEOF\n");
}

static void empty_stream_is_just_eof(void) {
    check_stream("", 0, 16, 10, "EOF\n");
    if (test_failed()) return;
    check_stream("\n", 1, 16, 10, "=\nEOF\n");
}

/* EOF stays EOF on later calls. */
static void eof_is_reported_again(void) {
    weft_rt *rt = new_paused_rt();
    weft_tcp *a, *b;
    CHECK_EQ(loopback_pair(&a, NULL, &b), 0);
    weft_line_reader r;
    CHECK_EQ(weft_line_reader_init(&r, b, 16), 0);
    CHECK_EQ(send(weft_tcp_fd(a), "x", 1, MSG_NOSIGNAL), 1);
    CHECK_EQ(weft_tcp_shutdown(a, SHUT_WR), 0);
    one_line t = {.r = &r, .max = 10};
    CHECK_EQ(weft_block_on(rt, one_line_poll, &t), 0);
    CHECK_EQ(t.status, 0);
    CHECK_STR(t.line, "x");
    for (int i = 0; i < 3; i++) {
        t = (one_line){.r = &r, .max = 10, .line = "junk", .len = 99};
        CHECK_EQ(weft_block_on(rt, one_line_poll, &t), 0);
        CHECK_EQ(t.status, 0);
        CHECK(t.line == NULL);
        CHECK_EQ(t.len, 0);
    }
    weft_line_reader_free(&r);
    weft_tcp_close(a);
    weft_tcp_close(b);
    weft_rt_free(rt);
}

/* Many lines arrive in one read (all sent before the reader starts). */
static void many_lines_in_one_read(void) {
    weft_rt *rt = new_paused_rt();
    weft_tcp *a, *b;
    CHECK_EQ(loopback_pair(&a, NULL, &b), 0);
    text s = {0}, expect = {0}, got = {0};
    for (int i = 0; i < 300; i++) {
        char l[32];
        int k = snprintf(l, sizeof l, "line %d\n", i);
        text_add(&s, l, (size_t)k);
    }
    model(s.p, s.len, 100, &expect);
    CHECK(s.len < 4096);
    CHECK_EQ(send(weft_tcp_fd(a), s.p, s.len, MSG_NOSIGNAL), (ssize_t)s.len);
    CHECK_EQ(weft_tcp_shutdown(a, SHUT_WR), 0);
    weft_line_reader r;
    CHECK_EQ(weft_line_reader_init(&r, b, 4096), 0);
    collector c = {.r = &r, .max = 100, .log = &got};
    CHECK_EQ(weft_block_on(rt, collector_poll, &c), 0);
    CHECK_EQ(c.bad_line, 0);
    CHECK_STR(got.p, expect.p);
    CHECK_EQ(c.events, 301);
    /* everything came from the one buffer, read at once */
    CHECK_EQ(r.cap, 4096);
    text_free(&s);
    text_free(&expect);
    text_free(&got);
    weft_line_reader_free(&r);
    weft_tcp_close(a);
    weft_tcp_close(b);
    weft_rt_free(rt);
}

/* ---- overlong lines ------------------------------------------------------------ */

static void overlong_line_is_reported_once_then_next_line(void) {
    static const char s[] = "short\nxxxxxxxxxxx\nnext\n";
    check_stream(s, sizeof s - 1, 16, 10, "=short\n!\n=next\nEOF\n");
}

static void overlong_line_much_longer_than_buffer(void) {
    text s = {0};
    text_str(&s, "before\n");
    for (int i = 0; i < 1000; i++) text_str(&s, "y");
    text_str(&s, "\nafter\n");
    for (int i = 0; i < 300; i++) text_str(&s, "z");
    text_str(&s, "\r\nlast\n");
    check_stream(s.p, s.len, 16, 10, "=before\n!\n=after\n!\n=last\nEOF\n");
    text_free(&s);
}

/* Exactly max is a line, max + 1 is not; with "\n", "\r\n" and at EOF. */
static void line_of_exactly_max_is_accepted_and_max_plus_one_is_not(void) {
    static const char s[] = "0123456789\n0123456789a\n0123456789\r\n0123456789a\r\nok\n";
    check_stream(s, sizeof s - 1, 16, 10,
                 "=0123456789\n!\n=0123456789\n!\n=ok\nEOF\n");
    if (test_failed()) return;
    static const char t[] = "ok\n0123456789";
    check_stream(t, sizeof t - 1, 16, 10, "=ok\n=0123456789\nEOF\n");
    if (test_failed()) return;
    static const char u[] = "ok\n0123456789a";
    check_stream(u, sizeof u - 1, 16, 10, "=ok\n!\nEOF\n");
}

/* An overlong last line without a newline: reported, then EOF. */
static void overlong_last_line_at_eof(void) {
    text s = {0};
    text_str(&s, "ok\n");
    for (int i = 0; i < 40; i++) text_str(&s, "z");
    check_stream(s.p, s.len, 16, 10, "=ok\n!\nEOF\n");
    text_free(&s);
    if (test_failed()) return;
    /* just one byte past a full buffer, and exactly a full buffer */
    check_stream("0123456789abcdefg", 17, 16, 10, "!\nEOF\n");
    if (test_failed()) return;
    check_stream("0123456789abcdef", 16, 16, 10, "!\nEOF\n");
    if (test_failed()) return;
    check_stream("0123456789abcdef", 16, 16, 15, "!\nEOF\n");
    if (test_failed()) return;
    /* max bytes and a '\r' fill the buffer, then the stream ends: the line
     * has max + 1 bytes and no newline */
    check_stream("0123456789abcde\r", 16, 16, 15, "!\nEOF\n");
    if (test_failed()) return;
    check_stream("ok\n0123456789abcde\r", 19, 16, 15, "=ok\n!\nEOF\n");
}

/* capacity == max + 1: a line of max bytes ending in "\r\n" fills the buffer
 * with its '\r' before the '\n' arrives; it is still a line. */
static void crlf_line_of_max_bytes_with_no_room_for_the_newline(void) {
    static const char s[] = "0123456789abcde\r\n0123456789abcdef\r\nok\r\n"
                            "0123456789abcde\rX\nok\n";
    check_stream(s, sizeof s - 1, 16, 15, "=0123456789abcde\n!\n=ok\n!\n=ok\nEOF\n");
}

/*
 * Every length around every boundary: lines of 0 .. 3*cap+1 bytes, each
 * followed by a short one, with "\n" and with "\r\n", for several (cap, max)
 * pairs including max = cap - 1 (the largest allowed).  Overlong lines that
 * end exactly at the buffer's end, one byte before or after it, or with
 * their newline alone in the next read, all come up here under the various
 * fragmentations.
 */
static void sweep(size_t cap, size_t max, const char *eol) {
    text s = {0};
    for (size_t len = 0; len <= 3 * cap + 1; len++) {
        for (size_t i = 0; i < len; i++) text_add(&s, &"abcdefghijklmnopqrstuvwxyz"[len % 26], 1);
        text_str(&s, eol);
        text_str(&s, "k");
        text_str(&s, eol);
    }
    check_stream(s.p, s.len, cap, max, NULL);
    text_free(&s);
}

static void lengths_around_the_limit_and_the_capacity_lf(void) {
    static const size_t cfg[][2] = {{16, 10}, {16, 15}, {16, 14}, {8, 1}, {2, 1}, {3, 0}};
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0] && !test_failed(); i++)
        sweep(cfg[i][0], cfg[i][1], "\n");
}

static void lengths_around_the_limit_and_the_capacity_crlf(void) {
    static const size_t cfg[][2] = {{16, 10}, {16, 15}, {16, 14}, {8, 1}, {3, 1}, {4, 2}};
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0] && !test_failed(); i++)
        sweep(cfg[i][0], cfg[i][1], "\r\n");
}

/* A long random stream of short, long and overlong lines. */
static void random_lines_match_the_model(void) {
    uint64_t seed = 0xfeedbeef;
    text s = {0};
    for (int i = 0; i < 120; i++) {
        size_t len = test_rand(&seed) % 4 == 0 ? test_rand(&seed) % 80 : test_rand(&seed) % 20;
        for (size_t k = 0; k < len; k++) {
            char c = (char)('!' + test_rand(&seed) % 90);
            if (test_rand(&seed) % 16 == 0) c = '\r';
            text_add(&s, &c, 1);
        }
        text_str(&s, test_rand(&seed) % 3 ? "\n" : "\r\n");
    }
    text_str(&s, "tail");
    check_stream(s.p, s.len, 24, 18, NULL);
    text_free(&s);
}

/* ---- errors and cancellation ----------------------------------------------------- */

static void stream_error_is_reported(void) {
    weft_rt *rt = new_paused_rt();
    weft_tcp *a, *b;
    CHECK_EQ(loopback_pair(&a, NULL, &b), 0);
    CHECK_EQ(send(weft_tcp_fd(a), "ok\npartial", 10, MSG_NOSIGNAL), 10);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    CHECK_EQ(setsockopt(weft_tcp_fd(a), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    weft_tcp_close(a); /* RST */
    weft_line_reader r;
    CHECK_EQ(weft_line_reader_init(&r, b, 16), 0);
    text got = {0};
    collector c = {.r = &r, .max = 10, .log = &got};
    CHECK_EQ(weft_block_on(rt, collector_poll, &c), 0);
    /* The RST may overtake the data (the kernel discards unread data on a
     * reset): either the line comes first, or the error alone. */
    char want1[64], want2[64];
    snprintf(want1, sizeof want1, "=ok\nE%d\n", -ECONNRESET);
    snprintf(want2, sizeof want2, "E%d\n", -ECONNRESET);
    if (strcmp(got.p, want1) != 0) CHECK_STR(got.p, want2);
    CHECK_EQ(c.final_status, -ECONNRESET);
    text_free(&got);
    weft_line_reader_free(&r);
    weft_tcp_close(b);
    weft_rt_free(rt);
}

/* The same while the reader needs one more byte to decide about "\r\n"
 * (capacity == max + 1, the buffer full with max bytes and a '\r'). */
typedef struct resetter {
    weft_frame fr;
    weft_tcp **peer;
    weft_line_reader *r;
    int i, full;
} resetter;

weft_async_fn(resetter_poll, resetter) {
    weft_async (self) {
        /* wait (bounded) for the reader to have filled its buffer */
        for (self->i = 0; self->i < 100 && self->r->end < self->r->cap; self->i++) weft_yield();
        self->full = self->r->end == self->r->cap;
        {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(weft_tcp_fd(*self->peer), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        weft_tcp_close(*self->peer); /* RST */
        *self->peer = NULL;
    }
    return WEFT_READY;
}

static void stream_error_while_deciding_about_crlf(void) {
    weft_rt *rt = new_paused_rt();
    weft_tcp *a, *b;
    CHECK_EQ(loopback_pair(&a, NULL, &b), 0);
    weft_line_reader r;
    CHECK_EQ(weft_line_reader_init(&r, b, 16), 0);
    CHECK_EQ(send(weft_tcp_fd(a), "0123456789abcde\r", 16, MSG_NOSIGNAL), 16);
    resetter *rs;
    MUST(weft_task_new(&rs, rt, resetter_poll));
    rs->peer = &a;
    rs->r = &r;
    weft_task *h = weft_task_spawn(rs);
    one_line t = {.r = &r, .max = 15};
    CHECK_EQ(weft_block_on(rt, one_line_poll, &t), 0);
    CHECK_EQ(t.status, -ECONNRESET);
    CHECK_EQ(((resetter *)weft_task_frame(h))->full, 1);
    weft_task_release(h);
    weft_line_reader_free(&r);
    weft_tcp_close(a);
    weft_tcp_close(b);
    weft_rt_free(rt);
}

/* Abort a task parked in read_line with part of a line buffered: the
 * registration lets go of the task, and the bytes stay for the next call. */
typedef struct rl_victim {
    weft_frame fr;
    weft_line_reader *r;
    int started, finished, cancelled;
    const char *line;
    size_t len;
    int status;
} rl_victim;

weft_async_fn(rl_victim_poll, rl_victim) {
    weft_async (self) {
        self->started = 1;
        weft_await(weft_read_line(self->r, cx, 10, &self->line, &self->status));
        split_res(&self->status, &self->len);
        self->finished = 1;
    weft_finally:
        self->cancelled = weft_cancelled();
    }
    return WEFT_READY;
}

typedef struct rl_cancel {
    weft_frame fr;
    weft_line_reader *r;
    weft_tcp *peer;
    weft_task *h;
    int i, parked, status;
    rl_victim seen;
    weft_rt_stats parked_st, after_st;
    weft_write_op wr;
    int wr_res; /* its result */
    text *log;
    collector c;
} rl_cancel;

weft_async_fn(rl_cancel_poll, rl_cancel) {
    weft_async (self) {
        {
            rl_victim *v;
            MUST(weft_task_new(&v, cx->rt, rl_victim_poll));
            v->r = self->r;
            self->h = weft_task_spawn(v);
        }
        weft_await(weft_tcp_write_all(self->peer, cx, &self->wr, "hel", 3, NULL));
        /* let the victim read "hel" and park for the rest */
        for (self->i = 0; self->i < 10; self->i++) {
            weft_yield();
            if (self->r->end - self->r->start == 3) break;
        }
        self->parked = ((rl_victim *)weft_task_frame(self->h))->started &&
                       !weft_task_is_finished(self->h) && self->r->end - self->r->start == 3;
        self->parked_st = stats(cx->rt);
        weft_task_abort(self->h);
        weft_await(weft_join(self->h, cx, &self->status));
        self->seen = *(rl_victim *)weft_task_frame(self->h);
        weft_task_release(self->h);
        self->after_st = stats(cx->rt);
        self->wr = (weft_write_op){0};
        weft_await(weft_tcp_write_all(self->peer, cx, &self->wr, "lo\nworld\n", 9, NULL));
        weft_tcp_shutdown(self->peer, SHUT_WR);
        self->c = (collector){.r = self->r, .max = 10, .log = self->log};
        weft_await(collector_poll(&self->c, cx));
    }
    return WEFT_READY;
}

static void cancel_parked_read_line(void) {
    weft_rt *rt = new_paused_rt();
    weft_tcp *a, *b;
    CHECK_EQ(loopback_pair(&a, NULL, &b), 0);
    weft_line_reader r;
    CHECK_EQ(weft_line_reader_init(&r, b, 16), 0);
    text got = {0};
    rl_cancel t = {.r = &r, .peer = a, .log = &got};
    CHECK_EQ(weft_block_on(rt, rl_cancel_poll, &t), 0);
    CHECK_EQ(t.parked, 1);
    CHECK_EQ(t.status, -ECANCELED);
    CHECK_EQ(t.seen.finished, 0);
    CHECK_EQ(t.seen.cancelled, 1);
    CHECK_EQ(t.parked_st.tasks_held, 2); /* the root and the victim */
    CHECK_EQ(t.after_st.tasks_held, 1);  /* the victim's waker is gone */
    CHECK_STR(got.p, "=hello\n=world\nEOF\n");
    text_free(&got);
    CHECK_EQ(stats(rt).tasks_held, 0);
    weft_line_reader_free(&r);
    weft_tcp_close(a);
    weft_tcp_close(b);
    CHECK_EQ(stats(rt).io_registered, 0);
    weft_rt_free(rt);
}

/* The buffer is allocated once, at init, and never replaced or grown. */
static void reader_never_grows_its_buffer(void) {
    text s = {0};
    for (int i = 0; i < 20; i++) {
        for (int k = 0; k < 100 + i * 37; k++) text_str(&s, "w");
        text_str(&s, "\nfine\n");
    }
    text got = {0};
    run_result res = run_reader(s.p, s.len, 8, 6, 0, 1, &got);
    CHECK_EQ(res.setup, 0);
    CHECK_EQ(res.grew, 0);
    CHECK_EQ(res.bad_line, 0);
    text expect = {0};
    model(s.p, s.len, 6, &expect);
    CHECK_STR(got.p, expect.p);
    text_free(&s);
    text_free(&got);
    text_free(&expect);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(init_rejects_bad_arguments),
                         TEST(max_not_below_capacity_is_einval),
                         TEST(lines_split_across_reads),
                         TEST(crlf_is_stripped),
                         TEST(last_line_without_newline_comes_before_eof),
                         TEST(empty_stream_is_just_eof),
                         TEST(eof_is_reported_again),
                         TEST(many_lines_in_one_read),
                         TEST(overlong_line_is_reported_once_then_next_line),
                         TEST(overlong_line_much_longer_than_buffer),
                         TEST(line_of_exactly_max_is_accepted_and_max_plus_one_is_not),
                         TEST(overlong_last_line_at_eof),
                         TEST(crlf_line_of_max_bytes_with_no_room_for_the_newline),
                         TEST(lengths_around_the_limit_and_the_capacity_lf),
                         TEST(lengths_around_the_limit_and_the_capacity_crlf),
                         TEST(random_lines_match_the_model),
                         TEST(stream_error_is_reported),
                         TEST(stream_error_while_deciding_about_crlf),
                         TEST(cancel_parked_read_line),
                         TEST(reader_never_grows_its_buffer),
                         {0},
                     });
}
