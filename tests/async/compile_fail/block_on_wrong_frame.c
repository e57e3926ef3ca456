/* expect: not compatible with any (generic )?association */
/* Rule 9: weft_block_on refuses a frame of another type than poll's. */
#include <weft.h>
typedef struct f { weft_frame fr; int x; } f;
typedef struct g { weft_frame fr; int x, y, z; } g;
weft_async_fn(f_poll, f) {
    weft_async (self) {
        self->x = 1;
    }
    return WEFT_READY;
}
int main(void) {
    g frame = {0};
    return weft_block_on(NULL, f_poll, &frame);
}
