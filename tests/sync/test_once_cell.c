/*
 * tests/sync/test_once_cell.c - OnceCell: one initializer, the others wait;
 * abandon and abort hand the role on; set; cancel safety; threads.
 */
#include <weft.h>

#include "sync_util.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>

static weft_poll gob_by_hand(weft_once_cell *c, cwaker *w, weft_once_op *op, int *st) {
    weft_cx cx = weft_cx_manual(&w->base);
    return weft_once_cell_get_or_begin(c, &cx, op, st);
}

static int value_a, value_b;

static void once_cell_starts_empty_and_set_sets_it_once(void) {
    weft_once_cell c = WEFT_ONCE_CELL_INIT;
    CHECK(!weft_once_cell_is_set(&c));
    CHECK(weft_once_cell_get(&c) == NULL);
    CHECK_EQ(weft_once_cell_set(&c, &value_a), 0);
    CHECK(weft_once_cell_is_set(&c));
    CHECK(weft_once_cell_get(&c) == &value_a);
    CHECK_EQ(weft_once_cell_set(&c, &value_b), -EBUSY);
    CHECK(weft_once_cell_get(&c) == &value_a);
}

static void once_cell_null_value_still_counts_as_set(void) {
    weft_once_cell c;
    weft_once_cell_init(&c);
    CHECK_EQ(weft_once_cell_set(&c, NULL), 0);
    CHECK(weft_once_cell_is_set(&c));
    cwaker w;
    cw_init(&w);
    weft_once_op op = {0};
    int st = -1;
    CHECK_EQ(gob_by_hand(&c, &w, &op, &st), WEFT_READY);
    CHECK_EQ(st, WEFT_ONCE_SET);
}

static void once_cell_first_caller_initializes_the_rest_wait(void) {
    weft_once_cell c = WEFT_ONCE_CELL_INIT;
    cwaker w0, w1, w2;
    cw_init(&w0);
    cw_init(&w1);
    cw_init(&w2);
    weft_once_op a = {0}, b = {0}, d = {0};
    int st = -1;
    CHECK_EQ(gob_by_hand(&c, &w0, &a, &st), WEFT_READY);
    CHECK_EQ(st, WEFT_ONCE_INIT);
    CHECK_EQ(gob_by_hand(&c, &w1, &b, &st), WEFT_PENDING);
    CHECK_EQ(gob_by_hand(&c, &w2, &d, &st), WEFT_PENDING);
    CHECK_EQ(weft_once_cell_set(&c, &value_b), -EBUSY); /* an initializer is at work */
    weft_once_cell_finish(&a, &value_a);
    CHECK_EQ(atomic_load(&w1.wakes), 1);
    CHECK_EQ(atomic_load(&w2.wakes), 1);
    st = -1;
    CHECK_EQ(gob_by_hand(&c, &w1, &b, &st), WEFT_READY);
    CHECK_EQ(st, WEFT_ONCE_SET);
    st = -1;
    CHECK_EQ(gob_by_hand(&c, &w2, &d, &st), WEFT_READY);
    CHECK_EQ(st, WEFT_ONCE_SET);
    CHECK(weft_once_cell_get(&c) == &value_a);
    weft_once_cell_abandon(&a); /* no-op after finish */
    weft_once_cell_abandon(&b); /* no-op: never had the role */
    CHECK(weft_once_cell_get(&c) == &value_a);
    CHECK_EQ(atomic_load(&w0.refs) + atomic_load(&w1.refs) + atomic_load(&w2.refs), 0);
}

static void once_cell_abandon_hands_the_role_to_the_oldest_waiter(void) {
    weft_once_cell c = WEFT_ONCE_CELL_INIT;
    cwaker w1, w2;
    cw_init(&w1);
    cw_init(&w2);
    weft_once_op a = {0}, b = {0}, d = {0};
    int st = -1;
    CHECK_EQ(gob_by_hand(&c, &w1, &a, &st), WEFT_READY);
    CHECK_EQ(st, WEFT_ONCE_INIT);
    CHECK_EQ(gob_by_hand(&c, &w1, &b, &st), WEFT_PENDING);
    CHECK_EQ(gob_by_hand(&c, &w2, &d, &st), WEFT_PENDING);
    weft_once_cell_abandon(&a);
    CHECK_EQ(atomic_load(&w1.wakes), 1);
    CHECK_EQ(atomic_load(&w2.wakes), 0);
    CHECK_EQ(gob_by_hand(&c, &w1, &b, &st), WEFT_READY);
    CHECK_EQ(st, WEFT_ONCE_INIT);
    CHECK(!weft_once_cell_is_set(&c));
    weft_once_cell_finish(&b, &value_b);
    CHECK_EQ(gob_by_hand(&c, &w2, &d, &st), WEFT_READY);
    CHECK_EQ(st, WEFT_ONCE_SET);
    CHECK(weft_once_cell_get(&c) == &value_b);
}

