#!/bin/sh
# Run every test binary in every mode and add up the results.
#   asan   AddressSanitizer + UndefinedBehaviorSanitizer (leaks too): every test
#   tsan   ThreadSanitizer: every test
#   plain  valgrind --leak-check=full: every test (the "core suite" is all of it)
# Then the compile-time rules of async.h (tests/compile_fail.sh), the
# examples, run as a user would (tests/examples.sh), and an install into a
# temporary prefix used through pkg-config (tests/install.sh).
# Each binary prints PASS/FAIL lines and "N passed, N failed"; this script
# sums them and ends with the same line for the whole run.  Exit status is
# nonzero when anything failed or a binary did not report.
# Env: BUILD (default build), MODES (default "asan tsan plain"), TESTS (a
# space-separated subset of test names, e.g. "rt/test_task"), JOBS.
set -u
BUILD=${BUILD:-build}
MODES=${MODES:-asan tsan plain}
passed=0
failed=0
broken=""
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
VALGRIND="valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible --track-fds=no"

tests=${TESTS:-$(cd tests && find . -name 'test_*.c' | sed 's|^\./||; s|\.c$||' | sort)}
for mode in $MODES; do
    for t in $tests; do
        bin="$BUILD/$mode/tests/$t"
        if [ ! -x "$bin" ]; then
            echo "MISSING $mode $t"
            broken="$broken $mode:$t"
            continue
        fi
        echo "== $mode $t"
        log=$(mktemp)
        if [ "$mode" = plain ]; then
            TEST_TIMEOUT=600 $VALGRIND "$bin" >"$log" 2>&1
        else
            "$bin" >"$log" 2>&1
        fi
        status=$?
        grep -v '^PASS ' "$log" | grep -v ' passed, .* failed$' | sed 's/^/   /'
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
        rm -f "$log"
        if [ -z "$line" ]; then
            echo "   (no summary: exit status $status)"
            broken="$broken $mode:$t"
            failed=$((failed + 1))
            continue
        fi
        p=${line%% passed*}
        f=${line#*passed, }
        f=${f%% failed}
        echo "   $line"
        passed=$((passed + p))
        failed=$((failed + f))
        if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "   (exit status $status)"
            broken="$broken $mode:$t"
            failed=$((failed + 1))
        fi
    done
done
# Script-driven checks: the compile-time rules of async.h, and the examples.
run_script() { # name command...
    echo "== $1"
    shift
    log=$(mktemp)
    BUILD=$BUILD "$@" >"$log" 2>&1
    grep -v '^PASS ' "$log" | grep -v ' passed, .* failed$' | sed 's/^/   /'
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    rm -f "$log"
    echo "   ${line:-(no summary)}"
    p=${line%% passed*}
    f=${line#*passed, }
    f=${f%% failed}
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-1}))
}
if [ -z "${TESTS:-}" ]; then
    run_script compile-fail sh tests/compile_fail.sh
    run_script examples bash tests/examples.sh
    run_script install sh tests/install.sh
fi
[ -n "$broken" ] && echo "broken:$broken"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ -z "$broken" ]
