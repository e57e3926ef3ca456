/*
 * weft/async.h - async functions: frames and the structured await macros.
 *
 * C has no `async fn`, so an async function is written the way the Rust
 * compiler would generate it (reference 002, chapter 5): a frame struct that
 * holds the arguments, every value that must live across an await, and the
 * child frames it awaits, plus a poll function whose body is written with the
 * macros below.  The macros turn the body into a resumable state machine
 * (Duff's device, as in protothreads and STC's cco_routine).
 *
 *     typedef struct {
 *         weft_frame fr;              // must be the first member, named fr
 *         weft_tcp *sock;             // argument
 *         char buf[4096];
 *         int rc;                     // bytes read or written, or a negative errno
 *         weft_write_op wr;
 *     } echo_conn;
 *
 *     weft_async_fn(echo_conn_poll, echo_conn) {
 *         weft_async (self) {
 *             for (;;) {
 *                 weft_await(weft_tcp_read(self->sock, cx, self->buf,
 *                                          sizeof self->buf, &self->rc));
 *                 if (self->rc <= 0) break;
 *                 weft_await(weft_tcp_write_all(self->sock, cx, &self->wr,
 *                                               self->buf, (size_t)self->rc,
 *                                               &self->rc));
 *                 if (self->rc < 0) break;
 *             }
 *         weft_finally:
 *             weft_tcp_close(self->sock);
 *         }
 *         return WEFT_READY;
 *     }
 *
 * Awaiting.  weft_await(expr) evaluates a poll expression: a call that returns
 * weft_poll, such as a leaf operation (weft_sleep, weft_tcp_read,
 * weft_mpsc_recv, ...) whose small state lives in the frame, or the poll
 * function of a child frame embedded in this one (no boxing, no allocation):
 *
 *         self->child = (child_frame){ .arg = 42 };       // start a child
 *         weft_await(child_poll(&self->child, cx));
 *
 * When the expression returns WEFT_PENDING the function returns WEFT_PENDING;
 * on the next poll execution resumes at that await and evaluates the
 * expression again, until it returns WEFT_READY.
 *
 * Cancellation.  A frame is dropped by polling it with cx == NULL (see
 * future.h).  The frame then evaluates the expression it is parked on once
 * more, with cx == NULL, which drops that leaf operation or child frame (every
 * weft leaf treats cx == NULL as "release what you hold"), and then runs its
 * weft_finally section.  weft_cancelled() tells the finally section which way
 * it was reached.  The finally section runs exactly once: on completion, on
 * weft_return, or on cancellation - also when a frame is dropped before it
 * ever ran (so it must cope with a frame still in its initial state).
 *
 * Task dumps.  Each frame records where it is parked: a pointer to a static
 * weft_site (file, function, line and the text of the awaited expression,
 * and where the awaited child frame sits).  The frame header is that one
 * word; it costs one store per suspension and makes the async backtrace of
 * every task printable at any time (weft_rt_dump).
 *
 * The rules.  Each is enforced where a macro can enforce it, and each check
 * has a compile-fail or death test (tests/async/).
 *   1. The frame struct's first member is `weft_frame fr`; the poll function
 *      is declared with weft_async_fn (which names its parameters self and
 *      cx); one weft_async per function.  Compile errors: a frame without fr,
 *      fr not first (a static assertion in weft_async_fn), a context not
 *      named cx, a second weft_async (duplicate labels).
 *   2. Local variables do not survive an await: keep in the frame whatever
 *      must.  gcc catches a local declared in the body and used across an
 *      await with -Wjump-misses-init (add `pkg-config --variable=gcc_warnings
 *      weft` to your gcc flags; clang has no equivalent warning).
 *   3. No await inside a `switch` statement (the await's resume label would
 *      belong to your switch).  Detected when the frame resumes: the process
 *      aborts with the file and line of the offending await.
 *   4. No await inside weft_finally: cleanup cannot wait.  Detected in debug
 *      builds (abort with the location).
 *   5. Leave the body by falling off its end, with weft_return, or with
 *      `break`/`continue` at its top level (all three finish the frame like
 *      weft_return: the finally section runs).  Never with `return` or a
 *      goto out of the body, which would skip the finally section: debug
 *      builds (without NDEBUG, with gcc or clang) abort with the location of
 *      the weft_async when the poll function is left that way.
 *   6. The awaited expression must pass cx through to the operation and have
 *      no other side effect: it is evaluated on every resume and once more,
 *      with cx == NULL, on cancellation.
 *   7. At most one await per source line (two are a compile error: duplicate
 *      case value).
 *   8. Polling a frame again after it returned WEFT_READY is a bug; debug
 *      builds abort.  To run a child again, re-initialise it first.
 *   9. A task or block_on frame has the type its poll function was declared
 *      for: weft_task_new, weft_block_on and weft_future_of refuse any other
 *      at compile time.
 */
