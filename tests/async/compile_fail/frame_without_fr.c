/* expect: has no member named .fr.|no member named 'fr' */
/* Rule 1: the frame's first member is `weft_frame fr`. */
#include <weft.h>
typedef struct f { weft_frame header; int x; } f;
weft_async_fn(f_poll, f) {
    weft_async (self) {
        self->x = 1;
    }
    return WEFT_READY;
}
int main(void) {
    (void)f_poll;
    return 0;
}
