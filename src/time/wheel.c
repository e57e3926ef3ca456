/*
 * src/time/wheel.c - the hierarchical timer wheel (see wheel.h for the
 * contract).
 *
 * Lists.  Every slot, and the pending list, is an intrusive circular
 * doubly-linked list: the head pointer is the first entry and head->prev is
 * the last, so appending, popping and unlinking are O(1) and one unlink routine
 * serves every list (remove needs no "which list am I on" search beyond
 * t->level / t->slot).
 *
 * Where an entry lives.  Let the digits of a time be its 6-bit groups.  An
 * entry whose deadline >= elapsed sits at level L = the highest digit in which
 * deadline and elapsed differ (0 if they are equal), in slot = digit L of the
 * deadline.  As elapsed moves, poll keeps this invariant: every entry at
 * level L agrees with elapsed on all digits above L, and its digit L is ahead
 * of elapsed's (at level 0 it may be equal: that entry's deadline is elapsed,
 * it is due now; the top level bends the rule, see "Far deadlines").  Hence
 * the slot to process next is on the lowest occupied level (nothing on a
 * higher level can come earlier), found by rotating that level's mask so that
 * the first slot to consider is bit 0 and counting trailing zeros.  poll only
 * ever moves elapsed to the start of that slot, or to `now` when that start
 * is after `now`, so it cannot step over an entry.  When it reaches a slot
 * above level 0 it re-files the slot's entries relative to the new elapsed,
 * which sends each to a lower level.
 *
 * Far deadlines.  Deadlines that differ from elapsed in bits above the top
 * level (more than 64^6 ms, about 2.2 years, ahead) are filed in the top level
 * by their digit 5 anyway, so the top level is a ring: such an entry may sit
 * in a slot at or behind elapsed's digit, meaning "that slot on a later turn".
 * It is re-filed every time its slot comes round (every 64^6 ms) until the
 * deadline is within range.  Cost: one re-file per entry per turn, and
 * next_deadline never reports a time more than one turn ahead, so a caller
 * that jumps from next_deadline to next_deadline towards a deadline near
 * UINT64_MAX takes about 2^28 steps; a runtime should treat such deadlines as
 * "never" rather than chase them.
 *
 * Late entries.  An entry inserted with deadline < elapsed cannot be filed
 * (no slot is behind elapsed), so it goes on w->pending, which poll drains
 * before anything else.  pending is kept sorted by deadline, so the order
 * promise holds for these too and next_deadline can report the exact earliest
 * one.  The sorted insert walks back from the tail, past entries with a later
 * deadline: O(1) for a single late entry, for late entries arriving in
 * deadline order, and for equal deadlines (which keeps ties first in, first
 * out); only late entries arriving in decreasing deadline order pay for the
 * walk.  A runtime that checks its clock (never behind elapsed) before arming
 * a timer does not insert late entries at all, so this path is for
 * completeness, not speed.
 * An entry inserted with deadline == elapsed is filed in level 0's current
 * slot like any other and comes out at the next poll.
 *
 * Not thread-safe; the wheel never allocates.
 */
#include "wheel.h"

#include <assert.h>

#define BITS 6u                     /* bits per level: 64 slots */
#define SLOT_MASK (WEFT__WHEEL_SLOTS - 1u)
#define TOP (WEFT__WHEEL_LEVELS - 1u)
#define PENDING_LEVEL WEFT__WHEEL_LEVELS /* t->level of an entry on pending */

_Static_assert(WEFT__WHEEL_SLOTS == 1u << BITS, "64 slots: one mask word");
_Static_assert(BITS * WEFT__WHEEL_LEVELS < 64, "the wheel's span fits in 64 bits");

/* ---- bit helpers --------------------------------------------------------- */

#if defined(__GNUC__) || defined(__clang__)
/* Index of the lowest set bit; x != 0. */
static inline unsigned ctz64(uint64_t x) { return (unsigned)__builtin_ctzll(x); }
/* Index of the highest set bit; x != 0. */
static inline unsigned msb64(uint64_t x) { return 63u - (unsigned)__builtin_clzll(x); }
#else
/* Portable fallbacks: slow, but only a compiler without the builtins uses them. */
static inline unsigned ctz64(uint64_t x) {
    unsigned n = 0;
    while (!(x & 1)) x >>= 1, n++;
    return n;
}
static inline unsigned msb64(uint64_t x) {
    unsigned n = 0;
    while (x >>= 1) n++;
    return n;
}
#endif