#ifndef WEFT_ASYNC_H
#define WEFT_ASYNC_H

#include "future.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Where a frame is suspended: one static instance per await in the program.
 * `child` is learned as the program runs: the offset from an awaiting frame
 * to the child frame it awaits there (0: the await is on a leaf operation;
 * WEFT__CHILD_VARIES: not the same place every time, e.g. an array element).
 * Keeping it here, not in each frame, saves a word per frame.
 */
typedef struct weft_site {
    const char *file;
    const char *func;
    const char *expr; /* the awaited expression, as written */
    int line;
    _Atomic intptr_t child;
} weft_site;

/*
 * The header of every async frame: where it is parked (or a sentinel:
 * finishing, done).  Zero-initialised means "not started".
 */
typedef struct weft_frame {
    const weft_site *site;
} weft_frame;

/* ---- declaring an async function -------------------------------------- */

/*
 * weft_async_fn(name, type) { body }: define the poll function of frame type
 * `type`, typed on its frame:
 *
 *     weft_async_fn(echo_conn_poll, echo_conn) {
 *         weft_async (self) { ... }
 *         return WEFT_READY;
 *     }
 *
 * defines `static weft_poll name(type *self, weft_cx *cx)` (the parameters
 * are always named self and cx), so awaiting it as a child,
 * `weft_await(echo_conn_poll(&self->conn, cx))`, is type-checked by the
 * compiler.  It also defines the two things the runtime needs to run it as a
 * task without a cast: `name_frame` (a typedef of the frame type) and
 * `name_erased` (a weft_poll_fn that calls it).  weft_task_new, weft_block_on
 * and weft_future_of take the name and refuse, at compile time, a frame of
 * any other type.  Calling a `type *` function through a `void *` function
 * pointer would be undefined behaviour (and trap under control-flow
 * integrity checks); the erased wrapper is a real function of the right type,
 * and the compiler turns it into a jump.
 *
 * weft_async_fn_decl(name, type) declares the same set with external linkage
 * (in a header), and weft_async_fn_extern(name, type) defines it, for an
 * async function used from other files.
 */
#define weft_async_fn(name, type)                                              \
    WEFT__FR_FIRST(type);                                                      \
    typedef type name##_async_frame;                                           \
    weft_future_fn(name, type)

#define weft_async_fn_decl(name, type)                                         \
    WEFT__FR_FIRST(type);                                                      \
    typedef type name##_async_frame;                                           \
    typedef type name##_frame;                                                 \
    weft_poll name(type *self, weft_cx *cx);                                   \
    weft_poll name##_erased(void *self, weft_cx *cx)

#define weft_async_fn_extern(name, type)                                       \
    weft_poll name##_erased(void *self, weft_cx *cx) {                         \
        return name((type *)self, cx);                                         \
    }                                                                          \
    weft_poll name(type *self, weft_cx *cx)

/*
 * weft_future_fn(name, type) { body }: the same for a hand-written future
 * whose type is not an async frame (no weft_frame fr, no weft_async: a poll
 * function that handles cx == NULL itself).  weft_block_on and
 * weft_future_of accept it; weft_task_new does not, because a task's frame
 * is read by task dumps (wrap it in an async function to spawn it).
 */
