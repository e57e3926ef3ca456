/*
 * tests/test.h - weft's test harness: one binary per test file, one process
 * per test.
 *
 *     static void mpsc_send_waits_when_full(void) {
 *         ...
 *         CHECK(n == 3);
 *         CHECK_EQ(status, -EPIPE);
 *     }
 *     int main(int argc, char **argv) {
 *         return test_main(argc, argv, (const test_case[]){
 *             TEST(mpsc_send_waits_when_full),
 *             TEST_DEATH(await_in_switch_aborts),   // must die by a signal
 *             {0}});
 *     }
 *
 * Each test runs in a forked child, so a crash, a sanitizer report or a leak
 * (valgrind --error-exitcode) fails that test alone.  A hang guard kills a
 * test after TEST_TIMEOUT seconds (default 300; the guard never decides a
 * pass).  The binary prints one line per test and a closing
 * "N passed, N failed" line; tests/run.sh adds those up over every binary and
 * build mode.  Arguments: test names to run only those; --no-fork to run in
 * one process (for debuggers).
 *
 * CHECK* return from the test function on failure, so use them in the test
 * function itself or in void helpers whose callers check test_failed().
 */
#ifndef WEFT_TEST_H
#define WEFT_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct test_case {
    const char *name;
    void (*fn)(void);
    int death; /* the test passes only if it dies by a signal */
} test_case;

#define TEST(fn) {#fn, fn, 0}
#define TEST_DEATH(fn) {#fn, fn, 1}

static int test__failed;

static inline int test_failed(void) { return test__failed; }

static inline void test__fail(const char *file, int line, const char *msg) {
    fprintf(stderr, "    %s:%d: check failed: %s\n", file, line, msg);
    fflush(stderr);
    test__failed = 1;
}

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            test__fail(__FILE__, __LINE__, #cond);                             \
            return;                                                            \
        }                                                                      \
    } while (0)

/*
 * MUST(expr): expr (a weft call returning 0 or a negative errno) must
 * succeed; otherwise the test process aborts, which fails the test.  For
 * places CHECK cannot be used, such as the body of a poll function.
 */
#define MUST(expr)                                                             \
    do {                                                                       \
        int test__rc = (expr);                                                 \
        if (test__rc < 0) {                                                    \
            fprintf(stderr, "    %s:%d: %s failed: %d\n", __FILE__, __LINE__,  \
                    #expr, test__rc);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long test__a = (long long)(a), test__b = (long long)(b);          \
        if (test__a != test__b) {                                              \
            char test__m[512];                                                 \
            snprintf(test__m, sizeof test__m, "%s == %s (%lld != %lld)", #a,   \
                     #b, test__a, test__b);                                    \
            test__fail(__FILE__, __LINE__, test__m);                           \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *test__a = (a), *test__b = (b);                             \
        if (!test__a || !test__b || strcmp(test__a, test__b) != 0) {           \
            char test__m[512];                                                 \
            snprintf(test__m, sizeof test__m, "%s == %s (\"%s\" != \"%s\")",   \
                     #a, #b, test__a ? test__a : "(null)",                     \
                     test__b ? test__b : "(null)");                            \
            test__fail(__FILE__, __LINE__, test__m);                           \
            return;                                                            \
        }                                                                      \
    } while (0)

/* A deterministic pseudo-random generator for randomized tests. */
static inline uint64_t test_rand(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static inline int test__selected(const test_case *t, int argc, char **argv) {
    int any = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') continue;
        any = 1;
        if (strcmp(argv[i], t->name) == 0) return 1;
    }
    return !any;
}

static inline int test__run_forked(const test_case *t, unsigned timeout) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 0;
    }
    if (pid == 0) {
        if (t->death) {
            /* keep the expected crash quiet and out of core files */
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0 && getenv("TEST_VERBOSE") == NULL) dup2(devnull, 2);
        }
        alarm(timeout);
        t->fn();
        fflush(stdout);
        fflush(stderr);
        exit(test__failed ? 1 : 0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (t->death) {
        if (WIFSIGNALED(status) && WTERMSIG(status) != SIGALRM) return 1;
        fprintf(stderr, "    expected the test to die by a signal\n");
        return 0;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 1;
    if (WIFSIGNALED(status))
        fprintf(stderr, "    killed by signal %d%s\n", WTERMSIG(status),
                WTERMSIG(status) == SIGALRM ? " (hang guard)" : "");
    else
        fprintf(stderr, "    exit status %d\n", WEXITSTATUS(status));
    return 0;
}

static inline int test_main(int argc, char **argv, const test_case *tests) {
    int fork_each = 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--no-fork") == 0) fork_each = 0;
    unsigned timeout = 300;
    if (getenv("TEST_TIMEOUT")) timeout = (unsigned)atoi(getenv("TEST_TIMEOUT"));
    setvbuf(stdout, NULL, _IOLBF, 0);
    int passed = 0, failed = 0;
    for (const test_case *t = tests; t->name; t++) {
        if (!test__selected(t, argc, argv)) continue;
        int ok;
        if (fork_each) {
            ok = test__run_forked(t, timeout);
        } else {
            test__failed = 0;
            t->fn();
            ok = !test__failed;
        }
        printf("%s %s\n", ok ? "PASS" : "FAIL", t->name);
        if (ok)
            passed++;
        else
            failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif /* WEFT_TEST_H */
