/* src/core/future.c - the noop waker and weft_strerror. */
#define _POSIX_C_SOURCE 200809L
#include <weft/future.h>

#include <errno.h>
#include <string.h>

static weft_waker *noop_clone(weft_waker *w) { return w; }
static void noop(weft_waker *w) { (void)w; }

static const weft_waker_vtable noop_vtable = {noop_clone, noop, noop, noop};

weft_waker weft_noop_waker = {&noop_vtable};

const char *weft_strerror(int err) {
    if (err < 0) err = -err;
    switch (err) {
    case 0:
        return "success";
    case ECANCELED:
        return "operation cancelled";
    case ETIMEDOUT:
        return "timed out";
    case EPIPE:
        return "the other side is closed";
    case EMSGSIZE:
        return "line or message longer than the limit";
    case ESHUTDOWN:
        return "the runtime has shut down";
    case EDEADLK:
        return "already inside a runtime on this thread";
    default:
        break;
    }
    /* strerror is not thread-safe in general, but glibc's returns static
     * strings for known codes; unknown codes get a generic answer. */
    if (err > 0 && err < 4096) {
        static _Thread_local char buf[64];
        return strerror_r(err, buf, sizeof buf) == 0 ? buf : "unknown error";
    }
    return "unknown error";
}
