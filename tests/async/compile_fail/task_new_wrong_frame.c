/* expect: not compatible with any (generic )?association */
/* Rule 9: weft_task_new refuses a frame of another type than poll's. */
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
    weft_rt *rt = NULL;
    g *frame;
    return weft_task_new(&frame, rt, f_poll);
}