#define weft_future_fn(name, type)                                             \
    static weft_poll name(type *self, weft_cx *cx);                            \
    typedef type name##_frame;                                                 \
    WEFT__MAYBE_UNUSED static inline weft_poll name##_erased(void *self,       \
                                                             weft_cx *cx) {    \
        return name((type *)self, cx);                                         \
    }                                                                          \
    static weft_poll name(type *self, weft_cx *cx)

/*
 * weft_future_of(name, frame): the type-erased future {name_erased, frame}
 * of an async function declared with weft_async_fn (a compile error unless
 * frame is a pointer to name's frame type).
 */
#define weft_future_of(name, frame)                                            \
    ((weft_future){name##_erased, WEFT__FRAME_PTR(name, frame)})

/* The erased wrapper is unused in a file that never spawns the function;
 * clang would warn about it even though it is inline. */
#if defined(__GNUC__)
#define WEFT__MAYBE_UNUSED __attribute__((unused))
#else
#define WEFT__MAYBE_UNUSED
#endif

/* Rule 1, at file scope: the frame type starts with its weft_frame fr. */
#define WEFT__FR_FIRST(type)                                                   \
    _Static_assert(offsetof(type, fr) == 0,                                    \
                   "an async frame's first member must be `weft_frame fr`")

/* frame, if it is a name_frame pointer; a compile error otherwise. */
#define WEFT__FRAME_PTR(name, frame) _Generic((frame), name##_frame *: (frame))

/* ---- the macros -------------------------------------------------------- */

/*
 * Debug builds check that the body is not left with a plain `return`
 * (rule 5): the body's bookkeeping has a cleanup function (a GNU extension,
 * which gcc and clang both have; it is the only way C offers to run code when
 * a scope is left by `return`), and every legitimate way out - completion and
 * suspension at an await - clears weft__b.fr first.  Release builds
 * (NDEBUG) have neither the cleanup nor the extra stores.
 */
#if !defined(NDEBUG) && defined(__GNUC__)
#define WEFT__EXIT_CHECKED 1
#else
#define WEFT__EXIT_CHECKED 0
#endif

#if WEFT__EXIT_CHECKED
#define WEFT__EXIT_CHECK __attribute__((cleanup(weft__body_exit)))
#define WEFT__BODY_INIT(self) {&(self)->fr, 0, __FILE__, __func__, __LINE__}
#define WEFT__SUSPENDING() (weft__b.fr = NULL)
#else
#define WEFT__EXIT_CHECK
#define WEFT__BODY_INIT(self) {&(self)->fr, 0}
#define WEFT__SUSPENDING() ((void)0)
#endif

/*
 * The body's bookkeeping, a local of the poll function: the frame, whether
 * the body has ended (see weft_async), and in debug builds where the body
 * is, for the check that it is not left with `return`.
 */
typedef struct weft__body {
    weft_frame *fr; /* NULL once the body has completed or suspended */
    int end;
#if WEFT__EXIT_CHECKED
    const char *file, *func;
    int line;
#endif
} weft__body;

/*
 * Begin the body of an async function whose frame is *self.
 *
 * How the body ends.  The body sits in a loop that runs it at most twice:
 * falling off its end, and `break` or `continue` at its top level, all reach
 * the loop's second pass, which finishes the frame the way weft_return does
 * (the finally section runs if it has not yet).  So none of the three can
 * skip weft_finally.  A `return` inside the body still could; debug builds
 * catch it when the poll function returns (see WEFT__EXIT_CHECKED).
 */
#define weft_async(self)                                                       \
    for (weft__body weft__b WEFT__EXIT_CHECK = WEFT__BODY_INIT(self);           \
         weft__b.fr != NULL; weft__b.fr = weft__frame_done(weft__b.fr))        \
        for (weft__b.end = 0; weft__b.end < 2; weft__b.end++)                  \
            if (weft__b.end) {                                                 \
                goto weft__return_point;                                       \
            } else if (0) {                                                    \
            weft__cancel_point:                                                \
                weft__fr->site = &weft__site_cancel;                           \
                goto weft__dispatch;                                           \
            weft__return_point:                                                \
                if (weft__frame_in_finally(weft__fr)) break;                   \
                weft__fr->site = &weft__site_fin;                              \
                goto weft__dispatch;                                           \
            weft__skip_point:                                                  \
                weft__frame_skip(weft__fr);                                    \
                break;                                                         \
                /* not reached; names the labels so unused ones do not warn */ \
                goto weft__cancel_point;                                       \
            } else                                                             \
            weft__dispatch:                                                    \
                switch (weft__frame_line(weft__fr, cx))                        \
                case 0:                                                        \
                    if (0) {                                                   \
                    default:                                                   \
                        goto weft__skip_point;                                 \
                    } else

/* Await a poll expression (see the header comment). */
#define weft_await(expr)                                                       \
    do {                                                                       \
        static weft_site weft__site_ = {__FILE__, __func__, #expr, __LINE__, 0}; \
        WEFT__CHECK_AWAIT(weft__fr, &weft__site_);                             \
        weft__fr->site = &weft__site_;                                         \
        goto WEFT__CAT(weft__resume_, __LINE__);                               \
    case __LINE__:                                                             \
    WEFT__CAT(weft__resume_, __LINE__):                                        \
        if (cx == NULL) {                                                      \
            (void)(expr);                                                      \
            goto weft__cancel_point;                                           \
        }                                                                      \
        cx->parked = NULL;                                                     \
        if ((expr) == WEFT_PENDING) {                                          \
            if (cx->parked) weft__site_child(&weft__site_, weft__fr, cx->parked); \
            cx->parked = weft__fr;                                             \
            WEFT__SUSPENDING();                                                \
            return WEFT_PENDING;                                               \
        }                                                                      \
    } while (0)

/*
 * Give other tasks a turn: wake this task and suspend once (Tokio's
 * yield_now).  The task goes to the back of the run queue.
 */
#define weft_yield()                                                           \
    do {                                                                       \
        static weft_site weft__site_ = {__FILE__, __func__, "weft_yield()",     \
                                        __LINE__, 0};                          \
        WEFT__CHECK_AWAIT(weft__fr, &weft__site_);                             \
        weft__fr->site = &weft__site_;                                         \
        weft_waker_wake_by_ref(cx->waker);                                     \
        cx->parked = weft__fr;                                                 \
        WEFT__SUSPENDING();                                                    \
        return WEFT_PENDING;                                                   \
    case __LINE__:                                                             \
        if (cx == NULL) goto weft__cancel_point;                               \
    } while (0)

/* Finish now: run the finally section (if any), then complete. */
#define weft_return goto weft__return_point

/*
 * Start of the cleanup section, written as a label: `weft_finally:`.  Runs on
 * completion (falling into it), on weft_return and on cancellation.
 */
#define weft_finally                                                           \
    weft__fr->site = &weft__site_fin;                                          \
    goto weft__finally_label;                                                  \
    case WEFT__LINE_FIN:                                                       \
    weft__finally_label

/* In weft_finally: nonzero when the frame is being cancelled (dropped). */
#define weft_cancelled() (weft__fr->site == &weft__site_cancel)

/* ---- inspection -------------------------------------------------------- */

/* Nonzero once the frame has completed (or been dropped). */
static inline int weft_frame_done(const weft_frame *fr);

/*
 * The child frame fr is parked on, or NULL (parked on a leaf, not parked, or
 * the child's place is not known - see weft_site.child).
 */
static inline void *weft_frame_child(const weft_frame *fr);

/*
 * Print the chain of awaits starting at fr, one line per frame, innermost
 * last: "  at file:line in func: awaiting expr".  For task dumps and
 * debugging; call it only while the frame is not being polled.
 */
void weft_frame_dump(const weft_frame *fr, FILE *out);

/* ---- implementation details -------------------------------------------- */

#define WEFT__CAT_(a, b) a##b
#define WEFT__CAT(a, b) WEFT__CAT_(a, b)

/* The frame of the body being written (inside weft_async). */
#define weft__fr (weft__b.fr)

#define WEFT__LINE_FIN (-1)  /* dispatch value of the finally section */
#define WEFT__LINE_DONE (-2) /* dispatch value of a completed frame */

extern const weft_site weft__site_fin;    /* finishing normally */
extern const weft_site weft__site_cancel; /* finishing by cancellation */
extern const weft_site weft__site_done;   /* completed */

/* Report a broken rule at site s and abort: these are bugs, not bad input. */
void weft__frame_panic(const weft_site *s, const char *what);
/* The same for a broken rule found at the body's weft_async. */
void weft__body_panic(const char *file, int line, const char *func, const char *what);

static inline int weft__frame_in_finally(const weft_frame *fr) {
    return fr->site == &weft__site_fin || fr->site == &weft__site_cancel;
}

/* The case to jump to on entry.  cx == NULL: cancel. */
static inline int weft__frame_line(weft_frame *fr, weft_cx *cx) {
    const weft_site *s = fr->site;
    if (s == NULL) {
        if (cx != NULL) return 0;
        fr->site = &weft__site_cancel; /* dropped before it started */
        return WEFT__LINE_FIN;
    }
#ifndef NDEBUG
    if (s == &weft__site_done && cx != NULL)
        weft__frame_panic(s, "polled again after it returned WEFT_READY");
#endif
    return s->line;
}

/*
 * No case matched: fine when finishing a frame without a finally section or
 * dropping a completed one; anything else means the resume label is not the
 * dispatcher's.
 */
static inline void weft__frame_skip(const weft_frame *fr) {
    int line = fr->site ? fr->site->line : 0;
    if (line != WEFT__LINE_FIN && line != WEFT__LINE_DONE)
        weft__frame_panic(fr->site, "resumed at an await its dispatcher cannot "
                                    "reach (an await inside a switch?)");
}

static inline weft_frame *weft__frame_done(weft_frame *fr) {
    fr->site = &weft__site_done;
    return NULL;
}

#define WEFT__CHILD_VARIES INTPTR_MIN

/* Learn where the child awaited at site s lives relative to frame fr. */
static inline void weft__site_child(weft_site *s, const weft_frame *fr, const void *child) {
    intptr_t off = (intptr_t)((const char *)child - (const char *)fr);
    intptr_t cur = atomic_load_explicit(&s->child, memory_order_relaxed);
    if (cur != off && cur != WEFT__CHILD_VARIES)
        atomic_store_explicit(&s->child, cur == 0 ? off : WEFT__CHILD_VARIES,
                              memory_order_relaxed);
}

static inline int weft_frame_done(const weft_frame *fr) {
    return fr->site == &weft__site_done;
}

static inline void *weft_frame_child(const weft_frame *fr) {
    const weft_site *s = fr->site;
    if (!s || s->line <= 0) return NULL;
    intptr_t off = atomic_load_explicit(&((weft_site *)s)->child, memory_order_relaxed);
    return off == 0 || off == WEFT__CHILD_VARIES ? NULL : (char *)fr + off;
}

#if WEFT__EXIT_CHECKED
/* The body is being left: legitimately only with weft__b.fr cleared. */
static inline void weft__body_exit(weft__body *b) {
    if (b->fr != NULL)
        weft__body_panic(b->file, b->line, b->func,
                         "`return` (or goto) out of a weft_async body skips its "
                         "weft_finally section and leaves the frame unfinished; "
                         "use weft_return");
}
#endif

#ifndef NDEBUG
#define WEFT__CHECK_AWAIT(fr, site)                                            \
    do {                                                                       \
        if (weft__frame_in_finally(fr))                                        \
            weft__frame_panic(site, "weft_await inside weft_finally");         \
    } while (0)
#else
#define WEFT__CHECK_AWAIT(fr, site) ((void)0)
#endif

#ifdef __cplusplus
}
#endif

#endif /* WEFT_ASYNC_H */
