#!/bin/sh
# Install into a temporary prefix and build a program the way a user of
# weft.pc would: `pkg-config --cflags --libs weft`, plus gcc_warnings with
# gcc, under gcc and clang; then run it against the installed library.
set -u
BUILD=${BUILD:-build}
passed=0
failed=0
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
if make -s --no-print-directory BUILD="$BUILD" install PREFIX="$prefix" >/dev/null 2>&1; then
    echo "PASS install"
    passed=$((passed + 1))
else
    echo "FAIL install"
    failed=$((failed + 1))
fi
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
for cc in gcc clang; do
    extra=""
    [ "$cc" = gcc ] && extra=$(pkg-config --variable=gcc_warnings weft)
    out="$prefix/quickstart-$cc"
    # shellcheck disable=SC2046
    if $cc -std=c11 examples/quickstart.c $extra $(pkg-config --cflags --libs weft) \
        -o "$out" 2>&1 && [ "$(LD_LIBRARY_PATH="$prefix/lib" "$out")" = "49" ]; then
        echo "PASS pkg-config-$cc"
        passed=$((passed + 1))
    else
        echo "FAIL pkg-config-$cc"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
