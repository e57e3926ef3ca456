/*
 * tests/time/test_wheel.c - the hierarchical timer wheel (src/time/wheel.c).
 *
 * Deterministic: time is whatever the test passes to poll; no clock, no
 * sleeping.  The last test runs random operations against a reference model
 * (a plain array) and checks every answer of the wheel against it.
 */
#include "../test.h"
#include "time/wheel.h"

/* Milliseconds spanned by one slot of level `level` (64^level). */
static uint64_t span(unsigned level) { return UINT64_C(1) << (6 * level); }

/* A fresh idle timer with the given deadline. */
static void timer_at(weft_timer *t, uint64_t deadline) {
    *t = (weft_timer){0};
    t->deadline = deadline;
}

/* Poll at now until NULL; returns how many entries came out. */
static size_t drain(weft__wheel *w, uint64_t now) {
    size_t n = 0;
    while (weft__wheel_poll(w, now)) n++;
    return n;
}

static void wheel_starts_empty(void) {
    weft__wheel w;
    weft__wheel_init(&w, 7);
    CHECK_EQ(weft__wheel_count(&w), 0);
    CHECK(weft__wheel_next_deadline(&w) == UINT64_MAX);
    CHECK(weft__wheel_poll(&w, 1000) == NULL);
    CHECK_EQ(w.elapsed, 1000);
}

static void wheel_fires_entry_at_its_deadline(void) {
    weft__wheel w;
    weft_timer t;
    weft__wheel_init(&w, 0);
    timer_at(&t, 37);
    weft__wheel_insert(&w, &t);
    CHECK(weft__wheel_poll(&w, 36) == NULL);
    CHECK(weft__wheel_poll(&w, 37) == &t);
    CHECK_EQ(t.state, WEFT__TIMER_FIRED);
    CHECK(weft__wheel_poll(&w, 37) == NULL);
    CHECK_EQ(weft__wheel_count(&w), 0);
}

static void wheel_starts_at_the_given_time(void) {
    weft__wheel w;
    weft_timer t;
    weft__wheel_init(&w, 5000);
    CHECK_EQ(w.elapsed, 5000);
    timer_at(&t, 5010);
    weft__wheel_insert(&w, &t);
    CHECK_EQ(weft__wheel_next_deadline(&w), 5010);
    CHECK(weft__wheel_poll(&w, 5009) == NULL);
    CHECK(weft__wheel_poll(&w, 5010) == &t);
}

/*
 * Deadlines at and around level boundaries, from two starting times: neither
 * a single jump to deadline - 1 nor walking through every next_deadline
 * fires the entry before its time.
 */
static void wheel_never_fires_early(void) {
    const uint64_t starts[] = {0, 1000003};
    const uint64_t ahead[] = {1, 2, 63, 64, 65, 127, 4095, 4096, 4097,
                              span(3) - 1, span(3) + 5, span(4) + 4095,
                              span(5) * 7 + 1, span(6) - 1};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        for (size_t j = 0; j < sizeof ahead / sizeof ahead[0]; j++) {
            uint64_t d = starts[i] + ahead[j];
            weft__wheel w;
            weft_timer t;

            weft__wheel_init(&w, starts[i]);
            timer_at(&t, d);
            weft__wheel_insert(&w, &t);
            CHECK(weft__wheel_poll(&w, d - 1) == NULL);
            CHECK_EQ(t.state, WEFT__TIMER_ARMED);
            CHECK(weft__wheel_poll(&w, d) == &t);

            weft__wheel_init(&w, starts[i]);
            timer_at(&t, d);
            weft__wheel_insert(&w, &t);
            uint64_t nd;
            while ((nd = weft__wheel_next_deadline(&w)) < d)
                CHECK(weft__wheel_poll(&w, nd) == NULL);
            CHECK_EQ(nd, d);
            CHECK(weft__wheel_poll(&w, d) == &t);
        }
    }
}

