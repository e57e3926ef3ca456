/* expect: has no member named .fr. */
/* Rule 1: the frame's first member is `weft_frame fr`. */
#include <weft.h>
typedef struct f { weft_frame header; int x; } f;
static weft_poll f_poll(void *arg, weft_cx *cx) {
    f *self = arg;
    weft_async (self) {
        self->x = 1;
    }
    return WEFT_READY;
}
int main(void) {
    (void)f_poll;
    return 0;
}
