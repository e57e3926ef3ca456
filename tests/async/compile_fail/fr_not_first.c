/* expect: first member must be .weft_frame fr. */
/* Rule 1: fr is the frame's first member (a static assertion in weft_async_fn). */
#include <weft.h>
typedef struct f { int x; weft_frame fr; } f;
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
