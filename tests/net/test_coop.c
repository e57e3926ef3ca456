/*
 * tests/net/test_coop.c - the cooperative budget in the network leaf
 * operations (include/weft/future.h, weft_coop_poll).
 *
 * Every READY of a leaf operation counts against the task's budget, an
 * error as much as a success: a task that loops on an operation that
 * completes at once - here mostly one that keeps failing, the way a naive
 * accept loop keeps getting -EMFILE - must yield once its budget is spent,
 * so the other tasks run.
 *
 * Each test runs the same loop (spin_poll): spawn a task that sets a flag,
 * then call the operation again and again until the flag is seen.  The
 * runtime's budget is BUDGET, so the first BUDGET calls complete, the next
 * one finds the budget spent and returns PENDING (waking its task, which
 * goes to the back of the queue), the flag task runs, and the loop sees the
 * flag after exactly BUDGET + 1 calls.  A call that does not count lets the
 * loop run to LIMIT (the test fails instead of hanging); one that counts
 * twice stops it early.  Everything is counted, nothing is timed.
 */
#include <weft.h>

#include "net_util.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define BUDGET 16
#define LIMIT (BUDGET * 8) /* a loop that has not yielded by now never will */

static weft_rt *new_coop_rt(void) {
    /* paused: a connect that would wait gives up at once (never in a pass) */
    return new_rt_with(&(weft_rt_config){.budget = BUDGET, .start_paused = 1});
}

/* ---- the loop -------------------------------------------------------------- */

typedef struct spin spin;

/* One call of the operation under test; on READY its outcome in ->status. */
typedef weft_poll (*spin_op)(spin *self, weft_cx *cx);

struct spin {
    weft_frame fr;
    spin_op op;
    /* operands */
    weft_tcp_listener *l;
    weft_tcp *s;
    weft_addr addr;
    weft_line_reader lr;
    size_t len, max;
    /* the operation's state */
    weft_tcp *sock;
    weft_write_op wr;
    int wr_res; /* its result */
    weft_connect_op cop;
    const char *line;
    char buf[64];
    int status;
    /* the loop */
    weft_task *other;
    int flag, calls, first, last;
};

weft_async_fn(spin_poll, spin) {
    weft_async (self) {
        self->other = spawn_flagger(cx->rt, &self->flag);
        if (!self->other) weft_return;
        while (!self->flag && self->calls < LIMIT) {
            self->status = 1;
            weft_await(self->op(self, cx));
            if (self->calls++ == 0) self->first = self->status;
            self->last = self->status;
            if (self->sock) {
                weft_tcp_close(self->sock);
                self->sock = NULL;
            }
        }
        weft_await(weft_join(self->other, cx, NULL));
    weft_finally:
        if (self->other) weft_task_release(self->other);
    }
    return WEFT_READY;
}

/* Run the loop on rt (NULL: a fresh runtime); check it yielded after
 * exactly BUDGET completions and that the last call ended with `last`. */
static void run_spin_on(weft_rt *rt, spin *sp, int last) {
    weft_rt *own = rt ? NULL : new_coop_rt();
    CHECK(rt || own);
    int r = weft_block_on(rt ? rt : own, spin_poll, sp);
    weft_rt_stats st = stats(rt ? rt : own);
    weft_rt_free(own);
    CHECK_EQ(r, 0);
    CHECK_EQ(sp->flag, 1);
    CHECK_EQ(sp->calls, BUDGET + 1);
    CHECK_EQ(sp->last, last);
    CHECK_EQ(st.timers, 0);
}

static void run_spin(spin *sp, int last) { run_spin_on(NULL, sp, last); }

static weft_poll op_accept(spin *self, weft_cx *cx) {
    return weft_tcp_accept(self->l, cx, &self->sock, NULL, &self->status);
}

static weft_poll op_read(spin *self, weft_cx *cx) {
    return weft_tcp_read(self->s, cx, self->buf, self->len, &self->status);
}

static weft_poll op_write(spin *self, weft_cx *cx) {
    return weft_tcp_write(self->s, cx, "x", self->len, &self->status);
}