static void wheel_returns_entries_in_deadline_order(void) {
    enum { N = 300 };
    static weft_timer t[N];
    uint64_t rng = 0x9e3779b97f4a7c15u;
    weft__wheel w;
    weft__wheel_init(&w, 100);
    for (int i = 0; i < N; i++) {
        /* magnitudes spread over every level, inserted in random order */
        uint64_t r = test_rand(&rng);
        timer_at(&t[i], 101 + r % span(1 + (unsigned)(r >> 60) % 6));
        weft__wheel_insert(&w, &t[i]);
    }
    uint64_t last = 0;
    int n = 0;
    weft_timer *e;
    while ((e = weft__wheel_poll(&w, span(6))) != NULL) {
        CHECK(e->deadline >= last);
        last = e->deadline;
        n++;
    }
    CHECK_EQ(n, N);
}

static void wheel_fires_equal_deadlines_together(void) {
    weft__wheel w;
    weft_timer t[10];
    weft__wheel_init(&w, 0);
    for (int i = 0; i < 10; i++) {
        timer_at(&t[i], 5000);
        weft__wheel_insert(&w, &t[i]);
    }
    CHECK(weft__wheel_poll(&w, 4999) == NULL);
    CHECK_EQ(drain(&w, 5000), 10);
    for (int i = 0; i < 10; i++) CHECK_EQ(t[i].state, WEFT__TIMER_FIRED);
}

/* An entry filed while a drain is under way still comes out in order. */
static void wheel_entry_inserted_mid_drain_keeps_order(void) {
    weft__wheel w;
    weft_timer a, b, c;
    weft__wheel_init(&w, 0);
    timer_at(&a, 50);
    timer_at(&c, 70);
    weft__wheel_insert(&w, &a);
    weft__wheel_insert(&w, &c);
    CHECK(weft__wheel_poll(&w, 100) == &a);
    timer_at(&b, 60);
    weft__wheel_insert(&w, &b);
    CHECK(weft__wheel_poll(&w, 100) == &b);
    CHECK(weft__wheel_poll(&w, 100) == &c);
    CHECK(weft__wheel_poll(&w, 100) == NULL);
}

static void wheel_remove_before_fire_keeps_it_out(void) {
    weft__wheel w;
    weft_timer a, b, c;
    weft__wheel_init(&w, 0);
    timer_at(&a, 10);
    timer_at(&b, 10);
    timer_at(&c, 5000);
    weft__wheel_insert(&w, &a);
    weft__wheel_insert(&w, &b);
    weft__wheel_insert(&w, &c);
    weft__wheel_remove(&w, &b);
    weft__wheel_remove(&w, &c);
    CHECK_EQ(b.state, WEFT__TIMER_IDLE);
    CHECK_EQ(c.state, WEFT__TIMER_IDLE);
    CHECK(weft__wheel_poll(&w, UINT64_MAX / 2) == &a);
    CHECK(weft__wheel_poll(&w, UINT64_MAX / 2) == NULL);
    CHECK_EQ(b.state, WEFT__TIMER_IDLE);
    CHECK_EQ(c.state, WEFT__TIMER_IDLE);
}

/* Emptying a slot by remove clears its occupancy: next_deadline moves on. */
static void wheel_remove_clears_empty_slot(void) {
    weft__wheel w;
    weft_timer a, b, c;
    weft__wheel_init(&w, 0);
    timer_at(&a, 10);
    timer_at(&b, 20);
    timer_at(&c, 300000);
    weft__wheel_insert(&w, &a);
    weft__wheel_insert(&w, &b);
    weft__wheel_insert(&w, &c);
    weft__wheel_remove(&w, &a);
    CHECK_EQ(weft__wheel_next_deadline(&w), 20);
    weft__wheel_remove(&w, &b);
    CHECK(weft__wheel_next_deadline(&w) > 20);
    CHECK(weft__wheel_next_deadline(&w) <= 300000);
    weft__wheel_remove(&w, &c);
    CHECK(weft__wheel_next_deadline(&w) == UINT64_MAX);
    for (unsigned l = 0; l < WEFT__WHEEL_LEVELS; l++) CHECK_EQ(w.occupied[l], 0);
}

/* Entries that are already due (left mid-drain, late, or at elapsed) can be
 * removed too, and then never come out. */
