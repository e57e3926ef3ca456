/*
 * tests/rt/flavour.h - the one place every test makes its runtime.
 *
 * test_rt_new(cfg) makes a runtime of the flavour the suite runs under,
 * chosen by the environment variable WEFT_TEST_FLAVOR: "ct" (the default)
 * is the current-thread runtime.  The multi-thread flavours (mt1, mt2, mt4)
 * come with the multi-thread runtime (issue 8; docs/notes/issue8-study.md);
 * until then any other value stops the test binary with an error, so a run
 * that asks for a flavour never passes on the wrong one.  Every runtime
 * helper of the test suite calls this, so adding a flavour is one change
 * here and a loop in tests/run.sh.
 */
#ifndef WEFT_TEST_FLAVOUR_H
#define WEFT_TEST_FLAVOUR_H

#include <weft.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The flavour asked for: "ct" unless WEFT_TEST_FLAVOR says otherwise. */
static inline const char *test_flavour(void) {
    const char *f = getenv("WEFT_TEST_FLAVOR");
    return f && *f ? f : "ct";
}

/* A runtime of the suite's flavour with configuration cfg (NULL: the
 * defaults), or NULL when weft_rt_new fails. */
static inline weft_rt *test_rt_new(const weft_rt_config *cfg) {
    const char *f = test_flavour();
    if (strcmp(f, "ct") != 0) {
        fprintf(stderr, "tests: unknown runtime flavour WEFT_TEST_FLAVOR=%s (known: ct)\n", f);
        exit(2);
    }
    weft_rt *rt = NULL;
    return weft_rt_new(&rt, cfg) == 0 ? rt : NULL;
}

#endif /* WEFT_TEST_FLAVOUR_H */