static void once_cell_cancelled_wait_leaves_nothing_and_passes_the_role(void) {
    weft_once_cell c = WEFT_ONCE_CELL_INIT;
    cwaker w1, w2, w3;
    cw_init(&w1);
    cw_init(&w2);
    cw_init(&w3);
    weft_once_op a = {0}, b = {0}, d = {0};
    int st = -1;
    CHECK_EQ(gob_by_hand(&c, &w1, &a, &st), WEFT_READY);
    CHECK_EQ(gob_by_hand(&c, &w2, &b, &st), WEFT_PENDING);
    CHECK_EQ(gob_by_hand(&c, &w3, &d, &st), WEFT_PENDING);
    weft_once_cell_abandon(&a);           /* the role goes to b ... */
    (void)weft_once_cell_get_or_begin(&c, NULL, &b, NULL); /* ... cancelled before it ran */
    CHECK_EQ(atomic_load(&w2.refs), 0);
    CHECK_EQ(atomic_load(&w3.wakes), 1); /* so d gets it */
    CHECK_EQ(gob_by_hand(&c, &w3, &d, &st), WEFT_READY);
    CHECK_EQ(st, WEFT_ONCE_INIT);
    weft_once_cell_finish(&d, &value_a);
    CHECK(weft_once_cell_get(&c) == &value_a);
}

static void once_cell_finish_without_the_role_aborts(void) {
    weft_once_op op = {0};
    weft_once_cell_finish(&op, &value_a);
}

/* ---- with tasks --------------------------------------------------------------
 * Every task calls get_or_begin; the initializer awaits (yields) before it
 * finishes, or gives up / is aborted, and the role moves on.
 */
typedef struct cell_shared {
    weft_once_cell c;
    int inits;        /* initializers that started */
    int fail_first;   /* the first n initializers abandon */
    int seen_bad;     /* a task that saw the cell set without the value */
} cell_shared;

typedef struct user {
    weft_frame fr;
    cell_shared *sh;
    weft_once_op op;
    int st, k, role;
} user;

weft_async_fn(user_poll, user) {
    weft_async (self) {
        weft_await(weft_once_cell_get_or_begin(&self->sh->c, cx, &self->op, &self->st));
        if (self->st == WEFT_ONCE_INIT) {
            self->role = ++self->sh->inits;
            for (self->k = 0; self->k < 3; self->k++) weft_yield(); /* build it */
            if (self->role <= self->sh->fail_first) {
                weft_once_cell_abandon(&self->op);
                weft_return;
            }
            weft_once_cell_finish(&self->op, &value_a);
        }
        if (weft_once_cell_get(&self->sh->c) != &value_a) self->sh->seen_bad++;
    weft_finally:
        weft_once_cell_abandon(&self->op);
    }
    return WEFT_READY;
}

typedef struct cell_test {
    weft_frame fr;
    cell_shared sh;
    weft_task *h[10];
    int i, abort_first;
} cell_test;

weft_async_fn(cell_test_poll, cell_test) {
    weft_async (self) {
        for (self->i = 0; self->i < 10; self->i++) {
            user *u;
            MUST(weft_task_new(&u, cx->rt, user_poll));
            u->sh = &self->sh;
            self->h[self->i] = weft_task_spawn(u);
        }
        weft_yield(); /* h[0] is initializing, the others wait */
        if (self->abort_first) weft_task_abort(self->h[0]);
        for (self->i = 0; self->i < 10; self->i++) {
            weft_await(weft_join(self->h[self->i], cx, NULL));
            weft_task_release(self->h[self->i]);
        }
    }
    return WEFT_READY;
}