static void wheel_remove_works_on_due_entries(void) {
    weft__wheel w;
    weft_timer x, left, late, at_elapsed;
    weft__wheel_init(&w, 0);
    timer_at(&x, 10);
    timer_at(&left, 10);
    weft__wheel_insert(&w, &x);
    weft__wheel_insert(&w, &left);
    CHECK(weft__wheel_poll(&w, 100) == &x);
    weft__wheel_remove(&w, &left); /* due, but not yet returned */
    CHECK(weft__wheel_poll(&w, 100) == NULL);
    CHECK_EQ(left.state, WEFT__TIMER_IDLE);
    CHECK_EQ(w.elapsed, 100);

    timer_at(&late, 50);
    timer_at(&at_elapsed, 100);
    weft__wheel_insert(&w, &late);
    weft__wheel_insert(&w, &at_elapsed);
    CHECK_EQ(weft__wheel_count(&w), 2);
    weft__wheel_remove(&w, &late);
    weft__wheel_remove(&w, &at_elapsed);
    CHECK(weft__wheel_poll(&w, 100) == NULL);
    CHECK_EQ(late.state, WEFT__TIMER_IDLE);
    CHECK_EQ(at_elapsed.state, WEFT__TIMER_IDLE);
    CHECK_EQ(weft__wheel_count(&w), 0);
    CHECK(w.pending == NULL);
    CHECK_EQ(w.occupied[0], 0);
}

/*
 * For every level, deadlines at slot starts, slot ends and in between come
 * out exactly on time whether poll walks through each cascade or jumps
 * straight to the deadline.
 */
static void wheel_cascades_from_every_level(void) {
    const uint64_t start = 12345;
    for (unsigned level = 1; level < WEFT__WHEEL_LEVELS; level++) {
        /* the next slot start on this level, and the end of the window the
         * level covers: every d below stays on this level */
        uint64_t base = (start | (span(level) - 1)) + 1;
        uint64_t end = start | (span(level + 1) - 1);
        const uint64_t deadlines[] = {base, base + 1, base + span(level) - 1,
                                      base + 3 * span(level) + span(level) / 2, end};
        for (size_t j = 0; j < sizeof deadlines / sizeof deadlines[0]; j++) {
            uint64_t d = deadlines[j];
            weft__wheel w;
            weft_timer t;

            weft__wheel_init(&w, start);
            timer_at(&t, d);
            weft__wheel_insert(&w, &t);
            CHECK_EQ(t.level, level);
            int steps = 0;
            uint64_t nd;
            while ((nd = weft__wheel_next_deadline(&w)) < d) {
                CHECK(weft__wheel_poll(&w, nd) == NULL);
                steps++;
            }
            CHECK_EQ(nd, d);
            CHECK(steps <= (int)level); /* each cascade moves it down a level */
            CHECK(weft__wheel_poll(&w, d) == &t);

            weft__wheel_init(&w, start);
            timer_at(&t, d);
            weft__wheel_insert(&w, &t);
            CHECK(weft__wheel_poll(&w, d - 1) == NULL);
            CHECK(weft__wheel_poll(&w, d) == &t);
            CHECK(weft__wheel_poll(&w, d) == NULL);
        }
    }
}

/* Further ahead than the wheel spans: parked on the top level, re-filed each
 * turn, fired on time; a deadline of UINT64_MAX just waits. */
static void wheel_handles_deadline_beyond_range(void) {
    weft__wheel w;
    weft_timer t, never;
    const uint64_t start = 12345;
    const uint64_t d = start + 3 * span(6) + 777;
    weft__wheel_init(&w, start);
    timer_at(&t, d);
    timer_at(&never, UINT64_MAX);
    weft__wheel_insert(&w, &t);
    weft__wheel_insert(&w, &never);
    CHECK_EQ(t.level, WEFT__WHEEL_LEVELS - 1);
    CHECK_EQ(never.level, WEFT__WHEEL_LEVELS - 1);

    int steps = 0;
    uint64_t nd;
    while ((nd = weft__wheel_next_deadline(&w)) < d) {
        CHECK(nd > w.elapsed);
        CHECK(weft__wheel_poll(&w, nd) == NULL);
        CHECK(steps++ < 64);
    }
    CHECK_EQ(nd, d);
    CHECK(weft__wheel_poll(&w, d) == &t);
    CHECK(weft__wheel_poll(&w, d + 5 * span(6)) == NULL);
    CHECK_EQ(never.state, WEFT__TIMER_ARMED);
    CHECK_EQ(weft__wheel_count(&w), 1);
    CHECK(weft__wheel_next_deadline(&w) > w.elapsed);
    weft__wheel_remove(&w, &never);
    CHECK(weft__wheel_next_deadline(&w) == UINT64_MAX);

    /* the same deadline reached in one jump */
    weft__wheel_init(&w, start);
    timer_at(&t, d);
    weft__wheel_insert(&w, &t);
    CHECK(weft__wheel_poll(&w, d - 1) == NULL);
    CHECK(weft__wheel_poll(&w, d) == &t);
}