/* Rotate right by n (0..63); compilers turn this into one instruction. */
static inline uint64_t rotr64(uint64_t x, unsigned n) {
    return (x >> n) | (x << ((64u - n) & 63u));
}

/* ---- intrusive circular lists -------------------------------------------- */

/* Append t at the tail of the list headed by *head. */
static void list_push_back(weft_timer **head, weft_timer *t) {
    weft_timer *h = *head;
    if (!h) {
        t->next = t->prev = t;
        *head = t;
        return;
    }
    t->prev = h->prev;
    t->next = h;
    h->prev->next = t;
    h->prev = t;
}

/* Unlink t from the list headed by *head; nonzero when the list is now empty. */
static int list_unlink(weft_timer **head, weft_timer *t) {
    if (t->next == t) {
        *head = NULL;
    } else {
        t->prev->next = t->next;
        t->next->prev = t->prev;
        if (*head == t) *head = t->next;
    }
    t->next = t->prev = NULL;
    return *head == NULL;
}

/* ---- filing -------------------------------------------------------------- */

/*
 * The level for deadline relative to elapsed: the highest differing digit.
 * OR-ing in the low digit keeps the argument of msb64 nonzero and maps
 * "equal" to level 0; differences above the top level are clamped to it.
 */
static unsigned level_for(uint64_t elapsed, uint64_t deadline) {
    unsigned level = msb64((elapsed ^ deadline) | SLOT_MASK) / BITS;
    return level < TOP ? level : TOP;
}

/* File t (deadline >= elapsed) in its slot. */
static void file_entry(weft__wheel *w, weft_timer *t) {
    unsigned level = level_for(w->elapsed, t->deadline);
    unsigned slot = (unsigned)(t->deadline >> (level * BITS)) & SLOT_MASK;
    t->level = (uint8_t)level;
    t->slot = (uint8_t)slot;
    list_push_back(&w->slots[level][slot], t);
    w->occupied[level] |= UINT64_C(1) << slot;
}

/*
 * Put a late entry (deadline < elapsed) on pending, keeping pending sorted by
 * deadline and equal deadlines in arrival order.  Walks back from the tail;
 * see the header comment for when that walk is longer than a step.
 */
static void pending_insert(weft__wheel *w, weft_timer *t) {
    weft_timer *head = w->pending;
    t->level = PENDING_LEVEL;
    t->slot = 0;
    if (!head || head->prev->deadline <= t->deadline) {
        list_push_back(&w->pending, t);
        return;
    }
    weft_timer *after = head->prev;
    while (after != head && after->prev->deadline > t->deadline) after = after->prev;
    /* t goes before `after`, the earliest entry with a later deadline;
     * reaching the head means t is the new earliest. */
    t->next = after;
    t->prev = after->prev;
    after->prev->next = t;
    after->prev = t;
    if (after == head) w->pending = t;
}

/*
 * The next slot of `level` to process: its index in *slot and the time at
 * which elapsed reaches it in *when.  Returns 0 when the level is empty.
 */
static int level_next(const weft__wheel *w, unsigned level, unsigned *slot,
                      uint64_t *when) {
    uint64_t occ = w->occupied[level];
    if (!occ) return 0;
    unsigned shift = level * BITS;
    /*
     * Search from elapsed's own slot on level 0, where it holds entries due
     * now, but from the one after it on higher levels: there the own slot can
     * only hold far entries waiting for the next turn (see the header), so it
     * must come last, after every slot that comes round sooner.
     */
    unsigned from = ((unsigned)(w->elapsed >> shift) + (level > 0)) & SLOT_MASK;
    unsigned s = (from + ctz64(rotr64(occ, from))) & SLOT_MASK;
    uint64_t level_span = UINT64_C(1) << (shift + BITS);
    uint64_t t = (w->elapsed & ~(level_span - 1)) + ((uint64_t)s << shift);
    if (level > 0 && t <= w->elapsed) {
        /*
         * A slot at or behind elapsed's digit: only the top level holds such
         * entries (far deadlines), and it means that slot on the next turn.
         * A far entry's deadline is a whole turn ahead, so this cannot
         * overflow.
         */
        assert(level == TOP);
        t += level_span;
    }
    *slot = s;
    *when = t;
    return 1;
}

