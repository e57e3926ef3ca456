/*
 * src/sync/mutex.c - Mutex and RwLock as thin layers over the semaphore (see
 * include/weft/mutex.h and src/sync/semaphore.c, which does the work).
 */
#include <weft/mutex.h>

#include <errno.h>

void weft_mutex_init(weft_mutex *m) { weft_semaphore_init(&m->sem, 1); }

weft_poll weft_mutex_lock(weft_mutex *m, weft_cx *cx, weft_mutex_guard *g) {
    /* A mutex is never closed and asks for one permit: no error to report. */
    return weft_semaphore_acquire_many(&m->sem, cx, &g->op, 1, NULL);
}

int weft_mutex_try_lock(weft_mutex *m, weft_mutex_guard *g) {
    return weft_semaphore_try_acquire_many(&m->sem, &g->op, 1);
}

void weft_mutex_unlock(weft_mutex_guard *g) { weft_semaphore_release(&g->op); }

int weft_mutex_guard_held(const weft_mutex_guard *g) { return weft_semaphore_held(&g->op) != 0; }

void weft_rwlock_init(weft_rwlock *l) { weft_semaphore_init(&l->sem, WEFT_RWLOCK_MAX_READERS); }

weft_poll weft_rwlock_read(weft_rwlock *l, weft_cx *cx, weft_rwlock_guard *g) {
    return weft_semaphore_acquire_many(&l->sem, cx, &g->op, 1, NULL);
}

weft_poll weft_rwlock_write(weft_rwlock *l, weft_cx *cx, weft_rwlock_guard *g) {
    return weft_semaphore_acquire_many(&l->sem, cx, &g->op, WEFT_RWLOCK_MAX_READERS, NULL);
}

int weft_rwlock_try_read(weft_rwlock *l, weft_rwlock_guard *g) {
    return weft_semaphore_try_acquire_many(&l->sem, &g->op, 1);
}

int weft_rwlock_try_write(weft_rwlock *l, weft_rwlock_guard *g) {
    return weft_semaphore_try_acquire_many(&l->sem, &g->op, WEFT_RWLOCK_MAX_READERS);
}

void weft_rwlock_unlock(weft_rwlock_guard *g) { weft_semaphore_release(&g->op); }

int weft_rwlock_guard_held(const weft_rwlock_guard *g) {
    size_t n = weft_semaphore_held(&g->op);
    return n == 0 ? 0 : n == 1 ? 1 : 2;
}
