/*
 * tests/sync/payload.h - a reference-counted value for the channels whose
 * elements are cloned and dropped through hooks (broadcast, watch): the
 * channel carries pointers to these, and the counters show every clone
 * matched by a drop and no payload left alive.
 */
#ifndef WEFT_TEST_SYNC_PAYLOAD_H
#define WEFT_TEST_SYNC_PAYLOAD_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct payload {
    atomic_int refs;
    uint64_t v;
} payload;

static atomic_int payloads_alive, clones, drops;

static payload *payload_new(uint64_t v) {
    payload *p = malloc(sizeof *p);
    atomic_init(&p->refs, 1);
    p->v = v;
    atomic_fetch_add(&payloads_alive, 1);
    return p;
}

static void payload_unref(payload *p) {
    if (atomic_fetch_sub(&p->refs, 1) == 1) {
        atomic_fetch_sub(&payloads_alive, 1);
        free(p);
    }
}

/* clone_elem: the copy takes a reference. */
static void payload_clone_hook(void *dst, const void *src) {
    payload *p = *(payload *const *)src;
    atomic_fetch_add(&p->refs, 1);
    atomic_fetch_add(&clones, 1);
    *(payload **)dst = p;
}

/* drop_elem: the channel's reference goes. */
static void payload_drop_hook(void *elem) {
    atomic_fetch_add(&drops, 1);
    payload_unref(*(payload **)elem);
}

#endif
