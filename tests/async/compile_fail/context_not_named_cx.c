/* expect: .cx. undeclared|undeclared identifier .cx. */
/* Rule 1: the poll function's context parameter is named cx. */
#include <weft.h>
typedef struct f { weft_frame fr; weft_sleep_op s; } f;
static weft_poll f_poll(void *arg, weft_cx *ctx) {
    f *self = arg;
    weft_async (self) {
        weft_await(weft_sleep(&self->s, ctx, 1));
    }
    return WEFT_READY;
}
int main(void) {
    (void)f_poll;
    return 0;
}
