#!/bin/sh
# The rules of async.h that are enforced at compile time: each file in
# tests/async/compile_fail/ must fail to compile with the message named on
# its first line ("expect: REGEX"), except the control, which must compile
# ("expect: OK").  gcc with weft's warning flags, -Wjump-misses-init included.
set -u
passed=0
failed=0
for f in tests/async/compile_fail/*.c; do
    name=$(basename "$f" .c)
    want=$(sed -n '1s|^/\* expect: \(.*\) \*/$|\1|p' "$f")
    out=$(gcc -std=c11 -Wall -Wextra -Werror -Wjump-misses-init -Iinclude -fsyntax-only "$f" 2>&1)
    status=$?
    if [ "$want" = "OK" ]; then
        [ $status -eq 0 ] && ok=1 || ok=0
    else
        [ $status -ne 0 ] && echo "$out" | grep -Eq "$want" && ok=1 || ok=0
    fi
    if [ $ok -eq 1 ]; then
        echo "PASS compile_fail/$name"
        passed=$((passed + 1))
    else
        echo "FAIL compile_fail/$name (wanted: $want)"
        echo "$out" | head -5 | sed 's/^/    /'
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
