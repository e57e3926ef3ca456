/* expect: OK */
/* The control case: the same shapes, written by the rules, compile. */
#include <weft.h>
typedef struct f { weft_frame fr; weft_sleep_op a, b; int out; } f;
static weft_poll f_poll(void *arg, weft_cx *cx) {
    f *self = arg;
    weft_async (self) {
        {
            int local = 42;
            self->out = local;
        }
        weft_await(weft_sleep(&self->a, cx, 1));
        weft_await(weft_sleep(&self->b, cx, 1));
    }
    return WEFT_READY;
}
int main(void) {
    (void)f_poll;
    return 0;
}