/*
 * A far entry re-filed into the top level's current slot waits a whole turn;
 * it must not hide a slot that comes round sooner.  Here a (three turns
 * ahead) sits in top slot 29 and b (one turn ahead) in slot 30: once a has
 * been re-filed at slot 29's time, slot 30 is still next.
 */
static void wheel_far_entry_does_not_hide_a_sooner_slot(void) {
    weft__wheel w;
    weft_timer a, b;
    const uint64_t da = 3 * span(6) + 29 * span(5);
    const uint64_t db = 1 * span(6) + 30 * span(5) + 5;
    weft__wheel_init(&w, 0);
    timer_at(&a, da);
    timer_at(&b, db);
    weft__wheel_insert(&w, &a);
    weft__wheel_insert(&w, &b);
    CHECK(weft__wheel_poll(&w, db - 1) == NULL);
    CHECK(weft__wheel_poll(&w, db) == &b);
    CHECK(weft__wheel_poll(&w, da - 1) == NULL);
    CHECK(weft__wheel_poll(&w, da) == &a);

    /* the same, walking through every reported next deadline */
    weft__wheel_init(&w, 0);
    timer_at(&a, da);
    timer_at(&b, db);
    weft__wheel_insert(&w, &a);
    weft__wheel_insert(&w, &b);
    uint64_t nd;
    while ((nd = weft__wheel_next_deadline(&w)) < db) {
        CHECK(weft__wheel_poll(&w, nd) == NULL);
        CHECK_EQ(b.state, WEFT__TIMER_ARMED);
    }
    CHECK_EQ(nd, db);
    CHECK(weft__wheel_poll(&w, db) == &b);
}

static void wheel_due_entry_inserted_in_past_fires_next_poll(void) {
    weft__wheel w;
    weft_timer t[6];
    const uint64_t deadlines[6] = {10, 999, 0, 500, 1000, 1001};
    weft__wheel_init(&w, 1000);
    for (int i = 0; i < 6; i++) {
        timer_at(&t[i], deadlines[i]);
        weft__wheel_insert(&w, &t[i]);
    }
    /* the earliest is reported, and it is behind elapsed */
    CHECK_EQ(weft__wheel_next_deadline(&w), 0);
    /* due ones come out at the next poll, even one that asks for the past,
     * in deadline order, and the future one stays */
    CHECK(weft__wheel_poll(&w, 0) == &t[2]);
    CHECK(weft__wheel_poll(&w, 0) == &t[0]);
    CHECK(weft__wheel_poll(&w, 1000) == &t[3]);
    CHECK(weft__wheel_poll(&w, 1000) == &t[1]);
    CHECK(weft__wheel_poll(&w, 1000) == &t[4]);
    CHECK(weft__wheel_poll(&w, 1000) == NULL);
    CHECK_EQ(t[5].state, WEFT__TIMER_ARMED);
    CHECK_EQ(weft__wheel_next_deadline(&w), 1001);
}

