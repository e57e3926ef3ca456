/*
 * examples/interval.c - a ticker: five ticks, 100 ms apart.
 *
 *     build/examples/interval [TICKS] [PERIOD_MS]
 */
#include <weft.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct ticker {
    weft_frame fr;
    weft_interval iv;
    int ticks, n;
    weft_instant when, start;
} ticker;

weft_async_fn(ticker_poll, ticker) {
    weft_async (self) {
        for (self->n = 0; self->n < self->ticks; self->n++) {
            weft_await(weft_interval_tick(&self->iv, cx, &self->when));
            if (self->n == 0) self->start = self->when;
            printf("tick %d at +%llu ms\n", self->n,
                   (unsigned long long)(self->when - self->start));
            fflush(stdout);
        }
    }
    return WEFT_READY;
}

int main(int argc, char **argv) {
    int ticks = argc > 1 ? atoi(argv[1]) : 5;
    int period = argc > 2 ? atoi(argv[2]) : 100;
    weft_rt *rt;
    if (weft_rt_new(&rt, NULL) < 0) return 1;
    ticker t = {.ticks = ticks};
    weft_interval_init(&t.iv, (uint64_t)(period > 0 ? period : 1), WEFT_MISSED_BURST);
    int r = weft_block_on(rt, ticker_poll, &t);
    weft_rt_free(rt);
    return r == 0 ? 0 : 1;
}