static weft_poll op_write_all(spin *self, weft_cx *cx) {
    return weft_tcp_write_all(self->s, cx, &self->wr, "xyz", self->len, &self->status);
}

static weft_poll op_connect(spin *self, weft_cx *cx) {
    return weft_tcp_connect(&self->cop, cx, &self->addr, 1000, &self->sock, &self->status);
}

static weft_poll op_read_line(spin *self, weft_cx *cx) {
    return weft_read_line(&self->lr, cx, self->max, &self->line, &self->status);
}

/* ---- sockets ------------------------------------------------------------------ */

/* A weft socket that was never connected: recv gives ENOTCONN, send EPIPE,
 * every time. */
static weft_tcp *unconnected(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    weft_tcp *s = NULL;
    if (fd >= 0 && weft_tcp_from_fd(&s, fd) < 0) close(fd);
    return s;
}

/* The descriptor of listener l (the API does not hand it out): the
 * listening socket bound to its address. */
static int listener_fd(weft_tcp_listener *l) {
    weft_addr la;
    if (weft_tcp_listener_addr(l, &la) < 0) return -1;
    for (int fd = 0; fd < 4096; fd++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int acc = 0;
        socklen_t al = sizeof acc;
        weft_addr a;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) continue;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0 || !acc) continue;
        if (weft_addr_from_sockaddr(&a, (struct sockaddr *)&ss, sl) == 0 && weft_addr_equal(&a, &la))
            return fd;
    }
    return -1;
}

/* ---- accept ------------------------------------------------------------------- */

/* accept(2) itself keeps failing: a listening socket that was shut down
 * gives EINVAL on every call (and stays readable). */
static void accept_error_loop_yields(void) {
    spin sp = {.op = op_accept};
    CHECK_EQ(weft_tcp_listen_str(&sp.l, "127.0.0.1:0", 0), 0);
    int fd = listener_fd(sp.l);
    CHECK(fd >= 0);
    CHECK_EQ(shutdown(fd, SHUT_RDWR), 0);
    run_spin(&sp, -EINVAL);
    CHECK_EQ(sp.first, -EINVAL);
    weft_tcp_listener_close(sp.l);
}

/* One accept that succeeds: binds the listener to the runtime running it. */
typedef struct accept_one {
    weft_frame fr;
    weft_tcp_listener *l;
    weft_tcp *sock;
    int status;
} accept_one;

weft_async_fn(accept_one_poll, accept_one) {
    weft_async (self) {
        weft_await(weft_tcp_accept(self->l, cx, &self->sock, NULL, &self->status));
    }
    return WEFT_READY;
}

/* The failure before any system call: the listener belongs to another
 * runtime (-EXDEV). */