static void wheel_next_deadline_is_lower_bound(void) {
    weft__wheel w;
    weft_timer a, b, c;
    weft__wheel_init(&w, 1000);
    CHECK(weft__wheel_next_deadline(&w) == UINT64_MAX);

    timer_at(&a, 1000 + span(3) + 17); /* level 3 */
    weft__wheel_insert(&w, &a);
    uint64_t nd = weft__wheel_next_deadline(&w);
    CHECK(nd > 1000);
    CHECK(nd <= a.deadline);

    timer_at(&b, 1000 + 100); /* level 1 */
    weft__wheel_insert(&w, &b);
    nd = weft__wheel_next_deadline(&w);
    CHECK(nd > 1000);
    CHECK(nd <= b.deadline);

    timer_at(&c, 1000 + 5); /* level 0: exact */
    weft__wheel_insert(&w, &c);
    CHECK_EQ(weft__wheel_next_deadline(&w), 1005);

    /* nothing comes out before the reported time */
    for (;;) {
        nd = weft__wheel_next_deadline(&w);
        if (nd == UINT64_MAX) break;
        CHECK(weft__wheel_poll(&w, nd - 1) == NULL);
        weft_timer *e = weft__wheel_poll(&w, nd);
        if (e) CHECK_EQ(e->deadline, nd);
    }
    CHECK_EQ(a.state, WEFT__TIMER_FIRED);
    CHECK_EQ(b.state, WEFT__TIMER_FIRED);
    CHECK_EQ(c.state, WEFT__TIMER_FIRED);
}

static void wheel_poll_backwards_is_noop(void) {
    weft__wheel w;
    weft_timer a, b;
    weft__wheel_init(&w, 0);
    timer_at(&a, 1001);
    weft__wheel_insert(&w, &a);
    CHECK(weft__wheel_poll(&w, 1000) == NULL);
    CHECK(weft__wheel_poll(&w, 500) == NULL);
    CHECK_EQ(w.elapsed, 1000);
    CHECK_EQ(a.state, WEFT__TIMER_ARMED);
    /* an earlier now still means "now is elapsed": this one is due */
    timer_at(&b, 1000);
    weft__wheel_insert(&w, &b);
    CHECK(weft__wheel_poll(&w, 3) == &b);
    CHECK(weft__wheel_poll(&w, 3) == NULL);
    CHECK_EQ(w.elapsed, 1000);
    CHECK(weft__wheel_poll(&w, 1001) == &a);
}

static void wheel_poll_leaves_elapsed_at_now(void) {
    weft__wheel w;
    weft_timer a, b;
    weft__wheel_init(&w, 0);
    timer_at(&a, 50);
    timer_at(&b, 200000);
    weft__wheel_insert(&w, &a);
    weft__wheel_insert(&w, &b);
    CHECK(weft__wheel_poll(&w, 70000) == &a);
    CHECK(weft__wheel_poll(&w, 70000) == NULL);
    CHECK_EQ(w.elapsed, 70000);
    /* elapsed really moved: 70001 is one step ahead now */
    timer_at(&a, 70001);
    weft__wheel_insert(&w, &a);
    CHECK_EQ(a.level, 0);
    CHECK_EQ(weft__wheel_next_deadline(&w), 70001);
}

static void wheel_count_tracks_entries(void) {
    weft__wheel w;
    weft_timer t[8];
    weft__wheel_init(&w, 100);
    for (int i = 0; i < 8; i++) {
        timer_at(&t[i], (uint64_t)(i * 40));
        weft__wheel_insert(&w, &t[i]);
        CHECK_EQ(weft__wheel_count(&w), i + 1);
    }
    weft__wheel_remove(&w, &t[0]); /* a late one */
    weft__wheel_remove(&w, &t[7]);
    CHECK_EQ(weft__wheel_count(&w), 6);
    CHECK(weft__wheel_poll(&w, 100) != NULL);
    CHECK_EQ(weft__wheel_count(&w), 5);
    CHECK_EQ(drain(&w, 160), 3);
    CHECK_EQ(weft__wheel_count(&w), 2);
    CHECK_EQ(drain(&w, 1000), 2);
    CHECK_EQ(weft__wheel_count(&w), 0);
}

static void wheel_entry_state_follows_lifecycle(void) {
    weft__wheel w;
    weft_timer t;
    weft__wheel_init(&w, 0);
    timer_at(&t, 10);
    CHECK_EQ(t.state, WEFT__TIMER_IDLE);
    weft__wheel_insert(&w, &t);
    CHECK_EQ(t.state, WEFT__TIMER_ARMED);
    CHECK(weft__wheel_poll(&w, 10) == &t);
    CHECK_EQ(t.state, WEFT__TIMER_FIRED);
    /* a fired entry can be armed again */
    t.deadline = 5000;
    weft__wheel_insert(&w, &t);
    CHECK_EQ(t.state, WEFT__TIMER_ARMED);
    weft__wheel_remove(&w, &t);
    CHECK_EQ(t.state, WEFT__TIMER_IDLE);
    t.deadline = 20;
    weft__wheel_insert(&w, &t);
    CHECK(weft__wheel_poll(&w, 19) == NULL);
    CHECK(weft__wheel_poll(&w, 20) == &t);
}

