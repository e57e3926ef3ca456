/* examples/quickstart.c - the README's quick start: spawn, sleep, join. */
#include <weft.h>
#include <stdio.h>

typedef struct { weft_frame fr; int in, out; } square;

weft_async_fn(square_poll, square) {
    weft_async (self) {
        self->out = self->in * self->in;
    }
    return WEFT_READY;
}

typedef struct { weft_frame fr; weft_task *t; weft_sleep_op sl; int status; } main_fut;

weft_async_fn(main_poll, main_fut) {
    weft_async (self) {
        {   /* locals do not live across an await: keep them in a block */
            square *sq;
            if (weft_task_new(&sq, cx->rt, square_poll) < 0) weft_return; /* reserve a task */
            sq->in = 7;
            self->t = weft_task_spawn(sq);                            /* schedule it */
        }
        weft_await(weft_sleep(&self->sl, cx, 100));                   /* 100 ms */
        weft_await(weft_join(self->t, cx, &self->status));
        printf("%d\n", ((square *)weft_task_frame(self->t))->out);   /* 49 */
        weft_task_release(self->t);
    }
    return WEFT_READY;
}

int main(void) {
    weft_rt *rt;
    if (weft_rt_new(&rt, NULL) < 0) return 1;
    main_fut m = {0};
    weft_block_on(rt, main_poll, &m);
    weft_rt_free(rt);
    return 0;
}
