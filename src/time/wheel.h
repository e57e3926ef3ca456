/*
 * src/time/wheel.h - the hierarchical timer wheel (internal).
 *
 * Semantics.  The wheel holds weft_timer entries keyed by deadline (ms).  It
 * has a current time, `elapsed`, that only moves forward, through
 * weft__wheel_poll.  An entry is returned by weft__wheel_poll(w, now) once its
 * deadline <= now; entries come out in nondecreasing deadline order (the
 * order among equal deadlines is unspecified).  Insert and remove are O(1),
 * except inserting a deadline already in the past ("late"), which keeps the
 * pending list sorted by walking back from its tail (O(1) for the usual
 * cases); poll is O(1) amortised per entry plus O(levels) per call.
 *
 * Mechanics (the scheme Tokio and the Linux kernel use).  6 levels of 64
 * slots; a slot at level L spans 64^L ms, so the wheel covers 64^6 ms
 * (about 2.2 years) ahead of `elapsed`; a deadline further out is parked in
 * the last level and re-filed when its slot comes round.  An entry goes to the
 * level of the highest 6-bit digit in which its deadline differs from
 * `elapsed`.  Each level keeps a 64-bit occupancy mask, so finding the next
 * non-empty slot is a rotate and a count-trailing-zeros.  When `elapsed`
 * reaches a slot of a level above 0, the entries of that slot are re-filed
 * ("cascaded") into lower levels; at level 0 they are due.
 *
 * Entries are intrusive (embedded in the waiting frame): the wheel never
 * allocates.  Single-threaded: the runtime that owns the wheel is the only
 * user.
 */
#ifndef WEFT_SRC_TIME_WHEEL_H
#define WEFT_SRC_TIME_WHEEL_H

#include <weft/time.h>

#include <stddef.h>
#include <stdint.h>

#define WEFT__WHEEL_LEVELS 6
#define WEFT__WHEEL_SLOTS 64

typedef struct weft__wheel {
    uint64_t elapsed;                                        /* current time, ms */
    uint64_t occupied[WEFT__WHEEL_LEVELS];                   /* bit per slot */
    weft_timer *slots[WEFT__WHEEL_LEVELS][WEFT__WHEEL_SLOTS]; /* list heads */
    weft_timer *pending; /* entries inserted with a deadline already past, sorted */
    size_t count;                                            /* entries held */
} weft__wheel;

/* Start an empty wheel whose current time is now. */
void weft__wheel_init(weft__wheel *w, uint64_t now);

/*
 * File t, whose deadline is set, and mark it ARMED.  A deadline at or before
 * the current time is due at the next poll.  t must be idle (not in a wheel).
 */
void weft__wheel_insert(weft__wheel *w, weft_timer *t);

/* Take t out of the wheel (it must be ARMED in w) and mark it IDLE. */
void weft__wheel_remove(weft__wheel *w, weft_timer *t);

/*
 * The earliest time at which poll may return an entry: a lower bound that is
 * exact for level-0 slots and, for higher levels, the start of the slot that
 * must be cascaded next - for a deadline beyond the wheel's range it can be
 * up to 64^6 ms early, and a poll there may return NULL.  UINT64_MAX when the
 * wheel is empty.
 */
uint64_t weft__wheel_next_deadline(const weft__wheel *w);

/*
 * Advance to now (never backwards: an earlier now is taken as the current
 * time) and return one entry whose deadline <= now, removed from the wheel and
 * marked FIRED; NULL when none is due.  Call until NULL.  The caller wakes it.
 */
weft_timer *weft__wheel_poll(weft__wheel *w, uint64_t now);

/* Number of entries in the wheel. */
static inline size_t weft__wheel_count(const weft__wheel *w) { return w->count; }

#endif /* WEFT_SRC_TIME_WHEEL_H */