/* ---- randomized, against a reference model ------------------------------- */

enum { MODEL_N = 256 };

/* A deadline relative to elapsed: late ones, near ones, every level, exact
 * level boundaries, beyond the wheel's span, and near UINT64_MAX. */
static uint64_t random_deadline(uint64_t *rng, uint64_t elapsed) {
    uint64_t r = test_rand(rng);
    uint64_t x = test_rand(rng);
    unsigned level = 1 + (unsigned)(x >> 61) % 6; /* 1..6 */
    switch (r % 10) {
    case 0:
        return elapsed - (x % 300 < elapsed ? x % 300 : elapsed);
    case 1:
        return elapsed + x % 3;
    case 2:
    case 3:
        return elapsed + x % 128;
    case 4:
        return elapsed + x % (2 * span(level));
    case 5: /* the next multiple of span(level), give or take one */
        return (elapsed | (span(level) - 1)) + x % 3;
    case 6:
        return elapsed + span(6) * (1 + x % 3) + (x >> 20) % span(5);
    case 7:
        return UINT64_MAX - x % 1000;
    default:
        return elapsed + x % 5000;
    }
}

/* How far a poll looks ahead: mostly a few ms, now and then a long jump. */
static uint64_t random_advance(uint64_t *rng) {
    uint64_t r = test_rand(rng);
    uint64_t x = test_rand(rng);
    switch (r % 16) {
    case 8: case 9: case 10: case 11:
        return x % 200;
    case 12: case 13:
        return x % 70000;
    case 14:
        return x % (2 * span(4));
    case 15:
        return x % (2 * span(6));
    default:
        return x % 4;
    }
}

/* Index of the armed model entry with the smallest deadline, or -1. */
static int model_min(const weft_timer *t, const int *armed) {
    int best = -1;
    for (int i = 0; i < MODEL_N; i++)
        if (armed[i] && (best < 0 || t[i].deadline < t[best].deadline)) best = i;
    return best;
}

/*
 * 20,000 random inserts, removes and polls (once, or until NULL; forwards by
 * a few ms up to two turns of the wheel, now and then backwards) per seed,
 * three fixed seeds.  Every returned entry must be an earliest armed one (so
 * order holds) with deadline <= now; a NULL poll must leave nothing due at
 * now and elapsed at now; count, states, next_deadline's bound and "elapsed
 * never passed an entry filed in time" are checked after every operation.
 */
