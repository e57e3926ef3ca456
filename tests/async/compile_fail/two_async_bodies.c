/* expect: duplicate label|redefinition of label|redeclaration of .weft__b. */
/* Rule 1: one weft_async per function. */
#include <weft.h>
typedef struct f { weft_frame fr; int x; } f;
weft_async_fn(f_poll, f) {
    weft_async (self) {
        self->x = 1;
    }
    weft_async (self) {
        self->x = 2;
    }
    return WEFT_READY;
}
int main(void) {
    (void)f_poll;
    return 0;
}