/*
 * The next slot to process on any level.  The lowest occupied level is the
 * answer: by the invariant, all of its slots come before any higher level's.
 */
static int wheel_next(const weft__wheel *w, unsigned *level, unsigned *slot,
                      uint64_t *when) {
    for (unsigned l = 0; l < WEFT__WHEEL_LEVELS; l++) {
        if (level_next(w, l, slot, when)) {
            *level = l;
            return 1;
        }
    }
    return 0;
}

/*
 * elapsed has reached the start of slot `slot` of `level` (> 0): re-file its
 * entries relative to elapsed.  The whole list is detached first because a
 * far entry goes back into this very slot (for the next turn), and must not
 * be met again in this pass.
 */
static void cascade(weft__wheel *w, unsigned level, unsigned slot) {
    weft_timer *t = w->slots[level][slot];
    w->slots[level][slot] = NULL;
    w->occupied[level] &= ~(UINT64_C(1) << slot);
    t->prev->next = NULL; /* the detached ring becomes a NULL-ended chain */
    while (t) {
        weft_timer *next = t->next;
        file_entry(w, t);
        t = next;
    }
}

/* Take t off whichever list it is on, keeping the occupancy mask exact. */
static void detach(weft__wheel *w, weft_timer *t) {
    if (t->level == PENDING_LEVEL) {
        list_unlink(&w->pending, t);
    } else if (list_unlink(&w->slots[t->level][t->slot], t)) {
        w->occupied[t->level] &= ~(UINT64_C(1) << t->slot);
    }
    w->count--;
}

/* ---- the API ------------------------------------------------------------- */

/* Start an empty wheel at time now. */
void weft__wheel_init(weft__wheel *w, uint64_t now) {
    *w = (weft__wheel){.elapsed = now};
}

/* File t (idle, deadline set); late deadlines go on pending. */
void weft__wheel_insert(weft__wheel *w, weft_timer *t) {
    assert(t->state != WEFT__TIMER_ARMED);
    if (t->deadline < w->elapsed)
        pending_insert(w, t);
    else
        file_entry(w, t);
    t->state = WEFT__TIMER_ARMED;
    w->count++;
}

/* Take an armed t out of the wheel, wherever it is. */
void weft__wheel_remove(weft__wheel *w, weft_timer *t) {
    assert(t->state == WEFT__TIMER_ARMED);
    detach(w, t);
    t->state = WEFT__TIMER_IDLE;
}

/*
 * The earliest time poll may return something: pending's head (it is sorted
 * and behind elapsed), else the start of the next slot to process, which is
 * the exact deadline when that slot is on level 0.
 */
uint64_t weft__wheel_next_deadline(const weft__wheel *w) {
    if (w->pending) return w->pending->deadline;
    unsigned level, slot;
    uint64_t when;
    if (!wheel_next(w, &level, &slot, &when)) return UINT64_MAX;
    return when;
}

/*
 * Return the earliest due entry, advancing elapsed slot by slot (by mask, not
 * by millisecond) and cascading on the way; NULL once nothing is due at now,
 * leaving elapsed at now.
 */
weft_timer *weft__wheel_poll(weft__wheel *w, uint64_t now) {
    if (now < w->elapsed) now = w->elapsed;
    for (;;) {
        weft_timer *t = w->pending;
        unsigned level, slot;
        uint64_t when;
        if (!t) {
            if (!wheel_next(w, &level, &slot, &when) || when > now) {
                w->elapsed = now;
                return NULL;
            }
            w->elapsed = when;
            if (level > 0) {
                cascade(w, level, slot);
                continue;
            }
            /* A level-0 slot: every entry in it has deadline == when. */
            t = w->slots[0][slot];
        }
        detach(w, t);
        t->state = WEFT__TIMER_FIRED;
        return t;
    }
}