static void accept_on_another_runtime_loop_yields(void) {
    spin sp = {.op = op_accept};
    CHECK_EQ(weft_tcp_listen_str(&sp.l, "127.0.0.1:0", 0), 0);
    weft_addr la;
    CHECK_EQ(weft_tcp_listener_addr(sp.l, &la), 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(c >= 0);
    CHECK_EQ(connect(c, &la.u.sa, la.len), 0);
    weft_rt *first = new_coop_rt();
    CHECK(first);
    accept_one a = {.l = sp.l};
    CHECK_EQ(weft_block_on(first, accept_one_poll, &a), 0);
    CHECK_EQ(a.status, 0);
    weft_tcp_close(a.sock);
    close(c);
    run_spin(&sp, -EXDEV);
    weft_tcp_listener_close(sp.l);
    weft_rt_free(first);
}

/* ---- read and write ----------------------------------------------------------- */

/* A reset connection: -ECONNRESET once, then end of stream (0) for ever.
 * The first pass only makes the reactor see the reset (a read that found
 * fewer bytes than asked waits for the next event, which here is the
 * hang-up, final from then on); the second loops on end of stream. */
static void read_after_reset_loop_yields(void) {
    spin sp = {.op = op_read, .len = sizeof sp.buf};
    int peer;
    CHECK_EQ(loopback_pair(&sp.s, &peer, NULL), 0);
    struct linger lg = {1, 0};
    CHECK_EQ(setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(peer); /* sends a RST */
    weft_rt *rt = new_coop_rt();
    CHECK(rt);
    CHECK_EQ(weft_block_on(rt, spin_poll, &sp), 0);
    CHECK_EQ(sp.first, -ECONNRESET);
    CHECK_EQ(sp.last, 0);
    CHECK(sp.calls <= BUDGET + 1);
    spin again = {.op = op_read, .len = sizeof sp.buf, .s = sp.s};
    run_spin_on(rt, &again, 0);
    CHECK_EQ(again.first, 0);
    weft_tcp_close(sp.s);
    weft_rt_free(rt);
}

/* An error every time: -ENOTCONN. */
static void read_error_loop_yields(void) {
    spin sp = {.op = op_read, .len = sizeof sp.buf, .s = unconnected()};
    CHECK(sp.s);
    run_spin(&sp, -ENOTCONN);
    weft_tcp_close(sp.s);
}

/* len == 0 completes at once with 0 without a system call: it counts too. */
static void read_of_zero_bytes_loop_yields(void) {
    spin sp = {.op = op_read, .len = 0};
    int peer;
    CHECK_EQ(loopback_pair(&sp.s, &peer, NULL), 0);
    run_spin(&sp, 0);
    weft_tcp_close(sp.s);
    close(peer);
}

/* Our side shut down for writing: send gives EPIPE every time. */
static void write_epipe_loop_yields(void) {
    spin sp = {.op = op_write, .len = 1};
    int peer;
    CHECK_EQ(loopback_pair(&sp.s, &peer, NULL), 0);
    CHECK_EQ(weft_tcp_shutdown(sp.s, SHUT_WR), 0);
    run_spin(&sp, -EPIPE);
    CHECK_EQ(sp.first, -EPIPE);
    weft_tcp_close(sp.s);
    close(peer);
}

static void write_of_zero_bytes_loop_yields(void) {
    spin sp = {.op = op_write, .len = 0};
    int peer;
    CHECK_EQ(loopback_pair(&sp.s, &peer, NULL), 0);
    run_spin(&sp, 0);
    weft_tcp_close(sp.s);
    close(peer);
}

static void write_all_epipe_loop_yields(void) {
    spin sp = {.op = op_write_all, .len = 3};
    int peer;
    CHECK_EQ(loopback_pair(&sp.s, &peer, NULL), 0);
    CHECK_EQ(weft_tcp_shutdown(sp.s, SHUT_WR), 0);
    run_spin(&sp, -EPIPE);
    weft_tcp_close(sp.s);
    close(peer);
}

/* write_all of nothing completes at once without a write: it counts too. */
static void write_all_of_zero_bytes_loop_yields(void) {
    spin sp = {.op = op_write_all, .len = 0};
    int peer;
    CHECK_EQ(loopback_pair(&sp.s, &peer, NULL), 0);
    run_spin(&sp, 0);
    weft_tcp_close(sp.s);
    close(peer);
}

/* Successful writes count once each, also inside write_all. */
static void write_all_success_loop_yields(void) {
    spin sp = {.op = op_write_all, .len = 3};
    int peer;
    CHECK_EQ(loopback_pair(&sp.s, &peer, NULL), 0);
    run_spin(&sp, 0);
    CHECK_EQ(sp.wr.done, 3);
    weft_tcp_close(sp.s);
    close(peer);
}

/* ---- connect ------------------------------------------------------------------ */

static void connect_refused_loop_yields(void) {
    spin sp = {.op = op_connect};
    int holder = closed_port(&sp.addr);
    CHECK(holder >= 0);
    run_spin(&sp, -ECONNREFUSED);
    CHECK_EQ(sp.first, -ECONNREFUSED);
    close(holder);
}

/* The failure before any system call: no address. */
static void connect_bad_address_loop_yields(void) {
    spin sp = {.op = op_connect}; /* sp.addr.len == 0 */
    run_spin(&sp, -EINVAL);
}

/* Connects that succeed (the kernel completes them; nobody accepts). */
static void connect_success_loop_yields(void) {
    spin sp = {.op = op_connect};
    weft_tcp_listener *l = NULL;
    CHECK_EQ(weft_tcp_listen_str(&l, "127.0.0.1:0", LIMIT + 8), 0);
    CHECK_EQ(weft_tcp_listener_addr(l, &sp.addr), 0);
    run_spin(&sp, 0);
    CHECK_EQ(sp.first, 0);
    weft_tcp_listener_close(l);
}

/* ---- read_line ---------------------------------------------------------------- */

/* Lines already in the buffer are handed out without a read: each counts. */
static void read_line_from_the_buffer_loop_yields(void) {
    spin sp = {.op = op_read_line, .max = 8};
    int peer;
    CHECK_EQ(loopback_pair(&sp.s, &peer, NULL), 0);
    CHECK_EQ(weft_line_reader_init(&sp.lr, sp.s, 4096), 0);
    char lines[2 * LIMIT + 2];
    for (int i = 0; i < LIMIT + 1; i++) memcpy(lines + 2 * i, "a\n", 2);
    CHECK_EQ(send(peer, lines, sizeof lines, MSG_NOSIGNAL), (ssize_t)sizeof lines);
    run_spin(&sp, 1); /* the last result: a line of 1 byte */
    CHECK(sp.line != NULL);
    weft_line_reader_free(&sp.lr);
    weft_tcp_close(sp.s);
    close(peer);
}

static void read_line_error_loop_yields(void) {
    spin sp = {.op = op_read_line, .max = 8, .s = unconnected()};
    CHECK(sp.s);
    CHECK_EQ(weft_line_reader_init(&sp.lr, sp.s, 64), 0);
    run_spin(&sp, -ENOTCONN);
    weft_line_reader_free(&sp.lr);
    weft_tcp_close(sp.s);
}

/* A bad argument (max not below the capacity) fails at once: it counts. */
static void read_line_bad_argument_loop_yields(void) {
    spin sp = {.op = op_read_line, .max = 64};
    int peer;
    CHECK_EQ(loopback_pair(&sp.s, &peer, NULL), 0);
    CHECK_EQ(weft_line_reader_init(&sp.lr, sp.s, 64), 0);
    run_spin(&sp, -EINVAL);
    weft_line_reader_free(&sp.lr);
    weft_tcp_close(sp.s);
    close(peer);
}

/* At end of stream every call completes at once (line NULL). */
static void read_line_at_end_of_stream_loop_yields(void) {
    spin sp = {.op = op_read_line, .max = 8};
    int peer;
    CHECK_EQ(loopback_pair(&sp.s, &peer, NULL), 0);
    CHECK_EQ(weft_line_reader_init(&sp.lr, sp.s, 64), 0);
    CHECK_EQ(shutdown(peer, SHUT_WR), 0);
    run_spin(&sp, 0);
    CHECK(sp.line == NULL);
    weft_line_reader_free(&sp.lr);
    weft_tcp_close(sp.s);
    close(peer);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(accept_error_loop_yields),
                         TEST(accept_on_another_runtime_loop_yields),
                         TEST(read_after_reset_loop_yields),
                         TEST(read_error_loop_yields),
                         TEST(read_of_zero_bytes_loop_yields),
                         TEST(write_epipe_loop_yields),
                         TEST(write_of_zero_bytes_loop_yields),
                         TEST(write_all_epipe_loop_yields),
                         TEST(write_all_of_zero_bytes_loop_yields),
                         TEST(write_all_success_loop_yields),
                         TEST(connect_refused_loop_yields),
                         TEST(connect_bad_address_loop_yields),
                         TEST(connect_success_loop_yields),
                         TEST(read_line_from_the_buffer_loop_yields),
                         TEST(read_line_error_loop_yields),
                         TEST(read_line_bad_argument_loop_yields),
                         TEST(read_line_at_end_of_stream_loop_yields),
                         {0},
                     });
}
