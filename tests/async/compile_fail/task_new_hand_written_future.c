/* expect: g_poll_async_frame. undeclared|undeclared identifier .g_poll_async_frame.|unknown type name .g_poll_async_frame. */
/* Rule 9: a hand-written future (weft_future_fn) can be block_on'd but not
 * spawned: task dumps read a task's frame. */
#include <weft.h>
typedef struct g { int x; } g;
weft_future_fn(g_poll, g) {
    if (cx) self->x = 1;
    return WEFT_READY;
}
int main(void) {
    g *frame;
    return weft_task_new(&frame, NULL, g_poll);
}
