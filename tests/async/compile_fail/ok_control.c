/* expect: OK */
/* The control case: the same shapes, written by the rules, compile. */
#include <weft.h>
typedef struct child { weft_frame fr; weft_sleep_op s; } child;
typedef struct f { weft_frame fr; weft_sleep_op a, b; child c; int out; } f;
weft_async_fn(child_poll, child) {
    weft_async (self) {
        weft_await(weft_sleep(&self->s, cx, 1));
    }
    return WEFT_READY;
}
weft_async_fn(f_poll, f) {
    weft_async (self) {
        {
            int local = 42;
            self->out = local;
        }
        weft_await(weft_sleep(&self->a, cx, 1));
        if (self->out == 42) break; /* finishes like weft_return */
        weft_await(weft_sleep(&self->b, cx, 1));
        weft_await(child_poll(&self->c, cx));
    weft_finally:
        self->out = 0;
    }
    return WEFT_READY;
}
/* An async function with external linkage, as a header would declare it. */
typedef struct ext { weft_frame fr; int x; } ext;
weft_async_fn_decl(ext_poll, ext);
weft_async_fn_extern(ext_poll, ext) {
    weft_async (self) {
        self->x = 1;
    }
    return WEFT_READY;
}
/* A hand-written future: no frame, handles cx == NULL itself. */
typedef struct hand { int polls; } hand;
weft_future_fn(hand_poll, hand) {
    if (cx) self->polls++;
    return WEFT_READY;
}
int main(void) {
    weft_rt *rt = NULL;
    if (weft_rt_new(&rt, NULL) < 0) return 1;
    f *t;
    if (weft_task_new(&t, rt, f_poll) == 0) weft_task_spawn_detached(t);
    f frame = {0};
    int rc = weft_block_on(rt, f_poll, &frame);
    weft_future fu = weft_future_of(f_poll, &frame);
    (void)fu;
    ext e = {0};
    hand h = {0};
    if (rc == 0) rc = weft_block_on(rt, ext_poll, &e);
    if (rc == 0) rc = weft_block_on(rt, hand_poll, &h);
    weft_rt_free(rt);
    return rc;
}
