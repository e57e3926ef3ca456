/*
 * examples/timeout.c - give an operation a deadline.
 *
 * A worker task answers on a channel after 300 ms.  The first wait allows
 * 100 ms and times out (the receive is dropped, nothing is lost); the second
 * allows a second and gets the answer.
 */
#include <weft.h>

#include <errno.h>
#include <stdio.h>

typedef struct worker {
    weft_frame fr;
    weft_oneshot_tx *tx;
    weft_sleep_op sl;
} worker;

weft_async_fn(worker_poll, worker) {
    weft_async (self) {
        weft_await(weft_sleep(&self->sl, cx, 300));
        {
            int answer = 42;
            weft_oneshot_send(self->tx, &answer); /* releases tx */
            self->tx = NULL;
        }
    weft_finally:
        if (self->tx) weft_oneshot_tx_drop(self->tx);
    }
    return WEFT_READY;
}

typedef struct main_fut {
    weft_frame fr;
    weft_oneshot_rx *rx;
    weft_timeout_op to;
    int timed_out; /* the timeout's result: 0, or -ETIMEDOUT */
    int value, status; /* the value received, and recv's result */
    weft_instant t0;
} main_fut;

weft_async_fn(main_poll, main_fut) {
    weft_async (self) {
        {
            weft_oneshot_tx *tx;
            if (weft_oneshot_new(&tx, &self->rx, sizeof(int), NULL) < 0) weft_return;
            worker *w;
            if (weft_task_new(&w, cx->rt, worker_poll) < 0) {
                weft_oneshot_tx_drop(tx);
                weft_return;
            }
            w->tx = tx;
            weft_task_spawn_detached(w);
        }
        self->t0 = weft_now(cx->rt);
        weft_await(weft_timeout(&self->to, 100, &self->timed_out,
                                weft_oneshot_recv(self->rx, cx, &self->value, &self->status)));
        printf("after %3llu ms: %s\n", (unsigned long long)(weft_now(cx->rt) - self->t0),
               self->timed_out == -ETIMEDOUT ? "timed out, as expected" : "got an answer?");
        weft_await(weft_timeout(&self->to, 1000, &self->timed_out,
                                weft_oneshot_recv(self->rx, cx, &self->value, &self->status)));
        if (self->timed_out == 0 && self->status == 0)
            printf("after %3llu ms: the answer is %d\n",
                   (unsigned long long)(weft_now(cx->rt) - self->t0), self->value);
    weft_finally:
        weft_oneshot_rx_drop(self->rx);
    }
    return WEFT_READY;
}

int main(void) {
    weft_rt *rt;
    if (weft_rt_new(&rt, NULL) < 0) return 1;
    main_fut m = {0};
    int r = weft_block_on(rt, main_poll, &m);
    weft_rt_free(rt);
    return r == 0 && m.value == 42 ? 0 : 1;
}
