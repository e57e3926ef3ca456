/*
 * examples/hello.c - spawn tasks and join them.
 *
 * Ten tasks each compute a square; the main future joins them in order and
 * adds up their outputs, which live in each task's frame.
 */
#include <weft.h>

#include <stdio.h>

typedef struct square {
    weft_frame fr;
    int in;  /* argument */
    int out; /* output: read through the join handle */
} square;

weft_async_fn(square_poll, square) {
    weft_async (self) {
        weft_yield(); /* let the others start: tasks interleave */
        self->out = self->in * self->in;
    }
    return WEFT_READY;
}

typedef struct hello {
    weft_frame fr;
    weft_task *tasks[10];
    int i, status;
    long sum;
} hello;

weft_async_fn(hello_poll, hello) {
    weft_async (self) {
        for (self->i = 0; self->i < 10; self->i++) {
            square *sq;
            if (weft_task_new(&sq, cx->rt, square_poll) < 0) weft_return;
            sq->in = self->i + 1;
            self->tasks[self->i] = weft_task_spawn(sq);
        }
        for (self->i = 0; self->i < 10; self->i++) {
            weft_await(weft_join(self->tasks[self->i], cx, &self->status));
            square *sq = weft_task_frame(self->tasks[self->i]);
            printf("task %llu: %d squared is %d\n",
                   (unsigned long long)weft_task_id(self->tasks[self->i]), sq->in, sq->out);
            self->sum += sq->out;
            weft_task_release(self->tasks[self->i]);
        }
    }
    return WEFT_READY;
}

int main(void) {
    weft_rt *rt;
    if (weft_rt_new(&rt, NULL) < 0) return 1;
    hello h = {0};
    int r = weft_block_on(rt, hello_poll, &h);
    printf("sum of squares 1..10 = %ld\n", h.sum);
    weft_rt_free(rt);
    return r == 0 && h.sum == 385 ? 0 : 1;
}