static void once_cell_tasks_share_one_initialization(void) {
    weft_rt *rt = new_rt();
    cell_test t = {0};
    weft_once_cell_init(&t.sh.c);
    CHECK_EQ(weft_block_on(rt, cell_test_poll, &t), 0);
    CHECK_EQ(t.sh.inits, 1);
    CHECK_EQ(t.sh.seen_bad, 0);
    CHECK(weft_once_cell_get(&t.sh.c) == &value_a);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

static void once_cell_failed_initializers_pass_the_role_on(void) {
    weft_rt *rt = new_rt();
    cell_test t = {0};
    weft_once_cell_init(&t.sh.c);
    t.sh.fail_first = 3;
    CHECK_EQ(weft_block_on(rt, cell_test_poll, &t), 0);
    CHECK_EQ(t.sh.inits, 4);
    CHECK(weft_once_cell_get(&t.sh.c) == &value_a);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

static void once_cell_aborted_initializer_passes_the_role_on(void) {
    weft_rt *rt = new_rt();
    cell_test t = {.abort_first = 1};
    weft_once_cell_init(&t.sh.c);
    CHECK_EQ(weft_block_on(rt, cell_test_poll, &t), 0);
    CHECK_EQ(t.sh.inits, 2); /* the aborted one, then the next */
    CHECK(weft_once_cell_get(&t.sh.c) == &value_a);
    CHECK_EQ(held(rt), 0);
    weft_rt_free(rt);
}

/* ---- threads ------------------------------------------------------------------ */
#define OC_THREADS 4
#define OC_CELLS 200

typedef struct oc_shared {
    weft_once_cell cells[OC_CELLS];
    int payload[OC_CELLS]; /* written by the initializer, plain */
    atomic_int inits[OC_CELLS];
    atomic_int bad;
} oc_shared;

typedef struct oc_main {
    weft_frame fr;
    oc_shared *sh;
    weft_once_op op;
    int i, st;
} oc_main;

weft_async_fn(oc_main_poll, oc_main) {
    weft_async (self) {
        for (self->i = 0; self->i < OC_CELLS; self->i++) {
            weft_await(weft_once_cell_get_or_begin(&self->sh->cells[self->i], cx, &self->op, &self->st));
            if (self->st == WEFT_ONCE_INIT) {
                atomic_fetch_add(&self->sh->inits[self->i], 1);
                self->sh->payload[self->i] = self->i * 3 + 1;
                if (self->i % 2) weft_yield();
                weft_once_cell_finish(&self->op, &self->sh->payload[self->i]);
            }
            {
                int *v = weft_once_cell_get(&self->sh->cells[self->i]);
                if (v != &self->sh->payload[self->i] || *v != self->i * 3 + 1)
                    atomic_fetch_add(&self->sh->bad, 1);
            }
        }
    }
    return WEFT_READY;
}

static void once_cell_raced_by_threads_initializes_each_cell_once(void) {
    oc_shared *sh = calloc(1, sizeof *sh);
    for (int i = 0; i < OC_CELLS; i++) weft_once_cell_init(&sh->cells[i]);
    oc_main m[OC_THREADS];
    for (int i = 0; i < OC_THREADS; i++)
        m[i] = (oc_main){.sh = sh};
    CHECK_EQ(run_on_threads(OC_THREADS, oc_main_poll, m), 0);
    for (int i = 0; i < OC_CELLS; i++) CHECK_EQ(atomic_load(&sh->inits[i]), 1);
    CHECK_EQ(atomic_load(&sh->bad), 0);
    free(sh);
}

int main(int argc, char **argv) {
    return test_main(argc, argv,
                     (const test_case[]){
                         TEST(once_cell_starts_empty_and_set_sets_it_once),
                         TEST(once_cell_null_value_still_counts_as_set),
                         TEST(once_cell_first_caller_initializes_the_rest_wait),
                         TEST(once_cell_abandon_hands_the_role_to_the_oldest_waiter),
                         TEST(once_cell_cancelled_wait_leaves_nothing_and_passes_the_role),
                         TEST_DEATH(once_cell_finish_without_the_role_aborts),
                         TEST(once_cell_tasks_share_one_initialization),
                         TEST(once_cell_failed_initializers_pass_the_role_on),
                         TEST(once_cell_aborted_initializer_passes_the_role_on),
                         TEST(once_cell_raced_by_threads_initializes_each_cell_once),
                         {0}});
}
