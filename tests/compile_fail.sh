#!/bin/sh
# The rules of async.h that are enforced at compile time: each file in
# tests/async/compile_fail/ must fail to compile with the message named on
# its first line ("expect: REGEX"), except the control, which must compile
# ("expect: OK").  Each file is compiled the way a user of weft.pc would:
# with the Cflags weft.pc ships (-Werror=incompatible-pointer-types) and, for
# gcc, its gcc_warnings variable (-Werror=jump-misses-init) - and nothing
# else, so no rule depends on flags a user does not have.  Every file is
# tried with gcc and with clang, except those whose second line says
# "(gcc only)".  The control is also compiled with weft's own strict flags.
set -u
passed=0
failed=0
USER_FLAGS="-std=c11 -Werror=incompatible-pointer-types"
GCC_WARNINGS="-Werror=jump-misses-init"
STRICT="-std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes"
check() { # name compiler flags...
    n=$1 cc=$2
    shift 2
    out=$($cc "$@" -Iinclude -fsyntax-only "$f" 2>&1)
    status=$?
    if [ "$want" = "OK" ]; then
        [ $status -eq 0 ] && ok=1 || ok=0
    else
        [ $status -ne 0 ] && echo "$out" | grep -Eq "$want" && ok=1 || ok=0
    fi
    if [ $ok -eq 1 ]; then
        echo "PASS compile_fail/$n ($cc)"
        passed=$((passed + 1))
    else
        echo "FAIL compile_fail/$n ($cc, wanted: $want)"
        echo "$out" | head -5 | sed 's/^/    /'
        failed=$((failed + 1))
    fi
}
for f in tests/async/compile_fail/*.c; do
    name=$(basename "$f" .c)
    want=$(sed -n '1s|^/\* expect: \(.*\) \*/$|\1|p' "$f")
    check "$name" gcc $USER_FLAGS $GCC_WARNINGS
    if ! sed -n 2p "$f" | grep -q '(gcc only)'; then
        check "$name" clang $USER_FLAGS
    fi
    if [ "$want" = "OK" ]; then
        check "$name-strict" gcc $STRICT -Wjump-misses-init
        check "$name-strict" clang $STRICT
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
