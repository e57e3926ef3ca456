/* expect: incompatible pointer type */
/* Rule 9: awaiting a child frame checks its type (typed poll functions). */
#include <weft.h>
typedef struct child { weft_frame fr; int x; } child;
typedef struct other { weft_frame fr; int y; } other;
typedef struct parent { weft_frame fr; other c; } parent;
weft_async_fn(child_poll, child) {
    weft_async (self) {
        self->x = 1;
    }
    return WEFT_READY;
}
weft_async_fn(parent_poll, parent) {
    weft_async (self) {
        weft_await(child_poll(&self->c, cx));
    }
    return WEFT_READY;
}
int main(void) {
    parent p = {0};
    return weft_block_on(NULL, parent_poll, &p);
}
