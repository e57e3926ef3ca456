/*
 * examples/echo.c - a TCP echo server: one task per connection.
 *
 *     build/examples/echo [ADDR]        (default 127.0.0.1:7000)
 *     build/examples/echo ADDR --once   (serve one connection, then exit)
 *
 * Try it: `nc 127.0.0.1 7000`, type a line, get it back.
 */
#include <weft.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* One connection: read what arrives, write it back, until EOF or an error. */
typedef struct conn {
    weft_frame fr;
    weft_tcp *sock; /* owned: closed in finally */
    char buf[4096];
    int rc; /* bytes read or written, or a negative errno */
    weft_write_op wr;
} conn;

weft_async_fn(conn_poll, conn) {
    weft_async (self) {
        for (;;) {
            weft_await(weft_tcp_read(self->sock, cx, self->buf, sizeof self->buf, &self->rc));
            if (self->rc <= 0) break; /* 0: the peer closed; < 0: an error */
            weft_await(weft_tcp_write_all(self->sock, cx, &self->wr, self->buf,
                                          (size_t)self->rc, &self->rc));
            if (self->rc < 0) break;
        }
    weft_finally:
        weft_tcp_close(self->sock); /* runs on EOF, on error, and if cancelled */
    }
    return WEFT_READY;
}

/* The server: accept connections and spawn a task for each. */
typedef struct server {
    weft_frame fr;
    weft_tcp_listener *l;
    int once;
    weft_tcp *sock;
    weft_addr peer;
    int rc; /* accept's result */
    weft_task *last;
} server;

weft_async_fn(server_poll, server) {
    weft_async (self) {
        for (;;) {
            weft_await(weft_tcp_accept(self->l, cx, &self->sock, &self->peer, &self->rc));
            if (weft_tcp_accept_exhausted(self->rc)) {
                /* Out of descriptors or memory: reported once per episode.
                 * Carry on - the listener backs off by itself (the next
                 * accept waits and retries), the connections stay queued. */
                fprintf(stderr, "echo: accept: %s, backing off\n", weft_strerror(self->rc));
                continue;
            }
            if (self->rc < 0) { /* anything else will not get better */
                fprintf(stderr, "echo: accept: %s\n", weft_strerror(self->rc));
                break;
            }
            weft_tcp_set_nodelay(self->sock, 1);
            conn *c;
            if (weft_task_new(&c, cx->rt, conn_poll) < 0) {
                weft_tcp_close(self->sock);
                continue;
            }
            c->sock = self->sock;
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
    const char *addr = "127.0.0.1:7000";
    int once = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0)
            once = 1;
        else
            addr = argv[i];
    }
    weft_rt *rt;
    int r = weft_rt_new(&rt, NULL);
    if (r < 0) {
        fprintf(stderr, "echo: runtime: %s\n", weft_strerror(r));
        return 1;
    }
    server s = {.once = once};
    r = weft_tcp_listen_str(&s.l, addr, 1024);
    if (r < 0) {
        fprintf(stderr, "echo: listen on %s: %s\n", addr, weft_strerror(r));
        weft_rt_free(rt);
        return 1;
    }
    weft_addr bound;
    char text[WEFT_ADDR_STRLEN];
    weft_tcp_listener_addr(s.l, &bound);
    weft_addr_format(&bound, text, sizeof text);
    printf("echo: listening on %s\n", text);
    fflush(stdout);
    r = weft_block_on(rt, server_poll, &s);
    weft_tcp_listener_close(s.l);
    weft_rt_free(rt);
    return r < 0 || s.rc < 0 ? 1 : 0;
}
