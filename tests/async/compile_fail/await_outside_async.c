/* expect: weft__b. undeclared|undeclared identifier .weft__b. */
/* weft_await only exists inside a weft_async body. */
#include <weft.h>
typedef struct f { weft_frame fr; weft_sleep_op s; } f;
static weft_poll f_poll(void *arg, weft_cx *cx) {
    f *self = arg;
    switch (0) {
    default:
        weft_await(weft_sleep(&self->s, cx, 1));
    }
    return WEFT_READY;
}
int main(void) {
    (void)f_poll;
    return 0;
}
