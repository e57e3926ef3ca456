/* expect: jumps over variable initialization */
/* Rule 2: locals do not survive an await (gcc -Wjump-misses-init) (gcc only). */
#include <weft.h>
typedef struct f { weft_frame fr; weft_sleep_op s; int out; } f;
static weft_poll f_poll(void *arg, weft_cx *cx) {
    f *self = arg;
    weft_async (self) {
        int local = 42;
        weft_await(weft_sleep(&self->s, cx, 1));
        self->out = local;
    }
    return WEFT_READY;
}
int main(void) {
    (void)f_poll;
    return 0;
}
