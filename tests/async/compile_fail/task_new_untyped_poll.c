/* expect: f_poll_async_frame. undeclared|undeclared identifier .f_poll_async_frame.|unknown type name .f_poll_async_frame. */
/* Rule 9: a task's poll function is declared with weft_async_fn, so that its
 * frame type is known; a void * poll function is refused. */
#include <weft.h>
typedef struct f { weft_frame fr; int x; } f;
static weft_poll f_poll(void *arg, weft_cx *cx) {
    f *self = arg;
    weft_async (self) {
        self->x = 1;
    }
    return WEFT_READY;
}
int main(void) {
    f *frame;
    return weft_task_new(&frame, NULL, f_poll);
}
