/*
 * src/core/wait_list.h - intrusive FIFO wait queues.
 *
 * A circular doubly-linked list with a sentinel head, so a node can leave the
 * list in O(1) without knowing which list it is in (a cancelled waiter only
 * needs the lock of its primitive).  A zeroed head is an empty list; it is
 * made circular on first use, so primitives can be zero-initialised.  A node
 * is in a list exactly when node->next != NULL.  Not thread-safe: the owning
 * primitive's lock guards it.
 */
#ifndef WEFT_SRC_CORE_WAIT_LIST_H
#define WEFT_SRC_CORE_WAIT_LIST_H

#include <weft/wait.h>

#include "lock.h"

#include <stddef.h>

static inline int weft__wl_empty(const weft_wait_node *h) {
    return h->next == NULL || h->next == h;
}

static inline int weft__wl_linked(const weft_wait_node *n) { return n->next != NULL; }

static inline void weft__wl_push_back(weft_wait_node *h, weft_wait_node *n) {
    if (h->next == NULL) h->next = h->prev = h;
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static inline void weft__wl_remove(weft_wait_node *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
}

/* The first node, removed, or NULL. */
static inline weft_wait_node *weft__wl_pop_front(weft_wait_node *h) {
    if (weft__wl_empty(h)) return NULL;
    weft_wait_node *n = h->next;
    weft__wl_remove(n);
    return n;
}

/* Move every node of src (which is left empty) to dst (whose contents are
 * forgotten: pass an unused head). */
static inline void weft__wl_splice(weft_wait_node *dst, weft_wait_node *src) {
    dst->next = dst->prev = dst;
    if (weft__wl_empty(src)) return;
    dst->next = src->next;
    dst->prev = src->prev;
    dst->next->prev = dst;
    dst->prev->next = dst;
    src->next = src->prev = src;
}

#define WEFT__CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Wakers collected under a lock, woken after it is released. */
#define WEFT__WAKE_BATCH 32
typedef struct weft__wake_list {
    weft_waker *w[WEFT__WAKE_BATCH];
    unsigned n;
} weft__wake_list;

static inline int weft__wake_list_full(const weft__wake_list *l) {
    return l->n == WEFT__WAKE_BATCH;
}

static inline void weft__wake_list_push(weft__wake_list *l, weft_waker *w) {
    if (w) l->w[l->n++] = w;
}

static inline void weft__wake_list_wake(weft__wake_list *l) {
    for (unsigned i = 0; i < l->n; i++) weft_waker_wake(l->w[i]);
    l->n = 0;
}

/*
 * Wake every node of a list: entered with *lock held, returns with it
 * released.  take(node) runs under the lock for each node taken off list: it
 * marks the node's op as served and returns the waker to wake after the
 * unlock (or NULL).  Wakers are woken WEFT__WAKE_BATCH at a time with the
 * lock re-taken between batches, so a waiter may leave list meanwhile (it
 * unlinks itself under the lock).  To leave out waiters that arrive between
 * batches, pass a list of your own, weft__wl_splice'd from the queue.
 */
static inline void weft__wl_wake_all_unlock(weft__lock *lock, weft_wait_node *list,
                                            weft_waker *(*take)(weft_wait_node *)) {
    weft__wake_list wl;
    wl.n = 0; /* not "= {0}": that would clear all 33 words */
    for (;;) {
        weft_wait_node *node;
        while (!weft__wake_list_full(&wl) && (node = weft__wl_pop_front(list)))
            weft__wake_list_push(&wl, take(node));
        int more = !weft__wl_empty(list);
        weft__lock_release(lock);
        weft__wake_list_wake(&wl);
        if (!more) return;
        weft__lock_acquire(lock);
    }
}

#endif /* WEFT_SRC_CORE_WAIT_LIST_H */
