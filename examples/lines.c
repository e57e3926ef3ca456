/*
 * examples/lines.c - a line server: bounded lines, idle timeouts, and an
 * accept loop that survives running out of descriptors.
 *
 *     build/examples/lines [ADDR] [--idle MS] [--once]
 *                                       (default 127.0.0.1:7001, 10000 ms)
 *
 * Each client gets a greeting, then one answer per line it sends
 * ("5: hello"); a line over 128 bytes gets "! line too long" and the
 * connection goes on; a client that sends nothing for MS milliseconds is
 * told so and disconnected.  Try it: `nc 127.0.0.1 7001`.
 *
 * Every operation reports the same way: one int, through its last
 * parameter (a count, or a negative errno) - see include/weft/future.h.
 */
#include <weft.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 128

typedef struct client {
    weft_frame fr;
    weft_tcp *sock; /* owned: closed in finally */
    uint64_t idle_ms;
    weft_line_reader lr;
    int have_reader;
    weft_timeout_op to;
    int timed_out; /* the timeout's result: 0, or -ETIMEDOUT */
    const char *line;
    int rc; /* read_line's result (the line's length), then write_all's */
    weft_write_op wr;
    char out[MAX_LINE + 64];
    size_t outlen;
} client;

/* Format the next answer into the frame (it must live across the write). */
static void say(client *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->out, sizeof c->out, fmt, ap);
    va_end(ap);
    c->outlen = n < 0 ? 0 : (size_t)n < sizeof c->out ? (size_t)n : sizeof c->out - 1;
}

weft_async_fn(client_poll, client) {
    weft_async (self) {
        if (weft_line_reader_init(&self->lr, self->sock, MAX_LINE + 2) < 0) break;
        self->have_reader = 1;
        say(self, "* hello: send lines of up to %d bytes; idle clients leave after %llu ms\n",
            MAX_LINE, (unsigned long long)self->idle_ms);
        for (;;) {
            weft_await(weft_tcp_write_all(self->sock, cx, &self->wr, self->out, self->outlen,
                                          &self->rc));
            if (self->rc < 0) break; /* the peer went away */
            weft_await(weft_timeout(&self->to, self->idle_ms, &self->timed_out,
                                    weft_read_line(&self->lr, cx, MAX_LINE, &self->line,
                                                   &self->rc)));
            if (self->timed_out == -ETIMEDOUT) {
                say(self, "* idle for %llu ms, bye\n", (unsigned long long)self->idle_ms);
                weft_await(weft_tcp_write_all(self->sock, cx, &self->wr, self->out,
                                              self->outlen, NULL));
                break;
            }
            if (self->rc == -EMSGSIZE)
                say(self, "! line too long (max %d bytes)\n", MAX_LINE);
            else if (self->rc < 0 || self->line == NULL)
                break; /* an error, or the end of the stream */
            else
                say(self, "%d: %s\n", self->rc, self->line);
        }
    weft_finally: /* on every way out: break, end of stream, cancellation */
        if (self->have_reader) weft_line_reader_free(&self->lr);
        weft_tcp_close(self->sock);
    }
    return WEFT_READY;
}

typedef struct server {
    weft_frame fr;
    weft_tcp_listener *l;
    uint64_t idle_ms;
    int once;
    weft_tcp *sock;
    int rc; /* accept's result */
    weft_task *last;
} server;

weft_async_fn(server_poll, server) {
    weft_async (self) {
        for (;;) {
            weft_await(weft_tcp_accept(self->l, cx, &self->sock, NULL, &self->rc));
            if (weft_tcp_accept_exhausted(self->rc)) {
                /* Once per episode; the listener backs off by itself. */
                fprintf(stderr, "lines: accept: %s, backing off\n", weft_strerror(self->rc));
                continue;
            }
            if (self->rc < 0) {
                fprintf(stderr, "lines: accept: %s\n", weft_strerror(self->rc));
                break;
            }
            client *c;
            if (weft_task_new(&c, cx->rt, client_poll) < 0) {
                weft_tcp_close(self->sock);
                continue;
            }
            c->sock = self->sock;
            c->idle_ms = self->idle_ms;
            if (!self->once) {
                weft_task_spawn_detached(c);
                continue;
            }
            self->last = weft_task_spawn(c);
            break;
        }
        if (self->last) {
            weft_await(weft_join(self->last, cx, NULL));
            weft_task_release(self->last);
        }
    }
    return WEFT_READY;
}

int main(int argc, char **argv) {
    server s = {.idle_ms = 10000};
    const char *addr = "127.0.0.1:7001";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0)
            s.once = 1;
        else if (strcmp(argv[i], "--idle") == 0 && i + 1 < argc)
            s.idle_ms = strtoull(argv[++i], NULL, 10);
        else
            addr = argv[i];
    }
    weft_rt *rt;
    int r = weft_rt_new(&rt, NULL);
    if (r < 0) {
        fprintf(stderr, "lines: runtime: %s\n", weft_strerror(r));
        return 1;
    }
    r = weft_tcp_listen_str(&s.l, addr, 1024);
    if (r < 0) {
        fprintf(stderr, "lines: listen on %s: %s\n", addr, weft_strerror(r));
        weft_rt_free(rt);
        return 1;
    }
    weft_addr bound;
    char text[WEFT_ADDR_STRLEN];
    weft_tcp_listener_addr(s.l, &bound);
    weft_addr_format(&bound, text, sizeof text);
    printf("lines: listening on %s\n", text);
    fflush(stdout);
    r = weft_block_on(rt, server_poll, &s);
    weft_tcp_listener_close(s.l);
    weft_rt_free(rt);
    return r < 0 || s.rc < 0 ? 1 : 0;
}