static void wheel_matches_reference_model(void) {
    static weft_timer t[MODEL_N];
    static int armed[MODEL_N], late[MODEL_N];
    for (uint64_t seed = 1; seed <= 3; seed++) {
        uint64_t rng = 0x2545f4914f6cdd1du * seed;
        weft__wheel w;
        size_t count = 0;
        memset(t, 0, sizeof t);
        memset(armed, 0, sizeof armed);
        memset(late, 0, sizeof late);
        weft__wheel_init(&w, seed * 1000);

        for (int op = 0; op < 20000; op++) {
            uint64_t r = test_rand(&rng) % 100;
            int i = (int)(test_rand(&rng) % MODEL_N);
            uint64_t prev_elapsed = w.elapsed;

            if (r < 40 && !armed[i]) { /* insert */
                t[i].deadline = random_deadline(&rng, w.elapsed);
                late[i] = t[i].deadline < w.elapsed;
                weft__wheel_insert(&w, &t[i]);
                CHECK_EQ(t[i].state, WEFT__TIMER_ARMED);
                armed[i] = 1;
                count++;
            } else if (r < 55 && armed[i]) { /* remove */
                weft__wheel_remove(&w, &t[i]);
                CHECK_EQ(t[i].state, WEFT__TIMER_IDLE);
                armed[i] = 0;
                count--;
            } else if (r >= 55) { /* poll once, or until NULL */
                int until_null = r >= 70;
                uint64_t now, eff;
                if (r >= 98)
                    now = w.elapsed - (w.elapsed < 5 ? w.elapsed : 5); /* backwards */
                else
                    now = w.elapsed + random_advance(&rng);
                eff = now > w.elapsed ? now : w.elapsed;
                for (int polls = 0;; polls++) {
                    CHECK(polls <= MODEL_N);
                    uint64_t nd = weft__wheel_next_deadline(&w);
                    weft_timer *e = weft__wheel_poll(&w, now);
                    uint64_t nd_after = weft__wheel_next_deadline(&w);
                    CHECK(w.elapsed >= prev_elapsed);
                    CHECK(w.elapsed <= eff);
                    prev_elapsed = w.elapsed;
                    if (!e) {
                        int m = model_min(t, armed);
                        CHECK(m < 0 || t[m].deadline > eff);
                        CHECK_EQ(w.elapsed, eff);
                        /* nothing is left to process at or before eff
                         * (at eff == UINT64_MAX: nothing at all) */
                        CHECK(nd_after > eff ||
                              (nd_after == UINT64_MAX && count == 0));
                        break;
                    }
                    int k = (int)(e - t);
                    CHECK(k >= 0 && k < MODEL_N);
                    CHECK(armed[k]);
                    CHECK_EQ(e->state, WEFT__TIMER_FIRED);
                    CHECK(e->deadline <= eff);
                    CHECK(e->deadline >= nd);
                    /* the earliest armed entry (which also gives the order) */
                    CHECK_EQ(e->deadline, t[model_min(t, armed)].deadline);
                    armed[k] = 0;
                    count--;
                    if (!until_null) break;
                }
            }

            /* after every operation */
            CHECK_EQ(weft__wheel_count(&w), count);
            int m = model_min(t, armed);
            uint64_t nd = weft__wheel_next_deadline(&w);
            if (m < 0) {
                CHECK(nd == UINT64_MAX);
                continue;
            }
            CHECK(nd <= t[m].deadline);
            if (t[m].deadline >= w.elapsed) CHECK(nd >= w.elapsed);
            for (int j = 0; j < MODEL_N; j++) {
                if (!armed[j]) continue;
                CHECK_EQ(t[j].state, WEFT__TIMER_ARMED);
                /* elapsed never passed an entry that was filed in time */
                if (!late[j]) CHECK(t[j].deadline >= w.elapsed);
            }
        }

        for (int i = 0; i < MODEL_N; i++)
            if (armed[i]) weft__wheel_remove(&w, &t[i]);
        CHECK_EQ(weft__wheel_count(&w), 0);
        CHECK(weft__wheel_next_deadline(&w) == UINT64_MAX);
        CHECK(w.pending == NULL);
        for (unsigned l = 0; l < WEFT__WHEEL_LEVELS; l++) CHECK_EQ(w.occupied[l], 0);
    }
}

int main(int argc, char **argv) {
    return test_main(argc, argv, (const test_case[]){
        TEST(wheel_starts_empty),
        TEST(wheel_fires_entry_at_its_deadline),
        TEST(wheel_starts_at_the_given_time),
        TEST(wheel_never_fires_early),
        TEST(wheel_returns_entries_in_deadline_order),
        TEST(wheel_fires_equal_deadlines_together),
        TEST(wheel_entry_inserted_mid_drain_keeps_order),
        TEST(wheel_remove_before_fire_keeps_it_out),
        TEST(wheel_remove_clears_empty_slot),
        TEST(wheel_remove_works_on_due_entries),
        TEST(wheel_cascades_from_every_level),
        TEST(wheel_handles_deadline_beyond_range),
        TEST(wheel_far_entry_does_not_hide_a_sooner_slot),
        TEST(wheel_due_entry_inserted_in_past_fires_next_poll),
        TEST(wheel_next_deadline_is_lower_bound),
        TEST(wheel_poll_backwards_is_noop),
        TEST(wheel_poll_leaves_elapsed_at_now),
        TEST(wheel_count_tracks_entries),
        TEST(wheel_entry_state_follows_lifecycle),
        TEST(wheel_matches_reference_model),
        {0}});
}
