/* expect: duplicate label|redefinition of label|duplicate case value */
/* The body has one weft_finally section. */
#include <weft.h>
typedef struct f { weft_frame fr; int x; } f;
weft_async_fn(f_poll, f) {
    weft_async (self) {
        self->x = 1;
    weft_finally:
        self->x = 2;
    weft_finally:
        self->x = 3;
    }
    return WEFT_READY;
}
int main(void) {
    (void)f_poll;
    return 0;
}
